//! The worked example of docs/ADDING_AN_EXCHANGE.md, as written there: KuCoin added by
//! TOML. `check` accepts the file; run with KuCoin's host at a mock replaying its
//! recorded bodies (tests/fixtures/kucoin/) and every other provider refusing, each
//! operation answers with the recorded values (KuCoin's close-before-high candle
//! columns included), a pair KuCoin does not list is "not listed", and its rate limit
//! benches it.

// Numbers are copied verbatim from the fixtures, even past f64 precision.
#![allow(clippy::excessive_precision)]

use crate::support::cases::assert_num;
use crate::support::{Mock, Proxy, Reply, fixture, get, shipped};
use serde_json::Value;

/// The TOML block between the guide's `worked-example` markers.
fn worked_example() -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/ADDING_AN_EXCHANGE.md");
    let doc = std::fs::read_to_string(path).expect("the guide");
    let start = doc.find("<!-- worked-example: begin -->").expect("begin marker");
    let end = doc.find("<!-- worked-example: end -->").expect("end marker");
    let block = &doc[start..end];
    let code = block.split_once("```toml\n").map(|(_, rest)| rest).expect("a toml block");
    code.split_once("```").map(|(toml, _)| toml.to_owned()).expect("the block ends")
}

/// The guide's file over the shipped config with every host on loopback (the embedded
/// default's hosts are on the internet), KuCoin's at `kucoin`.
fn config(kucoin: &str) -> String {
    let mut base: toml::Table = toml::from_str(&shipped::config(&[])).expect("shipped config");
    let mut overlay: toml::Table = toml::from_str(&worked_example()).expect("the guide's TOML parses");
    overlay.remove("extends");
    overlay["providers"]["kucoin"]
        .as_table_mut()
        .expect("kucoin table")
        .insert("hosts".into(), toml::Value::Array(vec![toml::Value::String(kucoin.to_owned())]));
    marketgate::config::load::merge(&mut base, overlay);
    toml::to_string(&base).expect("merged")
}

