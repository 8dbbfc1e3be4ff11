//! The run one interval at a time: [`IntervalObserver`] is how the engine hands each interval's
//! [`Recorder`] to whoever writes or shows time series (the result files in `report::live`, the
//! live progress line), and [`Observers`] feeds several of them the same intervals.
//!
//! It lives here, beside the recorder it carries, rather than in `engine`: the report and the
//! progress line implement it, and they render the engine's outcome, so they must not depend on
//! the engine.
//!
//! [`Pending`] is how an interval is gathered: the engine's recorder shards note each sample of
//! the second as it comes, and the ticker replays every shard's notes into one recorder.

use std::time::{Duration, Instant};

use super::gauges::GaugeSample;
use super::{Recorder, duration_to_us};
use crate::vocab::{Counter, CustomerMetric, OpMetric, OpName};

/// Receives the run one interval at a time (the engine's module docs say when). Implementations
/// write files; they must not fail the run, so neither method returns an error.
pub trait IntervalObserver: Send {
    /// The load phase begins, with `agents_logged_in` of the run's agents in; `login` is what
    /// was recorded while they logged in (once, before the first interval). The time series
    /// start with the load and ignore both; a live total (Prometheus) adds `login` so that its
    /// counts are the run's.
    fn load_started(&mut self, _agents_logged_in: usize, _login: &Recorder) {}
    /// What was recorded between `start` and `end` (offsets from the start of the load phase).
    /// In `data`, warmup samples count as measured: warmup is `start < scenario.run.warmup`; its
    /// latencies are the corrected ones only (see [`Pending`]).
    /// `gauges` are the run's live counts sampled at `end`.
    fn interval(&mut self, start: Duration, end: Duration, data: &Recorder, gauges: GaugeSample);
    /// The run is over (also after an interrupt or a failed login): flush and close.
    fn finish(&mut self);
}

/// Several observers fed the same intervals (the result files and the live progress line).
pub struct Observers(pub Vec<Box<dyn IntervalObserver>>);

impl IntervalObserver for Observers {
    fn load_started(&mut self, agents_logged_in: usize, login: &Recorder) {
        for o in &mut self.0 {
            o.load_started(agents_logged_in, login);
        }
    }

    fn interval(&mut self, start: Duration, end: Duration, data: &Recorder, gauges: GaugeSample) {
        for o in &mut self.0 {
            o.interval(start, end, data, gauges);
        }
    }

    fn finish(&mut self) {
        for o in &mut self.0 {
            o.finish();
        }
    }
}

/// One sample of an interval, as [`Pending`] keeps it until the ticker replays it.
#[derive(Debug)]
enum Entry {
    Latency { op: OpName, kind: OpMetric, corrected: u64 },
    Customer { metric: CustomerMetric, corrected: u64 },
    Ok(OpName),
    Error(OpName, Box<str>),
    Count(Counter, u64),
    Abandoned,
}

/// Entries a [`Pending`] holds before folding them into a recorder of its own (about 1.5 MiB).
pub const PENDING_ENTRIES: usize = 1 << 16;

/// The samples of the interval in progress, kept as they came; [`Pending::replay_into`] records
/// them into a [`Recorder`], as measured (an interval shows its warmup too), exactly as if they had
/// been recorded there directly, but for raw latencies: an interval keeps the corrected ones only
/// (its raw view is the corrected one), which is all that every interval consumer reads
/// (`latency.hlog`, `timeline.jsonl`, Prometheus, the progress line); a raw histogram per metric
/// would double what the ticker records and zeroes every second.
///
/// Why not a recorder: each of the engine's recorder shards would hold one, and every second the
/// ticker would merge them (an HdrHistogram `add` walks every bucket) and zero them again; in a
/// profiled run (callgrind) that was the bulk of the ticker's cost. Notes cost a push here and
/// one histogram increment in the ticker's single interval recorder.
///
/// Bounded: past [`PENDING_ENTRIES`] (a second busier than any profiled run) the entries are
/// folded into a recorder of its own, which the replay merges and frees; a stalled ticker thus
/// costs histograms, not a list that grows with the stall.
#[derive(Debug, Default)]
pub struct Pending {
    entries: Vec<Entry>,
    overflow: Option<Box<Recorder>>,
}

impl Pending {
    fn push(&mut self, e: Entry) {
        if self.entries.len() >= PENDING_ENTRIES {
            let mut folded = self.overflow.take().unwrap_or_default();
            self.replay_entries(&mut folded);
            self.overflow = Some(folded);
        }
        self.entries.push(e);
    }

    /// A timed operation, as [`Recorder::latency`] takes it (always measured; corrected only).
    pub fn latency(&mut self, op: OpName, kind: OpMetric, intended: Instant, done: Instant) {
        if matches!(kind, OpMetric::Errors | OpMetric::Count) {
            return;
        }
        let corrected = duration_to_us(done.saturating_duration_since(intended));
        self.push(Entry::Latency { op, kind, corrected });
    }

    /// A customer latency, as [`Recorder::customer_latency`] takes it (always measured;
    /// corrected only).
    pub fn customer_latency(&mut self, metric: CustomerMetric, intended: Instant, done: Instant) {
        if metric == CustomerMetric::Abandoned {
            return;
        }
        let corrected = duration_to_us(done.saturating_duration_since(intended));
        self.push(Entry::Customer { metric, corrected });
    }

    pub fn op_ok(&mut self, op: OpName) {
        self.push(Entry::Ok(op));
    }

    pub fn op_error(&mut self, op: OpName, kind: Box<str>) {
        self.push(Entry::Error(op, kind));
    }

    pub fn count(&mut self, counter: Counter, n: u64) {
        self.push(Entry::Count(counter, n));
    }

    pub fn abandoned(&mut self) {
        self.push(Entry::Abandoned);
    }

    /// Nothing noted since the last replay.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty() && self.overflow.is_none()
    }

    /// Records every sample noted into `into` (as measured) and empties the buffer, keeping its
    /// allocation for the next interval.
    pub fn replay_into(&mut self, into: &mut Recorder) {
        self.replay_entries(into);
        if let Some(folded) = self.overflow.take() {
            into.merge(&folded);
        }
    }

    fn replay_entries(&mut self, into: &mut Recorder) {
        for e in self.entries.drain(..) {
            match e {
                Entry::Latency { op, kind, corrected } => {
                    into.latency_us(op, kind, corrected, corrected, true)
                }
                Entry::Customer { metric, corrected } => {
                    into.customer_latency_us(metric, corrected, corrected, true)
                }
                Entry::Ok(op) => into.op_ok(op, true),
                Entry::Error(op, kind) => into.op_error(op, &kind, true),
                Entry::Count(counter, n) => into.count(counter, n),
                Entry::Abandoned => into.abandoned(true),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_buffer_is_about_one_and_a_half_mib() {
        // What `PENDING_ENTRIES` promises: 64 Ki entries of at most 24 bytes.
        assert!(std::mem::size_of::<Entry>() <= 24, "{}", std::mem::size_of::<Entry>());
    }
}
