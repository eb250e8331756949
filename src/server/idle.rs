//! Idle connections. A connection with no request in flight and no byte read or written
//! for `idle_timeout` is closed, whatever its protocol: hyper has no idle timeout for
//! HTTP/2, so a silent h2 client (or one that opened a connection and went away without
//! closing it) would otherwise hold one of `max_connections` slots for ever.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Instant;

/// When a connection last moved, and how many of its requests are in flight.
#[derive(Clone)]
pub struct Activity(Arc<Inner>);

struct Inner {
    epoch: Instant,
    last_ms: AtomicU64,
    inflight: AtomicUsize,
}

/// A request in flight; the connection is not idle while one exists.
pub struct InFlight(Activity);

/// An I/O stream that records activity on every read and write.
pub struct IdleIo<T> {
    io: T,
    activity: Activity,
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
        Self(Arc::new(Inner { epoch: Instant::now(), last_ms: AtomicU64::new(0), inflight: AtomicUsize::new(0) }))
    }

    fn touch(&self) {
        let ms = self.0.epoch.elapsed().as_millis() as u64;
        self.0.last_ms.store(ms, Ordering::Relaxed);
    }

    /// Marks a request in flight until the guard drops.
    pub fn request(&self) -> InFlight {
        self.0.inflight.fetch_add(1, Ordering::AcqRel);
        self.touch();
        InFlight(self.clone())
    }

    /// Resolves once the connection has been idle for `timeout`.
    pub async fn idle(&self, timeout: Duration) {
        loop {
            let last = self.0.epoch + Duration::from_millis(self.0.last_ms.load(Ordering::Relaxed));
            let due = last + timeout;
            if Instant::now() >= due && self.0.inflight.load(Ordering::Acquire) == 0 {
                return;
            }
            tokio::time::sleep_until(due.max(Instant::now() + Duration::from_millis(1))).await;
            if self.0.inflight.load(Ordering::Acquire) > 0 {
                // A request is in flight: look again one timeout from now.
                self.touch();
            }
        }
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.touch();
        self.0.0.inflight.fetch_sub(1, Ordering::AcqRel);
    }
}

// === impl IdleIo ===

impl<T> IdleIo<T> {
    /// Wraps `io`, recording activity in `activity`.
    pub fn new(io: T, activity: Activity) -> Self {
        Self { io, activity }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for IdleIo<T> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
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
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        polled
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.io).poll_write_vectored(cx, bufs);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
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
        tokio::time::sleep(Duration::from_millis(5_100)).await;
        assert!(waiter.is_finished(), "idle five seconds after the request ended");
    }
}
