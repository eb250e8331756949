//! Live streams (`/v1/stream`) on the shipped config with Binance's stream hosts moved
//! to a loopback mock of the combined-stream endpoint: one upstream connection for
//! every client, every message in order, recorded frames mapped to the documented
//! messages, a dropped upstream marked with `gap` then `resumed`, REST tickers while no
//! stream host answers, a client that never reads harming no one, and a connection
//! replaced before its lifetime without a lost or duplicated trade.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use crate::support::stream_client::{Sse, next_of, until_ws, ws_client, ws_next};
use crate::support::stream_mock::{StreamMock, trade_event};
use crate::support::{Proxy, fixture, get, shipped};
use tokio::time::Instant;

/// The shipped config with `binance.stream` at `stream` and Binance's REST hosts at
/// `rest` (other providers nowhere), edited by `extra` lines added to the stream table.
fn config(stream: &str, rest: Vec<String>, extra: &str) -> String {
    let base = shipped::config(&[("binance.stream", vec![stream.to_owned()]), ("binance", rest)]);
    base.replace("[providers.binance.stream]\n", &format!("[providers.binance.stream]\n{extra}\n"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_clients_share_one_upstream_connection_and_get_every_trade_in_order() {
    let mock = StreamMock::start().await;
    let proxy = Proxy::start(&config(&mock.url, vec![shipped::NOWHERE.into()], "")).await;
    let query = "symbols=BTC,ETH,SOL&channels=trades";
    let mut ws_clients = Vec::new();
    let mut sse_clients = Vec::new();
    for i in 0..200 {
        if i % 2 == 0 {
            let mut ws = ws_client(&proxy, query).await;
            assert_eq!(ws_next(&mut ws).await["event"], "subscribed");
            ws_clients.push(ws);
        } else {
            let mut sse = Sse::open(&proxy, query).await;
            let first = sse.next().await;
            assert_eq!(first["event"], "subscribed", "{first}");
            assert_eq!(first["detail"], "trades for BTC/USD, ETH/USD, SOL/USD from binance");
            sse_clients.push(sse);
        }
    }
    mock.wait_subscribed(&["btcusdt@trade", "ethusdt@trade", "solusdt@trade"]).await;
    assert_eq!(mock.connections(), 1, "one upstream connection for 200 clients: {:?}", mock.paths());
    let view = get(proxy.admin_url("/api/system/streams")).await.json();
    assert_eq!(view["clients"], serde_json::json!({"ws": 100, "sse": 100, "relay": 0}), "{view}");
    assert_eq!(view["providers"][0]["connections"], 1, "{view}");
    assert_eq!(view["providers"][0]["streams"], 3, "{view}");
    assert_eq!(view["providers"][0]["state"], "up", "{view}");

    let per_symbol = 40;
    for n in 0..per_symbol {
        for (stream, id) in [("btcusdt@trade", "BTCUSDT"), ("ethusdt@trade", "ETHUSDT"), ("solusdt@trade", "SOLUSDT")] {
            assert_eq!(mock.publish(stream, &trade_event(id, n)), 1);
        }
    }
    let expect = |got: Vec<serde_json::Value>| {
        let mut by_symbol: BTreeMap<String, Vec<u64>> = BTreeMap::new();
        for m in got {
            assert_eq!(m["channel"], "trade", "{m}");
            assert_eq!(m["provider"], "binance");
            by_symbol
                .entry(m["symbol"].as_str().expect("symbol").to_owned())
                .or_default()
                .push(m["id"].as_str().expect("id").parse().expect("numeric id"));
        }
        assert_eq!(by_symbol.len(), 3);
        for ids in by_symbol.values() {
            let first = ids[0];
            assert_eq!(ids, &(first..first + per_symbol).collect::<Vec<u64>>(), "every trade, in order");
        }
    };
    for ws in &mut ws_clients {
        let mut got = Vec::new();
        for _ in 0..3 * per_symbol {
            got.push(ws_next(ws).await);
        }
        expect(got);
    }
    for sse in &mut sse_clients {
        let mut got = Vec::new();
        for _ in 0..3 * per_symbol {
            got.push(sse.next().await);
        }
        expect(got);
    }
    // Control messages never came faster than Binance accepts (5 a second).
    let controls = mock.controls();
    for pair in controls.windows(2) {
        assert!(pair[1].0 - pair[0].0 >= Duration::from_millis(200), "{controls:?}");
    }
    // Binance pings; marketgate answers.
    mock.ping_all();
    let deadline = Instant::now() + Duration::from_secs(5);
    while mock.pongs() == 0 {
        assert!(Instant::now() < deadline, "no pong");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let metrics = get(proxy.admin_url("/metrics")).await.text();
    assert!(metrics.contains(r#"marketgate_stream_clients{transport="ws"} 100"#), "{metrics}");
    assert!(metrics.contains(r#"marketgate_stream_upstream_connections{provider="binance"} 1"#));
    let out =
        format!(r#"marketgate_stream_messages_total{{direction="out",provider="binance"}} {}"#, 200 * 3 * per_symbol);
    assert!(metrics.contains(&out), "{metrics}");
    drop(ws_clients);
    drop(sse_clients);
    // The last client gone, the upstream connection closes.
    let deadline = Instant::now() + Duration::from_secs(10);
    while mock.open() > 0 {
        assert!(Instant::now() < deadline, "the upstream connection outlived its clients");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    proxy.stop().await;
}

#[tokio::test]
async fn recorded_frames_become_the_documented_messages() {
    let mock = StreamMock::start().await;
    let proxy = Proxy::start(&config(&mock.url, vec![shipped::NOWHERE.into()], "")).await;
    let mut ws = ws_client(&proxy, "symbols=BTC").await;
    until_ws(&mut ws, "status", Some("subscribed")).await;
    mock.wait_subscribed(&["btcusdt@trade", "btcusdt@ticker"]).await;
    let mut lines: Vec<String> =
        fixture("binance_ws/combined_trade_btcusdt.jsonl").lines().map(str::to_owned).collect();
    lines.extend(fixture("binance_ws/combined_trade_btcusdt_legacy_with_b_a.jsonl").lines().map(str::to_owned));
    for line in &lines {
        let frame: serde_json::Value = serde_json::from_str(line).expect("recorded JSON");
        assert_eq!(mock.publish_raw("btcusdt@trade", line), 1);
        let m = until_ws(&mut ws, "trade", None).await;
        let data = &frame["data"];
        assert_eq!(m["symbol"], "BTC");
        assert_eq!(m["vs"], "USD");
        assert_eq!(m["price"].as_f64(), data["p"].as_str().and_then(|p| p.parse().ok()));
        assert_eq!(m["amount"].as_f64(), data["q"].as_str().and_then(|q| q.parse().ok()));
        assert_eq!(m["side"], if data["m"] == true { "sell" } else { "buy" }, "m = buyer is maker: the taker sold");
        assert_eq!(m["ts"], data["T"]);
        assert_eq!(m["id"], data["t"].to_string());
    }
    let ticker = fixture("binance_ws/combined_ticker_btcusdt_2020-06-19.json");
    let frame: serde_json::Value = serde_json::from_str(&ticker).expect("recorded JSON");
    mock.publish_raw("btcusdt@ticker", ticker.trim());
    let m = until_ws(&mut ws, "ticker", None).await;
    let data = &frame["data"];
    for (field, key) in [
        ("last", "c"),
        ("open", "o"),
        ("high", "h"),
        ("low", "l"),
        ("change_pct", "P"),
        ("volume", "v"),
        ("quote_volume", "q"),
    ] {
        let want: f64 = data[key].as_str().and_then(|v| v.parse().ok()).expect("recorded number");
        let got = m[field].as_f64().expect(field);
        // jq's tonumber may round the last of 17 digits differently from Rust's parser.
        assert!((got - want).abs() <= want.abs() * 1e-15, "{field}: {got} vs {want}");
    }
    assert_eq!(m["provider"], "binance");
    // A frame the mapping cannot read is counted and skipped; the stream goes on.
    mock.publish_raw("btcusdt@trade", r#"{"stream":"btcusdt@trade","data":{"p":"not a number"}}"#);
    mock.publish("btcusdt@trade", &trade_event("BTCUSDT", 1));
    assert_eq!(until_ws(&mut ws, "trade", None).await["symbol"], "BTC");
    let metrics = get(proxy.admin_url("/metrics")).await.text();
    assert!(metrics.contains(r#"marketgate_stream_messages_total{direction="invalid",provider="binance"} 1"#));
    proxy.stop().await;
}

#[tokio::test]
async fn an_upstream_drop_is_marked_as_a_gap_and_trades_resume() {
    let mock = StreamMock::start().await;
    let proxy = Proxy::start(&config(&mock.url, vec![shipped::NOWHERE.into()], "")).await;
    let mut ws = ws_client(&proxy, "symbols=BTC&channels=trades").await;
    until_ws(&mut ws, "status", Some("subscribed")).await;
    mock.wait_subscribed(&["btcusdt@trade"]).await;
    mock.publish("btcusdt@trade", &trade_event("BTCUSDT", 1));
    assert_eq!(until_ws(&mut ws, "trade", None).await["channel"], "trade");
    mock.drop_all();
    let gap = ws_next(&mut ws).await;
    assert_eq!(gap["event"], "gap", "{gap}");
    assert!(gap["detail"].as_str().expect("detail").contains("lost"), "{gap}");
    let resumed = until_ws(&mut ws, "status", Some("resumed")).await;
    assert!(resumed["ts"].as_i64().is_some());
    assert_eq!(mock.connections(), 2, "one reconnect");
    mock.wait_subscribed(&["btcusdt@trade"]).await;
    mock.publish("btcusdt@trade", &trade_event("BTCUSDT", 2));
    let t = until_ws(&mut ws, "trade", None).await;
    assert_eq!(t["id"], (trade_event("BTCUSDT", 2)["t"]).to_string());
    let metrics = get(proxy.admin_url("/metrics")).await.text();
    assert!(metrics.contains(r#"marketgate_stream_reconnects_total{provider="binance"} 1"#), "{metrics}");
    proxy.stop().await;
}

#[tokio::test]
async fn with_every_stream_host_down_tickers_come_from_rest_until_the_stream_returns() {
    let rest = shipped::provider("binance", None).await;
    // A port nothing listens on yet: the stream host is down, then comes back there.
    let (later, addr) = crate::support::mock::reserved_port();
    let stream_url = format!("ws://{addr}");
    let proxy = Proxy::start(&config(&stream_url, rest.hosts.clone(), "")).await;
    let mut sse = Sse::open(&proxy, "symbols=BTC&channels=ticker").await;
    assert_eq!(sse.next().await["event"], "subscribed");
    let fallback = sse.next().await;
    assert_eq!(fallback["event"], "fallback", "{fallback}");
    assert!(fallback["detail"].as_str().expect("detail").contains("/v1/ticker"), "{fallback}");
    let recorded: serde_json::Value =
        serde_json::from_str(&fixture(shipped::recorded("binance", "/api/v3/ticker/24hr").expect("recorded")))
            .expect("JSON");
    // (The next streams in turn, down too, say so in statuses of their own.)
    for _ in 0..2 {
        let mut t = sse.next().await;
        while t["channel"] == "status" {
            t = sse.next().await;
        }
        assert_eq!(t["channel"], "ticker", "{t}");
        assert_eq!(t["symbol"], "BTC");
        assert_eq!(t["provider"], "binance");
        assert_eq!(t["last"].as_f64(), recorded["lastPrice"].as_str().and_then(|p| p.parse().ok()));
    }
    let view = get(proxy.admin_url("/api/system/streams")).await.json();
    assert_eq!(view["providers"][0]["state"], "fallback", "{view}");
    // The stream host comes back: marketgate reconnects (its breaker's open period
    // ends) and says so.
    let listener = later.listen(128).expect("listen on the kept port");
    let mock = StreamMock::serve_on(listener);
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let m = tokio::time::timeout_at(deadline, sse.next()).await.expect("resumed within the breaker period");
        if m["event"] == "resumed" {
            break;
        }
        assert!(m["channel"] == "ticker" || m["channel"] == "status", "{m}");
    }
    mock.wait_subscribed(&["btcusdt@ticker"]).await;
    let ticker = fixture("binance_ws/raw_ticker_btcusdt_2025-09-14.json");
    let data: serde_json::Value = serde_json::from_str(&ticker).expect("JSON");
    mock.publish("btcusdt@ticker", &data);
    let m = sse.next().await;
    assert_eq!(m["last"].as_f64(), data["c"].as_str().and_then(|c| c.parse().ok()), "{m}");
    proxy.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_reads_loses_messages_and_delays_no_one() {
    let mock = StreamMock::start().await;
    let proxy = Proxy::start(&config(&mock.url, vec![shipped::NOWHERE.into()], "")).await;
    // The stalled client's receive buffer is small, so marketgate's queue for it fills
    // sooner.
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket.set_recv_buffer_size(4096).expect("SO_RCVBUF");
    let tcp = socket.connect(proxy.addr).await.expect("connect");
    let url = format!("ws://{}/v1/stream?symbols=BTC&channels=trades", proxy.addr);
    let (mut stalled, _) = tokio_tungstenite::client_async(url.as_str(), tcp).await.expect("handshake");
    let mut reader = ws_client(&proxy, "symbols=BTC&channels=trades").await;
    until_ws(&mut reader, "status", Some("subscribed")).await;
    mock.wait_subscribed(&["btcusdt@trade"]).await;
    // More than the kernel buffers a stalled socket (4 MiB of send buffer, ~18,000
    // messages) plus its queue of 1024.
    let total = 30_000u64;
    let started = Instant::now();
    let publisher = async {
        for n in 0..total {
            mock.publish("btcusdt@trade", &trade_event("BTCUSDT", n));
            // Bursts of 16: the reading client keeps up within its queue.
            if n % 16 == 15 {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }
    };
    let read_all = async {
        let mut last = None;
        for _ in 0..total {
            let m = until_ws(&mut reader, "trade", None).await;
            let id: u64 = m["id"].as_str().expect("id").parse().expect("number");
            if let Some(prev) = last {
                assert_eq!(id, prev + 1, "the reading client misses nothing");
            }
            last = Some(id);
        }
    };
    tokio::join!(publisher, read_all);
    let fast = started.elapsed();
    let metrics = get(proxy.admin_url("/metrics")).await.text();
    let dropped: u64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix(r#"marketgate_stream_dropped_total{provider="binance"} "#))
        .and_then(|v| v.parse().ok())
        .expect("dropped counter");
    assert!(dropped > 0, "the stalled client lost messages: {metrics}");
    // Now the stalled client reads: what fit in its queue and the socket, a gap with the
    // count, then live messages again.
    let mut saw_gap = false;
    for _ in 0..(total as usize) {
        let m = next_of(&mut stalled).await;
        if m["event"] == "gap" {
            assert!(m["detail"].as_str().expect("detail").contains("dropped"), "{m}");
            saw_gap = true;
            break;
        }
    }
    assert!(saw_gap, "a gap event tells the slow client");
    eprintln!("{total} trades to a reading client beside a stalled one: {fast:?}");
    proxy.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rollover_loses_and_duplicates_no_trade() {
    let mock = StreamMock::start().await;
    let extra = "lifetime = \"1500ms\"\noverlap = \"500ms\"";
    let cfg = config(&mock.url, vec![shipped::NOWHERE.into()], extra)
        .replace("lifetime = \"23h\"\n", "")
        .replace("overlap = \"10s\"\n", "");
    let proxy = Proxy::start(&cfg).await;
    let mut ws = ws_client(&proxy, "symbols=BTC&channels=trades").await;
    until_ws(&mut ws, "status", Some("subscribed")).await;
    mock.wait_subscribed(&["btcusdt@trade"]).await;
    let total = 800u64;
    let publisher = async {
        let mut overlapped = 0;
        for n in 0..total {
            // Every connection carrying the stream sends the trade, as Binance does.
            if mock.publish("btcusdt@trade", &trade_event("BTCUSDT", n)) > 1 {
                overlapped += 1;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        overlapped
    };
    let reader = trades_without_gap(&mut ws, total);
    let (overlapped, ids) = tokio::join!(publisher, reader);
    assert_every_trade_once(&ids, total);
    assert!(mock.connections() >= 2, "the connection was replaced ({} handshakes)", mock.connections());
    assert!(overlapped > 0, "old and new connection overlapped");
    proxy.stop().await;
}

#[test]
fn stream_settings_are_checked_with_their_keys() {
    let env = crate::support::TestEnv::default();
    let bad_host = shipped::config(&[("binance.stream", vec!["https://stream.binance.com".into()])]);
    let err = marketgate::config::parse(&bad_host, "t.toml", &env).expect_err("refused").to_string();
    assert!(err.contains("providers.binance.stream.hosts[0]") && err.contains("ws://"), "{err}");
    let no_stream = shipped::config(&[]).replace("stream = [\"binance\", ", "stream = [\"coingecko\", ");
    let err = marketgate::config::parse(&no_stream, "t.toml", &env).expect_err("refused").to_string();
    assert!(err.contains("routes.\"/v1/stream\".stream") && err.contains("providers.coingecko.stream"), "{err}");
    let bad_fallback = shipped::config(&[]).replace("fallback = \"/v1/ticker\"", "fallback = \"/v1/price\"");
    let err = marketgate::config::parse(&bad_fallback, "t.toml", &env).expect_err("refused").to_string();
    assert!(err.contains("does not serve op ticker"), "{err}");
    let bad_jq = shipped::config(&[]).replace("ts: .T, id: (.t | tostring)}", "ts: .T, id: (.t | tostring)");
    let err = marketgate::config::parse(&bad_jq, "t.toml", &env).expect_err("refused").to_string();
    assert!(err.contains("providers.binance.stream.channels.trades.mapping"), "{err}");
}

#[tokio::test]
async fn a_bad_stream_request_is_a_400_that_names_the_parameter() {
    let proxy = Proxy::start(&shipped::config(&[])).await;
    for (query, param) in [
        ("", "symbols"),
        ("symbols=BTC&channels=books", "channels"),
        ("symbols=BTC&depth=5", "depth"),
        ("symbols=NOTACOIN", "NOTACOIN"),
    ] {
        let got = get(proxy.url(&format!("/v1/stream?{query}"))).await;
        assert_eq!(got.status, 400, "{query}: {}", got.text());
        assert!(got.text().contains(param), "{query}: {}", got.text());
    }
    proxy.stop().await;
}

/// A pair no provider lists (`vs=QQQ`) would subscribe without complaint and then stay
/// silent for ever: the join asks the REST fallback route first, and every provider of
/// the shipped ticker pool saying it does not list BTC/QQQ refuses the stream with 400
/// `unknown_symbol`, before any upgrade and before anything is subscribed. A listed
/// pair on the same proxy still streams.
#[tokio::test]
async fn a_pair_no_provider_lists_is_refused_before_it_subscribes() {
    let stream = StreamMock::start().await;
    let (proxy, _mocks) = shipped::with_rest_and_stream(&stream.url).await;

    let sse = tokio::time::timeout(Duration::from_secs(5), get(proxy.url("/v1/stream?symbols=BTC&vs=QQQ")))
        .await
        .expect("an answer, not a silent stream");
    assert_eq!((sse.status, sse.json()["error"]["code"].as_str()), (400, Some("unknown_symbol")), "{}", sse.text());
    assert!(sse.json()["error"]["message"].as_str().is_some_and(|m| m.contains("BTC/QQQ")), "{}", sse.text());
    let url = format!("ws://{}/v1/stream?symbols=ETH,BTC&vs=QQQ", proxy.addr);
    match tokio_tungstenite::connect_async(url.as_str()).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => assert_eq!(resp.status(), 400),
        other => panic!("the WebSocket upgrade should be refused: {:?}", other.map(|(_, r)| r.status())),
    }
    assert_eq!(stream.connections(), 0, "nothing was subscribed upstream");

    let mut listed = Sse::open(&proxy, "symbols=BTC&channels=trades").await;
    assert_eq!(listed.next().await["event"], "subscribed");
    stream.wait_subscribed(&["btcusdt@trade"]).await;
    drop(listed);
    proxy.stop().await;
}

/// On shutdown every stream client is told and closed cleanly, so it reconnects (to
/// another replica) at once: a WebSocket client gets a `closing` status and a close
/// frame with code 1001 (going away), an SSE client gets the `closing` status and the
/// end of its body. marketgate then stops without waiting out its grace period (the
/// shipped 10 s).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_tells_stream_clients_and_closes_them_cleanly() {
    use futures_util::StreamExt;
    use tokio_tungstenite::tungstenite::Message;
    use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

    let mock = StreamMock::start().await;
    let cfg = config(&mock.url, vec![shipped::NOWHERE.into()], "");
    assert!(cfg.contains("shutdown_grace = \"10s\""), "the shipped grace period");
    let mut proxy = Proxy::start(&cfg).await;
    let mut ws = ws_client(&proxy, "symbols=BTC&channels=trades").await;
    assert_eq!(ws_next(&mut ws).await["event"], "subscribed");
    let mut sse = Sse::open(&proxy, "symbols=BTC&channels=trades").await;
    assert_eq!(sse.next().await["event"], "subscribed");

    let stopping = proxy.begin_stop();
    let closing = ws_next(&mut ws).await;
    assert_eq!(
        (closing["channel"].as_str(), closing["event"].as_str()),
        (Some("status"), Some("closing")),
        "{closing}"
    );
    let frame = loop {
        match tokio::time::timeout(Duration::from_secs(5), ws.next()).await.expect("a close frame within 5 s") {
            Some(Ok(Message::Close(frame))) => break frame,
            Some(Ok(_)) => continue,
            other => panic!("the connection ended without a close frame: {other:?}"),
        }
    };
    assert_eq!(frame.map(|f| f.code), Some(CloseCode::Away), "1001: going away");

    assert_eq!(sse.next().await["event"], "closing");
    assert!(sse.ended_cleanly().await, "the SSE body ends, it is not cut");
    drop((ws, sse));
    tokio::time::timeout(Duration::from_secs(5), stopping)
        .await
        .expect("stopped well within the 10 s grace period: nothing left to wait for")
        .expect("the serving task");
}

/// One upstream stream, each client's own label: a `vs=USD` and a `vs=USDT` client on
/// BTC share `btcusdt@trade` and each reads the quote it asked for (both used to get the
/// first joiner's); `TON`, Toncoin's former ticker, streams GRAM's pair under the name
/// asked, beside a `GRAM` client on the same upstream stream (TON used to be refused).
#[tokio::test]
async fn each_client_gets_the_labels_it_asked_for() {
    let mock = StreamMock::start().await;
    let proxy = Proxy::start(&config(&mock.url, vec![shipped::NOWHERE.into()], "")).await;
    let mut usd = ws_client(&proxy, "symbols=BTC&channels=trades").await;
    let mut usdt = ws_client(&proxy, "symbols=BTC&channels=trades&vs=USDT").await;
    let mut ton = ws_client(&proxy, "symbols=TON&channels=trades").await;
    let mut gram = ws_client(&proxy, "symbols=GRAM&channels=trades").await;
    for ws in [&mut usd, &mut usdt, &mut ton, &mut gram] {
        until_ws(ws, "status", Some("subscribed")).await;
    }
    mock.wait_subscribed(&["btcusdt@trade", "gramusdt@trade"]).await;
    assert_eq!(mock.subscribed().iter().map(BTreeSet::len).sum::<usize>(), 2, "one upstream stream per pair");
    mock.publish("btcusdt@trade", &trade_event("BTCUSDT", 1));
    mock.publish("gramusdt@trade", &trade_event("GRAMUSDT", 2));
    let labels = |m: serde_json::Value| (m["symbol"].as_str().map(str::to_owned), m["vs"].as_str().map(str::to_owned));
    let want = |s: &str, v: &str| (Some(s.to_owned()), Some(v.to_owned()));
    assert_eq!(labels(until_ws(&mut usd, "trade", None).await), want("BTC", "USD"));
    assert_eq!(labels(until_ws(&mut usdt, "trade", None).await), want("BTC", "USDT"));
    assert_eq!(labels(until_ws(&mut ton, "trade", None).await), want("TON", "USD"));
    assert_eq!(labels(until_ws(&mut gram, "trade", None).await), want("GRAM", "USD"));
    proxy.stop().await;
}

/// Binance's `serverShutdown` notice, then the close 2 s later, on the shipped stream
/// settings (23 h lifetime): the notice ends the connection's lifetime, a replacement
/// overlaps it and takes over, and the client sees no gap and every trade once (it used
/// to get a gap and lose the trades of the reconnect).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_announced_restart_costs_no_gap_and_no_trade() {
    let mock = StreamMock::start().await;
    let proxy = Proxy::start(&config(&mock.url, vec![shipped::NOWHERE.into()], "")).await;
    let mut ws = ws_client(&proxy, "symbols=BTC&channels=trades").await;
    until_ws(&mut ws, "status", Some("subscribed")).await;
    mock.wait_subscribed(&["btcusdt@trade"]).await;
    let total = 700u64;
    let publisher = async {
        let mut announced = None;
        for n in 0..total {
            mock.publish("btcusdt@trade", &trade_event("BTCUSDT", n));
            if n == 100 {
                announced = mock.announce_shutdown().map(|id| (id, tokio::time::Instant::now()));
            }
            if let Some((id, at)) = announced
                && at.elapsed() >= Duration::from_secs(2)
            {
                mock.drop_conn(id);
                announced = None;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    };
    let reader = trades_without_gap(&mut ws, total);
    let ((), ids) = tokio::join!(publisher, reader);
    assert_every_trade_once(&ids, total);
    assert_eq!(mock.connections(), 2, "one replacement");
    assert_eq!(mock.open(), 1, "the announced connection is gone");
    proxy.stop().await;
}

/// The ids of the next `total` trades a client reads; a `gap` among them fails the test
/// (a planned replacement or an announced restart is no gap).
async fn trades_without_gap(ws: &mut crate::support::stream_client::Ws, total: u64) -> Vec<u64> {
    let mut ids = Vec::new();
    while ids.len() < total as usize {
        let m = ws_next(ws).await;
        if m["channel"] == "trade" {
            ids.push(m["id"].as_str().expect("id").parse::<u64>().expect("number"));
        } else {
            assert_ne!(m["event"], "gap", "no gap: {m}");
        }
    }
    ids
}

/// `ids` are the `total` trades published from `trade_event(_, 0)` on, each once.
fn assert_every_trade_once(ids: &[u64], total: u64) {
    let first = trade_event("BTCUSDT", 0)["t"].as_u64().expect("id");
    let mut sorted = ids.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(sorted.len(), ids.len(), "no trade twice");
    assert_eq!(sorted, (first..first + total).collect::<Vec<u64>>(), "no trade lost");
}
