//! A bounded memory of recently delivered messages per topic: during a rollover two
//! upstream connections carry the same stream, and each message must reach clients
//! once. Keys are hashed to 64 bits; the oldest are forgotten first.

use std::collections::hash_map::DefaultHasher;
use std::collections::{HashSet, VecDeque};
use std::hash::{Hash, Hasher};

use super::message::DedupeKey;

/// Recently seen keys of one topic.
#[derive(Debug)]
pub struct Seen {
    set: HashSet<u64>,
    order: VecDeque<u64>,
    cap: usize,
}

impl Seen {
    /// Remembers up to `cap` keys.
    pub fn new(cap: usize) -> Self {
        Self { set: HashSet::with_capacity(cap.min(1024)), order: VecDeque::with_capacity(cap.min(1024)), cap }
    }

    /// `true` the first time `key` is offered (and remembers it), `false` for a copy.
    pub fn first_time(&mut self, key: DedupeKey<'_>) -> bool {
        self.remember(hash(key))
    }

    /// Whether `key` was offered lately (without remembering it).
    pub fn contains(&self, key: DedupeKey<'_>) -> bool {
        self.set.contains(&hash(key))
    }

    fn remember(&mut self, k: u64) -> bool {
        if !self.set.insert(k) {
            return false;
        }
        self.order.push_back(k);
        if self.order.len() > self.cap
            && let Some(old) = self.order.pop_front()
        {
            self.set.remove(&old);
        }
        true
    }
}

fn hash(key: DedupeKey<'_>) -> u64 {
    let mut h = DefaultHasher::new();
    key.hash(&mut h);
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copies_are_refused_and_memory_stays_bounded() {
        let mut seen = Seen::new(3);
        assert!(seen.first_time(DedupeKey::Id("1")));
        assert!(!seen.first_time(DedupeKey::Id("1")));
        assert!(seen.first_time(DedupeKey::Time(1)), "a ticker time is not a trade id");
        assert!(seen.first_time(DedupeKey::Message(br#"{"channel":"trade"}"#)));
        assert!(seen.contains(DedupeKey::Message(br#"{"channel":"trade"}"#)), "a relayed copy");
        assert!(!seen.first_time(DedupeKey::Message(br#"{"channel":"trade"}"#)));
        for id in ["2", "3", "4"] {
            assert!(seen.first_time(DedupeKey::Id(id)));
        }
        assert_eq!(seen.order.len(), 3);
        assert!(seen.first_time(DedupeKey::Id("1")), "the oldest key is forgotten");
    }
}
