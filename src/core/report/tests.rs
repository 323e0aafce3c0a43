//! The figures of November 2026 from a fixed history, each checked by hand.

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use chrono_tz::Europe::Rome;

use super::*;
use crate::core::address::Address;
use crate::core::contract::Contract;

fn rome_at(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
    Rome.with_ymd_and_hms(y, m, d, h, min, 0)
        .single()
        .expect("a time that happens once")
        .with_timezone(&Utc)
}

fn day(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).expect("date")
}

fn november() -> Month {
    Month {
        year: 2026,
        month: 11,
    }
}

/// The report is made on 1 December.
fn now() -> DateTime<Utc> {
    rome_at(2026, 12, 1, 9, 5)
}

fn ticket(code: &str, customer: &str, opened_at: DateTime<Utc>) -> TicketFact {
    TicketFact {
        code: code.into(),
        customer: customer.into(),
        extra: "no".into(),
        opened_at,
        closed: vec![],
        reopened: vec![],
        time: vec![],
        quotes: vec![],
        first_contact_due_at: Some(opened_at + Duration::hours(4)),
        first_contact_at: Some(opened_at + Duration::hours(1)),
        ack_due_at: opened_at + Duration::minutes(30),
        ack_sent_at: Some(opened_at + Duration::minutes(1)),
    }
}

fn contract(id: i64, customer: &str, address: &str, until: NaiveDate, disabled: bool) -> Contract {
    Contract {
        id,
        customer: customer.into(),
        addresses: vec![Address::parse(address).expect("address")],
        valid_from: day(2020, 1, 1),
        valid_until: until,
        references: vec![],
        disabled,
    }
}

/// Rossi: ticket 1 opened on 31 October at 23:30 in Rome (still October), worked on both
/// sides of the month's edge (60 min on 31/10, 90 on 2/11, 30 on 1/12), billed apart,
/// closed on 3/11, reopened on 10/11 and closed again on 12/11; quote of 1.250,00 €
/// accepted on 5/11. Ticket 2 opened on 16/11 at 17:50: first contact due at 21:50 made
/// the next morning (missed), its ack sent at 18:40 (late); a quote of 300,00 € sent on
/// 20/11 and refused on 23/11; 45 minutes on 30/11, -15 on 30/11 (a correction).
/// Bianchi: ticket 3 opened on 30/11 at 23:50, nothing else yet: its first contact is
/// due on 1 December (not November's) and its ack at 00:20 on 1/12 (December's).
/// Verdi (expired in October): two requests refused, one in November, one in December.
fn facts() -> ReportFacts {
    let mut one = ticket("KZ-2026-00001", "Rossi", rome_at(2026, 10, 31, 23, 30));
    one.extra = "yes".into();
    one.time = vec![
        (day(2026, 10, 31), 60),
        (day(2026, 11, 2), 90),
        (day(2026, 12, 1), 30),
    ];
    one.closed = vec![rome_at(2026, 11, 3, 12, 0), rome_at(2026, 11, 12, 12, 0)];
    one.reopened = vec![rome_at(2026, 11, 10, 9, 0)];
    one.quotes = vec![QuoteFact {
        amount_cents: 125_000,
        sent_at: rome_at(2026, 11, 2, 10, 0),
        decision: Some("accepted".into()),
        decided_at: Some(rome_at(2026, 11, 5, 10, 0)),
    }];
    let opened = rome_at(2026, 11, 16, 17, 50);
    let mut two = ticket("KZ-2026-00002", "Rossi", opened);
    two.first_contact_at = Some(rome_at(2026, 11, 17, 9, 10));
    two.ack_sent_at = Some(rome_at(2026, 11, 16, 18, 40));
    two.time = vec![(day(2026, 11, 30), 45), (day(2026, 11, 30), -15)];
    two.quotes = vec![QuoteFact {
        amount_cents: 30_000,
        sent_at: rome_at(2026, 11, 20, 10, 0),
        decision: Some("refused".into()),
        decided_at: Some(rome_at(2026, 11, 23, 10, 0)),
    }];
    let mut three = ticket("KZ-2026-00003", "Bianchi", rome_at(2026, 11, 30, 23, 50));
    three.first_contact_at = None;
    three.ack_sent_at = None;
    let refused = |at| RefusedRequest {
        received_at: at,
        subject: "paolo@verdi.it".into(),
        sender: Some("paolo@verdi.it".into()),
    };
    ReportFacts {
        tickets: vec![one, two, three],
        refused: vec![
            refused(rome_at(2026, 11, 18, 10, 0)),
            refused(rome_at(2026, 12, 1, 0, 10)),
        ],
        contracts: vec![
            contract(1, "Rossi", "mario@rossi.it", day(2027, 12, 31), false),
            contract(2, "Bianchi", "anna@bianchi.it", day(2027, 12, 31), false),
            contract(3, "Verdi", "paolo@verdi.it", day(2026, 10, 15), false),
        ],
    }
}

