//! Mail from an authenticated operator (SPEC rules 7–9): commands at the top, then text
//! that is relayed to the customer, kept as a note, handed to a colleague or team, or
//! sent as the closing message. Either the whole message applies or nothing does, and
//! the operator is told why.

use super::address::Address;
use super::body;
use super::commands::{self, Command};
use super::decide::{
    Decision, Effect, Facts, MailKind, NotNow, Outcome, OutgoingMail, Refusal, Settings,
};
use super::inbound::Inbound;
use super::templates::{self, OperatorText};
use super::ticket::{Event, EventKind, TicketCode, TicketFacts, TicketState};

/// An operator from the config.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Operator {
    /// The short name used by `#assegna NAME` and shown in the history.
    pub name: String,
    /// The first address is where the daemon writes to them.
    pub addresses: Vec<Address>,
    /// 1 (first level) or 2 (second level).
    pub level: u8,
    /// `primo-livello`, `programmatori`, `sistemisti` …
    pub team: String,
}

impl Operator {
    /// Where mail for this operator goes.
    pub fn address(&self) -> Option<&Address> {
        self.addresses.first()
    }
}

impl Settings {
    /// The operator called `name` (or with that address), without regard to case.
    pub fn operator_named(&self, name: &str) -> Option<&Operator> {
        let name = name.trim();
        self.operators.iter().find(|o| {
            o.name.eq_ignore_ascii_case(name)
                || o.addresses
                    .iter()
                    .any(|a| a.as_str().eq_ignore_ascii_case(name))
        })
    }

    /// The members of a second-level team.
    pub fn team(&self, team: &str) -> Vec<&Operator> {
        self.operators
            .iter()
            .filter(|o| o.level == 2 && o.team.eq_ignore_ascii_case(team.trim()))
            .collect()
    }

    /// Every second-level team, for help texts.
    pub fn teams(&self) -> Vec<&str> {
        let mut teams: Vec<&str> = self
            .operators
            .iter()
            .filter(|o| o.level == 2)
            .map(|o| o.team.as_str())
            .collect();
        teams.sort_unstable();
        teams.dedup();
        teams
    }

    /// Who handles a ticket now: the operator in charge, else the team it was escalated
    /// to, else the first-level queue.
    pub fn handlers(&self, ticket: &TicketFacts) -> Vec<Address> {
        let st = &ticket.status;
        if let Some(a) = st
            .operator
            .as_deref()
            .and_then(|n| self.operator_named(n))
            .and_then(Operator::address)
        {
            return vec![a.clone()];
        }
        if let Some(team) = &st.team {
            let members: Vec<Address> = self
                .team(team)
                .iter()
                .filter_map(|o| o.address().cloned())
                .collect();
            if !members.is_empty() {
                return members;
            }
        }
        self.queue_addresses()
    }
}

