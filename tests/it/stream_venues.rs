//! Streams where Binance refuses: on the shipped config, when Binance's stream hosts
//! answer 451 (as from the US), a client's trades come from the next exchange's
//! WebSocket in turn (Coinbase Exchange, then Kraken, then OKX), each spoken in its own
//! protocol, with the taker's side right for each venue; and back from Binance when it
//! returns. The venues' recorded frames are mapped by the shipped mappings.

use std::time::Duration;

use marketgate::config::model::stream::Channel;
use marketgate::normalize::jq::Globals;
use marketgate::stream::protocol::{Inbound, Protocol};

use crate::support::mock::{Mock, Reply};
use crate::support::stream_client::{until_ws, ws_client, ws_next};
use crate::support::stream_mock::{StreamMock, trade_event};
use crate::support::venue_mock::{Venue, VenueMock};
use crate::support::{Proxy, defaults, fixture, shipped};

/// The shipped config's stream of `provider`.
fn shipped_stream(provider: &str) -> std::sync::Arc<marketgate::config::model::stream::StreamConfig> {
    let cfg = marketgate::config::parse(marketgate::config::DEFAULT_CONFIG, "default", &defaults::keyed_env())
        .expect("the default config is valid");
    cfg.provider(provider).and_then(|p| p.stream.clone()).expect("a stream table")
}

/// Every trade in a recorded file of `dir`, read by `provider`'s protocol and mapped by
/// its shipped trades mapping: (the raw event, the mapped side).
fn mapped_trades(provider: &str, file: &str) -> Vec<(serde_json::Value, String)> {
    let cfg = shipped_stream(provider);
    let channel = &cfg.channels[&Channel::Trades];
    let globals = Globals { now: 1, ..Globals::default() };
    let mut out = Vec::new();
    for line in fixture(file).lines() {
        let Inbound::Data(events) = cfg.protocol.parse(line) else { continue };
        for e in events.into_iter().filter(|e| e.stream.starts_with(channel.name.split(':').next().unwrap_or(""))) {
            let (value, _) = Channel::Trades.map_event(channel, e.data.clone(), &globals, "X", "USD").expect("mapped");
            out.push((e.data, value["side"].as_str().unwrap_or_default().to_owned()));
        }
    }
    out
}

#[test]
fn each_venue_s_recorded_trades_map_to_the_taker_s_side() {
    // Coinbase's match names the maker's side: its ticker frame for the same trade id
    // names the taker's. Every recorded SKL-USD match maps to its ticker's side.
    let tickers: std::collections::HashMap<u64, String> = fixture("coinbase_ws/ticker_skl-usd_2021-04-17.jsonl")
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| Some((v["trade_id"].as_u64()?, v["side"].as_str()?.to_owned())))
        .collect();
    let matches = mapped_trades("coinbase", "coinbase_ws/matches_skl-usd_2021-04-17.jsonl");
    let checked = matches
        .iter()
        .filter_map(|(raw, side)| Some((tickers.get(&raw["trade_id"].as_u64()?)?, side)))
        .inspect(|(taker, side)| assert_eq!(taker, side, "the mapped side is the ticker's (taker's) side"))
        .count();
    assert!(checked >= 40, "{checked} matches were checked against their ticker");
    assert!(matches.iter().all(|(raw, side)| raw["side"] != side.as_str()), "the maker's side is turned over");

    // Kraken and OKX give the taker's side as it is.
    for (provider, file) in [
        ("kraken", "kraken_ws/v2_ticker_trade_btc-usd_2026-09-04.jsonl"),
        ("okx", "okx_ws/trades_btc-usdt_2025-02-24.jsonl"),
    ] {
        let trades = mapped_trades(provider, file);
        assert!(!trades.is_empty(), "{provider}: no trade read");
        for (raw, side) in &trades {
            assert_eq!(raw["side"], side.as_str(), "{provider}");
        }
    }
}

