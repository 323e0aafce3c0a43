//! The configuration file: a TOML schema read in two stages. Stage one deserializes what
//! the sysadmin typed (every table `deny_unknown_fields`, so a typo is named with its
//! dotted key); stage two validates every value, collects every problem at once and only
//! then builds the `Config` the daemon uses, holding the core's own types (`Address`,
//! `Operator`, `Settings`): nothing downstream parses a configured value again, so a value
//! the core would refuse is a config error naming its key. Secrets come from files
//! (refused when group or others can read them) or environment variables, never from the
//! file itself.

use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::core::address::Address;
use crate::core::calendar::{Calendar, Closure};
use crate::core::decision::{Operator, Settings};
use crate::core::expiry::Notify;
use crate::core::texts::Texts;

/// The validated configuration.
#[derive(Clone, Debug)]
pub struct Config {
    pub imap: ImapConfig,
    pub smtp: SmtpConfig,
    pub store: StoreConfig,
    pub intake: IntakeConfig,
    pub outbox: OutboxConfig,
    pub log: LogConfig,
    /// What the core decides with, built during validation from `smtp.from` and the desk's
    /// name (`desk.name`), `[tickets]`, `[intake]`, `[[operators]]`, `[queue]`, `[oncall]`,
    /// `[operator_auth]` and `[calendar]`: every address in it is already an `Address`.
    pub settings: Settings,
    /// `templates.dir`, resolved against the config file's folder: a directory that
    /// existed when the config was read. Only checked here, never read.
    pub templates_dir: Option<PathBuf>,
    /// `[web]`: the portal's form; None, no listener.
    pub web: Option<WebConfig>,
    /// `[contracts]`: the expiry notices to the administration.
    pub contracts: ContractsConfig,
    /// The file it was read from.
    pub source: PathBuf,
}

/// `[contracts]`: expiry notices.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContractsConfig {
    /// Who gets them and when; None (no `notify_to`), no notices.
    pub notify: Option<Notify>,
    /// `notify_before_days`: also the window in which `contracts list` says a contract
    /// ends soon.
    pub before_days: u32,
}

/// How a connection is protected.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TlsMode {
    /// TLS from the first byte (IMAPS 993, SMTPS 465).
    Implicit,
    /// Plain, then upgraded with STARTTLS; refused when the server cannot.
    Starttls,
    /// No TLS: allowed only to a loopback address.
    None,
}

#[derive(Clone, Debug)]
pub struct ImapConfig {
    pub host: String,
    pub port: u16,
    pub tls: TlsMode,
    pub username: String,
    pub password: Secret,
    /// The support mailbox (normally INBOX).
    pub mailbox: String,
    /// A PEM file with the CA to trust instead of the system's roots.
    pub ca_file: Option<PathBuf>,
    pub folders: Folders,
    /// Wait with IMAP IDLE between passes (when the server offers it) instead of polling.
    pub idle: bool,
    /// How often the mailbox is checked when IDLE is off or missing.
    pub poll_interval: Duration,
}

/// Where handled messages are moved; created when missing.
#[derive(Clone, Debug)]
pub struct Folders {
    pub processed: String,
    pub rejected: String,
    pub quarantine: String,
}

#[derive(Clone, Debug)]
pub struct SmtpConfig {
    pub host: String,
    pub port: u16,
    pub tls: TlsMode,
    pub username: Option<String>,
    pub password: Option<Secret>,
    /// The support address (the address part of `smtp.from`): every mail is sent from it.
    pub from: Address,
    /// The desk's name: the display name of every mail, and its signature
    /// (`Settings.signature`). From `desk.name`, its older spelling `smtp.from_name`, or
    /// the name in `smtp.from`; default "Assistenza KZweb".
    pub from_name: String,
    pub ca_file: Option<PathBuf>,
}

#[derive(Clone, Debug)]
pub struct StoreConfig {
    pub path: PathBuf,
}

/// What the shell needs of `[intake]` (the rest is in `Settings`).
#[derive(Clone, Debug)]
pub struct IntakeConfig {
    /// Larger messages are fetched by their header only.
    pub max_message_bytes: u64,
    /// A message failing for this long (transiently: the database locked or full, say)
    /// is set aside in Quarantine and the queue told, as one that can never pass is at once.
    pub give_up_after: Duration,
}

#[derive(Clone, Debug)]
pub struct OutboxConfig {
    pub max_attempts: u32,
    pub backoff_initial: Duration,
    pub backoff_max: Duration,
    /// How long `run --once` keeps retrying the outbox before exiting.
    pub once_timeout: Duration,
}

#[derive(Clone, Debug)]
pub struct LogConfig {
    pub filter: String,
    pub format: LogFormat,
}

/// How log lines are written to stderr.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// One readable line per event (no timestamp under systemd: the journal adds its own).
    #[default]
    Text,
    /// One JSON object per line, for log shippers.
    Json,
}

