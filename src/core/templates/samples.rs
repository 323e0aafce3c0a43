//! The situations every set of texts must render before it is put in force: each mail
//! the desk sends, in each of its shapes (open now and outside hours, urgent, a
//! colleague in copy, every rejection and every refusal, …), on a sample ticket or on a
//! real one (`templates render --ticket`). A customer's hostile text is among them, so a
//! template that would choke on it is refused at `check`, not on the day it arrives.

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use serde_json::Value as Json;

use super::super::address::{Address, SubjectProblem};
use super::super::commands::CommandError;
use super::super::contract::Contract;
use super::super::decision::{MailKind, Refusal, Rejection, Settings};
use super::super::inbound::{Attachment, Bounce, Channel, FormFields};
use super::super::texts::{is_page, names, TextProblem, Texts};
use super::super::ticket::{
    Deadline, NotNow, PendingQuote, ThreadEntry, TicketCode, TicketFacts, TicketState, TicketStatus,
};
use super::customer::{
    ack_values, closure_values, confirmation_values, merged_values, operator_values,
    quote_answer_values, quote_values, rejection_values, reminder_values, reply_values, AckText,
    ConfirmationText, Examined, RejectionContext,
};
use super::operator::{
    assignment_values, bounce_values, brief_values, digest_values, escalation_values,
    expiry_values, failure_values, forward_values, refusal_values, report_values,
    unanswered_values, DigestLine, ExpiryText,
};
pub use super::variables_of;
use super::{context, CustomerReplyText, OperatorText, TicketBrief};

/// One mail in one situation, with the values its template receives.
pub struct Situation {
    pub kind: MailKind,
    pub label: String,
    pub values: minijinja::Value,
}

/// What a customer might write that a template must show verbatim.
const HOSTILE: &str = "{{ 7*7 }} {% for %} <b>\r\nBcc: x@y.it";

/// Tuesday 10 March 2026, 10:05 in Rome: the desk is open.
fn open() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 10, 9, 5, 0)
        .single()
        .unwrap_or_default()
}

/// Saturday 14 March 2026, 22:30 in Rome.
fn closed() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 14, 21, 30, 0)
        .single()
        .unwrap_or_default()
}

fn address(text: &str) -> Address {
    Address::parse(text).unwrap_or_else(|| unreachable!("a sample address: {text}"))
}

/// A ticket with a customer's request, an answer and a reply in its thread.
pub fn sample_ticket() -> TicketFacts {
    let requester = address("mario.rossi@example.it");
    let entry = |hours: i64, outgoing: bool, kind: &str, who: &str, text: &str| ThreadEntry {
        at: open() + chrono::Duration::hours(hours),
        outgoing,
        kind: kind.into(),
        who: who.into(),
        message_id: None,
        text: text.into(),
    };
    TicketFacts {
        id: 0,
        code: TicketCode {
            prefix: "KZ".into(),
            year: 2026,
            number: 42,
        },
        requester: requester.clone(),
        contract: Contract {
            id: 0,
            customer: "Rossi Impianti srl".into(),
            addresses: vec![requester],
            valid_from: NaiveDate::from_ymd_opt(2026, 1, 1).unwrap_or_default(),
            valid_until: NaiveDate::from_ymd_opt(2026, 12, 31).unwrap_or_default(),
            references: vec!["https://www.rossi-impianti.it".into()],
            disabled: false,
        },
        summary: "Il modulo della pagina Contatti non invia i messaggi.".into(),
        opened_at: open(),
        status: TicketStatus::new(
            false,
            crate::core::ticket::Extra::No,
            open() + chrono::Duration::hours(4),
        ),
        participants: vec![],
        pending_quote: None,
        time_minutes: 0,
        thread: vec![
            entry(
                0,
                false,
                "ticket",
                "mario.rossi@example.it",
                "Il modulo non invia.",
            ),
            entry(
                1,
                true,
                "relay",
                "mario.rossi@example.it",
                "Lo stiamo verificando.",
            ),
            entry(2, false, "update", "mario.rossi@example.it", HOSTILE),
        ],
    }
}

