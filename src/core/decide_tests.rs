//! Table-driven tests of `decide`: one row per rule, with a fixed time.

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use chrono_tz::Europe::Rome;

use super::address::{Address, SubjectProblem};
use super::calendar::Calendar;
use super::contract::Contract;
use super::decide::*;
use super::decision::*;
use super::inbound::{Attachment, Channel, FormFields, Inbound};
use super::request::ACK_PROMISE;
use super::ticket::{Extra, TicketCode, TicketFacts, TicketStatus};

pub(super) fn addr(s: &str) -> Address {
    Address::parse(s).expect("valid address")
}

pub(super) fn now() -> DateTime<Utc> {
    Rome.with_ymd_and_hms(2026, 3, 10, 10, 0, 0)
        .single()
        .expect("valid")
        .with_timezone(&Utc)
}

pub(super) fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).expect("valid date")
}

pub(super) fn operator(name: &str, level: u8, team: &str) -> Operator {
    Operator {
        name: name.into(),
        addresses: vec![addr(&format!("{}@kzweb.it", name.to_lowercase()))],
        level,
        team: team.into(),
    }
}

pub(super) fn settings() -> Settings {
    Settings {
        support_address: addr("assistenza@kzweb.it"),
        own_addresses: vec![addr("assistenza@kzweb.it"), addr("noreply@kzweb.it")],
        code_prefix: "KZ".into(),
        max_message_bytes: 1024 * 1024,
        allow_colleagues: true,
        signature: "Assistenza KZweb".into(),
        operators: vec![
            operator("Giulia", 1, "primo-livello"),
            operator("Marco", 1, "primo-livello"),
            operator("Sergio", 2, "sistemisti"),
            operator("Paola", 2, "programmatori"),
        ],
        queue: vec![addr("operatori@kzweb.it")],
        oncall: Some(addr("reperibile@kzweb.it")),
        trusted_authserv_ids: vec!["mx.kzweb.it".into()],
        calendar: Calendar::default(),
        first_contact: chrono::Duration::hours(4),
        reopen_window: chrono::Duration::hours(48),
        max_replies_per_hour: 20,
        waiting_office_days: 5,
        quote_reminder_office_days: 3,
        texts: super::texts::Texts::builtin(),
        report_to: None,
    }
}

pub(super) fn rossi() -> Contract {
    Contract {
        id: 1,
        customer: "Rossi Impianti srl".into(),
        addresses: vec![addr("mario@rossi.it"), addr("anna@rossi.it")],
        valid_from: date(2026, 1, 1),
        valid_until: date(2026, 12, 31),
        references: vec!["www.rossi.it".into(), "Gestionale Magazzino".into()],
        disabled: false,
    }
}

pub(super) fn verdi_expired() -> Contract {
    Contract {
        id: 2,
        customer: "Caffè Verdi".into(),
        addresses: vec![addr("giulia@verdi.it")],
        valid_from: date(2025, 1, 1),
        valid_until: date(2025, 12, 31),
        references: vec![],
        disabled: false,
    }
}

pub(super) fn next_code() -> TicketCode {
    TicketCode {
        prefix: "KZ".into(),
        year: 2026,
        number: 8,
    }
}

pub(super) fn facts(contracts: Vec<Contract>) -> Facts {
    Facts {
        contracts,
        ticket: None,
        merge_target: None,
        next_code: next_code(),
        replies_last_hour: vec![],
    }
}

pub(super) fn request(from: &str, subject: &str, text: &str) -> Inbound {
    Inbound {
        message_id: Some("abc@mail.rossi.it".into()),
        from: Address::parse(from),
        from_name: Some("Mario Rossi".into()),
        subject: subject.into(),
        text: text.into(),
        size: 2_000,
        received_at: now(),
        ..Inbound::default()
    }
}

pub(super) const GOOD_TEXT: &str =
    "Mario Rossi\nSito www.rossi.it\nIl modulo contatti non invia i messaggi";

pub(super) fn sent(d: &Decision) -> Vec<&OutgoingMail> {
    d.effects
        .iter()
        .filter_map(|e| match e {
            Effect::Send(m) => Some(m),
            _ => None,
        })
        .collect()
}

