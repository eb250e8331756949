//! `[routes]` and `[pools]` -> [`RouteConfig`]s, most specific template first.

use std::collections::BTreeMap;
use std::sync::Arc;

use toml::Spanned;

use super::Ctx;
use crate::config::model::*;
use crate::config::schema::{FileConfig, PoolRef, RouteSpec};
use crate::normalize::op::Operation;
use crate::normalize::params::{self, OpRequest, ParamError};
use crate::routing::pattern::Pattern;

/// The hedge delay of `hedge_after = "p95"` before a provider has latency samples.
pub const DEFAULT_HEDGE_DELAY: std::time::Duration = std::time::Duration::from_millis(250);

pub(super) fn routes(cx: &mut Ctx<'_>, file: &FileConfig, providers: &[Arc<ProviderConfig>]) -> Vec<Arc<RouteConfig>> {
    let known: BTreeMap<&str, &Arc<ProviderConfig>> = providers.iter().map(|p| (p.name.as_str(), p)).collect();
    let all_provider_names: Vec<&String> = file.providers.keys().collect();
    check_pools(cx, file, &all_provider_names);
    let mut out = Vec::new();
    for (template, spec) in &file.routes {
        let key = format!("routes.\"{template}\"");
        let span = spec.span();
        let pattern = match Pattern::parse(template) {
            Ok(p) => p,
            Err(e) => {
                cx.fail_at::<()>(&key, span, e);
                continue;
            }
        };
        if let Some(target) = target(cx, &key, span, spec.get_ref(), &pattern, file, &known, &all_provider_names) {
            out.push(RouteConfig { pattern, target });
        }
    }
    out.sort_by(|a, b| a.pattern.specificity_cmp(&b.pattern));
    out.into_iter().map(Arc::new).collect()
}

