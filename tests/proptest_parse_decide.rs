//! Property test: whatever bytes arrive, `mail::parse::parse` and `decide` never panic, a
//! quarantine sends nothing, and every mail `decide` wants sent composes (with the real
//! composer) with only our own headers: no `Bcc`, one `From`/`To`/`Subject`, no line of
//! the inbound message, no bare CR or LF (`check_sends` in `tests/support/oracle.rs`).
//!
//! Two generators: arbitrary bytes, and "almost mail" — random header names and values
//! (known names and junk; customers', operators' and strangers' addresses, ticket codes,
//! forged `Authentication-Results`, RFC 2047 words around arbitrary bytes, CR, LF, NUL
//! and 8-bit bytes), random line ends, random text, and a random MIME tree with missing,
//! wrong and unterminated boundaries, odd encodings and hostile file names. Messages are
//! judged against `fixtures/contracts.csv` on a staffed desk, with ticket KZ-2026-00007
//! in a random state, inside and outside office hours, so that operators' commands,
//! customers' replies, acknowledgements and notices with attachments all get composed.
//!
//! By default each property runs 1,000 cases (a few seconds in a debug build). A long run:
//!
//! ```sh
//! PROPTEST_CASES=200000 cargo test --release --test proptest_parse_decide
//! ```
//!
//! A failure is shrunk and its seed saved in `tests/proptest_parse_decide.proptest-regressions`
//! (replayed first on every run): commit that file with the fix, and add the shrunk
//! message to `fixtures/hostile/`.

mod support;

use std::sync::LazyLock;

use chrono::{DateTime, Duration, TimeZone, Utc};
use chrono_tz::Europe::Rome;
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;

use assistenza::core::contract::Contract;
use assistenza::core::decision::{Effect, Settings};
use assistenza::core::ticket::{ThreadEntry, TicketFacts, TicketState};

use support::oracle::{check_sends, contracts, decide_raw, staffed_settings, ticket_7};

struct World {
    contracts: Vec<Contract>,
    ticket_7: TicketFacts,
    settings: Settings,
}

static WORLD: LazyLock<World> = LazyLock::new(|| {
    let contracts = contracts();
    World {
        ticket_7: ticket_7(&contracts),
        contracts,
        settings: staffed_settings(),
    }
});

fn config() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(1000);
    ProptestConfig {
        cases,
        // Integration tests have no lib.rs for the default to find: keep failures beside
        // this file, in proptest_parse_decide.proptest-regressions.
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource(
            "proptest-regressions",
        ))),
        ..ProptestConfig::default()
    }
}

/// Inside office hours (Tuesday 10:00) or outside (Tuesday 23:30, so URGENTE goes to the
/// on-call person), both in Rome.
fn arrival() -> impl Strategy<Value = DateTime<Utc>> {
    prop_oneof![Just((10, 0)), Just((23, 30))].prop_map(|(h, m)| {
        Rome.with_ymd_and_hms(2026, 3, 10, h, m, 0)
            .single()
            .expect("valid")
            .with_timezone(&Utc)
    })
}

/// Ticket KZ-2026-00007 in any state, its thread holding a hostile Message-ID.
fn ticket() -> impl Strategy<Value = TicketFacts> {
    (
        0..4usize,
        prop::option::of(prop_oneof![Just("giulia"), Just("sergio")]),
        value(),
        any::<bool>(),
    )
        .prop_map(|(state, operator, id, urgent)| {
            let mut t = WORLD.ticket_7.clone();
            let at = t.opened_at;
            t.status.urgent = urgent;
            t.status.state = [
                TicketState::Open,
                TicketState::Taken,
                TicketState::Resolved,
                TicketState::Closed,
            ][state];
            t.status.operator = operator.map(str::to_string);
            if state >= 2 {
                t.status.closed_at = Some(at + Duration::hours(2));
                t.status.reopen_until = Some(at + Duration::hours(50));
            }
            t.thread = vec![
                ThreadEntry {
                    at,
                    outgoing: false,
                    kind: "ticket".into(),
                    who: "mario.rossi@rossi-impianti.it".into(),
                    message_id: Some(String::from_utf8_lossy(&id).into_owned()),
                    text: "Il modulo non invia".into(),
                },
                ThreadEntry {
                    at,
                    outgoing: true,
                    kind: "ack".into(),
                    who: "mario.rossi@rossi-impianti.it".into(),
                    message_id: Some("KZ-2026-00007.ack.1.0@kzweb.it".into()),
                    text: String::new(),
                },
            ];
            t
        })
}

