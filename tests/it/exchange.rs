//! One path to an upstream: raw passthrough, normalized attempts, hedges and health
//! probes all go through the same candidate order and exchange, so a bench, a quota
//! weight, a key or a breaker view cannot differ between them.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use crate::support::{Mock, Proxy, Reply, TestEnv, TwoTier, get, two_tier};

const PRICES: &str = r#"[{"symbol":"BTCUSDT","price":"18229.90000000"}]"#;

/// `n` mocks answering with `reply`, counting requests together.
async fn mocks(n: usize, reply: impl Fn() -> Reply + Send + Sync + 'static) -> (Vec<Mock>, Arc<AtomicUsize>) {
    let hits = Arc::new(AtomicUsize::new(0));
    let reply = Arc::new(reply);
    let mut out = Vec::new();
    for _ in 0..n {
        let (h, r) = (Arc::clone(&hits), Arc::clone(&reply));
        out.push(
            Mock::start(move |_| {
                h.fetch_add(1, Ordering::SeqCst);
                r()
            })
            .await,
        );
    }
    (out, hits)
}

fn urls(ms: &[Mock]) -> Vec<String> {
    ms.iter().map(Mock::url).collect()
}

#[tokio::test(start_paused = true)]
async fn a_benched_provider_receives_no_request_of_any_kind_until_the_bench_ends() {
    let (a, a_hits) =
        mocks(3, || Reply::With(429, vec![("retry-after", "120".into())], r#"{"code":-1003,"msg":"slow"}"#.into()))
            .await;
    let b = Mock::fixed(200, PRICES).await;
    let a_extra = r#"health_check = { path = "/api/v3/ping", interval = "100ms" }"#;
    let cfg = two_tier(&TwoTier {
        a: &urls(&a),
        b: &[b.url()],
        breaker_failures: 3,
        route_extra: r#", hedge_after = "20ms""#,
        a_extra,
        extra: "",
    });
    let proxy = Proxy::start(&cfg).await;
    let first = get(proxy.url("/v1/price?symbols=BTC")).await;
    assert_eq!(first.json()["meta"]["provider"], "b", "{}", first.text());
    // The first probe round and the first request may both be on their way before the
    // first 429 comes back; from then on the provider is benched.
    let before = a_hits.load(Ordering::SeqCst);
    assert!((1..=2).contains(&before), "{before}");
    for _ in 0..5 {
        let r = get(proxy.url("/v1/price?symbols=BTC")).await;
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(r.json()["meta"]["provider"], "b");
    }
    for _ in 0..3 {
        let raw = get(proxy.url("/raw/a/api/v3/ticker/price")).await;
        assert_eq!(raw.status, 503, "{}", raw.text());
        let wait: u64 = raw.header("retry-after").and_then(|v| v.parse().ok()).unwrap_or(0);
        assert!((100..=121).contains(&wait), "the client is told when the bench ends: {wait}");
    }
    // Ten probe intervals pass on the paused clock.
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(a_hits.load(Ordering::SeqCst), before, "after the 429, nothing: no retry, hedge, raw request or probe");
    let health = get(proxy.admin_url("/api/system/providers/health")).await.json();
    let a_view = health.as_array().and_then(|p| p.iter().find(|x| x["name"] == "a")).cloned().unwrap_or_default();
    assert_eq!(a_view["status"], "down", "{a_view}");
    assert!(a_view["benched_until"].is_string(), "{a_view}");
    proxy.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_raw_request_spends_quota_per_attempt_and_by_endpoint_weight() {
    let (a, a_hits) = mocks(3, || Reply::Json(503, r#"{"msg":"down"}"#.into())).await;
    let b = Mock::fixed(200, PRICES).await;
    let a_extra = r#"quota = { limit = 100, per = "1h" }
raw_weights = { "/api/v3/depth" = { by = "limit", steps = [[100, 5], [500, 25], [1000, 50]], absent = 5 } }"#;
    let cfg =
        two_tier(&TwoTier { a: &urls(&a), b: &[b.url()], breaker_failures: 5, route_extra: "", a_extra, extra: "" });
    let proxy = Proxy::start(&cfg).await;
    let r = get(proxy.url("/raw/a/api/v3/depth?symbol=BTCUSDT&limit=200")).await;
    assert_eq!(r.status, 503, "the last 5xx is passed on: {}", r.text());
    assert_eq!(a_hits.load(Ordering::SeqCst), 3, "every host tried once");
    let health = get(proxy.admin_url("/api/system/providers/health")).await.json();
    let quota = health.as_array().and_then(|p| p.iter().find(|x| x["name"] == "a")).map(|a| a["quota"].clone());
    let remaining = quota.as_ref().and_then(|q| q["remaining"].as_u64());
    assert_eq!(remaining, Some(100 - 3 * 25), "three attempts of weight 25 (limit=200): {quota:?}");
    let r = get(proxy.url("/raw/a/api/v3/ping")).await;
    assert_eq!(r.status, 503);
    let health = get(proxy.admin_url("/api/system/providers/health")).await.json();
    let remaining = health
        .as_array()
        .and_then(|p| p.iter().find(|x| x["name"] == "a"))
        .and_then(|a| a["quota"]["remaining"].as_u64());
    assert_eq!(remaining, Some(25 - 3), "a path without a rule weighs 1 per attempt");
    proxy.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_probe_opened_breaker_says_when_and_probes_look_like_marketgate() {
    let dead = Mock::start(|s| {
        if s.path_and_query == "/ping" { Reply::Json(500, "{}".into()) } else { Reply::Json(200, PRICES.into()) }
    })
    .await;
    let b = Mock::fixed(200, PRICES).await;
    let a_extra = r#"health_check = { path = "/ping", interval = "100ms" }
auth = { env = "A_KEY", required = true, header = "x-api-key" }"#;
    let cfg = two_tier(&TwoTier {
        a: &[dead.url()],
        b: &[b.url()],
        breaker_failures: 5,
        route_extra: "",
        a_extra,
        extra: "",
    });
    let env = TestEnv(HashMap::from([("A_KEY".to_owned(), "test-a-key".to_owned())]));
    let proxy = Proxy::start_with(&cfg, env, None, Default::default()).await;
    tokio::time::sleep(Duration::from_millis(250)).await;
    let breakers = get(proxy.admin_url("/api/system/circuit-breakers")).await.json();
    let a = breakers.as_array().and_then(|v| v.iter().find(|x| x["provider"] == "a")).cloned().unwrap_or_default();
    assert_eq!(a["state"], "open", "{a}");
    assert!(a["opened_at"].is_string() && a["retry_at"].is_string(), "a probe-opened breaker says when: {a}");
    let probes: Vec<_> = dead.seen().into_iter().filter(|s| s.path_and_query == "/ping").collect();
    assert!(!probes.is_empty());
    for p in &probes {
        assert_eq!(p.headers.get("x-api-key").and_then(|v| v.to_str().ok()), Some("test-a-key"));
        let ua = p.headers.get("user-agent").and_then(|v| v.to_str().ok()).unwrap_or_default();
        assert!(ua.starts_with("marketgate/"), "{ua}");
    }
    let stats = get(proxy.admin_url("/api/system/providers/stats")).await.json();
    let a_stats = stats.as_array().and_then(|v| v.iter().find(|x| x["provider"] == "a")).cloned().unwrap_or_default();
    assert!(a_stats["failures"]["http_5xx"].as_u64().unwrap_or(0) >= 1, "probes are counted: {a_stats}");
    proxy.stop().await;
}

/// Binance's own rules on the shipped config: a 418 ban lasts as long as its
/// `Retry-After` says (a day here, not the hour it was cut to), and a 403 (its WAF limit)
/// benches Binance like a 429.
#[tokio::test(start_paused = true)]
async fn binance_bans_and_waf_limits_bench_it_for_as_long_as_it_says() {
    use crate::support::shipped;
    for (status, retry_after, min_bench_s) in [(418u16, Some("86400"), 86_000u64), (403, None, 100)] {
        let mut hosts = Vec::new();
        let mut mocks = Vec::new();
        for _ in 0..7 {
            let m = Mock::start(move |s| {
                if s.path_and_query == "/api/v3/ping" {
                    return Reply::Json(200, "{}".into());
                }
                let headers = retry_after.map(|r| vec![("retry-after", r.to_owned())]).unwrap_or_default();
                Reply::With(status, headers, r#"{"code":-1003,"msg":"banned"}"#.into())
            })
            .await;
            hosts.push(m.url());
            mocks.push(m);
        }
        let proxy = Proxy::start_with(
            &shipped::config(&[("binance", hosts)]),
            crate::support::defaults::keyed_env(),
            None,
            Default::default(),
        )
        .await;
        let r = get(proxy.url("/v1/orderbook?symbol=BTC")).await;
        assert!(r.status >= 500, "{}", r.text());
        let health = get(proxy.admin_url("/api/system/providers/health")).await.json();
        let binance = health.as_array().and_then(|p| p.iter().find(|x| x["name"] == "binance")).cloned();
        let binance = binance.unwrap_or_default();
        assert_eq!(binance["status"], "down", "HTTP {status}: {binance}");
        let raw = get(proxy.url("/raw/binance/api/v3/time")).await;
        let wait: u64 = raw.header("retry-after").and_then(|v| v.parse().ok()).unwrap_or(0);
        assert!(wait >= min_bench_s, "HTTP {status}: benched for {wait} s");
        let asked = mocks.iter().flat_map(Mock::seen).filter(|s| s.path_and_query != "/api/v3/ping").count();
        assert_eq!(asked, 1, "HTTP {status}: one request, then the bench");
        proxy.stop().await;
    }
}
