//! `GET /openapi.json`: an OpenAPI 3.1 document of what the running config serves,
//! built from the config itself (every normalized route and alias with its parameters
//! and payload, the derived routes, the raw passthrough), so the spec, the server and
//! clients generated from it cannot drift apart. Built once per config snapshot.

pub mod params;
pub mod schemas;
pub mod stream;

use serde_json::{Value, json};

use crate::config::Config;
use crate::config::model::{NormalizedRoute, RouteTarget};
use crate::error::ErrorKind;
use crate::normalize::op::Operation;
use crate::routing::pattern::Pattern;

/// The document for `cfg`.
pub fn document(cfg: &Config) -> Value {
    let mut paths = serde_json::Map::new();
    for route in &cfg.routes {
        let (path, item) = match &route.target {
            RouteTarget::Normalized(n) => (openapi_path(&route.pattern), normalized(&route.pattern, n)),
            RouteTarget::Passthrough(p) => {
                (openapi_path(&route.pattern), passthrough(cfg, &route.pattern, p.as_deref()))
            }
            RouteTarget::Stream(s) => (openapi_path(&route.pattern), stream::path_item(cfg, s, &route.pattern)),
        };
        paths.insert(path, item);
    }
    let mut components = serde_json::Map::new();
    let mut all = schemas::all();
    if cfg.routes.iter().any(|r| matches!(r.target, RouteTarget::Stream(_))) {
        all.extend(stream::schemas());
    }
    components.insert("schemas".into(), Value::Object(all));
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "marketgate",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Normalized crypto market data from an ordered pool of providers, with failover, \
                            caching and circuit breakers. Generated from the running configuration \
                            (`x-marketgate-config` is its sha256).",
            "x-marketgate-config": cfg.source.sha256,
        },
        "servers": [{ "url": "/" }],
        "paths": paths,
        "components": components,
    })
}

/// `/raw/{provider}/{*path}` as OpenAPI writes it: `/raw/{provider}/{path}`.
fn openapi_path(p: &Pattern) -> String {
    p.template().replace("{*", "{")
}

fn operation_id(method: &str, p: &Pattern) -> String {
    let t: String = p.template().chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }).collect();
    let parts: Vec<&str> = t.split('_').filter(|s| !s.is_empty()).collect();
    format!("{method}_{}", parts.join("_"))
}

/// Responses every route can give besides its own.
fn errors(statuses: &[u16]) -> serde_json::Map<String, Value> {
    let mut out = serde_json::Map::new();
    for &status in statuses {
        let codes: Vec<&str> = ErrorKind::ALL
            .iter()
            .map(|k| k.status_and_code())
            .filter(|(s, _)| s.as_u16() == status)
            .map(|(_, c)| c)
            .collect();
        let mut r = json!({
            "description": format!("{}: `code` {}", reason(status), codes.iter().map(|c| format!("`{c}`")).collect::<Vec<_>>().join(", ")),
            "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } },
        });
        if status == 503 {
            r["headers"] = json!({ "Retry-After": { "description": "Seconds until a provider may be asked again", "schema": { "type": "integer" } } });
        }
        if status == 405 {
            r["headers"] =
                json!({ "Allow": { "description": "The methods the route answers", "schema": { "type": "string" } } });
        }
        out.insert(status.to_string(), r);
    }
    out
}

fn reason(status: u16) -> &'static str {
    match status {
        400 => "A parameter is missing or invalid (the message names it), or no provider knows a symbol",
        404 => "No route matches, or `/raw/<name>` names no provider",
        405 => "Normalized routes answer GET and HEAD only",
        413 => "The request body is too large",
        414 => "The request target is too long",
        429 => "This client address holds its limit of stream clients already",
        502 => "Every attempt failed (each is listed with its outcome)",
        503 => "No provider could be asked: breakers open, rate-limited, over budget or disabled",
        504 => "The request's deadline passed",
        508 => "The request came back through other marketgates",
        _ => "Error",
    }
}

