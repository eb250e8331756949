//! Core behaviour over real sockets: host rotation, breakers, tiers, deadlines, rate
//! limits, TLS upstreams, streaming, the fronted app and graceful shutdown.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::time::Instant;

use crate::support::{Mock, Proxy, Reply, TwoTier, get, refused_addr, send, two_tier};
use bytes::Bytes;
use http::Method;

const PRICE_LIST: &str =
    r#"[{"symbol":"BTCUSDT","price":"18229.90000000"},{"symbol":"ETHUSDT","price":"1395.60000000"}]"#;

fn raw_config(hosts: &[String], breaker: &str) -> String {
    let list: Vec<String> = hosts.iter().map(|h| format!("{h:?}")).collect();
    format!(
        r#"
[defaults]
attempt_timeout = "1s"
breaker = {breaker}

[providers.p]
hosts = [{}]

[routes]
"/raw/{{provider}}/{{*path}}" = {{ passthrough = "*" }}
"#,
        list.join(", ")
    )
}

#[tokio::test(start_paused = true)]
async fn rotation_survives_a_resetting_and_a_503_host_and_opens_their_breakers() {
    let good: Vec<Mock> = futures_util::future::join_all((0..3).map(|_| Mock::fixed(200, PRICE_LIST))).await;
    let resetting = Mock::start(|_| Reply::Close).await;
    let failing = Mock::fixed(503, r#"{"error":"down"}"#).await;
    let mut hosts: Vec<String> = good.iter().map(Mock::url).collect();
    hosts.insert(1, resetting.url());
    hosts.insert(3, failing.url());
    let proxy = Proxy::start(&raw_config(&hosts, r#"{ consecutive_failures = 3, open_for = "60s" }"#)).await;
    for i in 0..60 {
        let r = get(&proxy.url("/raw/p/api/v3/ticker/price")).await;
        assert_eq!(r.status, 200, "request {i} failed: {}", r.text());
        assert_eq!(r.text(), PRICE_LIST);
        assert_eq!(r.header("x-marketgate-provider").as_deref(), Some("p"));
    }
    assert!(resetting.hits() <= 3, "resetting host got {} attempts", resetting.hits());
    assert!(failing.hits() <= 3, "503 host got {} attempts", failing.hits());
    assert!(resetting.hits() >= 1 && failing.hits() >= 1, "dead hosts were in the rotation");
    let served: usize = good.iter().map(Mock::hits).sum();
    assert!(served >= 60, "good hosts served {served}");
    for m in &good {
        assert!(m.hits() >= 10, "rotation spreads load: {:?}", good.iter().map(Mock::hits).collect::<Vec<_>>());
    }
    let breakers = get(&proxy.admin_url("/api/system/circuit-breakers")).await.json();
    let open: Vec<&str> = breakers
        .as_array()
        .expect("list")
        .iter()
        .filter(|b| b["state"] == "open")
        .filter_map(|b| b["host"].as_str())
        .collect();
    assert_eq!(open.len(), 2, "{breakers}");
    let metrics = get(&proxy.admin_url("/metrics")).await.text();
    let line = format!("marketgate_breaker_state{{host=\"{}\",provider=\"p\"}} 2", failing.addr);
    assert!(metrics.contains(&line), "breaker gauge for the 503 host: {line}");
    proxy.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_breaker_half_opens_after_its_period_lets_one_trial_through_and_closes() {
    let healthy = Mock::fixed(200, PRICE_LIST).await;
    let recovering = Arc::new(AtomicBool::new(false));
    let r2 = Arc::clone(&recovering);
    let flaky = Mock::start(move |_| {
        if r2.load(Ordering::SeqCst) {
            Reply::After(Duration::from_millis(300), Box::new(Reply::Json(200, PRICE_LIST.into())))
        } else {
            Reply::Json(500, "{}".into())
        }
    })
    .await;
    let cfg = raw_config(
        &[flaky.url(), healthy.url()],
        r#"{ consecutive_failures = 2, open_for = "400ms", max_open_for = "2s" }"#,
    );
    let proxy = Proxy::start(&cfg).await;
    for _ in 0..6 {
        assert_eq!(get(&proxy.url("/raw/p/x")).await.status, 200);
    }
    assert_eq!(flaky.hits(), 2, "opened after 2 consecutive failures");
    recovering.store(true, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = flaky.hits();
    let burst = futures_util::future::join_all((0..10).map(|_| get(proxy.url("/raw/p/x")))).await;
    assert!(burst.iter().all(|r| r.status == 200));
    assert_eq!(flaky.hits() - before, 1, "half-open admits exactly one trial");
    let breakers = get(&proxy.admin_url("/api/system/circuit-breakers")).await.json();
    let flaky_state = breakers
        .as_array()
        .expect("list")
        .iter()
        .find(|b| b["host"] == flaky.addr.to_string())
        .expect("flaky")["state"]
        .clone();
    assert_eq!(flaky_state, "closed", "a successful trial closes the breaker");
    for _ in 0..4 {
        get(&proxy.url("/raw/p/x")).await;
    }
    assert!(flaky.hits() - before >= 2, "closed host is back in the rotation");
    proxy.stop().await;
}

fn two_tier_config(a: &str, b: &str, extra: &str) -> String {
    let (a, b) = ([a.to_owned()], [b.to_owned()]);
    two_tier(&TwoTier { a: &a, b: &b, breaker_failures: 2, route_extra: "", a_extra: "", extra })
}

#[tokio::test(start_paused = true)]
async fn the_next_tier_answers_when_the_first_fails() {
    let a = Mock::fixed(500, "{}").await;
    let b = Mock::fixed(200, PRICE_LIST).await;
    let proxy = Proxy::start(&two_tier_config(&a.url(), &b.url(), "")).await;
    let r = get(&proxy.url("/v1/price?symbols=BTC,ETH")).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    assert_eq!(v["meta"]["provider"], "b");
    assert_eq!(v["meta"]["attempts"], 2);
    assert_eq!(v["data"][0]["symbol"], "BTC");
    assert_eq!(v["data"][0]["price"], 18229.9);
    assert_eq!(v["data"][1]["price"], 1395.6);
    assert_eq!(r.header("x-marketgate-provider").as_deref(), Some("b"));
    let metrics = get(&proxy.admin_url("/metrics")).await.text();
    assert!(metrics.contains(r#"marketgate_failovers_total{from="a",route="/v1/price",to="b"} 1"#), "{metrics}");
    proxy.stop().await;
}

#[tokio::test(start_paused = true)]
async fn the_deadline_gives_504_with_the_attempts() {
    let hang = Mock::start(|_| Reply::Hang).await;
    let hang2 = Mock::start(|_| Reply::Hang).await;
    let cfg = two_tier_config(&hang.url(), &hang2.url(), "").replace("deadline = \"3s\"", "deadline = \"400ms\"");
    let proxy = Proxy::start(&cfg).await;
    let started = Instant::now();
    let r = get(&proxy.url("/v1/price?symbols=BTC")).await;
    let took = started.elapsed();
    assert_eq!(r.status, 504, "{}", r.text());
    let v = r.json();
    assert_eq!(v["error"]["code"], "deadline_exceeded");
    assert_eq!(v["error"]["attempts"][0]["outcome"], "timeout");
    assert!(took < Duration::from_secs(3), "the deadline bounds the request, not the attempt timeout sum: {took:?}");
    proxy.stop().await;
}

#[tokio::test(start_paused = true)]
async fn all_breakers_open_answers_503_without_touching_upstreams() {
    let a = Mock::fixed(500, "{}").await;
    let b = Mock::fixed(503, "{}").await;
    let proxy = Proxy::start(&two_tier_config(&a.url(), &b.url(), "")).await;
    for _ in 0..2 {
        assert_eq!(get(&proxy.url("/v1/price?symbols=BTC")).await.status, 502);
    }
    let hits = (a.hits(), b.hits());
    let started = Instant::now();
    let r = get(&proxy.url("/v1/price?symbols=BTC")).await;
    assert_eq!(r.status, 503, "{}", r.text());
    let v = r.json();
    assert_eq!(v["error"]["code"], "no_provider_available");
    assert_eq!(v["error"]["attempts"][0]["outcome"], "unavailable");
    assert_eq!((a.hits(), b.hits()), hits, "no upstream was called");
    assert!(r.header("retry-after").is_some());
    assert!(started.elapsed() < Duration::from_secs(1));
    proxy.stop().await;
}

#[tokio::test(start_paused = true)]
async fn retry_after_benches_the_whole_provider() {
    let limited =
        Mock::start(|_| Reply::With(429, vec![("retry-after", "1".into())], r#"{"code":-1003}"#.into())).await;
    let sibling = Mock::fixed(200, PRICE_LIST).await;
    let b = Mock::fixed(200, PRICE_LIST).await;
    let cfg = two_tier_config(&limited.url(), &b.url(), "").replace(
        &format!("hosts = [\"{}\"]", limited.url()),
        &format!("hosts = [\"{}\", \"{}\"]", limited.url(), sibling.url()),
    );
    let proxy = Proxy::start(&cfg).await;
    // Walk the rotation until the limited host answers 429.
    let mut benched = false;
    for _ in 0..4 {
        let r = get(&proxy.url("/v1/price?symbols=BTC")).await;
        assert_eq!(r.status, 200);
        if limited.hits() > 0 {
            benched = true;
            break;
        }
    }
    assert!(benched, "the 429 host was tried");
    let sibling_hits = sibling.hits();
    for _ in 0..5 {
        let r = get(&proxy.url("/v1/price?symbols=BTC")).await;
        assert_eq!(r.json()["meta"]["provider"], "b", "provider a is benched as a whole");
    }
    assert_eq!(sibling.hits(), sibling_hits, "a's other host gets nothing while a is benched");
    assert_eq!(limited.hits(), 1);
    let raw = get(&proxy.url("/raw/a/api/v3/ticker/price")).await;
    assert_eq!(raw.status, 503, "raw requests respect the bench too");
    assert!(raw.header("retry-after").is_some());
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let again = (0..4).map(|_| get(proxy.url("/v1/price?symbols=BTC")));
    let providers: Vec<String> = futures_util::future::join_all(again)
        .await
        .iter()
        .map(|r| r.json()["meta"]["provider"].as_str().unwrap_or("").to_owned())
        .collect();
    assert!(providers.iter().any(|p| p == "a"), "after Retry-After a is used again: {providers:?}");
    proxy.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_retry_after_longer_than_the_deadline_never_makes_the_request_wait() {
    let limited = Mock::start(|_| Reply::With(429, vec![("retry-after", "3600".into())], "{}".into())).await;
    let b = Mock::fixed(200, PRICE_LIST).await;
    let proxy = Proxy::start(&two_tier_config(&limited.url(), &b.url(), "")).await;
    let started = Instant::now();
    let r = get(&proxy.url("/v1/price?symbols=BTC")).await;
    assert_eq!(r.json()["meta"]["provider"], "b");
    assert!(started.elapsed() < Duration::from_secs(2));
    proxy.stop().await;
}

// Real clock: the TLS mock is reached as `localhost`, and name resolution runs on the
// blocking pool, outside the paused clock's view.
#[tokio::test]
async fn https_upstreams_are_verified_against_the_configured_ca() {
    let pki = crate::support::tls::TestPki::new("upstream");
    let mock = Mock::start_tls(|_| Reply::Json(200, PRICE_LIST.into()), pki.server_config()).await;
    let with_ca = format!(
        "[upstream]\nextra_ca_file = {:?}\n{}",
        pki.ca_path().display().to_string(),
        raw_config(&[mock.url()], "{}")
    );
    let proxy = Proxy::start(&with_ca).await;
    let r = get(&proxy.url("/raw/p/api/v3/ticker/price")).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.text(), PRICE_LIST);
    let seen = &mock.seen()[0];
    assert_eq!(
        seen.host.as_deref(),
        Some(format!("localhost:{}", mock.addr.port()).as_str()),
        "Host/SNI are the upstream's"
    );
    assert_eq!(seen.version, http::Version::HTTP_2, "h2 negotiated by ALPN");
    proxy.stop().await;
    let without = Proxy::start(&raw_config(&[mock.url()], "{}")).await;
    let r = get(&without.url("/raw/p/api/v3/ticker/price")).await;
    assert_eq!(r.status, 502, "an unknown CA is refused");
    assert!(r.text().contains("connect_error"), "{}", r.text());
    without.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_20_mb_body_streams_through_without_being_buffered() {
    const TOTAL: usize = 20 * 1024 * 1024;
    let gate = Arc::new(tokio::sync::Notify::new());
    let g = Arc::clone(&gate);
    let mock = Mock::start(move |_| Reply::Stream {
        total: TOTAL,
        chunk: 64 * 1024,
        gate_after: 4 * 1024 * 1024,
        gate: Some(Arc::clone(&g)),
    })
    .await;
    let proxy = Proxy::start(&raw_config(&[mock.url()], "{}")).await;
    let hwm_before = peak_rss_kib();
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<http_body_util::Empty<Bytes>>();
    let uri: http::Uri = proxy.url("/raw/p/big").parse().expect("uri");
    let resp = client.get(uri).await.expect("response head");
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers().get("content-length").and_then(|v| v.to_str().ok()), Some(TOTAL.to_string().as_str()));
    let mut body = resp.into_body();
    let mut received = 0usize;
    let mut opened = false;
    let read = async {
        use http_body_util::BodyExt;
        while let Some(frame) = body.frame().await {
            let frame = frame.expect("frame");
            if let Some(d) = frame.data_ref() {
                received += d.len();
            }
            if !opened && received >= 4 * 1024 * 1024 {
                // The client holds 4 MiB before the upstream has sent the rest:
                // marketgate is streaming, not buffering the whole body.
                opened = true;
                gate.notify_one();
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(30), read).await.expect("streamed within 30 s");
    assert_eq!(received, TOTAL);
    let grown = peak_rss_kib().saturating_sub(hwm_before);
    assert!(grown < 16 * 1024, "peak RSS grew by {grown} KiB while streaming 20 MiB");
    proxy.stop().await;
}

fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmHWM:")).and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

#[tokio::test(start_paused = true)]
async fn unmatched_requests_go_to_the_fronted_app() {
    let app = Mock::start(|s| Reply::Json(201, format!(r#"{{"app_saw":"{}"}}"#, s.path_and_query))).await;
    let cfg = format!("[app]\nupstream = \"{}\"\n{}", app.url(), raw_config(&[refused_addr().await], "{}"));
    let proxy = Proxy::start(&cfg).await;
    let r = send(
        Method::POST,
        &proxy.url("/api/trading/volume?x=1"),
        &[("content-type", "application/json")],
        Bytes::from_static(b"{\"a\":1}"),
    )
    .await;
    assert_eq!(r.status, 201);
    assert_eq!(r.json()["app_saw"], "/api/trading/volume?x=1");
    let seen = &app.seen()[0];
    assert_eq!(seen.method, Method::POST);
    assert_eq!(&seen.body[..], b"{\"a\":1}");
    assert_eq!(seen.headers.get("x-forwarded-for").and_then(|v| v.to_str().ok()), Some("127.0.0.1"));
    proxy.stop().await;
    let no_app = Proxy::start(&raw_config(&[refused_addr().await], "{}")).await;
    let r = get(&no_app.url("/api/trading/volume")).await;
    assert_eq!(r.status, 404);
    assert_eq!(r.json()["error"]["code"], "no_route");
    no_app.stop().await;
}

#[tokio::test(start_paused = true)]
async fn shutdown_lets_a_slow_in_flight_request_finish() {
    let slow =
        Mock::start(|_| Reply::After(Duration::from_millis(700), Box::new(Reply::Json(200, PRICE_LIST.into())))).await;
    let mut proxy = Proxy::start(&raw_config(&[slow.url()], "{}")).await;
    let url = proxy.url("/raw/p/slow");
    let in_flight = tokio::spawn(async move { get(&url).await });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let stopping = proxy.begin_stop();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let refused = tokio::net::TcpStream::connect(proxy.addr).await;
    assert!(refused.is_err(), "no new connections once shutdown began");
    let r = in_flight.await.expect("task");
    assert_eq!(r.status, 200, "the in-flight request completed");
    assert_eq!(r.text(), PRICE_LIST);
    tokio::time::timeout(Duration::from_secs(5), stopping).await.expect("run returned").expect("join");
}

#[tokio::test(start_paused = true)]
async fn post_is_retried_only_when_it_never_reached_the_upstream() {
    let dead = refused_addr().await;
    let echo = Mock::start(|s| Reply::Json(200, String::from_utf8_lossy(&s.body).into_owned())).await;
    let proxy = Proxy::start(&raw_config(&[dead.clone(), echo.url()], r#"{ consecutive_failures = 5 }"#)).await;
    for _ in 0..4 {
        let r = send(Method::POST, &proxy.url("/raw/p/order"), &[], Bytes::from_static(b"payload")).await;
        assert_eq!(r.status, 200, "a refused connection never saw the body: {}", r.text());
        assert_eq!(r.text(), "payload");
    }
    proxy.stop().await;
    let failing = Mock::fixed(503, "busy").await;
    let echo2 = Mock::start(|s| Reply::Json(200, String::from_utf8_lossy(&s.body).into_owned())).await;
    let proxy = Proxy::start(&raw_config(&[failing.url(), echo2.url()], r#"{ consecutive_failures = 5 }"#)).await;
    let mut saw_503 = false;
    for _ in 0..4 {
        let r = send(Method::POST, &proxy.url("/raw/p/order"), &[], Bytes::from_static(b"payload")).await;
        saw_503 |= r.status == 503;
    }
    assert!(saw_503, "a POST that reached a 503 host is not replayed on another host");
    proxy.stop().await;
}
