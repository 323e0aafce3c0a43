//! `assistenza status --format prometheus` without the mail stack: a small store written
//! the way the daemon writes it, the output read back with a Prometheus text-format
//! parser, and `--out` replacing its file whole. (`/metrics` on the portal is tested in
//! tests/portal.rs, where the daemon runs.)

mod support;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use chrono::{Duration, SecondsFormat, Utc};
use prometheus_parse::{Scrape, Value};

fn assistenza(config: &Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_assistenza"))
        .arg("--config")
        .arg(config)
        .args(args)
        .output()
        .expect("running assistenza")
}

/// A config whose IMAP server does not answer (nothing listens on 127.0.0.1:993), and a database
/// with the daemon's schema holding Neri's contract.
fn desk(dir: &Path) -> std::path::PathBuf {
    let secret = dir.join("pw");
    std::fs::write(&secret, "s3cret\n").expect("secret");
    support::set_mode(&secret, 0o600);
    let path = dir.join("config.toml");
    std::fs::write(
        &path,
        "[imap]\nhost = \"127.0.0.1\"\nusername = \"u\"\n\
         password_file = \"pw\"\n[smtp]\nhost = \"127.0.0.1\"\nfrom = \"assistenza@kzweb.it\"\n\
         [store]\npath = \"db.sqlite\"\n",
    )
    .expect("config");
    let out = assistenza(
        &path,
        &[
            "contracts",
            "add",
            "--customer",
            "Neri",
            "--addresses",
            "luca@neri.it",
            "--from",
            "2020-01-01",
            "--until",
            "2099-12-31",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    path
}

/// Tickets, mail and messages as the daemon leaves them, at times relative to now:
/// 1 open, its ack unsent and 40 minutes past the promise, its first contact missed;
/// 2 taken half an hour late, after the queue was reminded, its ack sent 5 minutes late;
/// 3 waiting, its ack on time; 4 awaiting approval, its ack due in 10 minutes; 5 merged
/// before anyone took it (no first contact missed for it). In the outbox, besides the
/// acks, a reply queued 10 minutes ago, one given up and one held by the rate limit. Two
/// loops, an automated reply and a message whose handling failed in Quarantine. The
/// daemon last looked at the mailbox at `look`.
fn fill(dir: &Path, look: chrono::DateTime<Utc>) {
    let now = Utc::now();
    let t = |minutes: i64| {
        (now + Duration::minutes(minutes)).to_rfc3339_opts(SecondsFormat::Millis, true)
    };
    let db = rusqlite::Connection::open(dir.join("db.sqlite")).expect("db");
    let ticket = |id: u32, state: &str, opened: i64| {
        format!(
            "({id}, 'KZ-2026-0000{id}', 1, 'luca@neri.it', 'luca@neri.it', '{state}', 's', '{}', '{}', '{}')",
            t(opened),
            t(opened + 30),
            t(opened + 60)
        )
    };
    let rows = [
        ticket(1, "open", -70),
        ticket(2, "taken", -300),
        ticket(3, "waiting", -300),
        ticket(4, "awaiting_approval", -20),
        ticket(5, "merged", -300),
    ];
    db.execute_batch(&format!(
        "INSERT INTO tickets (id, code, contract_id, requester, sender, state, summary,
                              opened_at, ack_due_at, first_contact_due_at) VALUES {};
         UPDATE tickets SET first_contact_at = opened_at WHERE id NOT IN (1, 5);
         UPDATE tickets SET reminded_at = '{m240}', first_contact_at = '{m210}' WHERE id = 2;
         INSERT INTO outbox (message_id, kind, ticket_id, envelope_from, recipients, subject,
                             raw, created_at, next_attempt_at, sent_at, failed_at, held) VALUES
           ('a1', 'ack', 1, 'a@kzweb.it', 'luca@neri.it', 's', x'00', '{m70}', '{m70}', NULL, NULL, NULL),
           ('a2', 'ack', 2, 'a@kzweb.it', 'luca@neri.it', 's', x'00', '{m300}', '{m300}', '{m265}', NULL, NULL),
           ('a3', 'ack', 3, 'a@kzweb.it', 'luca@neri.it', 's', x'00', '{m300}', '{m300}', '{m299}', NULL, NULL),
           ('a4', 'ack', 4, 'a@kzweb.it', 'luca@neri.it', 's', x'00', '{m20}', '{m20}', NULL, NULL, NULL),
           ('r1', 'reply', 3, 'a@kzweb.it', 'luca@neri.it', 's', x'00', '{m10}', '{m10}', NULL, NULL, NULL),
           ('r2', 'reply', 3, 'a@kzweb.it', 'luca@neri.it', 's', x'00', '{m300}', '{m300}', NULL, '{m200}', NULL),
           ('r3', 'reply', 3, 'a@kzweb.it', 'luca@neri.it', 's', x'00', '{m300}', '{m300}', NULL, '{m300}', 'rate limit');
         INSERT INTO inbound (received_at, processed_at, sender, subject, size, outcome, reason,
                              folder, raw) VALUES
           ('{m10}', '{m10}', 'x@spam.example', 'hi', 3, 'quarantine', 'loop', 'quarantine', x'00'),
           ('{m10}', '{m10}', 'x@spam.example', 'hi', 3, 'quarantine', 'loop', 'quarantine', x'00'),
           ('{m10}', '{m10}', 'x@spam.example', 'hi', 3, 'quarantine', 'automated', 'quarantine', x'00'),
           ('{m10}', '{m10}', 'x@spam.example', 'hi', 3, 'failed', 'permanent failure: x', 'quarantine', x'00'),
           ('{m10}', '{m10}', 'luca@neri.it', 'hi', 3, 'rejected', 'empty_request', 'rejected', x'00');
         INSERT INTO daemon_state (key, value) VALUES ('last_poll_at', '{look}'), ('intake_mode', 'idle');",
        rows.join(",\n"),
        m300 = t(-300),
        m299 = t(-299),
        m265 = t(-265),
        m200 = t(-200),
        m210 = t(-210),
        m240 = t(-240),
        m70 = t(-70),
        m20 = t(-20),
        m10 = t(-10),
        look = look.to_rfc3339_opts(SecondsFormat::Millis, true),
    ))
    .expect("rows");
}

/// The samples by name and labels (`name{k="v"}`), each a gauge, and the metric names
/// documented with `# HELP`.
fn gauges(text: &str) -> (BTreeMap<String, f64>, Vec<String>) {
    let scrape =
        Scrape::parse(text.lines().map(|l| Ok(l.to_string()))).expect("the Prometheus text format");
    let lines = text.lines().filter(|l| !l.starts_with('#')).count();
    assert_eq!(scrape.samples.len(), lines, "every line a sample:\n{text}");
    let mut out = BTreeMap::new();
    for s in scrape.samples {
        let Value::Gauge(v) = s.value else {
            panic!("{} is not a gauge: {:?}", s.metric, s.value);
        };
        let key = if s.labels.is_empty() {
            s.metric.clone()
        } else {
            format!("{}{{{}}}", s.metric, s.labels)
        };
        assert!(out.insert(key, v).is_none(), "{} twice", s.metric);
    }
    let mut documented: Vec<String> = scrape.docs.into_keys().collect();
    documented.sort();
    (out, documented)
}

#[test]
fn status_format_prometheus_exports_the_desk_as_gauges_a_parser_reads() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = desk(dir.path());
    let look = Utc::now() - Duration::minutes(3);
    fill(dir.path(), look);
    let out = assistenza(&config, &["status", "--format", "prometheus"]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (g, documented) = gauges(&text);
    let version = format!(
        "assistenza_build_info{{version=\"{}\"}}",
        env!("CARGO_PKG_VERSION")
    );
    let exact = [
        (version.as_str(), 1.0),
        ("assistenza_mailbox_measured", 0.0),
        (
            "assistenza_last_mailbox_look_timestamp_seconds",
            look.timestamp() as f64,
        ),
        ("assistenza_outbox_pending_messages", 3.0),
        ("assistenza_outbox_given_up_messages", 1.0),
        ("assistenza_outbox_held_messages", 1.0),
        ("assistenza_tickets{state=\"open\"}", 1.0),
        ("assistenza_tickets{state=\"taken\"}", 1.0),
        ("assistenza_tickets{state=\"waiting\"}", 1.0),
        ("assistenza_tickets{state=\"awaiting_approval\"}", 1.0),
        ("assistenza_tickets{state=\"resolved\"}", 0.0),
        ("assistenza_tickets{state=\"closed\"}", 0.0),
        ("assistenza_tickets{state=\"merged\"}", 1.0),
        ("assistenza_acks_missed", 2.0),
        ("assistenza_acks_overdue", 1.0),
        ("assistenza_acks_at_risk", 1.0),
        ("assistenza_first_contacts_missed", 2.0),
        ("assistenza_quarantined_messages{reason=\"loop\"}", 2.0),
        ("assistenza_quarantined_messages{reason=\"automated\"}", 1.0),
        ("assistenza_quarantined_messages{reason=\"no_sender\"}", 0.0),
        (
            "assistenza_quarantined_messages{reason=\"handling_failed\"}",
            1.0,
        ),
    ];
    for (name, value) in exact {
        assert_eq!(g.get(name), Some(&value), "{name} in:\n{text}");
    }
    // The oldest unsent mail is the ack queued 70 minutes ago.
    let age = g["assistenza_outbox_oldest_pending_age_seconds"];
    assert!((4190.0..=4300.0).contains(&age), "{age}");
    // IMAP did not answer: no backlog is made up.
    assert!(
        !g.contains_key("assistenza_mailbox_backlog_messages"),
        "{text}"
    );
    assert!(!g.contains_key("assistenza_mailbox_oldest_message_age_seconds"));
    for name in g.keys().map(|k| k.split('{').next().unwrap_or(k)) {
        assert!(name.starts_with("assistenza_"), "{name}");
        assert!(documented.iter().any(|d| d == name), "{name} has no HELP");
    }
}

#[test]
fn status_out_replaces_the_file_whole_and_leaves_no_temporary_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = desk(dir.path());
    let textfiles = dir.path().join("node-exporter");
    std::fs::create_dir(&textfiles).expect("dir");
    let prom = textfiles.join("assistenza.prom");
    std::fs::write(&prom, "stale\n").expect("old file");
    let out = assistenza(
        &config,
        &[
            "status",
            "--format",
            "prometheus",
            "--out",
            prom.to_str().expect("utf-8"),
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.stdout.is_empty(), "nothing on stdout with --out");
    let text = std::fs::read_to_string(&prom).expect("written");
    let (g, _) = gauges(&text);
    assert_eq!(g.get("assistenza_tickets{state=\"open\"}"), Some(&0.0));
    let names: Vec<String> = std::fs::read_dir(&textfiles)
        .expect("listing")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["assistenza.prom"]);

    // A directory that is not there: an error naming the file, exit non-zero.
    let missing = dir.path().join("nowhere/assistenza.prom");
    let out = assistenza(
        &config,
        &[
            "status",
            "--format",
            "prometheus",
            "--out",
            missing.to_str().expect("utf-8"),
        ],
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("nowhere/assistenza.prom"), "{err}");
}
