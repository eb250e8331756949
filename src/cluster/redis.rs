//! The Redis connection as the request path may use it: every call bounded by a hard
//! timeout, a breaker that stops calling after consecutive failures, errors counted by
//! operation. While the breaker is open the request path does not wait for Redis at
//! all; after its open period one request-path call goes through as a trial, and only
//! its success closes the breaker (a Redis that answers the heartbeat but not within
//! the request timeout stays out, its open period doubling). A heartbeat that cannot
//! reach Redis at all opens the breaker at once, and the first one that reaches it
//! again closes it.

use std::future::Future;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime};

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use tokio::time::Instant;

use crate::breaker::{Admit, Breaker, BreakerPolicy, BreakerState, Effect, Transition};
use crate::metrics::Metrics;
use crate::state::shared::SharedLink;
use crate::sync::lock;

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
/// One Redis server: its client (pub/sub, one-off connections), the managed
/// connection the calls use, and its URL as shown.
struct Server {
    client: redis::Client,
    conn: ConnectionManager,
    shown: String,
}

impl Server {
    fn new(url: &str, shown: &str, tls: Option<&crate::config::model::RedisTls>) -> Result<Self, String> {
        // Only the kind: the error text may quote the URL, password and all.
        let client = match tls {
            None => redis::Client::open(url),
            Some(t) => redis::Client::build_with_tls(
                url,
                redis::TlsCertificates {
                    client_tls: t.client.as_ref().map(|(cert, key)| redis::ClientTlsConfig {
                        client_cert: cert.clone(),
                        client_key: key.expose().as_bytes().to_vec(),
                    }),
                    root_cert: t.ca.clone(),
                },
            ),
        }
        .map_err(|e| format!("{shown}: not a usable Redis URL or TLS setting ({:?})", e.kind()))?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(1)))
            .set_response_timeout(Some(Duration::from_secs(2)))
            .set_number_of_retries(2)
            .set_max_delay(Duration::from_millis(500));
        let conn = ConnectionManager::new_lazy_with_config(client.clone(), config).map_err(|e| e.to_string())?;
        Ok(Self { client, conn, shown: shown.to_owned() })
    }
}

const BREAKER: BreakerPolicy =
    BreakerPolicy { consecutive_failures: 3, open_for: Duration::from_secs(1), max_open_for: Duration::from_secs(10) };

/// A bounded, breaker-guarded Redis connection.
pub struct Redis {
    /// The server in use (replaced when the sentinels name another master).
    server: Mutex<Server>,
    /// TLS material, kept for a replacement server.
    tls: Option<crate::config::model::RedisTls>,
    /// Bumped at each server switch (the event subscription follows it).
    generation: std::sync::atomic::AtomicU64,
    /// Longest a request-path call waits.
    pub timeout: Duration,
    breaker: Mutex<Breaker>,
    /// The heartbeat could not reach Redis (as opposed to calls being too slow).
    unreachable: AtomicBool,
    last_error: Mutex<Option<(SystemTime, String)>>,
    metrics: Metrics,
    /// Switched to local counting whenever Redis becomes unusable, back on heartbeat.
    link: std::sync::Arc<SharedLink>,
    /// No verdict said yet: the first one is logged even when it changes nothing (a
    /// wrong password at start must not go unsaid).
    first: AtomicBool,
}

impl Redis {
    /// A lazily connecting client for `url` (shown in logs as `shown`). Must be called
    /// inside the Tokio runtime that will drive the connection.
    pub fn new(
        url: &str,
        shown: &str,
        tls: Option<&crate::config::model::RedisTls>,
        timeout: Duration,
        metrics: Metrics,
        link: std::sync::Arc<SharedLink>,
    ) -> Result<Self, String> {
        crate::tls::install_crypto_provider();
        let server = Server::new(url, shown, tls)?;
        // Down until the first heartbeat says otherwise.
        let mut breaker = Breaker::new(BREAKER);
        breaker.force_open(Instant::now());
        Ok(Self {
            server: Mutex::new(server),
            tls: tls.cloned(),
            generation: std::sync::atomic::AtomicU64::new(0),
            timeout,
            breaker: Mutex::new(breaker),
            unreachable: AtomicBool::new(true),
            last_error: Mutex::new(None),
            metrics,
            link,
            first: AtomicBool::new(true),
        })
    }

