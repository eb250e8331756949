//! The normalized request path. Phases: parse the query -> check the symbols -> cache
//! (hit, wait for an identical request in flight, or lead the fetch) -> failover ->
//! envelope; on failure, a stale cached answer when the route allows one.

pub mod aliases;
pub mod attempt;
pub mod consensus;
pub mod envelope;
pub mod failover;
pub mod gather;
pub mod mapping;
pub mod plan;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::Response;
use tokio::time::Instant;

use crate::body::Body;
use crate::cache::{Cached, Lookup, wait};
use crate::cluster::cache::Obtained;
use crate::config::model::{NormalizedRoute, ProviderKind};
use crate::derive::Shaping;
use crate::error::{ErrorKind, ProxyError};
use crate::gateway::{Gateway, Served, Via};
use crate::normalize::params::OpRequest;
use crate::routing::pattern::Params;
use crate::snapshot::{PoolRt, RouteRt, Snapshot};
use crate::upstream::exchange::Exchange;
use aliases::Renames;
use envelope::{CacheResult, Meta, respond};

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

/// A cache lookup's result, as counted in `marketgate_cache_requests_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CacheEvent {
    Hit,
    Coalesced,
    Miss,
    Stale,
    Shared,
}

impl CacheEvent {
    fn as_str(self) -> &'static str {
        match self {
            Self::Hit => "hit",
            Self::Coalesced => "coalesced",
            Self::Miss => "miss",
            Self::Stale => "stale",
            Self::Shared => "shared",
        }
    }
}

/// Serves a normalized route.
pub async fn serve(gw: &Gateway, snap: &Arc<Snapshot>, call: Call<'_>) -> Result<(Response<Body>, Served), ProxyError> {
    let Some((route, pool)) = call.route.normalized() else {
        return Err(ProxyError::new(ErrorKind::Internal, "not a normalized route"));
    };
    let label = call.route.label();
    let max_params = snap.config.server.max_query_params;
    let bad = |e: crate::normalize::params::ParamError| ProxyError::new(ErrorKind::BadRequest, e.to_string());
    let mut req = OpRequest::parse_for(route.op, route.derive, call.query, call.params, &route.defaults, max_params)
        .map_err(bad)?;
    let shaping = Shaping::prepare(route.derive, &mut req).map_err(bad)?;
    let renames = Renames::resolve(&mut req, &snap.config.aliases);
    check_known_symbols(snap, pool, &req)?;
    let operation = route.derive.map_or(route.op.as_str(), |d| d.as_str());
    let out = Out { req: &req, renames: &renames, operation };
    let deadline = Instant::now() + route.deadline.unwrap_or(snap.config.server.deadline);
    let fetch = Fetch { gw, snap, label, route, pool, req: &req, deadline, via: call.via, shaping: &shaping };
    let Some(ttl) = route.cache else {
        let answer = fetch.run().await?;
        let (resp, served, _) = out.fresh(&answer, None);
        return Ok((resp, served));
    };
    // The shaping's part: a derived route fetches more than it shows.
    let key = format!("{label}|{}{}", req.cache_key(), shaping.key());
    let count = |event: CacheEvent| gw.metrics.cache_requests.with_label_values(&[label, event.as_str()]).inc();
    loop {
        match gw.cache.lookup(&key, Instant::now()) {
            Lookup::Fresh(c) => {
                count(CacheEvent::Hit);
                return Ok(out.cached(&c, CacheResult::Hit, ttl));
            }
            Lookup::Wait(rx) => match wait(rx).await {
                Some(Ok(c)) => {
                    count(CacheEvent::Coalesced);
                    return Ok(out.cached(&c, CacheResult::Hit, ttl));
                }
                Some(Err(e)) => return stale_or(gw, &key, out, ProxyError::clone(&e), route, label),
                None => continue,
            },
            Lookup::Lead(lead) => {
                let max_stale = route.max_stale.unwrap_or(Duration::ZERO);
                // Another replica may have the answer, or be fetching it.
                let fill = match gw.cluster() {
                    Some(c) => match c.obtain(&key, deadline).await {
                        Obtained::Hit(shared) => {
                            count(CacheEvent::Shared);
                            // Kept as long as it would have been here: the cache counts
                            // from when it was fetched, not from now.
                            let shared = Arc::new(shared);
                            gw.cache.finish(lead, Ok(Arc::clone(&shared)), ttl, max_stale, true);
                            return Ok(out.cached(&shared, CacheResult::Hit, ttl));
                        }
                        Obtained::Lead(lock) => Some((c, lock)),
                        Obtained::Unavailable => None,
                    },
                    None => None,
                };
                count(CacheEvent::Miss);
                return match fetch.run().await {
                    Ok(answer) => {
                        let (resp, served, data) = out.fresh(&answer, Some(ttl.as_secs()));
                        let cached = Arc::new(Cached {
                            data,
                            order: answer.payload.price_symbols().iter().map(|s| (*s).to_owned()).collect(),
                            missing: answer.missing.clone(),
                            provider: answer.provider.clone(),
                            host: answer.host.clone(),
                            fetched: Instant::now(),
                            extra: answer.extra.clone(),
                        });
                        let complete = answer.missing.is_empty();
                        if let Some((c, lock)) = fill {
                            if complete {
                                c.fill(lock, &cached, ttl, max_stale).await;
                            } else {
                                c.release(lock).await;
                            }
                        }
                        gw.cache.finish(lead, Ok(cached), ttl, max_stale, complete);
                        Ok((resp, served))
                    }
                    Err(e) => {
                        if let Some((c, lock)) = fill {
                            c.release(lock).await;
                        }
                        gw.cache.finish(lead, Err(Arc::new(e.clone())), ttl, max_stale, false);
                        match stale_or(gw, &key, out, e, route, label) {
                            Err(e) => shared_stale(gw, &key, out, e, route, label).await,
                            served => served,
                        }
                    }
                };
            }
        }
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
}

impl Fetch<'_> {
    async fn run(&self) -> Result<failover::Answer, ProxyError> {
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
                let mut extra = answer.extra.as_deref().cloned().unwrap_or_default();
                extra.insert("served".into(), served);
                answer.extra = Some(Arc::new(extra));
            }
        }
        self.shaping.apply(&mut answer);
        Ok(answer)
    }
}

