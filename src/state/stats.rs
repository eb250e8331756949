//! Rolling statistics of one provider or host: outcome totals since start and a window
//! of recent attempts for success rate and latency percentiles.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::time::Instant;

use crate::breaker::{Effect, Outcome};

/// Recent attempts kept per stats object (older ones fall off).
const MAX_SAMPLES: usize = 2048;

/// Outcome counters and a window of recent samples.
#[derive(Debug)]
pub struct Stats {
    totals: [AtomicU64; Outcome::ALL.len()],
    recent: Mutex<VecDeque<Sample>>,
}

/// One recorded attempt.
#[derive(Debug, Clone, Copy)]
struct Sample {
    at: Instant,
    latency: Duration,
    ok: Option<bool>,
}

/// A summary over a window.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Summary {
    /// Successful attempts.
    pub ok: u64,
    /// Failed attempts (upstream faults and rate limits).
    pub failed: u64,
    /// `ok / (ok + failed)`, `None` without traffic.
    pub success_rate: Option<f64>,
    /// Median latency of successful attempts, ms.
    pub p50_ms: Option<f64>,
    /// 95th percentile latency of successful attempts, ms.
    pub p95_ms: Option<f64>,
}

// === impl Stats ===

impl Default for Stats {
    fn default() -> Self {
        Self { totals: std::array::from_fn(|_| AtomicU64::new(0)), recent: Mutex::new(VecDeque::new()) }
    }
}

impl Stats {
    /// Records an attempt's outcome and latency.
    pub fn record(&self, outcome: Outcome, latency: Duration, now: Instant) {
        if let Some(i) = Outcome::ALL.iter().position(|o| *o == outcome) {
            self.totals[i].fetch_add(1, Ordering::Relaxed);
        }
        let ok = match (outcome, outcome.effect()) {
            (_, Effect::Success) => Some(true),
            (_, Effect::Failure) | (Outcome::RateLimited | Outcome::Blocked, _) => Some(false),
            _ => None,
        };
        if ok.is_none() {
            return;
        }
        let mut recent = self.recent.lock().unwrap_or_else(|e| e.into_inner());
        if recent.len() >= MAX_SAMPLES {
            recent.pop_front();
        }
        recent.push_back(Sample { at: now, latency, ok });
    }

    /// Counts a local skip (unsupported, over quota, unavailable, disabled) in the totals
    /// only: skips say nothing about the provider's health.
    pub fn count_skip(&self, outcome: Outcome) {
        if let Some(i) = Outcome::ALL.iter().position(|o| *o == outcome) {
            self.totals[i].fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Total attempts with `outcome` since start (or since the provider appeared).
    pub fn total(&self, outcome: Outcome) -> u64 {
        Outcome::ALL.iter().position(|o| *o == outcome).map_or(0, |i| self.totals[i].load(Ordering::Relaxed))
    }

    /// Every outcome with a non-zero total.
    pub fn totals(&self) -> Vec<(Outcome, u64)> {
        Outcome::ALL.iter().map(|o| (*o, self.total(*o))).filter(|(_, n)| *n > 0).collect()
    }

    /// Summary of the samples taken in `(now - window, now]`.
    pub fn summary(&self, window: Duration, now: Instant) -> Summary {
        let since = now.checked_sub(window);
        let recent = self.recent.lock().unwrap_or_else(|e| e.into_inner());
        let in_window = recent.iter().filter(|s| since.is_none_or(|t| s.at > t));
        summarize(in_window)
    }

    /// Summary of samples taken in `(from, to]` (for history points).
    pub fn summary_between(&self, from: Instant, to: Instant) -> Summary {
        let recent = self.recent.lock().unwrap_or_else(|e| e.into_inner());
        summarize(recent.iter().filter(|s| s.at > from && s.at <= to))
    }
}

fn summarize<'a>(samples: impl Iterator<Item = &'a Sample>) -> Summary {
    let mut ok = 0;
    let mut failed = 0;
    let mut latencies: Vec<f64> = Vec::new();
    for s in samples {
        match s.ok {
            Some(true) => {
                ok += 1;
                latencies.push(s.latency.as_secs_f64() * 1000.0);
            }
            Some(false) => failed += 1,
            None => {}
        }
    }
    latencies.sort_by(f64::total_cmp);
    let pct = |p: f64| -> Option<f64> {
        if latencies.is_empty() {
            return None;
        }
        let idx = ((latencies.len() as f64 - 1.0) * p).round() as usize;
        latencies.get(idx).copied()
    };
    let total = ok + failed;
    Summary {
        ok,
        failed,
        success_rate: (total > 0).then(|| ok as f64 / total as f64),
        p50_ms: pct(0.5),
        p95_ms: pct(0.95),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn success_rate_and_percentiles_over_the_window() {
        let s = Stats::default();
        let t0 = Instant::now();
        for ms in 1..=100 {
            s.record(Outcome::Ok, Duration::from_millis(ms), t0);
        }
        s.record(Outcome::Http5xx, Duration::from_millis(5), t0);
        s.record(Outcome::Unsupported, Duration::ZERO, t0);
        let sum = s.summary(Duration::from_secs(60), t0 + Duration::from_secs(1));
        assert_eq!((sum.ok, sum.failed), (100, 1));
        assert_eq!(sum.p50_ms, Some(51.0));
        assert_eq!(sum.p95_ms, Some(95.0));
        assert_eq!(s.total(Outcome::Unsupported), 1);
        let later = s.summary(Duration::from_secs(60), t0 + Duration::from_secs(61));
        assert_eq!(later.success_rate, None, "samples age out of the window");
    }

    #[test]
    fn rate_limits_count_as_failures_but_4xx_do_not() {
        let s = Stats::default();
        let t0 = Instant::now();
        s.record(Outcome::RateLimited, Duration::ZERO, t0);
        s.record(Outcome::Http4xx, Duration::ZERO, t0);
        s.record(Outcome::Ok, Duration::ZERO, t0);
        let sum = s.summary(Duration::from_secs(60), t0);
        assert_eq!((sum.ok, sum.failed), (1, 1));
    }
}
