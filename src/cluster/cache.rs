//! Normalized answers shared across replicas, and identical misses coalesced across
//! them: the first replica to miss takes a fill lock (in the same round trip that found
//! no answer, [`keys::OBTAIN`]) and fetches; the
//! others wait for its answer (woken by the `filled` event, looking again every
//! [`POLL`] in case an event is lost) until their deadline. A leader that fails lets
//! go of the lock and the waiters fetch for themselves. Entries live for the route's
//! cache TTL plus `max_stale`, so a replica whose providers all fail can still serve a
//! stale answer another replica fetched.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use tokio::sync::Notify;
use tokio::time::Instant;

use super::events::Event;
use super::redis::Op;
use super::{Cluster, keys};
use crate::cache::Cached;
use crate::state::quota::unix_ms;
use crate::sync::lock;

/// How often a waiting replica looks for the answer when no event woke it.
pub const POLL: Duration = Duration::from_millis(25);

/// Waiters for fills, by cache key.
#[derive(Debug, Default)]
pub struct Fills(Mutex<HashMap<String, Arc<Notify>>>);

impl Fills {
    fn waiter(&self, key: &str) -> Arc<Notify> {
        Arc::clone(lock(&self.0).entry(key.to_owned()).or_default())
    }

    /// A waiter of `key` is done (its own handle already dropped): the entry goes when
    /// no other waiter holds it.
    fn done(&self, key: &str) {
        let mut map = lock(&self.0);
        if map.get(key).is_some_and(|n| Arc::strong_count(n) == 1) {
            map.remove(key);
        }
    }

    /// Keys with waiters now.
    #[cfg(test)]
    fn len(&self) -> usize {
        lock(&self.0).len()
    }

    /// Wakes the waiters of `key`.
    pub fn notify(&self, key: &str) {
        if let Some(n) = lock(&self.0).get(key) {
            n.notify_waiters();
        }
    }
}

/// What the shared cache had for a miss.
pub enum Obtained {
    /// A fresh answer another replica fetched (its age included).
    Hit(Cached),
    /// This replica fetches: fill the lock with the answer, or release it.
    Lead(FillLock),
    /// Redis cannot help now: fetch as a single replica would.
    Unavailable,
}

/// The right to fill a shared entry. Hand it to [`Cluster::fill`] or
/// [`Cluster::release`]; one dropped unused (the request was abandoned mid-fetch) lets
/// go of the lock in the background, so the other replicas' waiters need not wait out
/// their deadline.
pub struct FillLock {
    key: String,
    token: String,
    /// Who releases it when it is dropped unused (`None` once used).
    owner: Option<Arc<Cluster>>,
}

impl Drop for FillLock {
    fn drop(&mut self) {
        let Some(owner) = self.owner.take() else { return };
        let unused =
            FillLock { key: std::mem::take(&mut self.key), token: std::mem::take(&mut self.token), owner: None };
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move { owner.release(unused).await });
        }
    }
}

/// An entry as stored: a JSON header line, then the payload bytes.
#[derive(Debug, Serialize, Deserialize)]
struct Header {
    order: Vec<String>,
    missing: Vec<String>,
    provider: String,
    host: String,
    fetched_ms: u64,
    ttl_ms: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    extra: Option<crate::answer::MetaExtra>,
}

impl Cluster {
    /// Looks for `key` in the shared cache; when it is missing, either takes the fill
    /// lock or waits (until `deadline`) for the replica holding it. One round trip
    /// ([`keys::OBTAIN`]) per look.
    pub async fn obtain(self: &Arc<Self>, key: &str, deadline: Instant) -> Obtained {
        if !self.sharing_answers() {
            return Obtained::Unavailable;
        }
        let lock_ms = deadline.saturating_duration_since(Instant::now()).as_millis().max(50) as u64;
        let (entry_key, lock_key) = (keys::cache(&self.cfg.namespace, key), keys::fill_lock(&self.cfg.namespace, key));
        let mut waited = false;
        loop {
            let token = format!("{}:{}", self.instance, unix_ms());
            let mut call = keys::SCRIPTS.obtain.prepare_invoke();
            call.key(&entry_key).key(&lock_key).arg(&token).arg(lock_ms);
            let found: Option<(i64, Option<Vec<u8>>)> =
                self.redis.request(Op::CacheGet, |mut c| async move { call.invoke_async(&mut c).await }).await;
            let lead = || {
                Obtained::Lead(FillLock { key: key.to_owned(), token: token.clone(), owner: Some(Arc::clone(self)) })
            };
            match found {
                None => return Obtained::Unavailable,
                Some((1, Some(bytes))) => match decode(&bytes, false) {
                    Some(hit) => {
                        let counter = if waited { &self.counts.cache_waits } else { &self.counts.cache_hits };
                        counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        return Obtained::Hit(hit);
                    }
                    // Kept past its freshness (for stale-if-error): a miss, so lock.
                    None => match self.lock(&lock_key, &token, lock_ms).await {
                        None => return Obtained::Unavailable,
                        Some(true) => return lead(),
                        Some(false) => {}
                    },
                },
                Some((2, _)) => return lead(),
                Some(_) => {}
            }
            // Another replica is fetching: wait for its answer.
            waited = true;
            let notify = self.fills.waiter(key);
            let woken = notify.notified();
            let next = (Instant::now() + POLL).min(deadline);
            let _ = tokio::time::timeout_at(next, woken).await;
            // Our handle goes first, so the last waiter out removes the entry.
            drop(notify);
            self.fills.done(key);
            if Instant::now() >= deadline {
                return Obtained::Unavailable;
            }
        }
    }

