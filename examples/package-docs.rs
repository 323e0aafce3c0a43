//! The man pages and the bash completion of `assistenza`, generated from its CLI
//! definition for the Debian package (scripts/package runs it):
//!
//! ```sh
//! cargo run --release --example package-docs -- DIR
//! ```
//!
//! writes `DIR/man/assistenza.1`, one page per subcommand (`assistenza-contracts.1`,
//! `assistenza-contracts-import.1`, …) and `DIR/completion/assistenza.bash`. An example,
//! not part of the binary, so the daemon does not carry the generators.

use std::path::PathBuf;

use clap::CommandFactory;
use clap_complete::Shell;

use assistenza::cli::Cli;

fn main() -> std::io::Result<()> {
    let Some(dir) = std::env::args_os().nth(1).map(PathBuf::from) else {
        eprintln!("usage: package-docs DIR");
        std::process::exit(2);
    };
    let man = dir.join("man");
    std::fs::create_dir_all(&man)?;
    clap_mangen::generate_to(Cli::command(), &man)?;
    let completion = dir.join("completion");
    std::fs::create_dir_all(&completion)?;
    clap_complete::generate_to(Shell::Bash, &mut Cli::command(), "assistenza", &completion)?;
    Ok(())
}
