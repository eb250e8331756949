//! The typed payload of every operation and the checks a mapping's output must pass.
//!
//! A mapping's JSON output is deserialized strictly (unknown fields refused) and then
//! checked; the first offending JSON path is reported, e.g. `data[3].price: must be > 0`.
//! A payload that fails is a `bad_body` outcome: the provider is failed over, never
//! allowed to hand wrong data to the client.

use serde::{Deserialize, Deserializer, Serialize};

mod checks;
pub mod derived;

use checks::{bad, check_book, check_candles, check_news, check_ts, keep_fitting, positive, text};

pub use super::coins::Coin;
use super::op::Operation;
use super::params::OpRequest;

/// Milliseconds since the epoch (accepts `1.7e12`-style integral floats from jq).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Ts(pub i64);

/// `price` item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Price {
    /// Canonical ticker.
    pub symbol: String,
    /// Quote currency.
    pub vs: String,
    /// Price in `vs`.
    pub price: f64,
    /// Time of the price.
    pub ts: Ts,
}

/// `ticker` payload (24 h rolling).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ticker {
    /// Canonical ticker.
    pub symbol: String,
    /// Quote currency.
    pub vs: String,
    /// Last price.
    pub last: f64,
    /// Price 24 h ago.
    pub open: Option<f64>,
    /// 24 h high.
    pub high: Option<f64>,
    /// 24 h low.
    pub low: Option<f64>,
    /// 24 h change in percent.
    pub change_pct: Option<f64>,
    /// 24 h base volume.
    pub volume: Option<f64>,
    /// 24 h quote volume.
    pub quote_volume: Option<f64>,
    /// Time of the ticker.
    pub ts: Ts,
}

/// `ohlcv` item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Candle {
    /// Open time.
    pub ts: Ts,
    /// Open price.
    pub open: f64,
    /// High price.
    pub high: f64,
    /// Low price.
    pub low: f64,
    /// Close price.
    pub close: f64,
    /// Base volume, when the provider reports it.
    pub volume: Option<f64>,
}

/// `orderbook` payload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrderBook {
    /// Canonical ticker.
    pub symbol: String,
    /// Quote currency.
    pub vs: String,
    /// `[price, amount]`, best (highest) first.
    pub bids: Vec<[f64; 2]>,
    /// `[price, amount]`, best (lowest) first.
    pub asks: Vec<[f64; 2]>,
    /// Time of the snapshot.
    pub ts: Ts,
}

/// `markets` item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Market {
    /// Canonical ticker.
    pub symbol: String,
    /// Display name.
    pub name: String,
    /// Market-cap rank.
    pub rank: Option<u32>,
    /// Price in the quote currency.
    pub price: f64,
    /// Market cap.
    pub market_cap: Option<f64>,
    /// 24 h volume in the quote currency.
    pub volume_24h: Option<f64>,
    /// 24 h change in percent.
    pub change_24h_pct: Option<f64>,
}

/// `exchanges` item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Exchange {
    /// Provider's exchange id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Country, when known.
    pub country: Option<String>,
    /// Web site.
    pub url: Option<String>,
    /// 24 h volume in BTC.
    pub volume_24h_btc: Option<f64>,
}

/// `news` item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct News {
    /// Headline.
    pub title: String,
    /// Article link.
    pub url: String,
    /// Publisher.
    pub source: String,
    /// Publication time.
    pub published_at: Ts,
    /// Short text, when given.
    pub summary: Option<String>,
    /// Categories or tags.
    pub categories: Vec<String>,
}

/// `sentiment` item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sentiment {
    /// Index value, 0 (extreme fear) to 100 (extreme greed).
    pub value: f64,
    /// Label such as `Greed`.
    pub classification: String,
    /// Day of the value.
    pub ts: Ts,
}

