//! Reports that one of our mails was not delivered (RFC 3464 delivery status
//! notifications). A bounce is never answered: replying to a mailer-daemon is how
//! backscatter and loops start. When it returns a mail of a ticket and says the delivery
//! failed for good, it is recorded in the ticket's history and whoever handles the ticket
//! is told, so the customer can be reached another way. Any other report (a delay, a
//! bounce of mail we cannot place) goes to quarantine with the rest of the automated mail.

use super::decision::{Decision, Effect, Facts, MailKind, Outcome, OutgoingMail, Settings, SYSTEM};
use super::inbound::{Bounce, Inbound};
use super::templates;
use super::ticket::{Event, EventKind};

/// The decision for a bounce about a ticket's mail, or `None` to let the usual rules
/// (which quarantine automated mail) decide.
pub fn about_a_ticket(
    msg: &Inbound,
    bounce: &Bounce,
    facts: &Facts,
    settings: &Settings,
) -> Option<Decision> {
    let ticket = facts.ticket.as_ref()?;
    let original = bounce.original_message_id.as_ref()?;
    // Only a report returning one of our own mails: its Message-ID is in our domain.
    let ours = original
        .rsplit_once('@')
        .is_some_and(|(_, domain)| domain.eq_ignore_ascii_case(settings.support_address.domain()));
    if !ours || !bounce.failed() {
        return None;
    }
    let detail = [
        bounce.recipient.as_deref(),
        bounce.status.as_deref(),
        bounce.diagnostic.as_deref(),
    ]
    .into_iter()
    .flatten()
    .collect::<Vec<_>>()
    .join(" — ");
    let mut effects = vec![Effect::Log(Event {
        code: ticket.code.clone(),
        at: msg.received_at,
        actor: SYSTEM.into(),
        kind: EventKind::Bounced,
        detail,
    })];
    let to = settings.handlers(ticket);
    if !to.is_empty() {
        effects.push(Effect::Send(OutgoingMail::new(
            MailKind::BounceNotice,
            Some(&ticket.code),
            to,
            templates::bounce_notice(ticket, bounce, settings),
        )));
    }
    Some(Decision::new(
        Outcome::Bounced(ticket.code.clone()),
        effects,
    ))
}
