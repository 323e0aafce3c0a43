//! The one shutdown handle every task holds: asked once (SIGTERM, SIGINT), seen by all.
//! It can be checked without waiting, from the blocking pool between two messages, or
//! awaited beside other work. A handle nobody asks stays quiet: `run --once` and
//! `process` pass one, so the tasks need no "is there a shutdown at all" case.
//!
//! Ours rather than `tokio_util`'s `CancellationToken`: the daemon needs neither child
//! tokens nor drop guards, and a flag with a `Notify` is all the rest is.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;

/// Cloned into every task; all clones see the same request.
#[derive(Clone, Debug, Default)]
pub struct Shutdown(Arc<Inner>);

#[derive(Debug, Default)]
struct Inner {
    asked: AtomicBool,
    notify: Notify,
}

impl Shutdown {
    pub fn new() -> Shutdown {
        Shutdown::default()
    }

    /// Asks every holder to stop; asking again changes nothing.
    pub fn request(&self) {
        self.0.asked.store(true, Ordering::SeqCst);
        self.0.notify.notify_waiters();
    }

    /// Whether shutdown has been asked.
    pub fn is_requested(&self) -> bool {
        self.0.asked.load(Ordering::SeqCst)
    }

    /// Returns once shutdown is asked (at once if it was already).
    pub async fn requested(&self) {
        let notified = self.0.notify.notified();
        tokio::pin!(notified);
        // Registered before the flag is read, so a request in between is not missed.
        notified.as_mut().enable();
        if self.is_requested() {
            return;
        }
        notified.await;
    }

    /// Sleeps for `d`; true when shutdown was asked meanwhile (or before).
    pub async fn sleep(&self, d: Duration) -> bool {
        tokio::select! {
            _ = tokio::time::sleep(d) => self.is_requested(),
            _ = self.requested() => true,
        }
    }

    /// Sleeps for `d`, or less when `wake` is told or shutdown is asked.
    pub async fn sleep_or_wake(&self, d: Duration, wake: &Notify) {
        tokio::select! {
            _ = wake.notified() => {}
            _ = tokio::time::sleep(d) => {}
            _ = self.requested() => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn every_clone_sees_one_request_even_one_made_before_it_waits() {
        let shutdown = Shutdown::new();
        let task = shutdown.clone();
        assert!(!task.is_requested());
        let waiting = tokio::spawn(async move {
            task.requested().await;
            task.is_requested()
        });
        tokio::task::yield_now().await;
        shutdown.request();
        assert!(waiting.await.expect("task"));
        // Asked already: returns at once, and a sleep ends at once.
        tokio::time::timeout(Duration::from_secs(1), shutdown.requested())
            .await
            .expect("requested() after the request returns at once");
        assert!(shutdown.sleep(Duration::from_secs(60)).await);
    }

    #[tokio::test]
    async fn a_handle_nobody_asks_lets_the_sleep_run_out() {
        let shutdown = Shutdown::new();
        assert!(!shutdown.sleep(Duration::from_millis(10)).await);
        let wake = Notify::new();
        wake.notify_one();
        tokio::time::timeout(
            Duration::from_secs(1),
            shutdown.sleep_or_wake(Duration::from_secs(60), &wake),
        )
        .await
        .expect("woken before the sleep ran out");
    }
}