/// KuCoin's recorded bodies on its paths; LEO is a pair it does not list.
async fn kucoin() -> Mock {
    Mock::start(|s| {
        let pq = s.path_and_query.as_str();
        let leo = pq.contains("symbol=LEO-USDT");
        let body = match pq.split_once('?').map_or(pq, |(p, _)| p) {
            "/api/v1/market/orderbook/level1" if leo => "kucoin/error_unknown_symbol_level1_data_null.json",
            "/api/v1/market/orderbook/level1" => "kucoin/level1_btc-usdt_2023-01-01.json",
            "/api/v1/market/stats" if leo => "kucoin/error_unknown_symbol_level1_data_null.json",
            "/api/v1/market/stats" => "kucoin/stats_btc-usdt_2024-03-08.json",
            "/api/v1/market/candles" if leo => "kucoin/error_400100_pair_not_provided_candles.json",
            "/api/v1/market/candles" if pq.contains("type=1day") => "kucoin/candles_btc-usdt_1day_3rows_2021-09.json",
            "/api/v1/market/candles" => "kucoin/candles_btc-usdt_1hour_3rows_2024-01-30.json",
            "/api/v1/market/orderbook/level2_20" => "kucoin/level2_20_btc-usdt_2levels_2024-03-08.json",
            "/api/v1/timestamp" => "kucoin/timestamp_docsample.json",
            _ => return Reply::Json(404, r#"{"code":"404000","msg":"Url Not Found"}"#.into()),
        };
        Reply::Json(200, fixture(body))
    })
    .await
}

#[test]
fn check_accepts_the_guide_as_written() {
    let text = worked_example();
    assert!(text.starts_with("extends = \"default\""), "the guide shows a complete file");
    let cfg = marketgate::config::parse(&text, "kucoin.toml", &crate::support::TestEnv::default()).expect("valid");
    assert!(cfg.provider("kucoin").is_some());
}

#[tokio::test]
async fn kucoin_added_by_the_guide_serves_every_operation() {
    let mock = kucoin().await;
    let proxy = Proxy::start(&config(&mock.url())).await;
    let ok = |r: &crate::support::Got| {
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(r.json()["meta"]["provider"], "kucoin", "{}", r.text());
        r.json()
    };

    let v = ok(&get(proxy.url("/v1/price?symbols=BTC")).await);
    assert_num!(v["data"][0]["price"], 16542.7);
    assert_eq!(v["data"][0]["ts"], 1672585428412_i64);
    assert_eq!(v["data"][0]["vs"], "USD", "served from USDT");

    let v = ok(&get(proxy.url("/v1/ticker?symbol=BTC")).await);
    let t = &v["data"];
    assert_num!(t["last"], 67400.0);
    assert_num!(t["open"], 67400.0 - 597.9);
    assert_num!(t["change_pct"], 0.89);
    assert_num!(t["high"], 67978.8);
    assert_num!(t["volume"], 6442.17728633);
    assert_num!(t["quote_volume"], 433203364.463489651);

    let v = ok(&get(proxy.url("/v1/ohlcv?symbol=BTC&interval=1h&limit=3")).await);
    let c = &v["data"][0];
    assert_eq!(c["ts"], 1706630400000_i64, "oldest first, in ms");
    assert_num!(c["open"], 43383.7);
    assert_num!(c["close"], 43501.0);
    assert_num!(c["high"], 43521.9);
    assert_num!(c["low"], 43222.8);
    assert_num!(c["volume"], 101.30420492);
    let asked: Vec<String> = mock.seen().into_iter().map(|s| s.path_and_query).collect();
    assert!(asked.iter().any(|p| p.contains("type=1hour") && p.contains("startAt=")), "{asked:?}");
    let v = ok(&get(proxy.url("/v1/ohlcv?symbol=BTC&interval=1d&limit=3")).await);
    assert_num!(v["data"][2]["close"], 40730.4);

    let v = ok(&get(proxy.url("/v1/orderbook?symbol=BTC&depth=100")).await);
    assert_num!(v["data"]["bids"][0][0], 67539.7);
    assert_num!(v["data"]["asks"][1][1], 0.0001);
    assert_eq!(v["meta"]["served"], serde_json::json!({"asked": 100, "served": 2, "provider_max": 20}));

    let v = ok(&get(proxy.url("/v1/price?symbols=BTC,LEO")).await);
    assert_eq!(v["meta"]["missing"], serde_json::json!(["LEO"]), "{v}");
    let r = get(proxy.url("/v1/ohlcv?symbol=LEO&interval=1h&limit=3")).await;
    let attempts: Vec<Value> = r.json()["error"]["attempts"].as_array().cloned().unwrap_or_default();
    let kc = attempts.iter().find(|a| a["provider"] == "kucoin").cloned().unwrap_or(Value::Null);
    assert_eq!(kc["outcome"], "http_4xx", "{}", r.text());
    assert!(kc["detail"].as_str().unwrap_or_default().contains("not provided"), "KuCoin's words: {kc}");
    proxy.stop().await;
}

#[tokio::test]
async fn kucoins_rate_limit_benches_it() {
    let limited = Mock::start(|_| Reply::Json(429, fixture("kucoin/error_429_429000_too_many_requests.json"))).await;
    let proxy = Proxy::start(&config(&limited.url())).await;
    let r = get(proxy.url("/v1/ticker?symbol=BTC")).await;
    assert_ne!(r.status, 200, "{}", r.text());
    let first = limited.hits();
    let _ = get(proxy.url("/v1/ticker?symbol=ETH")).await;
    assert_eq!(limited.hits(), first, "benched: no second request");
    let health = get(proxy.admin_url("/api/system/providers/health")).await.json();
    let kc = health.as_array().and_then(|a| a.iter().find(|p| p["name"] == "kucoin")).cloned().expect("kucoin");
    assert_eq!(kc["status"], "down", "{kc}");
    assert!(kc["benched_until"].is_string(), "{kc}");
    proxy.stop().await;
}

/// The README's shorter sketch is a valid config too.
#[test]
fn the_readme_sketch_is_a_valid_config() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md");
    let readme = std::fs::read_to_string(path).expect("README");
    let section = readme.split_once("### Adding an exchange").map(|(_, rest)| rest).expect("the section");
    let code = section.split_once("```toml\n").and_then(|(_, rest)| rest.split_once("```")).map(|(t, _)| t);
    let cfg = marketgate::config::parse(code.expect("a toml block"), "README", &crate::support::TestEnv::default())
        .expect("the README's sketch is valid");
    assert!(cfg.provider("kucoin").is_some_and(|p| !p.ops.is_empty()));
}
