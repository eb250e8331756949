//! The providers as they are in late 2026, on the shipped config with every host moved
//! to loopback mocks replaying recorded bodies: news from keyless RSS feeds (merged),
//! CryptoPanic behind them, TON answered from GRAM, no price for a pair that does not
//! trade, and credit budgets that run out before a month's credits do.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::support::shipped::{self, Fault, ProviderMocks};
use crate::support::{Mock, Proxy, Reply, TestEnv, defaults, fixture, get};
use serde_json::Value;

const FEEDS: [&str; 4] = ["coindesk", "cointelegraph", "decrypt", "theblock"];

/// Mocks for `names` (healthy unless listed in `faults`), and the shipped config
/// pointing at them (every other provider unreachable).
async fn start(names: &[&'static str], faults: &[(&str, Fault)]) -> (Vec<(&'static str, ProviderMocks)>, String) {
    let mut mocks = Vec::new();
    for &name in names {
        let fault = faults.iter().find(|(n, _)| *n == name).map(|(_, f)| *f);
        mocks.push((name, shipped::provider(name, fault).await));
    }
    let hosts: Vec<(&str, Vec<String>)> = mocks.iter().map(|(n, m)| (*n, m.hosts.clone())).collect();
    (mocks, shipped::config(&hosts))
}

fn hits(mocks: &[(&str, ProviderMocks)], name: &str) -> usize {
    mocks.iter().find(|(n, _)| *n == name).map_or(0, |(_, m)| m.hits())
}

fn items(v: &Value) -> &Vec<Value> {
    v["data"].as_array().unwrap_or_else(|| panic!("no data list: {v}"))
}

/// Without a single API key, /v1/news answers from the outlets' own feeds, merged:
/// one item per article, newest first, links without tracking parameters; the keyed
/// aggregators behind them are not asked. (Before: 503, CryptoCompare was the only
/// news provider and needs a paid key.)
#[tokio::test]
async fn news_needs_no_key_the_feeds_are_merged_newest_first() {
    let (mocks, cfg) = start(&["coindesk", "cointelegraph", "decrypt", "theblock", "cryptocompare"], &[]).await;
    let proxy = Proxy::start_with(&cfg, TestEnv::default(), None, Default::default()).await;
    let r = get(proxy.url("/v1/news?limit=100")).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    assert_eq!(v["meta"]["provider"], "coindesk,cointelegraph,decrypt,theblock");
    let list = items(&v);
    assert_eq!(list.len(), 100, "25 + 30 + 58 + 19 items, cut to the limit");
    let ts: Vec<i64> = list.iter().map(|n| n["published_at"].as_i64().unwrap_or(0)).collect();
    assert!(ts.windows(2).all(|w| w[0] >= w[1]), "newest first");
    let sources: HashSet<&str> = list.iter().filter_map(|n| n["source"].as_str()).collect();
    assert_eq!(sources, HashSet::from(["CoinDesk", "Cointelegraph", "Decrypt", "The Block"]));
    let urls: Vec<&str> = list.iter().filter_map(|n| n["url"].as_str()).collect();
    assert_eq!(urls.iter().collect::<HashSet<_>>().len(), urls.len(), "one item per link");
    assert!(urls.iter().all(|u| !u.contains("utm_")), "tracking parameters dropped");
    assert_eq!(hits(&mocks, "cryptocompare"), 0, "the keyed tier was not needed");

    let q = get(proxy.url("/v1/news?q=bitcoin%20etf&limit=50")).await.json();
    let found = items(&q);
    assert!(!found.is_empty(), "the 2025 feeds mention bitcoin ETFs");
    for n in found {
        let text = format!("{} {} {}", n["title"], n["summary"], n["categories"]).to_lowercase();
        assert!(text.contains("bitcoin") && text.contains("etf"), "{n}");
    }
    proxy.stop().await;
}

/// A feed that answers garbage is a bad body of that outlet; the others still make the
/// answer, and the client is told who failed.
#[tokio::test]
async fn a_broken_feed_is_left_out_and_named() {
    let (_mocks, cfg) = start(&FEEDS, &[("coindesk", Fault::Truncated)]).await;
    let proxy = Proxy::start_with(&cfg, TestEnv::default(), None, Default::default()).await;
    let v = get(proxy.url("/v1/news?limit=5")).await.json();
    assert_eq!(v["meta"]["provider"], "cointelegraph,decrypt,theblock", "{v}");
    let tried = v["meta"]["tried"].as_array().expect("tried");
    assert!(
        tried.iter().any(|a| a["provider"] == "coindesk" && a["outcome"] == "bad_body"),
        "the broken feed is named: {tried:?}"
    );
    proxy.stop().await;
}

