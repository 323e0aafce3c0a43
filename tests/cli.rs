//! The command line without the mail stack: config errors name the file and key with
//! exit code 78; contract import is all or nothing and names the line and column.

mod support;

use std::process::Command;

fn assistenza(config: &std::path::Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_assistenza"))
        .arg("--config")
        .arg(config)
        .args(args)
        .output()
        .expect("running assistenza")
}

/// `contracts add` for Neri (luca@neri.it, 2020–2099), which must succeed.
fn add_neri(config: &std::path::Path) {
    let out = assistenza(
        config,
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
}

fn minimal_config(dir: &std::path::Path, extra_imap: &str) -> std::path::PathBuf {
    let secret = dir.join("pw");
    std::fs::write(&secret, "s3cret\n").expect("secret");
    support::set_mode(&secret, 0o600);
    let path = dir.join("config.toml");
    std::fs::write(
        &path,
        format!(
            "[imap]\nhost = \"127.0.0.1\"\nusername = \"u\"\npassword_file = \"pw\"\n{extra_imap}\n\
[smtp]\nhost = \"127.0.0.1\"\nfrom = \"assistenza@kzweb.it\"\n[store]\npath = \"db.sqlite\"\n"
        ),
    )
    .expect("config");
    path
}

#[test]
fn config_error_names_the_file_and_the_key_and_exits_78() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = minimal_config(dir.path(), "prot = 993");
    let out = assistenza(&path, &["tickets", "list"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(78), "{err}");
    assert!(err.contains(&path.display().to_string()), "{err}");
    assert!(err.contains("imap.prot"), "{err}");
}

/// An address that passes a loose check but not the core's grammar (two dots in a row):
/// it used to get past config validation and fail later as a generic error (exit 1).
#[test]
fn an_address_the_core_refuses_is_a_config_error_naming_its_key() {
    let bad = "mario..rossi@example.it";
    for (extra, key) in [
        (
            format!(
                "[operator_auth]\ntrusted_authserv_ids = [\"mx.kzweb.it\"]\n\
                 [[operators]]\nname = \"mario\"\naddresses = [\"{bad}\"]\n"
            ),
            "operators[0].addresses[0]",
        ),
        (format!("[queue]\naddress = \"{bad}\"\n"), "queue.address"),
    ] {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = minimal_config(dir.path(), "");
        let text = std::fs::read_to_string(&path).expect("config");
        std::fs::write(&path, format!("{text}{extra}")).expect("config");
        let eml = dir.path().join("request.eml");
        std::fs::write(
            &eml,
            "From: luca@neri.it\r\nSubject: luca@neri.it\r\n\r\nIl sito non va.\r\n",
        )
        .expect("eml");
        let out = assistenza(
            &path,
            &["process", "--dry-run", eml.to_str().expect("path")],
        );
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(78), "{key}: {err}");
        let named = format!("{}: {key}: ", path.display());
        assert!(err.contains(&named), "{key} named with the file: {err}");
        assert!(err.contains(bad), "{err}");
    }
}

#[test]
fn plaintext_to_a_remote_host_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("config.toml");
    let secret = dir.path().join("pw");
    std::fs::write(&secret, "x").expect("secret");
    support::set_mode(&secret, 0o600);
    std::fs::write(
        &path,
        "[imap]\nhost = \"mail.kzweb.it\"\ntls = \"none\"\nusername = \"u\"\npassword_file = \"pw\"\n\
[smtp]\nhost = \"127.0.0.1\"\nfrom = \"assistenza@kzweb.it\"\n",
    )
    .expect("config");
    let out = assistenza(&path, &["tickets", "list"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(78), "{err}");
    assert!(err.contains("imap.tls"), "{err}");
}

#[test]
fn contract_import_is_all_or_nothing_and_names_line_and_column() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = minimal_config(dir.path(), "");
    let csv = dir.path().join("contracts.csv");
    std::fs::write(
        &csv,
        "customer,addresses,valid_from,valid_until,references\n\
Rossi,mario@rossi.it,2026-01-01,2026-12-31,www.rossi.it\n\
Verdi,giulia@verdi,2026-01-01,2026-12-31,\n",
    )
    .expect("csv");
    let out = assistenza(&path, &["contracts", "import", csv.to_str().expect("path")]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("line 3, column addresses"), "{err}");
    let list = assistenza(&path, &["contracts", "export"]);
    assert_eq!(
        String::from_utf8_lossy(&list.stdout).lines().count(),
        1,
        "nothing imported: only the header is exported"
    );

    std::fs::write(
        &csv,
        "customer,addresses,valid_from,valid_until,references\n\
\"Rossi, srl\",mario@rossi.it;anna@rossi.it,2026-01-01,2026-12-31,www.rossi.it;Gestionale\n",
    )
    .expect("csv");
    let out = assistenza(&path, &["contracts", "import", csv.to_str().expect("path")]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let export =
        String::from_utf8_lossy(&assistenza(&path, &["contracts", "export"]).stdout).into_owned();
    assert!(
        export.contains("\"Rossi, srl\",anna@rossi.it;mario@rossi.it,2026-01-01,2026-12-31,www.rossi.it;Gestionale"),
        "{export}"
    );
}

