//! The JSON Schemas of `components.schemas`: the envelope and its `meta`, each
//! operation's payload, the derived payloads and the error body. They describe what
//! `normalize/schema.rs`, `derive/` and `pipeline/envelope.rs` serialize.

use serde_json::{Value, json};

use crate::breaker::Outcome;
use crate::error::ErrorKind;
use crate::normalize::op::Operation;

fn num() -> Value {
    json!({ "type": "number" })
}

fn num_or_null() -> Value {
    json!({ "type": ["number", "null"] })
}

fn text() -> Value {
    json!({ "type": "string" })
}

fn ms() -> Value {
    json!({ "type": "integer", "description": "Unix time, milliseconds" })
}

fn object(required: &[&str], properties: Value) -> Value {
    json!({ "type": "object", "required": required, "properties": properties })
}

/// Every schema, by name.
pub fn all() -> serde_json::Map<String, Value> {
    let mut m = serde_json::Map::new();
    let level = json!({ "type": "array", "prefixItems": [num(), num()], "minItems": 2, "maxItems": 2,
                        "description": "[price, amount]" });
    let market = object(
        &["symbol", "name", "rank", "price", "market_cap", "volume_24h", "change_24h_pct"],
        json!({ "symbol": text(), "name": text(), "rank": { "type": ["integer", "null"] }, "price": num(),
                "market_cap": num_or_null(), "volume_24h": num_or_null(), "change_24h_pct": num_or_null() }),
    );
    let items: [(&str, Value); 15] = [
        (
            "Price",
            object(
                &["symbol", "vs", "price", "ts"],
                json!({ "symbol": text(), "vs": text(), "price": num(), "ts": ms() }),
            ),
        ),
        (
            "Ticker",
            object(
                &["symbol", "vs", "last", "open", "high", "low", "change_pct", "volume", "quote_volume", "ts"],
                json!({ "symbol": text(), "vs": text(), "last": num(), "open": num_or_null(), "high": num_or_null(),
                        "low": num_or_null(), "change_pct": num_or_null(), "volume": num_or_null(),
                        "quote_volume": num_or_null(), "ts": ms() }),
            ),
        ),
        (
            "Candle",
            object(
                &["ts", "open", "high", "low", "close", "volume"],
                json!({ "ts": ms(), "open": num(), "high": num(), "low": num(), "close": num(), "volume": num_or_null() }),
            ),
        ),
        (
            "OrderBook",
            object(
                &["symbol", "vs", "bids", "asks", "ts"],
                json!({ "symbol": text(), "vs": text(), "bids": { "type": "array", "items": level },
                        "asks": { "type": "array", "items": level }, "ts": ms() }),
            ),
        ),
        ("Market", market),
        (
            "Exchange",
            object(
                &["id", "name", "country", "url", "volume_24h_btc"],
                json!({ "id": text(), "name": text(), "country": { "type": ["string", "null"] },
                        "url": { "type": ["string", "null"] }, "volume_24h_btc": num_or_null() }),
            ),
        ),
        (
            "News",
            object(
                &["title", "url", "source", "published_at", "summary", "categories"],
                json!({ "title": text(), "url": text(), "source": text(), "published_at": ms(),
                        "summary": { "type": ["string", "null"] }, "categories": { "type": "array", "items": text() } }),
            ),
        ),
        (
            "Sentiment",
            object(
                &["value", "classification", "ts"],
                json!({ "value": { "type": "number", "minimum": 0, "maximum": 100 }, "classification": text(), "ts": ms() }),
            ),
        ),
        (
            "Coin",
            object(
                &["id", "symbol", "name", "rank", "ids", "ambiguous"],
                json!({ "id": { "type": "string", "description": "What the other routes take for this coin: its ticker when marketgate knows it ([assets]), else provider:id (coingecko:acchain)" },
                        "symbol": { "type": "string", "description": "Upper-case ticker (some coins have none)" },
                        "name": text(), "rank": { "type": ["integer", "null"], "minimum": 1 },
                        "ids": { "type": "object", "additionalProperties": text(), "description": "The coin's id at each provider" },
                        "ambiguous": { "type": "boolean", "description": "Another coin has the same ticker" } }),
            ),
        ),
        (
            "IndicatorRow",
            json!({
                "type": "object", "required": ["ts", "close"],
                "properties": { "ts": ms(), "close": num() },
                "additionalProperties": num_or_null(),
                "description": "The candle's close and one field per indicator asked (sma_20, ema_20, rsi_14, macd, macd_signal, macd_hist, bb_upper, bb_middle, bb_lower, atr_14, vwap, ...); null while a window is not full."
            }),
        ),
        (
            "Movers",
            object(
                &["gainers", "losers"],
                json!({ "gainers": { "type": "array", "items": { "$ref": "#/components/schemas/Market" } },
                        "losers": { "type": "array", "items": { "$ref": "#/components/schemas/Market" } } }),
            ),
        ),
        ("Attempt", attempt()),
        ("Meta", meta()),
        ("Error", error()),
        (
            "ConsensusSource",
            object(
                &["provider", "symbol", "price", "ts", "dropped"],
                json!({ "provider": text(), "symbol": text(), "price": num(), "ts": { "type": "integer" },
                        "id": { "type": "string", "description": "The provider's id for the coin it quoted" },
                        "dropped": { "description": "false when the quote counted, else why not",
                                     "oneOf": [{ "type": "boolean", "const": false }, { "type": "string", "enum": ["outlier", "stale"] }] } }),
            ),
        ),
    ];
    for (name, schema) in items {
        m.insert(name.to_owned(), schema);
    }
    m
}

