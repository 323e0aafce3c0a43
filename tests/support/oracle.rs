//! The pure-level setup shared by the fixture tests (`tests/fixtures.rs`,
//! `tests/hostile.rs`, `tests/proptest_parse_decide.rs`): the contracts of
//! `fixtures/contracts.csv`, ticket KZ-2026-00007, the settings, one message through the
//! real parser and `decide`, and the check that a mail `decide` wants sent composes with
//! no header that the inbound message could have put there.

use std::path::PathBuf;

use chrono::{DateTime, TimeZone, Utc};
use chrono_tz::Europe::Rome;

use assistenza::cli::contracts::read_csv;
use assistenza::core::address::Address;
use assistenza::core::calendar::Calendar;
use assistenza::core::contract::Contract;
use assistenza::core::decide;
use assistenza::core::decision::{Decision, Effect, Facts, Operator, OutgoingMail, Settings};
use assistenza::core::ticket::{Extra, TicketCode, TicketFacts, TicketStatus};
use assistenza::mail::compose::Composer;
use assistenza::mail::parse::parse;

/// An oracle file: `fixtures/expected.toml`, `fixtures/hostile/expected.toml`.
#[derive(serde::Deserialize)]
pub struct Expected {
    pub case: Vec<Case>,
}

#[derive(serde::Deserialize)]
pub struct Case {
    pub file: String,
    pub outcome: String,
    pub reason: String,
    pub requester: String,
    #[serde(default)]
    pub note: String,
}

pub fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

/// The `.eml` files in `fixtures/DIR`, each checked to have a case in `expected` (read
/// from `toml`, named in the message).
pub fn eml_files_with_cases(dir: &str, expected: &Expected, toml: &str) -> Vec<String> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(fixtures().join(dir)).expect("fixtures dir") {
        let name = entry
            .expect("entry")
            .file_name()
            .to_string_lossy()
            .into_owned();
        if name.ends_with(".eml") {
            assert!(
                expected.case.iter().any(|c| c.file == name),
                "{name} has no entry in {toml}"
            );
            files.push(name);
        }
    }
    files
}

