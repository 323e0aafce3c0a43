//! Errors that say whether they will pass, on the real Dovecot and Postfix: a message that
//! can never be handled is set aside in Quarantine with its reason, the first-level queue
//! is told once, and the desk goes straight back to IDLE, so the next customer is not kept
//! waiting behind it.

mod support;

use std::time::{Duration, Instant};

use support::*;

const REQUEST: &str = "Buongiorno, sono Mario Rossi.\r\nSito: https://www.rossi-impianti.it\r\n\
Il modulo contatti non invia più i messaggi.";
const WAIT: Duration = Duration::from_secs(30);

/// Waits until `mailbox` of `user` holds exactly `n` messages.
fn wait_count(user: &str, mailbox: &str, n: usize) -> usize {
    let start = Instant::now();
    loop {
        let got = count(user, mailbox);
        if got == n || start.elapsed() > WAIT {
            return got;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// What a sysadmin does with `sqlite3 desk.db "DELETE FROM contracts WHERE customer = …"`:
/// the shell does not enforce foreign keys, so the customer's tickets are left pointing at
/// a contract no longer there.
fn delete_contract_by_hand(desk: &Desk, customer: &str) {
    let db = rusqlite::Connection::open(desk.dir.path().join("desk.db")).expect("db");
    db.pragma_update(None, "foreign_keys", "OFF")
        .expect("as the sqlite3 shell");
    let deleted = db
        .execute(
            "DELETE FROM contracts WHERE customer = ?1",
            [format!("Cliente {customer}")],
        )
        .expect("delete");
    assert_eq!(deleted, 1);
}

#[test]
fn a_message_that_can_never_be_handled_is_set_aside_and_the_next_request_is_acknowledged_at_once() {
    let (desk, staff) = Desk::with_staff("setaside");
    // Only IDLE can make an acknowledgement quick: the poll interval is 10 minutes.
    desk.edit_config(|c| c.replace("poll_interval_secs = 1", "poll_interval_secs = 600"));
    let mario = desk.customer_with_contract("mario");
    let anna = desk.customer_with_contract("anna");
    let daemon = desk.start();

    desk.send_request(&mario, &mario, REQUEST);
    let ack = wait_for(&mario, "INBOX", 1, WAIT);
    assert_eq!(ack.len(), 1, "{}", daemon.log_text());
    desk.only_ticket();

    // The sysadmin removes the customer by hand (the CLI can only disable a contract),
    // `sqlite3 desk.db "DELETE FROM contracts WHERE customer = '…'"`: the sqlite3 shell
    // does not enforce foreign keys unless told to, so the delete goes through and the
    // ticket (and the customer's address) is left pointing at a contract no longer there.
    // Every message on that ticket, or from that address, now fails the same way.
    delete_contract_by_hand(&desk, &mario);

    // Mario answers the acknowledgement: this can never be handled.
    let subject = subject_and_text(&ack[0]).0;
    send(
        &mario,
        &desk.support,
        &reply_mail(
            &mario,
            &desk.support,
            &format!("Re: {subject}"),
            &message_id(&ack[0]),
            "Il problema c'è ancora.",
        ),
    );
    // Once the daemon has tried it (set it aside, or left it for the next try)…
    let start = Instant::now();
    while ![
        "message set aside in quarantine",
        "message left in the mailbox",
    ]
    .iter()
    .any(|n| daemon.log_text().contains(n))
    {
        assert!(start.elapsed() < WAIT, "{}", daemon.log_text());
        std::thread::sleep(Duration::from_millis(50));
    }

    // The next customer's request, with IDLE on and a 10-minute poll: acknowledged at once.
    let sent = Instant::now();
    desk.send_request(&anna, &anna, REQUEST);
    let acks = wait_for(&anna, "INBOX", 1, WAIT);
    let took = sent.elapsed();
    assert_eq!(acks.len(), 1, "{}", daemon.log_text());
    eprintln!("acknowledgement {took:?} after sending, with a message set aside before it");
    assert!(
        took < Duration::from_secs(2),
        "acknowledged after {took:?}:\n{}",
        daemon.log_text()
    );

    // The failed message is in Quarantine, nothing is left in the mailbox.
    assert_eq!(
        wait_count(&desk.support, "Quarantine", 1),
        1,
        "{}",
        daemon.log_text()
    );
    assert_eq!(count(&desk.support, "INBOX"), 0, "{}", daemon.log_text());

    // The queue is told once, with the reason; Mario gets no reply to the failed message.
    let notice = mail_with_subject(&staff.queue, "INBOX", "Messaggio non elaborato");
    let (notice_subject, text) = subject_and_text(&notice);
    assert!(notice_subject.contains(&mario), "{notice_subject}");
    assert!(text.contains("Quarantine"), "{text}");
    assert!(text.contains("loading contract"), "{text}");
    // Anything else on its way has arrived before counting.
    let start = Instant::now();
    while !postfix_queue_empty() && start.elapsed() < WAIT {
        std::thread::sleep(Duration::from_millis(100));
    }
    let notices = fetch_all(&staff.queue, "INBOX")
        .iter()
        .filter(|m| subject_and_text(m).0.contains("Messaggio non elaborato"))
        .count();
    assert_eq!(notices, 1, "the queue is told once");
    assert_eq!(count(&mario, "INBOX"), 1, "no reply to the failed message");

    // `status` shows it, with why, as text and as JSON.
    let status = desk.status();
    assert_eq!(status["intake_failed_7d"], 1, "{status:#}");
    let reason = status["intake_failed_latest"][0]["reason"]
        .as_str()
        .expect("reason");
    assert!(
        reason.starts_with("permanent failure: ") && reason.contains("loading contract"),
        "{reason}"
    );
    assert_eq!(status["intake_failed_latest"][0]["sender"], mario.as_str());
    assert_eq!(status["healthy"], false);
    let text = desk.ok(&["status"]);
    assert!(text.contains("set aside    1 in Quarantine"), "{text}");
    assert!(text.contains(reason), "{text}");

    // Anna's ticket is open like any other.
    let tickets = desk.tickets_json();
    assert!(tickets.to_string().contains(&anna), "{tickets:#}");
    let (status, _, log) = daemon.stop();
    assert!(status.success(), "{log}");
    assert_eq!(
        log.matches("message set aside in quarantine").count(),
        1,
        "{log}"
    );
}

#[test]
fn a_deadline_that_can_never_be_handled_is_logged_once_and_the_others_still_fall_due() {
    let (desk, _staff) = Desk::with_staff("stuck");
    let mario = desk.customer_with_contract("mario");
    let anna = desk.customer_with_contract("anna");
    desk.send_request(&mario, &mario, REQUEST);
    desk.send_request(&anna, &anna, REQUEST);
    assert_eq!(wait_for(&desk.support, "INBOX", 2, WAIT).len(), 2);
    desk.ok(&["run", "--once"]);

    // Mario's contract deleted by hand (as above), and both tickets' first contact due an
    // hour ago, as if nobody had taken them all morning.
    delete_contract_by_hand(&desk, &mario);
    let db = rusqlite::Connection::open(desk.dir.path().join("desk.db")).expect("db");
    let past = "strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '-1 hour')";
    let due = db
        .execute(
            &format!("UPDATE tickets SET first_contact_due_at = {past}, next_deadline_at = {past}"),
            [],
        )
        .expect("due");
    assert_eq!(due, 2);
    drop(db);

    let daemon = desk.start();
    let start = Instant::now();
    while !daemon.log_text().contains("first contact deadline passed") {
        assert!(start.elapsed() < WAIT, "{}", daemon.log_text());
        std::thread::sleep(Duration::from_millis(50));
    }
    // Anna's ticket was reminded beside the broken one; give a spinning scheduler time to
    // show itself (it would try every 200 ms).
    std::thread::sleep(Duration::from_secs(3));
    let log = daemon.log_text();
    let failures = log.matches("deadline not handled").count();
    assert_eq!(failures, 1, "logged once, then left alone:\n{log}");
    assert!(log.contains("will fail the same way again"), "{log}");
    assert_eq!(
        log.matches("first contact deadline passed").count(),
        1,
        "{log}"
    );
}
