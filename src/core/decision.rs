//! The core's vocabulary: what the rules are given (settings, facts), what they decide
//! (outcomes and their reasons) and what they ask the shell to do (effects, outgoing
//! mail). Every rule file imports from here and this file imports none of them, so the
//! rules depend on one shared language and never on each other.

use chrono::{DateTime, Duration, NaiveDate, Utc};

use super::address::{Address, SubjectProblem};
use super::calendar::Calendar;
use super::commands::CommandError;
use super::contract::Contract;
use super::inbound::{Attachment, Inbound};
use super::texts::{Text, Texts, Trouble};
use super::ticket::{Event, NotNow, TicketCode, TicketFacts, TicketStatus};

/// Who the daemon itself is in a ticket's history (the scheduler, the on-call alert, a
/// bounce).
pub const SYSTEM: &str = "sistema";

/// Most Message-IDs put in `References`: the first and the latest ones.
const MAX_REFERENCES: usize = 10;

/// An operator from the config.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Operator {
    /// The short name used by `#assegna NAME` and shown in the history.
    pub name: String,
    /// The first address is where the daemon writes to them.
    pub addresses: Vec<Address>,
    /// 1 (first level) or 2 (second level).
    pub level: u8,
    /// `primo-livello`, `programmatori`, `sistemisti` …
    pub team: String,
}

impl Operator {
    /// Where mail for this operator goes.
    pub fn address(&self) -> Option<&Address> {
        self.addresses.first()
    }
}

/// What the rules need from the configuration.
#[derive(Clone, Debug)]
pub struct Settings {
    /// The support address: replies come from it, and mail from it is ours.
    pub support_address: Address,
    /// Every address the daemon sends as (the support address included).
    pub own_addresses: Vec<Address>,
    pub code_prefix: String,
    pub max_message_bytes: u64,
    /// A colleague on the same contract may write on the requester's behalf.
    pub allow_colleagues: bool,
    /// The name that signs every mail.
    pub signature: String,
    pub operators: Vec<Operator>,
    /// Where new-ticket notices and reminders go; when empty, to every first-level operator.
    pub queue: Vec<Address>,
    /// Who is told at once of an urgent request outside office hours.
    pub oncall: Option<Address>,
    /// The authserv-ids of `Authentication-Results` headers written by our own servers.
    pub trusted_authserv_ids: Vec<String>,
    pub calendar: Calendar,
    /// Office time within which an operator should take a new ticket.
    pub first_contact: Duration,
    /// How long a customer may reopen a closed ticket by replying, unless the operator says.
    pub reopen_window: Duration,
    /// At most this many mails an hour to one customer address; the rest are held.
    pub max_replies_per_hour: u32,
    /// `#attesa` without a number: office days before the customer is reminded, and as
    /// many again before the ticket is closed.
    pub waiting_office_days: u32,
    /// Office days before a customer who has not answered a quote is reminded, once.
    pub quote_reminder_office_days: u32,
    /// The texts in force: the built-ins, with the agency's files in their place.
    pub texts: Texts,
    /// Where the monthly report goes (`[report] to`); none sends no report.
    pub report_to: Option<Address>,
}

impl Settings {
    /// The operator one of whose addresses this is.
    pub fn operator_by_address(&self, address: &Address) -> Option<&Operator> {
        self.operators
            .iter()
            .find(|o| o.addresses.contains(address))
    }

    /// The first-level queue: `[queue] address`, or else every first-level operator.
    pub fn queue_addresses(&self) -> Vec<Address> {
        if !self.queue.is_empty() {
            return self.queue.clone();
        }
        self.operators
            .iter()
            .filter(|o| o.level == 1)
            .filter_map(|o| o.addresses.first().cloned())
            .collect()
    }

    /// The operator called `name` (or with that address), without regard to case.
    pub fn operator_named(&self, name: &str) -> Option<&Operator> {
        let name = name.trim();
        self.operators.iter().find(|o| {
            o.name.eq_ignore_ascii_case(name)
                || o.addresses
                    .iter()
                    .any(|a| a.as_str().eq_ignore_ascii_case(name))
        })
    }

