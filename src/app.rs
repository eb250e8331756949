//! Composition root: `AppState` (everything a request or the admin API can reach) and
//! `run`, which serves the bound listeners until the shutdown future resolves.

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::SystemTime;

use arc_swap::{ArcSwap, ArcSwapOption};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;

use crate::admin::history::History;
use crate::config::Config;
use crate::config::env::EnvLookup;
use crate::metrics::Metrics;
use crate::reload::ReloadStatus;
use crate::server::{ConnLimits, serve};
use crate::snapshot::Snapshot;
use crate::state::StateStore;
use crate::tls::TlsError;

/// Everything shared by the listeners, the watcher and background tasks.
pub struct AppState {
    /// The config in force (one `load` per request).
    pub snapshot: ArcSwap<Snapshot>,
    /// Breakers, stats, quotas by provider and host name.
    pub store: StateStore,
    /// Metric handles.
    pub metrics: Metrics,
    /// Where the config comes from (None = embedded default).
    pub config_path: Option<PathBuf>,
    /// Environment lookup for `${VAR}` and API keys.
    pub env: Arc<dyn EnvLookup>,
    /// True once the config is loaded and the listeners are bound.
    pub ready: AtomicBool,
    /// Process start time.
    pub started: SystemTime,
    /// Outcome of the last reload.
    pub reload_status: ReloadStatus,
    /// Ring buffer of per-provider samples for the dashboard.
    pub history: History,
    /// TLS acceptor of the client listener (swapped when a reload changes the cert).
    pub client_tls: Arc<ArcSwapOption<TlsAcceptor>>,
    /// Last config version handed out.
    pub next_version: AtomicU64,
    /// Response cache of normalized routes.
    pub cache: crate::cache::ResponseCache,
    /// Retry and hedge budget.
    pub budget: crate::budget::RetryBudget,
    /// `--listen` / `--admin-listen` given on the command line; they win over every
    /// config version, so a reload never reports them as changes.
    pub listen_overrides: ListenOverrides,
    /// The addresses the listeners are actually bound to (client, admin).
    pub bound: std::sync::OnceLock<(std::net::SocketAddr, std::net::SocketAddr)>,
}

/// Listen addresses from the command line.
#[derive(Debug, Clone, Copy, Default)]
pub struct ListenOverrides {
    /// `--listen`
    pub listen: Option<std::net::SocketAddr>,
    /// `--admin-listen`
    pub admin_listen: Option<std::net::SocketAddr>,
}

// === impl ListenOverrides ===

impl ListenOverrides {
    /// Applies the overrides to a config.
    pub fn apply(&self, config: &mut Config) {
        if let Some(a) = self.listen {
            config.server.listen = a;
        }
        if let Some(a) = self.admin_listen {
            config.server.admin_listen = a;
        }
    }
}

/// The bound listeners `run` serves.
pub struct Listeners {
    /// Client listener.
    pub client: TcpListener,
    /// Admin listener.
    pub admin: TcpListener,
}

/// Which background tasks `run` starts.
#[derive(Debug, Clone, Copy, Default)]
pub struct RunOptions {
    /// Watch the config file and reload on change.
    pub watch_config: bool,
    /// Reload on SIGHUP.
    pub sighup: bool,
    /// Request worker threads (0: one per core).
    pub workers: usize,
}

// === impl AppState ===

impl AppState {
    /// Builds the state from a first validated config.
    pub fn new(
        mut config: Config,
        config_path: Option<PathBuf>,
        env: Arc<dyn EnvLookup>,
        metrics: Metrics,
        listen_overrides: ListenOverrides,
    ) -> Result<Arc<Self>, TlsError> {
        listen_overrides.apply(&mut config);
        let store = StateStore::default();
        let tls = match &config.server.tls {
            Some(files) => Some(Arc::new(TlsAcceptor::from(crate::tls::server_config(&files.cert, &files.key)?))),
            None => None,
        };
        let history = History::new(config.admin.history_points, config.admin.history_interval);
        let cache = crate::cache::ResponseCache::new(config.cache.max_entries, config.cache.max_bytes);
        let budget = crate::budget::RetryBudget::new(config.retry_budget);
        let snapshot = Snapshot::build(config, &store, &metrics, None, 1)?;
        metrics.config_reloads.with_label_values(&["ok"]).inc();
        metrics.config_last_success.set(unix_now());
        Ok(Arc::new(Self {
            snapshot: ArcSwap::from_pointee(snapshot),
            store,
            metrics,
            config_path,
            env,
            ready: AtomicBool::new(false),
            started: SystemTime::now(),
            reload_status: ReloadStatus::default(),
            history,
            client_tls: Arc::new(ArcSwapOption::new(tls)),
            next_version: AtomicU64::new(2),
            cache,
            budget,
            bound: std::sync::OnceLock::new(),
            listen_overrides,
        }))
    }
}

