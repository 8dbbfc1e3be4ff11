//! The server's own HTTP/1.1 loop for ordinary requests, so that a held long-poll costs only its
//! handler's future and this small loop: hyper keeps an 8 KiB read buffer and an 8 KiB header
//! write buffer for each connection's whole life (heaptrack: 16 of 19 KiB per long-polling agent
//! at 15,000), where this loop sizes its buffer to what is read and gives it back (to nothing)
//! while a request is served. Requests are answered one at a time, in order: the next is read
//! only after the last is answered, so pipelined requests wait in the socket or in the few bytes
//! already read past the last request.
//!
//! A request asking for an upgrade (the `/cometd` websocket) is handed back unread to the caller,
//! which gives the connection to hyper: axum's `WebSocketUpgrade` needs hyper's `OnUpgrade`.

use std::io;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::header::{CONNECTION, CONTENT_LENGTH, DATE, TRANSFER_ENCODING};
use axum::http::{HeaderMap, Method, Request, Response, StatusCode, Version};
use bytes::{Buf, Bytes};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

use super::parse::{self, Framing, Head, HeadError, MAX_HEAD};
use crate::net::chunk::{Chunk, next_chunk};

/// The first read's buffer: a long-poll request (head and body) of an idle agent fits; larger
/// requests grow it by doubling, up to what they need.
const FIRST_READ: usize = 1024;
/// A request, once its first byte has arrived, must be read whole within this (hyper's default
/// header read timeout, which applies to the head alone): a client that stalls mid-request loses
/// its connection rather than holding the server's buffer for ever. Between requests a
/// connection may idle as long as the client keeps it (as with hyper).
pub(super) const READ_TIMEOUT: Duration = Duration::from_secs(30);

