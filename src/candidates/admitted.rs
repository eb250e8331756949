//! An admitted host and the one place an attempt's outcome is recorded.
//!
//! A host whose breaker let a request through is an [`Admitted`] guard.
//! [`Admitted::finish`] records the outcome once: breaker, statistics, metrics, the
//! provider's bench on a rate limit, the last error. Dropping the guard unfinished (a
//! hedge lost, the client went away) records the outcome set with
//! [`Admitted::on_drop`], `cancelled` unless the caller said otherwise, which frees a
//! half-open trial slot.

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;

use tokio::time::Instant;

pub use crate::attempt::AttemptRecord;
use crate::breaker::{Admit, Effect, Outcome, Transition};
use crate::metrics::Metrics;
use crate::snapshot::{HostRt, ProviderRt};

/// How a finished attempt moves the breaker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Verdict {
    /// By its outcome class (consecutive failures open it).
    #[default]
    Counted,
    /// A health probe: a success closes the breaker, a failure opens it at once.
    Decisive,
}

/// What to record about a finished attempt besides its outcome.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// Detail for logs and the attempt list (no secrets).
    pub detail: Option<String>,
    /// Bench the provider this long (rate limits).
    pub retry_after: Option<Duration>,
    /// HTTP status, when one arrived.
    pub status: Option<u16>,
    /// How the outcome moves the breaker.
    pub verdict: Verdict,
}

/// A host whose breaker admitted a request. Record the outcome with [`Admitted::finish`].
pub struct Admitted<'a> {
    /// The provider.
    pub provider: &'a ProviderRt,
    /// The host.
    pub host: &'a HostRt,
    admit: Admit,
    started: Instant,
    metrics: &'a Metrics,
    on_drop: DropOutcome,
    done: bool,
}

/// The outcome an unfinished [`Admitted`] records when it is dropped; shared so the
/// failover loop can decide it for an attempt it is about to abandon.
#[derive(Debug, Clone)]
pub struct DropOutcome(Arc<AtomicU8>);

// === impl AttemptRecord ===

impl AttemptRecord {
    /// A provider skipped without reaching any host; counted in its statistics.
    pub fn skip(provider: &ProviderRt, outcome: Outcome, detail: impl Into<String>) -> Self {
        provider.state.stats.count_skip(outcome);
        Self::skipped(&provider.cfg.name, outcome, detail)
    }
}

// === impl DropOutcome ===

impl DropOutcome {
    fn new() -> Self {
        Self(Arc::new(AtomicU8::new(Outcome::Cancelled.code())))
    }

    /// Sets the outcome recorded if the attempt is dropped unfinished.
    pub fn set(&self, outcome: Outcome) {
        self.0.store(outcome.code(), Ordering::Relaxed);
    }

    fn get(&self) -> Outcome {
        Outcome::from_code(self.0.load(Ordering::Relaxed))
    }
}

// === impl Admitted ===

impl<'a> Admitted<'a> {
    /// A host admitted at `now` by its breaker with `admit`.
    pub(crate) fn new(
        provider: &'a ProviderRt,
        host: &'a HostRt,
        admit: Admit,
        metrics: &'a Metrics,
        now: Instant,
    ) -> Self {
        Self { provider, host, admit, started: now, metrics, on_drop: DropOutcome::new(), done: false }
    }

    /// When the host was admitted (the attempt's clock starts here).
    pub fn started(&self) -> Instant {
        self.started
    }

    /// Time since the host was admitted.
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// The handle that decides what dropping this attempt unfinished records.
    pub fn on_drop(&self) -> DropOutcome {
        self.on_drop.clone()
    }

    /// Gives the host back unused (nothing was sent): frees a half-open trial slot and
    /// records nothing.
    pub fn release(mut self) {
        self.done = true;
        self.host.state.breaker().record_admitted(self.admit, Effect::Neutral, Instant::now());
    }

    /// Records the outcome and returns the attempt entry.
    pub fn finish(mut self, outcome: Outcome, report: Report) -> AttemptRecord {
        self.done = true;
        self.record(outcome, &report);
        self.entry(outcome, report.detail)
    }

    /// Records the outcome without building an attempt entry (a raw answer passed on).
    pub fn finish_quietly(mut self, outcome: Outcome) {
        self.done = true;
        self.record(outcome, &Report::default());
    }

    fn entry(&self, outcome: Outcome, detail: Option<String>) -> AttemptRecord {
        AttemptRecord {
            provider: self.provider.cfg.name.clone(),
            host: Some(self.host.url.label().to_owned()),
            outcome,
            ms: self.started.elapsed().as_millis() as u64,
            detail,
            unlisted: false,
        }
    }

