//! What operators read: the notice of a new ticket with a short help of the commands,
//! the on-call alert, customers' replies forwarded, assignments, escalations with the
//! whole thread, reminders, why a message of theirs was not applied, and the morning
//! digest of what is open. Each function gives its template the values it may use.

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::{json, Value as Json};

use super::super::address::Address;
use super::super::commands::{CommandError, MAX_REOPEN_HOURS};
use super::super::contract::Contract;
use super::super::decision::{MailKind, Refusal, Settings};
use super::super::inbound::Channel;
use super::super::texts::Text;
use super::super::ticket::{Deadline, NotNow, PendingQuote, TicketCode, TicketFacts, TicketStatus};
use super::customer::{operator_values, reply_values};
use super::{
    address_list, attachment_list, duration, italian_date, italian_datetime, italian_day,
    italian_when, mail, new_ticket, printable, ticket, CustomerReplyText, OperatorText,
    TicketBrief,
};

/// To the first-level queue: a new ticket, what it asks, and how to act on it.
pub fn queue_notice(t: &TicketBrief<'_>) -> Text {
    mail(t.settings, MailKind::QueueNotice, brief_values(t))
}

/// To the on-call person: an urgent request arrived outside office hours.
pub fn oncall_notice(t: &TicketBrief<'_>) -> Text {
    mail(t.settings, MailKind::OnCall, brief_values(t))
}

pub(super) fn brief_values(t: &TicketBrief<'_>) -> Json {
    json!({
        "ticket": new_ticket(
            t.code,
            t.customer,
            t.contract_until,
            t.requester,
            t.received_at,
            t.text,
            t.urgent,
        ),
        "colleague": (t.sender != t.requester).then(|| t.sender.to_string()),
        "text": t.text.trim(),
        "first_line": first_line(t.text),
        "received_at": italian_datetime(t.received_at),
        "open_now": t.open_now,
        "first_contact_due": italian_when(t.first_contact_due),
        "channel": t.channel.name(),
        // A mail's text holds the requester's name (the body rule asks for it); a form
        // has it in a field of its own, which operators would otherwise never see.
        "name": match t.channel {
            Channel::Web(fields) => Some(printable(&fields.name)).filter(|n| !n.is_empty()),
            Channel::Email => None,
        },
        "attachments": attachment_list(t.attachments),
        "copied": address_list(t.copied),
        "not_copied": address_list(t.not_copied),
    })
}

/// To whoever handles the ticket: the customer wrote; `not_copied` are the other
/// addresses they wrote to that the contract does not list.
pub fn forward(t: &CustomerReplyText<'_>, not_copied: &[Address]) -> Text {
    mail(t.settings, MailKind::Forward, forward_values(t, not_copied))
}

pub(super) fn forward_values(t: &CustomerReplyText<'_>, not_copied: &[Address]) -> Json {
    let mut values = reply_values(t);
    values["not_copied"] = address_list(not_copied);
    values
}

/// To whoever handles the ticket: the customer reopened it.
pub fn reopen_notice(t: &CustomerReplyText<'_>) -> Text {
    mail(t.settings, MailKind::ReopenNotice, reply_values(t))
}

/// To whoever handles the ticket: the customer accepted or refused the quote.
pub fn quote_notice(t: &CustomerReplyText<'_>, quote: &PendingQuote, accepted: bool) -> Text {
    let values = super::customer::quote_answer_values(t, quote, accepted);
    mail(t.settings, MailKind::QuoteNotice, values)
}

/// To whoever handled the ticket: it waited for the customer, who was reminded and never
/// answered, so it was closed; they may still reopen it until `reopen_until`.
pub fn unanswered_notice(
    t: &TicketFacts,
    reopen_until: DateTime<Utc>,
    settings: &Settings,
) -> Text {
    let values = unanswered_values(t, reopen_until);
    mail(settings, MailKind::UnansweredNotice, values)
}

pub(super) fn unanswered_values(t: &TicketFacts, reopen_until: DateTime<Utc>) -> Json {
    json!({
        "ticket": ticket(t),
        "reminded_at": t.status.customer_reminded_at.map(italian_datetime),
        "reopen_until": italian_when(reopen_until),
    })
}

