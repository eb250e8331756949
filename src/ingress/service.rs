//! The client listener's request handler: one snapshot load, route, dispatch, then one
//! metrics update and one structured log line per request. Every failure is a response.

use std::net::SocketAddr;
use std::sync::Arc;

use futures_util::future::Either;
use http::{Method, Request, Response};
use hyper::body::Incoming;
use tokio::time::Instant;

use crate::access_log::Entry;
use crate::body::Body;
use crate::error::{ErrorKind, ProxyError};
use crate::gateway::{Gateway, Served, Via};
use crate::headers::X_MARKETGATE_VIA;
use crate::routing::pattern::Params;
use crate::snapshot::{Passthrough, RouteRt, Snapshot, TargetRt};
use crate::stream::Hub;

/// Which route served a request (the metric label and its cached handles).
#[derive(Clone, Copy)]
enum Matched {
    Route(usize),
    Refused,
    App,
    OpenApi,
    None,
}

/// Handles one client request.
pub async fn handle(gw: Arc<Gateway>, streams: Arc<Hub>, req: Request<Incoming>, peer: SocketAddr) -> Response<Body> {
    let started = Instant::now();
    let snap = gw.snapshot();
    let method = req.method().clone();
    // The way's future is awaited right here, not inside a dispatching `async fn`: a
    // future is copied whole (kilobytes) each time it is wrapped. The ways that wait
    // longest anyway (a normalized fetch, a stream, the app) are boxed, so this future,
    // which hyper moves twice per request, is only as large as the raw way's. (Boxing
    // that one too saved a cache hit 690 instructions and cost passthrough 240, most
    // of them copying the future into its box: bench/instructions.sh.)
    let (which, result) = match dispatch(&gw, &snap, req) {
        Way::Done(which, result) => (which, result),
        Way::App(app, req) => (Matched::App, Box::pin(super::app::forward(&snap, app, req, peer)).await),
        Way::Route(index, route, params, via, req) => {
            let result = match &route.target {
                TargetRt::Normalized(_) => match normalized_at_once(&gw, &snap, route, &params, &req, &via) {
                    Ok(done) => Ok(done),
                    Err(prepared) => Ok(Box::pin(normalized(&gw, &snap, prepared)).await),
                },
                TargetRt::Passthrough(target) => or_refused(passthrough(&gw, &snap, target, &params, req, &via)).await,
                TargetRt::Stream(stream) => {
                    Box::pin(crate::stream::serve::serve(&gw, &streams, &snap, stream, req, peer.ip()))
                        .await
                        .map(|resp| (resp, Served::default()))
                }
            };
            (Matched::Route(index), result)
        }
    };
    let (resp, served) = result.unwrap_or_else(failed);
    let status = resp.status().as_u16();
    let elapsed = started.elapsed();
    let (route, handles) = match which {
        Matched::Route(i) => match snap.routes.get(i) {
            Some(r) => (r.label(), &r.handles),
            None => ("none", &snap.unrouted.none),
        },
        Matched::Refused => ("refused", &snap.unrouted.refused),
        Matched::App => ("app", &snap.unrouted.app),
        Matched::OpenApi => ("/openapi.json", &snap.unrouted.openapi),
        Matched::None => ("none", &snap.unrouted.none),
    };
    handles.served(&gw.metrics, route, status, elapsed.as_secs_f64());
    let entry = Entry {
        method: method.as_str(),
        route,
        status,
        provider: served.provider.as_deref().unwrap_or("-"),
        attempts: served.attempts,
        cache: served.cache.map_or("-", |c| c.as_str()),
        duration_ms: elapsed.as_secs_f64() * 1000.0,
    };
    match gw.access_log.get() {
        Some(log) => log.log(&entry),
        None => tracing::info!(
            target: "marketgate::access",
            method = %entry.method,
            route = %entry.route,
            status,
            provider = %entry.provider,
            attempts = entry.attempts,
            cache = %entry.cache,
            duration_ms = entry.duration_ms,
            "request"
        ),
    }
    resp
}

