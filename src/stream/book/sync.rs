//! Keeping a local book in sync with a diff-depth stream, exactly as Binance documents
//! it ("How to manage a local order book correctly", web-socket-streams.md, corrected
//! 2025-11-12; tests/fixtures/STREAMS.md):
//!
//! 1. buffer the events, noting the `U` of the first;
//! 2. fetch a snapshot; if its `lastUpdateId` is below that first `U`, fetch again;
//! 3. drop buffered events with `u` <= `lastUpdateId`; the first one left must span
//!    `lastUpdateId + 1` (else start over);
//! 4. apply the rest, then every event: one with `u` below the book's id is old and
//!    ignored; one with `U` > id + 1 means events were missed: the book is discarded
//!    and the process starts over. Never publish a book that is not in sync.

use std::collections::VecDeque;

use super::{Book, Diff, Snapshot};

/// Most events kept while waiting for a snapshot (at 10 events a second, minutes):
/// past it the oldest go, and a snapshot that no longer meets the buffer is fetched
/// again.
const MAX_BUFFER: usize = 4096;

/// The state of one book.
#[derive(Debug, Clone, PartialEq)]
pub enum BookSync {
    /// Buffering events until a snapshot meets them.
    Waiting {
        /// Events since the first one received.
        buffer: VecDeque<Diff>,
    },
    /// In sync.
    Live {
        /// The book.
        book: Book,
        /// The last update id applied.
        id: u64,
    },
}

/// What an event did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Kept until a snapshot comes; `fetch`: this is the first, ask for one now.
    Buffered {
        /// Ask for a snapshot.
        fetch: bool,
    },
    /// Applied to the live book.
    Applied,
    /// Older than the book (a copy during a rollover, or already in the snapshot).
    Ignored,
    /// Events were missed: the book is gone, the event buffered, a snapshot needed.
    Gap {
        /// The id the book had.
        had: u64,
        /// The event's first id.
        first: u64,
    },
}

/// What a snapshot did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Synced {
    /// The book is live at this id.
    Live(u64),
    /// The snapshot does not meet the buffered events: fetch another (why).
    Again(String),
}

impl Default for BookSync {
    fn default() -> Self {
        Self::Waiting { buffer: VecDeque::new() }
    }
}

impl BookSync {
    /// The live book and its id, if in sync.
    pub fn live(&self) -> Option<(&Book, u64)> {
        match self {
            Self::Live { book, id } => Some((book, *id)),
            Self::Waiting { .. } => None,
        }
    }

    /// One event from the stream.
    pub fn event(&mut self, d: Diff) -> Step {
        match self {
            Self::Waiting { buffer } => {
                let fetch = buffer.is_empty();
                if buffer.len() >= MAX_BUFFER {
                    buffer.pop_front();
                }
                buffer.push_back(d);
                Step::Buffered { fetch }
            }
            Self::Live { book, id } => {
                if d.last < *id {
                    return Step::Ignored;
                }
                if d.first > *id + 1 {
                    let (had, first) = (*id, d.first);
                    *self = Self::Waiting { buffer: VecDeque::from([d]) };
                    return Step::Gap { had, first };
                }
                book.apply(&d);
                *id = d.last;
                Step::Applied
            }
        }
    }

