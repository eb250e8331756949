//! A [`Reply`] as the HTTP response the client gets: the envelope around the payload
//! (aliases renamed back to what was asked, a cached price list in the asked order),
//! `meta`, and the cache headers.

use std::time::Duration;

use bytes::Bytes;
use http::Response;

use super::aliases::Renames;
use super::envelope::{CacheResult, Meta, respond};
use super::{Asked, Reply};
use crate::answer::Answer;
use crate::body::Body;
use crate::cache::Cached;
use crate::gateway::Served;
use crate::normalize::params::OpRequest;

/// How answers are written for one request.
#[derive(Clone, Copy)]
pub struct Out<'a> {
    req: &'a OpRequest,
    renames: &'a Renames,
    /// `meta.operation`: the route's op, or what it derives.
    operation: &'static str,
}

impl<'a> Out<'a> {
    /// The writer for `asked`.
    pub fn of(asked: &'a Asked) -> Self {
        Self { req: &asked.req, renames: &asked.renames, operation: asked.operation }
    }

    /// The response to a reply.
    pub fn reply(self, reply: &Reply) -> (Response<Body>, Served) {
        match reply {
            Reply::Fresh { answer, data, ttl } => self.fresh(answer, data, ttl.map(|t| t.as_secs())),
            Reply::Cached { entry, result, ttl } => self.cached(entry, *result, *ttl),
        }
    }

    /// The response to a fresh answer (its payload serialized as `data`, under the
    /// canonical tickers).
    fn fresh(self, answer: &Answer, data: &Bytes, max_age: Option<u64>) -> (Response<Body>, Served) {
        // A partial answer is not worth keeping, here or in any cache downstream.
        let max_age = if answer.missing.is_empty() { max_age } else { None };
        let reached = answer.attempts.iter().filter(|a| a.reached()).count();
        let failed: Vec<_> =
            answer.attempts.iter().filter(|a| a.outcome != crate::breaker::Outcome::Ok).cloned().collect();
        let missing = self.renames.names(&answer.missing);
        let renamed = self.renames.extra(answer.extra.as_deref());
        let m = Meta {
            attempts: reached,
            missing: &missing,
            tried: &failed,
            aliases: self.renames.any().then(|| self.renames.used()),
            operation: self.operation,
            extra: renamed.as_ref().or(answer.extra.as_deref()),
            ..Meta::new(self.req.op, &answer.provider, &answer.host, CacheResult::Miss)
        };
        let resp = respond(&self.renames.apply(data), &m, CacheResult::Miss, max_age);
        let cache = max_age.map(|_| CacheResult::Miss);
        let served = Served { provider: Some(answer.provider.as_str().into()), attempts: reached, cache };
        (resp, served)
    }

    fn cached(self, c: &Cached, result: CacheResult, ttl: Duration) -> (Response<Body>, Served) {
        let age = c.fetched.elapsed();
        let max_age = ttl.saturating_sub(age).as_secs();
        let missing = self.renames.names(&c.missing);
        let renamed = self.renames.extra(c.extra.as_deref());
        let m = Meta {
            age_ms: age.as_millis() as u64,
            missing: &missing,
            aliases: self.renames.any().then(|| self.renames.used()),
            operation: self.operation,
            extra: renamed.as_ref().or(c.extra.as_deref()),
            ..Meta::new(self.req.op, &c.provider, &c.host, result)
        };
        let symbols = &self.req.symbols;
        let data = if c.order.is_empty() || c.order == *symbols { c.data.clone() } else { reorder(&c.data, symbols) };
        let max_age = c.missing.is_empty().then_some(max_age);
        let resp = respond(&self.renames.apply(&data), &m, result, max_age);
        (resp, Served { provider: Some(c.provider.as_str().into()), attempts: 0, cache: Some(result) })
    }
}

/// A cached price list in the order this request asked for (the key ignores order).
fn reorder(data: &Bytes, symbols: &[String]) -> Bytes {
    let Ok(serde_json::Value::Array(items)) = serde_json::from_slice::<serde_json::Value>(data) else {
        return data.clone();
    };
    let pos = |v: &serde_json::Value| symbols.iter().position(|s| v["symbol"] == s.as_str()).unwrap_or(usize::MAX);
    let mut items = items;
    items.sort_by_key(pos);
    Bytes::from(serde_json::to_vec(&items).unwrap_or_default())
}
