//! WebSocket through marketgate: a fronted app's WebSocket endpoint (and a provider's,
//! through `/raw`) works both ways, closing either side closes the other, a silent
//! tunnel is closed after `server.idle_timeout`, and a tunnel keeps its connection's
//! place under `server.max_connections`. (Before: the upgrade headers were stripped as
//! hop-by-hop and the app answered 404 to a plain GET.)

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use crate::support::{Proxy, until};
use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::Message;

/// A WebSocket echo app on 127.0.0.1: echoes every message, closes the connection when
/// it receives "bye", and counts connections that ended. It answers Binance's health
/// probe (`GET /api/v3/ping`) as Binance does, so that the shipped config, whose probes
/// start with the proxy, finds its host healthy rather than racing the test's upgrade.
struct EchoApp {
    url: String,
    ended: Arc<AtomicUsize>,
}

async fn echo_app() -> EchoApp {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let ended = Arc::new(AtomicUsize::new(0));
    let count = Arc::clone(&ended);
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let count = Arc::clone(&count);
            tokio::spawn(async move {
                let mut head = [0u8; 32];
                let n = stream.peek(&mut head).await.unwrap_or(0);
                if head[..n].starts_with(b"GET /api/v3/ping ") {
                    let pong = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{}";
                    let _ = tokio::io::AsyncWriteExt::write_all(&mut stream, pong).await;
                    return;
                }
                if let Ok(mut ws) = tokio_tungstenite::accept_async(stream).await {
                    while let Some(Ok(msg)) = ws.next().await {
                        match msg {
                            Message::Text(t) if t.as_str() == "bye" => {
                                let _ = ws.close(None).await;
                                break;
                            }
                            Message::Text(_) | Message::Binary(_) if ws.send(msg.clone()).await.is_err() => break,
                            Message::Close(_) => break,
                            _ => {}
                        }
                    }
                }
                count.fetch_add(1, Ordering::SeqCst);
            });
        }
    });
    EchoApp { url, ended }
}

/// Whether a new connection to `addr` is closed without an answer to its request.
async fn closed_unanswered(addr: std::net::SocketAddr) -> bool {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let Ok(mut s) = tokio::net::TcpStream::connect(addr).await else { return true };
    let _ = s.write_all(b"GET /x HTTP/1.1\r\nhost: x\r\n\r\n").await;
    let mut buf = [0u8; 64];
    match tokio::time::timeout(Duration::from_secs(2), s.read(&mut buf)).await {
        Ok(Ok(0)) | Ok(Err(_)) => true,
        Ok(Ok(_)) | Err(_) => false,
    }
}

fn config(app: &str, extra_server: &str) -> String {
    format!(
        "[server]\n{extra_server}\n[app]\nupstream = \"{app}\"\n[providers.p]\nhosts = [\"{app}\"]\n\
         [routes]\n\"/raw/{{provider}}/{{*path}}\" = {{ passthrough = \"*\" }}\n"
    )
}

/// Echo both ways through the fronted app and through /raw, text and binary; the client
/// closing ends the app's side, the app closing ends the client's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fronted_apps_websocket_works_both_ways_through_marketgate() {
    let app = echo_app().await;
    let proxy = Proxy::start(&config(&app.url, "")).await;
    for path in ["/ws/echo", "/raw/p/ws/echo"] {
        let (mut ws, resp) = tokio_tungstenite::connect_async(format!("ws://{}{path}", proxy.addr))
            .await
            .expect("upgrade through marketgate");
        assert_eq!(resp.status(), 101, "{path}");
        ws.send(Message::text("hello")).await.expect("send");
        assert_eq!(ws.next().await.and_then(Result::ok), Some(Message::text("hello")), "{path}");
        ws.send(Message::binary(vec![0u8, 1, 2, 255])).await.expect("send");
        assert_eq!(ws.next().await.and_then(Result::ok), Some(Message::binary(vec![0u8, 1, 2, 255])));
        // The client closes: the app's side ends.
        let before = app.ended.load(Ordering::SeqCst);
        ws.close(None).await.expect("close");
        until("the app sees the close", Duration::from_secs(2), || app.ended.load(Ordering::SeqCst) > before).await;
    }
    // The app closes: the client's side ends.
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{}/ws", proxy.addr)).await.expect("upgrade");
    ws.send(Message::text("bye")).await.expect("send");
    let closed = tokio::time::timeout(Duration::from_secs(2), async {
        while let Some(Ok(m)) = ws.next().await {
            if m.is_close() {
                return true;
            }
        }
        true
    })
    .await;
    assert_eq!(closed, Ok(true), "the client sees the app close");
    drop(ws);
    proxy.stop().await;
}

