//! What the scheduler does when a ticket's deadline passes (SPEC "Time rules survive
//! restarts"): the queue is reminded once when nobody has taken a ticket in time, a
//! closed ticket whose reopen window has run out is closed for good, a customer the desk
//! waits for (`#attesa`, a quote) is reminded once, and a ticket that waited in vain after
//! that reminder is closed with the usual reopen window. The deadlines are
//! stored with the ticket, so a restart loses none of them.

use chrono::{DateTime, Utc};

use super::decision::{Effect, MailKind, OutgoingMail, Settings, SYSTEM};
use super::templates;
use super::texts;
use super::ticket::{Deadline, Event, Happened, Moves, TicketFacts, TicketState};

/// When a ticket waiting for the customer closes if they still do not answer: as planned
/// at `#attesa`, or, when the reminder goes out late (the daemon was stopped), as long
/// after the reminder as planned, so the customer always has the time the reminder gives.
fn later_closure(
    ticket: &TicketFacts,
    due_at: DateTime<Utc>,
    now: DateTime<Utc>,
    settings: &Settings,
) -> Option<DateTime<Utc>> {
    let planned = ticket.status.auto_close_at?;
    if now <= due_at {
        return Some(planned);
    }
    Some(settings.calendar.next_opening(planned + (now - due_at)))
}

/// A mail to the customer and whoever is copied, in the customer's thread.
fn to_customer(ticket: &TicketFacts, kind: MailKind, text: super::texts::Text) -> OutgoingMail {
    let to = vec![ticket.requester.clone()];
    OutgoingMail {
        cc: ticket.participants.clone(),
        ..OutgoingMail::new(kind, Some(&ticket.code), to, text)
    }
    .in_customer_thread(ticket)
}

/// The effects owed by `ticket` at `now`; empty when nothing is due.
pub fn due(ticket: &TicketFacts, now: DateTime<Utc>, settings: &Settings) -> Vec<Effect> {
    let mut moves = Moves::new(&ticket.status, now);
    let log = |at: DateTime<Utc>, h: Happened| {
        Effect::Log(Event {
            code: ticket.code.clone(),
            at,
            actor: SYSTEM.into(),
            kind: h.kind,
            detail: h.detail,
        })
    };
    let (happened, at, mail) = match ticket.status.next_deadline() {
        // Closed for good when the window ran out, whenever the scheduler gets to it.
        Some(Deadline::ReopenWindow(until)) => (moves.close_for_good(), until, vec![]),
        Some(Deadline::FirstContact(due_at)) => {
            let to = settings.handlers(ticket);
            let who: Vec<String> = to.iter().map(|a| a.to_string()).collect();
            let mail = (!to.is_empty()).then(|| {
                let text = templates::reminder(ticket, due_at, settings);
                OutgoingMail::new(MailKind::Reminder, Some(&ticket.code), to, text)
            });
            (
                moves.remind(who.join(", ")),
                now,
                mail.into_iter().collect(),
            )
        }
        Some(Deadline::CustomerReminder(due_at)) => {
            let close_at = later_closure(ticket, due_at, now, settings);
            let text = templates::customer_reminder(ticket, close_at, settings);
            let mail = to_customer(ticket, MailKind::CustomerReminder, text);
            let detail = match ticket.status.state {
                TicketState::AwaitingApproval => "preventivo",
                _ => "attesa",
            };
            (
                moves.remind_customer(detail.into(), close_at),
                now,
                vec![mail],
            )
        }
        Some(Deadline::AutoClose(_)) => {
            let until = now + settings.reopen_window;
            let detail = format!(
                "senza risposta del cliente; riapribile fino {}",
                texts::article(&templates::italian_datetime(until), "al ", "all'")
            );
            let moved = moves.close_unanswered(until, detail);
            (moved, now, closed_unanswered(ticket, until, settings))
        }
        None => return vec![],
    };
    let (Ok(happened), Some(status)) = (happened, moves.changed()) else {
        return vec![];
    };
    let mut effects = vec![Effect::UpdateTicket {
        code: ticket.code.clone(),
        status: status.clone(),
    }];
    effects.extend(happened.into_iter().map(|h| log(at, h)));
    effects.extend(mail.into_iter().map(Effect::Send));
    effects
}

/// The closure to the customer who never answered, and the notice to whoever handled the
/// ticket: it left their list without anyone closing it.
fn closed_unanswered(
    ticket: &TicketFacts,
    reopen_until: DateTime<Utc>,
    settings: &Settings,
) -> Vec<OutgoingMail> {
    let text = templates::closure_unanswered(ticket, settings, reopen_until);
    let mut mails = vec![to_customer(ticket, MailKind::Closure, text)];
    let to = settings.handlers(ticket);
    if !to.is_empty() {
        let text = templates::unanswered_notice(ticket, reopen_until, settings);
        let notice = OutgoingMail::new(MailKind::UnansweredNotice, Some(&ticket.code), to, text);
        mails.push(notice);
    }
    mails
}
