//! The seam where fault injection plugs into the reference server, and [`SeededFaults`], the
//! injector that carries out a [`crate::faults::FaultPlan`] and keeps its ledger.
//!
//! Hooks, and who calls them:
//! - [`FaultInjector::on_batch`]: the notifications one operation (or routing tick) owes, as the
//!   state machine produced them, under the state lock, with the cause as context; the injector
//!   may drop, duplicate, swap, rewrite or hand some to a timer ([`Delayed`]).
//! - [`FaultInjector::on_request`]: the HTTP shell, before it applies an agent or customer
//!   operation.
//! - [`FaultInjector::on_connect`]: the CometD hub, for every `/meta/connect` it answers.
//! - [`FaultInjector::on_publish`]: the CometD hub, per data message and session (a lower-level
//!   seam kept for tests; the seeded injector works at `on_batch`, where meaning is known).
//! - [`FaultInjector::leak`]: the customer messages view, per `Agents`-only entry it would hide.
//! - [`FaultInjector::stall`]: long-poll answers, websocket frames and requests wait while it
//!   says so.
//!
//! The default injector, [`NoFaults`], says "behave" everywhere. Its cost is one virtual call per
//! published batch and per request and connect; the leak and stall hooks are skipped entirely
//! unless [`FaultInjector::hooks`] asks for them (read once, at startup).

mod hold;
pub mod overtake;
mod seeded;

#[cfg(test)]
mod tests;

use std::time::Duration;

use crate::faults::LedgerSnapshot;
use crate::gws::states::Capability;
use crate::gws::{LogEntry, Media};
use crate::server::state::{Delivery, Directory, UserIdx};

pub use hold::hold_until;
pub use seeded::{LedgerFileError, SeededFaults};

/// What happens to an HTTP request before the state machine sees it: wait `delay`, then `then`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestFault {
    pub delay: Duration,
    pub then: RequestOutcome,
}

/// How a request ends after its injected delay.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestOutcome {
    Proceed,
    /// Answer with this statusCode, and this HTTP status or the usual one for the code,
    /// without touching state.
    Fail {
        status_code: u32,
        http_status: Option<u16>,
    },
    /// Hold the request until the client gives up (or the server stops).
    Stall,
}

impl RequestFault {
    pub const PROCEED: RequestFault =
        RequestFault { delay: Duration::ZERO, then: RequestOutcome::Proceed };
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
    /// Close the websocket (long-polling: answer the connect with a failure at once).
    Disconnect,
    /// Long-polling: hold the connect without answering it, whatever is queued and past its
    /// timeout, until a newer connect supersedes it, the session ends or the client goes away.
    Starve,
}

/// The transport a `/meta/connect` came over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectTransport {
    LongPolling,
    Websocket,
}

/// Context of an agent or customer request.
#[derive(Debug, Clone, Copy)]
pub struct RequestInfo<'a> {
    pub method: &'a str,
    /// The route, ids left out (`/api/v2/me/chats`, `/api/v2/chats/{id}`).
    pub path: &'a str,
    pub operation: Option<&'a str>,
    /// The authenticated agent, for agent requests.
    pub user: Option<UserIdx>,
    /// The customer's chat (or Facebook session) id, for customer requests.
    pub customer: Option<&'a str>,
    /// The interaction the request is about, when the path names one (agent side).
    pub interaction: Option<&'a str>,
    pub media: Option<Media>,
}

/// Context of a `/meta/connect`.
#[derive(Debug, Clone, Copy)]
pub struct ConnectInfo<'a> {
    pub client_id: &'a str,
    /// The authenticated user's index in the directory.
    pub user: u32,
    pub transport: ConnectTransport,
}

/// What caused a batch of notifications.
#[derive(Debug, Clone, Copy)]
pub enum Cause<'a> {
    /// An agent's interaction operation.
    Operation { name: Capability, interaction: &'a str },
    /// A customer API request or the Facebook injector (`RequestChat`, `SendMessage`, ...).
    Customer(&'a str),
    /// An agent's session or readiness operation (`Ready`, ...).
    Session(&'a str),
    /// The server on its own: routing, invitation timeouts.
    Routing,
}

/// One batch as the state machine produced it.
#[derive(Clone, Copy)]
pub struct BatchInfo<'a> {
    pub cause: Cause<'a>,
    /// To name the recipients (`UserIdx` to username).
    pub directory: &'a Directory,
    /// The customer's chat (or Facebook session) id of an interaction, for the ledger: a
    /// routed invitation's record carries it, so a `never-offered` (which names the customer's
    /// chat) joins with it.
    pub chat_of: &'a dyn Fn(&str) -> Option<String>,
}

impl std::fmt::Debug for BatchInfo<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BatchInfo").field("cause", &self.cause).finish_non_exhaustive()
    }
}