const ADDRESSES: &[&str] = &[
    "mario.rossi@rossi-impianti.it",
    "Mario.Rossi@Rossi-Impianti.IT",
    "anna.bianchi@rossi-impianti.it",
    "sean.o'brien@obrien-ferramenta.it",
    "giulia@caffeverdi.it",
    "luca.neri@studioneri.com",
    "dolci@università.it",
    "dolci@xn--universit-y1a.it",
    "giulia@kzweb.it",
    "assistenza@kzweb.it",
    "coda@kzweb.it",
    "x@evil.example",
    "mario.rossi@rossi-impi\u{430}nti.it",
    "mailer-daemon@rossi-impianti.it",
    "x$IFS`id`|sh&{a}@rossi-impianti.it",
    "<>",
    "undisclosed-recipients:;",
];

const WORDS: &[&str] = &[
    "Buongiorno",
    "il",
    "sito",
    "non",
    "funziona",
    "modulo",
    "contatti",
    "www.rossi-impianti.it",
    "https://www.rossi-impianti.it/contatti?x=1&y=<2>",
    "Gestionale Magazzino",
    "università.it",
    "www.obrien-ferramenta.it",
    "URGENTE",
    "#prendo",
    "#chiudi",
    "#chiudi 72h",
    "#chiudi 9999999999999h",
    "#assegna giulia",
    "#assegna nessuno",
    "#secondo-livello sistemisti",
    "#secondo-livello \r\nBcc: x@evil.example",
    "#urgente",
    "#nota",
    "#boh",
    "> citato",
    "-- ",
    "Il giorno lun 9 mar 2026 ha scritto:",
    "-----Messaggio originale-----",
    "Bcc: x@evil.example",
    "X-Injected: yes",
    "'); DROP TABLE tickets; --",
    "$(reboot)",
    "<script>alert(1)</script>",
    "\u{0}",
    "\r",
    "\u{2028}",
    "\u{85}",
    "\u{feff}",
    "日本語",
    "KZ-2026-00007",
    "[KZ-2026-00007]",
];

const HEADER_NAMES: &[&str] = &[
    "From",
    "To",
    "Cc",
    "Bcc",
    "Subject",
    "Date",
    "Message-ID",
    "In-Reply-To",
    "References",
    "Return-Path",
    "Auto-Submitted",
    "Precedence",
    "List-Id",
    "X-Assistenza-Loop",
    "Authentication-Results",
    "MIME-Version",
    "Content-Type",
    "Content-Transfer-Encoding",
    "Content-Disposition",
    "Received",
    "Sender",
    "Reply-To",
];

/// Text bytes: words of the desk's world and junk, with random separators.
fn text() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(
        prop_oneof![
            4 => prop::sample::select(WORDS).prop_map(|w| w.as_bytes().to_vec()),
            1 => prop::sample::select(ADDRESSES).prop_map(|w| w.as_bytes().to_vec()),
            1 => prop::collection::vec(any::<u8>(), 0..12),
            2 => prop::sample::select(&[" ", " ", "\r\n", "\n", "\r", "\t", "=", "\"", ";"][..])
                .prop_map(|s| s.as_bytes().to_vec()),
        ],
        0..40,
    )
    .prop_map(|parts| parts.concat())
}

/// An RFC 2047 encoded word around arbitrary bytes (or text), in B or Q, in a real,
/// unknown or absent charset.
fn encoded_word() -> impl Strategy<Value = Vec<u8>> {
    (
        prop_oneof![text(), prop::collection::vec(any::<u8>(), 0..30)],
        prop::sample::select(&["utf-8", "iso-8859-1", "utf-7", "x-unknown", ""][..]),
        any::<bool>(),
    )
        .prop_map(|(bytes, charset, b64)| {
            let payload: String = if b64 {
                String::from_utf8(base64(&bytes)).expect("base64 is ASCII")
            } else {
                bytes
                    .iter()
                    .map(|b| match b {
                        b' ' => "_".to_string(),
                        b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'.' | b'-' => {
                            (*b as char).to_string()
                        }
                        _ => format!("={b:02X}"),
                    })
                    .collect()
            };
            format!("=?{charset}?{}?{payload}?=", if b64 { "B" } else { "Q" }).into_bytes()
        })
}

