//! The audit log: one record per admin action and config change (a reload by `POST
//! /admin/reload`, SIGHUP or the file watcher; a bench lifted; a breaker reset): when,
//! what, from where (the peer address and the admin token's fingerprint, or `signal`,
//! `file`), the config's sha256 before and after, the names of the config keys that
//! changed (never their values), and the result. Kept in memory (the newest
//! [`KEEP`], for `GET /api/system/audit`), appended to `[admin] audit_file` as JSON lines
//! (rotated at [`ROTATE_BYTES`] to `<file>.1`), and counted in
//! `marketgate_admin_actions_total{action,result}`.

use std::collections::{BTreeMap, VecDeque};
use std::hash::{Hash, Hasher};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::metrics::Metrics;
use crate::sync::lock;

/// Records kept in memory.
pub const KEEP: usize = 500;

/// Size at which the audit file is rotated.
pub const ROTATE_BYTES: u64 = 10 << 20;

/// Where an action came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Source {
    /// An admin API request.
    Admin {
        /// The peer's address.
        peer: String,
        /// `sha256:` and the first 12 hex digits of the admin token's hash, when one
        /// was sent (never the token).
        #[serde(skip_serializing_if = "Option::is_none")]
        token: Option<String>,
    },
    /// SIGHUP.
    Signal,
    /// The config file watcher.
    File,
    /// Another replica, through the cluster.
    Cluster {
        /// The replica's instance id.
        replica: String,
    },
}

/// One audited action.
#[derive(Debug, Clone, Serialize)]
pub struct Record {
    /// RFC 3339 time.
    pub at: String,
    /// `reload`, `unbench`, `breaker_reset`.
    pub action: &'static str,
    /// Where it came from.
    pub source: Source,
    /// What it acted on (`binance`, `binance/api1.binance.com`), when not the config.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// The config's sha256 before (config changes).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub config_before: Option<String>,
    /// The config's sha256 after (config changes).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub config_after: Option<String>,
    /// Dotted names of the config keys that changed, were added or removed.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub changed_keys: Vec<String>,
    /// `ok`, `error`, or `refused` (a write a browser page could have forged).
    pub result: &'static str,
    /// Why it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Refusals just like this one that followed it (`at` is the last one's).
    #[serde(skip_serializing_if = "is_zero")]
    pub repeated: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

// === impl Record ===

impl Record {
    /// A record of `action` from `source` with `result`, stamped now; the other fields
    /// empty.
    pub fn new(action: &'static str, source: Source, result: &'static str) -> Self {
        Self {
            at: crate::calendar::rfc3339(std::time::SystemTime::now()),
            action,
            source,
            target: None,
            config_before: None,
            config_after: None,
            changed_keys: Vec::new(),
            result,
            error: None,
            repeated: 0,
        }
    }
}

/// The audit log.
pub struct Audit {
    records: Mutex<VecDeque<Record>>,
    file: Mutex<Option<PathBuf>>,
    metrics: Metrics,
}

// === impl Audit ===

impl Audit {
    /// An audit log, written to `file` too when given.
    pub fn new(file: Option<PathBuf>, metrics: Metrics) -> Self {
        Self { records: Mutex::new(VecDeque::new()), file: Mutex::new(file), metrics }
    }

    /// Follows `[admin] audit_file` across reloads.
    pub fn set_file(&self, file: Option<PathBuf>) {
        *lock(&self.file) = file;
    }

    /// Records `record`: in memory, in the file, in the metric. A refusal just like the
    /// newest record (same action, same reason) is counted on it instead: a hostile
    /// page that floods the admin listener with forged writes cannot push the real
    /// history out of the log.
    pub fn record(&self, record: Record) {
        self.metrics.admin_actions.with_label_values(&[record.action, record.result]).inc();
        if record.result == "refused" {
            let mut records = lock(&self.records);
            if let Some(newest) = records
                .front_mut()
                .filter(|n| n.result == "refused" && n.action == record.action && n.error == record.error)
            {
                newest.repeated += 1;
                newest.at = record.at;
                return;
            }
        }
        let file = lock(&self.file).clone();
        if let Some(path) = &file
            && let Err(e) = append(path, &record)
        {
            tracing::error!(file = %path.display(), error = %e, "cannot write the audit file");
        }
        tracing::info!(action = record.action, result = record.result, source = ?record.source, "audit");
        let mut records = lock(&self.records);
        if records.len() >= KEEP {
            records.pop_back();
        }
        records.push_front(record);
    }

