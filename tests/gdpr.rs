//! `assistenza gdpr export | erase ADDRESS` on a desk with two customers, built through the
//! real pipeline (`process FILE`, no mail stack: the mail waits in the outbox): the export
//! holds the person's mail, history and time; the erasure leaves no trace of the address
//! or of the person's words in the database file's bytes, touches nobody else's data, and
//! leaves the tickets readable.

mod support;

use std::path::PathBuf;
use std::process::Command;

/// The person who asks to be forgotten, and what only their mail says.
const MARIO: &str = "mario@rossi.it";
const MARIO_SAYS: &str = "il carrello rifiuta la carta prepagata di zia Carolina";
/// The other customer, who must keep everything.
const LUCA: &str = "luca@neri.it";
const LUCA_SAYS: &str = "il modulo contatti di Neri manda mail vuote";
/// Mario's colleague, whose own request copies Mario.
const ANNA_SAYS: &str = "la newsletter di Rossi parte due volte";

const AUTH: &str = "Authentication-Results: mx.kzweb.it;\r\n\tdkim=pass header.d=kzweb.it \
                    header.s=mail;\r\n\tspf=pass smtp.mailfrom=giulia@kzweb.it\r\n";

struct Desk {
    dir: tempfile::TempDir,
    config: PathBuf,
}

impl Desk {
    fn new() -> Desk {
        let dir = tempfile::tempdir().expect("tempdir");
        let secret = dir.path().join("pw");
        std::fs::write(&secret, "s3cret\n").expect("secret");
        support::set_mode(&secret, 0o600);
        let config = dir.path().join("config.toml");
        std::fs::write(
            &config,
            "[imap]\nhost = \"127.0.0.1\"\nusername = \"u\"\npassword_file = \"pw\"\n\
             [smtp]\nhost = \"127.0.0.1\"\nport = 1\nfrom = \"assistenza@kzweb.it\"\n\
             [store]\npath = \"db.sqlite\"\n\
             [operator_auth]\ntrusted_authserv_ids = [\"mx.kzweb.it\"]\n\
             [[operators]]\nname = \"giulia\"\naddresses = [\"giulia@kzweb.it\"]\n\
             level = 1\nteam = \"primo-livello\"\n",
        )
        .expect("config");
        Desk { dir, config }
    }

