//! Many replicas, one budget (`[cluster]`): provider quotas and credits counted in
//! Redis, rate-limit benches announced to every replica, normalized answers shared and
//! identical misses coalesced across replicas.
//!
//! Redis is never on a request's critical path for longer than `cluster.timeout`
//! (5 ms by default): a call that fails or is slower makes the request use its local
//! state (the replica's share of each budget, limit / replicas, less its part of what
//! its last claim saw spent; its own cache), and after three failures in a row the
//! request path stops calling Redis until the heartbeat, once a second, reaches it
//! again. Shared counting then resumes, and what was spent locally is added to the
//! shared windows (`debts.rs`).
//!
//! Budgets: a replica claims a slice of every window a request must fit (the quota's
//! and the credits') in one Lua script call and spends it locally (`leases.rs`), so
//! most provider-bound requests make no round trip and a refusal takes nothing
//! (see [`keys::CLAIM`]).

mod benches;
pub mod cache;
mod debts;
pub mod events;
pub mod keys;
mod leases;
pub mod redis;
pub mod seal;
pub mod sentinel;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arc_swap::ArcSwap;
use serde::Serialize;

use self::redis::{Op, Redis};
use crate::config::model::{ClusterConfig, Period};
use crate::metrics::Metrics;
use crate::snapshot::{ProviderRt, Snapshot};
use crate::state::quota::{Spent, unix_ms};
use crate::state::shared::SharedLink;
use crate::sync::lock;

/// The cluster membership of this replica.
pub struct Cluster {
    /// Settings (from the config at start-up).
    pub cfg: ClusterConfig,
    instance: String,
    redis: Redis,
    link: Arc<SharedLink>,
    slot: Arc<ArcSwap<Snapshot>>,
    fills: cache::Fills,
    seen: Mutex<Vec<String>>,
    counts: Counts,
    metrics: Metrics,
    /// Where lifts from other replicas are audited.
    audit: Arc<crate::audit::Audit>,
    /// Signs what this replica writes, checks what it reads.
    seal: seal::Seal,
    /// Slices of the shared budgets this replica holds.
    leases: leases::Leases,
    /// Weight spent from the local share that Redis has not counted yet.
    debts: Mutex<debts::Debts>,
}

/// What the cluster did, for `/api/system/cluster`.
#[derive(Debug, Default)]
struct Counts {
    /// Slices claimed from Redis (one round trip each).
    shared_takes: AtomicU64,
    /// Takes served from a lease held here (no round trip).
    lease_takes: AtomicU64,
    local_takes: AtomicU64,
    /// Weight spent from the local share and added to Redis afterwards.
    local_weight_counted_late: AtomicU64,
    shared_refusals: AtomicU64,
    cache_hits: AtomicU64,
    cache_fills: AtomicU64,
    cache_waits: AtomicU64,
    peer_benches: AtomicU64,
    /// Events, benches and answers in Redis that were ignored: unsigned or wrongly
    /// signed (with a secret), or senseless (a future fetch time, a body that is not
    /// JSON, a bench status no provider sends).
    refused: AtomicU64,
}

/// `GET /api/system/cluster`.
#[derive(Debug, Serialize)]
pub struct ClusterView {
    /// Whether a cluster is configured.
    pub enabled: bool,
    /// This replica's id.
    pub instance: Option<String>,
    /// Redis URL (no password), reachability and last error.
    pub redis: Option<RedisView>,
    /// Configured replicas (the divisor of local shares).
    pub replicas: Option<u32>,
    /// Replicas whose heartbeat is in Redis now.
    pub replicas_seen: Vec<String>,
    /// Egress name.
    pub egress: Option<String>,
    /// Prefix of this deployment's Redis keys and event channel.
    pub namespace: Option<String>,
    /// Budgets counted in Redis (true) or local shares (false).
    pub counting_shared: bool,
    /// Shared answers on.
    pub cache: bool,
    /// Shared budget use per provider and window (read from Redis now).
    pub budgets: Vec<BudgetView>,
    /// What this replica holds of each provider's shared windows.
    pub leases: Vec<leases::LeaseView>,
    /// Weight spent from local shares that Redis has not counted yet (added by the
    /// next heartbeat that reaches it).
    pub local_weight_owed: u64,
    /// Counters since start.
    pub counters: std::collections::BTreeMap<&'static str, u64>,
}

/// Redis as seen by this replica.
#[derive(Debug, Serialize)]
pub struct RedisView {
    /// URL without password.
    pub url: String,
    /// Usable now.
    pub up: bool,
    /// Last error (RFC 3339 time and text).
    pub last_error: Option<(String, String)>,
}

/// One shared budget window.
#[derive(Debug, Serialize)]
pub struct BudgetView {
    /// Provider.
    pub provider: String,
    /// `ip:<egress>` or `key:<fingerprint>`.
    pub scope: String,
    /// `quota` or `credits`.
    pub window: &'static str,
    /// Weight counted by all replicas this window (`None`: Redis did not answer).
    pub used: Option<u64>,
    /// The whole limit (all replicas).
    pub limit: u32,
    /// This replica's share while Redis is unreachable.
    pub local_share: u32,
}

