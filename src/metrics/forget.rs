//! Forgetting the series of routes, providers and hosts a reload removed
//! (`Snapshot::build` calls these with the previous snapshot). Prometheus
//! keeps a series until it is removed, so without this a config that grew and shrank
//! again would keep every series of the big one: in `/metrics` (every scrape) and in
//! memory. Each family's label values are enumerated (statuses, outcomes, cache
//! results, the failover pairs a route counted), so removal is exact; a series that
//! never existed is skipped.

use super::Metrics;
use super::handles::STATUS_LABELS;
use crate::breaker::Outcome;

/// The `result` labels of `marketgate_cache_requests_total`.
pub const CACHE_RESULTS: [&str; 4] = ["hit", "miss", "stale", "coalesced"];

/// The `direction` labels of `marketgate_stream_messages_total`.
const DIRECTIONS: [&str; 3] = ["in", "out", "invalid"];

// === impl Metrics ===

impl Metrics {
    /// Counts a failover on `route` from one provider to another.
    pub fn failover(&self, route: &str, from: &str, to: &str) {
        self.failovers.with_label_values(&[route, from, to]).inc();
        let mut pairs = crate::sync::lock(&self.failover_pairs);
        let known = pairs.get(route).is_some_and(|seen| seen.iter().any(|(f, t)| f == from && t == to));
        if !known {
            pairs.entry(route.to_owned()).or_default().push((from.to_owned(), to.to_owned()));
        }
    }

    /// Drops the series of a route that is gone.
    pub fn forget_route(&self, route: &str) {
        for status in STATUS_LABELS.iter().chain(&["5xx"]) {
            let _ = self.requests.remove_label_values(&[route, status]);
        }
        let _ = self.request_duration.remove_label_values(&[route]);
        let _ = self.retry_budget_exhausted.remove_label_values(&[route]);
        let _ = self.hedges.remove_label_values(&[route]);
        for result in CACHE_RESULTS {
            let _ = self.cache_requests.remove_label_values(&[route, result]);
        }
        let pairs = crate::sync::lock(&self.failover_pairs).remove(route).unwrap_or_default();
        for (from, to) in pairs {
            let _ = self.failovers.remove_label_values(&[route, &from, &to]);
        }
    }

    /// Drops the per-provider series of a provider that is gone (its hosts' series
    /// go by [`Metrics::forget_host`]).
    pub fn forget_provider(&self, provider: &str) {
        let _ = self.upstream_duration.remove_label_values(&[provider]);
        let _ = self.quota_skips.remove_label_values(&[provider]);
        let _ = self.keys_set_aside.remove_label_values(&[provider]);
        let _ = self.provider_blocked.remove_label_values(&[provider]);
        let _ = self.items_dropped.remove_label_values(&[provider]);
        let _ = self.lease_claims.remove_label_values(&[provider]);
        let _ = self.lease_left.remove_label_values(&[provider]);
        for window in ["quota", "credits"] {
            let _ = self.quota_used_ratio.remove_label_values(&[provider, window]);
        }
        let s = &self.stream;
        let _ = s.upstream_connections.remove_label_values(&[provider]);
        let _ = s.dropped.remove_label_values(&[provider]);
        let _ = s.reconnects.remove_label_values(&[provider]);
        let _ = s.fallback.remove_label_values(&[provider]);
        for direction in DIRECTIONS {
            let _ = s.messages.remove_label_values(&[provider, direction]);
        }
    }

    /// Drops the series of one host that is gone.
    pub fn forget_host(&self, provider: &str, host: &str) {
        let _ = self.breaker_state.remove_label_values(&[provider, host]);
        for outcome in Outcome::ALL {
            let _ = self.upstream_requests.remove_label_values(&[provider, host, outcome.as_str()]);
        }
    }
}
