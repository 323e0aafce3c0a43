//! The portal's form, "Assistenza Primo Livello": the procedure's first channel. An HTTP
//! listener inside the daemon turns a submission into the core's inbound message and
//! hands it to the same pipeline as email, so it opens the same tickets by the same rules
//! in the same one transaction. This file is the server: the listener, its limits on
//! connections, headers and time, and what the routes share; `routes` answers requests,
//! `form` reads and checks a submission, `guard` holds the defences against bots.

pub mod form;
pub mod guard;
mod routes;

use std::collections::HashMap;
use std::future::{poll_fn, Future};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::{Notify, Semaphore};
use tower::ServiceExt;

use crate::config::WebConfig;
use crate::pipeline::Pipeline;
use crate::store::Store;

use guard::{Limiter, Signer, Window};

/// Connections served at once. When every one is taken, the one waiting longest for a
/// request is cut to make room; when every one is in a request, newcomers wait.
const MAX_CONNECTIONS: usize = 256;
/// The request line and headers together.
const MAX_HEADER_BYTES: usize = 16 * 1024;
/// How long a refused upload is read and dropped before its connection closes.
const LINGER: Duration = Duration::from_secs(2);
/// Keys the rate limits remember: a flood from many addresses cannot grow memory.
const MAX_LIMITED_KEYS: usize = 50_000;

/// What the portal needs of the running daemon.
pub trait Desk: Send + Sync + 'static {
    /// The pipeline in force (rebuilt on SIGHUP).
    fn pipeline(&self) -> Arc<Pipeline>;
    /// The daemon's one store connection.
    fn store(&self) -> Arc<Mutex<Store>>;
    /// Mail was queued: the outbox should look now.
    fn queued(&self);
}

/// What every request of the portal shares.
pub struct Portal {
    cfg: WebConfig,
    desk: Arc<dyn Desk>,
    signer: Signer,
    per_ip: Limiter,
    per_address: Limiter,
}

impl Portal {
    /// `secret` signs the form's tokens and the confirmation links (kept in the store,
    /// so both outlive a restart).
    pub fn new(cfg: WebConfig, desk: Arc<dyn Desk>, secret: &str) -> Portal {
        let window = |l: crate::config::Limit| Window {
            limit: l.count,
            span: l.window,
        };
        Portal {
            per_ip: Limiter::new(window(cfg.per_ip), MAX_LIMITED_KEYS),
            per_address: Limiter::new(window(cfg.per_address), MAX_LIMITED_KEYS),
            signer: Signer::new(secret.as_bytes()),
            cfg,
            desk,
        }
    }
}

/// Binds the form's address (`check` binds it too, to see that it can).
pub async fn bind(cfg: &WebConfig) -> Result<TcpListener> {
    TcpListener::bind(cfg.listen)
        .await
        .with_context(|| format!("listening on {} (web.listen)", cfg.listen))
}

/// Serves the portal on `listener` until `stop` resolves; then lets the requests in hand
/// finish for a few seconds.
pub async fn serve(
    listener: TcpListener,
    portal: Arc<Portal>,
    stop: impl Future<Output = ()>,
) -> Result<()> {
    let router = routes::router(Arc::clone(&portal));
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    // Set when stopping: each connection then finishes the request in hand, if any, and
    // closes; an idle one (a browser's kept alive) closes at once instead of holding the
    // shutdown until its timeout.
    let (closing, _) = tokio::sync::watch::channel(false);
    let open = Arc::new(Mutex::new(Open::default()));
    tracing::info!(listen = %portal.cfg.listen, "portal form listening");
    tokio::pin!(stop);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors, say: wait, do not spin.
                    tracing::warn!("portal: accepting a connection failed: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = &mut stop => break,
        };
        let permit = match Arc::clone(&slots).try_acquire_owned() {
            Ok(permit) => permit,
            Err(_) => {
                // Every slot is taken: slow clients that hold connections without ever
                // finishing a request must not lock out the one that just came.
                if !lock(&open).cut_longest_waiting() {
                    tracing::debug!("portal: every connection is in a request; the new one waits");
                }
                tokio::select! {
                    p = Arc::clone(&slots).acquire_owned() => p.context("connection slots closed")?,
                    _ = &mut stop => break,
                }
            }
        };
        let requests = Arc::new(AtomicUsize::new(0));
        let cut = Arc::new(Notify::new());
        let id = lock(&open).add(Arc::clone(&requests), Arc::clone(&cut));
        let router = router.clone().layer(axum::Extension(Peer(peer)));
        // Set when a request was refused before its body was read.
        let unread = Arc::new(AtomicBool::new(false));
        let refused = Arc::clone(&unread);
        let service = TowerToHyperService::new(tower::service_fn(
            move |request: hyper::Request<hyper::body::Incoming>| {
                let in_request = InRequest::enter(&requests);
                let router = router.clone();
                let refused = Arc::clone(&refused);
                Box::pin(async move {
                    let _in_request = in_request;
                    let response = router.oneshot(request).await;
                    if let Ok(r) = &response {
                        if r.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                            refused.store(true, Ordering::SeqCst);
                        }
                    }
                    response
                })
            },
        ));
        // A refused upload is drained up to twice the limit: one a little over it is read
        // to its end, and the client sees the answer.
        let linger_bytes = portal.cfg.max_upload_bytes.saturating_mul(2);
        let timeout = portal.cfg.timeout;
        let mut stopping = closing.subscribe();
        let open = Arc::clone(&open);
        tokio::spawn(async move {
            let _permit = permit;
            let mut http = hyper::server::conn::http1::Builder::new();
            http.timer(TokioTimer::new())
                .header_read_timeout(timeout)
                .max_buf_size(MAX_HEADER_BYTES.max(8192))
                .keep_alive(true);
            let mut conn = http.serve_connection(TokioIo::new(stream), service);
            // Done without closing the socket, so that a refused upload can linger.
            let served = async {
                tokio::select! {
                    done = poll_fn(|cx| conn.poll_without_shutdown(cx)) => return done.is_ok(),
                    _ = stopping.wait_for(|stop| *stop) => {}
                }
                Pin::new(&mut conn).graceful_shutdown();
                poll_fn(|cx| conn.poll_without_shutdown(cx)).await.is_ok()
            };
            let finished = tokio::select! {
                // A client that dawdles past the limit loses the connection, whatever it sends.
                done = tokio::time::timeout(timeout * 4, served) => done.unwrap_or_else(|_| {
                    tracing::debug!(%peer, "portal: connection cut after {:?}", timeout * 4);
                    false
                }),
                _ = cut.notified() => {
                    tracing::debug!(%peer, "portal: connection waiting for a request cut to make room");
                    false
                }
            };
            if finished && unread.load(Ordering::SeqCst) && !*stopping.borrow() {
                // Still in the table: a newcomer needing the slot may cut it short.
                let stream = conn.into_parts().io.into_inner();
                tokio::select! {
                    _ = linger(stream, linger_bytes) => {}
                    _ = cut.notified() => {}
                }
            }
            lock(&open).conns.remove(&id);
        });
    }
    closing.send_replace(true);
    let _ = TokioExecutor::new();
    let drained = tokio::time::timeout(
        Duration::from_secs(5),
        slots.acquire_many(MAX_CONNECTIONS as u32),
    );
    let _ = drained.await;
    Ok(())
}

