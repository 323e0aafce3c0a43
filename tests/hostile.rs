//! A broken or hostile message harms nothing. Every `.eml` of `fixtures/hostile/` (and a
//! few messages too big to commit, generated here) goes through the real parser and
//! `decide`, and must get the outcome `fixtures/hostile/expected.toml` gives it; every
//! mail `decide` wants sent is composed by the real composer and must carry only our own
//! headers. Then the whole corpus goes through the real daemon on the real mail stack.

mod support;

use std::collections::BTreeMap;

use support::oracle::{
    check_sends, contracts, decide_raw, eml_files_with_cases, expected, fixtures, received_at,
    requester, staffed_settings, ticket_7, Case, INJECTED,
};
use support::{append_all_at, count, wait_for, Desk};

const MARIO: &str = "mario.rossi@rossi-impianti.it";

const REQUEST: &str = "Buongiorno, sono Mario Rossi.\r\nSito: https://www.rossi-impianti.it\r\n\
Il modulo contatti non invia più i messaggi da ieri sera.\r\n";

fn header(name: &str) -> String {
    format!(
        "From: Mario Rossi <{MARIO}>\r\nTo: assistenza@kzweb.it\r\nSubject: {MARIO}\r\n\
Date: Tue, 10 Mar 2026 09:58:01 +0100\r\nMessage-ID: <{name}@hostile.example>\r\n\
MIME-Version: 1.0\r\n"
    )
}

/// Messages too big to commit, by the name the oracle gives them (`generated/…`).
fn generated() -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut add = |name: &str, raw: Vec<u8>| {
        out.insert(format!("generated/{name}.eml"), raw);
    };

    // A 30 MB attachment: over the 20 MB limit, refused for its size.
    let mut raw = format!(
        "{}Content-Type: multipart/mixed; boundary=\"big\"\r\n\r\n--big\r\n\
Content-Type: text/plain; charset=utf-8\r\n\r\n{REQUEST}--big\r\n\
Content-Type: application/octet-stream; name=\"backup.bin\"\r\n\
Content-Disposition: attachment; filename=\"backup.bin\"\r\n\
Content-Transfer-Encoding: base64\r\n\r\n",
        header("attachment-30mb")
    )
    .into_bytes();
    let line = b"QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZnaGlqa2xtbm9wcXJzdHV2d3h5ejAx\r\n";
    while raw.len() < 30 * 1024 * 1024 {
        raw.extend_from_slice(line);
    }
    raw.extend_from_slice(b"--big--\r\n");
    add("attachment-30mb", raw);

    // A multipart nested 100 deep, the request in the innermost part.
    let depth = 100;
    let mut raw = header("nested-multipart-100");
    for level in 0..depth {
        raw.push_str(&format!(
            "Content-Type: multipart/mixed; boundary=\"level{level}\"\r\n\r\n--level{level}\r\n"
        ));
    }
    raw.push_str(&format!(
        "Content-Type: text/plain; charset=utf-8\r\n\r\n{REQUEST}"
    ));
    for level in (0..depth).rev() {
        raw.push_str(&format!("--level{level}--\r\n"));
    }
    add("nested-multipart-100", raw.into_bytes());

    // A 200 KB subject: the address, then a flood.
    let raw = header("subject-200kb").replace(
        &format!("Subject: {MARIO}\r\n"),
        &format!("Subject: {MARIO} {}\r\n", "A".repeat(200 * 1024)),
    );
    add(
        "subject-200kb",
        format!("{raw}Content-Type: text/plain; charset=utf-8\r\n\r\n{REQUEST}").into_bytes(),
    );

    // 5,000 Received lines above a good request.
    let mut raw = String::new();
    for hop in 0..5000 {
        raw.push_str(&format!(
            "Received: from relay{hop}.example.net (relay{hop}.example.net [192.0.2.{}])\r\n\
\tby relay{}.example.net with ESMTP id {hop:08}; Tue, 10 Mar 2026 09:58:01 +0100\r\n",
            hop % 250,
            hop + 1
        ));
    }
    raw.push_str(&header("received-5000"));
    raw.push_str(&format!(
        "Content-Type: text/plain; charset=utf-8\r\n\r\n{REQUEST}"
    ));
    add("received-5000", raw.into_bytes());

    // A million empty lines before the request.
    let raw = format!(
        "{}Content-Type: text/plain; charset=utf-8\r\n\r\n{}{REQUEST}",
        header("blank-lines-1m"),
        "\r\n".repeat(1_000_000)
    );
    add("blank-lines-1m", raw.into_bytes());

    // 2,000 small attachments.
    let mut raw = format!(
        "{}Content-Type: multipart/mixed; boundary=\"many\"\r\n\r\n--many\r\n\
Content-Type: text/plain; charset=utf-8\r\n\r\n{REQUEST}",
        header("attachments-2000")
    );
    for i in 0..2000 {
        raw.push_str(&format!(
            "--many\r\nContent-Type: text/plain; name=\"f{i}.txt\"\r\n\
Content-Disposition: attachment; filename=\"f{i}.txt\"\r\n\r\nfile {i}\r\n"
        ));
    }
    raw.push_str("--many--\r\n");
    add("attachments-2000", raw.into_bytes());

    out
}

