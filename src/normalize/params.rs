//! Query parameters of a normalized route -> a validated [`OpRequest`] (pure).
//!
//! Every refusal names the parameter and says what is accepted, so a client sees
//! `400 bad_request: depth: must be a whole number from 1 to 1000, got "abc"`.

use std::borrow::Cow;
use std::collections::BTreeMap;

use percent_encoding::percent_decode_str;

use crate::routing::pattern::Params;
use crate::split;

use super::op::{Derive, Interval, Operation};

/// Most symbols one price request may ask for.
pub const MAX_SYMBOLS: usize = 100;

/// A validated normalized request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpRequest {
    /// The operation.
    pub op: Operation,
    /// Upper-case canonical tickers, in the order asked, without duplicates.
    pub symbols: Vec<String>,
    /// Upper-case quote currency (default USD).
    pub vs: String,
    /// Candle interval (ohlcv).
    pub interval: Option<Interval>,
    /// Item limit (ohlcv, markets, exchanges, news, sentiment).
    pub limit: Option<u32>,
    /// Book depth (orderbook).
    pub depth: Option<u32>,
    /// Search text (news, search).
    pub q: Option<String>,
    /// Coins skipped before the first one served (coins).
    pub offset: Option<u32>,
    /// The `indicators` list as given (`/v1/indicators`; checked by `derive`).
    pub indicators: Option<String>,
    /// Providers to ask at once for a consensus price (price; within [`CONSENSUS`]).
    pub consensus: Option<u32>,
}

/// Providers one consensus price asks: (fewest, most).
pub const CONSENSUS: (u32, u32) = (2, 5);

/// `depth`: (default, most).
pub const DEPTH: (u32, u32) = (20, 1000);

/// `interval` when not given.
pub const DEFAULT_INTERVAL: Interval = Interval::H1;

/// `vs` when not given.
pub const DEFAULT_VS: &str = "USD";

/// Most characters of `q`.
pub const MAX_Q: usize = 100;

/// Most coins `offset` may skip.
pub const MAX_OFFSET: u32 = 100_000;

/// A refused parameter.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{param}: {message}")]
pub struct ParamError {
    /// The parameter name.
    pub param: String,
    /// What is wrong and what is accepted.
    pub message: String,
}

/// Parameters an operation accepts, with limits.
struct Spec {
    names: &'static [&'static str],
    limit: Option<(u32, u32)>,
}

// === impl OpRequest ===

impl OpRequest {
    /// Builds a request from the raw query string, path parameters and route defaults
    /// (query wins over path, path over defaults).
    pub fn parse(
        op: Operation,
        raw_query: Option<&str>,
        path_params: &Params,
        defaults: &BTreeMap<String, String>,
        max_params: usize,
    ) -> Result<Self, ParamError> {
        Self::parse_for(op, None, raw_query, path_params, defaults, max_params)
    }

