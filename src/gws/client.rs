//! The simulator's GWS agent REST client (protocol.md §1.2, §4, §15.2–§15.4): one cheap, cloneable
//! [`GwsClient`] owning the connection pool, and one [`AgentHttp`] per virtual agent holding that
//! agent's credentials, `JSESSIONID` cookie and CSRF token.
//!
//! Cookies and the CSRF token are kept by hand rather than in reqwest's cookie store, because one
//! pool is shared by thousands of agents and a reqwest client has a single cookie store.

use std::fmt;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use reqwest::header::{self, HeaderMap, HeaderName, HeaderValue};
use reqwest::{Method, RequestBuilder};
use serde::Deserialize;
use serde_json::Value;

use super::error::{GwsError, error_chain};
use super::http::{RequestGate, check_status, decode, encode_segment, execute};
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
        let parsed = reqwest::Url::parse(&base)
            .map_err(|e| GwsError::Config(format!("base url {raw:?}: {e}")))?;
        // No cap on idle connections: the pool opens one only when none is idle, so its size
        // follows the peak in use, which the gate bounds (CometD long-polls have connections of
        // their own, see `cometd::client`).
        let http = reqwest::Client::builder()
            .timeout(self.request_timeout)
            .connect_timeout(self.connect_timeout)
            .danger_accept_invalid_certs(self.accept_invalid_certs)
            .local_address(self.local_address)
            .user_agent(concat!("gwsim/", env!("CARGO_PKG_VERSION")))
            .tcp_nodelay(true)
            .build()
            .map_err(|e| GwsError::Config(error_chain(&e)))?;
        Ok(GwsClient {
            http,
            base: base.into(),
            parsed,
            request_timeout: self.request_timeout,
            gate: self.gate,
        })
    }
}

