//! The server side of HTTP/1.1 message framing (RFC 9112), pure: a request head parsed into
//! owned `http` types, how its body is delimited, and the chunked coding decoded in place. No IO,
//! so every refusal (400, 431) is decided here and tested without a socket.

use axum::http::header::{CONNECTION, CONTENT_LENGTH, EXPECT, TRANSFER_ENCODING, UPGRADE};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri, Version};

/// The largest request head read. hyper refused heads over its 8 KiB buffer with 431; a GWS
/// request head is a few hundred bytes (Basic auth, a cookie or two, the CSRF token), so twice
/// that is generous and still bounds what a slow or hostile client makes the server hold.
pub(super) const MAX_HEAD: usize = 16 * 1024;
/// Header fields a request may have (hyper's default): more is refused with 431.
pub(super) const MAX_HEADERS: usize = 100;

/// Why a request head is refused; the answer is `HeadError::status` and the connection closes.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub(super) enum HeadError {
    #[error("request head over {MAX_HEAD} bytes")]
    TooLarge,
    #[error("request head with more than {MAX_HEADERS} header fields")]
    TooManyHeaders,
    #[error("malformed request head: {0}")]
    Malformed(String),
}

impl HeadError {
    pub(super) fn status(&self) -> StatusCode {
        match self {
            HeadError::TooLarge | HeadError::TooManyHeaders => {
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE
            }
            HeadError::Malformed(_) => StatusCode::BAD_REQUEST,
        }
    }
}

/// How a request's body is delimited (RFC 9112 §6.3: a request without either header has none).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Framing {
    Length(u64),
    Chunked,
}

/// A parsed request head, owned, so that httparse's borrowed header array never lives in the
/// connection's future.
#[derive(Debug)]
pub(super) struct Head {
    /// Bytes of the head, its blank line included.
    pub(super) len: usize,
    pub(super) method: Method,
    pub(super) uri: Uri,
    pub(super) version: Version,
    pub(super) headers: HeaderMap,
    pub(super) framing: Framing,
    /// The client lets the connection carry another request after this one.
    pub(super) keep_alive: bool,
    /// `Expect: 100-continue` on an HTTP/1.1 request.
    pub(super) expect_continue: bool,
    /// The request asks to switch protocols (a websocket): hyper serves the connection from
    /// here on, since axum's upgrade needs hyper's `OnUpgrade`.
    pub(super) upgrade: bool,
}

/// Parses the request head at the start of `buf`: `Ok(None)` while it is incomplete.
pub(super) fn parse_head(buf: &[u8]) -> Result<Option<Head>, HeadError> {
    let mut fields = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut request = httparse::Request::new(&mut fields);
    let len = match request.parse(buf) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) if buf.len() >= MAX_HEAD => return Err(HeadError::TooLarge),
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => return Err(HeadError::TooManyHeaders),
        Err(e) => return Err(HeadError::Malformed(e.to_string())),
    };
    if len > MAX_HEAD {
        return Err(HeadError::TooLarge);
    }
    let malformed = |what: &str| HeadError::Malformed(what.to_owned());
    let method = request.method.unwrap_or_default();
    let method = Method::from_bytes(method.as_bytes()).map_err(|_| malformed("method"))?;
    let uri: Uri = request.path.unwrap_or_default().parse().map_err(|_| malformed("target"))?;
    let version = match request.version {
        Some(1) => Version::HTTP_11,
        _ => Version::HTTP_10,
    };
    let mut headers = HeaderMap::with_capacity(request.headers.len());
    for field in request.headers.iter() {
        let name =
            HeaderName::from_bytes(field.name.as_bytes()).map_err(|_| malformed("header name"))?;
        let value = HeaderValue::from_bytes(field.value).map_err(|_| malformed("header value"))?;
        headers.append(name, value);
    }
    let framing = framing(&headers, version)?;
    let keep_alive = match version {
        Version::HTTP_11 => !has_token(&headers, &CONNECTION, "close"),
        _ => has_token(&headers, &CONNECTION, "keep-alive"),
    };
    let expect_continue = version == Version::HTTP_11
        && headers.get(EXPECT).is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"));
    let upgrade = headers.contains_key(UPGRADE);
    Ok(Some(Head {
        len,
        method,
        uri,
        version,
        headers,
        framing,
        keep_alive,
        expect_continue,
        upgrade,
    }))
}