#[test]
fn valid_request_opens_a_ticket_and_acknowledges_the_requester() {
    let d = decide(
        &request("mario@rossi.it", "mario@rossi.it", GOOD_TEXT),
        &facts(vec![rossi()]),
        &settings(),
    );
    assert_eq!(d.outcome, Outcome::NewTicket(next_code()));
    assert_eq!(d.outcome.folder(), Folder::Processed);
    let Effect::OpenTicket(t) = &d.effects[0] else {
        panic!("first effect opens the ticket")
    };
    assert_eq!(t.contract_id, 1);
    assert_eq!(t.requester, addr("mario@rossi.it"));
    assert_eq!(t.ack_due_at, now() + ACK_PROMISE);
    // Tuesday 10:00 + 4 office hours.
    assert_eq!(
        t.status.first_contact_due_at,
        Some(now() + Duration::hours(4))
    );
    assert!(!t.status.urgent);
    let mails = sent(&d);
    assert_eq!(mails.len(), 2, "the ack and the queue notice");
    assert_eq!(mails[0].kind, MailKind::Ack);
    assert!(mails[0].body.contains("sarà esaminata a breve"));
    assert_eq!(mails[1].kind, MailKind::QueueNotice);
    assert_eq!(mails[1].to, vec![addr("operatori@kzweb.it")]);
    assert!(mails[1]
        .subject
        .starts_with("[KZ-2026-00008] Nuovo ticket: Rossi Impianti srl"));
    assert!(mails[1].body.contains("Il modulo contatti non invia"));
    assert!(
        mails[1].body.contains("#prendo"),
        "the notice carries the help"
    );
    assert_eq!(mails[0].to, vec![addr("mario@rossi.it")]);
    assert!(mails[0].cc.is_empty());
    assert!(mails[0].subject.starts_with("[KZ-2026-00008]"));
    assert_eq!(mails[0].in_reply_to.as_deref(), Some("abc@mail.rossi.it"));
    assert_eq!(mails[0].references, vec!["abc@mail.rossi.it".to_string()]);
}

#[test]
fn colleague_on_the_same_contract_opens_for_the_requester_who_gets_the_ack_with_colleague_in_copy()
{
    let d = decide(
        &request("anna@rossi.it", "mario@rossi.it", GOOD_TEXT),
        &facts(vec![rossi()]),
        &settings(),
    );
    assert_eq!(d.outcome, Outcome::NewTicket(next_code()));
    let mails = sent(&d);
    assert_eq!(mails[0].to, vec![addr("mario@rossi.it")]);
    assert_eq!(mails[0].cc, vec![addr("anna@rossi.it")]);
}

#[test]
fn colleague_is_refused_when_the_setting_is_off() {
    let mut s = settings();
    s.allow_colleagues = false;
    let d = decide(
        &request("anna@rossi.it", "mario@rossi.it", GOOD_TEXT),
        &facts(vec![rossi()]),
        &s,
    );
    assert_eq!(
        d.outcome,
        Outcome::Rejected(Rejection::SenderNotEnabled {
            sender: addr("anna@rossi.it"),
            requester: addr("mario@rossi.it")
        })
    );
    assert_eq!(sent(&d)[0].to, vec![addr("anna@rossi.it")]);
}

#[test]
fn sender_on_another_contract_cannot_open_for_a_requester() {
    let d = decide(
        &request("giulia@verdi.it", "mario@rossi.it", GOOD_TEXT),
        &facts(vec![rossi(), verdi_expired()]),
        &settings(),
    );
    assert_eq!(
        d.outcome,
        Outcome::Rejected(Rejection::SenderNotEnabled {
            sender: addr("giulia@verdi.it"),
            requester: addr("mario@rossi.it")
        })
    );
}

