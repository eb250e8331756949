//! The admin listener (loopback by default). Endpoints:
//!
//! | path | what |
//! |---|---|
//! | `GET /healthz` | liveness |
//! | `GET /readyz` | 200 once the config is loaded and listeners are bound, else 503 |
//! | `GET /metrics` | Prometheus text exposition |
//! | `GET /api/system/providers/health` | per provider: status, success rate, p50/p95, breakers, tiers, quota |
//! | `GET /api/system/providers/{name}/hosts` | per host of one provider (`/api/system/binance/health` = binance) |
//! | `GET /api/system/circuit-breakers` | every breaker |
//! | `GET /api/system/providers/stats` | requests, successes, failures by outcome, failovers, load share |
//! | `GET /api/system/providers/history` | ring buffer of per-provider samples |
//! | `GET /api/system/config` | active config version, hash, last reload outcome (secrets redacted) |
//! | `GET /api/system/cluster` | Redis state, replicas seen, shared budget use (`[cluster]`) |
//! | `GET /api/system/streams` | live streams: upstream state and host, clients, topics, counters |
//! | `GET /api/system/audit` | the audit log: admin actions and config changes, newest first |
//! | `POST /admin/reload` | reload now; answers with the outcome |
//! | `POST /admin/providers/{name}/unbench` | lift the provider's bench (every replica) |
//! | `POST /admin/providers/{name}/hosts/{host}/reset` | close a host's breaker (every replica) |
//! | `GET /dashboard` | the live dashboard page |
//!
//! With `[admin] token_env` set, every path except `public_paths` needs
//! `Authorization: Bearer <token>`. Whatever the token, a `Host` that does not name the
//! listener gets 421 and a write a browser page could forge gets 403 (`guard.rs`).

pub mod actions;
pub mod budgets;
pub mod config_view;
pub mod dashboard;
pub mod guard;
pub mod history;
pub mod status;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use hyper::body::Incoming;
use serde::Serialize;

use crate::body::Body;
use crate::body::full;
use crate::error::json_response;
use crate::gateway::Gateway;
use crate::reload::Reloader;
use history::History;

/// The admin server's view of the app: the request path's shared parts (snapshot,
/// metrics, cache), the reloader, the history buffer and the readiness flag.
pub struct Admin {
    /// The request path's shared parts.
    pub gateway: Arc<Gateway>,
    /// The live-stream drivers (for `/api/system/streams`).
    pub streams: Arc<crate::stream::Hub>,
    /// The reloader.
    pub reloader: Arc<Reloader>,
    /// Per-provider samples for the dashboard.
    pub history: History,
    /// True once the config is loaded and the listeners are bound.
    pub ready: std::sync::atomic::AtomicBool,
    /// Process start.
    pub started: std::time::SystemTime,
}

/// Handles one admin request.
pub async fn handle(state: Arc<Admin>, req: Request<Incoming>, peer: SocketAddr) -> Response<Body> {
    let path = req.uri().path().to_owned();
    let snap = state.gateway.snapshot();
    let token = bearer(&req).filter(|given| snap.config.admin.token.as_ref().is_some_and(|t| t.matches(given)));
    if let Err(refusal) = guard::check(req.method(), req.headers(), &snap.config.admin.hosts, token.is_some()) {
        if let guard::Refusal::CrossSite(why) = &refusal {
            // A forged write is worth a record: someone's page tried to change this
            // marketgate.
            state.reloader.audit.record(crate::audit::Record {
                error: Some(why.clone()),
                ..crate::audit::Record::new(actions::action_of(&path), source(peer, token.as_deref()), "refused")
            });
        }
        return refused(refusal);
    }
    if !authorized(&snap, &path, token.is_some()) {
        let mut resp = json_response(
            StatusCode::UNAUTHORIZED,
            br#"{"error":{"code":"unauthorized","message":"admin token required: Authorization: Bearer <token>"}}"#
                .to_vec(),
        );
        resp.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        return resp;
    }
    let method = req.method().clone();
    match (&method, path.as_str()) {
        (&Method::GET, "/healthz") => json(&serde_json::json!({"status": "ok"})),
        (&Method::GET, "/readyz") => {
            let ready = state.ready.load(Ordering::Acquire);
            let mut r = json(&serde_json::json!({"ready": ready, "config_version": snap.version}));
            if !ready {
                *r.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
            }
            r
        }
        (&Method::GET, "/metrics") => {
            let metrics = &state.gateway.metrics;
            let now = tokio::time::Instant::now();
            for p in &state.gateway.snapshot().providers {
                for (window, ratio) in budgets::used_ratios(p) {
                    metrics.quota_used_ratio.with_label_values(&[&p.cfg.name, window]).set(ratio);
                }
                let blocked = i64::from(p.state.blocked(now).is_some());
                metrics.provider_blocked.with_label_values(&[&p.cfg.name]).set(blocked);
            }
            let mut r = Response::new(full(Bytes::from(metrics.render())));
            r.headers_mut()
                .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"));
            r
        }
        (&Method::GET, "/api/system/providers/health") => json(&status::providers_health(&snap)),
        (&Method::GET, "/api/system/circuit-breakers") => json(&status::breakers(&snap)),
        (&Method::GET, "/api/system/providers/stats") => json(&status::stats(&snap)),
        (&Method::GET, "/api/system/providers/history") => json(&state.history.view()),
        (&Method::GET, "/api/system/config") => json(&config_view::view(&state)),
        (&Method::GET, "/api/system/cluster") => match state.gateway.cluster() {
            Some(c) => json(&c.view().await),
            None => json(&crate::cluster::single_replica_view()),
        },
        (&Method::GET, "/api/system/streams") => json(&streams_view(&state)),
        (&Method::GET, "/api/system/binance/health") => hosts(&snap, "binance"),
        (&Method::GET, "/api/system/audit") => json(&state.reloader.audit.view()),
        (&Method::POST, p) if actions::parse(p).is_some() => match actions::parse(p) {
            Some(lift) => actions::apply(&state, lift, source(peer, token.as_deref())).await,
            None => json_response(StatusCode::NOT_FOUND, b"{}".to_vec()),
        },
        (&Method::POST, "/admin/reload") => {
            let outcome = state.reloader.reload("admin", source(peer, token.as_deref())).await;
            let mut r = json(&outcome);
            if matches!(outcome, crate::reload::ReloadOutcome::Error { .. }) {
                *r.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
            }
            r
        }
        (&Method::GET, "/dashboard" | "/dashboard/") => dashboard::page(),
        (&Method::GET, p) if p.starts_with("/api/system/providers/") && p.ends_with("/hosts") => {
            let name = p.trim_start_matches("/api/system/providers/").trim_end_matches("/hosts");
            hosts(&snap, name)
        }
        (&Method::GET, "/") => redirect("/dashboard"),
        (&Method::GET, "/favicon.ico") => {
            let mut r = Response::new(crate::body::empty());
            *r.status_mut() = StatusCode::NO_CONTENT;
            r
        }
        _ => json_response(
            StatusCode::NOT_FOUND,
            br#"{"error":{"code":"no_route","message":"unknown admin path; see /dashboard"}}"#.to_vec(),
        ),
    }
}

