//! The retry budget (after Envoy and linkerd): retries and hedges may add at most
//! `ratio` of the recent requests, plus a floor of `min_per_second`, so an outage can
//! never multiply the load marketgate puts on providers. Pure; `now` passed in.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

use crate::state::lock;

/// Budget settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BudgetPolicy {
    /// Extra attempts allowed per first attempt (0.2 = 20 %).
    pub ratio: f64,
    /// Extra attempts always allowed per second of the window.
    pub min_per_second: f64,
    /// How far back requests and retries are counted.
    pub window: Duration,
}

/// The budget's state: timestamps of recent first attempts and of recent retries.
#[derive(Debug)]
pub struct RetryBudget {
    policy: Mutex<BudgetPolicy>,
    events: Mutex<Events>,
}

#[derive(Debug, Default)]
struct Events {
    requests: VecDeque<Instant>,
    retries: VecDeque<Instant>,
}

// === impl BudgetPolicy ===

impl Default for BudgetPolicy {
    fn default() -> Self {
        Self { ratio: 0.2, min_per_second: 10.0, window: Duration::from_secs(10) }
    }
}

// === impl RetryBudget ===

impl RetryBudget {
    /// A budget with `policy`.
    pub fn new(policy: BudgetPolicy) -> Self {
        Self { policy: Mutex::new(policy), events: Mutex::new(Events::default()) }
    }

    /// Applies a new policy (reload), keeping the counts.
    pub fn set_policy(&self, policy: BudgetPolicy) {
        *lock(&self.policy) = policy;
    }

    /// Records a request's first attempt.
    pub fn record_request(&self, now: Instant) {
        let window = lock(&self.policy).window;
        let mut e = lock(&self.events);
        trim(&mut e, now, window);
        e.requests.push_back(now);
        if e.requests.len() > 1_000_000 {
            e.requests.pop_front();
        }
    }

    /// Takes one retry (or hedge) from the budget; `false` means do not retry.
    pub fn try_retry(&self, now: Instant) -> bool {
        let policy = *lock(&self.policy);
        let mut e = lock(&self.events);
        trim(&mut e, now, policy.window);
        let allowed = policy.ratio * e.requests.len() as f64 + policy.min_per_second * policy.window.as_secs_f64();
        if (e.retries.len() as f64) < allowed {
            e.retries.push_back(now);
            true
        } else {
            false
        }
    }
}

fn trim(e: &mut Events, now: Instant, window: Duration) {
    let Some(since) = now.checked_sub(window) else { return };
    while e.requests.front().is_some_and(|t| *t <= since) {
        e.requests.pop_front();
    }
    while e.retries.front().is_some_and(|t| *t <= since) {
        e.retries.pop_front();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_are_capped_by_ratio_plus_floor() {
        let b = RetryBudget::new(BudgetPolicy { ratio: 0.2, min_per_second: 1.0, window: Duration::from_secs(10) });
        let t0 = Instant::now();
        for _ in 0..100 {
            b.record_request(t0);
        }
        let granted = (0..100).filter(|_| b.try_retry(t0)).count();
        assert_eq!(granted, 30, "20 % of 100 plus 1/s over 10 s");
    }

    #[test]
    fn the_window_slides() {
        let b = RetryBudget::new(BudgetPolicy { ratio: 0.0, min_per_second: 0.5, window: Duration::from_secs(2) });
        let t0 = Instant::now();
        assert!(b.try_retry(t0));
        assert!(!b.try_retry(t0));
        assert!(b.try_retry(t0 + Duration::from_secs(2)), "old retries age out");
    }
}
