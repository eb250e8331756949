//! Raw passthrough `ANY /raw/<provider>/<path>?<query>`: the provider's hosts in
//! rotation through the candidate order and the exchange, bodies streamed both ways,
//! status and body as the provider sent them.
//!
//! A host that refuses, resets or times out is retried at once on the next host, and
//! one that answers 5xx too for GET and HEAD, but only while the client's request body
//! was never read (it cannot be sent twice). Each attempt takes its own quota weight
//! (`raw_weights` by path, else 1). A failure caused by the client's body (too large,
//! stalled, broken) is answered 413/408/400 and never counts against the host. A
//! WebSocket upgrade passes through (`upgrade.rs`) when the host answers 101.

use std::sync::Arc;

use http::{Method, Request, Response};
use hyper::body::{Body as _, Incoming};
use tokio::time::Instant;

use crate::body::Body;
use crate::body::ClientFault;
use crate::body::{SharedBody, empty};
use crate::breaker::Outcome;
use crate::candidates::admitted::AttemptRecord;
use crate::candidates::tiers::TierOrder;
use crate::candidates::{Advance, Candidates, Planned, gate};
use crate::error::{ErrorKind, ProxyError};
use crate::gateway::{Gateway, Served, Via};
use crate::headers::{self, X_MARKETGATE_HOST, X_MARKETGATE_PROVIDER};
use crate::ingress::upgrade::Pending;
use crate::policy::{Asked, Policy};
use crate::snapshot::{HostRt, ProviderRt, Snapshot};
use crate::transport::upstream_body::UpstreamResponse;
use crate::upstream::classify::Failure;
use crate::upstream::exchange::{Exchange, Outgoing, Refused};

/// Forwards a raw request to `provider`: what can be refused at once is refused here,
/// and the returned future forwards. (Not an `async fn` itself: a future is copied
/// whole each time it is wrapped, and this one would only wrap `forward`'s.)
pub fn serve<'a>(
    gw: &'a Gateway,
    snap: &'a Arc<Snapshot>,
    provider: &'a ProviderRt,
    rest: &str,
    req: Request<Incoming>,
    via: &'a Via,
) -> Result<impl Future<Output = Result<(Response<Body>, Served), ProxyError>> + Send + 'a, ProxyError> {
    let path_and_query = safe_path(rest, req.uri().query())?;
    let server = &snap.config.server;
    super::check_declared_length(req.headers(), server.max_request_body)?;
    let weight = raw_weight(provider, &path_and_query);
    let now = Instant::now();
    if let Err(skip) = gate::check(provider, weight, now) {
        let kind = ErrorKind::NoProviderAvailable;
        let mut e = ProxyError::with_attempts(
            kind,
            format!("provider {} cannot be asked now: {}", provider.cfg.name, skip.detail),
            vec![AttemptRecord::skip(provider, skip.outcome, skip.detail)],
        );
        e.retry_after = Some(skip.retry_after.map_or(1, |d| d.as_secs() + 1));
        return Err(e);
    }
    let exchange = Exchange { snap, metrics: &gw.metrics, via: gw.via_out(via), cluster: gw.cluster() };
    let client = Forwarded::take_apart(req, server.max_request_body);
    Ok(forward(gw, exchange, provider, path_and_query, weight, client, now + server.deadline))
}

/// What is forwarded of the client's request. Taken apart before the forwarding future
/// is made, so that future does not carry the whole request beside its pieces (it is
/// copied whole each time it is handed up a level, bench/future_sizes.sh).
struct Forwarded {
    /// The method.
    method: Method,
    /// The client's headers, hop-by-hop ones removed (an upgrade's put back).
    headers: http::HeaderMap,
    /// The body, when there is one, readable once per attempt until first polled.
    body: Option<SharedBody>,
    /// A WebSocket upgrade the client asked for.
    upgrade: Option<Pending>,
}

impl Forwarded {
    /// The pieces of `req` that are forwarded (a body is read up to `max_body` bytes).
    fn take_apart(mut req: Request<Incoming>, max_body: usize) -> Self {
        let upgrade = Pending::take(&mut req);
        let (parts, body) = req.into_parts();
        let body = (!body.is_end_stream()).then(|| SharedBody::new(body, max_body));
        let mut headers = headers::for_upstream(parts.headers);
        if let Some(u) = &upgrade {
            u.restore(&mut headers);
        }
        Self { method: parts.method, headers, body, upgrade }
    }
}

