//! `gwsim compare`: a current run against a baseline, metric by metric, as a gate a CI build can
//! trust: an unchanged build passes, a real slowdown fails.
//!
//! # Latencies
//! For every latency metric present in either run (`<Op>.response`, `<Op>.settle`,
//! `customer.<name>`; corrected values) and every statistic (p50 p90 p99 p99.9 max mean), the
//! delta is judged:
//! - `ok`: smaller than the statistic's minimum effect, `|delta| <= max(relative × baseline,
//!   absolute)` (both must be exceeded; defaults in [`Tolerances`]);
//! - `regression` / `improved`: beyond the minimum effect *and* outside the noise band (the two
//!   runs' 99% confidence intervals do not overlap);
//! - `within noise`: beyond the minimum effect, but the intervals overlap, so the samples cannot
//!   tell the difference from chance;
//! - `informational`: `max` always, and a percentile or mean that either run has too few samples
//!   to resolve (`noise::resolvable`: a p99 needs n ≥ 846, a p90 n ≥ 79). Shown with its
//!   delta, never a regression, unless `--strict-tails` or `--tolerance` naming the statistic
//!   asks for it to be judged. This is what makes an unchanged build pass: a maximum is one
//!   sample, and the tail of 40 samples is two or three of them, so identical runs differ there
//!   by 30-130% as a matter of course. So is a metric measured in one burst (login and logout:
//!   38 logins at once are one moment of the machine, and identical runs differ there threefold)
//!   when both runs have interval logs to show it.
//!
//! The noise band of a percentile `q` over `n` samples comes from order statistics: its rank
//! `n·q` is binomial, so with 99% confidence the true quantile lies between the values at ranks
//! `n·q ± z·sqrt(n·q·(1-q))` (plus one rank for discreteness); a band that reaches past the
//! largest sample has no upper bound (twenty samples cannot bound a p99 from above). `max` is an
//! observation; its band is the values the rank noise (`q = 1 - 1/n`) reaches below it. A mean's
//! band is `± z·sd/sqrt(n)`. Each band is then widened to the batch band when the run has its
//! `latency.hlog` (`noise::batch_half_width`: how much the statistic moves between up to ten
//! consecutive stretches of the run, `t·sd/sqrt(k)`), because samples of a busy machine are not
//! independent: a second of contention slows them all. Ranks are mapped back to values with
//! the full histograms when both runs have them for the metric ([`Method::Histogram`]:
//! `totals.hlog`, the exact samples of `summary.json`, or else `latency.hlog`); otherwise from
//! `summary.json`'s percentiles, linearly interpolated between p50, p90, p99, p99.9 and max (and
//! 0 below p50), which widens the band, never narrows it ([`Method::Summary`]).
//!
//! # Counts
//! Error rates (run-wide, and per operation where either run had errors) are failures per
//! operation, a proportion in each run. A rise is a regression when it is larger than the
//! minimum (0.1 percentage point by default) and significant by Fisher's exact test, one-sided
//! at the 99% level (`p < 0.01`): 0 → 12 errors in 700 operations is (p ≈ 0.0002), 0 → 1 is not
//! (p = 0.5). Ordering violations: any violation where the baseline had none is a regression
//! (correct ordering is not a statistic); where it had some, a rate per operation that is higher
//! by the conditional binomial test for two Poisson rates at the 99% level is.
//!
//! Everything here is pure: it takes reports and histograms and returns a [`Comparison`].

mod noise;
mod proportions;
mod render;
#[cfg(test)]
mod tests;
mod tolerance;

use hdrhistogram::Histogram;
use serde::Serialize;

use self::noise::{Dist, batch_half_width, resolvable, widen};
use self::proportions::{fisher_greater, poisson, poisson_greater, wilson};
pub use self::render::render_comparison;
pub use self::tolerance::{ToleranceError, Tolerances};
use super::readback::{Histograms, Intervals};
use super::{Percentiles, StoredReport, TimedReport};
use crate::vocab::{CustomerMetric, Metric, Stat};

