//! The intake task: IMAP → pipeline → IMAP move. It connects (again, with backoff, when
//! the session is lost), handles what is in the mailbox, then waits with IDLE where the
//! server has it, or polls. Messages are fetched in batches bounded in bytes and count,
//! handled on the blocking pool a few at a time in one group commit (each message in its
//! own savepoint, so one that fails never undoes the others: one fsync for the group),
//! and moved to their folder only once that commit is durable.
//!
//! A message that fails stays in the mailbox and is tried again soon while the failure
//! may pass (`failure::Kind::Transient`), for up to `intake.give_up_after_secs`; one that
//! cannot pass, or has failed for longer, is set aside in Quarantine with its reason and
//! the queue told. With no message waiting to be tried again, intake goes back to IDLE.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, Context, Result};
use chrono::{DateTime, Utc};

use crate::core::decision::Folder;
use crate::failure::{self, Failure};
use crate::mail::imap::{Fetched, Imap, Meta, Woken};
use crate::pipeline::{Handled, Pipeline};
use crate::store::{InboundSource, Store};

use super::backoff::Backoff;
use super::{beat, Daemon, Shutdown};

/// Most bytes fetched in one IMAP round trip: keeps memory flat however large the backlog.
const BATCH_BYTES: u64 = 8 * 1024 * 1024;
/// Most messages fetched in one round trip.
const BATCH_MESSAGES: usize = 200;
/// Most messages recorded in one group commit (one fsync). Small enough that the outbox,
/// which waits for the store while a group is made, is held up some 15 ms at most.
const GROUP: usize = 16;
/// An IDLE is ended and the mailbox looked at again this often even when nothing
/// happened: well inside RFC 2177's 29 minutes, and a cheap check that all is well.
const IDLE_RENEW: Duration = Duration::from_secs(10 * 60);
/// While requests are arriving, the mailbox is asked with NOOP this often, until
/// `BURST_WATCH` has passed since the last pass that found mail; then intake goes back to
/// IDLE. Dovecot sends its IDLE notice 0.5 s after a delivery (its NOTIFY_DELAY_MSECS),
/// but answers a NOOP at once: a burst's second and later requests are seen within
/// `BURST_POLL`. It costs the server at most 20 NOOPs after each burst, none while idle.
const BURST_POLL: Duration = Duration::from_millis(100);
const BURST_WATCH: Duration = Duration::from_secs(2);
/// Messages left in the mailbox because they failed for now are tried again after this
/// long (or the poll interval, if shorter).
const RETRY_FAILED: Duration = Duration::from_secs(30);

/// Counts from one pass over the mailbox.
#[derive(Clone, Copy, Debug, Default)]
pub struct PassStats {
    pub handled: usize,
    pub duplicates: usize,
    /// Left in the mailbox after a failure that may pass: to be tried again.
    pub failed: usize,
    /// Set aside in Quarantine after a failure that will not pass (or lasted too long).
    pub set_aside: usize,
}

/// What became of one fetched message.
enum Attempt {
    /// Handled, found handled before, or set aside: it owes a move.
    Done(Handled),
    /// Left in the mailbox, to be tried again; `new` the first time it failed.
    Retry { failure: Failure, new: bool },
}

/// How a session with the IMAP server ended.
enum SessionEnd {
    /// Shutdown: logged out.
    Stopped,
    /// The connection is gone: make a new one.
    Lost,
}

/// The moves a batch owes: per folder, the UIDs and their inbound rows.
type Moves<'a> = BTreeMap<&'a str, (Vec<u32>, Vec<i64>)>;

impl Daemon {
    pub(super) async fn connect_imap(self: &Arc<Self>) -> Result<Imap> {
        let mut imap = Imap::connect(&self.cfg.imap).await?;
        let f = &self.cfg.imap.folders;
        imap.ensure_folders(&[&f.processed, &f.rejected, &f.quarantine])
            .await?;
        Ok(imap)
    }

    /// Records a successful look at the mailbox, for `assistenza status`.
    pub(super) async fn record_pass(self: &Arc<Self>, mode: &'static str) {
        let now = Utc::now();
        let result = self.with_store(move |_, s| s.record_poll(now, mode)).await;
        let failed_before = self
            .pass_unrecorded
            .swap(result.is_err(), Ordering::Relaxed);
        if let Err(e) = result {
            if !failed_before {
                tracing::warn!("could not record the mailbox pass: {e:#}");
            }
        }
    }

