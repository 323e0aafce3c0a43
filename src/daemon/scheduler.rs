//! The scheduler task: acts on every ticket whose deadline has passed (a reminder, the
//! end of a reopen window), each in its own transaction, and sleeps until the next one
//! or until intake says it may have set an earlier one.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use chrono::Utc;

use super::backoff::until;
use super::{beat, Daemon, Shutdown};

/// Most due tickets handled in one scheduler round.
const DEADLINE_BATCH: usize = 100;
/// The scheduler looks again at least this often, whatever the next deadline: intake may
/// have created an earlier one meanwhile (it also wakes the scheduler when it does).
const SCHEDULER_MAX_SLEEP: Duration = Duration::from_secs(60);

impl Daemon {
    pub(super) async fn scheduler_loop(self: Arc<Self>, shutdown: Shutdown) {
        while !shutdown.is_requested() {
            beat(&self.beats.scheduler);
            if let Err(e) = self.deadlines_due().await {
                tracing::error!("scheduler: {e:#}");
            }
            let next = self
                .with_store(|_, s| s.next_deadline())
                .await
                .ok()
                .flatten();
            let wait = until(next, Duration::from_millis(200), SCHEDULER_MAX_SLEEP);
            shutdown.sleep_or_wake(wait, &self.scheduler_wake).await;
        }
    }

    /// Acts on every ticket whose deadline has passed, each in its own transaction; a
    /// ticket that fails is logged and retried on the next round.
    pub async fn deadlines_due(self: &Arc<Self>) -> Result<usize> {
        let mut done = 0;
        loop {
            let now = Utc::now();
            let ids = self
                .with_store(move |_, s| s.due_tickets(now, DEADLINE_BATCH))
                .await?;
            let full = ids.len() == DEADLINE_BATCH;
            let mut progressed = false;
            for id in ids {
                match self
                    .with_store(move |d, s| d.pipeline().deadline(s, id, Utc::now()))
                    .await
                {
                    Ok(Some(what)) => {
                        done += 1;
                        progressed = true;
                        tracing::info!("{what}");
                    }
                    Ok(None) => {}
                    Err(e) => {
                        tracing::error!(ticket_id = id, "deadline not handled, will retry: {e:#}")
                    }
                }
            }
            if done > 0 {
                self.outbox_wake.notify_one();
            }
            if !full || !progressed {
                return Ok(done);
            }
        }
    }
}
