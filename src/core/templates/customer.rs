//! What customers read: the acknowledgement, rejections, an operator's answer, the
//! closure with its reopen deadline, the reopen acknowledgement and the refusal of a late
//! reply. Each function gives its template the values it may use.

use chrono::{DateTime, Utc};
use serde_json::{json, Value as Json};

use super::super::address::{Address, SubjectProblem};
use super::super::decision::{MailKind, Rejection, Settings};
use super::super::inbound::Channel;
use super::super::texts::Text;
use super::super::ticket::{PendingQuote, TicketCode, TicketFacts, TicketState};
use super::{
    euro, italian_date, italian_datetime, italian_when, mail, megabytes, new_ticket, printable,
    ticket, CustomerReplyText, OperatorText,
};

/// What the acknowledgement of a new ticket needs.
pub struct AckText<'a> {
    pub code: &'a TicketCode,
    pub customer: &'a str,
    pub contract_until: chrono::NaiveDate,
    pub requester: &'a Address,
    /// Set when a colleague wrote on the requester's behalf.
    pub sender: Option<&'a Address>,
    pub greeting_name: Option<&'a str>,
    pub summary: &'a str,
    pub received_at: DateTime<Utc>,
    pub examined: Examined,
    /// Marked `URGENTE` (or the form's checkbox ticked).
    pub urgent: bool,
    /// How the request came: a form's is acknowledged as such.
    pub channel: &'a Channel,
    pub settings: &'a Settings,
}

/// When a new request will be looked at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Examined {
    /// The desk is open.
    Now,
    /// The next opening.
    From(DateTime<Utc>),
}

/// The acknowledgement: the request is taken in charge, with its code, and when it will
/// be examined.
pub fn ack(t: &AckText<'_>) -> Text {
    mail(t.settings, MailKind::Ack, ack_values(t))
}

pub(super) fn ack_values(t: &AckText<'_>) -> Json {
    let (open_now, examined_from) = match t.examined {
        Examined::Now => (true, None),
        Examined::From(at) => (false, Some(italian_when(at))),
    };
    json!({
        "ticket": new_ticket(
            t.code,
            t.customer,
            t.contract_until,
            t.requester,
            t.received_at,
            t.summary,
            t.urgent,
        ),
        "name": t.greeting_name.map(printable).filter(|n| !n.is_empty()),
        "colleague": t.sender.map(Address::to_string),
        "open_now": open_now,
        "examined_from": examined_from,
        "channel": t.channel.name(),
    })
}

/// What the confirmation of a form's request needs.
pub struct ConfirmationText<'a> {
    /// The form's Riferimento field, as typed.
    pub reference: &'a str,
    /// The start of the request, as the acknowledgement would quote it.
    pub summary: &'a str,
    /// Where the requester confirms (the shell's page).
    pub link: &'a str,
    pub valid_until: DateTime<Utc>,
    pub received_at: DateTime<Utc>,
    pub settings: &'a Settings,
}

/// To the address typed in the form: confirm the request, or ignore this mail.
pub fn confirmation(t: &ConfirmationText<'_>) -> Text {
    mail(t.settings, MailKind::Confirmation, confirmation_values(t))
}

pub(super) fn confirmation_values(t: &ConfirmationText<'_>) -> Json {
    json!({
        "link": t.link,
        "valid_until": italian_datetime(t.valid_until),
        "reference": printable(t.reference),
        "summary": t.summary.trim(),
        "received_at": italian_datetime(t.received_at),
    })
}

/// An operator's answer, sent to the customer from the support address.
pub fn relay(t: &OperatorText<'_>) -> Text {
    mail(t.settings, MailKind::Relay, operator_values(t))
}

pub(super) fn operator_values(t: &OperatorText<'_>) -> Json {
    json!({
        "ticket": ticket(t.ticket),
        "operator": t.operator,
        "text": t.text.trim(),
    })
}

/// The closure: the operator's text, the reopen deadline and how to reopen.
pub fn closure(t: &OperatorText<'_>, reopen_until: DateTime<Utc>) -> Text {
    mail(
        t.settings,
        MailKind::Closure,
        closure_values(t, reopen_until),
    )
}

pub(super) fn closure_values(t: &OperatorText<'_>, reopen_until: DateTime<Utc>) -> Json {
    let mut values = operator_values(t);
    values["reopen_until"] = italian_when(reopen_until).into();
    values["unanswered"] = false.into();
    values
}

/// The closure of a ticket that waited for the customer in vain (`#attesa`): the usual
/// closure, signed by the operator in charge, saying why.
pub fn closure_unanswered(
    t: &TicketFacts,
    settings: &Settings,
    reopen_until: DateTime<Utc>,
) -> Text {
    let operator = t.status.operator.as_deref().unwrap_or(&settings.signature);
    let text = OperatorText {
        ticket: t,
        operator,
        text: "",
        settings,
    };
    let mut values = closure_values(&text, reopen_until);
    values["unanswered"] = true.into();
    mail(settings, MailKind::Closure, values)
}

/// A quote (`#preventivo`): the operator's text, the amount, and how to accept or refuse.
pub fn quote(t: &OperatorText<'_>, amount_cents: u64) -> Text {
    mail(t.settings, MailKind::Quote, quote_values(t, amount_cents))
}

pub(super) fn quote_values(t: &OperatorText<'_>, amount_cents: u64) -> Json {
    let mut values = operator_values(t);
    values["amount"] = euro(amount_cents).into();
    values
}

