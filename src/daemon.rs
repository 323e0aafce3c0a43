//! The running daemon: an intake task (IMAP → pipeline → IMAP move), a scheduler task
//! (ticket deadlines → pipeline) and an outbox task (SQLite → SMTP), stopped together by
//! one shutdown signal. SQLite work runs on the blocking pool so the async threads never
//! wait on the disk. Intake waits with IMAP IDLE where the server has it, and polls
//! otherwise; every task reconnects or retries on its own, and tells systemd it is alive.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use anyhow::{anyhow, Context, Result};
use chrono::Utc;
use tokio::sync::{watch, Notify};

use crate::config::Config;
use crate::core::decision::Folder;
use crate::mail::imap::{Fetched, Imap, Meta, Woken};
use crate::mail::smtp::{SendError, Smtp};
use crate::pipeline::{Handled, Pipeline};
use crate::store::{InboundSource, OutboxRow, Store};
use crate::systemd;

/// Most bytes fetched in one IMAP round trip: keeps memory flat however large the backlog.
const BATCH_BYTES: u64 = 8 * 1024 * 1024;
/// Most messages fetched in one round trip.
const BATCH_MESSAGES: usize = 200;
/// Most outbox rows read at once.
const OUTBOX_BATCH: usize = 100;
/// SMTP connections the outbox sends on at once. All mail of one ticket goes on the same
/// connection, in order; two keep Postfix busy while the other waits on a reply.
const SMTP_LANES: usize = 2;
/// Most due tickets handled in one scheduler round.
const DEADLINE_BATCH: usize = 100;
/// The scheduler looks again at least this often, whatever the next deadline: intake may
/// have created an earlier one meanwhile (it also wakes the scheduler when it does).
const SCHEDULER_MAX_SLEEP: Duration = Duration::from_secs(60);
/// An IDLE is ended and the mailbox looked at again this often even when nothing
/// happened: well inside RFC 2177's 29 minutes, and a cheap check that all is well.
const IDLE_RENEW: Duration = Duration::from_secs(10 * 60);
/// Messages left in the mailbox because they failed are tried again after this long
/// (or the poll interval, if shorter).
const RETRY_FAILED: Duration = Duration::from_secs(30);
/// After SIGTERM, the tasks get this long to finish what they hold; systemd's own stop
/// timeout is longer. Whatever is cut short is redone at the next start.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(8);
/// A task that has not reported for this long is stuck: the watchdog stops pinging and
/// systemd restarts the daemon. Intake may legitimately sit in IDLE for `IDLE_RENEW`
/// and then wait for slow commands.
const INTAKE_STUCK: Duration = Duration::from_secs(15 * 60);
const TASK_STUCK: Duration = Duration::from_secs(5 * 60);

/// What the tasks share.
pub struct Daemon {
    cfg: Config,
    /// Rebuilt from the config file on SIGHUP; each message uses the one current when it
    /// is handled.
    pipeline: RwLock<Arc<Pipeline>>,
    /// std Mutex: held only inside blocking tasks, never across an await.
    store: Arc<Mutex<Store>>,
    /// One client (one connection) per outbox lane.
    smtp: Vec<Smtp>,
    /// Wakes the outbox when intake or the scheduler has queued mail.
    outbox_wake: Notify,
    /// Wakes the scheduler when intake may have set a new deadline.
    scheduler_wake: Notify,
    /// Told each time intake logs in to IMAP (the first one makes the daemon ready).
    imap_connected: Notify,
    /// When each task last showed it is alive (Unix seconds), for the watchdog.
    beats: Beats,
    /// Mail the server accepted whose sending could not be recorded (the database full
    /// or locked), with when: never sent again, recorded as soon as the database takes it.
    unrecorded: Mutex<Vec<(i64, chrono::DateTime<Utc>)>>,
    /// Messages (UIDVALIDITY, UID) left in the mailbox after a failure and logged as such:
    /// a fault that lasts (a full disk) is logged once per message, not at every retry.
    failing: Mutex<std::collections::HashSet<(u32, u32)>>,
    /// Whether the last mailbox pass could not be recorded (logged once until it can).
    pass_unrecorded: std::sync::atomic::AtomicBool,
}

#[derive(Default)]
struct Beats {
    intake: AtomicI64,
    outbox: AtomicI64,
    scheduler: AtomicI64,
}