    /// Connects, then runs a session until shutdown. A lost connection is re-made with
    /// capped exponential backoff; each change of state is logged once, not each try.
    pub(super) async fn intake_loop(self: Arc<Self>, shutdown: Shutdown) {
        let mut backoff = Backoff::new(Duration::from_secs(1), Duration::from_secs(60));
        let mut connected_once = false;
        // When the last session was lost, so that its return is said as plainly.
        let mut lost_at: Option<std::time::Instant> = None;
        while !shutdown.is_requested() {
            beat(&self.beats.intake);
            match self.connect_imap().await {
                Ok(imap) => {
                    if let Some(at) = lost_at.take() {
                        tracing::info!(
                            host = %self.cfg.imap.host,
                            after = ?at.elapsed(),
                            "IMAP session back"
                        );
                    } else if backoff.failures > 0 || !connected_once {
                        tracing::info!(host = %self.cfg.imap.host, "IMAP connected");
                    }
                    connected_once = true;
                    backoff.reset();
                    self.imap_connected.notify_one();
                    match self.session(imap, &shutdown).await {
                        SessionEnd::Stopped => return,
                        SessionEnd::Lost => lost_at = Some(std::time::Instant::now()),
                    }
                }
                Err(e) => {
                    if backoff.failures == 0 {
                        tracing::warn!("IMAP connection failed, retrying with backoff: {e:#}");
                    }
                    if shutdown.sleep(backoff.next()).await {
                        return;
                    }
                }
            }
        }
    }

    /// Handles what is in the mailbox, then waits for more (IDLE, or the poll interval)
    /// and handles it, until shutdown or until the connection is lost.
    async fn session(self: &Arc<Self>, mut imap: Imap, shutdown: &Shutdown) -> SessionEnd {
        let idle = self.cfg.imap.idle && imap.has_idle();
        let mode = if idle { "idle" } else { "poll" };
        if self.cfg.imap.idle && !idle {
            tracing::warn!(
                every = ?self.cfg.imap.poll_interval,
                "the IMAP server does not offer IDLE: polling instead"
            );
        }
        // Until when the mailbox is watched with NOOP: `BURST_WATCH` after the last pass
        // that found mail. A pass that finds none (woken by a report of a message the
        // pass before had already taken) does not end the watch.
        let mut watch_until = None;
        loop {
            beat(&self.beats.intake);
            let stats = match self.intake_pass(&mut imap, shutdown).await {
                Ok(stats) => stats,
                Err(e) => {
                    tracing::warn!("IMAP session lost, reconnecting: {e:#}");
                    return SessionEnd::Lost;
                }
            };
            self.record_pass(mode).await;
            if stats.found() {
                watch_until = Some(tokio::time::Instant::now() + BURST_WATCH);
            }
            if stats.found() || stats.failed > 0 {
                stats.log();
            }
            if shutdown.is_requested() {
                imap.logout().await;
                return SessionEnd::Stopped;
            }
            // Mail that arrived during the pass: look again before waiting.
            if imap.new_mail_reported() {
                continue;
            }
            imap = match self
                .wait_for_mail(imap, idle, &stats, watch_until, shutdown)
                .await
            {
                Ok(imap) => imap,
                Err(end) => return end,
            };
        }
    }

    /// While a burst may go on: NOOP every `BURST_POLL` until `until`; true as soon as
    /// the server reports more, false when the burst seems over.
    async fn watch_burst(
        &self,
        mut imap: Imap,
        until: tokio::time::Instant,
        shutdown: &Shutdown,
    ) -> Result<(Imap, bool), SessionEnd> {
        while tokio::time::Instant::now() < until {
            if shutdown.sleep(BURST_POLL).await {
                imap.logout().await;
                return Err(SessionEnd::Stopped);
            }
            match imap.noop().await {
                Ok(true) => return Ok((imap, true)),
                Ok(false) => {}
                Err(e) => {
                    tracing::warn!("IMAP session lost, reconnecting: {e:#}");
                    return Err(SessionEnd::Lost);
                }
            }
        }
        Ok((imap, false))
    }

