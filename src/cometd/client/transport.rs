//! The two Bayeux transports as plain byte movers: long-polling (one HTTP POST per batch, on a
//! keep-alive connection of the agent's own) and websocket (one frame per batch, over
//! tokio-tungstenite with small buffers, after an upgrade of gwsim's own). Neither knows Bayeux;
//! [`super::session`] does.

use std::net::IpAddr;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use http::StatusCode;
use http::header::HeaderMap;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{self, Message as WsMessage};

use crate::cometd::channel;
use crate::cometd::error::CometdError;
use crate::net::{Endpoint, Io, http1, still_open};

/// The CometD endpoint below the GWS base URL (protocol.md §3.1).
pub(crate) const NOTIFICATIONS_PATH: &str = "/api/v2/notifications";

/// The largest long-poll response body or websocket message accepted by default. A GWS
/// notification is a few KiB (a chat's whole history on Accept is the largest), and a connect
/// reply batches what queued while the agent was away, so 1 MiB is generous; a larger one is
/// refused unread and counted as `oversize`, so a hostile server cannot make an agent buffer
/// megabytes per message.
pub(crate) const MAX_BATCH_BYTES: usize = 1 << 20;

/// `{base}/api/v2/notifications` for long-polling: `base` must be an http(s) URL.
pub(crate) fn long_polling_url(base: &str) -> Result<String, CometdError> {
    let url = url::Url::parse(base.trim())
        .map_err(|e| CometdError::Config(format!("base url {base:?}: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(CometdError::Config(format!(
            "base url {base:?}: long-polling needs an http or https url"
        )));
    }
    Ok(format!("{}{NOTIFICATIONS_PATH}", url.as_str().trim_end_matches('/')))
}

/// `ws(s)://host:port[/prefix]/api/v2/notifications` from an http(s) (or already ws(s)) base.
pub(crate) fn websocket_url(base: &str) -> Result<String, CometdError> {
    let mut url = url::Url::parse(base.trim())
        .map_err(|e| CometdError::Config(format!("base url {base:?}: {e}")))?;
    let scheme = match url.scheme() {
        "http" | "ws" => "ws",
        "https" | "wss" => "wss",
        other => {
            return Err(CometdError::Config(format!(
                "base url {base:?}: scheme {other} cannot carry a websocket"
            )));
        }
    };
    if url.host_str().is_none() {
        return Err(CometdError::Config(format!("base url {base:?}: no host")));
    }
    url.set_scheme(scheme)
        .map_err(|()| CometdError::Config(format!("base url {base:?}: cannot use {scheme}")))?;
    url.set_query(None);
    url.set_fragment(None);
    Ok(format!("{}{NOTIFICATIONS_PATH}", url.as_str().trim_end_matches('/')))
}

/// The path suffix the standard client posts each kind of batch to (protocol.md §16).
pub(crate) fn long_polling_suffix(first_channel: &str) -> &'static str {
    match first_channel {
        channel::HANDSHAKE => "/handshake",
        channel::CONNECT => "/connect",
        channel::DISCONNECT => "/disconnect",
        _ => "/",
    }
}

/// Long-polling: every batch is an HTTP POST whose response body is the reply batch, on a
/// keep-alive connection of the agent's own (`net::http1`), opened when needed and reopened
/// after a failure.
pub(crate) struct LongPolling {
    endpoint: Endpoint,
    /// The request head every POST shares but its path suffix and length: agent headers and all.
    headers: String,
    /// The largest response body read; a larger one fails the exchange as `Oversize`.
    max_body: usize,
    /// Boxed: absent between a failure and the next exchange.
    conn: Option<Box<dyn Io>>,
    /// The next response's first read, sized after the last response: a connect that brings
    /// notifications (a few KiB) is then read in one read instead of two, while an idle
    /// agent's held connect keeps the small default.
    first_read: usize,
}

/// The most a long-poll's first read grows to; larger responses take more reads.
const LONG_POLL_FIRST_READ_MAX: usize = 16 * 1024;
/// Room for the response head beside the body when sizing the next first read.
const HEAD_ROOM: usize = 512;

