//! One message, one pass: parse, look up the facts, `decide`, compose the mail the
//! decision sends, and record the message with the decision's effects and the composed
//! mail in one transaction. Shared by the daemon's intake and by `assistenza process`, so
//! both behave the same. The store receives bytes to queue: composing happens here. A
//! message that fails says whether the failure will pass (`failure::Kind`); one that will
//! not is set aside here, recorded with its reason, and the first-level queue told, in
//! one transaction.

use anyhow::{bail, Result};
use chrono::{DateTime, NaiveDate, Utc};

use crate::config::Config;
use crate::core::decide;
use crate::core::decision::{Decision, Effect, Folder, Outcome, Settings};
use crate::core::digest;
use crate::core::expiry::{self, Notice, Notify};
use crate::core::failed;
use crate::core::inbound::Inbound;
use crate::core::report::{self, Month};
use crate::core::request;
use crate::core::texts::Trouble;
use crate::core::ticket::code_year;
use crate::core::timers;
use crate::failure::Failure;
use crate::mail::compose::{Composed, Composer};
use crate::mail::parse::parse;
use crate::store::{Cause, Duplicate, Held, InboundSource, NewPending, Pending, Store, Tx};

/// What happened to a message.
#[derive(Clone, Debug)]
pub enum Handled {
    /// Newly recorded with this outcome.
    Recorded {
        inbound_id: i64,
        outcome: Outcome,
        sender: Option<String>,
        /// Something the sysadmin should read (a possible spoof).
        warning: Option<String>,
    },
    /// Recorded before (same IMAP identity or Message-ID): only the move is owed.
    Duplicate(Duplicate),
    /// Could not be handled, and never will be (or not for too long): recorded as set
    /// aside in quarantine, with why, and the first-level queue told.
    SetAside { inbound_id: i64, reason: String },
}

impl Handled {
    /// The folder the message belongs in.
    pub fn folder(&self) -> Folder {
        match self {
            Handled::Recorded { outcome, .. } => outcome.folder(),
            Handled::Duplicate(d) => d.folder,
            Handled::SetAside { .. } => Folder::Quarantine,
        }
    }

    /// The inbound row id.
    pub fn inbound_id(&self) -> i64 {
        match self {
            Handled::Recorded { inbound_id, .. } => *inbound_id,
            Handled::Duplicate(d) => d.inbound_id,
            Handled::SetAside { inbound_id, .. } => *inbound_id,
        }
    }
}

/// What a confirmation link did.
#[derive(Clone, Debug)]
pub enum Confirmation {
    /// The submission was handled as any other (a ticket, a rejection, quarantine).
    Done(Handled),
    /// No such link.
    Unknown,
    /// Confirmed before.
    Used,
    /// Past its 24 hours.
    Expired,
}

/// The settings and composer every pass needs, built once from the config.
pub struct Pipeline {
    pub settings: Settings,
    /// `[contracts] notify_to`: None, no expiry notices.
    expiry: Option<Notify>,
    composer: Composer,
}

impl Pipeline {
    /// Cannot fail: config validation built the settings, every address in them included.
    pub fn new(cfg: &Config) -> Pipeline {
        Pipeline {
            settings: cfg.settings.clone(),
            expiry: cfg.contracts.notify.clone(),
            composer: Composer::new(&cfg.smtp.from_name, &cfg.smtp.from),
        }
    }