/// Every situation of every mail, about `ticket`.
pub fn situations(settings: &Settings, ticket: &TicketFacts) -> Vec<Situation> {
    let mut all = vec![];
    let mut push = |kind: MailKind, label: &str, values: Json| {
        all.push(Situation {
            kind,
            label: label.to_string(),
            values: context(settings, values),
        })
    };
    for (label, values) in new_ticket(settings, ticket) {
        push(MailKind::Ack, label, values.0);
        push(MailKind::QueueNotice, label, values.1.clone());
        push(MailKind::OnCall, label, values.1);
    }
    for (label, values) in confirmations(settings) {
        push(MailKind::Confirmation, label, values);
    }
    for (label, values) in rejections(settings, ticket) {
        push(MailKind::Rejection, &label, values);
    }
    for (kind, label, values) in operators_work(settings, ticket) {
        push(kind, label, values);
    }
    for (kind, label, values) in quotes_and_waiting(settings, ticket) {
        push(kind, label, values);
    }
    for (label, values) in forwards(settings, ticket) {
        push(MailKind::Forward, label, values);
    }
    for (label, values) in replies(settings, ticket) {
        for kind in [
            MailKind::ReopenNotice,
            MailKind::Reopened,
            MailKind::ReopenRefused,
        ] {
            push(kind, label, values.clone());
        }
    }
    for (label, values) in refusals(settings, ticket) {
        push(MailKind::CommandRefused, &label, values);
    }
    for (kind, label, values) in notices(ticket) {
        push(kind, label, values);
    }
    for (label, values) in digests(ticket) {
        push(MailKind::Digest, label, values);
    }
    for (label, values) in expiries(ticket) {
        push(MailKind::ContractExpiry, label, values);
    }
    let summary = "Ticket: 12 aperti, 10 chiusi, 1 riaperti.\n\
                   Tempo lavorato: 14 h 30 min, di cui 2 h in 1 interventi extra.";
    let files = ["rapporto-2026-11.html", "rapporto-2026-11.csv"];
    push(
        MailKind::Report,
        "November's report",
        report_values("novembre 2026", summary, &files),
    );
    all
}

/// A new ticket's shape: how and when it came, and what it says.
struct Shape<'a> {
    label: &'static str,
    at: DateTime<Utc>,
    urgent: bool,
    colleague: Option<&'a Address>,
    /// The name in From, or typed in the form.
    name: Option<&'a str>,
    text: String,
    channel: Channel,
    attachments: Vec<Attachment>,
}

impl Shape<'_> {
    /// A request by mail from the requester, without attachments.
    fn mail(label: &'static str, at: DateTime<Utc>, text: &str) -> Shape<'static> {
        Shape {
            label,
            at,
            urgent: false,
            colleague: None,
            name: None,
            text: text.into(),
            channel: Channel::Email,
            attachments: vec![],
        }
    }

    /// A request from the portal's form, the text as the form's fields make it.
    fn web<'a>(label: &'static str, at: DateTime<Utc>, fields: FormFields) -> Shape<'a> {
        Shape {
            urgent: fields.urgent,
            text: fields.text(),
            channel: Channel::Web(fields),
            ..Shape::mail(label, at, "")
        }
    }
}

fn attachment(filename: &str, bytes: usize) -> Attachment {
    Attachment {
        filename: filename.into(),
        content_type: "application/octet-stream".into(),
        data: vec![0; bytes],
    }
}

/// What a customer types in the portal's form, in the samples.
pub fn sample_form(urgent: bool) -> FormFields {
    FormFields {
        email: "mario.rossi@example.it".into(),
        name: "Mario Rossi".into(),
        reference: "https://www.rossi-impianti.it".into(),
        request: "Il modulo della pagina Contatti non invia i messaggi.\n\
                  Allego la schermata dell'errore e l'ultima fattura."
            .into(),
        urgent,
    }
}

/// The acknowledgement's values and the notices' ones, in each shape of a new ticket.
fn new_ticket(settings: &Settings, t: &TicketFacts) -> Vec<(&'static str, (Json, Json))> {
    let colleague = address("anna.bianchi@example.it");
    let summary = t.summary.as_str();
    let mut shapes = vec![
        Shape {
            name: Some("Mario Rossi"),
            ..Shape::mail("open now", open(), summary)
        },
        Shape {
            attachments: vec![attachment("preventivo.pdf", 830)],
            ..Shape::mail("outside hours", closed(), summary)
        },
        Shape {
            urgent: true,
            ..Shape::mail(
                "urgent outside hours",
                closed(),
                "URGENTE\nIl sito è fermo.",
            )
        },
        Shape {
            colleague: Some(&colleague),
            ..Shape::mail("colleague in copy", open(), summary)
        },
        Shape {
            urgent: true,
            name: Some(HOSTILE),
            ..Shape::mail("customer text with template syntax", open(), HOSTILE)
        },
    ];
    shapes.extend(web_shapes());
    shapes
        .into_iter()
        .map(|shape| (shape.label, opening(settings, t, &shape)))
        .collect()
}

/// A new ticket's shapes when it comes from the portal's form.
fn web_shapes() -> Vec<Shape<'static>> {
    let two_files = vec![
        attachment("schermata.png", 120 * 1024),
        attachment("fattura.pdf", 3 * 512 * 1024),
    ];
    let hostile_form = FormFields {
        name: HOSTILE.into(),
        reference: HOSTILE.into(),
        request: HOSTILE.into(),
        ..sample_form(true)
    };
    vec![
        Shape {
            name: Some("Mario Rossi"),
            attachments: two_files,
            ..Shape::web("web form with two attachments", open(), sample_form(false))
        },
        Shape {
            name: Some("Mario Rossi"),
            ..Shape::web(
                "web form, urgent outside hours",
                closed(),
                sample_form(true),
            )
        },
        Shape {
            name: Some(HOSTILE),
            attachments: vec![attachment(HOSTILE, 10)],
            ..Shape::web("web form with template syntax", open(), hostile_form)
        },
    ]
}

