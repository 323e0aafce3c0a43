//! The portal's form, "Assistenza Primo Livello": the procedure's first channel. An HTTP
//! listener inside the daemon turns a submission into the core's inbound message and
//! hands it to the same pipeline as email, so it opens the same tickets by the same rules
//! in the same one transaction. This file is the server: the listener and its limits on
//! connections, headers and time; `portal` is what the routes share, `routes` answers requests,
//! `form` reads and checks a submission, `guard` holds the defences against bots.

pub mod form;
pub mod guard;
mod portal;
mod routes;

pub use portal::{Desk, Peer, Portal};

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use crate::config::WebConfig;

/// Connections served at once; more wait in the kernel's backlog.
const MAX_CONNECTIONS: usize = 256;
/// How many `timeout`s a kept-alive connection may live.
const CONNECTION_LIFETIME: u32 = 10;
/// The request line and headers together.
const MAX_HEADER_BYTES: usize = 16 * 1024;

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
    tracing::info!(listen = %portal.cfg.listen, "portal form listening");
    tokio::pin!(stop);
    loop {
        let permit = tokio::select! {
            p = Arc::clone(&slots).acquire_owned() => p.context("connection slots closed")?,
            _ = &mut stop => break,
        };
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
        let service = TowerToHyperService::new(router.clone().layer(axum::Extension(Peer(peer))));
        let timeout = portal.cfg.timeout;
        tokio::spawn(async move {
            let _permit = permit;
            serve_connection(stream, service, timeout).await;
            tracing::trace!(%peer, "portal: connection closed");
        });
    }
    let drained = tokio::time::timeout(
        Duration::from_secs(5),
        slots.acquire_many(MAX_CONNECTIONS as u32),
    );
    let _ = drained.await;
    Ok(())
}

/// One connection: headers within `timeout` (a client dripping bytes is cut), bodies
/// within it too (the routes' timeout), and a kept-alive connection closed gracefully,
/// after the request in hand, once it has lived `CONNECTION_LIFETIME` timeouts, so that
/// idle connections cannot keep the slots.
async fn serve_connection<S>(stream: tokio::net::TcpStream, service: S, timeout: Duration)
where
    S: hyper::service::Service<
            hyper::Request<hyper::body::Incoming>,
            Response = axum::response::Response,
        > + Send,
    S::Future: Send + 'static,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(timeout)
        .max_buf_size(MAX_HEADER_BYTES.max(8192))
        .keep_alive(true);
    let conn = http.serve_connection(TokioIo::new(stream), service);
    tokio::pin!(conn);
    tokio::select! {
        _ = conn.as_mut() => return,
        _ = tokio::time::sleep(timeout * CONNECTION_LIFETIME) => {}
    }
    conn.as_mut().graceful_shutdown();
    let _ = tokio::time::timeout(timeout, conn).await;
}
