//! A fault plan: which faults to inject, how often, when and into what, read from TOML with every
//! problem reported at once with file:line:col.
//!
//! The format (docs/faults.md has one example per kind) is the same for `gwsim serve --faults
//! FILE` and for a scenario's `[faults]` table:
//!
//! ```toml
//! seed = 7                  # optional: the scenario's seed, or 1
//! ledger_cap = 100000       # optional: records kept in memory
//!
//! [[rule]]
//! kind = "drop"             # what to do
//! rate = 0.5                # probability per event, 0..=1
//! from = "10s"              # schedule: active from 10 s after start,
//! for = "5s"                # for 5 s,
//! every = "30s"             # every 30 s
//! operations = ["Consult"]  # selector: operations, agents (username globs), media
//! agents = ["agent-1*"]
//! media = ["chat"]
//! ```
//!
//! The file is read by hand from `toml_edit` rather than through serde so that each key, each
//! value and each list element keeps its own position, and so that a key that does not apply to
//! the rule's kind gets a sentence saying so.

mod parse;

use std::ops::Range;
use std::time::Duration;

use crate::gws::Media;
use crate::gws::states::Capability;
use crate::scenario::units::Distribution;

pub(crate) use self::parse::plan_from_table;
pub use self::parse::{PlanFor, load_plan, load_proxy_plan, parse_plan, parse_proxy_plan};

type Span = Range<usize>;

/// Every kind of fault, with its name in plans and in the ledger.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FaultKind {
    /// A notification an operation owes an agent is never sent.
    Drop,
    /// A notification is sent twice in a row.
    Duplicate,
    /// Two notifications of the same batch to the same agent arrive in swapped order.
    Swap,
    /// A notification is held back and sent later, after later batches.
    Delay,
    /// A notification is sent again after the agent's terminal state for that interaction.
    Late,
    /// A MessageLogUpdated carries an index that does not increase.
    IndexRegression,
    /// An `Agents`-only log entry is shown to the customer.
    Leak,
    /// Agent or customer REST requests are answered late.
    Latency,
    /// A REST request fails with an injected statusCode.
    Error,
    /// A REST request is held (for a while, or until the client gives up).
    RequestStall,
    /// The CometD session is forgotten: the next connect gets `402::Unknown client`.
    Expire,
    /// The websocket is closed by the server.
    WsClose,
    /// A long-poll connect is not answered.
    ConnectStarvation,
    /// The whole server holds requests, long-poll answers and websocket frames.
    Stall,
    /// Latency on the customer API only.
    SlowCustomer,
    /// The fault proxy forwards a chunk of bytes late.
    ProxyLatency,
    /// The fault proxy holds a connection's bytes (for `hold`, or to the end of the window).
    ProxyStall,
    /// The fault proxy closes a connection abruptly (TCP RST on both sides).
    ProxyReset,
    /// The fault proxy forwards a connection's bytes no faster than a limit.
    ProxyBandwidth,
    /// Client side (`[chaos]`, done by the simulator, never in a plan): an agent dropped its
    /// sockets without Leave or logout.
    AgentCrash,
    /// Client side: a crashed agent logged in again and re-attached to its interactions.
    AgentRecover,
    /// Client side: an agent's CometD session was dropped and handshaken again at once.
    ReconnectStorm,
    /// Client side: an agent stopped reading its CometD stream for a while.
    SlowConsumer,
    /// Client side: a customer left while a consult was in progress.
    CustomerAbandon,
}

