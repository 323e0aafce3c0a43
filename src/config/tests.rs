//! Config validation: every problem is named with its file and key, all at once.

use super::*;
use std::os::unix::fs::PermissionsExt;

struct Dir {
    dir: tempfile::TempDir,
}

impl Dir {
    fn new() -> Dir {
        let dir = tempfile::tempdir().expect("tempdir");
        let d = Dir { dir };
        d.secret("imap.pass", "imap-secret\n", 0o600);
        d
    }
    fn secret(&self, name: &str, text: &str, mode: u32) {
        let p = self.dir.path().join(name);
        std::fs::write(&p, text).expect("write");
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).expect("chmod");
    }
    fn source(&self) -> PathBuf {
        self.dir.path().join("config.toml")
    }
    fn load(&self, text: &str) -> Result<Config, ConfigError> {
        Config::from_toml_str(text, &self.source(), &|name| {
            (name == "SMTP_PW").then(|| "from-env".to_string())
        })
    }
    fn problems(&self, text: &str) -> Vec<Problem> {
        self.load(text).expect_err("should be invalid").problems
    }
}

const MINIMAL: &str = r#"
[imap]
host = "mail.kzweb.it"
username = "assistenza@kzweb.it"
password_file = "imap.pass"

[smtp]
host = "mail.kzweb.it"
from = "assistenza@kzweb.it"
"#;

fn keys(problems: &[Problem]) -> Vec<&str> {
    problems.iter().map(|p| p.key.as_str()).collect()
}

#[test]
fn minimal_config_gets_every_default() {
    let d = Dir::new();
    let c = d.load(MINIMAL).expect("valid");
    assert_eq!(c.imap.port, 993);
    assert_eq!(c.imap.tls, TlsMode::Implicit);
    assert_eq!(c.imap.mailbox, "INBOX");
    assert_eq!(c.imap.folders.processed, "Processed");
    assert_eq!(c.imap.folders.rejected, "Rejected");
    assert_eq!(c.imap.folders.quarantine, "Quarantine");
    assert_eq!(c.imap.poll_interval, Duration::from_secs(30));
    assert_eq!(c.imap.password.expose(), "imap-secret");
    assert_eq!(c.smtp.tls, TlsMode::Starttls);
    assert_eq!(c.smtp.port, 587);
    assert!(c.smtp.username.is_none() && c.smtp.password.is_none());
    assert_eq!(c.smtp.from_name, "Assistenza KZweb");
    assert_eq!(
        c.store.path,
        PathBuf::from("/var/lib/assistenza/assistenza.db")
    );
    assert_eq!(c.settings.code_prefix, "KZ");
    assert_eq!(c.intake.max_message_bytes, 20 * 1024 * 1024);
    assert_eq!(c.settings.max_message_bytes, 20 * 1024 * 1024);
    assert!(c.settings.allow_colleagues);
    assert_eq!(c.settings.max_replies_per_hour, 20);
    assert_eq!(c.settings.own_addresses, vec![c.smtp.from.clone()]);
    assert!(c.settings.operators.is_empty() && c.settings.queue.is_empty());
    assert_eq!(c.outbox.max_attempts, 10);
    assert_eq!(c.log.filter, "info");
    assert_eq!(c.log.format, LogFormat::Text);
    assert!(c.imap.idle, "IDLE is on unless turned off");
    assert_eq!(c.source, d.source());
}

#[test]
fn idle_can_be_turned_off_and_log_format_is_checked_by_name() {
    let d = Dir::new();
    let c = d
        .load(&MINIMAL.replace("[smtp]", "idle = false\n[smtp]"))
        .expect("valid");
    assert!(!c.imap.idle);
    let json = d
        .load(&format!("{MINIMAL}\n[log]\nformat = \"json\"\n"))
        .expect("valid");
    assert_eq!(json.log.format, LogFormat::Json);
    let p = d.problems(&format!("{MINIMAL}\n[log]\nformat = \"xml\"\n"));
    assert_eq!(keys(&p), vec!["log.format"]);
}

