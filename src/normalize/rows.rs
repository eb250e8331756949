//! Declarative column mapping for candle bodies: an array of arrays (Binance's klines:
//! `[openTime, "open", "high", "low", "close", "volume", ...]`; Kraken's
//! `.result[PAIR]` with times in seconds; OKX's `.data`, newest first) becomes the
//! ohlcv payload in Rust, sorted by `ts` in milliseconds, the last `$limit` kept (pure).
//!
//! jq spends about 15 µs per candle on such a body (a thousand candles: 15–25 ms of
//! CPU); this takes well under 1 µs per candle. A body of any other shape (an error
//! object, say) is left to the provider's jq `response`, which stays the reference: a
//! test checks both give the same answer on each recorded body.

use serde_json::{Map, Number, Value};

/// The candle fields, in output order.
const FIELDS: [&str; 6] = ["ts", "open", "high", "low", "close", "volume"];

/// Where an ohlcv body's rows are and which column holds what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rows {
    /// Column of each field of [`FIELDS`] (`None`: null, volume only).
    columns: [Option<usize>; 6],
    /// Keys from the body's top to the array of rows.
    path: Vec<Step>,
    /// The time column counts seconds.
    seconds: bool,
}

/// One key of a rows path.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    /// A fixed key.
    Key(String),
    /// The pair id asked (`{id}`).
    Id,
}

// === impl Rows ===

impl Rows {
    /// From the config's `rows` table: the path, the time unit and the column of each
    /// field of `ts, open, high, low, close, volume` (only volume may be absent); `Err`
    /// says what is wrong.
    pub fn new(path: Option<&str>, time: Option<&str>, columns: [Option<usize>; 6]) -> Result<Self, String> {
        let seconds = match time {
            None | Some("ms") => false,
            Some("s") => true,
            Some(other) => return Err(format!("time = {other:?}: expected \"ms\" or \"s\"")),
        };
        let path = match path.map(str::trim) {
            None | Some("" | ".") => Vec::new(),
            Some(p) => p
                .trim_start_matches('.')
                .split('.')
                .map(|k| match k {
                    "" => Err(format!("path {p:?} has an empty key")),
                    "{id}" => Ok(Step::Id),
                    k if k.contains(['{', '}']) => Err(format!("path {p:?}: only {{id}} may be a variable")),
                    k => Ok(Step::Key(k.to_owned())),
                })
                .collect::<Result<_, _>>()?,
        };
        if columns[..5].iter().any(Option::is_none) {
            return Err("ts, open, high, low and close each need a column".to_owned());
        }
        let mut used: Vec<usize> = columns.iter().flatten().copied().collect();
        used.sort_unstable();
        if used.windows(2).any(|w| w[0] == w[1]) {
            return Err("two fields read the same column".to_owned());
        }
        Ok(Self { columns, path, seconds })
    }

    /// The payload JSON for `body`, or `None` when `body` has no array of arrays where
    /// the path says (an error object: the jq `response` judges it). `id` is the pair
    /// id asked, for `{id}` in the path.
    pub fn apply(&self, body: &Value, id: Option<&str>, limit: Option<i64>) -> Option<String> {
        let mut at = body;
        for step in &self.path {
            let key = match step {
                Step::Key(k) => k.as_str(),
                Step::Id => id?,
            };
            at = at.get(key)?;
        }
        // An empty list says nothing the jq mapping should not judge first: OKX sends
        // `"data": []` with its error codes.
        let Value::Array(rows) = at else { return None };
        if rows.is_empty() {
            return None;
        }
        let mut out: Vec<(f64, Map<String, Value>)> = Vec::with_capacity(rows.len());
        for row in rows {
            let Value::Array(cells) = row else { return None };
            let mut candle = Map::with_capacity(FIELDS.len());
            for (field, col) in FIELDS.iter().zip(self.columns) {
                let value = col.and_then(|c| cells.get(c)).map_or(Value::Null, number);
                candle.insert((*field).to_owned(), value);
            }
            let mut ts = candle.get("ts").and_then(Value::as_f64).unwrap_or(f64::NAN);
            if self.seconds {
                ts *= 1000.0;
                candle.insert("ts".to_owned(), Number::from_f64(ts).map_or(Value::Null, Value::Number));
            }
            out.push((ts, candle));
        }
        // Newest-first bodies (OKX, Coinbase) come out ascending like the rest.
        out.sort_by(|a, b| a.0.total_cmp(&b.0));
        let skip = limit.and_then(|l| usize::try_from(l).ok()).map_or(0, |l| out.len().saturating_sub(l));
        let candles: Vec<Value> = out.into_iter().skip(skip).map(|(_, c)| Value::Object(c)).collect();
        serde_json::to_string(&candles).ok()
    }
}

