//! What the scheduler reads: tickets whose next deadline has come, and when the next one
//! will. Each ticket is then handled in its own transaction through `Tx`, like a message.

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use rusqlite::{params, OptionalExtension};

use super::{parse_ts, ts, Store};

impl Store {
    /// Ids of tickets whose deadline is at or before `now`, soonest first.
    pub fn due_tickets(&self, now: DateTime<Utc>, limit: usize) -> Result<Vec<i64>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT id FROM tickets WHERE next_deadline_at <= ?1
             ORDER BY next_deadline_at, id LIMIT ?2",
        )?;
        let ids = stmt
            .query_map(params![ts(now), limit as i64], |r| r.get(0))?
            .collect::<rusqlite::Result<Vec<i64>>>()
            .context("reading due tickets")?;
        Ok(ids)
    }

    /// The soonest deadline of any ticket.
    pub fn next_deadline(&self) -> Result<Option<DateTime<Utc>>> {
        let next: Option<String> = self
            .conn
            .prepare_cached("SELECT MIN(next_deadline_at) FROM tickets")?
            .query_row([], |r| r.get(0))
            .optional()?
            .flatten();
        next.map(|t| parse_ts(&t))
            .transpose()
            .context("reading the next deadline")
    }
}
