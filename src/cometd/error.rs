//! Errors of the CometD client ([`super::client`]), countable by [`CometdError::kind`].

use crate::vocab::CometdFailure;

/// What can end a CometD session or fail one exchange with the server.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CometdError {
    /// HTTP 401 on a request or on the websocket upgrade: the credentials or cookie were refused.
    #[error("unauthorized (http 401)")]
    Unauthorized,
    /// The server answered `/meta/handshake` (or a subscribe) with `successful: false`.
    #[error("handshake failed: {0}")]
    Handshake(String),
    /// `/meta/connect` answered `successful: false` with advice to retry.
    #[error("connect refused: {0}")]
    ConnectRefused(String),
    /// A non-200 HTTP status other than 401.
    #[error("http {0}")]
    Status(u16),
    /// A redirect (3xx): a Bayeux POST has nowhere else to go, so none is followed.
    #[error("redirect: {0}")]
    Redirect(String),
    /// The request or socket failed: refused, reset, closed.
    #[error("transport error: {0}")]
    Transport(String),
    /// No reply within the time allowed for it.
    #[error("timed out")]
    Timeout,
    /// A body or frame that is not JSON: garbage, truncated JSON, not UTF-8.
    #[error("not json: {0}")]
    NotJson(String),
    /// JSON, but not an array of Bayeux messages, or none of its elements is one.
    #[error("wrong shape: {0}")]
    WrongShape(String),
    /// The server sent something a Bayeux server must not: a missing reply, no `clientId` in a
    /// successful handshake.
    #[error("protocol error: {0}")]
    Protocol(String),
    /// A body or frame over the client's limit, in bytes; it was not read further.
    #[error("message over {0} bytes")]
    Oversize(usize),
    /// The configuration cannot work (bad base url, `wss` in a build without TLS for websocket).
    #[error("invalid configuration: {0}")]
    Config(String),
    /// The cancellation token fired before the session was established.
    #[error("cancelled")]
    Cancelled,
}

impl From<crate::net::NetError> for CometdError {
    fn from(e: crate::net::NetError) -> Self {
        use crate::net::NetError;
        match e {
            NetError::Transport(text) => CometdError::Transport(text),
            NetError::Oversize(limit) => CometdError::Oversize(limit),
            NetError::Config(text) => CometdError::Config(text),
        }
    }
}

impl CometdError {
    /// The failure's kind, as it is counted (`vocab::CometdFailure`).
    pub fn failure(&self) -> CometdFailure {
        match self {
            CometdError::Unauthorized => CometdFailure::Unauthorized,
            CometdError::Handshake(_) => CometdFailure::Handshake,
            CometdError::ConnectRefused(_) => CometdFailure::ConnectRefused,
            CometdError::Status(_) => CometdFailure::HttpStatus,
            CometdError::Redirect(_) => CometdFailure::Redirect,
            CometdError::Transport(_) => CometdFailure::Transport,
            CometdError::Timeout => CometdFailure::Timeout,
            CometdError::NotJson(_) => CometdFailure::NotJson,
            CometdError::WrongShape(_) => CometdFailure::WrongShape,
            CometdError::Protocol(_) => CometdFailure::Protocol,
            CometdError::Oversize(_) => CometdFailure::Oversize,
            CometdError::Config(_) => CometdFailure::Config,
            CometdError::Cancelled => CometdFailure::Cancelled,
        }
    }

    /// A short stable name for metrics.
    pub fn kind(&self) -> &'static str {
        self.failure().as_str()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_lowercase_and_kinds_stable() {
        let all = [
            CometdError::Unauthorized,
            CometdError::Handshake("402::Unknown client".into()),
            CometdError::ConnectRefused("500::oops".into()),
            CometdError::Status(500),
            CometdError::Redirect("too many".into()),
            CometdError::Transport("reset".into()),
            CometdError::Timeout,
            CometdError::NotJson("x".into()),
            CometdError::WrongShape("x".into()),
            CometdError::Protocol("x".into()),
            CometdError::Oversize(1024),
            CometdError::Config("x".into()),
            CometdError::Cancelled,
        ];
        for e in &all {
            let text = e.to_string();
            assert!(text.starts_with(|c: char| c.is_lowercase()), "{text}");
            assert!(!text.ends_with('.'), "{text}");
            assert!(!e.kind().is_empty());
        }
        // Every kind has one error that names it.
        let kinds: std::collections::BTreeSet<_> = all.iter().map(CometdError::failure).collect();
        assert_eq!(kinds.len(), CometdFailure::ALL.len());
        assert_eq!(CometdError::Timeout.kind(), "timeout");
        assert_eq!(CometdError::Status(500).kind(), "http-status");
    }
}
