//! Logs through `tracing` to stderr, where systemd's journal picks them up. `RUST_LOG`
//! overrides the filter from the config, for a one-off debugging run.
//!
//! Under systemd (`JOURNAL_STREAM` set) text lines carry no timestamp, since the journal
//! stamps every line itself; `log.format = "json"` writes one JSON object per line.

use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

/// Installs the subscriber once; later calls do nothing (tests call commands repeatedly).
pub fn init(filter: &str, format: LogFormat) {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(filter))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false);
    let _ = match format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Text if std::env::var_os("JOURNAL_STREAM").is_some() => {
            builder.without_time().with_ansi(false).try_init()
        }
        // Colours only for a person at a terminal.
        LogFormat::Text => builder
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .try_init(),
    };
}
