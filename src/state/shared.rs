//! What the providers' local state shares with the cluster (`[cluster]`), without
//! knowing Redis: whether budgets are counted in Redis right now (the local budgets
//! then only stand in while it is unreachable, at limit / replicas), the replica count
//! that divides them, and where a bench seen here is announced to the other replicas.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

/// Announces a bench (provider, status, length) to the other replicas.
pub type BenchSink = Box<dyn Fn(&str, u16, Duration) + Send + Sync>;

/// Shared by every provider state of one process.
#[derive(Default)]
pub struct SharedLink {
    counting_shared: AtomicBool,
    replicas: AtomicU32,
    bench_sink: OnceLock<BenchSink>,
}

impl std::fmt::Debug for SharedLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedLink")
            .field("counting_shared", &self.counting_shared())
            .field("replicas", &self.replicas())
            .finish()
    }
}

impl SharedLink {
    /// Whether budgets are counted in Redis now (local budgets are then not consulted).
    pub fn counting_shared(&self) -> bool {
        self.counting_shared.load(Ordering::Acquire)
    }

    /// Switches between shared (Redis up) and local counting.
    pub fn set_counting_shared(&self, shared: bool) {
        self.counting_shared.store(shared, Ordering::Release);
    }

    /// Replicas sharing the budgets (1 without a cluster).
    pub fn replicas(&self) -> u32 {
        self.replicas.load(Ordering::Acquire).max(1)
    }

    /// Sets the replica count (local budgets use limit / replicas).
    pub fn set_replicas(&self, n: u32) {
        self.replicas.store(n.max(1), Ordering::Release);
    }

    /// Where benches go from now on (set once, by the cluster).
    pub fn set_bench_sink(&self, sink: BenchSink) {
        let _ = self.bench_sink.set(sink);
    }

    /// Announces a bench seen by this replica.
    pub fn announce_bench(&self, provider: &str, status: u16, for_: Duration) {
        if let Some(sink) = self.bench_sink.get() {
            sink(provider, status, for_);
        }
    }
}

/// A shared budget count as this replica last saw it in Redis.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeenCount {
    /// Weight counted by all replicas in the window.
    pub used: u64,
    /// When the window ends (unix ms); the count means nothing after.
    pub until_ms: u64,
}

/// A provider's shared counts, for the admin API while budgets are counted in Redis.
#[derive(Debug, Default)]
pub struct SharedCounts {
    /// The `quota` window.
    pub rate: Option<SeenCount>,
    /// The `credits` window.
    pub credits: Option<SeenCount>,
}

impl SharedCounts {
    /// The count of the `quota` (`credits == false`) or `credits` window, if still current.
    pub fn current(&self, credits: bool, now_ms: u64) -> Option<u64> {
        let seen = if credits { self.credits } else { self.rate };
        seen.filter(|s| s.until_ms > now_ms).map(|s| s.used)
    }
}
