//! `daemon_state`: the few values the scheduled mails keep between runs (the day of the
//! last digest, the month of the last report), read and written inside the transaction
//! that queues their mail, so a crash leaves both or neither.

use anyhow::{Context, Result};
use rusqlite::{params, OptionalExtension};

use super::intake::Tx;

/// The key of the last day a digest went out (`2026-12-07`).
pub(super) const DIGEST_DAY: &str = "digest_day";
/// The key of the last month whose report was mailed (`2026-11`).
pub(super) const REPORT_MONTH: &str = "report_month";

impl Tx<'_> {
    /// The value stored under `key`, if any.
    pub(super) fn state(&self, key: &str) -> Result<Option<String>> {
        self.tx
            .prepare_cached("SELECT value FROM daemon_state WHERE key = ?1")?
            .query_row([key], |r| r.get(0))
            .optional()
            .with_context(|| format!("reading {key} from daemon_state"))
    }

    /// Stores `value` under `key`, replacing what was there.
    pub(super) fn set_state(&self, key: &str, value: &str) -> Result<()> {
        self.tx
            .prepare_cached(
                "INSERT INTO daemon_state (key, value) VALUES (?1, ?2)
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            )?
            .execute(params![key, value])
            .with_context(|| format!("recording {key} in daemon_state"))?;
        Ok(())
    }
}
