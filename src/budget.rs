//! The retry budget (after Envoy, linkerd and tower's `TpsBudget`): retries and hedges
//! may add at most `ratio` of the recent requests, plus a floor of `min_per_second`, so
//! an outage can never multiply the load marketgate puts on providers.
//!
//! Lock-free: the window is cut into [`BUCKETS`] slots; each slot holds two atomic
//! words, one for requests and one for retries, and each word packs the slot number it
//! counts for (high bits) with the count (low bits). Moving a slot on to a new number
//! and counting into it is one compare-and-swap, so a count can never be wiped by a
//! late reset. No mutex, no allocation, constant memory however busy the proxy is. A
//! retry's check-then-take may let a few concurrent retries through together, which a
//! budget can afford.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::time::Instant;

/// Slots per window.
pub const BUCKETS: usize = 10;

/// Low bits of a slot word that hold the count (16.7 M per slot; counts saturate).
const COUNT_BITS: u32 = 24;
const COUNT_MAX: u64 = (1 << COUNT_BITS) - 1;

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
    requests: Counter,
    retries: Counter,
}

/// One packed word: `stamp << COUNT_BITS | count`, where the stamp is the slot number
/// (time since epoch / slot width) plus one, so 0 means never used. 40 bits of stamp
/// last 34 years at the narrowest (1 ms) slot.
#[derive(Debug, Default)]
struct Counter(AtomicU64);

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

// === impl Counter ===

impl Counter {
    /// Counts one for `stamp`, starting the word over if it still holds an older
    /// stamp's count. A writer that arrives after the slot moved on to a newer stamp
    /// counts nothing: its moment has left the window anyway. A stamp more than a whole
    /// window ahead was numbered in another slot width (a reload widened the window):
    /// it is started over too, or the slot would never count again.
    fn bump(&self, stamp: u64) {
        let _ = self.0.fetch_update(Ordering::AcqRel, Ordering::Acquire, |word| {
            let (seen, count) = unpack(word);
            match seen.cmp(&stamp) {
                std::cmp::Ordering::Equal => Some(pack(stamp, (count + 1).min(COUNT_MAX))),
                std::cmp::Ordering::Less => Some(pack(stamp, 1)),
                std::cmp::Ordering::Greater if seen > stamp + BUCKETS as u64 => Some(pack(stamp, 1)),
                std::cmp::Ordering::Greater => None,
            }
        });
    }

    /// The count, if the word's stamp lies within `oldest..=newest`.
    fn within(&self, oldest: u64, newest: u64) -> u64 {
        let (seen, count) = unpack(self.0.load(Ordering::Acquire));
        if seen >= oldest.max(1) && seen <= newest { count } else { 0 }
    }
}

fn pack(stamp: u64, count: u64) -> u64 {
    (stamp << COUNT_BITS) | count
}

fn unpack(word: u64) -> (u64, u64) {
    (word >> COUNT_BITS, word & COUNT_MAX)
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
        let (index, stamp) = self.stamp(now, policy);
        self.slots[index].requests.bump(stamp);
    }

    /// Takes one retry (or hedge) from the budget; `false` means do not retry.
    pub fn try_retry(&self, now: Instant, policy: &BudgetPolicy) -> bool {
        let (index, stamp) = self.stamp(now, policy);
        let oldest = stamp.saturating_sub(BUCKETS as u64 - 1);
        let (requests, retries) = self.slots.iter().fold((0u64, 0u64), |(req, ret), slot| {
            (req + slot.requests.within(oldest, stamp), ret + slot.retries.within(oldest, stamp))
        });
        let allowed = policy.ratio * requests as f64 + policy.min_per_second * policy.window.as_secs_f64();
        if (retries as f64) < allowed {
            self.slots[index].retries.bump(stamp);
            true
        } else {
            false
        }
    }

    /// The slot index and stamp for `now`.
    fn stamp(&self, now: Instant, policy: &BudgetPolicy) -> (usize, u64) {
        let width = policy.slot_width().as_nanos().max(1);
        let elapsed = now.saturating_duration_since(self.epoch);
        let number = (elapsed.as_nanos() / width) as u64;
        let index = (number % BUCKETS as u64) as usize;
        (index, number + 1)
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
        // Every round starts four threads together on a fresh slot, so they race for
        // the slot's first count: the moment a reset could wipe another's count.
        let policy = BudgetPolicy { ratio: 1.0, min_per_second: 0.0, window: Duration::from_secs(3600) };
        for round in 0..300 {
            let b = std::sync::Arc::new(RetryBudget::new());
            let start = std::sync::Arc::new(std::sync::Barrier::new(4));
            let t0 = b.epoch;
            let threads: Vec<_> = (0..4)
                .map(|_| {
                    let (b, start) = (std::sync::Arc::clone(&b), std::sync::Arc::clone(&start));
                    std::thread::spawn(move || {
                        start.wait();
                        (0..50).for_each(|_| b.record_request(t0, &policy))
                    })
                })
                .collect();
            threads.into_iter().for_each(|t| t.join().expect("thread"));
            let granted = (0..300).filter(|_| b.try_retry(t0, &policy)).count();
            assert_eq!(granted, 200, "round {round}: every request counted, so 100 % of them may retry");
        }
    }

    #[test]
    fn a_reload_that_widens_the_window_keeps_counting() {
        let narrow = BudgetPolicy { ratio: 1.0, min_per_second: 0.0, window: Duration::from_secs(1) };
        let wide = BudgetPolicy { window: Duration::from_secs(10), ..narrow };
        let b = RetryBudget::new();
        let later = b.epoch + Duration::from_secs(100);
        (0..3).for_each(|_| b.record_request(later, &narrow));
        // The slots now hold window numbers of 0.1 s slots, far beyond the 1 s slots'.
        (0..5).for_each(|_| b.record_request(later, &wide));
        let granted = (0..10).filter(|_| b.try_retry(later, &wide)).count();
        assert_eq!(granted, 5, "the requests after the reload are counted, the old ones are not");
    }

    #[test]
    fn a_slot_reused_by_a_later_window_starts_from_zero() {
        let policy = BudgetPolicy { ratio: 1.0, min_per_second: 0.0, window: Duration::from_secs(1) };
        let b = RetryBudget::new();
        let t0 = b.epoch;
        (0..5).for_each(|_| b.record_request(t0, &policy));
        // Same slot index one whole window later: the five old requests must not count.
        let later = t0 + Duration::from_secs(1);
        b.record_request(later, &policy);
        let granted = (0..10).filter(|_| b.try_retry(later, &policy)).count();
        assert_eq!(granted, 1);
    }
}
