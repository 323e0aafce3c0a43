//! The operators' working tools, rule by rule, with a fixed time (Tuesday 10 March 2026,
//! 10:00 in Rome): time spent, extra interventions, quotes and the customer's answer,
//! waiting for the customer, merging, colleagues in copy. Every command with good and bad
//! arguments, and every refusal changes nothing.

use chrono::{DateTime, Duration, TimeZone, Utc};
use chrono_tz::Europe::Rome;

use super::address::Address;
use super::decide::*;
use super::decide_tests::{
    addr, facts, now, request, rossi, sent, ticket_42, verdi_expired, GOOD_TEXT,
};
use super::decision::*;
use super::inbound::{Attachment, Inbound};
use super::lifecycle_tests::{
    events, from_customer, from_operator, kinds, new_status, ticket, with_ticket,
};
use super::ticket::{EventKind, Extra, PendingQuote, TicketCode, TicketFacts, TicketState};
use super::timers;

fn rome(d: u32, h: u32) -> DateTime<Utc> {
    Rome.with_ymd_and_hms(2026, 3, d, h, 0, 0)
        .single()
        .expect("valid")
        .with_timezone(&Utc)
}

fn giulia(text: &str, t: TicketFacts) -> Decision {
    decide(&from_operator("Giulia", text), &with_ticket(t), &settings())
}

fn settings() -> Settings {
    super::decide_tests::settings()
}

/// The refusal's reason name, or "applied".
fn refused(d: &Decision) -> &'static str {
    match &d.outcome {
        Outcome::CommandRefused(r) => r.name(),
        _ => "applied",
    }
}

fn time_entries(d: &Decision) -> Vec<(String, i32)> {
    d.effects
        .iter()
        .filter_map(|e| match e {
            Effect::RecordTime(t) => Some((t.operator.clone(), t.minutes)),
            _ => None,
        })
        .collect()
}

#[test]
fn time_is_recorded_for_the_operator_on_the_day_and_goes_with_the_answer() {
    let d = giulia(
        "#tempo 1h30\n#tempo 15m\nAbbiamo corretto il modulo.",
        ticket(TicketState::Taken),
    );
    assert_eq!(refused(&d), "applied");
    assert_eq!(
        time_entries(&d),
        [("Giulia".to_string(), 90), ("Giulia".to_string(), 15)]
    );
    let day = d.effects.iter().find_map(|e| match e {
        Effect::RecordTime(t) => Some(t.day),
        _ => None,
    });
    assert_eq!(day, Some(now().with_timezone(&Rome).date_naive()));
    assert_eq!(
        kinds(&d),
        [(MailKind::Relay, vec!["mario@rossi.it".into()])]
    );
    assert!(events(&d).contains(&EventKind::TimeSpent));
}

#[test]
fn a_bad_time_is_refused_and_nothing_is_recorded() {
    for text in ["#tempo 0", "#tempo 99999h", "#tempo 90", "#tempo\nciao"] {
        let d = giulia(text, ticket(TicketState::Taken));
        assert_eq!(refused(&d), "bad_command", "{text}");
        assert!(time_entries(&d).is_empty(), "{text}");
        assert_eq!(kinds(&d).len(), 1, "only the refusal: {text}");
    }
}

#[test]
fn a_correction_takes_back_at_most_the_time_recorded() {
    let mut t = ticket(TicketState::Taken);
    t.time_minutes = 20;
    let d = giulia("#tempo -30m", t.clone());
    assert_eq!(refused(&d), "time_below_zero");
    t.time_minutes = 45;
    let d = giulia("#tempo -30m", t);
    assert_eq!(time_entries(&d), [("Giulia".to_string(), -30)]);
    // A ticket closed for good takes no more time.
    let d = giulia("#tempo 1h", ticket(TicketState::Closed));
    assert_eq!(refused(&d), "ticket_closed");
}

