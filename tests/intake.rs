//! Intake end to end on the real Dovecot and Postfix: mail sent over SMTP, the real
//! `assistenza` binary with TLS to both, and the results read back over IMAP.

mod support;

use std::time::Duration;

use support::*;

const WAIT: Duration = Duration::from_secs(20);

const GOOD_BODY: &str = "Buongiorno, sono Mario Rossi.\r\nSito: https://www.rossi-impianti.it\r\n\
Il modulo contatti non invia più i messaggi e vorrei aggiornare gli orari nel piè di pagina.";

#[test]
fn valid_request_gives_one_ticket_and_one_acknowledgement_with_the_code() {
    let desk = Desk::new("valid");
    let mario = desk.customer_with_contract("mario");

    desk.send_request(&mario, &mario, GOOD_BODY);
    desk.handle(1);

    let inbox = wait_for(&mario, "INBOX", 1, WAIT);
    assert_eq!(inbox.len(), 1, "exactly one acknowledgement");
    let (subject, text) = subject_and_text(&inbox[0]);
    let tickets = desk.tickets_json();
    let code = tickets[0]["code"].as_str().expect("code").to_string();
    assert_eq!(tickets.as_array().map(Vec::len), Some(1));
    assert!(subject.starts_with(&format!("[{code}] ")), "{subject}");
    assert!(
        code.starts_with("KZ-20") && code.ends_with("-00001"),
        "{code}"
    );
    assert!(text.contains(&code));
    assert!(
        text.contains("Il modulo contatti non invia"),
        "the ack summarises the request"
    );
    assert!(
        text.contains("dal lunedì al venerdì"),
        "the ack gives office hours"
    );
    assert_eq!(
        header(&inbox[0], "Auto-Submitted").as_deref(),
        Some("auto-replied")
    );
    assert!(header(&inbox[0], "In-Reply-To").is_some_and(|v| v.contains("@example.it")));

    assert_eq!(
        count(&desk.support, "INBOX"),
        0,
        "nothing left in the inbox"
    );
    assert_eq!(count(&desk.support, "Processed"), 1);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(count(&mario, "INBOX"), 1, "no second acknowledgement");
    let shown = desk.ok(&["tickets", "show", &code]);
    assert!(shown.contains("Ack        sent"), "{shown}");
}

#[test]
fn each_rejection_reason_gets_its_reply_and_the_rejected_folder() {
    let desk = Desk::with(
        "reject",
        ImapTls::Starttls,
        "[intake]\nmax_message_bytes = 20000\n",
    );
    let anna = desk.customer("anna");
    let late = desk.customer("late");
    desk.contracts(&format!(
        "{}{}",
        contract_row("Rossi Impianti", &[&anna], "www.rossi-impianti.it"),
        expired_row("Caffè Verdi", &[&late])
    ));
    let big_body = format!("{GOOD_BODY}\r\n{}", "allegato ".repeat(4000));
    let cases: Vec<(String, String, String, &str)> = vec![
        (
            anna.clone(),
            format!("{anna} altro@example.it"),
            GOOD_BODY.into(),
            "più di un indirizzo",
        ),
        (
            anna.clone(),
            format!("Re: {anna}"),
            GOOD_BODY.into(),
            "altro testo oltre all'indirizzo",
        ),
        (
            anna.clone(),
            "nessuno@example.it".into(),
            GOOD_BODY.into(),
            "non è abilitato all'apertura",
        ),
        (late.clone(), late.clone(), GOOD_BODY.into(), "è scaduto il"),
        (
            anna.clone(),
            anna.clone(),
            "Mario Rossi: il sito non funziona più da ieri".into(),
            "manca il riferimento del sito",
        ),
        (
            anna.clone(),
            anna.clone(),
            "\r\n".into(),
            "non contiene una richiesta",
        ),
        (anna.clone(), anna.clone(), big_body, "troppo grande"),
    ];
    for (from, subject, body, _) in &cases {
        desk.send_request(from, subject, body);
    }
    desk.handle(cases.len());

    let anna_mail = wait_for(&anna, "INBOX", cases.len() - 1, WAIT);
    let late_mail = wait_for(&late, "INBOX", 1, WAIT);
    let texts: Vec<String> = anna_mail
        .iter()
        .chain(late_mail.iter())
        .map(|m| subject_and_text(m).1)
        .collect();
    assert_eq!(texts.len(), cases.len(), "one reply per rejected message");
    for (_, subject, _, phrase) in &cases {
        assert!(
            texts.iter().any(|t| t.contains(phrase)),
            "no reply says {phrase:?} (subject {subject:?})"
        );
    }
    for t in &texts {
        assert!(
            t.contains("Esempio:"),
            "every rejection shows a correct example"
        );
    }
    assert_eq!(count(&desk.support, "Rejected"), cases.len());
    assert_eq!(count(&desk.support, "INBOX"), 0);
    assert_eq!(
        desk.tickets_json().as_array().map(Vec::len),
        Some(0),
        "no ticket opened"
    );
}

