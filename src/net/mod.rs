//! The client side of the wire below HTTP semantics, shared by the REST clients (`gws::http`)
//! and the CometD transports: where to connect and how (source address, TLS), a minimal
//! HTTP/1.1 exchange with buffers sized to what is read (`http1`), and the shared rustls
//! configurations (`tls`). It knows neither GWS nor Bayeux.

pub(crate) mod chunk;
pub(crate) mod http1;
#[cfg(test)]
pub(crate) mod test_tls;
pub(crate) mod tls;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpSocket, TcpStream};
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::ClientConfig;
use tokio_rustls::rustls::pki_types::ServerName;

/// A socket for a connection to `address`, bound to `local` when given. The port of a bound
/// socket is chosen when it connects, not when it binds (Linux's `IP_BIND_ADDRESS_NO_PORT`):
/// `bind(addr, 0)` reserves a port that no other connection may share and must step over every
/// port still in TIME_WAIT, and a large run started right after another one has thousands of
/// those (15,000 long-polling agents: 18.6 s of system time against 2.4 s on a quiet machine),
/// while `connect` may reuse a port as long as the four-tuple is new.
fn socket_for(address: SocketAddr, local: Option<IpAddr>) -> std::io::Result<TcpSocket> {
    let socket = match address {
        SocketAddr::V4(_) => TcpSocket::new_v4()?,
        SocketAddr::V6(_) => TcpSocket::new_v6()?,
    };
    if let Some(local) = local {
        port_at_connect(&socket);
        socket.bind(SocketAddr::new(local, 0))?;
    }
    Ok(socket)
}

/// Best effort: where the option is missing (kernels before 4.2) bind chooses the port as
/// before.
#[cfg(target_os = "linux")]
fn port_at_connect(socket: &TcpSocket) {
    use nix::sys::socket::{setsockopt, sockopt::IpBindAddressNoPort};
    let _ = setsockopt(socket, IpBindAddressNoPort, &true);
}

#[cfg(not(target_os = "linux"))]
fn port_at_connect(_socket: &TcpSocket) {}

/// What can go wrong below HTTP semantics; each client maps it onto its own countable kinds.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NetError {
    /// The connection could not be made or failed: refused, reset, closed early, malformed.
    #[error("{0}")]
    Transport(String),
    /// A response body over the caller's limit, in bytes; it was not read further.
    #[error("body over {0} bytes")]
    Oversize(usize),
    /// The endpoint cannot work as configured (no host, a TLS name that is no name).
    #[error("{0}")]
    Config(String),
}

/// A plain or TLS byte stream. Dynamic dispatch costs one indirect call per read or write,
/// nothing next to the syscall behind it.
pub(crate) trait Io: AsyncRead + AsyncWrite + Unpin + Send + Sync {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + Sync> Io for T {}

/// Whether a kept connection is still open: one read polled without waiting. Between two
/// exchanges the server sends nothing, so anything ready (its close, an error, stray bytes)
/// means the connection is not fit to carry the next request.
pub(crate) fn still_open(io: &mut dyn Io) -> bool {
    let mut byte = [0u8; 1];
    let mut buf = tokio::io::ReadBuf::new(&mut byte);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    std::pin::Pin::new(io).poll_read(&mut cx, &mut buf).is_pending()
}

/// Where a client connects: host, port, source address and TLS, parsed once from a URL.
#[derive(Debug)]
pub(crate) struct Endpoint {
    host: String,
    port: u16,
    /// `host[:port]` as the Host header says it.
    pub(crate) authority: String,
    /// The URL's path (and query, if any).
    pub(crate) path: String,
    local_address: Option<IpAddr>,
    /// Present for `https` and `wss` only.
    tls: Option<Arc<ClientConfig>>,
}

impl Endpoint {
    pub(crate) fn new(
        url: &url::Url,
        local_address: Option<IpAddr>,
        accept_invalid_certs: bool,
    ) -> Result<Endpoint, NetError> {
        let secure = matches!(url.scheme(), "https" | "wss");
        let host = url
            .host_str()
            .ok_or_else(|| NetError::Config(format!("url {url}: no host")))?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let port = url.port_or_known_default().unwrap_or(if secure { 443 } else { 80 });
        let authority = match (url.host_str(), url.port()) {
            (Some(h), Some(p)) => format!("{h}:{p}"),
            (Some(h), None) => h.to_owned(),
            (None, _) => host.clone(),
        };
        let mut path = url.path().to_owned();
        if let Some(query) = url.query() {
            path.push('?');
            path.push_str(query);
        }
        let tls = if secure { Some(tls::client_config(accept_invalid_certs)?) } else { None };
        Ok(Endpoint { host, port, authority, path, local_address, tls })
    }

    /// Whether connections are wrapped in TLS (tests).
    #[cfg(test)]
    pub(crate) fn is_tls(&self) -> bool {
        self.tls.is_some()
    }

    /// A TCP connection from the source address, wrapped in TLS when the scheme asks for it.
    /// The caller bounds it in time.
    pub(crate) async fn connect(&self) -> Result<Box<dyn Io>, NetError> {
        let tcp = self.tcp_connect().await?;
        match &self.tls {
            None => Ok(Box::new(tcp)),
            Some(config) => {
                let name = ServerName::try_from(self.host.clone())
                    .map_err(|e| NetError::Config(format!("tls server name {}: {e}", self.host)))?;
                let tls = TlsConnector::from(Arc::clone(config))
                    .connect(name, tcp)
                    .await
                    .map_err(|e| NetError::Transport(format!("tls handshake: {e}")))?;
                Ok(Box::new(tls))
            }
        }
    }

    async fn tcp_connect(&self) -> Result<TcpStream, NetError> {
        let (host, port) = (self.host.as_str(), self.port);
        let addresses: Vec<SocketAddr> = tokio::net::lookup_host((host, port))
            .await
            .map_err(|e| NetError::Transport(format!("resolve {host}: {e}")))?
            .collect();
        let mut last = NetError::Transport(format!("no address for {host}"));
        // Bounded by the resolver's answer, typically one or two addresses.
        for address in addresses {
            if matches!(
                (address, self.local_address),
                (SocketAddr::V4(_), Some(IpAddr::V6(_))) | (SocketAddr::V6(_), Some(IpAddr::V4(_)))
            ) {
                continue;
            }
            let attempt = async {
                let socket = socket_for(address, self.local_address)?;
                let stream = socket.connect(address).await?;
                stream.set_nodelay(true)?;
                Ok::<_, std::io::Error>(stream)
            };
            match attempt.await {
                Ok(stream) => return Ok(stream),
                Err(e) => last = NetError::Transport(format!("connect {address}: {e}")),
            }
        }
        Err(last)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A bound socket reserves no port at bind (so ports still in TIME_WAIT from an earlier run
    /// need not be stepped over) and still connects from the address it was bound to.
    #[tokio::test]
    async fn a_bound_socket_takes_its_port_at_connect_from_its_own_address() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let target = listener.local_addr().unwrap();
        let local: IpAddr = "127.0.0.3".parse().unwrap();
        let socket = socket_for(target, Some(local)).unwrap();
        let bound = socket.local_addr().unwrap();
        assert_eq!(bound.ip(), local);
        if cfg!(target_os = "linux") {
            assert_eq!(bound.port(), 0, "bind reserved a port");
        }
        let stream = socket.connect(target).await.unwrap();
        let (_accepted, peer) = listener.accept().await.unwrap();
        assert_eq!(peer.ip(), local);
        assert_eq!(stream.local_addr().unwrap(), peer);
    }
}
