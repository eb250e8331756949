//! The failover loop on tokio's paused clock, with scripted attempts (no sockets).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::*;
use crate::budget::RetryBudget;
use crate::candidates::admitted::Report;
use crate::error::ErrorKind;
use crate::normalize::op::Operation;
use crate::normalize::params::OpRequest;
use crate::normalize::schema::{Payload, Price, Ts};
use crate::snapshot::testing::{price_provider, snapshot};
use crate::upstream::classify::Failure;

/// What a scripted host does.
#[derive(Clone, Copy)]
enum Act {
    /// Answers BTC after this long.
    Answer(Duration),
    /// Never answers (the attempt times out).
    Hang,
    /// Fails with this outcome after this long.
    Fail(Outcome, Duration),
}

struct Script {
    acts: HashMap<String, Act>,
    log: Mutex<Vec<(String, Duration)>>,
    t0: Instant,
}

fn config(route: &str, a_hosts: &[&str], extra: &str) -> String {
    format!(
        "[server]\ndeadline = \"5s\"\n[defaults]\nattempt_timeout = \"2s\"\n{extra}\n[assets]\nBTC = {{ name = \"Bitcoin\" }}\n{}{}{}[routes]\n\"/v1/price\" = {{ op = \"price\", pool = [[\"a\"], [\"b\"], [\"c\"]] {route} }}\n",
        price_provider("a", a_hosts, ""),
        price_provider("b", &["http://b1"], ""),
        price_provider("c", &["http://c1"], ""),
    )
}

type Outcome3 = (Result<Answer, ProxyError>, Vec<(String, Duration)>, Duration);

/// Runs one request; returns the answer (or error), the hosts started with their start
/// times, and the time it took.
async fn run_one(
    snap: &crate::snapshot::Snapshot,
    metrics: &Metrics,
    budget: &RetryBudget,
    acts: &[(&str, Act)],
) -> Outcome3 {
    let script = Arc::new(Script {
        acts: acts.iter().map(|(h, a)| ((*h).to_owned(), *a)).collect(),
        log: Mutex::new(Vec::new()),
        t0: Instant::now(),
    });
    let (route, pool) = snap.routes[0].normalized().expect("normalized");
    let req =
        OpRequest::parse(route.op, Some("symbols=BTC"), &Default::default(), &Default::default(), 32).expect("request");
    let r = Request {
        snap,
        metrics,
        budget,
        route_label: "/v1/price",
        route,
        pool,
        req: &req,
        deadline: Instant::now() + snap.config.server.deadline,
        forwarded: false,
        now_ms: 1_700_000_000_000,
    };
    let s = Arc::clone(&script);
    let start = move |c, timeout| scripted(Arc::clone(&s), c, timeout);
    let t0 = Instant::now();
    let result = run(&r, start).await;
    let log = script.log.lock().expect("log").clone();
    (result, log, t0.elapsed())
}

