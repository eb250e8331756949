//! The next stream in turn: while this provider's stream is down (every host refused,
//! say Binance's 451 in the US) or one of its topics is silent, the trades and tickers
//! its clients want are asked of the next provider of the route
//! (`stream = ["binance", "coinbase", ...]`) through the hub, as one more client of
//! that provider's driver, labelled as this driver's clients asked. That driver may in
//! turn hand them on; the last one polls REST. What no stream in turn can name (a
//! pair the next venue does not list, a candle channel) is polled from REST here.

use std::collections::{BTreeSet, HashSet};
use std::sync::{Arc, Weak};
use std::time::Duration;

use bytes::Bytes;
use serde::Deserialize;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::{Control, Driver, Topic, TopicState};
use crate::config::model::stream::{Channel, StreamRoute};
use crate::gateway::Gateway;
use crate::normalize::op::Interval;
use crate::stream::Hub;
use crate::stream::client::Offer;
use crate::stream::dedupe::Seen;
use crate::stream::message::DedupeKey;

/// The streams handed to the next provider.
pub(super) struct Relay {
    task: JoinHandle<()>,
    /// Its number ([`Control::RelayJoined`]).
    number: u64,
    /// It has joined the next provider's stream.
    joined: bool,
    /// The relay it replaces.
    replaced: Option<Replaced>,
    /// Messages it passed on lately.
    seen: Seen,
    /// The next provider's topics (stream and label).
    streams: BTreeSet<(String, String, String)>,
    /// The next provider's name.
    pub(super) provider: String,
    /// The labels it has passed market data for (not only statuses): until a label
    /// has had some, its tickers are polled from REST as well (the next stream may be
    /// down too, each one in turn taking its `fallback_after` to say so, or may not
    /// list the pair).
    carried: HashSet<(String, String)>,
}

/// The relay a new one replaces. It runs until the new one has joined, so the streams
/// both carry go on without a gap (letting go first would leave the next driver
/// without a client for a moment: it would close its connection and open a new one).
/// Meanwhile both receive the same messages; what one passed on, the other's copy
/// is dropped (by the encoded bytes, which the next driver shares among its clients).
/// A relay's own repeats pass: a ticker polled twice with no change is two tickers.
struct Replaced {
    number: u64,
    /// Aborted once the new relay has joined.
    task: Option<JoinHandle<()>>,
    seen: Seen,
    /// When its memory is dropped ([`FORGET_AFTER`] past the new relay's join): by
    /// then its last messages have arrived, and a message of the new relay that
    /// happens to match an old one is no copy.
    forget_at: Option<Instant>,
}

/// How long the replaced relay's memory is kept after the new relay has joined.
const FORGET_AFTER: Duration = Duration::from_secs(2);

/// What a relayed message says about itself.
#[derive(Deserialize)]
struct Head<'a> {
    channel: &'a str,
    symbol: Option<&'a str>,
    vs: Option<&'a str>,
}

/// The split of the topics served from elsewhere: the next stream's topics, and the
/// pairs polled from REST.
pub(super) struct Plan {
    pub(super) relayed: Vec<Topic>,
    pub(super) polled: BTreeSet<(String, String)>,
}

impl Driver {
    /// The route as the next provider serves it, when one is configured and has not
    /// refused the relay.
    fn next_route(&self) -> Option<StreamRoute> {
        if self.relay_off {
            return None;
        }
        self.route.as_ref()?.next()
    }

    /// Splits the topics served from elsewhere between the next stream and REST.
    pub(super) fn plan_elsewhere(&self, elsewhere: &[&TopicState]) -> Plan {
        let mut plan = Plan { relayed: Vec::new(), polled: BTreeSet::new() };
        let next = self.next_route().and_then(|route| {
            let snap = self.gw.upgrade()?.snapshot();
            let provider = Arc::clone(snap.config.provider(&route.provider)?);
            let cfg = provider.stream.clone()?;
            Some((snap, provider, cfg))
        });
        for t in elsewhere {
            for g in &t.groups {
                let relayed = match (&next, t.topic.channel) {
                    (Some((snap, provider, cfg)), Channel::Trades | Channel::Ticker) => crate::stream::naming::topic(
                        &snap.config,
                        provider,
                        cfg,
                        &g.symbol,
                        &g.vs,
                        t.topic.channel,
                        Interval::M1,
                    )
                    .ok(),
                    _ => None,
                };
                let carrying = relayed.is_some()
                    && self.relay.as_ref().is_some_and(|r| r.carried.contains(&(g.symbol.clone(), g.vs.clone())));
                if !carrying {
                    plan.polled.insert((g.symbol.clone(), g.vs.clone()));
                }
                if let Some(topic) = relayed {
                    plan.relayed.push(topic);
                }
            }
        }
        plan
    }

