//! Authentication of agent requests: HTTP Basic against the user table, JSESSIONID sessions and
//! their CSRF tokens (protocol.md §1.2, §15.3).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::http::HeaderMap;
use axum::http::header::{AUTHORIZATION, COOKIE};
use base64::Engine as _;

use super::state::UserIdx;
use super::users::UserTable;

pub const SESSION_COOKIE: &str = "JSESSIONID";
pub const CSRF_HEADER_NAME: &str = "X-CSRF-TOKEN";

/// Why a request is not authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("access denied")]
    Denied,
}

/// An authenticated request.
#[derive(Debug, Clone)]
pub struct Authenticated {
    pub user: UserIdx,
    pub session_id: String,
    pub csrf_token: String,
    /// The session was created by this request (send Set-Cookie).
    pub new_session: bool,
    /// The request carried this session's cookie (a CSRF check needs it).
    pub had_cookie: bool,
}

#[derive(Debug)]
struct HttpSession {
    user: UserIdx,
    csrf_token: String,
    last_seen: Instant,
}

/// The users and their HTTP sessions.
#[derive(Debug)]
pub struct Authenticator {
    users: UserTable,
    /// A std mutex: lookups are short and never cross an await.
    sessions: Mutex<HashMap<String, HttpSession>>,
    idle_limit: Duration,
}

impl Authenticator {
    pub fn new(users: UserTable, idle_limit: Duration) -> Self {
        Authenticator { users, sessions: Mutex::new(HashMap::new()), idle_limit }
    }

    pub fn users(&self) -> &UserTable {
        &self.users
    }

    /// Basic credentials (checked when present, and then deciding the user) or a valid session
    /// cookie. A request with Basic credentials but no matching session gets a new session.
    pub fn authenticate(&self, headers: &HeaderMap) -> Result<Authenticated, AuthError> {
        let basic = match headers.get(AUTHORIZATION) {
            Some(v) => Some(self.basic_user(v.to_str().map_err(|_| AuthError::Denied)?)?),
            None => None,
        };
        let cookie = session_cookie(headers);
        let now = Instant::now();
        let mut sessions = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(sid) = &cookie
            && let Some(s) = sessions.get_mut(sid)
            && now.duration_since(s.last_seen) < self.idle_limit
            && basic.is_none_or(|u| u == s.user)
        {
            s.last_seen = now;
            return Ok(Authenticated {
                user: s.user,
                session_id: sid.clone(),
                csrf_token: s.csrf_token.clone(),
                new_session: false,
                had_cookie: true,
            });
        }
        let user = basic.ok_or(AuthError::Denied)?;
        let session_id = uuid::Uuid::new_v4().simple().to_string().to_uppercase();
        let csrf_token = uuid::Uuid::new_v4().to_string();
        sessions.insert(
            session_id.clone(),
            HttpSession { user, csrf_token: csrf_token.clone(), last_seen: now },
        );
        Ok(Authenticated { user, session_id, csrf_token, new_session: true, had_cookie: false })
    }

    fn basic_user(&self, value: &str) -> Result<UserIdx, AuthError> {
        let encoded = value
            .strip_prefix("Basic ")
            .or_else(|| value.strip_prefix("basic "))
            .ok_or(AuthError::Denied)?;
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(encoded.trim())
            .map_err(|_| AuthError::Denied)?;
        let text = String::from_utf8(decoded).map_err(|_| AuthError::Denied)?;
        let (name, password) = text.split_once(':').ok_or(AuthError::Denied)?;
        self.users.authenticate(name, password).ok_or(AuthError::Denied)
    }

    /// Forgets sessions idle for longer than the limit; returns how many.
    pub fn expire_idle(&self, now: Instant) -> usize {
        let mut sessions = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
        let before = sessions.len();
        sessions.retain(|_, s| now.duration_since(s.last_seen) < self.idle_limit);
        before - sessions.len()
    }

    pub fn session_count(&self) -> usize {
        self.sessions.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
}

/// The JSESSIONID value of a Cookie header, if any.
pub fn session_cookie(headers: &HeaderMap) -> Option<String> {
    headers.get_all(COOKIE).iter().filter_map(|v| v.to_str().ok()).find_map(|v| {
        v.split(';').find_map(|kv| {
            let (k, val) = kv.trim().split_once('=')?;
            (k == SESSION_COOKIE).then(|| val.to_string())
        })
    })
}

/// Whether a state-changing request passes the CSRF check: it must carry the session cookie and
/// the session's token in the CSRF header.
pub fn csrf_ok(auth: &Authenticated, headers: &HeaderMap) -> bool {
    auth.had_cookie
        && headers
            .get(CSRF_HEADER_NAME)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|t| t == auth.csrf_token)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::users::Password;
    use axum::http::HeaderValue;

    fn auth() -> Authenticator {
        Authenticator::new(
            UserTable::demo(2, Password::new("pw")).expect("valid"),
            Duration::from_secs(60),
        )
    }

    fn basic(user: &str, pw: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pw}"));
        h.insert(AUTHORIZATION, HeaderValue::from_str(&format!("Basic {token}")).expect("ascii"));
        h
    }

    #[test]
    fn basic_creates_a_session_that_the_cookie_then_carries() {
        let a = auth();
        let first = a.authenticate(&basic("agent-1", "pw")).expect("valid credentials");
        assert!(first.new_session);
        let mut h = HeaderMap::new();
        h.insert(
            COOKIE,
            HeaderValue::from_str(&format!("x=1; JSESSIONID={}", first.session_id)).expect("ascii"),
        );
        let second = a.authenticate(&h).expect("cookie alone is enough");
        assert_eq!(second.user, first.user);
        assert!(!second.new_session && second.had_cookie);
        h.insert(CSRF_HEADER_NAME, HeaderValue::from_str(&first.csrf_token).expect("ascii"));
        assert!(csrf_ok(&second, &h));
        assert!(!csrf_ok(&first, &h), "a request without the cookie fails CSRF");
    }

    #[test]
    fn bad_credentials_and_garbage_are_denied() {
        let a = auth();
        assert!(a.authenticate(&basic("agent-1", "wrong")).is_err());
        assert!(a.authenticate(&basic("nobody", "pw")).is_err());
        assert!(a.authenticate(&HeaderMap::new()).is_err());
        let mut h = HeaderMap::new();
        h.insert(AUTHORIZATION, HeaderValue::from_static("Basic !!!notbase64"));
        assert!(a.authenticate(&h).is_err());
        h.insert(COOKIE, HeaderValue::from_static("JSESSIONID=unknown"));
        h.remove(AUTHORIZATION);
        assert!(a.authenticate(&h).is_err());
    }

    #[test]
    fn idle_sessions_expire() {
        let a = auth();
        a.authenticate(&basic("agent-1", "pw")).expect("valid");
        assert_eq!(a.session_count(), 1);
        assert_eq!(a.expire_idle(Instant::now() + Duration::from_secs(61)), 1);
        assert_eq!(a.session_count(), 0);
    }
}
