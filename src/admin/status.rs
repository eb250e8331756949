//! JSON views of the current state for `/api/system/*` (pure functions of a snapshot
//! and a time). Secrets never enter these structs: keys appear as counts and the name
//! of their environment variable.

use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime};

use serde::Serialize;

use super::budgets::{CreditsView, QuotaView};
use tokio::time::Instant;

use crate::bench::BLOCKED_STATUS;
use crate::breaker::{BreakerState, Outcome};
use crate::calendar::rfc3339;
use crate::snapshot::{HostRt, ProviderRt, Snapshot};
use crate::state::{Bench, LastError};
use crate::sync::lock;

/// The window success rates and latencies are computed over.
pub const HEALTH_WINDOW: Duration = Duration::from_secs(300);

/// `healthy`, `degraded`, `down`, `blocked` or `disabled`, with the reason.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Health {
    /// Status word.
    pub status: &'static str,
    /// Why (for degraded/down/blocked/disabled).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// One provider in `/api/system/providers/health`.
#[derive(Debug, Serialize)]
pub struct ProviderHealth {
    /// Name.
    pub name: String,
    /// Kind (`rest` or `marketgate`).
    pub kind: &'static str,
    /// Health.
    #[serde(flatten)]
    pub health: Health,
    /// Success rate over the last 5 minutes (null without traffic).
    pub success_rate: Option<f64>,
    /// Latency percentiles of successful attempts, ms.
    pub latency_ms: Latency,
    /// Attempts in the window.
    pub window_requests: u64,
    /// Tiers this provider appears in: `[{route, tier}]` (1-based).
    pub tiers: Vec<TierRef>,
    /// Operations it maps.
    pub operations: Vec<&'static str>,
    /// Per-host breakers.
    pub hosts: Vec<HostView>,
    /// Rate-limit bench, when benched.
    pub benched_until: Option<String>,
    /// Quota: limit and remaining in the current window.
    pub quota: Option<QuotaView>,
    /// Credits: limit, used and remaining this period.
    pub credits: Option<CreditsView>,
    /// API key status.
    pub keys: Option<KeysView>,
    /// Last failure.
    pub last_error: Option<ErrorView>,
}

/// Latency percentiles.
#[derive(Debug, Serialize, Default, Clone, Copy)]
pub struct Latency {
    /// Median.
    pub p50: Option<f64>,
    /// 95th percentile.
    pub p95: Option<f64>,
}

/// Where a provider sits in a route's pool.
#[derive(Debug, Serialize)]
pub struct TierRef {
    /// Route template.
    pub route: String,
    /// 1-based tier.
    pub tier: usize,
}

/// A host and its breaker.
#[derive(Debug, Serialize)]
pub struct HostView {
    /// Host label.
    pub host: String,
    /// Base URL.
    pub url: String,
    /// `closed`, `half_open` or `open`.
    pub breaker: &'static str,
    /// Consecutive failures (closed).
    pub consecutive_failures: u32,
    /// When the breaker opened (RFC 3339).
    pub opened_at: Option<String>,
    /// When a trial may go through (RFC 3339), while open.
    pub retry_at: Option<String>,
    /// Success rate over the window.
    pub success_rate: Option<f64>,
    /// Latency percentiles.
    pub latency_ms: Latency,
    /// Attempts in the window.
    pub window_requests: u64,
    /// Last failure.
    pub last_error: Option<ErrorView>,
}

/// API key state (never the keys).
#[derive(Debug, Serialize)]
pub struct KeysView {
    /// Where the keys come from: the environment variable, or `file <path>`.
    pub env: String,
    /// Number of keys in use.
    pub count: usize,
    /// Indexes set aside after 401/403.
    pub set_aside: Vec<usize>,
    /// A key file that vanished or came up empty (the last good keys stay in use).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file_problem: Option<String>,
}

/// A last error.
#[derive(Debug, Serialize)]
pub struct ErrorView {
    /// RFC 3339 time.
    pub at: String,
    /// Outcome label.
    pub outcome: &'static str,
    /// Description.
    pub message: String,
}

/// One entry of `/api/system/circuit-breakers`.
#[derive(Debug, Serialize)]
pub struct BreakerView {
    /// Provider.
    pub provider: String,
    /// Host label.
    pub host: String,
    /// State.
    pub state: &'static str,
    /// Consecutive failures.
    pub consecutive_failures: u32,
    /// Threshold.
    pub threshold: u32,
    /// Opened at (RFC 3339).
    pub opened_at: Option<String>,
    /// Retry at (RFC 3339).
    pub retry_at: Option<String>,
}

