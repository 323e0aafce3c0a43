//! A real browser for the integration tests: Debian's headless `chromium`, driven over
//! WebDriver through `chromedriver`, behind a blocking API so `#[test]` fns stay plain.
//!
//! Each [`Browser`] starts its own `chromedriver` on a free loopback port with a fresh
//! profile, so test binaries and tests can run in parallel. When the browser is missing it
//! is installed with `apt-get` (as root, once per machine, under a file lock).

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use fantoccini::wd::{Capabilities, WebDriverCompatibleCommand};
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;

pub const CHROMIUM: &str = "/usr/bin/chromium";
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const INSTALL_LOCK: &str = "/tmp/assistenza-chromium-install.lock";
const READY_WITHIN: Duration = Duration::from_secs(20);
/// How long one WebDriver command may take before the test is told which one hung.
const COMMAND_WITHIN: Duration = Duration::from_secs(30);

pub struct Browser {
    // Dropped in this order, after `Drop::drop` has closed the session.
    client: Client,
    rt: tokio::runtime::Runtime,
    driver: Child,
    port: u16,
    dir: tempfile::TempDir,
}

impl Browser {
    /// Installs chromium and chromium-driver with apt-get when /usr/bin/chromedriver is
    /// missing (once per machine, guarded by a file lock so parallel test binaries do not
    /// run apt-get together), starts chromedriver on a free loopback port, waits until
    /// /status answers ready, and opens a headless session with a fresh user-data-dir.
    pub fn start() -> Browser {
        install();
        let dir = tempfile::Builder::new()
            .prefix("assistenza-browser-")
            .tempdir()
            .expect("browser: creating a temporary directory");
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("browser: building a tokio runtime");
        let (mut driver, port) = spawn_driver(dir.path());
        let webdriver = format!("http://127.0.0.1:{port}");
        let mut builder = ClientBuilder::new(HttpConnector::new());
        builder.capabilities(capabilities(&dir.path().join("profile")));
        let connected = rt.block_on(async {
            tokio::time::timeout(READY_WITHIN, builder.connect(&webdriver)).await
        });
        let client = match connected {
            Ok(Ok(client)) => client,
            failed => {
                let why = match failed {
                    Ok(Err(e)) => e.to_string(),
                    _ => format!("no answer within {} s", READY_WITHIN.as_secs()),
                };
                stop(&mut driver);
                panic!(
                    "chromedriver on 127.0.0.1:{port} did not open a chromium session: {why}\n{}",
                    log_tail(dir.path())
                );
            }
        };
        Browser {
            client,
            rt,
            driver,
            port,
            dir,
        }
    }

    pub fn goto(&self, url: &str) {
        self.run(&format!("goto {url}"), self.client.goto(url));
    }

    /// Replaces what an input or textarea holds: clears it, then types `text` key by key.
    pub fn fill(&self, css: &str, text: &str) {
        let el = self.find(css);
        self.run(&format!("clear `{css}`"), el.clear());
        self.run(&format!("type into `{css}`"), el.send_keys(text));
    }

    pub fn click(&self, css: &str) {
        let el = self.find(css);
        self.run(&format!("click `{css}`"), el.click());
    }

    /// Chooses a file in an `<input type=file>`, as a user picking it would.
    pub fn attach(&self, css: &str, path: &Path) {
        let path = path
            .canonicalize()
            .unwrap_or_else(|e| panic!("browser: attach {}: {e}", path.display()));
        let el = self.find(css);
        let path = path.to_str().expect("browser: attach needs a UTF-8 path");
        self.run(&format!("attach {path} to `{css}`"), el.send_keys(path));
    }

    /// The visible text of the first element matching `css`.
    pub fn text(&self, css: &str) -> String {
        let el = self.find(css);
        self.run(&format!("text of `{css}`"), el.text())
    }

    /// The `value` property (what the user sees typed, not the HTML attribute).
    pub fn value(&self, css: &str) -> String {
        let el = self.find(css);
        self.run(&format!("value of `{css}`"), el.prop("value"))
            .unwrap_or_default()
    }

