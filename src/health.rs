//! Active health checks (optional per provider): a probe success closes an open breaker
//! early; a failure opens a closed one before a client request pays for it. Probes
//! count against the provider's quota and are skipped when it is spent.

use std::sync::Arc;
use std::time::Duration;

use http::Request;
use tokio::sync::watch;
use tokio::time::Instant;

use crate::app::AppState;
use crate::breaker::Transition;
use crate::proxy::body::empty;
use crate::proxy::quota;
use crate::snapshot::{HostRt, ProviderRt, Snapshot};

/// Tick of the probe scheduler; each provider is probed at its own interval.
const TICK: Duration = Duration::from_millis(250);

/// Runs probes until `stop` flips.
pub async fn probe_forever(state: Arc<AppState>, mut stop: watch::Receiver<bool>) {
    let mut last: std::collections::HashMap<String, Instant> = std::collections::HashMap::new();
    let mut ticker = tokio::time::interval(TICK);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = crate::app::stopped(&mut stop) => return,
            _ = ticker.tick() => {}
        }
        let snap = state.snapshot.load_full();
        for p in &snap.providers {
            let Some(check) = &p.cfg.health_check else {
                continue;
            };
            if p.cfg.disabled.is_some() {
                continue;
            }
            let now = Instant::now();
            if last.get(&p.cfg.name).is_some_and(|t| now < *t + check.interval) {
                continue;
            }
            last.insert(p.cfg.name.clone(), now);
            let (st, sn) = (Arc::clone(&state), Arc::clone(&snap));
            let name = p.cfg.name.clone();
            tokio::spawn(async move {
                if let Some(p) = sn.provider(&name) {
                    probe_provider(&st, &sn, p).await;
                }
            });
        }
    }
}

async fn probe_provider(state: &AppState, snap: &Snapshot, p: &ProviderRt) {
    let Some(check) = &p.cfg.health_check else {
        return;
    };
    for host in &p.hosts {
        if !quota::take(p, check.weight, &state.metrics) {
            return;
        }
        let ok = probe(snap, p, host, &check.path, check.expect).await;
        let transition =
            if ok { host.state.breaker().force_close() } else { host.state.breaker().force_open(Instant::now()) };
        if let Some(t) = transition {
            state.metrics.breaker(&p.cfg.name, host.url.label(), host.state.breaker().state());
            match t {
                Transition::Opened { .. } => {
                    tracing::warn!(provider = %p.cfg.name, host = %host.url.label(), "health probe failed: breaker opened")
                }
                _ => {
                    tracing::info!(provider = %p.cfg.name, host = %host.url.label(), "health probe succeeded: breaker closed")
                }
            }
        }
    }
}

async fn probe(snap: &Snapshot, p: &ProviderRt, host: &HostRt, path: &str, expect: u16) -> bool {
    let Ok(uri) = host.url.join(path) else {
        return false;
    };
    let mut req = Request::new(empty());
    *req.uri_mut() = uri;
    match snap.client.send(req, p.cfg.attempt_timeout).await {
        Ok(resp) => resp.status().as_u16() == expect,
        Err(_) => false,
    }
}
