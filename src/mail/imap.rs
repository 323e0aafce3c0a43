//! IMAP with async-imap: connect (implicit TLS, STARTTLS, or plain on loopback), make
//! sure the folders exist, list and fetch the inbox with `BODY.PEEK[]` (so nothing is
//! marked seen behind the operators' backs), and move handled messages with `UID MOVE`
//! (or COPY + \Deleted + UID EXPUNGE where MOVE is missing), and wait for new mail with
//! IDLE. No rule is decided here.

use std::collections::HashSet;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use async_imap::extensions::idle::IdleResponse;
use async_imap::types::UnsolicitedResponse;
use async_imap::{Client, Session};
use chrono::{DateTime, Utc};
use futures::TryStreamExt;
use tokio::net::TcpStream;
use tokio::time::timeout;

use crate::config::{ImapConfig, TlsMode};

use super::tls::{self, MaybeTls};

/// Longest we wait for one IMAP command before calling the connection dead.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(120);
/// During IDLE the server says "still here" every few minutes (Dovecot: 2); silence for
/// this long means the connection died without a word (a NAT or a cable dropped it).
const IDLE_SILENCE: Duration = Duration::from_secs(5 * 60);

/// Why an IDLE ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Woken {
    /// The server reported a change to the mailbox: look at it.
    Changed,
    /// The renewal time passed with no change (IDLE is re-issued well before the
    /// 29-minute limit of RFC 2177).
    Renew,
    /// The caller asked to stop.
    Stopped,
}

/// Size and arrival time of a message, fetched before its body.
#[derive(Clone, Copy, Debug)]
pub struct Meta {
    pub uid: u32,
    pub size: u64,
    pub received_at: DateTime<Utc>,
}

/// A fetched message: the whole of it, or only its header when it is over the size limit.
#[derive(Clone, Debug)]
pub struct Fetched {
    pub meta: Meta,
    pub raw: Vec<u8>,
}

/// A logged-in IMAP session.
pub struct Imap {
    session: Session<MaybeTls>,
    has_move: bool,
    has_uidplus: bool,
    has_idle: bool,
}

async fn within<T>(what: &str, fut: impl std::future::Future<Output = T>) -> Result<T> {
    timeout(COMMAND_TIMEOUT, fut)
        .await
        .map_err(|_| anyhow!("IMAP {what}: no answer in {COMMAND_TIMEOUT:?}"))
}

impl Imap {
    /// Connects and logs in as configured.
    pub async fn connect(cfg: &ImapConfig) -> Result<Imap> {
        let addr = format!("{}:{}", cfg.host, cfg.port);
        let tcp = within("connect", TcpStream::connect(&addr))
            .await?
            .with_context(|| format!("connecting to IMAP server {addr}"))?;
        tcp.set_nodelay(true).ok();
        let client = match cfg.tls {
            TlsMode::Implicit => {
                let config = tls::client_config(cfg.ca_file.as_deref())?;
                let stream = tls::connect(config, &cfg.host, tcp)
                    .await
                    .with_context(|| trust_context(cfg))?;
                let mut client = Client::new(MaybeTls::Tls(Box::new(stream)));
                read_greeting(&mut client).await?;
                client
            }
            TlsMode::Starttls => {
                let mut plain = Client::new(tcp);
                read_greeting(&mut plain).await?;
                within("STARTTLS", plain.run_command_and_check_ok("STARTTLS", None))
                    .await?
                    .context("IMAP STARTTLS refused")?;
                let config = tls::client_config(cfg.ca_file.as_deref())?;
                let stream = tls::connect(config, &cfg.host, plain.into_inner())
                    .await
                    .with_context(|| trust_context(cfg))?;
                Client::new(MaybeTls::Tls(Box::new(stream)))
            }
            TlsMode::None => {
                let mut client = Client::new(MaybeTls::Plain(tcp));
                read_greeting(&mut client).await?;
                client
            }
        };
        let mut session = within("LOGIN", client.login(&cfg.username, cfg.password.expose()))
            .await?
            .map_err(|(e, _)| {
                anyhow!(
                    "IMAP login as {} refused: {}",
                    cfg.username,
                    server_said(&e)
                )
            })?;
        let caps = within("CAPABILITY", session.capabilities()).await??;
        Ok(Imap {
            has_move: caps.has_str("MOVE"),
            has_uidplus: caps.has_str("UIDPLUS"),
            has_idle: caps.has_str("IDLE"),
            session,
        })
    }

