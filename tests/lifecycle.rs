//! The whole life of a ticket by email on the real Dovecot and Postfix: operators take,
//! answer (with a PDF), escalate and close; the customer replies, reopens, and is refused
//! after the window; the scheduler reminds and closes for good. Time is moved by giving
//! mail an older INTERNALDATE (as after downtime), never by sleeping.

mod support;

use chrono::{Datelike, Duration, TimeZone, Utc, Weekday};
use chrono_tz::Europe::Rome;

use support::*;

const REQUEST: &str = "Buongiorno, sono Mario Rossi.\r\nSito: https://www.rossi-impianti.it\r\n\
Il modulo contatti non invia più i messaggi.";

const PDF: &[u8] =
    b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n";

fn state(desk: &Desk) -> serde_json::Value {
    desk.only_ticket().1
}

#[test]
fn the_whole_life_of_a_ticket_by_email() {
    let (desk, staff) = Desk::with_staff("life");
    let mario = desk.customer_with_contract("mario");
    let support = desk.support.clone();
    let op = |text: &str, subject: &str, pdf: Option<&[u8]>| {
        operator_sends(&staff.giulia, &support, subject, text, pdf);
        desk.handle(1);
    };

    // Request: the customer gets the ack, the queue a notice with the help.
    desk.send_request(&mario, &mario, REQUEST);
    desk.handle(1);
    let (code, row) = desk.only_ticket();
    assert_eq!(row["state"], "open");
    mail_with_subject(
        &mario,
        "INBOX",
        &format!("[{code}] Richiesta di assistenza presa"),
    );
    let notice = mail_with_subject(&staff.queue, "INBOX", &format!("[{code}] Nuovo ticket"));
    let (_, text) = subject_and_text(&notice);
    assert!(text.contains("Il modulo contatti non invia"), "{text}");
    assert!(
        text.contains("#prendo") && text.contains("#chiudi"),
        "{text}"
    );
    let notice_subject = format!("Re: {}", subject_and_text(&notice).0);

    // #prendo: Giulia is in charge.
    op("#prendo", &notice_subject, None);
    let row = state(&desk);
    assert_eq!(
        (row["state"].as_str(), row["operator"].as_str()),
        (Some("taken"), Some("giulia"))
    );

    // An answer with a quote attached reaches the customer from the support address.
    op(
        "Gentile cliente, in allegato il preventivo per il nuovo modulo.\n\nGiulia",
        &notice_subject,
        Some(PDF),
    );
    let answer = mail_with_subject(&mario, "INBOX", &format!("[{code}] Risposta"));
    let parsed = assistenza::mail::parse::parse(&answer, answer.len() as u64, Utc::now());
    assert!(
        parsed.text.contains("in allegato il preventivo"),
        "{}",
        parsed.text
    );
    assert_eq!(parsed.from.map(|a| a.to_string()), Some(support.clone()));
    assert_eq!(parsed.attachments.len(), 1);
    assert_eq!(parsed.attachments[0].filename, "preventivo.pdf");
    assert_eq!(parsed.attachments[0].content_type, "application/pdf");
    assert_eq!(parsed.attachments[0].data, PDF);
    assert!(
        !parsed.text.contains("#prendo"),
        "operators' help never reaches the customer"
    );

    // The customer's reply (threaded by In-Reply-To only) is forwarded to Giulia.
    send(
        &mario,
        &support,
        &reply_mail(
            &mario,
            &support,
            "Re: preventivo",
            &message_id(&answer),
            "Va bene, procedete pure.",
        ),
    );
    desk.handle(1);
    let fwd = mail_with_subject(
        &staff.giulia,
        "INBOX",
        &format!("[{code}] Risposta del cliente"),
    );
    assert!(subject_and_text(&fwd)
        .1
        .contains("Va bene, procedete pure."));

    // #chiudi: the customer gets the closure with the deadline and how to reopen.
    op("#chiudi\nIl nuovo modulo è online.", &notice_subject, None);
    let closure = mail_with_subject(&mario, "INBOX", &format!("[{code}] Chiusura"));
    let (_, text) = subject_and_text(&closure);
    assert!(text.contains("Il nuovo modulo è online."), "{text}");
    assert!(text.contains("rispondendo a questa email entro"), "{text}");
    assert_eq!(state(&desk)["state"], "resolved");

    // A reply within the window reopens: Giulia is told, the customer acknowledged.
    send(
        &mario,
        &support,
        &reply_mail(
            &mario,
            &support,
            &format!("Re: [{code}] Chiusura"),
            &message_id(&closure),
            "Il modulo non invia ancora.",
        ),
    );
    desk.handle(1);
    assert_eq!(state(&desk)["state"], "taken");
    mail_with_subject(
        &staff.giulia,
        "INBOX",
        &format!("[{code}] Ticket riaperto dal cliente"),
    );
    mail_with_subject(&mario, "INBOX", &format!("[{code}] Ticket riaperto"));

    // #chiudi 1h, received three hours ago: the window has passed by the time it is handled,
    // and the scheduler closes the ticket for good in the same run.
    let three_hours_ago = Utc::now() - Duration::hours(3);
    append_at(
        &support,
        "INBOX",
        &operator_mail(
            &staff.giulia,
            &support,
            &notice_subject,
            None,
            AUTHSERV_ID,
            "#chiudi 1h\nOra è a posto.",
            None,
        ),
        three_hours_ago,
    );
    desk.ok(&["run", "--once"]);
    assert_eq!(state(&desk)["state"], "closed");
    let last_closure = fetch_all(&mario, "INBOX")
        .into_iter()
        .rfind(|m| subject_and_text(m).0.contains("Chiusura"))
        .expect("second closure");
    assert!(subject_and_text(&last_closure).1.contains("Ora è a posto."));

    // A late reply gets the polite refusal with the template; the ticket stays closed.
    send(
        &mario,
        &support,
        &reply_mail(
            &mario,
            &support,
            &format!("Re: [{code}] Chiusura"),
            &message_id(&last_closure),
            "Scusate, un'ultima cosa.",
        ),
    );
    desk.handle(1);
    let refused = mail_with_subject(
        &mario,
        "INBOX",
        &format!("[{code}] Ticket chiuso definitivamente"),
    );
    let (_, text) = subject_and_text(&refused);
    assert!(text.contains("nuova richiesta"), "{text}");
    assert!(
        text.contains(&format!("Oggetto: {mario}")),
        "the template: {text}"
    );
    assert_eq!(state(&desk)["state"], "closed");
    assert_eq!(count(&desk.support, "INBOX"), 0, "every message was moved");

    // The administration sees the thread and who did what.
    let shown = desk.ok(&["tickets", "show", &code]);
    for event in [
        "opened",
        "taken",
        "answered",
        "customer_reply",
        "closed",
        "reopened",
        "closed_for_good",
        "reopen_refused",
    ] {
        assert!(
            shown.contains(&format!("  {event} ")),
            "{event} missing:\n{shown}"
        );
    }
    assert!(shown.contains("by giulia"), "{shown}");
    assert!(shown.contains("by sistema"), "{shown}");
}

