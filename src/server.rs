//! Serving on an already-bound listener until a shutdown future resolves,
//! then draining in-flight requests for at most the configured grace.

use std::future::Future;
use std::sync::Arc;

use axum::serve::ListenerExt;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::gateway::Gateway;
use crate::http;

pub async fn run(
    listener: TcpListener,
    gateway: Arc<Gateway>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let (stopping_tx, mut stopping) = watch::channel(false);
    let app = http::app(gateway.clone());
    // Streams are many small writes; without TCP_NODELAY each waits for the
    // client's delayed ACK (~40 ms a chunk on Linux).
    let listener = listener.tap_io(|tcp| {
        if let Err(err) = tcp.set_nodelay(true) {
            tracing::debug!("cannot set TCP_NODELAY: {err}");
        }
    });
    let serve = axum::serve(listener, app).with_graceful_shutdown(async move {
        shutdown.await;
        let _ = stopping_tx.send(true);
    });
    let grace_over = async move {
        if stopping.wait_for(|stop| *stop).await.is_err() {
            // The server ended on its own; nothing to bound.
            return std::future::pending().await;
        }
        let grace = gateway.config().gateway.shutdown_grace;
        tokio::time::sleep(grace).await;
        grace
    };
    tokio::select! {
        result = serve => result,
        grace = grace_over => {
            tracing::warn!("in-flight requests still running after {grace:?}; closing them");
            Ok(())
        }
    }
}
