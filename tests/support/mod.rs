//! Test support: scripted mock upstreams on 127.0.0.1:0 (plain and TLS), a harness that
//! runs the real `marketgate::run` on ephemeral ports, a tiny HTTP client, and fixtures.
#![allow(dead_code)]

pub mod defaults;
pub mod demo;
pub mod process;
pub mod redis;
pub mod shipped;
pub mod stream_mock;
pub mod tls;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Method, Request, Response, StatusCode};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::service::service_fn;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use marketgate::config::env::EnvLookup;
use marketgate::gateway::Gateway;
use marketgate::metrics::Metrics;
use marketgate::{App, Listeners, RunOptions, WorkerMode};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

type BoxError = Box<dyn std::error::Error + Send + Sync>;
type MockBody = BoxBody<Bytes, BoxError>;

/// A request as the mock saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: Method,
    pub path_and_query: String,
    pub headers: HeaderMap,
    pub body: Bytes,
    /// `Host` header, or the HTTP/2 `:authority`.
    pub host: Option<String>,
    pub version: http::Version,
}

/// What the mock does with a request.
pub enum Reply {
    /// Status and body, `content-type: application/json`.
    Json(u16, String),
    /// Status, extra headers and body.
    With(u16, Vec<(&'static str, String)>, String),
    /// Never answers (the connection stays open until the test ends).
    Hang,
    /// Drops the connection without a response.
    Close,
    /// Waits, then replies.
    After(Duration, Box<Reply>),
    /// A streamed body of `total` bytes in `chunk`-byte frames; `gate` pauses the stream
    /// after `gate_after` bytes until it is notified.
    Stream { total: usize, chunk: usize, gate_after: usize, gate: Option<Arc<tokio::sync::Notify>> },
    /// Sends `chunk` every `every` (a slow drip) up to `total` bytes.
    Drip { chunk: Bytes, every: Duration, total: usize },
}

type Handler = Arc<dyn Fn(&Seen) -> Reply + Send + Sync>;

/// A scripted upstream.
pub struct Mock {
    pub addr: SocketAddr,
    hits: Arc<AtomicUsize>,
    seen: Arc<Mutex<Vec<Seen>>>,
    tls: bool,
    task: JoinHandle<()>,
}

impl Mock {
    /// Starts a plain HTTP mock.
    pub async fn start(handler: impl Fn(&Seen) -> Reply + Send + Sync + 'static) -> Self {
        Self::start_inner(Arc::new(handler), None).await
    }

    /// Starts an HTTPS mock with the given rustls server config.
    pub async fn start_tls(
        handler: impl Fn(&Seen) -> Reply + Send + Sync + 'static,
        cfg: Arc<rustls::ServerConfig>,
    ) -> Self {
        Self::start_inner(Arc::new(handler), Some(cfg)).await
    }

    /// Always answers `status` with `body`.
    pub async fn fixed(status: u16, body: &str) -> Self {
        let body = body.to_owned();
        Self::start(move |_| Reply::Json(status, body.clone())).await
    }

    async fn start_inner(handler: Handler, tls: Option<Arc<rustls::ServerConfig>>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind mock");
        let addr = listener.local_addr().expect("addr");
        let hits = Arc::new(AtomicUsize::new(0));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let acceptor = tls.clone().map(tokio_rustls::TlsAcceptor::from);
        let (h, s, hd) = (Arc::clone(&hits), Arc::clone(&seen), handler);
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else { return };
                let (h, s, hd) = (Arc::clone(&h), Arc::clone(&s), Arc::clone(&hd));
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let svc = service_fn(move |req: Request<Incoming>| {
                        let (h, s, hd) = (Arc::clone(&h), Arc::clone(&s), Arc::clone(&hd));
                        async move { serve_one(req, h, s, hd).await }
                    });
                    let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
                    match acceptor {
                        None => {
                            let _ = builder.serve_connection(TokioIo::new(stream), svc).await;
                        }
                        Some(a) => {
                            if let Ok(tls) = a.accept(stream).await {
                                let _ = builder.serve_connection(TokioIo::new(tls), svc).await;
                            }
                        }
                    }
                });
            }
        });
        Self { addr, hits, seen, tls: tls.is_some(), task }
    }

    /// `http://127.0.0.1:port` (or https).
    pub fn url(&self) -> String {
        if self.tls { format!("https://localhost:{}", self.addr.port()) } else { format!("http://{}", self.addr) }
    }

    /// Requests received so far.
    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }

    /// Every request received so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().expect("lock").clone()
    }
}

