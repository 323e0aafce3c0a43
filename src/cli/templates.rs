//! `assistenza templates export | list | render`: the texts the desk sends, as files an
//! administrator edits (`[templates] dir`), which of them are in force, and a mail as it
//! would go out with sample data or a real ticket's.

use std::path::Path;

use anyhow::{bail, Context, Result};

use crate::config::Config;
use crate::core::decision::MailKind;
use crate::core::templates::pages;
use crate::core::templates::samples::{sample_ticket, situations};
use crate::core::texts::{is_page, is_part, names, Origin, BUILTIN};
use crate::store::Store;

use super::TemplatesCommand;

/// `templates export` needs no config: it is how one starts writing the texts.
pub fn export(dir: &Path, force: bool) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let existing: Vec<&str> = names().filter(|name| dir.join(name).exists()).collect();
    if !existing.is_empty() && !force {
        bail!(
            "{} already holds {}: nothing written (--force replaces them)",
            dir.display(),
            existing.join(", ")
        );
    }
    for (name, source) in BUILTIN {
        let path = dir.join(name);
        std::fs::write(&path, source).with_context(|| format!("writing {}", path.display()))?;
        println!("{}", path.display());
    }
    println!(
        "{} templates written. Set [templates] dir = \"{}\", edit, run `assistenza check`, \
         then `systemctl reload assistenza`. Delete a file to go back to the built-in text.",
        BUILTIN.len(),
        dir.display()
    );
    Ok(())
}

pub fn command(cfg: &Config, cmd: TemplatesCommand) -> Result<()> {
    match cmd {
        TemplatesCommand::Export { .. } => unreachable!("handled before the config is read"),
        TemplatesCommand::List => {
            list(cfg);
            Ok(())
        }
        TemplatesCommand::Render {
            name,
            ticket,
            situation,
        } => render(cfg, &name, ticket.as_deref(), situation.as_deref()),
    }
}

fn list(cfg: &Config) {
    println!("{:<24} {:<9} IN FORCE", "TEMPLATE", "KIND");
    for (name, origin) in cfg.settings.texts.origins() {
        let kind = match (is_part(name), is_page(name)) {
            (_, true) if name.ends_with(".txt.j2") => "document",
            (_, true) => "page",
            (true, _) => "part",
            _ => "mail",
        };
        let from = match origin {
            Origin::BuiltIn => "built-in".to_string(),
            Origin::File(file) => file,
        };
        println!("{name:<24} {kind:<9} {from}");
    }
}

fn render(cfg: &Config, name: &str, code: Option<&str>, situation: Option<&str>) -> Result<()> {
    let file = if name.ends_with(".j2") {
        name.to_string()
    } else {
        format!("{name}.j2")
    };
    if is_page(&file) {
        return render_page(cfg, &file, situation);
    }
    let Some(kind) = MailKind::for_template(&file) else {
        let names: Vec<&str> = MailKind::ALL.iter().map(|k| k.template()).collect();
        bail!(
            "{name}: not a mail the desk sends; the mails are: {}",
            names.join(", ")
        );
    };
    let ticket = match code {
        Some(code) => {
            let mut store = Store::open_existing(&cfg.store.path)?;
            let tx = store.begin()?;
            let found = tx.ticket_by_code(&code.trim().to_uppercase())?;
            found.with_context(|| format!("no ticket {code}"))?
        }
        None => sample_ticket(),
    };
    let settings = &cfg.settings;
    let all: Vec<_> = situations(settings, &ticket)
        .into_iter()
        .filter(|s| s.kind == kind)
        .collect();
    let labels: Vec<&str> = all.iter().map(|s| s.label.as_str()).collect();
    let chosen = match situation {
        Some(wanted) => all.iter().find(|s| s.label == wanted).with_context(|| {
            format!(
                "{file} has no situation {wanted:?}; it has: {}",
                labels.join(", ")
            )
        })?,
        None => all.first().context("no situation")?,
    };
    let (subject, body) = settings
        .texts
        .render(&file, &chosen.values)
        .map_err(|p| anyhow::anyhow!("{p}"))?;
    eprintln!(
        "{file} ({}), situation {:?} of: {}",
        settings.texts.file(&file),
        chosen.label,
        labels.join(", ")
    );
    print!("Subject: {subject}\n\n{body}");
    Ok(())
}

/// A page of the portal in one of its sample situations, as the browser would get it.
fn render_page(cfg: &Config, file: &str, situation: Option<&str>) -> Result<()> {
    let settings = &cfg.settings;
    let all: Vec<_> = pages::situations(settings)
        .into_iter()
        .filter(|(page, _, _)| page.template() == file)
        .collect();
    let labels: Vec<&str> = all.iter().map(|(_, label, _)| label.as_str()).collect();
    let chosen = match situation {
        Some(wanted) => all.iter().find(|(_, label, _)| label == wanted),
        None => all.first(),
    };
    let Some((_, label, values)) = chosen else {
        bail!(
            "{file} has no situation {:?}; it has: {}",
            situation.unwrap_or(""),
            labels.join(", ")
        );
    };
    let page = settings
        .texts
        .render_page(file, values)
        .map_err(|p| anyhow::anyhow!("{p}"))?;
    eprintln!(
        "{file} ({}), situation {label:?} of: {}",
        settings.texts.file(file),
        labels.join(", ")
    );
    print!("{page}");
    Ok(())
}
