//! The outbox task: SQLite → SMTP. Due mail goes out on `SMTP_LANES` connections at
//! once, each ticket's mail on one lane, in order. What happens to a mail after an
//! attempt is one pure rule, `next_step`; the task only carries it out. A send the
//! database could not record is remembered and recorded before anything else is sent,
//! so it is never sent twice by this process.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use chrono::{DateTime, Utc};

use crate::config::OutboxConfig;
use crate::mail::smtp::SendError;
use crate::store::OutboxRow;

use super::backoff::{retry_delay, until, Backoff};
use super::{beat, Daemon, Shutdown};

/// Most outbox rows read at once.
const OUTBOX_BATCH: usize = 100;
/// SMTP connections the outbox sends on at once. All mail of one ticket goes on the same
/// connection, in order; two keep Postfix busy while the other waits on a reply.
pub(super) const SMTP_LANES: usize = 2;

/// What one pass over the due outbox did.
#[derive(Debug, Default)]
pub struct Delivered {
    pub sent: usize,
    /// Set when the SMTP server could not be had: the mail not sent stays due.
    pub unavailable: Option<String>,
}

/// How a lane's pass ended.
enum LaneEnd {
    /// Every mail handed to it was sent, refused or given up.
    Done,
    /// Shutdown, or a mail to retry later.
    Stopped,
    /// No session with the server.
    Unavailable(String),
}

/// The retry settings of `[outbox]`.
#[derive(Clone, Copy, Debug)]
pub(super) struct RetryPolicy {
    /// Attempts that failed for now before the mail is given up.
    pub max_attempts: u32,
    /// The wait after the first failed attempt; it doubles after each one …
    pub initial: Duration,
    /// … up to this.
    pub max: Duration,
}

impl From<&OutboxConfig> for RetryPolicy {
    fn from(c: &OutboxConfig) -> RetryPolicy {
        RetryPolicy {
            max_attempts: c.max_attempts,
            initial: c.backoff_initial,
            max: c.backoff_max,
        }
    }
}

/// What to do with a mail after one attempt to send it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Step {
    /// The server took it: record it sent.
    Sent,
    /// No session with the server: not this mail's fault. It stays due, no attempt is
    /// counted, and the lane stops until the server is back.
    Wait,
    /// Failed for now: try again `after` (at `at`); `attempts` failed so far. The lane
    /// stops (the rest would likely fail the same way).
    RetryAt {
        attempts: u32,
        after: Duration,
        at: DateTime<Utc>,
    },
    /// Refused for good by the server: give up on it; the lane goes on.
    Refused,
    /// Failed for now once too often: give up on it; the lane goes on.
    Exhausted { attempts: u32 },
}

/// The retry rule. `attempts` is how many attempts of this mail had failed for now
/// before this one; `now` is when this one ended.
pub(super) fn next_step(
    result: &Result<(), SendError>,
    attempts: u32,
    policy: &RetryPolicy,
    now: DateTime<Utc>,
) -> Step {
    match result {
        Ok(()) => Step::Sent,
        Err(SendError::Unavailable(_)) => Step::Wait,
        Err(SendError::Permanent(_)) => Step::Refused,
        Err(SendError::Transient(_)) => {
            let attempts = attempts.saturating_add(1);
            if attempts >= policy.max_attempts {
                return Step::Exhausted { attempts };
            }
            let after = retry_delay(attempts, policy.initial, policy.max);
            let at = chrono::Duration::from_std(after)
                .ok()
                .and_then(|d| now.checked_add_signed(d))
                .unwrap_or(DateTime::<Utc>::MAX_UTC);
            Step::RetryAt {
                attempts,
                after,
                at,
            }
        }
    }
}

fn error_text(e: SendError) -> String {
    match e {
        SendError::Permanent(s) | SendError::Transient(s) | SendError::Unavailable(s) => s,
    }
}