/// A checked payload, serialized as the envelope's `data`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Payload {
    /// `price`
    Price(Vec<Price>),
    /// `ticker`
    Ticker(Ticker),
    /// `ohlcv`
    Ohlcv(Vec<Candle>),
    /// `orderbook`
    Orderbook(OrderBook),
    /// `markets`
    Markets(Vec<Market>),
    /// `exchanges`
    Exchanges(Vec<Exchange>),
    /// `news`
    News(Vec<News>),
    /// `sentiment`
    Sentiment(Vec<Sentiment>),
    /// `coins` (merged from every provider's list, see `normalize::coins`)
    Coins(Vec<Coin>),
    /// Indicators computed from `ohlcv` candles (never a provider's answer).
    Indicators(derived::Table),
    /// Movers picked from `markets` (never a provider's answer).
    Movers(derived::Movers),
}

/// The first thing wrong with a mapping's output.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {message}")]
pub struct SchemaError {
    /// JSON path such as `data[2].price`.
    pub path: String,
    /// What is wrong.
    pub message: String,
}

// === impl Candle ===

impl Candle {
    /// What is wrong with this candle's values, if anything: the field and why. Its
    /// open and close lie between its low and high: a mapping that reads the columns
    /// in the wrong order (Coinbase's `[time, low, high, open, close]` as Binance's
    /// `[time, open, high, low, close]`) breaks that on real data.
    pub fn fault(&self) -> Option<(&'static str, String)> {
        for (name, v) in [("open", self.open), ("high", self.high), ("low", self.low), ("close", self.close)] {
            if !(v.is_finite() && v > 0.0) {
                return Some((name, format!("must be a number > 0, got {v}")));
            }
        }
        for (name, v) in [("open", self.open), ("close", self.close)] {
            if v < self.low || v > self.high {
                let msg =
                    format!("{v} is outside the candle's low {} .. high {} (columns swapped?)", self.low, self.high);
                return Some((name, msg));
            }
        }
        if self.high < self.low {
            return Some(("high", format!("{} is below low {}", self.high, self.low)));
        }
        match self.volume {
            Some(v) if !(v.is_finite() && v >= 0.0) => Some(("volume", format!("must be a number >= 0, got {v}"))),
            _ => None,
        }
    }
}

// === impl Ts ===

impl<'de> Deserialize<'de> for Ts {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let n = serde_json::Number::deserialize(d)?;
        if let Some(i) = n.as_i64() {
            return Ok(Ts(i));
        }
        match n.as_f64() {
            Some(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => Ok(Ts(f as i64)),
            _ => Err(serde::de::Error::custom(format!("timestamp {n} is not whole milliseconds"))),
        }
    }
}

// === impl Payload ===

impl Payload {
    /// Deserializes and checks a mapping's output for `req`'s operation. Lists are cut
    /// to the requested limit/depth; news and sentiment are put newest first.
    pub fn from_json(json: &str, req: &OpRequest, now_ms: i64) -> Result<Self, SchemaError> {
        Self::checked(json, req, now_ms).map(|(payload, _)| payload)
    }

    /// [`Payload::from_json`], and the items left out, each as `data[i].field: why`:
    /// a news item that does not fit (no title or link, dated before 1990 or in the
    /// future) is dropped rather than failing its whole feed; the answer fails only when
    /// every item is dropped (the mapping is wrong, or the feed is).
    pub fn checked(json: &str, req: &OpRequest, now_ms: i64) -> Result<(Self, Vec<String>), SchemaError> {
        let mut dropped = Vec::new();
        let mut payload = match req.op {
            Operation::Price => Payload::Price(parse(json)?),
            Operation::Ticker => Payload::Ticker(parse(json)?),
            Operation::Ohlcv => Payload::Ohlcv(parse(json)?),
            Operation::Orderbook => Payload::Orderbook(parse(json)?),
            Operation::Markets => Payload::Markets(parse(json)?),
            Operation::Exchanges => Payload::Exchanges(parse(json)?),
            Operation::News => Payload::News(keep_fitting(parse(json)?, now_ms, &mut dropped)?),
            Operation::Sentiment => Payload::Sentiment(parse(json)?),
            Operation::Coins => Payload::Coins(parse(json)?),
        };
        payload.tidy(req);
        payload.check(now_ms)?;
        Ok((payload, dropped))
    }

