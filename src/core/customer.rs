//! A customer's mail on an existing ticket (SPEC rule 9 and "Customer correspondence"):
//! recorded and forwarded while the ticket is open, a reopen within the window, a polite
//! refusal after it. The window is judged on the time the mailbox received the reply, so
//! a reply that arrived in time reopens the ticket even if the daemon handles it late.

use super::address::Address;
use super::body;
use super::decide::{Decision, Effect, MailKind, Outcome, OutgoingMail, Settings};
use super::inbound::Inbound;
use super::templates::{self, CustomerReplyText};
use super::ticket::{Event, EventKind, TicketFacts, TicketState};

/// Most Message-IDs put in `References`: the first and the latest ones.
const MAX_REFERENCES: usize = 10;

/// Decides on a reply from `sender`, an address of the ticket's contract.
pub fn reply(
    msg: &Inbound,
    ticket: &TicketFacts,
    settings: &Settings,
    sender: &Address,
) -> Decision {
    let at = msg.received_at;
    let own = body::own_text(&msg.text);
    let st = &ticket.status;
    let log = |kind: EventKind| {
        Effect::Log(Event {
            code: ticket.code.clone(),
            at,
            actor: sender.to_string(),
            kind,
            detail: String::new(),
        })
    };
    let append = Effect::AppendToTicket {
        ticket_id: ticket.id,
        text: own.clone(),
    };
    let ctx = CustomerReplyText {
        ticket,
        sender,
        text: &own,
        received_at: at,
        support_address: &settings.support_address,
        signature: &settings.signature,
    };
    let in_window = st.reopen_until.is_some_and(|until| at < until);
    match st.state {
        TicketState::Open | TicketState::Taken => Decision::new(
            Outcome::TicketUpdate(ticket.code.clone()),
            vec![
                append,
                log(EventKind::CustomerReply),
                to_handlers(
                    MailKind::Forward,
                    ticket,
                    settings,
                    templates::forward(&ctx),
                    msg,
                ),
            ],
        ),
        TicketState::Resolved | TicketState::Closed if in_window => {
            let mut status = st.clone();
            status.state = if status.operator.is_some() {
                TicketState::Taken
            } else {
                TicketState::Open
            };
            status.closed_at = None;
            status.reopen_until = None;
            Decision::new(
                Outcome::Reopened(ticket.code.clone()),
                vec![
                    append,
                    Effect::UpdateTicket {
                        ticket_id: ticket.id,
                        status,
                    },
                    log(EventKind::Reopened),
                    to_handlers(
                        MailKind::ReopenNotice,
                        ticket,
                        settings,
                        templates::reopen_notice(&ctx),
                        msg,
                    ),
                    to_customer(
                        MailKind::Reopened,
                        ticket,
                        sender,
                        templates::reopened(&ctx),
                        msg,
                    ),
                ],
            )
        }
        TicketState::Resolved | TicketState::Closed => Decision::new(
            Outcome::ReopenRefused(ticket.code.clone()),
            vec![
                append,
                log(EventKind::ReopenRefused),
                to_customer(
                    MailKind::ReopenRefused,
                    ticket,
                    sender,
                    templates::reopen_refused(&ctx),
                    msg,
                ),
            ],
        ),
    }
}

fn to_handlers(
    kind: MailKind,
    ticket: &TicketFacts,
    settings: &Settings,
    text: (String, String),
    msg: &Inbound,
) -> Effect {
    Effect::Send(OutgoingMail {
        attachments: msg.attachments.clone(),
        ..OutgoingMail::new(kind, Some(&ticket.code), settings.handlers(ticket), text)
    })
}

fn to_customer(
    kind: MailKind,
    ticket: &TicketFacts,
    to: &Address,
    text: (String, String),
    msg: &Inbound,
) -> Effect {
    Effect::Send(OutgoingMail {
        in_reply_to: msg.message_id.clone(),
        references: super::decide::thread(msg),
        ..OutgoingMail::new(kind, Some(&ticket.code), vec![to.clone()], text)
    })
}

impl TicketFacts {
    /// `In-Reply-To` and `References` for a new mail to the customer: the customer's side
    /// of the thread (their messages and what we sent them), so their mail client shows
    /// one conversation and their reply finds the ticket.
    pub fn customer_thread(&self) -> (Option<String>, Vec<String>) {
        let ids: Vec<String> = self
            .thread
            .iter()
            .filter(|e| is_customer_side(e.outgoing, &e.kind))
            .filter_map(|e| e.message_id.clone())
            .collect();
        let last = ids.last().cloned();
        let refs = if ids.len() > MAX_REFERENCES {
            let mut r = vec![ids[0].clone()];
            r.extend_from_slice(&ids[ids.len() - (MAX_REFERENCES - 1)..]);
            r
        } else {
            ids
        };
        (last, refs)
    }
}

/// Whether a thread entry passed between the customer and the desk.
fn is_customer_side(outgoing: bool, kind: &str) -> bool {
    const KINDS_OUT: [MailKind; 5] = [
        MailKind::Ack,
        MailKind::Relay,
        MailKind::Closure,
        MailKind::Reopened,
        MailKind::ReopenRefused,
    ];
    if outgoing {
        KINDS_OUT.iter().any(|k| k.name() == kind)
    } else {
        matches!(kind, "ticket" | "update" | "reopened" | "reopen_refused")
    }
}