impl Daemon {
    pub(super) async fn outbox_loop(self: Arc<Self>, shutdown: Shutdown) {
        // While the server is unavailable the due mail stays due: wait for the server
        // with backoff rather than for the mail's time.
        let mut server = Backoff::new(Duration::from_secs(1), Duration::from_secs(60));
        let mut errors = Backoff::new(Duration::from_secs(1), Duration::from_secs(30));
        while !shutdown.is_requested() {
            beat(&self.beats.outbox);
            let wait = match self.deliver_due(&shutdown).await {
                Ok(Delivered {
                    unavailable: Some(e),
                    ..
                }) => {
                    if server.failures == 0 {
                        tracing::warn!("SMTP server unavailable, mail waits in the outbox: {e}");
                    }
                    // At most a minute: well within what the watchdog allows a task.
                    Some(server.next())
                }
                Ok(_) => {
                    if server.failures > 0 {
                        tracing::info!(host = %self.cfg.smtp.host, "SMTP server takes mail again");
                        server.reset();
                    }
                    None
                }
                Err(e) => {
                    // The database refused (full, locked): try again, not in a tight loop.
                    if errors.failures == 0 {
                        tracing::error!("outbox: {e:#}");
                    }
                    Some(errors.next())
                }
            };
            if let Some(wait) = wait {
                if shutdown.sleep(wait).await {
                    return;
                }
                continue;
            }
            if errors.failures > 0 {
                tracing::info!("outbox working again");
                errors.reset();
            }
            let next = self
                .with_store(|_, s| s.next_outbox_due())
                .await
                .ok()
                .flatten();
            let wait = until(next, Duration::from_millis(50), Duration::from_secs(60));
            shutdown.sleep_or_wake(wait, &self.outbox_wake).await;
        }
    }

    /// `run --once`: delivers until the outbox is empty or `budget` is spent, waiting
    /// for each mail's retry time and, with backoff, for an SMTP server that is away.
    pub(super) async fn drain(self: &Arc<Self>, budget: Duration) -> Result<()> {
        let deadline = tokio::time::Instant::now() + budget;
        let mut server = Backoff::new(Duration::from_secs(1), Duration::from_secs(60));
        let never = Shutdown::new();
        loop {
            let done = self.deliver_due(&never).await?;
            let next = self.with_store(|_, s| s.next_outbox_due()).await?;
            let Some(next) = next else { return Ok(()) };
            let mut wait = (next - Utc::now()).to_std().unwrap_or(Duration::ZERO);
            if let Some(e) = &done.unavailable {
                if server.failures == 0 {
                    tracing::warn!("SMTP server unavailable: {e}");
                }
                wait = wait.max(server.next());
            }
            if tokio::time::Instant::now() + wait > deadline {
                let left = self.with_store(|_, s| s.outbox_pending()).await?;
                tracing::warn!(
                    pending = left,
                    "outbox not empty at the end of --once; the daemon will retry"
                );
                return Ok(());
            }
            tokio::time::sleep(wait).await;
        }
    }

    /// Sends every due mail, on `SMTP_LANES` connections at once. A lane stops at its
    /// first transient error (the server is likely in trouble, so the rest would fail the
    /// same way) after scheduling that mail's retry, and at the server being unavailable
    /// (the mail stays due, no attempt counted). When shutdown is asked each lane stops
    /// after the mail in flight.
    pub async fn deliver_due(self: &Arc<Self>, shutdown: &Shutdown) -> Result<Delivered> {
        let mut done = Delivered::default();
        // Sends not yet recorded come first: until they are, nothing else is sent (it
        // could not be recorded either) and they are never sent again.
        self.record_unrecorded().await?;
        loop {
            let rows = self
                .with_store(|_, s| s.due_outbox(Utc::now(), OUTBOX_BATCH))
                .await?;
            if rows.is_empty() {
                return Ok(done);
            }
            let mut lanes: Vec<Vec<OutboxRow>> = (0..SMTP_LANES).map(|_| Vec::new()).collect();
            for row in rows {
                let lane = row
                    .ticket_id
                    .map_or(0, |t| t.unsigned_abs() as usize % SMTP_LANES);
                lanes[lane].push(row);
            }
            let lanes = lanes
                .into_iter()
                .enumerate()
                .map(|(lane, rows)| self.deliver_lane(lane, rows, shutdown));
            let mut stopped = false;
            for outcome in futures::future::join_all(lanes).await {
                let (n, end) = outcome?;
                done.sent += n;
                match end {
                    LaneEnd::Done => {}
                    LaneEnd::Stopped => stopped = true,
                    LaneEnd::Unavailable(e) => {
                        stopped = true;
                        done.unavailable = Some(e);
                    }
                }
            }
            // Again until nothing is due: sending a ticket's mail makes its next one due.
            if stopped {
                return Ok(done);
            }
        }
    }