    /// Whether the server offers IDLE (RFC 2177).
    pub fn has_idle(&self) -> bool {
        self.has_idle
    }

    /// Creates the folders that do not exist yet; returns the ones it created.
    pub async fn ensure_folders(&mut self, folders: &[&str]) -> Result<Vec<String>> {
        let existing: HashSet<String> = within("LIST", async {
            self.session
                .list(None, Some("*"))
                .await?
                .map_ok(|n| n.name().to_string())
                .try_collect()
                .await
        })
        .await?
        .context("listing IMAP folders")?;
        let mut created = Vec::new();
        for folder in folders {
            if !existing.contains(*folder) {
                within("CREATE", self.session.create(folder))
                    .await?
                    .map_err(|e| anyhow!("creating IMAP folder {folder:?}: {}", server_said(&e)))?;
                tracing::info!(folder, "created IMAP folder");
                created.push(folder.to_string());
            }
        }
        Ok(created)
    }

    /// How many messages wait in `mailbox` and when the oldest arrived, looked at
    /// read-only (EXAMINE), so the daemon's own session is not disturbed.
    pub async fn backlog(&mut self, mailbox: &str) -> Result<(u32, Option<DateTime<Utc>>)> {
        let mb = within("EXAMINE", self.session.examine(mailbox))
            .await?
            .map_err(|e| anyhow!("IMAP folder {mailbox:?}: {}", server_said(&e)))?;
        if mb.exists == 0 {
            return Ok((0, None));
        }
        let first: Vec<async_imap::types::Fetch> = within("FETCH", async {
            self.session
                .fetch("1", "(INTERNALDATE)")
                .await?
                .try_collect()
                .await
        })
        .await?
        .context("reading the oldest message's arrival time")?;
        let oldest = first
            .iter()
            .filter_map(|f| f.internal_date())
            .map(|d| d.with_timezone(&Utc))
            .min();
        Ok((mb.exists, oldest))
    }

    /// True when the server has reported new messages since the last look (an `EXISTS`
    /// that came with the answer to another command). Empties that queue of reports.
    pub fn new_mail_reported(&mut self) -> bool {
        let rx = &self.session.unsolicited_responses;
        drain_exists(|| rx.try_recv().ok())
    }

    /// Asks the server with NOOP; true when it reports new messages. Dovecot answers a
    /// NOOP from the mailbox as it is now, where its IDLE notice waits half a second
    /// after a delivery (to report several deliveries at once).
    pub async fn noop(&mut self) -> Result<bool> {
        within("NOOP", self.session.noop())
            .await?
            .context("IMAP NOOP")?;
        Ok(self.new_mail_reported())
    }

    /// Waits with IDLE on the selected mailbox until it changes, `renew` passes, or
    /// `stop` resolves; then ends the IDLE so the session can be used again. A connection
    /// that closes or falls silent is an error: the caller reconnects.
    pub async fn idle(
        self,
        renew: Duration,
        stop: impl std::future::Future<Output = ()>,
    ) -> Result<(Imap, Woken)> {
        let Imap {
            session,
            has_move,
            has_uidplus,
            has_idle,
        } = self;
        let unsolicited = session.unsolicited_responses.clone();
        // Reports from the last pass's commands are stale: that pass has looked already,
        // except for mail that arrived during it, which `new_mail_reported` checked.
        let mut handle = session.idle();
        within("IDLE", handle.init())
            .await?
            .context("starting IMAP IDLE")?;
        // Mail delivered between the last pass and the IDLE is reported as IDLE starts.
        let woken = if drain_exists(|| unsolicited.try_recv().ok()) {
            Woken::Changed
        } else {
            let (wait, interrupt) = handle.wait_with_timeout(IDLE_SILENCE);
            let woken = tokio::select! {
                r = timeout(renew, wait) => match r {
                    Err(_) => Woken::Renew,
                    Ok(Ok(IdleResponse::NewData(_))) => Woken::Changed,
                    Ok(Ok(IdleResponse::Timeout)) => {
                        bail!("the IMAP server was silent for {IDLE_SILENCE:?} during IDLE")
                    }
                    Ok(Ok(IdleResponse::ManualInterrupt)) => {
                        bail!("the IMAP server closed the connection during IDLE")
                    }
                    Ok(Err(e)) => return Err(e).context("IMAP IDLE"),
                },
                _ = stop => Woken::Stopped,
            };
            drop(interrupt);
            woken
        };
        let session = within("DONE", handle.done())
            .await?
            .context("ending IMAP IDLE")?;
        Ok((
            Imap {
                session,
                has_move,
                has_uidplus,
                has_idle,
            },
            woken,
        ))
    }

