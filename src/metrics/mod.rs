//! Every Prometheus metric marketgate exports is declared here (DESIGN §5). Labels are
//! config names and route templates only, never raw paths, symbols or error text.

pub mod forget;
pub mod handles;
pub mod stream;

use std::sync::Arc;

use prometheus::{
    Encoder, Gauge, GaugeVec, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry, TextEncoder,
};

use crate::breaker::BreakerState;

/// Handles to every metric family; cloning is one reference count.
#[derive(Clone)]
pub struct Metrics(Arc<Families>);

/// Every metric family.
pub struct Families {
    registry: Registry,
    /// `marketgate_requests_total{route,status}`
    pub requests: IntCounterVec,
    /// `marketgate_request_duration_seconds{route}`
    pub request_duration: HistogramVec,
    /// `marketgate_upstream_requests_total{provider,host,outcome}`
    pub upstream_requests: IntCounterVec,
    /// `marketgate_upstream_duration_seconds{provider}`
    pub upstream_duration: HistogramVec,
    /// `marketgate_breaker_state{provider,host}`: 0 closed, 1 half-open, 2 open.
    pub breaker_state: IntGaugeVec,
    /// `marketgate_failovers_total{route,from,to}`
    pub failovers: IntCounterVec,
    /// `marketgate_cache_requests_total{route,result}`: hit, miss, stale, coalesced.
    pub cache_requests: IntCounterVec,
    /// `marketgate_quota_skips_total{provider}`
    pub quota_skips: IntCounterVec,
    /// `marketgate_config_reloads_total{result}`: ok, error.
    pub config_reloads: IntCounterVec,
    /// `marketgate_config_last_reload_success_timestamp_seconds`
    pub config_last_success: Gauge,
    /// `marketgate_build_info{version}` (always 1).
    pub build_info: IntGaugeVec,
    /// `marketgate_retry_budget_exhausted_total{route}`
    pub retry_budget_exhausted: IntCounterVec,
    /// `marketgate_hedges_total{route}`
    pub hedges: IntCounterVec,
    /// `marketgate_panics_total`
    pub panics: IntCounter,
    /// `marketgate_connections_active`
    pub connections_active: IntGauge,
    /// `marketgate_connections_rejected_total`
    pub connections_rejected: IntCounter,
    /// `marketgate_api_keys_set_aside{provider}`: keys answered 401/403.
    pub keys_set_aside: IntGaugeVec,
    /// `marketgate_log_lines_dropped_total`: log lines dropped because stderr was slow.
    pub log_lines_dropped: IntCounter,
    /// `marketgate_quota_used_ratio{provider,window}`: share of a budget spent (`quota`
    /// per short window, `credits` per day or month), set at every scrape.
    pub quota_used_ratio: GaugeVec,
    /// `marketgate_provider_blocked{provider}`: 1 while the provider refuses this
    /// location (HTTP 451), set at every scrape.
    pub provider_blocked: IntGaugeVec,
    /// `marketgate_admin_actions_total{action,result}`: audited admin actions and config
    /// changes.
    pub admin_actions: IntCounterVec,
    /// `marketgate_items_dropped_total{provider}`: items of an answer left out because
    /// they did not fit (a news item without a link, dated in the future, a video).
    pub items_dropped: IntCounterVec,
    /// `marketgate_cluster_redis_up`: 1 while the cluster's Redis is usable.
    pub cluster_redis_up: IntGauge,
    /// `marketgate_cluster_errors_total{op}`: Redis calls that failed or timed out.
    pub cluster_errors: IntCounterVec,
    /// `marketgate_cluster_lease_claims_total{provider}`: slices of a provider's shared
    /// budget claimed from Redis (one round trip each).
    pub lease_claims: IntCounterVec,
    /// `marketgate_cluster_lease_left{provider}`: weight this replica holds, claimed and
    /// not spent.
    pub lease_left: IntGaugeVec,
    /// `marketgate_cluster_refused_total{what}`: data in Redis that was ignored
    /// (unsigned, wrongly signed or senseless: `event`, `bench`, `answer`).
    pub cluster_refused: IntCounterVec,
    /// The live-stream families.
    pub stream: stream::StreamFamilies,
    log_drops: std::sync::OnceLock<Box<dyn Fn() -> u64 + Send + Sync>>,
    /// The `(from, to)` pairs of `marketgate_failovers_total` per route, so a removed
    /// route's series can be forgotten exactly (failovers are rare: a lock is fine).
    failover_pairs: std::sync::Mutex<std::collections::HashMap<String, Vec<(String, String)>>>,
}