    /// The members of a second-level team.
    pub fn team(&self, team: &str) -> Vec<&Operator> {
        self.operators
            .iter()
            .filter(|o| o.level == 2 && o.team.eq_ignore_ascii_case(team.trim()))
            .collect()
    }

    /// Every second-level team, for help texts.
    pub fn teams(&self) -> Vec<&str> {
        let mut teams: Vec<&str> = self
            .operators
            .iter()
            .filter(|o| o.level == 2)
            .map(|o| o.team.as_str())
            .collect();
        teams.sort_unstable();
        teams.dedup();
        teams
    }

    /// Who handles a ticket now: the operator in charge, else the team it was escalated
    /// to, else the first-level queue.
    pub fn handlers(&self, ticket: &TicketFacts) -> Vec<Address> {
        let st = &ticket.status;
        if let Some(a) = st
            .operator
            .as_deref()
            .and_then(|n| self.operator_named(n))
            .and_then(Operator::address)
        {
            return vec![a.clone()];
        }
        if let Some(team) = &st.team {
            let members: Vec<Address> = self
                .team(team)
                .iter()
                .filter_map(|o| o.address().cloned())
                .collect();
            if !members.is_empty() {
                return members;
            }
        }
        self.queue_addresses()
    }
}

/// What the shell must look up before calling `decide`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Wanted {
    /// Contracts listing any of these addresses.
    pub addresses: Vec<Address>,
    /// The ticket with this code …
    pub code: Option<TicketCode>,
    /// … or else the ticket one of these Message-IDs belongs to.
    pub refs: Vec<String>,
    /// The ticket an operator's `#unisci` names.
    pub merge_into: Option<TicketCode>,
}

/// The stored facts a decision depends on.
#[derive(Clone, Debug)]
pub struct Facts {
    /// Every contract listing the sender or the subject address (any standing).
    pub contracts: Vec<Contract>,
    /// The ticket the message refers to, if any (the one it was merged into, when it was).
    pub ticket: Option<TicketFacts>,
    /// The ticket `Wanted::merge_into` names, when it exists.
    pub merge_target: Option<TicketFacts>,
    /// The code a new ticket would get.
    pub next_code: TicketCode,
    /// For the reply rate limit: mails queued in the last hour, held ones included, to
    /// each customer address in play (those of `Wanted::addresses` and the ticket's
    /// requester). Only the addresses listed here are limited.
    pub replies_last_hour: Vec<(Address, u32)>,
}

/// The one outcome of a message; it decides the IMAP folder.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    NewTicket(TicketCode),
    /// A customer's reply on an open ticket, recorded and forwarded.
    TicketUpdate(TicketCode),
    /// An operator's commands or answer, applied.
    Command(TicketCode),
    /// A customer's reply within the reopen window.
    Reopened(TicketCode),
    /// A customer's reply after the ticket was closed for good.
    ReopenRefused(TicketCode),
    /// An operator's message that could not be applied; the operator is told why.
    CommandRefused(Refusal),
    Rejected(Rejection),
    Quarantined(Quarantine),
    /// A report that a mail of this ticket was not delivered: recorded, handlers told.
    Bounced(TicketCode),
}

/// Why a request was refused with a reply, with what the reply must say about it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Rejection {
    SubjectNotAddress(SubjectProblem),
    AddressNotEnabled {
        requester: Address,
    },
    SenderNotEnabled {
        sender: Address,
        requester: Address,
    },
    ContractExpired {
        requester: Address,
        until: NaiveDate,
    },
    ContractNotYetValid {
        requester: Address,
        from: NaiveDate,
    },
    ContractDisabled {
        requester: Address,
    },
    MissingReference,
    EmptyRequest,
    TooLarge {
        size: u64,
        limit: u64,
    },
    UnknownTicket {
        code: TicketCode,
    },
}

