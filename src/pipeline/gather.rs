//! Several providers asked at once for one request, each through its own failover
//! run (its hosts, breakers, hedges and quota as usual), and their answers combined.
//!
//! `merge = true` routes (news from several outlets) ask every provider of the first
//! tier together and merge what comes back; the next tier is asked, the same way,
//! when none of them answers, or beside them when none has answered by the tier's
//! hedge delay. Each tier gets its share of the deadline, and once the first provider
//! of a tier has answered, the others have as long again (at least [`GRACE`]) to join:
//! one hanging outlet never holds the merged answer for long. Coin lists, cached for
//! hours, wait for every provider within the deadline instead.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use serde_json::Value;
use tokio::time::Instant;

use super::attempt::{self, AttemptCtx};
use super::failover::{self, Answer, Request};

use crate::candidates::admitted::AttemptRecord;
use crate::error::ProxyError;
use crate::normalize::coins::{self, Coin, Known};
use crate::normalize::news;
use crate::normalize::op::Operation;
use crate::normalize::schema::{News, Payload};
use crate::snapshot::PoolRt;

/// The least time late providers get after a tier's first answer.
pub const GRACE: Duration = Duration::from_millis(250);

/// One provider's result within a gathered request.
pub type Gathered = (usize, Result<Answer, ProxyError>);

/// Asks each of `providers` (snapshot indexes) through its own failover run, all at
/// once, until `deadline`; after the first answer (which sets `answered`) the rest get
/// as long again (at least [`GRACE`]). Results come in the order of `providers`; a
/// provider cut off by the grace period is left out (its attempt is recorded as
/// cancelled).
pub async fn ask_all(
    r: &Request<'_>,
    cx: AttemptCtx<'_>,
    providers: &[usize],
    deadline: Instant,
    answered: &AtomicBool,
) -> Vec<Gathered> {
    let pools: Vec<PoolRt> =
        providers.iter().map(|&i| PoolRt { tiers: vec![vec![i]], cursors: vec![AtomicUsize::new(0)] }).collect();
    let requests: Vec<Request<'_>> = pools.iter().map(|pool| Request { pool, deadline, ..r.clone() }).collect();
    let mut runs: FuturesUnordered<_> = requests
        .iter()
        .enumerate()
        .map(|(n, req)| async move { (n, failover::run(req, move |c, t| attempt::run(cx, c, t)).await) })
        .collect();
    let started = Instant::now();
    let mut cutoff: Option<Instant> = None;
    let mut out: Vec<Gathered> = Vec::new();
    loop {
        let next = match cutoff {
            Some(at) => match tokio::time::timeout_at(at, runs.next()).await {
                Ok(next) => next,
                Err(_) => break,
            },
            None => runs.next().await,
        };
        let Some((n, result)) = next else { break };
        // A coin list is cached for hours: every provider's list is waited for (within
        // the deadline), or one slow to map would be missing until the next fetch.
        if result.is_ok() && cutoff.is_none() && r.req.op != Operation::Coins {
            answered.store(true, Ordering::Release);
            let waited = started.elapsed().max(GRACE);
            cutoff = Some((Instant::now() + waited).min(deadline));
        }
        out.push((providers[n], result));
    }
    out.sort_by_key(|(i, _)| providers.iter().position(|p| p == i));
    out
}

