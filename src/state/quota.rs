//! A provider's budgets: request weight per short window (`quota`, a calendar minute
//! or hour as the provider counts it, resynchronised from its used-weight header) and
//! credits per long window (`credits`, a day or a calendar month, as paid plans bill
//! them). A request must fit both. Pure: the time is passed in as Unix ms.

use std::time::Duration;

use crate::calendar;
use crate::config::model::{CreditsPolicy, Period, QuotaPolicy};

/// Which budget refused a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Spent {
    /// The short window's weight (`quota`).
    Rate,
    /// The long window's credits (`credits`).
    Credits,
}

impl Spent {
    /// The window's name (metrics, admin views, Redis keys).
    pub fn window(self) -> &'static str {
        match self {
            Self::Rate => "quota",
            Self::Credits => "credits",
        }
    }
}

/// Weight used in one window of a budget.
#[derive(Debug, Clone)]
pub struct Window {
    limit: u32,
    period: Period,
    window: u64,
    used: u32,
}

/// Both budgets of a provider (either may be absent).
#[derive(Debug, Clone, Default)]
pub struct Budgets {
    /// Weight per short window.
    pub rate: Option<Window>,
    /// Credits per long window.
    pub credits: Option<Window>,
}

// === impl Window ===

impl Window {
    /// An empty window of `limit` per `period`.
    pub fn new(limit: u32, period: Period) -> Self {
        Self { limit, period, window: u64::MAX, used: 0 }
    }

    /// Applies a new limit and period (reload), keeping the weight used so far.
    pub fn set(&mut self, limit: u32, period: Period) {
        if period != self.period {
            self.window = u64::MAX;
        }
        self.limit = limit;
        self.period = period;
    }

    /// Whether `weight` fits now.
    pub fn fits(&mut self, weight: u32, now_ms: u64) -> bool {
        self.roll(now_ms);
        self.used.saturating_add(weight) <= self.limit
    }

    fn take(&mut self, weight: u32, now_ms: u64) {
        self.roll(now_ms);
        self.used = self.used.saturating_add(weight);
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

    /// Weight used in the current window.
    pub fn used(&mut self, now_ms: u64) -> u32 {
        self.roll(now_ms);
        self.used
    }

    /// The configured limit.
    pub fn limit(&self) -> u32 {
        self.limit
    }

    /// The share of the limit used, 0 to 1.
    pub fn used_ratio(&mut self, now_ms: u64) -> f64 {
        let used = self.used(now_ms);
        if self.limit == 0 { 1.0 } else { (f64::from(used) / f64::from(self.limit)).min(1.0) }
    }

    /// Unix ms at which the current window ends.
    pub fn resets_at_ms(&self, now_ms: u64) -> u64 {
        window_at(self.period, now_ms).1
    }

    /// Milliseconds until the current window ends.
    pub fn resets_in_ms(&self, now_ms: u64) -> u64 {
        self.resets_at_ms(now_ms).saturating_sub(now_ms)
    }

    fn roll(&mut self, now_ms: u64) {
        let (window, _) = window_at(self.period, now_ms);
        if window != self.window {
            self.window = window;
            self.used = 0;
        }
    }
}

/// The window `now_ms` falls in: its index (minutes since the epoch for a `1m` period,
/// calendar months for `month`) and when it ends (unix ms). Windows are aligned to the
/// wall clock, so every replica agrees on them.
pub fn window_at(period: Period, now_ms: u64) -> (u64, u64) {
    match period {
        Period::Every(d) => {
            let per = millis(d);
            (now_ms / per, (now_ms / per + 1) * per)
        }
        Period::Month => {
            let i = calendar::month_index(now_ms);
            (i, calendar::month_start_ms(i + 1))
        }
    }
}

/// One replica's share of `limit` when `replicas` share it (at least 1).
pub fn share(limit: u32, replicas: u32) -> u32 {
    (limit / replicas.max(1)).max(1)
}

// === impl Budgets ===

impl Budgets {
    /// Makes the budgets match a provider's policies (reload), keeping what was used.
    /// With `replicas` > 1 (a cluster), these local budgets are this replica's share,
    /// used while Redis is unreachable: each limit divided by the replicas (at least 1).
    pub fn configure(&mut self, rate: Option<&QuotaPolicy>, credits: Option<&CreditsPolicy>, replicas: u32) {
        let share = |limit: u32| share(limit, replicas);
        sync(&mut self.rate, rate.map(|q| (share(q.limit), Period::Every(q.per))));
        sync(&mut self.credits, credits.map(|c| (share(c.limit), c.per)));
    }

    /// Raises the `which` window's count to `used` if that is more (a count learned
    /// elsewhere: this replica's part of the shared one).
    pub fn sync_used(&mut self, which: Spent, used: u32, now_ms: u64) {
        let window = match which {
            Spent::Rate => self.rate.as_mut(),
            Spent::Credits => self.credits.as_mut(),
        };
        if let Some(w) = window {
            w.sync_used(used, now_ms);
        }
    }

    /// Takes `weight` from every budget if it fits all of them; otherwise takes
    /// nothing and says which one is spent.
    pub fn try_take(&mut self, weight: u32, now_ms: u64) -> Result<(), Spent> {
        if let Some(w) = self.rate.as_mut()
            && !w.fits(weight, now_ms)
        {
            return Err(Spent::Rate);
        }
        if let Some(w) = self.credits.as_mut()
            && !w.fits(weight, now_ms)
        {
            return Err(Spent::Credits);
        }
        for w in [self.rate.as_mut(), self.credits.as_mut()].into_iter().flatten() {
            w.take(weight, now_ms);
        }
        Ok(())
    }

