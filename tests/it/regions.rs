//! Binance refuses whole regions: from the US and most cloud regions every Binance host
//! answers `HTTP 451 {"code":0,"msg":"Service unavailable from a restricted location
//! ..."}`. On the shipped config (every host on loopback, no keys) every normalized
//! route still answers from the other exchanges; Binance is benched as *blocked*
//! after its first 451, re-tried after `blocked_for` (1 h), shown as blocked in health
//! and metrics, and never held against a host's breaker.

use std::time::Duration;

use crate::support::shipped::{self, ProviderMocks};
use crate::support::{Mock, Proxy, Reply, fixture, get};
use serde_json::Value;

/// Every Binance host answers 451 with Binance's recorded body.
async fn binance_refusing_the_region() -> ProviderMocks {
    let mut mocks = Vec::new();
    for _ in 0..shipped::host_count("binance") {
        mocks.push(Mock::start(|_| Reply::Json(451, fixture("binance/error_451_restricted_location.json"))).await);
    }
    let hosts = mocks.iter().map(Mock::url).collect();
    ProviderMocks { hosts, mocks }
}

/// The shipped config with Binance refusing the region and the other exchanges and
/// CoinGecko replaying their recorded bodies.
async fn start() -> (Proxy, ProviderMocks, Vec<ProviderMocks>) {
    let binance = binance_refusing_the_region().await;
    let mut others = Vec::new();
    let mut hosts = vec![("binance", binance.hosts.clone())];
    for name in ["kraken", "coinbase", "okx", "coingecko"] {
        let m = shipped::provider(name, None).await;
        hosts.push((name, m.hosts.clone()));
        others.push(m);
    }
    let proxy = Proxy::start(&shipped::config(&hosts)).await;
    (proxy, binance, others)
}

const ROUTES: [&str; 10] = [
    "/v1/price?symbols=BTC",
    "/v1/ticker?symbol=BTC",
    "/v1/ohlcv?symbol=BTC&interval=1m&limit=2",
    "/v1/ohlcv?symbol=BTC&interval=5m&limit=2",
    "/v1/ohlcv?symbol=BTC&interval=15m&limit=2",
    "/v1/ohlcv?symbol=BTC&interval=1h&limit=2",
    "/v1/ohlcv?symbol=BTC&interval=4h&limit=2",
    "/v1/ohlcv?symbol=BTC&interval=1d&limit=2",
    "/v1/orderbook?symbol=BTC&depth=1",
    "/v1/indicators?symbol=BTC&interval=1h&limit=1&indicators=sma:2",
];

#[tokio::test]
async fn with_binance_refusing_the_region_every_route_answers_from_the_other_exchanges() {
    let (proxy, binance, _others) = start().await;
    for route in ROUTES {
        let r = get(proxy.url(route)).await;
        assert_eq!(r.status, 200, "{route}: {}", r.text());
        let provider = r.json()["meta"]["provider"].as_str().map(str::to_owned);
        assert!(
            matches!(provider.as_deref(), Some("okx" | "coinbase" | "kraken" | "coingecko")),
            "{route}: {provider:?}"
        );
    }
    // Uncached requests (each limit is its own cache key): Binance is not asked again.
    let before = binance.hits();
    for limit in 3..33 {
        let r = get(proxy.url(&format!("/v1/ohlcv?symbol=BTC&interval=1h&limit={limit}"))).await;
        assert_eq!(r.status, 200, "limit {limit}: {}", r.text());
    }
    let asked = binance.hits() - before;
    assert!(asked <= 2, "Binance was asked {asked} times over 30 uncached requests while it refuses the region");
    assert!(before <= 2, "the first 451 benches Binance: {before} requests reached it");

    let health = get(proxy.admin_url("/api/system/providers/health")).await.json();
    let b = health.as_array().and_then(|a| a.iter().find(|p| p["name"] == "binance")).cloned().expect("binance");
    assert_eq!(b["status"], "blocked", "{b}");
    let reason = b["reason"].as_str().unwrap_or_default();
    assert!(reason.contains("restricted location") && reason.contains("451"), "{reason}");
    let breakers = get(proxy.admin_url("/api/system/circuit-breakers")).await.json();
    for br in breakers.as_array().into_iter().flatten().filter(|b| b["provider"] == "binance") {
        assert_eq!(br["state"], "closed", "a refused region is not a host fault: {br}");
    }
    let metrics = get(proxy.admin_url("/metrics")).await.text();
    assert!(metrics.contains("marketgate_provider_blocked{provider=\"binance\"} 1"), "{metrics}");
    assert!(metrics.contains("marketgate_provider_blocked{provider=\"okx\"} 0"));
    let r = get(proxy.url("/v1/price?symbols=ETH&vs=USD")).await;
    let tried: Vec<Value> = r.json()["meta"]["tried"].as_array().cloned().unwrap_or_default();
    assert!(
        tried.iter().any(|t| t["provider"] == "binance" && t["outcome"] == "unavailable"),
        "a blocked provider is skipped, and says so: {tried:?}"
    );
    proxy.stop().await;
}

/// The block lasts `blocked_for` (1 h shipped); then Binance is asked once more, and a
/// second 451 blocks it again without a second warning.
#[tokio::test(start_paused = true)]
async fn a_blocked_provider_is_tried_again_after_an_hour() {
    let (proxy, binance, _others) = start().await;
    let r = get(proxy.url("/v1/ticker?symbol=BTC")).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let first = binance.hits();
    assert!((1..=2).contains(&first), "{first}");
    // One step (not a sleep, which would walk every probe tick of the paused clock and
    // spend the wall-clock quota windows that do not move).
    tokio::time::advance(Duration::from_secs(30 * 60)).await;
    let _ = get(proxy.url("/v1/ticker?symbol=ETH")).await;
    assert_eq!(binance.hits(), first, "still blocked after 30 min");
    tokio::time::advance(Duration::from_secs(31 * 60)).await;
    let r = get(proxy.url("/v1/ticker?symbol=BTC&vs=USDT")).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(binance.hits() > first, "Binance is asked again once the hour is over");
    let health = get(proxy.admin_url("/api/system/providers/health")).await.json();
    let b = health.as_array().and_then(|a| a.iter().find(|p| p["name"] == "binance")).cloned().expect("binance");
    assert_eq!(b["status"], "blocked", "refused again: {b}");
    proxy.stop().await;
}