/// Why a connection ended other than by a close between requests.
#[derive(Debug, thiserror::Error)]
pub(super) enum ConnError {
    #[error("{0}")]
    Io(#[from] io::Error),
    #[error("request not read whole within {READ_TIMEOUT:?}")]
    ReadTimeout,
    #[error("connection closed in the middle of a request")]
    ClosedEarly,
    #[error("response body: {0}")]
    ResponseBody(axum::Error),
}

/// How the loop left the connection.
#[derive(Debug)]
pub(super) enum Outcome {
    /// Closed (by either side, or on shutdown between requests).
    Closed,
    /// A request asks to switch protocols: what was read from the socket so far, that request's
    /// head first, for hyper to read again.
    Upgrade(Bytes),
}

/// What a request's body came to.
enum BodyRead {
    Whole(Bytes),
    /// Over the body limit, or malformed chunked coding: the handler sees a body that fails to
    /// read (as it did behind hyper: its own limit answers), and the connection closes after the
    /// answer, since the rest of the body is not read.
    Unreadable,
}

/// Serves requests on `tcp` through `router` until either side closes, `stop` is cancelled
/// (between requests: the request in flight is answered first), or a request asks to upgrade.
/// Request bodies over `body_limit` are not read.
pub(super) async fn serve(
    tcp: &mut TcpStream,
    router: &Router,
    body_limit: usize,
    stop: &CancellationToken,
) -> Result<Outcome, ConnError> {
    // Bytes read and not yet consumed: empty (no allocation) between requests unless the client
    // pipelined, and while a request is being served.
    let mut buf = Vec::new();
    // Bounded by the connection: each turn consumes one request, read within READ_TIMEOUT.
    loop {
        let (head, deadline) = match read_head(tcp, &mut buf, stop).await {
            Ok(Some(read)) => read,
            Ok(None) => return Ok(Outcome::Closed),
            Err(Refusal::Head(e)) => {
                refuse(tcp, e.status(), &e.to_string()).await?;
                return Ok(Outcome::Closed);
            }
            Err(Refusal::Conn(e)) => return Err(e),
        };
        if head.upgrade {
            return Ok(Outcome::Upgrade(Bytes::from(buf)));
        }
        buf.drain(..head.len);
        let Head { method, uri, version, headers, framing, keep_alive, expect_continue, .. } = head;
        let declared_over = matches!(framing, Framing::Length(n) if n > body_limit as u64);
        let has_body = !matches!(framing, Framing::Length(0));
        if expect_continue && has_body && !declared_over && buf.is_empty() {
            tcp_write(tcp, Bytes::from_static(b"HTTP/1.1 100 Continue\r\n\r\n")).await?;
        }
        let body = read_body(tcp, &mut buf, framing, body_limit, deadline).await?;
        // What stays read past this request (pipelined bytes) is kept at its size; nothing else
        // is held while the request is served, however long its handler holds it.
        buf.shrink_to_fit();
        let close = !keep_alive || matches!(body, BodyRead::Unreadable);
        let body = match body {
            BodyRead::Whole(bytes) => Body::from(bytes),
            BodyRead::Unreadable => unreadable_body(),
        };
        let is_head = method == Method::HEAD;
        let mut request = Request::new(body);
        *request.method_mut() = method;
        *request.uri_mut() = uri;
        *request.version_mut() = version;
        *request.headers_mut() = headers;
        let response = match unless_gone(tcp, router.clone().oneshot(request)).await {
            Some(Ok(response)) => response,
            Some(Err(never)) => match never {},
            None => return Ok(Outcome::Closed),
        };
        // A shutdown lets the request in flight finish, then closes the connection.
        let close = close || stop.is_cancelled();
        write_response(tcp, response, version, is_head, close).await?;
        if close {
            return Ok(Outcome::Closed);
        }
    }
}

/// Runs a request's handler, dropping it if the client closes the connection first, as hyper
/// did: a long-poll's hold then ends at once (its guard starts the session's grace period),
/// rather than at its timeout with nobody to answer. Once the client sends more (a pipelined
/// request) the socket is no longer watched; its bytes wait for their turn.
async fn unless_gone<F: Future>(tcp: &TcpStream, handler: F) -> Option<F::Output> {
    let mut handler = std::pin::pin!(handler);
    let mut probe = [0u8; 1];
    tokio::select! {
        output = handler.as_mut() => return Some(output),
        peeked = tcp.peek(&mut probe) => {
            if matches!(peeked, Ok(0) | Err(_)) {
                tracing::trace!("client closed the connection while its request was served");
                return None;
            }
        }
    }
    Some(handler.await)
}

/// Why a head was not read: an answer is owed (400, 431), or the connection failed.
enum Refusal {
    Head(HeadError),
    Conn(ConnError),
}

/// Reads until `buf` starts with a whole request head; `None` when the connection closed (or
/// `stop` was cancelled) before a request began. Returns the head and the deadline by which its
/// body must be read.
async fn read_head(
    tcp: &TcpStream,
    buf: &mut Vec<u8>,
    stop: &CancellationToken,
) -> Result<Option<(Head, Instant)>, Refusal> {
    let mut deadline = None;
    // Bounded: each turn reads at least one byte into a head of at most MAX_HEAD, and every turn
    // but the first has the deadline.
    loop {
        if !buf.is_empty() {
            let d = *deadline.get_or_insert_with(|| Instant::now() + READ_TIMEOUT);
            if let Some(head) = parse::parse_head(buf).map_err(Refusal::Head)? {
                return Ok(Some((head, d)));
            }
        }
        let n = match deadline {
            // Idle between requests: only the client or a shutdown ends the wait.
            None => tokio::select! {
                _ = stop.cancelled() => return Ok(None),
                read = read_some(tcp, buf, MAX_HEAD) => read,
            },
            Some(d) => match tokio::time::timeout_at(d, read_some(tcp, buf, MAX_HEAD)).await {
                Ok(read) => read,
                Err(_) => return Err(Refusal::Conn(ConnError::ReadTimeout)),
            },
        };
        match n {
            // A close mid-head leaves nobody to answer.
            Ok(0) => return Ok(None),
            Ok(_) => {}
            Err(e) => return Err(Refusal::Conn(e.into())),
        }
    }
}

/// Reads the body after the head (`buf` holds what was read past the head and keeps what was
/// read past the body).
async fn read_body(
    tcp: &TcpStream,
    buf: &mut Vec<u8>,
    framing: Framing,
    limit: usize,
    deadline: Instant,
) -> Result<BodyRead, ConnError> {
    match framing {
        Framing::Length(0) => Ok(BodyRead::Whole(Bytes::new())),
        Framing::Length(n) => {
            let Ok(n) = usize::try_from(n) else { return Ok(BodyRead::Unreadable) };
            if n > limit {
                return Ok(BodyRead::Unreadable);
            }
            buf.reserve_exact(n.saturating_sub(buf.len()));
            // Bounded: each turn reads at least one byte towards `n`, before the deadline.
            while buf.len() < n {
                read_before(tcp, buf, n, deadline).await?;
            }
            let rest = buf.split_off(n);
            Ok(BodyRead::Whole(Bytes::from(std::mem::replace(buf, rest))))
        }
        Framing::Chunked => {
            let mut body = Vec::new();
            // The raw bytes waiting may exceed the body by its chunk framing; this bounds them.
            let raw_limit = limit.saturating_add(MAX_HEAD);
            // Bounded: each turn consumes a chunk or reads at least one byte, under `raw_limit`,
            // before the deadline.
            loop {
                match next_chunk(buf, MAX_HEAD) {
                    Ok(Some(Chunk::Data { start, len, end })) => {
                        if body.len() + len > limit {
                            return Ok(BodyRead::Unreadable);
                        }
                        body.extend_from_slice(&buf[start..start + len]);
                        buf.drain(..end);
                    }
                    Ok(Some(Chunk::Last { end })) => {
                        buf.drain(..end);
                        return Ok(BodyRead::Whole(Bytes::from(body)));
                    }
                    Ok(None) if buf.len() >= raw_limit => return Ok(BodyRead::Unreadable),
                    Ok(None) => read_before(tcp, buf, raw_limit, deadline).await?,
                    Err(e) => {
                        tracing::debug!(error = e, "malformed chunked request body");
                        return Ok(BodyRead::Unreadable);
                    }
                }
            }
        }
    }
}

/// `read_some` before `deadline`; a close is `ConnError::ClosedEarly`.
async fn read_before(
    tcp: &TcpStream,
    buf: &mut Vec<u8>,
    limit: usize,
    deadline: Instant,
) -> Result<(), ConnError> {
    match tokio::time::timeout_at(deadline, read_some(tcp, buf, limit)).await {
        Err(_) => Err(ConnError::ReadTimeout),
        Ok(Ok(0)) => Err(ConnError::ClosedEarly),
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(e.into()),
    }
}

/// Reads once into `buf` (0: the peer closed). Waits for readiness before allocating, so an idle
/// connection holds no buffer; growth doubles from `FIRST_READ` up to `limit` in all (at least
/// one byte, so a full buffer still makes progress and its caller sees the limit passed).
async fn read_some(tcp: &TcpStream, buf: &mut Vec<u8>, limit: usize) -> io::Result<usize> {
    // Bounded by readiness: a turn that reads nothing (a spurious wake-up) waits for the socket
    // again.
    loop {
        tcp.readable().await?;
        if buf.len() == buf.capacity() {
            let room = limit.saturating_sub(buf.len());
            buf.reserve_exact(buf.capacity().max(FIRST_READ).min(room).max(1));
        }
        match tcp.try_read_buf(buf) {
            Ok(n) => return Ok(n),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                if buf.is_empty() {
                    *buf = Vec::new();
                }
            }
            Err(e) => return Err(e),
        }
    }
}

