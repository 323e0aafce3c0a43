//! What `assistenza status` reports from the database: the outbox, tickets by state,
//! deadlines coming up, the acknowledgement promise, and the daemon's last look at the
//! mailbox (which the daemon records here on every pass); and, for the metrics, totals
//! over everything the database still holds.

use std::collections::BTreeMap;

use anyhow::{Context, Result};
use chrono::{DateTime, Duration, Utc};
use rusqlite::{params, OptionalExtension};
use serde::Serialize;

use super::state::{DIGEST_DAY, REPORT_MONTH};
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
    /// The last office day a morning digest went out for (`2026-12-07`), and the last
    /// month whose report was mailed (`2026-11`).
    pub last_digest_day: Option<String>,
    pub last_report_month: Option<String>,
    /// Messages set aside in Quarantine in the last 7 days because handling them failed
    /// (for good, or for longer than `intake.give_up_after_secs`) …
    pub intake_failed_7d: u64,
    /// … and the latest of them, newest first.
    pub intake_failed_latest: Vec<SetAside>,
}

/// A message set aside after a failure, and why.
#[derive(Clone, Debug, Serialize)]
pub struct SetAside {
    pub at: DateTime<Utc>,
    pub sender: Option<String>,
    pub subject: String,
    pub reason: String,
}

/// How many of the latest set-aside messages the report names.
const SET_ASIDE_SHOWN: usize = 3;

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

/// Totals over everything the database holds (so `purge` lowers them): what the metrics
/// export besides the report's current values.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Totals {
    /// Acknowledgements sent after the 30-minute promise, or not sent and past it.
    pub acks_missed: u64,
    /// Tickets not taken in their first-contact time: the queue was reminded (the
    /// deadline fired), the first contact came late, or an open ticket is past it without
    /// one (a ticket merged or closed before anyone took it is not counted).
    pub first_contacts_missed: u64,
    /// Mail given up: refused for good or out of retries.
    pub outbox_given_up: u64,
    /// Mail held by the reply rate limit (recorded, never sent).
    pub outbox_held: u64,
    /// Messages set aside in Quarantine by the rules, by reason (`no_sender`, `loop` …).
    pub quarantined: BTreeMap<String, u64>,
    /// Messages set aside in Quarantine because handling them failed.
    pub failed: u64,
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
            last_digest_day: self.state(DIGEST_DAY)?,
            last_report_month: self.state(REPORT_MONTH)?,
            intake_failed_7d: count(
                "SELECT COUNT(*) FROM inbound WHERE outcome = 'failed' AND processed_at >= ?1",
                &[&ts(now - Duration::days(7))],
            )?,
            intake_failed_latest: self.set_aside(now - Duration::days(7))?,
        })
    }

    /// The totals as of `now` (the promise and the first contact are missed once past).
    pub fn totals(&self, now: DateTime<Utc>) -> Result<Totals> {
        let count = |sql: &str, p: &[&dyn rusqlite::ToSql]| -> Result<u64> {
            let n: i64 = self.conn.query_row(sql, p, |r| r.get(0))?;
            Ok(n as u64)
        };
        let now_s = ts(now);
        let mut quarantined = BTreeMap::new();
        let mut stmt = self.conn.prepare(
            "SELECT reason, COUNT(*) FROM inbound WHERE outcome = 'quarantine' GROUP BY reason",
        )?;
        for row in stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))? {
            let (reason, n) = row?;
            quarantined.insert(reason, n as u64);
        }
        Ok(Totals {
            acks_missed: count(
                "SELECT COUNT(*) FROM tickets t JOIN outbox o ON o.ticket_id = t.id AND o.kind = 'ack'
                 WHERE o.sent_at > t.ack_due_at
                    OR (o.sent_at IS NULL AND o.held IS NULL AND t.ack_due_at <= ?1)",
                &[&now_s],
            )?,
            first_contacts_missed: count(
                "SELECT COUNT(*) FROM tickets WHERE first_contact_due_at IS NOT NULL
                   AND (reminded_at IS NOT NULL OR first_contact_at > first_contact_due_at
                        OR (first_contact_at IS NULL AND state = 'open'
                            AND first_contact_due_at <= ?1))",
                &[&now_s],
            )?,
            outbox_given_up: count(
                "SELECT COUNT(*) FROM outbox WHERE failed_at IS NOT NULL AND held IS NULL",
                &[],
            )?,
            outbox_held: count("SELECT COUNT(*) FROM outbox WHERE held IS NOT NULL", &[])?,
            quarantined,
            failed: count("SELECT COUNT(*) FROM inbound WHERE outcome = 'failed'", &[])?,
        })
    }

    /// The latest messages set aside after a failure since `since`, newest first.
    fn set_aside(&self, since: DateTime<Utc>) -> Result<Vec<SetAside>> {
        let mut stmt = self.conn.prepare(
            "SELECT processed_at, sender, subject, reason FROM inbound
             WHERE outcome = 'failed' AND processed_at >= ?1
             ORDER BY processed_at DESC, id DESC LIMIT ?2",
        )?;
        let rows = stmt.query_map(params![ts(since), SET_ASIDE_SHOWN as i64], |r| {
            Ok(SetAside {
                at: parse_ts(&r.get::<_, String>(0)?)?,
                sender: r.get(1)?,
                subject: r.get(2)?,
                reason: r.get(3)?,
            })
        })?;
        rows.collect::<rusqlite::Result<Vec<_>>>()
            .context("reading the messages set aside")
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

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use crate::store::test_support::{message, temp_store};

    use super::*;

    #[test]
    fn a_message_set_aside_is_reported_with_its_reason_and_a_copy_of_it_is_handled_anew() {
        let (_dir, mut store) = temp_store();
        let at = Utc
            .with_ymd_and_hms(2026, 12, 2, 9, 0, 0)
            .single()
            .expect("time");
        let (source, msg, raw) = message(1, "mario@rossi.it", at);
        let reason = "permanent failure: loading contract 1: Query returned no rows";
        let tx = store.begin().expect("begin");
        tx.record_failure(&source, &msg, &raw, reason, at)
            .expect("record");
        tx.commit().expect("commit");

        let tx = store.begin().expect("begin");
        let again = tx
            .find_by_source(&source)
            .expect("by source")
            .expect("found");
        assert_eq!(again.folder, crate::core::decision::Folder::Quarantine);
        assert_eq!(again.outcome, "failed");
        // Moved back to the mailbox by hand (a new UID): not a duplicate of itself.
        assert!(tx
            .find_by_message_id("m1@rossi.it")
            .expect("by id")
            .is_none());
        drop(tx);

        let s = store.status(at + Duration::hours(1)).expect("status");
        assert_eq!(s.intake_failed_7d, 1);
        assert_eq!(s.intake_failed_latest.len(), 1);
        assert_eq!(s.intake_failed_latest[0].reason, reason);
        assert_eq!(
            s.intake_failed_latest[0].sender.as_deref(),
            Some("mario@rossi.it")
        );
        assert_eq!(s.intake_failed_latest[0].at, at);
        // A week later it is no longer news.
        let s = store.status(at + Duration::days(8)).expect("status");
        assert_eq!(s.intake_failed_7d, 0);
        assert!(s.intake_failed_latest.is_empty());
    }
}
