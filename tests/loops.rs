//! Robots at both ends: a real auto-responder (Dovecot's Sieve `vacation`) on the
//! customer's mailbox and on the operators' while a ticket lives its whole life. The mail
//! exchanged stays bounded, no auto-reply opens or reopens a ticket. Runs on a private mail
//! stack because it needs Sieve turned on for delivery.

mod support;

use std::time::Duration;

use support::*;

const REQUEST: &str = "Buongiorno, sono Mario Rossi.\r\nSito: https://www.rossi-impianti.it\r\n\
Il modulo contatti non invia più i messaggi.";
const WAIT: Duration = Duration::from_secs(30);

fn vacation(address: &str) {
    let out = mailstack()
        .args(["vacation", address, "Sono in ferie fino a lunedì."])
        .output()
        .expect("mailstack vacation");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn vacation_responders_on_both_sides_loop_nothing_and_reopen_nothing() {
    use_private_stack("loops", 12000);
    let (desk, staff) = Desk::with_staff("loops");
    let mario = desk.customer_with_contract("mario");
    for who in [&mario, &staff.giulia, &staff.queue] {
        vacation(who);
    }
    let support = desk.support.clone();
    let daemon = desk.start();
    let op = |text: &str, subject: &str| {
        operator_sends(&staff.giulia, &support, subject, text, None);
    };

    desk.send_request(&mario, &mario, REQUEST);
    let notice = wait_for(&staff.queue, "INBOX", 1, WAIT);
    let (code, _) = desk.only_ticket();
    let subject = format!("Re: {}", subject_and_text(&notice[0]).0);
    op(
        "#prendo\nBuongiorno, controllo subito il modulo.\n\nGiulia",
        &subject,
    );
    wait_for(&mario, "INBOX", 2, WAIT);
    let answer = mail_with_subject(&mario, "INBOX", "Risposta");
    send(
        &mario,
        &support,
        &reply_mail(
            &mario,
            &support,
            "Re: modulo",
            &message_id(&answer),
            "Grazie, attendo.",
        ),
    );
    wait_for(&staff.giulia, "INBOX", 1, WAIT);
    op("#chiudi\nIl modulo ora funziona.\n\nGiulia", &subject);
    let inbox = wait_for(&mario, "INBOX", 3, WAIT);
    let closure = inbox
        .iter()
        .find(|m| subject_and_text(m).0.contains("Chiusura"))
        .expect("the closure");

    // A colleague writes to the customer by hand from the support address, in the
    // ticket's thread: the customer's vacation answers the desk. A naive desk would take
    // that for a reply within the reopen window.
    let by_hand = reply_mail(
        &support,
        &mario,
        &format!("Re: [{code}] una domanda"),
        &message_id(closure),
        "Buongiorno, una curiosità sul sito.",
    );
    send(&support, &mario, &by_hand);
    let quarantined = wait_for(&support, "Quarantine", 1, WAIT);
    assert!(
        quarantined
            .iter()
            .any(|m| subject_and_text(m).0.contains("Fuori ufficio")),
        "the vacation reply reached the desk and was quarantined"
    );
    // Give any auto-reply ping-pong time to show itself.
    std::thread::sleep(Duration::from_secs(5));

    let tickets = desk.tickets_json();
    assert_eq!(tickets.as_array().map(Vec::len), Some(1), "{tickets:#}");
    assert_eq!(tickets[0]["state"], "resolved", "no reopen: {tickets:#}");
    let show: serde_json::Value =
        serde_json::from_str(&desk.ok(&["tickets", "show", &code, "--json"])).expect("json");
    assert!(
        show["history"]
            .as_array()
            .expect("history")
            .iter()
            .all(|e| e["event"] != "reopened"),
        "{show:#}"
    );
    let mailboxes = [
        (&mario, "INBOX"),
        (&staff.giulia, "INBOX"),
        (&staff.queue, "INBOX"),
        (&support, "INBOX"),
        (&support, "Processed"),
        (&support, "Rejected"),
        (&support, "Quarantine"),
    ];
    let counts: Vec<usize> = mailboxes.iter().map(|(u, m)| count(u, m)).collect();
    let total: usize = counts.iter().sum();
    eprintln!("loops: mails in each mailbox {counts:?}, {total} in all");
    // Request, #prendo, reply, #chiudi (Processed); ack, answer, closure, the hand-written
    // mail (customer); notice (queue); forward (Giulia); one vacation reply (Quarantine).
    assert!(total <= 12, "mail exchanged is bounded: {counts:?}");
    assert_eq!(count(&support, "INBOX"), 0);
    let (status, _, log) = daemon.stop();
    assert!(status.success(), "{log}");
}
