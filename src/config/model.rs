//! The validated, typed config: what `validate` produces and the runtime reads.
//! Every value here has been checked; nothing is re-parsed on the request path.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

pub use super::schema::{LogFormat, ProviderKind};
use crate::normalize::op::Operation;
use crate::routing::pattern::Pattern;
use crate::secret::Secret;
use crate::transport::url::BaseUrl;

mod provider;
pub mod stream;
pub use provider::{
    Auth, CreditsPolicy, FeedSource, HealthCheck, KeyPlace, OpMapping, Period, ProviderConfig, QuotaPolicy,
    RateLimitPolicy, RequestTemplate, SymbolMap, Weight, split_keys,
};

/// A whole validated config.
#[derive(Debug)]
pub struct Config {
    /// Where it came from.
    pub source: SourceInfo,
    /// Listeners and limits.
    pub server: ServerConfig,
    /// Upstream client settings.
    pub upstream: UpstreamConfig,
    /// Logging.
    pub log: LogConfig,
    /// Admin listener settings.
    pub admin: AdminConfig,
    /// Response cache bounds (applied at start-up).
    pub cache: CacheConfig,
    /// Retry budget.
    pub retry_budget: crate::budget::BudgetPolicy,
    /// Fronted application.
    pub app: Option<AppConfig>,
    /// Canonical assets (ticker -> display name).
    pub assets: BTreeMap<String, Option<String>>,
    /// Other tickers of assets (alias -> canonical ticker).
    pub aliases: BTreeMap<String, String>,
    /// Replicas sharing state through Redis (`None`: a single replica).
    pub cluster: Option<ClusterConfig>,
    /// Providers, by name order.
    pub providers: Vec<Arc<ProviderConfig>>,
    /// Routes, most specific first.
    pub routes: Vec<Arc<RouteConfig>>,
}

/// File name and content hash.
#[derive(Debug, Clone)]
pub struct SourceInfo {
    /// Path, or `<embedded default>`.
    pub name: String,
    /// sha256 of the file's bytes, hex.
    pub sha256: String,
}

/// `[server]`, validated.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Client listener.
    pub listen: SocketAddr,
    /// Admin listener.
    pub admin_listen: SocketAddr,
    /// Overall deadline per client request.
    pub deadline: Duration,
    /// Largest buffered upstream body.
    pub max_upstream_body: usize,
    /// Largest client request body.
    pub max_request_body: usize,
    /// Header read timeout.
    pub header_read_timeout: Duration,
    /// Idle connection timeout.
    pub idle_timeout: Duration,
    /// Largest request head.
    pub max_header_size: usize,
    /// Longest request target.
    pub max_uri_length: usize,
    /// Most query parameters.
    pub max_query_params: usize,
    /// Most concurrent connections.
    pub max_connections: usize,
    /// Shutdown grace period.
    pub shutdown_grace: Duration,
    /// TLS certificate and key files.
    pub tls: Option<TlsFiles>,
}

/// PEM files for TLS termination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// Certificate chain.
    pub cert: PathBuf,
    /// Private key.
    pub key: PathBuf,
}

/// `[cache]`, validated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheConfig {
    /// Most entries.
    pub max_entries: usize,
    /// Most bytes.
    pub max_bytes: usize,
}

/// `[upstream]`, validated (the transport's client settings).
pub use crate::transport::client::UpstreamConfig;

/// `[log]`, validated.
#[derive(Debug, Clone)]
pub struct LogConfig {
    /// Line format.
    pub format: LogFormat,
    /// Filter directive.
    pub level: String,
    /// Lines buffered before dropping.
    pub buffer_lines: usize,
}

/// `[admin]`, validated.
#[derive(Debug, Clone)]
pub struct AdminConfig {
    /// Bearer token required on the admin listener (except public paths).
    pub token: Option<Secret>,
    /// The variable the token came from (shown instead of the token).
    pub token_env: Option<String>,
    /// Paths served without a token.
    pub public_paths: Vec<String>,
    /// History sampling interval.
    pub history_interval: Duration,
    /// History points kept.
    pub history_points: usize,
    /// Host names answered besides IP addresses and `localhost`.
    pub hosts: Vec<String>,
    /// The audit log's file, if any (a reload moves it).
    pub audit_file: Option<PathBuf>,
}

