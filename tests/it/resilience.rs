//! Kind to providers, fast for clients: the response cache with coalescing and
//! stale-if-error, provider quotas, hedged requests, the retry budget and active
//! health checks.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::support::{Mock, Proxy, Reply, TwoTier, get, two_tier};
use tokio::time::Instant;

const PRICES: &str = r#"[{"symbol":"BTCUSDT","price":"18229.90000000"},{"symbol":"ETHUSDT","price":"1395.60000000"}]"#;

/// Providers `a` and `b` behind `/v1/price` (breakers effectively off), with extra TOML.
fn config(a: &[String], b: &[String], route_extra: &str, a_extra: &str, extra: &str) -> String {
    two_tier(&TwoTier { a, b, breaker_failures: 100, route_extra, a_extra, extra })
}

#[tokio::test(start_paused = true)]
async fn a_hundred_identical_misses_make_one_upstream_request() {
    let a = Mock::start(|_| Reply::After(Duration::from_millis(300), Box::new(Reply::Json(200, PRICES.into())))).await;
    // No hedging: the upstream answers after 300 ms, past the default cold hedge delay,
    // and this test counts upstream requests of the coalesced fetch alone.
    let proxy = Proxy::start(&config(&[a.url()], &[a.url()], r#", cache = "5s", hedge_after = "off""#, "", "")).await;
    let burst = (0..100).map(|_| get(proxy.url("/v1/price?symbols=BTC,ETH")));
    let replies = futures_util::future::join_all(burst).await;
    assert!(replies.iter().all(|r| r.status == 200));
    assert_eq!(a.hits(), 1, "concurrent identical misses are coalesced");
    let misses = replies.iter().filter(|r| r.header("x-marketgate-cache").as_deref() == Some("miss")).count();
    assert_eq!(misses, 1);
    // Symbol order and case do not change the key.
    let r = get(proxy.url("/v1/price?symbols=eth,btc")).await;
    assert_eq!(r.header("x-marketgate-cache").as_deref(), Some("hit"));
    assert_eq!(a.hits(), 1);
    let v = r.json();
    assert_eq!(v["meta"]["cached"], true);
    assert_eq!(v["data"][0]["symbol"], "ETH", "a hit follows the order this request asked");
    proxy.stop().await;
}

#[tokio::test(start_paused = true)]
async fn hits_carry_age_and_a_matching_max_age() {
    let a = Mock::fixed(200, PRICES).await;
    let proxy = Proxy::start(&config(&[a.url()], &[a.url()], r#", cache = "3s""#, "", "")).await;
    let miss = get(proxy.url("/v1/price?symbols=BTC")).await;
    assert_eq!(miss.header("x-marketgate-cache").as_deref(), Some("miss"));
    assert_eq!(miss.header("cache-control").as_deref(), Some("max-age=3"));
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let hit = get(proxy.url("/v1/price?symbols=BTC")).await;
    let v = hit.json();
    assert_eq!(hit.header("x-marketgate-cache").as_deref(), Some("hit"));
    assert!(v["meta"]["age_ms"].as_u64().is_some_and(|a| (1000..3000).contains(&a)), "{v}");
    assert_eq!(hit.header("cache-control").as_deref(), Some("max-age=1"), "3 s TTL minus 1.1 s of age");
    let metrics = get(proxy.admin_url("/metrics")).await.text();
    assert!(metrics.contains(r#"marketgate_cache_requests_total{result="hit",route="/v1/price"} 1"#), "{metrics}");
    proxy.stop().await;
}

#[tokio::test(start_paused = true)]
async fn the_last_good_answer_is_served_stale_when_every_provider_fails() {
    let up = Arc::new(AtomicBool::new(true));
    let u = Arc::clone(&up);
    let a = Mock::start(move |_| {
        if u.load(Ordering::SeqCst) { Reply::Json(200, PRICES.into()) } else { Reply::Json(503, "{}".into()) }
    })
    .await;
    let cfg = config(&[a.url()], &[a.url()], r#", cache = "200ms", max_stale = "10s""#, "", "");
    let proxy = Proxy::start(&cfg).await;
    assert_eq!(get(proxy.url("/v1/price?symbols=BTC")).await.status, 200);
    up.store(false, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let r = get(proxy.url("/v1/price?symbols=BTC")).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("x-marketgate-cache").as_deref(), Some("stale"));
    let v = r.json();
    assert_eq!(v["meta"]["stale"], true);
    assert_eq!(v["data"][0]["price"], 18229.9);
    let metrics = get(proxy.admin_url("/metrics")).await.text();
    assert!(metrics.contains(r#"marketgate_cache_requests_total{result="stale",route="/v1/price"} 1"#));
    // Without max_stale the failure shows.
    let strict = Proxy::start(&config(&[a.url()], &[a.url()], r#", cache = "200ms""#, "", "")).await;
    assert_eq!(get(strict.url("/v1/price?symbols=BTC")).await.status, 502);
    strict.stop().await;
    proxy.stop().await;
}

/// An upstream that allows `limit` requests per wall-clock window and answers 429 past it.
struct Limited {
    mock: Mock,
    counts: Arc<Mutex<HashMap<u64, usize>>>,
    rejected: Arc<Mutex<usize>>,
}

async fn limited(limit: usize, window_ms: u64) -> Limited {
    let counts: Arc<Mutex<HashMap<u64, usize>>> = Arc::default();
    let rejected: Arc<Mutex<usize>> = Arc::default();
    let (c, rj) = (Arc::clone(&counts), Arc::clone(&rejected));
    let mock = Mock::start(move |_| {
        let now =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64);
        let mut counts = c.lock().expect("lock");
        let n = counts.entry(now / window_ms).or_default();
        *n += 1;
        if *n > limit {
            *rj.lock().expect("lock") += 1;
            Reply::With(429, vec![("retry-after", "1".into())], "{}".into())
        } else {
            Reply::Json(200, PRICES.into())
        }
    })
    .await;
    Limited { mock, counts, rejected }
}

// Real clock: quota windows are aligned to the wall clock (as Binance counts), which a
// paused tokio clock does not move.
#[tokio::test]
async fn a_quota_keeps_marketgate_within_the_providers_limit() {
    const K: u32 = 5;
    let a = limited(K as usize, 400).await;
    let b = Mock::fixed(200, PRICES).await;
    let quota = format!(r#"quota = {{ limit = {K}, per = "400ms" }}"#);
    let proxy = Proxy::start(&config(&[a.mock.url()], &[b.url()], "", &quota, "")).await;
    let until = Instant::now() + Duration::from_millis(1300);
    let mut served = 0;
    while Instant::now() < until {
        let r = get(proxy.url("/v1/price?symbols=BTC")).await;
        assert_eq!(r.status, 200, "{}", r.text());
        served += 1;
    }
    let counts = a.counts.lock().expect("lock").clone();
    assert!(counts.len() >= 3, "the run spans at least 3 windows: {counts:?}");
    assert!(counts.values().all(|n| *n <= K as usize), "at most {K} per window: {counts:?}");
    assert_eq!(*a.rejected.lock().expect("lock"), 0, "the provider never had to say 429");
    assert!(b.hits() > 0 && served > a.mock.hits(), "requests over budget went to b");
    let metrics = get(proxy.admin_url("/metrics")).await.text();
    assert!(metrics.lines().any(|l| l.starts_with(r#"marketgate_quota_skips_total{provider="a"}"#)), "{metrics}");
    proxy.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_hanging_primary_is_hedged() {
    let a = Mock::start(|_| Reply::Hang).await;
    let b = Mock::start(|_| Reply::After(Duration::from_millis(50), Box::new(Reply::Json(200, PRICES.into())))).await;
    let proxy = Proxy::start(&config(&[a.url()], &[b.url()], r#", hedge_after = "150ms""#, "", "")).await;
    let started = Instant::now();
    let r = get(proxy.url("/v1/price?symbols=BTC")).await;
    let took = started.elapsed();
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["meta"]["provider"], "b");
    assert!(took >= Duration::from_millis(200), "the hedge waited hedge_after: {took:?}");
    assert!(took < Duration::from_millis(700), "hedge_after + backup latency, not the 1 s attempt timeout: {took:?}");
    let metrics = get(proxy.admin_url("/metrics")).await.text();
    assert!(metrics.contains(r#"marketgate_hedges_total{route="/v1/price"} 1"#), "{metrics}");
    proxy.stop().await;
}

#[tokio::test(start_paused = true)]
async fn with_every_provider_failing_attempts_stay_within_the_retry_budget() {
    let a = Mock::fixed(500, "{}").await;
    let hosts: Vec<String> = (0..4).map(|_| a.url()).collect::<Vec<_>>();
    let budget = r#"retry_budget = { ratio = 0.2, min_per_second = 0, window = "10s" }"#;
    let cfg = config(&hosts[..1], &hosts[..1], "", "", budget).replace(
        &format!("hosts = [{:?}]", a.url()),
        &format!("hosts = [{:?}, \"{}/x\", \"{}/y\"]", a.url(), a.url(), a.url()),
    );
    let proxy = Proxy::start(&cfg).await;
    const N: usize = 50;
    for _ in 0..N {
        let r = get(proxy.url("/v1/price?symbols=BTC")).await;
        assert_eq!(r.status, 502);
    }
    let attempts = a.hits();
    assert!(attempts <= N + N / 5, "{attempts} upstream attempts for {N} requests: the budget allows {N} + 20 %");
    assert!(attempts >= N, "every request made its first attempt");
    let metrics = get(proxy.admin_url("/metrics")).await.text();
    assert!(
        metrics.lines().any(|l| l.starts_with("marketgate_retry_budget_exhausted_total") && !l.ends_with(" 0")),
        "{metrics}"
    );
    proxy.stop().await;
}

#[tokio::test(start_paused = true)]
async fn health_probes_open_a_dead_hosts_breaker_before_clients_pay_and_close_it_early() {
    let alive = Arc::new(AtomicBool::new(false));
    let al = Arc::clone(&alive);
    let flaky = Mock::start(move |s| {
        if s.path_and_query == "/ping" && !al.load(Ordering::SeqCst) {
            Reply::Json(500, "{}".into())
        } else {
            Reply::Json(200, PRICES.into())
        }
    })
    .await;
    let good = Mock::fixed(200, PRICES).await;
    let probe = r#"health_check = { path = "/ping", interval = "150ms" }"#;
    let proxy = Proxy::start(&config(&[flaky.url(), good.url()], &[good.url()], "", probe, "")).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let breakers = get(proxy.admin_url("/api/system/circuit-breakers")).await.json();
    let state = |b: &serde_json::Value, host: &str| {
        b.as_array().and_then(|a| a.iter().find(|x| x["host"] == host)).map(|x| x["state"].clone()).unwrap_or_default()
    };
    assert_eq!(state(&breakers, &flaky.addr.to_string()), "open", "the probe opened it: {breakers}");
    for _ in 0..6 {
        assert_eq!(get(proxy.url("/v1/price?symbols=BTC")).await.status, 200);
    }
    assert!(flaky.seen().iter().all(|s| s.path_and_query == "/ping"), "no client request reached the dead host");
    alive.store(true, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let breakers = get(proxy.admin_url("/api/system/circuit-breakers")).await.json();
    assert_eq!(
        state(&breakers, &flaky.addr.to_string()),
        "closed",
        "a good probe closed it long before open_for: {breakers}"
    );
    proxy.stop().await;
}
