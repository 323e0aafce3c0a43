//! The morning digest on the real Dovecot and Postfix: a digest on a Monday morning, none
//! on a Sunday, none on 8 December (Immacolata), none a second time the same morning and
//! none in the afternoon of a day whose morning passed without the daemon.
//!
//! The daemon reads the real clock, and the digest is owed by the clock alone (no mail's
//! INTERNALDATE can move it), so each `run --once` here runs under libfaketime (Debian's
//! `faketime`): `FAKETIME="@…"` starts the process's wall clock at that UTC instant,
//! while the monotonic clock tokio's timers use stays real. The days are the next ones
//! after today, so the mail stack's certificates (valid for ten years from their making)
//! are valid at every one of them, as the daemon checks.

mod support;

use std::path::Path;
use std::time::Instant;

use assistenza::core::calendar::{italian_holiday, Calendar};
use chrono::{DateTime, Datelike, NaiveDate, TimeZone, Utc, Weekday};
use chrono_tz::Europe::Rome;

use support::clock::{faketime, run_once_at};
use support::*;

const REQUEST: &str = "Buongiorno, sono Mario Rossi.\r\nSito: https://www.rossi-impianti.it\r\n\
Il modulo contatti non invia più i messaggi.";

/// The instant a Rome wall-clock time of `day` is.
fn rome(day: NaiveDate, hour: u32, minute: u32) -> DateTime<Utc> {
    Rome.with_ymd_and_hms(day.year(), day.month(), day.day(), hour, minute, 0)
        .single()
        .expect("a time that happens once")
        .with_timezone(&Utc)
}

/// The first day after today (in Rome) that `wanted` accepts.
fn next_day(wanted: impl Fn(NaiveDate) -> bool) -> NaiveDate {
    let today = Utc::now().with_timezone(&Rome).date_naive();
    today
        .iter_days()
        .skip(1)
        .find(|d| wanted(*d))
        .expect("a day within chrono's range")
}

/// The digests in the mailboxes of `people`, once Postfix has delivered all it holds.
fn digests(people: &[&str]) -> Vec<(String, Vec<u8>)> {
    postfix_drained();
    people
        .iter()
        .flat_map(|who| {
            fetch_all(who, "INBOX")
                .into_iter()
                .filter(|m| subject_and_text(m).0.starts_with("Riepilogo"))
                .map(|m| (who.to_string(), m))
        })
        .collect()
}

