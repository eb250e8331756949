//! Cheap body rewrites done in Rust before a jq mapping runs, for bodies where jq's
//! per-element cost dominates (measured: jaq takes ~4 µs per element of a 2,500-pair
//! Binance price list, and `tonumber` ~2 µs per call):
//!
//! * `keep_ids`: when the body is a JSON array of objects, keep only the objects whose
//!   given field holds one of the requested ids (a whole-market list shrinks to the
//!   few entries asked for). `"symbol"` looks in a top-level array, `"data.instId"` in
//!   the array at `.data` (OKX), and `"result.*"` keeps the requested keys of the object
//!   at `.result` (Kraken keys its whole ticker list by pair);
//! * `numeric_strings`: turn strings that are plain decimal numbers (`"60685.22"`) into
//!   JSON numbers, so mappings need no `tonumber` (which stays valid on numbers).

use std::collections::HashSet;

use serde_json::Value;

/// What to do to a body before its mapping.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Prefilter {
    /// Field compared with the requested ids, e.g. `symbol`.
    pub keep_ids: Option<String>,
    /// Convert decimal strings to numbers.
    pub numeric_strings: bool,
}

// === impl Prefilter ===

impl Prefilter {
    /// Whether there is anything to do.
    pub fn is_active(&self) -> bool {
        self.keep_ids.is_some() || self.numeric_strings
    }

    /// The rewritten body, or `None` to use the original (not JSON, or nothing to do).
    pub fn apply(&self, body: &[u8], ids: &[String]) -> Option<Vec<u8>> {
        if !self.is_active() {
            return None;
        }
        let mut value: Value = serde_json::from_slice(body).ok()?;
        self.apply_value(&mut value, ids);
        serde_json::to_vec(&value).ok()
    }

    /// Rewrites a parsed body in place.
    pub fn apply_value(&self, value: &mut Value, ids: &[String]) {
        if let Some(spec) = &self.keep_ids {
            keep(value, spec, ids);
        }
        if self.numeric_strings {
            numbers(value);
        }
    }
}

/// Keeps the requested ids where `spec` says (see the module doc); a body of another
/// shape is left whole for the mapping to judge.
fn keep(value: &mut Value, spec: &str, ids: &[String]) {
    let (path, last) = spec.rsplit_once('.').map_or(("", spec), |(p, l)| (p, l));
    let mut at = value;
    for key in path.split('.').filter(|k| !k.is_empty()) {
        match at.get_mut(key) {
            Some(next) => at = next,
            None => return,
        }
    }
    let wanted: HashSet<&str> = ids.iter().map(String::as_str).collect();
    match (last, at) {
        ("*", Value::Object(map)) => map.retain(|k, _| wanted.contains(k.as_str())),
        (field, Value::Array(items)) if field != "*" => {
            items.retain(|item| item.get(field).and_then(Value::as_str).is_some_and(|id| wanted.contains(id)));
        }
        _ => {}
    }
}

fn numbers(v: &mut Value) {
    match v {
        Value::String(s) if is_decimal(s) => {
            let n = if s.contains('.') {
                s.parse::<f64>().ok().and_then(serde_json::Number::from_f64)
            } else {
                s.parse::<i64>().ok().map(serde_json::Number::from)
            };
            if let Some(n) = n {
                *v = Value::Number(n);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(numbers),
        Value::Object(map) => map.values_mut().for_each(numbers),
        _ => {}
    }
}

/// `-?digits(.digits)?`, at most 40 characters (ids like "1" stay plain decimals too,
/// which is why the option is opt-in per operation).
fn is_decimal(s: &str) -> bool {
    let body = s.strip_prefix('-').unwrap_or(s);
    let (int, frac) = body.split_once('.').unwrap_or((body, "0"));
    !int.is_empty()
        && !frac.is_empty()
        && s.len() <= 40
        && int.bytes().all(|b| b.is_ascii_digit())
        && frac.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(p: &Prefilter, body: &str, ids: &[&str]) -> String {
        let ids: Vec<String> = ids.iter().map(|s| (*s).to_owned()).collect();
        String::from_utf8(p.apply(body.as_bytes(), &ids).expect("applied")).expect("utf8")
    }

    #[test]
    fn keeps_only_requested_ids() {
        let p = Prefilter { keep_ids: Some("symbol".into()), numeric_strings: false };
        let body = r#"[{"symbol":"ETHBTC","price":"1"},{"symbol":"BTCUSDT","price":"2"},{"price":"3"}]"#;
        let kept: Value = serde_json::from_str(&run(&p, body, &["BTCUSDT"])).expect("json");
        assert_eq!(kept, serde_json::json!([{"symbol": "BTCUSDT", "price": "2"}]));
    }

    #[test]
    fn keeps_requested_ids_in_a_nested_array_or_as_object_keys() {
        let okx = Prefilter { keep_ids: Some("data.instId".into()), numeric_strings: false };
        let body = r#"{"code":"0","data":[{"instId":"BCD-BTC"},{"instId":"BTC-USDT"}]}"#;
        assert_eq!(run(&okx, body, &["BTC-USDT"]), r#"{"code":"0","data":[{"instId":"BTC-USDT"}]}"#);
        let kraken = Prefilter { keep_ids: Some("result.*".into()), numeric_strings: false };
        let body = r#"{"error":[],"result":{"XXBTZUSD":{"c":["1"]},"XETHZUSD":{"c":["2"]}}}"#;
        assert_eq!(run(&kraken, body, &["XXBTZUSD"]), r#"{"error":[],"result":{"XXBTZUSD":{"c":["1"]}}}"#);
        let error = r#"{"error":["EQuery:Unknown asset pair"]}"#;
        assert_eq!(run(&kraken, error, &["XXBTZUSD"]), error, "an error body reaches the mapping whole");
    }

    #[test]
    fn converts_plain_decimal_strings_only() {
        let p = Prefilter { keep_ids: None, numeric_strings: true };
        let body = r#"[[1634943780000,"60685.22000000","-3.003","1e5","0x10","","1INCH",".5","7"]]"#;
        assert_eq!(run(&p, body, &[]), r#"[[1634943780000,60685.22,-3.003,"1e5","0x10","","1INCH",".5",7]]"#);
    }

    #[test]
    fn leaves_non_json_alone() {
        let p = Prefilter { keep_ids: Some("symbol".into()), numeric_strings: true };
        assert!(p.apply(b"<html>", &[]).is_none());
        assert!(Prefilter::default().apply(b"[]", &[]).is_none());
    }
}
