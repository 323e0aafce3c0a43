//! `assistenza gdpr export | erase ADDRESS`: one person's data on request, before the
//! retention period ends.
//!
//! The export reads every message received from or sent to the address (its raw bytes as
//! stored), and the history and time of the tickets the address asked for, sent or is
//! copied on.
//!
//! The erasure, in one `BEGIN IMMEDIATE` transaction (the daemon waits on its busy
//! timeout):
//! - the raw mail, text and subject of every message from or to the address, of the whole
//!   thread of the tickets it asked for, and of the mail those messages caused, are
//!   replaced by a short placeholder (mail not sent yet is given up);
//! - the summary of those tickets, the operators' internal notes on them and the text of
//!   their quotes become empty;
//! - form submissions held for its confirmation are deleted, and so is the address on its
//!   contract (it can no longer open tickets);
//! - everywhere else (every text and blob column of every table) the address is replaced
//!   by a pseudonym, the same for the same address: `cancellato-<12 hex>@cancellato.invalid`,
//!   still an address wherever the code parses one, and undeliverable (RFC 2606);
//! - an `audit` row records that an erasure happened, with counts only.
//!
//! Ticket codes, states, dates, operators, time entries and quote amounts stay: invoicing
//! and tax law need them (SECURITY.md). Deleting rows is not enough to erase (SQLite keeps
//! freed pages, and old page images stay in the WAL): the transaction runs with
//! `secure_delete`, then `VACUUM` rewrites the file and `wal_checkpoint(TRUNCATE)` empties
//! the WAL, so the erased bytes are in neither file.

use anyhow::{bail, Context, Result};
use chrono::{DateTime, Utc};
use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::TransactionBehavior;

use crate::core::address::Address;

use super::tickets::{TicketEvent, TicketTime};
use super::{parse_ts, ts, Store};

/// What an erased message's raw bytes become: still a message, so that `tickets show`
/// and anything else that parses it reads a placeholder.
const PLACEHOLDER: &[u8] = b"Subject: (cancellato)\r\nX-Assistenza-Erased: yes\r\n\r\n\
(Contenuto cancellato su richiesta dell'interessato.)\r\n";

/// What an erased message's subject becomes.
const ERASED_SUBJECT: &str = "(cancellato)";

/// The domain of every pseudonym: reserved, never deliverable (RFC 2606).
const PSEUDONYM_DOMAIN: &str = "cancellato.invalid";

/// What an erasure did (or, in a dry run, would do).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Erasure {
    /// What the address is replaced by.
    pub pseudonym: String,
    /// Codes of the tickets the address asked for: their whole thread is erased.
    pub tickets: Vec<String>,
    /// Those of them still open: mail the desk sends on them goes to the pseudonym.
    pub open: Vec<String>,
    pub inbound: u64,
    pub outbox: u64,
    /// Of `outbox`, mail not sent yet and now given up.
    pub cancelled: u64,
    /// Form submissions held for confirmation, deleted.
    pub held_submissions: u64,
    /// Customers whose contract listed the address (it is removed).
    pub contracts: Vec<String>,
    /// Rows where the address was replaced by the pseudonym.
    pub replaced: u64,
}

/// One stored message for the export.
#[derive(Clone, Debug)]
pub struct ExportMail {
    pub at: DateTime<Utc>,
    /// `in` (received) or `out` (sent), or `form` (held for confirmation).
    pub direction: &'static str,
    pub ticket: Option<String>,
    pub raw: Vec<u8>,
}

/// Everything `gdpr export` writes.
#[derive(Clone, Debug, Default)]
pub struct Export {
    pub mails: Vec<ExportMail>,
    /// Codes of the tickets the address asked for, sent or is copied on.
    pub tickets: Vec<String>,
    pub history: Vec<(String, TicketEvent)>,
    pub time: Vec<(String, TicketTime)>,
}

/// The tickets an export covers (`?1` is the address).
const TICKETS_OF: &str = "SELECT id FROM tickets WHERE requester = ?1 OR sender = ?1
    UNION SELECT ticket_id FROM ticket_participants WHERE address = ?1";

