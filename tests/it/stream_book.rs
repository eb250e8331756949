//! The order book channel on the shipped config (Binance's REST and stream hosts on
//! loopback, replaying the recorded BTCUSDT capture of 2021-04-04: a REST snapshot and
//! 60 gapless `@depth@100ms` events): the book a client builds from its snapshot and
//! updates equals, at every `seq`, the book Binance's procedure gives on the same
//! events; an upstream gap gets `resync` and a fresh snapshot; and many clients share
//! one upstream stream and one snapshot.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use crate::support::mock::{Mock, Reply};
use crate::support::stream_client::{Ws, until_ws, ws_client, ws_next};
use crate::support::stream_mock::StreamMock;
use crate::support::{Proxy, fixture, shipped};

/// One side of a book: price bits -> amount (positive prices order as their bits).
type Side = BTreeMap<u64, f64>;

/// The top levels of each side, `(price, amount)`.
type Top = (Vec<(f64, f64)>, Vec<(f64, f64)>);

#[derive(Clone, Default, PartialEq, Debug)]
struct Book {
    bids: Side,
    asks: Side,
}

fn num(v: &serde_json::Value) -> f64 {
    v.as_str().and_then(|s| s.parse().ok()).or_else(|| v.as_f64()).expect("a number")
}

impl Book {
    fn set(side: &mut Side, levels: &serde_json::Value) {
        for l in levels.as_array().into_iter().flatten() {
            let (p, a) = (num(&l[0]), num(&l[1]));
            if a == 0.0 {
                side.remove(&p.to_bits());
            } else {
                side.insert(p.to_bits(), a);
            }
        }
    }

    fn top(&self, n: usize) -> Top {
        let level = |(k, a): (&u64, &f64)| (f64::from_bits(*k), *a);
        (self.bids.iter().rev().take(n).map(level).collect(), self.asks.iter().take(n).map(level).collect())
    }

    /// Binance's REST shape of this book at `id`.
    fn rest_body(&self, id: u64) -> String {
        let side = |s: &Side, rev: bool| -> Vec<[String; 2]> {
            let mut v: Vec<[String; 2]> =
                s.iter().map(|(k, a)| [format!("{:.8}", f64::from_bits(*k)), format!("{a:.8}")]).collect();
            if rev {
                v.reverse();
            }
            v
        };
        serde_json::json!({"lastUpdateId": id, "bids": side(&self.bids, true), "asks": side(&self.asks, false)})
            .to_string()
    }
}

/// The recorded snapshot and events (`data` of each frame).
fn recorded() -> (serde_json::Value, Vec<serde_json::Value>) {
    let snap = serde_json::from_str(&fixture("binance_ws/rest_depth_snapshot_btcusdt_2021-04-04.json")).expect("json");
    let events = fixture("binance_ws/combined_depth100ms_btcusdt_2021-04-04.jsonl")
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("json")["data"].clone())
        .collect();
    (snap, events)
}

/// Binance's procedure on the recorded capture: the book after each event's `u`.
fn reference(snap: &serde_json::Value, events: &[serde_json::Value]) -> BTreeMap<u64, Book> {
    let mut book = Book::default();
    Book::set(&mut book.bids, &snap["bids"]);
    Book::set(&mut book.asks, &snap["asks"]);
    let mut id = snap["lastUpdateId"].as_u64().expect("id");
    let mut out = BTreeMap::from([(id, book.clone())]);
    for e in events {
        let (first, last) = (e["U"].as_u64().expect("U"), e["u"].as_u64().expect("u"));
        if last <= id {
            continue;
        }
        assert!(first <= id + 1, "the recorded capture has no gap");
        Book::set(&mut book.bids, &e["b"]);
        Book::set(&mut book.asks, &e["a"]);
        id = last;
        out.insert(id, book.clone());
    }
    out
}

