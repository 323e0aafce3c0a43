//! `assistenza check`: everything the daemon needs, tried once, one line per check:
//! the config (every problem with file and key, password files included), the database
//! and its migrations, the IMAP login with TLS, the support mailbox and the folders, and
//! the SMTP login. Exits non-zero when any check fails.

use std::path::Path;

use anyhow::{bail, Result};

use crate::config::Config;
use crate::mail::imap::Imap;
use crate::mail::smtp::Smtp;
use crate::store::Store;

/// The texts: a set that did not render every sample situation failed with the config.
fn templates(report: &mut Report, cfg: &Config) {
    let edited = cfg.settings.texts.edited();
    match (&cfg.templates_dir, edited.is_empty()) {
        (Some(dir), false) => report.ok(
            "templates",
            format!(
                "{} file(s) of {} in force ({}); every mail renders in every sample situation",
                edited.len(),
                dir.display(),
                edited.join(", ")
            ),
        ),
        (Some(dir), true) => report.ok(
            "templates",
            format!(
                "{} holds no template: the built-in texts are in force",
                dir.display()
            ),
        ),
        (None, _) => report.ok("templates", "the built-in texts ([templates] dir not set)"),
    }
}

/// `[web] listen`: free to bind, or held by a portal that answers its health check.
async fn portal(report: &mut Report, cfg: &Config) {
    let Some(web) = &cfg.web else {
        report.ok("web", "no [web] section: the portal's form is not served");
        return;
    };
    let bound = crate::web::bind(web).await;
    let in_use = bound
        .as_ref()
        .err()
        .and_then(|e| e.downcast_ref::<std::io::Error>())
        .is_some_and(|e| e.kind() == std::io::ErrorKind::AddrInUse);
    match bound {
        Ok(_) => report.ok(
            "web",
            format!(
                "{} can be listened on; customers reach it at {}",
                web.listen, web.public_url
            ),
        ),
        Err(_) if in_use && healthy(web.listen).await => report.ok(
            "web",
            format!(
                "{} is held by a running portal that answers /healthz",
                web.listen
            ),
        ),
        Err(e) => report.fail("web", format!("{e:#}")),
    }
}

/// Whether what listens at `addr` answers `GET /healthz` with 200. The portal answers a
/// request in the version it was asked in, so the status line may say 1.0 or 1.1.
async fn healthy(addr: std::net::SocketAddr) -> bool {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let ask = async {
        let mut s = tokio::net::TcpStream::connect(addr).await?;
        s.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            .await?;
        let mut answer = Vec::with_capacity(64);
        while answer.len() < 12 {
            if s.read_buf(&mut answer).await? == 0 {
                break;
            }
        }
        let ok = [&b"HTTP/1.1 200"[..], b"HTTP/1.0 200"]
            .iter()
            .any(|line| answer.starts_with(line));
        Ok::<_, std::io::Error>(ok)
    };
    matches!(
        tokio::time::timeout(std::time::Duration::from_secs(3), ask).await,
        Ok(Ok(true))
    )
}

/// Prints each check as it is done and counts the failures.
#[derive(Default)]
struct Report {
    failed: usize,
}

impl Report {
    fn ok(&mut self, what: &str, detail: impl std::fmt::Display) {
        println!("ok    {what:<9} {detail}");
    }
    fn fail(&mut self, what: &str, detail: impl std::fmt::Display) {
        self.failed += 1;
        println!("FAIL  {what:<9} {detail}");
    }
    fn result<T>(&mut self, what: &str, r: Result<T>, ok: impl FnOnce(&T) -> String) -> Option<T> {
        match r {
            Ok(v) => {
                self.ok(what, ok(&v));
                Some(v)
            }
            Err(e) => {
                self.fail(what, format!("{e:#}"));
                None
            }
        }
    }
}