    /// The `name` attribute of the focused element ("" when it has none).
    pub fn active_name(&self) -> String {
        let el = self.run("the focused element", self.client.active_element());
        self.run("name of the focused element", el.attr("name"))
            .unwrap_or_default()
    }

    pub fn source(&self) -> String {
        self.run("page source", self.client.source())
    }

    pub fn current_url(&self) -> String {
        self.run("current url", self.client.current_url())
            .to_string()
    }

    /// Waits until an element matches `css`.
    pub fn wait_for(&self, css: &str, within: Duration) {
        let found = self.rt.block_on(
            self.client
                .wait()
                .at_most(within)
                .every(Duration::from_millis(50))
                .for_element(Locator::Css(css)),
        );
        if let Err(e) = found {
            panic!(
                "browser: nothing matched `{css}` within {within:?} on {}: {e}",
                self.current_url()
            );
        }
    }

    /// Full-page PNG screenshot saved as target/screenshots/{name}.png (creates the
    /// folder); returns the path. The whole document, not only what the window shows.
    pub fn screenshot(&self, name: &str) -> PathBuf {
        let metrics = self.cdp("Page.getLayoutMetrics", serde_json::json!({}));
        let size = &metrics["cssContentSize"];
        let (w, h) = (size["width"].as_f64(), size["height"].as_f64());
        let (Some(w), Some(h)) = (w, h) else {
            panic!("browser: screenshot {name}: no cssContentSize in {metrics}");
        };
        let shot = self.cdp(
            "Page.captureScreenshot",
            serde_json::json!({
                "format": "png",
                "captureBeyondViewport": true,
                "clip": { "x": 0, "y": 0, "width": w.ceil(), "height": h.ceil(), "scale": 1 },
            }),
        );
        let png = shot["data"]
            .as_str()
            .and_then(|b64| base64::engine::general_purpose::STANDARD.decode(b64).ok())
            .unwrap_or_else(|| panic!("browser: screenshot {name}: no PNG in the answer"));
        // Integration tests get target/tmp; its parent is the target folder wherever it is.
        let folder = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .parent()
            .expect("target folder")
            .join("screenshots");
        std::fs::create_dir_all(&folder)
            .unwrap_or_else(|e| panic!("browser: creating {}: {e}", folder.display()));
        let path = folder.join(format!("{name}.png"));
        std::fs::write(&path, png)
            .unwrap_or_else(|e| panic!("browser: writing {}: {e}", path.display()));
        path
    }

    /// Sizes the page's viewport (`innerWidth` × `innerHeight`) to `w` × `h`, e.g. a
    /// phone's 390×844. Headless Chromium keeps room for browser chrome it does not draw
    /// (a window 844 px high shows 705 px of page), so the window is grown by the difference.
    pub fn set_window_size(&self, w: u32, h: u32) {
        let what = format!("resize the viewport to {w}×{h}");
        self.run(&what, self.client.set_window_size(w, h));
        let (iw, ih) = self.viewport();
        if (iw, ih) != (w, h) {
            let (ow, oh) = ((2 * w).saturating_sub(iw), (2 * h).saturating_sub(ih));
            self.run(&what, self.client.set_window_size(ow, oh));
            let got = self.viewport();
            assert_eq!(
                got,
                (w, h),
                "browser: {what}: the window {ow}×{oh} shows {got:?}"
            );
        }
    }

    fn viewport(&self) -> (u32, u32) {
        let size = self.run(
            "read the viewport size",
            self.client
                .execute("return [window.innerWidth, window.innerHeight]", vec![]),
        );
        let dim = |i: usize| size[i].as_u64().and_then(|v| u32::try_from(v).ok());
        match (dim(0), dim(1)) {
            (Some(w), Some(h)) => (w, h),
            _ => panic!("browser: viewport size came back as {size}"),
        }
    }

