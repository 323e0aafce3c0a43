//! The systemd notify protocol (`Type=notify`): READY once the daemon can do its job,
//! WATCHDOG pings while its tasks are alive, RELOADING around a SIGHUP, STOPPING on the
//! way out, and a STATUS line for `systemctl status`. Outside systemd (no
//! `NOTIFY_SOCKET`) every call does nothing.

use std::time::Duration;

use sd_notify::NotifyState;

fn send(states: &[NotifyState]) {
    if let Err(e) = sd_notify::notify(false, states) {
        tracing::debug!("systemd notify failed: {e}");
    }
}

/// The database is open and both servers accepted our login.
pub fn ready(status: &str) {
    send(&[NotifyState::Ready, NotifyState::Status(status)]);
}

pub fn reloading() {
    send(&[NotifyState::Reloading]);
}

pub fn reloaded() {
    send(&[NotifyState::Ready]);
}

pub fn stopping() {
    send(&[NotifyState::Stopping, NotifyState::Status("stopping")]);
}

pub fn watchdog() {
    send(&[NotifyState::Watchdog]);
}

/// How often to ping the watchdog (half its timeout), when the unit sets `WatchdogSec`.
/// As in libsystemd's `sd_watchdog_enabled`: `WATCHDOG_USEC` turns it on, and
/// `WATCHDOG_PID`, when set, must be this process (the sd-notify crate also demands it be
/// set, which libsystemd does not).
pub fn watchdog_interval() -> Option<Duration> {
    let usec: u64 = std::env::var("WATCHDOG_USEC").ok()?.parse().ok()?;
    if let Ok(pid) = std::env::var("WATCHDOG_PID") {
        if pid.parse::<u32>().ok()? != std::process::id() {
            return None;
        }
    }
    (usec > 0).then(|| Duration::from_micros(usec / 2))
}