impl Drop for Mock {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve_one(
    req: Request<Incoming>,
    hits: Arc<AtomicUsize>,
    seen: Arc<Mutex<Vec<Seen>>>,
    handler: Handler,
) -> Result<Response<MockBody>, std::io::Error> {
    let (parts, body) = req.into_parts();
    let body = body.collect().await.map(|c| c.to_bytes()).unwrap_or_default();
    let host = parts
        .headers
        .get("host")
        .and_then(|h| h.to_str().ok())
        .map(str::to_owned)
        .or_else(|| parts.uri.authority().map(|a| a.to_string()));
    let s = Seen {
        host,
        version: parts.version,
        method: parts.method,
        path_and_query: parts.uri.path_and_query().map_or("/".into(), |p| p.to_string()),
        headers: parts.headers,
        body,
    };
    hits.fetch_add(1, Ordering::SeqCst);
    seen.lock().expect("lock").push(s.clone());
    let mut reply = handler(&s);
    loop {
        match reply {
            Reply::After(d, next) => {
                tokio::time::sleep(d).await;
                reply = *next;
            }
            Reply::Hang => {
                tokio::time::sleep(Duration::from_secs(3600)).await;
                return Err(std::io::Error::other("hung"));
            }
            Reply::Close => return Err(std::io::Error::other("closing on purpose")),
            Reply::Json(status, body) => {
                return Ok(build(status, vec![("content-type", "application/json".into())], body));
            }
            Reply::With(status, headers, body) => return Ok(build(status, headers, body)),
            Reply::Stream { total, chunk, gate_after, gate } => {
                return Ok(stream_reply(total, chunk, gate_after, gate));
            }
            Reply::Drip { chunk, every, total } => return Ok(drip_reply(chunk, every, total)),
        }
    }
}

fn build(status: u16, headers: Vec<(&'static str, String)>, body: String) -> Response<MockBody> {
    let mut r = Response::new(Full::new(Bytes::from(body)).map_err(|e| match e {}).boxed());
    *r.status_mut() = StatusCode::from_u16(status).expect("status");
    for (k, v) in headers {
        r.headers_mut().insert(k, v.parse().expect("header value"));
    }
    r
}

fn stream_reply(
    total: usize,
    chunk: usize,
    gate_after: usize,
    gate: Option<Arc<tokio::sync::Notify>>,
) -> Response<MockBody> {
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Frame<Bytes>, BoxError>>(4);
    tokio::spawn(async move {
        let block = Bytes::from(vec![b'x'; chunk]);
        let mut sent = 0;
        while sent < total {
            if let Some(g) = &gate
                && sent == gate_after
            {
                g.notified().await;
            }
            let n = chunk.min(total - sent);
            if tx.send(Ok(Frame::data(block.slice(..n)))).await.is_err() {
                return;
            }
            sent += n;
        }
    });
    let stream = tokio_stream_from(rx);
    let mut r = Response::new(BodyExt::boxed(StreamBody::new(stream)));
    r.headers_mut().insert("content-length", total.to_string().parse().expect("len"));
    r
}

fn drip_reply(chunk: Bytes, every: Duration, total: usize) -> Response<MockBody> {
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Frame<Bytes>, BoxError>>(1);
    tokio::spawn(async move {
        let mut sent = 0;
        while sent < total {
            tokio::time::sleep(every).await;
            if tx.send(Ok(Frame::data(chunk.clone()))).await.is_err() {
                return;
            }
            sent += chunk.len();
        }
    });
    let mut r = Response::new(BodyExt::boxed(StreamBody::new(tokio_stream_from(rx))));
    r.headers_mut().insert("content-type", "application/json".parse().expect("ct"));
    r
}

fn tokio_stream_from<T: Send + 'static>(
    mut rx: tokio::sync::mpsc::Receiver<T>,
) -> impl futures_util::Stream<Item = T> + Send {
    futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

/// An address nothing listens on (connections are refused). The port stays bound,
/// without listening, for the rest of the process, so no other test's server can
/// take it over.
pub async fn refused_addr() -> String {
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket.bind("127.0.0.1:0".parse().expect("addr")).expect("bind");
    let addr = socket.local_addr().expect("addr");
    std::mem::forget(socket);
    format!("http://{addr}")
}

// === the proxy under test ===

/// Environment for `${VAR}` and API keys.
#[derive(Clone, Default)]
pub struct TestEnv(pub HashMap<String, String>);

impl EnvLookup for TestEnv {
    fn get(&self, name: &str) -> Option<String> {
        self.0.get(name).cloned()
    }
}

/// A running marketgate.
pub struct Proxy {
    pub addr: SocketAddr,
    pub admin: SocketAddr,
    pub gateway: Arc<Gateway>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl Proxy {
    /// Runs marketgate on `config` (no environment, no file watching).
    pub async fn start(config: &str) -> Self {
        Self::start_with(config, TestEnv::default(), None, RunOptions::default()).await
    }

    /// Runs marketgate with an environment and, optionally, a config file to watch.
    /// Client requests are served on the test's own runtime (inline, so a test on
    /// tokio's paused clock pauses marketgate's timers too) unless `options` asks for
    /// worker threads with `WorkerMode::Threads`.
    pub async fn start_with(config: &str, env: TestEnv, path: Option<PathBuf>, options: RunOptions) -> Self {
        let config = config.to_owned();
        Self::start_knowing_addr(move |_| config, env, path, options).await
    }

    /// Like `start_with`, with a config that may name marketgate's own client address
    /// (a fallback tier pointing back at itself).
    pub async fn start_knowing_addr(
        config: impl FnOnce(SocketAddr) -> String,
        env: TestEnv,
        path: Option<PathBuf>,
        mut options: RunOptions,
    ) -> Self {
        if options.workers == WorkerMode::PerCore {
            options.workers = WorkerMode::Inline;
        }
        marketgate::tls::install_crypto_provider();
        let name = path.as_ref().map_or("test.toml".to_owned(), |p| p.display().to_string());
        let client = TcpListener::bind("127.0.0.1:0").await.expect("bind client");
        let admin = TcpListener::bind("127.0.0.1:0").await.expect("bind admin");
        let (addr, admin_addr) = (client.local_addr().expect("addr"), admin.local_addr().expect("addr"));
        let text = config(addr);
        let cfg = marketgate::config::parse(&text, &name, &env).unwrap_or_else(|e| panic!("test config refused:\n{e}"));
        let metrics = Metrics::new().expect("metrics");
        let app = App::new(cfg, path, Arc::new(env), metrics, Default::default()).expect("app");
        let gateway = Arc::clone(&app.gateway);
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            marketgate::run(Listeners { client, admin }, app, options, async move {
                let _ = rx.await;
            })
            .await;
        });
        Self { addr, admin: admin_addr, gateway, stop: Some(tx), task: Some(task) }
    }

    /// `http://addr{path}` on the client listener.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// `http://admin{path}` on the admin listener.
    pub fn admin_url(&self, path: &str) -> String {
        format!("http://{}{}", self.admin, path)
    }

    /// Triggers shutdown and waits for `run` to return.
    pub async fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.task.take() {
            let _ = tokio::time::timeout(Duration::from_secs(20), t).await;
        }
    }