    /// Whether no budget is configured (callers then skip reading the wall clock).
    pub fn is_empty(&self) -> bool {
        self.rate.is_none() && self.credits.is_none()
    }

    /// The smallest weight left across the budgets (`None`: no budget configured).
    pub fn remaining(&mut self, now_ms: u64) -> Option<(u32, Spent)> {
        let rate = self.rate.as_mut().map(|w| (w.remaining(now_ms), Spent::Rate));
        let credits = self.credits.as_mut().map(|w| (w.remaining(now_ms), Spent::Credits));
        match (rate, credits) {
            (Some(a), Some(b)) => Some(if b.0 < a.0 { b } else { a }),
            (a, b) => a.or(b),
        }
    }
}

fn sync(slot: &mut Option<Window>, want: Option<(u32, Period)>) {
    match (want, slot.as_mut()) {
        (None, _) => *slot = None,
        (Some((limit, period)), Some(w)) => w.set(limit, period),
        (Some((limit, period)), None) => *slot = Some(Window::new(limit, period)),
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

    fn minute(limit: u32) -> Window {
        Window::new(limit, Period::Every(Duration::from_secs(60)))
    }

    #[test]
    fn takes_until_the_limit_then_refuses_until_the_next_calendar_window() {
        let t0 = 1_700_000_040_000 + 40_000; // 40 s into a minute
        let mut b = Budgets { rate: Some(minute(5)), credits: None };
        assert_eq!(b.try_take(2, t0), Ok(()));
        assert_eq!(b.try_take(3, t0 + 1), Ok(()));
        assert_eq!(b.try_take(1, t0 + 2), Err(Spent::Rate));
        let w = b.rate.as_mut().expect("rate");
        assert_eq!(w.remaining(t0), 0);
        assert_eq!(w.resets_in_ms(t0), 20_000);
        assert_eq!(b.try_take(1, t0 + 19_999), Err(Spent::Rate));
        assert_eq!(b.try_take(5, t0 + 20_000), Ok(()), "a new minute starts a new window");
    }

    #[test]
    fn reported_usage_only_raises_the_count() {
        let t0 = 1_700_000_000_000;
        let mut w = minute(100);
        w.take(10, t0);
        w.sync_used(95, t0);
        assert_eq!(w.remaining(t0), 5);
        w.sync_used(20, t0);
        assert_eq!(w.remaining(t0), 5);
        assert!(!w.fits(6, t0));
    }

    #[test]
    fn a_count_learned_elsewhere_raises_only_its_own_window() {
        let t0 = 1_700_000_000_000;
        let mut b = Budgets { rate: Some(minute(10)), credits: Some(Window::new(100, Period::Month)) };
        b.sync_used(Spent::Credits, 98, t0);
        assert_eq!(b.remaining(t0), Some((2, Spent::Credits)));
        b.sync_used(Spent::Rate, 9, t0);
        assert_eq!(b.try_take(2, t0), Err(Spent::Rate));
        assert_eq!(b.try_take(1, t0), Ok(()));
    }

    /// A month's credits run out long before the minute budget would stop anything,
    /// and come back on the 1st (UTC), not 30 days later.
    #[test]
    fn credits_last_a_calendar_month_and_a_refusal_takes_nothing() {
        let nov_27 = 1_795_780_800_000; // 2026-11-27T12:00:00Z
        let dec_1 = calendar::month_start_ms(calendar::month_index(nov_27) + 1);
        let mut b = Budgets { rate: Some(minute(30)), credits: Some(Window::new(100, Period::Month)) };
        for i in 0..100 {
            assert_eq!(b.try_take(1, nov_27 + i * 60_000), Ok(()), "request {i}");
        }
        assert_eq!(b.try_take(1, nov_27 + 101 * 60_000), Err(Spent::Credits));
        assert_eq!(b.remaining(nov_27 + 101 * 60_000), Some((0, Spent::Credits)));
        let rate = b.rate.as_mut().expect("rate");
        assert_eq!(rate.used(nov_27 + 101 * 60_000), 0, "the refused request took no minute weight");
        let credits = b.credits.as_mut().expect("credits");
        assert_eq!(credits.resets_at_ms(nov_27), dec_1);
        assert!((credits.used_ratio(nov_27 + 101 * 60_000) - 1.0).abs() < 1e-9);
        assert_eq!(b.try_take(1, dec_1 - 1), Err(Spent::Credits), "still November");
        assert_eq!(b.try_take(1, dec_1), Ok(()), "December brings new credits");
    }

    #[test]
    fn a_reload_keeps_what_was_used() {
        let t0 = 1_700_000_000_000;
        let q = QuotaPolicy { limit: 10, per: Duration::from_secs(60), used_header: None };
        let mut b = Budgets::default();
        b.configure(Some(&q), None, 1);
        assert_eq!(b.try_take(4, t0), Ok(()));
        b.configure(Some(&QuotaPolicy { limit: 20, ..q.clone() }), None, 1);
        assert_eq!(b.remaining(t0), Some((16, Spent::Rate)));
        b.configure(Some(&QuotaPolicy { limit: 20, ..q.clone() }), None, 3);
        assert_eq!(b.remaining(t0), Some((2, Spent::Rate)), "a third of 20 is this replica's share");
        b.configure(None, None, 1);
        assert_eq!(b.remaining(t0), None);
    }
}
