//! Mutable state that outlives a config: breakers, statistics, quotas, benches and key
//! health, keyed by provider name and host label, so a reload keeps the state of every
//! provider and host that still exists and drops the rest.

pub mod quota;
pub mod shared;
pub mod stats;

use std::collections::HashMap;
use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, Mutex, MutexGuard};

use crate::secret::Secret;
use crate::sync::lock;
use std::time::{Duration, SystemTime};

use tokio::time::Instant;

use crate::breaker::{Breaker, BreakerPolicy};
use crate::config::model::ProviderConfig;
use quota::{Budgets, Spent};
use shared::SharedLink;
use stats::Stats;

/// Every provider's state, by name.
#[derive(Debug, Default)]
pub struct StateStore {
    providers: Mutex<HashMap<String, Arc<ProviderState>>>,
    /// What the providers share with the cluster.
    pub link: Arc<SharedLink>,
}

/// One provider's state.
#[derive(Debug)]
pub struct ProviderState {
    /// Provider name.
    pub name: String,
    hosts: Mutex<HashMap<String, Arc<HostState>>>,
    /// Next host in the rotation.
    pub host_cursor: AtomicUsize,
    /// Next API key in the rotation.
    pub key_cursor: AtomicUsize,
    /// Provider-wide bench after a 429/418 or a 451.
    pub bench: Mutex<Option<Bench>>,
    /// The last answer was a 451 (see [`ProviderState::mark_blocked`]).
    blocked: std::sync::atomic::AtomicBool,
    /// Request and credit budgets, when configured.
    pub quota: Mutex<Budgets>,
    /// Key indexes set aside after 401/403.
    pub keys_set_aside: Mutex<Vec<usize>>,
    /// The API keys in use: the config's, or the key file's as last read.
    keys: arc_swap::ArcSwap<Vec<Secret>>,
    /// A key file that vanished or came up empty (the last good keys stay in use).
    pub key_file_problem: Mutex<Option<String>>,
    /// How many keys the config gave (a changed list clears the set-aside indexes).
    key_count: AtomicUsize,
    /// Provider-level statistics.
    pub stats: Stats,
    /// Times a request failed over away from this provider.
    pub failovers_from: AtomicUsize,
    /// Last thing that went wrong.
    pub last_error: Mutex<Option<LastError>>,
    /// Recent p95 latency (ms) and when it was computed (for `hedge_after = "p95"`).
    p95: Mutex<Option<(Instant, Option<f64>)>>,
    /// The cluster link (shared counting, bench announcements).
    pub link: Arc<SharedLink>,
    /// The shared counts last seen in Redis (what the admin API shows while counting
    /// is shared).
    pub shared_counts: Mutex<shared::SharedCounts>,
}

/// A provider benched by a rate limit, or blocked by a refused location (451).
#[derive(Debug, Clone)]
pub struct Bench {
    /// Until when.
    pub until: Instant,
    /// The same moment as wall-clock time (for the admin view).
    pub until_wall: SystemTime,
    /// The status that caused it.
    pub status: u16,
    /// What the provider said, when it said something (a short excerpt, no secret).
    pub reason: Option<String>,
}

/// One host's state.
#[derive(Debug)]
pub struct HostState {
    /// The host's label (`api1.binance.com`).
    pub label: String,
    breaker: Mutex<Breaker>,
    /// Host-level statistics.
    pub stats: Stats,
    /// Last thing that went wrong.
    pub last_error: Mutex<Option<LastError>>,
}

/// The last failure of a host or provider (no secrets: built from outcome and status).
#[derive(Debug, Clone)]
pub struct LastError {
    /// When.
    pub at: SystemTime,
    /// Outcome label.
    pub outcome: &'static str,
    /// A short description.
    pub message: String,
}

// === impl StateStore ===