    /// Sends shutdown without waiting; returns the task to await.
    pub fn begin_stop(&mut self) -> JoinHandle<()> {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        self.task.take().expect("running")
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }
}

// === a tiny client ===

/// A response as the test client got it.
#[derive(Debug)]
pub struct Got {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Got {
    /// The body as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// A header as text.
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned)
    }
}

fn client() -> Client<HttpConnector, Full<Bytes>> {
    Client::builder(TokioExecutor::new()).build_http()
}

/// GET `url`.
pub async fn get(url: impl AsRef<str>) -> Got {
    send(Method::GET, url.as_ref(), &[], Bytes::new()).await
}

/// Sends a request and collects the whole response (bounded by 30 s).
pub async fn send(method: Method, url: &str, headers: &[(&str, &str)], body: Bytes) -> Got {
    let mut req = Request::builder().method(method).uri(url);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let req = req.body(Full::new(body)).expect("request");
    let fut = async {
        let resp = client().request(req).await.unwrap_or_else(|e| panic!("request to {url} failed: {e}"));
        let (parts, body) = resp.into_parts();
        let body = body.collect().await.expect("body").to_bytes();
        Got { status: parts.status.as_u16(), headers: parts.headers, body }
    };
    tokio::time::timeout(Duration::from_secs(30), fut).await.unwrap_or_else(|_| panic!("request to {url} timed out"))
}

