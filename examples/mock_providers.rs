//! Offline demo upstreams: serves the recorded provider bodies from tests/fixtures on
//! loopback, under one path prefix per provider (and per Binance mirror), with a small
//! control page to make any of them fail, hang, rate-limit, slow down or send garbage.
//!
//!     cargo run --example mock_providers            # listens on 127.0.0.1:9100
//!     cargo run --example mock_providers -- 127.0.0.1:0
//!
//! Then run marketgate on config/demo.toml and open http://127.0.0.1:9901/dashboard.
//! The control page is http://127.0.0.1:9100/ (or `curl -X POST .../control/binance-1/fail`).

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::io::Write;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full, combinators::BoxBody};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};

type Body = BoxBody<Bytes, Infallible>;

/// The upstream names, each a path prefix.
const UPSTREAMS: [&str; 11] = [
    "binance",
    "binance-1",
    "binance-2",
    "kraken",
    "coinbase",
    "okx",
    "coingecko",
    "coincap",
    "coinpaprika",
    "cryptocompare",
    "alternative_me",
];

/// How an upstream behaves.
const MODES: [&str; 6] = ["ok", "fail", "hang", "ratelimit", "slow", "garbage"];

/// Path (after the upstream prefix) -> recorded body. Binance mirrors share Binance's.
fn routes() -> Vec<(&'static str, &'static str, &'static str)> {
    macro_rules! f {
        ($p:literal) => {
            include_str!(concat!("../tests/fixtures/", $p))
        };
    }
    vec![
        ("binance", "/api/v3/ticker/price", f!("binance/ticker_price_list.json")),
        ("binance", "/api/v3/ticker/24hr", f!("binance/ticker_24hr_single.json")),
        ("binance", "/api/v3/klines", f!("binance/klines_btcusdt_1d_1000.json")),
        ("binance", "/api/v3/depth", f!("binance/depth.json")),
        ("binance", "/api/v3/ping", f!("binance/ping.json")),
        ("kraken", "/0/public/Ticker", f!("kraken/ticker_multi_ethusd_xbtusd_2024-03-19.json")),
        ("kraken", "/0/public/OHLC", f!("kraken/ohlc_xxbtzusd_docsample.json")),
        ("kraken", "/0/public/Depth", f!("kraken/depth_xxbtzusd_docsample.json")),
        ("kraken", "/0/public/SystemStatus", f!("kraken/system_status_online_2025-11-11.json")),
        ("coinbase", "/products/BTC-USD/ticker", f!("coinbase_exchange/ticker_btc-usd_2026-06-19.json")),
        ("coinbase", "/products/BTC-USD/stats", f!("coinbase_exchange/stats_btc-usd_2026-06-19.json")),
        ("coinbase", "/products/BTC-USD/candles", f!("coinbase_exchange/candles_btc-usd_60_first2_2026-06-19.json")),
        ("coinbase", "/products/BTC-USD/book", f!("coinbase_exchange/book_level1_btc-usd_2026-06-19.json")),
        ("coinbase", "/time", f!("coinbase_exchange/time_2026-06-19.json")),
        ("okx", "/api/v5/market/tickers", f!("okx/ticker_btc-usdt_2023-01-04.json")),
        ("okx", "/api/v5/market/ticker", f!("okx/ticker_btc-usdt_2023-01-04.json")),
        ("okx", "/api/v5/market/candles", f!("okx/candles_btc-usdt_1h_3rows_2024-01-30.json")),
        ("okx", "/api/v5/market/books", f!("okx/books_btc-usdt_sz2_2024-04-04.json")),
        ("okx", "/api/v5/public/time", f!("okx/time_2024-04-04.json")),
        ("coingecko", "/api/v3/simple/price", f!("coingecko/simple_price_multi.json")),
        ("coingecko", "/api/v3/coins/markets", f!("coingecko/coins_markets.json")),
        ("coingecko", "/api/v3/coins/bitcoin/ohlc", f!("coingecko/ohlc_bitcoin_usd_days7.json")),
        ("coingecko", "/api/v3/exchanges", f!("coingecko/exchanges.json")),
        ("coingecko", "/api/v3/coins/list", f!("coingecko/coins_list.json")),
        ("coincap", "/v3/assets", f!("coincap/v2_assets_limit10.json")),
        ("coincap", "/v3/exchanges", f!("coincap/v2_exchanges_docsample.json")),
        ("coinpaprika", "/v1/tickers/btc-bitcoin", f!("coinpaprika/tickers_id_btc-bitcoin.json")),
        ("coinpaprika", "/v1/tickers", f!("coinpaprika/tickers_list_first3_2023-09-14.json")),
        ("coinpaprika", "/v1/coins", f!("coinpaprika/coins_list_top10.json")),
        (
            "coinpaprika",
            "/v1/coins/btc-bitcoin/ohlcv/historical",
            f!("coinpaprika/coins_btc-bitcoin_ohlcv_historical.json"),
        ),
        ("cryptocompare", "/data/pricemulti", f!("cryptocompare/pricemulti_btc_eth_usd.json")),
        ("cryptocompare", "/data/pricemultifull", f!("cryptocompare/pricemultifull_btc_usd_eur.json")),
        ("cryptocompare", "/data/v2/histoday", f!("cryptocompare/histoday_v2_btc_usd_limit30.json")),
        ("cryptocompare", "/data/v2/news/", f!("cryptocompare/news_v2_lang_EN_2020-11.json")),
        ("alternative_me", "/fng/", f!("alternative_me/fng_limit2_2026-09-25.json")),
    ]
}

