//! `decide`: one inbound message, the stored facts it touches, and the settings in; one
//! outcome and the effects to apply out. No I/O, no clock: the time is the message's
//! `received_at`, so the same input always gives the same decision.

use chrono::{DateTime, Duration, Utc};

use super::address::{subject_address, Address, SubjectProblem};
use super::body::{self, BodyProblem};
use super::contract::{Contract, Standing};
use super::inbound::Inbound;
use super::templates::{self, AckText, RejectionContext, RejectionText};
use super::ticket::{TicketCode, TicketFacts};

/// The promise of the seed: an acknowledgement within 30 minutes of receipt.
pub const ACK_PROMISE: Duration = Duration::minutes(30);

/// Longest request summary quoted back in the acknowledgement.
const SUMMARY_CHARS: usize = 800;

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
}

/// The one outcome of a message; it decides the IMAP folder.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    NewTicket(TicketCode),
    TicketUpdate(TicketCode),
    Rejected(Rejection),
    Quarantined(Quarantine),
}

/// Why a request was refused with a reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rejection {
    SubjectNotAddress(SubjectProblem),
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
            Outcome::NewTicket(_) | Outcome::TicketUpdate(_) => Folder::Processed,
            Outcome::Rejected(_) => Folder::Rejected,
            Outcome::Quarantined(_) => Folder::Quarantine,
        }
    }

    /// `ticket`, `update`, `rejected` or `quarantine`.
    pub fn kind(&self) -> &'static str {
        match self {
            Outcome::NewTicket(_) => "ticket",
            Outcome::TicketUpdate(_) => "update",
            Outcome::Rejected(_) => "rejected",
            Outcome::Quarantined(_) => "quarantine",
        }
    }

    /// The reason name for rejections and quarantine, empty otherwise.
    pub fn reason(&self) -> &'static str {
        match self {
            Outcome::Rejected(r) => r.name(),
            Outcome::Quarantined(q) => q.name(),
            _ => "",
        }
    }

    /// The ticket code, for new tickets and updates.
    pub fn code(&self) -> Option<&TicketCode> {
        match self {
            Outcome::NewTicket(c) | Outcome::TicketUpdate(c) => Some(c),
            _ => None,
        }
    }
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Outcome::NewTicket(c) => write!(f, "ticket {c} opened"),
            Outcome::TicketUpdate(c) => write!(f, "ticket {c} updated"),
            Outcome::Rejected(r) => write!(f, "rejected: {}", r.name()),
            Outcome::Quarantined(q) => write!(f, "quarantined: {}", q.name()),
        }
    }
}

/// A change to apply, in one transaction with recording the message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Effect {
    OpenTicket(NewTicket),
    /// Record the message on an existing ticket.
    AppendToTicket {
        ticket_id: i64,
    },
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
    pub opened_at: DateTime<Utc>,
    /// The acknowledgement promise, stored so a restart can still check it.
    pub ack_due_at: DateTime<Utc>,
}

/// What kind of mail the daemon sends; part of its stable Message-ID.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MailKind {
    Ack,
    Rejection,
}

impl MailKind {
    pub fn name(self) -> &'static str {
        match self {
            MailKind::Ack => "ack",
            MailKind::Rejection => "rejection",
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
}

/// A decision: the outcome and what to do about it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decision {
    pub outcome: Outcome,
    pub effects: Vec<Effect>,
}

/// The lookups `decide` needs for this message.
pub fn wanted(msg: &Inbound, settings: &Settings) -> Wanted {
    let mut addresses = Vec::new();
    if let Some(from) = &msg.from {
        addresses.push(from.clone());
    }
    if let Ok(requester) = subject_address(&msg.subject) {
        if !addresses.contains(&requester) {
            addresses.push(requester);
        }
    }
    Wanted {
        addresses,
        code: TicketCode::find(&msg.subject, &settings.code_prefix),
        refs: msg.refs.clone(),
    }
}