#[test]
fn a_spoofed_operator_command_is_not_executed() {
    let (desk, staff) = Desk::with_staff("spoof");
    let mario = desk.customer_with_contract("mario");
    desk.send_request(&mario, &mario, REQUEST);
    desk.handle(1);
    let (code, _) = desk.only_ticket();
    let subject = format!("Re: [{code}] Nuovo ticket");
    // Forged: a pass from a server we do not trust, and no header at all.
    for authserv in ["mx.attacker.example", ""] {
        send(
            &staff.giulia,
            &desk.support,
            &operator_mail(
                &staff.giulia,
                &desk.support,
                &subject,
                None,
                authserv,
                "#chiudi\nChiuso.",
                None,
            ),
        );
    }
    let got = wait_for(
        &desk.support,
        "INBOX",
        2,
        std::time::Duration::from_secs(20),
    )
    .len();
    assert_eq!(got, 2);
    let out = desk.cli(&["run", "--once"]);
    assert!(out.status.success());
    let log = String::from_utf8_lossy(&out.stderr);
    assert_eq!(log.matches("possible spoof").count(), 2, "{log}");
    let row = state(&desk);
    assert_eq!(row["state"], "open", "nothing changed: {row}");
    assert!(row["operator"].is_null());
    assert_eq!(count(&desk.support, "Quarantine"), 2);
    std::thread::sleep(std::time::Duration::from_millis(500));
    assert_eq!(
        count(&mario, "INBOX"),
        1,
        "only the ack: no closure was sent"
    );
}