impl FaultKind {
    pub const ALL: &'static [FaultKind] = &[
        FaultKind::Drop,
        FaultKind::Duplicate,
        FaultKind::Swap,
        FaultKind::Delay,
        FaultKind::Late,
        FaultKind::IndexRegression,
        FaultKind::Leak,
        FaultKind::Latency,
        FaultKind::Error,
        FaultKind::RequestStall,
        FaultKind::Expire,
        FaultKind::WsClose,
        FaultKind::ConnectStarvation,
        FaultKind::Stall,
        FaultKind::SlowCustomer,
        FaultKind::ProxyLatency,
        FaultKind::ProxyStall,
        FaultKind::ProxyReset,
        FaultKind::ProxyBandwidth,
    ];

    /// The client-side kinds: recorded by the simulator (`[chaos]`), never injected by a plan.
    pub const CLIENT: &'static [FaultKind] = &[
        FaultKind::AgentCrash,
        FaultKind::AgentRecover,
        FaultKind::ReconnectStorm,
        FaultKind::SlowConsumer,
        FaultKind::CustomerAbandon,
    ];

    /// Whether the simulator, not the server, does this (see [`FaultKind::CLIENT`]).
    pub fn is_client(self) -> bool {
        FaultKind::CLIENT.contains(&self)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            FaultKind::Drop => "drop",
            FaultKind::Duplicate => "duplicate",
            FaultKind::Swap => "swap",
            FaultKind::Delay => "delay",
            FaultKind::Late => "late",
            FaultKind::IndexRegression => "index-regression",
            FaultKind::Leak => "leak",
            FaultKind::Latency => "latency",
            FaultKind::Error => "error",
            FaultKind::RequestStall => "request-stall",
            FaultKind::Expire => "expire",
            FaultKind::WsClose => "ws-close",
            FaultKind::ConnectStarvation => "connect-starvation",
            FaultKind::Stall => "stall",
            FaultKind::SlowCustomer => "slow-customer",
            FaultKind::ProxyLatency => "proxy-latency",
            FaultKind::ProxyStall => "proxy-stall",
            FaultKind::ProxyReset => "proxy-reset",
            FaultKind::ProxyBandwidth => "proxy-bandwidth",
            FaultKind::AgentCrash => "agent-crash",
            FaultKind::AgentRecover => "agent-recover",
            FaultKind::ReconnectStorm => "reconnect-storm",
            FaultKind::SlowConsumer => "slow-consumer",
            FaultKind::CustomerAbandon => "customer-abandon",
        }
    }

    /// Any kind by name, the client-side ones included (a ledger read back holds both).
    pub fn parse(s: &str) -> Option<FaultKind> {
        FaultKind::ALL.iter().chain(FaultKind::CLIENT).copied().find(|k| k.as_str() == s)
    }

    /// Faults on the notifications of one operation's batch (injected where the state machine's
    /// outbox is published).
    pub fn is_notification(self) -> bool {
        matches!(
            self,
            FaultKind::Drop
                | FaultKind::Duplicate
                | FaultKind::Swap
                | FaultKind::Delay
                | FaultKind::Late
                | FaultKind::IndexRegression
        )
    }

    /// Faults on HTTP requests (agent or customer).
    pub fn is_request(self) -> bool {
        matches!(
            self,
            FaultKind::Latency
                | FaultKind::Error
                | FaultKind::RequestStall
                | FaultKind::SlowCustomer
        )
    }

    /// Faults the TCP proxy injects (`[proxy]`, `gwsim proxy --faults`), not the server.
    pub fn is_proxy(self) -> bool {
        matches!(
            self,
            FaultKind::ProxyLatency
                | FaultKind::ProxyStall
                | FaultKind::ProxyReset
                | FaultKind::ProxyBandwidth
        )
    }

    /// Faults on CometD connects.
    pub fn is_connect(self) -> bool {
        matches!(self, FaultKind::Expire | FaultKind::WsClose | FaultKind::ConnectStarvation)
    }

    /// The keys a rule of this kind takes besides `kind`, `rate` and the schedule.
    fn keys(self) -> &'static [&'static str] {
        match self {
            FaultKind::Drop
            | FaultKind::Duplicate
            | FaultKind::Swap
            | FaultKind::Late
            | FaultKind::IndexRegression => &["operations", "agents", "media"],
            FaultKind::Delay => &["delay", "operations", "agents", "media"],
            FaultKind::Leak => &["agents", "media"],
            FaultKind::Latency => &["latency", "operations", "agents", "media"],
            FaultKind::Error => &["status_code", "http_status", "operations", "agents", "media"],
            FaultKind::RequestStall => &["hold", "operations", "agents", "media"],
            FaultKind::Expire | FaultKind::WsClose | FaultKind::ConnectStarvation => &["agents"],
            FaultKind::Stall => &[],
            FaultKind::SlowCustomer => &["latency", "media"],
            FaultKind::ProxyLatency => &["latency", "direction"],
            FaultKind::ProxyStall => &["hold", "direction"],
            FaultKind::ProxyReset => &["direction"],
            FaultKind::ProxyBandwidth => &["bytes_per_sec", "direction"],
            FaultKind::AgentCrash
            | FaultKind::AgentRecover
            | FaultKind::ReconnectStorm
            | FaultKind::SlowConsumer
            | FaultKind::CustomerAbandon => &[],
        }
    }
}

impl std::fmt::Display for FaultKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl serde::Serialize for FaultKind {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for FaultKind {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        FaultKind::parse(&s).ok_or_else(|| {
            serde::de::Error::unknown_variant(&s, &["drop", "duplicate", "swap", "..."])
        })
    }
}

