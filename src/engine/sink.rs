//! Where tasks record their measurements: a few shared recorders, each behind a short lock.
//!
//! HdrHistograms at 3 significant digits cost tens of KiB each, so a recorder per task (per
//! agent, per flow, per customer) would cost megabytes per agent at 10,000 agents. Tasks
//! instead record into one of a few shards (chosen by task), and the shards are merged with
//! `add` at the end; memory is then independent of the number of agents and of run length.
//! A std mutex: each record is a few hundred nanoseconds and never crosses an await.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::metrics::Recorder;
use crate::ordering::Violation;
use crate::scenario::{Counter, CustomerMetric, OpMetric, OpName};

/// A task's handle on its shard.
#[derive(Debug, Clone)]
pub(crate) struct Sink(Arc<Mutex<Recorder>>);

impl Sink {
    fn with(&self, f: impl FnOnce(&mut Recorder)) {
        f(&mut self.0.lock().unwrap_or_else(|e| e.into_inner()));
    }

    pub(crate) fn latency(
        &self,
        op: OpName,
        kind: OpMetric,
        intended: Instant,
        sent: Instant,
        done: Instant,
        measured: bool,
    ) {
        self.with(|r| r.latency(op, kind, intended, sent, done, measured));
    }

    pub(crate) fn customer_latency(
        &self,
        metric: CustomerMetric,
        latency: Duration,
        measured: bool,
    ) {
        self.with(|r| r.customer_latency(metric, latency, measured));
    }

    pub(crate) fn op_ok(&self, op: OpName, measured: bool) {
        self.with(|r| r.op_ok(op, measured));
    }

    pub(crate) fn op_error(&self, op: OpName, kind: &str, measured: bool) {
        self.with(|r| r.op_error(op, kind, measured));
    }

    pub(crate) fn count(&self, counter: Counter, n: u64) {
        self.with(|r| r.count(counter, n));
    }

    pub(crate) fn abandoned(&self, measured: bool) {
        self.with(|r| r.abandoned(measured));
    }

    pub(crate) fn violations(&self, vs: Vec<Violation>) {
        if !vs.is_empty() {
            self.with(|r| vs.into_iter().for_each(|v| r.violation(v)));
        }
    }
}

/// The shards of a run.
#[derive(Debug)]
pub(crate) struct Shards(Vec<Arc<Mutex<Recorder>>>);

impl Shards {
    pub(crate) fn new(n: usize) -> Self {
        Shards((0..n.max(1)).map(|_| Arc::new(Mutex::new(Recorder::new()))).collect())
    }

    pub(crate) fn sink(&self, task: u64) -> Sink {
        Sink(self.0[(task % self.0.len() as u64) as usize].clone())
    }

    /// Everything recorded so far, merged.
    pub(crate) fn merged(&self) -> Recorder {
        let mut all = Recorder::new();
        for s in &self.0 {
            all.merge(&s.lock().unwrap_or_else(|e| e.into_inner()));
        }
        all
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_merge_everything_recorded() {
        let shards = Shards::new(4);
        for task in 0..10u64 {
            let sink = shards.sink(task);
            sink.op_ok(OpName::Flow(crate::gws::Capability::Accept), true);
            sink.count(Counter::Reconnects, 1);
        }
        let all = shards.merged();
        assert_eq!(all.total_operations(), 10);
        assert_eq!(all.counter(Counter::Reconnects), 10);
    }
}
