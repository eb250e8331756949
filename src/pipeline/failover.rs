//! The failover loop of a normalized request. Candidates come from the [`Picker`]; one
//! attempt runs at a time, plus at most one hedged attempt when the route sets
//! `hedge_after`. A host fault moves to the provider's next host, any other failure to
//! the next provider. Every attempt after the first draws on the retry budget. Price
//! answers that miss symbols are kept as the best partial answer while the next
//! provider is tried. One overall deadline bounds it all: each attempt's
//! timeout is cut to the time left.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::time::Duration;

use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use tokio::time::Instant;

use super::attempt::{self, AttemptCtx, Failure};
use super::picker::{Advance, Candidate, Picker};
use crate::app::AppState;
use crate::breaker::Outcome;
use crate::config::model::{Hedge, NormalizedRoute};
use crate::normalize::op::Operation;
use crate::normalize::params::OpRequest;
use crate::normalize::schema::{Payload, Price};
use crate::proxy::attempts::{AttemptRecord, Report};
use crate::proxy::error::{ErrorKind, ProxyError};
use crate::snapshot::{ProviderRt, Snapshot};

/// The shortest delay `hedge_after = "p95"` waits.
pub const P95_HEDGE_FLOOR: Duration = Duration::from_millis(25);

/// A successful (possibly partial) answer.
#[derive(Debug, Clone)]
pub struct Answer {
    /// The checked payload.
    pub payload: Payload,
    /// Provider that answered.
    pub provider: String,
    /// Host that answered.
    pub host: String,
    /// Every attempt and skip.
    pub attempts: Vec<AttemptRecord>,
    /// Asked symbols the answer lacks (price only).
    pub missing: Vec<String>,
}

/// Inputs of one failover run.
pub struct Request<'a> {
    /// Shared state.
    pub state: &'a AppState,
    /// Snapshot in force.
    pub snap: &'a Snapshot,
    /// Route index in `config.routes` (for tier cursors).
    pub route_index: usize,
    /// Route template (metric label).
    pub route_label: &'a str,
    /// The route.
    pub route: &'a NormalizedRoute,
    /// The request.
    pub req: &'a OpRequest,
    /// Overall deadline.
    pub deadline: Instant,
    /// The request came from another marketgate (do not forward it to one again).
    pub forwarded: bool,
}

/// A finished attempt.
struct Finished<'a> {
    provider: &'a ProviderRt,
    host: String,
    record: AttemptRecord,
    result: Result<(Payload, Vec<String>), Failure>,
}

type InFlight<'a> = Pin<Box<dyn Future<Output = Finished<'a>> + Send + 'a>>;

/// Runs the loop until an answer, or fails with the attempts list.
pub async fn run(r: &Request<'_>) -> Result<Answer, ProxyError> {
    let now_ms = now_ms();
    let mut picker = Picker::new(r, now_ms);
    let mut attempts: Vec<AttemptRecord> = Vec::new();
    let mut best: Option<Answer> = None;
    let mut last_failed: Option<String> = None;
    let mut too_large = 0usize;
    let mut started = 0usize;
    let mut advance = Advance::NextProvider;
    let mut inflight: FuturesUnordered<InFlight<'_>> = FuturesUnordered::new();
    let mut hedge_at: Option<Instant> = None;
    r.state.budget.record_request(Instant::now());
    loop {
        if inflight.is_empty() {
            // Attempts are bounded by the deadline, so the loop reaches this point by then.
            if Instant::now() >= r.deadline {
                if let Some(answer) = best {
                    return Ok(Answer { attempts, ..answer });
                }
                let msg = format!("deadline passed after {started} attempt(s)");
                return Err(ProxyError::with_attempts(ErrorKind::DeadlineExceeded, msg, attempts));
            }
            let Some(c) = picker.next(advance, &mut attempts) else { break };
            // A retry token is taken only when there is a candidate to spend it on.
            if started > 0 && !r.state.budget.try_retry(Instant::now()) {
                c.admitted.release();
                r.state.metrics.retry_budget_exhausted.with_label_values(&[r.route_label]).inc();
                let detail = "retry budget exhausted: no further attempts";
                attempts.push(AttemptRecord::skipped(&c.provider.cfg.name, Outcome::Unavailable, detail));
                break;
            }
            count_failover(r, &mut last_failed, &c.provider.cfg.name);
            hedge_at = hedge_delay(r.route, c.provider).map(|d| Instant::now() + d);
            started += 1;
            inflight.push(start(r, c, now_ms));
        }
        tokio::select! {
            Some(done) = inflight.next() => {
                let name = done.provider.cfg.name.clone();
                attempts.push(done.record);
                match done.result {
                    Ok((payload, missing)) => {
                        let answer = Answer { payload, provider: name.clone(), host: done.host, attempts: Vec::new(), missing };
                        if answer.missing.is_empty() {
                            return Ok(Answer { attempts, ..answer });
                        }
                        if best.as_ref().is_none_or(|b| answer.payload.price_symbols().len() > b.payload.price_symbols().len()) {
                            best = Some(answer);
                        }
                        advance = Advance::NextProvider;
                    }
                    Err(f) => {
                        too_large += usize::from(f.too_large);
                        advance = if f.outcome.try_next_host() { Advance::NextHost } else { Advance::NextProvider };
                    }
                }
                last_failed = Some(name);
            }
            () = sleep_until_opt(hedge_at), if hedge_at.is_some() && inflight.len() == 1 => {
                hedge_at = None;
                // Hedge on the same provider's next host first (another mirror), then on
                // the next provider; the picker keeps its place for later failovers.
                if let Some(c) = picker.next(Advance::NextHost, &mut attempts) {
                    if r.state.budget.try_retry(Instant::now()) {
                        r.state.metrics.hedges.with_label_values(&[r.route_label]).inc();
                        started += 1;
                        inflight.push(start(r, c, now_ms));
                    } else {
                        c.admitted.release();
                        r.state.metrics.retry_budget_exhausted.with_label_values(&[r.route_label]).inc();
                    }
                }
            }
        }
    }
    if let Some(mut answer) = best {
        answer.attempts = attempts;
        return Ok(answer);
    }
    Err(give_up(attempts, too_large))
}

