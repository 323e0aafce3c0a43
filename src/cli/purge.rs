//! `assistenza purge --older-than DAYS [--dry-run]`: the GDPR retention limit. What is
//! deleted and why is in `store::purge`; this is the argument and the report.

use anyhow::{bail, Result};
use chrono::{DateTime, Duration, Utc};

use crate::config::Config;
use crate::core::calendar::rome_stamp;
use crate::store::{PurgeReport, Store};

/// The longest retention accepted: 100 years, far beyond any sensible one, and far from
/// the limits of date arithmetic.
const MAX_DAYS: u32 = 36_500;

/// `365d` or `365`: a whole number of days, at least 1. Weeks, months and years are not
/// accepted: a month has no fixed length, and a retention period should read the same to
/// everyone.
pub fn parse_days(text: &str) -> Result<u32, String> {
    let t = text.trim();
    let digits = t.strip_suffix('d').unwrap_or(t);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "{text:?} is not a number of days: write it as 365d or 365 \
             (weeks, months and years are not accepted)"
        ));
    }
    match digits.parse::<u32>() {
        Ok(0) => Err("the retention must be at least 1 day (1d)".into()),
        Ok(n) if n <= MAX_DAYS => Ok(n),
        _ => Err(format!("{text:?} is more than {MAX_DAYS} days")),
    }
}

pub fn command(cfg: &Config, days: u32, dry_run: bool) -> Result<()> {
    if !cfg.store.path.exists() {
        bail!(
            "the database {} does not exist: nothing to purge",
            cfg.store.path.display()
        );
    }
    let mut store = Store::open(&cfg.store.path)?;
    let cutoff = Utc::now() - Duration::days(i64::from(days));
    let report = store.purge(cutoff, dry_run)?;
    print!("{}", render(&report, cutoff, days, dry_run));
    Ok(())
}

/// The report for people (and for the mail cron sends).
fn render(r: &PurgeReport, cutoff: DateTime<Utc>, days: u32, dry_run: bool) -> String {
    let mut out = String::new();
    let when = rome_stamp(cutoff);
    if dry_run {
        out.push_str(&format!(
            "dry run, nothing deleted: a purge of what is older than {days} day(s) \
             (closed or handled before {when} Europe/Rome) would delete\n"
        ));
    } else {
        out.push_str(&format!(
            "purged what is older than {days} day(s) (closed or handled before {when} Europe/Rome):\n"
        ));
    }
    out.push_str(&format!("  tickets        {}\n", r.tickets.len()));
    out.push_str(&format!("  history lines  {}\n", r.ticket_events));
    out.push_str(&format!(
        "  mail received  {} ({} on these tickets, {} on no ticket: rejected, quarantined, refused)\n",
        r.inbound(),
        r.inbound_of_tickets,
        r.inbound_without_ticket
    ));
    out.push_str(&format!(
        "  mail sent      {} ({} on these tickets, {} on no ticket)\n",
        r.outbox(),
        r.outbox_of_tickets,
        r.outbox_without_ticket
    ));
    if r.held_submissions > 0 {
        out.push_str(&format!(
            "  form requests  {} held for confirmation\n",
            r.held_submissions
        ));
    }
    list(&mut out, "tickets", &r.tickets);
    if !r.kept.is_empty() {
        out.push_str(
            "kept for now (closed long enough, but mail of theirs is still waiting to be \
             sent; a later run deletes them):\n",
        );
        list(&mut out, "kept", &r.kept);
    }
    out
}

/// Ticket codes, six to a line.
fn list(out: &mut String, label: &str, codes: &[String]) {
    for chunk in codes.chunks(6) {
        out.push_str(&format!("  {label:<8} {}\n", chunk.join(" ")));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_are_a_whole_number_with_or_without_d() {
        assert_eq!(parse_days("365d"), Ok(365));
        assert_eq!(parse_days("365"), Ok(365));
        assert_eq!(parse_days(" 1d "), Ok(1));
        assert_eq!(parse_days("36500d"), Ok(36_500));
    }

    #[test]
    fn less_than_a_day_is_refused_clearly() {
        assert!(parse_days("0d").unwrap_err().contains("at least 1 day"));
        assert!(parse_days("0").unwrap_err().contains("at least 1 day"));
    }

    #[test]
    fn other_units_and_junk_are_refused() {
        for bad in [
            "",
            "d",
            "52w",
            "12m",
            "1y",
            "-1",
            "1.5d",
            "365D",
            "36501",
            "9999999999",
        ] {
            assert!(parse_days(bad).is_err(), "{bad:?} accepted");
        }
        assert!(parse_days("12m").unwrap_err().contains("365d"));
    }

    #[test]
    fn report_lists_counts_and_codes() {
        let r = PurgeReport {
            tickets: vec!["KZ-2025-00001".into(), "KZ-2025-00004".into()],
            kept: vec!["KZ-2025-00003".into()],
            ticket_events: 7,
            inbound_of_tickets: 3,
            inbound_without_ticket: 2,
            outbox_of_tickets: 4,
            outbox_without_ticket: 1,
            held_submissions: 2,
        };
        let cutoff = DateTime::parse_from_rfc3339("2026-06-01T08:00:00Z")
            .expect("time")
            .with_timezone(&Utc);
        let text = render(&r, cutoff, 365, true);
        assert!(text.starts_with("dry run, nothing deleted"), "{text}");
        assert!(
            text.contains("before 2026-06-01 10:00 Europe/Rome"),
            "{text}"
        );
        assert!(text.contains("tickets        2\n"), "{text}");
        assert!(text.contains("mail received  5 (3 on these tickets, 2 on no ticket"));
        assert!(text.contains("mail sent      5 (4 on these tickets, 1 on no ticket)"));
        assert!(
            text.contains("form requests  2 held for confirmation"),
            "{text}"
        );
        assert!(
            text.contains("  tickets  KZ-2025-00001 KZ-2025-00004\n"),
            "{text}"
        );
        assert!(text.contains("  kept     KZ-2025-00003\n"), "{text}");
    }
}
