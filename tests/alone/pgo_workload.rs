//! The workload `scripts/pgo.sh` trains the profile-guided build on, run against the
//! test build here so it cannot rot: the shipped config whole, its providers on loopback
//! mocks replaying the recorded bodies over HTTPS (a test CA, HTTP/2 by ALPN, as in
//! production), the fallback tier (the fronted app) over plain HTTP (the lean path the
//! sidecar's raw passthrough takes), and a fixed mix of what a user sends: cached prices, candles
//! and indicators with varying limits (cache misses, normalization), order books,
//! tickers, markets, raw passthrough on both kinds of upstream, and `/metrics` now and
//! then, from 16 clients, half keeping their connections and half opening one per
//! request. Every request must succeed and marketgate must stop cleanly on SIGTERM (an
//! instrumented build writes its profile only then).
//!
//! `MARKETGATE_PGO_BIN` runs another build (the instrumented one) and
//! `MARKETGATE_PGO_REQUESTS` sets the count (default 3,000; the script sends 150,000).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http::Method;
use tokio::time::Instant;

use crate::support::mock::Mock;
use crate::support::process::Process;
use crate::support::shipped::{self, ProviderMocks, base, host_count};
use crate::support::tls::TestPki;
use crate::support::{client, send_on};

/// Concurrent clients.
const CLIENTS: usize = 16;

/// What the clients send, in turn: (kind, path; `{n}` varies per request).
const MIX: &[(&str, &str)] = &[
    ("raw_plain", "/raw/fallback/api/v3/ticker/price"),
    ("price_cached", "/v1/price?symbols=BTC,ETH"),
    ("raw_plain", "/raw/fallback/api/v3/ticker/price"),
    ("price_cached", "/v1/price?symbols=BTC,ETH"),
    ("ohlcv", "/v1/ohlcv?symbol=BTC&interval=1h&limit={n}"),
    ("raw_plain", "/raw/fallback/api/v3/ticker/price"),
    ("price_cached", "/v1/price?symbols=ETH,BTC"),
    ("orderbook", "/v1/orderbook?symbol=BTC&depth=20"),
    ("raw_plain", "/raw/fallback/api/v3/ticker/price"),
    ("price_cached", "/v1/price?symbols=BTC"),
    ("ticker", "/v1/ticker?symbol=BTC"),
    ("raw_tls", "/raw/kraken/0/public/Ticker?pair=XXBTZUSD"),
    ("raw_plain", "/raw/fallback/api/v3/ticker/price"),
    ("price_cached", "/v1/price?symbols=BTC,ETH"),
    ("indicators", "/v1/indicators?symbol=BTC&interval=1h&limit={n}&indicators=sma:5,ema:5,rsi:14"),
    ("markets", "/v1/markets?limit=10"),
    ("raw_plain", "/raw/fallback/api/v3/ticker/price"),
    ("price_cached", "/v1/price?symbols=BTC,ETH"),
    ("ohlcv", "/v1/ohlcv?symbol=ETH&interval=1d&limit={n}"),
    ("raw_tls", "/raw/kraken/0/public/Ticker?pair=XETHZUSD"),
];

/// Per kind: requests sent, how many failed, the first failure.
type Seen = BTreeMap<&'static str, (usize, usize, Option<String>)>;

/// One in this many requests is a `/metrics` scrape on the admin listener.
const METRICS_EVERY: usize = 97;

/// `provider`'s hosts over HTTPS, signed by `pki`'s CA.
async fn tls_provider(provider: &'static str, pki: &TestPki) -> ProviderMocks {
    let mut mocks = Vec::new();
    for _ in 0..host_count(provider) {
        mocks.push(
            Mock::start_tls(move |s| shipped::reply(provider, None, &s.path_and_query), pki.server_config()).await,
        );
    }
    // The certificate names `localhost`; the mocks listen on 127.0.0.1.
    let hosts = mocks.iter().map(|m| format!("https://localhost:{}{}", m.addr.port(), base(provider))).collect();
    ProviderMocks { hosts, mocks }
}

