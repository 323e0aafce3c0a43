//! Tickets as the rules see them: the code that names a ticket in every subject, and the
//! ticket's state.

use std::fmt;

use chrono::{DateTime, Datelike, Utc};
use regex::Regex;
use std::sync::LazyLock;

use super::address::Address;
use super::calendar::rome;
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
    rome(at).year()
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

/// Why a move is not possible in the ticket's state now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NotNow {
    /// The ticket is closed for good.
    ClosedForGood,
    /// Closed and waiting for the customer; `#prendo` reopens it.
    Resolved { reopen_until: Option<DateTime<Utc>> },
    /// Another operator has it.
    TakenBy(String),
    /// The ticket is not closed: there is nothing to reopen or to close for good.
    NotClosed,
    /// The customer wrote after the reopen window ran out.
    WindowPassed { reopen_until: Option<DateTime<Utc>> },
    /// The deadline has not come, or is not owed any more.
    NotDue,
}

/// A line a move writes in the ticket's history; the rule that made the move adds the
/// ticket, the time and who did it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Happened {
    pub kind: EventKind,
    pub detail: String,
}

impl Happened {
    pub fn new(kind: EventKind, detail: impl Into<String>) -> Happened {
        Happened {
            kind,
            detail: detail.into(),
        }
    }
}

/// What a move returns: the history lines to record, or why it is not possible now.
pub type Moved = Result<Vec<Happened>, NotNow>;

/// The ticket's state machine: the moves that one message, or one deadline, makes on a
/// ticket, and the only code that changes a ticket's state.
///
/// Every move is judged against the status the ticket had when the message arrived, and
/// made on the status as the moves before it left it: an operator's commands are all
/// possible or the message changes nothing (SPEC rule 8), and two commands of one message
/// never make each other possible or impossible.
#[derive(Clone, Debug)]
pub struct Moves {
    found: TicketStatus,
    status: TicketStatus,
    at: DateTime<Utc>,
}

impl Moves {
    /// The moves made at `at` on a ticket found in `status`.
    pub fn new(status: &TicketStatus, at: DateTime<Utc>) -> Moves {
        Moves {
            found: status.clone(),
            status: status.clone(),
            at,
        }
    }

    /// The status the moves so far leave the ticket in.
    pub fn status(&self) -> &TicketStatus {
        &self.status
    }

    /// The new status, when the moves changed anything.
    pub fn changed(&self) -> Option<&TicketStatus> {
        (self.status != self.found).then_some(&self.status)
    }

    /// Refuses what no operator may do on a ticket closed for good, or closed and
    /// waiting for the customer unless `while_resolved`.
    fn workable(&self, while_resolved: bool) -> Result<(), NotNow> {
        match self.found.state {
            TicketState::Closed => Err(NotNow::ClosedForGood),
            TicketState::Resolved if !while_resolved => Err(NotNow::Resolved {
                reopen_until: self.found.reopen_until,
            }),
            TicketState::Open | TicketState::Taken | TicketState::Resolved => Ok(()),
        }
    }

    /// `#prendo`: `operator` takes the ticket; a closed one waiting for the customer is
    /// reopened. Refused while another operator has it.
    pub fn take(&mut self, operator: &str) -> Moved {
        self.workable(true)?;
        if let Some(other) = self.found.operator.as_deref() {
            if self.found.state == TicketState::Taken && !other.eq_ignore_ascii_case(operator) {
                return Err(NotNow::TakenBy(other.to_string()));
            }
        }
        let mut happened = vec![];
        if self.status.state == TicketState::Resolved {
            self.status.closed_at = None;
            self.status.reopen_until = None;
            happened.push(Happened::new(
                EventKind::Reopened,
                "riaperto dall'operatore",
            ));
        }
        self.put_in_charge(operator);
        happened.push(Happened::new(EventKind::Taken, ""));
        Ok(happened)
    }

    /// `#assegna`: `operator` is put in charge by a colleague.
    pub fn assign(&mut self, operator: &str) -> Moved {
        self.workable(false)?;
        self.put_in_charge(operator);
        Ok(vec![Happened::new(EventKind::Assigned, operator)])
    }

