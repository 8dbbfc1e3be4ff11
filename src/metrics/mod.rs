//! Measurement: what a run records, with no rendering and no IO. The engine's tasks record into a
//! few shared [`Recorder`] shards (ARCHITECTURE.md "Recorder shards": a recorder per agent would
//! cost a megabyte each) with plain `&mut` calls under a short lock; at the end (or at intervals)
//! the shards are merged with [`Recorder::merge`].
//!
//! # What is recorded
//! - Per operation ([`OpName`]) and kind ([`OpMetric::Response`], [`OpMetric::Settle`]): a
//!   corrected latency (from the intended start, so a stalled server cannot hide its stall behind
//!   a late request: coordinated omission) and a raw one (from when the request left), in
//!   [`LatencyPair`] histograms.
//! - Per operation: successes and failures, failures by a short stable kind string.
//! - Per customer metric ([`CustomerMetric`]): corrected and raw latency like an operation's (a
//!   customer's open-paced messages have intended send times of their own); abandoned customers.
//! - Run counters ([`Counter`]): reconnects, missed starts, and the totals of errors and
//!   violations.
//! - Ordering violations: a count per kind and the first [`VIOLATIONS_KEPT`] in full.
//!
//! Beside the recorder, [`gauges`] holds the run's live counts (active chats, agents logged in
//! and busy, customers waiting) and what the measured window made of them.
//!
//! Samples taken during warmup (`measured == false`) are only counted, in the `warmup` half of a
//! [`Split`]: they never reach a histogram or a headline count.
//!
//! # Memory
//! Nothing keeps a list of samples. Histograms are allocated on first use and sized by the range
//! of values seen (clamped at one hour), never by how many; error kinds per operation are capped
//! at [`MAX_ERROR_KINDS`]; violations beyond the first [`VIOLATIONS_KEPT`] are only counted. A
//! fresh `Recorder` allocates nothing, so `std::mem::take` on a recorder after merging it
//! elsewhere frees its histograms.
//!
//! The cost is per histogram, not per sample, but it is not small: 3 significant digits need
//! 2048 sub-buckets per power of two, so one histogram takes 16 KiB at least, 64 KiB for
//! latencies up to 100 ms, 88 KiB up to 1 s, 184 KiB up to the 1 h clamp (tested in
//! `histogram`). A raw histogram exists only once raw and corrected have differed. An agent that
//! times ten operations, response and settle, holds about 1.3 MiB: fine for hundreds of agents,
//! not for 10,000 with a recorder each for the whole run. At that scale, record into one recorder
//! per worker thread or shard of agents, or merge agents' recorders into a shared one at
//! intervals and `take` them.

pub mod gauges;
mod histogram;
pub mod interval;
pub mod violations;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use foldhash::fast::FixedState as FastHash;

pub use histogram::{
    HIGHEST_US, LatencyHistogram, LatencyPair, LatencySummary, SIGNIFICANT_DIGITS, duration_to_us,
};

use crate::ordering::{Violation, ViolationKind};
use crate::vocab::{Counter, CustomerMetric, OpMetric, OpName};

/// How many violations a recorder keeps in full (the earliest by `at_ms`); the rest are counted.
pub const VIOLATIONS_KEPT: usize = 50;

/// Distinct error kinds kept per operation; further kinds are counted under [`OTHER_ERROR_KIND`],
/// so a server that puts ever-changing text in its errors cannot grow the map without bound.
pub const MAX_ERROR_KINDS: usize = 32;

/// The error kind that collects kinds beyond [`MAX_ERROR_KINDS`].
pub const OTHER_ERROR_KIND: &str = "other";

/// A count split into measured samples and warmup samples.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Split {
    pub measured: u64,
    pub warmup: u64,
}

impl Split {
    fn bump(&mut self, measured: bool, n: u64) {
        let slot = if measured { &mut self.measured } else { &mut self.warmup };
        *slot = slot.saturating_add(n);
    }

    fn add(&mut self, other: Split) {
        self.measured = self.measured.saturating_add(other.measured);
        self.warmup = self.warmup.saturating_add(other.warmup);
    }
}

/// A latency histogram pair and how many samples warmup kept out of it.
#[derive(Debug, Clone, Default)]
pub struct TimedMetric {
    pub latency: LatencyPair,
    pub warmup: u64,
}