impl LongPolling {
    pub(crate) fn new(
        base: &str,
        headers: &HeaderMap,
        max_body: usize,
        local_address: Option<IpAddr>,
        accept_invalid_certs: bool,
    ) -> Result<Self, CometdError> {
        let url = url::Url::parse(&long_polling_url(base)?)
            .map_err(|e| CometdError::Config(format!("base url {base:?}: {e}")))?;
        let endpoint = Endpoint::new(&url, local_address, accept_invalid_certs)?;
        let mut head = String::with_capacity(256);
        head.push_str("Host: ");
        head.push_str(&endpoint.authority);
        head.push_str("\r\nUser-Agent: gwsim/");
        head.push_str(env!("CARGO_PKG_VERSION"));
        head.push_str("\r\nContent-Type: application/json;charset=UTF-8\r\n");
        for (name, value) in headers {
            let value = value
                .to_str()
                .map_err(|_| CometdError::Config(format!("header {name}: not visible ASCII")))?;
            head.push_str(name.as_str());
            head.push_str(": ");
            head.push_str(value);
            head.push_str("\r\n");
        }
        head.shrink_to_fit();
        Ok(LongPolling {
            endpoint,
            headers: head,
            max_body,
            conn: None,
            first_read: http1::FIRST_READ,
        })
    }

    pub(crate) async fn post(
        &mut self,
        suffix: &str,
        body: String,
        timeout: Duration,
    ) -> Result<String, CometdError> {
        let request = self.request(suffix, &body);
        drop(body);
        let response =
            tokio::time::timeout(timeout, self.send(&request)).await.map_err(|_| {
                // What the connection holds is unknown: it is not used again.
                self.conn = None;
                CometdError::Timeout
            })??;
        match response.status {
            200 => {}
            401 => return Err(CometdError::Unauthorized),
            300..=399 => {
                return Err(CometdError::Redirect(format!(
                    "HTTP {} to {}",
                    response.status,
                    response.location.as_deref().unwrap_or("(no location)")
                )));
            }
            other => return Err(CometdError::Status(other)),
        }
        String::from_utf8(response.body)
            .map_err(|_| CometdError::NotJson("response is not utf-8".into()))
    }

    fn request(&self, suffix: &str, body: &str) -> Vec<u8> {
        let length = body.len().to_string();
        let mut request = Vec::with_capacity(
            self.endpoint.path.len() + suffix.len() + self.headers.len() + body.len() + 64,
        );
        for part in [
            "POST ",
            &self.endpoint.path,
            suffix,
            " HTTP/1.1\r\n",
            &self.headers,
            "Content-Length: ",
            &length,
            "\r\n\r\n",
            body,
        ] {
            request.extend_from_slice(part.as_bytes());
        }
        request
    }

    /// One exchange. A kept connection the server has already closed (while idle) is replaced
    /// before anything is written on it; one that fails after the request went out is a failed
    /// exchange like any other, counted by the caller: a server that went away in the middle of
    /// a held connect is an outage, not a stale connection, and retrying it in silence would hide
    /// it.
    async fn send(&mut self, request: &[u8]) -> Result<http1::Response, CometdError> {
        let kept = self.conn.take().and_then(|mut c| still_open(c.as_mut()).then_some(c));
        let mut conn = match kept {
            Some(conn) => conn,
            None => self.endpoint.connect().await?,
        };
        let response =
            http1::exchange(conn.as_mut(), request, self.max_body, &[], self.first_read).await?;
        let last = response.body.len().saturating_add(HEAD_ROOM);
        // Twice the last size: responses of a busy agent vary, and one that just fills the
        // buffer still costs a second read. An agent whose responses fit the default keeps it.
        self.first_read = if last <= http1::FIRST_READ {
            http1::FIRST_READ
        } else {
            last.saturating_mul(2)
                .checked_next_power_of_two()
                .map_or(LONG_POLL_FIRST_READ_MAX, |n| n.min(LONG_POLL_FIRST_READ_MAX))
        };
        // A failed exchange is not kept: a server in trouble (or a proxy in front of it) gets a
        // fresh connection for the next try.
        if response.reusable && response.status == 200 {
            self.conn = Some(conn);
        }
        Ok(response)
    }
}

/// Buffer sizes of one websocket. tokio-tungstenite's defaults (128 KiB read buffer, 128 KiB
/// write threshold) alone would exceed the 64 KiB an idle agent may cost (design.md).
#[derive(Debug, Clone, Copy)]
pub(crate) struct WsBuffers {
    pub(crate) read: usize,
    pub(crate) write: usize,
    pub(crate) max_message: usize,
}

