//! Reading tickets for the administration: the list and one ticket's whole thread, with
//! the operators' records (time, quotes, who is copied, merges).

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use rusqlite::OptionalExtension;

use crate::core::templates::{duration, euro};
use crate::core::ticket::{Deadline, Extra, TicketState, TicketStatus};

use super::{parse_ts, Store};

/// One line of `tickets list`. The JSON keys are documented in `docs/operators.md`, and
/// scripts read them: add keys, never rename one.
#[derive(Clone, Debug, serde::Serialize)]
pub struct TicketRow {
    pub code: String,
    pub state: String,
    pub customer: String,
    pub requester: String,
    pub opened_at: DateTime<Utc>,
    /// The acknowledgement promise (30 minutes after receipt).
    pub ack_due_at: DateTime<Utc>,
    /// When the acknowledgement was accepted by the SMTP server, if it was.
    pub ack_sent_at: Option<DateTime<Utc>>,
    pub level: u8,
    /// The operator in charge.
    pub operator: Option<String>,
    /// The second-level team, once escalated.
    pub team: Option<String>,
    pub urgent: bool,
    /// The next deadline with its time: `ack` until the acknowledgement is sent, then the
    /// scheduler's, named as `core::ticket::Deadline::name` names it.
    pub next_deadline: Option<(String, DateTime<Utc>)>,
    /// Billed apart: `no`, `possible` (urgent outside office hours, undecided) or `yes`.
    pub extra: String,
    /// The time recorded with `#tempo`, corrections included, in minutes.
    pub time_minutes: i64,
    /// The same total as operators write it (`1h30`), so nobody converts minutes by hand.
    pub time: String,
}

/// A line of a ticket's history.
#[derive(Clone, Debug, serde::Serialize)]
pub struct TicketEvent {
    pub at: DateTime<Utc>,
    pub actor: String,
    pub event: String,
    pub detail: String,
}

/// A message of a ticket's thread, in or out.
#[derive(Clone, Debug, serde::Serialize)]
pub struct TicketMessage {
    pub at: DateTime<Utc>,
    /// `in` (received) or `out` (sent by the daemon).
    pub direction: &'static str,
    /// `request`, `reply` … for inbound; the mail kind (`ack` …) for outbound.
    pub kind: String,
    pub from: String,
    pub to: String,
    pub subject: String,
    /// Delivery state of outbound mail: `sent`, `pending` or `failed: …`.
    pub status: String,
    #[serde(skip)]
    pub raw: Vec<u8>,
}

/// A `#tempo` line: who, on which day (Europe/Rome), how many minutes (negative for a
/// correction), and when the message arrived.
#[derive(Clone, Debug, serde::Serialize)]
pub struct TicketTime {
    pub operator: String,
    /// `YYYY-MM-DD`, as stored.
    pub day: String,
    pub minutes: i64,
    pub at: DateTime<Utc>,
}

/// A quote sent with `#preventivo` and what became of it.
#[derive(Clone, Debug, serde::Serialize)]
pub struct TicketQuote {
    pub amount_cents: u64,
    /// `1.250,00 €`, as the customer read it.
    pub amount: String,
    /// The operator who sent it.
    pub operator: String,
    pub sent_at: DateTime<Utc>,
    /// `accepted`, `refused`, `replaced` (by a later quote), or None while unanswered.
    pub decision: Option<String>,
    pub decided_at: Option<DateTime<Utc>>,
    /// The customer's address that answered (none for a replaced quote).
    pub decided_by: Option<String>,
}

