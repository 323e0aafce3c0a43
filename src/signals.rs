//! SIGTERM (systemd stop) and SIGINT (Ctrl-C) ask for a graceful shutdown; SIGHUP
//! (`systemctl reload`) asks to re-read the config.

use anyhow::{Context, Result};
use tokio::signal::unix::{signal, Signal, SignalKind};

/// What a signal asks of the daemon.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Request {
    Stop,
    Reload,
}

/// The handlers, installed once at start.
pub struct Signals {
    term: Signal,
    int: Signal,
    hup: Signal,
}

impl Signals {
    pub fn install() -> Result<Signals> {
        let kind = |k: SignalKind, name: &str| {
            signal(k).with_context(|| format!("installing the {name} handler"))
        };
        Ok(Signals {
            term: kind(SignalKind::terminate(), "SIGTERM")?,
            int: kind(SignalKind::interrupt(), "SIGINT")?,
            hup: kind(SignalKind::hangup(), "SIGHUP")?,
        })
    }

    /// The next request.
    pub async fn next(&mut self) -> Request {
        tokio::select! {
            _ = self.term.recv() => Request::Stop,
            _ = self.int.recv() => Request::Stop,
            _ = self.hup.recv() => Request::Reload,
        }
    }
}
