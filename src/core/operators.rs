//! Mail from an authenticated operator (SPEC rules 7–9): commands at the top, then text
//! that is relayed to the customer, kept as a note, handed to a colleague or team, or
//! sent as the closing message. Either the whole message applies or nothing does, and
//! the operator is told why: the ticket's state machine (`ticket::Moves`) judges every
//! move, this file turns the moves into history lines and mails.

use super::address::Address;
use super::body;
use super::calendar::rome_day;
use super::commands::{self, Command, OperatorMessage};
use super::decision::{
    Decision, Effect, Facts, MailKind, Operator, Outcome, OutgoingMail, QuoteSent, Refusal,
    Settings, TimeEntry,
};
use super::inbound::Inbound;
use super::templates::{self, OperatorText};
use super::texts::{self, Text};
use super::ticket::{Event, Extra, Happened, Moves, NotNow, TicketCode, TicketFacts};

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
    if let Err(refusal) = time_stays_positive(ticket, &parsed) {
        return refuse(refusal, code);
    }
    let mut work = Work {
        msg,
        settings,
        op,
        ticket,
        merge_target: facts.merge_target.as_ref(),
        participants: ticket.participants.clone(),
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
    /// The ticket `#unisci` names, when the shell found it.
    merge_target: Option<&'a TicketFacts>,
    /// Who is copied on mail to the customer, as `#copia` and `#nocopia` leave it.
    participants: Vec<Address>,
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
        let internal = parsed.has(|c| {
            matches!(
                c,
                Command::Note | Command::Assign(_) | Command::Escalate(_) | Command::Merge(_)
            )
        });
        // The closure and the quote carry the text themselves.
        let closing = parsed.has(|c| matches!(c, Command::Close { .. } | Command::Quote(_)));
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
            Command::Close { hours } => self.close(*hours, text, why)?,
            Command::Time(minutes) => self.time(*minutes, why)?,
            Command::Extra | Command::NotExtra => {
                let extra = match command {
                    Command::Extra => Extra::Yes,
                    _ => Extra::No,
                };
                let happened = self.moves.set_extra(extra).map_err(why)?;
                self.log(happened);
            }
            Command::Quote(cents) => self.quote(*cents, text, why)?,
            Command::Wait(days) => self.wait(*days, why)?,
            Command::Merge(code) => self.merge(code, why)?,
            Command::Copy(address) | Command::NoCopy(address) => {
                self.copy(matches!(command, Command::Copy(_)), address, why)?
            }
        }
        Ok(())
    }

    fn close(
        &mut self,
        hours: Option<u32>,
        text: &str,
        why: impl FnOnce(NotNow) -> Refusal,
    ) -> Result<(), Refusal> {
        let window = hours
            .map(|h| chrono::Duration::hours(i64::from(h)))
            .unwrap_or(self.settings.reopen_window);
        let until = self.msg.received_at + window;
        let detail = format!(
            "riapribile fino {}",
            texts::article(&templates::italian_datetime(until), "al ", "all'")
        );
        let happened = self
            .moves
            .close(&self.op.name, until, detail)
            .map_err(why)?;
        self.log(happened);
        let text = templates::closure(&self.text(text), until);
        self.effects.push(self.to_customer(MailKind::Closure, text));
        Ok(())
    }

    /// `#tempo`: counted on the day the message arrived, for the operator who sent it.
    fn time(&mut self, minutes: i32, why: impl FnOnce(NotNow) -> Refusal) -> Result<(), Refusal> {
        let happened = self
            .moves
            .record_time(templates::duration(i64::from(minutes)))
            .map_err(why)?;
        self.log(happened);
        self.effects.push(Effect::RecordTime(TimeEntry {
            code: self.ticket.code.clone(),
            operator: self.op.name.clone(),
            minutes,
            day: rome_day(self.msg.received_at),
            at: self.msg.received_at,
        }));
        Ok(())
    }

    /// `#preventivo`: the quote with the text and attachments below it goes to the
    /// customer; they are reminded once if they do not answer.
    fn quote(
        &mut self,
        cents: u64,
        text: &str,
        why: impl FnOnce(NotNow) -> Refusal,
    ) -> Result<(), Refusal> {
        let at = self.msg.received_at;
        let days = self.settings.quote_reminder_office_days;
        let remind_at = self.settings.calendar.after_office_days(at, days);
        let happened = self
            .moves
            .quote(&self.op.name, remind_at, templates::euro(cents))
            .map_err(why)?;
        self.log(happened);
        self.effects.push(Effect::RecordQuote(QuoteSent {
            code: self.ticket.code.clone(),
            operator: self.op.name.clone(),
            amount_cents: cents,
            at,
            text: text.to_string(),
        }));
        let mail = templates::quote(&self.text(text), cents);
        self.effects.push(self.to_customer(MailKind::Quote, mail));
        Ok(())
    }

    /// `#attesa [Ng]`: reminded after N office days without an answer, closed after N more.
    fn wait(
        &mut self,
        days: Option<u32>,
        why: impl FnOnce(NotNow) -> Refusal,
    ) -> Result<(), Refusal> {
        let days = days.unwrap_or(self.settings.waiting_office_days);
        let calendar = &self.settings.calendar;
        let remind_at = calendar.after_office_days(self.msg.received_at, days);
        let close_at = calendar.after_office_days(remind_at, days);
        let detail = format!(
            "promemoria: {}; chiusura: {}",
            templates::italian_datetime(remind_at),
            templates::italian_datetime(close_at)
        );
        let happened = self
            .moves
            .wait(&self.op.name, remind_at, close_at, detail)
            .map_err(why)?;
        self.log(happened);
        Ok(())
    }

    /// `#unisci CODE`: into another ticket of the same contract that is still being worked
    /// on; the customer is told the code to use from now on.
    fn merge(
        &mut self,
        written: &str,
        why: impl Fn(NotNow) -> Refusal + Copy,
    ) -> Result<(), Refusal> {
        let into = TicketCode::parse(written, &self.settings.code_prefix)
            .ok_or_else(|| Refusal::MergeUnknown(written.to_string()))?;
        if into == self.ticket.code {
            return Err(Refusal::MergeIntoItself);
        }
        let target = self
            .merge_target
            .filter(|t| t.code == into)
            .ok_or_else(|| Refusal::MergeUnknown(written.to_string()))?;
        if target.contract.id != self.ticket.contract.id {
            return Err(Refusal::MergeAcrossContracts(target.code.clone()));
        }
        let happened = self.moves.merge_into(&target.code).map_err(why)?;
        let absorbed = Moves::new(&target.status, self.msg.received_at)
            .absorb(&self.ticket.code)
            .map_err(why)?;
        self.log(happened);
        self.log_on(&target.code, absorbed);
        let text = templates::merged(&self.text(""), &target.code);
        self.effects.push(self.to_customer(MailKind::Merged, text));
        self.effects.push(Effect::Merge {
            from: self.ticket.code.clone(),
            into: target.code.clone(),
        });
        Ok(())
    }

    /// `#copia` / `#nocopia`: only addresses of the ticket's contract are ever written to.
    fn copy(
        &mut self,
        added: bool,
        address: &Address,
        why: impl FnOnce(NotNow) -> Refusal,
    ) -> Result<(), Refusal> {
        if added && !self.ticket.contract.enables(address) {
            return Err(Refusal::NotOfContract(address.clone()));
        }
        if !added && !self.participants.contains(address) {
            return Err(Refusal::NotCopied(address.clone()));
        }
        // The requester gets every mail of the ticket anyway: copying them again would
        // only send them each mail twice.
        if *address == self.ticket.requester {
            return Ok(());
        }
        let happened = self.moves.participants(added, address).map_err(why)?;
        self.log(happened);
        self.participants.retain(|a| a != address);
        if added {
            self.participants.push(address.clone());
        }
        self.effects.push(Effect::Participant {
            code: self.ticket.code.clone(),
            address: address.clone(),
            added,
        });
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

    /// The effects in order: the message, the new status, then what the moves did; a
    /// merge last, so that it moves everything the message recorded on the ticket.
    fn finish(mut self) -> Vec<Effect> {
        if let Some(status) = self.moves.changed() {
            let update = Effect::UpdateTicket {
                code: self.ticket.code.clone(),
                status: status.clone(),
            };
            self.effects.insert(1, update);
        }
        let (merges, mut effects): (Vec<Effect>, Vec<Effect>) = self
            .effects
            .into_iter()
            .partition(|e| matches!(e, Effect::Merge { .. }));
        effects.extend(merges);
        effects
    }

    fn log(&mut self, happened: Vec<Happened>) {
        let code = self.ticket.code.clone();
        self.log_on(&code, happened);
    }

    fn log_on(&mut self, code: &TicketCode, happened: Vec<Happened>) {
        for h in happened {
            self.effects.push(Effect::Log(Event {
                code: code.clone(),
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

    /// A mail to the customer in the customer's thread, with the operator's attachments,
    /// in copy to whoever is copied on the ticket. A merge's notice is about the ticket
    /// that carries on, which is where it is recorded.
    fn to_customer(&self, kind: MailKind, text: Text) -> Effect {
        let to = vec![self.ticket.requester.clone()];
        let code = match (kind, self.merge_target) {
            (MailKind::Merged, Some(target)) => &target.code,
            _ => &self.ticket.code,
        };
        let mail = OutgoingMail {
            cc: self.participants.clone(),
            ..OutgoingMail::new(kind, Some(code), to, text)
        };
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

/// A correction may take back time recorded, never more than was recorded.
fn time_stays_positive(ticket: &TicketFacts, parsed: &OperatorMessage) -> Result<(), Refusal> {
    let added: i64 = parsed
        .commands
        .iter()
        .filter_map(|c| match c {
            Command::Time(m) => Some(i64::from(*m)),
            _ => None,
        })
        .sum();
    let total = ticket.time_minutes + added;
    if total < 0 {
        return Err(Refusal::TimeBelowZero(ticket.time_minutes));
    }
    Ok(())
}

/// Names the command a refused move came from.
fn not_now(command: &'static str) -> impl Fn(NotNow) -> Refusal + Copy {
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