    /// Handles one message: `raw` is the whole message, or only its header when `size`
    /// is over the limit. `received_at` is when the mailbox got it; `now` is the time of
    /// processing, stamped on the mails it queues. A failure says whether it will pass.
    pub fn handle(
        &self,
        store: &mut Store,
        source: &InboundSource,
        raw: &[u8],
        size: u64,
        received_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Handled, Failure> {
        let tx = store.begin()?;
        if let Some(dup) = tx.find_by_source(source)? {
            return Ok(Handled::Duplicate(dup));
        }
        let msg = parse(raw, size, received_at);
        let handled = self.record(&tx, source, &msg, raw, now)?;
        tx.commit()?;
        Ok(handled)
    }

    /// Handles a form submission the portal made into the core's message (`raw` is the
    /// submission as stored): the same rules and the same one transaction as an email.
    pub fn submit(
        &self,
        store: &mut Store,
        msg: &Inbound,
        raw: &[u8],
        now: DateTime<Utc>,
    ) -> Result<Handled, Failure> {
        let tx = store.begin()?;
        let handled = self.record(&tx, &InboundSource::Web, msg, raw, now)?;
        tx.commit()?;
        Ok(handled)
    }

    /// Decides on a parsed message and records it with the decision's effects and mail,
    /// inside `tx`; a message recorded before under its Message-ID is only a duplicate.
    fn record(
        &self,
        tx: &Tx<'_>,
        source: &InboundSource,
        msg: &Inbound,
        raw: &[u8],
        now: DateTime<Utc>,
    ) -> Result<Handled, Failure> {
        if let Some(id) = &msg.message_id {
            if let Some(dup) = tx.find_by_message_id(id)? {
                return Ok(Handled::Duplicate(dup));
            }
        }
        let wanted = decide::wanted(msg, &self.settings);
        let facts = tx.facts(
            &wanted,
            &self.settings.code_prefix,
            code_year(msg.received_at),
            now,
        )?;
        let decision = decide::decide(msg, &facts, &self.settings);
        // The inbound row first: its id names the mail the decision sends.
        let inbound_id = tx.record_inbound(source, msg, raw, &decision.outcome, now)?;
        let cause = Cause::Inbound(inbound_id);
        let mails = self.compose(cause, &decision.effects, now)?;
        tx.apply(cause, &decision.effects, &mails, now)?;
        Ok(Handled::Recorded {
            inbound_id,
            outcome: decision.outcome,
            sender: msg.from.as_ref().map(|a| a.to_string()),
            warning: decision.warning,
        })
    }

    /// Holds a form submission until the owner of its address confirms it, and queues
    /// the mail with the link (`link`, valid until `valid_until`) when the core says the
    /// address may get one, in one transaction. The same form held before is left as it is.
    pub fn hold(
        &self,
        store: &mut Store,
        pending: &NewPending<'_>,
        msg: &Inbound,
        link: &str,
        now: DateTime<Utc>,
    ) -> Result<Held> {
        let tx = store.begin()?;
        let held = tx.hold(pending)?;
        if let Held::New(id) = held {
            let wanted = decide::wanted(msg, &self.settings);
            let facts = tx.facts(&wanted, &self.settings.code_prefix, code_year(now), now)?;
            let effects =
                request::confirmation(msg, &facts, &self.settings, link, pending.expires_at);
            let cause = Cause::Pending(id);
            let mails = self.compose(cause, &effects, now)?;
            tx.apply(cause, &effects, &mails, now)?;
        }
        tx.commit()?;
        Ok(held)
    }

    /// Confirms the held submission of link `token`: `message` makes the core's message of
    /// it, which is then handled as `submit` would, in the same transaction that marks
    /// the link used. A link unknown, used or expired changes nothing.
    pub fn confirm(
        &self,
        store: &mut Store,
        token: &str,
        now: DateTime<Utc>,
        message: impl FnOnce(&Pending) -> Result<Inbound>,
    ) -> Result<Confirmation, Failure> {
        let tx = store.begin()?;
        let Some(pending) = tx.pending(token)? else {
            return Ok(Confirmation::Unknown);
        };
        if pending.confirmed_at.is_some() {
            return Ok(Confirmation::Used);
        }
        if now > pending.expires_at {
            return Ok(Confirmation::Expired);
        }
        let msg = message(&pending)?;
        let handled = self.record(&tx, &InboundSource::Web, &msg, &pending.raw, now)?;
        tx.confirmed(pending.id, handled.inbound_id(), now)?;
        tx.commit()?;
        Ok(Confirmation::Done(handled))
    }

    /// Sets aside a message `handle` failed on for good (`message` as `handle` got it:
    /// raw, size, received_at): records it as such, with `reason`, and queues one notice
    /// to the first-level queue (saying it is in `folder`), in one transaction. Nothing
    /// is decided about it: no ticket is touched and the sender gets no reply. Found
    /// recorded before, only the move is owed.
    pub fn set_aside(
        &self,
        store: &mut Store,
        source: &InboundSource,
        message: (&[u8], u64, DateTime<Utc>),
        now: DateTime<Utc>,
        reason: &str,
        folder: &str,
    ) -> Result<Handled> {
        let tx = store.begin()?;
        if let Some(dup) = tx.find_by_source(source)? {
            return Ok(Handled::Duplicate(dup));
        }
        let (raw, size, received_at) = message;
        let msg = parse(raw, size, received_at);
        let inbound_id = tx.record_failure(source, &msg, raw, reason, now)?;
        let notice = failed::set_aside(&msg, reason, folder, &self.settings);
        let cause = Cause::Inbound(inbound_id);
        let mails = self.compose(cause, &notice, now)?;
        tx.apply(cause, &notice, &mails, now)?;
        tx.commit()?;
        Ok(Handled::SetAside {
            inbound_id,
            reason: reason.to_string(),
        })
    }

    /// Acts on one ticket whose deadline has come, in its own transaction; returns what
    /// was done, for the log (None when nothing was due after all).
    pub fn deadline(
        &self,
        store: &mut Store,
        ticket_id: i64,
        now: DateTime<Utc>,
    ) -> Result<Option<String>> {
        let tx = store.begin()?;
        let ticket = tx.ticket(ticket_id)?;
        let Some(deadline) = ticket.status.next_deadline() else {
            return Ok(None);
        };
        let effects = timers::due(&ticket, now, &self.settings);
        if effects.is_empty() {
            return Ok(None);
        }
        let mails = self.compose(Cause::Timer, &effects, now)?;
        tx.apply(Cause::Timer, &effects, &mails, now)?;
        tx.commit()?;
        Ok(Some(format!(
            "ticket {}: {} deadline passed",
            ticket.code,
            deadline.name()
        )))
    }

    /// Queues the morning digests when one is owed at `now`, and records the day, in one
    /// transaction: a crash leaves both or neither, so a day never gets two. Returns the
    /// day and how many mails went out for it (none when nobody had anything open), or
    /// None when no digest was owed.
    pub fn digest(
        &self,
        store: &mut Store,
        now: DateTime<Utc>,
    ) -> Result<Option<(NaiveDate, usize)>> {
        // The scheduler asks every round: outside the first office hour of a working day
        // none is owed, whatever the store says, and no write transaction is taken.
        if digest::due(None, now, &self.settings).is_none() {
            return Ok(None);
        }
        let tx = store.begin()?;
        let Some(day) = digest::due(tx.digest_day()?, now, &self.settings) else {
            return Ok(None);
        };
        let tickets = tx.open_tickets()?;
        let effects: Vec<Effect> = digest::digests(&tickets, now, &self.settings)
            .into_iter()
            .map(Effect::Send)
            .collect();
        let cause = Cause::Digest(day);
        let mails = self.compose(cause, &effects, now)?;
        tx.apply(cause, &effects, &mails, now)?;
        tx.set_digest_day(day)?;
        tx.commit()?;
        Ok(Some((day, effects.len())))
    }

    /// Queues every contract expiry notice owed at `now`, each recorded with its mail, in
    /// one transaction: a crash leaves both or neither, so a notice never goes twice.
    /// Returns the notices queued (none without `[contracts] notify_to`).
    pub fn contract_notices(&self, store: &mut Store, now: DateTime<Utc>) -> Result<Vec<Notice>> {
        let Some(notify) = &self.expiry else {
            return Ok(vec![]);
        };
        // The scheduler asks every round: no write transaction when none can be owed.
        if !expiry::may_notify(now, &self.settings.calendar) {
            return Ok(vec![]);
        }
        let tx = store.begin()?;
        let contracts = tx.all_contracts()?;
        let sent = tx.contract_notices()?;
        let owed = expiry::owed(&contracts, &sent, now, notify, &self.settings.calendar);
        let since = expiry::usage_since(now);
        for (contract, notice) in &owed {
            let usage = tx.contract_usage(contract.id, since)?;
            let mail = expiry::mail(contract, *notice, usage, now, notify, &self.settings);
            let effects = [Effect::Send(mail)];
            let cause = Cause::ContractNotice(*notice);
            let mails = self.compose(cause, &effects, now)?;
            tx.apply(cause, &effects, &mails, now)?;
            tx.record_contract_notice(notice, now)?;
        }
        tx.commit()?;
        Ok(owed.into_iter().map(|(_, notice)| notice).collect())
    }

    /// Queues last month's report to the administration when it is owed at `now` (the
    /// first office hour of the month's first working day), and records the month, in
    /// one transaction: a crash or a restart leaves both or neither, so a month never
    /// gets two. Returns the month, or None when no report was owed.
    pub fn report(&self, store: &mut Store, now: DateTime<Utc>) -> Result<Option<Month>> {
        // As for the digest: no write transaction on the hours none can be owed.
        if report::mail::due(None, now, &self.settings).is_none() {
            return Ok(None);
        }
        let tx = store.begin()?;
        let Some(month) = report::mail::due(tx.report_month()?, now, &self.settings) else {
            return Ok(None);
        };
        let figures = report::compute(&tx.report_facts(month)?, month, now);
        let effects: Vec<Effect> = report::mail::mail(&figures, now, &self.settings)
            .into_iter()
            .map(Effect::Send)
            .collect();
        let cause = Cause::Report(month);
        let mails = self.compose(cause, &effects, now)?;
        tx.apply(cause, &effects, &mails, now)?;
        tx.set_report_month(month)?;
        tx.commit()?;
        Ok(Some(month))
    }

    /// Composes the mail of every `Effect::Send` among `effects`, in order, dated `now`.
    /// Each gets a stable Message-ID from its cause (the inbound row id, `timer`, the
    /// digest's day) and its place among the effects, so the same decision always names
    /// its mail the same.
    fn compose(
        &self,
        cause: Cause,
        effects: &[Effect],
        now: DateTime<Utc>,
    ) -> Result<Vec<Composed>> {
        let tag = cause.tag();
        let mut mails = Vec::new();
        for (index, effect) in effects.iter().enumerate() {
            if let Effect::Send(mail) = effect {
                match &mail.trouble {
                    Some(Trouble::Unrenderable(problem)) => {
                        bail!("the text of a {} mail cannot be rendered: {problem}", mail.kind.name())
                    }
                    Some(Trouble::FellBack(problem)) => tracing::warn!(
                        kind = mail.kind.name(),
                        "an edited template failed on this mail; the built-in text was sent: {problem}"
                    ),
                    None => {}
                }
                let message_id = self.composer.message_id(mail, &tag, index);
                mails.push(self.composer.compose(mail, &message_id, now)?);
            }
        }
        Ok(mails)
    }

    /// Decides without recording anything (`process --dry-run`).
    pub fn dry_run(
        &self,
        store: &mut Store,
        raw: &[u8],
        received_at: DateTime<Utc>,
    ) -> Result<Decision> {
        let tx = store.begin()?;
        let msg = parse(raw, raw.len() as u64, received_at);
        let wanted = decide::wanted(&msg, &self.settings);
        let facts = tx.facts(
            &wanted,
            &self.settings.code_prefix,
            code_year(received_at),
            received_at,
        )?;
        Ok(decide::decide(&msg, &facts, &self.settings))
    }
}

#[cfg(test)]
mod tests {
    use chrono::{NaiveDate, TimeZone};