/// What a rule does, with the parameters of its kind.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    Drop,
    Duplicate,
    Swap,
    /// Hold the notification back for a time drawn from this distribution.
    Delay(Distribution),
    Late,
    IndexRegression,
    Leak,
    /// Answer the request after a time drawn from this distribution.
    Latency(Distribution),
    /// Fail the request with this statusCode; the HTTP status is the usual one for that code
    /// unless given.
    Error {
        status_code: u32,
        http_status: Option<u16>,
    },
    /// Hold the request this long, or (None) until the client gives up or the server stops.
    RequestStall {
        hold: Option<Duration>,
    },
    Expire,
    WsClose,
    ConnectStarvation,
    /// Hold everything for the rule's schedule windows.
    Stall,
    SlowCustomer(Distribution),
    /// Forward each selected chunk this much later (order kept).
    ProxyLatency(Distribution),
    /// Hold a connection's bytes this long, or (None) until the schedule's window ends.
    ProxyStall {
        hold: Option<Duration>,
    },
    ProxyReset,
    /// Forward a selected connection's bytes at most this fast.
    ProxyBandwidth {
        bytes_per_sec: u64,
    },
}

impl Action {
    pub fn kind(&self) -> FaultKind {
        match self {
            Action::Drop => FaultKind::Drop,
            Action::Duplicate => FaultKind::Duplicate,
            Action::Swap => FaultKind::Swap,
            Action::Delay(_) => FaultKind::Delay,
            Action::Late => FaultKind::Late,
            Action::IndexRegression => FaultKind::IndexRegression,
            Action::Leak => FaultKind::Leak,
            Action::Latency(_) => FaultKind::Latency,
            Action::Error { .. } => FaultKind::Error,
            Action::RequestStall { .. } => FaultKind::RequestStall,
            Action::Expire => FaultKind::Expire,
            Action::WsClose => FaultKind::WsClose,
            Action::ConnectStarvation => FaultKind::ConnectStarvation,
            Action::Stall => FaultKind::Stall,
            Action::SlowCustomer(_) => FaultKind::SlowCustomer,
            Action::ProxyLatency(_) => FaultKind::ProxyLatency,
            Action::ProxyStall { .. } => FaultKind::ProxyStall,
            Action::ProxyReset => FaultKind::ProxyReset,
            Action::ProxyBandwidth { .. } => FaultKind::ProxyBandwidth,
        }
    }
}

/// When a rule is active, relative to the server's start: from `from`, for `length`, repeating
/// every `every`. Without `length` it stays active; without `every` it happens once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Schedule {
    pub from: Duration,
    pub length: Option<Duration>,
    pub every: Option<Duration>,
}

impl Schedule {
    /// The window containing `elapsed`, as (window number, start, end), if the rule is active
    /// then. The end is `None` for a window that never closes.
    pub fn window(&self, elapsed: Duration) -> Option<(u64, Duration, Option<Duration>)> {
        let since = elapsed.checked_sub(self.from)?;
        let (k, start) = match self.every {
            Some(every) if !every.is_zero() => {
                let k = (since.as_nanos() / every.as_nanos()) as u64;
                let start = self.from + every.saturating_mul(u32::try_from(k).unwrap_or(u32::MAX));
                (k, start)
            }
            _ => (0, self.from),
        };
        let end = self.length.map(|l| start + l);
        match end {
            Some(end) if elapsed >= end => None,
            _ => Some((k, start, end)),
        }
    }

    pub fn is_active(&self, elapsed: Duration) -> bool {
        self.window(elapsed).is_some()
    }
}

/// An operation selector: an interaction operation by its Capability name, or a whole class of
/// causes that are not interaction operations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OpSelector {
    Operation(Capability),
    /// Customer API requests (RequestChat, the customer's SendMessage, ...) and the Facebook
    /// injector, and the notifications they cause.
    Customer,
    /// The agent's own session: StartContactCenterSession, Ready, NotReady, EndContactCenterSession.
    Session,
    /// What the server does on its own: routing offers, invitation timeouts.
    Routing,
}

impl OpSelector {
    pub fn parse(s: &str) -> Option<OpSelector> {
        match s {
            "customer" => Some(OpSelector::Customer),
            "session" => Some(OpSelector::Session),
            "routing" => Some(OpSelector::Routing),
            _ => Capability::parse(s).map(OpSelector::Operation),
        }
    }

    fn names() -> impl Iterator<Item = &'static str> {
        Capability::ALL.iter().map(|c| c.as_str()).chain(["customer", "session", "routing"])
    }
}

/// An agent selector: a username pattern (`*` any run of characters, `?` one), or a scenario
/// population (`agents:<name>`), which the scenario compiler resolves to patterns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AgentPattern {
    Glob(String),
    Population(String),
}

impl AgentPattern {
    pub fn matches(&self, username: &str) -> bool {
        match self {
            AgentPattern::Glob(p) => glob(p.as_bytes(), username.as_bytes()),
            // Unresolved: matches nobody rather than everybody.
            AgentPattern::Population(_) => false,
        }
    }
}