    fn tidy(&mut self, req: &OpRequest) {
        let limit = req.limit.map_or(usize::MAX, |l| l as usize);
        match self {
            Payload::Ohlcv(c) => {
                let skip = c.len().saturating_sub(limit);
                c.drain(..skip);
            }
            Payload::Orderbook(b) => {
                let depth = req.depth.map_or(usize::MAX, |d| d as usize);
                b.bids.truncate(depth);
                b.asks.truncate(depth);
            }
            Payload::Markets(m) => {
                m.sort_by_key(|x| x.rank.unwrap_or(u32::MAX));
                m.truncate(limit);
            }
            Payload::Exchanges(e) => e.truncate(limit),
            Payload::News(n) => {
                n.sort_by_key(|x| std::cmp::Reverse(x.published_at));
                n.truncate(limit);
            }
            Payload::Sentiment(s) => {
                s.sort_by_key(|x| std::cmp::Reverse(x.ts));
                s.truncate(limit);
            }
            // One provider's list gets its ids, ticker case and ambiguity here; every
            // provider's together are merged again when a route merges.
            Payload::Coins(c) => *c = super::coins::merge(vec![std::mem::take(c)], &[]),
            Payload::Price(_) | Payload::Ticker(_) | Payload::Indicators(_) | Payload::Movers(_) => {}
        }
    }

    fn check(&self, now_ms: i64) -> Result<(), SchemaError> {
        let ts_ok = |path: String, ts: Ts| check_ts(path, ts, now_ms);
        match self {
            Payload::Price(items) => items.iter().enumerate().try_for_each(|(i, p)| {
                text(format!("data[{i}].symbol"), &p.symbol)?;
                positive(format!("data[{i}].price"), p.price)?;
                ts_ok(format!("data[{i}].ts"), p.ts)
            }),
            Payload::Ticker(t) => {
                text("data.symbol".into(), &t.symbol)?;
                positive("data.last".into(), t.last)?;
                for (name, v) in [("open", t.open), ("high", t.high), ("low", t.low)] {
                    if let Some(v) = v {
                        positive(format!("data.{name}"), v)?;
                    }
                }
                ts_ok("data.ts".into(), t.ts)
            }
            Payload::Ohlcv(c) => check_candles(c, now_ms),
            Payload::Orderbook(b) => check_book(b, now_ms),
            Payload::Markets(m) => m.iter().enumerate().try_for_each(|(i, x)| {
                text(format!("data[{i}].symbol"), &x.symbol)?;
                positive(format!("data[{i}].price"), x.price)
            }),
            Payload::Exchanges(e) => e.iter().enumerate().try_for_each(|(i, x)| {
                text(format!("data[{i}].id"), &x.id)?;
                text(format!("data[{i}].name"), &x.name)
            }),
            Payload::News(n) => n.iter().enumerate().try_for_each(|(i, x)| check_news(i, x, now_ms)),
            Payload::Sentiment(s) => s.iter().enumerate().try_for_each(|(i, x)| {
                if !(0.0..=100.0).contains(&x.value) {
                    return Err(bad(format!("data[{i}].value"), format!("must be 0 to 100, got {}", x.value)));
                }
                ts_ok(format!("data[{i}].ts"), x.ts)
            }),
            // Coins without a name or id are left out by the merge.
            Payload::Coins(c) if c.is_empty() => Err(bad("data".into(), "lists no coin with a name and an id".into())),
            // Computed here from payloads that were checked.
            Payload::Coins(_) | Payload::Indicators(_) | Payload::Movers(_) => Ok(()),
        }
    }

    /// The symbols a price payload covers.
    pub fn price_symbols(&self) -> Vec<&str> {
        match self {
            Payload::Price(items) => items.iter().map(|p| p.symbol.as_str()).collect(),
            _ => Vec::new(),
        }
    }
}

fn parse<T: for<'de> Deserialize<'de>>(json: &str) -> Result<T, SchemaError> {
    let de = &mut serde_json::Deserializer::from_str(json);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let inner = e.path().to_string();
        let path = match inner.as_str() {
            "." => "data".to_owned(),
            p if p.starts_with('[') => format!("data{p}"),
            p => format!("data.{p}"),
        };
        SchemaError { path, message: e.into_inner().to_string() }
    })
}

#[cfg(test)]
mod tests;
