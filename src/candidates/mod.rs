//! The candidate order: which (provider, host) a request asks next.
//!
//! Tiers in order, providers round-robin inside a tier ([`tiers`]), hosts in rotation
//! inside a provider ([`hosts`]). A provider is passed over, and recorded as a skip,
//! when the caller's planner cannot use it (no mapping, no id) or when the [`gate`]
//! refuses it (disabled, benched, every breaker open, budget spent). The same order
//! serves every caller: the normalized failover loop and its hedges, raw passthrough
//! and its retries, and health probes, so none of them can reach a benched provider or
//! an open breaker by another road.

pub mod admitted;
pub mod gate;
pub mod hosts;
pub mod rotation;
pub mod tiers;

use std::sync::Arc;

use tokio::time::Instant;

pub use gate::Skip;
use hosts::HostOrder;
use tiers::TierOrder;

use crate::candidates::admitted::{Admitted, AttemptRecord};
use crate::metrics::Metrics;
use crate::snapshot::ProviderRt;

/// How to pick the next candidate after the last one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Advance {
    /// The current provider's next host (after a host-level fault), then the next
    /// provider once the provider's hosts for this request are used up.
    NextHost,
    /// The next provider.
    NextProvider,
}

/// One attempt to start: an admitted host of a provider, and what to ask it.
pub struct Candidate<'a, T> {
    /// The provider.
    pub provider: &'a ProviderRt,
    /// The caller's plan for this provider.
    pub plan: Arc<T>,
    /// Quota weight of one request of the plan.
    pub weight: u32,
    /// The admitted host.
    pub admitted: Admitted<'a>,
    /// The tier it came from (0-based).
    pub tier: usize,
}

/// What a planner says about a provider: its plan and the weight of one request.
pub type Planned<T> = Result<(T, u32), Skip>;

/// Walks providers and hosts.
pub struct Candidates<'a, T> {
    metrics: &'a Metrics,
    providers: TierOrder<'a>,
    current: Option<Current<'a, T>>,
    every_host: bool,
}

struct Current<'a, T> {
    plan: Arc<T>,
    weight: u32,
    hosts: HostOrder<'a>,
    tier: usize,
}

// === impl Candidates ===

impl<'a, T> Candidates<'a, T> {
    /// Candidates from `providers`.
    pub fn new(providers: TierOrder<'a>, metrics: &'a Metrics) -> Self {
        Self { metrics, providers, current: None, every_host: false }
    }

    /// Lets a request try every host of a provider (raw passthrough has no other
    /// provider to move on to), not only `max_hosts_per_request`.
    pub fn every_host(mut self) -> Self {
        self.every_host = true;
        self
    }

    /// Tiers not yet finished (the current one included).
    pub fn tiers_left(&self) -> usize {
        self.providers.tiers_left()
    }

    /// The next candidate. `plan` decides whether (and how) a provider takes part; every
    /// provider passed over is appended to `skips`.
    pub fn next(
        &mut self,
        advance: Advance,
        plan: &mut dyn FnMut(&'a ProviderRt) -> Planned<T>,
        skips: &mut Vec<AttemptRecord>,
    ) -> Option<Candidate<'a, T>> {
        // One reading of the clock for the whole decision: the gate, the breakers and
        // the attempt's start see the same instant.
        let now = Instant::now();
        if advance == Advance::NextHost
            && let Some(c) = self.next_host(now)
        {
            return Some(c);
        }
        self.current = None;
        loop {
            let provider = self.providers.next()?;
            if let Some(reason) = &provider.cfg.disabled {
                skips.push(AttemptRecord::skip(provider, crate::breaker::Outcome::Disabled, reason.clone()));
                continue;
            }
            let (plan, weight) = match plan(provider) {
                Ok(p) => p,
                Err(skip) => {
                    skips.push(AttemptRecord::skip(provider, skip.outcome, skip.detail));
                    continue;
                }
            };
            if let Err(skip) = gate::check(provider, weight, now) {
                skips.push(AttemptRecord::skip(provider, skip.outcome, skip.detail));
                continue;
            }
            let limit = if self.every_host { provider.hosts.len() } else { provider.cfg.max_hosts_per_request };
            let hosts = HostOrder::new(provider, limit);
            let tier = self.providers.tier();
            self.current = Some(Current { plan: Arc::new(plan), weight, hosts, tier });
            if let Some(c) = self.next_host(now) {
                return Some(c);
            }
        }
    }

    /// The current provider's next admitted host.
    fn next_host(&mut self, now: Instant) -> Option<Candidate<'a, T>> {
        let cur = self.current.as_mut()?;
        let admitted = cur.hosts.next(self.metrics, now)?;
        Some(Candidate {
            provider: cur.hosts.provider(),
            plan: Arc::clone(&cur.plan),
            weight: cur.weight,
            admitted,
            tier: cur.tier,
        })
    }
}

#[cfg(test)]
mod tests;