/// `*` and `?` over bytes, iteratively with one backtrack point (linear in practice).
fn glob(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some(b'*') => {
                star = Some((p, t));
                p += 1;
            }
            Some(&c) if c == b'?' || c == text[t] => {
                p += 1;
                t += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    p = sp + 1;
                    t = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}

/// Which way bytes travel through the fault proxy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// From the simulator (the proxy's client) to the upstream server: requests.
    Upstream,
    /// From the upstream server back to the simulator: responses and pushed frames.
    Downstream,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Upstream => "upstream",
            Direction::Downstream => "downstream",
        }
    }

    pub fn parse(s: &str) -> Option<Direction> {
        match s {
            "upstream" => Some(Direction::Upstream),
            "downstream" => Some(Direction::Downstream),
            _ => None,
        }
    }
}

/// What a rule applies to. An absent list selects everything.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Selector {
    pub operations: Option<Vec<OpSelector>>,
    pub agents: Option<Vec<AgentPattern>>,
    pub media: Option<Vec<Media>>,
    /// Proxy rules only: the directions faulted (absent: both).
    pub directions: Option<Vec<Direction>>,
}

impl Selector {
    /// Whether an event caused by `op` (None: no known cause) is selected.
    pub fn operation(&self, op: Option<OpSelector>) -> bool {
        match (&self.operations, op) {
            (None, _) => true,
            (Some(ops), Some(op)) => ops.contains(&op),
            (Some(_), None) => false,
        }
    }

    /// Whether an event of agent `username` (None: no agent, e.g. a customer) is selected.
    pub fn agent(&self, username: Option<&str>) -> bool {
        match (&self.agents, username) {
            (None, _) => true,
            (Some(pats), Some(u)) => pats.iter().any(|p| p.matches(u)),
            (Some(_), None) => false,
        }
    }

    pub fn direction(&self, d: Direction) -> bool {
        self.directions.as_ref().is_none_or(|list| list.contains(&d))
    }

    pub fn media(&self, media: Option<Media>) -> bool {
        match (&self.media, media) {
            (None, _) => true,
            (Some(list), Some(m)) => list.contains(&m),
            (Some(_), None) => false,
        }
    }
}

/// One fault rule of a plan.
#[derive(Debug, Clone, PartialEq)]
pub struct FaultRule {
    pub action: Action,
    /// Probability that an eligible event is faulted (1 when only a schedule is given).
    pub rate: f64,
    pub schedule: Option<Schedule>,
    pub select: Selector,
}

impl FaultRule {
    pub fn kind(&self) -> FaultKind {
        self.action.kind()
    }

    /// Whether the rule is active `elapsed` after the server started.
    pub fn active(&self, elapsed: Duration) -> bool {
        self.schedule.is_none_or(|s| s.is_active(elapsed))
    }
}

/// A validated fault plan.
#[derive(Debug, Clone, PartialEq)]
pub struct FaultPlan {
    /// Seed of every decision (see `decide`).
    pub seed: u64,
    /// Ledger records kept in memory; later ones are counted, not kept.
    pub ledger_cap: usize,
    pub rules: Vec<FaultRule>,
}

/// Records kept in memory unless the plan says otherwise.
pub const DEFAULT_LEDGER_CAP: usize = 100_000;
const DEFAULT_SEED: u64 = 1;

impl FaultPlan {
    /// A plan that injects nothing.
    pub fn empty(seed: u64) -> FaultPlan {
        FaultPlan { seed, ledger_cap: DEFAULT_LEDGER_CAP, rules: Vec::new() }
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// Populations (`agents:<name>`) the plan names; a standalone server cannot resolve them.
    pub fn populations(&self) -> Vec<&str> {
        let mut out: Vec<&str> = self
            .rules
            .iter()
            .filter_map(|r| r.select.agents.as_ref())
            .flatten()
            .filter_map(|p| match p {
                AgentPattern::Population(n) => Some(n.as_str()),
                AgentPattern::Glob(_) => None,
            })
            .collect();
        out.sort_unstable();
        out.dedup();
        out
    }

    /// Replaces each population by the username patterns `resolve` gives for it; returns the
    /// names it could not resolve (left in place, matching nobody).
    pub fn resolve_populations(
        &mut self,
        resolve: impl Fn(&str) -> Option<Vec<String>>,
    ) -> Vec<String> {
        let mut unresolved = Vec::new();
        for rule in &mut self.rules {
            let Some(agents) = &mut rule.select.agents else { continue };
            let mut out = Vec::with_capacity(agents.len());
            for p in agents.drain(..) {
                match &p {
                    AgentPattern::Population(name) => match resolve(name) {
                        Some(globs) => out.extend(globs.into_iter().map(AgentPattern::Glob)),
                        None => {
                            unresolved.push(name.clone());
                            out.push(p);
                        }
                    },
                    AgentPattern::Glob(_) => out.push(p),
                }
            }
            *agents = out;
        }
        unresolved
    }
}

#[cfg(test)]
mod tests;
