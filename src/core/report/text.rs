//! The report as plain text, in Italian and with Italian number formats: a summary of the
//! month in a few sentences (also the body of the monthly mail), then the table, one line
//! per contract and the totals.

use std::fmt::Write;

use super::{hours, month_name, Report, Row};
use crate::core::templates::euro;

/// The columns of the text table: header and width.
const COLUMNS: [(&str, usize); 11] = [
    ("Aperti", 6),
    ("Chiusi", 6),
    ("Riap.", 5),
    ("Lavorato", 15),
    ("Extra", 5),
    ("Tempo extra", 15),
    ("Prev. inv/acc/rif", 17),
    ("Accettati", 14),
    ("1° contatto ok/no", 17),
    ("Entro 30 min ok/no", 18),
    ("Rifiutate", 9),
];

/// "9 su 10" for a promise, or "nessuna scadenza" when none fell in the month.
pub fn kept(met: u32, missed: u32) -> String {
    match met + missed {
        0 => "nessuna scadenza nel mese".into(),
        all => format!("{met} su {all}"),
    }
}

/// The summary of the month: its title, then its figures.
pub fn summary(report: &Report) -> String {
    format!(
        "Rapporto di assistenza di {}.\n\n{}",
        month_name(report.month),
        figures(report)
    )
}

/// The month's figures, one sentence a line (the monthly mail's body).
pub fn figures(report: &Report) -> String {
    let t = &report.totals;
    let mut s = format!(
        "Ticket: {} aperti, {} chiusi, {} riaperti.\n\
         Tempo lavorato: {}, di cui {} in {} interventi extra.\n\
         Preventivi: {} inviati, {} accettati per {}, {} rifiutati.\n\
         Primo contatto nei tempi: {}.\n\
         Presa in carico entro 30 minuti: {}.\n\
         Richieste rifiutate per contratto scaduto o disattivato: {}.\n",
        t.tickets_opened,
        t.tickets_closed,
        t.reopened,
        hours(t.minutes_worked),
        hours(t.extra_minutes),
        t.extra_interventions,
        t.quotes_sent,
        t.quotes_accepted,
        euro(t.quotes_accepted_cents),
        t.quotes_refused,
        kept(t.first_contact_met, t.first_contact_missed),
        kept(t.ack_within_30m, t.ack_late),
        t.refused_requests,
    );
    if let Some(top) = report
        .rows
        .iter()
        .filter(|r| r.minutes_worked > 0)
        .max_by_key(|r| r.minutes_worked)
    {
        let _ = writeln!(
            s,
            "Il cliente che ha richiesto più tempo: {} ({}).",
            top.customer,
            hours(top.minutes_worked)
        );
    }
    s
}

fn cells(r: &Row) -> [String; 11] {
    [
        r.tickets_opened.to_string(),
        r.tickets_closed.to_string(),
        r.reopened.to_string(),
        hours(r.minutes_worked),
        r.extra_interventions.to_string(),
        hours(r.extra_minutes),
        format!(
            "{}/{}/{}",
            r.quotes_sent, r.quotes_accepted, r.quotes_refused
        ),
        euro(r.quotes_accepted_cents),
        format!("{}/{}", r.first_contact_met, r.first_contact_missed),
        format!("{}/{}", r.ack_within_30m, r.ack_late),
        r.refused_requests.to_string(),
    ]
}

fn line(out: &mut String, name: &str, width: usize, values: &[String]) {
    let name: String = name.chars().take(width).collect();
    let _ = write!(out, "{name:<width$}");
    for (value, (_, w)) in values.iter().zip(COLUMNS) {
        let _ = write!(out, "  {value:>w$}");
    }
    out.push('\n');
}

/// The whole report as text: the summary, then the table.
pub fn render(report: &Report) -> String {
    let mut out = summary(report);
    out.push('\n');
    if report.rows.is_empty() {
        out.push_str("Nessuna attività nel mese.\n");
        return out;
    }
    let width = report
        .rows
        .iter()
        .map(|r| r.customer.chars().count())
        .chain([7])
        .max()
        .unwrap_or(7)
        .min(32);
    let headers: Vec<String> = COLUMNS.iter().map(|(h, _)| h.to_string()).collect();
    line(&mut out, "Cliente", width, &headers);
    let rule = width + COLUMNS.iter().map(|(_, w)| w + 2).sum::<usize>();
    out.push_str(&"-".repeat(rule));
    out.push('\n');
    for row in &report.rows {
        line(&mut out, &row.customer, width, &cells(row));
    }
    out.push_str(&"-".repeat(rule));
    out.push('\n');
    line(&mut out, "Totale", width, &cells(&report.totals));
    out
}
