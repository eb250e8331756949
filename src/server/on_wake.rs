//! A future polled only when its own waker fired: the timers and the stop signal that
//! watch a connection. Beside the connection in one `select!`, they were polled on
//! every wake of the connection's task, two or more per request, though only a timer
//! or the stop signal can move them: 1,180 instructions of a proxied request, 500 of a
//! cache hit (`bench/instructions.sh`).

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, Wake, Waker};

use futures_util::task::AtomicWaker;
use pin_project_lite::pin_project;

pin_project! {
    /// `fut`, polled on the first poll and then only after a waker it registered was
    /// woken. Sound for a future whose progress only its own wakers announce (timers,
    /// channels), as the `Future` contract has it; not for one that reads state others
    /// change without waking it.
    pub struct OnWake<F> {
        #[pin]
        fut: F,
        flag: Arc<Flag>,
        waker: Waker,
    }
}

/// Set when `fut`'s waker is woken; the task that polls [`OnWake`] is woken with it.
struct Flag {
    woken: AtomicBool,
    task: AtomicWaker,
}

impl Wake for Flag {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.store(true, Ordering::Release);
        self.task.wake();
    }
}

impl<F: Future> OnWake<F> {
    /// Wraps `fut` (one allocation: the flag its waker sets).
    pub fn new(fut: F) -> Self {
        let flag = Arc::new(Flag { woken: AtomicBool::new(true), task: AtomicWaker::new() });
        let waker = Waker::from(Arc::clone(&flag));
        Self { fut, flag, waker }
    }
}

impl<F: Future> Future for OnWake<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        // Registered before the flag is read: a wake in between sets the flag, which
        // is seen now, or wakes the task again, which polls again.
        this.flag.task.register(cx.waker());
        if !this.flag.woken.swap(false, Ordering::AcqRel) {
            return Poll::Pending;
        }
        this.fut.poll(&mut Context::from_waker(this.waker))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;
    use std::time::Duration;

    use super::*;

    /// Counts its polls; ready when its sleep is over.
    struct Counted<'a> {
        polls: &'a AtomicUsize,
        inner: Pin<Box<tokio::time::Sleep>>,
    }

    impl Future for Counted<'_> {
        type Output = ();
        fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
            self.polls.fetch_add(1, Ordering::Relaxed);
            self.inner.as_mut().poll(cx)
        }
    }

    #[tokio::test(start_paused = true)]
    async fn the_guard_is_polled_only_when_its_own_waker_fires() {
        let polls = AtomicUsize::new(0);
        let guard = OnWake::new(Counted { polls: &polls, inner: Box::pin(tokio::time::sleep(Duration::from_secs(5))) });
        let mut guard = std::pin::pin!(guard);
        // The "connection": a channel woken 50 times before the guard's timer is due.
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<u32>();
        tokio::spawn(async move {
            for i in 0..50 {
                tokio::time::sleep(Duration::from_millis(10)).await;
                let _ = tx.send(i);
            }
        });
        let mut messages = 0;
        loop {
            tokio::select! {
                biased;
                m = rx.recv() => match m {
                    Some(_) => messages += 1,
                    None => break,
                },
                () = guard.as_mut() => panic!("the guard's timer is not due yet"),
            }
        }
        assert_eq!(messages, 50);
        // Polled once when first met, never for the channel's wakes.
        assert_eq!(polls.load(Ordering::Relaxed), 1);
        // Its own timer wakes it, and it completes (bounded: a lost wake fails, not hangs).
        let woke = tokio::time::timeout(Duration::from_secs(60), guard.as_mut()).await;
        assert!(woke.is_ok(), "the guard's own timer completes it");
        assert_eq!(polls.load(Ordering::Relaxed), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn a_wake_before_the_first_poll_is_not_lost() {
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let guard = OnWake::new(rx);
        tx.send(()).expect("receiver alive");
        let got = tokio::time::timeout(Duration::from_secs(1), guard).await;
        assert!(matches!(got, Ok(Ok(()))), "the guard completes at once");
    }
}
