//! A provider's limits: its request budget (`quota`), what a rate limit looks like
//! (`rate_limit`) and the quota weight of requests (`weight`, `raw_weights`).

use std::collections::BTreeMap;

use super::Ctx;
use super::providers::header_name;
use crate::bench::{BLOCKED_STATUS, DEFAULT_RATE_LIMIT_STATUSES};
use crate::bench::{DEFAULT_BENCH, DEFAULT_BLOCKED_FOR};
use crate::config::error::Problem;
use crate::config::model::{CreditsPolicy, Period, QuotaPolicy, RateLimitPolicy, Weight};
use crate::config::schema::{CountSpec, CreditsSpec, QuotaSpec, RateLimitSpec, WeightSpec};
use crate::config::units::parse_duration;

pub(super) fn quota(cx: &mut Ctx<'_>, key: &str, q: &QuotaSpec) -> Option<QuotaPolicy> {
    if q.limit == 0 || q.per.0.is_zero() {
        return cx.fail(key, "limit and per must be greater than 0".to_owned());
    }
    let used_header = match &q.used_header {
        Some(h) => Some(header_name(cx, &format!("{key}.used_header"), h)?),
        None => None,
    };
    Some(QuotaPolicy { limit: q.limit, per: q.per.0, used_header })
}

/// A credit budget; `None` when its limit is 0 (or expands to nothing).
pub(super) fn credits(cx: &mut Ctx<'_>, key: &str, c: &CreditsSpec) -> Option<CreditsPolicy> {
    let limit = match &c.limit {
        CountSpec::Number(n) => *n,
        CountSpec::Text(text) => {
            let expanded = cx.expand(&format!("{key}.limit"), text)?;
            let trimmed = expanded.trim();
            if trimmed.is_empty() {
                0
            } else {
                match trimmed.parse::<u32>() {
                    Ok(n) => n,
                    Err(_) => return cx.fail(&format!("{key}.limit"), format!("{trimmed:?} is not a whole number")),
                }
            }
        }
    };
    let per = if c.per.trim().eq_ignore_ascii_case("month") {
        Period::Month
    } else {
        match parse_duration(&c.per) {
            Ok(d) if !d.is_zero() => Period::Every(d),
            Ok(_) => return cx.fail(&format!("{key}.per"), "must be longer than 0".to_owned()),
            Err(e) => return cx.fail(&format!("{key}.per"), format!("\"month\" or a duration such as \"1d\": {e}")),
        }
    };
    (limit > 0).then_some(CreditsPolicy { limit, per })
}

pub(super) fn rate_limit(cx: &mut Ctx<'_>, key: &str, spec: Option<&RateLimitSpec>) -> RateLimitPolicy {
    let statuses = spec.and_then(|s| s.statuses.clone()).unwrap_or_else(|| DEFAULT_RATE_LIMIT_STATUSES.to_vec());
    if let Some(bad) = statuses.iter().find(|s| !(400..=599).contains(*s)) {
        cx.problems.push(Problem::new(format!("{key}.statuses"), format!("{bad} is not a 4xx or 5xx status")));
    }
    let bench = spec.and_then(|s| s.bench).map_or(DEFAULT_BENCH, |d| d.0);
    let blocked_for = spec.and_then(|s| s.blocked_for).map_or(DEFAULT_BLOCKED_FOR, |d| d.0);
    if statuses.contains(&BLOCKED_STATUS) {
        let msg = "451 (a refused location) benches for blocked_for on its own; leave it out of statuses";
        cx.problems.push(Problem::new(format!("{key}.statuses"), msg));
    }
    RateLimitPolicy { statuses, bench, blocked_for }
}

pub(super) fn raw_weights(
    cx: &mut Ctx<'_>,
    key: &str,
    specs: &BTreeMap<String, WeightSpec>,
) -> BTreeMap<String, Weight> {
    let mut out = BTreeMap::new();
    for (path, spec) in specs {
        if !path.starts_with('/') || path.contains('?') {
            cx.problems.push(Problem::new(format!("{key}.\"{path}\""), "a path starting with '/', without a query"));
            continue;
        }
        if let Some(w) = checked(cx, &format!("{key}.\"{path}\""), spec) {
            out.insert(path.clone(), w);
        }
    }
    out
}

/// A weight spec as a [`Weight`], with its steps checked; problems are reported at `key`.
pub(super) fn checked(cx: &mut Ctx<'_>, key: &str, spec: &WeightSpec) -> Option<Weight> {
    let w = weight(spec);
    if let Weight::By { steps, present, .. } = &w {
        if steps.windows(2).any(|p| p[0].0 >= p[1].0) {
            return cx.fail(&format!("{key}.steps"), "bounds must be strictly ascending".to_owned());
        }
        if !steps.is_empty() && present.is_some() {
            return cx.fail(key, "set steps or present, not both".to_owned());
        }
    }
    Some(w)
}

/// A weight spec as a [`Weight`] (no checks).
pub(super) fn weight(spec: &WeightSpec) -> Weight {
    match spec {
        WeightSpec::Fixed(w) => Weight::Fixed(*w),
        WeightSpec::Rule(r) => {
            Weight::By { param: r.by.clone(), steps: r.steps.clone(), present: r.present, absent: r.absent }
        }
    }
}
