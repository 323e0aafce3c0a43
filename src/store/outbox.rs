//! The outbox: mails queued by intake transactions, delivered by `mail::smtp` with
//! retries. A row is marked sent only after the SMTP server accepted it.

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use rusqlite::{params, OptionalExtension};

use crate::mail::compose::Composed;

use super::{parse_ts, ts, Store};

/// One mail waiting for delivery.
#[derive(Clone, Debug)]
pub struct OutboxRow {
    pub id: i64,
    /// The mail as it was composed, as SMTP sends it.
    pub mail: Composed,
    /// Delivery attempts made so far.
    pub attempts: u32,
    /// The ticket it belongs to, if any: a ticket's mails are sent in order.
    pub ticket_id: Option<i64>,
}

/// SQL condition: no earlier mail of the same ticket is still pending.
const FIRST_OF_TICKET: &str = "(ticket_id IS NULL OR NOT EXISTS (
    SELECT 1 FROM outbox AS earlier
    WHERE earlier.ticket_id = outbox.ticket_id AND earlier.id < outbox.id
      AND earlier.sent_at IS NULL AND earlier.failed_at IS NULL))";

impl Store {
    /// Mails due for an attempt at `now`, oldest first. A ticket's mails go in the order
    /// they were queued: one waiting behind an earlier mail of its ticket that is still
    /// pending (a retry scheduled later, say) is not due until that one has gone.
    pub fn due_outbox(&self, now: DateTime<Utc>, limit: usize) -> Result<Vec<OutboxRow>> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT id, message_id, envelope_from, recipients, raw, attempts, ticket_id FROM outbox
             WHERE sent_at IS NULL AND failed_at IS NULL AND next_attempt_at <= ?1 AND {FIRST_OF_TICKET}
             ORDER BY next_attempt_at, id LIMIT ?2"
        ))?;
        let rows = stmt
            .query_map(params![ts(now), limit as i64], |r| {
                let recipients: String = r.get(3)?;
                Ok(OutboxRow {
                    id: r.get(0)?,
                    mail: Composed {
                        message_id: r.get(1)?,
                        envelope_from: r.get(2)?,
                        recipients: recipients.split(',').map(str::to_string).collect(),
                        raw: r.get(4)?,
                    },
                    attempts: r.get(5)?,
                    ticket_id: r.get(6)?,
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()
            .context("reading the outbox")?;
        Ok(rows)
    }

    /// When the next pending mail is due, if any is pending.
    pub fn next_outbox_due(&self) -> Result<Option<DateTime<Utc>>> {
        let next: Option<String> = self
            .conn
            .prepare_cached(&format!(
                "SELECT MIN(next_attempt_at) FROM outbox
                 WHERE sent_at IS NULL AND failed_at IS NULL AND {FIRST_OF_TICKET}"
            ))?
            .query_row([], |r| r.get(0))
            .optional()?
            .flatten();
        next.map(|t| parse_ts(&t))
            .transpose()
            .context("reading the outbox schedule")
    }

    /// Records a mail sent without waiting for the disk: the write is in the WAL (and the
    /// operating system) at once, so a killed process forgets nothing, and the next
    /// commit that does wait (a ticket's, a move's) makes it durable too, the WAL being
    /// written in order. Only a power cut in between can forget it, and then the mail
    /// goes out once more: a duplicate, never a loss. It spares an fsync per mail sent,
    /// made while the store is locked and intake waits for it.
    pub fn mark_sent(&self, id: i64, now: DateTime<Utc>) -> Result<()> {
        self.conn.pragma_update(None, "synchronous", "NORMAL")?;
        let written = self
            .conn
            .prepare_cached(
                "UPDATE outbox SET sent_at = ?2, attempts = attempts + 1, last_error = NULL WHERE id = ?1",
            )
            .and_then(|mut update| update.execute(params![id, ts(now)]));
        // Back to FULL whatever happened: every other commit waits for the disk.
        self.conn.pragma_update(None, "synchronous", "FULL")?;
        written?;
        Ok(())
    }

    pub fn mark_retry(&self, id: i64, next_at: DateTime<Utc>, error: &str) -> Result<()> {
        self.conn
            .prepare_cached(
                "UPDATE outbox SET attempts = attempts + 1, next_attempt_at = ?2, last_error = ?3
                 WHERE id = ?1",
            )?
            .execute(params![id, ts(next_at), error])?;
        Ok(())
    }

    pub fn mark_failed(&self, id: i64, now: DateTime<Utc>, error: &str) -> Result<()> {
        self.conn
            .prepare_cached(
                "UPDATE outbox SET attempts = attempts + 1, failed_at = ?2, last_error = ?3 WHERE id = ?1",
            )?
            .execute(params![id, ts(now), error])?;
        Ok(())
    }

    /// Number of mails still to deliver.
    pub fn outbox_pending(&self) -> Result<u64> {
        let n: i64 = self.conn.query_row(
            "SELECT COUNT(*) FROM outbox WHERE sent_at IS NULL AND failed_at IS NULL",
            [],
            |r| r.get(0),
        )?;
        Ok(n as u64)
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::store::test_support::temp_store;

    fn at(secs: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2027, 6, 1, 10, 0, 0)
            .single()
            .expect("valid")
            + chrono::Duration::seconds(secs)
    }

    /// A store with tickets 1 and 2 and one mail queued for each `(ticket, due)`.
    fn store_with(mails: &[(Option<i64>, i64)]) -> (tempfile::TempDir, Store) {
        let (dir, store) = temp_store();
        store
            .conn
            .execute_batch(
                "INSERT INTO contracts (id, customer, valid_from, valid_until, created_at, updated_at)
                 VALUES (1, 'Rossi', '2027-01-01', '2027-12-31', 'x', 'x');
                 INSERT INTO tickets (id, code, contract_id, requester, sender, state, summary,
                                      opened_at, ack_due_at)
                 VALUES (1, 'KZ-2027-00001', 1, 'm@r.it', 'm@r.it', 'open', 's', 'x', 'x'),
                        (2, 'KZ-2027-00002', 1, 'm@r.it', 'm@r.it', 'open', 's', 'x', 'x');",
            )
            .expect("setup");
        for (i, (ticket, due)) in mails.iter().enumerate() {
            store
                .conn
                .execute(
                    "INSERT INTO outbox (message_id, kind, ticket_id, envelope_from, recipients,
                                         subject, raw, created_at, next_attempt_at)
                     VALUES (?1, 'ack', ?2, 'a@k.it', 'm@r.it', 's', x'00', ?3, ?3)",
                    params![format!("m{i}"), ticket, ts(at(*due))],
                )
                .expect("queue");
        }
        (dir, store)
    }

    fn due_ids(store: &Store, now: i64) -> Vec<i64> {
        store
            .due_outbox(at(now), 100)
            .expect("due")
            .iter()
            .map(|r| r.id)
            .collect()
    }

    #[test]
    fn a_tickets_mail_waits_behind_its_earlier_mail_being_retried() {
        // Mail 1 (ticket 1) failed and is retried at +60 s; mail 2 (ticket 1) and mail 3
        // (ticket 2) were queued meanwhile, due now.
        let (_dir, store) = store_with(&[(Some(1), 0), (Some(1), 0), (Some(2), 0)]);
        store.mark_retry(1, at(60), "451 try later").expect("retry");
        assert_eq!(due_ids(&store, 1), vec![3], "ticket 2 is not held up");
        // The loop sleeps until the retry, not in a busy loop on mail 2.
        assert_eq!(store.next_outbox_due().expect("next"), Some(at(0)));
        store.mark_sent(3, at(1)).expect("sent");
        assert_eq!(store.next_outbox_due().expect("next"), Some(at(60)));
        // At the retry the earlier one is due; once it is sent the next one is.
        assert_eq!(due_ids(&store, 61), vec![1]);
        store.mark_sent(1, at(61)).expect("sent");
        assert_eq!(due_ids(&store, 61), vec![2]);
    }

    #[test]
    fn a_mail_given_up_no_longer_holds_its_ticket_back() {
        let (_dir, store) = store_with(&[(Some(1), 0), (Some(1), 0), (None, 0)]);
        store
            .mark_failed(1, at(0), "550 no such user")
            .expect("failed");
        assert_eq!(due_ids(&store, 0), vec![2, 3]);
    }

    fn synchronous(store: &Store) -> i64 {
        store
            .conn
            .query_row("PRAGMA synchronous", [], |r| r.get(0))
            .expect("pragma")
    }

    #[test]
    fn recording_a_send_leaves_every_other_commit_waiting_for_the_disk() {
        let (_dir, store) = store_with(&[(Some(1), 0)]);
        const FULL: i64 = 2;
        assert_eq!(synchronous(&store), FULL);
        store.mark_sent(1, at(1)).expect("sent");
        assert_eq!(synchronous(&store), FULL);
        assert_eq!(
            due_ids(&store, 2),
            Vec::<i64>::new(),
            "the send is recorded"
        );
        // Also when the record itself fails (here: the table is gone).
        store.conn.execute_batch("DROP TABLE outbox").expect("drop");
        assert!(store.mark_sent(1, at(2)).is_err());
        assert_eq!(synchronous(&store), FULL);
    }
}
