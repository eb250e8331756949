//! `[providers.<name>.ops.<op>]` -> [`OpMapping`]: the request template (every `{var}`
//! known), the interval table, the weight, and the jq mapping compiled with the
//! provider's prelude; compile errors point at their line in the file.

use std::collections::BTreeMap;

use super::Ctx;
use super::limits::checked;
use super::providers::header_name;
use crate::config::error::Problem;
use crate::config::model::*;
use crate::config::schema::{IntervalValue, OpSpec};
use crate::normalize::jq::JqProgram;
use crate::normalize::op::{Interval, Operation};

/// Template variables every request template may use (interval tables may add more).
pub use crate::normalize::template::TEMPLATE_VARS;

pub(super) fn op_mapping(
    cx: &mut Ctx<'_>,
    key: &str,
    op: Operation,
    spec: &OpSpec,
    prelude: Option<&toml::Spanned<String>>,
) -> Option<OpMapping> {
    let before = cx.problems.len();
    let request = &spec.request;
    if !request.path.starts_with('/') {
        cx.problems.push(Problem::new(format!("{key}.request.path"), "must start with '/'"));
    }
    let mut intervals = BTreeMap::new();
    for (name, value) in &spec.intervals {
        let ikey = format!("{key}.intervals.{name}");
        let Ok(interval) = name.parse::<Interval>() else {
            cx.fail::<()>(&ikey, format!("unknown interval {name:?}; expected one of 1m 5m 15m 1h 4h 1d"));
            continue;
        };
        let vars = match value {
            IntervalValue::Plain(v) => BTreeMap::from([("interval".to_owned(), v.clone())]),
            IntervalValue::Vars(m) => m.clone(),
        };
        intervals.insert(interval, vars);
    }
    if !intervals.is_empty() && op != Operation::Ohlcv {
        cx.fail::<()>(&format!("{key}.intervals"), "only ohlcv takes intervals".to_owned());
    }
    let extra: Vec<&String> = intervals.values().flat_map(|m| m.keys()).collect();
    let check = |cx: &mut Ctx<'_>, k: String, text: &str| {
        if let Err(var) = check_template(text, &extra) {
            cx.problems.push(Problem::new(
                k,
                format!("unknown template variable {{{var}}}; known: {}", TEMPLATE_VARS.join(", ")),
            ));
        }
    };
    check(cx, format!("{key}.request.path"), &request.path);
    for (q, v) in &request.query {
        check(cx, format!("{key}.request.query.{q}"), v);
    }
    let mut headers = Vec::new();
    for (h, v) in &request.headers {
        let hkey = format!("{key}.request.headers.{h}");
        check(cx, hkey.clone(), v);
        if let Some(name) = header_name(cx, &hkey, h) {
            headers.push((name, v.clone()));
        }
    }
    let weight = match &spec.weight {
        Some(w) => {
            if let crate::config::schema::WeightSpec::Rule(r) = w
                && !TEMPLATE_VARS.contains(&r.by.as_str())
            {
                cx.problems.push(Problem::new(
                    format!("{key}.weight.by"),
                    format!("unknown template variable {:?}; known: {}", r.by, TEMPLATE_VARS.join(", ")),
                ));
            }
            checked(cx, &format!("{key}.weight"), w).unwrap_or_default()
        }
        None => Weight::Fixed(1),
    };
    let rows = spec.rows.as_ref().and_then(|cols| {
        if op != Operation::Ohlcv {
            return cx.fail(&format!("{key}.rows"), "only ohlcv takes rows".to_owned());
        }
        let columns = [Some(cols.ts), Some(cols.open), Some(cols.high), Some(cols.low), Some(cols.close), cols.volume];
        match crate::normalize::rows::Rows::new(cols.path.as_deref(), cols.time.as_deref(), columns) {
            Ok(r) => Some(r),
            Err(e) => cx.fail(&format!("{key}.rows"), e),
        }
    });
    let limits = op_limits(cx, key, op, spec);
    let prelude_key = key.rsplit_once(".ops.").map_or(key.to_owned(), |(p, _)| format!("{p}.prelude"));
    let response = compile_mapping(cx, &format!("{key}.response"), &prelude_key, &spec.response, prelude);
    let response = response?;
    (cx.problems.len() == before).then(|| OpMapping {
        request: RequestTemplate {
            path: request.path.clone(),
            query: request.query.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
            headers,
        },
        response,
        per_symbol: spec.per_symbol,
        weight,
        prefilter: crate::normalize::prefilter::Prefilter {
            keep_ids: spec.keep_ids.clone(),
            numeric_strings: spec.numeric_strings,
        },
        rows,
        intervals,
        quotes: limits.quotes,
        error_statuses: limits.error_statuses,
        max_limit: limits.max_limit,
        max_depth: limits.max_depth,
    })
}

/// The quotes, error statuses and parameter maximums of one op.
struct OpLimits {
    quotes: Option<Vec<String>>,
    error_statuses: Vec<u16>,
    max_limit: Option<u32>,
    max_depth: Option<u32>,
}

