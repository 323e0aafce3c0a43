//! The mail servers go away while the daemon runs: Dovecot restarts (idle, or in the
//! middle of a backlog), Postfix stops or refuses the login, and an SMTP session breaks at
//! an exact point of a mail (through `support::forward`). These tests stop and start the
//! daemons of a private mail stack (its own directory and ports), so the other test
//! binaries, which share the default stack, run undisturbed. They take turns, since each
//! stops a server the other needs.

mod support;

use std::sync::Mutex;
use std::time::Duration;

use support::forward::{Cut, Forwarder};
use support::*;

const REQUEST: &str = "Buongiorno, sono Mario Rossi.\r\nSito: https://www.rossi-impianti.it\r\n\
Il modulo contatti non invia più i messaggi.";
const WAIT: Duration = Duration::from_secs(40);

static TURN: Mutex<()> = Mutex::new(());

fn private_stack() -> std::sync::MutexGuard<'static, ()> {
    use_private_stack("outages", 11000);
    let turn = TURN.lock().unwrap_or_else(|p| p.into_inner());
    // Whatever the last test left stopped is started again.
    mailstack().arg("up").output().expect("mailstack up");
    turn
}

fn mail_daemon(action: &str, which: &str) {
    let out = mailstack()
        .args([action, which])
        .output()
        .expect("mailstack");
    assert!(
        out.status.success(),
        "mailstack {action} {which}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn dovecot_restarting_mid_run_is_survived_and_mail_sent_meanwhile_is_handled() {
    let _turn = private_stack();
    let desk = Desk::new("dovecot");
    let mario = desk.customer_with_contract("mario");
    let daemon = desk.start();
    desk.send_request(&mario, &mario, REQUEST);
    assert_eq!(wait_for(&mario, "INBOX", 1, WAIT).len(), 1);

    mail_daemon("stop", "dovecot");
    // Postfix takes the request and holds it until Dovecot is back.
    desk.send_request(&mario, &mario, &format!("{REQUEST}\r\nSeconda richiesta."));
    // Long enough for several reconnection attempts.
    std::thread::sleep(Duration::from_secs(4));
    mail_daemon("start", "dovecot");

    assert_eq!(
        wait_for(&mario, "INBOX", 2, WAIT).len(),
        2,
        "{}",
        daemon.log_text()
    );
    assert_eq!(desk.tickets_json().as_array().map(Vec::len), Some(2));
    let (status, _, log) = daemon.stop();
    assert!(status.success(), "{log}");
    // One line per change of state, not one per attempt, and the return said as plainly
    // as the loss.
    assert_eq!(log.matches("IMAP session lost").count(), 1, "{log}");
    assert_eq!(log.matches("IMAP connection failed").count(), 1, "{log}");
    assert_eq!(log.matches("IMAP session back").count(), 1, "{log}");
    assert_eq!(log.matches("IMAP connected").count(), 1, "{log}");
}

#[test]
fn with_postfix_stopped_acknowledgements_wait_in_the_outbox_and_go_out_when_it_is_back() {
    let _turn = private_stack();
    let desk = Desk::new("postfix");
    let mario = desk.customer_with_contract("mario");
    let daemon = desk.start();
    mail_daemon("stop", "postfix");
    // One request arrives now, one arrived 40 minutes ago (as after a long outage): its
    // acknowledgement has already missed the 30-minute promise.
    append(
        &desk.support,
        "INBOX",
        &request(&mario, &desk.support, &mario, REQUEST),
    );
    let old = chrono::Utc::now() - chrono::Duration::minutes(40);
    let late = request(
        &mario,
        &desk.support,
        &mario,
        &format!("{REQUEST}\r\nDa ieri."),
    );
    append_at(&desk.support, "INBOX", &late, old);

    let start = std::time::Instant::now();
    let mut status = desk.status();
    while status["tickets_by_state"]["open"] != 2 && start.elapsed() < WAIT {
        std::thread::sleep(Duration::from_millis(100));
        status = desk.status();
    }
    assert_eq!(status["tickets_by_state"]["open"], 2, "{status:#}");
    assert_eq!(status["outbox_pending"], 2, "{status:#}");
    assert_eq!(status["healthy"], false, "{status:#}");
    let missed = status["acks"]["missed_unsent"].as_array().expect("list");
    assert_eq!(missed.len(), 1, "{status:#}");
    assert_eq!(count(&mario, "INBOX"), 0, "nothing can be sent yet");
    let text = desk.ok(&["status"]);
    assert!(text.contains("past the 30-minute promise"), "{text}");

    mail_daemon("start", "postfix");
    assert_eq!(
        wait_for(&mario, "INBOX", 2, WAIT).len(),
        2,
        "{}",
        daemon.log_text()
    );
    let start = std::time::Instant::now();
    while desk.status()["outbox_pending"] != 0 && start.elapsed() < WAIT {
        std::thread::sleep(Duration::from_millis(100));
    }
    let status = desk.status();
    assert_eq!(status["outbox_pending"], 0, "{status:#}");
    assert_eq!(status["acks"]["missed_sent_24h"], 1, "{status:#}");
    let (exit, _, log) = daemon.stop();
    assert!(exit.success(), "{log}");
}

/// A desk that gives a mail up after 2 failed attempts (1–2 s apart): any outage longer
/// than that would lose an acknowledgement if it counted against the mail.
fn impatient_desk(tag: &str) -> Desk {
    let desk = Desk::new(tag);
    desk.edit_config(|c| c.replace("[outbox]\n", "[outbox]\nmax_attempts = 2\n"));
    desk
}

#[test]
fn an_smtp_outage_longer_than_the_retries_gives_up_no_mail() {
    let _turn = private_stack();
    let desk = impatient_desk("longout");
    let mario = desk.customer_with_contract("mario");
    let daemon = desk.start();
    mail_daemon("stop", "postfix");
    append(
        &desk.support,
        "INBOX",
        &request(&mario, &desk.support, &mario, REQUEST),
    );
    daemon.wait_log("SMTP server unavailable", 1, WAIT);
    // Several connection attempts fail meanwhile (1 s, 2 s, 4 s apart).
    std::thread::sleep(Duration::from_secs(6));
    let status = desk.status();
    assert_eq!(status["outbox_failed_7d"], 0, "{status:#}");
    assert_eq!(status["outbox_pending"], 1, "{status:#}");

    mail_daemon("start", "postfix");
    assert_eq!(wait_for(&mario, "INBOX", 1, WAIT).len(), 1);
    daemon.wait_log("SMTP server takes mail again", 1, WAIT);
    let (exit, _, log) = daemon.stop();
    assert!(exit.success(), "{log}");
    // One line for the outage and one for its end, not one per attempt.
    assert_eq!(log.matches("SMTP server unavailable").count(), 1, "{log}");
    assert_eq!(
        log.matches("SMTP server takes mail again").count(),
        1,
        "{log}"
    );
    assert!(!log.contains("given up"), "{log}");
}

#[test]
fn a_refused_smtp_login_holds_mail_until_the_password_is_right_again() {
    let _turn = private_stack();
    let desk = impatient_desk("badlogin");
    let mario = desk.customer_with_contract("mario");
    let daemon = desk.start();
    // The mailbox password is changed on the server before the daemon's password file.
    let change = |password: &str| {
        let out = mailstack()
            .args(["adduser", &desk.support, password])
            .output()
            .expect("mailstack adduser");
        assert!(out.status.success(), "{out:?}");
    };
    change("rotated-elsewhere");
    desk.send_request(&mario, &mario, REQUEST);
    daemon.wait_log("SMTP server unavailable", 1, WAIT);
    assert!(daemon.log_text().contains("login"), "{}", daemon.log_text());
    std::thread::sleep(Duration::from_secs(4));
    let status = desk.status();
    assert_eq!(status["outbox_failed_7d"], 0, "{status:#}");
    assert_eq!(count(&mario, "INBOX"), 0);

    change(PASSWORD);
    assert_eq!(
        wait_for(&mario, "INBOX", 1, WAIT).len(),
        1,
        "{}",
        daemon.log_text()
    );
    let (exit, _, log) = daemon.stop();
    assert!(exit.success(), "{log}");
}

/// A count from the desk's database, read while the daemon runs.
fn db_count(desk: &Desk, sql: &str) -> usize {
    let db = rusqlite::Connection::open(desk.dir.path().join("desk.db")).expect("db");
    db.busy_timeout(Duration::from_secs(5))
        .expect("busy timeout");
    db.query_row(sql, [], |r| r.get::<_, i64>(0)).expect(sql) as usize
}

/// Polls `sql` until it counts at least one row.
fn wait_until_some(desk: &Desk, sql: &str) {
    let start = std::time::Instant::now();
    while db_count(desk, sql) == 0 {
        assert!(start.elapsed() < WAIT, "nothing for {sql}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Waits until all `n` tickets are open and the outbox is empty; then checks that every
/// ticket is acknowledged in its customer's mailbox and returns how many acknowledgements
/// were duplicated.
fn acks_per_ticket(desk: &Desk, customers: &[String], n: usize) -> usize {
    let start = std::time::Instant::now();
    while db_count(desk, "SELECT COUNT(*) FROM tickets") < n || desk.status()["outbox_pending"] != 0
    {
        assert!(
            start.elapsed() < WAIT,
            "outbox not drained: {:#}",
            desk.status()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let codes: Vec<String> = desk
        .tickets_json()
        .as_array()
        .expect("tickets")
        .iter()
        .map(|t| t["code"].as_str().expect("code").to_string())
        .collect();
    assert_eq!(codes.len(), n, "one ticket per request");
    let acks = acks_by_code(customers, &codes, WAIT);
    let missing: Vec<&String> = codes.iter().filter(|c| !acks.contains_key(*c)).collect();
    assert!(missing.is_empty(), "not acknowledged: {missing:?}");
    for (code, ids) in &acks {
        assert!(ids.iter().all(|id| id == &ids[0]), "{code}: {ids:?}");
    }
    acks.values().map(|ids| ids.len() - 1).sum()
}

#[test]
fn dovecot_restarting_in_the_middle_of_a_backlog_loses_and_doubles_nothing() {
    let _turn = private_stack();
    let desk = Desk::new("midfetch");
    desk.allow_many_replies();
    let customers: Vec<String> = (0..4)
        .map(|i| desk.customer_with_contract(&format!("f{i}")))
        .collect();
    const N: usize = 300;
    desk.backlog(&customers, N, REQUEST);
    let daemon = desk.start();
    // The first pass is under way: take the server away under it.
    const TICKETS: &str = "SELECT COUNT(*) FROM tickets";
    wait_until_some(&desk, TICKETS);
    // Frozen while Dovecot goes down, so the daemon cannot race through the rest of the
    // backlog during the second that stopping Dovecot takes on a busy machine.
    daemon.signal("STOP");
    let before = db_count(&desk, TICKETS);
    mail_daemon("stop", "dovecot");
    daemon.signal("CONT");
    eprintln!("IMAP stopped after {before} of {N} requests");
    assert!(before < N, "the backlog was done before Dovecot stopped");
    std::thread::sleep(Duration::from_secs(2));
    mail_daemon("start", "dovecot");
    let start = std::time::Instant::now();
    while count(&desk.support, "INBOX") > 0 && start.elapsed() < WAIT {
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(
        count(&desk.support, "Processed"),
        N,
        "{}",
        daemon.log_text()
    );
    let duplicates = acks_per_ticket(&desk, &customers, N);
    eprintln!("IMAP restart mid-backlog: {N} requests, {duplicates} duplicated acks");
    assert_eq!(duplicates, 0);
    let (status, _, log) = daemon.stop();
    assert!(status.success(), "{log}");
}

/// A desk whose mail goes through `forwarder` to the stack's plaintext SMTP port (no TLS,
/// no login: allowed on loopback), so the forwarder sees where each mail ends.
fn desk_behind(tag: &str) -> (Desk, Forwarder) {
    let desk = Desk::new(tag);
    desk.allow_many_replies();
    let forwarder = Forwarder::new(desk.stack.smtp_port);
    let submission = format!(
        "port = {}\ntls = \"starttls\"\nusername = \"{s}\"\npassword_file = \"password\"\nfrom = \"{s}\"\nca_file = \"{}\"\n",
        desk.stack.submission_port,
        desk.stack.ca.display(),
        s = desk.support,
    );
    desk.edit_config(|c| {
        assert!(c.contains(&submission), "{c}");
        c.replace(
            &submission,
            &format!(
                "port = {}\ntls = \"none\"\nfrom = \"{}\"\n",
                forwarder.port, desk.support
            ),
        )
    });
    forwarder.forward();
    (desk, forwarder)
}

/// The SMTP session breaks at `cut` in the middle of a 120-request backlog; then the
/// server refuses sessions for 2 s. Returns the duplicated acknowledgements.
fn smtp_cut_mid_backlog(tag: &str, cut: Cut) -> usize {
    let (desk, smtp) = desk_behind(tag);
    let customers: Vec<String> = (0..4)
        .map(|i| desk.customer_with_contract(&format!("{tag}{i}")))
        .collect();
    const N: usize = 120;
    desk.backlog(&customers, N, REQUEST);
    smtp.cut(cut);
    let daemon = desk.start();
    let duplicates = acks_per_ticket(&desk, &customers, N);
    assert!(smtp.mails() > 10, "the cut was not reached");
    let (status, _, log) = daemon.stop();
    assert!(status.success(), "{log}");
    assert!(log.contains("mail not sent, will retry"), "{log}");
    eprintln!("SMTP cut {cut:?}: {N} requests, {duplicates} duplicated acks");
    duplicates
}

#[test]
fn an_smtp_session_cut_before_a_mail_is_complete_loses_and_doubles_nothing() {
    let _turn = private_stack();
    assert_eq!(
        smtp_cut_mid_backlog("cutbefore", Cut::BeforeEndOfData(10)),
        0
    );
}

#[test]
fn an_smtp_session_cut_after_the_server_took_a_mail_sends_that_one_mail_twice() {
    // The server has the mail but its reply is lost: the daemon cannot know the mail went
    // and sends it again. This is the one place a duplicate can arise; it is the same
    // mail, with the same Message-ID.
    let _turn = private_stack();
    assert_eq!(smtp_cut_mid_backlog("cutafter", Cut::AfterEndOfData(10)), 1);
}
