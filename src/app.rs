//! Composition root: builds the request path's [`Gateway`], the [`Reloader`] and the
//! [`Admin`] server from a first config, and [`run`] serves the bound listeners and
//! starts the background tasks until the shutdown future resolves. Nothing below this
//! module imports it; each part is handed exactly what it uses.

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::SystemTime;

use arc_swap::ArcSwapOption;
use tokio::net::TcpListener;

use crate::admin::Admin;
use crate::admin::history::History;
use crate::cache::ResponseCache;
use crate::config::Config;
use crate::config::env::EnvLookup;
use crate::gateway::Gateway;
use crate::metrics::Metrics;
use crate::reload::{ListenOverrides, Reloader};
use crate::server::{ConnLimits, serve};
use crate::shutdown::stopped;
use crate::stream::Hub;
use crate::tls::TlsError;
use crate::workers::WorkerMode;

/// The wired application.
pub struct App {
    /// The request path's shared parts.
    pub gateway: Arc<Gateway>,
    /// The live-stream drivers (`/v1/stream`), one per provider stream.
    pub streams: Arc<Hub>,
    /// The reloader.
    pub reloader: Arc<Reloader>,
    /// The admin server.
    pub admin: Arc<Admin>,
}

/// The bound listeners `run` serves.
pub struct Listeners {
    /// Client listener.
    pub client: TcpListener,
    /// Admin listener.
    pub admin: TcpListener,
}

/// Which background tasks `run` starts, and how client requests are served.
#[derive(Debug, Clone, Copy, Default)]
pub struct RunOptions {
    /// Watch the config file and reload on change.
    pub watch_config: bool,
    /// Reload on SIGHUP.
    pub sighup: bool,
    /// Where client requests are served.
    pub workers: WorkerMode,
}

// === impl App ===

impl App {
    /// Wires the app around a first validated config.
    pub fn new(
        config: Config,
        config_path: Option<PathBuf>,
        env: Arc<dyn EnvLookup>,
        metrics: Metrics,
        overrides: ListenOverrides,
    ) -> Result<Self, TlsError> {
        let history = History::new(config.admin.history_points, config.admin.history_interval);
        let cache = ResponseCache::new(config.cache.max_entries, config.cache.max_bytes);
        let reloader = Arc::new(Reloader::new(config, config_path, env, metrics.clone(), overrides)?);
        let gateway = Arc::new(Gateway::new(reloader.slot(), metrics, cache));
        let streams = Arc::new(Hub::default());
        let admin = Arc::new(Admin {
            gateway: Arc::clone(&gateway),
            streams: Arc::clone(&streams),
            reloader: Arc::clone(&reloader),
            history,
            ready: AtomicBool::new(false),
            started: SystemTime::now(),
        });
        Ok(Self { gateway, streams, reloader, admin })
    }
}

/// Serves both listeners until `shutdown` resolves, then drains in-flight requests up to
/// the configured grace period.
pub async fn run(listeners: Listeners, app: App, options: RunOptions, shutdown: impl Future<Output = ()>) {
    let App { gateway, streams, reloader, admin } = app;
    // One shutdown flag for everything: listeners, background tasks, live streams.
    let stop_rx = gateway.stop_signal();
    let server = reloader.snapshot().config.server.clone();
    let limits = ConnLimits::from(&server);
    let admin_limits = ConnLimits { max_connections: 256, ..limits };
    let client_addr = listeners.client.local_addr().map_or(server.listen, |a| a);
    let admin_addr = listeners.admin.local_addr().map_or(server.admin_listen, |a| a);
    reloader.set_bound(client_addr, admin_addr);
    let workers = {
        let (gw, hub) = (Arc::clone(&gateway), Arc::clone(&streams));
        let handler = move |req, peer| crate::ingress::service::handle(Arc::clone(&gw), Arc::clone(&hub), req, peer);
        let shared = crate::workers::Shared { limits, tls: reloader.client_tls(), metrics: gateway.metrics.clone() };
        crate::workers::start(listeners.client, options.workers, shared, handler, stop_rx.clone())
    };
    let admin_task = {
        let st = Arc::clone(&admin);
        let handler = move |req, peer| crate::admin::handle(Arc::clone(&st), req, peer);
        let permits = Arc::new(tokio::sync::Semaphore::new(admin_limits.max_connections));
        let mut stop = stop_rx.clone();
        tokio::spawn(serve(
            listeners.admin,
            admin_limits,
            permits,
            Arc::new(ArcSwapOption::empty()),
            gateway.metrics.clone(),
            handler,
            async move { stopped(&mut stop).await },
        ))
    };
    let mut background = vec![
        tokio::spawn(crate::admin::history::sample_forever(Arc::clone(&admin), stop_rx.clone())),
        tokio::spawn(crate::probe::probe_forever(Arc::clone(&gateway), stop_rx.clone())),
    ];
    crate::cluster::zero_error_series(&gateway.metrics);
    if let Some(cfg) = reloader.snapshot().config.cluster.clone() {
        let shown = cfg.redis_shown.clone();
        let joined = crate::cluster::Cluster::new(
            cfg,
            gateway.instance(),
            reloader.shared_link(),
            gateway.slot(),
            gateway.metrics.clone(),
            Arc::clone(&reloader.audit),
        );
        match joined {
            Ok(cluster) => {
                crate::cluster::events::beat(&cluster).await;
                background.extend(crate::cluster::events::start(&cluster, &stop_rx));
                let _ = gateway.cluster.set(cluster);
            }
            Err(e) => {
                tracing::error!(redis = %shown, error = %e, "cannot use the cluster's Redis; running as a single replica")
            }
        }
    }
    if options.watch_config
        && let Some(path) = reloader.config_path().cloned()
    {
        background.push(tokio::spawn(crate::reload::watch::watch_file(Arc::clone(&reloader), path, stop_rx.clone())));
    }
    if options.sighup {
        background.push(tokio::spawn(crate::reload::sighup(Arc::clone(&reloader), stop_rx.clone())));
    }
    background.push(tokio::spawn(crate::reload::keys::watch_key_files(Arc::clone(&reloader), stop_rx.clone())));
    admin.ready.store(true, Ordering::Release);
    tracing::info!(
        listen = %client_addr,
        admin = %admin_addr,
        version = env!("CARGO_PKG_VERSION"),
        workers = %workers.describe(),
        "marketgate ready"
    );
    shutdown.await;
    tracing::info!(
        grace_ms = server.shutdown_grace.as_millis() as u64,
        "shutting down: no new connections; draining in-flight requests"
    );
    admin.ready.store(false, Ordering::Release);
    gateway.begin_shutdown();
    workers.join().await;
    if let Some(c) = gateway.cluster() {
        c.give_back_leases(std::time::Duration::from_millis(500)).await;
        if c.sharing_budgets() {
            c.settle_debts(std::time::Duration::from_millis(500)).await;
        }
    }
    let _ = admin_task.await;
    for task in background {
        task.abort();
    }
    tracing::info!("marketgate stopped");
}
