//! The run's closed vocabularies, one home each: metric names, session-step names, await events,
//! violation kinds, statistics and the CometD transport. Scenario validation, the engine, the
//! checker, the report and the command line all name things with these types, never with strings.
//!
//! A leaf module: it depends only on [`crate::gws::states::Capability`] (the operation names of
//! the wire). Every name parses with a typed error, so each caller explains a bad name its own way
//! (a scenario diagnostic with did-you-mean, a read-back error naming the file, a clap usage error).

use std::fmt;

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::gws::states::Capability;

/// A closed set of names with one spelling each: `as_str`, `parse`, `ALL`, `NAMES`, `Display`
/// and serde as that spelling.
macro_rules! closed_names {
    ($(#[$m:meta])* $vis:vis enum $ty:ident { $($(#[doc = $doc:literal])* $v:ident = $s:literal,)* }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        $vis enum $ty { $($(#[doc = $doc])* $v,)* }

        impl $ty {
            pub const ALL: &'static [$ty] = &[$($ty::$v),*];
            pub const NAMES: &'static [&'static str] = &[$($s),*];

            pub fn as_str(self) -> &'static str {
                match self { $($ty::$v => $s,)* }
            }

            pub fn parse(s: &str) -> Option<Self> {
                match s { $($s => Some($ty::$v),)* _ => None }
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl Serialize for $ty {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                $ty::parse(&s).ok_or_else(|| {
                    D::Error::unknown_variant(&s, &[$($s),*])
                })
            }
        }
    };
}

closed_names! {
    /// The CometD connection types gwsim speaks (Bayeux `connectionType` spellings).
    pub enum Transport {
        Websocket = "websocket",
        /// The only transport GWS 8.5.2 GA offers.
        LongPolling = "long-polling",
    }
}

impl Transport {
    /// The Bayeux `connectionType` name.
    pub fn connection_type(self) -> &'static str {
        self.as_str()
    }
}

impl clap::ValueEnum for Transport {
    fn value_variants<'a>() -> &'a [Self] {
        Self::ALL
    }

    fn to_possible_value(&self) -> Option<clap::builder::PossibleValue> {
        Some(clap::builder::PossibleValue::new(self.as_str()))
    }
}

closed_names! {
    /// The protocol events a flow can wait for, on the interaction the flow is running for.
    ///
    /// An await is satisfied by the oldest matching event on this interaction that no earlier
    /// await of the flow has used, including one that arrived before the await step began: a
    /// notification may overtake the HTTP response of the operation that caused it
    /// (protocol.md §6.11), so "only events from now on" would make flows racy.
    pub enum AwaitEvent {
        /// `StatusChange(Invited)`: the interaction is offered to this agent (again).
        Invited = "invited",
        /// `ParticipantJoined` with visibility `Agents`: the consulted agent has accepted.
        ConsultantJoined = "consultant-joined",
        /// `ParticipantJoined` of another agent with visibility `All` (a conference member).
        ParticipantJoined = "participant-joined",
        /// `ParticipantLeft` of another agent.
        ParticipantLeft = "participant-left",
        /// `ParticipantLeft` of the customer.
        CustomerLeft = "customer-left",
        /// A `Text` entry from the customer.
        CustomerMessage = "customer-message",
        /// A `Text` entry from another agent (either visibility).
        AgentMessage = "agent-message",
        /// This agent was removed by another (`ParticipantsUpdated(LeftChat)` … `Completed`).
        Removed = "removed",
        /// `StatusChange(Completed)` or `Revoked`: this agent's part is over.
        Completed = "completed",
    }
}

closed_names! {
    /// Per-operation metric kinds (`<Operation>.<kind>`).
    pub enum OpMetric {
        /// From intended start to the HTTP response (a latency).
        Response = "response",
        /// From intended start to the last notification owed for the operation (a latency).
        Settle = "settle",
        /// Failed operations (a count).
        Errors = "errors",
        /// Operations started (a count).
        Count = "count",
    }
}

closed_names! {
    /// Session operations an agent performs around its flows, measured like flow operations.
    pub enum SessionOp {
        /// `GET /api/v2/me` (cookie and CSRF token).
        GetMe = "GetMe",
        Handshake = "Handshake",
        Subscribe = "Subscribe",
        /// The CometD stream once set up: a notification gwsim cannot read, or the session
        /// closed by the server or the network (never by gwsim's own end of run). Errors only.
        Notifications = "Notifications",
        StartContactCenterSession = "StartContactCenterSession",
        Ready = "Ready",
        NotReady = "NotReady",
        EndContactCenterSession = "EndContactCenterSession",
        Disconnect = "Disconnect",
    }
}

