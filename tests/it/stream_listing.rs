//! A stream is never silent: on the shipped config (REST and stream hosts on loopback),
//! a join for a pair Binance's stream does not carry is refused before the upgrade
//! after one cheap look at Binance's own pair list (`listed`), whatever the join asks;
//! and a subscribed topic that stays quiet past its channel's bound is said to be
//! silent, its pair's tickers polled from REST until it speaks again.

use std::time::Duration;

use crate::support::stream_client::{until_ws, ws_client};
use crate::support::stream_mock::StreamMock;
use crate::support::{Proxy, fixture, get, shipped};

/// Every REST provider replaying its recorded bodies (Binance's pair list is its
/// recorded `/api/v3/ticker/price`: 20 pairs, BTCUSDT and ETHUSDT among them), the
/// stream at `stream`.
async fn start(stream: &StreamMock) -> (Proxy, Vec<(&'static str, shipped::ProviderMocks)>) {
    shipped::with_rest_and_stream(&stream.url).await
}

/// Requests the REST mocks received, the providers' periodic health probes left out.
fn upstream_calls(mocks: &[(&str, shipped::ProviderMocks)]) -> Vec<String> {
    let probes = ["/api/v3/ping", "/0/public/SystemStatus", "/time", "/api/v5/public/time"];
    mocks
        .iter()
        .flat_map(|(_, m)| m.mocks.iter().flat_map(|m| m.seen()))
        .map(|s| s.path_and_query)
        .filter(|p| !probes.contains(&p.split('?').next().unwrap_or_default()))
        .collect()
}

/// The first `n` tickers of the shipped `[assets]`.
fn assets(n: usize) -> Vec<String> {
    shipped::assets().into_iter().take(n).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pair_the_stream_does_not_carry_is_refused_up_front_for_one_cheap_call() {
    let stream = StreamMock::start().await;
    let (proxy, mocks) = start(&stream).await;
    let before = upstream_calls(&mocks).len();

    // LEO is an asset every REST provider may know, but Binance's list has no LEOUSDT.
    let r = tokio::time::timeout(Duration::from_secs(5), get(proxy.url("/v1/stream?symbols=LEO&channels=ticker")))
        .await
        .expect("an answer, not a silent stream");
    assert_eq!((r.status, r.json()["error"]["code"].as_str()), (400, Some("unknown_symbol")), "{}", r.text());
    let message = r.json()["error"]["message"].as_str().unwrap_or_default().to_owned();
    assert!(message.contains("binance's stream does not carry LEO/USD (LEOUSDT)"), "{message}");
    assert!(message.contains("/v1/ticker"), "where else to look: {message}");

    // Fifty symbols with a made-up quote: refused, for no more than the one list.
    let fifty = assets(50);
    assert_eq!(fifty.len(), 50);
    let url = format!("ws://{}/v1/stream?symbols={}&vs=QQQ", proxy.addr, fifty.join(","));
    match tokio_tungstenite::connect_async(url.as_str()).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => assert_eq!(resp.status(), 400),
        other => panic!("the WebSocket upgrade should be refused: {:?}", other.map(|(_, r)| r.status())),
    }
    let calls = upstream_calls(&mocks);
    assert!(calls.len() - before <= 1, "two refused joins of 51 pairs cost these upstream calls: {calls:?}");
    let lists =
        mocks[0].1.mocks.iter().flat_map(|m| m.seen()).filter(|s| s.path_and_query.contains("symbolStatus=TRADING"));
    assert_eq!(lists.count(), 1, "Binance's pair list is read once");
    assert_eq!(stream.connections(), 0, "nothing was subscribed upstream");

    // A listed pair joins with no further REST call at all.
    let mut ws = ws_client(&proxy, "symbols=BTC,ETH&channels=trades").await;
    until_ws(&mut ws, "status", Some("subscribed")).await;
    stream.wait_subscribed(&["btcusdt@trade", "ethusdt@trade"]).await;
    assert_eq!(upstream_calls(&mocks).len(), calls.len());
    proxy.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_topic_that_stays_silent_is_said_and_its_pair_polled_until_it_speaks() {
    let stream = StreamMock::start().await;
    let (proxy, _mocks) = start(&stream).await;
    let mut ws = ws_client(&proxy, "symbols=BTC&channels=ticker").await;
    until_ws(&mut ws, "status", Some("subscribed")).await;
    stream.wait_subscribed(&["btcusdt@ticker"]).await;
    // The connection is up and the topic subscribed, but nothing comes: within the
    // ticker channel's 5 s (and a watchdog tick) the client is told, then polled.
    let silent = tokio::time::timeout(Duration::from_secs(9), until_ws(&mut ws, "status", Some("silent")))
        .await
        .expect("told within 9 s");
    let detail = silent["detail"].as_str().unwrap_or_default();
    assert!(detail.contains("btcusdt@ticker") && detail.contains("/v1/ticker"), "{silent}");
    let polled = until_ws(&mut ws, "ticker", None).await;
    let recorded: serde_json::Value =
        serde_json::from_str(&fixture(shipped::recorded("binance", "/api/v3/ticker/24hr").expect("recorded")))
            .expect("JSON");
    assert_eq!(polled["last"].as_f64(), recorded["lastPrice"].as_str().and_then(|p| p.parse().ok()), "{polled}");
    let view = get(proxy.admin_url("/api/system/streams")).await.json();
    assert_eq!(view["providers"][0]["topics"][0]["silent"], true, "{view}");
    let metrics = get(proxy.admin_url("/metrics")).await.text();
    assert!(metrics.contains("marketgate_stream_silent_topics_total{provider=\"binance\"} 1"), "{metrics}");

    // The topic speaks: the client is told, and the stream's ticker follows.
    let ticker = fixture("binance_ws/raw_ticker_btcusdt_2025-09-14.json");
    let data: serde_json::Value = serde_json::from_str(&ticker).expect("JSON");
    stream.publish("btcusdt@ticker", &data);
    until_ws(&mut ws, "status", Some("resumed")).await;
    let live = until_ws(&mut ws, "ticker", None).await;
    assert_eq!(live["last"].as_f64(), data["c"].as_str().and_then(|c| c.parse().ok()), "{live}");
    let view = get(proxy.admin_url("/api/system/streams")).await.json();
    assert_eq!(view["providers"][0]["topics"][0]["silent"], false, "{view}");
    proxy.stop().await;
}

/// `channels=candles&interval=1m`: Binance's recorded `btcusdt@kline_1m` frames (44
/// updates of two candles, the first closing) become candle messages as `/v1/ohlcv`
/// names the fields, with `closed` on the last update of an interval; a client asking
/// 5m gets its own upstream stream; `interval` without candles is a 400 naming it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recorded_kline_frames_become_candle_updates() {
    let stream = StreamMock::start().await;
    let (proxy, _mocks) = start(&stream).await;
    let mut ws = ws_client(&proxy, "symbols=BTC&channels=candles&interval=1m").await;
    let mut five = ws_client(&proxy, "symbols=BTC&channels=candles&interval=5m").await;
    until_ws(&mut ws, "status", Some("subscribed")).await;
    until_ws(&mut five, "status", Some("subscribed")).await;
    stream.wait_subscribed(&["btcusdt@kline_1m", "btcusdt@kline_5m"]).await;
    let frames: Vec<serde_json::Value> = fixture("binance_ws/combined_kline1m_btcusdt_2021-04-04.jsonl")
        .lines()
        .map(|l| serde_json::from_str(l).expect("recorded JSON"))
        .collect();
    let mut closed = 0;
    for frame in &frames {
        stream.publish("btcusdt@kline_1m", &frame["data"]);
        let m = until_ws(&mut ws, "candle", None).await;
        let k = &frame["data"]["k"];
        assert_eq!(
            (m["symbol"].as_str(), m["vs"].as_str(), m["interval"].as_str()),
            (Some("BTC"), Some("USD"), Some("1m"))
        );
        assert_eq!(m["ts"], k["t"], "the candle's open time");
        for (field, key) in [("open", "o"), ("high", "h"), ("low", "l"), ("close", "c"), ("volume", "v")] {
            assert_eq!(m[field].as_f64(), k[key].as_str().and_then(|v| v.parse().ok()), "{field}");
        }
        assert_eq!(m["closed"], k["x"]);
        assert_eq!(m["updated"], frame["data"]["E"]);
        assert_eq!(m["provider"], "binance");
        closed += usize::from(m["closed"] == true);
    }
    assert_eq!(closed, 1, "the recording holds one closing update");
    let bad = get(proxy.url("/v1/stream?symbols=BTC&channels=trades&interval=1m")).await;
    assert_eq!(bad.status, 400);
    assert!(bad.text().contains("interval"), "{}", bad.text());
    let bad = get(proxy.url("/v1/stream?symbols=BTC&channels=candles&interval=2m")).await;
    assert_eq!(bad.status, 400);
    assert!(bad.text().contains("1m 5m 15m 1h 4h 1d"), "{}", bad.text());
    proxy.stop().await;
}

/// An upstream that stops answering SUBSCRIBE: the second client's join is sent and
/// never acknowledged; after 5 s the connection is given up (the first client hears of
/// the gap) and a new one carries both pairs in its URL, so both clients get trades.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upstream_that_ignores_subscribe_is_replaced_and_its_clients_told() {
    let stream = StreamMock::start().await;
    let (proxy, _mocks) = start(&stream).await;
    let mut btc = ws_client(&proxy, "symbols=BTC&channels=trades").await;
    until_ws(&mut btc, "status", Some("subscribed")).await;
    stream.wait_subscribed(&["btcusdt@trade"]).await;
    stream.set_deaf(true);
    let mut eth = ws_client(&proxy, "symbols=ETH&channels=trades").await;
    until_ws(&mut eth, "status", Some("subscribed")).await;
    let started = tokio::time::Instant::now();
    let gap = tokio::time::timeout(Duration::from_secs(9), until_ws(&mut btc, "status", Some("gap")))
        .await
        .unwrap_or_else(|_| {
            let controls: Vec<String> = stream
                .controls()
                .iter()
                .map(|(at, conn, v)| format!("{:?} conn {conn}: {v}", at.saturating_duration_since(started)))
                .collect();
            panic!("no gap within 9 s; connections {:?}, controls {controls:#?}", stream.paths())
        });
    assert!(gap["detail"].as_str().is_some_and(|d| d.contains("control request")), "{gap}");
    stream.set_deaf(false);
    stream.wait_subscribed(&["btcusdt@trade", "ethusdt@trade"]).await;
    let url = stream.paths().last().cloned().unwrap_or_default();
    assert!(url.contains("btcusdt@trade") && url.contains("ethusdt@trade"), "both in the new URL: {url}");
    stream.publish("ethusdt@trade", &crate::support::stream_mock::trade_event("ETHUSDT", 1));
    stream.publish("btcusdt@trade", &crate::support::stream_mock::trade_event("BTCUSDT", 2));
    assert_eq!(until_ws(&mut eth, "trade", None).await["symbol"], "ETH");
    assert_eq!(until_ws(&mut btc, "trade", None).await["symbol"], "BTC");
    proxy.stop().await;
}
