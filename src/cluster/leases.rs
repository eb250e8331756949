//! Shared budgets spent through leases: a replica claims a slice of a provider's
//! windows (its `quota` window and `credits` period, the same slice from each) in one
//! script call ([`keys::CLAIM`]) and spends it locally, so most provider-bound requests
//! make no Redis round trip at all. A claim is counted in Redis before a single unit of
//! it is spent, so however many replicas claim, a window never passes its limit.
//!
//! Slices are sized from what is left: at most `room / (2 × replicas)` and at most
//! `limit / (8 × replicas)`, never less than the request's weight. Far from the limit a
//! replica claims often-enough-but-not-much (Binance's 6000 a minute over 3 replicas:
//! 250 at a time, a round trip per 250 weight); near it, slices shrink to one request's
//! weight, so the last units go to whoever asks first. What a replica has not spent
//! when it stops is given back; a slice it holds at a window's end is lost to that
//! window (at most one slice per replica per window). A refusal is
//! kept locally until its window ends: no Redis call is made for a budget known to be
//! spent. A new window, or a reload that changes a limit, starts a new lease. When a
//! quarter of a slice is left, the next one is claimed in the background, so a request
//! waits on Redis only when a lease runs dry faster than a round trip.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use serde::Serialize;

use super::redis::Op;
use super::{Cluster, keys};
use crate::config::model::Period;
use crate::snapshot::ProviderRt;
use crate::state::ProviderState;
use crate::state::quota::{Spent, unix_ms};
use crate::state::shared::SeenCount;
use crate::sync::lock;

/// One shared budget window of a provider.
#[derive(Debug, Clone)]
pub(super) struct SharedWindow {
    pub(super) key: String,
    pub(super) limit: u32,
    /// How long its key lives (ms).
    pub(super) ttl: u64,
    pub(super) which: Spent,
}

/// Every provider's lease on this replica, by provider (a window key names the scope,
/// so a new scope, like a new window, starts a new lease).
#[derive(Debug, Default)]
pub(super) struct Leases(std::sync::Mutex<HashMap<String, Lease>>);

/// What a replica holds of one provider's windows.
#[derive(Debug, Default, Clone)]
struct Lease {
    /// The windows (keys and limits) it is for.
    windows: Vec<(String, u32)>,
    /// Weight claimed and not spent yet.
    left: u64,
    /// The last slice claimed (a renewal starts when a quarter of it is left).
    slice: u64,
    /// A renewal is under way in the background.
    renewing: bool,
    /// A claim was refused: until this unix ms (that window's end), which window, and
    /// the weight it still had room for (a lighter request may still fit).
    spent: Option<(u64, Spent, u64)>,
}

/// One lease in `/api/system/cluster`.
#[derive(Debug, Serialize)]
pub struct LeaseView {
    /// Provider.
    pub provider: String,
    /// Weight claimed from Redis and not spent yet.
    pub left: u64,
    /// The window refused a claim: `quota` or `credits` (until it ends).
    pub spent: Option<&'static str>,
}

impl Lease {
    /// Whether it was claimed from exactly these windows (keys and limits).
    fn is_for(&self, windows: &[SharedWindow]) -> bool {
        self.windows.len() == windows.len()
            && self.windows.iter().zip(windows).all(|((key, limit), w)| *key == w.key && *limit == w.limit)
    }
}

/// `provider`'s lease, started anew when its windows changed (a new window, a new
/// scope, a reload that changed a limit). No allocation while they are the same.
fn current<'a>(
    leases: &'a mut HashMap<String, Lease>,
    provider: &str,
    windows: &[SharedWindow],
) -> Option<&'a mut Lease> {
    if !leases.contains_key(provider) {
        leases.insert(provider.to_owned(), Lease::default());
    }
    let lease = leases.get_mut(provider)?;
    if !lease.is_for(windows) {
        let windows = windows.iter().map(|w| (w.key.clone(), w.limit)).collect();
        *lease = Lease { windows, ..Lease::default() };
    }
    Some(lease)
}

