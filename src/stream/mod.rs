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
pub mod protocol;
pub mod report;
pub mod rest;
pub mod serve;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::{mpsc, oneshot};

use crate::config::model::stream::{StreamConfig, StreamRoute};
use crate::gateway::Gateway;
use crate::metrics::Metrics;
use crate::sync::lock;
use client::ClientRx;
use driver::{Control, Driver, Topic};
use report::Report;

/// The query parameters of a stream route.
pub const PARAMS: &[&str] = &["symbols", "channels", "vs", "interval", "depth"];

/// Every provider's stream driver, started when its first client joins.
#[derive(Default)]
pub struct Hub {
    drivers: Mutex<HashMap<String, Entry>>,
    next_client: AtomicU64,
    /// The pairs each stream provider carries.
    pub listings: listing::Listings,
}

struct Entry {
    ctl: mpsc::UnboundedSender<Control>,
    report: Arc<Mutex<Report>>,
}

impl Hub {
    /// Joins `topics` of `provider`'s stream; the returned queue yields the messages.
    pub async fn join(
        self: &Arc<Self>,
        gw: &Arc<Gateway>,
        cfg: &Arc<StreamConfig>,
        route: &StreamRoute,
        topics: Vec<Topic>,
        transport: &'static str,
    ) -> Result<ClientRx, String> {
        let ctl = {
            let mut drivers = lock(&self.drivers);
            let entry = drivers.entry(route.provider.clone()).or_insert_with(|| {
                let report = Arc::new(Mutex::new(Report::default()));
                let ctl =
                    Driver::spawn(&route.provider, gw, Arc::clone(cfg), Arc::clone(&report), Arc::downgrade(self));
                Entry { ctl, report }
            });
            if entry.ctl.is_closed() {
                let report = Arc::clone(&entry.report);
                entry.ctl = Driver::spawn(&route.provider, gw, Arc::clone(cfg), report, Arc::downgrade(self));
            }
            entry.ctl.clone()
        };
        let id = self.next_client.fetch_add(1, Ordering::Relaxed) + 1;
        let (tx, mut rx) = client::channel(id, cfg.client_queue);
        let (reply, answer) = oneshot::channel();
        ctl.send(Control::Join { client: tx, topics, route: route.clone(), reply })
            .map_err(|_| "the stream driver stopped".to_owned())?;
        answer.await.map_err(|_| "the stream driver stopped".to_owned())??;
        let gauge = gw.metrics.stream.clients.with_label_values(&[transport]);
        gauge.inc();
        rx.on_drop(move || {
            gauge.dec();
            let _ = ctl.send(Control::Leave(id));
        });
        Ok(rx)
    }

    /// Each started provider's stream, with its counters.
    pub fn reports(&self, metrics: &Metrics) -> Vec<Report> {
        let mut out: Vec<Report> = lock(&self.drivers)
            .iter()
            .map(|(name, e)| {
                let mut r = lock(&e.report).clone();
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