    /// A snapshot fetched after the first buffered event.
    pub fn snapshot(&mut self, s: Snapshot) -> Synced {
        let Self::Waiting { buffer } = self else {
            return Synced::Again("the book is already in sync".into());
        };
        let Some(first) = buffer.front().map(|d| d.first) else {
            return Synced::Again("no event buffered yet".into());
        };
        if s.last < first {
            return Synced::Again(format!("snapshot {} is older than the first buffered event {first}", s.last));
        }
        while buffer.front().is_some_and(|d| d.last <= s.last) {
            buffer.pop_front();
        }
        if let Some(d) = buffer.front()
            && d.first > s.last + 1
        {
            let why = format!("events {}..{} were missed between snapshot and stream", s.last + 1, d.first - 1);
            buffer.clear();
            return Synced::Again(why);
        }
        let mut book = Book::from_snapshot(&s);
        let mut id = s.last;
        for d in buffer.drain(..) {
            if d.last < id {
                continue;
            }
            book.apply(&d);
            id = d.last;
        }
        *self = Self::Live { book, id };
        Synced::Live(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stream::protocol::{Inbound, Protocol};

    fn levels(v: &serde_json::Value) -> Vec<[f64; 2]> {
        v.as_array()
            .into_iter()
            .flatten()
            .map(|l| {
                [
                    l[0].as_str().and_then(|p| p.parse().ok()).unwrap_or(0.0),
                    l[1].as_str().and_then(|a| a.parse().ok()).unwrap_or(0.0),
                ]
            })
            .collect()
    }

    fn recorded(name: &str) -> (Snapshot, Vec<Diff>) {
        let fx = |f: &str| crate::stream::protocol::fixture("binance_ws", f);
        let snap: serde_json::Value =
            serde_json::from_str(&fx(&format!("rest_depth_snapshot_{name}.json"))).expect("json");
        let snapshot = Snapshot {
            last: snap["lastUpdateId"].as_u64().expect("id"),
            bids: levels(&snap["bids"]),
            asks: levels(&snap["asks"]),
        };
        let events = fx(&format!("combined_depth100ms_{name}.jsonl"))
            .lines()
            .filter_map(|l| match Protocol::Binance.parse(l) {
                Inbound::Data(e) => Some(e[0].data.clone()),
                _ => None,
            })
            .map(|d| Diff {
                first: d["U"].as_u64().expect("U"),
                last: d["u"].as_u64().expect("u"),
                bids: levels(&d["b"]),
                asks: levels(&d["a"]),
            })
            .collect();
        (snapshot, events)
    }

    #[test]
    fn the_recorded_btcusdt_capture_syncs_at_line_eleven() {
        let (snap, events) = recorded("btcusdt_2021-04-04");
        let mut sync = BookSync::default();
        assert_eq!(sync.event(events[0].clone()), Step::Buffered { fetch: true });
        for d in &events[1..20] {
            assert_eq!(sync.event(d.clone()), Step::Buffered { fetch: false });
        }
        assert_eq!(sync.snapshot(snap.clone()), Synced::Live(events[19].last));
        // The same book, by hand: the snapshot, then lines 11.. (lines 1-10 are older).
        assert!(events[10].first <= snap.last + 1 && events[10].last > snap.last, "line 11 straddles");
        let mut by_hand = Book::from_snapshot(&snap);
        for d in &events[10..20] {
            by_hand.apply(d);
        }
        for d in &events[20..] {
            assert_eq!(sync.event(d.clone()), Step::Applied);
            by_hand.apply(d);
        }
        assert_eq!(sync.live().map(|(b, id)| (b.clone(), id)), Some((by_hand, events[59].last)));
    }

    #[test]
    fn the_nknusdt_capture_drops_the_event_equal_to_the_snapshot() {
        let (snap, events) = recorded("nknusdt_2021-10-12");
        assert_eq!(events[0].last, snap.last);
        let mut sync = BookSync::default();
        for d in &events {
            sync.event(d.clone());
        }
        assert_eq!(sync.snapshot(snap), Synced::Live(events.last().expect("events").last));
    }

    #[test]
    fn an_old_snapshot_is_fetched_again_and_a_gap_starts_over() {
        let (snap, events) = recorded("btcusdt_2021-04-04");
        let mut sync = BookSync::default();
        sync.event(events[30].clone());
        assert!(matches!(sync.snapshot(snap.clone()), Synced::Again(why) if why.contains("older")));
        // The stream skipped an event while buffering: the snapshot meets the first
        // event but a hole follows it.
        let mut s = BookSync::default();
        s.event(events[10].clone());
        s.event(events[12].clone());
        let early = Snapshot { last: events[10].last, ..snap.clone() };
        assert!(matches!(s.snapshot(early), Synced::Again(why) if why.contains("missed")));

        let mut live = BookSync::default();
        live.event(events[10].clone());
        assert_eq!(live.snapshot(snap), Synced::Live(events[10].last));
        assert_eq!(live.event(events[10].clone()), Step::Applied, "a copy of the last event sets the same levels");
        assert_eq!(live.event(events[5].clone()), Step::Ignored);
        let skipped = events[12].clone();
        assert_eq!(live.event(skipped.clone()), Step::Gap { had: events[10].last, first: skipped.first });
        assert!(live.live().is_none(), "a book with a hole is never shown");
    }
}
