//! Provider budgets on the request path: take weight (from the short-window quota and
//! the credits) before calling, skip when spent, and resynchronise the quota from the
//! provider's used-weight header.

use http::HeaderMap;

use crate::metrics::Metrics;
use crate::snapshot::ProviderRt;
use crate::state::quota::{Spent, unix_ms};
use crate::sync::lock;

/// Takes `weight` from the provider's local budgets; `Err` (counted) says which one
/// it does not fit.
pub fn take(provider: &ProviderRt, weight: u32, metrics: &Metrics) -> Result<(), Spent> {
    let mut budgets = lock(&provider.state.quota);
    if budgets.is_empty() {
        return Ok(());
    }
    let taken = budgets.try_take(weight, unix_ms());
    drop(budgets);
    if taken.is_err() {
        metrics.quota_skips.with_label_values(&[&provider.cfg.name]).inc();
    }
    taken
}

/// The attempt detail of a request refused by a budget.
pub fn spent_detail(spent: Spent, weight: u32) -> String {
    match spent {
        Spent::Rate => format!("request budget spent for this window (this request weighs {weight})"),
        Spent::Credits => format!("credits spent for this period (this request weighs {weight})"),
    }
}

/// Reads the provider's used-weight header (e.g. `x-mbx-used-weight-1m`), if
/// configured, into the local budget; returns the count for the shared one.
pub fn sync_from_headers(provider: &ProviderRt, headers: &HeaderMap) -> Option<u32> {
    let name = provider.cfg.quota.as_ref().and_then(|q| q.used_header.as_ref())?;
    let used = headers.get(name).and_then(|v| v.to_str().ok()).and_then(|v| v.trim().parse::<u32>().ok())?;
    lock(&provider.state.quota).sync_used(Spent::Rate, used, unix_ms());
    Some(used)
}