    use super::*;
    use crate::core::address::Address;
    use crate::store::ContractInput;

    const CONFIG: &str = r#"
[imap]
host = "127.0.0.1"
username = "u"
password_env = "PW"
[smtp]
host = "127.0.0.1"
from = "assistenza@kzweb.it"
"#;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 10, 9, 0, 0)
            .single()
            .expect("valid")
    }

    /// A pipeline from a config, and a store with one contract, for mario@rossi.it.
    fn desk() -> (tempfile::TempDir, Pipeline, Store) {
        let dir = tempfile::tempdir().expect("tempdir");
        let cfg = Config::from_toml_str(CONFIG, &dir.path().join("config.toml"), &|_| {
            Some("pw".into())
        })
        .expect("config");
        let mut store = Store::open(&dir.path().join("t.db")).expect("store");
        let contract = ContractInput {
            customer: "Rossi".into(),
            addresses: vec![Address::parse("mario@rossi.it").expect("address")],
            valid_from: NaiveDate::from_ymd_opt(2020, 1, 1).expect("date"),
            valid_until: NaiveDate::from_ymd_opt(2030, 12, 31).expect("date"),
            references: vec!["www.rossi.it".into()],
        };
        store.add_contract(&contract, now()).expect("contract");
        (dir, Pipeline::new(&cfg), store)
    }

