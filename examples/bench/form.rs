//! The portal's form in the benchmark: the same daemon binary serving `[web]`, driven by
//! blocking HTTP clients the way browsers and bots drive it, against the same mail stack.
//!
//! - Form latency: one submission at a time, each from its own customer: GET the form (a
//!   fresh cookie and token), POST it, then the time from the 303 to the ack being in that
//!   customer's mailbox, polled over IMAP every 10 ms (NOOP + FETCH) on a session opened
//!   before the GET. This desk has `min_fill_secs = 0`, so no submission waits 3 s.
//! - Form rate: M submissions (GET + POST each) from 8 client threads for customers taken
//!   round-robin, each from its own client address (`X-Forwarded-For`, 198.18.0.0/15);
//!   the rate they are taken at (303), then when Postfix has accepted every ack and when
//!   every ack is in its customer's mailbox. Exactly M tickets, or the bench fails.
//! - Junk flood: N junk POSTs from 16 client threads on another desk with the default
//!   limits and `min_fill_secs = 3`, while emailed requests arrive one every 100–300 ms;
//!   the status codes, the daemon's memory and CPU, the emailed requests' ack latency
//!   beside the same measurement without the flood, and what the junk left in the
//!   database: a ticket or a mail caused by junk fails the bench.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Barrier;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use futures::TryStreamExt;
use reqwest::blocking::{Body, Client};
use tokio::runtime::Runtime;

use super::{
    count, cpu_secs, email_samples, micros_now, proc_kib, stop, wait_count, Args, Desk, Gap,
    Samples, Stack,
};

/// Client threads sending valid submissions at once.
const CLIENTS: usize = 8;
/// Client threads of the junk flood.
const FLOOD_CLIENTS: usize = 16;
/// Customers (with contracts) sending emailed requests to the flooded desk.
const EMAILERS: usize = 10;
/// The flooded desk's `max_upload_bytes`: the oversized bodies are a little over it.
const UPLOAD_LIMIT: usize = 256 * 1024;
const REFERENCE: &str = "https://www.rossi-impianti.it";
const REQUEST: &str = "Il modulo contatti non invia più i messaggi, potete controllare?";

type Imap = async_imap::Session<tokio_rustls::client::TlsStream<tokio::net::TcpStream>>;

pub(super) fn run(args: &Args, stack: &Stack, rt: &Runtime) -> Result<String> {
    eprintln!(
        "bench: form phase ({} one at a time, {} from {CLIENTS} clients)",
        args.latency, args.form
    );
    if args.latency == 0 && args.form == 0 {
        eprintln!("bench: no form phase (--latency 0 --form 0)");
        return Ok("form      not run (--latency 0 --form 0)".to_string());
    }
    let valid = valid_forms(args, stack, rt)?;
    if args.flood == 0 {
        eprintln!("bench: no junk flood (--flood 0)");
        return Ok(valid);
    }
    eprintln!(
        "bench: junk flood phase ({} junk requests, {} emailed requests beside them)",
        args.flood, args.emails
    );
    let flood = flood(args, stack, rt)?;
    Ok(format!("{valid}\n{flood}"))
}

// ---- the portal's desk and its HTTP clients ---------------------------------------------

/// A `[web]` section on a free loopback port, the form's address and the port.
fn web_section(settings: &str) -> Result<(String, String, u16)> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let base = format!("http://127.0.0.1:{port}/");
    let section = format!(
        "\n[web]\nlisten = \"127.0.0.1:{port}\"\npublic_url = \"{base}\"\n\
         privacy_url = \"https://www.kzweb.it/privacy/\"\n{settings}"
    );
    Ok((section, base, port))
}

/// A client as a browser (`cookies`) or as the simplest bot (none); redirects are not
/// followed, so the 303 itself is what is seen.
fn client(cookies: bool) -> Result<Client> {
    Ok(Client::builder()
        .cookie_store(cookies)
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .tcp_nodelay(true)
        .timeout(Duration::from_secs(60))
        .build()?)
}

/// The `n`-th client address of 198.18.0.0/15, the range set aside for benchmarks.
fn client_ip(n: usize) -> String {
    let n = (n & 0x1_ffff) as u32;
    format!("198.{}.{}.{}", 18 + (n >> 16), (n >> 8) & 0xff, n & 0xff)
}

