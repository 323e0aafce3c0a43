//! `assistenza tickets list | show`: what the administration sees of tickets.

use anyhow::{bail, Result};

use crate::config::Config;
use crate::core::calendar::rome_stamp;
use crate::mail::parse::parse;
use crate::store::{Store, TicketDetail};

use super::TicketsCommand;

pub fn command(cfg: &Config, cmd: TicketsCommand) -> Result<()> {
    let store = Store::open(&cfg.store.path)?;
    match cmd {
        TicketsCommand::List { json } => list(&store, json),
        TicketsCommand::Show { code, json } => show(&store, &code, json),
    }
}

fn list(store: &Store, json: bool) -> Result<()> {
    let rows = store.tickets()?;
    if json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(());
    }
    println!(
        "{:<16} {:<9} {:<3} {:<12} {:<3} {:<30} {:<28} CUSTOMER",
        "CODE", "STATE", "LVL", "OPERATOR", "URG", "NEXT DEADLINE", "REQUESTER"
    );
    for r in rows {
        let deadline = r
            .next_deadline
            .as_ref()
            .map(|(what, at)| format!("{what} {}", rome_stamp(*at)))
            .unwrap_or_else(|| "-".into());
        let operator = r
            .operator
            .clone()
            .or_else(|| r.team.as_ref().map(|t| format!("({t})")))
            .unwrap_or_else(|| "-".into());
        println!(
            "{:<16} {:<9} {:<3} {:<12} {:<3} {:<30} {:<28} {}",
            r.code,
            r.state,
            r.level,
            truncate(&operator, 12),
            if r.urgent { "!" } else { "" },
            deadline,
            r.requester,
            truncate(&r.customer, 24),
        );
    }
    Ok(())
}

fn show(store: &Store, code: &str, json: bool) -> Result<()> {
    let Some(t) = store.ticket(code)? else {
        bail!("no ticket {code} (see `assistenza tickets list`)");
    };
    if json {
        println!("{}", serde_json::to_string_pretty(&t)?);
        return Ok(());
    }
    print_header(&t);
    print_history(&t);
    print_messages(&t);
    Ok(())
}

fn print_header(t: &TicketDetail) {
    println!("Ticket     {}", t.row.code);
    println!("State      {}", t.row.state);
    println!("Level      {}", t.row.level);
    if let Some(op) = &t.row.operator {
        println!("Operator   {op}");
    }
    if let Some(team) = &t.row.team {
        println!("Team       {team}");
    }
    if t.row.urgent {
        println!("Urgent     yes (possible extra-billed intervention)");
    }
    if let Some((what, at)) = &t.row.next_deadline {
        println!("Deadline   {what} {}", rome_stamp(*at));
    }
    println!("Customer   {}", t.row.customer);
    println!("Requester  {}", t.row.requester);
    if t.sender != t.row.requester {
        println!("Sent by    {}", t.sender);
    }
    println!("Opened     {}", rome_stamp(t.row.opened_at));
    match t.row.ack_sent_at {
        Some(at) => println!(
            "Ack        sent {} (due {})",
            rome_stamp(at),
            rome_stamp(t.row.ack_due_at)
        ),
        None => println!(
            "Ack        not sent yet (due {})",
            rome_stamp(t.row.ack_due_at)
        ),
    }
}

fn print_history(t: &TicketDetail) {
    println!();
    println!("History:");
    for e in &t.history {
        let detail = if e.detail.is_empty() {
            String::new()
        } else {
            format!(": {}", e.detail.lines().next().unwrap_or(""))
        };
        println!(
            "  {}  {:<16} by {}{}",
            rome_stamp(e.at),
            e.event,
            safe(&e.actor),
            safe(&detail)
        );
    }
}

fn print_messages(t: &TicketDetail) {
    for m in &t.messages {
        println!();
        let arrow = if m.direction == "in" { "<-" } else { "->" };
        println!(
            "{} {} {} {} {} [{}]",
            rome_stamp(m.at),
            arrow,
            m.kind,
            m.from,
            m.to,
            m.status
        );
        println!("   Subject: {}", safe(&m.subject));
        let text = parse(&m.raw, m.raw.len() as u64, m.at).text;
        for line in text.lines() {
            println!("   | {}", safe(line));
        }
    }
}

/// Text from mail made safe for a terminal: control characters (escape sequences could
/// rewrite the administrator's screen or title) become `�`; tabs stay.
fn safe(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_control() && c != '\t' {
                '\u{fffd}'
            } else {
                c
            }
        })
        .collect()
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        let cut: String = s.chars().take(n - 1).collect();
        format!("{cut}…")
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn escape_sequences_from_mail_never_reach_the_terminal() {
        assert_eq!(
            super::safe("ok\x1b]0;pwned\x07 done\tx"),
            "ok\u{fffd}]0;pwned\u{fffd} done\tx"
        );
    }
}
