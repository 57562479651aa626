//! Serving on an already-bound listener until a shutdown future resolves,
//! then draining in-flight requests for at most the configured grace, after
//! which they are ended (503, or an error event for streams).

use std::future::{Future, IntoFuture};
use std::sync::Arc;
use std::time::Duration;

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
        tracing::warn!("in-flight requests still running after {grace:?}; ending them");
        gateway.abort_in_flight();
    };
    let mut serve = std::pin::pin!(serve.into_future());
    tokio::select! {
        result = &mut serve => return result,
        () = grace_over => {}
    }
    // Aborted requests end at once; give their last bytes a moment to leave.
    match tokio::time::timeout(Duration::from_secs(1), serve).await {
        Ok(result) => result,
        Err(_) => Ok(()),
    }
}
