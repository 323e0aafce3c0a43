//! What `assistenza status` reports from the database: the outbox, tickets by state,
//! deadlines coming up, the acknowledgement promise, and the daemon's last look at the
//! mailbox (which the daemon records here on every pass).

use std::collections::BTreeMap;

use anyhow::{Context, Result};
use chrono::{DateTime, Duration, Utc};
use rusqlite::{params, OptionalExtension};
use serde::Serialize;

use super::{parse_ts, ts, Store};

/// An unsent acknowledgement this close to its deadline is reported as at risk.
const AT_RISK: Duration = Duration::minutes(15);

/// The database's part of the status report.
#[derive(Clone, Debug, Serialize)]
pub struct StoreStatus {
    pub tickets_by_state: BTreeMap<String, u64>,
    pub outbox_pending: u64,
    pub outbox_oldest_pending_at: Option<DateTime<Utc>>,
    /// Mail given up (refused for good or out of retries) in the last 7 days.
    pub outbox_failed_7d: u64,
    /// Mail held by the reply rate limit (recorded, never sent) in the last 7 days.
    pub outbox_held_7d: u64,
    /// Ticket deadlines (first contact, end of the reopen window) already past and not
    /// yet acted on, and those due within the next hour.
    pub deadlines_overdue: u64,
    pub deadlines_next_hour: u64,
    pub acks: AckPromise,
    pub last_poll_at: Option<DateTime<Utc>>,
    /// `idle`, `poll` or `once`: how the daemon last looked at the mailbox.
    pub intake_mode: Option<String>,
}

/// The 30-minute acknowledgement promise.
#[derive(Clone, Debug, Default, Serialize)]
pub struct AckPromise {
    /// Not sent, and already past the promise (including ones given up).
    pub missed_unsent: Vec<String>,
    /// Sent, but after the promise, in the last 24 hours.
    pub missed_sent_24h: u64,
    /// Not sent yet, due within 15 minutes.
    pub at_risk: Vec<String>,
}

impl Store {
    /// Records a successful look at the mailbox.
    pub fn record_poll(&mut self, at: DateTime<Utc>, mode: &str) -> Result<()> {
        let tx = self.conn.transaction()?;
        {
            let mut put = tx.prepare_cached(
                "INSERT INTO daemon_state (key, value) VALUES (?1, ?2)
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            )?;
            put.execute(params!["last_poll_at", ts(at)])?;
            put.execute(params!["intake_mode", mode])?;
        }
        tx.commit().context("recording the mailbox pass")
    }

    fn state(&self, key: &str) -> Result<Option<String>> {
        Ok(self
            .conn
            .prepare_cached("SELECT value FROM daemon_state WHERE key = ?1")?
            .query_row([key], |r| r.get(0))
            .optional()?)
    }

    /// The report as of `now`.
    pub fn status(&self, now: DateTime<Utc>) -> Result<StoreStatus> {
        let count = |sql: &str, p: &[&dyn rusqlite::ToSql]| -> Result<u64> {
            let n: i64 = self.conn.query_row(sql, p, |r| r.get(0))?;
            Ok(n as u64)
        };
        let mut tickets_by_state = BTreeMap::new();
        let mut stmt = self
            .conn
            .prepare("SELECT state, COUNT(*) FROM tickets GROUP BY state")?;
        for row in stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))? {
            let (state, n) = row?;
            tickets_by_state.insert(state, n as u64);
        }
        let oldest: Option<String> = self.conn.query_row(
            "SELECT MIN(created_at) FROM outbox WHERE sent_at IS NULL AND failed_at IS NULL",
            [],
            |r| r.get(0),
        )?;
        let (now_s, hour_s) = (ts(now), ts(now + Duration::hours(1)));
        let acks = self.ack_promise(now)?;
        Ok(StoreStatus {
            tickets_by_state,
            outbox_pending: self.outbox_pending()?,
            outbox_oldest_pending_at: oldest.map(|t| parse_ts(&t)).transpose()?,
            outbox_failed_7d: count(
                "SELECT COUNT(*) FROM outbox WHERE failed_at >= ?1 AND held IS NULL",
                &[&ts(now - Duration::days(7))],
            )?,
            outbox_held_7d: count(
                "SELECT COUNT(*) FROM outbox WHERE failed_at >= ?1 AND held IS NOT NULL",
                &[&ts(now - Duration::days(7))],
            )?,
            deadlines_overdue: count(
                "SELECT COUNT(*) FROM tickets WHERE next_deadline_at <= ?1",
                &[&now_s],
            )?,
            deadlines_next_hour: count(
                "SELECT COUNT(*) FROM tickets WHERE next_deadline_at > ?1 AND next_deadline_at <= ?2",
                &[&now_s, &hour_s],
            )?,
            acks,
            last_poll_at: self.state("last_poll_at")?.map(|t| parse_ts(&t)).transpose()?,
            intake_mode: self.state("intake_mode")?,
        })
    }

    fn ack_promise(&self, now: DateTime<Utc>) -> Result<AckPromise> {
        let mut promise = AckPromise::default();
        let mut unsent = self.conn.prepare(
            "SELECT t.code, t.ack_due_at FROM tickets t JOIN outbox o
               ON o.ticket_id = t.id AND o.kind = 'ack'
             WHERE o.sent_at IS NULL AND o.held IS NULL AND t.ack_due_at <= ?1
             ORDER BY t.ack_due_at",
        )?;
        let rows = unsent.query_map([ts(now + AT_RISK)], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
        })?;
        for row in rows {
            let (code, due) = row?;
            if parse_ts(&due)? <= now {
                promise.missed_unsent.push(code);
            } else {
                promise.at_risk.push(code);
            }
        }
        let n: i64 = self.conn.query_row(
            "SELECT COUNT(*) FROM tickets t JOIN outbox o ON o.ticket_id = t.id AND o.kind = 'ack'
             WHERE o.sent_at >= ?1 AND o.sent_at > t.ack_due_at",
            [ts(now - Duration::hours(24))],
            |r| r.get(0),
        )?;
        promise.missed_sent_24h = n as u64;
        Ok(promise)
    }
}