fn normalized(p: &Pattern, n: &NormalizedRoute) -> Value {
    let path_params = p.param_names();
    let names = crate::normalize::params::accepted(n.op, n.derive);
    let mut parameters: Vec<Value> = Vec::new();
    for name in &path_params {
        parameters.push(params::parameter(name, n.op, n.derive, true, true));
    }
    for name in names.iter().filter(|n| !path_params.iter().any(|p| p == *n)) {
        // One symbol is required where the route gives none (price takes `symbols`
        // or `symbol`, so neither alone is).
        let required = (*name == "symbol" && n.op != Operation::Price && !n.defaults.contains_key("symbol"))
            || (*name == "q"
                && n.derive == Some(crate::normalize::op::Derive::Search)
                && !n.defaults.contains_key("q"));
        let mut param = params::parameter(name, n.op, n.derive, false, required);
        if let Some(default) = n.defaults.get(*name) {
            let typed = match param["schema"]["type"].as_str() {
                Some("integer") => default.trim().parse::<u64>().map_or_else(|_| json!(default), |v| json!(v)),
                _ => json!(default),
            };
            param["schema"]["default"] = typed;
        }
        parameters.push(param);
    }
    let data = match n.derive {
        Some(d) => schemas::derived(d),
        None => schemas::payload(n.op),
    };
    let what = n.derive.map_or(n.op.as_str(), |d| d.as_str());
    let pool: Vec<String> = n.tiers.iter().map(|t| t.join(", ")).collect();
    let mut responses = serde_json::Map::new();
    responses.insert(
        "200".into(),
        json!({
            "description": format!("The {what} answer and where it came from"),
            "headers": {
                "x-marketgate-provider": { "description": "Who answered", "schema": { "type": "string" } },
                "x-marketgate-cache": { "description": "miss, hit or stale", "schema": { "type": "string", "enum": ["miss", "hit", "stale"] } },
                "Cache-Control": { "description": "max-age of a cached answer, or no-store", "schema": { "type": "string" } }
            },
            "content": { "application/json": { "schema": {
                "type": "object", "required": ["data", "meta"],
                "properties": { "data": data, "meta": { "$ref": "#/components/schemas/Meta" } }
            } } }
        }),
    );
    let mut statuses = vec![400, 405, 413, 414, 502, 503, 504, 508];
    if !path_params.is_empty() {
        statuses.push(404);
    }
    responses.extend(errors(&statuses));
    let mut description = format!("Providers asked in order: {}.", pool.join(" → "));
    if let Some(ttl) = n.cache {
        description.push_str(&format!(" Answers are cached for {}.", crate::config::units::format_duration(ttl)));
    }
    json!({
        "get": {
            "operationId": operation_id("get", p),
            "summary": summary(n),
            "description": description,
            "tags": [if n.derive.is_some() { "derived" } else { "normalized" }],
            "parameters": parameters,
            "responses": responses,
        }
    })
}

fn summary(n: &NormalizedRoute) -> String {
    use crate::normalize::op::{Derive, Operation};
    match (n.derive, n.op) {
        (Some(Derive::Indicators), _) => "Technical indicators over the latest candles".into(),
        (Some(Derive::Movers), _) => "Largest 24 h rises and falls".into(),
        (Some(Derive::Search), _) => "Coins whose ticker, name or provider id matches, best first".into(),
        (None, Operation::Price) => "Spot prices (optionally a consensus of several providers)".into(),
        (None, Operation::Ticker) => "24 h ticker of one symbol".into(),
        (None, Operation::Ohlcv) => "Candles, oldest first".into(),
        (None, Operation::Orderbook) => "Order book of one symbol".into(),
        (None, Operation::Markets) => "Top assets by market cap".into(),
        (None, Operation::Exchanges) => "Exchanges by volume".into(),
        (None, Operation::News) => "News, newest first".into(),
        (None, Operation::Sentiment) => "Fear and greed index, newest first".into(),
        (None, Operation::Coins) => "Every coin the providers list, with their ids, by market rank".into(),
    }
}

fn passthrough(cfg: &Config, p: &Pattern, target: Option<&str>) -> Value {
    let mut parameters = Vec::new();
    for name in p.param_names() {
        let schema = if name == "provider" && target.is_none() {
            let names: Vec<&str> = cfg.providers.iter().map(|p| p.name.as_str()).collect();
            json!({ "type": "string", "enum": names })
        } else {
            json!({ "type": "string" })
        };
        let description =
            if name == "provider" { "Provider name" } else { "The provider's own path (may contain '/')" };
        parameters.push(
            json!({ "name": name, "in": "path", "required": true, "description": description, "schema": schema }),
        );
    }
    let who = target.map_or("the provider named in the path".to_owned(), |t| format!("provider {t:?}"));
    let mut responses = serde_json::Map::new();
    responses
        .insert("default".into(), json!({ "description": "The provider's response, status and body as it sent them" }));
    responses.extend(errors(&[404, 413, 414, 502, 503, 504, 508]));
    let op = |method: &str| {
        json!({
            "operationId": operation_id(method, p),
            "summary": format!("Raw passthrough to {who}"),
            "description": "Forwarded with the provider's API key, host rotation, circuit breakers and budgets; \
                            the answer is the provider's own, not normalized.",
            "tags": ["raw"],
            "parameters": parameters,
            "responses": responses,
        })
    };
    json!({ "get": op("get"), "post": op("post") })
}
