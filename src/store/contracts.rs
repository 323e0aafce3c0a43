//! Contracts as the administration keeps them: add, import (all or nothing), disable,
//! list. Operators never change contracts; these calls come from the command line.

use anyhow::{bail, Context, Result};
use chrono::{DateTime, NaiveDate, Utc};
use rusqlite::{params, OptionalExtension};

use crate::core::address::Address;
use crate::core::contract::Contract;

use super::intake::load_contract;
use super::{ts, Store};

/// A contract as the administration writes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContractInput {
    pub customer: String,
    pub addresses: Vec<Address>,
    pub valid_from: NaiveDate,
    pub valid_until: NaiveDate,
    pub references: Vec<String>,
}

/// What an import changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ImportSummary {
    pub added: usize,
    pub updated: usize,
}

impl Store {
    /// Adds or replaces (by customer name) every contract, in one transaction: either the
    /// whole file is taken or nothing is. The disabled flag of an existing contract is
    /// kept, since the CSV does not carry it.
    pub fn import_contracts(
        &mut self,
        rows: &[ContractInput],
        now: DateTime<Utc>,
    ) -> Result<ImportSummary> {
        let tx = self.conn.transaction()?;
        let mut summary = ImportSummary {
            added: 0,
            updated: 0,
        };
        for row in rows {
            if upsert(&tx, row, now)? {
                summary.added += 1;
            } else {
                summary.updated += 1;
            }
        }
        tx.commit().context("committing the contract import")?;
        Ok(summary)
    }

    /// Adds one contract; refuses a customer name that exists already.
    pub fn add_contract(&mut self, row: &ContractInput, now: DateTime<Utc>) -> Result<()> {
        let tx = self.conn.transaction()?;
        let exists: Option<i64> = tx
            .query_row(
                "SELECT id FROM contracts WHERE customer = ?1",
                [&row.customer],
                |r| r.get(0),
            )
            .optional()?;
        if exists.is_some() {
            bail!(
                "a contract for customer {:?} exists already (use import to replace it)",
                row.customer
            );
        }
        upsert(&tx, row, now)?;
        tx.commit()?;
        Ok(())
    }

    /// Disables (or re-enables) a contract by customer name; false when there is none.
    pub fn set_contract_disabled(
        &mut self,
        customer: &str,
        disabled: bool,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let n = self.conn.execute(
            "UPDATE contracts SET disabled = ?2, updated_at = ?3 WHERE customer = ?1",
            params![customer, disabled, ts(now)],
        )?;
        Ok(n > 0)
    }

    /// Every contract, by customer name.
    pub fn contracts(&self) -> Result<Vec<Contract>> {
        let ids: Vec<i64> = self
            .conn
            .prepare("SELECT id FROM contracts ORDER BY customer")?
            .query_map([], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        ids.into_iter()
            .map(|id| load_contract(&self.conn, id))
            .collect()
    }
}

/// Inserts or replaces one contract; true when it was new.
fn upsert(tx: &rusqlite::Transaction<'_>, row: &ContractInput, now: DateTime<Utc>) -> Result<bool> {
    let existing: Option<i64> = tx
        .query_row(
            "SELECT id FROM contracts WHERE customer = ?1",
            [&row.customer],
            |r| r.get(0),
        )
        .optional()?;
    let from = row.valid_from.format("%Y-%m-%d").to_string();
    let until = row.valid_until.format("%Y-%m-%d").to_string();
    let id = match existing {
        Some(id) => {
            tx.execute(
                "UPDATE contracts SET valid_from = ?2, valid_until = ?3, updated_at = ?4 WHERE id = ?1",
                params![id, from, until, ts(now)],
            )?;
            tx.execute(
                "DELETE FROM contract_addresses WHERE contract_id = ?1",
                [id],
            )?;
            tx.execute(
                "DELETE FROM contract_references WHERE contract_id = ?1",
                [id],
            )?;
            id
        }
        None => {
            tx.execute(
                "INSERT INTO contracts (customer, valid_from, valid_until, created_at, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?4)",
                params![row.customer, from, until, ts(now)],
            )?;
            tx.last_insert_rowid()
        }
    };
    for a in &row.addresses {
        tx.execute(
            "INSERT OR IGNORE INTO contract_addresses (contract_id, address) VALUES (?1, ?2)",
            params![id, a.as_str()],
        )?;
    }
    for (i, r) in row.references.iter().enumerate() {
        tx.execute(
            "INSERT INTO contract_references (contract_id, position, reference) VALUES (?1, ?2, ?3)",
            params![id, i as i64, r],
        )?;
    }
    Ok(existing.is_none())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::test_support::temp_store;
    use chrono::TimeZone;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 10, 9, 0, 0)
            .single()
            .expect("valid")
    }

    fn input(customer: &str, addresses: &[&str]) -> ContractInput {
        ContractInput {
            customer: customer.into(),
            addresses: addresses
                .iter()
                .map(|a| Address::parse(a).expect("valid"))
                .collect(),
            valid_from: NaiveDate::from_ymd_opt(2026, 1, 1).expect("date"),
            valid_until: NaiveDate::from_ymd_opt(2026, 12, 31).expect("date"),
            references: vec!["www.rossi.it".into()],
        }
    }

    #[test]
    fn import_adds_then_replaces_by_customer_keeping_the_disabled_flag() {
        let (_d, mut store) = temp_store();
        let s = store
            .import_contracts(
                &[
                    input("Rossi", &["a@rossi.it"]),
                    input("Verdi", &["v@verdi.it"]),
                ],
                now(),
            )
            .expect("import");
        assert_eq!(
            s,
            ImportSummary {
                added: 2,
                updated: 0
            }
        );
        assert!(store
            .set_contract_disabled("Rossi", true, now())
            .expect("disable"));
        let s = store
            .import_contracts(&[input("Rossi", &["b@rossi.it"])], now())
            .expect("import");
        assert_eq!(
            s,
            ImportSummary {
                added: 0,
                updated: 1
            }
        );
        let all = store.contracts().expect("list");
        let rossi = all.iter().find(|c| c.customer == "Rossi").expect("rossi");
        assert_eq!(
            rossi.addresses,
            vec![Address::parse("b@rossi.it").expect("valid")]
        );
        assert!(rossi.disabled);
        assert_eq!(rossi.references, vec!["www.rossi.it".to_string()]);
    }

    #[test]
    fn adding_an_existing_customer_is_refused() {
        let (_d, mut store) = temp_store();
        store
            .add_contract(&input("Rossi", &["a@rossi.it"]), now())
            .expect("add");
        let err = store
            .add_contract(&input("Rossi", &["a@rossi.it"]), now())
            .expect_err("dup");
        assert!(err.to_string().contains("exists already"));
    }

    #[test]
    fn disabling_an_unknown_customer_says_so() {
        let (_d, mut store) = temp_store();
        assert!(!store
            .set_contract_disabled("Nessuno", true, now())
            .expect("ok"));
    }
}