#[test]
fn an_urgent_request_outside_hours_starts_as_possible_extra_until_an_operator_decides() {
    let saturday = Inbound {
        received_at: rome(14, 10),
        ..request(
            "mario@rossi.it",
            "mario@rossi.it",
            &format!("URGENTE\n{GOOD_TEXT}"),
        )
    };
    let opened = |msg: &Inbound| {
        decide(msg, &facts(vec![rossi()]), &settings())
            .effects
            .iter()
            .find_map(|e| match e {
                Effect::OpenTicket(t) => Some(t.status.extra),
                _ => None,
            })
    };
    assert_eq!(opened(&saturday), Some(Extra::Possible));
    let tuesday = Inbound {
        received_at: now(),
        ..saturday.clone()
    };
    assert_eq!(
        opened(&tuesday),
        Some(Extra::No),
        "urgent within office hours"
    );

    let mut t = ticket(TicketState::Taken);
    t.status.extra = Extra::Possible;
    let d = giulia("#extra", t.clone());
    assert_eq!(new_status(&d).map(|s| s.extra), Some(Extra::Yes));
    let d = giulia("#non-extra\nNon è un intervento extra.", t);
    assert_eq!(new_status(&d).map(|s| s.extra), Some(Extra::No));
    assert_eq!(
        kinds(&d)[0].0,
        MailKind::Relay,
        "the text still reaches the customer"
    );
}

fn pdf() -> Attachment {
    Attachment {
        filename: "preventivo.pdf".into(),
        content_type: "application/pdf".into(),
        data: b"%PDF-1.4".to_vec(),
    }
}

#[test]
fn a_quote_goes_to_the_customer_with_its_files_and_the_ticket_waits_for_approval() {
    let msg = Inbound {
        attachments: vec![pdf()],
        ..from_operator("Giulia", "#preventivo 1.250,00\nIn allegato il dettaglio.")
    };
    let d = decide(&msg, &with_ticket(ticket(TicketState::Taken)), &settings());
    let st = new_status(&d).expect("status");
    assert_eq!(st.state, TicketState::AwaitingApproval);
    // Three office days later: Friday at the same hour.
    assert_eq!(st.customer_reminder_at, Some(rome(13, 10)));
    let quote = d.effects.iter().find_map(|e| match e {
        Effect::RecordQuote(q) => Some(q),
        _ => None,
    });
    assert_eq!(quote.map(|q| q.amount_cents), Some(125_000));
    let mails = sent(&d);
    assert_eq!(mails.len(), 1, "the quote only, no separate answer");
    let mail = mails[0];
    assert_eq!(mail.kind, MailKind::Quote);
    assert_eq!(mail.attachments.len(), 1);
    assert!(mail.subject.contains("Preventivo"), "{}", mail.subject);
    for words in [
        "1.250,00 €",
        "ACCETTO",
        "RIFIUTO",
        "In allegato il dettaglio.",
    ] {
        assert!(mail.body.contains(words), "{words}: {}", mail.body);
    }
}

#[test]
fn a_quote_with_a_bad_amount_is_refused() {
    for text in [
        "#preventivo -5",
        "#preventivo abc",
        "#preventivo",
        "#preventivo 0",
    ] {
        let d = giulia(text, ticket(TicketState::Taken));
        assert_eq!(refused(&d), "bad_command", "{text}");
        assert!(new_status(&d).is_none(), "{text}");
    }
    let d = giulia("#preventivo 100", ticket(TicketState::Resolved));
    assert_eq!(refused(&d), "ticket_resolved");
}

fn awaiting_approval() -> TicketFacts {
    let mut t = ticket(TicketState::AwaitingApproval);
    t.status.customer_reminder_at = Some(rome(13, 10));
    t.pending_quote = Some(PendingQuote {
        amount_cents: 25_000,
        sent_at: now() - Duration::hours(2),
        operator: "Giulia".into(),
    });
    t
}

fn customer_says(text: &str, t: TicketFacts) -> Decision {
    decide(&from_customer(text, now()), &with_ticket(t), &settings())
}