/// `tickets show`: the ticket, the operators' records and its thread, oldest first.
#[derive(Clone, Debug, serde::Serialize)]
pub struct TicketDetail {
    #[serde(flatten)]
    pub row: TicketRow,
    pub sender: String,
    pub summary: String,
    /// Oldest first.
    pub time_entries: Vec<TicketTime>,
    /// Oldest first; at most the last one is unanswered.
    pub quotes: Vec<TicketQuote>,
    /// Addresses of the contract copied on the mail to the customer besides the requester.
    pub participants: Vec<String>,
    /// The ticket this one was merged into, whose thread now holds everything of it.
    pub merged_into: Option<String>,
    /// The tickets merged into this one, oldest first.
    pub merged_from: Vec<String>,
    pub messages: Vec<TicketMessage>,
    pub history: Vec<TicketEvent>,
}

const ROW_SQL: &str = "SELECT t.code, t.state, c.customer, t.requester, t.opened_at, t.ack_due_at,
        (SELECT MIN(o.sent_at) FROM outbox o WHERE o.ticket_id = t.id AND o.kind = 'ack'),
        t.id, t.sender, t.summary, t.level, t.operator, t.team, t.urgent, t.next_deadline_at,
        t.customer_reminded_at IS NOT NULL, t.extra,
        (SELECT COALESCE(SUM(e.minutes), 0) FROM time_entries e WHERE e.ticket_id = t.id)
    FROM tickets t JOIN contracts c ON c.id = t.contract_id";

fn row_from(r: &rusqlite::Row<'_>) -> rusqlite::Result<(TicketRow, i64, String, String)> {
    let state: String = r.get(1)?;
    let ack_sent: Option<String> = r.get(6)?;
    let ack_sent_at = ack_sent.map(|t| parse_ts(&t)).transpose()?;
    let ack_due_at = parse_ts(&r.get::<_, String>(5)?)?;
    let next: Option<String> = r.get(14)?;
    let next = next.map(|t| parse_ts(&t)).transpose()?;
    let owed = Owed {
        state: TicketState::from_name(&state),
        ack_sent_at,
        ack_due_at,
        customer_reminded: r.get(15)?,
        next,
    };
    let time_minutes: i64 = r.get(17)?;
    Ok((
        TicketRow {
            code: r.get(0)?,
            next_deadline: owed.next_deadline(),
            state,
            customer: r.get(2)?,
            requester: r.get(3)?,
            opened_at: parse_ts(&r.get::<_, String>(4)?)?,
            ack_due_at,
            ack_sent_at,
            level: r.get(10)?,
            operator: r.get(11)?,
            team: r.get(12)?,
            urgent: r.get(13)?,
            extra: r.get(16)?,
            time_minutes,
            time: duration(time_minutes),
        },
        r.get(7)?,
        r.get(8)?,
        r.get(9)?,
    ))
}

/// What a ticket's row says it is owed, to name its next deadline.
struct Owed {
    /// None for a state this binary does not know (a newer one wrote the row).
    state: Option<TicketState>,
    ack_sent_at: Option<DateTime<Utc>>,
    ack_due_at: DateTime<Utc>,
    customer_reminded: bool,
    /// The scheduler's deadline, as stored.
    next: Option<DateTime<Utc>>,
}

impl Owed {
    /// The acknowledgement comes first: until it is sent, it is the deadline that matters.
    /// A merged ticket owes nothing: its acknowledgement and its thread moved to the
    /// ticket that carries on.
    fn next_deadline(&self) -> Option<(String, DateTime<Utc>)> {
        if self.state == Some(TicketState::Merged) {
            return None;
        }
        if self.ack_sent_at.is_none() {
            return Some(("ack".to_string(), self.ack_due_at));
        }
        let at = self.next?;
        let name = self
            .state
            .and_then(|state| deadline_name(state, self.customer_reminded, at))
            .unwrap_or("deadline");
        Some((name.to_string(), at))
    }
}

