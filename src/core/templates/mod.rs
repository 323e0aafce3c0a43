//! Every sentence a person reads, in Italian, is a template (`templates/*.j2` in the
//! repository, compiled by `texts`); this module gives each one its values, built from
//! the facts the rules already have. Customers' texts in `customer` (formal "Lei", as the
//! agency writes to its customers), operators' in `operator`; `samples` lists the
//! situations every set must render before it is put in force. Code and logs stay
//! English.
//!
//! A value a customer wrote is data, never template source: `{{ 7*7 }}` in a request
//! reaches the operator as written. Headers are built in `mail::compose`, which also
//! encodes the subject, and `texts` makes the subject one line, so no template and no
//! value can inject a header.

mod customer;
mod operator;
pub mod pages;
pub mod samples;

use chrono::{DateTime, Datelike, NaiveDate, Timelike, Utc, Weekday};
use serde_json::{json, Value as Json};

use super::address::Address;
use super::calendar::{rome, Calendar};
use super::decision::{MailKind, Settings};
use super::inbound::{Attachment, Channel};
use super::texts::Text;
use super::ticket::{TicketCode, TicketFacts};

pub use customer::{
    ack, closure, closure_unanswered, confirmation, customer_reminder, merged, quote,
    quote_answered, rejection, relay, reopen_refused, reopened, AckText, ConfirmationText,
    Examined, RejectionContext,
};
pub use operator::{
    assignment, bounce_notice, command_refused, contract_expiry, digest, escalation,
    failure_notice, forward, oncall_notice, queue_notice, quote_notice, reminder, reopen_notice,
    report, unanswered_notice, DigestLine, ExpiryText,
};

/// What texts about a new ticket need (queue notice, on-call alert).
pub struct TicketBrief<'a> {
    pub code: &'a TicketCode,
    pub customer: &'a str,
    pub contract_until: NaiveDate,
    pub requester: &'a Address,
    pub sender: &'a Address,
    pub received_at: DateTime<Utc>,
    /// The request's own text.
    pub text: &'a str,
    pub urgent: bool,
    /// Whether the desk was open when it arrived.
    pub open_now: bool,
    pub first_contact_due: DateTime<Utc>,
    /// How the request came: a form's also gives the name typed in it.
    pub channel: &'a Channel,
    /// The files that came with it, relayed with the notice and named in its text.
    pub attachments: &'a [Attachment],
    /// Colleagues of the contract copied on the ticket.
    pub copied: &'a [Address],
    /// Other addresses the request was sent to, never written to.
    pub not_copied: &'a [Address],
    pub settings: &'a Settings,
}

/// What texts caused by an operator's message need.
pub struct OperatorText<'a> {
    pub ticket: &'a TicketFacts,
    /// The operator's name.
    pub operator: &'a str,
    /// The text after the commands.
    pub text: &'a str,
    pub settings: &'a Settings,
}

/// Addresses as a template lists them.
pub(crate) fn address_list(addresses: &[Address]) -> Json {
    addresses.iter().map(ToString::to_string).collect()
}

/// What texts caused by a customer's reply need.
pub struct CustomerReplyText<'a> {
    pub ticket: &'a TicketFacts,
    pub sender: &'a Address,
    /// The reply's own text (no quotes).
    pub text: &'a str,
    pub received_at: DateTime<Utc>,
    pub settings: &'a Settings,
}

/// The text of a mail of `kind`: its template in force rendered with `values` and the
/// desk's own (`desk.name`, `desk.address`, `desk.hours`).
pub(crate) fn mail(settings: &Settings, kind: MailKind, values: Json) -> Text {
    settings
        .texts
        .mail(kind.template(), &context(settings, values))
}

/// `values` with the desk's own added, as a template receives them.
pub(crate) fn context(settings: &Settings, mut values: Json) -> minijinja::Value {
    if let Some(map) = values.as_object_mut() {
        map.insert(
            "desk".into(),
            json!({
                "name": settings.signature,
                "address": settings.support_address.to_string(),
                "hours": office_hours(&settings.calendar),
            }),
        );
    }
    minijinja::Value::from(minijinja::value::Serde(values))
}

