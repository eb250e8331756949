//! The one reload path (file watcher, SIGHUP and `POST /admin/reload` all call
//! [`reload`]): read, parse, validate and compile the whole file; on any error keep the
//! running config and report; on success swap the snapshot atomically, carrying state
//! over by provider and host name.

pub mod keys;
pub mod watch;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::SystemTime;

use arc_swap::{ArcSwap, ArcSwapOption};
use serde::Serialize;
use tokio::sync::watch as tokio_watch;
use tokio_rustls::TlsAcceptor;

use crate::audit::{Audit, Record, Source, changed_keys, key_hashes};
use crate::config::Config;
use crate::config::env::EnvLookup;
use crate::config::load::{EMBEDDED_NAME, parse, read};
use crate::metrics::{Metrics, unix_now};
use crate::snapshot::Snapshot;
use crate::state::StateStore;
use crate::sync::lock;
use crate::tls::TlsError;

/// Owns everything a reload needs: where the config comes from, the environment, the
/// state store the snapshots are joined with, the snapshot slot it swaps, the client
/// TLS acceptor it replaces, and the last outcome.
pub struct Reloader {
    snapshot: Arc<ArcSwap<Snapshot>>,
    store: StateStore,
    metrics: Metrics,
    env: Arc<dyn EnvLookup>,
    config_path: Option<PathBuf>,
    status: ReloadStatus,
    next_version: AtomicU64,
    overrides: ListenOverrides,
    bound: OnceLock<(SocketAddr, SocketAddr)>,
    client_tls: Arc<ArcSwapOption<TlsAcceptor>>,
    /// Every admin action and config change.
    pub audit: Arc<Audit>,
    /// The config text as last loaded, for the audit's changed keys (compared key by
    /// key at the next reload; a big config's keys are not kept between reloads).
    last_text: std::sync::Mutex<Arc<str>>,
}

/// Listen addresses from the command line; they win over every config version, so a
/// reload never reports them as changes.
#[derive(Debug, Clone, Copy, Default)]
pub struct ListenOverrides {
    /// `--listen`
    pub listen: Option<SocketAddr>,
    /// `--admin-listen`
    pub admin_listen: Option<SocketAddr>,
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

    /// Loads the config (the file, or the embedded default) the way start-up and every
    /// reload do: parsed and validated, these overrides applied, then the admin rule
    /// checked against the address the admin listener has (`admin_bound`, once bound):
    /// a listener off loopback needs a token. The one place both rules apply.
    pub fn load(
        &self,
        path: Option<&std::path::Path>,
        env: &dyn EnvLookup,
        admin_bound: Option<SocketAddr>,
    ) -> Result<Config, Vec<String>> {
        self.load_text(path, env, admin_bound).1
    }

    /// [`ListenOverrides::load`], and the text it read (`None` when it could not read
    /// it): what the audit compares with the previous text, read once.
    pub fn load_text(
        &self,
        path: Option<&std::path::Path>,
        env: &dyn EnvLookup,
        admin_bound: Option<SocketAddr>,
    ) -> (Option<Arc<str>>, Result<Config, Vec<String>>) {
        let messages = |e: crate::config::LoadError| e.errors.iter().map(ToString::to_string).collect::<Vec<_>>();
        let (name, text) = match read(path) {
            Ok(read) => read,
            Err(e) => return (None, Err(messages(e))),
        };
        let loaded = parse(&text, &name, env).map_err(messages).and_then(|mut config| {
            self.apply(&mut config);
            let mut server = config.server.clone();
            if let Some(admin) = admin_bound {
                server.admin_listen = admin;
            }
            match crate::config::model::unprotected_admin(&server, &config.admin) {
                Some(problem) => Err(vec![format!("{}: admin.token_env: {problem}", config.source.name)]),
                None => Ok(config),
            }
        });
        (Some(Arc::from(text)), loaded)
    }
}

/// The TLS acceptor of the client listener, when `[server.tls]` is set.
fn acceptor(config: &Config) -> Result<Option<Arc<TlsAcceptor>>, TlsError> {
    match &config.server.tls {
        Some(files) => Ok(Some(Arc::new(TlsAcceptor::from(crate::tls::server_config(&files.cert, &files.key)?)))),
        None => Ok(None),
    }
}

/// What a reload did.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(tag = "result", rename_all = "lowercase")]
pub enum ReloadOutcome {
    /// The new config is in force.
    Ok {
        /// Its version.
        version: u64,
        /// sha256 of the file.
        sha256: String,
        /// Settings that need a restart and were kept (listen addresses).
        warnings: Vec<String>,
    },
    /// The file was refused; the running config keeps serving.
    Error {
        /// Every problem, as `file:line:col: key: message`.
        errors: Vec<String>,
    },
}

