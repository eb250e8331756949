//! Request templates: `{var}` substitution in a provider op's path, query and headers
//! (pure). Values are percent-encoded for where they land.

use std::collections::BTreeMap;

use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};

use crate::transport::url::QUERY;

/// Variables every template may use (interval tables may add more).
pub const TEMPLATE_VARS: [&str; 18] = [
    "symbol",
    "symbols",
    "id",
    "ids",
    "ids_json",
    "vs",
    "vs_lower",
    "quote",
    "quote_lower",
    "interval",
    "limit",
    "depth",
    "q",
    "now_s",
    "now_ms",
    "start_s",
    "start_ms",
    "start_date",
];

/// Characters escaped inside a path segment.
const SEGMENT: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'`')
    .add(b'{')
    .add(b'}')
    .add(b'/')
    .add(b'%')
    .add(b'\\');

/// Values of the template variables for one upstream request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Vars(BTreeMap<String, String>);

// === impl Vars ===

impl Vars {
    /// Sets a variable.
    pub fn set(&mut self, name: &str, value: impl Into<String>) {
        self.0.insert(name.to_owned(), value.into());
    }

    /// A variable's value (empty when unset).
    pub fn get(&self, name: &str) -> &str {
        self.0.get(name).map_or("", String::as_str)
    }

    /// Substitutes `{var}` in `template`, passing each value through `encode`.
    fn render_with(&self, template: &str, encode: impl Fn(&str) -> String) -> String {
        let mut out = String::with_capacity(template.len() + 16);
        let mut rest = template;
        while let Some(open) = rest.find('{') {
            out.push_str(&rest[..open]);
            let after = &rest[open + 1..];
            match after.find('}') {
                Some(close) => {
                    out.push_str(&encode(self.get(&after[..close])));
                    rest = &after[close + 1..];
                }
                None => {
                    out.push_str(&rest[open..]);
                    rest = "";
                }
            }
        }
        out.push_str(rest);
        out
    }

    /// Renders a path; substituted values are encoded as path segments.
    pub fn path(&self, template: &str) -> String {
        self.render_with(template, |v| utf8_percent_encode(v, SEGMENT).to_string())
    }

    /// Renders `path?k=v&...`; parameters whose value renders empty are left out.
    pub fn path_and_query(&self, path: &str, query: &[(String, String)]) -> String {
        let mut out = self.path(path);
        let mut first = !out.contains('?');
        for (k, v) in query {
            let value = self.render_with(v, str::to_owned);
            if value.is_empty() {
                continue;
            }
            out.push(if first { '?' } else { '&' });
            first = false;
            out.push_str(&utf8_percent_encode(k, QUERY).to_string());
            out.push('=');
            out.push_str(&utf8_percent_encode(&value, QUERY).to_string());
        }
        out
    }

    /// Renders a header value verbatim.
    pub fn header(&self, template: &str) -> String {
        self.render_with(template, str::to_owned)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars() -> Vars {
        let mut v = Vars::default();
        v.set("id", "btc-bitcoin");
        v.set("ids_json", r#"["BTCUSDT","ETHUSDT"]"#);
        v.set("vs_lower", "usd");
        v.set("q", "");
        v
    }

    #[test]
    fn renders_path_and_encoded_query() {
        let v = vars();
        let q = vec![("symbols".to_owned(), "{ids_json}".to_owned()), ("quote".to_owned(), "{vs_lower}".to_owned())];
        assert_eq!(
            v.path_and_query("/v1/tickers/{id}", &q),
            "/v1/tickers/btc-bitcoin?symbols=%5B%22BTCUSDT%22%2C%22ETHUSDT%22%5D&quote=usd".replace("%2C", ",")
        );
    }

    #[test]
    fn empty_query_values_are_left_out_and_path_values_cannot_add_segments() {
        let mut v = vars();
        v.set("id", "../admin?x=1");
        let q = vec![("search".to_owned(), "{q}".to_owned())];
        assert_eq!(v.path_and_query("/coins/{id}", &q), "/coins/..%2Fadmin%3Fx=1");
    }
}
