//! The simulator's GWS agent REST client (protocol.md §1.2, §4, §15.2–§15.4): one cheap, cloneable
//! [`GwsClient`] owning the connection pool, and one [`AgentHttp`] per virtual agent holding that
//! agent's credentials, `JSESSIONID` cookie and CSRF token.
//!
//! Cookies and the CSRF token are kept per agent rather than per pool, because one pool is shared
//! by thousands of agents.

use std::fmt;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use http::header::{self, HeaderMap, HeaderValue};
use serde::Deserialize;
use serde_json::Value;

use super::envelope::{check_status, decode_checked};
use super::error::GwsError;
use super::http::{
    Method, Pool, RequestGate, encode_segment, encode_segment_into, is_header_value, is_token,
};
use super::media::Media;
use super::ops::{ChannelOperation, Me, MeOperation, Operation};

/// The most cookies one agent keeps.
const MAX_COOKIES: usize = 16;

const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The response header naming the header a client must echo the CSRF token in (§1.2).
pub const CSRF_HEADER_NAME_HEADER: &str = "x-csrf-header";
/// The response header carrying the CSRF token, and the usual name of the echo header.
pub const CSRF_TOKEN_HEADER: &str = "x-csrf-token";

/// The response headers an agent's session reads (§1.2): its cookies and the CSRF token.
const SESSION_HEADERS: &[&str] = &["set-cookie", CSRF_TOKEN_HEADER, CSRF_HEADER_NAME_HEADER];

/// Builds a [`GwsClient`]; the options are frozen by [`GwsClientBuilder::build`].
#[derive(Debug, Clone)]
pub struct GwsClientBuilder {
    base_url: Option<String>,
    request_timeout: Duration,
    connect_timeout: Duration,
    accept_invalid_certs: bool,
    local_address: Option<IpAddr>,
    gate: Option<RequestGate>,
}

impl Default for GwsClientBuilder {
    fn default() -> Self {
        GwsClientBuilder {
            base_url: None,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            accept_invalid_certs: false,
            local_address: None,
            gate: None,
        }
    }
}

impl GwsClientBuilder {
    /// `http(s)://host:port`, optionally with a path prefix; a trailing `/` is ignored.
    pub fn base_url(mut self, url: impl Into<String>) -> Self {
        self.base_url = Some(url.into());
        self
    }

    /// Whole-request timeout for REST calls (default 10 s). CometD long-polls set their own.
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// TCP (and TLS) connect timeout (default 5 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Accept self-signed or otherwise invalid server certificates (test deployments only).
    pub fn accept_invalid_certs(mut self, accept: bool) -> Self {
        self.accept_invalid_certs = accept;
        self
    }

    /// Bind outgoing connections to this local address, so several clients can spread agents
    /// over several source addresses (one address runs out of ephemeral ports near 28k).
    pub fn local_address(mut self, address: Option<IpAddr>) -> Self {
        self.local_address = address;
        self
    }

    /// Bound the REST requests in flight to the gate's size; one
    /// gate shared by several clients bounds them together. CometD long-polls are not gated: each
    /// agent holds one anyway.
    pub fn request_gate(mut self, gate: Option<RequestGate>) -> Self {
        self.gate = gate;
        self
    }

    pub fn build(self) -> Result<GwsClient, GwsError> {
        let raw = self.base_url.ok_or_else(|| GwsError::Config("base url not set".into()))?;
        let base = normalize_base_url(&raw)?;
        let parsed = url::Url::parse(&base)
            .map_err(|e| GwsError::Config(format!("base url {raw:?}: {e}")))?;
        // The pool opens a connection only when none is idle, so its size follows the peak in
        // use, which the gate bounds (CometD long-polls have connections of their own, see
        // `cometd::client`).
        let pool = Pool::new(
            &parsed,
            self.local_address,
            self.accept_invalid_certs,
            self.connect_timeout,
            self.request_timeout,
            self.gate.as_ref(),
        )?;
        Ok(GwsClient {
            pool: Arc::new(pool),
            base: base.into(),
            request_timeout: self.request_timeout,
            gate: self.gate,
        })
    }
}

