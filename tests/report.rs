//! `assistenza report` on a desk whose November 2026 is known: the CSV read back with the
//! `csv` crate column by column, the Italian CSV, the JSON, the per-ticket detail, the
//! text, and the HTML rendered by headless Chromium. Then the monthly mail on the real
//! Dovecot and Postfix, with the daemon's clock moved by libfaketime (as tests/digest.rs
//! does): once on the first office day of a month, not the day before, not again after a
//! restart, not the next day.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

fn assistenza(config: &Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_assistenza"))
        .arg("--config")
        .arg(config)
        .args(args)
        .output()
        .expect("running assistenza")
}

fn stdout_of(config: &Path, args: &[&str]) -> Vec<u8> {
    let out = assistenza(config, args);
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn add_contract(config: &Path, customer: &str, address: &str, until: &str) {
    let args = [
        "contracts",
        "add",
        "--customer",
        customer,
        "--addresses",
        address,
        "--from",
        "2020-01-01",
        "--until",
        until,
    ];
    stdout_of(config, &args);
}

/// November 2026 (Rome is UTC+1). Neri's ticket 1, opened in October and billed apart:
/// 60 min on 31/10 and 90 on 2/11, closed 3/11, reopened 9/11, closed 10/11, a quote of
/// 1.250,00 € accepted 4/11. Caffè Rossi's ticket 2, opened 16/11 at 17:50: ack at 18:40
/// (late), first contact the next morning (missed), 90 min, a quote of 200,00 € refused;
/// ticket 3 merged into it, its 15 minutes with it. Verdi, expired, refused on 20/11.
const NOVEMBER: &str = "
INSERT INTO ticket_counters VALUES ('KZ', 2026, 3);
INSERT INTO tickets (id, code, contract_id, requester, sender, state, summary, opened_at,
                     ack_due_at, first_contact_due_at, first_contact_at, extra, merged_into)
VALUES
  (1, 'KZ-2026-00001', 1, 'luca@neri.it', 'luca@neri.it', 'resolved', 's',
   '2026-10-30T09:00:00.000Z', '2026-10-30T09:30:00.000Z', '2026-10-30T13:00:00.000Z',
   '2026-10-30T10:00:00.000Z', 'yes', NULL),
  (2, 'KZ-2026-00002', 2, 'gino@caffe.it', 'gino@caffe.it', 'taken', 's',
   '2026-11-16T16:50:00.000Z', '2026-11-16T17:20:00.000Z', '2026-11-16T20:50:00.000Z',
   '2026-11-17T08:30:00.000Z', 'no', NULL),
  (3, 'KZ-2026-00003', 2, 'gino@caffe.it', 'gino@caffe.it', 'merged', 's',
   '2026-11-17T07:00:00.000Z', '2026-11-17T07:30:00.000Z', NULL, NULL, 'no', 2);
INSERT INTO outbox (message_id, kind, ticket_id, envelope_from, recipients, subject, raw,
                    created_at, next_attempt_at, sent_at) VALUES
  ('a1', 'ack', 1, 'assistenza@kzweb.it', 'luca@neri.it', 's', x'00',
   '2026-10-30T09:01:00.000Z', '2026-10-30T09:01:00.000Z', '2026-10-30T09:02:00.000Z'),
  ('a2', 'ack', 2, 'assistenza@kzweb.it', 'gino@caffe.it', 's', x'00',
   '2026-11-16T17:39:00.000Z', '2026-11-16T17:39:00.000Z', '2026-11-16T17:40:00.000Z'),
  ('a3', 'ack', 2, 'assistenza@kzweb.it', 'gino@caffe.it', 's', x'00',
   '2026-11-17T07:01:00.000Z', '2026-11-17T07:01:00.000Z', '2026-11-17T07:02:00.000Z');
INSERT INTO ticket_events (ticket_id, at, actor, event) VALUES
  (1, '2026-10-30T09:00:00.000Z', 'luca@neri.it', 'opened'),
  (1, '2026-11-03T10:00:00.000Z', 'giulia', 'closed'),
  (1, '2026-11-09T10:00:00.000Z', 'luca@neri.it', 'reopened'),
  (1, '2026-11-10T10:00:00.000Z', 'giulia', 'closed'),
  (2, '2026-11-16T16:50:00.000Z', 'gino@caffe.it', 'opened'),
  (2, '2026-11-17T07:00:00.000Z', 'gino@caffe.it', 'opened');
INSERT INTO time_entries (ticket_id, operator, day, minutes, at) VALUES
  (1, 'giulia', '2026-10-31', 60, '2026-10-31T10:00:00.000Z'),
  (1, 'giulia', '2026-11-02', 90, '2026-11-02T10:00:00.000Z'),
  (2, 'marco', '2026-11-17', 90, '2026-11-17T10:00:00.000Z'),
  (2, 'marco', '2026-11-17', 15, '2026-11-17T08:00:00.000Z');
INSERT INTO quotes (ticket_id, operator, amount_cents, sent_at, decision, decided_at,
                    decided_by) VALUES
  (1, 'giulia', 125000, '2026-11-02T11:00:00.000Z', 'accepted', '2026-11-04T08:00:00.000Z',
   'luca@neri.it'),
  (2, 'marco', 20000, '2026-11-18T08:00:00.000Z', 'refused', '2026-11-19T08:00:00.000Z',
   'gino@caffe.it');
INSERT INTO inbound (received_at, processed_at, sender, subject, size, outcome, reason,
                     folder, raw) VALUES
  ('2026-11-20T09:00:00.000Z', '2026-11-20T09:00:01.000Z', 'paolo@verdi.it',
   'paolo@verdi.it', 3, 'rejected', 'contract_expired', 'rejected', x'00'),
  ('2026-12-01T09:00:00.000Z', '2026-12-01T09:00:01.000Z', 'paolo@verdi.it',
   'paolo@verdi.it', 3, 'rejected', 'contract_expired', 'rejected', x'00');
";

/// A config, the three contracts made by commands (so the database has the daemon's
/// schema), and November's history.
pub fn november_desk(dir: &Path) -> PathBuf {
    let secret = dir.join("pw");
    std::fs::write(&secret, "s3cret\n").expect("secret");
    support::set_mode(&secret, 0o600);
    let path = dir.join("config.toml");
    std::fs::write(
        &path,
        "[imap]\nhost = \"127.0.0.1\"\nusername = \"u\"\npassword_file = \"pw\"\n\
         [smtp]\nhost = \"127.0.0.1\"\nfrom = \"assistenza@kzweb.it\"\n\
         [store]\npath = \"db.sqlite\"\n",
    )
    .expect("config");
    add_contract(&path, "Neri", "luca@neri.it", "2099-12-31");
    add_contract(&path, "Caffè Rossi", "gino@caffe.it", "2099-12-31");
    add_contract(&path, "Verdi", "paolo@verdi.it", "2026-10-15");
    let db = rusqlite::Connection::open(dir.join("db.sqlite")).expect("db");
    db.execute_batch(NOVEMBER).expect("rows");
    path
}

const HEADER: &str = "customer,tickets_opened,tickets_closed,reopened,minutes_worked,\
extra_interventions,extra_minutes,quotes_sent,quotes_accepted,quotes_accepted_eur,\
quotes_refused,first_contact_met,first_contact_missed,ack_within_30m,ack_late,\
refused_requests";

/// The expected rows, column by column, as the CSV writes them.
const EXPECTED: [[&str; 16]; 4] = [
    [
        "Caffè Rossi",
        "1",
        "0",
        "0",
        "105",
        "0",
        "0",
        "1",
        "0",
        "0.00",
        "1",
        "0",
        "1",
        "0",
        "1",
        "0",
    ],
    [
        "Neri", "0", "1", "1", "90", "1", "90", "1", "1", "1250.00", "0", "0", "0", "0", "0", "0",
    ],
    [
        "Verdi", "0", "0", "0", "0", "0", "0", "0", "0", "0.00", "0", "0", "0", "0", "0", "1",
    ],
    [
        "TOTALE", "1", "1", "1", "195", "1", "90", "2", "1", "1250.00", "1", "0", "1", "0", "1",
        "1",
    ],
];

fn read_csv(bytes: &[u8], sep: u8) -> (Vec<String>, Vec<Vec<String>>) {
    let body = bytes
        .strip_prefix("\u{feff}".as_bytes())
        .expect("a UTF-8 byte order mark first, for Excel");
    let mut reader = csv::ReaderBuilder::new().delimiter(sep).from_reader(body);
    let header = reader
        .headers()
        .expect("header")
        .iter()
        .map(String::from)
        .collect();
    let rows = reader
        .records()
        .map(|r| r.expect("record").iter().map(String::from).collect())
        .collect();
    (header, rows)
}

#[test]
fn the_csv_has_the_documented_columns_one_row_per_contract_with_activity_and_the_totals() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = november_desk(dir.path());
    let out = stdout_of(
        &config,
        &["report", "--month", "2026-11", "--format", "csv"],
    );
    let (header, rows) = read_csv(&out, b',');
    assert_eq!(header.join(","), HEADER);
    assert_eq!(rows.len(), EXPECTED.len(), "{rows:?}");
    for (row, expected) in rows.iter().zip(EXPECTED) {
        for (column, (value, want)) in header.iter().zip(row.iter().zip(expected)) {
            assert_eq!(value, want, "{} / {column}", expected[0]);
        }
    }
}

