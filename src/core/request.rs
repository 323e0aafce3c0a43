//! A new request: the subject, sender, contract and body rules (SPEC rules 1–3), then the
//! ticket, its acknowledgement (rule 4, saying when the request will be examined: rule 5),
//! the notice to the first-level queue, and the on-call alert for urgent requests outside
//! office hours (rule 6).
//!
//! A request from the portal's form meets the same rules: the address typed in the form is
//! the subject rule's field, the form's text is the customer's own (a form has no quotes
//! or signature to strip), and its checkbox says whether it is urgent. Before it reaches
//! `decide` the shell may ask the typed address to confirm it (`confirmation`).

use chrono::{DateTime, Duration, Utc};

use super::address::{subject_address, Address};
use super::body::{self, BodyProblem};
use super::contract::{contract_for, Contract, Standing};
use super::decision::{
    Decision, Effect, Facts, MailKind, NewTicket, Outcome, OutgoingMail, Rejection, Settings,
    SYSTEM,
};
use super::inbound::{unix_lines, Channel, Inbound};
use super::limit;
use super::participants;
use super::templates::{self, AckText, ConfirmationText, Examined, TicketBrief};
use super::ticket::{Event, EventKind, Extra, TicketCode, TicketStatus};

/// The promise of the seed: an acknowledgement within 30 minutes of receipt.
pub const ACK_PROMISE: Duration = Duration::minutes(30);

/// Longest request summary quoted back in the acknowledgement.
const SUMMARY_CHARS: usize = 800;

/// Judges a message that is neither junk, nor from an operator, nor about a ticket.
/// `Err` is the rejection to send (when the sender is known to a contract).
pub fn new_request(
    msg: &Inbound,
    facts: &Facts,
    settings: &Settings,
    sender: Address,
) -> Result<Decision, Rejection> {
    let requester = subject_address(msg.requester_field()).map_err(Rejection::SubjectNotAddress)?;
    let contract = contract_of(&requester, &sender, msg, facts, settings)?;
    let own = own_text(msg);
    body::check(&own, &contract.references).map_err(|problem| match problem {
        BodyProblem::EmptyRequest => Rejection::EmptyRequest,
        BodyProblem::MissingReference => Rejection::MissingReference,
    })?;
    Ok(open_ticket(
        msg, facts, settings, contract, requester, sender, &own,
    ))
}

/// What the customer wrote themselves: a mail's text without quotes and signature; a
/// form's fields as typed, since a form has neither (a line of it starting with `>` or
/// `--` is the customer's own).
fn own_text(msg: &Inbound) -> String {
    match &msg.channel {
        Channel::Email => body::own_text(&msg.text),
        Channel::Web(fields) => fields.text(),
    }
}

/// The contract the request is made on: the requester's, in force, and the sender may
/// write for them.
fn contract_of<'f>(
    requester: &Address,
    sender: &Address,
    msg: &Inbound,
    facts: &'f Facts,
    settings: &Settings,
) -> Result<&'f Contract, Rejection> {
    let contract = contract_for(&facts.contracts, requester, msg.received_at).ok_or_else(|| {
        Rejection::AddressNotEnabled {
            requester: requester.clone(),
        }
    })?;
    if sender != requester && !(settings.allow_colleagues && contract.enables(sender)) {
        return Err(Rejection::SenderNotEnabled {
            sender: sender.clone(),
            requester: requester.clone(),
        });
    }
    let requester = requester.clone();
    match contract.standing(msg.received_at) {
        Standing::InForce => Ok(contract),
        Standing::NotYetValid => Err(Rejection::ContractNotYetValid {
            requester,
            from: contract.valid_from,
        }),
        Standing::Expired => Err(Rejection::ContractExpired {
            requester,
            until: contract.valid_until,
        }),
        Standing::Disabled => Err(Rejection::ContractDisabled { requester }),
    }
}

