//! `[providers.*]` -> [`ProviderConfig`]s: hosts, keys, symbol maps, quotas and the
//! compiled jq mappings of every operation.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use http::HeaderName;

use super::{Ctx, limits, ops};
use crate::breaker::BreakerPolicy;
use crate::config::env::referenced_vars;
use crate::config::error::Problem;
use crate::config::model::*;
use crate::config::schema::{BreakerSpec, FileConfig, ProviderSpec};
use crate::normalize::op::Operation;
use crate::secret::Secret;
use crate::transport::url::BaseUrl;

pub(super) fn providers(
    cx: &mut Ctx<'_>,
    file: &FileConfig,
    assets: &Arc<BTreeMap<String, Option<String>>>,
) -> Vec<Arc<ProviderConfig>> {
    let defaults = breaker_policy(cx, "defaults.breaker", BreakerPolicy::default(), file.defaults.breaker.as_ref());
    let attempt_timeout = file.defaults.attempt_timeout.map_or(Duration::from_secs(2), |d| d.0);
    let mut out = Vec::new();
    for (name, spec) in &file.providers {
        let key = format!("providers.{name}");
        if name.is_empty()
            || !name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
        {
            cx.problems.push(Problem::new(&key, "provider names are lower-case letters, digits, _ and -"));
            continue;
        }
        if let Some(p) = provider(cx, &key, name, spec, file, assets, defaults, attempt_timeout) {
            out.push(Arc::new(p));
        }
    }
    out
}

#[allow(clippy::too_many_arguments)]
fn provider(
    cx: &mut Ctx<'_>,
    key: &str,
    name: &str,
    spec: &ProviderSpec,
    file: &FileConfig,
    assets: &Arc<BTreeMap<String, Option<String>>>,
    defaults: BreakerPolicy,
    attempt_timeout: Duration,
) -> Option<ProviderConfig> {
    let before = cx.problems.len();
    let (hosts, mut disabled) = hosts(cx, key, spec);
    if spec.enabled == Some(false) {
        disabled = Some("disabled in config (enabled = false)".to_owned());
    }
    let headers = spec
        .headers
        .iter()
        .filter_map(|(h, v)| {
            let hkey = format!("{key}.headers.{h}");
            let name = header_name(cx, &hkey, h)?;
            let value = cx.expand(&hkey, v)?;
            if http::HeaderValue::from_str(&value).is_err() {
                return cx.fail(&hkey, "value is not a valid header value".to_owned());
            }
            Some((name, Secret::new(value)))
        })
        .collect();
    let auth = spec.auth.as_ref().and_then(|a| {
        let akey = format!("{key}.auth");
        let (keys, origin, file) = match (&a.env, &a.file) {
            (Some(env), None) => (split_keys(&cx.env.get(env).unwrap_or_default(), ','), env.clone(), None),
            (None, Some(path)) => {
                let path = std::path::PathBuf::from(path);
                // A file that cannot be read now may appear later (a mounted secret):
                // the provider waits for it as it would for an unset variable.
                let text = std::fs::read_to_string(&path).unwrap_or_default();
                (split_keys(&text, '\n'), format!("file {}", path.display()), Some(path))
            }
            _ => return cx.fail(&akey, "set exactly one of env or file".to_owned()),
        };
        let place = match (&a.header, &a.query) {
            (Some(h), None) => KeyPlace::Header(
                header_name(cx, &format!("{akey}.header"), h)?,
                a.value.clone().unwrap_or_else(|| "{key}".into()),
            ),
            (None, Some(q)) => KeyPlace::Query(q.clone()),
            _ => return cx.fail(&akey, "set exactly one of header or query".to_owned()),
        };
        if keys.is_empty() && file.is_none() {
            if a.required && disabled.is_none() {
                disabled = Some(format!("API key not set: environment variable {origin} is empty or unset"));
            }
            return None;
        }
        if keys.is_empty() && a.required && disabled.is_none() {
            disabled = Some(format!("API key not set: {origin} is missing or empty"));
        }
        Some(Auth { env: origin, file, keys, place })
    });
    if let Some(from) = &spec.symbols.ids_from
        && !file.providers.contains_key(from)
    {
        cx.fail::<()>(&format!("{key}.symbols.ids_from"), format!("no provider named {from:?}"));
    }
    let symbols = symbol_map(cx, key, name, spec, file, assets);
    let quota = spec.quota.as_ref().and_then(|q| limits::quota(cx, &format!("{key}.quota"), q));
    // Credits are billed to the key: without one (an optional key left unset) none are spent.
    let keyed = spec.auth.is_none() || auth.as_ref().is_some_and(|a| !a.keys.is_empty());
    let credits =
        spec.credits.as_ref().and_then(|c| limits::credits(cx, &format!("{key}.credits"), c)).filter(|_| keyed);
    let rate_limit = limits::rate_limit(cx, &format!("{key}.rate_limit"), spec.rate_limit.as_ref());
    let raw_weights = limits::raw_weights(cx, &format!("{key}.raw_weights"), &spec.raw_weights);
    let max_hosts_per_request = spec.max_hosts_per_request.or(file.defaults.max_hosts_per_request).unwrap_or(2);
    if max_hosts_per_request == 0 {
        cx.problems.push(Problem::new(format!("{key}.max_hosts_per_request"), "must be at least 1"));
    }
    let health_check = spec.health_check.as_ref().and_then(|h| {
        if !h.path.starts_with('/') {
            return cx.fail(&format!("{key}.health_check.path"), "must start with '/'".to_owned());
        }
        Some(HealthCheck {
            path: h.path.clone(),
            interval: h.interval.map_or(Duration::from_secs(10), |d| d.0.max(Duration::from_millis(100))),
            expect: h.expect.unwrap_or(200),
            weight: h.weight.unwrap_or(1),
        })
    });
    let mut ops = BTreeMap::new();
    if spec.kind == ProviderKind::Marketgate && !spec.ops.is_empty() {
        cx.problems
            .push(Problem::new(format!("{key}.ops"), "kind = \"marketgate\" forwards /v1/* as is and takes no ops"));
    }
    let feed = feed_source(cx, key, spec);
    for (op_name, op_spec) in &spec.ops {
        let okey = format!("{key}.ops.{op_name}");
        let op = match op_name.parse::<Operation>() {
            Ok(op) => op,
            Err(e) => {
                cx.problems.push(Problem::new(&okey, e.to_string()));
                continue;
            }
        };
        if let Some(m) = ops::op_mapping(cx, &okey, op, op_spec, spec.prelude.as_ref()) {
            ops::check_quote_is_asked(cx, &okey, op, &m, &symbols);
            ops.insert(op, m);
        }
    }
    let breaker = breaker_policy(cx, &format!("{key}.breaker"), defaults, spec.breaker.as_ref());
    let timeout = spec.attempt_timeout.map_or(attempt_timeout, |d| d.0);
    let stream =
        spec.stream.as_ref().and_then(|s| super::stream::provider_stream(cx, key, s, spec.prelude.as_ref(), timeout));
    (cx.problems.len() == before).then(|| ProviderConfig {
        name: name.to_owned(),
        kind: spec.kind,
        hosts,
        disabled,
        attempt_timeout: spec.attempt_timeout.map_or(attempt_timeout, |d| d.0),
        breaker,
        headers,
        auth,
        symbols,
        quota,
        credits,
        rate_limit,
        max_hosts_per_request,
        raw_weights,
        health_check,
        ops,
        feed,
        stream,
    })
}

