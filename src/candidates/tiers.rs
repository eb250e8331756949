//! A route's providers in pool order: tiers one after the other, providers round-robin
//! inside a tier (each tier's cursor lives in the compiled route).

use std::sync::atomic::Ordering;

use super::rotation::rotation;
use crate::snapshot::{PoolRt, ProviderRt, Snapshot};

/// Iterates providers tier by tier.
pub struct TierOrder<'a> {
    snap: &'a Snapshot,
    source: Source<'a>,
    tier: usize,
    order: Vec<usize>,
    pos: usize,
}

enum Source<'a> {
    Pool(&'a PoolRt),
    One(Option<&'a ProviderRt>),
}

// === impl TierOrder ===

impl<'a> TierOrder<'a> {
    /// A normalized route's pool.
    pub fn pool(snap: &'a Snapshot, pool: &'a PoolRt) -> Self {
        let mut t = Self { snap, source: Source::Pool(pool), tier: 0, order: Vec::new(), pos: 0 };
        t.enter(0);
        t
    }

    /// One provider (raw passthrough, probes).
    pub fn one(snap: &'a Snapshot, provider: &'a ProviderRt) -> Self {
        Self { snap, source: Source::One(Some(provider)), tier: 0, order: Vec::new(), pos: 0 }
    }

    /// The tier the last provider came from (0-based).
    pub fn tier(&self) -> usize {
        self.tier
    }

    /// Tiers not yet finished, the current one included (at least 1).
    pub fn tiers_left(&self) -> usize {
        match self.source {
            Source::Pool(p) => p.tiers.len().saturating_sub(self.tier).max(1),
            Source::One(_) => 1,
        }
    }

    fn enter(&mut self, tier: usize) {
        self.tier = tier;
        self.pos = 0;
        self.order = match self.source {
            Source::Pool(pool) => match (pool.tiers.get(tier), pool.cursors.get(tier)) {
                (Some(members), Some(cursor)) => {
                    rotation(members.len(), cursor.fetch_add(1, Ordering::Relaxed)).map(|i| members[i]).collect()
                }
                _ => Vec::new(),
            },
            Source::One(_) => Vec::new(),
        };
    }
}

impl<'a> Iterator for TierOrder<'a> {
    type Item = &'a ProviderRt;

    /// The next provider, if any.
    fn next(&mut self) -> Option<&'a ProviderRt> {
        match &mut self.source {
            Source::One(p) => p.take(),
            Source::Pool(pool) => {
                let tiers = pool.tiers.len();
                loop {
                    if let Some(&i) = self.order.get(self.pos) {
                        self.pos += 1;
                        if let Some(p) = self.snap.provider_at(i) {
                            return Some(p);
                        }
                        continue;
                    }
                    if self.tier + 1 >= tiers {
                        return None;
                    }
                    self.enter(self.tier + 1);
                }
            }
        }
    }
}
