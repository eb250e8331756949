//! The normalized request path. Phases: parse the query -> check the symbols -> cache
//! (hit, wait for an identical request in flight, or lead the fetch) -> failover ->
//! envelope; on failure, a stale cached answer when the route allows one.

pub mod attempt;
pub mod envelope;
pub mod failover;
pub mod picker;
pub mod plan;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::Response;
use tokio::time::Instant;

use crate::app::AppState;
use crate::cache::{Cached, Lookup, wait};
use crate::config::model::{NormalizedRoute, ProviderKind};
use crate::normalize::params::OpRequest;
use crate::proxy::error::{ErrorKind, ProxyError};
use crate::proxy::service::Served;
use crate::routing::pattern::Params;
use crate::snapshot::Snapshot;
use crate::upstream::client::Body;
use envelope::{CacheResult, meta, respond};

/// One request on a normalized route.
pub struct Call<'a> {
    /// The route's index in `config.routes` (for tier cursors).
    pub route_index: usize,
    /// The route's template (metric label).
    pub route_label: &'a str,
    /// The route.
    pub route: &'a NormalizedRoute,
    /// The raw query string.
    pub query: Option<&'a str>,
    /// Path parameters.
    pub params: &'a Params,
    /// The request came from another marketgate.
    pub forwarded: bool,
}

/// Serves a normalized route.
pub async fn serve(
    state: &AppState,
    snap: &Arc<Snapshot>,
    call: Call<'_>,
) -> Result<(Response<Body>, Served), ProxyError> {
    let Call { route_index, route_label, route, query, params, forwarded } = call;
    let max_params = snap.config.server.max_query_params;
    let req = OpRequest::parse(route.op, query, params, &route.defaults, max_params)
        .map_err(|e| ProxyError::new(ErrorKind::BadRequest, e.to_string()))?;
    check_known_symbols(snap, route, &req)?;
    let deadline = Instant::now() + route.deadline.unwrap_or(snap.config.server.deadline);
    let run = failover::Request { state, snap, route_index, route_label, route, req: &req, deadline, forwarded };
    let Some(ttl) = route.cache else {
        let answer = failover::run(&run).await?;
        return Ok(fresh(&req, &answer, None));
    };
    let key = format!("{route_label}|{}", req.cache_key());
    let count = |result: &str| state.metrics.cache_requests.with_label_values(&[route_label, result]).inc();
    loop {
        match state.cache.lookup(&key, Instant::now()) {
            Lookup::Fresh(c) => {
                count("hit");
                return Ok(from_cache(&req, &c, CacheResult::Hit, ttl));
            }
            Lookup::Wait(rx) => match wait(rx).await {
                Some(Ok(c)) => {
                    count("coalesced");
                    return Ok(from_cache(&req, &c, CacheResult::Hit, ttl));
                }
                Some(Err(e)) => return stale_or(state, &key, &req, ProxyError::clone(&e), route, route_label),
                None => continue,
            },
            Lookup::Lead(lead) => {
                count("miss");
                let max_stale = route.max_stale.unwrap_or(Duration::ZERO);
                return match failover::run(&run).await {
                    Ok(answer) => {
                        let (resp, served, data) = fresh_with_data(&req, &answer, Some(ttl.as_secs()));
                        let cached = Arc::new(Cached {
                            data,
                            order: answer.payload.price_symbols().iter().map(|s| (*s).to_owned()).collect(),
                            missing: answer.missing.clone(),
                            provider: answer.provider.clone(),
                            host: answer.host.clone(),
                            fetched: Instant::now(),
                        });
                        state.cache.finish(lead, Ok(cached), ttl, max_stale, answer.missing.is_empty());
                        Ok((resp, served))
                    }
                    Err(e) => {
                        let shared = Arc::new(e.clone());
                        state.cache.finish(lead, Err(shared), ttl, max_stale, false);
                        stale_or(state, &key, &req, e, route, route_label)
                    }
                };
            }
        }
    }
}

fn fresh(req: &OpRequest, answer: &failover::Answer, max_age: Option<u64>) -> (Response<Body>, Served) {
    let (resp, served, _) = fresh_with_data(req, answer, max_age);
    (resp, served)
}

fn fresh_with_data(
    req: &OpRequest,
    answer: &failover::Answer,
    max_age: Option<u64>,
) -> (Response<Body>, Served, Bytes) {
    let data = Bytes::from(serde_json::to_vec(&answer.payload).unwrap_or_default());
    // A partial answer is not worth keeping, here or in any cache downstream.
    let max_age = if answer.missing.is_empty() { max_age } else { None };
    let reached = answer.attempts.iter().filter(|a| a.host.is_some()).count();
    let failed: Vec<_> = answer.attempts.iter().filter(|a| a.outcome != "ok").cloned().collect();
    let m = meta(req.op, &answer.provider, &answer.host, CacheResult::Miss, 0, reached, &answer.missing, &failed);
    let resp = respond(&data, &m, CacheResult::Miss, max_age);
    let served = Served { provider: Some(answer.provider.clone()), attempts: reached, cache: max_age.map(|_| "miss") };
    (resp, served, data)
}

fn from_cache(req: &OpRequest, c: &Cached, result: CacheResult, ttl: Duration) -> (Response<Body>, Served) {
    let age = c.fetched.elapsed();
    let max_age = ttl.saturating_sub(age).as_secs();
    let m = meta(req.op, &c.provider, &c.host, result, age.as_millis() as u64, 0, &c.missing, &[]);
    let data =
        if c.order.is_empty() || c.order == req.symbols { c.data.clone() } else { reorder(&c.data, &req.symbols) };
    let max_age = c.missing.is_empty().then_some(max_age);
    let resp = respond(&data, &m, result, max_age);
    (resp, Served { provider: Some(c.provider.clone()), attempts: 0, cache: Some(result.as_str()) })
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
    state: &AppState,
    key: &str,
    req: &OpRequest,
    error: ProxyError,
    route: &NormalizedRoute,
    route_label: &str,
) -> Result<(Response<Body>, Served), ProxyError> {
    if route.max_stale.is_none() || error.kind == ErrorKind::BadRequest {
        return Err(error);
    }
    match state.cache.stale(key, Instant::now()) {
        Some(c) => {
            state.metrics.cache_requests.with_label_values(&[route_label, "stale"]).inc();
            tracing::warn!(route = route_label, error = %error.message, age_ms = c.fetched.elapsed().as_millis() as u64, "every provider failed; serving a stale answer");
            Ok(from_cache(req, &c, CacheResult::Stale, Duration::ZERO))
        }
        None => Err(error),
    }
}

/// 400 `unknown_symbol` when no provider in the route's pool knows a symbol (a pool
/// made only of other marketgates accepts any ticker: the remote decides).
fn check_known_symbols(snap: &Snapshot, route: &NormalizedRoute, req: &OpRequest) -> Result<(), ProxyError> {
    if !req.op.takes_symbols() {
        return Ok(());
    }
    let providers: Vec<_> = route.tiers.iter().flatten().filter_map(|n| snap.provider(n)).collect();
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