fn opening(settings: &Settings, t: &TicketFacts, shape: &Shape<'_>) -> (Json, Json) {
    let at = shape.at;
    let open_now = at == open();
    let ack = ack_values(&AckText {
        code: &t.code,
        customer: &t.contract.customer,
        contract_until: t.contract.valid_until,
        requester: &t.requester,
        sender: shape.colleague,
        greeting_name: shape.name,
        summary: &shape.text,
        received_at: at,
        examined: if open_now {
            Examined::Now
        } else {
            Examined::From(settings.calendar.next_opening(at))
        },
        urgent: shape.urgent,
        channel: &shape.channel,
        settings,
    });
    // A request a colleague wrote is also the sample of colleagues in copy and of a
    // stranger in Cc.
    let copied: Vec<Address> = shape.colleague.into_iter().cloned().collect();
    let stranger = [address("fornitore@example.com")];
    let not_copied: &[Address] = if copied.is_empty() { &[] } else { &stranger };
    let brief = brief_values(&TicketBrief {
        code: &t.code,
        customer: &t.contract.customer,
        contract_until: t.contract.valid_until,
        requester: &t.requester,
        sender: shape.colleague.unwrap_or(&t.requester),
        received_at: at,
        text: &shape.text,
        urgent: shape.urgent,
        open_now,
        first_contact_due: at + chrono::Duration::hours(4),
        channel: &shape.channel,
        attachments: &shape.attachments,
        copied: &copied,
        not_copied,
        settings,
    });
    (ack, brief)
}

fn rejections(settings: &Settings, t: &TicketFacts) -> Vec<(String, Json)> {
    let to = &t.requester;
    let day = t.contract.valid_until;
    let mut reasons: Vec<Rejection> = [
        SubjectProblem::Empty,
        SubjectProblem::SeveralAddresses,
        SubjectProblem::ExtraText,
        SubjectProblem::NoAddress,
    ]
    .into_iter()
    .map(Rejection::SubjectNotAddress)
    .collect();
    reasons.extend([
        Rejection::AddressNotEnabled {
            requester: to.clone(),
        },
        Rejection::SenderNotEnabled {
            sender: to.clone(),
            requester: address("ufficio@example.it"),
        },
        Rejection::ContractExpired {
            requester: to.clone(),
            until: day,
        },
        Rejection::ContractNotYetValid {
            requester: to.clone(),
            from: day,
        },
        Rejection::ContractDisabled {
            requester: to.clone(),
        },
        Rejection::MissingReference,
        Rejection::EmptyRequest,
        Rejection::TooLarge {
            size: 31_457_280,
            limit: settings.max_message_bytes,
        },
        Rejection::UnknownTicket {
            code: t.code.clone(),
        },
    ]);
    let mut out: Vec<(String, Json)> = reasons
        .iter()
        .map(|reason| {
            let subject = if matches!(reason, Rejection::SubjectNotAddress(_)) {
                HOSTILE
            } else {
                "mario.rossi@example.it"
            };
            let c = rejection_context(settings, to, subject, &Channel::Email);
            (format!("{reason:?}"), rejection_values(reason, &c))
        })
        .collect();
    out.extend(web_rejections(settings, to, &reasons));
    out
}

/// The rejections a form's request can get. A form has no subject, names its requester
/// itself and no ticket: only the reasons about the contract and the request's fields can
/// refuse it.
fn web_rejections(settings: &Settings, to: &Address, reasons: &[Rejection]) -> Vec<(String, Json)> {
    let web = Channel::Web(sample_form(false));
    let subject = "Modulo web: https://www.rossi-impianti.it";
    let mut out = vec![];
    for reason in reasons.iter().filter(|r| {
        matches!(
            r,
            Rejection::ContractExpired { .. }
                | Rejection::ContractNotYetValid { .. }
                | Rejection::ContractDisabled { .. }
                | Rejection::MissingReference
                | Rejection::EmptyRequest
                | Rejection::TooLarge { .. }
        )
    }) {
        let c = rejection_context(settings, to, subject, &web);
        out.push((format!("web: {reason:?}"), rejection_values(reason, &c)));
    }
    out
}

fn rejection_context<'a>(
    settings: &'a Settings,
    to: &'a Address,
    original_subject: &'a str,
    channel: &'a Channel,
) -> RejectionContext<'a> {
    RejectionContext {
        to,
        original_subject,
        received_at: open(),
        channel,
        settings,
    }
}

