//! Every `.eml` in `fixtures/mail/` goes through the real parser and `decide` with the
//! contracts of `fixtures/contracts.csv`; `fixtures/expected.toml` is the oracle. Real
//! mail from Gmail, Outlook, Thunderbird, Apple Mail and phones, with every encoding.

use std::path::PathBuf;

use chrono::{TimeZone, Utc};
use chrono_tz::Europe::Rome;

use assistenza::cli::contracts::read_csv;
use assistenza::core::address::Address;
use assistenza::core::calendar::Calendar;
use assistenza::core::contract::Contract;
use assistenza::core::decide::{decide, Effect, Facts, Outcome, Settings};
use assistenza::core::ticket::{TicketCode, TicketFacts, TicketStatus};
use assistenza::mail::parse::parse;

#[derive(serde::Deserialize)]
struct Expected {
    case: Vec<Case>,
}

#[derive(serde::Deserialize)]
struct Case {
    file: String,
    outcome: String,
    reason: String,
    requester: String,
    #[serde(default)]
    note: String,
}

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

#[test]
fn every_fixture_gets_its_expected_outcome() {
    let csv = std::fs::File::open(fixtures().join("contracts.csv")).expect("contracts.csv");
    let contracts: Vec<Contract> = read_csv(csv)
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
        .collect();
    let rossi = contracts
        .iter()
        .find(|c| c.customer == "Rossi Impianti srl")
        .expect("Rossi")
        .clone();
    let ticket_7 = TicketFacts {
        id: 7,
        code: TicketCode {
            prefix: "KZ".into(),
            year: 2026,
            number: 7,
        },
        requester: Address::parse("mario.rossi@rossi-impianti.it").expect("valid"),
        contract: rossi,
        summary: "Il modulo contatti non invia".into(),
        opened_at: Utc
            .with_ymd_and_hms(2026, 3, 9, 9, 0, 0)
            .single()
            .expect("valid"),
        status: TicketStatus::new(
            false,
            Utc.with_ymd_and_hms(2026, 3, 9, 13, 0, 0)
                .single()
                .expect("valid"),
        ),
        thread: vec![],
    };
    let support = Address::parse("assistenza@kzweb.it").expect("valid");
    let settings = Settings {
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
    };
    let now = Rome
        .with_ymd_and_hms(2026, 3, 10, 10, 0, 0)
        .single()
        .expect("valid")
        .with_timezone(&Utc);
    let expected: Expected = toml::from_str(
        &std::fs::read_to_string(fixtures().join("expected.toml")).expect("expected.toml"),
    )
    .expect("valid expected.toml");
    assert!(
        expected.case.len() >= 25,
        "the corpus should cover every rule"
    );

    let mut failures = Vec::new();
    for case in &expected.case {
        let raw = std::fs::read(fixtures().join("mail").join(&case.file)).expect("fixture file");
        let msg = parse(&raw, raw.len() as u64, now);
        // The shell looks tickets up by code or by references: only ticket 7 exists.
        let wanted = assistenza::core::decide::wanted(&msg, &settings);
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
            next_code: TicketCode {
                prefix: "KZ".into(),
                year: 2026,
                number: 8,
            },
            replies_last_hour: 0,
        };
        let d = decide(&msg, &facts, &settings);
        let got_requester = d
            .effects
            .iter()
            .find_map(|e| match e {
                Effect::OpenTicket(t) => Some(t.requester.to_string()),
                _ => None,
            })
            .unwrap_or_default();
        let ok = d.outcome.kind() == case.outcome
            && d.outcome.reason() == case.reason
            && got_requester == case.requester;
        if !ok {
            failures.push(format!(
                "{}: expected {} {} {} — got {} ({}) [{}]",
                case.file,
                case.outcome,
                case.reason,
                case.requester,
                d.outcome,
                got_requester,
                case.note
            ));
        }
        if let Outcome::Quarantined(_) = d.outcome {
            assert!(
                d.effects.is_empty(),
                "{}: quarantine must send nothing",
                case.file
            );
        }
    }
    assert!(
        failures.is_empty(),
        "{} fixture(s) off:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn every_fixture_file_has_an_expectation() {
    let expected: Expected = toml::from_str(
        &std::fs::read_to_string(fixtures().join("expected.toml")).expect("expected.toml"),
    )
    .expect("valid");
    for entry in std::fs::read_dir(fixtures().join("mail")).expect("fixtures/mail") {
        let name = entry
            .expect("entry")
            .file_name()
            .to_string_lossy()
            .into_owned();
        if name.ends_with(".eml") {
            assert!(
                expected.case.iter().any(|c| c.file == name),
                "{name} has no entry in expected.toml"
            );
        }
    }
}
