//! `gwsim compare`: a current run against a baseline, metric by metric, with tolerances and with
//! an estimate of run-to-run sampling noise, so that a percentile measured on twenty samples is
//! not called a regression because it moved.
//!
//! # Latencies
//! For every latency metric present in either run (`<Op>.response`, `<Op>.settle`,
//! `customer.<name>`; corrected values) and every statistic (p50 p90 p99 p99.9 max mean), the
//! delta is judged:
//! - `ok`: within tolerance, `|delta| <= max(relative × baseline, absolute)`;
//! - `regression` / `improved`: beyond tolerance *and* outside the noise band;
//! - `within noise`: beyond tolerance, but the two runs' 99% confidence intervals overlap, so the
//!   samples cannot tell the difference from chance (usually: too few samples).
//!
//! The noise band of a percentile `q` over `n` samples comes from order statistics: its rank
//! `n·q` is binomial, so with 99% confidence the true quantile lies between the values at ranks
//! `n·q ± z·sqrt(n·q·(1-q))` (plus one rank for discreteness); a band that reaches past the
//! largest sample has no upper bound (twenty samples cannot bound a p99 from above). `max` is an
//! observation; its band is the values the rank noise (`q = 1 - 1/n`) reaches below it. A mean's
//! band is `± z·sd/sqrt(n)`. Ranks are mapped back to values with the
//! full histogram from `latency.hlog` when both runs have one for the metric ([`Method::Histogram`]);
//! otherwise from `summary.json`'s percentiles, linearly interpolated between p50, p90, p99, p99.9
//! and max (and 0 below p50), which widens the band, never narrows it ([`Method::Summary`]).
//!
//! # Counts
//! Error rates (run-wide, and per operation where either run had errors) are failures per
//! operation; a regression needs the rate to rise by more than the error-rate tolerance (in
//! percentage points) and beyond both rates' 99% Poisson intervals. Ordering violations: any
//! violation where the baseline had none is a regression; where it had some, a rate per operation
//! beyond both intervals is.
//!
//! Everything here is pure: it takes reports and histograms and returns a [`Comparison`].

use std::collections::BTreeMap;
use std::fmt::Write as _;

use hdrhistogram::Histogram;
use serde::Serialize;

use super::readback::Histograms;
use super::{Percentiles, StoredReport, TimedReport, human_us};
use crate::vocab::Stat;

/// Two-sided 99% normal quantile.
const Z99: f64 = 2.576;

/// A tolerance the user wrote that gwsim cannot use.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ToleranceError {
    #[error("the tolerance list is empty; write e.g. `p99=10%,p50=5%`")]
    Empty,
    #[error(
        "`{stat}` in `{item}` is not a statistic gwsim compares (use p50, p90, p99, p99.9, max, mean{extra})"
    )]
    UnknownStat { item: String, stat: String, extra: &'static str },
    #[error("`{item}`: {reason}")]
    BadValue { item: String, reason: String },
}

/// How much a statistic may move before it counts as a change.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Tolerances {
    /// Per statistic, a fraction of the baseline value (0.1 = 10%).
    pub relative: BTreeMap<Stat, f64>,
    /// Per statistic, microseconds: differences up to this are never a change, whatever their
    /// relative size (a 20 µs p50 moving to 30 µs is +50% and nothing).
    pub absolute_us: BTreeMap<Stat, f64>,
    /// How many percentage points (as a fraction: 0.001 = 0.1 points) an error rate may rise.
    pub error_rate: f64,
}

impl Default for Tolerances {
    /// p50, p90, p99, mean 10%; p99.9 15%; max 25% (a maximum is one sample, the noisiest of
    /// all); no absolute floor; error rate +0.1 percentage point.
    fn default() -> Self {
        let relative = Stat::DISTRIBUTION
            .into_iter()
            .map(|s| {
                let t = match s {
                    Stat::P999 => 0.15,
                    Stat::Max => 0.25,
                    _ => 0.10,
                };
                (s, t)
            })
            .collect();
        Tolerances {
            relative,
            absolute_us: Stat::DISTRIBUTION.into_iter().map(|s| (s, 0.0)).collect(),
            error_rate: 0.001,
        }
    }
}