/// The oracle's outcome and reason for `case` in this build. mail-parser checks one of its
/// invariants with `debug_assert!` only: where it fires, a debug build's parse panics (and
/// the message is malformed), a release build's goes on.
fn outcome(case: &Case) -> (&str, &str) {
    match case.file.as_str() {
        "malformed-mime-empty-boundary-nested-rfc822.eml" if !cfg!(debug_assertions) => {
            ("rejected", "empty_request")
        }
        _ => (case.outcome.as_str(), case.reason.as_str()),
    }
}

/// The corpus in the oracle's order: each case with its bytes.
fn corpus() -> Vec<(Case, Vec<u8>)> {
    let mut generated = generated();
    expected("hostile/expected.toml")
        .case
        .into_iter()
        .map(|case| {
            let raw = match generated.remove(&case.file) {
                Some(raw) => raw,
                None => std::fs::read(fixtures().join("hostile").join(&case.file))
                    .unwrap_or_else(|e| panic!("{}: {e}", case.file)),
            };
            (case, raw)
        })
        .collect()
}

#[test]
fn every_hostile_message_gets_its_expected_outcome_and_injects_nothing() {
    let contracts = contracts();
    let ticket_7 = ticket_7(&contracts);
    let settings = staffed_settings();
    let corpus = corpus();
    let committed = corpus
        .iter()
        .filter(|(c, _)| !c.file.starts_with("generated/"))
        .count();
    assert!(committed >= 40, "{committed} committed hostile messages");

    let mut failures = Vec::new();
    let mut sends = 0;
    for (case, raw) in &corpus {
        let d = decide_raw(
            raw,
            raw.len() as u64,
            received_at(),
            &contracts,
            &ticket_7,
            &settings,
        );
        let got = requester(&d);
        let (want, why) = outcome(case);
        if (d.outcome.kind(), d.outcome.reason()) != (want, why) || got != case.requester {
            failures.push(format!(
                "{}: expected {want} {why} {} — got {} {} {} [{}]",
                case.file,
                case.requester,
                d.outcome.kind(),
                d.outcome.reason(),
                got,
                case.note
            ));
        }
        if d.outcome.kind() == "quarantine" && !d.effects.is_empty() {
            failures.push(format!("{}: quarantine must send nothing", case.file));
        }
        if case.file.starts_with("operator-forged")
            && !d
                .warning
                .as_deref()
                .is_some_and(|w| w.contains("possible spoof"))
        {
            failures.push(format!("{}: no spoof warning for the log", case.file));
        }
        sends += d
            .effects
            .iter()
            .filter(|e| matches!(e, assistenza::core::decision::Effect::Send(_)))
            .count();
        for problem in check_sends(&d, raw, &settings) {
            failures.push(format!("{}: {problem}", case.file));
        }
    }
    assert!(
        failures.is_empty(),
        "{} problem(s):\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(
        sends > 20,
        "only {sends} mails composed: the check saw too little"
    );
}

#[test]
fn every_hostile_file_has_an_expectation_and_its_own_message_id() {
    let expected = expected("hostile/expected.toml");
    let files = eml_files_with_cases("hostile", &expected, "hostile/expected.toml");
    let generated = generated();
    for name in generated.keys() {
        assert!(
            expected.case.iter().any(|c| &c.file == name),
            "{name} has no entry in hostile/expected.toml"
        );
    }
    for case in &expected.case {
        assert!(
            files.contains(&case.file) || generated.contains_key(&case.file),
            "{} in hostile/expected.toml is neither a file nor generated",
            case.file
        );
    }
    // The intake takes a second message with a known Message-ID for the first one seen
    // again: each message of the corpus must have its own.
    let mut seen = BTreeMap::new();
    for (case, raw) in corpus() {
        let msg = assistenza::mail::parse::parse(&raw, raw.len() as u64, received_at());
        if let Some(id) = msg.message_id {
            if let Some(other) = seen.insert(id.clone(), case.file.clone()) {
                panic!("{} and {other} share the Message-ID {id}", case.file);
            }
        }
    }
}