    /// Moves to another server (the master the sentinels name now); `url` is shown as
    /// `shown`. Calls in flight finish on the old one.
    pub fn switch_server(&self, url: &str, shown: &str) -> Result<(), String> {
        let server = Server::new(url, shown, self.tls.as_ref())?;
        *lock(&self.server) = server;
        self.generation.fetch_add(1, Ordering::AcqRel);
        Ok(())
    }

    /// How many times the server was switched.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    fn client(&self) -> redis::Client {
        lock(&self.server).client.clone()
    }

    /// A new pub/sub connection (the events listener's), within `within`.
    pub async fn pubsub(&self, within: Duration) -> Option<redis::aio::PubSub> {
        match tokio::time::timeout(within, self.client().get_async_pubsub()).await {
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

    pub(crate) fn failed(&self, op: Op, error: String) {
        self.metrics.cluster_errors.with_label_values(&[op.as_str()]).inc();
        *lock(&self.last_error) = Some((SystemTime::now(), format!("{}: {error}", op.as_str())));
    }

    /// Whether Redis is in use now (reachable, breaker closed).
    pub fn usable(&self) -> bool {
        !self.unreachable.load(Ordering::Acquire) && matches!(lock(&self.breaker).state(), BreakerState::Closed { .. })
    }

    /// Whether a request-path call would be let through now (closed, or a trial due).
    pub fn admits(&self) -> bool {
        !self.unreachable.load(Ordering::Acquire) && lock(&self.breaker).would_admit(Instant::now())
    }

    /// The last error, when and what.
    pub fn last_error(&self) -> Option<(SystemTime, String)> {
        lock(&self.last_error).clone()
    }

    /// The URL as shown (no password).
    pub fn shown(&self) -> String {
        lock(&self.server).shown.clone()
    }

    /// Runs `call` on the request path: `None` when Redis is not usable, failed or took
    /// longer than the timeout (the caller falls back to its local state).
    pub async fn request<T, F, Fut>(&self, op: Op, call: F) -> Option<T>
    where
        F: FnOnce(ConnectionManager) -> Fut,
        Fut: Future<Output = redis::RedisResult<T>>,
    {
        if self.unreachable.load(Ordering::Acquire) {
            return None;
        }
        let (admit, _) = lock(&self.breaker).allow(Instant::now());
        if matches!(admit, Admit::No { .. }) {
            return None;
        }
        let result = self.bounded(op, self.timeout, call).await;
        let effect = if result.is_some() { Effect::Success } else { Effect::Failure };
        let t = lock(&self.breaker).record_admitted(admit, effect, Instant::now());
        match t {
            Some(Transition::Opened { open_for }) => {
                let error = self.last_error().map(|(_, e)| e).unwrap_or_default();
                let why = format!(
                    "calls failing or slower than the cluster timeout: {}; next trial in {} ms",
                    explain(&error),
                    open_for.as_millis()
                );
                self.switch(false, &why);
            }
            Some(Transition::Closed) => self.switch(true, "a trial call answered in time"),
            _ => {}
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

    /// The heartbeat's verdict. Unreachable opens the breaker at once; reachable again
    /// closes it, unless the breaker was opened by slow request-path calls, which only
    /// a timely trial call closes.
    pub fn heartbeat(&self, reachable: bool) {
        let was_unreachable = self.unreachable.swap(!reachable, Ordering::AcqRel);
        if !reachable {
            lock(&self.breaker).force_open(Instant::now());
            let error = self.last_error().map(|(_, e)| e).unwrap_or_default();
            self.switch(false, &format!("heartbeat failed: {}", explain(&error)));
        } else if was_unreachable {
            lock(&self.breaker).force_close();
            self.switch(true, "heartbeat reaches Redis");
        }
    }

    /// Moves budgets between shared and local counting, and says so once.
    fn switch(&self, shared: bool, why: &str) {
        self.metrics.cluster_redis_up.set(i64::from(shared));
        let first = self.first.swap(false, Ordering::AcqRel);
        if self.link.counting_shared() == shared && !first {
            return;
        }
        self.link.set_counting_shared(shared);
        if shared {
            tracing::info!(redis = %self.shown(), reason = why, "Redis in use: budgets, benches and answers shared");
        } else {
            tracing::warn!(
                redis = %self.shown(),
                reason = why,
                "Redis unusable: each replica spends its local share (its part of what each window has left) until \
                 it is back"
            );
        }
    }

    /// Why Redis does not answer, asked on a connection of its own: the managed
    /// connection retries a refused password until the call times out, which says
    /// nothing. The error is recorded as the last one.
    pub async fn diagnose(&self, within: Duration) {
        let error = match tokio::time::timeout(within, self.client().get_multiplexed_async_connection()).await {
            Ok(Ok(mut conn)) => match redis::cmd("PING").query_async::<String>(&mut conn).await {
                Ok(_) => return,
                Err(e) => e.to_string(),
            },
            // redis-rs names the address in its errors, never the password.
            Ok(Err(e)) => e.to_string(),
            Err(_) => return,
        };
        self.failed(Op::Heartbeat, error);
    }

    /// Whether the last error says a key of this deployment holds a value of another
    /// type (something else wrote it).
    pub fn wrong_type(&self) -> bool {
        self.last_error().is_some_and(|(_, e)| e.contains("WRONGTYPE"))
    }

    async fn bounded<T, F, Fut>(&self, op: Op, within: Duration, call: F) -> Option<T>
    where
        F: FnOnce(ConnectionManager) -> Fut,
        Fut: Future<Output = redis::RedisResult<T>>,
    {
        let conn = lock(&self.server).conn.clone();
        let error = match tokio::time::timeout(within, call(conn)).await {
            Ok(Ok(v)) => return Some(v),
            // redis-rs names the address in its errors, never the password.
            Ok(Err(e)) => e.to_string(),
            Err(_) => format!("no answer within {} ms", within.as_millis()),
        };
        self.failed(op, error);
        None
    }
}

/// A Redis error in words an operator acts on: a full Redis, a refused password and a
/// key of the wrong type are not "cannot reach Redis".
pub fn explain(error: &str) -> String {
    let why = if error.contains("OOM") {
        "Redis is full (maxmemory reached; it refuses writes)"
    } else if ["WRONGPASS", "NOAUTH", "invalid password", "AuthenticationFailed"].iter().any(|w| error.contains(w)) {
        "Redis refused the credentials in cluster.redis"
    } else if error.contains("WRONGTYPE") {
        "a key of this deployment holds a value marketgate did not write"
    } else if error.contains("READONLY") {
        "this Redis is a read-only replica"
    } else if error.is_empty() {
        return "no answer".to_owned();
    } else {
        "cannot reach Redis"
    };
    format!("{why} ({error})")
}

#[cfg(test)]
mod explain_tests {
    #[test]
    fn errors_are_told_apart() {
        let full = super::explain("heartbeat: OOM command not allowed when used memory > 'maxmemory'.");
        assert!(full.starts_with("Redis is full"), "{full}");
        assert!(
            super::explain("WRONGPASS invalid username-password pair").starts_with("Redis refused the credentials")
        );
        assert!(super::explain("WRONGTYPE Operation against a key").starts_with("a key of this deployment"));
        assert!(super::explain("Connection refused (os error 111)").starts_with("cannot reach Redis"));
    }
}
