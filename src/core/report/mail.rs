//! The monthly report by mail: on the first office day of each month, in its first office
//! hour, the administration (`[report] to`) gets the previous month's report, a short
//! summary in the body and the HTML and CSV attached.
//!
//! It is owed by the calendar, as the morning digest is: once a month, never on a day the
//! desk is closed, never late. The shell records the month last sent in the transaction
//! that queues the mail; `due` reads it with the clock, so a restart never sends it twice.

use chrono::{DateTime, Utc};

use super::super::calendar::rome;
use super::super::decision::{MailKind, OutgoingMail, Settings};
use super::super::inbound::Attachment;
use super::super::templates;
use super::{csv, html, month_name, text, Month, Report};

/// The month whose report is owed at `now`, given the last one sent: the previous month,
/// when a recipient is configured, today is the first working day of this month, the
/// desk opened less than an hour ago (or, with shorter hours, is still open) and that
/// month's report has not gone out. Otherwise none.
pub fn due(last_sent: Option<Month>, now: DateTime<Utc>, settings: &Settings) -> Option<Month> {
    settings.report_to.as_ref()?;
    let calendar = &settings.calendar;
    let local = rome(now);
    let today = local.date_naive();
    let owed = Month::of_day(today).previous();
    // A later month recorded means the clock went back: nothing is owed.
    if last_sent.is_some_and(|m| m >= owed) || !calendar.is_working_day(today) {
        return None;
    }
    let first_working = Month::of_day(today)
        .first_day()
        .iter_days()
        .take_while(|d| *d < today)
        .any(|d| calendar.is_working_day(d));
    if first_working {
        return None;
    }
    calendar.in_first_office_hour(now).then_some(owed)
}

/// The report's mail to the administration, with `rapporto-YYYY-MM.html` and `.csv`
/// (comma separated) attached; None without a recipient. `now` dates the HTML.
pub fn mail(report: &Report, now: DateTime<Utc>, settings: &Settings) -> Option<OutgoingMail> {
    let to = settings.report_to.clone()?;
    let base = format!("rapporto-{}", report.month);
    // Writing into memory cannot fail: the csv crate only passes on its writer's errors.
    let csv = csv::csv(report, b',').unwrap_or_default();
    let attachments = vec![
        Attachment {
            filename: format!("{base}.html"),
            content_type: "text/html; charset=utf-8".into(),
            data: html::render(report, now).into_bytes(),
        },
        Attachment {
            filename: format!("{base}.csv"),
            content_type: "text/csv; charset=utf-8".into(),
            data: csv,
        },
    ];
    let files: Vec<&str> = attachments.iter().map(|a| a.filename.as_str()).collect();
    let body = templates::report(
        &month_name(report.month),
        text::figures(report).trim_end(),
        &files,
        settings,
    );
    Some(OutgoingMail {
        attachments,
        ..OutgoingMail::new(MailKind::Report, None, vec![to], body)
    })
}

#[cfg(test)]
mod tests {
    use chrono::{NaiveDate, TimeZone};
    use chrono_tz::Europe::Rome;

    use super::*;
    use crate::core::address::Address;
    use crate::core::calendar::Closure;
    use crate::core::decide_tests::settings;
    use crate::core::report::{compute, ReportFacts};

    fn rome_at(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
        Rome.with_ymd_and_hms(y, m, d, h, min, 0)
            .single()
            .expect("a time that happens once")
            .with_timezone(&Utc)
    }

    fn month(text: &str) -> Month {
        Month::parse(text).expect("month")
    }

    fn with_recipient() -> Settings {
        Settings {
            report_to: Address::parse("amministrazione@kzweb.it"),
            ..settings()
        }
    }

    #[test]
    fn the_report_is_owed_in_the_first_office_hour_of_the_first_working_day_of_the_month() {
        let s = with_recipient();
        // Tuesday 1 December 2026.
        assert_eq!(
            due(None, rome_at(2026, 12, 1, 9, 0), &s),
            Some(month("2026-11"))
        );
        assert_eq!(
            due(None, rome_at(2026, 12, 1, 9, 59), &s),
            Some(month("2026-11"))
        );
        assert_eq!(due(None, rome_at(2026, 12, 1, 8, 59), &s), None, "early");
        assert_eq!(due(None, rome_at(2026, 12, 1, 10, 0), &s), None, "late");
        assert_eq!(due(None, rome_at(2026, 12, 2, 9, 10), &s), None, "the 2nd");
        // 1 January 2027 is a holiday, then a weekend: Monday the 4th.
        assert_eq!(due(None, rome_at(2027, 1, 1, 9, 10), &s), None, "Capodanno");
        assert_eq!(
            due(None, rome_at(2027, 1, 4, 9, 10), &s),
            Some(month("2026-12"))
        );
        assert_eq!(
            due(None, rome_at(2027, 1, 5, 9, 10), &s),
            None,
            "not the first"
        );
    }

    #[test]
    fn a_month_gets_one_report_none_without_a_recipient_and_a_closure_moves_it() {
        let mut s = with_recipient();
        let at = rome_at(2026, 12, 1, 9, 10);
        assert_eq!(due(Some(month("2026-11")), at, &s), None, "sent already");
        assert_eq!(due(Some(month("2026-10")), at, &s), Some(month("2026-11")));
        assert_eq!(due(Some(month("2027-01")), at, &s), None, "clock gone back");
        s.calendar.closures = vec![Closure::Day(
            NaiveDate::from_ymd_opt(2026, 12, 1).expect("d"),
        )];
        assert_eq!(due(None, at, &s), None, "closed on the 1st");
        let next = rome_at(2026, 12, 2, 9, 10);
        assert_eq!(
            due(None, next, &s),
            Some(month("2026-11")),
            "the next office day"
        );
        assert_eq!(due(None, at, &settings()), None, "nobody to send it to");
    }

    #[test]
    fn the_mail_has_the_summary_in_its_body_and_the_html_and_csv_attached() {
        let s = with_recipient();
        let report = compute(
            &ReportFacts::default(),
            month("2026-11"),
            rome_at(2026, 12, 1, 9, 0),
        );
        let mail = mail(&report, rome_at(2026, 12, 1, 9, 0), &s).expect("a mail");
        assert_eq!(mail.kind, MailKind::Report);
        assert_eq!(
            mail.to,
            [Address::parse("amministrazione@kzweb.it").expect("a")]
        );
        assert_eq!(mail.subject, "Rapporto di assistenza di novembre 2026");
        assert!(
            mail.body
                .contains("Ticket: 0 aperti, 0 chiusi, 0 riaperti."),
            "{}",
            mail.body
        );
        assert!(
            mail.body.contains("- rapporto-2026-11.csv"),
            "{}",
            mail.body
        );
        let names: Vec<&str> = mail
            .attachments
            .iter()
            .map(|a| a.filename.as_str())
            .collect();
        assert_eq!(names, ["rapporto-2026-11.html", "rapporto-2026-11.csv"]);
        assert!(mail.attachments[1]
            .data
            .starts_with("\u{feff}customer,".as_bytes()));
        assert!(mail.trouble.is_none());
    }
}
