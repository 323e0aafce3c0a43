//! Helpers for the portal's form on the real daemon: a desk with a `[web]` section on a
//! free loopback port, a browser-like client for the form (its cookie kept, redirects
//! shown, not followed), raw TCP for clients no browser would be, and what the store
//! holds, to tell "nothing recorded" from "recorded".

use std::collections::HashSet;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use reqwest::blocking::{multipart, Client};
use reqwest::header::HeaderMap;

use super::{contract_row, unique, Desk, ImapTls, Staff};

/// A loopback port nobody listens on now, never handed out twice in this test binary.
pub fn free_port() -> u16 {
    static GIVEN: OnceLock<Mutex<HashSet<u16>>> = OnceLock::new();
    let given = GIVEN.get_or_init(|| Mutex::new(HashSet::new()));
    loop {
        let port = TcpListener::bind("127.0.0.1:0")
            .expect("binding a free port")
            .local_addr()
            .expect("local address")
            .port();
        if given.lock().expect("ports").insert(port) {
            return port;
        }
    }
}

/// Customer addresses for `tags`, unique to this run (their mailboxes not made yet).
fn customer_addresses(tags: &[&str]) -> Vec<String> {
    tags.iter()
        .map(|t| format!("{}@example.it", unique(t)))
        .collect()
}

/// The keys `with_web` writes unless the test's own lines set them.
const DEFAULTS: [(&str, &str); 2] = [
    ("privacy_url", "\"https://www.kzweb.it/privacy/\""),
    ("min_fill_secs", "1"),
];

impl Desk {
    /// A desk whose daemon serves the form on a free loopback port: `extra` is more lines
    /// of `[web]` (`min_fill_secs = 1` and a privacy page unless `extra` sets them).
    pub fn with_web(tag: &str, extra: &str) -> Desk {
        Desk::with_web_and_customers(tag, extra, &[]).0
    }

    /// `with_web`, and a customer mailbox per tag (on no contract yet), made in one go.
    pub fn with_web_and_customers(tag: &str, extra: &str, tags: &[&str]) -> (Desk, Vec<String>) {
        let customers = customer_addresses(tags);
        let mut desk = Desk::with_users(tag, ImapTls::Implicit, "", &customers);
        desk.add_web(extra);
        (desk, customers)
    }

    /// A desk with operators and a first-level queue (see `with_staff`), the form, and a
    /// customer mailbox per tag.
    pub fn with_staff_and_web(tag: &str, extra: &str, tags: &[&str]) -> (Desk, Staff, Vec<String>) {
        let customers = customer_addresses(tags);
        let (mut desk, staff) = Desk::with_staff_and_users(tag, &customers);
        desk.add_web(extra);
        (desk, staff, customers)
    }

    /// A contract in force for `address` whose references include the demo site.
    pub fn contract_for(&self, address: &str) {
        self.contracts(&contract_row(
            &format!("Cliente {address}"),
            &[address],
            "www.rossi-impianti.it",
        ));
    }

    /// Appends `[web]` on a free port to this desk's config (see `with_web`).
    pub fn add_web(&mut self, extra: &str) {
        let port = free_port();
        let mut section = format!(
            "\n[web]\nlisten = \"127.0.0.1:{port}\"\npublic_url = \"http://127.0.0.1:{port}/\"\n"
        );
        for (key, value) in DEFAULTS {
            let set = extra
                .lines()
                .any(|l| l.trim_start().starts_with(key) && l.contains('='));
            if !set {
                section.push_str(&format!("{key} = {value}\n"));
            }
        }
        section.push_str(extra);
        section.push('\n');
        self.edit_config(|c| c + &section);
        self.web_port = Some(port);
    }

    /// The form's port.
    pub fn port(&self) -> u16 {
        self.web_port.expect("a desk made with_web")
    }

    /// The form's address, ending with `/`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/", self.port())
    }

    /// A browser with no cookie yet, at this desk's form.
    pub fn browser(&self) -> Form {
        Form::new(self.port())
    }

    /// How many rows of each kind the store holds: what was recorded of the submissions.
    pub fn recorded(&self) -> Recorded {
        let db = rusqlite::Connection::open_with_flags(
            self.dir.path().join("desk.db"),
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        )
        .expect("opening the desk's database");
        db.busy_timeout(Duration::from_secs(5))
            .expect("busy timeout");
        let count = |table: &str| -> usize {
            db.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| {
                r.get::<_, i64>(0)
            })
            .unwrap_or_else(|e| panic!("counting {table}: {e}")) as usize
        };
        Recorded {
            inbound: count("inbound"),
            pending: count("web_pending"),
            outbox: count("outbox"),
            tickets: count("tickets"),
        }
    }

    /// Every recorded message as the desk keeps it (a form submission as a MIME message).
    pub fn inbound_raws(&self) -> Vec<Vec<u8>> {
        let db = rusqlite::Connection::open_with_flags(
            self.dir.path().join("desk.db"),
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        )
        .expect("opening the desk's database");
        db.busy_timeout(Duration::from_secs(5))
            .expect("busy timeout");
        let mut rows = db
            .prepare("SELECT raw FROM inbound ORDER BY id")
            .expect("query");
        let raws = rows
            .query_map([], |r| r.get::<_, Vec<u8>>(0))
            .expect("rows")
            .collect::<Result<Vec<_>, _>>()
            .expect("raw");
        raws
    }

    /// The number of tickets `tickets list --json` shows.
    pub fn ticket_count(&self) -> usize {
        self.tickets_json().as_array().expect("a list").len()
    }
}