    fn put_in_charge(&mut self, operator: &str) {
        self.status.state = TicketState::Taken;
        self.status.operator = Some(operator.to_string());
        self.status.first_contact_at.get_or_insert(self.at);
    }

    /// `#secondo-livello`: the ticket goes to a second-level team, and nobody of it has
    /// taken it yet.
    pub fn escalate(&mut self, team: &str) -> Moved {
        self.workable(false)?;
        self.status.state = TicketState::Open;
        self.status.operator = None;
        self.status.level = 2;
        self.status.team = Some(team.to_string());
        self.status.first_contact_at.get_or_insert(self.at);
        Ok(vec![Happened::new(EventKind::Escalated, team)])
    }

    /// `#urgente`: the ticket is flagged as a possible extra-billed intervention.
    pub fn mark_urgent(&mut self) -> Moved {
        self.workable(true)?;
        self.status.urgent = true;
        Ok(vec![Happened::new(EventKind::Urgent, "")])
    }

    /// `#nota`: an internal note changes no state, but a ticket closed for good takes
    /// none.
    pub fn note(&mut self) -> Moved {
        self.workable(true)?;
        Ok(vec![])
    }

    /// An operator's answer to the customer; the first answer on a ticket nobody has
    /// taken is taking it.
    pub fn answer(&mut self, operator: &str) -> Moved {
        self.workable(true)?;
        let mut happened = vec![];
        if self.status.operator.is_none() {
            self.status.operator = Some(operator.to_string());
            self.status.state = TicketState::Taken;
            happened.push(Happened::new(EventKind::Taken, ""));
        }
        self.status.first_contact_at.get_or_insert(self.at);
        happened.push(Happened::new(EventKind::Answered, ""));
        Ok(happened)
    }

    /// `#chiudi`: closed by `operator`; the customer may reopen it by replying until
    /// `reopen_until`. `detail` is the history line that says until when.
    pub fn close(&mut self, operator: &str, reopen_until: DateTime<Utc>, detail: String) -> Moved {
        self.workable(false)?;
        self.status.state = TicketState::Resolved;
        self.status.closed_at = Some(self.at);
        self.status.reopen_until = Some(reopen_until);
        self.status
            .operator
            .get_or_insert_with(|| operator.to_string());
        self.status.first_contact_at.get_or_insert(self.at);
        Ok(vec![Happened::new(EventKind::Closed, detail)])
    }

    /// The customer's reply to a closed ticket reopens it while the window, judged on
    /// when the mailbox received the reply, is open; the operator in charge keeps it.
    pub fn reopen_by_customer(&mut self) -> Moved {
        let until = self.found.reopen_until;
        match self.found.state {
            TicketState::Open | TicketState::Taken => return Err(NotNow::NotClosed),
            TicketState::Resolved | TicketState::Closed => {}
        }
        if !until.is_some_and(|until| self.at < until) {
            return Err(NotNow::WindowPassed {
                reopen_until: until,
            });
        }
        self.status.state = match self.status.operator {
            Some(_) => TicketState::Taken,
            None => TicketState::Open,
        };
        self.status.closed_at = None;
        self.status.reopen_until = None;
        Ok(vec![Happened::new(EventKind::Reopened, "")])
    }

    /// The reopen window has run out: the ticket is closed for good.
    pub fn close_for_good(&mut self) -> Moved {
        match self.found.next_deadline() {
            Some(Deadline::ReopenWindow(until)) if until <= self.at => {
                self.status.state = TicketState::Closed;
                Ok(vec![Happened::new(EventKind::ClosedForGood, "")])
            }
            Some(Deadline::ReopenWindow(_)) => Err(NotNow::NotDue),
            _ => Err(NotNow::NotClosed),
        }
    }

