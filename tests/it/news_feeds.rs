//! News you can trust, on the shipped config with every feed on loopback: one odd item
//! never fails its feed (nor opens its breaker), escaped markup is not served as text,
//! and five huge feeds asked eight ways at once stay within bounded memory and their
//! deadline.

use std::time::Duration;

use crate::support::process::Process;
use crate::support::shipped;
use crate::support::{Mock, Proxy, Reply, fixture, get};

/// The shipped news outlets (keyless feeds).
const OUTLETS: [&str; 5] = ["coindesk", "cointelegraph", "decrypt", "bitcoinmagazine", "theblock"];

async fn feed_mock(body: String) -> Mock {
    Mock::start(move |_| Reply::With(200, vec![("content-type", "application/rss+xml".into())], body.clone())).await
}

/// Every outlet serves `body`.
async fn outlets_serving(body: &str) -> (Vec<Mock>, String) {
    let mut mocks = Vec::new();
    for _ in OUTLETS {
        mocks.push(feed_mock(body.to_owned()).await);
    }
    let hosts: Vec<(&str, Vec<String>)> = OUTLETS.iter().zip(&mocks).map(|(n, m)| (*n, vec![m.url()])).collect();
    let config = shipped::config(&hosts);
    (mocks, config)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rss2_specification_sample_as_every_feed_is_served() {
    let (_mocks, config) = outlets_serving(&fixture("news/rss2_spec_sample_2003.xml")).await;
    let proxy = Proxy::start(&config).await;
    let r = get(proxy.url("/v1/news?limit=10")).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    let items = v["data"].as_array().cloned().unwrap_or_default();
    assert!(!items.is_empty(), "{v}");
    for n in &items {
        let ts = n["published_at"].as_i64().unwrap_or(0);
        assert!((1_041_379_200_000..1_072_915_200_000).contains(&ts), "kept with its 2003 date: {n}");
    }
    proxy.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_item_from_the_year_9999_is_left_out_and_its_feed_stays_up() {
    let recorded = fixture("news/coindesk_2025-12-13.xml");
    let odd = "<item><title>From the far future</title><link>https://www.coindesk.com/future</link>\
               <pubDate>Fri, 31 Dec 9999 23:59:59 +0000</pubDate></item>\
               <item><title>T4 &amp;lt;script&amp;gt;alert(10)&amp;lt;/script&amp;gt; hello</title>\
               <link>https://www.coindesk.com/t4</link><pubDate>Sat, 13 Dec 2025 10:00:00 +0000</pubDate>\
               <description>&amp;lt;img src=x onerror=alert(1)&amp;gt;summary</description></item>";
    let body = recorded.replacen("<item>", &format!("{odd}<item>"), 1);
    let coindesk = feed_mock(body).await;
    let mut hosts: Vec<(&str, Vec<String>)> = vec![("coindesk", vec![coindesk.url()])];
    let mut others = Vec::new();
    for name in &OUTLETS[1..] {
        others.push(Mock::fixed(503, "down").await);
        hosts.push((name, vec![others.last().map(Mock::url).unwrap_or_default()]));
    }
    let proxy = Proxy::start(&shipped::config(&hosts)).await;
    // Four limits (one fetch: news is cached whole). Before, the odd item failed the
    // feed, an error is not cached, and every request fetched and failed again: the
    // third opened its breaker.
    for round in 0..4 {
        let r = get(proxy.url(&format!("/v1/news?limit={}", 100 - round))).await;
        assert_eq!(r.status, 200, "{}", r.text());
        let v = r.json();
        let items = v["data"].as_array().cloned().unwrap_or_default();
        assert!(items.iter().all(|n| n["title"] != "From the far future"), "{v}");
        for n in &items {
            for field in ["title", "summary"] {
                let text = n[field].as_str().unwrap_or_default();
                assert!(!text.contains('<') && !text.contains('>'), "{field} carries markup: {text:?}");
            }
        }
        if round == 0 {
            assert!(items.iter().any(|n| n["title"] == "T4 hello"), "the escaped script is gone, the words stay");
            assert!(v["meta"]["dropped"]["count"].as_u64().is_some_and(|c| c >= 1), "{}", v["meta"]);
        }
    }
    let health = get(proxy.admin_url("/api/system/providers/health")).await.json();
    let cd = health.as_array().and_then(|a| a.iter().find(|p| p["name"] == "coindesk")).cloned().unwrap_or_default();
    assert_eq!(cd["hosts"][0]["breaker"], "closed", "{cd}");
    let metrics = get(proxy.admin_url("/metrics")).await.text();
    assert!(metrics.contains("marketgate_items_dropped_total{provider=\"coindesk\"}"), "counted");
    proxy.stop().await;
}

/// A feed of `n` small items (about 124 bytes each).
fn huge_feed(n: usize) -> String {
    let mut body = String::with_capacity(n * 130 + 200);
    body.push_str(
        "<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>Huge</title><link>https://h.example/</link>",
    );
    for i in 0..n {
        body.push_str(&format!(
            "<item><title>Item {i}</title><link>https://h.example/a/{i}</link><pubDate>Sat, 13 Dec 2025 10:00:00 +0000</pubDate></item>"
        ));
    }
    body.push_str("</channel></rss>");
    body
}

/// Five 7.7 MB feeds of 62,000 items and eight concurrent `/v1/news` requests with
/// different limits, against the binary: every request answers within its deadline and
/// the process's peak memory stays far below the 1.16 GiB the review measured.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_huge_feeds_asked_eight_ways_stay_bounded() {
    let body = huge_feed(62_000);
    assert!(body.len() > 7_500_000 && body.len() < 8 << 20, "{}", body.len());
    let (mocks, config) = outlets_serving(&body).await;
    let config = config.replacen("format = \"text\"", "format = \"json\"", 1);
    let mg = Process::start("huge-feeds", &config, &[]);
    let started = tokio::time::Instant::now();
    let asks = (0..8).map(|i| get(mg.url(&format!("/v1/news?limit={}", 10 + i))));
    let answers = futures_util::future::join_all(asks).await;
    let took = started.elapsed();
    for r in &answers {
        assert_eq!(r.status, 200, "{}", r.text());
        assert!(r.json()["data"].as_array().is_some_and(|d| !d.is_empty()));
    }
    assert!(took < Duration::from_secs(6), "eight requests took {took:?} (deadline 5 s)");
    for m in &mocks {
        assert_eq!(m.hits(), 1, "eight limits share one fetch and one parse of each feed");
    }
    let peak = mg.peak_rss_mib();
    assert!(peak < 400.0, "peak RSS {peak:.0} MiB");
    println!("five 7.7 MB feeds, eight requests: {took:?}, peak RSS {peak:.0} MiB");
}
