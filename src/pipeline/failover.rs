//! The failover loop of a normalized request.
//!
//! Candidates come from the [`Candidates`] order. One attempt runs first; after its
//! hedge delay (the route's `hedge_after`: a fixed delay, or the provider's recent p95,
//! or `defaults.hedge_delay` while it has none) a hedged attempt starts on the next
//! candidate, and again after the next delay, up to [`MAX_IN_FLIGHT`] at once. A host
//! fault moves to the provider's next host (at most `max_hosts_per_request` of them),
//! any other failure to the next provider. Every attempt after the first draws on the
//! retry budget. Price answers that miss symbols are kept as the best partial answer
//! while the next provider is tried.
//!
//! One deadline bounds it all, and it is shared out: an attempt's timeout is cut to
//! the time left divided by the tiers left, so a hanging tier can never use up the
//! turn of the tiers after it. When a hedge wins, an attempt it overtook that had been
//! waiting for at least twice its hedge delay is recorded as a `timeout` against its
//! host (otherwise `cancelled`), so a host that always hangs opens its breaker even
//! while hedges hide it from clients.
//!
//! The loop is generic over how an attempt runs, so it is unit-tested with scripted
//! attempts on tokio's paused clock.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use tokio::time::Instant;

use super::attempt::{Checked, Finished};
use super::plan::Plan;
pub use crate::answer::Answer;
use crate::breaker::Outcome;
use crate::budget::RetryBudget;
use crate::candidates::admitted::{AttemptRecord, DropOutcome};
use crate::candidates::tiers::TierOrder;
use crate::candidates::{Advance, Candidate, Candidates, Planned, Skip};
use crate::config::model::{Hedge, NormalizedRoute, ProviderKind};
use crate::error::ProxyError;
use crate::metrics::Metrics;
use crate::normalize::params::OpRequest;
use crate::policy::{Asked, Policy};
use crate::snapshot::{PoolRt, ProviderRt, Snapshot};

/// The shortest delay `hedge_after = "p95"` waits once a provider has a p95.
pub const P95_HEDGE_FLOOR: Duration = Duration::from_millis(25);

/// Most attempts of one request in flight at once (the first and two hedges).
pub const MAX_IN_FLIGHT: usize = 3;

/// Inputs of one failover run.
#[derive(Clone)]
pub struct Request<'a> {
    /// Snapshot in force.
    pub snap: &'a Snapshot,
    /// Metric handles.
    pub metrics: &'a Metrics,
    /// The retry budget.
    pub budget: &'a RetryBudget,
    /// Route template (metric label).
    pub route_label: &'a str,
    /// The route.
    pub route: &'a NormalizedRoute,
    /// Its compiled pool.
    pub pool: &'a PoolRt,
    /// The request.
    pub req: &'a OpRequest,
    /// Overall deadline.
    pub deadline: Instant,
    /// The request came through another marketgate: answer it from this instance's
    /// own providers only.
    pub forwarded: bool,
    /// Wall-clock time of the request, ms.
    pub now_ms: i64,
}

type InFlight<'a> = Pin<Box<dyn Future<Output = Finished<'a>> + Send + 'a>>;