#[test]
fn the_injection_check_sees_an_injected_header() {
    use assistenza::core::decision::{MailKind, OutgoingMail};
    use assistenza::mail::compose::Composer;
    let settings = staffed_settings();
    let mail = OutgoingMail::new(
        MailKind::Rejection,
        None,
        vec![support::oracle::addr(MARIO)],
        (
            "Richiesta di assistenza non accettata".into(),
            "Testo.\n".into(),
        ),
    );
    let composer = Composer::new(&settings.signature, &settings.support_address);
    let clean = composer
        .compose(&mail, "x.1.0@kzweb.it", received_at())
        .expect("composed")
        .raw;
    let input = b"Subject: a@b.it\r\nBcc: x@evil.example\r\n\r\n";
    assert_eq!(
        support::oracle::check_composed(&mail, &clean, input),
        Vec::<String>::new()
    );
    let text = String::from_utf8(clean).expect("ascii");
    for forged in [
        text.replacen("To: ", "Bcc: x@evil.example\r\nTo: ", 1),
        text.replacen("To: ", "X-Other: 1\nTo: ", 1),
        text.replacen("Subject: ", "Subject: a\r\nSubject: ", 1),
    ] {
        assert!(
            !support::oracle::check_composed(&mail, forged.as_bytes(), input).is_empty(),
            "not seen:\n{forged}"
        );
    }
}

/// `hay` with every `from` replaced by `to`.
fn replace_bytes(hay: &[u8], from: &str, to: &str) -> Vec<u8> {
    let from = from.as_bytes();
    let mut out = Vec::with_capacity(hay.len());
    let mut i = 0;
    while i < hay.len() {
        if hay[i..].starts_with(from) {
            out.extend_from_slice(to.as_bytes());
            i += from.len();
        } else {
            out.push(hay[i]);
            i += 1;
        }
    }
    out
}

/// Where the desk on the stack must differ from the oracle, and why.
fn e2e_outcome(case: &Case) -> (&str, &str) {
    match case.file.as_str() {
        // The stack has no mailbox in an IDN domain, so that contract is not imported.
        "idn-raw-utf8-address-ticket.eml" | "idn-upper-case-encoded-subject-ticket.eml" => {
            ("quarantine", "unknown_sender")
        }
        // The address is inside an encoded word, out of the mapping's reach: it stays the
        // fixture's address, on no contract of this desk.
        "charset-unknown-encoded-subject.eml" | "charset-utf7-encoded-subject.eml" => {
            ("rejected", "address_not_enabled")
        }
        _ => outcome(case),
    }
}

