//! `decide`: one inbound message, the stored facts it touches, and the settings in; one
//! decision out. No I/O, no clock: the time is the message's `received_at`, so the same
//! input always gives the same decision.
//!
//! This file only dispatches: the first checks every message goes through (junk, loops,
//! operators, size), then the rule file that judges it — `bounce` for delivery reports,
//! `operators` for authenticated operator mail, `customer` for replies on a ticket,
//! `request` for new requests. The words they share are in `decision`; deadlines go to
//! `timers` without passing here.
//!
//! A submission of the portal's form comes here as an `Inbound` of channel `Web` and meets
//! the same checks and rules; where a mail's own parts would be read, it reads the form's
//! fields (`Inbound::requester_field`), and it is always a new request.

use super::address::Address;
use super::auth;
use super::body;
use super::bounce;
use super::commands::{self, Command};
use super::customer;
use super::decision::{
    Decision, Effect, Facts, MailKind, Outcome, OutgoingMail, Quarantine, Rejection, Settings,
    Wanted,
};
use super::inbound::Inbound;
use super::limit;
use super::operators;
use super::request;
use super::templates::{self, RejectionContext};
use super::ticket::TicketCode;

/// The lookups `decide` needs for this message.
pub fn wanted(msg: &Inbound, settings: &Settings) -> Wanted {
    let mut addresses = Vec::new();
    if let Some(from) = &msg.from {
        addresses.push(from.clone());
    }
    if let Ok(requester) = super::address::subject_address(msg.requester_field()) {
        if !addresses.contains(&requester) {
            addresses.push(requester);
        }
    }
    // A form submission is always a new request: a ticket code typed in its reference or
    // its text names no ticket to add to (the customer replies to the ack for that).
    if msg.is_web() {
        return Wanted {
            addresses,
            ..Wanted::default()
        };
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
        merge_into: merge_target(msg, settings),
    }
}

/// The ticket an operator's `#unisci` names, so the shell loads it too; whether the sender
/// is an operator is judged later, and a customer's `#unisci` is only text.
fn merge_target(msg: &Inbound, settings: &Settings) -> Option<TicketCode> {
    let word = b"#unisci";
    let named = msg
        .text
        .as_bytes()
        .windows(word.len())
        .any(|w| w.eq_ignore_ascii_case(word));
    if !named {
        return None;
    }
    let parsed = commands::parse(&body::own_text(&msg.text)).ok()?;
    parsed.commands.iter().find_map(|c| match c {
        Command::Merge(code) => TicketCode::parse(code, &settings.code_prefix),
        _ => None,
    })
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
        .and_then(|b| bounce::about_a_ticket(msg, b, facts, settings))
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

    let warning = match as_operator(msg, facts, settings, &sender) {
        Ok(decision) => return decision,
        Err(warning) => warning,
    };
    let mut decision = from_customer(msg, facts, settings, sender.clone());
    let held = limit::limit_replies(
        &mut decision.effects,
        &facts.replies_last_hour,
        settings.max_replies_per_hour,
    );
    decision.warning = match (warning, held) {
        (Some(w), Some(h)) => Some(format!("{w}; {h}")),
        (w, h) => w.or(h),
    };
    decision
}

/// Operators act only when our own server vouches for them: their commands, decided. Any
/// other mail is ordinary mail, `Err` with what the log should say of it (None when the
/// sender is no operator). Anyone may type an operator's address in the form, and nothing
/// vouches for it.
fn as_operator(
    msg: &Inbound,
    facts: &Facts,
    settings: &Settings,
    sender: &Address,
) -> Result<Decision, Option<String>> {
    let Some(op) = settings.operator_by_address(sender) else {
        return Err(None);
    };
    if msg.is_web() {
        return Err(Some(format!(
            "possible spoof: a form submission gave operator {}'s address <{sender}>; \
             treated as a customer's request",
            op.name
        )));
    }
    let verdict = auth::check(&msg.auth_results, &settings.trusted_authserv_ids, sender);
    if verdict.passed() {
        return Ok(operators::message(msg, facts, settings, op));
    }
    Err(Some(format!(
        "possible spoof: mail from operator {} <{sender}> is not vouched for by a trusted \
         Authentication-Results header ({verdict:?}); treated as ordinary mail",
        op.name
    )))
}

/// Mail from anyone but an authenticated operator: a reply on a ticket or a new request.
fn from_customer(msg: &Inbound, facts: &Facts, settings: &Settings, sender: Address) -> Decision {
    // Past this point a reply is possible, but only to an address a contract knows.
    let sender_known = facts.contracts.iter().any(|c| c.enables(&sender));
    let reject = |reason: Rejection| {
        if sender_known {
            let mail = rejection_mail(msg, &sender, &reason, settings);
            Decision::new(Outcome::Rejected(reason), vec![Effect::Send(mail)])
        } else {
            Decision::new(Outcome::Quarantined(Quarantine::UnknownSender), vec![])
        }
    };

    if msg.size > settings.max_message_bytes {
        return reject(Rejection::TooLarge {
            size: msg.size,
            limit: settings.max_message_bytes,
        });
    }
    // A form submission never replies on a ticket (see `wanted`), whatever it contains.
    let web = msg.is_web();
    if let Some(ticket) = facts.ticket.as_ref().filter(|_| !web) {
        if ticket.contract.enables(&sender) {
            return customer::reply(msg, ticket, settings, &sender);
        }
        return reject(Rejection::UnknownTicket {
            code: ticket.code.clone(),
        });
    }
    if let Some(code) = TicketCode::find(&msg.subject, &settings.code_prefix).filter(|_| !web) {
        return reject(Rejection::UnknownTicket { code });
    }
    match request::new_request(msg, facts, settings, sender.clone()) {
        Ok(decision) => decision,
        Err(reason) => reject(reason),
    }
}

fn rejection_mail(
    msg: &Inbound,
    to: &Address,
    reason: &Rejection,
    settings: &Settings,
) -> OutgoingMail {
    let text = templates::rejection(
        reason,
        &RejectionContext {
            to,
            original_subject: &msg.subject,
            received_at: msg.received_at,
            channel: &msg.channel,
            settings,
        },
    );
    OutgoingMail::new(MailKind::Rejection, None, vec![to.clone()], text).answering(msg)
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