type Outcome = Result<(Response<Body>, Served), ProxyError>;

/// Where a request goes.
enum Way<'a> {
    /// Answered already (refused, no route, the OpenAPI document, a loop).
    Done(Matched, Outcome),
    /// To the fronted app.
    App(&'a crate::config::model::AppConfig, Request<Incoming>),
    /// To the route at this index, with its path parameters and where the request has been.
    Route(usize, &'a RouteRt, Params, Via, Request<Incoming>),
}

fn dispatch<'a>(gw: &Gateway, snap: &'a Snapshot, req: Request<Incoming>) -> Way<'a> {
    let server = &snap.config.server;
    // An HTTP/1 request-target in absolute form asks for forward proxying; HTTP/2 always
    // carries :scheme and :authority, which name marketgate itself and are fine.
    let absolute_form =
        req.version() < http::Version::HTTP_2 && (req.uri().authority().is_some() || req.uri().scheme().is_some());
    if req.method() == Method::CONNECT || absolute_form {
        let e = ProxyError::new(
            ErrorKind::BadRequest,
            "absolute-form targets and CONNECT are refused: marketgate is not an open proxy",
        );
        return Way::Done(Matched::Refused, Err(e));
    }
    // The request target is the path and query (absolute forms were refused above);
    // measured in place, without formatting the URI on every request.
    let target_len = req.uri().path_and_query().map_or(0, |pq| pq.as_str().len());
    if target_len > server.max_uri_length {
        let e = ProxyError::new(
            ErrorKind::UriTooLong,
            format!("request target is longer than {} bytes", server.max_uri_length),
        );
        return Way::Done(Matched::Refused, Err(e));
    }
    let matched =
        snap.routes.iter().enumerate().find_map(|(i, r)| r.cfg.pattern.matches(req.uri().path()).map(|p| (i, r, p)));
    // The spec of this config, unless a route of the config claims the path.
    if matched.is_none() && req.uri().path() == OPENAPI_PATH {
        return Way::Done(Matched::OpenApi, Ok(openapi(snap, req.method())));
    }
    let Some((index, route, params)) = matched else {
        if let Some(app) = &snap.config.app {
            return Way::App(app, req);
        }
        let e = ProxyError::new(ErrorKind::NoRoute, format!("no route matches {}", truncate(req.uri().path(), 200)));
        return Way::Done(Matched::None, Err(e));
    };
    let via = gw.via(req.headers().get(X_MARKETGATE_VIA));
    if let Via::Loop(why) = &via {
        let e = ProxyError::new(ErrorKind::LoopDetected, why.clone());
        return Way::Done(Matched::Route(index), Err(e));
    }
    Way::Route(index, route, params, via, req)
}

/// A normalized route's answer when it needs no waiting: a refusal (method, query), or
/// a fresh hit in this replica's cache, answered without building the future of the
/// path that waits (whose every move copies kilobytes). Anything else is handed back,
/// read and checked, for [`normalized`].
fn normalized_at_once<'a>(
    gw: &Gateway,
    snap: &Snapshot,
    route: &'a RouteRt,
    params: &'a Params,
    req: &'a Request<Incoming>,
    via: &'a Via,
) -> Result<(Response<Body>, Served), Box<crate::pipeline::Prepared<'a>>> {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        let e = ProxyError::new(ErrorKind::MethodNotAllowed, "normalized routes answer GET and HEAD");
        return Ok(allow_any_origin((with_allow(e.into_response()), Served::default())));
    }
    let call = crate::pipeline::Call { route, query: req.uri().query(), params, via };
    let prepared = match crate::pipeline::prepare(snap, call) {
        Ok(p) => p,
        Err(e) => return Ok(allow_any_origin(failed(e))),
    };
    match prepared.fresh(gw) {
        Some(reply) => Ok(allow_any_origin(prepared.respond(reply))),
        // Boxed: only a request that waits pays for the move.
        None => Err(Box::new(prepared)),
    }
}

