//! The benchmark: how fast and how small the daemon is against the real mail stack, and
//! how that compares with the stack's own speed. Run it with `scripts/bench` (full run) or
//! `scripts/bench --smoke` (small numbers, proves it works; CI runs that). Prints one table.
//!
//! - Latency: requests sent over SMTP by a second process (this binary with `--send`), a
//!   stream of them one every 100–300 ms, then lone ones 3 s apart; for each, the time
//!   from Postfix accepting it (the end of DATA) to its acknowledgement being visible in
//!   the customer's mailbox, seen by a watcher that asks Dovecot every 10 ms (NOOP). Both
//!   clocks are read outside the daemon; where the time went is read from its database.
//! - Backlog: N requests from C contracts APPENDed while the daemon is stopped, then the
//!   daemon started: the time until every ticket is open and every acknowledgement was
//!   accepted by Postfix. The floor, in the same run: one IMAP `UID FETCH 1:* BODY.PEEK[]`
//!   of the same messages, plus Postfix's own `smtp-source` sending N acknowledgement-sized
//!   messages on one connection.
//! - Memory: the daemon's peak RSS (VmHWM) when 1,000 tickets are open and at the end.
//! - CPU: the daemon's user+sys seconds per 1,000 requests of the backlog.
//! - The portal's form (`form.rs`): submission → ack latency, valid submissions per
//!   second and their acks, and a junk flood beside emailed requests.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{anyhow, bail, Context, Result};
use futures::TryStreamExt;

mod form;

const PASSWORD: &str = "testpass";
const BODY: &str = "Buongiorno, sono un cliente.\r\nSito: https://www.rossi-impianti.it\r\n\
Il modulo contatti non invia più i messaggi, potete controllare?";

#[derive(Clone, Debug)]
struct Args {
    binary: PathBuf,
    latency: usize,
    /// Requests sent alone (3 s apart), after the latency stream.
    lone: usize,
    backlog: usize,
    contracts: usize,
    /// Valid form submissions sent in parallel.
    form: usize,
    /// Junk POSTs of the flood.
    flood: usize,
    /// Emailed requests measured with the flood and without.
    emails: usize,
    /// Only the portal's form: no mail latency, no backlog.
    portal_only: bool,
}

fn main() -> Result<()> {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    if argv.first().map(String::as_str) == Some("--send") {
        return sender(&argv[1..]);
    }
    let args = parse_args(&argv)?;
    let stack = Stack::read()?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let mut table = vec![machine(&args)?];
    if !args.portal_only {
        eprintln!("bench: latency phase ({} requests)", args.latency);
        table.push(rt.block_on(latency(&args, &stack))?);
        eprintln!(
            "bench: backlog phase ({} requests, {} contracts)",
            args.backlog, args.contracts
        );
        table.push(rt.block_on(backlog(&args, &stack))?);
    }
    table.push(form::run(&args, &stack, &rt)?);
    println!();
    for line in table {
        println!("{line}");
    }
    Ok(())
}

fn parse_args(argv: &[String]) -> Result<Args> {
    let mut args = Args {
        binary: PathBuf::from("target/release/assistenza"),
        latency: 200,
        lone: 10,
        backlog: 10_000,
        contracts: 500,
        form: 2_000,
        flood: 10_000,
        emails: 50,
        portal_only: false,
    };
    let mut it = argv.iter();
    while let Some(a) = it.next() {
        let mut value = || it.next().ok_or_else(|| anyhow!("{a} needs a value"));
        match a.as_str() {
            "--smoke" => {
                args.latency = 20;
                args.lone = 3;
                args.backlog = 200;
                args.contracts = 50;
                args.form = 100;
                args.flood = 1_000;
                args.emails = 10;
            }
            "--binary" => args.binary = PathBuf::from(value()?),
            "--latency" => args.latency = value()?.parse()?,
            "--lone" => args.lone = value()?.parse()?,
            "--backlog" => args.backlog = value()?.parse()?,
            "--contracts" => args.contracts = value()?.parse()?,
            "--form" => args.form = value()?.parse()?,
            "--flood" => args.flood = value()?.parse()?,
            "--emails" => args.emails = value()?.parse()?,
            "--portal-only" => args.portal_only = true,
            other => bail!("unknown argument {other}"),
        }
    }
    Ok(args)
}