/// To an operator a ticket was assigned to, with the thread.
pub fn assignment(t: &OperatorText<'_>, to: &str) -> Text {
    mail(t.settings, MailKind::Assignment, assignment_values(t, to))
}

pub(super) fn assignment_values(t: &OperatorText<'_>, to: &str) -> Json {
    let mut values = operator_values(t);
    values["assignee"] = to.into();
    values["thread"] = thread(t.ticket);
    values
}

/// To a second-level team: the ticket, the whole thread, and that they contact the
/// customer.
pub fn escalation(t: &OperatorText<'_>, team: &str) -> Text {
    mail(t.settings, MailKind::Escalation, escalation_values(t, team))
}

pub(super) fn escalation_values(t: &OperatorText<'_>, team: &str) -> Json {
    let mut values = operator_values(t);
    values["team"] = team.into();
    values["thread"] = thread(t.ticket);
    values
}

/// To whoever handles the ticket: a mail of it could not be delivered, so the customer
/// has not read it; what the receiving server said, and what to do.
pub fn bounce_notice(
    ticket: &TicketFacts,
    bounce: &super::super::inbound::Bounce,
    settings: &Settings,
) -> Text {
    mail(
        settings,
        MailKind::BounceNotice,
        bounce_values(ticket, bounce),
    )
}

pub(super) fn bounce_values(t: &TicketFacts, bounce: &super::super::inbound::Bounce) -> Json {
    json!({
        "ticket": ticket(t),
        "recipient": bounce
            .recipient
            .as_deref()
            .map(printable)
            .unwrap_or_else(|| t.requester.to_string()),
        "status": bounce.status.as_deref().map(printable),
        "diagnostic": bounce.diagnostic.as_deref().map(printable),
    })
}

/// To the queue (or team): nobody has taken the ticket in time.
pub fn reminder(t: &TicketFacts, due_at: DateTime<Utc>, settings: &Settings) -> Text {
    let values = json!({ "ticket": ticket(t), "due_at": italian_when(due_at) });
    mail(settings, MailKind::Reminder, values)
}

/// To an operator whose message changed nothing: why, and the help.
pub fn command_refused(
    refusal: &Refusal,
    code: Option<&TicketCode>,
    operator: &str,
    settings: &Settings,
) -> Text {
    let values = refusal_values(refusal, code, operator, settings);
    mail(settings, MailKind::CommandRefused, values)
}

pub(super) fn refusal_values(
    refusal: &Refusal,
    code: Option<&TicketCode>,
    operator: &str,
    settings: &Settings,
) -> Json {
    let mut values = json!({
        "operator": operator,
        "code": code.map(TicketCode::to_string),
        "command": null,
        "other_command": null,
        "line": null,
        "name": null,
        "reopen_until": null,
        "other_code": null,
        "address": null,
        "total": null,
        "max_bytes": settings.max_message_bytes,
        "max_reopen_hours": MAX_REOPEN_HOURS,
        "operators": settings.operators.iter().map(|o| o.name.as_str()).collect::<Vec<_>>(),
        "teams": settings.teams(),
    });
    let (reason, detail) = refusal_reason(refusal);
    values["reason"] = reason.into();
    if let (Some(map), Json::Object(detail)) = (values.as_object_mut(), detail) {
        map.extend(detail);
    }
    values
}