/// The body's framing. Ambiguous framing is refused rather than guessed (RFC 9112 §6.1 and
/// §6.3: a proxy in front may have read the message differently, the request-smuggling case).
fn framing(headers: &HeaderMap, version: Version) -> Result<Framing, HeadError> {
    let malformed = |what: &str| Err(HeadError::Malformed(what.to_owned()));
    if headers.contains_key(TRANSFER_ENCODING) {
        if version != Version::HTTP_11 {
            return malformed("transfer-encoding on an HTTP/1.0 request");
        }
        if headers.contains_key(CONTENT_LENGTH) {
            return malformed("both transfer-encoding and content-length");
        }
        let last = headers.get_all(TRANSFER_ENCODING).iter().next_back();
        let last = last.and_then(|v| v.to_str().ok()).and_then(|v| v.rsplit(',').next());
        if !last.is_some_and(|t| t.trim().eq_ignore_ascii_case("chunked")) {
            return malformed("transfer-encoding that does not end in chunked");
        }
        return Ok(Framing::Chunked);
    }
    let mut length = None;
    for value in headers.get_all(CONTENT_LENGTH) {
        // Digits only: `+5` or ` 5` parse as numbers elsewhere and are refused here.
        let text = value.to_str().unwrap_or_default();
        for part in text.split(',') {
            let part = part.trim();
            if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
                return malformed("content-length");
            }
            let n: u64 = part.parse().map_err(|_| HeadError::Malformed("content-length".into()))?;
            if length.is_some_and(|m| m != n) {
                return malformed("conflicting content-length values");
            }
            length = Some(n);
        }
    }
    Ok(Framing::Length(length.unwrap_or(0)))
}

/// Whether a comma-separated header holds `token` (case-insensitive).
fn has_token(headers: &HeaderMap, name: &HeaderName, token: &str) -> bool {
    headers.get_all(name).iter().any(|v| {
        v.to_str().is_ok_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(raw: &str) -> Result<Option<Head>, HeadError> {
        parse_head(raw.as_bytes())
    }

    #[test]
    fn a_head_is_parsed_into_owned_parts() {
        let raw = "POST /api/v2/me?x=1 HTTP/1.1\r\nHost: a\r\nContent-Length: 12\r\n\r\n{\"op\":1}";
        let h = head(raw).expect("valid").expect("complete");
        assert_eq!(h.len, raw.len() - 8);
        assert_eq!(
            (h.method, h.uri.path(), h.uri.query()),
            (Method::POST, "/api/v2/me", Some("x=1"))
        );
        assert_eq!(
            (h.version, h.framing, h.keep_alive),
            (Version::HTTP_11, Framing::Length(12), true)
        );
        assert_eq!(h.headers.get("host").map(HeaderValue::as_bytes), Some(&b"a"[..]));
        assert!(!h.upgrade && !h.expect_continue);
        assert!(head("GET / HTTP/1.1\r\nHost: a\r\n").expect("valid").is_none());
    }

    #[test]
    fn keep_alive_follows_the_version_and_the_connection_header() {
        let keep = |raw: &str| head(raw).expect("valid").expect("complete").keep_alive;
        assert!(keep("GET / HTTP/1.1\r\n\r\n"));
        assert!(!keep("GET / HTTP/1.1\r\nConnection: Close\r\n\r\n"));
        assert!(!keep("GET / HTTP/1.0\r\n\r\n"));
        assert!(keep("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"));
    }

    #[test]
    fn expect_and_upgrade_are_noticed() {
        let h = head("POST / HTTP/1.1\r\nExpect: 100-Continue\r\nContent-Length: 1\r\n\r\n")
            .expect("valid")
            .expect("complete");
        assert!(h.expect_continue);
        let h = head("GET / HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n")
            .expect("valid")
            .expect("complete");
        assert!(h.upgrade);
    }

    #[test]
    fn framing_is_chunked_or_a_length_and_never_ambiguous() {
        let framing = |raw: &str| head(raw).map(|h| h.expect("complete").framing);
        assert_eq!(
            framing("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"),
            Ok(Framing::Chunked)
        );
        assert_eq!(
            framing("POST / HTTP/1.1\r\ncontent-length: 5, 5\r\n\r\n"),
            Ok(Framing::Length(5))
        );
        assert_eq!(framing("GET / HTTP/1.1\r\n\r\n"), Ok(Framing::Length(0)));
        for bad in [
            "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n",
            "POST / HTTP/1.1\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
            "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n",
            "POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n",
            "POST / HTTP/1.1\r\nContent-Length: +3\r\n\r\n",
        ] {
            assert!(matches!(framing(bad), Err(HeadError::Malformed(_))), "{bad:?}");
        }
    }

    #[test]
    fn oversized_and_malformed_heads_are_refused_with_their_status() {
        let big = format!("GET / HTTP/1.1\r\nX-Big: {}", "a".repeat(MAX_HEAD));
        assert_eq!(head(&big).map(|_| ()), Err(HeadError::TooLarge));
        assert_eq!(HeadError::TooLarge.status(), StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
        let many: String = (0..=MAX_HEADERS).map(|i| format!("X-{i}: 1\r\n")).collect();
        let many = format!("GET / HTTP/1.1\r\n{many}\r\n");
        assert_eq!(head(&many).map(|_| ()), Err(HeadError::TooManyHeaders));
        let bad = head("GET / HTTP/1.1\r\nBad Name: 1\r\n\r\n").map(|_| ());
        assert!(matches!(bad, Err(HeadError::Malformed(_))));
        assert_eq!(HeadError::Malformed(String::new()).status(), StatusCode::BAD_REQUEST);
    }
}