    #[test]
    fn queued_mail_is_named_by_its_inbound_row_and_carries_its_own_id() {
        let (_dir, pipeline, mut store) = desk();
        let raw = b"From: mario@rossi.it\r\nTo: assistenza@kzweb.it\r\nSubject: mario@rossi.it\r\n\
                    Message-ID: <m1@rossi.it>\r\n\r\nIl sito www.rossi.it non funziona.\r\n";
        let handled = pipeline
            .handle(
                &mut store,
                &InboundSource::File,
                raw,
                raw.len() as u64,
                now(),
                now(),
            )
            .expect("handled");
        let Handled::Recorded { inbound_id, .. } = handled else {
            panic!("not recorded: {handled:?}");
        };
        let queued: Vec<Composed> = store
            .due_outbox(now(), 10)
            .expect("outbox")
            .into_iter()
            .map(|row| row.mail)
            .collect();
        assert!(!queued.is_empty(), "the acknowledgement is queued");
        let ack = format!("KZ-2026-00001.ack.{inbound_id}.");
        assert!(
            queued[0].message_id.starts_with(&ack),
            "{}",
            queued[0].message_id
        );
        for row in &queued {
            assert!(row.message_id.ends_with("@kzweb.it"), "{}", row.message_id);
            let text = String::from_utf8_lossy(&row.raw);
            assert!(
                text.contains(&format!("Message-ID: <{}>", row.message_id)),
                "{text}"
            );
            assert_eq!(row.envelope_from, "assistenza@kzweb.it");
        }
        assert_eq!(queued[0].recipients, vec!["mario@rossi.it".to_string()]);
    }

