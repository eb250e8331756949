//! One provider's stream driver: a single task that owns the connection state machine,
//! the upstream connections, the topics and their subscribers. Clients join and leave
//! through its control channel, so fan-out takes no lock: each upstream event is mapped
//! (jq, once), checked, deduplicated and offered to every subscriber's queue.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};

use bytes::Bytes;
use prometheus::{IntCounter, IntGauge};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::client::ClientTx;
use super::conn::ConnEvent;
use super::machine::{Action, ConnId, Machine};
use super::message::Channel;
use super::protocol::Inbound;
use super::report::Report;
use crate::config::model::stream::{StreamConfig, StreamRoute};
use crate::gateway::Gateway;
use topics::TopicState;

/// A stream a client wants: the upstream stream name and what it carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topic {
    /// Upstream stream name (`btcusdt@trade`).
    pub stream: String,
    /// Canonical ticker.
    pub symbol: String,
    /// Quote currency.
    pub vs: String,
    /// The provider's id for the pair.
    pub id: String,
    /// Channel.
    pub channel: Channel,
    /// Book levels a side the client wants (book topics; 0 otherwise).
    pub depth: usize,
}

/// Messages to a driver.
pub enum Control {
    /// A client joins `topics`; the reply says whether there was room.
    Join {
        /// The client's queue.
        client: Arc<ClientTx>,
        /// What it wants.
        topics: Vec<Topic>,
        /// The route it came through (its REST fallback).
        route: StreamRoute,
        /// `Err` with the reason when the streams would not fit.
        reply: oneshot::Sender<Result<(), String>>,
    },
    /// A client left.
    Leave(u64),
    /// A message from the next provider's stream while this one is down (or one of
    /// its topics silent), already labelled as this driver's clients asked; the
    /// number of the relay it came through.
    Relayed(u64, Bytes),
    /// The relay started `n`-th has joined the next provider's stream: the one it
    /// replaces can let go now.
    RelayJoined(u64),
    /// The next provider's stream could not take the relay (why): REST polling
    /// serves instead until this stream comes back.
    RelayEnded(String),
    /// A book topic's REST snapshot (or why there is none).
    BookSnapshot {
        /// The topic's stream.
        stream: String,
        /// The snapshot.
        result: Result<crate::stream::book::Snapshot, String>,
    },
    /// A ticker polled from REST while in fallback.
    Polled {
        /// Canonical ticker.
        symbol: String,
        /// Quote currency.
        vs: String,
        /// The encoded message.
        msg: Bytes,
    },
}

struct Counters {
    frames_in: IntCounter,
    out: IntCounter,
    invalid: IntCounter,
    dropped: IntCounter,
    reconnects: IntCounter,
    connections: IntGauge,
    fallback: IntGauge,
    silent: IntCounter,
}

/// The driver's state.
pub struct Driver {
    name: Arc<str>,
    gw: Weak<Gateway>,
    cfg: Arc<StreamConfig>,
    machine: Machine,
    topics: HashMap<String, TopicState>,
    clients: HashMap<u64, Vec<String>>,
    conns: HashMap<ConnId, mpsc::Sender<String>>,
    events: mpsc::Sender<ConnEvent>,
    route: Option<StreamRoute>,
    poller: Option<JoinHandle<()>>,
    pairs: Arc<Mutex<Vec<(String, String)>>>,
    ctl: mpsc::WeakUnboundedSender<Control>,
    report: Arc<Mutex<Report>>,
    counters: Counters,
    dirty: bool,
    /// TLS settings and the extra CA file they were built from.
    tls: Option<(Option<std::path::PathBuf>, Arc<rustls::ClientConfig>)>,
    /// The hub, to hand topics to the next provider's stream.
    hub: Weak<super::Hub>,
    /// The streams handed to the next provider now.
    relay: Option<relay::Relay>,
    /// The next provider refused the relay: REST until this stream resumes.
    relay_off: bool,
    /// Relays started so far (each one's number).
    relays_started: u64,
    /// Since when each connection has sent nothing readable.
    unreadable: HashMap<ConnId, Instant>,
    /// Which of the provider's connections this driver runs (0 for the first).
    shard: usize,
    /// What this driver added to the provider's connections gauge.
    shown_connections: i64,
    /// Whether this driver added one to the provider's fallback gauge.
    shown_fallback: bool,
}

/// A driver's limits: the provider's, with the connection-attempt budget shared
/// among its `max_connections` drivers (Binance counts attempts per IP).
pub(super) fn share(cfg: &StreamConfig) -> crate::config::model::stream::Limits {
    let mut limits = cfg.limits.clone();
    limits.connects = limits.connects.div_ceil(cfg.max_connections.max(1)).max(1);
    limits
}

