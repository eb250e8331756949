//! The serde mirror of the TOML file. No logic: every key is declared here, unknown keys
//! are errors (`deny_unknown_fields`), and validation happens in `validate`.
//!
//! Fields typed [`Templated`] accept `${VAR}` / `${VAR:-default}` references.

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

use super::units::{DurationStr, SizeStr};

/// A string that may contain `${VAR}` references, expanded during validation.
pub type Templated = String;

mod provider;
mod stream;
pub use provider::{
    AuthSpec, CountSpec, CreditsSpec, FeedSpec, HealthCheckSpec, IntervalValue, OpSpec, ProviderKind, ProviderSpec,
    QuotaSpec, RateLimitSpec, RequestSpec, RowsSpec, SymbolsSpec, WeightRuleSpec, WeightSpec,
};
pub use stream::{ConnectsSpec, StreamChannelSpec, StreamSpec};

/// The whole file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// `extends = "default"`: start from the embedded default config and merge this file
    /// over it (tables merge key by key; other values replace).
    pub extends: Option<String>,
    /// Listeners and client-facing limits.
    #[serde(default)]
    pub server: ServerSection,
    /// Defaults every provider inherits.
    #[serde(default)]
    pub defaults: DefaultsSection,
    /// The upstream HTTP client.
    #[serde(default)]
    pub upstream: UpstreamSection,
    /// Logging.
    #[serde(default)]
    pub log: LogSection,
    /// Admin listener protection and history.
    #[serde(default)]
    pub admin: AdminSection,
    /// Response cache bounds.
    #[serde(default)]
    pub cache: CacheSection,
    /// The application behind marketgate (gets every request no route matches).
    pub app: Option<AppSection>,
    /// Replicas sharing quotas, benches and answers through Redis.
    pub cluster: Option<ClusterSection>,
    /// Canonical assets: ticker -> display name and per-provider ids.
    #[serde(default)]
    pub assets: BTreeMap<String, AssetSpec>,
    /// Upstream providers by name.
    #[serde(default)]
    pub providers: BTreeMap<String, ProviderSpec>,
    /// Named pools (ordered tiers of provider names) that routes refer to.
    #[serde(default)]
    pub pools: BTreeMap<String, Spanned<Vec<Vec<Spanned<String>>>>>,
    /// Route template -> what serves it.
    #[serde(default)]
    pub routes: BTreeMap<String, Spanned<RouteSpec>>,
}

/// `[cluster]`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterSection {
    /// `redis://[user:password@]host:port[/db]` (*env*); absent or empty: one replica.
    pub redis: Option<Templated>,
    /// Replicas sharing the budgets: while Redis is unreachable each spends limit / replicas.
    pub replicas: Option<u32>,
    /// Name of the egress IP (*env*): replicas with the same egress share per-IP limits.
    pub egress: Option<Templated>,
    /// Prefix of every Redis key and the event channel (*env*; default `mg`): deployments
    /// with different namespaces can share one Redis database.
    pub namespace: Option<Templated>,
    /// Share normalized answers (and coalesce identical misses) across replicas (default true).
    pub cache: Option<bool>,
    /// Longest a request waits for Redis before using its local share (default 5ms).
    pub timeout: Option<DurationStr>,
    /// A key every replica shares (*env*, at least 16 characters): events, benches and
    /// shared answers are signed with it, and anything in Redis without a valid
    /// signature is ignored. Absent: unsigned (anyone who can write to Redis can
    /// bench a provider or plant an answer).
    pub secret: Option<Templated>,
    /// PEM file of the CA(s) that sign the Redis server's certificate (*env*;
    /// `rediss://`; default: the system's roots).
    pub ca_file: Option<Templated>,
    /// PEM client certificate for mutual TLS (*env*; with `key_file`).
    pub cert_file: Option<Templated>,
    /// PEM private key of `cert_file` (*env*).
    pub key_file: Option<Templated>,
    /// Redis Sentinel addresses (`host:port`): the master is asked of them, and asked
    /// again when it stops answering (a failover). `redis` then gives the scheme,
    /// password and database; its host is replaced by the master's.
    pub sentinels: Option<Vec<String>>,
    /// The master's name in the sentinels (`sentinel monitor <name> ...`).
    pub master: Option<String>,
    /// The sentinels' own password (*env*), when they require one.
    pub sentinel_password: Option<Templated>,
}

