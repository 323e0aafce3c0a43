//! `assistenza purge`: the retention limit on personal data. Tickets closed for good
//! long enough ago are deleted with everything that holds personal data about them (their
//! history, the mail received and sent on them with its raw bytes, the bounces of their
//! mail), and so are old messages that never became part of a ticket (rejected or
//! quarantined mail) and old mail sent, given up or held outside any ticket.
//!
//! What is never deleted: tickets in any state but `closed` (a `resolved` ticket can still
//! be reopened), mail still waiting to be sent, contracts, and the ticket counters (a code
//! is never given twice, even after its ticket is gone).
//!
//! Everything happens in one `BEGIN IMMEDIATE` transaction, so the daemon (which waits on
//! the busy timeout) sees either all of it or none of it; a dry run is the same
//! transaction rolled back, so it reports exactly what a real run would delete. The
//! connection deletes with `secure_delete` on, so the rows it deletes are overwritten with
//! zeros; but copies a page left behind when it was rewritten before (in free space of
//! other pages) can still hold old text, which only a `VACUUM` removes, and that locks out
//! the daemon while it rewrites the whole file: `purge` does not run it (`gdpr erase`
//! does, for one person's data). The file does not shrink: SQLite reuses the pages.

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use rusqlite::TransactionBehavior;

use super::{ts, Store};

/// What a purge deleted (or, in a dry run, would delete).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PurgeReport {
    /// Codes of the tickets deleted, in order.
    pub tickets: Vec<String>,
    /// Tickets closed before the cutoff but kept this time, because mail of theirs is still
    /// waiting to be sent (or a kept row still refers to their messages). A later run
    /// deletes them.
    pub kept: Vec<String>,
    pub ticket_events: u64,
    /// Messages received on the deleted tickets (bounces of their mail included).
    pub inbound_of_tickets: u64,
    /// Messages that belong to no ticket (rejected, quarantined, refused commands).
    pub inbound_without_ticket: u64,
    /// Mail sent (or given up) on the deleted tickets.
    pub outbox_of_tickets: u64,
    /// Mail sent (or given up) outside any ticket: rejections, refusals.
    pub outbox_without_ticket: u64,
    /// Form submissions held for confirmation: sent before the cutoff, or confirmed as a
    /// message that goes.
    pub held_submissions: u64,
}

impl PurgeReport {
    pub fn inbound(&self) -> u64 {
        self.inbound_of_tickets + self.inbound_without_ticket
    }

    pub fn outbox(&self) -> u64 {
        self.outbox_of_tickets + self.outbox_without_ticket
    }

    /// Whether anything was (or would be) deleted.
    pub fn is_empty(&self) -> bool {
        self.tickets.is_empty()
            && self.ticket_events == 0
            && self.inbound() == 0
            && self.outbox() == 0
            && self.held_submissions == 0
    }
}

/// A ticket old enough to go (`?1` is the cutoff): closed for good, and both its closure
/// and the end of its reopen window before the cutoff (a reply received inside the window
/// may still reopen it, even when handled late).
const CANDIDATE: &str = "state = 'closed' AND closed_at < ?1
    AND (reopen_until IS NULL OR reopen_until < ?1)";

/// Mail not yet sent and not given up.
const PENDING: &str = "o.sent_at IS NULL AND o.failed_at IS NULL";

impl Store {
    /// Deletes what is older than `cutoff` (see the module documentation); with `dry_run`
    /// the same work is done and rolled back.
    pub fn purge(&mut self, cutoff: DateTime<Utc>, dry_run: bool) -> Result<PurgeReport> {
        let previous: i64 = self
            .conn
            .query_row("PRAGMA secure_delete", [], |r| r.get(0))?;
        self.conn.pragma_update(None, "secure_delete", "ON")?;
        let result = self.purge_tx(cutoff, dry_run);
        self.conn.pragma_update(None, "secure_delete", previous)?;
        let report = result?;
        if !dry_run && !report.is_empty() {
            // Copy what it can of the WAL into the database file now, so the zeroed pages
            // reach it; PASSIVE never waits for the daemon or blocks it.
            self.conn
                .query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
                .context("checkpointing after the purge")?;
        }
        Ok(report)
    }

