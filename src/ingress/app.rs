//! The fronted application (`[app] upstream`): every request no route matches is
//! streamed to it, with `X-Forwarded-For`, `-Host` and `-Proto` headers added. The app is
//! not a provider (no breakers, quotas, keys or failover), so its requests go straight
//! to the upstream client rather than through the exchange. WebSocket upgrades pass
//! through (`upgrade.rs`).

use std::net::SocketAddr;

use http::{HeaderValue, Request, Response};
use hyper::body::{Body as _, Incoming};

use crate::body::Body;
use crate::config::model::AppConfig;
use crate::error::{ErrorKind, ProxyError};
use crate::gateway::Served;
use crate::headers;
use crate::ingress::upgrade::Pending;
use crate::snapshot::Snapshot;
use crate::transport::client::describe;

/// Forwards to the application.
pub async fn forward(
    snap: &Snapshot,
    app: &AppConfig,
    mut req: Request<Incoming>,
    peer: SocketAddr,
) -> Result<(Response<Body>, Served), ProxyError> {
    super::check_declared_length(req.headers(), snap.config.server.max_request_body)?;
    let upgrade = Pending::take(&mut req);
    let (mut parts, body) = req.into_parts();
    let original_host = parts.headers.get(http::header::HOST).cloned();
    let pq = parts.uri.path_and_query().map_or("/", |p| p.as_str()).to_owned();
    let uri = app.upstream.join(&pq).map_err(|e| ProxyError::new(ErrorKind::BadRequest, e.to_string()))?;
    let mut hdrs = headers::for_upstream(std::mem::take(&mut parts.headers));
    if let Some(h) = original_host {
        hdrs.insert("x-forwarded-host", h);
    }
    if let Ok(v) = HeaderValue::from_str(&peer.ip().to_string()) {
        hdrs.append("x-forwarded-for", v);
    }
    hdrs.insert("x-forwarded-proto", HeaderValue::from_static("http"));
    if let Some(u) = &upgrade {
        u.restore(&mut hdrs);
    }
    let body = if body.is_end_stream() {
        crate::body::empty()
    } else {
        crate::body::limited(body, snap.config.server.max_request_body)
    };
    let mut up = Request::new(body);
    *up.method_mut() = parts.method;
    *up.uri_mut() = uri;
    *up.headers_mut() = hdrs;
    match snap.client.send(up, app.timeout).await {
        Ok(mut resp) => {
            let switched = upgrade.and_then(|u| u.on_response(&mut resp, snap.config.server.idle_timeout));
            let (mut rparts, rbody) = resp.into_parts();
            headers::strip_hop_by_hop(&mut rparts.headers);
            if let Some(s) = &switched {
                s.restore(&mut rparts.headers);
            }
            rparts.version = http::Version::HTTP_11;
            Ok((
                Response::from_parts(rparts, rbody.boxed()),
                Served { provider: Some(std::sync::Arc::from("app")), attempts: 1, cache: None },
            ))
        }
        Err(e) => Err(ProxyError::new(
            ErrorKind::AppFailed,
            format!("the application at {} failed: {}", app.upstream, describe(&e)),
        )),
    }
}
