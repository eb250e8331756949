//! The validated, typed config: what `validate` produces and the runtime reads.
//! Every value here has been checked; nothing is re-parsed on the request path.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use http::HeaderName;

pub use super::schema::{LogFormat, ProviderKind};
use crate::breaker::BreakerPolicy;
use crate::normalize::jq::JqProgram;
use crate::normalize::op::{Interval, Operation};
use crate::routing::pattern::Pattern;
use crate::secret::Secret;
use crate::upstream::url::BaseUrl;

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

/// `[upstream]`, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamConfig {
    /// Extra trusted CA file.
    pub extra_ca_file: Option<PathBuf>,
    /// Idle connections kept per host.
    pub pool_max_idle_per_host: usize,
    /// Idle connection lifetime.
    pub pool_idle_timeout: Duration,
    /// Default User-Agent.
    pub user_agent: String,
}

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
}

/// `[app]`, validated.
#[derive(Debug, Clone)]
pub struct AppConfig {
    /// The application's base URL.
    pub upstream: BaseUrl,
    /// Timeout for its response headers.
    pub timeout: Duration,
}

/// One provider.
#[derive(Debug)]
pub struct ProviderConfig {
    /// Config name (`binance`).
    pub name: String,
    /// Kind.
    pub kind: ProviderKind,
    /// Base URLs in rotation order.
    pub hosts: Vec<BaseUrl>,
    /// Why the provider is off, when it is.
    pub disabled: Option<String>,
    /// Timeout of one attempt.
    pub attempt_timeout: Duration,
    /// Breaker policy of each host.
    pub breaker: BreakerPolicy,
    /// Headers sent with every request (values are secrets).
    pub headers: Vec<(HeaderName, Secret)>,
    /// API keys.
    pub auth: Option<Auth>,
    /// Symbol mapping.
    pub symbols: SymbolMap,
    /// Request budget.
    pub quota: Option<QuotaPolicy>,
    /// Credit budget over a long window (only while an API key is in use).
    pub credits: Option<CreditsPolicy>,
    /// What a rate limit looks like and how long it benches.
    pub rate_limit: RateLimitPolicy,
    /// Hosts one normalized request tries before moving to the next provider.
    pub max_hosts_per_request: usize,
    /// Quota weight of raw requests by exact path.
    pub raw_weights: BTreeMap<String, Weight>,
    /// Active health probe.
    pub health_check: Option<HealthCheck>,
    /// Operation mappings.
    pub ops: BTreeMap<Operation, OpMapping>,
    /// The feed of a `kind = "feed"` provider.
    pub feed: Option<FeedSource>,
    /// Its live streams, when `[providers.<name>.stream]` is set.
    pub stream: Option<Arc<crate::stream::config::StreamConfig>>,
}

/// Where a feed provider's news come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedSource {
    /// Path (and query) below the host.
    pub path: String,
    /// The outlet's name (`None`: the feed's title).
    pub source: Option<String>,
}

impl ProviderConfig {
    /// The operations this provider can serve.
    pub fn operations(&self) -> Vec<Operation> {
        match self.kind {
            ProviderKind::Rest => self.ops.keys().copied().collect(),
            ProviderKind::Marketgate => Operation::ALL.to_vec(),
            ProviderKind::Feed => vec![Operation::News],
        }
    }

    /// Whether this provider can serve `op`.
    pub fn serves(&self, op: Operation) -> bool {
        match self.kind {
            ProviderKind::Rest => self.ops.contains_key(&op),
            ProviderKind::Marketgate => true,
            ProviderKind::Feed => op == Operation::News,
        }
    }
}

/// API keys and where they go.
#[derive(Debug)]
pub struct Auth {
    /// The variable they came from (shown instead of the keys).
    pub env: String,
    /// One or more keys, used round-robin.
    pub keys: Vec<Secret>,
    /// Where a key is placed in the request.
    pub place: KeyPlace,
}

/// Where an API key goes.
#[derive(Debug, Clone)]
pub enum KeyPlace {
    /// A header, with a value template containing `{key}`.
    Header(HeaderName, String),
    /// A query parameter.
    Query(String),
}

/// How canonical tickers become a provider's ids.
#[derive(Debug, Clone, Default)]
pub struct SymbolMap {
    /// Pattern applied to every known asset.
    pub format: Option<String>,
    /// Canonical quote -> provider quote.
    pub quote: BTreeMap<String, String>,
    /// Explicit ids (from `[assets]` and `symbols.ids`).
    pub ids: BTreeMap<String, String>,
    /// Assets the format applies to.
    pub universe: Arc<BTreeMap<String, Option<String>>>,
    /// Passes tickers through unchanged (kind = marketgate).
    pub identity: bool,
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
    /// Share answers across replicas.
    pub cache: bool,
    /// Longest wait for Redis on a request.
    pub timeout: Duration,
}

/// A credit budget: `limit` weight per `per`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CreditsPolicy {
    /// Credits per window.
    pub limit: u32,
    /// Window.
    pub per: Period,
}

