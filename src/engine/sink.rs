//! Where tasks record their measurements: a few shared recorders, each behind a short lock.
//!
//! HdrHistograms at 3 significant digits cost tens of KiB each, so a recorder per task (per
//! agent, per flow, per customer) would cost megabytes per agent at 10,000 agents. Tasks
//! instead record into one of a few shards (chosen by task), and the shards are merged with
//! `add` at the end; memory is then independent of the number of agents and of run length.
//! A std mutex: each record is a few hundred nanoseconds and never crosses an await.
//!
//! Each shard holds two recorders under the one lock: the run's total, and the current interval
//! that the engine's ticker swaps out every second (for a recycled, empty one) for the time-series
//! outputs. The interval recorder takes warmup samples as measured (the time series shows the
//! warmup too, flagged as such by its consumers) and counts violations without cloning them, so
//! the second record costs a histogram increment, not an allocation.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use super::failure::FailureKind;
use crate::metrics::Recorder;
use crate::metrics::violations::ViolationObserver;
use crate::ordering::Violation;
use crate::vocab::{Counter, CustomerMetric, OpMetric, OpName};

/// One shard: the whole run so far, and the interval in progress.
#[derive(Debug, Default)]
struct Shard {
    total: Recorder,
    interval: Recorder,
    /// The previous interval's recorder, emptied by [`Recorder::recycle`]: it becomes the next
    /// `interval`, so the two alternate and keep their histograms' allocations.
    idle: Recorder,
}

/// A task's handle on its shard, and on the run's violation observer (if any).
#[derive(Debug, Clone)]
pub(crate) struct Sink(Arc<Mutex<Shard>>, Option<Arc<dyn ViolationObserver>>);

impl Sink {
    /// Applies `f` to the total (with the sample's own `measured`) and to the interval (always
    /// measured), under one lock.
    fn with(&self, f: impl Fn(&mut Recorder, bool)) {
        let mut shard = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let Shard { total, interval, .. } = &mut *shard;
        f(total, false);
        f(interval, true);
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
        self.with(|r, interval| r.latency(op, kind, intended, sent, done, measured || interval));
    }

    pub(crate) fn customer_latency(
        &self,
        metric: CustomerMetric,
        intended: Instant,
        sent: Instant,
        done: Instant,
        measured: bool,
    ) {
        self.with(|r, interval| {
            r.customer_latency(metric, intended, sent, done, measured || interval)
        });
    }

    pub(crate) fn op_ok(&self, op: OpName, measured: bool) {
        self.with(|r, interval| r.op_ok(op, measured || interval));
    }

    /// Counts a failure under its kind's stable string (the recorder keys error kinds by name).
    pub(crate) fn op_error(&self, op: OpName, kind: &FailureKind, measured: bool) {
        let kind = kind.to_string();
        self.with(|r, interval| r.op_error(op, &kind, measured || interval));
    }

    pub(crate) fn count(&self, counter: Counter, n: u64) {
        self.with(|r, _| r.count(counter, n));
    }

    pub(crate) fn abandoned(&self, measured: bool) {
        self.with(|r, interval| r.abandoned(measured || interval));
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
        let mut shard = self.0.lock().unwrap_or_else(|e| e.into_inner());
        // The interval only needs the number; the total keeps the violations themselves.
        shard.interval.count(Counter::Violations, vs.len() as u64);
        vs.into_iter().for_each(|v| shard.total.violation(v));
    }
}

/// The shards of a run, and who else sees each violation.
#[derive(Debug)]
pub(crate) struct Shards(Vec<Arc<Mutex<Shard>>>, Option<Arc<dyn ViolationObserver>>);

impl Shards {
    #[cfg(test)]
    pub(crate) fn new(n: usize) -> Self {
        Shards::observed(n, None)
    }

    /// `n` shards; every violation recorded is also handed to `violations`.
    pub(crate) fn observed(n: usize, violations: Option<Arc<dyn ViolationObserver>>) -> Self {
        Shards((0..n.max(1)).map(|_| Arc::new(Mutex::new(Shard::default()))).collect(), violations)
    }

    pub(crate) fn sink(&self, task: u64) -> Sink {
        Sink(self.0[(task % self.0.len() as u64) as usize].clone(), self.1.clone())
    }

    /// Everything recorded so far, merged.
    pub(crate) fn merged(&self) -> Recorder {
        let mut all = Recorder::new();
        for s in &self.0 {
            all.merge(&s.lock().unwrap_or_else(|e| e.into_inner()).total);
        }
        all
    }

    /// Takes every shard's current interval (leaving fresh, empty ones) and merges them. Each
    /// lock is held only for the swap; the merge runs outside it.
    pub(crate) fn take_interval(&self) -> Recorder {
        // A fresh merge target, not a recycled one: recycling it was tried and measured worse in
        // callgrind (670M vs 540M instructions, 50 flows), since a reset zeroes every bucket array
        // while fresh arrays grow only to the interval's largest value.
        let mut all = Recorder::new();
        for s in &self.0 {
            let lock = || s.lock().unwrap_or_else(|e| e.into_inner());
            let mut taken = {
                let mut shard = lock();
                let idle = std::mem::take(&mut shard.idle);
                std::mem::replace(&mut shard.interval, idle)
            };
            all.merge(&taken);
            // Emptied, but its histograms stay allocated for the interval after next: cheaper
            // than a fresh recorder growing them again every second (see `Recorder::recycle`).
            taken.recycle();
            lock().idle = taken;
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
        let first = shards.take_interval();
        assert_eq!(first.total_operations(), 4);
        let lat =
            first.op(op).and_then(|s| s.response.as_ref()).map(|t| t.latency.corrected().len());
        assert_eq!(lat, Some(4));
        // Taken: the next interval starts empty, the totals are untouched.
        assert_eq!(shards.take_interval().total_operations(), 0);
        let all = shards.merged();
        assert_eq!(all.total_operations(), 2);
        assert_eq!(all.op(op).map(|s| s.ok.warmup), Some(2));
    }
}
