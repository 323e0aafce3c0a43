//! `decide`: one inbound message, the stored facts it touches, and the settings in; one
//! outcome and the effects to apply out. No I/O, no clock: the time is the message's
//! `received_at`, so the same input always gives the same decision.
//!
//! This file holds the vocabulary (settings, facts, outcomes, effects) and the first
//! checks every message goes through (junk, loops, operators, size); new requests are
//! judged in `request`, customer replies in `customer`, operator mail in `operators`, and
//! deadlines in `timers`.

use chrono::{DateTime, Duration, Utc};

use super::address::Address;
use super::auth;
use super::calendar::Calendar;
use super::contract::Contract;
use super::customer;
use super::inbound::{Attachment, Inbound};
use super::operators::{self, Operator};
use super::request;
use super::templates::{self, RejectionContext, RejectionText};
use super::ticket::{Event, TicketCode, TicketFacts, TicketStatus};

pub use super::request::ACK_PROMISE;

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
}

/// The stored facts a decision depends on.
#[derive(Clone, Debug)]
pub struct Facts {
    /// Every contract listing the sender or the subject address (any standing).
    pub contracts: Vec<Contract>,
    /// The ticket the message refers to, if any.
    pub ticket: Option<TicketFacts>,
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

/// Why a request was refused with a reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rejection {
    SubjectNotAddress(super::address::SubjectProblem),
    AddressNotEnabled,
    SenderNotEnabled,
    ContractExpired,
    ContractNotYetValid,
    ContractDisabled,
    MissingReference,
    EmptyRequest,
    TooLarge,
    UnknownTicket,
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
    BadCommand(super::commands::CommandError),
    /// The command is not possible in the ticket's state.
    NotNow {
        command: &'static str,
        why: NotNow,
    },
    UnknownOperator(String),
    UnknownTeam(String),
    /// Neither commands nor text.
    Empty,
}

/// Why a command is not possible now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NotNow {
    /// The ticket is closed for good.
    ClosedForGood,
    /// Closed and waiting for the customer; `#prendo` reopens it.
    Resolved { reopen_until: Option<DateTime<Utc>> },
    /// Another operator has it.
    TakenBy(String),
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
    pub fn name(self) -> &'static str {
        match self {
            Rejection::SubjectNotAddress(_) => "subject_not_address",
            Rejection::AddressNotEnabled => "address_not_enabled",
            Rejection::SenderNotEnabled => "sender_not_enabled",
            Rejection::ContractExpired => "contract_expired",
            Rejection::ContractNotYetValid => "contract_not_yet_valid",
            Rejection::ContractDisabled => "contract_disabled",
            Rejection::MissingReference => "missing_reference",
            Rejection::EmptyRequest => "empty_request",
            Rejection::TooLarge => "too_large",
            Rejection::UnknownTicket => "unknown_ticket",
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
            Refusal::UnknownOperator(_) => "unknown_operator",
            Refusal::UnknownTeam(_) => "unknown_team",
            Refusal::Empty => "empty",
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

/// A change to apply, in one transaction with recording the message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Effect {
    OpenTicket(NewTicket),
    /// Record the message on an existing ticket, with the text the thread shows.
    AppendToTicket {
        ticket_id: i64,
        text: String,
    },
    /// Write the ticket's new status.
    UpdateTicket {
        ticket_id: i64,
        status: TicketStatus,
    },
    /// Add a line to the ticket's history.
    Log(Event),
    Send(OutgoingMail),
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
}

impl MailKind {
    pub fn name(self) -> &'static str {
        match self {
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
            MailKind::ReopenRefused => "reopen-refused",
            MailKind::CommandRefused => "refused",
            MailKind::Reminder => "reminder",
            MailKind::BounceNotice => "bounce_notice",
            MailKind::FailureNotice => "failure_notice",
        }
    }
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
}