/// Checks that `raw` is an absolute http(s) URL and returns it without a trailing `/`.
fn normalize_base_url(raw: &str) -> Result<String, GwsError> {
    let url = url::Url::parse(raw.trim())
        .map_err(|e| GwsError::Config(format!("base url {raw:?}: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(GwsError::Config(format!("base url {raw:?}: scheme must be http or https")));
    }
    if url.host_str().is_none() || url.query().is_some() || url.fragment().is_some() {
        return Err(GwsError::Config(format!(
            "base url {raw:?}: needs a host and no query or fragment"
        )));
    }
    Ok(url.as_str().trim_end_matches('/').to_owned())
}

/// A GWS endpoint plus a connection pool. Cloning is cheap and shares the pool; a client built
/// separately has its own pool (closest to one desktop per agent).
#[derive(Clone)]
pub struct GwsClient {
    pool: Arc<Pool>,
    base: Arc<str>,
    request_timeout: Duration,
    gate: Option<RequestGate>,
}

impl fmt::Debug for GwsClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GwsClient").field("base", &self.base).finish_non_exhaustive()
    }
}

impl GwsClient {
    pub fn builder() -> GwsClientBuilder {
        GwsClientBuilder::default()
    }

    /// The normalized base URL (no trailing `/`).
    pub fn base_url(&self) -> &str {
        &self.base
    }

    pub fn request_timeout(&self) -> Duration {
        self.request_timeout
    }

    /// An agent's HTTP session. Nothing is sent until [`AgentHttp::login`].
    pub fn agent(&self, credentials: Credentials) -> AgentHttp {
        let authorization = basic_authorization(&credentials).into();
        AgentHttp {
            client: self.clone(),
            credentials,
            authorization,
            session: Mutex::new(SessionState::default()),
        }
    }

    /// `GET /api/v2/diagnostics/version`: needs no authentication, so it serves as a readiness
    /// probe for a target.
    pub async fn version(&self) -> Result<String, GwsError> {
        #[derive(Deserialize)]
        struct Version {
            version: String,
        }
        let req = self.request(Method::Get, "/api/v2/diagnostics/version").empty();
        let reply = self.execute(req, &[]).await?;
        let v: Version = decode_checked(reply.status, &reply.body)?;
        Ok(v.version)
    }

    /// A request to `path` (which must start with `/` and may end in a `?query`) below the
    /// base URL, with the head lines every request carries.
    pub(crate) fn request(&self, method: Method, path: &str) -> super::http::Request {
        self.pool.request(method, path)
    }

    /// Sends `request` through the pool within the shared gate, keeping the response headers
    /// named in `keep`.
    pub(crate) async fn execute(
        &self,
        request: super::http::Request,
        keep: &[&'static str],
    ) -> Result<super::http::Reply, GwsError> {
        self.pool.execute(self.gate.as_ref(), request, keep).await
    }
}

/// An agent's user name and password. `Debug` never shows the password, so credentials can sit
/// in structs that get logged.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub username: String,
    pub password: String,
}