    #[test]
    fn the_morning_digest_goes_out_once_a_working_day_in_the_first_office_hour() {
        let (dir, _, mut store) = desk();
        let with_queue = format!("{CONFIG}[queue]\naddress = \"coda@kzweb.it\"\n");
        let cfg = Config::from_toml_str(&with_queue, &dir.path().join("config.toml"), &|_| {
            Some("pw".into())
        })
        .expect("config");
        let pipeline = Pipeline::new(&cfg);
        let raw = b"From: mario@rossi.it\r\nTo: assistenza@kzweb.it\r\nSubject: mario@rossi.it\r\n\
                    Message-ID: <m3@rossi.it>\r\n\r\nIl sito www.rossi.it non funziona.\r\n";
        let len = raw.len() as u64;
        pipeline
            .handle(&mut store, &InboundSource::File, raw, len, now(), now())
            .expect("handled");
        // 09:10 in Rome on Monday 7, Tuesday 8 (a holiday) and Wednesday 9 December 2026.
        let at = |d, h, m| {
            Utc.with_ymd_and_hms(2026, 12, d, h, m, 0)
                .single()
                .expect("valid")
        };
        let monday = NaiveDate::from_ymd_opt(2026, 12, 7).expect("date");
        let mut run = |when| pipeline.digest(&mut store, when).expect("digest");
        assert_eq!(run(at(7, 8, 10)), Some((monday, 1)));
        assert_eq!(run(at(7, 8, 40)), None, "once a day");
        assert_eq!(run(at(8, 8, 10)), None, "8 December");
        assert_eq!(run(at(9, 14, 0)), None, "too late in the day");
        assert_eq!(run(at(10, 7, 59)), None, "before opening");
        let thursday = NaiveDate::from_ymd_opt(2026, 12, 10).expect("date");
        assert_eq!(run(at(10, 8, 0)), Some((thursday, 1)));
        let ids: Vec<String> = store
            .due_outbox(at(11, 0, 0), 10)
            .expect("outbox")
            .into_iter()
            .map(|row| row.mail.message_id)
            .filter(|id| id.starts_with("digest."))
            .collect();
        assert_eq!(
            ids,
            [
                "digest.2026-12-07.0@kzweb.it",
                "digest.2026-12-10.0@kzweb.it"
            ]
        );
    }

