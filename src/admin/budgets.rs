//! A provider's budgets as the admin API shows them: the short-window quota and the
//! long-window credits, with what is left and when each resets.

use serde::Serialize;

use crate::config::model::Period;
use crate::snapshot::ProviderRt;
use crate::state::quota::{Window, unix_ms};
use crate::sync::lock;

/// Quota state.
#[derive(Debug, Serialize)]
pub struct QuotaView {
    /// Weight per window.
    pub limit: u32,
    /// Weight left now.
    pub remaining: u32,
    /// Window length, seconds.
    pub per_s: u64,
    /// Milliseconds until the window (and the budget) resets.
    pub resets_in_ms: u64,
    /// `cluster` when counted in Redis for all replicas (the figures are the shared
    /// count as last seen), `replica` when counted by this process alone.
    pub counted: &'static str,
}

/// Credits state.
#[derive(Debug, Serialize)]
pub struct CreditsView {
    /// Credits per period.
    pub limit: u32,
    /// Credits spent this period (by every replica when `counted` is `cluster`).
    pub used: u32,
    /// Credits left.
    pub remaining: u32,
    /// Share of the limit spent, 0 to 1.
    pub used_ratio: f64,
    /// `month` or the period length such as `1d`.
    pub period: String,
    /// When the credits come back (RFC 3339).
    pub resets_at: String,
    /// `cluster` or `replica`, as for the quota.
    pub counted: &'static str,
}

/// The quota and credits views of `p` (each `None` when not configured). While budgets
/// are counted in Redis, the shared count this replica last saw stands in for the local
/// one, against the whole limit.
pub fn views(p: &ProviderRt) -> (Option<QuotaView>, Option<CreditsView>) {
    let now = unix_ms();
    let shared = p.state.link.counting_shared();
    let seen = lock(&p.state.shared_counts);
    let mut b = lock(&p.state.quota);
    let quota = b.rate.as_mut().zip(p.cfg.quota.as_ref()).map(|(q, cfg)| {
        let (limit, remaining, counted) = match seen.current(false, now).filter(|_| shared) {
            Some(used) => (cfg.limit, cfg.limit.saturating_sub(clamp(used)), CLUSTER),
            None => (q.limit(), q.remaining(now), REPLICA),
        };
        QuotaView { limit, remaining, per_s: cfg.per.as_secs(), resets_in_ms: q.resets_in_ms(now), counted }
    });
    let credits = b.credits.as_mut().zip(p.cfg.credits).map(|(w, c)| {
        let used = seen.current(true, now).filter(|_| shared).map(clamp);
        credits_view(w, c.per, c.limit, used, now)
    });
    (quota, credits)
}

const CLUSTER: &str = "cluster";
const REPLICA: &str = "replica";

fn clamp(n: u64) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// `shared_used`: the count all replicas spent, against `full_limit`; else the local window.
fn credits_view(w: &mut Window, per: Period, full_limit: u32, shared_used: Option<u32>, now: u64) -> CreditsView {
    let resets = std::time::UNIX_EPOCH + std::time::Duration::from_millis(w.resets_at_ms(now));
    let (limit, used, counted) = match shared_used {
        Some(u) => (full_limit, u.min(full_limit), CLUSTER),
        None => (w.limit(), w.used(now), REPLICA),
    };
    CreditsView {
        limit,
        used,
        // A reload may have lowered the limit below what was already used.
        remaining: limit.saturating_sub(used),
        used_ratio: if limit == 0 { 1.0 } else { (f64::from(used) / f64::from(limit)).min(1.0) },
        period: match per {
            Period::Month => "month".to_owned(),
            Period::Every(d) => crate::config::units::format_duration(d),
        },
        resets_at: crate::calendar::rfc3339(resets),
        counted,
    }
}

/// The share of each budget spent, for `marketgate_quota_used_ratio{provider,window}`:
/// `(window, ratio)` with window `quota` or `credits` (the cluster's share while
/// budgets are counted in Redis).
pub fn used_ratios(p: &ProviderRt) -> Vec<(&'static str, f64)> {
    let (quota, credits) = views(p);
    let mut out = Vec::new();
    if let Some(q) = quota {
        let ratio = if q.limit == 0 { 1.0 } else { f64::from(q.limit - q.remaining.min(q.limit)) / f64::from(q.limit) };
        out.push(("quota", ratio));
    }
    if let Some(c) = credits {
        out.push(("credits", c.used_ratio));
    }
    out
}