/// The template's name for why a message changed nothing, and the values that go with it.
fn refusal_reason(refusal: &Refusal) -> (&'static str, Json) {
    match refusal {
        Refusal::NoTicket => ("no_ticket", json!({})),
        Refusal::UnknownTicket(c) => ("unknown_ticket", json!({ "code": c.to_string() })),
        Refusal::TooLarge => ("too_large", json!({})),
        Refusal::BadCommand(CommandError::Unknown(word)) => {
            ("unknown_command", json!({ "command": word }))
        }
        Refusal::BadCommand(CommandError::MissingArgument(word)) => {
            ("missing_argument", json!({ "command": word }))
        }
        Refusal::BadCommand(CommandError::BadArgument(line)) => {
            ("bad_argument", json!({ "line": printable(line) }))
        }
        Refusal::BadCommand(CommandError::Conflict(a, b)) => {
            ("conflict", json!({ "command": a, "other_command": b }))
        }
        Refusal::NotNow { command, why } => not_now(command, why),
        Refusal::UnknownOperator(name) => ("unknown_operator", json!({ "name": printable(name) })),
        Refusal::UnknownTeam(team) => ("unknown_team", json!({ "name": printable(team) })),
        Refusal::Empty => ("empty", json!({})),
        Refusal::MergeUnknown(code) => ("merge_unknown", json!({ "line": printable(code) })),
        Refusal::MergeIntoItself => ("merge_itself", json!({})),
        Refusal::MergeAcrossContracts(other) => (
            "merge_across_contracts",
            json!({ "other_code": other.to_string() }),
        ),
        Refusal::NotOfContract(a) => ("not_of_contract", json!({ "address": a.to_string() })),
        Refusal::NotCopied(a) => ("not_copied", json!({ "address": a.to_string() })),
        Refusal::TimeBelowZero(total) => (
            "time_below_zero",
            json!({ "total": super::duration(*total) }),
        ),
    }
}

fn not_now(command: &str, why: &NotNow) -> (&'static str, Json) {
    match why {
        NotNow::ClosedForGood => ("closed_for_good", json!({ "command": command })),
        NotNow::Resolved { reopen_until } => (
            "resolved",
            json!({ "command": command, "reopen_until": reopen_until.map(italian_when) }),
        ),
        NotNow::TakenBy(other) => ("taken_by", json!({ "command": command, "name": other })),
        NotNow::Merged(into) => (
            "merged",
            json!({ "command": command, "other_code": into.as_ref().map(ToString::to_string) }),
        ),
        // Moves of customers and of the scheduler: an operator's command never meets
        // them, but the sentence stays true if one ever does.
        NotNow::NotClosed | NotNow::WindowPassed { .. } | NotNow::NotDue | NotNow::NoQuote => {
            ("not_possible", json!({ "command": command }))
        }
    }
}

/// The thread for an operator who did not follow it: every message received and every
/// answer sent to the customer, oldest first.
fn thread(ticket: &TicketFacts) -> Json {
    let shown = ticket.thread.iter().filter(|e| {
        !e.outgoing
            || matches!(
                e.kind.as_str(),
                "relay" | "closure" | "reopened" | "reopen-refused"
            )
    });
    shown
        .map(|e| {
            json!({
                "at": italian_datetime(e.at),
                "outgoing": e.outgoing,
                "who": e.who,
                "text": e.text.trim(),
            })
        })
        .collect()
}

fn first_line(text: &str) -> String {
    let line = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.eq_ignore_ascii_case("urgente"))
        .unwrap_or("");
    let line = printable(line);
    if line.chars().count() > 60 {
        format!("{}…", line.chars().take(60).collect::<String>())
    } else {
        line
    }
}

/// To the first-level queue: a message could not be handled and was set aside in the
/// quarantine folder, unanswered; `reason` is the technical cause, as recorded.
pub fn failure_notice(
    sender: Option<&super::Address>,
    subject: &str,
    received_at: DateTime<Utc>,
    reason: &str,
    folder: &str,
    settings: &Settings,
) -> Text {
    let values = failure_values(sender, subject, received_at, reason, folder);
    mail(settings, MailKind::FailureNotice, values)
}

pub(super) fn failure_values(
    sender: Option<&super::Address>,
    subject: &str,
    received_at: DateTime<Utc>,
    reason: &str,
    folder: &str,
) -> Json {
    json!({
        "sender": sender.map(|a| a.to_string()),
        "subject": printable(subject),
        "received_at": italian_datetime(received_at),
        "reason": reason.replace(char::is_control, " "),
        "folder": printable(folder),
    })
}

