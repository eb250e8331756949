//! The silence watchdog: a topic whose connection is up but that carries no event past
//! its channel's `quiet` bound (Binance subscribes to any well-formed name and then
//! sends nothing for a pair it does not trade, or stops one it halted) is *silent*: its
//! clients get `status: silent` and that pair's tickers from the REST fallback until
//! the topic speaks again (`status: resumed`). Never only keep-alives.

use std::collections::BTreeSet;

use tokio::time::{Duration, Instant};

use super::Driver;
use crate::calendar::now_ms;
use crate::stream::message::Status;
use crate::sync::lock;

/// How often topics are looked at.
pub(super) const WATCH_EVERY: Duration = Duration::from_secs(1);

impl Driver {
    /// Marks the topics quiet past their bound as silent and tells their clients.
    pub(super) fn watch(&mut self, now: Instant) {
        if self.machine.in_fallback() || self.machine.carrier_host().is_none() {
            return;
        }
        let fallback = self.route.as_ref().and_then(|r| r.fallback.as_ref().map(|f| (f.clone(), r.poll)));
        let mut changed = false;
        for t in self.topics.values_mut() {
            let Some(quiet) = self.cfg.channels.get(&t.topic.channel).map(|c| c.quiet) else { continue };
            if t.silent || now.saturating_duration_since(t.heard) < quiet {
                continue;
            }
            t.silent = true;
            changed = true;
            let instead = match &fallback {
                Some((path, poll)) => {
                    format!(
                        "tickers for {}/{} from {path} every {} ms until it does",
                        t.topic.symbol,
                        t.topic.vs,
                        poll.as_millis()
                    )
                }
                None => "no fallback route is configured".to_owned(),
            };
            let detail =
                format!("{} has sent nothing on {} for {} s: {instead}", self.name, t.topic.stream, quiet.as_secs());
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

    /// Which pairs the REST fallback polls: all while no stream host answers, else
    /// those with a silent topic; the poller runs while there are any.
    pub(super) fn poll_plan(&mut self) {
        let fallback = self.machine.in_fallback();
        let pairs: BTreeSet<(String, String)> = self
            .topics
            .values()
            .filter(|t| fallback || t.silent)
            .flat_map(|t| &t.groups)
            .map(|g| (g.symbol.clone(), g.vs.clone()))
            .collect();
        let none = pairs.is_empty();
        *lock(&self.pairs) = pairs.into_iter().collect();
        if none {
            self.stop_poller();
        } else if self.poller.as_ref().is_none_or(tokio::task::JoinHandle::is_finished) {
            self.start_poller();
        }
    }

    /// Whether polled tickers for `symbol`/`vs` go to clients now.
    pub(super) fn polled_wanted(&self, symbol: &str, vs: &str) -> bool {
        self.machine.in_fallback()
            || self.topics.values().any(|t| t.silent && t.groups.iter().any(|g| g.symbol == symbol && g.vs == vs))
    }
}