/// Why an operator's message changed nothing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// No ticket code in the subject and no reference to a ticket's mail.
    NoTicket,
    /// The code in the subject names no ticket.
    UnknownTicket(TicketCode),
    TooLarge,
    /// The commands could not be read.
    BadCommand(CommandError),
    /// The command is not possible in the ticket's state.
    NotNow {
        command: &'static str,
        why: NotNow,
    },
    UnknownOperator(String),
    UnknownTeam(String),
    /// Neither commands nor text.
    Empty,
    /// `#unisci` names a ticket that does not exist (the code as written).
    MergeUnknown(String),
    /// `#unisci` names the ticket itself.
    MergeIntoItself,
    /// `#unisci` names a ticket of another contract.
    MergeAcrossContracts(TicketCode),
    /// `#copia` names an address that is not on the ticket's contract.
    NotOfContract(Address),
    /// `#nocopia` names an address that is not copied.
    NotCopied(Address),
    /// `#tempo` would leave the ticket's total time below zero (the total, in minutes).
    TimeBelowZero(i64),
}

/// Why a message was set aside without any reply (no backscatter, no loops).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Quarantine {
    NoSender,
    OwnAddress,
    Loop,
    Automated,
    MailingList,
    UnknownSender,
    Malformed,
}

/// The IMAP folder a message goes to once handled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Folder {
    Processed,
    Rejected,
    Quarantine,
}

impl Rejection {
    /// Stable name for the database, logs and fixtures.
    pub fn name(&self) -> &'static str {
        match self {
            Rejection::SubjectNotAddress(_) => "subject_not_address",
            Rejection::AddressNotEnabled { .. } => "address_not_enabled",
            Rejection::SenderNotEnabled { .. } => "sender_not_enabled",
            Rejection::ContractExpired { .. } => "contract_expired",
            Rejection::ContractNotYetValid { .. } => "contract_not_yet_valid",
            Rejection::ContractDisabled { .. } => "contract_disabled",
            Rejection::MissingReference => "missing_reference",
            Rejection::EmptyRequest => "empty_request",
            Rejection::TooLarge { .. } => "too_large",
            Rejection::UnknownTicket { .. } => "unknown_ticket",
        }
    }
}

impl Refusal {
    /// Stable name for the database and logs.
    pub fn name(&self) -> &'static str {
        match self {
            Refusal::NoTicket => "no_ticket",
            Refusal::UnknownTicket(_) => "unknown_ticket",
            Refusal::TooLarge => "too_large",
            Refusal::BadCommand(_) => "bad_command",
            Refusal::NotNow {
                why: NotNow::ClosedForGood,
                ..
            } => "ticket_closed",
            Refusal::NotNow {
                why: NotNow::Resolved { .. },
                ..
            } => "ticket_resolved",
            Refusal::NotNow {
                why: NotNow::TakenBy(_),
                ..
            } => "taken_by_another",
            Refusal::NotNow { .. } => "not_now",
            Refusal::UnknownOperator(_) => "unknown_operator",
            Refusal::UnknownTeam(_) => "unknown_team",
            Refusal::Empty => "empty",
            Refusal::MergeUnknown(_) => "merge_unknown",
            Refusal::MergeIntoItself => "merge_itself",
            Refusal::MergeAcrossContracts(_) => "merge_across_contracts",
            Refusal::NotOfContract(_) => "not_of_contract",
            Refusal::NotCopied(_) => "not_copied",
            Refusal::TimeBelowZero(_) => "time_below_zero",
        }
    }
}

impl Quarantine {
    /// Stable name for the database, logs and fixtures.
    pub fn name(self) -> &'static str {
        match self {
            Quarantine::NoSender => "no_sender",
            Quarantine::OwnAddress => "own_address",
            Quarantine::Loop => "loop",
            Quarantine::Automated => "automated",
            Quarantine::MailingList => "mailing_list",
            Quarantine::UnknownSender => "unknown_sender",
            Quarantine::Malformed => "malformed",
        }
    }
}

