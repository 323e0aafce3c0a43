//! `assistenza contracts …`: the administration's commands. The CSV format is
//! `customer,addresses,valid_from,valid_until,references`, with addresses and references
//! separated by `;` and dates as `YYYY-MM-DD` (valid_until inclusive, Europe/Rome).
//! Import is all or nothing: every bad row is reported with its line and column, and
//! nothing is written unless the whole file is good.

use std::io::{Read, Write};

use anyhow::{bail, Context, Result};
use chrono::{DateTime, NaiveDate, Utc};

use crate::core::address::Address;
use crate::core::contract::{Contract, Standing};
use crate::core::expiry::days_left;
use crate::store::ContractInput;

/// The header every import file must start with, and every export writes.
pub const HEADER: [&str; 5] = [
    "customer",
    "addresses",
    "valid_from",
    "valid_until",
    "references",
];

/// Reads a whole CSV file; returns the contracts or every problem found, one per line,
/// as `line N, column NAME: message`.
pub fn read_csv(input: impl Read) -> Result<Vec<ContractInput>, Vec<String>> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .from_reader(input);
    let mut problems = Vec::new();
    match reader.headers() {
        Ok(h) => {
            let got: Vec<String> = h.iter().map(|f| f.trim().to_lowercase()).collect();
            if got != HEADER {
                problems.push(format!(
                    "line 1: the header must be `{}`, found `{}`",
                    HEADER.join(","),
                    got.join(",")
                ));
                return Err(problems);
            }
        }
        Err(e) => return Err(vec![format!("line 1: {e}")]),
    }
    let mut rows = Vec::new();
    let mut seen: Vec<(String, u64)> = Vec::new();
    for record in reader.records() {
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                let line = e.position().map(|p| p.line()).unwrap_or(0);
                problems.push(format!("line {line}: {e}"));
                continue;
            }
        };
        let line = record.position().map(|p| p.line()).unwrap_or(0);
        if record.iter().all(|f| f.trim().is_empty()) {
            continue;
        }
        if record.len() != HEADER.len() {
            problems.push(format!(
                "line {line}: expected {} columns, found {}",
                HEADER.len(),
                record.len()
            ));
            continue;
        }
        match parse_row(&record, line) {
            Ok(row) => {
                let key = row.customer.to_lowercase();
                if let Some((_, first)) = seen.iter().find(|(c, _)| *c == key) {
                    problems.push(format!(
                        "line {line}, column customer: {:?} already appears on line {first}",
                        row.customer
                    ));
                } else {
                    seen.push((key, line));
                    rows.push(row);
                }
            }
            Err(mut p) => problems.append(&mut p),
        }
    }
    if problems.is_empty() {
        Ok(rows)
    } else {
        Err(problems)
    }
}

fn parse_row(record: &csv::StringRecord, line: u64) -> Result<ContractInput, Vec<String>> {
    let mut problems = Vec::new();
    let field = |i: usize| record.get(i).unwrap_or("").trim();
    let customer = field(0).to_string();
    if customer.is_empty() {
        problems.push(format!("line {line}, column customer: empty"));
    }
    let mut addresses = Vec::new();
    for part in split_list(field(1)) {
        match Address::parse(part) {
            Some(a) if !addresses.contains(&a) => addresses.push(a),
            Some(_) => {}
            None => problems.push(format!(
                "line {line}, column addresses: {part:?} is not a valid email address"
            )),
        }
    }
    if addresses.is_empty() && !field(1).is_empty() {
        // already reported above
    } else if addresses.is_empty() {
        problems.push(format!(
            "line {line}, column addresses: at least one address is needed"
        ));
    }
    let date = |i: usize, name: &str, problems: &mut Vec<String>| match parse_date(field(i)) {
        Some(d) => Some(d),
        None => {
            problems.push(format!(
                "line {line}, column {name}: {:?} is not a date YYYY-MM-DD",
                field(i)
            ));
            None
        }
    };
    let from = date(2, "valid_from", &mut problems);
    let until = date(3, "valid_until", &mut problems);
    if let (Some(f), Some(u)) = (from, until) {
        if u < f {
            problems.push(format!(
                "line {line}, column valid_until: {u} is before valid_from {f}"
            ));
        }
    }
    let references: Vec<String> = split_list(field(4)).map(str::to_string).collect();
    match (problems.is_empty(), from, until) {
        (true, Some(valid_from), Some(valid_until)) => Ok(ContractInput {
            customer,
            addresses,
            valid_from,
            valid_until,
            references,
        }),
        _ => Err(problems),
    }
}

