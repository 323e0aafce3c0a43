//! The running daemon: an intake task (IMAP → pipeline → IMAP move), a scheduler task
//! (ticket deadlines → pipeline) and an outbox task (SQLite → SMTP), stopped together by
//! one shutdown signal. SQLite work runs on the blocking pool so the async threads never
//! wait on the disk.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{anyhow, Context, Result};
use chrono::Utc;
use tokio::sync::{watch, Notify};

use crate::config::Config;
use crate::core::decide::Folder;
use crate::mail::imap::{Fetched, Imap, Meta};
use crate::mail::smtp::{SendError, Smtp};
use crate::pipeline::{Handled, Pipeline};
use crate::store::{InboundSource, Store};

/// Most bytes fetched in one IMAP round trip: keeps memory flat however large the backlog.
const BATCH_BYTES: u64 = 8 * 1024 * 1024;
/// Most messages fetched in one round trip.
const BATCH_MESSAGES: usize = 200;
/// Most outbox rows read at once.
const OUTBOX_BATCH: usize = 100;
/// Most due tickets handled in one scheduler round.
const DEADLINE_BATCH: usize = 100;
/// The scheduler looks again at least this often, whatever the next deadline: intake may
/// have created an earlier one meanwhile (it also wakes the scheduler when it does).
const SCHEDULER_MAX_SLEEP: Duration = Duration::from_secs(60);

/// What the tasks share.
pub struct Daemon {
    cfg: Config,
    pipeline: Pipeline,
    /// std Mutex: held only inside blocking tasks, never across an await.
    store: Arc<Mutex<Store>>,
    smtp: Smtp,
    /// Wakes the outbox when intake or the scheduler has queued mail.
    outbox_wake: Notify,
    /// Wakes the scheduler when intake may have set a new deadline.
    scheduler_wake: Notify,
}

/// Counts from one pass over the mailbox.
#[derive(Clone, Copy, Debug, Default)]
pub struct PassStats {
    pub handled: usize,
    pub duplicates: usize,
    pub failed: usize,
}

impl Daemon {
    pub fn new(cfg: Config) -> Result<Arc<Daemon>> {
        let pipeline = Pipeline::new(&cfg)?;
        let store = Store::open(&cfg.store.path)?;
        let smtp = Smtp::new(&cfg.smtp)?;
        Ok(Arc::new(Daemon {
            cfg,
            pipeline,
            store: Arc::new(Mutex::new(store)),
            smtp,
            outbox_wake: Notify::new(),
            scheduler_wake: Notify::new(),
        }))
    }