/// One ticket as the morning digest shows it. `core::digest` decides which tickets go to
/// whom, in which order, and which are late; this module only puts that in words.
pub struct DigestLine<'a> {
    pub code: &'a TicketCode,
    pub customer: &'a str,
    pub summary: &'a str,
    pub status: &'a TicketStatus,
    pub opened_at: DateTime<Utc>,
    /// Time recorded on it, in minutes.
    pub time_minutes: i64,
    /// Nobody took it by when they should have.
    pub late: bool,
    /// The deadline it is ordered by, if it has one.
    pub deadline: Option<Deadline>,
}

/// The morning digest of `day`: to operator `operator` the tickets in their charge, or
/// (`None`) to the first-level queue the ones nobody has taken.
pub fn digest(
    operator: Option<&str>,
    lines: &[DigestLine<'_>],
    day: NaiveDate,
    settings: &Settings,
) -> Text {
    let values = digest_values(operator, lines, day);
    mail(settings, MailKind::Digest, values)
}

pub(super) fn digest_values(
    operator: Option<&str>,
    lines: &[DigestLine<'_>],
    day: NaiveDate,
) -> Json {
    json!({
        "operator": operator,
        "day": italian_day(day),
        "tickets": lines.iter().map(digest_line).collect::<Vec<_>>(),
    })
}

fn digest_line(line: &DigestLine<'_>) -> Json {
    let st = line.status;
    let (deadline, due) = match line.deadline {
        Some(Deadline::FirstContact(at)) => (Some("first_contact"), Some(at)),
        Some(Deadline::CustomerReminder(at)) => (Some("customer_reminder"), Some(at)),
        Some(Deadline::AutoClose(at)) => (Some("auto_close"), Some(at)),
        Some(Deadline::ReopenWindow(at)) => (Some("reopen_window"), Some(at)),
        None => (None, None),
    };
    json!({
        "code": line.code.to_string(),
        "customer": printable(line.customer),
        "summary": printable(line.summary),
        "state": st.state.as_str(),
        "late": line.late,
        "deadline": deadline,
        "due": due.map(italian_when),
        "operator": st.operator,
        "team": st.team,
        "urgent": st.urgent,
        "opened_at": italian_datetime(line.opened_at),
        "time": (line.time_minutes != 0).then(|| duration(line.time_minutes)),
    })
}

/// A contract expiry notice to the administration. `core::expiry` decides when one is
/// owed; this puts it in words.
pub struct ExpiryText<'a> {
    pub contract: &'a Contract,
    /// The contract's last day has passed (otherwise it is near).
    pub lapsed: bool,
    /// Days left to the last day (0 on it), or days since it passed.
    pub days: i64,
    /// First day of the twelve months whose use it reports.
    pub since: NaiveDate,
    /// Tickets opened since `since`.
    pub tickets: i64,
    /// Minutes recorded since `since`.
    pub minutes: i64,
}

/// To the administration: a contract ends soon, or has lapsed.
pub fn contract_expiry(t: &ExpiryText<'_>, settings: &Settings) -> Text {
    mail(settings, MailKind::ContractExpiry, expiry_values(t))
}

pub(super) fn expiry_values(t: &ExpiryText<'_>) -> Json {
    let c = t.contract;
    json!({
        "contract": {
            "customer": printable(&c.customer),
            "addresses": address_list(&c.addresses),
            "references": c.references.iter().map(|r| printable(r)).collect::<Vec<_>>(),
            "valid_from": italian_date(c.valid_from),
            "valid_until": italian_date(c.valid_until),
        },
        "lapsed": t.lapsed,
        "days": t.days,
        "since": italian_date(t.since),
        "tickets": t.tickets,
        "time": (t.minutes != 0).then(|| duration(t.minutes)),
    })
}

/// The monthly report's mail: `month` (`novembre 2026`), its figures as lines, and the
/// names of the files attached. `core::report` computes and renders the report; this
/// only puts it in the mail's words.
pub fn report(month: &str, summary: &str, files: &[&str], settings: &Settings) -> Text {
    mail(
        settings,
        MailKind::Report,
        report_values(month, summary, files),
    )
}

pub(super) fn report_values(month: &str, summary: &str, files: &[&str]) -> Json {
    json!({
        "month": month,
        "summary": summary,
        "files": files,
    })
}