impl StateStore {
    /// The state of `cfg`'s provider, created or carried over; its hosts are made to
    /// match `cfg.hosts` (kept by label, new ones closed, removed ones dropped).
    /// Returns the provider state and the labels of hosts that were dropped.
    pub fn provider(&self, cfg: &ProviderConfig) -> (Arc<ProviderState>, Vec<String>) {
        let mut map = lock(&self.providers);
        let link = &self.link;
        let state = map
            .entry(cfg.name.clone())
            .or_insert_with(|| Arc::new(ProviderState::new(&cfg.name, Arc::clone(link))))
            .clone();
        drop(map);
        let keys: Vec<String> = cfg.hosts.iter().map(host_key).collect();
        let dropped = state.sync_hosts(&keys, cfg.breaker);
        lock(&state.quota).configure(cfg.quota.as_ref(), cfg.credits.as_ref(), self.link.replicas());
        let key_count = cfg.auth.as_ref().map_or(0, |a| a.keys.len());
        if state.key_count.swap(key_count, std::sync::atomic::Ordering::Relaxed) != key_count {
            lock(&state.keys_set_aside).clear();
        }
        state.keys.store(Arc::new(cfg.auth.as_ref().map_or_else(Vec::new, |a| a.keys.clone())));
        *lock(&state.key_file_problem) = None;
        (state, dropped)
    }

    /// Drops providers not in `names`; returns the names dropped.
    pub fn retain(&self, names: &[&str]) -> Vec<String> {
        let mut map = lock(&self.providers);
        let gone: Vec<String> = map.keys().filter(|k| !names.contains(&k.as_str())).cloned().collect();
        for name in &gone {
            map.remove(name);
        }
        gone
    }
}

/// The state key of a host: its label (authority plus base path).
pub fn host_key(url: &crate::transport::url::BaseUrl) -> String {
    url.label().to_owned()
}

// === impl ProviderState ===

impl ProviderState {
    fn new(name: &str, link: Arc<SharedLink>) -> Self {
        Self {
            link,
            name: name.to_owned(),
            hosts: Mutex::new(HashMap::new()),
            host_cursor: AtomicUsize::new(0),
            key_cursor: AtomicUsize::new(0),
            bench: Mutex::new(None),
            blocked: std::sync::atomic::AtomicBool::new(false),
            quota: Mutex::new(Budgets::default()),
            shared_counts: Mutex::new(shared::SharedCounts::default()),
            keys_set_aside: Mutex::new(Vec::new()),
            keys: arc_swap::ArcSwap::from_pointee(Vec::new()),
            key_file_problem: Mutex::new(None),
            key_count: AtomicUsize::new(0),
            stats: Stats::default(),
            failovers_from: AtomicUsize::new(0),
            last_error: Mutex::new(None),
            p95: Mutex::new(None),
        }
    }

    fn sync_hosts(&self, keys: &[String], policy: BreakerPolicy) -> Vec<String> {
        let mut hosts = lock(&self.hosts);
        let dropped: Vec<String> = hosts.keys().filter(|k| !keys.contains(k)).cloned().collect();
        for k in &dropped {
            hosts.remove(k);
        }
        for k in keys {
            let h = hosts.entry(k.clone()).or_insert_with(|| Arc::new(HostState::new(k, policy)));
            h.breaker().set_policy(policy);
        }
        dropped
    }

    /// The state of the host with state key `key`.
    pub fn host(&self, key: &str) -> Option<Arc<HostState>> {
        lock(&self.hosts).get(key).cloned()
    }

    /// The bench in force at `now`, if any.
    pub fn benched(&self, now: Instant) -> Option<Bench> {
        let mut b = lock(&self.bench);
        match b.as_ref() {
            Some(bench) if bench.until > now => Some(bench.clone()),
            Some(_) => {
                *b = None;
                None
            }
            None => None,
        }
    }

    /// Benches the provider for `for_` (a rate limit or a refused location seen here),
    /// unless a longer bench is already in force, and announces a new bench to the
    /// other replicas; returns the end of the bench in force.
    pub fn bench_for(&self, for_: Duration, status: u16, reason: Option<String>, now: Instant) -> Instant {
        let (until, extended) = self.set_bench(for_, status, reason, now);
        if extended {
            self.link.announce_bench(&self.name, status, for_.min(crate::bench::MAX_BENCH));
        }
        until
    }

    /// Benches the provider because another replica was rate-limited or refused (not
    /// announced).
    pub fn bench_from_peer(&self, for_: Duration, status: u16, now: Instant) -> Instant {
        let reason = (status == crate::bench::BLOCKED_STATUS)
            .then(|| "another replica was refused with HTTP 451 (restricted location)".to_owned());
        self.set_bench(for_, status, reason, now).0
    }

