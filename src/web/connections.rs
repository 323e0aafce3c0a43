//! One connection of the portal, served within its limits: headers within the timeout (a
//! client dripping bytes is cut), bodies within it too (the routes' timeout), a
//! kept-alive connection closed gracefully after a while so idle ones cannot keep the
//! slots, a refused upload drained so its client sees the answer, and the table of open
//! connections that lets a newcomer cut one that is not in a request.

use std::collections::HashMap;
use std::future::poll_fn;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpStream;
use tokio::sync::{watch, Notify};
use tower::ServiceExt;

/// The request line and headers together.
const MAX_HEADER_BYTES: usize = 16 * 1024;
/// How many timeouts a kept-alive connection may live before it is closed gracefully.
const LIFETIME: u32 = 10;
/// How long a refused upload is read and dropped before its connection closes.
const LINGER: Duration = Duration::from_secs(2);

/// The limits every connection is served with.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub timeout: Duration,
    /// At most this much of a refused upload is read and dropped.
    pub linger_bytes: u64,
}

/// Serves one connection until it closes, is cut to make room, or the portal stops.
pub async fn serve(
    stream: TcpStream,
    peer: SocketAddr,
    router: Router,
    open: Arc<Mutex<Open>>,
    mut stopping: watch::Receiver<bool>,
    limits: Limits,
) {
    let requests = Arc::new(AtomicUsize::new(0));
    let cut = Arc::new(Notify::new());
    let id = lock(&open).add(Arc::clone(&requests), Arc::clone(&cut));
    // Set when a request was refused before its body was read.
    let unread = Arc::new(AtomicBool::new(false));
    let refused = Arc::clone(&unread);
    // Counts the requests in hand on this connection, and notes a 413 (body unread).
    let service = TowerToHyperService::new(tower::service_fn(
        move |request: hyper::Request<hyper::body::Incoming>| {
            let in_request = InRequest::enter(&requests);
            let (router, refused) = (router.clone(), Arc::clone(&refused));
            // Boxed: the connection must be Unpin to be polled without shutting down.
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
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.timeout)
        .max_buf_size(MAX_HEADER_BYTES.max(8192))
        .keep_alive(true);
    let mut conn = http.serve_connection(TokioIo::new(stream), service);
    // Done without closing the socket, so that a refused upload can linger.
    let served = async {
        tokio::select! {
            done = poll_fn(|cx| conn.poll_without_shutdown(cx)) => return done.is_ok(),
            _ = stopping.wait_for(|stop| *stop) => {}
            _ = tokio::time::sleep(limits.timeout * LIFETIME) => {}
        }
        // The request in hand, if any, is answered; then the connection closes.
        Pin::new(&mut conn).graceful_shutdown();
        let rest = poll_fn(|cx| conn.poll_without_shutdown(cx));
        matches!(tokio::time::timeout(limits.timeout, rest).await, Ok(Ok(())))
    };
    let finished = tokio::select! {
        done = served => done,
        _ = cut.notified() => {
            tracing::debug!(%peer, "portal: connection waiting for a request cut to make room");
            false
        }
    };
    if finished && unread.load(Ordering::SeqCst) && !*stopping.borrow() {
        // Still in the table: a newcomer needing the slot may cut it short.
        let stream = conn.into_parts().io.into_inner();
        tokio::select! {
            _ = linger(stream, limits.linger_bytes) => {}
            _ = cut.notified() => {}
        }
    }
    lock(&open).conns.remove(&id);
}

/// The answer to a request refused before its body was read (413) is sent: read and drop
/// what the client still sends, for a while and up to `max_bytes`, before closing.
/// Closed with its data unread, the connection would be reset, and a client still
/// sending (a browser uploading) would often lose the answer with it and show
/// "connection reset" instead of the page saying what was too large. The write side
/// stays open meanwhile: a client that sees it closed may stop sending and give up on
/// the answer too.
async fn linger(mut stream: TcpStream, max_bytes: u64) {
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
pub struct Open {
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
    pub fn cut_longest_waiting(&mut self) -> bool {
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

pub fn lock(open: &Mutex<Open>) -> MutexGuard<'_, Open> {
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
