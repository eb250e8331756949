//! Data computed by marketgate, on the shipped config with the providers moved to
//! loopback mocks: indicator parameters, top movers from a recorded markets body, and a
//! consensus price that drops the provider that is 10 % off. The indicators' values are
//! checked against TA-Lib in tests/tools/talib.rs.

use crate::support::mock::klines_mock;
use crate::support::{Mock, Proxy, Reply, TestEnv, defaults, fixture, get};
use serde_json::Value;

/// A bad indicator or parameter is a 400 that names it; nothing reaches Binance.
#[tokio::test]
async fn a_bad_indicator_is_refused_by_name() {
    let (mock, asked) = klines_mock().await;
    let cfg = defaults::with_hosts(&[("binance", mock.url())], &crate::support::refused_addr().await);
    let proxy = Proxy::start_with(&cfg, TestEnv::default(), None, Default::default()).await;
    for (query, says) in [
        ("indicators=sma:20,stoch:14", r#"indicators: "stoch:14": unknown indicator"#),
        ("indicators=rsi:0", r#"indicators: "rsi:0": period "0" must be a whole number from 2 to 500"#),
        ("indicators=macd:26:12:9", "must be shorter than the slow one"),
        ("limit=0", "limit"),
        ("interval=2h", "interval"),
        ("indicator=sma:20", "indicator: unknown parameter"),
    ] {
        let r = get(proxy.url(&format!("/v1/indicators?symbol=BTC&{query}"))).await;
        assert_eq!(r.status, 400, "{query}: {}", r.text());
        assert!(r.json()["error"]["message"].as_str().is_some_and(|m| m.contains(says)), "{query}: {}", r.text());
    }
    assert!(asked.lock().expect("lock").is_empty());
}

/// /v1/movers from the recorded CoinCap assets (CoinGecko, first in the pool, down):
/// the largest rises and falls by 24 h change, as the body has them.
#[tokio::test]
async fn movers_come_from_the_recorded_markets_body() {
    let coincap = Mock::start(|_| Reply::Json(200, fixture("coincap/v2_assets_limit10.json"))).await;
    let cfg =
        defaults::with_hosts(&[("coincap", format!("{}/v3", coincap.url()))], &crate::support::refused_addr().await);
    let proxy = Proxy::start_with(&cfg, defaults::keyed_env(), None, Default::default()).await;
    let r = get(proxy.url("/v1/movers?limit=3")).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    assert_eq!(v["meta"]["operation"], "movers");
    assert_eq!(v["meta"]["provider"], "coincap");
    let recorded: Value = serde_json::from_str(&fixture("coincap/v2_assets_limit10.json")).expect("body");
    let mut changes: Vec<(String, f64)> = recorded["data"]
        .as_array()
        .expect("assets")
        .iter()
        .map(|a| {
            (
                a["symbol"].as_str().unwrap_or("").to_owned(),
                a["changePercent24Hr"].as_str().and_then(|c| c.parse().ok()).unwrap_or(0.0),
            )
        })
        .collect();
    changes.sort_by(|a, b| b.1.total_cmp(&a.1));
    let want_up: Vec<&str> = changes.iter().filter(|c| c.1 > 0.0).take(3).map(|c| c.0.as_str()).collect();
    let want_down: Vec<&str> = changes.iter().rev().filter(|c| c.1 < 0.0).take(3).map(|c| c.0.as_str()).collect();
    let symbols = |k: &str| {
        v["data"][k]
            .as_array()
            .expect(k)
            .iter()
            .map(|m| m["symbol"].as_str().unwrap_or("").to_owned())
            .collect::<Vec<_>>()
    };
    assert_eq!(symbols("gainers"), want_up, "DOT +1.06, XRP +0.89, USDT +0.004");
    assert_eq!(symbols("losers"), want_down, "SOL -4.71, BTC -4.34, DOGE -3.94");
    assert_eq!(v["data"]["losers"][0]["change_24h_pct"].as_f64().map(|c| (c * 100.0).round()), Some(-471.0));
    assert_eq!(get(proxy.url("/v1/movers?limit=101")).await.status, 400);
}

/// Three providers replay Binance's recorded BTC price; one of them is 10 % off. The
/// consensus drops it and lists it; with two that disagree it says so.
#[tokio::test]
async fn consensus_drops_the_provider_ten_percent_off() {
    let recorded = fixture("binance/ticker_price_single.json");
    let base: f64 = serde_json::from_str::<Value>(&recorded).expect("body")["price"]
        .as_str()
        .and_then(|p| p.parse().ok())
        .expect("price");
    let scaled = |factor: f64| {
        let body = format!(r#"[{{"symbol":"BTCUSDT","price":"{:.8}"}}]"#, base * factor);
        move |_: &crate::support::Seen| Reply::Json(200, body.clone())
    };
    let (a, b, c) = (Mock::start(scaled(1.0)).await, Mock::start(scaled(1.002)).await, Mock::start(scaled(1.10)).await);
    let provider = |name: &str, url: String| crate::support::price_provider(name, &[url], "");
    let cfg = format!(
        "[assets]\nBTC = {{ name = \"Bitcoin\" }}\n{}{}{}[routes]\n\"/v1/price\" = {{ op = \"price\", pool = [[\"a\"], [\"b\", \"c\"]] }}\n\"/v1/pair\" = {{ op = \"price\", pool = [[\"a\"], [\"c\"]] }}\n",
        provider("a", a.url()),
        provider("b", b.url()),
        provider("c", c.url())
    );
    let proxy = Proxy::start(&cfg).await;
    let r = get(proxy.url("/v1/price?symbols=BTC&consensus=3")).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    let price = v["data"][0]["price"].as_f64().expect("price");
    assert!((price - base * 1.001).abs() < 1e-6, "median of the two kept: {price} vs {}", base * 1.001);
    let sources = v["meta"]["sources"].as_array().expect("sources");
    let dropped: Vec<&str> =
        sources.iter().filter(|s| s["dropped"] == "outlier").filter_map(|s| s["provider"].as_str()).collect();
    assert_eq!(dropped, ["c"], "{v}");
    assert_eq!(sources.len(), 3);
    assert_eq!(v["meta"]["consensus"]["answered"], 3);
    let spread = v["meta"]["spread_pct"]["BTC"].as_f64().expect("spread");
    assert!((spread - 0.2 / 1.001).abs() < 1e-3, "{spread}");

    let r = get(proxy.url("/v1/pair?symbols=BTC&consensus=3")).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    assert_eq!(v["meta"]["consensus"]["agree"], false, "{v}");
    assert!(v["meta"]["consensus"]["note"].as_str().is_some_and(|n| n.contains("disagree")));
    assert!(v["meta"]["sources"].as_array().is_some_and(|s| s.iter().all(|s| s["dropped"] == false)));

    for bad in ["consensus=1", "consensus=6", "consensus=x"] {
        assert_eq!(get(proxy.url(&format!("/v1/price?symbols=BTC&{bad}"))).await.status, 400, "{bad}");
    }
}

/// On the shipped price pool `consensus=3` asks the first three providers in tier
/// order, Binance, OKX and Coinbase, at once, replaying their recorded bodies, and lists
/// each price with its time and whether it was kept: quotes older than a minute do not
/// vote, so the one fresh quote is the answer.
#[tokio::test]
async fn consensus_on_the_shipped_price_pool_asks_three_providers_at_once() {
    let names = ["binance", "okx", "coinbase"];
    let mut mocks = Vec::new();
    for name in names {
        mocks.push((name, crate::support::shipped::provider(name, None).await));
    }
    let hosts: Vec<(&str, Vec<String>)> = mocks.iter().map(|(n, m)| (*n, m.hosts.clone())).collect();
    let proxy = Proxy::start(&crate::support::shipped::config(&hosts)).await;
    let r = get(proxy.url("/v1/price?symbols=BTC&consensus=3")).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    let sources = v["meta"]["sources"].as_array().cloned().unwrap_or_default();
    let asked: Vec<&str> = sources.iter().filter_map(|s| s["provider"].as_str()).collect();
    assert_eq!(asked, names, "{v}");
    assert_eq!(v["meta"]["consensus"]["asked"], 3);
    assert_eq!(v["meta"]["consensus"]["answered"], 3);
    for (name, m) in &mocks {
        assert!(m.hits() >= 1, "{name} was asked");
    }
    // Binance's price carries no time (it is now); OKX's recorded quote is from 2023 and
    // Coinbase's from 2026-06: they do not vote, and are listed as stale with their ts.
    // (Before quotes had an age, the median of the three years served a 2023 price.)
    let by = |name: &str| sources.iter().find(|s| s["provider"] == name).cloned().unwrap_or_default();
    assert_eq!(by("binance")["dropped"], false, "{v}");
    // Each vote names the coin it is for by the provider's own id.
    let ids: Vec<String> = names.iter().map(|n| by(n)["id"].as_str().unwrap_or_default().to_owned()).collect();
    assert_eq!(ids, ["BTCUSDT", "BTC-USDT", "BTC-USD"], "{v}");
    for old in ["okx", "coinbase"] {
        assert_eq!(by(old)["dropped"], "stale", "{v}");
        let ts = by(old)["ts"].as_i64().expect("ts");
        assert!(ts < marketgate::calendar::now_ms() - 86_400_000, "{old} quote is old: {ts}");
    }
    assert_eq!(v["data"][0]["price"], by("binance")["price"], "the fresh price is served: {v}");
    let note = v["meta"]["consensus"]["note"].as_str().unwrap_or_default();
    assert!(note.contains("2 quote(s) older than 1m did not vote"), "{note}");
    assert_eq!(
        get(proxy.url("/v1/price?symbols=BTC&consensus=3")).await.json()["meta"]["cached"],
        true,
        "cached like any price answer"
    );
}

/// Candles whose newest bar opened long ago (Binance's recorded klines, years old, as a
/// pair that stopped trading would give) are served with `meta.stale_data`, and so are
/// indicators computed from them; a provider whose newest candle is the current one gets
/// no note.
#[tokio::test]
async fn stale_candles_are_said_in_meta() {
    let binance = crate::support::shipped::provider("binance", None).await;
    let proxy = Proxy::start(&crate::support::shipped::config(&[("binance", binance.hosts.clone())])).await;
    for path in ["/v1/ohlcv?symbol=BTC&interval=1h&limit=5", "/v1/indicators?symbol=BTC&interval=1h&limit=5"] {
        let r = get(proxy.url(path)).await;
        assert_eq!(r.status, 200, "{path}: {}", r.text());
        let stale = &r.json()["meta"]["stale_data"];
        assert!(stale["age_ms"].as_i64().is_some_and(|a| a > 365 * 86_400_000), "{path}: {stale}");
        assert!(stale["note"].as_str().is_some_and(|n| n.contains("days ago")), "{path}: {stale}");
    }
    proxy.stop().await;
    // Candles up to now: no note.
    let now = marketgate::calendar::now_ms() / 3_600_000 * 3_600_000;
    let rows: Vec<String> = (0..5)
        .rev()
        .map(|i| {
            format!(
                r#"[{},"100","101","99","100.5","1",{},"1",1,"1","1","0"]"#,
                now - i * 3_600_000,
                now - i * 3_600_000 + 3_599_999
            )
        })
        .collect();
    let body = format!("[{}]", rows.join(","));
    let fresh = Mock::start(move |s| {
        if s.path_and_query.starts_with("/api/v3/klines") {
            Reply::Json(200, body.clone())
        } else {
            crate::support::shipped::reply("binance", None, &s.path_and_query)
        }
    })
    .await;
    let proxy = Proxy::start(&crate::support::shipped::config(&[("binance", vec![fresh.url()])])).await;
    let r = get(proxy.url("/v1/ohlcv?symbol=BTC&interval=1h&limit=5")).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.json()["meta"].get("stale_data").is_none(), "{}", r.json()["meta"]);
    proxy.stop().await;
}