/// What a row concluded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    Ok,
    Improved,
    Regression,
    /// Beyond tolerance but inside the noise band: the samples cannot tell.
    WithinNoise,
    /// Shown, not judged: `max`, or a statistic too few samples resolve ([`Tail`]).
    Informational,
    /// The metric has data in the baseline only.
    OnlyInBaseline,
    /// The metric has data in the current run only.
    OnlyInCurrent,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Ok => "ok",
            Verdict::Improved => "improved",
            Verdict::Regression => "REGRESSION",
            Verdict::WithinNoise => "within noise",
            Verdict::Informational => "info",
            Verdict::OnlyInBaseline => "only in baseline",
            Verdict::OnlyInCurrent => "only in current",
        }
    }
}

/// Why a row only informs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Tail {
    /// The maximum: one sample.
    Max,
    /// A percentile or mean that one of the runs has too few samples to resolve.
    Thin,
    /// A metric measured in one burst (the login or logout phase: in neither run's
    /// `latency.hlog` over two seconds or more). Its samples are one moment of the machine, all
    /// slow or all fast together, so its n says nothing about its noise.
    Burst,
}

/// The significance level of the count tests: one-sided, 99%.
const ALPHA: f64 = 0.01;

/// Where a row's values and noise band came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Method {
    /// The full histograms of both runs' `latency.hlog`.
    Histogram,
    /// `summary.json`'s percentiles and counts (interpolated; a wider band).
    Summary,
    /// Counts from `summary.json`, judged by an exact test (Fisher's for error rates, the
    /// conditional binomial for violation rates).
    Counts,
}

/// A value with its 99% confidence interval, in the row's unit.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Estimate {
    pub value: f64,
    pub low: f64,
    /// `None`: unbounded (too few samples above a high percentile to bound it).
    pub high: Option<f64>,
    /// Samples (latencies) or operations (rates) behind it.
    pub n: u64,
}

/// One compared statistic.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Row {
    /// `Consult.settle`, `errors`, `violations.missing`, ...
    pub metric: String,
    /// `p99`, `mean`, ... for latencies (µs); `rate` (failures per operation) for error rates;
    /// `count` for violations.
    pub stat: String,
    pub baseline: Option<Estimate>,
    pub current: Option<Estimate>,
    /// `current - baseline`, when both exist.
    pub delta: Option<f64>,
    /// The delta as a share of the baseline (0.5 = +50%); `None` without both or with a zero
    /// baseline.
    pub delta_ratio: Option<f64>,
    /// How large a delta may be before it counts (same unit).
    pub tolerance: f64,
    pub verdict: Verdict,
    pub method: Method,
    /// Why the row only informs; `None` when it gates.
    pub informational: Option<Tail>,
    /// Count rows: the one-sided p-value in the direction the rate moved (`None` where no test
    /// was needed).
    pub p_value: Option<f64>,
}

/// The whole comparison.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Comparison {
    pub baseline: RunLabel,
    pub current: RunLabel,
    pub tolerances: Tolerances,
    /// Latency rows, metric by metric, then count rows.
    pub rows: Vec<Row>,
    /// Things that make the comparison less meaningful (other scenario, missed starts, ...).
    pub notes: Vec<String>,
    pub regressions: usize,
    /// Rows shown but not judged (`max`, thin percentiles).
    pub informational: usize,
}

impl Comparison {
    /// 0 no regression, 1 at least one (design.md exit codes).
    pub fn exit_code(&self) -> u8 {
        u8::from(self.regressions > 0)
    }
}

/// Which run a side is.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunLabel {
    pub path: String,
    pub scenario: String,
    pub started: String,
    pub seed: u64,
    /// Whether its histograms (`totals.hlog` or `latency.hlog`) were available.
    pub histograms: bool,
}

/// One side of the comparison.
#[derive(Debug, Clone, Copy)]
pub struct Run<'a> {
    /// How to name it (a path).
    pub label: &'a str,
    pub report: &'a StoredReport,
    /// Its histograms by metric: `totals.hlog` when the run wrote one (the same samples as
    /// `summary.json`), else `latency.hlog` (warmup included, no login phase).
    pub histograms: Option<&'a Histograms>,
    /// `latency.hlog` interval by interval (one a second), for the batch band.
    pub intervals: Option<&'a Intervals>,
}