#[test]
fn rejections_go_to_the_known_sender_and_to_the_rejected_folder() {
    let cases: Vec<(&str, &str, &str, Vec<Contract>, Rejection)> = vec![
        (
            "mario@rossi.it",
            "",
            GOOD_TEXT,
            vec![rossi()],
            Rejection::SubjectNotAddress(SubjectProblem::Empty),
        ),
        (
            "mario@rossi.it",
            "Re: mario@rossi.it",
            GOOD_TEXT,
            vec![rossi()],
            Rejection::SubjectNotAddress(SubjectProblem::ExtraText),
        ),
        (
            "mario@rossi.it",
            "mario@rossi.it anna@rossi.it",
            GOOD_TEXT,
            vec![rossi()],
            Rejection::SubjectNotAddress(SubjectProblem::SeveralAddresses),
        ),
        (
            "mario@rossi.it",
            "Il sito è giù",
            GOOD_TEXT,
            vec![rossi()],
            Rejection::SubjectNotAddress(SubjectProblem::NoAddress),
        ),
        (
            "mario@rossi.it",
            "nessuno@rossi.it",
            GOOD_TEXT,
            vec![rossi()],
            Rejection::AddressNotEnabled {
                requester: addr("nessuno@rossi.it"),
            },
        ),
        (
            "giulia@verdi.it",
            "giulia@verdi.it",
            GOOD_TEXT,
            vec![verdi_expired()],
            Rejection::ContractExpired {
                requester: addr("giulia@verdi.it"),
                until: date(2025, 12, 31),
            },
        ),
        (
            "mario@rossi.it",
            "mario@rossi.it",
            "Mario Rossi, il sito non funziona più",
            vec![rossi()],
            Rejection::MissingReference,
        ),
        (
            "mario@rossi.it",
            "mario@rossi.it",
            "   ",
            vec![rossi()],
            Rejection::EmptyRequest,
        ),
        (
            "mario@rossi.it",
            "mario@rossi.it",
            "www.rossi.it",
            vec![rossi()],
            Rejection::EmptyRequest,
        ),
        (
            "mario@rossi.it",
            "[KZ-2026-00999] altro",
            GOOD_TEXT,
            vec![rossi()],
            Rejection::UnknownTicket {
                code: TicketCode {
                    prefix: "KZ".into(),
                    year: 2026,
                    number: 999,
                },
            },
        ),
    ];
    for (from, subject, text, contracts, expected) in cases {
        let d = decide(
            &request(from, subject, text),
            &facts(contracts),
            &settings(),
        );
        assert_eq!(
            d.outcome,
            Outcome::Rejected(expected),
            "{from} / {subject:?} / {text:?}"
        );
        assert_eq!(d.outcome.folder(), Folder::Rejected);
        let mails = sent(&d);
        assert_eq!(mails.len(), 1, "{subject:?}");
        assert_eq!(mails[0].kind, MailKind::Rejection);
        assert_eq!(mails[0].to, vec![addr(from)]);
        assert!(!d.effects.iter().any(|e| matches!(e, Effect::OpenTicket(_))));
    }
}

#[test]
fn contract_not_yet_valid_and_disabled_are_rejected() {
    let mut future = rossi();
    future.valid_from = date(2026, 6, 1);
    let d = decide(
        &request("mario@rossi.it", "mario@rossi.it", GOOD_TEXT),
        &facts(vec![future]),
        &settings(),
    );
    assert_eq!(
        d.outcome,
        Outcome::Rejected(Rejection::ContractNotYetValid {
            requester: addr("mario@rossi.it"),
            from: date(2026, 6, 1)
        })
    );
    let mut off = rossi();
    off.disabled = true;
    let d = decide(
        &request("mario@rossi.it", "mario@rossi.it", GOOD_TEXT),
        &facts(vec![off]),
        &settings(),
    );
    assert_eq!(
        d.outcome,
        Outcome::Rejected(Rejection::ContractDisabled {
            requester: addr("mario@rossi.it")
        })
    );
}

#[test]
fn renewed_contract_wins_over_the_expired_one_for_the_same_address() {
    let mut old = rossi();
    old.id = 5;
    old.valid_from = date(2025, 1, 1);
    old.valid_until = date(2025, 12, 31);
    let d = decide(
        &request("mario@rossi.it", "mario@rossi.it", GOOD_TEXT),
        &facts(vec![old, rossi()]),
        &settings(),
    );
    assert_eq!(d.outcome, Outcome::NewTicket(next_code()));
    let Effect::OpenTicket(t) = &d.effects[0] else {
        panic!("opens")
    };
    assert_eq!(t.contract_id, 1);
}

#[test]
fn unknown_sender_is_quarantined_silently_whatever_is_wrong() {
    for subject in [
        "stranger@nowhere.it",
        "",
        "Re: ciao",
        "[KZ-2026-00999]",
        "mario@rossi.it",
    ] {
        let d = decide(
            &request("stranger@nowhere.it", subject, GOOD_TEXT),
            &facts(vec![rossi()]),
            &settings(),
        );
        assert_eq!(
            d.outcome,
            Outcome::Quarantined(Quarantine::UnknownSender),
            "{subject:?}"
        );
        assert!(d.effects.is_empty(), "no backscatter for {subject:?}");
        assert_eq!(d.outcome.folder(), Folder::Quarantine);
    }
}

