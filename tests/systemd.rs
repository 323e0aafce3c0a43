//! The Debian package under a real systemd. Debian 12 boots with systemd as PID 1 in a
//! container, the package is installed there with apt, and the daemon, pointed at the
//! private mail stack on the host's loopback, is checked the way a sysadmin would, with
//! `systemctl` and `journalctl`: the install, a start that waits for READY, a request and
//! its acknowledgement, reload, the watchdog, SIGKILL, stop, the journal's priorities,
//! the sandbox's score, an upgrade over itself, remove and purge. One test, in that
//! order, since each step starts from where the last one left the machine.
//!
//! `scripts/systemd-test` builds the two packages and the container's root (cached) and
//! runs this with ASSISTENZA_DEB, ASSISTENZA_DEB_UPGRADE and ASSISTENZA_ROOT_TAR set, as
//! root; `scripts/test` runs it.

mod support;

use std::collections::HashSet;
use std::time::{Duration, Instant};

use support::container::Container;
use support::*;

const UNIT: &str = "assistenza.service";
const BODY: &str = "Buongiorno, sono un cliente.\r\nSito: https://www.rossi-impianti.it\r\n\
Il modulo contatti non invia più i messaggi.";
/// Run as the daemon's user, as the sysadmin is told to.
const AS_DAEMON: &str = "runuser -u assistenza -- assistenza";

fn env_path(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: run this test through scripts/systemd-test, which builds it")
    })
}

struct Desk {
    ct: Container,
    support: String,
    customer: String,
}

fn step(what: &str) {
    println!("systemd-test: ok  {what}");
}

#[test]
fn the_package_under_a_real_systemd() {
    let ct = Container::boot(std::path::Path::new(&env_path("ASSISTENZA_ROOT_TAR")));
    println!(
        "systemd-test: booted {}",
        ct.ok("systemd --version | head -n1").trim()
    );
    let support = format!("{}@kzweb.it", unique("support-systemd"));
    let customer = format!("{}@example.it", unique("systemd"));
    add_users(&[support.clone(), customer.clone()]);
    let desk = Desk {
        ct,
        support,
        customer,
    };
    install(&desk);
    start_waits_for_ready(&desk);
    a_request_is_acknowledged(&desk, 1);
    reload_keeps_the_session(&desk);
    watchdog(&desk);
    kill_loses_nothing(&desk);
    metrics(&desk);
    stop_is_clean(&desk);
    journal_priorities(&desk);
    security_score(&desk);
    upgrade_keeps_the_config(&desk);
    remove_and_purge(&desk);
}

