//! The database's disk fills up, or turns read-only, under the running daemon. The
//! database lives on a small tmpfs of its own (mounting one needs root, as CI runs), so
//! both faults are the kernel's real ENOSPC and EROFS. While a fault lasts a request
//! stays in the support mailbox, nothing is sent and the daemon keeps going; once the
//! fault clears the request is handled, once.

mod support;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use support::forward::Forwarder;
use support::*;

const REQUEST: &str = "Buongiorno, sono Mario Rossi.\r\nSito: https://www.rossi-impianti.it\r\n\
Il modulo contatti non invia più i messaggi.";
const WAIT: Duration = Duration::from_secs(40);
/// How long a fault is held: long enough for several retries of the waiting request
/// (the desk polls every second; a failed message is tried again within a second).
const FAULT: Duration = Duration::from_secs(5);

/// A tmpfs mounted for one test, unmounted when dropped (even when the test fails).
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(at: &Path, size: &str) -> Tmpfs {
        std::fs::create_dir_all(at).expect("mount point");
        mount(
            &[
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0700"),
                "tmpfs",
            ],
            at,
        );
        Tmpfs(at.to_path_buf())
    }

    fn remount(&self, how: &str) {
        mount(&["-o", &format!("remount,{how}")], &self.0);
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

fn mount(args: &[&str], at: &Path) {
    let out = Command::new("mount")
        .args(args)
        .arg(at)
        .output()
        .expect("running mount");
    assert!(
        out.status.success(),
        "mount {args:?} {} failed (this test mounts a tmpfs and needs root, as CI has): {}",
        at.display(),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Fills the filesystem holding `dir` to the last byte; returns the filler file.
fn fill(dir: &Path) -> PathBuf {
    let path = dir.join("filler");
    let mut f = std::fs::File::create(&path).expect("filler");
    let chunk = vec![0u8; 64 * 1024];
    loop {
        match f.write(&chunk) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) if e.raw_os_error() == Some(28) => break, // ENOSPC
            Err(e) => panic!("filling {}: {e}", dir.display()),
        }
    }
    // Byte by byte for the last partial chunk.
    while let Ok(n) = f.write(&[0u8]) {
        if n == 0 {
            break;
        }
    }
    path
}

/// The desk with its database on a tmpfs of its own.
fn desk_on_tmpfs(tag: &str) -> (Desk, Tmpfs) {
    let desk = Desk::new(tag);
    let fs = Tmpfs::mount(&desk.dir.path().join("db"), "4m");
    desk.edit_config(|c| c.replace("path = \"desk.db\"", "path = \"db/desk.db\""));
    (desk, fs)
}

/// While the fault lasts: the request stays in the mailbox, no acknowledgement goes out,
/// the daemon runs on. Then `clear` ends the fault and the request is handled once.
fn request_during_fault(
    desk: &Desk,
    daemon: &mut Running,
    mario: &str,
    n: usize,
    clear: impl FnOnce(),
) {
    desk.send_request(mario, mario, &format!("{REQUEST}\r\nRichiesta {n}."));
    let start = Instant::now();
    while start.elapsed() < FAULT {
        assert!(
            daemon.child.try_wait().expect("wait").is_none(),
            "the daemon exited:\n{}",
            daemon.log_text()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(count(&desk.support, "INBOX"), 1, "{}", daemon.log_text());
    assert_eq!(
        count(mario, "INBOX"),
        n - 1,
        "no acknowledgement during the fault"
    );
    // Logged once, though retried every second.
    assert_eq!(
        daemon
            .log_text()
            .matches("message left in the mailbox, will retry")
            .count(),
        1,
        "{}",
        daemon.log_text()
    );

    clear();
    let acks = wait_for(mario, "INBOX", n, WAIT);
    assert_eq!(acks.len(), n, "{}", daemon.log_text());
    let start = Instant::now();
    while count(&desk.support, "INBOX") > 0 && start.elapsed() < WAIT {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(count(&desk.support, "INBOX"), 0);
    assert_eq!(count(&desk.support, "Processed"), n);
    assert_eq!(desk.tickets_json().as_array().map(Vec::len), Some(n));
    assert!(daemon.log_text().contains("message handled after all"));
}

#[test]
fn a_full_disk_keeps_the_request_in_the_mailbox_until_there_is_room() {
    let (desk, fs) = desk_on_tmpfs("diskfull");
    let mario = desk.customer_with_contract("mario");
    let mut daemon = desk.start();
    desk.send_request(&mario, &mario, REQUEST);
    assert_eq!(wait_for(&mario, "INBOX", 1, WAIT).len(), 1);

    let filler = fill(&fs.0);
    request_during_fault(&desk, &mut daemon, &mario, 2, || {
        std::fs::remove_file(&filler).expect("making room")
    });
    // Nothing sent twice: one acknowledgement per request.
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(count(&mario, "INBOX"), 2);
    let (exit, _, log) = daemon.stop();
    assert!(exit.success(), "{log}");
}

/// A daemon whose acknowledgement to mario went out while the disk was full, so that its
/// sending could not be recorded; returned with the filler file that keeps the disk full.
/// The tmpfs is unmounted and the SMTP proxy closed when it is dropped.
struct SentWhileFull {
    desk: Desk,
    _fs: Tmpfs,
    _smtp: Forwarder,
    daemon: Running,
    mario: String,
    filler: PathBuf,
}

fn ack_sent_while_the_disk_is_full(tag: &str) -> SentWhileFull {
    let (desk, fs) = desk_on_tmpfs(tag);
    let mario = desk.customer_with_contract("mario");
    // SMTP is down when the request comes in, so its acknowledgement waits in the outbox.
    let submission = desk.stack.submission_port;
    let smtp = Forwarder::new(submission);
    desk.edit_config(|c| {
        c.replace(
            &format!("port = {submission}"),
            &format!("port = {}", smtp.port),
        )
    });
    let log = desk.dir.path().join("daemon.log");
    let daemon = Running {
        child: Command::new(env!("CARGO_BIN_EXE_assistenza"))
            .arg("--config")
            .arg(&desk.config)
            .arg("run")
            .env("RUST_LOG", "info")
            .stderr(std::fs::File::create(&log).expect("log"))
            .spawn()
            .expect("daemon"),
        log,
    };
    daemon.wait_log("IMAP connected", 1, WAIT);
    desk.send_request(&mario, &mario, REQUEST);
    let start = Instant::now();
    while desk.status()["outbox_pending"] != 1 {
        assert!(start.elapsed() < WAIT, "{}", daemon.log_text());
        std::thread::sleep(Duration::from_millis(100));
    }

    // The disk fills; then SMTP comes back and takes the acknowledgement, which cannot be
    // recorded as sent.
    let filler = fill(&fs.0);
    smtp.forward();
    assert_eq!(wait_for(&mario, "INBOX", 1, WAIT).len(), 1);
    std::thread::sleep(FAULT);
    assert_eq!(
        count(&mario, "INBOX"),
        1,
        "sent again: {}",
        daemon.log_text()
    );
    assert!(
        daemon.log_text().contains("mail sent but not recorded"),
        "{}",
        daemon.log_text()
    );
    SentWhileFull {
        desk,
        _fs: fs,
        _smtp: smtp,
        daemon,
        mario,
        filler,
    }
}

#[test]
fn mail_sent_while_the_disk_is_full_is_never_sent_again() {
    let sent = ack_sent_while_the_disk_is_full("sentfull");
    let (desk, mario) = (&sent.desk, &sent.mario);
    std::fs::remove_file(&sent.filler).expect("making room");
    sent.daemon
        .wait_log("mail sent earlier is recorded now", 1, WAIT);
    assert_eq!(desk.status()["outbox_pending"], 0);
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(count(mario, "INBOX"), 1, "{}", sent.daemon.log_text());
    let (exit, _, log) = sent.daemon.stop();
    assert!(exit.success(), "{log}");
}

#[test]
fn stopped_while_the_disk_is_full_the_daemon_names_the_mail_it_will_send_again() {
    let sent = ack_sent_while_the_disk_is_full("stopfull");
    let (desk, mario) = (&sent.desk, &sent.mario);
    let db = rusqlite::Connection::open(desk.dir.path().join("db/desk.db")).expect("db");
    let ack: i64 = db
        .query_row("SELECT id FROM outbox WHERE sent_at IS NULL", [], |r| {
            r.get(0)
        })
        .expect("the acknowledgement, unrecorded");
    drop(db);

    // systemctl stop while the disk is still full: the daemon cannot record the send, and
    // the journal names the outbox row it will send again.
    let (exit, _, log) = sent.daemon.stop();
    assert!(exit.success(), "{log}");
    assert!(
        log.contains(&format!("outbox_ids={ack}"))
            && log
                .contains("mail sent but never recorded; it will be sent again at the next start"),
        "{log}"
    );

    // And so it is, once there is room: the only duplicate a full disk makes.
    std::fs::remove_file(&sent.filler).expect("making room");
    let daemon = desk.start();
    assert_eq!(
        wait_for(mario, "INBOX", 2, WAIT).len(),
        2,
        "{}",
        daemon.log_text()
    );
    let (exit, _, log) = daemon.stop();
    assert!(exit.success(), "{log}");
}

#[test]
fn a_read_only_database_is_refused_at_start_and_the_mail_waits_for_it() {
    // Linux will not make a filesystem read-only under files open for writing (only its
    // own error handling does): the fault is met at a start, as after a reboot that left
    // the filesystem read-only, or a restored file the daemon's user cannot write.
    let (desk, fs) = desk_on_tmpfs("readonly");
    let mario = desk.customer_with_contract("mario");
    let daemon = desk.start();
    desk.send_request(&mario, &mario, REQUEST);
    assert_eq!(wait_for(&mario, "INBOX", 1, WAIT).len(), 1);
    let (exit, _, log) = daemon.stop();
    assert!(exit.success(), "{log}");

    fs.remount("ro");
    desk.send_request(&mario, &mario, &format!("{REQUEST}\r\nRichiesta 2."));
    wait_for(&desk.support, "INBOX", 1, WAIT);
    let out = desk.cli(&["run"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    // A plain failure, not the configuration's 78: systemd restarts the daemon every 5 s
    // until the fault clears.
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("db/desk.db can be read but not written"),
        "{stderr}"
    );
    assert_eq!(count(&desk.support, "INBOX"), 1);
    assert_eq!(count(&mario, "INBOX"), 1);

    fs.remount("rw");
    let daemon = desk.start();
    assert_eq!(wait_for(&mario, "INBOX", 2, WAIT).len(), 2);
    let start = Instant::now();
    while count(&desk.support, "INBOX") > 0 && start.elapsed() < WAIT {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(count(&desk.support, "Processed"), 2);
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(count(&mario, "INBOX"), 2, "one acknowledgement per request");
    let (exit, _, log) = daemon.stop();
    assert!(exit.success(), "{log}");
}

#[test]
fn the_database_is_created_readable_by_its_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let desk = Desk::new("mode");
    let daemon = desk.start();
    let (exit, _, log) = daemon.stop();
    assert!(exit.success(), "{log}");
    let mode = std::fs::metadata(desk.dir.path().join("desk.db"))
        .expect("database")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "mode {mode:o}");
}
