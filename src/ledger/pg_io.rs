//! The connection to a shared store, bounded: `tokio-postgres` makes room
//! for each message the server says is coming before it comes, so a
//! server (or whatever answers at its address: the connection is not
//! encrypted) that says a message of 2 GB is coming would have it buffered
//! as fast as it sends. Here the socket is opened as `tokio-postgres`
//! would open it, and each message's length is read as it passes: one past
//! [`MOST_MESSAGE_BYTES`] ends the connection, as an I/O error.

use std::io;
use std::net::IpAddr;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_postgres::config::{Host, LoadBalanceHosts, TargetSessionAttrs};
use tokio_postgres::{Client, Config, NoTls, SimpleQueryMessage};

/// The most one message from the server may hold: a row of the ledger,
/// a report's row, a notice or an error is a few KB.
pub(super) const MOST_MESSAGE_BYTES: usize = 1 << 20;

/// Why a connection was not made.
#[derive(Debug, thiserror::Error)]
pub(super) enum ConnectError {
    /// The socket could not be opened (no secret in it: an address and
    /// the system's word).
    #[error("{0}")]
    Io(io::Error),
    /// The server's, or the protocol's.
    #[error(transparent)]
    Postgres(#[from] tokio_postgres::Error),
}

/// The socket of a connection, TCP or a Unix socket.
pub(super) trait Socket: AsyncRead + AsyncWrite + Unpin + Send {}
impl<S: AsyncRead + AsyncWrite + Unpin + Send> Socket for S {}

/// Connects as `config.connect(NoTls)` does: each host in turn (at its
/// `hostaddr` where one is given; in a random order with
/// `load_balance_hosts=random`), each within `connect_timeout`, with TCP
/// keepalives as the URL sets them, the next host tried on any failure and
/// on a read-only server where `target_session_attrs=read-write` asks;
/// over a socket whose messages are bounded. The connection's I/O runs on
/// a task of the current runtime, and ends when the client is dropped.
pub(super) async fn connect(config: &Config) -> Result<Client, ConnectError> {
    let (hosts, addresses, ports) = (
        config.get_hosts(),
        config.get_hostaddrs(),
        config.get_ports(),
    );
    let count = hosts.len().max(addresses.len());
    let invalid = |what: &str| ConnectError::Io(io::Error::new(io::ErrorKind::InvalidInput, what));
    if !hosts.is_empty() && !addresses.is_empty() && hosts.len() != addresses.len() {
        return Err(invalid("as many hostaddr as host are needed"));
    }
    if ports.len() > 1 && ports.len() != count {
        return Err(invalid("one port, or one per host, is needed"));
    }
    let mut order: Vec<usize> = (0..count).collect();
    if config.get_load_balance_hosts() == LoadBalanceHosts::Random {
        fastrand::shuffle(&mut order);
    }
    let mut last = invalid("no host to connect to");
    for at in order {
        let port = ports.get(at).or(ports.first()).copied().unwrap_or(5432);
        let opened = open(config, hosts.get(at), addresses.get(at).copied(), port);
        let socket = match config.get_connect_timeout() {
            Some(limit) => (tokio::time::timeout(*limit, opened).await).unwrap_or_else(|_| {
                Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("no connection within {} s", limit.as_secs_f64()),
                ))
            }),
            None => opened.await,
        };
        let socket = match socket {
            Ok(socket) => socket,
            Err(error) => {
                last = ConnectError::Io(error);
                continue;
            }
        };
        let (client, connection) = match config
            .connect_raw(BoundedMessages::new(socket), NoTls)
            .await
        {
            Ok(connected) => connected,
            Err(error) => {
                last = ConnectError::Postgres(error);
                continue;
            }
        };
        tokio::spawn(async move {
            let _ = connection.await;
        });
        if config.get_target_session_attrs() == TargetSessionAttrs::ReadWrite {
            match read_only(&client).await {
                Ok(false) => {}
                Ok(true) => {
                    last = invalid("the server is read-only (target_session_attrs=read-write)");
                    continue;
                }
                Err(error) => {
                    last = ConnectError::Postgres(error);
                    continue;
                }
            }
        }
        return Ok(client);
    }
    Err(last)
}

/// Whether the server takes no writes.
async fn read_only(client: &Client) -> Result<bool, tokio_postgres::Error> {
    let rows = client.simple_query("SHOW transaction_read_only").await?;
    Ok(rows
        .iter()
        .any(|row| matches!(row, SimpleQueryMessage::Row(row) if row.get(0) == Some("on"))))
}