/// Checks that `raw` is an absolute http(s) URL and returns it without a trailing `/`.
fn normalize_base_url(raw: &str) -> Result<String, GwsError> {
    let url = reqwest::Url::parse(raw.trim())
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
    http: reqwest::Client,
    base: Arc<str>,
    /// `base`, parsed once.
    parsed: reqwest::Url,
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

    /// The REST connection pool.
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// The bound on REST requests in flight this client shares, if any.
    pub(crate) fn gate(&self) -> Option<&RequestGate> {
        self.gate.as_ref()
    }

    pub fn request_timeout(&self) -> Duration {
        self.request_timeout
    }

    /// An agent's HTTP session. Nothing is sent until [`AgentHttp::login`].
    pub fn agent(&self, credentials: Credentials) -> AgentHttp {
        let authorization = basic_authorization(&credentials);
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
        let req = self.http.get(self.url("/api/v2/diagnostics/version"));
        let (status, _, body) = execute(self.gate.as_ref(), req).await?;
        check_status(status.as_u16(), &body)?;
        let v: Version = decode(&body)?;
        Ok(v.version)
    }

    /// `path` must start with `/`.
    pub(crate) fn url(&self, path: &str) -> String {
        let mut url = String::with_capacity(self.base.len() + path.len());
        url.push_str(&self.base);
        url.push_str(path);
        url
    }

    /// A request to `path` (which must start with `/` and may end in a `?query`).
    ///
    /// The URL is the parsed base with its path and query replaced: parsing the whole string
    /// again for every request (scheme, host, IDNA) showed in the client's callgrind profile,
    /// and the result is the same URL.
    pub(crate) fn request(&self, method: Method, path: &str) -> RequestBuilder {
        let (path, query) = path.split_once('?').map_or((path, None), |(p, q)| (p, Some(q)));
        let mut url = self.parsed.clone();
        let prefix = self.parsed.path().trim_end_matches('/');
        if prefix.is_empty() {
            url.set_path(path);
        } else {
            url.set_path(&format!("{prefix}{path}"));
        }
        url.set_query(query);
        self.http.request(method, url)
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

/// `Basic base64(user:pass)`, marked sensitive so `http`'s own Debug output hides it too.
fn basic_authorization(credentials: &Credentials) -> HeaderValue {
    let token = base64::engine::general_purpose::STANDARD
        .encode(format!("{}:{}", credentials.username, credentials.password));
    // Base64 output and the "Basic " prefix are always valid header bytes.
    let mut value = HeaderValue::from_str(&format!("Basic {token}"))
        .unwrap_or_else(|_| HeaderValue::from_static("Basic"));
    value.set_sensitive(true);
    value
}

/// The answer to an accepted operation (statusCode 0, or 7 for a partial success).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpResponse {
    pub http: u16,
    pub status_code: u32,
    pub reference_id: Option<u64>,
}

/// The `JSESSIONID` cookie (and any other cookie the server sets) and the CSRF echo header of
/// one agent's HTTP session. Pure: fed response headers, asked for request headers.
#[derive(Debug, Default, Clone)]
pub(crate) struct SessionState {
    cookies: Vec<(String, String)>,
    cookie_header: Option<HeaderValue>,
    csrf: Option<(HeaderName, HeaderValue)>,
}

impl SessionState {
    /// Takes `Set-Cookie` and the CSRF headers from any response: the server may renew the
    /// session (and so the token) at any time, not only at login.
    pub(crate) fn absorb(&mut self, headers: &HeaderMap) {
        let mut changed = false;
        for value in headers.get_all(header::SET_COOKIE) {
            let Ok(text) = value.to_str() else { continue };
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

    pub(crate) fn cookie_header(&self) -> Option<HeaderValue> {
        self.cookie_header.clone()
    }

    pub(crate) fn csrf(&self) -> Option<(HeaderName, HeaderValue)> {
        self.csrf.clone()
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

pub(crate) fn parse_set_cookie(text: &str) -> Option<SetCookie> {
    let mut parts = text.split(';');
    let (name, value) = parts.next()?.split_once('=')?;
    let name = name.trim();
    if name.is_empty() || name.contains(|c: char| c.is_whitespace() || c == ',') {
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
    Some(SetCookie { name: name.to_owned(), value: value.trim().to_owned(), expired })
}

fn cookie_header(cookies: &[(String, String)]) -> Option<HeaderValue> {
    if cookies.is_empty() {
        return None;
    }
    let text = cookies.iter().map(|(n, v)| format!("{n}={v}")).collect::<Vec<_>>().join("; ");
    // Cannot fail in practice: every part came from a header that was visible ASCII. If it
    // did, sending no cookie beats sending a mangled one.
    let mut value = HeaderValue::from_str(&text).ok()?;
    value.set_sensitive(true);
    Some(value)
}

/// The header to echo on POST/PUT/DELETE, or `None` when the server runs without CSRF
/// protection. A token without a usable `X-CSRF-HEADER` goes in `X-CSRF-TOKEN`, the name every
/// documented deployment uses.
pub(crate) fn parse_csrf(headers: &HeaderMap) -> Option<(HeaderName, HeaderValue)> {
    let token = headers.get(CSRF_TOKEN_HEADER)?;
    if token.is_empty() {
        return None;
    }
    let name = headers
        .get(CSRF_HEADER_NAME_HEADER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| HeaderName::from_bytes(v.trim().as_bytes()).ok())
        .unwrap_or(HeaderName::from_static(CSRF_TOKEN_HEADER));
    let mut token = token.clone();
    token.set_sensitive(true);
    Some((name, token))
}

/// One virtual agent's HTTP side: Basic credentials on every request, the session cookie, and
/// the CSRF token on every POST.
pub struct AgentHttp {
    client: GwsClient,
    credentials: Credentials,
    authorization: HeaderValue,
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
        let body = self.send(Method::GET, "/api/v2/me?subresources=*", None).await?;
        let parsed: UserBody = decode(&body)?;
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
        headers.insert(header::AUTHORIZATION, self.authorization.clone());
        if let Some(cookie) = self.lock_session().cookie_header() {
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
        let bytes = serde_json::to_vec(body).map_err(|e| GwsError::Config(e.to_string()))?;
        let (http, raw) = self.send_raw(Method::POST, path, Some(bytes)).await?;
        let envelope = check_status(http, &raw)?;
        Ok(OpResponse {
            http,
            status_code: envelope.status_code,
            reference_id: envelope.reference_id,
        })
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> Result<Bytes, GwsError> {
        let (http, raw) = self.send_raw(method, path, body).await?;
        check_status(http, &raw)?;
        Ok(raw)
    }

    async fn send_raw(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> Result<(u16, Bytes), GwsError> {
        let unsafe_method = !matches!(method, Method::GET | Method::HEAD | Method::OPTIONS);
        let mut req = self
            .client
            .request(method, path)
            .header(header::AUTHORIZATION, self.authorization.clone())
            .header(header::ACCEPT, "application/json");
        {
            let session = self.lock_session();
            if let Some(cookie) = session.cookie_header() {
                req = req.header(header::COOKIE, cookie);
            }
            if let Some((name, token)) = session.csrf().filter(|_| unsafe_method) {
                req = req.header(name, token);
            }
        }
        if let Some(body) = body {
            req = req.header(header::CONTENT_TYPE, "application/json").body(body);
        }
        let (status, headers, raw) = execute(self.client.gate.as_ref(), req).await?;
        self.lock_session().absorb(&headers);
        Ok((status.as_u16(), raw))
    }

    fn lock_session(&self) -> std::sync::MutexGuard<'_, SessionState> {
        // A panic elsewhere while holding this lock cannot leave the header values half-written,
        // so a poisoned lock is still good to use.
        self.session.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

fn interaction_path(media: Media, id: &str) -> String {
    format!("/api/v2/me/{}/{}", media.path_segment(), encode_segment(id))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(
                HeaderName::from_bytes(name.as_bytes()).expect("name"),
                HeaderValue::from_str(value).expect("value"),
            );
        }
        map
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
        assert_eq!(client.url("/api/v2/me"), "http://127.0.0.1:1/api/v2/me");
    }

    #[test]
    fn request_urls_are_the_joined_string_parsed() {
        for base in ["http://127.0.0.1:1/", "https://h:8443/gws/", "http://h/a/b"] {
            let client = GwsClient::builder().base_url(base).build().expect("client");
            for path in ["/api/v2/me", "/api/v2/chats/a%2Fb%20c/messages?index=7", "/x?", "/"] {
                let req = client.request(Method::GET, path).build().expect("request");
                let whole = reqwest::Url::parse(&client.url(path)).expect("parses");
                assert_eq!(req.url(), &whole, "{base} + {path}");
            }
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
        assert_eq!(value.to_str().expect("ascii"), "Basic YW5uOnMzY3JldA==");
        assert!(value.is_sensitive());
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
        assert_eq!(
            s.cookie_header().expect("cookie").to_str().expect("ascii"),
            "JSESSIONID=one; LB=node2"
        );
        s.absorb(&headers(&[("set-cookie", "JSESSIONID=two;Path=/")]));
        assert_eq!(
            s.cookie_header().expect("cookie").to_str().expect("ascii"),
            "LB=node2; JSESSIONID=two"
        );
        s.absorb(&headers(&[("set-cookie", "LB=; Max-Age=0")]));
        s.absorb(&headers(&[("set-cookie", "JSESSIONID=; Max-Age=0")]));
        assert!(s.cookie_header().is_none());
        // A response without Set-Cookie leaves the jar alone.
        s.absorb(&headers(&[("set-cookie", "JSESSIONID=three")]));
        s.absorb(&headers(&[("content-type", "application/json")]));
        assert!(s.cookie_header().is_some());
    }

    #[test]
    fn csrf_header_handling() {
        assert!(parse_csrf(&headers(&[])).is_none(), "csrf off: no headers");
        let (name, token) = parse_csrf(&headers(&[
            ("X-CSRF-HEADER", "X-CSRF-TOKEN"),
            ("X-CSRF-TOKEN", "4a92be65-ec55-4aa2-b9df-9518fd870f2f"),
        ]))
        .expect("csrf on");
        assert_eq!(name.as_str(), "x-csrf-token");
        assert_eq!(token.to_str().expect("ascii"), "4a92be65-ec55-4aa2-b9df-9518fd870f2f");
        assert!(token.is_sensitive());
        let (name, _) =
            parse_csrf(&headers(&[("X-CSRF-HEADER", "X-Custom-Csrf"), ("X-CSRF-TOKEN", "t")]))
                .expect("custom name");
        assert_eq!(name.as_str(), "x-custom-csrf");
        let (name, _) =
            parse_csrf(&headers(&[("X-CSRF-HEADER", "bad name"), ("X-CSRF-TOKEN", "t")]))
                .expect("fallback name");
        assert_eq!(name.as_str(), "x-csrf-token");
        assert!(parse_csrf(&headers(&[("X-CSRF-HEADER", "X-CSRF-TOKEN")])).is_none());
        let mut s = SessionState::default();
        s.absorb(&headers(&[("X-CSRF-TOKEN", "t1")]));
        s.absorb(&headers(&[]));
        assert_eq!(s.csrf().map(|(_, v)| v), Some(HeaderValue::from_static("t1")));
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_set_cookie_never_panics(text in ".{0,64}") {
            let _ = parse_set_cookie(&text);
        }
    }
}
