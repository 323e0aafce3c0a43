//! The daemon's wall clock moved for a test: `run --once` under libfaketime (Debian's
//! `faketime`), for rules owed by the clock alone (the morning digest, a closure owed
//! days after a reminder) that no mail's INTERNALDATE can move. `FAKETIME="@…"` starts
//! the process's wall clock at that UTC instant, while the monotonic clock tokio's timers
//! use stays real.

use std::path::Path;
use std::process::Command;

use chrono::{DateTime, Utc};

use super::Desk;

const FAKETIME_LIB: &str = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1";

/// libfaketime, installed from Debian's packages when missing (as `scripts/mailstack`
/// installs the mail servers).
pub fn faketime() -> &'static Path {
    let lib = Path::new(FAKETIME_LIB);
    if !lib.exists() {
        let install = "DEBIAN_FRONTEND=noninteractive apt-get install -y -qq faketime \
                       || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
                       apt-get install -y -qq faketime; }";
        let out = Command::new("sh")
            .args(["-c", install])
            .output()
            .expect("running apt-get");
        assert!(
            lib.exists(),
            "libfaketime is missing and could not be installed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    lib
}

/// `run --once` with the daemon's wall clock starting at `at`; returns its log.
pub fn run_once_at(desk: &Desk, at: DateTime<Utc>) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_assistenza"))
        .arg("--config")
        .arg(&desk.config)
        .args(["run", "--once"])
        .env("RUST_LOG", "info")
        .env("TZ", "UTC")
        .env("LD_PRELOAD", faketime())
        .env("FAKETIME", at.format("@%Y-%m-%d %H:%M:%S").to_string())
        .env("FAKETIME_DONT_FAKE_MONOTONIC", "1")
        .output()
        .expect("running assistenza under faketime");
    let log = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        out.status.success(),
        "run --once at {at} failed ({:?}):\n{log}",
        out.status
    );
    log
}