#[test]
fn unknown_and_automatic_senders_are_quarantined_without_any_reply() {
    let desk = Desk::new("quarantine");
    let mario = desk.customer("mario");
    let stranger = desk.customer("stranger");
    desk.contracts(&contract_row("Rossi Impianti", &[&mario], ""));
    desk.send_request(&stranger, &stranger, GOOD_BODY);
    let mut auto = request(&mario, &desk.support, &mario, GOOD_BODY);
    auto.splice(0..0, b"Auto-Submitted: auto-replied\r\n".iter().copied());
    send(&mario, &desk.support, &auto);
    let mut list = request(&mario, &desk.support, &mario, GOOD_BODY);
    list.splice(0..0, b"List-Id: <news.example.it>\r\n".iter().copied());
    send(&mario, &desk.support, &list);
    desk.handle(3);
    assert_eq!(count(&desk.support, "Quarantine"), 3);
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(
        count(&stranger, "INBOX"),
        0,
        "no backscatter to an unknown sender"
    );
    assert_eq!(count(&mario, "INBOX"), 0, "no reply to automatic mail");
}

#[test]
fn malformed_message_in_front_does_not_stop_the_good_ones() {
    let desk = Desk::new("malformed");
    let mario = desk.customer_with_contract("mario");
    append(
        &desk.support,
        "INBOX",
        b"\x00\x01 garbage without any header\r\n\r\n\xff\xfe",
    );
    append(
        &desk.support,
        "INBOX",
        b"Content-Type: multipart/mixed; boundary=\"x\"\r\n\r\n--x\r\nbroken",
    );
    desk.send_request(&mario, &mario, GOOD_BODY);
    desk.handle(3);
    assert_eq!(
        wait_for(&mario, "INBOX", 1, WAIT).len(),
        1,
        "the good request is acknowledged"
    );
    assert_eq!(count(&desk.support, "Quarantine"), 2);
    assert_eq!(count(&desk.support, "Processed"), 1);
    assert_eq!(count(&desk.support, "INBOX"), 0);
}

#[test]
fn a_message_seen_again_after_a_restart_is_moved_but_never_processed_twice() {
    let desk = Desk::new("restart");
    let mario = desk.customer_with_contract("mario");
    desk.send_request(&mario, &mario, GOOD_BODY);
    desk.handle(1);
    assert_eq!(wait_for(&mario, "INBOX", 1, WAIT).len(), 1);

    // As if the daemon had died between commit and move: the same message is back in the
    // inbox (a new UID, the same Message-ID). A restart must move it and do nothing else.
    copy_all(&desk.support, "Processed", "INBOX");
    assert_eq!(count(&desk.support, "INBOX"), 1);
    desk.ok(&["run", "--once"]);
    assert_eq!(count(&desk.support, "INBOX"), 0);
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(count(&mario, "INBOX"), 1, "no second acknowledgement");
    assert_eq!(
        desk.tickets_json().as_array().map(Vec::len),
        Some(1),
        "no second ticket"
    );
}