/// Every latency metric of a report with its corrected percentiles, by name.
fn latency_metrics(r: &StoredReport) -> Vec<(String, Option<&Percentiles>)> {
    let mut out = Vec::new();
    fn corrected(t: &Option<TimedReport>) -> Option<&Percentiles> {
        t.as_ref().and_then(|t| t.corrected.as_ref())
    }
    for op in &r.operations {
        for (kind, t) in [("response", &op.response), ("settle", &op.settle)] {
            if t.is_some() {
                out.push((format!("{}.{kind}", op.name), corrected(t)));
            }
        }
    }
    for m in CustomerMetric::TIMED {
        if let Some(t) = r.customers.timed(m) {
            out.push((Metric::Customer(m).to_string(), t.corrected.as_ref()));
        }
    }
    out
}

/// The judgement of a delta that is beyond tolerance: regression, improvement or noise.
fn judge(base: &Estimate, cur: &Estimate, allowed: f64) -> Verdict {
    let delta = cur.value - base.value;
    if delta.abs() <= allowed {
        Verdict::Ok
    } else if delta > 0.0 {
        if base.high.is_some_and(|h| cur.low > h) {
            Verdict::Regression
        } else {
            Verdict::WithinNoise
        }
    } else if cur.high.is_some_and(|h| h < base.low) {
        Verdict::Improved
    } else {
        Verdict::WithinNoise
    }
}

/// The judgement of a rate's change `delta`: a regression (improvement) when it rises (falls)
/// by more than `minimum` and the one-sided test of that direction says `p < ALPHA`. `tests`
/// gives the p-values of a rise and of a fall; it runs only when the change is large enough to
/// matter. Returns the verdict and the p-value of the direction the rate moved.
fn judge_rate(
    delta: f64,
    minimum: f64,
    tests: impl FnOnce() -> (f64, f64),
) -> (Verdict, Option<f64>) {
    if delta == 0.0 {
        return (Verdict::Ok, None);
    }
    let (rise, fall) = tests();
    let p = if delta > 0.0 { rise } else { fall };
    let verdict = if delta.abs() <= minimum {
        Verdict::Ok
    } else if p >= ALPHA {
        Verdict::WithinNoise
    } else if delta > 0.0 {
        Verdict::Regression
    } else {
        Verdict::Improved
    };
    (verdict, Some(p))
}

fn row(
    metric: &str,
    stat: String,
    base: Option<Estimate>,
    cur: Option<Estimate>,
    tolerance: f64,
    verdict: Verdict,
    method: Method,
) -> Row {
    let delta = match (&base, &cur) {
        (Some(b), Some(c)) => Some(c.value - b.value),
        _ => None,
    };
    let delta_ratio = match (&base, delta) {
        (Some(b), Some(d)) if b.value != 0.0 => Some(d / b.value),
        _ => None,
    };
    Row {
        metric: metric.to_owned(),
        stat,
        baseline: base,
        current: cur,
        delta,
        delta_ratio,
        tolerance,
        verdict,
        method,
        informational: None,
        p_value: None,
    }
}

