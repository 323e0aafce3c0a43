//! The portal's form inside the daemon: it shares the daemon's store, the pipeline in
//! force and the outbox's wake-up, and stops with the other tasks.

use std::sync::{Arc, Mutex};

use anyhow::Result;
use tokio::task::JoinHandle;

use crate::pipeline::Pipeline;
use crate::store::Store;
use crate::web::{self, Desk, Portal};

use super::{Daemon, Shutdown};

impl Desk for Daemon {
    fn pipeline(&self) -> Arc<Pipeline> {
        Daemon::pipeline(self)
    }

    fn store(&self) -> Arc<Mutex<Store>> {
        Arc::clone(&self.store)
    }

    fn queued(&self) {
        self.outbox_wake.notify_one();
        // A new ticket has a first-contact deadline.
        self.scheduler_wake.notify_one();
    }
}

impl Daemon {
    /// Binds `[web] listen` and serves the form until shutdown; None without `[web]`.
    /// A port that cannot be bound fails the start, naming the key.
    pub(super) async fn start_portal(
        self: &Arc<Self>,
        shutdown: Shutdown,
    ) -> Result<Option<JoinHandle<()>>> {
        let Some(cfg) = self.cfg.web.clone() else {
            return Ok(None);
        };
        let listener = web::bind(&cfg).await?;
        let fresh = web::guard::random_hex(32).map_err(anyhow::Error::msg)?;
        let secret = self.with_store(move |_, s| s.web_secret(&fresh)).await?;
        let desk: Arc<dyn Desk> = Arc::clone(self) as Arc<dyn Desk>;
        let portal = Arc::new(Portal::new(cfg, desk, &secret));
        Ok(Some(tokio::spawn(async move {
            let stop = async move { shutdown.requested().await };
            if let Err(e) = web::serve(listener, portal, stop).await {
                tracing::error!("portal form stopped: {e:#}");
            }
        })))
    }
}