/// `[server]`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSection {
    /// Client listener address (default 127.0.0.1:8080).
    pub listen: Option<Templated>,
    /// Admin listener address (default 127.0.0.1:9901).
    pub admin_listen: Option<Templated>,
    /// Overall deadline of one client request, every attempt included (default 5s).
    pub deadline: Option<DurationStr>,
    /// Largest upstream body buffered for normalization (default 8MiB).
    pub max_upstream_body: Option<SizeStr>,
    /// Largest client request body (default 1MiB).
    pub max_request_body: Option<SizeStr>,
    /// Time a client gets to send its request headers (default 10s).
    pub header_read_timeout: Option<DurationStr>,
    /// A connection (HTTP/1.1 or HTTP/2) with no request in flight and no bytes either
    /// way for this long is closed (default 60s).
    pub idle_timeout: Option<DurationStr>,
    /// Largest request head (default 16KiB, at least 8KiB).
    pub max_header_size: Option<SizeStr>,
    /// Longest request target (default 8KiB).
    pub max_uri_length: Option<SizeStr>,
    /// Most query parameters on a normalized route (default 32).
    pub max_query_params: Option<usize>,
    /// Most concurrent client connections (default 4096).
    pub max_connections: Option<usize>,
    /// How long shutdown waits for in-flight requests (default 10s).
    pub shutdown_grace: Option<DurationStr>,
    /// TLS termination on the client listener.
    pub tls: Option<ServerTlsSection>,
}

/// `[server.tls]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerTlsSection {
    /// PEM certificate chain file.
    pub cert: Templated,
    /// PEM private key file.
    pub key: Templated,
}

/// `[defaults]`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DefaultsSection {
    /// Timeout of one upstream attempt (default 2s).
    pub attempt_timeout: Option<DurationStr>,
    /// Breaker policy of every host.
    pub breaker: Option<BreakerSpec>,
    /// Retries and hedges allowed on top of first attempts.
    pub retry_budget: Option<RetryBudgetSpec>,
    /// Hedge delay of `hedge_after = "p95"` while a provider has no latency samples yet
    /// (default 250ms).
    pub hedge_delay: Option<DurationStr>,
    /// Hosts of one provider a normalized request tries before it moves on to the next
    /// provider (default 2).
    pub max_hosts_per_request: Option<usize>,
}

/// `retry_budget = { ratio = 0.2, min_per_second = 10, window = "10s" }`
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetryBudgetSpec {
    /// Extra attempts per first attempt (default 0.2).
    pub ratio: Option<f64>,
    /// Extra attempts always allowed per second (default 10).
    pub min_per_second: Option<f64>,
    /// Counting window (default 10s).
    pub window: Option<DurationStr>,
}

/// `[cache]`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CacheSection {
    /// Most cached answers (default 10000).
    pub max_entries: Option<usize>,
    /// Most bytes of cached answers (default 64MiB).
    pub max_bytes: Option<SizeStr>,
}

/// A breaker policy; absent fields inherit.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BreakerSpec {
    /// Consecutive failures that open the breaker (default 3).
    pub consecutive_failures: Option<u32>,
    /// First open period (default 30s); doubles on each re-open.
    pub open_for: Option<DurationStr>,
    /// Longest open period (default 5m).
    pub max_open_for: Option<DurationStr>,
}

/// `[upstream]`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpstreamSection {
    /// Extra CA certificates (PEM) trusted besides the built-in web PKI roots.
    pub extra_ca_file: Option<Templated>,
    /// Idle keep-alive connections kept per host (default 256).
    pub pool_max_idle_per_host: Option<usize>,
    /// How long an idle keep-alive connection is kept (default 90s).
    pub pool_idle_timeout: Option<DurationStr>,
    /// User-Agent sent upstream when the client sent none.
    pub user_agent: Option<String>,
}

/// `[log]`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogSection {
    /// `text` (default) or `json`.
    pub format: Option<LogFormat>,
    /// A tracing filter such as `info` or `marketgate=debug` (RUST_LOG wins when set).
    pub level: Option<String>,
    /// Lines kept in memory while the log output is slow; past that, lines are dropped
    /// and counted (default 16384).
    pub buffer_lines: Option<usize>,
}

