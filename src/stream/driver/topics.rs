//! The topics of a driver: each upstream stream with its clients grouped by the label
//! they asked for, and how one upstream event reaches them (mapped once, encoded once
//! per label, offered to every client without waiting for any).

use std::sync::Arc;

use tokio::time::Instant;

use super::{Driver, Topic};
use crate::calendar::now_ms;
use crate::normalize::jq::Globals;
use crate::stream::client::{ClientTx, Offer};
use crate::stream::dedupe::Seen;

/// One upstream stream and the clients it feeds, grouped by the label each asked
/// for: a `vs=USD` and a `vs=USDT` client share Binance's `btcusdt@trade`, a `TON` and a
/// `GRAM` client share `gramusdt@trade`, and each gets its own `symbol` and `vs`.
pub(super) struct TopicState {
    pub(super) topic: Topic,
    pub(super) groups: Vec<Group>,
    pub(super) seen: Seen,
    pub(super) globals: Globals,
    /// When the topic last carried an event (or joined, or its connection came up).
    pub(super) heard: Instant,
    /// Past its channel's `quiet` bound without an event: its pair is polled.
    pub(super) silent: bool,
    /// A book topic's local book and its clients by depth.
    pub(super) book: Option<crate::stream::book::fanout::BookTopic>,
}

/// The clients of a topic that asked for the same label.
pub(super) struct Group {
    pub(super) symbol: String,
    pub(super) vs: String,
    pub(super) clients: Vec<Arc<ClientTx>>,
}

impl TopicState {
    pub(super) fn clients(&self) -> impl Iterator<Item = &Arc<ClientTx>> {
        self.groups.iter().flat_map(|g| &g.clients)
    }
}

// === impl Driver (delivery) ===

impl Driver {
    /// Maps one upstream event and offers it to the topic's clients; `false` when the
    /// event could not be read (its mapping failed or its message was refused).
    pub(super) fn deliver(&mut self, stream: &str, data: serde_json::Value) -> bool {
        let Some(t) = self.topics.get_mut(stream) else { return true };
        if t.book.is_some() {
            return self.book_event(stream, data);
        }
        let Some(channel) = self.cfg.channels.get(&t.topic.channel) else { return true };
        t.globals.now = now_ms();
        let (symbol, vs) = (&t.topic.symbol, &t.topic.vs);
        let (value, payload) = match t.topic.channel.map_event(channel, data, &t.globals, symbol, vs) {
            Ok(p) => p,
            Err(e) => {
                self.counters.invalid.inc();
                tracing::debug!(provider = %self.name, stream, error = %e, "stream event refused");
                return false;
            }
        };
        t.heard = Instant::now();
        let woke = std::mem::replace(&mut t.silent, false);
        let first = t.seen.first_time(payload.dedupe_key());
        if woke {
            self.spoke_again(stream);
        }
        if first {
            self.fan_out(stream, &value, &payload);
        }
        true
    }

    /// Offers one mapped event to every client of `stream`, encoded once per label.
    fn fan_out(&mut self, stream: &str, value: &serde_json::Value, payload: &crate::stream::message::Payload) {
        let Some(t) = self.topics.get(stream) else { return };
        let channel_kind = t.topic.channel;
        let (symbol, vs) = (&t.topic.symbol, &t.topic.vs);
        let (mut queued, mut dropped) = (0, 0);
        for g in &t.groups {
            // Encoded once per label, not per client.
            let msg = if (&g.symbol, &g.vs) == (symbol, vs) {
                payload.encode(&self.name)
            } else {
                match channel_kind.payload(value.clone(), &g.symbol, &g.vs) {
                    Ok(p) => p.encode(&self.name),
                    Err(_) => continue,
                }
            };
            for c in &g.clients {
                match c.offer(msg.clone()) {
                    Offer::Queued => queued += 1,
                    Offer::Dropped => dropped += 1,
                    Offer::Gone => {}
                }
            }
        }
        self.counters.out.inc_by(queued);
        self.counters.dropped.inc_by(dropped);
    }
}
