//! `[providers.<name>.stream]` and stream routes -> [`StreamConfig`], [`StreamRoute`].

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use super::Ctx;
use crate::config::model::stream::Channel;
use crate::config::model::stream::Protocol;
use crate::config::model::stream::{BookSnapshot, Limits, Listed};
use crate::config::model::stream::{StreamChannel, StreamConfig, StreamHost, StreamRoute};
use crate::config::schema::{RouteSpec, StreamSpec};

/// Validates a provider's stream table (`key` is `providers.<name>`).
pub(super) fn provider_stream(
    cx: &mut Ctx<'_>,
    key: &str,
    spec: &StreamSpec,
    prelude: Option<&toml::Spanned<String>>,
    attempt_timeout: Duration,
) -> Option<Arc<StreamConfig>> {
    let key = format!("{key}.stream");
    let before = cx.problems.len();
    let mut hosts: Vec<StreamHost> = Vec::new();
    for (i, raw) in spec.hosts.get_ref().iter().enumerate() {
        let hkey = format!("{key}.hosts[{i}]");
        let Some(text) = cx.expand(&hkey, raw) else { continue };
        if text.trim().is_empty() {
            continue;
        }
        match StreamHost::parse(text.trim()) {
            Ok(h) if hosts.contains(&h) => {
                cx.fail_at::<()>(&hkey, spec.hosts.span(), format!("{} is listed twice", h.base));
            }
            Ok(h) => hosts.push(h),
            Err(e) => {
                cx.fail_at::<()>(&hkey, spec.hosts.span(), e);
            }
        }
    }
    if hosts.is_empty() && cx.problems.len() == before {
        cx.fail_at::<()>(&format!("{key}.hosts"), spec.hosts.span(), "list at least one ws:// or wss:// host".into());
    }
    let path = spec.path.clone().unwrap_or_else(|| "/stream".into());
    if !path.starts_with('/') || path.contains(['?', '#']) {
        cx.fail::<()>(&format!("{key}.path"), "must start with '/' and have no query".into());
    }
    let prelude_key = key.trim_end_matches(".stream").to_owned() + ".prelude";
    let protocol = match spec.protocol.as_deref().map(str::parse::<Protocol>) {
        None => Protocol::Binance,
        Some(Ok(p)) => p,
        Some(Err(e)) => {
            cx.fail::<()>(&format!("{key}.protocol"), e);
            Protocol::Binance
        }
    };
    if let Some(f) = &spec.id_format
        && !f.contains("{BASE}")
    {
        cx.fail::<()>(&format!("{key}.id_format"), "must contain {BASE}, e.g. \"{BASE}/{QUOTE}\"".into());
    }
    let mut channels = BTreeMap::new();
    for (name, ch) in &spec.channels {
        let ckey = format!("{key}.channels.{name}");
        let channel: Channel = match name.parse() {
            Ok(c) => c,
            Err(e) => {
                cx.fail::<()>(&ckey, e);
                continue;
            }
        };
        if let Err(e) = protocol.check_template(&ch.name) {
            cx.fail::<()>(&format!("{ckey}.name"), e);
        }
        if channel == Channel::Candles && !ch.name.contains("{interval}") {
            cx.fail::<()>(&format!("{ckey}.name"), "must contain {interval}, e.g. \"{id}@kline_{interval}\"".into());
        }
        if let Some(mapping) =
            super::ops::compile_mapping(cx, &format!("{ckey}.mapping"), &prelude_key, &ch.mapping, prelude)
        {
            let quiet = ch.quiet.map_or(channel.default_quiet(), |d| d.0);
            if quiet < Duration::from_secs(1) {
                cx.fail::<()>(&format!("{ckey}.quiet"), "must be at least 1s".into());
            }
            let snapshot = match (&ch.snapshot, channel) {
                (None, Channel::Book) => {
                    cx.fail::<()>(
                        &format!("{ckey}.snapshot"),
                        "a book channel needs its REST snapshot { path, mapping }".into(),
                    );
                    None
                }
                (Some(_), c) if c != Channel::Book => {
                    cx.fail::<()>(&format!("{ckey}.snapshot"), "only a book channel takes a snapshot".into());
                    None
                }
                (Some(snap), _) => {
                    let skey = format!("{ckey}.snapshot");
                    if !snap.path.starts_with('/') || !snap.path.contains("{id}") {
                        cx.fail::<()>(&format!("{skey}.path"), "must start with '/' and contain {id}".into());
                    }
                    if snap.weight == Some(0) {
                        cx.fail::<()>(&format!("{skey}.weight"), "must be greater than zero".into());
                    }
                    super::ops::compile_mapping(cx, &format!("{skey}.mapping"), &prelude_key, &snap.mapping, prelude)
                        .map(|mapping| BookSnapshot {
                            path: snap.path.clone(),
                            mapping,
                            weight: snap.weight.unwrap_or(1),
                        })
                }
                (None, _) => None,
            };
            channels.insert(channel, StreamChannel { name: ch.name.clone(), mapping, quiet, snapshot });
        }
    }
    if spec.channels.is_empty() {
        cx.fail::<()>(&format!("{key}.channels"), "configure at least one channel (trades, ticker)".into());
    }
    let max_streams = spec.max_streams.unwrap_or(1024);
    let control_rate = spec.control_rate.unwrap_or(4);
    let (connects, connect_window) =
        spec.connects.as_ref().map_or((300, Duration::from_secs(300)), |c| (c.limit as usize, c.per.0));
    let positive = [
        ("max_streams", max_streams == 0),
        ("control_rate", control_rate == 0),
        ("connects.limit", connects == 0),
        ("connects.per", connect_window.is_zero()),
        ("client_queue", spec.client_queue == Some(0)),
        ("max_connections", spec.max_connections == Some(0)),
    ];
    for (field, zero) in positive {
        if zero {
            cx.fail::<()>(&format!("{key}.{field}"), "must be greater than zero".into());
        }
    }
    let lifetime = spec.lifetime.map_or(Duration::from_secs(23 * 3600), |d| d.0);
    let overlap = spec.overlap.map_or(Duration::from_secs(10), |d| d.0);
    if lifetime < Duration::from_secs(1) || overlap >= lifetime {
        cx.fail::<()>(&format!("{key}.lifetime"), "must be at least 1s and longer than overlap".into());
    }
    let limits = Limits {
        protocol,
        max_streams,
        control_interval: Duration::from_secs(1) / control_rate.max(1),
        batch: 200,
        url_streams: if protocol.streams_in_url() { 100 } else { 0 },
        connects,
        connect_window,
        lifetime,
        overlap,
        fallback_after: spec.fallback_after.map_or(Duration::from_secs(2), |d| d.0),
        max_backoff: Duration::from_secs(10),
    };
    let listed = spec.listed.as_ref().and_then(|l| {
        let lkey = format!("{key}.listed");
        if !l.path.starts_with('/') {
            cx.fail::<()>(&format!("{lkey}.path"), "must start with '/'".into());
        }
        if l.weight == Some(0) {
            cx.fail::<()>(&format!("{lkey}.weight"), "must be greater than zero".into());
        }
        let every = l.every.map_or(Duration::from_secs(600), |d| d.0);
        if every < Duration::from_secs(10) {
            cx.fail::<()>(&format!("{lkey}.every"), "must be at least 10s".into());
        }
        let ids = super::ops::compile_mapping(cx, &format!("{lkey}.ids"), &prelude_key, &l.ids, prelude)?;
        Some(Arc::new(Listed { path: l.path.clone(), ids, every, weight: l.weight.unwrap_or(1) }))
    });
    (cx.problems.len() == before).then(|| {
        Arc::new(StreamConfig {
            hosts,
            path,
            channels,
            limits,
            connect_timeout: spec.connect_timeout.map_or(attempt_timeout, |d| d.0),
            silence: spec.silence.map_or(Duration::from_secs(60), |d| d.0.max(Duration::from_secs(1))),
            client_queue: spec.client_queue.unwrap_or(1024),
            listed,
            protocol,
            id_format: spec.id_format.clone(),
            max_connections: spec.max_connections.unwrap_or(4),
        })
    })
}