impl Credentials {
    pub fn new(username: impl Into<String>, password: impl Into<String>) -> Self {
        Credentials { username: username.into(), password: password.into() }
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// `Basic base64(user:pass)`: base64 output and the "Basic " prefix are always valid header
/// bytes.
fn basic_authorization(credentials: &Credentials) -> String {
    let token = base64::engine::general_purpose::STANDARD
        .encode(format!("{}:{}", credentials.username, credentials.password));
    format!("Basic {token}")
}

/// `value` as a header value marked sensitive, so `http`'s own Debug output hides it.
fn sensitive(value: &str) -> Option<HeaderValue> {
    let mut value = HeaderValue::from_str(value).ok()?;
    value.set_sensitive(true);
    Some(value)
}

/// The answer to an accepted operation (statusCode 0, or 7 for a partial success).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpResponse {
    pub http: u16,
    pub status_code: u32,
    pub reference_id: Option<u64>,
}

/// The `JSESSIONID` cookie (and any other cookie the server sets) and the CSRF echo header of
/// one agent's HTTP session. Pure: fed response headers, asked for request headers. Every value
/// kept is visible ASCII (checked as it comes in), so it can go in a request head as it is.
#[derive(Debug, Default, Clone)]
pub(crate) struct SessionState {
    cookies: Vec<(String, String)>,
    cookie_header: Option<String>,
    /// The echo header's name and the token.
    csrf: Option<(String, String)>,
}

impl SessionState {
    /// Takes `Set-Cookie` and the CSRF headers from any response (the headers a reply kept, by
    /// lower-case name): the server may renew the session (and so the token) at any time, not
    /// only at login.
    pub(crate) fn absorb(&mut self, headers: &[(&str, String)]) {
        let mut changed = false;
        for (_, text) in headers.iter().filter(|(name, _)| *name == "set-cookie") {
            let Some(cookie) = parse_set_cookie(text) else { continue };
            changed = true;
            self.cookies.retain(|(name, _)| *name != cookie.name);
            // A session needs one or two cookies; a server setting dozens must not make every
            // agent's requests (and memory) grow without bound.
            if !cookie.expired && self.cookies.len() < MAX_COOKIES {
                self.cookies.push((cookie.name, cookie.value));
            }
        }
        if changed {
            self.cookie_header = cookie_header(&self.cookies);
        }
        if let Some(csrf) = parse_csrf(headers) {
            self.csrf = Some(csrf);
        }
    }

    pub(crate) fn cookie_header(&self) -> Option<&str> {
        self.cookie_header.as_deref()
    }

    pub(crate) fn csrf(&self) -> Option<(&str, &str)> {
        self.csrf.as_ref().map(|(name, token)| (name.as_str(), token.as_str()))
    }
}

/// One `Set-Cookie` header reduced to what a client sends back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SetCookie {
    pub(crate) name: String,
    pub(crate) value: String,
    /// `Max-Age=0` (or negative) or an `Expires` in 1970: the server deletes the cookie.
    pub(crate) expired: bool,
}

/// A cookie gwsim can send back (a token name and a visible-ASCII value without `;`), or `None`.
pub(crate) fn parse_set_cookie(text: &str) -> Option<SetCookie> {
    let mut parts = text.split(';');
    let (name, value) = parts.next()?.split_once('=')?;
    let name = name.trim();
    let value = value.trim();
    if !is_token(name) || !is_header_value(value) {
        return None;
    }
    let mut expired = false;
    for attribute in parts {
        let (key, val) = attribute.split_once('=').unwrap_or((attribute, ""));
        let key = key.trim();
        let val = val.trim();
        if key.eq_ignore_ascii_case("max-age") {
            expired |= val.parse::<i64>().is_ok_and(|age| age <= 0);
        } else if key.eq_ignore_ascii_case("expires") {
            expired |= val.contains("1970");
        }
    }
    Some(SetCookie { name: name.to_owned(), value: value.to_owned(), expired })
}

fn cookie_header(cookies: &[(String, String)]) -> Option<String> {
    if cookies.is_empty() {
        return None;
    }
    Some(cookies.iter().map(|(n, v)| format!("{n}={v}")).collect::<Vec<_>>().join("; "))
}

/// The header to echo on POST, or `None` when the server runs without CSRF protection. A token
/// without a usable `X-CSRF-HEADER` goes in `X-CSRF-TOKEN`, the name every documented deployment
/// uses; a token that is not a visible-ASCII value is no token.
pub(crate) fn parse_csrf(headers: &[(&str, String)]) -> Option<(String, String)> {
    let get = |wanted: &str| headers.iter().find(|(name, _)| *name == wanted).map(|(_, v)| v);
    let token = get(CSRF_TOKEN_HEADER)?;
    if token.is_empty() || !is_header_value(token) {
        return None;
    }
    let name = get(CSRF_HEADER_NAME_HEADER)
        .map(|v| v.trim())
        .filter(|v| is_token(v))
        .map_or_else(|| CSRF_TOKEN_HEADER.to_owned(), str::to_ascii_lowercase);
    Some((name, token.clone()))
}

