//! The rules, table by table, on the paused clock.

use std::time::Duration;

use tokio::time::Instant;

use super::*;
use crate::body::ClientFault;

fn metrics() -> Metrics {
    Metrics::new().expect("metrics")
}

fn record(outcome: Outcome, host: bool, unlisted: bool) -> AttemptRecord {
    AttemptRecord { provider: "p".into(), host: host.then(|| "h".into()), outcome, ms: 0, detail: None, unlisted }
}

const ASKED: Asked<'static> = Asked { symbols: &[], vs: "USD", whole_pool: true };

#[tokio::test(start_paused = true)]
async fn the_first_attempt_is_free_and_every_later_one_is_a_retry() {
    let (budget, m) = (RetryBudget::new(), metrics());
    // No retries at all: ratio 0, no floor.
    let none = BudgetPolicy { ratio: 0.0, min_per_second: 0.0, window: Duration::from_secs(10) };
    let now = Instant::now();
    let mut p = Policy::new(&budget, &none, &m, "/v1/price", now + Duration::from_secs(5));
    let mut attempts = Vec::new();
    assert_eq!(p.admit("a", now, &mut attempts), Ok(()), "the first attempt needs no budget");
    assert_eq!(p.admit("b", now, &mut attempts), Err(Stop::Budget), "a second one is a retry");
    assert_eq!(attempts.len(), 1, "the refusal is in the attempt list");
    assert!(attempts[0].detail.as_deref().is_some_and(|d| d.contains("retry budget")));
    assert_eq!(p.admit("c", now, &mut attempts), Err(Stop::Budget), "and the request stops trying");
    assert_eq!(attempts.len(), 1, "said once");
    let generous = BudgetPolicy { ratio: 0.0, min_per_second: 100.0, window: Duration::from_secs(10) };
    let mut p = Policy::new(&budget, &generous, &m, "/v1/price", now + Duration::from_secs(5));
    for name in ["a", "b", "c"] {
        assert_eq!(p.admit(name, now, &mut attempts), Ok(()));
    }
    assert_eq!(p.launched(), 3);
}

#[tokio::test(start_paused = true)]
async fn nothing_starts_after_the_deadline_and_the_deadline_is_shared() {
    let (budget, m) = (RetryBudget::new(), metrics());
    let policy = BudgetPolicy::default();
    let now = Instant::now();
    let mut p = Policy::new(&budget, &policy, &m, "/v1/price", now + Duration::from_secs(6));
    assert_eq!(p.timeout(Duration::from_secs(2), 4, now), Duration::from_millis(1500), "6 s over 4 tiers");
    assert_eq!(p.timeout(Duration::from_secs(2), 1, now), Duration::from_secs(2), "the provider's own bound");
    let late = now + Duration::from_millis(5_500);
    assert_eq!(p.timeout(Duration::from_secs(2), 1, late), Duration::from_millis(500), "never past the deadline");
    let mut attempts = Vec::new();
    assert_eq!(p.admit("a", now + Duration::from_secs(6), &mut attempts), Err(Stop::Deadline));
    assert_eq!(p.give_up(ASKED, attempts).kind, ErrorKind::DeadlineExceeded);
}

#[test]
fn host_faults_go_to_the_next_host_everything_else_to_the_next_provider() {
    let (budget, m, policy) = (RetryBudget::new(), metrics(), BudgetPolicy::default());
    let mut p = Policy::new(&budget, &policy, &m, "raw", Instant::now() + Duration::from_secs(5));
    let table = [
        (Outcome::ConnectError, Advance::NextHost),
        (Outcome::Timeout, Advance::NextHost),
        (Outcome::Http5xx, Advance::NextHost),
        (Outcome::Http4xx, Advance::NextProvider),
        (Outcome::BadBody, Advance::NextProvider),
        (Outcome::RateLimited, Advance::NextProvider),
        (Outcome::Blocked, Advance::NextProvider),
        (Outcome::OverQuota, Advance::NextProvider),
    ];
    for (outcome, advance) in table {
        assert_eq!(p.advance(&Failure::new(outcome, "x")), advance, "{outcome}");
    }
    let mut stalled = Failure::new(Outcome::Timeout, "x");
    stalled.client_fault = Some(ClientFault::Stalled);
    assert_eq!(p.advance(&stalled), Advance::NextProvider, "the client's body is not the host's fault");
}

#[test]
fn the_final_error_follows_what_the_attempts_say() {
    let body = |n| {
        let mut f = Failure::new(Outcome::BadBody, "big");
        f.too_large = n;
        f
    };
    let (budget, m, policy) = (RetryBudget::new(), metrics(), BudgetPolicy::default());
    let p = Policy::new(&budget, &policy, &m, "/v1/price", Instant::now() + Duration::from_secs(5));
    let kind = |attempts: Vec<AttemptRecord>| p.give_up(ASKED, attempts).kind;
    assert_eq!(kind(vec![record(Outcome::Http5xx, true, false)]), ErrorKind::AllProvidersFailed);
    let skipped = p.give_up(ASKED, vec![record(Outcome::Unavailable, false, false)]);
    assert_eq!((skipped.kind, skipped.retry_after), (ErrorKind::NoProviderAvailable, Some(1)));
    let unlisted = vec![record(Outcome::Http4xx, true, true), record(Outcome::Unsupported, false, false)];
    assert_eq!(kind(unlisted.clone()), ErrorKind::UnknownSymbol, "every provider asked said so");
    let pick = Asked { whole_pool: false, ..ASKED };
    assert_eq!(p.give_up(pick, unlisted).kind, ErrorKind::AllProvidersFailed, "a pick of the pool proves nothing");
    let mixed = vec![record(Outcome::Http4xx, true, true), record(Outcome::Timeout, true, false)];
    assert_eq!(kind(mixed), ErrorKind::AllProvidersFailed, "one that timed out might list it");
    let mut p = Policy::new(&budget, &policy, &m, "/v1/price", Instant::now() + Duration::from_secs(5));
    p.advance(&body(true));
    assert_eq!(p.give_up(ASKED, vec![record(Outcome::BadBody, true, false)]).kind, ErrorKind::UpstreamBodyTooLarge);
}