/// A tunnel where nothing moves is closed after `server.idle_timeout`, and while it
/// lives it holds its connection's place under `max_connections`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tunnels_keep_the_idle_timeout_and_the_connection_limit() {
    let app = echo_app().await;
    let proxy = Proxy::start(&config(&app.url, "idle_timeout = \"1s\"\nmax_connections = 1")).await;
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{}/ws", proxy.addr)).await.expect("upgrade");
    ws.send(Message::text("hi")).await.expect("send");
    assert_eq!(ws.next().await.and_then(Result::ok), Some(Message::text("hi")));
    // The only slot is the tunnel's: a second connection is closed unanswered.
    assert!(closed_unanswered(proxy.addr).await, "a second connection got an answer");
    // Silent for longer than the idle timeout: closed.
    let started = tokio::time::Instant::now();
    let end = tokio::time::timeout(Duration::from_secs(3), ws.next()).await.expect("closed within 3 s");
    assert!(end.is_none() || end.is_some_and(|m| m.is_err() || m.is_ok_and(|m| m.is_close())), "closed");
    assert!(started.elapsed() >= Duration::from_millis(800), "not before the idle timeout");
    until("the app's side ends", Duration::from_secs(2), || app.ended.load(Ordering::SeqCst) >= 1).await;
    // The slot is free again.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{}/ws", proxy.addr)).await.expect("slot freed");
    ws.send(Message::text("again")).await.expect("send");
    assert_eq!(ws.next().await.and_then(Result::ok), Some(Message::text("again")));
    proxy.stop().await;
}

/// On shutdown an open tunnel keeps working until its client closes it, within
/// `server.shutdown_grace`: the drain waits for it as for any open connection. (Before,
/// the drain forgot a connection once it was upgraded and the tunnel was cut.) On the
/// shipped config: its raw route, with Binance's hosts moved to the echo app.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_waits_for_open_tunnels_within_the_grace_period() {
    let app = echo_app().await;
    let mut proxy = Proxy::start(&crate::support::shipped::config(&[("binance", vec![app.url.clone()])])).await;
    let url = format!("ws://{}/raw/binance/ws/echo", proxy.addr);
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await.expect("upgrade");
    let mut stopping = proxy.begin_stop();
    assert!(
        tokio::time::timeout(Duration::from_millis(500), &mut stopping).await.is_err(),
        "marketgate stopped with a tunnel still open"
    );
    ws.send(Message::text("still there?")).await.expect("send during the drain");
    assert_eq!(ws.next().await.and_then(Result::ok), Some(Message::text("still there?")), "the tunnel still works");
    // The client closes, as a client does: close frame, the app's reply, then the TCP
    // connection.
    ws.close(None).await.expect("close");
    while let Some(Ok(_)) = ws.next().await {}
    drop(ws);
    tokio::time::timeout(Duration::from_secs(5), stopping)
        .await
        .expect("marketgate stops once the last tunnel is closed")
        .expect("the serving task");
}

/// A tunnel still open when the grace period ends does not hold the process: it is
/// closed and marketgate stops.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tunnel_open_past_the_grace_period_is_closed() {
    let app = echo_app().await;
    let mut proxy = Proxy::start(&config(&app.url, "shutdown_grace = \"1s\"")).await;
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{}/ws/echo", proxy.addr)).await.expect("upgrade");
    tokio::time::timeout(Duration::from_secs(5), proxy.begin_stop())
        .await
        .expect("stopped after the grace period")
        .expect("the serving task");
    let ended = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match ws.next().await {
                Some(Ok(m)) if !m.is_close() => continue,
                _ => return,
            }
        }
    })
    .await;
    assert!(ended.is_ok(), "the tunnel was closed");
}
