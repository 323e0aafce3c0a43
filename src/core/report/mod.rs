//! The monthly report for the administration: per contract, what the desk did in a
//! month (tickets opened, closed and reopened, time worked, extra interventions, quotes
//! and their answers, the first-contact and 30-minute promises, requests refused because
//! the contract was expired or disabled), with a totals row and a per-ticket detail.
//!
//! The store gathers the raw facts of every ticket that may have something in the month;
//! this module decides what counts. A fact counts in the Europe/Rome month its event
//! happened in: a ticket opened in October and closed in November is closed in November,
//! and time spent counts on the day it was recorded for. A merged ticket counts once: the
//! store moved its rows (time, quotes, history) to the ticket it was merged into, and
//! hands over only that one. `text` and `html` render the report for people to read.

pub mod csv;
pub mod html;
pub mod mail;
pub mod text;

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, NaiveDate, TimeZone, Utc};
use chrono_tz::Europe::Rome;

use super::address::{subject_address, Address};
use super::calendar::{rome, rome_day};
use super::contract::{contract_for, Contract};

/// A calendar month in Europe/Rome.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Month {
    pub year: i32,
    /// 1 to 12.
    pub month: u32,
}

impl Month {
    /// `2026-11`; None for anything else.
    pub fn parse(text: &str) -> Option<Month> {
        let (y, m) = text.trim().split_once('-')?;
        let (year, month) = (y.parse().ok()?, m.parse().ok()?);
        if y.len() != 4 || m.len() != 2 {
            return None;
        }
        NaiveDate::from_ymd_opt(year, month, 1).map(|_| Month { year, month })
    }

    /// The month the Rome day of `at` falls in.
    pub fn of(at: DateTime<Utc>) -> Month {
        Month::of_day(rome_day(at))
    }

    pub fn of_day(day: NaiveDate) -> Month {
        Month {
            year: day.year(),
            month: day.month(),
        }
    }

    /// The month before this one.
    pub fn previous(self) -> Month {
        if self.month == 1 {
            Month {
                year: self.year - 1,
                month: 12,
            }
        } else {
            Month {
                month: self.month - 1,
                ..self
            }
        }
    }

    /// The month after this one.
    pub fn next(self) -> Month {
        if self.month == 12 {
            Month {
                year: self.year + 1,
                month: 1,
            }
        } else {
            Month {
                month: self.month + 1,
                ..self
            }
        }
    }

    /// Its first day.
    pub fn first_day(self) -> NaiveDate {
        NaiveDate::from_ymd_opt(self.year, self.month, 1).unwrap_or(NaiveDate::MIN)
    }

    /// Its last day.
    pub fn last_day(self) -> NaiveDate {
        self.next().first_day().pred_opt().unwrap_or(NaiveDate::MIN)
    }

    /// The instant it starts (midnight in Rome) and the instant the next one starts.
    pub fn bounds(self) -> (DateTime<Utc>, DateTime<Utc>) {
        (
            midnight(self.first_day()),
            midnight(self.next().first_day()),
        )
    }

    pub fn contains_day(self, day: NaiveDate) -> bool {
        Month::of_day(day) == self
    }

    pub fn contains(self, at: DateTime<Utc>) -> bool {
        Month::of(at) == self
    }
}

impl std::fmt::Display for Month {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:04}-{:02}", self.year, self.month)
    }
}

/// Midnight in Rome at the start of `day` (never skipped by summer time in Italy).
fn midnight(day: NaiveDate) -> DateTime<Utc> {
    let naive = day.and_hms_opt(0, 0, 0).unwrap_or_default();
    Rome.from_local_datetime(&naive)
        .earliest()
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_else(|| Utc.from_utc_datetime(&naive))
}

/// A quote of a ticket and what became of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QuoteFact {
    pub amount_cents: u64,
    pub sent_at: DateTime<Utc>,
    /// `accepted`, `refused`, `replaced`, or None while unanswered.
    pub decision: Option<String>,
    pub decided_at: Option<DateTime<Utc>>,
}

