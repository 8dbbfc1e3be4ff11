//! HTTP mechanics shared by the agent and customer clients: a pool of keep-alive connections
//! over gwsim's own HTTP/1.1 (`net::http1`), requests written straight into one buffer, the GWS
//! status envelope, decoding bodies and encoding path segments. Both clients import this module;
//! it imports neither, so the two stay free of each other.
//!
//! reqwest cost about 100K client instructions per REST request (a URL parsed per request,
//! header maps, the redirect and cookie layers, hyper's channel to a connection task and back)
//! and 16 KiB of read buffers per pooled connection; this pool costs a buffer sized to what is
//! read, per request, and nothing per idle connection but its socket.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;
use tokio::sync::Semaphore;

use super::error::GwsError;
use crate::net::{Endpoint, Io, http1, still_open};

/// The largest response body read before giving up: far above any real GWS answer, low enough
/// that a misbehaving server cannot make an agent task allocate without bound.
const MAX_BODY_BYTES: usize = 8 << 20;

/// Redirects followed for one request, as reqwest's default policy did; one more is a
/// transport error.
const MAX_REDIRECTS: usize = 10;

/// Idle connections kept by a pool no [`RequestGate`] bounds (tests, probes).
const MAX_IDLE_UNGATED: usize = 256;

/// A bound on the REST requests in flight through one or more pools, shared by cloning.
///
/// A pool opens a connection for every request that finds none idle, so 15,000 agents logging
/// out at once would open 15,000 sockets on top of their 15,000 CometD ones and run out of file
/// descriptors. Holding a permit from before the request is sent until its body is read bounds
/// the REST connections in use by `size`, and so the connections a pool keeps.
#[derive(Debug, Clone)]
pub struct RequestGate {
    permits: Arc<Semaphore>,
    size: usize,
}

impl RequestGate {
    /// At most `size` requests (at least 1) in flight at once.
    pub fn new(size: usize) -> RequestGate {
        let size = size.max(1);
        RequestGate { permits: Arc::new(Semaphore::new(size)), size }
    }

    /// How many requests may be in flight at once.
    pub fn size(&self) -> usize {
        self.size
    }
}

/// The request methods the REST clients send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Method {
    Get,
    Post,
}

impl Method {
    fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
        }
    }
}

/// One request, written as it will go out: request line, head, then (from `framing_at`) its
/// Content-Type and Content-Length, the empty line and the body. Its `Debug` shows the target
/// only: the head holds credentials.
pub(crate) struct Request {
    buf: Vec<u8>,
    /// The request target is `buf[target.0..target.1]`.
    target: (usize, usize),
    /// Where the request line ends (after its CRLF).
    line_end: usize,
    /// Where the framing headers (or, without a body, the empty line) begin.
    framing_at: usize,
}

impl std::fmt::Debug for Request {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let target = String::from_utf8_lossy(self.target());
        f.debug_struct("Request").field("target", &target).finish_non_exhaustive()
    }
}

impl Request {
    /// Adds a header line; `value` must be visible ASCII (the callers check what they got from
    /// a server or a user before it gets here).
    pub(crate) fn header(&mut self, name: &str, value: &str) {
        for part in [name, ": ", value, "\r\n"] {
            self.buf.extend_from_slice(part.as_bytes());
        }
    }

    /// Ends the head without a body (a GET).
    pub(crate) fn empty(mut self) -> Request {
        self.framing_at = self.buf.len();
        self.buf.extend_from_slice(b"\r\n");
        self
    }

    /// Ends the head with `body` as JSON, serialized straight into the request buffer; its
    /// length then goes in front of it.
    pub(crate) fn json(mut self, body: &impl Serialize) -> Result<Request, GwsError> {
        self.framing_at = self.buf.len();
        // The body goes after its length, so it is serialized aside first and copied once (a
        // few hundred bytes), instead of serialized twice or spliced in behind the head.
        let mut json = Vec::with_capacity(256);
        serde_json::to_writer(&mut json, body).map_err(|e| GwsError::Config(e.to_string()))?;
        self.buf.extend_from_slice(b"Content-Type: application/json\r\nContent-Length: ");
        self.buf.extend_from_slice(itoa::Buffer::new().format(json.len()).as_bytes());
        self.buf.extend_from_slice(b"\r\n\r\n");
        self.buf.extend_from_slice(&json);
        Ok(self)
    }

