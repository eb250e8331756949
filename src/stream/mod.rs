//! Live streams (`/v1/stream`, DESIGN §8.3): one upstream combined-stream connection
//! per provider carries every symbol any client wants, and each event is fanned out to
//! the clients, over WebSocket or Server-Sent Events.
//!
//! * [`machine`]: the upstream connection as a pure state machine (hosts, breakers,
//!   pacing, connect budget, rollover, fallback timing).
//! * [`driver`]: the task per provider that runs it, maps events and fans them out.
//! * [`conn`]: one upstream WebSocket; [`protocol`]: each venue's messages;
//!   [`naming`]: which upstream stream carries a pair's channel.
//! * [`client`]: a client's bounded queue with `gap` accounting.
//! * [`fallback`]: REST polling while no stream host answers.
//! * [`serve`]: the HTTP side (query, SSE body, WebSocket upgrade).
//! * [`placement`]: which of a provider's connections carries a new stream.

pub mod book;
pub mod client;
pub mod conn;
pub mod dedupe;
pub mod driver;
pub mod fallback;
pub mod listing;
pub mod machine;
pub mod message;
pub mod naming;
pub mod placement;
pub mod protocol;
pub mod report;
pub mod rest;
pub mod serve;

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::{mpsc, oneshot};

use crate::config::model::stream::{StreamConfig, StreamRoute};
use crate::gateway::Gateway;
use crate::metrics::Metrics;
use crate::sync::lock;
use client::ClientRx;
use driver::{Control, Driver, Topic};
use placement::Load;
use report::Report;

/// The query parameters of a stream route.
pub const PARAMS: &[&str] = &["symbols", "channels", "vs", "interval", "depth"];

/// Every provider's stream drivers (one per upstream connection it needs), started
/// when the first client joins.
#[derive(Default)]
pub struct Hub {
    drivers: Mutex<HashMap<String, Vec<Entry>>>,
    /// Stream clients per client address.
    addresses: Mutex<HashMap<IpAddr, usize>>,
    next_client: AtomicU64,
    /// The pairs each stream provider carries.
    pub listings: listing::Listings,
}

struct Entry {
    ctl: mpsc::UnboundedSender<Control>,
    report: Arc<Mutex<Report>>,
    /// The streams this driver carries, with their client counts.
    load: Load,
}

/// Who joins: a client's address and its route's limit on clients per address, or
/// `None` for the hub's own joins (one stream handing its clients to the next).
pub type Joiner = Option<(IpAddr, usize)>;

impl Hub {
    /// Joins `topics` of `route.provider`'s stream; the returned queue yields the
    /// messages. The topics go to the provider's connections with room (see
    /// [`placement`]); a client address past its limit is refused first.
    pub async fn join(
        self: &Arc<Self>,
        gw: &Arc<Gateway>,
        cfg: &Arc<StreamConfig>,
        route: &StreamRoute,
        topics: Vec<Topic>,
        transport: &'static str,
        joiner: Joiner,
    ) -> Result<ClientRx, JoinError> {
        let address = match joiner {
            Some((ip, limit)) => Some(self.admit(ip, limit)?),
            None => None,
        };
        let id = self.next_client.fetch_add(1, Ordering::Relaxed) + 1;
        let (tx, mut rx) = client::channel(id, cfg.client_queue);
        let provider = route.provider.clone();
        let shards = match self.place(gw, cfg, &provider, &topics) {
            Ok(s) => s,
            Err(e) => {
                self.release(address);
                return Err(JoinError::Full(e));
            }
        };
        let mut by_shard: Vec<(usize, mpsc::UnboundedSender<Control>, Vec<Topic>)> = Vec::new();
        for (topic, (shard, ctl)) in topics.into_iter().zip(shards) {
            match by_shard.iter_mut().find(|(s, _, _)| *s == shard) {
                Some((_, _, list)) => list.push(topic),
                None => by_shard.push((shard, ctl, vec![topic])),
            }
        }
        let joined: Vec<(usize, Vec<String>)> =
            by_shard.iter().map(|(s, _, t)| (*s, t.iter().map(|t| t.stream.clone()).collect())).collect();
        let ctls: Vec<mpsc::UnboundedSender<Control>> = by_shard.iter().map(|(_, c, _)| c.clone()).collect();
        let gauge = gw.metrics.stream.clients.with_label_values(&[transport]);
        let hub = Arc::downgrade(self);
        let leave = {
            let (provider, ctls, gauge) = (provider.clone(), ctls.clone(), gauge.clone());
            move |counted: bool| {
                if counted {
                    gauge.dec();
                }
                for ctl in &ctls {
                    let _ = ctl.send(Control::Leave(id));
                }
                if let Some(hub) = hub.upgrade() {
                    hub.unload(&provider, &joined);
                    hub.release(address);
                }
            }
        };
        for (_, ctl, topics) in by_shard {
            let (reply, answer) = oneshot::channel();
            let sent = ctl.send(Control::Join { client: Arc::clone(&tx), topics, route: route.clone(), reply });
            let answered = match sent {
                Ok(()) => answer.await.map_err(|_| "the stream driver stopped".to_owned()).and_then(|r| r),
                Err(_) => Err("the stream driver stopped".to_owned()),
            };
            if let Err(e) = answered {
                leave(false);
                return Err(JoinError::Full(e));
            }
        }
        gauge.inc();
        rx.on_drop(move || leave(true));
        Ok(rx)
    }

