//! What every request of the portal shares: the running daemon's store, pipeline and
//! outbox (through `Desk`), the signer of its tokens and its rate limits.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use crate::config::{Limit, WebConfig};
use crate::pipeline::Pipeline;
use crate::store::Store;

use super::guard::{Limiter, Signer, Window};

/// Keys the rate limits remember: a flood from many addresses cannot grow memory.
const MAX_LIMITED_KEYS: usize = 20_000;
/// Submissions waiting for the store on blocking threads at once: the store takes one at
/// a time anyway, and a flood must not spawn a thread (and its memory) per request.
const STORE_SLOTS: usize = 4;

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
    pub(super) cfg: WebConfig,
    pub(super) desk: Arc<dyn Desk>,
    pub(super) signer: Signer,
    pub(super) per_ip: Limiter,
    pub(super) per_address: Limiter,
    pub(super) store_slots: tokio::sync::Semaphore,
}

impl Portal {
    /// `secret` signs the form's tokens and the confirmation links (kept in the store,
    /// so both outlive a restart).
    pub fn new(cfg: WebConfig, desk: Arc<dyn Desk>, secret: &str) -> Portal {
        let window = |l: Limit| Window {
            limit: l.count,
            span: l.window,
        };
        Portal {
            per_ip: Limiter::new(window(cfg.per_ip), MAX_LIMITED_KEYS),
            per_address: Limiter::new(window(cfg.per_address), MAX_LIMITED_KEYS),
            signer: Signer::new(secret.as_bytes()),
            store_slots: tokio::sync::Semaphore::new(STORE_SLOTS),
            cfg,
            desk,
        }
    }
}

/// The address the connection came from.
#[derive(Clone, Copy, Debug)]
pub struct Peer(pub SocketAddr);