/// The whole corpus, APPENDed to a staffed desk's inbox with the INTERNALDATE of the
/// oracle, handled by the real daemon (`run --once`): each message gets the oracle's
/// outcome and folder, the inbox ends empty, every queued mail is delivered, and none of
/// the mail that reached a mailbox carries a header the hostile messages tried to inject.
#[test]
fn the_hostile_corpus_through_the_real_daemon_harms_nothing() {
    let (desk, staff) = Desk::with_staff("hostile");
    // Dozens of messages from the same two customers: the reply limit would hold some.
    desk.allow_many_replies();
    // Dovecot refuses an apostrophe in a user name: sean.obrien stands in for O'Brien.
    let customers = desk.customers(&["mario", "anna", "sean.obrien"]);
    let [mario, anna, sean] = [&customers[0], &customers[1], &customers[2]];
    // The fixtures' people, as mailboxes of this desk on the stack.
    let people: Vec<(&str, &str)> = vec![
        (MARIO, mario),
        ("anna.bianchi@rossi-impianti.it", anna),
        ("sean.o'brien@obrien-ferramenta.it", sean),
        ("giulia@kzweb.it", &staff.giulia),
        ("assistenza@kzweb.it", &desk.support),
    ];
    let map = |raw: &[u8]| {
        people.iter().fold(raw.to_vec(), |raw, (from, to)| {
            replace_bytes(&raw, from, to)
        })
    };
    let csv = std::fs::read_to_string(fixtures().join("contracts.csv")).expect("csv");
    let rows: String = csv
        .lines()
        .skip(1)
        .filter(|row| !row.contains("xn--"))
        .map(|row| {
            format!(
                "{}\n",
                String::from_utf8(map(row.as_bytes())).expect("utf-8")
            )
        })
        .collect();
    desk.contracts(&rows);

    // A zero-byte message never reaches a mailbox: Dovecot refuses to APPEND it.
    let corpus: Vec<(Case, Vec<u8>)> = corpus()
        .into_iter()
        .filter(|(_, raw)| !raw.is_empty())
        .collect();
    let raws: Vec<Vec<u8>> = corpus.iter().map(|(_, raw)| map(raw)).collect();
    append_all_at(&desk.support, "INBOX", &raws, received_at());
    let run = desk.cli(&["run", "--once"]);
    let log = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "run --once failed: {log}");
    assert!(
        log.contains("possible spoof"),
        "the forged operator mail is logged as a possible spoof:\n{log}"
    );

    assert_eq!(count(&desk.support, "INBOX"), 0, "the inbox ends empty");
    let db = rusqlite::Connection::open_with_flags(
        desk.dir.path().join("desk.db"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .expect("desk.db");
    let handled: Vec<(u32, String, String, String, String)> = db
        .prepare(
            "SELECT i.uid, i.outcome, i.reason, i.folder, COALESCE(t.requester, '')
             FROM inbound i LEFT JOIN tickets t ON t.id = i.ticket_id ORDER BY i.uid",
        )
        .expect("query")
        .query_map([], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
        })
        .expect("rows")
        .collect::<Result<_, _>>()
        .expect("rows");
    assert_eq!(handled.len(), corpus.len(), "every message handled once");
    let (size, stored): (i64, i64) = db
        .query_row(
            "SELECT size, length(raw) FROM inbound WHERE message_id = ?1",
            ["attachment-30mb@hostile.example"],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .expect("the 30 MB message");
    assert!(
        size > 30_000_000 && stored < 10_000,
        "only the header of the 30 MB message is fetched ({stored} of {size} bytes)"
    );
    let mut failures = Vec::new();
    let mut folders = BTreeMap::<String, usize>::new();
    for ((case, _), (_, outcome, reason, folder, got)) in corpus.iter().zip(&handled) {
        let (want, why) = e2e_outcome(case);
        let want_requester = if want == "ticket" {
            people
                .iter()
                .find(|(f, _)| *f == case.requester)
                .map_or(case.requester.as_str(), |(_, t)| t)
        } else {
            ""
        };
        if (outcome.as_str(), reason.as_str(), got.as_str()) != (want, why, want_requester) {
            failures.push(format!(
                "{}: expected {want} {why} {want_requester} — got {outcome} {reason} {got}",
                case.file
            ));
        }
        *folders.entry(folder.clone()).or_default() += 1;
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    for (folder, mailbox) in [
        ("processed", "Processed"),
        ("rejected", "Rejected"),
        ("quarantine", "Quarantine"),
    ] {
        assert_eq!(
            count(&desk.support, mailbox),
            folders.get(folder).copied().unwrap_or(0),
            "{mailbox} holds the messages recorded for it"
        );
    }

    // Every queued mail went out, to nobody the hostile messages named.
    let outbox: Vec<(String, Option<String>)> = db
        .prepare("SELECT recipients, sent_at FROM outbox")
        .expect("query")
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .expect("rows")
        .collect::<Result<_, _>>()
        .expect("rows");
    assert!(outbox.len() > 20, "only {} mails queued", outbox.len());
    let mut per_mailbox = BTreeMap::<String, usize>::new();
    for (recipients, sent) in &outbox {
        assert!(sent.is_some(), "mail to {recipients} not sent");
        for r in recipients.split(',') {
            assert!(
                people.iter().any(|(_, p)| p == &r)
                    || [&staff.queue, &staff.oncall, &staff.sergio].contains(&&r.to_string()),
                "mail to {r}, who is none of the desk's people"
            );
            *per_mailbox.entry(r.to_string()).or_default() += 1;
        }
    }
    for (mailbox, n) in &per_mailbox {
        let got = wait_for(mailbox, "INBOX", *n, std::time::Duration::from_secs(20));
        assert_eq!(got.len(), *n, "mail delivered to {mailbox}");
        for raw in &got {
            let problems = delivered_header_problems(raw);
            assert!(problems.is_empty(), "mail to {mailbox}: {problems:?}");
        }
    }
    assert_eq!(
        count(&desk.support, "INBOX"),
        0,
        "no bounce came back to the support address"
    );
}

/// What a delivered mail's header must not have: a Bcc, a line the corpus tried to
/// inject, anything but one From, To and Subject, or a subject that decodes to a line
/// break or a Bcc.
fn delivered_header_problems(raw: &[u8]) -> Vec<String> {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or(raw.len());
    let text = String::from_utf8_lossy(&raw[..end]);
    let mut problems = Vec::new();
    let mut count = BTreeMap::<String, usize>::new();
    for line in text.split("\r\n").filter(|l| !l.starts_with([' ', '\t'])) {
        let name = line.split(':').next().unwrap_or("").to_ascii_lowercase();
        *count.entry(name.clone()).or_default() += 1;
        if name == "bcc" || name == "x-injected" || INJECTED.contains(&line) {
            problems.push(format!("injected {line:?}"));
        }
    }
    for name in ["from", "to", "subject"] {
        if count.get(name) != Some(&1) {
            problems.push(format!("{:?} {name} header(s)", count.get(name)));
        }
    }
    // What the reader's client shows, once encoded words are decoded.
    let subject = mail_parser::MessageParser::default()
        .parse(raw)
        .and_then(|m| m.subject().map(str::to_string))
        .unwrap_or_default();
    if subject.contains(['\r', '\n']) || subject.contains("Bcc:") {
        problems.push(format!("the subject decodes to {subject:?}"));
    }
    problems
}
