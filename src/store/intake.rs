//! The intake transaction: look up what `decide` needs, record the inbound message with
//! its raw bytes, then (`effects.rs`) apply the decision's effects and queue its mails as
//! the pipeline composed them — all in one SQLite transaction, so a crash at any point
//! leaves either everything or nothing.

use anyhow::{bail, Context, Result};
use chrono::{DateTime, NaiveDate, Utc};
use rusqlite::{params, OptionalExtension, TransactionBehavior};

use crate::core::address::Address;
use crate::core::contract::Contract;
use crate::core::decision::{Facts, Folder, Outcome, Wanted};
use crate::core::inbound::Inbound;
use crate::core::ticket::{
    Extra, PendingQuote, ThreadEntry, TicketCode, TicketFacts, TicketState, TicketStatus,
};

use super::{parse_ts, ts, Store};

/// The stored outcome of a message set aside in quarantine because handling it failed.
pub const FAILED: &str = "failed";

/// Where an inbound message came from; IMAP messages are identified by their mailbox,
/// UIDVALIDITY and UID so that a message is never processed twice.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InboundSource {
    Imap {
        mailbox: String,
        uidvalidity: u32,
        uid: u32,
    },
    /// `assistenza process FILE.eml`: identified by Message-ID only.
    File,
    /// The portal's form: identified by the Message-ID made of its idempotency key.
    /// Nothing to move: recorded as moved.
    Web,
}

/// A message already recorded: it only needs moving to its folder.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Duplicate {
    pub inbound_id: i64,
    pub folder: Folder,
    pub outcome: String,
    pub moved: bool,
}

/// An open intake transaction (BEGIN IMMEDIATE: the write lock is taken up front, so the
/// facts read are still true when the effects are written). Inside a group commit
/// (`begin_group`) it is a savepoint of the group's transaction instead: committing it
/// keeps its changes for the group's one commit, dropping it undoes only its own.
pub struct Tx<'a> {
    pub(super) tx: Inner<'a>,
}

/// A transaction of its own, or a savepoint of a group's.
pub(super) enum Inner<'a> {
    Own(rusqlite::Transaction<'a>),
    Savepoint(rusqlite::Savepoint<'a>),
}

impl std::ops::Deref for Inner<'_> {
    type Target = rusqlite::Connection;

    fn deref(&self) -> &rusqlite::Connection {
        match self {
            Inner::Own(tx) => tx,
            Inner::Savepoint(sp) => sp,
        }
    }
}

impl Store {
    pub fn begin(&mut self) -> Result<Tx<'_>> {
        let tx = if self.grouped {
            if self.conn.is_autocommit() {
                bail!("the group commit's transaction was rolled back");
            }
            Inner::Savepoint(self.conn.savepoint().context("starting a savepoint")?)
        } else {
            Inner::Own(
                self.conn
                    .transaction_with_behavior(TransactionBehavior::Immediate)
                    .context("starting the intake transaction")?,
            )
        };
        Ok(Tx { tx })
    }

    /// Starts a group commit: the intake transactions begun until `commit_group` are
    /// savepoints of this one transaction, made durable by one commit (one fsync).
    pub fn begin_group(&mut self) -> Result<()> {
        self.conn
            .execute_batch("BEGIN IMMEDIATE")
            .context("starting a group commit")?;
        self.grouped = true;
        Ok(())
    }

    /// Whether the group's transaction is still open: SQLite rolls the whole of it back
    /// on some errors (a full disk, an I/O error), undoing every message in it.
    pub fn group_intact(&self) -> bool {
        !self.grouped || !self.conn.is_autocommit()
    }

    /// Commits the group; on an error nothing of it was kept (it is rolled back).
    pub fn commit_group(&mut self) -> Result<()> {
        self.grouped = false;
        if self.conn.is_autocommit() {
            bail!("the group commit's transaction was rolled back");
        }
        let result = self.conn.execute_batch("COMMIT");
        if result.is_err() && !self.conn.is_autocommit() {
            let _ = self.conn.execute_batch("ROLLBACK");
        }
        result.context("committing the group")
    }

    /// Records that the IMAP move of these messages succeeded.
    /// Records that these messages were moved out of the mailbox: one transaction for
    /// the batch (one fsync, not one per message).
    pub fn mark_moved(&mut self, ids: &[i64], now: DateTime<Utc>) -> Result<()> {
        let tx = self.conn.transaction()?;
        {
            let mut stmt = tx.prepare_cached("UPDATE inbound SET moved_at = ?2 WHERE id = ?1")?;
            for id in ids {
                stmt.execute(params![id, ts(now)])?;
            }
        }
        tx.commit().context("recording moved messages")
    }
}

