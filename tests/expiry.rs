//! Contract expiry notices on the real Dovecot and Postfix: a contract ending in 20 days
//! gets one notice to the administration, and no second one; a renewal (a later
//! `valid_until` by import) owes nothing while the new end is far, and a new notice 25
//! days before it; a lapsed notice, once, after the last day.
//!
//! The notices are owed by the clock (in office hours of a working day), so each
//! `run --once` runs under libfaketime, as the morning digest's test does: the days are
//! the next ones after today, in order, so the daemon's clock never goes back.

mod support;

use std::path::Path;
use std::time::Duration;

use assistenza::core::calendar::Calendar;
use assistenza::core::templates::italian_date;
use chrono::{DateTime, Datelike, NaiveDate, TimeZone, Utc};
use chrono_tz::Europe::Rome;

use support::clock::{faketime, run_once_at};
use support::*;

const REQUEST: &str = "Buongiorno, sono Mario Rossi.\r\nSito: https://www.rossi-impianti.it\r\n\
Il modulo contatti non invia più i messaggi.";

const CUSTOMER: &str = "Rossi Impianti srl";

/// The instant a Rome wall-clock time of `day` is.
fn rome(day: NaiveDate, hour: u32, minute: u32) -> DateTime<Utc> {
    Rome.with_ymd_and_hms(day.year(), day.month(), day.day(), hour, minute, 0)
        .single()
        .expect("a time that happens once")
        .with_timezone(&Utc)
}

/// The first working day from `from` on (itself included).
fn working_day_from(from: NaiveDate) -> NaiveDate {
    let calendar = Calendar::default();
    from.iter_days()
        .find(|d| calendar.is_working_day(*d))
        .expect("a working day within chrono's range")
}

/// A contract row for `customer` with these addresses, in force until `until`.
fn row(mario: &str, until: NaiveDate) -> String {
    let from = until - chrono::Duration::days(365);
    format!("\"{CUSTOMER}\",{mario},{from},{until},www.rossi-impianti.it\n")
}

/// The expiry notices in the administration's mailbox (subject, text, raw), once Postfix
/// has delivered all it holds.
fn notices(admin: &str) -> Vec<(String, String, Vec<u8>)> {
    postfix_drained();
    fetch_all(admin, "INBOX")
        .into_iter()
        .map(|m| {
            let (subject, text) = subject_and_text(&m);
            (subject, text.replace("\r\n", "\n"), m)
        })
        .filter(|(subject, _, _)| subject.starts_with("Contratto"))
        .collect()
}

/// Runs `run --once` at `at` and returns the notices it made arrive.
fn run_at(desk: &Desk, admin: &str, at: DateTime<Utc>, seen: &mut usize) -> Vec<String> {
    let log = run_once_at(desk, at);
    let all = notices(admin);
    let new: Vec<String> = all[*seen..].iter().map(|(s, _, _)| s.clone()).collect();
    assert_eq!(
        log.contains("contract expiry notice queued"),
        !new.is_empty(),
        "at {at}:\n{log}"
    );
    *seen = all.len();
    new
}

#[test]
fn an_expiry_notice_arrives_once_and_a_renewal_arms_the_next() {
    faketime();
    let admin = format!("{}@kzweb.it", unique("amministrazione"));
    let mario = format!("{}@example.it", unique("mario"));
    let extra = format!("\n[contracts]\nnotify_to = \"{admin}\"\nnotify_before_days = 30\n");
    let desk = Desk::with_users(
        "expiry",
        ImapTls::Implicit,
        &extra,
        &[admin.clone(), mario.clone()],
    );
    let today = Utc::now().with_timezone(&Rome).date_naive();
    let until = today + chrono::Duration::days(20);
    desk.contracts(&row(&mario, until));
    let list = desk.ok(&["contracts", "list"]);
    assert!(list.contains("InForce, scade tra 20 giorni"), "{list}");

    // A request, so the notice has a ticket to count: handled by the first faked run.
    desk.send_request(&mario, &mario, REQUEST);
    let got = wait_for(&desk.support, "INBOX", 1, Duration::from_secs(20)).len();
    assert_eq!(got, 1, "the request reached the support inbox");

    let first = working_day_from(today + chrono::Duration::days(1));
    let mut seen = 0;
    let sent = run_at(&desk, &admin, rome(first, 10, 0), &mut seen);
    let left = (until - first).num_days();
    assert_eq!(
        sent,
        vec![format!(
            "Contratto in scadenza: {CUSTOMER}, il {} (tra {left} giorni)",
            italian_date(until)
        )]
    );
    let (_, body, raw) = notices(&admin).remove(0);
    for part in [
        "Gentile Amministrazione,".to_string(),
        format!("Indirizzi abilitati: {mario}"),
        "- 1 ticket aperto".to_string(),
        "- nessun tempo registrato".to_string(),
        "assistenza contracts import".to_string(),
    ] {
        assert!(body.contains(&part), "{part}:\n{body}");
    }
    assert!(
        message_id(&raw).starts_with(&format!("contract-expiry.1.before.{until}.")),
        "{}",
        message_id(&raw)
    );
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("expiry");
    std::fs::create_dir_all(&dir).expect("target/tmp/expiry");
    std::fs::write(dir.join("before.eml"), &raw).expect("saving the notice");
    println!("--- {}\n{body}", sent[0]);

    // Never twice for the same contract and date.
    let again = run_at(&desk, &admin, rome(first, 10, 30), &mut seen);
    assert_eq!(again, Vec::<String>::new(), "a second run");

    // Renewed for a year: nothing owed while the new end is far …
    let renewed = until + chrono::Duration::days(365);
    desk.contracts(&row(&mario, renewed));
    let after_renewal = run_at(&desk, &admin, rome(first, 11, 0), &mut seen);
    assert_eq!(after_renewal, Vec::<String>::new(), "outside the window");
    // … and a new notice 25 days before it.
    let near = working_day_from(renewed - chrono::Duration::days(25));
    let sent = run_at(&desk, &admin, rome(near, 10, 0), &mut seen);
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert!(
        sent[0].starts_with(&format!(
            "Contratto in scadenza: {CUSTOMER}, il {}",
            italian_date(renewed)
        )),
        "{sent:?}"
    );

    // Lapsed: once, on the first working day after the last one.
    let lapsed = working_day_from(renewed + chrono::Duration::days(1));
    let sent = run_at(&desk, &admin, rome(lapsed, 10, 0), &mut seen);
    assert_eq!(
        sent,
        vec![format!(
            "Contratto scaduto: {CUSTOMER}, il {}",
            italian_date(renewed)
        )]
    );
    let (_, body, raw) = notices(&admin).pop().expect("the lapsed notice");
    std::fs::write(dir.join("lapsed.eml"), &raw).expect("saving the notice");
    println!("--- {}\n{body}", sent[0]);
    let later = run_at(&desk, &admin, rome(lapsed, 15, 0), &mut seen);
    assert_eq!(later, Vec::<String>::new(), "the lapsed notice once");
}
