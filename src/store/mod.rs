//! SQLite storage: every SQL statement of the daemon lives under this folder. The
//! database is opened in WAL mode with foreign keys on and a busy timeout, and migrated
//! forward with numbered migrations recorded in `PRAGMA user_version`.
//!
//! Times are stored as RFC 3339 UTC text with a fixed width (`2026-03-10T09:00:00.000Z`)
//! so that text comparison is time comparison and the file stays readable with `sqlite3`.

mod contracts;
mod digest;
mod effects;
mod expiry;
mod gdpr;
mod intake;
mod outbox;
mod portal;
mod purge;
mod report;
mod schedule;
mod state;
mod status;
mod tickets;

use std::path::Path;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use chrono::{DateTime, SecondsFormat, Utc};
use rusqlite::Connection;

pub use contracts::{ContractInput, ImportSummary};
pub use effects::Cause;
pub use gdpr::{Erasure, Export, ExportMail};
pub use intake::{Duplicate, InboundSource, Tx, FAILED};
pub use outbox::OutboxRow;
pub use portal::{Held, NewPending, Pending};
pub use purge::PurgeReport;
pub use status::{AckPromise, SetAside, StoreStatus, Totals};
pub use tickets::{TicketDetail, TicketEvent, TicketMessage, TicketQuote, TicketRow, TicketTime};

/// Prepared statements kept per connection.
const STATEMENT_CACHE: usize = 128;

/// The ordered migrations; index + 1 is the schema version they bring the database to.
/// Never edit one that has shipped: add a new one.
const MIGRATIONS: &[&str] = &[
    include_str!("migrations/001_intake.sql"),
    include_str!("migrations/002_ticket_life.sql"),
    include_str!("migrations/003_daemon_state.sql"),
    include_str!("migrations/004_reply_limit.sql"),
    include_str!("migrations/005_intake_failures.sql"),
    include_str!("migrations/006_portal.sql"),
    include_str!("migrations/007_operator_tools.sql"),
    include_str!("migrations/008_audit.sql"),
    include_str!("migrations/009_contract_notices.sql"),
];

/// The database handle. One per process; the daemon keeps it on a blocking thread.
pub struct Store {
    conn: Connection,
    /// A group commit is open (`begin_group`): `begin` makes savepoints.
    grouped: bool,
}

