//! gwsim's client HTTP/1.1, for the REST pool and the CometD transports alike: one request and
//! its response on a keep-alive connection, with buffers sized to what is read. A pooled hyper
//! connection (reqwest) cost an 8 KiB read and an 8 KiB header buffer (16 KiB reserved with
//! read-ahead), a task and two channels per connection, and about 100K instructions per REST
//! request; heaptrack put those buffers at over half the client's heap with 1,000 agents.

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::chunk::{Chunk, next_chunk};
use super::{Io, NetError};

/// The largest response head read; a GWS head is a few hundred bytes (a cookie or two).
const MAX_HEAD: usize = 64 * 1024;
/// The first read's buffer unless the caller knows better; a connect reply of an idle agent
/// fits, larger ones grow it (one more read each).
pub(crate) const FIRST_READ: usize = 1024;
/// Headers a response head may have; more fails the exchange.
const MAX_HEADERS: usize = 64;

/// The response of one exchange.
#[derive(Debug)]
pub(crate) struct Response {
    pub(crate) status: u16,
    pub(crate) location: Option<String>,
    /// The headers the caller asked to keep, in the order they came, each under the caller's
    /// spelling of its name.
    pub(crate) kept: Vec<(&'static str, String)>,
    pub(crate) body: Vec<u8>,
    /// The connection may carry the next request.
    pub(crate) reusable: bool,
}

/// How the body after a head is delimited (RFC 9112 §6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    Length(usize),
    Chunked,
    /// No body (1xx, 204, 304).
    Empty,
    /// Until the server closes the connection.
    UntilClose,
}