impl Store {
    /// The pseudonym `address` is (or will be) replaced by.
    pub fn pseudonym(&self, address: &Address) -> Result<String> {
        let salt: Vec<u8> = self
            .conn
            .query_row("SELECT salt FROM gdpr_salt WHERE id = 1", [], |r| r.get(0))
            .context("reading the pseudonyms' salt")?;
        let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
        ctx.update(address.as_str().as_bytes());
        ctx.update(&salt);
        let hex: String = ctx.finish().as_ref()[..6]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        Ok(format!("cancellato-{hex}@{PSEUDONYM_DOMAIN}"))
    }

    /// Everything stored about `address` that `gdpr export` writes.
    pub fn gdpr_export(&self, address: &Address) -> Result<Export> {
        let a = address.as_str();
        let mut mails = self.export_mails(a)?;
        mails.sort_by_key(|x| x.at);
        let tickets = column(
            &self.conn,
            &format!("SELECT code FROM tickets WHERE id IN ({TICKETS_OF}) ORDER BY code"),
            [a],
        )?;
        Ok(Export {
            mails,
            tickets,
            history: self.export_history(a)?,
            time: self.export_time(a)?,
        })
    }

    fn export_mails(&self, a: &str) -> Result<Vec<ExportMail>> {
        // Received from the address, or a request made in its name by a colleague (the
        // subject is the requester); sent to it; and form submissions waiting for it.
        let sql = "SELECT i.received_at, 'in', t.code, i.raw FROM inbound i
                LEFT JOIN tickets t ON t.id = i.ticket_id
            WHERE lower(i.sender) = ?1 OR (i.outcome = 'ticket' AND t.requester = ?1)
            UNION ALL
            SELECT o.created_at, 'out', t.code, o.raw FROM outbox o
                LEFT JOIN tickets t ON t.id = o.ticket_id
            WHERE o.id IN (SELECT outbox_id FROM outbox_recipients WHERE address = ?1)
            UNION ALL
            SELECT created_at, 'form', NULL, raw FROM web_pending
            WHERE lower(address) = ?1 AND inbound_id IS NULL";
        let mut stmt = self.conn.prepare(sql)?;
        let rows = stmt.query_map([a], |r| {
            let direction = match r.get::<_, String>(1)?.as_str() {
                "in" => "in",
                "out" => "out",
                _ => "form",
            };
            Ok(ExportMail {
                at: parse_ts(&r.get::<_, String>(0)?)?,
                direction,
                ticket: r.get(2)?,
                raw: r.get(3)?,
            })
        })?;
        rows.collect::<rusqlite::Result<Vec<_>>>()
            .context("reading the mail of an address")
    }

    fn export_history(&self, a: &str) -> Result<Vec<(String, TicketEvent)>> {
        let sql = format!(
            "SELECT t.code, e.at, e.actor, e.event, e.detail FROM ticket_events e
             JOIN tickets t ON t.id = e.ticket_id
             WHERE e.ticket_id IN ({TICKETS_OF}) ORDER BY t.code, e.at, e.id"
        );
        let mut stmt = self.conn.prepare(&sql)?;
        let rows = stmt.query_map([a], |r| {
            Ok((
                r.get(0)?,
                TicketEvent {
                    at: parse_ts(&r.get::<_, String>(1)?)?,
                    actor: r.get(2)?,
                    event: r.get(3)?,
                    detail: r.get(4)?,
                },
            ))
        })?;
        rows.collect::<rusqlite::Result<Vec<_>>>()
            .context("reading the history of an address's tickets")
    }

    fn export_time(&self, a: &str) -> Result<Vec<(String, TicketTime)>> {
        let sql = format!(
            "SELECT t.code, e.operator, e.day, e.minutes, e.at FROM time_entries e
             JOIN tickets t ON t.id = e.ticket_id
             WHERE e.ticket_id IN ({TICKETS_OF}) ORDER BY t.code, e.at, e.id"
        );
        let mut stmt = self.conn.prepare(&sql)?;
        let rows = stmt.query_map([a], |r| {
            Ok((
                r.get(0)?,
                TicketTime {
                    operator: r.get(1)?,
                    day: r.get(2)?,
                    minutes: r.get(3)?,
                    at: parse_ts(&r.get::<_, String>(4)?)?,
                },
            ))
        })?;
        rows.collect::<rusqlite::Result<Vec<_>>>()
            .context("reading the time of an address's tickets")
    }

