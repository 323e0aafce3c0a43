//! Every `.eml` in `fixtures/mail/` goes through the real parser and `decide` with the
//! contracts of `fixtures/contracts.csv`; `fixtures/expected.toml` is the oracle. Real
//! mail from Gmail, Outlook, Thunderbird, Apple Mail and phones, with every encoding.

mod support;

use assistenza::core::decision::Outcome;

use support::oracle::{
    contracts, decide_raw, eml_files_with_cases, expected, fixtures, received_at, requester,
    settings, ticket_7,
};

#[test]
fn every_fixture_gets_its_expected_outcome() {
    let contracts = contracts();
    let ticket_7 = ticket_7(&contracts);
    let settings = settings();
    let expected = expected("expected.toml");
    assert!(
        expected.case.len() >= 25,
        "the corpus should cover every rule"
    );

    let mut failures = Vec::new();
    for case in &expected.case {
        let raw = std::fs::read(fixtures().join("mail").join(&case.file)).expect("fixture file");
        let d = decide_raw(
            &raw,
            raw.len() as u64,
            received_at(),
            &contracts,
            &ticket_7,
            &settings,
        );
        let got_requester = requester(&d);
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
    let expected = expected("expected.toml");
    let files = eml_files_with_cases("mail", &expected, "expected.toml");
    assert!(!files.is_empty(), "no fixtures in fixtures/mail");
}
