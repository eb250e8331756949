//! The normalized response: `{"data": ..., "meta": {...}}` with the
//! `x-marketgate-provider`, `x-marketgate-cache` and `Cache-Control` headers. The
//! payload is serialized once (and cached as bytes); the envelope is assembled around it.

use std::collections::BTreeMap;

use bytes::{BufMut, Bytes, BytesMut};
use http::{HeaderValue, Response, header};
use serde::Serialize;

pub use crate::answer::MetaExtra;
use crate::body::Body;
pub use crate::cache::CacheResult;
use crate::candidates::admitted::AttemptRecord;
use crate::config::model::OpMapping;
use crate::headers::{X_MARKETGATE_CACHE, X_MARKETGATE_PROVIDER};
use crate::normalize::op::Operation;
use crate::normalize::params::OpRequest;
use crate::normalize::schema::Payload;

/// The envelope's `meta`.
#[derive(Debug, Serialize)]
pub struct Meta<'a> {
    /// Operation name.
    pub operation: &'static str,
    /// Provider that answered.
    pub provider: &'a str,
    /// Host that answered.
    pub host: &'a str,
    /// Served from the cache.
    pub cached: bool,
    /// Served stale.
    pub stale: bool,
    /// Age of the answer, ms.
    pub age_ms: u64,
    /// Upstream attempts made for this request.
    pub attempts: usize,
    /// Asked symbols the answer lacks.
    pub missing: &'a [String],
    /// Failed attempts and skips before the answer (omitted when empty).
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    pub tried: &'a [AttemptRecord],
    /// Aliases the request used, alias -> asset (omitted when none).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aliases: Option<&'a BTreeMap<String, String>>,
    /// Fields a derived answer adds (a consensus price's `sources`, `spread_pct`, ...).
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub extra: Option<&'a MetaExtra>,
}

impl<'a> Meta<'a> {
    /// `meta` of an answer from `provider`/`host`, fresh, with nothing missing or tried.
    pub fn new(op: Operation, provider: &'a str, host: &'a str, result: CacheResult) -> Self {
        Meta {
            operation: op.as_str(),
            provider,
            host,
            cached: result == CacheResult::Hit,
            stale: result == CacheResult::Stale,
            age_ms: 0,
            attempts: 0,
            missing: &[],
            tried: &[],
            extra: None,
            aliases: None,
        }
    }
}

/// `meta.served` when an answer holds fewer candles or book levels than asked:
/// `{"asked": 1000, "served": 300, "provider_max": 300}` (`provider_max` when the
/// provider's documented maximum is the reason). `None` when nothing is short.
pub fn served(req: &OpRequest, payload: &Payload, mapping: Option<&OpMapping>) -> Option<serde_json::Value> {
    let (asked, served, max) = match payload {
        Payload::Ohlcv(candles) => (req.limit?, candles.len(), mapping.and_then(|m| m.max_limit)),
        Payload::Orderbook(b) => (req.depth?, b.bids.len().max(b.asks.len()), mapping.and_then(|m| m.max_depth)),
        _ => return None,
    };
    if served >= asked as usize {
        return None;
    }
    let mut v = serde_json::json!({"asked": asked, "served": served});
    if let Some(max) = max.filter(|m| *m < asked) {
        v["provider_max"] = max.into();
    }
    Some(v)
}

/// How many intervals the newest candle may have opened ago before the candles are
/// said to be stale (the newest candle is normally the one still open).
pub const STALE_INTERVALS: i64 = 3;

/// `meta.stale_data` when the newest candle opened more than [`STALE_INTERVALS`]
/// intervals before `now_ms` (a pair that stopped trading, a provider serving old
/// data): `{"newest": <open time>, "age_ms": ..., "note": ...}`. Not a failure: the
/// candles are what the provider has; the client decides.
pub fn stale_candles(req: &OpRequest, payload: &Payload, now_ms: i64) -> Option<serde_json::Value> {
    let (Payload::Ohlcv(candles), Some(interval)) = (payload, req.interval) else { return None };
    let newest = candles.iter().map(|c| c.ts.0).max()?;
    let age = now_ms.saturating_sub(newest);
    if age <= STALE_INTERVALS * interval.millis() {
        return None;
    }
    let days = age / 86_400_000;
    let said = if days >= 2 { format!("{days} days") } else { format!("{} minutes", age / 60_000) };
    let note = format!("the newest {} candle opened {said} ago: the pair may no longer trade here", interval.as_str());
    Some(serde_json::json!({"newest": newest, "age_ms": age, "note": note}))
}

/// Builds the response from the serialized payload. `max_age_s` is the fresh time left
/// (None: the route does not cache).
pub fn respond(data: &Bytes, meta: &Meta<'_>, result: CacheResult, max_age_s: Option<u64>) -> Response<Body> {
    // One buffer: `meta` is serialized straight after the payload (room for a usual one).
    let mut body = BytesMut::with_capacity(data.len() + 512);
    body.put_slice(b"{\"data\":");
    body.put_slice(data);
    body.put_slice(b",\"meta\":");
    write_meta(&mut body, meta);
    body.put_slice(b"}");
    let mut resp = Response::new(crate::body::full(body.freeze()));
    // Room for these four and the two CORS headers the way in adds, so the map is
    // allocated once rather than grown twice.
    let h = resp.headers_mut();
    h.reserve(8);
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    if let Ok(v) = HeaderValue::from_str(meta.provider) {
        h.insert(X_MARKETGATE_PROVIDER, v);
    }
    h.insert(X_MARKETGATE_CACHE, HeaderValue::from_static(result.as_str()));
    let cc = match max_age_s {
        Some(s) if result != CacheResult::Stale && s > 0 => max_age(s),
        _ => Some(HeaderValue::from_static("no-store")),
    };
    if let Some(v) = cc {
        h.insert(header::CACHE_CONTROL, v);
    }
    resp
}