/// Rows in the store.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Recorded {
    /// Messages recorded (mail or form submissions).
    pub inbound: usize,
    /// Form submissions held for their link to be confirmed.
    pub pending: usize,
    /// Mail queued, sent or not.
    pub outbox: usize,
    pub tickets: usize,
}

impl Recorded {
    pub const NOTHING: Recorded = Recorded {
        inbound: 0,
        pending: 0,
        outbox: 0,
        tickets: 0,
    };
}

/// What the form's fields hold when sent.
#[derive(Clone, Debug)]
pub struct Fields {
    pub email: String,
    pub nome: String,
    pub riferimento: String,
    pub richiesta: String,
    pub urgente: bool,
    pub privacy: bool,
    /// The hidden field a person never sees.
    pub website: String,
    /// Sent instead of the token the form carried.
    pub token: Option<String>,
}

/// The request a customer of the demo contract would write.
pub const REQUEST: &str = "Buongiorno,\r\nil modulo contatti del sito non invia più i messaggi \
da ieri sera.\r\nGrazie";

impl Fields {
    /// Every field filled as a customer would, for `email`.
    pub fn valid(email: &str) -> Fields {
        Fields {
            email: email.to_string(),
            nome: "Mario Rossi".into(),
            riferimento: "www.rossi-impianti.it".into(),
            richiesta: REQUEST.into(),
            urgente: false,
            privacy: true,
            website: String::new(),
            token: None,
        }
    }
}

/// A file chosen in `allegati`.
#[derive(Clone, Debug)]
pub struct Upload {
    pub filename: String,
    pub content_type: String,
    pub data: Vec<u8>,
}

impl Upload {
    pub fn new(filename: &str, content_type: &str, data: Vec<u8>) -> Upload {
        Upload {
            filename: filename.into(),
            content_type: content_type.into(),
            data,
        }
    }
}

/// An answer, its body read.
#[derive(Clone, Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: String,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The answer as a test failure shows it.
    pub fn shown(&self) -> String {
        format!("{} {:?}\n{}", self.status, self.headers, self.body)
    }
}

/// A browser at the form: one cookie store, redirects not followed (a 303 is seen as
/// such), the token of the last form it was served, and when it was served.
pub struct Form {
    pub port: u16,
    client: Client,
    /// The hidden token of the last form served.
    pub token: String,
    served_at: Option<Instant>,
    /// How long a person takes at least: submissions wait until this has passed since
    /// the form was served (the desk's `min_fill_secs`, 1 unless told).
    pub min_fill: Duration,
    /// Sent as `X-Forwarded-For` (as our proxy would), when set.
    pub forwarded_for: Option<String>,
}

impl Form {
    pub fn new(port: u16) -> Form {
        Form {
            port,
            client: client(true),
            token: String::new(),
            served_at: None,
            min_fill: Duration::from_secs(1),
            forwarded_for: None,
        }
    }