    /// Takes the fill lock alone (`SET NX PX`); `None`: Redis did not answer.
    async fn lock(&self, lock_key: &str, token: &str, lock_ms: u64) -> Option<bool> {
        let (k, t) = (lock_key.to_owned(), token.to_owned());
        let taken: Option<Option<String>> = self
            .redis
            .request(Op::Lock, |mut c| async move {
                ::redis::cmd("SET").arg(&k).arg(&t).arg("NX").arg("PX").arg(lock_ms).query_async(&mut c).await
            })
            .await;
        taken.map(|t| t.is_some())
    }

    /// Stores the answer a lead fetched for `ttl` (fresh) + `keep` (stale), releases
    /// the lock and wakes the waiters, in one round trip ([`keys::FILL`]).
    pub async fn fill(&self, mut lock: FillLock, answer: &Cached, ttl: Duration, keep: Duration) {
        lock.owner = None;
        let header = Header {
            order: answer.order.clone(),
            missing: answer.missing.clone(),
            provider: answer.provider.clone(),
            host: answer.host.clone(),
            fetched_ms: unix_ms().saturating_sub(answer.fetched.elapsed().as_millis() as u64),
            ttl_ms: ttl.as_millis() as u64,
            extra: answer.extra.as_deref().cloned(),
        };
        let mut value = serde_json::to_vec(&header).unwrap_or_default();
        value.push(b'\n');
        value.extend_from_slice(&answer.data);
        let px = (ttl + keep).as_millis().max(1) as u64;
        let ns = &self.cfg.namespace;
        let message = Event::Filled { from: self.instance.clone(), key: lock.key.clone() }.encode();
        let mut call = keys::SCRIPTS.fill.prepare_invoke();
        call.key(keys::cache(ns, &lock.key)).key(keys::fill_lock(ns, &lock.key));
        call.arg(value).arg(px).arg(&lock.token).arg(keys::events(ns)).arg(message);
        let stored: Option<i64> =
            self.redis.request(Op::CachePut, |mut c| async move { call.invoke_async(&mut c).await }).await;
        if stored.is_some() {
            self.counts.cache_fills.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
    }

    /// Lets go of a fill lock whose fetch failed and wakes the waiters, in one round
    /// trip ([`keys::RELEASE`]).
    pub async fn release(&self, mut lock: FillLock) {
        lock.owner = None;
        let ns = &self.cfg.namespace;
        let message = Event::Filled { from: self.instance.clone(), key: lock.key.clone() }.encode();
        let mut call = keys::SCRIPTS.release.prepare_invoke();
        call.key(keys::fill_lock(ns, &lock.key)).arg(&lock.token).arg(keys::events(ns)).arg(message);
        let _: Option<i64> = self.redis.request(Op::Lock, |mut c| async move { call.invoke_async(&mut c).await }).await;
    }

    /// A stale answer another replica stored (every provider failed here).
    pub async fn stale(&self, key: &str) -> Option<Cached> {
        if !self.sharing_answers() {
            return None;
        }
        self.get(key, true).await.flatten()
    }

    /// `None`: Redis did not answer; `Some(None)`: nothing usable stored.
    async fn get(&self, key: &str, stale_ok: bool) -> Option<Option<Cached>> {
        let k = keys::cache(&self.cfg.namespace, key);
        let raw: Option<Vec<u8>> = self
            .redis
            .request(Op::CacheGet, |mut c| async move { ::redis::cmd("GET").arg(&k).query_async(&mut c).await })
            .await?;
        Some(raw.and_then(|bytes| decode(&bytes, stale_ok)))
    }
}

fn decode(bytes: &[u8], stale_ok: bool) -> Option<Cached> {
    let split = bytes.iter().position(|b| *b == b'\n')?;
    let header: Header = serde_json::from_slice(&bytes[..split]).ok()?;
    let age_ms = unix_ms().saturating_sub(header.fetched_ms);
    if !stale_ok && age_ms >= header.ttl_ms {
        return None;
    }
    let fetched = Instant::now().checked_sub(Duration::from_millis(age_ms)).unwrap_or_else(Instant::now);
    Some(Cached {
        data: Bytes::copy_from_slice(&bytes[split + 1..]),
        order: header.order,
        missing: header.missing,
        provider: header.provider,
        host: header.host,
        fetched,
        extra: header.extra.map(std::sync::Arc::new),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_waiter_out_removes_the_key() {
        let fills = Fills::default();
        let (a, b) = (fills.waiter("k"), fills.waiter("k"));
        drop(a);
        fills.done("k");
        assert_eq!(fills.len(), 1, "b still waits");
        drop(b);
        fills.done("k");
        assert_eq!(fills.len(), 0, "no entry outlives its waiters");
    }

    #[test]
    fn entries_carry_their_age_and_go_stale_after_their_ttl() {
        let header = |fetched_ms| Header {
            order: vec!["BTC".into()],
            missing: vec![],
            provider: "binance".into(),
            host: "api1.binance.com".into(),
            fetched_ms,
            ttl_ms: 2_000,
            extra: None,
        };
        let encode = |h: &Header| {
            let mut v = serde_json::to_vec(h).expect("json");
            v.push(b'\n');
            v.extend_from_slice(br#"[{"symbol":"BTC","price":1.0}]"#);
            v
        };
        let fresh = encode(&header(unix_ms() - 500));
        let c = decode(&fresh, false).expect("fresh");
        assert_eq!(&c.data[..], br#"[{"symbol":"BTC","price":1.0}]"#);
        assert!(c.fetched.elapsed() >= Duration::from_millis(490), "the age travels with the answer");
        let old = encode(&header(unix_ms() - 5_000));
        assert!(decode(&old, false).is_none(), "past its TTL it is not fresh");
        assert!(decode(&old, true).is_some(), "but it may be served stale");
        assert!(decode(b"garbage", true).is_none());
    }
}