fn op_limits(cx: &mut Ctx<'_>, key: &str, op: Operation, spec: &OpSpec) -> OpLimits {
    let quotes = spec.quotes.as_ref().map(|q| q.iter().map(|t| t.trim().to_ascii_uppercase()).collect::<Vec<_>>());
    if quotes.as_ref().is_some_and(|q| q.is_empty() || q.iter().any(String::is_empty)) {
        cx.problems.push(Problem::new(format!("{key}.quotes"), "list one or more canonical quotes, e.g. [\"USD\"]"));
    }
    let error_statuses = spec.error_statuses.clone().unwrap_or_else(|| vec![400]);
    if let Some(bad) = error_statuses.iter().find(|s| !(400..=499).contains(*s)) {
        let msg = format!("{bad} is not a 4xx status (a mapping reads refusals only)");
        cx.problems.push(Problem::new(format!("{key}.error_statuses"), msg));
    }
    for (name, value, wanted) in
        [("max_limit", spec.max_limit, Operation::Ohlcv), ("max_depth", spec.max_depth, Operation::Orderbook)]
    {
        match value {
            Some(_) if op != wanted => {
                cx.problems.push(Problem::new(format!("{key}.{name}"), format!("only {wanted} takes {name}")))
            }
            Some(0) => cx.problems.push(Problem::new(format!("{key}.{name}"), "must be at least 1")),
            _ => {}
        }
    }
    OpLimits { quotes, error_statuses, max_limit: spec.max_limit, max_depth: spec.max_depth }
}

/// Quote variables: a request that names one of them asks for a quote.
const QUOTE_VARS: [&str; 4] = ["{quote}", "{quote_lower}", "{vs}", "{vs_lower}"];

/// An op for a pair must say which quote it wants: in its request (`{quote}`, `{vs}`),
/// through ids that name whole pairs, or by listing the quotes it serves. Otherwise
/// every `vs` would get the same answer, labelled with whatever was asked (the old
/// README's Kraken example served the USD price as EUR).
pub(super) fn check_quote_is_asked(cx: &mut Ctx<'_>, key: &str, op: Operation, m: &OpMapping, symbols: &SymbolMap) {
    if !matches!(op, Operation::Price | Operation::Ticker | Operation::Ohlcv | Operation::Orderbook)
        || m.quotes.is_some()
    {
        return;
    }
    let r = &m.request;
    let texts = std::iter::once(r.path.as_str())
        .chain(r.query.iter().map(|(_, v)| v.as_str()))
        .chain(r.headers.iter().map(|(_, v)| v.as_str()));
    let names_quote = texts.into_iter().any(|t| QUOTE_VARS.iter().any(|v| t.contains(v)))
        || m.intervals.values().flat_map(|vars| vars.values()).any(|t| QUOTE_VARS.iter().any(|v| t.contains(v)));
    if names_quote || symbols.ids_name_the_quote() {
        return;
    }
    let msg = "the request never says which quote is wanted (no {quote} or {vs} in it, and the ids are asset \
               ids), so every vs would get the same answer. Name whole pairs with symbols.pairs = { \"BTC/USD\" = \
               \"XBTUSD\" }, compose them with symbols.format = \"{BASE}{QUOTE}\", or list the quotes this op \
               serves: quotes = [\"USD\"]";
    cx.problems.push(Problem::new(key, msg));
}

/// Compiles `prelude` + `response`. A compile error is reported at its line in the file:
/// inside the response (`key`), or inside the provider's prelude (`prelude_key`).
pub(super) fn compile_mapping(
    cx: &mut Ctx<'_>,
    key: &str,
    prelude_key: &str,
    response: &toml::Spanned<String>,
    prelude: Option<&toml::Spanned<String>>,
) -> Option<JqProgram> {
    let pre = prelude.map_or("", |p| p.get_ref().as_str());
    let code = format!("{pre}\n{}", response.get_ref());
    let err = match JqProgram::compile(&code) {
        Ok(p) => return Some(p),
        Err(e) => e,
    };
    let (part, offset, part_key) = match err.offset {
        Some(off) if off <= pre.len() && prelude.is_some() => (prelude, Some(off), prelude_key.to_owned()),
        Some(off) => (Some(response), Some(off.saturating_sub(pre.len() + 1)), key.to_owned()),
        None => (Some(response), None, key.to_owned()),
    };
    // The line inside the mapping too: a file that `extends` the default is reported by
    // key only (its lines are those of the merged text), and a long mapping needs it.
    let message = match (part, offset) {
        (Some(p), Some(off)) => {
            let line = p.get_ref().get(..off.min(p.get_ref().len())).map_or(1, |t| t.matches('\n').count() + 1);
            format!("{} (line {line} of the jq program)", err.message)
        }
        _ => err.message,
    };
    let at = part.map_or(0, |p| {
        let span = p.span();
        let within = cx.source.get(span.clone()).and_then(|s| s.find(p.get_ref().as_str())).map(|i| span.start + i);
        match (within, offset) {
            (Some(start), Some(off)) => start + off,
            _ => span.start,
        }
    });
    cx.fail_at(&part_key, at..at, message)
}

/// `Err(var)` names the first `{var}` that is not a known template variable.
fn check_template(text: &str, extra: &[&String]) -> Result<(), String> {
    let mut rest = text;
    while let Some(open) = rest.find('{') {
        let after = &rest[open + 1..];
        let Some(close) = after.find('}') else {
            return Err(after.to_owned());
        };
        let var = &after[..close];
        if !TEMPLATE_VARS.contains(&var) && !extra.iter().any(|e| e.as_str() == var) {
            return Err(var.to_owned());
        }
        rest = &after[close + 1..];
    }
    Ok(())
}
