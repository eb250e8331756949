//! The lean HTTP/1.1 upstream path on the wire: an upstream written byte by byte (a
//! raw TCP server on 127.0.0.1) sends what hyper-based mocks cannot: chunked bodies
//! dripped in pieces, bodies delimited by the close, interim 1xx heads, keep-alive
//! connections closed as the next request arrives, truncated bodies and broken heads.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::support::{Mock, Proxy, TwoTier, fixture, get, send, two_tier};

/// What the upstream does with one request.
#[derive(Clone)]
enum Act {
    /// Writes these pieces, 20 ms apart, and waits for the next request.
    Write(Vec<Vec<u8>>),
    /// Writes this and closes.
    WriteClose(Vec<u8>),
    /// Closes without a byte.
    Close,
}

type Script = Arc<dyn Fn(usize, usize, &str) -> Act + Send + Sync>;

/// A scripted upstream: `script(connection, request on it, request head)` decides.
struct Wire {
    addr: std::net::SocketAddr,
    connections: Arc<AtomicUsize>,
    requests: Arc<AtomicUsize>,
}

impl Wire {
    async fn start(script: impl Fn(usize, usize, &str) -> Act + Send + Sync + 'static) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (connections, requests) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let script: Script = Arc::new(script);
        let (c, r) = (Arc::clone(&connections), Arc::clone(&requests));
        tokio::spawn(async move {
            while let Ok((sock, _)) = listener.accept().await {
                let conn = c.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(serve(sock, conn, Arc::clone(&script), Arc::clone(&r)));
            }
        });
        Self { addr, connections, requests }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}

async fn serve(mut sock: TcpStream, conn: usize, script: Script, requests: Arc<AtomicUsize>) {
    let mut buf = Vec::new();
    for nth in 0.. {
        let head = loop {
            if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&buf[..end]).into_owned();
                buf.drain(..end + 4);
                break head;
            }
            let mut chunk = [0u8; 4096];
            match sock.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        };
        requests.fetch_add(1, Ordering::SeqCst);
        match script(conn, nth, &head) {
            Act::Write(pieces) => {
                for (i, piece) in pieces.iter().enumerate() {
                    if i > 0 {
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                    if sock.write_all(piece).await.is_err() {
                        return;
                    }
                }
            }
            Act::WriteClose(bytes) => {
                let _ = sock.write_all(&bytes).await;
                return;
            }
            Act::Close => return,
        }
    }
}