/// A header value.
fn value() -> impl Strategy<Value = Vec<u8>> {
    let one = prop_oneof![
        4 => prop::sample::select(ADDRESSES).prop_map(|a| a.as_bytes().to_vec()),
        2 => prop::sample::select(ADDRESSES).prop_map(|a| format!("Nome <{a}>").into_bytes()),
        2 => encoded_word(),
        2 => text(),
        1 => prop::sample::select(&[
            "[KZ-2026-00007]",
            "Re: [KZ-2026-00007] Risposta",
            "[KZ-2026-00008]",
            "<KZ-2026-00007.ack.1.0@kzweb.it>",
            "<x@y>\r\n Bcc: x@evil.example",
            "mx.kzweb.it; dkim=pass header.d=kzweb.it",
            "mx.kzweb.it; spf=pass smtp.mailfrom=giulia@kzweb.it",
            "mx.evil.example; dkim=pass header.d=kzweb.it",
            "auto-replied",
            "no",
            "bulk",
            "multipart/mixed; boundary=b",
            "text/html; charset=utf-8",
            "base64",
            "quoted-printable",
            "attachment; filename*=utf-8''a%0D%0ABcc%3A%20x%40evil.example",
        ][..])
        .prop_map(|v| v.as_bytes().to_vec()),
    ];
    prop::collection::vec(one, 1..4).prop_map(|parts| parts.join(&b' '))
}

/// A header name: known, a random token, or bytes.
fn name() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        8 => prop::sample::select(HEADER_NAMES).prop_map(|n| n.as_bytes().to_vec()),
        1 => "[A-Za-z][A-Za-z0-9-]{0,20}".prop_map(String::into_bytes),
        1 => prop::collection::vec(any::<u8>(), 0..10),
    ]
}

/// A MIME entity: its header lines (without line ends) and its body.
#[derive(Clone, Debug)]
struct Part {
    headers: Vec<Vec<u8>>,
    body: Vec<u8>,
}

fn leaf() -> impl Strategy<Value = Part> {
    (
        prop::sample::select(
            &[
                "text/plain",
                "text/html",
                "application/pdf",
                "application/octet-stream",
                "image/png",
                "message/rfc822",
                "text/x-\u{0}",
                "",
            ][..],
        ),
        prop::sample::select(&["utf-8", "iso-8859-1", "x-klingon", "utf-16", ""][..]),
        prop::sample::select(
            &[
                "",
                "7bit",
                "8bit",
                "base64",
                "quoted-printable",
                "x-uuencode",
                "binary",
                "garbage;;",
            ][..],
        ),
        prop::option::of(prop_oneof![
            text(),
            encoded_word(),
            Just(b"../../etc/passwd".to_vec()),
            Just(b"a\"b\\c\r\nBcc: x@evil.example".to_vec())
        ]),
        text(),
        any::<bool>(),
    )
        .prop_map(|(ctype, charset, cte, filename, body, encode)| {
            let mut headers = Vec::new();
            if !ctype.is_empty() {
                let mut ct = format!("Content-Type: {ctype}").into_bytes();
                if !charset.is_empty() {
                    ct.extend_from_slice(format!("; charset={charset}").as_bytes());
                }
                headers.push(ct);
            }
            if !cte.is_empty() {
                headers.push(format!("Content-Transfer-Encoding: {cte}").into_bytes());
            }
            if let Some(f) = filename {
                let mut cd = b"Content-Disposition: attachment; filename=\"".to_vec();
                cd.extend_from_slice(&f);
                cd.push(b'"');
                headers.push(cd);
            }
            let body = if encode && cte == "base64" {
                base64(&body)
            } else {
                body
            };
            Part { headers, body }
        })
}

fn mime() -> impl Strategy<Value = Part> {
    leaf().prop_recursive(4, 24, 5, |inner| {
        (
            prop::collection::vec(inner, 0..5),
            prop::sample::select(&["mixed", "alternative", "related", "digest"][..]),
            "[A-Za-z0-9'()+_,./:=?-]{0,20}",
            0..5usize,
        )
            .prop_map(|(children, sub, boundary, flaw)| {
                // 0: proper; 1: no boundary parameter; 2: never closed; 3: another
                // boundary in the body; 4: parts without the blank line.
                let declared = if flaw == 1 {
                    format!("Content-Type: multipart/{sub}")
                } else {
                    format!("Content-Type: multipart/{sub}; boundary=\"{boundary}\"")
                };
                let used = if flaw == 3 {
                    format!("{boundary}x")
                } else {
                    boundary.clone()
                };
                let mut body = b"preambolo\r\n".to_vec();
                for child in children {
                    body.extend_from_slice(format!("--{used}\r\n").as_bytes());
                    for h in &child.headers {
                        body.extend_from_slice(h);
                        body.extend_from_slice(b"\r\n");
                    }
                    if flaw != 4 {
                        body.extend_from_slice(b"\r\n");
                    }
                    body.extend_from_slice(&child.body);
                    body.extend_from_slice(b"\r\n");
                }
                if flaw != 2 {
                    body.extend_from_slice(format!("--{used}--\r\n").as_bytes());
                }
                Part {
                    headers: vec![declared.into_bytes()],
                    body,
                }
            })
    })
}