/// With every feed down, the keyed tier answers: CryptoPanic (the recorded v1 body:
/// its own links, tracking dropped; the media item left out) merged with CryptoCompare.
/// The key goes to CryptoPanic in its query and appears nowhere in the answer.
#[tokio::test]
async fn with_every_feed_down_cryptopanic_and_cryptocompare_answer() {
    let (mocks, cfg) = start(&["cryptopanic", "cryptocompare"], &[]).await;
    let proxy = Proxy::start_with(&cfg, defaults::keyed_env(), None, Default::default()).await;
    let r = get(proxy.url("/v1/news?limit=100")).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    assert_eq!(v["meta"]["provider"], "cryptopanic,cryptocompare");
    let panic: Vec<&Value> =
        items(&v).iter().filter(|n| n["url"].as_str().is_some_and(|u| u.contains("cryptopanic.com"))).collect();
    assert_eq!(panic.len(), 19, "20 results, one of them a video");
    let lowes =
        panic.iter().find(|n| n["title"].as_str().is_some_and(|t| t.starts_with("Lowe’s Companies"))).expect("item");
    assert_eq!(
        lowes["url"],
        "https://cryptopanic.com/news/20750357/Lowes-Companies-Inc-Beats-Expectations-with-11B-Net-Earnings-in-Q4"
    );
    assert_eq!(lowes["source"], "tokenist");
    assert_eq!(lowes["published_at"], 1_740_568_814_000_i64);
    assert_eq!(lowes["categories"], serde_json::json!(["EPS"]));
    let seen = mocks[0].1.mocks.iter().flat_map(|m| m.seen()).map(|s| s.path_and_query).collect::<Vec<_>>();
    assert!(seen.iter().all(|p| p.contains("auth_token=test-cryptopanic-key")), "{seen:?}");
    assert!(!r.text().contains("test-cryptopanic-key"));
    proxy.stop().await;
}

/// TON became GRAM (2026-06): asking for TON asks Binance for GRAMUSDT (TONUSDT no
/// longer trades), and the answer comes back under the ticker the client used.
#[tokio::test]
async fn ton_is_answered_from_gram_under_the_name_asked() {
    // Binance's recorded 24 h ticker, for whichever pair is asked.
    let binance = Mock::start(|_| Reply::Json(200, fixture("binance/ticker_24hr_single.json"))).await;
    let cfg = shipped::config(&[("binance", vec![binance.url()])]);
    let proxy = Proxy::start(&cfg).await;
    let ton = get(proxy.url("/v1/ticker?symbol=TON")).await;
    assert_eq!(ton.status, 200, "{}", ton.text());
    let v = ton.json();
    assert_eq!(v["data"]["symbol"], "TON");
    assert_eq!(v["meta"]["aliases"], serde_json::json!({"TON": "GRAM"}));
    let gram = get(proxy.url("/v1/ticker?symbol=GRAM")).await.json();
    assert_eq!(gram["data"]["symbol"], "GRAM", "GRAM is an asset now, not unknown_symbol: {gram}");
    assert!(gram["meta"].get("aliases").is_none());
    let asked: Vec<String> = binance.seen().into_iter().map(|s| s.path_and_query).collect();
    let tickers: Vec<&String> = asked.iter().filter(|p| p.starts_with("/api/v3/ticker/24hr")).collect();
    assert!(!tickers.is_empty() && tickers.iter().all(|p| p.contains("symbol=GRAMUSDT")), "{asked:?}");
    proxy.stop().await;
}

