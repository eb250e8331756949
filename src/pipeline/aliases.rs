//! Tickers a client may still use for a renamed asset (`TON` for `GRAM`): providers are
//! asked for the canonical asset, the cache holds one answer for both names, and each
//! client gets its answer under the ticker it asked for.

use std::collections::BTreeMap;

use bytes::Bytes;
use serde_json::Value;

use super::envelope::MetaExtra;
use crate::normalize::params::OpRequest;

/// How one request's tickers were resolved.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Renames {
    /// The tickers as asked, in order (empty when no alias was used).
    asked: Vec<String>,
    /// Asked alias -> canonical ticker.
    to_canonical: BTreeMap<String, String>,
}

impl Renames {
    /// Replaces aliases in `req.symbols` by their assets (duplicates dropped) and
    /// remembers what was asked.
    pub fn resolve(req: &mut OpRequest, aliases: &BTreeMap<String, String>) -> Self {
        if aliases.is_empty() || !req.symbols.iter().any(|s| aliases.contains_key(s)) {
            return Self::default();
        }
        let asked = req.symbols.clone();
        let mut to_canonical = BTreeMap::new();
        let mut canonical: Vec<String> = Vec::with_capacity(asked.len());
        for s in &asked {
            let c = aliases.get(s).cloned().unwrap_or_else(|| s.clone());
            if c != *s {
                to_canonical.insert(s.clone(), c.clone());
            }
            if !canonical.contains(&c) {
                canonical.push(c);
            }
        }
        req.symbols = canonical;
        Self { asked, to_canonical }
    }

    /// Whether the request used an alias.
    pub fn any(&self) -> bool {
        !self.to_canonical.is_empty()
    }

    /// The alias -> asset pairs used (for `meta.aliases`).
    pub fn used(&self) -> &BTreeMap<String, String> {
        &self.to_canonical
    }

    /// `data` (a payload as JSON) with symbols named as asked: a price list gets one
    /// item per asked ticker, in the order asked; an object's `symbol` is renamed.
    pub fn apply(&self, data: &Bytes) -> Bytes {
        if !self.any() {
            return data.clone();
        }
        let Ok(value) = serde_json::from_slice::<Value>(data) else {
            return data.clone();
        };
        let renamed = match value {
            Value::Array(items) => Value::Array(self.items_as_asked(items)),
            Value::Object(mut obj) => {
                if let Some(Value::String(sym)) = obj.get("symbol")
                    && let Some(alias) = self.alias_of(sym)
                {
                    obj.insert("symbol".into(), Value::String(alias));
                }
                Value::Object(obj)
            }
            other => other,
        };
        Bytes::from(serde_json::to_vec(&renamed).unwrap_or_default())
    }

    /// `meta` extras with the consensus `sources[].symbol` named as asked; `None` when
    /// nothing needs renaming (use the extras as they are).
    pub fn extra(&self, extra: Option<&MetaExtra>) -> Option<MetaExtra> {
        let extra = extra.filter(|_| self.any())?;
        let Some(Value::Array(sources)) = extra.get("sources") else { return None };
        let renamed = sources
            .iter()
            .map(|source| {
                let mut source = source.clone();
                if let Some(alias) = source.get("symbol").and_then(Value::as_str).and_then(|s| self.alias_of(s)) {
                    source["symbol"] = Value::String(alias);
                }
                source
            })
            .collect();
        let mut out = extra.clone();
        out.insert("sources".into(), Value::Array(renamed));
        Some(out)
    }

    /// Canonical tickers named as asked (for `meta.missing`).
    pub fn names(&self, canonical: &[String]) -> Vec<String> {
        if !self.any() {
            return canonical.to_vec();
        }
        self.asked.iter().filter(|a| canonical.contains(self.canonical(a))).cloned().collect()
    }

    fn canonical<'s>(&'s self, asked: &'s String) -> &'s String {
        self.to_canonical.get(asked).unwrap_or(asked)
    }

    /// The first ticker the client used for `canonical`, when that is an alias.
    fn alias_of(&self, canonical: &str) -> Option<String> {
        let mut names = self.asked.iter().filter(|a| self.canonical(a) == canonical);
        let first = names.next()?;
        (first != canonical).then(|| first.clone())
    }

