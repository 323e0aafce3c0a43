//! `assistenza gdpr export ADDRESS DIR` and `assistenza gdpr erase ADDRESS`: a person's
//! right of access and right to erasure. What is read and erased is in `store::gdpr`;
//! this checks the address, writes the folder and prints the report.

use std::io::Write;
use std::path::Path;

use anyhow::{bail, Context, Result};
use chrono::Utc;

use crate::config::Config;
use crate::core::address::Address;
use crate::core::calendar::rome;
use crate::core::decision::Settings;
use crate::core::templates::pages::{self, Page};
use crate::store::{Erasure, Export, ExportMail, Store};

use super::GdprCommand;

pub fn command(cfg: &Config, cmd: GdprCommand) -> Result<()> {
    let (text, dry_run) = match &cmd {
        GdprCommand::Export {
            address, dry_run, ..
        }
        | GdprCommand::Erase { address, dry_run } => (address, *dry_run),
    };
    let address = customer_address(cfg, text)?;
    if !cfg.store.path.exists() {
        bail!(
            "the database {} does not exist: nothing is stored about anyone",
            cfg.store.path.display()
        );
    }
    let mut store = Store::open(&cfg.store.path)?;
    match cmd {
        GdprCommand::Export { dir, .. } => export(cfg, &store, &address, &dir, dry_run),
        GdprCommand::Erase { .. } => {
            let erasure = store.gdpr_erase(&address, Utc::now(), dry_run)?;
            print!("{}", render(&address, &erasure, dry_run));
            Ok(())
        }
    }
}

/// The address, normalised, if it is a customer's: the agency's own addresses (an
/// operator's, the desk's, the queue's, the on-call person's) are refused, since erasing
/// them would rewrite every ticket's history and stop the desk recognising its own mail.
fn customer_address(cfg: &Config, text: &str) -> Result<Address> {
    let Some(address) = Address::parse(text.trim()) else {
        bail!("{text:?} is not an email address");
    };
    let s = &cfg.settings;
    if let Some(op) = s.operator_by_address(&address) {
        bail!(
            "{address} is an address of operator {:?} ([[operators]] in {}): `gdpr` is for \
             customers' data, not the agency's own",
            op.name,
            cfg.source.display()
        );
    }
    if s.own_addresses.contains(&address)
        || s.queue.contains(&address)
        || s.oncall.as_ref() == Some(&address)
    {
        bail!(
            "{address} is one of the desk's own addresses (smtp.from, [queue] or [oncall] in \
             {}): `gdpr` is for customers' data, not the agency's own",
            cfg.source.display()
        );
    }
    Ok(address)
}

fn export(cfg: &Config, store: &Store, address: &Address, dir: &Path, dry_run: bool) -> Result<()> {
    let data = store.gdpr_export(address)?;
    if dir.exists() && std::fs::read_dir(dir)?.next().is_some() {
        bail!(
            "{} exists and is not empty: give a new folder",
            dir.display()
        );
    }
    let what = format!(
        "{} message(s) as .eml, {} history line(s) and {} time entr(ies) of {} ticket(s)",
        data.mails.len(),
        data.history.len(),
        data.time.len(),
        data.tickets.len()
    );
    if dry_run {
        println!(
            "dry run, nothing written: the export of {address} would write to {}\n  {what}\n  \
             tickets  {}",
            dir.display(),
            data.tickets.join(" ")
        );
        return Ok(());
    }
    let readme = leggimi(&cfg.settings, &data, address)?;
    write_export(&data, &readme, dir).with_context(|| format!("writing {}", dir.display()))?;
    println!("exported {address} to {}: {what}", dir.display());
    Ok(())
}