fn install(d: &Desk) {
    let deb = env_path("ASSISTENZA_DEB");
    std::fs::copy(&deb, d.ct.path("/root/assistenza.deb")).expect("copy the package");
    let out = d.ct.ok("apt-get install -y /root/assistenza.deb 2>&1");
    assert!(
        out.contains("not started"),
        "the install says the service waits for its config:\n{out}"
    );
    let stat = |p: &str| {
        d.ct.ok(&format!("stat -c '%a %U:%G' {p}"))
            .trim()
            .to_string()
    };
    assert_eq!(stat("/etc/assistenza/config.toml"), "640 root:assistenza");
    assert_eq!(stat("/var/lib/assistenza"), "700 assistenza:assistenza");
    assert_eq!(stat("/usr/bin/assistenza"), "755 root:root");
    let user = d.ct.ok("getent passwd assistenza");
    assert!(
        user.trim_end()
            .ends_with(":/var/lib/assistenza:/usr/sbin/nologin"),
        "{user}"
    );
    let conffiles = d.ct.ok("dpkg-query -W -f '${Conffiles}' assistenza");
    assert!(
        conffiles.contains("/etc/assistenza/config.toml"),
        "{conffiles}"
    );
    assert_eq!(
        d.ct.sh("systemctl is-enabled assistenza").stdout,
        b"disabled\n"
    );
    assert_eq!(
        d.ct.sh("systemctl is-active assistenza").stdout,
        b"inactive\n"
    );
    step("apt install: user, /var/lib/assistenza 0700, config 0640 root:assistenza (a conffile), service not enabled nor started");

    let man =
        d.ct.ok("MANPAGER=cat MANWIDTH=80 man assistenza-contracts-import 2>/dev/null");
    assert!(
        man.contains("assistenza-contracts-import"),
        "man page:\n{man}"
    );
    let man = d.ct.ok("MANPAGER=cat man assistenza 2>/dev/null");
    assert!(
        man.contains("contracts") && man.contains("report"),
        "man assistenza:\n{man}"
    );
    let words = d.ct.ok(
        "bash -c '. /usr/share/bash-completion/completions/assistenza; \
         COMP_WORDS=(assistenza con); COMP_CWORD=1; COMP_LINE=\"assistenza con\"; \
         COMP_POINT=${#COMP_LINE}; _assistenza assistenza con assistenza; echo ${COMPREPLY[@]}'",
    );
    assert_eq!(
        words.trim(),
        "contracts",
        "bash completion of `assistenza con`"
    );
    let templates = d.ct.ok("ls /usr/share/assistenza/templates | wc -l");
    assert!(
        templates.trim().parse::<u32>().unwrap_or(0) > 20,
        "templates: {templates}"
    );
    step("man assistenza, man assistenza-contracts-import, bash completion, the templates to copy");

    let check = d.ct.sh(&format!("{AS_DAEMON} check 2>&1"));
    let said = String::from_utf8_lossy(&check.stdout);
    assert!(
        !check.status.success(),
        "check passes on the example config:\n{said}"
    );
    assert!(
        said.contains("password_file"),
        "check names what is missing:\n{said}"
    );
    println!("systemd-test: `assistenza check` before configuring says:\n{said}");
    step("assistenza check on the shipped example fails and names what is missing");
}

/// The config a sysadmin would write: the example edited for this mail server.
fn config(d: &Desk, imaps_port: u16) -> String {
    let s = stack();
    format!(
        "# Edited by the sysadmin.\n[imap]\nhost = \"127.0.0.1\"\nport = {imaps_port}\n\
         tls = \"implicit\"\nusername = \"{u}\"\npassword_file = \"imap.pass\"\n\
         ca_file = \"ca.pem\"\n\n[smtp]\nhost = \"127.0.0.1\"\nport = {sub}\n\
         tls = \"starttls\"\nusername = \"{u}\"\npassword_file = \"smtp.pass\"\n\
         from = \"{u}\"\nca_file = \"ca.pem\"\n\n[intake]\nmax_replies_per_hour = 10000\n",
        u = d.support,
        sub = s.submission_port,
    )
}

fn write_config(d: &Desk, imaps_port: u16) {
    std::fs::write(
        d.ct.path("/etc/assistenza/config.toml"),
        config(d, imaps_port),
    )
    .expect("config");
}

/// A port on the host's loopback where nothing listens.
fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