/// `URGENTE` (any case, with or without trailing punctuation) alone on the first line.
pub fn is_urgent(own_text: &str) -> bool {
    own_text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .map(|l| l.trim_end_matches(['!', '.', ':', '-', ' ']))
        .is_some_and(|l| l.eq_ignore_ascii_case("urgente"))
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
    let at = msg.received_at;
    let calendar = &settings.calendar;
    let urgent = match &msg.channel {
        Channel::Email => is_urgent(own_text),
        Channel::Web(fields) => fields.urgent,
    };
    let o = Opening {
        msg,
        settings,
        contract,
        not_copied: participants::strangers(msg, contract, settings),
        copied: copied(msg, contract, settings, &requester, &sender),
        code: facts.next_code.clone(),
        requester,
        sender,
        own_text,
        summary: body::summary(own_text, SUMMARY_CHARS),
        urgent,
        open_now: calendar.is_open(at),
        first_contact_due: calendar.add_office_time(at, settings.first_contact),
    };
    let mut effects = vec![
        Effect::OpenTicket(NewTicket {
            code: o.code.clone(),
            contract_id: contract.id,
            requester: o.requester.clone(),
            sender: o.sender.clone(),
            summary: o.summary.clone(),
            text: own_text.to_string(),
            opened_at: at,
            ack_due_at: at + ACK_PROMISE,
            status: TicketStatus::new(urgent, o.extra(), o.first_contact_due),
        }),
        Effect::Log(Event {
            code: o.code.clone(),
            at,
            actor: o.sender.to_string(),
            kind: EventKind::Opened,
            detail: if urgent { "URGENTE" } else { "" }.into(),
        }),
    ];
    for address in &o.copied {
        effects.push(Effect::Participant {
            code: o.code.clone(),
            address: address.clone(),
            added: true,
        });
    }
    effects.push(Effect::Send(o.ack()));
    effects.extend(o.notices());
    Decision::new(Outcome::NewTicket(o.code), effects)
}

/// Who is copied on a new ticket: the colleague who wrote for the requester, then the
/// colleagues of the contract the request was also addressed to.
fn copied(
    msg: &Inbound,
    contract: &Contract,
    settings: &Settings,
    requester: &Address,
    sender: &Address,
) -> Vec<Address> {
    let mut copied = participants::colleagues(msg, contract, settings);
    if sender != requester && !copied.contains(sender) {
        copied.insert(0, sender.clone());
    }
    copied.retain(|a| a != requester);
    copied
}

/// A ticket being opened, with what its mails say about it.
struct Opening<'a> {
    msg: &'a Inbound,
    settings: &'a Settings,
    contract: &'a Contract,
    code: TicketCode,
    requester: Address,
    sender: Address,
    /// Addresses of the contract copied on the ticket: the colleague who wrote for the
    /// requester, and those the request was also addressed to.
    copied: Vec<Address>,
    /// Addresses the request was also addressed to that the contract does not list.
    not_copied: Vec<Address>,
    own_text: &'a str,
    summary: String,
    urgent: bool,
    /// Whether the desk was open when the request arrived.
    open_now: bool,
    first_contact_due: DateTime<Utc>,
}