/// Runs the loop until an answer, or fails with the attempts list. `start` runs one
/// attempt of a candidate within a timeout.
pub async fn run<'a, S, F>(r: &Request<'a>, start: S) -> Result<Answer, ProxyError>
where
    S: Fn(Candidate<'a, Plan>, Duration) -> F,
    F: Future<Output = Finished<'a>> + Send + 'a,
{
    let candidates = Candidates::new(TierOrder::pool(r.snap, r.pool), r.metrics);
    let policy = Policy::new(r.budget, &r.snap.config.retry_budget, r.metrics, r.route_label, r.deadline);
    let mut run = Run {
        r,
        start,
        policy,
        candidates,
        attempts: Vec::new(),
        best: None,
        last_failed: None,
        next: Advance::NextProvider,
        inflight: FuturesUnordered::new(),
        watched: Vec::new(),
        hedge_at: None,
    };
    run.go().await
}

struct Run<'a, 'r, S> {
    r: &'r Request<'a>,
    start: S,
    policy: Policy<'r>,
    candidates: Candidates<'a, Plan>,
    attempts: Vec<AttemptRecord>,
    best: Option<Answer>,
    last_failed: Option<String>,
    /// Where the policy said to go after the last attempt.
    next: Advance,
    inflight: FuturesUnordered<InFlight<'a>>,
    watched: Vec<Watched>,
    hedge_at: Option<Instant>,
}

/// An attempt that may be overtaken by a hedge.
struct Watched {
    on_drop: DropOutcome,
    since: Instant,
    slow_after: Duration,
}

// === impl Run ===

impl<'a, S, F> Run<'a, '_, S>
where
    S: Fn(Candidate<'a, Plan>, Duration) -> F,
    F: Future<Output = Finished<'a>> + Send + 'a,
{
    async fn go(&mut self) -> Result<Answer, ProxyError> {
        loop {
            if self.inflight.is_empty() {
                if Instant::now() >= self.policy.deadline() {
                    return self.deadline_passed();
                }
                if !self.launch(self.next, false) {
                    break;
                }
            }
            let hedge_ready =
                self.hedge_at.is_some() && self.inflight.len() < MAX_IN_FLIGHT && !self.policy.exhausted();
            tokio::select! {
                Some(done) = self.inflight.next() => {
                    if let Some(answer) = self.finished(done) {
                        return Ok(answer);
                    }
                    if !self.inflight.is_empty() && self.inflight.len() < MAX_IN_FLIGHT && !self.policy.exhausted() {
                        // A failure while a hedge still runs: fail over now, not after it.
                        self.launch(self.next, false);
                    }
                }
                () = sleep_until(self.hedge_at), if hedge_ready => {
                    self.hedge_at = None;
                    self.launch(Advance::NextHost, true);
                }
            }
        }
        let attempts = std::mem::take(&mut self.attempts);
        match self.best.take() {
            Some(answer) => Ok(Answer { attempts, ..answer }),
            None => Err(self.policy.give_up(asked(self.r.req, true), attempts)),
        }
    }

    /// Starts the next candidate; `false` when there is none, or the policy says no
    /// (deadline, retry budget).
    fn launch(&mut self, advance: Advance, hedge: bool) -> bool {
        let r = self.r;
        let mut planner = |p: &'a ProviderRt| plan_for(r, p);
        let Some(c) = self.candidates.next(advance, &mut planner, &mut self.attempts) else {
            return false;
        };
        let now = c.admitted.started();
        if self.policy.admit(&c.provider.cfg.name, now, &mut self.attempts).is_err() {
            c.admitted.release();
            return false;
        }
        if hedge {
            r.metrics.hedges.with_label_values(&[r.route_label]).inc();
        } else {
            self.count_failover(&c.provider.cfg.name);
        }
        let timeout = self.policy.timeout(c.provider.cfg.attempt_timeout, self.candidates.tiers_left(), now);
        let delay = hedge_delay(r.route, c.provider);
        if let Some(d) = delay {
            self.watched.push(Watched { on_drop: c.admitted.on_drop(), since: now, slow_after: d * 2 });
        }
        self.hedge_at = delay.map(|d| now + d);
        self.inflight.push(Box::pin((self.start)(c, timeout)));
        true
    }

    /// Takes a finished attempt; `Some` is the answer to return.
    fn finished(&mut self, done: Finished<'a>) -> Option<Answer> {
        let name = done.provider.cfg.name.clone();
        self.attempts.push(done.record);
        match done.result {
            Ok(Checked { payload, missing, dropped }) => {
                let answer = Answer {
                    payload,
                    provider: name.clone(),
                    host: done.host,
                    attempts: Vec::new(),
                    missing,
                    extra: dropped_meta(dropped.len(), dropped),
                };
                if answer.missing.is_empty() {
                    self.mark_overtaken();
                    return Some(Answer { attempts: std::mem::take(&mut self.attempts), ..answer });
                }
                let better = self
                    .best
                    .as_ref()
                    .is_none_or(|b| answer.payload.price_symbols().len() > b.payload.price_symbols().len());
                if better {
                    self.best = Some(answer);
                }
                self.next = Advance::NextProvider;
            }
            Err(f) => self.next = self.policy.advance(&f),
        }
        self.last_failed = Some(name);
        None
    }

    /// Attempts still in flight when a hedge won: those that waited at least twice
    /// their hedge delay count as timeouts against their hosts.
    fn mark_overtaken(&mut self) {
        let now = Instant::now();
        for w in &self.watched {
            if now.saturating_duration_since(w.since) >= w.slow_after {
                w.on_drop.set(Outcome::Timeout);
            }
        }
    }

    fn count_failover(&mut self, to: &str) {
        if let Some(from) = self.last_failed.take().filter(|f| f != to) {
            self.r.metrics.failover(self.r.route_label, &from, to);
            if let Some(p) = self.r.snap.provider(&from) {
                p.state.failovers_from.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    fn deadline_passed(&mut self) -> Result<Answer, ProxyError> {
        let attempts = std::mem::take(&mut self.attempts);
        if let Some(answer) = self.best.take() {
            return Ok(Answer { attempts, ..answer });
        }
        self.policy.deadline_passed();
        Err(self.policy.give_up(asked(self.r.req, true), attempts))
    }
}

/// What `req` asked, for the final error.
pub fn asked(req: &OpRequest, whole_pool: bool) -> Asked<'_> {
    Asked { symbols: &req.symbols, vs: &req.vs, whole_pool }
}

/// What `provider` is asked for this request, or why it is passed over.
pub(super) fn plan_for(r: &Request<'_>, provider: &ProviderRt) -> Planned<Plan> {
    if r.forwarded && provider.cfg.kind == ProviderKind::Marketgate {
        return Err(Skip::new(Outcome::Unsupported, "the request came through another marketgate"));
    }
    let plan = Plan::new(&provider.cfg, r.req, r.now_ms)?;
    let weight = plan.weight();
    Ok((plan, weight))
}

/// The hedge delay of an attempt on `provider`, if the route hedges.
pub fn hedge_delay(route: &NormalizedRoute, provider: &ProviderRt) -> Option<Duration> {
    match route.hedge? {
        Hedge::After(d) => Some(d),
        // A floor keeps loopback-fast providers from hedging on every scheduling hiccup.
        Hedge::P95 { cold } => {
            Some(provider.state.p95().map_or(cold, |ms| Duration::from_secs_f64(ms / 1000.0).max(P95_HEDGE_FLOOR)))
        }
    }
}

/// Sleeps until `at`, or for ever without it.
pub(super) async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(t) => tokio::time::sleep_until(t).await,
        None => std::future::pending().await,
    }
}

pub use crate::calendar::now_ms;

#[cfg(test)]
mod tests;

/// `meta.dropped` of an answer that left `count` items out: `{"count": n, "items":
/// [...]}`, the first ten of `named` (the reasons).
pub fn dropped_meta(count: usize, mut named: Vec<String>) -> Option<Arc<crate::answer::MetaExtra>> {
    if count == 0 {
        return None;
    }
    named.truncate(10);
    let mut extra = crate::answer::MetaExtra::new();
    extra.insert("dropped".into(), serde_json::json!({"count": count, "items": named}));
    Some(Arc::new(extra))
}
