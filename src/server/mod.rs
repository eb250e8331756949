//! Serving one listener: accept with a connection limit, a panic guard per request, and
//! graceful shutdown that lets in-flight requests finish up to a grace period. Each
//! connection ([`conn`]) speaks HTTP/1.1 or HTTP/2, over TLS or not, releases hyper's
//! state while it is quiet and closes when idle ([`idle`]).

pub mod conn;
pub mod idle;
pub mod on_wake;

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use arc_swap::ArcSwapOption;
use http::{Request, Response};
use hyper::body::Incoming;
use hyper::service::service_fn;
use std::sync::atomic::Ordering;

use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_rustls::TlsAcceptor;

use crate::body::Body;
use crate::error::{ErrorKind, ProxyError};
use crate::metrics::Metrics;

/// Limits applied to every connection of a listener.
#[derive(Debug, Clone, Copy)]
pub struct ConnLimits {
    /// Time to receive the request head.
    pub header_read_timeout: Duration,
    /// A connection with no request and no traffic for this long is closed.
    pub idle_timeout: Duration,
    /// Largest request head.
    pub max_header_size: usize,
    /// Concurrent connections.
    pub max_connections: usize,
    /// Grace period on shutdown.
    pub shutdown_grace: Duration,
}

impl From<&crate::config::model::ServerConfig> for ConnLimits {
    fn from(s: &crate::config::model::ServerConfig) -> Self {
        Self {
            header_read_timeout: s.header_read_timeout,
            idle_timeout: s.idle_timeout,
            max_header_size: s.max_header_size,
            max_connections: s.max_connections,
            shutdown_grace: s.shutdown_grace,
        }
    }
}

/// How long tunnels still open when the grace period ends get to close.
const TUNNEL_CLOSE: Duration = Duration::from_secs(1);

/// A client connection's place under `max_connections`, counted in
/// `marketgate_connections_active`. The connection task holds it, and so does a tunnel
/// an upgraded request left behind (requests carry a clone in their extensions), so an
/// upgraded connection keeps its slot until the tunnel closes. The shutdown drain
/// waits for every slot, so tunnels and live streams count as open connections.
#[derive(Clone)]
pub struct ConnSlot(#[allow(dead_code)] Arc<SlotInner>);

struct SlotInner {
    _permit: tokio::sync::OwnedSemaphorePermit,
    metrics: Metrics,
    open: Arc<OpenConns>,
    /// The listener's shutdown flag, and how long connections may drain after it.
    stop: tokio::sync::watch::Receiver<bool>,
    grace: Duration,
}

/// The connections of one listener task still open (slots not yet dropped).
#[derive(Default)]
struct OpenConns {
    count: std::sync::atomic::AtomicUsize,
    none_left: tokio::sync::Notify,
}

impl ConnSlot {
    fn new(
        permit: tokio::sync::OwnedSemaphorePermit,
        metrics: Metrics,
        open: Arc<OpenConns>,
        stop: tokio::sync::watch::Receiver<bool>,
        grace: Duration,
    ) -> Self {
        metrics.connections_active.inc();
        open.count.fetch_add(1, Ordering::AcqRel);
        Self(Arc::new(SlotInner { _permit: permit, metrics, open, stop, grace }))
    }

    /// Resolves when a tunnel on this connection must close: the shutdown grace period
    /// has passed since shutdown began.
    pub fn closing(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let (mut stop, grace) = (self.0.stop.clone(), self.0.grace);
        async move {
            crate::shutdown::stopped(&mut stop).await;
            tokio::time::sleep(grace).await;
        }
    }
}

impl Drop for SlotInner {
    fn drop(&mut self) {
        self.metrics.connections_active.dec();
        if self.open.count.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.open.none_left.notify_waiters();
        }
    }
}

impl OpenConns {
    /// Resolves when no connection (tunnel, stream) is left.
    async fn drained(&self) {
        loop {
            let notified = self.none_left.notified();
            if self.count.load(Ordering::Acquire) == 0 {
                return;
            }
            notified.await;
        }
    }
}