impl Driver {
    /// Starts the driver task of provider `name`; returns its control channel.
    pub fn spawn(
        name: &str,
        shard: usize,
        gw: &Arc<Gateway>,
        cfg: Arc<StreamConfig>,
        report: Arc<Mutex<Report>>,
        hub: Weak<super::Hub>,
    ) -> mpsc::UnboundedSender<Control> {
        let (ctl_tx, ctl_rx) = mpsc::unbounded_channel();
        let (ev_tx, ev_rx) = mpsc::channel(1024);
        let s = &gw.metrics.stream;
        let counters = Counters {
            frames_in: s.messages.with_label_values(&[name, "in"]),
            out: s.messages.with_label_values(&[name, "out"]),
            invalid: s.messages.with_label_values(&[name, "invalid"]),
            dropped: s.dropped.with_label_values(&[name]),
            reconnects: s.reconnects.with_label_values(&[name]),
            connections: s.upstream_connections.with_label_values(&[name]),
            fallback: s.fallback.with_label_values(&[name]),
            silent: s.silent.with_label_values(&[name]),
        };
        let breaker = gw.snapshot().config.provider(name).map(|p| p.breaker).unwrap_or_default();
        let driver = Driver {
            name: Arc::from(name),
            gw: Arc::downgrade(gw),
            machine: Machine::new(share(&cfg), cfg.hosts.len(), breaker),
            cfg,
            topics: HashMap::new(),
            clients: HashMap::new(),
            conns: HashMap::new(),
            events: ev_tx,
            route: None,
            poller: None,
            pairs: Arc::new(Mutex::new(Vec::new())),
            ctl: ctl_tx.downgrade(),
            report,
            counters,
            dirty: true,
            tls: None,
            hub,
            relay: None,
            relay_off: false,
            relays_started: 0,
            unreadable: HashMap::new(),
            shard,
            shown_connections: 0,
            shown_fallback: false,
        };
        tokio::spawn(driver.run(ctl_rx, ev_rx));
        ctl_tx
    }

    async fn run(mut self, mut ctl: mpsc::UnboundedReceiver<Control>, mut events: mpsc::Receiver<ConnEvent>) {
        let mut watchdog = tokio::time::interval(watchdog::WATCH_EVERY);
        watchdog.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            self.step(Instant::now());
            let deadline = self.machine.deadline();
            let wake = async move {
                match deadline {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                c = ctl.recv() => match c {
                    Some(c) => self.control(c),
                    None => break,
                },
                Some(e) = events.recv() => self.event(e),
                _ = watchdog.tick() => self.watch(Instant::now()),
                () = wake => {}
            }
        }
        self.stop_poller();
        self.stop_relay();
        self.counters.connections.sub(self.shown_connections);
        if self.shown_fallback {
            self.counters.fallback.dec();
        }
    }

    fn step(&mut self, now: Instant) {
        let actions = self.machine.poll(now);
        // The admin view is brought up to date before anything goes upstream, so it
        // never trails what a venue was asked (a Binance connection subscribes in its
        // URL: the venue sees the streams as soon as the handshake is done).
        self.refresh_if_dirty();
        for action in actions {
            match action {
                Action::Connect { conn, host, streams } => self.connect(conn, host, &streams),
                Action::Send { conn, text } => {
                    if let Some(tx) = self.conns.get(&conn) {
                        let _ = tx.try_send(text);
                    }
                }
                Action::Close { conn } => {
                    self.conns.remove(&conn);
                    self.dirty = true;
                }
                Action::Notify(n) => self.notice(n),
            }
        }
        let open = self.machine.open_connections() as i64;
        self.counters.connections.add(open - self.shown_connections);
        self.shown_connections = open;
        self.refresh_if_dirty();
    }

    fn refresh_if_dirty(&mut self) {
        if self.dirty {
            self.dirty = false;
            self.refresh_report();
        }
    }

    fn event(&mut self, e: ConnEvent) {
        let now = Instant::now();
        match e {
            ConnEvent::Opened(c) => {
                self.machine.opened(c, now);
                self.dirty = true;
            }
            ConnEvent::Closed(c, reason) => {
                if self.conns.remove(&c).is_some() {
                    tracing::debug!(provider = %self.name, %reason, "stream connection ended");
                }
                self.unreadable.remove(&c);
                self.machine.closed(c, &reason, now);
                self.dirty = true;
            }
            ConnEvent::Unreadable(c) => {
                self.counters.frames_in.inc();
                self.readable(c, false, now);
            }
            ConnEvent::Text(c, text) => {
                self.counters.frames_in.inc();
                let readable = match self.cfg.protocol.parse(&text) {
                    Inbound::Data(events) => {
                        let mut any = false;
                        for e in events {
                            any |= self.deliver(&e.stream, e.data);
                        }
                        any
                    }
                    Inbound::Reply { id, error } => {
                        self.machine.replied(c, id, error);
                        self.dirty = true;
                        true
                    }
                    Inbound::Refused(why) => {
                        tracing::warn!(provider = %self.name, %why, "the upstream refused a request");
                        true
                    }
                    Inbound::Shutdown => {
                        tracing::info!(provider = %self.name, "the upstream announced a restart: replacing its connection now");
                        self.machine.shutdown_announced(c);
                        true
                    }
                    Inbound::Alive => true,
                    Inbound::Other => false,
                };
                self.readable(c, readable, now);
            }
        }
    }
}

mod books;
mod control;
mod dial;
mod notice;
mod relay;
mod topics;
mod watchdog;