#[test]
fn each_venue_s_recorded_tickers_and_trade_times_map() {
    let globals = Globals { now: 1, ..Globals::default() };
    let cases = [
        ("coinbase", "coinbase_ws/ticker_match_btc-usd_2026-09-04.jsonl", 81228.94, 1_788_481_262_905),
        ("kraken", "kraken_ws/v2_ticker_trade_btc-usd_2026-09-04.jsonl", 81205.1, 1_788_481_280_217),
        ("okx", "okx_ws/tickers_btc-usdt_2026-06-14.json", 64312.9, 1_781_414_919_074),
    ];
    for (provider, file, last, ts) in cases {
        let cfg = shipped_stream(provider);
        let channel = &cfg.channels[&Channel::Ticker];
        let prefix = channel.name.split(':').next().unwrap_or("").to_owned() + ":";
        let event = fixture(file)
            .lines()
            .filter_map(|l| match cfg.protocol.parse(l) {
                Inbound::Data(e) => e.into_iter().find(|e| e.stream.starts_with(&prefix)),
                _ => None,
            })
            .next()
            .unwrap_or_else(|| panic!("{provider}: a ticker in {file}"));
        let (v, _) = Channel::Ticker.map_event(channel, event.data, &globals, "BTC", "USD").expect("mapped");
        assert_eq!((v["last"].as_f64(), v["ts"].as_i64()), (Some(last), Some(ts)), "{provider}: {v}");
        assert!(v["change_pct"].as_f64().is_some(), "{provider}: {v}");
    }
    // A trade's time keeps its milliseconds.
    let trades = mapped_trades("coinbase", "coinbase_ws/ticker_match_btc-usd_2026-09-04.jsonl");
    assert!(!trades.is_empty());
    let cfg = shipped_stream("coinbase");
    let (raw, _) = &trades[0];
    let (v, _) = Channel::Trades
        .map_event(&cfg.channels[&Channel::Trades], raw.clone(), &globals, "BTC", "USD")
        .expect("mapped");
    assert_eq!(v["ts"], 1_788_481_263_878_i64, "2026-09-04T00:21:03.878125Z");
    assert_eq!(Protocol::Coinbase, cfg.protocol);
}

/// An HTTP host that answers every request, the WebSocket handshake included, with
/// Binance's recorded 451 (restricted location).
async fn refused_451() -> Mock {
    Mock::start(|_| Reply::Json(451, fixture("binance/error_451_restricted_location.json"))).await
}

