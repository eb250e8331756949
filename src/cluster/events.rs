//! The cluster's background tasks: the heartbeat (once a second: this replica's entry
//! in the replica set, Redis reachability, and with it the switch between shared and
//! local counting) and the event listener (benches from other replicas, shared cache
//! fills), which catches up on benches in force whenever it (re)connects.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use super::redis::Op;
use super::{Cluster, keys};
use crate::shutdown::stopped;
use crate::state::quota::unix_ms;
use crate::sync::lock;

/// How often the heartbeat runs.
pub const HEARTBEAT: Duration = Duration::from_secs(1);

/// A replica not heard of for this long is no longer listed.
const GONE_AFTER_MS: u64 = 5_000;

/// A message on the deployment's event channel ([`keys::events`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Event {
    /// A replica was rate-limited by a provider.
    Bench {
        /// The replica.
        from: String,
        /// Provider.
        provider: String,
        /// Scope the limit applies to.
        scope: String,
        /// 429, 418, ...
        status: u16,
        /// Bench length, ms.
        ms: u64,
    },
    /// An operator lifted a bench (`host` absent) or reset a host's breaker.
    Lift {
        /// The replica.
        from: String,
        /// Provider.
        provider: String,
        /// Scope of the bench lifted.
        scope: String,
        /// The host whose breaker was reset, for a reset.
        host: Option<String>,
    },
    /// A shared answer was stored (or its fill gave up): waiters look again.
    Filled {
        /// The replica.
        from: String,
        /// The cache key.
        key: String,
    },
}

impl Event {
    /// The wire form (unsigned).
    pub fn encode(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// The wire form, signed with `seal`.
    pub fn sealed(&self, seal: &super::seal::Seal) -> String {
        seal.seal_str(&self.encode())
    }
}

/// Runs the heartbeat and the event listener until `stop`.
pub fn start(cluster: &Arc<Cluster>, stop: &watch::Receiver<bool>) -> Vec<tokio::task::JoinHandle<()>> {
    vec![
        tokio::spawn(heartbeat(Arc::clone(cluster), stop.clone())),
        tokio::spawn(listen(Arc::clone(cluster), stop.clone())),
    ]
}

/// Beats every [`HEARTBEAT`] (start-up ran the first one).
async fn heartbeat(c: Arc<Cluster>, mut stop: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            () = tokio::time::sleep(HEARTBEAT) => {}
            () = stopped(&mut stop) => return,
        }
        beat(&c).await;
    }
}

/// One heartbeat: reachable or not, and who else is there.
pub async fn beat(c: &Cluster) {
    // Before the first beat, and after a failed one: a failover may have moved the
    // master (a demoted one answers writes with READONLY, which fails the beat too).
    if c.cfg.sentinel.is_some() && !c.redis.usable() {
        c.follow_master().await;
    }
    let now = unix_ms();
    let instance = c.instance.clone();
    let replicas = keys::replicas(&c.cfg.namespace);
    let within = c.cfg.timeout.max(Duration::from_millis(500));
    let seen: Option<Vec<String>> = c
        .redis
        .background(Op::Heartbeat, within, |mut conn| async move {
            ::redis::pipe()
                .cmd("ZADD")
                .arg(&replicas)
                .arg(now)
                .arg(&instance)
                .ignore()
                .cmd("ZREMRANGEBYSCORE")
                .arg(&replicas)
                .arg("-inf")
                .arg(now.saturating_sub(GONE_AFTER_MS))
                .ignore()
                .cmd("PEXPIRE")
                .arg(&replicas)
                .arg(GONE_AFTER_MS * 12)
                .ignore()
                .cmd("ZRANGE")
                .arg(&replicas)
                .arg(0)
                .arg(-1)
                .query_async::<(Vec<String>,)>(&mut conn)
                .await
                .map(|(seen,)| seen)
        })
        .await;
    let reachable = seen.is_some();
    if let Some(list) = seen {
        *lock(&c.seen) = list;
    }
    if !reachable && c.redis.last_error().is_some_and(|(_, e)| e.contains("no answer within")) {
        c.redis.diagnose(within).await;
    }
    c.redis.heartbeat(reachable);
    if reachable {
        c.settle_debts(within).await;
    }
    // Something else wrote the replicas key (`SET mg:replicas x`): it is ours, so it is
    // replaced rather than kept alive by the heartbeat's PEXPIRE.
    if !reachable && c.redis.wrong_type() {
        let key = keys::replicas(&c.cfg.namespace);
        let removed: Option<i64> = c
            .redis
            .background(Op::Heartbeat, within, |mut conn| async move {
                ::redis::cmd("DEL").arg(&key).query_async(&mut conn).await
            })
            .await;
        if removed.is_some() {
            tracing::warn!(key = %keys::replicas(&c.cfg.namespace), "replaced a replicas key that marketgate did not write");
        }
    }
}