    fn set_bench(&self, for_: Duration, status: u16, reason: Option<String>, now: Instant) -> (Instant, bool) {
        let for_ = for_.min(crate::bench::MAX_BENCH);
        let mut b = lock(&self.bench);
        let until = now + for_;
        match b.as_ref() {
            Some(old) if old.until >= until => (old.until, false),
            _ => {
                *b = Some(Bench { until, until_wall: SystemTime::now() + for_, status, reason });
                (until, true)
            }
        }
    }

    /// Whether the provider refused this client's location (HTTP 451) the last time it
    /// answered; set by a 451, cleared by any other answer. Survives the end of the
    /// bench, so a re-probe that is refused again is not logged as news.
    pub fn mark_blocked(&self, blocked: bool) -> bool {
        self.blocked.swap(blocked, std::sync::atomic::Ordering::Relaxed)
    }

    /// The API keys in use.
    pub fn keys(&self) -> Arc<Vec<Secret>> {
        self.keys.load_full()
    }

    /// Puts new keys in use (a rewritten key file): the set-aside marks start afresh.
    /// `false` when they are the keys already in use.
    pub fn replace_keys(&self, keys: Vec<Secret>) -> bool {
        if *self.keys.load_full() == keys {
            return false;
        }
        self.key_count.store(keys.len(), std::sync::atomic::Ordering::Relaxed);
        self.keys.store(Arc::new(keys));
        lock(&self.keys_set_aside).clear();
        true
    }

    /// Lifts the bench in force, whatever set it (an operator who knows better): the
    /// provider is asked again at once. `true` when there was one.
    pub fn lift_bench(&self) -> bool {
        let had = lock(&self.bench).take().is_some();
        self.mark_blocked(false);
        had
    }

    /// Whether the provider is blocked now: benched by a 451.
    pub fn blocked(&self, now: Instant) -> Option<Bench> {
        self.benched(now).filter(|b| b.status == crate::bench::BLOCKED_STATUS)
    }

    /// Weight left in the provider's tightest local budget now, and which budget that
    /// is (`None`: no budget configured, or the budgets are counted in Redis).
    pub fn quota_remaining(&self) -> Option<(u32, Spent)> {
        if self.link.counting_shared() {
            return None;
        }
        let mut budgets = lock(&self.quota);
        if budgets.is_empty() {
            return None;
        }
        budgets.remaining(quota::unix_ms())
    }

    /// Records the last failure.
    pub fn set_last_error(&self, outcome: &'static str, message: String) {
        *lock(&self.last_error) = Some(LastError { at: SystemTime::now(), outcome, message });
    }

    /// p95 latency of successful attempts over the last 5 minutes, recomputed at most
    /// once a second (it sorts the recent samples).
    pub fn p95(&self) -> Option<f64> {
        let now = Instant::now();
        let mut cached = lock(&self.p95);
        if let Some((at, v)) = *cached
            && now < at + Duration::from_secs(1)
        {
            return v;
        }
        let v = self.stats.summary(Duration::from_secs(300), now).p95_ms;
        *cached = Some((now, v));
        v
    }
}

// === impl HostState ===

impl HostState {
    fn new(label: &str, policy: BreakerPolicy) -> Self {
        Self {
            label: label.to_owned(),
            breaker: Mutex::new(Breaker::new(policy)),
            stats: Stats::default(),
            last_error: Mutex::new(None),
        }
    }

    /// Closes the breaker at once (an operator's reset); `true` when it was not closed.
    pub fn reset_breaker(&self) -> bool {
        self.breaker().force_close().is_some()
    }

    /// The breaker, locked. Hold it only for a state-machine call.
    pub fn breaker(&self) -> MutexGuard<'_, Breaker> {
        lock(&self.breaker)
    }

    /// Records the last failure.
    pub fn set_last_error(&self, outcome: &'static str, message: String) {
        *lock(&self.last_error) = Some(LastError { at: SystemTime::now(), outcome, message });
    }
}

#[cfg(test)]
mod tests;
