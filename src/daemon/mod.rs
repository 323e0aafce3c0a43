//! The running daemon: an intake task (IMAP → pipeline → IMAP move), a scheduler task
//! (ticket deadlines → pipeline) and an outbox task (SQLite → SMTP), stopped together by
//! one `Shutdown` handle. SQLite work runs on the blocking pool so the async threads never
//! wait on the disk. Every task reconnects or retries on its own, and tells systemd it is
//! alive. This file is the lifecycle: start, ready, watchdog, reload, stop; each task
//! lives in its own file.

mod backoff;
mod intake;
mod outbox;
mod portal;
mod scheduler;
mod shutdown;

use std::path::Path;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use anyhow::{anyhow, Context, Result};
use chrono::Utc;
use tokio::sync::Notify;

use crate::config::Config;
use crate::mail::smtp::Smtp;
use crate::pipeline::Pipeline;
use crate::store::Store;
use crate::systemd;

use backoff::Backoff;
use outbox::SMTP_LANES;

pub use intake::PassStats;
pub use outbox::Delivered;
pub use shutdown::Shutdown;

/// After SIGTERM, the tasks get this long to finish what they hold; systemd's own stop
/// timeout is longer. Whatever is cut short is redone at the next start.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(8);
/// A task that has not reported for this long is stuck: the watchdog stops pinging and
/// systemd restarts the daemon. Intake may legitimately sit in IDLE for ten minutes
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
    /// Messages (UIDVALIDITY, UID) left in the mailbox after a transient failure, with
    /// when they first failed: a fault that lasts (a full disk) is logged once per
    /// message, not at every retry, and given up after `intake.give_up_after_secs`.
    failing: Mutex<std::collections::HashMap<(u32, u32), chrono::DateTime<Utc>>>,
    /// Whether the last mailbox pass could not be recorded (logged once until it can).
    pass_unrecorded: std::sync::atomic::AtomicBool,
    /// Tickets whose deadline failed in a way that will not pass: logged once, skipped by
    /// the scheduler until a restart.
    stuck_deadlines: Mutex<std::collections::HashSet<i64>>,
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

impl Daemon {
    pub fn new(cfg: Config) -> Result<Arc<Daemon>> {
        let pipeline = Pipeline::new(&cfg);
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
            failing: Mutex::new(std::collections::HashMap::new()),
            stuck_deadlines: Mutex::new(std::collections::HashSet::new()),
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

    /// SIGHUP: re-reads the config file and puts its operators, queue, on-call, calendar,
    /// ticket settings and mail texts in force for the next message. Connections, folders, store
    /// and outbox settings stay as they were started (they need a restart). A config
    /// with errors changes nothing.
    pub fn reload(&self, path: &Path) -> Result<()> {
        let cfg = Config::load(path)?;
        let pipeline = Pipeline::new(&cfg);
        let operators = pipeline.settings.operators.len();
        let edited = pipeline.settings.texts.edited().len();
        match self.pipeline.write() {
            Ok(mut p) => *p = Arc::new(pipeline),
            Err(poisoned) => *poisoned.into_inner() = Arc::new(pipeline),
        }
        tracing::info!(
            operators,
            edited_templates = edited,
            "config reloaded: operators, queue, on-call, calendar, ticket settings and mail \
             texts in force (connection, folder, store, outbox and [web] settings need a restart)"
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

    /// `run --once`: the morning digest when owed, one pass over the mailbox and the
    /// deadlines, the contract expiry notices owed, then deliver the outbox until it is
    /// empty or the retry budget (`outbox.once_timeout`) is spent.
    pub async fn run_once(self: &Arc<Self>) -> Result<()> {
        let result = self.once().await;
        self.last_try_unrecorded().await;
        result
    }

    async fn once(self: &Arc<Self>) -> Result<()> {
        // Before the mailbox pass: the digest says what was open when the day began;
        // what arrives now gets its own notices. Last month's report, likewise.
        self.digest_due().await?;
        self.report_due().await?;
        let mut imap = self.connect_imap().await?;
        let stats = self.intake_pass(&mut imap, &Shutdown::new()).await?;
        imap.logout().await;
        self.record_pass("once").await;
        stats.log();
        self.deadlines_due().await?;
        self.contract_notices_due().await?;
        self.drain(self.cfg.outbox.once_timeout).await
    }

    /// The daemon: intake, scheduler and outbox until shutdown is asked; then each task
    /// finishes what it holds, within `SHUTDOWN_GRACE`.
    pub async fn run(self: &Arc<Self>, shutdown: Shutdown) -> Result<()> {
        let me = || Arc::clone(self);
        let portal = self.start_portal(shutdown.clone()).await?;
        let intake = tokio::spawn(me().intake_loop(shutdown.clone()));
        let outbox = tokio::spawn(me().outbox_loop(shutdown.clone()));
        let scheduler = tokio::spawn(me().scheduler_loop(shutdown.clone()));
        let ready = tokio::spawn(me().announce_ready(shutdown.clone()));
        let watchdog = systemd::watchdog_interval()
            .map(|every| tokio::spawn(me().watchdog(every, shutdown.clone())));
        let all = async { tokio::join!(intake, outbox, scheduler) };
        tokio::pin!(all);
        // Shutdown first: when the tasks have already finished by the time this is
        // polled, a random pick would skip STOPPING half of the time.
        let joined = tokio::select! {
            biased;
            _ = shutdown.requested() => None,
            r = &mut all => Some(r),
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
        if let Some(portal) = portal {
            let _ = tokio::time::timeout(SHUTDOWN_GRACE, portal).await;
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
    async fn announce_ready(self: Arc<Self>, shutdown: Shutdown) {
        tokio::select! {
            _ = self.imap_connected.notified() => {}
            _ = shutdown.requested() => return,
        }
        let mut backoff = Backoff::new(Duration::from_secs(1), Duration::from_secs(60));
        loop {
            match self.smtp[0].login().await {
                Ok(()) => break,
                Err(e) => {
                    if backoff.failures == 0 {
                        tracing::warn!("SMTP login failed, retrying with backoff: {e:#}");
                    }
                    if shutdown.sleep(backoff.next()).await {
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
    async fn watchdog(self: Arc<Self>, every: Duration, shutdown: Shutdown) {
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
            if shutdown.sleep(every).await {
                return;
            }
        }
    }
}