/// The core's name for the deadline stored at `at`: which deadline a ticket owes depends
/// only on its state and on whether the customer was reminded, so a status with those two
/// and `at` in every deadline's place makes `TicketStatus::next_deadline` choose it, and
/// the list can never name a deadline differently from the scheduler that acts on it.
fn deadline_name(
    state: TicketState,
    customer_reminded: bool,
    at: DateTime<Utc>,
) -> Option<&'static str> {
    let mut status = TicketStatus::new(false, Extra::No, at);
    status.state = state;
    status.reopen_until = Some(at);
    status.customer_reminder_at = Some(at);
    status.customer_reminded_at = customer_reminded.then_some(at);
    status.auto_close_at = Some(at);
    status.next_deadline().map(Deadline::name)
}

impl Store {
    /// Every ticket, newest first.
    pub fn tickets(&self) -> Result<Vec<TicketRow>> {
        let mut stmt = self
            .conn
            .prepare(&format!("{ROW_SQL} ORDER BY t.id DESC"))?;
        let rows = stmt
            .query_map([], row_from)?
            .map(|r| r.map(|(row, ..)| row))
            .collect::<rusqlite::Result<Vec<_>>>()
            .context("listing tickets")?;
        Ok(rows)
    }

    /// One ticket with its records and thread, or None when the code is unknown.
    pub fn ticket(&self, code: &str) -> Result<Option<TicketDetail>> {
        let found = self
            .conn
            .prepare(&format!("{ROW_SQL} WHERE t.code = ?1 COLLATE NOCASE"))?
            .query_row([code], row_from)
            .optional()?;
        let Some((row, id, sender, summary)) = found else {
            return Ok(None);
        };
        // Ordered as handled (a message, then the mail it caused): INTERNALDATE has whole
        // seconds only. A stable sort keeps each message before the mail it caused.
        let mut ordered = self.messages_in(id)?;
        ordered.extend(self.messages_out(id)?);
        ordered.sort_by(|a, b| a.0.cmp(&b.0));
        let messages: Vec<TicketMessage> = ordered.into_iter().map(|(_, m)| m).collect();
        let (merged_into, merged_from) = self.merges(id)?;
        Ok(Some(TicketDetail {
            row,
            sender,
            summary,
            time_entries: self.time_entries(id)?,
            quotes: self.quotes(id)?,
            participants: self.participants(id)?,
            merged_into,
            merged_from,
            messages,
            history: self.history(id)?,
        }))
    }

