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
    /// `#attesa`: the operator in charge waits for the customer, who is reminded once and
    /// then the ticket is closed if they never answer.
    Waiting,
    /// `#preventivo`: a quote went to the customer, who is asked to accept or refuse it.
    AwaitingApproval,
    /// Closed by an operator; the customer may reopen it by replying until `reopen_until`.
    Resolved,
    /// Closed for good: the reopen window passed. A reply gets a polite refusal.
    Closed,
    /// `#unisci`: merged into another ticket, which its mail now reaches.
    Merged,
}

impl TicketState {
    /// Every state, for listings and round-trip tests.
    pub const ALL: &'static [TicketState] = &[
        TicketState::Open,
        TicketState::Taken,
        TicketState::Waiting,
        TicketState::AwaitingApproval,
        TicketState::Resolved,
        TicketState::Closed,
        TicketState::Merged,
    ];

    /// The name stored in the database and shown to administrators.
    pub fn as_str(self) -> &'static str {
        match self {
            TicketState::Open => "open",
            TicketState::Taken => "taken",
            TicketState::Waiting => "waiting",
            TicketState::AwaitingApproval => "awaiting_approval",
            TicketState::Resolved => "resolved",
            TicketState::Closed => "closed",
            TicketState::Merged => "merged",
        }
    }

    /// The inverse of `as_str`.
    pub fn from_name(name: &str) -> Option<TicketState> {
        TicketState::ALL
            .iter()
            .copied()
            .find(|s| s.as_str() == name)
    }

    /// Still being worked on: neither closed nor merged away.
    pub fn is_active(self) -> bool {
        matches!(
            self,
            TicketState::Open
                | TicketState::Taken
                | TicketState::Waiting
                | TicketState::AwaitingApproval
        )
    }
}

/// Whether the ticket is an extra intervention, billed apart (the procedure's urgent
/// interventions outside office hours).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Extra {
    /// Ordinary support under the contract.
    #[default]
    No,
    /// An urgent request outside office hours: an operator still has to decide.
    Possible,
    /// `#extra`: billed apart.
    Yes,
}

impl Extra {
    pub const ALL: [Extra; 3] = [Extra::No, Extra::Possible, Extra::Yes];

    /// The name stored in the database and shown to administrators.
    pub fn as_str(self) -> &'static str {
        match self {
            Extra::No => "no",
            Extra::Possible => "possible",
            Extra::Yes => "yes",
        }
    }

    pub fn from_name(name: &str) -> Option<Extra> {
        Extra::ALL.into_iter().find(|e| e.as_str() == name)
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
    /// Billed apart, or possibly so.
    pub extra: Extra,
    /// While waiting for the customer (or for their answer to a quote): when they are
    /// reminded, once.
    pub customer_reminder_at: Option<DateTime<Utc>>,
    /// When that reminder was sent.
    pub customer_reminded_at: Option<DateTime<Utc>>,
    /// While waiting for the customer: when the ticket is closed if they never answer,
    /// after the reminder.
    pub auto_close_at: Option<DateTime<Utc>>,
    /// The ticket this one was merged into.
    pub merged_into: Option<TicketCode>,
}

/// A time the scheduler must act at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Deadline {
    /// Remind the queue that nobody has taken the ticket.
    FirstContact(DateTime<Utc>),
    /// Close the ticket for good.
    ReopenWindow(DateTime<Utc>),
    /// Remind the customer that the desk waits for them (an answer, or a quote's).
    CustomerReminder(DateTime<Utc>),
    /// The customer never answered after the reminder: close the ticket.
    AutoClose(DateTime<Utc>),
}

impl Deadline {
    pub fn at(self) -> DateTime<Utc> {
        match self {
            Deadline::FirstContact(t)
            | Deadline::ReopenWindow(t)
            | Deadline::CustomerReminder(t)
            | Deadline::AutoClose(t) => t,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Deadline::FirstContact(_) => "first contact",
            Deadline::ReopenWindow(_) => "reopen window",
            Deadline::CustomerReminder(_) => "customer reminder",
            Deadline::AutoClose(_) => "closure for no answer",
        }
    }
}