impl Leases {
    /// The leases held now.
    pub(super) fn view(&self) -> Vec<LeaseView> {
        let mut out: Vec<LeaseView> = lock(&self.0)
            .iter()
            .map(|(k, l)| LeaseView {
                provider: k.clone(),
                left: l.left,
                spent: l.spent.filter(|(until, _, _)| unix_ms() < *until).map(|(_, w, _)| w.window()),
            })
            .collect();
        out.sort_by(|a, b| a.provider.cmp(&b.provider));
        out
    }
}

impl Cluster {
    /// Gives back what this replica claimed and did not spend (at shutdown), so the
    /// other replicas may spend it in the same window. Best effort, at most `within`.
    pub async fn give_back_leases(&self, within: std::time::Duration) {
        let held: Vec<Lease> = lock(&self.leases.0).drain().map(|(_, l)| l).filter(|l| l.left > 0).collect();
        for lease in held {
            let mut call = keys::SCRIPTS.give_back.prepare_invoke();
            call.arg(lease.left);
            for (key, _) in &lease.windows {
                call.key(key);
            }
            let back: Option<i64> =
                self.redis.background(Op::Quota, within, |mut c| async move { call.invoke_async(&mut c).await }).await;
            if back.is_some() {
                tracing::debug!(weight = lease.left, "gave back an unspent lease");
            }
        }
    }

    /// One [`keys::CLAIM`] call for `weight` over `windows`: its reply, or `None`.
    async fn claim(&self, windows: &[SharedWindow], weight: u32) -> Option<Vec<u64>> {
        let divisor = 2 * u64::from(self.cfg.replicas.max(1));
        let mut call = keys::SCRIPTS.claim.prepare_invoke();
        call.arg(weight).arg(divisor);
        for w in windows {
            call.key(&w.key).arg(w.limit).arg(w.ttl);
        }
        self.redis.request(Op::Quota, |mut c| async move { call.invoke_async(&mut c).await }).await
    }

    /// Claims the next slice before the lease runs out (in the background): added to
    /// the lease if its windows are still the current ones.
    async fn renew(&self, provider: &str, state: &ProviderState, windows: Vec<SharedWindow>, weight: u32) {
        let reply = self.claim(&windows, weight).await;
        let mut leases = lock(&self.leases.0);
        let Some(lease) = leases.get_mut(provider) else { return };
        lease.renewing = false;
        if let (Some(reply), true) = (reply, lease.is_for(&windows))
            && reply.first() == Some(&0)
        {
            let slice = reply.get(1).copied().unwrap_or_default();
            self.saw_counts(state, &windows, reply.get(2..).unwrap_or_default(), unix_ms());
            lease.left += slice;
            lease.slice = slice;
            self.counts.shared_takes.fetch_add(1, Ordering::Relaxed);
            self.metrics.lease_claims.with_label_values(&[provider]).inc();
            self.metrics.lease_left.with_label_values(&[provider]).set(i64::try_from(lease.left).unwrap_or(i64::MAX));
        }
    }

    /// The shared counts a claim returned (`used[i]` for `windows[i]`, all replicas):
    /// kept for the admin view, and this replica's local share of each window set to
    /// what is left of it (`used / replicas` spent). So when Redis goes away mid-window,
    /// each replica spends its part of what the window has left, not a whole share on
    /// top of what the replicas already spent through Redis.
    fn saw_counts(&self, state: &ProviderState, windows: &[SharedWindow], used: &[u64], now: u64) {
        let replicas = u64::from(self.cfg.replicas.max(1));
        for (w, &used) in windows.iter().zip(used) {
            let count = Some(SeenCount { used, until_ms: now + w.ttl.saturating_sub(keys::LINGER_MS) });
            let mut seen = lock(&state.shared_counts);
            match w.which {
                Spent::Rate => seen.rate = count,
                Spent::Credits => seen.credits = count,
            }
            drop(seen);
            let part = u32::try_from(used.div_ceil(replicas)).unwrap_or(u32::MAX);
            lock(&state.quota).sync_used(w.which, part, now);
        }
    }