    /// Waits until the mailbox is worth looking at again: soon while a message waits to
    /// be tried again, within `BURST_POLL` while requests keep coming, else with IDLE,
    /// else for the poll interval.
    async fn wait_for_mail(
        &self,
        imap: Imap,
        idle: bool,
        stats: &PassStats,
        watch_until: Option<tokio::time::Instant>,
        shutdown: &Shutdown,
    ) -> Result<Imap, SessionEnd> {
        let failed = stats.failed;
        let now = tokio::time::Instant::now();
        let imap = match watch_until.filter(|&t| idle && failed == 0 && t > now) {
            Some(until) => match self.watch_burst(imap, until, shutdown).await? {
                (imap, true) => return Ok(imap),
                (imap, false) => imap,
            },
            None => imap,
        };
        // A message that failed for now (the database locked by another process, say)
        // stays in the mailbox: try it again soon, not at the next IDLE wake-up, which may
        // be minutes away. One set aside has left the mailbox: it keeps nobody from IDLE.
        let sleep = if failed > 0 {
            Some(self.cfg.imap.poll_interval.min(RETRY_FAILED))
        } else if !idle {
            Some(self.cfg.imap.poll_interval)
        } else {
            None
        };
        if let Some(wait) = sleep {
            if shutdown.sleep(wait).await {
                imap.logout().await;
                return Err(SessionEnd::Stopped);
            }
            return Ok(imap);
        }
        match imap.idle(IDLE_RENEW, shutdown.requested()).await {
            Ok((session, Woken::Stopped)) => {
                session.logout().await;
                Err(SessionEnd::Stopped)
            }
            Ok((session, Woken::Changed | Woken::Renew)) => Ok(session),
            Err(e) => {
                tracing::warn!("IMAP session lost, reconnecting: {e:#}");
                Err(SessionEnd::Lost)
            }
        }
    }

    /// One pass over the mailbox: every message is handled (or found handled before) and
    /// moved to its folder. When shutdown is asked it stops after the message in hand;
    /// messages not handled stay in the mailbox for the next start.
    pub async fn intake_pass(
        self: &Arc<Self>,
        imap: &mut Imap,
        shutdown: &Shutdown,
    ) -> Result<PassStats> {
        let mailbox = self.cfg.imap.mailbox.clone();
        let (uidvalidity, exists) = imap.select(&mailbox).await?;
        let mut stats = PassStats::default();
        if exists == 0 {
            self.lock_failing().clear();
            return Ok(stats);
        }
        let metas = imap.list().await?;
        self.forget_vanished(uidvalidity, &metas);
        for batch in batches(&metas, self.cfg.intake.max_message_bytes) {
            if shutdown.is_requested() {
                break;
            }
            beat(&self.beats.intake);
            self.pass_batch(imap, uidvalidity, &batch, shutdown, &mut stats)
                .await?;
        }
        Ok(stats)
    }

    /// Forgets the failures of messages no longer here (deleted or moved by hand).
    fn forget_vanished(&self, uidvalidity: u32, metas: &[Meta]) {
        let mut failing = self.lock_failing();
        if !failing.is_empty() {
            let present: HashSet<u32> = metas.iter().map(|m| m.uid).collect();
            failing.retain(|&(v, uid), _| v == uidvalidity && present.contains(&uid));
        }
    }

    /// Fetches one batch, handles it on the blocking pool and moves what was handled.
    async fn pass_batch(
        self: &Arc<Self>,
        imap: &mut Imap,
        uidvalidity: u32,
        batch: &[Meta],
        shutdown: &Shutdown,
        stats: &mut PassStats,
    ) -> Result<()> {
        let limit = self.cfg.intake.max_message_bytes;
        let (small, large): (Vec<&Meta>, Vec<&Meta>) = batch.iter().partition(|m| m.size <= limit);
        let uids = |v: &[&Meta]| v.iter().map(|m| m.uid).collect::<Vec<_>>();
        let mut fetched = imap.fetch(&uids(&small), false).await?;
        fetched.extend(imap.fetch(&uids(&large), true).await?);
        let mailbox = self.cfg.imap.mailbox.clone();
        let (me, stop) = (Arc::clone(self), shutdown.clone());
        let results = tokio::task::spawn_blocking(move || {
            me.handle_batch(&mailbox, uidvalidity, fetched, &stop)
        })
        .await
        .context("intake task panicked")??;
        let mut moves = Moves::new();
        for (uid, attempt) in results {
            self.tally(uidvalidity, uid, attempt, stats, &mut moves);
        }
        self.scheduler_wake.notify_one();
        for (folder, (uids, ids)) in moves {
            imap.move_to(&uids, folder).await?;
            self.with_store(move |_, s| s.mark_moved(&ids, Utc::now()))
                .await?;
        }
        Ok(())
    }