/// What the head says, owned so that httparse's borrowed header array lives only in
/// [`parse_head`] and never in the exchange's future.
#[derive(Debug)]
struct Head {
    len: usize,
    status: u16,
    framing: Framing,
    keep_alive: bool,
    location: Option<String>,
    /// `Sec-WebSocket-Accept`, for an upgrade.
    accept: Option<String>,
    kept: Vec<(&'static str, String)>,
}

/// Writes `request` (a whole HTTP/1.1 request) and reads the response, its body bounded by
/// `max_body`, keeping the headers named in `keep` (lower case), the first read into
/// `first_read` bytes (at most `MAX_HEAD`). The caller bounds it in time.
pub(crate) async fn exchange(
    io: &mut dyn Io,
    request: &[u8],
    max_body: usize,
    keep: &[&'static str],
    first_read: usize,
) -> Result<Response, NetError> {
    io.write_all(request).await.map_err(|e| io_error("write", &e))?;
    io.flush().await.map_err(|e| io_error("write", &e))?;
    let mut buf = Vec::with_capacity(first_read.clamp(1, MAX_HEAD));
    let head = read_head(io, &mut buf, keep).await?;
    buf.drain(..head.len);
    let (body, clean) = read_body(io, buf, head.framing, max_body).await?;
    Ok(Response {
        status: head.status,
        location: head.location,
        kept: head.kept,
        body,
        reusable: clean && head.keep_alive && head.framing != Framing::UntilClose,
    })
}

/// Reads until `buf` holds a whole response head.
async fn read_head(
    io: &mut dyn Io,
    buf: &mut Vec<u8>,
    keep: &[&'static str],
) -> Result<Head, NetError> {
    // Bounded: each turn reads at least one byte into a head of at most MAX_HEAD.
    loop {
        if let Some(head) = parse_head(buf, keep)? {
            return Ok(head);
        }
        if buf.len() >= MAX_HEAD {
            return Err(NetError::Transport(format!("response head over {MAX_HEAD} bytes")));
        }
        match read_more(io, buf, MAX_HEAD).await {
            Ok(0) => return Err(closed_early()),
            Ok(_) => {}
            Err(e) => return Err(e),
        }
    }
}

/// The answer to a websocket upgrade request.
#[derive(Debug)]
pub(crate) struct Upgrade {
    pub(crate) status: u16,
    /// `Sec-WebSocket-Accept`.
    pub(crate) accept: Option<String>,
    /// What was read past the head: the first frames, on a 101.
    pub(crate) rest: Vec<u8>,
}

/// Writes an upgrade request and reads the response head. The buffer the head was read into
/// is given back trimmed to what followed it, so the socket does not keep a head-sized buffer
/// (tungstenite's own handshake leaves its 4 KiB buffer to the socket's reader).
pub(crate) async fn upgrade(io: &mut dyn Io, request: &[u8]) -> Result<Upgrade, NetError> {
    io.write_all(request).await.map_err(|e| io_error("write", &e))?;
    io.flush().await.map_err(|e| io_error("write", &e))?;
    let mut buf = Vec::with_capacity(FIRST_READ / 2);
    let head = read_head(io, &mut buf, &[]).await?;
    let rest = buf.get(head.len..).unwrap_or_default().to_vec();
    Ok(Upgrade { status: head.status, accept: head.accept, rest })
}

fn parse_head(buf: &[u8], keep: &[&'static str]) -> Result<Option<Head>, NetError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut response = httparse::Response::new(&mut headers);
    let len = match response.parse(buf) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(e) => return Err(NetError::Transport(format!("malformed response head: {e}"))),
    };
    let status = response.code.unwrap_or(0);
    // HTTP/1.0 closes after the response unless it says otherwise; 1.1 keeps it open unless
    // it says otherwise.
    let mut keep_alive = response.version == Some(1);
    let mut length = None;
    let mut chunked = false;
    let mut location = None;
    let mut accept = None;
    let mut kept = Vec::new();
    for header in response.headers.iter() {
        let value = String::from_utf8_lossy(header.value);
        let value = value.trim();
        if header.name.eq_ignore_ascii_case("content-length") {
            let n: usize = value.parse().map_err(|_| {
                NetError::Transport(format!("content-length {value:?} is not a length"))
            })?;
            if length.is_some_and(|m| m != n) {
                return Err(NetError::Transport("conflicting content-length headers".into()));
            }
            length = Some(n);
        } else if header.name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = value.to_ascii_lowercase().split(',').any(|t| t.trim() == "chunked");
        } else if header.name.eq_ignore_ascii_case("connection") {
            let value = value.to_ascii_lowercase();
            if value.split(',').any(|t| t.trim() == "close") {
                keep_alive = false;
            } else if value.split(',').any(|t| t.trim() == "keep-alive") {
                keep_alive = true;
            }
        } else if header.name.eq_ignore_ascii_case("location") {
            location = Some(value.to_owned());
        } else if header.name.eq_ignore_ascii_case("sec-websocket-accept") {
            accept = Some(value.to_owned());
        }
        if let Some(name) = keep.iter().find(|k| header.name.eq_ignore_ascii_case(k)) {
            kept.push((*name, value.to_owned()));
        }
    }
    let framing = if (100..200).contains(&status) || status == 204 || status == 304 {
        Framing::Empty
    } else if chunked {
        // Chunked wins over a length (RFC 9112 §6.3 item 3), and the connection is not reused
        // after such a message.
        if length.is_some() {
            keep_alive = false;
        }
        Framing::Chunked
    } else if let Some(n) = length {
        Framing::Length(n)
    } else {
        Framing::UntilClose
    };
    Ok(Some(Head { len, status, framing, keep_alive, location, accept, kept }))
}

/// Reads the body after the head; `buf` holds what was read past the head. Returns the body and
/// whether the connection ended exactly at its end (nothing more was read).
async fn read_body(
    io: &mut dyn Io,
    mut buf: Vec<u8>,
    framing: Framing,
    max_body: usize,
) -> Result<(Vec<u8>, bool), NetError> {
    match framing {
        Framing::Empty => Ok((Vec::new(), buf.is_empty())),
        Framing::Length(n) => {
            // A declared length over the limit is refused before a byte of it is read.
            if n > max_body {
                return Err(NetError::Oversize(max_body));
            }
            if buf.len() < n {
                // One byte of room past the body: a read that fills its buffer leaves tokio's
                // readiness set (more may be waiting), so the connection's next exchange would
                // begin with a read that fails with EAGAIN; a short read clears it.
                buf.reserve_exact(n - buf.len() + 1);
            }
            // Bounded: each turn reads at least one byte towards `n`.
            while buf.len() < n {
                if read_more(io, &mut buf, n).await? == 0 {
                    return Err(closed_early());
                }
            }
            let clean = buf.len() == n;
            buf.truncate(n);
            Ok((buf, clean))
        }
        Framing::UntilClose => {
            // Bounded by `max_body`: one byte more is refused.
            loop {
                if buf.len() > max_body {
                    return Err(NetError::Oversize(max_body));
                }
                if read_more(io, &mut buf, max_body.saturating_add(1)).await? == 0 {
                    return Ok((buf, false));
                }
            }
        }
        Framing::Chunked => read_chunked(io, buf, max_body).await,
    }
}

/// Decodes a chunked body in place: `raw` holds undecoded bytes after `body`.
async fn read_chunked(
    io: &mut dyn Io,
    mut raw: Vec<u8>,
    max_body: usize,
) -> Result<(Vec<u8>, bool), NetError> {
    let mut body = Vec::new();
    // The raw bytes waiting may exceed the body by the chunk framing; this bounds them.
    let raw_limit = max_body.saturating_add(MAX_HEAD);
    // Bounded: each turn consumes a chunk or reads at least one byte, under `raw_limit`.
    loop {
        match next_chunk(&raw, MAX_HEAD).map_err(|e| NetError::Transport(e.into()))? {
            Some(Chunk::Data { start, len, end }) => {
                if body.len() + len > max_body {
                    return Err(NetError::Oversize(max_body));
                }
                body.extend_from_slice(&raw[start..start + len]);
                raw.drain(..end);
                continue;
            }
            Some(Chunk::Last { end }) => {
                return Ok((body, raw.len() == end));
            }
            None => {}
        }
        if read_more(io, &mut raw, raw_limit).await? == 0 {
            return Err(closed_early());
        }
        if raw.len() >= raw_limit {
            return Err(NetError::Oversize(max_body));
        }
    }
}

/// Reads once into `buf`, growing it by at most what `limit` allows (at least one byte when
/// `buf` is full); 0 means the peer closed.
async fn read_more(io: &mut dyn Io, buf: &mut Vec<u8>, limit: usize) -> Result<usize, NetError> {
    if buf.len() == buf.capacity() {
        let grow = buf.capacity().max(FIRST_READ).min(limit.saturating_sub(buf.len())).max(1);
        buf.reserve(grow);
    }
    io.read_buf(buf).await.map_err(|e| io_error("read", &e))
}

fn closed_early() -> NetError {
    NetError::Transport("connection closed before the response ended".into())
}

fn io_error(what: &str, e: &std::io::Error) -> NetError {
    NetError::Transport(format!("{what}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn run(response: &'static [u8], max_body: usize) -> Result<Response, NetError> {
        let (client, mut server) = tokio::io::duplex(64);
        let writer = tokio::spawn(async move {
            let mut request = [0u8; 4];
            server.read_exact(&mut request).await.expect("request");
            // Small writes: the client must put a response together across reads.
            for piece in response.chunks(7) {
                if server.write_all(piece).await.is_err() {
                    return;
                }
            }
        });
        let mut io: Box<dyn Io> = Box::new(client);
        let result = exchange(io.as_mut(), b"POST", max_body, &["set-cookie"], FIRST_READ).await;
        drop(io);
        writer.await.expect("writer");
        result
    }

    #[tokio::test]
    async fn a_length_delimited_body_is_read_whole_and_the_connection_kept() {
        let r = run(b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\n[1,2]", 100).await.expect("ok");
        assert_eq!((r.status, r.body.as_slice(), r.reusable), (200, &b"[1,2]"[..], true));
    }

    #[tokio::test]
    async fn a_chunked_body_is_decoded() {
        let raw = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\n[1,\r\n2\r\n2]\r\n0\r\n\r\n";
        let r = run(raw, 100).await.expect("ok");
        assert_eq!((r.body.as_slice(), r.reusable), (&b"[1,2]"[..], true));
    }

    #[tokio::test]
    async fn bodies_over_the_limit_are_oversize_declared_or_not() {
        let declared = run(b"HTTP/1.1 200 OK\r\ncontent-length: 500\r\n\r\n", 100).await;
        assert!(matches!(declared, Err(NetError::Oversize(100))));
        let chunked =
            run(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n8\r\n12345678\r\n8\r\n12345678\r\n0\r\n\r\n", 10)
                .await;
        assert!(matches!(chunked, Err(NetError::Oversize(10))));
        let until_close = run(b"HTTP/1.0 200 OK\r\n\r\n0123456789abc", 10).await;
        assert!(matches!(until_close, Err(NetError::Oversize(10))));
    }

    #[tokio::test]
    async fn connection_close_and_http_1_0_are_not_reused() {
        let close =
            run(b"HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 2\r\n\r\n[]", 100)
                .await
                .expect("ok");
        assert!(!close.reusable);
        let old = run(b"HTTP/1.0 200 OK\r\n\r\n[]", 100).await.expect("ok");
        assert_eq!((old.body.as_slice(), old.reusable), (&b"[]"[..], false));
    }

    #[tokio::test]
    async fn a_close_before_the_whole_response_fails_the_exchange() {
        assert!(matches!(run(b"", 100).await, Err(NetError::Transport(_))));
        assert!(matches!(run(b"HTTP/1.1 2", 100).await, Err(NetError::Transport(_))));
        let cut = run(b"HTTP/1.1 200 OK\r\ncontent-length: 9\r\n\r\n[1", 100).await;
        assert!(matches!(cut, Err(NetError::Transport(_))));
    }

    #[tokio::test]
    async fn asked_for_headers_are_kept_in_order() {
        let raw = b"HTTP/1.1 200 OK\r\nSet-Cookie: a=1\r\nX-Other: y\r\nset-cookie: b=2 \r\ncontent-length: 0\r\n\r\n";
        let r = run(raw, 100).await.expect("ok");
        assert_eq!(
            r.kept,
            vec![("set-cookie", "a=1".to_owned()), ("set-cookie", "b=2".to_owned())]
        );
    }

    #[tokio::test]
    async fn redirects_carry_their_location() {
        let r =
            run(b"HTTP/1.1 302 Found\r\nlocation: /elsewhere\r\ncontent-length: 0\r\n\r\n", 100)
                .await
                .expect("ok");
        assert_eq!((r.status, r.location.as_deref()), (302, Some("/elsewhere")));
    }

    #[test]
    fn malformed_heads_fail() {
        assert!(parse_head(b"NOT HTTP\r\n\r\n", &[]).is_err());
        assert!(parse_head(b"HTTP/1.1 200 OK\r\ncontent-length: x\r\n\r\n", &[]).is_err());
    }
}