/// One entry of `/api/system/providers/stats`.
#[derive(Debug, Serialize)]
pub struct StatsView {
    /// Provider.
    pub provider: String,
    /// Attempts that reached an upstream.
    pub requests: u64,
    /// Successful attempts.
    pub successes: u64,
    /// Failures by outcome.
    pub failures: std::collections::BTreeMap<&'static str, u64>,
    /// Skips by outcome (unsupported, over_quota, ...).
    pub skips: std::collections::BTreeMap<&'static str, u64>,
    /// Requests that moved away from this provider.
    pub failovers: usize,
    /// Share of all successful answers served by this provider.
    pub load_share: f64,
    /// Credits: limit, used and remaining this period (when configured).
    pub credits: Option<CreditsView>,
}

// === views ===

/// `/api/system/providers/health`
pub fn providers_health(snap: &Snapshot) -> Vec<ProviderHealth> {
    let now = Instant::now();
    snap.providers.iter().map(|p| provider_health(snap, p, now)).collect()
}

fn provider_health(snap: &Snapshot, p: &ProviderRt, now: Instant) -> ProviderHealth {
    let sum = p.state.stats.summary(HEALTH_WINDOW, now);
    let hosts: Vec<HostView> = p.hosts.iter().map(|h| host_view(h, now)).collect();
    let bench = p.state.benched(now);
    let (quota, credits) = super::budgets::views(p);
    let spent = if credits.as_ref().is_some_and(|c| c.remaining == 0) {
        Some("credits spent for this period")
    } else {
        quota.as_ref().is_some_and(|q| q.remaining == 0).then_some("request budget spent for this window")
    };
    let health = decide(p, &hosts, sum.success_rate, bench.as_ref(), spent);
    let tiers = snap
        .config
        .routes
        .iter()
        .filter_map(|r| match &r.target {
            crate::config::model::RouteTarget::Normalized(n) => n
                .tiers
                .iter()
                .position(|t| t.contains(&p.cfg.name))
                .map(|i| TierRef { route: r.pattern.template().to_owned(), tier: i + 1 }),
            crate::config::model::RouteTarget::Passthrough(_) | crate::config::model::RouteTarget::Stream(_) => None,
        })
        .collect();
    let operations = p.cfg.operations().into_iter().map(|o| o.as_str()).collect();
    ProviderHealth {
        name: p.cfg.name.clone(),
        kind: p.cfg.kind.as_str(),
        health,
        success_rate: sum.success_rate,
        latency_ms: Latency { p50: sum.p50_ms, p95: sum.p95_ms },
        window_requests: sum.ok + sum.failed,
        tiers,
        operations,
        hosts,
        benched_until: bench.map(|b| rfc3339(b.until_wall)),
        quota,
        credits,
        keys: p.cfg.auth.as_ref().map(|a| KeysView {
            env: a.env.clone(),
            count: p.state.keys().len(),
            set_aside: lock(&p.state.keys_set_aside).clone(),
            file_problem: lock(&p.state.key_file_problem).clone(),
        }),
        last_error: error_view(&lock(&p.state.last_error)),
    }
}

/// The health rule (documented in the README):
/// disabled when configured off; blocked while the provider refuses this location
/// (HTTP 451); down when no host admits requests, the provider is benched, or
/// success < 50 %; degraded when a breaker is not closed, the quota is or the credits
/// spent, or success < 95 %; healthy otherwise (also without traffic).
pub fn decide(
    p: &ProviderRt,
    hosts: &[HostView],
    success: Option<f64>,
    bench: Option<&Bench>,
    spent: Option<&str>,
) -> Health {
    let h = |status, reason: Option<String>| Health { status, reason };
    if let Some(reason) = &p.cfg.disabled {
        return h("disabled", Some(reason.clone()));
    }
    if let Some(b) = bench.filter(|b| b.status == BLOCKED_STATUS) {
        let said = b.reason.as_deref().unwrap_or("HTTP 451");
        let reason = format!("refuses this location (HTTP 451): {said}; tried again at {}", rfc3339(b.until_wall));
        return h("blocked", Some(reason));
    }
    if !hosts.is_empty() && hosts.iter().all(|x| x.breaker == "open") {
        return h("down", Some("every host's breaker is open".into()));
    }
    if bench.is_some() {
        return h("down", Some("rate-limited by the provider (benched until Retry-After)".into()));
    }
    if let Some(s) = success.filter(|s| *s < 0.5) {
        return h("down", Some(format!("success rate {:.0}% < 50% over 5 min", s * 100.0)));
    }
    if let Some(x) = hosts.iter().find(|x| x.breaker != "closed") {
        return h("degraded", Some(format!("breaker of {} is {}", x.host, x.breaker)));
    }
    if let Some(which) = spent {
        return h("degraded", Some(which.into()));
    }
    if let Some(s) = success.filter(|s| *s < 0.95) {
        return h("degraded", Some(format!("success rate {:.0}% < 95% over 5 min", s * 100.0)));
    }
    h("healthy", None)
}