impl Store {
    /// Opens (creating if needed) and migrates the database at `path`.
    pub fn open(path: &Path) -> Result<Store> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("creating the database directory {}", dir.display()))?;
        }
        // The file holds personal data: made readable by its owner only, whatever the
        // umask (SQLite gives its -wal and -shm files the database file's mode).
        if !path.exists() {
            use std::os::unix::fs::OpenOptionsExt;
            std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(path)
                .with_context(|| format!("creating the database {}", path.display()))?;
        }
        let conn = Connection::open(path)
            .with_context(|| format!("opening the database {}", path.display()))?;
        // SQLite quietly opens a file it cannot write read-only; every message would then
        // fail. Say so now, naming the file.
        if conn.is_readonly(rusqlite::MAIN_DB)? {
            bail!(
                "the database {} can be read but not written (a read-only filesystem, or \
                 the file or its directory not writable by this user): mail waits in the \
                 mailbox until it is writable",
                path.display()
            );
        }
        let mut store = Store {
            conn,
            grouped: false,
        };
        store
            .configure()
            .with_context(|| format!("configuring {}", path.display()))?;
        store
            .migrate()
            .with_context(|| format!("migrating {}", path.display()))?;
        Ok(store)
    }

    /// Opens an existing database as it is, without creating or migrating it: for
    /// `check` and `status`, which must not change what the daemon owns.
    pub fn open_existing(path: &Path) -> Result<Store> {
        if !path.exists() {
            bail!(
                "the database {} does not exist yet (the daemon creates it at its first start)",
                path.display()
            );
        }
        let conn = Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE)
            .with_context(|| format!("opening the database {}", path.display()))?;
        conn.busy_timeout(Duration::from_secs(10))?;
        Ok(Store {
            conn,
            grouped: false,
        })
    }

    /// A consistent copy of the whole database at `dest`, taken with SQLite's online
    /// backup API while the daemon goes on writing (it is never blocked for long: the
    /// copy goes 256 pages at a time). The copy is written beside `dest` and renamed
    /// into place, so `dest` is either the old file or a whole new one; it is readable
    /// only by its owner, as it holds personal data.
    pub fn backup_to(&self, dest: &Path) -> Result<u64> {
        use std::os::unix::fs::OpenOptionsExt;
        let name = dest
            .file_name()
            .ok_or_else(|| anyhow::anyhow!("{} is not a file path", dest.display()))?;
        let tmp = dest.with_file_name(format!(".{}.partial", name.to_string_lossy()));
        let _ = std::fs::remove_file(&tmp);
        // Create it 0600 before SQLite writes a byte.
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)
            .with_context(|| format!("creating {}", tmp.display()))?;
        let result = (|| -> Result<u64> {
            let mut copy = Connection::open(&tmp)?;
            {
                let backup = rusqlite::backup::Backup::new(&self.conn, &mut copy)?;
                backup.run_to_completion(256, Duration::from_millis(5), None)?;
            }
            let check: String = copy.query_row("PRAGMA integrity_check", [], |r| r.get(0))?;
            if check != "ok" {
                bail!("the copy failed its integrity check: {check}");
            }
            // A self-contained file: no WAL beside it.
            copy.pragma_update(None, "journal_mode", "DELETE")?;
            drop(copy);
            Ok(std::fs::metadata(&tmp)?.len())
        })();
        match result {
            Ok(bytes) => {
                std::fs::rename(&tmp, dest)
                    .with_context(|| format!("moving the copy to {}", dest.display()))?;
                Ok(bytes)
            }
            Err(e) => {
                let _ = std::fs::remove_file(&tmp);
                Err(e).with_context(|| format!("backing up to {}", dest.display()))
            }
        }
    }

    /// `PRAGMA integrity_check`: "ok", or what is wrong.
    pub fn integrity_check(&self) -> Result<String> {
        Ok(self
            .conn
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))?)
    }

    fn configure(&self) -> Result<()> {
        self.conn.busy_timeout(Duration::from_secs(10))?;
        // Room for every statement the store prepares (some sixty places): at rusqlite's
        // default of 16 the statements of one request pushed each other out, and parsing
        // SQL again was a quarter of the daemon's CPU during a backlog.
        self.conn
            .set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        self.conn.pragma_update(None, "journal_mode", "WAL")?;
        // NORMAL is durable in WAL mode except for the last transactions on power loss;
        // FULL fsyncs every commit, which is what "never lose a message" asks for.
        self.conn.pragma_update(None, "synchronous", "FULL")?;
        self.conn.pragma_update(None, "foreign_keys", "ON")?;
        // Each request of a group commit has its own savepoint, whose journal of the
        // pages it changed outgrew SQLite's 64 KiB in memory and went to a temporary file:
        // a write(2) per page, 12% of the daemon's CPU during a backlog. In memory it is
        // freed at each savepoint's release. Durability is the WAL's, not this journal's.
        self.conn.pragma_update(None, "temp_store", "MEMORY")?;
        Ok(())
    }

    fn migrate(&mut self) -> Result<()> {
        let version: i64 = self
            .conn
            .pragma_query_value(None, "user_version", |r| r.get(0))?;
        let version = usize::try_from(version).unwrap_or(usize::MAX);
        if version > MIGRATIONS.len() {
            bail!(
                "the database has schema version {version}, newer than this binary knows ({}); \
                 run a newer assistenza",
                MIGRATIONS.len()
            );
        }
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(version) {
            let tx = self.conn.transaction()?;
            tx.execute_batch(sql)
                .with_context(|| format!("applying migration {}", i + 1))?;
            tx.pragma_update(None, "user_version", (i + 1) as i64)?;
            tx.commit()?;
        }
        Ok(())
    }

    /// The schema version of the open database and the newest this binary knows.
    pub fn schema_version(&self) -> Result<(usize, usize)> {
        let v: i64 = self
            .conn
            .pragma_query_value(None, "user_version", |r| r.get(0))?;
        Ok((usize::try_from(v).unwrap_or(usize::MAX), MIGRATIONS.len()))
    }
}