#[test]
fn full_config_sets_every_key() {
    let d = Dir::new();
    std::fs::write(d.dir.path().join("ca.pem"), "x").expect("ca");
    let c = d
        .load(
            r#"
[imap]
host = "127.0.0.1"
port = 10143
tls = "starttls"
username = "u"
password_file = "imap.pass"
mailbox = "Supporto"
ca_file = "ca.pem"
poll_interval_secs = 5
[imap.folders]
processed = "Fatto"
rejected = "Respinti"
quarantine = "Sospesi"
[smtp]
host = "127.0.0.1"
port = 10587
tls = "implicit"
username = "u"
password_env = "SMTP_PW"
from = "Assistenza@KZweb.it"
from_name = "Supporto"
ca_file = "ca.pem"
[store]
path = "data/a.db"
[tickets]
code_prefix = "AB1"
[intake]
max_message_bytes = 4096
allow_colleagues = false
own_addresses = ["NoReply@kzweb.it", "noreply@kzweb.it"]
[outbox]
max_attempts = 3
backoff_initial_secs = 2
backoff_max_secs = 60
once_timeout_secs = 9
[log]
filter = "debug"
"#,
        )
        .expect("valid");
    assert_eq!(
        (c.imap.port, c.imap.tls, c.imap.mailbox.as_str()),
        (10143, TlsMode::Starttls, "Supporto")
    );
    assert_eq!(c.imap.ca_file, Some(d.dir.path().join("ca.pem")));
    assert_eq!(c.imap.folders.quarantine, "Sospesi");
    assert_eq!(
        c.smtp.password.as_ref().map(Secret::expose),
        Some("from-env")
    );
    assert_eq!(c.smtp.from.as_str(), "assistenza@kzweb.it");
    assert_eq!(c.settings.support_address, c.smtp.from);
    assert_eq!(c.settings.signature, "Supporto");
    assert_eq!(c.store.path, d.dir.path().join("data/a.db"));
    assert_eq!(c.settings.code_prefix, "AB1");
    let own: Vec<&str> = c
        .settings
        .own_addresses
        .iter()
        .map(Address::as_str)
        .collect();
    assert_eq!(own, vec!["assistenza@kzweb.it", "noreply@kzweb.it"]);
    assert!(!c.settings.allow_colleagues);
    assert_eq!(c.intake.max_message_bytes, 4096);
    assert_eq!(c.outbox.once_timeout, Duration::from_secs(9));
    assert_eq!(c.log.filter, "debug");
}

#[test]
fn unknown_key_is_named_with_its_path() {
    let d = Dir::new();
    let p = d.problems(&MINIMAL.replace("[smtp]", "prot = 1\n[smtp]"));
    assert_eq!(keys(&p), vec!["imap.prot"]);
    assert!(p[0].message.contains("unknown field"), "{}", p[0].message);
}

#[test]
fn wrong_type_is_named_with_its_path() {
    let d = Dir::new();
    let p = d.problems(&MINIMAL.replace("[smtp]", "port = \"x\"\n[smtp]"));
    assert_eq!(keys(&p), vec!["imap.port"]);
}

#[test]
fn syntax_error_gives_line_and_column() {
    let d = Dir::new();
    let p = d.problems("[imap]\nhost = \n");
    assert_eq!(p[0].key, "(syntax)");
    assert!(p[0].message.contains("line 2"), "{}", p[0].message);
}

#[test]
fn every_missing_required_key_is_reported_at_once() {
    let d = Dir::new();
    let p = d.problems("[imap]\n[smtp]\n");
    assert_eq!(
        keys(&p),
        vec![
            "imap.host",
            "imap.username",
            "imap.password_file",
            "smtp.host",
            "smtp.from"
        ]
    );
    let p = d.problems("");
    assert_eq!(keys(&p), vec!["imap", "smtp"]);
}

#[test]
fn plaintext_is_refused_for_a_remote_host_and_allowed_on_loopback() {
    let d = Dir::new();
    let remote = MINIMAL.replace(
        "username = \"assistenza",
        "tls = \"none\"\nusername = \"assistenza",
    );
    let p = d.problems(&remote);
    assert_eq!(keys(&p), vec!["imap.tls"]);
    assert!(p[0].message.contains("loopback"));
    for host in ["127.0.0.1", "127.5.0.1", "::1", "localhost"] {
        let local = remote.replacen("mail.kzweb.it", host, 1);
        let c = d.load(&local).expect("loopback plaintext is fine");
        assert_eq!(c.imap.port, 143);
    }
}

#[test]
fn ports_default_by_tls_mode() {
    let d = Dir::new();
    let c = d
        .load(&MINIMAL.replace("from = ", "tls = \"implicit\"\nfrom = "))
        .expect("valid");
    assert_eq!(c.smtp.port, 465);
}