impl TimedMetric {
    fn add(&mut self, other: &TimedMetric) {
        self.latency.add(&other.latency);
        self.warmup = self.warmup.saturating_add(other.warmup);
    }
}

/// Everything recorded about one operation.
#[derive(Debug, Clone, Default)]
pub struct OpStats {
    pub ok: Split,
    pub errors: Split,
    /// Failures by kind (`"timeout"`, `"http-403"`, `"status-2"`...), at most
    /// [`MAX_ERROR_KINDS`] keys plus [`OTHER_ERROR_KIND`].
    pub error_kinds: HashMap<Box<str>, Split>,
    /// `None` until the first sample, so unmeasured kinds cost nothing.
    pub response: Option<TimedMetric>,
    pub settle: Option<TimedMetric>,
}

impl OpStats {
    /// Operations with an outcome (succeeded or failed), measured.
    pub fn count(&self) -> u64 {
        self.ok.measured.saturating_add(self.errors.measured)
    }

    /// The latency of `kind` (`Response` or `Settle`); `None` for count kinds or no samples.
    pub fn timed(&self, kind: OpMetric) -> Option<&TimedMetric> {
        match kind {
            OpMetric::Response => self.response.as_ref(),
            OpMetric::Settle => self.settle.as_ref(),
            OpMetric::Errors | OpMetric::Count => None,
        }
    }

    fn error(&mut self, kind: &str, measured: bool) {
        self.errors.bump(measured, 1);
        // Look up by `&str` first: allocating the key only for a new kind keeps repeated errors
        // allocation-free.
        if let Some(split) = self.error_kinds.get_mut(kind) {
            split.bump(measured, 1);
            return;
        }
        let key = if self.error_kinds.len() < MAX_ERROR_KINDS { kind } else { OTHER_ERROR_KIND };
        self.error_kinds.entry(Box::from(key)).or_default().bump(measured, 1);
    }

    fn add(&mut self, other: &OpStats) {
        self.ok.add(other.ok);
        self.errors.add(other.errors);
        for (kind, split) in &other.error_kinds {
            // Re-apply the cap on merge: two recorders can each hold different kinds.
            let key = if self.error_kinds.contains_key(kind)
                || self.error_kinds.len() < MAX_ERROR_KINDS
            {
                kind.clone()
            } else {
                Box::from(OTHER_ERROR_KIND)
            };
            self.error_kinds.entry(key).or_default().add(*split);
        }
        add_timed(&mut self.response, other.response.as_ref());
        add_timed(&mut self.settle, other.settle.as_ref());
    }
}

/// A timed metric about to take its first sample, with the metric's own kept histogram, else a
/// spare one, else a new one.
fn first_sample(kept: Option<LatencyHistogram>, spare: &mut Vec<LatencyHistogram>) -> TimedMetric {
    let h = kept.or_else(|| spare.pop()).unwrap_or_default();
    TimedMetric { latency: LatencyPair::with_corrected(h), warmup: 0 }
}

/// One sample of a timed metric: counted only in warmup, recorded otherwise.
fn record_timed(
    slot: &mut Option<TimedMetric>,
    spare: &mut Vec<LatencyHistogram>,
    corrected: u64,
    raw: u64,
    measured: bool,
) {
    let timed = slot.get_or_insert_with(TimedMetric::default);
    if !measured {
        timed.warmup = timed.warmup.saturating_add(1);
        return;
    }
    timed.latency.record_us_using(corrected, raw, spare);
}

fn add_timed(mine: &mut Option<TimedMetric>, theirs: Option<&TimedMetric>) {
    if let Some(theirs) = theirs {
        mine.get_or_insert_with(TimedMetric::default).add(theirs);
    }
}