#[test]
fn accetto_on_the_first_line_is_the_customers_decision_told_to_both_sides() {
    let d = customer_says(
        "Accetto il preventivo, procedete pure.\n\n> Per accettarlo scriva ACCETTO, per rifiutarlo RIFIUTO",
        awaiting_approval(),
    );
    let answer = d.effects.iter().find_map(|e| match e {
        Effect::AnswerQuote { accepted, by, .. } => Some((*accepted, by.to_string())),
        _ => None,
    });
    assert_eq!(answer, Some((true, "mario@rossi.it".into())));
    assert_eq!(new_status(&d).map(|s| s.state), Some(TicketState::Taken));
    assert_eq!(
        kinds(&d),
        [
            (MailKind::QuoteAnswered, vec!["mario@rossi.it".into()]),
            (MailKind::QuoteNotice, vec!["giulia@kzweb.it".into()]),
        ]
    );
    assert!(
        sent(&d)[1].body.contains("250,00 €"),
        "{}",
        sent(&d)[1].body
    );
    assert!(events(&d).contains(&EventKind::QuoteAccepted));

    let d = customer_says("RIFIUTO\n\nInviato da iPhone", awaiting_approval());
    assert!(events(&d).contains(&EventKind::QuoteRefused));

    // A quote then #attesa: the answer to the quote ends the wait as any reply would.
    let mut waiting = awaiting_approval();
    waiting.status.state = TicketState::Waiting;
    waiting.status.auto_close_at = Some(rome(24, 10));
    let d = customer_says("ACCETTO", waiting);
    let st = new_status(&d).expect("back to the operator");
    assert_eq!((st.state, st.auto_close_at), (TicketState::Taken, None));
}

#[test]
fn any_other_reply_to_a_quote_is_an_ordinary_reply_and_the_quote_still_waits() {
    for text in [
        "Non accetto queste condizioni.",
        "Buongiorno, accetto.",
        "Potete scontare il 10%? ACCETTO se sì",
    ] {
        let d = customer_says(text, awaiting_approval());
        assert_eq!(kinds(&d)[0].0, MailKind::Forward, "{text}");
        assert!(
            !d.effects
                .iter()
                .any(|e| matches!(e, Effect::AnswerQuote { .. })),
            "{text}"
        );
        assert_eq!(new_status(&d), None, "{text}: still awaiting approval");
    }
}