/// GETs the form as a browser would (the client's jar keeps the cookie); its token.
fn fresh_form(http: &Client, base: &str, ip: &str) -> Result<String> {
    let response = http.get(base).header("X-Forwarded-For", ip).send()?;
    if response.status() != reqwest::StatusCode::OK {
        bail!("GET the form: {}", response.status());
    }
    let page = response.text()?;
    page.split_once(r#"name="token" value=""#)
        .and_then(|(_, rest)| rest.split_once('"'))
        .map(|(token, _)| token.to_string())
        .context("the form has no token")
}

const BOUNDARY: &str = "----bench-boundary";

/// One text part of a multipart body.
fn part(name: &str, value: &str) -> String {
    format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n")
}

/// The form filled in for `email`, with `token` when there is one and `honeypot` in the
/// field people never see, as a browser sends it: one multipart body.
fn filled(token: Option<&str>, email: &str, honeypot: &str) -> Vec<u8> {
    let mut body = token.map(|t| part("token", t)).unwrap_or_default();
    for (name, value) in [
        ("email", email),
        ("nome", "Mario Rossi"),
        ("riferimento", REFERENCE),
        ("richiesta", REQUEST),
        ("privacy", "si"),
        ("website", honeypot),
    ] {
        body.push_str(&part(name, value));
    }
    body.push_str(&format!("--{BOUNDARY}--\r\n"));
    body.into_bytes()
}

/// POSTs a multipart `body` of known length, written at once as a browser writes a form
/// (reqwest's blocking client gives up on the answer when the server answers before
/// it has taken all of a streamed body, so the refusals of big bodies go by `raw_post`);
/// the status, the answer read so the connection can serve the next request.
fn post(http: &Client, base: &str, ip: &str, body: Vec<u8>) -> Result<u16> {
    let response = http
        .post(base)
        .header("X-Forwarded-For", ip)
        .header(
            "Content-Type",
            format!("multipart/form-data; boundary={BOUNDARY}"),
        )
        .body(Body::from(body))
        .send()?;
    let status = response.status().as_u16();
    let _ = response.bytes();
    Ok(status)
}

fn tally(statuses: impl IntoIterator<Item = Option<u16>>) -> String {
    let mut by: BTreeMap<Option<u16>, usize> = BTreeMap::new();
    for s in statuses {
        *by.entry(s).or_default() += 1;
    }
    by.iter()
        .map(|(s, n)| match s {
            Some(s) => format!("{s} ×{n}"),
            None => format!("no answer ×{n}"),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

// ---- valid submissions --------------------------------------------------------------------

/// The latency and rate parts, on one desk with limits a flood of customers fits in.
fn valid_forms(args: &Args, stack: &Stack, rt: &Runtime) -> Result<String> {
    let (section, base, _) = web_section(
        "# Many customers, one at a time then many at once: no wait, no per-client or\n\
         # per-address limit in the way.\nmin_fill_secs = 0\nper_ip_limit = 100000\n\
         per_address_limit = 100000\n",
    )?;
    let contracts = args.contracts.clamp(1, args.form.max(1));
    let desk = Desk::with_config(
        "frm",
        args.latency + contracts,
        stack,
        &args.binary,
        &section,
    )?;
    let daemon = desk.start(&args.binary)?;
    let (one_each, shared) = desk.customers.split_at(args.latency);
    let latency = form_latency(stack, rt, &base, one_each)?;
    let rate = if args.form > 0 {
        format!("\n{}", form_rate(stack, rt, &base, &desk, shared, args)?)
    } else {
        String::new()
    };
    stop(daemon)?;
    let _ = std::fs::remove_dir_all(&desk.dir);
    Ok(format!(
        "form      {} submissions, one at a time, each from its own customer: GET the form, \
         POST it (min_fill_secs = 0 on this desk, not the default 3), 303 → ack in the \
         customer's mailbox: {} (target: p50 ≤ 1 s){rate}",
        latency.lat.len(),
        latency.quantiles(),
    ))
}

/// One submission at a time; a lost ack fails the bench.
fn form_latency(stack: &Stack, rt: &Runtime, base: &str, customers: &[String]) -> Result<Samples> {
    let mut lat = Vec::with_capacity(customers.len());
    for (i, customer) in customers.iter().enumerate() {
        let mut inbox = rt.block_on(open_inbox(stack, customer))?;
        let http = client(true)?;
        let ip = client_ip(i);
        let token = fresh_form(&http, base, &ip)?;
        let status = post(&http, base, &ip, filled(Some(&token), customer, ""))?;
        let answered = Instant::now();
        if status != 303 {
            bail!("a valid form for {customer} got {status}, not 303");
        }
        let Some(seen) = rt.block_on(first_ack(&mut inbox, Duration::from_secs(30)))? else {
            bail!("the ack of {customer}'s form is not in the mailbox after 30 s: lost");
        };
        lat.push(seen.duration_since(answered).as_secs_f64());
        let _ = rt.block_on(inbox.logout());
    }
    Ok(Samples::from_latencies(lat, 0))
}

async fn open_inbox(stack: &Stack, user: &str) -> Result<Imap> {
    let mut s = stack.login(user).await?;
    s.select("INBOX").await?;
    Ok(s)
}

/// When a ticket's mail first shows in the selected mailbox; None after `within`.
async fn first_ack(s: &mut Imap, within: Duration) -> Result<Option<Instant>> {
    let start = Instant::now();
    while start.elapsed() < within {
        s.noop().await?;
        let fetches: Vec<async_imap::types::Fetch> = s
            .uid_fetch("1:*", "(UID BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
            .await?
            .try_collect()
            .await?;
        let at = Instant::now();
        let ack = fetches
            .iter()
            .any(|f| String::from_utf8_lossy(f.header().unwrap_or_default()).contains("[KZ-"));
        if ack {
            return Ok(Some(at));
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    Ok(None)
}

/// `args.form` submissions from `CLIENTS` threads, then their tickets and acks.
fn form_rate(
    stack: &Stack,
    rt: &Runtime,
    base: &str,
    desk: &Desk,
    customers: &[String],
    args: &Args,
) -> Result<String> {
    let m = args.form;
    let db = desk.open_db()?;
    let tickets_before = count(&db, "SELECT COUNT(*) FROM tickets")?;
    let sent_sql = "SELECT COUNT(*) FROM outbox WHERE sent_at IS NOT NULL";
    let sent_before = count(&db, sent_sql)?;
    let started = Instant::now();
    let statuses = parallel_forms(base, customers, m, args.latency)?;
    let answered = started.elapsed();
    let taken = statuses.iter().filter(|s| **s == 303).count();
    if taken != m {
        let all = tally(statuses.iter().map(|s| Some(*s)));
        bail!("{} of {m} valid forms were not taken: {all}", m - taken);
    }
    let tickets = count(&db, "SELECT COUNT(*) FROM tickets")? - tickets_before;
    if tickets != m {
        bail!("{m} valid forms opened {tickets} tickets");
    }
    let accepted = wait_sent(&db, sent_before + m, started)?;
    rt.block_on(all_delivered(stack, customers, m))?;
    let delivered = started.elapsed();
    Ok(format!(
        "form rate {m} submissions (GET + POST each) from {CLIENTS} client threads on the same \
         cores, {} customers round-robin: all taken (303) in {:.1} s, {:.0} submissions/s; \
         {tickets} tickets; every ack accepted by Postfix after {:.1} s ({:.0} acks/s); \
         checked then, 8 IMAP logins at a time: all in the customers' mailboxes by {:.1} s",
        customers.len(),
        answered.as_secs_f64(),
        m as f64 / answered.as_secs_f64(),
        accepted.as_secs_f64(),
        m as f64 / accepted.as_secs_f64(),
        delivered.as_secs_f64(),
    ))
}

/// Submission `j` is for customer `j % customers.len()`, from client address
/// `first_ip + j`; the statuses, in no particular order.
fn parallel_forms(base: &str, customers: &[String], m: usize, first_ip: usize) -> Result<Vec<u16>> {
    std::thread::scope(|s| {
        let workers: Vec<_> = (0..CLIENTS)
            .map(|t| {
                s.spawn(move || -> Result<Vec<u16>> {
                    let http = client(true)?;
                    let mut statuses = vec![];
                    for j in (t..m).step_by(CLIENTS) {
                        let ip = client_ip(first_ip + j);
                        let token = fresh_form(&http, base, &ip)?;
                        let customer = &customers[j % customers.len()];
                        statuses.push(post(&http, base, &ip, filled(Some(&token), customer, ""))?);
                    }
                    Ok(statuses)
                })
            })
            .collect();
        let mut all = Vec::with_capacity(m);
        for w in workers {
            all.extend(
                w.join()
                    .map_err(|_| anyhow!("a client thread panicked"))??,
            );
        }
        Ok(all)
    })
}

/// Waits until `n` mails were accepted by Postfix; how long after `started`.
fn wait_sent(db: &rusqlite::Connection, n: usize, started: Instant) -> Result<Duration> {
    loop {
        let sent = count(db, "SELECT COUNT(*) FROM outbox WHERE sent_at IS NOT NULL")?;
        if sent >= n {
            return Ok(started.elapsed());
        }
        let failed = count(
            db,
            "SELECT COUNT(*) FROM outbox WHERE failed_at IS NOT NULL",
        )?;
        if failed > 0 || started.elapsed() > Duration::from_secs(300) {
            bail!(
                "{sent} of {n} acks sent, {failed} failed, after {:?}",
                started.elapsed()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Every customer's mailbox holds its share of the `m` acks (8 logins at a time).
async fn all_delivered(stack: &Stack, customers: &[String], m: usize) -> Result<()> {
    let c = customers.len();
    futures::stream::iter(customers.iter().enumerate().map(Ok::<_, anyhow::Error>))
        .try_for_each_concurrent(8, |(i, user)| async move {
            let share = m / c + usize::from(i < m % c);
            wait_count(stack, user, share, Duration::from_secs(120)).await
        })
        .await
}

// ---- the junk flood ---------------------------------------------------------------------

/// What a junk request is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Junk {
    /// No token and no cookie.
    NoToken,
    /// The hidden field filled, for an address on a contract.
    Honeypot,
    /// A real token, sent back at once, for an address on a contract.
    TooFast,
    /// A real token old enough, for an address on no contract: passes the bot checks.
    Unknown,
    /// Not multipart, or multipart cut short.
    Malformed,
    /// Over `max_upload_bytes`, declared or chunked.
    Oversized,
}

impl Junk {
    fn of(k: usize) -> Junk {
        match k % 10 {
            0 | 1 => Junk::NoToken,
            2 | 3 => Junk::Honeypot,
            4 | 5 => Junk::TooFast,
            6 | 7 => Junk::Unknown,
            8 => Junk::Malformed,
            _ => Junk::Oversized,
        }
    }

    fn label(self) -> &'static str {
        match self {
            Junk::NoToken => "no token",
            Junk::Honeypot => "honeypot",
            Junk::TooFast => "too fast",
            Junk::Unknown => "unknown address",
            Junk::Malformed => "malformed",
            Junk::Oversized => "oversized",
        }
    }
}

/// Who sends junk request `k`, for whom.
struct Plan<'d> {
    n: usize,
    desk: &'d Desk,
    /// A seventh of the requests come from these few addresses, enough to be limited.
    hot_ips: usize,
    tag: String,
    /// The form's port, for requests written by hand.
    port: u16,
}

impl Plan<'_> {
    fn ip(&self, k: usize) -> String {
        if k % 7 == 0 {
            format!("198.19.255.{}", k % self.hot_ips)
        } else {
            client_ip(k)
        }
    }

    fn customer(&self, k: usize) -> &str {
        &self.desk.customers[k % self.desk.customers.len()]
    }

    /// Addresses on no contract; one in forty of them on three addresses only.
    fn unknown(&self, k: usize) -> String {
        let n = if k % 40 == 6 { k % 3 } else { k };
        format!("ignoto{n}-{}@example.org", self.tag)
    }
}

/// What one client thread got: the kind and status (None: no answer) of each of its
/// share of the first `n` requests and when it had them answered (µs since the epoch);
/// then the statuses of the requests it went on sending until the emailed requests were
/// all acknowledged.
struct Answers {
    first: Vec<(Junk, Option<u16>)>,
    finished: u128,
    more: Vec<Option<u16>>,
}

/// Junk requests `t`, `t + FLOOD_CLIENTS`, …: tokens for the unknown addresses first
/// (then `ready`), the requests after `go`; past `plan.n`, on until `emails_done` (the
/// unknown addresses' tokens replayed). Each of the first `n` requests counts in `done`.
fn flood_client(
    plan: &Plan,
    t: usize,
    base: &str,
    gates: (&Barrier, &Barrier),
    (done, emails_done): (&AtomicUsize, &AtomicBool),
) -> Result<Answers> {
    let share = (t..plan.n).step_by(FLOOD_CLIENTS).len();
    let clients = client(true).and_then(|jar| Ok((jar, client(false)?)));
    let tokens = clients
        .as_ref()
        .map_err(|e| anyhow!("{e}"))
        .and_then(|(jar, _)| {
            let unknown = (t..plan.n).step_by(FLOOD_CLIENTS);
            unknown
                .filter(|k| Junk::of(*k) == Junk::Unknown)
                .map(|k| Ok((k, fresh_form(jar, base, &plan.ip(k))?)))
                .collect::<Result<HashMap<usize, String>>>()
        });
    gates.0.wait();
    gates.1.wait();
    let (Ok((jar, bare)), Ok(mut tokens)) = (clients, tokens) else {
        done.fetch_add(share, Ordering::Relaxed);
        bail!("a flood client could not get its forms");
    };
    let mut answers = Answers {
        first: Vec::with_capacity(share),
        finished: 0,
        more: vec![],
    };
    let mut used: Vec<String> = vec![];
    // Ten times the flood at most, should the emailed requests never be acknowledged.
    for k in (t..plan.n * 10).step_by(FLOOD_CLIENTS) {
        if k >= plan.n && answers.finished == 0 {
            answers.finished = micros_now();
        }
        if k >= plan.n && emails_done.load(Ordering::Relaxed) {
            break;
        }
        let token = match tokens.remove(&k) {
            Some(token) => Some(token),
            None if Junk::of(k) == Junk::Unknown && !used.is_empty() => {
                Some(used[k % used.len()].clone())
            }
            None => None,
        };
        let status = junk(plan, k, (&jar, &bare), base, token.as_deref()).ok();
        if k >= plan.n {
            answers.more.push(status);
            continue;
        }
        used.extend(token);
        answers.first.push((Junk::of(k), status));
        done.fetch_add(1, Ordering::Relaxed);
    }
    if answers.finished == 0 {
        answers.finished = micros_now();
    }
    Ok(answers)
}

/// Sends junk request `k`: `jar` keeps its cookie (its tokens are bound to it), `bare`
/// has none.
fn junk(
    plan: &Plan,
    k: usize,
    (jar, bare): (&Client, &Client),
    base: &str,
    token: Option<&str>,
) -> Result<u16> {
    let ip = plan.ip(k);
    let customer = plan.customer(k);
    match Junk::of(k) {
        Junk::NoToken => post(bare, base, &ip, filled(None, customer, "")),
        Junk::Honeypot => {
            let form = filled(None, customer, "https://promo.example.net/");
            post(bare, base, &ip, form)
        }
        Junk::TooFast => {
            let token = fresh_form(jar, base, &ip)?;
            post(jar, base, &ip, filled(Some(&token), customer, ""))
        }
        Junk::Unknown => post(jar, base, &ip, filled(token, &plan.unknown(k), "")),
        Junk::Malformed | Junk::Oversized => raw_post(plan.port, &ip, k, customer),
    }
}

/// A body no browser sends for this form, on a connection of its own: urlencoded,
/// multipart cut short, or a file over the limit with its length declared or sent
/// chunked. The whole body is written (what the server does not read may fail to
/// go), then the answer read: its status.
fn raw_post(port: u16, ip: &str, k: usize, customer: &str) -> Result<u16> {
    use std::io::{Read, Write};
    let multipart = format!("multipart/form-data; boundary={BOUNDARY}");
    let (kind, body, chunked) = match k % 20 {
        8 => (
            "application/x-www-form-urlencoded".to_string(),
            format!("email={customer}&nome=Mario&privacy=si").into_bytes(),
            false,
        ),
        18 => {
            let cut = format!("--{BOUNDARY}\r\nContent-Disposition: form-da");
            (
                multipart,
                (part("email", customer) + &cut).into_bytes(),
                false,
            )
        }
        n => (multipart, oversized(customer), n == 19),
    };
    let framing = if chunked {
        "Transfer-Encoding: chunked".to_string()
    } else {
        format!("Content-Length: {}", body.len())
    };
    let mut tcp = std::net::TcpStream::connect(("127.0.0.1", port))?;
    tcp.set_read_timeout(Some(Duration::from_secs(60)))?;
    tcp.set_write_timeout(Some(Duration::from_secs(60)))?;
    let head = format!(
        "POST / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nX-Forwarded-For: {ip}\r\n\
         Content-Type: {kind}\r\n{framing}\r\nConnection: close\r\n\r\n"
    );
    tcp.write_all(head.as_bytes())?;
    let _ = if chunked {
        let size = format!("{:x}\r\n", body.len());
        tcp.write_all(size.as_bytes())
            .and_then(|()| tcp.write_all(&body))
            .and_then(|()| tcp.write_all(b"\r\n0\r\n\r\n"))
    } else {
        tcp.write_all(&body)
    };
    let mut answer = [0u8; 12];
    tcp.read_exact(&mut answer)?;
    let text = String::from_utf8_lossy(&answer);
    text.strip_prefix("HTTP/1.1 ")
        .and_then(|r| r.trim().parse().ok())
        .with_context(|| format!("not an HTTP answer: {text:?}"))
}

/// The form with a file 64 KiB over the desk's limit.
fn oversized(customer: &str) -> Vec<u8> {
    let mut body = part("email", customer).into_bytes();
    body.extend_from_slice(
        format!(
            "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"allegati\"; \
             filename=\"grande.bin\"\r\nContent-Type: application/octet-stream\r\n\r\n"
        )
        .as_bytes(),
    );
    body.resize(body.len() + UPLOAD_LIMIT + 64 * 1024, b'x');
    body.extend_from_slice(format!("\r\n--{BOUNDARY}--\r\n").as_bytes());
    body
}

/// The flooded desk: default limits and `min_fill_secs`, a small upload limit.
fn flood(args: &Args, stack: &Stack, rt: &Runtime) -> Result<String> {
    let (section, base, port) = web_section(&format!(
        "# The defaults a production desk has (10 per client in 10 minutes, 5 per\n\
         # address in an hour, 3 s to fill the form); uploads up to {UPLOAD_LIMIT} bytes.\n\
         min_fill_secs = 3\nmax_upload_bytes = {UPLOAD_LIMIT}\n"
    ))?;
    let desk = Desk::with_config("fld", EMAILERS, stack, &args.binary, &section)?;
    let daemon = desk.start(&args.binary)?;
    let pid = daemon.id();
    let calm = rt.block_on(email_samples(stack, &desk, args.emails, Gap::Stream))?;
    let plan = Plan {
        n: args.flood,
        desk: &desk,
        hot_ips: (args.flood / 1000).clamp(1, 250),
        tag: desk
            .dir
            .file_name()
            .map_or("x".into(), |n| n.to_string_lossy().into()),
        port,
    };
    let run = flood_with_emails(&plan, stack, rt, &base, args.emails, pid)?;
    let healthy = client(false)?
        .get(format!("{base}healthz"))
        .send()?
        .status();
    if healthy != reqwest::StatusCode::OK {
        bail!("the portal's health check answers {healthy} after the flood");
    }
    for (samples, when) in [(&calm, "before"), (&run.emails, "during")] {
        if samples.missing > 0 {
            bail!(
                "{} emailed requests' acks lost {when} the flood",
                samples.missing
            );
        }
    }
    let left = Leftovers::read(&desk, calm.accepted.len() + run.emails.accepted.len())?;
    let db = desk.open_db()?;
    let legs = [run.emails.legs(&db)?, calm.legs(&db)?];
    stop(daemon)?;
    let _ = std::fs::remove_dir_all(&desk.dir);
    Ok(run.report(&calm, &left, &legs))
}

/// What the flood measured.
struct FloodRun {
    /// The first `n` junk requests: their kinds and statuses.
    answers: Vec<(Junk, Option<u16>)>,
    /// Form GETs of the too-fast requests (inside the flood's time).
    gets: usize,
    /// When the flood started, when its first `n` requests were answered and when the
    /// last request was (µs since the epoch).
    window: (u128, u128, u128),
    /// The requests sent after the first `n`, until the emailed ones were acknowledged.
    more: Vec<Option<u16>>,
    emails: Samples,
    memory: Memory,
}

/// The daemon's memory (KiB) and CPU (s) over the flood.
#[derive(Default)]
struct Memory {
    hwm_before: u64,
    /// When 1,000 junk requests were answered.
    hwm_at_1k: u64,
    /// When the first `n` were, the RSS then, and the CPU they cost the daemon and the
    /// bench's own clients.
    hwm_at_n: u64,
    rss_at_n: u64,
    cpu_at_n: f64,
    clients_cpu_at_n: f64,
    /// At the end of the flood, its requests after the first `n` included.
    hwm_end: u64,
}

/// The flood from `FLOOD_CLIENTS` threads, emailed requests measured meanwhile; the
/// flood goes on past its `n` requests until they are all acknowledged.
fn flood_with_emails(
    plan: &Plan,
    stack: &Stack,
    rt: &Runtime,
    base: &str,
    emails: usize,
    pid: u32,
) -> Result<FloodRun> {
    let (ready, go) = (
        Barrier::new(FLOOD_CLIENTS + 1),
        Barrier::new(FLOOD_CLIENTS + 1),
    );
    let (done, emails_done) = (AtomicUsize::new(0), AtomicBool::new(false));
    std::thread::scope(|s| {
        let workers: Vec<_> = (0..FLOOD_CLIENTS)
            .map(|t| {
                let (gates, counters) = ((&ready, &go), (&done, &emails_done));
                s.spawn(move || flood_client(plan, t, base, gates, counters))
            })
            .collect();
        ready.wait();
        // The unknown addresses' tokens come of age (min_fill_secs = 3, whole seconds).
        std::thread::sleep(Duration::from_millis(3100));
        let cpu_before = cpu_secs(pid)?;
        let clients_cpu_before = cpu_secs(std::process::id())?;
        let hwm_before = proc_kib(pid, "VmHWM:")?;
        let sampler = s.spawn(|| watch_memory(pid, &done, plan.n));
        let started = micros_now();
        go.wait();
        let samples = rt.block_on(email_samples(stack, plan.desk, emails, Gap::Stream));
        emails_done.store(true, Ordering::Relaxed);
        let (mut answers, mut more, mut first_done) = (Vec::with_capacity(plan.n), vec![], 0);
        for w in workers {
            let a = w.join().map_err(|_| anyhow!("a flood client panicked"))??;
            answers.extend(a.first);
            more.extend(a.more);
            first_done = first_done.max(a.finished);
        }
        let ended = micros_now();
        let mut memory = sampler
            .join()
            .map_err(|_| anyhow!("the sampler panicked"))??;
        memory.hwm_before = hwm_before;
        memory.cpu_at_n -= cpu_before;
        memory.clients_cpu_at_n -= clients_cpu_before;
        memory.hwm_end = proc_kib(pid, "VmHWM:")?;
        let gets = answers.iter().filter(|(j, _)| *j == Junk::TooFast).count();
        Ok(FloodRun {
            answers,
            gets,
            window: (started, first_done, ended),
            more,
            emails: samples?,
            memory,
        })
    })
}

/// The daemon's peak RSS when 1,000 junk requests were answered and when all `n` were,
/// its RSS and CPU then.
fn watch_memory(pid: u32, done: &AtomicUsize, n: usize) -> Result<Memory> {
    let mut at_1k = None;
    loop {
        let d = done.load(Ordering::Relaxed);
        if at_1k.is_none() && d >= 1000.min(n) {
            at_1k = Some(proc_kib(pid, "VmHWM:")?);
        }
        if d >= n {
            let hwm_at_n = proc_kib(pid, "VmHWM:")?;
            return Ok(Memory {
                hwm_at_1k: at_1k.unwrap_or(hwm_at_n),
                hwm_at_n,
                rss_at_n: proc_kib(pid, "VmRSS:")?,
                cpu_at_n: cpu_secs(pid)?,
                clients_cpu_at_n: cpu_secs(std::process::id())?,
                ..Memory::default()
            });
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// What the junk left behind, read from the desk's database.
struct Leftovers {
    tickets: usize,
    /// Tickets opened by a form (all forms here are junk).
    junk_tickets: usize,
    /// Mails queued because of a form, and mails to an address of the junk.
    junk_mails: usize,
    junk_recipients: usize,
    /// Forms that passed the bot checks and reached the rules.
    recorded: usize,
}

impl Leftovers {
    /// Fails the bench when junk opened a ticket or queued a mail, or when the emailed
    /// requests did not open exactly `emailed` tickets.
    fn read(desk: &Desk, emailed: usize) -> Result<Leftovers> {
        let db = desk.open_db()?;
        let web = "SELECT id FROM inbound WHERE mailbox = 'web'";
        let left = Leftovers {
            tickets: count(&db, "SELECT COUNT(*) FROM tickets")?,
            junk_tickets: count(
                &db,
                "SELECT COUNT(*) FROM inbound WHERE mailbox = 'web' AND ticket_id IS NOT NULL",
            )?,
            junk_mails: count(
                &db,
                &format!("SELECT COUNT(*) FROM outbox WHERE inbound_id IN ({web})"),
            )?,
            junk_recipients: count(
                &db,
                "SELECT COUNT(*) FROM outbox_recipients WHERE address LIKE 'ignoto%'",
            )?,
            recorded: count(&db, "SELECT COUNT(*) FROM inbound WHERE mailbox = 'web'")?,
        };
        if left.junk_tickets > 0 || left.junk_mails > 0 || left.junk_recipients > 0 {
            bail!(
                "junk opened {} ticket(s) and queued {} mail(s), {} to junk addresses",
                left.junk_tickets,
                left.junk_mails,
                left.junk_recipients
            );
        }
        if left.tickets != emailed {
            bail!(
                "{emailed} emailed requests and junk: {} tickets",
                left.tickets
            );
        }
        Ok(left)
    }
}

impl FloodRun {
    /// `legs`: where the emailed requests' time went, with the flood and without.
    fn report(&self, calm: &Samples, left: &Leftovers, legs: &[[f64; 3]; 2]) -> String {
        let (started, first_done, ended) = self.window;
        let secs = (first_done - started) as f64 / 1e6;
        let more_secs = ended.saturating_sub(first_done) as f64 / 1e6;
        let n = self.answers.len();
        let m = &self.memory;
        let mib = |kib: u64| kib as f64 / 1024.0;
        let cores = std::thread::available_parallelism().map_or(1, |c| c.get());
        format!(
            "flood     {n} junk POSTs from {FLOOD_CLIENTS} client threads on the same cores \
             (default limits, min_fill_secs = 3, max_upload_bytes = {UPLOAD_LIMIT}; \
             +{} form GETs for the too-fast ones) in {secs:.1} s: {:.0} POSTs/s answered; {}\n\
             junk      {}\n\
             junk      tickets opened {}, mails queued {} ({} to junk addresses) (targets 0; \
             {} tickets in all, one per emailed request); {} unknown-address forms (of the \
             whole flood) reached the rules and were refused without a word\n\
             memory    daemon peak RSS {:.1} MiB before the flood, {:.1} MiB by 1,000 junk \
             requests, {:.1} MiB by {n} (RSS then {:.1} MiB), {:.1} MiB at the flood's end; \
             CPU {:.1} s for {n}, {:.2} s per 1,000 (the bench's clients {:.1} s, of the \
             {cores} × {secs:.1} s the cores had)\n\
             email     {} requests beside the flood, SMTP accept → ack: {}{}; without the \
             flood, same desk just before: {}{} (target ≤ 1 s)\n\
             email     where the time went (medians, with the flood / without): accept → \
             recorded by the daemon {:.2} / {:.2} s, → ack accepted by Postfix {:.2} / {:.2} s, \
             → ack in the mailbox {:.2} / {:.2} s; to cover them all the flood \
             went on {more_secs:.1} s past its {n} with {} more junk POSTs of the same mix, the \
             unknown addresses' tokens replayed ({})",
            self.gets,
            n as f64 / secs,
            tally(self.answers.iter().map(|(_, s)| *s)),
            self.by_kind(),
            left.junk_tickets,
            left.junk_mails,
            left.junk_recipients,
            left.tickets,
            left.recorded,
            mib(m.hwm_before),
            mib(m.hwm_at_1k),
            mib(m.hwm_at_n),
            mib(m.rss_at_n),
            mib(m.hwm_end),
            m.cpu_at_n,
            m.cpu_at_n / n as f64 * 1000.0,
            m.clients_cpu_at_n,
            self.emails.accepted.len(),
            self.emails.quantiles(),
            self.emails.missing_note(),
            calm.quantiles(),
            calm.missing_note(),
            legs[0][0],
            legs[1][0],
            legs[0][1],
            legs[1][1],
            legs[0][2],
            legs[1][2],
            self.more.len(),
            tally(self.more.iter().copied()),
        )
    }

    /// `kind N: status ×n, …; …`
    fn by_kind(&self) -> String {
        let mut kinds: BTreeMap<Junk, Vec<Option<u16>>> = BTreeMap::new();
        for (j, s) in &self.answers {
            kinds.entry(*j).or_default().push(*s);
        }
        kinds
            .iter()
            .map(|(j, s)| format!("{} {}: {}", j.label(), s.len(), tally(s.iter().copied())))
            .collect::<Vec<_>>()
            .join("; ")
    }
}