/// The last reload's outcome, for `/api/system/config`.
#[derive(Debug, Default)]
struct ReloadStatus {
    last: std::sync::Mutex<Option<(SystemTime, ReloadOutcome)>>,
    serial: tokio::sync::Mutex<()>,
}

// === impl Reloader ===

impl Reloader {
    /// Builds the first snapshot from a validated config.
    pub fn new(
        config: Config,
        config_path: Option<PathBuf>,
        env: Arc<dyn EnvLookup>,
        metrics: Metrics,
        overrides: ListenOverrides,
    ) -> Result<Self, TlsError> {
        let store = StateStore::default();
        // The cluster is set up once, at start: its replica count divides the local budgets.
        store.link.set_replicas(config.cluster.as_ref().map_or(1, |c| c.replicas));
        let tls = acceptor(&config)?;
        let audit = Arc::new(Audit::new(config.admin.audit_file.clone(), metrics.clone()));
        // The text start-up loaded, for the first reload's audit (empty when it is gone).
        let text = read(config_path.as_deref()).map(|(_, text)| text).unwrap_or_default();
        let last_text = std::sync::Mutex::new(Arc::from(text));
        let snapshot = Snapshot::build(config, &store, &metrics, None, 1)?;
        metrics.config_reloads.with_label_values(&["ok"]).inc();
        metrics.config_last_success.set(unix_now());
        Ok(Self {
            snapshot: Arc::new(ArcSwap::from_pointee(snapshot)),
            store,
            metrics,
            env,
            config_path,
            status: ReloadStatus::default(),
            next_version: AtomicU64::new(2),
            overrides,
            bound: OnceLock::new(),
            client_tls: Arc::new(ArcSwapOption::new(tls)),
            audit,
            last_text,
        })
    }

    /// What the providers' state shares with the cluster.
    pub fn shared_link(&self) -> Arc<crate::state::shared::SharedLink> {
        Arc::clone(&self.store.link)
    }

    /// The snapshot slot (shared with the request path, which only reads it).
    pub fn slot(&self) -> Arc<ArcSwap<Snapshot>> {
        Arc::clone(&self.snapshot)
    }

