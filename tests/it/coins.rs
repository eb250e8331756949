//! Finding a coin (`/v1/search`, `/v1/coins`) and asking for exactly that one
//! (`symbols=coingecko:acchain`), on the shipped config with CoinGecko and CoinPaprika
//! on loopback replaying their recorded coin lists (no keys).

use crate::support::shipped::{self, ProviderMocks};
use crate::support::{Mock, Proxy, Reply, fixture, get};
use serde_json::Value;

/// The shipped config with CoinGecko answering `/coins/list` with `list` (a recorded
/// file) and its other recorded bodies, and CoinPaprika its recorded top 10.
async fn start(list: &'static str) -> (Proxy, Mock, ProviderMocks) {
    let gecko = Mock::start(move |s| {
        if s.path_and_query.starts_with("/api/v3/coins/list") {
            Reply::Json(200, fixture(list))
        } else {
            shipped::reply("coingecko", None, &s.path_and_query)
        }
    })
    .await;
    let paprika = shipped::provider("coinpaprika", None).await;
    let hosts = [("coingecko", vec![format!("{}/api/v3", gecko.url())]), ("coinpaprika", paprika.hosts.clone())];
    // These tests are about the list, not the clock: a debug build maps the whole 2025
    // list (17,142 coins) in more than the shipped 2 s attempt timeout on a slow
    // 2-core machine (a release build takes a fraction of it).
    let config = shipped::config(&hosts).replacen("deadline = \"5s\"", "deadline = \"30s\"", 1).replacen(
        "attempt_timeout = \"2s\"",
        "attempt_timeout = \"20s\"",
        1,
    );
    (Proxy::start(&config).await, gecko, paprika)
}

fn data(r: &Value) -> Vec<Value> {
    r["data"].as_array().cloned().unwrap_or_default()
}

#[tokio::test]
async fn search_tells_apart_coins_that_share_a_ticker_and_gives_their_ids() {
    let (proxy, gecko, paprika) = start("coingecko/coins_list.json").await;
    let r = get(proxy.url("/v1/search?q=acc")).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let body = r.json();
    let acc: Vec<Value> = data(&body).into_iter().filter(|c| c["symbol"] == "ACC").collect();
    let names: Vec<&str> = acc.iter().filter_map(|c| c["name"].as_str()).collect();
    assert_eq!(acc.len(), 2, "{body}");
    assert!(names.contains(&"Accelerator Network") && names.contains(&"ACChain"), "{names:?}");
    for c in &acc {
        assert_eq!(c["ambiguous"], true, "{c}");
        let id = c["ids"]["coingecko"].as_str().expect("a CoinGecko id");
        assert_eq!(c["id"], format!("coingecko:{id}"), "the id the other routes take: {c}");
    }
    assert_eq!(body["meta"]["operation"], "search");

    let zrx = get(proxy.url("/v1/search?q=zrx")).await.json();
    assert_eq!(data(&zrx)[0]["ids"]["coingecko"], "0x", "{zrx}");
    assert_eq!(data(&zrx)[0]["ambiguous"], false);

    // One fetch of each list serves every search (cached for hours).
    for q in ["bit", "eth", "ACChain", "accelerator"] {
        let r = get(proxy.url(&format!("/v1/search?q={q}"))).await;
        assert_eq!(r.status, 200, "{q}: {}", r.text());
        assert!(!data(&r.json()).is_empty(), "{q}");
    }
    assert_eq!(gecko.seen().iter().filter(|s| s.path_and_query.starts_with("/api/v3/coins/list")).count(), 1);
    assert_eq!(paprika.hits(), 1);

    for (query, why) in [("q=", "q"), ("q=%20%20", "q"), ("", "q"), ("q=btc&offset=2", "offset")] {
        let r = get(proxy.url(&format!("/v1/search?{query}"))).await;
        assert_eq!(r.status, 400, "{query}: {}", r.text());
        let message = r.json()["error"]["message"].as_str().unwrap_or_default().to_owned();
        assert!(message.starts_with(why), "{query}: {message}");
    }
    let long = "a".repeat(101);
    let r = get(proxy.url(&format!("/v1/search?q={long}"))).await;
    assert_eq!(r.status, 400);
    assert!(r.text().contains("at most 100 characters"), "{}", r.text());
}

#[tokio::test]
async fn the_whole_2025_list_puts_bitcoin_first_and_pages_by_rank() {
    // 17,142 coins, five of them `btc` and three with the ticker `bitcoin`.
    let (proxy, _gecko, _paprika) = start("coingecko/coins_list_2025-03-31.json").await;
    let r = get(proxy.url("/v1/search?q=bitcoin&limit=5")).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let found = data(&r.json());
    assert_eq!(found.len(), 5, "{}", r.text());
    let first = &found[0];
    assert_eq!(first["id"], "BTC", "{found:?}");
    assert_eq!(first["name"], "Bitcoin");
    assert_eq!(first["rank"], 1);
    assert_eq!(first["ids"]["coingecko"], "bitcoin");
    assert_eq!(first["ids"]["coinpaprika"], "btc-bitcoin");
    assert_eq!(first["ambiguous"], true, "CoinGecko lists four other `btc` coins");
    assert_eq!(r.json()["meta"]["provider"], "coingecko,coinpaprika");

    let page = get(proxy.url("/v1/coins?limit=3&offset=1")).await;
    assert_eq!(page.status, 200, "{}", page.text());
    let ranks: Vec<Value> = data(&page.json()).iter().map(|c| c["rank"].clone()).collect();
    assert_eq!(ranks, vec![Value::from(2), Value::from(3), Value::from(4)]);
    assert_eq!(page.json()["meta"]["operation"], "coins");
    let all = get(proxy.url("/v1/coins?limit=1000&offset=17000")).await;
    assert_eq!(all.status, 200);
    assert!(!data(&all.json()).is_empty(), "the whole list is served, page by page");
    let bad = get(proxy.url("/v1/coins?offset=-1")).await;
    assert_eq!(bad.status, 400);
    assert!(bad.text().contains("offset"), "{}", bad.text());
}

#[tokio::test]
async fn a_provider_id_asks_that_provider_for_exactly_that_coin() {
    let (proxy, gecko, _paprika) = start("coingecko/coins_list.json").await;
    let r = get(proxy.url("/v1/price?symbols=coingecko:bitcoin")).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let body = r.json();
    assert_eq!(body["data"][0]["symbol"], "coingecko:bitcoin");
    assert_eq!(body["data"][0]["price"], 5005.73, "CoinGecko's recorded price");
    assert_eq!(body["meta"]["provider"], "coingecko");

    // The recorded body has no ACChain price: CoinGecko is asked for exactly that id.
    let r = get(proxy.url("/v1/price?symbols=coingecko:acchain")).await;
    assert_ne!(r.status, 200, "{}", r.text());
    let asked = gecko.seen().iter().any(|s| s.path_and_query.contains("ids=acchain"));
    assert!(asked, "{:?}", gecko.seen().iter().map(|s| s.path_and_query.clone()).collect::<Vec<_>>());

    // An exchange's pair format takes no coin ids.
    let r = get(proxy.url("/v1/ticker?symbol=kraken:xbt")).await;
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(r.text().contains("kraken:xbt"), "{}", r.text());
    let r = get(proxy.url("/v1/price?symbols=coingecko:bad%20id")).await;
    assert_eq!(r.status, 400, "{}", r.text());
}
