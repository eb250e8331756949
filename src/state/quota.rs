//! A provider's request budget: weight per fixed window, windows aligned to the wall
//! clock (a `1m` window is a calendar minute, as Binance counts), resynchronised from
//! the provider's own used-weight header. Pure: the time is passed in as Unix ms.

use std::time::Duration;

use crate::config::model::QuotaPolicy;

/// Weight used in the current window.
#[derive(Debug, Clone)]
pub struct QuotaWindow {
    limit: u32,
    per_ms: u64,
    window: u64,
    used: u32,
}

// === impl QuotaWindow ===

impl QuotaWindow {
    /// An empty window for `policy`.
    pub fn new(policy: &QuotaPolicy) -> Self {
        Self { limit: policy.limit, per_ms: millis(policy.per), window: 0, used: 0 }
    }

    /// Applies a new policy (reload) keeping the weight used so far.
    pub fn set_policy(&mut self, policy: &QuotaPolicy) {
        self.limit = policy.limit;
        self.per_ms = millis(policy.per);
    }

    /// Takes `weight` from the budget if it fits; `false` means skip the provider.
    pub fn try_take(&mut self, weight: u32, now_ms: u64) -> bool {
        self.roll(now_ms);
        if self.used.saturating_add(weight) > self.limit {
            return false;
        }
        self.used += weight;
        true
    }

    /// The provider reported how much it has counted; trust it when it says more.
    pub fn sync_used(&mut self, reported: u32, now_ms: u64) {
        self.roll(now_ms);
        self.used = self.used.max(reported);
    }

    /// Weight left in the current window.
    pub fn remaining(&mut self, now_ms: u64) -> u32 {
        self.roll(now_ms);
        self.limit.saturating_sub(self.used)
    }

    /// The configured limit.
    pub fn limit(&self) -> u32 {
        self.limit
    }

    /// Milliseconds until the current window ends.
    pub fn resets_in_ms(&self, now_ms: u64) -> u64 {
        self.per_ms - now_ms % self.per_ms
    }

    fn roll(&mut self, now_ms: u64) {
        let window = now_ms / self.per_ms;
        if window != self.window {
            self.window = window;
            self.used = 0;
        }
    }
}

fn millis(d: Duration) -> u64 {
    (d.as_millis() as u64).max(1)
}

/// Wall-clock milliseconds since the Unix epoch.
pub fn unix_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window(limit: u32) -> QuotaWindow {
        QuotaWindow::new(&QuotaPolicy { limit, per: Duration::from_secs(60), used_header: None })
    }

    #[test]
    fn takes_until_the_limit_then_refuses_until_the_next_calendar_window() {
        let t0 = 1_700_000_040_000 + 40_000; // 40 s into a minute
        let mut q = window(5);
        assert!(q.try_take(2, t0));
        assert!(q.try_take(3, t0 + 1));
        assert!(!q.try_take(1, t0 + 2));
        assert_eq!(q.remaining(t0), 0);
        assert_eq!(q.resets_in_ms(t0), 20_000);
        assert!(!q.try_take(1, t0 + 19_999));
        assert!(q.try_take(5, t0 + 20_000), "a new minute starts a new window");
    }

    #[test]
    fn reported_usage_only_raises_the_count() {
        let t0 = 1_700_000_000_000;
        let mut q = window(100);
        q.try_take(10, t0);
        q.sync_used(95, t0);
        assert_eq!(q.remaining(t0), 5);
        q.sync_used(20, t0);
        assert_eq!(q.remaining(t0), 5);
        assert!(!q.try_take(6, t0));
    }
}
