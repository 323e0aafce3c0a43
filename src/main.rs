//! `assistenza`: a thin shell around a pure core. `core/` decides what happens to each
//! message (no I/O); `store/`, `mail/` and `daemon/` carry the decisions out against
//! SQLite, IMAP and SMTP. This file only maps errors to exit codes.

use std::process::ExitCode;

use clap::Parser;

use assistenza::cli::{execute, Cli};
use assistenza::config::ConfigError;

/// sysexits.h EX_CONFIG: systemd and sysadmins tell a bad config from a crash by it.
const EX_CONFIG: u8 = 78;

/// Threads for blocking work: the store's transactions (one at a time: one connection
/// behind a mutex) and host-name lookups. At tokio's default cap of 512 a backlog grew the
/// pool to five or six threads, each with its own malloc arena, for a store that only one
/// of them can use at a time: peak RSS by 10,000 requests was 18.9–19.8 MiB, against
/// 17.8–17.9 MiB with this cap (`scripts/bench`). Three leave room for a lookup or two
/// beside a transaction.
const BLOCKING_THREADS: usize = 3;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .max_blocking_threads(BLOCKING_THREADS)
        .build();
    let runtime = match runtime {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(execute(cli)) {
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