/// The `feed` table: required by `kind = "feed"` (which takes no ops), refused elsewhere.
fn feed_source(cx: &mut Ctx<'_>, key: &str, spec: &ProviderSpec) -> Option<FeedSource> {
    match (spec.kind, &spec.feed) {
        (ProviderKind::Feed, Some(f)) => {
            if !spec.ops.is_empty() {
                cx.problems.push(Problem::new(
                    format!("{key}.ops"),
                    "kind = \"feed\" serves news from its feed and takes no ops",
                ));
            }
            if !f.path.starts_with('/') {
                return cx.fail(&format!("{key}.feed.path"), "must start with '/'".to_owned());
            }
            Some(FeedSource { path: f.path.clone(), source: f.source.clone().filter(|s| !s.trim().is_empty()) })
        }
        (ProviderKind::Feed, None) => {
            cx.fail(key, "kind = \"feed\" needs feed = { path = \"/rss\", source = \"Outlet\" }".to_owned())
        }
        (_, Some(_)) => cx.fail(&format!("{key}.feed"), "only kind = \"feed\" providers take a feed".to_owned()),
        (_, None) => None,
    }
}

/// Expands and parses the host list. Entries expanding to "" are dropped; when that
/// leaves none, the provider is disabled with the variables named.
fn hosts(cx: &mut Ctx<'_>, key: &str, spec: &ProviderSpec) -> (Vec<BaseUrl>, Option<String>) {
    let list = spec.hosts.get_ref();
    if list.is_empty() {
        cx.fail_at::<()>(
            &format!("{key}.hosts"),
            spec.hosts.span(),
            "hosts is empty; list at least one base URL".into(),
        );
        return (Vec::new(), None);
    }
    let mut out: Vec<BaseUrl> = Vec::new();
    for (i, raw) in list.iter().enumerate() {
        let hkey = format!("{key}.hosts[{i}]");
        let Some((text, from_env)) = cx.expand_marked(&hkey, raw) else {
            continue;
        };
        if text.trim().is_empty() {
            continue;
        }
        let parsed = BaseUrl::parse(text.trim()).map(|u| {
            // A path that holds a value from the environment (`/v3/${INFURA_KEY}`) may
            // hold a secret: it is never shown in labels, metrics, meta.host or admin views.
            let path_start = text.len() - text.trim_start().len() + u.path_offset();
            if from_env.iter().any(|r| r.end > path_start) && !u.base_path().is_empty() {
                u.with_hidden_path()
            } else {
                u
            }
        });
        match parsed {
            Ok(u) if out.iter().any(|o| o.label() == u.label()) => {
                cx.fail_at::<()>(&hkey, spec.hosts.span(), format!("{u} is listed twice"));
            }
            Ok(u) => out.push(u),
            // A value from the environment is never echoed: it may hold a credential.
            Err(_) if raw.contains("${") => {
                let msg = format!("{raw} does not expand to an http(s) base URL without query or credentials");
                cx.fail_at::<()>(&hkey, spec.hosts.span(), msg);
            }
            Err(e) => {
                cx.fail_at::<()>(&hkey, spec.hosts.span(), e.to_string());
            }
        }
    }
    let disabled = out.is_empty().then(|| {
        let vars: Vec<String> = list.iter().flat_map(|h| referenced_vars(h)).collect();
        format!("no hosts: {} unset or empty", vars.join(", "))
    });
    (out, disabled)
}