#[test]
fn daemon_killed_mid_backlog_and_restarted_opens_each_ticket_once() {
    let desk = Desk::new("kill");
    desk.allow_many_replies();
    let mario = desk.customer_with_contract("mario");
    const N: usize = 40;
    for i in 0..N {
        let body = format!("{GOOD_BODY}\r\nRichiesta numero {i}.");
        desk.send_request(&mario, &mario, &body);
    }
    assert_eq!(wait_for(&desk.support, "INBOX", N, WAIT).len(), N);
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_assistenza"))
        .arg("--config")
        .arg(&desk.config)
        .arg("run")
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("daemon");
    // Kill it as soon as some but not all of the backlog is handled.
    let start = std::time::Instant::now();
    while count(&desk.support, "Processed") == 0 && start.elapsed() < WAIT {
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().expect("SIGKILL");
    child.wait().expect("reaped");
    desk.ok(&["run", "--once"]);
    let acks = wait_for(&mario, "INBOX", N, WAIT);
    std::thread::sleep(Duration::from_secs(1));
    let acks = if acks.len() < N {
        acks
    } else {
        fetch_all(&mario, "INBOX")
    };
    let tickets = desk.tickets_json();
    assert_eq!(
        tickets.as_array().map(Vec::len),
        Some(N),
        "one ticket per request"
    );
    let mut subjects: Vec<String> = acks.iter().map(|m| subject_and_text(m).0).collect();
    subjects.sort();
    let before = subjects.len();
    subjects.dedup();
    assert_eq!(subjects.len(), N, "every ticket acknowledged");
    // A duplicate can only come from a kill between SMTP acceptance and marking sent, and
    // the outbox sends on two SMTP lanes at once: one kill may catch both in that window
    // (tests/crash.rs allows the same two per kill).
    assert!(
        before - subjects.len() <= 2,
        "{} duplicate acknowledgements",
        before - subjects.len()
    );
    assert_eq!(count(&desk.support, "Processed"), N);
    assert_eq!(count(&desk.support, "INBOX"), 0);
}

#[test]
fn replies_over_the_hourly_limit_are_recorded_and_not_sent() {
    let desk = Desk::with(
        "limit",
        ImapTls::Implicit,
        "[intake]\nmax_replies_per_hour = 2\n",
    );
    let mario = desk.customer_with_contract("mario");
    for i in 0..3 {
        desk.send_request(&mario, &mario, &format!("{GOOD_BODY}\r\nRichiesta {i}."));
    }
    desk.handle(3);
    assert_eq!(desk.tickets_json().as_array().map(Vec::len), Some(3));
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(fetch_all(&mario, "INBOX").len(), 2, "only two acks sent");
    let status = desk.status();
    assert_eq!(status["outbox_held_7d"], 1, "{status:#}");
    assert_eq!(status["outbox_pending"], 0, "{status:#}");
    assert_eq!(status["outbox_failed_7d"], 0, "{status:#}");
    // The held ticket's history says why its acknowledgement never went.
    let shown: Vec<String> = desk
        .tickets_json()
        .as_array()
        .expect("tickets")
        .iter()
        .map(|t| desk.ok(&["tickets", "show", t["code"].as_str().expect("code")]))
        .collect();
    let held: Vec<&String> = shown
        .iter()
        .filter(|s| s.contains("held, never sent (rate limit: 2 mails an hour to"))
        .collect();
    assert_eq!(held.len(), 1, "{shown:#?}");
}

#[test]
fn colleague_request_acknowledges_the_requester_with_the_colleague_in_copy() {
    let desk = Desk::new("colleague");
    let mario = desk.customer("mario");
    let anna = desk.customer("anna");
    desk.contracts(&contract_row(
        "Rossi Impianti",
        &[&mario, &anna],
        "www.rossi-impianti.it",
    ));
    desk.send_request(&anna, &mario, GOOD_BODY);
    desk.handle(1);
    let to_mario = wait_for(&mario, "INBOX", 1, WAIT);
    let to_anna = wait_for(&anna, "INBOX", 1, WAIT);
    assert_eq!((to_mario.len(), to_anna.len()), (1, 1));
    assert!(header(&to_mario[0], "Cc").is_some_and(|cc| cc.contains(&anna)));
    assert!(subject_and_text(&to_mario[0])
        .1
        .contains(&format!("inviata da {anna} per conto di {mario}")));
}

#[test]
fn process_command_runs_the_same_pipeline_on_a_file() {
    let desk = Desk::new("process");
    let mario = desk.customer_with_contract("mario");
    let file = desk.dir.path().join("request.eml");
    std::fs::write(&file, request(&mario, &desk.support, &mario, GOOD_BODY)).expect("write");
    let dry = desk.ok(&["process", "--dry-run", file.to_str().expect("path")]);
    assert!(
        dry.contains("ticket") && dry.contains("would send"),
        "{dry}"
    );
    assert_eq!(
        desk.tickets_json().as_array().map(Vec::len),
        Some(0),
        "dry run records nothing"
    );
    let out = desk.ok(&["process", file.to_str().expect("path")]);
    assert!(out.contains("opened"), "{out}");
    assert_eq!(wait_for(&mario, "INBOX", 1, WAIT).len(), 1);
    let again = desk.ok(&["process", file.to_str().expect("path")]);
    assert!(again.contains("already recorded"), "{again}");
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(count(&mario, "INBOX"), 1);
}
