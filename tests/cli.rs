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