/// Splits `p99=10%,5%` into `(Some("p99"), "10%")`, `(None, "5%")`.
fn items(list: &str) -> Result<Vec<(String, Option<String>, String)>, ToleranceError> {
    let out: Vec<_> = list
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|item| match item.split_once('=') {
            Some((k, v)) => (item.to_owned(), Some(k.trim().to_owned()), v.trim().to_owned()),
            None => (item.to_owned(), None, item.to_owned()),
        })
        .collect();
    if out.is_empty() { Err(ToleranceError::Empty) } else { Ok(out) }
}

/// `10%` as 0.1. A bare number is refused: `10` could mean 10% or 1000%.
fn percent(item: &str, v: &str) -> Result<f64, ToleranceError> {
    let bad = |reason: String| ToleranceError::BadValue { item: item.to_owned(), reason };
    let Some(num) = v.strip_suffix('%') else {
        return Err(bad(format!("`{v}` needs a percent sign, e.g. `{v}%`")));
    };
    let x: f64 = num.trim().parse().map_err(|_| bad(format!("`{num}` is not a number")))?;
    if !x.is_finite() || x < 0.0 {
        return Err(bad(format!("`{v}` must be a percentage of zero or more")));
    }
    Ok(x / 100.0)
}

impl Tolerances {
    /// Applies `--tolerance`: `p99=10%,p50=5%,max=25%`; a bare `10%` sets every latency
    /// statistic; `errors=0.5%` sets the error-rate tolerance (percentage points).
    pub fn set_relative(&mut self, list: &str) -> Result<(), ToleranceError> {
        for (item, key, value) in items(list)? {
            match key.as_deref() {
                None => {
                    let t = percent(&item, &value)?;
                    self.relative.values_mut().for_each(|v| *v = t);
                }
                Some("errors") => self.error_rate = percent(&item, &value)?,
                Some(k) => {
                    let stat = Stat::parse(k).filter(|s| s.is_distribution()).ok_or_else(|| {
                        ToleranceError::UnknownStat {
                            item: item.clone(),
                            stat: k.to_owned(),
                            extra: " or errors",
                        }
                    })?;
                    self.relative.insert(stat, percent(&item, &value)?);
                }
            }
        }
        Ok(())
    }

    /// Applies `--absolute`: `1ms` for every statistic, or `p50=200us,max=5ms`.
    pub fn set_absolute(&mut self, list: &str) -> Result<(), ToleranceError> {
        for (item, key, value) in items(list)? {
            let d = crate::scenario::units::parse_duration(&value).map_err(|e| {
                ToleranceError::BadValue { item: item.clone(), reason: e.to_string() }
            })?;
            let us = crate::metrics::duration_to_us(d) as f64;
            match key.as_deref() {
                None => self.absolute_us.values_mut().for_each(|v| *v = us),
                Some(k) => {
                    let stat = Stat::parse(k).filter(|s| s.is_distribution()).ok_or_else(|| {
                        ToleranceError::UnknownStat {
                            item: item.clone(),
                            stat: k.to_owned(),
                            extra: "",
                        }
                    })?;
                    self.absolute_us.insert(stat, us);
                }
            }
        }
        Ok(())
    }

    fn allowed(&self, stat: Stat, baseline: f64) -> f64 {
        let rel = self.relative.get(&stat).copied().unwrap_or(0.0) * baseline.abs();
        rel.max(self.absolute_us.get(&stat).copied().unwrap_or(0.0))
    }
}

/// What a row concluded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    Ok,
    Improved,
    Regression,
    /// Beyond tolerance but inside the noise band: the samples cannot tell.
    WithinNoise,
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
            Verdict::WithinNoise => "within noise (n too small)",
            Verdict::OnlyInBaseline => "only in baseline",
            Verdict::OnlyInCurrent => "only in current",
        }
    }
}

/// Where a row's values and noise band came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Method {
    /// The full histograms of both runs' `latency.hlog`.
    Histogram,
    /// `summary.json`'s percentiles and counts (interpolated; a wider band).
    Summary,
    /// Counts from `summary.json` with Poisson intervals.
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
    /// Whether its `latency.hlog` was available.
    pub histograms: bool,
}

/// One side of the comparison.
#[derive(Debug, Clone, Copy)]
pub struct Run<'a> {
    /// How to name it (a path).
    pub label: &'a str,
    pub report: &'a StoredReport,
    pub histograms: Option<&'a Histograms>,
}

