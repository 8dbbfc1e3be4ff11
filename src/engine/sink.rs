//! Where tasks record their measurements: a few shared recorders, each behind a short lock.
//!
//! HdrHistograms at 3 significant digits cost tens of KiB each, so a recorder per task (per
//! agent, per flow, per customer) would cost megabytes per agent at 10,000 agents. Tasks
//! instead record into one of a few shards (chosen by task), and the shards are merged with
//! `add` at the end; memory is then independent of the number of agents and of run length.
//! A std mutex: each record is a few hundred nanoseconds and never crosses an await.
//!
//! Each shard holds, under the one lock, the run's total recorder and the notes of the interval in
//! progress ([`Pending`]: the samples as they came, a push each), which the engine's ticker
//! replays every second into one interval recorder for the time-series outputs. The interval
//! takes warmup samples as measured (the time series shows the warmup too, flagged as such by its
//! consumers), keeps corrected latencies only, and counts violations without cloning them.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use super::failure::FailureKind;
use crate::metrics::Recorder;
use crate::metrics::interval::Pending;
use crate::metrics::violations::ViolationObserver;
use crate::ordering::Violation;
use crate::vocab::{Counter, CustomerMetric, OpMetric, OpName};

/// One shard: the whole run so far, and the interval in progress.
#[derive(Debug, Default)]
struct Shard {
    total: Recorder,
    interval: Pending,
}

/// A task's handle on its shard, and on the run's violation observer (if any).
#[derive(Debug, Clone)]
pub(crate) struct Sink(Arc<Mutex<Shard>>, Option<Arc<dyn ViolationObserver>>);

impl Sink {
    /// Applies `f` to the shard under its lock.
    fn with(&self, f: impl FnOnce(&mut Recorder, &mut Pending)) {
        let mut shard = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let Shard { total, interval } = &mut *shard;
        f(total, interval);
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
        self.with(|r, i| {
            r.latency(op, kind, intended, sent, done, measured);
            i.latency(op, kind, intended, done);
        });
    }

    pub(crate) fn customer_latency(
        &self,
        metric: CustomerMetric,
        intended: Instant,
        sent: Instant,
        done: Instant,
        measured: bool,
    ) {
        self.with(|r, i| {
            r.customer_latency(metric, intended, sent, done, measured);
            i.customer_latency(metric, intended, done);
        });
    }

    pub(crate) fn op_ok(&self, op: OpName, measured: bool) {
        self.with(|r, i| {
            r.op_ok(op, measured);
            i.op_ok(op);
        });
    }

    /// Counts a failure under its kind's stable string (the recorder keys error kinds by name).
    pub(crate) fn op_error(&self, op: OpName, kind: &FailureKind, measured: bool) {
        let kind: Box<str> = kind.to_string().into();
        self.with(|r, i| {
            r.op_error(op, &kind, measured);
            i.op_error(op, kind);
        });
    }

    pub(crate) fn count(&self, counter: Counter, n: u64) {
        self.with(|r, i| {
            r.count(counter, n);
            i.count(counter, n);
        });
    }

    pub(crate) fn abandoned(&self, measured: bool) {
        self.with(|r, i| {
            r.abandoned(measured);
            i.abandoned();
        });
    }

    pub(crate) fn violations(&self, vs: Vec<Violation>) {
        if vs.is_empty() {
            return;
        }
        // Outside the shard's lock: the observer has its own (a file write must not hold up the
        // other tasks of this shard).
        if let Some(o) = &self.1 {
            vs.iter().for_each(|v| o.violation(v));
        }
        self.with(|total, interval| {
            // The interval only needs the number; the total keeps the violations themselves.
            interval.count(Counter::Violations, vs.len() as u64);
            vs.into_iter().for_each(|v| total.violation(v));
        });
    }
}

/// The shards of a run, who else sees each violation, and the ticker's spare notes buffer.
#[derive(Debug)]
pub(crate) struct Shards {
    shards: Vec<Arc<Mutex<Shard>>>,
    violations: Option<Arc<dyn ViolationObserver>>,
    /// Empty between takes: swapped for each shard's notes in turn, so taking an interval holds a
    /// shard's lock only for the swap and no buffer is allocated again.
    spare: Mutex<Pending>,
}

impl Shards {
    #[cfg(test)]
    pub(crate) fn new(n: usize) -> Self {
        Shards::observed(n, None)
    }

    /// `n` shards; every violation recorded is also handed to `violations`.
    pub(crate) fn observed(n: usize, violations: Option<Arc<dyn ViolationObserver>>) -> Self {
        Shards {
            shards: (0..n.max(1)).map(|_| Arc::new(Mutex::new(Shard::default()))).collect(),
            violations,
            spare: Mutex::new(Pending::default()),
        }
    }

    pub(crate) fn sink(&self, task: u64) -> Sink {
        let shard = self.shards[(task % self.shards.len() as u64) as usize].clone();
        Sink(shard, self.violations.clone())
    }

    /// Everything recorded so far, merged.
    pub(crate) fn merged(&self) -> Recorder {
        let mut all = Recorder::new();
        for s in &self.shards {
            all.merge(&s.lock().unwrap_or_else(|e| e.into_inner()).total);
        }
        all
    }

    /// Records every shard's interval so far into `into` (which the caller has emptied) and
    /// starts the next one.
    pub(crate) fn take_interval(&self, into: &mut Recorder) {
        let mut spare = self.spare.lock().unwrap_or_else(|e| e.into_inner());
        for s in &self.shards {
            {
                let mut shard = s.lock().unwrap_or_else(|e| e.into_inner());
                if shard.interval.is_empty() {
                    continue;
                }
                std::mem::swap(&mut shard.interval, &mut *spare);
            }
            spare.replay_into(into);
        }
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

    #[test]
    fn intervals_are_taken_once_and_include_warmup_samples() {
        let shards = Shards::new(2);
        let op = OpName::Flow(crate::gws::Capability::Accept);
        let t = Instant::now();
        for task in 0..4u64 {
            let sink = shards.sink(task);
            // Two in warmup, two measured.
            sink.op_ok(op, task >= 2);
            sink.latency(
                op,
                OpMetric::Response,
                t,
                t,
                t + std::time::Duration::from_millis(3),
                task >= 2,
            );
        }
        shards.sink(0).violations(vec![]);
        let mut first = Recorder::new();
        shards.take_interval(&mut first);
        assert_eq!(first.total_operations(), 4);
        let lat =
            first.op(op).and_then(|s| s.response.as_ref()).map(|t| t.latency.corrected().len());
        assert_eq!(lat, Some(4));
        // Taken: the next interval starts empty, the totals are untouched.
        let mut next = Recorder::new();
        shards.take_interval(&mut next);
        assert_eq!(next.total_operations(), 0);
        let all = shards.merged();
        assert_eq!(all.total_operations(), 2);
        assert_eq!(all.op(op).map(|s| s.ok.warmup), Some(2));
    }
}
