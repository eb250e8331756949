//! The path item of a `/v1/stream` route: query parameters, the SSE and WebSocket
//! answers, and the message schemas.

use serde_json::{Value, json};

use super::{errors, operation_id};
use crate::config::Config;
use crate::config::model::stream::StreamRoute;
use crate::stream::message::{Channel, Status};

/// `GET` on a stream route.
pub fn path_item(cfg: &Config, route: &StreamRoute, pattern: &crate::routing::pattern::Pattern) -> Value {
    let channels: Vec<&str> = cfg
        .provider(&route.provider)
        .and_then(|p| p.stream.as_ref())
        .map(|s| s.channels.keys().map(|c| c.as_str()).collect())
        .unwrap_or_else(|| Channel::ALL.iter().map(|c| c.as_str()).collect());
    let parameters = json!([
        {
            "name": "symbols", "in": "query", "required": true,
            "description": format!("Comma-separated tickers, at most {}", route.max_symbols),
            "schema": { "type": "string", "pattern": "^[A-Za-z0-9]{1,15}(,[A-Za-z0-9]{1,15})*$" },
            "example": "BTC,ETH"
        },
        {
            "name": "channels", "in": "query", "required": false,
            "description": format!("Comma-separated channels of: {}", channels.join(", ")),
            "schema": { "type": "string", "default": "trades,ticker" },
        },
        {
            "name": "vs", "in": "query", "required": false,
            "description": "Quote currency",
            "schema": { "type": "string", "default": "USD", "pattern": "^[A-Za-z]{2,10}$" }
        },
        {
            "name": "interval", "in": "query", "required": false,
            "description": "Candle interval (with channels=candles only)",
            "schema": { "type": "string", "enum": crate::normalize::op::Interval::ALL.map(|i| i.as_str()), "default": "1m" }
        },
        {
            "name": "depth", "in": "query", "required": false,
            "description": "Order book levels a side (with channels=book only)",
            "schema": { "type": "integer", "minimum": 1, "maximum": crate::stream::serve::MAX_DEPTH, "default": crate::stream::serve::DEFAULT_DEPTH }
        }
    ]);
    let then = if route.then.is_empty() {
        String::new()
    } else {
        format!(
            " While every {} stream host is refused or down, trades and tickers come from the next stream in turn ({}), \
             its messages naming that `provider`.",
            route.provider,
            route.then.join(", ")
        )
    };
    let fallback = route.fallback.as_deref().map_or_else(
        || "No REST fallback is configured.".to_owned(),
        |f| format!("While no stream host answers, tickers come from {f} every {} ms.", route.poll.as_millis()),
    );
    let mut responses = serde_json::Map::new();
    responses.insert(
        "200".into(),
        json!({
            "description": "Server-Sent Events: one `data: {json}` line per message (a `StreamMessage`); \
                            comment lines keep the connection alive",
            "content": { "text/event-stream": { "schema": { "$ref": "#/components/schemas/StreamMessage" } } }
        }),
    );
    responses.insert(
        "101".into(),
        json!({ "description": "WebSocket (when the request asks to upgrade): one text frame per `StreamMessage`" }),
    );
    responses.extend(errors(&[400, 405, 414, 429, 503]));
    json!({
        "get": {
            "operationId": operation_id("get", pattern),
            "summary": format!("Live trades, tickers, candles and order books from the {} stream", route.provider),
            "description": format!(
                "One upstream connection carries every client's symbols. A client that reads too slowly \
                 loses messages and is told so with a `gap` status (a book client with `resync` and a fresh \
                 snapshot).{then} {fallback}"
            ),
            "tags": ["stream"],
            "parameters": parameters,
            "responses": responses,
        }
    })
}