/// The recorded all-pairs list still holds BCCBTC (delisted in 2018) with its last
/// price. Binance leaves such pairs out when asked for `symbolStatus=TRADING` (the
/// mock does what the changelog of 2025-10-28 says), so the stale price is never
/// served, and a single-pair request answered -1220 is the client's, not the host's.
#[tokio::test]
async fn a_pair_that_does_not_trade_is_never_priced() {
    const DELISTED: [&str; 2] = ["BCCBTC", "HSRBTC"];
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&calls);
    let binance = Mock::start(move |s| {
        counted.fetch_add(1, Ordering::Relaxed);
        let trading_only = s.path_and_query.contains("symbolStatus=TRADING");
        if s.path_and_query.starts_with("/api/v3/ticker/price") {
            let list: Vec<Value> = serde_json::from_str(&fixture("binance/ticker_price_list.json")).expect("list");
            let kept: Vec<&Value> = list
                .iter()
                .filter(|p| !trading_only || !DELISTED.contains(&p["symbol"].as_str().unwrap_or("")))
                .collect();
            return Reply::Json(200, serde_json::to_string(&kept).expect("json"));
        }
        if s.path_and_query.starts_with("/api/v3/ticker/24hr") && trading_only {
            return Reply::Json(400, fixture("binance/error_400_-1220_symbol_status_docsample.json"));
        }
        Reply::Json(200, fixture("binance/ticker_24hr_single.json"))
    })
    .await;
    let cfg = shipped::config(&[("binance", vec![binance.url()])])
        .replace("[assets]\n", "[assets]\nBCC    = { name = \"Bitcoin Cash (Binance's 2017 ticker)\" }\n");
    let proxy = Proxy::start(&cfg).await;
    let r = get(proxy.url("/v1/price?symbols=BCC&vs=BTC")).await;
    assert!(!r.text().contains("0.079081"), "the delisted pair's last price was served: {}", r.text());
    assert_ne!(r.status, 200, "{}", r.text());
    let t = get(proxy.url("/v1/ticker?symbol=BCC&vs=BTC")).await;
    assert_ne!(t.status, 200, "{}", t.text());
    let breakers = get(proxy.admin_url("/api/system/circuit-breakers")).await.json();
    for b in breakers.as_array().expect("list").iter().filter(|b| b["provider"] == "binance") {
        assert_eq!(b["consecutive_failures"], 0, "a pair that does not trade is not the host's fault: {b}");
    }
    assert!(calls.load(Ordering::Relaxed) >= 2);
    proxy.stop().await;
}

/// CoinGecko's Demo key has monthly credits: once they are spent, CoinGecko is skipped
/// (CoinCap answers) until the month ends, and the admin API, the metrics and the
/// stats say how many are left. Without the key, no credits are counted.
#[tokio::test]
async fn credits_run_out_before_the_months_credits_do() {
    let (mocks, cfg) = start(&["coingecko", "coincap"], &[]).await;
    let mut env = defaults::keyed_env();
    env.0.insert("COINGECKO_API_KEY".into(), "cg-demo-key".into());
    env.0.insert("COINGECKO_MONTHLY_CREDITS".into(), "2".into());
    let proxy = Proxy::start_with(&cfg, env, None, Default::default()).await;
    let providers: Vec<String> = {
        let mut out = Vec::new();
        for limit in [2, 3, 4] {
            let v = get(proxy.url(&format!("/v1/markets?limit={limit}"))).await.json();
            out.push(v["meta"]["provider"].as_str().unwrap_or("-").to_owned());
        }
        out
    };
    assert_eq!(providers, ["coingecko", "coingecko", "coincap"]);
    assert_eq!(hits(&mocks, "coingecko"), 2, "no third call with the credits spent");
    let health = get(proxy.admin_url("/api/system/providers/health")).await.json();
    let cg = health.as_array().and_then(|l| l.iter().find(|p| p["name"] == "coingecko")).expect("coingecko").clone();
    assert_eq!(cg["credits"]["limit"], 2);
    assert_eq!(cg["credits"]["remaining"], 0);
    assert_eq!(cg["credits"]["period"], "month");
    assert!(cg["credits"]["resets_at"].as_str().is_some_and(|t| t.contains("-01T00:00:00")), "{cg}");
    assert_eq!(cg["status"], "degraded", "{cg}");
    assert!(cg["reason"].as_str().is_some_and(|r| r.contains("credits")), "{cg}");
    let stats = get(proxy.admin_url("/api/system/providers/stats")).await.json();
    let cg_stats = stats.as_array().and_then(|l| l.iter().find(|p| p["provider"] == "coingecko")).expect("stats");
    assert_eq!(cg_stats["credits"]["used"], 2);
    let metrics = get(proxy.admin_url("/metrics")).await.text();
    assert!(metrics.contains("marketgate_quota_used_ratio{provider=\"coingecko\",window=\"credits\"} 1"), "{metrics}");
    proxy.stop().await;

    let keyless = Proxy::start_with(&cfg, defaults::keyed_env(), None, Default::default()).await;
    let health = get(keyless.admin_url("/api/system/providers/health")).await.json();
    let cg = health.as_array().and_then(|l| l.iter().find(|p| p["name"] == "coingecko")).expect("coingecko").clone();
    assert!(cg["credits"].is_null(), "no key, no credits: {cg}");
    keyless.stop().await;
}