fn with_length(status: &str, body: &str, extra: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 {status}\r\ncontent-type: application/json\r\n{extra}content-length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

fn chunked_pieces(body: &str) -> Vec<Vec<u8>> {
    let mut pieces = vec![b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n".to_vec()];
    for part in body.as_bytes().chunks(97) {
        let wire = format!("{:x}\r\n{}\r\n", part.len(), String::from_utf8_lossy(part)).into_bytes();
        // Each chunk arrives in two pieces, split inside its size line or data.
        let (a, b) = wire.split_at(wire.len() / 2);
        pieces.push(a.to_vec());
        pieces.push(b.to_vec());
    }
    pieces.push(b"0\r\nx-trailer: 1\r\n\r\n".to_vec());
    pieces
}

async fn setup(a: &Wire) -> (Proxy, Mock) {
    let b = Mock::fixed(200, &fixture("binance/ticker_price_list.json")).await;
    let cfg = two_tier(&TwoTier {
        a: &[a.url()],
        b: &[b.url()],
        breaker_failures: 50,
        route_extra: "",
        a_extra: "",
        extra: "",
    });
    (Proxy::start(&cfg).await, b)
}

#[tokio::test]
async fn sequential_requests_share_one_upstream_connection() {
    let body = fixture("binance/ticker_price_single.json");
    let wire = Wire::start(move |_, _, _| Act::Write(vec![with_length("200 OK", &body, "")])).await;
    let (proxy, _b) = setup(&wire).await;
    for _ in 0..20 {
        let got = get(proxy.url("/raw/a/api/v3/ticker/price?symbol=BTCUSDT")).await;
        assert_eq!(got.status, 200, "{}", got.text());
        assert_eq!(got.json()["symbol"], "BTCUSDT");
    }
    assert_eq!(wire.requests.load(Ordering::SeqCst), 20);
    assert_eq!(wire.connections(), 1, "one kept-alive connection carried all 20 requests");
}

#[tokio::test]
async fn chunked_and_close_delimited_bodies_arrive_whole() {
    let list = fixture("binance/ticker_price_list.json");
    let (chunked, closing) = (chunked_pieces(&list), format!("HTTP/1.0 200 OK\r\n\r\n{list}").into_bytes());
    let wire = Wire::start(move |_, _, head| {
        if head.contains("/chunked") { Act::Write(chunked.clone()) } else { Act::WriteClose(closing.clone()) }
    })
    .await;
    let (proxy, _b) = setup(&wire).await;
    let expected: serde_json::Value = serde_json::from_str(&fixture("binance/ticker_price_list.json")).expect("json");
    for path in ["/raw/a/chunked", "/raw/a/closing", "/raw/a/chunked"] {
        let got = get(proxy.url(path)).await;
        assert_eq!(got.status, 200, "{path}");
        assert_eq!(got.json(), expected, "{path}");
    }
    // The normalized route reads the same chunked body through its mapping.
    let price = get(proxy.url("/v1/price?symbols=BTC")).await;
    assert_eq!(price.json()["meta"]["provider"], "a", "{}", price.text());
}

#[tokio::test]
async fn interim_heads_are_skipped_and_head_or_204_leave_the_connection_usable() {
    let body = fixture("binance/ticker_price_single.json");
    let wire = Wire::start(move |_, _, head| {
        if head.starts_with("HEAD") {
            // The length of the body a GET would get, and no body.
            return Act::Write(vec![format!("HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n", body.len()).into_bytes()]);
        }
        if head.contains("/nothing") {
            return Act::Write(vec![b"HTTP/1.1 204 No Content\r\n\r\n".to_vec()]);
        }
        let mut early = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nlink: </x>\r\n\r\n".to_vec();
        early.extend(with_length("200 OK", &body, ""));
        Act::Write(vec![early])
    })
    .await;
    let (proxy, _b) = setup(&wire).await;
    let url = proxy.url("/raw/a/api/v3/ticker/price?symbol=BTCUSDT");
    let head = send(http::Method::HEAD, &url, &[], Bytes::new()).await;
    assert_eq!((head.status, head.body.len()), (200, 0));
    let none = get(proxy.url("/raw/a/nothing")).await;
    assert_eq!((none.status, none.body.len()), (204, 0));
    let got = get(&url).await;
    assert_eq!(got.status, 200);
    assert_eq!(got.json()["symbol"], "BTCUSDT", "the final response, not an interim one");
    assert_eq!(wire.connections(), 1, "HEAD and 204 bodies were framed right, so the connection went on");
}

#[tokio::test]
async fn a_kept_connection_the_upstream_drops_is_replaced_without_a_failure() {
    let body = fixture("binance/ticker_price_single.json");
    // Every connection answers one request, then drops the next one unanswered: the
    // race of an upstream closing an idle connection as a request goes out.
    let wire = Wire::start(
        move |_, nth, _| if nth == 0 { Act::Write(vec![with_length("200 OK", &body, "")]) } else { Act::Close },
    )
    .await;
    let (proxy, _b) = setup(&wire).await;
    for i in 0..4 {
        let got = get(proxy.url("/raw/a/api/v3/ticker/price?symbol=BTCUSDT")).await;
        assert_eq!(got.status, 200, "request {i}: {}", got.text());
        assert_eq!(got.header("x-marketgate-provider").as_deref(), Some("a"));
    }
    assert_eq!(wire.connections(), 4, "each dropped request was sent again on a new connection");
}

#[tokio::test]
async fn a_connection_the_upstream_closes_is_not_kept() {
    let body = fixture("binance/ticker_price_single.json");
    let wire =
        Wire::start(move |_, _, _| Act::Write(vec![with_length("200 OK", &body, "connection: close\r\n")])).await;
    let (proxy, _b) = setup(&wire).await;
    for _ in 0..3 {
        assert_eq!(get(proxy.url("/raw/a/x")).await.status, 200);
    }
    assert_eq!(wire.connections(), 3);
}

#[tokio::test]
async fn broken_heads_and_bodies_count_against_the_host_and_the_next_tier_answers() {
    let list = fixture("binance/ticker_price_list.json");
    let cut = {
        let mut w = format!("HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n", list.len()).into_bytes();
        w.extend_from_slice(&list.as_bytes()[..list.len() / 2]);
        w
    };
    let wire = Wire::start(move |conn, _, _| match conn % 4 {
        0 => Act::WriteClose(b"HELLO THERE\r\n\r\n".to_vec()),
        1 => Act::WriteClose(b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\ncontent-length: 7\r\n\r\n".to_vec()),
        2 => Act::WriteClose(cut.clone()),
        _ => Act::WriteClose(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n".to_vec()),
    })
    .await;
    let (proxy, _b) = setup(&wire).await;
    for i in 0..4 {
        let got = get(proxy.url("/v1/price?symbols=BTC")).await;
        assert_eq!(got.status, 200, "case {i}: {}", got.text());
        assert_eq!(got.json()["meta"]["provider"], "b", "case {i}: {}", got.text());
    }
    // Through the raw passthrough, the broken heads are 502s, and the two bodies that
    // break after a good head (cut short, malformed chunk) are broken responses (the
    // client's connection is cut before or after the head), never a short 200 the
    // client would take for the whole answer.
    let client: Client<_, Empty<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    let mut broken = 0;
    for i in 0..4 {
        let req = http::Request::get(proxy.url("/raw/a/x")).body(Empty::new()).expect("request");
        let resp = match tokio::time::timeout(Duration::from_secs(5), client.request(req)).await.expect("answers") {
            Err(_) => {
                broken += 1;
                continue;
            }
            Ok(resp) => resp,
        };
        let status = resp.status();
        let whole = tokio::time::timeout(Duration::from_secs(5), resp.into_body().collect()).await.expect("ends");
        match (status.as_u16(), whole) {
            (502, Ok(_)) => {}
            (200, Err(_)) => broken += 1,
            (status, body) => panic!("request {i}: HTTP {status}, body {:?}", body.map(|b| b.to_bytes())),
        }
    }
    assert_eq!(broken, 2, "the cut and the malformed body reached the client as broken responses");
}
