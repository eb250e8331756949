//! A provider's budgets as the admin API shows them: the short-window quota and the
//! long-window credits, with what is left and when each resets.

use serde::Serialize;

use crate::config::model::Period;
use crate::snapshot::ProviderRt;
use crate::state::lock;
use crate::state::quota::{Window, unix_ms};

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
}

/// Credits state.
#[derive(Debug, Serialize)]
pub struct CreditsView {
    /// Credits per period.
    pub limit: u32,
    /// Credits spent this period (by this replica).
    pub used: u32,
    /// Credits left.
    pub remaining: u32,
    /// Share of the limit spent, 0 to 1.
    pub used_ratio: f64,
    /// `month` or the period length such as `1d`.
    pub period: String,
    /// When the credits come back (RFC 3339).
    pub resets_at: String,
}

/// The quota and credits views of `p` (each `None` when not configured).
pub fn views(p: &ProviderRt) -> (Option<QuotaView>, Option<CreditsView>) {
    let now = unix_ms();
    let mut b = lock(&p.state.quota);
    let quota = b.rate.as_mut().map(|q| QuotaView {
        limit: q.limit(),
        remaining: q.remaining(now),
        per_s: p.cfg.quota.as_ref().map_or(0, |c| c.per.as_secs()),
        resets_in_ms: q.resets_in_ms(now),
    });
    let credits = b.credits.as_mut().zip(p.cfg.credits).map(|(w, c)| credits_view(w, c.per, now));
    (quota, credits)
}

fn credits_view(w: &mut Window, per: Period, now: u64) -> CreditsView {
    let resets = std::time::UNIX_EPOCH + std::time::Duration::from_millis(w.resets_at_ms(now));
    CreditsView {
        limit: w.limit(),
        used: w.used(now),
        remaining: w.remaining(now),
        used_ratio: w.used_ratio(now),
        period: match per {
            Period::Month => "month".to_owned(),
            Period::Every(d) => crate::config::units::format_duration(d),
        },
        resets_at: super::status::rfc3339(resets),
    }
}

/// The share of each budget spent, for `marketgate_quota_used_ratio{provider,window}`:
/// `(window, ratio)` with window `quota` or `credits`.
pub fn used_ratios(p: &ProviderRt) -> Vec<(&'static str, f64)> {
    let now = unix_ms();
    let mut b = lock(&p.state.quota);
    let mut out = Vec::new();
    if let Some(w) = b.rate.as_mut() {
        out.push(("quota", w.used_ratio(now)));
    }
    if let Some(w) = b.credits.as_mut() {
        out.push(("credits", w.used_ratio(now)));
    }
    out
}
