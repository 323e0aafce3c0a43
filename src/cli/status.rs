//! `assistenza status [--format text|json|prometheus] [--out FILE]`: what a sysadmin or
//! a monitoring system wants to know about a running desk: the mailbox backlog, the
//! outbox, tickets by state, deadlines coming up, the 30-minute acknowledgement promise,
//! and the daemon's last look at the mailbox. Read from the database and, read-only,
//! from IMAP; nothing is changed. `--out` replaces a file whole (a temporary file renamed
//! over it), so node_exporter's textfile collector never reads half of one.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::config::Config;
use crate::core::calendar::rome_stamp;
use crate::mail::imap::Imap;
use crate::metrics::{self, Backlog, Snapshot};
use crate::store::{Store, StoreStatus};

/// `assistenza status`'s options.
#[derive(clap::Args, Debug)]
pub struct StatusArgs {
    /// The same as `--format json`.
    #[arg(long, conflicts_with = "format")]
    json: bool,
    /// `text` for people, `json`, or `prometheus` (the text format of node_exporter's
    /// textfile collector).
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// Write to this file (replaced whole, atomically) instead of standard output.
    #[arg(long)]
    out: Option<PathBuf>,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum Format {
    Text,
    Json,
    Prometheus,
}

/// How long `status` waits for the IMAP server before reporting it unreachable.
const IMAP_WAIT: Duration = Duration::from_secs(15);
/// The promise to customers.
const PROMISE: chrono::Duration = chrono::Duration::minutes(30);

#[derive(Serialize)]
struct Status {
    at: DateTime<Utc>,
    /// False when anything below needs a person's attention; `problems` says what.
    healthy: bool,
    problems: Vec<String>,
    mailbox: Mailbox,
    #[serde(flatten)]
    store: StoreStatus,
}

#[derive(Serialize)]
struct Mailbox {
    name: String,
    waiting: Option<u32>,
    oldest_received_at: Option<DateTime<Utc>>,
    error: Option<String>,
}

pub async fn status(cfg: &Config, args: StatusArgs) -> Result<()> {
    let format = if args.json { Format::Json } else { args.format };
    let store = Store::open_existing(&cfg.store.path)?;
    let (version, latest) = store.schema_version()?;
    if version != latest {
        bail!(
            "the database has schema {version}, this binary {latest}: start the daemon of this \
             version once (it migrates), or use the binary that matches"
        );
    }
    let now = Utc::now();
    let report = store.status(now)?;
    let totals = (format == Format::Prometheus)
        .then(|| store.totals(now))
        .transpose()?;
    drop(store);
    let mailbox = mailbox(cfg).await;
    if let Some(totals) = totals {
        let snapshot = Snapshot {
            at: now,
            store: report,
            totals,
            mailbox: mailbox.waiting.map(|waiting| Backlog {
                waiting,
                oldest_received_at: mailbox.oldest_received_at,
            }),
        };
        return emit(args.out.as_deref(), &metrics::render(&snapshot)?);
    }
    let store = report;
    let problems = problems(&store, &mailbox, cfg, now);
    let status = Status {
        at: now,
        healthy: problems.is_empty(),
        problems,
        mailbox,
        store,
    };
    let text = match format {
        Format::Json => format!("{}\n", serde_json::to_string_pretty(&status)?),
        _ => text(&status, now),
    };
    emit(args.out.as_deref(), &text)
}

/// `text` on standard output, or in `out` replaced whole: written beside it under a
/// temporary name, flushed to disk, then renamed over it.
fn emit(out: Option<&Path>, text: &str) -> Result<()> {
    let Some(out) = out else {
        print!("{text}");
        return Ok(());
    };
    let dir = match out.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let name = out
        .file_name()
        .with_context(|| format!("{}: not a file name", out.display()))?;
    // A name node_exporter ignores (it reads `*.prom` only) while it is being written.
    let temp = dir.join(format!(
        ".{}.{}.tmp",
        name.to_string_lossy(),
        std::process::id()
    ));
    let written = (|| -> std::io::Result<()> {
        let mut f = std::fs::File::create(&temp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()
    })();
    if let Err(e) = written.and_then(|()| std::fs::rename(&temp, out)) {
        let _ = std::fs::remove_file(&temp);
        return Err(e).with_context(|| format!("writing {}", out.display()));
    }
    Ok(())
}

async fn mailbox(cfg: &Config) -> Mailbox {
    let name = cfg.imap.mailbox.clone();
    if cfg.imap.password.is_withheld() {
        return Mailbox {
            name,
            waiting: None,
            oldest_received_at: None,
            error: Some(
                "not measured: this user cannot read the IMAP password (imap.password_file)".into(),
            ),
        };
    }
    let look = async {
        let mut imap = Imap::connect(&cfg.imap).await?;
        let backlog = imap.backlog(&cfg.imap.mailbox).await;
        imap.logout().await;
        backlog
    };
    match tokio::time::timeout(IMAP_WAIT, look).await {
        Ok(Ok((waiting, oldest))) => Mailbox {
            name,
            waiting: Some(waiting),
            oldest_received_at: oldest,
            error: None,
        },
        Ok(Err(e)) => Mailbox {
            name,
            waiting: None,
            oldest_received_at: None,
            error: Some(format!("{e:#}")),
        },
        Err(_) => Mailbox {
            name,
            waiting: None,
            oldest_received_at: None,
            error: Some(format!("no answer from the IMAP server in {IMAP_WAIT:?}")),
        },
    }
}

fn problems(s: &StoreStatus, m: &Mailbox, cfg: &Config, now: DateTime<Utc>) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(e) = &m.error {
        out.push(format!("mailbox unreachable: {e}"));
    }
    if let Some(oldest) = m.oldest_received_at {
        if now - oldest > PROMISE {
            out.push(format!(
                "a request has waited in the mailbox since {} (over 30 minutes): is the daemon running?",
                rome_stamp(oldest)
            ));
        }
    }
    // With IDLE the daemon looks at least every 10 minutes; polling, every interval.
    let expected = if s.intake_mode.as_deref() == Some("idle") {
        chrono::Duration::minutes(10)
    } else {
        chrono::Duration::from_std(cfg.imap.poll_interval).unwrap_or(chrono::Duration::MAX)
    };
    match s.last_poll_at {
        None => out.push("the daemon has never looked at the mailbox".into()),
        Some(at) if now - at > expected * 2 + chrono::Duration::minutes(1) => out.push(format!(
            "the daemon last looked at the mailbox at {}: is it running?",
            rome_stamp(at)
        )),
        Some(_) => {}
    }
    if !s.acks.missed_unsent.is_empty() {
        out.push(format!(
            "acknowledgements past the 30-minute promise and not sent: {}",
            s.acks.missed_unsent.join(", ")
        ));
    }
    if !s.acks.at_risk.is_empty() {
        out.push(format!(
            "acknowledgements not sent yet and due within 15 minutes: {}",
            s.acks.at_risk.join(", ")
        ));
    }
    if s.outbox_failed_7d > 0 {
        out.push(format!(
            "{} mail(s) given up in the last 7 days (see the log)",
            s.outbox_failed_7d
        ));
    }
    if s.deadlines_overdue > 0 {
        out.push(format!(
            "{} ticket deadline(s) past and not acted on",
            s.deadlines_overdue
        ));
    }
    if s.intake_failed_7d > 0 {
        let latest = s
            .intake_failed_latest
            .first()
            .map(|m| format!(" (latest: {})", m.reason))
            .unwrap_or_default();
        out.push(format!(
            "{} message(s) could not be handled and were set aside in Quarantine in the last \
             7 days{latest}",
            s.intake_failed_7d
        ));
    }
    out
}

fn ago(at: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let secs = (now - at).num_seconds().max(0);
    let span = match secs {
        0..=119 => format!("{secs} s"),
        120..=7199 => format!("{} min", secs / 60),
        _ => format!("{} h", secs / 3600),
    };
    format!("{} ({span} ago)", rome_stamp(at))
}

/// `println!` into a `String`.
macro_rules! say {
    ($out:expr, $($t:tt)*) => {{
        $out.push_str(&format!($($t)*));
        $out.push('\n');
    }};
}

/// The messages set aside after a failure, latest first, with why.
fn print_set_aside(out: &mut String, st: &StoreStatus, now: DateTime<Utc>) {
    if st.intake_failed_7d == 0 {
        say!(out, "set aside    none after a failure in 7 days");
        return;
    }
    say!(
        out,
        "set aside    {} in Quarantine after a failure in 7 days; latest:",
        st.intake_failed_7d
    );
    for m in &st.intake_failed_latest {
        say!(
            out,
            "  - {} from {} «{}»: {}",
            ago(m.at, now),
            m.sender.as_deref().unwrap_or("?"),
            m.subject.replace(char::is_control, " "),
            m.reason
        );
    }
}

fn print_mailbox(out: &mut String, m: &Mailbox, now: DateTime<Utc>) {
    match (&m.error, m.waiting) {
        (Some(e), _) => say!(out, "mailbox      {}: unreachable: {e}", m.name),
        (None, Some(n)) => match m.oldest_received_at {
            Some(oldest) => say!(
                out,
                "mailbox      {}: {n} waiting, oldest received {}",
                m.name,
                ago(oldest, now)
            ),
            None => say!(out, "mailbox      {}: empty", m.name),
        },
        (None, None) => say!(out, "mailbox      {}: unknown", m.name),
    }
}

fn text(s: &Status, now: DateTime<Utc>) -> String {
    let mut out = String::new();
    let out = &mut out;
    print_mailbox(out, &s.mailbox, now);
    let st = &s.store;
    match st.last_poll_at {
        Some(at) => say!(
            out,
            "last look    {} by {}",
            ago(at, now),
            st.intake_mode.as_deref().unwrap_or("?")
        ),
        None => say!(out, "last look    never"),
    }
    say!(
        out,
        "scheduled    last digest for {}, last monthly report for {}",
        st.last_digest_day.as_deref().unwrap_or("none yet"),
        st.last_report_month.as_deref().unwrap_or("none yet")
    );
    match st.outbox_oldest_pending_at {
        Some(at) => say!(
            out,
            "outbox       {} pending, oldest queued {}; in 7 days {} given up, {} held by the rate limit",
            st.outbox_pending,
            ago(at, now),
            st.outbox_failed_7d,
            st.outbox_held_7d
        ),
        None => say!(
            out,
            "outbox       empty; in 7 days {} given up, {} held by the rate limit",
            st.outbox_failed_7d, st.outbox_held_7d
        ),
    }
    let states: Vec<String> = ["open", "taken", "resolved", "closed"]
        .iter()
        .map(|k| format!("{k} {}", st.tickets_by_state.get(*k).copied().unwrap_or(0)))
        .collect();
    say!(out, "tickets      {}", states.join(", "));
    say!(
        out,
        "deadlines    {} overdue, {} in the next hour",
        st.deadlines_overdue,
        st.deadlines_next_hour
    );
    say!(
        out,
        "ack promise  {} missed and unsent, {} sent late in 24 h, {} at risk",
        st.acks.missed_unsent.len(),
        st.acks.missed_sent_24h,
        st.acks.at_risk.len()
    );
    print_set_aside(out, st, now);
    if s.problems.is_empty() {
        say!(out, "healthy      yes");
    } else {
        say!(out, "healthy      no");
        for p in &s.problems {
            say!(out, "  - {p}");
        }
    }
    std::mem::take(out)
}