/// The shipped config: REST providers replaying their recorded bodies, the given
/// stream hosts, the other stream hosts nowhere.
async fn proxy_with_streams(streams: &[(&'static str, Vec<String>)]) -> (Proxy, Vec<shipped::ProviderMocks>) {
    let mut mocks = Vec::new();
    let mut hosts: Vec<(&str, Vec<String>)> = Vec::new();
    for name in ["binance", "okx", "coinbase", "kraken", "coingecko", "coinpaprika", "coincap", "cryptocompare"] {
        let m = shipped::provider(name, None).await;
        hosts.push((name, m.hosts.clone()));
        mocks.push(m);
    }
    for (table, urls) in streams {
        hosts.push((table, urls.clone()));
    }
    let proxy = Proxy::start_with(&shipped::config(&hosts), defaults::keyed_env(), None, Default::default()).await;
    (proxy, mocks)
}

/// Reads messages until a trade; returns it and the status events seen before it.
async fn next_trade(ws: &mut crate::support::stream_client::Ws) -> (serde_json::Value, Vec<serde_json::Value>) {
    let mut statuses = Vec::new();
    loop {
        let m = ws_next(ws).await;
        if m["channel"] == "trade" {
            return (m, statuses);
        }
        statuses.push(m);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binance_refused_451_trades_come_from_coinbase_with_the_taker_side_then_from_binance_again() {
    let refused = refused_451().await;
    let coinbase = VenueMock::start(Venue::Coinbase).await;
    // Binance's second stream host: nothing listens yet (a port kept free for later).
    let (later, later_addr) = crate::support::mock::reserved_port();
    let binance_hosts = vec![format!("ws://{}", refused.addr), format!("ws://{later_addr}")];
    let (proxy, _mocks) =
        proxy_with_streams(&[("binance.stream", binance_hosts), ("coinbase.stream", vec![coinbase.url.clone()])]).await;

    let mut ws = ws_client(&proxy, "symbols=BTC&channels=trades").await;
    until_ws(&mut ws, "status", Some("subscribed")).await;
    let started = tokio::time::Instant::now();
    coinbase.wait_subscribed("matches:BTC-USD").await;
    assert!(started.elapsed() < Duration::from_secs(6), "Coinbase took over after {:?}", started.elapsed());

    // A recorded BTC-USD match: the maker sold, so the taker bought.
    let recorded = fixture("coinbase_ws/ticker_match_btc-usd_2026-09-04.jsonl");
    let frame = recorded.lines().find(|l| l.contains(r#""type":"match""#)).expect("a recorded match");
    assert!(frame.contains(r#""side":"sell""#));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    let (trade, statuses) = loop {
        coinbase.publish("matches:BTC-USD", frame);
        if let Ok(got) = tokio::time::timeout(Duration::from_millis(300), next_trade(&mut ws)).await {
            break got;
        }
        assert!(tokio::time::Instant::now() < deadline, "no trade relayed from Coinbase");
    };
    assert_eq!(trade["provider"], "coinbase");
    assert_eq!((trade["symbol"].as_str(), trade["vs"].as_str()), (Some("BTC"), Some("USD")));
    assert_eq!(trade["side"], "buy", "Coinbase's match side is the maker's");
    assert_eq!(trade["price"], 81222.94);
    let fallback = statuses.iter().find(|s| s["event"] == "fallback").expect("a fallback status");
    assert!(fallback["detail"].as_str().unwrap_or_default().contains("coinbase"), "{fallback}");
    let admin = crate::support::get(proxy.admin_url("/api/system/streams")).await.json();
    let binance = admin["providers"].as_array().into_iter().flatten().find(|s| s["provider"] == "binance").cloned();
    assert_eq!(binance.as_ref().map(|b| b["relay"].clone()), Some(serde_json::json!("coinbase")), "{admin}");

    // Binance's second host comes up: the stream resumes there and Coinbase is let go.
    let listener = later.listen(128).expect("listen on the kept port");
    let binance = StreamMock::serve_on(listener);
    until_ws(&mut ws, "status", Some("resumed")).await;
    binance.wait_subscribed(&["btcusdt@trade"]).await;
    binance.publish("btcusdt@trade", &trade_event("BTCUSDT", 1));
    let (trade, _) = next_trade(&mut ws).await;
    assert_eq!(trade["provider"], "binance");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while coinbase.carries("matches:BTC-USD") {
        assert!(tokio::time::Instant::now() < deadline, "Coinbase's stream was never let go");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    proxy.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_binance_and_coinbase_refused_kraken_then_okx_carry_the_trades() {
    for (venue, stream, file) in [
        (Venue::Kraken, "trade:BTC/USD", "kraken_ws/v2_ticker_trade_btc-usd_2026-09-04.jsonl"),
        (Venue::Okx, "trades:BTC-USDT", "okx_ws/trades_btc-usdt_2025-02-24.jsonl"),
    ] {
        let refused = refused_451().await;
        let mock = VenueMock::start(venue).await;
        let refused_url = vec![format!("ws://{}", refused.addr)];
        let mut streams = vec![("binance.stream", refused_url.clone()), ("coinbase.stream", refused_url.clone())];
        match venue {
            Venue::Kraken => streams.push(("kraken.stream", vec![mock.url.clone()])),
            _ => {
                streams.push(("kraken.stream", refused_url.clone()));
                streams.push(("okx.stream", vec![mock.url.clone()]));
            }
        }
        let (proxy, _mocks) = proxy_with_streams(&streams).await;
        let mut ws = ws_client(&proxy, "symbols=BTC&channels=trades").await;
        mock.wait_subscribed(stream).await;
        let recorded = fixture(file);
        let frame =
            recorded.lines().find(|l| l.contains(r#""side":"#) && l.contains("trade")).expect("a recorded trade");
        let raw: serde_json::Value = serde_json::from_str(frame).expect("json");
        let side = raw["data"][0]["side"].as_str().expect("side").to_owned();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        let (trade, _) = loop {
            mock.publish(stream, frame);
            if let Ok(got) = tokio::time::timeout(Duration::from_millis(300), next_trade(&mut ws)).await {
                break got;
            }
            assert!(tokio::time::Instant::now() < deadline, "{venue:?}: no trade relayed");
        };
        let provider = if venue == Venue::Kraken { "kraken" } else { "okx" };
        assert_eq!(trade["provider"], provider);
        assert_eq!(trade["side"], side.as_str(), "{venue:?} gives the taker's side");
        assert_eq!((trade["symbol"].as_str(), trade["vs"].as_str()), (Some("BTC"), Some("USD")));
        if venue == Venue::Okx {
            // OKX cuts a connection that pushed nothing for 30 s unless pinged; the
            // first ping goes after 20 s, beyond this test: the request shape is checked.
            assert!(
                mock.requests().iter().all(|r| r["op"] == "subscribe" && r["id"].is_string()),
                "{:?}",
                mock.requests()
            );
        }
        proxy.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_that_sends_only_garbage_counts_as_down() {
    let stream = std::sync::Arc::new(StreamMock::start().await);
    // The shipped config with a 2 s silence bound on Binance's stream (60 s shipped).
    let text = shipped::config(&[("binance.stream", vec![stream.url.clone()])])
        .replace("[providers.binance.stream]\n", "[providers.binance.stream]\nsilence = \"2s\"\n");
    let proxy = Proxy::start_with(&text, defaults::keyed_env(), None, Default::default()).await;
    let mut ws = ws_client(&proxy, "symbols=BTC&channels=trades").await;
    until_ws(&mut ws, "status", Some("subscribed")).await;
    stream.wait_subscribed(&["btcusdt@trade"]).await;
    // The admin view is refreshed before anything goes upstream: the venue has the
    // subscription, so the view has the topic. (It once read the report from before
    // the client joined: refreshed only after the connection was started, the view
    // trailed whenever the driver's thread was held up in between.)
    let admin = crate::support::get(proxy.admin_url("/api/system/streams")).await.json();
    assert_eq!(admin["providers"][0]["topics"][0]["stream"], "btcusdt@trade", "{admin}");
    // Its state says `up` once the driver has seen the handshake: that may trail.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let admin = crate::support::get(proxy.admin_url("/api/system/streams")).await.json();
        if admin["providers"][0]["state"] == "up" {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "the stream never showed up in the admin view: {admin}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Frames keep coming, so the connection is never quiet, but none can be read.
    let garbage = tokio::spawn({
        let frames = ["{\"stream\":\"btcusdt@trade\",\"data\":{\"p\":\"not a price\"}}", "<html>503</html>"];
        let s = std::sync::Arc::clone(&stream);
        async move {
            for i in 0..60 {
                s.publish_raw("btcusdt@trade", frames[i % 2]);
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    });
    let gap = tokio::time::timeout(Duration::from_secs(6), until_ws(&mut ws, "status", Some("gap")))
        .await
        .expect("the garbage stream is given up within its silence bound");
    assert!(gap["detail"].as_str().unwrap_or_default().contains("nothing readable"), "{gap}");
    garbage.abort();
    proxy.stop().await;
}

/// Binance refused, Coinbase carries BTC for one client; a second client asks for ETH.
/// The relay to Coinbase now asks for both, and the new relay joins before the old one
/// lets go: Coinbase's connection stays open and BTC subscribed throughout. (Before,
/// the old relay left first, Coinbase's driver was left without a client and closed its
/// connection, and the new relay opened another: a gap for every relayed stream, and
/// one more connection attempt spent, each time a client came or went.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_client_during_a_relay_keeps_the_next_venue_s_connection() {
    let refused = refused_451().await;
    let coinbase = VenueMock::start(Venue::Coinbase).await;
    let (proxy, _mocks) = proxy_with_streams(&[
        ("binance.stream", vec![format!("ws://{}", refused.addr)]),
        ("coinbase.stream", vec![coinbase.url.clone()]),
    ])
    .await;
    let mut btc = ws_client(&proxy, "symbols=BTC&channels=trades").await;
    until_ws(&mut btc, "status", Some("subscribed")).await;
    coinbase.wait_subscribed("matches:BTC-USD").await;
    let recorded = fixture("coinbase_ws/ticker_match_btc-usd_2026-09-04.jsonl");
    let frame = recorded.lines().find(|l| l.contains(r#""type":"match""#)).expect("a recorded match");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while tokio::time::timeout(Duration::from_millis(300), next_trade(&mut btc)).await.is_err() {
        coinbase.publish("matches:BTC-USD", frame);
        assert!(tokio::time::Instant::now() < deadline, "no trade relayed from Coinbase");
    }
    assert_eq!(coinbase.connections(), 1);

    let mut eth = ws_client(&proxy, "symbols=ETH&channels=trades").await;
    until_ws(&mut eth, "status", Some("subscribed")).await;
    coinbase.wait_subscribed("matches:ETH-USD").await;
    // The old relay lets go once the new one has joined: one relay client is left.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let admin = crate::support::get(proxy.admin_url("/api/system/streams")).await.json();
        if admin["clients"]["relay"] == 1 {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "the replaced relay never let go: {admin}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(coinbase.carries("matches:BTC-USD"), "BTC stayed subscribed: {:?}", coinbase.requests());
    assert_eq!(coinbase.connections(), 1, "Coinbase's connection was kept: {:?}", coinbase.requests());
    // BTC trades still reach the first client, once each (a new trade id: Coinbase's
    // driver drops a repeated one).
    while tokio::time::timeout(Duration::from_millis(300), ws_next(&mut btc)).await.is_ok() {}
    let mut next: serde_json::Value = serde_json::from_str(frame).expect("json");
    next["trade_id"] = serde_json::json!(next["trade_id"].as_u64().unwrap_or(0) + 1000);
    coinbase.publish("matches:BTC-USD", &next.to_string());
    let (trade, _) = tokio::time::timeout(Duration::from_secs(5), next_trade(&mut btc)).await.expect("a BTC trade");
    assert_eq!(trade["provider"], "coinbase");
    let again = tokio::time::timeout(Duration::from_millis(300), next_trade(&mut btc)).await;
    assert!(again.is_err(), "one trade arrived twice: {again:?}");
    proxy.stop().await;
}
