//! The response cache of normalized routes: fresh for the route's TTL, then kept as a
//! stale copy for `max_stale` (served only when every provider fails), bounded in
//! entries and bytes. Concurrent identical misses are coalesced: one leader asks the
//! providers, the others wait for its answer (nginx's `proxy_cache_lock`).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::watch;
use tokio::time::Instant;

use crate::error::ProxyError;
use crate::sync::lock;

/// An answer as stored: the serialized payload and where it came from.
#[derive(Debug)]
pub struct Cached {
    /// The payload JSON (the envelope's `data`).
    pub data: Bytes,
    /// For price answers: the symbols in the order `data` lists them.
    pub order: Vec<String>,
    /// Asked symbols the answer lacks (a partial answer is shared with identical
    /// requests in flight, never stored).
    pub missing: Vec<String>,
    /// Provider that answered.
    pub provider: String,
    /// Host that answered.
    pub host: String,
    /// When it was fetched.
    pub fetched: Instant,
    /// Extra `meta` fields of a derived answer.
    pub extra: Option<Arc<crate::answer::MetaExtra>>,
}

/// What a lookup found.
pub enum Lookup<'a> {
    /// A fresh entry.
    Fresh(Arc<Cached>),
    /// Another request is fetching this key: wait on the receiver.
    Wait(watch::Receiver<Option<Shared>>),
    /// Nothing usable: the caller leads the fetch and must `finish` the [`Lead`].
    Lead(Lead<'a>),
}

/// The result a leader shares with its followers.
pub type Shared = Result<Arc<Cached>, Arc<ProxyError>>;

/// The right (and duty) to fetch a key. Dropping it unfinished (the client went away
/// mid-fetch) removes it from the in-flight table and wakes the followers, who then
/// fetch for themselves.
pub struct Lead<'a> {
    cache: &'a ResponseCache,
    key: String,
    tx: watch::Sender<Option<Shared>>,
    rx: watch::Receiver<Option<Shared>>,
}

/// The cache.
#[derive(Debug)]
pub struct ResponseCache {
    inner: Mutex<Inner>,
    max_entries: usize,
    max_bytes: usize,
}

#[derive(Debug, Default)]
struct Inner {
    entries: HashMap<String, Entry>,
    /// Insertion order for eviction: (stored, seq) -> key.
    order: BTreeMap<(Instant, u64), String>,
    bytes: usize,
    seq: u64,
    inflight: HashMap<String, watch::Receiver<Option<Shared>>>,
}

#[derive(Debug)]
struct Entry {
    value: Arc<Cached>,
    fresh_until: Instant,
    stale_until: Instant,
    order_key: (Instant, u64),
    size: usize,
}

/// How the answer relates to the cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheResult {
    /// Fetched for this request (or the route does not cache).
    Miss,
    /// Served from the cache (or from a concurrent identical request).
    Hit,
    /// Served stale because every provider failed.
    Stale,
}

// === impl CacheResult ===

impl CacheResult {
    /// Header and metric value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Miss => "miss",
            Self::Hit => "hit",
            Self::Stale => "stale",
        }
    }
}

// === impl ResponseCache ===

impl ResponseCache {
    /// An empty cache bounded by `max_entries` and `max_bytes`.
    pub fn new(max_entries: usize, max_bytes: usize) -> Self {
        Self { inner: Mutex::new(Inner::default()), max_entries: max_entries.max(1), max_bytes }
    }

    /// Looks `key` up: fresh hit, wait for an in-flight fetch, or lead a new one.
    pub fn lookup(&self, key: &str, now: Instant) -> Lookup<'_> {
        let mut inner = lock(&self.inner);
        if let Some(e) = inner.entries.get(key).filter(|e| now < e.fresh_until) {
            return Lookup::Fresh(Arc::clone(&e.value));
        }
        if let Some(rx) = inner.inflight.get(key)
            && rx.has_changed().is_ok()
        {
            return Lookup::Wait(rx.clone());
        }
        let (tx, rx) = watch::channel(None);
        inner.inflight.insert(key.to_owned(), rx.clone());
        Lookup::Lead(Lead { cache: self, key: key.to_owned(), tx, rx })
    }

    /// A fresh copy of `key`, and nothing else: no lead is taken when there is none
    /// (the request path looks here first, and takes the full [`Self::lookup`] after).
    pub fn fresh(&self, key: &str, now: Instant) -> Option<Arc<Cached>> {
        let inner = lock(&self.inner);
        inner.entries.get(key).filter(|e| now < e.fresh_until).map(|e| Arc::clone(&e.value))
    }

    /// A stale copy of `key` still within its stale window.
    pub fn stale(&self, key: &str, now: Instant) -> Option<Arc<Cached>> {
        let inner = lock(&self.inner);
        inner.entries.get(key).filter(|e| now < e.stale_until).map(|e| Arc::clone(&e.value))
    }

    /// Ends a lead: stores a good answer for `ttl` (+ `max_stale`) and wakes followers.
    pub fn finish(&self, lead: Lead<'_>, result: Shared, ttl: Duration, max_stale: Duration, store: bool) {
        let mut inner = lock(&self.inner);
        lead.forget(&mut inner);
        if let (Ok(value), true) = (&result, store) {
            self.insert(&mut inner, &lead.key, Arc::clone(value), ttl, max_stale);
        }
        drop(inner);
        let _ = lead.tx.send(Some(result));
    }

    fn insert(&self, inner: &mut Inner, key: &str, value: Arc<Cached>, ttl: Duration, max_stale: Duration) {
        let size = value.data.len() + key.len() + value.provider.len() + value.host.len() + 128;
        if size > self.max_bytes {
            return;
        }
        if let Some(old) = inner.entries.remove(key) {
            inner.order.remove(&old.order_key);
            inner.bytes -= old.size;
        }
        while inner.entries.len() >= self.max_entries || inner.bytes + size > self.max_bytes {
            let Some((_, victim)) = inner.order.pop_first() else { break };
            if let Some(e) = inner.entries.remove(&victim) {
                inner.bytes -= e.size;
            }
        }
        let now = value.fetched;
        inner.seq += 1;
        let order_key = (now, inner.seq);
        inner.order.insert(order_key, key.to_owned());
        inner.bytes += size;
        let entry = Entry { value, fresh_until: now + ttl, stale_until: now + ttl + max_stale, order_key, size };
        inner.entries.insert(key.to_owned(), entry);
    }

    /// Entries, bytes and fetches in flight (for the admin view and tests).
    pub fn usage(&self) -> (usize, usize, usize) {
        let inner = lock(&self.inner);
        (inner.entries.len(), inner.bytes, inner.inflight.len())
    }
}

// === impl Lead ===

impl Lead<'_> {
    /// The key being fetched.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// Removes this lead's in-flight entry (a newer lead's entry stays).
    fn forget(&self, inner: &mut Inner) {
        if inner.inflight.get(&self.key).is_some_and(|rx| rx.same_channel(&self.rx)) {
            inner.inflight.remove(&self.key);
        }
    }
}

impl Drop for Lead<'_> {
    fn drop(&mut self) {
        let mut inner = lock(&self.cache.inner);
        self.forget(&mut inner);
    }
}

/// Waits for a leader; `None` when the leader gave up (the caller should retry).
pub async fn wait(mut rx: watch::Receiver<Option<Shared>>) -> Option<Shared> {
    loop {
        if let Some(v) = rx.borrow_and_update().clone() {
            return Some(v);
        }
        if rx.changed().await.is_err() {
            return rx.borrow().clone();
        }
    }
}

#[cfg(test)]
mod tests;
