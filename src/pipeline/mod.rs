//! The normalized request path. Phases: parse the query -> check the symbols -> cache
//! (hit, wait for an identical request in flight, or lead the fetch) -> failover; on
//! failure, a stale cached answer when the route allows one. [`fetch`] answers with
//! data (a [`Reply`]); [`serve`] wraps it in the envelope (`respond.rs`).

pub mod aliases;
pub mod attempt;
mod cached;
pub mod consensus;
pub mod envelope;
pub mod failover;
pub mod gather;
pub mod list;
pub mod mapping;
pub mod plan;
pub mod respond;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::Response;
use tokio::time::Instant;

use crate::answer::Answer;
use crate::body::Body;
use crate::cache::Cached;
use crate::config::model::{NormalizedRoute, ProviderKind};
use crate::derive::Shaping;
use crate::error::{ErrorKind, ProxyError};
use crate::gateway::{Gateway, Served, Via};
use crate::metrics::handles::RouteHandles;
use crate::normalize::params::OpRequest;
use crate::routing::pattern::Params;
use crate::snapshot::{PoolRt, RouteRt, Snapshot};
use crate::upstream::exchange::Exchange;
use aliases::Renames;
use cached::{CacheEvent, cached_or_fetched, count_lookup};
use envelope::CacheResult;

/// One request on a normalized route.
pub struct Call<'a> {
    /// The compiled route.
    pub route: &'a RouteRt,
    /// The raw query string.
    pub query: Option<&'a str>,
    /// Path parameters.
    pub params: &'a Params,
    /// Where the request has been.
    pub via: &'a Via,
}

/// A normalized answer before it becomes HTTP: the typed seam between the request
/// path and the way in (the envelope), the live streams' REST fallback and anything
/// else that needs the data rather than a response.
pub enum Reply {
    /// Fetched for this request; `data` is the payload as JSON (what a cache keeps),
    /// `ttl` how long the route caches it.
    Fresh {
        /// The answer.
        answer: Box<Answer>,
        /// The payload, serialized once.
        data: Bytes,
        /// The route's cache time, when it caches.
        ttl: Option<Duration>,
    },
    /// From this replica's or another replica's cache (fresh, coalesced or stale).
    Cached {
        /// The cached entry.
        entry: Arc<Cached>,
        /// Hit or stale.
        result: CacheResult,
        /// The route's cache time (for `Cache-Control`).
        ttl: Duration,
    },
}

/// A parsed normalized request: what it asks (canonical tickers), the aliases it used
/// and the `meta.operation` it answers under.
pub struct Asked {
    /// The request.
    pub req: OpRequest,
    /// Aliases resolved (TON asked, GRAM fetched).
    pub renames: Renames,
    /// The route's op, or what it derives.
    pub operation: &'static str,
}

/// Serves a normalized route: [`fetch`], then the envelope.
pub async fn serve(gw: &Gateway, snap: &Arc<Snapshot>, call: Call<'_>) -> Result<(Response<Body>, Served), ProxyError> {
    let (asked, reply) = fetch(gw, snap, call).await?;
    Ok(respond::Out::of(&asked).reply(&reply))
}

/// Answers a normalized route as data: parse the query, check the symbols, then the
/// cache (hit, wait for an identical request in flight, or lead the fetch, here and
/// across replicas), the failover run, and on failure a stale answer when the route
/// allows one.
pub async fn fetch(gw: &Gateway, snap: &Arc<Snapshot>, call: Call<'_>) -> Result<(Asked, Reply), ProxyError> {
    let prepared = prepare(snap, call)?;
    match prepared.fresh(gw) {
        Some(reply) => Ok(prepared.finish(reply)),
        None => fetch_prepared(gw, snap, prepared).await,
    }
}

/// [`fetch`] after [`prepare`], when [`Prepared::fresh`] had nothing.
pub async fn fetch_prepared(gw: &Gateway, snap: &Arc<Snapshot>, p: Prepared<'_>) -> Result<(Asked, Reply), ProxyError> {
    let deadline = Instant::now() + p.route.deadline.unwrap_or(snap.config.server.deadline);
    let handles = &p.call.route.handles;
    let (route, pool, label) = (p.route, p.pool, p.call.route.label());
    let run =
        Fetch { gw, snap, label, route, pool, req: &p.req, deadline, via: p.call.via, shaping: &p.shaping, handles };
    let reply = cached_or_fetched(&run, p.key.as_deref()).await?;
    Ok(p.finish(reply))
}

/// A normalized request read and checked, with its cache key: what comes before the
/// cache or any provider is asked. No `async`: a fresh hit is answered from here
/// ([`Prepared::fresh`]) without building the request path's future, whose every move
/// copies kilobytes.
pub struct Prepared<'a> {
    call: Call<'a>,
    route: &'a NormalizedRoute,
    pool: &'a PoolRt,
    req: OpRequest,
    shaping: Shaping,
    renames: Renames,
    operation: &'static str,
    /// The cache key, when the route caches.
    key: Option<String>,
}