    fn find(&self, css: &str) -> fantoccini::elements::Element {
        let found = self.rt.block_on(async {
            tokio::time::timeout(COMMAND_WITHIN, self.client.find(Locator::Css(css))).await
        });
        match found {
            Ok(Ok(el)) => el,
            Ok(Err(e)) => panic!(
                "browser: no element matches `{css}` on {}: {e}",
                self.current_url()
            ),
            Err(_) => panic!("browser: finding `{css}` took over {COMMAND_WITHIN:?}"),
        }
    }

    /// Runs one WebDriver command, panicking with `what` failed.
    fn run<T>(
        &self,
        what: &str,
        cmd: impl std::future::Future<Output = Result<T, fantoccini::error::CmdError>>,
    ) -> T {
        match self
            .rt
            .block_on(async { tokio::time::timeout(COMMAND_WITHIN, cmd).await })
        {
            Ok(Ok(v)) => v,
            Ok(Err(e)) => panic!("browser: {what} failed: {e}"),
            Err(_) => panic!(
                "browser: {what} took over {COMMAND_WITHIN:?} (chromedriver on 127.0.0.1:{})\n{}",
                self.port,
                log_tail(self.dir.path())
            ),
        }
    }

    /// A Chrome DevTools Protocol command through chromedriver's `goog/cdp/execute`.
    fn cdp(&self, method: &'static str, params: serde_json::Value) -> serde_json::Value {
        self.run(
            &format!("DevTools {method}"),
            self.client.issue_cmd(Cdp { method, params }),
        )
    }
}

impl Drop for Browser {
    /// Closes the session (chromedriver then quits chromium), stops chromedriver and
    /// anything it left in its process group, then the temporary profile goes.
    fn drop(&mut self) {
        let client = self.client.clone();
        let _ = self.rt.block_on(async {
            tokio::time::timeout(Duration::from_secs(10), client.close()).await
        });
        stop(&mut self.driver);
    }
}

/// Stops chromedriver and whatever it left in its process group (a chromium whose session
/// was not closed): TERM, up to 5 s to exit, then KILL. Never panics.
fn stop(driver: &mut Child) {
    let group = format!("-{}", driver.id());
    let signal = |sig: &str| {
        let _ = Command::new("kill")
            .args([sig, "--", &group])
            .stderr(Stdio::null())
            .status();
    };
    signal("-TERM");
    let deadline = Instant::now() + Duration::from_secs(5);
    while matches!(driver.try_wait(), Ok(None)) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    signal("-KILL");
    let _ = driver.wait();
}

#[derive(Debug)]
struct Cdp {
    method: &'static str,
    params: serde_json::Value,
}

impl WebDriverCompatibleCommand for Cdp {
    fn endpoint(
        &self,
        base: &url::Url,
        session: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base.join(&format!(
            "session/{}/goog/cdp/execute",
            session.unwrap_or("")
        ))
    }

    fn method_and_body(&self, _: &url::Url) -> (hyper::Method, Option<String>) {
        let body = serde_json::json!({ "cmd": self.method, "params": self.params });
        (hyper::Method::POST, Some(body.to_string()))
    }
}

fn capabilities(profile: &Path) -> Capabilities {
    let args = [
        "--headless".to_string(),
        "--no-sandbox".to_string(), // tests run as root
        "--disable-gpu".to_string(),
        "--disable-quic".to_string(),
        "--no-first-run".to_string(),
        // The machine has no network: nothing may try to reach Google's services.
        "--disable-background-networking".to_string(),
        "--disable-component-update".to_string(),
        "--disable-sync".to_string(),
        "--disable-dev-shm-usage".to_string(),
        "--window-size=1280,900".to_string(),
        // Phones' scrollbars overlay the page: none should take 15 px of a 390 px layout
        // (or show up in full-page screenshots).
        "--hide-scrollbars".to_string(),
        format!("--user-data-dir={}", profile.display()),
    ];
    let caps = serde_json::json!({
        "browserName": "chrome",
        "goog:chromeOptions": { "binary": CHROMIUM, "args": args },
    });
    match caps {
        serde_json::Value::Object(map) => map,
        _ => unreachable!(),
    }
}

