//! `assistenza tickets list | show`: what the administration sees of tickets.

use anyhow::{bail, Result};

use crate::config::Config;
use crate::core::calendar::rome_stamp;
use crate::core::templates::duration;
use crate::core::ticket::Extra;
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
        "{:<16} {:<17} {:<3} {:<12} {:<3} {:>6} {:<38} {:<28} CUSTOMER",
        "CODE", "STATE", "LVL", "OPERATOR", "URG", "TIME", "NEXT DEADLINE", "REQUESTER"
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
        // No time recorded reads as a dash, like every other empty column.
        let time = if r.time_minutes == 0 { "-" } else { &r.time };
        println!(
            "{:<16} {:<17} {:<3} {:<12} {:<3} {:>6} {:<38} {:<28} {}",
            r.code,
            r.state,
            r.level,
            truncate(&operator, 12),
            if r.urgent { "!" } else { "" },
            time,
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
    print_people(&t);
    print_time(&t);
    print_quotes(&t);
    print_history(&t);
    print_messages(&t);
    Ok(())
}

fn print_header(t: &TicketDetail) {
    println!("Ticket     {}", t.row.code);
    println!("State      {}", t.row.state);
    if let Some(into) = &t.merged_into {
        println!("Merged     into {into}, which holds its thread, history and time");
    }
    if !t.merged_from.is_empty() {
        println!("Merged     from {}", t.merged_from.join(", "));
    }
    println!("Level      {}", t.row.level);
    if let Some(op) = &t.row.operator {
        println!("Operator   {op}");
    }
    if let Some(team) = &t.row.team {
        println!("Team       {team}");
    }
    if t.row.urgent {
        println!("Urgent     yes");
    }
    println!("Extra      {}", extra_in_italian(&t.row.extra));
    if let Some((what, at)) = &t.row.next_deadline {
        println!("Deadline   {what} {}", rome_stamp(*at));
    }
}

/// The flag as the agency says it; a name this binary does not know is shown as stored.
fn extra_in_italian(stored: &str) -> &str {
    match Extra::from_name(stored) {
        Some(Extra::No) => "no",
        Some(Extra::Possible) => "possibile",
        Some(Extra::Yes) => "sì",
        None => stored,
    }
}

/// The customer's side: who asked, who is copied, and the acknowledgement they got.
fn print_people(t: &TicketDetail) {
    println!("Customer   {}", t.row.customer);
    println!("Requester  {}", t.row.requester);
    if t.sender != t.row.requester {
        println!("Sent by    {}", t.sender);
    }
    if !t.participants.is_empty() {
        println!("In copy    {}", t.participants.join(", "));
    }
    println!("Opened     {}", rome_stamp(t.row.opened_at));
    match (t.row.ack_sent_at, &t.merged_into) {
        (Some(at), _) => println!(
            "Ack        sent {} (due {})",
            rome_stamp(at),
            rome_stamp(t.row.ack_due_at)
        ),
        // Its outgoing mail moved with the thread: whether the ack went is shown there.
        (None, Some(into)) => println!("Ack        with the thread, on {into}"),
        (None, None) => println!(
            "Ack        not sent yet (due {})",
            rome_stamp(t.row.ack_due_at)
        ),
    }
}

/// Each `#tempo` line and the total, durations right-aligned so they add up by eye.
fn print_time(t: &TicketDetail) {
    if t.time_entries.is_empty() {
        return;
    }
    let spans: Vec<String> = t.time_entries.iter().map(|e| duration(e.minutes)).collect();
    let who = widest(
        t.time_entries
            .iter()
            .map(|e| e.operator.as_str())
            .chain(["total"]),
    );
    let long = widest(
        spans
            .iter()
            .map(String::as_str)
            .chain([t.row.time.as_str()]),
    );
    println!();
    println!("Time:");
    for (e, span) in t.time_entries.iter().zip(&spans) {
        println!("  {}  {:<who$}  {span:>long$}", e.day, e.operator);
    }
    println!("  {:<10}  {:<who$}  {:>long$}", "", "total", t.row.time);
}

/// Each quote, oldest first, with what the customer decided and who.
fn print_quotes(t: &TicketDetail) {
    if t.quotes.is_empty() {
        return;
    }
    let amount = widest(t.quotes.iter().map(|q| q.amount.as_str()));
    let who = widest(t.quotes.iter().map(|q| q.operator.as_str()));
    println!();
    println!("Quotes:");
    for q in &t.quotes {
        let decision = match (&q.decision, q.decided_at) {
            (None, _) => "no answer yet".to_string(),
            (Some(d), None) => d.clone(),
            (Some(d), Some(at)) => format!("{d} {}", rome_stamp(at)),
        };
        let by = q
            .decided_by
            .as_ref()
            .map(|a| format!(" by {}", safe(a)))
            .unwrap_or_default();
        println!(
            "  {}  {:>amount$}  {:<who$}  {decision}{by}",
            rome_stamp(q.sent_at),
            q.amount,
            q.operator
        );
    }
}

/// The width of the widest of `texts`, in characters (an amount's `€` is one).
fn widest<'a>(texts: impl Iterator<Item = &'a str>) -> usize {
    texts.map(|s| s.chars().count()).max().unwrap_or(0)
}

fn print_history(t: &TicketDetail) {
    println!();
    println!("History:");
    if let (true, Some(into)) = (t.history.is_empty(), &t.merged_into) {
        println!("  (moved to {into} with the merge)");
    }
    for e in &t.history {
        let detail = if e.detail.is_empty() {
            String::new()
        } else {
            format!(": {}", e.detail.lines().next().unwrap_or(""))
        };
        println!(
            // As wide as the longest event name, `participant_removed`.
            "  {}  {:<19} by {}{}",
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
