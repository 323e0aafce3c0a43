//! The desk's state as Prometheus metrics, in the text format (version 0.0.4) that
//! node_exporter's textfile collector and a Prometheus scrape both read: what
//! `assistenza status --format prometheus` writes and the portal's `/metrics` serves.
//! Computed from the store (and, for the CLI, the mailbox) at the moment of asking; no
//! metric lives in the daemon between two asks, so both ways give the same numbers.
//!
//! Every name starts with `assistenza_`. Current values are gauges; the totals read from
//! the database are gauges too, since `purge` lowers them (a counter must never go down).

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{prometheus_text, DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;

use crate::core::decision::Quarantine;
use crate::core::ticket::TicketState;
use crate::store::{Store, StoreStatus, Totals};

/// The `Content-Type` of what `render` writes.
pub const CONTENT_TYPE: &str = prometheus_text::CONTENT_TYPE;

/// Every reason the rules set a message aside for: exported even when zero, so that a
/// rate over it starts from a known value.
const QUARANTINE_REASONS: [Quarantine; 7] = [
    Quarantine::NoSender,
    Quarantine::OwnAddress,
    Quarantine::Loop,
    Quarantine::Automated,
    Quarantine::MailingList,
    Quarantine::UnknownSender,
    Quarantine::Malformed,
];

/// The `reason` of messages set aside because handling them failed (their stored
/// reasons are free text, one per failure: no label for each).
const FAILED_REASON: &str = "handling_failed";

/// The mailbox as `status` measured it over IMAP.
#[derive(Clone, Debug)]
pub struct Backlog {
    pub waiting: u32,
    pub oldest_received_at: Option<DateTime<Utc>>,
}

/// Everything the metrics are made of, read at `at`.
#[derive(Clone, Debug)]
pub struct Snapshot {
    pub at: DateTime<Utc>,
    pub store: StoreStatus,
    pub totals: Totals,
    /// `None` when the mailbox was not measured (the portal does not log in to IMAP, and
    /// `status` may fail to).
    pub mailbox: Option<Backlog>,
}

impl Snapshot {
    /// The store's part as of `at`; the mailbox is left unmeasured.
    pub fn of_store(store: &Store, at: DateTime<Utc>) -> Result<Snapshot> {
        Ok(Snapshot {
            at,
            store: store
                .status(at)
                .context("reading the status for the metrics")?,
            totals: store
                .totals(at)
                .context("reading the totals for the metrics")?,
            mailbox: None,
        })
    }
}

/// The registry being filled: one metric per call, written in the order of the calls.
struct Metrics(Registry);

impl Metrics {
    fn gauge(&mut self, name: &'static str, help: &str, value: i64) {
        self.0.register_collector(Box::new(Const {
            name,
            help: format!("{help}."),
            label: None,
            series: vec![(String::new(), value)],
        }));
    }

    fn by_label<'v>(
        &mut self,
        name: &'static str,
        help: &str,
        label: &'static str,
        values: impl IntoIterator<Item = (&'v str, u64)>,
    ) {
        self.0.register_collector(Box::new(Const {
            name,
            help: format!("{help}."),
            label: Some(label),
            series: values
                .into_iter()
                .map(|(v, n)| (v.to_string(), int(n)))
                .collect(),
        }));
    }
}

/// A gauge of values known when it is made, with at most one label, its series in the
/// order given (a `Family` writes them in hash order, another at every run: harder to
/// read and to compare; and collectors are written after registered metrics, so every
/// metric is one, to keep the order of the calls).
#[derive(Debug)]
struct Const {
    name: &'static str,
    help: String,
    label: Option<&'static str>,
    series: Vec<(String, i64)>,
}

impl Collector for Const {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let mut metric =
            encoder.encode_descriptor(self.name, &self.help, None, MetricType::Gauge)?;
        for (value, n) in &self.series {
            match self.label {
                Some(label) => {
                    let labels = [(label, value.as_str())];
                    ConstGauge::new(*n).encode(metric.encode_family(&labels)?)?;
                }
                None => {
                    let labels: [(&str, &str); 0] = [];
                    ConstGauge::new(*n).encode(metric.encode_family(&labels)?)?;
                }
            }
        }
        Ok(())
    }
}