/// `ticket.*` for a ticket being opened: nobody in charge yet.
pub(crate) fn new_ticket(
    code: &TicketCode,
    customer: &str,
    contract_until: NaiveDate,
    requester: &Address,
    opened_at: DateTime<Utc>,
    summary: &str,
    urgent: bool,
) -> Json {
    json!({
        "code": code.to_string(),
        "customer": printable(customer),
        "requester": requester.to_string(),
        "contract_until": italian_date(contract_until),
        "opened_at": italian_datetime(opened_at),
        "summary": summary.trim(),
        "urgent": urgent,
        "operator": null,
        "team": null,
    })
}

/// `ticket.*` for an existing ticket.
pub(crate) fn ticket(t: &TicketFacts) -> Json {
    json!({
        "code": t.code.to_string(),
        "customer": printable(&t.contract.customer),
        "requester": t.requester.to_string(),
        "contract_until": italian_date(t.contract.valid_until),
        "opened_at": italian_datetime(t.opened_at),
        "summary": t.summary.trim(),
        "urgent": t.status.urgent,
        "operator": t.status.operator,
        "team": t.status.team,
    })
}

/// Text from the sender shown back in a body: control characters removed and length
/// capped, so a hostile subject cannot reshape the message.
pub(crate) fn printable(text: &str) -> String {
    let clean: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let clean = clean.trim();
    if clean.chars().count() > 120 {
        let cut: String = clean.chars().take(120).collect();
        format!("{cut}…")
    } else {
        clean.to_string()
    }
}

/// `attachments` as templates receive them: each file's name, shown safely, and its size
/// in words.
pub(crate) fn attachment_list(attachments: &[Attachment]) -> Json {
    attachments
        .iter()
        .map(|a| json!({ "name": printable(&a.filename), "size": file_size(a.data.len()) }))
        .collect()
}

/// A file's size as an Italian reads it: `830 byte`, `120 KB`, `1,5 MB`.
pub(crate) fn file_size(bytes: usize) -> String {
    const KB: usize = 1024;
    let kb = bytes.div_ceil(KB);
    if bytes < KB {
        format!("{bytes} byte")
    } else if kb < KB {
        format!("{kb} KB")
    } else {
        format!("{} MB", megabytes(bytes as u64))
    }
}

pub(crate) fn megabytes(bytes: u64) -> String {
    let mb = bytes as f64 / (1024.0 * 1024.0);
    format!("{mb:.1}").replace('.', ",")
}

/// Euro as an Italian reads them: `1.250,00 €`.
pub fn euro(cents: u64) -> String {
    let whole = (cents / 100).to_string();
    let mut grouped = String::new();
    for (i, digit) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i) % 3 == 0 {
            grouped.push('.');
        }
        grouped.push(digit);
    }
    format!("{grouped},{:02} €", cents % 100)
}

/// Minutes as an operator writes them: `1h30`, `45m`, `2h`, `-30m`.
pub fn duration(minutes: i64) -> String {
    let sign = if minutes < 0 { "-" } else { "" };
    let (h, m) = (minutes.abs() / 60, minutes.abs() % 60);
    match (h, m) {
        (0, m) => format!("{sign}{m}m"),
        (h, 0) => format!("{sign}{h}h"),
        (h, m) => format!("{sign}{h}h{m:02}"),
    }
}

pub(crate) const MONTHS: [&str; 12] = [
    "gennaio",
    "febbraio",
    "marzo",
    "aprile",
    "maggio",
    "giugno",
    "luglio",
    "agosto",
    "settembre",
    "ottobre",
    "novembre",
    "dicembre",
];

/// `10 marzo 2026`.
pub fn italian_date(d: NaiveDate) -> String {
    format!("{} {} {}", d.day(), MONTHS[d.month0() as usize], d.year())
}

/// `10 marzo 2026 alle 10:05`, in Europe/Rome.
pub fn italian_datetime(at: DateTime<Utc>) -> String {
    let local = rome(at);
    format!(
        "{} alle {}",
        italian_date(local.date_naive()),
        local.format("%H:%M")
    )
}

const WEEKDAYS: [&str; 7] = [
    "lunedì",
    "martedì",
    "mercoledì",
    "giovedì",
    "venerdì",
    "sabato",
    "domenica",
];

