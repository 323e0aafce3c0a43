//! Logs through `tracing` to stderr, where systemd's journal picks them up. `RUST_LOG`
//! overrides the filter from the config, for a one-off debugging run.
//!
//! Under systemd (`JOURNAL_STREAM` set) text lines carry no timestamp, since the journal
//! stamps every line itself, and start with the syslog priority as `<3>`…`<7>` (see
//! sd-daemon(3)), so `journalctl -p warning` shows warnings and errors only.
//! `log.format = "json"` writes one JSON object per line.

use std::io::Write;

use tracing::{Level, Metadata};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

const NO_IMAP_TRACE: &str = "async_imap=debug";

/// Installs the subscriber once; later calls do nothing (tests call commands repeatedly).
pub fn init(filter: &str, format: LogFormat) {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(filter))
        .unwrap_or_else(|_| EnvFilter::new("info"))
        // async-imap traces every line it sends, LOGIN with the password included: never
        // below debug for it, whatever the filter asks.
        .add_directive(NO_IMAP_TRACE.parse().expect("a valid directive"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false);
    let _ = match format {
        LogFormat::Json => builder
            .with_writer(std::io::stderr)
            .json()
            .flatten_event(true)
            .try_init(),
        LogFormat::Text if std::env::var_os("JOURNAL_STREAM").is_some() => builder
            .with_writer(Journal)
            .without_time()
            .with_level(false)
            .with_ansi(false)
            .try_init(),
        // Colours only for a person at a terminal.
        LogFormat::Text => builder
            .with_writer(std::io::stderr)
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .try_init(),
    };
}

/// stderr, each event prefixed with its syslog priority for the journal.
struct Journal;

/// One event's writer: the formatter writes the whole line in one call.
struct Prefixed(&'static [u8]);

impl Write for Prefixed {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let mut line = Vec::with_capacity(self.0.len() + buf.len());
        line.extend_from_slice(self.0);
        line.extend_from_slice(buf);
        std::io::stderr().lock().write_all(&line)?;
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

impl<'a> MakeWriter<'a> for Journal {
    type Writer = Prefixed;
    fn make_writer(&'a self) -> Prefixed {
        Prefixed(b"<6>")
    }
    fn make_writer_for(&'a self, meta: &Metadata<'_>) -> Prefixed {
        Prefixed(priority(*meta.level()))
    }
}

/// syslog priorities: err 3, warning 4, info 6, debug 7.
fn priority(level: Level) -> &'static [u8] {
    match level {
        Level::ERROR => b"<3>",
        Level::WARN => b"<4>",
        Level::INFO => b"<6>",
        Level::DEBUG | Level::TRACE => b"<7>",
    }
}
