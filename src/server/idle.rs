//! Idle connections: when they are quiet, and when they are over.
//!
//! Reads and writes bump a counter (no clock read on the I/O path); a request counts
//! as in flight from its head until its response body has been handed to the
//! connection in full. A connection is *quiet* when nothing moved for a while, no
//! request is in flight and no write is stuck on a full socket: hyper then holds no
//! bytes of its own, and its per-connection state can be released ([`super::conn`]).
//! It is *idle* when it stayed so for `idle_timeout`: it is closed, HTTP/2 included
//! (hyper has no idle timeout there, so a silent h2 client would otherwise hold one of
//! `max_connections` slots for ever).

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use hyper::body::{Body as HttpBody, Frame, SizeHint};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::body::{Body, BoxError};

/// Whether a connection moved, and how many of its requests are in flight.
#[derive(Clone)]
pub struct Activity(Arc<Inner>);

struct Inner {
    moves: AtomicU64,
    /// Requests started on the connection so far.
    started: AtomicU64,
    inflight: AtomicUsize,
    write_blocked: AtomicBool,
}

/// A request in flight; the connection is not idle while one exists.
pub struct InFlight(Activity);

/// An I/O stream that records activity on every read and write, and serves a prefix
/// (bytes read from the socket earlier but not used yet) before reading more.
pub struct IdleIo<T> {
    io: T,
    activity: Activity,
    prefix: Bytes,
}

/// A response body that keeps its request in flight until it has been read to the end
/// (or dropped). The body type client connections serve: the handler's boxed body is
/// wrapped, not boxed a second time.
pub struct TrackedBody {
    inner: Body,
    in_flight: Option<InFlight>,
}

// === impl Activity ===

impl Default for Activity {
    fn default() -> Self {
        Self::new()
    }
}

impl Activity {
    /// A connection that just moved.
    pub fn new() -> Self {
        Self(Arc::new(Inner {
            moves: AtomicU64::new(0),
            started: AtomicU64::new(0),
            inflight: AtomicUsize::new(0),
            write_blocked: AtomicBool::new(false),
        }))
    }

    fn touch(&self) {
        self.0.moves.fetch_add(1, Ordering::Relaxed);
    }

    /// Marks a request in flight until the guard drops.
    pub fn request(&self) -> InFlight {
        self.0.started.fetch_add(1, Ordering::AcqRel);
        self.0.inflight.fetch_add(1, Ordering::AcqRel);
        self.touch();
        InFlight(self.clone())
    }

    /// Keeps the request of `in_flight` in flight until `resp`'s body is done.
    pub fn track(resp: http::Response<Body>, in_flight: Option<InFlight>) -> http::Response<TrackedBody> {
        resp.map(|inner| TrackedBody { inner, in_flight })
    }

    /// How many requests have started on the connection (a head was complete).
    pub fn started(&self) -> u64 {
        self.0.started.load(Ordering::Acquire)
    }

    /// Whether a request is in flight.
    pub fn serving(&self) -> bool {
        self.0.inflight.load(Ordering::Acquire) > 0
    }

    fn settled(&self) -> bool {
        !self.serving() && !self.0.write_blocked.load(Ordering::Acquire)
    }

    /// Resolves once nothing moved for a whole `d`, with no request in flight and no
    /// write waiting on the socket.
    pub async fn quiet(&self, d: Duration) {
        let mut seen = self.0.moves.load(Ordering::Relaxed);
        loop {
            tokio::time::sleep(d).await;
            let now = self.0.moves.load(Ordering::Relaxed);
            if now == seen && self.settled() {
                return;
            }
            seen = now;
        }
    }

    /// Resolves once the connection has been idle for `timeout` (between one and two
    /// timeouts after it went quiet).
    pub async fn idle(&self, timeout: Duration) {
        self.quiet(timeout).await;
    }

    /// Resolves once a write to the client has waited a whole `timeout` with no byte
    /// moving either way (between one and two timeouts after it stalled): the client
    /// stopped reading a response or a stream, as nginx's `send_timeout` sees it. A
    /// client that reads slowly keeps moving bytes and is never cut.
    pub async fn stalled(&self, timeout: Duration) {
        let mut seen = self.0.moves.load(Ordering::Relaxed);
        let mut was_blocked = false;
        loop {
            tokio::time::sleep(timeout).await;
            let now = self.0.moves.load(Ordering::Relaxed);
            let blocked = self.0.write_blocked.load(Ordering::Acquire);
            if blocked && was_blocked && now == seen {
                return;
            }
            (seen, was_blocked) = (now, blocked);
        }
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.touch();
        self.0.0.inflight.fetch_sub(1, Ordering::AcqRel);
    }
}