    /// Hands `topics` to the next provider (or stops handing anything when empty);
    /// an unchanged set keeps the running relay. A changed set starts a new relay and
    /// keeps the running one until the new one has joined ([`Relay::replaced`]).
    pub(super) fn set_relay(&mut self, topics: Vec<Topic>) {
        let streams: BTreeSet<(String, String, String)> =
            topics.iter().map(|t| (t.stream.clone(), t.symbol.clone(), t.vs.clone())).collect();
        if self.relay.as_ref().is_some_and(|r| r.streams == streams && !r.task.is_finished()) {
            return;
        }
        let Some(route) = self.next_route().filter(|_| !topics.is_empty()) else {
            self.stop_relay();
            return;
        };
        let (replaced, carried) = match self.relay.take() {
            Some(old) if old.provider == route.provider => {
                // The labels the old relay carried and the new one asks for again
                // stay carried: their REST polling does not start over.
                let labels: HashSet<(String, String)> =
                    streams.iter().map(|(_, symbol, vs)| (symbol.clone(), vs.clone())).collect();
                let carried = old.carried.iter().filter(|l| labels.contains(*l)).cloned().collect();
                (old.handed_over(), carried)
            }
            other => {
                if let Some(old) = other {
                    old.stop();
                }
                (None, HashSet::new())
            }
        };
        tracing::info!(provider = %self.name, next = %route.provider, streams = topics.len(), "handing streams to the next provider");
        self.relays_started += 1;
        let number = self.relays_started;
        let provider = route.provider.clone();
        let task = tokio::spawn(run(self.hub.clone(), self.gw.clone(), route, topics, self.ctl.clone(), number));
        let seen = Seen::new(SEEN);
        self.relay = Some(Relay { task, number, joined: false, replaced, seen, streams, provider, carried });
    }

    /// The relay numbered `n` has joined: the one it replaces lets go.
    pub(super) fn relay_joined(&mut self, n: u64) {
        if let Some(r) = self.relay.as_mut().filter(|r| r.number == n) {
            r.joined = true;
            if let Some(old) = r.replaced.as_mut() {
                if let Some(task) = old.task.take() {
                    task.abort();
                }
                old.forget_at = Some(Instant::now() + FORGET_AFTER);
            }
        }
    }

    /// Whether relay `n`'s message is a copy of one the other relay of a handover
    /// has passed on (and remembers it otherwise).
    fn relayed_copy(&mut self, n: u64, msg: &[u8]) -> bool {
        let Some(r) = self.relay.as_mut() else { return false };
        if r.replaced.as_ref().is_some_and(|old| forgotten(old.forget_at, Instant::now())) {
            r.replaced = None;
        }
        let replaced = r.replaced.as_mut().map(|old| (old.number, &mut old.seen));
        copy_from_the_other((r.number, &mut r.seen), replaced, n, msg)
    }

    /// The relay has passed on data for `symbol`/`vs`: REST polling stops for it.
    fn relay_carries(&mut self, symbol: &str, vs: &str) {
        let Some(r) = self.relay.as_mut() else { return };
        if r.carried.insert((symbol.to_owned(), vs.to_owned())) {
            self.poll_plan();
        }
    }

    pub(super) fn stop_relay(&mut self) {
        if let Some(r) = self.relay.take() {
            r.stop();
        }
    }

    /// Offers a message of the next stream to the clients it is for: a trade or candle
    /// to the clients of that label and channel, a ticker to every client of the label
    /// (as polled tickers are), a status to every client served from elsewhere.
    pub(super) fn relayed(&mut self, n: u64, msg: &Bytes) {
        let Ok(head) = serde_json::from_slice::<Head<'_>>(msg) else { return };
        if head.channel != "status" && self.relayed_copy(n, msg) {
            return;
        }
        let fallback = self.machine.in_fallback();
        let channel = match head.channel {
            "trade" => Some(Channel::Trades),
            "candle" => Some(Channel::Candles),
            _ => None,
        };
        let label = head.symbol.zip(head.vs);
        if let Some((symbol, vs)) = label.filter(|_| head.channel != "status") {
            self.relay_carries(symbol, vs);
        }
        let mut sent = HashSet::new();
        let mut queued = 0;
        for t in self.topics.values().filter(|t| fallback || t.silent) {
            if channel.is_some_and(|c| c != t.topic.channel) {
                continue;
            }
            for g in &t.groups {
                if label.is_some_and(|(s, v)| (s, v) != (g.symbol.as_str(), g.vs.as_str())) {
                    continue;
                }
                for c in &g.clients {
                    if sent.insert(c.id) && c.offer(msg.clone()) == Offer::Queued {
                        queued += 1;
                    }
                }
            }
        }
        self.counters.out.inc_by(queued);
    }
}

