//! Whether an error will pass. A message whose handling failed is tried again only if
//! the failure is *transient*: the database busy, locked, full or unreadable for now,
//! an I/O error, the IMAP or SMTP server away — faults of the machine around the
//! message, which someone or time will fix, after which the same message passes.
//! Anything else is *permanent*: the message and the data it touches will fail the same
//! way next time (a stored row that no longer loads, a constraint it breaks), and
//! retrying it only hides it. A transient failure that lasts past `give_up_after` is
//! given up too, so nothing is retried forever in silence.
//!
//! The kind is read from the error itself, by walking its `anyhow` chain down to the
//! first error of a type we know (SQLite, I/O, IMAP, SMTP); an error of no known type
//! is permanent.

use std::fmt;
use std::time::Duration;

use chrono::{DateTime, Utc};
use rusqlite::ErrorCode;

/// Whether trying again can help.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Transient,
    Permanent,
}

/// An error, with whether it will pass.
#[derive(Debug)]
pub struct Failure {
    pub kind: Kind,
    pub error: anyhow::Error,
}

impl From<anyhow::Error> for Failure {
    fn from(error: anyhow::Error) -> Failure {
        Failure {
            kind: classify(&error),
            error,
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#}", self.error)
    }
}

impl std::error::Error for Failure {}

impl Failure {
    /// Why the message is given up, for the database, `status` and the operators: the
    /// kind, how long it lasted if transient, and the error chain.
    pub fn reason(&self, first_failed: DateTime<Utc>, now: DateTime<Utc>) -> String {
        match self.kind {
            Kind::Permanent => format!("permanent failure: {:#}", self.error),
            Kind::Transient => {
                let hours = (now - first_failed).num_minutes() as f64 / 60.0;
                format!(
                    "transient failure lasting {hours:.1} h, given up: {:#}",
                    self.error
                )
            }
        }
    }
}

/// Whether a failing message is given up now rather than tried again: at once when the
/// failure is permanent, else once it has lasted `give_up_after` since it first failed.
pub fn gives_up(
    kind: Kind,
    first_failed: DateTime<Utc>,
    now: DateTime<Utc>,
    give_up_after: Duration,
) -> bool {
    match kind {
        Kind::Permanent => true,
        Kind::Transient => lasted(first_failed, now, give_up_after),
    }
}

/// Whether a failure first seen at `first_failed` has lasted `limit` by `now`. A clock
/// set back makes it younger, never older.
pub fn lasted(first_failed: DateTime<Utc>, now: DateTime<Utc>, limit: Duration) -> bool {
    match chrono::Duration::from_std(limit) {
        Ok(limit) => now.signed_duration_since(first_failed) >= limit,
        Err(_) => false,
    }
}

/// The kind of the first error of a known type in the chain, outermost first.
pub fn classify(error: &anyhow::Error) -> Kind {
    error.chain().find_map(kind_of).unwrap_or(Kind::Permanent)
}

fn kind_of(e: &(dyn std::error::Error + 'static)) -> Option<Kind> {
    if let Some(e) = e.downcast_ref::<rusqlite::Error>() {
        return Some(sqlite(e));
    }
    if let Some(e) = e.downcast_ref::<std::io::Error>() {
        return Some(io(e));
    }
    if let Some(e) = e.downcast_ref::<async_imap::error::Error>() {
        return Some(imap(e));
    }
    if let Some(e) = e.downcast_ref::<lettre::transport::smtp::Error>() {
        return Some(smtp(e));
    }
    None
}

/// SQLite: the database file and its disk (busy, locked, full, read-only, unreadable,
/// corrupt) are the machine's faults; a constraint, a type or a missing row is the data's.
fn sqlite(e: &rusqlite::Error) -> Kind {
    match e {
        rusqlite::Error::SqliteFailure(f, _) => match f.code {
            ErrorCode::DatabaseBusy
            | ErrorCode::DatabaseLocked
            | ErrorCode::DiskFull
            | ErrorCode::SystemIoFailure
            | ErrorCode::ReadOnly
            | ErrorCode::CannotOpen
            | ErrorCode::PermissionDenied
            | ErrorCode::OutOfMemory
            | ErrorCode::FileLockingProtocolFailed
            | ErrorCode::DatabaseCorrupt
            | ErrorCode::NotADatabase
            | ErrorCode::SchemaChanged
            | ErrorCode::OperationInterrupted => Kind::Transient,
            _ => Kind::Permanent,
        },
        _ => Kind::Permanent,
    }
}

/// I/O: the disk or the network, except an error about the data given to it.
fn io(e: &std::io::Error) -> Kind {
    use std::io::ErrorKind;
    match e.kind() {
        ErrorKind::InvalidInput | ErrorKind::InvalidData | ErrorKind::Unsupported => {
            Kind::Permanent
        }
        _ => Kind::Transient,
    }
}

/// IMAP: the connection, or a NO with a response code (RFC 5530) that says "later".
fn imap(e: &async_imap::error::Error) -> Kind {
    use async_imap::error::Error;
    const LATER: [&str; 5] = [
        "[UNAVAILABLE]",
        "[INUSE]",
        "[LIMIT]",
        "[OVERQUOTA]",
        "[SERVERBUG]",
    ];
    match e {
        Error::Io(e) => io(e),
        Error::ConnectionLost => Kind::Transient,
        Error::No(text) if LATER.iter().any(|code| text.contains(code)) => Kind::Transient,
        _ => Kind::Permanent,
    }
}

/// SMTP: a 5xx or a request lettre could not even make is for good; a 4xx, the
/// network, TLS or a timeout passes.
fn smtp(e: &lettre::transport::smtp::Error) -> Kind {
    if e.is_permanent() || e.is_client() {
        Kind::Permanent
    } else {
        Kind::Transient
    }
}

#[cfg(test)]
mod tests {
    use anyhow::Context;
    use rusqlite::{Connection, OpenFlags};

    use super::*;

    fn db() -> (tempfile::TempDir, std::path::PathBuf, Connection) {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("t.db");
        let conn = Connection::open(&path).expect("open");
        conn.execute_batch("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT UNIQUE)")
            .expect("schema");
        (dir, path, conn)
    }

    /// As the store reports it: wrapped in the context of what was being done.
    fn kind<T>(r: Result<T, rusqlite::Error>) -> Kind {
        let e = r
            .map(|_| ())
            .context("recording the inbound message")
            .context("handling uid 7")
            .expect_err("must fail");
        classify(&e)
    }

    #[test]
    fn a_database_locked_by_another_process_is_transient() {
        let (_dir, path, holder) = db();
        holder.execute_batch("BEGIN EXCLUSIVE").expect("lock");
        let other = Connection::open(&path).expect("open");
        other.busy_timeout(Duration::ZERO).expect("timeout");
        assert_eq!(
            kind(other.execute("INSERT INTO t (v) VALUES ('x')", [])),
            Kind::Transient
        );
    }

    #[test]
    fn a_full_database_is_transient() {
        let (_dir, _path, conn) = db();
        conn.pragma_update(None, "max_page_count", 3)
            .expect("limit");
        let big = "x".repeat(64 * 1024);
        let r = conn.execute("INSERT INTO t (v) VALUES (?1)", [&big]);
        assert!(
            matches!(&r, Err(rusqlite::Error::SqliteFailure(f, _)) if f.code == ErrorCode::DiskFull),
            "{r:?}"
        );
        assert_eq!(kind(r), Kind::Transient);
    }

    #[test]
    fn a_database_opened_read_only_is_transient() {
        let (_dir, path, conn) = db();
        drop(conn);
        let ro = Connection::open_with_flags(&path, OpenFlags::SQLITE_OPEN_READ_ONLY).expect("ro");
        assert_eq!(
            kind(ro.execute("INSERT INTO t (v) VALUES ('x')", [])),
            Kind::Transient
        );
    }

    #[test]
    fn a_missing_row_a_broken_constraint_or_a_row_that_does_not_parse_is_permanent() {
        let (_dir, _path, conn) = db();
        let missing = conn.query_row("SELECT v FROM t WHERE id = 1", [], |r| {
            r.get::<_, String>(0)
        });
        assert_eq!(kind(missing), Kind::Permanent);
        conn.execute("INSERT INTO t (v) VALUES ('x')", [])
            .expect("first");
        let twice = conn.execute("INSERT INTO t (v) VALUES ('x')", []);
        assert!(
            matches!(&twice, Err(rusqlite::Error::SqliteFailure(f, _)) if f.code == ErrorCode::ConstraintViolation)
        );
        assert_eq!(kind(twice), Kind::Permanent);
        let not_a_number = conn.query_row("SELECT v FROM t", [], |r| r.get::<_, i64>(0));
        assert_eq!(kind(not_a_number), Kind::Permanent);
        let bad_time = crate::store::parse_ts("2026-12-02 07:00:00");
        assert_eq!(kind(bad_time), Kind::Permanent);
    }

    fn closed_port() -> u16 {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    }

    #[test]
    fn a_server_away_is_transient_over_io_imap_and_smtp() {
        let refused = std::net::TcpStream::connect(("127.0.0.1", closed_port()))
            .expect_err("nothing listens");
        let e = anyhow::Error::new(refused).context("connecting to the IMAP server");
        assert_eq!(classify(&e), Kind::Transient);
        let lost = anyhow::Error::new(async_imap::error::Error::ConnectionLost).context("fetching");
        assert_eq!(classify(&lost), Kind::Transient);
        let io = async_imap::error::Error::Io(std::io::ErrorKind::BrokenPipe.into());
        assert_eq!(classify(&anyhow::Error::new(io)), Kind::Transient);
        let smtp = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime")
            .block_on(
                lettre::transport::smtp::client::AsyncSmtpConnection::connect_tokio1(
                    ("127.0.0.1", closed_port()),
                    Some(Duration::from_secs(5)),
                    &lettre::transport::smtp::extension::ClientId::default(),
                    None,
                    None,
                ),
            )
            .err()
            .expect("nothing listens");
        assert_eq!(classify(&anyhow::Error::new(smtp)), Kind::Transient);
    }

    #[test]
    fn an_imap_refusal_is_permanent_unless_its_code_says_later() {
        use async_imap::error::Error;
        let no = |text: &str| classify(&anyhow::Error::new(Error::No(text.into())));
        assert_eq!(no("[TRYCREATE] no such mailbox"), Kind::Permanent);
        assert_eq!(no("[OVERQUOTA] quota exceeded"), Kind::Transient);
        assert_eq!(no("[UNAVAILABLE] backend down"), Kind::Transient);
        let bad = anyhow::Error::new(Error::Bad("syntax error".into()));
        assert_eq!(classify(&bad), Kind::Permanent);
    }

    #[test]
    fn an_error_of_no_known_type_is_permanent_and_io_about_the_data_too() {
        let plain = anyhow::anyhow!("ticket KZ-2026-00001 has unknown state \"chiuso\"");
        assert_eq!(
            classify(&plain.context("loading the facts")),
            Kind::Permanent
        );
        let data = std::io::Error::new(std::io::ErrorKind::InvalidData, "not UTF-8");
        assert_eq!(classify(&anyhow::Error::new(data)), Kind::Permanent);
    }

    #[test]
    fn a_failure_reads_as_its_whole_chain() {
        let row = rusqlite::Error::QueryReturnedNoRows;
        let e = anyhow::Error::new(row).context("loading contract 3");
        let failure = Failure::from(e);
        assert_eq!(failure.kind, Kind::Permanent);
        assert_eq!(
            failure.to_string(),
            "loading contract 3: Query returned no rows"
        );
    }

    fn at(h: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_773_133_200 + h * 3600, 0).expect("time")
    }

    #[test]
    fn a_transient_failure_is_given_up_once_it_has_lasted_give_up_after() {
        let day = Duration::from_secs(24 * 3600);
        assert!(!gives_up(Kind::Transient, at(0), at(0), day));
        assert!(!gives_up(Kind::Transient, at(0), at(23), day));
        assert!(gives_up(Kind::Transient, at(0), at(24), day));
        assert!(gives_up(Kind::Transient, at(0), at(100), day));
        // The clock set back: younger, not older.
        assert!(!gives_up(Kind::Transient, at(10), at(0), day));
        // A limit past what time can hold never gives up.
        assert!(!gives_up(Kind::Transient, at(0), at(100), Duration::MAX));
    }

    #[test]
    fn a_permanent_failure_is_given_up_at_once() {
        let day = Duration::from_secs(24 * 3600);
        assert!(gives_up(Kind::Permanent, at(0), at(0), day));
    }

    #[test]
    fn the_reason_says_the_kind_and_how_long_it_lasted() {
        let f = Failure::from(anyhow::anyhow!("database or disk is full"));
        assert_eq!(
            f.reason(at(0), at(0)),
            "permanent failure: database or disk is full"
        );
        let t = Failure {
            kind: Kind::Transient,
            error: anyhow::anyhow!("database is locked"),
        };
        assert_eq!(
            t.reason(at(0), at(25)),
            "transient failure lasting 25.0 h, given up: database is locked"
        );
    }
}
