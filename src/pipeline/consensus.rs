//! `/v1/price?consensus=N`: the first N available providers of the route's pool (in
//! tier order, skipping those disabled, benched, over budget, with every breaker open
//! or without an id for any asked symbol) asked at once, each through its own failover
//! run, and their prices combined by [`crate::derive::consensus`].

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use serde_json::{Value, json};

use super::attempt::{self, AttemptCtx};
use super::envelope::MetaExtra;
use super::failover::{self, Answer, Request};
use super::gather;
use crate::candidates::tiers::TierOrder;
use crate::candidates::{Advance, Candidates};
use crate::derive::consensus::{self, Dropped, OUTLIER_PCT, Source};
use crate::error::ProxyError;
use crate::normalize::schema::{Payload, Price, Ts};
use crate::snapshot::ProviderRt;

/// Asks up to `n` providers and answers their consensus.
pub async fn run<'a>(r: &Request<'a>, cx: AttemptCtx<'a>, n: usize) -> Result<Answer, ProxyError> {
    // The candidate order every path walks (tiers, the gate, the plan); a pick is not
    // an attempt, so the admitted host is given back at once.
    let mut candidates = Candidates::new(TierOrder::pool(r.snap, r.pool), r.metrics);
    let mut planner = |p: &'a ProviderRt| failover::plan_for(r, p);
    let mut skipped = Vec::new();
    let mut picked: Vec<usize> = Vec::new();
    while picked.len() < n {
        let Some(c) = candidates.next(Advance::NextProvider, &mut planner, &mut skipped) else { break };
        if !picked.contains(&c.provider.index) {
            picked.push(c.provider.index);
        }
        c.admitted.release();
    }
    if picked.len() < 2 {
        // Not enough providers for a consensus: the usual failover run, said so in meta.
        let mut answer = failover::run(r, move |c, t| attempt::run(cx, c, t)).await?;
        let mut extra = MetaExtra::new();
        let age = crate::config::units::format_duration(r.route.max_quote_age);
        extra
            .insert("consensus".into(), summary(n, 1, true, "fewer than 2 providers available: a single answer", &age));
        answer.extra = Some(Arc::new(extra));
        return Ok(answer);
    }
    let answered = AtomicBool::new(false);
    let results = gather::ask_all(r, cx, &picked, r.deadline, &answered).await;
    let mut attempts = Vec::new();
    let mut answers: Vec<Answer> = Vec::new();
    for (_, result) in results {
        match result {
            Ok(a) => answers.push(a),
            Err(e) => attempts.extend(e.attempts),
        }
    }
    if answers.is_empty() {
        return Err(crate::policy::give_up(failover::asked(r.req, false), attempts, 0, false));
    }
    Ok(combine(r, picked.len(), answers, attempts))
}

fn combine(
    r: &Request<'_>,
    asked: usize,
    answers: Vec<Answer>,
    mut attempts: Vec<crate::candidates::admitted::AttemptRecord>,
) -> Answer {
    let mut sources: Vec<Source> = Vec::new();
    let mut prices: Vec<Price> = Vec::new();
    let mut missing: Vec<String> = Vec::new();
    let mut spread = serde_json::Map::new();
    let mut all_agree = true;
    let (now, max_age) = (Ts(r.now_ms), i64::try_from(r.route.max_quote_age.as_millis()).unwrap_or(i64::MAX));
    let mut stale_only: Vec<&str> = Vec::new();
    for symbol in &r.req.symbols {
        let quotes: Vec<_> = answers
            .iter()
            .filter_map(|a| match &a.payload {
                Payload::Price(items) => {
                    items.iter().find(|p| &p.symbol == symbol).map(|p| (a.provider.clone(), p.price, p.ts))
                }
                _ => None,
            })
            .collect();
        let first = sources.len();
        let agreed = consensus::agree(symbol, &quotes, &mut sources, now, max_age);
        for s in &mut sources[first..] {
            s.id = r.snap.provider(&s.provider).and_then(|p| p.cfg.symbols.id_for(symbol, &r.req.vs));
        }
        match agreed {
            Some(agreed) => {
                all_agree &= agreed.agree;
                if agreed.stale_only {
                    stale_only.push(symbol);
                }
                spread.insert(symbol.clone(), json!(round(agreed.spread_pct)));
                prices.push(Price { symbol: symbol.clone(), vs: r.req.vs.clone(), price: agreed.price, ts: agreed.ts });
            }
            None => missing.push(symbol.clone()),
        }
    }
    let provider = answers.iter().map(|a| a.provider.as_str()).collect::<Vec<_>>().join(",");
    let host = answers.iter().map(|a| a.host.as_str()).collect::<Vec<_>>().join(",");
    for a in answers.iter() {
        attempts.extend(a.attempts.iter().cloned());
    }
    let age = crate::config::units::format_duration(r.route.max_quote_age);
    let stale = sources.iter().filter(|s| s.dropped == Some(Dropped::Stale)).count();
    let mut notes: Vec<String> = Vec::new();
    if !stale_only.is_empty() {
        notes.push(format!("no quote of {} is younger than {age}: the freshest is served", stale_only.join(",")));
    } else if stale > 0 {
        notes.push(format!("{stale} quote(s) older than {age} did not vote (see sources)"));
    }
    notes.push(
        match answers.len() {
            1 => "only 1 provider answered: no consensus",
            _ if !all_agree => "the quotes that voted disagree: fewer than 2 are near their median (see sources)",
            _ => "",
        }
        .to_owned(),
    );
    notes.retain(|n| !n.is_empty());
    let mut extra = MetaExtra::new();
    extra.insert("consensus".into(), summary(asked, answers.len(), all_agree, &notes.join("; "), &age));
    extra.insert("sources".into(), serde_json::to_value(&sources).unwrap_or(Value::Null));
    extra.insert("spread_pct".into(), Value::Object(spread));
    Answer { payload: Payload::Price(prices), provider, host, attempts, missing, extra: Some(Arc::new(extra)) }
}

fn summary(asked: usize, answered: usize, agree: bool, note: &str, max_age: &str) -> Value {
    let rule = format!(
        "quotes older than {max_age} do not vote; median of the rest; with 3 or more, one more than {OUTLIER_PCT}% from their median is dropped"
    );
    let mut v = json!({ "asked": asked, "answered": answered, "agree": agree, "rule": rule });
    if !note.is_empty() {
        v["note"] = json!(note);
    }
    v
}

/// Four decimals are plenty for a spread in percent.
fn round(x: f64) -> f64 {
    (x * 10_000.0).round() / 10_000.0
}
