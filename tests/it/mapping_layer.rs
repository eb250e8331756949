//! The TOML mapping layer keeps an added exchange correct: ids that know their quote,
//! answers checked against what was asked, candles whose columns make sense, partial
//! price answers, the provider's own "not listed" words, and its documented maximums.
//! Each test runs the shipped config with one exchange replaying its recorded bodies
//! and every other provider refusing connections.

use crate::support::shipped::{self, ProviderMocks};
use crate::support::{Proxy, get};
use serde_json::Value;

/// The shipped config with only `name`'s hosts at its recorded-body mocks.
async fn alone(name: &'static str) -> (Proxy, ProviderMocks) {
    let mocks = shipped::provider(name, None).await;
    let proxy = Proxy::start(&shipped::config(&[(name, mocks.hosts.clone())])).await;
    (proxy, mocks)
}

fn asked(mocks: &ProviderMocks) -> Vec<String> {
    mocks.mocks.iter().flat_map(|m| m.seen()).map(|s| s.path_and_query).collect()
}

/// The old README example: one Kraken id for BTC whatever `vs` asks. It is refused,
/// naming the op and the ways to say the quote.
#[test]
fn an_id_that_fixes_the_pair_whatever_vs_asks_is_refused() {
    let cfg = r#"
[assets]
BTC = { name = "Bitcoin" }
[providers.kraken]
hosts = ["https://api.kraken.com"]
symbols = { ids = { BTC = "XBTUSD" } }
[providers.kraken.ops.price]
request = { path = "/0/public/Ticker", query = { pair = "{ids}" } }
response = '[.result | to_entries[] | {symbol: $symbol_of[.key], vs: $vs, price: (.value.c[0] | tonumber), ts: $now}]'
[routes]
"/v1/price" = { op = "price", pool = [["kraken"]] }
"#;
    let err = marketgate::config::parse(cfg, "kraken.toml", &crate::support::TestEnv::default()).expect_err("refused");
    let text = err.to_string();
    assert!(text.contains("kraken.toml:7:1: providers.kraken.ops.price"), "{text}");
    assert!(text.contains("symbols.pairs") && text.contains("quotes = [\"USD\"]"), "{text}");
    let fixed =
        cfg.replace("symbols = { ids = { BTC = \"XBTUSD\" } }", "symbols = { pairs = { \"BTC/USD\" = \"XXBTZUSD\" } }");
    marketgate::config::parse(&fixed, "kraken.toml", &crate::support::TestEnv::default())
        .expect("a whole-pair id is fine");
}

/// BTC/EUR is asked as XXBTZEUR; an answer holding only XXBTZUSD is never served as EUR.
#[tokio::test]
async fn a_whole_pair_id_is_never_answered_for_another_quote() {
    let (proxy, kraken) = alone("kraken").await;
    let r = get(proxy.url("/v1/ticker?symbol=BTC&vs=EUR")).await;
    assert!(asked(&kraken).iter().any(|p| p.contains("pair=XXBTZEUR")), "{:?}", asked(&kraken));
    assert_ne!(r.status, 200, "{}", r.text());
    let r = get(proxy.url("/v1/price?symbols=BTC&vs=EUR")).await;
    assert_ne!(r.status, 200, "the recorded list has BTC/USD only: {}", r.text());
    let usd = get(proxy.url("/v1/price?symbols=BTC&vs=USD")).await;
    assert_eq!(usd.status, 200, "{}", usd.text());
    assert_eq!(usd.json()["data"][0]["vs"], "USD");
    proxy.stop().await;
}