fn beat(at: &AtomicI64) {
    at.store(Utc::now().timestamp(), Ordering::Relaxed);
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
        let smtp = (0..SMTP_LANES)
            .map(|_| Smtp::new(&cfg.smtp))
            .collect::<Result<Vec<_>>>()?;
        Ok(Arc::new(Daemon {
            cfg,
            pipeline: RwLock::new(Arc::new(pipeline)),
            store: Arc::new(Mutex::new(store)),
            smtp,
            outbox_wake: Notify::new(),
            scheduler_wake: Notify::new(),
            imap_connected: Notify::new(),
            beats: Beats::default(),
            unrecorded: Mutex::new(Vec::new()),
            failing: Mutex::new(std::collections::HashSet::new()),
            pass_unrecorded: std::sync::atomic::AtomicBool::new(false),
        }))
    }

    /// The pipeline in force now.
    fn pipeline(&self) -> Arc<Pipeline> {
        match self.pipeline.read() {
            Ok(p) => Arc::clone(&p),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    /// SIGHUP: re-reads the config file and puts its operators, queue, on-call, calendar
    /// and ticket settings in force for the next message. Connections, folders, store
    /// and outbox settings stay as they were started (they need a restart). A config
    /// with errors changes nothing.
    pub fn reload(&self, path: &Path) -> Result<()> {
        let cfg = Config::load(path)?;
        let pipeline = Pipeline::new(&cfg)?;
        let operators = pipeline.settings.operators.len();
        match self.pipeline.write() {
            Ok(mut p) => *p = Arc::new(pipeline),
            Err(poisoned) => *poisoned.into_inner() = Arc::new(pipeline),
        }
        tracing::info!(
            operators,
            "config reloaded: operators, queue, on-call, calendar and ticket settings in force \
             (connection, folder, store and outbox settings need a restart)"
        );
        Ok(())
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
        let result = self.once().await;
        self.last_try_unrecorded().await;
        result
    }

    async fn once(self: &Arc<Self>) -> Result<()> {
        let mut imap = self.connect_imap().await?;
        let stats = self.intake_pass(&mut imap, None).await?;
        imap.logout().await;
        self.record_pass("once").await;
        tracing::info!(
            handled = stats.handled,
            duplicates = stats.duplicates,
            failed = stats.failed,
            "mailbox pass done"
        );
        self.deadlines_due().await?;
        let deadline = tokio::time::Instant::now() + self.cfg.outbox.once_timeout;
        let mut server = Backoff::new(Duration::from_secs(1), Duration::from_secs(60));
        loop {
            let done = self.deliver_due(None).await?;
            let next = self.with_store(|_, s| s.next_outbox_due()).await?;
            let Some(next) = next else { break };
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
                break;
            }
            tokio::time::sleep(wait).await;
        }
        Ok(())
    }

    /// The daemon: intake, scheduler and outbox until `shutdown` turns true; then each
    /// task finishes what it holds, within `SHUTDOWN_GRACE`.
    pub async fn run(self: &Arc<Self>, mut shutdown: watch::Receiver<bool>) -> Result<()> {
        let me = || Arc::clone(self);
        let intake = tokio::spawn(me().intake_loop(shutdown.clone()));
        let outbox = tokio::spawn(me().outbox_loop(shutdown.clone()));
        let scheduler = tokio::spawn(me().scheduler_loop(shutdown.clone()));
        let ready = tokio::spawn(me().announce_ready(shutdown.clone()));
        let watchdog = systemd::watchdog_interval()
            .map(|every| tokio::spawn(me().watchdog(every, shutdown.clone())));
        let all = async { tokio::join!(intake, outbox, scheduler) };
        tokio::pin!(all);
        let joined = tokio::select! {
            r = &mut all => Some(r),
            _ = shutdown.wait_for(|stop| *stop) => None,
        };
        let joined = match joined {
            Some(r) => r,
            None => {
                systemd::stopping();
                match tokio::time::timeout(SHUTDOWN_GRACE, &mut all).await {
                    Ok(r) => r,
                    Err(_) => {
                        tracing::warn!(
                            "work still in hand after {SHUTDOWN_GRACE:?}; exiting anyway \
                             (nothing is lost: it is redone at the next start)"
                        );
                        return Ok(());
                    }
                }
            }
        };
        ready.abort();
        if let Some(w) = watchdog {
            w.abort();
        }
        self.last_try_unrecorded().await;
        let (a, b, c) = joined;
        a.context("intake task panicked")?;
        b.context("outbox task panicked")?;
        c.context("scheduler task panicked")?;
        Ok(())
    }

    /// Tells systemd the daemon is ready once the database is open (it is, or `new`
    /// would have failed), IMAP has accepted the login, and SMTP does too.
    async fn announce_ready(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        tokio::select! {
            _ = self.imap_connected.notified() => {}
            _ = shutdown.wait_for(|stop| *stop) => return,
        }
        let mut backoff = Backoff::new(Duration::from_secs(1), Duration::from_secs(60));
        loop {
            match self.smtp[0].login().await {
                Ok(()) => break,
                Err(e) => {
                    if backoff.failures == 0 {
                        tracing::warn!("SMTP login failed, retrying with backoff: {e:#}");
                    }
                    if sleep_or_shutdown(backoff.next(), &mut shutdown).await {
                        return;
                    }
                }
            }
        }
        if backoff.failures > 0 {
            tracing::info!(host = %self.cfg.smtp.host, "SMTP login accepted");
        }
        let how = if self.cfg.imap.idle {
            "IDLE"
        } else {
            "polling"
        };
        systemd::ready(&format!(
            "watching {} on {} ({how})",
            self.cfg.imap.mailbox, self.cfg.imap.host
        ));
        tracing::info!("ready: database open, IMAP and SMTP logins accepted");
    }

    /// Pings the systemd watchdog while every task keeps reporting; a stuck task stops
    /// the pings and systemd restarts the daemon.
    async fn watchdog(self: Arc<Self>, every: Duration, mut shutdown: watch::Receiver<bool>) {
        let started = Utc::now().timestamp();
        loop {
            let now = Utc::now().timestamp();
            let age = |at: &AtomicI64| now - at.load(Ordering::Relaxed).max(started);
            let stuck = [
                ("intake", age(&self.beats.intake), INTAKE_STUCK),
                ("outbox", age(&self.beats.outbox), TASK_STUCK),
                ("scheduler", age(&self.beats.scheduler), TASK_STUCK),
            ]
            .into_iter()
            .find(|(_, age, limit)| *age > limit.as_secs() as i64);
            match stuck {
                None => systemd::watchdog(),
                Some((task, age, _)) => {
                    tracing::error!(
                        task,
                        silent_secs = age,
                        "task stuck: not pinging the watchdog"
                    )
                }
            }
            if sleep_or_shutdown(every, &mut shutdown).await {
                return;
            }
        }
    }

    async fn scheduler_loop(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        while !*shutdown.borrow() {
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

    async fn connect_imap(self: &Arc<Self>) -> Result<Imap> {
        let mut imap = Imap::connect(&self.cfg.imap).await?;
        let f = &self.cfg.imap.folders;
        imap.ensure_folders(&[&f.processed, &f.rejected, &f.quarantine])
            .await?;
        Ok(imap)
    }

    /// Records a successful look at the mailbox, for `assistenza status`.
    async fn record_pass(self: &Arc<Self>, mode: &'static str) {
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

    /// Connects, handles what is in the mailbox, then waits for more (IDLE, or the poll
    /// interval) and handles it, until shutdown. A lost connection is re-made with capped
    /// exponential backoff; each change of state is logged once, not each try.
    async fn intake_loop(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        let mut backoff = Backoff::new(Duration::from_secs(1), Duration::from_secs(60));
        let mut connected_once = false;
        while !*shutdown.borrow() {
            beat(&self.beats.intake);
            let mut imap = match self.connect_imap().await {
                Ok(imap) => {
                    if backoff.failures > 0 || !connected_once {
                        tracing::info!(host = %self.cfg.imap.host, "IMAP connected");
                    }
                    connected_once = true;
                    backoff.reset();
                    self.imap_connected.notify_one();
                    imap
                }
                Err(e) => {
                    if backoff.failures == 0 {
                        tracing::warn!("IMAP connection failed, retrying with backoff: {e:#}");
                    }
                    if sleep_or_shutdown(backoff.next(), &mut shutdown).await {
                        break;
                    }
                    continue;
                }
            };
            let idle = self.cfg.imap.idle && imap.has_idle();
            let mode = if idle { "idle" } else { "poll" };
            if self.cfg.imap.idle && !idle {
                tracing::warn!(
                    every = ?self.cfg.imap.poll_interval,
                    "the IMAP server does not offer IDLE: polling instead"
                );
            }
            loop {
                beat(&self.beats.intake);
                let failed = match self.intake_pass(&mut imap, Some(&shutdown)).await {
                    Ok(stats) => {
                        self.record_pass(mode).await;
                        if stats.handled + stats.duplicates + stats.failed > 0 {
                            tracing::info!(
                                handled = stats.handled,
                                duplicates = stats.duplicates,
                                failed = stats.failed,
                                "mailbox pass done"
                            );
                        }
                        stats.failed
                    }
                    Err(e) => {
                        tracing::warn!("IMAP session lost, reconnecting: {e:#}");
                        break;
                    }
                };
                if *shutdown.borrow() {
                    imap.logout().await;
                    return;
                }
                // Mail that arrived during the pass: look again before waiting.
                if imap.new_mail_reported() {
                    continue;
                }
                // A message that could not be recorded (the database locked by another
                // process, say) stays in the mailbox: try it again soon, not at the next
                // IDLE wake-up, which may be minutes away.
                if failed > 0 {
                    let wait = self.cfg.imap.poll_interval.min(RETRY_FAILED);
                    if sleep_or_shutdown(wait, &mut shutdown).await {
                        imap.logout().await;
                        return;
                    }
                    continue;
                }
                if !idle {
                    if sleep_or_shutdown(self.cfg.imap.poll_interval, &mut shutdown).await {
                        imap.logout().await;
                        return;
                    }
                    continue;
                }
                let mut stop = shutdown.clone();
                let stopped = async move {
                    let _ = stop.wait_for(|s| *s).await;
                };
                match imap.idle(IDLE_RENEW, stopped).await {
                    Ok((session, Woken::Stopped)) => {
                        session.logout().await;
                        return;
                    }
                    Ok((session, Woken::Changed | Woken::Renew)) => imap = session,
                    Err(e) => {
                        tracing::warn!("IMAP session lost, reconnecting: {e:#}");
                        break;
                    }
                }
            }
        }
    }

    /// One pass over the mailbox: every message is handled (or found handled before) and
    /// moved to its folder. When shutdown is asked it stops after the message in hand;
    /// messages not handled stay in the mailbox for the next start.
    pub async fn intake_pass(
        self: &Arc<Self>,
        imap: &mut Imap,
        shutdown: Option<&watch::Receiver<bool>>,
    ) -> Result<PassStats> {
        let mailbox = self.cfg.imap.mailbox.clone();
        let (uidvalidity, exists) = imap.select(&mailbox).await?;
        let mut stats = PassStats::default();
        if exists == 0 {
            self.lock_failing().clear();
            return Ok(stats);
        }
        let metas = imap.list().await?;
        // Forget failures of messages no longer here (deleted or moved by hand).
        {
            let mut failing = self.lock_failing();
            if !failing.is_empty() {
                let present: std::collections::HashSet<u32> = metas.iter().map(|m| m.uid).collect();
                failing.retain(|&(v, uid)| v == uidvalidity && present.contains(&uid));
            }
        }
        let limit = self.cfg.intake.max_message_bytes;
        for batch in batches(&metas, limit) {
            if shutdown.is_some_and(|s| *s.borrow()) {
                break;
            }
            beat(&self.beats.intake);
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
            let stop = shutdown.cloned();
            let me = Arc::clone(self);
            let results = tokio::task::spawn_blocking(move || {
                me.handle_batch(&mb, uidvalidity, fetched, stop.as_ref())
            })
            .await
            .context("intake task panicked")??;
            let mut moves: BTreeMap<&str, (Vec<u32>, Vec<i64>)> = BTreeMap::new();
            for (uid, result) in results {
                match result {
                    Ok(handled) => {
                        if self.lock_failing().remove(&(uidvalidity, uid)) {
                            tracing::info!(uid, "message handled after all");
                        }
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
                        if self.lock_failing().insert((uidvalidity, uid)) {
                            tracing::error!(uid, "message left in the mailbox, will retry: {e:#}");
                        } else {
                            tracing::debug!(uid, "message left in the mailbox again: {e:#}");
                        }
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
        self.with_store(move |d, store| d.pipeline().handle(store, &source, &raw, size, now, now))
            .await
    }

    /// Handles fetched messages in order, each in its own transaction, stopping early
    /// (after the message in hand) when shutdown is asked. The store is locked per
    /// message, not per batch, so the outbox can record its sends in between.
    fn handle_batch(
        &self,
        mailbox: &str,
        uidvalidity: u32,
        fetched: Vec<Fetched>,
        shutdown: Option<&watch::Receiver<bool>>,
    ) -> Result<Vec<(u32, Result<Handled>)>> {
        let pipeline = self.pipeline();
        let mut results = Vec::with_capacity(fetched.len());
        for f in fetched {
            if shutdown.is_some_and(|s| *s.borrow()) {
                break;
            }
            let source = InboundSource::Imap {
                mailbox: mailbox.to_string(),
                uidvalidity,
                uid: f.meta.uid,
            };
            let mut store = self
                .store
                .lock()
                .map_err(|_| anyhow!("store lock poisoned"))?;
            let result = pipeline.handle(
                &mut store,
                &source,
                &f.raw,
                f.meta.size,
                f.meta.received_at,
                Utc::now(),
            );
            drop(store);
            results.push((f.meta.uid, result));
        }
        Ok(results)
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
        // While the server is unavailable the due mail stays due: wait for the server
        // with backoff rather than for the mail's time.
        let mut server = Backoff::new(Duration::from_secs(1), Duration::from_secs(60));
        let mut errors = Backoff::new(Duration::from_secs(1), Duration::from_secs(30));
        while !*shutdown.borrow() {
            beat(&self.beats.outbox);
            match self.deliver_due(Some(&shutdown)).await {
                Ok(Delivered {
                    unavailable: Some(e),
                    ..
                }) => {
                    if server.failures == 0 {
                        tracing::warn!("SMTP server unavailable, mail waits in the outbox: {e}");
                    }
                    // At most a minute: well within what the watchdog allows a task.
                    if sleep_or_shutdown(server.next(), &mut shutdown).await {
                        return;
                    }
                    continue;
                }
                Ok(_) => {
                    if server.failures > 0 {
                        tracing::info!(host = %self.cfg.smtp.host, "SMTP server takes mail again");
                        server.reset();
                    }
                }
                Err(e) => {
                    // The database refused (full, locked): try again, not in a tight loop.
                    if errors.failures == 0 {
                        tracing::error!("outbox: {e:#}");
                    }
                    if sleep_or_shutdown(errors.next(), &mut shutdown).await {
                        return;
                    }
                    continue;
                }
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
            wait_or_wake(wait, &self.outbox_wake, &mut shutdown).await;
        }
    }

    /// Sends every due mail, on `SMTP_LANES` connections at once. A lane stops at its
    /// first transient error (the server is likely in trouble, so the rest would fail the
    /// same way) after scheduling that mail's retry, and at the server being unavailable
    /// (the mail stays due, no attempt counted). When shutdown is asked each lane stops
    /// after the mail in flight.
    pub async fn deliver_due(
        self: &Arc<Self>,
        shutdown: Option<&watch::Receiver<bool>>,
    ) -> Result<Delivered> {
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
        shutdown: Option<&watch::Receiver<bool>>,
    ) -> Result<(usize, LaneEnd)> {
        let mut sent = 0;
        for row in rows {
            if shutdown.is_some_and(|s| *s.borrow()) {
                return Ok((sent, LaneEnd::Stopped));
            }
            beat(&self.beats.outbox);
            let id = row.id;
            match self.smtp[lane].send(&row).await {
                Ok(()) => {
                    sent += 1;
                    tracing::info!(message_id = %row.message_id, to = %row.recipients.join(","), "mail sent");
                    let at = Utc::now();
                    if let Err(e) = self.with_store(move |_, s| s.mark_sent(id, at)).await {
                        self.lock_unrecorded().push((id, at));
                        tracing::error!(message_id = %row.message_id, "mail sent but not recorded; it will not be sent again: {e:#}");
                        return Err(e);
                    }
                }
                Err(SendError::Unavailable(e)) => return Ok((sent, LaneEnd::Unavailable(e))),
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
                        return Ok((sent, LaneEnd::Stopped));
                    }
                }
            }
        }
        Ok((sent, LaneEnd::Done))
    }
}

impl Daemon {
    fn lock_failing(&self) -> std::sync::MutexGuard<'_, std::collections::HashSet<(u32, u32)>> {
        self.failing
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn lock_unrecorded(&self) -> std::sync::MutexGuard<'_, Vec<(i64, chrono::DateTime<Utc>)>> {
        self.unrecorded
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Before exiting: a last try at recording mail sent while the database refused. What
    /// is left will be sent again at the next start (the daemon's memory of it ends here),
    /// and the journal says so, naming the outbox rows.
    async fn last_try_unrecorded(self: &Arc<Self>) {
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