#[test]
fn a_world_readable_secret_is_refused_with_a_chmod_hint_and_never_shown() {
    let d = Dir::new();
    d.secret("imap.pass", "hunter2-top-secret", 0o644);
    let err = d.load(MINIMAL).expect_err("refused");
    let text = err.to_string();
    assert!(text.contains("imap.password_file"), "{text}");
    assert!(text.contains("chmod 600"), "{text}");
    assert!(!text.contains("hunter2"), "{text}");
    assert!(!format!("{err:?}").contains("hunter2"));
}

#[test]
fn a_secret_is_never_in_debug_output() {
    let d = Dir::new();
    let c = d.load(MINIMAL).expect("valid");
    assert!(!format!("{c:?}").contains("imap-secret"));
}

#[test]
fn both_password_sources_or_an_unset_variable_are_errors() {
    let d = Dir::new();
    let both = MINIMAL.replace(
        "password_file = \"imap.pass\"",
        "password_file = \"imap.pass\"\npassword_env = \"X\"",
    );
    assert_eq!(keys(&d.problems(&both)), vec!["imap.password_file"]);
    let unset = MINIMAL.replace(
        "password_file = \"imap.pass\"",
        "password_env = \"NOT_SET_ANYWHERE\"",
    );
    let p = d.problems(&unset);
    assert_eq!(keys(&p), vec!["imap.password_env"]);
    assert!(p[0].message.contains("NOT_SET_ANYWHERE"));
}

#[test]
fn smtp_password_without_username_is_an_error() {
    let d = Dir::new();
    let p = d.problems(&MINIMAL.replace("from = ", "password_env = \"SMTP_PW\"\nfrom = "));
    assert_eq!(keys(&p), vec!["smtp.username"]);
}

#[test]
fn bad_values_are_all_reported_together() {
    let d = Dir::new();
    let text = format!(
        "{MINIMAL}\n[tickets]\ncode_prefix = \"kz-\"\n[intake]\nown_addresses = [\"nope\"]\n[outbox]\nbackoff_initial_secs = 10\nbackoff_max_secs = 5\n"
    )
    .replace("from = \"assistenza@kzweb.it\"", "from = \"Assistenza <assistenza@kzweb.it\"")
    .replace("[smtp]", "[imap.folders]\nrejected = \"Processed\"\n[smtp]");
    let p = d.problems(&text);
    assert_eq!(
        keys(&p),
        vec![
            "imap.folders.rejected",
            "smtp.from",
            "tickets.code_prefix",
            "intake.own_addresses[0]",
            "outbox.backoff_max_secs"
        ]
    );
}

#[test]
fn display_is_one_line_per_problem_with_file_and_key() {
    let d = Dir::new();
    let err = d.load("[imap]\n[smtp]\n").expect_err("invalid");
    let text = err.to_string();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 5);
    let prefix = format!("{}: imap.host: ", d.source().display());
    assert!(lines[0].starts_with(&prefix), "{}", lines[0]);
}

#[test]
fn the_example_config_matches_the_schema() {
    let text = include_str!("../../config.example.toml");
    parse_raw(text).expect("config.example.toml parses into the schema");
    // Every commented-out key and table is a real one too: uncommented, it still parses.
    let key = regex::Regex::new(r"^# ?(\[\[?[a-z_.]+\]\]?|[a-z_]+ = .*)$").expect("regex");
    let uncommented: Vec<String> = text
        .lines()
        .map(|l| match key.captures(l) {
            Some(c) => c[1].to_string(),
            None => l.to_string(),
        })
        .collect();
    let uncommented = uncommented.join("\n");
    assert!(
        uncommented.contains("\n[[operators]]\n"),
        "operators documented"
    );
    parse_raw(&uncommented).unwrap_or_else(|p| {
        panic!(
            "config.example.toml with every key uncommented: {}: {}",
            p.key, p.message
        )
    });
}

const STAFF: &str = r#"
[queue]
address = "operatori@kzweb.it"

[oncall]
address = "reperibile@kzweb.it"

[operator_auth]
trusted_authserv_ids = ["mail.kzweb.it"]

[calendar]
opens = "08:30"
closes = "17:30"
days = ["lun", "mar", "mer", "gio", "ven", "sab"]
closures = ["06-29", "2026-12-24", "2026-08-10..2026-08-21"]