/// The confirmation a form's request may ask for, with a plain request and a hostile one.
fn confirmations(settings: &Settings) -> Vec<(&'static str, Json)> {
    let hostile = FormFields {
        reference: HOSTILE.into(),
        request: HOSTILE.into(),
        ..sample_form(false)
    };
    [
        ("web form", sample_form(false)),
        ("customer text with template syntax", hostile),
    ]
    .into_iter()
    .map(|(label, fields)| {
        let values = confirmation_values(&ConfirmationText {
            reference: &fields.reference,
            summary: &fields.request,
            link: "https://www.kzweb.it/assistenza/conferma/0123456789abcdef",
            valid_until: open() + chrono::Duration::hours(24),
            received_at: open(),
            settings,
        });
        (label, values)
    })
    .collect()
}

/// The mails an operator's commands send: answer, closure, assignment, escalation.
fn operators_work(settings: &Settings, t: &TicketFacts) -> Vec<(MailKind, &'static str, Json)> {
    let mut out = vec![];
    for (label, text) in [
        ("with text", "Abbiamo corretto il modulo."),
        ("without text", ""),
        ("customer text with template syntax", HOSTILE),
    ] {
        let o = OperatorText {
            ticket: t,
            operator: "Giulia",
            text,
            settings,
        };
        out.push((MailKind::Relay, label, operator_values(&o)));
        let until = t.status.reopen_until.unwrap_or_else(closed);
        out.push((MailKind::Closure, label, closure_values(&o, until)));
        let mut unanswered = closure_values(&o, until);
        unanswered["unanswered"] = true.into();
        out.push((MailKind::Closure, "closed for no answer", unanswered));
        out.push((MailKind::Quote, label, quote_values(&o, 125_050)));
        let into = TicketCode {
            number: 12,
            ..t.code.clone()
        };
        out.push((MailKind::Merged, label, merged_values(&o, &into)));
        out.push((MailKind::Assignment, label, assignment_values(&o, "Marco")));
        out.push((
            MailKind::Escalation,
            label,
            escalation_values(&o, "sistemisti"),
        ));
    }
    out
}

/// The quote's texts (the answer either way, the reminder) and the reminder of a ticket
/// that waits for the customer.
fn quotes_and_waiting(settings: &Settings, t: &TicketFacts) -> Vec<(MailKind, &'static str, Json)> {
    let quote = PendingQuote {
        amount_cents: 25_000,
        sent_at: open(),
        operator: "Giulia".into(),
    };
    let sender = address("anna.bianchi@example.it");
    let reply = CustomerReplyText {
        ticket: t,
        sender: &sender,
        text: HOSTILE,
        received_at: open(),
        settings,
    };
    let mut awaiting = t.clone();
    awaiting.status.state = TicketState::AwaitingApproval;
    awaiting.pending_quote = Some(quote.clone());
    let mut waiting = t.clone();
    waiting.status.state = TicketState::Waiting;
    waiting.status.auto_close_at = Some(closed());
    let mut out = vec![];
    for (label, accepted) in [("accepted", true), ("refused", false)] {
        let values = quote_answer_values(&reply, &quote, accepted);
        out.push((MailKind::QuoteAnswered, label, values.clone()));
        out.push((MailKind::QuoteNotice, label, values));
    }
    out.push((
        MailKind::CustomerReminder,
        "quote",
        reminder_values(&awaiting, None),
    ));
    out.push((
        MailKind::CustomerReminder,
        "waiting",
        reminder_values(&waiting, waiting.status.auto_close_at),
    ));
    let mut reminded = waiting.clone();
    reminded.status.customer_reminded_at = Some(open());
    out.push((
        MailKind::UnansweredNotice,
        "reminded, no answer",
        unanswered_values(&reminded, closed()),
    ));
    out
}

/// A customer's reply forwarded, with and without strangers in copy.
fn forwards(settings: &Settings, t: &TicketFacts) -> Vec<(&'static str, Json)> {
    let sender = address("anna.bianchi@example.it");
    let strangers = [address("fornitore@example.com")];
    let reply = CustomerReplyText {
        ticket: t,
        sender: &sender,
        text: HOSTILE,
        received_at: open(),
        settings,
    };
    vec![
        ("only the contract", forward_values(&reply, &[])),
        ("a stranger in copy", forward_values(&reply, &strangers)),
    ]
}

/// A customer's reply, to a ticket taken by an operator and to one nobody has taken.
fn replies(settings: &Settings, t: &TicketFacts) -> Vec<(&'static str, Json)> {
    let mut taken = t.clone();
    taken.status.operator = Some("Giulia".into());
    taken.status.reopen_until = Some(closed());
    let sender = address("anna.bianchi@example.it");
    [("taken by an operator", &taken), ("nobody in charge", t)]
        .into_iter()
        .map(|(label, ticket)| {
            let values = reply_values(&CustomerReplyText {
                ticket,
                sender: &sender,
                text: HOSTILE,
                received_at: open(),
                settings,
            });
            (label, values)
        })
        .collect()
}