    /// Sends `rows` in order on lane `lane`'s connection. Returns how many were sent and
    /// how the lane ended.
    async fn deliver_lane(
        self: &Arc<Self>,
        lane: usize,
        rows: Vec<OutboxRow>,
        shutdown: &Shutdown,
    ) -> Result<(usize, LaneEnd)> {
        let policy = RetryPolicy::from(&self.cfg.outbox);
        let mut sent = 0;
        for row in rows {
            if shutdown.is_requested() {
                return Ok((sent, LaneEnd::Stopped));
            }
            beat(&self.beats.outbox);
            let result = self.smtp[lane].send(&row.mail).await;
            let step = next_step(&result, row.attempts, &policy, Utc::now());
            if step == Step::Sent {
                sent += 1;
            }
            let error = result.err().map(error_text).unwrap_or_default();
            if let Some(end) = self.carry_out(&row, step, error).await? {
                return Ok((sent, end));
            }
        }
        Ok((sent, LaneEnd::Done))
    }

    /// Records what `next_step` said of one mail; `Some` when the lane stops here.
    async fn carry_out(
        self: &Arc<Self>,
        row: &OutboxRow,
        step: Step,
        e: String,
    ) -> Result<Option<LaneEnd>> {
        let id = row.id;
        match step {
            Step::Sent => {
                tracing::info!(message_id = %row.mail.message_id, to = %row.mail.recipients.join(","), "mail sent");
                let at = Utc::now();
                if let Err(e) = self.with_store(move |_, s| s.mark_sent(id, at)).await {
                    self.lock_unrecorded().push((id, at));
                    tracing::error!(message_id = %row.mail.message_id, "mail sent but not recorded; it will not be sent again: {e:#}");
                    return Err(e);
                }
                Ok(None)
            }
            Step::Wait => Ok(Some(LaneEnd::Unavailable(e))),
            Step::Refused => {
                tracing::error!(message_id = %row.mail.message_id, "mail refused for good: {e}");
                self.give_up(id, e).await
            }
            Step::Exhausted { attempts } => {
                tracing::error!(message_id = %row.mail.message_id, attempts, "mail given up after its retries: {e}");
                self.give_up(id, e).await
            }
            Step::RetryAt {
                attempts,
                after,
                at,
            } => {
                tracing::warn!(message_id = %row.mail.message_id, attempts, retry_in = ?after, "mail not sent, will retry: {e}");
                self.with_store(move |_, s| s.mark_retry(id, at, &e))
                    .await?;
                Ok(Some(LaneEnd::Stopped))
            }
        }
    }

    async fn give_up(self: &Arc<Self>, id: i64, e: String) -> Result<Option<LaneEnd>> {
        self.with_store(move |_, s| s.mark_failed(id, Utc::now(), &e))
            .await?;
        Ok(None)
    }

    fn lock_unrecorded(&self) -> std::sync::MutexGuard<'_, Vec<(i64, DateTime<Utc>)>> {
        self.unrecorded
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Before exiting: a last try at recording mail sent while the database refused. What
    /// is left will be sent again at the next start (the daemon's memory of it ends here),
    /// and the journal says so, naming the outbox rows.
    pub(super) async fn last_try_unrecorded(self: &Arc<Self>) {
        if let Err(e) = self.record_unrecorded().await {
            let ids: Vec<String> = self
                .lock_unrecorded()
                .iter()
                .map(|(id, _)| id.to_string())
                .collect();
            tracing::error!(
                outbox_ids = %ids.join(","),
                "mail sent but never recorded; it will be sent again at the next start: {e:#}"
            );
        }
    }

