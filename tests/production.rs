//! The daemon as systemd runs it, on the real Dovecot and Postfix: IMAP IDLE, SIGTERM in
//! the middle of a backlog, SIGHUP, and the sysadmin's commands `check`, `status` and
//! `backup`. Outages of the mail servers are in `tests/outages.rs`, on a private stack.

mod support;

use std::time::{Duration, Instant};

use support::*;

const REQUEST: &str = "Buongiorno, sono Mario Rossi.\r\nSito: https://www.rossi-impianti.it\r\n\
Il modulo contatti non invia più i messaggi.";
const WAIT: Duration = Duration::from_secs(30);

/// A desk whose poll interval is 10 minutes: only IDLE can make it quick.
fn slow_polling_desk(tag: &str) -> Desk {
    let desk = Desk::new(tag);
    desk.edit_config(|c| c.replace("poll_interval_secs = 1", "poll_interval_secs = 600"));
    desk
}

#[test]
fn with_idle_a_request_is_acknowledged_without_waiting_for_the_poll_interval() {
    let desk = slow_polling_desk("idle");
    let mario = desk.customer_with_contract("mario");
    let daemon = desk.start();
    // The first pass (empty mailbox) is over when the status records it.
    let start = Instant::now();
    while desk.status()["last_poll_at"].is_null() && start.elapsed() < WAIT {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(desk.status()["intake_mode"], "idle");
    let sent = Instant::now();
    desk.send_request(&mario, &mario, REQUEST);
    let acks = wait_for(&mario, "INBOX", 1, Duration::from_secs(20));
    let took = sent.elapsed();
    assert_eq!(acks.len(), 1, "acknowledgement delivered");
    assert!(
        took < Duration::from_secs(20),
        "ack after {took:?} with a 600 s poll interval"
    );
    eprintln!("IDLE: acknowledgement in the customer's mailbox {took:?} after sending");
    let (status, stopped_in, log) = daemon.stop();
    assert!(status.success(), "exit status {status:?}\n{log}");
    assert!(
        stopped_in < Duration::from_secs(10),
        "stopped in {stopped_in:?}"
    );
    assert!(log.contains("assistenza stopped"), "{log}");
}

#[test]
fn with_idle_off_the_daemon_polls_at_its_interval() {
    let desk = Desk::new("poll");
    desk.edit_config(|c| {
        c.replace(
            "poll_interval_secs = 1",
            "poll_interval_secs = 1\nidle = false",
        )
    });
    let mario = desk.customer_with_contract("mario");
    let daemon = desk.start();
    desk.send_request(&mario, &mario, REQUEST);
    assert_eq!(
        wait_for(&mario, "INBOX", 1, WAIT).len(),
        1,
        "{}",
        daemon.log_text()
    );
    assert_eq!(desk.status()["intake_mode"], "poll");
    let (status, _, log) = daemon.stop();
    assert!(status.success(), "{log}");
}

#[test]
fn sigterm_during_a_backlog_exits_cleanly_and_a_restart_finishes_the_rest() {
    let desk = Desk::new("sigterm");
    desk.allow_many_replies();
    let customers: Vec<String> = (0..4)
        .map(|i| desk.customer_with_contract(&format!("c{i}")))
        .collect();
    const N: usize = 200;
    for i in 0..N {
        let from = &customers[i % customers.len()];
        let body = format!("{REQUEST}\r\nRichiesta numero {i}.");
        append(
            &desk.support,
            "INBOX",
            &request(from, &desk.support, from, &body),
        );
    }
    // Ready means logged in: the first pass over the backlog is under way.
    let daemon = desk.start();
    let (status, took, log) = daemon.stop();
    assert!(status.success(), "exit status {status:?}\n{log}");
    assert!(took < Duration::from_secs(10), "stopped in {took:?}\n{log}");
    // Nothing half-done: every message is either handled and moved, or untouched.
    let tickets = desk.tickets_json().as_array().map(Vec::len).unwrap_or(0);
    let (inbox, processed) = (
        count(&desk.support, "INBOX"),
        count(&desk.support, "Processed"),
    );
    eprintln!("SIGTERM after {processed} of {N} handled; stopped in {took:?}");
    assert!(
        processed < N,
        "the whole backlog was handled before SIGTERM"
    );
    assert_eq!(inbox + processed, N, "no message lost or duplicated");
    assert_eq!(tickets, processed, "every handled message is in Processed");
    // The restart finishes the rest: every request one ticket and one acknowledgement.
    desk.ok(&["run", "--once"]);
    assert_eq!(desk.tickets_json().as_array().map(Vec::len), Some(N));
    assert_eq!(count(&desk.support, "INBOX"), 0);
    let mut acks = 0;
    for c in &customers {
        acks += wait_for(c, "INBOX", N / customers.len(), WAIT).len();
    }
    assert_eq!(acks, N, "every request acknowledged once");
}

#[test]
fn sighup_reloads_the_operators_without_dropping_the_imap_session() {
    let desk = slow_polling_desk("hup");
    let daemon = desk.start();
    desk.edit_config(|c| {
        c + r#"
[[operators]]
name = "giulia"
addresses = ["operatore1@kzweb.it"]

[queue]
address = "operatore1@kzweb.it"

[operator_auth]
trusted_authserv_ids = ["mx.kzweb.test"]
"#
    });
    daemon.signal("HUP");
    daemon.wait_log("config reloaded", 1, WAIT);
    // A broken config is refused and the one in force stays.
    desk.edit_config(|c| c.replace("[queue]", "[queue]\nbogus = 1"));
    daemon.signal("HUP");
    daemon.wait_log("config not reloaded", 1, WAIT);
    // So is an address the core's grammar refuses, named by its key.
    desk.edit_config(|c| {
        c.replace(
            "bogus = 1\naddress = \"operatore1@kzweb.it\"",
            "address = \"mario..rossi@example.it\"",
        )
    });
    daemon.signal("HUP");
    daemon.wait_log("config not reloaded", 2, WAIT);
    let log = daemon.log_text();
    assert!(log.contains("operators=1"), "{log}");
    assert!(log.contains("queue.bogus"), "the key is named: {log}");
    assert!(
        log.contains("queue.address: \"mario..rossi@example.it\""),
        "the key is named: {log}"
    );
    assert_eq!(log.matches("config reloaded").count(), 1, "{log}");
    assert_eq!(log.matches("IMAP connected").count(), 1, "{log}");
    let (status, _, log) = daemon.stop();
    assert!(status.success(), "{log}");
}

/// What the daemon told "systemd" (a datagram socket standing in for it), in order.
fn notifications(
    sock: &std::os::unix::net::UnixDatagram,
    until: &str,
    within: Duration,
) -> Vec<String> {
    let mut got = Vec::new();
    let start = Instant::now();
    let mut buf = [0u8; 4096];
    while start.elapsed() < within {
        if let Ok(n) = sock.recv(&mut buf) {
            let text = String::from_utf8_lossy(&buf[..n]).into_owned();
            let done = text.lines().any(|l| l == until);
            got.push(text);
            if done {
                return got;
            }
        }
    }
    panic!("no {until:?} within {within:?}; got {got:?}");
}

#[test]
fn systemd_hears_ready_watchdog_pings_reloading_and_stopping() {
    let desk = Desk::new("notify");
    let path = desk.dir.path().join("notify.sock");
    let sock = std::os::unix::net::UnixDatagram::bind(&path).expect("bind");
    sock.set_read_timeout(Some(Duration::from_millis(100)))
        .expect("timeout");
    // A one-second watchdog: the daemon pings every half second.
    let daemon = desk.start_with(&[
        ("NOTIFY_SOCKET", path.as_os_str()),
        ("WATCHDOG_USEC", std::ffi::OsStr::new("1000000")),
    ]);
    let first = notifications(&sock, "READY=1", WAIT);
    assert!(
        first
            .last()
            .is_some_and(|m| m.contains("STATUS=watching INBOX")),
        "{first:?}"
    );
    let mut pings = 0;
    let start = Instant::now();
    while pings < 3 && start.elapsed() < WAIT {
        pings += notifications(&sock, "WATCHDOG=1", WAIT).len().min(1);
    }
    assert_eq!(pings, 3, "the watchdog is pinged while all is well");
    daemon.signal("HUP");
    let reload = notifications(&sock, "RELOADING=1", WAIT);
    assert!(!reload.is_empty());
    notifications(&sock, "READY=1", WAIT);
    daemon.signal("TERM");
    notifications(&sock, "STOPPING=1", WAIT);
    let (status, _, log) = daemon.stop();
    assert!(status.success(), "{log}");
}

#[test]
fn status_and_backup_work_while_the_daemon_runs() {
    let desk = Desk::new("status");
    let mario = desk.customer_with_contract("mario");
    let daemon = desk.start();
    desk.send_request(&mario, &mario, REQUEST);
    wait_for(&mario, "INBOX", 1, WAIT);
    let status = desk.status();
    assert_eq!(status["tickets_by_state"]["open"], 1, "{status:#}");
    assert_eq!(status["outbox_pending"], 0, "{status:#}");
    assert_eq!(status["mailbox"]["waiting"], 0, "{status:#}");
    assert_eq!(status["healthy"], true, "{status:#}");
    assert!(status["last_poll_at"].is_string(), "{status:#}");
    let text = desk.ok(&["status"]);
    assert!(text.contains("tickets      open 1"), "{text}");
    assert!(text.contains("healthy      yes"), "{text}");

    let copy = desk.dir.path().join("copy.db");
    let out = desk.ok(&["backup", copy.to_str().expect("path")]);
    assert!(out.contains("integrity ok"), "{out}");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&copy).expect("copy").permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "the copy holds personal data");
    let db = rusqlite::Connection::open(&copy).expect("open copy");
    let n: i64 = db
        .query_row("SELECT COUNT(*) FROM tickets", [], |r| r.get(0))
        .expect("count");
    assert_eq!(n, 1, "the copy has the ticket");
    let (status, _, log) = daemon.stop();
    assert!(status.success(), "{log}");
}

