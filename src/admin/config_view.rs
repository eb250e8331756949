//! `/api/system/config`: the active config's identity, the last reload's outcome, and a
//! summary of providers and routes. Secrets are shown as `***` (headers) or as the name
//! of their environment variable and a count (API keys).

use serde::Serialize;

use super::Admin;
use crate::calendar::rfc3339;
use crate::config::model::{KeyPlace, RouteTarget};
use crate::config::units::format_duration;
use crate::reload::ReloadOutcome;

/// The JSON of `/api/system/config`.
#[derive(Debug, Serialize)]
pub struct ConfigView {
    version: u64,
    loaded_at: String,
    source: String,
    sha256: String,
    last_reload: Option<LastReload>,
    listen: String,
    admin_listen: String,
    deadline: String,
    providers: Vec<ProviderSummary>,
    routes: Vec<RouteSummary>,
}

#[derive(Debug, Serialize)]
struct LastReload {
    at: String,
    #[serde(flatten)]
    outcome: ReloadOutcome,
}

#[derive(Debug, Serialize)]
struct ProviderSummary {
    name: String,
    kind: &'static str,
    hosts: Vec<String>,
    enabled: bool,
    disabled_reason: Option<String>,
    attempt_timeout: String,
    headers: Vec<(String, &'static str)>,
    api_keys: Option<KeySummary>,
    operations: Vec<&'static str>,
}

#[derive(Debug, Serialize)]
struct KeySummary {
    env: String,
    count: usize,
    sent_as: String,
}

#[derive(Debug, Serialize)]
struct RouteSummary {
    route: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    op: Option<&'static str>,
    /// Data computed from the operation's answers (`indicators`, `movers`).
    #[serde(skip_serializing_if = "Option::is_none")]
    derive: Option<&'static str>,
    /// Query parameters the operation accepts (for the dashboard's try panel).
    #[serde(skip_serializing_if = "Option::is_none")]
    params: Option<&'static [&'static str]>,
    /// Path parameters of the template.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    path_params: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pool: Option<Vec<Vec<String>>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    passthrough: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cache: Option<String>,
    /// The provider whose live stream a stream route serves.
    #[serde(skip_serializing_if = "Option::is_none")]
    stream: Option<String>,
}

/// Builds the view.
pub fn view(state: &Admin) -> ConfigView {
    let snap = state.gateway.snapshot();
    let c = &snap.config;
    let providers = c
        .providers
        .iter()
        .map(|p| ProviderSummary {
            name: p.name.clone(),
            kind: p.kind.as_str(),
            hosts: p.hosts.iter().map(ToString::to_string).collect(),
            enabled: p.disabled.is_none(),
            disabled_reason: p.disabled.clone(),
            attempt_timeout: format_duration(p.attempt_timeout),
            headers: p.headers.iter().map(|(h, _)| (h.to_string(), "***")).collect(),
            api_keys: p.auth.as_ref().map(|a| KeySummary {
                env: a.env.clone(),
                count: a.keys.len(),
                sent_as: match &a.place {
                    KeyPlace::Header(h, _) => format!("header {h}"),
                    KeyPlace::Query(q) => format!("query parameter {q}"),
                },
            }),
            operations: p.ops.keys().map(|o| o.as_str()).collect(),
        })
        .collect();
    let routes = c
        .routes
        .iter()
        .map(|r| match &r.target {
            RouteTarget::Normalized(n) => RouteSummary {
                route: r.pattern.template().to_owned(),
                op: Some(n.op.as_str()),
                derive: n.derive.map(|d| d.as_str()),
                params: Some(crate::normalize::params::accepted(n.op, n.derive)),
                path_params: r.pattern.param_names(),
                pool: Some(n.tiers.clone()),
                passthrough: None,
                cache: n.cache.map(format_duration),
                stream: None,
            },
            RouteTarget::Passthrough(p) => RouteSummary {
                route: r.pattern.template().to_owned(),
                op: None,
                derive: None,
                params: None,
                path_params: r.pattern.param_names(),
                pool: None,
                passthrough: Some(p.clone().unwrap_or_else(|| "{provider}".into())),
                cache: None,
                stream: None,
            },
            RouteTarget::Stream(s) => RouteSummary {
                route: r.pattern.template().to_owned(),
                op: None,
                derive: None,
                params: Some(crate::stream::PARAMS),
                path_params: r.pattern.param_names(),
                pool: None,
                passthrough: None,
                cache: None,
                stream: Some(s.provider.clone()),
            },
        })
        .collect();
    ConfigView {
        version: snap.version,
        loaded_at: rfc3339(snap.loaded_at),
        source: state.reloader.source_name(),
        sha256: c.source.sha256.clone(),
        last_reload: state.reloader.last().map(|(at, outcome)| LastReload { at: rfc3339(at), outcome }),
        listen: state.reloader.bound().map_or(c.server.listen, |b| b.0).to_string(),
        admin_listen: state.reloader.bound().map_or(c.server.admin_listen, |b| b.1).to_string(),
        deadline: format_duration(c.server.deadline),
        providers,
        routes,
    }
}