/// A distribution to take statistics and bands from.
enum Dist<'a> {
    Histogram(&'a Histogram<u64>),
    Summary(&'a Percentiles),
}

impl Dist<'_> {
    fn n(&self) -> u64 {
        match self {
            Dist::Histogram(h) => h.len(),
            Dist::Summary(p) => p.count,
        }
    }

    fn stat(&self, stat: Stat) -> f64 {
        match (self, stat) {
            (Dist::Histogram(h), Stat::Mean) => h.mean(),
            (Dist::Histogram(h), Stat::Max) => h.max() as f64,
            (Dist::Histogram(h), s) => h.value_at_quantile(s.quantile().unwrap_or(1.0)) as f64,
            (Dist::Summary(p), s) => p.stat(s).unwrap_or(f64::NAN),
        }
    }

    /// The value at quantile `q` (0..=1).
    fn value_at(&self, q: f64) -> f64 {
        let q = q.clamp(0.0, 1.0);
        match self {
            Dist::Histogram(h) => h.value_at_quantile(q) as f64,
            Dist::Summary(p) => {
                let knots = summary_knots(p);
                let i = knots.iter().position(|(kq, _)| *kq >= q).unwrap_or(knots.len() - 1);
                if i == 0 {
                    return knots[0].1;
                }
                let ((q0, v0), (q1, v1)) = (knots[i - 1], knots[i]);
                if q1 <= q0 { v1 } else { v0 + (v1 - v0) * (q - q0) / (q1 - q0) }
            }
        }
    }

    /// Standard deviation of the samples.
    fn stdev(&self) -> f64 {
        match self {
            Dist::Histogram(h) => h.stdev(),
            Dist::Summary(p) => {
                // The interpolated distribution is uniform between knots: E[X] of a uniform on
                // [a, b] is (a + b) / 2, E[X²] is (a² + ab + b²) / 3. Its lowest segment starts at 0, which
                // overstates the spread, so the band is wider than the truth, not narrower.
                let knots = summary_knots(p);
                let (mut first, mut second) = (0.0, 0.0);
                for w in knots.windows(2) {
                    let ((q0, a), (q1, b)) = (w[0], w[1]);
                    first += (q1 - q0) * (a + b) / 2.0;
                    second += (q1 - q0) * (a * a + a * b + b * b) / 3.0;
                }
                (second - first * first).max(0.0).sqrt()
            }
        }
    }

    /// The statistic with its 99% confidence interval.
    fn estimate(&self, stat: Stat) -> Estimate {
        let n = self.n();
        let value = self.stat(stat);
        let nf = n as f64;
        if n == 0 {
            return Estimate { value, low: value, high: Some(value), n };
        }
        let (low, high) = match stat {
            Stat::Mean => {
                let half = Z99 * self.stdev() / nf.sqrt();
                ((value - half).max(0.0), Some(value + half))
            }
            Stat::Max => {
                // The observed maximum is an observation, not an estimate of a quantile, so its
                // band is only the rank noise below it: the values a couple of ranks down, which
                // another run of the same system would as likely have had as its maximum.
                let q = 1.0 - 1.0 / nf;
                let half = Z99 * (nf * q * (1.0 - q)).sqrt() + 1.0;
                (self.value_at((nf - half) / nf).min(value), Some(value))
            }
            _ => {
                // The rank of the percentile and the binomial spread of that rank, plus one rank
                // for discreteness. A band reaching past the largest sample has no upper bound:
                // too few samples lie above this percentile to say how high it really is.
                let q = stat.quantile().unwrap_or(1.0);
                let rank = nf * q;
                let half = Z99 * (nf * q * (1.0 - q)).sqrt() + 1.0;
                let low = self.value_at((rank - half) / nf).min(value);
                let high =
                    (rank + half <= nf).then(|| self.value_at((rank + half) / nf).max(value));
                (low, high)
            }
        };
        Estimate { value, low, high, n }
    }
}