/// Every metric name, for docs checks (the stream families are in [`stream::NAMES`]).
pub const METRIC_NAMES: [&str; 27] = [
    "marketgate_requests_total",
    "marketgate_request_duration_seconds",
    "marketgate_upstream_requests_total",
    "marketgate_upstream_duration_seconds",
    "marketgate_breaker_state",
    "marketgate_failovers_total",
    "marketgate_cache_requests_total",
    "marketgate_quota_skips_total",
    "marketgate_config_reloads_total",
    "marketgate_config_last_reload_success_timestamp_seconds",
    "marketgate_build_info",
    "marketgate_retry_budget_exhausted_total",
    "marketgate_hedges_total",
    "marketgate_panics_total",
    "marketgate_connections_active",
    "marketgate_connections_rejected_total",
    "marketgate_api_keys_set_aside",
    "marketgate_log_lines_dropped_total",
    "marketgate_quota_used_ratio",
    "marketgate_provider_blocked",
    "marketgate_admin_actions_total",
    "marketgate_items_dropped_total",
    "marketgate_cluster_redis_up",
    "marketgate_cluster_errors_total",
    "marketgate_cluster_lease_claims_total",
    "marketgate_cluster_lease_left",
    "marketgate_cluster_refused_total",
];

/// Seconds since the Unix epoch, as a float (for timestamp gauges).
pub fn unix_now() -> f64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64())
}

const LATENCY_BUCKETS: [f64; 14] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];

// === impl Metrics ===

impl std::ops::Deref for Metrics {
    type Target = Families;

    fn deref(&self) -> &Families {
        &self.0
    }
}

