//! The one reload path (file watcher, SIGHUP and `POST /admin/reload` all call
//! [`reload`]): read, parse, validate and compile the whole file; on any error keep the
//! running config and report; on success swap the snapshot atomically, carrying state
//! over by provider and host name.

pub mod watch;

use std::sync::Arc;
use std::time::SystemTime;

use serde::Serialize;
use tokio::sync::watch as tokio_watch;
use tokio_rustls::TlsAcceptor;

use crate::app::{AppState, unix_now};
use crate::config::load::{EMBEDDED_NAME, load_or_default};
use crate::snapshot::Snapshot;
use crate::state::lock;

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
pub struct ReloadStatus {
    last: std::sync::Mutex<Option<(SystemTime, ReloadOutcome)>>,
    serial: tokio::sync::Mutex<()>,
}

// === impl ReloadStatus ===

impl ReloadStatus {
    /// The last outcome and when it happened.
    pub fn last(&self) -> Option<(SystemTime, ReloadOutcome)> {
        lock(&self.last).clone()
    }

    /// The last refusal's messages, if the last reload was refused.
    pub fn last_error(&self) -> Option<Vec<String>> {
        match self.last() {
            Some((_, ReloadOutcome::Error { errors })) => Some(errors),
            _ => None,
        }
    }
}

/// Reloads the config (one at a time).
pub async fn reload(state: &Arc<AppState>, trigger: &'static str) -> ReloadOutcome {
    let _serial = state.reload_status.serial.lock().await;
    let outcome = apply(state).await;
    match &outcome {
        ReloadOutcome::Ok { version, sha256, warnings } => {
            state.metrics.config_reloads.with_label_values(&["ok"]).inc();
            state.metrics.config_last_success.set(unix_now());
            tracing::info!(trigger, version, sha256 = %&sha256[..12.min(sha256.len())], warnings = ?warnings, "config reloaded");
        }
        ReloadOutcome::Error { errors } => {
            state.metrics.config_reloads.with_label_values(&["error"]).inc();
            tracing::error!(trigger, errors = %errors.join(" | "), "config reload refused; the running config keeps serving");
        }
    }
    *lock(&state.reload_status.last) = Some((SystemTime::now(), outcome.clone()));
    outcome
}

async fn apply(state: &Arc<AppState>) -> ReloadOutcome {
    let path = state.config_path.clone();
    let env = Arc::clone(&state.env);
    let loaded = tokio::task::spawn_blocking(move || load_or_default(path.as_deref(), env.as_ref())).await;
    let mut config = match loaded {
        Ok(Ok(c)) => c,
        Ok(Err(e)) => {
            return ReloadOutcome::Error { errors: e.errors.iter().map(ToString::to_string).collect() };
        }
        Err(e) => {
            return ReloadOutcome::Error { errors: vec![format!("reload task failed: {e}")] };
        }
    };
    state.listen_overrides.apply(&mut config);
    // The admin listener keeps its bound address across reloads, so that address (not the
    // file's) decides whether the new config must carry a token.
    let mut bound_server = config.server.clone();
    if let Some((_, admin)) = state.bound.get() {
        bound_server.admin_listen = *admin;
    }
    if let Some(problem) = crate::config::model::unprotected_admin(&bound_server, &config.admin) {
        return ReloadOutcome::Error { errors: vec![format!("{}: admin.token_env: {problem}", config.source.name)] };
    }
    let old = state.snapshot.load_full();
    let mut warnings = Vec::new();
    let (old_srv, new_srv) = (&old.config.server, &config.server);
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
    let tls = match &config.server.tls {
        Some(files) => match crate::tls::server_config(&files.cert, &files.key) {
            Ok(cfg) => Some(Arc::new(TlsAcceptor::from(cfg))),
            Err(e) => {
                return ReloadOutcome::Error { errors: vec![format!("{}: server.tls: {e}", config.source.name)] };
            }
        },
        None => None,
    };
    if tls.is_some() != old_srv.tls.is_some() {
        warnings.push("server.tls was turned on or off; new connections use the new setting".into());
    }
    let version = state.next_version.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let sha256 = config.source.sha256.clone();
    let snapshot = match Snapshot::build(config, &state.store, &state.metrics, Some(&old), version) {
        Ok(s) => s,
        Err(e) => {
            return ReloadOutcome::Error { errors: vec![format!("upstream TLS: {e}")] };
        }
    };
    state.budget.set_policy(snapshot.config.retry_budget);
    state.snapshot.store(Arc::new(snapshot));
    state.client_tls.store(tls);
    ReloadOutcome::Ok { version, sha256, warnings }
}

/// The name shown for the config source.
pub fn source_name(state: &AppState) -> String {
    state.config_path.as_ref().map_or_else(|| EMBEDDED_NAME.to_owned(), |p| p.display().to_string())
}

/// Reloads on every SIGHUP until `stop` flips.
pub async fn sighup(state: Arc<AppState>, mut stop: tokio_watch::Receiver<bool>) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let Ok(mut hup) = signal(SignalKind::hangup()) else {
            tracing::warn!("cannot listen for SIGHUP; reload with POST /admin/reload instead");
            return;
        };
        loop {
            tokio::select! {
                () = crate::app::stopped(&mut stop) => return,
                got = hup.recv() => {
                    if got.is_none() { return; }
                    reload(&state, "sighup").await;
                }
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = stop.wait_for(|v| *v).await;
        drop(state);
    }
}