fn split_list(field: &str) -> impl Iterator<Item = &str> {
    field.split(';').map(str::trim).filter(|s| !s.is_empty())
}

fn parse_date(text: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(text, "%Y-%m-%d").ok()
}

/// A contract's standing as `contracts list` shows it: `InForce`, `Expired`, …, and for
/// one in force whose last day is within `window` days, when it ends (`InForce, scade tra
/// 20 giorni`), as the administration's expiry notice counts.
pub fn standing_text(c: &Contract, now: DateTime<Utc>, window: u32) -> String {
    let standing = c.standing(now);
    let days = days_left(c, now);
    if standing != Standing::InForce || days > i64::from(window) {
        return format!("{standing:?}");
    }
    let when = match days {
        0 => "scade oggi".to_string(),
        1 => "scade domani".to_string(),
        n => format!("scade tra {n} giorni"),
    };
    format!("{standing:?}, {when}")
}

/// Writes contracts in the import format, so export → import is a round trip.
pub fn write_csv(out: impl Write, contracts: &[Contract]) -> Result<()> {
    let mut w = csv::Writer::from_writer(out);
    w.write_record(HEADER)?;
    for c in contracts {
        w.write_record([
            c.customer.clone(),
            c.addresses
                .iter()
                .map(|a| a.to_string())
                .collect::<Vec<_>>()
                .join(";"),
            c.valid_from.format("%Y-%m-%d").to_string(),
            c.valid_until.format("%Y-%m-%d").to_string(),
            c.references.join(";"),
        ])?;
    }
    w.flush().context("writing CSV")?;
    Ok(())
}