#[test]
fn contracts_add_disable_and_list_show_the_standing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = minimal_config(dir.path(), "");
    add_neri(&path);
    let list =
        String::from_utf8_lossy(&assistenza(&path, &["contracts", "list"]).stdout).into_owned();
    assert!(list.contains("Neri") && list.contains("InForce"), "{list}");
    assert!(assistenza(&path, &["contracts", "disable", "Neri"])
        .status
        .success());
    let list =
        String::from_utf8_lossy(&assistenza(&path, &["contracts", "list"]).stdout).into_owned();
    assert!(list.contains("Disabled"), "{list}");
    let out = assistenza(&path, &["contracts", "disable", "Nessuno"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no contract for customer"));
}

#[test]
fn unknown_ticket_code_is_a_clear_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = minimal_config(dir.path(), "");
    let out = assistenza(&path, &["tickets", "show", "KZ-2026-00001"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no ticket KZ-2026-00001"));
}

#[test]
fn purge_deletes_old_closed_tickets_and_stray_mail_and_dry_run_deletes_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = minimal_config(dir.path(), "");
    // The daemon's database, made by a command, then filled as the daemon would have.
    add_neri(&path);
    let db = rusqlite::Connection::open(dir.path().join("db.sqlite")).expect("db");
    let old = "2020-03-02T09:00:00.000Z";
    let recent = (chrono::Utc::now() - chrono::Duration::days(10))
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    db.execute_batch(&format!(
        "INSERT INTO ticket_counters VALUES ('KZ', 2020, 3);
         INSERT INTO tickets (id, code, contract_id, requester, sender, state, summary,
                              opened_at, ack_due_at, closed_at, reopen_until) VALUES
           (1, 'KZ-2020-00001', 1, 'luca@neri.it', 'luca@neri.it', 'closed', 's',
            '{old}', '{old}', '{old}', '{old}'),
           (2, 'KZ-2020-00002', 1, 'luca@neri.it', 'luca@neri.it', 'resolved', 's',
            '{old}', '{old}', '{old}', '{old}'),
           (3, 'KZ-2020-00003', 1, 'luca@neri.it', 'luca@neri.it', 'closed', 's',
            '{old}', '{old}', '{recent}', '{recent}');
         INSERT INTO inbound (id, received_at, processed_at, sender, subject, size, outcome,
                              reason, folder, ticket_id, raw) VALUES
           (1, '{old}', '{old}', 'luca@neri.it', 'luca@neri.it', 3, 'ticket', '', 'processed', 1, x'414243'),
           (2, '{old}', '{old}', 'x@spam.example', 'hi', 3, 'quarantine', '', 'quarantine', NULL, x'414243');
         INSERT INTO ticket_events (ticket_id, at, actor, event, inbound_id) VALUES
           (1, '{old}', 'luca@neri.it', 'opened', 1);
         INSERT INTO outbox (message_id, kind, ticket_id, inbound_id, envelope_from, recipients,
                             subject, raw, created_at, next_attempt_at, sent_at) VALUES
           ('a1', 'ack', 1, 1, 'assistenza@kzweb.it', 'luca@neri.it', 's', x'00', '{old}', '{old}', '{old}');"
    ))
    .expect("rows");
    let rows = |db: &rusqlite::Connection| -> Vec<i64> {
        [
            "tickets",
            "inbound",
            "outbox",
            "ticket_events",
            "ticket_counters",
        ]
        .iter()
        .map(|t| {
            db.query_row(&format!("SELECT COUNT(*) FROM {t}"), [], |r| r.get(0))
                .expect("count")
        })
        .collect()
    };
    assert_eq!(rows(&db), vec![3, 2, 1, 1, 1]);

    let out = assistenza(&path, &["purge", "--older-than", "0d"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("at least 1 day"));

    let out = assistenza(&path, &["purge", "--older-than", "365d", "--dry-run"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.starts_with("dry run, nothing deleted"), "{text}");
    assert!(text.contains("  tickets  KZ-2020-00001\n"), "{text}");
    assert_eq!(
        rows(&db),
        vec![3, 2, 1, 1, 1],
        "the dry run deleted nothing"
    );

    let out = assistenza(&path, &["purge", "--older-than", "365"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("tickets        1\n"), "{text}");
    assert!(
        text.contains("mail received  2 (1 on these tickets, 1 on no ticket"),
        "{text}"
    );
    assert!(text.contains("  tickets  KZ-2020-00001\n"), "{text}");
    // The resolved ticket and the recently closed one stay; the counter too.
    assert_eq!(rows(&db), vec![2, 0, 0, 0, 1]);
    let out = assistenza(&path, &["tickets", "show", "KZ-2020-00001"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("no ticket KZ-2020-00001"));
    let list =
        String::from_utf8_lossy(&assistenza(&path, &["tickets", "list"]).stdout).into_owned();
    assert!(
        list.contains("KZ-2020-00002") && list.contains("KZ-2020-00003"),
        "{list}"
    );
}

/// Tickets of Neri as the operators' tools leave them, written the way the daemon
/// stores them: KZ-2026-00001 waiting for the customer, with two `#tempo`, `#extra`, a
/// quote replaced by one luca accepted, anna copied, and KZ-2026-00002 merged into it;
/// KZ-2026-00003 waiting for the answer to a quote. Times are UTC (Rome is one hour ahead
/// in January).
const WORKED_TICKETS: &str = "
INSERT INTO ticket_counters VALUES ('KZ', 2026, 3);
INSERT INTO tickets (id, code, contract_id, requester, sender, state, summary, opened_at,
                     ack_due_at, operator, extra, urgent, customer_reminder_at,
                     auto_close_at, next_deadline_at, merged_into) VALUES
  (1, 'KZ-2026-00001', 1, 'luca@neri.it', 'luca@neri.it', 'waiting', 's',
   '2026-01-12T08:00:00.000Z', '2026-01-12T08:30:00.000Z', 'giulia', 'yes', 1,
   '2026-01-19T09:00:00.000Z', '2026-01-26T09:00:00.000Z', '2026-01-19T09:00:00.000Z', NULL),
  (2, 'KZ-2026-00002', 1, 'anna@neri.it', 'anna@neri.it', 'merged', 's',
   '2026-01-12T09:00:00.000Z', '2026-01-12T09:30:00.000Z', NULL, 'no', 0,
   NULL, NULL, NULL, 1),
  (3, 'KZ-2026-00003', 1, 'luca@neri.it', 'luca@neri.it', 'awaiting_approval', 's',
   '2026-01-13T08:00:00.000Z', '2026-01-13T08:30:00.000Z', 'giulia', 'possible', 1,
   '2026-01-16T09:00:00.000Z', NULL, '2026-01-16T09:00:00.000Z', NULL);
INSERT INTO outbox (message_id, kind, ticket_id, envelope_from, recipients, subject, raw,
                    created_at, next_attempt_at, sent_at) VALUES
  ('a1', 'ack', 1, 'assistenza@kzweb.it', 'luca@neri.it', 's', x'00',
   '2026-01-12T08:01:00.000Z', '2026-01-12T08:01:00.000Z', '2026-01-12T08:02:00.000Z'),
  ('a2', 'ack', 1, 'assistenza@kzweb.it', 'anna@neri.it', 's', x'00',
   '2026-01-12T09:01:00.000Z', '2026-01-12T09:01:00.000Z', '2026-01-12T09:02:00.000Z'),
  ('a3', 'ack', 3, 'assistenza@kzweb.it', 'luca@neri.it', 's', x'00',
   '2026-01-13T08:01:00.000Z', '2026-01-13T08:01:00.000Z', '2026-01-13T08:02:00.000Z');
INSERT INTO time_entries (ticket_id, operator, day, minutes, at) VALUES
  (1, 'giulia', '2026-01-12', 90, '2026-01-12T10:00:00.000Z'),
  (1, 'marco', '2026-01-13', 45, '2026-01-13T10:00:00.000Z');
INSERT INTO quotes (ticket_id, operator, amount_cents, sent_at, decision, decided_at,
                    decided_by) VALUES
  (1, 'giulia', 25000, '2026-01-12T11:00:00.000Z', 'replaced', '2026-01-12T12:00:00.000Z', NULL),
  (1, 'giulia', 125000, '2026-01-12T12:00:00.000Z', 'accepted', '2026-01-12T15:00:00.000Z',
   'luca@neri.it'),
  (3, 'giulia', 8000, '2026-01-13T09:00:00.000Z', NULL, NULL, NULL);
INSERT INTO ticket_participants (ticket_id, address, added_at) VALUES
  (1, 'anna@neri.it', '2026-01-12T09:00:00.000Z');
";

/// A config and a database holding `WORKED_TICKETS`, made by a command first so that it
/// has the daemon's schema.
fn worked_desk(dir: &std::path::Path) -> std::path::PathBuf {
    let path = minimal_config(dir, "");
    add_neri(&path);
    let db = rusqlite::Connection::open(dir.join("db.sqlite")).expect("db");
    db.execute_batch(WORKED_TICKETS).expect("rows");
    path
}

fn stdout_of(config: &std::path::Path, args: &[&str]) -> String {
    let out = assistenza(config, args);
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn tickets_show_prints_time_extra_quotes_copies_and_merges() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = worked_desk(dir.path());
    let text = stdout_of(&path, &["tickets", "show", "KZ-2026-00001"]);
    for line in [
        "State      waiting\n",
        "Merged     from KZ-2026-00002\n",
        "Extra      sì\n",
        "Deadline   customer reminder 2026-01-19 10:00\n",
        "In copy    anna@neri.it\n",
        "Time:\n  2026-01-12  giulia  1h30\n  2026-01-13  marco    45m\n              total   2h15\n",
        "  2026-01-12 12:00    250,00 €  giulia  replaced 2026-01-12 13:00\n",
        "  2026-01-12 13:00  1.250,00 €  giulia  accepted 2026-01-12 16:00 by luca@neri.it\n",
    ] {
        assert!(text.contains(line), "{line:?} missing in:\n{text}");
    }
    let merged = stdout_of(&path, &["tickets", "show", "KZ-2026-00002"]);
    assert!(
        merged.contains("State      merged\nMerged     into KZ-2026-00001"),
        "{merged}"
    );
    assert!(
        !merged.contains("Deadline"),
        "a merged ticket owes nothing:\n{merged}"
    );
    assert!(
        merged.contains("Ack        with the thread, on KZ-2026-00001"),
        "{merged}"
    );
    assert!(
        merged.contains("History:\n  (moved to KZ-2026-00001 with the merge)\n"),
        "{merged}"
    );
    let quoted = stdout_of(&path, &["tickets", "show", "KZ-2026-00003"]);
    assert!(quoted.contains("Extra      possibile\n"), "{quoted}");
    assert!(
        quoted.contains("80,00 €  giulia  no answer yet\n"),
        "{quoted}"
    );
}

#[test]
fn tickets_list_shows_every_state_and_the_total_time_in_aligned_columns() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = worked_desk(dir.path());
    let list = stdout_of(&path, &["tickets", "list"]);
    let lines: Vec<&str> = list.lines().collect();
    assert_eq!(lines.len(), 4, "{list}");
    let row = |code: &str| {
        *lines
            .iter()
            .find(|l| l.starts_with(code))
            .unwrap_or_else(|| panic!("{code} missing in:\n{list}"))
    };
    let (waiting, merged, quoted) = (
        row("KZ-2026-00001"),
        row("KZ-2026-00002"),
        row("KZ-2026-00003"),
    );
    assert!(
        waiting.contains(" waiting ") && waiting.contains("  2h15 "),
        "{list}"
    );
    assert!(quoted.contains(" awaiting_approval "), "{list}");
    assert!(
        merged.contains(" merged ") && !merged.contains("ack"),
        "{list}"
    );
    // Every column starts where its heading does, however long the state's name.
    for (heading, in_waiting, in_quoted) in [
        ("LVL", "1 ", "1 "),
        ("TIME", "2h15", "   -"),
        (
            "NEXT DEADLINE",
            "customer reminder 2026-01-19",
            "customer reminder 2026-01-16",
        ),
        ("REQUESTER", "luca@neri.it", "luca@neri.it"),
    ] {
        let at = lines[0].find(heading).expect("heading");
        assert!(
            waiting[at..].starts_with(in_waiting),
            "{heading} in:\n{list}"
        );
        assert!(quoted[at..].starts_with(in_quoted), "{heading} in:\n{list}");
    }
}

#[test]
fn tickets_show_json_carries_the_same_facts_under_the_documented_keys() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = worked_desk(dir.path());
    let json = |code: &str| -> serde_json::Value {
        serde_json::from_str(&stdout_of(&path, &["tickets", "show", code, "--json"])).expect("json")
    };
    let t = json("KZ-2026-00001");
    assert_eq!(
        (&t["extra"], &t["time_minutes"], &t["time"]),
        (&"yes".into(), &135.into(), &"2h15".into())
    );
    assert_eq!(
        t["time_entries"][1],
        serde_json::json!({"operator": "marco", "day": "2026-01-13", "minutes": 45,
                           "at": "2026-01-13T10:00:00Z"})
    );
    assert_eq!(
        t["quotes"][1],
        serde_json::json!({"amount_cents": 125000, "amount": "1.250,00 €",
            "operator": "giulia", "sent_at": "2026-01-12T12:00:00Z", "decision": "accepted",
            "decided_at": "2026-01-12T15:00:00Z", "decided_by": "luca@neri.it"})
    );
    assert_eq!(t["quotes"][0]["decision"], "replaced");
    assert_eq!(t["participants"], serde_json::json!(["anna@neri.it"]));
    assert_eq!(t["merged_into"], serde_json::Value::Null);
    assert_eq!(t["merged_from"], serde_json::json!(["KZ-2026-00002"]));
    assert_eq!(
        t["next_deadline"],
        serde_json::json!(["customer reminder", "2026-01-19T09:00:00Z"])
    );
    let m = json("KZ-2026-00002");
    assert_eq!(m["merged_into"], "KZ-2026-00001");
    assert_eq!(m["next_deadline"], serde_json::Value::Null);
    assert_eq!((&m["time_minutes"], &m["time"]), (&0.into(), &"0m".into()));
    assert_eq!(
        json("KZ-2026-00003")["quotes"][0]["decision"],
        serde_json::Value::Null
    );
    // The list carries the row's keys too.
    let list: serde_json::Value =
        serde_json::from_str(&stdout_of(&path, &["tickets", "list", "--json"])).expect("json");
    let first = list.as_array().and_then(|rows| rows.last()).expect("rows");
    assert_eq!(
        (&first["code"], &first["time"]),
        (&"KZ-2026-00001".into(), &"2h15".into())
    );
}

/// `assistenza --config CONFIG ARGS` as the unprivileged user `nobody`, who can read the
/// config and the database but not the password file.
fn as_nobody(config: &std::path::Path, args: &[&str]) -> std::process::Output {
    Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(env!("CARGO_BIN_EXE_assistenza"))
        .arg("--config")
        .arg(config)
        .args(args)
        .output()
        .expect("running assistenza as nobody")
}

#[test]
fn administration_commands_run_without_access_to_the_passwords() {
    use std::os::unix::fs::{chown, PermissionsExt};
    let dir = tempfile::tempdir().expect("tempdir");
    let config = minimal_config(dir.path(), "");
    add_neri(&config);
    // The database and its folder belong to nobody; the password stays root's own.
    let open = |p: &std::path::Path, mode: u32| {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).expect("chmod");
    };
    open(dir.path(), 0o755);
    open(&config, 0o644);
    for entry in std::fs::read_dir(dir.path()).expect("dir").flatten() {
        if entry.file_name().to_string_lossy().starts_with("db.sqlite") {
            chown(entry.path(), Some(65534), Some(65534)).expect("chown");
        }
    }
    chown(dir.path(), Some(65534), Some(65534)).expect("chown dir");
    let refused = as_nobody(&config, &["run", "--once"]);
    assert_eq!(
        refused.status.code(),
        Some(78),
        "the daemon itself still needs the password, which nobody cannot read: {}",
        String::from_utf8_lossy(&refused.stderr)
    );
    for args in [
        &["contracts", "list"][..],
        &["tickets", "list"],
        &["templates", "list"],
        &["purge", "--older-than", "365", "--dry-run"],
        &["report", "--month", "2026-11"],
    ] {
        let out = as_nobody(&config, args);
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let out = as_nobody(&config, &["contracts", "list"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("Neri"));
    // status reports what the store knows and says the mailbox was not measured.
    let out = as_nobody(&config, &["status", "--format", "prometheus"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("assistenza_mailbox_measured 0"), "{text}");
    let out = as_nobody(&config, &["status"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("cannot read the IMAP password"), "{text}");
}