fn hosts(snap: &crate::snapshot::Snapshot, name: &str) -> Response<Body> {
    match snap.provider(name) {
        Some(p) => json(&serde_json::json!({"provider": name, "hosts": status::provider_hosts(p)})),
        None => json_response(
            StatusCode::NOT_FOUND,
            br#"{"error":{"code":"unknown_provider","message":"no such provider"}}"#.to_vec(),
        ),
    }
}

/// The bearer token a request sends, if any.
fn bearer(req: &Request<Incoming>) -> Option<String> {
    req.headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(|t| t.trim().to_owned())
}

/// Who asked, for the audit log: the peer, and the token's fingerprint when a valid one
/// was sent.
fn source(peer: SocketAddr, token: Option<&str>) -> crate::audit::Source {
    crate::audit::Source::Admin { peer: peer.to_string(), token: token.map(crate::audit::token_fingerprint) }
}

/// 421 for a `Host` that does not name the listener (DNS rebinding), 403 for a write a
/// browser page could forge.
fn refused(refusal: guard::Refusal) -> Response<Body> {
    let (status, code, message) = match refusal {
        guard::Refusal::MisdirectedHost(m) => (StatusCode::MISDIRECTED_REQUEST, "misdirected_request", m),
        guard::Refusal::CrossSite(m) => (StatusCode::FORBIDDEN, "forbidden", m),
    };
    let body = serde_json::json!({"error": {"code": code, "message": message}});
    json_response(status, body.to_string().into_bytes())
}

/// Whether the request may go on: no token configured, a public path, or the valid
/// token sent.
fn authorized(snap: &crate::snapshot::Snapshot, path: &str, has_token: bool) -> bool {
    let admin = &snap.config.admin;
    admin.token.is_none() || has_token || admin.public_paths.iter().any(|p| p == path)
}

/// A JSON 200.
pub fn json<T: Serialize>(value: &T) -> Response<Body> {
    let mut r = json_response(StatusCode::OK, serde_json::to_vec_pretty(value).unwrap_or_default());
    r.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

fn redirect(to: &'static str) -> Response<Body> {
    let mut r = Response::new(crate::body::empty());
    *r.status_mut() = StatusCode::FOUND;
    r.headers_mut().insert(header::LOCATION, HeaderValue::from_static(to));
    r
}

/// `/api/system/streams`: every provider's live stream (started by its first client).
fn streams_view(state: &Admin) -> serde_json::Value {
    let metrics = &state.gateway.metrics;
    let clients = |t: &str| metrics.stream.clients.get_metric_with_label_values(&[t]).map_or(0, |g| g.get());
    serde_json::json!({
        "clients": { "ws": clients("ws"), "sse": clients("sse"), "relay": clients("relay") },
        "providers": state.streams.reports(metrics),
    })
}