struct Mocks {
    modes: Mutex<BTreeMap<String, String>>,
    hits: Mutex<BTreeMap<String, u64>>,
    routes: Vec<(&'static str, &'static str, &'static str)>,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let addr: SocketAddr = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:9100".into()).parse()?;
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    println!("mock providers listening on http://{local} (control page: http://{local}/)");
    let state = Arc::new(Mocks {
        modes: Mutex::new(UPSTREAMS.iter().map(|u| ((*u).to_owned(), "ok".to_owned())).collect()),
        hits: Mutex::new(BTreeMap::new()),
        routes: routes(),
    });
    loop {
        let (stream, _) = listener.accept().await?;
        let state = Arc::clone(&state);
        tokio::spawn(async move {
            let svc = service_fn(move |req| handle(Arc::clone(&state), req));
            let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(stream), svc)
                .await;
        });
    }
}

async fn handle(state: Arc<Mocks>, req: Request<Incoming>) -> Result<Response<Body>, Infallible> {
    let path = req.uri().path().to_owned();
    if path == "/" {
        return Ok(page(&state));
    }
    if path == "/control" {
        let modes = state.modes.lock().map(|m| m.clone()).unwrap_or_default();
        return Ok(json(200, &serde_json::to_string(&modes).unwrap_or_default()));
    }
    if let Some(rest) = path.strip_prefix("/control/") {
        if req.method() != Method::POST {
            return Ok(json(405, r#"{"error":"POST /control/<upstream>/<mode>"}"#));
        }
        return Ok(control(&state, rest));
    }
    let mut parts = path.splitn(3, '/').skip(1);
    let upstream = parts.next().unwrap_or_default().to_owned();
    let tail = format!("/{}", parts.next().unwrap_or_default());
    let family = if upstream.starts_with("binance") { "binance" } else { upstream.as_str() };
    let Some((_, _, body)) = state.routes.iter().find(|(f, p, _)| *f == family && *p == tail) else {
        return Ok(json(404, &format!(r#"{{"error":"no recorded body for {path}"}}"#)));
    };
    if let Ok(mut h) = state.hits.lock() {
        *h.entry(upstream.clone()).or_default() += 1;
    }
    let mode = state.modes.lock().ok().and_then(|m| m.get(&upstream).cloned()).unwrap_or_else(|| "ok".into());
    Ok(match mode.as_str() {
        "fail" => json(503, r#"{"error":"service unavailable (mock)"}"#),
        "hang" => {
            tokio::time::sleep(Duration::from_secs(600)).await;
            json(504, "{}")
        }
        "ratelimit" => {
            let mut r = json(429, r#"{"code":-1003,"msg":"Too much request weight used (mock)"}"#);
            r.headers_mut().insert(header::RETRY_AFTER, header::HeaderValue::from_static("30"));
            r
        }
        "slow" => {
            tokio::time::sleep(Duration::from_millis(800)).await;
            json(200, body)
        }
        "garbage" => {
            let mut r = json(200, "<html><body>Service temporarily unavailable</body></html>");
            r.headers_mut().insert(header::CONTENT_TYPE, header::HeaderValue::from_static("text/html"));
            r
        }
        _ => json(200, body),
    })
}

fn control(state: &Mocks, rest: &str) -> Response<Body> {
    let (upstream, mode) = rest.split_once('/').unwrap_or((rest, ""));
    let all = upstream == "all";
    if !all && !UPSTREAMS.contains(&upstream) {
        return json(404, &format!(r#"{{"error":"unknown upstream; one of {}"}}"#, UPSTREAMS.join(", ")));
    }
    if !MODES.contains(&mode) {
        return json(400, &format!(r#"{{"error":"unknown mode; one of {}"}}"#, MODES.join(", ")));
    }
    if let Ok(mut m) = state.modes.lock() {
        for u in UPSTREAMS.iter().filter(|u| all || **u == upstream) {
            m.insert((*u).to_owned(), mode.to_owned());
        }
    }
    // Not println!: a closed stdout must not take the server down.
    let _ = writeln!(std::io::stdout(), "{upstream} -> {mode}");
    let mut r = Response::new(Full::new(Bytes::new()).boxed());
    *r.status_mut() = StatusCode::SEE_OTHER;
    r.headers_mut().insert(header::LOCATION, header::HeaderValue::from_static("/"));
    r
}

fn page(state: &Mocks) -> Response<Body> {
    let modes = state.modes.lock().map(|m| m.clone()).unwrap_or_default();
    let hits = state.hits.lock().map(|h| h.clone()).unwrap_or_default();
    let mut rows = String::new();
    for (u, mode) in &modes {
        let buttons: String = MODES
            .iter()
            .map(|m| {
                let pressed = if m == mode { " class=on" } else { "" };
                format!("<form method=post action=/control/{u}/{m}><button{pressed}>{m}</button></form>")
            })
            .collect();
        rows.push_str(&format!(
            "<tr><th>{u}</th><td>{}</td><td>{mode}</td><td>{buttons}</td></tr>",
            hits.get(u).copied().unwrap_or(0)
        ));
    }
    let html = format!(
        "<!doctype html><meta charset=utf-8><title>marketgate demo upstreams</title>\
         <style>body{{font:15px system-ui;margin:2em}}td,th{{padding:.3em .6em;text-align:left}}form{{display:inline}}\
         button{{margin:0 .15em;padding:.2em .6em}}button.on{{background:#1d4ed8;color:#fff}}</style>\
         <h1>Demo upstreams</h1><p>Recorded provider bodies on loopback. Make one misbehave and watch \
         <a href=http://127.0.0.1:9901/dashboard>the dashboard</a> fail over.</p>\
         <table><tr><th>upstream</th><th>requests</th><th>mode</th><th>set mode</th></tr>{rows}</table>\
         <p><form method=post action=/control/all/ok><button>reset all to ok</button></form></p>"
    );
    let mut r = Response::new(Full::new(Bytes::from(html)).boxed());
    r.headers_mut().insert(header::CONTENT_TYPE, header::HeaderValue::from_static("text/html; charset=utf-8"));
    r
}

fn json(status: u16, body: &str) -> Response<Body> {
    let mut r = Response::new(Full::new(Bytes::from(body.to_owned())).boxed());
    *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    r.headers_mut().insert(header::CONTENT_TYPE, header::HeaderValue::from_static("application/json"));
    r
}