/// Decides on a message from `op`, whose server vouched for them.
pub fn message(msg: &Inbound, facts: &Facts, settings: &Settings, op: &Operator) -> Decision {
    let refuse =
        |refusal: Refusal, code: Option<&TicketCode>| refused(msg, settings, op, refusal, code);
    let Some(ticket) = &facts.ticket else {
        return match TicketCode::find(&msg.subject, &settings.code_prefix) {
            Some(code) => refuse(Refusal::UnknownTicket(code.clone()), Some(&code)),
            None => refuse(Refusal::NoTicket, None),
        };
    };
    let code = Some(&ticket.code);
    if msg.size > settings.max_message_bytes {
        return refuse(Refusal::TooLarge, code);
    }
    let own = body::own_text(&msg.text);
    let parsed = match commands::parse(&own) {
        Ok(p) => p,
        Err(e) => return refuse(Refusal::BadCommand(e), code),
    };
    if parsed.commands.is_empty() && parsed.text.is_empty() && msg.attachments.is_empty() {
        return refuse(Refusal::Empty, code);
    }
    if let Some(refusal) = check(&parsed.commands, ticket, settings, op) {
        return refuse(refusal, code);
    }

    let at = msg.received_at;
    let before = ticket.status.clone();
    let mut st = before.clone();
    let mut effects = vec![Effect::AppendToTicket {
        ticket_id: ticket.id,
        text: own.clone(),
    }];
    let log = |kind: EventKind, detail: String| {
        Effect::Log(Event {
            code: ticket.code.clone(),
            at,
            actor: op.name.clone(),
            kind,
            detail,
        })
    };
    let text = parsed.text.as_str();
    let internal =
        parsed.has(|c| matches!(c, Command::Note | Command::Assign(_) | Command::Escalate(_)));
    let closing = parsed.has(|c| matches!(c, Command::Close { .. }));
    let ctx = OperatorText {
        ticket,
        operator: &op.name,
        text,
        support_address: &settings.support_address,
        signature: &settings.signature,
    };

    for command in &parsed.commands {
        match command {
            Command::Take => {
                if st.state == TicketState::Resolved {
                    st.closed_at = None;
                    st.reopen_until = None;
                    effects.push(log(EventKind::Reopened, "riaperto dall'operatore".into()));
                }
                st.state = TicketState::Taken;
                st.operator = Some(op.name.clone());
                st.first_contact_at.get_or_insert(at);
                effects.push(log(EventKind::Taken, String::new()));
            }
            Command::Assign(name) => {
                let Some(to) = settings.operator_named(name) else {
                    continue; // `check` refused unknown names already
                };
                st.state = TicketState::Taken;
                st.operator = Some(to.name.clone());
                st.first_contact_at.get_or_insert(at);
                effects.push(log(EventKind::Assigned, to.name.clone()));
                effects.push(send_to_operators(
                    MailKind::Assignment,
                    ticket,
                    to.address().into_iter().cloned().collect(),
                    templates::assignment(&ctx, &to.name),
                    msg,
                ));
            }
            Command::Escalate(team) => {
                let members = settings.team(team);
                let team_name = members.first().map_or(team.clone(), |o| o.team.clone());
                st.state = TicketState::Open;
                st.operator = None;
                st.level = 2;
                st.team = Some(team_name.clone());
                st.first_contact_at.get_or_insert(at);
                effects.push(log(EventKind::Escalated, team_name.clone()));
                effects.push(send_to_operators(
                    MailKind::Escalation,
                    ticket,
                    members
                        .iter()
                        .filter_map(|o| o.address().cloned())
                        .collect(),
                    templates::escalation(&ctx, &team_name),
                    msg,
                ));
            }
            Command::Urgent => {
                st.urgent = true;
                effects.push(log(EventKind::Urgent, String::new()));
            }
            Command::Note => {}
            Command::Close { hours } => {
                let window = hours
                    .map(|h| chrono::Duration::hours(i64::from(h)))
                    .unwrap_or(settings.reopen_window);
                let until = at + window;
                st.state = TicketState::Resolved;
                st.closed_at = Some(at);
                st.reopen_until = Some(until);
                st.operator.get_or_insert_with(|| op.name.clone());
                st.first_contact_at.get_or_insert(at);
                effects.push(log(
                    EventKind::Closed,
                    format!("riapribile fino al {}", templates::italian_datetime(until)),
                ));
                effects.push(send_to_customer(
                    MailKind::Closure,
                    ticket,
                    templates::closure(&ctx, until),
                    msg,
                ));
            }
        }
    }
    if internal && !text.is_empty() {
        effects.push(log(EventKind::Note, text.to_string()));
    }
    if !internal && !closing && (!text.is_empty() || !msg.attachments.is_empty()) {
        // The first answer of an operator on a ticket nobody has taken is taking it.
        if st.operator.is_none() {
            st.operator = Some(op.name.clone());
            st.state = TicketState::Taken;
            effects.push(log(EventKind::Taken, String::new()));
        }
        st.first_contact_at.get_or_insert(at);
        effects.push(log(EventKind::Answered, String::new()));
        effects.push(send_to_customer(
            MailKind::Relay,
            ticket,
            templates::relay(&ctx),
            msg,
        ));
    }
    if st != before {
        effects.insert(
            1,
            Effect::UpdateTicket {
                ticket_id: ticket.id,
                status: st,
            },
        );
    }
    Decision::new(Outcome::Command(ticket.code.clone()), effects)
}

