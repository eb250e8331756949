//! The silence watchdog: a topic whose connection is up but that carries no event past
//! its channel's `quiet` bound (Binance subscribes to any well-formed name and then
//! sends nothing for a pair it does not trade, or stops one it halted) is *silent*: its
//! clients get `status: silent` and that pair's tickers from the REST fallback until
//! the topic speaks again (`status: resumed`). Never only keep-alives.

use tokio::time::{Duration, Instant};

use super::Driver;
use crate::calendar::now_ms;
use crate::stream::machine::ConnId;
use crate::stream::message::Status;
use crate::sync::lock;

/// How often topics are looked at.
pub(super) const WATCH_EVERY: Duration = Duration::from_secs(1);

impl Driver {
    /// Marks the topics quiet past their bound as silent and tells their clients.
    pub(super) fn watch(&mut self, now: Instant) {
        self.drop_unreadable(now);
        if self.machine.in_fallback() || self.machine.carrier_host().is_none() {
            return;
        }
        let instead = self.served_elsewhere();
        let mut changed = false;
        for t in self.topics.values_mut() {
            let Some(quiet) = self.cfg.channels.get(&t.topic.channel).map(|c| c.quiet) else { continue };
            if t.silent || now.saturating_duration_since(t.heard) < quiet {
                continue;
            }
            t.silent = true;
            changed = true;
            let detail = format!(
                "{} has sent nothing on {} for {} s: {}/{} gets {instead} until it does",
                self.name,
                t.topic.stream,
                quiet.as_secs(),
                t.topic.symbol,
                t.topic.vs
            );
            tracing::warn!(provider = %self.name, stream = %t.topic.stream, "stream topic silent");
            self.counters.silent.inc();
            let msg = Status::Silent.encode(&detail, now_ms());
            t.clients().for_each(|c| {
                c.offer(msg.clone());
            });
        }
        if changed {
            self.poll_plan();
            self.dirty = true;
        }
    }

    /// A silent topic carried an event: its clients are told, its pair no longer polled
    /// (unless another of its topics is still silent).
    pub(super) fn spoke_again(&mut self, stream: &str) {
        let Some(t) = self.topics.get(stream) else { return };
        let detail = format!("{} carries {}/{} again on {}", self.name, t.topic.symbol, t.topic.vs, t.topic.stream);
        let msg = Status::Resumed.encode(&detail, now_ms());
        t.clients().for_each(|c| {
            c.offer(msg.clone());
        });
        self.poll_plan();
        self.dirty = true;
    }

    /// Every topic gets a fresh quiet window (its connection has just come up).
    pub(super) fn heard_all(&mut self, now: Instant) {
        for t in self.topics.values_mut() {
            t.heard = now;
        }
    }

    /// Where the topics served from elsewhere (all while no stream host answers,
    /// else the silent ones) get their data: the next stream in turn for what it can
    /// name, REST polling for the rest; the poller runs while it has pairs.
    pub(super) fn poll_plan(&mut self) {
        let fallback = self.machine.in_fallback();
        let elsewhere: Vec<&super::TopicState> = self.topics.values().filter(|t| fallback || t.silent).collect();
        let plan = self.plan_elsewhere(&elsewhere);
        self.set_relay(plan.relayed);
        let none = plan.polled.is_empty();
        *lock(&self.pairs) = plan.polled.into_iter().collect();
        if none {
            self.stop_poller();
        } else if self.poller.as_ref().is_none_or(tokio::task::JoinHandle::is_finished) {
            self.start_poller();
        }
    }

    /// Notes whether connection `c` just sent something readable.
    pub(super) fn readable(&mut self, c: ConnId, ok: bool, now: Instant) {
        if ok {
            self.unreadable.remove(&c);
        } else {
            self.unreadable.entry(c).or_insert(now);
        }
    }

    /// Connections that have sent nothing readable (garbage, binary frames, events
    /// their mapping refuses) for the stream's `silence` bound are down, as if they
    /// had sent nothing at all: closed, counted against their host, and replaced.
    fn drop_unreadable(&mut self, now: Instant) {
        let bound = self.cfg.silence;
        let dead: Vec<ConnId> = self
            .unreadable
            .iter()
            .filter(|(_, since)| now.saturating_duration_since(**since) >= bound)
            .map(|(c, _)| *c)
            .collect();
        for c in dead {
            self.unreadable.remove(&c);
            self.conns.remove(&c);
            let why = format!("nothing readable for {} s", bound.as_secs());
            tracing::warn!(provider = %self.name, %why, "stream connection dropped");
            self.machine.closed(c, &why, now);
            self.dirty = true;
        }
    }

    /// Whether polled tickers for `symbol`/`vs` go to clients now.
    pub(super) fn polled_wanted(&self, symbol: &str, vs: &str) -> bool {
        self.machine.in_fallback()
            || self.topics.values().any(|t| t.silent && t.groups.iter().any(|g| g.symbol == symbol && g.vs == vs))
    }
}
