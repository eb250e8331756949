//! The failover loop of a normalized request: tiers in order, providers round-robin
//! inside a tier, hosts in rotation inside a provider, one overall deadline. A host
//! fault moves to the provider's next host; any other failure moves to the next
//! provider. Price answers that miss symbols are kept as the best partial answer while
//! the next provider is tried.

use std::sync::atomic::Ordering;

use tokio::time::Instant;

use super::attempt::{self, AttemptCtx, Failure};
use super::plan::Plan;
use crate::app::AppState;
use crate::breaker::Outcome;
use crate::config::model::NormalizedRoute;
use crate::normalize::op::Operation;
use crate::normalize::params::OpRequest;
use crate::normalize::schema::{Payload, Price};
use crate::proxy::attempts::{AttemptRecord, HostCursor, Report};
use crate::proxy::error::{ErrorKind, ProxyError};
use crate::proxy::quota;
use crate::snapshot::{ProviderRt, Snapshot};

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
}

/// Runs the loop until an answer, or fails with the attempts list.
pub async fn run(r: &Request<'_>) -> Result<Answer, ProxyError> {
    let mut attempts: Vec<AttemptRecord> = Vec::new();
    let mut best: Option<Answer> = None;
    let mut last_failed: Option<String> = None;
    let mut too_large = 0usize;
    let now_ms = now_ms();
    let cursors = r.snap.tier_cursors.get(r.route_index);
    for (t, tier) in r.route.tiers.iter().enumerate() {
        let start = cursors.and_then(|c| c.get(t)).map_or(0, |c| c.fetch_add(1, Ordering::Relaxed));
        for i in crate::pool::rotation(tier.len(), start) {
            let name = &tier[i];
            let Some(provider) = r.snap.provider(name) else {
                continue;
            };
            let plan = match Plan::new(&provider.cfg, r.req, now_ms) {
                Ok(p) => p,
                Err(skip) => {
                    attempts.push(AttemptRecord::skip(provider, skip.outcome, skip.detail));
                    continue;
                }
            };
            if let Some(bench) = provider.state.benched(Instant::now()) {
                let detail = format!("rate-limited: benched after HTTP {}", bench.status);
                attempts.push(AttemptRecord::skip(provider, Outcome::Unavailable, detail));
                continue;
            }
            let outcome =
                try_provider(r, provider, &plan, now_ms, &mut attempts, &mut last_failed, &mut too_large).await?;
            match outcome {
                ProviderResult::Answer(answer) if answer.missing.is_empty() => return Ok(*answer),
                ProviderResult::Answer(answer) => {
                    let answer = *answer;
                    if best
                        .as_ref()
                        .is_none_or(|b| answer.payload.price_symbols().len() > b.payload.price_symbols().len())
                    {
                        best = Some(answer);
                    }
                    last_failed = Some(name.clone());
                }
                ProviderResult::Failed => last_failed = Some(name.clone()),
                ProviderResult::Skipped => {}
            }
        }
    }
    if let Some(mut answer) = best {
        answer.attempts = attempts;
        return Ok(answer);
    }
    Err(give_up(attempts, too_large))
}

enum ProviderResult {
    Answer(Box<Answer>),
    Failed,
    Skipped,
}

async fn try_provider(
    r: &Request<'_>,
    provider: &ProviderRt,
    plan: &Plan,
    now_ms: i64,
    attempts: &mut Vec<AttemptRecord>,
    last_failed: &mut Option<String>,
    too_large: &mut usize,
) -> Result<ProviderResult, ProxyError> {
    let name = &provider.cfg.name;
    let weight = provider.cfg.ops.get(&r.req.op).map_or(1, |m| m.weight) * plan.requests.len() as u32;
    let cx = AttemptCtx { snap: r.snap, provider, plan, req: r.req, metrics: &r.state.metrics, now_ms };
    let mut cursor = HostCursor::new(provider);
    let mut tried = false;
    loop {
        let remaining = r.deadline.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            let msg =
                format!("deadline passed after {} attempts", attempts.iter().filter(|a| a.host.is_some()).count());
            return Err(ProxyError::with_attempts(ErrorKind::DeadlineExceeded, msg, std::mem::take(attempts)));
        }
        if !HostCursor::any_admitting(provider) && !tried {
            attempts.push(AttemptRecord::skip(provider, Outcome::Unavailable, "every host's breaker is open"));
            return Ok(ProviderResult::Skipped);
        }
        let Some(admitted) = cursor.next_admitted(&r.state.metrics) else {
            return Ok(if tried { ProviderResult::Failed } else { ProviderResult::Skipped });
        };
        if !quota::take(provider, weight, &r.state.metrics) {
            attempts.push(AttemptRecord::skip(provider, Outcome::OverQuota, "request budget spent for this window"));
            drop(admitted);
            return Ok(if tried { ProviderResult::Failed } else { ProviderResult::Skipped });
        }
        if let Some(from) = last_failed.take().filter(|f| f != name) {
            r.state.metrics.failovers.with_label_values(&[r.route_label, &from, name]).inc();
            if let Some(p) = r.snap.provider(&from) {
                p.state.failovers_from.fetch_add(1, Ordering::Relaxed);
            }
        }
        tried = true;
        let host = admitted.host;
        let timeout = provider.cfg.attempt_timeout.min(remaining);
        match attempt::run(&cx, host, timeout).await.and_then(|payload| cover(payload, r.req, name)) {
            Ok((payload, missing)) => {
                let detail = (!missing.is_empty()).then(|| format!("missing {}", missing.join(",")));
                attempts.push(admitted.finish(Outcome::Ok, Report { detail, ..Report::default() }));
                return Ok(ProviderResult::Answer(Box::new(Answer {
                    payload,
                    provider: name.clone(),
                    host: host.url.label().to_owned(),
                    attempts: std::mem::take(attempts),
                    missing,
                })));
            }
            Err(f) => {
                *too_large += usize::from(f.too_large);
                let next_host = f.outcome.try_next_host();
                attempts.push(admitted.finish(f.outcome, report(f)));
                if !next_host {
                    return Ok(ProviderResult::Failed);
                }
            }
        }
    }
}

fn report(f: Failure) -> Report {
    Report { detail: Some(f.detail), retry_after: f.retry_after, status: f.status }
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
        return Err(Failure::bad_body(format!("{provider} price: the answer has none of the asked symbols")));
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