/// Builds one contract from `contracts add` arguments, with the same checks as import.
pub fn from_args(
    customer: &str,
    addresses: &str,
    valid_from: &str,
    valid_until: &str,
    references: &str,
) -> Result<ContractInput> {
    let mut text = String::from("customer,addresses,valid_from,valid_until,references\n");
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record([customer, addresses, valid_from, valid_until, references])?;
    text.push_str(&String::from_utf8(
        w.into_inner().context("building the row")?,
    )?);
    match read_csv(text.as_bytes()) {
        Ok(mut rows) if rows.len() == 1 => Ok(rows.remove(0)),
        Ok(_) => bail!("expected one contract"),
        Err(problems) => bail!(
            "{}",
            problems
                .iter()
                .map(|p| p.replace("line 2, column ", "--"))
                .collect::<Vec<_>>()
                .join("\n")
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn good_file_is_read_with_quoted_commas_lists_and_idn() {
        let csv = "customer,addresses,valid_from,valid_until,references\n\
\"Caffè Verdi snc, di Giulia\",giulia@caffeverdi.it; Anna@CaffeVerdi.it ,2025-01-01,2025-12-31,caffeverdi.it;Gestionale\n\
Pasticceria,dolci@università.it,2026-01-01,2026-12-31,\n";
        let rows = read_csv(csv.as_bytes()).expect("valid");
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].customer, "Caffè Verdi snc, di Giulia");
        assert_eq!(rows[0].addresses.len(), 2);
        assert_eq!(rows[0].addresses[1].as_str(), "anna@caffeverdi.it");
        assert_eq!(
            rows[0].references,
            vec!["caffeverdi.it".to_string(), "Gestionale".to_string()]
        );
        assert_eq!(rows[1].addresses[0].as_str(), "dolci@xn--universit-y1a.it");
        assert!(rows[1].references.is_empty());
    }

    #[test]
    fn every_bad_row_is_named_by_line_and_column() {
        let csv = "customer,addresses,valid_from,valid_until,references\n\
Rossi,mario@rossi.it,2026-01-01,2026-12-31,\n\
,not-an-address,2026-13-01,2026-12-31,\n\
Verdi,v@verdi.it,2026-05-01,2026-04-30,\n\
Rossi,m@rossi.it,2026-01-01,2026-12-31,\n";
        let problems = read_csv(csv.as_bytes()).expect_err("invalid");
        let all = problems.join("\n");
        assert!(all.contains("line 3, column customer: empty"), "{all}");
        assert!(
            all.contains("line 3, column addresses: \"not-an-address\""),
            "{all}"
        );
        assert!(
            all.contains("line 3, column valid_from: \"2026-13-01\""),
            "{all}"
        );
        assert!(
            all.contains("line 4, column valid_until: 2026-04-30 is before"),
            "{all}"
        );
        assert!(
            all.contains("line 5, column customer: \"Rossi\" already appears on line 2"),
            "{all}"
        );
        assert_eq!(problems.len(), 5, "{all}");
    }

    #[test]
    fn wrong_header_is_refused() {
        let problems = read_csv("name,email\nx,y\n".as_bytes()).expect_err("invalid");
        assert!(problems[0].contains("the header must be"));
    }

    #[test]
    fn wrong_column_count_is_named() {
        let csv = "customer,addresses,valid_from,valid_until,references\nRossi,a@b.it,2026-01-01\n";
        let problems = read_csv(csv.as_bytes()).expect_err("invalid");
        assert_eq!(
            problems,
            vec!["line 2: expected 5 columns, found 3".to_string()]
        );
    }

    #[test]
    fn export_then_import_is_a_round_trip() {
        let csv = "customer,addresses,valid_from,valid_until,references\n\
\"Verdi, snc\",a@verdi.it;b@verdi.it,2026-01-01,2026-12-31,www.verdi.it;Gestionale\n";
        let rows = read_csv(csv.as_bytes()).expect("valid");
        let contracts: Vec<Contract> = rows
            .iter()
            .map(|r| Contract {
                id: 1,
                customer: r.customer.clone(),
                addresses: r.addresses.clone(),
                valid_from: r.valid_from,
                valid_until: r.valid_until,
                references: r.references.clone(),
                disabled: false,
            })
            .collect();
        let mut out = Vec::new();
        write_csv(&mut out, &contracts).expect("write");
        assert_eq!(String::from_utf8(out).expect("utf-8"), csv);
    }

    #[test]
    fn a_contract_in_the_notice_window_says_when_it_ends() {
        use chrono::TimeZone;
        let mut c = Contract {
            id: 1,
            customer: "Rossi".into(),
            addresses: vec![],
            valid_from: NaiveDate::from_ymd_opt(2026, 1, 1).expect("date"),
            valid_until: NaiveDate::from_ymd_opt(2026, 12, 31).expect("date"),
            references: vec![],
            disabled: false,
        };
        // 11 December 2026, 10:00 in Rome.
        let now = Utc
            .with_ymd_and_hms(2026, 12, 11, 9, 0, 0)
            .single()
            .expect("valid");
        assert_eq!(standing_text(&c, now, 30), "InForce, scade tra 20 giorni");
        assert_eq!(standing_text(&c, now, 10), "InForce");
        c.valid_until = NaiveDate::from_ymd_opt(2026, 12, 12).expect("date");
        assert_eq!(standing_text(&c, now, 30), "InForce, scade domani");
        c.valid_until = NaiveDate::from_ymd_opt(2026, 12, 11).expect("date");
        assert_eq!(standing_text(&c, now, 30), "InForce, scade oggi");
        c.valid_until = NaiveDate::from_ymd_opt(2026, 12, 10).expect("date");
        assert_eq!(standing_text(&c, now, 30), "Expired");
        c.valid_until = NaiveDate::from_ymd_opt(2026, 12, 20).expect("date");
        c.disabled = true;
        assert_eq!(standing_text(&c, now, 30), "Disabled");
    }

    #[test]
    fn add_arguments_are_checked_like_a_row() {
        let c = from_args(
            "Rossi",
            "mario@rossi.it",
            "2026-01-01",
            "2026-12-31",
            "www.rossi.it",
        )
        .expect("valid");
        assert_eq!(c.customer, "Rossi");
        let e = from_args("Rossi", "nope", "2026-01-01", "2026-12-31", "").expect_err("bad");
        assert!(e.to_string().contains("--addresses"), "{e}");
    }
}
