//! Threshold verdicts: each scenario threshold evaluated against the merged measurements, and the
//! list of failed checks that decides the run's exit code.
//!
//! Latency statistics are taken from the corrected histograms (the headline numbers). A latency
//! or rate statistic with no data fails as `no-data`; a count with no data is 0, so `max` of it
//! passes and `min` of it fails.

use hdrhistogram::Histogram;

use super::faults::FaultsReport;
use super::{Report, ThresholdOutcome, ThresholdVerdict, Unit, human_us, stat_of};
use crate::faults::FaultKind;
use crate::metrics::{LatencyHistogram, Recorder};
use crate::scenario::units::format_duration;
use crate::scenario::{Limit, Threshold};
use crate::vocab::{Counter, CustomerMetric, FaultRatio, Metric, OpMetric, Stat, ViolationKind};

/// The histogram a latency metric's statistics come from; `None` when nothing was recorded.
fn latency_of(metric: Metric, m: &Recorder) -> Option<&LatencyHistogram> {
    match metric {
        Metric::Op(op, kind) => m.op(op)?.timed(kind).map(|t| t.latency.corrected()),
        Metric::Customer(c) => m.customer(c).map(|t| t.latency.corrected()),
        Metric::Counter(_) | Metric::Violations(_) | Metric::Faults(..) => None,
    }
}

/// A fault measure of the run's join (`None`: the run had no faults, or nothing to measure).
fn fault_ratio(metric: Metric, faults: Option<&FaultsReport>) -> Option<f64> {
    let Metric::Faults(kind, ratio) = metric else { return None };
    let f = faults?;
    match kind {
        None => match ratio {
            FaultRatio::Recall => f.recall,
            FaultRatio::Precision => f.precision,
        },
        Some(k) => {
            let k = f.kind(FaultKind::parse(k.as_str())?)?;
            match ratio {
                FaultRatio::Recall => k.recall,
                FaultRatio::Precision => k.precision,
            }
        }
    }
}

/// A count metric's value (0 when nothing was recorded); `None` for latency metrics.
fn count_of(metric: Metric, m: &Recorder) -> Option<u64> {
    Some(match metric {
        Metric::Op(op, OpMetric::Errors) => m.op(op).map_or(0, |s| s.errors.measured),
        Metric::Op(op, OpMetric::Count) => m.op(op).map_or(0, |s| s.count()),
        Metric::Op(_, OpMetric::Response | OpMetric::Settle) => return None,
        Metric::Customer(CustomerMetric::Abandoned) => m.abandoned_count().measured,
        Metric::Customer(_) => return None,
        Metric::Counter(c) => m.counter(c),
        Metric::Violations(k) => m.violations_of(k),
        Metric::Faults(..) => return None,
    })
}

/// Failed operations as a share of operations; `None` when there were no operations.
fn error_rate(metric: Metric, m: &Recorder) -> Option<f64> {
    let (errors, total) = match metric {
        Metric::Op(op, OpMetric::Errors) => {
            let s = m.op(op)?;
            (s.errors.measured, s.count())
        }
        Metric::Counter(Counter::Errors) => (m.counter(Counter::Errors), m.total_operations()),
        _ => return None,
    };
    (total > 0).then(|| errors as f64 / total as f64)
}

fn latency_stat(h: &Histogram<u64>, stat: Stat) -> Option<f64> {
    if h.is_empty() { None } else { stat_of(h, stat) }
}

/// What a threshold is judged on: a run's merged recorder, or the sum of shards (`merge`).
pub(super) trait Measured {
    /// A latency metric's corrected histogram; `None` when nothing was recorded.
    fn measured_latency(&self, metric: Metric) -> Option<&Histogram<u64>>;
    /// A count metric's value (0 when nothing was recorded); `None` for latency metrics.
    fn measured_count(&self, metric: Metric) -> Option<u64>;
    /// Failed operations as a share of operations; `None` when there were no operations.
    fn measured_error_rate(&self, metric: Metric) -> Option<f64>;
}

impl Measured for Recorder {
    fn measured_latency(&self, metric: Metric) -> Option<&Histogram<u64>> {
        latency_of(metric, self).map(LatencyHistogram::inner)
    }
    fn measured_count(&self, metric: Metric) -> Option<u64> {
        count_of(metric, self)
    }
    fn measured_error_rate(&self, metric: Metric) -> Option<f64> {
        error_rate(metric, self)
    }
}

