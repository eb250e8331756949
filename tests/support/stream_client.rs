//! Clients of marketgate's `/v1/stream`: a WebSocket client and a Server-Sent Events
//! reader, each returning the next message as JSON (bounded by 10 s).

use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use http_body_util::BodyExt;
use tokio_tungstenite::tungstenite::Message;

use super::Proxy;

pub type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

pub async fn next_of<S>(ws: &mut tokio_tungstenite::WebSocketStream<S>) -> serde_json::Value
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .expect("a message within 10 s")
            .expect("stream open")
            .expect("frame");
        if let Message::Text(t) = msg {
            return serde_json::from_str(t.as_str()).expect("JSON message");
        }
    }
}

pub async fn ws_client(proxy: &Proxy, query: &str) -> Ws {
    let url = format!("ws://{}/v1/stream?{query}", proxy.addr);
    let (ws, resp) = tokio_tungstenite::connect_async(url.as_str()).await.expect("websocket handshake");
    assert_eq!(resp.status(), 101);
    ws
}

pub async fn ws_next(ws: &mut Ws) -> serde_json::Value {
    next_of(ws).await
}

/// A Server-Sent Events reader on marketgate's client listener.
pub struct Sse {
    body: hyper::body::Incoming,
    buf: Vec<u8>,
}

impl Sse {
    pub async fn open(proxy: &Proxy, query: &str) -> Self {
        let tcp = tokio::net::TcpStream::connect(proxy.addr).await.expect("connect");
        let (mut sender, conn) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tcp)).await.expect("handshake");
        tokio::spawn(conn);
        let req = http::Request::get(format!("/v1/stream?{query}"))
            .header("host", "marketgate")
            .body(http_body_util::Empty::<Bytes>::new())
            .expect("request");
        let resp = sender.send_request(req).await.expect("response");
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.headers()["content-type"], "text/event-stream");
        tokio::spawn(async move {
            let _keep = sender;
            std::future::pending::<()>().await
        });
        Self { body: resp.into_body(), buf: Vec::new() }
    }

    pub async fn next(&mut self) -> serde_json::Value {
        loop {
            if let Some(end) = self.buf.windows(2).position(|w| w == b"\n\n") {
                let event: Vec<u8> = self.buf.drain(..end + 2).collect();
                let text = String::from_utf8(event).expect("UTF-8");
                if let Some(data) = text.strip_prefix("data: ") {
                    return serde_json::from_str(data.trim_end()).expect("JSON data");
                }
                continue;
            }
            let frame = tokio::time::timeout(Duration::from_secs(10), self.body.frame())
                .await
                .expect("an event within 10 s")
                .expect("body open")
                .expect("frame");
            if let Ok(data) = frame.into_data() {
                self.buf.extend_from_slice(&data);
            }
        }
    }

    /// Whether the body ends with its last chunk (no more events, no broken connection)
    /// within 5 s.
    pub async fn ended_cleanly(&mut self) -> bool {
        loop {
            match tokio::time::timeout(Duration::from_secs(5), self.body.frame()).await {
                Ok(None) => return true,
                Ok(Some(Ok(_))) => continue,
                Ok(Some(Err(_))) | Err(_) => return false,
            }
        }
    }
}

/// Reads until a message of `channel` (skipping others), returning those skipped too.
pub async fn until_ws(ws: &mut Ws, channel: &str, event: Option<&str>) -> serde_json::Value {
    loop {
        let m = ws_next(ws).await;
        if m["channel"] == channel && event.is_none_or(|e| m["event"] == e) {
            return m;
        }
    }
}