#[test]
fn automated_mail_is_never_answered() {
    let base = request("mario@rossi.it", "mario@rossi.it", GOOD_TEXT);
    let variants: Vec<(Inbound, Quarantine)> = vec![
        (
            Inbound {
                auto_submitted: Some("auto-replied".into()),
                ..base.clone()
            },
            Quarantine::Automated,
        ),
        (
            Inbound {
                auto_submitted: Some("auto-generated".into()),
                ..base.clone()
            },
            Quarantine::Automated,
        ),
        (
            Inbound {
                precedence: Some("bulk".into()),
                ..base.clone()
            },
            Quarantine::Automated,
        ),
        (
            Inbound {
                precedence: Some("junk".into()),
                ..base.clone()
            },
            Quarantine::Automated,
        ),
        (
            Inbound {
                precedence: Some("list".into()),
                ..base.clone()
            },
            Quarantine::Automated,
        ),
        (
            Inbound {
                null_sender: true,
                ..base.clone()
            },
            Quarantine::Automated,
        ),
        (
            Inbound {
                from: Address::parse("MAILER-DAEMON@rossi.it"),
                ..base.clone()
            },
            Quarantine::Automated,
        ),
        (
            Inbound {
                from: Address::parse("postmaster@rossi.it"),
                ..base.clone()
            },
            Quarantine::Automated,
        ),
        (
            Inbound {
                list_id: true,
                ..base.clone()
            },
            Quarantine::MailingList,
        ),
        (
            Inbound {
                loop_marker: true,
                ..base.clone()
            },
            Quarantine::Loop,
        ),
        (
            Inbound {
                from: Address::parse("assistenza@kzweb.it"),
                ..base.clone()
            },
            Quarantine::OwnAddress,
        ),
        (
            Inbound {
                from: Address::parse("NoReply@KZWEB.it"),
                ..base.clone()
            },
            Quarantine::OwnAddress,
        ),
        (
            Inbound {
                from: None,
                ..base.clone()
            },
            Quarantine::NoSender,
        ),
        (
            Inbound {
                malformed: Some("no headers".into()),
                ..base.clone()
            },
            Quarantine::Malformed,
        ),
    ];
    for (msg, expected) in variants {
        let d = decide(&msg, &facts(vec![rossi()]), &settings());
        assert_eq!(d.outcome, Outcome::Quarantined(expected), "{msg:?}");
        assert!(d.effects.is_empty());
    }
}

#[test]
fn auto_submitted_no_is_a_person_writing() {
    let msg = Inbound {
        auto_submitted: Some("no".into()),
        ..request("mario@rossi.it", "mario@rossi.it", GOOD_TEXT)
    };
    assert_eq!(
        decide(&msg, &facts(vec![rossi()]), &settings()).outcome,
        Outcome::NewTicket(next_code())
    );
}

#[test]
fn message_over_the_size_limit_is_rejected_before_anything_else() {
    let msg = Inbound {
        size: 2 * 1024 * 1024,
        text: String::new(),
        ..request("mario@rossi.it", "mario@rossi.it", "")
    };
    let d = decide(&msg, &facts(vec![rossi()]), &settings());
    assert_eq!(
        d.outcome,
        Outcome::Rejected(Rejection::TooLarge {
            size: 2 * 1024 * 1024,
            limit: settings().max_message_bytes
        })
    );
    assert!(sent(&d)[0].body.contains("il limite è 1,0 MB"));
}

pub(super) fn ticket_42() -> TicketFacts {
    TicketFacts {
        id: 42,
        code: TicketCode {
            prefix: "KZ".into(),
            year: 2026,
            number: 42,
        },
        requester: addr("mario@rossi.it"),
        contract: rossi(),
        summary: "Il modulo contatti non invia".into(),
        opened_at: now() - chrono::Duration::hours(1),
        status: TicketStatus::new(false, Extra::No, now() + chrono::Duration::hours(3)),
        thread: vec![],
        participants: vec![],
        pending_quote: None,
        time_minutes: 0,
    }
}

#[test]
fn reply_on_a_ticket_from_its_contract_updates_it_without_reply() {
    let msg = request(
        "anna@rossi.it",
        "Re: [KZ-2026-00042] Richiesta presa in carico",
        "altre info",
    );
    let f = Facts {
        ticket: Some(ticket_42()),
        ..facts(vec![rossi()])
    };
    let d = decide(&msg, &f, &settings());
    assert_eq!(d.outcome, Outcome::TicketUpdate(ticket_42().code));
    assert_eq!(
        d.effects[0],
        Effect::AppendToTicket {
            code: ticket_42().code,
            text: "altre info".into()
        }
    );
    let forwarded = sent(&d);
    assert_eq!(
        forwarded.len(),
        1,
        "forwarded to the queue, nothing to the customer"
    );
    assert_eq!(forwarded[0].kind, MailKind::Forward);
    assert_eq!(forwarded[0].to, vec![addr("operatori@kzweb.it")]);
}