impl WsBuffers {
    /// Clamped so no setting can trip tungstenite's own assertions (its write limit must exceed
    /// the write threshold) or make every message too large.
    fn config(self) -> WebSocketConfig {
        let write = self.write.min(1 << 20);
        let max_message = self.max_message.max(4 * 1024);
        WebSocketConfig::default()
            .read_buffer_size(self.read.clamp(256, 1 << 20))
            .write_buffer_size(write)
            // The write buffer only ever holds the frame being sent.
            .max_write_buffer_size(write.saturating_add(max_message).saturating_add(1))
            .max_message_size(Some(max_message))
            .max_frame_size(Some(max_message))
    }
}

type Socket = WebSocketStream<Box<dyn Io>>;

/// The websocket transport: one socket at a time, reopened after a loss.
pub(crate) struct WebSocket {
    endpoint: Endpoint,
    headers: HeaderMap,
    buffers: WsBuffers,
    open_timeout: Duration,
    /// Boxed: the stream is large and absent between a loss and the reopen.
    socket: Option<Box<Socket>>,
}

impl WebSocket {
    pub(crate) fn new(
        base: &str,
        headers: HeaderMap,
        buffers: WsBuffers,
        local_address: Option<IpAddr>,
        open_timeout: Duration,
        accept_invalid_certs: bool,
    ) -> Result<Self, CometdError> {
        let url = websocket_url(base)?;
        let parsed = url::Url::parse(&url)
            .map_err(|e| CometdError::Config(format!("websocket url {url:?}: {e}")))?;
        let endpoint = Endpoint::new(&parsed, local_address, accept_invalid_certs)?;
        Ok(WebSocket { endpoint, headers, buffers, open_timeout, socket: None })
    }

    pub(crate) fn is_open(&self) -> bool {
        self.socket.is_some()
    }

    /// Connects and upgrades, with the agent's Authorization and Cookie on the upgrade request
    /// (protocol.md §15.25: a refused upgrade is HTTP 401).
    pub(crate) async fn open(&mut self) -> Result<(), CometdError> {
        self.socket = None;
        let socket = tokio::time::timeout(self.open_timeout, self.upgrade())
            .await
            .map_err(|_| CometdError::Timeout)??;
        self.socket = Some(Box::new(socket));
        Ok(())
    }

    /// The HTTP upgrade is gwsim's own (`net::http1::upgrade`) so that the socket starts with a
    /// read buffer of `buffers.read`, not the handshake's.
    async fn upgrade(&self) -> Result<Socket, CometdError> {
        let key = tungstenite::handshake::client::generate_key();
        let mut request = String::with_capacity(256);
        for part in [
            "GET ",
            &self.endpoint.path,
            " HTTP/1.1\r\nHost: ",
            &self.endpoint.authority,
            "\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n",
            "Sec-WebSocket-Key: ",
            &key,
            "\r\n",
        ] {
            request.push_str(part);
        }
        for (name, value) in &self.headers {
            let value = value
                .to_str()
                .map_err(|_| CometdError::Config(format!("header {name}: not visible ASCII")))?;
            for part in [name.as_str(), ": ", value, "\r\n"] {
                request.push_str(part);
            }
        }
        request.push_str("\r\n");
        let mut stream = self.endpoint.connect().await?;
        let answer = http1::upgrade(stream.as_mut(), request.as_bytes()).await?;
        match answer.status {
            101 => {}
            401 => return Err(CometdError::Unauthorized),
            other => return Err(CometdError::Status(other)),
        }
        let expected = tungstenite::handshake::derive_accept_key(key.as_bytes());
        if answer.accept.as_deref() != Some(expected.as_str()) {
            return Err(CometdError::Transport(
                "websocket: the upgrade's Sec-WebSocket-Accept does not match".into(),
            ));
        }
        Ok(WebSocketStream::from_partially_read(
            stream,
            answer.rest,
            tungstenite::protocol::Role::Client,
            Some(self.buffers.config()),
        )
        .await)
    }

    pub(crate) async fn send(&mut self, text: String) -> Result<(), CometdError> {
        let socket = self.socket.as_mut().ok_or_else(closed)?;
        socket.send(WsMessage::text(text)).await.map_err(map_tungstenite)
    }