async fn forward(
    gw: &Gateway,
    exchange: Exchange<'_>,
    provider: &ProviderRt,
    path_and_query: String,
    weight: u32,
    mut client: Forwarded,
    deadline: Instant,
) -> Result<(Response<Body>, Served), ProxyError> {
    let snap = exchange.snap;
    let idempotent = client.method == Method::GET || client.method == Method::HEAD;
    let mut candidates = Candidates::new(TierOrder::one(snap, provider), &gw.metrics).every_host();
    let mut planner = |_: &ProviderRt| -> Planned<()> { Ok(((), weight)) };
    let mut attempts: Vec<AttemptRecord> = Vec::new();
    let mut last_5xx: Option<(UpstreamResponse, &HostRt)> = None;
    let mut policy = Policy::new(&gw.budget, &snap.config.retry_budget, &gw.metrics, "raw", deadline);
    let mut next = Advance::NextHost;
    while let Some(c) = candidates.next(next, &mut planner, &mut attempts) {
        let now = c.admitted.started();
        if policy.admit(&provider.cfg.name, now, &mut attempts).is_err() {
            c.admitted.release();
            break;
        }
        let out = Outgoing {
            method: client.method.clone(),
            path_and_query: path_and_query.clone(),
            headers: client.headers.clone(),
            body: client.body.as_ref().map_or_else(empty, SharedBody::for_attempt),
            client_body: client.body.clone(),
            weight,
            timeout: policy.timeout(provider.cfg.attempt_timeout, 1, now),
            judge_key: false,
        };
        let host = c.admitted.host;
        let resendable = client.body.as_ref().is_none_or(|b| !b.was_polled());
        match exchange.send(&c.admitted, out).await {
            Ok(mut resp) => {
                c.admitted.finish_quietly(Outcome::Ok);
                let idle = snap.config.server.idle_timeout;
                let switched = client.upgrade.take().and_then(|u| u.on_response(&mut resp, idle));
                let (mut resp, served) = respond(provider, host, resp, attempts.len() + 1);
                if let Some(s) = switched {
                    s.restore(resp.headers_mut());
                }
                return Ok((resp, served));
            }
            Err(Refused { failure, response }) => {
                attempts.push(c.admitted.conclude(Err(&failure)));
                next = policy.advance(&failure);
                let resendable = resendable && client.body.as_ref().is_none_or(|b| !b.was_polled());
                match response {
                    Some(resp) if failure.outcome == Outcome::Http5xx && idempotent && resendable => {
                        last_5xx = Some((resp, host));
                    }
                    Some(resp) => return Ok(respond(provider, host, resp, attempts.len())),
                    None if failure.client_fault.is_some() => return Err(client_error(&failure, attempts)),
                    None if failure.outcome == Outcome::OverQuota => break,
                    None if resendable && (idempotent || failure.outcome == Outcome::ConnectError) => {}
                    None => break,
                }
            }
        }
    }
    if let Some((resp, host)) = last_5xx {
        return Ok(respond(provider, host, resp, attempts.len()));
    }
    // A raw request is never "not listed": whatever the provider said went to the client.
    Err(policy.give_up(Asked { symbols: &[], vs: "", whole_pool: false }, attempts))
}

fn client_error(failure: &Failure, attempts: Vec<AttemptRecord>) -> ProxyError {
    let kind = match failure.client_fault {
        Some(ClientFault::TooLarge) => ErrorKind::PayloadTooLarge,
        Some(ClientFault::Stalled) => ErrorKind::ClientTimeout,
        Some(ClientFault::Broken) | None => ErrorKind::BadRequest,
    };
    ProxyError::with_attempts(kind, failure.detail.clone(), attempts)
}

/// The quota weight of one attempt: the provider's `raw_weights` entry for the path
/// (its rule reading the query), else 1.
fn raw_weight(provider: &ProviderRt, path_and_query: &str) -> u32 {
    let (path, query) = crate::split::once(path_and_query, b'?').unwrap_or((path_and_query, ""));
    let Some(rule) = provider.cfg.raw_weights.get(path) else {
        return 1;
    };
    let pairs: Vec<(String, String)> = query
        .split('&')
        .filter_map(|p| p.split_once('=').or(Some((p, ""))))
        .map(|(k, v)| {
            let decode = |s: &str| percent_encoding::percent_decode_str(s).decode_utf8_lossy().into_owned();
            (decode(k), decode(v))
        })
        .collect();
    rule.of(|name| pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str()))
}

fn respond(provider: &ProviderRt, host: &HostRt, resp: UpstreamResponse, attempts: usize) -> (Response<Body>, Served) {
    let (mut parts, body) = resp.into_parts();
    headers::strip_hop_by_hop(&mut parts.headers);
    headers::redact_secrets(&mut parts.headers, &provider.secrets());
    // The client's protocol is marketgate's business, not the upstream's (HTTP/1.0, h2).
    parts.version = http::Version::HTTP_11;
    if let Some(v) = &provider.name_header {
        parts.headers.insert(X_MARKETGATE_PROVIDER, v.clone());
    }
    if let Some(v) = &host.label_header {
        parts.headers.insert(X_MARKETGATE_HOST, v.clone());
    }
    let served = Served { provider: Some(std::sync::Arc::clone(&provider.name)), attempts, cache: None };
    (Response::from_parts(parts, body.boxed()), served)
}

/// Builds the upstream path from the `{*path}` tail and the query. Refuses anything that
/// could leave the provider's base path: `.`/`..` segments (plain or encoded), encoded
/// slashes or backslashes, control characters.
pub fn safe_path(rest: &str, query: Option<&str>) -> Result<String, ProxyError> {
    let refuse = |why: &str| Err(ProxyError::new(ErrorKind::BadRequest, format!("path refused: {why}")));
    for segment in crate::split::pieces(rest, b'/') {
        let (mut len, mut dots) = (0usize, 0usize);
        for b in percent_encoding::percent_decode_str(segment) {
            len += 1;
            dots += usize::from(b == b'.');
            if b == b'/' || b == b'\\' {
                return refuse("encoded slashes and backslashes are not allowed");
            }
            if b.is_ascii_control() {
                return refuse("control characters are not allowed");
            }
        }
        if (len == 1 || len == 2) && dots == len {
            return refuse("'.' and '..' segments cannot leave the provider's base path");
        }
    }
    // Pushed, not formatted: `format!` took 530 instructions a request here.
    let mut out = String::with_capacity(1 + rest.len() + query.map_or(0, |q| 1 + q.len()));
    out.push('/');
    out.push_str(rest);
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
