//! Every Prometheus metric and label name gwsim exposes, one home. Names follow Prometheus
//! conventions: the `gwsim_` prefix (the registry adds it), base units (seconds), `_total` on
//! counters (the encoder adds it). Label values for operations, error kinds, violation kinds and
//! latency metrics are `vocab`'s spellings, as in `summary.json`.
//!
//! The dashboard (`deploy/grafana/gwsim-dashboard.json`) and the test script
//! (`tests/prometheus/run`) query these names; a unit test in `run` checks the exposition holds
//! each family.

/// Prefix of every family (`gwsim_operations_total`, ...).
pub const PREFIX: &str = "gwsim";

// ----- constant labels of a run -----

/// The scenario's name.
pub const SCENARIO: &str = "scenario";
/// `I/N` with `--shard I/N` (or `--shards N`), `0/1` otherwise, so a cluster's Prometheus can
/// sum the shards of one run (`sum without (shard, instance, pod)`).
pub const SHARD: &str = "shard";

// ----- per-series labels -----

/// An operation ([`crate::vocab::OpName`]: `Accept`, `Handshake`, ...).
pub const OPERATION: &str = "operation";
/// `ok` or `error`.
pub const OUTCOME: &str = "outcome";
/// An error kind (`timeout`, `http-403`, ...), a violation kind
/// ([`crate::vocab::ViolationKind`]) or a fault kind, by family.
pub const KIND: &str = "kind";
/// `response` or `settle` ([`crate::vocab::OpMetric`]); for customers `wait`, `to_agent`,
/// `to_customer` ([`crate::vocab::CustomerMetric`]).
pub const METRIC: &str = "metric";
/// A server route, as the router declares it (`/api/v2/me/chats/{id}`), so ids do not explode
/// the series.
pub const ROUTE: &str = "route";
/// An HTTP status code.
pub const STATUS: &str = "status";

/// Outcome label values.
pub const OK: &str = "ok";
pub const ERROR: &str = "error";

// ----- the simulator's families (`gwsim run`) -----

/// Counter: operations with an outcome, by operation and outcome.
pub const OPERATIONS: &str = "operations";
/// Counter: failed operations by operation and error kind; failures of no operation (a
/// customer's) under operation `none`.
pub const ERRORS: &str = "errors";
/// The operation label of failures that belong to no operation.
pub const NO_OPERATION: &str = "none";
/// Counter: ordering violations by kind.
pub const VIOLATIONS: &str = "violations";
/// Histogram (seconds): corrected latency by operation and metric (response, settle).
pub const LATENCY: &str = "latency";
/// Histogram (seconds): customer latencies by metric.
pub const CUSTOMER_LATENCY: &str = "customer_latency";
/// Counter: customers who gave up waiting.
pub const ABANDONED: &str = "customers_abandoned";
/// Counter: CometD reconnects and re-handshakes.
pub const RECONNECTS: &str = "reconnects";
/// Counter: starts the generator could not make on schedule.
pub const MISSED_STARTS: &str = "missed_starts";
/// Gauge: agents logged in.
pub const AGENTS_LOGGED_IN: &str = "agents_logged_in";
/// Gauge: agents with at least one interaction in flight.
pub const AGENTS_BUSY: &str = "agents_busy";
/// Gauge: chats in progress.
pub const ACTIVE_CHATS: &str = "active_chats";
/// Gauge: customers waiting for an agent.
pub const CUSTOMERS_WAITING: &str = "customers_waiting";

// ----- the reference server's families (`gwsim serve`) -----

/// Counter: HTTP requests by route and status.
pub const SERVER_REQUESTS: &str = "server_requests";
/// Gauge: CometD sessions open.
pub const SERVER_COMETD_SESSIONS: &str = "server_cometd_sessions";
/// Counter: CometD handshakes accepted (sessions opened).
pub const SERVER_COMETD_HANDSHAKES: &str = "server_cometd_handshakes";
/// Counter: notifications queued for delivery to a CometD session.
pub const SERVER_NOTIFICATIONS: &str = "server_notifications";
/// Counter: faults injected, by kind.
pub const SERVER_FAULTS: &str = "server_faults";

/// Histogram bucket bounds for latencies, in seconds: 1 ms to 1 min, about three per decade,
/// which covers a healthy GWS operation (milliseconds) and a customer's wait for an agent
/// (seconds to tens of seconds). `histogram_quantile` interpolates within a bucket, so its p99 is
/// approximate; `summary.json`'s percentiles are exact to 3 significant digits.
pub const LATENCY_BUCKETS: [f64; 16] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0,
];
