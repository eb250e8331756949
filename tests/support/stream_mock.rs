//! A loopback mock of Binance's combined-stream endpoint: `/stream?streams=a/b` opens a
//! connection subscribed to `a` and `b`; `SUBSCRIBE`/`UNSUBSCRIBE` messages are answered
//! `{"result":null,"id":n}` as the docs show; [`StreamMock::publish`] sends a
//! `{"stream":..,"data":..}` frame to every connection subscribed to the stream. It
//! records every connection and control message, and can drop all connections.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};

struct Conn {
    id: usize,
    streams: BTreeSet<String>,
    tx: mpsc::UnboundedSender<Message>,
    /// Dropping it cuts the connection.
    _kill: tokio::sync::oneshot::Sender<()>,
}

#[derive(Default)]
struct Shared {
    conns: Mutex<Vec<Conn>>,
    accepted: AtomicUsize,
    paths: Mutex<Vec<String>>,
    controls: Mutex<Vec<(Instant, usize, serde_json::Value)>>,
    pongs: AtomicUsize,
    /// Control messages are recorded but neither applied nor answered.
    deaf: std::sync::atomic::AtomicBool,
}

/// The mock.
pub struct StreamMock {
    /// `ws://127.0.0.1:port`
    pub url: String,
    shared: Arc<Shared>,
}

impl StreamMock {
    /// From now on, control messages go unanswered and change nothing (an upstream
    /// that ignores SUBSCRIBE), or (`false`) are served again.
    pub fn set_deaf(&self, deaf: bool) {
        self.shared.deaf.store(deaf, Ordering::SeqCst);
    }

    /// Starts the mock on a free loopback port.
    pub async fn start() -> Self {
        Self::serve_on(TcpListener::bind("127.0.0.1:0").await.expect("bind"))
    }

    /// Serves the mock on `listener`.
    pub fn serve_on(listener: TcpListener) -> Self {
        let url = format!("ws://{}", listener.local_addr().expect("addr"));
        let shared = Arc::new(Shared::default());
        let s = Arc::clone(&shared);
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                tokio::spawn(serve(tcp, Arc::clone(&s)));
            }
        });
        Self { url, shared }
    }

    /// Handshakes completed so far.
    pub fn connections(&self) -> usize {
        self.shared.accepted.load(Ordering::SeqCst)
    }

    /// Connections open now.
    pub fn open(&self) -> usize {
        self.shared.conns.lock().expect("lock").len()
    }

    /// The request paths (with `?streams=`) of every handshake.
    pub fn paths(&self) -> Vec<String> {
        self.shared.paths.lock().expect("lock").clone()
    }

    /// Every control message: when, on which connection, what.
    pub fn controls(&self) -> Vec<(Instant, usize, serde_json::Value)> {
        self.shared.controls.lock().expect("lock").clone()
    }

    /// Pongs received.
    pub fn pongs(&self) -> usize {
        self.shared.pongs.load(Ordering::SeqCst)
    }

    /// The streams each open connection carries.
    pub fn subscribed(&self) -> Vec<BTreeSet<String>> {
        self.shared.conns.lock().expect("lock").iter().map(|c| c.streams.clone()).collect()
    }

    /// Waits until some open connection carries every stream of `streams`.
    pub async fn wait_subscribed(&self, streams: &[&str]) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if self.subscribed().iter().any(|s| streams.iter().all(|x| s.contains(*x))) {
                return;
            }
            assert!(Instant::now() < deadline, "never subscribed to {streams:?}: {:?}", self.subscribed());
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Sends `data` as a combined-stream frame of `stream` to every connection carrying
    /// it; returns how many got it.
    pub fn publish(&self, stream: &str, data: &serde_json::Value) -> usize {
        let text = serde_json::json!({"stream": stream, "data": data}).to_string();
        self.publish_raw(stream, &text)
    }

    /// Sends a frame as is to every connection carrying `stream`.
    pub fn publish_raw(&self, stream: &str, text: &str) -> usize {
        let conns = self.shared.conns.lock().expect("lock");
        conns.iter().filter(|c| c.streams.contains(stream)).filter(|c| c.tx.send(Message::text(text)).is_ok()).count()
    }

    /// Pings every connection.
    pub fn ping_all(&self) {
        for c in self.shared.conns.lock().expect("lock").iter() {
            let _ = c.tx.send(Message::Ping(bytes::Bytes::from_static(b"mock")));
        }
    }

    /// Sends Binance's `serverShutdown` notice (`{"stream":"!serverShutdown",...}`, the
    /// recorded frame) on the oldest open connection; returns its id.
    pub fn announce_shutdown(&self) -> Option<usize> {
        let text = super::fixture("binance_ws/combined_server_shutdown_docsample.json");
        let conns = self.shared.conns.lock().expect("lock");
        let c = conns.iter().min_by_key(|c| c.id)?;
        c.tx.send(Message::text(text.trim())).ok().map(|()| c.id)
    }

    /// Cuts connection `id` without a close frame.
    pub fn drop_conn(&self, id: usize) {
        self.shared.conns.lock().expect("lock").retain(|c| c.id != id);
    }

    /// Cuts every open connection without a close frame.
    pub fn drop_all(&self) {
        self.shared.conns.lock().expect("lock").clear();
    }
}

