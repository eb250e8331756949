//! Hardening: not an open proxy, bounded resources (slowloris, oversized heads and
//! targets, bodies both ways, slow drips, connection limits), TLS termination with a
//! certificate picked up on reload, and panics contained to one request.

use std::sync::Arc;
use std::time::Duration;

use crate::support::{Mock, Proxy, Reply, TestEnv, get, send};
use bytes::Bytes;
use http::Method;
use marketgate::RunOptions;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;

const PRICES: &str = r#"[{"symbol":"BTCUSDT","price":"18229.90000000"}]"#;

fn config(host: &str, server: &str) -> String {
    format!(
        r#"
[server]
{server}
[defaults]
attempt_timeout = "600ms"
[assets]
BTC = {{ name = "Bitcoin" }}
[providers.p]
hosts = ["{host}"]
symbols = {{ format = "{{BASE}}{{QUOTE}}", quote = {{ USD = "USDT" }} }}
[providers.p.ops.price]
request = {{ path = "/api/v3/ticker/price" }}
response = 'map(select(.symbol | in($symbol_of)) | {{symbol: $symbol_of[.symbol], vs: $vs, price: (.price | tonumber), ts: $now}})'
[routes]
"/v1/price" = {{ op = "price", pool = [["p"]] }}
"/raw/{{provider}}/{{*path}}" = {{ passthrough = "*" }}
"#
    )
}

/// Sends raw bytes and returns what comes back before the server closes (bounded).
async fn raw_exchange(addr: std::net::SocketAddr, request: &[u8]) -> String {
    let mut s = TcpStream::connect(addr).await.expect("connect");
    s.write_all(request).await.expect("write");
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut buf)).await;
    String::from_utf8_lossy(&buf).into_owned()
}

