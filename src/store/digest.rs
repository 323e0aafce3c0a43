//! What the morning digest reads and writes: the tickets still being worked on, and the
//! last day a digest went out. That day is written in the transaction that queues the
//! day's digests, so a crash leaves either both or neither: a digest is never sent twice,
//! and never lost to a day recorded without its mail.

use anyhow::{Context, Result};
use chrono::NaiveDate;

use crate::core::digest::OpenTicket;

use super::intake::Tx;
use super::state::DIGEST_DAY;

impl Tx<'_> {
    /// Every ticket open, taken, or waiting for the customer or a quote's answer, oldest
    /// first.
    pub fn open_tickets(&self) -> Result<Vec<OpenTicket>> {
        let ids = self
            .tx
            .prepare_cached(
                "SELECT id FROM tickets
                 WHERE state IN ('open', 'taken', 'waiting', 'awaiting_approval')
                 ORDER BY id",
            )?
            .query_map([], |r| r.get::<_, i64>(0))?
            .collect::<rusqlite::Result<Vec<_>>>()
            .context("listing the open tickets")?;
        ids.into_iter()
            .map(|id| self.ticket(id).map(|t| OpenTicket::of(&t)))
            .collect()
    }

    /// The last day a digest went out, if one ever did.
    pub fn digest_day(&self) -> Result<Option<NaiveDate>> {
        self.state(DIGEST_DAY)?
            .map(|d| {
                NaiveDate::parse_from_str(&d, "%Y-%m-%d")
                    .with_context(|| format!("the day of the last digest is stored as {d:?}"))
            })
            .transpose()
    }

    /// Records that `day`'s digest went out (its mail queued in this transaction).
    pub fn set_digest_day(&self, day: NaiveDate) -> Result<()> {
        self.set_state(DIGEST_DAY, &day.format("%Y-%m-%d").to_string())
    }
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};

    use crate::core::address::Address;
    use crate::core::decision::{Decision, Effect, NewTicket, Outcome};
    use crate::core::ticket::{Extra, TicketCode, TicketState, TicketStatus};
    use crate::store::test_support::{apply_timer, message, record, temp_store};
    use crate::store::{ContractInput, Store};

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 7, 8, 10, 0)
            .single()
            .expect("valid")
    }

    fn addr(a: &str) -> Address {
        Address::parse(a).expect("address")
    }

    fn code(number: u32) -> TicketCode {
        TicketCode {
            prefix: "KZ".into(),
            year: 2026,
            number,
        }
    }

    /// Opens ticket `n` for mario@rossi.it, as intake records a new request.
    fn open(store: &mut Store, n: u32) {
        let at = now() - Duration::hours(i64::from(n));
        let contract_id = store.contracts().expect("contracts")[0].id;
        let (source, msg, raw) = message(n, "mario@rossi.it", at);
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
        let decision = Decision::new(
            Outcome::NewTicket(code(n)),
            vec![Effect::OpenTicket(ticket)],
        );
        let tx = store.begin().expect("begin");
        record(&tx, &source, &msg, &raw, &decision, at).expect("record");
        tx.commit().expect("commit");
    }

    #[test]
    fn the_digest_day_is_none_until_set_and_then_the_last_one_set() {
        let (_dir, mut store) = temp_store();
        let tx = store.begin().expect("begin");
        assert_eq!(tx.digest_day().expect("read"), None);
        let monday = NaiveDate::from_ymd_opt(2026, 12, 7).expect("date");
        let tuesday = monday.succ_opt().expect("date");
        tx.set_digest_day(monday).expect("set");
        tx.set_digest_day(tuesday).expect("set");
        tx.commit().expect("commit");
        let tx = store.begin().expect("begin");
        assert_eq!(tx.digest_day().expect("read"), Some(tuesday));
    }

    #[test]
    fn open_tickets_are_those_still_worked_on_with_their_customer() {
        let (_dir, mut store) = temp_store();
        let contract = ContractInput {
            customer: "Rossi Impianti srl".into(),
            addresses: vec![addr("mario@rossi.it")],
            valid_from: NaiveDate::from_ymd_opt(2026, 1, 1).expect("date"),
            valid_until: NaiveDate::from_ymd_opt(2027, 12, 31).expect("date"),
            references: vec!["www.rossi.it".into()],
        };
        store.add_contract(&contract, now()).expect("contract");
        for n in 1..=3 {
            open(&mut store, n);
        }
        let mut waiting = TicketStatus::new(false, Extra::No, now());
        waiting.state = TicketState::Waiting;
        waiting.operator = Some("giulia".into());
        let mut resolved = waiting.clone();
        resolved.state = TicketState::Resolved;
        let tx = store.begin().expect("begin");
        let update = |n, status: &TicketStatus| Effect::UpdateTicket {
            code: code(n),
            status: status.clone(),
        };
        let effects = [update(2, &waiting), update(3, &resolved)];
        apply_timer(&tx, &effects, now()).expect("apply");
        let open = tx.open_tickets().expect("list");
        let listed: Vec<(String, TicketState, &str)> = open
            .iter()
            .map(|t| (t.code.to_string(), t.status.state, t.customer.as_str()))
            .collect();
        assert_eq!(
            listed,
            vec![
                (
                    "KZ-2026-00001".into(),
                    TicketState::Open,
                    "Rossi Impianti srl"
                ),
                (
                    "KZ-2026-00002".into(),
                    TicketState::Waiting,
                    "Rossi Impianti srl"
                ),
            ]
        );
    }
}