// === impl TrackedBody ===

impl HttpBody for TrackedBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        if matches!(polled, Poll::Ready(None) | Poll::Ready(Some(Err(_)))) {
            self.in_flight = None;
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

// === impl IdleIo ===

impl<T> IdleIo<T> {
    /// Wraps `io`, recording activity in `activity`.
    pub fn new(io: T, activity: Activity) -> Self {
        Self { io, activity, prefix: Bytes::new() }
    }

    /// Puts `bytes` in front of what is still to be read (copied: the source may point
    /// into a large buffer that should not stay allocated).
    pub fn unread(&mut self, bytes: &[u8]) {
        if !bytes.is_empty() {
            self.prefix = Bytes::from([self.prefix.as_ref(), bytes].concat());
        }
    }

    /// Whether bytes wait in the prefix.
    pub fn has_unread(&self) -> bool {
        !self.prefix.is_empty()
    }

    /// The wrapped stream.
    pub fn get_ref(&self) -> &T {
        &self.io
    }

    fn wrote(&self, polled: &Poll<io::Result<usize>>) {
        match polled {
            Poll::Ready(Ok(n)) if *n > 0 => {
                self.activity.0.write_blocked.store(false, Ordering::Release);
                self.activity.touch();
            }
            Poll::Pending => self.activity.0.write_blocked.store(true, Ordering::Release),
            _ => {}
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for IdleIo<T> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        if !self.prefix.is_empty() {
            let n = self.prefix.len().min(buf.remaining());
            buf.put_slice(&self.prefix[..n]);
            bytes::Buf::advance(&mut self.prefix, n);
            return Poll::Ready(Ok(()));
        }
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.io).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity.touch();
        }
        polled
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for IdleIo<T> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.io).poll_write(cx, data);
        self.wrote(&polled);
        polled
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.io).poll_write_vectored(cx, bufs);
        self.wrote(&polled);
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use http_body_util::BodyExt;
    use tokio::time::Instant;

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn idle_only_without_requests_and_traffic() {
        let a = Activity::new();
        let t0 = Instant::now();
        a.idle(Duration::from_secs(5)).await;
        assert_eq!(t0.elapsed(), Duration::from_secs(5));
        let guard = a.request();
        let waiter = {
            let a = a.clone();
            tokio::spawn(async move { a.idle(Duration::from_secs(5)).await })
        };
        tokio::time::sleep(Duration::from_secs(30)).await;
        assert!(!waiter.is_finished(), "a request in flight keeps the connection");
        drop(guard);
        tokio::time::sleep(Duration::from_millis(10_100)).await;
        assert!(waiter.is_finished(), "idle within two timeouts after the request ended");
    }

    #[tokio::test(start_paused = true)]
    async fn stalled_only_while_a_write_waits_and_nothing_moves() {
        let a = Activity::new();
        let waiter = {
            let a = a.clone();
            tokio::spawn(async move { a.stalled(Duration::from_secs(5)).await })
        };
        tokio::time::sleep(Duration::from_secs(30)).await;
        assert!(!waiter.is_finished(), "a connection with no write waiting is not stalled");
        a.0.write_blocked.store(true, Ordering::Release);
        // A slow reader: the write is blocked, but bytes still move now and then.
        for _ in 0..6 {
            tokio::time::sleep(Duration::from_secs(4)).await;
            a.touch();
        }
        assert!(!waiter.is_finished(), "a client that reads slowly is not stalled");
        tokio::time::sleep(Duration::from_millis(10_100)).await;
        assert!(waiter.is_finished(), "stalled within two timeouts once nothing moved");
    }

    #[tokio::test(start_paused = true)]
    async fn a_response_body_keeps_its_request_in_flight_until_read() {
        let a = Activity::new();
        let resp = Activity::track(http::Response::new(crate::body::full(Bytes::from_static(b"x"))), Some(a.request()));
        assert!(!a.settled());
        let body = resp.into_body().collect().await.expect("body");
        assert_eq!(body.to_bytes(), Bytes::from_static(b"x"));
        assert!(a.settled(), "the body was read to the end");
    }
}
