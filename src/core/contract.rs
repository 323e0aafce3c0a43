//! Support contracts as the rules see them: who may open tickets, and when.

use chrono::{DateTime, NaiveDate, Utc};

use super::address::Address;
use super::calendar::rome_day;

/// A support contract kept by the administration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Contract {
    /// Store identifier.
    pub id: i64,
    /// The customer's name, unique among contracts.
    pub customer: String,
    /// The mailboxes enabled for opening tickets on this contract.
    pub addresses: Vec<Address>,
    /// First day the contract is in force (Europe/Rome).
    pub valid_from: NaiveDate,
    /// Last day the contract is in force, inclusive (Europe/Rome).
    pub valid_until: NaiveDate,
    /// Site URLs or software names this contract covers.
    pub references: Vec<String>,
    /// Disabled by the administration (for example unpaid), whatever the dates say.
    pub disabled: bool,
}

/// Whether a contract allows opening tickets on a given day.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Standing {
    /// Ordered best first, so the best standing among several contracts is the minimum.
    InForce,
    NotYetValid,
    Expired,
    Disabled,
}

impl Contract {
    /// The standing on the day (in Europe/Rome) that contains `at`.
    pub fn standing(&self, at: DateTime<Utc>) -> Standing {
        let day = rome_day(at);
        if self.disabled {
            Standing::Disabled
        } else if day < self.valid_from {
            Standing::NotYetValid
        } else if day > self.valid_until {
            Standing::Expired
        } else {
            Standing::InForce
        }
    }

    /// True when the address is enabled on this contract.
    pub fn enables(&self, address: &Address) -> bool {
        self.addresses.contains(address)
    }
}

/// The contract `address` makes a request on at `at`. An address may sit on several
/// contracts (an expired one and its renewal): the best standing wins, and among equals
/// the first (lowest id) one.
pub fn contract_for<'c>(
    contracts: &'c [Contract],
    address: &Address,
    at: DateTime<Utc>,
) -> Option<&'c Contract> {
    contracts
        .iter()
        .filter(|c| c.enables(address))
        .min_by_key(|c| (c.standing(at), c.id))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use chrono_tz::Europe::Rome;

    fn contract(from: (i32, u32, u32), until: (i32, u32, u32)) -> Contract {
        Contract {
            id: 1,
            customer: "Rossi".into(),
            addresses: vec![Address::parse("mario@example.it").expect("valid")],
            valid_from: NaiveDate::from_ymd_opt(from.0, from.1, from.2).expect("date"),
            valid_until: NaiveDate::from_ymd_opt(until.0, until.1, until.2).expect("date"),
            references: vec![],
            disabled: false,
        }
    }

    fn rome(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
        Rome.with_ymd_and_hms(y, m, d, h, min, 0)
            .single()
            .expect("unambiguous")
            .with_timezone(&Utc)
    }

    #[test]
    fn contract_is_in_force_on_its_last_day_until_midnight_in_rome() {
        let c = contract((2026, 1, 1), (2026, 12, 31));
        assert_eq!(c.standing(rome(2026, 12, 31, 23, 59)), Standing::InForce);
        assert_eq!(c.standing(rome(2027, 1, 1, 0, 0)), Standing::Expired);
    }

    #[test]
    fn contract_is_not_yet_valid_the_day_before_it_starts() {
        let c = contract((2026, 6, 1), (2027, 5, 31));
        assert_eq!(c.standing(rome(2026, 5, 31, 23, 59)), Standing::NotYetValid);
        assert_eq!(c.standing(rome(2026, 6, 1, 0, 0)), Standing::InForce);
    }

    #[test]
    fn rome_day_differs_from_utc_day_just_after_midnight() {
        // 23:30 UTC on 31 Dec is already 1 Jan in Rome.
        let at = Utc
            .with_ymd_and_hms(2026, 12, 31, 23, 30, 0)
            .single()
            .expect("valid");
        assert_eq!(
            rome_day(at),
            NaiveDate::from_ymd_opt(2027, 1, 1).expect("date")
        );
    }

    #[test]
    fn disabled_contract_is_disabled_whatever_its_dates() {
        let mut c = contract((2026, 1, 1), (2026, 12, 31));
        c.disabled = true;
        assert_eq!(c.standing(rome(2026, 3, 10, 10, 0)), Standing::Disabled);
    }
}