/// Resolves once the stop flag is set (the guard of `wait_for` stays inside, so the
/// future is `Send`).
pub async fn stopped(rx: &mut watch::Receiver<bool>) {
    let _ = rx.wait_for(|v| *v).await;
}

/// Seconds since the Unix epoch, as a float.
pub fn unix_now() -> f64 {
    SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64())
}

/// Serves both listeners until `shutdown` resolves, then drains in-flight requests up to
/// the configured grace period.
pub async fn run(listeners: Listeners, state: Arc<AppState>, options: RunOptions, shutdown: impl Future<Output = ()>) {
    let (stop_tx, stop_rx) = watch::channel(false);
    let stopped = move |mut rx: watch::Receiver<bool>| async move { stopped(&mut rx).await };
    let server = state.snapshot.load().config.server.clone();
    let limits = ConnLimits {
        header_read_timeout: server.header_read_timeout,
        max_header_size: server.max_header_size,
        max_connections: server.max_connections,
        shutdown_grace: server.shutdown_grace,
    };
    let admin_limits = ConnLimits { max_connections: 256, ..limits };
    let client_addr = listeners.client.local_addr().map_or(server.listen, |a| a);
    let admin_addr = listeners.admin.local_addr().map_or(server.admin_listen, |a| a);
    let _ = state.bound.set((client_addr, admin_addr));
    let workers = {
        let st = Arc::clone(&state);
        let handler = move |req, peer| crate::proxy::service::handle(Arc::clone(&st), req, peer);
        let n = crate::workers::count(options.workers);
        crate::workers::start(
            listeners.client,
            n,
            limits,
            Arc::clone(&state.client_tls),
            state.metrics.clone(),
            handler,
            stop_rx.clone(),
        )
    };
    let admin_task = {
        let st = Arc::clone(&state);
        let handler = move |req, peer| crate::admin::handle(Arc::clone(&st), req, peer);
        let permits = Arc::new(tokio::sync::Semaphore::new(admin_limits.max_connections));
        tokio::spawn(serve(
            listeners.admin,
            admin_limits,
            permits,
            Arc::new(ArcSwapOption::empty()),
            state.metrics.clone(),
            handler,
            stopped(stop_rx.clone()),
        ))
    };
    let mut background = vec![tokio::spawn(crate::admin::history::sample_forever(Arc::clone(&state), stop_rx.clone()))];
    background.push(tokio::spawn(crate::health::probe_forever(Arc::clone(&state), stop_rx.clone())));
    if options.watch_config
        && let Some(path) = state.config_path.clone()
    {
        background.push(tokio::spawn(crate::reload::watch::watch_file(Arc::clone(&state), path, stop_rx.clone())));
    }
    if options.sighup {
        background.push(tokio::spawn(crate::reload::sighup(Arc::clone(&state), stop_rx.clone())));
    }
    state.ready.store(true, Ordering::Release);
    tracing::info!(
        listen = %client_addr,
        admin = %admin_addr,
        version = env!("CARGO_PKG_VERSION"),
        workers = workers.len(),
        "marketgate ready"
    );
    shutdown.await;
    tracing::info!(
        grace_ms = server.shutdown_grace.as_millis() as u64,
        "shutting down: no new connections; draining in-flight requests"
    );
    state.ready.store(false, Ordering::Release);
    let _ = stop_tx.send(true);
    workers.join().await;
    let _ = admin_task.await;
    for task in background {
        task.abort();
    }
    tracing::info!("marketgate stopped");
}