pub fn expected(path: &str) -> Expected {
    toml::from_str(&std::fs::read_to_string(fixtures().join(path)).expect(path))
        .unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The contracts of `fixtures/contracts.csv`, ids from 1 in file order.
pub fn contracts() -> Vec<Contract> {
    let csv = std::fs::File::open(fixtures().join("contracts.csv")).expect("contracts.csv");
    read_csv(csv)
        .expect("valid contracts.csv")
        .into_iter()
        .enumerate()
        .map(|(i, c)| Contract {
            id: i as i64 + 1,
            customer: c.customer,
            addresses: c.addresses,
            valid_from: c.valid_from,
            valid_until: c.valid_until,
            references: c.references,
            disabled: false,
        })
        .collect()
}

/// When every fixture message is received: Tuesday 2026-03-10 at 10:00 Europe/Rome.
pub fn received_at() -> DateTime<Utc> {
    Rome.with_ymd_and_hms(2026, 3, 10, 10, 0, 0)
        .single()
        .expect("valid")
        .with_timezone(&Utc)
}

pub fn addr(s: &str) -> Address {
    Address::parse(s).expect("valid address")
}

/// Ticket KZ-2026-00007 of Rossi Impianti, requested by mario.rossi@, open and untaken.
pub fn ticket_7(contracts: &[Contract]) -> TicketFacts {
    let rossi = contracts
        .iter()
        .find(|c| c.customer == "Rossi Impianti srl")
        .expect("Rossi")
        .clone();
    TicketFacts {
        id: 7,
        code: TicketCode {
            prefix: "KZ".into(),
            year: 2026,
            number: 7,
        },
        requester: addr("mario.rossi@rossi-impianti.it"),
        contract: rossi,
        summary: "Il modulo contatti non invia".into(),
        opened_at: Utc
            .with_ymd_and_hms(2026, 3, 9, 9, 0, 0)
            .single()
            .expect("valid"),
        status: TicketStatus::new(
            false,
            Extra::No,
            Utc.with_ymd_and_hms(2026, 3, 9, 13, 0, 0)
                .single()
                .expect("valid"),
        ),
        thread: vec![],
        participants: vec![],
        pending_quote: None,
        time_minutes: 0,
    }
}

/// The settings of `tests/fixtures.rs`: no operators, no queue, a 1 MB limit.
pub fn settings() -> Settings {
    let support = addr("assistenza@kzweb.it");
    Settings {
        support_address: support.clone(),
        own_addresses: vec![support],
        code_prefix: "KZ".into(),
        max_message_bytes: 1024 * 1024,
        allow_colleagues: true,
        signature: "Assistenza KZweb".into(),
        operators: vec![],
        queue: vec![],
        oncall: None,
        trusted_authserv_ids: vec![],
        calendar: Calendar::default(),
        first_contact: chrono::Duration::hours(4),
        reopen_window: chrono::Duration::hours(48),
        max_replies_per_hour: 20,
        waiting_office_days: 5,
        quote_reminder_office_days: 3,
        texts: assistenza::core::texts::Texts::builtin(),
        report_to: None,
    }
}

/// A desk as production runs it: the default 20 MB limit, a queue (so new tickets send
/// a notice with the customer's attachments), an on-call address, and operator giulia@
/// vouched for only by `mx.kzweb.it`.
pub fn staffed_settings() -> Settings {
    Settings {
        max_message_bytes: 20 * 1024 * 1024,
        operators: vec![Operator {
            name: "giulia".into(),
            addresses: vec![addr("giulia@kzweb.it")],
            level: 1,
            team: "primo-livello".into(),
        }],
        queue: vec![addr("coda@kzweb.it")],
        oncall: Some(addr("reperibile@kzweb.it")),
        trusted_authserv_ids: vec!["mx.kzweb.it".into()],
        ..settings()
    }
}

/// One message through the real parser and `decide`, the way the shell looks facts up
/// (only ticket 7 exists).
pub fn decide_raw(
    raw: &[u8],
    size: u64,
    at: DateTime<Utc>,
    contracts: &[Contract],
    ticket_7: &TicketFacts,
    settings: &Settings,
) -> Decision {
    let msg = parse(raw, size, at);
    let wanted = decide::wanted(&msg, settings);
    let refers_to_7 = match &wanted.code {
        Some(code) => *code == ticket_7.code,
        None => wanted.refs.iter().any(|r| r.starts_with("KZ-2026-00007.")),
    };
    let facts = Facts {
        contracts: contracts
            .iter()
            .filter(|c| wanted.addresses.iter().any(|a| c.enables(a)))
            .cloned()
            .collect(),
        ticket: refers_to_7.then(|| ticket_7.clone()),
        merge_target: None,
        next_code: TicketCode {
            prefix: "KZ".into(),
            year: 2026,
            number: 8,
        },
        replies_last_hour: vec![],
    };
    decide::decide(&msg, &facts, settings)
}

/// The requester of the ticket a decision opens, or "".
pub fn requester(d: &Decision) -> String {
    d.effects
        .iter()
        .find_map(|e| match e {
            Effect::OpenTicket(t) => Some(t.requester.to_string()),
            _ => None,
        })
        .unwrap_or_default()
}

/// Header lines a hostile fixture tries to smuggle into our mail.
pub const INJECTED: &[&str] = &["Bcc: x@evil.example", "X-Injected: yes"];

/// Every `Send` effect of `d`, composed by the real composer as `store::effects` does,
/// checked by [`check_composed`]. The problems found, one line each.
pub fn check_sends(d: &Decision, input: &[u8], settings: &Settings) -> Vec<String> {
    let composer = Composer::new(&settings.signature, &settings.support_address);
    let mut problems = Vec::new();
    for (index, effect) in d.effects.iter().enumerate() {
        let Effect::Send(mail) = effect else { continue };
        let id = composer.message_id(mail, "1", index);
        match composer.compose(mail, &id, received_at()) {
            Ok(composed) => problems.extend(
                check_composed(mail, &composed.raw, input)
                    .into_iter()
                    .map(|p| format!("{} mail: {p}", mail.kind.name())),
            ),
            // The intake would fail the message's transaction and retry it forever.
            Err(e) => problems.push(format!("{} mail does not compose: {e:#}", mail.kind.name())),
        }
    }
    problems
}

/// What a composed mail's headers may be: ours, each once, printable ASCII, none taken
/// from the inbound message.
pub fn check_composed(mail: &OutgoingMail, raw: &[u8], input: &[u8]) -> Vec<String> {
    let mut problems = Vec::new();
    for (field, value) in [("subject", mail.subject.as_str())] {
        if value.contains(['\r', '\n', '\0']) {
            problems.push(format!("{field} {value:?} holds CR, LF or NUL"));
        }
    }
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or(raw.len());
    let block = &raw[..end];
    if let Some(p) = bare_line_break(block) {
        problems.push(format!("bare CR or LF in the header block at byte {p}"));
    }
    if let Some(b) = block
        .iter()
        .find(|&&b| !(b == b'\t' || b == b'\r' || b == b'\n' || (0x20..0x7f).contains(&b)))
    {
        problems.push(format!("byte {b:#04x} in the header block"));
    }
    let text = String::from_utf8_lossy(block);
    let lines = unfold(&text);
    let input_lines: Vec<String> = String::from_utf8_lossy(input)
        .split(['\r', '\n'])
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty())
        .collect();
    const ALLOWED: &[&str] = &[
        "from",
        "to",
        "cc",
        "subject",
        "date",
        "message-id",
        "in-reply-to",
        "references",
        "auto-submitted",
        "x-assistenza-loop",
        "mime-version",
        "content-type",
        "content-transfer-encoding",
    ];
    // Lines our mail and the inbound one may share without one coming from the other:
    // our constants (an inbound message may quote them, even our loop marker inside a
    // MIME part), the recipients (read back below and compared to what the core chose),
    // and the threading headers (built from the inbound Message-IDs on purpose, and
    // sanitised by the composer).
    const GENERIC: &[&str] = &[
        "from",
        "date",
        "x-assistenza-loop",
        "auto-submitted",
        "mime-version",
        "content-type",
        "content-transfer-encoding",
        "to",
        "cc",
        "in-reply-to",
        "references",
    ];
    let mut count = std::collections::HashMap::<String, usize>::new();
    for line in &lines {
        let Some((name, _)) = line.split_once(':') else {
            problems.push(format!("header line without a colon: {line:?}"));
            continue;
        };
        let name = name.trim().to_ascii_lowercase();
        *count.entry(name.clone()).or_default() += 1;
        if !ALLOWED.contains(&name.as_str()) {
            problems.push(format!("unexpected header {line:?}"));
        }
        if INJECTED.iter().any(|i| line.eq_ignore_ascii_case(i)) {
            problems.push(format!("injected header {line:?}"));
        }
        if !GENERIC.contains(&name.as_str()) && input_lines.iter().any(|l| l == line) {
            problems.push(format!(
                "header line copied from the inbound message: {line:?}"
            ));
        }
    }
    for name in ["from", "to", "subject", "date", "message-id"] {
        let n = count.get(name).copied().unwrap_or(0);
        if n != 1 {
            problems.push(format!("{n} {name} header(s)"));
        }
    }
    for name in ["cc", "in-reply-to", "references", "bcc"] {
        let n = count.get(name).copied().unwrap_or(0);
        if n > usize::from(name != "bcc") {
            problems.push(format!("{n} {name} header(s)"));
        }
    }
    // Read back, the mail says what the core meant, and its parts carry only MIME headers.
    match mail_parser::MessageParser::default().parse(raw) {
        None => problems.push("the composed mail does not parse".into()),
        Some(back) => {
            // White space may read back otherwise: mail-parser collapses a run after an
            // encoded word or a fold, and lettre writes the space between two words it
            // encodes outside them, where decoders drop it. Only the rest must match.
            let words = |s: &str| s.split_whitespace().collect::<String>();
            if words(back.subject().unwrap_or("")) != words(&mail.subject) {
                problems.push(format!(
                    "subject reads back as {:?}, not {:?}",
                    back.subject(),
                    mail.subject
                ));
            }
            let addresses = |a: Option<&mail_parser::Address>| -> Vec<String> {
                a.map(|a| {
                    a.iter()
                        .filter_map(|m| m.address())
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default()
            };
            for (field, got, want) in [
                ("To", addresses(back.to()), &mail.to),
                ("Cc", addresses(back.cc()), &mail.cc),
            ] {
                let want: Vec<String> = want.iter().map(|a| a.to_string()).collect();
                if got != want {
                    problems.push(format!("{field} reads back as {got:?}, not {want:?}"));
                }
            }
            for part in back.parts.iter().skip(1) {
                for h in part.headers() {
                    let name = h.name.as_str().to_ascii_lowercase();
                    if !matches!(
                        name.as_str(),
                        "content-type" | "content-transfer-encoding" | "content-disposition"
                    ) {
                        problems.push(format!("unexpected header {name:?} in a MIME part"));
                    }
                }
            }
        }
    }
    problems
}

/// The offset of a CR not followed by LF or of an LF not preceded by CR.
fn bare_line_break(block: &[u8]) -> Option<usize> {
    block.iter().enumerate().find_map(|(i, &b)| {
        let bare = match b {
            b'\r' => block.get(i + 1) != Some(&b'\n'),
            b'\n' => i == 0 || block[i - 1] != b'\r',
            _ => false,
        };
        bare.then_some(i)
    })
}

/// Header lines with their continuation lines joined.
fn unfold(block: &str) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    for line in block.split("\r\n") {
        match lines.last_mut() {
            Some(last) if line.starts_with([' ', '\t']) => {
                last.push(' ');
                last.push_str(line.trim());
            }
            _ => lines.push(line.to_string()),
        }
    }
    lines
}