/// The socket to one host: TCP to its address, else to its name (with
/// the URL's keepalives), or its Unix socket.
async fn open(
    config: &Config,
    host: Option<&Host>,
    address: Option<IpAddr>,
    port: u16,
) -> io::Result<Box<dyn Socket>> {
    let named = |place: String| {
        move |error: io::Error| {
            io::Error::new(error.kind(), format!("cannot reach {place}: {error}"))
        }
    };
    let tcp = |stream: TcpStream| -> io::Result<Box<dyn Socket>> {
        stream.set_nodelay(true)?;
        if config.get_keepalives() {
            let keepalive = socket2::TcpKeepalive::new().with_time(config.get_keepalives_idle());
            socket2::SockRef::from(&stream).set_tcp_keepalive(&keepalive)?;
        }
        Ok(Box::new(stream))
    };
    match (host, address) {
        (_, Some(address)) => (TcpStream::connect((address, port)).await)
            .map_err(named(format!("{address}:{port}")))
            .and_then(tcp),
        (Some(Host::Tcp(name)), None) => (TcpStream::connect((name.as_str(), port)).await)
            .map_err(named(format!("{name}:{port}")))
            .and_then(tcp),
        (Some(Host::Unix(dir)), None) => {
            let path = dir.join(format!(".s.PGSQL.{port}"));
            let stream = tokio::net::UnixStream::connect(&path).await;
            let stream = stream.map_err(named(path.display().to_string()))?;
            Ok(Box::new(stream))
        }
        (None, None) => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "no host to connect to",
        )),
    }
}

/// `inner`, whose server messages (a type byte, a length that counts
/// itself, the body) are read past as they come. (No `SSLRequest` is
/// written, whose answer is a byte alone: the connection has no TLS, and
/// `sslmode` is `disable` or `prefer`.)
pub(super) struct BoundedMessages<S> {
    inner: S,
    /// The header of the message being read, and how much of it came.
    header: [u8; 5],
    have: usize,
    /// The body bytes of the message being read still to come.
    left: usize,
}

impl<S> BoundedMessages<S> {
    pub(super) fn new(inner: S) -> Self {
        Self {
            inner,
            header: [0; 5],
            have: 0,
            left: 0,
        }
    }

    /// Reads past `bytes`, fresh from the server: an error for a
    /// message longer than the bound.
    fn pass(&mut self, mut bytes: &[u8]) -> io::Result<()> {
        while !bytes.is_empty() {
            if self.left > 0 {
                let body = self.left.min(bytes.len());
                self.left -= body;
                bytes = &bytes[body..];
            } else {
                let take = (self.header.len() - self.have).min(bytes.len());
                self.header[self.have..self.have + take].copy_from_slice(&bytes[..take]);
                self.have += take;
                bytes = &bytes[take..];
                if self.have == self.header.len() {
                    self.have = 0;
                    let length = u32::from_be_bytes(self.header[1..].try_into().expect("4 bytes"));
                    let body = (length as usize).checked_sub(4);
                    match body {
                        Some(body) if body <= MOST_MESSAGE_BYTES => self.left = body,
                        _ => {
                            return Err(io::Error::new(
                                io::ErrorKind::InvalidData,
                                format!(
                                    "the server sent a message of {length} bytes, more than the {MOST_MESSAGE_BYTES} one may hold"
                                ),
                            ));
                        }
                    }
                }
            }
        }
        Ok(())
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for BoundedMessages<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = polled {
            this.pass(&buf.filled()[before..])?;
        }
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for BoundedMessages<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Messages as a server sends them: a type byte, then a length that
    /// counts itself and the body.
    fn message(kind: u8, body: &[u8]) -> Vec<u8> {
        let mut out = vec![kind];
        out.extend(((body.len() + 4) as u32).to_be_bytes());
        out.extend(body);
        out
    }

    #[test]
    fn messages_within_the_bound_pass_however_they_are_cut() {
        let stream = [
            message(b'R', &[0, 0, 0, 0]),
            message(b'S', b"server_version\x0016\x00"),
            message(b'D', &vec![7; MOST_MESSAGE_BYTES]),
            message(b'Z', b"I"),
        ]
        .concat();
        for cut in [1, 2, 3, 5, 7, 4096, stream.len()] {
            let mut bounded = BoundedMessages::new(());
            for piece in stream.chunks(cut) {
                bounded.pass(piece).unwrap();
            }
            assert_eq!((bounded.have, bounded.left), (0, 0), "{cut}");
        }
    }

    #[test]
    fn a_message_past_the_bound_or_of_no_length_ends_the_connection() {
        for length in [(MOST_MESSAGE_BYTES + 5) as u32, 0x7fff_fff0, 3] {
            let mut header = vec![b'R'];
            header.extend(length.to_be_bytes());
            let mut bounded = BoundedMessages::new(());
            bounded.pass(&message(b'Z', b"I")).unwrap();
            let error = bounded.pass(&header).unwrap_err();
            assert_eq!(error.kind(), io::ErrorKind::InvalidData, "{length}");
        }
    }
}