impl Relay {
    fn stop(self) {
        self.task.abort();
        if let Some(task) = self.replaced.and_then(|old| old.task) {
            task.abort();
        }
    }

    /// This relay as the one a new relay replaces: itself when it has joined (it runs
    /// until the new one has), else the one it replaces in turn (it has not let go).
    fn handed_over(self) -> Option<Replaced> {
        if self.joined {
            if let Some(task) = self.replaced.and_then(|old| old.task) {
                task.abort();
            }
            Some(Replaced { number: self.number, task: Some(self.task), seen: self.seen, forget_at: None })
        } else {
            self.task.abort();
            self.replaced
        }
    }
}

/// Whether relay `n`'s message `msg` is a copy of one the other relay of a handover
/// (`current` and `replaced`: each one's number and memory) has passed on; remembered
/// in `n`'s memory otherwise. A relay that is neither drops nothing.
fn copy_from_the_other(current: (u64, &mut Seen), replaced: Option<(u64, &mut Seen)>, n: u64, msg: &[u8]) -> bool {
    let key = DedupeKey::Message(msg);
    let (own, other) = match replaced {
        Some((number, seen)) if number == n => (seen, Some(&*current.1)),
        old if current.0 == n => (current.1, old.map(|(_, seen)| &*seen)),
        _ => return false,
    };
    if other.is_some_and(|o| o.contains(key)) {
        return true;
    }
    own.first_time(key);
    false
}

/// Whether a replaced relay's memory is past its time (`forget_at`, set when the new
/// relay joined).
fn forgotten(forget_at: Option<Instant>, now: Instant) -> bool {
    forget_at.is_some_and(|at| at <= now)
}

/// Relayed messages remembered to drop the copies of a handover.
const SEEN: usize = 1024;

/// Joins the next provider's stream as a client, says so (relay `number`), and passes
/// its messages on until aborted (this stream resumed, or the relay replacing it has
/// joined) or the next driver stops.
async fn run(
    hub: Weak<Hub>,
    gw: Weak<Gateway>,
    route: StreamRoute,
    topics: Vec<Topic>,
    ctl: mpsc::WeakUnboundedSender<Control>,
    number: u64,
) {
    let joined = async {
        let (hub, gw) = (hub.upgrade()?, gw.upgrade()?);
        let cfg = gw.snapshot().config.provider(&route.provider)?.stream.clone()?;
        Some(hub.join(&gw, &cfg, &route, topics, "relay", None).await.map_err(|e| e.to_string()))
    };
    let mut rx = match joined.await {
        Some(Ok(rx)) => rx,
        Some(Err(why)) => {
            if let Some(tx) = ctl.upgrade() {
                let _ = tx.send(Control::RelayEnded(format!("{}: {why}", route.provider)));
            }
            return;
        }
        None => return,
    };
    match ctl.upgrade() {
        Some(tx) if tx.send(Control::RelayJoined(number)).is_ok() => {}
        _ => return,
    }
    while let Some(msg) = rx.next().await {
        let Some(tx) = ctl.upgrade() else { return };
        if tx.send(Control::Relayed(number, msg)).is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_a_handover_each_message_passes_once_and_a_relay_s_own_repeats_pass() {
        let (mut new, mut old) = (Seen::new(SEEN), Seen::new(SEEN));
        let mut copy = |n: u64, msg: &str| copy_from_the_other((2, &mut new), Some((1, &mut old)), n, msg.as_bytes());
        // The old relay passes a trade on; the new one's copy of it is dropped.
        assert!(!copy(1, "trade 7"));
        assert!(copy(2, "trade 7"));
        // A trade the new relay passed first: the old one's copy, late in the queue,
        // is dropped too.
        assert!(!copy(2, "trade 8"));
        assert!(copy(1, "trade 8"));
        // The same ticker polled twice by one relay is two tickers.
        assert!(!copy(2, "ticker 100"));
        assert!(!copy(2, "ticker 100"));
        // A relay older than both drops nothing.
        assert!(!copy(0, "trade 7"));
        // The replaced relay's memory lasts until FORGET_AFTER past the join.
        let joined = Instant::now();
        assert!(!forgotten(None, joined + FORGET_AFTER * 100), "not before the new relay has joined");
        assert!(!forgotten(Some(joined + FORGET_AFTER), joined));
        assert!(forgotten(Some(joined + FORGET_AFTER), joined + FORGET_AFTER));
        // Without a handover nothing is dropped.
        let mut only = Seen::new(SEEN);
        assert!(!copy_from_the_other((3, &mut only), None, 3, b"trade 7"));
        assert!(!copy_from_the_other((3, &mut only), None, 3, b"trade 7"));
    }
}
