//! SMTP delivery of the outbox with lettre: TLS (implicit or STARTTLS) with certificate
//! verification, a private CA from `ca_file`, a pooled connection reused across mails,
//! and errors sorted into permanent (give up) and transient (retry later).

use std::time::Duration;

use anyhow::{Context, Result};
use lettre::address::Envelope;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::transport::smtp::PoolConfig;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

use crate::config::{SmtpConfig, TlsMode};
use crate::store::OutboxRow;

/// How a delivery attempt ended.
#[derive(Debug)]
pub enum SendError {
    /// The server refused the mail for good (5xx): retrying cannot help.
    Permanent(String),
    /// Connection trouble or a 4xx: try again later.
    Transient(String),
}

/// The outbox's SMTP client.
#[derive(Clone)]
pub struct Smtp {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    /// Where the server is and what its certificate is checked against, for errors.
    describe: String,
}

impl Smtp {
    pub fn new(cfg: &SmtpConfig) -> Result<Smtp> {
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(cfg.host.clone())
            .port(cfg.port)
            .timeout(Some(Duration::from_secs(60)))
            // One connection, reused: the outbox sends one mail at a time, in order.
            .pool_config(
                PoolConfig::new()
                    .max_size(1)
                    .idle_timeout(Duration::from_secs(60)),
            );
        let tls = match cfg.tls {
            TlsMode::None => Tls::None,
            mode => {
                let mut params = TlsParameters::builder(cfg.host.clone());
                if let Some(path) = &cfg.ca_file {
                    let pem = std::fs::read(path)
                        .with_context(|| format!("reading the CA file {}", path.display()))?;
                    let cert = Certificate::from_pem(&pem)
                        .with_context(|| format!("parsing the CA file {}", path.display()))?;
                    params = params.add_root_certificate(cert);
                }
                let params = params.build_rustls().context("setting up SMTP TLS")?;
                if mode == TlsMode::Implicit {
                    Tls::Wrapper(params)
                } else {
                    Tls::Required(params)
                }
            }
        };
        builder = builder.tls(tls);
        if let (Some(user), Some(password)) = (&cfg.username, &cfg.password) {
            builder = builder.credentials(Credentials::new(
                user.clone(),
                password.expose().to_string(),
            ));
        }
        let describe = match cfg.tls {
            TlsMode::None => format!("SMTP server {}:{} (no TLS)", cfg.host, cfg.port),
            _ => format!(
                "SMTP server {}:{}, its certificate checked against {}",
                cfg.host,
                cfg.port,
                super::tls::trusted(cfg.ca_file.as_deref())
            ),
        };
        Ok(Smtp {
            transport: builder.build(),
            describe,
        })
    }

    /// Connects and logs in (when configured), then says goodbye: proves the server,
    /// its certificate and the credentials are right without sending anything.
    pub async fn login(&self) -> Result<()> {
        match self.transport.test_connection().await {
            Ok(true) => Ok(()),
            Ok(false) => anyhow::bail!("the SMTP server did not answer NOOP"),
            Err(e) => Err(anyhow::anyhow!("{e}")).context(self.describe.clone()),
        }
    }

    /// Sends one outbox row as it was composed.
    pub async fn send(&self, row: &OutboxRow) -> Result<(), SendError> {
        let from = row
            .envelope_from
            .parse()
            .map_err(|e| SendError::Permanent(format!("bad envelope sender: {e}")))?;
        let to = row
            .recipients
            .iter()
            .map(|r| r.parse())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| SendError::Permanent(format!("bad recipient: {e}")))?;
        let envelope = Envelope::new(Some(from), to)
            .map_err(|e| SendError::Permanent(format!("bad envelope: {e}")))?;
        match self.transport.send_raw(&envelope, &row.raw).await {
            Ok(_) => Ok(()),
            Err(e) if e.is_permanent() => Err(SendError::Permanent(e.to_string())),
            Err(e) => Err(SendError::Transient(e.to_string())),
        }
    }
}