/// The length of a budget window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Period {
    /// Fixed windows aligned to the Unix epoch (a day starts at 00:00 UTC).
    Every(Duration),
    /// Calendar months, UTC.
    Month,
}

/// A request budget.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuotaPolicy {
    /// Weight per window.
    pub limit: u32,
    /// Window length.
    pub per: Duration,
    /// Response header carrying the weight the provider has counted this window.
    pub used_header: Option<HeaderName>,
}

/// Rate-limit statuses and the bench used when no `Retry-After` comes with them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimitPolicy {
    /// Statuses that bench the provider.
    pub statuses: Vec<u16>,
    /// Bench without `Retry-After`.
    pub bench: Duration,
}

/// A quota weight (see [`crate::config::schema::WeightSpec`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Weight {
    /// Always this weight.
    Fixed(u32),
    /// Depends on one parameter.
    By {
        /// Parameter name.
        param: String,
        /// `(upper bound, weight)`, ascending.
        steps: Vec<(u64, u32)>,
        /// Weight when present (without steps).
        present: Option<u32>,
        /// Weight when absent.
        absent: u32,
    },
}

/// An active health probe.
#[derive(Debug, Clone)]
pub struct HealthCheck {
    /// Path probed.
    pub path: String,
    /// Interval.
    pub interval: Duration,
    /// Expected status.
    pub expect: u16,
    /// Quota weight.
    pub weight: u32,
}

/// One operation of one provider.
#[derive(Debug)]
pub struct OpMapping {
    /// Request template.
    pub request: RequestTemplate,
    /// Response mapping.
    pub response: JqProgram,
    /// One request per symbol.
    pub per_symbol: bool,
    /// Quota weight of one request.
    pub weight: Weight,
    /// Rewrites applied to the body before the mapping.
    pub prefilter: crate::normalize::prefilter::Prefilter,
    /// Column mapping of array-of-arrays bodies (ohlcv), tried before `response`.
    pub rows: Option<crate::normalize::rows::Rows>,
    /// Interval -> template variables (empty map = the op takes no interval table).
    pub intervals: BTreeMap<Interval, BTreeMap<String, String>>,
}

/// Path, query and headers with `{var}` placeholders.
#[derive(Debug, Clone)]
pub struct RequestTemplate {
    /// Path under the host's base path.
    pub path: String,
    /// Query parameters.
    pub query: Vec<(String, String)>,
    /// Extra headers.
    pub headers: Vec<(HeaderName, String)>,
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
    Stream(crate::stream::config::StreamRoute),
}

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

// === impl ProviderConfig ===

impl ProviderConfig {
    /// Every secret this provider sends: API keys and header values (for redaction).
    pub fn secrets(&self) -> Vec<&str> {
        let keys = self.auth.iter().flat_map(|a| a.keys.iter().map(Secret::expose));
        keys.chain(self.headers.iter().map(|(_, v)| v.expose())).filter(|s| !s.is_empty()).collect()
    }
}

// === impl Weight ===

impl Default for Weight {
    fn default() -> Self {
        Self::Fixed(1)
    }
}

impl Weight {
    /// The weight of a request whose parameters `get` looks up.
    pub fn of<'a>(&self, get: impl Fn(&str) -> Option<&'a str>) -> u32 {
        match self {
            Self::Fixed(w) => *w,
            Self::By { param, steps, present, absent } => {
                let Some(value) = get(param).filter(|v| !v.is_empty()) else {
                    return *absent;
                };
                if steps.is_empty() {
                    return present.unwrap_or(*absent);
                }
                let Ok(n) = value.trim().parse::<u64>() else {
                    return *absent;
                };
                steps.iter().find(|(upto, _)| n <= *upto).or(steps.last()).map_or(*absent, |(_, w)| *w)
            }
        }
    }
}

// === impl SymbolMap ===

impl SymbolMap {
    /// The provider quote for a canonical quote.
    pub fn quote_for<'a>(&'a self, vs: &'a str) -> &'a str {
        self.quote.get(vs).map_or(vs, String::as_str)
    }

    /// The provider's id for `symbol` quoted in `vs`, or `None` (unsupported).
    pub fn id_for(&self, symbol: &str, vs: &str) -> Option<String> {
        if self.identity {
            return Some(symbol.to_owned());
        }
        if let Some(id) = self.ids.get(symbol) {
            return Some(id.clone());
        }
        let format = self.format.as_ref()?;
        if !self.universe.contains_key(symbol) {
            return None;
        }
        let quote = self.quote_for(vs);
        Some(
            format
                .replace("{BASE}", symbol)
                .replace("{QUOTE}", quote)
                .replace("{base}", &symbol.to_ascii_lowercase())
                .replace("{quote}", &quote.to_ascii_lowercase()),
        )
    }

    /// Whether this map names `symbol` explicitly (for `unknown_symbol`).
    pub fn knows(&self, symbol: &str) -> bool {
        self.ids.contains_key(symbol) || (self.format.is_some() && self.universe.contains_key(symbol))
    }
}
