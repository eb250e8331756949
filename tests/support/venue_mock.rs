//! A loopback mock of the WebSocket feeds of Coinbase Exchange, Kraken v2 and OKX v5:
//! it answers each venue's subscribe requests as that venue does (Coinbase: one
//! `subscriptions` reply per request, no id; Kraken: one ack per symbol with the
//! request's `req_id`; OKX: one `event` per argument with the request's `id`, and `pong`
//! to `ping`), keeps which `<channel>:<instrument>` each connection carries, and
//! [`VenueMock::publish`] sends a frame as is to the connections carrying a stream.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;

/// Which venue the mock speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Venue {
    Coinbase,
    Kraken,
    Okx,
}

struct Conn {
    id: usize,
    streams: BTreeSet<String>,
    tx: mpsc::UnboundedSender<Message>,
}

#[derive(Default)]
struct Shared {
    conns: Mutex<Vec<Conn>>,
    accepted: AtomicUsize,
    requests: Mutex<Vec<serde_json::Value>>,
    pings: AtomicUsize,
}

/// The mock.
pub struct VenueMock {
    /// `ws://127.0.0.1:port`
    pub url: String,
    venue: Venue,
    shared: Arc<Shared>,
}

impl VenueMock {
    /// Starts the mock on a free loopback port.
    pub async fn start(venue: Venue) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("ws://{}", listener.local_addr().expect("addr"));
        let shared = Arc::new(Shared::default());
        let s = Arc::clone(&shared);
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                tokio::spawn(serve(venue, tcp, Arc::clone(&s)));
            }
        });
        Self { url, venue, shared }
    }

    /// Handshakes completed so far.
    pub fn connections(&self) -> usize {
        self.shared.accepted.load(Ordering::SeqCst)
    }

    /// Every request received.
    pub fn requests(&self) -> Vec<serde_json::Value> {
        self.shared.requests.lock().expect("lock").clone()
    }

    /// Text pings (`ping`) received.
    pub fn pings(&self) -> usize {
        self.shared.pings.load(Ordering::SeqCst)
    }

    /// Waits (10 s at most) until some connection carries `stream`.
    pub async fn wait_subscribed(&self, stream: &str) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if self.shared.conns.lock().expect("lock").iter().any(|c| c.streams.contains(stream)) {
                return;
            }
            assert!(Instant::now() < deadline, "{:?} never subscribed to {stream}: {:?}", self.venue, self.requests());
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Whether no connection carries `stream` now.
    pub fn carries(&self, stream: &str) -> bool {
        self.shared.conns.lock().expect("lock").iter().any(|c| c.streams.contains(stream))
    }

    /// Sends `text` to every connection carrying `stream`; returns how many got it.
    pub fn publish(&self, stream: &str, text: &str) -> usize {
        let conns = self.shared.conns.lock().expect("lock");
        conns.iter().filter(|c| c.streams.contains(stream)).filter(|c| c.tx.send(Message::text(text)).is_ok()).count()
    }
}

/// The streams a request names, and the replies the venue sends.
fn answer(venue: Venue, v: &serde_json::Value) -> (bool, Vec<String>, Vec<String>) {
    let mut streams = Vec::new();
    let mut replies = Vec::new();
    let subscribe;
    match venue {
        Venue::Coinbase => {
            subscribe = v["type"] == "subscribe";
            for ch in v["channels"].as_array().into_iter().flatten() {
                for id in ch["product_ids"].as_array().into_iter().flatten() {
                    streams.push(format!("{}:{}", ch["name"].as_str().unwrap_or(""), id.as_str().unwrap_or("")));
                }
            }
            replies.push(serde_json::json!({"type": "subscriptions", "channels": v["channels"]}).to_string());
        }
        Venue::Kraken => {
            subscribe = v["method"] == "subscribe";
            let channel = v["params"]["channel"].as_str().unwrap_or("");
            for s in v["params"]["symbol"].as_array().into_iter().flatten() {
                streams.push(format!("{channel}:{}", s.as_str().unwrap_or("")));
                replies.push(
                    serde_json::json!({"method": v["method"], "req_id": v["req_id"], "success": true,
                        "result": {"channel": channel, "symbol": s}, "time_in": "2026-12-07T00:00:00.000000Z"})
                    .to_string(),
                );
            }
        }
        Venue::Okx => {
            subscribe = v["op"] == "subscribe";
            for a in v["args"].as_array().into_iter().flatten() {
                streams.push(format!("{}:{}", a["channel"].as_str().unwrap_or(""), a["instId"].as_str().unwrap_or("")));
                replies.push(
                    serde_json::json!({"id": v["id"], "event": v["op"], "arg": a, "connId": "a4d3ae55"}).to_string(),
                );
            }
        }
    }
    (subscribe, streams, replies)
}

async fn serve(venue: Venue, tcp: tokio::net::TcpStream, shared: Arc<Shared>) {
    let Ok(ws) = tokio_tungstenite::accept_async(tcp).await else { return };
    let id = shared.accepted.fetch_add(1, Ordering::SeqCst) + 1;
    let (tx, mut rx) = mpsc::unbounded_channel::<Message>();
    shared.conns.lock().expect("lock").push(Conn { id, streams: BTreeSet::new(), tx: tx.clone() });
    if venue == Venue::Kraken {
        let status = super::fixture("kraken_ws/v2_status_2024-05.json");
        let _ = tx.send(Message::text(status.trim()));
    }
    let (mut sink, mut source) = ws.split();
    loop {
        tokio::select! {
            out = rx.recv() => match out {
                Some(m) => if sink.send(m).await.is_err() { break },
                None => break,
            },
            inc = source.next() => match inc {
                Some(Ok(Message::Text(t))) if t.as_str() == "ping" => {
                    shared.pings.fetch_add(1, Ordering::SeqCst);
                    let _ = tx.send(Message::text("pong"));
                }
                Some(Ok(Message::Text(t))) => {
                    let Ok(v) = serde_json::from_str::<serde_json::Value>(t.as_str()) else { continue };
                    shared.requests.lock().expect("lock").push(v.clone());
                    let (subscribe, streams, replies) = answer(venue, &v);
                    if let Some(c) = shared.conns.lock().expect("lock").iter_mut().find(|c| c.id == id) {
                        for s in streams {
                            if subscribe { c.streams.insert(s); } else { c.streams.remove(&s); }
                        }
                    }
                    for r in replies {
                        let _ = tx.send(Message::text(r));
                    }
                }
                Some(Ok(_)) => {}
                _ => break,
            },
        }
    }
    shared.conns.lock().expect("lock").retain(|c| c.id != id);
}
