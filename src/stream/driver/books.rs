//! Book topics in the driver: each diff-depth event goes through the topic's sync
//! procedure ([`crate::stream::book::sync`]); the first buffered event (and every gap)
//! starts one REST snapshot through the provider's hosts and quota, whose answer comes
//! back as [`Control::BookSnapshot`]; the live book is shown to its clients by depth
//! ([`crate::stream::book::fanout`]). One book and one snapshot serve every client.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use super::{Control, Driver};
use crate::calendar::now_ms;
use crate::config::model::stream::Channel;
use crate::normalize::jq::{self, Globals};
use crate::stream::book::fanout::{BookTopic, Sent, Stamp};
use crate::stream::book::sync::{Step, Synced};
use crate::stream::book::{Diff, Snapshot};
use crate::stream::client::ClientTx;

/// Wait before asking again for a snapshot that did not meet the buffered events.
const AGAIN_AFTER: Duration = Duration::from_secs(1);

impl Driver {
    /// A client joins the book of `stream` for its top `depth` levels.
    pub(super) fn book_join(&mut self, stream: &str, client: &Arc<ClientTx>, symbol: &str, vs: &str, depth: usize) {
        let stamp = Stamp { provider: &self.name, ts: now_ms() };
        let Some(t) = self.topics.get_mut(stream) else { return };
        let sent = t.book.get_or_insert_with(BookTopic::default).join(Arc::clone(client), symbol, vs, depth, stamp);
        self.count(sent);
    }

    /// One diff-depth event of a book topic; `false` when it could not be read.
    pub(super) fn book_event(&mut self, stream: &str, data: serde_json::Value) -> bool {
        let Some(t) = self.topics.get_mut(stream) else { return true };
        let Some(channel) = self.cfg.channels.get(&Channel::Book) else { return true };
        t.globals.now = now_ms();
        let diff = channel.mapping.run_val(jq::from_json(data), &t.globals).map_err(|e| e.to_string()).and_then(|v| {
            serde_json::from_str::<Diff>(&v.to_string()).map_err(|e| format!("book mapping output: {e}"))
        });
        let diff = match diff {
            Ok(d) => d,
            Err(e) => {
                self.counters.invalid.inc();
                tracing::debug!(provider = %self.name, stream, error = %e, "book event refused");
                return false;
            }
        };
        t.heard = Instant::now();
        let woke = std::mem::replace(&mut t.silent, false);
        let Some(book) = t.book.as_mut() else { return true };
        let stamp = Stamp { provider: &self.name, ts: now_ms() };
        let mut fetch = false;
        let sent = match book.sync.event(diff) {
            Step::Buffered { fetch: first } => {
                fetch = first;
                Sent::default()
            }
            Step::Applied => book.publish(stamp),
            Step::Ignored => Sent::default(),
            Step::Gap { had, first } => {
                let detail = format!(
                    "{} skipped order book updates {}..{} on {stream}: the book is rebuilt from a fresh snapshot",
                    self.name,
                    had + 1,
                    first - 1
                );
                tracing::warn!(provider = %self.name, stream, "order book gap: resync");
                fetch = true;
                book.resync(&detail, stamp)
            }
        };
        self.count(sent);
        if woke {
            self.spoke_again(stream);
        }
        if fetch {
            self.fetch_snapshot(stream, Duration::ZERO);
        }
        true
    }

    /// A snapshot came back (or failed).
    pub(super) fn book_snapshot(&mut self, stream: &str, result: Result<Snapshot, String>) {
        let Some(book) = self.topics.get_mut(stream).and_then(|t| t.book.as_mut()) else { return };
        book.fetching = false;
        let stamp = Stamp { provider: &self.name, ts: now_ms() };
        match result.map(|s| book.sync.snapshot(s)) {
            Ok(Synced::Live(id)) => {
                tracing::debug!(provider = %self.name, stream, id, "order book in sync");
                let sent = book.publish(stamp);
                self.count(sent);
            }
            Ok(Synced::Again(why)) => {
                tracing::debug!(provider = %self.name, stream, %why, "order book snapshot again");
                // With nothing buffered, the next event asks for the snapshot.
                if !matches!(&book.sync, crate::stream::book::sync::BookSync::Waiting { buffer } if buffer.is_empty()) {
                    self.fetch_snapshot(stream, AGAIN_AFTER);
                }
            }
            Err(e) => {
                tracing::warn!(provider = %self.name, stream, error = %e, "order book snapshot failed");
                self.fetch_snapshot(stream, crate::stream::rest::RETRY_AFTER);
            }
        }
    }

    /// Starts one snapshot request for `stream` after `delay` (unless one is under way).
    fn fetch_snapshot(&mut self, stream: &str, delay: Duration) {
        let Some(t) = self.topics.get_mut(stream) else { return };
        let Some(book) = t.book.as_mut().filter(|b| !b.fetching) else { return };
        let Some(spec) = self.cfg.channels.get(&Channel::Book).and_then(|c| c.snapshot.as_ref()) else { return };
        book.fetching = true;
        let path = spec.path.replace("{id}", &t.topic.id);
        let weight = spec.weight;
        let (gw, ctl, cfg, name, stream) =
            (self.gw.clone(), self.ctl.clone(), Arc::clone(&self.cfg), self.name.to_string(), stream.to_owned());
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            let Some(gateway) = gw.upgrade() else { return };
            let read = |body: &[u8]| -> Result<Snapshot, String> {
                let Some(spec) = cfg.channels.get(&Channel::Book).and_then(|c| c.snapshot.as_ref()) else {
                    return Err("no snapshot configured".into());
                };
                let globals = Globals { now: now_ms(), ..Globals::default() };
                let out = spec.mapping.run(body, &globals).map_err(|e| format!("snapshot mapping: {e}"))?;
                serde_json::from_str::<Snapshot>(&out).map_err(|e| format!("snapshot mapping output: {e}"))
            };
            let result = crate::stream::rest::get(&gateway, &name, &path, weight, read).await;
            drop(gateway);
            if let Some(tx) = ctl.upgrade() {
                let _ = tx.send(Control::BookSnapshot { stream, result });
            }
        });
    }

    fn count(&self, sent: Sent) {
        self.counters.out.inc_by(sent.queued);
        self.counters.dropped.inc_by(sent.dropped);
    }
}