/// The verdict on `t`: latencies and counts from `m`, fault measures from `faults` (the run's
/// ledger join, if it had faults).
pub(super) fn evaluate(
    t: &Threshold,
    m: &impl Measured,
    faults: Option<&FaultsReport>,
) -> ThresholdVerdict {
    let verdict = |unit, limit_value, observed: Option<f64>, outcome| ThresholdVerdict {
        metric: t.metric,
        stat: t.stat,
        limit: t.limit,
        limit_value,
        observed,
        unit,
        outcome,
        passed: outcome == ThresholdOutcome::Pass,
    };
    let judge = |ok: bool| if ok { ThresholdOutcome::Pass } else { ThresholdOutcome::Fail };
    let latency_stats = t.stat.is_distribution();
    match t.limit {
        Limit::Latency(d) if t.metric.is_latency() && latency_stats => {
            let limit = crate::metrics::duration_to_us(d) as f64;
            match m.measured_latency(t.metric).and_then(|h| latency_stat(h, t.stat)) {
                Some(v) => verdict(Unit::Us, limit, Some(v), judge(v <= limit)),
                None => verdict(Unit::Us, limit, None, ThresholdOutcome::NoData),
            }
        }
        // Recall or precision: nothing measured (no faults, or none of that kind) cannot hold.
        Limit::Fraction(f) if t.stat == Stat::Min && t.metric.is_fault_ratio() => {
            match fault_ratio(t.metric, faults) {
                Some(v) => verdict(Unit::Fraction, f, Some(v), judge(v >= f)),
                None => verdict(Unit::Fraction, f, None, ThresholdOutcome::NoData),
            }
        }
        Limit::Count(n) if matches!(t.stat, Stat::Max | Stat::Min) => {
            let limit = n as f64;
            match m.measured_count(t.metric) {
                Some(v) => {
                    let ok = if t.stat == Stat::Max { v <= n } else { v >= n };
                    verdict(Unit::Count, limit, Some(v as f64), judge(ok))
                }
                None => verdict(Unit::Count, limit, None, ThresholdOutcome::Inapplicable),
            }
        }
        Limit::Fraction(f) if t.stat == Stat::Rate && t.metric.is_error_count() => {
            match m.measured_error_rate(t.metric) {
                Some(v) => verdict(Unit::Fraction, f, Some(v), judge(v <= f)),
                None => verdict(Unit::Fraction, f, None, ThresholdOutcome::NoData),
            }
        }
        other => {
            let (unit, value) = match other {
                Limit::Latency(d) => (Unit::Us, crate::metrics::duration_to_us(d) as f64),
                Limit::Count(n) => (Unit::Count, n as f64),
                Limit::Fraction(f) => (Unit::Fraction, f),
            };
            verdict(unit, value, None, ThresholdOutcome::Inapplicable)
        }
    }
}

/// A value in a verdict's unit, for sentences.
pub(super) fn show(unit: Unit, v: f64) -> String {
    match unit {
        Unit::Us => human_us(v),
        Unit::Count => format!("{v:.0}"),
        Unit::Fraction => format!("{v:.4}"),
    }
}

/// A verdict's limit as the scenario wrote it (`250ms`, not `250.0ms`).
pub(super) fn limit_text(v: &ThresholdVerdict) -> String {
    match v.limit {
        Limit::Latency(d) => format_duration(d),
        Limit::Count(n) => n.to_string(),
        Limit::Fraction(f) => f.to_string(),
    }
}

/// How a verdict's stat compares with its limit, for sentences: `<=` or `>=`.
pub(super) fn relation(v: &ThresholdVerdict) -> &'static str {
    if v.stat == Stat::Min { ">=" } else { "<=" }
}

/// One sentence per failed check: failed thresholds, then ordering violations no threshold
/// allows, then agents that served nothing ([`super::served`]). Empty when the run's checks held.
pub(super) fn failures<S>(report: &Report<S>) -> Vec<String> {
    let mut out = Vec::new();
    for v in report.thresholds.iter().filter(|v| !v.passed) {
        let want = format!("{} {} {} {}", v.metric, v.stat, relation(v), limit_text(v));
        out.push(match (v.outcome, v.observed) {
            (ThresholdOutcome::NoData, _) => format!("threshold {want}: no data"),
            (ThresholdOutcome::Inapplicable, _) => {
                format!("threshold {want}: the limit does not apply to this metric")
            }
            (_, Some(o)) => format!("threshold {want} failed: observed {}", show(v.unit, o)),
            (_, None) => format!("threshold {want} failed"),
        });
    }

    out.extend(ungoverned_violations(report));
    out.extend(super::served::served_nothing(report));
    out
}

/// Whether a `violations` threshold speaks for every kind of violation (then no separate check
/// of violations applies).
pub(super) fn violations_all_governed<S>(report: &Report<S>) -> bool {
    report.thresholds.iter().any(|v| v.metric == Metric::Counter(Counter::Violations))
}

/// The sentence about ordering violations no threshold allows, or `None` when there are none.
pub(super) fn ungoverned_violations<S>(report: &Report<S>) -> Option<String> {
    // Which violation kinds the scenario's thresholds speak for; the rest must not occur.
    if violations_all_governed(report) {
        return None;
    }
    let governed = |kind: ViolationKind| {
        report.thresholds.iter().any(|v| v.metric == Metric::Violations(kind))
    };
    let mut ungoverned: Vec<String> = report
        .violations
        .by_name()
        .into_iter()
        .filter(|(kind, n)| *n > 0 && !governed(*kind))
        .map(|(kind, n)| format!("{kind} {n}"))
        .collect();
    let classified: u64 = report.violations.by_kind.values().sum();
    let unclassified = report.violations.total.saturating_sub(classified);
    if unclassified > 0 {
        ungoverned.push(format!("unclassified {unclassified}"));
    }
    (!ungoverned.is_empty()).then(|| {
        format!(
            "ordering violations occurred ({}) and no `violations` threshold allows them",
            ungoverned.join(", ")
        )
    })
}