// === impl Cluster ===

impl Cluster {
    /// Joins the cluster described by `cfg` (connects lazily). Must be called inside
    /// the runtime that will drive the Redis connection.
    pub fn new(
        cfg: ClusterConfig,
        instance: &str,
        link: Arc<SharedLink>,
        slot: Arc<ArcSwap<Snapshot>>,
        metrics: Metrics,
        audit: Arc<crate::audit::Audit>,
    ) -> Result<Arc<Self>, String> {
        let redis = Redis::new(
            cfg.redis.expose(),
            &cfg.redis_shown,
            cfg.tls.as_ref(),
            cfg.timeout,
            metrics.clone(),
            Arc::clone(&link),
        )?;
        let seal = seal::Seal::new(cfg.secret.as_ref().map(crate::secret::Secret::expose));
        if !seal.signs() {
            tracing::info!(
                "cluster data is not signed: set [cluster] secret (MARKETGATE_CLUSTER_SECRET) so that nothing written \
                 to Redis by others is trusted"
            );
        }
        let cluster = Arc::new(Self {
            leases: leases::Leases::default(),
            debts: Mutex::new(debts::Debts::default()),
            seal,
            cfg,
            instance: instance.to_owned(),
            redis,
            link: Arc::clone(&link),
            slot,
            fills: cache::Fills::default(),
            seen: Mutex::new(Vec::new()),
            counts: Counts::default(),
            metrics,
            audit,
        });
        let weak = Arc::downgrade(&cluster);
        link.set_bench_sink(Box::new(move |provider, status, for_| {
            if let (Some(c), Ok(rt)) = (weak.upgrade(), tokio::runtime::Handle::try_current()) {
                let provider = provider.to_owned();
                rt.spawn(async move { c.announce_bench(&provider, status, for_).await });
            }
        }));
        Ok(cluster)
    }

    /// With sentinels: asks them for the master and moves there when it changed (or
    /// says why it cannot). Called before the first heartbeat and after a failed one.
    pub(super) async fn follow_master(&self) {
        let Some(s) = &self.cfg.sentinel else { return };
        match sentinel::master(s, &self.cfg.redis, Duration::from_millis(500)).await {
            Ok((host, port)) => {
                let url = sentinel::master_url(self.cfg.redis.expose(), &host, port);
                let shown = crate::config::without_password(&url);
                if shown == self.redis.shown() {
                    return;
                }
                match self.redis.switch_server(&url, &shown) {
                    Ok(()) => {
                        tracing::warn!(master = %shown, name = %s.master, "following the sentinels: the master is now here")
                    }
                    Err(e) => self.redis.failed(redis::Op::Heartbeat, e),
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "the sentinels named no usable master");
                self.redis.failed(redis::Op::Heartbeat, e);
            }
        }
    }

    /// Something read from Redis was ignored: `kind` (`event`, `bench`, `answer`) for
    /// the metric, `what` for the log.
    fn refuse(&self, kind: &str, what: &str) {
        self.metrics.cluster_refused.with_label_values(&[kind]).inc();
        if self.counts.refused.fetch_add(1, Ordering::Relaxed).is_multiple_of(100) {
            tracing::warn!(what, "ignored data in Redis that no replica of this deployment wrote");
        }
    }

    /// Whether answers are shared now (configured, and Redis usable).
    pub fn sharing_answers(&self) -> bool {
        self.cfg.cache && self.redis.usable()
    }

    /// Whether Redis is in use for budgets now.
    pub fn sharing_budgets(&self) -> bool {
        self.redis.usable()
    }