    #[test]
    fn an_expiry_notice_is_queued_once_per_contract_and_end_date() {
        let (dir, plain, mut store) = desk();
        let at = |d| {
            Utc.with_ymd_and_hms(2026, 12, d, 9, 0, 0)
                .single()
                .expect("valid")
        };
        assert_eq!(
            plain.contract_notices(&mut store, at(2)).expect("run"),
            vec![]
        );
        let text = format!("{CONFIG}[contracts]\nnotify_to = \"amministrazione@kzweb.it\"\n");
        let cfg = Config::from_toml_str(&text, &dir.path().join("config.toml"), &|_| {
            Some("pw".into())
        })
        .expect("config");
        let pipeline = Pipeline::new(&cfg);
        let mut row = ContractInput {
            customer: "Rossi".into(),
            addresses: vec![Address::parse("mario@rossi.it").expect("address")],
            valid_from: NaiveDate::from_ymd_opt(2026, 1, 1).expect("date"),
            valid_until: NaiveDate::from_ymd_opt(2026, 12, 20).expect("date"),
            references: vec![],
        };
        store
            .import_contracts(&[row.clone()], at(2))
            .expect("import");
        let run = |store: &mut Store, when| {
            pipeline
                .contract_notices(store, when)
                .expect("notices")
                .len()
        };
        assert_eq!(run(&mut store, at(2)), 1);
        assert_eq!(run(&mut store, at(2)), 0, "never twice");
        assert_eq!(run(&mut store, at(3)), 0, "nor the next day");
        row.valid_until = NaiveDate::from_ymd_opt(2026, 12, 31).expect("date");
        store.import_contracts(&[row], at(3)).expect("renewal");
        assert_eq!(run(&mut store, at(3)), 1, "the renewal arms the next");
        let ids: Vec<String> = store
            .due_outbox(at(4), 10)
            .expect("outbox")
            .into_iter()
            .map(|row| row.mail.message_id)
            .collect();
        assert_eq!(
            ids,
            [
                "contract-expiry.1.before.2026-12-20.0@kzweb.it",
                "contract-expiry.1.before.2026-12-31.0@kzweb.it"
            ]
        );
    }

