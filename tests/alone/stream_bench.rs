//! The live-stream fan-out benchmark (`bench/stream.sh`; ignored in the test run): one
//! mock combined-stream upstream, many WebSocket clients through marketgate.

use std::time::Duration;

use crate::support::stream_client::{until_ws, ws_next};
use crate::support::stream_mock::{StreamMock, trade_event};
use crate::support::{Proxy, shipped};
use tokio::time::Instant;

/// The fan-out benchmark (`bench/stream.sh`; ignored in the test run): `clients`
/// WebSocket clients on one symbol, `messages` trades published upstream; prints the
/// delivered messages per second and the resident memory per connected client.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: run with bench/stream.sh"]
async fn bench_fanout() {
    let clients: usize = std::env::var("FANOUT_CLIENTS").ok().and_then(|v| v.parse().ok()).unwrap_or(500);
    let messages: u64 = std::env::var("FANOUT_MESSAGES").ok().and_then(|v| v.parse().ok()).unwrap_or(2_000);
    let mock = StreamMock::start().await;
    let proxy = Proxy::start(&shipped::config(&[
        ("binance.stream", vec![mock.url.clone()]),
        ("binance", vec![shipped::NOWHERE.into()]),
    ]))
    .await;
    let rss = || -> u64 {
        let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
            .unwrap_or(0)
    };
    // The test's clients read with a 4 KiB buffer (tungstenite allocates 128 KiB by
    // default), so the memory figure is mostly marketgate's side.
    let small = || {
        let url = format!("ws://{}/v1/stream?symbols=BTC&channels=trades", proxy.addr);
        let config = tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default().read_buffer_size(4 << 10);
        async move { tokio_tungstenite::connect_async_with_config(url, Some(config), true).await.expect("handshake").0 }
    };
    let mut ws = small().await;
    until_ws(&mut ws, "status", Some("subscribed")).await;
    mock.wait_subscribed(&["btcusdt@trade"]).await;
    let before = rss();
    let mut all = vec![ws];
    for _ in 1..clients {
        let mut c = small().await;
        until_ws(&mut c, "status", Some("subscribed")).await;
        all.push(c);
    }
    let per_client_kib = (rss().saturating_sub(before)) as f64 / (clients - 1) as f64;
    let started = Instant::now();
    let readers: Vec<_> = all
        .into_iter()
        .map(|mut c| {
            tokio::spawn(async move {
                let mut n = 0;
                while n < messages {
                    if ws_next(&mut c).await["channel"] == "trade" {
                        n += 1;
                    }
                }
            })
        })
        .collect();
    for n in 0..messages {
        mock.publish("btcusdt@trade", &trade_event("BTCUSDT", n));
        if n % 100 == 99 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
    for r in readers {
        r.await.expect("reader");
    }
    let secs = started.elapsed().as_secs_f64();
    let delivered = clients as f64 * messages as f64;
    println!(
        "fan-out: {clients} clients x {messages} trades = {delivered} messages in {secs:.2} s: {:.0} messages/s out, {:.0} in; \
         RSS per client {per_client_kib:.1} KiB (both ends: the test clients run in this process)",
        delivered / secs,
        messages as f64 / secs
    );
    proxy.stop().await;
}