/// The measurements of one task, or of a whole run after merging.
#[derive(Debug, Clone, Default)]
pub struct Recorder {
    /// foldhash: looked up on every sample, and keyed by closed names (no hashing attack).
    ops: HashMap<OpName, OpStats, FastHash>,
    /// Indexed by [`customer_slot`]: `Wait`, `Send`, `ToAgent`, `ToCustomer`.
    customers: [Option<TimedMetric>; 4],
    abandoned: Split,
    /// Indexed by [`counter_slot`]; `Errors` and `Violations` hold only direct `count` calls (the
    /// totals add the per-operation errors and the per-kind violations).
    counters: [u64; Counter::ALL.len()],
    /// Indexed like [`ViolationKind::ALL`].
    violations: [u64; ViolationKind::ALL.len()],
    /// The earliest violations by `at_ms`, at most [`VIOLATIONS_KEPT`], sorted.
    first_violations: Vec<Violation>,
    /// Empty histograms whose bucket arrays are kept for reuse, filled by
    /// [`Recorder::recycle`]; never read, only drawn from when a metric gets its first sample
    /// and has no histogram of its own in `kept_ops` or `kept_customers`.
    spare: Vec<LatencyHistogram>,
    /// Each operation metric's corrected histogram, reset by [`Recorder::recycle`] and given back
    /// to the same metric: its bucket array then stays sized by that metric's own range, where
    /// shared spares would all grow to the widest metric's, and a reset zeroes the whole array.
    kept_ops: HashMap<(OpName, OpMetric), LatencyHistogram, FastHash>,
    /// As `kept_ops`, for the customer metrics (indexed by [`customer_slot`]).
    kept_customers: [Option<LatencyHistogram>; 4],
}

fn customer_slot(m: CustomerMetric) -> Option<usize> {
    match m {
        CustomerMetric::Wait => Some(0),
        CustomerMetric::Send => Some(1),
        CustomerMetric::ToAgent => Some(2),
        CustomerMetric::ToCustomer => Some(3),
        CustomerMetric::Abandoned => None,
    }
}

fn counter_slot(c: Counter) -> usize {
    match c {
        Counter::Violations => 0,
        Counter::Errors => 1,
        Counter::MissedStarts => 2,
        Counter::Reconnects => 3,
        Counter::FlowsCompleted => 4,
        Counter::ChatsCompleted => 5,
    }
}

fn violation_slot(k: ViolationKind) -> usize {
    match k {
        ViolationKind::Missing => 0,
        ViolationKind::OutOfOrder => 1,
        ViolationKind::Unexpected => 2,
        ViolationKind::Duplicate => 3,
        ViolationKind::IndexRegression => 4,
        ViolationKind::VisibilityLeak => 5,
        ViolationKind::NotDelivered => 6,
        ViolationKind::NotInvited => 7,
        ViolationKind::NotRevoked => 8,
        ViolationKind::NeverOffered => 9,
    }
}

/// Orders violations for "first N": by time, then by who and what, so merging is deterministic
/// whatever order the recorders are merged in.
fn violation_order(a: &Violation, b: &Violation) -> std::cmp::Ordering {
    (a.at_ms, &a.agent, &a.interaction, a.kind, &a.expected, &a.got).cmp(&(
        b.at_ms,
        &b.agent,
        &b.interaction,
        b.kind,
        &b.expected,
        &b.got,
    ))
}

impl Recorder {
    /// An empty recorder; allocates nothing until something is recorded.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records one timed operation. `intended` is when the operation should have started (its
    /// schedule), `sent` when the request actually left, `done` the response or settle moment.
    /// Corrected latency is `done - intended`, raw `done - sent` (both saturate at zero if the
    /// instants are out of order). `measured == false` (warmup) only counts the sample.
    ///
    /// `kind` must be `Response` or `Settle`; the count kinds have no latency and are ignored.
    pub fn latency(
        &mut self,
        op: OpName,
        kind: OpMetric,
        intended: Instant,
        sent: Instant,
        done: Instant,
        measured: bool,
    ) {
        let corrected = duration_to_us(done.saturating_duration_since(intended));
        let raw = duration_to_us(done.saturating_duration_since(sent));
        self.latency_us(op, kind, corrected, raw, measured);
    }

    /// [`Recorder::latency`] of a sample whose corrected and raw latencies are already known, in
    /// microseconds (what an interval replays, see [`interval::Pending`]).
    pub fn latency_us(
        &mut self,
        op: OpName,
        kind: OpMetric,
        corrected: u64,
        raw: u64,
        measured: bool,
    ) {
        let Recorder { ops, spare, kept_ops, .. } = self;
        let stats = ops.entry(op).or_default();
        let slot = match kind {
            OpMetric::Response => &mut stats.response,
            OpMetric::Settle => &mut stats.settle,
            OpMetric::Errors | OpMetric::Count => return,
        };
        if slot.is_none() {
            *slot = Some(first_sample(kept_ops.remove(&(op, kind)), spare));
        }
        record_timed(slot, spare, corrected, raw, measured);
    }

