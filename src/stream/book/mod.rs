//! The order book channel (`channels=book&depth=N`): one local book per (provider,
//! symbol), kept in sync by Binance's documented procedure for a diff-depth stream
//! ([`sync`]), and shown to each client as its top `depth` levels: a snapshot, then
//! the levels that changed in that top ([`fanout`]). Pure: no sockets, no clock.
//!
//! A price is a key by its `f64` bits: for positive finite numbers the bit order is the
//! numeric order, so a `BTreeMap` keeps each side sorted without a wrapper type.

pub mod fanout;
pub mod sync;

use std::collections::{BTreeMap, HashMap};

use serde::Deserialize;

/// `[price, amount]`.
pub type Level = [f64; 2];

/// Most levels a side keeps (Binance's deepest snapshot). Levels far from the best
/// price that a feed keeps adding, and never removes, would otherwise grow the book
/// without bound; the worst go first, thousands below the 1000 a client may see.
pub const MAX_LEVELS: usize = 5000;

/// One diff-depth event: the update ids it spans and the levels it sets (amount 0
/// removes the level).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Diff {
    /// First update id in the event (`U`).
    pub first: u64,
    /// Final update id in the event (`u`).
    pub last: u64,
    /// Bid levels set.
    pub bids: Vec<Level>,
    /// Ask levels set.
    pub asks: Vec<Level>,
}

/// A REST depth snapshot.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Snapshot {
    /// The update id it reflects (`lastUpdateId`).
    pub last: u64,
    /// Bid levels.
    pub bids: Vec<Level>,
    /// Ask levels.
    pub asks: Vec<Level>,
}

/// A local book.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Book {
    bids: BTreeMap<u64, f64>,
    asks: BTreeMap<u64, f64>,
}

/// The top levels of a book as a client was last shown them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct View {
    /// Best (highest) first.
    pub bids: Vec<Level>,
    /// Best (lowest) first.
    pub asks: Vec<Level>,
}

impl Book {
    /// The book of a snapshot.
    pub fn from_snapshot(s: &Snapshot) -> Self {
        let mut book = Self::default();
        book.set(&s.bids, &s.asks);
        book
    }

    /// Sets the levels of `d`.
    pub fn apply(&mut self, d: &Diff) {
        self.set(&d.bids, &d.asks);
    }

    /// Sets levels, then drops the worst past [`MAX_LEVELS`] a side.
    fn set(&mut self, bids: &[Level], asks: &[Level]) {
        set(&mut self.bids, bids);
        set(&mut self.asks, asks);
        while self.bids.len() > MAX_LEVELS {
            self.bids.pop_first();
        }
        while self.asks.len() > MAX_LEVELS {
            self.asks.pop_last();
        }
    }

    /// The best `depth` levels of each side.
    pub fn top(&self, depth: usize) -> View {
        let level = |(k, a): (&u64, &f64)| [f64::from_bits(*k), *a];
        View {
            bids: self.bids.iter().rev().take(depth).map(level).collect(),
            asks: self.asks.iter().take(depth).map(level).collect(),
        }
    }
}

/// Sets each level (amount 0 removes it; a level that is not a positive finite price
/// or a finite non-negative amount is skipped: it cannot be a key).
fn set(side: &mut BTreeMap<u64, f64>, levels: &[Level]) {
    for &[price, amount] in levels {
        if !(price.is_finite() && price > 0.0 && amount.is_finite() && amount >= 0.0) {
            continue;
        }
        if amount == 0.0 {
            side.remove(&price.to_bits());
        } else {
            side.insert(price.to_bits(), amount);
        }
    }
}

impl View {
    /// The levels to send so that a client holding `self` holds `new`: each level new or
    /// changed, and each level gone (amount 0).
    pub fn changes(&self, new: &View) -> View {
        View { bids: side_changes(&self.bids, &new.bids), asks: side_changes(&self.asks, &new.asks) }
    }

    /// Nothing changed.
    pub fn is_empty(&self) -> bool {
        self.bids.is_empty() && self.asks.is_empty()
    }
}

fn side_changes(old: &[Level], new: &[Level]) -> Vec<Level> {
    let before: HashMap<u64, f64> = old.iter().map(|[p, a]| (p.to_bits(), *a)).collect();
    let after: HashMap<u64, f64> = new.iter().map(|[p, a]| (p.to_bits(), *a)).collect();
    let mut out: Vec<Level> = new.iter().filter(|[p, a]| before.get(&p.to_bits()) != Some(a)).copied().collect();
    out.extend(old.iter().filter(|[p, _]| !after.contains_key(&p.to_bits())).map(|[p, _]| [*p, 0.0]));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn apply_view(view: &mut View, changes: &View) {
        let merge = |side: &mut Vec<Level>, ch: &[Level], desc: bool| {
            for &[p, a] in ch {
                side.retain(|[q, _]| *q != p);
                if a > 0.0 {
                    side.push([p, a]);
                }
            }
            side.sort_by(|x, y| if desc { y[0].total_cmp(&x[0]) } else { x[0].total_cmp(&y[0]) });
        };
        merge(&mut view.bids, &changes.bids, true);
        merge(&mut view.asks, &changes.asks, false);
    }

    #[test]
    fn a_view_s_changes_carry_a_client_from_one_top_to_the_next() {
        let snap = Snapshot {
            last: 1,
            bids: vec![[100.0, 1.0], [99.0, 2.0], [98.0, 3.0]],
            asks: vec![[101.0, 1.0], [102.0, 2.0], [103.0, 3.0]],
        };
        let mut book = Book::from_snapshot(&snap);
        let before = book.top(2);
        assert_eq!(before.bids, vec![[100.0, 1.0], [99.0, 2.0]]);
        // The best bid goes: 98 enters the top 2, which the client never saw.
        book.apply(&Diff { first: 2, last: 2, bids: vec![[100.0, 0.0]], asks: vec![[101.5, 4.0]] });
        let after = book.top(2);
        let ch = before.changes(&after);
        assert!(ch.bids.contains(&[98.0, 3.0]) && ch.bids.contains(&[100.0, 0.0]), "{ch:?}");
        assert!(ch.asks.contains(&[101.5, 4.0]) && ch.asks.contains(&[102.0, 0.0]), "{ch:?}");
        let mut client = before.clone();
        apply_view(&mut client, &ch);
        assert_eq!(client, after);
        assert!(after.changes(&after).is_empty());
    }

    #[test]
    fn a_feed_that_only_adds_levels_cannot_grow_the_book_past_its_bound() {
        let mut book = Book::default();
        for i in 0..3 * MAX_LEVELS {
            let p = 1.0 + i as f64;
            book.apply(&Diff { first: 1, last: 1, bids: vec![[p, 1.0]], asks: vec![[p, 1.0]] });
        }
        let top = book.top(usize::MAX);
        assert_eq!((top.bids.len(), top.asks.len()), (MAX_LEVELS, MAX_LEVELS));
        assert_eq!(top.bids[0][0], 3.0 * MAX_LEVELS as f64, "the best bid stays");
        assert_eq!(top.asks[0][0], 1.0, "the best ask stays");
    }

    #[test]
    fn levels_that_cannot_be_prices_are_skipped() {
        let mut book = Book::default();
        book.apply(&Diff {
            first: 1,
            last: 1,
            bids: vec![[f64::NAN, 1.0], [-1.0, 1.0], [5.0, -2.0], [5.0, 1.0]],
            asks: vec![],
        });
        assert_eq!(book.top(10).bids, vec![[5.0, 1.0]]);
    }
}