/// A request body that fails when read, for a body not read from the socket.
fn unreadable_body() -> Body {
    let failed =
        io::Error::new(io::ErrorKind::InvalidData, "request body over the limit or malformed");
    Body::from_stream(futures_util::stream::once(std::future::ready(Err::<Bytes, _>(failed))))
}

/// Writes `response` whole, its body collected and sent with a Content-Length, as hyper wrote
/// it: the status line in the request's version, the handler's headers (names lowercase), a
/// `date`, and the connection's fate when it differs from the version's default.
async fn write_response(
    tcp: &mut TcpStream,
    response: Response<Body>,
    version: Version,
    is_head: bool,
    close: bool,
) -> Result<(), ConnError> {
    let (parts, body) = response.into_parts();
    // Every handler builds its answer in memory; collecting it adds one copy at most.
    let body = axum::body::to_bytes(body, usize::MAX).await.map_err(ConnError::ResponseBody)?;
    let status = parts.status;
    // No body, and no length, for 1xx and 204 (RFC 9110 §8.6); 304 keeps what the handler said.
    let bodiless = status.is_informational() || status == StatusCode::NO_CONTENT;
    let mut head = Vec::with_capacity(128 + header_bytes(&parts.headers));
    head.extend_from_slice(if version == Version::HTTP_11 { b"HTTP/1.1 " } else { b"HTTP/1.0 " });
    head.extend_from_slice(status.as_str().as_bytes());
    head.push(b' ');
    head.extend_from_slice(status.canonical_reason().unwrap_or_default().as_bytes());
    head.extend_from_slice(b"\r\n");
    // A HEAD answer keeps the length axum computed from the GET answer it dropped.
    let keep_length = is_head || status == StatusCode::NOT_MODIFIED;
    for (name, value) in &parts.headers {
        let framing = name == TRANSFER_ENCODING || name == CONNECTION;
        if framing || (name == CONTENT_LENGTH && (!keep_length || bodiless)) {
            continue;
        }
        header(&mut head, name.as_str(), value.as_bytes());
    }
    let length_given = keep_length && parts.headers.contains_key(CONTENT_LENGTH);
    if !bodiless && !length_given && status != StatusCode::NOT_MODIFIED {
        header(&mut head, "content-length", body.len().to_string().as_bytes());
    }
    if !parts.headers.contains_key(DATE) {
        http_date(|date| header(&mut head, "date", date));
    }
    if close && version == Version::HTTP_11 {
        header(&mut head, "connection", b"close");
    } else if !close && version == Version::HTTP_10 {
        header(&mut head, "connection", b"keep-alive");
    }
    head.extend_from_slice(b"\r\n");
    let body =
        if bodiless || is_head || status == StatusCode::NOT_MODIFIED { Bytes::new() } else { body };
    let mut out = Bytes::from(head).chain(body);
    tcp.write_all_buf(&mut out).await?;
    Ok(())
}

