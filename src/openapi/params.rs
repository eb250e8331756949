//! The parameters of a normalized route as OpenAPI parameter objects: the same names,
//! bounds, patterns and enums `normalize/params.rs` and `derive/` enforce, so that a
//! request the schema calls invalid is refused (400) and a valid one is not refused
//! for its form.

use serde_json::{Value, json};

use crate::derive::indicators;
use crate::normalize::op::{Derive, Interval, Operation};
use crate::normalize::params::{
    CONSENSUS, DEFAULT_INTERVAL, DEFAULT_VS, DEPTH, MAX_OFFSET, MAX_Q, MAX_SYMBOLS, limit_bounds,
};

/// One ticker as the server reads it (surrounding spaces are trimmed; case is free),
/// or a coin by a provider's id (`coingecko:acchain`).
const TICKER: &str = r"\s*([A-Za-z0-9]{1,15}|[A-Za-z0-9_-]{1,32}:[A-Za-z0-9._-]{1,100})\s*";

/// One item of `indicators`, as the server reads it.
const INDICATOR: &str = r"\s*((sma|ema|rsi|atr)(:[0-9]{1,3})?|macd(:[0-9]{1,3}){0,3}|bbands(:[0-9]{1,3}(:[0-9]{1,2}(\.[0-9]{1,6})?)?)?|vwap)\s*";

/// The schema and description of a parameter `name` on a route of `op`.
pub fn schema(name: &str, op: Operation, derive: Option<Derive>) -> (Value, String) {
    match name {
        "symbols" => (
            json!({ "type": "string", "pattern": format!("^{TICKER}(,{TICKER}){{0,{}}}$", MAX_SYMBOLS - 1), "example": "BTC,ETH" }),
            format!("Tickers, comma-separated (1 to {MAX_SYMBOLS}); `symbol` is accepted instead"),
        ),
        "symbol" => (
            json!({ "type": "string", "pattern": format!("^{TICKER}$"), "example": "BTC" }),
            if op == Operation::Price { "One ticker (or use `symbols`)".into() } else { "Ticker".into() },
        ),
        "vs" => (
            json!({ "type": "string", "pattern": r"^\s*([A-Za-z]{2,10})?\s*$", "default": DEFAULT_VS, "example": DEFAULT_VS }),
            "Quote currency, 2 to 10 letters".into(),
        ),
        "interval" => (
            json!({ "type": "string", "enum": Interval::ALL.map(Interval::as_str), "default": DEFAULT_INTERVAL.as_str() }),
            "Candle interval".into(),
        ),
        "limit" => {
            let (default, max) = limit_bounds(op, derive).unwrap_or((1, 1));
            let what = match derive {
                Some(Derive::Indicators) => "Candles shown",
                Some(Derive::Movers) => "Gainers and losers, each",
                Some(Derive::Search) => "Coins",
                None => "Items",
            };
            (json!({ "type": "integer", "minimum": 1, "maximum": max, "default": default }), what.into())
        }
        "depth" => (
            json!({ "type": "integer", "minimum": 1, "maximum": DEPTH.1, "default": DEPTH.0 }),
            "Levels per side".into(),
        ),
        "q" if derive == Some(Derive::Search) => (
            json!({ "type": "string", "minLength": 1, "maxLength": MAX_Q, "pattern": r"\S", "example": "bitcoin" }),
            "A ticker, name or provider id, or the start or part of one (case is free)".into(),
        ),
        "q" => (
            json!({ "type": "string", "maxLength": MAX_Q }),
            "Words that must all appear in the title, summary or categories".into(),
        ),
        "offset" => (
            json!({ "type": "integer", "minimum": 0, "maximum": MAX_OFFSET, "default": 0 }),
            "Coins skipped before the first one served".into(),
        ),
        "indicators" => (
            json!({ "type": "string", "pattern": format!("^{INDICATOR}(,{INDICATOR}){{0,{}}}$", indicators::MAX_INDICATORS - 1),
                    "default": indicators::DEFAULT }),
            format!(
                "Indicators, comma-separated: {} (periods 1 to {}, at least 2 for rsi, macd and bbands; \
                 macd's fast period below its slow one; K above 0 and at most 10; no field twice)",
                indicators::KNOWN,
                indicators::MAX_PERIOD
            ),
        ),
        "consensus" => (
            json!({ "type": "integer", "minimum": CONSENSUS.0, "maximum": CONSENSUS.1 }),
            "Ask this many providers at once and answer their median (outliers dropped)".into(),
        ),
        _ => (json!({ "type": "string" }), String::new()),
    }
}

/// The parameter object (`in` query or path). `required`: a path parameter, or a
/// symbol the route has no default for.
pub fn parameter(name: &str, op: Operation, derive: Option<Derive>, in_path: bool, required: bool) -> Value {
    let (schema, description) = schema(name, op, derive);
    json!({
        "name": name,
        "in": if in_path { "path" } else { "query" },
        "required": in_path || required,
        "description": description,
        "schema": schema,
    })
}