impl Metrics {
    /// Registers every family on a fresh registry.
    pub fn new() -> Result<Self, prometheus::Error> {
        let registry = Registry::new();
        let counter = |name: &str, help: &str, labels: &[&str]| -> Result<IntCounterVec, prometheus::Error> {
            let c = IntCounterVec::new(Opts::new(name, help), labels)?;
            registry.register(Box::new(c.clone()))?;
            Ok(c)
        };
        let histogram = |name: &str, help: &str, labels: &[&str]| -> Result<HistogramVec, prometheus::Error> {
            let h = HistogramVec::new(HistogramOpts::new(name, help).buckets(LATENCY_BUCKETS.to_vec()), labels)?;
            registry.register(Box::new(h.clone()))?;
            Ok(h)
        };
        let gauge = |name: &str, help: &str, labels: &[&str]| -> Result<IntGaugeVec, prometheus::Error> {
            let g = IntGaugeVec::new(Opts::new(name, help), labels)?;
            registry.register(Box::new(g.clone()))?;
            Ok(g)
        };
        let requests = counter(
            "marketgate_requests_total",
            "Client requests by route template and status.",
            &["route", "status"],
        )?;
        let request_duration =
            histogram("marketgate_request_duration_seconds", "Client request duration by route template.", &["route"])?;
        let upstream_requests = counter(
            "marketgate_upstream_requests_total",
            "Upstream attempts by provider, host and outcome.",
            &["provider", "host", "outcome"],
        )?;
        let upstream_duration =
            histogram("marketgate_upstream_duration_seconds", "Upstream attempt duration by provider.", &["provider"])?;
        let breaker_state = gauge(
            "marketgate_breaker_state",
            "Breaker state per host: 0 closed, 1 half-open, 2 open.",
            &["provider", "host"],
        )?;
        let failovers = counter(
            "marketgate_failovers_total",
            "Requests that moved from one provider to another.",
            &["route", "from", "to"],
        )?;
        let cache_requests =
            counter("marketgate_cache_requests_total", "Response cache lookups by result.", &["route", "result"])?;
        let quota_skips =
            counter("marketgate_quota_skips_total", "Provider skipped because its budget was spent.", &["provider"])?;
        let config_reloads = counter("marketgate_config_reloads_total", "Config reloads by result.", &["result"])?;
        let config_last_success = Gauge::new(
            "marketgate_config_last_reload_success_timestamp_seconds",
            "Unix time of the last successful config load.",
        )?;
        registry.register(Box::new(config_last_success.clone()))?;
        let build_info = gauge("marketgate_build_info", "Build information; always 1.", &["version"])?;
        build_info.with_label_values(&[env!("CARGO_PKG_VERSION")]).set(1);
        let retry_budget_exhausted = counter(
            "marketgate_retry_budget_exhausted_total",
            "Retries or hedges not made because the retry budget was spent.",
            &["route"],
        )?;
        let hedges = counter("marketgate_hedges_total", "Hedged attempts started.", &["route"])?;
        let panics = IntCounter::new("marketgate_panics_total", "Request handlers that panicked (answered 500).")?;
        registry.register(Box::new(panics.clone()))?;
        let connections_active = IntGauge::new("marketgate_connections_active", "Open client connections.")?;
        registry.register(Box::new(connections_active.clone()))?;
        let connections_rejected = IntCounter::new(
            "marketgate_connections_rejected_total",
            "Client connections refused at the connection limit.",
        )?;
        registry.register(Box::new(connections_rejected.clone()))?;
        let keys_set_aside =
            gauge("marketgate_api_keys_set_aside", "API keys set aside after a 401/403, per provider.", &["provider"])?;
        for result in ["ok", "error"] {
            config_reloads.with_label_values(&[result]);
        }
        let log_lines_dropped = IntCounter::new(
            "marketgate_log_lines_dropped_total",
            "Log lines dropped because the log output (stderr) did not keep up.",
        )?;
        registry.register(Box::new(log_lines_dropped.clone()))?;
        let quota_used_ratio = GaugeVec::new(
            Opts::new(
                "marketgate_quota_used_ratio",
                "Share of a provider budget spent in its current window (0 to 1): window quota or credits.",
            ),
            &["provider", "window"],
        )?;
        registry.register(Box::new(quota_used_ratio.clone()))?;
        let provider_blocked = IntGaugeVec::new(
            Opts::new(
                "marketgate_provider_blocked",
                "1 while the provider refuses this location (HTTP 451, e.g. Binance from the US); 0 otherwise.",
            ),
            &["provider"],
        )?;
        registry.register(Box::new(provider_blocked.clone()))?;
        let admin_actions = counter(
            "marketgate_admin_actions_total",
            "Audited admin actions and config changes (reload, unbench, breaker_reset), by result.",
            &["action", "result"],
        )?;
        // Every series from the start (0), so a rate() or an alert has a baseline.
        for action in ["reload", "unbench", "breaker_reset"] {
            for result in ["ok", "error", "refused"] {
                admin_actions.with_label_values(&[action, result]);
            }
        }
        let items_dropped = counter(
            "marketgate_items_dropped_total",
            "Items of an answer left out because they did not fit (news), per provider.",
            &["provider"],
        )?;
        let cluster_redis_up = IntGauge::new(
            "marketgate_cluster_redis_up",
            "1 while the cluster's Redis is usable (0 also without a cluster).",
        )?;
        registry.register(Box::new(cluster_redis_up.clone()))?;
        let cluster_errors = counter(
            "marketgate_cluster_errors_total",
            "Redis calls of the cluster that failed or timed out, by operation.",
            &["op"],
        )?;
        let lease_claims = counter(
            "marketgate_cluster_lease_claims_total",
            "Slices of a provider's shared budget claimed from Redis (one round trip each).",
            &["provider"],
        )?;
        let lease_left = IntGaugeVec::new(
            Opts::new(
                "marketgate_cluster_lease_left",
                "Weight of a provider's shared budget claimed here and not spent.",
            ),
            &["provider"],
        )?;
        registry.register(Box::new(lease_left.clone()))?;
        let cluster_refused = counter(
            "marketgate_cluster_refused_total",
            "Data in Redis that was ignored: unsigned, wrongly signed or senseless (event, bench, answer).",
            &["what"],
        )?;
        for what in ["event", "bench", "answer"] {
            cluster_refused.with_label_values(&[what]);
        }
        let stream = stream::StreamFamilies::register(&registry)?;
        Ok(Self(Arc::new(Families {
            registry,
            requests,
            request_duration,
            upstream_requests,
            upstream_duration,
            breaker_state,
            failovers,
            cache_requests,
            quota_skips,
            config_reloads,
            config_last_success,
            build_info,
            retry_budget_exhausted,
            hedges,
            panics,
            connections_active,
            connections_rejected,
            keys_set_aside,
            log_lines_dropped,
            quota_used_ratio,
            provider_blocked,
            admin_actions,
            items_dropped,
            cluster_redis_up,
            cluster_errors,
            lease_claims,
            lease_left,
            cluster_refused,
            stream,
            log_drops: std::sync::OnceLock::new(),
            failover_pairs: std::sync::Mutex::default(),
        })))
    }

    /// Where the count of dropped log lines comes from (read at every scrape).
    pub fn count_log_drops_from(&self, source: impl Fn() -> u64 + Send + Sync + 'static) {
        let _ = self.log_drops.set(Box::new(source));
    }

    /// The text exposition (format 0.0.4).
    pub fn render(&self) -> String {
        if let Some(source) = self.log_drops.get() {
            let dropped = source();
            let counted = self.log_lines_dropped.get();
            if dropped > counted {
                self.log_lines_dropped.inc_by(dropped - counted);
            }
        }
        let mut buf = Vec::new();
        if let Err(e) = TextEncoder::new().encode(&self.registry.gather(), &mut buf) {
            tracing::error!(error = %e, "metrics encoding failed");
        }
        String::from_utf8(buf).unwrap_or_default()
    }

    /// Sets a host's breaker gauge.
    pub fn breaker(&self, provider: &str, host: &str, state: BreakerState) {
        let v = match state {
            BreakerState::Closed { .. } => 0,
            BreakerState::HalfOpen { .. } => 1,
            BreakerState::Open { .. } => 2,
        };
        self.breaker_state.with_label_values(&[provider, host]).set(v);
    }
}
