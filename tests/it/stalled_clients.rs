//! A client that stops reading its response is cut once nothing has moved for
//! `server.idle_timeout` (nginx's `send_timeout`), so it cannot hold a connection slot
//! and an upstream transfer for ever; a client that reads slowly keeps its transfer. The
//! shipped default (60 s) is checked on the paused clock.

use std::time::Duration;

use crate::support::{Mock, Proxy, Reply, shipped};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A raw passthrough to `host` with a one-second idle timeout.
fn config(host: &str) -> String {
    format!(
        r#"
[server]
idle_timeout = "1s"
[providers.p]
hosts = ["{host}"]
[routes]
"/raw/{{provider}}/{{*path}}" = {{ passthrough = "*" }}
"#
    )
}

async fn big_upstream(total: usize) -> Mock {
    Mock::start(move |_| Reply::Stream { total, chunk: 64 << 10, gate_after: usize::MAX, gate: None }).await
}

async fn ask(proxy: &Proxy) -> TcpStream {
    ask_for(proxy, "/raw/p/big").await
}

async fn ask_for(proxy: &Proxy, path: &str) -> TcpStream {
    let mut s = TcpStream::connect(proxy.addr).await.expect("connect");
    s.write_all(format!("GET {path} HTTP/1.1\r\nhost: marketgate\r\n\r\n").as_bytes()).await.expect("write");
    s
}

/// Reads until the connection ends (or `within` passes): the bytes read, and whether
/// it ended.
async fn drain(client: &mut TcpStream, within: Duration) -> (usize, bool) {
    let mut got = 0;
    let mut buf = vec![0u8; 64 << 10];
    let ended = tokio::time::timeout(within, async {
        while let Ok(n @ 1..) = client.read(&mut buf).await {
            got += n;
        }
    })
    .await
    .is_ok();
    (got, ended)
}

#[tokio::test]
async fn a_client_that_stops_reading_is_cut_after_idle_timeout() {
    let total = 64 << 20;
    let upstream = big_upstream(total).await;
    let proxy = Proxy::start(&config(&upstream.url())).await;
    let mut client = ask(&proxy).await;
    // Reads nothing for 3 s: the socket buffers fill and marketgate's writes wait.
    tokio::time::sleep(Duration::from_secs(3)).await;
    // Then reads what is there: what was buffered before the cut, then the end.
    let (got, ended) = drain(&mut client, Duration::from_secs(10)).await;
    assert!(ended, "marketgate kept the stalled connection open ({got} bytes read so far)");
    assert!(got < total, "the connection was cut before the whole body went out ({got} of {total} bytes)");
    // The listener still serves.
    let mut next = ask(&proxy).await;
    let mut head = [0u8; 12];
    next.read_exact(&mut head).await.expect("a response");
    assert_eq!(&head, b"HTTP/1.1 200");
    proxy.stop().await;
}

#[tokio::test]
async fn a_client_that_reads_slowly_gets_the_whole_body() {
    let total = 3 << 20;
    let upstream = big_upstream(total).await;
    let proxy = Proxy::start(&config(&upstream.url())).await;
    let mut client = ask(&proxy).await;
    let mut got = 0;
    let mut buf = vec![0u8; 256 << 10];
    // 256 KiB every 300 ms: slower than marketgate writes, but never a whole second
    // without a byte moving.
    let done = tokio::time::timeout(Duration::from_secs(30), async {
        while got < total {
            tokio::time::sleep(Duration::from_millis(300)).await;
            match client.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => got += n,
            }
        }
    })
    .await;
    assert!(done.is_ok(), "bounded");
    assert!(got >= total, "the slow reader got {got} bytes of a {total}-byte body (plus its head)");
    proxy.stop().await;
}

/// The shipped default (`idle_timeout` 60 s), on its raw Binance route, on the paused
/// clock: a client that stops reading a large answer is cut within two minutes.
#[tokio::test(start_paused = true)]
async fn the_shipped_config_cuts_a_client_that_stops_reading() {
    let total = 64 << 20;
    let binance = Mock::start(move |s| {
        if s.path_and_query.starts_with("/api/v3/klines") {
            Reply::Stream { total, chunk: 64 << 10, gate_after: usize::MAX, gate: None }
        } else {
            Reply::Json(200, "{}".into())
        }
    })
    .await;
    let proxy = Proxy::start(&shipped::config(&[("binance", vec![binance.url()])])).await;
    let mut client = ask_for(&proxy, "/raw/binance/api/v3/klines?symbol=BTCUSDT&interval=1m").await;
    tokio::time::sleep(Duration::from_secs(150)).await;
    let (got, ended) = drain(&mut client, Duration::from_secs(10)).await;
    assert!(ended, "the stalled connection is still open ({got} bytes read so far)");
    assert!(got < total, "the connection was cut before the whole body went out ({got} of {total} bytes)");
    proxy.stop().await;
}
