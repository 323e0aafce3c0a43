//! The ticket's life, rule by rule, with a fixed time: every state transition an operator,
//! a customer or the scheduler can cause, every command with good and bad arguments, the
//! authentication of operators, urgency and office hours.

use chrono::{DateTime, Duration, TimeZone, Utc};
use chrono_tz::Europe::Rome;

use super::decide::*;
use super::decide_tests::{
    addr, facts, form, now, rossi, sent, settings, ticket_42, web_request, FORM_REQUEST, GOOD_TEXT,
};
use super::decision::*;
use super::inbound::{Attachment, Inbound};
use super::ticket::{EventKind, TicketFacts, TicketState, TicketStatus};
use super::timers;

const TRUSTED_PASS: &str =
    "mx.kzweb.it; dkim=pass header.d=kzweb.it; spf=pass smtp.mailfrom=kzweb.it";

/// A mail from an operator of `settings()`, vouched for by our server.
pub(super) fn from_operator(name: &str, text: &str) -> Inbound {
    Inbound {
        message_id: Some(format!("{name}-1@kzweb.it")),
        from: Some(addr(&format!("{}@kzweb.it", name.to_lowercase()))),
        subject: "Re: [KZ-2026-00042] Nuovo ticket: Rossi Impianti srl".into(),
        text: text.into(),
        size: 2000,
        received_at: now(),
        auth_results: vec![TRUSTED_PASS.into()],
        ..Inbound::default()
    }
}

pub(super) fn from_customer(text: &str, at: DateTime<Utc>) -> Inbound {
    Inbound {
        message_id: Some("reply-1@rossi.it".into()),
        from: Some(addr("mario@rossi.it")),
        subject: "Re: [KZ-2026-00042] Chiusura della richiesta di assistenza".into(),
        text: text.into(),
        size: 2000,
        received_at: at,
        ..Inbound::default()
    }
}

/// Ticket 42 in a given state, taken by Giulia unless open.
pub(super) fn ticket(state: TicketState) -> TicketFacts {
    let mut t = ticket_42();
    let st = &mut t.status;
    st.state = state;
    if state != TicketState::Open {
        st.operator = Some("Giulia".into());
        st.first_contact_at = Some(now() - Duration::minutes(50));
    }
    if matches!(state, TicketState::Resolved | TicketState::Closed) {
        st.closed_at = Some(now() - Duration::hours(10));
        st.reopen_until = Some(now() + Duration::hours(38));
    }
    t
}

pub(super) fn with_ticket(t: TicketFacts) -> Facts {
    Facts {
        ticket: Some(t),
        ..facts(vec![rossi()])
    }
}

pub(super) fn new_status(d: &Decision) -> Option<&TicketStatus> {
    d.effects.iter().find_map(|e| match e {
        Effect::UpdateTicket { status, .. } => Some(status),
        _ => None,
    })
}

pub(super) fn events(d: &Decision) -> Vec<EventKind> {
    d.effects
        .iter()
        .filter_map(|e| match e {
            Effect::Log(ev) => Some(ev.kind),
            _ => None,
        })
        .collect()
}

pub(super) fn kinds(d: &Decision) -> Vec<(MailKind, Vec<String>)> {
    sent(d)
        .iter()
        .map(|m| (m.kind, m.to.iter().map(|a| a.to_string()).collect()))
        .collect()
}

fn code() -> super::ticket::TicketCode {
    ticket_42().code
}