    /// Selects the mailbox; returns its UIDVALIDITY and how many messages it holds.
    pub async fn select(&mut self, mailbox: &str) -> Result<(u32, u32)> {
        let mb = within("SELECT", self.session.select(mailbox))
            .await?
            .map_err(|e| anyhow!("selecting IMAP mailbox {mailbox:?}: {}", server_said(&e)))?;
        let validity = mb
            .uid_validity
            .ok_or_else(|| anyhow!("the server gave no UIDVALIDITY for {mailbox:?}"))?;
        Ok((validity, mb.exists))
    }

    /// Size and arrival time of every message in the selected mailbox, by UID.
    pub async fn list(&mut self) -> Result<Vec<Meta>> {
        // Each response is turned into its 24-byte summary as it arrives: holding the
        // parsed responses of a 10,000-message mailbox took some 50 MiB.
        let mut metas: Vec<Meta> = within("FETCH", async {
            self.session
                .uid_fetch("1:*", "(UID RFC822.SIZE INTERNALDATE)")
                .await?
                .try_filter_map(|f| futures::future::ready(Ok(meta_of(&f))))
                .try_collect()
                .await
        })
        .await?
        .context("listing the mailbox")?;
        metas.sort_by_key(|m| m.uid);
        metas.dedup_by_key(|m| m.uid);
        Ok(metas)
    }

    /// Fetches the messages with these UIDs without marking them seen; only the header of
    /// each message in `header_only`.
    pub async fn fetch(&mut self, uids: &[u32], header_only: bool) -> Result<Vec<Fetched>> {
        if uids.is_empty() {
            return Ok(vec![]);
        }
        let query = if header_only {
            "(UID RFC822.SIZE INTERNALDATE BODY.PEEK[HEADER])"
        } else {
            "(UID RFC822.SIZE INTERNALDATE BODY.PEEK[])"
        };
        let set = uid_set(uids);
        // Copied out of each response as it arrives, so the parsed response is freed at
        // once rather than held beside its copy until the batch ends.
        let fetched = within("FETCH", async {
            self.session
                .uid_fetch(&set, query)
                .await?
                .try_filter_map(|f| {
                    let one = meta_of(&f).and_then(|meta| {
                        let raw = if header_only { f.header() } else { f.body() }?;
                        Some(Fetched {
                            meta,
                            raw: raw.to_vec(),
                        })
                    });
                    futures::future::ready(Ok(one))
                })
                .try_collect()
                .await
        })
        .await?
        .context("fetching messages")?;
        Ok(fetched)
    }