impl Tx<'_> {
    pub fn find_by_source(&self, source: &InboundSource) -> Result<Option<Duplicate>> {
        find_by_source(&self.tx, source)
    }

    /// The message recorded before with this Message-ID. One set aside after a failure
    /// does not count: moved back to the mailbox once the fault is fixed, it is handled anew.
    pub fn find_by_message_id(&self, message_id: &str) -> Result<Option<Duplicate>> {
        self.tx
            .prepare_cached(
                "SELECT id, folder, outcome, moved_at IS NOT NULL FROM inbound
                 WHERE message_id = ?1 AND outcome <> 'failed' ORDER BY id LIMIT 1",
            )?
            .query_row([message_id], duplicate_from_row)
            .optional()
            .context("looking up a Message-ID")
    }

    /// Loads the facts `decide` asked for.
    /// What `decide` needs to know about this message, as of `now`.
    pub fn facts(
        &self,
        wanted: &Wanted,
        prefix: &str,
        year: i32,
        now: DateTime<Utc>,
    ) -> Result<Facts> {
        let mut contract_ids: Vec<i64> = Vec::new();
        {
            let mut stmt = self
                .tx
                .prepare_cached("SELECT contract_id FROM contract_addresses WHERE address = ?1")?;
            for a in &wanted.addresses {
                for id in stmt.query_map([a.as_str()], |r| r.get::<_, i64>(0))? {
                    let id = id?;
                    if !contract_ids.contains(&id) {
                        contract_ids.push(id);
                    }
                }
            }
        }
        let contracts = contract_ids
            .iter()
            .map(|id| load_contract(&self.tx, *id))
            .collect::<Result<Vec<_>>>()?;
        let ticket = match &wanted.code {
            Some(code) => self.ticket_by_code(&code.to_string())?,
            None => self.ticket_by_refs(&wanted.refs)?,
        };
        let merge_target = match &wanted.merge_into {
            Some(code) => self.ticket_by_code(&code.to_string())?,
            None => None,
        };
        let last: Option<u32> = self
            .tx
            .prepare_cached("SELECT last FROM ticket_counters WHERE prefix = ?1 AND year = ?2")?
            .query_row(params![prefix, year], |r| r.get(0))
            .optional()?;
        let next_code = TicketCode {
            prefix: prefix.to_string(),
            year,
            number: last.unwrap_or(0) + 1,
        };
        let replies_last_hour = self.replies_last_hour(wanted, ticket.as_ref(), now)?;
        Ok(Facts {
            contracts,
            ticket,
            merge_target,
            next_code,
            replies_last_hour,
        })
    }

    /// For the reply rate limit: mails queued in the hour before `now` to each customer
    /// address in play (the message's and the ticket's requester).
    fn replies_last_hour(
        &self,
        wanted: &Wanted,
        ticket: Option<&TicketFacts>,
        now: DateTime<Utc>,
    ) -> Result<Vec<(Address, u32)>> {
        let mut in_play: Vec<&Address> = wanted.addresses.iter().collect();
        if let Some(t) = ticket {
            if !in_play.contains(&&t.requester) {
                in_play.push(&t.requester);
            }
        }
        let since = ts(now - chrono::Duration::hours(1));
        let mut replies_last_hour = Vec::new();
        let mut stmt = self.tx.prepare_cached(
            "SELECT COUNT(*) FROM outbox_recipients WHERE address = ?1 AND created_at >= ?2",
        )?;
        for a in in_play {
            let n: u32 = stmt.query_row(params![a.as_str(), since], |r| r.get(0))?;
            replies_last_hour.push((a.clone(), n));
        }
        Ok(replies_last_hour)
    }

    /// The ticket with this code, with its status, contract and thread; for a ticket
    /// merged into another, that other one, which its mail reaches from then on.
    pub fn ticket_by_code(&self, code: &str) -> Result<Option<TicketFacts>> {
        let found: Option<(i64, Option<i64>)> = self
            .tx
            .prepare_cached("SELECT id, merged_into FROM tickets WHERE code = ?1")?
            .query_row([code], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?;
        let id = match found {
            None => return Ok(None),
            Some((id, None)) => id,
            Some((_, Some(into))) => self.survivor(into)?,
        };
        self.ticket(id).map(Some)
    }

    /// The ticket that carries on `id`'s correspondence: itself, or the end of its merges.
    fn survivor(&self, mut id: i64) -> Result<i64> {
        let mut stmt = self
            .tx
            .prepare_cached("SELECT merged_into FROM tickets WHERE id = ?1")?;
        // A merge only goes into a ticket still being worked on, so chains are short and
        // never loop; the bound is a guard against a hand-edited database.
        for _ in 0..16 {
            match stmt.query_row([id], |r| r.get::<_, Option<i64>>(0))? {
                Some(next) => id = next,
                None => return Ok(id),
            }
        }
        bail!("ticket {id}: too many merges in a row")
    }

    /// A ticket with its status, contract, thread, participants, quote and time.
    pub fn ticket(&self, id: i64) -> Result<TicketFacts> {
        let (code, requester, contract_id, summary, opened_at, status) = self
            .tx
            .prepare_cached(
                "SELECT t.code, t.requester, t.contract_id, t.summary, t.opened_at, t.state,
                        t.operator, t.level, t.team, t.urgent, t.first_contact_due_at,
                        t.first_contact_at, t.reminded_at, t.closed_at, t.reopen_until, t.extra,
                        t.customer_reminder_at, t.customer_reminded_at, t.auto_close_at, m.code
                 FROM tickets t LEFT JOIN tickets m ON m.id = t.merged_into WHERE t.id = ?1",
            )?
            .query_row([id], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, i64>(2)?,
                    r.get::<_, String>(3)?,
                    parse_ts(&r.get::<_, String>(4)?)?,
                    status_from(r)?,
                ))
            })
            .with_context(|| format!("loading ticket {id}"))?;
        Ok(TicketFacts {
            id,
            code: code_from_db(&code).with_context(|| format!("stored ticket code {code:?}"))?,
            requester: Address::parse(&requester)
                .with_context(|| format!("ticket {code} has an invalid requester"))?,
            contract: load_contract(&self.tx, contract_id)?,
            summary,
            opened_at,
            status: status.into_status(&code)?,
            thread: self.thread(id)?,
            participants: self.participants(id)?,
            pending_quote: self.pending_quote(id)?,
            time_minutes: self.time_minutes(id)?,
        })
    }

    fn participants(&self, ticket_id: i64) -> Result<Vec<Address>> {
        let mut stmt = self.tx.prepare_cached(
            "SELECT address FROM ticket_participants WHERE ticket_id = ?1 ORDER BY added_at, address",
        )?;
        let rows = stmt.query_map([ticket_id], |r| r.get::<_, String>(0))?;
        let mut out = Vec::new();
        for a in rows {
            let a = a?;
            out.push(Address::parse(&a).with_context(|| format!("participant {a:?}"))?);
        }
        Ok(out)
    }

    fn pending_quote(&self, ticket_id: i64) -> Result<Option<PendingQuote>> {
        self.tx
            .prepare_cached(
                "SELECT amount_cents, sent_at, operator FROM quotes
                 WHERE ticket_id = ?1 AND decision IS NULL ORDER BY id DESC LIMIT 1",
            )?
            .query_row([ticket_id], |r| {
                Ok(PendingQuote {
                    amount_cents: r.get::<_, i64>(0)?.max(0).unsigned_abs(),
                    sent_at: parse_ts(&r.get::<_, String>(1)?)?,
                    operator: r.get(2)?,
                })
            })
            .optional()
            .context("loading a ticket's quote")
    }

    fn time_minutes(&self, ticket_id: i64) -> Result<i64> {
        self.tx
            .prepare_cached(
                "SELECT COALESCE(SUM(minutes), 0) FROM time_entries WHERE ticket_id = ?1",
            )?
            .query_row([ticket_id], |r| r.get(0))
            .context("adding up a ticket's time")
    }

    /// Every message received and sent on a ticket, oldest first.
    fn thread(&self, ticket_id: i64) -> Result<Vec<ThreadEntry>> {
        let mut stmt = self.tx.prepare_cached(
            // In the order the daemon handled them (a message, then the mail it caused):
            // INTERNALDATE has whole seconds only, so it cannot order a quick exchange.
            "SELECT received_at, 0 AS out, outcome, COALESCE(sender, ''), message_id,
                    COALESCE(text, ''), processed_at AS handled, id
             FROM inbound WHERE ticket_id = ?1
             UNION ALL
             SELECT created_at, 1, kind, recipients, message_id, COALESCE(body, ''), created_at, id
             FROM outbox WHERE ticket_id = ?1
             ORDER BY handled, out, id",
        )?;
        let rows = stmt.query_map([ticket_id], |r| {
            Ok(ThreadEntry {
                at: parse_ts(&r.get::<_, String>(0)?)?,
                outgoing: r.get(1)?,
                kind: r.get(2)?,
                who: r.get(3)?,
                message_id: r.get(4)?,
                text: r.get(5)?,
            })
        })?;
        rows.collect::<rusqlite::Result<Vec<_>>>()
            .context("loading a ticket's thread")
    }

    /// The ticket a reply belongs to, through the Message-IDs of mails we sent for it or
    /// received on it.
    fn ticket_by_refs(&self, refs: &[String]) -> Result<Option<TicketFacts>> {
        let mut stmt = self.tx.prepare_cached(
            "SELECT t.code FROM outbox o JOIN tickets t ON t.id = o.ticket_id WHERE o.message_id = ?1
             UNION ALL
             SELECT t.code FROM inbound i JOIN tickets t ON t.id = i.ticket_id WHERE i.message_id = ?1
             LIMIT 1",
        )?;
        for r in refs {
            let code: Option<String> = stmt.query_row([r], |row| row.get(0)).optional()?;
            if let Some(code) = code {
                return self.ticket_by_code(&code);
            }
        }
        Ok(None)
    }

    /// Records the message with its outcome; returns the inbound row id, which the
    /// decision's effects then name as their cause (`Tx::apply`).
    pub fn record_inbound(
        &self,
        source: &InboundSource,
        msg: &Inbound,
        raw: &[u8],
        outcome: &Outcome,
        now: DateTime<Utc>,
    ) -> Result<i64> {
        let row = (outcome.kind(), outcome.reason(), outcome.folder());
        self.insert_inbound(source, msg, raw, row, now)
    }

    /// Records a message that could not be handled as set aside in quarantine (outcome
    /// `failed`), with why; returns the inbound row id. Nothing else of it is recorded:
    /// it touches no ticket.
    pub fn record_failure(
        &self,
        source: &InboundSource,
        msg: &Inbound,
        raw: &[u8],
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<i64> {
        self.insert_inbound(source, msg, raw, (FAILED, reason, Folder::Quarantine), now)
    }

    fn insert_inbound(
        &self,
        source: &InboundSource,
        msg: &Inbound,
        raw: &[u8],
        (outcome, reason, folder): (&str, &str, Folder),
        now: DateTime<Utc>,
    ) -> Result<i64> {
        let (mailbox, uidvalidity, uid) = match source {
            InboundSource::Imap {
                mailbox,
                uidvalidity,
                uid,
            } => (Some(mailbox.as_str()), Some(*uidvalidity), Some(*uid)),
            InboundSource::File => (None, None, None),
            InboundSource::Web => (Some("web"), None, None),
        };
        let moved_at = (*source == InboundSource::Web).then(|| ts(now));
        self.tx
            .prepare_cached(
                "INSERT INTO inbound (mailbox, uidvalidity, uid, message_id, received_at,
                     processed_at, sender, subject, size, outcome, reason, folder, raw,
                     moved_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
            )?
            .execute(params![
                mailbox,
                uidvalidity,
                uid,
                msg.message_id,
                ts(msg.received_at),
                ts(now),
                msg.from.as_ref().map(|a| a.as_str()),
                msg.subject,
                msg.size as i64,
                outcome,
                reason,
                folder_name(folder),
                raw,
                moved_at,
            ])
            .context("recording the inbound message")?;
        Ok(self.tx.last_insert_rowid())
    }

    pub fn commit(self) -> Result<()> {
        match self.tx {
            Inner::Own(tx) => tx.commit(),
            Inner::Savepoint(sp) => sp.commit(),
        }
        .context("committing the intake transaction")
    }
}