    /// Erases `address` (see the module documentation); with `dry_run` the same work is
    /// done and rolled back. A real run then rewrites the file and empties the WAL.
    pub fn gdpr_erase(
        &mut self,
        address: &Address,
        now: DateTime<Utc>,
        dry_run: bool,
    ) -> Result<Erasure> {
        let previous: i64 = self
            .conn
            .query_row("PRAGMA secure_delete", [], |r| r.get(0))?;
        self.conn.pragma_update(None, "secure_delete", "ON")?;
        let result = self.erase_tx(address, now, dry_run);
        let restored = self.conn.pragma_update(None, "secure_delete", previous);
        let erasure = result?;
        restored?;
        if !dry_run {
            self.compact()
                .context("rewriting the database after the erasure")?;
        }
        Ok(erasure)
    }

    /// `VACUUM` (a new file without the freed pages), then a checkpoint that copies the
    /// WAL into it and truncates the WAL to nothing.
    fn compact(&self) -> Result<()> {
        self.conn.execute_batch("VACUUM")?;
        let (busy, _, _): (i64, i64, i64) =
            self.conn
                .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                })?;
        if busy != 0 {
            bail!(
                "the erasure is committed, but another process (the daemon?) kept the WAL \
                 busy, so old copies of the erased pages may still be in the -wal file: \
                 run the same `gdpr erase` again (it finds nothing left to erase and \
                 retries this step), or stop the daemon first"
            );
        }
        Ok(())
    }

    fn erase_tx(
        &mut self,
        address: &Address,
        now: DateTime<Utc>,
        dry_run: bool,
    ) -> Result<Erasure> {
        let pseudonym = self.pseudonym(address)?;
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .context("starting the erasure transaction")?;
        let a = address.as_str();
        choose(&tx, a)?;
        let tickets = column(
            &tx,
            "SELECT code FROM tickets WHERE id IN temp.gdpr_tickets ORDER BY code",
            [],
        )?;
        let open = column(
            &tx,
            "SELECT code FROM tickets WHERE id IN temp.gdpr_tickets
             AND state NOT IN ('closed', 'resolved', 'merged') ORDER BY code",
            [],
        )?;
        let contracts = column(
            &tx,
            "SELECT c.customer FROM contracts c JOIN contract_addresses a
             ON a.contract_id = c.id WHERE a.address = ?1 ORDER BY c.customer",
            [a],
        )?;
        let mut erasure = erase_chosen(&tx, a, &ts(now))?;
        // A second erasure of an address copied again since: one row per ticket.
        tx.execute(
            "DELETE FROM ticket_participants WHERE address = ?1 AND ticket_id IN
             (SELECT ticket_id FROM ticket_participants WHERE address = ?2)",
            [a, pseudonym.as_str()],
        )?;
        erasure.replaced = replace_everywhere(&tx, &needles(address), &pseudonym)?;
        erasure.pseudonym = pseudonym;
        erasure.tickets = tickets;
        erasure.open = open;
        erasure.contracts = contracts;
        tx.execute(
            "INSERT INTO audit (at, action, detail) VALUES (?1, 'gdpr_erase', ?2)",
            rusqlite::params![ts(now), audit_detail(&erasure)],
        )?;
        tx.execute_batch(
            "DROP TABLE temp.gdpr_tickets; DROP TABLE temp.gdpr_inbound;
             DROP TABLE temp.gdpr_outbox;",
        )?;
        if dry_run {
            tx.rollback().context("rolling back the dry run")?;
        } else {
            tx.commit().context("committing the erasure")?;
        }
        Ok(erasure)
    }
}

/// Counts only: that an erasure happened and how big it was, never whose.
fn audit_detail(e: &Erasure) -> String {
    format!(
        "tickets {}, mail received {}, mail sent {}, form requests {}, rows pseudonymised {}",
        e.tickets.len(),
        e.inbound,
        e.outbox,
        e.held_submissions,
        e.replaced
    )
}