/// Log line format.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// `[admin]`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminSection {
    /// Name of the environment variable holding the admin bearer token.
    pub token_env: Option<String>,
    /// Paths served without the token (default /healthz, /readyz, /metrics).
    pub public_paths: Option<Vec<String>>,
    /// Interval of the history ring buffer (default 10s).
    pub history_interval: Option<DurationStr>,
    /// Points kept in the history ring buffer (default 90: 15 minutes at 10s).
    pub history_points: Option<usize>,
    /// Host names the admin listener answers besides IP addresses and `localhost`
    /// (DNS rebinding: any other `Host` gets 421).
    pub hosts: Option<Vec<String>>,
    /// A JSON-lines file every audit record is appended to (rotated at 10 MiB).
    pub audit_file: Option<String>,
}

/// `[app]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppSection {
    /// Base URL of the fronted application, e.g. `http://127.0.0.1:7861`.
    pub upstream: Templated,
    /// Timeout for the application's response headers (default: the server deadline).
    pub timeout: Option<DurationStr>,
}

/// One `[assets]` entry: `BTC = { name = "Bitcoin", coingecko = "bitcoin" }`, or
/// `GRAM = { name = "Gram (ex-Toncoin)", aliases = ["TON"], ... }`.
#[derive(Debug, Deserialize)]
pub struct AssetSpec {
    /// Display name.
    pub name: Option<String>,
    /// Former or other tickers that mean this asset (a 1:1 rename such as TON -> GRAM).
    #[serde(default)]
    pub aliases: Vec<String>,
    /// Provider name -> that provider's id for the asset.
    #[serde(flatten)]
    pub ids: BTreeMap<String, String>,
}

/// `"/v1/price" = { op = "price", pool = "price", cache = "2s" }` or `{ passthrough = "binance" }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteSpec {
    /// Normalized operation served by this route.
    pub op: Option<String>,
    /// A `[pools]` name or inline tiers.
    pub pool: Option<PoolRef>,
    /// Raw passthrough to this provider (`"*"`: the `{provider}` path parameter picks it).
    pub passthrough: Option<String>,
    /// Response cache TTL.
    pub cache: Option<DurationStr>,
    /// How long a cached answer may be served stale when every provider fails.
    pub max_stale: Option<DurationStr>,
    /// Start a hedged attempt after this long: a duration, "p95" (the default: the
    /// provider's recent p95, or `defaults.hedge_delay` before it has one) or "off".
    pub hedge_after: Option<String>,
    /// Overrides the server deadline.
    pub deadline: Option<DurationStr>,
    /// Consensus: quotes older than this do not vote (default 60s).
    pub max_quote_age: Option<DurationStr>,
    /// Default query parameters.
    #[serde(default)]
    pub defaults: BTreeMap<String, String>,
    /// Ask every provider of a tier at once and merge their answers (news only).
    #[serde(default)]
    pub merge: bool,
    /// Serve data computed from the operation's answers: `indicators` (op `ohlcv`) or
    /// `movers` (op `markets`).
    pub derive: Option<String>,
    /// A live stream route (`/v1/stream`) over this provider's `[stream]`, or over
    /// several providers' streams in turn (`["binance", "coinbase"]`).
    pub stream: Option<StreamTiers>,
    /// Stream routes: the normalized ticker route polled while no stream host answers.
    pub fallback: Option<String>,
    /// Stream routes: how often the fallback route is polled (default 2s).
    pub poll: Option<DurationStr>,
    /// Stream routes: most symbols one client may ask for (default 50).
    pub max_symbols: Option<usize>,
    /// Stream routes: most stream clients one client address may hold (default 256).
    pub max_clients_per_address: Option<usize>,
}

/// A stream route's providers: one, or several in turn.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum StreamTiers {
    /// One provider.
    One(String),
    /// Providers in turn.
    Many(Vec<String>),
}

impl StreamTiers {
    /// The providers, in turn.
    pub fn names(&self) -> Vec<String> {
        match self {
            Self::One(n) => vec![n.clone()],
            Self::Many(v) => v.clone(),
        }
    }
}

/// A route's pool.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum PoolRef {
    /// The name of a `[pools]` entry.
    Named(String),
    /// Inline tiers.
    Inline(Vec<Vec<String>>),
}
