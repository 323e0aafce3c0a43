//! Mail from an authenticated operator (SPEC rules 7–9): commands at the top, then text
//! that is relayed to the customer, kept as a note, handed to a colleague or team, or
//! sent as the closing message. Either the whole message applies or nothing does, and
//! the operator is told why: the ticket's state machine (`ticket::Moves`) judges every
//! move, this file turns the moves into history lines and mails.

use super::address::Address;
use super::body;
use super::commands::{self, Command, OperatorMessage};
use super::decision::{
    Decision, Effect, Facts, MailKind, Operator, Outcome, OutgoingMail, Refusal, Settings,
};
use super::inbound::Inbound;
use super::templates::{self, OperatorText};
use super::texts::Text;
use super::ticket::{Event, Happened, Moves, NotNow, TicketCode, TicketFacts};

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
    let mut work = Work {
        msg,
        settings,
        op,
        ticket,
        moves: Moves::new(&ticket.status, msg.received_at),
        effects: vec![Effect::AppendToTicket {
            code: ticket.code.clone(),
            text: own.clone(),
        }],
    };
    match work.apply(&parsed) {
        Ok(()) => Decision::new(Outcome::Command(ticket.code.clone()), work.finish()),
        Err(refusal) => refuse(refusal, code),
    }
}

/// One operator message being made on a ticket: the moves so far and their effects.
struct Work<'a> {
    msg: &'a Inbound,
    settings: &'a Settings,
    op: &'a Operator,
    ticket: &'a TicketFacts,
    moves: Moves,
    effects: Vec<Effect>,
}

impl Work<'_> {
    /// Every command, then the note or the answer; the first move that is not possible
    /// refuses the whole message.
    fn apply(&mut self, parsed: &OperatorMessage) -> Result<(), Refusal> {
        for command in &parsed.commands {
            self.command(command, &parsed.text)?;
        }
        let text = parsed.text.as_str();
        let internal =
            parsed.has(|c| matches!(c, Command::Note | Command::Assign(_) | Command::Escalate(_)));
        let closing = parsed.has(|c| matches!(c, Command::Close { .. }));
        if internal && !text.is_empty() {
            self.log(vec![Happened::new(super::ticket::EventKind::Note, text)]);
        }
        if !internal && !closing && (!text.is_empty() || !self.msg.attachments.is_empty()) {
            let happened = self
                .moves
                .answer(&self.op.name)
                .map_err(not_now("risposta"))?;
            self.log(happened);
            let mail = self.to_customer(MailKind::Relay, templates::relay(&self.text(text)));
            self.effects.push(mail);
        }
        Ok(())
    }

    fn command(&mut self, command: &Command, text: &str) -> Result<(), Refusal> {
        let why = not_now(command.word());
        match command {
            Command::Take => {
                let happened = self.moves.take(&self.op.name).map_err(why)?;
                self.log(happened);
            }
            Command::Assign(name) => {
                let to = self.settings.operator_named(name);
                let happened = self
                    .moves
                    .assign(to.map_or(name.as_str(), |o| o.name.as_str()))
                    .map_err(why)?;
                let to = to.ok_or_else(|| Refusal::UnknownOperator(name.clone()))?;
                self.log(happened);
                let text = templates::assignment(&self.text(text), &to.name);
                let mail = self.to_operators(
                    MailKind::Assignment,
                    to.address().cloned().into_iter().collect(),
                    text,
                );
                self.effects.push(mail);
            }
            Command::Escalate(team) => self.escalate(team, text, why)?,
            Command::Urgent => {
                let happened = self.moves.mark_urgent().map_err(why)?;
                self.log(happened);
            }
            Command::Note => {
                self.moves.note().map_err(why)?;
            }
            Command::Close { hours } => {
                let window = hours
                    .map(|h| chrono::Duration::hours(i64::from(h)))
                    .unwrap_or(self.settings.reopen_window);
                let until = self.msg.received_at + window;
                let detail = format!("riapribile fino al {}", templates::italian_datetime(until));
                let happened = self
                    .moves
                    .close(&self.op.name, until, detail)
                    .map_err(why)?;
                self.log(happened);
                let text = templates::closure(&self.text(text), until);
                self.effects.push(self.to_customer(MailKind::Closure, text));
            }
        }
        Ok(())
    }

    fn escalate(
        &mut self,
        team: &str,
        text: &str,
        why: impl FnOnce(NotNow) -> Refusal,
    ) -> Result<(), Refusal> {
        let members = self.settings.team(team);
        let team_name = members.first().map_or(team.to_string(), |o| o.team.clone());
        let happened = self.moves.escalate(&team_name).map_err(why)?;
        if members.is_empty() {
            return Err(Refusal::UnknownTeam(team.to_string()));
        }
        self.log(happened);
        let to = members
            .iter()
            .filter_map(|o| o.address().cloned())
            .collect();
        let text = templates::escalation(&self.text(text), &team_name);
        let mail = self.to_operators(MailKind::Escalation, to, text);
        self.effects.push(mail);
        Ok(())
    }

    /// The effects in order: the message, the new status, then what the moves did.
    fn finish(mut self) -> Vec<Effect> {
        if let Some(status) = self.moves.changed() {
            let update = Effect::UpdateTicket {
                code: self.ticket.code.clone(),
                status: status.clone(),
            };
            self.effects.insert(1, update);
        }
        self.effects
    }

    fn log(&mut self, happened: Vec<Happened>) {
        for h in happened {
            self.effects.push(Effect::Log(Event {
                code: self.ticket.code.clone(),
                at: self.msg.received_at,
                actor: self.op.name.clone(),
                kind: h.kind,
                detail: h.detail,
            }));
        }
    }

    fn text<'t>(&'t self, text: &'t str) -> OperatorText<'t> {
        OperatorText {
            ticket: self.ticket,
            operator: &self.op.name,
            text,
            settings: self.settings,
        }
    }

    /// A mail to the customer in the customer's thread, with the operator's attachments.
    fn to_customer(&self, kind: MailKind, text: Text) -> Effect {
        let to = vec![self.ticket.requester.clone()];
        let mail = OutgoingMail::new(kind, Some(&self.ticket.code), to, text);
        Effect::Send(
            mail.in_customer_thread(self.ticket)
                .with_attachments_of(self.msg),
        )
    }

    /// A mail to operators, answering the operator's message, with its attachments.
    fn to_operators(&self, kind: MailKind, to: Vec<Address>, text: Text) -> Effect {
        let mail = OutgoingMail::new(kind, Some(&self.ticket.code), to, text);
        Effect::Send(mail.answering(self.msg).with_attachments_of(self.msg))
    }
}

/// Names the command a refused move came from.
fn not_now(command: &'static str) -> impl FnOnce(NotNow) -> Refusal {
    move |why| Refusal::NotNow { command, why }
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
        vec![Effect::Send(
            OutgoingMail::new(MailKind::CommandRefused, None, to, text).answering(msg),
        )],
    )
}
