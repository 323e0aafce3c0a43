//! SMTP delivery of the outbox with lettre's SMTP client: TLS (implicit or STARTTLS) with
//! certificate verification, a private CA from `ca_file`, one connection kept open and
//! reused across mails, and errors sorted into permanent (give up on the mail), transient
//! (retry the mail later) and unavailable (the server, not the mail: wait for it).
//!
//! We open the TCP connection ourselves, rather than through lettre's transport, to set
//! TCP_NODELAY: lettre writes the end-of-data dot in a separate small write, and with
//! Nagle's algorithm on, that write waits for the server's delayed ACK, 40 ms per mail.

use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use lettre::address::Envelope;
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{
    AsyncSmtpConnection, Certificate, CertificateStore, TlsParameters,
};
use lettre::transport::smtp::extension::ClientId;
use tokio::net::TcpStream;
use tokio::sync::Mutex;
use tokio::time::timeout;

use crate::config::{SmtpConfig, TlsMode};

use super::compose::Composed;
use super::tls::{self, MaybeTls};

/// Longest wait for a connection, a login or one mail.
const TIMEOUT: Duration = Duration::from_secs(60);
/// A connection idle this long is closed and a new one made for the next mail (servers
/// drop idle clients after a few minutes; Postfix's default is 300 s).
const IDLE_LIMIT: Duration = Duration::from_secs(60);

/// How a delivery attempt ended.
#[derive(Debug)]
pub enum SendError {
    /// The server refused the mail for good (5xx): retrying cannot help.
    Permanent(String),
    /// This mail's transaction failed for now (a 4xx, or the connection broke or stalled
    /// before the server answered it): try it again later, counting an attempt.
    Transient(String),
    /// No session could be had: the server is unreachable, or refused the greeting, TLS or
    /// the login. Not this mail's fault: it waits, without counting an attempt, until the
    /// server takes mail again, however long that is.
    Unavailable(String),
}

/// The outbox's SMTP client.
pub struct Smtp {
    host: String,
    port: u16,
    mode: TlsMode,
    /// For STARTTLS, through lettre (which verifies with these roots).
    starttls: Option<TlsParameters>,
    /// For implicit TLS, done by us before SMTP starts.
    implicit: Option<std::sync::Arc<tokio_rustls::rustls::ClientConfig>>,
    credentials: Option<Credentials>,
    hello: ClientId,
    /// Where the server is and what its certificate is checked against, for errors.
    describe: String,
    /// The open connection and when it was last used.
    conn: Mutex<Option<(AsyncSmtpConnection, Instant)>>,
}

impl Smtp {
    pub fn new(cfg: &SmtpConfig) -> Result<Smtp> {
        let (mut starttls, mut implicit) = (None, None);
        match cfg.tls {
            TlsMode::None => {}
            TlsMode::Implicit => implicit = Some(tls::client_config(cfg.ca_file.as_deref())?),
            TlsMode::Starttls => {
                let mut params = TlsParameters::builder(cfg.host.clone());
                if let Some(path) = &cfg.ca_file {
                    let pem = std::fs::read(path)
                        .with_context(|| format!("reading the CA file {}", path.display()))?;
                    let cert = Certificate::from_pem(&pem)
                        .with_context(|| format!("parsing the CA file {}", path.display()))?;
                    // The private CA replaces the system's, as for IMAP: a server
                    // showing a certificate from a public CA is not the one configured.
                    params = params
                        .certificate_store(CertificateStore::None)
                        .add_root_certificate(cert);
                }
                starttls = Some(params.build_rustls().context("setting up SMTP TLS")?);
            }
        }
        let credentials = match (&cfg.username, &cfg.password) {
            (Some(user), Some(password)) => Some(Credentials::new(
                user.clone(),
                password.expose().to_string(),
            )),
            _ => None,
        };
        let describe = match cfg.tls {
            TlsMode::None => format!("SMTP server {}:{} (no TLS)", cfg.host, cfg.port),
            _ => format!(
                "SMTP server {}:{}, its certificate checked against {}",
                cfg.host,
                cfg.port,
                tls::trusted(cfg.ca_file.as_deref())
            ),
        };
        Ok(Smtp {
            host: cfg.host.clone(),
            port: cfg.port,
            mode: cfg.tls,
            starttls,
            implicit,
            credentials,
            hello: ClientId::default(),
            describe,
            conn: Mutex::new(None),
        })
    }