// ---- the mail stack ------------------------------------------------------------------

struct Stack {
    ca: PathBuf,
    imaps: u16,
    smtp: u16,
    submission: u16,
}

impl Stack {
    fn read() -> Result<Stack> {
        let out = Command::new("scripts/mailstack").arg("env").output()?;
        let env: HashMap<String, String> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let get = |k: &str| env.get(k).cloned().ok_or_else(|| anyhow!("{k} missing"));
        Ok(Stack {
            ca: PathBuf::from(get("MAILSTACK_CA")?),
            imaps: get("MAILSTACK_IMAPS_PORT")?.parse()?,
            smtp: get("MAILSTACK_SMTP_PORT")?.parse()?,
            submission: get("MAILSTACK_SUBMISSION_PORT")?.parse()?,
        })
    }

    async fn login(
        &self,
        user: &str,
    ) -> Result<async_imap::Session<tokio_rustls::client::TlsStream<tokio::net::TcpStream>>> {
        let config = assistenza::mail::tls::client_config(Some(&self.ca))?;
        let tcp = tokio::net::TcpStream::connect(("127.0.0.1", self.imaps)).await?;
        tcp.set_nodelay(true)?;
        let tls = assistenza::mail::tls::connect(config, "127.0.0.1", tcp).await?;
        let mut client = async_imap::Client::new(tls);
        client.read_response().await?;
        client
            .login(user, PASSWORD)
            .await
            .map_err(|(e, _)| anyhow!("login {user}: {e}"))
    }
}

fn add_users(users: &[String]) -> Result<()> {
    let mut child = Command::new("scripts/mailstack")
        .args(["addusers", PASSWORD])
        .stdin(Stdio::piped())
        .spawn()?;
    let mut stdin = child.stdin.take().context("stdin")?;
    for u in users {
        writeln!(stdin, "{u}")?;
    }
    drop(stdin);
    if !child.wait()?.success() {
        bail!("mailstack addusers failed");
    }
    Ok(())
}

fn machine(args: &Args) -> Result<String> {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let mem_kib: u64 = std::fs::read_to_string("/proc/meminfo")?
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0);
    let run = |cmd: &str, args: &[&str]| {
        Command::new(cmd)
            .args(args)
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_else(|_| "?".into())
    };
    let dovecot = run("dovecot", &["--version"]);
    let postfix = run("postconf", &["-dh", "mail_version"]);
    let version = run(args.binary.to_str().unwrap_or("?"), &["--version"]);
    Ok(format!(
        "machine   {cores} cores, {:.1} GiB; Dovecot {dovecot}; Postfix {postfix}; {version} ({})",
        mem_kib as f64 / 1024.0 / 1024.0,
        args.binary.display()
    ))
}

// ---- a desk: support mailbox, customers, contracts, config, database -----------------

struct Desk {
    dir: PathBuf,
    support: String,
    customers: Vec<String>,
    config: PathBuf,
}

impl Desk {
    fn new(tag: &str, customers: usize, stack: &Stack, binary: &Path) -> Result<Desk> {
        Desk::with_config(tag, customers, stack, binary, "")
    }