/// Fills the temporary tables: the tickets the address asked for, and the messages whose
/// bodies go.
fn choose(tx: &rusqlite::Connection, a: &str) -> Result<()> {
    tx.execute_batch(
        "CREATE TEMP TABLE gdpr_tickets (id INTEGER PRIMARY KEY);
         CREATE TEMP TABLE gdpr_inbound (id INTEGER PRIMARY KEY);
         CREATE TEMP TABLE gdpr_outbox (id INTEGER PRIMARY KEY);",
    )?;
    tx.execute(
        "INSERT INTO temp.gdpr_tickets SELECT id FROM tickets WHERE requester = ?1",
        [a],
    )?;
    // From the address, on its tickets (operators' mail included: it answers the
    // address), or a form submission of it confirmed.
    tx.execute(
        "INSERT INTO temp.gdpr_inbound
         SELECT id FROM inbound WHERE lower(sender) = ?1 OR ticket_id IN temp.gdpr_tickets
         UNION SELECT inbound_id FROM web_pending
         WHERE lower(address) = ?1 AND inbound_id IS NOT NULL",
        [a],
    )?;
    // To the address, on its tickets (notices to operators quote the request), or caused
    // by one of those messages (a forwarded reply, a rejection).
    tx.execute(
        "INSERT INTO temp.gdpr_outbox
         SELECT id FROM outbox WHERE ticket_id IN temp.gdpr_tickets
            OR inbound_id IN temp.gdpr_inbound
            OR id IN (SELECT outbox_id FROM outbox_recipients WHERE address = ?1)",
        [a],
    )?;
    Ok(())
}

/// Empties what was chosen and deletes what cannot stay, and counts it.
fn erase_chosen(tx: &rusqlite::Connection, a: &str, now: &str) -> Result<Erasure> {
    let cancelled = tx.execute(
        "UPDATE outbox SET failed_at = ?1, last_error = 'cancelled: erased on request'
         WHERE id IN temp.gdpr_outbox AND sent_at IS NULL AND failed_at IS NULL",
        [now],
    )? as u64;
    let inbound = tx.execute(
        "UPDATE inbound SET raw = ?1, subject = ?2,
                text = CASE WHEN text IS NULL THEN NULL ELSE '' END
         WHERE id IN temp.gdpr_inbound",
        rusqlite::params![PLACEHOLDER, ERASED_SUBJECT],
    )? as u64;
    let outbox = tx.execute(
        "UPDATE outbox SET raw = ?1, subject = ?2,
                body = CASE WHEN body IS NULL THEN NULL ELSE '' END
         WHERE id IN temp.gdpr_outbox",
        rusqlite::params![PLACEHOLDER, ERASED_SUBJECT],
    )? as u64;
    tx.execute_batch(
        "UPDATE tickets SET summary = '' WHERE id IN temp.gdpr_tickets;
         UPDATE ticket_events SET detail = ''
         WHERE ticket_id IN temp.gdpr_tickets AND event = 'note';
         UPDATE quotes SET text = '' WHERE ticket_id IN temp.gdpr_tickets;",
    )?;
    let held_submissions = tx.execute(
        "DELETE FROM web_pending WHERE lower(address) = ?1
            OR inbound_id IN temp.gdpr_inbound",
        [a],
    )? as u64;
    tx.execute("DELETE FROM contract_addresses WHERE address = ?1", [a])?;
    Ok(Erasure {
        inbound,
        outbox,
        cancelled,
        held_submissions,
        ..Erasure::default()
    })
}

/// The forms the address is looked for in: as stored (lower case, punycode domain) and,
/// for an international domain, as people write it.
fn needles(address: &Address) -> Vec<String> {
    let mut out = vec![address.as_str().to_string()];
    if address.domain().contains("xn--") {
        let (unicode, result) = idna::domain_to_unicode(address.domain());
        if result.is_ok() {
            out.push(format!(
                "{}@{}",
                address.local_part(),
                unicode.to_lowercase()
            ));
        }
    }
    out
}

/// Replaces every occurrence of `needles` with `pseudonym` in every text and blob column
/// of every table, and counts the rows changed.
fn replace_everywhere(
    tx: &rusqlite::Connection,
    needles: &[String],
    pseudonym: &str,
) -> Result<u64> {
    let tables = tx
        .prepare(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'
             ORDER BY name",
        )?
        .query_map([], |r| r.get::<_, String>(0))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let mut changed = 0;
    for table in &tables {
        let columns = column(
            tx,
            "SELECT name FROM pragma_table_info(?1) ORDER BY cid",
            [table],
        )?;
        for col in &columns {
            for needle in needles {
                changed += replace_in_column(tx, table, col, needle, pseudonym)
                    .with_context(|| format!("replacing the address in {table}.{col}"))?;
            }
        }
    }
    Ok(changed)
}