/// What the store knows of one ticket (not merged into another), for the report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TicketFact {
    pub code: String,
    pub customer: String,
    /// `no`, `possible` or `yes` as stored.
    pub extra: String,
    pub opened_at: DateTime<Utc>,
    /// Every time it was closed (by an operator, or for no answer), oldest first.
    pub closed: Vec<DateTime<Utc>>,
    /// Every time the customer reopened it.
    pub reopened: Vec<DateTime<Utc>>,
    /// Time recorded: the Rome day it is for, and minutes (negative corrects).
    pub time: Vec<(NaiveDate, i64)>,
    pub quotes: Vec<QuoteFact>,
    pub first_contact_due_at: Option<DateTime<Utc>>,
    pub first_contact_at: Option<DateTime<Utc>>,
    pub ack_due_at: DateTime<Utc>,
    /// When the acknowledgement was accepted by the SMTP server, if it was.
    pub ack_sent_at: Option<DateTime<Utc>>,
}

/// A request refused with a reply because its contract was expired or disabled.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RefusedRequest {
    pub received_at: DateTime<Utc>,
    /// The subject as decoded (the requester's address, by the subject rule).
    pub subject: String,
    pub sender: Option<String>,
}

/// Everything the report of a month is computed from.
#[derive(Clone, Debug, Default)]
pub struct ReportFacts {
    pub tickets: Vec<TicketFact>,
    pub refused: Vec<RefusedRequest>,
    pub contracts: Vec<Contract>,
}

/// One row of the report: a contract's month, or the totals. The field names are the
/// CSV and JSON column names the administration's spreadsheets rely on.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Row {
    pub customer: String,
    pub tickets_opened: u32,
    pub tickets_closed: u32,
    pub reopened: u32,
    pub minutes_worked: i64,
    pub extra_interventions: u32,
    pub extra_minutes: i64,
    pub quotes_sent: u32,
    pub quotes_accepted: u32,
    pub quotes_accepted_cents: u64,
    pub quotes_refused: u32,
    pub first_contact_met: u32,
    pub first_contact_missed: u32,
    pub ack_within_30m: u32,
    pub ack_late: u32,
    pub refused_requests: u32,
}

/// One ticket with something in the month, so an invoice line can be traced to it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Detail {
    pub code: String,
    pub customer: String,
    pub opened_at: DateTime<Utc>,
    /// The last closure in the month, if any.
    pub closed_at: Option<DateTime<Utc>>,
    /// Minutes recorded for days of the month.
    pub minutes: i64,
    pub extra: String,
    /// The last quote sent or answered in the month: amount and decision.
    pub quote: Option<(u64, Option<String>)>,
}

/// A week of the month (from its Monday, or the 1st) with what happened in it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Week {
    /// The first day of the week that is in the month.
    pub from: NaiveDate,
    pub opened: u32,
    pub first_contact_met: u32,
    pub first_contact_missed: u32,
}

/// The report of one month.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Report {
    pub month: Month,
    /// One per contract with activity, by customer name.
    pub rows: Vec<Row>,
    pub totals: Row,
    /// Tickets with activity, by code.
    pub details: Vec<Detail>,
    pub weeks: Vec<Week>,
}

/// The name of the totals row.
pub const TOTALS: &str = "TOTALE";

