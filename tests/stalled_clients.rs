//! A client that stops reading its response is cut once nothing has moved for
//! `server.idle_timeout` (nginx's `send_timeout`), so it cannot hold a connection slot
//! and an upstream transfer for ever; a client that reads slowly keeps its transfer.

mod support;

use std::time::Duration;

use support::{Mock, Proxy, Reply};
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
    let mut s = TcpStream::connect(proxy.addr).await.expect("connect");
    s.write_all(b"GET /raw/p/big HTTP/1.1\r\nhost: marketgate\r\n\r\n").await.expect("write");
    s
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
    let mut got = 0;
    let mut buf = vec![0u8; 64 << 10];
    let ended = tokio::time::timeout(Duration::from_secs(10), async {
        while let Ok(n @ 1..) = client.read(&mut buf).await {
            got += n;
        }
    })
    .await
    .is_ok();
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
