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

/// Where a ticket is in its life. Level, operator and the urgent flag are kept beside the
/// state, in `TicketStatus`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TicketState {
    /// Opened and acknowledged; nobody has taken it yet (or it was escalated and nobody
    /// of the team has taken it yet).
    Open,
    /// An operator is in charge.
    Taken,
    /// Closed by an operator; the customer may reopen it by replying until `reopen_until`.
    Resolved,
    /// Closed for good: the reopen window passed. A reply gets a polite refusal.
    Closed,
}

impl TicketState {
    /// Every state, for listings and round-trip tests.
    pub const ALL: &'static [TicketState] = &[
        TicketState::Open,
        TicketState::Taken,
        TicketState::Resolved,
        TicketState::Closed,
    ];

    /// The name stored in the database and shown to administrators.
    pub fn as_str(self) -> &'static str {
        match self {
            TicketState::Open => "open",
            TicketState::Taken => "taken",
            TicketState::Resolved => "resolved",
            TicketState::Closed => "closed",
        }
    }

    /// The inverse of `as_str`.
    pub fn from_name(name: &str) -> Option<TicketState> {
        TicketState::ALL
            .iter()
            .copied()
            .find(|s| s.as_str() == name)
    }
}

/// The changing part of a ticket: what `decide` reads and writes back whole.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TicketStatus {
    pub state: TicketState,
    /// The name of the operator in charge.
    pub operator: Option<String>,
    /// 1, or 2 once escalated.
    pub level: u8,
    /// The second-level team it was escalated to.
    pub team: Option<String>,
    /// Urgent: a possible extra-billed intervention.
    pub urgent: bool,
    /// When an operator should have taken it, in office time.
    pub first_contact_due_at: Option<DateTime<Utc>>,
    /// When an operator first took, answered or closed it.
    pub first_contact_at: Option<DateTime<Utc>>,
    /// When the queue was reminded that nobody had taken it (once only).
    pub reminded_at: Option<DateTime<Utc>>,
    pub closed_at: Option<DateTime<Utc>>,
    /// The end of the reopen window; kept after the final closure so that a reply the
    /// mailbox received in time still reopens the ticket even if handled late.
    pub reopen_until: Option<DateTime<Utc>>,
}

/// A time the scheduler must act at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Deadline {
    /// Remind the queue that nobody has taken the ticket.
    FirstContact(DateTime<Utc>),
    /// Close the ticket for good.
    ReopenWindow(DateTime<Utc>),
}

impl Deadline {
    pub fn at(self) -> DateTime<Utc> {
        match self {
            Deadline::FirstContact(t) | Deadline::ReopenWindow(t) => t,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Deadline::FirstContact(_) => "first contact",
            Deadline::ReopenWindow(_) => "reopen window",
        }
    }
}

impl TicketStatus {
    /// The status of a ticket just opened.
    pub fn new(urgent: bool, first_contact_due_at: DateTime<Utc>) -> TicketStatus {
        TicketStatus {
            state: TicketState::Open,
            operator: None,
            level: 1,
            team: None,
            urgent,
            first_contact_due_at: Some(first_contact_due_at),
            first_contact_at: None,
            reminded_at: None,
            closed_at: None,
            reopen_until: None,
        }
    }

    /// The next thing the scheduler owes this ticket, if any. The store indexes it so the
    /// scheduler never scans every ticket.
    pub fn next_deadline(&self) -> Option<Deadline> {
        match self.state {
            TicketState::Open if self.first_contact_at.is_none() && self.reminded_at.is_none() => {
                self.first_contact_due_at.map(Deadline::FirstContact)
            }
            TicketState::Resolved => self.reopen_until.map(Deadline::ReopenWindow),
            _ => None,
        }
    }
}

/// One message of a ticket's thread, as escalations and threading headers need it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ThreadEntry {
    pub at: DateTime<Utc>,
    /// True for mail the daemon sent, false for mail it received.
    pub outgoing: bool,
    /// The inbound outcome (`ticket`, `update`, `command` …) or the outgoing mail kind.
    pub kind: String,
    /// The sender (inbound) or the recipients (outgoing).
    pub who: String,
    pub message_id: Option<String>,
    pub text: String,
}

/// An existing ticket a message refers to, with its contract and thread.
#[derive(Clone, Debug)]
pub struct TicketFacts {
    pub id: i64,
    pub code: TicketCode,
    pub requester: Address,
    pub contract: Contract,
    pub summary: String,
    pub opened_at: DateTime<Utc>,
    pub status: TicketStatus,
    /// Oldest first.
    pub thread: Vec<ThreadEntry>,
}

/// What happened to a ticket, for its history.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventKind {
    Opened,
    Taken,
    Assigned,
    Escalated,
    Urgent,
    Note,
    Answered,
    CustomerReply,
    Closed,
    Reopened,
    ReopenRefused,
    ClosedForGood,
    Reminded,
    OnCallNotified,
    /// A mail of the ticket could not be delivered (a bounce came back).
    Bounced,
}

impl EventKind {
    pub fn name(self) -> &'static str {
        match self {
            EventKind::Opened => "opened",
            EventKind::Taken => "taken",
            EventKind::Assigned => "assigned",
            EventKind::Escalated => "escalated",
            EventKind::Urgent => "urgent",
            EventKind::Note => "note",
            EventKind::Answered => "answered",
            EventKind::CustomerReply => "customer_reply",
            EventKind::Closed => "closed",
            EventKind::Reopened => "reopened",
            EventKind::ReopenRefused => "reopen_refused",
            EventKind::ClosedForGood => "closed_for_good",
            EventKind::Reminded => "reminded",
            EventKind::OnCallNotified => "oncall_notified",
            EventKind::Bounced => "bounced",
        }
    }
}

/// A line of a ticket's history: who did what, when.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    pub code: TicketCode,
    pub at: DateTime<Utc>,
    /// An operator's name, the customer's address, or `sistema` for the scheduler.
    pub actor: String,
    pub kind: EventKind,
    pub detail: String,
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