/// The answer to a request refused before its body was read (413) is sent: read and drop
/// what the client still sends, for a while and up to `max_bytes`, before closing.
/// Closed with its data unread, the connection would be reset, and a client still
/// sending (a browser uploading) would often lose the answer with it and show
/// "connection reset" instead of the page saying what was too large. The write side
/// stays open meanwhile: a client that sees it closed may stop sending and give up on
/// the answer too.
async fn linger(mut stream: tokio::net::TcpStream, max_bytes: u64) {
    use tokio::io::AsyncReadExt;
    let mut buf = vec![0u8; 16 * 1024];
    let mut left = max_bytes;
    let drain = async {
        while left > 0 {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => left = left.saturating_sub(n as u64),
            }
        }
    };
    let _ = tokio::time::timeout(LINGER, drain).await;
}

/// The connections being served, so that a newcomer finding every slot taken can make
/// room: the connection open longest among those not in a request (sending its headers
/// slowly, or idle between requests) is cut. A client holding connections without
/// finishing a request (slowloris) thus loses them to clients that do, instead of every
/// newcomer waiting in the backlog until the header timeout frees a slot.
#[derive(Default)]
struct Open {
    next: u64,
    conns: HashMap<u64, Conn>,
}

struct Conn {
    since: Instant,
    /// Requests being answered on it now.
    requests: Arc<AtomicUsize>,
    cut: Arc<Notify>,
}

impl Open {
    fn add(&mut self, requests: Arc<AtomicUsize>, cut: Arc<Notify>) -> u64 {
        self.next += 1;
        let conn = Conn {
            since: Instant::now(),
            requests,
            cut,
        };
        self.conns.insert(self.next, conn);
        self.next
    }

    /// Cuts the connection open longest that is not in a request; false when all are.
    fn cut_longest_waiting(&mut self) -> bool {
        let longest = self
            .conns
            .iter()
            .filter(|(_, c)| c.requests.load(Ordering::SeqCst) == 0)
            .min_by_key(|(_, c)| c.since)
            .map(|(id, _)| *id);
        match longest.and_then(|id| self.conns.remove(&id)) {
            Some(conn) => {
                // Stored if the task is not waiting yet: it is cut when it does.
                conn.cut.notify_one();
                true
            }
            None => false,
        }
    }
}

fn lock(open: &Mutex<Open>) -> MutexGuard<'_, Open> {
    // A panic elsewhere leaves at worst a stale entry: keep serving.
    open.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Counts a request on its connection while it is being answered.
struct InRequest(Arc<AtomicUsize>);

impl InRequest {
    fn enter(requests: &Arc<AtomicUsize>) -> InRequest {
        requests.fetch_add(1, Ordering::SeqCst);
        InRequest(Arc::clone(requests))
    }
}

impl Drop for InRequest {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The address the connection came from.
#[derive(Clone, Copy, Debug)]
pub struct Peer(pub SocketAddr);