fn latency_rows(baseline: &Run<'_>, current: &Run<'_>, tol: &Tolerances, out: &mut Vec<Row>) {
    let base = latency_metrics(baseline.report);
    let cur = latency_metrics(current.report);
    let mut names: Vec<&str> = base.iter().map(|(n, _)| n.as_str()).collect();
    for (n, _) in &cur {
        if !names.contains(&n.as_str()) {
            names.push(n);
        }
    }
    fn find<'a>(list: &[(String, Option<&'a Percentiles>)], name: &str) -> Option<&'a Percentiles> {
        list.iter().find(|(n, _)| n == name).and_then(|(_, p)| *p)
    }
    fn hist<'a>(run: &Run<'a>, name: &str) -> Option<&'a Histogram<u64>> {
        run.histograms.and_then(|h| h.get(name))
    }
    for name in names {
        let (bp, cp) = (find(&base, name), find(&cur, name));
        let (bh, ch) = (hist(baseline, name), hist(current, name));
        // Histograms only when both runs have one for this metric: the two sides of a row
        // must be estimated the same way.
        let (bd, cd, method) = match (bh, ch) {
            (Some(b), Some(c)) if !b.is_empty() && !c.is_empty() => {
                (Some(Dist::Histogram(b)), Some(Dist::Histogram(c)), Method::Histogram)
            }
            _ => (bp.map(Dist::Summary), cp.map(Dist::Summary), Method::Summary),
        };
        let batches = |run: &Run<'_>, stat: Stat| {
            run.intervals.and_then(|i| i.get(name)).and_then(|i| batch_half_width(i, stat))
        };
        for stat in Stat::DISTRIBUTION {
            // Each side's band is the wider of the order-statistic one and the batch one.
            let side = |d: &Dist<'_>, run: &Run<'_>| {
                let e = d.estimate(stat);
                batches(run, stat).map_or(e, |half| widen(e, half))
            };
            let b = bd.as_ref().map(|d| side(d, baseline));
            let c = cd.as_ref().map(|d| side(d, current));
            let allowed = b.map_or(0.0, |b| tol.allowed(stat, b.value));
            // A tail informs unless asked for: the fewer samples of the two runs decide. With
            // interval logs on both sides, a metric without two seconds of them in each was
            // measured in one burst.
            let burst = |run: &Run<'_>| run.intervals.is_some() && batches(run, stat).is_none();
            let tail = match (&b, &c) {
                _ if tol.judges_tail(stat) => None,
                _ if stat == Stat::Max => Some(Tail::Max),
                (Some(b), Some(c)) if !resolvable(stat, b.n.min(c.n)) => Some(Tail::Thin),
                (Some(_), Some(_))
                    if baseline.intervals.is_some()
                        && current.intervals.is_some()
                        && (burst(baseline) || burst(current)) =>
                {
                    Some(Tail::Burst)
                }
                _ => None,
            };
            let verdict = match (&b, &c) {
                (Some(_), Some(_)) if tail.is_some() => Verdict::Informational,
                (Some(b), Some(c)) if tol.judges_tail(stat) => {
                    // Asked to judge a tail: a band with no upper bound is bounded by the run's
                    // maximum, so a current run whose whole band lies above the baseline's
                    // largest sample is a regression, however thin.
                    let bounded = |e: &Estimate, d: Option<&Dist<'_>>| Estimate {
                        high: e.high.or_else(|| d.map(|d| d.estimate(Stat::Max).value)),
                        ..*e
                    };
                    judge(&bounded(b, bd.as_ref()), &bounded(c, cd.as_ref()), allowed)
                }
                (Some(b), Some(c)) => judge(b, c, allowed),
                (Some(_), None) => Verdict::OnlyInBaseline,
                (None, Some(_)) => Verdict::OnlyInCurrent,
                // Recorded in neither (an operation that only failed): nothing to compare.
                (None, None) => continue,
            };
            let mut r = row(name, stat.as_str().to_owned(), b, c, allowed, verdict, method);
            r.informational = tail;
            out.push(r);
        }
    }
}

