//! What the scheduler reads: tickets whose next deadline has come, and when the next one
//! will. Each ticket is then handled in its own transaction through `Tx`, like a message.

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use rusqlite::{params, OptionalExtension};

use super::{parse_ts, ts, Store};

impl Store {
    /// Ids of tickets whose deadline is at or before `now`, soonest first.
    pub fn due_tickets(&self, now: DateTime<Utc>, limit: usize, skip: &[i64]) -> Result<Vec<i64>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT id FROM tickets WHERE next_deadline_at <= ?1
               AND id NOT IN (SELECT value FROM json_each(?3))
             ORDER BY next_deadline_at, id LIMIT ?2",
        )?;
        let ids = stmt
            .query_map(params![ts(now), limit as i64, ids_json(skip)], |r| r.get(0))?
            .collect::<rusqlite::Result<Vec<i64>>>()
            .context("reading due tickets")?;
        Ok(ids)
    }

    /// The soonest deadline of any ticket but those in `skip`.
    pub fn next_deadline(&self, skip: &[i64]) -> Result<Option<DateTime<Utc>>> {
        let next: Option<String> = self
            .conn
            .prepare_cached(
                "SELECT MIN(next_deadline_at) FROM tickets
                 WHERE id NOT IN (SELECT value FROM json_each(?1))",
            )?
            .query_row([ids_json(skip)], |r| r.get(0))
            .optional()?
            .flatten();
        next.map(|t| parse_ts(&t))
            .transpose()
            .context("reading the next deadline")
    }
}

/// Row ids as a JSON array, one parameter for `json_each` whatever their number.
fn ids_json(ids: &[i64]) -> String {
    let ids: Vec<String> = ids.iter().map(i64::to_string).collect();
    format!("[{}]", ids.join(","))
}