#[allow(clippy::result_large_err)] // the handshake callback's type is tungstenite's
async fn serve(tcp: tokio::net::TcpStream, shared: Arc<Shared>) {
    let mut path = String::new();
    let ws = tokio_tungstenite::accept_hdr_async(tcp, |req: &Request, resp: Response| {
        path = req.uri().to_string();
        Ok(resp)
    })
    .await;
    let Ok(ws) = ws else { return };
    let streams: BTreeSet<String> = path
        .split_once("streams=")
        .map(|(_, s)| s.split('/').filter(|x| !x.is_empty()).map(str::to_owned).collect())
        .unwrap_or_default();
    let id = shared.accepted.fetch_add(1, Ordering::SeqCst) + 1;
    shared.paths.lock().expect("lock").push(path);
    let (tx, mut rx) = mpsc::unbounded_channel::<Message>();
    let (kill, mut killed) = tokio::sync::oneshot::channel();
    shared.conns.lock().expect("lock").push(Conn { id, streams, tx: tx.clone(), _kill: kill });
    let (mut sink, mut source) = ws.split();
    loop {
        tokio::select! {
            _ = &mut killed => break,
            out = rx.recv() => match out {
                Some(m) => if sink.send(m).await.is_err() { break },
                None => break,
            },
            inc = source.next() => match inc {
                Some(Ok(Message::Text(t))) => {
                    let Ok(v) = serde_json::from_str::<serde_json::Value>(t.as_str()) else { continue };
                    shared.controls.lock().expect("lock").push((Instant::now(), id, v.clone()));
                    if shared.deaf.load(Ordering::SeqCst) { continue }
                    let params: Vec<String> = v["params"].as_array().map(|a| a.iter().filter_map(|p| p.as_str().map(str::to_owned)).collect()).unwrap_or_default();
                    {
                        let mut conns = shared.conns.lock().expect("lock");
                        if let Some(c) = conns.iter_mut().find(|c| c.id == id) {
                            match v["method"].as_str() {
                                Some("SUBSCRIBE") => c.streams.extend(params),
                                Some("UNSUBSCRIBE") => c.streams.retain(|s| !params.contains(s)),
                                _ => {}
                            }
                        }
                    }
                    let reply = serde_json::json!({"result": null, "id": v["id"]}).to_string();
                    if tx.send(Message::text(reply)).is_err() { break }
                }
                Some(Ok(Message::Pong(_))) => { shared.pongs.fetch_add(1, Ordering::SeqCst); }
                Some(Ok(_)) => {}
                _ => break,
            },
        }
    }
    shared.conns.lock().expect("lock").retain(|c| c.id != id);
}

/// A recorded `btcusdt@trade` event (`tests/fixtures/binance_ws/combined_trade_btcusdt.jsonl`,
/// line 6, captured from data-stream.binance.vision on 2026-09-15) with its trade id,
/// time and price moved to `n` steps later: the recorded shape, a sequence of ids.
pub fn trade_event(symbol_id: &str, n: u64) -> serde_json::Value {
    let line = super::fixture("binance_ws/combined_trade_btcusdt.jsonl");
    let last = line.lines().last().expect("a recorded frame");
    let frame: serde_json::Value = serde_json::from_str(last).expect("recorded frame is JSON");
    let mut data = frame["data"].clone();
    let t = data["t"].as_u64().expect("trade id") + n;
    let ts = data["T"].as_u64().expect("trade time") + n;
    data["t"] = t.into();
    data["T"] = ts.into();
    data["E"] = ts.into();
    data["s"] = symbol_id.into();
    data
}