#[test]
fn reply_on_someone_elses_ticket_is_an_unknown_ticket() {
    let msg = request("giulia@verdi.it", "Re: [KZ-2026-00042]", "altre info");
    let f = Facts {
        ticket: Some(ticket_42()),
        ..facts(vec![verdi_expired()])
    };
    assert_eq!(
        decide(&msg, &f, &settings()).outcome,
        Outcome::Rejected(Rejection::UnknownTicket {
            code: ticket_42().code
        })
    );
}

#[test]
fn wanted_asks_for_sender_subject_address_code_and_references() {
    let mut msg = request("anna@rossi.it", "Mario@Rossi.it", GOOD_TEXT);
    msg.refs = vec!["x@y".into()];
    let w = wanted(&msg, &settings());
    assert_eq!(
        w.addresses,
        vec![addr("anna@rossi.it"), addr("mario@rossi.it")]
    );
    assert_eq!(w.code, None);
    assert_eq!(w.refs, vec!["x@y".to_string()]);
    let msg = request("mario@rossi.it", "R: [kz-2026-00042]", "");
    let w = wanted(&msg, &settings());
    assert_eq!(w.addresses, vec![addr("mario@rossi.it")]);
    assert_eq!(w.code, Some(ticket_42().code));
}

#[test]
fn decision_is_the_same_for_the_same_input() {
    let msg = request("mario@rossi.it", "mario@rossi.it", GOOD_TEXT);
    let f = facts(vec![rossi()]);
    assert_eq!(decide(&msg, &f, &settings()), decide(&msg, &f, &settings()));
}

#[test]
fn the_hourly_limit_is_per_recipient_so_writing_as_a_colleague_gains_nothing() {
    // Anna writes for Mario: the ack goes to Mario (Anna in copy). Mario is at the limit,
    // Anna has had nothing: the ack is held all the same.
    let msg = request("anna@rossi.it", "mario@rossi.it", GOOD_TEXT);
    let f = Facts {
        replies_last_hour: vec![(addr("mario@rossi.it"), 20), (addr("anna@rossi.it"), 0)],
        ..facts(vec![rossi()])
    };
    let d = decide(&msg, &f, &settings());
    let mails = sent(&d);
    let ack = mails
        .iter()
        .find(|m| m.kind == MailKind::Ack)
        .expect("an ack");
    assert_eq!(ack.to, vec![addr("mario@rossi.it")]);
    assert!(
        ack.held
            .as_deref()
            .is_some_and(|h| h.contains("to mario@rossi.it")),
        "{:?}",
        ack.held
    );
    assert!(d
        .warning
        .as_deref()
        .is_some_and(|w| w.contains("mario@rossi.it held")));

    // With Mario under the limit the same request is answered.
    let f = Facts {
        replies_last_hour: vec![(addr("mario@rossi.it"), 19), (addr("anna@rossi.it"), 0)],
        ..facts(vec![rossi()])
    };
    assert!(sent(&decide(&msg, &f, &settings()))
        .iter()
        .all(|m| m.held.is_none()));
}

#[test]
fn mails_over_the_hourly_limit_are_held_and_the_ticket_still_opens() {
    let msg = request("mario@rossi.it", "mario@rossi.it", GOOD_TEXT);
    let at_limit = Facts {
        replies_last_hour: vec![(addr("mario@rossi.it"), 20)],
        ..facts(vec![rossi()])
    };
    let d = decide(&msg, &at_limit, &settings());
    assert!(
        matches!(d.outcome, Outcome::NewTicket(_)),
        "{:?}",
        d.outcome
    );
    let mails = sent(&d);
    let ack = mails
        .iter()
        .find(|m| m.kind == MailKind::Ack)
        .expect("an ack");
    assert!(ack
        .held
        .as_deref()
        .is_some_and(|h| h.contains("rate limit")));
    assert!(
        mails
            .iter()
            .filter(|m| !m.to.contains(&addr("mario@rossi.it")))
            .all(|m| m.held.is_none()),
        "mail to the operators is not limited"
    );
    assert!(d.warning.as_deref().is_some_and(|w| w.contains("held")));

    let under = Facts {
        replies_last_hour: vec![(addr("mario@rossi.it"), 19)],
        ..facts(vec![rossi()])
    };
    let d = decide(&msg, &under, &settings());
    assert!(sent(&d).iter().all(|m| m.held.is_none()));
    assert!(d.warning.is_none());
}

// The portal's form: the same rules, the typed address in the subject's part.