    /// Counts one more client of `ip`, unless it already holds `limit`.
    fn admit(&self, ip: IpAddr, limit: usize) -> Result<IpAddr, JoinError> {
        let mut addresses = lock(&self.addresses);
        let n = addresses.entry(ip).or_default();
        if *n >= limit {
            return Err(JoinError::Busy(format!(
                "{ip} already holds {n} stream clients, the route's max_clients_per_address: close one, or put \
                 several symbols in one stream"
            )));
        }
        *n += 1;
        Ok(ip)
    }

    fn release(&self, address: Option<IpAddr>) {
        let Some(ip) = address else { return };
        let mut addresses = lock(&self.addresses);
        if let Some(n) = addresses.get_mut(&ip) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                addresses.remove(&ip);
            }
        }
    }

    /// Places the topics on the provider's drivers (starting those it needs) and
    /// counts them there; each topic's driver index and control channel.
    fn place(
        self: &Arc<Self>,
        gw: &Arc<Gateway>,
        cfg: &Arc<StreamConfig>,
        provider: &str,
        topics: &[Topic],
    ) -> Result<Vec<(usize, mpsc::UnboundedSender<Control>)>, String> {
        let mut drivers = lock(&self.drivers);
        let shards = drivers.entry(provider.to_owned()).or_default();
        let loads: Vec<&Load> = shards.iter().map(|e| &e.load).collect();
        let streams: Vec<&str> = topics.iter().map(|t| t.stream.as_str()).collect();
        let placed = placement::place(&loads, &streams, cfg.limits.max_streams, cfg.max_connections)
            .map_err(|e| format!("{provider}: {e}"))?;
        let mut out = Vec::with_capacity(placed.len());
        for (stream, shard) in streams.iter().zip(placed) {
            while shards.len() <= shard {
                let report = Arc::new(Mutex::new(Report::default()));
                let ctl = self.spawn(gw, cfg, provider, shards.len(), &report);
                shards.push(Entry { ctl, report, load: Load::new() });
            }
            let e = &mut shards[shard];
            if e.ctl.is_closed() {
                e.ctl = self.spawn(gw, cfg, provider, shard, &e.report);
            }
            *e.load.entry((*stream).to_owned()).or_default() += 1;
            out.push((shard, e.ctl.clone()));
        }
        Ok(out)
    }

    fn spawn(
        self: &Arc<Self>,
        gw: &Arc<Gateway>,
        cfg: &Arc<StreamConfig>,
        provider: &str,
        shard: usize,
        report: &Arc<Mutex<Report>>,
    ) -> mpsc::UnboundedSender<Control> {
        Driver::spawn(provider, shard, gw, Arc::clone(cfg), Arc::clone(report), Arc::downgrade(self))
    }

    /// A client of these streams left.
    fn unload(&self, provider: &str, joined: &[(usize, Vec<String>)]) {
        let mut drivers = lock(&self.drivers);
        let Some(shards) = drivers.get_mut(provider) else { return };
        for (shard, streams) in joined {
            let Some(e) = shards.get_mut(*shard) else { continue };
            for s in streams {
                if let Some(n) = e.load.get_mut(s) {
                    *n = n.saturating_sub(1);
                    if *n == 0 {
                        e.load.remove(s);
                    }
                }
            }
        }
    }

    /// Each started provider's stream (its connections' drivers taken together), with
    /// its counters.
    pub fn reports(&self, metrics: &Metrics) -> Vec<Report> {
        let mut out: Vec<Report> = lock(&self.drivers)
            .iter()
            .map(|(name, shards)| {
                let parts: Vec<Report> = shards.iter().map(|e| lock(&e.report).clone()).collect();
                let mut r = Report::merge(parts);
                let s = &metrics.stream;
                r.provider = name.clone();
                r.messages_in = s.messages.with_label_values(&[name, "in"]).get();
                r.messages_out = s.messages.with_label_values(&[name, "out"]).get();
                r.dropped = s.dropped.with_label_values(&[name]).get();
                r.reconnects = s.reconnects.with_label_values(&[name]).get();
                if r.state.is_empty() {
                    r.state = "idle";
                }
                r
            })
            .collect();
        out.sort_by(|a, b| a.provider.cmp(&b.provider));
        out
    }
}

/// Why a join was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JoinError {
    /// The provider's connections are full, or its driver stopped.
    #[error("{0}")]
    Full(String),
    /// The client's address holds its route's limit of clients.
    #[error("{0}")]
    Busy(String),
}
