//! Raw passthrough `ANY /raw/<provider>/<path>?<query>`: host rotation with breakers,
//! bodies streamed both ways, status and body as the provider sent them.
//!
//! A host that refuses, resets, times out or answers 5xx is retried at once on the next
//! host: GET and HEAD always, other methods only while the request body was never read.

use std::sync::Arc;

use http::{HeaderValue, Method, Request, Response};
use hyper::body::{Body as _, Incoming};
use tokio::time::Instant;

use super::attempts::{AttemptRecord, HostCursor, Report};
use super::body::{SharedBody, empty, stream};
use super::error::{ErrorKind, ProxyError};
use super::service::Served;
use super::{auth, headers, quota};
use crate::app::AppState;
use crate::breaker::Outcome;
use crate::snapshot::{HostRt, ProviderRt, Snapshot};
use crate::upstream::client::{Body, SendError, describe};
use crate::upstream::retry_after;

/// Forwards a raw request to `provider_name`.
pub async fn serve(
    state: &AppState,
    snap: &Arc<Snapshot>,
    provider_name: &str,
    rest: &str,
    req: Request<Incoming>,
) -> Result<(Response<Body>, Served), ProxyError> {
    let Some(provider) = snap.provider(provider_name) else {
        let msg = format!("no provider named {:?} is configured", super::service::truncate(provider_name, 40));
        return Err(ProxyError::new(ErrorKind::UnknownProvider, msg));
    };
    if let Some(reason) = &provider.cfg.disabled {
        let record = AttemptRecord::skipped(provider_name, Outcome::Disabled, reason.clone());
        return Err(ProxyError::with_attempts(
            ErrorKind::NoProviderAvailable,
            format!("provider {provider_name} is disabled: {reason}"),
            vec![record],
        ));
    }
    let path_and_query = safe_path(rest, req.uri().query())?;
    let server = &snap.config.server;
    super::body::check_declared_length(req.headers(), server.max_request_body)?;
    let deadline = Instant::now() + server.deadline;
    if let Some(bench) = provider.state.benched(Instant::now()) {
        let secs = bench.until.saturating_duration_since(Instant::now()).as_secs() + 1;
        let record = AttemptRecord::skip(
            provider,
            Outcome::Unavailable,
            format!("rate-limited: benched after HTTP {}", bench.status),
        );
        let mut e = ProxyError::with_attempts(
            ErrorKind::NoProviderAvailable,
            format!("provider {provider_name} is rate-limited"),
            vec![record],
        );
        e.retry_after = Some(secs);
        return Err(e);
    }
    if !quota::take(provider, 1, &state.metrics) {
        let record = AttemptRecord::skip(provider, Outcome::OverQuota, "request budget spent for this window");
        return Err(ProxyError::with_attempts(
            ErrorKind::NoProviderAvailable,
            format!("provider {provider_name} is over its quota"),
            vec![record],
        ));
    }
    forward(state, snap, provider, &path_and_query, req, deadline).await
}