/// `[app]`, validated.
#[derive(Debug, Clone)]
pub struct AppConfig {
    /// The application's base URL.
    pub upstream: BaseUrl,
    /// Timeout for its response headers.
    pub timeout: Duration,
}

/// `[cluster]`, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterConfig {
    /// The Redis URL (a secret: it may hold a password).
    pub redis: Secret,
    /// The URL with any password replaced by `***` (for logs and the admin API).
    pub redis_shown: String,
    /// Replicas sharing the budgets.
    pub replicas: u32,
    /// Egress name.
    pub egress: String,
    /// Prefix of every Redis key and of the event channel.
    pub namespace: String,
    /// Share answers across replicas.
    pub cache: bool,
    /// Longest wait for Redis on a request.
    pub timeout: Duration,
    /// The key that signs what replicas share (`None`: unsigned).
    pub secret: Option<Secret>,
    /// TLS material for `rediss://` beyond the system roots (read at load).
    pub tls: Option<RedisTls>,
    /// Sentinels to ask for the master (`None`: `redis` is the master).
    pub sentinel: Option<SentinelConfig>,
}

/// Redis Sentinel: where to ask, and for which master.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentinelConfig {
    /// `host:port` of each sentinel.
    pub addrs: Vec<String>,
    /// The master's name.
    pub master: String,
    /// The sentinels' password.
    pub password: Option<Secret>,
}

/// A private CA and/or a client certificate for `rediss://` (PEM bytes).
#[derive(Clone, PartialEq, Eq)]
pub struct RedisTls {
    /// CA certificates (`None`: the system's roots).
    pub ca: Option<Vec<u8>>,
    /// Client certificate and key for mutual TLS.
    pub client: Option<(Vec<u8>, Secret)>,
}

impl std::fmt::Debug for RedisTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisTls").field("ca", &self.ca.is_some()).field("client", &self.client.is_some()).finish()
    }
}

/// One route.
#[derive(Debug)]
pub struct RouteConfig {
    /// Template.
    pub pattern: Pattern,
    /// What serves it.
    pub target: RouteTarget,
}

/// What a route does.
#[derive(Debug)]
pub enum RouteTarget {
    /// A normalized operation over a pool.
    Normalized(NormalizedRoute),
    /// Raw passthrough to one provider, or the one named by `{provider}`.
    Passthrough(Option<String>),
    /// Live streams (`/v1/stream`).
    Stream(crate::config::model::stream::StreamRoute),
}

/// Consensus: how old a quote may be and still vote, unless a route says otherwise
/// (`max_quote_age`): CoinGecko's demo data can be a minute old; older quotes are
/// listed, not counted.
pub const DEFAULT_MAX_QUOTE_AGE: Duration = Duration::from_secs(60);

/// A normalized route.
#[derive(Debug)]
pub struct NormalizedRoute {
    /// Operation.
    pub op: Operation,
    /// Tiers of provider names.
    pub tiers: Vec<Vec<String>>,
    /// Cache TTL.
    pub cache: Option<Duration>,
    /// Stale-if-error window.
    pub max_stale: Option<Duration>,
    /// Hedging.
    pub hedge: Option<Hedge>,
    /// Deadline override.
    pub deadline: Option<Duration>,
    /// Consensus: quotes older than this do not vote.
    pub max_quote_age: Duration,
    /// Default parameters.
    pub defaults: BTreeMap<String, String>,
    /// Ask every provider of a tier at once and merge their answers (news).
    pub merge: bool,
    /// Data computed from the operation's answers (indicators, movers).
    pub derive: Option<crate::normalize::op::Derive>,
}

/// When to start a hedged attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hedge {
    /// After a fixed delay.
    After(Duration),
    /// After the provider's recent p95 latency, or `cold` while it has none.
    P95 {
        /// The delay used before the provider has latency samples.
        cold: Duration,
    },
}

/// Why the admin listener would be exposed without a token, if it would.
pub fn unprotected_admin(server: &ServerConfig, admin: &AdminConfig) -> Option<String> {
    (!server.admin_listen.ip().is_loopback() && admin.token.is_none()).then(|| {
        format!(
            "admin listener {} is not on loopback: set admin.token_env to an environment variable holding a bearer token",
            server.admin_listen
        )
    })
}

// === impl Config ===

impl Config {
    /// The provider named `name`.
    pub fn provider(&self, name: &str) -> Option<&Arc<ProviderConfig>> {
        self.providers.iter().find(|p| p.name == name)
    }
}