#[test]
fn a_digest_on_a_monday_morning_and_none_on_a_sunday_on_8_december_twice_or_late() {
    faketime();
    let (desk, staff) = Desk::with_staff("digest");
    let customers = desk.customers(&["mario", "anna"]);
    let (mario, anna) = (&customers[0], &customers[1]);
    desk.contracts(&format!(
        "{}{}",
        contract_row("Rossi Impianti srl", &[mario], "www.rossi-impianti.it"),
        contract_row("Bianchi Ottica", &[anna], "www.rossi-impianti.it"),
    ));

    // Mario's ticket, taken by Giulia.
    desk.send_request(mario, mario, REQUEST);
    desk.handle(1);
    let (taken, _) = desk.only_ticket();
    let notice = mail_with_subject(&staff.queue, "INBOX", &format!("[{taken}] Nuovo ticket"));
    let subject = format!("Re: {}", subject_and_text(&notice).0);
    operator_sends(&staff.giulia, &desk.support, &subject, "#prendo", None);
    desk.handle(1);
    // Anna's, received a week ago and taken by nobody: late for any morning to come.
    let week_ago = Utc::now() - chrono::Duration::days(7);
    append_at(
        &desk.support,
        "INBOX",
        &request(anna, &desk.support, anna, REQUEST),
        week_ago,
    );
    desk.ok(&["run", "--once"]);
    let list = desk.tickets_json();
    let untaken = list
        .as_array()
        .expect("array")
        .iter()
        .find(|t| t["state"] == "open")
        .and_then(|t| t["code"].as_str())
        .expect("an untaken ticket")
        .to_string();

    let people = [
        staff.giulia.as_str(),
        staff.sergio.as_str(),
        staff.queue.as_str(),
        staff.oncall.as_str(),
    ];
    // Were these set-up runs in a real first office hour, they sent a real digest.
    let before = digests(&people).len();

    let calendar = Calendar::default();
    let monday = next_day(|d| d.weekday() == Weekday::Mon && calendar.is_working_day(d));
    let sunday = next_day(|d| d.weekday() == Weekday::Sun);
    // On a weekday: on a Saturday or Sunday none would go anyway, proving nothing.
    let immacolata = next_day(|d| {
        d.month() == 12 && d.day() == 8 && !matches!(d.weekday(), Weekday::Sat | Weekday::Sun)
    });
    assert_eq!(italian_holiday(immacolata), Some("Immacolata Concezione"));
    let afternoon = next_day(|d| d > monday && calendar.is_working_day(d));
    let mut runs = vec![
        ("a Sunday", rome(sunday, 9, 10), 0),
        ("Monday morning", rome(monday, 9, 10), 2),
        ("Monday morning again", rome(monday, 9, 40), 0),
        ("a working day's afternoon", rome(afternoon, 15, 0), 0),
        ("8 December", rome(immacolata, 9, 10), 0),
    ];
    // In the order the days come: the daemon's clock never goes back.
    runs.sort_by_key(|(_, at, _)| *at);

    let mut seen = before;
    for (what, at, expected) in &runs {
        let started = Instant::now();
        let log = run_once_at(&desk, *at);
        let now = digests(&people);
        println!(
            "{what} ({at}): {} digest(s), run --once {:?}",
            now.len() - seen,
            started.elapsed()
        );
        assert_eq!(now.len() - seen, *expected, "{what} ({at}):\n{log}");
        assert_eq!(
            log.contains("morning digest queued"),
            *expected > 0,
            "{what}:\n{log}"
        );
        seen = now.len();
    }
    // The sysadmin sees which morning last had its digest.
    let status = desk.ok(&["status"]);
    assert!(
        status.contains(&format!(
            "last digest for {monday}, last monthly report for none yet"
        )),
        "{status}"
    );

    // Monday's: one to Giulia with her ticket, one to the queue with the untaken one,
    // nothing to Sergio, who has nothing open.
    let monday_subject = format!("di {}", assistenza::core::templates::italian_day(monday));
    let sent: Vec<(String, Vec<u8>)> = digests(&people)
        .into_iter()
        .filter(|(_, m)| subject_and_text(m).0.contains(&monday_subject))
        .collect();
    let to = |who: &str| -> Vec<(String, String)> {
        sent.iter()
            .filter(|(w, _)| w == who)
            .map(|(_, m)| {
                let (subject, body) = subject_and_text(m);
                (subject, body.replace("\r\n", "\n"))
            })
            .collect()
    };
    let giulia = to(&staff.giulia);
    assert_eq!(giulia.len(), 1, "{giulia:?}");
    let (subject, body) = &giulia[0];
    assert!(subject.ends_with(": 1 ticket aperto"), "{subject}");
    assert!(body.starts_with("Ciao giulia,\n"), "{body}");
    assert!(
        body.contains(&format!("1. [{taken}] Rossi Impianti srl\n")),
        "{body}"
    );
    assert!(!body.contains(&untaken), "{body}");
    let queue = to(&staff.queue);
    assert_eq!(queue.len(), 1, "{queue:?}");
    let (subject, body) = &queue[0];
    assert!(subject.starts_with("Riepilogo della coda"), "{subject}");
    assert!(
        body.contains(&format!(
            "1. [{untaken}] Bianchi Ottica — presa in carico in ritardo\n"
        )),
        "{body}"
    );
    assert!(!body.contains(&format!("[{taken}]")), "{body}");
    assert!(to(&staff.sergio).is_empty() && to(&staff.oncall).is_empty());

    // What an operator and the queue read, kept for people to look at.
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("digest");
    std::fs::create_dir_all(&dir).expect("target/tmp/digest");
    for (who, raw) in &sent {
        let name = if who == &staff.queue {
            "queue"
        } else {
            "giulia"
        };
        std::fs::write(dir.join(format!("{name}.eml")), raw).expect("saving a digest");
        let (subject, body) = subject_and_text(raw);
        println!("--- to {name}: {subject}\n{}", body.replace("\r\n", "\n"));
    }
    let raw = &sent[0].1;
    assert_eq!(
        header(raw, "Auto-Submitted").as_deref(),
        Some("auto-replied"),
        "like every mail of the desk"
    );
    assert!(message_id(raw).starts_with(&format!("digest.{monday}.")));
}