/// Installs chromium and its driver unless both are there. `flock` makes parallel test
/// binaries wait for one apt-get instead of running their own.
pub fn install() {
    if Path::new(CHROMEDRIVER).exists() && Path::new(CHROMIUM).exists() {
        return;
    }
    let uid = Command::new("id").arg("-u").output().map(|o| o.stdout);
    assert!(
        matches!(uid.as_deref(), Ok(b"0\n")),
        "{CHROMEDRIVER} or {CHROMIUM} is missing and installing them needs root: \
         apt-get install chromium chromium-driver"
    );
    let script = format!(
        "[ -x {CHROMEDRIVER} ] && [ -x {CHROMIUM} ] && exit 0
         export DEBIAN_FRONTEND=noninteractive
         pkgs='chromium chromium-driver'
         apt-get install -y -qq --no-install-recommends $pkgs >/dev/null 2>&1 && exit 0
         apt-get update -qq && apt-get install -y -qq --no-install-recommends $pkgs"
    );
    let started = Instant::now();
    let out = Command::new("flock")
        .args([INSTALL_LOCK, "sh", "-c", &script])
        .output()
        .expect("browser: running flock sh -c 'apt-get install chromium chromium-driver'");
    assert!(
        out.status.success(),
        "apt-get install chromium chromium-driver failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        Path::new(CHROMEDRIVER).exists() && Path::new(CHROMIUM).exists(),
        "apt-get installed chromium and chromium-driver but {CHROMEDRIVER} or {CHROMIUM} is missing"
    );
    eprintln!(
        "browser: chromium and chromium-driver ready after {:.1} s",
        started.elapsed().as_secs_f64()
    );
}

/// Starts chromedriver on a free loopback port and waits for `/status` to say ready.
/// The port is picked by binding port 0 and letting it go, so another process may take
/// it meanwhile: then chromedriver exits and the next port is tried.
fn spawn_driver(dir: &Path) -> (Child, u16) {
    let mut last = String::new();
    for _ in 0..3 {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("browser: picking a free loopback port")
            .port();
        let log = std::fs::File::create(dir.join("chromedriver.log"))
            .expect("browser: creating chromedriver.log");
        let mut child = Command::new(CHROMEDRIVER)
            // Without --allowed-ips it listens on loopback only and refuses other hosts.
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("browser: chromedriver.log"))
            .stderr(log)
            // Its own process group, so Drop can stop chromium with it.
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("browser: starting {CHROMEDRIVER}: {e}"));
        let deadline = Instant::now() + READY_WITHIN;
        loop {
            if status_ready(port) {
                return (child, port);
            }
            if let Ok(Some(exit)) = child.try_wait() {
                last = format!("chromedriver on 127.0.0.1:{port} exited ({exit})");
                break;
            }
            if Instant::now() > deadline {
                stop(&mut child);
                panic!(
                    "chromedriver did not answer ready on 127.0.0.1:{port} within {} s:\n{}",
                    READY_WITHIN.as_secs(),
                    log_tail(dir)
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    panic!("{last}:\n{}", log_tail(dir));
}

/// Whether `GET /status` answers `"ready": true`.
fn status_ready(port: u16) -> bool {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    let req =
        format!("GET /status HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n");
    if s.write_all(req.as_bytes()).is_err() {
        return false;
    }
    let mut answer = String::new();
    let _ = s.read_to_string(&mut answer);
    let body = answer.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    serde_json::from_str::<serde_json::Value>(body)
        .map(|v| v["value"]["ready"] == serde_json::Value::Bool(true))
        .unwrap_or(false)
}

/// The last lines chromedriver (and chromium through it) wrote, for error messages.
fn log_tail(dir: &Path) -> String {
    let log = std::fs::read_to_string(dir.join("chromedriver.log")).unwrap_or_default();
    let lines: Vec<&str> = log.lines().collect();
    let tail = lines[lines.len().saturating_sub(20)..].join("\n");
    format!("chromedriver output (last 20 lines):\n{tail}")
}
