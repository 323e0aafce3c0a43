//! `assistenza report`: the monthly report for the administration, as text (Italian, for
//! reading), CSV (for its spreadsheets: UTF-8 with a BOM so Excel reads accents right,
//! `;` and decimal commas for an Italian Excel), JSON (the same names) or one HTML file.
//! The figures are the core's (`core::report`); this only writes them out.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use crate::config::Config;
use crate::core::report::csv::{csv, detail_csv};
use crate::core::report::{self, html, text, Detail, Month, Report, Row};
use crate::store::Store;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Text,
    Csv,
    Json,
    Html,
}

/// What `report` was asked for.
#[derive(Clone, Debug, clap::Args)]
pub struct ReportArgs {
    /// The month, YYYY-MM (the previous one by default).
    #[arg(long)]
    pub month: Option<String>,
    /// text (to read), csv (one row per contract and the totals), json, or html (a
    /// page to open or print, with charts).
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
    /// Write to this file instead of standard output.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// One row per ticket instead of per contract (CSV), or added (JSON).
    #[arg(long)]
    pub detail: bool,
    /// The CSV separator: `;` for an Italian Excel (amounts then get a decimal comma).
    #[arg(long, default_value = ",")]
    pub csv_separator: char,
}

pub fn command(cfg: &Config, args: &ReportArgs) -> Result<()> {
    let now = Utc::now();
    let month = match &args.month {
        Some(m) => Month::parse(m)
            .with_context(|| format!("--month {m:?}: expected a month as YYYY-MM"))?,
        None => report::previous_month(now),
    };
    if !args.csv_separator.is_ascii() || args.csv_separator.is_ascii_alphanumeric() {
        bail!("--csv-separator must be one punctuation character, such as , or ;");
    }
    let store = Store::open_existing(&cfg.store.path)?;
    let report = report::compute(&store.report_facts(month)?, month, now);
    let bytes = render(&report, args, now)?;
    match &args.out {
        Some(path) => std::fs::write(path, &bytes)
            .with_context(|| format!("writing the report to {}", path.display()))?,
        None => std::io::stdout()
            .lock()
            .write_all(&bytes)
            .context("writing the report")?,
    }
    Ok(())
}

/// The report in the asked format, as the bytes to write.
pub fn render(report: &Report, args: &ReportArgs, now: DateTime<Utc>) -> Result<Vec<u8>> {
    let sep = u8::try_from(args.csv_separator).context("--csv-separator")?;
    Ok(match args.format {
        Format::Text => text::render(report).into_bytes(),
        Format::Html => html::render(report, now).into_bytes(),
        Format::Json => {
            let mut out = serde_json::to_vec_pretty(&to_json(report, args.detail))?;
            out.push(b'\n');
            out
        }
        Format::Csv if args.detail => detail_csv(&report.details, sep)?,
        Format::Csv => csv(report, sep)?,
    })
}

fn row_json(r: &Row) -> Value {
    json!({
        "customer": r.customer,
        "tickets_opened": r.tickets_opened,
        "tickets_closed": r.tickets_closed,
        "reopened": r.reopened,
        "minutes_worked": r.minutes_worked,
        "extra_interventions": r.extra_interventions,
        "extra_minutes": r.extra_minutes,
        "quotes_sent": r.quotes_sent,
        "quotes_accepted": r.quotes_accepted,
        "quotes_accepted_eur": r.quotes_accepted_cents as f64 / 100.0,
        "quotes_refused": r.quotes_refused,
        "first_contact_met": r.first_contact_met,
        "first_contact_missed": r.first_contact_missed,
        "ack_within_30m": r.ack_within_30m,
        "ack_late": r.ack_late,
        "refused_requests": r.refused_requests,
    })
}

fn detail_json(d: &Detail) -> Value {
    json!({
        "code": d.code,
        "customer": d.customer,
        "opened": d.opened_at,
        "closed": d.closed_at,
        "minutes": d.minutes,
        "extra": d.extra,
        "quote_eur": d.quote.as_ref().map(|(c, _)| *c as f64 / 100.0),
        "quote_decision": d.quote.as_ref().and_then(|(_, decision)| decision.clone()),
    })
}

/// `{"month", "rows", "totals"}`, and `"tickets"` with `--detail`.
pub fn to_json(report: &Report, detail: bool) -> Value {
    let mut out = json!({
        "month": report.month.to_string(),
        "rows": report.rows.iter().map(row_json).collect::<Vec<_>>(),
        "totals": row_json(&report.totals),
    });
    if detail {
        out["tickets"] = report.details.iter().map(detail_json).collect();
    }
    out
}
