//! `assistenza`: an email-driven support desk for a small web agency.
//!
//! A pure core decides, a thin shell does:
//! - `core`: the rules (subject, sender, contract, body, automation), the Italian texts
//!   and `decide(message, facts, settings) -> outcome + effects`. No I/O, no clock.
//! - `store`: SQLite — every SQL statement, migrations, the one-transaction intake.
//! - `mail`: MIME parsing and composing, IMAP intake, SMTP delivery, TLS.
//! - `pipeline`: one message through parse → facts → decide → record.
//! - `daemon`: the intake and outbox tasks and their shutdown.
//! - `metrics`: the desk's state in the Prometheus text format.
//! - `web`: the portal's form, a second way in to the same pipeline.
//! - `failure`: whether an error will pass (transient) or not (permanent).
//! - `config`: the TOML file, validated with errors that name the file and key.
//! - `cli`: the subcommands of the `assistenza` binary.

pub mod cli;
pub mod config;
pub mod core;
pub mod daemon;
pub mod failure;
pub mod logging;
pub mod mail;
pub mod metrics;
pub mod pipeline;
pub mod signals;
pub mod store;
pub mod systemd;
pub mod web;
