//! What a stream client receives: one JSON object per message (DESIGN §8.3), encoded
//! once per upstream event and shared by every client that wants it.

use bytes::Bytes;
use serde::{Deserialize, Serialize};

pub use crate::config::model::stream::Channel;
use crate::normalize::schema::{Candle, Ticker, Ts};

/// A trade as clients see it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Trade {
    /// Canonical ticker.
    pub symbol: String,
    /// Quote currency.
    pub vs: String,
    /// Price in `vs`.
    pub price: f64,
    /// Amount in the base asset.
    pub amount: f64,
    /// The taker's side.
    pub side: Side,
    /// Trade time.
    pub ts: Ts,
    /// The provider's trade id (unique per symbol).
    pub id: String,
}

/// Which side took liquidity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    /// The buyer took (hit the ask).
    Buy,
    /// The seller took (hit the bid).
    Sell,
}

/// A candle as it forms (`channels=candles`): the `/v1/ohlcv` candle, and whether it
/// is closed (its interval is over: this is its last update).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(from = "FlatCandleUpdate")]
pub struct CandleUpdate {
    /// Canonical ticker.
    pub symbol: String,
    /// Quote currency.
    pub vs: String,
    /// The interval (`1m` ... `1d`).
    pub interval: String,
    /// Open time, prices and volume, as `/v1/ohlcv` gives them.
    #[serde(flatten)]
    pub candle: Candle,
    /// The interval is over.
    pub closed: bool,
    /// When the provider sent this update.
    pub updated: Ts,
}

/// [`CandleUpdate`] as a mapping writes it: flat, and nothing else (serde's `flatten`
/// cannot refuse unknown fields).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FlatCandleUpdate {
    symbol: String,
    vs: String,
    interval: String,
    ts: Ts,
    open: f64,
    high: f64,
    low: f64,
    close: f64,
    volume: Option<f64>,
    closed: bool,
    updated: Ts,
}

impl From<FlatCandleUpdate> for CandleUpdate {
    fn from(f: FlatCandleUpdate) -> Self {
        let candle = Candle { ts: f.ts, open: f.open, high: f.high, low: f.low, close: f.close, volume: f.volume };
        Self { symbol: f.symbol, vs: f.vs, interval: f.interval, candle, closed: f.closed, updated: f.updated }
    }
}

/// One market-data message.
#[derive(Debug, Clone, PartialEq)]
pub enum Payload {
    /// A trade.
    Trade(Trade),
    /// A ticker update.
    Ticker(Ticker),
    /// A candle update.
    Candle(CandleUpdate),
}

/// What a `status` message says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// The client's subscription is in place.
    Subscribed,
    /// Messages were lost (the client read too slowly, or the upstream dropped).
    Gap,
    /// The upstream stream carries the data again.
    Resumed,
    /// No stream host is reachable: tickers come from polling the REST pool.
    Fallback,
    /// The connection is up but one pair's topic has sent nothing past its channel's
    /// `quiet` bound: that pair's tickers come from polling the REST pool until it
    /// speaks again (`resumed`).
    Silent,
    /// This instance is shutting down: the stream ends, reconnect (to another replica).
    Closing,
    /// The order book lost sync (the upstream skipped updates, or this client read too
    /// slowly): drop your book; a fresh snapshot follows.
    Resync,
}

/// Why a mapped upstream message was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct BadMessage(pub String);

// === impl Channel ===

impl Channel {
    /// Runs `channel`'s mapping on one upstream event and reads the output as this
    /// channel's payload for `symbol`/`vs`: the mapped fields (to relabel for other
    /// clients) and the payload, or why the event was refused.
    pub fn map_event(
        self,
        channel: &crate::config::model::stream::StreamChannel,
        data: serde_json::Value,
        globals: &crate::normalize::jq::Globals,
        symbol: &str,
        vs: &str,
    ) -> Result<(serde_json::Value, Payload), String> {
        let out = channel.mapping.run_val(crate::normalize::jq::from_json(data), globals).map_err(|e| e.to_string())?;
        let value = serde_json::from_str::<serde_json::Value>(&out.to_string()).map_err(|e| e.to_string())?;
        let payload = self.payload(value.clone(), symbol, vs).map_err(|e| e.to_string())?;
        Ok((value, payload))
    }