/// `Cache-Control: max-age=<s>`, written without the formatting machinery.
fn max_age(s: u64) -> Option<HeaderValue> {
    let mut number = itoa::Buffer::new();
    let digits = number.format(s).as_bytes();
    let mut text = [0u8; 8 + 20];
    text[..8].copy_from_slice(b"max-age=");
    text[8..8 + digits.len()].copy_from_slice(digits);
    HeaderValue::from_bytes(&text[..8 + digits.len()]).ok()
}

/// `meta` as JSON: the bytes `serde_json` writes for [`Meta`] (the tests compare), with
/// the field names written as they are. Through serde, the flattened `extra` made
/// `meta` a map whose every name was escaped and written as a string: 2,100 of a cache
/// hit's 25,200 instructions, 1,480 more than this (bench/instructions.sh).
fn write_meta(out: &mut BytesMut, m: &Meta<'_>) {
    let mut number = itoa::Buffer::new();
    out.put_slice(b"{\"operation\":");
    string(out, m.operation);
    out.put_slice(b",\"provider\":");
    string(out, m.provider);
    out.put_slice(b",\"host\":");
    string(out, m.host);
    out.put_slice(if m.cached { b",\"cached\":true" } else { b",\"cached\":false" });
    out.put_slice(if m.stale { b",\"stale\":true" } else { b",\"stale\":false" });
    out.put_slice(b",\"age_ms\":");
    out.put_slice(number.format(m.age_ms).as_bytes());
    out.put_slice(b",\"attempts\":");
    out.put_slice(number.format(m.attempts).as_bytes());
    out.put_slice(b",\"missing\":");
    if m.missing.is_empty() {
        out.put_slice(b"[]");
    } else {
        json(out, m.missing);
    }
    if !m.tried.is_empty() {
        out.put_slice(b",\"tried\":");
        json(out, m.tried);
    }
    if let Some(aliases) = m.aliases {
        out.put_slice(b",\"aliases\":");
        json(out, aliases);
    }
    for (name, value) in m.extra.into_iter().flatten() {
        out.put_u8(b',');
        json(out, name);
        out.put_u8(b':');
        json(out, value);
    }
    out.put_u8(b'}');
}

/// A string as JSON: quoted as it is when nothing in it needs an escape (what serde
/// escapes: `"`, `\` and control characters), else through serde.
fn string(out: &mut BytesMut, s: &str) {
    if s.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\') {
        out.put_u8(b'"');
        out.put_slice(s.as_bytes());
        out.put_u8(b'"');
    } else {
        json(out, s);
    }
}

/// One value as JSON (`null` if it cannot be written, which no value here does).
fn json<T: Serialize + ?Sized>(out: &mut BytesMut, value: &T) {
    let mut writer = out.writer();
    if serde_json::to_writer(&mut writer, value).is_err() {
        writer.get_mut().put_slice(b"null");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::breaker::Outcome;

    fn written(m: &Meta<'_>) -> String {
        let mut out = BytesMut::new();
        write_meta(&mut out, m);
        String::from_utf8(out.to_vec()).expect("utf-8")
    }

    #[test]
    fn max_age_is_written_as_format_writes_it() {
        for s in [1, 9, 10, 59, 3_600, u64::MAX] {
            let v = max_age(s).expect("a header value");
            assert_eq!(v.to_str().expect("ascii"), format!("max-age={s}"));
        }
    }

    #[test]
    fn meta_is_written_as_serde_writes_it() {
        let missing = vec!["ETH".to_owned(), "qu\"ote\\d".to_owned()];
        let tried = vec![
            AttemptRecord::skipped("coingecko", Outcome::Unavailable, "breaker open"),
            AttemptRecord {
                ms: 12,
                host: Some("api1".to_owned()),
                detail: None,
                ..AttemptRecord::skipped("b", Outcome::Http5xx, "")
            },
        ];
        let aliases = BTreeMap::from([("TON".to_owned(), "GRAM".to_owned())]);
        let mut extra = MetaExtra::new();
        extra.insert("spread_pct".to_owned(), serde_json::json!(0.25));
        extra.insert("sources".to_owned(), serde_json::json!([{"provider": "kraken", "price": 1.5}]));
        let plain = Meta::new(Operation::Price, "binance", "https://api.binance.com", CacheResult::Hit);
        let cases = [
            Meta {
                age_ms: 1234,
                ..Meta::new(Operation::Price, "binance", "https://api.binance.com", CacheResult::Hit)
            },
            Meta { attempts: 3, ..Meta::new(Operation::Ohlcv, "we\"ird\\näme\u{1}", "h\tost", CacheResult::Stale) },
            Meta { missing: &missing, tried: &tried, ..Meta::new(Operation::Orderbook, "okx", "", CacheResult::Miss) },
            Meta { aliases: Some(&aliases), extra: Some(&extra), ..plain },
        ];
        for m in &cases {
            let by_serde = serde_json::to_string(m).expect("serializes");
            assert_eq!(written(m), by_serde);
            serde_json::from_str::<serde_json::Value>(&written(m)).expect("valid JSON");
        }
    }
}
