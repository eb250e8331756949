//! `[providers.<name>]` as written in the file: hosts, auth, symbols, quotas and
//! budgets, health checks and the operations with their requests and mappings.

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

use super::{BreakerSpec, StreamSpec, Templated};
use crate::config::units::DurationStr;

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
/// or `auth = { file = "/run/secrets/x", ... }`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthSpec {
    /// Environment variable holding the key; several keys may be separated by commas.
    pub env: Option<String>,
    /// File holding the keys, one per line, re-read when it changes (instead of `env`).
    pub file: Option<String>,
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

/// `symbols = { format = "{BASE}{QUOTE}", bases = { BTC = "XBT" }, quote = { USD = "USDT" },
/// pairs = { "BTC/USD" = "XXBTZUSD" }, ids = { ... } }`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SymbolsSpec {
    /// Pattern that maps every asset to a pair id: `{BASE}`, `{QUOTE}`, `{base}`, `{quote}`.
    pub format: Option<String>,
    /// Canonical quote -> the provider's quote (identity when absent).
    #[serde(default)]
    pub quote: BTreeMap<String, String>,
    /// Canonical ticker -> the provider's name for the base asset, used in `format`
    /// (Kraken calls BTC `XBT`). Also makes `format` apply to tickers not in `[assets]`.
    #[serde(default)]
    pub bases: BTreeMap<String, String>,
    /// Whole-pair ids, `"BASE/QUOTE" -> id`: used for that canonical pair only (any other
    /// quote of the base falls back to `format`, or is not listed).
    #[serde(default)]
    pub pairs: BTreeMap<String, String>,
    /// Asset ids, ticker -> id, for providers that take the quote as a separate
    /// parameter (CoinGecko's `bitcoin` with `vs_currencies`).
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

/// `rate_limit = { statuses = [403, 418, 429], bench = "2m", blocked_for = "1h" }`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitSpec {
    /// Statuses that bench the provider (default 418 and 429).
    pub statuses: Option<Vec<u16>>,
    /// Bench when the answer carries no `Retry-After` (default 30s).
    pub bench: Option<DurationStr>,
    /// Bench after HTTP 451, a refused location (default 1h); the provider is re-tried
    /// when it ends.
    pub blocked_for: Option<DurationStr>,
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
    /// Before the mapping, keep only array elements whose field holds a requested id:
    /// `"symbol"` (a top-level array), `"data.instId"` (the array at `.data`), or
    /// `"result.*"` (the requested keys of the object at `.result`).
    pub keep_ids: Option<String>,
    /// Before the mapping, turn decimal strings into numbers.
    #[serde(default)]
    pub numeric_strings: bool,
    /// ohlcv only: the candle columns of an array-of-arrays body, mapped in Rust (sorted
    /// by `ts`, the last `$limit` kept); any other body goes to `response`.
    pub rows: Option<RowsSpec>,
    /// Canonical interval -> provider value (a string for `{interval}`, or a table of vars).
    #[serde(default)]
    pub intervals: BTreeMap<String, IntervalValue>,
    /// The canonical quotes this op answers (default: any). Required when the request
    /// does not carry the quote (see docs/CONFIG.md); another `vs` is "not listed".
    pub quotes: Option<Vec<String>>,
    /// 4xx statuses whose bodies the mapping reads to learn why the provider refused
    /// (default `[400]`): Coinbase says "no such product" with HTTP 404.
    pub error_statuses: Option<Vec<u16>>,
    /// ohlcv: most candles one request may ask for (`{limit}` is clamped to it).
    pub max_limit: Option<u32>,
    /// orderbook: most levels one request may ask for (`{depth}` is clamped to it).
    pub max_depth: Option<u32>,
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

/// `rows = { path = "result.{id}", time = "s", ts = 0, open = 1, high = 2, low = 3,
/// close = 4, volume = 6 }`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RowsSpec {
    /// Where the rows are in the body: dot-separated keys, `{id}` for the pair id asked
    /// (default: the body is the array).
    pub path: Option<String>,
    /// Unit of the time column: `ms` (default) or `s`.
    pub time: Option<String>,
    /// Column of the candle's open time.
    pub ts: usize,
    /// Column of the open price.
    pub open: usize,
    /// Column of the high price.
    pub high: usize,
    /// Column of the low price.
    pub low: usize,
    /// Column of the close price.
    pub close: usize,
    /// Column of the volume in base units (absent: `null`).
    pub volume: Option<usize>,
}