#[test]
fn escalation_reaches_the_team_who_then_answers_the_customer() {
    let (desk, staff) = Desk::with_staff("escalate");
    let mario = desk.customer_with_contract("mario");
    desk.send_request(&mario, &mario, REQUEST);
    desk.handle(1);
    let (code, _) = desk.only_ticket();
    let subject = format!("Re: [{code}] Nuovo ticket");
    operator_sends(
        &staff.giulia,
        &desk.support,
        &subject,
        "#secondo-livello sistemisti\nServe un controllo sul server di posta.",
        None,
    );
    desk.handle(1);
    let row = state(&desk);
    assert_eq!(
        (row["level"].as_u64(), row["team"].as_str()),
        (Some(2), Some("sistemisti"))
    );
    let esc = mail_with_subject(&staff.sergio, "INBOX", &format!("[{code}] Secondo livello"));
    let (_, text) = subject_and_text(&esc);
    assert!(
        text.contains("Il modulo contatti non invia"),
        "the whole thread: {text}"
    );
    assert!(
        text.contains("Serve un controllo sul server di posta."),
        "{text}"
    );

    // Sergio answers by replying to the escalation: he takes it and the customer hears from him.
    send(
        &staff.sergio,
        &desk.support,
        &operator_mail(
            &staff.sergio,
            &desk.support,
            &format!("Re: {}", subject_and_text(&esc).0),
            Some(&message_id(&esc)),
            AUTHSERV_ID,
            "#prendo\nBuongiorno, sono il sistemista: controllo ora.",
            None,
        ),
    );
    desk.handle(1);
    let row = state(&desk);
    assert_eq!(
        (row["state"].as_str(), row["operator"].as_str()),
        (Some("taken"), Some("sergio"))
    );
    let answer = mail_with_subject(&mario, "INBOX", &format!("[{code}] Risposta"));
    assert!(subject_and_text(&answer).1.contains("sono il sistemista"));
}

#[test]
fn urgent_request_on_a_sunday_alerts_on_call_and_an_untaken_ticket_is_reminded_once() {
    let (desk, staff) = Desk::with_staff("urgent");
    let mario = desk.customer_with_contract("mario");
    // A Sunday at 10:00 in Rome, at least a week ago: out of hours, and its first-contact
    // deadline (Monday 13:00) long past.
    let mut day = (Utc::now() - Duration::days(7))
        .with_timezone(&Rome)
        .date_naive();
    while day.weekday() != Weekday::Sun {
        day = day.pred_opt().expect("date");
    }
    let sunday = Rome
        .from_local_datetime(&day.and_hms_opt(10, 0, 0).expect("time"))
        .single()
        .expect("valid")
        .with_timezone(&Utc);
    append_at(
        &desk.support,
        "INBOX",
        &request(
            &mario,
            &desk.support,
            &mario,
            &format!("URGENTE\r\n{REQUEST}"),
        ),
        sunday,
    );
    desk.ok(&["run", "--once"]);
    let (code, row) = desk.only_ticket();
    assert_eq!(row["urgent"], true);
    let alert = mail_with_subject(
        &staff.oncall,
        "INBOX",
        &format!("[{code}] URGENTE fuori orario"),
    );
    assert!(subject_and_text(&alert)
        .1
        .contains("Il modulo contatti non invia"));
    let ack = mail_with_subject(
        &mario,
        "INBOX",
        &format!("[{code}] Richiesta di assistenza presa"),
    );
    let (_, text) = subject_and_text(&ack);
    assert!(
        text.contains("URGENTE") && text.contains("fatturati a parte"),
        "{text}"
    );
    assert!(
        text.contains("sarà esaminata a partire da lunedì"),
        "{text}"
    );

    // Nobody took it by Monday 13:00: the queue was reminded in the same run, once.
    mail_with_subject(&staff.queue, "INBOX", &format!("[{code}] Promemoria"));
    desk.ok(&["run", "--once"]);
    std::thread::sleep(std::time::Duration::from_millis(500));
    let reminders = fetch_all(&staff.queue, "INBOX")
        .iter()
        .filter(|m| subject_and_text(m).0.contains("Promemoria"))
        .count();
    assert_eq!(reminders, 1);
    assert!(desk.ok(&["tickets", "show", &code]).contains("reminded"));
}