fn start_waits_for_ready(d: &Desk) {
    std::fs::copy(&stack().ca, d.ct.path("/etc/assistenza/ca.pem")).expect("ca");
    for file in ["imap.pass", "smtp.pass"] {
        std::fs::write(
            d.ct.path(&format!("/etc/assistenza/{file}")),
            format!("{PASSWORD}\n"),
        )
        .expect("password");
        d.ct.ok(&format!(
            "chown assistenza:assistenza /etc/assistenza/{file}; chmod 600 /etc/assistenza/{file}"
        ));
    }
    d.ct.ok(&format!(
        "{AS_DAEMON} contracts add --customer 'Rossi Impianti' --addresses {} \
         --from 2020-01-01 --until 2099-12-31 --references www.rossi-impianti.it",
        d.customer
    ));
    // First with an IMAP port nobody answers on: the daemon runs, retries, and the unit
    // must stay "activating" since READY never comes.
    write_config(d, closed_port());
    d.ct.ok("systemctl start --no-block assistenza");
    std::thread::sleep(Duration::from_secs(4));
    let state = (
        d.ct.property(UNIT, "ActiveState"),
        d.ct.property(UNIT, "SubState"),
    );
    assert_eq!(state, ("activating".into(), "start".into()), "before READY");
    d.ct.ok("systemctl stop assistenza");
    step("with IMAP unreachable the unit stays `activating (start)`: no READY, not active");

    write_config(d, stack().imaps_port);
    d.ct.ok(&format!("{AS_DAEMON} check"));
    let started = Instant::now();
    d.ct.ok("systemctl enable --now assistenza");
    let took = started.elapsed();
    let state =
        d.ct.ok("systemctl status --no-pager assistenza | sed -n 3p");
    assert!(state.contains("active (running)"), "{state}");
    let exec = d.ct.property(UNIT, "ExecMainStartTimestampMonotonic");
    let active = d.ct.property(UNIT, "ActiveEnterTimestampMonotonic");
    let (exec, active): (u64, u64) = (exec.parse().expect("µs"), active.parse().expect("µs"));
    assert!(
        active > exec,
        "active only after the process started and said READY"
    );
    let status = d.ct.property(UNIT, "StatusText");
    assert!(
        status.starts_with("watching INBOX on 127.0.0.1"),
        "status text: {status}"
    );
    step(&format!(
        "assistenza check passes; `systemctl enable --now` returned after {:.2} s, active (running) {:.0} ms after exec, status \"{status}\"",
        took.as_secs_f64(),
        (active - exec) as f64 / 1000.0
    ));
}

fn acks(d: &Desk) -> Vec<String> {
    fetch_all(&d.customer, "INBOX")
        .iter()
        .map(|raw| subject_and_text(raw).0)
        .filter(|s| s.starts_with('['))
        .collect()
}

fn a_request_is_acknowledged(d: &Desk, n: usize) {
    let sent = Instant::now();
    send(
        &d.customer,
        &d.support,
        &request(&d.customer, &d.support, &d.customer, BODY),
    );
    let start = Instant::now();
    while acks(d).len() < n && start.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(100));
    }
    let got = acks(d);
    assert_eq!(got.len(), n, "acknowledgements in the customer's inbox");
    step(&format!(
        "a request by email: \"{}\" in the customer's inbox after {:.2} s",
        got[n - 1],
        sent.elapsed().as_secs_f64()
    ));
}

fn journal(d: &Desk, grep: &str) -> usize {
    let out = d.ct.ok(&format!(
        "journalctl -q -u assistenza -o cat | grep -c -F '{grep}' || true"
    ));
    out.trim().parse().unwrap_or(0)
}

fn reload_keeps_the_session(d: &Desk) {
    let connected = journal(d, "IMAP connected");
    let pid = d.ct.property(UNIT, "MainPID");
    d.ct.ok("systemctl reload assistenza");
    assert!(d.ct.until(
        "journalctl -q -u assistenza -o cat | grep -q -F 'config reloaded'",
        Duration::from_secs(10)
    ));
    a_request_is_acknowledged(d, 2);
    assert_eq!(
        d.ct.property(UNIT, "MainPID"),
        pid,
        "the same process after reload"
    );
    assert_eq!(
        journal(d, "IMAP connected"),
        connected,
        "no new IMAP login after reload"
    );
    step("systemctl reload: SIGHUP taken, same PID, same IMAP session, the next request acknowledged");
}