/// A notification handed to a timer: published `after` from now, outside the state lock.
#[derive(Debug, Clone)]
pub struct Delayed {
    pub after: Duration,
    pub delivery: Delivery,
    /// The ledger record, written by [`FaultInjector::delay_done`] once the delivery has gone
    /// out and the server knows whether a later notification overtook it.
    pub record: Option<PendingRecord>,
    /// Where it stood in its batch among the deliveries of the same recipient and interaction
    /// that stayed: after `kept_before` of them, and `nth` among the delayed ones at that same
    /// spot. With the batch's number this places it in the order the server owed.
    pub kept_before: u32,
    pub nth: u32,
}

/// A ledger record held back until its fault has been carried out.
#[derive(Debug, Clone)]
pub struct PendingRecord {
    /// Which pending delay this is, for the injector's own bookkeeping.
    pub token: u64,
    pub rule: usize,
    /// When the fault was decided (the record's time).
    pub at: Duration,
    pub record: crate::faults::NewRecord,
}

/// An `Agents`-only entry the customer messages view is about to hide.
#[derive(Debug, Clone, Copy)]
pub struct LeakInfo<'a> {
    pub interaction: &'a str,
    /// The customer's chat (or Facebook session) id, which the customer's checker reports.
    pub chat: &'a str,
    pub media: Media,
    pub entry: &'a LogEntry,
    /// The username of the entry's author, when an agent wrote it.
    pub author: Option<&'a str>,
}

/// Which of the optional hooks an injector uses; read once when the server starts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Hooks {
    /// Call [`FaultInjector::leak`] for hidden entries.
    pub leaks: bool,
    /// Call [`FaultInjector::stall`] before answers and frames.
    pub stalls: bool,
    /// Track what is published per agent and interaction, so that a delayed delivery can be
    /// told whether a later one overtook it ([`FaultInjector::delay_done`]).
    pub delays: bool,
}

/// Decides, per event, whether and how to misbehave. Implementations must be cheap and
/// thread-safe: they are called on every request, every batch and every connect, some of them
/// under the server's state lock.
pub trait FaultInjector: Send + Sync + std::fmt::Debug {
    /// Which optional hooks to call.
    fn hooks(&self) -> Hooks {
        Hooks::default()
    }
    /// Called once when the server starts, with its user directory.
    fn attach(&self, _directory: &Directory) {}
    fn on_request(&self, _req: &RequestInfo<'_>) -> RequestFault {
        RequestFault::PROCEED
    }
    fn on_publish(&self, _client_id: &str, _channel: &str) -> PublishFault {
        PublishFault::Deliver
    }
    fn on_connect(&self, _connect: &ConnectInfo<'_>) -> ConnectFault {
        ConnectFault::Proceed
    }
    /// May change `out` (the batch, in the order each recipient must receive it) and move
    /// deliveries to `later`. Called only for non-empty batches.
    fn on_batch(
        &self,
        _batch: &BatchInfo<'_>,
        _out: &mut Vec<Delivery>,
        _later: &mut Vec<Delayed>,
    ) {
    }
    /// A delayed delivery went out (or never will: `overtaken` is `None` when the server
    /// stopped first); `overtaken` says whether a later notification for the same agent and
    /// interaction was published meanwhile, and whether the protocol orders the two, or that no
    /// session took it ([`overtake::Overtaken::Undelivered`]), i.e. whether the delay could be
    /// seen at all.
    fn delay_done(&self, _record: PendingRecord, _overtaken: Option<overtake::Overtaken>) {}
    /// Whether to show this hidden entry to the customer anyway.
    fn leak(&self, _leak: &LeakInfo<'_>) -> bool {
        false
    }
    /// How much longer everything is held, if a stall is under way.
    fn stall(&self) -> Option<Duration> {
        None
    }
    /// The ledger's records with `seq > after`, if this injector keeps one.
    fn ledger_after(&self, _after: u64) -> Option<LedgerSnapshot> {
        None
    }
    /// The whole ledger for a run's join, which is read before the server stops: with a record
    /// for each delay still on its timer (`overtaken` unknown, `seq` 0), so that a checker's
    /// end-of-run `missing` for its notification finds the fault that explains it.
    fn ledger_with_pending(&self) -> Option<LedgerSnapshot> {
        self.ledger_after(0)
    }
}

/// The faithful server: no faults.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoFaults;

impl FaultInjector for NoFaults {}
