//! The cache around a normalized request's failover run: a hit, a wait for an identical
//! request in flight, or the lead of the fetch (here and across replicas), and
//! stale-if-error when every provider failed.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::time::Instant;

use super::envelope::CacheResult;
use super::{Fetch, Reply};
use crate::cache::{Cached, Lookup, wait};
use crate::cluster::cache::Obtained;
use crate::config::model::NormalizedRoute;
use crate::error::{ErrorKind, ProxyError};
use crate::gateway::Gateway;
use crate::metrics::handles::RouteHandles;

/// A cache lookup's result, as counted in `marketgate_cache_requests_total` (the
/// discriminant indexes the route's cached counters).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum CacheEvent {
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

/// Counts a cache lookup's result on the route's metrics.
pub(super) fn count_lookup(gw: &Gateway, handles: &RouteHandles, label: &str, event: CacheEvent) {
    handles.cache_lookup(&gw.metrics, label, event as usize, event.as_str());
}

/// The cache around a failover run (none when the route does not cache: no `key`).
pub(super) async fn cached_or_fetched(run: &Fetch<'_>, key: Option<&str>) -> Result<Reply, ProxyError> {
    let (gw, route, label) = (run.gw, run.route, run.label);
    let (Some(ttl), Some(key)) = (route.cache, key) else {
        let answer = run.run().await?;
        let data = Bytes::from(serde_json::to_vec(&answer.payload).unwrap_or_default());
        return Ok(Reply::Fresh { answer: Box::new(answer), data, ttl: None });
    };
    let count = |event: CacheEvent| count_lookup(gw, run.handles, label, event);
    let hit = |entry: Arc<Cached>| Reply::Cached { entry, result: CacheResult::Hit, ttl };
    loop {
        match gw.cache.lookup(key, Instant::now()) {
            Lookup::Fresh(c) => {
                count(CacheEvent::Hit);
                return Ok(hit(c));
            }
            Lookup::Wait(rx) => match wait(rx).await {
                Some(Ok(c)) => {
                    count(CacheEvent::Coalesced);
                    return Ok(hit(c));
                }
                Some(Err(e)) => return stale_or(run, key, ProxyError::clone(&e), StaleFrom::Here).await,
                None => continue,
            },
            Lookup::Lead(lead) => {
                let max_stale = route.max_stale.unwrap_or(Duration::ZERO);
                // Another replica may have the answer, or be fetching it.
                let fill = match gw.cluster() {
                    Some(c) => match c.obtain(key, run.deadline, ttl).await {
                        Obtained::Hit(shared) => {
                            count(CacheEvent::Shared);
                            // Kept as long as it would have been here: the cache counts
                            // from when it was fetched, not from now.
                            let shared = Arc::new(shared);
                            gw.cache.finish(lead, Ok(Arc::clone(&shared)), ttl, max_stale, true);
                            return Ok(hit(shared));
                        }
                        Obtained::Lead(lock) => Some((c, lock)),
                        Obtained::Unavailable => None,
                    },
                    None => None,
                };
                count(CacheEvent::Miss);
                return match run.run().await {
                    Ok(answer) => {
                        let data = Bytes::from(serde_json::to_vec(&answer.payload).unwrap_or_default());
                        let cached = Arc::new(Cached {
                            data: data.clone(),
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
                        Ok(Reply::Fresh { answer: Box::new(answer), data, ttl: Some(ttl) })
                    }
                    Err(e) => {
                        if let Some((c, lock)) = fill {
                            c.release(lock).await;
                        }
                        gw.cache.finish(lead, Err(Arc::new(e.clone())), ttl, max_stale, false);
                        stale_or(run, key, e, StaleFrom::HereOrCluster).await
                    }
                };
            }
        }
    }
}

/// Where a stale answer may come from.
#[derive(Clone, Copy, PartialEq, Eq)]
enum StaleFrom {
    /// This replica's cache only (a request that waited on another's fetch).
    Here,
    /// This replica's cache, else the cluster's (the request that led the fetch).
    HereOrCluster,
}

/// stale-if-error: the last good answer within `max_stale` (this replica's, then
/// another replica's when `from` allows), else the error.
async fn stale_or(run: &Fetch<'_>, key: &str, error: ProxyError, from: StaleFrom) -> Result<Reply, ProxyError> {
    let gw = run.gw;
    if !stale_allowed(run.route, &error) {
        return Err(error);
    }
    if let Some(c) = gw.cache.stale(key, Instant::now()) {
        return Ok(serve_stale(run, c, &error, "this replica's"));
    }
    let Some(cluster) = gw.cluster().filter(|_| from == StaleFrom::HereOrCluster) else { return Err(error) };
    match cluster.stale(key).await {
        Some(stale) => Ok(serve_stale(run, Arc::new(stale), &error, "another replica's")),
        None => Err(error),
    }
}

/// A route with `max_stale` serves stale answers when providers fail, never for a bad
/// request.
fn stale_allowed(route: &NormalizedRoute, error: &ProxyError) -> bool {
    route.max_stale.is_some() && error.kind != ErrorKind::BadRequest
}

fn serve_stale(run: &Fetch<'_>, c: Arc<Cached>, error: &ProxyError, whose: &str) -> Reply {
    count_lookup(run.gw, run.handles, run.label, CacheEvent::Stale);
    let age_ms = c.fetched.elapsed().as_millis() as u64;
    tracing::warn!(route = run.label, error = %error.message, age_ms, "every provider failed; serving {whose} stale answer");
    Reply::Cached { entry: c, result: CacheResult::Stale, ttl: Duration::ZERO }
}
