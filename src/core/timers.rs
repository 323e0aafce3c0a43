//! What the scheduler does when a ticket's deadline passes (SPEC "Time rules survive
//! restarts"): the queue is reminded once when nobody has taken a ticket in time, and a
//! closed ticket whose reopen window has run out is closed for good. The deadlines are
//! stored with the ticket, so a restart loses none of them.

use chrono::{DateTime, Utc};

use super::decide::{Effect, MailKind, OutgoingMail, Settings};
use super::templates;
use super::ticket::{Deadline, Event, EventKind, TicketFacts, TicketState};

/// Who the scheduler is in the history.
pub const SYSTEM: &str = "sistema";

/// The effects owed by `ticket` at `now`; empty when nothing is due.
pub fn due(ticket: &TicketFacts, now: DateTime<Utc>, settings: &Settings) -> Vec<Effect> {
    let mut status = ticket.status.clone();
    match status.next_deadline() {
        Some(Deadline::ReopenWindow(until)) if until <= now => {
            status.state = TicketState::Closed;
            vec![
                Effect::UpdateTicket {
                    ticket_id: ticket.id,
                    status,
                },
                Effect::Log(Event {
                    code: ticket.code.clone(),
                    at: until,
                    actor: SYSTEM.into(),
                    kind: EventKind::ClosedForGood,
                    detail: String::new(),
                }),
            ]
        }
        Some(Deadline::FirstContact(due_at)) if due_at <= now => {
            status.reminded_at = Some(now);
            let to = settings.handlers(ticket);
            let mut effects = vec![
                Effect::UpdateTicket {
                    ticket_id: ticket.id,
                    status,
                },
                Effect::Log(Event {
                    code: ticket.code.clone(),
                    at: now,
                    actor: SYSTEM.into(),
                    kind: EventKind::Reminded,
                    detail: to
                        .iter()
                        .map(|a| a.to_string())
                        .collect::<Vec<_>>()
                        .join(", "),
                }),
            ];
            if !to.is_empty() {
                effects.push(Effect::Send(OutgoingMail::new(
                    MailKind::Reminder,
                    Some(&ticket.code),
                    to,
                    templates::reminder(ticket, due_at, &settings.signature),
                )));
            }
            effects
        }
        _ => vec![],
    }
}