/// `(quantile, value)` points a summary states, from (0, 0) to (1, max).
fn summary_knots(p: &Percentiles) -> [(f64, f64); 6] {
    [
        (0.0, 0.0),
        (0.5, p.p50 as f64),
        (0.9, p.p90 as f64),
        (0.99, p.p99 as f64),
        (0.999, p.p999 as f64),
        (1.0, p.max as f64),
    ]
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
    let c = &r.customers;
    for (name, t) in [("wait", &c.wait), ("to_agent", &c.to_agent), ("to_customer", &c.to_customer)]
    {
        if t.is_some() {
            out.push((format!("customer.{name}"), corrected(t)));
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
        for stat in Stat::DISTRIBUTION {
            let b = bd.as_ref().map(|d| d.estimate(stat));
            let c = cd.as_ref().map(|d| d.estimate(stat));
            let allowed = b.map_or(0.0, |b| tol.allowed(stat, b.value));
            let verdict = match (&b, &c) {
                (Some(b), Some(c)) => judge(b, c, allowed),
                (Some(_), None) => Verdict::OnlyInBaseline,
                (None, Some(_)) => Verdict::OnlyInCurrent,
                // Recorded in neither (an operation that only failed): nothing to compare.
                (None, None) => continue,
            };
            out.push(row(name, stat.as_str().to_owned(), b, c, allowed, verdict, method));
        }
    }
}

/// A count per exposure (operations) with a 99% Poisson interval (square-root approximation:
/// `(sqrt(x) ± z/2)²`, with `x + 1` above so that zero events still have an upper bound).
fn poisson(x: u64, exposure: u64) -> Estimate {
    let e = exposure.max(1) as f64;
    let xf = x as f64;
    let low = (xf.sqrt() - Z99 / 2.0).max(0.0).powi(2);
    let high = ((xf + 1.0).sqrt() + Z99 / 2.0).powi(2);
    Estimate { value: xf / e, low: low / e, high: Some(high / e), n: exposure }
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
        r.operations.iter().find(|o| o.name == name).map_or((0, 0), |o| (o.errors, o.count))
    };
    let mut names: Vec<&str> = b.operations.iter().map(|o| o.name.as_str()).collect();
    for o in &c.operations {
        if !names.contains(&o.name.as_str()) {
            names.push(&o.name);
        }
    }
    for name in names {
        let (be, ce) = (op(b, name), op(c, name));
        if be.0 > 0 || ce.0 > 0 {
            rates.push((format!("{name}.errors"), be, ce));
        }
    }
    for (metric, (be, bn), (ce, cn)) in rates {
        let (bx, cx) = (poisson(be, bn), poisson(ce, cn));
        let verdict = if bn == 0 && cn == 0 {
            continue;
        } else if bn == 0 {
            Verdict::OnlyInCurrent
        } else if cn == 0 {
            Verdict::OnlyInBaseline
        } else {
            judge(&bx, &cx, tol.error_rate)
        };
        out.push(row(
            &metric,
            "rate".into(),
            Some(bx),
            Some(cx),
            tol.error_rate,
            verdict,
            Method::Counts,
        ));
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
    for (metric, bv, cv) in counts {
        let verdict = if bv == 0 {
            // Correct ordering is not a statistic: one violation where there were none is news.
            if cv > 0 { Verdict::Regression } else { Verdict::Ok }
        } else {
            // Compared as rates per operation, since runs may differ in length.
            let (bx, cx) = (poisson(bv, b.counts.operations), poisson(cv, c.counts.operations));
            judge(&bx, &cx, 0.0)
        };
        let est = |v: u64| Estimate { value: v as f64, low: v as f64, high: Some(v as f64), n: v };
        out.push(row(
            &metric,
            "count".into(),
            Some(est(bv)),
            Some(est(cv)),
            0.0,
            verdict,
            Method::Counts,
        ));
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
            "no latency.hlog in either run: noise bands come from summary.json percentiles \
             (interpolated, wider)"
                .into(),
        ),
        (false, true) => out.push(
            "no latency.hlog in the baseline: noise bands come from summary.json percentiles"
                .into(),
        ),
        (true, false) => out.push(
            "no latency.hlog in the current run: noise bands come from summary.json percentiles"
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
    Comparison {
        baseline: label(&baseline),
        current: label(&current),
        tolerances: tolerances.clone(),
        notes: notes(&baseline, &current),
        rows,
        regressions,
    }
}

fn show(row: &Row, v: f64) -> String {
    match row.stat.as_str() {
        "rate" => format!("{:.3}%", v * 100.0),
        "count" => format!("{v:.0}"),
        _ => human_us(v),
    }
}

fn show_delta(row: &Row) -> String {
    let Some(d) = row.delta else { return "-".into() };
    let sign = if d >= 0.0 { "+" } else { "-" };
    let abs = match row.stat.as_str() {
        "rate" => format!("{:.3}pp", d.abs() * 100.0),
        "count" => format!("{:.0}", d.abs()),
        _ => human_us(d.abs()),
    };
    match row.delta_ratio {
        Some(r) if row.stat != "rate" => format!("{sign}{abs} ({sign}{:.1}%)", (r * 100.0).abs()),
        _ => format!("{sign}{abs}"),
    }
}

/// The comparison as a table for people. Every line ends in `\n`.
pub fn render_comparison(c: &Comparison) -> String {
    let mut o = String::new();
    // `write!` into a `String` cannot fail; the results are ignored for that reason.
    let _ = writeln!(
        o,
        "gwsim compare: baseline {} ({}, {}), current {} ({}, {})",
        c.baseline.path,
        c.baseline.scenario,
        c.baseline.started,
        c.current.path,
        c.current.scenario,
        c.current.started
    );
    let mut rows = vec![
        ["metric", "stat", "baseline", "current", "delta", "99% bands", "n", "method", "verdict"]
            .map(str::to_owned)
            .to_vec(),
    ];
    let mut previous: Option<&str> = None;
    for r in &c.rows {
        // The metric's name on its first row only: the table reads as one block per metric.
        let name =
            if previous == Some(r.metric.as_str()) { String::new() } else { r.metric.clone() };
        previous = Some(&r.metric);
        let band = |e: &Option<Estimate>| {
            e.map_or_else(
                || "-".to_owned(),
                |e| {
                    let high = e.high.map_or_else(|| "?".to_owned(), |h| show(r, h));
                    format!("{}..{high}", show(r, e.low))
                },
            )
        };
        let n = |e: &Option<Estimate>| e.map_or_else(|| "-".to_owned(), |e| e.n.to_string());
        let bands = if r.stat == "count" {
            "-".to_owned()
        } else {
            format!("{} / {}", band(&r.baseline), band(&r.current))
        };
        rows.push(vec![
            name,
            r.stat.clone(),
            r.baseline.map_or_else(|| "-".to_owned(), |e| show(r, e.value)),
            r.current.map_or_else(|| "-".to_owned(), |e| show(r, e.value)),
            show_delta(r),
            bands,
            format!("{}/{}", n(&r.baseline), n(&r.current)),
            match r.method {
                Method::Histogram => "hlog",
                Method::Summary => "summary",
                Method::Counts => "counts",
            }
            .to_owned(),
            r.verdict.as_str().to_owned(),
        ]);
    }
    let widths: Vec<usize> = (0..rows[0].len())
        .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
        .collect();
    for r in &rows {
        let mut line = String::new();
        for (i, cell) in r.iter().enumerate() {
            let w = widths[i];
            if i <= 1 || i == r.len() - 1 {
                let _ = write!(line, "  {cell:<w$}");
            } else {
                let _ = write!(line, "  {cell:>w$}");
            }
        }
        let _ = writeln!(o, "{}", line.trim_end());
    }
    let unbounded =
        c.rows.iter().any(|r| [r.baseline, r.current].iter().flatten().any(|e| e.high.is_none()));
    if unbounded {
        let _ = writeln!(
            o,
            "a band ending in `?` has no upper bound: too few samples lie above that percentile"
        );
    }
    for n in &c.notes {
        let _ = writeln!(o, "note: {n}");
    }
    let noisy = c.rows.iter().filter(|r| r.verdict == Verdict::WithinNoise).count();
    if noisy > 0 {
        let _ = writeln!(
            o,
            "{noisy} difference(s) beyond tolerance are within run-to-run noise: more samples \
             (a longer run) would tell"
        );
    }
    if c.regressions == 0 {
        let _ = writeln!(o, "result: no regression (exit 0)");
    } else {
        let _ = writeln!(o, "result: {} regression(s) (exit 1)", c.regressions);
        for r in c.rows.iter().filter(|r| r.verdict == Verdict::Regression) {
            let _ = writeln!(o, "  - {} {}: {}", r.metric, r.stat, show_delta(r));
        }
    }
    o
}