fn start<'a>(r: &'a Request<'a>, c: Candidate<'a>, now_ms: i64) -> InFlight<'a> {
    Box::pin(async move {
        let Candidate { provider, plan, admitted } = c;
        let remaining = r.deadline.saturating_duration_since(Instant::now());
        let timeout = provider.cfg.attempt_timeout.min(remaining);
        let cx = AttemptCtx { snap: r.snap, provider, plan: &plan, req: r.req, metrics: &r.state.metrics, now_ms };
        let host = admitted.host.url.label().to_owned();
        let result = attempt::run(&cx, admitted.host, timeout).await.and_then(|p| cover(p, r.req, &provider.cfg.name));
        let record = match &result {
            Ok((_, missing)) => {
                let detail = (!missing.is_empty()).then(|| format!("missing {}", missing.join(",")));
                admitted.finish(Outcome::Ok, Report { detail, ..Report::default() })
            }
            Err(f) => admitted.finish(f.outcome, report(f)),
        };
        Finished { provider, host, record, result }
    })
}

fn count_failover(r: &Request<'_>, last_failed: &mut Option<String>, to: &str) {
    if let Some(from) = last_failed.take().filter(|f| f != to) {
        r.state.metrics.failovers.with_label_values(&[r.route_label, &from, to]).inc();
        if let Some(p) = r.snap.provider(&from) {
            p.state.failovers_from.fetch_add(1, Ordering::Relaxed);
        }
    }
}

fn hedge_delay(route: &NormalizedRoute, provider: &ProviderRt) -> Option<Duration> {
    match route.hedge? {
        Hedge::After(d) => Some(d),
        // A floor keeps loopback-fast providers from hedging on every scheduling hiccup.
        Hedge::P95 => provider.state.p95().map(|ms| Duration::from_secs_f64(ms / 1000.0).max(P95_HEDGE_FLOOR)),
    }
}

async fn sleep_until_opt(at: Option<Instant>) {
    match at {
        Some(t) => tokio::time::sleep_until(t).await,
        None => std::future::pending().await,
    }
}

fn report(f: &Failure) -> Report {
    Report { detail: Some(f.detail.clone()), retry_after: f.retry_after, status: f.status }
}

/// Keeps only asked symbols, in the order asked, and lists the missing ones. A price
/// answer with none of the asked symbols is a bad body, not a partial answer.
fn cover(payload: Payload, req: &OpRequest, provider: &str) -> Result<(Payload, Vec<String>), Failure> {
    if req.op != Operation::Price {
        return Ok((payload, Vec::new()));
    }
    let Payload::Price(items) = payload else {
        return Ok((payload, Vec::new()));
    };
    let mut ordered: Vec<Price> = Vec::new();
    let mut missing = Vec::new();
    for s in &req.symbols {
        match items.iter().find(|p| &p.symbol == s) {
            Some(p) => ordered.push(Price { vs: req.vs.clone(), ..p.clone() }),
            None => missing.push(s.clone()),
        }
    }
    if ordered.is_empty() {
        // Not a host fault: a symbol or quote this provider does not list (a client can
        // ask for any of those, and must not be able to trip a breaker by doing so).
        return Err(Failure::neutral(format!("{provider} price: the answer has none of the asked symbols")));
    }
    Ok((Payload::Price(ordered), missing))
}

fn give_up(attempts: Vec<AttemptRecord>, too_large: usize) -> ProxyError {
    let reached = attempts.iter().filter(|a| a.host.is_some()).count();
    if reached == 0 {
        let mut e = ProxyError::with_attempts(
            ErrorKind::NoProviderAvailable,
            "no provider could be tried: breakers open, rate-limited, over quota, disabled or unsupported",
            attempts,
        );
        e.retry_after = Some(1);
        return e;
    }
    if too_large == reached {
        return ProxyError::with_attempts(
            ErrorKind::UpstreamBodyTooLarge,
            "every upstream body exceeded max_upstream_body",
            attempts,
        );
    }
    ProxyError::with_attempts(
        ErrorKind::AllProvidersFailed,
        format!("all {reached} upstream attempts failed"),
        attempts,
    )
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}