/// The shipped config with `hosts`, logging JSON (the process helper reads the ready
/// line), and its providers' request quotas lifted: the mocks have no budget to protect,
/// and a quota spent would answer the rest of the workload 503 without training the
/// paths a user's requests take.
fn workload_config(hosts: &[(&str, Vec<String>)]) -> String {
    let text = shipped::config(hosts).replacen("format = \"text\"", "format = \"json\"", 1);
    text.lines()
        .map(|line| match line.strip_prefix("quota = { limit = ") {
            Some(rest) => {
                format!("quota = {{ limit = 1000000000{}", rest.trim_start_matches(|c: char| c.is_ascii_digit()))
            }
            None => line.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pgo_workload_succeeds_and_stops_cleanly() {
    let total: usize = env_or("MARKETGATE_PGO_REQUESTS", 3_000);
    let bin: PathBuf = env_or("MARKETGATE_PGO_BIN", PathBuf::from(env!("CARGO_BIN_EXE_marketgate")));
    let pki = TestPki::new("pgo");
    let mut hosts: Vec<(&str, Vec<String>)> = Vec::new();
    let mut tls = Vec::new();
    for name in ["binance", "kraken", "coinbase", "okx", "coingecko", "coinpaprika", "coincap", "cryptocompare"] {
        let m = tls_provider(name, &pki).await;
        hosts.push((name, m.hosts.clone()));
        tls.push((name, m));
    }
    // The fronted app (the fallback tier, no quota): what a sidecar's raw passthrough
    // serves most, over plain HTTP.
    let app = Mock::fixed(200, &crate::support::fixture("binance/ticker_price_list.json")).await;
    let config =
        format!("[upstream]\nextra_ca_file = {:?}\n{}", pki.ca_path().display().to_string(), workload_config(&hosts));
    let mut keys = crate::support::defaults::keyed_env();
    keys.0.insert("MARKETGATE_FALLBACK_URL".to_owned(), app.url());
    let env: Vec<(&str, &str)> = keys.0.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let mut process = Process::start_bin(&bin, "pgo", &config, &env);

    let next = Arc::new(AtomicUsize::new(0));
    let (base, admin) = (Arc::new(process.client.clone()), Arc::new(process.admin.clone()));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..CLIENTS {
        let (next, base, admin) = (Arc::clone(&next), Arc::clone(&base), Arc::clone(&admin));
        // Half the clients keep their connections (a pooled client, as the benchmark's
        // wrk), half open one per request (as a script calling `requests.get` does).
        let kept = (c % 2 == 0).then(client);
        tasks.push(tokio::spawn(async move {
            let mut seen: Seen = BTreeMap::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= total {
                    return seen;
                }
                let (kind, url) = if i % METRICS_EVERY == 0 {
                    ("metrics", format!("{admin}/metrics"))
                } else {
                    let (kind, path) = MIX[i % MIX.len()];
                    (kind, format!("{base}{}", path.replace("{n}", &(10 + i % 90).to_string())))
                };
                let on = kept.clone().unwrap_or_else(client);
                let r = send_on(&on, Method::GET, &url, &[], Bytes::new()).await;
                let entry = seen.entry(kind).or_default();
                entry.0 += 1;
                if r.status != 200 {
                    entry.1 += 1;
                    entry.2.get_or_insert_with(|| format!("{url} -> {}: {:.300}", r.status, r.text()));
                }
            }
        }));
    }
    let mut seen: Seen = BTreeMap::new();
    for t in tasks {
        let part =
            tokio::time::timeout(Duration::from_secs(300), t).await.expect("workload within 300 s").expect("client");
        for (kind, (n, failed, first)) in part {
            let e = seen.entry(kind).or_default();
            e.0 += n;
            e.1 += failed;
            e.2 = e.2.take().or(first);
        }
    }
    let took = started.elapsed();
    let counts: Vec<String> = seen.iter().map(|(k, (n, failed, _))| format!("{k} {n} ({failed} failed)")).collect();
    println!("pgo workload: {total} requests in {took:.1?}: {}; {}", counts.join(", "), bin.display());
    let failed: Vec<&String> = seen.values().filter_map(|(_, _, first)| first.as_ref()).collect();
    assert!(failed.is_empty(), "every request of the workload succeeds; the first failure of each kind: {failed:#?}");
    for kind in MIX.iter().map(|(k, _)| *k).chain(["metrics"]) {
        assert!(seen.get(kind).is_some_and(|(n, _, _)| *n > 0), "{kind} was sent");
    }
    assert!(app.hits() > 0, "the plain-HTTP upstream was reached");
    for (name, m) in &tls {
        if ["binance", "kraken"].contains(name) {
            assert!(m.hits() > 0, "{name}'s HTTPS hosts were reached");
        }
    }
    let status = process.stop(Duration::from_secs(15));
    assert!(status.is_some_and(|s| s.success()), "marketgate stops cleanly on SIGTERM: {status:?}");
}
