//! What the driver says and shows: notices from the machine turned into status
//! messages, logs and gauges; the REST poller started and stopped; the admin report.

use std::collections::BTreeSet;
use std::sync::Arc;

use super::{Driver, Topic};
use crate::calendar::now_ms;
use crate::stream::machine::Notice;
use crate::stream::message::Status;
use crate::stream::report::TopicReport;
use crate::sync::lock;

impl Driver {
    pub(super) fn notice(&mut self, n: Notice) {
        self.dirty = true;
        if matches!(n, Notice::Connected { rollover: false, .. } | Notice::Resumed) {
            self.heard_all(tokio::time::Instant::now());
        }
        let host = |i: usize| self.cfg.hosts.get(i).map_or_else(|| "?".to_owned(), |h| h.base.clone());
        match n {
            Notice::Connected { host: h, rollover } => {
                tracing::info!(provider = %self.name, connection = self.shard, host = %host(h), rollover, "stream connected");
            }
            Notice::Lost { host: h, reason } => {
                self.counters.reconnects.inc();
                let detail = format!("upstream connection to {} lost ({reason}); reconnecting", host(h));
                tracing::warn!(provider = %self.name, %detail, "stream gap");
                self.broadcast(Status::Gap, &detail);
            }
            Notice::Fallback => {
                if !std::mem::replace(&mut self.shown_fallback, true) {
                    self.counters.fallback.inc();
                }
                let detail = self.fallback_detail();
                tracing::warn!(provider = %self.name, %detail, "stream fallback");
                self.broadcast(Status::Fallback, &detail);
                self.poll_plan();
            }
            Notice::Resumed => {
                if std::mem::replace(&mut self.shown_fallback, false) {
                    self.counters.fallback.dec();
                }
                self.relay_off = false;
                self.poll_plan();
                let detail = format!("{} stream carries the data again", self.name);
                tracing::info!(provider = %self.name, "stream resumed");
                self.broadcast(Status::Resumed, &detail);
            }
            Notice::Rejected { streams, reason } => {
                tracing::warn!(provider = %self.name, ?streams, %reason, "upstream refused streams");
            }
        }
    }

    pub(super) fn fallback_detail(&self) -> String {
        format!("no {} stream host is reachable; {} until the stream returns", self.name, self.served_elsewhere())
    }

    /// Where a topic served from elsewhere gets its data: the next stream in turn
    /// (with REST tickers until it carries them), or REST alone.
    pub(super) fn served_elsewhere(&self) -> String {
        let next = self.route.as_ref().and_then(crate::config::model::stream::StreamRoute::next);
        let rest = self.route.as_ref().and_then(|r| r.fallback.as_ref().map(|f| (f, r.poll)));
        match (next.filter(|_| !self.relay_off), rest) {
            (Some(next), Some((f, poll))) => format!(
                "trades and tickers from {}'s stream (tickers from {f} every {} ms until it carries them)",
                next.provider,
                poll.as_millis()
            ),
            (Some(next), None) => format!("trades and tickers from {}'s stream", next.provider),
            (None, Some((f, poll))) => format!("tickers from {f} every {} ms", poll.as_millis()),
            (None, None) => "no fallback route is configured".to_owned(),
        }
    }

    pub(super) fn broadcast(&self, status: Status, detail: &str) {
        let msg = status.encode(detail, now_ms());
        let mut sent = BTreeSet::new();
        for c in self.topics.values().flat_map(super::TopicState::clients) {
            if sent.insert(c.id) {
                c.offer(msg.clone());
            }
        }
    }

    pub(super) fn start_poller(&mut self) {
        let Some(route) = self.route.clone() else { return };
        let Some(path) = route.fallback.clone() else { return };
        self.stop_poller();
        let (gw, pairs, ctl) = (self.gw.clone(), Arc::clone(&self.pairs), self.ctl.clone());
        self.poller = Some(tokio::spawn(crate::stream::fallback::poll(gw, path, route.poll, pairs, ctl)));
    }

    pub(super) fn stop_poller(&mut self) {
        if let Some(p) = self.poller.take() {
            p.abort();
        }
    }

    pub(super) fn refresh_report(&self) {
        let mut topics: Vec<TopicReport> = self
            .topics
            .values()
            .map(|t| TopicReport {
                stream: t.topic.stream.clone(),
                symbol: t.topic.symbol.clone(),
                vs: t.topic.vs.clone(),
                channel: t.topic.channel.as_str(),
                clients: t.clients().count(),
                silent: t.silent,
            })
            .collect();
        topics.sort_by(|a, b| a.stream.cmp(&b.stream));
        let state = if self.topics.is_empty() {
            "idle"
        } else if self.machine.in_fallback() {
            "fallback"
        } else if self.machine.live_host().is_some() {
            "up"
        } else {
            "connecting"
        };
        let mut r = lock(&self.report);
        r.provider = self.name.to_string();
        r.state = state;
        r.host = self.machine.live_host().and_then(|i| self.cfg.hosts.get(i)).map(|h| h.base.clone());
        r.relay = self.relay.as_ref().map(|r| r.provider.clone());
        r.connections = self.machine.open_connections();
        r.streams = self.topics.len();
        r.clients = self.clients.len();
        r.client_ids = self.clients.keys().copied().collect();
        r.topics = topics;
    }
}

/// `trades, ticker for BTC/USD, ETH/USD from binance`.
pub(super) fn subscribed_detail(provider: &str, topics: &[Topic]) -> String {
    let mut channels: Vec<&str> = Vec::new();
    let mut pairs: Vec<String> = Vec::new();
    for t in topics {
        if !channels.contains(&t.channel.as_str()) {
            channels.push(t.channel.as_str());
        }
        let pair = format!("{}/{}", t.symbol, t.vs);
        if !pairs.contains(&pair) {
            pairs.push(pair);
        }
    }
    format!("{} for {} from {provider}", channels.join(", "), pairs.join(", "))
}