/// Formats a time the way the database stores it.
pub(crate) fn ts(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Reads a stored time back.
pub(crate) fn parse_ts(text: &str) -> rusqlite::Result<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| {
            rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(e))
        })
}

#[cfg(test)]
pub(crate) mod test_support {
    use std::sync::atomic::{AtomicU64, Ordering};

    use super::*;
    use crate::core::address::Address;
    use crate::core::decision::{Decision, Effect};
    use crate::core::inbound::Inbound;
    use crate::mail::compose::Composed;

    /// A fresh database in a temporary directory that lives as long as the returned guard.
    pub fn temp_store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(&dir.path().join("t.db")).expect("open");
        (dir, store)
    }

    /// Request number `n` from `from`, received at `at`, as the parser reads it and as
    /// IMAP identifies it (UID `n`): the store's tests need no mail module.
    pub fn message(n: u32, from: &str, at: DateTime<Utc>) -> (InboundSource, Inbound, Vec<u8>) {
        let raw = format!(
            "From: {from}\r\nSubject: mario@rossi.it\r\nMessage-ID: <m{n}@rossi.it>\r\n\r\n\
             Il sito www.rossi.it non funziona, messaggio numero {n}\r\n"
        )
        .into_bytes();
        let msg = Inbound {
            message_id: Some(format!("m{n}@rossi.it")),
            from: Address::parse(from),
            subject: "mario@rossi.it".into(),
            text: format!("Il sito www.rossi.it non funziona, messaggio numero {n}"),
            size: raw.len() as u64,
            received_at: at,
            ..Inbound::default()
        };
        let source = InboundSource::Imap {
            mailbox: "INBOX".into(),
            uidvalidity: 1,
            uid: n,
        };
        (source, msg, raw)
    }

    /// Stand-ins for the pipeline's composed mail, one per `Effect::Send` of `effects`,
    /// each with its own Message-ID: the store queues whatever bytes it is given, so its
    /// tests need no real mail.
    pub fn queued(effects: &[Effect]) -> Vec<Composed> {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        effects
            .iter()
            .filter_map(|e| match e {
                Effect::Send(mail) => Some(mail),
                _ => None,
            })
            .map(|mail| Composed {
                message_id: format!("test.{}@kzweb.it", NEXT.fetch_add(1, Ordering::Relaxed)),
                envelope_from: "assistenza@kzweb.it".into(),
                recipients: mail
                    .to
                    .iter()
                    .chain(&mail.cc)
                    .map(|a| a.to_string())
                    .collect(),
                raw: format!("Subject: {}\r\n\r\n{}", mail.subject, mail.body).into_bytes(),
            })
            .collect()
    }

    /// Records a message and applies its decision, as the pipeline does.
    pub fn record(
        tx: &Tx<'_>,
        source: &InboundSource,
        msg: &Inbound,
        raw: &[u8],
        decision: &Decision,
        now: DateTime<Utc>,
    ) -> Result<i64> {
        let id = tx.record_inbound(source, msg, raw, &decision.outcome, now)?;
        let mails = queued(&decision.effects);
        tx.apply(Cause::Inbound(id), &decision.effects, &mails, now)?;
        Ok(id)
    }

    /// Applies `effects` caused by a deadline, as the pipeline does.
    pub fn apply_timer(tx: &Tx<'_>, effects: &[Effect], now: DateTime<Utc>) -> Result<()> {
        tx.apply(Cause::Timer, effects, &queued(effects), now)
    }
}

#[cfg(test)]
mod tests {
    use super::test_support::temp_store;

    #[test]
    fn new_database_is_migrated_to_the_latest_version() {
        let (_dir, store) = temp_store();
        let (v, latest) = store.schema_version().expect("version");
        assert_eq!(v, latest);
    }

    #[test]
    fn reopening_does_not_migrate_twice() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("t.db");
        drop(super::Store::open(&path).expect("first open"));
        let store = super::Store::open(&path).expect("second open");
        assert_eq!(
            store.schema_version().expect("v").0,
            super::MIGRATIONS.len()
        );
    }
}