#[test]
fn attesa_reminds_once_then_closes_with_the_usual_reopen_window() {
    let d = giulia(
        "#attesa\nCi può inviare le credenziali FTP?",
        ticket(TicketState::Taken),
    );
    let st = new_status(&d).expect("status").clone();
    assert_eq!(st.state, TicketState::Waiting);
    // Five office days, then five more: Tuesday 17, then Tuesday 24 March.
    assert_eq!(st.customer_reminder_at, Some(rome(17, 10)));
    assert_eq!(st.auto_close_at, Some(rome(24, 10)));
    assert_eq!(
        kinds(&d)[0].0,
        MailKind::Relay,
        "the question reaches the customer"
    );
    let d = giulia("#attesa 2g", ticket(TicketState::Taken));
    assert_eq!(
        new_status(&d).and_then(|s| s.customer_reminder_at),
        Some(rome(12, 10))
    );

    let mut t = ticket(TicketState::Taken);
    t.status = st;
    assert!(
        timers::due(&t, rome(17, 9), &settings()).is_empty(),
        "not yet"
    );
    let effects = timers::due(&t, rome(17, 10), &settings());
    let mail = reminder_mail(&effects).expect("the reminder");
    assert_eq!(mail.kind, MailKind::CustomerReminder);
    assert!(mail.body.contains("24 marzo 2026"), "{}", mail.body);
    t.status = status_of(&effects).expect("reminded");
    assert!(
        timers::due(&t, rome(18, 10), &settings()).is_empty(),
        "once"
    );

    let effects = timers::due(&t, rome(24, 11), &settings());
    let mail = reminder_mail(&effects).expect("the closure");
    assert_eq!(mail.kind, MailKind::Closure);
    let told: Vec<(MailKind, Vec<Address>)> = effects
        .iter()
        .filter_map(|e| match e {
            Effect::Send(m) if m.kind == MailKind::UnansweredNotice => Some((m.kind, m.to.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(
        told,
        [(MailKind::UnansweredNotice, vec![addr("giulia@kzweb.it")])],
        "the operator learns it left their list"
    );
    assert!(
        mail.body.contains("non avendo ricevuto risposta"),
        "{}",
        mail.body
    );
    let st = status_of(&effects).expect("closed");
    assert_eq!(st.state, TicketState::Resolved);
    assert_eq!(st.reopen_until, Some(rome(24, 11) + Duration::hours(48)));
}

fn reminder_mail(effects: &[Effect]) -> Option<&OutgoingMail> {
    effects.iter().find_map(|e| match e {
        Effect::Send(m) => Some(m),
        _ => None,
    })
}

fn status_of(effects: &[Effect]) -> Option<super::ticket::TicketStatus> {
    effects.iter().find_map(|e| match e {
        Effect::UpdateTicket { status, .. } => Some(status.clone()),
        _ => None,
    })
}

#[test]
fn a_customer_reply_brings_a_waiting_ticket_back_to_the_operator() {
    let d = giulia(
        "#attesa\nCi manda le credenziali?",
        ticket(TicketState::Taken),
    );
    let mut t = ticket(TicketState::Taken);
    t.status = new_status(&d).expect("waiting").clone();
    let d = customer_says("Ecco le credenziali: ...", t);
    let st = new_status(&d).expect("back");
    assert_eq!(
        (st.state, st.customer_reminder_at, st.next_deadline()),
        (TicketState::Taken, None, None)
    );
    assert_eq!(
        kinds(&d),
        [(MailKind::Forward, vec!["giulia@kzweb.it".into()])]
    );
}

fn other_ticket(number: u32, state: TicketState) -> TicketFacts {
    let mut t = ticket(state);
    t.id = i64::from(number);
    t.code = TicketCode { number, ..t.code };
    t
}

fn merge(text: &str, target: Option<TicketFacts>) -> Decision {
    let facts = Facts {
        merge_target: target,
        ..with_ticket(ticket(TicketState::Open))
    };
    decide(&from_operator("Giulia", text), &facts, &settings())
}

#[test]
fn unisci_moves_the_ticket_into_another_of_the_same_contract_and_tells_the_customer() {
    let msg = from_operator("Giulia", "#unisci KZ-2026-00012");
    assert_eq!(
        wanted(&msg, &settings()).merge_into.map(|c| c.to_string()),
        Some("KZ-2026-00012".into()),
        "the shell is asked for the other ticket"
    );
    let d = merge(
        "#unisci KZ-2026-00012",
        Some(other_ticket(12, TicketState::Taken)),
    );
    assert_eq!(refused(&d), "applied");
    let st = new_status(&d).expect("status");
    assert_eq!(st.state, TicketState::Merged);
    assert_eq!(st.merged_into.as_ref().map(|c| c.number), Some(12));
    assert!(
        matches!(d.effects.last(), Some(Effect::Merge { .. })),
        "the merge comes last"
    );
    let mail = sent(&d)[0];
    assert_eq!(mail.kind, MailKind::Merged);
    assert_eq!(mail.ticket.as_ref().map(|c| c.number), Some(12));
    assert!(mail.subject.contains("[KZ-2026-00012]"), "{}", mail.subject);
}

#[test]
fn unisci_is_refused_into_itself_an_unknown_or_closed_ticket_or_across_contracts() {
    let mut verdi = other_ticket(13, TicketState::Taken);
    verdi.contract = verdi_expired();
    for (text, target, reason) in [
        ("#unisci KZ-2026-00042", None, "merge_itself"),
        ("#unisci KZ-2026-00099", None, "merge_unknown"),
        ("#unisci XY-2026-00012", None, "merge_unknown"),
        (
            "#unisci KZ-2026-00013",
            Some(verdi),
            "merge_across_contracts",
        ),
        (
            "#unisci KZ-2026-00012",
            Some(other_ticket(12, TicketState::Closed)),
            "ticket_closed",
        ),
        (
            "#unisci KZ-2026-00012",
            Some(other_ticket(12, TicketState::Resolved)),
            "ticket_resolved",
        ),
        ("#unisci KZ-2026-00012\n#prendo", None, "bad_command"),
    ] {
        let d = merge(text, target);
        assert_eq!(refused(&d), reason, "{text}");
        assert_eq!(d.effects.len(), 1, "{text}: only the refusal");
    }
}

#[test]
fn copia_adds_only_addresses_of_the_contract_and_they_get_the_answers() {
    let d = giulia(
        "#copia anna@rossi.it\nEcco la risposta.",
        ticket(TicketState::Taken),
    );
    assert!(d.effects.iter().any(|e| matches!(
        e,
        Effect::Participant { added: true, address, .. } if address.as_str() == "anna@rossi.it"
    )));
    let relay = sent(&d)[0];
    assert_eq!(relay.cc, [addr("anna@rossi.it")]);

    // The requester gets every mail anyway: copying them changes nothing.
    let d = giulia("#copia mario@rossi.it\nEcco.", ticket(TicketState::Taken));
    assert!(!d
        .effects
        .iter()
        .any(|e| matches!(e, Effect::Participant { .. })));
    assert!(sent(&d)[0].cc.is_empty());

    let d = giulia("#copia fornitore@example.com", ticket(TicketState::Taken));
    assert_eq!(refused(&d), "not_of_contract");
    let d = giulia("#nocopia anna@rossi.it", ticket(TicketState::Taken));
    assert_eq!(refused(&d), "not_copied");
    let mut t = ticket(TicketState::Taken);
    t.participants = vec![addr("anna@rossi.it")];
    let d = giulia("#nocopia anna@rossi.it\n#chiudi\nFatto.", t);
    assert_eq!(refused(&d), "applied");
    assert!(sent(&d)[0].cc.is_empty(), "removed before the closure went");
}

#[test]
fn colleagues_in_to_or_cc_are_copied_and_strangers_only_named_to_operators() {
    let msg = Inbound {
        recipients: vec![
            addr("assistenza@kzweb.it"),
            addr("anna@rossi.it"),
            addr("fornitore@example.com"),
        ],
        ..request("mario@rossi.it", "mario@rossi.it", GOOD_TEXT)
    };
    let d = decide(&msg, &facts(vec![rossi()]), &settings());
    let ack = sent(&d)[0];
    assert_eq!(
        (ack.kind, ack.cc.clone()),
        (MailKind::Ack, vec![addr("anna@rossi.it")])
    );
    let everyone: Vec<&Address> = sent(&d)
        .iter()
        .flat_map(|m| m.to.iter().chain(&m.cc))
        .collect();
    assert!(
        !everyone
            .iter()
            .any(|a| a.as_str() == "fornitore@example.com"),
        "no backscatter: {everyone:?}"
    );
    let notice = sent(&d)[1];
    assert!(
        notice.body.contains("fornitore@example.com"),
        "{}",
        notice.body
    );
    assert!(notice.body.contains("anna@rossi.it"), "{}", notice.body);

    // On a reply, the colleague joins the ticket.
    let reply = Inbound {
        recipients: vec![addr("assistenza@kzweb.it"), addr("anna@rossi.it")],
        ..from_customer("Aggiungo la collega.", now())
    };
    let d = decide(&reply, &with_ticket(ticket_42()), &settings());
    assert!(events(&d).contains(&EventKind::ParticipantAdded));
}
