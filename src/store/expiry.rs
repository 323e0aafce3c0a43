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
