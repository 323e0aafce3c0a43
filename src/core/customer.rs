//! A customer's mail on an existing ticket (SPEC rule 9 and "Customer correspondence"):
//! recorded and forwarded while the ticket is open, a reopen within the window, a polite
//! refusal after it. The window is judged on the time the mailbox received the reply, so
//! a reply that arrived in time reopens the ticket even if the daemon handles it late.

use super::address::Address;
use super::approval::{self, Answer};
use super::body;
use super::decision::{Decision, Effect, MailKind, Outcome, OutgoingMail, Settings};
use super::inbound::Inbound;
use super::participants;
use super::templates::{self, CustomerReplyText};
use super::texts::Text;
use super::ticket::{Event, EventKind, Happened, Moves, TicketFacts};

/// Decides on a reply from `sender`, an address of the ticket's contract.
pub fn reply(
    msg: &Inbound,
    ticket: &TicketFacts,
    settings: &Settings,
    sender: &Address,
) -> Decision {
    let at = msg.received_at;
    let own = body::own_text(&msg.text);
    let ctx = CustomerReplyText {
        ticket,
        sender,
        text: &own,
        received_at: at,
        settings,
    };
    let log = |h: Happened| logged(ticket, &ctx, h);
    let to_sender = |kind, text| {
        let to = vec![sender.clone()];
        Effect::Send(OutgoingMail::new(kind, Some(&ticket.code), to, text).answering(msg))
    };
    let mut effects = vec![Effect::AppendToTicket {
        code: ticket.code.clone(),
        text: own.clone(),
    }];
    effects.extend(copied_colleagues(msg, ticket, settings, sender, at));
    if ticket.status.state.is_active() {
        effects.extend(on_active_ticket(msg, &ctx));
        return Decision::new(Outcome::TicketUpdate(ticket.code.clone()), effects);
    }
    let mut moves = Moves::new(&ticket.status, at);
    match moves.reopen_by_customer() {
        Ok(happened) => {
            effects.extend(update(ticket, &moves));
            effects.extend(happened.into_iter().map(log));
            let notice = templates::reopen_notice(&ctx);
            effects.push(to_handlers(msg, &ctx, MailKind::ReopenNotice, notice));
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

/// A reply on a ticket being worked on: the answer to a quote, or an ordinary reply
/// forwarded to whoever handles it (which ends a wait for the customer).
fn on_active_ticket(msg: &Inbound, ctx: &CustomerReplyText<'_>) -> Vec<Effect> {
    let ticket = ctx.ticket;
    let mut moves = Moves::new(&ticket.status, msg.received_at);
    if let Some(answered) = quote_answer(msg, ticket, ctx, &mut moves) {
        return answered;
    }
    let mut effects = vec![];
    if let Ok(happened) = moves.customer_writes() {
        effects.extend(update(ticket, &moves));
        effects.extend(happened.into_iter().map(|h| logged(ticket, ctx, h)));
    }
    let not_copied = participants::strangers(msg, &ticket.contract, ctx.settings);
    let text = templates::forward(ctx, &not_copied);
    effects.push(to_handlers(msg, ctx, MailKind::Forward, text));
    effects
}

/// A history line of the ticket, written by the customer who replied.
fn logged(ticket: &TicketFacts, ctx: &CustomerReplyText<'_>, h: Happened) -> Effect {
    Effect::Log(Event {
        code: ticket.code.clone(),
        at: ctx.received_at,
        actor: ctx.sender.to_string(),
        kind: h.kind,
        detail: h.detail,
    })
}

/// A mail to whoever handles the ticket, with the reply's attachments.
fn to_handlers(msg: &Inbound, ctx: &CustomerReplyText<'_>, kind: MailKind, text: Text) -> Effect {
    let ticket = ctx.ticket;
    let to = ctx.settings.handlers(ticket);
    Effect::Send(OutgoingMail::new(kind, Some(&ticket.code), to, text).with_attachments_of(msg))
}

/// The ticket's new status, when the moves changed it.
fn update(ticket: &TicketFacts, moves: &Moves) -> Option<Effect> {
    moves.changed().map(|status| Effect::UpdateTicket {
        code: ticket.code.clone(),
        status: status.clone(),
    })
}

/// ACCETTO or RIFIUTO on the first line of a reply, while a quote waits for it: the
/// decision recorded, the customer acknowledged, the operator told. None for any other
/// reply, which is an ordinary one.
fn quote_answer(
    msg: &Inbound,
    ticket: &TicketFacts,
    ctx: &CustomerReplyText<'_>,
    moves: &mut Moves,
) -> Option<Vec<Effect>> {
    let quote = ticket.pending_quote.as_ref()?;
    let accepted = approval::read(&msg.text)? == Answer::Accepted;
    let detail = format!("{} ({})", templates::euro(quote.amount_cents), ctx.sender);
    let happened = moves.answer_quote(accepted, detail).ok()?;
    let mut effects = vec![Effect::AnswerQuote {
        code: ticket.code.clone(),
        accepted,
        by: ctx.sender.clone(),
        at: msg.received_at,
    }];
    effects.extend(update(ticket, moves));
    effects.extend(happened.into_iter().map(|h| logged(ticket, ctx, h)));
    let answered = templates::quote_answered(ctx, quote, accepted);
    let to = vec![ctx.sender.clone()];
    let cc = everyone_else(ticket, ctx.sender);
    let mail = OutgoingMail {
        cc,
        ..OutgoingMail::new(MailKind::QuoteAnswered, Some(&ticket.code), to, answered)
    };
    effects.push(Effect::Send(mail.answering(msg)));
    let notice = templates::quote_notice(ctx, quote, accepted);
    effects.push(to_handlers(msg, ctx, MailKind::QuoteNotice, notice));
    Some(effects)
}

/// The requester and the participants but `sender`.
fn everyone_else(ticket: &TicketFacts, sender: &Address) -> Vec<Address> {
    std::iter::once(&ticket.requester)
        .chain(&ticket.participants)
        .filter(|a| *a != sender)
        .cloned()
        .collect()
}

/// Colleagues of the contract the customer copied (`To`, `Cc`) who are not copied on the
/// ticket yet: they are from now on.
fn copied_colleagues(
    msg: &Inbound,
    ticket: &TicketFacts,
    settings: &Settings,
    sender: &Address,
    at: chrono::DateTime<chrono::Utc>,
) -> Vec<Effect> {
    let mut effects = vec![];
    for address in participants::colleagues(msg, &ticket.contract, settings) {
        if address == ticket.requester || ticket.participants.contains(&address) {
            continue;
        }
        effects.push(Effect::Participant {
            code: ticket.code.clone(),
            address: address.clone(),
            added: true,
        });
        effects.push(Effect::Log(Event {
            code: ticket.code.clone(),
            at,
            actor: sender.to_string(),
            kind: EventKind::ParticipantAdded,
            detail: address.to_string(),
        }));
    }
    effects
}
