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

mod stream;
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
    /// Share normalized answers (and coalesce identical misses) across replicas (default true).
    pub cache: Option<bool>,
    /// Longest a request waits for Redis before using its local share (default 5ms).
    pub timeout: Option<DurationStr>,
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

/// `[providers.<name>]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderSpec {
    /// `rest` (default: ops mapped in TOML), `marketgate` (another marketgate: /v1/* as
    /// is) or `feed` (an RSS/Atom news feed).
    #[serde(default)]
    pub kind: ProviderKind,
    /// Base URLs, tried in rotation. Entries that expand to "" are left out.
    pub hosts: Spanned<Vec<Templated>>,
    /// `false` turns the provider off without deleting it.
    pub enabled: Option<bool>,
    /// Overrides `defaults.attempt_timeout`.
    pub attempt_timeout: Option<DurationStr>,
    /// Overrides fields of `defaults.breaker`.
    pub breaker: Option<BreakerSpec>,
    /// Headers sent with every request (values may use `${VAR}`; treated as secrets).
    #[serde(default)]
    pub headers: BTreeMap<String, Templated>,
    /// API key from the environment.
    pub auth: Option<AuthSpec>,
    /// How canonical tickers become this provider's ids.
    #[serde(default)]
    pub symbols: SymbolsSpec,
    /// Request budget (weights of ops) per interval.
    pub quota: Option<QuotaSpec>,
    /// Credit budget per day or month (spent only while an API key is sent).
    pub credits: Option<CreditsSpec>,
    /// Which statuses mean "rate-limited" and how long to bench without `Retry-After`.
    pub rate_limit: Option<RateLimitSpec>,
    /// Overrides `defaults.max_hosts_per_request`.
    pub max_hosts_per_request: Option<usize>,
    /// Quota weight of raw passthrough requests by path (exact path, no query).
    #[serde(default)]
    pub raw_weights: BTreeMap<String, WeightSpec>,
    /// Active health probe.
    pub health_check: Option<HealthCheckSpec>,
    /// jq definitions (`def name: ...;`) available to every mapping of this provider.
    pub prelude: Option<Spanned<String>>,
    /// Operation name -> request template and response mapping.
    #[serde(default)]
    pub ops: BTreeMap<String, OpSpec>,
    /// The feed of a `kind = "feed"` provider.
    pub feed: Option<FeedSpec>,
    /// The provider's live streams (`/v1/stream`).
    pub stream: Option<StreamSpec>,
}

/// `feed = { path = "/arc/outboundfeeds/rss/", source = "CoinDesk" }`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeedSpec {
    /// Path (and query) of the feed below the host.
    pub path: String,
    /// The outlet's name for `source` (default: the feed's title).
    pub source: Option<String>,
}

/// Provider kinds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProviderKind {
    /// A public REST API whose ops are mapped in the config.
    #[default]
    Rest,
    /// Another marketgate: `/v1/<op>` is forwarded unchanged and its envelope unwrapped.
    Marketgate,
    /// An RSS or Atom news feed (`feed = { path, source }`): serves `news`.
    Feed,
}

impl ProviderKind {
    /// The name used in the config.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Rest => "rest",
            Self::Marketgate => "marketgate",
            Self::Feed => "feed",
        }
    }
}

/// `auth = { env = "X_API_KEY", required = true, header = "authorization", value = "Bearer {key}" }`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthSpec {
    /// Environment variable holding the key; several keys may be separated by commas.
    pub env: String,
    /// Disable the provider (visibly) when the variable is unset (default false).
    #[serde(default)]
    pub required: bool,
    /// Header that carries the key.
    pub header: Option<String>,
    /// Header value template, `{key}` is replaced (default `{key}`).
    pub value: Option<String>,
    /// Query parameter that carries the key.
    pub query: Option<String>,
}

/// `symbols = { format = "{BASE}{QUOTE}", quote = { USD = "USDT" }, ids = { ... } }`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SymbolsSpec {
    /// Pattern that maps every asset: `{BASE}`, `{QUOTE}`, `{base}`, `{quote}`.
    pub format: Option<String>,
    /// Canonical quote -> the provider's quote (identity when absent).
    #[serde(default)]
    pub quote: BTreeMap<String, String>,
    /// Extra or overriding ids: ticker -> provider id.
    #[serde(default)]
    pub ids: BTreeMap<String, String>,
    /// Use another provider's ids from `[assets]` (e.g. a mirror of CoinGecko's API).
    pub ids_from: Option<String>,
}

/// `quota = { limit = 6000, per = "1m", used_header = "x-mbx-used-weight-1m" }`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuotaSpec {
    /// Budget of request weight per window (an op weighs 1 unless it says otherwise).
    pub limit: u32,
    /// Window length.
    pub per: DurationStr,
    /// Response header holding the weight the provider has counted so far this window.
    pub used_header: Option<String>,
}

