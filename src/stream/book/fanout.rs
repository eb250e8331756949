//! One shared book and its clients, grouped by the label and depth they asked for:
//! each group is shown the top `depth` levels, first as a snapshot, then as the
//! levels that changed in that top (so a client's book equals the true top at every
//! `seq` it is sent). A client whose queue overflowed has lost an update: it is sent
//! nothing more until a `resync` status and a fresh snapshot fit in its queue.

use std::collections::HashSet;
use std::sync::Arc;

use bytes::Bytes;
use serde::Serialize;

use super::sync::BookSync;
use super::{Level, View};
use crate::stream::client::{ClientTx, Offer};
use crate::stream::message::Status;

/// A book topic's state.
#[derive(Default)]
pub struct BookTopic {
    /// The sync procedure.
    pub sync: BookSync,
    /// A snapshot request is under way.
    pub fetching: bool,
    groups: Vec<Group>,
}

struct Group {
    symbol: String,
    vs: String,
    depth: usize,
    clients: Vec<Arc<ClientTx>>,
    /// What the group was last shown (`None`: it needs a snapshot).
    view: Option<View>,
    /// Clients that lost an update and wait for a snapshot.
    stale: HashSet<u64>,
}

/// Where messages come from and when.
#[derive(Debug, Clone, Copy)]
pub struct Stamp<'a> {
    /// The provider.
    pub provider: &'a str,
    /// Now, ms.
    pub ts: i64,
}

/// How many messages were queued and dropped.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Sent {
    /// Queued.
    pub queued: u64,
    /// Dropped (a full queue).
    pub dropped: u64,
}

#[derive(Serialize)]
struct Msg<'a> {
    channel: &'static str,
    #[serde(rename = "type")]
    kind: &'static str,
    symbol: &'a str,
    vs: &'a str,
    bids: &'a [Level],
    asks: &'a [Level],
    seq: u64,
    ts: i64,
    provider: &'a str,
}

impl Group {
    fn encode(&self, kind: &'static str, view: &View, seq: u64, stamp: Stamp<'_>) -> Bytes {
        let msg = Msg {
            channel: "book",
            kind,
            symbol: &self.symbol,
            vs: &self.vs,
            bids: &view.bids,
            asks: &view.asks,
            seq,
            ts: stamp.ts,
            provider: stamp.provider,
        };
        Bytes::from(serde_json::to_vec(&msg).unwrap_or_default())
    }
}

impl BookTopic {
    /// Adds a client wanting the top `depth` levels under `symbol`/`vs`; a live book
    /// sends it its snapshot at once.
    pub fn join(&mut self, client: Arc<ClientTx>, symbol: &str, vs: &str, depth: usize, stamp: Stamp<'_>) -> Sent {
        let i = match self.groups.iter().position(|g| g.symbol == symbol && g.vs == vs && g.depth == depth) {
            Some(i) => i,
            None => {
                self.groups.push(Group {
                    symbol: symbol.to_owned(),
                    vs: vs.to_owned(),
                    depth,
                    clients: Vec::new(),
                    view: None,
                    stale: HashSet::new(),
                });
                self.groups.len() - 1
            }
        };
        let mut sent = Sent::default();
        if let Some((book, id)) = self.sync.live() {
            let g = &mut self.groups[i];
            let view = g.view.get_or_insert_with(|| book.top(depth)).clone();
            match client.offer(g.encode("snapshot", &view, id, stamp)) {
                Offer::Queued => sent.queued += 1,
                Offer::Dropped => {
                    sent.dropped += 1;
                    g.stale.insert(client.id);
                }
                Offer::Gone => {}
            }
        }
        self.groups[i].clients.push(client);
        sent
    }

    /// Removes client `id`; `true` when no client is left.
    pub fn leave(&mut self, id: u64) -> bool {
        for g in &mut self.groups {
            g.clients.retain(|c| c.id != id);
            g.stale.remove(&id);
        }
        self.groups.retain(|g| !g.clients.is_empty());
        self.groups.is_empty()
    }

    /// Every client of the book.
    pub fn clients(&self) -> impl Iterator<Item = &Arc<ClientTx>> {
        self.groups.iter().flat_map(|g| &g.clients)
    }

    /// The book lost sync: every client hears `resync` and will get a fresh snapshot.
    pub fn resync(&mut self, detail: &str, stamp: Stamp<'_>) -> Sent {
        let msg = Status::Resync.encode(detail, stamp.ts);
        let mut sent = Sent::default();
        for g in &mut self.groups {
            g.view = None;
            g.stale.clear();
            for c in &g.clients {
                count(&mut sent, c.offer(msg.clone()));
            }
        }
        sent
    }