    /// Runs the store closure on the blocking pool.
    async fn with_store<T: Send + 'static>(
        self: &Arc<Self>,
        f: impl FnOnce(&Daemon, &mut Store) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let me = Arc::clone(self);
        tokio::task::spawn_blocking(move || {
            let mut store = me
                .store
                .lock()
                .map_err(|_| anyhow!("store lock poisoned"))?;
            f(&me, &mut store)
        })
        .await
        .context("store task panicked")?
    }

    /// `run --once`: one pass over the mailbox, then deliver the outbox until it is empty
    /// or the retry budget (`outbox.once_timeout`) is spent.
    pub async fn run_once(self: &Arc<Self>) -> Result<()> {
        let mut imap = self.connect_imap().await?;
        let stats = self.intake_pass(&mut imap, None).await?;
        imap.logout().await;
        tracing::info!(
            handled = stats.handled,
            duplicates = stats.duplicates,
            failed = stats.failed,
            "mailbox pass done"
        );
        self.deadlines_due().await?;
        let deadline = tokio::time::Instant::now() + self.cfg.outbox.once_timeout;
        loop {
            self.deliver_due().await?;
            let next = self.with_store(|_, s| s.next_outbox_due()).await?;
            let Some(next) = next else { break };
            let wait = (next - Utc::now()).to_std().unwrap_or(Duration::ZERO);
            if tokio::time::Instant::now() + wait > deadline {
                let left = self.with_store(|_, s| s.outbox_pending()).await?;
                tracing::warn!(
                    pending = left,
                    "outbox not empty at the end of --once; the daemon will retry"
                );
                break;
            }
            tokio::time::sleep(wait).await;
        }
        Ok(())
    }

    /// The daemon: intake and outbox until `shutdown` turns true.
    pub async fn run(self: &Arc<Self>, shutdown: watch::Receiver<bool>) -> Result<()> {
        let intake = tokio::spawn({
            let me = Arc::clone(self);
            let shutdown = shutdown.clone();
            async move { me.intake_loop(shutdown).await }
        });
        let outbox = tokio::spawn({
            let me = Arc::clone(self);
            let shutdown = shutdown.clone();
            async move { me.outbox_loop(shutdown).await }
        });
        let scheduler = tokio::spawn({
            let me = Arc::clone(self);
            let shutdown = shutdown.clone();
            async move { me.scheduler_loop(shutdown).await }
        });
        let (a, b, c) = tokio::join!(intake, outbox, scheduler);
        a.context("intake task panicked")?;
        b.context("outbox task panicked")?;
        c.context("scheduler task panicked")?;
        Ok(())
    }

    async fn scheduler_loop(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        while !*shutdown.borrow() {
            if let Err(e) = self.deadlines_due().await {
                tracing::error!("scheduler: {e:#}");
            }
            let next = self
                .with_store(|_, s| s.next_deadline())
                .await
                .ok()
                .flatten();
            let wait = until(next, Duration::from_millis(200), SCHEDULER_MAX_SLEEP);
            wait_or_wake(wait, &self.scheduler_wake, &mut shutdown).await;
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
                    .with_store(move |d, s| d.pipeline.deadline(s, id, Utc::now()))
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

    async fn connect_imap(self: &Arc<Self>) -> Result<Imap> {
        let mut imap = Imap::connect(&self.cfg.imap).await?;
        let f = &self.cfg.imap.folders;
        imap.ensure_folders(&[&f.processed, &f.rejected, &f.quarantine])
            .await?;
        Ok(imap)
    }

    async fn intake_loop(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        let mut backoff = Backoff::new(Duration::from_secs(1), Duration::from_secs(60));
        let mut connected_once = false;
        while !*shutdown.borrow() {
            let mut imap = match self.connect_imap().await {
                Ok(imap) => {
                    if backoff.failures > 0 || !connected_once {
                        tracing::info!(host = %self.cfg.imap.host, "IMAP connected");
                    }
                    connected_once = true;
                    backoff.reset();
                    imap
                }
                Err(e) => {
                    if backoff.failures == 0 {
                        tracing::warn!("IMAP connection failed, retrying with backoff: {e:#}");
                    }
                    let wait = backoff.next();
                    if sleep_or_shutdown(wait, &mut shutdown).await {
                        break;
                    }
                    continue;
                }
            };
            loop {
                match self.intake_pass(&mut imap, Some(&shutdown)).await {
                    Ok(stats) if stats.handled + stats.duplicates + stats.failed > 0 => {
                        tracing::info!(
                            handled = stats.handled,
                            duplicates = stats.duplicates,
                            failed = stats.failed,
                            "mailbox pass done"
                        );
                    }
                    Ok(_) => {}
                    Err(e) => {
                        tracing::warn!("IMAP session lost, reconnecting: {e:#}");
                        break;
                    }
                }
                if sleep_or_shutdown(self.cfg.imap.poll_interval, &mut shutdown).await {
                    imap.logout().await;
                    return;
                }
            }
        }
    }

    /// One pass over the mailbox: every message is handled (or found handled before) and
    /// moved to its folder. Stops between batches when shutdown is asked.
    pub async fn intake_pass(
        self: &Arc<Self>,
        imap: &mut Imap,
        shutdown: Option<&watch::Receiver<bool>>,
    ) -> Result<PassStats> {
        let mailbox = self.cfg.imap.mailbox.clone();
        let (uidvalidity, exists) = imap.select(&mailbox).await?;
        let mut stats = PassStats::default();
        if exists == 0 {
            return Ok(stats);
        }
        let metas = imap.list().await?;
        let limit = self.cfg.intake.max_message_bytes;
        for batch in batches(&metas, limit) {
            if shutdown.is_some_and(|s| *s.borrow()) {
                break;
            }
            let (small, large): (Vec<&Meta>, Vec<&Meta>) =
                batch.iter().partition(|m| m.size <= limit);
            let mut fetched = imap
                .fetch(&small.iter().map(|m| m.uid).collect::<Vec<_>>(), false)
                .await?;
            fetched.extend(
                imap.fetch(&large.iter().map(|m| m.uid).collect::<Vec<_>>(), true)
                    .await?,
            );
            let mb = mailbox.clone();
            let results = self
                .with_store(move |d, store| Ok(d.handle_batch(store, &mb, uidvalidity, fetched)))
                .await?;
            let mut moves: BTreeMap<&str, (Vec<u32>, Vec<i64>)> = BTreeMap::new();
            for (uid, result) in results {
                match result {
                    Ok(handled) => {
                        match &handled {
                            Handled::Recorded {
                                outcome,
                                sender,
                                warning,
                                ..
                            } => {
                                stats.handled += 1;
                                if let Some(w) = warning {
                                    tracing::warn!(uid, "{w}");
                                }
                                tracing::info!(
                                    uid,
                                    sender = sender.as_deref().unwrap_or("-"),
                                    "{outcome}"
                                );
                            }
                            Handled::Duplicate(_) => stats.duplicates += 1,
                        }
                        let entry = moves.entry(self.folder_name(handled.folder())).or_default();
                        entry.0.push(uid);
                        entry.1.push(handled.inbound_id());
                    }
                    Err(e) => {
                        stats.failed += 1;
                        tracing::error!(uid, "message left in the mailbox, will retry: {e:#}");
                    }
                }
            }
            self.outbox_wake.notify_one();
            self.scheduler_wake.notify_one();
            for (folder, (uids, ids)) in moves {
                imap.move_to(&uids, folder).await?;
                self.with_store(move |_, s| s.mark_moved(&ids, Utc::now()))
                    .await?;
            }
        }
        Ok(stats)
    }

    /// Handles one message outside IMAP (`process`), on the blocking pool.
    pub async fn handle_one(
        self: &Arc<Self>,
        source: InboundSource,
        raw: Vec<u8>,
        now: chrono::DateTime<Utc>,
    ) -> Result<Handled> {
        let size = raw.len() as u64;
        self.with_store(move |d, store| d.pipeline.handle(store, &source, &raw, size, now, now))
            .await
    }

    fn handle_batch(
        &self,
        store: &mut Store,
        mailbox: &str,
        uidvalidity: u32,
        fetched: Vec<Fetched>,
    ) -> Vec<(u32, Result<Handled>)> {
        fetched
            .into_iter()
            .map(|f| {
                let source = InboundSource::Imap {
                    mailbox: mailbox.to_string(),
                    uidvalidity,
                    uid: f.meta.uid,
                };
                let result = self.pipeline.handle(
                    store,
                    &source,
                    &f.raw,
                    f.meta.size,
                    f.meta.received_at,
                    Utc::now(),
                );
                (f.meta.uid, result)
            })
            .collect()
    }

    fn folder_name(&self, folder: Folder) -> &str {
        let f = &self.cfg.imap.folders;
        match folder {
            Folder::Processed => &f.processed,
            Folder::Rejected => &f.rejected,
            Folder::Quarantine => &f.quarantine,
        }
    }

    async fn outbox_loop(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        while !*shutdown.borrow() {
            if let Err(e) = self.deliver_due().await {
                tracing::error!("outbox: {e:#}");
            }
            let next = self
                .with_store(|_, s| s.next_outbox_due())
                .await
                .ok()
                .flatten();
            let wait = until(next, Duration::from_millis(50), Duration::from_secs(60));
            wait_or_wake(wait, &self.outbox_wake, &mut shutdown).await;
        }
    }

    /// Sends every due mail; stops at the first transient error (the server is likely
    /// down, so the rest would fail the same way) after scheduling that mail's retry.
    pub async fn deliver_due(self: &Arc<Self>) -> Result<usize> {
        let mut sent = 0;
        loop {
            let rows = self
                .with_store(|_, s| s.due_outbox(Utc::now(), OUTBOX_BATCH))
                .await?;
            if rows.is_empty() {
                return Ok(sent);
            }
            let full = rows.len() == OUTBOX_BATCH;
            for row in rows {
                let id = row.id;
                match self.smtp.send(&row).await {
                    Ok(()) => {
                        sent += 1;
                        tracing::info!(message_id = %row.message_id, to = %row.recipients.join(","), "mail sent");
                        self.with_store(move |_, s| s.mark_sent(id, Utc::now()))
                            .await?;
                    }
                    Err(SendError::Permanent(e)) => {
                        tracing::error!(message_id = %row.message_id, "mail refused for good: {e}");
                        self.with_store(move |_, s| s.mark_failed(id, Utc::now(), &e))
                            .await?;
                    }
                    Err(SendError::Transient(e)) => {
                        let attempts = row.attempts + 1;
                        if attempts >= self.cfg.outbox.max_attempts {
                            tracing::error!(message_id = %row.message_id, attempts, "mail given up after its retries: {e}");
                            self.with_store(move |_, s| s.mark_failed(id, Utc::now(), &e))
                                .await?;
                        } else {
                            let wait = retry_delay(
                                attempts,
                                self.cfg.outbox.backoff_initial,
                                self.cfg.outbox.backoff_max,
                            );
                            tracing::warn!(message_id = %row.message_id, attempts, retry_in = ?wait, "mail not sent, will retry: {e}");
                            let next = Utc::now()
                                + chrono::Duration::from_std(wait).unwrap_or(chrono::Duration::MAX);
                            self.with_store(move |_, s| s.mark_retry(id, next, &e))
                                .await?;
                            return Ok(sent);
                        }
                    }
                }
            }
            if !full {
                return Ok(sent);
            }
        }
    }
}

/// Exponential: `initial × 2^(attempts-1)`, capped at `max`.
fn retry_delay(attempts: u32, initial: Duration, max: Duration) -> Duration {
    let factor = 2u32.saturating_pow(attempts.saturating_sub(1));
    initial.saturating_mul(factor).min(max)
}

/// Splits the mailbox into fetch batches bounded in bytes and count. A message over the
/// size limit counts only as its header would.
fn batches(metas: &[Meta], limit: u64) -> Vec<Vec<Meta>> {
    let mut out: Vec<Vec<Meta>> = Vec::new();
    let mut bytes = 0u64;
    for m in metas {
        let cost = if m.size > limit { 64 * 1024 } else { m.size };
        let start_new = match out.last() {
            None => true,
            Some(b) => b.len() >= BATCH_MESSAGES || bytes + cost > BATCH_BYTES,
        };
        if start_new {
            out.push(Vec::new());
            bytes = 0;
        }
        bytes += cost;
        if let Some(b) = out.last_mut() {
            b.push(*m);
        }
    }
    out
}

/// Capped exponential backoff with jitter for reconnects.
struct Backoff {
    initial: Duration,
    max: Duration,
    failures: u32,
}

impl Backoff {
    fn new(initial: Duration, max: Duration) -> Backoff {
        Backoff {
            initial,
            max,
            failures: 0,
        }
    }
    fn reset(&mut self) {
        self.failures = 0;
    }
    fn next(&mut self) -> Duration {
        self.failures += 1;
        let base = retry_delay(self.failures, self.initial, self.max);
        // Jitter from the clock's sub-second part: enough to keep several daemons apart,
        // without pulling in a random number generator.
        let jitter_ms =
            u64::from(Utc::now().timestamp_subsec_millis()) % (base.as_millis() as u64 / 4 + 1);
        base + Duration::from_millis(jitter_ms)
    }
}

/// How long to sleep until `next` (now if past), kept within `min..=max`; `max` when
/// nothing is due.
fn until(next: Option<chrono::DateTime<Utc>>, min: Duration, max: Duration) -> Duration {
    next.map(|at| (at - Utc::now()).to_std().unwrap_or(Duration::ZERO))
        .unwrap_or(max)
        .clamp(min, max)
}

/// Sleeps for `wait`, or less when another task has work for us or shutdown is asked.
async fn wait_or_wake(wait: Duration, wake: &Notify, shutdown: &mut watch::Receiver<bool>) {
    tokio::select! {
        _ = wake.notified() => {}
        _ = tokio::time::sleep(wait) => {}
        _ = shutdown.changed() => {}
    }
}

/// Sleeps; true when shutdown was asked meanwhile.
async fn sleep_or_shutdown(d: Duration, shutdown: &mut watch::Receiver<bool>) -> bool {
    tokio::select! {
        _ = tokio::time::sleep(d) => *shutdown.borrow(),
        _ = shutdown.changed() => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sleep_until_the_next_deadline_within_bounds() {
        let (min, max) = (Duration::from_millis(50), Duration::from_secs(60));
        assert_eq!(until(None, min, max), max);
        let past = Utc::now() - chrono::Duration::seconds(5);
        assert_eq!(until(Some(past), min, max), min);
        let far = Utc::now() + chrono::Duration::hours(3);
        assert_eq!(until(Some(far), min, max), max);
        let soon = until(Some(Utc::now() + chrono::Duration::seconds(10)), min, max);
        assert!(soon > Duration::from_secs(9) && soon <= Duration::from_secs(10));
    }

    #[test]
    fn retry_delay_doubles_up_to_the_cap() {
        let s = Duration::from_secs;
        assert_eq!(retry_delay(1, s(5), s(3600)), s(5));
        assert_eq!(retry_delay(2, s(5), s(3600)), s(10));
        assert_eq!(retry_delay(5, s(5), s(3600)), s(80));
        assert_eq!(retry_delay(40, s(5), s(3600)), s(3600));
    }

    #[test]
    fn batches_are_bounded_in_bytes_and_count() {
        let at = Utc::now();
        let metas: Vec<Meta> = (1..=450)
            .map(|uid| Meta {
                uid,
                size: 3 * 1024 * 1024,
                received_at: at,
            })
            .collect();
        let b = batches(&metas, 20 * 1024 * 1024);
        assert!(b
            .iter()
            .all(|x| x.iter().map(|m| m.size).sum::<u64>() <= BATCH_BYTES));
        assert_eq!(b.iter().map(Vec::len).sum::<usize>(), 450);
        let small: Vec<Meta> = (1..=450)
            .map(|uid| Meta {
                uid,
                size: 2000,
                received_at: at,
            })
            .collect();
        let b = batches(&small, 20 * 1024 * 1024);
        assert_eq!(b.len(), 3);
    }

    #[test]
    fn an_oversized_message_still_gets_a_batch_of_its_own() {
        let at = Utc::now();
        let metas = vec![Meta {
            uid: 1,
            size: 50 * 1024 * 1024,
            received_at: at,
        }];
        assert_eq!(batches(&metas, 20 * 1024 * 1024).len(), 1);
    }
}
