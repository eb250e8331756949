//! `Snapshot`: one validated config compiled for serving and joined with the state it
//! runs on. Routes carry their tiers as provider indexes and their own round-robin
//! cursors; providers and hosts carry their state. The request path loads a snapshot
//! once and keeps that `Arc` to the end, so a reload never changes the rules under a
//! request in flight.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;
use std::time::SystemTime;

use http::HeaderValue;

use crate::config::Config;
use crate::config::model::{NormalizedRoute, ProviderConfig, RouteConfig, RouteTarget};
use crate::metrics::Metrics;
use crate::metrics::handles::{HostHandles, ProviderHandles, RouteHandles};
use crate::state::{HostState, ProviderState, StateStore, host_key};
use crate::tls::TlsError;
use crate::transport::client::UpstreamClient;
use crate::transport::url::BaseUrl;

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
    /// Routes, most specific first, compiled.
    pub routes: Vec<RouteRt>,
    /// Series of requests no route matched, refused before routing, or sent to the app.
    pub unrouted: Unrouted,
    /// The pooled upstream client.
    pub client: UpstreamClient,
    /// The OpenAPI document of this config, built on first request.
    pub openapi: std::sync::OnceLock<bytes::Bytes>,
    /// `upstream.user_agent` as a header value.
    pub user_agent: HeaderValue,
}

/// The pseudo-routes of requests that matched no route.
#[derive(Default)]
pub struct Unrouted {
    /// Refused before routing (absolute form, CONNECT, long URI).
    pub refused: RouteHandles,
    /// Sent to the fronted app.
    pub app: RouteHandles,
    /// No route and no app.
    pub none: RouteHandles,
    /// `GET /openapi.json`.
    pub openapi: RouteHandles,
}

/// A provider and its state.
pub struct ProviderRt {
    /// Its index in [`Snapshot::providers`].
    pub index: usize,
    /// Its config.
    pub cfg: Arc<ProviderConfig>,
    /// Its state (carried over reloads).
    pub state: Arc<ProviderState>,
    /// Its hosts in rotation order.
    pub hosts: Vec<HostRt>,
    /// Its name, shared (the access log takes it without a copy).
    pub name: Arc<str>,
    /// Its name as a header value (`x-marketgate-provider`).
    pub name_header: Option<HeaderValue>,
    /// Its metric handles.
    pub handles: ProviderHandles,
    /// Its budget scope in the cluster (`ip:<egress>` or `key:<fingerprint>`), worked
    /// out once per snapshot on first use.
    pub cluster_scope: std::sync::OnceLock<String>,
}

// === impl ProviderRt ===

impl ProviderRt {
    /// Every secret sent to this provider now (header values and the keys in use, a
    /// rotated key file's included), for redaction.
    pub fn secrets(&self) -> Vec<String> {
        let keys = self.state.keys();
        let mut out: Vec<String> = self.cfg.secrets().into_iter().map(str::to_owned).collect();
        out.extend(keys.iter().map(|k| k.expose().to_owned()).filter(|k| !k.is_empty()));
        out
    }

    /// An operator's lift, here: the provider's bench (`host` absent) or one host's
    /// breaker. `Some(true)` when there was something to lift, `None` for a host this
    /// provider does not have.
    pub fn lift(&self, host: Option<&str>, metrics: &Metrics) -> Option<bool> {
        let Some(label) = host else { return Some(self.state.lift_bench()) };
        let h = self.hosts.iter().find(|h| h.url.label() == label)?;
        let changed = h.state.reset_breaker();
        metrics.breaker(&self.cfg.name, label, h.state.breaker().state());
        Some(changed)
    }
}

/// A host and its state.
pub struct HostRt {
    /// The base URL.
    pub url: BaseUrl,
    /// Its state (carried over reloads).
    pub state: Arc<HostState>,
    /// Its label as a header value (`x-marketgate-host`).
    pub label_header: Option<HeaderValue>,
    /// Its metric handles.
    pub handles: HostHandles,
}

/// A compiled route.
pub struct RouteRt {
    /// Its config.
    pub cfg: Arc<RouteConfig>,
    /// What serves it, resolved.
    pub target: TargetRt,
    /// Its metric handles.
    pub handles: RouteHandles,
}