/// The `Notifications` error kind of an agent whose CometD stream closed for good (the server
/// stopped it, or the client gave up reconnecting).
pub const STREAM_CLOSED: &str = "cometd-closed";
/// The `Notifications` error kind of an agent whose CometD stream was still failing when the run
/// ended: as dead as a closed one for the run's verdict.
pub const STREAM_DOWN_AT_END: &str = "cometd-down-at-end";
/// The `Handshake` error kind of a reconnect storm (`[chaos]`) whose marker was not seen on the
/// old stream within 10 s: that old stream was dropped as it stood.
pub const STORM_NOT_CAUGHT_UP: &str = "storm-not-caught-up";

closed_names! {
    /// Why one CometD exchange failed or was refused: the error kinds counted under
    /// `Notifications` (and `Handshake`) for a stream that is set up. One name per way a server
    /// can fail a client, so a hostile server's misbehaviours are told apart in reports.
    pub enum CometdFailure {
        /// HTTP 401 on a request or on the websocket upgrade.
        Unauthorized = "unauthorized",
        /// `/meta/handshake` or a subscribe answered `successful: false`.
        Handshake = "handshake",
        /// `/meta/connect` answered `successful: false` (or not a boolean) with retry advice.
        ConnectRefused = "connect-refused",
        /// A non-200 HTTP status other than 401 (e.g. 500).
        HttpStatus = "http-status",
        /// A redirect answered to a long-poll (none is followed).
        Redirect = "redirect",
        /// The request or socket failed: refused, reset, closed mid-body.
        Transport = "transport",
        /// No reply within the time allowed for it.
        Timeout = "timeout",
        /// A body or frame that is not JSON (garbage, truncated JSON).
        NotJson = "not-json",
        /// JSON of the wrong shape: not an array of messages, or messages of the wrong types.
        WrongShape = "wrong-shape",
        /// Well-formed, but the reply the request waits for is missing, or a successful
        /// handshake has no clientId.
        Protocol = "protocol",
        /// A body or frame over the client's size limit (not read further).
        Oversize = "oversize",
        /// The configuration cannot work.
        Config = "config",
        /// gwsim cancelled it itself (never counted as a failure).
        Cancelled = "cancelled",
    }
}

closed_names! {
    /// Customer-side metrics (`customer.<name>`).
    pub enum CustomerMetric {
        /// From `RequestChat` to the first agent's join (a latency).
        Wait = "wait",
        /// A customer message's request, to its answer (a latency; corrected from when the
        /// customer's pacing meant to send it).
        Send = "send",
        /// Customer message to its arrival at the agent (a latency).
        ToAgent = "to_agent",
        /// Agent message to its arrival at the customer (a latency).
        ToCustomer = "to_customer",
        /// Customers who gave up waiting (a count).
        Abandoned = "abandoned",
    }
}

impl CustomerMetric {
    /// The latencies among them (every one but `Abandoned`), in report order.
    pub const TIMED: [CustomerMetric; 4] = [
        CustomerMetric::Wait,
        CustomerMetric::Send,
        CustomerMetric::ToAgent,
        CustomerMetric::ToCustomer,
    ];
}

closed_names! {
    /// Kinds of ordering violation (design.md, "The ordering checker").
    pub enum ViolationKind {
        /// A required step did not arrive within its timeout (or before the interaction ended).
        Missing = "missing",
        /// A step arrived after a later step of the same expectation.
        OutOfOrder = "out-of-order",
        /// A notification that should never arrive, e.g. anything after `Completed`.
        Unexpected = "unexpected",
        /// The same notification delivered twice.
        Duplicate = "duplicate",
        /// A message-log index that does not strictly increase.
        IndexRegression = "index-regression",
        /// An `Agents`-only entry reached a customer.
        VisibilityLeak = "visibility-leak",
        /// A message did not reach a participant of its chat that it was owed to (checked across
        /// participants: the sender's request succeeded while the recipient was in the chat).
        NotDelivered = "not-delivered",
        /// A consult or conference target got no `Invited` for the interaction.
        NotInvited = "not-invited",
        /// An agent invited to a chat whose customer then left got no `Revoked` (or `Completed`).
        NotRevoked = "not-revoked",
        /// A customer's chat was offered to no agent within the timeout.
        NeverOffered = "never-offered",
    }
}