    fn record(&self, outcome: Outcome, report: &Report) {
        let now = Instant::now();
        let latency = now.saturating_duration_since(self.started);
        let (provider, host) = (self.provider, self.host);
        let transition = {
            let mut breaker = host.state.breaker();
            match (report.verdict, outcome.effect()) {
                (Verdict::Decisive, Effect::Success) => breaker.force_close(),
                (Verdict::Decisive, Effect::Failure) => breaker.force_open(now),
                _ => breaker.record_admitted(self.admit, outcome.effect(), now),
            }
        };
        if let Some(t) = transition {
            transitioned(provider, host, t, report.verdict, self.metrics);
        }
        host.state.stats.record(outcome, latency, now);
        provider.state.stats.record(outcome, latency, now);
        let timed = outcome.reached_upstream() && outcome != Outcome::Cancelled;
        self.metrics.attempt(
            (&provider.cfg.name, &provider.handles),
            (host.url.label(), &host.handles),
            outcome,
            timed.then_some(latency.as_secs_f64()),
        );
        match outcome {
            Outcome::RateLimited => {
                let for_ = report.retry_after.unwrap_or(provider.cfg.rate_limit.bench);
                let until = provider.state.bench_for(for_, report.status.unwrap_or(429), None, now);
                tracing::warn!(
                    provider = %provider.cfg.name,
                    host = %host.url.label(),
                    status = report.status.unwrap_or(429),
                    bench_s = until.saturating_duration_since(now).as_secs(),
                    "provider rate-limited us; benched: no request of any kind goes to it until the bench ends"
                );
            }
            Outcome::Blocked => blocked(provider, host, report, now),
            Outcome::Ok if provider.state.mark_blocked(false) => {
                tracing::info!(provider = %provider.cfg.name, host = %host.url.label(), "provider answers this location again");
            }
            _ => {}
        }
        if outcome != Outcome::Ok && outcome != Outcome::Cancelled {
            let message = report.detail.clone().unwrap_or_else(|| outcome.as_str().to_owned());
            host.state.set_last_error(outcome.as_str(), message.clone());
            provider.state.set_last_error(outcome.as_str(), message);
        }
    }
}

impl Drop for Admitted<'_> {
    fn drop(&mut self) {
        if !self.done {
            let outcome = self.on_drop.get();
            let detail = (outcome != Outcome::Cancelled)
                .then(|| format!("no answer after {} ms; a hedged attempt answered first", self.elapsed().as_millis()));
            self.record(outcome, &Report { detail, ..Report::default() });
        }
    }
}

/// A refused location (451): the whole provider is benched for `rate_limit.blocked_for`
/// (re-tried when it ends), logged once per block, never held against the host.
fn blocked(provider: &ProviderRt, host: &HostRt, report: &Report, now: Instant) {
    let for_ = provider.cfg.rate_limit.blocked_for;
    let status = report.status.unwrap_or(crate::bench::BLOCKED_STATUS);
    provider.state.bench_for(for_, status, report.detail.clone(), now);
    if !provider.state.mark_blocked(true) {
        tracing::warn!(
            provider = %provider.cfg.name,
            host = %host.url.label(),
            blocked_for_s = for_.as_secs(),
            detail = report.detail.as_deref().unwrap_or("HTTP 451"),
            "provider refuses this location (HTTP 451); no request goes to it until it is re-tried"
        );
    }
}

/// Logs and counts a breaker transition once, whoever caused it.
fn transitioned(provider: &ProviderRt, host: &HostRt, t: Transition, verdict: Verdict, metrics: &Metrics) {
    let state = host.state.breaker().state();
    metrics.breaker(&provider.cfg.name, host.url.label(), state);
    let by = match verdict {
        Verdict::Counted => "requests",
        Verdict::Decisive => "health probe",
    };
    match t {
        Transition::Opened { open_for } => {
            tracing::warn!(provider = %provider.cfg.name, host = %host.url.label(), by, open_for_ms = open_for.as_millis() as u64, "breaker opened");
        }
        Transition::HalfOpened => {
            tracing::info!(provider = %provider.cfg.name, host = %host.url.label(), "breaker half-open: sending one trial request");
        }
        Transition::Closed => {
            tracing::info!(provider = %provider.cfg.name, host = %host.url.label(), by, "breaker closed");
        }
    }
}

/// Logs a half-open transition made while admitting (the breaker's `allow`).
pub(crate) fn admitted_transition(provider: &ProviderRt, host: &HostRt, t: Transition, metrics: &Metrics) {
    transitioned(provider, host, t, Verdict::Counted, metrics);
}
