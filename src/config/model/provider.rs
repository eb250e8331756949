//! Providers, validated: hosts, auth, symbol maps, quotas, credit budgets, rate-limit
//! benches, health checks and each operation's request and mapping.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use http::HeaderName;

use super::ProviderKind;
use crate::breaker::BreakerPolicy;
use crate::normalize::jq::JqProgram;
use crate::normalize::op::{Interval, Operation};
use crate::secret::Secret;
use crate::transport::url::BaseUrl;

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
    pub stream: Option<Arc<crate::config::model::stream::StreamConfig>>,
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
    /// Where they came from (shown instead of the keys): `env X_API_KEY` or `file /path`.
    pub env: String,
    /// The file the keys are read from (and re-read when it changes), when not `env`.
    pub file: Option<std::path::PathBuf>,
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
    /// Canonical ticker -> the provider's base name in `format`.
    pub bases: BTreeMap<String, String>,
    /// Whole-pair ids by canonical `(base, quote)`.
    pub pairs: BTreeMap<(String, String), String>,
    /// Asset ids (from `[assets]` and `symbols.ids`): the quote is sent apart.
    pub ids: BTreeMap<String, String>,
    /// Assets the format applies to.
    pub universe: Arc<BTreeMap<String, Option<String>>>,
    /// Passes tickers through unchanged (kind = marketgate).
    pub identity: bool,
    /// Whose ids `ids` are (the provider's name, or `symbols.ids_from`): a coin asked
    /// as `coingecko:acchain` goes to the providers of that namespace only.
    pub namespace: String,
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
    /// Bench after HTTP 451 (a refused location).
    pub blocked_for: Duration,
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
    /// The canonical quotes this op answers (`None`: any).
    pub quotes: Option<Vec<String>>,
    /// 4xx statuses whose bodies the mapping reads (default `[400]`).
    pub error_statuses: Vec<u16>,
    /// Most candles one request asks for (`{limit}` is clamped to it).
    pub max_limit: Option<u32>,
    /// Most book levels one request asks for (`{depth}` is clamped to it).
    pub max_depth: Option<u32>,
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

/// Keys separated by `sep` (commas in a variable, lines in a file), blank ones and
/// `#` comments left out.
pub fn split_keys(text: &str, sep: char) -> Vec<Secret> {
    text.split(sep).map(str::trim).filter(|k| !k.is_empty() && !k.starts_with('#')).map(Secret::new).collect()
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

    /// The provider's id for `symbol` quoted in `vs`, or `None` (unsupported): the
    /// whole-pair id of exactly that pair, else the asset id, else the format filled
    /// with the provider's base name and quote.
    pub fn id_for(&self, symbol: &str, vs: &str) -> Option<String> {
        if self.identity {
            return Some(symbol.to_owned());
        }
        if let Some((namespace, id)) = symbol.split_once(':') {
            return self.takes_ids_of(namespace).then(|| id.to_owned());
        }
        if let Some(id) = self.pairs.get(&(symbol.to_owned(), vs.to_owned())) {
            return Some(id.clone());
        }
        if let Some(id) = self.ids.get(symbol) {
            return Some(id.clone());
        }
        let format = self.format.as_ref()?;
        let base = match self.bases.get(symbol) {
            Some(b) => b.as_str(),
            None if self.universe.contains_key(symbol) => symbol,
            None => return None,
        };
        let quote = self.quote_for(vs);
        Some(
            format
                .replace("{BASE}", base)
                .replace("{QUOTE}", quote)
                .replace("{base}", &base.to_ascii_lowercase())
                .replace("{quote}", &quote.to_ascii_lowercase()),
        )
    }

    /// Whether this map names `symbol` explicitly (for `unknown_symbol`).
    pub fn knows(&self, symbol: &str) -> bool {
        if let Some((namespace, _)) = symbol.split_once(':') {
            return self.takes_ids_of(namespace);
        }
        self.ids.contains_key(symbol)
            || self.pairs.keys().any(|(base, _)| base == symbol)
            || (self.format.is_some() && (self.universe.contains_key(symbol) || self.bases.contains_key(symbol)))
    }

    /// Whether a `namespace:id` coin can be asked here: the ids are this namespace's
    /// and name an asset (the quote is sent apart, not filled into a format).
    fn takes_ids_of(&self, namespace: &str) -> bool {
        !self.namespace.is_empty() && self.namespace == namespace && self.format.is_none()
    }

    /// Whether every id this map gives names the quote too (a whole pair, or a format
    /// with `{QUOTE}`), so a request carrying only the id still says which quote.
    pub fn ids_name_the_quote(&self) -> bool {
        let format_has_quote = self.format.as_ref().is_some_and(|f| f.contains("{QUOTE}") || f.contains("{quote}"));
        self.identity || (self.ids.is_empty() && (format_has_quote || self.format.is_none()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kraken() -> SymbolMap {
        SymbolMap {
            format: Some("{BASE}{QUOTE}".into()),
            bases: BTreeMap::from([("BTC".into(), "XBT".into())]),
            pairs: BTreeMap::from([(("BTC".into(), "USD".into()), "XXBTZUSD".into())]),
            universe: Arc::new(BTreeMap::from([("BTC".into(), None), ("SOL".into(), None)])),
            ..SymbolMap::default()
        }
    }

    #[test]
    fn a_whole_pair_id_serves_only_its_own_quote() {
        let k = kraken();
        assert_eq!(k.id_for("BTC", "USD").as_deref(), Some("XXBTZUSD"));
        assert_eq!(k.id_for("BTC", "EUR").as_deref(), Some("XBTEUR"), "another quote composes the base name");
        assert_eq!(k.id_for("SOL", "USD").as_deref(), Some("SOLUSD"));
        assert_eq!(k.id_for("DOGE", "USD"), None, "not an asset it knows");
        let only_pairs = SymbolMap { format: None, ..kraken() };
        assert_eq!(only_pairs.id_for("BTC", "EUR"), None, "no format: any other quote is not listed");
        assert!(only_pairs.knows("BTC") && !only_pairs.knows("SOL"));
    }

    #[test]
    fn ids_name_the_quote_only_when_no_asset_id_can_stand_for_a_pair() {
        assert!(kraken().ids_name_the_quote());
        let asset_ids = SymbolMap { ids: BTreeMap::from([("BTC".into(), "XBTUSD".into())]), ..kraken() };
        assert!(!asset_ids.ids_name_the_quote(), "README's old Kraken example: one id whatever vs asks");
        let base_only = SymbolMap { format: Some("{BASE}".into()), ..SymbolMap::default() };
        assert!(!base_only.ids_name_the_quote());
    }
}