closed_names! {
    /// Run-wide counters.
    pub enum Counter {
        /// Ordering violations of every kind.
        Violations = "violations",
        /// Failed operations of every kind.
        Errors = "errors",
        /// Starts the generator could not make on schedule.
        MissedStarts = "missed_starts",
        /// CometD reconnects and re-handshakes.
        Reconnects = "reconnects",
        /// Agent flows that ran every step (warmup included: a count of the whole run).
        FlowsCompleted = "flows_completed",
        /// Customer chats that ended after an agent joined, with the customer still there (not
        /// abandoned, not failed, not cut by the run's end; warmup included).
        ChatsCompleted = "chats_completed",
    }
}

closed_names! {
    /// Live counts the engine keeps while a run goes (sampled at each interval's end into
    /// `timeline.jsonl`, averaged and peaked over the measured window in `summary.json`).
    pub enum Gauge {
        /// Customer chats from their request until they end.
        ActiveChats = "active_chats",
        /// Agents from a finished login until they log out.
        AgentsLoggedIn = "agents_logged_in",
        /// Logged-in agents with at least one interaction in flight.
        AgentsBusy = "agents_busy",
        /// Customers who requested a chat and have no agent yet.
        CustomersWaiting = "customers_waiting",
    }
}

closed_names! {
    /// A statistic: of a latency distribution (`p50` … `mean`), or a limit on a count (`min`,
    /// and `rate` for error counts as a fraction of operations).
    pub enum Stat {
        P50 = "p50",
        P90 = "p90",
        P99 = "p99",
        P999 = "p99.9",
        Max = "max",
        Mean = "mean",
        /// At least this many (counts only).
        Min = "min",
        /// At most this fraction of operations (error counts only).
        Rate = "rate",
    }
}

impl Stat {
    /// The statistics of a latency distribution, in the order reports print them.
    pub const DISTRIBUTION: [Stat; 6] =
        [Stat::P50, Stat::P90, Stat::P99, Stat::P999, Stat::Max, Stat::Mean];

    /// The quantile a percentile statistic stands for; `None` for max, mean and count limits.
    pub fn quantile(self) -> Option<f64> {
        match self {
            Stat::P50 => Some(0.5),
            Stat::P90 => Some(0.9),
            Stat::P99 => Some(0.99),
            Stat::P999 => Some(0.999),
            Stat::Max | Stat::Mean | Stat::Min | Stat::Rate => None,
        }
    }

    /// The fewest samples that resolve a percentile: `1 / (1 - q)` (p99 needs 100, p99.9 needs
    /// 1000). With fewer, the percentile is the top sample or near it, so it says little more
    /// than the max; reports mark it as thin. `None` for statistics that are not percentiles.
    pub fn resolving_samples(self) -> Option<u64> {
        self.quantile().map(|q| (1.0 / (1.0 - q)).round() as u64)
    }

    /// Whether this statistic describes a latency distribution (rather than limiting a count).
    pub fn is_distribution(self) -> bool {
        Stat::DISTRIBUTION.contains(&self)
    }
}

/// An operation name in a metric: a flow operation or a session step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OpName {
    Flow(Capability),
    Session(SessionOp),
}

impl OpName {
    pub fn parse(s: &str) -> Option<OpName> {
        Capability::parse(s).map(OpName::Flow).or_else(|| SessionOp::parse(s).map(OpName::Session))
    }

    /// Every operation name, flow operations first.
    pub fn names() -> impl Iterator<Item = &'static str> {
        Capability::ALL.iter().map(|c| c.as_str()).chain(SessionOp::NAMES.iter().copied())
    }

    pub fn as_str(self) -> &'static str {
        match self {
            OpName::Flow(c) => c.as_str(),
            OpName::Session(s) => s.as_str(),
        }
    }
}

/// Alphabetical by name (no two operations share one), so maps keyed by operation list them as
/// people look them up.
impl Ord for OpName {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.as_str().cmp(other.as_str())
    }
}

impl PartialOrd for OpName {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for OpName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for OpName {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for OpName {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        OpName::parse(&s)
            .ok_or_else(|| D::Error::custom(format!("`{s}` is not an operation gwsim measures")))
    }
}

closed_names! {
    /// The fault kinds that show up as ordering violations, so have a recall (the plan format's
    /// names; `faults::FaultKind` has them all).
    pub enum OrderingFault {
        Drop = "drop",
        Duplicate = "duplicate",
        Swap = "swap",
        Delay = "delay",
        Late = "late",
        IndexRegression = "index-regression",
        Leak = "leak",
    }
}

closed_names! {
    /// What the join of a fault ledger with a run's violations measures (`faults::join`).
    pub enum FaultRatio {
        /// Ordering faults found by the checker / ordering faults injected.
        Recall = "recall",
        /// Violations a fault explains / violations.
        Precision = "precision",
    }
}

/// What a threshold measures, and how a metric is named in every output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Metric {
    Op(OpName, OpMetric),
    Customer(CustomerMetric),
    Counter(Counter),
    Violations(ViolationKind),
    /// `faults.recall`, `faults.precision` (every kind), `faults.<kind>.recall` (one kind).
    Faults(Option<OrderingFault>, FaultRatio),
}