fn watchdog(d: &Desk) {
    // The shipped 60 s, shortened in a drop-in (as `systemctl edit` writes one) so the
    // test waits seconds, not minutes; the daemon pings at half of WATCHDOG_USEC.
    let dropin =
        d.ct.path("/etc/systemd/system/assistenza.service.d/watchdog.conf");
    std::fs::create_dir_all(dropin.parent().expect("dir")).expect("drop-in dir");
    std::fs::write(&dropin, "[Service]\nWatchdogSec=4s\n").expect("drop-in");
    d.ct.ok("systemctl daemon-reload && systemctl restart assistenza");
    let pid = d.ct.property(UNIT, "MainPID");
    let restarts = d.ct.property(UNIT, "NRestarts");
    std::thread::sleep(Duration::from_secs(12));
    assert_eq!(
        d.ct.property(UNIT, "MainPID"),
        pid,
        "alive after 3 watchdog periods"
    );
    assert_eq!(d.ct.property(UNIT, "NRestarts"), restarts);
    step("WatchdogSec=4s: the same process still running after 12 s");

    let stopped = Instant::now();
    d.ct.ok("systemctl kill -s STOP assistenza");
    let restarted = restarted_from(d, &pid, Duration::from_secs(40));
    assert!(
        restarted,
        "a hung daemon is killed by the watchdog and restarted"
    );
    assert!(journal(d, "Watchdog timeout") >= 1, "systemd says why");
    let new = d.ct.property(UNIT, "NRestarts");
    step(&format!(
        "SIGSTOP: \"Watchdog timeout\", killed and restarted after {:.1} s (NRestarts {restarts} → {new})",
        stopped.elapsed().as_secs_f64()
    ));
    std::fs::remove_file(&dropin).expect("remove the drop-in");
    d.ct.ok("systemctl daemon-reload && systemctl restart assistenza");
}

/// Whether systemd brought the daemon back as another process than `pid`, within `within`.
fn restarted_from(d: &Desk, pid: &str, within: Duration) -> bool {
    let script = format!(
        "[ \"$(systemctl show -p MainPID --value assistenza)\" != {pid} ] && systemctl is-active -q assistenza"
    );
    d.ct.until(&script, within)
}

fn ticket_count(d: &Desk) -> usize {
    let out = d.ct.ok(&format!("{AS_DAEMON} tickets list --json"));
    let list: serde_json::Value = serde_json::from_str(&out).expect("json");
    list.as_array().map(Vec::len).unwrap_or(0)
}