/// What counts of `ticket` in `month`, as of `now` (a promise whose time has not come
/// yet is neither met nor missed).
fn ticket_row(t: &TicketFact, month: Month, now: DateTime<Utc>) -> Row {
    let minutes: i64 = t
        .time
        .iter()
        .filter(|(day, _)| month.contains_day(*day))
        .map(|(_, m)| m)
        .sum();
    let within = |at: &DateTime<Utc>| month.contains(*at);
    let decided = |what: &'static str| {
        t.quotes.iter().filter(move |q| {
            q.decision.as_deref() == Some(what) && q.decided_at.is_some_and(|at| month.contains(at))
        })
    };
    let first = promise(t.first_contact_due_at, t.first_contact_at, month, now);
    let ack = promise(Some(t.ack_due_at), t.ack_sent_at, month, now);
    let mut row = Row {
        customer: t.customer.clone(),
        tickets_opened: u32::from(within(&t.opened_at)),
        tickets_closed: u32::from(t.closed.iter().any(within)),
        reopened: u32::from(t.reopened.iter().any(within)),
        minutes_worked: minutes,
        quotes_sent: count(t.quotes.iter().filter(|q| within(&q.sent_at))),
        quotes_accepted: count(decided("accepted")),
        quotes_accepted_cents: decided("accepted").map(|q| q.amount_cents).sum(),
        quotes_refused: count(decided("refused")),
        first_contact_met: u32::from(first == Some(true)),
        first_contact_missed: u32::from(first == Some(false)),
        ack_within_30m: u32::from(ack == Some(true)),
        ack_late: u32::from(ack == Some(false)),
        ..Row::default()
    };
    if t.extra == "yes" && active(t, &row, month) {
        row.extra_interventions = 1;
        row.extra_minutes = minutes;
    }
    row
}

fn count<T>(items: impl Iterator<Item = T>) -> u32 {
    u32::try_from(items.count()).unwrap_or(u32::MAX)
}

/// Whether the ticket did anything in the month: a figure of its row, or time recorded
/// for a day of it (even when corrected back to nothing).
fn active(t: &TicketFact, row: &Row, month: Month) -> bool {
    let figures = Row {
        customer: String::new(),
        ..row.clone()
    };
    figures != Row::default()
        || t.time
            .iter()
            .any(|(day, m)| *m != 0 && month.contains_day(*day))
}

/// A promise due at `due` in `month`: kept (done by then), broken (done later, or not
/// done and the time is past), or None when it is not this month's or not due yet.
fn promise(
    due: Option<DateTime<Utc>>,
    done: Option<DateTime<Utc>>,
    month: Month,
    now: DateTime<Utc>,
) -> Option<bool> {
    let due = due.filter(|d| month.contains(*d))?;
    match done {
        Some(at) => Some(at <= due),
        None if due < now => Some(false),
        None => None,
    }
}

/// Adds `b` to `a`, figure by figure.
fn add(a: &mut Row, b: &Row) {
    a.tickets_opened += b.tickets_opened;
    a.tickets_closed += b.tickets_closed;
    a.reopened += b.reopened;
    a.minutes_worked += b.minutes_worked;
    a.extra_interventions += b.extra_interventions;
    a.extra_minutes += b.extra_minutes;
    a.quotes_sent += b.quotes_sent;
    a.quotes_accepted += b.quotes_accepted;
    a.quotes_accepted_cents += b.quotes_accepted_cents;
    a.quotes_refused += b.quotes_refused;
    a.first_contact_met += b.first_contact_met;
    a.first_contact_missed += b.first_contact_missed;
    a.ack_within_30m += b.ack_within_30m;
    a.ack_late += b.ack_late;
    a.refused_requests += b.refused_requests;
}

/// The customer a refused request was meant for: the contract enabling its requester
/// (the subject's address, or the sender's when the subject holds none), chosen as the
/// request rule chooses (best standing at the time, then lowest id).
pub fn refused_customer(r: &RefusedRequest, contracts: &[Contract]) -> Option<String> {
    let requester = subject_address(&r.subject)
        .ok()
        .or_else(|| r.sender.as_deref().and_then(Address::parse))?;
    contract_for(contracts, &requester, r.received_at).map(|c| c.customer.clone())
}

