//! One normalized attempt on one host: build the upstream request(s) from the template,
//! send, read the body (capped), map it with jq off the async workers when it is large,
//! and check it against the operation's schema. Every failure is an [`Failure`] with an
//! outcome class and a detail naming provider, operation and the offending JSON path.

use std::time::{Duration, SystemTime};

use bytes::Bytes;
use futures_util::future::try_join_all;
use http::{HeaderMap, HeaderValue, Request, header};

use super::plan::{Plan, PlannedRequest, marketgate_path};
use crate::breaker::Outcome;
use crate::config::model::{OpMapping, ProviderKind};
use crate::normalize::jq::JqRunError;
use crate::normalize::params::OpRequest;
use crate::normalize::schema::Payload;
use crate::proxy::body::{ReadError, empty, read_capped};
use crate::proxy::{auth, quota};
use crate::snapshot::{HostRt, ProviderRt, Snapshot};
use crate::upstream::client::{SendError, describe};
use crate::upstream::retry_after;

/// Bodies larger than this are mapped on the blocking pool.
const BLOCKING_THRESHOLD: usize = 64 * 1024;

/// A failed attempt.
#[derive(Debug, Clone)]
pub struct Failure {
    /// Outcome class.
    pub outcome: Outcome,
    /// What went wrong (no secrets).
    pub detail: String,
    /// Bench duration for rate limits.
    pub retry_after: Option<Duration>,
    /// HTTP status, when one arrived.
    pub status: Option<u16>,
    /// The body exceeded `max_upstream_body`.
    pub too_large: bool,
}

/// Everything an attempt needs besides the host.
pub struct AttemptCtx<'a> {
    /// The snapshot (client, limits).
    pub snap: &'a Snapshot,
    /// The provider.
    pub provider: &'a ProviderRt,
    /// The plan for this provider.
    pub plan: &'a Plan,
    /// The normalized request.
    pub req: &'a OpRequest,
    /// Metrics (key set-aside).
    pub metrics: &'a crate::metrics::Metrics,
    /// Current time in ms, for schema checks.
    pub now_ms: i64,
}

// === impl Failure ===

impl Failure {
    /// A failure that says nothing about the host (counted as `http_4xx`: the request
    /// did not suit this provider).
    pub fn neutral(detail: impl Into<String>) -> Self {
        Self::new(Outcome::Http4xx, detail)
    }

    fn new(outcome: Outcome, detail: impl Into<String>) -> Self {
        Self { outcome, detail: detail.into(), retry_after: None, status: None, too_large: false }
    }
}

/// Runs the attempt within `timeout` (send, body and mapping included).
pub async fn run(cx: &AttemptCtx<'_>, host: &HostRt, timeout: Duration) -> Result<Payload, Failure> {
    match tokio::time::timeout(timeout, attempt(cx, host, timeout)).await {
        Ok(result) => result,
        Err(_) => Err(Failure::new(Outcome::Timeout, format!("no complete answer within {} ms", timeout.as_millis()))),
    }
}

async fn attempt(cx: &AttemptCtx<'_>, host: &HostRt, timeout: Duration) -> Result<Payload, Failure> {
    let provider = cx.provider;
    let mapping = match provider.cfg.kind {
        ProviderKind::Rest => provider.cfg.ops.get(&cx.req.op),
        ProviderKind::Marketgate => None,
    };
    let outputs =
        try_join_all(cx.plan.requests.iter().map(|planned| one_request(cx, host, mapping, planned, timeout))).await?;
    let json = if outputs.len() == 1 { outputs.into_iter().next().unwrap_or_default() } else { concat(outputs)? };
    let op = cx.req.op;
    Payload::from_json(&json, cx.req, cx.now_ms).map_err(|e| {
        Failure::new(
            Outcome::BadBody,
            format!("{} {op}: mapped output does not fit the schema: {e}", provider.cfg.name),
        )
    })
}

