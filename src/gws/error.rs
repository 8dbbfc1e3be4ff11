//! Errors of the GWS REST clients ([`super::client`], [`super::customer`]), with a short stable
//! kind per error so the simulator can count failures by kind without allocating.

use std::fmt;

/// Everything that can go wrong with one GWS request. A failed request is a measurement, so each
/// variant is countable through [`GwsError::kind`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GwsError {
    /// The request could not be sent or its response not read (connection refused, reset, TLS).
    #[error("transport error: {0}")]
    Transport(String),
    /// No complete response within the request timeout.
    #[error("request timed out")]
    Timeout,
    /// The server answered with a non-2xx HTTP status or a non-zero `statusCode`.
    /// `status_code` is 0 when the body carried no `statusCode` (for example a plain-text 403).
    #[error("http {http}, statusCode {status_code}: {message}")]
    Status { http: u16, status_code: u32, message: String },
    /// A successful response whose body is not the JSON the API documents.
    #[error("cannot decode response: {0}")]
    Decode(String),
    /// The client was configured with something unusable (a bad base URL or header value).
    #[error("invalid configuration: {0}")]
    Config(String),
}

/// A [`GwsError`] reduced to what metrics count: `Copy`, hashable, and printed as a short stable
/// string (`transport`, `timeout`, `status-2`, `http-403`, `decode`, `config`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum GwsErrorKind {
    Transport,
    Timeout,
    /// A GWS `statusCode` other than 0.
    Status(u32),
    /// A non-2xx HTTP status whose body carried no `statusCode`.
    Http(u16),
    Decode,
    Config,
}

impl fmt::Display for GwsErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GwsErrorKind::Transport => f.write_str("transport"),
            GwsErrorKind::Timeout => f.write_str("timeout"),
            GwsErrorKind::Status(code) => write!(f, "status-{code}"),
            GwsErrorKind::Http(code) => write!(f, "http-{code}"),
            GwsErrorKind::Decode => f.write_str("decode"),
            GwsErrorKind::Config => f.write_str("config"),
        }
    }
}

impl GwsError {
    /// The kind this error is counted under. A GWS `statusCode` wins over the HTTP status,
    /// because it is the finer classification (400 covers statusCodes 1, 2, 10 and 11).
    pub fn kind(&self) -> GwsErrorKind {
        match self {
            GwsError::Transport(_) => GwsErrorKind::Transport,
            GwsError::Timeout => GwsErrorKind::Timeout,
            GwsError::Status { status_code: 0, http, .. } => GwsErrorKind::Http(*http),
            GwsError::Status { status_code, .. } => GwsErrorKind::Status(*status_code),
            GwsError::Decode(_) => GwsErrorKind::Decode,
            GwsError::Config(_) => GwsErrorKind::Config,
        }
    }

    /// The GWS statusCode, if the server sent one.
    pub fn status_code(&self) -> Option<u32> {
        match self {
            GwsError::Status { status_code, .. } if *status_code != 0 => Some(*status_code),
            _ => None,
        }
    }

    /// The HTTP status, if a response arrived.
    pub fn http_status(&self) -> Option<u16> {
        match self {
            GwsError::Status { http, .. } => Some(*http),
            _ => None,
        }
    }
}

impl From<crate::net::NetError> for GwsError {
    /// A body over the limit is `decode`, as it always was counted: the response came, it is
    /// not one a client can use.
    fn from(e: crate::net::NetError) -> Self {
        use crate::net::NetError;
        match e {
            NetError::Transport(text) => GwsError::Transport(text),
            NetError::Oversize(limit) => {
                GwsError::Decode(format!("response body over {limit} bytes"))
            }
            NetError::Config(text) => GwsError::Config(text),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_are_short_and_stable() {
        assert_eq!(GwsError::Timeout.kind().to_string(), "timeout");
        assert_eq!(GwsError::Transport("reset".into()).kind().to_string(), "transport");
        assert_eq!(GwsError::Decode("x".into()).kind().to_string(), "decode");
        let csrf = GwsError::Status { http: 403, status_code: 0, message: "Missing".into() };
        assert_eq!(csrf.kind().to_string(), "http-403");
        assert_eq!(csrf.status_code(), None);
        let invalid = GwsError::Status { http: 400, status_code: 2, message: "state".into() };
        assert_eq!(invalid.kind().to_string(), "status-2");
        assert_eq!(invalid.status_code(), Some(2));
        assert_eq!(invalid.http_status(), Some(400));
    }

    #[test]
    fn messages_are_lowercase_without_trailing_period() {
        let errors = [
            GwsError::Timeout,
            GwsError::Transport("x".into()),
            GwsError::Decode("x".into()),
            GwsError::Config("x".into()),
            GwsError::Status { http: 404, status_code: 6, message: "not found".into() },
        ];
        for e in errors {
            let text = e.to_string();
            assert!(text.starts_with(|c: char| c.is_lowercase()), "{text}");
            assert!(!text.ends_with('.'), "{text}");
        }
    }
}