[tickets]
first_contact_office_hours = 2
reopen_hours = 72

[[operators]]
name = "giulia"
addresses = ["Giulia@kzweb.it", "giulia.verdi@kzweb.it"]

[[operators]]
name = "sergio"
addresses = ["sergio@kzweb.it"]
level = 2
team = "sistemisti"
"#;

#[test]
fn operators_queue_oncall_and_calendar_are_read() {
    let d = Dir::new();
    let c = d.load(&format!("{MINIMAL}{STAFF}")).expect("valid");
    let s = &c.settings;
    assert_eq!(s.operators.len(), 2);
    assert_eq!(s.operators[0].name, "giulia");
    assert_eq!(s.operators[0].addresses[0].as_str(), "giulia@kzweb.it");
    assert_eq!(
        (s.operators[0].level, s.operators[0].team.as_str()),
        (1, "primo-livello")
    );
    assert_eq!(
        (s.operators[1].level, s.operators[1].team.as_str()),
        (2, "sistemisti")
    );
    let queue: Vec<&str> = s.queue.iter().map(Address::as_str).collect();
    assert_eq!(queue, vec!["operatori@kzweb.it"]);
    assert_eq!(
        s.oncall.as_ref().map(Address::as_str),
        Some("reperibile@kzweb.it")
    );
    assert_eq!(s.trusted_authserv_ids, vec!["mail.kzweb.it".to_string()]);
    assert_eq!(s.calendar.days.len(), 6);
    assert_eq!(s.calendar.closures.len(), 3);
    assert_eq!(s.calendar.opens.format("%H:%M").to_string(), "08:30");
    assert_eq!(s.first_contact, chrono::Duration::hours(2));
    assert_eq!(s.reopen_window, chrono::Duration::hours(72));
    let plain = d.load(MINIMAL).expect("valid");
    assert_eq!(plain.settings.reopen_window, chrono::Duration::hours(48));
    assert_eq!(plain.settings.first_contact, chrono::Duration::hours(4));
    assert_eq!(
        plain.settings.calendar,
        crate::core::calendar::Calendar::default()
    );
}

#[test]
fn operator_mistakes_are_named_by_key() {
    let d = Dir::new();
    let p = d.problems(&format!(
        r#"{MINIMAL}
[calendar]
opens = "9"
closes = "08:00"
days = ["lunedì", "funday"]
closures = ["2026-13-01"]

[tickets]
reopen_hours = 0

[[operators]]
name = "giulia verdi"
addresses = ["assistenza@kzweb.it"]
level = 3

[[operators]]
name = "sergio"
addresses = ["sergio@kzweb.it", "sergio@kzweb.it"]
level = 2
"#
    ));
    let k = keys(&p);
    for key in [
        "calendar.opens",
        "calendar.days[1]",
        "calendar.closures[0]",
        "tickets.reopen_hours",
        "operators[0].name",
        "operators[0].addresses[0]",
        "operators[0].level",
        "operators[1].addresses[1]",
        "operators[1].team",
        "operator_auth.trusted_authserv_ids",
    ] {
        assert!(k.contains(&key), "{key} not reported in {k:?}");
    }
}

/// An address the core's grammar refuses (two dots in a row) at every key that takes one.
#[test]
fn an_address_the_core_refuses_is_a_problem_naming_its_key() {
    let d = Dir::new();
    let bad = "mario..rossi@example.it";
    let staff = |queue: &str, operator: &str, oncall: &str| {
        format!(
            "{MINIMAL}\n[queue]\naddress = \"{queue}\"\n[oncall]\naddress = \"{oncall}\"\n\
             [operator_auth]\ntrusted_authserv_ids = [\"mail.kzweb.it\"]\n\
             [[operators]]\nname = \"mario\"\naddresses = [\"mario@kzweb.it\", \"{operator}\"]\n"
        )
    };
    let good = d
        .load(&staff("q@kzweb.it", "mario.rossi@example.it", "r@kzweb.it"))
        .expect("valid");
    assert_eq!(good.settings.operators[0].addresses.len(), 2);
    let cases = [
        (
            staff(bad, "mario.rossi@example.it", "r@kzweb.it"),
            "queue.address",
        ),
        (
            staff("q@kzweb.it", bad, "r@kzweb.it"),
            "operators[0].addresses[1]",
        ),
        (
            staff("q@kzweb.it", "mario.rossi@example.it", bad),
            "oncall.address",
        ),
        (
            MINIMAL.replace(
                "from = \"assistenza@kzweb.it\"",
                &format!("from = \"{bad}\""),
            ),
            "smtp.from",
        ),
        (
            format!("{MINIMAL}\n[intake]\nown_addresses = [\"{bad}\"]\n"),
            "intake.own_addresses[0]",
        ),
    ];
    for (text, key) in cases {
        let p = d.problems(&text);
        assert_eq!(keys(&p), vec![key], "{text}");
        assert!(p[0].message.contains(bad), "{}", p[0].message);
    }
}

