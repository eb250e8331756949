//! Fair joins on the shipped config (its `max_streams` cut from 1024 to 8 so that a
//! test can fill a connection, its pair list left out so that any asset joins): a
//! client that fills one upstream connection does not turn the next client away (a
//! second connection opens, up to `max_connections`), and one client address holds at
//! most `max_clients_per_address` stream clients.

use std::time::Duration;

use crate::support::stream_client::{Sse, until_ws, ws_client};
use crate::support::stream_mock::{StreamMock, trade_event};
use crate::support::{Proxy, defaults, get, shipped};

/// The first `n` tickers of the shipped `[assets]` other than BTC.
fn assets(n: usize) -> Vec<String> {
    shipped::assets().into_iter().filter(|k| k != "BTC").take(n).collect()
}

async fn start(stream: &StreamMock, per_address: usize) -> Proxy {
    let text = shipped::config(&[("binance.stream", vec![stream.url.clone()])])
        .replace("max_streams = 1024", "max_streams = 8")
        .lines()
        .filter(|l| !l.starts_with("listed = "))
        .map(|l| {
            if l.starts_with("\"/v1/stream\"") {
                l.replace("poll = \"2s\" }", &format!("poll = \"2s\", max_clients_per_address = {per_address} }}"))
            } else {
                l.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    assert!(text.contains(&format!("max_clients_per_address = {per_address}")), "the route line changed");
    Proxy::start_with(&text, defaults::keyed_env(), None, Default::default()).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_connection_opens_another_instead_of_turning_the_next_client_away() {
    let stream = StreamMock::start().await;
    let proxy = start(&stream, 32).await;
    let four = assets(16);
    // Four symbols on two channels: the first connection's 8 streams.
    let mut greedy = Sse::open(&proxy, &format!("symbols={}&channels=trades,ticker", four[..4].join(","))).await;
    assert_eq!(greedy.next().await["event"], "subscribed");
    let mut ws = ws_client(&proxy, "symbols=BTC&channels=trades").await;
    until_ws(&mut ws, "status", Some("subscribed")).await;
    stream.wait_subscribed(&["btcusdt@trade"]).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while stream.open() < 2 {
        assert!(tokio::time::Instant::now() < deadline, "a second upstream connection: {:?}", stream.paths());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(stream.open(), 2, "two connections: {:?}", stream.paths());
    assert!(stream.subscribed().iter().all(|s| s.len() <= 8), "{:?}", stream.subscribed());
    assert!(stream.publish("btcusdt@trade", &trade_event("BTCUSDT", 1)) >= 1);
    let trade = until_ws(&mut ws, "trade", None).await;
    assert_eq!(trade["symbol"], "BTC");
    let view = get(proxy.admin_url("/api/system/streams")).await.json();
    assert_eq!(view["providers"][0]["connections"], 2, "{view}");
    assert_eq!(view["providers"][0]["streams"], 9, "{view}");

    // Up to the shipped 4 connections of 8; then a clear 503 naming the limit.
    let mut held = Vec::new();
    for chunk in [&four[4..8], &four[8..12]] {
        let mut s = Sse::open(&proxy, &format!("symbols={}&channels=trades,ticker", chunk.join(","))).await;
        assert_eq!(s.next().await["event"], "subscribed");
        held.push(s);
    }
    let r = get(proxy.url(&format!("/v1/stream?symbols={}&channels=trades,ticker", four[12..16].join(",")))).await;
    assert_eq!(r.status, 503, "{}", r.text());
    let message = r.json()["error"]["message"].as_str().unwrap_or_default().to_owned();
    assert!(message.contains("at most 8 streams on each of 4 connections"), "{message}");
    drop(greedy);
    // The greedy client left: its streams are free again.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let url = format!("ws://{}/v1/stream?symbols={}&channels=trades,ticker", proxy.addr, four[12..16].join(","));
        if tokio_tungstenite::connect_async(url.as_str()).await.is_ok() {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "streams never freed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    proxy.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_address_holds_at_most_its_clients_and_gets_them_back_when_they_leave() {
    let stream = StreamMock::start().await;
    let proxy = start(&stream, 3).await;
    let mut clients = Vec::new();
    for _ in 0..3 {
        let mut ws = ws_client(&proxy, "symbols=BTC&channels=trades").await;
        until_ws(&mut ws, "status", Some("subscribed")).await;
        clients.push(ws);
    }
    let r = get(proxy.url("/v1/stream?symbols=BTC&channels=trades")).await;
    assert_eq!((r.status, r.json()["error"]["code"].as_str()), (429, Some("too_many_requests")), "{}", r.text());
    let message = r.json()["error"]["message"].as_str().unwrap_or_default().to_owned();
    assert!(
        message.contains("127.0.0.1 already holds 3 stream clients") && message.contains("max_clients_per_address"),
        "{message}"
    );
    drop(clients.pop());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let url = format!("ws://{}/v1/stream?symbols=BTC&channels=trades", proxy.addr);
        if tokio_tungstenite::connect_async(url.as_str()).await.is_ok() {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "the address never got its client back");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    proxy.stop().await;
}
