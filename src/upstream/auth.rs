//! Putting a provider's configured headers and API key on an upstream request. Keys
//! rotate round-robin; a key answered with 401/403 is set aside (reported by index,
//! never by value) until every key is set aside, when all are tried again.

use std::sync::atomic::Ordering;

use http::{HeaderMap, HeaderValue};
use percent_encoding::utf8_percent_encode;

use crate::config::model::KeyPlace;
use crate::metrics::Metrics;
use crate::snapshot::ProviderRt;
use crate::sync::lock;
use crate::transport::url::QUERY;

/// Adds the provider's headers and the next usable key. Returns the key index used and
/// the query suffix (`api_key=...`) to append when the key goes in the query.
pub fn apply(provider: &ProviderRt, headers: &mut HeaderMap) -> (Option<usize>, Option<String>) {
    for (name, value) in &provider.cfg.headers {
        if value.expose().is_empty() {
            continue;
        }
        if let Ok(v) = HeaderValue::from_str(value.expose()) {
            let mut v = v;
            v.set_sensitive(true);
            headers.insert(name.clone(), v);
        }
    }
    let Some(auth) = &provider.cfg.auth else {
        return (None, None);
    };
    let keys = provider.state.keys();
    if keys.is_empty() {
        return (None, None);
    }
    let index = next_key(provider, keys.len());
    let Some(key) = keys.get(index).map(crate::secret::Secret::expose) else { return (None, None) };
    match &auth.place {
        KeyPlace::Header(name, template) => {
            if let Ok(mut v) = HeaderValue::from_str(&template.replace("{key}", key)) {
                v.set_sensitive(true);
                headers.insert(name.clone(), v);
            }
            (Some(index), None)
        }
        KeyPlace::Query(param) => {
            let pair = format!("{}={}", utf8_percent_encode(param, QUERY), utf8_percent_encode(key, QUERY));
            (Some(index), Some(pair))
        }
    }
}

/// Sets key `index` aside after a 401/403.
pub fn set_aside(provider: &ProviderRt, index: usize, status: u16, metrics: &Metrics) {
    let mut aside = lock(&provider.state.keys_set_aside);
    if aside.contains(&index) {
        return;
    }
    aside.push(index);
    metrics.keys_set_aside.with_label_values(&[&provider.cfg.name]).set(aside.len() as i64);
    let env = provider.cfg.auth.as_ref().map_or("", |a| a.env.as_str());
    tracing::warn!(provider = %provider.cfg.name, key_index = index, env, status, "API key refused by the provider; set aside");
}

fn next_key(provider: &ProviderRt, n: usize) -> usize {
    let aside = lock(&provider.state.keys_set_aside);
    let start = provider.state.key_cursor.fetch_add(1, Ordering::Relaxed);
    crate::candidates::rotation::rotation(n, start).find(|i| !aside.contains(i)).unwrap_or(start % n.max(1))
}

/// Appends `pair` to a path-and-query string.
pub fn append_query(path_and_query: &mut String, pair: Option<String>) {
    if let Some(pair) = pair {
        path_and_query.push(if path_and_query.contains('?') { '&' } else { '?' });
        path_and_query.push_str(&pair);
    }
}
