//! Active health checks (optional per provider). A probe is an ordinary request through
//! the candidate order and the exchange: it passes the same gate (no probe reaches a
//! disabled, benched or over-quota provider), carries the provider's key and
//! marketgate's User-Agent, takes its quota weight, and is recorded like any attempt.
//! It is its host's breaker trial: sent at the probe interval even while the breaker
//! is open, and its verdict is decisive: a success closes the breaker at once (a
//! recovered host is back long before `open_for` ends), a failure opens it before a
//! client request pays for it.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

use crate::breaker::Outcome;
use crate::candidates::admitted::{Report, Verdict};
use crate::candidates::gate;
use crate::candidates::hosts::HostOrder;
use crate::gateway::{Gateway, Via};
use crate::snapshot::{ProviderRt, Snapshot};
use crate::upstream::exchange::{Exchange, Outgoing, report};

/// Tick of the probe scheduler; each provider is probed at its own interval.
const TICK: Duration = Duration::from_millis(250);

/// Runs probes until `stop` flips.
pub async fn probe_forever(gw: Arc<Gateway>, mut stop: watch::Receiver<bool>) {
    let mut last: HashMap<String, Instant> = HashMap::new();
    let mut ticker = tokio::time::interval(TICK);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = crate::shutdown::stopped(&mut stop) => return,
            _ = ticker.tick() => {}
        }
        let snap = gw.snapshot();
        for p in &snap.providers {
            let Some(check) = &p.cfg.health_check else {
                continue;
            };
            let now = Instant::now();
            if last.get(&p.cfg.name).is_some_and(|t| now < *t + check.interval) {
                continue;
            }
            last.insert(p.cfg.name.clone(), now);
            let (gw, snap, index) = (Arc::clone(&gw), Arc::clone(&snap), p.index);
            tokio::spawn(async move {
                if let Some(p) = snap.provider_at(index) {
                    probe_provider(&gw, &snap, p).await;
                }
            });
        }
    }
}

/// Probes every host of `p` that may be asked now.
pub async fn probe_provider(gw: &Gateway, snap: &Snapshot, p: &ProviderRt) {
    let Some(check) = &p.cfg.health_check else {
        return;
    };
    let exchange = Exchange { snap, metrics: &gw.metrics, via: gw.via_out(&Via::Client), cluster: gw.cluster() };
    for index in 0..p.hosts.len() {
        if gate::check(p, check.weight, Instant::now()).is_err() {
            return;
        }
        let Some(admitted) = HostOrder::probe(p, index, &gw.metrics) else {
            return;
        };
        let out = Outgoing::get(check.path.clone(), check.weight, p.cfg.attempt_timeout);
        let result = match exchange.send(&admitted, out).await {
            Ok(resp) if resp.status().as_u16() == check.expect => Ok(()),
            Ok(resp) => Err(crate::upstream::classify::Failure::new(
                Outcome::BadBody,
                format!("health probe expected HTTP {}, got {}", check.expect, resp.status().as_u16()),
            )),
            Err(refused) => Err(refused.explained(&p.secrets()).await),
        };
        match result {
            Ok(()) => {
                admitted.finish(Outcome::Ok, Report { verdict: Verdict::Decisive, ..Report::default() });
            }
            Err(f) if f.outcome == Outcome::OverQuota => {
                admitted.release();
                return;
            }
            Err(f) => {
                admitted.finish(f.outcome, Report { verdict: Verdict::Decisive, ..report(&f) });
            }
        }
    }
}