fn find_by_source(
    conn: &rusqlite::Connection,
    source: &InboundSource,
) -> Result<Option<Duplicate>> {
    let InboundSource::Imap {
        mailbox,
        uidvalidity,
        uid,
    } = source
    else {
        return Ok(None);
    };
    conn.prepare_cached(
        "SELECT id, folder, outcome, moved_at IS NOT NULL FROM inbound
         WHERE mailbox = ?1 AND uidvalidity = ?2 AND uid = ?3",
    )?
    .query_row(params![mailbox, uidvalidity, uid], duplicate_from_row)
    .optional()
    .context("looking up an IMAP message")
}

fn duplicate_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Duplicate> {
    let folder: String = r.get(1)?;
    Ok(Duplicate {
        inbound_id: r.get(0)?,
        folder: folder_from_name(&folder).unwrap_or(Folder::Quarantine),
        outcome: r.get(2)?,
        moved: r.get(3)?,
    })
}

pub(crate) fn load_contract(conn: &rusqlite::Connection, id: i64) -> Result<Contract> {
    let (customer, from, until, disabled): (String, String, String, bool) = conn
        .prepare_cached(
            "SELECT customer, valid_from, valid_until, disabled FROM contracts WHERE id = ?1",
        )?
        .query_row([id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .with_context(|| format!("loading contract {id}"))?;
    let addresses = conn
        .prepare_cached(
            "SELECT address FROM contract_addresses WHERE contract_id = ?1 ORDER BY address",
        )?
        .query_map([id], |r| r.get::<_, String>(0))?
        .filter_map(|a| a.ok().and_then(|a| Address::parse(&a)))
        .collect();
    let references = conn
        .prepare_cached(
            "SELECT reference FROM contract_references WHERE contract_id = ?1 ORDER BY position",
        )?
        .query_map([id], |r| r.get::<_, String>(0))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let date = |s: &str| {
        NaiveDate::parse_from_str(s, "%Y-%m-%d")
            .with_context(|| format!("contract {customer:?} has a bad date {s:?}"))
    };
    Ok(Contract {
        id,
        valid_from: date(&from)?,
        valid_until: date(&until)?,
        customer,
        addresses,
        references,
        disabled,
    })
}

/// Ticket codes are stored as text; the prefix may have changed in the config since.
pub(crate) fn code_from_db(text: &str) -> Option<TicketCode> {
    let mut parts = text.rsplitn(3, '-');
    let number = parts.next()?.parse().ok()?;
    let year = parts.next()?.parse().ok()?;
    let prefix = parts.next()?.to_string();
    Some(TicketCode {
        prefix,
        year,
        number,
    })
}

pub(crate) fn folder_name(folder: Folder) -> &'static str {
    match folder {
        Folder::Processed => "processed",
        Folder::Rejected => "rejected",
        Folder::Quarantine => "quarantine",
    }
}

fn folder_from_name(name: &str) -> Option<Folder> {
    match name {
        "processed" => Some(Folder::Processed),
        "rejected" => Some(Folder::Rejected),
        "quarantine" => Some(Folder::Quarantine),
        _ => None,
    }
}

/// A ticket's status as its row holds it (columns 5 to 19 of `Tx::ticket`'s query).
struct StoredStatus {
    state: String,
    extra: String,
    status: TicketStatus,
}

fn status_from(r: &rusqlite::Row<'_>) -> rusqlite::Result<StoredStatus> {
    let time = |i: usize| -> rusqlite::Result<Option<DateTime<Utc>>> {
        r.get::<_, Option<String>>(i)?
            .map(|t| parse_ts(&t))
            .transpose()
    };
    let merged: Option<String> = r.get(19)?;
    Ok(StoredStatus {
        state: r.get(5)?,
        extra: r.get(15)?,
        status: TicketStatus {
            // Set from `state` and `extra` by `into_status`, which can say what is wrong.
            state: TicketState::Open,
            extra: Extra::No,
            operator: r.get(6)?,
            level: r.get(7)?,
            team: r.get(8)?,
            urgent: r.get(9)?,
            first_contact_due_at: time(10)?,
            first_contact_at: time(11)?,
            reminded_at: time(12)?,
            closed_at: time(13)?,
            reopen_until: time(14)?,
            customer_reminder_at: time(16)?,
            customer_reminded_at: time(17)?,
            auto_close_at: time(18)?,
            merged_into: merged.as_deref().and_then(code_from_db),
        },
    })
}

impl StoredStatus {
    fn into_status(self, code: &str) -> Result<TicketStatus> {
        let (state, extra) = (self.state, self.extra);
        Ok(TicketStatus {
            state: TicketState::from_name(&state)
                .with_context(|| format!("ticket {code} has unknown state {state:?}"))?,
            extra: Extra::from_name(&extra)
                .with_context(|| format!("ticket {code} has unknown extra {extra:?}"))?,
            ..self.status
        })
    }
}

#[cfg(test)]
mod group_tests {
    use chrono::TimeZone;

    use super::*;
    use crate::core::decision::Rejection;
    use crate::store::test_support::{message, temp_store};

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2027, 6, 1, 10, 0, 0)
            .single()
            .expect("valid")
    }

    fn inbound_count(store: &Store) -> i64 {
        store
            .conn
            .query_row("SELECT COUNT(*) FROM inbound", [], |r| r.get(0))
            .expect("count")
    }

    /// Records message `n` in its own `begin` (a savepoint inside a group); `fail` makes
    /// it go wrong after writing, as a message whose handling fails would.
    fn record(store: &mut Store, n: u32, fail: bool) -> Result<()> {
        let (source, msg, raw) = message(n, "mario@rossi.it", now());
        let tx = store.begin()?;
        let outcome = Outcome::Rejected(Rejection::EmptyRequest);
        tx.record_inbound(&source, &msg, &raw, &outcome, now())?;
        if fail {
            bail!("message {n} fails after writing");
        }
        tx.commit()
    }

    #[test]
    fn one_message_failing_in_a_group_never_undoes_the_others() {
        let (_dir, mut store) = temp_store();
        store.begin_group().expect("group");
        record(&mut store, 1, false).expect("first");
        assert!(record(&mut store, 2, true).is_err());
        record(&mut store, 3, false).expect("third");
        assert!(store.group_intact());
        store.commit_group().expect("commit");
        assert_eq!(inbound_count(&store), 2, "messages 1 and 3 kept, 2 undone");
        // Out of the group, `begin` is a transaction of its own again.
        record(&mut store, 4, false).expect("alone");
        assert_eq!(inbound_count(&store), 3);
    }

    #[test]
    fn a_group_rolled_back_keeps_nothing_and_says_so() {
        let (_dir, mut store) = temp_store();
        store.begin_group().expect("group");
        record(&mut store, 1, false).expect("first");
        // As SQLite does on a full disk: the whole transaction rolled back.
        store.conn.execute_batch("ROLLBACK").expect("rollback");
        assert!(!store.group_intact());
        assert!(
            store.begin().is_err(),
            "no savepoint outside the group's transaction"
        );
        assert!(store.commit_group().is_err());
        assert_eq!(inbound_count(&store), 0);
    }
}