/// A password: never printed, not even by `{:?}`.
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Not read: the config was loaded for an administration command
    /// (`Config::load_without_secrets`). A real secret is never empty.
    pub fn is_withheld(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// Every problem found in a config file.
#[derive(Debug)]
pub struct ConfigError {
    pub file: PathBuf,
    pub problems: Vec<Problem>,
}

/// One problem: the dotted key and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub key: String,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.problems.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{}: {}: {}", self.file.display(), p.key, p.message)?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

// ---- stage one: what the sysadmin typed ------------------------------------------------

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    desk: RawDesk,
    imap: Option<RawImap>,
    smtp: Option<RawSmtp>,
    #[serde(default)]
    store: RawStore,
    #[serde(default)]
    tickets: RawTickets,
    #[serde(default)]
    quotes: RawQuotes,
    #[serde(default)]
    intake: RawIntake,
    #[serde(default)]
    outbox: RawOutbox,
    #[serde(default)]
    log: RawLog,
    #[serde(default)]
    operators: Vec<RawOperator>,
    queue: Option<RawAddress>,
    oncall: Option<RawAddress>,
    #[serde(default)]
    operator_auth: RawOperatorAuth,
    #[serde(default)]
    calendar: RawCalendar,
    #[serde(default)]
    templates: RawTemplates,
    web: Option<web::RawWeb>,
    #[serde(default)]
    contracts: RawContracts,
    #[serde(default)]
    report: RawReport,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawContracts {
    notify_to: Option<String>,
    notify_before_days: Option<u32>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawDesk {
    name: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawTemplates {
    dir: Option<PathBuf>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOperator {
    name: Option<String>,
    addresses: Option<Vec<String>>,
    level: Option<u8>,
    team: Option<String>,
}

/// `[report]`: who gets the monthly report (none: nobody).
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawReport {
    to: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAddress {
    address: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawOperatorAuth {
    trusted_authserv_ids: Option<Vec<String>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawCalendar {
    opens: Option<String>,
    closes: Option<String>,
    days: Option<Vec<String>>,
    closures: Option<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawImap {
    host: Option<String>,
    port: Option<u16>,
    tls: Option<TlsMode>,
    username: Option<String>,
    password_file: Option<PathBuf>,
    password_env: Option<String>,
    mailbox: Option<String>,
    ca_file: Option<PathBuf>,
    poll_interval_secs: Option<u64>,
    idle: Option<bool>,
    #[serde(default)]
    folders: RawFolders,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawFolders {
    processed: Option<String>,
    rejected: Option<String>,
    quarantine: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSmtp {
    host: Option<String>,
    port: Option<u16>,
    tls: Option<TlsMode>,
    username: Option<String>,
    password_file: Option<PathBuf>,
    password_env: Option<String>,
    from: Option<String>,
    from_name: Option<String>,
    ca_file: Option<PathBuf>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawStore {
    path: Option<PathBuf>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawTickets {
    code_prefix: Option<String>,
    first_contact_office_hours: Option<u32>,
    reopen_hours: Option<u32>,
    waiting_office_days: Option<u32>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawQuotes {
    remind_after_office_days: Option<u32>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawIntake {
    max_message_bytes: Option<u64>,
    allow_colleagues: Option<bool>,
    max_replies_per_hour: Option<u32>,
    own_addresses: Option<Vec<String>>,
    give_up_after_secs: Option<u64>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawOutbox {
    max_attempts: Option<u32>,
    backoff_initial_secs: Option<u64>,
    backoff_max_secs: Option<u64>,
    once_timeout_secs: Option<u64>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawLog {
    filter: Option<String>,
    format: Option<LogFormat>,
}

// ---- stage two: validation -------------------------------------------------------------

/// The desk's name when the file gives none.
const DEFAULT_DESK_NAME: &str = "Assistenza KZweb";

/// `[tickets]`, validated: it goes into `Settings`.
struct Tickets {
    code_prefix: String,
    first_contact: chrono::Duration,
    reopen_window: chrono::Duration,
    waiting_office_days: u32,
}

/// `[intake]`, validated: the shell keeps its size limit and patience, `Settings` the rest.
struct Intake {
    max_message_bytes: u64,
    give_up_after: Duration,
    allow_colleagues: bool,
    max_replies_per_hour: u32,
    own_addresses: Vec<Address>,
}

impl Config {
    /// Reads, parses and validates; reports every problem at once.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        Config::read(path, true)
    }

    /// The same, but the IMAP and SMTP passwords are only checked to be configured, never
    /// read: the administration commands (contracts, tickets, templates, purge, gdpr,
    /// backup) need the store, not the mailbox, and a member of the `assistenza` group may
    /// run them without being able to read the password files.
    pub fn load_without_secrets(path: &Path) -> Result<Config, ConfigError> {
        Config::read(path, false)
    }

    fn read(path: &Path, read_secrets: bool) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            file: path.to_path_buf(),
            problems: vec![Problem {
                key: "(file)".into(),
                message: format!("cannot read: {e}"),
            }],
        })?;
        let env = |name: &str| std::env::var(name).ok();
        Config::validate(&text, path, &env, read_secrets)
    }

    /// Parses and validates `text` as if read from `source`; `env` reads environment
    /// variables (a parameter so tests need not touch the process environment).
    pub fn from_toml_str(
        text: &str,
        source: &Path,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        Config::validate(text, source, env, true)
    }

    fn validate(
        text: &str,
        source: &Path,
        env: &dyn Fn(&str) -> Option<String>,
        read_secrets: bool,
    ) -> Result<Config, ConfigError> {
        let fail = |problems| ConfigError {
            file: source.to_path_buf(),
            problems,
        };
        let raw = parse_raw(text).map_err(|p| fail(vec![p]))?;
        let base = source.parent().map(Path::to_path_buf).unwrap_or_default();
        let mut v = Validator {
            problems: Vec::new(),
            base,
            env,
            read_secrets,
        };
        let config = v.config(raw, source);
        match config {
            Some(c) if v.problems.is_empty() => Ok(c),
            _ => Err(fail(v.problems)),
        }
    }
}

fn parse_raw(text: &str) -> Result<RawConfig, Problem> {
    let de = toml::Deserializer::parse(text).map_err(|e| syntax_problem(text, &e))?;
    serde_path_to_error::deserialize(de).map_err(|e| {
        let key = e.path().to_string();
        let inner = e.into_inner();
        Problem {
            key: if key == "." || key.is_empty() {
                "(top level)".into()
            } else {
                key
            },
            message: inner.message().to_string(),
        }
    })
}

fn syntax_problem(text: &str, e: &toml::de::Error) -> Problem {
    let location = e
        .span()
        .map(|span| {
            let before = &text[..span.start.min(text.len())];
            let line = before.matches('\n').count() + 1;
            let column = before
                .rsplit('\n')
                .next()
                .map(|l| l.chars().count() + 1)
                .unwrap_or(1);
            format!("line {line}, column {column}: ")
        })
        .unwrap_or_default();
    Problem {
        key: "(syntax)".into(),
        message: format!("{location}{}", e.message()),
    }
}

const DEFAULT_DB: &str = "/var/lib/assistenza/assistenza.db";

struct Validator<'a> {
    problems: Vec<Problem>,
    base: PathBuf,
    env: &'a dyn Fn(&str) -> Option<String>,
    /// False for the administration commands: secrets are checked to be configured only.
    read_secrets: bool,
}

impl Validator<'_> {
    fn problem(&mut self, key: &str, message: impl Into<String>) {
        self.problems.push(Problem {
            key: key.into(),
            message: message.into(),
        });
    }

    fn required<T>(&mut self, key: &str, value: Option<T>) -> Option<T> {
        if value.is_none() {
            self.problem(key, "missing (required)");
        }
        value
    }

    fn non_empty(&mut self, key: &str, value: Option<String>) -> Option<String> {
        match self.required(key, value) {
            Some(v) if v.trim().is_empty() => {
                self.problem(key, "must not be empty");
                None
            }
            other => other.map(|v| v.trim().to_string()),
        }
    }

    fn path(&self, p: PathBuf) -> PathBuf {
        if p.is_absolute() {
            p
        } else {
            self.base.join(p)
        }
    }

    fn config(&mut self, raw: RawConfig, source: &Path) -> Option<Config> {
        let imap = match raw.imap {
            Some(i) => self.imap(i),
            None => {
                self.problem("imap", "missing section [imap]");
                None
            }
        };
        let desk_name = self.name("desk.name", raw.desk.name);
        let smtp = match raw.smtp {
            Some(s) => self.smtp(s, desk_name),
            None => {
                self.problem("smtp", "missing section [smtp]");
                None
            }
        };
        let store = StoreConfig {
            path: self.path(raw.store.path.unwrap_or_else(|| DEFAULT_DB.into())),
        };
        let tickets = self.tickets(raw.tickets);
        let intake = self.intake(raw.intake);
        let outbox = self.outbox(raw.outbox);
        let log = self.log(raw.log);
        let support = smtp.as_ref().map(|s| &s.from);
        let operators = self.operators(raw.operators, support);
        let queue = self.single_address("queue.address", raw.queue);
        let oncall = self.single_address("oncall.address", raw.oncall);
        let report_to = raw.report.to.and_then(|to| self.address("report.to", &to));
        let trusted = self.trusted_authserv_ids(raw.operator_auth, !operators.is_empty());
        let calendar = self.calendar(raw.calendar);
        let templates_dir = self.directory("templates.dir", raw.templates.dir);
        let contracts = self.contracts(raw.contracts);
        let web = raw.web.and_then(|w| {
            web::validate(w)
                .map_err(|problems| self.problems.extend(problems))
                .ok()
        });
        let (imap, smtp) = (imap?, smtp?);
        let mut own_addresses = vec![smtp.from.clone()];
        // Deduplicated already by `intake`.
        own_addresses.extend(intake.own_addresses.into_iter().filter(|a| *a != smtp.from));
        let mut settings = Settings {
            support_address: smtp.from.clone(),
            own_addresses,
            code_prefix: tickets.code_prefix,
            max_message_bytes: intake.max_message_bytes,
            allow_colleagues: intake.allow_colleagues,
            signature: smtp.from_name.clone(),
            operators,
            queue: queue.into_iter().collect(),
            oncall,
            trusted_authserv_ids: trusted,
            calendar,
            first_contact: tickets.first_contact,
            reopen_window: tickets.reopen_window,
            waiting_office_days: tickets.waiting_office_days,
            quote_reminder_office_days: self.office_days(
                "quotes.remind_after_office_days",
                raw.quotes.remind_after_office_days,
                3,
            ),
            max_replies_per_hour: intake.max_replies_per_hour,
            texts: Texts::builtin(),
            report_to,
        };
        settings.texts = self.texts(templates_dir.as_deref(), &settings);
        Some(Config {
            imap,
            smtp,
            store,
            intake: IntakeConfig {
                max_message_bytes: intake.max_message_bytes,
                give_up_after: intake.give_up_after,
            },
            outbox: outbox?,
            log,
            settings,
            templates_dir,
            web,
            contracts,
            source: source.to_path_buf(),
        })
    }

    /// `[contracts]`: notices only with `notify_to`; the window 1–365 days, 30 by default.
    fn contracts(&mut self, r: RawContracts) -> ContractsConfig {
        let before_days = r.notify_before_days.unwrap_or(30);
        if !(1..=365).contains(&before_days) {
            self.problem(
                "contracts.notify_before_days",
                format!("{before_days}: must be between 1 and 365 days"),
            );
        }
        let to = match r.notify_to {
            Some(text) if text.trim().is_empty() => {
                self.problem(
                    "contracts.notify_to",
                    "must not be empty (leave it out for no notices)",
                );
                None
            }
            Some(text) => self.address("contracts.notify_to", &text),
            None => None,
        };
        ContractsConfig {
            notify: to.map(|to| Notify { to, before_days }),
            before_days,
        }
    }

    /// The built-in texts with those of `[templates] dir` in their place, once they render
    /// every sample situation with `settings`; the built-ins and the problems otherwise.
    fn texts(&mut self, dir: Option<&Path>, settings: &Settings) -> Texts {
        let Some(dir) = dir else {
            return Texts::builtin();
        };
        templates::load(dir, settings).unwrap_or_else(|problems| {
            self.problems.extend(problems);
            Texts::builtin()
        })
    }

    fn tickets(&mut self, r: RawTickets) -> Tickets {
        let prefix = r.code_prefix.unwrap_or_else(|| "KZ".into());
        let prefix_ok = (1..=10).contains(&prefix.len())
            && prefix.starts_with(|c: char| c.is_ascii_uppercase())
            && prefix
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit());
        if !prefix_ok {
            self.problem("tickets.code_prefix", format!("{prefix:?}: use 1–10 capital letters or digits, starting with a letter (e.g. \"KZ\")"));
        }
        let first_contact = r.first_contact_office_hours.unwrap_or(4);
        if !(1..=200).contains(&first_contact) {
            self.problem(
                "tickets.first_contact_office_hours",
                format!("{first_contact}: must be between 1 and 200 office hours"),
            );
        }
        let reopen = r.reopen_hours.unwrap_or(48);
        if !(1..=crate::core::commands::MAX_REOPEN_HOURS).contains(&reopen) {
            self.problem(
                "tickets.reopen_hours",
                format!(
                    "{reopen}: must be between 1 and {}",
                    crate::core::commands::MAX_REOPEN_HOURS
                ),
            );
        }
        Tickets {
            code_prefix: prefix,
            first_contact: chrono::Duration::hours(i64::from(first_contact)),
            reopen_window: chrono::Duration::hours(i64::from(reopen)),
            waiting_office_days: self.office_days(
                "tickets.waiting_office_days",
                r.waiting_office_days,
                5,
            ),
        }
    }

    /// A number of office days from 1 to `commands::MAX_WAIT_DAYS`, `default` when absent.
    fn office_days(&mut self, key: &str, value: Option<u32>, default: u32) -> u32 {
        let days = value.unwrap_or(default);
        let max = crate::core::commands::MAX_WAIT_DAYS;
        if !(1..=max).contains(&days) {
            self.problem(
                key,
                format!("{days}: must be between 1 and {max} office days"),
            );
            return default;
        }
        days
    }

    fn log(&mut self, r: RawLog) -> LogConfig {
        let filter = r.filter.unwrap_or_else(|| "info".into());
        if filter.trim().is_empty() {
            self.problem(
                "log.filter",
                "must not be empty (e.g. \"info\" or \"assistenza=debug,info\")",
            );
        }
        LogConfig {
            filter,
            format: r.format.unwrap_or_default(),
        }
    }

    fn trusted_authserv_ids(&mut self, r: RawOperatorAuth, operators: bool) -> Vec<String> {
        let trusted: Vec<String> = r
            .trusted_authserv_ids
            .unwrap_or_default()
            .into_iter()
            .map(|s| s.trim().to_string())
            .collect();
        if trusted.iter().any(String::is_empty) {
            self.problem(
                "operator_auth.trusted_authserv_ids",
                "an empty id is not allowed",
            );
        }
        if operators && trusted.is_empty() {
            self.problem(
                "operator_auth.trusted_authserv_ids",
                "missing: with [[operators]] configured, name the authserv-id your own mail \
                 server writes in Authentication-Results (e.g. [\"mail.kzweb.it\"]); without \
                 it no operator command could ever be trusted",
            );
        }
        trusted
    }

    fn imap(&mut self, r: RawImap) -> Option<ImapConfig> {
        let host = self.non_empty("imap.host", r.host);
        let tls = r.tls.unwrap_or(TlsMode::Implicit);
        if let Some(h) = &host {
            self.plaintext_only_on_loopback("imap.tls", tls, h);
        }
        let port = r
            .port
            .unwrap_or(if tls == TlsMode::Implicit { 993 } else { 143 });
        let username = self.non_empty("imap.username", r.username);
        let password = self.secret("imap", r.password_file, r.password_env, true);
        let mailbox = r.mailbox.unwrap_or_else(|| "INBOX".into());
        if mailbox.trim().is_empty() {
            self.problem("imap.mailbox", "must not be empty");
        }
        let ca_file = self.ca_file("imap.ca_file", r.ca_file);
        let poll = r.poll_interval_secs.unwrap_or(30);
        if !(1..=3600).contains(&poll) {
            self.problem(
                "imap.poll_interval_secs",
                format!("{poll}: must be between 1 and 3600"),
            );
        }
        let folders = Folders {
            processed: r.folders.processed.unwrap_or_else(|| "Processed".into()),
            rejected: r.folders.rejected.unwrap_or_else(|| "Rejected".into()),
            quarantine: r.folders.quarantine.unwrap_or_else(|| "Quarantine".into()),
        };
        let named = [
            ("imap.folders.processed", &folders.processed),
            ("imap.folders.rejected", &folders.rejected),
            ("imap.folders.quarantine", &folders.quarantine),
        ];
        for (i, (key, name)) in named.iter().enumerate() {
            if name.trim().is_empty() {
                self.problem(key, "must not be empty");
            } else if name.eq_ignore_ascii_case(&mailbox) {
                self.problem(key, format!("{name:?} is the mailbox being read (imap.mailbox): handled mail must go elsewhere"));
            } else if named[..i].iter().any(|(_, other)| other == name) {
                self.problem(
                    key,
                    format!(
                        "{name:?} is already used by another folder: each outcome needs its own"
                    ),
                );
            }
        }
        Some(ImapConfig {
            host: host?,
            port,
            tls,
            username: username?,
            password: password?,
            mailbox,
            ca_file,
            folders,
            idle: r.idle.unwrap_or(true),
            poll_interval: Duration::from_secs(poll),
        })
    }

    /// `[smtp]`, with the desk's name: `desk_name` is `desk.name`, already checked, to be
    /// reconciled with its older spelling `smtp.from_name`.
    fn smtp(&mut self, r: RawSmtp, desk_name: Option<String>) -> Option<SmtpConfig> {
        let host = self.non_empty("smtp.host", r.host);
        let tls = r.tls.unwrap_or(TlsMode::Starttls);
        if let Some(h) = &host {
            self.plaintext_only_on_loopback("smtp.tls", tls, h);
        }
        let port = r.port.unwrap_or(match tls {
            TlsMode::Implicit => 465,
            TlsMode::Starttls => 587,
            TlsMode::None => 25,
        });
        let password = match &r.username {
            Some(_) => self.secret("smtp", r.password_file, r.password_env, true),
            None => {
                if r.password_file.is_some() || r.password_env.is_some() {
                    self.problem("smtp.username", "a password is set but no username: set both, or neither for a server that needs no login");
                }
                None
            }
        };
        let (from, name_in_from) = match self.non_empty("smtp.from", r.from) {
            None => (None, None),
            Some(text) => match display_form(&text) {
                Err(why) => {
                    self.problem("smtp.from", format!("{text:?}: {why}"));
                    (None, None)
                }
                Ok((name, address)) => {
                    let address = self.address_as("smtp.from", address, "is not an email address: write it as assistenza@kzweb.it, or with the desk's name as Assistenza KZweb <assistenza@kzweb.it> (no double dots)");
                    let name = name.and_then(|n| match desk_name_text(&n) {
                        Ok(n) => Some(n),
                        Err(why) => {
                            self.problem("smtp.from", format!("{text:?}: the name {why}"));
                            None
                        }
                    });
                    (address, name)
                }
            },
        };
        let alias = self.name("smtp.from_name", r.from_name);
        let from_name = self.desk_name(desk_name, alias, name_in_from);
        let ca_file = self.ca_file("smtp.ca_file", r.ca_file);
        Some(SmtpConfig {
            host: host?,
            port,
            tls,
            username: r.username,
            password,
            from: from?,
            from_name,
            ca_file,
        })
    }

    /// A desk name set at `key`, checked by `desk_name_text`.
    fn name(&mut self, key: &str, value: Option<String>) -> Option<String> {
        match desk_name_text(&value?) {
            Ok(name) => Some(name),
            Err(why) => {
                self.problem(key, why);
                None
            }
        }
    }

    /// The desk's name, from `desk.name`, its older spelling `smtp.from_name`, or the name
    /// in `smtp.from` (`in_from`): any of them, but two only with the same name.
    fn desk_name(
        &mut self,
        desk: Option<String>,
        alias: Option<String>,
        in_from: Option<String>,
    ) -> String {
        if let (Some(desk), Some(alias)) = (&desk, &alias) {
            if desk != alias {
                self.problem(
                    "desk.name",
                    format!("{desk:?} conflicts with smtp.from_name ({alias:?}): keep one (desk.name; smtp.from_name is its older spelling)"),
                );
            }
        }
        if let Some(name) = &in_from {
            let others: Vec<String> = [("desk.name", &desk), ("smtp.from_name", &alias)]
                .into_iter()
                .filter_map(|(key, other)| {
                    other
                        .as_ref()
                        .filter(|other| *other != name)
                        .map(|other| format!("{key} ({other:?})"))
                })
                .collect();
            if !others.is_empty() {
                self.problem(
                    "smtp.from",
                    format!(
                        "its name {name:?} conflicts with {}: keep one (desk.name, with the bare address in smtp.from)",
                        others.join(" and ")
                    ),
                );
            }
        }
        desk.or(alias)
            .or(in_from)
            .unwrap_or_else(|| DEFAULT_DESK_NAME.into())
    }

    fn intake(&mut self, r: RawIntake) -> Intake {
        let max = r.max_message_bytes.unwrap_or(20 * 1024 * 1024);
        if !(1024..=1024 * 1024 * 1024).contains(&max) {
            self.problem(
                "intake.max_message_bytes",
                format!("{max}: must be between 1024 and 1073741824"),
            );
        }
        let mut own = Vec::new();
        for (i, a) in r.own_addresses.unwrap_or_default().iter().enumerate() {
            if let Some(a) = self.address(&format!("intake.own_addresses[{i}]"), a) {
                if !own.contains(&a) {
                    own.push(a);
                }
            }
        }
        let replies = r.max_replies_per_hour.unwrap_or(20);
        if !(1..=10_000).contains(&replies) {
            self.problem(
                "intake.max_replies_per_hour",
                format!("{replies}: must be between 1 and 10000"),
            );
        }
        let give_up = r.give_up_after_secs.unwrap_or(24 * 3600);
        if !(60..=366 * 24 * 3600).contains(&give_up) {
            self.problem(
                "intake.give_up_after_secs",
                format!("{give_up}: must be between 60 (a minute) and 31622400 (a year)"),
            );
        }
        Intake {
            max_message_bytes: max,
            allow_colleagues: r.allow_colleagues.unwrap_or(true),
            own_addresses: own,
            max_replies_per_hour: replies,
            give_up_after: Duration::from_secs(give_up),
        }
    }

    fn outbox(&mut self, r: RawOutbox) -> Option<OutboxConfig> {
        let attempts = r.max_attempts.unwrap_or(10);
        if attempts == 0 {
            self.problem("outbox.max_attempts", "must be at least 1");
        }
        let initial = r.backoff_initial_secs.unwrap_or(5);
        if initial == 0 {
            self.problem("outbox.backoff_initial_secs", "must be at least 1");
        }
        let max = r.backoff_max_secs.unwrap_or(3600);
        if max < initial {
            self.problem(
                "outbox.backoff_max_secs",
                format!("{max} is less than outbox.backoff_initial_secs ({initial})"),
            );
        }
        Some(OutboxConfig {
            max_attempts: attempts,
            backoff_initial: Duration::from_secs(initial),
            backoff_max: Duration::from_secs(max),
            once_timeout: Duration::from_secs(r.once_timeout_secs.unwrap_or(60)),
        })
    }

    fn operators(&mut self, raw: Vec<RawOperator>, support: Option<&Address>) -> Vec<Operator> {
        let mut out: Vec<Operator> = Vec::new();
        for (i, r) in raw.into_iter().enumerate() {
            let key = |k: &str| format!("operators[{i}].{k}");
            let name = self.non_empty(&key("name"), r.name);
            if let Some(n) = &name {
                if n.contains(char::is_whitespace) || n.starts_with('#') {
                    self.problem(
                        &key("name"),
                        format!("{n:?}: use one word (it is typed after #assegna)"),
                    );
                } else if out.iter().any(|o| o.name.eq_ignore_ascii_case(n)) {
                    self.problem(&key("name"), format!("{n:?} is used by another operator"));
                }
            }
            let addresses = match r.addresses {
                None => {
                    self.problem(&key("addresses"), "missing (required)");
                    Vec::new()
                }
                Some(list) if list.is_empty() => {
                    self.problem(&key("addresses"), "must list at least one address");
                    Vec::new()
                }
                Some(list) => self.operator_addresses(i, &list, support, &out),
            };
            let level = r.level.unwrap_or(1);
            if !(1..=2).contains(&level) {
                self.problem(&key("level"), format!("{level}: must be 1 or 2"));
            }
            let team = match (r.team.map(|t| t.trim().to_string()), level) {
                (Some(t), _) if t.is_empty() => {
                    self.problem(&key("team"), "must not be empty");
                    String::new()
                }
                (Some(t), _) => t,
                (None, 2) => {
                    self.problem(&key("team"), "missing: a second-level operator belongs to a team (e.g. \"programmatori\" or \"sistemisti\"), used by #secondo-livello TEAM");
                    String::new()
                }
                (None, _) => "primo-livello".into(),
            };
            if let Some(name) = name {
                out.push(Operator {
                    name,
                    addresses,
                    level,
                    team,
                });
            }
        }
        out
    }

    /// The addresses of operator `i`: each valid, not the support address, and not one
    /// already listed for them or for an operator before them.
    fn operator_addresses(
        &mut self,
        i: usize,
        list: &[String],
        support: Option<&Address>,
        before: &[Operator],
    ) -> Vec<Address> {
        let mut addresses = Vec::new();
        for (j, a) in list.iter().enumerate() {
            let key = format!("operators[{i}].addresses[{j}]");
            let Some(a) = self.address(&key, a) else {
                continue;
            };
            if Some(&a) == support {
                self.problem(&key, format!("{a} is the support address (smtp.from): an operator writes from their own mailbox"));
            } else if before.iter().any(|o| o.addresses.contains(&a)) || addresses.contains(&a) {
                self.problem(&key, format!("{a} is listed twice"));
            } else {
                addresses.push(a);
            }
        }
        addresses
    }

    fn single_address(&mut self, section: &str, raw: Option<RawAddress>) -> Option<Address> {
        let a = self.non_empty(section, raw?.address)?;
        self.address(section, &a)
    }

    /// `text` as an `Address`, by the core's own grammar (`Address::parse`, the one every
    /// address the daemon reads goes through). lettre must take it too, as every address
    /// configured here is one the daemon writes from or to: that is what composing a mail
    /// would otherwise fail on, later and without naming the key.
    fn address(&mut self, key: &str, text: &str) -> Option<Address> {
        self.address_as(key, text, "is not a bare email address like assistenza@kzweb.it (no name, no angle brackets, no double dots)")
    }

    /// `address`, saying `what` after the text when it is not one.
    fn address_as(&mut self, key: &str, text: &str, what: &str) -> Option<Address> {
        let text = text.trim();
        let address =
            Address::parse(text).filter(|a| a.as_str().parse::<lettre::Address>().is_ok());
        if address.is_none() {
            self.problem(key, format!("{text:?} {what}"));
        }
        address
    }

    fn calendar(&mut self, r: RawCalendar) -> Calendar {
        let mut cal = Calendar::default();
        let time =
            |v: &mut Validator, key: &str, value: Option<String>, into: &mut chrono::NaiveTime| {
                if let Some(text) = value {
                    match chrono::NaiveTime::parse_from_str(text.trim(), "%H:%M") {
                        Ok(t) => *into = t,
                        Err(_) => v.problem(
                            key,
                            format!("{text:?}: write the time as HH:MM, e.g. \"09:00\""),
                        ),
                    }
                }
            };
        time(self, "calendar.opens", r.opens, &mut cal.opens);
        time(self, "calendar.closes", r.closes, &mut cal.closes);
        if cal.closes <= cal.opens {
            self.problem(
                "calendar.closes",
                format!(
                    "{} is not after calendar.opens ({})",
                    cal.closes.format("%H:%M"),
                    cal.opens.format("%H:%M")
                ),
            );
        }
        if let Some(days) = r.days {
            let mut parsed = Vec::new();
            for (i, d) in days.iter().enumerate() {
                match weekday(d) {
                    Some(w) if !parsed.contains(&w) => parsed.push(w),
                    Some(_) => self.problem(
                        &format!("calendar.days[{i}]"),
                        format!("{d:?} is listed twice"),
                    ),
                    None => self.problem(
                        &format!("calendar.days[{i}]"),
                        format!("{d:?}: use lun, mar, mer, gio, ven, sab, dom (or mon … sun)"),
                    ),
                }
            }
            if days.is_empty() {
                self.problem("calendar.days", "must list at least one day");
            }
            cal.days = parsed;
        }
        for (i, c) in r.closures.unwrap_or_default().iter().enumerate() {
            match Closure::parse(c) {
                Ok(c) => cal.closures.push(c),
                Err(e) => self.problem(&format!("calendar.closures[{i}]"), e),
            }
        }
        cal
    }

    fn plaintext_only_on_loopback(&mut self, key: &str, tls: TlsMode, host: &str) {
        let loopback = host.eq_ignore_ascii_case("localhost")
            || host
                .trim_matches(['[', ']'])
                .parse::<IpAddr>()
                .is_ok_and(|ip| ip.is_loopback());
        if tls == TlsMode::None && !loopback {
            self.problem(key, format!("\"none\" sends the password in clear text and is allowed only to a loopback address, not {host:?}: use \"starttls\" or \"implicit\""));
        }
    }

    fn ca_file(&mut self, key: &str, value: Option<PathBuf>) -> Option<PathBuf> {
        let path = self.path(value?);
        if !path.is_file() {
            self.problem(
                key,
                format!("{} does not exist or is not a file", path.display()),
            );
        }
        Some(path)
    }

    /// A directory at `key`, resolved like every path; it must exist.
    fn directory(&mut self, key: &str, value: Option<PathBuf>) -> Option<PathBuf> {
        let value = value?;
        if value.as_os_str().is_empty() {
            self.problem(key, "must not be empty");
            return None;
        }
        let path = self.path(value);
        let problem = match std::fs::metadata(&path) {
            Ok(m) if m.is_dir() => return Some(path),
            Ok(_) => format!("{}: not a directory", path.display()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                format!("{}: no such directory", path.display())
            }
            Err(e) => format!("cannot read {}: {e}", path.display()),
        };
        self.problem(key, problem);
        None
    }

    /// `section.password_file` or `section.password_env`, exactly one.
    fn secret(
        &mut self,
        section: &str,
        file: Option<PathBuf>,
        env: Option<String>,
        required: bool,
    ) -> Option<Secret> {
        match (file, env) {
            (Some(_), Some(_)) => {
                self.problem(
                    &format!("{section}.password_file"),
                    format!(
                        "set either {section}.password_file or {section}.password_env, not both"
                    ),
                );
                None
            }
            (None, None) => {
                if required {
                    self.problem(&format!("{section}.password_file"), format!("missing: set {section}.password_file (a file readable only by the daemon) or {section}.password_env"));
                }
                None
            }
            (Some(_), None) | (None, Some(_)) if !self.read_secrets => Some(Secret(String::new())),
            (Some(file), None) => {
                self.secret_file(&format!("{section}.password_file"), &self.path(file))
            }
            (None, Some(var)) => match (self.env)(&var) {
                Some(v) if !v.is_empty() => Some(Secret(v)),
                _ => {
                    self.problem(
                        &format!("{section}.password_env"),
                        format!("the environment variable {var} is not set or empty"),
                    );
                    None
                }
            },
        }
    }

    fn secret_file(&mut self, key: &str, path: &Path) -> Option<Secret> {
        let meta = match std::fs::metadata(path) {
            Ok(m) => m,
            Err(e) => {
                self.problem(key, format!("cannot read {}: {e}", path.display()));
                return None;
            }
        };
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = meta.permissions().mode();
            if mode & 0o077 != 0 {
                self.problem(key, format!("{} can be read or written by group or others (mode {:o}): run chmod 600 {}", path.display(), mode & 0o777, path.display()));
                return None;
            }
        }
        #[cfg(not(unix))]
        let _ = meta;
        match std::fs::read_to_string(path) {
            Ok(text) => {
                let secret = text.trim_end_matches(['\n', '\r']).to_string();
                if secret.is_empty() {
                    self.problem(key, format!("{} is empty", path.display()));
                    None
                } else {
                    Some(Secret(secret))
                }
            }
            Err(e) => {
                self.problem(key, format!("cannot read {}: {e}", path.display()));
                None
            }
        }
    }
}

/// A desk name as written, trimmed: not blank, and on one line (it goes into the From
/// header and the signature of every mail).
fn desk_name_text(text: &str) -> Result<String, String> {
    let name = text.trim();
    if name.is_empty() {
        Err("must not be empty (it is the From name and signature of every mail)".into())
    } else if name.contains(char::is_control) {
        Err(format!(
            "{name:?} must be one line, without control characters"
        ))
    } else {
        Ok(name.to_string())
    }
}

/// `smtp.from` as written: a bare address, `<address>`, or `Name <address>` with the name
/// plain or in double quotes (needed for any of `",:;@()[]\`; inside them `\"` and `\\`
/// stand for `"` and `\`). Returns the name (`None` without one, `Some("")` for `""`)
/// and the text between the angle brackets, or the whole text when bare, which only
/// `Address::parse` judges. `Err` says what is malformed.
///
/// Not lettre's `Mailbox::from_str`: it parses the address part by a grammar of its own
/// before `Address::parse` would see it, and says only "invalid input" for every mistake.
fn display_form(text: &str) -> Result<(Option<String>, &str), String> {
    const LIKE: &str = "write it as Assistenza KZweb <assistenza@kzweb.it>";
    let text = text.trim();
    if !text.contains(['<', '>', '"']) {
        return Ok((None, text));
    }
    let (name, angle) = match text.strip_prefix('"') {
        Some(quoted) => {
            let mut name = String::new();
            let mut chars = quoted.char_indices();
            let end = loop {
                match chars.next() {
                    Some((i, '"')) => break Some(i + 1),
                    Some((_, '\\')) => match chars.next() {
                        Some((_, c)) => name.push(c),
                        None => break None,
                    },
                    Some((_, c)) => name.push(c),
                    None => break None,
                }
            };
            let Some(end) = end else {
                return Err("the quoted name has no closing \"".into());
            };
            let rest = quoted[end..].trim_start();
            if !rest.starts_with('<') {
                return Err(format!(
                    "the quoted name must be followed by <address>: {LIKE}"
                ));
            }
            (Some(name), rest)
        }
        None => {
            let Some(open) = text.find('<') else {
                return Err("no '<' before the address: write it bare, or as Assistenza KZweb <assistenza@kzweb.it>".into());
            };
            let name = text[..open].trim();
            if let Some(c) = name.chars().find(|c| "\",:;@()[]\\>".contains(*c)) {
                return Err(format!(
                    "a name with {c:?} in it goes in double quotes, as in \"Assistenza, KZweb\" <assistenza@kzweb.it>"
                ));
            }
            ((!name.is_empty()).then(|| name.to_string()), &text[open..])
        }
    };
    let inner = &angle[1..];
    let Some(close) = inner.find('>') else {
        return Err(format!("the '<' is never closed by '>': {LIKE}"));
    };
    let address = &inner[..close];
    let after = inner[close + 1..].trim();
    if address.contains('<') || after.starts_with(',') || after.contains('<') {
        return Err("one address only: every mail is sent from it".into());
    }
    if !after.is_empty() {
        return Err(format!(
            "{after:?} after the '>': nothing may follow the address"
        ));
    }
    Ok((name, address))
}

/// `lun` / `lunedì` / `mon` / `monday` (any case) to a weekday.
fn weekday(text: &str) -> Option<chrono::Weekday> {
    use chrono::Weekday::*;
    let t = text.trim().to_lowercase();
    let t: String = t.chars().take(3).collect();
    Some(match t.as_str() {
        "lun" | "mon" => Mon,
        "mar" | "tue" => Tue,
        "mer" | "wed" => Wed,
        "gio" | "thu" => Thu,
        "ven" | "fri" => Fri,
        "sab" | "sat" => Sat,
        "dom" | "sun" => Sun,
        _ => return None,
    })
}

mod templates;
mod web;

pub use web::{Limit, Network, WebConfig};
#[cfg(test)]
mod tests;
