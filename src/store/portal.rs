//! The portal's own rows: the secret its tokens are signed with, and submissions waiting
//! for their address's owner to confirm them.

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use rusqlite::{params, OptionalExtension};

use super::intake::Tx;
use super::{parse_ts, ts, Store};

const SECRET_KEY: &str = "web_secret";

/// A submission to hold until its link is confirmed.
#[derive(Clone, Debug)]
pub struct NewPending<'a> {
    pub token: &'a str,
    pub form_key: &'a str,
    pub address: &'a str,
    /// The form's fields, JSON.
    pub fields: &'a str,
    pub raw: &'a [u8],
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// A submission waiting for (or past) its confirmation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pending {
    pub id: i64,
    pub form_key: String,
    pub fields: String,
    pub raw: Vec<u8>,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub confirmed_at: Option<DateTime<Utc>>,
}

/// What holding a submission did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Held {
    /// A new row: its confirmation mail is to be queued.
    New(i64),
    /// The same form was sent before (INVIA twice, a retry): nothing more to do.
    Again(i64),
}

impl Store {
    /// Whether the database answers (the portal's health check).
    pub fn ping(&self) -> Result<()> {
        self.conn
            .query_row("SELECT 1", [], |_| Ok(()))
            .context("asking the database")
    }

    /// The secret the portal signs with: `fresh` (random hex from the caller) the first
    /// time, the stored one ever after, so forms and links outlive a restart.
    pub fn web_secret(&mut self, fresh: &str) -> Result<String> {
        self.conn
            .execute(
                "INSERT OR IGNORE INTO daemon_state (key, value) VALUES (?1, ?2)",
                params![SECRET_KEY, fresh],
            )
            .context("storing the portal's secret")?;
        self.conn
            .query_row(
                "SELECT value FROM daemon_state WHERE key = ?1",
                [SECRET_KEY],
                |r| r.get(0),
            )
            .context("reading the portal's secret")
    }
}

impl Tx<'_> {
    /// Holds a submission until confirmed; one row per form key.
    pub fn hold(&self, p: &NewPending<'_>) -> Result<Held> {
        let existing: Option<i64> = self
            .tx
            .prepare_cached("SELECT id FROM web_pending WHERE form_key = ?1")?
            .query_row([p.form_key], |r| r.get(0))
            .optional()?;
        if let Some(id) = existing {
            return Ok(Held::Again(id));
        }
        self.tx
            .prepare_cached(
                "INSERT INTO web_pending (token, form_key, address, fields, raw, created_at,
                     expires_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?
            .execute(params![
                p.token,
                p.form_key,
                p.address,
                p.fields,
                p.raw,
                ts(p.created_at),
                ts(p.expires_at)
            ])
            .context("holding a form submission for confirmation")?;
        Ok(Held::New(self.tx.last_insert_rowid()))
    }

    /// The submission a confirmation link names.
    pub fn pending(&self, token: &str) -> Result<Option<Pending>> {
        let row = self
            .tx
            .prepare_cached(
                "SELECT id, form_key, fields, raw, created_at, expires_at, confirmed_at
                 FROM web_pending WHERE token = ?1",
            )?
            .query_row([token], |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get::<_, String>(4)?,
                    r.get::<_, String>(5)?,
                    r.get::<_, Option<String>>(6)?,
                ))
            })
            .optional()
            .context("looking up a confirmation link")?;
        let Some((id, form_key, fields, raw, created, expires, confirmed)) = row else {
            return Ok(None);
        };
        Ok(Some(Pending {
            id,
            form_key,
            fields,
            raw,
            created_at: parse_ts(&created)?,
            expires_at: parse_ts(&expires)?,
            confirmed_at: confirmed.as_deref().map(parse_ts).transpose()?,
        }))
    }

    /// Marks a held submission confirmed, recorded as inbound row `inbound_id`.
    pub fn confirmed(&self, id: i64, inbound_id: i64, now: DateTime<Utc>) -> Result<()> {
        self.tx
            .prepare_cached(
                "UPDATE web_pending SET confirmed_at = ?2, inbound_id = ?3 WHERE id = ?1",
            )?
            .execute(params![id, ts(now), inbound_id])
            .context("recording a confirmation")?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn at(h: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 10, h, 0, 0)
            .single()
            .expect("valid")
    }

    #[test]
    fn the_secret_is_made_once_and_kept() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut store = Store::open(&dir.path().join("t.db")).expect("store");
        assert_eq!(store.web_secret("aa").expect("secret"), "aa");
        assert_eq!(store.web_secret("bb").expect("secret"), "aa");
    }

    #[test]
    fn a_form_held_twice_is_one_row_and_confirming_it_is_recorded() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut store = Store::open(&dir.path().join("t.db")).expect("store");
        let p = NewPending {
            token: "t1",
            form_key: "k1",
            address: "mario@rossi.it",
            fields: "{}",
            raw: b"From: mario@rossi.it\r\n\r\nx",
            created_at: at(9),
            expires_at: at(9) + chrono::Duration::hours(24),
        };
        let tx = store.begin().expect("tx");
        let Held::New(id) = tx.hold(&p).expect("held") else {
            panic!("not new");
        };
        let again = NewPending { token: "t2", ..p };
        assert_eq!(tx.hold(&again).expect("held"), Held::Again(id));
        let found = tx.pending("t1").expect("lookup").expect("found");
        assert_eq!((found.id, found.confirmed_at), (id, None));
        assert_eq!(found.expires_at, at(9) + chrono::Duration::hours(24));
        assert!(tx.pending("t2").expect("lookup").is_none());
        tx.commit().expect("commit");
    }
}