/// A cell as a number: numbers as they are, decimal strings parsed, anything else null
/// (the schema check then refuses a candle without its prices).
fn number(cell: &Value) -> Value {
    match cell {
        Value::Number(_) => cell.clone(),
        Value::String(s) => s.trim().parse::<f64>().ok().and_then(Number::from_f64).map_or(Value::Null, Value::Number),
        _ => Value::Null,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn rows(path: Option<&str>, time: Option<&str>, volume: Option<usize>) -> Result<Rows, String> {
        Rows::new(path, time, [Some(0), Some(1), Some(2), Some(3), Some(4), volume])
    }

    fn klines() -> Rows {
        rows(None, None, Some(5)).expect("valid")
    }

    #[test]
    fn rows_become_sorted_candles_and_keep_the_last_limit() {
        let body = json!([[2000, "2.5", "3", "2", "2.75", "10", 2999], [1000, "1", "2", "0.5", "1.5", "7", 1999]]);
        let out: Value = serde_json::from_str(&klines().apply(&body, None, Some(1)).expect("rows")).expect("json");
        assert_eq!(out, json!([{"ts": 2000, "open": 2.5, "high": 3.0, "low": 2.0, "close": 2.75, "volume": 10.0}]));
        let all: Value = serde_json::from_str(&klines().apply(&body, None, None).expect("rows")).expect("json");
        assert_eq!(all[0]["ts"], 1000, "ascending");
    }

    #[test]
    fn a_path_with_the_pair_id_and_seconds_reach_kraken_shaped_bodies() {
        let kraken = rows(Some("result.{id}"), Some("s"), Some(6)).expect("valid");
        let body = json!({"error": [], "result": {"XXBTZUSD": [[1700000000, "1", "2", "0.5", "1.5", "1.2", "7", 3]], "last": 1}});
        let out: Value =
            serde_json::from_str(&kraken.apply(&body, Some("XXBTZUSD"), None).expect("rows")).expect("json");
        assert_eq!(out[0]["ts"].as_f64(), Some(1_700_000_000_000.0), "seconds become milliseconds");
        assert_eq!(out[0]["volume"].as_f64(), Some(7.0), "the volume column, not the vwap");
        assert_eq!(kraken.apply(&body, Some("XETHZUSD"), None), None, "another pair's answer is not taken");
    }

    #[test]
    fn other_shapes_are_left_to_the_jq_mapping() {
        assert_eq!(klines().apply(&json!({"code": -1121, "msg": "Invalid symbol."}), None, None), None);
        assert_eq!(klines().apply(&json!([{"t": 1}]), None, None), None);
        let okx = rows(Some("data"), None, Some(5)).expect("valid");
        assert_eq!(okx.apply(&json!({"code": "51001", "msg": "x", "data": {}}), None, None), None);
        assert_eq!(okx.apply(&json!({"code": "51001", "msg": "x", "data": []}), None, None), None, "OKX's error");
    }

    #[test]
    fn specs_are_checked() {
        assert!(rows(None, Some("us"), None).is_err(), "unknown time unit");
        assert!(rows(Some("result.{symbol}"), None, None).is_err(), "only {{id}}");
        assert!(rows(Some("a..b"), None, None).is_err());
        assert!(rows(None, None, Some(4)).is_err(), "volume and close in one column");
        assert!(rows(None, None, None).is_ok(), "volume may be absent");
        assert!(Rows::new(None, None, [Some(0), None, Some(2), Some(3), Some(4), None]).is_err(), "open is needed");
    }
}
