//! What the monthly report is computed from: the raw facts of every ticket that may have
//! something in a month, the requests refused for an expired or disabled contract, and
//! the contracts to attribute them to. `core::report` decides what counts; this only
//! reads. Merged tickets are left out: their rows (history, time, quotes, mail) were
//! moved to the ticket they were merged into, which counts them once.

use anyhow::{Context, Result};
use chrono::{DateTime, NaiveDate, Utc};
use rusqlite::{params, Connection};

use crate::core::report::{Month, QuoteFact, RefusedRequest, ReportFacts, TicketFact};

use super::intake::{load_contract, Tx};
use super::state::REPORT_MONTH;
use super::{parse_ts, ts, Store};

/// Tickets with any fact in the window: opened, a promise due, an event, time or a quote.
const TICKETS_SQL: &str = "
    SELECT t.id, t.code, c.customer, t.extra, t.opened_at, t.first_contact_due_at,
           t.first_contact_at, t.ack_due_at,
           (SELECT MIN(o.sent_at) FROM outbox o WHERE o.ticket_id = t.id AND o.kind = 'ack')
    FROM tickets t JOIN contracts c ON c.id = t.contract_id
    WHERE t.state != 'merged' AND (
        t.opened_at BETWEEN ?1 AND ?2
        OR t.ack_due_at BETWEEN ?1 AND ?2
        OR t.first_contact_due_at BETWEEN ?1 AND ?2
        OR EXISTS (SELECT 1 FROM ticket_events e WHERE e.ticket_id = t.id
                   AND e.event IN ('closed', 'reopened') AND e.at BETWEEN ?1 AND ?2)
        OR EXISTS (SELECT 1 FROM time_entries e WHERE e.ticket_id = t.id
                   AND e.day BETWEEN ?3 AND ?4)
        OR EXISTS (SELECT 1 FROM quotes q WHERE q.ticket_id = t.id
                   AND (q.sent_at BETWEEN ?1 AND ?2 OR q.decided_at BETWEEN ?1 AND ?2)))
    ORDER BY t.id";

impl Tx<'_> {
    /// The last month whose report was mailed, if one ever was.
    pub fn report_month(&self) -> Result<Option<Month>> {
        self.state(REPORT_MONTH)?
            .map(|m| {
                Month::parse(&m)
                    .with_context(|| format!("the month of the last report is stored as {m:?}"))
            })
            .transpose()
    }

    /// Records that `month`'s report went out (its mail queued in this transaction).
    pub fn set_report_month(&self, month: Month) -> Result<()> {
        self.set_state(REPORT_MONTH, &month.to_string())
    }

    /// The facts of `month`'s report, read in this transaction.
    pub fn report_facts(&self, month: Month) -> Result<ReportFacts> {
        report_facts(&self.tx, month)
    }
}

impl Store {
    /// The facts of `month`'s report.
    pub fn report_facts(&self, month: Month) -> Result<ReportFacts> {
        report_facts(&self.conn, month)
    }
}

/// A few days either side of `month`, so that the core, not SQL, decides its edges.
fn window(month: Month) -> (String, String) {
    let (from, to) = month.bounds();
    let margin = chrono::Duration::days(2);
    (ts(from - margin), ts(to + margin))
}