#[test]
fn the_italian_csv_uses_semicolons_and_decimal_commas_and_goes_to_a_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = november_desk(dir.path());
    let file = dir.path().join("novembre.csv");
    let args = [
        "report",
        "--month",
        "2026-11",
        "--format",
        "csv",
        "--csv-separator",
        ";",
        "--out",
    ];
    let mut args: Vec<&str> = args.to_vec();
    args.push(file.to_str().expect("path"));
    assert!(stdout_of(&config, &args).is_empty());
    let (header, rows) = read_csv(&std::fs::read(&file).expect("file"), b';');
    assert_eq!(header.join(","), HEADER);
    assert_eq!(rows[1][9], "1250,00");
    assert_eq!(rows[0][0], "Caffè Rossi");
}

#[test]
fn the_detail_traces_each_ticket_and_the_json_has_the_same_names() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = november_desk(dir.path());
    let out = stdout_of(
        &config,
        &[
            "report", "--month", "2026-11", "--format", "csv", "--detail",
        ],
    );
    let (header, rows) = read_csv(&out, b',');
    assert_eq!(
        header.join(","),
        "code,customer,opened,closed,minutes,extra,quote_eur,quote_decision"
    );
    assert_eq!(
        rows,
        [
            [
                "KZ-2026-00001",
                "Neri",
                "30/10/2026 10:00",
                "10/11/2026 11:00",
                "90",
                "yes",
                "1250.00",
                "accepted"
            ],
            [
                "KZ-2026-00002",
                "Caffè Rossi",
                "16/11/2026 17:50",
                "",
                "105",
                "no",
                "200.00",
                "refused"
            ]
        ]
    );
    let out = stdout_of(
        &config,
        &[
            "report", "--month", "2026-11", "--format", "json", "--detail",
        ],
    );
    let json: serde_json::Value = serde_json::from_slice(&out).expect("json");
    assert_eq!(json["month"], "2026-11");
    let neri = &json["rows"][1];
    let keys: Vec<&str> = neri
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    let mut columns: Vec<&str> = HEADER.split(',').collect();
    columns.sort_unstable();
    assert_eq!(keys, columns, "serde_json sorts keys");
    assert_eq!(neri["quotes_accepted_eur"], 1250.0);
    assert_eq!(json["totals"]["minutes_worked"], 195);
    assert_eq!(json["tickets"][1]["quote_decision"], "refused");
}

