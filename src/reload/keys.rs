//! API keys from files (`auth = { file = "/run/secrets/coingecko" }`, one key per line):
//! Kubernetes and Docker hand secrets over as files they replace in place. Each file is
//! read again every [`EVERY`]; new keys are in use from the next request (the set-aside
//! marks start afresh), and no request is ever sent with a key the file no longer holds.
//! A file that vanishes or comes up empty keeps the last good keys in use and says so
//! in `/api/system/providers/health` (logged once). A provider that was left out for
//! want of keys (its file missing or empty at load) comes in by a reload (audited,
//! source `file`) as soon as its file holds keys. Keys are never logged: only their
//! count.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use super::Reloader;
use crate::audit::Source;
use crate::config::model::split_keys;
use crate::sync::lock;

/// How often key files are read.
pub const EVERY: Duration = Duration::from_millis(500);

/// Reads the key files of the snapshot in force until `stop`.
pub async fn watch_key_files(reloader: Arc<Reloader>, mut stop: watch::Receiver<bool>) {
    // The config version a key file already reloaded: a reload that is refused (the
    // file has another error) is not tried again every half second.
    let mut reloaded_from = None;
    loop {
        tokio::select! {
            () = tokio::time::sleep(EVERY) => {}
            () = crate::shutdown::stopped(&mut stop) => return,
        }
        let snap = reloader.slot().load_full();
        let mut waiting_filled = false;
        for p in &snap.providers {
            let Some(path) = p.cfg.auth.as_ref().and_then(|a| a.file.clone()) else { continue };
            let read = tokio::task::spawn_blocking({
                let path = path.clone();
                move || std::fs::read_to_string(path)
            })
            .await;
            let problem = match read {
                Ok(Ok(text)) => {
                    let keys = split_keys(&text, '\n');
                    if keys.is_empty() {
                        Some(format!("key file {} is empty: the last good keys stay in use", path.display()))
                    } else if p.cfg.disabled.is_some() && p.state.keys().is_empty() {
                        waiting_filled = true;
                        None
                    } else {
                        let n = keys.len();
                        if p.state.replace_keys(keys) {
                            tracing::warn!(provider = %p.cfg.name, file = %path.display(), keys = n, "API keys rotated from their file");
                        }
                        None
                    }
                }
                Ok(Err(e)) => {
                    Some(format!("key file {} cannot be read ({e}): the last good keys stay in use", path.display()))
                }
                Err(e) => Some(format!("key file {} was not read: {e}", path.display())),
            };
            let mut was = lock(&p.state.key_file_problem);
            if *was != problem {
                if let Some(msg) = &problem {
                    tracing::error!(provider = %p.cfg.name, "{msg}");
                }
                *was = problem;
            }
        }
        if waiting_filled && reloaded_from != Some(snap.version) {
            reloaded_from = Some(snap.version);
            tracing::warn!("a key file a provider was waiting for now holds keys: reloading");
            reloader.reload("key file", Source::File).await;
        }
    }
}