fn kill_loses_nothing(d: &Desk) {
    const N: usize = 300;
    let before_tickets = ticket_count(d);
    let before_acks = acks(d).len();
    // The backlog waits in the mailbox while the daemon is stopped, so that the kill falls
    // in the middle of the drain, not after it.
    d.ct.ok("systemctl stop assistenza");
    append_many(
        &d.support,
        "INBOX",
        (0..N).map(|_| request(&d.customer, &d.support, &d.customer, BODY)),
    );
    d.ct.ok("systemctl start assistenza");
    // Frozen while the tickets are counted, and let go 20 ms at a time until it has
    // opened some: the kill falls in the middle of the drain however fast the daemon is
    // (at 400 requests a second it drained all 300 while a poll was counting them).
    let start = Instant::now();
    let killed_at = loop {
        d.ct.ok("systemctl kill -s STOP assistenza");
        let done = ticket_count(d) - before_tickets;
        if done >= 20 || start.elapsed() > Duration::from_secs(30) {
            break done;
        }
        d.ct.ok("systemctl kill -s CONT assistenza");
        std::thread::sleep(Duration::from_millis(20));
    };
    let pid = d.ct.property(UNIT, "MainPID");
    d.ct.ok("systemctl kill -s KILL assistenza");
    assert!(
        killed_at < N,
        "the kill came after the whole backlog was handled"
    );
    let back = restarted_from(d, &pid, Duration::from_secs(30));
    assert!(back, "restarted after SIGKILL (RestartSec=5s)");
    let start = Instant::now();
    while (ticket_count(d) < before_tickets + N || count(&d.support, "INBOX") > 0)
        && start.elapsed() < Duration::from_secs(60)
    {
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(
        ticket_count(d),
        before_tickets + N,
        "one ticket per request"
    );
    assert_eq!(
        count(&d.support, "INBOX"),
        0,
        "every request moved out of the inbox"
    );
    let start = Instant::now();
    while !(acks(d).len() >= before_acks + N && postfix_queue_empty())
        && start.elapsed() < Duration::from_secs(60)
    {
        std::thread::sleep(Duration::from_millis(200));
    }
    let all = acks(d);
    let codes: HashSet<&String> = all.iter().collect();
    assert_eq!(
        codes.len(),
        before_acks + N,
        "an acknowledgement for every ticket"
    );
    let duplicates = all.len() - codes.len();
    assert!(duplicates <= 2, "{duplicates} duplicated acknowledgements");
    step(&format!(
        "systemctl kill -s KILL with {N} requests in the mailbox ({killed_at} done): restarted, {N} tickets, {N} acknowledgements, {duplicates} duplicated"
    ));
}

/// What node_exporter's textfile collector would read, from the installed binary.
fn metrics(d: &Desk) {
    let text = d.ct.ok(&format!("{AS_DAEMON} status --format prometheus"));
    let lines: Vec<&str> = text.lines().collect();
    let value = |name: &str| {
        lines
            .iter()
            .find_map(|l| l.strip_prefix(name).and_then(|v| v.strip_prefix(' ')))
            .unwrap_or_else(|| panic!("{name} missing:\n{text}"))
            .to_string()
    };
    assert_eq!(value("assistenza_mailbox_measured"), "1");
    assert_eq!(value("assistenza_mailbox_backlog_messages"), "0");
    let open: u64 = value("assistenza_tickets{state=\"open\"}")
        .parse()
        .expect("count");
    assert_eq!(
        open as usize,
        ticket_count(d),
        "every ticket is open, none taken"
    );
    let sample: Vec<&str> = lines
        .iter()
        .copied()
        .filter(|l| !l.starts_with('#'))
        .collect();
    println!(
        "systemd-test: status --format prometheus:\n{}",
        sample.join("\n")
    );
    step("status --format prometheus as the daemon's user: mailbox measured over IMAP, tickets by state");
}

fn stop_is_clean(d: &Desk) {
    let start = Instant::now();
    d.ct.ok("systemctl stop assistenza");
    let took = start.elapsed();
    assert!(took < Duration::from_secs(10), "stop took {took:?}");
    assert_eq!(d.ct.property(UNIT, "Result"), "success");
    assert_eq!(d.ct.property(UNIT, "ExecMainStatus"), "0");
    step(&format!(
        "systemctl stop: exit 0, Result=success, in {:.2} s",
        took.as_secs_f64()
    ));
}

/// The priority the journal recorded for the first line of the daemon's that contains
/// `needle`.
fn priority_of(d: &Desk, needle: &str) -> String {
    let out = d.ct.ok(
        "journalctl -q -u assistenza -o json --output-fields=MESSAGE,PRIORITY,SYSLOG_IDENTIFIER",
    );
    for line in out.lines() {
        let v: serde_json::Value = serde_json::from_str(line).expect("journal json");
        let message = v["MESSAGE"].as_str().unwrap_or("");
        if v["SYSLOG_IDENTIFIER"] == "assistenza" && message.contains(needle) {
            assert!(
                !message.starts_with('<'),
                "the <N> prefix is taken as the priority: {message}"
            );
            return v["PRIORITY"].as_str().unwrap_or("").to_string();
        }
    }
    panic!("no line of the daemon's in the journal contains {needle:?}");
}

fn journal_priorities(d: &Desk) {
    assert_eq!(priority_of(d, "ready: database open"), "6", "info");
    assert_eq!(priority_of(d, "IMAP connection failed"), "4", "warning");
    let warnings =
        d.ct.ok("journalctl -q -u assistenza -p warning -o short-monotonic");
    println!(
        "systemd-test: the journal's lines at warning or worse:\n{}",
        warnings.trim_end()
    );
    step("journal: \"ready\" at priority 6 (info), \"IMAP connection failed\" at 4 (warning)");
}

fn security_score(d: &Desk) {
    let inside =
        d.ct.ok("systemd-analyze security --no-pager assistenza | tail -n1");
    let offline = std::process::Command::new("systemd-analyze")
        .args(["security", "--no-pager", "--offline=yes"])
        .arg(repo().join("contrib/systemd/assistenza.service"))
        .output()
        .expect("systemd-analyze on the host");
    let offline = String::from_utf8_lossy(&offline.stdout);
    let score = |s: &str| {
        s.lines()
            .rev()
            .find_map(|l| {
                l.split("assistenza.service: ")
                    .nth(1)
                    .map(|r| r.split_whitespace().next().unwrap_or("").to_string())
            })
            .unwrap_or_default()
    };
    assert!(!score(&inside).is_empty(), "{inside}");
    assert_eq!(
        score(&inside),
        score(&offline),
        "the installed unit scores as the shipped one"
    );
    step(&format!(
        "systemd-analyze security assistenza: {}",
        inside.trim()
    ));
}

fn upgrade_keeps_the_config(d: &Desk) {
    let deb = env_path("ASSISTENZA_DEB_UPGRADE");
    std::fs::copy(&deb, d.ct.path("/root/assistenza-upgrade.deb")).expect("copy");
    d.ct.ok("systemctl start assistenza");
    let pid = d.ct.property(UNIT, "MainPID");
    let edited = std::fs::read(d.ct.path("/etc/assistenza/config.toml")).expect("config");
    let tickets = ticket_count(d);
    let out =
        d.ct.ok("apt-get install -y /root/assistenza-upgrade.deb 2>&1");
    let version = d.ct.ok("dpkg-query -W -f '${Version}' assistenza");
    assert!(
        out.contains("Unpacking assistenza") && !out.contains("not started"),
        "{out}"
    );
    assert_eq!(
        std::fs::read(d.ct.path("/etc/assistenza/config.toml")).expect("config"),
        edited
    );
    assert_eq!(
        d.ct.ok("stat -c '%a %U:%G' /etc/assistenza/config.toml")
            .trim(),
        "640 root:assistenza"
    );
    assert!(d
        .ct
        .until("systemctl is-active -q assistenza", Duration::from_secs(20)));
    assert_ne!(
        d.ct.property(UNIT, "MainPID"),
        pid,
        "the running daemon moved to the new binary"
    );
    assert_eq!(ticket_count(d), tickets);
    a_request_is_acknowledged(d, acks(d).len() + 1);
    step(&format!("upgrade to {version}: the edited config kept as it was, the daemon restarted on the new binary, {tickets} tickets kept"));
}

fn remove_and_purge(d: &Desk) {
    d.ct.ok("apt-get remove -y assistenza 2>&1");
    assert_eq!(
        d.ct.sh("systemctl is-active assistenza").stdout,
        b"inactive\n"
    );
    assert!(
        !d.ct.path("/usr/bin/assistenza").exists(),
        "the binary goes"
    );
    assert!(
        d.ct.path("/etc/assistenza/config.toml").exists(),
        "remove keeps the config"
    );
    assert!(
        d.ct.path("/var/lib/assistenza/assistenza.db").exists(),
        "and the data"
    );
    step("apt remove: the daemon stopped, the binary gone, config and database kept");

    let out = d.ct.ok("apt-get purge -y assistenza 2>&1");
    assert!(
        !d.ct.path("/etc/assistenza/config.toml").exists(),
        "purge removes the config"
    );
    assert!(
        d.ct.path("/var/lib/assistenza/assistenza.db").exists(),
        "the database stays"
    );
    assert!(
        out.contains("the database in /var/lib/assistenza stays"),
        "{out}"
    );
    assert!(
        out.contains("imap.pass"),
        "purge names the files the sysadmin wrote:\n{out}"
    );
    let said: Vec<&str> = out
        .lines()
        .filter(|l| l.starts_with("assistenza:") || l.starts_with("  "))
        .collect();
    println!("systemd-test: apt purge says:\n{}", said.join("\n"));
    step("apt purge: the config gone, the database kept, and both said");
}
