//! Benches and lifts shared between replicas: a rate limit seen here benches the
//! provider on every replica (stored in Redis for those that connect later and
//! published on the event channel), and an operator's lift (a bench, a breaker) reaches
//! every replica the same way.

use std::sync::atomic::Ordering;
use std::time::Duration;

use super::redis::Op;
use super::{Cluster, events, keys};

impl Cluster {
    /// Stores a bench seen here and tells the other replicas.
    pub(super) async fn announce_bench(&self, provider: &str, status: u16, for_: Duration) {
        let scope = {
            let snap = self.slot.load();
            let Some(p) = snap.provider(provider) else { return };
            self.scope(p).to_owned()
        };
        let key = keys::bench(&self.cfg.namespace, provider, &scope);
        let ms = for_.as_millis().max(1) as u64;
        let mut call = keys::SCRIPTS.bench.prepare_invoke();
        call.key(&key).arg(self.seal.seal_str(&status.to_string())).arg(ms);
        let event =
            events::Event::Bench { from: self.instance.clone(), provider: provider.to_owned(), scope, status, ms };
        let message = event.sealed(&self.seal);
        let channel = keys::events(&self.cfg.namespace);
        let within = Duration::from_millis(500);
        let stored: Option<i64> = self
            .redis
            .background(Op::Bench, within, |mut c| async move {
                let set: i64 = call.invoke_async(&mut c).await?;
                ::redis::cmd("PUBLISH").arg(&channel).arg(&message).query_async::<i64>(&mut c).await?;
                Ok(set)
            })
            .await;
        if stored.is_some() {
            tracing::info!(provider, status, bench_ms = ms, "bench shared with the other replicas");
        }
    }

    /// Tells every replica that an operator lifted `provider`'s bench (`host` absent:
    /// the shared bench is deleted too, so a replica that reconnects does not read it
    /// back) or reset `host`'s breaker. Best effort: `false` when Redis did not take it.
    pub async fn lift(&self, provider: &str, host: Option<&str>) -> bool {
        let scope = {
            let snap = self.slot.load();
            let Some(p) = snap.provider(provider) else { return false };
            self.scope(p).to_owned()
        };
        let key = keys::bench(&self.cfg.namespace, provider, &scope);
        let event = events::Event::Lift {
            from: self.instance.clone(),
            provider: provider.to_owned(),
            scope,
            host: host.map(str::to_owned),
        };
        let (message, channel, delete) = (event.sealed(&self.seal), keys::events(&self.cfg.namespace), host.is_none());
        let done: Option<i64> = self
            .redis
            .background(Op::Bench, Duration::from_millis(500), |mut c| async move {
                if delete {
                    ::redis::cmd("DEL").arg(&key).query_async::<i64>(&mut c).await?;
                }
                ::redis::cmd("PUBLISH").arg(&channel).arg(&message).query_async::<i64>(&mut c).await
            })
            .await;
        done.is_some()
    }

    /// Applies a lift another replica announced (its operator lifted a bench or reset a
    /// breaker), if it concerns this replica's scope; audited here too.
    pub(super) fn lift_from_peer(&self, from: &str, provider: &str, scope: &str, host: Option<&str>) {
        let snap = self.slot.load();
        let Some(p) = snap.provider(provider) else { return };
        if self.scope(p) != scope || p.lift(host, &self.metrics).is_none() {
            return;
        }
        tracing::warn!(provider, host, from, "lifted by an operator on another replica");
        let action = if host.is_some() { "breaker_reset" } else { "unbench" };
        let replica = crate::audit::Source::Cluster { replica: from.to_owned() };
        self.audit.record(crate::audit::Record {
            target: Some(host.map_or_else(|| provider.to_owned(), |h| format!("{provider}/{h}"))),
            ..crate::audit::Record::new(action, replica, "ok")
        });
    }

    /// Applies a bench another replica announced, if it concerns this replica's scope.
    pub(super) fn bench_from_peer(&self, provider: &str, scope: &str, status: u16, ms: u64) {
        let snap = self.slot.load();
        let Some(p) = snap.provider(provider) else { return };
        if self.scope(p) != scope {
            return;
        }
        // Only a status that benches this provider here benches it from a peer.
        let rate_limit = p.cfg.rate_limit.statuses.contains(&status) || matches!(status, 418 | 429);
        if !rate_limit && status != crate::bench::BLOCKED_STATUS {
            self.refuse("bench", "a bench with a status that benches nothing");
            return;
        }
        p.state.bench_from_peer(Duration::from_millis(ms), status, tokio::time::Instant::now());
        self.counts.peer_benches.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(provider, status, bench_ms = ms, "benched: another replica was rate-limited");
    }
}
