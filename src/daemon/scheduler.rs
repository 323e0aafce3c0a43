//! The scheduler task: acts on every ticket whose deadline has passed (a reminder, the
//! end of a reopen window), each in its own transaction, queues the morning digest and
//! the contract expiry notices and the monthly report when they are owed, and sleeps
//! until the next deadline or until intake says it may have set an earlier one. It never
//! sleeps longer than `SCHEDULER_MAX_SLEEP`, so the digest goes out
//! within that of the desk's opening.
//!
//! A deadline that fails says whether it will pass, as intake's messages do. One that
//! will not (the ticket's contract deleted by hand, say) is logged once and left alone
//! until the daemon restarts; one that may is tried again, but not before
//! `SCHEDULER_RETRY`: an overdue ticket that fails must not make the scheduler spin.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use chrono::Utc;

use crate::failure::{self, Kind};

use super::backoff::until;
use super::{beat, Daemon, Shutdown};

/// Most due tickets handled in one scheduler round.
const DEADLINE_BATCH: usize = 100;
/// Most passes over the due tickets in one round when each pass acted on something
/// without filling a batch: one ticket's deadlines follow each other in a short chain.
const MAX_PASSES: usize = 4;
/// The scheduler looks again at least this often, whatever the next deadline: intake may
/// have created an earlier one meanwhile (it also wakes the scheduler when it does).
const SCHEDULER_MAX_SLEEP: Duration = Duration::from_secs(60);
/// After a round in which a deadline failed, the scheduler waits at least this long.
const SCHEDULER_RETRY: Duration = Duration::from_secs(30);

/// What one scheduler round did: deadlines acted on, and deadlines that failed.
pub struct Round {
    pub done: usize,
    pub failed: usize,
}

impl Daemon {
    pub(super) async fn scheduler_loop(self: Arc<Self>, shutdown: Shutdown) {
        while !shutdown.is_requested() {
            beat(&self.beats.scheduler);
            let failed = match self.deadlines_due().await {
                Ok(round) => round.failed > 0,
                Err(e) => {
                    tracing::error!("scheduler: {e:#}");
                    false
                }
            };
            if let Err(e) = self.digest_due().await {
                tracing::error!("morning digest not queued, will retry: {e:#}");
            }
            if let Err(e) = self.contract_notices_due().await {
                tracing::error!("contract expiry notices not queued, will retry: {e:#}");
            }
            if let Err(e) = self.report_due().await {
                tracing::error!("monthly report not queued, will retry: {e:#}");
            }
            let skip = self.stuck_tickets();
            let next = self
                .with_store(move |_, s| s.next_deadline(&skip))
                .await
                .ok()
                .flatten();
            let mut wait = until(next, Duration::from_millis(200), SCHEDULER_MAX_SLEEP);
            if failed {
                wait = wait.max(SCHEDULER_RETRY);
            }
            shutdown.sleep_or_wake(wait, &self.scheduler_wake).await;
        }
    }

    /// Acts on every ticket whose deadline has passed, each in its own transaction; a
    /// ticket that fails is retried on a later round if the failure may pass, and left
    /// alone otherwise.
    pub async fn deadlines_due(self: &Arc<Self>) -> Result<Round> {
        let (mut done, mut failed, mut rounds) = (0, 0, 0);
        loop {
            let now = Utc::now();
            let skip = self.stuck_tickets();
            let ids = self
                .with_store(move |_, s| s.due_tickets(now, DEADLINE_BATCH, &skip))
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
                        failed += 1;
                        self.deadline_failed(id, &e);
                    }
                }
            }
            if done > 0 {
                self.outbox_wake.notify_one();
            }
            // Acting on a deadline can make the ticket's next one due at once (a reopen
            // window that ran out while it waited): look again while anything happened.
            rounds += 1;
            if !progressed || (!full && rounds >= MAX_PASSES) {
                return Ok(Round { done, failed });
            }
        }
    }

    /// Queues the morning digests when they are owed: in the first office hour of a
    /// working day, once. Past that hour a digest that could not be queued is not owed
    /// any more, so a failure is retried at most until then.
    pub async fn digest_due(self: &Arc<Self>) -> Result<()> {
        let now = Utc::now();
        let queued = self
            .with_store(move |d, s| d.pipeline().digest(s, now))
            .await?;
        if let Some((day, mails)) = queued {
            tracing::info!(%day, mails, "morning digest queued");
            if mails > 0 {
                self.outbox_wake.notify_one();
            }
        }
        Ok(())
    }

    /// Queues the contract expiry notices owed now (in office hours, each once); one that
    /// could not be queued is still owed at the next round.
    pub async fn contract_notices_due(self: &Arc<Self>) -> Result<()> {
        let now = Utc::now();
        let queued = self
            .with_store(move |d, s| d.pipeline().contract_notices(s, now))
            .await?;
        for notice in &queued {
            tracing::info!(
                contract_id = notice.contract_id,
                kind = notice.kind.as_str(),
                valid_until = %notice.valid_until,
                "contract expiry notice queued"
            );
        }
        if !queued.is_empty() {
            self.outbox_wake.notify_one();
        }
        Ok(())
    }

    /// Queues last month's report when it is owed: in the first office hour of the
    /// month's first working day, once. A failure is retried until that hour ends.
    pub async fn report_due(self: &Arc<Self>) -> Result<()> {
        let now = Utc::now();
        let queued = self
            .with_store(move |d, s| d.pipeline().report(s, now))
            .await?;
        if let Some(month) = queued {
            tracing::info!(%month, "monthly report queued");
            self.outbox_wake.notify_one();
        }
        Ok(())
    }

    /// Logs a deadline that failed: a permanent failure once, after which the ticket is
    /// skipped until the daemon restarts; a transient one at every try.
    fn deadline_failed(&self, ticket_id: i64, e: &anyhow::Error) {
        match failure::classify(e) {
            Kind::Permanent => {
                self.lock_stuck().insert(ticket_id);
                tracing::error!(
                    ticket_id,
                    "deadline not handled, and it will fail the same way again: left alone \
                     until the daemon restarts: {e:#}"
                );
            }
            Kind::Transient => {
                tracing::warn!(ticket_id, "deadline not handled, will retry: {e:#}")
            }
        }
    }

    fn stuck_tickets(&self) -> Vec<i64> {
        self.lock_stuck().iter().copied().collect()
    }

    fn lock_stuck(&self) -> std::sync::MutexGuard<'_, HashSet<i64>> {
        self.stuck_deadlines
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
