//! Errors of the CometD client ([`super::client`]), countable by [`CometdError::kind`].

/// What can end a CometD session or fail one exchange with the server.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CometdError {
    /// HTTP 401 on a request or on the websocket upgrade: the credentials or cookie were refused.
    #[error("unauthorized (http 401)")]
    Unauthorized,
    /// The server answered `/meta/handshake` (or a subscribe) with `successful: false`.
    #[error("handshake failed: {0}")]
    Handshake(String),
    /// The request or socket failed: refused, reset, closed, non-200 status.
    #[error("transport error: {0}")]
    Transport(String),
    /// No reply within the time allowed for it.
    #[error("timed out")]
    Timeout,
    /// The server sent something a Bayeux server must not: not JSON, a missing reply, no
    /// `clientId` in a successful handshake.
    #[error("protocol error: {0}")]
    Protocol(String),
    /// The configuration cannot work (bad base url, `wss` in a build without TLS for websocket).
    #[error("invalid configuration: {0}")]
    Config(String),
    /// The cancellation token fired before the session was established.
    #[error("cancelled")]
    Cancelled,
}

impl CometdError {
    /// A short stable name for metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            CometdError::Unauthorized => "unauthorized",
            CometdError::Handshake(_) => "handshake",
            CometdError::Transport(_) => "transport",
            CometdError::Timeout => "timeout",
            CometdError::Protocol(_) => "protocol",
            CometdError::Config(_) => "config",
            CometdError::Cancelled => "cancelled",
        }
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
            CometdError::Transport("reset".into()),
            CometdError::Timeout,
            CometdError::Protocol("x".into()),
            CometdError::Config("x".into()),
            CometdError::Cancelled,
        ];
        for e in &all {
            let text = e.to_string();
            assert!(text.starts_with(|c: char| c.is_lowercase()), "{text}");
            assert!(!text.ends_with('.'), "{text}");
            assert!(!e.kind().is_empty());
        }
        assert_eq!(CometdError::Timeout.kind(), "timeout");
    }
}