/// A message that almost is one: likely headers first, random ones after, a MIME tree,
/// and one of four line-end styles.
fn almost_mail() -> impl Strategy<Value = Vec<u8>> {
    (
        prop::option::weighted(0.9, value()),
        prop::option::weighted(0.9, value()),
        prop::collection::vec((name(), value()), 0..10),
        mime(),
        prop::sample::select(&["\r\n", "\n", "\r", "mixed"][..]),
        any::<bool>(),
        prop::bool::weighted(0.25),
    )
        .prop_map(|(from, subject, extra, part, eol, blank, operator)| {
            let mut lines: Vec<Vec<u8>> = Vec::new();
            // A quarter are an operator's mail that our server vouches for.
            if operator {
                lines.push(
                    b"Authentication-Results: mx.kzweb.it; dkim=pass header.d=kzweb.it".to_vec(),
                );
                lines.push(b"From: Giulia <giulia@kzweb.it>".to_vec());
            } else if let Some(f) = from {
                lines.push([b"From: ".as_ref(), &f].concat());
            }
            if let Some(s) = subject {
                lines.push([b"Subject: ".as_ref(), &s].concat());
            }
            for (n, v) in extra {
                lines.push([n.as_slice(), b": ", &v].concat());
            }
            lines.extend(part.headers);
            let mut raw = Vec::new();
            for (i, line) in lines.iter().enumerate() {
                raw.extend_from_slice(line);
                raw.extend_from_slice(match eol {
                    "mixed" => [b"\r\n".as_ref(), b"\n", b"\r"][i % 3],
                    e => e.as_bytes(),
                });
            }
            if blank {
                raw.extend_from_slice(if eol == "mixed" {
                    b"\r\n"
                } else {
                    eol.as_bytes()
                });
            }
            raw.extend_from_slice(&part.body);
            raw
        })
}

fn base64(bytes: &[u8]) -> Vec<u8> {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = Vec::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &b)| n | u32::from(b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i)) as usize & 63]);
            } else {
                out.push(b'=');
            }
        }
    }
    out
}

/// The property: no panic (proptest reports one as a failure), nothing sent on
/// quarantine, and every mail sent composes cleanly.
fn harmless(raw: &[u8], at: DateTime<Utc>, ticket: &TicketFacts) -> Result<(), TestCaseError> {
    let w = &*WORLD;
    let d = decide_raw(raw, raw.len() as u64, at, &w.contracts, ticket, &w.settings);
    if d.outcome.kind() == "quarantine" {
        prop_assert!(d.effects.is_empty(), "quarantine with effects: {d:?}");
    }
    let problems = check_sends(&d, raw, &w.settings);
    prop_assert!(
        problems.is_empty(),
        "{problems:#?}\noutcome {}\nsends {:#?}",
        d.outcome,
        d.effects
            .iter()
            .filter(|e| matches!(e, Effect::Send(_)))
            .collect::<Vec<_>>()
    );
    Ok(())
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn arbitrary_bytes_are_harmless(
        raw in prop::collection::vec(any::<u8>(), 0..4096),
        at in arrival(),
        ticket in ticket(),
    ) {
        harmless(&raw, at, &ticket)?;
    }

    #[test]
    fn almost_mail_is_harmless(raw in almost_mail(), at in arrival(), ticket in ticket()) {
        harmless(&raw, at, &ticket)?;
    }
}

/// The generator must reach deep enough to matter: over a fixed sample, some messages
/// open tickets, some are operator commands, some are rejected, and mail gets composed.
#[test]
fn almost_mail_reaches_every_kind_of_outcome() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::{Config, TestRng, TestRunner};
    let mut runner = TestRunner::new_with_rng(
        Config::default(),
        TestRng::deterministic_rng(proptest::test_runner::RngAlgorithm::ChaCha),
    );
    let strategy = (almost_mail(), arrival(), ticket());
    let mut kinds = std::collections::BTreeSet::new();
    for _ in 0..3000 {
        let (raw, at, ticket) = strategy.new_tree(&mut runner).expect("a value").current();
        let w = &*WORLD;
        let d = decide_raw(
            &raw,
            raw.len() as u64,
            at,
            &w.contracts,
            &ticket,
            &w.settings,
        );
        kinds.insert(d.outcome.kind());
    }
    for kind in ["ticket", "update", "command", "rejected", "quarantine"] {
        assert!(kinds.contains(kind), "no {kind} among {kinds:?}");
    }
}