    /// A desk whose config ends with `extra` (a `[web]` section, say).
    fn with_config(
        tag: &str,
        customers: usize,
        stack: &Stack,
        binary: &Path,
        extra: &str,
    ) -> Result<Desk> {
        let id = format!(
            "{tag}{}-{}",
            std::process::id(),
            SystemTime::now().duration_since(UNIX_EPOCH)?.as_millis() % 100_000
        );
        let dir = std::env::temp_dir().join(format!("assistenza-bench-{id}"));
        std::fs::create_dir_all(&dir)?;
        let support = format!("bench-{id}@kzweb.it");
        let customers: Vec<String> = (0..customers)
            .map(|i| format!("c{i}-{id}@example.it"))
            .collect();
        let mut users = customers.clone();
        users.push(support.clone());
        add_users(&users)?;
        let secret = dir.join("password");
        std::fs::write(&secret, format!("{PASSWORD}\n"))?;
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600))?;
        let config = dir.join("config.toml");
        std::fs::write(&config, config_text(stack, &support, extra))?;
        let desk = Desk {
            dir,
            support,
            customers,
            config,
        };
        desk.import_contracts(binary)?;
        Ok(desk)
    }

    /// One contract in force per customer, each with the bench's site as its reference.
    fn import_contracts(&self, binary: &Path) -> Result<()> {
        let today = chrono::Utc::now().date_naive();
        let mut csv = String::from("customer,addresses,valid_from,valid_until,references\n");
        for (i, c) in self.customers.iter().enumerate() {
            csv.push_str(&format!(
                "Cliente {i},{c},{},{},www.rossi-impianti.it\n",
                today - chrono::Duration::days(365),
                today + chrono::Duration::days(365)
            ));
        }
        let file = self.dir.join("contracts.csv");
        std::fs::write(&file, csv)?;
        let out = self
            .command(binary)
            .args(["contracts", "import"])
            .arg(&file)
            .output()?;
        if !out.status.success() {
            bail!("contracts import: {}", String::from_utf8_lossy(&out.stderr));
        }
        Ok(())
    }

    /// The desk's database, read-only, beside the running daemon.
    fn open_db(&self) -> Result<rusqlite::Connection> {
        let conn = rusqlite::Connection::open_with_flags(
            self.dir.join("desk.db"),
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        )?;
        conn.busy_timeout(Duration::from_secs(5))?;
        Ok(conn)
    }

    fn command(&self, binary: &Path) -> Command {
        let mut c = Command::new(binary);
        c.arg("--config").arg(&self.config);
        c
    }

    /// Starts `run`, its log in the desk's directory; waits until it says it is ready.
    fn start(&self, binary: &Path) -> Result<Running> {
        let log = std::fs::File::create(self.dir.join("daemon.log"))?;
        let child = self
            .command(binary)
            .arg("run")
            .env("RUST_LOG", "info")
            .stderr(log)
            .spawn()?;
        let running = Running(child);
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(30) {
            let text = std::fs::read_to_string(self.dir.join("daemon.log")).unwrap_or_default();
            if text.contains("ready:") {
                return Ok(running);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        bail!("the daemon did not get ready; see {}", self.dir.display())
    }
}

/// The desk's config: the stack's IMAP and SMTP as the support mailbox, then `extra`.
fn config_text(stack: &Stack, support: &str, extra: &str) -> String {
    format!(
        r#"[imap]
host = "127.0.0.1"
port = {imaps}
tls = "implicit"
username = "{support}"
password_file = "password"
ca_file = "{ca}"

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

# The latency run sends each customer 20 requests and the crash run more: the reply
# rate limit (20 an hour by default) must not hold any acknowledgement back.
[intake]
max_replies_per_hour = 10000
"#,
        imaps = stack.imaps,
        sub = stack.submission,
        ca = stack.ca.display(),
    ) + extra
}

/// A daemon the bench started: `stop` ends it with SIGTERM; if the bench fails first, it
/// is killed rather than left running against the stack.
struct Running(Child);

impl Running {
    fn id(&self) -> u32 {
        self.0.id()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

fn stop(mut daemon: Running) -> Result<()> {
    Command::new("kill")
        .arg("-TERM")
        .arg(daemon.id().to_string())
        .status()?;
    daemon.0.wait()?;
    Ok(())
}

fn request(from: &str, to: &str, id: &str) -> String {
    format!(
        "From: Cliente <{from}>\r\nTo: {to}\r\nSubject: {from}\r\nMessage-ID: <{id}>\r\n\
Date: {}\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\
Content-Transfer-Encoding: 8bit\r\n\r\n{BODY}\r\n",
        chrono::Utc::now().to_rfc2822()
    )
}

fn micros_now() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros())
        .unwrap_or(0)
}

// ---- latency -------------------------------------------------------------------------

/// `--send PORT TO N GAP FROM...`: the second process. Sends N requests round-robin from
/// the senders, one every GAP ms (`stream`: every 100–300 ms), and prints
/// `MESSAGE-ID ACCEPTED-AT-µs` per request.
fn sender(argv: &[String]) -> Result<()> {
    use lettre::address::Envelope;
    use lettre::transport::smtp::client::Tls;
    use lettre::Transport;
    let [port, to, n, every, from @ ..] = argv else {
        bail!("--send PORT TO N GAP FROM...");
    };
    let n: usize = n.parse()?;
    let every: Option<u64> = match every.as_str() {
        "stream" => None,
        ms => Some(ms.parse()?),
    };
    let transport = lettre::SmtpTransport::builder_dangerous("127.0.0.1")
        .port(port.parse()?)
        .tls(Tls::None)
        .build();
    let mut out = std::io::stdout().lock();
    // A small deterministic spread of gaps: no random number generator needed.
    let mut gap = 100u64;
    for i in 0..n {
        let from = &from[i % from.len()];
        let id = format!("lat-{i}-{}@example.it", std::process::id());
        let raw = request(from, to, &id);
        let envelope = Envelope::new(Some(from.parse()?), vec![to.parse()?])?;
        transport.send_raw(&envelope, raw.as_bytes())?;
        writeln!(out, "{id} {}", micros_now())?;
        out.flush()?;
        gap = 100 + (gap * 7919 + 13) % 201;
        std::thread::sleep(Duration::from_millis(every.unwrap_or(gap)));
    }
    Ok(())
}

/// Watches one mailbox: records when each new message (by its In-Reply-To) first shows.
async fn watch(
    stack: &Stack,
    user: String,
    seen: Arc<Mutex<HashMap<String, u128>>>,
    until: Arc<Mutex<bool>>,
) -> Result<()> {
    let mut s = stack.login(&user).await?;
    s.select("INBOX").await?;
    let mut next_uid = 1u32;
    while !*until.lock().map_err(|_| anyhow!("poisoned"))? {
        s.noop().await?;
        let fetches: Vec<async_imap::types::Fetch> = s
            .uid_fetch(
                format!("{next_uid}:*"),
                "(UID BODY.PEEK[HEADER.FIELDS (IN-REPLY-TO)])",
            )
            .await?
            .try_collect()
            .await?;
        let at = micros_now();
        for f in &fetches {
            let Some(uid) = f.uid else { continue };
            if uid < next_uid {
                continue; // `N:*` returns the last message even when N is past it
            }
            next_uid = uid + 1;
            let header = String::from_utf8_lossy(f.header().unwrap_or_default()).to_string();
            if let Some(id) = header
                .split_once('<')
                .and_then(|(_, r)| r.split_once('>'))
                .map(|(id, _)| id.to_string())
            {
                seen.lock()
                    .map_err(|_| anyhow!("poisoned"))?
                    .entry(id)
                    .or_insert(at);
            }
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let _ = s.logout().await;
    Ok(())
}

async fn latency(args: &Args, stack: &Stack) -> Result<String> {
    let desk = Desk::new("lat", 10, stack, &args.binary)?;
    let daemon = desk.start(&args.binary)?;
    let stream = email_samples(stack, &desk, args.latency, Gap::Stream).await?;
    let lone = email_samples(stack, &desk, args.lone, Gap::Millis(LONE_GAP_MS)).await?;
    stop(daemon)?;
    let db = desk.open_db()?;
    let (stream_legs, lone_legs) = (stream.legs(&db)?, lone.legs(&db)?);
    drop(db);
    let _ = std::fs::remove_dir_all(&desk.dir);
    Ok(format!(
        "latency   {} requests, one every 100–300 ms, SMTP accept → ack in the customer's mailbox: \
         {}{} (targets: p50 ≤ 1 s, p99 ≤ 3 s)\n\
         latency   where the time went (medians): {}\n\
         lone      {} requests {} s apart, each one after the daemon went back to IDLE: {}{}\n\
         lone      where the time went (medians): {}",
        stream.accepted.len(),
        stream.quantiles(),
        stream.missing_note(),
        legs_text(stream_legs),
        lone.accepted.len(),
        LONE_GAP_MS / 1000,
        lone.quantiles(),
        lone.missing_note(),
        legs_text(lone_legs),
    ))
}

/// Lone requests are spaced wider than the daemon's watch for more after a burst (2 s).
const LONE_GAP_MS: u64 = 3000;

fn legs_text([recorded, sent, seen]: [f64; 3]) -> String {
    format!(
        "accept → recorded by the daemon {recorded:.3} s (delivery, IMAP notice, fetch, rules, \
         commit), → ack accepted by Postfix {sent:.3} s, → ack in the mailbox {seen:.3} s"
    )
}

/// Acknowledgement latencies of emailed requests, in seconds, sorted.
struct Samples {
    /// Each request's Message-ID and when Postfix accepted it (µs since the epoch).
    accepted: Vec<(String, u128)>,
    /// When each request's ack was seen (µs since the epoch), by Message-ID.
    seen: HashMap<String, u128>,
    /// The latency of each request whose ack was seen, sorted.
    lat: Vec<f64>,
    missing: usize,
}

impl Samples {
    fn from_latencies(mut lat: Vec<f64>, missing: usize) -> Samples {
        lat.sort_by(f64::total_cmp);
        Samples {
            accepted: vec![],
            seen: HashMap::new(),
            lat,
            missing,
        }
    }

    fn q(&self, p: f64) -> f64 {
        let at = ((self.lat.len() as f64 * p).ceil() as usize).saturating_sub(1);
        self.lat.get(at).copied().unwrap_or(f64::NAN)
    }

    /// `p50 … s, p95 … s, p99 … s, max … s`
    fn quantiles(&self) -> String {
        format!(
            "p50 {:.2} s, p95 {:.2} s, p99 {:.2} s, max {:.2} s",
            self.q(0.50),
            self.q(0.95),
            self.q(0.99),
            self.lat.last().copied().unwrap_or(f64::NAN)
        )
    }

    /// Where the requests' time went, medians in seconds: from Postfix accepting the
    /// request to the daemon having recorded it (delivery, the IMAP notice, fetch, the
    /// rules, the commit), then to Postfix accepting its ack (the outbox), then to the ack
    /// in the mailbox (delivery, and the watcher's 10 ms poll). The daemon's times have
    /// millisecond steps.
    fn legs(&self, db: &rusqlite::Connection) -> Result<[f64; 3]> {
        let mut query = db.prepare(
            "SELECT i.processed_at, o.sent_at FROM inbound i JOIN outbox o ON o.inbound_id = i.id \
             WHERE i.message_id = ?1 AND o.kind = 'ack' AND o.sent_at IS NOT NULL",
        )?;
        let micros = |t: &str| -> Result<f64> {
            Ok(chrono::DateTime::parse_from_rfc3339(t)?.timestamp_micros() as f64)
        };
        let mut legs: [Vec<f64>; 3] = Default::default();
        for (id, accepted) in &self.accepted {
            let Some(seen) = self.seen.get(id) else {
                continue;
            };
            let (recorded, sent): (String, String) =
                query.query_row([id], |r| Ok((r.get(0)?, r.get(1)?)))?;
            let (recorded, sent) = (micros(&recorded)?, micros(&sent)?);
            legs[0].push((recorded - *accepted as f64) / 1e6);
            legs[1].push((sent - recorded) / 1e6);
            legs[2].push((*seen as f64 - sent) / 1e6);
        }
        Ok(legs.map(|mut leg| {
            leg.sort_by(f64::total_cmp);
            leg.get(leg.len() / 2).copied().unwrap_or(f64::NAN)
        }))
    }

    fn missing_note(&self) -> String {
        if self.missing > 0 {
            format!(", {} ack(s) NOT SEEN", self.missing)
        } else {
            String::new()
        }
    }
}

/// How the `--send` process spaces its requests.
#[derive(Clone, Copy)]
enum Gap {
    /// One every 100–300 ms: a stream, as when several customers write at once.
    Stream,
    /// A fixed gap: with 3 s, each request arrives alone, after the daemon went back to
    /// IDLE.
    Millis(u64),
}

/// Sends `n` requests to `desk` over SMTP from its customers (the `--send` process) and
/// measures each one's acknowledgement latency, watching every customer's mailbox.
async fn email_samples(stack: &Stack, desk: &Desk, n: usize, gap: Gap) -> Result<Samples> {
    let seen = Arc::new(Mutex::new(HashMap::new()));
    let done = Arc::new(Mutex::new(false));
    let stack = Arc::new(Stack {
        ca: stack.ca.clone(),
        ..*stack
    });
    let mut watchers = Vec::new();
    for c in &desk.customers {
        let (stack, seen, done, c) = (Arc::clone(&stack), seen.clone(), done.clone(), c.clone());
        watchers.push(tokio::spawn(
            async move { watch(&stack, c, seen, done).await },
        ));
    }
    // Let the watchers log in before the first request.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let accepted = send_requests(&stack, desk, n, gap).await?;
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        // The mailboxes may hold acks of earlier rounds: only this round's count.
        let all = {
            let seen = seen.lock().map_err(|_| anyhow!("poisoned"))?;
            accepted.iter().all(|(id, _)| seen.contains_key(id))
        };
        if all {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    *done.lock().map_err(|_| anyhow!("poisoned"))? = true;
    for w in watchers {
        w.await??;
    }
    let seen = seen.lock().map_err(|_| anyhow!("poisoned"))?.clone();
    let lat: Vec<f64> = accepted
        .iter()
        .filter_map(|(id, at)| seen.get(id).map(|s| (*s as f64 - *at as f64) / 1e6))
        .collect();
    let missing = accepted.len() - lat.len();
    let seen = accepted
        .iter()
        .filter_map(|(id, _)| Some((id.clone(), *seen.get(id)?)))
        .collect();
    Ok(Samples {
        accepted,
        seen,
        ..Samples::from_latencies(lat, missing)
    })
}

/// Runs the `--send` process: `n` requests to the desk, round-robin from its customers;
/// each one's Message-ID and when Postfix accepted it.
async fn send_requests(
    stack: &Stack,
    desk: &Desk,
    n: usize,
    gap: Gap,
) -> Result<Vec<(String, u128)>> {
    let me = std::env::current_exe()?;
    let mut child = Command::new(me)
        .arg("--send")
        .arg(stack.smtp.to_string())
        .arg(&desk.support)
        .arg(n.to_string())
        .arg(match gap {
            Gap::Stream => "stream".to_string(),
            Gap::Millis(ms) => ms.to_string(),
        })
        .args(&desk.customers)
        .stdout(Stdio::piped())
        .spawn()?;
    let stdout = child.stdout.take().context("sender stdout")?;
    let accepted: Vec<(String, u128)> = tokio::task::spawn_blocking(move || {
        BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .filter_map(|l| {
                let (id, at) = l.split_once(' ')?;
                Some((id.to_string(), at.parse().ok()?))
            })
            .collect()
    })
    .await?;
    if !child.wait()?.success() {
        bail!("the sender failed");
    }
    Ok(accepted)
}

// ---- backlog -------------------------------------------------------------------------

async fn backlog(args: &Args, stack: &Stack) -> Result<String> {
    let desk = Desk::new("blg", args.contracts, stack, &args.binary)?;
    // The backlog, APPENDed on 4 connections while the daemon is stopped.
    let started = Instant::now();
    let per = args.backlog.div_ceil(4);
    let mut tasks = Vec::new();
    let stack = Arc::new(Stack {
        ca: stack.ca.clone(),
        ..*stack
    });
    for part in 0..4 {
        let (stack, support, customers) = (
            Arc::clone(&stack),
            desk.support.clone(),
            desk.customers.clone(),
        );
        let range = (part * per)..((part + 1) * per).min(args.backlog);
        tasks.push(tokio::spawn(async move {
            let mut s = stack.login(&support).await?;
            for i in range {
                let from = &customers[i % customers.len()];
                let raw = request(from, &support, &format!("blg-{i}@example.it"));
                s.append("INBOX", None, None, raw.as_bytes()).await?;
            }
            let _ = s.logout().await;
            anyhow::Ok(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    let appended = started.elapsed();

    // Floor 1: fetch every message once, as the daemon must.
    let started = Instant::now();
    let mut s = stack.login(&desk.support).await?;
    s.select("INBOX").await?;
    let mut fetched = 0usize;
    let mut bytes = 0usize;
    {
        let mut stream = s.uid_fetch("1:*", "(UID BODY.PEEK[])").await?;
        while let Some(f) = stream.try_next().await? {
            fetched += 1;
            bytes += f.body().map_or(0, <[u8]>::len);
        }
    }
    let _ = s.logout().await;
    let fetch_floor = started.elapsed();
    if fetched != args.backlog {
        bail!("fetched {fetched} of {} messages", args.backlog);
    }

    // Floor 2: Postfix accepting as many acknowledgement-sized mails on one connection.
    let sink = desk.customers[0].clone();
    let ack_size = 2400;
    let started = Instant::now();
    let out = Command::new("smtp-source")
        .args(["-d", "-s", "1", "-l", &ack_size.to_string()])
        .args(["-m", &args.backlog.to_string()])
        .args(["-f", &desk.support, "-t", &sink])
        .arg(format!("127.0.0.1:{}", stack.smtp))
        .output()
        .context("running Postfix's smtp-source")?;
    if !out.status.success() {
        bail!("smtp-source: {}", String::from_utf8_lossy(&out.stderr));
    }
    let smtp_floor = started.elapsed();
    // Let Postfix deliver those before the daemon competes with it.
    wait_count(&stack, &sink, args.backlog, Duration::from_secs(300)).await?;
    let floor = fetch_floor + smtp_floor;

    // The daemon drains the backlog.
    let db = desk.dir.join("desk.db");
    let started = Instant::now();
    let started_at = micros_now();
    let daemon = desk.start(&args.binary)?;
    let pid = daemon.id();
    let conn =
        rusqlite::Connection::open_with_flags(&db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    conn.busy_timeout(Duration::from_secs(5))?;
    let mut rss_at_1k = None;
    let (mut tickets, mut pending);
    loop {
        tickets = count(&conn, "SELECT COUNT(*) FROM tickets")?;
        pending = count(
            &conn,
            "SELECT COUNT(*) FROM outbox WHERE sent_at IS NULL AND failed_at IS NULL",
        )?;
        if rss_at_1k.is_none() && tickets >= 1000.min(args.backlog) {
            rss_at_1k = Some(proc_kib(pid, "VmHWM:")?);
        }
        if tickets >= args.backlog && pending == 0 {
            break;
        }
        if started.elapsed() > Duration::from_secs(600) {
            bail!("backlog not drained in 10 minutes: {tickets} tickets, {pending} unsent");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let drained = started.elapsed();
    let peak = proc_kib(pid, "VmHWM:")?;
    let cpu = cpu_secs(pid)?;
    let sent = count(
        &conn,
        "SELECT COUNT(*) FROM outbox WHERE sent_at IS NOT NULL",
    )?;
    let failed = count(
        &conn,
        "SELECT COUNT(*) FROM outbox WHERE failed_at IS NOT NULL",
    )?;
    let timeline = timeline(&conn, started_at)?;
    stop(daemon)?;
    if std::env::var_os("BENCH_KEEP").is_none() {
        let _ = std::fs::remove_dir_all(&desk.dir);
    } else {
        eprintln!("bench: backlog desk kept in {}", desk.dir.display());
    }
    let n = args.backlog as f64;
    Ok(format!(
        "append    {} requests from {} contracts APPENDed on 4 connections in {:.1} s (setup, not scored)\n\
         backlog   drained in {:.1} s ({:.0} requests/s): {tickets} tickets, {sent} acks accepted by Postfix, {failed} failed\n\
         floor     IMAP fetch {:.2} s ({:.1} MB) + SMTP accept {:.1} s (smtp-source, {} × {} B) = {:.1} s; ratio {:.2} (target ≤ 2)\n\
         memory    daemon peak RSS {:.1} MiB by 1,000 tickets, {:.1} MiB by {} (target ≤ 30 MiB, flat)\n\
         cpu       daemon user+sys {:.1} s in all, {:.2} s per 1,000 requests\n\
         {timeline}",
        args.backlog,
        args.contracts,
        appended.as_secs_f64(),
        drained.as_secs_f64(),
        n / drained.as_secs_f64(),
        fetch_floor.as_secs_f64(),
        bytes as f64 / 1e6,
        smtp_floor.as_secs_f64(),
        args.backlog,
        ack_size,
        floor.as_secs_f64(),
        drained.as_secs_f64() / floor.as_secs_f64(),
        rss_at_1k.unwrap_or(0) as f64 / 1024.0,
        peak as f64 / 1024.0,
        args.backlog,
        cpu,
        cpu / n * 1000.0,
    ))
}

/// When, counted from the daemon's start, intake recorded its first and last request and
/// Postfix accepted the last acknowledgement: which of the two halves ended the drain.
fn timeline(conn: &rusqlite::Connection, started_at: u128) -> Result<String> {
    let (first, last, last_ack): (String, String, String) = conn.query_row(
        "SELECT (SELECT MIN(processed_at) FROM inbound), (SELECT MAX(processed_at) FROM inbound), \
                (SELECT MAX(sent_at) FROM outbox)",
        [],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )?;
    let after = |t: &str| -> Result<f64> {
        let at = chrono::DateTime::parse_from_rfc3339(t)?.timestamp_micros() as f64;
        Ok((at - started_at as f64) / 1e6)
    };
    Ok(format!(
        "timeline  from the daemon's start: first request recorded at {:.1} s, last at {:.1} s, \
         last ack accepted at {:.1} s",
        after(&first)?,
        after(&last)?,
        after(&last_ack)?,
    ))
}

fn count(conn: &rusqlite::Connection, sql: &str) -> Result<usize> {
    let n: i64 = conn.query_row(sql, [], |r| r.get(0))?;
    Ok(n as usize)
}

async fn wait_count(stack: &Stack, user: &str, n: usize, within: Duration) -> Result<()> {
    let start = Instant::now();
    let mut s = stack.login(user).await?;
    loop {
        let mb = s.status("INBOX", "(MESSAGES)").await?;
        if mb.exists as usize >= n {
            let _ = s.logout().await;
            return Ok(());
        }
        if start.elapsed() > within {
            bail!("{user}: {} of {n} messages after {within:?}", mb.exists);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A `VmRSS:`/`VmHWM:` line of /proc/PID/status, in KiB.
fn proc_kib(pid: u32, key: &str) -> Result<u64> {
    std::fs::read_to_string(format!("/proc/{pid}/status"))?
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or_else(|| anyhow!("{key} missing from /proc/{pid}/status"))
}

/// utime + stime of the process, in seconds.
fn cpu_secs(pid: u32) -> Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Fields after the command name, which is in parentheses and may hold spaces.
    let rest = stat
        .rsplit_once(')')
        .map(|(_, r)| r)
        .ok_or_else(|| anyhow!("odd /proc/{pid}/stat"))?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = fields[11].parse::<f64>()? + fields[12].parse::<f64>()?;
    let hz: f64 = Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(100.0);
    Ok(ticks / hz)
}
