//! The client side on the wire: a raw TCP client sends what HTTP libraries smooth over:
//! bodiless requests, bodies and HTTP/1.0 on one connection, all of them pipelined in
//! one write, HEAD, `Connection: close`, a malformed head after good ones, a hangup
//! while the upstream hangs, and a streamed body followed by another request.

use std::time::Duration;

use crate::support::{Mock, Proxy, Reply};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const PRICES: &str = r#"[{"symbol":"BTCUSDT","price":"18229.90000000"}]"#;
const GET: &[u8] = b"GET /raw/p/api/v3/ticker/price HTTP/1.1\r\nHost: x\r\n\r\n";

fn config(host: &str) -> String {
    format!(
        r#"
[defaults]
attempt_timeout = "10s"
[providers.p]
hosts = ["{host}"]
[routes]
"/raw/{{provider}}/{{*path}}" = {{ passthrough = "*" }}
"#
    )
}

/// marketgate in front of `upstream`, and a raw connection to it.
async fn started(upstream: &Mock) -> (Proxy, TcpStream) {
    let proxy = Proxy::start(&config(&upstream.url())).await;
    let s = TcpStream::connect(proxy.addr).await.expect("connect");
    (proxy, s)
}

/// One response from `s`: its head (lower-cased) and its body, read by the head's
/// framing (content-length or chunked). `head_only`: a response to HEAD.
async fn response(s: &mut TcpStream, pending: &mut Vec<u8>, head_only: bool) -> (String, Vec<u8>) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        if let Some(end) = pending.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&pending[..end]).to_ascii_lowercase();
            let rest = &pending[end + 4..];
            let length = head.lines().find_map(|l| l.strip_prefix("content-length: ")).and_then(|v| v.parse().ok());
            let body = if head_only {
                Some((Vec::new(), 0))
            } else if head.contains("transfer-encoding: chunked") {
                dechunk(rest)
            } else {
                let n = length.unwrap_or(0);
                (rest.len() >= n).then(|| (rest[..n].to_vec(), n))
            };
            if let Some((body, used)) = body {
                pending.drain(..end + 4 + used);
                return (head, body);
            }
        }
        let mut chunk = [0u8; 4096];
        let n = tokio::time::timeout_at(deadline, s.read(&mut chunk)).await.expect("an answer").expect("read");
        assert!(n > 0, "closed mid-response: {}", String::from_utf8_lossy(pending));
        pending.extend_from_slice(&chunk[..n]);
    }
}

/// A complete chunked body at the start of `wire`: its bytes and how many were used.
fn dechunk(wire: &[u8]) -> Option<(Vec<u8>, usize)> {
    let (mut body, mut at) = (Vec::new(), 0);
    loop {
        let line_end = at + wire[at..].windows(2).position(|w| w == b"\r\n")?;
        let size = usize::from_str_radix(std::str::from_utf8(&wire[at..line_end]).ok()?, 16).ok()?;
        at = line_end + 2;
        if size == 0 {
            return (wire.len() >= at + 2).then_some((body, at + 2));
        }
        if wire.len() < at + size + 2 {
            return None;
        }
        body.extend_from_slice(&wire[at..at + size]);
        at += size + 2;
    }
}