/// Binance's REST host: the depth snapshot from `depth` (counted), the rest recorded.
async fn binance_rest(depth: Arc<Mutex<String>>, hits: Arc<AtomicUsize>) -> Mock {
    Mock::start(move |s| {
        if s.path_and_query.starts_with("/api/v3/depth") {
            hits.fetch_add(1, Ordering::SeqCst);
            return Reply::Json(200, depth.lock().expect("lock").clone());
        }
        shipped::reply("binance", None, &s.path_and_query)
    })
    .await
}

/// A client's own book and the `seq` it is at.
#[derive(Default)]
struct Client {
    book: Book,
    seq: u64,
}

impl Client {
    /// Applies one book message; `true` if it was one.
    fn read(&mut self, m: &serde_json::Value) -> bool {
        if m["channel"] != "book" {
            return false;
        }
        if m["type"] == "snapshot" {
            self.book = Book::default();
        }
        Book::set(&mut self.book.bids, &m["bids"]);
        Book::set(&mut self.book.asks, &m["asks"]);
        self.seq = m["seq"].as_u64().expect("seq");
        true
    }
}

/// Reads until the client is at `seq`, checking its book against `reference` at every
/// book message; returns the statuses seen on the way.
async fn follow(
    ws: &mut Ws,
    client: &mut Client,
    reference: &BTreeMap<u64, Book>,
    depth: usize,
    seq: u64,
) -> Vec<String> {
    let mut statuses = Vec::new();
    while client.seq < seq {
        let m = ws_next(ws).await;
        if client.read(&m) {
            let want = reference.get(&client.seq).unwrap_or_else(|| panic!("no reference at {}", client.seq));
            assert_eq!(client.book.top(depth), want.top(depth), "the client's book at seq {}", client.seq);
            assert_eq!(m["symbol"], "BTC");
            assert_eq!(m["provider"], "binance");
        } else if m["channel"] == "status" {
            statuses.push(m["event"].as_str().unwrap_or_default().to_owned());
        }
    }
    statuses
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_s_book_is_binance_s_book_at_every_seq_and_a_gap_brings_resync_and_a_fresh_snapshot() {
    let (snap, events) = recorded();
    let depth_body = Arc::new(Mutex::new(snap.to_string()));
    let hits = Arc::new(AtomicUsize::new(0));
    let rest = binance_rest(Arc::clone(&depth_body), Arc::clone(&hits)).await;
    let stream = StreamMock::start().await;
    let cfg = shipped::config(&[("binance", vec![rest.url()]), ("binance.stream", vec![stream.url.clone()])]);
    let proxy = Proxy::start_with(&cfg, crate::support::defaults::keyed_env(), None, Default::default()).await;
    let mut ws = ws_client(&proxy, "symbols=BTC&channels=book&depth=20").await;
    until_ws(&mut ws, "status", Some("subscribed")).await;
    stream.wait_subscribed(&["btcusdt@depth@100ms"]).await;

    // Lines 1-40: the first ten are older than the snapshot, line 11 straddles it.
    let reference_all = reference(&snap, &events);
    for e in &events[..40] {
        stream.publish("btcusdt@depth@100ms", e);
    }
    let mut client = Client::default();
    let u40 = events[39]["u"].as_u64().expect("u");
    let statuses = follow(&mut ws, &mut client, &reference_all, 20, u40).await;
    assert!(statuses.is_empty(), "{statuses:?}");
    assert_eq!(hits.load(Ordering::SeqCst), 1, "one snapshot");

    // Line 41 never comes: the next event does not follow on.
    let u45 = events[44]["u"].as_u64().expect("u");
    *depth_body.lock().expect("lock") = reference_all[&u45].rest_body(u45);
    for e in &events[41..50] {
        stream.publish("btcusdt@depth@100ms", e);
    }
    let resync = until_ws(&mut ws, "status", Some("resync")).await;
    assert!(resync["detail"].as_str().unwrap_or_default().contains("skipped"), "{resync}");
    let first = ws_next(&mut ws).await;
    assert_eq!((first["channel"].as_str(), first["type"].as_str()), (Some("book"), Some("snapshot")), "{first}");
    client.read(&first);
    assert!(client.seq >= u45);
    assert_eq!(client.book.top(20), reference_all[&client.seq].top(20));
    let u50 = events[49]["u"].as_u64().expect("u");
    follow(&mut ws, &mut client, &reference_all, 20, u50).await;
    assert_eq!(hits.load(Ordering::SeqCst), 2, "one more snapshot after the gap");
    proxy.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_hundred_clients_on_one_book_cost_one_upstream_stream_and_one_snapshot() {
    let (snap, events) = recorded();
    let hits = Arc::new(AtomicUsize::new(0));
    let rest = binance_rest(Arc::new(Mutex::new(snap.to_string())), Arc::clone(&hits)).await;
    let stream = StreamMock::start().await;
    // All 500 come from 127.0.0.1: the route's 256 clients per address are raised.
    let cfg = shipped::config(&[("binance", vec![rest.url()]), ("binance.stream", vec![stream.url.clone()])])
        .replace("poll = \"2s\" }", "poll = \"2s\", max_clients_per_address = 600 }");
    let proxy = Proxy::start_with(&cfg, crate::support::defaults::keyed_env(), None, Default::default()).await;
    let mut clients = Vec::new();
    for i in 0..500 {
        let depth = [5, 20, 100][i % 3];
        let mut ws = ws_client(&proxy, &format!("symbols=BTC&channels=book&depth={depth}")).await;
        until_ws(&mut ws, "status", Some("subscribed")).await;
        clients.push((ws, depth));
    }
    stream.wait_subscribed(&["btcusdt@depth@100ms"]).await;
    for e in &events[..20] {
        stream.publish("btcusdt@depth@100ms", e);
    }
    let reference_all = reference(&snap, &events);
    for (ws, depth) in &mut clients {
        let snapshot = until_ws(ws, "book", None).await;
        assert_eq!(snapshot["type"], "snapshot");
        let mut c = Client::default();
        c.read(&snapshot);
        assert_eq!(c.book.top(*depth), reference_all[&c.seq].top(*depth));
        assert_eq!(snapshot["bids"].as_array().map(Vec::len), Some(*depth));
    }
    assert_eq!(hits.load(Ordering::SeqCst), 1, "one snapshot for 500 clients");
    assert_eq!(stream.connections(), 1, "one upstream connection");
    let subscribes = stream.controls().iter().filter(|(_, _, v)| v.to_string().contains("depth")).count();
    assert!(subscribes <= 1, "{subscribes} control messages named the book");
    // A new client of a live book gets its snapshot at once, without a new request.
    let mut late = ws_client(&proxy, "symbols=BTC&channels=book&depth=7").await;
    until_ws(&mut late, "status", Some("subscribed")).await;
    let s = until_ws(&mut late, "book", None).await;
    assert_eq!(s["bids"].as_array().map(Vec::len), Some(7));
    assert_eq!(hits.load(Ordering::SeqCst), 1);
    proxy.stop().await;
}

#[tokio::test]
async fn book_parameters_are_checked_by_name() {
    let proxy =
        Proxy::start_with(&shipped::config(&[]), crate::support::defaults::keyed_env(), None, Default::default()).await;
    for (query, param) in [
        ("symbols=BTC&channels=book&depth=0", "depth"),
        ("symbols=BTC&channels=book&depth=1001", "depth"),
        ("symbols=BTC&channels=trades&depth=5", "depth"),
    ] {
        let r = crate::support::get(proxy.url(&format!("/v1/stream?{query}"))).await;
        assert_eq!(r.status, 400, "{query}: {}", r.text());
        let message = r.json()["error"]["message"].as_str().unwrap_or_default().to_owned();
        assert!(message.starts_with(&format!("{param}:")), "{query}: {message}");
    }
    proxy.stop().await;
}