    fn purge_tx(&mut self, cutoff: DateTime<Utc>, dry_run: bool) -> Result<PurgeReport> {
        let cutoff = ts(cutoff);
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .context("starting the purge transaction")?;
        choose_tickets(&tx, &cutoff)?;
        choose_messages(&tx, &cutoff)?;
        let tickets = texts(
            &tx,
            "SELECT code FROM tickets WHERE id IN temp.purge_tickets ORDER BY code",
            &[],
        )?;
        let kept = texts(
            &tx,
            &format!("SELECT code FROM tickets WHERE {CANDIDATE} AND id NOT IN temp.purge_tickets ORDER BY code"),
            &[&cutoff],
        )?;
        let report = delete_chosen(&tx, &cutoff, tickets, kept)?;
        tx.execute_batch("DROP TABLE temp.purge_tickets; DROP TABLE temp.purge_inbound;")?;
        if dry_run {
            tx.rollback().context("rolling back the dry run")?;
        } else {
            tx.commit().context("committing the purge")?;
        }
        Ok(report)
    }
}

/// Fills `temp.purge_tickets` with the tickets that go.
fn choose_tickets(tx: &rusqlite::Connection, cutoff: &str) -> Result<()> {
    tx.execute_batch(
        "CREATE TEMP TABLE purge_tickets (id INTEGER PRIMARY KEY);
         CREATE TEMP TABLE purge_inbound (id INTEGER PRIMARY KEY, of_ticket INTEGER NOT NULL);",
    )?;

    tx.execute(
        &format!("INSERT INTO temp.purge_tickets (id) SELECT id FROM tickets WHERE {CANDIDATE}"),
        [cutoff],
    )?;

    // Keep a ticket whose mail is still waiting to be sent, or whose messages a row
    // that stays refers to (foreign keys would refuse the delete). Keeping one ticket
    // can make others' rows stay, so repeat until nothing changes. (`x NOT IN t` is
    // true for a NULL x when t is empty: hence the explicit `IS NOT NULL`.)
    loop {
        let kept = tx.execute(
            &format!(
                "DELETE FROM temp.purge_tickets WHERE id IN (
                    SELECT o.ticket_id FROM outbox o
                    WHERE o.ticket_id IN temp.purge_tickets AND {PENDING}
                    UNION
                    SELECT i.ticket_id FROM inbound i JOIN outbox o ON o.inbound_id = i.id
                    WHERE i.ticket_id IN temp.purge_tickets
                      AND ({PENDING}
                           OR (o.ticket_id IS NOT NULL
                               AND o.ticket_id NOT IN temp.purge_tickets))
                    UNION
                    SELECT i.ticket_id FROM inbound i JOIN ticket_events e ON e.inbound_id = i.id
                    WHERE i.ticket_id IN temp.purge_tickets
                      AND e.ticket_id NOT IN temp.purge_tickets)"
            ),
            [],
        )?;
        if kept == 0 {
            break;
        }
    }
    // A ticket merged into one that goes has nothing left of its own (its rows moved to
    // the survivor) and must not outlive it.
    loop {
        let merged = tx.execute(
            "INSERT OR IGNORE INTO temp.purge_tickets (id)
             SELECT id FROM tickets WHERE merged_into IN temp.purge_tickets",
            [],
        )?;
        if merged == 0 {
            break;
        }
    }

    Ok(())
}

/// Fills `temp.purge_inbound` with the messages on no ticket that go.
fn choose_messages(tx: &rusqlite::Connection, cutoff: &str) -> Result<()> {
    // Messages on no ticket: those the history or mail of a ticket that goes refers to
    // (a bounce of the ticket's mail is recorded that way), and any handled before the
    // cutoff; unless a row that stays (mail still waiting, mail or history of a ticket
    // that stays) refers to them.
    tx.execute(
        "WITH of_tickets (id) AS (
             SELECT inbound_id FROM ticket_events
             WHERE ticket_id IN temp.purge_tickets AND inbound_id IS NOT NULL
             UNION
             SELECT inbound_id FROM outbox
             WHERE ticket_id IN temp.purge_tickets AND inbound_id IS NOT NULL)
         INSERT INTO temp.purge_inbound (id, of_ticket)
         SELECT id, id IN of_tickets FROM inbound
         WHERE ticket_id IS NULL AND (processed_at < ?1 OR id IN of_tickets)",
        [cutoff],
    )?;
    tx.execute(
        &format!(
            "DELETE FROM temp.purge_inbound WHERE id IN (
                SELECT o.inbound_id FROM outbox o
                WHERE o.inbound_id IN (SELECT id FROM temp.purge_inbound)
                  AND ({PENDING}
                       OR (o.ticket_id IS NOT NULL
                           AND o.ticket_id NOT IN temp.purge_tickets))
                UNION
                SELECT e.inbound_id FROM ticket_events e
                WHERE e.inbound_id IN (SELECT id FROM temp.purge_inbound)
                  AND e.ticket_id NOT IN temp.purge_tickets)"
        ),
        [],
    )?;

    Ok(())
}