    /// `p`'s scope (`ip:<egress>` or `key:<fingerprint>`), worked out once per config
    /// snapshot.
    fn scope<'a>(&self, p: &'a ProviderRt) -> &'a str {
        p.cluster_scope.get_or_init(|| keys::scope(&p.cfg, &self.cfg.egress))
    }

    /// `weight` was taken from `p`'s local share (Redis unreachable, or a claim failed
    /// or was too slow): counted, and owed to the shared windows until Redis answers.
    pub fn took_locally(&self, p: &ProviderRt, weight: u32) {
        self.counts.local_takes.fetch_add(1, Ordering::Relaxed);
        let now = unix_ms();
        let windows = self.windows(p, now);
        lock(&self.debts).add(&windows, weight, now);
    }

    /// Adds what was spent from local shares to the shared windows it was spent in (the
    /// heartbeat, once Redis answers; shutdown). Each window is one call of at most
    /// `within`; what fails stays owed. One window that fails (a key something else
    /// wrote, not a count) does not hold up the others; a second failure ends the
    /// round, so a Redis gone again costs the heartbeat two waits at most.
    pub async fn settle_debts(&self, within: Duration) {
        let due = lock(&self.debts).due(unix_ms());
        let mut failed = 0;
        for d in due {
            let mut call = keys::SCRIPTS.add.prepare_invoke();
            call.key(&d.key).arg(d.weight).arg(d.ttl);
            let added: Option<u64> =
                self.redis.background(Op::Quota, within, |mut c| async move { call.invoke_async(&mut c).await }).await;
            if added.is_none() {
                failed += 1;
                if failed == 2 {
                    return;
                }
                continue;
            }
            lock(&self.debts).paid(&d.key, d.weight);
            self.counts.local_weight_counted_late.fetch_add(d.weight, Ordering::Relaxed);
        }
    }

    /// Raises `p`'s shared quota count to what the provider reported (`used`), in the
    /// background.
    pub fn sync_used(self: &Arc<Self>, p: &ProviderRt, used: u32) {
        let Some(q) = &p.cfg.quota else { return };
        let now = unix_ms();
        // The count the last take returned is usually ahead of the provider's already.
        let behind = lock(&p.state.shared_counts).current(false, now).is_none_or(|seen| seen < u64::from(used));
        if !behind || !self.redis.usable() {
            return;
        }
        let (key, ttl) = keys::window(
            &self.cfg.namespace,
            &p.cfg.name,
            self.scope(p),
            Spent::Rate.window(),
            Period::Every(q.per),
            now,
        );
        let me = Arc::clone(self);
        tokio::spawn(async move {
            let mut call = keys::SCRIPTS.sync.prepare_invoke();
            call.key(&key).arg(used).arg(ttl);
            let _: Option<u64> =
                me.redis.request(Op::Sync, |mut c| async move { call.invoke_async(&mut c).await }).await;
        });
    }

    /// The admin view, with the shared budget use read from Redis now.
    pub async fn view(&self) -> ClusterView {
        let snap = self.slot.load_full();
        let now = unix_ms();
        let replicas = self.cfg.replicas;
        let mut budgets = Vec::new();
        // Without Redis in use, no reads: the admin view must not wait on it.
        let reachable = self.redis.usable();
        for p in &snap.providers {
            let scope = self.scope(p);
            for w in self.windows(p, now) {
                let key = w.key;
                let used: Option<Option<u64>> = if reachable {
                    self.redis
                        .background(Op::Admin, Duration::from_millis(200), |mut c| async move {
                            ::redis::cmd("GET").arg(&key).query_async(&mut c).await
                        })
                        .await
                } else {
                    None
                };
                let (window, limit) = (w.which.window(), w.limit);
                budgets.push(BudgetView {
                    provider: p.cfg.name.clone(),
                    scope: scope.to_owned(),
                    window,
                    used: used.map(|u| u.unwrap_or(0)),
                    limit,
                    local_share: crate::state::quota::share(limit, replicas),
                });
            }
        }
        let c = &self.counts;
        let counters = [
            ("shared_takes", &c.shared_takes),
            ("lease_takes", &c.lease_takes),
            ("shared_refusals", &c.shared_refusals),
            ("local_takes", &c.local_takes),
            ("local_weight_counted_late", &c.local_weight_counted_late),
            ("cache_hits", &c.cache_hits),
            ("cache_fills", &c.cache_fills),
            ("cache_waits", &c.cache_waits),
            ("peer_benches", &c.peer_benches),
            ("refused", &c.refused),
        ]
        .into_iter()
        .map(|(k, v)| (k, v.load(Ordering::Relaxed)))
        .collect();
        ClusterView {
            enabled: true,
            instance: Some(self.instance.clone()),
            redis: Some(RedisView {
                url: self.redis.shown().to_owned(),
                up: self.redis.usable(),
                last_error: self.redis.last_error().map(|(t, e)| (crate::calendar::rfc3339(t), e)),
            }),
            replicas: Some(replicas),
            replicas_seen: lock(&self.seen).clone(),
            egress: Some(self.cfg.egress.clone()),
            namespace: Some(self.cfg.namespace.clone()),
            counting_shared: self.link.counting_shared(),
            cache: self.cfg.cache,
            budgets,
            leases: self.leases.view(),
            local_weight_owed: lock(&self.debts).owed(),
            counters,
        }
    }
}

/// Creates `marketgate_cluster_errors_total{op}` at zero for every operation, so the
/// family is in every scrape (a replica without a cluster reports zeros).
pub fn zero_error_series(metrics: &Metrics) {
    for op in redis::OPS {
        metrics.cluster_errors.with_label_values(&[op.as_str()]);
    }
}

/// The view without a cluster.
pub fn single_replica_view() -> ClusterView {
    ClusterView {
        enabled: false,
        instance: None,
        redis: None,
        replicas: None,
        replicas_seen: Vec::new(),
        egress: None,
        namespace: None,
        counting_shared: false,
        cache: false,
        budgets: Vec::new(),
        leases: Vec::new(),
        local_weight_owed: 0,
        counters: Default::default(),
    }
}
