//! Serving on an already-bound listener until a shutdown future resolves,
//! then draining in-flight requests for at most the configured grace, after
//! which they are ended (503, or an error event for streams); a second later,
//! what still runs (a client still sending its body) is cut, its access line
//! saying so (`end="shutdown"`).
//!
//! Everything a client can hold is bounded: the number of open connections
//! (accepting pauses at the cap; the listen backlog holds a burst), the time
//! to send a request's headers, which also bounds how long a kept-alive
//! connection may sit idle, (in `http/`) the time to send the body, and
//! the time a client may take nothing of what is written to it
//! ([`WriteDeadline`]: one that stops reading a stream would hold its
//! request's place, and its provider's, without end).
//! HTTP/1.1 only: every client in this space speaks it, and its timeouts are
//! the ones bounded here.

use std::future::Future;
use std::io::IoSlice;
use std::net::SocketAddr;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use crate::gateway::Gateway;
use crate::http;

/// Connections the kernel queues while the server is busy or at its cap.
/// Linux caps it at `net.core.somaxconn` (4096 by default since 5.4).
const LISTEN_BACKLOG: u32 = 4096;

/// The most of a request head (request line and headers) hyper buffers; the
/// router refuses heads over [`http::MAX_HEADER_BYTES`] with a JSON 431
/// before this hard limit is reached.
const MAX_HEAD_BUFFER: usize = 256 * 1024;

/// Binds `addr` with a listen backlog that absorbs bursts of clients.
pub fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
}

/// File descriptors the configured limits may need: one per client
/// connection, one per upstream connection, and a margin for the rest.
pub fn descriptors_needed(limits: &crate::config::Limits) -> u64 {
    (limits.max_connections + limits.max_concurrent_requests + 256) as u64
}

/// Raises the soft open-file limit towards the hard one (as Go and nginx
/// do), and returns a warning when even that is below `needed`.
pub fn raise_fd_limit(needed: u64) -> Option<String> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit only read and write the struct given.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return None;
    }
    if limit.rlim_cur < limit.rlim_max {
        let raised = libc::rlimit {
            rlim_cur: limit.rlim_max,
            rlim_max: limit.rlim_max,
        };
        // SAFETY: as above.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
            limit = raised;
        }
    }
    // `rlim_t` is not 64 bits on every platform.
    #[allow(clippy::unnecessary_cast)]
    let available = limit.rlim_cur as u64;
    (available < needed).then(|| {
        format!(
            "the open-file limit is {available}, below the {needed} that gateway.limits may need; \
             raise it (LimitNOFILE= in the unit, ulimit -n) or lower gateway.limits"
        )
    })
}

pub async fn run(
    listener: TcpListener,
    gateway: Arc<Gateway>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    run_until(listener, gateway, shutdown, std::future::pending()).await
}