#[test]
fn the_text_report_speaks_italian_with_italian_numbers() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = november_desk(dir.path());
    let text =
        String::from_utf8(stdout_of(&config, &["report", "--month", "2026-11"])).expect("utf-8");
    for part in [
        "Rapporto di assistenza di novembre 2026.",
        "Ticket: 1 aperti, 1 chiusi, 1 riaperti.",
        "Tempo lavorato: 3 h 15 min, di cui 1 h 30 min in 1 interventi extra.",
        "Preventivi: 2 inviati, 1 accettati per 1.250,00 €, 1 rifiutati.",
        "Primo contatto nei tempi: 0 su 1.",
        "Presa in carico entro 30 minuti: 0 su 1.",
        "Il cliente che ha richiesto più tempo: Caffè Rossi (1 h 45 min).",
        "\nCaffè Rossi ",
    ] {
        assert!(text.contains(part), "{part:?} in:\n{text}");
    }
    let bad = assistenza(&config, &["report", "--month", "novembre"]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("YYYY-MM"));
}

/// Runs headless Chromium on `page` with `args` (`--screenshot=…`, `--print-to-pdf=…`).
fn chromium(page: &Path, args: &[String]) {
    support::browser::install();
    let profile = tempfile::tempdir().expect("profile");
    let out = Command::new(support::browser::CHROMIUM)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(args)
        .arg(format!("file://{}", page.display()))
        .output()
        .expect("running chromium");
    assert!(
        out.status.success(),
        "chromium {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn the_html_report_is_one_file_with_four_charts_that_chromium_renders_to_png_and_a4_pdf() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = november_desk(dir.path());
    let page = dir.path().join("novembre.html");
    let args = ["report", "--month", "2026-11", "--format", "html", "--out"];
    let mut args: Vec<&str> = args.to_vec();
    args.push(page.to_str().expect("path"));
    stdout_of(&config, &args);
    let html = std::fs::read_to_string(&page).expect("html");
    assert_eq!(html.matches("<svg ").count(), 4, "four charts");
    for title in [
        "Ticket aperti per settimana",
        "Primo contatto per settimana: nei tempi e mancati",
        "Ore lavorate per cliente",
        "Interventi extra per cliente",
    ] {
        assert!(html.contains(title), "{title}");
    }
    assert!(html.matches("class=\"bar\"").count() >= 5, "bars drawn");
    assert!(html.contains("Caffè Rossi") && html.contains("1.250,00 €"));
    assert!(html.contains("1 h 45 min"), "Italian durations");
    for external in ["<script", "src=", "href=", "url(", "@import"] {
        assert!(!html.contains(external), "self-contained: found {external}");
    }
    let shots = Path::new(env!("CARGO_TARGET_TMPDIR")).join("../screenshots");
    std::fs::create_dir_all(&shots).expect("screenshots dir");
    let png = shots.join("report-2026-11.png");
    let pdf = shots.join("report-2026-11.pdf");
    let _ = std::fs::remove_file(&png);
    let _ = std::fs::remove_file(&pdf);
    chromium(
        &page,
        &[
            format!("--screenshot={}", png.display()),
            "--window-size=900,1400".into(),
        ],
    );
    chromium(
        &page,
        &[
            format!("--print-to-pdf={}", pdf.display()),
            "--no-pdf-header-footer".into(),
        ],
    );
    let png = std::fs::read(&png).expect("png written");
    assert!(
        png.starts_with(b"\x89PNG\r\n\x1a\n") && png.len() > 20_000,
        "{}",
        png.len()
    );
    let pdf = std::fs::read(&pdf).expect("pdf written");
    assert!(pdf.starts_with(b"%PDF-"), "a PDF");
    let text = String::from_utf8_lossy(&pdf);
    // A4 is 595 × 842 points (Skia writes 594.95996 841.91998); all fits on one page.
    assert!(text.contains("/MediaBox [0 0 594.9"), "A4");
    assert!(text.contains("/Count 1"), "one page");
}

#[test]
fn a_report_recipient_that_is_no_address_is_a_config_error_naming_report_to() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = november_desk(dir.path());
    let text = std::fs::read_to_string(&config).expect("config");
    std::fs::write(
        &config,
        format!("{text}[report]\nto = \"amministrazione\"\n"),
    )
    .expect("w");
    let out = assistenza(&config, &["report"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(78), "{err}");
    assert!(err.contains("report.to"), "{err}");
}

/// The mails in `who`'s inbox whose subject starts with `prefix`, once Postfix has
/// delivered all it holds.
fn inbox(who: &str, prefix: &str) -> Vec<Vec<u8>> {
    support::postfix_drained();
    support::fetch_all(who, "INBOX")
        .into_iter()
        .filter(|m| support::subject_and_text(m).0.starts_with(prefix))
        .collect()
}

#[test]
fn the_monthly_report_reaches_the_administration_once_with_both_attachments() {
    use assistenza::core::calendar::Calendar;
    use chrono::{Datelike, TimeZone};
    use mail_parser::MimeHeaders;
    use support::clock::{faketime, run_once_at};

    faketime();
    let admin = format!("{}@kzweb.it", support::unique("admin-report"));
    let extra = format!("[report]\nto = \"{admin}\"\n");
    let desk = support::Desk::with_users(
        "report",
        support::ImapTls::Implicit,
        &extra,
        std::slice::from_ref(&admin),
    );
    let customers = desk.customers(&["gino"]);
    let gino = &customers[0];
    desk.contracts(&support::contract_row(
        "Caffè Rossi",
        &[gino],
        "www.caffe-rossi.it",
    ));
    desk.send_request(
        gino,
        gino,
        "Sito: www.caffe-rossi.it\r\nIl carrello non funziona.",
    );
    desk.handle(1);
    let before = inbox(&admin, "Rapporto di assistenza").len();

    // The first working day of next month, and the report of this one.
    let calendar = Calendar::default();
    let today = chrono::Utc::now()
        .with_timezone(&chrono_tz::Europe::Rome)
        .date_naive();
    let first = today
        .iter_days()
        .skip(1)
        .find(|d| d.month() != today.month() && calendar.is_working_day(*d))
        .expect("a working day next month");
    let rome = |day: chrono::NaiveDate, h, m| {
        chrono_tz::Europe::Rome
            .with_ymd_and_hms(day.year(), day.month(), day.day(), h, m, 0)
            .single()
            .expect("a time that happens once")
            .with_timezone(&chrono::Utc)
    };
    // The working day before: on a closed day none would be owed anyway, proving nothing.
    let mut eve = first.pred_opt().expect("a day before");
    while !calendar.is_working_day(eve) {
        eve = eve.pred_opt().expect("a day before");
    }
    let next = first.succ_opt().expect("a day after");
    let runs = [
        ("the day before", rome(eve, 9, 10), 0),
        ("the first office day", rome(first, 9, 10), 1),
        ("after a restart", rome(first, 9, 40), 0),
        ("the next day", rome(next, 9, 10), 0),
    ];
    let mut seen = before;
    for (what, at, expected) in runs {
        let log = run_once_at(&desk, at);
        let now = inbox(&admin, "Rapporto di assistenza").len();
        assert_eq!(now - seen, expected, "{what} ({at}):\n{log}");
        assert_eq!(
            log.contains("monthly report queued"),
            expected > 0,
            "{what}:\n{log}"
        );
        seen = now;
    }
    let month = format!("{:04}-{:02}", today.year(), today.month());
    let mails: Vec<Vec<u8>> = inbox(&admin, "Rapporto di assistenza")
        .into_iter()
        .filter(|m| {
            support::message_id(m)
                == format!(
                    "report.{month}.0@{}",
                    desk.support.split('@').nth(1).unwrap_or("")
                )
        })
        .collect();
    assert_eq!(mails.len(), 1, "once, at the administration's address");
    let raw = &mails[0];
    let (subject, body) = support::subject_and_text(raw);
    let name = assistenza::core::report::month_name(
        assistenza::core::report::Month::parse(&month).expect("month"),
    );
    assert_eq!(subject, format!("Rapporto di assistenza di {name}"));
    assert!(body.contains("Ticket: 1 aperti"), "{body}");
    let parsed = mail_parser::MessageParser::default()
        .parse(raw)
        .expect("mime");
    let files: Vec<(String, Vec<u8>)> = parsed
        .attachments()
        .map(|a| {
            let name = a.attachment_name().unwrap_or("").to_string();
            (name, a.contents().to_vec())
        })
        .collect();
    let names: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            format!("rapporto-{month}.html"),
            format!("rapporto-{month}.csv")
        ]
    );
    let (_, rows) = read_csv(&files[1].1, b',');
    assert_eq!(rows[0][0], "Caffè Rossi");
    assert_eq!(rows[0][1], "1", "one ticket opened");
    let html = String::from_utf8_lossy(&files[0].1);
    assert_eq!(html.matches("<svg ").count(), 4);
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("report");
    std::fs::create_dir_all(&dir).expect("target/tmp/report");
    std::fs::write(dir.join("report.eml"), raw).expect("saving the mail");
    println!("--- to {admin}: {subject}\n{}", body.replace("\r\n", "\n"));
}
