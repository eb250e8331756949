//! The Redis connection as the request path may use it: every call bounded by a hard
//! timeout, a breaker that stops calling after consecutive failures, errors counted by
//! operation. While the breaker is open the request path does not wait for Redis at
//! all; the heartbeat (with a longer timeout) is what closes it again.

use std::future::Future;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use tokio::time::Instant;

use crate::breaker::{Breaker, BreakerPolicy, BreakerState, Effect, Transition};
use crate::metrics::Metrics;
use crate::state::lock;
use crate::state::shared::SharedLink;

/// Operations, as counted in `marketgate_cluster_errors_total{op}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// Taking budget.
    Quota,
    /// Raising a count to the provider's own.
    Sync,
    /// Sharing a bench.
    Bench,
    /// Reading a shared answer.
    CacheGet,
    /// Writing a shared answer.
    CachePut,
    /// Taking or releasing a fill lock.
    Lock,
    /// The heartbeat.
    Heartbeat,
    /// The event subscription.
    Subscribe,
    /// Reads for the admin API.
    Admin,
}

/// Every operation label.
pub const OPS: [Op; 9] =
    [Op::Quota, Op::Sync, Op::Bench, Op::CacheGet, Op::CachePut, Op::Lock, Op::Heartbeat, Op::Subscribe, Op::Admin];

impl Op {
    /// Metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Quota => "quota",
            Self::Sync => "sync",
            Self::Bench => "bench",
            Self::CacheGet => "cache_get",
            Self::CachePut => "cache_put",
            Self::Lock => "lock",
            Self::Heartbeat => "heartbeat",
            Self::Subscribe => "subscribe",
            Self::Admin => "admin",
        }
    }
}

/// Consecutive request-path failures that stop the calls until the next heartbeat.
const BREAKER: BreakerPolicy =
    BreakerPolicy { consecutive_failures: 3, open_for: Duration::from_secs(1), max_open_for: Duration::from_secs(10) };

/// A bounded, breaker-guarded Redis connection.
pub struct Redis {
    client: redis::Client,
    conn: ConnectionManager,
    /// Longest a request-path call waits.
    pub timeout: Duration,
    breaker: Mutex<Breaker>,
    last_error: Mutex<Option<(SystemTime, String)>>,
    shown: String,
    metrics: Metrics,
    /// Switched to local counting whenever Redis becomes unusable, back on heartbeat.
    link: std::sync::Arc<SharedLink>,
}

impl Redis {
    /// A lazily connecting client for `url` (shown in logs as `shown`). Must be called
    /// inside the Tokio runtime that will drive the connection.
    pub fn new(
        url: &str,
        shown: &str,
        timeout: Duration,
        metrics: Metrics,
        link: std::sync::Arc<SharedLink>,
    ) -> Result<Self, String> {
        let client = redis::Client::open(url).map_err(|e| e.to_string().replace(url, shown))?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(1)))
            .set_response_timeout(Some(Duration::from_secs(2)))
            .set_number_of_retries(2)
            .set_max_delay(Duration::from_millis(500));
        let conn = ConnectionManager::new_lazy_with_config(client.clone(), config).map_err(|e| e.to_string())?;
        // Down until the first heartbeat says otherwise.
        let mut breaker = Breaker::new(BREAKER);
        breaker.force_open(Instant::now());
        Ok(Self {
            client,
            conn,
            timeout,
            breaker: Mutex::new(breaker),
            last_error: Mutex::new(None),
            shown: shown.to_owned(),
            metrics,
            link,
        })
    }

    /// A new pub/sub connection (the events listener's), within `within`.
    pub async fn pubsub(&self, within: Duration) -> Option<redis::aio::PubSub> {
        match tokio::time::timeout(within, self.client.get_async_pubsub()).await {
            Ok(Ok(p)) => Some(p),
            Ok(Err(e)) => {
                self.failed(Op::Subscribe, e.to_string());
                None
            }
            Err(_) => {
                self.failed(Op::Subscribe, format!("no connection within {} ms", within.as_millis()));
                None
            }
        }
    }

    fn failed(&self, op: Op, error: String) {
        self.metrics.cluster_errors.with_label_values(&[op.as_str()]).inc();
        *lock(&self.last_error) = Some((SystemTime::now(), format!("{}: {error}", op.as_str())));
    }

    /// Whether the request path may call Redis now.
    pub fn usable(&self) -> bool {
        matches!(lock(&self.breaker).state(), BreakerState::Closed { .. })
    }

    /// The last error, when and what.
    pub fn last_error(&self) -> Option<(SystemTime, String)> {
        lock(&self.last_error).clone()
    }

    /// The URL as shown (no password).
    pub fn shown(&self) -> &str {
        &self.shown
    }

    /// Runs `call` on the request path: `None` when Redis is not usable, failed or took
    /// longer than the timeout (the caller falls back to its local state).
    pub async fn request<T, F, Fut>(&self, op: Op, call: F) -> Option<T>
    where
        F: FnOnce(ConnectionManager) -> Fut,
        Fut: Future<Output = redis::RedisResult<T>>,
    {
        if !self.usable() {
            return None;
        }
        let result = self.bounded(op, self.timeout, call).await;
        let effect = if result.is_some() { Effect::Success } else { Effect::Failure };
        let t = lock(&self.breaker).record(effect, Instant::now());
        if let Some(Transition::Opened { .. }) = t {
            self.went_down("calls failing or slower than the cluster timeout");
        }
        result
    }

    /// Runs `call` in the background (heartbeat, admin): the breaker is not consulted,
    /// the timeout is `within`.
    pub async fn background<T, F, Fut>(&self, op: Op, within: Duration, call: F) -> Option<T>
    where
        F: FnOnce(ConnectionManager) -> Fut,
        Fut: Future<Output = redis::RedisResult<T>>,
    {
        self.bounded(op, within, call).await
    }

    /// The heartbeat's verdict: reachable closes the breaker and returns to shared
    /// counting, unreachable opens it and counts locally. Returns `Some(true)` when
    /// shared counting resumed, `Some(false)` when it stopped.
    pub fn heartbeat(&self, reachable: bool) -> Option<bool> {
        let was_shared = self.link.counting_shared();
        let mut b = lock(&self.breaker);
        if reachable {
            b.force_close();
        } else {
            b.force_open(Instant::now());
        }
        drop(b);
        self.metrics.cluster_redis_up.set(i64::from(reachable));
        self.link.set_counting_shared(reachable);
        (was_shared != reachable).then_some(reachable)
    }

    fn went_down(&self, why: &str) {
        self.metrics.cluster_redis_up.set(0);
        if self.link.counting_shared() {
            self.link.set_counting_shared(false);
            tracing::warn!(
                redis = %self.shown,
                reason = why,
                "Redis unusable: each replica spends its local share (limit / replicas) until it is back"
            );
        }
    }

    async fn bounded<T, F, Fut>(&self, op: Op, within: Duration, call: F) -> Option<T>
    where
        F: FnOnce(ConnectionManager) -> Fut,
        Fut: Future<Output = redis::RedisResult<T>>,
    {
        let error = match tokio::time::timeout(within, call(self.conn.clone())).await {
            Ok(Ok(v)) => return Some(v),
            // redis-rs names the address in its errors, never the password.
            Ok(Err(e)) => e.to_string(),
            Err(_) => format!("no answer within {} ms", within.as_millis()),
        };
        self.failed(op, error);
        None
    }
}