async fn scripted(s: Arc<Script>, c: Candidate<'_, Plan>, timeout: Duration) -> Finished<'_> {
    let label = c.admitted.host.url.label().to_owned();
    s.log.lock().expect("log").push((label.clone(), s.t0.elapsed()));
    let act = s.acts.get(&label).copied().unwrap_or(Act::Hang);
    let result = match act {
        Act::Answer(d) if d < timeout => {
            tokio::time::sleep(d).await;
            let p = Price { symbol: "BTC".into(), vs: "USD".into(), price: 1.0, ts: Ts(1_700_000_000_000) };
            Ok(super::Checked { payload: Payload::Price(vec![p]), missing: Vec::new(), dropped: Vec::new() })
        }
        Act::Fail(o, d) if d < timeout => {
            tokio::time::sleep(d).await;
            Err(Failure::new(o, "scripted"))
        }
        _ => {
            tokio::time::sleep(timeout).await;
            Err(Failure::new(Outcome::Timeout, "scripted hang"))
        }
    };
    let provider = c.provider;
    let record = match &result {
        Ok(_) => c.admitted.finish(Outcome::Ok, Report::default()),
        Err(f) => c.admitted.finish(f.outcome, crate::upstream::exchange::report(f)),
    };
    Finished { provider, host: label, record, result }
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn host_total(snap: &crate::snapshot::Snapshot, label: &str, outcome: Outcome) -> u64 {
    snap.providers
        .iter()
        .flat_map(|p| p.hosts.iter())
        .find(|h| h.url.label() == label)
        .map_or(0, |h| h.state.stats.total(outcome))
}

#[tokio::test(start_paused = true)]
async fn a_provider_hanging_on_every_host_costs_two_cold_hedge_delays_not_the_deadline() {
    let hosts = ["http://a1", "http://a2", "http://a3", "http://a4", "http://a5", "http://a6", "http://a7"];
    let (snap, metrics) = snapshot(&config("", &hosts, ""));
    let budget = RetryBudget::new();
    let (result, log, took) = run_one(&snap, &metrics, &budget, &[("b1", Act::Answer(ms(20)))]).await;
    let answer = result.expect("answered by tier 2");
    assert_eq!(answer.provider, "b");
    assert_eq!(log.len(), 3, "{log:?}");
    assert!(log[0].0.starts_with('a') && log[1].0.starts_with('a'), "two of a's hosts first: {log:?}");
    assert_eq!((log[1].1, log[2].1), (ms(250), ms(500)), "hedges at the cold delay, then again");
    assert_eq!(took, ms(520));
    assert_eq!(host_total(&snap, &log[0].0, Outcome::Timeout), 1, "hedged over after two delays: a timeout");
    assert_eq!(host_total(&snap, &log[1].0, Outcome::Cancelled), 1, "the younger one is only cancelled");
}

#[tokio::test(start_paused = true)]
async fn without_hedging_the_deadline_is_shared_between_tiers() {
    let text = config(", hedge_after = \"off\"", &["http://a1"], "").replace("\"2s\"", "\"30s\"");
    let (snap, metrics) = snapshot(&text);
    let budget = RetryBudget::new();
    let (result, log, took) =
        run_one(&snap, &metrics, &budget, &[("b1", Act::Hang), ("c1", Act::Answer(ms(10)))]).await;
    assert_eq!(result.expect("tier 3 answers").provider, "c");
    let starts: Vec<Duration> = log.iter().map(|(_, t)| *t).collect();
    // 5 s over three tiers: a gets a third, b half of what is left, c the rest.
    let third = Duration::from_secs(5) / 3;
    let half_left = (Duration::from_secs(5) - third) / 2;
    let expected = [ms(0), third, third + half_left];
    let close = |a: Duration, b: Duration| a.abs_diff(b) <= ms(2);
    assert!(starts.len() == 3 && starts.iter().zip(expected).all(|(a, b)| close(*a, b)), "{log:?}");
    assert!(took < snap.config.server.deadline, "{took:?}");
}

#[tokio::test(start_paused = true)]
async fn host_faults_try_another_host_then_the_next_provider() {
    let (snap, metrics) = snapshot(&config(", hedge_after = \"off\"", &["http://a1", "http://a2", "http://a3"], ""));
    let budget = RetryBudget::new();
    let refused = Act::Fail(Outcome::ConnectError, ms(1));
    let acts = [("a1", refused), ("a2", refused), ("a3", refused), ("b1", Act::Answer(ms(5)))];
    let (result, log, _) = run_one(&snap, &metrics, &budget, &acts).await;
    assert_eq!(result.expect("b answers").provider, "b");
    assert_eq!(log.len(), 3, "two hosts of a (max_hosts_per_request = 2), then b: {log:?}");
    let bad = Act::Fail(Outcome::BadBody, ms(1));
    let acts = [("a1", bad), ("a2", bad), ("a3", bad), ("b1", Act::Answer(ms(5)))];
    let (result, log, _) = run_one(&snap, &metrics, &budget, &acts).await;
    assert_eq!(result.expect("b answers").provider, "b");
    assert_eq!(log.len(), 2, "a bad body is not a host fault: straight to b: {log:?}");
}

#[tokio::test(start_paused = true)]
async fn a_spent_retry_budget_stops_failover() {
    let extra = "retry_budget = { ratio = 0.0, min_per_second = 0.1, window = \"10s\" }";
    let (snap, metrics) = snapshot(&config(", hedge_after = \"off\"", &["http://a1"], extra));
    let budget = RetryBudget::new();
    let fail = Act::Fail(Outcome::Http5xx, ms(1));
    let acts = [("a1", fail), ("b1", fail), ("c1", fail)];
    let (result, log, _) = run_one(&snap, &metrics, &budget, &acts).await;
    assert_eq!(log.len(), 2, "one retry token (0.1/s over 10 s): {log:?}");
    let err = result.expect_err("all failed");
    assert_eq!(err.kind, ErrorKind::AllProvidersFailed);
    assert!(err.attempts.iter().any(|a| a.detail.as_deref().is_some_and(|d| d.contains("retry budget"))));
}

#[tokio::test(start_paused = true)]
async fn a_rate_limit_mid_request_benches_the_provider_for_its_hedges() {
    let (snap, metrics) = snapshot(&config(", hedge_after = \"100ms\"", &["http://a1", "http://a2", "http://a3"], ""));
    let budget = RetryBudget::new();
    let acts = [("a1", Act::Fail(Outcome::RateLimited, ms(50))), ("b1", Act::Answer(ms(400)))];
    let (result, log, _) = run_one(&snap, &metrics, &budget, &acts).await;
    assert_eq!(result.expect("b").provider, "b");
    assert!(snap.provider("a").is_some_and(|p| p.state.benched(Instant::now()).is_some()));
    let to_a: Vec<&(String, Duration)> = log.iter().filter(|(h, _)| h.starts_with('a')).collect();
    assert_eq!(to_a.len(), 1, "nothing more goes to a once it is benched: {log:?}");
}

fn record(provider: &str, outcome: Outcome, reached: bool, unlisted: bool) -> AttemptRecord {
    AttemptRecord {
        host: reached.then(|| format!("{provider}1")),
        unlisted,
        ..AttemptRecord::skipped(provider, outcome, "x")
    }
}

#[test]
fn a_pair_every_provider_says_it_does_not_list_is_the_clients_400() {
    let req =
        OpRequest::parse(Operation::Ticker, Some("symbol=BTC&vs=QQQ"), &Default::default(), &Default::default(), 32)
            .expect("request");
    let unlisted = |p| record(p, Outcome::Http4xx, true, true);
    let said_so = vec![unlisted("a"), record("b", Outcome::Unsupported, false, false), unlisted("c")];
    let e = crate::policy::give_up(asked(&req, true), said_so.clone(), 0, false);
    assert_eq!(e.kind, ErrorKind::UnknownSymbol, "{}", e.message);
    assert!(e.message.contains("BTC/QQQ"), "{}", e.message);
    assert_eq!(e.attempts.len(), 3, "the providers' own words stay in the answer");
    let picked = crate::policy::give_up(asked(&req, false), said_so, 0, false);
    assert_eq!(picked.kind, ErrorKind::AllProvidersFailed, "consensus asks a pick of the pool: others may list it");
    let disabled = vec![unlisted("a"), record("fallback", Outcome::Disabled, false, false)];
    assert_eq!(crate::policy::give_up(asked(&req, true), disabled, 0, false).kind, ErrorKind::UnknownSymbol);

    // Anyone who might list it (failed, timed out, not tried, a plain 4xx) keeps it 502/503.
    for other in [
        record("b", Outcome::Timeout, true, false),
        record("b", Outcome::Http5xx, true, false),
        record("b", Outcome::Http4xx, true, false),
        record("b", Outcome::Unavailable, false, false),
        record("b", Outcome::OverQuota, false, false),
    ] {
        let e = crate::policy::give_up(asked(&req, true), vec![unlisted("a"), other.clone()], 0, false);
        assert_ne!(e.kind, ErrorKind::UnknownSymbol, "{other:?}");
    }
    let nobody_said_so = vec![record("a", Outcome::Unsupported, false, false)];
    assert_eq!(
        crate::policy::give_up(asked(&req, true), nobody_said_so, 0, false).kind,
        ErrorKind::NoProviderAvailable
    );
}