    /// Like [`OpRequest::parse`], for a route that derives data from `op` (its own
    /// parameters and limits).
    pub fn parse_for(
        op: Operation,
        derive: Option<Derive>,
        raw_query: Option<&str>,
        path_params: &Params,
        defaults: &BTreeMap<String, String>,
        max_params: usize,
    ) -> Result<Self, ParamError> {
        let query = decode_query(raw_query, max_params)?;
        let spec = spec_for(op, derive);
        if let Some((name, _)) = query.iter().find(|(name, _)| !spec.names.contains(&name.as_ref())) {
            return Err(ParamError {
                param: name.clone().into_owned(),
                message: format!("unknown parameter for {op}; accepted: {}", spec.names.join(", ")),
            });
        }
        // The query wins over the path, the path over the defaults; looked up in place:
        // a merged map of owned copies cost a cache hit 650 instructions
        // (bench/instructions.sh).
        let get = |name: &str| {
            query
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.as_ref())
                .or_else(|| path_params.get(name).map(String::as_str))
                .or_else(|| defaults.get(name).map(String::as_str))
        };
        let mut req = OpRequest {
            op,
            symbols: Vec::new(),
            vs: vs(get("vs"))?,
            interval: None,
            limit: None,
            depth: None,
            q: None,
            offset: None,
            indicators: None,
            consensus: None,
        };
        if op == Operation::Price {
            req.symbols = symbols(get("symbols").or_else(|| get("symbol")), "symbols")?;
        } else if op.takes_symbols() {
            let one = symbols(get("symbol"), "symbol")?;
            if one.len() > 1 {
                return Err(err("symbol", "takes one symbol; use /v1/price for several"));
            }
            req.symbols = one;
        }
        if op == Operation::Ohlcv {
            let text = get("interval").unwrap_or(DEFAULT_INTERVAL.as_str());
            req.interval = Some(text.parse().map_err(|e: super::op::UnknownName| err("interval", &e.to_string()))?);
        }
        if let Some((default, max)) = spec.limit {
            req.limit = Some(number(get("limit"), "limit", default, max)?);
        }
        if op == Operation::Orderbook {
            req.depth = Some(number(get("depth"), "depth", DEPTH.0, DEPTH.1)?);
        }
        if derive == Some(Derive::Indicators) {
            req.indicators = get("indicators").map(str::to_owned);
        }
        if op == Operation::Price && get("consensus").is_some() {
            let (least, most) = CONSENSUS;
            let n = number(get("consensus"), "consensus", least, most)?;
            if n < least {
                return Err(err("consensus", &format!("must be from {least} to {most} providers, got {n}")));
            }
            req.consensus = Some(n);
        }
        if op == Operation::News || derive == Some(Derive::Search) {
            if get("q").is_some_and(|q| q.chars().count() > MAX_Q) {
                return Err(err("q", &format!("must be at most {MAX_Q} characters")));
            }
            req.q = get("q").map(str::trim).filter(|q| !q.is_empty()).map(str::to_owned);
            if derive == Some(Derive::Search) && req.q.is_none() {
                return Err(err("q", "is required: a ticker, name or provider id to look for, e.g. q=bitcoin"));
            }
        }
        if op == Operation::Coins && derive.is_none() {
            req.offset = Some(offset(get("offset"))?);
        }
        Ok(req)
    }

    /// A key that identifies the answer: the operation and every normalized parameter
    /// (symbols sorted, defaults filled in). Used by the response cache; a derived
    /// route adds its own part (`derive::Shaping::key`), `indicators` included.
    pub fn cache_key(&self) -> String {
        let mut out = String::with_capacity(64);
        self.write_cache_key(&mut out);
        out
    }

    /// [`Self::cache_key`] appended to `out` (one buffer for the whole key, as a cache
    /// lookup builds it on every request).
    pub fn write_cache_key(&self, out: &mut String) {
        // Pushed piece by piece: through `write!` the key took 1,860 of a cache hit's
        // 27,300 instructions, this takes a third of that (bench/instructions.sh).
        let mut number = itoa::Buffer::new();
        let mut symbols: Vec<&str> = self.symbols.iter().map(String::as_str).collect();
        symbols.sort_unstable();
        out.push_str(self.op.as_str());
        out.push('|');
        for (i, s) in symbols.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(s);
        }
        for part in [self.vs.as_str(), self.interval.map_or("", Interval::as_str)] {
            out.push('|');
            out.push_str(part);
        }
        for n in [self.limit, self.depth] {
            out.push('|');
            out.push_str(number.format(n.unwrap_or(0)));
        }
        out.push('|');
        if let Some(q) = self.q.as_deref().filter(|q| !q.is_empty()) {
            out.push_str(&q.to_lowercase());
        }
        for n in [self.consensus, self.offset] {
            out.push('|');
            out.push_str(number.format(n.unwrap_or(0)));
        }
    }
}

/// The parameter names a route accepts (for validating route defaults).
pub fn accepted(op: Operation, derive: Option<Derive>) -> &'static [&'static str] {
    spec_for(op, derive).names
}

/// The bounds of `limit` on a route: (default, most), if it takes one.
pub fn limit_bounds(op: Operation, derive: Option<Derive>) -> Option<(u32, u32)> {
    spec_for(op, derive).limit
}

fn spec_for(op: Operation, derive: Option<Derive>) -> Spec {
    match derive {
        Some(Derive::Indicators) => {
            Spec { names: &["symbol", "vs", "interval", "limit", "indicators"], limit: Some((100, 1000)) }
        }
        Some(Derive::Movers) => Spec { names: &["vs", "limit"], limit: Some((10, 100)) },
        Some(Derive::Search) => Spec { names: &["q", "limit"], limit: Some((10, 50)) },
        None => spec(op),
    }
}

fn spec(op: Operation) -> Spec {
    match op {
        Operation::Price => Spec { names: &["symbols", "symbol", "vs", "consensus"], limit: None },
        Operation::Ticker => Spec { names: &["symbol", "vs"], limit: None },
        Operation::Ohlcv => Spec { names: &["symbol", "vs", "interval", "limit"], limit: Some((100, 1000)) },
        Operation::Orderbook => Spec { names: &["symbol", "vs", "depth"], limit: None },
        Operation::Markets => Spec { names: &["vs", "limit"], limit: Some((100, 250)) },
        Operation::Exchanges => Spec { names: &["limit"], limit: Some((50, 250)) },
        Operation::News => Spec { names: &["q", "limit"], limit: Some((20, 100)) },
        Operation::Sentiment => Spec { names: &["limit"], limit: Some((1, 365)) },
        Operation::Coins => Spec { names: &["limit", "offset"], limit: Some((100, 1000)) },
    }
}

fn err(param: &str, message: &str) -> ParamError {
    ParamError { param: param.to_owned(), message: message.to_owned() }
}

/// A query's names and values, in the order given; borrowed from the query where
/// nothing needed decoding.
pub type Pairs<'a> = Vec<(Cow<'a, str>, Cow<'a, str>)>;

