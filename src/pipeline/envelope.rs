//! The normalized response: `{"data": ..., "meta": {...}}` with the
//! `x-marketgate-provider` and `x-marketgate-cache` headers.

use http::{HeaderValue, Response, StatusCode, header};
use serde::Serialize;

use super::failover::Answer;
use crate::normalize::params::OpRequest;
use crate::normalize::schema::Payload;
use crate::proxy::attempts::AttemptRecord;
use crate::proxy::error::json_response;
use crate::upstream::client::Body;

/// How the answer relates to the cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheView {
    /// `hit`, `miss` or `stale`.
    pub result: &'static str,
    /// Age of the cached answer, ms.
    pub age_ms: u64,
    /// Seconds the answer stays fresh (Cache-Control max-age), when cached.
    pub max_age_s: Option<u64>,
}

#[derive(Serialize)]
struct Envelope<'a> {
    data: &'a Payload,
    meta: Meta<'a>,
}

#[derive(Serialize)]
struct Meta<'a> {
    operation: &'static str,
    provider: &'a str,
    host: &'a str,
    cached: bool,
    stale: bool,
    age_ms: u64,
    attempts: usize,
    missing: &'a [String],
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    tried: &'a [AttemptRecord],
}

// === impl CacheView ===

impl CacheView {
    /// A fresh answer; `cacheable` says whether the route caches at all.
    pub fn miss(cacheable: bool) -> Self {
        Self { result: "miss", age_ms: 0, max_age_s: cacheable.then_some(0) }
    }
}

/// Builds the envelope response.
pub fn respond(req: &OpRequest, answer: &Answer, cache: CacheView) -> Response<Body> {
    let failed: Vec<AttemptRecord> = answer.attempts.iter().filter(|a| a.outcome != "ok").cloned().collect();
    let env = Envelope {
        data: &answer.payload,
        meta: Meta {
            operation: req.op.as_str(),
            provider: &answer.provider,
            host: &answer.host,
            cached: cache.result == "hit",
            stale: cache.result == "stale",
            age_ms: cache.age_ms,
            attempts: answer.attempts.iter().filter(|a| a.host.is_some()).count(),
            missing: &answer.missing,
            tried: &failed,
        },
    };
    let mut resp = json_response(StatusCode::OK, serde_json::to_vec(&env).unwrap_or_default());
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&answer.provider) {
        h.insert("x-marketgate-provider", v);
    }
    h.insert("x-marketgate-cache", HeaderValue::from_static(cache.result));
    let cc = match cache.max_age_s {
        Some(s) if cache.result != "stale" && s > 0 => format!("max-age={s}"),
        _ => "no-store".to_owned(),
    };
    if let Ok(v) = HeaderValue::from_str(&cc) {
        h.insert(header::CACHE_CONTROL, v);
    }
    resp
}
