//! Provider budgets on the request path: take weight (from the short-window quota and
//! the credits) before calling, skip when spent, and resynchronise the quota from the
//! provider's used-weight header.

use http::HeaderMap;

use crate::metrics::Metrics;
use crate::snapshot::ProviderRt;
use crate::state::lock;
use crate::state::quota::unix_ms;

/// Takes `weight` from the provider's budget; `false` (counted) when it does not fit.
pub fn take(provider: &ProviderRt, weight: u32, metrics: &Metrics) -> bool {
    if lock(&provider.state.quota).try_take(weight, unix_ms()).is_ok() {
        return true;
    }
    metrics.quota_skips.with_label_values(&[&provider.cfg.name]).inc();
    false
}

/// Reads the provider's used-weight header (e.g. `x-mbx-used-weight-1m`), if configured.
pub fn sync_from_headers(provider: &ProviderRt, headers: &HeaderMap) {
    let Some(name) = provider.cfg.quota.as_ref().and_then(|q| q.used_header.as_ref()) else {
        return;
    };
    let Some(used) = headers.get(name).and_then(|v| v.to_str().ok()).and_then(|v| v.trim().parse::<u32>().ok()) else {
        return;
    };
    if let Some(window) = lock(&provider.state.quota).rate.as_mut() {
        window.sync_used(used, unix_ms());
    }
}
