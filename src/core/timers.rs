//! What the scheduler does when a ticket's deadline passes (SPEC "Time rules survive
//! restarts"): the queue is reminded once when nobody has taken a ticket in time, and a
//! closed ticket whose reopen window has run out is closed for good. The deadlines are
//! stored with the ticket, so a restart loses none of them.

use chrono::{DateTime, Utc};

use super::decision::{Effect, MailKind, OutgoingMail, Settings, SYSTEM};
use super::templates;
use super::ticket::{Deadline, Event, Happened, Moves, TicketFacts};

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
        Some(Deadline::ReopenWindow(until)) => (moves.close_for_good(), until, None),
        Some(Deadline::FirstContact(due_at)) => {
            let to = settings.handlers(ticket);
            let who: Vec<String> = to.iter().map(|a| a.to_string()).collect();
            let mail = (!to.is_empty()).then(|| {
                let text = templates::reminder(ticket, due_at, settings);
                OutgoingMail::new(MailKind::Reminder, Some(&ticket.code), to, text)
            });
            (moves.remind(who.join(", ")), now, mail)
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
    effects.extend(mail.map(Effect::Send));
    effects
}