/// Serves `listener` until `shutdown` resolves, then drains: connections are asked to
/// finish their requests and close, for up to the grace period. Connections take a
/// permit from `permits` (shared by every worker accepting on the same socket).
pub async fn serve<H, F>(
    listener: TcpListener,
    limits: ConnLimits,
    permits: Arc<Semaphore>,
    tls: Arc<ArcSwapOption<TlsAcceptor>>,
    metrics: Metrics,
    handler: H,
    shutdown: impl Future<Output = ()>,
) where
    H: Fn(Request<Incoming>, SocketAddr) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Response<Body>> + Send + 'static,
{
    let builders = Arc::new(conn::Builders::new(&limits));
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let open = Arc::new(OpenConns::default());
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                }
            },
        };
        let Ok(permit) = Arc::clone(&permits).try_acquire_owned() else {
            metrics.connections_rejected.inc();
            tracing::warn!(%peer, limit = limits.max_connections, "connection refused: at the connection limit");
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let activity = idle::Activity::new();
        let slot = ConnSlot::new(permit, metrics.clone(), Arc::clone(&open), stop_rx.clone(), limits.shutdown_grace);
        let service = {
            let (handler, metrics, activity, slot) = (handler.clone(), metrics.clone(), activity.clone(), slot.clone());
            service_fn(move |mut req: Request<Incoming>| {
                // Only a request that may become a tunnel needs to carry the slot.
                if req.headers().contains_key(http::header::UPGRADE) {
                    req.extensions_mut().insert(slot.clone());
                }
                let in_flight = Some(activity.request());
                // Not boxed: hyper keeps one slot for the request future per connection,
                // allocated once with the connection (a plain HTTP/1.1 connection's hyper
                // state is itself released while it is quiet, `conn.rs`), so a request
                // costs no allocation of the handler future's kilobytes.
                Guarded { inner: handler(req, peer), metrics: metrics.clone(), peer, in_flight }
            })
        };
        let (builders, acceptor) = (Arc::clone(&builders), tls.load_full());
        let stop = stop_rx.clone();
        tokio::spawn(async move {
            if let Err(e) = conn::serve(stream, acceptor, builders, limits, service, activity, stop).await {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
            // An upgraded connection's tunnel holds a clone until it closes.
            drop(slot);
        });
    }
    drop(listener);
    let _ = stop_tx.send(true);
    tokio::select! {
        () = open.drained() => tracing::debug!("all connections drained"),
        () = tokio::time::sleep(limits.shutdown_grace) => {
            let left = open.count.load(Ordering::Acquire);
            tracing::warn!(
                grace_ms = limits.shutdown_grace.as_millis() as u64,
                left,
                "grace period over; closing remaining connections and tunnels"
            );
            // Tunnels close themselves now (`ConnSlot::closing`): let them finish, so
            // their peers see a close rather than the process vanishing.
            let _ = tokio::time::timeout(TUNNEL_CLOSE, open.drained()).await;
        }
    }
}

pin_project_lite::pin_project! {
    /// A request's handler future, guarded: a panic is answered 500 (counted) and the
    /// process lives on, and the response body keeps the request in flight until it
    /// has been read. One future around the handler's, not two nested ones: a future
    /// is copied whole (kilobytes here) each time it is wrapped and moved.
    ///
    /// Calling the handler only builds its future (an `async fn`), which runs no code,
    /// so the call itself needs no guard.
    struct Guarded<F> {
        #[pin]
        inner: F,
        metrics: Metrics,
        peer: SocketAddr,
        in_flight: Option<idle::InFlight>,
    }
}

impl<F: Future<Output = Response<Body>>> Future for Guarded<F> {
    type Output = Result<Response<idle::TrackedBody>, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let inner = this.inner;
        let resp = match std::panic::catch_unwind(AssertUnwindSafe(|| inner.poll(cx))) {
            Ok(Poll::Pending) => return Poll::Pending,
            Ok(Poll::Ready(resp)) => resp,
            Err(_) => {
                this.metrics.panics.inc();
                tracing::error!(peer = %this.peer, "request handler panicked; answered 500");
                ProxyError::new(ErrorKind::Internal, "internal error; see the marketgate log").into_response()
            }
        };
        Poll::Ready(Ok(idle::Activity::track(resp, this.in_flight.take())))
    }
}