fn weekday_name(d: Weekday) -> &'static str {
    WEEKDAYS[d.num_days_from_monday() as usize]
}

/// `lunedì 7 dicembre 2026`: a day with its weekday, as the morning digest names it.
pub fn italian_day(d: NaiveDate) -> String {
    format!("{} {}", weekday_name(d.weekday()), italian_date(d))
}

/// `lunedì 7 dicembre 2026 alle 9:00`, in Europe/Rome: the weekday tells a customer at a
/// glance whether it is after the weekend.
pub fn italian_when(at: DateTime<Utc>) -> String {
    let local = rome(at);
    format!(
        "{} {} {} {} alle {}:{:02}",
        weekday_name(local.weekday()),
        local.day(),
        MONTHS[local.month0() as usize],
        local.year(),
        local.hour(),
        local.minute()
    )
}

/// The office hours in words: `dal lunedì al venerdì dalle 9:00 alle 18:00`.
pub fn office_hours(calendar: &Calendar) -> String {
    let mut days: Vec<Weekday> = calendar.days.clone();
    days.sort_by_key(|d| d.num_days_from_monday());
    days.dedup();
    let contiguous = days
        .windows(2)
        .all(|w| w[1].num_days_from_monday() == w[0].num_days_from_monday() + 1);
    let days_text = match days.as_slice() {
        [] => String::from("in nessun giorno"),
        [one] => format!("il {}", weekday_name(*one)),
        [first, .., last] if contiguous => {
            format!("dal {} al {}", weekday_name(*first), weekday_name(*last))
        }
        many => {
            let names: Vec<&str> = many.iter().map(|d| weekday_name(*d)).collect();
            format!("il {}", names.join(", "))
        }
    };
    let time = |t: chrono::NaiveTime| format!("{}:{:02}", t.hour(), t.minute());
    format!(
        "{days_text} dalle {} alle {}",
        time(calendar.opens),
        time(calendar.closes)
    )
}

/// `ticket`, `ticket.code`, … : the names a template may use, as minijinja lists them.
pub fn variables_of(values: &minijinja::Value) -> Vec<String> {
    let mut out = vec![];
    if let Ok(keys) = values.try_iter() {
        for key in keys {
            let Some(name) = key.as_str().map(str::to_string) else {
                continue;
            };
            if let Ok(inner) = values.get_item(&key) {
                if inner.kind() == minijinja::value::ValueKind::Map {
                    if let Ok(sub) = inner.try_iter() {
                        out.extend(sub.filter_map(|k| k.as_str().map(|k| format!("{name}.{k}"))));
                    }
                }
            }
            out.push(name);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use chrono_tz::Europe::Rome;

    #[test]
    fn a_time_is_written_with_weekday_day_month_year_and_hour_in_rome() {
        let at = Rome
            .with_ymd_and_hms(2026, 12, 7, 9, 0, 0)
            .single()
            .expect("valid")
            .with_timezone(&Utc);
        assert_eq!(italian_when(at), "lunedì 7 dicembre 2026 alle 9:00");
    }

    #[test]
    fn a_file_size_is_written_in_byte_kb_or_mb_with_a_decimal_comma() {
        assert_eq!(file_size(830), "830 byte");
        assert_eq!(file_size(120 * 1024), "120 KB");
        assert_eq!(file_size(120 * 1024 + 1), "121 KB");
        assert_eq!(file_size(1024 * 1024 - 1), "1,0 MB");
        assert_eq!(file_size(3 * 512 * 1024), "1,5 MB");
    }

    #[test]
    fn office_hours_read_as_a_sentence() {
        assert_eq!(
            office_hours(&Calendar::default()),
            "dal lunedì al venerdì dalle 9:00 alle 18:00"
        );
        let odd = Calendar {
            days: vec![Weekday::Mon, Weekday::Wed],
            opens: chrono::NaiveTime::from_hms_opt(8, 30, 0).expect("time"),
            ..Calendar::default()
        };
        assert_eq!(
            office_hours(&odd),
            "il lunedì, mercoledì dalle 8:30 alle 18:00"
        );
    }
}