/// The rest of a normalized request: the cache's other outcomes, the failover run.
async fn normalized(
    gw: &Gateway,
    snap: &Arc<Snapshot>,
    prepared: Box<crate::pipeline::Prepared<'_>>,
) -> (Response<Body>, Served) {
    // Normalized answers are public market data: any page may read them (the
    // dashboard's try panel runs on the admin origin). Raw routes, which carry API
    // keys, get no CORS grant.
    allow_any_origin(match crate::pipeline::fetch_prepared(gw, snap, *prepared).await {
        Ok((asked, reply)) => crate::pipeline::respond::Out::of(&asked).reply(&reply),
        Err(e) => failed(e),
    })
}

/// An error as the response, with the attempts that reached a host counted.
fn failed(e: ProxyError) -> (Response<Body>, Served) {
    let attempts = e.attempts.iter().filter(|a| a.reached()).count();
    (e.into_response(), Served { attempts, ..Served::default() })
}

/// A way's future, or the refusal that came before it, as one future. Awaited where it
/// is made: a `Result` around the future would be kept beside it in the caller's state
/// while it runs (kilobytes).
fn or_refused<F: Future<Output = Outcome>>(made: Result<F, ProxyError>) -> Either<F, std::future::Ready<Outcome>> {
    match made {
        Ok(fut) => Either::Left(fut),
        Err(e) => Either::Right(std::future::ready(Err(e))),
    }
}

/// The raw route's provider, and the future that forwards to it (see `raw::serve`).
fn passthrough<'a>(
    gw: &'a Gateway,
    snap: &'a Arc<Snapshot>,
    target: &Passthrough,
    params: &Params,
    req: Request<Incoming>,
    via: &'a Via,
) -> Result<impl Future<Output = Outcome> + Send + 'a, ProxyError> {
    let provider = match target {
        Passthrough::Provider(i) => snap.provider_at(*i),
        Passthrough::FromPath => params.get("provider").and_then(|n| snap.provider(n)),
        Passthrough::Missing(_) => None,
    };
    let Some(provider) = provider else {
        let name = match target {
            Passthrough::Missing(n) => n.as_str(),
            _ => params.get("provider").map_or("", String::as_str),
        };
        let msg = format!("no provider named {:?} is configured", truncate(name, 40));
        return Err(ProxyError::new(ErrorKind::UnknownProvider, msg));
    };
    let rest = params.get("path").map_or("", String::as_str);
    super::raw::serve(gw, snap, provider, rest, req, via)
}

/// Where the OpenAPI document is served.
pub const OPENAPI_PATH: &str = "/openapi.json";

fn openapi(snap: &Snapshot, method: &Method) -> (Response<Body>, Served) {
    if method != Method::GET && method != Method::HEAD {
        let e = ProxyError::new(ErrorKind::MethodNotAllowed, "the OpenAPI document answers GET and HEAD");
        return (with_allow(e.into_response()), Served::default());
    }
    let doc = snap.openapi.get_or_init(|| {
        bytes::Bytes::from(serde_json::to_vec_pretty(&crate::openapi::document(&snap.config)).unwrap_or_default())
    });
    let mut resp = Response::new(crate::body::full(doc.clone()));
    resp.headers_mut().insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("application/json"));
    allow_any_origin((resp, Served::default()))
}

/// A 405 says which methods the route answers.
fn with_allow(mut resp: Response<Body>) -> Response<Body> {
    resp.headers_mut().insert(http::header::ALLOW, http::HeaderValue::from_static("GET, HEAD"));
    resp
}

fn allow_any_origin((mut resp, served): (Response<Body>, Served)) -> (Response<Body>, Served) {
    let h = resp.headers_mut();
    h.insert(http::header::ACCESS_CONTROL_ALLOW_ORIGIN, http::HeaderValue::from_static("*"));
    h.insert(
        http::header::ACCESS_CONTROL_EXPOSE_HEADERS,
        http::HeaderValue::from_static("x-marketgate-provider, x-marketgate-cache"),
    );
    (resp, served)
}

/// Cuts client-supplied text for messages.
pub fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max { s.to_owned() } else { format!("{}…", s.chars().take(max).collect::<String>()) }
}
