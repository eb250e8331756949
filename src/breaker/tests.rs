use std::time::Duration;

use tokio::time::Instant;

use super::*;

fn policy() -> BreakerPolicy {
    BreakerPolicy { consecutive_failures: 3, open_for: Duration::from_secs(30), max_open_for: Duration::from_secs(100) }
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

#[test]
fn closed_admits_and_success_resets_the_count() {
    let t0 = Instant::now();
    let mut b = Breaker::new(policy());
    assert_eq!(b.allow(t0), (Admit::Yes, None));
    assert_eq!(b.record(Effect::Failure, t0), None);
    assert_eq!(b.record(Effect::Failure, t0), None);
    assert_eq!(b.record(Effect::Success, t0), None);
    assert_eq!(b.state(), BreakerState::Closed { failures: 0 });
    assert_eq!(b.record(Effect::Failure, t0), None);
    assert_eq!(b.failures(), 1);
}

#[test]
fn opens_after_the_threshold_and_refuses_until_the_period_ends() {
    let t0 = Instant::now();
    let mut b = Breaker::new(policy());
    b.record(Effect::Failure, t0);
    b.record(Effect::Failure, t0);
    assert_eq!(b.record(Effect::Failure, t0), Some(Transition::Opened { open_for: secs(30) }));
    assert_eq!(b.allow(t0 + secs(29)), (Admit::No { retry_at: t0 + secs(30) }, None));
    assert!(!b.would_admit(t0 + secs(29)));
    assert!(b.would_admit(t0 + secs(30)));
    assert_eq!(b.opened_at(), Some(t0));
}

#[test]
fn neutral_outcomes_do_not_count() {
    let t0 = Instant::now();
    let mut b = Breaker::new(policy());
    for _ in 0..10 {
        b.record(Effect::Neutral, t0);
    }
    assert_eq!(b.state(), BreakerState::Closed { failures: 0 });
}

#[test]
fn half_open_lets_exactly_one_trial_through() {
    let t0 = Instant::now();
    let mut b = Breaker::new(BreakerPolicy { consecutive_failures: 1, ..policy() });
    b.record(Effect::Failure, t0);
    let t1 = t0 + secs(30);
    assert_eq!(b.allow(t1), (Admit::Trial, Some(Transition::HalfOpened)));
    assert!(matches!(b.allow(t1), (Admit::No { .. }, None)));
    assert!(matches!(b.allow(t1 + secs(1)), (Admit::No { .. }, None)));
    assert_eq!(b.record(Effect::Success, t1 + secs(1)), Some(Transition::Closed));
    assert_eq!(b.allow(t1 + secs(1)), (Admit::Yes, None));
}

#[test]
fn failed_trial_reopens_with_a_doubled_period_up_to_the_maximum() {
    let t0 = Instant::now();
    let mut b = Breaker::new(BreakerPolicy { consecutive_failures: 1, ..policy() });
    assert_eq!(b.record(Effect::Failure, t0), Some(Transition::Opened { open_for: secs(30) }));
    let mut now = t0;
    for expected in [60, 100, 100] {
        now += secs(200);
        assert_eq!(b.allow(now).0, Admit::Trial);
        assert_eq!(b.record(Effect::Failure, now), Some(Transition::Opened { open_for: secs(expected) }));
    }
    now += secs(200);
    b.allow(now);
    assert_eq!(b.record(Effect::Success, now), Some(Transition::Closed));
    b.record(Effect::Failure, now);
    assert_eq!(b.state(), BreakerState::Open { until: now + secs(30) }, "closing resets the doubling");
}

#[test]
fn a_cancelled_trial_frees_the_slot() {
    let t0 = Instant::now();
    let mut b = Breaker::new(BreakerPolicy { consecutive_failures: 1, ..policy() });
    b.record(Effect::Failure, t0);
    let t1 = t0 + secs(30);
    assert_eq!(b.allow(t1).0, Admit::Trial);
    b.record(Effect::Neutral, t1);
    assert_eq!(b.allow(t1).0, Admit::Trial, "neutral report releases the slot");
    // A trial that never reports at all is given up after open_for.
    assert!(matches!(b.allow(t1 + secs(29)).0, Admit::No { .. }));
    assert_eq!(b.allow(t1 + secs(30)).0, Admit::Trial);
}

#[test]
fn late_reports_while_open_change_nothing() {
    let t0 = Instant::now();
    let mut b = Breaker::new(BreakerPolicy { consecutive_failures: 1, ..policy() });
    b.record(Effect::Failure, t0);
    assert_eq!(b.record(Effect::Success, t0), None);
    assert_eq!(b.record(Effect::Failure, t0), None);
    assert_eq!(b.state(), BreakerState::Open { until: t0 + secs(30) });
}

#[test]
fn late_results_of_earlier_requests_do_not_decide_a_half_open_breaker() {
    let t0 = Instant::now();
    let mut b = Breaker::new(BreakerPolicy { consecutive_failures: 1, ..policy() });
    let (early, _) = b.allow(t0);
    assert_eq!(early, Admit::Yes);
    b.record_admitted(Admit::Yes, Effect::Failure, t0);
    let t1 = t0 + secs(30);
    assert_eq!(b.allow(t1).0, Admit::Trial);
    for effect in [Effect::Success, Effect::Failure, Effect::Neutral] {
        assert_eq!(b.record_admitted(early, effect, t1), None);
        assert_eq!(
            b.state(),
            BreakerState::HalfOpen { trial_since: Some(t1) },
            "{effect:?} of a pre-open request changes nothing"
        );
    }
    assert_eq!(b.record_admitted(Admit::Trial, Effect::Success, t1), Some(Transition::Closed));
}

#[test]
fn probes_can_force_open_and_close() {
    let t0 = Instant::now();
    let mut b = Breaker::new(policy());
    assert_eq!(b.force_open(t0), Some(Transition::Opened { open_for: secs(30) }));
    assert_eq!(b.force_open(t0), None);
    assert_eq!(b.force_close(), Some(Transition::Closed));
    assert_eq!(b.force_close(), None);
}
