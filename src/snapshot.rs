//! `Snapshot`: one validated config joined with the state it runs on. The request path
//! loads it once (`ArcSwap`) and keeps that `Arc` to the end, so a reload never changes
//! the rules under a request in flight.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;
use std::time::SystemTime;

use crate::config::Config;
use crate::config::model::{ProviderConfig, RouteTarget};
use crate::metrics::Metrics;
use crate::state::{HostState, ProviderState, StateStore, host_key};
use crate::tls::TlsError;
use crate::upstream::client::UpstreamClient;
use crate::upstream::url::BaseUrl;

/// A config ready to serve.
pub struct Snapshot {
    /// The validated config.
    pub config: Arc<Config>,
    /// Increases by one on every successful load.
    pub version: u64,
    /// When it was loaded.
    pub loaded_at: SystemTime,
    /// Providers in config order, with their state.
    pub providers: Vec<ProviderRt>,
    by_name: HashMap<String, usize>,
    /// Round-robin cursors per route (by index in `config.routes`), one per tier.
    pub tier_cursors: Vec<Vec<AtomicUsize>>,
    /// The pooled upstream client.
    pub client: UpstreamClient,
}

/// A provider and its state.
pub struct ProviderRt {
    /// Its config.
    pub cfg: Arc<ProviderConfig>,
    /// Its state (carried over reloads).
    pub state: Arc<ProviderState>,
    /// Its hosts in rotation order.
    pub hosts: Vec<HostRt>,
}

/// A host and its state.
pub struct HostRt {
    /// The base URL.
    pub url: BaseUrl,
    /// Its state (carried over reloads).
    pub state: Arc<HostState>,
}

/// Creates the series a config will use, at zero, so dashboards and alerts see them
/// before the first event (Prometheus' advice for known label values).
fn init_series(config: &Config, metrics: &Metrics) {
    metrics.retry_budget_exhausted.with_label_values(&["raw"]);
    for r in &config.routes {
        let route = r.pattern.template();
        if let RouteTarget::Normalized(n) = &r.target {
            metrics.retry_budget_exhausted.with_label_values(&[route]);
            if n.cache.is_some() {
                for result in ["hit", "miss", "stale", "coalesced"] {
                    metrics.cache_requests.with_label_values(&[route, result]);
                }
            }
            if n.hedge.is_some() {
                metrics.hedges.with_label_values(&[route]);
            }
        }
    }
    for p in &config.providers {
        if p.quota.is_some() {
            metrics.quota_skips.with_label_values(&[&p.name]);
        }
        if p.auth.is_some() {
            metrics.keys_set_aside.with_label_values(&[&p.name]);
        }
    }
}

// === impl Snapshot ===

impl Snapshot {
    /// Joins `config` with carried-over state. The upstream client of `previous` is reused
    /// when the `[upstream]` settings did not change (its keep-alive pool survives).
    pub fn build(
        config: Config,
        store: &StateStore,
        metrics: &Metrics,
        previous: Option<&Snapshot>,
        version: u64,
    ) -> Result<Self, TlsError> {
        let client = match previous {
            Some(p) if p.client.settings() == &config.upstream => p.client.clone(),
            _ => UpstreamClient::new(&config.upstream)?,
        };
        let mut providers = Vec::new();
        for cfg in &config.providers {
            let (state, dropped) = store.provider(cfg);
            for label in dropped {
                metrics.forget_host(&cfg.name, &label);
            }
            let hosts = cfg
                .hosts
                .iter()
                .filter_map(|url| state.host(&host_key(url)).map(|s| HostRt { url: url.clone(), state: s }))
                .collect::<Vec<_>>();
            for h in &hosts {
                metrics.breaker(&cfg.name, h.url.label(), h.state.breaker().state());
            }
            providers.push(ProviderRt { cfg: Arc::clone(cfg), state, hosts });
        }
        let names: Vec<&str> = config.providers.iter().map(|p| p.name.as_str()).collect();
        for gone in store.retain(&names) {
            metrics.forget_provider(&gone);
            if let Some(prev) = previous.and_then(|p| p.provider(&gone)) {
                for h in &prev.hosts {
                    metrics.forget_host(&gone, h.url.label());
                }
            }
        }
        init_series(&config, metrics);
        let by_name = providers.iter().enumerate().map(|(i, p)| (p.cfg.name.clone(), i)).collect();
        let tier_cursors = config
            .routes
            .iter()
            .map(|r| match &r.target {
                RouteTarget::Normalized(n) => n.tiers.iter().map(|_| AtomicUsize::new(0)).collect(),
                RouteTarget::Passthrough(_) => Vec::new(),
            })
            .collect();
        Ok(Self {
            config: Arc::new(config),
            version,
            loaded_at: SystemTime::now(),
            providers,
            by_name,
            tier_cursors,
            client,
        })
    }

    /// The provider named `name`.
    pub fn provider(&self, name: &str) -> Option<&ProviderRt> {
        self.by_name.get(name).and_then(|&i| self.providers.get(i))
    }
}