#[test]
fn every_state_transition_by_operators_and_customers() {
    struct Row {
        name: &'static str,
        state: TicketState,
        msg: Inbound,
        outcome: Outcome,
        after: Option<TicketState>,
        mails: Vec<(MailKind, Vec<&'static str>)>,
    }
    let within = now();
    let late = now() + Duration::hours(39);
    let rows = vec![
        Row {
            name: "#prendo on an open ticket takes it",
            state: TicketState::Open,
            msg: from_operator("Giulia", "#prendo"),
            outcome: Outcome::Command(code()),
            after: Some(TicketState::Taken),
            mails: vec![],
        },
        Row {
            name: "an answer on an open ticket is relayed and takes it",
            state: TicketState::Open,
            msg: from_operator("Giulia", "Buongiorno, me ne occupo oggi."),
            outcome: Outcome::Command(code()),
            after: Some(TicketState::Taken),
            mails: vec![(MailKind::Relay, vec!["mario@rossi.it"])],
        },
        Row {
            name: "#assegna hands it to a colleague, who is told",
            state: TicketState::Open,
            msg: from_operator("Giulia", "#assegna marco\nIl cliente preferisce Marco."),
            outcome: Outcome::Command(code()),
            after: Some(TicketState::Taken),
            mails: vec![(MailKind::Assignment, vec!["marco@kzweb.it"])],
        },
        Row {
            name: "#secondo-livello reaches the team and waits for one of them",
            state: TicketState::Taken,
            msg: from_operator(
                "Giulia",
                "#secondo-livello sistemisti\nServe accesso al server.",
            ),
            outcome: Outcome::Command(code()),
            after: Some(TicketState::Open),
            mails: vec![(MailKind::Escalation, vec!["sergio@kzweb.it"])],
        },
        Row {
            name: "#chiudi closes with the reopen window and tells the customer",
            state: TicketState::Taken,
            msg: from_operator("Giulia", "#chiudi\nIl modulo ora funziona."),
            outcome: Outcome::Command(code()),
            after: Some(TicketState::Resolved),
            mails: vec![(MailKind::Closure, vec!["mario@rossi.it"])],
        },
        Row {
            name: "#prendo by the operator reopens a resolved ticket",
            state: TicketState::Resolved,
            msg: from_operator("Giulia", "#prendo"),
            outcome: Outcome::Command(code()),
            after: Some(TicketState::Taken),
            mails: vec![],
        },
        Row {
            name: "a customer reply on a taken ticket goes to the operator in charge",
            state: TicketState::Taken,
            msg: from_customer("Ecco le credenziali richieste.", within),
            outcome: Outcome::TicketUpdate(code()),
            after: None,
            mails: vec![(MailKind::Forward, vec!["giulia@kzweb.it"])],
        },
        Row {
            name: "a customer reply within the window reopens",
            state: TicketState::Resolved,
            msg: from_customer("Il modulo non va ancora.", within),
            outcome: Outcome::Reopened(code()),
            after: Some(TicketState::Taken),
            mails: vec![
                (MailKind::ReopenNotice, vec!["giulia@kzweb.it"]),
                (MailKind::Reopened, vec!["mario@rossi.it"]),
            ],
        },
        Row {
            name: "a reply received in time reopens even if closed for good meanwhile",
            state: TicketState::Closed,
            msg: from_customer("Il modulo non va ancora.", within),
            outcome: Outcome::Reopened(code()),
            after: Some(TicketState::Taken),
            mails: vec![
                (MailKind::ReopenNotice, vec!["giulia@kzweb.it"]),
                (MailKind::Reopened, vec!["mario@rossi.it"]),
            ],
        },
        Row {
            name: "a reply after the window is refused and changes nothing",
            state: TicketState::Resolved,
            msg: from_customer("Il modulo non va ancora.", late),
            outcome: Outcome::ReopenRefused(code()),
            after: None,
            mails: vec![(MailKind::ReopenRefused, vec!["mario@rossi.it"])],
        },
        Row {
            name: "a reply on a ticket closed for good is refused",
            state: TicketState::Closed,
            msg: from_customer("Il modulo non va ancora.", late),
            outcome: Outcome::ReopenRefused(code()),
            after: None,
            mails: vec![(MailKind::ReopenRefused, vec!["mario@rossi.it"])],
        },
    ];
    for row in rows {
        let d = decide(&row.msg, &with_ticket(ticket(row.state)), &settings());
        assert_eq!(d.outcome, row.outcome, "{}", row.name);
        assert_eq!(
            new_status(&d).map(|s| s.state),
            row.after,
            "{}: {:?}",
            row.name,
            d.effects
        );
        let want: Vec<(MailKind, Vec<String>)> = row
            .mails
            .iter()
            .map(|(k, to)| (*k, to.iter().map(|s| s.to_string()).collect()))
            .collect();
        assert_eq!(kinds(&d), want, "{}", row.name);
        assert!(
            matches!(&d.effects[0], Effect::AppendToTicket { code: c, .. } if *c == code()),
            "{}: the message is recorded on the ticket",
            row.name
        );
    }
}

#[test]
fn commands_that_are_impossible_now_are_refused_with_a_reason_and_change_nothing() {
    let rows = [
        (
            "#prendo",
            TicketState::Closed,
            "ticket_closed",
            "chiuso definitivamente",
        ),
        (
            "Una risposta",
            TicketState::Closed,
            "ticket_closed",
            "chiuso definitivamente",
        ),
        (
            "#chiudi",
            TicketState::Resolved,
            "ticket_resolved",
            "lo riapra con #prendo",
        ),
        (
            "#assegna Marco",
            TicketState::Resolved,
            "ticket_resolved",
            "#assegna",
        ),
        (
            "#boh",
            TicketState::Taken,
            "bad_command",
            "il comando #boh non esiste",
        ),
        (
            "#chiudi 0h",
            TicketState::Taken,
            "bad_command",
            "da 1 a 720",
        ),
        (
            "#assegna",
            TicketState::Taken,
            "bad_command",
            "vuole un argomento",
        ),
        (
            "#prendo\n#assegna Marco",
            TicketState::Taken,
            "bad_command",
            "non possono stare",
        ),
        (
            "#assegna Nessuno",
            TicketState::Taken,
            "unknown_operator",
            "Giulia, Marco, Sergio, Paola",
        ),
        (
            "#secondo-livello grafici",
            TicketState::Taken,
            "unknown_team",
            "programmatori, sistemisti",
        ),
        ("", TicketState::Taken, "empty", "non contiene comandi"),
    ];
    for (text, state, reason, phrase) in rows {
        let d = decide(
            &from_operator("Giulia", text),
            &with_ticket(ticket(state)),
            &settings(),
        );
        assert_eq!(d.outcome.reason(), reason, "{text:?} on {state:?}");
        assert_eq!(d.outcome.folder(), Folder::Rejected);
        assert_eq!(
            d.effects.len(),
            1,
            "{text:?}: only the reply, nothing recorded"
        );
        let reply = sent(&d)[0];
        assert_eq!(reply.kind, MailKind::CommandRefused);
        assert_eq!(reply.to, vec![addr("giulia@kzweb.it")]);
        assert!(reply.body.contains(phrase), "{text:?}: {}", reply.body);
        assert!(reply.body.contains("non è cambiato"));
    }
}

#[test]
fn prendo_on_a_ticket_another_operator_has_is_refused() {
    let d = decide(
        &from_operator("Marco", "#prendo"),
        &with_ticket(ticket(TicketState::Taken)),
        &settings(),
    );
    assert_eq!(d.outcome.reason(), "taken_by_another");
    assert!(sent(&d)[0].body.contains("già in carico a Giulia"));
}

#[test]
fn operator_mail_without_a_ticket_is_refused() {
    let mut msg = from_operator("Giulia", "#prendo");
    msg.subject = "una domanda".into();
    let d = decide(&msg, &facts(vec![]), &settings());
    assert_eq!(d.outcome, Outcome::CommandRefused(Refusal::NoTicket));
    msg.subject = "Re: [KZ-2026-00999]".into();
    let d = decide(&msg, &facts(vec![]), &settings());
    assert_eq!(d.outcome.reason(), "unknown_ticket");
    assert!(sent(&d)[0].body.contains("KZ-2026-00999 non esiste"));
}

#[test]
fn chiudi_with_hours_sets_that_window_and_the_closure_names_the_deadline_in_rome_time() {
    let d = decide(
        &from_operator("Giulia", "#chiudi 72h\nAbbiamo aggiornato il modulo."),
        &with_ticket(ticket(TicketState::Taken)),
        &settings(),
    );
    let st = new_status(&d).expect("status");
    assert_eq!(st.reopen_until, Some(now() + Duration::hours(72)));
    assert_eq!(st.closed_at, Some(now()));
    let closure = sent(&d)[0];
    assert!(closure.subject.starts_with("[KZ-2026-00042] Chiusura"));
    assert!(closure.body.starts_with("Abbiamo aggiornato il modulo."));
    // Tuesday 10 March 10:00 + 72 h = Friday 13 March 10:00 in Rome.
    assert!(
        closure
            .body
            .contains("entro venerdì 13 marzo 2026 alle 10:00"),
        "{}",
        closure.body
    );
    assert!(closure.body.contains("rispondendo a questa email"));
    let d = decide(
        &from_operator("Giulia", "#chiudi"),
        &with_ticket(ticket(TicketState::Taken)),
        &settings(),
    );
    assert_eq!(
        new_status(&d).and_then(|s| s.reopen_until),
        Some(now() + Duration::hours(48))
    );
}

#[test]
fn relayed_answers_carry_attachments_and_thread_with_the_customer() {
    let mut t = ticket(TicketState::Taken);
    t.thread = vec![
        super::ticket::ThreadEntry {
            at: now() - Duration::hours(1),
            outgoing: false,
            kind: "ticket".into(),
            who: "mario@rossi.it".into(),
            message_id: Some("req@rossi.it".into()),
            text: GOOD_TEXT.into(),
        },
        super::ticket::ThreadEntry {
            at: now() - Duration::hours(1),
            outgoing: true,
            kind: "queue".into(),
            who: "operatori@kzweb.it".into(),
            message_id: Some("KZ-2026-00042.queue.1.2@kzweb.it".into()),
            text: String::new(),
        },
        super::ticket::ThreadEntry {
            at: now() - Duration::hours(1),
            outgoing: true,
            kind: "ack".into(),
            who: "mario@rossi.it".into(),
            message_id: Some("KZ-2026-00042.ack.1.1@kzweb.it".into()),
            text: String::new(),
        },
    ];
    let mut msg = from_operator("Giulia", "In allegato il preventivo.\n\n-- \nGiulia");
    msg.attachments = vec![Attachment {
        filename: "preventivo.pdf".into(),
        content_type: "application/pdf".into(),
        data: b"%PDF-1.4".to_vec(),
    }];
    let d = decide(&msg, &with_ticket(t), &settings());
    let relay = sent(&d)[0];
    assert_eq!(relay.kind, MailKind::Relay);
    assert_eq!(relay.attachments, msg.attachments);
    assert!(relay.body.starts_with("In allegato il preventivo."));
    assert!(relay.body.contains("Giulia — Assistenza KZweb"));
    assert_eq!(
        relay.in_reply_to.as_deref(),
        Some("KZ-2026-00042.ack.1.1@kzweb.it")
    );
    assert_eq!(
        relay.references,
        vec![
            "req@rossi.it".to_string(),
            "KZ-2026-00042.ack.1.1@kzweb.it".to_string()
        ],
        "the operators' side of the thread stays out of the customer's"
    );
}

#[test]
fn a_note_is_recorded_and_never_relayed() {
    let d = decide(
        &from_operator("Giulia", "#nota\nHo chiamato il cliente, richiama domani."),
        &with_ticket(ticket(TicketState::Taken)),
        &settings(),
    );
    assert_eq!(d.outcome, Outcome::Command(code()));
    assert!(sent(&d).is_empty());
    assert_eq!(events(&d), vec![EventKind::Note]);
    assert!(new_status(&d).is_none(), "a note changes no status");
}

#[test]
fn urgente_sets_the_flag_and_can_go_with_an_answer() {
    let d = decide(
        &from_operator("Giulia", "#urgente\nInterveniamo subito."),
        &with_ticket(ticket(TicketState::Taken)),
        &settings(),
    );
    assert!(new_status(&d).expect("status").urgent);
    assert_eq!(events(&d), vec![EventKind::Urgent, EventKind::Answered]);
    assert_eq!(sent(&d)[0].kind, MailKind::Relay);
}

#[test]
fn escalation_gives_the_team_the_whole_thread_and_marks_level_2() {
    let mut t = ticket(TicketState::Taken);
    t.thread = vec![super::ticket::ThreadEntry {
        at: now() - Duration::hours(1),
        outgoing: false,
        kind: "ticket".into(),
        who: "mario@rossi.it".into(),
        message_id: None,
        text: "Il server non risponde da stamattina.".into(),
    }];
    let d = decide(
        &from_operator(
            "Giulia",
            "#secondo-livello Sistemisti\nVedete voi il server.",
        ),
        &with_ticket(t),
        &settings(),
    );
    let st = new_status(&d).expect("status");
    assert_eq!(
        (st.level, st.team.as_deref(), st.operator.as_deref()),
        (2, Some("sistemisti"), None)
    );
    let mail = sent(&d)[0];
    assert!(mail.body.contains("Il server non risponde da stamattina."));
    assert!(mail.body.contains("Vedete voi il server."));
    assert!(mail.body.contains("Contattate voi il cliente"));
    // A later customer reply goes to the team while nobody of it has taken the ticket.
    let mut escalated = ticket(TicketState::Open);
    escalated.status = st.clone();
    let d = decide(
        &from_customer("Novità?", now()),
        &with_ticket(escalated),
        &settings(),
    );
    assert_eq!(
        kinds(&d),
        vec![(MailKind::Forward, vec!["sergio@kzweb.it".to_string()])]
    );
}

#[test]
fn an_operator_address_without_a_trusted_pass_is_ordinary_mail_and_logged_as_a_spoof() {
    let cases = [
        vec![],
        vec!["mx.attacker.example; dkim=pass header.d=kzweb.it".to_string()],
        vec![
            "mx.kzweb.it; dkim=fail header.d=kzweb.it; spf=fail smtp.mailfrom=kzweb.it".to_string(),
        ],
    ];
    for auth in cases {
        let mut msg = from_operator("Giulia", "#chiudi\nFatto.");
        msg.auth_results = auth.clone();
        let d = decide(&msg, &with_ticket(ticket(TicketState::Taken)), &settings());
        // Not on any contract: an unknown sender, set aside without any reply.
        assert_eq!(
            d.outcome,
            Outcome::Quarantined(Quarantine::UnknownSender),
            "{auth:?}"
        );
        assert!(new_status(&d).is_none(), "{auth:?}: nothing changes");
        assert!(
            d.warning
                .as_deref()
                .is_some_and(|w| w.contains("possible spoof") && w.contains("Giulia")),
            "{auth:?}: {:?}",
            d.warning
        );
    }
}

#[test]
fn urgent_request_outside_office_hours_alerts_on_call_and_says_so() {
    // Sunday 22 November 2026, 10:00 in Rome.
    let sunday = Rome
        .with_ymd_and_hms(2026, 11, 22, 10, 0, 0)
        .single()
        .expect("valid")
        .with_timezone(&Utc);
    let mut msg = super::decide_tests::request(
        "mario@rossi.it",
        "mario@rossi.it",
        &format!("URGENTE!\n{GOOD_TEXT}"),
    );
    msg.received_at = sunday;
    let d = decide(&msg, &facts(vec![rossi()]), &settings());
    let Effect::OpenTicket(t) = &d.effects[0] else {
        panic!("a ticket")
    };
    assert!(t.status.urgent);
    // 4 office hours from Sunday: Monday 13:00.
    assert_eq!(
        t.status.first_contact_due_at,
        Some(
            Rome.with_ymd_and_hms(2026, 11, 23, 13, 0, 0)
                .single()
                .expect("v")
                .with_timezone(&Utc)
        )
    );
    let mails = kinds(&d);
    assert_eq!(
        mails.iter().map(|m| m.0).collect::<Vec<_>>(),
        vec![MailKind::Ack, MailKind::QueueNotice, MailKind::OnCall]
    );
    assert_eq!(mails[2].1, vec!["reperibile@kzweb.it".to_string()]);
    let ack = sent(&d)[0];
    assert!(ack.body.contains("URGENTE") && ack.body.contains("reperibile"));
    assert!(ack.body.contains("fatturati a parte"));
    assert!(ack
        .body
        .contains("sarà esaminata a partire da lunedì 23 novembre 2026 alle 9:00"));
    assert!(events(&d).contains(&EventKind::OnCallNotified));

    // The same request in office hours: urgent, but nobody is woken up.
    msg.received_at = now();
    let d = decide(&msg, &facts(vec![rossi()]), &settings());
    assert!(!kinds(&d).iter().any(|m| m.0 == MailKind::OnCall));
    assert!(!sent(&d)[0].body.contains("reperibile"));
}

#[test]
fn a_request_on_a_holiday_is_examined_on_the_next_working_day() {
    // Tuesday 8 December 2026 (Immacolata), 11:00.
    let mut msg = super::decide_tests::request("mario@rossi.it", "mario@rossi.it", GOOD_TEXT);
    msg.received_at = Rome
        .with_ymd_and_hms(2026, 12, 8, 11, 0, 0)
        .single()
        .expect("valid")
        .with_timezone(&Utc);
    let d = decide(&msg, &facts(vec![rossi()]), &settings());
    assert!(sent(&d)[0]
        .body
        .contains("a partire da mercoledì 9 dicembre 2026 alle 9:00"));
    assert!(
        !kinds(&d).iter().any(|m| m.0 == MailKind::OnCall),
        "not urgent"
    );
}

#[test]
fn scheduler_reminds_the_queue_once_and_closes_for_good_at_the_deadline() {
    let s = settings();
    // Open, nobody took it, due in 3 hours.
    let t = ticket(TicketState::Open);
    assert!(timers::due(&t, now(), &s).is_empty(), "not due yet");
    let later = now() + Duration::hours(3);
    let effects = timers::due(&t, later, &s);
    let Some(Effect::UpdateTicket { status, .. }) = effects.first() else {
        panic!("{effects:?}")
    };
    assert_eq!(status.reminded_at, Some(later));
    assert_eq!(status.next_deadline(), None, "reminded once only");
    assert!(effects.iter().any(
        |e| matches!(e, Effect::Send(m) if m.kind == MailKind::Reminder
        && m.to == vec![addr("operatori@kzweb.it")])
    ));
    // Taken in time: no reminder.
    let taken = ticket(TicketState::Taken);
    assert!(timers::due(&taken, later, &s).is_empty());
    // Resolved: closed for good exactly when the window ends, with no mail.
    let r = ticket(TicketState::Resolved);
    let until = r.status.reopen_until.expect("window");
    assert!(timers::due(&r, until - Duration::seconds(1), &s).is_empty());
    let effects = timers::due(&r, until, &s);
    assert_eq!(effects.len(), 2);
    let Effect::UpdateTicket { status, .. } = &effects[0] else {
        panic!("{effects:?}")
    };
    assert_eq!(status.state, TicketState::Closed);
    assert_eq!(
        status.reopen_until,
        Some(until),
        "kept, for replies that arrived in time"
    );
    assert!(
        matches!(&effects[1], Effect::Log(e) if e.kind == EventKind::ClosedForGood && e.at == until)
    );
    // Closed: nothing more, ever.
    assert!(timers::due(
        &ticket(TicketState::Closed),
        until + Duration::days(400),
        &s
    )
    .is_empty());
}

fn bounce_of(original: &str, action: &str, status: &str) -> Inbound {
    Inbound {
        message_id: Some("dsn1@mail.rossi.it".into()),
        from: super::address::Address::parse("mailer-daemon@mail.rossi.it"),
        null_sender: true,
        subject: "Undelivered Mail Returned to Sender".into(),
        auto_submitted: Some("auto-replied".into()),
        received_at: now(),
        bounce: Some(super::inbound::Bounce {
            original_message_id: Some(original.into()),
            recipient: Some("mario@rossi.it".into()),
            action: Some(action.into()),
            status: Some(status.into()),
            diagnostic: Some("550 5.1.1 User unknown".into()),
        }),
        ..Inbound::default()
    }
}

#[test]
fn a_bounce_of_a_ticket_mail_is_recorded_and_told_to_the_operator_never_answered() {
    let msg = bounce_of("KZ-2026-00042.relay.7.1@kzweb.it", "failed", "5.1.1");
    let d = decide(&msg, &with_ticket(ticket(TicketState::Taken)), &settings());
    assert_eq!(d.outcome, Outcome::Bounced(ticket_42().code));
    assert_eq!(d.outcome.folder(), Folder::Processed);
    let logged: Vec<&super::ticket::Event> = d
        .effects
        .iter()
        .filter_map(|e| match e {
            Effect::Log(ev) => Some(ev),
            _ => None,
        })
        .collect();
    assert_eq!(logged.len(), 1);
    assert_eq!(logged[0].kind, EventKind::Bounced);
    assert!(logged[0].detail.contains("mario@rossi.it"));
    assert!(logged[0].detail.contains("5.1.1"));
    let mails = sent(&d);
    assert_eq!(mails.len(), 1, "one notice, nothing to the mailer-daemon");
    assert_eq!(mails[0].kind, MailKind::BounceNotice);
    assert_eq!(mails[0].to, vec![addr("giulia@kzweb.it")]);
    assert!(mails[0]
        .body
        .contains("non è stata consegnata a mario@rossi.it"));
    assert!(mails[0].body.contains("550 5.1.1 User unknown"));
    // Nothing about the ticket changes.
    assert!(new_status(&d).is_none());
}

#[test]
fn delays_and_bounces_of_mail_not_ours_are_quarantined_as_before() {
    let f = with_ticket(ticket(TicketState::Taken));
    for msg in [
        bounce_of("KZ-2026-00042.relay.7.1@kzweb.it", "delayed", "4.4.1"),
        bounce_of("someone-else@example.com", "failed", "5.1.1"),
    ] {
        let d = decide(&msg, &f, &settings());
        assert!(
            matches!(d.outcome, Outcome::Quarantined(_)),
            "{:?}",
            d.outcome
        );
        assert!(sent(&d).is_empty());
    }
}

#[test]
fn a_customers_mail_reply_to_the_ack_of_a_form_opened_ticket_finds_it_and_joins_its_thread() {
    let s = settings();
    let form_msg = web_request(form("www.rossi.it", FORM_REQUEST));
    let opened = decide(&form_msg, &facts(vec![rossi()]), &s);
    let Outcome::NewTicket(code) = opened.outcome.clone() else {
        panic!("{:?}", opened.outcome)
    };
    let ack = sent(&opened)[0].clone();
    assert_eq!(
        (ack.kind, ack.in_reply_to.as_deref()),
        (MailKind::Ack, None)
    );
    // The ticket as the store gives it back: the submission, then the ack under the
    // Message-ID the composer gave it (ticket, kind, cause, index).
    let ack_id = format!("{code}.ack.17.0@kzweb.it");
    let entry = |outgoing: bool, kind: &str, id: &str| super::ticket::ThreadEntry {
        at: now(),
        outgoing,
        kind: kind.into(),
        who: "mario@rossi.it".into(),
        message_id: Some(id.into()),
        text: String::new(),
    };
    let mut t = ticket(TicketState::Open);
    t.code = code.clone();
    t.thread = vec![
        entry(
            false,
            "ticket",
            form_msg.message_id.as_deref().unwrap_or(""),
        ),
        entry(true, "ack", &ack_id),
    ];

    // The customer answers the ack from their mail client: its In-Reply-To names the ack,
    // its subject the code. Either finds the ticket (the store looks the code up first,
    // else the Message-IDs among the mails it sent).
    let reply = Inbound {
        message_id: Some("reply-7@rossi.it".into()),
        subject: format!("Re: {}", ack.subject),
        refs: vec![ack_id.clone()],
        ..from_customer("Aggiungo: anche la pagina Chi siamo è vuota.", now())
    };
    let w = wanted(&reply, &s);
    assert_eq!(w.code.as_ref(), Some(&code));
    assert_eq!(w.refs, vec![ack_id.clone()]);
    let stripped = Inbound {
        subject: "Re: Richiesta di assistenza".into(),
        ..reply.clone()
    };
    assert_eq!(wanted(&stripped, &s).refs, vec![ack_id.clone()]);

    let d = decide(&reply, &with_ticket(t.clone()), &s);
    assert_eq!(d.outcome, Outcome::TicketUpdate(code.clone()));
    assert_eq!(
        kinds(&d),
        vec![(MailKind::Forward, vec!["operatori@kzweb.it".to_string()])]
    );

    // And what an operator writes back threads under the ack in the customer's client.
    let answer = Inbound {
        subject: format!("Re: [{code}] Nuovo ticket"),
        ..from_operator("Giulia", "Buongiorno, me ne occupo oggi.")
    };
    let relay = sent(&decide(&answer, &with_ticket(t), &s))[0].clone();
    assert_eq!(relay.kind, MailKind::Relay);
    assert_eq!(relay.in_reply_to.as_deref(), Some(ack_id.as_str()));
}
