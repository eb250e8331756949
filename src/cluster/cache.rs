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

/// The longest a replica waits for another's fill before fetching for itself (and at
/// most half its deadline): a fill that takes longer is rare enough to pay twice for.
pub const MAX_WAIT: Duration = Duration::from_secs(1);

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
    pub async fn obtain(self: &Arc<Self>, key: &str, deadline: Instant, ttl: Duration) -> Obtained {
        let ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX);
        if !self.sharing_answers() {
            return Obtained::Unavailable;
        }
        let lock_ms = deadline.saturating_duration_since(Instant::now()).as_millis().max(50) as u64;
        let (entry_key, lock_key) = (keys::cache(&self.cfg.namespace, key), keys::fill_lock(&self.cfg.namespace, key));
        let mut waited = false;
        // A lock whose holder is gone (its Redis call timed out on its side but ran in
        // Redis, or it died) must not cost the whole deadline: waiters wait at most
        // [`MAX_WAIT`] and never more than half of it, then fetch for themselves.
        let patience = Instant::now() + (deadline.saturating_duration_since(Instant::now()) / 2).min(MAX_WAIT);
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
                None => {
                    // The script may have run in Redis after this side gave up on it,
                    // taking the lock under our token: let go of it once Redis answers.
                    let orphan = FillLock { key: key.to_owned(), token: token.clone(), owner: None };
                    let owner = Arc::clone(self);
                    tokio::spawn(async move { owner.release_quietly(orphan).await });
                    return Obtained::Unavailable;
                }
                Some((1, Some(bytes))) => match self.read(&bytes, false, ttl_ms) {
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
            if Instant::now() >= patience {
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
        let message = Event::Filled { from: self.instance.clone(), key: lock.key.clone() }.sealed(&self.seal);
        let mut call = keys::SCRIPTS.fill.prepare_invoke();
        call.key(keys::cache(ns, &lock.key)).key(keys::fill_lock(ns, &lock.key));
        call.arg(self.seal.seal(&value)).arg(px).arg(&lock.token).arg(keys::events(ns)).arg(message);
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
        self.unlock(&lock, None).await;
    }

    /// [`Cluster::release`] in the background (its own timeout, no breaker): for a lock
    /// this replica may hold without knowing it.
    async fn release_quietly(&self, lock: FillLock) {
        self.unlock(&lock, Some(Duration::from_secs(2))).await;
    }

    async fn unlock(&self, lock: &FillLock, background: Option<Duration>) {
        let ns = &self.cfg.namespace;
        let message = Event::Filled { from: self.instance.clone(), key: lock.key.clone() }.sealed(&self.seal);
        let mut call = keys::SCRIPTS.release.prepare_invoke();
        call.key(keys::fill_lock(ns, &lock.key)).arg(&lock.token).arg(keys::events(ns)).arg(message);
        let run = |mut c: ::redis::aio::ConnectionManager| async move { call.invoke_async::<i64>(&mut c).await };
        let _ = match background {
            None => self.redis.request(Op::Lock, run).await,
            Some(within) => self.redis.background(Op::Lock, within, run).await,
        };
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
        Some(raw.and_then(|bytes| self.read(&bytes, stale_ok, MAX_TTL_MS)))
    }

    /// A stored entry, if it is signed (with a secret) and makes sense; fresh for at
    /// most `ttl_ms` (the route's cache time here: a header cannot keep it longer).
    fn read(&self, stored: &[u8], stale_ok: bool, ttl_ms: u64) -> Option<Cached> {
        let Some(bytes) = self.seal.open(stored) else {
            self.refuse("answer", "a shared answer");
            return None;
        };
        match decode(bytes, stale_ok, ttl_ms) {
            Decoded::Usable(c) => Some(c),
            Decoded::Old => None,
            Decoded::Senseless => {
                self.refuse("answer", "a shared answer");
                None
            }
        }
    }
}

/// What a stored entry is.
enum Decoded {
    /// Served.
    Usable(Cached),
    /// Past its freshness (and stale not asked for).
    Old,
    /// Not something a replica wrote: no header, a fetch time in the future, a ttl
    /// past [`MAX_TTL_MS`], a body that is not JSON.
    Senseless,
}

/// How far ahead of this clock another replica's may be.
const CLOCK_SKEW_MS: u64 = 2_000;

/// The longest route cache time a stored header may claim (a week).
const MAX_TTL_MS: u64 = 7 * 86_400_000;

fn decode(bytes: &[u8], stale_ok: bool, ttl_cap_ms: u64) -> Decoded {
    let Some(split) = bytes.iter().position(|b| *b == b'\n') else { return Decoded::Senseless };
    let Ok(header) = serde_json::from_slice::<Header>(&bytes[..split]) else { return Decoded::Senseless };
    let now = unix_ms();
    let body = &bytes[split + 1..];
    if header.fetched_ms > now + CLOCK_SKEW_MS
        || header.ttl_ms > MAX_TTL_MS
        || serde_json::from_slice::<serde::de::IgnoredAny>(body).is_err()
    {
        return Decoded::Senseless;
    }
    let age_ms = now.saturating_sub(header.fetched_ms);
    if !stale_ok && age_ms >= header.ttl_ms.min(ttl_cap_ms) {
        return Decoded::Old;
    }
    let fetched = Instant::now().checked_sub(Duration::from_millis(age_ms)).unwrap_or_else(Instant::now);
    Decoded::Usable(Cached {
        data: Bytes::copy_from_slice(body),
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
        let Decoded::Usable(c) = decode(&fresh, false, MAX_TTL_MS) else { panic!("fresh") };
        assert_eq!(&c.data[..], br#"[{"symbol":"BTC","price":1.0}]"#);
        assert!(c.fetched.elapsed() >= Duration::from_millis(490), "the age travels with the answer");
        let old = encode(&header(unix_ms() - 5_000));
        assert!(matches!(decode(&old, false, MAX_TTL_MS), Decoded::Old), "past its TTL it is not fresh");
        assert!(matches!(decode(&old, true, MAX_TTL_MS), Decoded::Usable(_)), "but it may be served stale");
        assert!(matches!(decode(b"garbage", true, MAX_TTL_MS), Decoded::Senseless));
    }

    /// An entry planted by hand: fetched "in the future" (so it would stay fresh for
    /// ever), or a body that is not JSON, is ignored, not served.
    #[test]
    fn planted_entries_are_not_served() {
        let entry = |fetched_ms: u64, ttl_ms: u64, body: &[u8]| {
            let h = Header {
                order: vec![],
                missing: vec![],
                provider: "binance".into(),
                host: "x".into(),
                fetched_ms,
                ttl_ms,
                extra: None,
            };
            let mut v = serde_json::to_vec(&h).expect("json");
            v.push(b'\n');
            v.extend_from_slice(body);
            v
        };
        let now = unix_ms();
        assert!(matches!(decode(&entry(now + 86_400_000, 2_000, b"[]"), false, MAX_TTL_MS), Decoded::Senseless));
        assert!(matches!(decode(&entry(now, 2_000, b"<html>"), false, MAX_TTL_MS), Decoded::Senseless));
        assert!(matches!(decode(&entry(now, u64::MAX, b"[]"), false, MAX_TTL_MS), Decoded::Senseless));
        assert!(
            matches!(decode(&entry(now + 1_000, 2_000, b"[]"), false, MAX_TTL_MS), Decoded::Usable(_)),
            "clock skew"
        );
        // A header that claims a longer TTL than the route's is held to the route's.
        assert!(matches!(decode(&entry(now - 5_000, 60_000, b"[]"), false, 2_000), Decoded::Old));
    }
}
