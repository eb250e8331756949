//! The live-stream metric families (`/v1/stream`).

use prometheus::{IntCounterVec, IntGaugeVec, Opts, Registry};

/// Stream families.
#[derive(Clone)]
pub struct StreamFamilies {
    /// `marketgate_stream_clients{transport}`: connected stream clients (`ws`, `sse`).
    pub clients: IntGaugeVec,
    /// `marketgate_stream_upstream_connections{provider}`: open upstream WebSockets.
    pub upstream_connections: IntGaugeVec,
    /// `marketgate_stream_messages_total{provider,direction}`: `in` (upstream frames),
    /// `out` (messages queued to clients), `invalid` (events a mapping refused).
    pub messages: IntCounterVec,
    /// `marketgate_stream_dropped_total{provider}`: messages a slow client lost.
    pub dropped: IntCounterVec,
    /// `marketgate_stream_reconnects_total{provider}`: carrying connections lost.
    pub reconnects: IntCounterVec,
    /// `marketgate_stream_fallback{provider}`: 1 while clients are served from REST.
    pub fallback: IntGaugeVec,
    /// `marketgate_stream_silent_topics_total{provider}`: topics found silent while
    /// their connection was up (their pair then polled from REST).
    pub silent: IntCounterVec,
}

/// The names, for [`super::METRIC_NAMES`].
pub const NAMES: [&str; 7] = [
    "marketgate_stream_clients",
    "marketgate_stream_upstream_connections",
    "marketgate_stream_messages_total",
    "marketgate_stream_dropped_total",
    "marketgate_stream_reconnects_total",
    "marketgate_stream_fallback",
    "marketgate_stream_silent_topics_total",
];

impl StreamFamilies {
    /// Registers the families on `registry`.
    pub fn register(registry: &Registry) -> Result<Self, prometheus::Error> {
        let gauge = |name: &str, help: &str, labels: &[&str]| -> Result<IntGaugeVec, prometheus::Error> {
            let g = IntGaugeVec::new(Opts::new(name, help), labels)?;
            registry.register(Box::new(g.clone()))?;
            Ok(g)
        };
        let counter = |name: &str, help: &str, labels: &[&str]| -> Result<IntCounterVec, prometheus::Error> {
            let c = IntCounterVec::new(Opts::new(name, help), labels)?;
            registry.register(Box::new(c.clone()))?;
            Ok(c)
        };
        let clients = gauge("marketgate_stream_clients", "Connected /v1/stream clients by transport.", &["transport"])?;
        for t in ["ws", "sse"] {
            clients.with_label_values(&[t]);
        }
        Ok(Self {
            clients,
            upstream_connections: gauge(
                "marketgate_stream_upstream_connections",
                "Open upstream stream connections per provider.",
                &["provider"],
            )?,
            messages: counter(
                "marketgate_stream_messages_total",
                "Stream messages: in (upstream frames), out (queued to clients), invalid (refused by the mapping).",
                &["provider", "direction"],
            )?,
            dropped: counter(
                "marketgate_stream_dropped_total",
                "Stream messages dropped because a client read too slowly.",
                &["provider"],
            )?,
            reconnects: counter(
                "marketgate_stream_reconnects_total",
                "Upstream stream connections lost while carrying data.",
                &["provider"],
            )?,
            fallback: gauge(
                "marketgate_stream_fallback",
                "1 while a provider's stream clients are served by polling REST.",
                &["provider"],
            )?,
            silent: counter(
                "marketgate_stream_silent_topics_total",
                "Stream topics that sent nothing past their channel's quiet bound while connected.",
                &["provider"],
            )?,
        })
    }
}