impl OutgoingMail {
    /// A mail about `ticket` with no copy, no threading and no attachment: callers set
    /// those fields with struct update syntax when they need them.
    pub fn new(
        kind: MailKind,
        ticket: Option<&TicketCode>,
        to: Vec<Address>,
        (subject, body): (String, String),
    ) -> OutgoingMail {
        OutgoingMail {
            kind,
            ticket: ticket.cloned(),
            to,
            cc: vec![],
            subject,
            body,
            in_reply_to: None,
            references: vec![],
            attachments: vec![],
            held: None,
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

/// The lookups `decide` needs for this message.
pub fn wanted(msg: &Inbound, settings: &Settings) -> Wanted {
    let mut addresses = Vec::new();
    if let Some(from) = &msg.from {
        addresses.push(from.clone());
    }
    if let Ok(requester) = super::address::subject_address(&msg.subject) {
        if !addresses.contains(&requester) {
            addresses.push(requester);
        }
    }
    // A bounce is about the mail it returns, not about its own thread.
    let refs = match msg
        .bounce
        .as_ref()
        .and_then(|b| b.original_message_id.clone())
    {
        Some(original) => vec![original],
        None => msg.refs.clone(),
    };
    Wanted {
        addresses,
        code: TicketCode::find(&msg.subject, &settings.code_prefix),
        refs,
    }
}

/// Decides what happens to one inbound message. See SPEC "Behaviour the daemon owns"; the
/// order of the checks is the order of this function.
pub fn decide(msg: &Inbound, facts: &Facts, settings: &Settings) -> Decision {
    let quarantine = |q| Decision::new(Outcome::Quarantined(q), vec![]);

    if msg.malformed.is_some() {
        return quarantine(Quarantine::Malformed);
    }
    // A report that one of our mails was not delivered: recorded on its ticket, never
    // answered (the bounce module decides; anything else automated is quarantined).
    if let Some(decision) = msg
        .bounce
        .as_ref()
        .and_then(|b| super::bounce::about_a_ticket(msg, b, facts, settings))
    {
        return decision;
    }
    let Some(sender) = msg.from.clone() else {
        return quarantine(Quarantine::NoSender);
    };
    if settings.own_addresses.contains(&sender) {
        return quarantine(Quarantine::OwnAddress);
    }
    if msg.loop_marker {
        return quarantine(Quarantine::Loop);
    }
    if is_automated(msg, &sender) {
        return quarantine(Quarantine::Automated);
    }
    if msg.list_id {
        return quarantine(Quarantine::MailingList);
    }

    // Operators act only when our own server vouches for them; otherwise their mail is
    // ordinary mail, and the log says so.
    let mut warning = None;
    if let Some(op) = settings.operator_by_address(&sender) {
        let verdict = auth::check(&msg.auth_results, &settings.trusted_authserv_ids, &sender);
        if verdict.passed() {
            return operators::message(msg, facts, settings, op);
        }
        warning = Some(format!(
            "possible spoof: mail from operator {} <{sender}> is not vouched for by a trusted \
             Authentication-Results header ({verdict:?}); treated as ordinary mail",
            op.name
        ));
    }
    let mut decision = from_customer(msg, facts, settings, sender.clone());
    decision.warning = warning;
    limit_replies(
        &mut decision,
        &facts.replies_last_hour,
        settings.max_replies_per_hour,
    );
    decision
}

/// Flood and loop protection: at most `limit` mails an hour to one customer address,
/// whatever their kind and whoever wrote (rotating `From:` among a contract's addresses
/// gains nothing when the mail goes to the requester). A mail to any address already at
/// the limit stays in the decision, marked held: it is recorded and never sent, and the
/// log says so. Mail to operators only is not limited. The message's outcome (a ticket,
/// say) is not changed.
fn limit_replies(decision: &mut Decision, queued: &[(Address, u32)], limit: u32) {
    let mut counts = queued.to_vec();
    let (mut n, mut held): (usize, Vec<Address>) = (0, Vec::new());
    for effect in &mut decision.effects {
        let Effect::Send(mail) = effect else { continue };
        let mut over = None;
        for (address, n) in &mut counts {
            if mail.to.contains(address) || mail.cc.contains(address) {
                if *n >= limit && over.is_none() {
                    over = Some(address.clone());
                }
                *n += 1;
            }
        }
        if let Some(address) = over {
            mail.held = Some(format!(
                "rate limit: {limit} mails an hour to {address} already queued"
            ));
            n += 1;
            if !held.contains(&address) {
                held.push(address);
            }
        }
    }
    if n > 0 {
        let to: Vec<String> = held.iter().map(|a| a.to_string()).collect();
        let note = format!(
            "{n} mail(s) to {} held, not sent: {limit} an hour already queued",
            to.join(", ")
        );
        decision.warning = Some(match decision.warning.take() {
            Some(w) => format!("{w}; {note}"),
            None => note,
        });
    }
}

/// Mail from anyone but an authenticated operator: a reply on a ticket or a new request.
fn from_customer(msg: &Inbound, facts: &Facts, settings: &Settings, sender: Address) -> Decision {
    // Past this point a reply is possible, but only to an address a contract knows.
    let sender_known = facts.contracts.iter().any(|c| c.enables(&sender));
    let reject = |reason: Rejection, text: RejectionText| {
        if sender_known {
            Decision::new(
                Outcome::Rejected(reason),
                vec![Effect::Send(rejection_mail(msg, &sender, &text, settings))],
            )
        } else {
            Decision::new(Outcome::Quarantined(Quarantine::UnknownSender), vec![])
        }
    };

    if msg.size > settings.max_message_bytes {
        return reject(
            Rejection::TooLarge,
            RejectionText::TooLarge {
                size: msg.size,
                limit: settings.max_message_bytes,
            },
        );
    }

    if let Some(ticket) = &facts.ticket {
        if ticket.contract.enables(&sender) {
            return customer::reply(msg, ticket, settings, &sender);
        }
        return reject(
            Rejection::UnknownTicket,
            RejectionText::UnknownTicket {
                code: ticket.code.clone(),
            },
        );
    }
    if let Some(code) = TicketCode::find(&msg.subject, &settings.code_prefix) {
        return reject(
            Rejection::UnknownTicket,
            RejectionText::UnknownTicket { code },
        );
    }

    match request::new_request(msg, facts, settings, sender.clone()) {
        Ok(decision) => decision,
        Err((reason, text)) => reject(reason, text),
    }
}

fn rejection_mail(
    msg: &Inbound,
    to: &Address,
    text: &RejectionText,
    settings: &Settings,
) -> OutgoingMail {
    let (subject, body) = templates::rejection(
        text,
        &RejectionContext {
            to,
            original_subject: &msg.subject,
            received_at: msg.received_at,
            support_address: &settings.support_address,
            signature: &settings.signature,
        },
    );
    OutgoingMail {
        in_reply_to: msg.message_id.clone(),
        references: thread(msg),
        ..OutgoingMail::new(MailKind::Rejection, None, vec![to.clone()], (subject, body))
    }
}

/// The References of a reply: the original's references, then the original itself.
pub(crate) fn thread(msg: &Inbound) -> Vec<String> {
    let mut refs: Vec<String> = msg.refs.clone();
    if let Some(id) = &msg.message_id {
        refs.retain(|r| r != id);
        refs.push(id.clone());
    }
    refs
}

/// RFC 3834 and common practice: mail that a machine sent must never be answered.
fn is_automated(msg: &Inbound, sender: &Address) -> bool {
    let local = sender.local_part();
    msg.null_sender
        || local == "mailer-daemon"
        || local == "postmaster"
        || msg.auto_submitted.as_deref().is_some_and(|v| v != "no")
        || msg
            .precedence
            .as_deref()
            .is_some_and(|p| matches!(p, "bulk" | "junk" | "list"))
}
