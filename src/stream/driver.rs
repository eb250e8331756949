//! One provider's stream driver: a single task that owns the connection state machine,
//! the upstream connections, the topics and their subscribers. Clients join and leave
//! through its control channel, so fan-out takes no lock: each upstream event is mapped
//! (jq, once), checked, deduplicated and offered to every subscriber's queue.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, Weak};

use bytes::Bytes;
use prometheus::{IntCounter, IntGauge};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::client::{ClientTx, Offer};
use super::config::{StreamConfig, StreamRoute};
use super::conn::{self, ConnEvent, Dial};
use super::dedupe::Seen;
use super::machine::{Action, ConnId, Machine, Notice};
use super::message::{Channel, Status, now_ms};
use super::protocol::{self, Inbound};
use super::report::{Report, TopicReport};
use crate::gateway::Gateway;
use crate::normalize::jq::{self, Globals};
use crate::state::lock;

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

struct TopicState {
    topic: Topic,
    clients: Vec<Arc<ClientTx>>,
    seen: Seen,
    globals: Globals,
}

struct Counters {
    frames_in: IntCounter,
    out: IntCounter,
    invalid: IntCounter,
    dropped: IntCounter,
    reconnects: IntCounter,
    connections: IntGauge,
    fallback: IntGauge,
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
}