    /// Records the sends the database refused before; an error while any is left.
    async fn record_unrecorded(self: &Arc<Self>) -> Result<()> {
        let pending = self.lock_unrecorded().clone();
        if pending.is_empty() {
            return Ok(());
        }
        let (left, error) = self
            .with_store(move |_, s| {
                let mut left = Vec::new();
                let mut error = None;
                for (id, at) in pending {
                    if let Err(e) = s.mark_sent(id, at) {
                        left.push((id, at));
                        error = Some(e);
                    }
                }
                Ok((left, error))
            })
            .await?;
        *self.lock_unrecorded() = left;
        match error {
            None => {
                tracing::info!("mail sent earlier is recorded now");
                Ok(())
            }
            Some(e) => {
                Err(e.context("recording mail already sent; nothing more is sent until it is"))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 4,
            initial: Duration::from_secs(5),
            max: Duration::from_secs(12),
        }
    }

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_773_133_200 + secs, 0).expect("time")
    }

    fn transient() -> Result<(), SendError> {
        Err(SendError::Transient("451 4.3.0 try again later".into()))
    }

    #[test]
    fn a_mail_the_server_took_is_sent_whatever_its_attempts() {
        assert_eq!(next_step(&Ok(()), 0, &policy(), at(0)), Step::Sent);
        assert_eq!(next_step(&Ok(()), 3, &policy(), at(0)), Step::Sent);
    }

    #[test]
    fn a_server_away_makes_the_mail_wait_without_counting_an_attempt() {
        let away = Err(SendError::Unavailable("connection refused".into()));
        assert_eq!(next_step(&away, 0, &policy(), at(0)), Step::Wait);
        // However many attempts failed before: it is not this mail's fault.
        assert_eq!(next_step(&away, 3, &policy(), at(0)), Step::Wait);
    }

    #[test]
    fn a_mail_refused_for_good_is_given_up_at_the_first_attempt() {
        let refused = Err(SendError::Permanent("550 5.1.1 no such user".into()));
        assert_eq!(next_step(&refused, 0, &policy(), at(0)), Step::Refused);
    }

    #[test]
    fn a_transient_failure_is_retried_after_a_doubling_wait_up_to_the_cap() {
        let s = Duration::from_secs;
        let retry = |attempts| next_step(&transient(), attempts, &policy(), at(0));
        assert_eq!(
            retry(0),
            Step::RetryAt {
                attempts: 1,
                after: s(5),
                at: at(5)
            }
        );
        assert_eq!(
            retry(1),
            Step::RetryAt {
                attempts: 2,
                after: s(10),
                at: at(10)
            }
        );
        assert_eq!(
            retry(2),
            Step::RetryAt {
                attempts: 3,
                after: s(12),
                at: at(12)
            }
        );
    }

    #[test]
    fn the_last_allowed_attempt_failing_for_now_gives_the_mail_up() {
        assert_eq!(
            next_step(&transient(), 3, &policy(), at(0)),
            Step::Exhausted { attempts: 4 }
        );
        // Never a retry past the limit, even with a count from an older, larger limit.
        assert_eq!(
            next_step(&transient(), 40, &policy(), at(0)),
            Step::Exhausted { attempts: 41 }
        );
        let once = RetryPolicy {
            max_attempts: 1,
            ..policy()
        };
        assert_eq!(
            next_step(&transient(), 0, &once, at(0)),
            Step::Exhausted { attempts: 1 }
        );
    }

    #[test]
    fn a_retry_time_past_the_calendar_is_clamped_not_a_panic() {
        let huge = RetryPolicy {
            max_attempts: 10,
            initial: Duration::from_secs(u64::MAX / 4),
            max: Duration::from_secs(u64::MAX / 2),
        };
        assert!(matches!(
            next_step(&transient(), 0, &huge, at(0)),
            Step::RetryAt { at, .. } if at == DateTime::<Utc>::MAX_UTC
        ));
    }
}