/// The message schemas.
pub fn schemas() -> serde_json::Map<String, Value> {
    let mut out = serde_json::Map::new();
    out.insert(
        "StreamTrade".into(),
        json!({
            "type": "object",
            "required": ["channel", "symbol", "vs", "price", "amount", "side", "ts", "id", "provider"],
            "properties": {
                "channel": { "const": "trade" },
                "symbol": { "type": "string" }, "vs": { "type": "string" },
                "price": { "type": "number", "exclusiveMinimum": 0 },
                "amount": { "type": "number", "minimum": 0 },
                "side": { "type": "string", "enum": ["buy", "sell"], "description": "The taker's side" },
                "ts": { "type": "integer", "description": "Trade time, ms" },
                "id": { "type": "string", "description": "The provider's trade id" },
                "provider": { "type": "string" }
            }
        }),
    );
    out.insert(
        "StreamTicker".into(),
        json!({
            "allOf": [
                { "$ref": "#/components/schemas/Ticker" },
                { "type": "object", "required": ["channel", "provider"],
                  "properties": { "channel": { "const": "ticker" }, "provider": { "type": "string" } } }
            ]
        }),
    );
    out.insert(
        "StreamCandle".into(),
        json!({
            "type": "object",
            "required": ["channel", "symbol", "vs", "interval", "ts", "open", "high", "low", "close", "volume", "closed", "updated", "provider"],
            "properties": {
                "channel": { "const": "candle" },
                "symbol": { "type": "string" }, "vs": { "type": "string" },
                "interval": { "type": "string", "enum": crate::normalize::op::Interval::ALL.map(|i| i.as_str()) },
                "ts": { "type": "integer", "description": "Open time, ms" },
                "open": { "type": "number" }, "high": { "type": "number" }, "low": { "type": "number" },
                "close": { "type": "number" }, "volume": { "type": ["number", "null"] },
                "closed": { "type": "boolean", "description": "The interval is over: the candle's last update" },
                "updated": { "type": "integer", "description": "When the provider sent the update, ms" },
                "provider": { "type": "string" }
            }
        }),
    );
    out.insert(
        "StreamBook".into(),
        json!({
            "type": "object",
            "required": ["channel", "type", "symbol", "vs", "bids", "asks", "seq", "ts", "provider"],
            "description": "A `snapshot` (the top `depth` levels a side) replaces the client's book; an `update` sets \
                            the levels that changed in that top (amount 0 removes a level). After a `resync` status \
                            a new snapshot follows.",
            "properties": {
                "channel": { "const": "book" },
                "type": { "type": "string", "enum": ["snapshot", "update"] },
                "symbol": { "type": "string" }, "vs": { "type": "string" },
                "bids": { "type": "array", "description": "[price, amount], best (highest) first",
                          "items": { "type": "array", "items": { "type": "number" }, "minItems": 2, "maxItems": 2 } },
                "asks": { "type": "array", "description": "[price, amount], best (lowest) first",
                          "items": { "type": "array", "items": { "type": "number" }, "minItems": 2, "maxItems": 2 } },
                "seq": { "type": "integer", "description": "The provider's last update id applied" },
                "ts": { "type": "integer", "description": "When it was sent, ms" },
                "provider": { "type": "string" }
            }
        }),
    );
    out.insert(
        "StreamStatus".into(),
        json!({
            "type": "object",
            "required": ["channel", "event", "detail", "ts"],
            "properties": {
                "channel": { "const": "status" },
                "event": { "type": "string", "enum": Status::ALL.map(Status::as_str) },
                "detail": { "type": "string" },
                "ts": { "type": "integer" }
            }
        }),
    );
    out.insert(
        "StreamMessage".into(),
        json!({ "oneOf": [
            { "$ref": "#/components/schemas/StreamTrade" },
            { "$ref": "#/components/schemas/StreamTicker" },
            { "$ref": "#/components/schemas/StreamCandle" },
            { "$ref": "#/components/schemas/StreamBook" },
            { "$ref": "#/components/schemas/StreamStatus" }
        ] }),
    );
    out
}