/// A `merge = true` request: tier by tier, every provider of the tier at once; the
/// first tier with any answer gives the merged answer. A tier that has not answered
/// by its hedge delay (the slowest member's, as `hedge_after` gives it) gets the next
/// tier started beside it, as a hedge does on other routes, so one hanging feed whose
/// companions failed fast cannot hold the request for its whole share of the deadline.
pub async fn merged(r: &Request<'_>, cx: AttemptCtx<'_>) -> Result<Answer, ProxyError> {
    let tiers = &r.pool.tiers;
    let answered: Vec<AtomicBool> = tiers.iter().map(|_| AtomicBool::new(false)).collect();
    let mut attempts: Vec<AttemptRecord> = Vec::new();
    let mut running = FuturesUnordered::new();
    let mut finished: Vec<Option<Vec<Answer>>> = tiers.iter().map(|_| None).collect();
    let mut next = 0;
    let mut hedge_at = None;
    loop {
        // A tier with an answer on the way needs no hedge.
        if next > 0 && answered[next - 1].load(Ordering::Acquire) {
            hedge_at = None;
        }
        if running.is_empty() || hedge_at.is_some_and(|at| Instant::now() >= at) {
            let now = Instant::now();
            hedge_at = None;
            if next < tiers.len() && now < r.deadline {
                let share = r.deadline.saturating_duration_since(now) / (tiers.len() - next) as u32;
                let (t, tier, flag) = (next, &tiers[next], &answered[next]);
                running.push(Box::pin(async move { (t, ask_all(r, cx, tier, now + share, flag).await) }));
                hedge_at = (next + 1 < tiers.len()).then(|| tier_hedge_delay(r, tier)).flatten().map(|d| now + d);
                next += 1;
            } else if running.is_empty() {
                break;
            }
        }
        tokio::select! {
            Some((t, results)) = running.next() => {
                let mut answers = Vec::new();
                for (_, result) in results {
                    match result {
                        Ok(a) => answers.push(a),
                        Err(e) => attempts.extend(e.attempts),
                    }
                }
                finished[t] = Some(answers);
                // The earliest tier with answers wins, unless an earlier one is still
                // running with an answer on the way.
                let earlier_coming = (0..t).any(|e| finished[e].is_none() && answered[e].load(Ordering::Acquire));
                let first = finished.iter().position(|f| f.as_ref().is_some_and(|a| !a.is_empty()));
                if !earlier_coming && let Some(answers) = first.and_then(|i| finished[i].take()) {
                    return Ok(combine(answers, attempts, r));
                }
            }
            () = failover::sleep_until(hedge_at), if hedge_at.is_some() => {}
        }
    }
    let deadline_hit = Instant::now() >= r.deadline;
    Err(crate::policy::give_up(failover::asked(r.req, true), attempts, 0, deadline_hit))
}

/// How long a tier may go without an answer before the next one starts: the longest
/// hedge delay of its providers (`None`: the route does not hedge).
fn tier_hedge_delay(r: &Request<'_>, tier: &[usize]) -> Option<Duration> {
    tier.iter().filter_map(|&i| r.snap.provider_at(i)).filter_map(|p| failover::hedge_delay(r.route, p)).max()
}

/// The `[assets]` coins with every provider's id for them (by id namespace).
fn known_coins(r: &Request<'_>) -> Vec<Known> {
    let config = &r.snap.config;
    config
        .assets
        .iter()
        .map(|(ticker, name)| {
            let ids = config
                .providers
                .iter()
                .filter_map(|p| p.symbols.ids.get(ticker).map(|id| (p.symbols.namespace.clone(), id.clone())))
                .collect();
            Known { ticker: ticker.clone(), name: name.clone(), ids }
        })
        .collect()
}

/// One answer from several: coin lists merged (see `normalize::coins`), news lists merged (duplicates dropped, newest first, the
/// request's search and limit applied); the providers and hosts listed together.
fn combine(answers: Vec<Answer>, mut attempts: Vec<AttemptRecord>, r: &Request<'_>) -> Answer {
    let provider = answers.iter().map(|a| a.provider.as_str()).collect::<Vec<_>>().join(",");
    let host = answers.iter().map(|a| a.host.as_str()).collect::<Vec<_>>().join(",");
    let mut lists: Vec<Vec<News>> = Vec::new();
    let mut coin_lists: Vec<Vec<Coin>> = Vec::new();
    let mut first = None;
    let (mut dropped, mut named) = (0, Vec::new());
    for a in answers {
        attempts.extend(a.attempts);
        // Each answer's `meta.dropped`, added up; the reasons named by provider.
        if let Some(d) = a.extra.as_deref().and_then(|e| e.get("dropped")) {
            dropped += d["count"].as_u64().map_or(0, |n| n as usize);
            let why = d["items"].as_array().into_iter().flatten().filter_map(Value::as_str);
            named.extend(why.map(|w| format!("{}: {w}", a.provider)));
        }
        match a.payload {
            Payload::News(items) => lists.push(items),
            Payload::Coins(list) => coin_lists.push(list),
            other => {
                first.get_or_insert(other);
            }
        }
    }
    let limit = r.req.limit.map_or(usize::MAX, |l| l as usize);
    let payload = match first {
        Some(p) if lists.is_empty() && coin_lists.is_empty() => p,
        _ if !coin_lists.is_empty() => Payload::Coins(coins::merge(coin_lists, &known_coins(r))),
        _ => Payload::News(news::merge(lists, r.req.q.as_deref(), limit)),
    };
    let extra = failover::dropped_meta(dropped, named);
    Answer { payload, provider, host, attempts, missing: Vec::new(), extra }
}
