//! The pure-level setup shared by the fixture tests (`tests/fixtures.rs`,
//! `tests/hostile.rs`, `tests/proptest_parse_decide.rs`): the contracts of
//! `fixtures/contracts.csv`, ticket KZ-2026-00007, the settings, one message through the
//! real parser and `decide`.

use std::path::PathBuf;

use chrono::{DateTime, TimeZone, Utc};
use chrono_tz::Europe::Rome;

use assistenza::cli::contracts::read_csv;
use assistenza::core::address::Address;
use assistenza::core::calendar::Calendar;
use assistenza::core::contract::Contract;
use assistenza::core::decide::{self, Decision, Effect, Facts, Settings};
use assistenza::core::operators::Operator;
use assistenza::core::ticket::{TicketCode, TicketFacts, TicketStatus};
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
            Utc.with_ymd_and_hms(2026, 3, 9, 13, 0, 0)
                .single()
                .expect("valid"),
        ),
        thread: vec![],
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
        next_code: TicketCode {
            prefix: "KZ".into(),
            year: 2026,
            number: 8,
        },
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
