//! SIGTERM (systemd stop) and SIGINT (Ctrl-C) both ask for a graceful shutdown.

/// Resolves when the process is asked to stop.
pub async fn wait_for_shutdown() {
    use tokio::signal::unix::{signal, SignalKind};
    match (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) {
        (Ok(mut term), Ok(mut int)) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
        }
        _ => {
            // Without signal handlers we can still stop on Ctrl-C.
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