#[test]
fn check_passes_on_a_good_config_and_names_each_failure() {
    let desk = Desk::new("check");
    let ok = desk.ok(&["check"]);
    for what in ["config", "database", "imap", "mailbox", "folders", "smtp"] {
        assert!(
            ok.lines().any(|l| l.starts_with("ok") && l.contains(what)),
            "{what}: {ok}"
        );
    }
    let failing = |edit: &dyn Fn(&Desk), what: &str, needle: &str| {
        let original = std::fs::read_to_string(&desk.config).expect("config");
        edit(&desk);
        let out = desk.cli(&["check"]);
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(!out.status.success(), "check passed with {what}:\n{text}");
        let line = text
            .lines()
            .find(|l| l.starts_with("FAIL"))
            .unwrap_or_else(|| panic!("no FAIL line for {what}:\n{text}"));
        assert!(line.contains(needle), "{what}: {line}");
        std::fs::write(&desk.config, original).expect("restore");
    };
    let secret = desk.dir.path().join("password");
    failing(
        &|_| std::fs::write(&secret, "wrong\n").expect("secret"),
        "a wrong password",
        "refused",
    );
    std::fs::write(&secret, format!("{PASSWORD}\n")).expect("secret");
    let other_ca = desk.dir.path().join("other-ca.pem");
    let made = std::process::Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
        ])
        .args([
            "-subj",
            "/CN=not the mail server's CA",
            "-keyout",
            "/dev/null",
            "-out",
        ])
        .arg(&other_ca)
        .output()
        .expect("openssl");
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    failing(
        &|d| {
            let ca = d.stack.ca.display().to_string();
            d.edit_config(|c| c.replacen(&ca, other_ca.to_str().expect("path"), 1))
        },
        "a wrong CA",
        "certificate",
    );
    failing(
        &|d| d.edit_config(|c| c.replace("[imap]\n", "[imap]\nmailbox = \"Nessuna\"\n")),
        "a missing mailbox",
        "Nessuna",
    );
    set_mode(&secret, 0o644);
    failing(&|_| {}, "a world-readable secret", "chmod 600");
    set_mode(&secret, 0o600);
}

