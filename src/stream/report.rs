//! What `/api/system/streams` shows of one provider's stream.

use serde::Serialize;

/// One provider's stream, as the admin API shows it.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    /// Provider name.
    pub provider: String,
    /// `idle` (no client), `connecting`, `up`, `fallback`.
    pub state: &'static str,
    /// The host carrying the data.
    pub host: Option<String>,
    /// The next provider whose stream serves this one's clients while it is down (or
    /// some of its topics silent).
    pub relay: Option<String>,
    /// Open upstream connections (2 during a rollover).
    pub connections: usize,
    /// Upstream streams subscribed for clients.
    pub streams: usize,
    /// Connected clients (one spread over two connections counts once).
    pub clients: usize,
    /// Who they are (the hub's client ids), so merged connections count each once.
    #[serde(skip)]
    pub client_ids: Vec<u64>,
    /// Upstream frames received.
    pub messages_in: u64,
    /// Messages queued to clients.
    pub messages_out: u64,
    /// Messages slow clients lost.
    pub dropped: u64,
    /// Carrying connections lost.
    pub reconnects: u64,
    /// Each stream and how many clients want it.
    pub topics: Vec<TopicReport>,
}

/// One upstream stream.
#[derive(Debug, Clone, Serialize)]
pub struct TopicReport {
    /// Upstream stream name.
    pub stream: String,
    /// Canonical ticker.
    pub symbol: String,
    /// Quote currency.
    pub vs: String,
    /// Channel.
    pub channel: &'static str,
    /// Clients subscribed.
    pub clients: usize,
    /// Quiet past its channel's bound while connected: its pair is polled from REST.
    pub silent: bool,
}

impl Report {
    /// One provider's report from its connections' drivers: counts summed, topics
    /// listed together, the state the worst of them (`fallback`, then `connecting`,
    /// then `up`), the host and relay of the first that has one.
    pub fn merge(parts: Vec<Report>) -> Report {
        let rank = |s: &str| match s {
            "fallback" => 3,
            "connecting" => 2,
            "up" => 1,
            _ => 0,
        };
        let mut out = Report::default();
        let mut ids = std::collections::BTreeSet::new();
        for p in parts {
            if rank(p.state) > rank(out.state) || out.state.is_empty() {
                out.state = p.state;
            }
            out.host = out.host.or(p.host);
            out.relay = out.relay.or(p.relay);
            out.connections += p.connections;
            out.streams += p.streams;
            ids.extend(p.client_ids);
            out.topics.extend(p.topics);
        }
        out.clients = ids.len();
        out.client_ids = ids.into_iter().collect();
        out.topics.sort_by(|a, b| a.stream.cmp(&b.stream));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_on_two_connections_counts_once() {
        let part =
            |state, ids: &[u64]| Report { state, clients: ids.len(), client_ids: ids.to_vec(), ..Report::default() };
        let merged = Report::merge(vec![part("up", &[7, 9]), part("connecting", &[7])]);
        assert_eq!((merged.clients, merged.state), (2, "connecting"));
    }
}