    /// The records, newest first.
    pub fn view(&self) -> Vec<Record> {
        lock(&self.records).iter().cloned().collect()
    }
}

/// Appends one JSON line, rotating the file first when it is over [`ROTATE_BYTES`].
fn append(path: &Path, record: &Record) -> std::io::Result<()> {
    if std::fs::metadata(path).is_ok_and(|m| m.len() >= ROTATE_BYTES) {
        let mut rotated = path.as_os_str().to_owned();
        rotated.push(".1");
        std::fs::rename(path, rotated)?;
    }
    let mut line = serde_json::to_vec(record).unwrap_or_default();
    line.push(b'\n');
    std::fs::OpenOptions::new().create(true).append(true).open(path)?.write_all(&line)
}

/// The fingerprint of an admin token: `sha256:` and 12 hex digits of its hash.
pub fn token_fingerprint(token: &str) -> String {
    let digest = Sha256::digest(token.as_bytes());
    let hex: String = digest.iter().take(6).map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

/// Every leaf key of a TOML document by dotted path, with a hash of its value (the
/// value itself is never kept). Unparsable text gives an empty map.
pub fn key_hashes(text: &str) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    if let Ok(table) = toml::from_str::<toml::Table>(text) {
        flatten("", &toml::Value::Table(table), &mut out);
    }
    out
}

fn flatten(prefix: &str, value: &toml::Value, out: &mut BTreeMap<String, u64>) {
    match value {
        toml::Value::Table(t) => {
            for (k, v) in t {
                let key = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
                flatten(&key, v, out);
            }
        }
        other => {
            let mut h = std::collections::hash_map::DefaultHasher::new();
            other.to_string().hash(&mut h);
            out.insert(prefix.to_owned(), h.finish());
        }
    }
}

/// The keys whose value changed, appeared or disappeared between two [`key_hashes`].
pub fn changed_keys(before: &BTreeMap<String, u64>, after: &BTreeMap<String, u64>) -> Vec<String> {
    let mut keys: Vec<String> = before
        .iter()
        .filter(|(k, v)| after.get(*k) != Some(v))
        .map(|(k, _)| k.clone())
        .chain(after.keys().filter(|k| !before.contains_key(*k)).cloned())
        .collect();
    keys.sort();
    keys.dedup();
    keys
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changed_keys_are_named_never_valued() {
        let before =
            key_hashes("[server]\nlisten = \"127.0.0.1:8080\"\n[providers.x]\nheaders = { k = \"secret-one\" }\n");
        let after = key_hashes(
            "[server]\nlisten = \"127.0.0.1:8080\"\ndeadline = \"3s\"\n[providers.x]\nheaders = { k = \"secret-two\" }\n",
        );
        assert_eq!(changed_keys(&before, &after), vec!["providers.x.headers.k", "server.deadline"]);
        assert!(changed_keys(&after, &after).is_empty());
        let text = format!("{:?}", changed_keys(&before, &after));
        assert!(!text.contains("secret"), "{text}");
        assert_eq!(token_fingerprint("t0k3n").len(), "sha256:".len() + 12);
        assert!(!token_fingerprint("t0k3n").contains("t0k3n"));
    }

    #[test]
    fn a_flood_of_forged_writes_leaves_the_history_in_place() {
        let audit = Audit::new(None, Metrics::new().expect("metrics"));
        audit.record(Record { target: Some("binance".into()), ..Record::new("unbench", Source::Signal, "ok") });
        let forged = || Record {
            error: Some("a request from https://evil.example may not change this marketgate".into()),
            ..Record::new("reload", Source::Admin { peer: "127.0.0.1:5".into(), token: None }, "refused")
        };
        for _ in 0..(KEEP * 3) {
            audit.record(forged());
        }
        let view = audit.view();
        assert_eq!(view.len(), 2, "one record for the whole run of refusals");
        assert_eq!(view[0].repeated, KEEP as u64 * 3 - 1);
        assert_eq!(view[1].action, "unbench", "the real history stays");
    }

    #[test]
    fn the_log_keeps_the_newest_and_writes_json_lines() {
        let dir = std::env::temp_dir().join(format!("mg-audit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let file = dir.join("audit.jsonl");
        let audit = Audit::new(Some(file.clone()), Metrics::new().expect("metrics"));
        for n in 0..(KEEP + 5) {
            audit.record(Record { at: format!("t{n}"), ..Record::new("reload", Source::Signal, "ok") });
        }
        let view = audit.view();
        assert_eq!(view.len(), KEEP, "bounded");
        assert_eq!(view[0].at, format!("t{}", KEEP + 4), "newest first");
        let lines = std::fs::read_to_string(&file).expect("file");
        assert_eq!(lines.lines().count(), KEEP + 5, "every record in the file");
        assert!(lines.lines().all(|l| serde_json::from_str::<serde_json::Value>(l).is_ok()));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