    /// The next text frame. Pings are answered by tungstenite while reading; binary frames are
    /// read as UTF-8 text for servers that send JSON that way; a close ends the socket.
    pub(crate) async fn recv(&mut self) -> Result<String, CometdError> {
        let socket = self.socket.as_mut().ok_or_else(closed)?;
        // Bounded: control frames are few and each is consumed; a server flooding pings is
        // still cut off by the caller's timeout.
        loop {
            match socket.next().await {
                Some(Ok(WsMessage::Text(text))) => return Ok(text.as_str().to_owned()),
                Some(Ok(WsMessage::Binary(bytes))) => {
                    return String::from_utf8(bytes.to_vec())
                        .map_err(|_| CometdError::NotJson("binary frame is not utf-8".into()));
                }
                Some(Ok(WsMessage::Close(_))) | None => {
                    self.socket = None;
                    return Err(CometdError::Transport("websocket closed by server".into()));
                }
                Some(Ok(_)) => continue,
                Some(Err(e)) => {
                    self.socket = None;
                    return Err(map_tungstenite(e));
                }
            }
        }
    }

    /// Sends a close frame (best effort, bounded by `timeout`) and drops the socket.
    pub(crate) async fn close(&mut self, timeout: Duration) {
        if let Some(mut socket) = self.socket.take() {
            let _ = tokio::time::timeout(timeout, WebSocketStream::close(&mut socket, None)).await;
        }
    }

    pub(crate) fn drop_socket(&mut self) {
        self.socket = None;
    }
}

fn closed() -> CometdError {
    CometdError::Transport("websocket not open".into())
}

fn map_tungstenite(err: tungstenite::Error) -> CometdError {
    match err {
        tungstenite::Error::Http(response) if response.status() == StatusCode::UNAUTHORIZED => {
            CometdError::Unauthorized
        }
        tungstenite::Error::Http(response) => CometdError::Status(response.status().as_u16()),
        // Over `max_message_size` or `max_frame_size`: refused before it is buffered whole.
        tungstenite::Error::Capacity(e) => CometdError::Oversize(match e {
            tungstenite::error::CapacityError::MessageTooLong { max_size, .. } => max_size,
            _ => 0,
        }),
        tungstenite::Error::Utf8(e) => CometdError::NotJson(format!("websocket: {e}")),
        other => CometdError::Transport(format!("websocket: {other}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn websocket_urls_follow_the_base_scheme() {
        assert_eq!(
            websocket_url("http://127.0.0.1:8090").expect("ws"),
            "ws://127.0.0.1:8090/api/v2/notifications"
        );
        assert_eq!(
            websocket_url("https://gws.example/prefix/").expect("wss"),
            "wss://gws.example/prefix/api/v2/notifications"
        );
        assert_eq!(websocket_url("ws://h:1").expect("ws"), "ws://h:1/api/v2/notifications");
        assert_eq!(
            websocket_url("http://h:1/?q=1#f").expect("ws"),
            "ws://h:1/api/v2/notifications"
        );
        assert!(websocket_url("ftp://h").is_err());
        assert!(websocket_url("not a url").is_err());
    }

    #[test]
    fn long_polling_urls_and_suffixes() {
        assert_eq!(
            long_polling_url("http://h:8090/").expect("url"),
            "http://h:8090/api/v2/notifications"
        );
        assert!(long_polling_url("ws://h").is_err());
        assert_eq!(long_polling_suffix("/meta/handshake"), "/handshake");
        assert_eq!(long_polling_suffix("/meta/connect"), "/connect");
        assert_eq!(long_polling_suffix("/meta/disconnect"), "/disconnect");
        assert_eq!(long_polling_suffix("/meta/subscribe"), "/");
    }

    #[test]
    fn https_bases_get_tls_and_http_bases_do_not() {
        let make = |base: &str| {
            WebSocket::new(
                base,
                HeaderMap::new(),
                WsBuffers { read: 4096, write: 0, max_message: 1 << 20 },
                None,
                Duration::from_secs(1),
                false,
            )
        };
        assert!(make("https://h").expect("wss").endpoint.is_tls());
        assert!(!make("http://h").expect("ws").endpoint.is_tls());
    }

    #[test]
    fn buffers_are_small() {
        let config = WsBuffers { read: 4096, write: 0, max_message: 1 << 20 }.config();
        assert_eq!(config.read_buffer_size, 4096);
        assert_eq!(config.write_buffer_size, 0);
        assert!(config.max_write_buffer_size > config.write_buffer_size);
        let extreme = WsBuffers { read: 0, write: usize::MAX, max_message: 0 }.config();
        assert!(extreme.max_write_buffer_size > extreme.write_buffer_size);
        assert!(extreme.read_buffer_size > 0);
        assert!(extreme.max_message_size.is_some_and(|m| m > 0));
    }
}