impl Outcome {
    pub fn folder(&self) -> Folder {
        match self {
            Outcome::NewTicket(_)
            | Outcome::TicketUpdate(_)
            | Outcome::Command(_)
            | Outcome::Reopened(_)
            | Outcome::Bounced(_) => Folder::Processed,
            Outcome::ReopenRefused(_) | Outcome::CommandRefused(_) | Outcome::Rejected(_) => {
                Folder::Rejected
            }
            Outcome::Quarantined(_) => Folder::Quarantine,
        }
    }

    /// The stored name of the outcome.
    pub fn kind(&self) -> &'static str {
        match self {
            Outcome::NewTicket(_) => "ticket",
            Outcome::TicketUpdate(_) => "update",
            Outcome::Command(_) => "command",
            Outcome::Reopened(_) => "reopened",
            Outcome::ReopenRefused(_) => "reopen_refused",
            Outcome::CommandRefused(_) => "command_refused",
            Outcome::Rejected(_) => "rejected",
            Outcome::Quarantined(_) => "quarantine",
            Outcome::Bounced(_) => "bounce",
        }
    }

    /// The reason name for refusals, rejections and quarantine, empty otherwise.
    pub fn reason(&self) -> &'static str {
        match self {
            Outcome::CommandRefused(r) => r.name(),
            Outcome::Rejected(r) => r.name(),
            Outcome::Quarantined(q) => q.name(),
            _ => "",
        }
    }

    /// The ticket code, when the outcome is about a ticket.
    pub fn code(&self) -> Option<&TicketCode> {
        match self {
            Outcome::NewTicket(c)
            | Outcome::TicketUpdate(c)
            | Outcome::Command(c)
            | Outcome::Reopened(c)
            | Outcome::ReopenRefused(c)
            | Outcome::Bounced(c) => Some(c),
            _ => None,
        }
    }
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Outcome::NewTicket(c) => write!(f, "ticket {c} opened"),
            Outcome::TicketUpdate(c) => write!(f, "ticket {c} updated by the customer"),
            Outcome::Command(c) => write!(f, "ticket {c}: operator message applied"),
            Outcome::Reopened(c) => write!(f, "ticket {c} reopened by the customer"),
            Outcome::ReopenRefused(c) => write!(f, "ticket {c} is closed for good: reply refused"),
            Outcome::CommandRefused(r) => write!(f, "operator message refused: {}", r.name()),
            Outcome::Rejected(r) => write!(f, "rejected: {}", r.name()),
            Outcome::Quarantined(q) => write!(f, "quarantined: {}", q.name()),
            Outcome::Bounced(c) => write!(f, "ticket {c}: a mail was not delivered (bounce)"),
        }
    }
}

/// A change to apply, in one transaction with recording the message. Every effect names
/// its ticket by code: a ticket opened by the same decision has no row id yet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Effect {
    OpenTicket(NewTicket),
    /// Record the message on an existing ticket, with the text the thread shows.
    AppendToTicket {
        code: TicketCode,
        text: String,
    },
    /// Write the ticket's new status.
    UpdateTicket {
        code: TicketCode,
        status: TicketStatus,
    },
    /// Add a line to the ticket's history.
    Log(Event),
    Send(OutgoingMail),
    /// Record time an operator spent on the ticket.
    RecordTime(TimeEntry),
    /// Record a quote sent to the customer; it replaces any quote still unanswered.
    RecordQuote(QuoteSent),
    /// Record the customer's answer to the quote in force.
    AnswerQuote {
        code: TicketCode,
        accepted: bool,
        by: Address,
        at: DateTime<Utc>,
    },
    /// Copy (or stop copying) an address of the ticket's contract on its mail.
    Participant {
        code: TicketCode,
        address: Address,
        added: bool,
    },
    /// Move the thread, history, time, quotes and participants of `from` to `into`.
    Merge {
        from: TicketCode,
        into: TicketCode,
    },
}