/// `/api/system/providers/{name}/hosts`
pub fn provider_hosts(p: &ProviderRt) -> Vec<HostView> {
    let now = Instant::now();
    p.hosts.iter().map(|h| host_view(h, now)).collect()
}

fn host_view(h: &HostRt, now: Instant) -> HostView {
    let b = h.state.breaker().clone();
    let sum = h.state.stats.summary(HEALTH_WINDOW, now);
    HostView {
        host: h.url.label().to_owned(),
        url: h.url.to_string(),
        breaker: state_word(b.state()),
        consecutive_failures: b.failures(),
        opened_at: opened_at(b.opened_at(), now),
        retry_at: retry_at(b.state(), now),
        success_rate: sum.success_rate,
        latency_ms: Latency { p50: sum.p50_ms, p95: sum.p95_ms },
        window_requests: sum.ok + sum.failed,
        last_error: error_view(&lock(&h.state.last_error)),
    }
}

/// `/api/system/circuit-breakers`
pub fn breakers(snap: &Snapshot) -> Vec<BreakerView> {
    let now = Instant::now();
    let mut out = Vec::new();
    for p in &snap.providers {
        for h in &p.hosts {
            let b = h.state.breaker().clone();
            out.push(BreakerView {
                provider: p.cfg.name.clone(),
                host: h.url.label().to_owned(),
                state: state_word(b.state()),
                consecutive_failures: b.failures(),
                threshold: b.policy().consecutive_failures,
                opened_at: opened_at(b.opened_at(), now),
                retry_at: retry_at(b.state(), now),
            });
        }
    }
    out
}

/// `/api/system/providers/stats`
pub fn stats(snap: &Snapshot) -> Vec<StatsView> {
    let total_ok: u64 = snap.providers.iter().map(|p| p.state.stats.total(Outcome::Ok)).sum();
    snap.providers
        .iter()
        .map(|p| {
            let mut failures = std::collections::BTreeMap::new();
            let mut skips = std::collections::BTreeMap::new();
            let mut requests = 0;
            for (o, n) in p.state.stats.totals() {
                if o.reached_upstream() && o != Outcome::Cancelled {
                    requests += n;
                }
                match o {
                    Outcome::Ok => {}
                    o if o.reached_upstream() => {
                        failures.insert(o.as_str(), n);
                    }
                    o => {
                        skips.insert(o.as_str(), n);
                    }
                }
            }
            let successes = p.state.stats.total(Outcome::Ok);
            StatsView {
                provider: p.cfg.name.clone(),
                requests,
                successes,
                failures,
                skips,
                failovers: p.state.failovers_from.load(Ordering::Relaxed),
                load_share: if total_ok == 0 { 0.0 } else { successes as f64 / total_ok as f64 },
                credits: super::budgets::views(p).1,
            }
        })
        .collect()
}

/// The state as a word.
pub fn state_word(s: BreakerState) -> &'static str {
    match s {
        BreakerState::Closed { .. } => "closed",
        BreakerState::HalfOpen { .. } => "half_open",
        BreakerState::Open { .. } => "open",
    }
}

/// When the breaker opened, as wall-clock time (whoever opened it: requests or a probe).
fn opened_at(at: Option<Instant>, now: Instant) -> Option<String> {
    at.map(|t| rfc3339(SystemTime::now() - now.saturating_duration_since(t)))
}

fn retry_at(s: BreakerState, now: Instant) -> Option<String> {
    match s {
        BreakerState::Open { until } => Some(rfc3339(SystemTime::now() + until.saturating_duration_since(now))),
        _ => None,
    }
}

fn error_view(e: &Option<LastError>) -> Option<ErrorView> {
    e.as_ref().map(|e| ErrorView { at: rfc3339(e.at), outcome: e.outcome, message: e.message.clone() })
}