#[test]
fn each_contract_with_activity_gets_its_figures_counted_in_the_month_they_happened() {
    let report = compute(&facts(), november(), now());
    let names: Vec<&str> = report.rows.iter().map(|r| r.customer.as_str()).collect();
    assert_eq!(names, ["Bianchi", "Rossi", "Verdi"]);
    let rossi = &report.rows[1];
    assert_eq!(
        *rossi,
        Row {
            customer: "Rossi".into(),
            // Ticket 1 was opened in October (23:30 in Rome is still the 31st).
            tickets_opened: 1,
            // Ticket 1, closed twice, counts once.
            tickets_closed: 1,
            reopened: 1,
            // 90 (ticket 1, 2/11) + 45 - 15 (ticket 2): not 31/10's 60 nor 1/12's 30.
            minutes_worked: 120,
            extra_interventions: 1,
            extra_minutes: 90,
            quotes_sent: 2,
            quotes_accepted: 1,
            quotes_accepted_cents: 125_000,
            quotes_refused: 1,
            // Ticket 1's first contact was due on 1/11 at 03:30 and made at 00:30.
            first_contact_met: 1,
            first_contact_missed: 1,
            // Ticket 1's ack was due on 1/11 at 00:00 in Rome and sent at 23:31.
            ack_within_30m: 1,
            ack_late: 1,
            refused_requests: 0,
        }
    );
    let bianchi = &report.rows[0];
    assert_eq!(
        (
            bianchi.tickets_opened,
            bianchi.first_contact_missed,
            bianchi.ack_late
        ),
        (1, 0, 0),
        "its deadlines fall in December"
    );
    assert_eq!(
        report.rows[2].refused_requests, 1,
        "December's is not counted"
    );
}

#[test]
fn the_totals_add_up_the_rows() {
    let report = compute(&facts(), november(), now());
    let t = &report.totals;
    assert_eq!(t.customer, TOTALS);
    assert_eq!(
        (
            t.tickets_opened,
            t.tickets_closed,
            t.reopened,
            t.minutes_worked
        ),
        (2, 1, 1, 120)
    );
    assert_eq!(
        (t.quotes_sent, t.quotes_accepted_cents, t.refused_requests),
        (2, 125_000, 1)
    );
    assert_eq!(
        (
            t.first_contact_met,
            t.first_contact_missed,
            t.ack_within_30m,
            t.ack_late
        ),
        (1, 1, 1, 1)
    );
}

#[test]
fn the_detail_traces_each_ticket_with_activity() {
    let report = compute(&facts(), november(), now());
    let codes: Vec<(&str, i64, Option<DateTime<Utc>>)> = report
        .details
        .iter()
        .map(|d| (d.code.as_str(), d.minutes, d.closed_at))
        .collect();
    assert_eq!(
        codes,
        [
            ("KZ-2026-00001", 90, Some(rome_at(2026, 11, 12, 12, 0))),
            ("KZ-2026-00002", 30, None),
            ("KZ-2026-00003", 0, None),
        ]
    );
    assert_eq!(
        report.details[1].quote,
        Some((30_000, Some("refused".into())))
    );
}

#[test]
fn october_sees_only_what_happened_in_october() {
    let october = Month {
        year: 2026,
        month: 10,
    };
    let report = compute(&facts(), october, now());
    assert_eq!(report.rows.len(), 1, "{:?}", report.rows);
    let rossi = &report.rows[0];
    assert_eq!((rossi.tickets_opened, rossi.minutes_worked), (1, 60));
    assert_eq!((rossi.extra_interventions, rossi.extra_minutes), (1, 60));
    // Its ack was due at midnight, the first instant of November.
    assert_eq!((rossi.ack_within_30m, rossi.ack_late), (0, 0));
}

