//! The retry budget (after Envoy, linkerd and tower's `TpsBudget`): retries and hedges
//! may add at most `ratio` of the recent requests, plus a floor of `min_per_second`, so
//! an outage can never multiply the load marketgate puts on providers.
//!
//! Lock-free: the window is cut into [`BUCKETS`] slots of atomic counters, each stamped
//! with the slot number it counts; a request touches one slot and a retry reads them
//! all. No mutex, no allocation, constant memory however busy the proxy is. Counts are
//! approximate at slot boundaries, which a budget can afford.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::time::Instant;

/// Slots per window.
pub const BUCKETS: usize = 10;

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

/// The budget's counters.
#[derive(Debug)]
pub struct RetryBudget {
    epoch: Instant,
    slots: [Slot; BUCKETS],
}

#[derive(Debug, Default)]
struct Slot {
    /// The slot number (time since epoch / slot width) these counts belong to, plus one
    /// (0 = never used).
    stamp: AtomicU64,
    requests: AtomicU64,
    retries: AtomicU64,
}

// === impl BudgetPolicy ===

impl Default for BudgetPolicy {
    fn default() -> Self {
        Self { ratio: 0.2, min_per_second: 10.0, window: Duration::from_secs(10) }
    }
}

impl BudgetPolicy {
    fn slot_width(&self) -> Duration {
        (self.window / BUCKETS as u32).max(Duration::from_millis(1))
    }
}

// === impl RetryBudget ===

impl Default for RetryBudget {
    fn default() -> Self {
        Self::new()
    }
}

impl RetryBudget {
    /// An empty budget.
    pub fn new() -> Self {
        Self { epoch: Instant::now(), slots: Default::default() }
    }

    /// Records a request's first attempt.
    pub fn record_request(&self, now: Instant, policy: &BudgetPolicy) {
        self.current(now, policy).requests.fetch_add(1, Ordering::Relaxed);
    }

    /// Takes one retry (or hedge) from the budget; `false` means do not retry.
    pub fn try_retry(&self, now: Instant, policy: &BudgetPolicy) -> bool {
        let (current, stamp) = self.stamp(now, policy);
        let oldest = stamp.saturating_sub(BUCKETS as u64 - 1);
        let (mut requests, mut retries) = (0u64, 0u64);
        for slot in &self.slots {
            let s = slot.stamp.load(Ordering::Acquire);
            if s >= oldest.max(1) && s <= stamp {
                requests += slot.requests.load(Ordering::Relaxed);
                retries += slot.retries.load(Ordering::Relaxed);
            }
        }
        let allowed = policy.ratio * requests as f64 + policy.min_per_second * policy.window.as_secs_f64();
        if (retries as f64) < allowed {
            self.slots[current].retries.fetch_add(1, Ordering::Relaxed);
            true
        } else {
            false
        }
    }

    /// The slot for `now`, cleared first when it still holds an older slot's counts.
    fn current(&self, now: Instant, policy: &BudgetPolicy) -> &Slot {
        let (index, _) = self.stamp(now, policy);
        &self.slots[index]
    }

    fn stamp(&self, now: Instant, policy: &BudgetPolicy) -> (usize, u64) {
        let elapsed = now.saturating_duration_since(self.epoch);
        let number = (elapsed.as_nanos() / policy.slot_width().as_nanos().max(1)) as u64;
        let stamp = number + 1;
        let index = (number % BUCKETS as u64) as usize;
        let slot = &self.slots[index];
        let seen = slot.stamp.load(Ordering::Acquire);
        if seen < stamp && slot.stamp.compare_exchange(seen, stamp, Ordering::AcqRel, Ordering::Acquire).is_ok() {
            slot.requests.store(0, Ordering::Relaxed);
            slot.retries.store(0, Ordering::Relaxed);
        }
        (index, stamp)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_are_capped_by_ratio_plus_floor() {
        let policy = BudgetPolicy { ratio: 0.2, min_per_second: 1.0, window: Duration::from_secs(10) };
        let b = RetryBudget::new();
        let t0 = b.epoch;
        for _ in 0..100 {
            b.record_request(t0, &policy);
        }
        let granted = (0..100).filter(|_| b.try_retry(t0, &policy)).count();
        assert_eq!(granted, 30, "20 % of 100 plus 1/s over 10 s");
    }

    #[test]
    fn the_window_slides() {
        let policy = BudgetPolicy { ratio: 0.0, min_per_second: 0.5, window: Duration::from_secs(2) };
        let b = RetryBudget::new();
        let t0 = b.epoch;
        assert!(b.try_retry(t0, &policy));
        assert!(!b.try_retry(t0, &policy));
        assert!(!b.try_retry(t0 + Duration::from_millis(1900), &policy), "still inside the window");
        assert!(b.try_retry(t0 + Duration::from_secs(2), &policy), "old retries age out");
    }

    #[test]
    fn requests_age_out_with_their_slot() {
        let policy = BudgetPolicy { ratio: 1.0, min_per_second: 0.0, window: Duration::from_secs(1) };
        let b = RetryBudget::new();
        let t0 = b.epoch;
        for _ in 0..5 {
            b.record_request(t0, &policy);
        }
        assert!(b.try_retry(t0 + Duration::from_millis(500), &policy));
        assert!(!b.try_retry(t0 + Duration::from_secs(5), &policy), "five seconds later the requests are gone");
    }

    #[test]
    fn counting_from_many_threads_loses_nothing_within_a_slot() {
        let policy = BudgetPolicy { ratio: 1.0, min_per_second: 0.0, window: Duration::from_secs(3600) };
        let b = std::sync::Arc::new(RetryBudget::new());
        let t0 = b.epoch;
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let b = std::sync::Arc::clone(&b);
                std::thread::spawn(move || (0..1000).for_each(|_| b.record_request(t0, &policy)))
            })
            .collect();
        threads.into_iter().for_each(|t| t.join().expect("thread"));
        let granted = (0..5000).filter(|_| b.try_retry(t0, &policy)).count();
        assert_eq!(granted, 4000);
    }
}
