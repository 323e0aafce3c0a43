//! The report as CSV for the administration's spreadsheets: UTF-8 behind a byte order
//! mark (Excel reads accents wrong without one), the columns named and ordered as
//! `COLUMNS` says, amounts with a decimal comma when the separator is `;` (what an
//! Italian Excel expects with it). Bytes in memory: the CLI writes them to a file, the
//! monthly mail attaches them.

use super::{rome_minute, Detail, Report, Row};

/// The columns of the CSV, in this order: the administration's spreadsheets rely on them.
pub const COLUMNS: [&str; 16] = [
    "customer",
    "tickets_opened",
    "tickets_closed",
    "reopened",
    "minutes_worked",
    "extra_interventions",
    "extra_minutes",
    "quotes_sent",
    "quotes_accepted",
    "quotes_accepted_eur",
    "quotes_refused",
    "first_contact_met",
    "first_contact_missed",
    "ack_within_30m",
    "ack_late",
    "refused_requests",
];

/// The columns of the per-ticket CSV (`--detail`).
pub const DETAIL_COLUMNS: [&str; 8] = [
    "code",
    "customer",
    "opened",
    "closed",
    "minutes",
    "extra",
    "quote_eur",
    "quote_decision",
];

/// Cents as a number a spreadsheet reads: `1250.50`, or `1250,50` with `;` columns.
fn eur(cents: u64, sep: u8) -> String {
    let point = if sep == b';' { ',' } else { '.' };
    format!("{}{point}{:02}", cents / 100, cents % 100)
}

fn cells(r: &Row, sep: u8) -> Vec<String> {
    vec![
        r.customer.clone(),
        r.tickets_opened.to_string(),
        r.tickets_closed.to_string(),
        r.reopened.to_string(),
        r.minutes_worked.to_string(),
        r.extra_interventions.to_string(),
        r.extra_minutes.to_string(),
        r.quotes_sent.to_string(),
        r.quotes_accepted.to_string(),
        eur(r.quotes_accepted_cents, sep),
        r.quotes_refused.to_string(),
        r.first_contact_met.to_string(),
        r.first_contact_missed.to_string(),
        r.ack_within_30m.to_string(),
        r.ack_late.to_string(),
        r.refused_requests.to_string(),
    ]
}

/// A CSV writer behind a UTF-8 byte order mark, which Excel needs to read accents.
fn writer(sep: u8) -> ::csv::Writer<Vec<u8>> {
    ::csv::WriterBuilder::new()
        .delimiter(sep)
        .from_writer("\u{feff}".as_bytes().to_vec())
}

/// The CSV of the rows (one per contract, then the totals).
pub fn csv(report: &Report, sep: u8) -> Result<Vec<u8>, ::csv::Error> {
    let mut w = writer(sep);
    w.write_record(COLUMNS)?;
    for row in report.rows.iter().chain([&report.totals]) {
        w.write_record(cells(row, sep))?;
    }
    w.into_inner().map_err(|e| e.into_error().into())
}

fn detail_cells(d: &Detail, sep: u8) -> Vec<String> {
    let (amount, decision) = match &d.quote {
        Some((cents, decision)) => (eur(*cents, sep), decision.clone().unwrap_or_default()),
        None => (String::new(), String::new()),
    };
    vec![
        d.code.clone(),
        d.customer.clone(),
        rome_minute(d.opened_at),
        d.closed_at.map(rome_minute).unwrap_or_default(),
        d.minutes.to_string(),
        d.extra.clone(),
        amount,
        decision,
    ]
}

/// The CSV of the tickets with activity, one a row.
pub fn detail_csv(details: &[Detail], sep: u8) -> Result<Vec<u8>, ::csv::Error> {
    let mut w = writer(sep);
    w.write_record(DETAIL_COLUMNS)?;
    for d in details {
        w.write_record(detail_cells(d, sep))?;
    }
    w.into_inner().map_err(|e| e.into_error().into())
}