/// How answers are written for one request.
#[derive(Clone, Copy)]
struct Out<'a> {
    req: &'a OpRequest,
    renames: &'a Renames,
    /// `meta.operation`: the route's op, or what it derives.
    operation: &'static str,
}

impl Out<'_> {
    /// The response to a fresh answer, and the payload bytes to cache (under the
    /// canonical tickers).
    fn fresh(self, answer: &failover::Answer, max_age: Option<u64>) -> (Response<Body>, Served, Bytes) {
        let data = Bytes::from(serde_json::to_vec(&answer.payload).unwrap_or_default());
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
        let resp = respond(&self.renames.apply(&data), &m, CacheResult::Miss, max_age);
        let cache = max_age.map(|_| CacheResult::Miss);
        let served = Served { provider: Some(answer.provider.as_str().into()), attempts: reached, cache };
        (resp, served, data)
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

/// stale-if-error: the last good answer within `max_stale`, else the error.
fn stale_or(
    gw: &Gateway,
    key: &str,
    out: Out<'_>,
    error: ProxyError,
    route: &NormalizedRoute,
    label: &str,
) -> Result<(Response<Body>, Served), ProxyError> {
    match gw.cache.stale(key, Instant::now()).filter(|_| stale_allowed(route, &error)) {
        Some(c) => Ok(serve_stale(gw, label, out, &c, &error, "this replica's")),
        None => Err(error),
    }
}

/// stale-if-error from the cluster: the last good answer another replica stored, when
/// this replica has none.
async fn shared_stale(
    gw: &Gateway,
    key: &str,
    out: Out<'_>,
    error: ProxyError,
    route: &NormalizedRoute,
    label: &str,
) -> Result<(Response<Body>, Served), ProxyError> {
    let Some(c) = gw.cluster().filter(|_| stale_allowed(route, &error)) else { return Err(error) };
    match c.stale(key).await {
        Some(stale) => Ok(serve_stale(gw, label, out, &stale, &error, "another replica's")),
        None => Err(error),
    }
}

/// A route with `max_stale` serves stale answers when providers fail, never for a bad
/// request.
fn stale_allowed(route: &NormalizedRoute, error: &ProxyError) -> bool {
    route.max_stale.is_some() && error.kind != ErrorKind::BadRequest
}

fn serve_stale(
    gw: &Gateway,
    label: &str,
    out: Out<'_>,
    c: &Cached,
    error: &ProxyError,
    whose: &str,
) -> (Response<Body>, Served) {
    gw.metrics.cache_requests.with_label_values(&[label, CacheEvent::Stale.as_str()]).inc();
    let age_ms = c.fetched.elapsed().as_millis() as u64;
    tracing::warn!(route = label, error = %error.message, age_ms, "every provider failed; serving {whose} stale answer");
    out.cached(c, CacheResult::Stale, Duration::ZERO)
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
