//! Candidate selection for the failover loop: tiers in order, providers round-robin
//! inside a tier, hosts in rotation inside a provider. Providers that cannot take part
//! (disabled, unsupported, benched, every breaker open, over quota) are recorded as
//! skips and passed over.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use tokio::time::Instant;

use super::failover::Request;
use super::plan::Plan;
use crate::breaker::Outcome;
use crate::proxy::attempts::{Admitted, AttemptRecord, HostCursor};
use crate::proxy::quota;
use crate::snapshot::ProviderRt;

/// How to pick the next candidate after a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Advance {
    /// The current provider's next host (a host-level fault).
    NextHost,
    /// The next provider.
    NextProvider,
}

/// One attempt to start.
pub struct Candidate<'a> {
    /// The provider.
    pub provider: &'a ProviderRt,
    /// What to ask it.
    pub plan: Arc<Plan>,
    /// The admitted host.
    pub admitted: Admitted<'a>,
}

/// Walks the route's pool.
pub struct Picker<'a> {
    r: &'a Request<'a>,
    now_ms: i64,
    tier: usize,
    order: Vec<usize>,
    pos: usize,
    current: Option<Current<'a>>,
}

struct Current<'a> {
    provider: &'a ProviderRt,
    plan: Arc<Plan>,
    cursor: HostCursor<'a>,
    weight: u32,
}

// === impl Picker ===

impl<'a> Picker<'a> {
    /// Starts before the first tier.
    pub fn new(r: &'a Request<'a>, now_ms: i64) -> Self {
        Self { r, now_ms, tier: 0, order: Vec::new(), pos: 0, current: None }.with_tier(0)
    }

    fn with_tier(mut self, tier: usize) -> Self {
        self.enter_tier(tier);
        self
    }

    fn enter_tier(&mut self, tier: usize) {
        self.tier = tier;
        self.pos = 0;
        self.order = match self.r.route.tiers.get(tier) {
            Some(names) => {
                let cursor = self.r.snap.tier_cursors.get(self.r.route_index).and_then(|c| c.get(tier));
                let start = cursor.map_or(0, |c| c.fetch_add(1, Ordering::Relaxed));
                crate::pool::rotation(names.len(), start).collect()
            }
            None => Vec::new(),
        };
    }

    /// The next candidate, recording skips in `attempts`.
    pub fn next(&mut self, advance: Advance, attempts: &mut Vec<AttemptRecord>) -> Option<Candidate<'a>> {
        if advance == Advance::NextHost
            && let Some(c) = self.next_host(attempts)
        {
            return Some(c);
        }
        self.current = None;
        loop {
            let provider = self.next_provider()?;
            if self.r.forwarded && provider.cfg.kind == crate::config::model::ProviderKind::Marketgate {
                let detail = "request already forwarded by another marketgate";
                attempts.push(AttemptRecord::skip(provider, Outcome::Unsupported, detail));
                continue;
            }
            let plan = match Plan::new(&provider.cfg, self.r.req, self.now_ms) {
                Ok(p) => Arc::new(p),
                Err(skip) => {
                    attempts.push(AttemptRecord::skip(provider, skip.outcome, skip.detail));
                    continue;
                }
            };
            if let Some(bench) = provider.state.benched(Instant::now()) {
                let detail = format!("rate-limited: benched after HTTP {}", bench.status);
                attempts.push(AttemptRecord::skip(provider, Outcome::Unavailable, detail));
                continue;
            }
            if !HostCursor::any_admitting(provider) {
                attempts.push(AttemptRecord::skip(provider, Outcome::Unavailable, "every host's breaker is open"));
                continue;
            }
            let per_request = provider.cfg.ops.get(&self.r.req.op).map_or(1, |m| m.weight);
            let weight = per_request.saturating_mul(plan.requests.len() as u32);
            self.current = Some(Current { provider, plan, cursor: HostCursor::new(provider), weight });
            if let Some(c) = self.next_host(attempts) {
                return Some(c);
            }
        }
    }

    /// The current provider's next admitted host, after taking its quota.
    fn next_host(&mut self, attempts: &mut Vec<AttemptRecord>) -> Option<Candidate<'a>> {
        let cur = self.current.as_mut()?;
        if !HostCursor::any_admitting(cur.provider) {
            return None;
        }
        let admitted = cur.cursor.next_admitted(&self.r.state.metrics)?;
        if !quota::take(cur.provider, cur.weight, &self.r.state.metrics) {
            admitted.release();
            attempts.push(AttemptRecord::skip(
                cur.provider,
                Outcome::OverQuota,
                "request budget spent for this window",
            ));
            self.current = None;
            return None;
        }
        Some(Candidate { provider: cur.provider, plan: Arc::clone(&cur.plan), admitted })
    }

    fn next_provider(&mut self) -> Option<&'a ProviderRt> {
        loop {
            let names = self.r.route.tiers.get(self.tier)?;
            match self.order.get(self.pos) {
                Some(&i) => {
                    self.pos += 1;
                    if let Some(p) = names.get(i).and_then(|n| self.r.snap.provider(n)) {
                        return Some(p);
                    }
                }
                None => self.enter_tier(self.tier + 1),
            }
        }
    }
}