    /// The request as it goes out (tests).
    #[cfg(test)]
    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.buf
    }

    fn target(&self) -> &[u8] {
        &self.buf[self.target.0..self.target.1]
    }

    /// The request a redirect asks for: to `target`, as GET without a body after a 301, 302 or
    /// 303 (what browsers and reqwest do), with method and body kept after a 307 or 308.
    fn redirected(&self, status: u16, target: &str) -> Request {
        let keep_method = matches!(status, 307 | 308);
        let method: &[u8] = if keep_method {
            self.buf.split(|b| *b == b' ').next().unwrap_or(b"GET")
        } else {
            b"GET"
        };
        let mut buf = Vec::with_capacity(self.buf.len() + target.len());
        buf.extend_from_slice(method);
        buf.push(b' ');
        let start = buf.len();
        buf.extend_from_slice(target.as_bytes());
        let end = buf.len();
        buf.extend_from_slice(b" HTTP/1.1\r\n");
        let line_end = buf.len();
        buf.extend_from_slice(&self.buf[self.line_end..self.framing_at]);
        let framing_at = buf.len();
        if keep_method {
            buf.extend_from_slice(&self.buf[self.framing_at..]);
        } else {
            buf.extend_from_slice(b"\r\n");
        }
        Request { buf, target: (start, end), line_end, framing_at }
    }
}

/// A response as the clients read it: the status, the headers they asked to keep, the body.
/// No `Debug`: the headers are the session's cookies and CSRF token.
pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) headers: Vec<(&'static str, String)>,
    pub(crate) body: Vec<u8>,
}

/// Keep-alive connections to one base URL, from one source address: idle ones wait in a list
/// and are checked before reuse; a pool opens one only when none is idle, so it holds at most
/// as many as were in use at once, which the [`RequestGate`] bounds.
pub(crate) struct Pool {
    endpoint: Endpoint,
    /// The base URL, to resolve a redirect's `Location` against.
    origin: url::Url,
    /// The base URL's path without its trailing `/`, put in front of every request's path.
    prefix: String,
    /// The head lines every request starts with: Host, User-Agent, Accept.
    common: String,
    connect_timeout: Duration,
    request_timeout: Duration,
    max_idle: usize,
    // A std Mutex: held to push or pop one connection, never across an await.
    idle: Mutex<Vec<Box<dyn Io>>>,
}

impl Pool {
    /// A pool for `base` (an absolute http(s) URL, checked by the caller).
    pub(crate) fn new(
        base: &url::Url,
        local_address: Option<std::net::IpAddr>,
        accept_invalid_certs: bool,
        connect_timeout: Duration,
        request_timeout: Duration,
        gate: Option<&RequestGate>,
    ) -> Result<Pool, GwsError> {
        let endpoint = Endpoint::new(base, local_address, accept_invalid_certs)?;
        let prefix = base.path().trim_end_matches('/').to_owned();
        let common = format!(
            "Host: {}\r\nUser-Agent: gwsim/{}\r\nAccept: application/json\r\n",
            endpoint.authority,
            env!("CARGO_PKG_VERSION")
        );
        Ok(Pool {
            endpoint,
            origin: base.clone(),
            prefix,
            common,
            connect_timeout,
            request_timeout,
            max_idle: gate.map_or(MAX_IDLE_UNGATED, RequestGate::size),
            idle: Mutex::new(Vec::new()),
        })
    }

    /// A request to `path` (which must start with `/` and may end in a `?query`), below the
    /// base URL's path, with the head lines every request has.
    pub(crate) fn request(&self, method: Method, path: &str) -> Request {
        let mut buf = Vec::with_capacity(384);
        buf.extend_from_slice(method.as_str().as_bytes());
        buf.push(b' ');
        let start = buf.len();
        buf.extend_from_slice(self.prefix.as_bytes());
        buf.extend_from_slice(path.as_bytes());
        let end = buf.len();
        buf.extend_from_slice(b" HTTP/1.1\r\n");
        let line_end = buf.len();
        buf.extend_from_slice(self.common.as_bytes());
        Request { buf, target: (start, end), line_end, framing_at: line_end }
    }

