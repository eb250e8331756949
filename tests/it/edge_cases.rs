//! Edge cases: HTTP/2 clients, requests that must not trip breakers, partial answers at
//! the deadline and through the cache, hostile nesting in a body, hedging onto a mirror,
//! and two marketgates naming each other as fallback.

use std::time::Duration;

use crate::support::{Mock, Proxy, Reply, TwoTier, defaults, get, refused_addr, two_tier};
use bytes::Bytes;
use tokio::time::Instant;

const PRICES: &str = r#"[{"symbol":"BTCUSDT","price":"18229.90000000"},{"symbol":"ETHUSDT","price":"1395.60000000"}]"#;

fn config(a: &[String], b: &[String], route_extra: &str, extra: &str) -> String {
    two_tier(&TwoTier { a, b, breaker_failures: 2, route_extra, a_extra: "", extra })
}

// Real clock: hyper's HTTP/2 client and server exchange frames through tasks that can
// all be waiting on loopback I/O at once, and a paused clock then jumps ahead to the next
// timer (here the 60 s idle timeout).
#[tokio::test]
async fn http2_clients_are_served() {
    let a = Mock::fixed(200, PRICES).await;
    let proxy = Proxy::start(&config(&[a.url()], &[a.url()], "", "")).await;
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .http2_only(true)
        .build_http::<http_body_util::Empty<Bytes>>();
    for path in ["/v1/price?symbols=BTC", "/raw/a/api/v3/ticker/price"] {
        let resp = client.get(proxy.url(path).parse().expect("uri")).await.expect("h2 response");
        assert_eq!(resp.version(), http::Version::HTTP_2);
        assert_eq!(resp.status(), 200, "{path} over HTTP/2 (prior knowledge)");
    }
    proxy.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_quote_or_symbol_the_provider_does_not_list_never_trips_its_breaker() {
    let a = Mock::fixed(200, PRICES).await;
    let b = Mock::fixed(200, PRICES).await;
    let proxy = Proxy::start(&config(&[a.url()], &[b.url()], "", "")).await;
    let r = get(proxy.url("/v1/price?symbols=BTC&vs=QQ1")).await;
    assert_eq!((r.status, r.json()["error"]["message"].as_str().map(|m| m.starts_with("vs:"))), (400, Some(true)));
    for _ in 0..10 {
        get(proxy.url("/v1/price?symbols=BTC&vs=XYZ")).await;
        get(proxy.url("/v1/price?symbols=SOL")).await;
    }
    let breakers = get(proxy.admin_url("/api/system/circuit-breakers")).await.json();
    assert!(breakers.as_array().expect("list").iter().all(|b| b["state"] == "closed"), "{breakers}");
    assert_eq!(get(proxy.url("/v1/price?symbols=BTC")).await.json()["meta"]["provider"], "a");
    proxy.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_partial_answer_is_returned_at_the_deadline_instead_of_504() {
    let a = Mock::fixed(200, PRICES).await;
    let hang = Mock::start(|_| Reply::Hang).await;
    let cfg = config(&[a.url()], &[hang.url()], "", "").replace("deadline = \"3s\"", "deadline = \"400ms\"");
    let proxy = Proxy::start(&cfg).await;
    let r = get(proxy.url("/v1/price?symbols=BTC,SOL")).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    assert_eq!(v["meta"]["missing"], serde_json::json!(["SOL"]));
    assert_eq!(v["data"][0]["price"], 18229.9);
    assert_eq!(r.header("cache-control").as_deref(), Some("no-store"));
    proxy.stop().await;
}

#[tokio::test(start_paused = true)]
async fn identical_requests_sharing_a_partial_answer_see_it_as_partial() {
    let a = Mock::start(|_| Reply::After(Duration::from_millis(200), Box::new(Reply::Json(200, PRICES.into())))).await;
    let b = Mock::fixed(503, "{}").await;
    let proxy = Proxy::start(&config(&[a.url()], &[b.url()], r#", cache = "30s""#, "")).await;
    let replies = futures_util::future::join_all((0..20).map(|_| get(proxy.url("/v1/price?symbols=BTC,SOL")))).await;
    assert_eq!(a.hits(), 1, "coalesced");
    for r in &replies {
        let v = r.json();
        assert_eq!(v["meta"]["missing"], serde_json::json!(["SOL"]), "{v}");
        assert_eq!(r.header("cache-control").as_deref(), Some("no-store"));
    }
    get(proxy.url("/v1/price?symbols=BTC,SOL")).await;
    assert_eq!(a.hits(), 2, "a partial answer is not stored");
    proxy.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_deeply_nested_body_is_a_bad_body_not_a_crash() {
    // Plain, and hidden behind a `#` line, which jaq's own reader takes as a comment (the
    // body that once aborted the whole process), and inside a string for `tonumber`.
    let deep = "[".repeat(70_000);
    let bodies = [deep.clone(), format!("#\"\n{deep}"), format!("[{{\"symbol\":\"BTCUSDT\",\"price\":\"{deep}\"}}]")];
    for body in bodies {
        let a = Mock::start(move |_| Reply::Json(200, body.clone())).await;
        let b = Mock::fixed(200, PRICES).await;
        let proxy = Proxy::start(&config(&[a.url()], &[b.url()], "", "")).await;
        let r = get(proxy.url("/v1/price?symbols=BTC")).await;
        assert_eq!(r.json()["meta"]["provider"], "b", "{}", r.text());
        let detail = r.json()["meta"]["tried"][0]["detail"].as_str().unwrap_or_default().to_owned();
        assert!(detail.contains("recursion limit") || detail.contains("not JSON"), "{detail}");
        assert_eq!(r.json()["meta"]["tried"][0]["outcome"], "bad_body");
        assert_eq!(get(proxy.url("/raw/b/api/v3/ticker/price")).await.status, 200, "the process is alive");
        proxy.stop().await;
    }
}

#[tokio::test(start_paused = true)]
async fn a_hedge_tries_the_same_providers_next_mirror_first() {
    let hang = Mock::start(|_| Reply::Hang).await;
    let mirror = Mock::fixed(200, PRICES).await;
    let b = Mock::fixed(200, PRICES).await;
    let proxy = Proxy::start(&config(&[hang.url(), mirror.url()], &[b.url()], r#", hedge_after = "100ms""#, "")).await;
    for _ in 0..4 {
        let started = Instant::now();
        let r = get(proxy.url("/v1/price?symbols=BTC")).await;
        assert_eq!(r.json()["meta"]["provider"], "a", "{}", r.text());
        assert!(started.elapsed() < Duration::from_millis(900));
    }
    assert_eq!(b.hits(), 0, "tier 2 was not needed: the hedge went to a's other mirror");
    proxy.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_request_forwarded_by_another_marketgate_is_not_forwarded_again() {
    let dead = refused_addr().await;
    let cfg = |peer: &str| defaults::with_hosts(&[("fallback", peer.to_owned())], &dead);
    // c <- b <- a: a's fallback is b, b's fallback is c. With two instances naming each
    // other the chain would be a loop; b must not pass a's request on.
    let c = Proxy::start_with(&cfg(&dead), defaults::keyed_env(), None, Default::default()).await;
    let b =
        Proxy::start_with(&cfg(&format!("http://{}", c.addr)), defaults::keyed_env(), None, Default::default()).await;
    let a =
        Proxy::start_with(&cfg(&format!("http://{}", b.addr)), defaults::keyed_env(), None, Default::default()).await;
    let r = get(a.url("/v1/price?symbols=BTC")).await;
    assert_eq!(r.status, 502, "{}", r.text());
    let b_metrics = get(b.admin_url("/metrics")).await.text();
    assert!(b_metrics.contains(r#"marketgate_requests_total{route="/v1/price",status="502"} 1"#), "b answered a");
    let c_metrics = get(c.admin_url("/metrics")).await.text();
    assert!(
        !c_metrics.contains(r#"marketgate_requests_total{route="/v1/price""#),
        "b did not forward a's request to c"
    );
    a.stop().await;
    b.stop().await;
    c.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_fallback_tier_pointing_back_at_itself_stops_at_the_first_repeat() {
    let dead = refused_addr().await;
    let proxy = Proxy::start_knowing_addr(
        |me| defaults::with_hosts(&[("fallback", format!("http://{me}"))], &dead),
        defaults::keyed_env(),
        None,
        Default::default(),
    )
    .await;
    let deep = format!("/raw/fallback{}/api/v3/ping", "/raw/fallback".repeat(30));
    let r = get(proxy.url(&deep)).await;
    assert_eq!(r.status, 508, "{}", r.text());
    assert_eq!(r.json()["error"]["code"], "loop_detected");
    let served = |metrics: &str, route: &str| -> u64 {
        metrics
            .lines()
            .filter(|l| l.starts_with(&format!("marketgate_requests_total{{route=\"{route}\"")))
            .filter_map(|l| l.rsplit(' ').next().and_then(|n| n.parse::<u64>().ok()))
            .sum()
    };
    let metrics = get(proxy.admin_url("/metrics")).await.text();
    assert_eq!(served(&metrics, "/raw/{provider}/{*path}"), 2, "the request came back once and stopped there");
    // A normalized request whose last tier is this instance comes back once, is refused.
    let r = get(proxy.url("/v1/price?symbols=BTC")).await;
    assert_eq!(r.status, 502, "{}", r.text());
    let metrics = get(proxy.admin_url("/metrics")).await.text();
    assert_eq!(served(&metrics, "/v1/price"), 2, "{metrics}");
    proxy.stop().await;
}