    /// Logs and counts what became of one message, and notes the move it owes.
    fn tally<'a>(
        &'a self,
        uidvalidity: u32,
        uid: u32,
        attempt: Attempt,
        stats: &mut PassStats,
        moves: &mut Moves<'a>,
    ) {
        let handled = match attempt {
            Attempt::Done(handled) => handled,
            Attempt::Retry { failure, new } => {
                stats.failed += 1;
                if new {
                    tracing::error!(uid, "message left in the mailbox, will retry: {failure}");
                } else {
                    tracing::debug!(uid, "message left in the mailbox again: {failure}");
                }
                return;
            }
        };
        let failed_before = self.lock_failing().remove(&(uidvalidity, uid)).is_some();
        match &handled {
            Handled::Recorded {
                outcome,
                sender,
                warning,
                ..
            } => {
                stats.handled += 1;
                if failed_before {
                    tracing::info!(uid, "message handled after all");
                }
                if let Some(w) = warning {
                    tracing::warn!(uid, "{w}");
                }
                let sender = sender.as_deref().unwrap_or("-");
                tracing::info!(uid, sender, "{outcome}");
            }
            Handled::Duplicate(_) => {
                stats.duplicates += 1;
                if failed_before {
                    tracing::info!(uid, "message handled after all");
                }
            }
            Handled::SetAside { reason, .. } => {
                stats.set_aside += 1;
                tracing::error!(uid, "message set aside in quarantine: {reason}");
            }
        }
        let entry = moves.entry(self.folder_name(handled.folder())).or_default();
        entry.0.push(uid);
        entry.1.push(handled.inbound_id());
    }

    /// Handles one message outside IMAP (`process`), on the blocking pool.
    pub async fn handle_one(
        self: &Arc<Self>,
        source: InboundSource,
        raw: Vec<u8>,
        now: chrono::DateTime<Utc>,
    ) -> Result<Handled> {
        let size = raw.len() as u64;
        self.with_store(move |d, store| {
            let handled = d.pipeline().handle(store, &source, &raw, size, now, now);
            handled.map_err(|failure| failure.error)
        })
        .await
    }

    /// Handles fetched messages in order, `GROUP` at a time in one group commit (each
    /// message in its own savepoint), stopping early (after the message in hand) when
    /// shutdown is asked. The store is locked per group, not per batch, so the outbox can
    /// record its sends in between; it is woken after each group's commit.
    fn handle_batch(
        &self,
        mailbox: &str,
        uidvalidity: u32,
        fetched: Vec<Fetched>,
        shutdown: &Shutdown,
    ) -> Result<Vec<(u32, Attempt)>> {
        let mut results = Vec::with_capacity(fetched.len());
        let mut rest = fetched.as_slice();
        while !rest.is_empty() && !shutdown.is_requested() {
            let mut store = self
                .store
                .lock()
                .map_err(|_| anyhow!("store lock poisoned"))?;
            let group = &rest[..GROUP.min(rest.len())];
            let done = match self.handle_group(&mut store, mailbox, uidvalidity, group, shutdown) {
                Some(done) => done,
                // The group could not be committed: nothing of it was kept. Each message
                // again in its own transaction, so one that breaks the commit is alone.
                None => group
                    .iter()
                    .take_while(|_| !shutdown.is_requested())
                    .map(|f| self.handle_alone(&mut store, mailbox, uidvalidity, f))
                    .collect::<Vec<_>>(),
            };
            drop(store);
            rest = &rest[done.len().min(rest.len())..];
            results.extend(done);
            self.outbox_wake.notify_one();
        }
        Ok(results)
    }

    /// One group commit: every message in its own savepoint, then one commit, so one
    /// message failing never undoes the others. None when the commit failed or SQLite
    /// rolled the whole transaction back: nothing of the group was kept.
    fn handle_group(
        &self,
        store: &mut Store,
        mailbox: &str,
        uidvalidity: u32,
        group: &[Fetched],
        shutdown: &Shutdown,
    ) -> Option<Vec<(u32, Attempt)>> {
        if group.len() < 2 {
            return None;
        }
        store.begin_group().ok()?;
        let mut done = Vec::with_capacity(group.len());
        for f in group {
            if shutdown.is_requested() {
                break;
            }
            done.push(self.handle_alone(store, mailbox, uidvalidity, f));
            if !store.group_intact() {
                let _ = store.commit_group();
                return None;
            }
        }
        store.commit_group().ok()?;
        Some(done)
    }

    /// Handles one fetched message: in its own transaction, or its own savepoint of the
    /// group commit open on `store`.
    fn handle_alone(
        &self,
        store: &mut Store,
        mailbox: &str,
        uidvalidity: u32,
        f: &Fetched,
    ) -> (u32, Attempt) {
        let pipeline = self.pipeline();
        let uid = f.meta.uid;
        let source = InboundSource::Imap {
            mailbox: mailbox.to_string(),
            uidvalidity,
            uid,
        };
        let (raw, size, received_at) = (&f.raw, f.meta.size, f.meta.received_at);
        let attempt = match pipeline.handle(store, &source, raw, size, received_at, Utc::now()) {
            Ok(handled) => Attempt::Done(handled),
            Err(failure) => {
                let key = (uidvalidity, uid);
                self.after_failure(&pipeline, store, &source, key, f, failure)
            }
        };
        (uid, attempt)
    }

    /// A message `handle` failed on: tried again later while the failure may pass and
    /// has not lasted `intake.give_up_after_secs`; else set aside, in the same hold of
    /// the store (and left for the next pass should even that fail).
    fn after_failure(
        &self,
        pipeline: &Pipeline,
        store: &mut Store,
        source: &InboundSource,
        key: (u32, u32),
        f: &Fetched,
        failure: Failure,
    ) -> Attempt {
        let now = Utc::now();
        let (first, new) = self.first_failure(key, now);
        let give_up_after = self.cfg.intake.give_up_after;
        if !failure::gives_up(failure.kind, first, now, give_up_after) {
            return Attempt::Retry { failure, new };
        }
        let reason = failure.reason(first, now);
        let message = (f.raw.as_slice(), f.meta.size, f.meta.received_at);
        let folder = &self.cfg.imap.folders.quarantine;
        match pipeline.set_aside(store, source, message, now, &reason, folder) {
            Ok(handled) => Attempt::Done(handled),
            Err(e) => Attempt::Retry {
                failure: Failure::from(e.context(format!("setting it aside ({reason})"))),
                new,
            },
        }
    }

    /// When the message `key` first failed (now, if this is the first time), and whether
    /// this is the first time.
    fn first_failure(&self, key: (u32, u32), now: DateTime<Utc>) -> (DateTime<Utc>, bool) {
        let mut failing = self.lock_failing();
        match failing.get(&key) {
            Some(&first) => (first, false),
            None => {
                failing.insert(key, now);
                (now, true)
            }
        }
    }

    fn folder_name(&self, folder: Folder) -> &str {
        let f = &self.cfg.imap.folders;
        match folder {
            Folder::Processed => &f.processed,
            Folder::Rejected => &f.rejected,
            Folder::Quarantine => &f.quarantine,
        }
    }

    fn lock_failing(&self) -> std::sync::MutexGuard<'_, HashMap<(u32, u32), DateTime<Utc>>> {
        self.failing
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl PassStats {
    /// The pass took mail out of the mailbox (handled, found handled before, set aside).
    pub(super) fn found(&self) -> bool {
        self.handled + self.duplicates + self.set_aside > 0
    }

    pub(super) fn log(&self) {
        tracing::info!(
            handled = self.handled,
            duplicates = self.duplicates,
            failed = self.failed,
            set_aside = self.set_aside,
            "mailbox pass done"
        );
    }
}

/// Splits the mailbox into fetch batches bounded in bytes and count. A message over the
/// size limit counts only as its header would. Here rather than beside `Backoff`: it is
/// intake's memory bound, and only intake fetches.
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

#[cfg(test)]
mod tests {
    use super::*;

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
