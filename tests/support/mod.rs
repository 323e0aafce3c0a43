//! Helpers for the integration tests: bring up the real Dovecot + Postfix with
//! `scripts/mailstack` (installing them if needed), give each test its own mailboxes and
//! database, send mail over SMTP, read mailboxes back over IMAP, and run the real binary.
#![allow(dead_code)]

pub mod browser;
pub mod clock;
pub mod container;
pub mod forward;
pub mod oracle;
pub mod portal;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use futures::TryStreamExt;
use lettre::address::Envelope;
use lettre::transport::smtp::client::Tls;
use lettre::{SmtpTransport, Transport};

/// Ports and files of the running mail stack.
#[derive(Clone, Debug)]
pub struct Stack {
    pub dir: PathBuf,
    pub ca: PathBuf,
    pub imap_port: u16,
    pub imaps_port: u16,
    pub smtp_port: u16,
    pub submission_port: u16,
}

/// A private stack (name, port base) for a test binary that stops and starts the mail
/// daemons, so the other test binaries running meanwhile are not disturbed.
static PRIVATE: OnceLock<(&'static str, u16)> = OnceLock::new();

/// Makes this test binary use its own mail stack in `/tmp/assistenza-mailstack-NAME`,
/// on ports `base + 143` (IMAP), `base + 993` (IMAPS), `base + 25`, `base + 587`, ….
/// Call it first in every test of that binary.
pub fn use_private_stack(name: &'static str, base: u16) {
    let chosen = PRIVATE.get_or_init(|| (name, base));
    assert_eq!(*chosen, (name, base), "one private stack per test binary");
}

/// `scripts/mailstack` aimed at this binary's stack.
pub fn mailstack() -> Command {
    let mut cmd = Command::new(repo().join("scripts/mailstack"));
    if let Some((name, base)) = PRIVATE.get() {
        cmd.env(
            "ASSISTENZA_MAILSTACK_DIR",
            format!("/tmp/assistenza-mailstack-{name}"),
        );
        for (var, offset) in [
            ("MAILSTACK_IMAP_PORT", 143),
            ("MAILSTACK_IMAPS_PORT", 993),
            ("MAILSTACK_SMTP_PORT", 25),
            ("MAILSTACK_SUBMISSION_PORT", 587),
            ("MAILSTACK_LMTP_PORT", 24),
            ("MAILSTACK_AUTH_PORT", 26),
        ] {
            cmd.env(var, (base + offset).to_string());
        }
    }
    cmd
}

/// Starts the stack once per test binary (the script is idempotent and takes a lock).
pub fn stack() -> &'static Stack {
    static STACK: OnceLock<Stack> = OnceLock::new();
    STACK.get_or_init(|| {
        let out = mailstack()
            .arg("up")
            .output()
            .expect("running scripts/mailstack up");
        assert!(
            out.status.success(),
            "scripts/mailstack up failed:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let out = mailstack()
            .arg("env")
            .output()
            .expect("scripts/mailstack env");
        let env: HashMap<String, String> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.trim().to_string(), v.trim().trim_matches('"').to_string()))
            .collect();
        let port = |k: &str| {
            env.get(k)
                .unwrap_or_else(|| panic!("{k} missing from mailstack env"))
                .parse()
                .expect("port")
        };
        Stack {
            dir: PathBuf::from(&env["MAILSTACK_DIR"]),
            ca: PathBuf::from(&env["MAILSTACK_CA"]),
            imap_port: port("MAILSTACK_IMAP_PORT"),
            imaps_port: port("MAILSTACK_IMAPS_PORT"),
            smtp_port: port("MAILSTACK_SMTP_PORT"),
            submission_port: port("MAILSTACK_SUBMISSION_PORT"),
        }
    })
}

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub const PASSWORD: &str = "testpass";