/// A route's target with provider names resolved to indexes.
pub enum TargetRt {
    /// A normalized operation over a pool.
    Normalized(PoolRt),
    /// Raw passthrough.
    Passthrough(Passthrough),
    /// Live streams.
    Stream(crate::config::model::stream::StreamRoute),
}

/// Which provider a raw passthrough route forwards to.
pub enum Passthrough {
    /// Always this one (an index into [`Snapshot::providers`]).
    Provider(usize),
    /// The one the `{provider}` path parameter names.
    FromPath,
    /// A configured name with no provider (validation prevents it; answered 404).
    Missing(String),
}

/// A normalized route's pool: tiers of provider indexes, one cursor per tier.
pub struct PoolRt {
    /// Tiers, in order; each a list of indexes into [`Snapshot::providers`].
    pub tiers: Vec<Vec<usize>>,
    /// Round-robin position of each tier.
    pub cursors: Vec<AtomicUsize>,
}

/// Drops the series of the previous snapshot's routes that `config` no longer has.
fn forget_routes(previous: &Snapshot, config: &Config, metrics: &Metrics) {
    let kept: std::collections::HashSet<&str> = config.routes.iter().map(|r| r.pattern.template()).collect();
    for r in previous.routes.iter().filter(|r| !kept.contains(r.label())) {
        metrics.forget_route(r.label());
    }
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
                for result in crate::metrics::forget::CACHE_RESULTS {
                    metrics.cache_requests.with_label_values(&[route, result]);
                }
            }
            if n.hedge.is_some() {
                metrics.hedges.with_label_values(&[route]);
            }
        }
    }
    for p in &config.providers {
        metrics.items_dropped.with_label_values(&[&p.name]);
        if p.quota.is_some() {
            metrics.quota_skips.with_label_values(&[&p.name]);
        }
        if p.quota.is_some() || p.credits.is_some() {
            // 0 on a single replica: its budgets are never leased.
            metrics.lease_claims.with_label_values(&[&p.name]);
            metrics.lease_left.with_label_values(&[&p.name]);
        }
        if p.auth.is_some() {
            metrics.keys_set_aside.with_label_values(&[&p.name]);
        }
        if p.stream.is_some() {
            let s = &metrics.stream;
            s.upstream_connections.with_label_values(&[&p.name]);
            for direction in ["in", "out", "invalid"] {
                s.messages.with_label_values(&[&p.name, direction]);
            }
            s.dropped.with_label_values(&[&p.name]);
            s.reconnects.with_label_values(&[&p.name]);
            s.fallback.with_label_values(&[&p.name]);
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
        for (index, cfg) in config.providers.iter().enumerate() {
            let (state, dropped) = store.provider(cfg);
            for label in dropped {
                metrics.forget_host(&cfg.name, &label);
            }
            let hosts = cfg
                .hosts
                .iter()
                .filter_map(|url| {
                    state.host(&host_key(url)).map(|s| HostRt {
                        url: url.clone(),
                        state: s,
                        label_header: HeaderValue::from_str(url.label()).ok(),
                        handles: HostHandles::default(),
                    })
                })
                .collect::<Vec<_>>();
            for h in &hosts {
                metrics.breaker(&cfg.name, h.url.label(), h.state.breaker().state());
            }
            let name_header = HeaderValue::from_str(&cfg.name).ok();
            let handles = ProviderHandles::default();
            let name = Arc::from(cfg.name.as_str());
            providers.push(ProviderRt {
                index,
                cfg: Arc::clone(cfg),
                state,
                hosts,
                name,
                name_header,
                handles,
                cluster_scope: std::sync::OnceLock::new(),
            });
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
        if let Some(prev) = previous {
            forget_routes(prev, &config, metrics);
        }
        init_series(&config, metrics);
        let by_name: HashMap<String, usize> =
            providers.iter().enumerate().map(|(i, p)| (p.cfg.name.clone(), i)).collect();
        let routes = config.routes.iter().map(|r| compile_route(r, &by_name)).collect();
        let user_agent = HeaderValue::from_str(&config.upstream.user_agent)
            .unwrap_or_else(|_| HeaderValue::from_static(concat!("marketgate/", env!("CARGO_PKG_VERSION"))));
        Ok(Self {
            config: Arc::new(config),
            version,
            loaded_at: SystemTime::now(),
            providers,
            by_name,
            routes,
            unrouted: Unrouted::default(),
            client,
            openapi: std::sync::OnceLock::new(),
            user_agent,
        })
    }

    /// The provider named `name`.
    pub fn provider(&self, name: &str) -> Option<&ProviderRt> {
        self.by_name.get(name).and_then(|&i| self.providers.get(i))
    }

    /// The provider at `index`.
    pub fn provider_at(&self, index: usize) -> Option<&ProviderRt> {
        self.providers.get(index)
    }
}

fn compile_route(cfg: &Arc<RouteConfig>, by_name: &HashMap<String, usize>) -> RouteRt {
    let target = match &cfg.target {
        RouteTarget::Normalized(n) => TargetRt::Normalized(compile_pool(n, by_name)),
        RouteTarget::Passthrough(None) => TargetRt::Passthrough(Passthrough::FromPath),
        RouteTarget::Passthrough(Some(name)) => TargetRt::Passthrough(match by_name.get(name.as_str()) {
            Some(&i) => Passthrough::Provider(i),
            None => Passthrough::Missing(name.clone()),
        }),
        RouteTarget::Stream(s) => TargetRt::Stream(s.clone()),
    };
    RouteRt { cfg: Arc::clone(cfg), target, handles: RouteHandles::default() }
}

/// Validation guarantees every name exists; a name that does not is left out.
fn compile_pool(route: &NormalizedRoute, by_name: &HashMap<String, usize>) -> PoolRt {
    let tiers: Vec<Vec<usize>> = route
        .tiers
        .iter()
        .map(|tier| tier.iter().filter_map(|name| by_name.get(name.as_str()).copied()).collect())
        .collect();
    let cursors = tiers.iter().map(|_| AtomicUsize::new(0)).collect();
    PoolRt { tiers, cursors }
}

// === impl RouteRt ===

impl RouteRt {
    /// The route template (metric label).
    pub fn label(&self) -> &str {
        self.cfg.pattern.template()
    }

    /// The normalized route config and its pool, for normalized routes.
    pub fn normalized(&self) -> Option<(&NormalizedRoute, &PoolRt)> {
        match (&self.cfg.target, &self.target) {
            (RouteTarget::Normalized(n), TargetRt::Normalized(p)) => Some((n, p)),
            _ => None,
        }
    }
}

/// A snapshot built from config text, for unit tests of the request path (no sockets:
/// hosts are never contacted).
#[cfg(test)]
pub mod testing {
    use super::*;
    use crate::config::env::EnvLookup;

    struct NoEnv;

    impl EnvLookup for NoEnv {
        fn get(&self, _: &str) -> Option<String> {
            None
        }
    }

    /// A provider serving `price` from Binance's ticker shape, with `hosts` and `extra`
    /// lines in its table.
    pub fn price_provider(name: &str, hosts: &[&str], extra: &str) -> String {
        let list: Vec<String> = hosts.iter().map(|h| format!("{h:?}")).collect();
        format!(
            "[providers.{name}]\nhosts = [{}]\nsymbols = {{ format = \"{{BASE}}{{QUOTE}}\", quote = {{ USD = \"USDT\" }} }}\n{extra}\n\
             [providers.{name}.ops.price]\nrequest = {{ path = \"/p\" }}\nresponse = '.'\n",
            list.join(", ")
        )
    }

    /// Builds a snapshot (and its metrics) from config text.
    pub fn snapshot(text: &str) -> (Snapshot, Metrics) {
        let config = crate::config::parse(text, "test.toml", &NoEnv).unwrap_or_else(|e| panic!("config: {e}"));
        let metrics = Metrics::new().unwrap_or_else(|e| panic!("metrics: {e}"));
        let snap = Snapshot::build(config, &StateStore::default(), &metrics, None, 1)
            .unwrap_or_else(|e| panic!("snapshot: {e}"));
        (snap, metrics)
    }
}