#[test]
fn a_real_bounce_is_recorded_on_the_ticket_and_told_to_the_queue_never_answered() {
    let (desk, staff) = Desk::with_staff("bounce");
    // A customer on a contract whose mailbox does not exist: Postfix bounces the ack.
    let ghost = format!("{}@example.it", unique("ghost"));
    desk.contracts(&contract_row(
        "Fantasma srl",
        &[&ghost],
        "www.rossi-impianti.it",
    ));
    append(
        &desk.support,
        "INBOX",
        &request(&ghost, &desk.support, &ghost, REQUEST),
    );
    desk.ok(&["run", "--once"]);
    let (code, _) = desk.only_ticket();
    // The queue notice, then Postfix's report about the ack, back in the support mailbox.
    wait_for(&staff.queue, "INBOX", 1, std::time::Duration::from_secs(20));
    let dsn = wait_for(
        &desk.support,
        "INBOX",
        1,
        std::time::Duration::from_secs(30),
    );
    assert_eq!(dsn.len(), 1, "Postfix returned the undeliverable ack");
    desk.ok(&["run", "--once"]);

    let show: serde_json::Value =
        serde_json::from_str(&desk.ok(&["tickets", "show", &code, "--json"])).expect("json");
    let history = show["history"].as_array().expect("history");
    let bounced = history
        .iter()
        .find(|e| e["event"] == "bounced")
        .unwrap_or_else(|| panic!("no bounce in the history: {show:#}"));
    assert!(
        bounced["detail"].as_str().unwrap_or("").contains(&ghost),
        "{bounced}"
    );
    let notices = wait_for(&staff.queue, "INBOX", 2, std::time::Duration::from_secs(20));
    let notice = notices
        .iter()
        .map(|m| subject_and_text(m))
        .find(|(s, _)| s.contains("Mancata consegna"))
        .unwrap_or_else(|| panic!("no bounce notice to the queue"));
    assert!(notice.0.contains(&code), "{}", notice.0);
    assert!(notice.1.contains(&ghost), "{}", notice.1);
    assert_eq!(count(&desk.support, "INBOX"), 0);
    assert_eq!(count(&desk.support, "Processed"), 2, "request and bounce");
    // Nothing was sent back to the mailer-daemon: the outbox holds ack, notices only.
    let outbox: Vec<String> = {
        let db = rusqlite::Connection::open(desk.dir.path().join("desk.db")).expect("db");
        let mut stmt = db.prepare("SELECT recipients FROM outbox").expect("sql");
        stmt.query_map([], |r| r.get(0))
            .expect("rows")
            .collect::<Result<_, _>>()
            .expect("rows")
    };
    assert!(
        outbox
            .iter()
            .all(|r| !r.to_lowercase().contains("mailer-daemon")),
        "{outbox:?}"
    );
}