    /// Nobody took the ticket in time: the queue is reminded, once. `detail` names who.
    pub fn remind(&mut self, detail: String) -> Moved {
        match self.found.next_deadline() {
            Some(Deadline::FirstContact(due)) if due <= self.at => {
                self.status.reminded_at = Some(self.at);
                Ok(vec![Happened::new(EventKind::Reminded, detail)])
            }
            _ => Err(NotNow::NotDue),
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

    /// The state a transition leads to, or why it is refused.
    type Expected = Result<TicketState, NotNow>;

    /// Every transition, by name, for the table below.
    const TRANSITIONS: [&str; 11] = [
        "take",
        "take by another",
        "assign",
        "escalate",
        "mark_urgent",
        "note",
        "answer",
        "close",
        "reopen_by_customer",
        "close_for_good",
        "remind",
    ];

    fn at() -> DateTime<Utc> {
        use chrono::TimeZone;
        Utc.with_ymd_and_hms(2026, 3, 10, 10, 0, 0)
            .single()
            .expect("valid")
    }

    fn hours(h: i64) -> DateTime<Utc> {
        at() + chrono::Duration::hours(h)
    }

    /// A ticket in `state`: first contact due an hour ago (in `due` hours), in charge of
    /// mario once taken, with a reopen window ending in `window` hours once closed.
    fn status(state: TicketState, due: i64, window: i64) -> TicketStatus {
        let mut st = TicketStatus::new(false, hours(due));
        st.state = state;
        if state != TicketState::Open {
            st.operator = Some("mario".into());
            st.first_contact_at = Some(hours(-2));
        }
        if matches!(state, TicketState::Resolved | TicketState::Closed) {
            st.closed_at = Some(hours(-3));
            st.reopen_until = Some(hours(window));
        }
        st
    }

    /// Makes one transition by name, at `at()`, by luigi (mario for "take").
    fn make(transition: &str, st: &TicketStatus) -> Result<TicketStatus, NotNow> {
        let mut m = Moves::new(st, at());
        let done = match transition {
            "take" => m.take("Mario"),
            "take by another" => m.take("luigi"),
            "assign" => m.assign("luigi"),
            "escalate" => m.escalate("sistemisti"),
            "mark_urgent" => m.mark_urgent(),
            "note" => m.note(),
            "answer" => m.answer("luigi"),
            "close" => m.close("luigi", hours(48), "riapribile".into()),
            "reopen_by_customer" => m.reopen_by_customer(),
            "close_for_good" => m.close_for_good(),
            "remind" => m.remind("operatori@kzweb.it".into()),
            other => panic!("no transition {other}"),
        };
        done.map(|_| m.status().clone())
    }

    #[test]
    fn every_state_and_transition_is_allowed_or_refused_with_a_reason() {
        use TicketState::*;
        let resolved_until = NotNow::Resolved {
            reopen_until: Some(hours(1)),
        };
        let resolved_passed = NotNow::Resolved {
            reopen_until: Some(hours(-1)),
        };
        let window_passed = NotNow::WindowPassed {
            reopen_until: Some(hours(-1)),
        };
        let cfg = || Err(NotNow::ClosedForGood);
        let taken_by = || Err(NotNow::TakenBy("mario".into()));
        #[rustfmt::skip]
        let table: Vec<(&str, TicketStatus, [Expected; 11])> = vec![
            // take, take by another, assign, escalate, mark_urgent, note, answer, close,
            // reopen_by_customer, close_for_good, remind
            ("open, first contact due", status(Open, -1, 0), [
                Ok(Taken), Ok(Taken), Ok(Taken), Ok(Open), Ok(Open), Ok(Open), Ok(Taken),
                Ok(Resolved), Err(NotNow::NotClosed), Err(NotNow::NotClosed), Ok(Open)]),
            ("open, first contact not yet due", status(Open, 1, 0), [
                Ok(Taken), Ok(Taken), Ok(Taken), Ok(Open), Ok(Open), Ok(Open), Ok(Taken),
                Ok(Resolved), Err(NotNow::NotClosed), Err(NotNow::NotClosed),
                Err(NotNow::NotDue)]),
            ("taken by mario", status(Taken, -1, 0), [
                Ok(Taken), taken_by(), Ok(Taken), Ok(Open), Ok(Taken), Ok(Taken), Ok(Taken),
                Ok(Resolved), Err(NotNow::NotClosed), Err(NotNow::NotClosed),
                Err(NotNow::NotDue)]),
            ("resolved, window open", status(Resolved, -1, 1), [
                Ok(Taken), Ok(Taken), Err(resolved_until.clone()), Err(resolved_until.clone()),
                Ok(Resolved), Ok(Resolved), Ok(Resolved), Err(resolved_until),
                Ok(Taken), Err(NotNow::NotDue), Err(NotNow::NotDue)]),
            ("resolved, window passed", status(Resolved, -1, -1), [
                Ok(Taken), Ok(Taken), Err(resolved_passed.clone()),
                Err(resolved_passed.clone()), Ok(Resolved), Ok(Resolved), Ok(Resolved),
                Err(resolved_passed), Err(window_passed.clone()), Ok(Closed),
                Err(NotNow::NotDue)]),
            ("closed for good", status(Closed, -1, -1), [
                cfg(), cfg(), cfg(), cfg(), cfg(), cfg(), cfg(), cfg(), Err(window_passed),
                Err(NotNow::NotClosed), Err(NotNow::NotDue)]),
            ("closed for good, reply received within the window", status(Closed, -1, 1), [
                cfg(), cfg(), cfg(), cfg(), cfg(), cfg(), cfg(), cfg(), Ok(Taken),
                Err(NotNow::NotClosed), Err(NotNow::NotDue)]),
        ];
        for state in TicketState::ALL {
            assert!(
                table.iter().any(|(_, st, _)| st.state == *state),
                "{state:?} missing"
            );
        }
        for (name, st, expected) in &table {
            for (transition, want) in TRANSITIONS.iter().zip(expected) {
                let got = make(transition, st).map(|s| s.state);
                assert_eq!(&got, want, "{transition} on a ticket {name}");
            }
        }
    }

    #[test]
    fn a_refused_move_changes_nothing_and_an_allowed_one_records_why() {
        let closed = status(TicketState::Closed, -1, -1);
        let mut m = Moves::new(&closed, at());
        assert_eq!(
            m.close("luigi", hours(1), String::new()),
            Err(NotNow::ClosedForGood)
        );
        assert_eq!(m.changed(), None);

        let resolved = status(TicketState::Resolved, -1, 1);
        let mut m = Moves::new(&resolved, at());
        let kinds: Vec<EventKind> = m
            .take("luigi")
            .expect("take")
            .iter()
            .map(|h| h.kind)
            .collect();
        assert_eq!(kinds, [EventKind::Reopened, EventKind::Taken]);
        let st = m.changed().expect("changed");
        assert_eq!(
            (st.operator.as_deref(), st.closed_at, st.reopen_until),
            (Some("luigi"), None, None)
        );
    }

    #[test]
    fn moves_of_one_message_are_judged_on_the_status_it_found() {
        // #prendo then #chiudi on a closed ticket waiting for the customer: #prendo would
        // reopen it, but #chiudi is judged on the ticket as the message found it.
        let resolved = status(TicketState::Resolved, -1, 1);
        let mut m = Moves::new(&resolved, at());
        m.take("mario").expect("take");
        assert!(matches!(
            m.close("mario", hours(1), String::new()),
            Err(NotNow::Resolved { .. })
        ));
        // Made on the status as the moves before left it: an escalation then an answer
        // takes the ticket back from the team.
        let mut m = Moves::new(&status(TicketState::Taken, -1, 0), at());
        m.escalate("sistemisti").expect("escalate");
        m.answer("luigi").expect("answer");
        let st = m.status();
        assert_eq!(
            (st.state, st.operator.as_deref(), st.level),
            (TicketState::Taken, Some("luigi"), 2)
        );
    }

    #[test]
    fn the_first_contact_is_the_first_move_of_an_operator_only() {
        let open = status(TicketState::Open, -1, 0);
        for transition in ["take", "assign", "escalate", "answer", "close"] {
            let st = make(transition, &open).expect(transition);
            assert_eq!(st.first_contact_at, Some(at()), "{transition}");
        }
        for transition in ["mark_urgent", "note", "remind"] {
            let st = make(transition, &open).expect(transition);
            assert_eq!(st.first_contact_at, None, "{transition}");
        }
    }

    #[test]
    fn state_names_round_trip() {
        for &s in TicketState::ALL {
            assert_eq!(TicketState::from_name(s.as_str()), Some(s));
        }
    }
}