async fn listen(c: Arc<Cluster>, mut stop: watch::Receiver<bool>) {
    loop {
        let generation = c.redis.generation();
        if let Some(mut pubsub) = c.redis.pubsub(Duration::from_secs(1)).await
            && pubsub.subscribe(keys::events(&c.cfg.namespace)).await.is_ok()
        {
            catch_up(&c).await;
            let mut messages = pubsub.on_message();
            loop {
                tokio::select! {
                    msg = messages.next() => match msg {
                        Some(m) => handle(&c, m.get_payload_bytes()),
                        None => break,
                    },
                    // The sentinels named another master: subscribe there.
                    () = tokio::time::sleep(HEARTBEAT) => if c.redis.generation() != generation { break },
                    () = stopped(&mut stop) => return,
                }
            }
            tracing::warn!(redis = %c.redis.shown(), "cluster event subscription lost; reconnecting");
        }
        tokio::select! {
            () = tokio::time::sleep(HEARTBEAT) => {}
            () = stopped(&mut stop) => return,
        }
    }
}

fn handle(c: &Cluster, payload: &[u8]) {
    let Some(event) = c.seal.open(payload).and_then(|p| serde_json::from_slice::<Event>(p).ok()) else {
        c.refuse("event", "an event");
        return;
    };
    match event {
        Event::Bench { from, .. } | Event::Filled { from, .. } | Event::Lift { from, .. } if from == c.instance => {}
        Event::Bench { provider, scope, status, ms, .. } => c.bench_from_peer(&provider, &scope, status, ms),
        Event::Lift { from, provider, scope, host } => c.lift_from_peer(&from, &provider, &scope, host.as_deref()),
        Event::Filled { key, .. } => c.fills.notify(&key),
    }
}

/// Benches in force that were announced while this replica was not listening.
async fn catch_up(c: &Cluster) {
    let snap = c.slot.load_full();
    for p in &snap.providers {
        let scope = c.scope(p).to_owned();
        let key = keys::bench(&c.cfg.namespace, &p.cfg.name, &scope);
        let found: Option<(Option<Vec<u8>>, i64)> = c
            .redis
            .background(Op::Bench, Duration::from_millis(500), |mut conn| async move {
                ::redis::pipe().cmd("GET").arg(&key).cmd("PTTL").arg(&key).query_async(&mut conn).await
            })
            .await;
        if let Some((Some(stored), ttl)) = found
            && ttl > 0
        {
            match c.seal.open(&stored).and_then(|s| std::str::from_utf8(s).ok()?.parse::<u16>().ok()) {
                Some(status) => c.bench_from_peer(&p.cfg.name, &scope, status, ttl as u64),
                None => c.refuse("bench", "a stored bench"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_round_trip() {
        let e = Event::Bench { from: "a".into(), provider: "binance".into(), scope: "ip:x".into(), status: 418, ms: 5 };
        let text = e.encode();
        assert!(text.contains("\"kind\":\"bench\""), "{text}");
        assert_eq!(serde_json::from_str::<Event>(&text).expect("decode"), e);
    }
}