fn symbol_map(
    cx: &mut Ctx<'_>,
    key: &str,
    name: &str,
    spec: &ProviderSpec,
    file: &FileConfig,
    assets: &Arc<BTreeMap<String, Option<String>>>,
) -> SymbolMap {
    let source = spec.symbols.ids_from.as_deref().unwrap_or(name);
    let mut ids: BTreeMap<String, String> =
        file.assets.iter().filter_map(|(ticker, a)| a.ids.get(source).map(|id| (ticker.clone(), id.clone()))).collect();
    ids.extend(spec.symbols.ids.iter().map(|(k, v)| (k.to_ascii_uppercase(), v.clone())));
    let format = spec.symbols.format.clone();
    if format.as_ref().is_some_and(|f| f.contains("{QUOTE}") || f.contains("{quote}")) && !ids.is_empty() {
        let msg = format!(
            "asset ids ({}) cannot stand beside a format that names the quote: an id would be sent whatever vs \
             asks. Give the provider's base names as symbols.bases = {{ BTC = \"XBT\" }}, or whole pairs as \
             symbols.pairs = {{ \"BTC/USD\" = \"XBTUSD\" }}",
            ids.keys().take(3).cloned().collect::<Vec<_>>().join(", ")
        );
        cx.problems.push(Problem::new(format!("{key}.symbols.ids"), msg));
    }
    let mut pairs = BTreeMap::new();
    for (pair, id) in &spec.symbols.pairs {
        match pair.split_once('/') {
            Some((base, quote)) if !base.trim().is_empty() && !quote.trim().is_empty() && !quote.contains('/') => {
                pairs.insert((base.trim().to_ascii_uppercase(), quote.trim().to_ascii_uppercase()), id.clone());
            }
            _ => cx.problems.push(Problem::new(
                format!("{key}.symbols.pairs.{pair}"),
                "a whole-pair id is keyed by \"BASE/QUOTE\" in canonical tickers, e.g. \"BTC/USD\" = \"XXBTZUSD\"",
            )),
        }
    }
    if format.is_none() && !spec.symbols.bases.is_empty() {
        let msg = "bases are used in symbols.format, which is not set";
        cx.problems.push(Problem::new(format!("{key}.symbols.bases"), msg));
    }
    SymbolMap {
        format,
        quote: spec.symbols.quote.clone(),
        bases: spec.symbols.bases.iter().map(|(k, v)| (k.to_ascii_uppercase(), v.clone())).collect(),
        pairs,
        ids,
        universe: Arc::clone(assets),
        identity: spec.kind == ProviderKind::Marketgate,
        namespace: source.to_owned(),
    }
}

pub(super) fn header_name(cx: &mut Ctx<'_>, key: &str, name: &str) -> Option<HeaderName> {
    match HeaderName::from_bytes(name.as_bytes()) {
        Ok(h) => Some(h),
        Err(_) => cx.fail(key, format!("{name:?} is not a valid header name")),
    }
}

fn breaker_policy(cx: &mut Ctx<'_>, key: &str, base: BreakerPolicy, spec: Option<&BreakerSpec>) -> BreakerPolicy {
    let Some(s) = spec else { return base };
    let policy = BreakerPolicy {
        consecutive_failures: s.consecutive_failures.unwrap_or(base.consecutive_failures),
        open_for: s.open_for.map_or(base.open_for, |d| d.0),
        max_open_for: s.max_open_for.map_or(base.max_open_for, |d| d.0),
    };
    if policy.consecutive_failures == 0 {
        cx.problems.push(Problem::new(format!("{key}.consecutive_failures"), "must be at least 1"));
    }
    if policy.max_open_for < policy.open_for {
        cx.problems.push(Problem::new(format!("{key}.max_open_for"), "must be at least open_for"));
    }
    policy
}
