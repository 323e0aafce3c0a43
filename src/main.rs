//! `assistenza`: a thin shell around a pure core. `core/` decides what happens to each
//! message (no I/O); `store/`, `mail/` and `daemon/` carry the decisions out against
//! SQLite, IMAP and SMTP. This file only maps errors to exit codes.

use std::process::ExitCode;

use clap::Parser;

use assistenza::cli::{execute, Cli};
use assistenza::config::ConfigError;

/// sysexits.h EX_CONFIG: systemd and sysadmins tell a bad config from a crash by it.
const EX_CONFIG: u8 = 78;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match execute(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            if let Some(config) = e.downcast_ref::<ConfigError>() {
                eprintln!("{config}");
                return ExitCode::from(EX_CONFIG);
            }
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