/// The folder: readable by its owner only, since it holds the person's mail.
fn write_export(data: &Export, readme: &str, dir: &Path) -> Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    let mail_dir = dir.join("posta");
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&mail_dir)?;
    for (i, mail) in data.mails.iter().enumerate() {
        std::fs::write(mail_dir.join(eml_name(i + 1, mail)), &mail.raw)?;
    }
    let mut history = csv::Writer::from_path(dir.join("storico.csv"))?;
    history.write_record(["ticket", "quando", "chi", "evento", "dettaglio"])?;
    for (code, e) in &data.history {
        history.write_record([
            code.as_str(),
            &rome(e.at).to_rfc3339(),
            &e.actor,
            &e.event,
            &e.detail,
        ])?;
    }
    history.flush()?;
    let mut time = csv::Writer::from_path(dir.join("tempo.csv"))?;
    time.write_record(["ticket", "giorno", "operatore", "minuti"])?;
    for (code, t) in &data.time {
        time.write_record([code, &t.day, &t.operator, &t.minutes.to_string()])?;
    }
    time.flush()?;
    let mut readme_file = std::fs::File::create(dir.join("LEGGIMI.txt"))?;
    readme_file.write_all(readme.as_bytes())?;
    Ok(())
}

/// `0001-2026-03-10-100500-ricevuto-KZ-2026-00001.eml`: in order, with what and which ticket.
fn eml_name(n: usize, mail: &ExportMail) -> String {
    let what = match mail.direction {
        "in" => "ricevuto",
        "out" => "inviato",
        _ => "modulo",
    };
    let ticket = mail
        .ticket
        .as_ref()
        .map(|c| format!("-{c}"))
        .unwrap_or_default();
    format!(
        "{n:04}-{}-{what}{ticket}.eml",
        rome(mail.at).format("%Y-%m-%d-%H%M%S")
    )
}

/// What the folder holds, for the person who asked: `leggimi.txt.j2`, the agency's own
/// when `[templates] dir` has one (the built-in text, with a warning, if that one fails).
fn leggimi(settings: &Settings, data: &Export, address: &Address) -> Result<String> {
    let values = pages::leggimi(
        settings,
        address.as_str(),
        Utc::now(),
        data.mails.len(),
        &data.tickets,
    );
    let (text, problem) = settings.texts.page(Page::Leggimi.template(), &values);
    if let Some(problem) = problem {
        eprintln!("warning: {problem}; LEGGIMI.txt is written from the built-in text");
    }
    if text.is_empty() {
        bail!("LEGGIMI.txt could not be written: no text renders");
    }
    Ok(text)
}

/// The report for people.
fn render(address: &Address, e: &Erasure, dry_run: bool) -> String {
    let mut out = if dry_run {
        format!("dry run, nothing changed: erasing {address} would\n")
    } else {
        format!("erased {address}:\n")
    };
    let codes = |c: &[String]| {
        if c.is_empty() {
            String::new()
        } else {
            format!(": {}", c.join(" "))
        }
    };
    out.push_str(&format!(
        "  replace it with  {} (in {} row(s))\n",
        e.pseudonym, e.replaced
    ));
    out.push_str(&format!(
        "  tickets          {} asked for by it, summary, notes, quote texts and whole thread erased{}\n",
        e.tickets.len(),
        codes(&e.tickets)
    ));
    out.push_str(&format!(
        "  mail received    {} erased (raw mail, text and subject)\n",
        e.inbound
    ));
    out.push_str(&format!(
        "  mail sent        {} erased ({} not sent yet, given up)\n",
        e.outbox, e.cancelled
    ));
    out.push_str(&format!(
        "  form requests    {} held for confirmation, deleted\n",
        e.held_submissions
    ));
    if !e.contracts.is_empty() {
        out.push_str(&format!(
            "  contracts        address removed from {} (remove it from the administration's \
             list too, or the next import adds it back)\n",
            e.contracts.join(", ")
        ));
    }
    out.push_str(
        "  kept             ticket codes, states, dates, operators, time entries, quote amounts\n",
    );
    out.push_str(
        "  then             VACUUM and WAL checkpoint: nothing erased stays in the file\n",
    );
    if !e.open.is_empty() {
        out.push_str(&format!(
            "warning: still open, mail the desk sends on them now goes nowhere: {}\n",
            e.open.join(" ")
        ));
    }
    out
}