    /// Sends `request`, within `gate` when there is one, and reads the response (body up to
    /// [`MAX_BODY_BYTES`], the headers named in `keep`), following same-origin redirects. The
    /// request timeout bounds it all after the gate; waiting for the gate counts in the
    /// request's latency, as it is time the request really waited.
    pub(crate) async fn execute(
        &self,
        gate: Option<&RequestGate>,
        request: Request,
        keep: &[&'static str],
    ) -> Result<Reply, GwsError> {
        // The semaphore is never closed, so acquiring fails never; without a permit the request
        // still goes (unbounded) rather than failing for a reason of gwsim's own.
        let _permit = match gate {
            Some(g) => g.permits.acquire().await.ok(),
            None => None,
        };
        tokio::time::timeout(self.request_timeout, self.follow(request, keep))
            .await
            .map_err(|_| GwsError::Timeout)?
    }

    async fn follow(&self, mut request: Request, keep: &[&'static str]) -> Result<Reply, GwsError> {
        for _ in 0..=MAX_REDIRECTS {
            let response = self.exchange(&request.buf, keep).await?;
            let next = match (response.status, response.location.as_deref()) {
                (301 | 302 | 303 | 307 | 308, Some(location)) => {
                    self.redirect_target(request.target(), location)
                }
                _ => None,
            };
            match next {
                Some(target) => request = request.redirected(response.status, &target),
                None => {
                    return Ok(Reply {
                        status: response.status,
                        headers: response.kept,
                        body: response.body,
                    });
                }
            }
        }
        Err(GwsError::Transport(format!("more than {MAX_REDIRECTS} redirects")))
    }

    /// The request target a redirect points to, when it stays on this pool's origin (scheme,
    /// host, port). One that leaves it is not followed (its credentials would go elsewhere):
    /// the 3xx itself is then the answer, counted as its status.
    fn redirect_target(&self, current: &[u8], location: &str) -> Option<String> {
        let current = self.origin.join(std::str::from_utf8(current).ok()?).ok()?;
        let next = current.join(location).ok()?;
        let same = next.scheme() == self.origin.scheme()
            && next.host_str() == self.origin.host_str()
            && next.port_or_known_default() == self.origin.port_or_known_default();
        if !same {
            return None;
        }
        let mut target = next.path().to_owned();
        if let Some(query) = next.query() {
            target.push('?');
            target.push_str(query);
        }
        Some(target)
    }

    /// One exchange on an idle connection, or a new one. A connection that fails after the
    /// request went out is a failed request, never retried: a POST is not idempotent.
    async fn exchange(
        &self,
        request: &[u8],
        keep: &[&'static str],
    ) -> Result<http1::Response, GwsError> {
        let mut conn = match self.take_idle() {
            Some(conn) => conn,
            None => tokio::time::timeout(self.connect_timeout, self.endpoint.connect())
                .await
                .map_err(|_| GwsError::Timeout)??,
        };
        let response =
            http1::exchange(conn.as_mut(), request, MAX_BODY_BYTES, keep, http1::FIRST_READ)
                .await?;
        if response.reusable {
            self.put_idle(conn);
        }
        Ok(response)
    }

    /// The most recently used idle connection still open; closed ones are dropped on the way.
    fn take_idle(&self) -> Option<Box<dyn Io>> {
        // Bounded: each turn removes one connection from a list of at most `max_idle`.
        for _ in 0..=self.max_idle {
            let mut conn = self.lock_idle().pop()?;
            if still_open(conn.as_mut()) {
                return Some(conn);
            }
        }
        None
    }

    fn put_idle(&self, conn: Box<dyn Io>) {
        let mut idle = self.lock_idle();
        if idle.len() < self.max_idle {
            idle.push(conn);
        }
    }

    fn lock_idle(&self) -> std::sync::MutexGuard<'_, Vec<Box<dyn Io>>> {
        // Connections are pushed and popped whole: a poisoned list is still a list.
        self.idle.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Whether `value` can go in a request head as it is: visible ASCII, spaces and tabs (what a
/// header value from a server or a user must be before gwsim echoes it).
pub(crate) fn is_header_value(value: &str) -> bool {
    value.bytes().all(|b| b == b'\t' || (b' '..=b'~').contains(&b))
}

/// Whether `name` is an HTTP token (RFC 9110 §5.6.2), so it can name a header.
pub(crate) fn is_token(name: &str) -> bool {
    !name.is_empty()
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// Percent-encodes one path segment, so an id a server made up cannot escape its path.
pub(crate) fn encode_segment(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    encode_segment_into(&mut out, segment);
    out
}

/// [`encode_segment`] appended to `out` (a request path built in one buffer).
pub(crate) fn encode_segment_into(out: &mut String, segment: &str) {
    // "." and ".." are path navigation even when every byte is unreserved.
    match segment {
        "." => return out.push_str("%2E"),
        ".." => return out.push_str("%2E%2E"),
        _ => {}
    }
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for byte in segment.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(byte >> 4)]));
            out.push(char::from(HEX[usize::from(byte & 0xF)]));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        #[test]
        fn arbitrary_responses_never_panic(http in 100u16..600, body in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..64),
            json_body in "\\{\"statusCode\":(-1|0|2|7|1e3|\"x\"|null)(,\"referenceId\":(1|-1|\"7\"|\\[\\]))?\\}") {
            let _ = super::super::envelope::check_status(http, &body);
            let _ = super::super::envelope::check_status(http, json_body.as_bytes());
            if let Ok(text) = std::str::from_utf8(&body) {
                let _ = encode_segment(text);
            }
        }
    }

    #[test]
    fn header_values_and_names_are_checked() {
        assert!(is_header_value("Basic YW5u\t=="));
        assert!(!is_header_value("a\r\nX-Injected: 1"));
        assert!(!is_header_value("caf\u{e9}"));
        assert!(is_token("X-CSRF-TOKEN"));
        assert!(!is_token("bad name"));
        assert!(!is_token(""));
    }

    fn pool(base: &str) -> Pool {
        let url = url::Url::parse(base).expect("url");
        let t = Duration::from_secs(1);
        Pool::new(&url, None, false, t, t, None).expect("pool")
    }

    #[test]
    fn requests_are_written_whole() {
        let p = pool("http://h:8090/gws/");
        let mut r = p.request(Method::Post, "/api/v2/me?x=1");
        r.header("Authorization", "Basic x");
        let r = r.json(&serde_json::json!({"operationName": "Ready"})).expect("json");
        let text = String::from_utf8(r.buf.clone()).expect("ascii");
        assert_eq!(
            text,
            "POST /gws/api/v2/me?x=1 HTTP/1.1\r\nHost: h:8090\r\nUser-Agent: gwsim/".to_owned()
                + env!("CARGO_PKG_VERSION")
                + "\r\nAccept: application/json\r\nAuthorization: Basic x\r\n\
                Content-Type: application/json\r\nContent-Length: 25\r\n\r\n\
                {\"operationName\":\"Ready\"}"
        );
        assert_eq!(r.target(), b"/gws/api/v2/me?x=1");
        let get = pool("http://h").request(Method::Get, "/api/v2/me").empty();
        assert!(get.buf.starts_with(b"GET /api/v2/me HTTP/1.1\r\nHost: h\r\n"));
        assert!(get.buf.ends_with(b"application/json\r\n\r\n"));
    }

    #[test]
    fn redirects_stay_on_the_origin_and_change_the_method_as_browsers_do() {
        let p = pool("http://h:8090/gws");
        let post = p.request(Method::Post, "/api/v2/me").json(&1).expect("json");
        assert_eq!(p.redirect_target(post.target(), "/other?a=b").as_deref(), Some("/other?a=b"));
        assert_eq!(p.redirect_target(post.target(), "x").as_deref(), Some("/gws/api/v2/x"));
        assert_eq!(p.redirect_target(post.target(), "http://h:8090/y").as_deref(), Some("/y"));
        assert_eq!(p.redirect_target(post.target(), "http://elsewhere:8090/y"), None);
        assert_eq!(p.redirect_target(post.target(), "https://h:8090/y"), None);
        let get = post.redirected(302, "/y");
        assert!(get.buf.starts_with(b"GET /y HTTP/1.1\r\nHost: h:8090\r\n"));
        assert!(get.buf.ends_with(b"application/json\r\n\r\n"), "no body after a 302");
        let kept = post.redirected(307, "/z");
        assert!(kept.buf.starts_with(b"POST /z HTTP/1.1\r\n"));
        assert!(kept.buf.ends_with(b"Content-Length: 1\r\n\r\n1"));
    }

    #[test]
    fn path_segments_are_encoded() {
        assert_eq!(encode_segment("0000Na9B26EF002X"), "0000Na9B26EF002X");
        assert_eq!(encode_segment("652492d9-c2d9"), "652492d9-c2d9");
        assert_eq!(encode_segment("../x"), "..%2Fx");
        assert_eq!(encode_segment(".."), "%2E%2E");
        assert_eq!(encode_segment("a b?c"), "a%20b%3Fc");
        assert_eq!(encode_segment("é\u{7f}%"), "%C3%A9%7F%25");
    }
}
