//! Test support: scripted mock upstreams on 127.0.0.1:0 (plain and TLS), a harness that
//! runs the real `marketgate::run` on ephemeral ports, a tiny HTTP client, and fixtures.
#![allow(dead_code)]

pub mod cases;
pub mod defaults;
pub mod demo;
pub mod mock;
pub mod process;
pub mod redis;
pub mod shipped;
pub mod stream_client;
pub mod stream_mock;
pub mod tls;
pub mod venue_mock;

// Not every test file uses every re-export.
#[allow(unused_imports)]
pub use mock::{Mock, Reply, Seen, refused_addr};

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Method, Request};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use marketgate::config::env::EnvLookup;
use marketgate::gateway::Gateway;
use marketgate::metrics::Metrics;
use marketgate::{App, Listeners, RunOptions, WorkerMode};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

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
        // Off the runtime's workers: compiling a big config's mappings (the shipped one,
        // in a debug build) takes long enough to stall every mock and proxy of the test
        // that shares those threads, and so the very answer a test is timing.
        let build = move || {
            let cfg =
                marketgate::config::parse(&text, &name, &env).unwrap_or_else(|e| panic!("test config refused:\n{e}"));
            let metrics = Metrics::new().expect("metrics");
            App::new(cfg, path, Arc::new(env), metrics, Default::default()).expect("app")
        };
        let app = match tokio::task::spawn_blocking(build).await {
            Ok(app) => app,
            Err(e) => std::panic::resume_unwind(e.into_panic()),
        };
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

/// A test client: plain HTTP, its own pool of kept connections.
pub type TestClient = Client<HttpConnector, Full<Bytes>>;

/// A new [`TestClient`] (`send` makes one per request: a connection each).
pub fn client() -> TestClient {
    Client::builder(TokioExecutor::new()).build_http()
}

/// Waits (polling every 5 ms) until `check` holds; fails the test naming `what` after
/// `within`.
pub async fn until(what: &str, within: Duration, check: impl Fn() -> bool) {
    let end = tokio::time::Instant::now() + within;
    while !check() {
        assert!(tokio::time::Instant::now() < end, "{what} within {within:?}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// GET `url`.
pub async fn get(url: impl AsRef<str>) -> Got {
    send(Method::GET, url.as_ref(), &[], Bytes::new()).await
}

/// Sends a request and collects the whole response (bounded by 30 s).
pub async fn send(method: Method, url: &str, headers: &[(&str, &str)], body: Bytes) -> Got {
    send_on(&client(), method, url, headers, body).await
}

/// [`send`] over `client`, whose connections stay open for the next request.
pub async fn send_on(client: &TestClient, method: Method, url: &str, headers: &[(&str, &str)], body: Bytes) -> Got {
    let mut req = Request::builder().method(method).uri(url);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let req = req.body(Full::new(body)).expect("request");
    let fut = async {
        let resp = client.request(req).await.unwrap_or_else(|e| panic!("request to {url} failed: {e}"));
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