#[tokio::test]
async fn plain_requests_bodies_and_old_versions_share_one_connection() {
    let p = Mock::start(|seen| {
        let body = if seen.body.is_empty() { PRICES.to_owned() } else { String::from_utf8_lossy(&seen.body).into() };
        Reply::Json(200, body)
    })
    .await;
    let (proxy, mut s) = started(&p).await;
    let mut pending = Vec::new();
    // Lean, then hyper (a body), then lean again, then hyper (HTTP/1.0 keep-alive),
    // each on the same connection, written one after the other.
    let post = b"POST /raw/p/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\n{\"a\":\"b c\"}";
    let old = b"GET /raw/p/api/v3/ticker/price HTTP/1.0\r\nConnection: keep-alive\r\n\r\n";
    let steps: [&[u8]; 5] = [GET, post, GET, old, GET];
    for (step, wire) in steps.into_iter().enumerate() {
        s.write_all(wire).await.expect("write");
        let (head, body) = response(&mut s, &mut pending, false).await;
        assert!(head.starts_with("http/1.1 200") || head.starts_with("http/1.0 200"), "step {step}: {head}");
        let want: &[u8] = if step == 1 { br#"{"a":"b c"}"# } else { PRICES.as_bytes() };
        assert_eq!(body, want, "step {step}");
        assert!(head.contains("\r\ndate: "), "step {step}: every answer is dated: {head}");
    }
    assert_eq!(p.hits(), 5);
    assert_eq!(p.seen()[1].body.as_ref(), br#"{"a":"b c"}"#, "the body reached the upstream");
    // All five pipelined in one write are answered in order.
    let all = steps.concat();
    s.write_all(&all).await.expect("pipelined");
    for step in 0..5 {
        let (head, body) = response(&mut s, &mut pending, false).await;
        assert!(head.contains(" 200 "), "pipelined {step}: {head}");
        let want: &[u8] = if step == 1 { br#"{"a":"b c"}"# } else { PRICES.as_bytes() };
        assert_eq!(body, want, "pipelined {step}");
    }
    proxy.stop().await;
}

#[tokio::test]
async fn head_gets_the_length_without_a_body_and_close_is_honoured() {
    let p = Mock::fixed(200, PRICES).await;
    let (proxy, mut s) = started(&p).await;
    let mut pending = Vec::new();
    s.write_all(b"HEAD /raw/p/api/v3/ticker/price HTTP/1.1\r\nHost: x\r\n\r\n").await.expect("head");
    let (head, _) = response(&mut s, &mut pending, true).await;
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert!(head.contains(&format!("content-length: {}", PRICES.len())), "{head}");
    // Nothing of a body follows: the next answer starts right after the head.
    s.write_all(b"GET /raw/p/api/v3/ticker/price HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await.expect("get");
    let (head, body) = response(&mut s, &mut pending, false).await;
    assert!(head.starts_with("http/1.1 200"), "the HEAD left no body behind: {head}");
    assert_eq!(body, PRICES.as_bytes());
    assert!(head.contains("connection: close"), "{head}");
    let mut rest = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut rest)).await;
    assert!(matches!(closed, Ok(Ok(0))), "the server closes after `Connection: close`: {closed:?} {rest:?}");
    proxy.stop().await;
}

#[tokio::test]
async fn a_malformed_head_after_good_requests_gets_a_400() {
    let p = Mock::fixed(200, PRICES).await;
    let (proxy, mut s) = started(&p).await;
    let mut pending = Vec::new();
    s.write_all(GET).await.expect("write");
    let (head, _) = response(&mut s, &mut pending, false).await;
    assert!(head.starts_with("http/1.1 200"), "{head}");
    s.write_all(b"GET /raw/p/x HTTP/1.1\r\nBad Header: 1\r\n\r\n").await.expect("write");
    let (head, _) = response(&mut s, &mut pending, false).await;
    assert!(head.starts_with("http/1.1 400"), "{head}");
    proxy.stop().await;
}

#[tokio::test]
async fn a_client_that_hangs_up_cancels_its_request_upstream_at_once() {
    // An upstream that reads the request, never answers, and reports when marketgate
    // closes the connection (the request given up).
    let upstream = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = upstream.local_addr().expect("addr");
    let (seen_tx, seen) = tokio::sync::oneshot::channel();
    let (closed_tx, closed) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        let Ok((mut sock, _)) = upstream.accept().await else { return };
        let mut buf = [0u8; 4096];
        let _ = sock.read(&mut buf).await;
        let _ = seen_tx.send(());
        while matches!(sock.read(&mut buf).await, Ok(n) if n > 0) {}
        let _ = closed_tx.send(tokio::time::Instant::now());
    });
    let proxy = Proxy::start(&config(&format!("http://{addr}"))).await;
    let mut s = TcpStream::connect(proxy.addr).await.expect("connect");
    s.write_all(GET).await.expect("write");
    tokio::time::timeout(Duration::from_secs(5), seen).await.expect("the upstream got the request").expect("seen");
    drop(s);
    let hung_up = tokio::time::Instant::now();
    // The attempt would wait 10 s (attempt_timeout) for the upstream.
    let closed_at = tokio::time::timeout(Duration::from_secs(3), closed)
        .await
        .expect("the upstream request is given up within 3 s of the hangup")
        .expect("closed");
    assert!(closed_at.duration_since(hung_up) < Duration::from_secs(3));
    proxy.stop().await;
}

#[tokio::test]
async fn a_streamed_body_arrives_whole_and_the_connection_stays_usable() {
    let p = Mock::start(|_| Reply::Stream { total: 100_000, chunk: 7_000, gate_after: usize::MAX, gate: None }).await;
    let (proxy, mut s) = started(&p).await;
    let mut pending = Vec::new();
    for _ in 0..2 {
        s.write_all(GET).await.expect("write");
        let (head, body) = response(&mut s, &mut pending, false).await;
        assert!(head.starts_with("http/1.1 200"), "{head}");
        assert_eq!(body.len(), 100_000, "the whole body, and the connection is usable after it");
    }
    proxy.stop().await;
}