    /// Records one customer latency (`Wait`, `Send`, `ToAgent` or `ToCustomer`) as
    /// [`Recorder::latency`] records an operation's: corrected from `intended`, raw from `sent`.
    /// `Abandoned` is a count, recorded with [`Recorder::abandoned`], and is ignored here.
    pub fn customer_latency(
        &mut self,
        metric: CustomerMetric,
        intended: Instant,
        sent: Instant,
        done: Instant,
        measured: bool,
    ) {
        let corrected = duration_to_us(done.saturating_duration_since(intended));
        let raw = duration_to_us(done.saturating_duration_since(sent));
        self.customer_latency_us(metric, corrected, raw, measured);
    }

    /// [`Recorder::customer_latency`] with the latencies already in microseconds.
    pub fn customer_latency_us(
        &mut self,
        metric: CustomerMetric,
        corrected: u64,
        raw: u64,
        measured: bool,
    ) {
        let Some(i) = customer_slot(metric) else { return };
        let slot = &mut self.customers[i];
        if slot.is_none() {
            *slot = Some(first_sample(self.kept_customers[i].take(), &mut self.spare));
        }
        record_timed(slot, &mut self.spare, corrected, raw, measured);
    }

    /// [`Recorder::customer_latency`] of a sample nothing held back before it left: its corrected
    /// and raw latency are both `latency` (what tests and synthetic recorders feed).
    pub fn customer_sample(&mut self, metric: CustomerMetric, latency: Duration, measured: bool) {
        let t = Instant::now();
        self.customer_latency(metric, t, t, t + latency, measured);
    }

    /// One operation succeeded.
    pub fn op_ok(&mut self, op: OpName, measured: bool) {
        self.ops.entry(op).or_default().ok.bump(measured, 1);
    }

    /// One operation failed; `kind` is a short stable name (`"timeout"`, `"status-2"`,
    /// `"http-403"`, `"await-timeout:consultant-joined"`...).
    pub fn op_error(&mut self, op: OpName, kind: &str, measured: bool) {
        self.ops.entry(op).or_default().error(kind, measured);
    }

    /// Adds `n` to a run counter. `Errors` and `Violations` are normally derived from
    /// [`Recorder::op_error`] and [`Recorder::violation`]; counting them here adds to those
    /// totals (for failures that belong to no operation).
    pub fn count(&mut self, counter: Counter, n: u64) {
        let c = &mut self.counters[counter_slot(counter)];
        *c = c.saturating_add(n);
    }

    /// A customer gave up waiting for an agent.
    pub fn abandoned(&mut self, measured: bool) {
        self.abandoned.bump(measured, 1);
    }

    /// Counts a violation by kind, and keeps it in full if it is among the earliest
    /// [`VIOLATIONS_KEPT`].
    pub fn violation(&mut self, v: Violation) {
        let c = &mut self.violations[violation_slot(v.kind)];
        *c = c.saturating_add(1);
        self.keep_violation(v);
    }

    fn keep_violation(&mut self, v: Violation) {
        let list = &mut self.first_violations;
        // A task finds its violations in time order, so this is nearly always a push.
        let at = list.partition_point(|k| violation_order(k, &v).is_le());
        if at >= VIOLATIONS_KEPT {
            return;
        }
        list.insert(at, v);
        list.truncate(VIOLATIONS_KEPT);
    }

    /// Adds everything `other` recorded: histograms with hdrhistogram addition (exact), counts
    /// summed, and the earliest violations of both kept.
    pub fn merge(&mut self, other: &Recorder) {
        for (op, stats) in &other.ops {
            self.ops.entry(*op).or_default().add(stats);
        }
        for (mine, theirs) in self.customers.iter_mut().zip(&other.customers) {
            add_timed(mine, theirs.as_ref());
        }
        self.abandoned.add(other.abandoned);
        for (mine, theirs) in self.counters.iter_mut().zip(other.counters) {
            *mine = mine.saturating_add(theirs);
        }
        for (mine, theirs) in self.violations.iter_mut().zip(other.violations) {
            *mine = mine.saturating_add(theirs);
        }
        for v in &other.first_violations {
            if self.first_violations.len() >= VIOLATIONS_KEPT
                && self.first_violations.last().is_some_and(|last| violation_order(v, last).is_ge())
            {
                // `other`'s list is sorted: nothing after this one can get in either.
                break;
            }
            self.keep_violation(v.clone());
        }
    }