fn refusals(settings: &Settings, t: &TicketFacts) -> Vec<(String, Json)> {
    let command = "#chiudi";
    let all = [
        Refusal::NoTicket,
        Refusal::UnknownTicket(t.code.clone()),
        Refusal::TooLarge,
        Refusal::BadCommand(CommandError::Unknown("#chiudo".into())),
        Refusal::BadCommand(CommandError::MissingArgument("#assegna")),
        Refusal::BadCommand(CommandError::BadArgument("#chiudi 900h".into())),
        Refusal::BadCommand(CommandError::Conflict("#chiudi", "#nota")),
        Refusal::NotNow {
            command,
            why: NotNow::ClosedForGood,
        },
        Refusal::NotNow {
            command,
            why: NotNow::Resolved {
                reopen_until: Some(closed()),
            },
        },
        Refusal::NotNow {
            command,
            why: NotNow::TakenBy("Marco".into()),
        },
        Refusal::NotNow {
            command,
            why: NotNow::NotDue,
        },
        Refusal::NotNow {
            command,
            why: NotNow::Merged(Some(TicketCode {
                number: 12,
                ..t.code.clone()
            })),
        },
        Refusal::UnknownOperator("Marcello".into()),
        Refusal::UnknownTeam("grafici".into()),
        Refusal::Empty,
        Refusal::MergeUnknown("KZ-2026-99999".into()),
        Refusal::MergeIntoItself,
        Refusal::MergeAcrossContracts(TicketCode {
            number: 7,
            ..t.code.clone()
        }),
        Refusal::NotOfContract(address("fornitore@example.com")),
        Refusal::NotCopied(address("anna.bianchi@example.it")),
        Refusal::TimeBelowZero(30),
    ];
    all.iter()
        .map(|refusal| {
            let code = (!matches!(refusal, Refusal::NoTicket)).then_some(&t.code);
            let values = refusal_values(refusal, code, "Giulia", settings);
            (format!("{refusal:?}"), values)
        })
        .collect()
}

/// The reminder, the bounce notice and the failure notice.
fn notices(t: &TicketFacts) -> Vec<(MailKind, &'static str, Json)> {
    let mut urgent = t.clone();
    urgent.status.urgent = true;
    let due = open() + chrono::Duration::hours(4);
    let reminder = |t: &TicketFacts| serde_json::json!({ "ticket": super::ticket(t), "due_at": super::italian_when(due) });
    let full = Bounce {
        original_message_id: None,
        recipient: Some(t.requester.to_string()),
        action: Some("failed".into()),
        status: Some("5.1.1".into()),
        diagnostic: Some("550 5.1.1 user unknown".into()),
    };
    let bare = Bounce {
        recipient: None,
        status: None,
        diagnostic: None,
        ..full.clone()
    };
    let sender = address("sconosciuto@example.it");
    let failure = |sender| failure_values(sender, HOSTILE, open(), "database locked", "Quarantine");
    vec![
        (MailKind::Reminder, "not urgent", reminder(t)),
        (MailKind::Reminder, "urgent", reminder(&urgent)),
        (
            MailKind::BounceNotice,
            "with the server's answer",
            bounce_values(t, &full),
        ),
        (
            MailKind::BounceNotice,
            "without details",
            bounce_values(t, &bare),
        ),
        (
            MailKind::FailureNotice,
            "known sender",
            failure(Some(&sender)),
        ),
        (MailKind::FailureNotice, "unknown sender", failure(None)),
    ]
}

/// One ticket of the sample digests, about the sample ticket's customer and request.
fn sample_line<'a>(
    t: &'a TicketFacts,
    code: &'a TicketCode,
    status: &'a TicketStatus,
    late: bool,
    deadline: Option<Deadline>,
) -> DigestLine<'a> {
    DigestLine {
        code,
        customer: &t.contract.customer,
        summary: &t.summary,
        status,
        opened_at: t.opened_at,
        time_minutes: if status.operator.is_some() { 90 } else { 0 },
        late,
        deadline,
    }
}

/// The morning digest of Wednesday 11 March 2026: an operator's, with a ticket waiting for
/// a quote's answer, one waiting for the customer and one simply taken; and the queue's,
/// with a ticket taken late, one still in time and one whose customer wrote template
/// syntax.
fn digests(t: &TicketFacts) -> Vec<(&'static str, Json)> {
    let day = NaiveDate::from_ymd_opt(2026, 3, 11).unwrap_or_default();
    let code = |number| TicketCode {
        number,
        ..t.code.clone()
    };
    let codes = [code(40), code(41), code(42), code(43), code(44), code(45)];
    let mut taken = t.status.clone();
    taken.state = TicketState::Taken;
    taken.operator = Some("Giulia".into());
    taken.first_contact_at = Some(open());
    let mut waiting = taken.clone();
    waiting.state = TicketState::Waiting;
    waiting.customer_reminded_at = Some(open() + chrono::Duration::days(1));
    waiting.auto_close_at = Some(open() + chrono::Duration::days(3));
    let mut quote = taken.clone();
    quote.state = TicketState::AwaitingApproval;
    quote.customer_reminder_at = Some(open() + chrono::Duration::days(2));
    quote.urgent = true;
    let untaken = t.status.clone();
    let due = |s: &TicketStatus| s.first_contact_due_at.map(Deadline::FirstContact);
    let operator = [
        sample_line(t, &codes[0], &quote, false, quote.next_deadline()),
        sample_line(t, &codes[1], &waiting, false, waiting.next_deadline()),
        sample_line(t, &codes[2], &taken, false, None),
    ];
    let hostile = DigestLine {
        customer: HOSTILE,
        summary: HOSTILE,
        ..sample_line(t, &codes[5], &untaken, false, due(&untaken))
    };
    let queue = [
        sample_line(t, &codes[3], &untaken, true, due(&untaken)),
        sample_line(t, &codes[4], &untaken, false, due(&untaken)),
        hostile,
    ];
    vec![
        (
            "an operator with three tickets",
            digest_values(Some("Giulia"), &operator, day),
        ),
        ("the queue", digest_values(None, &queue, day)),
        (
            "the queue, one ticket",
            digest_values(None, &queue[..1], day),
        ),
    ]
}

