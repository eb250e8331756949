use std::time::Duration;

use tokio::time::Instant;

use super::*;
use crate::breaker::Outcome;
use crate::snapshot::testing::{price_provider, snapshot};
use crate::snapshot::{PoolRt, Snapshot};

/// Providers `a` (hosts a1..a3) and `b`, `c` in tier 2, `d` in tier 3.
fn config(a_extra: &str) -> String {
    format!(
        "[assets]\nBTC = {{ name = \"Bitcoin\" }}\n{}{}{}{}[routes]\n\"/v1/price\" = {{ op = \"price\", pool = [[\"a\"], [\"b\", \"c\"], [\"d\"]] }}\n",
        price_provider("a", &["http://a1", "http://a2", "http://a3"], a_extra),
        price_provider("b", &["http://b1"], ""),
        price_provider("c", &["http://c1"], ""),
        price_provider("d", &["http://d1"], ""),
    )
}

fn pool(snap: &Snapshot) -> &PoolRt {
    snap.routes[0].normalized().expect("normalized").1
}

/// Walks every candidate with `advance`, finishing each admitted host with `outcome`;
/// returns the hosts in order and the skips.
fn walk(snap: &Snapshot, metrics: &Metrics, advance: Advance, outcome: Outcome) -> (Vec<String>, Vec<String>) {
    let mut c: Candidates<'_, ()> = Candidates::new(TierOrder::pool(snap, pool(snap)), metrics);
    let mut planner = |_: &ProviderRt| -> Planned<()> { Ok(((), 1)) };
    let mut skips = Vec::new();
    let mut hosts = Vec::new();
    while let Some(cand) = c.next(advance, &mut planner, &mut skips) {
        hosts.push(cand.admitted.host.url.label().to_owned());
        cand.admitted.finish(outcome, Default::default());
    }
    (hosts, skips.into_iter().map(|s| format!("{}:{}", s.provider, s.outcome)).collect())
}

#[tokio::test]
async fn tiers_in_order_and_hosts_bounded_per_request() {
    let (snap, metrics) = snapshot(&config("max_hosts_per_request = 2"));
    let (hosts, skips) = walk(&snap, &metrics, Advance::NextHost, Outcome::Cancelled);
    assert_eq!(hosts.len(), 5, "two of a's three hosts, then b, c, d: {hosts:?}");
    assert!(hosts[0].starts_with('a') && hosts[1].starts_with('a') && hosts[0] != hosts[1]);
    let tier2: Vec<&str> = hosts[2..4].iter().map(String::as_str).collect();
    assert!(tier2.contains(&"b1") && tier2.contains(&"c1"));
    assert_eq!(hosts[4], "d1");
    assert!(skips.is_empty());
    let (next, _) = walk(&snap, &metrics, Advance::NextProvider, Outcome::Cancelled);
    assert_eq!(next.len(), 4, "one host per provider when moving on after each: {next:?}");
    assert_ne!(next[0], hosts[0], "the host rotation moved on between requests");
    assert_ne!(next[1], hosts[2], "the tier's round-robin moved on between requests");
}

#[tokio::test]
async fn a_bench_stops_every_later_candidate_of_the_provider() {
    let (snap, metrics) = snapshot(&config(""));
    let mut c: Candidates<'_, ()> = Candidates::new(TierOrder::pool(&snap, pool(&snap)), &metrics);
    let mut planner = |_: &ProviderRt| -> Planned<()> { Ok(((), 1)) };
    let mut skips = Vec::new();
    let first = c.next(Advance::NextProvider, &mut planner, &mut skips).expect("a host of a");
    assert_eq!(first.provider.cfg.name, "a");
    let report = crate::candidates::admitted::Report {
        retry_after: Some(Duration::from_secs(120)),
        status: Some(429),
        ..Default::default()
    };
    first.admitted.finish(Outcome::RateLimited, report);
    let next = c.next(Advance::NextHost, &mut planner, &mut skips).expect("another provider");
    assert_ne!(next.provider.cfg.name, "a", "no second host of a benched provider");
    drop(next);
    let (hosts, skips) = walk(&snap, &metrics, Advance::NextHost, Outcome::Cancelled);
    assert!(hosts.iter().all(|h| !h.starts_with('a')), "{hosts:?}");
    assert!(skips.contains(&"a:unavailable".to_owned()), "{skips:?}");
}

#[tokio::test]
async fn open_breakers_disabled_unsupported_and_spent_budgets_are_skipped() {
    let text = config("enabled = false")
        .replace("[providers.b]\nhosts", "[providers.b]\nquota = { limit = 1, per = \"1h\" }\nhosts");
    let (snap, metrics) = snapshot(&text);
    let c1 = snap.provider("c").expect("c");
    for _ in 0..3 {
        let mut b = c1.hosts[0].state.breaker();
        b.record(crate::breaker::Effect::Failure, Instant::now());
    }
    let b = snap.provider("b").expect("b");
    assert!(crate::upstream::quota::take(b, 1, &metrics).is_ok(), "b's only unit of budget");
    let mut c: Candidates<'_, ()> = Candidates::new(TierOrder::pool(&snap, pool(&snap)), &metrics);
    let mut planner = |p: &ProviderRt| -> Planned<()> {
        if p.cfg.name == "d" { Err(Skip::new(Outcome::Unsupported, "no id")) } else { Ok(((), 1)) }
    };
    let mut skips = Vec::new();
    assert!(c.next(Advance::NextProvider, &mut planner, &mut skips).is_none());
    let got: Vec<(String, Outcome)> = skips.iter().map(|s| (s.provider.clone(), s.outcome)).collect();
    let expected =
        [("a", Outcome::Disabled), ("b", Outcome::OverQuota), ("c", Outcome::Unavailable), ("d", Outcome::Unsupported)];
    for (name, outcome) in expected {
        assert!(got.contains(&(name.to_owned(), outcome)), "{name} {outcome}: {got:?}");
    }
}