    fn items_as_asked(&self, items: Vec<Value>) -> Vec<Value> {
        let symbol_of = |v: &Value| v.get("symbol").and_then(Value::as_str).map(str::to_owned);
        if items.iter().all(|v| symbol_of(v).is_none()) {
            return items;
        }
        let mut out = Vec::with_capacity(self.asked.len());
        for asked in &self.asked {
            let canonical = self.canonical(asked);
            if let Some(item) = items.iter().find(|v| symbol_of(v).as_deref() == Some(canonical.as_str())) {
                let mut item = item.clone();
                if let Value::Object(obj) = &mut item {
                    obj.insert("symbol".into(), Value::String(asked.clone()));
                }
                out.push(item);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::normalize::op::Operation;

    fn price_req(symbols: &str) -> OpRequest {
        let q = format!("symbols={symbols}");
        OpRequest::parse(Operation::Price, Some(&q), &Default::default(), &Default::default(), 32).expect("request")
    }

    fn aliases() -> BTreeMap<String, String> {
        [("TON".to_owned(), "GRAM".to_owned()), ("MATIC".to_owned(), "POL".to_owned())].into()
    }

    #[test]
    fn an_alias_asks_for_the_asset_and_answers_under_the_asked_name() {
        let mut req = price_req("BTC,TON");
        let r = Renames::resolve(&mut req, &aliases());
        assert_eq!(req.symbols, ["BTC", "GRAM"]);
        let data = Bytes::from(
            json!([{"symbol": "BTC", "price": 1.0}, {"symbol": "GRAM", "price": 2.0}]).to_string().into_bytes(),
        );
        let out: Value = serde_json::from_slice(&r.apply(&data)).expect("json");
        assert_eq!(out, json!([{"symbol": "BTC", "price": 1.0}, {"symbol": "TON", "price": 2.0}]));
        assert_eq!(r.names(&["GRAM".to_owned()]), ["TON"]);
        assert_eq!(r.used().get("TON").map(String::as_str), Some("GRAM"));
    }

    #[test]
    fn consensus_sources_are_named_as_asked() {
        let sources = |sym: &str| {
            let v = json!({"consensus": {"asked": 2}, "sources": [
                {"provider": "a", "symbol": sym, "price": 2.0, "dropped": false},
                {"provider": "b", "symbol": "BTC", "price": 1.0, "dropped": false}]});
            v.as_object().cloned().expect("object")
        };
        let mut req = price_req("BTC,TON");
        let r = Renames::resolve(&mut req, &aliases());
        let renamed = r.extra(Some(&sources("GRAM"))).expect("renamed");
        assert_eq!(Value::Object(renamed), Value::Object(sources("TON")));
        let mut both = price_req("TON,GRAM");
        let first_asked = Renames::resolve(&mut both, &aliases()).extra(Some(&sources("GRAM")));
        assert_eq!(first_asked, Some(sources("TON")), "named as first asked, as a ticker object is");
        let mut plain = price_req("BTC");
        assert_eq!(Renames::resolve(&mut plain, &aliases()).extra(Some(&sources("GRAM"))), None, "no alias asked");
    }

    #[test]
    fn both_names_in_one_request_get_one_item_each() {
        let mut req = price_req("TON,GRAM");
        let r = Renames::resolve(&mut req, &aliases());
        assert_eq!(req.symbols, ["GRAM"], "the provider is asked once");
        let data = Bytes::from(json!([{"symbol": "GRAM", "price": 2.0}]).to_string().into_bytes());
        let out: Value = serde_json::from_slice(&r.apply(&data)).expect("json");
        assert_eq!(out, json!([{"symbol": "TON", "price": 2.0}, {"symbol": "GRAM", "price": 2.0}]));
    }

    #[test]
    fn objects_are_renamed_and_requests_without_aliases_untouched() {
        let q = "symbol=TON";
        let mut req =
            OpRequest::parse(Operation::Ticker, Some(q), &Default::default(), &Default::default(), 32).expect("req");
        let r = Renames::resolve(&mut req, &aliases());
        let data = Bytes::from(json!({"symbol": "GRAM", "last": 3.0}).to_string().into_bytes());
        let out: Value = serde_json::from_slice(&r.apply(&data)).expect("json");
        assert_eq!(out["symbol"], "TON");
        let mut plain = price_req("BTC");
        let none = Renames::resolve(&mut plain, &aliases());
        assert!(!none.any());
        assert_eq!(none.apply(&data), data);
    }
}
