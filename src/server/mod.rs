//! Serving one listener: accept with a connection limit, optional TLS, hyper's auto
//! HTTP/1.1 + HTTP/2 connections with header limits and an idle timeout, a panic guard
//! per request, and graceful shutdown that lets in-flight requests finish up to a grace
//! period.

pub mod idle;

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwapOption;
use futures_util::FutureExt;
use http::{Request, Response};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_rustls::TlsAcceptor;

use crate::error::{ErrorKind, ProxyError};
use crate::metrics::Metrics;
use crate::upstream::client::Body;

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

/// Serves `listener` until `shutdown` resolves, then drains. Connections take a permit
/// from `permits` (shared by every worker accepting on the same socket).
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
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_buf_size(limits.max_header_size.max(8192));
    builder.http2().timer(TokioTimer::new()).max_header_list_size(limits.max_header_size as u32);
    let builder = Arc::new(builder);
    let graceful = GracefulShutdown::new();
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
        let stream = idle::IdleIo::new(stream, activity.clone());
        let service = {
            let (handler, metrics, activity) = (handler.clone(), metrics.clone(), activity.clone());
            service_fn(move |req| {
                let in_flight = activity.request();
                let fut = guarded(handler.clone(), metrics.clone(), req, peer);
                async move {
                    let resp = fut.await;
                    drop(in_flight);
                    resp
                }
            })
        };
        let watcher = graceful.watcher();
        let builder = Arc::clone(&builder);
        let acceptor = tls.load_full();
        let metrics = metrics.clone();
        tokio::spawn(async move {
            metrics.connections_active.inc();
            let served = async {
                match acceptor {
                    None => watcher.watch(builder.serve_connection(TokioIo::new(stream), service).into_owned()).await,
                    Some(acceptor) => {
                        match tokio::time::timeout(limits.header_read_timeout, acceptor.accept(stream)).await {
                            Ok(Ok(tls_stream)) => {
                                watcher
                                    .watch(builder.serve_connection(TokioIo::new(tls_stream), service).into_owned())
                                    .await
                            }
                            Ok(Err(e)) => Err(format!("TLS handshake failed: {e}").into()),
                            Err(_) => Err("TLS handshake timed out".into()),
                        }
                    }
                }
            };
            let result = tokio::select! {
                r = served => r,
                () = activity.idle(limits.idle_timeout) => {
                    tracing::debug!(%peer, idle_ms = limits.idle_timeout.as_millis() as u64, "closing an idle connection");
                    Ok(())
                }
            };
            if let Err(e) = result {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
            metrics.connections_active.dec();
            drop(permit);
        });
    }
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => tracing::debug!("all connections drained"),
        () = tokio::time::sleep(limits.shutdown_grace) => {
            tracing::warn!(grace_ms = limits.shutdown_grace.as_millis() as u64, "grace period over; closing remaining connections");
        }
    }
}

/// Resolves once the stop flag is set (the guard of `wait_for` stays inside, so the
/// future is `Send`).
pub async fn stopped(rx: &mut tokio::sync::watch::Receiver<bool>) {
    let _ = rx.wait_for(|v| *v).await;
}

/// Runs the handler and turns a panic into a 500 (counted), keeping the process alive.
async fn guarded<H, F>(
    handler: H,
    metrics: Metrics,
    req: Request<Incoming>,
    peer: SocketAddr,
) -> Result<Response<Body>, Infallible>
where
    H: Fn(Request<Incoming>, SocketAddr) -> F,
    F: Future<Output = Response<Body>>,
{
    match AssertUnwindSafe(handler(req, peer)).catch_unwind().await {
        Ok(resp) => Ok(resp),
        Err(_) => {
            metrics.panics.inc();
            tracing::error!(%peer, "request handler panicked; answered 500");
            Ok(ProxyError::new(ErrorKind::Internal, "internal error; see the marketgate log").into_response())
        }
    }
}