/// Why a name is not a metric gwsim records; each variant names the word that is wrong and the
/// names that would be right there, so a caller can suggest the nearest.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MetricError {
    #[error("`{name}` is not a metric gwsim records")]
    Unknown { name: String },
    #[error("`{word}` in `{name}` is not a customer metric")]
    Customer { name: String, word: String },
    #[error("`{word}` in `{name}` is not a kind of violation")]
    ViolationKind { name: String, word: String },
    #[error("`{word}` in `{name}` is not an operation")]
    Operation { name: String, word: String },
    #[error("`{word}` in `{name}` is not a per-operation metric")]
    OpMetric { name: String, word: String },
    #[error("`{op}` causes no notification, so it has no settle time")]
    NoSettle { op: OpName },
    #[error("`{word}` in `{name}` is not a fault measure (recall, precision)")]
    FaultRatio { name: String, word: String },
    #[error("`{word}` in `{name}` is not a fault kind that shows up as violations")]
    OrderingFault { name: String, word: String },
}

impl MetricError {
    /// The word at fault and the names that would be valid in its place (for did-you-mean).
    pub fn candidates(&self) -> Option<(&str, Vec<&'static str>)> {
        match self {
            MetricError::Unknown { name } => Some((name, Counter::NAMES.to_vec())),
            MetricError::Customer { word, .. } => Some((word, CustomerMetric::NAMES.to_vec())),
            MetricError::ViolationKind { word, .. } => Some((word, ViolationKind::NAMES.to_vec())),
            MetricError::Operation { word, .. } => Some((word, OpName::names().collect())),
            MetricError::OpMetric { word, .. } => Some((word, OpMetric::NAMES.to_vec())),
            MetricError::NoSettle { .. } => None,
            MetricError::FaultRatio { word, .. } => Some((word, FaultRatio::NAMES.to_vec())),
            MetricError::OrderingFault { word, .. } => Some((word, OrderingFault::NAMES.to_vec())),
        }
    }
}

/// Whether an operation has a settle time: whether some notification ends it. SetInFocus and
/// CancelConsult succeed silently (protocol.md §5), so nothing ever arrives to settle on. The one
/// place that says so: metric names and the ordering checker's rules (`ordering::rules`, which
/// marks the settling step of every other operation, checked by its tests) both follow it.
pub fn has_settle(op: Capability) -> bool {
    !matches!(op, Capability::SetInFocus | Capability::CancelConsult)
}

/// Every metric name pattern, for help texts.
pub const METRIC_PATTERNS: &str = "metrics are <Operation>.response, <Operation>.settle, \
<Operation>.errors, <Operation>.count, customer.wait, customer.to_agent, customer.to_customer, \
customer.abandoned, violations, violations.<kind>, errors, missed_starts, reconnects, \
flows_completed, chats_completed, faults.recall, faults.precision, faults.<kind>.recall, faults.<kind>.precision";

impl Metric {
    /// Latency metrics take percentile limits; the others take counts.
    pub fn is_latency(self) -> bool {
        match self {
            Metric::Op(_, k) => matches!(k, OpMetric::Response | OpMetric::Settle),
            Metric::Customer(c) => c != CustomerMetric::Abandoned,
            Metric::Counter(_) | Metric::Violations(_) | Metric::Faults(..) => false,
        }
    }

    /// Fault measures are fractions (0..=1) judged by a `min`.
    pub fn is_fault_ratio(self) -> bool {
        matches!(self, Metric::Faults(..))
    }

    /// Error counts can also be limited as a fraction of operations.
    pub fn is_error_count(self) -> bool {
        matches!(self, Metric::Op(_, OpMetric::Errors) | Metric::Counter(Counter::Errors))
    }

