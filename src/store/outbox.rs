//! The outbox: mails queued by intake transactions, delivered by `mail::smtp` with
//! retries. A row is marked sent only after the SMTP server accepted it.

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use rusqlite::{params, OptionalExtension};

use super::{parse_ts, ts, Store};

/// One mail waiting for delivery.
#[derive(Clone, Debug)]
pub struct OutboxRow {
    pub id: i64,
    pub message_id: String,
    pub envelope_from: String,
    pub recipients: Vec<String>,
    pub raw: Vec<u8>,
    /// Delivery attempts made so far.
    pub attempts: u32,
    /// The ticket it belongs to, if any: a ticket's mails are sent in order.
    pub ticket_id: Option<i64>,
}

impl Store {
    /// Mails due for an attempt at `now`, oldest first.
    pub fn due_outbox(&self, now: DateTime<Utc>, limit: usize) -> Result<Vec<OutboxRow>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT id, message_id, envelope_from, recipients, raw, attempts, ticket_id FROM outbox
             WHERE sent_at IS NULL AND failed_at IS NULL AND next_attempt_at <= ?1
             ORDER BY next_attempt_at, id LIMIT ?2",
        )?;
        let rows = stmt
            .query_map(params![ts(now), limit as i64], |r| {
                let recipients: String = r.get(3)?;
                Ok(OutboxRow {
                    id: r.get(0)?,
                    message_id: r.get(1)?,
                    envelope_from: r.get(2)?,
                    recipients: recipients.split(',').map(str::to_string).collect(),
                    raw: r.get(4)?,
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
            .prepare_cached(
                "SELECT MIN(next_attempt_at) FROM outbox WHERE sent_at IS NULL AND failed_at IS NULL",
            )?
            .query_row([], |r| r.get(0))
            .optional()?
            .flatten();
        next.map(|t| parse_ts(&t))
            .transpose()
            .context("reading the outbox schedule")
    }

    pub fn mark_sent(&self, id: i64, now: DateTime<Utc>) -> Result<()> {
        self.conn
            .prepare_cached(
                "UPDATE outbox SET sent_at = ?2, attempts = attempts + 1, last_error = NULL WHERE id = ?1",
            )?
            .execute(params![id, ts(now)])?;
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