    /// Connects, says hello, secures and logs in.
    async fn connect(&self) -> Result<AsyncSmtpConnection, SendError> {
        let unavailable = |e: String| SendError::Unavailable(format!("{}: {e}", self.describe));
        let tcp = timeout(TIMEOUT, TcpStream::connect((self.host.as_str(), self.port)))
            .await
            .map_err(|_| unavailable(format!("no connection in {TIMEOUT:?}")))?
            .map_err(|e| unavailable(format!("connecting: {e}")))?;
        tcp.set_nodelay(true).ok();
        let setup = async {
            let stream = match &self.implicit {
                Some(config) => MaybeTls::Tls(Box::new(
                    tls::connect(config.clone(), &self.host, tcp)
                        .await
                        .map_err(|e| unavailable(format!("{e:#}")))?,
                )),
                None => MaybeTls::Plain(tcp),
            };
            let mut conn =
                AsyncSmtpConnection::connect_with_transport(Box::new(stream), &self.hello)
                    .await
                    .map_err(|e| unavailable(e.to_string()))?;
            if let (TlsMode::Starttls, Some(params)) = (self.mode, &self.starttls) {
                conn.starttls(params.clone(), &self.hello)
                    .await
                    .map_err(|e| unavailable(format!("STARTTLS: {e}")))?;
            }
            if let Some(credentials) = &self.credentials {
                conn.auth(&[Mechanism::Plain, Mechanism::Login], credentials)
                    .await
                    .map_err(|e| unavailable(format!("login: {e}")))?;
            }
            Ok(conn)
        };
        timeout(TIMEOUT, setup)
            .await
            .map_err(|_| unavailable(format!("no login in {TIMEOUT:?}")))?
    }

    /// Connects and logs in (when configured), then says goodbye: proves the server,
    /// its certificate and the credentials are right without sending anything.
    pub async fn login(&self) -> Result<()> {
        match self.connect().await {
            Ok(mut conn) => {
                let _ = conn.quit().await;
                Ok(())
            }
            Err(SendError::Permanent(e) | SendError::Transient(e) | SendError::Unavailable(e)) => {
                Err(anyhow::anyhow!(e))
            }
        }
    }

    /// Sends one mail as it was composed, on the kept connection (made anew when there is
    /// none, it idled too long, or the last mail failed on it).
    pub async fn send(&self, mail: &Composed) -> Result<(), SendError> {
        let from = mail
            .envelope_from
            .parse()
            .map_err(|e| SendError::Permanent(format!("bad envelope sender: {e}")))?;
        let to = mail
            .recipients
            .iter()
            .map(|r| r.parse())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| SendError::Permanent(format!("bad recipient: {e}")))?;
        let envelope = Envelope::new(Some(from), to)
            .map_err(|e| SendError::Permanent(format!("bad envelope: {e}")))?;
        let mut slot = self.conn.lock().await;
        let mut conn = match slot.take() {
            Some((conn, used)) if used.elapsed() < IDLE_LIMIT && !conn.has_broken() => conn,
            Some((mut old, _)) => {
                let _ = timeout(Duration::from_secs(5), old.quit()).await;
                self.connect().await?
            }
            None => self.connect().await?,
        };
        let result = timeout(TIMEOUT, conn.send(&envelope, &mail.raw))
            .await
            .map_err(|_| {
                SendError::Transient(format!("{}: no answer in {TIMEOUT:?}", self.describe))
            })
            .and_then(|r| r.map_err(|e| classify(&self.describe, e)));
        // After a failure the session may be mid-transaction: start the next mail afresh.
        if result.is_ok() && !conn.has_broken() {
            *slot = Some((conn, Instant::now()));
        } else {
            let _ = timeout(Duration::from_secs(5), conn.quit()).await;
        }
        result.map(|_| ())
    }
}

fn classify(describe: &str, e: lettre::transport::smtp::Error) -> SendError {
    if e.is_permanent() {
        SendError::Permanent(format!("{describe}: {e}"))
    } else {
        SendError::Transient(format!("{describe}: {e}"))
    }
}

impl lettre::transport::smtp::client::AsyncTokioStream for MaybeTls {
    fn peer_addr(&self) -> std::io::Result<std::net::SocketAddr> {
        match self {
            MaybeTls::Plain(s) => s.peer_addr(),
            MaybeTls::Tls(s) => s.get_ref().0.peer_addr(),
        }
    }
}