/// Decides what happens to one inbound message. See SPEC rules 1–4 and "Behaviour the
/// daemon owns"; the order of the checks is the order of this function.
pub fn decide(msg: &Inbound, facts: &Facts, settings: &Settings) -> Decision {
    let quarantine = |q| Decision {
        outcome: Outcome::Quarantined(q),
        effects: vec![],
    };

    if msg.malformed.is_some() {
        return quarantine(Quarantine::Malformed);
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

    // Past this point a reply is possible, but only to an address a contract knows.
    let sender_known = facts.contracts.iter().any(|c| c.enables(&sender));
    let reject = |reason: Rejection, text: RejectionText| {
        if sender_known {
            Decision {
                outcome: Outcome::Rejected(reason),
                effects: vec![Effect::Send(rejection_mail(msg, &sender, &text, settings))],
            }
        } else {
            quarantine(Quarantine::UnknownSender)
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

    let code = TicketCode::find(&msg.subject, &settings.code_prefix);
    if let Some(ticket) = &facts.ticket {
        if ticket.contract.enables(&sender) {
            return Decision {
                outcome: Outcome::TicketUpdate(ticket.code.clone()),
                effects: vec![Effect::AppendToTicket {
                    ticket_id: ticket.id,
                }],
            };
        }
        return reject(
            Rejection::UnknownTicket,
            RejectionText::UnknownTicket {
                code: ticket.code.clone(),
            },
        );
    }
    if let Some(code) = code {
        return reject(
            Rejection::UnknownTicket,
            RejectionText::UnknownTicket { code },
        );
    }

    let requester = match subject_address(&msg.subject) {
        Ok(a) => a,
        Err(p) => {
            return reject(Rejection::SubjectNotAddress(p), RejectionText::Subject(p));
        }
    };
    let requester_contracts: Vec<&Contract> = facts
        .contracts
        .iter()
        .filter(|c| c.enables(&requester))
        .collect();
    if requester_contracts.is_empty() {
        return reject(
            Rejection::AddressNotEnabled,
            RejectionText::AddressNotEnabled { requester },
        );
    }
    // An address may sit on several contracts (an expired one and its renewal): the best
    // standing wins, and among equals the first (lowest id) one.
    let Some(contract) = requester_contracts
        .iter()
        .copied()
        .min_by_key(|c| (c.standing(msg.received_at), c.id))
    else {
        return reject(
            Rejection::AddressNotEnabled,
            RejectionText::AddressNotEnabled { requester },
        );
    };
    if sender != requester && !(settings.allow_colleagues && contract.enables(&sender)) {
        return reject(
            Rejection::SenderNotEnabled,
            RejectionText::SenderNotEnabled {
                sender: sender.clone(),
                requester,
            },
        );
    }
    match contract.standing(msg.received_at) {
        Standing::InForce => {}
        Standing::NotYetValid => {
            return reject(
                Rejection::ContractNotYetValid,
                RejectionText::ContractNotYetValid {
                    requester,
                    from: contract.valid_from,
                },
            );
        }
        Standing::Expired => {
            return reject(
                Rejection::ContractExpired,
                RejectionText::ContractExpired {
                    requester,
                    until: contract.valid_until,
                },
            );
        }
        Standing::Disabled => {
            return reject(
                Rejection::ContractDisabled,
                RejectionText::ContractDisabled { requester },
            );
        }
    }

    let own = body::own_text(&msg.text);
    if let Err(problem) = body::check(&own, &contract.references) {
        let (reason, text) = match problem {
            BodyProblem::EmptyRequest => (Rejection::EmptyRequest, RejectionText::EmptyRequest),
            BodyProblem::MissingReference => {
                (Rejection::MissingReference, RejectionText::MissingReference)
            }
        };
        return reject(reason, text);
    }

    open_ticket(msg, facts, settings, contract, requester, sender, &own)
}

fn open_ticket(
    msg: &Inbound,
    facts: &Facts,
    settings: &Settings,
    contract: &Contract,
    requester: Address,
    sender: Address,
    own_text: &str,
) -> Decision {
    let code = facts.next_code.clone();
    let summary = body::summary(own_text, SUMMARY_CHARS);
    let colleague = (sender != requester).then_some(&sender);
    let greeting_name = if colleague.is_none() {
        msg.from_name.as_deref()
    } else {
        None
    };
    let (subject, body) = templates::ack(&AckText {
        code: &code,
        requester: &requester,
        sender: colleague,
        greeting_name,
        summary: &summary,
        support_address: &settings.support_address,
        signature: &settings.signature,
    });
    let ack = OutgoingMail {
        kind: MailKind::Ack,
        ticket: Some(code.clone()),
        to: vec![requester.clone()],
        cc: colleague.into_iter().cloned().collect(),
        subject,
        body,
        in_reply_to: msg.message_id.clone(),
        references: thread(msg),
    };
    Decision {
        outcome: Outcome::NewTicket(code.clone()),
        effects: vec![
            Effect::OpenTicket(NewTicket {
                code,
                contract_id: contract.id,
                requester,
                sender,
                summary,
                opened_at: msg.received_at,
                ack_due_at: msg.received_at + ACK_PROMISE,
            }),
            Effect::Send(ack),
        ],
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
        kind: MailKind::Rejection,
        ticket: None,
        to: vec![to.clone()],
        cc: vec![],
        subject,
        body,
        in_reply_to: msg.message_id.clone(),
        references: thread(msg),
    }
}

/// The References of a reply: the original's references, then the original itself.
fn thread(msg: &Inbound) -> Vec<String> {
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