    fn run(&self, args: &[&str]) -> std::process::Output {
        Command::new(env!("CARGO_BIN_EXE_assistenza"))
            .arg("--config")
            .arg(&self.config)
            .args(args)
            .output()
            .expect("running assistenza")
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Runs `raw` through the pipeline; returns what `process` printed.
    fn process(&self, name: &str, raw: &str) -> String {
        let file = self.dir.path().join(name);
        std::fs::write(&file, raw).expect("eml");
        self.ok(&["process", file.to_str().expect("path")])
    }

    /// A request from `from`; returns the code of the ticket it opened.
    fn request(&self, name: &str, from: &str, extra: &str, text: &str) -> String {
        let raw = format!(
            "From: {from}\r\nTo: assistenza@kzweb.it\r\n{extra}Subject: {}\r\n\
             Message-ID: <{name}@clienti.example>\r\n\r\n{text}\r\n",
            address_of(from)
        );
        let out = self.process(&format!("{name}.eml"), &raw);
        out.split_whitespace()
            .skip_while(|w| *w != "ticket")
            .nth(1)
            .unwrap_or_else(|| panic!("no ticket opened: {out}"))
            .to_string()
    }

    /// Giulia answers ticket `code` with `text`, as an authenticated operator.
    fn giulia(&self, name: &str, code: &str, text: &str) {
        let raw = format!(
            "{AUTH}From: Giulia <giulia@kzweb.it>\r\nTo: assistenza@kzweb.it\r\n\
             Subject: Re: [{code}] Nuovo ticket\r\nMessage-ID: <{name}@kzweb.it>\r\n\r\n{text}\r\n"
        );
        let out = self.process(&format!("{name}.eml"), &raw);
        assert!(out.contains("operator message applied"), "{out}");
    }

    /// The bytes of the database and of its -wal and -shm files, whichever exist.
    fn database_bytes(&self) -> Vec<u8> {
        let mut bytes = Vec::new();
        for suffix in ["", "-wal", "-shm"] {
            let path = self.dir.path().join(format!("db.sqlite{suffix}"));
            if let Ok(b) = std::fs::read(&path) {
                bytes.extend(b);
            }
        }
        bytes
    }

    fn db(&self) -> rusqlite::Connection {
        rusqlite::Connection::open(self.dir.path().join("db.sqlite")).expect("db")
    }
}

/// The bare address in `Name <address>`.
fn address_of(from: &str) -> &str {
    from.rsplit_once('<')
        .and_then(|(_, a)| a.strip_suffix('>'))
        .unwrap_or(from)
}

fn contains(hay: &[u8], needle: &str) -> bool {
    let needle = needle.to_ascii_lowercase().into_bytes();
    hay.windows(needle.len())
        .any(|w| w.eq_ignore_ascii_case(&needle))
}

/// Rossi (Mario and Anna) and Neri (Luca): Mario's ticket answered with time recorded,
/// Luca's the same, and Anna's request with Mario in copy.
fn two_customers() -> (Desk, String, String, String) {
    let desk = Desk::new();
    for (customer, addresses, site) in [
        ("Rossi srl", "mario@rossi.it;anna@rossi.it", "www.rossi.it"),
        ("Neri", LUCA, "www.neri.it"),
    ] {
        desk.ok(&[
            "contracts",
            "add",
            "--customer",
            customer,
            "--addresses",
            addresses,
            "--from",
            "2020-01-01",
            "--until",
            "2099-12-31",
            "--references",
            site,
        ]);
    }
    let mario = desk.request(
        "r1",
        "Mario Rossi <mario@rossi.it>",
        "",
        // Long enough to fill overflow pages, which a delete without secure_delete
        // leaves on the free list as they were.
        &format!(
            "Su www.rossi.it {MARIO_SAYS}.\n\n{}",
            "Dettagli del problema, riga per riga. ".repeat(300)
        ),
    );
    desk.giulia(
        "o1",
        &mario,
        "#tempo 1h30\nGentile cliente, ora la carta prepagata passa.",
    );
    let luca = desk.request("r2", LUCA, "", &format!("Su www.neri.it {LUCA_SAYS}."));
    desk.giulia(
        "o2",
        &luca,
        "#tempo 45m\nGentile cliente, il modulo è sistemato.",
    );
    let anna = desk.request(
        "r3",
        "anna@rossi.it",
        "Cc: Mario Rossi <mario@rossi.it>\r\n",
        &format!("Su www.rossi.it {ANNA_SAYS}; Mario (mario@rossi.it) lo sa già."),
    );
    (desk, mario, luca, anna)
}

#[test]
fn export_writes_the_persons_mail_history_time_and_an_italian_readme() {
    let (desk, mario, luca, _) = two_customers();
    let out = desk.dir.path().join("export");
    let out_s = out.to_str().expect("path");
    let dry = desk.ok(&["gdpr", "export", MARIO, out_s, "--dry-run"]);
    assert!(dry.starts_with("dry run, nothing written"), "{dry}");
    assert!(!out.exists(), "the dry run wrote nothing");

    let said = desk.ok(&["gdpr", "export", "Mario@Rossi.it", out_s]);
    assert!(said.contains("exported mario@rossi.it"), "{said}");
    let mails: Vec<PathBuf> = std::fs::read_dir(out.join("posta"))
        .expect("posta")
        .map(|e| e.expect("entry").path())
        .collect();
    let all: Vec<u8> = mails
        .iter()
        .flat_map(|p| std::fs::read(p).expect("eml"))
        .collect();
    // His request, its acknowledgement, Giulia's answer relayed, and the copy of Anna's
    // acknowledgement; never Giulia's own mail with its commands, never Luca's.
    assert!(mails.len() >= 4, "{mails:?}");
    assert!(contains(&all, MARIO_SAYS));
    assert!(contains(&all, "ora la carta prepagata passa"));
    assert!(
        !contains(&all, "#tempo"),
        "operators' commands stay with us"
    );
    assert!(!contains(&all, LUCA_SAYS) && !contains(&all, LUCA));
    assert!(mails.iter().any(|p| p
        .to_string_lossy()
        .ends_with(&format!("ricevuto-{mario}.eml"))));

    let history = std::fs::read_to_string(out.join("storico.csv")).expect("storico");
    assert!(
        history.starts_with("ticket,quando,chi,evento,dettaglio\n"),
        "{history}"
    );
    assert!(history.contains(&format!("{mario},")) && history.contains(",opened,"));
    assert!(!history.contains(&luca), "{history}");
    let time = std::fs::read_to_string(out.join("tempo.csv")).expect("tempo");
    assert!(
        time.contains(&format!("{mario},")) && time.contains(",giulia,90\n"),
        "{time}"
    );
    assert!(
        !time.contains(",45\n"),
        "Luca's time is not Mario's: {time}"
    );
    let readme = std::fs::read_to_string(out.join("LEGGIMI.txt")).expect("leggimi");
    assert!(readme.contains("Dati personali relativi all'indirizzo mario@rossi.it"));
    assert!(
        readme.contains("storico.csv") && readme.contains(&mario),
        "{readme}"
    );

    let again = desk.run(&["gdpr", "export", MARIO, out_s]);
    assert!(
        !again.status.success(),
        "a folder that is not empty is refused"
    );
}

#[test]
fn the_agencys_own_leggimi_is_used_and_a_broken_one_is_a_config_error() {
    let (desk, ..) = two_customers();
    let templates = desk.dir.path().join("templates");
    std::fs::create_dir(&templates).expect("templates dir");
    let own = "Referente privacy: dpo@kzweb.it. Ticket: {{ tickets | join(\" \") }}\n";
    std::fs::write(templates.join("leggimi.txt.j2"), own).expect("template");
    let config = std::fs::read_to_string(&desk.config).expect("config");
    std::fs::write(
        &desk.config,
        format!("[templates]\ndir = \"templates\"\n{config}"),
    )
    .expect("config");
    let out = desk.dir.path().join("own");
    desk.ok(&["gdpr", "export", MARIO, out.to_str().expect("path")]);
    let readme = std::fs::read_to_string(out.join("LEGGIMI.txt")).expect("leggimi");
    assert!(
        readme.starts_with("Referente privacy: dpo@kzweb.it. Ticket: KZ-"),
        "{readme}"
    );

    // A broken one is a configuration error naming the file and line, as for every
    // template: the set is rendered in its sample situations when the config is read.
    let broken = "Per {{ address }}: {{ nessuna.variabile }}\n";
    std::fs::write(templates.join("leggimi.txt.j2"), broken).expect("template");
    let out = desk.dir.path().join("broken");
    let run = desk.run(&["gdpr", "export", MARIO, out.to_str().expect("path")]);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(78), "{stderr}");
    assert!(
        stderr.contains("leggimi.txt.j2:1: unknown variable"),
        "{stderr}"
    );
    assert!(!out.exists(), "nothing written");
}

