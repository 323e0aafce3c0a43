//! A broken or hostile message harms nothing. Every `.eml` of `fixtures/hostile/` (and a
//! few messages too big to commit, generated here) goes through the real parser and
//! `decide`, and must get the outcome `fixtures/hostile/expected.toml` gives it; every
//! mail `decide` wants sent is composed by the real composer and must carry only our own
//! headers. Then the whole corpus goes through the real daemon on the real mail stack.

mod support;

use std::collections::BTreeMap;

use support::oracle::{
    check_sends, contracts, decide_raw, expected, fixtures, received_at, requester,
    staffed_settings, ticket_7, Case,
};

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
        if d.outcome.kind() != case.outcome
            || d.outcome.reason() != case.reason
            || got != case.requester
        {
            failures.push(format!(
                "{}: expected {} {} {} — got {} {} {} [{}]",
                case.file,
                case.outcome,
                case.reason,
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
            .filter(|e| matches!(e, assistenza::core::decide::Effect::Send(_)))
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
    let mut files = Vec::new();
    for entry in std::fs::read_dir(fixtures().join("hostile")).expect("fixtures/hostile") {
        let name = entry
            .expect("entry")
            .file_name()
            .to_string_lossy()
            .into_owned();
        if name.ends_with(".eml") {
            assert!(
                expected.case.iter().any(|c| c.file == name),
                "{name} has no entry in hostile/expected.toml"
            );
            files.push(name);
        }
    }
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
    use assistenza::core::decide::{MailKind, OutgoingMail};
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
    let composer = Composer::new(&settings.signature, &settings.support_address).expect("composer");
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
