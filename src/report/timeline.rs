//! The run as a time series: one point per interval (one second) of the load and drain phases,
//! appended to `timeline.jsonl` as the run goes (so memory does not grow with run length) and
//! read back to draw the HTML report.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Latency of one metric within one interval, in microseconds (corrected values).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct IntervalLatency {
    pub count: u64,
    pub p50_us: u64,
    pub p99_us: u64,
    pub max_us: u64,
}

/// What happened in one interval.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Point {
    /// End of the interval, in milliseconds since the load phase started.
    pub t_ms: u64,
    /// Operations that completed (succeeded or failed) in the interval, all kinds together.
    pub ops: u64,
    pub errors: u64,
    pub violations: u64,
    pub missed_starts: u64,
    /// Per metric, named as in thresholds (`Accept.response`, `Consult.settle`,
    /// `customer.wait`, ...); only metrics with samples in the interval appear.
    pub latency: BTreeMap<String, IntervalLatency>,
}
