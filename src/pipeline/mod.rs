//! The normalized request path: parse the query, check symbols, run the failover loop
//! (with the response cache in front when the route has one), wrap the answer in the
//! envelope. Phases: parse -> known symbols -> cache -> failover -> envelope.

pub mod attempt;
pub mod envelope;
pub mod failover;
pub mod plan;

use std::sync::Arc;

use http::Response;
use tokio::time::Instant;

use crate::app::AppState;
use crate::config::model::{NormalizedRoute, ProviderKind};
use crate::normalize::params::OpRequest;
use crate::proxy::error::{ErrorKind, ProxyError};
use crate::proxy::service::Served;
use crate::routing::pattern::Params;
use crate::snapshot::Snapshot;
use crate::upstream::client::Body;

/// Serves a normalized route.
pub async fn serve(
    state: &AppState,
    snap: &Arc<Snapshot>,
    route_index: usize,
    route_label: &str,
    route: &NormalizedRoute,
    query: Option<&str>,
    params: &Params,
) -> Result<(Response<Body>, Served), ProxyError> {
    let max_params = snap.config.server.max_query_params;
    let req = OpRequest::parse(route.op, query, params, &route.defaults, max_params)
        .map_err(|e| ProxyError::new(ErrorKind::BadRequest, e.to_string()))?;
    check_known_symbols(snap, route, &req)?;
    let deadline = Instant::now() + route.deadline.unwrap_or(snap.config.server.deadline);
    let run = failover::Request { state, snap, route_index, route_label, route, req: &req, deadline };
    let answer = failover::run(&run).await?;
    let served = Served {
        provider: Some(answer.provider.clone()),
        attempts: reached(&answer),
        cache: route.cache.map(|_| "miss"),
    };
    Ok((envelope::respond(&req, &answer, envelope::CacheView::miss(route.cache.is_some())), served))
}

fn reached(answer: &failover::Answer) -> usize {
    answer.attempts.iter().filter(|a| a.host.is_some()).count()
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
    let msg = format!(
        "unknown symbol{}: {} (no provider of this route has an id for it)",
        if unknown.len() > 1 { "s" } else { "" },
        unknown.join(", ")
    );
    Err(ProxyError::new(ErrorKind::UnknownSymbol, msg))
}