/// The expiry notices of the sample ticket's contract: 18 days before its end with use
/// recorded, on its last day, the day after with no use, a month after, and a contract
/// whose customer's name is template syntax.
fn expiries(t: &TicketFacts) -> Vec<(&'static str, Json)> {
    let since = NaiveDate::from_ymd_opt(2025, 12, 13).unwrap_or_default();
    let text = |lapsed, days, tickets, minutes| ExpiryText {
        contract: &t.contract,
        lapsed,
        days,
        since,
        tickets,
        minutes,
    };
    let mut hostile = t.contract.clone();
    hostile.customer = HOSTILE.into();
    hostile.references = vec![HOSTILE.into()];
    vec![
        ("18 days before", expiry_values(&text(false, 18, 12, 750))),
        ("on its last day", expiry_values(&text(false, 0, 1, 45))),
        ("the day after, unused", expiry_values(&text(true, 1, 0, 0))),
        ("a month after", expiry_values(&text(true, 30, 3, 0))),
        (
            "hostile customer name",
            expiry_values(&ExpiryText {
                contract: &hostile,
                ..text(false, 1, 2, 60)
            }),
        ),
    ]
}

/// Every problem of `texts`: each situation rendered, and every variable a template
/// names that its mail does not give. Empty when the set may be put in force.
pub fn check(texts: &Texts, settings: &Settings) -> Vec<TextProblem> {
    let situations = situations(settings, &sample_ticket());
    let mut problems: Vec<TextProblem> = vec![];
    for s in &situations {
        if let Err(mut p) = texts.render(s.kind.template(), &s.values) {
            p.message = format!("{} (rendering \"{}\")", p.message, s.label);
            if !problems
                .iter()
                .any(|q| q.file == p.file && q.line == p.line)
            {
                problems.push(p);
            }
        }
    }
    for p in unknown_variables(texts, &situations) {
        let variable = format!("`{}`", p.message.split('`').nth(1).unwrap_or(""));
        let known = |q: &TextProblem| {
            q.file == p.file && (q.line == p.line || q.message.contains(&variable))
        };
        if !problems.iter().any(known) {
            problems.push(p);
        }
    }
    problems.extend(super::pages::check(texts, settings));
    problems
}