    /// Reads a mapping's output (an object without `symbol` and `vs`, which are added
    /// here) as this channel's payload, and checks it.
    pub fn payload(self, mut value: serde_json::Value, symbol: &str, vs: &str) -> Result<Payload, BadMessage> {
        let Some(obj) = value.as_object_mut() else {
            return Err(BadMessage(format!("{} mapping must produce an object", self.as_str())));
        };
        obj.insert("symbol".into(), symbol.into());
        obj.insert("vs".into(), vs.into());
        let bad = |e: serde_json::Error| BadMessage(format!("{} mapping output: {e}", self.as_str()));
        let payload = match self {
            Self::Trades => Payload::Trade(serde_json::from_value(value).map_err(bad)?),
            Self::Ticker => Payload::Ticker(serde_json::from_value(value).map_err(bad)?),
            Self::Candles => Payload::Candle(serde_json::from_value(value).map_err(bad)?),
            Self::Book => return Err(BadMessage("book events update the local book; they are not messages".into())),
        };
        payload.check()?;
        Ok(payload)
    }
}

// === impl Payload ===

#[derive(Serialize)]
struct Tagged<'a, T> {
    channel: &'static str,
    #[serde(flatten)]
    payload: &'a T,
    provider: &'a str,
}

impl Payload {
    /// What tells this message from a copy of it (during a rollover both connections
    /// deliver it): the trade id, or the ticker's time.
    pub fn dedupe_key(&self) -> DedupeKey<'_> {
        match self {
            Self::Trade(t) => DedupeKey::Id(&t.id),
            Self::Ticker(t) => DedupeKey::Time(t.ts.0),
            Self::Candle(c) => DedupeKey::Time(c.updated.0),
        }
    }

    /// The message as sent to clients.
    pub fn encode(&self, provider: &str) -> Bytes {
        let json = match self {
            Self::Trade(t) => serde_json::to_vec(&Tagged { channel: "trade", payload: t, provider }),
            Self::Ticker(t) => serde_json::to_vec(&Tagged { channel: "ticker", payload: t, provider }),
            Self::Candle(c) => serde_json::to_vec(&Tagged { channel: "candle", payload: c, provider }),
        };
        Bytes::from(json.unwrap_or_default())
    }

    fn check(&self) -> Result<(), BadMessage> {
        let positive = |name: &str, v: f64| {
            if v.is_finite() && v > 0.0 { Ok(()) } else { Err(BadMessage(format!("{name} must be > 0, got {v}"))) }
        };
        match self {
            Self::Trade(t) => {
                positive("price", t.price)?;
                if !(t.amount.is_finite() && t.amount >= 0.0) {
                    return Err(BadMessage(format!("amount must be >= 0, got {}", t.amount)));
                }
                if t.id.is_empty() {
                    return Err(BadMessage("id must not be empty".into()));
                }
                Ok(())
            }
            Self::Ticker(t) => positive("last", t.last),
            Self::Candle(c) => match c.candle.fault() {
                Some((field, why)) => Err(BadMessage(format!("{field} {why}"))),
                None => Ok(()),
            },
        }
    }
}