/// Time an operator spent on a ticket (negative to correct an earlier entry).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TimeEntry {
    pub code: TicketCode,
    pub operator: String,
    pub minutes: i32,
    /// The day it is counted on (Europe/Rome), the day the message was received.
    pub day: NaiveDate,
    pub at: DateTime<Utc>,
}

/// A quote as it went to the customer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QuoteSent {
    pub code: TicketCode,
    pub operator: String,
    pub amount_cents: u64,
    pub at: DateTime<Utc>,
    /// The operator's text that came with it.
    pub text: String,
}

/// A ticket to open.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewTicket {
    pub code: TicketCode,
    pub contract_id: i64,
    pub requester: Address,
    pub sender: Address,
    pub summary: String,
    /// The request's own text (no quotes, no signature), for the thread.
    pub text: String,
    pub opened_at: DateTime<Utc>,
    /// The acknowledgement promise, stored so a restart can still check it.
    pub ack_due_at: DateTime<Utc>,
    pub status: TicketStatus,
}

/// What kind of mail the daemon sends; part of its stable Message-ID.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MailKind {
    /// To the address typed in the portal's form: confirm the request before a ticket opens.
    Confirmation,
    /// To the customer: the request is taken in charge.
    Ack,
    /// To the sender: the request cannot be accepted.
    Rejection,
    /// To the first-level queue: a new ticket.
    QueueNotice,
    /// To the on-call person: an urgent request outside office hours.
    OnCall,
    /// To the customer: an operator's answer.
    Relay,
    /// To the operator in charge (or queue, or team): the customer's reply.
    Forward,
    /// To an operator: a ticket assigned to them.
    Assignment,
    /// To a second-level team: the whole thread.
    Escalation,
    /// To the customer: the ticket is closed, with the reopen deadline.
    Closure,
    /// To the customer: the ticket is reopened.
    Reopened,
    /// To the operator in charge (or queue): the customer reopened the ticket.
    ReopenNotice,
    /// To whoever handled it: the ticket waited for the customer in vain and was closed.
    UnansweredNotice,
    /// To the customer: the ticket is closed for good; open a new request.
    ReopenRefused,
    /// To an operator: the message was not applied, and why.
    CommandRefused,
    /// To the queue: nobody has taken the ticket in time.
    Reminder,
    /// To the operator in charge (or team, or queue): a mail of the ticket bounced.
    BounceNotice,
    /// To the queue: a message could not be handled and was set aside in quarantine.
    FailureNotice,
    /// To the customer: a quote, to accept or refuse by replying.
    Quote,
    /// To the customer: their answer to the quote is recorded.
    QuoteAnswered,
    /// To the operator in charge: the customer accepted or refused the quote.
    QuoteNotice,
    /// To the customer: the desk still waits for their answer (or their quote's).
    CustomerReminder,
    /// To the customer: their request now continues under another ticket's code.
    Merged,
    /// To each operator, and to the queue, at the first office hour: what is open.
    Digest,
    /// To the administration: a contract ends soon, or has lapsed.
    ContractExpiry,
    /// To the administration, on the first office day of a month: last month's report.
    Report,
}