/// What the form's fields hold for Mario, with a contract in force.
pub(super) fn form(reference: &str, request: &str) -> FormFields {
    FormFields {
        email: "Mario@Rossi.it".into(),
        name: "Mario Rossi".into(),
        reference: reference.into(),
        request: request.into(),
        urgent: false,
    }
}

/// A submission as the shell builds it.
pub(super) fn web_request(fields: FormFields) -> Inbound {
    Inbound {
        message_id: Some("form.0123456789abcdef0123456789abcdef@portale.kzweb.it".into()),
        from: Address::parse(&fields.email),
        from_name: Some(fields.name.clone()),
        subject: format!("Modulo web: {}", fields.reference),
        text: fields.text(),
        size: 3_000,
        received_at: now(),
        channel: Channel::Web(fields),
        ..Inbound::default()
    }
}

pub(super) const FORM_REQUEST: &str = "Il modulo contatti non invia i messaggi da ieri.";

fn file(name: &str, bytes: usize) -> Attachment {
    Attachment {
        filename: name.into(),
        content_type: "application/octet-stream".into(),
        data: vec![0; bytes],
    }
}

#[test]
fn a_form_request_on_a_contract_in_force_opens_a_ticket_acknowledged_to_the_typed_address() {
    let msg = Inbound {
        attachments: vec![
            file("schermata.png", 120 * 1024),
            file("fattura.pdf", 3 * 512 * 1024),
        ],
        ..web_request(form("www.rossi.it", FORM_REQUEST))
    };
    let d = decide(&msg, &facts(vec![rossi()]), &settings());
    assert_eq!(d.outcome, Outcome::NewTicket(next_code()));
    let Effect::OpenTicket(t) = &d.effects[0] else {
        panic!("first effect opens the ticket")
    };
    assert_eq!(
        (t.requester.as_str(), t.sender.as_str()),
        ("mario@rossi.it", "mario@rossi.it")
    );
    assert_eq!(
        t.text,
        format!("Riferimento: www.rossi.it\n\n{FORM_REQUEST}")
    );
    let mails = sent(&d);
    assert_eq!(mails.len(), 2, "the ack and the queue notice");
    let (ack, notice) = (mails[0], mails[1]);
    assert_eq!(
        (ack.kind, ack.to.clone()),
        (MailKind::Ack, vec![addr("mario@rossi.it")])
    );
    assert!(ack.cc.is_empty());
    assert!(ack.body.contains("dal modulo del sito"), "{}", ack.body);
    assert!(ack.body.starts_with("Gentile Mario Rossi,"), "{}", ack.body);
    // Nothing to reply to: the ack starts the thread the customer's replies will join.
    assert_eq!(ack.in_reply_to, None);
    assert!(ack.references.is_empty());
    assert_eq!(notice.kind, MailKind::QueueNotice);
    assert!(
        notice.body.contains("Canale:      modulo web\n"),
        "{}",
        notice.body
    );
    assert!(
        notice
            .body
            .contains("Allegati:    schermata.png (120 KB), fattura.pdf (1,5 MB)\n"),
        "{}",
        notice.body
    );
    assert_eq!(notice.attachments, msg.attachments, "the files go with it");
}

#[test]
fn a_form_request_from_an_address_no_contract_lists_is_quarantined_without_a_word() {
    let fields = FormFields {
        email: "stranger@nowhere.it".into(),
        ..form("www.rossi.it", FORM_REQUEST)
    };
    for contracts in [vec![], vec![rossi()]] {
        let d = decide(&web_request(fields.clone()), &facts(contracts), &settings());
        assert_eq!(d.outcome, Outcome::Quarantined(Quarantine::UnknownSender));
        assert!(d.effects.is_empty());
    }
}

#[test]
fn a_form_request_on_an_expired_contract_is_rejected_in_the_forms_words() {
    let fields = FormFields {
        email: "giulia@verdi.it".into(),
        ..form("www.caffeverdi.it", FORM_REQUEST)
    };
    let d = decide(
        &web_request(fields),
        &facts(vec![verdi_expired()]),
        &settings(),
    );
    assert_eq!(
        d.outcome,
        Outcome::Rejected(Rejection::ContractExpired {
            requester: addr("giulia@verdi.it"),
            until: date(2025, 12, 31)
        })
    );
    let mails = sent(&d);
    assert_eq!(mails.len(), 1);
    assert_eq!(mails[0].to, vec![addr("giulia@verdi.it")]);
    assert_eq!(mails[0].in_reply_to, None);
    let body = &mails[0].body;
    assert!(body.contains("dal modulo di assistenza del sito"), "{body}");
    assert!(body.contains("è scaduto il 31 dicembre 2025"), "{body}");
    assert!(!body.to_lowercase().contains("oggetto"), "{body}");
}

