//! Reading tickets for the administration: the list and one ticket's whole thread.

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use rusqlite::OptionalExtension;

use super::{parse_ts, Store};

/// One line of `tickets list`.
#[derive(Clone, Debug, serde::Serialize)]
pub struct TicketRow {
    pub code: String,
    pub state: String,
    pub customer: String,
    pub requester: String,
    pub opened_at: DateTime<Utc>,
    /// The acknowledgement promise (30 minutes after receipt).
    pub ack_due_at: DateTime<Utc>,
    /// When the acknowledgement was accepted by the SMTP server, if it was.
    pub ack_sent_at: Option<DateTime<Utc>>,
    pub level: u8,
    /// The operator in charge.
    pub operator: Option<String>,
    /// The second-level team, once escalated.
    pub team: Option<String>,
    pub urgent: bool,
    /// The next deadline: `ack`, `first contact` or `reopen window`, with its time.
    pub next_deadline: Option<(String, DateTime<Utc>)>,
}

/// A line of a ticket's history.
#[derive(Clone, Debug, serde::Serialize)]
pub struct TicketEvent {
    pub at: DateTime<Utc>,
    pub actor: String,
    pub event: String,
    pub detail: String,
}

/// A message of a ticket's thread, in or out.
#[derive(Clone, Debug, serde::Serialize)]
pub struct TicketMessage {
    pub at: DateTime<Utc>,
    /// `in` (received) or `out` (sent by the daemon).
    pub direction: &'static str,
    /// `request`, `reply` … for inbound; the mail kind (`ack` …) for outbound.
    pub kind: String,
    pub from: String,
    pub to: String,
    pub subject: String,
    /// Delivery state of outbound mail: `sent`, `pending` or `failed: …`.
    pub status: String,
    #[serde(skip)]
    pub raw: Vec<u8>,
}

/// `tickets show`: the ticket and its thread, oldest first.
#[derive(Clone, Debug, serde::Serialize)]
pub struct TicketDetail {
    #[serde(flatten)]
    pub row: TicketRow,
    pub sender: String,
    pub summary: String,
    pub messages: Vec<TicketMessage>,
    pub history: Vec<TicketEvent>,
}

const ROW_SQL: &str = "SELECT t.code, t.state, c.customer, t.requester, t.opened_at, t.ack_due_at,
        (SELECT MIN(o.sent_at) FROM outbox o WHERE o.ticket_id = t.id AND o.kind = 'ack'),
        t.id, t.sender, t.summary, t.level, t.operator, t.team, t.urgent, t.next_deadline_at,
        t.state = 'resolved'
    FROM tickets t JOIN contracts c ON c.id = t.contract_id";

fn row_from(r: &rusqlite::Row<'_>) -> rusqlite::Result<(TicketRow, i64, String, String)> {
    let ack_sent: Option<String> = r.get(6)?;
    let ack_sent_at = ack_sent.map(|t| parse_ts(&t)).transpose()?;
    let ack_due_at = parse_ts(&r.get::<_, String>(5)?)?;
    let next: Option<String> = r.get(14)?;
    let resolved: bool = r.get(15)?;
    // The acknowledgement comes first: until it is sent, it is the deadline that matters.
    let next_deadline = match (ack_sent_at, next) {
        (None, _) => Some(("ack".to_string(), ack_due_at)),
        (Some(_), Some(at)) => {
            let what = if resolved {
                "reopen window"
            } else {
                "first contact"
            };
            Some((what.to_string(), parse_ts(&at)?))
        }
        (Some(_), None) => None,
    };
    Ok((
        TicketRow {
            code: r.get(0)?,
            state: r.get(1)?,
            customer: r.get(2)?,
            requester: r.get(3)?,
            opened_at: parse_ts(&r.get::<_, String>(4)?)?,
            ack_due_at,
            ack_sent_at,
            level: r.get(10)?,
            operator: r.get(11)?,
            team: r.get(12)?,
            urgent: r.get(13)?,
            next_deadline,
        },
        r.get(7)?,
        r.get(8)?,
        r.get(9)?,
    ))
}