    /// The metric a name such as `Consult.settle`, `customer.wait` or `violations.missing`
    /// denotes, or what is wrong with the name.
    pub fn parse(s: &str) -> Result<Metric, MetricError> {
        if let Some(c) = Counter::parse(s) {
            return Ok(Metric::Counter(c));
        }
        let Some((head, tail)) = s.split_once('.') else {
            return Err(MetricError::Unknown { name: s.to_owned() });
        };
        let word = |w: &str| (s.to_owned(), w.to_owned());
        match head {
            "customer" => CustomerMetric::parse(tail).map(Metric::Customer).ok_or_else(|| {
                let (name, word) = word(tail);
                MetricError::Customer { name, word }
            }),
            "violations" => ViolationKind::parse(tail).map(Metric::Violations).ok_or_else(|| {
                let (name, word) = word(tail);
                MetricError::ViolationKind { name, word }
            }),
            "faults" => {
                let (kind, ratio) = match tail.rsplit_once('.') {
                    Some((kind, ratio)) => {
                        let Some(kind) = OrderingFault::parse(kind) else {
                            let (name, word) = word(kind);
                            return Err(MetricError::OrderingFault { name, word });
                        };
                        (Some(kind), ratio)
                    }
                    None => (None, tail),
                };
                let Some(ratio) = FaultRatio::parse(ratio) else {
                    let (name, word) = word(ratio);
                    return Err(MetricError::FaultRatio { name, word });
                };
                Ok(Metric::Faults(kind, ratio))
            }
            _ => {
                let Some(op) = OpName::parse(head) else {
                    let (name, word) = word(head);
                    return Err(MetricError::Operation { name, word });
                };
                let Some(kind) = OpMetric::parse(tail) else {
                    let (name, word) = word(tail);
                    return Err(MetricError::OpMetric { name, word });
                };
                if kind == OpMetric::Settle
                    && let OpName::Flow(c) = op
                    && !has_settle(c)
                {
                    return Err(MetricError::NoSettle { op });
                }
                Ok(Metric::Op(op, kind))
            }
        }
    }
}

impl fmt::Display for Metric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Metric::Op(op, k) => write!(f, "{op}.{k}"),
            Metric::Customer(c) => write!(f, "customer.{c}"),
            Metric::Counter(c) => write!(f, "{c}"),
            Metric::Violations(k) => write!(f, "violations.{k}"),
            Metric::Faults(None, r) => write!(f, "faults.{r}"),
            Metric::Faults(Some(k), r) => write!(f, "faults.{k}.{r}"),
        }
    }
}

impl Serialize for Metric {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Metric {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Metric::parse(&s).map_err(D::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_metric_name_round_trips() {
        let mut names = vec!["errors".to_owned(), "violations".into(), "missed_starts".into()];
        for op in OpName::names() {
            for k in OpMetric::NAMES {
                names.push(format!("{op}.{k}"));
            }
        }
        names.extend(CustomerMetric::NAMES.iter().map(|c| format!("customer.{c}")));
        names.extend(ViolationKind::NAMES.iter().map(|k| format!("violations.{k}")));
        let mut parsed = 0;
        for name in &names {
            match Metric::parse(name) {
                Ok(m) => {
                    assert_eq!(&m.to_string(), name);
                    parsed += 1;
                }
                Err(MetricError::NoSettle { .. }) => assert!(name.ends_with(".settle")),
                Err(e) => panic!("{name}: {e}"),
            }
        }
        assert_eq!(parsed, names.len() - 2, "only SetInFocus and CancelConsult have no settle");
    }

    #[test]
    fn bad_metric_names_say_which_word_is_wrong() {
        let e = Metric::parse("Consult.setle").unwrap_err();
        assert_eq!(e.to_string(), "`setle` in `Consult.setle` is not a per-operation metric");
        assert_eq!(e.candidates().map(|(w, _)| w), Some("setle"));
        assert!(matches!(Metric::parse("Consul.settle"), Err(MetricError::Operation { .. })));
        assert!(matches!(Metric::parse("customer.wiat"), Err(MetricError::Customer { .. })));
        assert!(matches!(Metric::parse("violations.x"), Err(MetricError::ViolationKind { .. })));
        assert!(matches!(Metric::parse("eror"), Err(MetricError::Unknown { .. })));
    }

    #[test]
    fn transport_speaks_the_bayeux_names_in_serde_and_clap() {
        use clap::ValueEnum;
        for t in Transport::ALL {
            let json = serde_json::to_string(t).unwrap();
            assert_eq!(json, format!("\"{}\"", t.connection_type()));
            assert_eq!(Transport::from_str(t.as_str(), false), Ok(*t));
        }
    }

    #[test]
    fn stats_know_their_quantiles() {
        assert_eq!(Stat::P999.quantile(), Some(0.999));
        assert_eq!(Stat::Max.quantile(), None);
        assert!(Stat::Mean.is_distribution() && !Stat::Rate.is_distribution());
        let needs: Vec<_> = Stat::DISTRIBUTION.iter().map(|s| s.resolving_samples()).collect();
        assert_eq!(needs, [Some(2), Some(10), Some(100), Some(1000), None, None]);
    }
}