impl MailKind {
    pub fn name(self) -> &'static str {
        match self {
            MailKind::Confirmation => "confirmation",
            MailKind::Ack => "ack",
            MailKind::Rejection => "rejection",
            MailKind::QueueNotice => "queue",
            MailKind::OnCall => "oncall",
            MailKind::Relay => "relay",
            MailKind::Forward => "forward",
            MailKind::Assignment => "assignment",
            MailKind::Escalation => "escalation",
            MailKind::Closure => "closure",
            MailKind::Reopened => "reopened",
            MailKind::ReopenNotice => "reopen-notice",
            MailKind::UnansweredNotice => "unanswered-notice",
            MailKind::ReopenRefused => "reopen-refused",
            MailKind::CommandRefused => "refused",
            MailKind::Reminder => "reminder",
            MailKind::BounceNotice => "bounce_notice",
            MailKind::FailureNotice => "failure_notice",
            MailKind::Quote => "quote",
            MailKind::QuoteAnswered => "quote-answered",
            MailKind::QuoteNotice => "quote-notice",
            MailKind::CustomerReminder => "customer-reminder",
            MailKind::Merged => "merged",
            MailKind::Digest => "digest",
            MailKind::ContractExpiry => "contract-expiry",
            MailKind::Report => "report",
        }
    }

    /// The template file its text comes from.
    pub fn template(self) -> &'static str {
        match self {
            MailKind::Confirmation => "confirmation.j2",
            MailKind::Ack => "ack.j2",
            MailKind::Rejection => "rejection.j2",
            MailKind::QueueNotice => "queue_notice.j2",
            MailKind::OnCall => "oncall_notice.j2",
            MailKind::Relay => "relay.j2",
            MailKind::Forward => "forward.j2",
            MailKind::Assignment => "assignment.j2",
            MailKind::Escalation => "escalation.j2",
            MailKind::Closure => "closure.j2",
            MailKind::Reopened => "reopened.j2",
            MailKind::ReopenNotice => "reopen_notice.j2",
            MailKind::UnansweredNotice => "unanswered_notice.j2",
            MailKind::ReopenRefused => "reopen_refused.j2",
            MailKind::CommandRefused => "command_refused.j2",
            MailKind::Reminder => "reminder.j2",
            MailKind::BounceNotice => "bounce_notice.j2",
            MailKind::FailureNotice => "failure_notice.j2",
            MailKind::Quote => "quote.j2",
            MailKind::QuoteAnswered => "quote_answered.j2",
            MailKind::QuoteNotice => "quote_notice.j2",
            MailKind::CustomerReminder => "customer_reminder.j2",
            MailKind::Merged => "merged.j2",
            MailKind::Digest => "digest.j2",
            MailKind::ContractExpiry => "contract_expiry.j2",
            MailKind::Report => "report.j2",
        }
    }

    /// The kind whose text template `file` is (`ack.j2`); None for parts and strangers.
    pub fn for_template(file: &str) -> Option<MailKind> {
        MailKind::ALL.into_iter().find(|k| k.template() == file)
    }

    /// Every kind, in the order `templates list` shows them.
    pub const ALL: [MailKind; 26] = [
        MailKind::Confirmation,
        MailKind::Ack,
        MailKind::Rejection,
        MailKind::Relay,
        MailKind::Quote,
        MailKind::QuoteAnswered,
        MailKind::CustomerReminder,
        MailKind::Merged,
        MailKind::Closure,
        MailKind::Reopened,
        MailKind::ReopenRefused,
        MailKind::QueueNotice,
        MailKind::OnCall,
        MailKind::Forward,
        MailKind::ReopenNotice,
        MailKind::UnansweredNotice,
        MailKind::Assignment,
        MailKind::Escalation,
        MailKind::Reminder,
        MailKind::QuoteNotice,
        MailKind::BounceNotice,
        MailKind::CommandRefused,
        MailKind::FailureNotice,
        MailKind::Digest,
        MailKind::ContractExpiry,
        MailKind::Report,
    ];
}

/// A mail to queue; `mail::compose` turns it into bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutgoingMail {
    pub kind: MailKind,
    /// The ticket it is about, if any (new tickets are opened by the same decision).
    pub ticket: Option<TicketCode>,
    pub to: Vec<Address>,
    pub cc: Vec<Address>,
    pub subject: String,
    pub body: String,
    /// The Message-ID of the message this answers, without brackets.
    pub in_reply_to: Option<String>,
    /// The thread, oldest first, without brackets.
    pub references: Vec<String>,
    pub attachments: Vec<Attachment>,
    /// Why this mail is recorded but must not be sent (the reply rate limit), if so.
    pub held: Option<String>,
    /// What went wrong rendering its text, if anything: the shell logs a fallback to the
    /// built-in text and refuses to send a text that could not be rendered at all.
    pub trouble: Option<Trouble>,
}

