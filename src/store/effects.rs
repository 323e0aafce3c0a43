//! Applying a decision's effects inside an open transaction: tickets opened and updated,
//! messages attached to their ticket, history lines, and mail queued in the outbox as the
//! caller composed it (the store writes bytes; it builds no mail). Shared by intake
//! (effects of a message) and the scheduler (effects of a deadline), so both write the
//! same rows the same way.

use anyhow::{bail, Context, Result};
use chrono::{DateTime, NaiveDate, Utc};
use rusqlite::params;

use crate::core::address::Address;
use crate::core::decision::{Effect, NewTicket, OutgoingMail, QuoteSent, TimeEntry};
use crate::core::expiry::Notice;
use crate::core::report::Month;
use crate::core::ticket::{Event, TicketCode, TicketStatus};
use crate::mail::compose::Composed;

use super::intake::Tx;
use super::ts;

/// What caused the effects: the rows they write point back to it, and the mail they queue
/// names it in its Message-ID.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cause {
    /// An inbound message (its row id).
    Inbound(i64),
    /// A deadline of the scheduler.
    Timer,
    /// A form submission held for confirmation (its `web_pending` row id).
    Pending(i64),
    /// The morning digest of this day: one per day, so its mail has the day in its id.
    Digest(NaiveDate),
    /// A contract expiry notice: one per contract, kind and end date, all in its id.
    ContractNotice(Notice),
    /// The monthly report of this month: one per month, its mail named by the month.
    Report(Month),
}

impl Cause {
    /// The part of a Message-ID that says what caused the mail.
    pub fn tag(self) -> String {
        match self {
            Cause::Inbound(id) => id.to_string(),
            Cause::Timer => "timer".into(),
            Cause::Pending(id) => format!("pending{id}"),
            Cause::Digest(day) => day.format("%Y-%m-%d").to_string(),
            Cause::ContractNotice(n) => format!(
                "{}.{}.{}",
                n.contract_id,
                n.kind.as_str(),
                n.valid_until.format("%Y-%m-%d")
            ),
            Cause::Report(month) => month.to_string(),
        }
    }

    fn inbound_id(self) -> Option<i64> {
        match self {
            Cause::Inbound(id) => Some(id),
            Cause::Timer
            | Cause::Pending(_)
            | Cause::Digest(_)
            | Cause::ContractNotice(_)
            | Cause::Report(_) => None,
        }
    }
}

