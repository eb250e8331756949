//! Where client requests are served.
//!
//! By default, one OS thread per core, each running a single-threaded tokio runtime
//! that accepts on its own socket of the client address (`SO_REUSEPORT`, see
//! [`crate::listen`]) and serves its connections to the end
//! (nginx's worker model): a request, its upstream connection and its timers stay on
//! one thread; a multi-threaded scheduler would hand them across cores on every
//! wake-up, which on the loopback benchmark cost about a third of throughput.
//!
//! [`WorkerMode::Inline`] serves on the calling runtime instead. It is the fallback
//! when no worker thread can start (the listener is still served, and readiness is
//! true), and what the tests use, so their timers run on tokio's paused clock.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use arc_swap::ArcSwapOption;
use http::{Request, Response};
use hyper::body::Incoming;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, oneshot, watch};
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;

use crate::body::Body;
use crate::metrics::Metrics;
use crate::server::{ConnLimits, serve};
use crate::shutdown::stopped;

/// Where client requests are served.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum WorkerMode {
    /// One worker thread per available core.
    #[default]
    PerCore,
    /// This many worker threads.
    Threads(usize),
    /// On the calling runtime (no worker threads).
    Inline,
}

/// What every worker shares.
#[derive(Clone)]
pub struct Shared {
    /// Connection limits.
    pub limits: ConnLimits,
    /// The TLS acceptor (swapped when a reload changes the certificate).
    pub tls: Arc<ArcSwapOption<TlsAcceptor>>,
    /// Metric handles.
    pub metrics: Metrics,
}

/// Running workers; await [`Workers::join`] after the stop flag is set.
pub struct Workers {
    threads: Vec<oneshot::Receiver<()>>,
    inline: Option<JoinHandle<()>>,
}

/// Starts serving `listener` as `mode` says. Threads that cannot start are logged; when
/// none starts, the listener is served inline on the calling runtime.
pub fn start<H, F>(
    listener: TcpListener,
    mode: WorkerMode,
    shared: Shared,
    handler: H,
    stop: watch::Receiver<bool>,
) -> Workers
where
    H: Fn(Request<Incoming>, SocketAddr) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Response<Body>> + Send + 'static,
{
    let permits = Arc::new(Semaphore::new(shared.limits.max_connections));
    let n = match mode {
        WorkerMode::Inline => return inline(listener, shared, permits, handler, stop),
        WorkerMode::Threads(n) => n.max(1),
        WorkerMode::PerCore => std::thread::available_parallelism().map_or(1, |n| n.get()),
    };
    let std_listener = match listener.into_std() {
        Ok(l) => l,
        Err(e) => {
            tracing::error!(error = %e, "cannot share the client listener between threads");
            return Workers { threads: Vec::new(), inline: None };
        }
    };
    let mut threads = Vec::new();
    for i in 0..n {
        match spawn_thread(i, &std_listener, &shared, &permits, &handler, &stop) {
            Ok(done) => threads.push(done),
            Err(e) => tracing::error!(error = %e, worker = i, "cannot start a worker thread"),
        }
    }
    if threads.is_empty() {
        tracing::warn!("no worker thread started; serving client requests on the main runtime");
        return match TcpListener::from_std(std_listener) {
            Ok(listener) => inline(listener, shared, permits, handler, stop),
            Err(e) => {
                tracing::error!(error = %e, "cannot serve the client listener");
                Workers { threads, inline: None }
            }
        };
    }
    Workers { threads, inline: None }
}

fn inline<H, F>(
    listener: TcpListener,
    shared: Shared,
    permits: Arc<Semaphore>,
    handler: H,
    mut stop: watch::Receiver<bool>,
) -> Workers
where
    H: Fn(Request<Incoming>, SocketAddr) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Response<Body>> + Send + 'static,
{
    let shutdown = async move { stopped(&mut stop).await };
    let task = tokio::spawn(serve(listener, shared.limits, permits, shared.tls, shared.metrics, handler, shutdown));
    Workers { threads: Vec::new(), inline: Some(task) }
}

fn spawn_thread<H, F>(
    i: usize,
    std_listener: &std::net::TcpListener,
    shared: &Shared,
    permits: &Arc<Semaphore>,
    handler: &H,
    stop: &watch::Receiver<bool>,
) -> std::io::Result<oneshot::Receiver<()>>
where
    H: Fn(Request<Incoming>, SocketAddr) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Response<Body>> + Send + 'static,
{
    // A socket of its own on the same port where the listener allows it (see
    // `listen`), else a handle on the shared one.
    let socket = match i {
        0 => std_listener.try_clone()?,
        _ => crate::listen::another(std_listener).or_else(|e| {
            tracing::debug!(error = %e, worker = i, "no SO_REUSEPORT socket of its own: sharing the listener");
            std_listener.try_clone()
        })?,
    };
    let (tx, rx) = oneshot::channel();
    let (shared, permits, handler, mut stop) = (shared.clone(), Arc::clone(permits), handler.clone(), stop.clone());
    std::thread::Builder::new().name(format!("marketgate-worker-{i}")).spawn(move || {
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
                    let shutdown = async move { stopped(&mut stop).await };
                    serve(listener, shared.limits, permits, shared.tls, shared.metrics, handler, shutdown).await;
                }
                Err(e) => tracing::error!(error = %e, worker = i, "cannot register the client listener"),
            }
        });
        let _ = tx.send(());
    })?;
    Ok(rx)
}

// === impl Workers ===

impl Workers {
    /// How requests are served, for the start-up log line.
    pub fn describe(&self) -> String {
        match (&self.inline, self.threads.len()) {
            (Some(_), _) => "inline".to_owned(),
            (None, n) => format!("{n} thread(s)"),
        }
    }

    /// Waits until every worker has drained and stopped.
    pub async fn join(self) {
        for rx in self.threads {
            let _ = rx.await;
        }
        if let Some(task) = self.inline {
            let _ = task.await;
        }
    }
}