#[test]
fn the_urgent_checkbox_outside_office_hours_alerts_the_on_call_person() {
    let saturday = Rome
        .with_ymd_and_hms(2026, 3, 14, 22, 30, 0)
        .single()
        .expect("valid")
        .with_timezone(&Utc);
    let urgent = FormFields {
        urgent: true,
        ..form(
            "www.rossi.it",
            "Il sito è fermo, non si apre nessuna pagina.",
        )
    };
    let msg = Inbound {
        received_at: saturday,
        ..web_request(urgent.clone())
    };
    let d = decide(&msg, &facts(vec![rossi()]), &settings());
    let Effect::OpenTicket(t) = &d.effects[0] else {
        panic!("opens")
    };
    assert!(t.status.urgent);
    let kinds: Vec<MailKind> = sent(&d).iter().map(|m| m.kind).collect();
    assert_eq!(
        kinds,
        vec![MailKind::Ack, MailKind::QueueNotice, MailKind::OnCall]
    );
    let oncall = sent(&d)[2];
    assert_eq!(oncall.to, vec![addr("reperibile@kzweb.it")]);
    assert!(
        oncall.body.contains("Canale:      modulo web"),
        "{}",
        oncall.body
    );
    assert!(sent(&d)[0].body.contains("tecnico reperibile"));

    // The checkbox, not the text, says so: URGENTE typed in the request is just words.
    let unticked = Inbound {
        received_at: saturday,
        ..web_request(form(
            "www.rossi.it",
            "URGENTE\nIl sito è fermo da stamattina.",
        ))
    };
    let d = decide(&unticked, &facts(vec![rossi()]), &settings());
    assert!(matches!(d.outcome, Outcome::NewTicket(_)));
    assert!(sent(&d).iter().all(|m| m.kind != MailKind::OnCall));
}

#[test]
fn a_ticket_code_in_a_forms_reference_or_text_still_opens_a_new_ticket() {
    let s = settings();
    for fields in [
        form(
            "www.rossi.it",
            "Come da KZ-2026-00001, il modulo contatti non invia.",
        ),
        form("[KZ-2026-00042] www.rossi.it", FORM_REQUEST),
    ] {
        let msg = web_request(fields);
        let w = wanted(&msg, &s);
        assert_eq!((w.code, w.refs.len()), (None, 0), "{:?}", msg.channel);
        assert_eq!(w.addresses, vec![addr("mario@rossi.it")]);
        // Even were the shell to hand it a ticket, a form never updates one.
        for ticket in [None, Some(ticket_42())] {
            let f = Facts {
                ticket,
                ..facts(vec![rossi()])
            };
            let d = decide(&msg, &f, &s);
            assert_eq!(
                d.outcome,
                Outcome::NewTicket(next_code()),
                "{:?}",
                msg.channel
            );
        }
    }
}

#[test]
fn a_forms_lines_starting_with_a_quote_or_a_signature_mark_are_the_customers_own() {
    let request = "> il modulo di www.rossi.it non invia\n--\nanche la pagina Chi siamo è vuota";
    let d = decide(
        &web_request(form("www.rossi.it", request)),
        &facts(vec![rossi()]),
        &settings(),
    );
    let Effect::OpenTicket(t) = &d.effects[0] else {
        panic!("opens: {:?}", d.outcome)
    };
    assert!(t.text.ends_with(request), "{:?}", t.text);
}

#[test]
fn a_form_naming_the_site_neither_in_its_reference_nor_in_its_text_is_missing_reference() {
    let d = decide(
        &web_request(form(
            "il nostro sito",
            "Il modulo dei contatti non invia più niente.",
        )),
        &facts(vec![rossi()]),
        &settings(),
    );
    assert_eq!(d.outcome, Outcome::Rejected(Rejection::MissingReference));
    let body = &sent(&d)[0].body;
    assert!(
        body.contains("il campo Riferimento non indica il sito"),
        "{body}"
    );
    // The site in the text is enough, as for a mail.
    let d = decide(
        &web_request(form(
            "il nostro sito",
            "Su www.rossi.it il modulo non invia.",
        )),
        &facts(vec![rossi()]),
        &settings(),
    );
    assert!(
        matches!(d.outcome, Outcome::NewTicket(_)),
        "{:?}",
        d.outcome
    );
}