/// A mailbox user created for one test.
pub fn add_user(address: &str) {
    let out = mailstack()
        .args(["adduser", address, PASSWORD])
        .output()
        .expect("scripts/mailstack adduser");
    assert!(
        out.status.success(),
        "adduser {address}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Mailbox users created for one test in one go: the stack waits for Dovecot to see only
/// the last one, instead of once per user.
pub fn add_users(addresses: &[String]) {
    use std::io::Write;
    let mut child = mailstack()
        .args(["addusers", PASSWORD])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .expect("scripts/mailstack addusers");
    let mut stdin = child.stdin.take().expect("stdin");
    for a in addresses {
        writeln!(stdin, "{a}").expect("addusers stdin");
    }
    drop(stdin);
    assert!(
        child.wait().expect("addusers").success(),
        "addusers {addresses:?}"
    );
}

/// A name unique to this test run, so tests can share the stack in parallel.
pub fn unique(tag: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let n = N.fetch_add(1, Ordering::SeqCst);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("{tag}-{}-{n}-{}", std::process::id(), nanos % 100_000)
}

/// One support desk: its own support mailbox, config, database and customers.
pub struct Desk {
    pub stack: &'static Stack,
    pub dir: tempfile::TempDir,
    pub support: String,
    pub config: PathBuf,
    /// The port of the portal's form, for a desk with a `[web]` section.
    pub web_port: Option<u16>,
}

/// How the desk reaches IMAP.
#[derive(Clone, Copy)]
pub enum ImapTls {
    Implicit,
    Starttls,
}

impl Desk {
    pub fn new(tag: &str) -> Desk {
        Desk::with(tag, ImapTls::Implicit, "")
    }

    /// A desk with extra config lines appended (e.g. an `[intake]` table).
    pub fn with(tag: &str, tls: ImapTls, extra: &str) -> Desk {
        Desk::with_users(tag, tls, extra, &[])
    }

    /// `with`, and the mailboxes `others` created in the same go as the support mailbox:
    /// Dovecot sees users added a second time within a second only after a failed login
    /// or two, each delayed by its `auth_failure_delay`.
    pub fn with_users(tag: &str, tls: ImapTls, extra: &str, others: &[String]) -> Desk {
        let stack = stack();
        let support = format!("{}@kzweb.it", unique(&format!("support-{tag}")));
        let mut users = vec![support.clone()];
        users.extend_from_slice(others);
        add_users(&users);
        let dir = tempfile::tempdir().expect("tempdir");
        let secret = dir.path().join("password");
        std::fs::write(&secret, format!("{PASSWORD}\n")).expect("secret");
        set_mode(&secret, 0o600);
        let (tls_name, port) = match tls {
            ImapTls::Implicit => ("implicit", stack.imaps_port),
            ImapTls::Starttls => ("starttls", stack.imap_port),
        };
        let config = dir.path().join("config.toml");
        let text = format!(
            r#"[imap]
host = "127.0.0.1"
port = {port}
tls = "{tls_name}"
username = "{support}"
password_file = "password"
ca_file = "{ca}"
poll_interval_secs = 1

[smtp]
host = "127.0.0.1"
port = {sub}
tls = "starttls"
username = "{support}"
password_file = "password"
from = "{support}"
ca_file = "{ca}"

[store]
path = "desk.db"

[outbox]
backoff_initial_secs = 1
backoff_max_secs = 2
once_timeout_secs = 20
{extra}
"#,
            ca = stack.ca.display(),
            sub = stack.submission_port,
        );
        std::fs::write(&config, text).expect("config");
        Desk {
            stack,
            dir,
            support,
            config,
            web_port: None,
        }
    }

    /// Runs the real binary with this desk's config.
    pub fn cli(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_assistenza"))
            .arg("--config")
            .arg(&self.config)
            .args(args)
            .env("RUST_LOG", "info")
            .output()
            .expect("running assistenza")
    }

    /// Runs the binary and asserts it succeeded; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.cli(args);
        assert!(
            out.status.success(),
            "assistenza {args:?} failed ({:?}):\nstdout:\n{}\nstderr:\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Imports contracts given as CSV rows (without the header).
    pub fn contracts(&self, rows: &str) {
        let file = self.dir.path().join("contracts.csv");
        std::fs::write(
            &file,
            format!("customer,addresses,valid_from,valid_until,references\n{rows}"),
        )
        .expect("csv");
        self.ok(&["contracts", "import", file.to_str().expect("utf-8 path")]);
    }

    /// A new customer mailbox on the stack.
    pub fn customer(&self, tag: &str) -> String {
        let a = format!("{}@example.it", unique(tag));
        add_user(&a);
        a
    }

    /// New customer mailboxes on the stack, one per tag, created in one go.
    pub fn customers(&self, tags: &[&str]) -> Vec<String> {
        let addresses: Vec<String> = tags
            .iter()
            .map(|t| format!("{}@example.it", unique(t)))
            .collect();
        add_users(&addresses);
        addresses
    }

    /// A customer with a contract in force whose references include the demo site.
    pub fn customer_with_contract(&self, tag: &str) -> String {
        let a = self.customer(tag);
        self.contracts(&contract_row(
            &format!("Cliente {a}"),
            &[&a],
            "www.rossi-impianti.it",
        ));
        a
    }

    /// Sends a request from `from` with this subject and body to the support address.
    pub fn send_request(&self, from: &str, subject: &str, body: &str) {
        send(
            from,
            &self.support,
            &request(from, &self.support, subject, body),
        );
    }

    /// Waits until `n` messages are in the support inbox, then runs `run --once`.
    pub fn handle(&self, n: usize) {
        let got = wait_for(&self.support, "INBOX", n, Duration::from_secs(20)).len();
        assert_eq!(got, n, "messages delivered to the support inbox");
        self.ok(&["run", "--once"]);
    }

    pub fn status(&self) -> serde_json::Value {
        serde_json::from_str(&self.ok(&["status", "--json"])).expect("json")
    }

    pub fn tickets_json(&self) -> serde_json::Value {
        serde_json::from_str(&self.ok(&["tickets", "list", "--json"])).expect("json")
    }
}

pub fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

/// A contract valid from a year ago to a year ahead, as a CSV row.
pub fn contract_row(customer: &str, addresses: &[&str], references: &str) -> String {
    let today = chrono::Utc::now().date_naive();
    let from = today - chrono::Duration::days(365);
    let until = today + chrono::Duration::days(365);
    format!(
        "\"{customer}\",{},{from},{until},{references}\n",
        addresses.join(";")
    )
}

/// A contract that ended a month ago.
pub fn expired_row(customer: &str, addresses: &[&str]) -> String {
    let today = chrono::Utc::now().date_naive();
    let from = today - chrono::Duration::days(400);
    let until = today - chrono::Duration::days(30);
    format!("\"{customer}\",{},{from},{until},\n", addresses.join(";"))
}

/// A plain request as a mail client would write it.
pub fn request(from: &str, to: &str, subject: &str, body: &str) -> Vec<u8> {
    let id = unique("msg");
    format!(
        "From: Cliente <{from}>\r\nTo: {to}\r\nSubject: {subject}\r\nMessage-ID: <{id}@example.it>\r\n\
Date: Tue, 10 Mar 2026 10:00:00 +0100\r\nMIME-Version: 1.0\r\n\
Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n{body}\r\n"
    )
    .into_bytes()
}

/// `request`, with colleagues (or anyone) in `Cc`.
pub fn request_with_cc(from: &str, to: &str, cc: &[&str], subject: &str, body: &str) -> Vec<u8> {
    let plain = request(from, to, subject, body);
    let mut raw = format!("Cc: {}\r\n", cc.join(", ")).into_bytes();
    raw.extend_from_slice(&plain);
    raw
}

/// Sends raw mail through the stack's MX-like port, as the Internet would deliver it.
pub fn send(from: &str, to: &str, raw: &[u8]) {
    let transport = SmtpTransport::builder_dangerous("127.0.0.1")
        .port(stack().smtp_port)
        .tls(Tls::None)
        .build();
    let envelope = Envelope::new(
        Some(from.parse().expect("from")),
        vec![to.parse().expect("to")],
    )
    .expect("envelope");
    transport
        .send_raw(&envelope, raw)
        .expect("SMTP send to the stack");
}

/// Every message in `mailbox` of `user`, read over IMAP (TLS, verified) with BODY.PEEK[].
pub fn fetch_all(user: &str, mailbox: &str) -> Vec<Vec<u8>> {
    runtime().block_on(async {
        let mut session = login(user).await;
        let exists = match session.select(mailbox).await {
            Ok(mb) => mb.exists,
            Err(_) => return vec![],
        };
        if exists == 0 {
            let _ = session.logout().await;
            return vec![];
        }
        let fetches: Vec<async_imap::types::Fetch> = session
            .fetch("1:*", "BODY.PEEK[]")
            .await
            .expect("fetch")
            .try_collect()
            .await
            .expect("fetch");
        let out = fetches
            .iter()
            .filter_map(|f| f.body().map(<[u8]>::to_vec))
            .collect();
        let _ = session.logout().await;
        out
    })
}

/// APPENDs a raw message to a mailbox (for messages no MTA would pass unchanged).
pub fn append(user: &str, mailbox: &str, raw: &[u8]) {
    runtime().block_on(async {
        let mut session = login(user).await;
        session
            .append(mailbox, None, None, raw)
            .await
            .expect("append");
        let _ = session.logout().await;
    })
}

/// APPENDs many messages on one IMAP session.
pub fn append_many(user: &str, mailbox: &str, raws: impl Iterator<Item = Vec<u8>>) {
    runtime().block_on(async {
        let mut session = login(user).await;
        for raw in raws {
            session
                .append(mailbox, None, None, &raw)
                .await
                .expect("append");
        }
        let _ = session.logout().await;
    })
}

/// APPENDs a message with the INTERNALDATE `at`: for the daemon it arrived then. This is
/// how tests move the clock without sleeping, the way a daemon that was down sees mail.
pub fn append_at(user: &str, mailbox: &str, raw: &[u8], at: chrono::DateTime<chrono::Utc>) {
    // IMAP wants the date-time quoted; async-imap passes it as given.
    let date = at.format("\"%d-%b-%Y %H:%M:%S +0000\"").to_string();
    runtime().block_on(async {
        let mut session = login(user).await;
        session
            .append(mailbox, None, Some(&date), raw)
            .await
            .expect("append with a date");
        let _ = session.logout().await;
    })
}

/// APPENDs messages in order over one session, each with the INTERNALDATE `at` (a
/// corpus of dozens would otherwise pay a TLS login each).
pub fn append_all_at(
    user: &str,
    mailbox: &str,
    raws: &[Vec<u8>],
    at: chrono::DateTime<chrono::Utc>,
) {
    let date = at.format("\"%d-%b-%Y %H:%M:%S +0000\"").to_string();
    runtime().block_on(async {
        let mut session = login(user).await;
        for (i, raw) in raws.iter().enumerate() {
            session
                .append(mailbox, None, Some(&date), raw)
                .await
                .unwrap_or_else(|e| panic!("append of message {i} ({} bytes): {e}", raw.len()));
        }
        let _ = session.logout().await;
    })
}

/// Copies every message of `from` back into `to` (a new UID, the same bytes).
pub fn copy_all(user: &str, from: &str, to: &str) {
    runtime().block_on(async {
        let mut session = login(user).await;
        session.select(from).await.expect("select");
        session.copy("1:*", to).await.expect("copy");
        let _ = session.logout().await;
    })
}

/// Waits until `mailbox` of `user` holds at least `n` messages; returns them.
pub fn wait_for(user: &str, mailbox: &str, n: usize, within: Duration) -> Vec<Vec<u8>> {
    let start = Instant::now();
    loop {
        let msgs = fetch_all(user, mailbox);
        if msgs.len() >= n || start.elapsed() > within {
            return msgs;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The Message-IDs of the acknowledgements per ticket code in the customers' inboxes,
/// once every code in `codes` has one and Postfix holds no more mail (so a late duplicate
/// is counted too). Codes are read from the `[KZ-…]` subject prefix; on timeout, whatever
/// arrived is returned.
pub fn acks_by_code(
    customers: &[String],
    codes: &[String],
    within: Duration,
) -> HashMap<String, Vec<String>> {
    let start = Instant::now();
    loop {
        let mut acks: HashMap<String, Vec<String>> = HashMap::new();
        for c in customers {
            for raw in fetch_all(c, "INBOX") {
                let (subject, _) = subject_and_text(&raw);
                if let Some((code, _)) = subject.strip_prefix('[').and_then(|s| s.split_once(']')) {
                    if codes.iter().any(|c| c == code) {
                        acks.entry(code.to_string())
                            .or_default()
                            .push(message_id(&raw));
                    }
                }
            }
        }
        let all = codes.iter().all(|c| acks.contains_key(c));
        if (all && postfix_queue_empty()) || start.elapsed() > within {
            return acks;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// True when the stack's Postfix holds no mail, deferred or in flight.
pub fn postfix_queue_empty() -> bool {
    mailstack()
        .arg("queue-empty")
        .status()
        .expect("mailstack queue-empty")
        .success()
}

/// Waits until the stack's Postfix holds no mail, so what a mailbox shows is final (a late
/// or duplicate mail included); fails the test if it never drains within a minute.
pub fn postfix_drained() {
    let start = Instant::now();
    while !postfix_queue_empty() {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "Postfix's queue never drained"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The count of messages in a mailbox (0 when it does not exist).
pub fn count(user: &str, mailbox: &str) -> usize {
    fetch_all(user, mailbox).len()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

async fn login(
    user: &str,
) -> async_imap::Session<tokio_rustls::client::TlsStream<tokio::net::TcpStream>> {
    let s = stack();
    let config = assistenza::mail::tls::client_config(Some(&s.ca)).expect("tls config");
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", s.imaps_port))
        .await
        .expect("connect imaps");
    let tls = assistenza::mail::tls::connect(config, "127.0.0.1", tcp)
        .await
        .expect("tls");
    let mut client = async_imap::Client::new(tls);
    client.read_response().await.expect("greeting");
    client
        .login(user, PASSWORD)
        .await
        .map_err(|(e, _)| e)
        .expect("login")
}

/// Subject and decoded text of a raw message.
pub fn subject_and_text(raw: &[u8]) -> (String, String) {
    let m = mail_parser::MessageParser::default()
        .parse(raw)
        .expect("parse");
    (
        m.subject().unwrap_or("").to_string(),
        m.body_text(0).map(|t| t.into_owned()).unwrap_or_default(),
    )
}

/// A header's raw value.
pub fn header(raw: &[u8], name: &str) -> Option<String> {
    let m = mail_parser::MessageParser::default().parse(raw)?;
    m.header_raw(name).map(|v| v.trim().to_string())
}

/// The people of a desk with operators: the first-level queue, the on-call person, a
/// first-level operator and a second-level one (team `sistemisti`).
pub struct Staff {
    pub queue: String,
    pub oncall: String,
    pub giulia: String,
    pub sergio: String,
}

/// The authserv-id the test desks trust: what the agency's own MX would write.
pub const AUTHSERV_ID: &str = "mx.kzweb.test";

impl Desk {
    /// A desk with operators, a queue, an on-call address and operator authentication.
    pub fn with_staff(tag: &str) -> (Desk, Staff) {
        Desk::with_staff_and_users(tag, &[])
    }

    /// `with_staff`, and the mailboxes `others` created with the staff's.
    pub fn with_staff_and_users(tag: &str, others: &[String]) -> (Desk, Staff) {
        let mk = |who: &str| format!("{}@kzweb.it", unique(&format!("{who}-{tag}")));
        let staff = Staff {
            queue: mk("queue"),
            oncall: mk("oncall"),
            giulia: mk("giulia"),
            sergio: mk("sergio"),
        };
        let mut users = vec![
            staff.queue.clone(),
            staff.oncall.clone(),
            staff.giulia.clone(),
            staff.sergio.clone(),
        ];
        users.extend_from_slice(others);
        let extra = format!(
            r#"
[queue]
address = "{}"

[oncall]
address = "{}"

[operator_auth]
trusted_authserv_ids = ["{AUTHSERV_ID}"]

[[operators]]
name = "giulia"
addresses = ["{}"]
level = 1

[[operators]]
name = "sergio"
addresses = ["{}"]
level = 2
team = "sistemisti"
"#,
            staff.queue, staff.oncall, staff.giulia, staff.sergio
        );
        (
            Desk::with_users(tag, ImapTls::Implicit, &extra, &users),
            staff,
        )
    }

    /// The code of the only ticket, and its listing.
    pub fn only_ticket(&self) -> (String, serde_json::Value) {
        let list = self.tickets_json();
        let rows = list.as_array().expect("array");
        assert_eq!(rows.len(), 1, "exactly one ticket: {list:#}");
        (
            rows[0]["code"].as_str().expect("code").to_string(),
            rows[0].clone(),
        )
    }
}

/// A mail from an operator to the support address, as the agency's MX hands it over:
/// with an `Authentication-Results` header saying DKIM and SPF passed, written by
/// `authserv` (none when empty), and `preventivo.pdf` attached when `pdf` is set.
/// `from`, an operator, writes `text` (with `pdf` attached) to the support address under
/// `subject`, vouched for by the trusted server's `Authentication-Results`.
pub fn operator_sends(from: &str, support: &str, subject: &str, text: &str, pdf: Option<&[u8]>) {
    send(
        from,
        support,
        &operator_mail(from, support, subject, None, AUTHSERV_ID, text, pdf),
    );
}

pub fn operator_mail(
    from: &str,
    to: &str,
    subject: &str,
    in_reply_to: Option<&str>,
    authserv: &str,
    text: &str,
    pdf: Option<&[u8]>,
) -> Vec<u8> {
    use lettre::message::header::{ContentTransferEncoding, ContentType};
    use lettre::message::{Attachment, Body, MultiPart, SinglePart};
    let mut b = lettre::Message::builder()
        .from(format!("Operatore <{from}>").parse().expect("from"))
        .to(to.parse().expect("to"))
        .subject(subject)
        .message_id(Some(format!("<{}@kzweb.it>", unique("op"))));
    if let Some(r) = in_reply_to {
        b = b.in_reply_to(format!("<{r}>")).references(format!("<{r}>"));
    }
    let msg = match pdf {
        None => b.header(ContentType::TEXT_PLAIN).body(text.to_string()),
        Some(data) => b.multipart(
            MultiPart::mixed()
                .singlepart(SinglePart::plain(text.to_string()))
                .singlepart(
                    Attachment::new("preventivo.pdf".into()).body(
                        Body::new_with_encoding(data.to_vec(), ContentTransferEncoding::Base64)
                            .expect("base64"),
                        ContentType::parse("application/pdf").expect("type"),
                    ),
                ),
        ),
    }
    .expect("operator mail");
    let mut raw = Vec::new();
    if !authserv.is_empty() {
        raw.extend_from_slice(
            format!(
                "Authentication-Results: {authserv};\r\n\tdkim=pass header.d=kzweb.it \
                 header.s=mail;\r\n\tspf=pass smtp.mailfrom={from}\r\n"
            )
            .as_bytes(),
        );
    }
    raw.extend_from_slice(&msg.formatted());
    raw
}

/// A customer's reply in a thread.
pub fn reply_mail(from: &str, to: &str, subject: &str, in_reply_to: &str, text: &str) -> Vec<u8> {
    let id = unique("re");
    format!(
        "From: Cliente <{from}>\r\nTo: {to}\r\nSubject: {subject}\r\nMessage-ID: <{id}@example.it>\r\n\
In-Reply-To: <{in_reply_to}>\r\nReferences: <{in_reply_to}>\r\n\
Date: Tue, 10 Mar 2026 12:00:00 +0100\r\nMIME-Version: 1.0\r\n\
Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n{text}\r\n"
    )
    .into_bytes()
}

/// The message of `user`'s `mailbox` whose subject contains `needle`, waiting for it.
pub fn mail_with_subject(user: &str, mailbox: &str, needle: &str) -> Vec<u8> {
    let start = Instant::now();
    loop {
        if let Some(m) = fetch_all(user, mailbox)
            .into_iter()
            .find(|m| subject_and_text(m).0.contains(needle))
        {
            return m;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "no mail with {needle:?} in the subject in {user}'s {mailbox}: {:?}",
            fetch_all(user, mailbox)
                .iter()
                .map(|m| subject_and_text(m).0)
                .collect::<Vec<_>>()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The bare Message-ID of a raw message.
pub fn message_id(raw: &[u8]) -> String {
    header(raw, "Message-ID")
        .expect("Message-ID")
        .trim_matches(['<', '>'])
        .to_string()
}

/// The real daemon (`assistenza run`) running in the background for one desk, its log in
/// a file of the desk's directory. Killed if the test ends without stopping it.
pub struct Running {
    pub child: std::process::Child,
    pub log: PathBuf,
}

impl Desk {
    /// `n` requests from `customers` in turn (`body` plus its number), put straight into
    /// the support mailbox: a backlog waiting for the daemon.
    pub fn backlog(&self, customers: &[String], n: usize, body: &str) {
        append_many(
            &self.support,
            "INBOX",
            (0..n).map(|i| {
                let from = &customers[i % customers.len()];
                request(
                    from,
                    &self.support,
                    from,
                    &format!("{body}\r\nRichiesta {i}."),
                )
            }),
        );
    }

    /// Lifts the reply rate limit (20 an hour to one address by default) for tests that
    /// send one customer dozens of requests.
    pub fn allow_many_replies(&self) {
        self.edit_config(|c| c + "\n[intake]\nmax_replies_per_hour = 10000\n");
    }

    /// Changes this desk's config file.
    pub fn edit_config(&self, f: impl FnOnce(String) -> String) {
        let text = std::fs::read_to_string(&self.config).expect("config");
        std::fs::write(&self.config, f(text)).expect("config");
    }

    /// Starts `assistenza run` and waits until it says it is ready.
    pub fn start(&self) -> Running {
        self.start_with(&[])
    }

    /// Starts `assistenza run` with these environment variables added.
    pub fn start_with(&self, env: &[(&str, &std::ffi::OsStr)]) -> Running {
        let log = self
            .dir
            .path()
            .join(format!("daemon-{}.log", unique("run")));
        let file = std::fs::File::create(&log).expect("log file");
        let child = Command::new(env!("CARGO_BIN_EXE_assistenza"))
            .arg("--config")
            .arg(&self.config)
            .arg("run")
            .env("RUST_LOG", "info")
            .envs(env.iter().copied())
            .stderr(file)
            .spawn()
            .expect("starting the daemon");
        let running = Running { child, log };
        running.wait_log("ready:", 1, Duration::from_secs(30));
        running
    }
}

impl Running {
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits until `needle` appears `n` times in the log; panics with the log otherwise.
    pub fn wait_log(&self, needle: &str, n: usize, within: Duration) {
        let start = Instant::now();
        while start.elapsed() < within {
            if self.log_text().matches(needle).count() >= n {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "{needle:?} not logged {n} time(s) within {within:?}:\n{}",
            self.log_text()
        );
    }

    pub fn signal(&self, name: &str) {
        let ok = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.child.id().to_string())
            .status()
            .expect("kill")
            .success();
        assert!(ok, "kill -{name}");
    }

    /// Sends SIGTERM and waits for the exit; returns the status and how long it took.
    pub fn stop(mut self) -> (std::process::ExitStatus, Duration, String) {
        self.signal("TERM");
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return (status, start.elapsed(), self.log_text());
            }
            if start.elapsed() > Duration::from_secs(30) {
                panic!(
                    "the daemon did not exit 30 s after SIGTERM:\n{}",
                    self.log_text()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
