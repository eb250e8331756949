//! One stream client's queue. The upstream reader offers each message without waiting:
//! a full queue drops it and counts the drop, and the client's next read says so with a
//! `gap` status. A slow client therefore never slows the reader or the other clients,
//! and its memory is bounded by its queue length.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use tokio::sync::mpsc;

use super::message::Status;
use crate::calendar::now_ms;

/// The sending side, held by the provider's driver.
#[derive(Debug)]
pub struct ClientTx {
    /// Unique per hub.
    pub id: u64,
    tx: mpsc::Sender<Bytes>,
    dropped: Arc<AtomicU64>,
}

/// What [`ClientTx::offer`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Offer {
    /// Queued.
    Queued,
    /// The queue was full: dropped and counted.
    Dropped,
    /// The client is gone.
    Gone,
}

/// The receiving side, read by the client's SSE body or WebSocket writer. Dropping it
/// leaves the hub (via `on_drop`).
pub struct ClientRx {
    rx: mpsc::Receiver<Bytes>,
    dropped: Arc<AtomicU64>,
    on_drop: Option<Box<dyn FnOnce() + Send + Sync>>,
}

/// A client's two ends, with a queue of `capacity` messages.
pub fn channel(id: u64, capacity: usize) -> (Arc<ClientTx>, ClientRx) {
    let (tx, rx) = mpsc::channel(capacity.max(1));
    let dropped = Arc::new(AtomicU64::new(0));
    (Arc::new(ClientTx { id, tx, dropped: Arc::clone(&dropped) }), ClientRx { rx, dropped, on_drop: None })
}

impl ClientTx {
    /// Queues `msg` unless the queue is full (never waits).
    pub fn offer(&self, msg: Bytes) -> Offer {
        match self.tx.try_send(msg) {
            Ok(()) => Offer::Queued,
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
                Offer::Dropped
            }
            Err(mpsc::error::TrySendError::Closed(_)) => Offer::Gone,
        }
    }
}

impl ClientRx {
    /// Runs `f` when this end is dropped (the client left).
    pub fn on_drop(&mut self, f: impl FnOnce() + Send + Sync + 'static) {
        self.on_drop = Some(Box::new(f));
    }

    /// The next message, after a `gap` status when messages were dropped since the
    /// last read; `None` when the hub closed the queue.
    pub async fn next(&mut self) -> Option<Bytes> {
        if let Some(gap) = self.gap() {
            return Some(gap);
        }
        self.rx.recv().await
    }

    fn gap(&self) -> Option<Bytes> {
        let n = self.dropped.swap(0, Ordering::Relaxed);
        (n > 0).then(|| {
            let detail = format!("{n} message(s) dropped: this client read more slowly than they arrived");
            Status::Gap.encode(&detail, now_ms())
        })
    }
}

impl Drop for ClientRx {
    fn drop(&mut self) {
        if let Some(f) = self.on_drop.take() {
            f();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_full_queue_drops_and_the_reader_hears_of_it_once() {
        let (tx, mut rx) = channel(1, 2);
        for i in 0..5 {
            let expect = if i < 2 { Offer::Queued } else { Offer::Dropped };
            assert_eq!(tx.offer(Bytes::from(format!("m{i}"))), expect);
        }
        let gap: serde_json::Value = serde_json::from_slice(&rx.next().await.expect("gap")).expect("json");
        assert_eq!(gap["event"], "gap");
        assert!(gap["detail"].as_str().expect("detail").starts_with("3 message(s) dropped"));
        assert_eq!(rx.next().await.as_deref(), Some(&b"m0"[..]));
        assert_eq!(rx.next().await.as_deref(), Some(&b"m1"[..]));
        assert_eq!(tx.offer(Bytes::from_static(b"m5")), Offer::Queued);
        assert_eq!(rx.next().await.as_deref(), Some(&b"m5"[..]), "one gap per loss");
    }

    #[test]
    fn leaving_runs_the_hook_and_later_offers_see_the_client_gone() {
        let (tx, mut rx) = channel(1, 2);
        let left = Arc::new(AtomicU64::new(0));
        let flag = Arc::clone(&left);
        rx.on_drop(move || {
            flag.store(1, Ordering::Relaxed);
        });
        drop(rx);
        assert_eq!(left.load(Ordering::Relaxed), 1);
        assert_eq!(tx.offer(Bytes::from_static(b"x")), Offer::Gone);
    }
}