#[test]
fn a_promise_not_yet_due_is_neither_met_nor_missed() {
    let december = Month {
        year: 2026,
        month: 12,
    };
    let report = compute(&facts(), december, now());
    let bianchi = report.rows.iter().find(|r| r.customer == "Bianchi");
    // The ack was due at 00:20 and never sent: late. The first contact is due at 03:50
    // on 1/12, before `now`, and not made: missed.
    assert_eq!(
        bianchi.map(|r| (r.ack_late, r.first_contact_missed)),
        Some((1, 1))
    );
    let early = compute(&facts(), december, rome_at(2026, 12, 1, 0, 10));
    let bianchi = early.rows.iter().find(|r| r.customer == "Bianchi");
    assert!(
        bianchi.is_none(),
        "nothing of Bianchi's is due yet: {bianchi:?}"
    );
}

#[test]
fn the_weeks_of_the_month_start_on_mondays_and_hold_the_opened_and_the_promises() {
    let report = compute(&facts(), november(), now());
    let weeks: Vec<(NaiveDate, u32, u32, u32)> = report
        .weeks
        .iter()
        .map(|w| {
            (
                w.from,
                w.opened,
                w.first_contact_met,
                w.first_contact_missed,
            )
        })
        .collect();
    // 1 November 2026 is a Sunday.
    assert_eq!(
        weeks,
        [
            (day(2026, 11, 1), 0, 1, 0),
            (day(2026, 11, 2), 0, 0, 0),
            (day(2026, 11, 9), 0, 0, 0),
            (day(2026, 11, 16), 1, 0, 1),
            (day(2026, 11, 23), 0, 0, 0),
            (day(2026, 11, 30), 1, 0, 0),
        ]
    );
}

#[test]
fn months_parse_and_step_across_the_year() {
    assert_eq!(Month::parse("2026-11"), Some(november()));
    assert_eq!(Month::parse("2026-13"), None);
    assert_eq!(Month::parse("26-11"), None);
    assert_eq!(Month::parse("2026-1"), None);
    let january = Month::parse("2027-01").expect("month");
    assert_eq!(january.previous().to_string(), "2026-12");
    assert_eq!(
        previous_month(rome_at(2027, 1, 1, 0, 5)).to_string(),
        "2026-12"
    );
    // 23:30 UTC on 31 December is already January in Rome.
    let utc = Utc
        .with_ymd_and_hms(2026, 12, 31, 23, 30, 0)
        .single()
        .expect("t");
    assert_eq!(previous_month(utc).to_string(), "2026-12");
    let (from, to) = november().bounds();
    assert_eq!(from.to_rfc3339(), "2026-10-31T23:00:00+00:00");
    assert_eq!(to.to_rfc3339(), "2026-11-30T23:00:00+00:00");
}

#[test]
fn a_refused_request_goes_to_the_contract_of_its_requester() {
    let facts = facts();
    let r = RefusedRequest {
        received_at: now(),
        subject: "Re: niente".into(),
        sender: Some("paolo@verdi.it".into()),
    };
    assert_eq!(
        refused_customer(&r, &facts.contracts).as_deref(),
        Some("Verdi")
    );
    let stranger = RefusedRequest {
        subject: "x@y.it".into(),
        ..r
    };
    assert_eq!(refused_customer(&stranger, &facts.contracts), None);
}

#[test]
fn hours_read_as_people_say_them() {
    assert_eq!(hours(135), "2 h 15 min");
    assert_eq!(hours(45), "45 min");
    assert_eq!(hours(180), "3 h");
    assert_eq!(hours(0), "0 min");
    assert_eq!(hours(-30), "-30 min");
}

#[test]
fn the_text_says_the_month_in_italian_with_italian_numbers() {
    let report = compute(&facts(), november(), now());
    let text = text::render(&report);
    assert!(
        text.starts_with("Rapporto di assistenza di novembre 2026."),
        "{text}"
    );
    assert!(text.contains("accettati per 1.250,00 €"), "{text}");
    assert!(
        text.contains("Tempo lavorato: 2 h, di cui 1 h 30 min in 1 interventi extra."),
        "{text}"
    );
    assert!(text.contains("Primo contatto nei tempi: 1 su 2."), "{text}");
    assert!(text.contains("\nTotale "), "{text}");
}

#[test]
fn the_html_escapes_every_name_and_draws_four_charts() {
    let mut facts = facts();
    facts.tickets[1].customer = "<b>Rossi & \"figli\"</b>".into();
    let report = compute(&facts, november(), now());
    let page = html::render(&report, now());
    assert!(!page.contains("<b>Rossi"), "{page}");
    assert!(page.contains("&lt;b&gt;Rossi &amp; &quot;figli&quot;&lt;/b&gt;"));
    assert_eq!(page.matches("<svg ").count(), 4);
    assert!(!page.contains("<script"));
}
