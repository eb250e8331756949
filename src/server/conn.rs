//! One client connection, from its first byte to its close.
//!
//! A plain-TCP HTTP/1.1 connection is served by hyper in turns: when it has been quiet
//! for [`RELEASE_AFTER`] (no request or response body in flight, nothing moving, no
//! write stuck), hyper's connection state is taken apart and dropped (its read and
//! write buffers, 16 KiB, and the cached header map), and the socket waits on its own,
//! costing little more than the socket itself, until the next request arrives. An idle
//! keep-alive connection thus holds almost no memory, as nginx's do; under load,
//! connections are never quiet that long and nothing changes.
//!
//! HTTP/2 (prior knowledge) and TLS connections are served by hyper's auto builder as
//! they are. Every connection closes after `idle_timeout`, and on shutdown it is asked
//! to finish its requests and close.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use http::{Request, Response};
use hyper::body::Incoming;
use hyper::service::Service;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_rustls::TlsAcceptor;

use super::ConnLimits;
use super::idle::{Activity, IdleIo, TrackedBody};
use super::on_wake::OnWake;
use crate::body::BoxError;

/// How long a plain HTTP/1.1 connection stays quiet before hyper's state is released.
pub const RELEASE_AFTER: Duration = Duration::from_millis(100);

/// The HTTP/2 connection preface starts with these bytes; an HTTP/1 request never does.
const H2_PREFACE_START: &[u8] = b"PRI";

/// Builders shared by a listener's connections.
pub struct Builders {
    h1: hyper::server::conn::http1::Builder,
    auto: auto::Builder<TokioExecutor>,
}

/// The client listener's service, as every connection needs it.
pub trait ClientService:
    Service<Request<Incoming>, Response = Response<TrackedBody>, Error = std::convert::Infallible, Future = Self::Fut>
    + Clone
    + Send
    + 'static
{
    /// The service's future.
    type Fut: std::future::Future<Output = Result<Response<TrackedBody>, std::convert::Infallible>> + Send + 'static;
}

impl<S, F> ClientService for S
where
    S: Service<Request<Incoming>, Response = Response<TrackedBody>, Error = std::convert::Infallible, Future = F>
        + Clone
        + Send
        + 'static,
    F: std::future::Future<Output = Result<Response<TrackedBody>, std::convert::Infallible>> + Send + 'static,
{
    type Fut = F;
}

// === impl Builders ===

impl Builders {
    /// Builders applying `limits`.
    pub fn new(limits: &ConnLimits) -> Self {
        let max_buf = limits.max_header_size.max(8192);
        let mut h1 = hyper::server::conn::http1::Builder::new();
        h1.timer(TokioTimer::new()).header_read_timeout(limits.header_read_timeout).max_buf_size(max_buf);
        let mut auto = auto::Builder::new(TokioExecutor::new());
        auto.http1().timer(TokioTimer::new()).header_read_timeout(limits.header_read_timeout).max_buf_size(max_buf);
        auto.http2().timer(TokioTimer::new()).max_header_list_size(limits.max_header_size as u32);
        Self { h1, auto }
    }
}

/// Serves one accepted connection until it closes, is idle for `idle_timeout`, or the
/// listener stops (then in-flight requests finish first).
pub async fn serve<S: ClientService>(
    stream: TcpStream,
    tls: Option<Arc<TlsAcceptor>>,
    builders: Arc<Builders>,
    limits: ConnLimits,
    service: S,
    activity: Activity,
    stop: watch::Receiver<bool>,
) -> Result<(), BoxError> {
    let io = IdleIo::new(stream, activity.clone());
    if let Some(acceptor) = tls {
        let tls_stream = match tokio::time::timeout(limits.header_read_timeout, acceptor.accept(io)).await {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => return Err(format!("TLS handshake failed: {e}").into()),
            Err(_) => return Err("TLS handshake timed out".into()),
        };
        return Box::pin(auto_serve(TokioIo::new(tls_stream), &builders, limits, service, &activity, stop)).await;
    }
    match first_bytes(io.get_ref(), limits.header_read_timeout).await? {
        // Boxed: the auto builder's connection is large, and an inline one would make
        // every connection task that size, HTTP/1.1 ones included.
        Some(start) if start.starts_with(H2_PREFACE_START) => {
            Box::pin(auto_serve(TokioIo::new(io), &builders, limits, service, &activity, stop)).await
        }
        Some(_) => h1_in_turns(io, &builders, limits, service, &activity, stop).await,
        None => Ok(()),
    }
}

/// Waits for the first three bytes (or EOF: `None`) without consuming them.
async fn first_bytes(stream: &TcpStream, within: Duration) -> Result<Option<[u8; 3]>, BoxError> {
    let wait = async {
        let mut buf = [0u8; 3];
        loop {
            stream.readable().await?;
            match stream.peek(&mut buf).await? {
                0 => return Ok::<_, io::Error>(None),
                n if n >= buf.len() => return Ok(Some(buf)),
                // Fewer bytes so far: let the rest arrive.
                _ => tokio::time::sleep(Duration::from_millis(1)).await,
            }
        }
    };
    match tokio::time::timeout(within, wait).await {
        Ok(r) => Ok(r?),
        Err(_) => Err(HEAD_TIMEOUT.into()),
    }
}