async fn one_request(
    cx: &AttemptCtx<'_>,
    host: &HostRt,
    mapping: Option<&OpMapping>,
    planned: &PlannedRequest,
    timeout: Duration,
) -> Result<String, Failure> {
    let provider = cx.provider;
    let mut headers = HeaderMap::new();
    headers.insert(header::ACCEPT, HeaderValue::from_static("application/json"));
    headers.insert(header::ACCEPT_ENCODING, HeaderValue::from_static("identity"));
    if let Ok(ua) = HeaderValue::from_str(&cx.snap.config.upstream.user_agent) {
        headers.insert(header::USER_AGENT, ua);
    }
    let mut pq = match mapping {
        Some(m) => {
            for (name, tpl) in &m.request.headers {
                if let Ok(v) = HeaderValue::from_str(&planned.vars.header(tpl)) {
                    headers.insert(name.clone(), v);
                }
            }
            planned.vars.path_and_query(&m.request.path, &m.request.query)
        }
        None => {
            headers.insert(crate::proxy::headers::X_MARKETGATE_FORWARDED, HeaderValue::from_static("1"));
            marketgate_path(cx.req, &cx.plan.symbols)
        }
    };
    let (key_index, key_query) = auth::apply(provider, &mut headers);
    auth::append_query(&mut pq, key_query);
    let uri = host.url.join(&pq).map_err(|e| Failure::new(Outcome::Http4xx, e.to_string()))?;
    let mut up = Request::new(empty());
    *up.uri_mut() = uri;
    *up.headers_mut() = headers;
    let resp = cx.snap.client.send(up, timeout).await.map_err(|e| match e {
        SendError::Timeout(_) => Failure::new(Outcome::Timeout, describe(&e)),
        SendError::Connect(_) | SendError::Broken(_) => Failure::new(Outcome::ConnectError, describe(&e)),
    })?;
    let status = resp.status().as_u16();
    quota::sync_from_headers(provider, resp.headers());
    if !(200..300).contains(&status) {
        if let (Some(i), 401 | 403) = (key_index, status) {
            auth::set_aside(provider, i, status, cx.metrics);
        }
        let retry = resp
            .headers()
            .get(header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| retry_after::parse(v, SystemTime::now()));
        let mut f = Failure::new(Outcome::from_status(status), format!("HTTP {status}"));
        f.retry_after = retry;
        f.status = Some(status);
        return Err(f);
    }
    let limit = cx.snap.config.server.max_upstream_body;
    let body = read_capped(resp.into_body(), limit).await.map_err(|e| match e {
        ReadError::TooLarge { .. } => Failure {
            too_large: true,
            ..Failure::new(Outcome::BadBody, format!("body larger than max_upstream_body ({limit} bytes)"))
        },
        ReadError::Broken(m) => Failure::new(Outcome::ConnectError, m),
    })?;
    match mapping {
        Some(m) => map(m, body, planned, provider, cx.req).await,
        None => unwrap_envelope(&body, provider),
    }
}

async fn map(
    m: &OpMapping,
    body: Bytes,
    planned: &PlannedRequest,
    provider: &ProviderRt,
    req: &OpRequest,
) -> Result<String, Failure> {
    let program = m.response.clone();
    let globals = planned.globals.clone();
    let prefilter = m.prefilter.clone();
    let ids: Vec<String> = globals[2]
        .as_array()
        .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect())
        .unwrap_or_default();
    let large = body.len() > BLOCKING_THRESHOLD;
    let work = move || match prefilter.apply(&body, &ids) {
        Some(filtered) => program.run(&filtered, &globals),
        None => program.run(&body, &globals),
    };
    // Large bodies cost milliseconds of CPU: keep them off the request workers.
    let result = if large {
        tokio::task::spawn_blocking(work)
            .await
            .unwrap_or_else(|e| Err(JqRunError::Raised(format!("mapping task failed: {e}"))))
    } else {
        work()
    };
    let name = &provider.cfg.name;
    result.map_err(|e| match &e {
        JqRunError::Raised(text) => raised(name, req, text),
        _ => Failure::new(Outcome::BadBody, format!("{name} {}: {e}", req.op)),
    })
}

/// A mapping's `error(...)`: `{"outcome":"rate_limited","retry_after":N}` benches the
/// provider; anything else is a bad body.
fn raised(name: &str, req: &OpRequest, text: &str) -> Failure {
    let value: Option<serde_json::Value> =
        serde_json::from_str(text.trim_start_matches("error: ")).ok().or_else(|| {
            let start = text.find('{')?;
            serde_json::from_str(&text[start..]).ok()
        });
    if let Some(obj) = value.as_ref().and_then(|v| v.as_object()) {
        let message = obj.get("message").and_then(|m| m.as_str()).unwrap_or("provider error").to_owned();
        if obj.get("outcome").and_then(|o| o.as_str()) == Some("rate_limited") {
            let mut f = Failure::new(Outcome::RateLimited, format!("{name} {}: {message}", req.op));
            f.retry_after = obj
                .get("retry_after")
                .and_then(serde_json::Value::as_u64)
                .map(|s| Duration::from_secs(s).min(crate::upstream::retry_after::MAX_BENCH));
            return f;
        }
        return Failure::new(Outcome::BadBody, format!("{name} {}: provider error: {message}", req.op));
    }
    let text = match value {
        Some(serde_json::Value::String(s)) => s,
        _ => text.to_owned(),
    };
    Failure::new(Outcome::BadBody, format!("{name} {}: {text}", req.op))
}

/// Another marketgate's envelope: `data` is the payload.
fn unwrap_envelope(body: &[u8], provider: &ProviderRt) -> Result<String, Failure> {
    let v: serde_json::Value = serde_json::from_slice(body)
        .map_err(|e| Failure::new(Outcome::BadBody, format!("{}: body is not JSON: {e}", provider.cfg.name)))?;
    match v.get("data") {
        Some(data) => Ok(data.to_string()),
        None => Err(Failure::new(Outcome::BadBody, format!("{}: envelope has no data", provider.cfg.name))),
    }
}

/// Joins per-symbol outputs: arrays are concatenated, single objects collected.
fn concat(outputs: Vec<String>) -> Result<String, Failure> {
    let mut all = Vec::new();
    for text in outputs {
        match serde_json::from_str::<serde_json::Value>(&text) {
            Ok(serde_json::Value::Array(items)) => all.extend(items),
            Ok(other) => all.push(other),
            Err(e) => {
                return Err(Failure::new(Outcome::BadBody, format!("mapping output is not JSON: {e}")));
            }
        }
    }
    Ok(serde_json::Value::Array(all).to_string())
}