fn count_rows(baseline: &Run<'_>, current: &Run<'_>, tol: &Tolerances, out: &mut Vec<Row>) {
    let (b, c) = (baseline.report, current.report);
    // Error rates: run-wide, then each operation either run saw fail.
    let mut rates = vec![(
        "errors".to_owned(),
        (b.counts.errors, b.counts.operations),
        (c.counts.errors, c.counts.operations),
    )];
    let op = |r: &StoredReport, name: &str| {
        r.operations
            .iter()
            .find(|o| o.name.as_str() == name)
            .map_or((0, 0), |o| (o.errors, o.count))
    };
    let mut names: Vec<&str> = b.operations.iter().map(|o| o.name.as_str()).collect();
    for o in &c.operations {
        if !names.contains(&o.name.as_str()) {
            names.push(o.name.as_str());
        }
    }
    for name in names {
        let (be, ce) = (op(b, name), op(c, name));
        if be.0 > 0 || ce.0 > 0 {
            rates.push((format!("{name}.errors"), be, ce));
        }
    }
    for (metric, (be, bn), (ce, cn)) in rates {
        let (bx, cx) = (wilson(be, bn), wilson(ce, cn));
        let (verdict, p) = if bn == 0 && cn == 0 {
            continue;
        } else if bn == 0 {
            (Verdict::OnlyInCurrent, None)
        } else if cn == 0 {
            (Verdict::OnlyInBaseline, None)
        } else {
            judge_rate(cx.value - bx.value, tol.error_rate, || {
                (fisher_greater(be, bn, ce, cn), fisher_greater(ce, cn, be, bn))
            })
        };
        let mut r = row(
            &metric,
            "rate".into(),
            Some(bx),
            Some(cx),
            tol.error_rate,
            verdict,
            Method::Counts,
        );
        r.p_value = p;
        out.push(r);
    }

    // Violations: in total, then each kind either run had.
    let mut counts = vec![("violations".to_owned(), b.violations.total, c.violations.total)];
    for (kind, n) in &c.violations.by_kind {
        let base = b.violations.by_kind.get(kind).copied().unwrap_or(0);
        if *n > 0 || base > 0 {
            counts.push((format!("violations.{kind}"), base, *n));
        }
    }
    for (kind, base) in &b.violations.by_kind {
        if *base > 0 && !c.violations.by_kind.contains_key(kind) {
            counts.push((format!("violations.{kind}"), *base, 0));
        }
    }
    let (bn, cn) = (b.counts.operations, c.counts.operations);
    for (metric, bv, cv) in counts {
        let (verdict, p) = if bv == 0 {
            // Correct ordering is not a statistic: one violation where there were none is news.
            (if cv > 0 { Verdict::Regression } else { Verdict::Ok }, None)
        } else {
            // Compared as rates per operation, since runs may differ in length; a violation
            // count can exceed the operations, so the rates are Poisson, not proportions.
            let (bx, cx) = (poisson(bv, bn), poisson(cv, cn));
            judge_rate(cx.value - bx.value, 0.0, || {
                (poisson_greater(bv, bn, cv, cn), poisson_greater(cv, cn, bv, bn))
            })
        };
        let est = |v: u64| Estimate { value: v as f64, low: v as f64, high: Some(v as f64), n: v };
        let mut r = row(
            &metric,
            "count".into(),
            Some(est(bv)),
            Some(est(cv)),
            0.0,
            verdict,
            Method::Counts,
        );
        r.p_value = p;
        out.push(r);
    }
}

fn notes(baseline: &Run<'_>, current: &Run<'_>) -> Vec<String> {
    let (b, c) = (baseline.report, current.report);
    let mut out = Vec::new();
    if b.scenario.name != c.scenario.name {
        out.push(format!(
            "the runs are of different scenarios ({} and {}): the comparison may mean little",
            b.scenario.name, c.scenario.name
        ));
    } else if b.scenario.rest != c.scenario.rest {
        out.push(
            "the scenario's settings differ between the runs (load, duration or thresholds)".into(),
        );
    }
    for (which, r) in [("baseline", b), ("current", c)] {
        if r.partial {
            out.push(format!("the {which} run was interrupted: its results are partial"));
        }
        if r.counts.missed_starts > 0 {
            out.push(format!(
                "the {which} run missed {} starts: it offered less load than planned",
                r.counts.missed_starts
            ));
        }
    }
    match (baseline.histograms.is_some(), current.histograms.is_some()) {
        (true, true) => {}
        (false, false) => out.push(
            "no histograms (totals.hlog, latency.hlog) in either run: noise bands come from \
             summary.json percentiles (interpolated, wider)"
                .into(),
        ),
        (false, true) => out.push(
            "no histograms in the baseline: noise bands come from summary.json percentiles".into(),
        ),
        (true, false) => out.push(
            "no histograms in the current run: noise bands come from summary.json percentiles"
                .into(),
        ),
    }
    out
}

fn label(run: &Run<'_>) -> RunLabel {
    RunLabel {
        path: run.label.to_owned(),
        scenario: run.report.scenario.name.clone(),
        started: run.report.started.clone(),
        seed: run.report.seed,
        histograms: run.histograms.is_some(),
    }
}

/// Compares `current` with `baseline`.
pub fn compare(baseline: Run<'_>, current: Run<'_>, tolerances: &Tolerances) -> Comparison {
    let mut rows = Vec::new();
    latency_rows(&baseline, &current, tolerances, &mut rows);
    count_rows(&baseline, &current, tolerances, &mut rows);
    let regressions = rows.iter().filter(|r| r.verdict == Verdict::Regression).count();
    let informational = rows.iter().filter(|r| r.informational.is_some()).count();
    Comparison {
        baseline: label(&baseline),
        current: label(&current),
        tolerances: tolerances.clone(),
        notes: notes(&baseline, &current),
        rows,
        regressions,
        informational,
    }
}
