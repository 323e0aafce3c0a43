//! The portal's form, "Assistenza Primo Livello": the procedure's first channel. An HTTP
//! listener inside the daemon turns a submission into the core's inbound message and
//! hands it to the same pipeline as email, so it opens the same tickets by the same rules
//! in the same one transaction. This file is the listener; `connections` serves each
//! connection within its limits of headers, time and slots; `portal` is what the routes
//! share, `routes` answers requests, `form` reads and checks a submission, `guard` holds
//! the defences against bots.

mod connections;
pub mod form;
pub mod guard;
mod portal;
mod routes;

pub use portal::{Desk, Peer, Portal};

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use crate::config::WebConfig;

use connections::{lock, Limits, Open};

/// Connections served at once. When every one is taken, the one waiting longest for a
/// request is cut to make room; when every one is in a request, newcomers wait.
const MAX_CONNECTIONS: usize = 256;

/// Binds the form's address (`check` binds it too, to see that it can).
pub async fn bind(cfg: &WebConfig) -> Result<TcpListener> {
    TcpListener::bind(cfg.listen)
        .await
        .with_context(|| format!("listening on {} (web.listen)", cfg.listen))
}

/// Serves the portal on `listener` until `stop` resolves; then each connection finishes
/// the request in hand, if any, and closes (an idle one at once), within a few seconds.
pub async fn serve(
    listener: TcpListener,
    portal: Arc<Portal>,
    stop: impl Future<Output = ()>,
) -> Result<()> {
    let router = routes::router(Arc::clone(&portal));
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let (closing, _) = tokio::sync::watch::channel(false);
    let open = Arc::new(Mutex::new(Open::default()));
    let limits = Limits {
        timeout: portal.cfg.timeout,
        linger_bytes: portal.cfg.max_upload_bytes.saturating_mul(2),
    };
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
        let router = router.clone().layer(axum::Extension(Peer(peer)));
        let (open, stopping) = (Arc::clone(&open), closing.subscribe());
        tokio::spawn(async move {
            let _permit = permit;
            connections::serve(stream, peer, router, open, stopping, limits).await;
        });
    }
    closing.send_replace(true);
    let drained = tokio::time::timeout(
        Duration::from_secs(5),
        slots.acquire_many(MAX_CONNECTIONS as u32),
    );
    let _ = drained.await;
    Ok(())
}