/// Coinbase's `[time, low, high, open, close]` read in Binance's order: the candle
/// check refuses it as `bad_body` instead of serving low above open.
#[tokio::test]
async fn swapped_candle_columns_are_not_served() {
    let coinbase = shipped::provider("coinbase", None).await;
    let shipped_rows = "rows = { time = \"s\", ts = 0, low = 1, high = 2, open = 3, close = 4, volume = 5 }";
    let binance_order = "rows = { time = \"s\", ts = 0, open = 1, high = 2, low = 3, close = 4, volume = 5 }";
    let cfg = shipped::config(&[("coinbase", coinbase.hosts.clone())]);
    assert!(cfg.contains(shipped_rows), "the shipped Coinbase rows changed");
    let proxy = Proxy::start(&cfg.replace(shipped_rows, binance_order)).await;
    let r = get(proxy.url("/v1/ohlcv?symbol=BTC&interval=1m&limit=2")).await;
    assert_eq!(r.status, 502, "{}", r.text());
    let attempts = r.json()["error"]["attempts"].clone();
    let cb = attempts.as_array().and_then(|a| a.iter().find(|t| t["provider"] == "coinbase")).cloned();
    let cb = cb.expect("coinbase was asked");
    assert_eq!(cb["outcome"], "bad_body", "{cb}");
    assert!(cb["detail"].as_str().unwrap_or_default().contains("columns swapped"), "{cb}");
    proxy.stop().await;
}

/// One request per symbol: the one Coinbase does not list (404 NotFound) lands in
/// `meta.missing`, the rest is served.
#[tokio::test]
async fn a_symbol_the_exchange_does_not_list_is_missing_not_fatal() {
    let (proxy, _coinbase) = alone("coinbase").await;
    let r = get(proxy.url("/v1/price?symbols=BTC,LEO")).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    assert_eq!(v["data"].as_array().map(Vec::len), Some(1));
    assert_eq!(v["data"][0]["symbol"], "BTC");
    assert_eq!(v["meta"]["missing"], serde_json::json!(["LEO"]));
    proxy.stop().await;
}

/// Coinbase says "no such product" with HTTP 404 `{"message":"NotFound"}`: its mapping
/// reads that status, so the attempt is "not listed" in Coinbase's own words.
#[tokio::test]
async fn an_unknown_coinbase_product_is_not_listed_in_its_own_words() {
    let (proxy, _coinbase) = alone("coinbase").await;
    let r = get(proxy.url("/v1/ticker?symbol=LEO")).await;
    let v = r.json();
    let attempts = v["error"]["attempts"].as_array().cloned().unwrap_or_default();
    let cb = attempts.iter().find(|t| t["provider"] == "coinbase").cloned().unwrap_or(Value::Null);
    assert_eq!(cb["outcome"], "http_4xx", "{v}");
    assert!(cb["detail"].as_str().unwrap_or_default().contains("NotFound"), "{cb}");
    proxy.stop().await;
}

/// Candles and book levels are asked within the documented maximums (OKX: 300 candles,
/// 400 levels; Kraken: 500 levels), and `meta.served` says when fewer came back.
#[tokio::test]
async fn no_request_goes_over_an_exchanges_documented_maximum() {
    let (proxy, okx) = alone("okx").await;
    let r = get(proxy.url("/v1/ohlcv?symbol=BTC&interval=1h&limit=1000")).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(asked(&okx).iter().any(|p| p.contains("/candles?") && p.contains("limit=300")), "{:?}", asked(&okx));
    let served = r.json()["meta"]["served"].clone();
    assert_eq!(served, serde_json::json!({"asked": 1000, "served": 3, "provider_max": 300}));
    let r = get(proxy.url("/v1/orderbook?symbol=BTC&depth=1000")).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(asked(&okx).iter().any(|p| p.contains("/books?") && p.contains("sz=400")), "{:?}", asked(&okx));
    assert_eq!(r.json()["meta"]["served"]["provider_max"], 400);
    proxy.stop().await;

    let (proxy, kraken) = alone("kraken").await;
    let r = get(proxy.url("/v1/orderbook?symbol=BTC&depth=1000")).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(asked(&kraken).iter().any(|p| p.contains("/Depth?") && p.contains("count=500")), "{:?}", asked(&kraken));
    let r = get(proxy.url("/v1/orderbook?symbol=BTC&depth=2")).await;
    assert_eq!(r.json()["meta"]["served"], Value::Null, "nothing short: {}", r.text());
    proxy.stop().await;
}