/// Variables no situation of a template's mail gives (a typo in a branch the samples do
/// not take); parts are held to what any mail gives.
fn unknown_variables(texts: &Texts, situations: &[Situation]) -> Vec<TextProblem> {
    let given = |kind: Option<MailKind>| -> Vec<String> {
        let mut keys: Vec<String> = situations
            .iter()
            .filter(|s| kind.is_none_or(|k| k == s.kind))
            .flat_map(|s| variables_of(&s.values))
            .collect();
        keys.sort();
        keys.dedup();
        keys
    };
    let mut problems = vec![];
    for name in names().filter(|n| !is_page(n)) {
        let kind = MailKind::for_template(name);
        let known = given(kind);
        for variable in texts.variables(name) {
            if !known.contains(&variable) {
                problems.push(texts.unknown_variable(name, &variable));
            }
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::decide_tests::settings;
    use crate::core::texts::Origin;

    fn rendered(kind: MailKind, label: &str) -> (String, String) {
        let settings = settings();
        let s = situations(&settings, &sample_ticket())
            .into_iter()
            .find(|s| s.kind == kind && s.label == label)
            .unwrap_or_else(|| panic!("no situation {kind:?} {label}"));
        settings
            .texts
            .render(kind.template(), &s.values)
            .expect("the built-in renders")
    }

    #[test]
    fn every_built_in_renders_every_situation_and_passes_the_check() {
        let settings = settings();
        let all = situations(&settings, &sample_ticket());
        for kind in MailKind::ALL {
            assert!(
                all.iter().any(|s| s.kind == kind),
                "{kind:?} has no situation"
            );
        }
        assert_eq!(check(&settings.texts, &settings), vec![]);
    }

    #[test]
    fn the_ack_gives_the_code_the_rules_and_when_it_will_be_examined() {
        let (subject, body) = rendered(MailKind::Ack, "open now");
        assert_eq!(
            subject,
            "[KZ-2026-00042] Richiesta di assistenza presa in carico"
        );
        assert!(body.starts_with("Gentile Mario Rossi,\n\n"), "{body}");
        assert!(body.contains("\n    KZ-2026-00042\n"));
        assert!(body.contains("> Il modulo della pagina Contatti non invia i messaggi.\n\n"));
        assert!(body.contains("dal lunedì al venerdì dalle 9:00 alle 18:00"));
        assert!(body.contains("sarà esaminata a breve") && !body.contains("URGENTE"));
        assert!(body.contains("lasciando il codice [KZ-2026-00042] nell'oggetto"));
        assert!(
            body.ends_with("\n-- \nQuesto è un messaggio automatico del servizio di assistenza.\n")
        );
        let (_, late) = rendered(MailKind::Ack, "urgent outside hours");
        assert!(late.starts_with("Gentile cliente,"));
        assert!(
            late.contains("a partire da lunedì 16 marzo 2026 alle 9:00"),
            "{late}"
        );
        assert!(late.contains("URGENTE") && late.contains("fatturati a parte"));
        let (_, colleague) = rendered(MailKind::Ack, "colleague in copy");
        assert!(colleague
            .contains("inviata da anna.bianchi@example.it per conto di mario.rossi@example.it"));
    }

    #[test]
    fn every_rejection_explains_and_shows_an_example_with_the_senders_address() {
        let settings = settings();
        let all = situations(&settings, &sample_ticket());
        let rejections: Vec<_> = all
            .iter()
            .filter(|s| s.kind == MailKind::Rejection && !s.label.starts_with("web: "))
            .collect();
        assert_eq!(rejections.len(), 13);
        for s in rejections {
            let (subject, body) = settings
                .texts
                .render("rejection.j2", &s.values)
                .expect("ok");
            assert_eq!(subject, "Richiesta di assistenza non accettata");
            let explained = body
                .split("ma non possiamo aprire un ticket di assistenza:\n\n")
                .nth(1)
                .and_then(|rest| rest.lines().next())
                .unwrap_or("");
            assert!(
                explained.len() > 40,
                "{}: no reason given:\n{body}",
                s.label
            );
            assert!(body.contains("10 marzo 2026 alle 10:05"), "{}", s.label);
            assert!(
                body.contains("    Oggetto: mario.rossi@example.it\n"),
                "{}",
                s.label
            );
        }
    }

    #[test]
    fn customer_text_is_shown_as_written_never_run_as_a_template() {
        for kind in [MailKind::Ack, MailKind::QueueNotice] {
            let (subject, body) = rendered(kind, "customer text with template syntax");
            assert!(body.contains("{{ 7*7 }} {% for %} <b>"), "{kind:?}: {body}");
            assert!(!body.contains("49"), "{kind:?}");
            assert!(
                !subject.contains('\n') && !subject.contains('\r'),
                "{subject:?}"
            );
        }
        let (subject, _) = rendered(MailKind::FailureNotice, "known sender");
        assert!(!subject.contains(['\r', '\n']));
    }

    #[test]
    fn a_refusal_names_the_reason_and_the_operators_and_teams_to_use() {
        let (subject, body) = rendered(MailKind::CommandRefused, "UnknownOperator(\"Marcello\")");
        assert_eq!(subject, "[KZ-2026-00042] Messaggio non eseguito");
        assert!(
            body.contains(
                "non c'è un operatore «Marcello». Operatori: Giulia, Marco, Sergio, Paola."
            ),
            "{body}"
        );
        let (subject, _) = rendered(MailKind::CommandRefused, "NoTicket");
        assert_eq!(subject, "Messaggio non eseguito");
    }

    #[test]
    fn an_edited_template_using_a_variable_its_mail_lacks_fails_the_check_with_its_line() {
        let settings = settings();
        let texts = Texts::compile(vec![(
            "ack.j2".into(),
            "Subject: [{{ ticket.code }}] ok\n\nuno\n{% if ticket.urgent %}\n{{ ticket.nope }}\n{% endif %}\n"
                .into(),
            Origin::File("/t/ack.j2".into()),
        )])
        .expect("compiles");
        let problems = check(&texts, &settings);
        assert!(!problems.is_empty());
        assert_eq!(problems[0].file, "/t/ack.j2");
        assert_eq!(problems[0].line, Some(5), "{problems:?}");
    }

    fn body_of(kind: MailKind, label: &str) -> String {
        rendered(kind, label).1
    }

    #[test]
    fn a_web_rejection_speaks_of_the_form_and_never_of_a_subject() {
        let settings = settings();
        let all = situations(&settings, &sample_ticket());
        let web: Vec<_> = all
            .iter()
            .filter(|s| s.kind == MailKind::Rejection && s.label.starts_with("web: "))
            .collect();
        assert_eq!(web.len(), 6);
        for s in web {
            let (_, body) = settings
                .texts
                .render("rejection.j2", &s.values)
                .expect("ok");
            assert!(
                !body.to_lowercase().contains("oggetto"),
                "{}:\n{body}",
                s.label
            );
            assert!(
                body.contains("la richiesta inviata dal modulo di assistenza del sito il 10 marzo 2026 alle 10:05, ma non possiamo aprire un ticket di assistenza:\n\n"),
                "{}:\n{body}",
                s.label
            );
            let explained = body
                .split("aprire un ticket di assistenza:\n\n")
                .nth(1)
                .and_then(|rest| rest.lines().next())
                .unwrap_or("");
            assert!(
                explained.len() > 40,
                "{}: no reason given:\n{body}",
                s.label
            );
            assert!(body.contains("\n- Riferimento: il sito"), "{}", s.label);
        }
        let missing = body_of(MailKind::Rejection, "web: MissingReference");
        assert!(
            missing.contains("il campo Riferimento non indica il sito"),
            "{missing}"
        );
        let empty = body_of(MailKind::Rejection, "web: EmptyRequest");
        assert!(empty.contains("il campo Richiesta non descrive"), "{empty}");
    }

    #[test]
    fn the_web_ack_says_the_request_came_from_the_sites_form() {
        let web = body_of(MailKind::Ack, "web form with two attachments");
        assert!(web.starts_with("Gentile Mario Rossi,\n\nla richiesta di assistenza che ha inviato dal modulo del sito è stata presa in carico con il codice\n"), "{web}");
        assert!(web.contains("> Riferimento: https://www.rossi-impianti.it\n"));
        let mail = body_of(MailKind::Ack, "open now");
        assert!(!mail.contains("modulo del sito"), "{mail}");
    }

    #[test]
    fn notices_of_a_form_request_name_the_channel_the_name_typed_and_the_files() {
        let queue = body_of(MailKind::QueueNotice, "web form with two attachments");
        assert!(
            queue.contains(
                "Richiedente: mario.rossi@example.it (Mario Rossi)\nCanale:      modulo web\n"
            ),
            "{queue}"
        );
        assert!(
            queue.contains(
                "\nAllegati:    schermata.png (120 KB), fattura.pdf (1,5 MB)\n\nRichiesta:"
            ),
            "{queue}"
        );
        let oncall = body_of(MailKind::OnCall, "web form, urgent outside hours");
        assert!(oncall.contains("Canale:      modulo web\n"), "{oncall}");
        assert!(!oncall.contains("Allegati:"), "{oncall}");
        // By mail: nothing new but the files' names.
        let mail = body_of(MailKind::QueueNotice, "open now");
        assert!(
            !mail.contains("Canale:") && !mail.contains("Allegati:"),
            "{mail}"
        );
        assert!(
            mail.contains("Richiedente: mario.rossi@example.it\n"),
            "{mail}"
        );
        let late = body_of(MailKind::QueueNotice, "outside hours");
        assert!(
            late.contains("\nAllegati:    preventivo.pdf (830 byte)\n"),
            "{late}"
        );
    }

    #[test]
    fn what_a_form_sends_never_breaks_a_subject_line_and_is_shown_as_typed() {
        for kind in [MailKind::QueueNotice, MailKind::OnCall, MailKind::Ack] {
            let (subject, body) = rendered(kind, "web form with template syntax");
            assert!(!subject.contains(['\r', '\n']), "{kind:?}: {subject:?}");
            assert!(!subject.chars().any(char::is_control), "{subject:?}");
            assert!(body.contains("{{ 7*7 }} {% for %} <b>") && !body.contains("49"));
            assert!(!body.contains("&lt;"), "a mail is text, not HTML: {body}");
        }
        let (subject, _) = rendered(MailKind::QueueNotice, "web form with template syntax");
        assert!(
            subject.ends_with("— Riferimento: {{ 7*7 }} {% for %} <b>"),
            "{subject:?}"
        );
    }

    #[test]
    fn the_confirmation_gives_the_link_the_deadline_and_what_to_do_if_it_was_not_them() {
        let (subject, body) = rendered(MailKind::Confirmation, "web form");
        assert_eq!(subject, "Conferma la richiesta di assistenza");
        assert!(body.contains("\nhttps://www.kzweb.it/assistenza/conferma/0123456789abcdef\n"));
        assert!(
            body.contains("confermi entro 11 marzo 2026 alle 10:05"),
            "{body}"
        );
        assert!(body.contains("Riferimento: https://www.rossi-impianti.it\n"));
        assert!(body.contains("> Il modulo della pagina Contatti non invia i messaggi.\n"));
        assert!(body
            .contains("Se non è stato lei, ignori questo messaggio: nessun ticket verrà aperto."));
        let (_, hostile) = rendered(MailKind::Confirmation, "customer text with template syntax");
        assert!(
            hostile.contains("Riferimento: {{ 7*7 }} {% for %} <b>  Bcc: x@y.it\n"),
            "{hostile}"
        );
    }
}
