//! The request path's shared parts: the snapshot in force, metric handles, the
//! response cache, the retry budget, and this instance's id for `x-marketgate-via`.
//! Built by the composition root; handed to the way in. Nothing here knows about the
//! admin API, the reloader or the listeners.

use std::sync::Arc;

use arc_swap::ArcSwap;
use http::HeaderValue;

use crate::budget::RetryBudget;
use crate::cache::ResponseCache;
use crate::headers::MAX_HOPS;
use crate::metrics::Metrics;
use crate::snapshot::Snapshot;

/// What every client request reads.
pub struct Gateway {
    snapshot: Arc<ArcSwap<Snapshot>>,
    /// Metric handles.
    pub metrics: Metrics,
    /// Response cache of normalized routes.
    pub cache: ResponseCache,
    /// Retry and hedge budget.
    pub budget: RetryBudget,
    instance: String,
    own_via: HeaderValue,
    /// The access log (set once by the binary; without it access lines go through
    /// `tracing`).
    pub access_log: std::sync::OnceLock<crate::access_log::AccessLog>,
    /// The cluster, when `[cluster]` names a Redis (set once at start).
    pub cluster: std::sync::OnceLock<Arc<crate::cluster::Cluster>>,
    /// Set once shutdown begins: the listeners, the background tasks and the responses
    /// that never end by themselves (streams) all wait on it.
    stopping: tokio::sync::watch::Sender<bool>,
}

/// What a served request reports besides its response (for the access log).
#[derive(Debug, Default)]
pub struct Served {
    /// Provider that answered.
    pub provider: Option<std::sync::Arc<str>>,
    /// Upstream attempts made (hosts reached).
    pub attempts: usize,
    /// How the answer relates to the cache, when the route caches.
    pub cache: Option<crate::cache::CacheResult>,
}

/// Where a request has been before it reached this instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Via {
    /// Straight from a client.
    Client,
    /// Through other marketgates; the value to send on (this instance appended).
    Forwarded(HeaderValue),
    /// Through this instance already, or through too many marketgates.
    Loop(String),
}

// === impl Gateway ===

impl Gateway {
    /// A gateway over `snapshot` (shared with the reloader, which swaps it).
    pub fn new(snapshot: Arc<ArcSwap<Snapshot>>, metrics: Metrics, cache: ResponseCache) -> Self {
        let instance = instance_id();
        let own_via = HeaderValue::from_str(&instance).unwrap_or_else(|_| HeaderValue::from_static("marketgate"));
        Self {
            snapshot,
            metrics,
            cache,
            budget: RetryBudget::new(),
            instance,
            own_via,
            access_log: std::sync::OnceLock::new(),
            cluster: std::sync::OnceLock::new(),
            stopping: tokio::sync::watch::Sender::new(false),
        }
    }

    /// Starts the shutdown: listeners drain, background tasks and live streams end.
    pub fn begin_shutdown(&self) {
        self.stopping.send_replace(true);
    }

    /// A flag that turns true when shutdown begins (wait with [`crate::shutdown::stopped`]).
    pub fn stop_signal(&self) -> tokio::sync::watch::Receiver<bool> {
        self.stopping.subscribe()
    }

    /// The snapshot in force (load once per request and keep the `Arc`).
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.snapshot.load_full()
    }

    /// The cluster, if this replica is in one.
    pub fn cluster(&self) -> Option<&Arc<crate::cluster::Cluster>> {
        self.cluster.get()
    }

    /// The snapshot slot (the cluster applies other replicas' benches to it).
    pub fn slot(&self) -> Arc<ArcSwap<Snapshot>> {
        Arc::clone(&self.snapshot)
    }

    /// This instance's id.
    pub fn instance(&self) -> &str {
        &self.instance
    }

    /// Reads an incoming `x-marketgate-via`.
    pub fn via(&self, incoming: Option<&HeaderValue>) -> Via {
        Via::read(&self.instance, incoming)
    }

    /// The `x-marketgate-via` value to send to another marketgate for `via`.
    pub fn via_out<'a>(&'a self, via: &'a Via) -> &'a HeaderValue {
        match via {
            Via::Forwarded(v) => v,
            Via::Client | Via::Loop(_) => &self.own_via,
        }
    }
}

// === impl Via ===

impl Via {
    /// Reads an incoming `x-marketgate-via` at the instance `me` (pure).
    pub fn read(me: &str, incoming: Option<&HeaderValue>) -> Via {
        let Some(text) = incoming.and_then(|v| v.to_str().ok()).map(str::trim).filter(|t| !t.is_empty()) else {
            return Via::Client;
        };
        let hops: Vec<&str> = text.split(',').map(str::trim).filter(|h| !h.is_empty()).collect();
        if hops.contains(&me) {
            return Via::Loop(format!("the request already passed through this marketgate ({me})"));
        }
        if hops.len() >= MAX_HOPS {
            return Via::Loop(format!("the request passed through {} marketgates (at most {MAX_HOPS})", hops.len()));
        }
        match HeaderValue::from_str(&format!("{}, {me}", hops.join(", "))) {
            Ok(v) => Via::Forwarded(v),
            Err(_) => Via::Loop("unreadable x-marketgate-via".into()),
        }
    }
}

/// A random id for this process (no secret: it only tells instances apart).
fn instance_id() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos()));
    h.write_u32(std::process::id());
    format!("mg-{:016x}", h.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn via_detects_loops_and_hop_limits() {
        let hv = |s: &str| HeaderValue::from_str(s).expect("header");
        assert_eq!(Via::read("me", None), Via::Client);
        assert_eq!(Via::read("me", Some(&hv(""))), Via::Client);
        assert_eq!(Via::read("me", Some(&hv("peer"))), Via::Forwarded(hv("peer, me")));
        assert!(matches!(Via::read("me", Some(&hv("peer, me, other"))), Via::Loop(_)), "came back");
        assert!(matches!(Via::read("me", Some(&hv("a, b, c, d"))), Via::Loop(_)), "too many hops");
        assert_ne!(instance_id(), instance_id(), "ids differ between instances");
    }
}