pub async fn check(path: &Path) -> Result<()> {
    let mut report = Report::default();
    let cfg = match Config::load(path) {
        Ok(cfg) => cfg,
        Err(e) => {
            for p in &e.problems {
                report.fail(
                    "config",
                    format!("{}: {}: {}", e.file.display(), p.key, p.message),
                );
            }
            bail!("{} check(s) failed", report.failed);
        }
    };
    crate::logging::init(&cfg.log.filter, cfg.log.format);
    report.ok(
        "config",
        format!(
            "{} ({} operator(s); any password file readable by its owner only)",
            path.display(),
            cfg.settings.operators.len()
        ),
    );
    // Config validation built every address: a config that loads has valid ones.
    report.ok(
        "settings",
        "addresses of the support desk, operators, queue and on-call are valid",
    );
    templates(&mut report, &cfg);
    database(&mut report, &cfg.store.path);
    portal(&mut report, &cfg).await;
    imap(&mut report, &cfg).await;
    report.result(
        "smtp",
        match Smtp::new(&cfg.smtp) {
            Ok(smtp) => smtp.login().await,
            Err(e) => Err(e),
        },
        |_| {
            format!(
                "{}:{} accepted {} (TLS {})",
                cfg.smtp.host,
                cfg.smtp.port,
                cfg.smtp.username.as_deref().unwrap_or("us without login"),
                format!("{:?}", cfg.smtp.tls).to_lowercase()
            )
        },
    );
    if report.failed > 0 {
        bail!("{} check(s) failed", report.failed);
    }
    println!("all checks passed");
    Ok(())
}

fn database(report: &mut Report, path: &Path) {
    if !path.exists() {
        let dir = path.parent().filter(|d| !d.as_os_str().is_empty());
        let dir = dir.unwrap_or(Path::new("."));
        match writable_dir(dir) {
            Ok(()) => report.ok(
                "database",
                format!(
                    "{} does not exist yet; the daemon creates it at its first start",
                    path.display()
                ),
            ),
            Err(e) => report.fail(
                "database",
                format!("{} cannot be created: {e:#}", path.display()),
            ),
        }
        return;
    }
    let opened = Store::open_existing(path).and_then(|s| {
        let (version, latest) = s.schema_version()?;
        let integrity = s.integrity_check()?;
        Ok((version, latest, integrity))
    });
    match opened {
        Err(e) => report.fail("database", format!("{e:#}")),
        Ok((v, latest, _)) if v > latest => report.fail(
            "database",
            format!("{}: schema version {v} is newer than this binary ({latest}): install the newer assistenza", path.display()),
        ),
        Ok((_, _, integrity)) if integrity != "ok" => report.fail(
            "database",
            format!("{}: integrity check failed: {integrity}", path.display()),
        ),
        Ok((v, latest, _)) if v < latest => report.ok(
            "database",
            format!("{}: schema {v}, {} migration(s) to apply at the next start", path.display(), latest - v),
        ),
        Ok((v, _, _)) => report.ok("database", format!("{}: schema {v} (current), integrity ok", path.display())),
    }
}

fn writable_dir(dir: &Path) -> Result<()> {
    let probe = dir.join(format!(".assistenza-check-{}", std::process::id()));
    std::fs::write(&probe, b"")
        .map_err(|e| anyhow::anyhow!("cannot write in {}: {e}", dir.display()))?;
    let _ = std::fs::remove_file(probe);
    Ok(())
}

async fn imap(report: &mut Report, cfg: &Config) {
    let c = &cfg.imap;
    let Some(mut imap) = report.result("imap", Imap::connect(c).await, |imap| {
        format!(
            "{}:{} accepted {} (TLS {}; IDLE {})",
            c.host,
            c.port,
            c.username,
            format!("{:?}", c.tls).to_lowercase(),
            if imap.has_idle() {
                "offered"
            } else {
                "missing: the daemon will poll"
            }
        )
    }) else {
        return;
    };
    report.result("mailbox", imap.backlog(&c.mailbox).await, |(n, _)| {
        format!("{:?} exists, {n} message(s) waiting", c.mailbox)
    });
    let f = &c.folders;
    report.result(
        "folders",
        imap.ensure_folders(&[&f.processed, &f.rejected, &f.quarantine])
            .await,
        |created| {
            let names = format!("{:?}, {:?}, {:?}", f.processed, f.rejected, f.quarantine);
            if created.is_empty() {
                format!("{names} exist")
            } else {
                format!("{names} exist (created now: {})", created.join(", "))
            }
        },
    );
    imap.logout().await;
}