#[tokio::test]
async fn marketgate_is_not_an_open_proxy() {
    let p = Mock::fixed(200, PRICES).await;
    let proxy = Proxy::start(&config(&p.url(), "")).await;
    let absolute =
        raw_exchange(proxy.addr, b"GET http://example.com/ HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n")
            .await;
    assert!(absolute.starts_with("HTTP/1.1 400"), "{absolute}");
    assert!(absolute.contains("not an open proxy"));
    let connect = raw_exchange(proxy.addr, b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n").await;
    assert!(connect.starts_with("HTTP/1.1 400"), "{connect}");
    for path in ["/raw/p/../admin", "/raw/p/a/%2e%2e/%2e%2e/x", "/raw/p/a%2Fb", "/raw/p/a%5c..%5cb"] {
        let req = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        let got = raw_exchange(proxy.addr, req.as_bytes()).await;
        assert!(got.starts_with("HTTP/1.1 400"), "{path}: {got}");
    }
    let unknown = get(proxy.url("/raw/example.com/x")).await;
    assert_eq!(unknown.status, 404);
    assert_eq!(unknown.json()["error"]["code"], "unknown_provider");
    assert!(p.seen().is_empty(), "nothing reached the provider");
    let ok = get(proxy.url("/raw/p/api/v3/ticker/price?symbol=BTCUSDT")).await;
    assert_eq!(ok.status, 200);
    assert_eq!(p.seen()[0].path_and_query, "/api/v3/ticker/price?symbol=BTCUSDT");
    proxy.stop().await;
}

/// Clients that drip a request head, as fast as hyper's buffers are released (every
/// 100 ms) or slower, are cut off after `header_read_timeout` all the same.
#[tokio::test]
async fn slowloris_is_cut_off_while_others_are_served() {
    let p = Mock::fixed(200, PRICES).await;
    let proxy = Proxy::start(&config(&p.url(), r#"header_read_timeout = "500ms""#)).await;
    let addr = proxy.addr;
    let drip = |every_ms: u64| {
        tokio::spawn(async move {
            let mut s = TcpStream::connect(addr).await.expect("connect");
            s.set_nodelay(true).expect("nodelay");
            let started = Instant::now();
            s.write_all(b"GET /raw/p/x HTTP/1.1\r\nHost: x\r\n").await.expect("write");
            for _ in 0..40 {
                tokio::time::sleep(Duration::from_millis(every_ms)).await;
                if s.write_all(b"X-Drip: 1\r\n").await.is_err() {
                    break;
                }
            }
            let mut buf = [0u8; 512];
            let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf))
                .await
                .ok()
                .and_then(Result::ok)
                .unwrap_or(0);
            (every_ms, started.elapsed(), String::from_utf8_lossy(&buf[..n]).into_owned())
        })
    };
    let drips = [drip(100), drip(250)];
    for _ in 0..5 {
        assert_eq!(get(proxy.url("/raw/p/api/v3/ticker/price")).await.status, 200, "others are served meanwhile");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for slow in drips {
        let (every_ms, took, answer) = slow.await.expect("join");
        assert!(
            took < Duration::from_secs(3),
            "the client dripping every {every_ms} ms was cut off after the header timeout: {took:?} {answer}"
        );
        assert!(answer.is_empty() || answer.starts_with("HTTP/1.1 408"), "{answer}");
    }
    proxy.stop().await;
}

/// A head that arrived in two parts (a pause longer than the idle release) is not held
/// against the requests that follow it: a keep-alive client sending request after
/// request for longer than the header timeout is served to the end.
#[tokio::test]
async fn a_split_first_head_does_not_cut_the_connection_later() {
    let p = Mock::fixed(200, PRICES).await;
    let proxy = Proxy::start(&config(&p.url(), r#"header_read_timeout = "500ms""#)).await;
    let mut s = TcpStream::connect(proxy.addr).await.expect("connect");
    s.set_nodelay(true).expect("nodelay");
    s.write_all(b"GET /raw/p/api/v3/ticker/price HTTP/1.1\r\n").await.expect("write");
    tokio::time::sleep(Duration::from_millis(250)).await;
    s.write_all(b"Host: x\r\n\r\n").await.expect("write");
    let mut answered = 0;
    let started = Instant::now();
    while started.elapsed() < Duration::from_millis(1500) {
        let mut buf = vec![0u8; 4096];
        let n =
            tokio::time::timeout(Duration::from_secs(2), s.read(&mut buf)).await.ok().and_then(Result::ok).unwrap_or(0);
        assert!(n > 0, "connection closed after {answered} answers, {:?} in", started.elapsed());
        assert!(
            String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"),
            "{}",
            String::from_utf8_lossy(&buf[..n])
        );
        answered += 1;
        // Back to back (under the 100 ms idle release): the connection is never released
        // between these requests, so only the deadline's own rule can clear it.
        tokio::time::sleep(Duration::from_millis(40)).await;
        s.write_all(b"GET /raw/p/api/v3/ticker/price HTTP/1.1\r\nHost: x\r\n\r\n").await.expect("write");
    }
    assert!(answered >= 10, "{answered}");
    proxy.stop().await;
}

#[tokio::test]
async fn oversized_heads_targets_and_bodies_get_clear_answers() {
    let p = Mock::start(|s| Reply::Json(200, format!("{{\"got\":{}}}", s.body.len()))).await;
    let proxy = Proxy::start(&config(
        &p.url(),
        r#"max_header_size = "8KiB"
max_uri_length = "2KiB"
max_request_body = "64KiB""#,
    ))
    .await;
    let big_header = "a".repeat(20 * 1024);
    let got =
        raw_exchange(proxy.addr, format!("GET /raw/p/x HTTP/1.1\r\nHost: x\r\nX-Big: {big_header}\r\n\r\n").as_bytes())
            .await;
    assert!(got.starts_with("HTTP/1.1 431"), "oversized header: {}", &got[..got.len().min(100)]);
    let long = format!("/raw/p/{}", "b".repeat(3000));
    let r = get(proxy.url(&long)).await;
    assert_eq!(r.status, 414);
    assert_eq!(r.json()["error"]["code"], "uri_too_long");
    let r = send(Method::POST, &proxy.url("/raw/p/upload"), &[], Bytes::from(vec![b'z'; 100 * 1024])).await;
    assert_eq!(r.status, 413, "{}", r.text());
    assert_eq!(r.json()["error"]["code"], "payload_too_large");
    let r = send(Method::POST, &proxy.url("/raw/p/upload"), &[], Bytes::from(vec![b'z'; 1000])).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["got"], 1000);
    assert_eq!(get(proxy.url("/raw/p/api/v3/ticker/price")).await.status, 200, "still serving");
    proxy.stop().await;
}

#[tokio::test]
async fn a_100_mb_upstream_body_is_refused_without_buffering_it() {
    let huge = Mock::start(|_| Reply::Stream {
        total: 100 * 1024 * 1024,
        chunk: 256 * 1024,
        gate_after: usize::MAX,
        gate: None,
    })
    .await;
    let proxy = Proxy::start(&config(&huge.url(), r#"max_upstream_body = "1MiB""#)).await;
    let started = Instant::now();
    let r = get(proxy.url("/v1/price?symbols=BTC")).await;
    assert_eq!(r.status, 502, "{}", r.text());
    let v = r.json();
    assert_eq!(v["error"]["code"], "upstream_body_too_large");
    assert!(v["error"]["attempts"][0]["detail"].as_str().unwrap_or_default().contains("max_upstream_body"));
    assert!(started.elapsed() < Duration::from_secs(3), "refused early, not after reading 100 MB");
    proxy.stop().await;
}

#[tokio::test]
async fn a_slow_drip_upstream_hits_the_attempt_timeout() {
    let drip = Mock::start(|_| Reply::Drip {
        chunk: Bytes::from_static(b" "),
        every: Duration::from_millis(100),
        total: 10_000,
    })
    .await;
    let proxy = Proxy::start(&config(&drip.url(), "")).await;
    let started = Instant::now();
    let r = get(proxy.url("/v1/price?symbols=BTC")).await;
    let took = started.elapsed();
    assert!(r.status == 502 || r.status == 504, "{}", r.text());
    assert_eq!(r.json()["error"]["attempts"][0]["outcome"], "timeout");
    assert!(took < Duration::from_secs(2), "bounded by the 600 ms attempt timeout: {took:?}");
    proxy.stop().await;
}

#[tokio::test]
async fn connections_beyond_the_limit_are_refused() {
    let p = Mock::fixed(200, PRICES).await;
    let proxy = Proxy::start(&config(&p.url(), "max_connections = 2")).await;
    let _a = TcpStream::connect(proxy.addr).await.expect("first");
    let _b = TcpStream::connect(proxy.addr).await.expect("second");
    tokio::time::sleep(Duration::from_millis(100)).await;
    let got = raw_exchange(proxy.addr, b"GET /raw/p/x HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert!(got.is_empty(), "the third connection is closed: {got}");
    drop((_a, _b));
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(get(proxy.url("/raw/p/api/v3/ticker/price")).await.status, 200, "served again once a slot frees up");
    let metrics = get(proxy.admin_url("/metrics")).await.text();
    assert!(metrics.contains("marketgate_connections_rejected_total 1"), "{metrics}");
    proxy.stop().await;
}

/// An HTTP/2 connection that made one request and then went silent (it stays open as
/// long as the returned sender lives).
async fn silent_h2_client(
    addr: std::net::SocketAddr,
) -> (hyper::client::conn::http2::SendRequest<http_body_util::Empty<Bytes>>, tokio::task::JoinHandle<()>) {
    let io = hyper_util::rt::TokioIo::new(TcpStream::connect(addr).await.expect("connect"));
    let (mut sender, conn) =
        hyper::client::conn::http2::handshake(hyper_util::rt::TokioExecutor::new(), io).await.expect("h2 handshake");
    let task = tokio::spawn(async move {
        let _ = conn.await;
    });
    let req = http::Request::get(format!("http://{addr}/raw/p/api/v3/ticker/price"))
        .body(http_body_util::Empty::<Bytes>::new())
        .expect("request");
    let resp = sender.send_request(req).await.expect("h2 response");
    assert_eq!(resp.status(), 200);
    (sender, task)
}

#[tokio::test(start_paused = true)]
async fn silent_http2_clients_do_not_hold_connection_slots() {
    let p = Mock::fixed(200, PRICES).await;
    let proxy = Proxy::start(&config(&p.url(), "max_connections = 2\nidle_timeout = \"1s\"")).await;
    let (_keep_first, first) = silent_h2_client(proxy.addr).await;
    let (_keep_second, second) = silent_h2_client(proxy.addr).await;
    let got = raw_exchange(proxy.addr, b"GET /raw/p/x HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert!(got.is_empty(), "both slots are taken while the clients are connected: {got}");
    // Idle means quiet for a whole idle_timeout: closed between one and two of them.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert!(first.is_finished() && second.is_finished(), "marketgate closed both idle h2 connections");
    assert_eq!(get(proxy.url("/raw/p/api/v3/ticker/price")).await.status, 200, "the slots are free again");
    proxy.stop().await;
}

/// Reads one HTTP/1.1 response with a content-length body from `s`.
async fn read_response(s: &mut TcpStream) -> String {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let text = String::from_utf8_lossy(&buf).into_owned();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let len = head
                .lines()
                .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().to_owned()))
                .and_then(|v| v.parse::<usize>().ok())
                .unwrap_or(0);
            if body.len() >= len {
                return text;
            }
        }
        let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut chunk)).await.expect("answer").expect("read");
        assert!(n > 0, "connection closed: {}", String::from_utf8_lossy(&buf));
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// A keep-alive connection gives hyper's buffers back while it waits (quiet for more
/// than 100 ms), and serves the next request, a head sent in pieces, or two pipelined
/// requests, as before. (Real clock: virtual time would outrun loopback delivery.)
#[tokio::test]
async fn keep_alive_connections_keep_working_across_quiet_periods() {
    let p = Mock::fixed(200, PRICES).await;
    let proxy = Proxy::start(&config(&p.url(), "")).await;
    let mut s = TcpStream::connect(proxy.addr).await.expect("connect");
    s.set_nodelay(true).expect("nodelay");
    let request = b"GET /raw/p/api/v3/ticker/price HTTP/1.1\r\nHost: x\r\n\r\n";
    for pause_ms in [0, 300, 600] {
        tokio::time::sleep(Duration::from_millis(pause_ms)).await;
        s.write_all(request).await.expect("write");
        let got = read_response(&mut s).await;
        assert!(got.starts_with("HTTP/1.1 200") && got.ends_with(PRICES), "after {pause_ms} ms: {got}");
    }
    // A head that arrives in two pieces, quiet in between, is one request.
    let (start, end) = request.split_at(20);
    s.write_all(start).await.expect("first half");
    tokio::time::sleep(Duration::from_millis(400)).await;
    s.write_all(end).await.expect("second half");
    let got = read_response(&mut s).await;
    assert!(got.starts_with("HTTP/1.1 200") && got.ends_with(PRICES), "a split head: {got}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    s.write_all(&[&request[..], &request[..]].concat()).await.expect("pipelined");
    let first = read_response(&mut s).await;
    assert!(first.starts_with("HTTP/1.1 200"), "{first}");
    let rest = first.split_once(PRICES).map(|(_, r)| r.to_owned()).unwrap_or_default();
    let second = if rest.contains(PRICES) { rest } else { read_response(&mut s).await };
    assert!(second.contains("HTTP/1.1 200") && second.ends_with(PRICES), "the pipelined request: {second}");
    proxy.stop().await;
}

#[tokio::test]
async fn a_panicking_handler_answers_500_and_the_server_lives_on() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let metrics = marketgate::metrics::Metrics::new().expect("metrics");
    let limits = marketgate::server::ConnLimits {
        header_read_timeout: Duration::from_secs(5),
        idle_timeout: Duration::from_secs(60),
        max_header_size: 16 * 1024,
        max_connections: 16,
        shutdown_grace: Duration::from_secs(1),
    };
    let handler = |req: http::Request<hyper::body::Incoming>, _peer| async move {
        assert!(req.uri().path() != "/boom", "a bug in a handler");
        http::Response::new(marketgate::body::full(Bytes::from_static(b"fine")))
    };
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(marketgate::server::serve(
        listener,
        limits,
        Arc::new(tokio::sync::Semaphore::new(16)),
        Arc::default(),
        metrics.clone(),
        handler,
        async {
            let _ = rx.await;
        },
    ));
    let boom = get(format!("http://{addr}/boom")).await;
    assert_eq!(boom.status, 500);
    assert_eq!(boom.json()["error"]["code"], "internal");
    let fine = get(format!("http://{addr}/fine")).await;
    assert_eq!((fine.status, fine.text().as_str()), (200, "fine"));
    assert_eq!(metrics.panics.get(), 1);
    let _ = tx.send(());
    let _ = server.await;
}

#[tokio::test]
async fn tls_termination_serves_and_picks_up_a_new_certificate_on_reload() {
    let p = Mock::fixed(200, PRICES).await;
    let first = crate::support::tls::TestPki::new("term1");
    let second = crate::support::tls::TestPki::new("term2");
    let dir = std::env::temp_dir().join(format!("marketgate-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::copy(first.cert_path(), &cert).expect("cert");
    std::fs::copy(first.key_path(), &key).expect("key");
    let text = config(
        &p.url(),
        &format!("tls = {{ cert = {:?}, key = {:?} }}", cert.display().to_string(), key.display().to_string()),
    );
    let path = dir.join("marketgate.toml");
    std::fs::write(&path, &text).expect("config");
    let proxy = Proxy::start_with(&text, TestEnv::default(), Some(path), RunOptions::default()).await;
    let url = format!("https://localhost:{}/raw/p/api/v3/ticker/price", proxy.addr.port());
    assert_eq!(tls_get(&url, &first.ca_path()).await, Ok(200));
    assert!(tls_get(&url, &second.ca_path()).await.is_err(), "not yet the second certificate");
    let plain = raw_exchange(proxy.addr, b"GET /raw/p/x HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert!(!plain.starts_with("HTTP/1.1 200"), "plain HTTP is not served on a TLS listener");
    std::fs::copy(second.cert_path(), &cert).expect("cert");
    std::fs::copy(second.key_path(), &key).expect("key");
    let r = send(Method::POST, &proxy.admin_url("/admin/reload"), &[], Bytes::new()).await;
    assert_eq!(r.json()["result"], "ok", "{}", r.text());
    assert_eq!(tls_get(&url, &second.ca_path()).await, Ok(200), "new connections get the new certificate");
    proxy.stop().await;
}

async fn tls_get(url: &str, ca: &std::path::Path) -> Result<u16, String> {
    let tls = marketgate::tls::client_config(Some(ca)).map_err(|e| e.to_string())?;
    let connector = hyper_rustls::HttpsConnectorBuilder::new().with_tls_config(tls).https_only().enable_http1().build();
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build::<_, http_body_util::Empty<Bytes>>(connector);
    let resp = client.get(url.parse().map_err(|e| format!("{e}"))?).await.map_err(|e| format!("{e:?}"))?;
    Ok(resp.status().as_u16())
}
