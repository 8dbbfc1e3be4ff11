//! The seam where seeded fault injection plugs into the reference server.
//!
//! The HTTP shell asks [`FaultInjector::on_request`] before it applies an operation, the CometD
//! hub asks [`FaultInjector::on_publish`] for every data message it queues and
//! [`FaultInjector::on_connect`] for every `/meta/connect` it answers. The default injector,
//! [`NoFaults`], always says "behave", so the hooks cost one virtual call each. A seeded
//! implementation (configured by `gwsim serve --faults` or a scenario) keeps a ledger of what it
//! injected so a run can report how many injected faults the checker found.

use std::time::Duration;

/// What happens to an HTTP request before the state machine sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestFault {
    Proceed,
    /// Wait, then proceed.
    Delay(Duration),
    /// Answer with this statusCode (and its HTTP status) without touching state.
    Fail(u32),
    /// Hold the request until the client gives up.
    Stall,
}

/// What happens to one data message on its way into a CometD session's queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PublishFault {
    Deliver,
    Drop,
    Duplicate,
    /// Deliver after this long (later messages may overtake it: a reorder).
    Delay(Duration),
    /// Swap with the next message for the same session.
    SwapWithNext,
}

/// What happens to a `/meta/connect` (or to the socket carrying it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectFault {
    Proceed,
    /// Forget the CometD session: the client gets `402::Unknown client` and must re-handshake.
    ExpireSession,
    /// Close the websocket (long-polling: drop the held request).
    Disconnect,
}

/// Context of an agent or customer request.
#[derive(Debug, Clone, Copy)]
pub struct RequestInfo<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub operation: Option<&'a str>,
}

/// Decides, per event, whether and how to misbehave. Implementations must be cheap and
/// thread-safe: they are called on every request and every notification.
pub trait FaultInjector: Send + Sync + std::fmt::Debug {
    fn on_request(&self, _req: &RequestInfo<'_>) -> RequestFault {
        RequestFault::Proceed
    }
    fn on_publish(&self, _client_id: &str, _channel: &str) -> PublishFault {
        PublishFault::Deliver
    }
    fn on_connect(&self, _client_id: &str) -> ConnectFault {
        ConnectFault::Proceed
    }
}

/// The faithful server: no faults.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoFaults;

impl FaultInjector for NoFaults {}