fn report_facts(conn: &Connection, month: Month) -> Result<ReportFacts> {
    let (from, to) = window(month);
    let days = (month.first_day().to_string(), month.last_day().to_string());
    let mut stmt = conn.prepare(TICKETS_SQL)?;
    let rows = stmt
        .query_map(params![from, to, days.0, days.1], ticket_from)?
        .collect::<rusqlite::Result<Vec<_>>>()
        .context("reading the tickets of the month")?;
    let mut tickets = Vec::with_capacity(rows.len());
    for (id, mut fact) in rows {
        fact.closed = event_times(conn, id, "closed")?;
        fact.reopened = event_times(conn, id, "reopened")?;
        fact.time = time_by_day(conn, id)?;
        fact.quotes = quote_facts(conn, id)?;
        tickets.push(fact);
    }
    let contract_ids: Vec<i64> = conn
        .prepare("SELECT id FROM contracts ORDER BY id")?
        .query_map([], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    let contracts = contract_ids
        .into_iter()
        .map(|id| load_contract(conn, id))
        .collect::<Result<Vec<_>>>()?;
    Ok(ReportFacts {
        tickets,
        refused: refused_requests(conn, month)?,
        contracts,
    })
}

fn ticket_from(r: &rusqlite::Row<'_>) -> rusqlite::Result<(i64, TicketFact)> {
    let time = |i| -> rusqlite::Result<Option<DateTime<Utc>>> {
        r.get::<_, Option<String>>(i)?
            .map(|t| parse_ts(&t))
            .transpose()
    };
    let fact = TicketFact {
        code: r.get(1)?,
        customer: r.get(2)?,
        extra: r.get(3)?,
        opened_at: parse_ts(&r.get::<_, String>(4)?)?,
        first_contact_due_at: time(5)?,
        first_contact_at: time(6)?,
        ack_due_at: parse_ts(&r.get::<_, String>(7)?)?,
        ack_sent_at: time(8)?,
        closed: vec![],
        reopened: vec![],
        time: vec![],
        quotes: vec![],
    };
    Ok((r.get(0)?, fact))
}

fn event_times(conn: &Connection, ticket_id: i64, event: &str) -> Result<Vec<DateTime<Utc>>> {
    conn.prepare_cached(
        "SELECT at FROM ticket_events WHERE ticket_id = ?1 AND event = ?2 ORDER BY at, id",
    )?
    .query_map(params![ticket_id, event], |r| {
        parse_ts(&r.get::<_, String>(0)?)
    })?
    .collect::<rusqlite::Result<Vec<_>>>()
    .with_context(|| format!("reading when a ticket was {event}"))
}

fn time_by_day(conn: &Connection, ticket_id: i64) -> Result<Vec<(NaiveDate, i64)>> {
    let rows = conn
        .prepare_cached(
            "SELECT day, minutes FROM time_entries WHERE ticket_id = ?1 ORDER BY day, id",
        )?
        .query_map([ticket_id], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()
        .context("reading a ticket's time")?;
    rows.into_iter()
        .map(|(day, minutes)| {
            let day = NaiveDate::parse_from_str(&day, "%Y-%m-%d")
                .with_context(|| format!("a time entry's day is stored as {day:?}"))?;
            Ok((day, minutes))
        })
        .collect()
}

fn quote_facts(conn: &Connection, ticket_id: i64) -> Result<Vec<QuoteFact>> {
    conn.prepare_cached(
        "SELECT amount_cents, sent_at, decision, decided_at FROM quotes
         WHERE ticket_id = ?1 ORDER BY sent_at, id",
    )?
    .query_map([ticket_id], |r| {
        let decided: Option<String> = r.get(3)?;
        Ok(QuoteFact {
            amount_cents: r.get::<_, i64>(0)?.max(0).unsigned_abs(),
            sent_at: parse_ts(&r.get::<_, String>(1)?)?,
            decision: r.get(2)?,
            decided_at: decided.map(|t| parse_ts(&t)).transpose()?,
        })
    })?
    .collect::<rusqlite::Result<Vec<_>>>()
    .context("reading a ticket's quotes")
}

/// Requests refused because the contract was expired or disabled, received around
/// `month` (the core keeps the month's).
fn refused_requests(conn: &Connection, month: Month) -> Result<Vec<RefusedRequest>> {
    let (from, to) = window(month);
    conn.prepare(
        "SELECT received_at, subject, sender FROM inbound
         WHERE outcome = 'rejected' AND reason IN ('contract_expired', 'contract_disabled')
           AND received_at BETWEEN ?1 AND ?2
         ORDER BY received_at, id",
    )?
    .query_map(params![from, to], |r| {
        Ok(RefusedRequest {
            received_at: parse_ts(&r.get::<_, String>(0)?)?,
            subject: r.get(1)?,
            sender: r.get(2)?,
        })
    })?
    .collect::<rusqlite::Result<Vec<_>>>()
    .context("reading the requests refused for the contract")
}

#[cfg(test)]
mod tests {
    use chrono::{Duration, TimeZone};
    use chrono_tz::Europe::Rome;

    use super::*;
    use crate::core::address::Address;
    use crate::core::decision::{
        Decision, Effect, MailKind, NewTicket, Outcome, OutgoingMail, QuoteSent, Rejection,
        TimeEntry,
    };
    use crate::core::report::compute;
    use crate::core::ticket::{Event, EventKind, Extra, TicketCode, TicketState, TicketStatus};
    use crate::store::test_support::{apply_timer, message, record, temp_store};
    use crate::store::ContractInput;

    fn rome_at(m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
        Rome.with_ymd_and_hms(2026, m, d, h, min, 0)
            .single()
            .expect("a time that happens once")
            .with_timezone(&Utc)
    }

    fn addr(a: &str) -> Address {
        Address::parse(a).expect("address")
    }

    fn code(n: u32) -> TicketCode {
        TicketCode {
            prefix: "KZ".into(),
            year: 2026,
            number: n,
        }
    }

    fn contract(store: &mut Store, customer: &str, address: &str, until: (u32, u32)) {
        let row = ContractInput {
            customer: customer.into(),
            addresses: vec![addr(address)],
            valid_from: NaiveDate::from_ymd_opt(2020, 1, 1).expect("date"),
            valid_until: NaiveDate::from_ymd_opt(2026, until.0, until.1).expect("date"),
            references: vec!["www.rossi.it".into()],
        };
        store
            .add_contract(&row, rome_at(1, 1, 9, 0))
            .expect("contract");
    }

    /// Opens ticket `n` of Rossi at `at` as intake does; its ack is sent at `ack_at`.
    fn open(store: &mut Store, n: u32, at: DateTime<Utc>, ack_at: DateTime<Utc>) {
        let contract_id = store.contracts().expect("contracts")[0].id;
        let (source, msg, raw) = message(n, "mario@rossi.it", at);
        let ack = OutgoingMail::new(
            MailKind::Ack,
            Some(&code(n)),
            vec![addr("mario@rossi.it")],
            ("Presa in carico".into(), "Testo".into()),
        );
        let ticket = NewTicket {
            code: code(n),
            contract_id,
            requester: addr("mario@rossi.it"),
            sender: addr("mario@rossi.it"),
            summary: format!("Richiesta {n}"),
            text: msg.text.clone(),
            opened_at: at,
            ack_due_at: at + Duration::minutes(30),
            status: TicketStatus::new(false, Extra::No, at + Duration::hours(4)),
        };
        let effects = vec![Effect::OpenTicket(ticket), Effect::Send(ack)];
        let decision = Decision::new(Outcome::NewTicket(code(n)), effects);
        let tx = store.begin().expect("begin");
        record(&tx, &source, &msg, &raw, &decision, at).expect("record");
        tx.commit().expect("commit");
        for row in store.due_outbox(ack_at, 100).expect("outbox") {
            store.mark_sent(row.id, ack_at).expect("sent");
        }
    }

    fn apply(store: &mut Store, effects: &[Effect], now: DateTime<Utc>) {
        let tx = store.begin().expect("begin");
        apply_timer(&tx, effects, now).expect("apply");
        tx.commit().expect("commit");
    }

    fn status(n: u32, state: TicketState, extra: Extra, contact: DateTime<Utc>) -> Effect {
        let opened = match n {
            1 => rome_at(10, 30, 10, 0),
            _ => rome_at(11, 16, 17, 50),
        };
        let mut st = TicketStatus::new(false, extra, opened + Duration::hours(4));
        st.state = state;
        st.operator = Some("giulia".into());
        st.first_contact_at = Some(contact);
        Effect::UpdateTicket {
            code: code(n),
            status: st,
        }
    }

    fn log(n: u32, kind: EventKind, at: DateTime<Utc>) -> Effect {
        Effect::Log(Event {
            code: code(n),
            at,
            actor: "giulia".into(),
            kind,
            detail: String::new(),
        })
    }

    fn time(n: u32, minutes: i32, day: (u32, u32)) -> Effect {
        let day = NaiveDate::from_ymd_opt(2026, day.0, day.1).expect("date");
        Effect::RecordTime(TimeEntry {
            code: code(n),
            operator: "giulia".into(),
            minutes,
            day,
            at: rome_at(day.month0() + 1, day.day0() + 1, 12, 0),
        })
    }

    fn quote(n: u32, cents: u64, at: DateTime<Utc>) -> Effect {
        Effect::RecordQuote(QuoteSent {
            code: code(n),
            operator: "giulia".into(),
            amount_cents: cents,
            at,
            text: String::new(),
        })
    }

    fn answer(n: u32, accepted: bool, at: DateTime<Utc>) -> Effect {
        Effect::AnswerQuote {
            code: code(n),
            accepted,
            by: addr("mario@rossi.it"),
            at,
        }
    }

    use chrono::Datelike;

    /// Rossi's October and November 2026, and Verdi's request refused in November.
    fn history() -> (tempfile::TempDir, Store) {
        let (dir, mut store) = temp_store();
        contract(&mut store, "Rossi", "mario@rossi.it", (12, 31));
        contract(&mut store, "Verdi", "paolo@verdi.it", (10, 15));
        // 1: opened 30/10, billed apart; 120 min on 31/10 and 60 on 2/11; closed 3/11,
        // reopened 9/11, closed 10/11; 500,00 € accepted 4/11.
        open(
            &mut store,
            1,
            rome_at(10, 30, 10, 0),
            rome_at(10, 30, 10, 2),
        );
        let contact = rome_at(10, 30, 11, 0);
        apply(
            &mut store,
            &[
                status(1, TicketState::Taken, Extra::Yes, contact),
                time(1, 120, (10, 31)),
            ],
            contact,
        );
        apply(
            &mut store,
            &[
                time(1, 60, (11, 2)),
                quote(1, 50_000, rome_at(11, 2, 15, 0)),
            ],
            rome_at(11, 2, 15, 0),
        );
        apply(
            &mut store,
            &[answer(1, true, rome_at(11, 4, 9, 0))],
            rome_at(11, 4, 9, 0),
        );
        for (kind, d) in [
            (EventKind::Closed, 3),
            (EventKind::Reopened, 9),
            (EventKind::Closed, 10),
        ] {
            apply(
                &mut store,
                &[log(1, kind, rome_at(11, d, 16, 0))],
                rome_at(11, d, 16, 0),
            );
        }
        // 2: opened 16/11 17:50, ack at 18:30 (late), taken the next day (missed);
        // 90 min; a quote of 200,00 € refused.
        open(
            &mut store,
            2,
            rome_at(11, 16, 17, 50),
            rome_at(11, 16, 18, 30),
        );
        let late = rome_at(11, 17, 9, 30);
        apply(
            &mut store,
            &[
                status(2, TicketState::Taken, Extra::No, late),
                time(2, 90, (11, 17)),
            ],
            late,
        );
        apply(
            &mut store,
            &[quote(2, 20_000, rome_at(11, 18, 9, 0))],
            rome_at(11, 18, 9, 0),
        );
        apply(
            &mut store,
            &[answer(2, false, rome_at(11, 19, 9, 0))],
            rome_at(11, 19, 9, 0),
        );
        // 3: opened 17/11, a duplicate of 2 with 15 min of its own, merged into 2.
        open(&mut store, 3, rome_at(11, 17, 8, 0), rome_at(11, 17, 8, 1));
        apply(&mut store, &[time(3, 15, (11, 17))], rome_at(11, 17, 9, 0));
        let mut merged = TicketStatus::new(false, Extra::No, rome_at(11, 17, 12, 0));
        merged.state = TicketState::Merged;
        merged.merged_into = Some(code(2));
        let merge = Effect::Merge {
            from: code(3),
            into: code(2),
        };
        let update = Effect::UpdateTicket {
            code: code(3),
            status: merged,
        };
        apply(&mut store, &[update, merge], rome_at(11, 17, 9, 40));
        // Verdi's contract ran out on 15 October.
        let at = rome_at(11, 20, 10, 0);
        let (source, mut msg, raw) = message(9, "paolo@verdi.it", at);
        msg.subject = "paolo@verdi.it".into();
        let until = NaiveDate::from_ymd_opt(2026, 10, 15).expect("date");
        let rejected = Outcome::Rejected(Rejection::ContractExpired {
            requester: addr("paolo@verdi.it"),
            until,
        });
        let tx = store.begin().expect("begin");
        record(
            &tx,
            &source,
            &msg,
            &raw,
            &Decision::new(rejected, vec![]),
            at,
        )
        .expect("record");
        tx.commit().expect("commit");
        (dir, store)
    }

    #[test]
    fn the_report_of_a_stored_month_counts_a_merged_ticket_once_and_each_fact_in_its_month() {
        let (_dir, store) = history();
        let november = Month {
            year: 2026,
            month: 11,
        };
        let facts = store.report_facts(november).expect("facts");
        let codes: Vec<&str> = facts.tickets.iter().map(|t| t.code.as_str()).collect();
        assert_eq!(
            codes,
            ["KZ-2026-00001", "KZ-2026-00002"],
            "the merged 3 is not listed"
        );
        let report = compute(&facts, november, rome_at(12, 1, 9, 0));
        let rows: Vec<(&str, u32, u32, u32, i64)> = report
            .rows
            .iter()
            .map(|r| {
                (
                    r.customer.as_str(),
                    r.tickets_opened,
                    r.tickets_closed,
                    r.reopened,
                    r.minutes_worked,
                )
            })
            .collect();
        // Rossi: 2 opened in November (3 merged into it counts in 2); 60 + 90 + 15 min.
        assert_eq!(rows, [("Rossi", 1, 1, 1, 165), ("Verdi", 0, 0, 0, 0)]);
        let rossi = &report.rows[0];
        assert_eq!((rossi.extra_interventions, rossi.extra_minutes), (1, 60));
        assert_eq!(
            (
                rossi.quotes_sent,
                rossi.quotes_accepted,
                rossi.quotes_accepted_cents,
                rossi.quotes_refused
            ),
            (2, 1, 50_000, 1)
        );
        // Only 2's promises fall in November (1's were due in October): both broken.
        assert_eq!(
            (
                rossi.first_contact_met,
                rossi.first_contact_missed,
                rossi.ack_within_30m,
                rossi.ack_late
            ),
            (0, 1, 0, 1)
        );
        assert_eq!(report.rows[1].refused_requests, 1);
        let october = Month {
            year: 2026,
            month: 10,
        };
        let report = compute(
            &store.report_facts(october).expect("facts"),
            october,
            rome_at(12, 1, 9, 0),
        );
        let rossi = &report.rows[0];
        assert_eq!(
            (
                rossi.tickets_opened,
                rossi.minutes_worked,
                rossi.first_contact_met,
                rossi.ack_within_30m
            ),
            (1, 120, 1, 1)
        );
    }
}