impl Tx<'_> {
    /// Applies `effects` in order. `mails` holds the composed mail of each
    /// `Effect::Send`, in the order they come; `now` stamps queued mail.
    pub fn apply(
        &self,
        cause: Cause,
        effects: &[Effect],
        mails: &[Composed],
        now: DateTime<Utc>,
    ) -> Result<()> {
        let mut mails = mails.iter();
        for effect in effects {
            match effect {
                Effect::OpenTicket(t) => self.open_ticket(cause, t)?,
                Effect::AppendToTicket { code, text } => {
                    if let Some(inbound_id) = cause.inbound_id() {
                        self.attach(inbound_id, self.ticket_id(code)?, text)?;
                    }
                }
                Effect::UpdateTicket { code, status } => {
                    self.write_status(self.ticket_id(code)?, status)?;
                }
                Effect::Log(event) => self.log(cause, event)?,
                Effect::RecordTime(entry) => self.record_time(cause, entry)?,
                Effect::RecordQuote(quote) => self.record_quote(cause, quote)?,
                Effect::AnswerQuote {
                    code,
                    accepted,
                    by,
                    at,
                } => self.answer_quote(code, *accepted, by, *at)?,
                Effect::Participant {
                    code,
                    address,
                    added,
                } => self.participant(code, address, *added, now)?,
                Effect::Merge { from, into } => self.merge(from, into)?,
                Effect::Send(mail) => {
                    let Some(queued) = mails.next() else {
                        bail!("a mail to send was not composed ({})", mail.kind.name());
                    };
                    self.queue(cause, mail, queued, now)?;
                }
            }
        }
        if mails.next().is_some() {
            bail!("more mails composed than the effects send");
        }
        Ok(())
    }

    fn open_ticket(&self, cause: Cause, t: &NewTicket) -> Result<()> {
        self.tx
            .prepare_cached(
                "INSERT INTO tickets (code, contract_id, requester, sender, state,
                     summary, opened_at, ack_due_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )?
            .execute(params![
                t.code.to_string(),
                t.contract_id,
                t.requester.as_str(),
                t.sender.as_str(),
                t.status.state.as_str(),
                t.summary,
                ts(t.opened_at),
                ts(t.ack_due_at),
            ])
            .with_context(|| format!("opening ticket {}", t.code))?;
        let ticket_id = self.tx.last_insert_rowid();
        self.write_status(ticket_id, &t.status)?;
        self.tx
            .prepare_cached(
                "INSERT INTO ticket_counters (prefix, year, last) VALUES (?1, ?2, ?3)
                 ON CONFLICT (prefix, year) DO UPDATE SET last = MAX(last, excluded.last)",
            )?
            .execute(params![t.code.prefix, t.code.year, t.code.number])?;
        if let Some(inbound_id) = cause.inbound_id() {
            self.attach(inbound_id, ticket_id, &t.text)?;
        }
        Ok(())
    }

    fn log(&self, cause: Cause, event: &Event) -> Result<()> {
        let ticket_id = self.ticket_id(&event.code)?;
        self.tx
            .prepare_cached(
                "INSERT INTO ticket_events (ticket_id, at, actor, event, detail, inbound_id)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?
            .execute(params![
                ticket_id,
                ts(event.at),
                event.actor,
                event.kind.name(),
                event.detail,
                cause.inbound_id(),
            ])
            .context("recording a ticket event")?;
        Ok(())
    }

    /// Queues `mail`, composed as `queued`, with one row per recipient for the hourly
    /// reply limit.
    fn queue(
        &self,
        cause: Cause,
        mail: &OutgoingMail,
        queued: &Composed,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let ticket_id = mail
            .ticket
            .as_ref()
            .map(|code| self.ticket_id(code))
            .transpose()?;
        self.tx
            .prepare_cached(
                "INSERT INTO outbox (message_id, kind, ticket_id, inbound_id,
                     envelope_from, recipients, subject, raw, created_at,
                     next_attempt_at, body, held, failed_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?9, ?10, ?11,
                         CASE WHEN ?11 IS NULL THEN NULL ELSE ?9 END)",
            )?
            .execute(params![
                queued.message_id,
                mail.kind.name(),
                ticket_id,
                cause.inbound_id(),
                queued.envelope_from,
                queued.recipients.join(","),
                mail.subject,
                queued.raw,
                ts(now),
                mail.body,
                mail.held,
            ])
            .context("queueing an outgoing mail")?;
        let outbox_id = self.tx.last_insert_rowid();
        let mut each = self.tx.prepare_cached(
            "INSERT INTO outbox_recipients (outbox_id, address, created_at)
             VALUES (?1, ?2, ?3)",
        )?;
        for r in &queued.recipients {
            each.execute(params![outbox_id, r.to_lowercase(), ts(now)])?;
        }
        Ok(())
    }

    fn ticket_id(&self, code: &TicketCode) -> Result<i64> {
        self.tx
            .prepare_cached("SELECT id FROM tickets WHERE code = ?1")?
            .query_row([code.to_string()], |r| r.get(0))
            .with_context(|| format!("finding ticket {code}"))
    }

    fn attach(&self, inbound_id: i64, ticket_id: i64, text: &str) -> Result<()> {
        self.tx
            .prepare_cached("UPDATE inbound SET ticket_id = ?2, text = ?3 WHERE id = ?1")?
            .execute(params![inbound_id, ticket_id, text])?;
        Ok(())
    }

    fn write_status(&self, ticket_id: i64, st: &TicketStatus) -> Result<()> {
        let t = |at: Option<DateTime<Utc>>| at.map(ts);
        self.tx
            .prepare_cached(
                "UPDATE tickets SET state = ?2, operator = ?3, level = ?4, team = ?5, urgent = ?6,
                     first_contact_due_at = ?7, first_contact_at = ?8, reminded_at = ?9,
                     closed_at = ?10, reopen_until = ?11, next_deadline_at = ?12, extra = ?13,
                     customer_reminder_at = ?14, customer_reminded_at = ?15, auto_close_at = ?16,
                     merged_into = (SELECT id FROM tickets WHERE code = ?17)
                 WHERE id = ?1",
            )?
            .execute(params![
                ticket_id,
                st.state.as_str(),
                st.operator,
                st.level,
                st.team,
                st.urgent,
                t(st.first_contact_due_at),
                t(st.first_contact_at),
                t(st.reminded_at),
                t(st.closed_at),
                t(st.reopen_until),
                t(st.next_deadline().map(|d| d.at())),
                st.extra.as_str(),
                t(st.customer_reminder_at),
                t(st.customer_reminded_at),
                t(st.auto_close_at),
                st.merged_into.as_ref().map(ToString::to_string),
            ])
            .context("writing a ticket's status")?;
        Ok(())
    }

    fn record_time(&self, cause: Cause, e: &TimeEntry) -> Result<()> {
        self.tx
            .prepare_cached(
                "INSERT INTO time_entries (ticket_id, operator, day, minutes, at, inbound_id)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?
            .execute(params![
                self.ticket_id(&e.code)?,
                e.operator,
                e.day.to_string(),
                e.minutes,
                ts(e.at),
                cause.inbound_id(),
            ])
            .context("recording time spent")?;
        Ok(())
    }

    /// A new quote replaces any the customer has not answered; both stay recorded.
    fn record_quote(&self, cause: Cause, q: &QuoteSent) -> Result<()> {
        let ticket_id = self.ticket_id(&q.code)?;
        self.tx
            .prepare_cached(
                "UPDATE quotes SET decision = 'replaced', decided_at = ?2
                 WHERE ticket_id = ?1 AND decision IS NULL",
            )?
            .execute(params![ticket_id, ts(q.at)])?;
        self.tx
            .prepare_cached(
                "INSERT INTO quotes (ticket_id, operator, amount_cents, sent_at, text, inbound_id)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?
            .execute(params![
                ticket_id,
                q.operator,
                i64::try_from(q.amount_cents).context("a quote's amount")?,
                ts(q.at),
                q.text,
                cause.inbound_id(),
            ])
            .context("recording a quote")?;
        Ok(())
    }

    fn answer_quote(
        &self,
        code: &TicketCode,
        accepted: bool,
        by: &Address,
        at: DateTime<Utc>,
    ) -> Result<()> {
        let decision = if accepted { "accepted" } else { "refused" };
        let changed = self
            .tx
            .prepare_cached(
                "UPDATE quotes SET decision = ?2, decided_at = ?3, decided_by = ?4
                 WHERE id = (SELECT MAX(id) FROM quotes WHERE ticket_id = ?1 AND decision IS NULL)",
            )?
            .execute(params![
                self.ticket_id(code)?,
                decision,
                ts(at),
                by.as_str()
            ])?;
        if changed != 1 {
            bail!("ticket {code} has no quote waiting for an answer");
        }
        Ok(())
    }

    fn participant(
        &self,
        code: &TicketCode,
        address: &Address,
        added: bool,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let ticket_id = self.ticket_id(code)?;
        let done = if added {
            self.tx
                .prepare_cached(
                    "INSERT OR IGNORE INTO ticket_participants (ticket_id, address, added_at)
                     VALUES (?1, ?2, ?3)",
                )?
                .execute(params![ticket_id, address.as_str(), ts(now)])
        } else {
            self.tx
                .prepare_cached(
                    "DELETE FROM ticket_participants WHERE ticket_id = ?1 AND address = ?2",
                )?
                .execute(params![ticket_id, address.as_str()])
        };
        done.context("changing who is copied on a ticket")?;
        Ok(())
    }

    /// Everything of `from` becomes `into`'s: the messages both ways, the history, the
    /// time, the quotes and who is copied (its requester among them).
    fn merge(&self, from: &TicketCode, into: &TicketCode) -> Result<()> {
        let (from_id, into_id) = (self.ticket_id(from)?, self.ticket_id(into)?);
        for table in [
            "inbound",
            "outbox",
            "ticket_events",
            "time_entries",
            "quotes",
        ] {
            self.tx
                .prepare_cached(&format!(
                    "UPDATE {table} SET ticket_id = ?2 WHERE ticket_id = ?1"
                ))?
                .execute(params![from_id, into_id])
                .with_context(|| format!("merging {from} into {into}: {table}"))?;
        }
        self.tx
            .prepare_cached(
                "INSERT OR IGNORE INTO ticket_participants (ticket_id, address, added_at)
                 SELECT ?2, p.address, p.added_at FROM ticket_participants p, tickets i
                 WHERE p.ticket_id = ?1 AND i.id = ?2 AND p.address != i.requester
                 UNION ALL
                 SELECT ?2, f.requester, f.opened_at FROM tickets f, tickets i
                 WHERE f.id = ?1 AND i.id = ?2 AND f.requester != i.requester",
            )?
            .execute(params![from_id, into_id])?;
        self.tx
            .prepare_cached("DELETE FROM ticket_participants WHERE ticket_id = ?1")?
            .execute([from_id])?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::core::address::Address;
    use crate::core::decision::MailKind;
    use crate::store::test_support::{queued, temp_store};

    #[test]
    fn every_mail_to_send_comes_with_its_composed_bytes_and_no_more() {
        let (_dir, mut store) = temp_store();
        let now = Utc
            .with_ymd_and_hms(2027, 6, 1, 10, 0, 0)
            .single()
            .expect("valid");
        let send = Effect::Send(OutgoingMail::new(
            MailKind::Rejection,
            None,
            vec![Address::parse("x@example.com").expect("address")],
            ("Oggetto".into(), "Testo".into()),
        ));
        let tx = store.begin().expect("begin");
        let missing = tx.apply(Cause::Timer, std::slice::from_ref(&send), &[], now);
        assert!(missing.is_err(), "a mail without bytes is refused");
        let extra = tx.apply(Cause::Timer, &[], &queued(&[send]), now);
        assert!(extra.is_err(), "bytes without a mail are refused");
    }
}
