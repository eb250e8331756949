//! A ring buffer of per-provider samples taken at a fixed interval, for the dashboard's
//! charts (`/api/system/providers/history`).

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;
use tokio::sync::watch;
use tokio::time::Instant;

use super::Admin;
use crate::sync::lock;

/// The history buffer.
#[derive(Debug)]
pub struct History {
    capacity: usize,
    interval: Duration,
    points: Mutex<VecDeque<Point>>,
}

/// One sample of every provider.
#[derive(Debug, Clone, Serialize)]
pub struct Point {
    /// Unix time, ms.
    pub t: i64,
    /// Provider name -> sample.
    pub providers: BTreeMap<String, Sample>,
}

/// One provider at one point.
#[derive(Debug, Clone, Serialize)]
pub struct Sample {
    /// Health word at that time.
    pub status: &'static str,
    /// Success rate of the attempts in the interval.
    pub success_rate: Option<f64>,
    /// Median latency in the interval, ms.
    pub p50: Option<f64>,
    /// p95 latency in the interval, ms.
    pub p95: Option<f64>,
    /// Attempts in the interval.
    pub requests: u64,
}

/// The endpoint's JSON.
#[derive(Debug, Serialize)]
pub struct HistoryView {
    /// Sampling interval, seconds.
    pub interval_s: u64,
    /// Oldest first.
    pub points: Vec<Point>,
}

// === impl History ===

impl History {
    /// An empty buffer.
    pub fn new(capacity: usize, interval: Duration) -> Self {
        Self { capacity: capacity.max(2), interval, points: Mutex::new(VecDeque::new()) }
    }

    /// Appends a point, dropping the oldest beyond capacity.
    pub fn push(&self, point: Point) {
        let mut p = lock(&self.points);
        if p.len() >= self.capacity {
            p.pop_front();
        }
        p.push_back(point);
    }

    /// The endpoint view.
    pub fn view(&self) -> HistoryView {
        HistoryView { interval_s: self.interval.as_secs().max(1), points: lock(&self.points).iter().cloned().collect() }
    }

    /// Sampling interval.
    pub fn interval(&self) -> Duration {
        self.interval
    }
}

/// Takes one point now, covering `(since, now]`.
pub fn sample(state: &Admin, since: Instant, now: Instant) -> Point {
    let snap = state.gateway.snapshot();
    let health = super::status::providers_health(&snap);
    let providers = snap
        .providers
        .iter()
        .map(|p| {
            let s = p.state.stats.summary_between(since, now);
            let status = health.iter().find(|h| h.name == p.cfg.name).map_or("healthy", |h| h.health.status);
            (
                p.cfg.name.clone(),
                Sample {
                    status,
                    success_rate: s.success_rate,
                    p50: s.p50_ms,
                    p95: s.p95_ms,
                    requests: s.ok + s.failed,
                },
            )
        })
        .collect();
    let t = crate::calendar::now_ms();
    Point { t, providers }
}

/// Samples every interval until `stop` flips.
pub async fn sample_forever(state: Arc<Admin>, mut stop: watch::Receiver<bool>) {
    let interval = state.history.interval().max(Duration::from_millis(100));
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut since = Instant::now();
    ticker.tick().await;
    loop {
        tokio::select! {
            () = crate::shutdown::stopped(&mut stop) => return,
            _ = ticker.tick() => {
                let now = Instant::now();
                let point = sample(&state, since, now);
                state.history.push(point);
                since = now;
            }
        }
    }
}