/// Splits and percent-decodes `a=1&b=2`; `+` is a space. Repeated names are refused.
pub fn decode_query(raw: Option<&str>, max_params: usize) -> Result<Pairs<'_>, ParamError> {
    let mut out: Pairs<'_> = Vec::new();
    for pair in split::pieces(raw.unwrap_or(""), b'&').filter(|p| !p.is_empty()) {
        if out.len() >= max_params {
            return Err(err("query", &format!("too many parameters (at most {max_params})")));
        }
        let (name, value) = split::once(pair, b'=').unwrap_or((pair, ""));
        let name =
            decode(name).ok_or_else(|| err("query", "parameter name is not valid UTF-8 after percent-decoding"))?;
        let value = decode(value).ok_or_else(|| err(&name, "value is not valid UTF-8 after percent-decoding"))?;
        if out.iter().any(|(n, _)| *n == name) {
            return Err(err(&name, "given more than once"));
        }
        out.push((name, value));
    }
    Ok(out)
}

/// `s` percent-decoded (`+` is a space); borrowed when there is nothing to decode.
fn decode(s: &str) -> Option<Cow<'_, str>> {
    if !s.bytes().any(|b| b == b'+' || b == b'%') {
        return Some(Cow::Borrowed(s));
    }
    let spaced = s.replace('+', " ");
    percent_decode_str(&spaced).decode_utf8().ok().map(|c| Cow::Owned(c.into_owned()))
}

/// Reads a comma-separated ticker list (upper-cased, duplicates removed, bounded).
pub fn symbols(value: Option<&str>, param: &str) -> Result<Vec<String>, ParamError> {
    let value =
        value.map(str::trim).filter(|v| !v.is_empty()).ok_or_else(|| err(param, "is required, e.g. BTC or BTC,ETH"))?;
    let asked = value.bytes().filter(|&b| b == b',').count() + 1;
    if asked > MAX_SYMBOLS {
        return Err(err(param, &format!("asks for {asked} symbols; at most {MAX_SYMBOLS} per request")));
    }
    let mut out: Vec<String> = Vec::with_capacity(asked);
    for raw in split::pieces(value, b',') {
        let raw = raw.trim();
        if let Some(id) = provider_id(raw) {
            if !out.contains(&id) {
                out.push(id);
            }
            continue;
        }
        if raw.is_empty() {
            return Err(err(param, "has an empty symbol (check the commas)"));
        }
        // Checked before upper-casing, which keeps ASCII's length and letters.
        if raw.len() > 15 || !raw.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(ParamError {
                param: param.to_owned(),
                message: format!(
                    "{:?} is not a ticker (letters and digits, at most 15) nor a provider id like coingecko:acchain",
                    raw.chars().take(20).collect::<String>()
                ),
            });
        }
        let sym = raw.to_ascii_uppercase();
        if !out.contains(&sym) {
            out.push(sym);
        }
    }
    Ok(out)
}

/// A coin named by a provider's id, `coingecko:acchain` (what `/v1/search` gives as
/// `id` where a ticker names several coins): the provider part lower-cased, the id as
/// written. `None` when `raw` is not of that form.
pub fn provider_id(raw: &str) -> Option<String> {
    let (provider, id) = split::once(raw, b':')?;
    let provider_ok = (1..=32).contains(&provider.len())
        && provider.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    let id_ok =
        (1..=100).contains(&id.len()) && id.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    (provider_ok && id_ok).then(|| format!("{}:{id}", provider.to_ascii_lowercase()))
}

/// Reads `offset` (default 0).
fn offset(value: Option<&str>) -> Result<u32, ParamError> {
    let Some(text) = value.map(str::trim) else { return Ok(0) };
    let digits = !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit());
    let shown = text.chars().take(20).collect::<String>();
    text.parse::<u32>()
        .ok()
        .filter(|n| digits && *n <= MAX_OFFSET)
        .ok_or_else(|| err("offset", &format!("must be a whole number from 0 to {MAX_OFFSET}, got {shown:?}")))
}

/// Reads `vs` (default USD).
pub fn vs(value: Option<&str>) -> Result<String, ParamError> {
    let v = value.map(str::trim).filter(|v| !v.is_empty()).unwrap_or(DEFAULT_VS).to_ascii_uppercase();
    if !(2..=10).contains(&v.len()) || !v.chars().all(|c| c.is_ascii_alphabetic()) {
        return Err(err("vs", "must be a currency code of 2 to 10 letters, e.g. USD"));
    }
    Ok(v)
}

fn number(value: Option<&str>, param: &str, default: u32, max: u32) -> Result<u32, ParamError> {
    let Some(text) = value.map(str::trim) else {
        return Ok(default);
    };
    // Digits only: `+5` or `5.0` are not the integers the API documents.
    let digits = !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit());
    match text.parse::<u32>() {
        Ok(n) if digits && (1..=max).contains(&n) => Ok(n),
        _ => Err(ParamError {
            param: param.to_owned(),
            message: format!(
                "must be a whole number from 1 to {max}, got {:?}",
                text.chars().take(20).collect::<String>()
            ),
        }),
    }
}

#[cfg(test)]
mod tests;