    #[test]
    fn the_monthly_report_goes_out_once_on_the_first_office_day_even_across_a_restart() {
        let (dir, _, mut store) = desk();
        let with_report = format!("{CONFIG}[report]\nto = \"amministrazione@kzweb.it\"\n");
        let cfg = Config::from_toml_str(&with_report, &dir.path().join("config.toml"), &|_| {
            Some("pw".into())
        })
        .expect("config");
        let at = |m, d, h, min| {
            Utc.with_ymd_and_hms(2026, m, d, h, min, 0)
                .single()
                .expect("valid")
        };
        let raw = b"From: mario@rossi.it\r\nTo: assistenza@kzweb.it\r\nSubject: mario@rossi.it\r\n\
                    Message-ID: <m4@rossi.it>\r\n\r\nIl sito www.rossi.it non funziona.\r\n";
        let (len, opened) = (raw.len() as u64, at(11, 10, 9, 0));
        Pipeline::new(&cfg)
            .handle(&mut store, &InboundSource::File, raw, len, opened, opened)
            .expect("handled");
        let november = Month::parse("2026-11");
        // 09:10 in Rome on Tuesday 1 December, then again after a restart.
        let first = Pipeline::new(&cfg).report(&mut store, at(12, 1, 8, 10));
        assert_eq!(first.expect("report"), november);
        let restarted = Pipeline::new(&cfg);
        assert_eq!(
            restarted.report(&mut store, at(12, 1, 8, 20)).expect("r"),
            None
        );
        assert_eq!(
            restarted.report(&mut store, at(12, 2, 8, 10)).expect("r"),
            None
        );
        let queued: Vec<_> = store
            .due_outbox(at(12, 3, 0, 0), 10)
            .expect("outbox")
            .into_iter()
            .filter(|row| row.mail.message_id.starts_with("report."))
            .collect();
        assert_eq!(queued.len(), 1);
        let mail = &queued[0].mail;
        assert_eq!(mail.message_id, "report.2026-11.0@kzweb.it");
        assert_eq!(mail.recipients, ["amministrazione@kzweb.it"]);
        let text = String::from_utf8_lossy(&mail.raw);
        assert!(
            text.contains("Subject: Rapporto di assistenza di novembre 2026"),
            "{text}"
        );
        assert!(
            text.contains("filename=\"rapporto-2026-11.html\""),
            "{text}"
        );
        assert!(text.contains("filename=\"rapporto-2026-11.csv\""), "{text}");
    }

    #[test]
    fn an_edited_text_that_fails_on_a_mail_sends_the_built_in_one_never_half_a_mail() {
        use crate::core::texts::{Origin, Texts};
        let (_dir, mut pipeline, mut store) = desk();
        // Compiled without the check `[templates] dir` runs, as if a mail the samples
        // never met made it fail.
        let broken = "Subject: [{{ ticket.code }}] Ricevuta\n\nGentile {{ ticket.nome }}\n";
        pipeline.settings.texts = Texts::compile(vec![(
            "ack.j2".into(),
            broken.into(),
            Origin::File("/etc/assistenza/templates/ack.j2".into()),
        )])
        .expect("compiles");
        let raw = b"From: mario@rossi.it\r\nTo: assistenza@kzweb.it\r\nSubject: mario@rossi.it\r\n\
                    Message-ID: <m2@rossi.it>\r\n\r\nIl sito www.rossi.it non funziona.\r\n";
        let len = raw.len() as u64;
        pipeline
            .handle(&mut store, &InboundSource::File, raw, len, now(), now())
            .expect("handled");
        let queued = store.due_outbox(now(), 10).expect("outbox");
        let ack = String::from_utf8_lossy(&queued[0].mail.raw).into_owned();
        assert!(
            ack.contains("Subject: [KZ-2026-00001] Richiesta di assistenza"),
            "{ack}"
        );
        assert!(
            !ack.contains("Ricevuta") && !ack.contains("Gentile \r\n"),
            "{ack}"
        );
    }
}