    /// The same browser without cookies at all (a client that refuses them).
    pub fn without_cookies(port: u16) -> Form {
        Form {
            client: client(false),
            ..Form::new(port)
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!(
            "http://127.0.0.1:{}/{}",
            self.port,
            path.trim_start_matches('/')
        )
    }

    /// GET of `path` (relative to the form's folder).
    pub fn get(&self, path: &str) -> Answer {
        let mut request = self.client.get(self.url(path));
        if let Some(ip) = &self.forwarded_for {
            request = request.header("X-Forwarded-For", ip);
        }
        answer(
            request
                .send()
                .unwrap_or_else(|e| panic!("GET /{path}: {e}")),
        )
    }

    /// POST of an empty body to `path` (the Conferma button).
    pub fn post_empty(&self, path: &str) -> Answer {
        let mut request = self
            .client
            .post(self.url(path))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body("");
        if let Some(ip) = &self.forwarded_for {
            request = request.header("X-Forwarded-For", ip);
        }
        answer(
            request
                .send()
                .unwrap_or_else(|e| panic!("POST /{path}: {e}")),
        )
    }

    /// Opens the form as a browser does: its cookie kept, its hidden token read from the
    /// page; returns the token.
    pub fn get_form(&mut self) -> String {
        let page = self.get("");
        assert_eq!(page.status, 200, "the form: {}", page.shown());
        self.served_at = Some(Instant::now());
        self.token = token_of(&page.body)
            .unwrap_or_else(|| panic!("no hidden token in the form:\n{}", page.body));
        self.token.clone()
    }

    /// Sends the form as a person would: waits until `min_fill` has passed since it was
    /// served, then posts the fields and files.
    pub fn submit(&self, fields: &Fields, files: &[Upload]) -> Answer {
        if let Some(served) = self.served_at {
            // The desk counts whole seconds: a little more than the minimum is enough.
            let due = served + self.min_fill + Duration::from_millis(100);
            if let Some(left) = due.checked_duration_since(Instant::now()) {
                std::thread::sleep(left);
            }
        }
        self.submit_now(fields, files)
    }

    /// Posts the fields and files at once, however soon after the form was served.
    pub fn submit_now(&self, fields: &Fields, files: &[Upload]) -> Answer {
        let token = fields.token.clone().unwrap_or_else(|| self.token.clone());
        let mut form = multipart::Form::new()
            .text("token", token)
            .text("email", fields.email.clone())
            .text("nome", fields.nome.clone())
            .text("riferimento", fields.riferimento.clone())
            .text("richiesta", fields.richiesta.clone())
            .text("website", fields.website.clone());
        if fields.urgente {
            form = form.text("urgente", "si");
        }
        if fields.privacy {
            form = form.text("privacy", "si");
        }
        if files.is_empty() {
            // What a browser sends when no file was chosen.
            form = form.part(
                "allegati",
                multipart::Part::bytes(Vec::new())
                    .file_name("")
                    .mime_str("application/octet-stream")
                    .expect("mime"),
            );
        }
        for f in files {
            form = form.part(
                "allegati",
                multipart::Part::bytes(f.data.clone())
                    .file_name(f.filename.clone())
                    .mime_str(&f.content_type)
                    .expect("mime"),
            );
        }
        let mut request = self.client.post(self.url("")).multipart(form);
        if let Some(ip) = &self.forwarded_for {
            request = request.header("X-Forwarded-For", ip);
        }
        answer(
            request
                .send()
                .unwrap_or_else(|e| panic!("POST / (the form): {e:?}")),
        )
    }
}

fn client(cookies: bool) -> Client {
    Client::builder()
        .cookie_store(cookies)
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("HTTP client")
}

fn answer(response: reqwest::blocking::Response) -> Answer {
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response.text().expect("the answer's body");
    Answer {
        status,
        headers,
        body,
    }
}

/// The value of the form's hidden `token` field.
pub fn token_of(page: &str) -> Option<String> {
    let re =
        regex::Regex::new(r#"<input type="hidden" name="token" value="([^"]*)">"#).expect("regex");
    re.captures(page).map(|c| c[1].to_string())
}

/// Text as the pages write a value: HTML-escaped (`/` and `'` included).
pub fn escaped(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#x27;"),
            '/' => out.push_str("&#x2f;"),
            c => out.push(c),
        }
    }
    out
}

/// A raw connection to the form's port, with a read timeout.
pub fn raw(port: u16, read_timeout: Duration) -> TcpStream {
    let s = TcpStream::connect(("127.0.0.1", port)).expect("connecting to the form");
    s.set_read_timeout(Some(read_timeout))
        .expect("read timeout");
    s.set_nodelay(true).expect("nodelay");
    s
}

/// Reads until the peer closes the connection, an error, or `within` has passed.
/// Returns what was read and whether the connection was closed (EOF or reset).
pub fn read_until_closed(s: &mut TcpStream, within: Duration) -> (Vec<u8>, bool) {
    let start = Instant::now();
    let mut got = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    while start.elapsed() < within {
        s.set_read_timeout(Some(
            within
                .saturating_sub(start.elapsed())
                .max(Duration::from_millis(10)),
        ))
        .expect("read timeout");
        match s.read(&mut buf) {
            Ok(0) => return (got, true),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => return (got, true),
        }
    }
    (got, false)
}

/// Reads one HTTP response head (and whatever body came with it) within `within`.
pub fn read_head(s: &mut TcpStream, within: Duration) -> String {
    let start = Instant::now();
    let mut got = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    while start.elapsed() < within && !got.windows(4).any(|w| w == b"\r\n\r\n") {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => break,
        }
    }
    String::from_utf8_lossy(&got).into_owned()
}

/// Writes all of `bytes`; false when the connection is gone.
pub fn send_raw(s: &mut TcpStream, bytes: &[u8]) -> bool {
    s.write_all(bytes).and_then(|()| s.flush()).is_ok()
}
