//! What this replica spent from its local share while a cluster is configured (a claim
//! that failed or was too slow, or Redis out of reach). Redis never counted it, so
//! without this the other replicas could spend the same weight again in the same
//! window, up to one local share per replica. It is kept here, per window key, and
//! the heartbeat adds it to the window's shared count as soon as Redis answers
//! ([`keys::ADD`]). A window that ends first is dropped: nobody counts it any more.
//!
//! Pure bookkeeping: the time is passed in as Unix ms.

use std::collections::HashMap;

use super::keys;
use super::leases::SharedWindow;

/// Weight spent locally and not yet counted in Redis, by window key.
#[derive(Debug, Default)]
pub(super) struct Debts(HashMap<String, Debt>);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Debt {
    weight: u64,
    /// When the window ends (unix ms): after that, the debt is dropped.
    ends_at_ms: u64,
    /// When its key expires (the window's end plus [`keys::LINGER_MS`]).
    expires_at_ms: u64,
}

/// One window's debt to add to Redis.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Due {
    pub(super) key: String,
    pub(super) weight: u64,
    /// The key's ttl from now (ms), for a key the add creates.
    pub(super) ttl: u64,
}

impl Debts {
    /// `weight` taken from the local share at `now`, in each of `windows`.
    pub(super) fn add(&mut self, windows: &[SharedWindow], weight: u32, now: u64) {
        self.prune(now);
        for w in windows {
            let expires_at_ms = now + w.ttl;
            let ends_at_ms = expires_at_ms.saturating_sub(keys::LINGER_MS);
            if ends_at_ms <= now {
                continue;
            }
            let debt = self.0.entry(w.key.clone()).or_insert(Debt { weight: 0, ends_at_ms, expires_at_ms });
            debt.weight += u64::from(weight);
        }
    }

    /// The debts of windows still running at `now` (the ended ones are dropped).
    pub(super) fn due(&mut self, now: u64) -> Vec<Due> {
        self.prune(now);
        let mut out: Vec<Due> = self
            .0
            .iter()
            .map(|(key, d)| Due { key: key.clone(), weight: d.weight, ttl: d.expires_at_ms - now })
            .collect();
        out.sort_by(|a, b| a.key.cmp(&b.key));
        out
    }

    /// `weight` of `key`'s debt was added to Redis (more may have been spent since).
    pub(super) fn paid(&mut self, key: &str, weight: u64) {
        if let Some(d) = self.0.get_mut(key) {
            d.weight = d.weight.saturating_sub(weight);
            if d.weight == 0 {
                self.0.remove(key);
            }
        }
    }

    /// Weight owed in all windows.
    pub(super) fn owed(&self) -> u64 {
        self.0.values().map(|d| d.weight).sum()
    }

    fn prune(&mut self, now: u64) {
        self.0.retain(|_, d| d.ends_at_ms > now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::quota::Spent;

    fn window(key: &str, ends_in: u64) -> SharedWindow {
        SharedWindow { key: key.to_owned(), limit: 100, ttl: ends_in + keys::LINGER_MS, which: Spent::Rate }
    }

    #[test]
    fn local_spends_add_up_per_window_until_paid() {
        let mut d = Debts::default();
        let both = [window("quota:1m:7", 30_000), window("credits:month:3", 900_000)];
        d.add(&both, 2, 1_000);
        d.add(&both[..1], 3, 2_000);
        let due = d.due(2_000);
        assert_eq!(
            due.iter().map(|x| (x.key.as_str(), x.weight)).collect::<Vec<_>>(),
            vec![("credits:month:3", 2), ("quota:1m:7", 5)]
        );
        // The ttl still ends where the first spend said the key expires.
        assert_eq!(due[1].ttl, 30_000 + keys::LINGER_MS - 1_000);
        // One more spend while the add was under way stays owed.
        d.add(&both[..1], 1, 2_500);
        d.paid("quota:1m:7", 5);
        d.paid("credits:month:3", 2);
        assert_eq!(d.due(3_000).iter().map(|x| x.weight).collect::<Vec<_>>(), vec![1]);
        d.paid("quota:1m:7", 1);
        assert_eq!(d.owed(), 0);
        assert!(d.due(3_000).is_empty());
    }

    #[test]
    fn a_window_that_ended_is_dropped_not_added_to_the_next() {
        let mut d = Debts::default();
        d.add(&[window("quota:1m:7", 10_000)], 4, 0);
        assert_eq!(d.owed(), 4);
        // Redis came back after the window ended: nothing is due.
        assert!(d.due(10_000).is_empty());
        assert_eq!(d.owed(), 0);
        // A spend in the next window is owed to the next window's key only.
        d.add(&[window("quota:1m:8", 60_000)], 1, 10_001);
        assert_eq!(d.due(10_001).iter().map(|x| x.key.as_str()).collect::<Vec<_>>(), vec!["quota:1m:8"]);
    }
}
