//! Normalized-route faults: changed JSON shapes, HTTP-200 error bodies, partial price
//! coverage, everything failing, bad queries, unknown symbols, and alias routes.

use crate::support::{Mock, Proxy, Reply, TestEnv, defaults, fixture, get, refused_addr};
use serde_json::Value;

async fn proxy(hosts: &[(&str, String)]) -> Proxy {
    let cfg = defaults::with_hosts(hosts, &refused_addr().await);
    Proxy::start_with(&cfg, defaults::keyed_env(), None, Default::default()).await
}

fn tried(v: &Value) -> Vec<(String, String, String)> {
    v["meta"]["tried"]
        .as_array()
        .or_else(|| v["error"]["attempts"].as_array())
        .map(|a| {
            a.iter()
                .map(|x| {
                    (
                        x["provider"].as_str().unwrap_or_default().to_owned(),
                        x["outcome"].as_str().unwrap_or_default().to_owned(),
                        x["detail"].as_str().unwrap_or_default().to_owned(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test(start_paused = true)]
async fn a_provider_that_changed_its_json_fails_over_as_bad_body() {
    let renamed = fixture("binance/ticker_24hr_single.json").replace("\"lastPrice\"", "\"last_price\"");
    let binance = Mock::fixed(200, &renamed).await;
    let coingecko = Mock::fixed(200, &fixture("coingecko/coins_markets.json")).await;
    let p = proxy(&[("binance", binance.url()), ("coingecko", format!("{}/api/v3", coingecko.url()))]).await;
    let r = get(p.url("/v1/ticker?symbol=BTC")).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    assert_eq!(v["meta"]["provider"], "coingecko");
    let t = tried(&v);
    let (_, outcome, detail) = t.iter().find(|(p, ..)| p == "binance").expect("binance attempt listed");
    assert_eq!(outcome, "bad_body");
    assert!(detail.contains("binance ticker"), "{detail}");
    p.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_mapping_output_that_breaks_the_schema_names_the_json_path() {
    let negative = fixture("binance/ticker_24hr_single.json").replace("\"60755.18000000\"", "\"-1\"");
    let binance = Mock::fixed(200, &negative).await;
    let p = proxy(&[("binance", binance.url())]).await;
    let r = get(p.url("/v1/ticker?symbol=BTC")).await;
    assert_eq!(r.status, 502);
    let t = tried(&r.json());
    let (_, outcome, detail) = &t[0];
    assert_eq!(outcome, "bad_body");
    assert!(detail.contains("data.last") && detail.contains("> 0"), "{detail}");
    p.stop().await;
}

#[tokio::test(start_paused = true)]
async fn http_200_error_bodies_are_failures() {
    let coincap = Mock::fixed(200, &fixture("coincap/v2_deprecation_notice_assets.json")).await;
    let cryptocompare = Mock::fixed(200, &fixture("cryptocompare/error_rate_limit_type99.json")).await;
    let coingecko = Mock::fixed(200, &fixture("coingecko/simple_price_multi.json")).await;
    let p = proxy(&[
        ("coincap", format!("{}/v3", coincap.url())),
        ("cryptocompare", cryptocompare.url()),
        ("coingecko", format!("{}/api/v3", coingecko.url())),
    ])
    .await;
    // Tier 2 is round-robin: ask until both error providers have been tried.
    for _ in 0..4 {
        let r = get(p.url("/v1/price?symbols=BTC")).await;
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(r.json()["meta"]["provider"], "coingecko");
    }
    let stats = get(p.admin_url("/api/system/providers/stats")).await.json();
    let of = |name: &str| {
        stats.as_array().and_then(|a| a.iter().find(|s| s["provider"] == name)).cloned().unwrap_or_default()
    };
    assert!(of("coincap")["failures"]["bad_body"].as_u64() >= Some(1), "deprecation notice: {stats}");
    assert_eq!(of("cryptocompare")["failures"]["rate_limited"], 1, "Type 99 is a rate limit, then a bench: {stats}");
    assert!(of("cryptocompare")["skips"]["unavailable"].as_u64() >= Some(1), "benched, so skipped after: {stats}");
    let health = get(p.admin_url("/api/system/providers/health")).await.json();
    let cc =
        health.as_array().and_then(|a| a.iter().find(|h| h["name"] == "cryptocompare")).cloned().unwrap_or_default();
    assert!(cc["benched_until"].is_string(), "cryptocompare is benched after its rate-limit body: {cc}");
    p.stop().await;
}

#[tokio::test(start_paused = true)]
async fn partial_price_coverage_tries_the_next_provider_then_reports_missing() {
    let binance = Mock::fixed(200, &fixture("binance/ticker_price_list.json")).await;
    let coincap = Mock::fixed(200, &fixture("coincap/v2_assets_limit10.json")).await;
    let p = proxy(&[("binance", binance.url()), ("coincap", format!("{}/v3", coincap.url()))]).await;
    let r = get(p.url("/v1/price?symbols=SOL,BTC,ETH")).await;
    let v = r.json();
    assert_eq!(v["meta"]["provider"], "coincap", "binance lacks SOL, coincap covers all: {v}");
    let symbols: Vec<&str> = v["data"].as_array().expect("data").iter().filter_map(|x| x["symbol"].as_str()).collect();
    assert_eq!(symbols, vec!["SOL", "BTC", "ETH"], "in the order asked");
    assert_eq!(v["meta"]["missing"], serde_json::json!([]));
    p.stop().await;

    let only_binance = proxy(&[("binance", binance.url())]).await;
    let r = get(only_binance.url("/v1/price?symbols=SOL,BTC")).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    assert_eq!(v["meta"]["provider"], "binance");
    assert_eq!(v["meta"]["missing"], serde_json::json!(["SOL"]));
    assert_eq!(v["data"][0]["symbol"], "BTC");
    only_binance.stop().await;
}

#[tokio::test(start_paused = true)]
async fn when_everything_fails_the_502_lists_every_attempt() {
    let garbage = Mock::start(|_| {
        Reply::With(200, vec![("content-type", "text/html".into())], "<html>maintenance</html>".into())
    })
    .await;
    let names = ["binance", "coincap", "coingecko", "coinpaprika", "cryptocompare"];
    let hosts: Vec<(&str, String)> = names.iter().map(|n| (*n, garbage.url())).collect();
    let p = proxy(&hosts).await;
    let r = get(p.url("/v1/price?symbols=BTC")).await;
    assert_eq!(r.status, 502);
    let v = r.json();
    assert_eq!(v["error"]["code"], "all_providers_failed");
    let t = tried(&v);
    for n in names {
        let entry = t.iter().find(|(p, ..)| p == n).unwrap_or_else(|| panic!("{n} missing from {t:?}"));
        assert_eq!(entry.1, "bad_body", "{entry:?}");
    }
    assert!(t.iter().any(|(p, o, _)| p == "fallback" && o == "connect_error"), "the last tier is tried too: {t:?}");
    p.stop().await;
}

#[tokio::test(start_paused = true)]
async fn bad_queries_and_unknown_symbols_get_400_naming_the_parameter() {
    let p = proxy(&[]).await;
    let cases = [
        ("/v1/price", "bad_request", "symbols"),
        ("/v1/price?symbols=", "bad_request", "symbols"),
        ("/v1/ohlcv?symbol=BTC&interval=3h", "bad_request", "interval"),
        ("/v1/orderbook?symbol=BTC&depth=abc", "bad_request", "depth"),
        ("/v1/markets?limit=0", "bad_request", "limit"),
        ("/v1/price?symbols=BTC,NOTACOIN", "unknown_symbol", "NOTACOIN"),
    ];
    for (path, code, named) in cases {
        let r = get(p.url(path)).await;
        assert_eq!(r.status, 400, "{path}");
        let v = r.json();
        assert_eq!(v["error"]["code"], code, "{path}: {v}");
        assert!(v["error"]["message"].as_str().unwrap_or_default().contains(named), "{path}: {v}");
    }
    let many: Vec<String> = (0..101).map(|i| format!("C{i}")).collect();
    let r = get(p.url(&format!("/v1/price?symbols={}", many.join(",")))).await;
    assert_eq!(r.status, 400);
    assert!(r.text().contains("at most 100"));
    p.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_symbol_without_an_id_is_skipped_without_penalty() {
    // WEETH has only a CoinGecko id: CoinCap and CoinPaprika are skipped, not failed.
    let coingecko = Mock::fixed(200, r#"{"wrapped-eeth":{"usd":3100.5}}"#).await;
    let p = proxy(&[("coingecko", format!("{}/api/v3", coingecko.url()))]).await;
    for _ in 0..3 {
        let r = get(p.url("/v1/price?symbols=WEETH")).await;
        assert_eq!(r.json()["meta"]["provider"], "coingecko", "{}", r.text());
    }
    let stats = get(p.admin_url("/api/system/providers/stats")).await.json();
    let cp =
        stats.as_array().and_then(|a| a.iter().find(|s| s["provider"] == "coinpaprika")).cloned().unwrap_or_default();
    assert_eq!(cp["requests"], 0, "{cp}");
    assert!(cp["skips"]["unsupported"].as_u64().unwrap_or(0) >= 1, "{cp}");
    p.stop().await;
}

#[tokio::test(start_paused = true)]
async fn alias_routes_keep_an_existing_apps_urls() {
    let news = fixture("cryptocompare/news_v2_lang_EN_2020-11.json");
    let cryptocompare = Mock::fixed(200, &news).await;
    let coingecko = Mock::fixed(200, &fixture("coingecko/exchanges.json")).await;
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/config/examples/seed-routes.toml"))
        .expect("example");
    let merged =
        marketgate::config::parse(&text, "seed-routes.toml", &defaults::keyed_env()).expect("example config is valid");
    assert!(merged.routes.iter().any(|r| r.pattern.template() == "/api/news/{q}"));
    // Point the merged example at the mocks by appending host overrides.
    let refused = refused_addr().await;
    let cfg = format!(
        "{text}\n[providers.cryptocompare]\nhosts = [\"{}\"]\n[providers.coingecko]\nhosts = [\"{}/api/v3\"]\n[providers.binance]\nhosts = [\"{refused}\"]\nhealth_check = {{ path = \"/ping\", interval = \"1h\" }}\n",
        cryptocompare.url(),
        coingecko.url()
    );
    let p = Proxy::start_with(&cfg, defaults::keyed_env(), None, Default::default()).await;
    let r = get(p.url("/api/news/Bitcoin")).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    assert_eq!(v["meta"]["operation"], "news");
    let titles: Vec<&str> = v["data"].as_array().expect("data").iter().filter_map(|n| n["title"].as_str()).collect();
    assert!(!titles.is_empty() && titles.iter().all(|t| !t.is_empty()));
    assert!(cryptocompare.seen().iter().all(|s| s.path_and_query.starts_with("/data/v2/news/")));
    let r = get(p.url("/api/exchanges")).await;
    assert_eq!(r.json()["data"][0]["id"], "bybit_spot");
    p.stop().await;
}

#[tokio::test(start_paused = true)]
async fn keyed_providers_without_keys_are_disabled_and_say_why() {
    let p = Proxy::start_with(
        &defaults::with_hosts(&[], &refused_addr().await),
        TestEnv::default(),
        None,
        Default::default(),
    )
    .await;
    let health = get(p.admin_url("/api/system/providers/health")).await.json();
    let coincap =
        health.as_array().and_then(|a| a.iter().find(|h| h["name"] == "coincap")).cloned().unwrap_or_default();
    assert_eq!(coincap["status"], "disabled");
    assert!(coincap["reason"].as_str().unwrap_or_default().contains("COINCAP_API_KEY"), "{coincap}");
    p.stop().await;
}
