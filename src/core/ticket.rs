//! Tickets as the rules see them: the code that names a ticket in every subject, and the
//! ticket's state.

use std::fmt;

use chrono::{DateTime, Datelike, Utc};
use chrono_tz::Europe::Rome;
use regex::Regex;
use std::sync::LazyLock;

use super::address::Address;
use super::contract::Contract;

/// A ticket code such as `KZ-2026-00042`: a prefix from the config, the year the request
/// arrived (Europe/Rome) and a number counted per year. Never reused.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TicketCode {
    pub prefix: String,
    pub year: i32,
    pub number: u32,
}

impl fmt::Display for TicketCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}-{:05}", self.prefix, self.year, self.number)
    }
}

impl TicketCode {
    /// Parses exactly a code (`KZ-2026-00042`, any case) with the given prefix.
    pub fn parse(text: &str, prefix: &str) -> Option<TicketCode> {
        let text = text.trim();
        let found = Self::find(text, prefix)?;
        (found.to_string().len() == text.len()).then_some(found)
    }

    /// Finds the first code with the given prefix anywhere in a subject
    /// (`Re: [KZ-2026-00042] Richiesta presa in carico`), brackets optional.
    pub fn find(subject: &str, prefix: &str) -> Option<TicketCode> {
        CODE.captures_iter(subject).find_map(|caps| {
            if !caps.get(1)?.as_str().eq_ignore_ascii_case(prefix) {
                return None;
            }
            Some(TicketCode {
                prefix: prefix.to_string(),
                year: caps.get(2)?.as_str().parse().ok()?,
                number: caps.get(3)?.as_str().parse().ok()?,
            })
        })
    }
}

/// Any code-shaped word; the prefix is compared afterwards so the pattern is compiled
/// once, not once per message.
static CODE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\b([A-Za-z][A-Za-z0-9]{0,9})-(\d{4})-(\d{5,9})\b").expect("static regex")
});

/// The year a ticket opened at `at` is numbered in (Europe/Rome).
pub fn code_year(at: DateTime<Utc>) -> i32 {
    at.with_timezone(&Rome).year()
}

/// Where a ticket is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TicketState {
    /// Opened and acknowledged; nobody has taken it yet.
    Open,
}

impl TicketState {
    /// Every state, for listings and round-trip tests.
    pub const ALL: &'static [TicketState] = &[TicketState::Open];

    /// The name stored in the database and shown to administrators.
    pub fn as_str(self) -> &'static str {
        match self {
            TicketState::Open => "open",
        }
    }

    /// The inverse of `as_str`.
    pub fn from_name(name: &str) -> Option<TicketState> {
        match name {
            "open" => Some(TicketState::Open),
            _ => None,
        }
    }
}

/// An existing ticket a message refers to, with its contract.
#[derive(Clone, Debug)]
pub struct TicketFacts {
    pub id: i64,
    pub code: TicketCode,
    pub state: TicketState,
    pub requester: Address,
    pub contract: Contract,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(n: u32) -> TicketCode {
        TicketCode {
            prefix: "KZ".into(),
            year: 2026,
            number: n,
        }
    }

    #[test]
    fn code_is_zero_padded_to_five_digits() {
        assert_eq!(code(42).to_string(), "KZ-2026-00042");
        assert_eq!(code(123456).to_string(), "KZ-2026-123456");
    }

    #[test]
    fn code_is_found_in_a_reply_subject_with_or_without_brackets() {
        assert_eq!(
            TicketCode::find("Re: [KZ-2026-00042] Presa in carico", "KZ"),
            Some(code(42))
        );
        assert_eq!(
            TicketCode::find("R: kz-2026-00042 grazie", "KZ"),
            Some(code(42))
        );
        assert_eq!(
            TicketCode::find("RE: AW: [KZ-2026-00042]", "KZ"),
            Some(code(42))
        );
    }

    #[test]
    fn code_with_another_prefix_or_too_few_digits_is_not_found() {
        assert_eq!(TicketCode::find("[XY-2026-00042]", "KZ"), None);
        assert_eq!(TicketCode::find("[KZ-2026-42]", "KZ"), None);
        assert_eq!(TicketCode::find("ABKZ-2026-00042", "KZ"), None);
    }

    #[test]
    fn parse_accepts_only_a_whole_code() {
        assert_eq!(TicketCode::parse(" KZ-2026-00042 ", "KZ"), Some(code(42)));
        assert_eq!(TicketCode::parse("KZ-2026-00042x", "KZ"), None);
        assert_eq!(TicketCode::parse("[KZ-2026-00042]", "KZ"), None);
    }

    #[test]
    fn code_year_is_the_year_in_rome() {
        use chrono::TimeZone;
        let new_year_in_rome = Utc
            .with_ymd_and_hms(2026, 12, 31, 23, 30, 0)
            .single()
            .expect("valid");
        assert_eq!(code_year(new_year_in_rome), 2027);
    }

    #[test]
    fn state_names_round_trip() {
        for &s in TicketState::ALL {
            assert_eq!(TicketState::from_name(s.as_str()), Some(s));
        }
    }
}