/// One virtual agent's HTTP side: Basic credentials on every request, the session cookie, and
/// the CSRF token on every POST.
pub struct AgentHttp {
    client: GwsClient,
    credentials: Credentials,
    /// `Basic ...`, written once.
    authorization: Box<str>,
    // A std Mutex, not tokio's: it guards a few header values and is never held across an await.
    session: Mutex<SessionState>,
}

impl fmt::Debug for AgentHttp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AgentHttp")
            .field("base", &self.client.base)
            .field("username", &self.credentials.username)
            .finish_non_exhaustive()
    }
}

impl AgentHttp {
    pub fn username(&self) -> &str {
        &self.credentials.username
    }

    pub fn client(&self) -> &GwsClient {
        &self.client
    }

    /// `GET /api/v2/me?subresources=*` with Basic auth: opens the HTTP session (cookie), picks up
    /// the CSRF token if the server uses one, and returns the user. Calling it again re-reads the
    /// user (state recovery) and refreshes cookie and token.
    pub async fn login(&mut self) -> Result<Me, GwsError> {
        #[derive(Deserialize)]
        struct UserBody {
            user: Me,
        }
        let req = self.request(Method::Get, "/api/v2/me?subresources=*").empty();
        let (http, body) = self.send(req).await?;
        let parsed: UserBody = decode_checked(http, &body)?;
        Ok(parsed.user)
    }

    /// `POST /api/v2/me` (StartContactCenterSession, EndContactCenterSession, Ready, NotReady).
    pub async fn me_operation(&self, op: &MeOperation) -> Result<OpResponse, GwsError> {
        self.operation("/api/v2/me", op).await
    }

    /// `POST /api/v2/me/channels/{channel}` (Ready / NotReady on one channel).
    pub async fn channel_operation(
        &self,
        channel: &str,
        op: &ChannelOperation,
    ) -> Result<OpResponse, GwsError> {
        self.operation(&format!("/api/v2/me/channels/{}", encode_segment(channel)), op).await
    }

    /// `POST /api/v2/me/{chats|facebooksessions}/{id}`.
    pub async fn interaction_operation(
        &self,
        media: Media,
        id: &str,
        op: &Operation,
    ) -> Result<OpResponse, GwsError> {
        self.operation(&interaction_path(media, id), op).await
    }

    /// [`AgentHttp::interaction_operation`] with any JSON body, sent as it is: for conformance
    /// tests that must send what no [`Operation`] can (unknown names, missing or mistyped
    /// parameters). The simulator itself only sends typed operations.
    pub async fn interaction_operation_json(
        &self,
        media: Media,
        id: &str,
        body: &Value,
    ) -> Result<OpResponse, GwsError> {
        self.operation(&interaction_path(media, id), body).await
    }

    /// Authorization and Cookie for the CometD transport (protocol.md §3.1: same credentials or
    /// session as REST, no CSRF).
    pub fn cometd_headers(&self) -> HeaderMap {
        let mut headers = HeaderMap::with_capacity(2);
        if let Some(authorization) = sensitive(&self.authorization) {
            headers.insert(header::AUTHORIZATION, authorization);
        }
        if let Some(cookie) = self.lock_session().cookie_header().and_then(sensitive) {
            headers.insert(header::COOKIE, cookie);
        }
        headers
    }

    /// Whether the server handed out a CSRF token (it runs with CSRF protection on).
    pub fn has_csrf_token(&self) -> bool {
        self.lock_session().csrf().is_some()
    }

    /// Whether a session cookie is held.
    pub fn has_session_cookie(&self) -> bool {
        self.lock_session().cookie_header().is_some()
    }

    async fn operation(
        &self,
        path: &str,
        body: &impl serde::Serialize,
    ) -> Result<OpResponse, GwsError> {
        let req = self.request(Method::Post, path).json(body)?;
        let (http, raw) = self.send(req).await?;
        let envelope = check_status(http, &raw)?;
        Ok(OpResponse {
            http,
            status_code: envelope.status_code,
            reference_id: envelope.reference_id,
        })
    }