/// A provider block mapping Binance's `/api/v3/ticker/price` shape to `price`, for tests
/// that need a normalized route without the shipped config. `extra` goes into the
/// provider's table (quota, health_check, ...).
pub fn price_provider(name: &str, hosts: &[String], extra: &str) -> String {
    let list: Vec<String> = hosts.iter().map(|h| format!("{h:?}")).collect();
    format!(
        "[providers.{name}]\nhosts = [{}]\nsymbols = {{ format = \"{{BASE}}{{QUOTE}}\", quote = {{ USD = \"USDT\" }} }}\n{extra}\n\
         [providers.{name}.ops.price]\nrequest = {{ path = \"/api/v3/ticker/price\" }}\nresponse = '{PRICE_MAP}'\n",
        list.join(", ")
    )
}

/// Two Binance-shaped price providers, `a` (tier 1) and `b` (tier 2), behind `/v1/price`,
/// plus `/raw/{provider}/{*path}`. Assets BTC, ETH and SOL; deadline 3 s, attempts 1 s.
pub struct TwoTier<'a> {
    /// Hosts of `a`.
    pub a: &'a [String],
    /// Hosts of `b`.
    pub b: &'a [String],
    /// Consecutive failures that open a breaker.
    pub breaker_failures: u32,
    /// Extra keys of the `/v1/price` route (`, cache = "2s"`).
    pub route_extra: &'a str,
    /// Extra keys of provider `a` (quota, health_check).
    pub a_extra: &'a str,
    /// Extra top-level TOML (placed in `[defaults]`, or new sections).
    pub extra: &'a str,
}

/// The config text for a [`TwoTier`] setup.
pub fn two_tier(t: &TwoTier<'_>) -> String {
    format!(
        "[server]\ndeadline = \"3s\"\n[defaults]\nattempt_timeout = \"1s\"\nbreaker = {{ consecutive_failures = {}, open_for = \"60s\" }}\n{}\n\
         [assets]\nBTC = {{ name = \"Bitcoin\" }}\nETH = {{ name = \"Ethereum\" }}\nSOL = {{ name = \"Solana\" }}\n{}\n{}\n\
         [routes]\n\"/v1/price\" = {{ op = \"price\", pool = [[\"a\"], [\"b\"]] {} }}\n\"/raw/{{provider}}/{{*path}}\" = {{ passthrough = \"*\" }}\n",
        t.breaker_failures,
        t.extra,
        price_provider("a", t.a, t.a_extra),
        price_provider("b", t.b, ""),
        t.route_extra
    )
}

/// The jq mapping of `price_provider`.
pub const PRICE_MAP: &str = "map(select(.symbol | in($symbol_of)) | {symbol: $symbol_of[.symbol], vs: $vs, price: (.price | tonumber), ts: $now})";

/// A recorded provider body from tests/fixtures.
pub fn fixture(rel: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("fixture {}: {e}", path.display()))
}