fn int(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Seconds from `since` to `now`, never below zero; 0 when there is nothing waiting.
fn age(since: Option<DateTime<Utc>>, now: DateTime<Utc>) -> i64 {
    since.map_or(0, |t| (now - t).num_seconds().max(0))
}

/// The snapshot in the Prometheus text format.
pub fn render(s: &Snapshot) -> Result<String> {
    let mut m = Metrics(Registry::with_prefix("assistenza"));
    m.by_label(
        "build_info",
        "The running version, always 1",
        "version",
        [(env!("CARGO_PKG_VERSION"), 1)],
    );
    mailbox(&mut m, s);
    outbox(&mut m, s);
    tickets(&mut m, s);
    quarantine(&mut m, &s.totals);
    let mut text = String::new();
    prometheus_text::encode(&mut text, &m.0).context("encoding the metrics")?;
    Ok(text)
}

fn mailbox(m: &mut Metrics, s: &Snapshot) {
    m.gauge(
        "mailbox_measured",
        "1 when the mailbox backlog below was measured over IMAP now, 0 when it was not",
        i64::from(s.mailbox.is_some()),
    );
    if let Some(b) = &s.mailbox {
        m.gauge(
            "mailbox_backlog_messages",
            "Messages waiting in the support mailbox, not yet handled",
            i64::from(b.waiting),
        );
        m.gauge(
            "mailbox_oldest_message_age_seconds",
            "How long the oldest message in the mailbox has waited, 0 when it is empty",
            age(b.oldest_received_at, s.at),
        );
    }
    m.gauge(
        "last_mailbox_look_timestamp_seconds",
        "When the daemon last looked at the mailbox (Unix time), 0 if it never did",
        s.store.last_poll_at.map_or(0, |t| t.timestamp()),
    );
}

fn outbox(m: &mut Metrics, s: &Snapshot) {
    let st = &s.store;
    m.gauge(
        "outbox_pending_messages",
        "Mail queued and not sent yet",
        int(st.outbox_pending),
    );
    m.gauge(
        "outbox_oldest_pending_age_seconds",
        "How long the oldest mail not sent yet has waited, 0 when none waits",
        age(st.outbox_oldest_pending_at, s.at),
    );
    m.gauge(
        "outbox_given_up_messages",
        "Mail given up (refused for good or out of retries), in the whole database",
        int(s.totals.outbox_given_up),
    );
    m.gauge(
        "outbox_held_messages",
        "Mail held by the reply rate limit and never sent, in the whole database",
        int(s.totals.outbox_held),
    );
}

fn tickets(m: &mut Metrics, s: &Snapshot) {
    let st = &s.store;
    let states = TicketState::ALL.iter().map(|state| {
        let name = state.as_str();
        (name, st.tickets_by_state.get(name).copied().unwrap_or(0))
    });
    m.by_label("tickets", "Tickets by state", "state", states);
    m.gauge(
        "acks_missed",
        "Acknowledgements sent after the 30-minute promise or not sent past it, in the \
         whole database",
        int(s.totals.acks_missed),
    );
    m.gauge(
        "acks_overdue",
        "Acknowledgements not sent and already past the 30-minute promise",
        st.acks.missed_unsent.len() as i64,
    );
    m.gauge(
        "acks_at_risk",
        "Acknowledgements not sent yet and due within 15 minutes",
        st.acks.at_risk.len() as i64,
    );
    m.gauge(
        "first_contacts_missed",
        "Tickets not taken within their first-contact time (the queue reminded, taken late, \
         or open past it), in the whole database",
        int(s.totals.first_contacts_missed),
    );
    m.gauge(
        "deadlines_overdue",
        "Ticket deadlines past and not acted on yet",
        int(st.deadlines_overdue),
    );
}

fn quarantine(m: &mut Metrics, t: &Totals) {
    let mut counts: Vec<(&str, u64)> = QUARANTINE_REASONS
        .iter()
        .map(|q| (q.name(), t.quarantined.get(q.name()).copied().unwrap_or(0)))
        .collect();
    for (reason, n) in &t.quarantined {
        if !counts.iter().any(|(r, _)| r == reason) {
            counts.push((reason, *n));
        }
    }
    counts.push((FAILED_REASON, t.failed));
    m.by_label(
        "quarantined_messages",
        "Messages set aside in Quarantine, by reason, in the whole database",
        "reason",
        counts,
    );
}

#[cfg(test)]
mod tests {
    use chrono::Duration;

    use crate::store::test_support::temp_store;

    use super::*;

    #[test]
    fn a_measured_mailbox_adds_its_backlog_and_every_state_is_written_in_order() {
        let (_dir, store) = temp_store();
        let now = Utc::now();
        let mut snapshot = Snapshot::of_store(&store, now).expect("snapshot");
        let unmeasured = render(&snapshot).expect("render");
        assert!(unmeasured.contains("\nassistenza_mailbox_measured 0\n"));
        assert!(!unmeasured.contains("assistenza_mailbox_backlog_messages"));
        snapshot.mailbox = Some(Backlog {
            waiting: 3,
            oldest_received_at: Some(now - Duration::minutes(5)),
        });
        let text = render(&snapshot).expect("render");
        for line in [
            "assistenza_mailbox_measured 1",
            "assistenza_mailbox_backlog_messages 3",
            "assistenza_mailbox_oldest_message_age_seconds 300",
            "# TYPE assistenza_mailbox_backlog_messages gauge",
        ] {
            assert!(text.contains(&format!("\n{line}\n")), "{line} in:\n{text}");
        }
        let states: Vec<&str> = text
            .lines()
            .filter_map(|l| l.strip_prefix("assistenza_tickets{state=\""))
            .filter_map(|l| l.split('"').next())
            .collect();
        let all: Vec<&str> = TicketState::ALL.iter().map(|s| s.as_str()).collect();
        assert_eq!(states, all);
        assert!(text.contains("\nassistenza_tickets{state=\"merged\"} 0\n"));
    }

    /// Fails to compile when a reason is added to the core and not to the list.
    #[test]
    fn every_quarantine_reason_is_exported() {
        for q in QUARANTINE_REASONS {
            let listed = match q {
                Quarantine::NoSender
                | Quarantine::OwnAddress
                | Quarantine::Loop
                | Quarantine::Automated
                | Quarantine::MailingList
                | Quarantine::UnknownSender
                | Quarantine::Malformed => true,
            };
            assert!(listed);
        }
        let mut names: Vec<&str> = QUARANTINE_REASONS.iter().map(|q| q.name()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), QUARANTINE_REASONS.len());
    }
}