#[test]
fn the_agencys_own_addresses_are_refused() {
    let (desk, ..) = two_customers();
    let export = desk.dir.path().join("x");
    for address in ["giulia@kzweb.it", "Giulia@KZweb.it", "assistenza@kzweb.it"] {
        for args in [
            vec!["gdpr", "erase", address],
            vec!["gdpr", "erase", address, "--dry-run"],
            vec!["gdpr", "export", address, export.to_str().expect("path")],
        ] {
            let out = desk.run(&args);
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(!out.status.success(), "{args:?} accepted");
            assert!(err.contains("not the agency's own"), "{args:?}: {err}");
        }
    }
    let out = desk.run(&["gdpr", "erase", "non-un-indirizzo"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("is not an email address"));
}

#[test]
fn erase_leaves_no_trace_in_the_file_and_nothing_else_changes() {
    let (desk, mario, luca, anna) = two_customers();
    let before = desk.database_bytes();
    assert!(contains(&before, MARIO) && contains(&before, MARIO_SAYS));
    let luca_before = desk.ok(&["tickets", "show", &luca]);

    let dry = desk.ok(&["gdpr", "erase", MARIO, "--dry-run"]);
    assert!(dry.starts_with("dry run, nothing changed"), "{dry}");
    assert!(dry.contains(&mario) && dry.contains("cancellato-"), "{dry}");
    assert!(
        contains(&desk.database_bytes(), MARIO),
        "the dry run changed nothing"
    );

    let done = desk.ok(&["gdpr", "erase", MARIO]);
    assert!(done.starts_with("erased mario@rossi.it"), "{done}");
    let after = desk.database_bytes();
    for gone in [MARIO, MARIO_SAYS, "ora la carta prepagata passa"] {
        assert!(
            !contains(&after, gone),
            "{gone:?} still in the database's bytes"
        );
    }
    for kept in [LUCA, LUCA_SAYS, ANNA_SAYS, "anna@rossi.it", "Rossi srl"] {
        assert!(contains(&after, kept), "{kept:?} lost");
    }

    // Mario's ticket still reads, with its time and the pseudonym.
    let shown = desk.ok(&["tickets", "show", &mario]);
    assert!(shown.contains("Requester  cancellato-"), "{shown}");
    assert!(shown.contains("giulia  1h30"), "{shown}");
    assert!(shown.contains("Contenuto cancellato"), "{shown}");
    // Anna's keeps her words; Mario, in copy, is the pseudonym.
    let annas = desk.ok(&["tickets", "show", &anna]);
    assert!(annas.contains(ANNA_SAYS), "{annas}");
    assert!(annas.contains("In copy    cancellato-"), "{annas}");
    // Luca's is exactly as it was.
    assert_eq!(desk.ok(&["tickets", "show", &luca]), luca_before);
    assert!(desk.ok(&["tickets", "list"]).contains(&mario));
    // The daemon still loads the erased tickets (the pseudonym parses as an address, as
    // requester and as a colleague in copy) and acts on them.
    desk.giulia("o3", &mario, "#tempo 15m\n#chiudi\nChiudiamo il ticket.");
    desk.giulia("o4", &anna, "#prendo");
    let closed = desk.ok(&["tickets", "show", &mario]);
    assert!(
        closed.contains("State      resolved") && closed.contains("total   1h45"),
        "{closed}"
    );

    let db = desk.db();
    let audit: (String, String) = db
        .query_row("SELECT action, detail FROM audit", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .expect("one audit row");
    assert_eq!(audit.0, "gdpr_erase");
    assert!(
        !audit.1.contains('@'),
        "the audit says how much, not whose: {audit:?}"
    );
    let contract: i64 = db
        .query_row(
            "SELECT COUNT(*) FROM contract_addresses WHERE address LIKE '%rossi.it'",
            [],
            |r| r.get(0),
        )
        .expect("count");
    assert_eq!(contract, 1, "only Anna is left on Rossi's contract");
    drop(db);

    // Again: nothing left, and the same pseudonym.
    let again = desk.ok(&["gdpr", "erase", MARIO, "--dry-run"]);
    assert!(again.contains("(in 0 row(s))"), "{again}");
    let pseudonym = |t: &str| {
        t.split_whitespace()
            .find(|w| w.starts_with("cancellato-"))
            .map(str::to_string)
    };
    assert_eq!(pseudonym(&again), pseudonym(&done));
}