    /// Empties the recorder: afterwards it reads exactly as [`Recorder::new`] does, but it keeps
    /// its histograms' bucket arrays (reset) for the metrics recorded next.
    ///
    /// Why: the engine takes a recorder's interval every second. A fresh recorder allocates a
    /// histogram per metric and grows each bucket array (realloc, copy, zeroing) as latencies
    /// come in; in a profiled run (callgrind) that allocation and growth was the largest single
    /// cost of the client. A recycled recorder resets arrays it already has.
    pub fn recycle(&mut self) {
        let old = std::mem::take(self);
        let (mut spare, mut kept_ops, mut kept_customers) =
            (old.spare, old.kept_ops, old.kept_customers);
        for (op, stats) in old.ops {
            for (kind, timed) in
                [(OpMetric::Response, stats.response), (OpMetric::Settle, stats.settle)]
            {
                if let Some(t) = timed {
                    let (corrected, raw) = t.latency.into_reset();
                    kept_ops.insert((op, kind), corrected);
                    spare.extend(raw);
                }
            }
        }
        for (kept, timed) in kept_customers.iter_mut().zip(old.customers) {
            if let Some(t) = timed {
                let (corrected, raw) = t.latency.into_reset();
                *kept = Some(corrected);
                spare.extend(raw);
            }
        }
        // Raw histograms and new metrics take spares by `pop`, in no relation to the one each
        // array came from: largest last, so one gets the biggest array left and rarely grows it
        // (a growth is a realloc and the zeroing of the new part).
        spare.sort_unstable_by_key(LatencyHistogram::footprint_bytes);
        (self.spare, self.kept_ops, self.kept_customers) = (spare, kept_ops, kept_customers);
    }

    // ----- reading -----

    /// Every operation with anything recorded, in no particular order.
    pub fn ops(&self) -> impl Iterator<Item = (OpName, &OpStats)> {
        self.ops.iter().map(|(op, s)| (*op, s))
    }

    pub fn op(&self, op: OpName) -> Option<&OpStats> {
        self.ops.get(&op)
    }

    /// A customer latency metric; `None` for `Abandoned` or when nothing was recorded.
    pub fn customer(&self, metric: CustomerMetric) -> Option<&TimedMetric> {
        customer_slot(metric).and_then(|i| self.customers[i].as_ref())
    }

    pub fn abandoned_count(&self) -> Split {
        self.abandoned
    }

    /// A run counter. `Errors` is every measured operation failure plus direct counts;
    /// `Violations` every violation plus direct counts.
    pub fn counter(&self, counter: Counter) -> u64 {
        let direct = self.counters[counter_slot(counter)];
        match counter {
            Counter::Errors => {
                self.ops.values().fold(direct, |n, s| n.saturating_add(s.errors.measured))
            }
            Counter::Violations => self.violations.iter().fold(direct, |n, v| n.saturating_add(*v)),
            Counter::MissedStarts
            | Counter::Reconnects
            | Counter::FlowsCompleted
            | Counter::ChatsCompleted => direct,
        }
    }

    /// Measured operations with an outcome, over all operations.
    pub fn total_operations(&self) -> u64 {
        self.ops.values().fold(0, |n, s| n.saturating_add(s.count()))
    }

    pub fn violations_of(&self, kind: ViolationKind) -> u64 {
        self.violations[violation_slot(kind)]
    }

    /// The earliest violations by `at_ms` (at most [`VIOLATIONS_KEPT`]).
    pub fn first_violations(&self) -> &[Violation] {
        &self.first_violations
    }

    /// Bytes held by histogram bucket arrays: the part of a recorder that grows with the range of
    /// latencies (never with their number).
    pub fn histogram_bytes(&self) -> usize {
        self.ops
            .values()
            .flat_map(|s| [&s.response, &s.settle])
            .chain(&self.customers)
            .flatten()
            .map(|t| t.latency.footprint_bytes())
            .sum()
    }
}

#[cfg(test)]
mod tests;