fn replace_in_column(
    tx: &rusqlite::Connection,
    table: &str,
    col: &str,
    needle: &str,
    pseudonym: &str,
) -> Result<u64> {
    // SQLite's lower() folds ASCII only, as `replace_address` compares.
    let select = format!(
        "SELECT rowid, \"{col}\" FROM \"{table}\"
         WHERE typeof(\"{col}\") IN ('text', 'blob')
           AND instr(lower(CAST(\"{col}\" AS TEXT)), ?1) > 0"
    );
    let mut found = Vec::new();
    {
        let mut stmt = tx.prepare(&select)?;
        let mut rows = stmt.query([needle])?;
        while let Some(r) = rows.next()? {
            let rowid: i64 = r.get(0)?;
            let (is_text, bytes) = match r.get_ref(1)? {
                ValueRef::Text(t) => (true, t),
                ValueRef::Blob(b) => (false, b),
                _ => continue,
            };
            if let Some(new) = replace_address(bytes, needle.as_bytes(), pseudonym.as_bytes()) {
                found.push((rowid, is_text, new));
            }
        }
    }
    let update = format!("UPDATE \"{table}\" SET \"{col}\" = ?1 WHERE rowid = ?2");
    let mut stmt = tx.prepare(&update)?;
    for (rowid, is_text, new) in &found {
        let value = if *is_text {
            ToSqlOutput::Borrowed(ValueRef::Text(new))
        } else {
            ToSqlOutput::Borrowed(ValueRef::Blob(new))
        };
        stmt.execute(rusqlite::params![value, rowid])?;
    }
    Ok(found.len() as u64)
}

/// A byte that can be part of an address's local part.
fn local_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b >= 0x80 || b"!#$%&'*+/=?^_`{|}~.-".contains(&b)
}

/// A byte that can be part of a domain label.
fn domain_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b >= 0x80 || b == b'-' || b == b'_'
}

/// Whether `hay[start..end]` is a whole address, not part of a longer one
/// (`anna@neri.it` in `marianna@neri.it` or `anna@neri.it.example.com`).
fn whole(hay: &[u8], start: usize, end: usize) -> bool {
    let before = start == 0 || !local_byte(hay[start - 1]);
    let after = match hay.get(end) {
        None => true,
        Some(b'.') => !hay.get(end + 1).is_some_and(|b| domain_byte(*b)),
        Some(b) => !domain_byte(*b),
    };
    before && after
}

/// `hay` with every whole occurrence of `needle` (ASCII case-insensitive) replaced by
/// `with`, or None when there is none.
pub(crate) fn replace_address(hay: &[u8], needle: &[u8], with: &[u8]) -> Option<Vec<u8>> {
    let n = needle.len();
    if n == 0 {
        return None;
    }
    let mut out = Vec::new();
    let (mut i, mut last) = (0, 0);
    while i + n <= hay.len() {
        if hay[i..i + n].eq_ignore_ascii_case(needle) && whole(hay, i, i + n) {
            out.extend_from_slice(&hay[last..i]);
            out.extend_from_slice(with);
            i += n;
            last = i;
        } else {
            i += 1;
        }
    }
    if last == 0 {
        return None;
    }
    out.extend_from_slice(&hay[last..]);
    Some(out)
}

/// The first column (text) of every row.
fn column(conn: &rusqlite::Connection, sql: &str, p: impl rusqlite::Params) -> Result<Vec<String>> {
    let mut stmt = conn.prepare(sql)?;
    let rows = stmt
        .query_map(p, |r| r.get::<_, String>(0))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::replace_address;

    fn replaced(hay: &str) -> String {
        replace_address(hay.as_bytes(), b"anna@neri.it", b"X")
            .map(|v| String::from_utf8(v).expect("utf8"))
            .unwrap_or_else(|| "(none)".into())
    }

    #[test]
    fn only_whole_addresses_are_replaced_whatever_their_case() {
        assert_eq!(
            replaced("To: Anna@Neri.IT, luca@neri.it"),
            "To: X, luca@neri.it"
        );
        assert_eq!(replaced("<anna@neri.it>."), "<X>.");
        assert_eq!(
            replaced("scrivi ad anna@neri.it. Grazie"),
            "scrivi ad X. Grazie"
        );
        assert_eq!(replaced("marianna@neri.it"), "(none)");
        assert_eq!(replaced("anna@neri.it.example.com"), "(none)");
        assert_eq!(replaced("anna@neri.italia"), "(none)");
        assert_eq!(replaced("anna@neri.it anna@neri.it"), "X X");
    }
}
