//! What an operator can change from the admin API, each audited and shared with every
//! replica of a cluster: lift a provider's bench (`POST /admin/providers/{name}/unbench`:
//! a 418 can bench for up to three days, a 451 for an hour) and reset a host's breaker
//! (`POST /admin/providers/{name}/hosts/{host}/reset`).

use http::{Response, StatusCode};
use serde_json::json;

use super::Admin;
use crate::audit::{Record, Source};
use crate::body::Body;
use crate::error::json_response;

/// A lift asked of the admin API.
pub enum Lift<'a> {
    /// The provider's bench.
    Bench {
        /// Provider name.
        provider: &'a str,
    },
    /// One host's breaker.
    Breaker {
        /// Provider name.
        provider: &'a str,
        /// Host label (`api1.binance.com`).
        host: &'a str,
    },
}

/// Reads `POST /admin/providers/{name}/unbench` and `.../hosts/{host}/reset`.
pub fn parse(path: &str) -> Option<Lift<'_>> {
    let rest = path.strip_prefix("/admin/providers/")?;
    if let Some(provider) = rest.strip_suffix("/unbench") {
        return (!provider.contains('/')).then_some(Lift::Bench { provider });
    }
    let (provider, host) = rest.strip_suffix("/reset")?.split_once("/hosts/")?;
    (!provider.contains('/') && !host.is_empty()).then_some(Lift::Breaker { provider, host })
}

/// The audit's name for a write to `path`.
pub fn action_of(path: &str) -> &'static str {
    match parse(path) {
        _ if path == "/admin/reload" => "reload",
        Some(Lift::Bench { .. }) => "unbench",
        Some(Lift::Breaker { .. }) => "breaker_reset",
        None => "write",
    }
}

/// Applies a lift here, tells the other replicas, audits it, and answers.
pub async fn apply(state: &Admin, lift: Lift<'_>, source: Source) -> Response<Body> {
    let snap = state.gateway.snapshot();
    let (provider, host) = match lift {
        Lift::Bench { provider } => (provider, None),
        Lift::Breaker { provider, host } => (provider, Some(host)),
    };
    let Some(p) = snap.provider(provider) else {
        return not_found(&format!("no provider named {provider:?}"));
    };
    let Some(changed) = p.lift(host, &state.gateway.metrics) else {
        return not_found(&format!("{provider} has no host {:?}", host.unwrap_or_default()));
    };
    let action = if host.is_some() { "breaker_reset" } else { "unbench" };
    let shared = match state.gateway.cluster() {
        Some(c) => Some(c.lift(provider, host).await),
        None => None,
    };
    let target = host.map_or_else(|| provider.to_owned(), |h| format!("{provider}/{h}"));
    tracing::warn!(action, target = %target, changed, "operator action");
    state.reloader.audit.record(Record { target: Some(target.clone()), ..Record::new(action, source, "ok") });
    super::json(&json!({"result": "ok", "action": action, "target": target, "changed": changed, "shared": shared}))
}

fn not_found(message: &str) -> Response<Body> {
    let body = json!({"error": {"code": "unknown_provider", "message": message}});
    json_response(StatusCode::NOT_FOUND, body.to_string().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lift_paths_are_read_exactly() {
        assert!(matches!(parse("/admin/providers/binance/unbench"), Some(Lift::Bench { provider: "binance" })));
        assert!(matches!(
            parse("/admin/providers/binance/hosts/api1.binance.com/reset"),
            Some(Lift::Breaker { provider: "binance", host: "api1.binance.com" })
        ));
        assert!(
            matches!(
                parse("/admin/providers/coingecko/hosts/api.coingecko.com/api/v3/reset"),
                Some(Lift::Breaker { host: "api.coingecko.com/api/v3", .. })
            ),
            "a host label keeps its base path"
        );
        for bad in ["/admin/providers//x/unbench", "/admin/providers/binance", "/admin/providers/binance/hosts//reset"]
        {
            assert!(parse(bad).is_none(), "{bad}");
        }
        assert!(parse("/admin/reload").is_none());
    }
}