async fn forward(
    state: &AppState,
    snap: &Snapshot,
    provider: &ProviderRt,
    path_and_query: &str,
    req: Request<Incoming>,
    deadline: Instant,
) -> Result<(Response<Body>, Served), ProxyError> {
    let (parts, body) = req.into_parts();
    let idempotent = parts.method == Method::GET || parts.method == Method::HEAD;
    let limit = snap.config.server.max_request_body;
    let shared = (!body.is_end_stream()).then(|| SharedBody::new(body, limit));
    let base_headers = headers::for_upstream(parts.headers);
    let mut cursor = HostCursor::new(provider);
    let mut attempts: Vec<AttemptRecord> = Vec::new();
    let mut last_5xx: Option<(Response<Incoming>, &HostRt)> = None;
    let mut deadline_hit = false;
    state.budget.record_request(Instant::now());
    while let Some(admitted) = cursor.next_admitted(&state.metrics) {
        if !attempts.is_empty() && !state.budget.try_retry(Instant::now()) {
            admitted.release();
            state.metrics.retry_budget_exhausted.with_label_values(&["raw"]).inc();
            attempts.push(AttemptRecord::skipped(
                &provider.cfg.name,
                Outcome::Unavailable,
                "retry budget exhausted: no further attempts",
            ));
            break;
        }
        let remaining = deadline.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            deadline_hit = true;
            break;
        }
        let mut hdrs = base_headers.clone();
        let (_, key_query) = auth::apply(provider, &mut hdrs);
        let mut pq = path_and_query.to_owned();
        auth::append_query(&mut pq, key_query);
        let uri = admitted.host.url.join(&pq).map_err(|e| ProxyError::new(ErrorKind::BadRequest, e.to_string()))?;
        let body = shared.as_ref().map_or_else(empty, SharedBody::for_attempt);
        let mut up = Request::new(body);
        *up.method_mut() = parts.method.clone();
        *up.uri_mut() = uri;
        *up.headers_mut() = hdrs;
        let host = admitted.host;
        let timeout = provider.cfg.attempt_timeout.min(remaining);
        let body_sent = || shared.as_ref().is_some_and(SharedBody::was_polled);
        match snap.client.send(up, timeout).await {
            Ok(resp) => {
                let status = resp.status().as_u16();
                let outcome = Outcome::from_status(status);
                quota::sync_from_headers(provider, resp.headers());
                // A 401/403 on a client-chosen raw path may be that path's own rule (a
                // plan-restricted endpoint), so raw answers never set a key aside; the
                // configured normalized requests do.
                let retry = (outcome == Outcome::RateLimited).then(|| {
                    resp.headers()
                        .get(http::header::RETRY_AFTER)
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| retry_after::parse(v, std::time::SystemTime::now()))
                });
                let report = Report {
                    detail: Some(format!("HTTP {status}")),
                    retry_after: retry.flatten(),
                    status: Some(status),
                };
                attempts.push(admitted.finish(outcome, report));
                if outcome == Outcome::Http5xx && idempotent {
                    last_5xx = Some((resp, host));
                    continue;
                }
                return Ok(respond(provider, host, resp, attempts.len()));
            }
            Err(e) => {
                let outcome = match e {
                    SendError::Timeout(_) => Outcome::Timeout,
                    SendError::Connect(_) | SendError::Broken(_) => Outcome::ConnectError,
                };
                let retryable = idempotent || (matches!(e, SendError::Connect(_)) && !body_sent());
                attempts.push(admitted.finish(outcome, Report { detail: Some(describe(&e)), ..Report::default() }));
                if !retryable {
                    break;
                }
            }
        }
    }
    if let Some((resp, host)) = last_5xx {
        return Ok(respond(provider, host, resp, attempts.len()));
    }
    let name = &provider.cfg.name;
    if deadline_hit {
        return Err(ProxyError::with_attempts(
            ErrorKind::DeadlineExceeded,
            format!("deadline passed after {} attempts", attempts.len()),
            attempts,
        ));
    }
    if attempts.is_empty() {
        let mut e = ProxyError::with_attempts(
            ErrorKind::NoProviderAvailable,
            format!("every host of {name} has an open breaker"),
            vec![AttemptRecord::skipped(name, Outcome::Unavailable, "all breakers open")],
        );
        e.retry_after = Some(1);
        return Err(e);
    }
    Err(ProxyError::with_attempts(ErrorKind::AllProvidersFailed, format!("every host of {name} failed"), attempts))
}

fn respond(
    provider: &ProviderRt,
    host: &HostRt,
    resp: Response<Incoming>,
    attempts: usize,
) -> (Response<Body>, Served) {
    let (mut parts, body) = resp.into_parts();
    headers::strip_hop_by_hop(&mut parts.headers);
    // The client's protocol is marketgate's business, not the upstream's (HTTP/1.0, h2).
    parts.version = http::Version::HTTP_11;
    if let Ok(v) = HeaderValue::from_str(&provider.cfg.name) {
        parts.headers.insert(headers::X_MARKETGATE_PROVIDER, v);
    }
    if let Ok(v) = HeaderValue::from_str(host.url.label()) {
        parts.headers.insert(headers::X_MARKETGATE_HOST, v);
    }
    let served = Served { provider: Some(provider.cfg.name.clone()), attempts, cache: None };
    (Response::from_parts(parts, stream(body)), served)
}

/// Builds the upstream path from the `{*path}` tail and the query. Refuses anything that
/// could leave the provider's base path: `.`/`..` segments (plain or encoded), encoded
/// slashes or backslashes, control characters.
pub fn safe_path(rest: &str, query: Option<&str>) -> Result<String, ProxyError> {
    let refuse = |why: &str| Err(ProxyError::new(ErrorKind::BadRequest, format!("path refused: {why}")));
    for segment in rest.split('/') {
        let decoded = percent_encoding::percent_decode_str(segment).collect::<Vec<u8>>();
        if decoded == b"." || decoded == b".." {
            return refuse("'.' and '..' segments cannot leave the provider's base path");
        }
        if decoded.iter().any(|b| *b == b'/' || *b == b'\\') {
            return refuse("encoded slashes and backslashes are not allowed");
        }
        if decoded.iter().any(|b| b.is_ascii_control()) {
            return refuse("control characters are not allowed");
        }
    }
    let mut out = format!("/{rest}");
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn safe_paths_pass_and_escapes_are_refused() {
        assert_eq!(safe_path("api/v3/ping", None).expect("ok"), "/api/v3/ping");
        assert_eq!(safe_path("api/v3/klines", Some("symbol=BTCUSDT")).expect("ok"), "/api/v3/klines?symbol=BTCUSDT");
        for bad in ["..", "api/../x", "api/%2e%2e/x", "api/%2E./x", "a%2Fb", "a%5cb", "a/./b", "a%00b"] {
            let e = safe_path(bad, None).expect_err(bad);
            assert_eq!(e.kind, ErrorKind::BadRequest, "{bad}");
        }
    }
}
