//! The config file watcher. It watches the file's *directory* (editors and Kubernetes
//! ConfigMaps replace files by rename, which a watch on the file itself would lose),
//! debounces bursts of events, skips events that left the content unchanged, and calls
//! the shared reload path.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use notify::{EventKind, RecursiveMode, Watcher};
use tokio::sync::{mpsc, watch};

use super::Reloader;

/// Quiet time after the last event before reloading.
pub const DEBOUNCE: Duration = Duration::from_millis(150);

/// Watches `path` until `stop` flips.
pub async fn watch_file(reloader: Arc<Reloader>, path: PathBuf, mut stop: watch::Receiver<bool>) {
    let (tx, mut rx) = mpsc::unbounded_channel::<()>();
    let file_name = path.file_name().map(|n| n.to_os_string());
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).map_or_else(|| PathBuf::from("."), PathBuf::from);
    let mut watcher = match notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
        let Ok(event) = res else { return };
        if matches!(event.kind, EventKind::Access(_)) {
            return;
        }
        // Our file, or a ConfigMap-style `..data` symlink swap in the same directory.
        let relevant = event.paths.iter().any(|p| {
            let name = p.file_name();
            name == file_name.as_deref() || name.is_some_and(|n| n.to_string_lossy().starts_with(".."))
        });
        if relevant {
            let _ = tx.send(());
        }
    }) {
        Ok(w) => w,
        Err(e) => {
            tracing::warn!(error = %e, "cannot watch the config file; reload with SIGHUP or POST /admin/reload");
            return;
        }
    };
    if let Err(e) = watcher.watch(&dir, RecursiveMode::NonRecursive) {
        tracing::warn!(error = %e, dir = %dir.display(), "cannot watch the config directory");
        return;
    }
    tracing::info!(file = %path.display(), "watching the config file for changes");
    let mut last_seen = reloader.snapshot().config.source.sha256.clone();
    loop {
        tokio::select! {
            () = crate::shutdown::stopped(&mut stop) => return,
            got = rx.recv() => if got.is_none() { return },
        }
        // Debounce: wait until events stop for DEBOUNCE.
        loop {
            tokio::select! {
                () = crate::shutdown::stopped(&mut stop) => return,
                () = tokio::time::sleep(DEBOUNCE) => break,
                got = rx.recv() => if got.is_none() { return },
            }
        }
        let Ok(bytes) = tokio::fs::read(&path).await else {
            continue; // mid-rename; the next event brings the file back
        };
        let hash = crate::config::load::sha256_hex(&bytes);
        // Touched but unchanged, or already loaded (a SIGHUP or POST got there first):
        // nothing to do, nothing to log or audit again.
        let loaded = hash == reloader.snapshot().config.source.sha256;
        if hash == last_seen || loaded {
            last_seen = hash;
            continue;
        }
        last_seen = hash;
        reloader.reload("file", crate::audit::Source::File).await;
    }
}
