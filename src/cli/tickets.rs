//! `assistenza tickets list | show`: what the administration sees of tickets.

use anyhow::{bail, Result};
use chrono::{DateTime, Utc};
use chrono_tz::Europe::Rome;

use crate::config::Config;
use crate::mail::parse::parse;
use crate::store::Store;

use super::TicketsCommand;

pub fn command(cfg: &Config, cmd: TicketsCommand) -> Result<()> {
    let store = Store::open(&cfg.store.path)?;
    match cmd {
        TicketsCommand::List { json } => {
            let rows = store.tickets()?;
            if json {
                println!("{}", serde_json::to_string_pretty(&rows)?);
                return Ok(());
            }
            println!(
                "{:<16} {:<8} {:<16} {:<28} {:<16} ACK",
                "CODE", "STATE", "OPENED", "REQUESTER", "CUSTOMER"
            );
            for r in rows {
                let ack = match r.ack_sent_at {
                    Some(at) => format!("sent {}", local(at)),
                    None => format!("pending, due {}", local(r.ack_due_at)),
                };
                println!(
                    "{:<16} {:<8} {:<16} {:<28} {:<16} {}",
                    r.code,
                    r.state,
                    local(r.opened_at),
                    r.requester,
                    truncate(&r.customer, 16),
                    ack
                );
            }
        }
        TicketsCommand::Show { code, json } => {
            let Some(t) = store.ticket(&code)? else {
                bail!("no ticket {code} (see `assistenza tickets list`)");
            };
            if json {
                println!("{}", serde_json::to_string_pretty(&t)?);
                return Ok(());
            }
            println!("Ticket     {}", t.row.code);
            println!("State      {}", t.row.state);
            println!("Customer   {}", t.row.customer);
            println!("Requester  {}", t.row.requester);
            if t.sender != t.row.requester {
                println!("Sent by    {}", t.sender);
            }
            println!("Opened     {}", local(t.row.opened_at));
            match t.row.ack_sent_at {
                Some(at) => println!(
                    "Ack        sent {} (due {})",
                    local(at),
                    local(t.row.ack_due_at)
                ),
                None => println!("Ack        not sent yet (due {})", local(t.row.ack_due_at)),
            }
            for m in &t.messages {
                println!();
                let arrow = if m.direction == "in" { "<-" } else { "->" };
                println!(
                    "{} {} {} {} {} [{}]",
                    local(m.at),
                    arrow,
                    m.kind,
                    m.from,
                    m.to,
                    m.status
                );
                println!("   Subject: {}", m.subject);
                let text = parse(&m.raw, m.raw.len() as u64, m.at).text;
                for line in text.lines() {
                    println!("   | {line}");
                }
            }
        }
    }
    Ok(())
}

/// Times for people: Europe/Rome, to the minute.
fn local(at: DateTime<Utc>) -> String {
    at.with_timezone(&Rome).format("%Y-%m-%d %H:%M").to_string()
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        let cut: String = s.chars().take(n - 1).collect();
        format!("{cut}…")
    }
}
