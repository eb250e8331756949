//! Host selection and outcome recording, shared by the raw and normalized paths.
//!
//! [`HostCursor`] walks a provider's hosts in rotation, skipping hosts whose breaker
//! refuses. An admitted host is an [`Admitted`] guard: [`Admitted::finish`] records the
//! outcome once (breaker, stats, metrics, logs); dropping it unfinished (hedge lost,
//! client gone) records `cancelled`, which frees a half-open trial slot.

use std::sync::atomic::Ordering;
use std::time::Duration;

use serde::Serialize;
use tokio::time::Instant;

use crate::breaker::{Admit, Outcome, Transition};
use crate::metrics::Metrics;
use crate::snapshot::{HostRt, ProviderRt};
use crate::upstream::retry_after::DEFAULT_BENCH;

/// One entry of `error.attempts` (and of the request log).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct AttemptRecord {
    /// Provider name.
    pub provider: String,
    /// Host label, absent for skips.
    pub host: Option<String>,
    /// Outcome label.
    pub outcome: &'static str,
    /// Duration in ms.
    pub ms: u64,
    /// Detail such as `HTTP 503` or `data[0].price: must be > 0`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// Iterates a provider's hosts in rotation order.
pub struct HostCursor<'a> {
    provider: &'a ProviderRt,
    order: Vec<usize>,
    pos: usize,
}

/// A host whose breaker admitted a request. Record the outcome with [`Admitted::finish`].
pub struct Admitted<'a> {
    /// The provider.
    pub provider: &'a ProviderRt,
    /// The host.
    pub host: &'a HostRt,
    /// How the breaker admitted it (a half-open trial or a closed breaker).
    admit: Admit,
    started: Instant,
    metrics: &'a Metrics,
    done: bool,
}

/// What to record about a finished attempt.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// Detail for logs and the attempt list (no secrets).
    pub detail: Option<String>,
    /// Bench the provider this long (429/418).
    pub retry_after: Option<Duration>,
    /// HTTP status that caused a bench.
    pub status: Option<u16>,
}

// === impl AttemptRecord ===

impl AttemptRecord {
    /// A provider skipped without reaching any host; counted in its statistics.
    pub fn skip(provider: &ProviderRt, outcome: Outcome, detail: impl Into<String>) -> Self {
        provider.state.stats.count_skip(outcome);
        Self::skipped(&provider.cfg.name, outcome, detail)
    }

    /// A provider skipped without reaching any host (not counted).
    pub fn skipped(provider: &str, outcome: Outcome, detail: impl Into<String>) -> Self {
        Self {
            provider: provider.to_owned(),
            host: None,
            outcome: outcome.as_str(),
            ms: 0,
            detail: Some(detail.into()),
        }
    }
}

// === impl HostCursor ===

impl<'a> HostCursor<'a> {
    /// Starts at the provider's next rotation position.
    pub fn new(provider: &'a ProviderRt) -> Self {
        let n = provider.hosts.len();
        let start = if n == 0 { 0 } else { provider.state.host_cursor.fetch_add(1, Ordering::Relaxed) % n };
        Self { provider, order: crate::pool::rotation(n, start).collect(), pos: 0 }
    }

    /// The next host whose breaker admits a request now, if any.
    pub fn next_admitted(&mut self, metrics: &'a Metrics) -> Option<Admitted<'a>> {
        while let Some(&i) = self.order.get(self.pos) {
            self.pos += 1;
            let host = &self.provider.hosts[i];
            let now = Instant::now();
            let (admit, transition) = host.state.breaker().allow(now);
            if let Some(t) = transition {
                transitioned(self.provider, host, t, metrics);
            }
            if !matches!(admit, Admit::No { .. }) {
                return Some(Admitted { provider: self.provider, host, admit, started: now, metrics, done: false });
            }
        }
        None
    }

    /// Whether the provider has a host that would admit a request now.
    pub fn any_admitting(provider: &ProviderRt) -> bool {
        let now = Instant::now();
        provider.hosts.iter().any(|h| h.state.breaker().would_admit(now))
    }
}

// === impl Admitted ===

impl Admitted<'_> {
    /// Time since the host was admitted.
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// Gives the host back unused (nothing was sent): frees a half-open trial slot and
    /// records nothing.
    pub fn release(mut self) {
        self.done = true;
        self.host.state.breaker().record_admitted(self.admit, crate::breaker::Effect::Neutral, Instant::now());
    }

    /// Records the outcome and returns the attempt entry.
    pub fn finish(mut self, outcome: Outcome, report: Report) -> AttemptRecord {
        self.done = true;
        self.record(outcome, &report)
    }

    fn record(&self, outcome: Outcome, report: &Report) -> AttemptRecord {
        let now = Instant::now();
        let latency = now.saturating_duration_since(self.started);
        let (provider, host) = (self.provider, self.host);
        let transition = host.state.breaker().record_admitted(self.admit, outcome.effect(), now);
        if let Some(t) = transition {
            transitioned(provider, host, t, self.metrics);
        }
        host.state.stats.record(outcome, latency, now);
        provider.state.stats.record(outcome, latency, now);
        let timed = outcome.reached_upstream() && outcome != Outcome::Cancelled;
        self.metrics.upstream(&provider.cfg.name, host.url.label(), outcome, timed.then_some(latency.as_secs_f64()));
        if outcome == Outcome::RateLimited {
            let for_ = report.retry_after.unwrap_or(DEFAULT_BENCH);
            provider.state.bench_for(for_, report.status.unwrap_or(429), now);
            tracing::warn!(provider = %provider.cfg.name, host = %host.url.label(), bench_s = for_.as_secs(), "provider rate-limited us; benched");
        }
        if outcome != Outcome::Ok && outcome != Outcome::Cancelled {
            let message = report.detail.clone().unwrap_or_else(|| outcome.as_str().to_owned());
            host.state.set_last_error(outcome.as_str(), message.clone());
            provider.state.set_last_error(outcome.as_str(), message);
        }
        AttemptRecord {
            provider: provider.cfg.name.clone(),
            host: Some(host.url.label().to_owned()),
            outcome: outcome.as_str(),
            ms: latency.as_millis() as u64,
            detail: report.detail.clone(),
        }
    }
}

impl Drop for Admitted<'_> {
    fn drop(&mut self) {
        if !self.done {
            self.record(Outcome::Cancelled, &Report::default());
        }
    }
}

/// Logs and counts a breaker transition once.
fn transitioned(provider: &ProviderRt, host: &HostRt, t: Transition, metrics: &Metrics) {
    let state = host.state.breaker().state();
    metrics.breaker(&provider.cfg.name, host.url.label(), state);
    match t {
        Transition::Opened { open_for } => {
            *crate::state::lock(&host.state.opened_wall) = Some(std::time::SystemTime::now());
            tracing::warn!(provider = %provider.cfg.name, host = %host.url.label(), open_for_ms = open_for.as_millis() as u64, "breaker opened");
        }
        Transition::HalfOpened => {
            tracing::info!(provider = %provider.cfg.name, host = %host.url.label(), "breaker half-open: sending one trial request");
        }
        Transition::Closed => {
            *crate::state::lock(&host.state.opened_wall) = None;
            tracing::info!(provider = %provider.cfg.name, host = %host.url.label(), "breaker closed");
        }
    }
}
