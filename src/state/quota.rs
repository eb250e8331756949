//! A provider's request budget: a fixed window of weight, resynchronised from the
//! provider's own used-weight header (pure; `now` passed in).

use std::time::Duration;

use tokio::time::Instant;

use crate::config::model::QuotaPolicy;

/// Weight used in the current window.
#[derive(Debug, Clone)]
pub struct QuotaWindow {
    limit: u32,
    per: Duration,
    started: Option<Instant>,
    used: u32,
}

// === impl QuotaWindow ===

impl QuotaWindow {
    /// An empty window for `policy`.
    pub fn new(policy: &QuotaPolicy) -> Self {
        Self { limit: policy.limit, per: policy.per, started: None, used: 0 }
    }

    /// Applies a new policy (reload) keeping the weight used so far.
    pub fn set_policy(&mut self, policy: &QuotaPolicy) {
        self.limit = policy.limit;
        self.per = policy.per;
    }

    /// Takes `weight` from the budget if it fits; `false` means skip the provider.
    pub fn try_take(&mut self, weight: u32, now: Instant) -> bool {
        self.roll(now);
        if self.used.saturating_add(weight) > self.limit {
            return false;
        }
        self.used += weight;
        true
    }

    /// Whether `weight` would fit now, without taking it.
    pub fn would_fit(&mut self, weight: u32, now: Instant) -> bool {
        self.roll(now);
        self.used.saturating_add(weight) <= self.limit
    }

    /// The provider reported how much it has counted; trust it when it says more.
    pub fn sync_used(&mut self, reported: u32, now: Instant) {
        self.roll(now);
        self.used = self.used.max(reported);
    }

    /// Weight left in the current window.
    pub fn remaining(&mut self, now: Instant) -> u32 {
        self.roll(now);
        self.limit.saturating_sub(self.used)
    }

    /// The configured limit.
    pub fn limit(&self) -> u32 {
        self.limit
    }

    /// When the current window ends (None before the first request).
    pub fn resets_at(&self) -> Option<Instant> {
        self.started.map(|s| s + self.per)
    }

    fn roll(&mut self, now: Instant) {
        match self.started {
            Some(s) if now < s + self.per => {}
            _ => {
                self.started = Some(now);
                self.used = 0;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window(limit: u32) -> QuotaWindow {
        QuotaWindow::new(&QuotaPolicy { limit, per: Duration::from_secs(60), used_header: None })
    }

    #[test]
    fn takes_until_the_limit_then_refuses_until_the_window_rolls() {
        let t0 = Instant::now();
        let mut q = window(5);
        assert!(q.try_take(2, t0));
        assert!(q.try_take(3, t0));
        assert!(!q.try_take(1, t0));
        assert_eq!(q.remaining(t0), 0);
        assert!(q.try_take(5, t0 + Duration::from_secs(60)));
    }

    #[test]
    fn reported_usage_only_raises_the_count() {
        let t0 = Instant::now();
        let mut q = window(100);
        q.try_take(10, t0);
        q.sync_used(95, t0);
        assert_eq!(q.remaining(t0), 5);
        q.sync_used(20, t0);
        assert_eq!(q.remaining(t0), 5);
        assert!(!q.would_fit(6, t0));
    }
}