    /// Moves these messages to `folder`.
    pub async fn move_to(&mut self, uids: &[u32], folder: &str) -> Result<()> {
        if uids.is_empty() {
            return Ok(());
        }
        let set = uid_set(uids);
        if self.has_move {
            within("MOVE", self.session.uid_mv(&set, folder))
                .await?
                .with_context(|| format!("moving messages to {folder:?}"))?;
            return Ok(());
        }
        within("COPY", self.session.uid_copy(&set, folder))
            .await?
            .with_context(|| format!("copying messages to {folder:?}"))?;
        within("STORE", async {
            self.session
                .uid_store(&set, "+FLAGS.SILENT (\\Deleted)")
                .await?
                .try_collect::<Vec<_>>()
                .await
        })
        .await?
        .context("flagging moved messages")?;
        if self.has_uidplus {
            within("EXPUNGE", async {
                self.session
                    .uid_expunge(&set)
                    .await?
                    .try_collect::<Vec<_>>()
                    .await
            })
            .await?
            .context("expunging moved messages")?;
        } else {
            bail!("the IMAP server has neither MOVE nor UIDPLUS: messages were copied to {folder:?} and flagged deleted, but not expunged");
        }
        Ok(())
    }

    pub async fn logout(mut self) {
        let _ = within("LOGOUT", self.session.logout()).await;
    }
}

fn trust_context(cfg: &ImapConfig) -> String {
    format!(
        "IMAP server {}:{}, its certificate checked against {}",
        cfg.host,
        cfg.port,
        tls::trusted(cfg.ca_file.as_deref())
    )
}

/// The server's own words from a NO or BAD answer (async-imap keeps them inside a
/// debug dump), or the error as it is.
fn server_said(e: &async_imap::error::Error) -> String {
    use async_imap::error::Error;
    match e {
        Error::No(text) | Error::Bad(text) => {
            let said = text
                .split_once("Some(\"")
                .and_then(|(_, rest)| rest.rsplit_once("\")"))
                .map(|(said, _)| said.replace("\\\"", "\""));
            said.unwrap_or_else(|| text.clone())
        }
        other => other.to_string(),
    }
}

/// Empties a queue of unsolicited responses (`next` pops one); true if any said new mail.
fn drain_exists(mut next: impl FnMut() -> Option<UnsolicitedResponse>) -> bool {
    let mut seen = false;
    while let Some(r) = next() {
        seen |= matches!(
            r,
            UnsolicitedResponse::Exists(_) | UnsolicitedResponse::Recent(_)
        );
    }
    seen
}

async fn read_greeting<T>(client: &mut Client<T>) -> Result<()>
where
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + std::fmt::Debug + Send,
{
    within("greeting", client.read_response())
        .await?
        .context("reading the IMAP greeting")?
        .ok_or_else(|| anyhow!("the IMAP server closed the connection before greeting"))?;
    Ok(())
}

fn meta_of(f: &async_imap::types::Fetch) -> Option<Meta> {
    Some(Meta {
        uid: f.uid?,
        size: u64::from(f.size.unwrap_or(0)),
        received_at: f.internal_date()?.with_timezone(&Utc),
    })
}

/// `1:3,5,7:9` from a sorted or unsorted list of UIDs.
pub fn uid_set(uids: &[u32]) -> String {
    let mut sorted = uids.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    let mut out = String::new();
    let mut i = 0;
    while i < sorted.len() {
        let start = sorted[i];
        let mut end = start;
        while i + 1 < sorted.len() && sorted[i + 1] == end + 1 {
            i += 1;
            end = sorted[i];
        }
        if !out.is_empty() {
            out.push(',');
        }
        if start == end {
            out.push_str(&start.to_string());
        } else {
            out.push_str(&format!("{start}:{end}"));
        }
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::{server_said, uid_set};

    #[test]
    fn the_servers_words_are_taken_out_of_the_debug_dump() {
        use async_imap::error::Error;
        let no = Error::No(
            "code: None, info: Some(\"[AUTHENTICATIONFAILED] Authentication failed.\")".into(),
        );
        assert_eq!(
            server_said(&no),
            "[AUTHENTICATIONFAILED] Authentication failed."
        );
        let odd = Error::Bad("something else".into());
        assert_eq!(server_said(&odd), "something else");
    }

    #[test]
    fn uid_set_compresses_runs() {
        assert_eq!(uid_set(&[5, 1, 2, 3, 9, 7, 8]), "1:3,5,7:9");
        assert_eq!(uid_set(&[4]), "4");
        assert_eq!(uid_set(&[2, 2]), "2");
    }
}