/// The report of `month` from `facts`, as of `now`.
pub fn compute(facts: &ReportFacts, month: Month, now: DateTime<Utc>) -> Report {
    let mut by_customer: BTreeMap<String, Row> = BTreeMap::new();
    let mut details = vec![];
    for t in &facts.tickets {
        let row = ticket_row(t, month, now);
        if !active(t, &row, month) {
            continue;
        }
        details.push(detail(t, &row, month));
        let entry = by_customer
            .entry(t.customer.clone())
            .or_insert_with(|| Row {
                customer: t.customer.clone(),
                ..Row::default()
            });
        add(entry, &row);
    }
    for r in facts
        .refused
        .iter()
        .filter(|r| month.contains(r.received_at))
    {
        let Some(customer) = refused_customer(r, &facts.contracts) else {
            continue;
        };
        let entry = by_customer.entry(customer.clone()).or_insert_with(|| Row {
            customer,
            ..Row::default()
        });
        entry.refused_requests += 1;
    }
    let rows: Vec<Row> = by_customer.into_values().collect();
    let mut totals = Row {
        customer: TOTALS.into(),
        ..Row::default()
    };
    for row in &rows {
        add(&mut totals, row);
    }
    details.sort_by(|a, b| a.code.cmp(&b.code));
    Report {
        month,
        weeks: weeks(facts, month, now),
        rows,
        totals,
        details,
    }
}

fn detail(t: &TicketFact, row: &Row, month: Month) -> Detail {
    let within = |at: DateTime<Utc>| month.contains(at);
    let quote = t
        .quotes
        .iter()
        .rfind(|q| within(q.sent_at) || q.decided_at.is_some_and(within))
        .map(|q| (q.amount_cents, q.decision.clone()));
    Detail {
        code: t.code.clone(),
        customer: t.customer.clone(),
        opened_at: t.opened_at,
        closed_at: t.closed.iter().copied().rfind(|at| within(*at)),
        minutes: row.minutes_worked,
        extra: t.extra.clone(),
        quote,
    }
}

/// The weeks of the month, Monday to Sunday, the first and last cut at its edges, with
/// the tickets opened and the first-contact promises due in each.
fn weeks(facts: &ReportFacts, month: Month, now: DateTime<Utc>) -> Vec<Week> {
    let mut weeks: Vec<Week> = vec![];
    for day in month
        .first_day()
        .iter_days()
        .take_while(|d| month.contains_day(*d))
    {
        if weeks.is_empty() || day.weekday() == chrono::Weekday::Mon {
            weeks.push(Week {
                from: day,
                ..Week::default()
            });
        }
    }
    let index = |at: DateTime<Utc>| {
        let day = rome_day(at);
        weeks.iter().rposition(|w| w.from <= day)
    };
    let mut counts = vec![(0, 0, 0); weeks.len()];
    for t in &facts.tickets {
        if month.contains(t.opened_at) {
            if let Some(i) = index(t.opened_at) {
                counts[i].0 += 1;
            }
        }
        let kept = promise(t.first_contact_due_at, t.first_contact_at, month, now);
        if let (Some(kept), Some(i)) = (kept, t.first_contact_due_at.and_then(index)) {
            if kept {
                counts[i].1 += 1;
            } else {
                counts[i].2 += 1;
            }
        }
    }
    for (w, (opened, met, missed)) in weeks.iter_mut().zip(counts) {
        (w.opened, w.first_contact_met, w.first_contact_missed) = (opened, met, missed);
    }
    weeks
}

/// The month `now` falls in, in Rome, minus one: what `report` shows by default.
pub fn previous_month(now: DateTime<Utc>) -> Month {
    Month::of(now).previous()
}

/// Minutes as people read them in a report: `2 h 15 min`, `45 min`, `3 h`, `0 min`.
pub fn hours(minutes: i64) -> String {
    let sign = if minutes < 0 { "-" } else { "" };
    let (h, m) = (minutes.abs() / 60, minutes.abs() % 60);
    match (h, m) {
        (0, m) => format!("{sign}{m} min"),
        (h, 0) => format!("{sign}{h} h"),
        (h, m) => format!("{sign}{h} h {m} min"),
    }
}

/// `novembre 2026`.
pub fn month_name(month: Month) -> String {
    let name = super::templates::MONTHS
        .get(usize::try_from(month.month).unwrap_or(1).saturating_sub(1))
        .copied()
        .unwrap_or("");
    format!("{name} {}", month.year)
}

/// `30/11/2026 17:05`: an instant in Rome, as the report's detail shows it.
pub fn rome_minute(at: DateTime<Utc>) -> String {
    rome(at).format("%d/%m/%Y %H:%M").to_string()
}

#[cfg(test)]
mod tests;
