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