    /// A request with this agent's Basic credentials, cookie, and (on a POST) CSRF echo.
    fn request(&self, method: Method, path: &str) -> super::http::Request {
        let mut req = self.client.request(method, path);
        req.header("Authorization", &self.authorization);
        let session = self.lock_session();
        if let Some(cookie) = session.cookie_header() {
            req.header("Cookie", cookie);
        }
        if let Some((name, token)) = session.csrf().filter(|_| method == Method::Post) {
            req.header(name, token);
        }
        req
    }

    async fn send(&self, req: super::http::Request) -> Result<(u16, Vec<u8>), GwsError> {
        let reply = self.client.execute(req, SESSION_HEADERS).await?;
        if !reply.headers.is_empty() {
            self.lock_session().absorb(&reply.headers);
        }
        Ok((reply.status, reply.body))
    }

    fn lock_session(&self) -> std::sync::MutexGuard<'_, SessionState> {
        // A panic elsewhere while holding this lock cannot leave the header values half-written,
        // so a poisoned lock is still good to use.
        self.session.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// `/api/v2/me/{media}/{id}`, built in one buffer (every interaction operation asks for one).
fn interaction_path(media: Media, id: &str) -> String {
    const PREFIX: &str = "/api/v2/me/";
    let segment = media.path_segment();
    let mut path = String::with_capacity(PREFIX.len() + segment.len() + 1 + id.len());
    path.push_str(PREFIX);
    path.push_str(segment);
    path.push('/');
    encode_segment_into(&mut path, id);
    path
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Headers as a reply keeps them: by lower-case name, in order.
    fn headers(pairs: &[(&'static str, &str)]) -> Vec<(&'static str, String)> {
        pairs.iter().map(|(name, value)| (*name, (*value).to_owned())).collect()
    }

    #[test]
    fn base_urls_are_normalized_and_checked() {
        assert_eq!(normalize_base_url("http://h:8090/").expect("ok"), "http://h:8090");
        assert_eq!(normalize_base_url("https://h/gws/").expect("ok"), "https://h/gws");
        assert!(normalize_base_url("ftp://h").is_err());
        assert!(normalize_base_url("h:8090").is_err());
        assert!(normalize_base_url("http://h/?x=1").is_err());
        assert!(GwsClient::builder().build().is_err());
        let client = GwsClient::builder().base_url("http://127.0.0.1:1/").build().expect("client");
        assert_eq!(client.base_url(), "http://127.0.0.1:1");
    }

    #[test]
    fn request_targets_are_the_base_path_and_the_path() {
        for (base, target) in [
            ("http://127.0.0.1:1/", "/api/v2/me?x=1"),
            ("https://h:8443/gws/", "/gws/api/v2/me?x=1"),
            ("http://h/a/b", "/a/b/api/v2/me?x=1"),
        ] {
            let client = GwsClient::builder().base_url(base).build().expect("client");
            let req = client.request(Method::Get, "/api/v2/me?x=1").empty();
            let line = format!("GET {target} HTTP/1.1\r\n");
            assert!(req.as_bytes().starts_with(line.as_bytes()), "{base}");
        }
    }

    #[test]
    fn credentials_never_show_the_password() {
        let c = Credentials::new("ann", "s3cret");
        let text = format!("{c:?}");
        assert!(!text.contains("s3cret"), "{text}");
        assert!(text.contains("ann"), "{text}");
        let client = GwsClient::builder().base_url("http://127.0.0.1:1").build().expect("client");
        let agent = client.agent(c);
        let text = format!("{agent:?} {:?}", agent.cometd_headers());
        assert!(!text.contains("s3cret"), "{text}");
        assert!(!text.contains("YW5uOnMzY3JldA"), "{text}");
    }

    #[test]
    fn basic_authorization_is_rfc7617() {
        let value = basic_authorization(&Credentials::new("ann", "s3cret"));
        assert_eq!(value, "Basic YW5uOnMzY3JldA==");
        let agent = GwsClient::builder()
            .base_url("http://127.0.0.1:1")
            .build()
            .expect("client")
            .agent(Credentials::new("ann", "s3cret"));
        let headers = agent.cometd_headers();
        assert!(headers.get(header::AUTHORIZATION).is_some_and(HeaderValue::is_sensitive));
    }

    #[test]
    fn set_cookie_parsing() {
        assert_eq!(
            parse_set_cookie("JSESSIONID=abc123;Path=/;HttpOnly"),
            Some(SetCookie { name: "JSESSIONID".into(), value: "abc123".into(), expired: false })
        );
        let gone =
            parse_set_cookie("JSESSIONID=; Max-Age=0; Expires=Thu, 01-Jan-1970 00:00:00 GMT")
                .expect("parses");
        assert!(gone.expired);
        assert!(
            parse_set_cookie("JSESSIONID=x; Expires=Thu, 01 Jan 1970 00:00:00 GMT")
                .is_some_and(|c| c.expired)
        );
        assert!(parse_set_cookie("noequals").is_none());
        assert!(parse_set_cookie("=x").is_none());
        assert!(parse_set_cookie("").is_none());
        assert_eq!(parse_set_cookie("a=b=c").map(|c| c.value), Some("b=c".into()));
    }

    #[test]
    fn session_keeps_cookies_by_name_and_drops_deleted_ones() {
        let mut s = SessionState::default();
        assert!(s.cookie_header().is_none());
        s.absorb(&headers(&[
            ("set-cookie", "JSESSIONID=one;Path=/"),
            ("set-cookie", "LB=node2; Path=/"),
        ]));
        assert_eq!(s.cookie_header().expect("cookie"), "JSESSIONID=one; LB=node2");
        s.absorb(&headers(&[("set-cookie", "JSESSIONID=two;Path=/")]));
        assert_eq!(s.cookie_header().expect("cookie"), "LB=node2; JSESSIONID=two");
        s.absorb(&headers(&[("set-cookie", "LB=; Max-Age=0")]));
        s.absorb(&headers(&[("set-cookie", "JSESSIONID=; Max-Age=0")]));
        assert!(s.cookie_header().is_none());
        // A response without Set-Cookie leaves the jar alone.
        s.absorb(&headers(&[("set-cookie", "JSESSIONID=three")]));
        s.absorb(&headers(&[("x-other", "y")]));
        assert!(s.cookie_header().is_some());
    }

    #[test]
    fn csrf_header_handling() {
        assert!(parse_csrf(&headers(&[])).is_none(), "csrf off: no headers");
        let (name, token) = parse_csrf(&headers(&[
            ("x-csrf-header", "X-CSRF-TOKEN"),
            ("x-csrf-token", "4a92be65-ec55-4aa2-b9df-9518fd870f2f"),
        ]))
        .expect("csrf on");
        assert_eq!(name, "x-csrf-token");
        assert_eq!(token, "4a92be65-ec55-4aa2-b9df-9518fd870f2f");
        let (name, _) =
            parse_csrf(&headers(&[("x-csrf-header", "X-Custom-Csrf"), ("x-csrf-token", "t")]))
                .expect("custom name");
        assert_eq!(name, "x-custom-csrf");
        let (name, _) =
            parse_csrf(&headers(&[("x-csrf-header", "bad name"), ("x-csrf-token", "t")]))
                .expect("fallback name");
        assert_eq!(name, "x-csrf-token");
        assert!(parse_csrf(&headers(&[("x-csrf-header", "X-CSRF-TOKEN")])).is_none());
        assert!(parse_csrf(&headers(&[("x-csrf-token", "t\u{e9}")])).is_none(), "not ascii");
        let mut s = SessionState::default();
        s.absorb(&headers(&[("x-csrf-token", "t1")]));
        s.absorb(&headers(&[]));
        assert_eq!(s.csrf().map(|(_, v)| v), Some("t1"));
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_set_cookie_never_panics(text in ".{0,64}") {
            let _ = parse_set_cookie(&text);
        }
    }
}
