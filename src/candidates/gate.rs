//! Whether a provider may be asked now. Every caller (normalized attempts, hedges, raw
//! passthrough, health probes) passes the same gate: not disabled, not benched by a
//! rate limit, some host's breaker admitting, and weight left in its budget.

use crate::state::quota::Spent;
use std::time::Duration;

use tokio::time::Instant;

use crate::breaker::{BreakerState, Outcome};
use crate::snapshot::ProviderRt;

/// Why a provider (or host) was passed over without a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skip {
    /// `disabled`, `unsupported`, `unavailable` or `over_quota`.
    pub outcome: Outcome,
    /// Why, for the attempt list.
    pub detail: String,
    /// When it may be asked again, when known (a bench, an open breaker).
    pub retry_after: Option<Duration>,
}

// === impl Skip ===

impl Skip {
    /// A skip without a known end.
    pub fn new(outcome: Outcome, detail: impl Into<String>) -> Self {
        Self { outcome, detail: detail.into(), retry_after: None }
    }
}

/// `Ok` when `provider` may be sent a request of `weight` now.
pub fn check(provider: &ProviderRt, weight: u32, now: Instant) -> Result<(), Skip> {
    if let Some(reason) = &provider.cfg.disabled {
        return Err(Skip::new(Outcome::Disabled, reason.clone()));
    }
    if let Some(bench) = provider.state.benched(now) {
        let left = bench.until.saturating_duration_since(now);
        let detail = format!("rate-limited: benched after HTTP {} for {} s more", bench.status, left.as_secs() + 1);
        return Err(Skip { outcome: Outcome::Unavailable, detail, retry_after: Some(left) });
    }
    if provider.hosts.is_empty() {
        return Err(Skip::new(Outcome::Unavailable, "no hosts"));
    }
    if !provider.hosts.iter().any(|h| h.state.breaker().would_admit(now)) {
        let retry = provider
            .hosts
            .iter()
            .filter_map(|h| match h.state.breaker().state() {
                BreakerState::Open { until } => Some(until.saturating_duration_since(now)),
                _ => None,
            })
            .min();
        return Err(Skip {
            outcome: Outcome::Unavailable,
            detail: "every host's breaker is open".into(),
            retry_after: retry,
        });
    }
    if let Some((left, which)) = provider.state.quota_remaining()
        && left < weight
    {
        let budget = match which {
            Spent::Rate => "request budget spent for this window",
            Spent::Credits => "credits spent for this period",
        };
        let detail = format!("{budget} ({left} left, this request weighs {weight})");
        return Err(Skip::new(Outcome::OverQuota, detail));
    }
    Ok(())
}