    /// The snapshot in force.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.snapshot.load_full()
    }

    /// The client listener's TLS acceptor slot.
    pub fn client_tls(&self) -> Arc<ArcSwapOption<TlsAcceptor>> {
        Arc::clone(&self.client_tls)
    }

    /// Records the addresses the listeners are bound to (client, admin).
    pub fn set_bound(&self, client: SocketAddr, admin: SocketAddr) {
        let _ = self.bound.set((client, admin));
    }

    /// The addresses the listeners are bound to, once known.
    pub fn bound(&self) -> Option<(SocketAddr, SocketAddr)> {
        self.bound.get().copied()
    }

    /// The config file, if any (None: the embedded default).
    pub fn config_path(&self) -> Option<&PathBuf> {
        self.config_path.as_ref()
    }

    /// The name shown for the config source.
    pub fn source_name(&self) -> String {
        self.config_path.as_ref().map_or_else(|| EMBEDDED_NAME.to_owned(), |p| p.display().to_string())
    }

    /// The last outcome and when it happened.
    pub fn last(&self) -> Option<(SystemTime, ReloadOutcome)> {
        lock(&self.status.last).clone()
    }

    /// The last refusal's messages, if the last reload was refused.
    pub fn last_error(&self) -> Option<Vec<String>> {
        match self.last() {
            Some((_, ReloadOutcome::Error { errors })) => Some(errors),
            _ => None,
        }
    }

    /// Reloads the config (one at a time), and audits it.
    pub async fn reload(&self, trigger: &'static str, source: Source) -> ReloadOutcome {
        let _serial = self.status.serial.lock().await;
        let before = self.snapshot.load().config.source.sha256.clone();
        let (outcome, text, changed) = self.apply().await;
        let (after, error) = match &outcome {
            ReloadOutcome::Ok { sha256, .. } => {
                if let Some(text) = text {
                    *lock(&self.last_text) = text;
                }
                self.audit.set_file(self.snapshot.load().config.admin.audit_file.clone());
                (Some(sha256.clone()), None)
            }
            ReloadOutcome::Error { errors } => (None, Some(errors.join(" | "))),
        };
        let result = if error.is_none() { "ok" } else { "error" };
        self.audit.record(Record {
            config_before: Some(before),
            config_after: after,
            changed_keys: changed,
            error,
            ..Record::new("reload", source, result)
        });
        match &outcome {
            ReloadOutcome::Ok { version, sha256, warnings } => {
                self.metrics.config_reloads.with_label_values(&["ok"]).inc();
                self.metrics.config_last_success.set(unix_now());
                tracing::info!(trigger, version, sha256 = %&sha256[..12.min(sha256.len())], warnings = ?warnings, "config reloaded");
            }
            ReloadOutcome::Error { errors } => {
                self.metrics.config_reloads.with_label_values(&["error"]).inc();
                tracing::error!(trigger, errors = %errors.join(" | "), "config reload refused; the running config keeps serving");
            }
        }
        *lock(&self.status.last) = Some((SystemTime::now(), outcome.clone()));
        outcome
    }

    /// Loads and swaps in the config; also the text it read and the keys that changed
    /// from the last one loaded (for the audit; the file is read once).
    async fn apply(&self) -> (ReloadOutcome, Option<Arc<str>>, Vec<String>) {
        let (path, env, overrides) = (self.config_path.clone(), Arc::clone(&self.env), self.overrides);
        // The admin listener keeps its bound address across reloads, so that address
        // (not the file's) decides whether the new config must carry a token.
        let admin = self.bound().map(|(_, admin)| admin);
        let was = Arc::clone(&lock(&self.last_text));
        let loaded = tokio::task::spawn_blocking(move || {
            let (text, config) = overrides.load_text(path.as_deref(), env.as_ref(), admin);
            let changed = text.as_deref().map(|t| changed_keys(&key_hashes(&was), &key_hashes(t))).unwrap_or_default();
            (text, config, changed)
        })
        .await;
        let (text, config, changed) = match loaded {
            Ok(loaded) => loaded,
            Err(e) => {
                return (ReloadOutcome::Error { errors: vec![format!("reload task failed: {e}")] }, None, Vec::new());
            }
        };
        let error = |errors| (ReloadOutcome::Error { errors }, None, changed.clone());
        let config = match config {
            Ok(c) => c,
            Err(errors) => return error(errors),
        };
        let old = self.snapshot.load_full();
        let warnings = restart_warnings(&old.config, &config);
        let tls = match acceptor(&config) {
            Ok(tls) => tls,
            Err(e) => return error(vec![format!("{}: server.tls: {e}", config.source.name)]),
        };
        let version = self.next_version.fetch_add(1, Ordering::Relaxed);
        let sha256 = config.source.sha256.clone();
        let snapshot = match Snapshot::build(config, &self.store, &self.metrics, Some(&old), version) {
            Ok(s) => s,
            Err(e) => return error(vec![format!("upstream TLS: {e}")]),
        };
        self.snapshot.store(Arc::new(snapshot));
        self.client_tls.store(tls);
        (ReloadOutcome::Ok { version, sha256, warnings }, text, changed)
    }
}

/// Settings a reload cannot apply: they are kept and reported.
fn restart_warnings(old: &Config, new: &Config) -> Vec<String> {
    let mut warnings = Vec::new();
    let (old_srv, new_srv) = (&old.server, &new.server);
    if old_srv.listen != new_srv.listen {
        warnings.push(format!(
            "server.listen changed to {} but needs a restart; still listening on {}",
            new_srv.listen, old_srv.listen
        ));
    }
    if old_srv.admin_listen != new_srv.admin_listen {
        warnings.push(format!(
            "server.admin_listen changed to {} but needs a restart; still listening on {}",
            new_srv.admin_listen, old_srv.admin_listen
        ));
    }
    if new_srv.tls.is_some() != old_srv.tls.is_some() {
        warnings.push("server.tls was turned on or off; new connections use the new setting".into());
    }
    if old.cluster != new.cluster {
        warnings.push("[cluster] changed but needs a restart; the cluster keeps its start-up settings".into());
    }
    warnings
}

/// Reloads on every SIGHUP until `stop` flips. The handler is installed before this
/// returns (not when the returned future first runs), so a SIGHUP sent as soon as
/// "marketgate ready" is logged reloads instead of ending the process.
pub fn sighup(
    reloader: Arc<Reloader>,
    mut stop: tokio_watch::Receiver<bool>,
) -> impl std::future::Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    let hup = {
        use tokio::signal::unix::{SignalKind, signal};
        signal(SignalKind::hangup())
    };
    async move {
        #[cfg(unix)]
        {
            let Ok(mut hup) = hup else {
                tracing::warn!("cannot listen for SIGHUP; reload with POST /admin/reload instead");
                return;
            };
            loop {
                tokio::select! {
                    () = crate::shutdown::stopped(&mut stop) => return,
                    got = hup.recv() => {
                        if got.is_none() { return; }
                        reloader.reload("sighup", Source::Signal).await;
                    }
                }
            }
        }
        #[cfg(not(unix))]
        {
            let _ = stop.wait_for(|v| *v).await;
            drop(reloader);
        }
    }
}