/// See [`Payload::dedupe_key`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DedupeKey<'a> {
    /// A trade id.
    Id(&'a str),
    /// A ticker time.
    Time(i64),
    /// A relayed message as a whole: while one relay hands over to the next, both
    /// carry the same encoded messages of the streams they share.
    Message(&'a [u8]),
}

// === impl Status ===

impl Status {
    /// Every status, in documentation order.
    pub const ALL: [Status; 7] = [
        Status::Subscribed,
        Status::Gap,
        Status::Resumed,
        Status::Fallback,
        Status::Silent,
        Status::Closing,
        Status::Resync,
    ];

    /// The `event` field.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Subscribed => "subscribed",
            Self::Gap => "gap",
            Self::Resumed => "resumed",
            Self::Fallback => "fallback",
            Self::Silent => "silent",
            Self::Closing => "closing",
            Self::Resync => "resync",
        }
    }

    /// The message: `{"channel":"status","event":...,"detail":...,"ts":...}`.
    pub fn encode(self, detail: &str, ts_ms: i64) -> Bytes {
        let msg = serde_json::json!({"channel": "status", "event": self.as_str(), "detail": detail, "ts": ts_ms});
        Bytes::from(msg.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_trade_is_tagged_with_channel_and_provider() {
        let out = serde_json::json!({"price": 42000.5, "amount": 0.25, "side": "sell", "ts": 1_700_000_000_000_i64, "id": "7"});
        let p = Channel::Trades.payload(out, "BTC", "USD").expect("valid trade");
        let v: serde_json::Value = serde_json::from_slice(&p.encode("binance")).expect("json");
        assert_eq!(v["channel"], "trade");
        assert_eq!(v["symbol"], "BTC");
        assert_eq!(v["vs"], "USD");
        assert_eq!(v["side"], "sell");
        assert_eq!(v["provider"], "binance");
        assert_eq!(p.dedupe_key(), DedupeKey::Id("7"));
    }

    #[test]
    fn a_mapping_output_with_a_bad_price_or_extra_field_is_refused() {
        let zero = serde_json::json!({"price": 0, "amount": 1, "side": "buy", "ts": 1_700_000_000_000_i64, "id": "1"});
        assert!(Channel::Trades.payload(zero, "BTC", "USD").unwrap_err().0.contains("price"));
        let extra =
            serde_json::json!({"price": 1, "amount": 1, "side": "buy", "ts": 1_700_000_000_000_i64, "id": "1", "x": 1});
        assert!(Channel::Trades.payload(extra, "BTC", "USD").is_err());
        assert!(Channel::Ticker.payload(serde_json::json!([1]), "BTC", "USD").is_err());
    }

    #[test]
    fn status_messages_name_their_event() {
        let v: serde_json::Value = serde_json::from_slice(&Status::Gap.encode("3 messages dropped", 5)).expect("json");
        assert_eq!(
            v,
            serde_json::json!({"channel": "status", "event": "gap", "detail": "3 messages dropped", "ts": 5})
        );
        assert_eq!("ticker".parse::<Channel>(), Ok(Channel::Ticker));
        assert!("books".parse::<Channel>().unwrap_err().contains("trades, ticker, candles"));
    }
}

#[cfg(test)]
mod candle_tests {
    use super::*;

    fn update(extra: serde_json::Value) -> Result<Payload, BadMessage> {
        let mut v = serde_json::json!({"interval": "1m", "ts": 1_617_566_580_000_i64, "open": 57994.6, "high": 58008.75,
            "low": 57994.59, "close": 58001.03, "volume": 6.45, "closed": false, "updated": 1_617_566_592_358_i64});
        if let (Some(o), Some(e)) = (v.as_object_mut(), extra.as_object()) {
            o.extend(e.clone());
        }
        Channel::Candles.payload(v, "BTC", "USD")
    }

    #[test]
    fn candle_updates_are_checked_as_ohlcv_candles_are() {
        assert!(update(serde_json::json!({})).is_ok());
        assert!(update(serde_json::json!({"volume": -1.0})).is_err_and(|e| e.0.contains("volume")));
        assert!(update(serde_json::json!({"close": 60000.0})).is_err_and(|e| e.0.contains("close")), "above the high");
        assert!(update(serde_json::json!({"surprise": 1})).is_err(), "unknown fields are refused");
    }
}
