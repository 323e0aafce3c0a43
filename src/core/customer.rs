//! A customer's mail on an existing ticket (SPEC rule 9 and "Customer correspondence"):
//! recorded and forwarded while the ticket is open, a reopen within the window, a polite
//! refusal after it. The window is judged on the time the mailbox received the reply, so
//! a reply that arrived in time reopens the ticket even if the daemon handles it late.

use super::address::Address;
use super::body;
use super::decision::{Decision, Effect, MailKind, Outcome, OutgoingMail, Settings};
use super::inbound::Inbound;
use super::templates::{self, CustomerReplyText};
use super::ticket::{Event, EventKind, Happened, Moves, TicketFacts, TicketState};

/// Decides on a reply from `sender`, an address of the ticket's contract.
pub fn reply(
    msg: &Inbound,
    ticket: &TicketFacts,
    settings: &Settings,
    sender: &Address,
) -> Decision {
    let at = msg.received_at;
    let own = body::own_text(&msg.text);
    let log = |h: Happened| {
        Effect::Log(Event {
            code: ticket.code.clone(),
            at,
            actor: sender.to_string(),
            kind: h.kind,
            detail: h.detail,
        })
    };
    let ctx = CustomerReplyText {
        ticket,
        sender,
        text: &own,
        received_at: at,
        settings,
    };
    let to_handlers = |kind, text| {
        let to = settings.handlers(ticket);
        Effect::Send(OutgoingMail::new(kind, Some(&ticket.code), to, text).with_attachments_of(msg))
    };
    let to_sender = |kind, text| {
        let to = vec![sender.clone()];
        Effect::Send(OutgoingMail::new(kind, Some(&ticket.code), to, text).answering(msg))
    };
    let mut effects = vec![Effect::AppendToTicket {
        code: ticket.code.clone(),
        text: own.clone(),
    }];
    if matches!(ticket.status.state, TicketState::Open | TicketState::Taken) {
        effects.push(log(Happened::new(EventKind::CustomerReply, "")));
        effects.push(to_handlers(MailKind::Forward, templates::forward(&ctx)));
        return Decision::new(Outcome::TicketUpdate(ticket.code.clone()), effects);
    }
    let mut moves = Moves::new(&ticket.status, at);
    match moves.reopen_by_customer() {
        Ok(happened) => {
            if let Some(status) = moves.changed() {
                effects.push(Effect::UpdateTicket {
                    code: ticket.code.clone(),
                    status: status.clone(),
                });
            }
            effects.extend(happened.into_iter().map(log));
            effects.push(to_handlers(
                MailKind::ReopenNotice,
                templates::reopen_notice(&ctx),
            ));
            effects.push(to_sender(MailKind::Reopened, templates::reopened(&ctx)));
            Decision::new(Outcome::Reopened(ticket.code.clone()), effects)
        }
        Err(_) => {
            effects.push(log(Happened::new(EventKind::ReopenRefused, "")));
            effects.push(to_sender(
                MailKind::ReopenRefused,
                templates::reopen_refused(&ctx),
            ));
            Decision::new(Outcome::ReopenRefused(ticket.code.clone()), effects)
        }
    }
}
