//! Why an operation failed, as a closed set: typed from where it happens until the recorder,
//! which counts it under its [`Display`](std::fmt::Display) string (`status-2`, `timeout`,
//! `await-timeout:consultant-joined`...). The strings are what reports have always shown.

use std::fmt;

use crate::cometd::client::CloseReason;
use crate::cometd::error::CometdError;
use crate::gws::error::{GwsError, GwsErrorKind};
use crate::scenario::TargetRef;
use crate::vocab::AwaitEvent;

/// One failed operation (or session step), as it is counted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum FailureKind {
    /// The GWS request failed: transport, timeout, a statusCode, an HTTP status...
    Gws(GwsErrorKind),
    /// The CometD session could not be set up, or one exchange of it failed (the kind
    /// `CometdError::kind` names).
    Cometd(&'static str),
    /// A flow's await step timed out; charged to the operation the await follows. A flow
    /// failure, not an ordering violation: what the protocol owes is the checker's to judge
    /// (see ARCHITECTURE.md, "Await timeouts").
    AwaitTimeout(AwaitEvent),
    /// An operation's target could not be resolved (no logged-in agent of the population, no
    /// consultant in the interaction...); the request was not sent.
    NoTarget(TargetRef),
    /// A CometD data message that is not a notification gwsim can read.
    BadNotification,
    /// The CometD session closed for good (the server refused to re-handshake).
    SessionClosed,
    /// The agent's CometD stream was still failing when the run ended (its last exchanges
    /// failed and none succeeded since): a stream as dead as a closed one, only younger.
    StreamDown,
    /// A reconnect storm (`[chaos]`) did not find its marker on the old stream within 10 s: the
    /// old stream was dropped as it stood, and what it still held may be lost.
    StormNotCaughtUp,
}

impl fmt::Display for FailureKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FailureKind::Gws(kind) => kind.fmt(f),
            FailureKind::Cometd(kind) => f.write_str(kind),
            FailureKind::AwaitTimeout(event) => write!(f, "await-timeout:{event}"),
            FailureKind::NoTarget(target) => write!(f, "no-target:{target}"),
            FailureKind::BadNotification => f.write_str("bad-notification"),
            FailureKind::SessionClosed => f.write_str(crate::vocab::STREAM_CLOSED),
            FailureKind::StreamDown => f.write_str(crate::vocab::STREAM_DOWN_AT_END),
            FailureKind::StormNotCaughtUp => f.write_str(crate::vocab::STORM_NOT_CAUGHT_UP),
        }
    }
}

impl FailureKind {
    /// How the end of an agent's CometD session counts: `None` when gwsim ended it itself (its
    /// run ending, Ctrl-C, the agent logging out), which is the normal way a session ends and no
    /// failure; `SessionClosed` when the server or the network ended it.
    pub(crate) fn from_close(reason: &CloseReason) -> Option<FailureKind> {
        match reason {
            CloseReason::Cancelled => None,
            CloseReason::ServerClosed | CloseReason::Failed(_) | CloseReason::GaveUp { .. } => {
                Some(FailureKind::SessionClosed)
            }
        }
    }
}

impl From<&GwsError> for FailureKind {
    fn from(e: &GwsError) -> Self {
        FailureKind::Gws(e.kind())
    }
}

impl From<&CometdError> for FailureKind {
    fn from(e: &CometdError) -> Self {
        FailureKind::Cometd(e.kind())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reports key errors by these strings; they are the ones recorded before the type existed.
    #[test]
    fn kinds_print_as_reports_have_always_shown_them() {
        let status = GwsError::Status { http: 400, status_code: 2, message: "state".into() };
        let cases = [
            (FailureKind::from(&status), "status-2"),
            (FailureKind::from(&GwsError::Timeout), "timeout"),
            (FailureKind::from(&CometdError::Unauthorized), "unauthorized"),
            (
                FailureKind::AwaitTimeout(AwaitEvent::ConsultantJoined),
                "await-timeout:consultant-joined",
            ),
            (
                FailureKind::NoTarget(TargetRef::Agents("specialist".into())),
                "no-target:agents:specialist",
            ),
            (FailureKind::NoTarget(TargetRef::Consultant), "no-target:consultant"),
            (FailureKind::BadNotification, "bad-notification"),
            (FailureKind::SessionClosed, "cometd-closed"),
            (FailureKind::StreamDown, "cometd-down-at-end"),
            (FailureKind::from(&CometdError::Status(500)), "http-status"),
        ];
        for (kind, want) in cases {
            assert_eq!(kind.to_string(), want);
        }
    }

    /// Issue 10: a session gwsim cancelled itself (end of run, Ctrl-C) is not a failure; one the
    /// server or the network ended is.
    #[test]
    fn a_cancelled_session_is_not_counted() {
        assert_eq!(FailureKind::from_close(&CloseReason::Cancelled), None);
        assert_eq!(
            FailureKind::from_close(&CloseReason::ServerClosed),
            Some(FailureKind::SessionClosed)
        );
        assert_eq!(
            FailureKind::from_close(&CloseReason::Failed(CometdError::Unauthorized)),
            Some(FailureKind::SessionClosed)
        );
    }
}