#[test]
fn addresses_are_normalised_as_the_core_compares_them() {
    let d = Dir::new();
    let c = d
        .load(&format!(
            "{}\n[queue]\naddress = \" Operatori@Università.IT \"\n",
            MINIMAL.replace("assistenza@kzweb.it\"\n", "Assistenza@KZweb.it\"\n")
        ))
        .expect("valid");
    assert_eq!(c.smtp.from.as_str(), "assistenza@kzweb.it");
    assert_eq!(
        c.settings.queue[0].as_str(),
        "operatori@xn--universit-y1a.it"
    );
}

#[test]
fn an_address_lettre_cannot_send_to_is_refused_at_its_key() {
    // Valid by the core's grammar but longer than a domain may be once in ASCII: mail to
    // it could never be composed.
    let d = Dir::new();
    let domain = vec!["à"; 80].join(".") + ".it";
    let text = format!("{MINIMAL}\n[oncall]\naddress = \"r@{domain}\"\n");
    assert!(Address::parse(&format!("r@{domain}")).is_some());
    assert_eq!(keys(&d.problems(&text)), vec!["oncall.address"]);
}

#[test]
fn give_up_after_defaults_to_a_day_and_must_be_between_a_minute_and_a_year() {
    let d = Dir::new();
    let c = d.load(MINIMAL).expect("valid");
    assert_eq!(c.intake.give_up_after, Duration::from_secs(24 * 3600));
    let c = d
        .load(&format!("{MINIMAL}\n[intake]\ngive_up_after_secs = 3600\n"))
        .expect("valid");
    assert_eq!(c.intake.give_up_after, Duration::from_secs(3600));
    for bad in ["0", "59", "31622401"] {
        let p = d.problems(&format!(
            "{MINIMAL}\n[intake]\ngive_up_after_secs = {bad}\n"
        ));
        assert_eq!(keys(&p), vec!["intake.give_up_after_secs"], "{bad}");
        assert!(p[0].message.contains("between 60"), "{}", p[0].message);
    }
}

#[test]
fn desk_name_is_the_from_name_and_the_signature() {
    let d = Dir::new();
    let c = d
        .load(&format!("[desk]\nname = \" Supporto KZweb \"\n{MINIMAL}"))
        .expect("valid");
    assert_eq!(c.smtp.from_name, "Supporto KZweb");
    assert_eq!(c.settings.signature, "Supporto KZweb");
    let plain = d.load(MINIMAL).expect("valid");
    assert_eq!(plain.settings.signature, "Assistenza KZweb");
}

#[test]
fn smtp_from_name_is_still_read_and_may_repeat_desk_name() {
    let d = Dir::new();
    let alias = MINIMAL.replace("from = ", "from_name = \"Supporto\"\nfrom = ");
    let c = d.load(&alias).expect("valid");
    assert_eq!(c.settings.signature, "Supporto");
    let c = d
        .load(&format!("[desk]\nname = \"Supporto\"\n{alias}"))
        .expect("the same name twice is no conflict");
    assert_eq!(c.smtp.from_name, "Supporto");
}

#[test]
fn desk_name_and_smtp_from_name_that_differ_are_an_error_naming_both() {
    let d = Dir::new();
    let p = d.problems(&format!(
        "[desk]\nname = \"Supporto\"\n{}",
        MINIMAL.replace("from = ", "from_name = \"Assistenza KZweb\"\nfrom = ")
    ));
    assert_eq!(keys(&p), vec!["desk.name"]);
    assert!(p[0].message.contains("smtp.from_name"), "{}", p[0].message);
    assert!(p[0].message.contains("keep one"), "{}", p[0].message);
}