fn check_pools(cx: &mut Ctx<'_>, file: &FileConfig, names: &[&String]) {
    for (pool, tiers) in &file.pools {
        if tiers.get_ref().is_empty() || tiers.get_ref().iter().any(Vec::is_empty) {
            cx.fail_at::<()>(
                &format!("pools.{pool}"),
                tiers.span(),
                "a pool needs at least one tier, and no tier may be empty".into(),
            );
        }
        for name in tiers.get_ref().iter().flatten() {
            if !names.iter().any(|n| *n == name.get_ref()) {
                cx.fail_at::<()>(
                    &format!("pools.{pool}"),
                    name.span(),
                    format!("no provider named {:?}", name.get_ref()),
                );
            }
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn target(
    cx: &mut Ctx<'_>,
    key: &str,
    span: std::ops::Range<usize>,
    spec: &RouteSpec,
    pattern: &Pattern,
    file: &FileConfig,
    known: &BTreeMap<&str, &Arc<ProviderConfig>>,
    all_names: &[&String],
) -> Option<RouteTarget> {
    if let Some(providers) = &spec.stream {
        let providers = providers.names();
        if spec.op.is_some() || spec.passthrough.is_some() {
            return cx.fail_at(key, span, "set exactly one of op, passthrough or stream".into());
        }
        let has_stream = |name: &str| -> Option<bool> {
            let spec = file.providers.get(name)?;
            Some(spec.stream.is_some())
        };
        let ticker_route = |path: &str| -> Option<bool> {
            let route = file.routes.get(path)?;
            Some(route.get_ref().op.as_deref() == Some("ticker") && route.get_ref().derive.is_none())
        };
        return super::stream::route(cx, key, span, spec, &providers, has_stream, ticker_route)
            .map(RouteTarget::Stream);
    }
    match (&spec.op, &spec.passthrough) {
        (Some(_), Some(_)) | (None, None) => {
            cx.fail_at(key, span, "set exactly one of op, passthrough or stream".into())
        }
        (None, Some(provider)) => {
            if !pattern.has_param("path") {
                return cx.fail_at(
                    key,
                    span,
                    "a passthrough route needs a {*path} parameter, e.g. /raw/binance/{*path}".into(),
                );
            }
            if provider == "*" {
                if !pattern.has_param("provider") {
                    return cx.fail_at(key, span, "passthrough = \"*\" needs a {provider} parameter".into());
                }
                return Some(RouteTarget::Passthrough(None));
            }
            if !all_names.contains(&provider) {
                return cx.fail_at(&format!("{key}.passthrough"), span, format!("no provider named {provider:?}"));
            }
            Some(RouteTarget::Passthrough(Some(provider.clone())))
        }
        (Some(op), None) => normalized(cx, key, span, spec, op, file, known, all_names).map(RouteTarget::Normalized),
    }
}

#[allow(clippy::too_many_arguments)]
fn normalized(
    cx: &mut Ctx<'_>,
    key: &str,
    span: std::ops::Range<usize>,
    spec: &RouteSpec,
    op: &str,
    file: &FileConfig,
    known: &BTreeMap<&str, &Arc<ProviderConfig>>,
    all_names: &[&String],
) -> Option<NormalizedRoute> {
    let op: Operation = match op.parse() {
        Ok(op) => op,
        Err(e) => return cx.fail_at(&format!("{key}.op"), span, e.to_string()),
    };
    let tiers: Vec<Vec<String>> = match &spec.pool {
        None => {
            return cx.fail_at(&format!("{key}.pool"), span, "a normalized route needs a pool".into());
        }
        Some(PoolRef::Named(name)) => match file.pools.get(name) {
            Some(t) => {
                t.get_ref().iter().map(|tier| tier.iter().map(|n| Spanned::get_ref(n).clone()).collect()).collect()
            }
            None => {
                return cx.fail_at(&format!("{key}.pool"), span, format!("no pool named {name:?} in [pools]"));
            }
        },
        Some(PoolRef::Inline(t)) => t.clone(),
    };
    if tiers.is_empty() || tiers.iter().any(Vec::is_empty) {
        return cx.fail_at(
            &format!("{key}.pool"),
            span,
            "a pool needs at least one tier, and no tier may be empty".into(),
        );
    }
    for name in tiers.iter().flatten() {
        if !all_names.contains(&name) {
            cx.fail_at::<()>(&format!("{key}.pool"), span.clone(), format!("no provider named {name:?}"));
        } else if let Some(p) = known.get(name.as_str())
            && !p.serves(op)
        {
            let why = match p.kind {
                ProviderKind::Feed => format!("provider {name:?} is a news feed and serves news only"),
                _ => format!("provider {name:?} has no ops.{op} mapping"),
            };
            cx.fail_at::<()>(&format!("{key}.pool"), span.clone(), why);
        }
    }
    let derive = match spec.derive.as_deref() {
        None => None,
        Some(text) => match text.parse::<crate::normalize::op::Derive>() {
            Ok(d) if d.from_op() == op => Some(d),
            Ok(d) => {
                let msg =
                    format!("derive = {:?} is computed from op = {:?}, not {op}", d.as_str(), d.from_op().as_str());
                return cx.fail_at(&format!("{key}.derive"), span, msg);
            }
            Err(e) => return cx.fail_at(&format!("{key}.derive"), span, e.to_string()),
        },
    };
    let accepted = params::accepted(op, derive);
    for name in spec.defaults.keys() {
        if !accepted.contains(&name.as_str()) {
            cx.fail_at::<()>(
                &format!("{key}.defaults.{name}"),
                span.clone(),
                format!("{op} takes no parameter {name:?}; accepted: {}", accepted.join(", ")),
            );
        }
    }
    if let Err(e) = check_defaults(op, derive, &spec.defaults) {
        cx.fail_at::<()>(&format!("{key}.defaults.{}", e.param), span.clone(), e.message);
    }
    let cold = file.defaults.hedge_delay.map_or(DEFAULT_HEDGE_DELAY, |d| d.0);
    let hedge = match spec.hedge_after.as_deref() {
        None | Some("p95") => Some(Hedge::P95 { cold }),
        Some("off") => None,
        Some(text) => match crate::config::units::parse_duration(text) {
            Ok(d) if d.is_zero() => None,
            Ok(d) => Some(Hedge::After(d)),
            Err(e) => {
                return cx.fail_at(&format!("{key}.hedge_after"), span, format!("{e}, \"p95\" or \"off\""));
            }
        },
    };
    if spec.merge && !matches!(op, Operation::News | Operation::Coins) {
        return cx.fail_at(
            &format!("{key}.merge"),
            span,
            format!("merge = true suits news and coins (lists to merge), not {op}"),
        );
    }
    Some(NormalizedRoute {
        merge: spec.merge,
        derive,
        op,
        tiers,
        cache: spec.cache.map(|d| d.0).filter(|d| !d.is_zero()),
        max_stale: spec.max_stale.map(|d| d.0),
        hedge,
        deadline: spec.deadline.map(|d| d.0),
        max_quote_age: spec.max_quote_age.map_or(crate::config::model::DEFAULT_MAX_QUOTE_AGE, |d| d.0),
        defaults: spec.defaults.clone(),
    })
}

/// Reads the route's default values as a request would (with a symbol when the
/// operation needs one and the defaults give none), so a bad default is refused at
/// load instead of answering every request 400.
fn check_defaults(
    op: Operation,
    derive: Option<crate::normalize::op::Derive>,
    defaults: &BTreeMap<String, String>,
) -> Result<(), ParamError> {
    if defaults.is_empty() {
        return Ok(());
    }
    let given = |n: &str| defaults.contains_key(n);
    let query = match op {
        Operation::Price if !given("symbols") && !given("symbol") => Some("symbols=BTC"),
        _ if op.takes_symbols() && !given("symbol") => Some("symbol=BTC"),
        _ => None,
    };
    let mut req =
        OpRequest::parse_for(op, derive, query, &crate::routing::pattern::Params::new(), defaults, usize::MAX)?;
    crate::derive::Shaping::prepare(derive, &mut req).map(|_| ())
}
