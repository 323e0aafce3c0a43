//! The command line: every subcommand of `assistenza`, parsed by clap and carried out
//! with the store, the pipeline and the daemon. Output for people on stdout; logs on
//! stderr.

mod check;
pub mod contracts;
mod gdpr;
mod purge;
pub mod report;
pub mod status;
mod templates;
mod tickets;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use chrono::Utc;
use clap::{Parser, Subcommand};

use crate::config::Config;
use crate::daemon::{Daemon, Shutdown};
use crate::pipeline::{Handled, Pipeline};
use crate::signals::{Request, Signals};
use crate::store::{InboundSource, Store};
use crate::systemd;

#[derive(Parser, Debug)]
#[command(
    name = "assistenza",
    version,
    propagate_version = true,
    about = "Email-driven support desk: requests by email become tickets"
)]
pub struct Cli {
    /// The configuration file.
    #[arg(long, global = true, default_value = "/etc/assistenza/config.toml")]
    pub config: PathBuf,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the daemon: read the support mailbox, open tickets, send the mail.
    Run {
        /// Handle what is in the mailbox now, deliver the outbox, and exit.
        #[arg(long)]
        once: bool,
    },
    /// Check the config, the database, the IMAP and SMTP logins and the folders; one
    /// line per check, non-zero exit when any fails.
    Check,
    /// What the desk is doing: mailbox backlog, outbox, tickets, deadlines, the
    /// 30-minute promise, the daemon's last look at the mailbox.
    Status(status::StatusArgs),
    /// A consistent copy of the database, taken while the daemon runs.
    Backup {
        /// The file to write (replaced whole), or a directory to write a dated file in.
        path: PathBuf,
    },
    /// Run one message (a file, or - for standard input) through the same pipeline.
    Process {
        /// The .eml file, or - for standard input.
        file: PathBuf,
        /// Decide and print, but record and send nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Delete personal data older than DAYS (GDPR retention).
    ///
    /// Deletes tickets closed for good more than DAYS ago, with their history and mail,
    /// and rejected or quarantined mail handled more than DAYS ago. Resolved tickets
    /// (still reopenable), mail waiting to be sent, contracts and ticket numbers stay.
    Purge {
        /// The retention, in days: `365d` or `365` (at least 1 day).
        #[arg(long, value_name = "DAYS", value_parser = purge::parse_days)]
        older_than: u32,
        /// Report what would be deleted, and delete nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// One person's data on request (GDPR): export it, or erase it.
    #[command(subcommand)]
    Gdpr(GdprCommand),
    /// The monthly report for the administration: per contract, tickets, time, extra
    /// interventions, quotes, the promises kept, requests refused (the previous month by
    /// default).
    Report(report::ReportArgs),
    /// Support contracts (the administration's list).
    #[command(subcommand)]
    Contracts(ContractsCommand),
    /// Tickets.
    #[command(subcommand)]
    Tickets(TicketsCommand),
    /// The texts of the mails: export them to edit, see which are in force, render one.
    #[command(subcommand)]
    Templates(TemplatesCommand),
}

impl Command {
    /// Whether the command talks to the mail servers (and so reads the passwords). `status`
    /// logs in to measure the mailbox backlog.
    fn needs_secrets(&self) -> bool {
        match self {
            Command::Run { .. } | Command::Check | Command::Status { .. } => true,
            Command::Process { .. } => true,
            Command::Backup { .. }
            | Command::Purge { .. }
            | Command::Gdpr(_)
            | Command::Report(_)
            | Command::Contracts(_)
            | Command::Tickets(_)
            | Command::Templates(_) => false,
        }
    }
}

#[derive(Subcommand, Debug)]
pub enum GdprCommand {
    /// Write to DIR every message received from or sent to ADDRESS (.eml, as stored), the
    /// history and time of its tickets (CSV) and a LEGGIMI.txt that says what is there.
    Export {
        address: String,
        /// A new or empty folder.
        dir: PathBuf,
        /// Say what would be written, and write nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Erase the mail to and from ADDRESS and replace the address with a pseudonym
    /// everywhere; ticket codes, dates, time and amounts stay (SECURITY.md).
    Erase {
        address: String,
        /// Report what would be erased, and change nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

#[derive(Subcommand, Debug)]
pub enum TemplatesCommand {
    /// Write every built-in text to DIR, one file per mail (and the parts they include).
    Export {
        dir: PathBuf,
        /// Replace files that are already there.
        #[arg(long)]
        force: bool,
    },
    /// For each template, whether the built-in or which file of `[templates] dir` is in
    /// force.
    List,
    /// Print a mail as it would go out, with sample data or a real ticket's.
    Render {
        /// The mail: `ack`, `closure`, … (`templates list` names them).
        name: String,
        /// Use this ticket's data (its code, e.g. KZ-2026-00042).
        #[arg(long)]
        ticket: Option<String>,
        /// Which sample situation (the first one otherwise; the others are listed).
        #[arg(long)]
        situation: Option<String>,
    },
}

#[derive(Subcommand, Debug)]
pub enum ContractsCommand {
    /// Add or replace contracts from a CSV file (all or nothing).
    Import { file: PathBuf },
    /// Write every contract as CSV to standard output.
    Export,
    /// List contracts and whether each is in force today.
    List,
    /// Add one contract.
    Add {
        /// The customer's name, which names the contract (an import with the same name
        /// replaces it).
        #[arg(long)]
        customer: String,
        /// Addresses enabled to open tickets, separated by `;`.
        #[arg(long)]
        addresses: String,
        /// First day in force, YYYY-MM-DD.
        #[arg(long = "from")]
        valid_from: String,
        /// Last day in force (inclusive), YYYY-MM-DD.
        #[arg(long = "until")]
        valid_until: String,
        /// Site URLs or software names, separated by `;`.
        #[arg(long, default_value = "")]
        references: String,
    },
    /// Disable a contract (its addresses can no longer open tickets).
    Disable {
        /// The contract's customer name, as `contracts list` shows it.
        customer: String,
        /// Enable it again instead.
        #[arg(long)]
        enable: bool,
    },
}

#[derive(Subcommand, Debug)]
pub enum TicketsCommand {
    /// List tickets, newest first.
    List {
        /// Print them as JSON (the keys are in docs/operators.md).
        #[arg(long)]
        json: bool,
    },
    /// Show one ticket with its whole thread.
    Show {
        /// The ticket's code, KZ-2026-00042.
        code: String,
        /// Print it as JSON (the keys are in docs/operators.md).
        #[arg(long)]
        json: bool,
    },
}

/// Carries out the command. Config errors come back as `ConfigError` for exit code 78.
pub async fn execute(cli: Cli) -> Result<()> {
    if let Command::Check = cli.command {
        return check::check(&cli.config).await;
    }
    if let Command::Templates(TemplatesCommand::Export { dir, force }) = &cli.command {
        return templates::export(dir, *force);
    }
    // The administration's commands work on the store: they run without the passwords.
    let cfg = match &cli.command {
        Command::Status { .. } => status_config(&cli.config)?,
        command if command.needs_secrets() => Config::load(&cli.config)?,
        _ => Config::load_without_secrets(&cli.config)?,
    };
    crate::logging::init(&cfg.log.filter, cfg.log.format);
    match cli.command {
        Command::Run { once } => run(cfg, &cli.config, once).await,
        Command::Check => unreachable!("handled above"),
        Command::Status(args) => status::status(&cfg, args).await,
        Command::Backup { path } => backup(&cfg, &path),
        Command::Process { file, dry_run } => process(cfg, &file, dry_run).await,
        Command::Purge {
            older_than,
            dry_run,
        } => purge::command(&cfg, older_than, dry_run),
        Command::Gdpr(g) => gdpr::command(&cfg, g),
        Command::Report(args) => report::command(&cfg, &args),
        Command::Contracts(c) => contracts_command(&cfg, c),
        Command::Tickets(t) => tickets::command(&cfg, t),
        Command::Templates(t) => templates::command(&cfg, t),
    }
}

/// `status` measures the mailbox when it may read the IMAP password, and reports the rest
/// when only the password files are out of its reach (a member of the `assistenza` group).
fn status_config(path: &Path) -> Result<Config, crate::config::ConfigError> {
    match Config::load(path) {
        Err(e)
            if e.problems
                .iter()
                .all(|p| p.key.ends_with(".password_file") || p.key.ends_with(".password_env")) =>
        {
            Config::load_without_secrets(path)
        }
        loaded => loaded,
    }
}

async fn run(cfg: Config, config_path: &Path, once: bool) -> Result<()> {
    let daemon = Daemon::new(cfg)?;
    if once {
        return daemon.run_once().await;
    }
    let mut signals = Signals::install()?;
    let shutdown = Shutdown::new();
    let stop = shutdown.clone();
    let path = config_path.to_path_buf();
    let reloader = Arc::clone(&daemon);
    tokio::spawn(async move {
        loop {
            match signals.next().await {
                Request::Stop => {
                    tracing::info!("shutdown requested; finishing the work in hand");
                    stop.request();
                    return;
                }
                Request::Reload => {
                    systemd::reloading();
                    if let Err(e) = reloader.reload(&path) {
                        tracing::error!("config not reloaded; the one in force stays: {e:#}");
                    }
                    systemd::reloaded();
                }
            }
        }
    });
    tracing::info!(version = env!("CARGO_PKG_VERSION"), "assistenza started");
    daemon.run(shutdown).await?;
    // The last handle: dropping it closes the database cleanly.
    drop(daemon);
    tracing::info!("assistenza stopped");
    Ok(())
}

fn backup(cfg: &Config, path: &Path) -> Result<()> {
    let dest = if path.is_dir() {
        path.join(format!(
            "assistenza-{}.db",
            crate::core::calendar::rome(Utc::now()).format("%Y%m%d-%H%M%S")
        ))
    } else {
        path.to_path_buf()
    };
    let store = Store::open_existing(&cfg.store.path)?;
    let bytes = store.backup_to(&dest)?;
    println!(
        "backed up {} to {} ({bytes} bytes, integrity ok)",
        cfg.store.path.display(),
        dest.display()
    );
    Ok(())
}

async fn process(cfg: Config, file: &PathBuf, dry_run: bool) -> Result<()> {
    let raw = if file.as_os_str() == "-" {
        let mut buf = Vec::new();
        std::io::stdin()
            .read_to_end(&mut buf)
            .context("reading the message from standard input")?;
        buf
    } else {
        std::fs::read(file).with_context(|| format!("reading {}", file.display()))?
    };
    // A file has no INTERNALDATE: the time of processing is when the desk received it.
    let now = Utc::now();
    if dry_run {
        let pipeline = Pipeline::new(&cfg);
        let mut store = Store::open(&cfg.store.path)?;
        let decision = pipeline.dry_run(&mut store, &raw, now)?;
        println!(
            "outcome: {} (dry run: nothing recorded or sent)",
            decision.outcome
        );
        if let Some(w) = &decision.warning {
            println!("warning: {w}");
        }
        for effect in &decision.effects {
            if let crate::core::decision::Effect::Send(m) = effect {
                let to: Vec<String> = m.to.iter().map(|a| a.to_string()).collect();
                println!(
                    "\n--- would send to {}: {}\n{}",
                    to.join(", "),
                    m.subject,
                    m.body
                );
            }
        }
        return Ok(());
    }
    let daemon = Daemon::new(cfg)?;
    let handled = daemon.handle_one(InboundSource::File, raw, now).await?;
    match &handled {
        Handled::Recorded {
            outcome, warning, ..
        } => {
            println!("outcome: {outcome}");
            if let Some(w) = warning {
                println!("warning: {w}");
            }
        }
        Handled::Duplicate(d) => {
            println!(
                "outcome: already recorded as {} (message {}); nothing done",
                d.outcome, d.inbound_id
            )
        }
        // Only intake sets messages aside: `process` reports the error instead.
        Handled::SetAside { reason, .. } => println!("outcome: set aside: {reason}"),
    }
    let done = daemon.deliver_due(&Shutdown::new()).await?;
    println!("mail sent: {}", done.sent);
    if let Some(e) = done.unavailable {
        println!("SMTP server unavailable, the rest waits in the outbox: {e}");
    }
    Ok(())
}

fn contracts_command(cfg: &Config, cmd: ContractsCommand) -> Result<()> {
    let mut store = Store::open(&cfg.store.path)?;
    let now = Utc::now();
    match cmd {
        ContractsCommand::Import { file } => import_contracts(&mut store, &file, now)?,
        ContractsCommand::Export => {
            contracts::write_csv(std::io::stdout().lock(), &store.contracts()?)?;
        }
        ContractsCommand::List => list_contracts(&store, now, cfg.contracts.before_days)?,
        ContractsCommand::Add {
            customer,
            addresses,
            valid_from,
            valid_until,
            references,
        } => {
            let row = contracts::from_args(
                &customer,
                &addresses,
                &valid_from,
                &valid_until,
                &references,
            )?;
            store.add_contract(&row, now)?;
            println!("added contract for {customer}");
        }
        ContractsCommand::Disable { customer, enable } => {
            if !store.set_contract_disabled(&customer, !enable, now)? {
                bail!("no contract for customer {customer:?} (see `assistenza contracts list`)");
            }
            println!(
                "{} contract for {customer}",
                if enable { "enabled" } else { "disabled" }
            );
        }
    }
    Ok(())
}

/// `contracts import FILE`: all rows or none.
fn import_contracts(store: &mut Store, file: &Path, now: chrono::DateTime<Utc>) -> Result<()> {
    let reader =
        std::fs::File::open(file).with_context(|| format!("opening {}", file.display()))?;
    let rows = match contracts::read_csv(reader) {
        Ok(rows) => rows,
        Err(problems) => {
            for p in &problems {
                eprintln!("{}: {p}", file.display());
            }
            bail!(
                "{} problem(s) in {}; nothing was imported",
                problems.len(),
                file.display()
            );
        }
    };
    let s = store.import_contracts(&rows, now)?;
    println!(
        "imported {}: {} added, {} updated",
        file.display(),
        s.added,
        s.updated
    );
    Ok(())
}

/// `contracts list`: one line a contract, with its standing today (and "scade tra N
/// giorni" within the `[contracts]` notice window).
fn list_contracts(store: &Store, now: chrono::DateTime<Utc>, window: u32) -> Result<()> {
    println!(
        "{:<32} {:<10} {:<10} {:<12} ADDRESSES",
        "CUSTOMER", "FROM", "UNTIL", "STANDING"
    );
    for c in store.contracts()? {
        let standing = contracts::standing_text(&c, now, window);
        let addresses: Vec<String> = c.addresses.iter().map(|a| a.to_string()).collect();
        println!(
            "{:<32} {:<10} {:<10} {:<12} {}",
            c.customer,
            c.valid_from,
            c.valid_until,
            standing,
            addresses.join(";")
        );
    }
    Ok(())
}