/// To the customer who answered a quote: the answer is recorded.
pub fn quote_answered(t: &CustomerReplyText<'_>, quote: &PendingQuote, accepted: bool) -> Text {
    let values = quote_answer_values(t, quote, accepted);
    mail(t.settings, MailKind::QuoteAnswered, values)
}

/// The values of the texts about a customer's answer to a quote.
pub(super) fn quote_answer_values(
    t: &CustomerReplyText<'_>,
    quote: &PendingQuote,
    accepted: bool,
) -> Json {
    let mut values = reply_values(t);
    values["accepted"] = accepted.into();
    values["amount"] = euro(quote.amount_cents).into();
    values["quote_sent_at"] = italian_datetime(quote.sent_at).into();
    values["quote_operator"] = quote.operator.clone().into();
    values
}

/// The one reminder to a customer the desk waits for: an answer, or a quote's; a ticket
/// waiting for an answer closes at `close_at` if none comes.
pub fn customer_reminder(
    t: &TicketFacts,
    close_at: Option<DateTime<Utc>>,
    settings: &Settings,
) -> Text {
    mail(
        settings,
        MailKind::CustomerReminder,
        reminder_values(t, close_at),
    )
}

pub(super) fn reminder_values(t: &TicketFacts, close_at: Option<DateTime<Utc>>) -> Json {
    let quote = t
        .pending_quote
        .as_ref()
        .filter(|_| t.status.state == TicketState::AwaitingApproval);
    json!({
        "ticket": ticket(t),
        "quote": quote.map(|q| json!({
            "amount": euro(q.amount_cents),
            "sent_at": italian_datetime(q.sent_at),
        })),
        "close_at": close_at.filter(|_| quote.is_none()).map(italian_when),
    })
}

/// To the customer of a ticket merged into another: the code to use from now on.
pub fn merged(t: &OperatorText<'_>, into: &TicketCode) -> Text {
    mail(t.settings, MailKind::Merged, merged_values(t, into))
}

pub(super) fn merged_values(t: &OperatorText<'_>, into: &TicketCode) -> Json {
    let mut values = operator_values(t);
    values["into"] = into.to_string().into();
    values
}

/// To the customer whose reply reopened the ticket.
pub fn reopened(t: &CustomerReplyText<'_>) -> Text {
    mail(t.settings, MailKind::Reopened, reply_values(t))
}

/// To the customer replying after the ticket was closed for good.
pub fn reopen_refused(t: &CustomerReplyText<'_>) -> Text {
    mail(t.settings, MailKind::ReopenRefused, reply_values(t))
}

/// The values of every text caused by a customer's reply.
pub(super) fn reply_values(t: &CustomerReplyText<'_>) -> Json {
    json!({
        "ticket": ticket(t.ticket),
        "sender": t.sender.to_string(),
        "text": t.text.trim(),
        "received_at": italian_datetime(t.received_at),
        "reopen_until": t.ticket.status.reopen_until.map(italian_when),
    })
}

/// What every rejection needs besides its reason.
pub struct RejectionContext<'a> {
    pub to: &'a Address,
    pub original_subject: &'a str,
    pub received_at: DateTime<Utc>,
    /// A form's request is refused in the form's words: it had no subject.
    pub channel: &'a Channel,
    pub settings: &'a Settings,
}

/// A polite refusal: what was wrong, how to write a correct request, and an example.
pub fn rejection(reason: &Rejection, c: &RejectionContext<'_>) -> Text {
    mail(c.settings, MailKind::Rejection, rejection_values(reason, c))
}

pub(super) fn rejection_values(reason: &Rejection, c: &RejectionContext<'_>) -> Json {
    let mut values = json!({
        "sender": c.to.to_string(),
        "original_subject": printable(c.original_subject),
        "received_at": italian_datetime(c.received_at),
        "reason": reason.name(),
        "channel": c.channel.name(),
        "subject_problem": null,
        "requester": null,
        "contract_date": null,
        "size_mb": null,
        "limit_mb": null,
        "code": null,
    });
    let detail: Json = match reason {
        Rejection::SubjectNotAddress(p) => json!({ "subject_problem": subject_problem(*p) }),
        Rejection::AddressNotEnabled { requester } | Rejection::ContractDisabled { requester } => {
            json!({ "requester": requester.to_string() })
        }
        Rejection::SenderNotEnabled { sender, requester } => json!({
            "sender": sender.to_string(),
            "requester": requester.to_string(),
        }),
        Rejection::ContractExpired {
            requester,
            until: date,
        }
        | Rejection::ContractNotYetValid {
            requester,
            from: date,
        } => json!({
            "requester": requester.to_string(),
            "contract_date": italian_date(*date),
        }),
        Rejection::TooLarge { size, limit } => json!({
            "size_mb": megabytes(*size),
            "limit_mb": megabytes(*limit),
        }),
        Rejection::UnknownTicket { code } => json!({ "code": code.to_string() }),
        Rejection::MissingReference | Rejection::EmptyRequest => json!({}),
    };
    if let (Some(map), Json::Object(detail)) = (values.as_object_mut(), detail) {
        map.extend(detail);
    }
    values
}

fn subject_problem(p: SubjectProblem) -> &'static str {
    match p {
        SubjectProblem::Empty => "empty",
        SubjectProblem::SeveralAddresses => "several_addresses",
        SubjectProblem::ExtraText => "extra_text",
        SubjectProblem::NoAddress => "no_address",
    }
}
