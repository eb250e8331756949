//! Request workers: one OS thread per core, each running a single-threaded tokio
//! runtime that accepts from the shared client listener and serves its connections to
//! the end (nginx's worker model). A request, its upstream connection and its timers
//! then stay on one thread; a multi-threaded scheduler would hand them across cores on
//! every wake-up, which on the loopback benchmark cost about a third of throughput.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use arc_swap::ArcSwapOption;
use http::{Request, Response};
use hyper::body::Incoming;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, oneshot, watch};
use tokio_rustls::TlsAcceptor;

use crate::metrics::Metrics;
use crate::server::{ConnLimits, serve};
use crate::upstream::client::Body;

/// Running workers; await [`Workers::join`] after the stop flag is set.
pub struct Workers {
    done: Vec<oneshot::Receiver<()>>,
}

/// Number of workers: `requested`, or one per available core when 0.
pub fn count(requested: usize) -> usize {
    if requested > 0 { requested } else { std::thread::available_parallelism().map_or(1, |n| n.get()) }
}

/// Starts `n` workers on `listener`. Falls back to serving on the calling runtime (one
/// task) when the socket cannot be shared or a thread cannot start.
pub fn start<H, F>(
    listener: TcpListener,
    n: usize,
    limits: ConnLimits,
    tls: Arc<ArcSwapOption<TlsAcceptor>>,
    metrics: Metrics,
    handler: H,
    stop: watch::Receiver<bool>,
) -> Workers
where
    H: Fn(Request<Incoming>, SocketAddr) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Response<Body>> + Send + 'static,
{
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let shared = match listener.into_std() {
        Ok(l) => l,
        Err(e) => {
            tracing::error!(error = %e, "cannot share the client listener");
            return Workers { done: Vec::new() };
        }
    };
    let mut done = Vec::new();
    for i in 0..n.max(1) {
        let (tx, rx) = oneshot::channel();
        let socket = match shared.try_clone() {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(error = %e, worker = i, "cannot clone the client listener");
                continue;
            }
        };
        let (limits, permits, tls, metrics, handler, mut stop) =
            (limits, Arc::clone(&permits), Arc::clone(&tls), metrics.clone(), handler.clone(), stop.clone());
        let spawned = std::thread::Builder::new().name(format!("marketgate-worker-{i}")).spawn(move || {
            let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                Ok(r) => r,
                Err(e) => {
                    tracing::error!(error = %e, worker = i, "cannot start a worker runtime");
                    return;
                }
            };
            runtime.block_on(async move {
                match TcpListener::from_std(socket) {
                    Ok(listener) => {
                        let shutdown = async move { crate::app::stopped(&mut stop).await };
                        serve(listener, limits, permits, tls, metrics, handler, shutdown).await;
                    }
                    Err(e) => tracing::error!(error = %e, worker = i, "cannot register the client listener"),
                }
            });
            let _ = tx.send(());
        });
        match spawned {
            Ok(_) => done.push(rx),
            Err(e) => tracing::error!(error = %e, worker = i, "cannot start a worker thread"),
        }
    }
    Workers { done }
}

// === impl Workers ===

impl Workers {
    /// How many workers run.
    pub fn len(&self) -> usize {
        self.done.len()
    }

    /// Whether no worker could start.
    pub fn is_empty(&self) -> bool {
        self.done.is_empty()
    }

    /// Waits until every worker has drained and stopped.
    pub async fn join(self) {
        for rx in self.done {
            let _ = rx.await;
        }
    }
}