impl TicketStatus {
    /// The status of a ticket just opened.
    pub fn new(urgent: bool, extra: Extra, first_contact_due_at: DateTime<Utc>) -> TicketStatus {
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
            extra,
            customer_reminder_at: None,
            customer_reminded_at: None,
            auto_close_at: None,
            merged_into: None,
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
            TicketState::Waiting | TicketState::AwaitingApproval
                if self.customer_reminded_at.is_none() =>
            {
                self.customer_reminder_at.map(Deadline::CustomerReminder)
            }
            TicketState::Waiting => self.auto_close_at.map(Deadline::AutoClose),
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
    /// The ticket was merged into another one, which takes its commands.
    Merged(Option<TicketCode>),
    /// No quote is waiting for the customer's answer.
    NoQuote,
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

    /// Refuses what no operator may do on a ticket closed for good or merged away, or
    /// closed and waiting for the customer unless `while_resolved`.
    fn workable(&self, while_resolved: bool) -> Result<(), NotNow> {
        match self.found.state {
            TicketState::Closed => Err(NotNow::ClosedForGood),
            TicketState::Merged => Err(NotNow::Merged(self.found.merged_into.clone())),
            TicketState::Resolved if !while_resolved => Err(NotNow::Resolved {
                reopen_until: self.found.reopen_until,
            }),
            TicketState::Open
            | TicketState::Taken
            | TicketState::Waiting
            | TicketState::AwaitingApproval
            | TicketState::Resolved => Ok(()),
        }
    }

    /// `#prendo`: `operator` takes the ticket; a closed one waiting for the customer is
    /// reopened. Refused while another operator has it.
    pub fn take(&mut self, operator: &str) -> Moved {
        self.workable(true)?;
        if let Some(other) = self.found.operator.as_deref() {
            let in_charge = matches!(
                self.found.state,
                TicketState::Taken | TicketState::Waiting | TicketState::AwaitingApproval
            );
            if in_charge && !other.eq_ignore_ascii_case(operator) {
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
        self.stop_waiting();
    }

    /// Whatever the desk waited for from the customer is not waited for any more.
    fn stop_waiting(&mut self) {
        self.status.customer_reminder_at = None;
        self.status.customer_reminded_at = None;
        self.status.auto_close_at = None;
    }

    /// Back to whoever handles it after waiting for the customer.
    fn back_to_handler(&mut self) {
        self.status.state = match self.status.operator {
            Some(_) => TicketState::Taken,
            None => TicketState::Open,
        };
        self.stop_waiting();
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
        self.stop_waiting();
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
    /// taken is taking it. A ticket waiting for the customer keeps waiting.
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
        self.stop_waiting();
        Ok(vec![Happened::new(EventKind::Closed, detail)])
    }

    /// `#tempo`: time spent is recorded on any ticket but one closed for good or merged
    /// (work is often logged right after closing). `detail` says how much.
    pub fn record_time(&mut self, detail: String) -> Moved {
        self.workable(true)?;
        Ok(vec![Happened::new(EventKind::TimeSpent, detail)])
    }

    /// `#extra` / `#non-extra`: an operator decides whether the work is billed apart.
    pub fn set_extra(&mut self, extra: Extra) -> Moved {
        self.workable(true)?;
        self.status.extra = extra;
        Ok(vec![Happened::new(EventKind::Extra, extra.as_str())])
    }

    /// `#preventivo`: the quote goes to the customer and the ticket waits for their answer;
    /// they are reminded once at `remind_at`. The operator sending it is in charge if
    /// nobody was. `detail` says the amount.
    pub fn quote(&mut self, operator: &str, remind_at: DateTime<Utc>, detail: String) -> Moved {
        self.workable(false)?;
        self.wait_for_customer(operator, TicketState::AwaitingApproval);
        self.status.customer_reminder_at = Some(remind_at);
        Ok(vec![Happened::new(EventKind::QuoteSent, detail)])
    }

    /// `#attesa`: the ticket waits for the customer, who is reminded at `remind_at`; with no
    /// answer it is closed at `close_at`.
    pub fn wait(
        &mut self,
        operator: &str,
        remind_at: DateTime<Utc>,
        close_at: DateTime<Utc>,
        detail: String,
    ) -> Moved {
        self.workable(false)?;
        self.wait_for_customer(operator, TicketState::Waiting);
        self.status.customer_reminder_at = Some(remind_at);
        self.status.auto_close_at = Some(close_at);
        Ok(vec![Happened::new(EventKind::Waiting, detail)])
    }

    fn wait_for_customer(&mut self, operator: &str, state: TicketState) {
        self.stop_waiting();
        self.status.state = state;
        self.status.team = self
            .status
            .team
            .take()
            .filter(|_| self.status.operator.is_some());
        self.status
            .operator
            .get_or_insert_with(|| operator.to_string());
        self.status.first_contact_at.get_or_insert(self.at);
    }

    /// The customer's answer to the quote in force: recorded, and a ticket that waited
    /// for it, or for any answer of theirs, goes back to the operator. Only on a ticket
    /// still being worked on.
    pub fn answer_quote(&mut self, accepted: bool, detail: String) -> Moved {
        if !self.found.state.is_active() {
            return Err(NotNow::NoQuote);
        }
        if matches!(
            self.found.state,
            TicketState::AwaitingApproval | TicketState::Waiting
        ) {
            self.back_to_handler();
        }
        let kind = if accepted {
            EventKind::QuoteAccepted
        } else {
            EventKind::QuoteRefused
        };
        Ok(vec![Happened::new(kind, detail)])
    }

    /// An ordinary reply of the customer on a ticket being worked on: one that waited for
    /// it goes back to the operator; one waiting for a quote's answer keeps waiting.
    pub fn customer_writes(&mut self) -> Moved {
        if !self.found.state.is_active() {
            return Err(NotNow::NotClosed);
        }
        let mut happened = vec![Happened::new(EventKind::CustomerReply, "")];
        if self.found.state == TicketState::Waiting {
            self.back_to_handler();
            happened.push(Happened::new(EventKind::WaitOver, ""));
        }
        Ok(happened)
    }

    /// `#unisci`: this ticket is merged into `into`, which its mail reaches from now on.
    pub fn merge_into(&mut self, into: &TicketCode) -> Moved {
        self.workable(false)?;
        self.stop_waiting();
        self.status.state = TicketState::Merged;
        self.status.merged_into = Some(into.clone());
        Ok(vec![Happened::new(EventKind::MergedInto, into.to_string())])
    }

    /// The other side of `#unisci`: this ticket takes in `from`; it must be one still
    /// being worked on.
    pub fn absorb(&mut self, from: &TicketCode) -> Moved {
        self.workable(false)?;
        Ok(vec![Happened::new(EventKind::MergedFrom, from.to_string())])
    }

    /// `#copia` / `#nocopia`: who is copied changes; no state does. Not on a ticket closed
    /// for good or merged.
    pub fn participants(&mut self, added: bool, address: &Address) -> Moved {
        self.workable(true)?;
        let kind = if added {
            EventKind::ParticipantAdded
        } else {
            EventKind::ParticipantRemoved
        };
        Ok(vec![Happened::new(kind, address.as_str())])
    }

    /// The customer's reply to a closed ticket reopens it while the window, judged on
    /// when the mailbox received the reply, is open; the operator in charge keeps it.
    pub fn reopen_by_customer(&mut self) -> Moved {
        let until = self.found.reopen_until;
        match self.found.state {
            TicketState::Resolved | TicketState::Closed => {}
            TicketState::Merged => return Err(NotNow::Merged(self.found.merged_into.clone())),
            _ => return Err(NotNow::NotClosed),
        }
        if until.is_none_or(|until| self.at >= until) {
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

    /// The customer has not answered in time: they are reminded, once. `detail` names the
    /// reminder (an answer, or a quote's); `close_at` is when a ticket waiting for them
    /// closes, which a late reminder moves later.
    pub fn remind_customer(&mut self, detail: String, close_at: Option<DateTime<Utc>>) -> Moved {
        match self.found.next_deadline() {
            Some(Deadline::CustomerReminder(due)) if due <= self.at => {
                self.status.customer_reminded_at = Some(self.at);
                self.status.auto_close_at = close_at;
                Ok(vec![Happened::new(EventKind::CustomerReminded, detail)])
            }
            _ => Err(NotNow::NotDue),
        }
    }

    /// Still no answer after the reminder: the ticket is closed as by `#chiudi`, with the
    /// reopen window `reopen_until`. `detail` says until when.
    pub fn close_unanswered(&mut self, reopen_until: DateTime<Utc>, detail: String) -> Moved {
        match self.found.next_deadline() {
            Some(Deadline::AutoClose(due)) if due <= self.at => {
                self.stop_waiting();
                self.status.state = TicketState::Resolved;
                self.status.closed_at = Some(self.at);
                self.status.reopen_until = Some(reopen_until);
                Ok(vec![Happened::new(EventKind::Closed, detail)])
            }
            _ => Err(NotNow::NotDue),
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
    /// Addresses of the contract copied on the ticket's mail besides the requester.
    pub participants: Vec<Address>,
    /// The latest quote sent, while the customer has not answered it.
    pub pending_quote: Option<PendingQuote>,
    /// The time recorded on it so far, in minutes.
    pub time_minutes: i64,
}

/// A quote waiting for the customer's ACCETTO or RIFIUTO.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PendingQuote {
    pub amount_cents: u64,
    pub sent_at: DateTime<Utc>,
    /// The operator who sent it.
    pub operator: String,
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
    TimeSpent,
    Extra,
    QuoteSent,
    QuoteAccepted,
    QuoteRefused,
    Waiting,
    /// The customer answered while the ticket waited for them.
    WaitOver,
    CustomerReminded,
    MergedInto,
    MergedFrom,
    ParticipantAdded,
    ParticipantRemoved,
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
            EventKind::TimeSpent => "time",
            EventKind::Extra => "extra",
            EventKind::QuoteSent => "quote",
            EventKind::QuoteAccepted => "quote_accepted",
            EventKind::QuoteRefused => "quote_refused",
            EventKind::Waiting => "waiting",
            EventKind::WaitOver => "wait_over",
            EventKind::CustomerReminded => "customer_reminded",
            EventKind::MergedInto => "merged_into",
            EventKind::MergedFrom => "merged_from",
            EventKind::ParticipantAdded => "participant_added",
            EventKind::ParticipantRemoved => "participant_removed",
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
    /// mario once taken, with a reopen window ending in `window` hours once closed. One
    /// waiting for the customer reminds them at `due` and closes at `window`.
    fn status(state: TicketState, due: i64, window: i64) -> TicketStatus {
        use TicketState::*;
        let mut st = TicketStatus::new(false, Extra::No, hours(due));
        st.state = state;
        if state != Open {
            st.operator = Some("mario".into());
            st.first_contact_at = Some(hours(-2));
        }
        if matches!(state, Resolved | Closed) {
            st.closed_at = Some(hours(-3));
            st.reopen_until = Some(hours(window));
        }
        if matches!(state, Waiting | AwaitingApproval) {
            st.customer_reminder_at = Some(hours(due));
        }
        if state == Waiting {
            st.auto_close_at = Some(hours(window));
        }
        if state == Merged {
            st.merged_into = Some(code(12));
        }
        st
    }

    /// A ticket waiting for a customer who was reminded, its closure due `window` hours
    /// from now.
    fn reminded(window: i64) -> TicketStatus {
        let mut st = status(TicketState::Waiting, -5, window);
        st.customer_reminded_at = Some(hours(-4));
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
            "record_time" => m.record_time("1h".into()),
            "set_extra" => m.set_extra(Extra::Yes),
            "quote" => m.quote("luigi", hours(72), "250,00 €".into()),
            "wait" => m.wait("luigi", hours(120), hours(240), String::new()),
            "answer_quote" => m.answer_quote(true, String::new()),
            "customer_writes" => m.customer_writes(),
            "merge_into" => m.merge_into(&code(12)),
            "absorb" => m.absorb(&code(7)),
            "participants" => m.participants(true, &anna()),
            "remind_customer" => m.remind_customer("attesa".into(), st.auto_close_at),
            "close_unanswered" => m.close_unanswered(hours(48), String::new()),
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
        let merged = || Err(NotNow::Merged(Some(code(12))));
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
            ("waiting for the customer", status(Waiting, -1, 1), [
                Ok(Taken), taken_by(), Ok(Taken), Ok(Open), Ok(Waiting), Ok(Waiting),
                Ok(Waiting), Ok(Resolved), Err(NotNow::NotClosed), Err(NotNow::NotClosed),
                Err(NotNow::NotDue)]),
            ("awaiting approval", status(AwaitingApproval, -1, 1), [
                Ok(Taken), taken_by(), Ok(Taken), Ok(Open), Ok(AwaitingApproval),
                Ok(AwaitingApproval), Ok(AwaitingApproval), Ok(Resolved),
                Err(NotNow::NotClosed), Err(NotNow::NotClosed), Err(NotNow::NotDue)]),
            ("merged", status(Merged, -1, 1), [
                merged(), merged(), merged(), merged(), merged(), merged(), merged(), merged(),
                merged(), Err(NotNow::NotClosed), Err(NotNow::NotDue)]),
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

    fn anna() -> Address {
        Address::parse("anna@rossi.it").expect("address")
    }

    /// The operators' tools and the customer's answers, by name, for the table below.
    const TOOLS: [&str; 11] = [
        "record_time",
        "set_extra",
        "quote",
        "wait",
        "answer_quote",
        "customer_writes",
        "merge_into",
        "absorb",
        "participants",
        "remind_customer",
        "close_unanswered",
    ];

    #[test]
    fn every_state_and_tool_is_allowed_or_refused_with_a_reason() {
        use TicketState::*;
        let resolved = || {
            Err(NotNow::Resolved {
                reopen_until: Some(hours(1)),
            })
        };
        let cfg = || Err(NotNow::ClosedForGood);
        let merged = || Err(NotNow::Merged(Some(code(12))));
        let (no_quote, not_closed, not_due) = (
            || Err(NotNow::NoQuote),
            || Err(NotNow::NotClosed),
            || Err(NotNow::NotDue),
        );
        #[rustfmt::skip]
        let table: Vec<(&str, TicketStatus, [Expected; 11])> = vec![
            // record_time, set_extra, quote, wait, answer_quote, customer_writes,
            // merge_into, absorb, participants, remind_customer, close_unanswered
            ("open", status(Open, -1, 0), [
                Ok(Open), Ok(Open), Ok(AwaitingApproval), Ok(Waiting), Ok(Open), Ok(Open),
                Ok(Merged), Ok(Open), Ok(Open), not_due(), not_due()]),
            ("taken", status(Taken, -1, 0), [
                Ok(Taken), Ok(Taken), Ok(AwaitingApproval), Ok(Waiting), Ok(Taken), Ok(Taken),
                Ok(Merged), Ok(Taken), Ok(Taken), not_due(), not_due()]),
            ("waiting, reminder due", status(Waiting, -1, 1), [
                Ok(Waiting), Ok(Waiting), Ok(AwaitingApproval), Ok(Waiting), Ok(Taken),
                Ok(Taken), Ok(Merged), Ok(Waiting), Ok(Waiting), Ok(Waiting), not_due()]),
            ("waiting, reminder not yet due", status(Waiting, 1, 2), [
                Ok(Waiting), Ok(Waiting), Ok(AwaitingApproval), Ok(Waiting), Ok(Taken),
                Ok(Taken), Ok(Merged), Ok(Waiting), Ok(Waiting), not_due(), not_due()]),
            ("waiting, reminded, closure due", reminded(-1), [
                Ok(Waiting), Ok(Waiting), Ok(AwaitingApproval), Ok(Waiting), Ok(Taken),
                Ok(Taken), Ok(Merged), Ok(Waiting), Ok(Waiting), not_due(), Ok(Resolved)]),
            ("waiting, reminded, closure not yet due", reminded(1), [
                Ok(Waiting), Ok(Waiting), Ok(AwaitingApproval), Ok(Waiting), Ok(Taken),
                Ok(Taken), Ok(Merged), Ok(Waiting), Ok(Waiting), not_due(), not_due()]),
            ("awaiting approval, reminder due", status(AwaitingApproval, -1, 1), [
                Ok(AwaitingApproval), Ok(AwaitingApproval), Ok(AwaitingApproval), Ok(Waiting),
                Ok(Taken), Ok(AwaitingApproval), Ok(Merged), Ok(AwaitingApproval),
                Ok(AwaitingApproval), Ok(AwaitingApproval), not_due()]),
            ("resolved", status(Resolved, -1, 1), [
                Ok(Resolved), Ok(Resolved), resolved(), resolved(), no_quote(), not_closed(),
                resolved(), resolved(), Ok(Resolved), not_due(), not_due()]),
            ("closed for good", status(Closed, -1, -1), [
                cfg(), cfg(), cfg(), cfg(), no_quote(), not_closed(), cfg(), cfg(), cfg(),
                not_due(), not_due()]),
            ("merged", status(Merged, -1, 1), [
                merged(), merged(), merged(), merged(), no_quote(), not_closed(), merged(),
                merged(), merged(), not_due(), not_due()]),
        ];
        for state in TicketState::ALL {
            assert!(
                table.iter().any(|(_, st, _)| st.state == *state),
                "{state:?} missing"
            );
        }
        for (name, st, expected) in &table {
            for (tool, want) in TOOLS.iter().zip(expected) {
                let got = make(tool, st).map(|s| s.state);
                assert_eq!(&got, want, "{tool} on a ticket {name}");
            }
        }
    }

    #[test]
    fn waiting_ends_when_the_customer_writes_or_an_operator_moves_the_ticket_on() {
        let waiting = status(TicketState::Waiting, 1, 2);
        for tool in ["customer_writes", "take", "assign", "escalate", "close"] {
            let st = make(tool, &waiting).expect(tool);
            assert_eq!(
                (st.customer_reminder_at, st.auto_close_at),
                (None, None),
                "{tool}"
            );
            assert!(
                !matches!(
                    st.next_deadline(),
                    Some(Deadline::CustomerReminder(_) | Deadline::AutoClose(_))
                ),
                "{tool} leaves a reminder owed"
            );
        }
        // An answer, a note or time spent do not: the customer still owes the answer.
        for tool in ["answer", "note", "record_time"] {
            let st = make(tool, &waiting).expect(tool);
            assert_eq!(
                st.next_deadline(),
                Some(Deadline::CustomerReminder(hours(1))),
                "{tool}"
            );
        }
        // Reminded once, then the closure is owed, then nothing.
        let st = make("remind_customer", &status(TicketState::Waiting, -1, 2)).expect("remind");
        assert_eq!(st.next_deadline(), Some(Deadline::AutoClose(hours(2))));
        let st = make("close_unanswered", &reminded(-1)).expect("close");
        assert_eq!(st.next_deadline(), Some(Deadline::ReopenWindow(hours(48))));
    }

    #[test]
    fn a_quote_or_a_wait_puts_the_sender_in_charge_of_a_ticket_nobody_had() {
        let open = status(TicketState::Open, 1, 0);
        for tool in ["quote", "wait"] {
            let st = make(tool, &open).expect(tool);
            assert_eq!(st.operator.as_deref(), Some("luigi"), "{tool}");
            assert_eq!(st.first_contact_at, Some(at()), "{tool}");
        }
        let taken = status(TicketState::Taken, 1, 0);
        let st = make("quote", &taken).expect("quote");
        assert_eq!(
            st.operator.as_deref(),
            Some("mario"),
            "the one in charge keeps it"
        );
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