#[test]
fn line_breaks_and_markup_typed_in_the_form_never_break_a_subject_line() {
    let hostile = "\r\nBcc: x@y.it <b>\n";
    let fields = FormFields {
        name: format!("Mario{hostile}Rossi"),
        urgent: true,
        ..form(
            &format!("www.rossi.it{hostile}"),
            &format!("<b>Il modulo</b>{hostile}non invia i messaggi"),
        )
    };
    let saturday = now() + Duration::days(4);
    let msg = Inbound {
        received_at: saturday,
        ..web_request(fields)
    };
    let d = decide(&msg, &facts(vec![rossi()]), &settings());
    assert!(
        matches!(d.outcome, Outcome::NewTicket(_)),
        "{:?}",
        d.outcome
    );
    let mails = sent(&d);
    assert_eq!(mails.len(), 3);
    for m in &mails {
        assert!(!m.subject.chars().any(char::is_control), "{:?}", m.subject);
    }
    let notice = mails
        .iter()
        .find(|m| m.kind == MailKind::QueueNotice)
        .expect("notice");
    assert_eq!(
        notice.subject,
        "[KZ-2026-00008] URGENTE Nuovo ticket: Rossi Impianti srl — Riferimento: www.rossi.it"
    );
    assert!(
        notice.body.contains("(Mario  Bcc: x@y.it <b> Rossi)"),
        "{}",
        notice.body
    );
    assert!(!notice.body.contains('\r'), "{:?}", notice.body);
}

#[test]
fn an_operators_address_typed_in_the_form_gives_no_command() {
    let fields = FormFields {
        email: "giulia@kzweb.it".into(),
        ..form("www.rossi.it", "#chiudi\nIl modulo contatti non invia.")
    };
    let msg = Inbound {
        auth_results: vec!["mx.kzweb.it; dkim=pass header.d=kzweb.it".into()],
        ..web_request(fields)
    };
    let d = decide(&msg, &facts(vec![]), &settings());
    assert_eq!(d.outcome, Outcome::Quarantined(Quarantine::UnknownSender));
    assert!(d
        .warning
        .as_deref()
        .is_some_and(|w| w.contains("form submission")));
}

#[test]
fn the_confirmation_goes_only_to_an_address_a_contract_lists() {
    let s = settings();
    let link = "https://www.kzweb.it/assistenza/conferma/abc";
    let until = now() + Duration::hours(24);
    let msg = web_request(form("www.rossi.it", FORM_REQUEST));
    let effects = super::request::confirmation(&msg, &facts(vec![rossi()]), &s, link, until);
    let [Effect::Send(mail)] = effects.as_slice() else {
        panic!("one mail: {effects:?}")
    };
    assert_eq!(mail.kind, MailKind::Confirmation);
    assert_eq!(mail.to, vec![addr("mario@rossi.it")]);
    assert_eq!(mail.ticket, None);
    assert_eq!(mail.subject, "Conferma la richiesta di assistenza");
    assert!(mail.body.contains(&format!("\n{link}\n")), "{}", mail.body);
    assert!(
        mail.body.contains("11 marzo 2026 alle 10:00"),
        "{}",
        mail.body
    );
    assert!(mail.held.is_none());

    // A contract in any standing: the rejection then comes after the confirmation.
    let giulia = web_request(FormFields {
        email: "giulia@verdi.it".into(),
        ..form("www.caffeverdi.it", FORM_REQUEST)
    });
    let effects =
        super::request::confirmation(&giulia, &facts(vec![verdi_expired()]), &s, link, until);
    assert_eq!(effects.len(), 1);

    let stranger = web_request(FormFields {
        email: "stranger@nowhere.it".into(),
        ..form("www.rossi.it", FORM_REQUEST)
    });
    assert!(
        super::request::confirmation(&stranger, &facts(vec![rossi()]), &s, link, until).is_empty()
    );
    let by_mail = request("mario@rossi.it", "mario@rossi.it", GOOD_TEXT);
    assert!(
        super::request::confirmation(&by_mail, &facts(vec![rossi()]), &s, link, until).is_empty()
    );
}

#[test]
fn confirmations_count_against_the_hourly_limit() {
    let at_limit = Facts {
        replies_last_hour: vec![(addr("mario@rossi.it"), 20)],
        ..facts(vec![rossi()])
    };
    let msg = web_request(form("www.rossi.it", FORM_REQUEST));
    let effects =
        super::request::confirmation(&msg, &at_limit, &settings(), "https://x.it/c", now());
    let [Effect::Send(mail)] = effects.as_slice() else {
        panic!("one mail, held: {effects:?}")
    };
    assert!(mail
        .held
        .as_deref()
        .is_some_and(|h| h.contains("rate limit")));
}