/// Answers a request that cannot be served (400, 431) with a short text and closes.
async fn refuse(tcp: &mut TcpStream, status: StatusCode, why: &str) -> Result<(), ConnError> {
    tracing::debug!(%status, why, "request refused before routing");
    let response = Response::builder()
        .status(status)
        .header("content-type", "text/plain; charset=utf-8")
        .body(Body::from(format!("{why}\n")))
        .unwrap_or_default();
    write_response(tcp, response, Version::HTTP_11, false, true).await
}

async fn tcp_write(tcp: &mut TcpStream, bytes: Bytes) -> Result<(), ConnError> {
    tcp.write_all(&bytes).await?;
    Ok(())
}

fn header(out: &mut Vec<u8>, name: &str, value: &[u8]) {
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

fn header_bytes(headers: &HeaderMap) -> usize {
    headers.iter().map(|(n, v)| n.as_str().len() + v.len() + 4).sum()
}

/// Hands `f` the current time as an HTTP-date (RFC 9110 §5.6.7), as hyper sent it on every
/// response. Formatted once a second per thread (as hyper caches it), not per response.
fn http_date(f: impl FnOnce(&[u8])) {
    thread_local! {
        static CACHE: std::cell::RefCell<(i64, String)> = const { std::cell::RefCell::new((i64::MIN, String::new())) };
    }
    let now = time::OffsetDateTime::now_utc();
    CACHE.with_borrow_mut(|(second, text)| {
        if *second != now.unix_timestamp() {
            let format = time::macros::format_description!(
                "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
            );
            *text = now.format(format).unwrap_or_default();
            *second = now.unix_timestamp();
        }
        f(text.as_bytes());
    });
}
