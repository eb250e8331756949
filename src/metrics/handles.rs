//! Metric handles resolved once per snapshot instead of once per request: a label
//! lookup in a metric family costs a hash of every label value (about 15 ns per call,
//! plus the label strings), a cached handle an atomic add. Handles are created on first
//! use, so no series appears before its first event, and a reload starts fresh ones.

use std::sync::OnceLock;

use prometheus::{Histogram, IntCounter};

use super::Metrics;
use crate::breaker::Outcome;

/// The status labels of `marketgate_requests_total`: common codes, then classes.
pub const STATUS_LABELS: [&str; 24] = [
    "200", "204", "206", "301", "302", "304", "400", "401", "403", "404", "405", "408", "413", "414", "418", "429",
    "500", "502", "503", "504", "1xx", "2xx", "3xx", "4xx",
];

/// The label of a status (a bounded set: a code listed above, or its class; 5xx codes
/// not listed share `5xx`).
pub fn status_label(status: u16) -> &'static str {
    STATUS_LABELS.get(status_index(status)).copied().unwrap_or("5xx")
}

fn status_index(status: u16) -> usize {
    match status {
        200 => 0,
        204 => 1,
        206 => 2,
        301 => 3,
        302 => 4,
        304 => 5,
        400 => 6,
        401 => 7,
        403 => 8,
        404 => 9,
        405 => 10,
        408 => 11,
        413 => 12,
        414 => 13,
        418 => 14,
        429 => 15,
        500 => 16,
        502 => 17,
        503 => 18,
        504 => 19,
        s if s < 200 => 20,
        s if s < 300 => 21,
        s if s < 400 => 22,
        s if s < 500 => 23,
        _ => STATUS_LABELS.len(),
    }
}

/// One route's series.
#[derive(Default)]
pub struct RouteHandles {
    statuses: [OnceLock<IntCounter>; STATUS_LABELS.len() + 1],
    duration: OnceLock<Histogram>,
    /// `marketgate_cache_requests_total{route,result}`, by result (hit, coalesced,
    /// miss, stale, shared): a cache hit counts itself without a label lookup.
    cache: [OnceLock<IntCounter>; 5],
}

/// One provider's series.
#[derive(Default)]
pub struct ProviderHandles {
    duration: OnceLock<Histogram>,
}

/// One host's series.
#[derive(Default)]
pub struct HostHandles {
    outcomes: [OnceLock<IntCounter>; Outcome::ALL.len()],
}

// === impl RouteHandles ===

impl RouteHandles {
    /// Counts a served request and its duration.
    pub fn served(&self, m: &Metrics, route: &str, status: u16, seconds: f64) {
        let i = status_index(status);
        let label = status_label(status);
        self.statuses[i].get_or_init(|| m.requests.with_label_values(&[route, label])).inc();
        self.duration.get_or_init(|| m.request_duration.with_label_values(&[route])).observe(seconds);
    }

    /// Counts a cache lookup's `result` (`index` is its place among the five results).
    pub fn cache_lookup(&self, m: &Metrics, route: &str, index: usize, result: &str) {
        if let Some(cell) = self.cache.get(index) {
            cell.get_or_init(|| m.cache_requests.with_label_values(&[route, result])).inc();
        }
    }
}

// === impl Metrics (cached upstream series) ===

impl Metrics {
    /// Records one upstream attempt through cached handles.
    pub fn attempt(
        &self,
        (provider, ph): (&str, &ProviderHandles),
        (host, hh): (&str, &HostHandles),
        outcome: Outcome,
        seconds: Option<f64>,
    ) {
        let i = usize::from(outcome.code());
        if let Some(cell) = hh.outcomes.get(i) {
            cell.get_or_init(|| self.upstream_requests.with_label_values(&[provider, host, outcome.as_str()])).inc();
        }
        if let Some(s) = seconds {
            ph.duration.get_or_init(|| self.upstream_duration.with_label_values(&[provider])).observe(s);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_listed_code_maps_to_its_own_label() {
        for (i, label) in STATUS_LABELS.iter().enumerate().take(20) {
            let code: u16 = label.parse().expect("code");
            assert_eq!(status_index(code), i, "{label}");
        }
    }

    #[test]
    fn status_labels_are_bounded() {
        assert_eq!(status_label(200), "200");
        assert_eq!(status_label(508), "5xx");
        assert_eq!(status_label(451), "4xx");
        assert_eq!(status_label(101), "1xx");
        assert_eq!(status_label(299), "2xx");
        assert_eq!(status_label(408), "408");
    }

    #[test]
    fn cached_handles_count_into_the_families() {
        let m = Metrics::new().expect("metrics");
        let route = RouteHandles::default();
        for _ in 0..3 {
            route.served(&m, "/v1/price", 200, 0.001);
        }
        route.served(&m, "/v1/price", 599, 0.001);
        let text = m.render();
        assert!(text.contains(r#"marketgate_requests_total{route="/v1/price",status="200"} 3"#), "{text}");
        assert!(text.contains(r#"marketgate_requests_total{route="/v1/price",status="5xx"} 1"#), "{text}");
        let (p, h) = (ProviderHandles::default(), HostHandles::default());
        m.attempt(("binance", &p), ("api.binance.com", &h), Outcome::Ok, Some(0.01));
        m.attempt(("binance", &p), ("api.binance.com", &h), Outcome::Ok, None);
        let text = m.render();
        assert!(text.contains(
            r#"marketgate_upstream_requests_total{host="api.binance.com",outcome="ok",provider="binance"} 2"#
        ));
    }
}