/// Reads and checks a normalized request (400 for what it asks wrongly).
pub fn prepare<'a>(snap: &Snapshot, call: Call<'a>) -> Result<Prepared<'a>, ProxyError> {
    let Some((route, pool)) = call.route.normalized() else {
        return Err(ProxyError::new(ErrorKind::Internal, "not a normalized route"));
    };
    let max_params = snap.config.server.max_query_params;
    let bad = |e: crate::normalize::params::ParamError| ProxyError::new(ErrorKind::BadRequest, e.to_string());
    let mut req = OpRequest::parse_for(route.op, route.derive, call.query, call.params, &route.defaults, max_params)
        .map_err(bad)?;
    let shaping = Shaping::prepare(route.derive, &mut req).map_err(bad)?;
    let renames = Renames::resolve(&mut req, &snap.config.aliases);
    check_known_symbols(snap, pool, &req)?;
    let operation = route.derive.map_or(route.op.as_str(), |d| d.as_str());
    let key = route.cache.map(|_| {
        let mut key = String::with_capacity(96);
        key.push_str(call.route.label());
        key.push('|');
        req.write_cache_key(&mut key);
        // The shaping's part: a derived route fetches more than it shows.
        key.push_str(&shaping.key());
        key
    });
    Ok(Prepared { call, route, pool, req, shaping, renames, operation, key })
}

impl Prepared<'_> {
    /// A fresh answer in this replica's cache, counted as a hit.
    pub fn fresh(&self, gw: &Gateway) -> Option<Reply> {
        let (key, ttl) = (self.key.as_deref()?, self.route.cache?);
        let entry = gw.cache.fresh(key, Instant::now())?;
        count_lookup(gw, &self.call.route.handles, self.call.route.label(), CacheEvent::Hit);
        Some(Reply::Cached { entry, result: CacheResult::Hit, ttl })
    }

    /// The request and its reply, cut to what a derived route shows.
    pub fn finish(self, mut reply: Reply) -> (Asked, Reply) {
        let Prepared { mut req, shaping, renames, operation, .. } = self;
        if let Some(cut) = shaping.cut() {
            reply = list::cut(reply, cut);
            list::restore(&mut req, cut);
        }
        (Asked { req, renames, operation }, reply)
    }

    /// The response to `reply` (the envelope).
    pub fn respond(self, reply: Reply) -> (Response<Body>, Served) {
        let (asked, reply) = self.finish(reply);
        respond::Out::of(&asked).reply(&reply)
    }
}

/// The failover run of one request.
struct Fetch<'a> {
    gw: &'a Gateway,
    snap: &'a Snapshot,
    label: &'a str,
    route: &'a NormalizedRoute,
    pool: &'a PoolRt,
    req: &'a OpRequest,
    deadline: Instant,
    via: &'a Via,
    shaping: &'a Shaping,
    /// The route's metric handles.
    handles: &'a RouteHandles,
}

impl Fetch<'_> {
    async fn run(&self) -> Result<Answer, ProxyError> {
        let now_ms = failover::now_ms();
        let r = failover::Request {
            snap: self.snap,
            metrics: &self.gw.metrics,
            budget: &self.gw.budget,
            route_label: self.label,
            route: self.route,
            pool: self.pool,
            req: self.req,
            deadline: self.deadline,
            forwarded: matches!(self.via, Via::Forwarded(_)),
            now_ms,
        };
        let exchange = Exchange {
            snap: self.snap,
            metrics: &self.gw.metrics,
            via: self.gw.via_out(self.via),
            cluster: self.gw.cluster(),
        };
        let cx = attempt::AttemptCtx { exchange, req: self.req, now_ms };
        let mut answer = if self.route.merge {
            gather::merged(&r, cx).await?
        } else if let Some(n) = self.req.consensus {
            consensus::run(&r, cx, n as usize).await?
        } else {
            failover::run(&r, move |c, timeout| attempt::run(cx, c, timeout)).await?
        };
        if self.route.derive.is_none() {
            let max = self.snap.provider(&answer.provider).and_then(|p| p.cfg.ops.get(&self.req.op));
            if let Some(served) = envelope::served(self.req, &answer.payload, max) {
                add_meta(&mut answer, "served", served);
            }
        }
        // Indicators over stale candles carry the same note.
        if let Some(stale) = envelope::stale_candles(self.req, &answer.payload, now_ms) {
            add_meta(&mut answer, "stale_data", stale);
        }
        self.shaping.apply(&mut answer);
        Ok(answer)
    }
}

/// 400 `unknown_symbol` when no provider in the route's pool knows a symbol (a pool
/// made only of other marketgates accepts any ticker: the remote decides).
fn check_known_symbols(snap: &Snapshot, pool: &PoolRt, req: &OpRequest) -> Result<(), ProxyError> {
    if !req.op.takes_symbols() {
        return Ok(());
    }
    let providers: Vec<_> = pool.tiers.iter().flatten().filter_map(|&i| snap.provider_at(i)).collect();
    if providers.iter().all(|p| p.cfg.kind == ProviderKind::Marketgate) {
        return Ok(());
    }
    let unknown: Vec<&str> = req
        .symbols
        .iter()
        .filter(|s| !snap.config.assets.contains_key(*s) && !providers.iter().any(|p| p.cfg.symbols.knows(s)))
        .map(String::as_str)
        .collect();
    if unknown.is_empty() {
        return Ok(());
    }
    let plural = if unknown.len() > 1 { "s" } else { "" };
    let msg = format!("unknown symbol{plural}: {} (no provider of this route has an id for it)", unknown.join(", "));
    Err(ProxyError::new(ErrorKind::UnknownSymbol, msg))
}

/// Adds a `meta` field to an answer.
fn add_meta(answer: &mut Answer, key: &str, value: serde_json::Value) {
    let mut extra = answer.extra.as_deref().cloned().unwrap_or_default();
    extra.insert(key.into(), value);
    answer.extra = Some(Arc::new(extra));
}