impl Store {
    /// Every ticket, newest first.
    pub fn tickets(&self) -> Result<Vec<TicketRow>> {
        let mut stmt = self
            .conn
            .prepare(&format!("{ROW_SQL} ORDER BY t.id DESC"))?;
        let rows = stmt
            .query_map([], row_from)?
            .map(|r| r.map(|(row, ..)| row))
            .collect::<rusqlite::Result<Vec<_>>>()
            .context("listing tickets")?;
        Ok(rows)
    }

    /// One ticket with its thread, or None when the code is unknown.
    pub fn ticket(&self, code: &str) -> Result<Option<TicketDetail>> {
        let found = self
            .conn
            .prepare(&format!("{ROW_SQL} WHERE t.code = ?1 COLLATE NOCASE"))?
            .query_row([code], row_from)
            .optional()?;
        let Some((row, id, sender, summary)) = found else {
            return Ok(None);
        };
        // Ordered as handled (a message, then the mail it caused): INTERNALDATE has whole
        // seconds only. A stable sort keeps each message before the mail it caused.
        let mut ordered = self.messages_in(id)?;
        ordered.extend(self.messages_out(id)?);
        ordered.sort_by(|a, b| a.0.cmp(&b.0));
        let messages: Vec<TicketMessage> = ordered.into_iter().map(|(_, m)| m).collect();
        let history = self
            .conn
            .prepare("SELECT at, actor, event, detail FROM ticket_events WHERE ticket_id = ?1 ORDER BY at, id")?
            .query_map([id], |r| {
                Ok(TicketEvent {
                    at: parse_ts(&r.get::<_, String>(0)?)?,
                    actor: r.get(1)?,
                    event: r.get(2)?,
                    detail: r.get(3)?,
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()
            .context("reading a ticket's history")?;
        Ok(Some(TicketDetail {
            row,
            sender,
            summary,
            messages,
            history,
        }))
    }

    /// The messages received on ticket `id`, each with the time it was handled.
    fn messages_in(&self, id: i64) -> Result<Vec<(String, TicketMessage)>> {
        let mut inbound = self.conn.prepare(
            "SELECT received_at, outcome, COALESCE(sender, ''), subject, raw, processed_at
             FROM inbound WHERE ticket_id = ?1",
        )?;
        let rows = inbound.query_map([id], |r| {
            let outcome: String = r.get(1)?;
            let handled: String = r.get(5)?;
            let m = TicketMessage {
                at: parse_ts(&r.get::<_, String>(0)?)?,
                direction: "in",
                kind: match outcome.as_str() {
                    "ticket" => "request".into(),
                    "update" => "reply".into(),
                    "command" => "operator".into(),
                    other => other.to_string(),
                },
                from: r.get(2)?,
                to: String::new(),
                subject: r.get(3)?,
                status: "received".into(),
                raw: r.get(4)?,
            };
            Ok((handled, m))
        })?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    /// The mail queued for ticket `id`, each with the time it was queued.
    fn messages_out(&self, id: i64) -> Result<Vec<(String, TicketMessage)>> {
        let mut outbound = self.conn.prepare(
            "SELECT created_at, kind, envelope_from, recipients, subject, sent_at, failed_at,
                    last_error, raw, held
             FROM outbox WHERE ticket_id = ?1",
        )?;
        let rows = outbound.query_map([id], |r| {
            let created: String = r.get(0)?;
            let m = TicketMessage {
                at: parse_ts(&created)?,
                direction: "out",
                kind: r.get(1)?,
                from: r.get(2)?,
                to: r.get(3)?,
                subject: r.get(4)?,
                status: delivery_status(r.get(5)?, r.get(6)?, r.get(7)?, r.get(9)?),
                raw: r.get(8)?,
            };
            Ok((created, m))
        })?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }
}

/// Where an outgoing mail is: sent, held by the rate limit, given up, or waiting.
fn delivery_status(
    sent: Option<String>,
    failed: Option<String>,
    error: Option<String>,
    held: Option<String>,
) -> String {
    match (sent, failed) {
        (Some(at), _) => format!("sent {at}"),
        (None, Some(_)) if held.is_some() => {
            format!("held, never sent ({})", held.unwrap_or_default())
        }
        (None, Some(at)) => format!("failed {at}: {}", error.unwrap_or_default()),
        (None, None) => match error {
            Some(e) => format!("pending (last error: {e})"),
            None => "pending".into(),
        },
    }
}