fn attempt() -> Value {
    let outcomes: Vec<&str> = Outcome::ALL.iter().map(|o| o.as_str()).collect();
    object(
        &["provider", "host", "outcome", "ms"],
        json!({ "provider": text(), "host": { "type": ["string", "null"] }, "outcome": { "enum": outcomes },
                "ms": { "type": "integer", "minimum": 0 }, "detail": text() }),
    )
}

fn meta() -> Value {
    json!({
        "type": "object",
        "required": ["operation", "provider", "host", "cached", "stale", "age_ms", "attempts", "missing"],
        "properties": {
            "operation": text(),
            "provider": { "type": "string", "description": "Who answered (several, comma-separated, for merged and consensus answers)" },
            "host": text(),
            "cached": { "type": "boolean" },
            "stale": { "type": "boolean" },
            "age_ms": { "type": "integer", "minimum": 0 },
            "attempts": { "type": "integer", "minimum": 0 },
            "missing": { "type": "array", "items": text() },
            "tried": { "type": "array", "items": { "$ref": "#/components/schemas/Attempt" } },
            "aliases": { "type": "object", "additionalProperties": text() },
            "consensus": {
                "type": "object", "required": ["asked", "answered", "agree", "rule"],
                "properties": { "asked": { "type": "integer" }, "answered": { "type": "integer" },
                                "agree": { "type": "boolean" }, "rule": text(), "note": text() }
            },
            "sources": { "type": "array", "items": { "$ref": "#/components/schemas/ConsensusSource" } },
            "spread_pct": { "type": "object", "additionalProperties": num() },
            "served": {
                "type": "object", "required": ["asked", "served"],
                "description": "Fewer candles or book levels than asked: how many were served, and the provider's documented maximum when that is why",
                "properties": { "asked": { "type": "integer", "minimum": 1 }, "served": { "type": "integer", "minimum": 0 },
                                "provider_max": { "type": "integer", "minimum": 1 } }
            },
            "stale_data": {
                "type": "object", "required": ["newest", "age_ms", "note"],
                "description": "Candles whose newest bar opened more than 3 intervals ago (also on indicators)",
                "properties": { "newest": { "type": "integer" }, "age_ms": { "type": "integer" }, "note": text() }
            },
            "dropped": {
                "type": "object", "required": ["count", "items"],
                "description": "News items left out because they did not fit (no link, a date in the future, a video), the first ten named",
                "properties": { "count": { "type": "integer", "minimum": 1 }, "items": { "type": "array", "items": text() } }
            },
            "note": text()
        }
    })
}

fn error() -> Value {
    object(
        &["error"],
        json!({ "error": object(&["code", "message", "attempts"], json!({
            "code": { "enum": ErrorKind::ALL.map(|k| k.status_and_code().1) },
            "message": text(),
            "attempts": { "type": "array", "items": { "$ref": "#/components/schemas/Attempt" } }
        })) }),
    )
}

/// The `data` schema of an operation's answers.
pub fn payload(op: Operation) -> Value {
    let list = |name: &str| json!({ "type": "array", "items": { "$ref": format!("#/components/schemas/{name}") } });
    match op {
        Operation::Price => list("Price"),
        Operation::Ticker => json!({ "$ref": "#/components/schemas/Ticker" }),
        Operation::Ohlcv => list("Candle"),
        Operation::Orderbook => json!({ "$ref": "#/components/schemas/OrderBook" }),
        Operation::Markets => list("Market"),
        Operation::Exchanges => list("Exchange"),
        Operation::News => list("News"),
        Operation::Sentiment => list("Sentiment"),
        Operation::Coins => list("Coin"),
    }
}

/// The `data` schema of a derived route.
pub fn derived(d: crate::normalize::op::Derive) -> Value {
    match d {
        crate::normalize::op::Derive::Indicators => {
            json!({ "type": "array", "items": { "$ref": "#/components/schemas/IndicatorRow" } })
        }
        crate::normalize::op::Derive::Movers => json!({ "$ref": "#/components/schemas/Movers" }),
        crate::normalize::op::Derive::Search => payload(Operation::Coins),
    }
}
