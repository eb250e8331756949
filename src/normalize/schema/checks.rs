//! The checks a payload passes, field by field: the first offending JSON path is
//! reported (`data[3].price: must be > 0`). News items are checked one by one and the
//! ones that do not fit are dropped ([`keep_fitting`]).

use super::{Candle, News, OrderBook, SchemaError, Ts};

/// Earliest plausible timestamp (2009-01-01) in ms; anything lower is seconds, not ms.
const MIN_TS_MS: i64 = 1_230_768_000_000;
/// Earliest plausible date of a news item (1990-01-01) in ms: feeds carry years-old
/// items (the RSS 2.0 specification's sample is from 2003), and a date in seconds is
/// still far below it.
const NEWS_MIN_TS_MS: i64 = 631_152_000_000;
/// Latest plausible timestamp: now plus two days of clock skew.
const FUTURE_SLACK_MS: i64 = 2 * 86_400_000;

pub(super) fn bad(path: String, message: String) -> SchemaError {
    SchemaError { path, message }
}

pub(super) fn text(path: String, s: &str) -> Result<(), SchemaError> {
    if s.trim().is_empty() { Err(bad(path, "must not be empty".into())) } else { Ok(()) }
}

pub(super) fn positive(path: String, v: f64) -> Result<(), SchemaError> {
    if v.is_finite() && v > 0.0 { Ok(()) } else { Err(bad(path, format!("must be a number > 0, got {v}"))) }
}

pub(super) fn check_news(i: usize, x: &News, now_ms: i64) -> Result<(), SchemaError> {
    text(format!("data[{i}].title"), &x.title)?;
    text(format!("data[{i}].url"), &x.url)?;
    let path = format!("data[{i}].published_at");
    if x.published_at.0 < NEWS_MIN_TS_MS {
        return Err(bad(path, format!("{} is before 1990 (seconds, not milliseconds?)", x.published_at.0)));
    }
    if x.published_at.0 > now_ms + FUTURE_SLACK_MS {
        return Err(bad(path, format!("{} is in the future", x.published_at.0)));
    }
    Ok(())
}

/// The news items that pass [`check_news`]; the others are named in `dropped`. Every
/// item dropped is an error (the first one's).
pub(super) fn keep_fitting(items: Vec<News>, now_ms: i64, dropped: &mut Vec<String>) -> Result<Vec<News>, SchemaError> {
    let total = items.len();
    let mut first = None;
    let kept: Vec<News> = items
        .into_iter()
        .enumerate()
        .filter_map(|(i, x)| match check_news(i, &x, now_ms) {
            Ok(()) => Some(x),
            Err(e) => {
                dropped.push(format!("{}: {}", e.path, e.message));
                first.get_or_insert(e);
                None
            }
        })
        .collect();
    match first {
        Some(e) if kept.is_empty() && total > 0 => Err(e),
        _ => Ok(kept),
    }
}

pub(super) fn check_ts(path: String, ts: Ts, now_ms: i64) -> Result<(), SchemaError> {
    if ts.0 < MIN_TS_MS {
        return Err(bad(path, format!("{} is not milliseconds since the epoch (seconds?)", ts.0)));
    }
    if ts.0 > now_ms + FUTURE_SLACK_MS {
        return Err(bad(path, format!("{} is in the future", ts.0)));
    }
    Ok(())
}

pub(super) fn check_candles(c: &[Candle], now_ms: i64) -> Result<(), SchemaError> {
    for (i, x) in c.iter().enumerate() {
        if let Some((field, msg)) = x.fault() {
            return Err(bad(format!("data[{i}].{field}"), msg));
        }
        check_ts(format!("data[{i}].ts"), x.ts, now_ms)?;
        if i > 0 && c[i - 1].ts >= x.ts {
            return Err(bad(format!("data[{i}].ts"), "candles must be in ascending ts order".into()));
        }
    }
    Ok(())
}

pub(super) fn check_book(b: &OrderBook, now_ms: i64) -> Result<(), SchemaError> {
    text("data.symbol".into(), &b.symbol)?;
    for (side, levels, descending) in [("bids", &b.bids, true), ("asks", &b.asks, false)] {
        for (i, [price, amount]) in levels.iter().enumerate() {
            positive(format!("data.{side}[{i}][0]"), *price)?;
            if !(amount.is_finite() && *amount >= 0.0) {
                return Err(bad(format!("data.{side}[{i}][1]"), format!("amount must be >= 0, got {amount}")));
            }
            if i > 0 {
                let prev = levels[i - 1][0];
                let ordered = if descending { prev > *price } else { prev < *price };
                if !ordered {
                    let order = if descending { "descending" } else { "ascending" };
                    return Err(bad(format!("data.{side}[{i}][0]"), format!("{side} must be in {order} price order")));
                }
            }
        }
    }
    check_ts("data.ts".into(), b.ts, now_ms)
}