#[test]
fn a_blank_desk_name_is_an_error_at_the_key_it_came_from() {
    let d = Dir::new();
    let p = d.problems(&format!("[desk]\nname = \"  \"\n{MINIMAL}"));
    assert_eq!(keys(&p), vec!["desk.name"]);
    let p = d.problems(&MINIMAL.replace("from = ", "from_name = \"\"\nfrom = "));
    assert_eq!(keys(&p), vec!["smtp.from_name"]);
    let p = d.problems(&format!(
        "[desk]\nname = \"Supporto\\nBcc: x@y.it\"\n{MINIMAL}"
    ));
    assert_eq!(keys(&p), vec!["desk.name"]);
    let p = d.problems(&format!("[desk]\nnome = \"Supporto\"\n{MINIMAL}"));
    assert_eq!(keys(&p), vec!["desk.nome"]);
}

#[test]
fn smtp_from_takes_a_display_name_as_the_desk_name() {
    let d = Dir::new();
    let from = |value: &str| MINIMAL.replace("\"assistenza@kzweb.it\"\n", &format!("{value}\n"));
    let cases = [
        (
            r#""Supporto KZweb <Assistenza@KZweb.it>""#,
            "Supporto KZweb",
        ),
        (r#""Supporto<assistenza@kzweb.it>""#, "Supporto"),
        (
            r#""\"Assistenza, KZweb\" <assistenza@kzweb.it>""#,
            "Assistenza, KZweb",
        ),
        (
            r#"'"Il \"Supporto\" \\ KZweb" < assistenza@kzweb.it >'"#,
            r#"Il "Supporto" \ KZweb"#,
        ),
        (
            r#""Niccolò S.r.l. <assistenza@kzweb.it>""#,
            "Niccolò S.r.l.",
        ),
        (r#""<assistenza@kzweb.it>""#, "Assistenza KZweb"),
        (r#"" assistenza@kzweb.it ""#, "Assistenza KZweb"),
    ];
    for (value, name) in cases {
        let c = d
            .load(&from(value))
            .unwrap_or_else(|e| panic!("{value}: {e}"));
        assert_eq!(c.smtp.from.as_str(), "assistenza@kzweb.it", "{value}");
        assert_eq!(c.settings.support_address, c.smtp.from, "{value}");
        assert_eq!(c.smtp.from_name, name, "{value}");
        assert_eq!(c.settings.signature, name, "{value}");
    }
    // The same name in desk.name or smtp.from_name is no conflict.
    let named = from(r#""Supporto <assistenza@kzweb.it>""#);
    let c = d
        .load(&format!("[desk]\nname = \"Supporto\"\n{named}"))
        .expect("valid");
    assert_eq!(c.settings.signature, "Supporto");
    let c = d
        .load(&named.replace("from = ", "from_name = \"Supporto\"\nfrom = "))
        .expect("valid");
    assert_eq!(c.settings.signature, "Supporto");
}

#[test]
fn a_malformed_display_form_is_an_error_naming_smtp_from() {
    let d = Dir::new();
    for value in [
        r#""Supporto <assistenza@kzweb.it""#,
        r#""Supporto <bad""#,
        r#""Supporto <bad>""#,
        r#""Supporto <mario..rossi@kzweb.it>""#,
        r#""Supporto <assistenza@kzweb.it> KZweb""#,
        r#""Supporto <assistenza@kzweb.it>, Altro <altro@kzweb.it>""#,
        r#""Supporto <assistenza@kzweb.it> <altro@kzweb.it>""#,
        r#""Supporto <<assistenza@kzweb.it>>""#,
        r#""Supporto assistenza@kzweb.it>""#,
        r#""Supporto assistenza@kzweb.it""#,
        r#""Assistenza, KZweb <assistenza@kzweb.it>""#,
        r#""Supporto (KZweb) <assistenza@kzweb.it>""#,
        r#""\"Supporto <assistenza@kzweb.it>""#,
        r#""\"Supporto\" assistenza@kzweb.it""#,
        r#""\"\" <assistenza@kzweb.it>""#,
        r#""\"  \" <assistenza@kzweb.it>""#,
        r#""<>""#,
    ] {
        let text = MINIMAL.replace("\"assistenza@kzweb.it\"\n", &format!("{value}\n"));
        let p = d.problems(&text);
        assert_eq!(keys(&p), vec!["smtp.from"], "{value}");
    }
}

#[test]
fn a_name_in_smtp_from_that_differs_from_the_desk_name_is_an_error_naming_both() {
    let d = Dir::new();
    let named = MINIMAL.replace(
        "\"assistenza@kzweb.it\"\n",
        "\"Supporto <assistenza@kzweb.it>\"\n",
    );
    let p = d.problems(&format!("[desk]\nname = \"Assistenza KZweb\"\n{named}"));
    assert_eq!(keys(&p), vec!["smtp.from"]);
    assert!(p[0].message.contains("desk.name"), "{}", p[0].message);
    assert!(p[0].message.contains("keep one"), "{}", p[0].message);
    let p = d.problems(&named.replace("from = ", "from_name = \"Altro\"\nfrom = "));
    assert_eq!(keys(&p), vec!["smtp.from"]);
    assert!(p[0].message.contains("smtp.from_name"), "{}", p[0].message);
    // Three names, all different: each conflict once.
    let p = d.problems(&format!(
        "[desk]\nname = \"Assistenza KZweb\"\n{}",
        named.replace("from = ", "from_name = \"Altro\"\nfrom = ")
    ));
    assert_eq!(keys(&p), vec!["desk.name", "smtp.from"]);
    assert!(
        p[1].message.contains("desk.name") && p[1].message.contains("smtp.from_name"),
        "{}",
        p[1].message
    );
}

#[test]
fn templates_dir_resolves_against_the_config_folder_and_must_be_a_directory() {
    let d = Dir::new();
    assert_eq!(d.load(MINIMAL).expect("valid").templates_dir, None);
    std::fs::create_dir_all(d.dir.path().join("testi/mail")).expect("mkdir");
    let c = d
        .load(&format!("{MINIMAL}\n[templates]\ndir = \"testi/mail\"\n"))
        .expect("valid");
    assert_eq!(c.templates_dir, Some(d.dir.path().join("testi/mail")));
    let absolute = d.dir.path().join("testi");
    let c = d
        .load(&format!(
            "{MINIMAL}\n[templates]\ndir = \"{}\"\n",
            absolute.display()
        ))
        .expect("valid");
    assert_eq!(c.templates_dir, Some(absolute));

    let p = d.problems(&format!("{MINIMAL}\n[templates]\ndir = \"mancante\"\n"));
    assert_eq!(keys(&p), vec!["templates.dir"]);
    let missing = d.dir.path().join("mancante");
    assert_eq!(
        p[0].message,
        format!("{}: no such directory", missing.display())
    );
    let p = d.problems(&format!("{MINIMAL}\n[templates]\ndir = \"imap.pass\"\n"));
    assert_eq!(keys(&p), vec!["templates.dir"]);
    assert!(p[0].message.contains("not a directory"), "{}", p[0].message);
    let p = d.problems(&format!("{MINIMAL}\n[templates]\ndir = \"\"\n"));
    assert_eq!(keys(&p), vec!["templates.dir"]);
    let p = d.problems(&format!("{MINIMAL}\n[templates]\npath = \"testi\"\n"));
    assert_eq!(keys(&p), vec!["templates.path"]);
}

#[test]
fn contract_notices_need_an_address_and_a_window_of_days() {
    let d = Dir::new();
    let none = d.load(MINIMAL).expect("valid");
    assert_eq!(none.contracts.notify, None);
    assert_eq!(none.contracts.before_days, 30);
    let cfg = d
        .load(&format!(
            "{MINIMAL}[contracts]\nnotify_to = \"Amministrazione@KZweb.it\"\n"
        ))
        .expect("valid");
    let notify = cfg.contracts.notify.expect("notices on");
    assert_eq!(
        (notify.to.as_str(), notify.before_days),
        ("amministrazione@kzweb.it", 30)
    );
    let bad =
        format!("{MINIMAL}[contracts]\nnotify_to = \"amministrazione\"\nnotify_before_days = 0\n");
    let err = d.load(&bad).expect_err("invalid");
    assert_eq!(
        keys(&err.problems),
        vec!["contracts.notify_before_days", "contracts.notify_to"]
    );
    assert!(
        err.to_string()
            .contains("config.toml: contracts.notify_to: \"amministrazione\""),
        "{err}"
    );
    let typo = d
        .load(&format!("{MINIMAL}[contracts]\nnotify = \"a@kzweb.it\"\n"))
        .expect_err("unknown key");
    assert_eq!(keys(&typo.problems), vec!["contracts.notify"]);
}