#[test]
fn a_database_locked_by_another_process_delays_a_request_and_loses_nothing() {
    let desk = Desk::new("lock");
    let mario = desk.customer_with_contract("mario");
    let daemon = desk.start();
    // Another process holds the write lock: an administrator's sqlite3 session, say.
    let db = rusqlite::Connection::open(desk.dir.path().join("desk.db")).expect("db");
    db.execute_batch("BEGIN EXCLUSIVE").expect("lock");
    desk.send_request(&mario, &mario, REQUEST);
    // The daemon waits for the lock (10 s), then leaves the message where it is.
    daemon.wait_log("message left in the mailbox, will retry", 1, WAIT);
    assert_eq!(count(&desk.support, "INBOX"), 1, "still in the mailbox");
    assert_eq!(count(&mario, "INBOX"), 0, "nothing sent");
    db.execute_batch("COMMIT").expect("unlock");
    // Handled on the next try, once.
    assert_eq!(
        wait_for(&mario, "INBOX", 1, WAIT).len(),
        1,
        "{}",
        daemon.log_text()
    );
    assert_eq!(desk.tickets_json().as_array().map(Vec::len), Some(1));
    assert_eq!(count(&desk.support, "INBOX"), 0);
    assert_eq!(count(&desk.support, "Processed"), 1);
    let (status, _, log) = daemon.stop();
    assert!(status.success(), "{log}");
}