/// Deletes the time, quotes and copies of the tickets that go.
fn delete_records(tx: &rusqlite::Connection) -> Result<()> {
    for table in ["time_entries", "quotes", "ticket_participants"] {
        tx.execute(
            &format!("DELETE FROM {table} WHERE ticket_id IN temp.purge_tickets"),
            [],
        )?;
    }
    Ok(())
}

/// Deletes what was chosen, children first, and counts it.
fn delete_chosen(
    tx: &rusqlite::Connection,
    cutoff: &str,
    tickets: Vec<String>,
    kept: Vec<String>,
) -> Result<PurgeReport> {
    // Children first: the operators' records, history, mail sent, mail received, then the
    // tickets.
    delete_records(tx)?;
    let ticket_events = tx.execute(
        "DELETE FROM ticket_events WHERE ticket_id IN temp.purge_tickets",
        [],
    )? as u64;
    let outbox_of_tickets = tx.execute(
        "DELETE FROM outbox WHERE ticket_id IN temp.purge_tickets",
        [],
    )? as u64;
    let outbox_without_ticket = tx.execute(
        "DELETE FROM outbox
         WHERE ticket_id IS NULL
           AND (inbound_id IN (SELECT id FROM temp.purge_inbound)
                OR inbound_id IN (SELECT id FROM inbound WHERE ticket_id IN temp.purge_tickets)
                OR ((sent_at IS NOT NULL OR failed_at IS NOT NULL) AND created_at < ?1))",
        [cutoff],
    )? as u64;
    let held_submissions = tx.execute(
        "DELETE FROM web_pending
         WHERE created_at < ?1
            OR inbound_id IN (SELECT id FROM temp.purge_inbound)
            OR inbound_id IN (SELECT id FROM inbound WHERE ticket_id IN temp.purge_tickets)",
        [cutoff],
    )? as u64;
    let inbound_of_tickets = tx.execute(
        "DELETE FROM inbound
         WHERE ticket_id IN temp.purge_tickets
            OR id IN (SELECT id FROM temp.purge_inbound WHERE of_ticket)",
        [],
    )? as u64;
    let inbound_without_ticket = tx.execute(
        "DELETE FROM inbound WHERE id IN (SELECT id FROM temp.purge_inbound WHERE NOT of_ticket)",
        [],
    )? as u64;
    let deleted = tx.execute("DELETE FROM tickets WHERE id IN temp.purge_tickets", [])?;
    debug_assert_eq!(deleted, tickets.len());

    Ok(PurgeReport {
        tickets,
        kept,
        ticket_events,
        inbound_of_tickets,
        inbound_without_ticket,
        outbox_of_tickets,
        outbox_without_ticket,
        held_submissions,
    })
}