/// Validates a `{ stream = "<provider>" }` or `{ stream = ["<provider>", ...] }` route.
pub(super) fn route(
    cx: &mut Ctx<'_>,
    key: &str,
    span: std::ops::Range<usize>,
    spec: &RouteSpec,
    providers: &[String],
    has_stream: impl Fn(&str) -> Option<bool>,
    ticker_route: impl Fn(&str) -> Option<bool>,
) -> Option<StreamRoute> {
    let Some((provider, then)) = providers.split_first() else {
        return cx.fail_at(&format!("{key}.stream"), span, "name at least one provider".into());
    };
    for (i, p) in providers.iter().enumerate() {
        if providers[..i].contains(p) {
            return cx.fail_at(&format!("{key}.stream"), span, format!("{p:?} is listed twice"));
        }
        match has_stream(p) {
            None => return cx.fail_at(&format!("{key}.stream"), span, format!("no provider named {p:?}")),
            Some(false) => {
                let msg = format!("provider {p:?} has no [providers.{p}.stream] table");
                return cx.fail_at(&format!("{key}.stream"), span, msg);
            }
            Some(true) => {}
        }
    }
    if let Some(f) = &spec.fallback {
        match ticker_route(f) {
            Some(true) => {}
            Some(false) => {
                return cx.fail_at(&format!("{key}.fallback"), span, format!("route {f:?} does not serve op ticker"));
            }
            None => return cx.fail_at(&format!("{key}.fallback"), span, format!("no route {f:?}")),
        }
    }
    let max_symbols = spec.max_symbols.unwrap_or(50);
    if max_symbols == 0 {
        return cx.fail_at(&format!("{key}.max_symbols"), span, "must be greater than zero".into());
    }
    let max_clients_per_address = spec.max_clients_per_address.unwrap_or(256);
    if max_clients_per_address == 0 {
        return cx.fail_at(&format!("{key}.max_clients_per_address"), span, "must be greater than zero".into());
    }
    Some(StreamRoute {
        provider: provider.to_owned(),
        then: then.to_vec(),
        fallback: spec.fallback.clone(),
        poll: spec.poll.map_or(Duration::from_secs(2), |d| d.0.max(Duration::from_millis(100))),
        max_symbols,
        max_clients_per_address,
    })
}