async fn auto_serve<I, S: ClientService>(
    io: I,
    builders: &Builders,
    limits: ConnLimits,
    service: S,
    activity: &Activity,
    mut stop: watch::Receiver<bool>,
) -> Result<(), BoxError>
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let conn = builders.auto.serve_connection_with_upgrades(io, service);
    let mut conn = std::pin::pin!(conn);
    let mut stopping = false;
    loop {
        let watch = OnWake::new(async {
            tokio::select! {
                biased;
                () = crate::shutdown::stopped(&mut stop), if !stopping => Watch::Stop,
                () = activity.stalled(limits.idle_timeout) => Watch::Stalled,
                () = activity.idle(limits.idle_timeout) => Watch::Quiet,
            }
        });
        let seen = tokio::select! {
            biased;
            r = conn.as_mut() => return r,
            seen = watch => seen,
        };
        match seen {
            Watch::Quiet => return Ok(()),
            Watch::Stalled => return Err(STALLED.into()),
            // Never seen here: this loop watches no head deadline (hyper's timer does).
            Watch::HeadDeadline => {}
            Watch::Stop => {
                stopping = true;
                conn.as_mut().graceful_shutdown();
            }
        }
    }
}

/// What one of a connection's watchers saw.
enum Watch {
    /// Nothing moved for the watched time (h1: release hyper's state; h2/TLS: idle, close).
    Quiet,
    /// A write waited `idle_timeout` with nothing moving.
    Stalled,
    /// The head deadline passed.
    HeadDeadline,
    /// Shutdown began.
    Stop,
}

async fn h1_in_turns<S: ClientService>(
    mut io: IdleIo<TcpStream>,
    builders: &Builders,
    limits: ConnLimits,
    service: S,
    activity: &Activity,
    mut stop: watch::Receiver<bool>,
) -> Result<(), BoxError> {
    // While part of a request head waits between turns, hyper's own header timer
    // restarts with every turn; this deadline keeps a dripping client to one timeout.
    // It belongs to one head: armed with the count of requests started so far, it is
    // void once another request starts (that head completed).
    let mut head_deadline: Option<(Instant, u64)> = None;
    loop {
        // Boxed, so the connection task holds only a pointer while the socket waits.
        let mut conn = Box::pin(builders.h1.serve_connection(TokioIo::new(io), service.clone()).with_upgrades());
        let mut stopping = false;
        loop {
            // The connection's watchers, polled only when a timer or the stop signal
            // wakes them (`on_wake.rs`), not on each of the connection's wakes.
            let watch = OnWake::new(async {
                tokio::select! {
                    biased;
                    () = crate::shutdown::stopped(&mut stop), if !stopping => Watch::Stop,
                    () = activity.stalled(limits.idle_timeout) => Watch::Stalled,
                    () = until(head_deadline.map(|(at, _)| at)) => Watch::HeadDeadline,
                    () = activity.quiet(RELEASE_AFTER), if !stopping => Watch::Quiet,
                }
            });
            let seen = tokio::select! {
                biased;
                r = conn.as_mut() => return r.map_err(Into::into),
                seen = watch => seen,
            };
            match seen {
                Watch::Quiet => break,
                Watch::Stalled => return Err(STALLED.into()),
                Watch::HeadDeadline => {
                    if head_deadline.is_some_and(|(_, armed)| activity.started() == armed) {
                        return Err(HEAD_TIMEOUT.into());
                    }
                    head_deadline = None;
                }
                Watch::Stop => {
                    stopping = true;
                    conn.as_mut().graceful_shutdown();
                }
            }
        }
        let Some(parts) = Pin::into_inner(conn).into_parts() else { return Ok(()) };
        let hyper::server::conn::http1::Parts { io: inner, read_buf, .. } = parts;
        tracing::trace!(leftover = read_buf.len(), "quiet keep-alive connection: hyper's state released");
        io = inner.into_inner();
        // Copied, then dropped before the wait below: the `Bytes` hyper hands back
        // shares its 8 KiB read buffer (even when empty), and held across the wait it
        // would keep that buffer alive for as long as the connection stays quiet.
        io.unread(&read_buf);
        drop(read_buf);
        // A quiet connection with bytes left over holds part of a head (a complete one
        // would be in flight): the rest must arrive first.
        let started = activity.started();
        head_deadline = match head_deadline {
            _ if !io.has_unread() => None,
            // The same head, still incomplete: its deadline stands.
            Some((at, armed)) if armed == started => Some((at, armed)),
            _ => Some((Instant::now() + limits.header_read_timeout.saturating_sub(RELEASE_AFTER), started)),
        };
        tokio::select! {
            ready = io.get_ref().readable() => ready?,
            () = until(head_deadline.map(|(at, _)| at)) => return Err(HEAD_TIMEOUT.into()),
            () = activity.idle(limits.idle_timeout) => return Ok(()),
            () = crate::shutdown::stopped(&mut stop) => return Ok(()),
        }
    }
}

const HEAD_TIMEOUT: &str = "no complete request head within header_read_timeout";
const STALLED: &str = "the client read nothing of its response within idle_timeout; connection closed";

/// Sleeps until `deadline`, or for ever without one.
async fn until(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