/// [`run`], whose drain `hurry` cuts short (a second signal): what is
/// still in flight then ends as at the grace's end, each request told and
/// counted.
pub async fn run_until(
    listener: TcpListener,
    gateway: Arc<Gateway>,
    shutdown: impl Future<Output = ()> + Send + 'static,
    hurry: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = http::app(gateway.clone());
    // Connection-level limits are fixed for the listener's lifetime.
    let limits = gateway.config().gateway.limits;
    let header_timeout = gateway.config().gateway.timeouts.client_header;
    let write_timeout = gateway.config().gateway.timeouts.idle;
    let connections = Arc::new(Semaphore::new(limits.max_connections));
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout)
        .max_buf_size(MAX_HEAD_BUFFER)
        .keep_alive(true);
    let graceful = GracefulShutdown::new();
    // Cancelled a second after the grace: the connections still open close.
    let cut = CancellationToken::new();
    let mut shutdown = pin!(shutdown);

    loop {
        let permit = tokio::select! {
            permit = connections.clone().acquire_owned() => permit.expect("the semaphore is never closed"),
            () = &mut shutdown => break,
        };
        let (tcp, _peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    // Out of file descriptors or a client that left before
                    // the accept: wait a moment rather than spin.
                    tracing::warn!("accept failed: {err}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        // Streams are many small writes; without TCP_NODELAY each waits for
        // the client's delayed ACK (~40 ms a chunk on Linux).
        if let Err(err) = tcp.set_nodelay(true) {
            tracing::debug!("cannot set TCP_NODELAY: {err}");
        }
        let service = TowerToHyperService::new(app.clone());
        let tcp = WriteDeadline::new(tcp, write_timeout);
        let connection = graceful.watch(builder.serve_connection(TokioIo::new(tcp), service));
        let cut = cut.clone();
        tokio::spawn(async move {
            tokio::select! {
                ended = connection => if let Err(err) = ended {
                    tracing::debug!("connection ended: {err}");
                },
                () = cut.cancelled() => {}
            }
            drop(permit);
        });
    }

    // Stop accepting; let in-flight requests finish within the grace.
    drop(listener);
    let grace = gateway.config().gateway.shutdown_grace;
    let drained = tokio::select! {
        drained = tokio::time::timeout(grace, graceful.shutdown()) => {
            if drained.is_err() {
                tracing::warn!("in-flight requests still running after {grace:?}; ending them");
            }
            drained.is_ok()
        }
        () = hurry => {
            tracing::warn!("second signal: ending the in-flight requests now (a third stops at once)");
            false
        }
    };
    if !drained {
        gateway.abort_in_flight();
        // Aborted requests end at once; give their last bytes a moment to leave.
        let all = limits.max_connections as u32;
        let closed = tokio::time::timeout(Duration::from_secs(1), connections.acquire_many(all));
        if closed.await.is_err() {
            // What is left is not in the chain (a body still being sent):
            // its connection is closed, and each request's line written.
            cut.cancel();
            let _ =
                tokio::time::timeout(Duration::from_secs(1), connections.acquire_many(all)).await;
        }
    }
    Ok(())
}

/// A client's connection whose writes fail once the client has taken
/// nothing of them for `limit` (`gateway.timeouts.idleSeconds`): the
/// connection then closes, and with it the request's answer and its
/// provider's stream. A write that goes out, even in part, starts the
/// limit again.
struct WriteDeadline {
    tcp: TcpStream,
    limit: Duration,
    /// Since when the client has taken nothing, while it takes nothing.
    stalled: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl WriteDeadline {
    fn new(tcp: TcpStream, limit: Duration) -> Self {
        Self {
            tcp,
            limit,
            stalled: None,
        }
    }

    /// `poll`'s outcome, a write that cannot go on turned into an error
    /// once it has waited `limit`.
    fn within<T>(
        &mut self,
        cx: &mut Context<'_>,
        poll: Poll<std::io::Result<T>>,
    ) -> Poll<std::io::Result<T>> {
        if poll.is_ready() {
            self.stalled = None;
            return poll;
        }
        let limit = self.limit;
        let stalled = (self.stalled).get_or_insert_with(|| Box::pin(tokio::time::sleep(limit)));
        ready!(stalled.as_mut().poll(cx));
        Poll::Ready(Err(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            format!("the client read nothing for {limit:?} (gateway.timeouts.idleSeconds)"),
        )))
    }
}

impl AsyncRead for WriteDeadline {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.tcp).poll_read(cx, buf)
    }
}

impl AsyncWrite for WriteDeadline {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let poll = Pin::new(&mut self.tcp).poll_write(cx, buf);
        self.within(cx, poll)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let poll = Pin::new(&mut self.tcp).poll_write_vectored(cx, bufs);
        self.within(cx, poll)
    }

    fn is_write_vectored(&self) -> bool {
        self.tcp.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let poll = Pin::new(&mut self.tcp).poll_flush(cx);
        self.within(cx, poll)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.tcp).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_open_file_limit_is_raised_to_the_hard_limit() {
        assert_eq!(raise_fd_limit(1), None);
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit only writes the struct given.
        assert_eq!(
            unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) },
            0
        );
        assert_eq!(limit.rlim_cur, limit.rlim_max);
        let warning = raise_fd_limit(u64::MAX).expect("no system allows that many");
        assert!(warning.contains("LimitNOFILE="), "{warning}");
    }
}