/// The first column (text) of every row.
fn texts(
    conn: &rusqlite::Connection,
    sql: &str,
    p: &[&dyn rusqlite::ToSql],
) -> Result<Vec<String>> {
    let mut stmt = conn.prepare(sql)?;
    let rows = stmt
        .query_map(p, |r| r.get::<_, String>(0))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use chrono::{Duration, NaiveDate, TimeZone};

    use super::*;
    use crate::core::address::Address;
    use crate::core::decision::{
        Decision, Effect, MailKind, NewTicket, Outcome, OutgoingMail, Quarantine, Rejection,
    };
    use crate::core::ticket::{Event, EventKind, Extra, TicketCode, TicketState, TicketStatus};
    use crate::store::test_support::{apply_timer, message, record, temp_store};
    use crate::store::ContractInput;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2027, 6, 1, 10, 0, 0)
            .single()
            .expect("valid")
    }

    /// The cutoff of a 365-day purge run at `now()`.
    fn cutoff() -> DateTime<Utc> {
        now() - Duration::days(365)
    }

    fn addr(a: &str) -> Address {
        Address::parse(a).expect("valid address")
    }

    /// A store with one contract, for mario@rossi.it.
    fn store() -> (tempfile::TempDir, Store, i64) {
        let (dir, mut store) = temp_store();
        store
            .add_contract(
                &ContractInput {
                    customer: "Rossi".into(),
                    addresses: vec![addr("mario@rossi.it")],
                    valid_from: NaiveDate::from_ymd_opt(2020, 1, 1).expect("date"),
                    valid_until: NaiveDate::from_ymd_opt(2030, 12, 31).expect("date"),
                    references: vec!["www.rossi.it".into()],
                },
                now() - Duration::days(2000),
            )
            .expect("contract");
        let id = store
            .conn
            .query_row("SELECT id FROM contracts", [], |r| r.get(0))
            .expect("contract id");
        (dir, store, id)
    }

    fn code(n: u32) -> TicketCode {
        TicketCode {
            prefix: "KZ".into(),
            year: 2025,
            number: n,
        }
    }

    fn mail(kind: MailKind, ticket: Option<&TicketCode>, to: &str) -> Effect {
        Effect::Send(OutgoingMail::new(
            kind,
            ticket,
            vec![addr(to)],
            ("Oggetto".into(), "Testo".into()),
        ))
    }

    /// Opens ticket `n` from message `n` at `at`, as intake does (the ticket, its history
    /// line, its acknowledgement), and sends the acknowledgement.
    fn open_ticket(store: &mut Store, contract_id: i64, n: u32, at: DateTime<Utc>) -> i64 {
        let (source, msg, raw) = message(n, "mario@rossi.it", at);
        let decision = Decision::new(
            Outcome::NewTicket(code(n)),
            vec![
                Effect::OpenTicket(NewTicket {
                    code: code(n),
                    contract_id,
                    requester: addr("mario@rossi.it"),
                    sender: addr("mario@rossi.it"),
                    summary: "Il sito non funziona".into(),
                    text: msg.text.clone(),
                    opened_at: at,
                    ack_due_at: at + Duration::minutes(30),
                    status: TicketStatus::new(false, Extra::No, at + Duration::hours(8)),
                }),
                Effect::Log(Event {
                    code: code(n),
                    at,
                    actor: "mario@rossi.it".into(),
                    kind: EventKind::Opened,
                    detail: String::new(),
                }),
                mail(MailKind::Ack, Some(&code(n)), "mario@rossi.it"),
            ],
        );
        let tx = store.begin().expect("begin");
        record(&tx, &source, &msg, &raw, &decision, at).expect("record");
        tx.commit().expect("commit");
        deliver_all(store, at);
        store
            .conn
            .query_row(
                "SELECT id FROM tickets WHERE code = ?1",
                [code(n).to_string()],
                |r| r.get(0),
            )
            .expect("ticket id")
    }

    /// Moves ticket `id` to `state`, closed (`#chiudi`) at `closed_at` with a 48-hour
    /// window, as the scheduler and the operators' commands write it.
    fn close(store: &mut Store, id: i64, state: TicketState, closed_at: DateTime<Utc>) {
        let mut status = TicketStatus::new(false, Extra::No, closed_at);
        status.state = state;
        status.operator = Some("giulia".into());
        status.first_contact_at = Some(closed_at);
        status.closed_at = Some(closed_at);
        status.reopen_until = Some(closed_at + Duration::hours(48));
        let n: u32 = store
            .conn
            .query_row("SELECT code FROM tickets WHERE id = ?1", [id], |r| {
                r.get::<_, String>(0)
            })
            .expect("code")
            .rsplit('-')
            .next()
            .and_then(|s| s.parse().ok())
            .expect("number");
        let tx = store.begin().expect("begin");
        apply_timer(
            &tx,
            &[
                Effect::UpdateTicket {
                    code: code(n),
                    status,
                },
                Effect::Log(Event {
                    code: code(n),
                    at: closed_at,
                    actor: "giulia".into(),
                    kind: EventKind::Closed,
                    detail: String::new(),
                }),
                mail(MailKind::Closure, Some(&code(n)), "mario@rossi.it"),
            ],
            closed_at,
        )
        .expect("apply");
        tx.commit().expect("commit");
        deliver_all(store, closed_at);
    }

    /// A message on no ticket, handled at `at`: quarantined silently, or rejected with a
    /// reply (left unsent with `send_reply` false).
    fn stray(store: &mut Store, n: u32, at: DateTime<Utc>, rejected: bool, send_reply: bool) {
        let (source, msg, raw) = message(n, "sconosciuto@example.com", at);
        let decision = if rejected {
            Decision::new(
                Outcome::Rejected(Rejection::EmptyRequest),
                vec![mail(MailKind::Rejection, None, "sconosciuto@example.com")],
            )
        } else {
            Decision::new(Outcome::Quarantined(Quarantine::UnknownSender), vec![])
        };
        let tx = store.begin().expect("begin");
        record(&tx, &source, &msg, &raw, &decision, at).expect("record");
        tx.commit().expect("commit");
        if send_reply {
            deliver_all(store, at);
        }
    }

    fn deliver_all(store: &mut Store, at: DateTime<Utc>) {
        for row in store.due_outbox(at, 100).expect("outbox") {
            store.mark_sent(row.id, at).expect("sent");
        }
    }

    fn count(store: &Store, table: &str) -> i64 {
        store
            .conn
            .query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get(0))
            .expect("count")
    }

    /// Every table's row count, to compare before and after.
    fn counts(store: &Store) -> Vec<i64> {
        [
            "tickets",
            "ticket_events",
            "inbound",
            "outbox",
            "ticket_counters",
            "contracts",
        ]
        .iter()
        .map(|t| count(store, t))
        .collect()
    }

    fn assert_consistent(store: &Store) {
        let problems: i64 = store
            .conn
            .query_row("SELECT COUNT(*) FROM pragma_foreign_key_check", [], |r| {
                r.get(0)
            })
            .expect("foreign key check");
        assert_eq!(problems, 0, "foreign keys still hold");
    }

    #[test]
    fn closed_old_ticket_goes_with_its_history_mail_and_messages_but_not_its_number() {
        let (_d, mut store, contract) = store();
        let opened = now() - Duration::days(500);
        let old = open_ticket(&mut store, contract, 1, opened);
        close(
            &mut store,
            old,
            TicketState::Closed,
            opened + Duration::days(2),
        );
        // A later reply, refused after the closure, is part of the ticket too.
        let (source, msg, raw) = message(2, "mario@rossi.it", now() - Duration::days(10));
        let reply = Decision::new(
            Outcome::ReopenRefused(code(1)),
            vec![
                Effect::AppendToTicket {
                    code: code(1),
                    text: msg.text.clone(),
                },
                mail(MailKind::ReopenRefused, Some(&code(1)), "mario@rossi.it"),
            ],
        );
        let tx = store.begin().expect("begin");
        record(&tx, &source, &msg, &raw, &reply, msg.received_at).expect("record");
        tx.commit().expect("commit");
        deliver_all(&mut store, msg.received_at);
        open_ticket(&mut store, contract, 3, opened);

        let report = store.purge(cutoff(), false).expect("purge");
        assert_eq!(report.tickets, vec!["KZ-2025-00001".to_string()]);
        assert!(report.kept.is_empty());
        assert_eq!(report.ticket_events, 2, "opened, closed");
        assert_eq!(report.inbound_of_tickets, 2, "request, late reply");
        assert_eq!(report.outbox_of_tickets, 3, "ack, closure, refusal");
        assert_eq!(report.inbound_without_ticket, 0);
        assert_eq!(report.outbox_without_ticket, 0);

        let left = |sql: &str| -> i64 {
            store
                .conn
                .query_row(sql, [old], |r| r.get(0))
                .expect("count")
        };
        assert_eq!(left("SELECT COUNT(*) FROM tickets WHERE id = ?1"), 0);
        assert_eq!(
            left("SELECT COUNT(*) FROM ticket_events WHERE ticket_id = ?1"),
            0
        );
        assert_eq!(left("SELECT COUNT(*) FROM outbox WHERE ticket_id = ?1"), 0);
        assert_eq!(left("SELECT COUNT(*) FROM inbound WHERE ticket_id = ?1"), 0);
        // The open ticket of the same age is whole; the number stays taken.
        assert_eq!(count(&store, "tickets"), 1);
        assert_eq!(count(&store, "inbound"), 1);
        assert_eq!(count(&store, "outbox"), 1);
        assert!(store
            .ticket(&code(3).to_string())
            .expect("read")
            .is_some_and(|t| t.row.code == "KZ-2025-00003" && t.history.len() == 1));
        let last: i64 = store
            .conn
            .query_row("SELECT last FROM ticket_counters", [], |r| r.get(0))
            .expect("counter");
        assert_eq!(last, 3);
        assert_eq!(count(&store, "contracts"), 1);
        assert_consistent(&store);
    }

    /// A bounce of ticket `n`'s mail, handled at `at`, as `core::bounce` records it: on
    /// no ticket itself, but named by the ticket's history and by the notice it causes.
    fn bounce(store: &mut Store, n: u32, uid: u32, at: DateTime<Utc>) {
        let (source, msg, raw) = message(uid, "mailer-daemon@rossi.it", at);
        let decision = Decision::new(
            Outcome::Bounced(code(n)),
            vec![
                Effect::Log(Event {
                    code: code(n),
                    at,
                    actor: "sistema".into(),
                    kind: EventKind::Bounced,
                    detail: "mario@rossi.it 5.1.1".into(),
                }),
                mail(MailKind::BounceNotice, Some(&code(n)), "giulia@kzweb.it"),
            ],
        );
        let tx = store.begin().expect("begin");
        record(&tx, &source, &msg, &raw, &decision, at).expect("record");
        tx.commit().expect("commit");
        deliver_all(store, at);
    }

    #[test]
    fn bounce_of_a_tickets_mail_goes_with_its_ticket_and_stays_with_a_kept_one() {
        let (_d, mut store, contract) = store();
        let opened = now() - Duration::days(500);
        let old = open_ticket(&mut store, contract, 1, opened);
        close(
            &mut store,
            old,
            TicketState::Closed,
            opened + Duration::days(1),
        );
        // A recent bounce of the old ticket's mail goes with it …
        bounce(&mut store, 1, 2, now() - Duration::days(10));
        // … an old bounce of a ticket still open stays, as the ticket's history names it.
        open_ticket(&mut store, contract, 3, opened);
        bounce(&mut store, 3, 4, now() - Duration::days(400));

        let report = store.purge(cutoff(), false).expect("purge");
        assert_eq!(report.tickets, vec!["KZ-2025-00001".to_string()]);
        assert_eq!(report.inbound_of_tickets, 2, "request and bounce");
        assert_eq!(report.inbound_without_ticket, 0);
        let left = texts(
            &store.conn,
            "SELECT message_id FROM inbound ORDER BY id",
            &[],
        )
        .expect("left");
        assert_eq!(left, vec!["m3@rossi.it", "m4@rossi.it"]);
        assert_consistent(&store);
    }

    #[test]
    fn a_ticket_merged_into_one_that_goes_goes_too_with_its_time_and_quotes() {
        let (_d, mut store, contract) = store();
        let opened = now() - Duration::days(500);
        let survivor = open_ticket(&mut store, contract, 1, opened);
        open_ticket(&mut store, contract, 2, opened + Duration::hours(1));
        let at = opened + Duration::hours(2);
        let mut merged = TicketStatus::new(false, Extra::No, at);
        merged.state = TicketState::Merged;
        merged.merged_into = Some(code(1));
        let tx = store.begin().expect("begin");
        apply_timer(
            &tx,
            &[
                Effect::RecordTime(crate::core::decision::TimeEntry {
                    code: code(2),
                    operator: "giulia".into(),
                    minutes: 45,
                    day: at.date_naive(),
                    at,
                }),
                Effect::RecordQuote(crate::core::decision::QuoteSent {
                    code: code(2),
                    operator: "giulia".into(),
                    amount_cents: 25_000,
                    at,
                    text: String::new(),
                }),
                Effect::Participant {
                    code: code(2),
                    address: addr("mario@rossi.it"),
                    added: true,
                },
                Effect::UpdateTicket {
                    code: code(2),
                    status: merged,
                },
                Effect::Merge {
                    from: code(2),
                    into: code(1),
                },
            ],
            at,
        )
        .expect("merge");
        tx.commit().expect("commit");
        close(
            &mut store,
            survivor,
            TicketState::Closed,
            opened + Duration::days(2),
        );
        let report = store.purge(cutoff(), false).expect("purge");
        assert_eq!(report.tickets, [code(1).to_string(), code(2).to_string()]);
        for table in [
            "tickets",
            "time_entries",
            "quotes",
            "ticket_participants",
            "inbound",
        ] {
            let left: i64 = store
                .conn
                .query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get(0))
                .expect("count");
            assert_eq!(left, 0, "{table}");
        }
    }

    #[test]
    fn resolved_ticket_is_kept_however_old() {
        let (_d, mut store, contract) = store();
        let opened = now() - Duration::days(3000);
        let id = open_ticket(&mut store, contract, 1, opened);
        close(
            &mut store,
            id,
            TicketState::Resolved,
            opened + Duration::days(1),
        );
        let before = counts(&store);
        let report = store.purge(cutoff(), false).expect("purge");
        assert!(report.is_empty(), "{report:?}");
        assert!(report.kept.is_empty());
        assert_eq!(counts(&store), before);
    }

    #[test]
    fn ticket_closed_recently_is_kept() {
        let (_d, mut store, contract) = store();
        let opened = now() - Duration::days(400);
        let id = open_ticket(&mut store, contract, 1, opened);
        // Opened long ago, but closed less than 365 days ago.
        close(
            &mut store,
            id,
            TicketState::Closed,
            now() - Duration::days(300),
        );
        let before = counts(&store);
        let report = store.purge(cutoff(), false).expect("purge");
        assert!(report.is_empty(), "{report:?}");
        assert_eq!(counts(&store), before);
    }

    #[test]
    fn ticket_whose_reopen_window_ended_after_the_cutoff_is_kept() {
        let (_d, mut store, contract) = store();
        let opened = now() - Duration::days(400);
        let id = open_ticket(&mut store, contract, 1, opened);
        // `#chiudi` one hour before the cutoff: the 48-hour window ends after it.
        close(
            &mut store,
            id,
            TicketState::Closed,
            cutoff() - Duration::hours(1),
        );
        let report = store.purge(cutoff(), false).expect("purge");
        assert!(report.tickets.is_empty(), "{report:?}");
        assert_eq!(count(&store, "tickets"), 1);
    }

    #[test]
    fn old_rejected_and_quarantined_mail_goes_recent_stays() {
        let (_d, mut store, _) = store();
        stray(&mut store, 1, now() - Duration::days(400), true, true);
        stray(&mut store, 2, now() - Duration::days(400), false, false);
        stray(&mut store, 3, now() - Duration::days(30), true, true);
        stray(&mut store, 4, now() - Duration::days(30), false, false);

        let report = store.purge(cutoff(), false).expect("purge");
        assert!(report.tickets.is_empty());
        assert_eq!(report.inbound_without_ticket, 2);
        assert_eq!(report.outbox_without_ticket, 1, "the sent rejection");
        let left: Vec<String> = texts(
            &store.conn,
            "SELECT message_id FROM inbound ORDER BY id",
            &[],
        )
        .expect("left");
        assert_eq!(left, vec!["m3@rossi.it", "m4@rossi.it"]);
        assert_eq!(count(&store, "outbox"), 1);
        assert_consistent(&store);
    }

    #[test]
    fn mail_waiting_to_be_sent_is_never_purged() {
        let (_d, mut store, contract) = store();
        // A rejection never delivered, to an old message: both stay.
        stray(&mut store, 1, now() - Duration::days(400), true, false);
        // An old closed ticket with a refusal still waiting: the ticket stays, whole.
        let opened = now() - Duration::days(500);
        let id = open_ticket(&mut store, contract, 2, opened);
        close(
            &mut store,
            id,
            TicketState::Closed,
            opened + Duration::days(1),
        );
        let tx = store.begin().expect("begin");
        apply_timer(
            &tx,
            &[mail(
                MailKind::ReopenRefused,
                Some(&code(2)),
                "mario@rossi.it",
            )],
            now(),
        )
        .expect("apply");
        tx.commit().expect("commit");
        // Mail given up counts as done: an old one outside tickets goes.
        let tx = store.begin().expect("begin");
        apply_timer(
            &tx,
            &[mail(MailKind::Rejection, None, "x@example.com")],
            now() - Duration::days(400),
        )
        .expect("apply");
        tx.commit().expect("commit");
        let failed: i64 = store
            .conn
            .query_row(
                "SELECT id FROM outbox WHERE recipients = 'x@example.com'",
                [],
                |r| r.get(0),
            )
            .expect("row");
        store
            .mark_failed(failed, now() - Duration::days(399), "550 no such user")
            .expect("failed");
        let pending_before = store.outbox_pending().expect("pending");
        assert_eq!(pending_before, 2);

        let report = store.purge(cutoff(), false).expect("purge");
        assert!(report.tickets.is_empty(), "{report:?}");
        assert_eq!(report.kept, vec!["KZ-2025-00002".to_string()]);
        assert_eq!(report.inbound(), 0, "{report:?}");
        assert_eq!(report.outbox_without_ticket, 1, "the mail given up");
        assert_eq!(store.outbox_pending().expect("pending"), 2);
        assert_eq!(count(&store, "inbound"), 2);
        assert_eq!(count(&store, "tickets"), 1);

        // Once delivered, the next run takes them.
        deliver_all(&mut store, now());
        let report = store.purge(cutoff(), false).expect("purge");
        assert_eq!(report.tickets, vec!["KZ-2025-00002".to_string()]);
        assert_eq!(report.inbound(), 2);
        assert_eq!(count(&store, "outbox"), 0);
        assert_consistent(&store);
    }

    #[test]
    fn dry_run_deletes_nothing_and_reports_what_a_run_would() {
        let (_d, mut store, contract) = store();
        let opened = now() - Duration::days(500);
        let id = open_ticket(&mut store, contract, 1, opened);
        close(
            &mut store,
            id,
            TicketState::Closed,
            opened + Duration::days(1),
        );
        stray(&mut store, 2, now() - Duration::days(400), true, true);
        let before = counts(&store);

        let dry = store.purge(cutoff(), true).expect("dry run");
        assert_eq!(dry.tickets, vec!["KZ-2025-00001".to_string()]);
        assert_eq!(counts(&store), before, "nothing deleted");
        let temp: i64 = store
            .conn
            .query_row("SELECT COUNT(*) FROM temp.sqlite_master", [], |r| r.get(0))
            .expect("temp tables");
        assert_eq!(temp, 0, "no temporary table left behind");

        let real = store.purge(cutoff(), false).expect("purge");
        assert_eq!(real, dry);
        assert_eq!(count(&store, "tickets"), 0);
        assert_eq!(count(&store, "inbound"), 0);
        assert_eq!(
            store.purge(cutoff(), false).expect("again"),
            PurgeReport::default()
        );
    }

    #[test]
    fn purged_text_does_not_stay_in_the_database_file() {
        let (dir, mut store, contract) = store();
        let opened = now() - Duration::days(500);
        let id = open_ticket(&mut store, contract, 77, opened);
        close(
            &mut store,
            id,
            TicketState::Closed,
            opened + Duration::days(1),
        );
        // Everything into the main file first, as a long-running database would have it.
        store
            .conn
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
            .expect("checkpoint");
        let path = dir.path().join("t.db");
        let marker = b"messaggio numero 77";
        let contains = |bytes: &[u8]| bytes.windows(marker.len()).any(|w| w == marker);
        assert!(contains(&std::fs::read(&path).expect("read")));

        store.purge(cutoff(), false).expect("purge");
        assert!(!contains(&std::fs::read(&path).expect("read")));
        let secure: i64 = store
            .conn
            .query_row("PRAGMA secure_delete", [], |r| r.get(0))
            .expect("pragma");
        assert_eq!(secure, 0, "the connection's setting is restored");
    }

    #[test]
    fn a_form_request_held_before_the_cutoff_goes_and_a_recent_one_stays() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut store = Store::open(&dir.path().join("t.db")).expect("store");
        let tx = store.begin().expect("tx");
        for (token, at) in [("old", cutoff() - Duration::days(1)), ("new", now())] {
            let key = format!("key-{token}");
            let held = crate::store::NewPending {
                token,
                form_key: &key,
                address: "mario@rossi.it",
                fields: "{}",
                raw: b"x",
                created_at: at,
                expires_at: at + Duration::hours(24),
            };
            tx.hold(&held).expect("held");
        }
        tx.commit().expect("commit");
        let report = store.purge(cutoff(), false).expect("purge");
        assert_eq!(report.held_submissions, 1);
        let tx = store.begin().expect("tx");
        assert!(tx.pending("old").expect("lookup").is_none());
        assert!(tx.pending("new").expect("lookup").is_some());
    }
}
