//! A new request: the subject, sender, contract and body rules (SPEC rules 1–3), then the
//! ticket, its acknowledgement (rule 4, saying when the request will be examined: rule 5),
//! the notice to the first-level queue, and the on-call alert for urgent requests outside
//! office hours (rule 6).

use chrono::Duration;

use super::address::{subject_address, Address};
use super::body::{self, BodyProblem};
use super::contract::{Contract, Standing};
use super::decide::{
    thread, Decision, Effect, Facts, MailKind, NewTicket, Outcome, OutgoingMail, Rejection,
    Settings,
};
use super::inbound::Inbound;
use super::templates::{self, AckText, Examined, RejectionText, TicketBrief};
use super::ticket::{Event, EventKind, TicketStatus};

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
) -> Result<Decision, (Rejection, RejectionText)> {
    let requester = match subject_address(&msg.subject) {
        Ok(a) => a,
        Err(p) => {
            return Err((Rejection::SubjectNotAddress(p), RejectionText::Subject(p)));
        }
    };
    let requester_contracts: Vec<&Contract> = facts
        .contracts
        .iter()
        .filter(|c| c.enables(&requester))
        .collect();
    if requester_contracts.is_empty() {
        return Err((
            Rejection::AddressNotEnabled,
            RejectionText::AddressNotEnabled { requester },
        ));
    }
    // An address may sit on several contracts (an expired one and its renewal): the best
    // standing wins, and among equals the first (lowest id) one.
    let Some(contract) = requester_contracts
        .iter()
        .copied()
        .min_by_key(|c| (c.standing(msg.received_at), c.id))
    else {
        return Err((
            Rejection::AddressNotEnabled,
            RejectionText::AddressNotEnabled { requester },
        ));
    };
    if sender != requester && !(settings.allow_colleagues && contract.enables(&sender)) {
        return Err((
            Rejection::SenderNotEnabled,
            RejectionText::SenderNotEnabled {
                sender: sender.clone(),
                requester,
            },
        ));
    }
    match contract.standing(msg.received_at) {
        Standing::InForce => {}
        Standing::NotYetValid => {
            return Err((
                Rejection::ContractNotYetValid,
                RejectionText::ContractNotYetValid {
                    requester,
                    from: contract.valid_from,
                },
            ));
        }
        Standing::Expired => {
            return Err((
                Rejection::ContractExpired,
                RejectionText::ContractExpired {
                    requester,
                    until: contract.valid_until,
                },
            ));
        }
        Standing::Disabled => {
            return Err((
                Rejection::ContractDisabled,
                RejectionText::ContractDisabled { requester },
            ));
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
        return Err((reason, text));
    }

    Ok(open_ticket(
        msg, facts, settings, contract, requester, sender, &own,
    ))
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
    let code = facts.next_code.clone();
    let at = msg.received_at;
    let summary = body::summary(own_text, SUMMARY_CHARS);
    let calendar = &settings.calendar;
    let urgent = is_urgent(own_text);
    let open_now = calendar.is_open(at);
    let examined = if open_now {
        Examined::Now
    } else {
        Examined::From(calendar.next_opening(at))
    };
    let oncall = (urgent && !open_now)
        .then_some(settings.oncall.as_ref())
        .flatten();
    let first_contact_due = calendar.add_office_time(at, settings.first_contact);
    let colleague = (sender != requester).then_some(&sender);
    let greeting_name = if colleague.is_none() {
        msg.from_name.as_deref()
    } else {
        None
    };
    let ack = templates::ack(&AckText {
        code: &code,
        requester: &requester,
        sender: colleague,
        greeting_name,
        summary: &summary,
        office_hours: &templates::office_hours(calendar),
        examined,
        urgent_after_hours: urgent && !open_now,
        support_address: &settings.support_address,
        signature: &settings.signature,
    });
    let mut effects = vec![
        Effect::OpenTicket(NewTicket {
            code: code.clone(),
            contract_id: contract.id,
            requester: requester.clone(),
            sender: sender.clone(),
            summary,
            text: own_text.to_string(),
            opened_at: at,
            ack_due_at: at + ACK_PROMISE,
            status: TicketStatus::new(urgent, first_contact_due),
        }),
        Effect::Log(Event {
            code: code.clone(),
            at,
            actor: sender.to_string(),
            kind: EventKind::Opened,
            detail: if urgent {
                "URGENTE".into()
            } else {
                String::new()
            },
        }),
        Effect::Send(OutgoingMail {
            cc: colleague.into_iter().cloned().collect(),
            in_reply_to: msg.message_id.clone(),
            references: thread(msg),
            ..OutgoingMail::new(MailKind::Ack, Some(&code), vec![requester.clone()], ack)
        }),
    ];
    let brief = TicketBrief {
        code: &code,
        customer: &contract.customer,
        contract_until: contract.valid_until,
        requester: &requester,
        sender: &sender,
        received_at: at,
        text: own_text,
        urgent,
        open_now,
        first_contact_due,
        signature: &settings.signature,
    };
    let queue = settings.queue_addresses();
    if !queue.is_empty() {
        let text = templates::queue_notice(&brief, &settings.support_address);
        effects.push(Effect::Send(OutgoingMail {
            attachments: msg.attachments.clone(),
            ..OutgoingMail::new(MailKind::QueueNotice, Some(&code), queue, text)
        }));
    }
    if let Some(oncall) = oncall {
        let text = templates::oncall_notice(&brief, &settings.support_address);
        effects.push(Effect::Log(Event {
            code: code.clone(),
            at,
            actor: super::timers::SYSTEM.into(),
            kind: EventKind::OnCallNotified,
            detail: oncall.to_string(),
        }));
        effects.push(Effect::Send(OutgoingMail {
            attachments: msg.attachments.clone(),
            ..OutgoingMail::new(MailKind::OnCall, Some(&code), vec![oncall.clone()], text)
        }));
    }
    Decision::new(Outcome::NewTicket(code), effects)
}