    /// Shows the live book to every group: a snapshot where it has none (just synced),
    /// else the levels that changed in its top; stale clients get `resync` and a
    /// snapshot instead.
    pub fn publish(&mut self, stamp: Stamp<'_>) -> Sent {
        let mut sent = Sent::default();
        let Some((book, id)) = self.sync.live() else { return sent };
        for g in &mut self.groups {
            let new = book.top(g.depth);
            let update = match &g.view {
                None => None,
                Some(old) => {
                    let changes = old.changes(&new);
                    (!changes.is_empty()).then(|| g.encode("update", &changes, id, stamp))
                }
            };
            let fresh = g.view.is_none();
            let snapshot = g.encode("snapshot", &new, id, stamp);
            let resync = Status::Resync.encode("updates were lost: a fresh snapshot follows", stamp.ts);
            for c in &g.clients {
                if fresh {
                    let offer = c.offer(snapshot.clone());
                    count(&mut sent, offer);
                    if offer == Offer::Dropped {
                        g.stale.insert(c.id);
                    }
                } else if g.stale.contains(&c.id) {
                    // Nothing more until a resync and a whole snapshot fit.
                    if c.offer(resync.clone()) == Offer::Queued && c.offer(snapshot.clone()) == Offer::Queued {
                        g.stale.remove(&c.id);
                        sent.queued += 2;
                    }
                } else if let Some(msg) = &update {
                    let offer = c.offer(msg.clone());
                    count(&mut sent, offer);
                    if offer == Offer::Dropped {
                        g.stale.insert(c.id);
                    }
                }
            }
            g.view = Some(new);
        }
        sent
    }
}

fn count(sent: &mut Sent, offer: Offer) {
    match offer {
        Offer::Queued => sent.queued += 1,
        Offer::Dropped => sent.dropped += 1,
        Offer::Gone => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stream::book::{Book, Diff, Snapshot};
    use crate::stream::client;

    const STAMP: Stamp<'static> = Stamp { provider: "binance", ts: 1 };

    fn diff(id: u64, bids: Vec<Level>, asks: Vec<Level>) -> Diff {
        Diff { first: id, last: id, bids, asks }
    }

    /// A client's own book, built from what it reads.
    #[derive(Default)]
    struct Reader {
        book: Book,
        seq: u64,
        resyncs: usize,
    }

    impl Reader {
        fn read(&mut self, msg: &[u8]) {
            let v: serde_json::Value = serde_json::from_slice(msg).expect("json");
            let levels = |k: &str| -> Vec<Level> { serde_json::from_value(v[k].clone()).unwrap_or_default() };
            match (v["channel"].as_str(), v["type"].as_str(), v["event"].as_str()) {
                (Some("book"), Some("snapshot"), _) => {
                    self.book = Book::from_snapshot(&Snapshot { last: 0, bids: levels("bids"), asks: levels("asks") });
                    self.seq = v["seq"].as_u64().expect("seq");
                }
                (Some("book"), Some("update"), _) => {
                    self.book.apply(&Diff { first: 0, last: 0, bids: levels("bids"), asks: levels("asks") });
                    self.seq = v["seq"].as_u64().expect("seq");
                }
                (Some("status"), _, Some("resync")) => self.resyncs += 1,
                _ => {}
            }
        }
    }

    fn live_topic() -> BookTopic {
        let mut t = BookTopic::default();
        t.sync.event(diff(10, vec![], vec![]));
        let snap = Snapshot {
            last: 10,
            bids: vec![[100.0, 1.0], [99.0, 1.0], [98.0, 1.0]],
            asks: vec![[101.0, 1.0], [102.0, 1.0]],
        };
        t.sync.snapshot(snap);
        t
    }

    async fn drain(rx: &mut client::ClientRx, reader: &mut Reader) {
        while let Ok(Some(msg)) = tokio::time::timeout(std::time::Duration::from_millis(5), rx.next()).await {
            reader.read(&msg);
        }
    }

    #[tokio::test]
    async fn a_client_s_book_equals_the_true_top_at_every_seq() {
        let mut t = live_topic();
        let (tx, mut rx) = client::channel(1, 64);
        t.join(tx, "BTC", "USD", 2, STAMP);
        let mut reader = Reader::default();
        let steps = [
            diff(11, vec![[100.0, 0.0]], vec![]),
            diff(12, vec![[99.5, 2.0]], vec![[101.0, 0.0], [101.5, 3.0]]),
            diff(13, vec![[97.0, 5.0]], vec![]),
        ];
        for d in steps {
            t.sync.event(d);
            t.publish(STAMP);
            drain(&mut rx, &mut reader).await;
            let (book, id) = t.sync.live().expect("live");
            assert_eq!(reader.book.top(2), book.top(2), "at seq {id}");
        }
        assert_eq!(reader.seq, 12, "the last change to its top was at 12 (13 is below it)");
    }

    #[tokio::test]
    async fn a_slow_client_loses_updates_and_gets_resync_and_a_snapshot_never_a_wrong_book() {
        let mut t = live_topic();
        let (tx, mut rx) = client::channel(1, 3);
        t.join(tx, "BTC", "USD", 2, STAMP);
        // The client reads nothing while six updates change its top.
        for id in 11..17 {
            t.sync.event(diff(id, vec![[100.0, id as f64]], vec![]));
            t.publish(STAMP);
        }
        let mut reader = Reader::default();
        drain(&mut rx, &mut reader).await;
        // It missed updates: its book is stale, and nothing more was sent.
        assert_ne!(reader.book.top(2), t.sync.live().expect("live").0.top(2));
        t.sync.event(diff(17, vec![[99.0, 7.0]], vec![]));
        t.publish(STAMP);
        drain(&mut rx, &mut reader).await;
        assert_eq!(reader.resyncs, 1);
        assert_eq!(reader.book.top(2), t.sync.live().expect("live").0.top(2), "a fresh snapshot set it right");
        assert_eq!(reader.seq, 17);
    }
}