/// `rate_limit = { statuses = [403, 418, 429], bench = "2m" }`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitSpec {
    /// Statuses that bench the provider (default 418 and 429).
    pub statuses: Option<Vec<u16>>,
    /// Bench when the answer carries no `Retry-After` (default 30s).
    pub bench: Option<DurationStr>,
}

/// `credits = { limit = "${COINGECKO_MONTHLY_CREDITS:-10000}", per = "month" }`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreditsSpec {
    /// Credits per window: a number, or text that expands to one (0: no budget).
    pub limit: CountSpec,
    /// `month` (calendar month, UTC) or a duration such as `1d`.
    pub per: String,
}

/// A count written as a number or as `${VAR:-default}` text.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum CountSpec {
    /// A number.
    Number(u32),
    /// Text expanding to a number.
    Text(Templated),
}

/// A quota weight: a number, or a rule on one parameter:
/// `{ by = "limit", steps = [[100, 5], [500, 25]], absent = 5 }` (the first step whose
/// bound is at least the value; past the last step, the last weight) or
/// `{ by = "symbol", present = 2, absent = 4 }`.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum WeightSpec {
    /// A fixed weight.
    Fixed(u32),
    /// A weight that depends on a parameter.
    Rule(WeightRuleSpec),
}

/// The rule form of [`WeightSpec`].
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WeightRuleSpec {
    /// The parameter (a template variable for ops, a query parameter for raw requests).
    pub by: String,
    /// `[upper bound, weight]` pairs, ascending.
    #[serde(default)]
    pub steps: Vec<(u64, u32)>,
    /// Weight when the parameter is given (and there are no steps).
    pub present: Option<u32>,
    /// Weight when the parameter is absent.
    pub absent: u32,
}

/// `health_check = { path = "/api/v3/ping", interval = "10s", expect = 200 }`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HealthCheckSpec {
    /// Path probed on every host.
    pub path: String,
    /// Probe interval (default 10s).
    pub interval: Option<DurationStr>,
    /// Expected status (default 200).
    pub expect: Option<u16>,
    /// Quota weight of one probe (default 1).
    pub weight: Option<u32>,
}

/// `[providers.<name>.ops.<op>]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpSpec {
    /// How to ask.
    pub request: RequestSpec,
    /// jq program turning the body into the operation's payload.
    pub response: Spanned<String>,
    /// One upstream request per requested symbol.
    #[serde(default)]
    pub per_symbol: bool,
    /// Quota weight of one request (default 1); a number or a rule.
    pub weight: Option<WeightSpec>,
    /// Before the mapping, keep only array elements whose field (e.g. `symbol`) holds a
    /// requested id.
    pub keep_ids: Option<String>,
    /// Before the mapping, turn decimal strings into numbers.
    #[serde(default)]
    pub numeric_strings: bool,
    /// ohlcv only: the fields of an array-of-arrays body by column, e.g.
    /// `{ ts = 0, open = 1, high = 2, low = 3, close = 4, volume = 5 }`, mapped in Rust
    /// (sorted by `ts`, the last `$limit` kept); any other body goes to `response`.
    pub rows: Option<BTreeMap<String, usize>>,
    /// Canonical interval -> provider value (a string for `{interval}`, or a table of vars).
    #[serde(default)]
    pub intervals: BTreeMap<String, IntervalValue>,
}

/// `request = { path = "/x/{id}", query = { a = "{ids}" }, headers = { ... } }`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequestSpec {
    /// Path appended to the host's base URL.
    pub path: String,
    /// Query parameters (values are templates).
    #[serde(default)]
    pub query: BTreeMap<String, String>,
    /// Extra headers (values are templates).
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
}

/// An interval's provider value.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum IntervalValue {
    /// Sets `{interval}`.
    Plain(String),
    /// Sets several template variables.
    Vars(BTreeMap<String, String>),
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
    /// Default query parameters.
    #[serde(default)]
    pub defaults: BTreeMap<String, String>,
    /// Ask every provider of a tier at once and merge their answers (news only).
    #[serde(default)]
    pub merge: bool,
    /// Serve data computed from the operation's answers: `indicators` (op `ohlcv`) or
    /// `movers` (op `markets`).
    pub derive: Option<String>,
    /// A live stream route (`/v1/stream`) over this provider's `[stream]`.
    pub stream: Option<String>,
    /// Stream routes: the normalized ticker route polled while no stream host answers.
    pub fallback: Option<String>,
    /// Stream routes: how often the fallback route is polled (default 2s).
    pub poll: Option<DurationStr>,
    /// Stream routes: most symbols one client may ask for (default 50).
    pub max_symbols: Option<usize>,
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
