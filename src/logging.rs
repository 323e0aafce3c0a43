//! Logs through `tracing` to stderr, where systemd's journal picks them up. `RUST_LOG`
//! overrides the filter from the config, for a one-off debugging run.

use tracing_subscriber::EnvFilter;

/// Installs the subscriber once; later calls do nothing (tests call commands repeatedly).
pub fn init(filter: &str) {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(filter))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        // Colours only for a person at a terminal; journald gets plain text.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}