impl Opening<'_> {
    /// The procedure bills urgent interventions outside office hours apart: such a request
    /// starts as a possible extra, until an operator says `#extra` or `#non-extra`.
    fn extra(&self) -> Extra {
        if self.urgent && !self.open_now {
            Extra::Possible
        } else {
            Extra::No
        }
    }

    /// The acknowledgement to the requester, in copy to a colleague who wrote for them and
    /// to the colleagues the request was also addressed to.
    fn ack(&self) -> OutgoingMail {
        let calendar = &self.settings.calendar;
        let at = self.msg.received_at;
        let colleague = (self.sender != self.requester).then_some(&self.sender);
        let ack = templates::ack(&AckText {
            code: &self.code,
            customer: &self.contract.customer,
            contract_until: self.contract.valid_until,
            requester: &self.requester,
            sender: colleague,
            greeting_name: self
                .msg
                .from_name
                .as_deref()
                .filter(|_| colleague.is_none()),
            summary: &self.summary,
            received_at: at,
            examined: if self.open_now {
                Examined::Now
            } else {
                Examined::From(calendar.next_opening(at))
            },
            urgent: self.urgent,
            channel: &self.msg.channel,
            settings: self.settings,
        });
        let to = vec![self.requester.clone()];
        OutgoingMail {
            cc: self.copied.clone(),
            ..OutgoingMail::new(MailKind::Ack, Some(&self.code), to, ack)
        }
        .answering(self.msg)
    }

    /// The notice to the first-level queue and, for an urgent request outside office
    /// hours, the alert to the on-call person.
    fn notices(&self) -> Vec<Effect> {
        let settings = self.settings;
        let brief = TicketBrief {
            code: &self.code,
            customer: &self.contract.customer,
            contract_until: self.contract.valid_until,
            requester: &self.requester,
            sender: &self.sender,
            received_at: self.msg.received_at,
            text: self.own_text,
            urgent: self.urgent,
            open_now: self.open_now,
            first_contact_due: self.first_contact_due,
            channel: &self.msg.channel,
            attachments: &self.msg.attachments,
            copied: &self.copied,
            not_copied: &self.not_copied,
            settings,
        };
        let mut effects = vec![];
        let queue = settings.queue_addresses();
        if !queue.is_empty() {
            let text = templates::queue_notice(&brief);
            let mail = OutgoingMail::new(MailKind::QueueNotice, Some(&self.code), queue, text);
            effects.push(Effect::Send(mail.with_attachments_of(self.msg)));
        }
        let oncall = settings.oncall.as_ref();
        if let Some(oncall) = oncall.filter(|_| self.urgent && !self.open_now) {
            let text = templates::oncall_notice(&brief);
            effects.push(Effect::Log(Event {
                code: self.code.clone(),
                at: self.msg.received_at,
                actor: SYSTEM.into(),
                kind: EventKind::OnCallNotified,
                detail: oncall.to_string(),
            }));
            let mail = OutgoingMail::new(
                MailKind::OnCall,
                Some(&self.code),
                vec![oncall.clone()],
                text,
            );
            effects.push(Effect::Send(mail.with_attachments_of(self.msg)));
        }
        effects
    }
}

/// The mail asking the address typed in the portal's form to confirm the request, with the
/// shell's `link` to do so before `valid_until`; the shell calls it before `decide` when
/// `web.require_confirmation` is on. It goes only to an address some contract lists, in
/// any standing (an expired contract's holder then confirms and gets the usual
/// rejection): a stranger's address gets nothing, so the form cannot be used to write to
/// anyone. It counts against the reply limit like any mail to a customer: when it is
/// held, `held` says so and the shell records it without sending it.
pub fn confirmation(
    msg: &Inbound,
    facts: &Facts,
    settings: &Settings,
    link: &str,
    valid_until: DateTime<Utc>,
) -> Vec<Effect> {
    let Channel::Web(fields) = &msg.channel else {
        return vec![];
    };
    let Ok(requester) = subject_address(msg.requester_field()) else {
        return vec![];
    };
    if !facts.contracts.iter().any(|c| c.enables(&requester)) {
        return vec![];
    }
    let text = templates::confirmation(&ConfirmationText {
        reference: &fields.reference,
        summary: &body::summary(&unix_lines(&fields.request), SUMMARY_CHARS),
        link,
        valid_until,
        received_at: msg.received_at,
        settings,
    });
    let mail = OutgoingMail::new(MailKind::Confirmation, None, vec![requester], text);
    let mut effects = vec![Effect::Send(mail)];
    limit::limit_replies(
        &mut effects,
        &facts.replies_last_hour,
        settings.max_replies_per_hour,
    );
    effects
}
