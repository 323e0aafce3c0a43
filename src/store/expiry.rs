//! What the contract expiry notices read and write: every contract, the notices already
//! sent, and a contract's use over a period. A notice is recorded in the transaction
//! that queues its mail, under a key of contract, kind and end date: a crash leaves both
//! or neither, so a notice is never sent twice and never lost to a record without mail.

use anyhow::{Context, Result};
use chrono::{DateTime, NaiveDate, Utc};
use rusqlite::params;

use crate::core::contract::Contract;
use crate::core::expiry::{Notice, NoticeKind, Usage};

use super::intake::{load_contract, Tx};
use super::ts;

impl Tx<'_> {
    /// Every contract, by customer name.
    pub fn all_contracts(&self) -> Result<Vec<Contract>> {
        let ids = self
            .tx
            .prepare_cached("SELECT id FROM contracts ORDER BY customer")?
            .query_map([], |r| r.get::<_, i64>(0))?
            .collect::<rusqlite::Result<Vec<_>>>()
            .context("listing the contracts")?;
        ids.into_iter()
            .map(|id| load_contract(&self.tx, id))
            .collect()
    }

    /// Every expiry notice sent.
    pub fn contract_notices(&self) -> Result<Vec<Notice>> {
        let rows = self
            .tx
            .prepare_cached("SELECT contract_id, kind, valid_until FROM contract_notices")?
            .query_map([], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                ))
            })?
            .collect::<rusqlite::Result<Vec<_>>>()
            .context("reading the contract notices sent")?;
        rows.into_iter()
            .map(|(contract_id, kind, until)| {
                let kind = NoticeKind::parse(&kind)
                    .with_context(|| format!("a contract notice has the kind {kind:?}"))?;
                let valid_until = NaiveDate::parse_from_str(&until, "%Y-%m-%d")
                    .with_context(|| format!("a contract notice is about the date {until:?}"))?;
                Ok(Notice {
                    contract_id,
                    kind,
                    valid_until,
                })
            })
            .collect()
    }

    /// Records `notice` as sent (its mail queued in this transaction). A notice recorded
    /// before fails the transaction: it must not be sent twice.
    pub fn record_contract_notice(&self, notice: &Notice, at: DateTime<Utc>) -> Result<()> {
        self.tx
            .prepare_cached(
                "INSERT INTO contract_notices (contract_id, kind, valid_until, sent_at)
                 VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![
                notice.contract_id,
                notice.kind.as_str(),
                notice.valid_until.format("%Y-%m-%d").to_string(),
                ts(at)
            ])
            .context("recording a contract notice")?;
        Ok(())
    }

    /// Tickets opened on the contract since the start of `since` (Europe/Rome), and the
    /// minutes recorded on its tickets on days from `since`.
    pub fn contract_usage(&self, contract_id: i64, since: NaiveDate) -> Result<Usage> {
        let day = since.format("%Y-%m-%d").to_string();
        let start = crate::core::expiry::day_start(since);
        let tickets: i64 = self
            .tx
            .prepare_cached(
                "SELECT COUNT(*) FROM tickets WHERE contract_id = ?1 AND opened_at >= ?2",
            )?
            .query_row(params![contract_id, ts(start)], |r| r.get(0))
            .context("counting a contract's tickets")?;
        let minutes: i64 = self
            .tx
            .prepare_cached(
                "SELECT COALESCE(SUM(e.minutes), 0) FROM time_entries e
                 JOIN tickets t ON t.id = e.ticket_id
                 WHERE t.contract_id = ?1 AND e.day >= ?2",
            )?
            .query_row(params![contract_id, day], |r| r.get(0))
            .context("adding up a contract's time")?;
        Ok(Usage { tickets, minutes })
    }
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};

    use crate::core::address::Address;
    use crate::core::decision::{Decision, Effect, NewTicket, Outcome, TimeEntry};
    use crate::core::expiry::{Notice, NoticeKind, Usage};
    use crate::core::ticket::{Extra, TicketCode, TicketStatus};
    use crate::store::test_support::{apply_timer, message, record, temp_store};
    use crate::store::{ContractInput, Store};

    fn code(number: u32) -> TicketCode {
        TicketCode {
            prefix: "KZ".into(),
            year: 2026,
            number,
        }
    }

    /// Opens ticket `n` at `at` for mario@rossi.it, with `minutes` recorded on `at`'s day.
    fn ticket(store: &mut Store, n: u32, at: DateTime<Utc>, minutes: i32) {
        let mario = Address::parse("mario@rossi.it").expect("address");
        let contract_id = store.contracts().expect("contracts")[0].id;
        let (source, msg, raw) = message(n, "mario@rossi.it", at);
        let ticket = NewTicket {
            code: code(n),
            contract_id,
            requester: mario.clone(),
            sender: mario,
            summary: format!("Richiesta {n}"),
            text: msg.text.clone(),
            opened_at: at,
            ack_due_at: at + Duration::minutes(30),
            status: TicketStatus::new(false, Extra::No, at + Duration::hours(4)),
        };
        let decision = Decision::new(
            Outcome::NewTicket(code(n)),
            vec![Effect::OpenTicket(ticket)],
        );
        let tx = store.begin().expect("begin");
        record(&tx, &source, &msg, &raw, &decision, at).expect("record");
        let entry = TimeEntry {
            code: code(n),
            operator: "giulia".into(),
            minutes,
            day: at.date_naive(),
            at,
        };
        apply_timer(&tx, &[Effect::RecordTime(entry)], at).expect("time");
        tx.commit().expect("commit");
    }

    #[test]
    fn usage_counts_the_tickets_and_time_of_the_period_only() {
        let (_dir, mut store) = temp_store();
        let now = Utc
            .with_ymd_and_hms(2026, 12, 2, 9, 0, 0)
            .single()
            .expect("valid");
        let contract = ContractInput {
            customer: "Rossi".into(),
            addresses: vec![Address::parse("mario@rossi.it").expect("address")],
            valid_from: day(2025, 1, 1),
            valid_until: day(2026, 12, 20),
            references: vec![],
        };
        store.add_contract(&contract, now).expect("contract");
        ticket(&mut store, 1, now - Duration::days(400), 600);
        ticket(&mut store, 2, now - Duration::days(30), 90);
        ticket(&mut store, 3, now - Duration::days(2), 45);
        let tx = store.begin().expect("begin");
        let id = tx.all_contracts().expect("contracts")[0].id;
        assert_eq!(
            tx.contract_usage(id, day(2025, 12, 2)).expect("usage"),
            Usage {
                tickets: 2,
                minutes: 135
            }
        );
    }

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).expect("date")
    }

    #[test]
    fn a_notice_is_recorded_once_and_read_back() {
        let (_dir, mut store) = temp_store();
        let now = Utc
            .with_ymd_and_hms(2026, 12, 2, 9, 0, 0)
            .single()
            .expect("valid");
        let contract = ContractInput {
            customer: "Rossi".into(),
            addresses: vec![Address::parse("mario@rossi.it").expect("address")],
            valid_from: day(2026, 1, 1),
            valid_until: day(2026, 12, 20),
            references: vec![],
        };
        store.add_contract(&contract, now).expect("contract");
        let tx = store.begin().expect("begin");
        let id = tx.all_contracts().expect("contracts")[0].id;
        let notice = Notice {
            contract_id: id,
            kind: NoticeKind::Before,
            valid_until: day(2026, 12, 20),
        };
        tx.record_contract_notice(&notice, now).expect("record");
        assert!(tx.record_contract_notice(&notice, now).is_err(), "twice");
        let lapsed = Notice {
            kind: NoticeKind::Lapsed,
            ..notice
        };
        tx.record_contract_notice(&lapsed, now)
            .expect("the other kind");
        tx.commit().expect("commit");
        let tx = store.begin().expect("begin");
        assert_eq!(tx.contract_notices().expect("read"), vec![notice, lapsed]);
        assert_eq!(
            tx.contract_usage(id, day(2025, 12, 2)).expect("usage"),
            Usage::default()
        );
    }
}