/// Whether every command is possible on this ticket now; the first that is not says why.
fn check(
    commands: &[Command],
    ticket: &TicketFacts,
    settings: &Settings,
    op: &Operator,
) -> Option<Refusal> {
    let st = &ticket.status;
    let not_now = |c: &Command, why: NotNow| Refusal::NotNow {
        command: c.word(),
        why,
    };
    let first_word = || commands.first().map_or("risposta", Command::word);
    match st.state {
        TicketState::Closed => {
            return Some(Refusal::NotNow {
                command: first_word(),
                why: NotNow::ClosedForGood,
            })
        }
        TicketState::Resolved => {
            if let Some(c) = commands
                .iter()
                .find(|c| !matches!(c, Command::Take | Command::Note | Command::Urgent))
            {
                return Some(not_now(
                    c,
                    NotNow::Resolved {
                        reopen_until: st.reopen_until,
                    },
                ));
            }
        }
        TicketState::Open | TicketState::Taken => {}
    }
    for c in commands {
        match c {
            Command::Take => {
                if let Some(other) = st
                    .operator
                    .as_deref()
                    .filter(|n| !n.eq_ignore_ascii_case(&op.name))
                {
                    if st.state == TicketState::Taken {
                        return Some(not_now(c, NotNow::TakenBy(other.to_string())));
                    }
                }
            }
            Command::Assign(name) if settings.operator_named(name).is_none() => {
                return Some(Refusal::UnknownOperator(name.clone()));
            }
            Command::Escalate(team) if settings.team(team).is_empty() => {
                return Some(Refusal::UnknownTeam(team.clone()));
            }
            _ => {}
        }
    }
    None
}

/// The reply that tells an operator why nothing happened.
fn refused(
    msg: &Inbound,
    settings: &Settings,
    op: &Operator,
    refusal: Refusal,
    code: Option<&TicketCode>,
) -> Decision {
    let text = templates::command_refused(&refusal, code, &op.name, settings);
    let to = msg
        .from
        .clone()
        .or_else(|| op.address().cloned())
        .into_iter()
        .collect();
    Decision::new(
        Outcome::CommandRefused(refusal),
        vec![Effect::Send(OutgoingMail {
            in_reply_to: msg.message_id.clone(),
            references: super::decide::thread(msg),
            ..OutgoingMail::new(MailKind::CommandRefused, None, to, text)
        })],
    )
}

/// A mail to the customer in the customer's thread, with the operator's attachments.
fn send_to_customer(
    kind: MailKind,
    ticket: &TicketFacts,
    text: (String, String),
    msg: &Inbound,
) -> Effect {
    let (in_reply_to, references) = ticket.customer_thread();
    Effect::Send(OutgoingMail {
        in_reply_to,
        references,
        attachments: msg.attachments.clone(),
        ..OutgoingMail::new(
            kind,
            Some(&ticket.code),
            vec![ticket.requester.clone()],
            text,
        )
    })
}

/// A mail to operators, answering the operator's message, with its attachments.
fn send_to_operators(
    kind: MailKind,
    ticket: &TicketFacts,
    to: Vec<Address>,
    text: (String, String),
    msg: &Inbound,
) -> Effect {
    Effect::Send(OutgoingMail {
        in_reply_to: msg.message_id.clone(),
        references: super::decide::thread(msg),
        attachments: msg.attachments.clone(),
        ..OutgoingMail::new(kind, Some(&ticket.code), to, text)
    })
}
