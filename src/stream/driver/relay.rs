//! The next stream in turn: while this provider's stream is down (every host refused,
//! say Binance's 451 in the US) or one of its topics is silent, the trades and tickers
//! its clients want are asked of the next provider of the route
//! (`stream = ["binance", "coinbase", ...]`) through the hub, as one more client of
//! that provider's driver, labelled as this driver's clients asked. That driver may in
//! turn hand them on; the last one polls REST. What no stream in turn can name (a
//! pair the next venue does not list, a candle channel) is polled from REST here.

use std::collections::{BTreeSet, HashSet};
use std::sync::{Arc, Weak};

use bytes::Bytes;
use serde::Deserialize;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::{Control, Driver, Topic, TopicState};
use crate::config::model::stream::{Channel, StreamRoute};
use crate::gateway::Gateway;
use crate::normalize::op::Interval;
use crate::stream::Hub;
use crate::stream::client::Offer;

/// The streams handed to the next provider.
pub(super) struct Relay {
    task: JoinHandle<()>,
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
    /// an unchanged set keeps the running relay.
    pub(super) fn set_relay(&mut self, topics: Vec<Topic>) {
        let streams: BTreeSet<(String, String, String)> =
            topics.iter().map(|t| (t.stream.clone(), t.symbol.clone(), t.vs.clone())).collect();
        if self.relay.as_ref().is_some_and(|r| r.streams == streams && !r.task.is_finished()) {
            return;
        }
        self.stop_relay();
        let Some(route) = self.next_route().filter(|_| !topics.is_empty()) else { return };
        tracing::info!(provider = %self.name, next = %route.provider, streams = topics.len(), "handing streams to the next provider");
        let provider = route.provider.clone();
        let task = tokio::spawn(run(self.hub.clone(), self.gw.clone(), route, topics, self.ctl.clone()));
        self.relay = Some(Relay { task, streams, provider, carried: HashSet::new() });
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
            r.task.abort();
        }
    }

    /// Offers a message of the next stream to the clients it is for: a trade or candle
    /// to the clients of that label and channel, a ticker to every client of the label
    /// (as polled tickers are), a status to every client served from elsewhere.
    pub(super) fn relayed(&mut self, msg: &Bytes) {
        let Ok(head) = serde_json::from_slice::<Head<'_>>(msg) else { return };
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

/// Joins the next provider's stream as a client and passes its messages on until
/// aborted (this stream resumed or the set changed) or the next driver stops.
async fn run(
    hub: Weak<Hub>,
    gw: Weak<Gateway>,
    route: StreamRoute,
    topics: Vec<Topic>,
    ctl: mpsc::WeakUnboundedSender<Control>,
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
    while let Some(msg) = rx.next().await {
        let Some(tx) = ctl.upgrade() else { return };
        if tx.send(Control::Relayed(msg)).is_err() {
            return;
        }
    }
}