impl Driver {
    /// Starts the driver task of provider `name`; returns its control channel.
    pub fn spawn(
        name: &str,
        gw: &Arc<Gateway>,
        cfg: Arc<StreamConfig>,
        report: Arc<Mutex<Report>>,
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
        };
        let breaker = gw.snapshot().config.provider(name).map(|p| p.breaker).unwrap_or_default();
        let driver = Driver {
            name: Arc::from(name),
            gw: Arc::downgrade(gw),
            machine: Machine::new(cfg.limits.clone(), cfg.hosts.len(), breaker),
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
        };
        tokio::spawn(driver.run(ctl_rx, ev_rx));
        ctl_tx
    }

    async fn run(mut self, mut ctl: mpsc::UnboundedReceiver<Control>, mut events: mpsc::Receiver<ConnEvent>) {
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
                () = wake => {}
            }
        }
        self.stop_poller();
        self.counters.connections.set(0);
    }

    fn step(&mut self, now: Instant) {
        for action in self.machine.poll(now) {
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
        self.counters.connections.set(self.machine.open_connections() as i64);
        if self.dirty {
            self.dirty = false;
            self.refresh_report();
        }
    }

    fn connect(&mut self, conn: ConnId, host: usize, streams: &[String]) {
        // A reload may have changed the stream settings: the next connection uses them.
        let gw = self.gw.upgrade();
        if let Some(cfg) =
            gw.as_ref().and_then(|g| g.snapshot().config.provider(&self.name).and_then(|p| p.stream.clone()))
            && !Arc::ptr_eq(&cfg, &self.cfg)
        {
            let breaker = gw.as_ref().and_then(|g| g.snapshot().config.provider(&self.name).map(|p| p.breaker));
            self.machine.reconfigure(cfg.limits.clone(), cfg.hosts.len(), breaker.unwrap_or_default());
            self.cfg = cfg;
        }
        let Some(h) = self.cfg.hosts.get(host).cloned() else {
            let _ = self.events.try_send(ConnEvent::Closed(conn, "host no longer configured".into()));
            return;
        };
        let upstream = gw.as_ref().map(|g| g.snapshot().config.upstream.clone());
        let tls = if h.tls {
            let ca = upstream.as_ref().and_then(|u| u.extra_ca_file.clone());
            match crate::tls::client_config(ca.as_deref()) {
                Ok(mut c) => {
                    c.alpn_protocols = vec![b"http/1.1".to_vec()];
                    Some(Arc::new(c))
                }
                Err(e) => {
                    let _ = self.events.try_send(ConnEvent::Closed(conn, format!("TLS settings: {e}")));
                    return;
                }
            }
        } else {
            None
        };
        let dial = Dial {
            conn,
            url: protocol::url(&h.base, &self.cfg.path, streams),
            host: h,
            tls,
            timeout: self.cfg.connect_timeout,
            silence: self.cfg.silence,
            user_agent: upstream.map_or_else(|| "marketgate".to_owned(), |u| u.user_agent),
        };
        tracing::debug!(provider = %self.name, host = %dial.host.base, streams = streams.len(), "stream connecting");
        self.conns.insert(conn, conn::spawn(dial, self.events.clone()));
        self.dirty = true;
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
                self.machine.closed(c, &reason, now);
                self.dirty = true;
            }
            ConnEvent::Text(c, text) => {
                self.counters.frames_in.inc();
                match protocol::parse(&text) {
                    Inbound::Data { stream, data } => self.deliver(&stream, data),
                    Inbound::Reply { id, error } => self.machine.replied(c, id, error),
                    Inbound::Other => {}
                }
            }
        }
    }

    /// Maps one upstream event and offers it to the topic's clients.
    fn deliver(&mut self, stream: &str, data: serde_json::Value) {
        let Some(t) = self.topics.get_mut(stream) else { return };
        let Some(channel) = self.cfg.channels.get(&t.topic.channel) else { return };
        t.globals.now = now_ms();
        let mapped = channel
            .mapping
            .run_val(jq::from_json(data), &t.globals)
            .map_err(|e| e.to_string())
            .and_then(|v| serde_json::from_str::<serde_json::Value>(&v.to_string()).map_err(|e| e.to_string()))
            .and_then(|v| t.topic.channel.payload(v, &t.topic.symbol, &t.topic.vs).map_err(|e| e.to_string()));
        let payload = match mapped {
            Ok(p) => p,
            Err(e) => {
                self.counters.invalid.inc();
                tracing::debug!(provider = %self.name, stream, error = %e, "stream event refused");
                return;
            }
        };
        if !t.seen.first_time(payload.dedupe_key()) {
            return;
        }
        let msg = payload.encode(&self.name);
        let (mut queued, mut dropped) = (0, 0);
        for c in &t.clients {
            match c.offer(msg.clone()) {
                Offer::Queued => queued += 1,
                Offer::Dropped => dropped += 1,
                Offer::Gone => {}
            }
        }
        self.counters.out.inc_by(queued);
        self.counters.dropped.inc_by(dropped);
    }

    fn control(&mut self, c: Control) {
        let now = Instant::now();
        match c {
            Control::Join { client, topics, route, reply } => {
                let new = topics.iter().filter(|t| !self.topics.contains_key(&t.stream)).count();
                let max = self.cfg.limits.max_streams;
                if self.topics.len() + new > max {
                    let why = format!(
                        "the {} stream carries at most {max} streams and {} are in use",
                        self.name,
                        self.topics.len()
                    );
                    let _ = reply.send(Err(why));
                    return;
                }
                let names: Vec<String> = topics.iter().map(|t| t.stream.clone()).collect();
                let detail = subscribed_detail(&self.name, &topics);
                for topic in topics {
                    let t = self.topics.entry(topic.stream.clone()).or_insert_with(|| TopicState {
                        globals: Globals {
                            symbols: vec![topic.symbol.clone()],
                            ids: vec![topic.id.clone()],
                            vs: topic.vs.clone(),
                            ..Globals::default()
                        },
                        topic,
                        clients: Vec::new(),
                        seen: Seen::new(4096),
                    });
                    t.clients.push(Arc::clone(&client));
                }
                self.clients.insert(client.id, names);
                self.route = Some(route);
                client.offer(Status::Subscribed.encode(&detail, now_ms()));
                if self.machine.in_fallback() {
                    client.offer(Status::Fallback.encode(&self.fallback_detail(), now_ms()));
                }
                let _ = reply.send(Ok(()));
                self.wanted_changed(now);
            }
            Control::Leave(id) => {
                for stream in self.clients.remove(&id).unwrap_or_default() {
                    if let Some(t) = self.topics.get_mut(&stream) {
                        t.clients.retain(|c| c.id != id);
                        if t.clients.is_empty() {
                            self.topics.remove(&stream);
                        }
                    }
                }
                self.wanted_changed(now);
            }
            Control::Polled { symbol, vs, msg } => {
                if !self.machine.in_fallback() {
                    return;
                }
                let mut sent = BTreeSet::new();
                for t in self.topics.values().filter(|t| t.topic.symbol == symbol && t.topic.vs == vs) {
                    for c in &t.clients {
                        if sent.insert(c.id) && c.offer(msg.clone()) == Offer::Queued {
                            self.counters.out.inc();
                        }
                    }
                }
            }
        }
    }

    fn wanted_changed(&mut self, now: Instant) {
        self.machine.set_wanted(self.topics.keys().cloned().collect(), now);
        let pairs: BTreeSet<(String, String)> =
            self.topics.values().map(|t| (t.topic.symbol.clone(), t.topic.vs.clone())).collect();
        *lock(&self.pairs) = pairs.into_iter().collect();
        self.dirty = true;
    }

    fn notice(&mut self, n: Notice) {
        self.dirty = true;
        let host = |i: usize| self.cfg.hosts.get(i).map_or_else(|| "?".to_owned(), |h| h.base.clone());
        match n {
            Notice::Connected { host: h, rollover } => {
                tracing::info!(provider = %self.name, host = %host(h), rollover, "stream connected");
            }
            Notice::Lost { host: h, reason } => {
                self.counters.reconnects.inc();
                let detail = format!("upstream connection to {} lost ({reason}); reconnecting", host(h));
                tracing::warn!(provider = %self.name, %detail, "stream gap");
                self.broadcast(Status::Gap, &detail);
            }
            Notice::Fallback => {
                self.counters.fallback.set(1);
                let detail = self.fallback_detail();
                tracing::warn!(provider = %self.name, %detail, "stream fallback");
                self.broadcast(Status::Fallback, &detail);
                self.start_poller();
            }
            Notice::Resumed => {
                self.counters.fallback.set(0);
                self.stop_poller();
                let detail = format!("{} stream carries the data again", self.name);
                tracing::info!(provider = %self.name, "stream resumed");
                self.broadcast(Status::Resumed, &detail);
            }
            Notice::Rejected { streams, reason } => {
                tracing::warn!(provider = %self.name, ?streams, %reason, "upstream refused streams");
            }
        }
    }

    fn fallback_detail(&self) -> String {
        match self.route.as_ref().and_then(|r| r.fallback.as_ref().map(|f| (f, r.poll))) {
            Some((f, poll)) => format!(
                "no {} stream host is reachable; tickers from {f} every {} ms until the stream returns",
                self.name,
                poll.as_millis()
            ),
            None => format!("no {} stream host is reachable; no fallback route is configured", self.name),
        }
    }

    fn broadcast(&self, status: Status, detail: &str) {
        let msg = status.encode(detail, now_ms());
        let mut sent = BTreeSet::new();
        for c in self.topics.values().flat_map(|t| &t.clients) {
            if sent.insert(c.id) {
                c.offer(msg.clone());
            }
        }
    }

    fn start_poller(&mut self) {
        let Some(route) = self.route.clone() else { return };
        let Some(path) = route.fallback.clone() else { return };
        self.stop_poller();
        let (gw, pairs, ctl) = (self.gw.clone(), Arc::clone(&self.pairs), self.ctl.clone());
        self.poller = Some(tokio::spawn(super::fallback::poll(gw, path, route.poll, pairs, ctl)));
    }

    fn stop_poller(&mut self) {
        if let Some(p) = self.poller.take() {
            p.abort();
        }
    }

    fn refresh_report(&self) {
        let mut topics: Vec<TopicReport> = self
            .topics
            .values()
            .map(|t| TopicReport {
                stream: t.topic.stream.clone(),
                symbol: t.topic.symbol.clone(),
                vs: t.topic.vs.clone(),
                channel: t.topic.channel.as_str(),
                clients: t.clients.len(),
            })
            .collect();
        topics.sort_by(|a, b| a.stream.cmp(&b.stream));
        let state = if self.topics.is_empty() {
            "idle"
        } else if self.machine.in_fallback() {
            "fallback"
        } else if self.machine.carrier_host().is_some() {
            "up"
        } else {
            "connecting"
        };
        let mut r = lock(&self.report);
        r.provider = self.name.to_string();
        r.state = state;
        r.host = self.machine.carrier_host().and_then(|i| self.cfg.hosts.get(i)).map(|h| h.base.clone());
        r.connections = self.machine.open_connections();
        r.streams = self.topics.len();
        r.clients = self.clients.len();
        r.topics = topics;
    }
}

/// `trades, ticker for BTC/USD, ETH/USD from binance`.
fn subscribed_detail(provider: &str, topics: &[Topic]) -> String {
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
