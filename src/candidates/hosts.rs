//! One provider's hosts in rotation order. A host is handed out only while its breaker
//! admits a request, the provider is not benched (a 429 mid-request benches it for
//! every later candidate, hedges included), and the request has not yet tried as many of
//! the provider's hosts as `max_hosts_per_request` allows.

use std::sync::atomic::Ordering;

use tokio::time::Instant;

use super::rotation::rotation;
use crate::breaker::Admit;
use crate::candidates::admitted::{Admitted, admitted_transition};
use crate::metrics::Metrics;
use crate::snapshot::ProviderRt;

/// Iterates a provider's hosts for one request.
pub struct HostOrder<'a> {
    provider: &'a ProviderRt,
    /// The host tried first (a rotation from it: no list built per request).
    start: usize,
    pos: usize,
    handed_out: usize,
    limit: usize,
}

// === impl HostOrder ===

impl<'a> HostOrder<'a> {
    /// Starts at the provider's next rotation position; hands out at most `limit` hosts.
    pub fn new(provider: &'a ProviderRt, limit: usize) -> Self {
        let n = provider.hosts.len();
        let start = if n == 0 { 0 } else { provider.state.host_cursor.fetch_add(1, Ordering::Relaxed) % n };
        Self { provider, start, pos: 0, handed_out: 0, limit }
    }

    /// Admits the host at `index` for a health probe whatever its breaker says: a probe
    /// is the breaker's trial request, sent at the provider's probe interval instead of
    /// waiting out `open_for`, and its verdict decides the breaker. Benches still hold.
    pub fn probe(provider: &'a ProviderRt, index: usize, metrics: &'a Metrics) -> Option<Admitted<'a>> {
        let host = provider.hosts.get(index)?;
        let now = Instant::now();
        if provider.state.benched(now).is_some() {
            return None;
        }
        Some(Admitted::new(provider, host, Admit::Trial, metrics, now))
    }

    /// The provider.
    pub fn provider(&self) -> &'a ProviderRt {
        self.provider
    }

    /// The next host whose breaker admits a request at `now` (the caller's clock, read
    /// once per decision), if any may still be tried.
    pub fn next(&mut self, metrics: &'a Metrics, now: Instant) -> Option<Admitted<'a>> {
        if self.handed_out >= self.limit {
            return None;
        }
        if self.provider.state.benched(now).is_some() {
            return None;
        }
        let n = self.provider.hosts.len();
        while let Some(i) = rotation(n, self.start).nth(self.pos) {
            self.pos += 1;
            let host = self.provider.hosts.get(i)?;
            let (admit, transition) = host.state.breaker().allow(now);
            if let Some(t) = transition {
                admitted_transition(self.provider, host, t, metrics);
            }
            if !matches!(admit, Admit::No { .. }) {
                self.handed_out += 1;
                return Some(Admitted::new(self.provider, host, admit, metrics, now));
            }
        }
        None
    }
}