    fn show_lease(&self, p: &ProviderRt, left: u64) {
        self.metrics.lease_left.with_label_values(&[&p.cfg.name]).set(i64::try_from(left).unwrap_or(i64::MAX));
    }

    /// `p`'s budget windows now: the `quota` window and the `credits` period.
    pub(super) fn windows(&self, p: &ProviderRt, now: u64) -> Vec<SharedWindow> {
        let scope = self.scope(p);
        let quota = p.cfg.quota.as_ref().map(|q| (Spent::Rate, q.limit, Period::Every(q.per)));
        let credits = p.cfg.credits.map(|c| (Spent::Credits, c.limit, c.per));
        [quota, credits]
            .into_iter()
            .flatten()
            .map(|(which, limit, period)| {
                let (key, ttl) = keys::window(&self.cfg.namespace, &p.cfg.name, scope, which.window(), period, now);
                SharedWindow { key, limit, ttl, which }
            })
            .collect()
    }

    /// Takes `weight` from `p`'s shared budgets, from this replica's lease when it holds
    /// enough, else by claiming a new slice: `None` when Redis could not be asked (take
    /// from the local share instead).
    pub async fn take(self: &Arc<Self>, p: &ProviderRt, weight: u32) -> Option<Result<(), Spent>> {
        let now = unix_ms();
        let windows = self.windows(p, now);
        if windows.is_empty() {
            return Some(Ok(()));
        }
        {
            let mut leases = lock(&self.leases.0);
            let lease = current(&mut leases, &p.cfg.name, &windows)?;
            if let Some((until, which, room)) = lease.spent {
                if now >= until {
                    lease.spent = None;
                } else if u64::from(weight) > room {
                    self.counts.shared_refusals.fetch_add(1, Ordering::Relaxed);
                    return Some(Err(which));
                }
            }
            if lease.left >= u64::from(weight) {
                lease.left -= u64::from(weight);
                self.counts.lease_takes.fetch_add(1, Ordering::Relaxed);
                self.show_lease(p, lease.left);
                // Renew before it runs out, off the request path.
                if lease.left < lease.slice / 4 && !lease.renewing && self.redis.usable() {
                    lease.renewing = true;
                    let (me, name, state) = (Arc::clone(self), p.cfg.name.clone(), Arc::clone(&p.state));
                    tokio::spawn(async move { me.renew(&name, &state, windows, weight).await });
                }
                return Some(Ok(()));
            }
        }
        if !self.redis.admits() {
            return None;
        }
        let reply = self.claim(&windows, weight).await?;
        let refused = reply.first().copied().unwrap_or(0) as usize;
        let mut leases = lock(&self.leases.0);
        let lease = current(&mut leases, &p.cfg.name, &windows)?;
        if refused == 0 {
            let slice = reply.get(1).copied().unwrap_or(u64::from(weight));
            self.saw_counts(&p.state, &windows, reply.get(2..).unwrap_or_default(), now);
            lease.left += slice.saturating_sub(u64::from(weight));
            lease.slice = slice;
            self.counts.shared_takes.fetch_add(1, Ordering::Relaxed);
            self.metrics.lease_claims.with_label_values(&[&p.cfg.name]).inc();
            self.show_lease(p, lease.left);
            return Some(Ok(()));
        }
        let w = windows.get(refused - 1)?;
        let used = reply.get(1).copied().unwrap_or(u64::from(w.limit));
        self.saw_counts(&p.state, std::slice::from_ref(w), &[used], now);
        let room = u64::from(w.limit).saturating_sub(used);
        lease.spent = Some((now + w.ttl.saturating_sub(keys::LINGER_MS), w.which, room));
        self.counts.shared_refusals.fetch_add(1, Ordering::Relaxed);
        Some(Err(w.which))
    }
}