    fn history(&self, id: i64) -> Result<Vec<TicketEvent>> {
        self.conn
            .prepare(
                "SELECT at, actor, event, detail FROM ticket_events WHERE ticket_id = ?1
                 ORDER BY at, id",
            )?
            .query_map([id], |r| {
                Ok(TicketEvent {
                    at: parse_ts(&r.get::<_, String>(0)?)?,
                    actor: r.get(1)?,
                    event: r.get(2)?,
                    detail: r.get(3)?,
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()
            .context("reading a ticket's history")
    }

    fn time_entries(&self, id: i64) -> Result<Vec<TicketTime>> {
        self.conn
            .prepare(
                "SELECT operator, day, minutes, at FROM time_entries WHERE ticket_id = ?1
                 ORDER BY at, id",
            )?
            .query_map([id], |r| {
                Ok(TicketTime {
                    operator: r.get(0)?,
                    day: r.get(1)?,
                    minutes: r.get(2)?,
                    at: parse_ts(&r.get::<_, String>(3)?)?,
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()
            .context("reading a ticket's time")
    }

    fn quotes(&self, id: i64) -> Result<Vec<TicketQuote>> {
        let time = |t: Option<String>| t.map(|t| parse_ts(&t)).transpose();
        self.conn
            .prepare(
                "SELECT amount_cents, operator, sent_at, decision, decided_at, decided_by
                 FROM quotes WHERE ticket_id = ?1 ORDER BY sent_at, id",
            )?
            .query_map([id], |r| {
                // The core writes amounts above zero; a hand-edited negative one reads 0.
                let cents = r.get::<_, i64>(0)?.max(0).unsigned_abs();
                Ok(TicketQuote {
                    amount_cents: cents,
                    amount: euro(cents),
                    operator: r.get(1)?,
                    sent_at: parse_ts(&r.get::<_, String>(2)?)?,
                    decision: r.get(3)?,
                    decided_at: time(r.get(4)?)?,
                    decided_by: r.get(5)?,
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()
            .context("reading a ticket's quotes")
    }

    /// In the order they were copied, as intake loads them for the mail it sends.
    fn participants(&self, id: i64) -> Result<Vec<String>> {
        self.conn
            .prepare(
                "SELECT address FROM ticket_participants WHERE ticket_id = ?1
                 ORDER BY added_at, address",
            )?
            .query_map([id], |r| r.get(0))?
            .collect::<rusqlite::Result<Vec<_>>>()
            .context("reading who is copied on a ticket")
    }

    /// The ticket `id` was merged into, and those merged into it.
    fn merges(&self, id: i64) -> Result<(Option<String>, Vec<String>)> {
        let into = self
            .conn
            .prepare(
                "SELECT m.code FROM tickets t JOIN tickets m ON m.id = t.merged_into
                 WHERE t.id = ?1",
            )?
            .query_row([id], |r| r.get(0))
            .optional()?;
        let from = self
            .conn
            .prepare("SELECT code FROM tickets WHERE merged_into = ?1 ORDER BY id")?
            .query_map([id], |r| r.get(0))?
            .collect::<rusqlite::Result<Vec<_>>>()
            .context("reading the tickets merged into one")?;
        Ok((into, from))
    }

    /// The messages received on ticket `id`, each with the time it was handled.
    fn messages_in(&self, id: i64) -> Result<Vec<(String, TicketMessage)>> {
        let mut inbound = self.conn.prepare(
            "SELECT received_at, outcome, COALESCE(sender, ''), subject, raw, processed_at
             FROM inbound WHERE ticket_id = ?1",
        )?;
        let rows = inbound.query_map([id], |r| {
            let outcome: String = r.get(1)?;
            let handled: String = r.get(5)?;
            let m = TicketMessage {
                at: parse_ts(&r.get::<_, String>(0)?)?,
                direction: "in",
                kind: match outcome.as_str() {
                    "ticket" => "request".into(),
                    "update" => "reply".into(),
                    "command" => "operator".into(),
                    other => other.to_string(),
                },
                from: r.get(2)?,
                to: String::new(),
                subject: r.get(3)?,
                status: "received".into(),
                raw: r.get(4)?,
            };
            Ok((handled, m))
        })?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    /// The mail queued for ticket `id`, each with the time it was queued.
    fn messages_out(&self, id: i64) -> Result<Vec<(String, TicketMessage)>> {
        let mut outbound = self.conn.prepare(
            "SELECT created_at, kind, envelope_from, recipients, subject, sent_at, failed_at,
                    last_error, raw, held
             FROM outbox WHERE ticket_id = ?1",
        )?;
        let rows = outbound.query_map([id], |r| {
            let created: String = r.get(0)?;
            let m = TicketMessage {
                at: parse_ts(&created)?,
                direction: "out",
                kind: r.get(1)?,
                from: r.get(2)?,
                to: r.get(3)?,
                subject: r.get(4)?,
                status: delivery_status(r.get(5)?, r.get(6)?, r.get(7)?, r.get(9)?),
                raw: r.get(8)?,
            };
            Ok((created, m))
        })?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }
}

/// Where an outgoing mail is: sent, held by the rate limit, given up, or waiting.
fn delivery_status(
    sent: Option<String>,
    failed: Option<String>,
    error: Option<String>,
    held: Option<String>,
) -> String {
    match (sent, failed) {
        (Some(at), _) => format!("sent {at}"),
        (None, Some(_)) if held.is_some() => {
            format!("held, never sent ({})", held.unwrap_or_default())
        }
        (None, Some(at)) => format!("failed {at}: {}", error.unwrap_or_default()),
        (None, None) => match error {
            Some(e) => format!("pending (last error: {e})"),
            None => "pending".into(),
        },
    }
}

#[cfg(test)]
mod tests {
    use chrono::{Duration, NaiveDate, TimeZone};

    use super::*;
    use crate::core::address::Address;
    use crate::core::decision::{
        Decision, Effect, MailKind, NewTicket, Outcome, OutgoingMail, QuoteSent, TimeEntry,
    };
    use crate::core::ticket::TicketCode;
    use crate::store::test_support::{apply_timer, message, record, temp_store};
    use crate::store::ContractInput;

    /// `hours` after Tuesday 2026-03-10 09:00 UTC.
    fn at(hours: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 10, 9, 0, 0)
            .single()
            .expect("valid")
            + Duration::hours(hours)
    }

    fn addr(a: &str) -> Address {
        Address::parse(a).expect("valid address")
    }

    fn code(n: u32) -> TicketCode {
        TicketCode {
            prefix: "KZ".into(),
            year: 2026,
            number: n,
        }
    }

    /// A store with Rossi's contract (mario@, anna@ and luca@rossi.it), and its id.
    fn store() -> (tempfile::TempDir, Store, i64) {
        let (dir, mut store) = temp_store();
        let addresses = ["mario", "anna", "luca"].map(|n| addr(&format!("{n}@rossi.it")));
        let contract = ContractInput {
            customer: "Rossi".into(),
            addresses: addresses.to_vec(),
            valid_from: NaiveDate::from_ymd_opt(2020, 1, 1).expect("date"),
            valid_until: NaiveDate::from_ymd_opt(2030, 12, 31).expect("date"),
            references: vec!["www.rossi.it".into()],
        };
        store.add_contract(&contract, at(-1000)).expect("contract");
        let id = store
            .conn
            .query_row("SELECT id FROM contracts", [], |r| r.get(0))
            .expect("contract id");
        (dir, store, id)
    }

    /// Opens ticket `n` for `requester` at `at` as intake does, and sends its ack.
    fn open(store: &mut Store, contract_id: i64, n: u32, requester: &str, at: DateTime<Utc>) {
        let (source, msg, raw) = message(n, requester, at);
        let ack = OutgoingMail::new(
            MailKind::Ack,
            Some(&code(n)),
            vec![addr(requester)],
            ("Presa in carico".into(), "Testo".into()),
        );
        let opened = NewTicket {
            code: code(n),
            contract_id,
            requester: addr(requester),
            sender: addr(requester),
            summary: "Il sito non funziona".into(),
            text: msg.text.clone(),
            opened_at: at,
            ack_due_at: at + Duration::minutes(30),
            status: TicketStatus::new(false, Extra::No, at + Duration::hours(4)),
        };
        let effects = vec![Effect::OpenTicket(opened), Effect::Send(ack)];
        let decision = Decision::new(Outcome::NewTicket(code(n)), effects);
        let tx = store.begin().expect("begin");
        record(&tx, &source, &msg, &raw, &decision, at).expect("record");
        tx.commit().expect("commit");
        deliver(store, at);
    }

    /// Applies `effects` at `now` as the scheduler would, and sends the mail they queue.
    fn apply(store: &mut Store, effects: &[Effect], now: DateTime<Utc>) {
        let tx = store.begin().expect("begin");
        apply_timer(&tx, effects, now).expect("apply");
        tx.commit().expect("commit");
        deliver(store, now);
    }

    fn deliver(store: &mut Store, now: DateTime<Utc>) {
        for row in store.due_outbox(now, 100).expect("outbox") {
            store.mark_sent(row.id, now).expect("sent");
        }
    }

    /// Ticket 1 as giulia leaves it: taken, billed apart, and in `state` from now on.
    fn status(state: TicketState) -> TicketStatus {
        let mut st = TicketStatus::new(false, Extra::Yes, at(4));
        st.state = state;
        st.operator = Some("giulia".into());
        st.first_contact_at = Some(at(2));
        st
    }

    fn update(n: u32, status: TicketStatus) -> Effect {
        Effect::UpdateTicket {
            code: code(n),
            status,
        }
    }

    fn time(operator: &str, minutes: i32, when: DateTime<Utc>) -> Effect {
        Effect::RecordTime(TimeEntry {
            code: code(1),
            operator: operator.into(),
            minutes,
            day: when.date_naive(),
            at: when,
        })
    }

    /// `#unisci KZ-2026-00001` on ticket 2, as `operators::merge` writes it.
    fn merge_2_into_1(store: &mut Store, now: DateTime<Utc>) {
        let mut merged = TicketStatus::new(false, Extra::No, at(5));
        merged.state = TicketState::Merged;
        merged.merged_into = Some(code(1));
        let merge = Effect::Merge {
            from: code(2),
            into: code(1),
        };
        apply(store, &[update(2, merged), merge], now);
    }

    /// Ticket 1 of mario@: two `#tempo`, `#extra`, a quote replaced by one mario accepts,
    /// luca copied, ticket 2 of anna@ merged into it, then `#attesa` (reminder at 80h,
    /// closure at 150h).
    fn worked_on() -> (tempfile::TempDir, Store) {
        let (dir, mut store, contract) = store();
        open(&mut store, contract, 1, "mario@rossi.it", at(0));
        open(&mut store, contract, 2, "anna@rossi.it", at(1));
        let quote = |cents: u64, when: DateTime<Utc>| {
            Effect::RecordQuote(QuoteSent {
                code: code(1),
                operator: "giulia".into(),
                amount_cents: cents,
                at: when,
                text: "Nuovo modulo".into(),
            })
        };
        let steps = vec![
            (
                at(2),
                vec![
                    update(1, status(TicketState::Taken)),
                    time("giulia", 90, at(2)),
                ],
            ),
            (
                at(3),
                vec![update(1, status(TicketState::AwaitingApproval))],
            ),
            (at(3), vec![quote(25_000, at(3))]),
            (at(4), vec![quote(125_000, at(4))]),
            (
                at(5),
                vec![Effect::AnswerQuote {
                    code: code(1),
                    accepted: true,
                    by: addr("mario@rossi.it"),
                    at: at(5),
                }],
            ),
            (
                at(6),
                vec![Effect::Participant {
                    code: code(1),
                    address: addr("luca@rossi.it"),
                    added: true,
                }],
            ),
            (at(26), vec![time("marco", 45, at(26))]),
        ];
        for (now, effects) in steps {
            apply(&mut store, &effects, now);
        }
        merge_2_into_1(&mut store, at(27));
        let mut waiting = status(TicketState::Waiting);
        waiting.customer_reminder_at = Some(at(80));
        waiting.auto_close_at = Some(at(150));
        apply(&mut store, &[update(1, waiting)], at(28));
        (dir, store)
    }

    #[test]
    fn show_returns_the_time_the_extra_flag_who_is_copied_and_the_merges() {
        let (_dir, store) = worked_on();
        let t = store.ticket("KZ-2026-00001").expect("read").expect("found");
        let entries: Vec<_> = t
            .time_entries
            .iter()
            .map(|e| (e.operator.as_str(), e.day.as_str(), e.minutes, e.at))
            .collect();
        assert_eq!(
            entries,
            vec![
                ("giulia", "2026-03-10", 90, at(2)),
                ("marco", "2026-03-11", 45, at(26))
            ]
        );
        assert_eq!((t.row.time_minutes, t.row.time.as_str()), (135, "2h15"));
        assert_eq!(t.row.extra, "yes");
        // Anna came with her ticket (as of its opening), luca by `#copia`.
        assert_eq!(t.participants, vec!["anna@rossi.it", "luca@rossi.it"]);
        assert_eq!(
            (t.merged_into, t.merged_from),
            (None, vec!["KZ-2026-00002".into()])
        );
        assert_eq!(t.row.state, "waiting");
        assert_eq!(
            t.row.next_deadline,
            Some(("customer reminder".into(), at(80)))
        );
    }

    #[test]
    fn show_lists_the_quotes_oldest_first_with_the_customers_decision() {
        let (_dir, store) = worked_on();
        let t = store.ticket("KZ-2026-00001").expect("read").expect("found");
        let quotes: Vec<_> = t
            .quotes
            .iter()
            .map(|q| {
                let decision = (q.decision.as_deref(), q.decided_at, q.decided_by.as_deref());
                (
                    q.amount_cents,
                    q.amount.as_str(),
                    q.operator.as_str(),
                    q.sent_at,
                    decision,
                )
            })
            .collect();
        let mario = Some("mario@rossi.it");
        assert_eq!(
            quotes,
            vec![
                (
                    25_000,
                    "250,00 €",
                    "giulia",
                    at(3),
                    (Some("replaced"), Some(at(4)), None)
                ),
                (
                    125_000,
                    "1.250,00 €",
                    "giulia",
                    at(4),
                    (Some("accepted"), Some(at(5)), mario)
                ),
            ]
        );
    }

    #[test]
    fn a_merged_ticket_names_the_survivor_and_owes_no_deadline_not_even_its_ack() {
        let (_dir, store) = worked_on();
        let t = store.ticket("kz-2026-00002").expect("read").expect("found");
        assert_eq!(t.row.state, "merged");
        assert_eq!(t.merged_into.as_deref(), Some("KZ-2026-00001"));
        assert!(t.merged_from.is_empty());
        // Its ack went with its thread to the survivor; nothing is owed here.
        assert_eq!(t.row.ack_sent_at, None);
        assert_eq!(t.row.next_deadline, None);
        assert_eq!((t.row.time_minutes, t.row.time.as_str()), (0, "0m"));
        assert!(t.participants.is_empty() && t.quotes.is_empty());
        let listed = store.tickets().expect("list");
        let row = listed.iter().find(|r| r.code == "KZ-2026-00002");
        assert_eq!(row.map(|r| r.next_deadline.clone()), Some(None));
        let survivor = listed.iter().find(|r| r.code == "KZ-2026-00001");
        assert_eq!(survivor.map(|r| r.time_minutes), Some(135));
    }

    #[test]
    fn a_customer_reminded_while_waiting_is_owed_the_closure_for_no_answer() {
        let (_dir, mut store) = worked_on();
        let mut reminded = status(TicketState::Waiting);
        reminded.customer_reminder_at = Some(at(80));
        reminded.customer_reminded_at = Some(at(80));
        reminded.auto_close_at = Some(at(150));
        apply(&mut store, &[update(1, reminded)], at(80));
        let t = store.ticket("KZ-2026-00001").expect("read").expect("found");
        assert_eq!(
            t.row.next_deadline,
            Some(("closure for no answer".into(), at(150)))
        );
        let mut quoted = status(TicketState::AwaitingApproval);
        quoted.customer_reminder_at = Some(at(90));
        apply(&mut store, &[update(1, quoted)], at(81));
        let t = store.ticket("KZ-2026-00001").expect("read").expect("found");
        assert_eq!(
            t.row.next_deadline,
            Some(("customer reminder".into(), at(90)))
        );
    }

    #[test]
    fn every_deadline_is_named_as_the_core_names_it() {
        use TicketState::*;
        let t = at(0);
        for (state, reminded, name) in [
            (Open, false, Some("first contact")),
            (Resolved, false, Some("reopen window")),
            (Waiting, false, Some("customer reminder")),
            (AwaitingApproval, false, Some("customer reminder")),
            (Waiting, true, Some("closure for no answer")),
            (AwaitingApproval, true, None),
            (Taken, false, None),
            (Closed, false, None),
            (Merged, false, None),
        ] {
            assert_eq!(
                deadline_name(state, reminded, t),
                name,
                "{state:?} {reminded}"
            );
        }
    }
}