impl OutgoingMail {
    /// A mail about `ticket` with no copy, no threading and no attachment: callers set
    /// those fields with struct update syntax when they need them.
    pub fn new(
        kind: MailKind,
        ticket: Option<&TicketCode>,
        to: Vec<Address>,
        text: impl Into<Text>,
    ) -> OutgoingMail {
        let text = text.into();
        OutgoingMail {
            kind,
            ticket: ticket.cloned(),
            to,
            cc: vec![],
            subject: text.subject,
            body: text.body,
            trouble: text.trouble,
            in_reply_to: None,
            references: vec![],
            attachments: vec![],
            held: None,
        }
    }

    /// In reply to `msg`, in its thread. A form submission is no mail: there is nothing to
    /// reply to, so the mail starts its own thread (its own Message-ID is what a reply to
    /// it will name).
    pub fn answering(self, msg: &Inbound) -> OutgoingMail {
        if msg.is_web() {
            return self;
        }
        OutgoingMail {
            in_reply_to: msg.message_id.clone(),
            references: thread(msg),
            ..self
        }
    }

    /// In the customer's side of the ticket's thread (their messages and what we sent
    /// them), so their mail client shows one conversation and their reply finds the
    /// ticket.
    pub fn in_customer_thread(self, ticket: &TicketFacts) -> OutgoingMail {
        let (in_reply_to, references) = customer_thread(ticket);
        OutgoingMail {
            in_reply_to,
            references,
            ..self
        }
    }

    /// With the attachments `msg` came with.
    pub fn with_attachments_of(self, msg: &Inbound) -> OutgoingMail {
        OutgoingMail {
            attachments: msg.attachments.clone(),
            ..self
        }
    }
}

/// A decision: the outcome and what to do about it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decision {
    pub outcome: Outcome,
    pub effects: Vec<Effect>,
    /// Something the sysadmin should read in the log (a possible spoof).
    pub warning: Option<String>,
}

impl Decision {
    pub(crate) fn new(outcome: Outcome, effects: Vec<Effect>) -> Decision {
        Decision {
            outcome,
            effects,
            warning: None,
        }
    }
}

/// The References of a reply: the original's references, then the original itself.
pub fn thread(msg: &Inbound) -> Vec<String> {
    let mut refs: Vec<String> = msg.refs.clone();
    if let Some(id) = &msg.message_id {
        refs.retain(|r| r != id);
        refs.push(id.clone());
    }
    refs
}

/// `In-Reply-To` and `References` for a new mail to the customer of `ticket`.
fn customer_thread(ticket: &TicketFacts) -> (Option<String>, Vec<String>) {
    let ids: Vec<String> = ticket
        .thread
        .iter()
        .filter(|e| is_customer_side(e.outgoing, &e.kind))
        .filter_map(|e| e.message_id.clone())
        .collect();
    let last = ids.last().cloned();
    let refs = if ids.len() > MAX_REFERENCES {
        let mut r = vec![ids[0].clone()];
        r.extend_from_slice(&ids[ids.len() - (MAX_REFERENCES - 1)..]);
        r
    } else {
        ids
    };
    (last, refs)
}

/// Whether a thread entry passed between the customer and the desk.
fn is_customer_side(outgoing: bool, kind: &str) -> bool {
    const KINDS_OUT: [MailKind; 9] = [
        MailKind::Ack,
        MailKind::Relay,
        MailKind::Closure,
        MailKind::Reopened,
        MailKind::ReopenRefused,
        MailKind::Quote,
        MailKind::QuoteAnswered,
        MailKind::CustomerReminder,
        MailKind::Merged,
    ];
    if outgoing {
        KINDS_OUT.iter().any(|k| k.name() == kind)
    } else {
        matches!(kind, "ticket" | "update" | "reopened" | "reopen_refused")
    }
}
