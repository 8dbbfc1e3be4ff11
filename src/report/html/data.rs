//! What `report.html` shows, computed before any HTML is written: the chart data embedded in the
//! page as JSON ([`ChartData`]: spectra, the time series as columns, the phases), and the
//! headline figures ([`Headline`]). Pure functions of the report, its histograms and its time
//! series, so the page a run writes and the page `gwsim report` writes from the run's files are
//! the same when those inputs are (the tests compare them).

use std::collections::BTreeSet;

use hdrhistogram::Histogram;
use serde::Serialize;

use super::super::readback::Histograms;
use super::super::spectrum::{Spectrum, spectrum};
use super::super::timeline::Point;
use super::super::{OpKind, Phases, Report, ScenarioView, totals};
use crate::metrics::Recorder;
use crate::vocab::{CustomerMetric, Metric, OpMetric, Stat};

/// Everything the charts draw, embedded in the page as one JSON blob.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChartData {
    /// One per latency metric with samples, in the report's order (operations, then customers).
    pub spectra: Vec<SpectrumSeries>,
    pub timeline: Timeline,
    /// The phases on the time axis, in order, for shading every time chart; empty without a time
    /// series.
    pub phases: Vec<PhaseSpan>,
}

/// One phase of the run on the time charts' axis (seconds since the load phase started).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct PhaseSpan {
    pub phase: Phase,
    pub from_s: f64,
    pub to_s: f64,
}

/// The phases a time chart shades. Login precedes the time series (its samples are in the
/// totals only), so it has no span.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    Warmup,
    Load,
    Drain,
    Logout,
}

/// The percentile spectrum of one metric, corrected and raw.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SpectrumSeries {
    /// Named as in thresholds and the time series: `Accept.response`, `customer.wait`.
    pub metric: String,
    pub corrected: Spectrum,
    /// `None` when raw equals corrected (the generator kept its schedule) or the metric has one
    /// variant only (customer metrics).
    pub raw: Option<Spectrum>,
    /// Whether the metric has a raw variant at all (customer metrics do not), so the page can
    /// tell "raw is identical" from "there is no raw".
    pub has_raw: bool,
}

/// The time series as columns (uPlot's data shape); `None` (JSON `null`) where there is no value.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct Timeline {
    /// End of each interval, seconds since the load phase started.
    pub t_s: Vec<f64>,
    /// Whether each interval is in the measured load (after warmup, before drain): what the
    /// headline's rates and the legends' summaries are taken over.
    pub measured: Vec<bool>,
    /// Operations per second in each interval.
    pub ops_per_s: Vec<Option<f64>>,
    /// Completed chats and flows per second in each interval.
    pub chats_per_s: Vec<Option<f64>>,
    pub flows_per_s: Vec<Option<f64>>,
    /// Errors / operations in each interval, in percent; `None` in an interval with no operation.
    pub error_pct: Vec<Option<f64>>,
    pub violations: Vec<u64>,
    pub missed_starts: Vec<u64>,
    /// Gauges at each interval's end.
    pub active_chats: Vec<u64>,
    pub agents_logged_in: Vec<u64>,
    pub agents_busy: Vec<u64>,
    pub customers_waiting: Vec<u64>,
    /// Agents busy / agents logged in, in percent; `None` with nobody logged in.
    pub occupancy_pct: Vec<Option<f64>>,
    /// Whether the points carry the throughput and concurrency gauges at all (a timeline written
    /// before they existed reads them as 0 everywhere).
    pub has_gauges: bool,
    /// Where the throughput chart's y axis stops: the load's highest rate (with headroom) when
    /// the logout burst would otherwise flatten it, `None` when nothing needs clipping.
    pub ops_clip: Option<f64>,
    /// The logout burst's peak rate, when `ops_clip` hides it.
    pub burst_peak: Option<f64>,
    /// Per metric, p50 and p99 in microseconds: flow operations in the report's order, then the
    /// customer metrics, then session operations (login and logout), then anything else.
    pub latency: Vec<IntervalSeries>,
}

/// One metric's latency per interval; `None` where the metric had no sample.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct IntervalSeries {
    pub metric: String,
    pub p50_us: Vec<Option<u64>>,
    pub p99_us: Vec<Option<u64>>,
}

/// The whole-run latency histograms a page draws its spectra from, by metric name
/// (`Accept.response`, `customer.wait`): corrected, and raw where the run has a raw variant.
///
/// One form for both ways a page is made: [`PageHistograms::from_recorder`] after a run,
/// [`PageHistograms::stored`] from `totals.hlog` when `gwsim report` re-renders one. Both go
/// through [`totals::histograms`] (the run writes exactly those to `totals.hlog`), so the page is
/// a function of the report, these histograms and the time series, and the two pages are the
/// same.
#[derive(Debug, Clone, Default)]
pub struct PageHistograms {
    pub corrected: Histograms,
    /// Empty for an old run read back from `latency.hlog`, which holds corrected values only.
    pub raw: Histograms,
}

impl PageHistograms {
    /// A finished run's histograms (measured samples; warmup is not in them).
    pub fn from_recorder(recorder: &Recorder) -> PageHistograms {
        PageHistograms::from_totals(&totals::histograms(recorder))
    }

    /// The histograms of a `totals.hlog` (corrected under the metric's name, raw with the
    /// `.raw` suffix).
    pub fn from_totals(totals: &Histograms) -> PageHistograms {
        let (corrected, raw) = totals::split(totals);
        PageHistograms { corrected, raw }
    }

    /// A run read back from its results directory: its `totals.hlog`, the same histograms the
    /// run drew its page from. A run written before that file existed falls back to
    /// `latency.hlog`, which has corrected values only, no login samples and warmup in it: a
    /// poorer page, but a page.
    pub fn stored(totals: Option<&Histograms>, interval_log: Option<Histograms>) -> PageHistograms {
        match totals {
            Some(t) => PageHistograms::from_totals(t),
            None => PageHistograms {
                corrected: interval_log.unwrap_or_default(),
                raw: Histograms::new(),
            },
        }
    }
}

/// The latency metric names of `report` in page order: each flow operation's response and
/// settle, the customer metrics, then each session operation's.
fn metric_order<S>(report: &Report<S>) -> Vec<String> {
    let ops = |kind: OpKind| {
        report
            .operations
            .iter()
            .filter(move |op| op.kind == kind)
            .flat_map(|op| {
                [OpMetric::Response, OpMetric::Settle].map(|k| Metric::Op(op.name, k).to_string())
            })
            .collect::<Vec<_>>()
    };
    let mut names = ops(OpKind::Flow);
    for c in CustomerMetric::TIMED {
        names.push(Metric::Customer(c).to_string());
    }
    names.extend(ops(OpKind::Session));
    names
}

/// The chart data of a run: spectra in page order, the time series, and its phases.
pub fn chart_data<S>(
    report: &Report<S>,
    histograms: &PageHistograms,
    timeline: &[Point],
) -> ChartData {
    let order = metric_order(report);
    let mut spectra = Vec::new();
    for name in &order {
        if let Some(h) = histograms.corrected.get(name) {
            let raw = histograms.raw.get(name);
            spectra.extend(spectrum_series(name.clone(), h, raw));
        }
    }
    let phases = phase_spans(report.phases.as_ref(), timeline);
    ChartData { spectra, timeline: columns(timeline, &order, &phases), phases }
}

fn spectrum_series(
    metric: String,
    corrected: &Histogram<u64>,
    raw: Option<&Histogram<u64>>,
) -> Option<SpectrumSeries> {
    let c = spectrum(corrected);
    if c.is_empty() {
        return None;
    }
    let has_raw = raw.is_some();
    let raw = raw.map(spectrum).filter(|r| *r != c && !r.is_empty());
    Some(SpectrumSeries { metric, corrected: c, raw, has_raw })
}

fn secs(ms: u64) -> f64 {
    ms as f64 / 1000.0
}

/// The phases on the time axis. With the run's recorded [`Phases`]: warmup, load, drain and
/// logout, each left out when it lasted no time. Without them (a summary from before they were
/// recorded): warmup as the points flag it, and the rest as load.
pub fn phase_spans(phases: Option<&Phases>, points: &[Point]) -> Vec<PhaseSpan> {
    let Some(last) = points.last() else { return Vec::new() };
    let end = last.t_ms;
    let bounds: Vec<(Phase, u64, u64)> = match phases {
        Some(p) => {
            // Clamped to the series, which may end a tick before or after the recorded end.
            let c = |ms: u64| ms.min(end);
            vec![
                (Phase::Warmup, 0, c(p.warmup_ms)),
                (Phase::Load, c(p.warmup_ms), c(p.drain_ms)),
                (Phase::Drain, c(p.drain_ms), c(p.logout_ms)),
                (Phase::Logout, c(p.logout_ms), end),
            ]
        }
        None => {
            let warm = points.iter().filter(|p| p.warmup).map(|p| p.t_ms).max().unwrap_or(0);
            vec![(Phase::Warmup, 0, warm), (Phase::Load, warm, end)]
        }
    };
    bounds
        .into_iter()
        .filter(|(_, from, to)| to > from)
        .map(|(phase, from, to)| PhaseSpan { phase, from_s: secs(from), to_s: secs(to) })
        .collect()
}

/// The phase an interval belongs to: the one its middle falls in (intervals are a second; a
/// phase boundary falls inside one).
pub(super) fn phase_of(p: &Point, spans: &[PhaseSpan]) -> Option<Phase> {
    let mid = secs(p.start_ms.min(p.t_ms)) / 2.0 + secs(p.t_ms) / 2.0;
    spans.iter().find(|s| mid >= s.from_s && mid <= s.to_s).map(|s| s.phase)
}

/// Whether an interval is in the measured load: after warmup, in the load phase.
fn measured(p: &Point, spans: &[PhaseSpan]) -> bool {
    !p.warmup && phase_of(p, spans) == Some(Phase::Load)
}

/// Per-second rate of `n` events in an interval of `dt_ms`.
fn rate(n: u64, dt_ms: u64) -> Option<f64> {
    (dt_ms > 0).then(|| round3(n as f64 * 1000.0 / dt_ms as f64))
}

fn columns(points: &[Point], order: &[String], spans: &[PhaseSpan]) -> Timeline {
    let mut t = Timeline::default();
    let present: BTreeSet<&String> = points.iter().flat_map(|p| p.latency.keys()).collect();
    // Known metrics in page order, then whatever else the file holds (sorted), so nothing read
    // is dropped.
    let mut names: Vec<&String> = order.iter().filter(|n| present.contains(n)).collect();
    names.extend(present.iter().copied().filter(|n| !order.contains(n)));
    t.latency = names
        .into_iter()
        .map(|m| IntervalSeries { metric: m.clone(), ..IntervalSeries::default() })
        .collect();
    t.has_gauges = points.iter().any(|p| p.agents_logged_in > 0);
    let mut prev_ms = 0;
    for p in points {
        // Intervals are nominally one second; dividing by the real length keeps a short last
        // interval (the end of logout) from looking like a drop in throughput.
        let dt_ms = p.t_ms.saturating_sub(prev_ms);
        prev_ms = p.t_ms;
        t.t_s.push(secs(p.t_ms));
        t.measured.push(measured(p, spans));
        t.ops_per_s.push(rate(p.ops, dt_ms));
        t.chats_per_s.push(rate(p.chats_completed, dt_ms));
        t.flows_per_s.push(rate(p.flows_completed, dt_ms));
        t.error_pct.push((p.ops > 0).then(|| round3(p.errors as f64 * 100.0 / p.ops as f64)));
        t.violations.push(p.violations);
        t.missed_starts.push(p.missed_starts);
        t.active_chats.push(p.active_chats);
        t.agents_logged_in.push(p.agents_logged_in);
        t.agents_busy.push(p.agents_busy);
        t.customers_waiting.push(p.customers_waiting);
        t.occupancy_pct.push(
            (p.agents_logged_in > 0)
                .then(|| round3(p.agents_busy as f64 * 100.0 / p.agents_logged_in as f64)),
        );
        for series in &mut t.latency {
            let l = p.latency.get(&series.metric);
            series.p50_us.push(l.map(|l| l.p50_us));
            series.p99_us.push(l.map(|l| l.p99_us));
        }
    }
    // The logout burst (every agent's logout requests in one second) can be many times the
    // load's rate: clip the axis to the rest of the run when it is, and say so. Any interval that
    // reaches into logout holds burst (logout often lasts a fraction of one).
    let logout = spans.iter().find(|s| s.phase == Phase::Logout).map(|s| s.from_s);
    let mut rest = 0.0f64;
    let mut burst = 0.0f64;
    for (p, r) in points.iter().zip(&t.ops_per_s) {
        let r = r.unwrap_or(0.0);
        match logout {
            Some(from) if secs(p.t_ms) > from => burst = burst.max(r),
            _ => rest = rest.max(r),
        }
    }
    if rest > 0.0 && burst > rest * 1.5 {
        t.ops_clip = Some(round3(rest * 1.15));
        t.burst_peak = Some(burst);
    }
    t
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// The figures at the top of the page.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Headline {
    /// The measured load window the rates are taken over: the load phase after warmup, in
    /// seconds (0 without a time series).
    pub window_s: f64,
    /// Operations per second over that window; `None` without a time series.
    pub ops_per_s: Option<f64>,
    /// Completed chats and flows per second over the window; `None` when the time series does
    /// not carry them.
    pub chats_per_s: Option<f64>,
    pub flows_per_s: Option<f64>,
    /// The scenario's agents, and the most logged in at once (when the series carries it).
    pub agents: u64,
    pub agents_logged_in: Option<u64>,
    /// Peak customers waiting at an interval's end (when the series carries it).
    pub peak_waiting: Option<u64>,
    /// The key latencies: each flow operation's settle (its response when it has no settle).
    pub key: Vec<KeyLatency>,
}

/// One key latency of the headline (corrected, measured samples).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KeyLatency {
    pub metric: String,
    pub count: u64,
    pub p50_us: u64,
    pub p99_us: u64,
}

/// The headline figures of a run.
pub fn headline<S: ScenarioView>(
    report: &Report<S>,
    points: &[Point],
    spans: &[PhaseSpan],
) -> Headline {
    let measured: Vec<&Point> = points.iter().filter(|p| measured(p, spans)).collect();
    let window_ms: u64 = measured.iter().map(|p| p.t_ms.saturating_sub(p.start_ms)).sum();
    let over = |f: fn(&Point) -> u64| {
        (window_ms > 0).then(|| {
            round3(measured.iter().map(|p| f(p)).sum::<u64>() as f64 * 1e3 / window_ms as f64)
        })
    };
    let gauges = points.iter().any(|p| p.agents_logged_in > 0);
    let key = report
        .operations
        .iter()
        .filter(|op| op.kind == OpKind::Flow)
        .filter_map(|op| {
            let (kind, t) = match (&op.settle, &op.response) {
                (Some(s), _) if s.corrected.is_some() => (OpMetric::Settle, s),
                (_, Some(r)) => (OpMetric::Response, r),
                _ => return None,
            };
            let c = t.corrected?;
            Some(KeyLatency {
                metric: Metric::Op(op.name, kind).to_string(),
                count: c.count,
                p50_us: c.us(Stat::P50)?,
                p99_us: c.us(Stat::P99)?,
            })
        })
        .collect();
    Headline {
        window_s: secs(window_ms),
        ops_per_s: over(|p| p.ops),
        chats_per_s: over(|p| p.chats_completed).filter(|_| gauges),
        flows_per_s: over(|p| p.flows_completed).filter(|_| gauges),
        agents: report.scenario.agents(),
        agents_logged_in: gauges.then(|| points.iter().map(|p| p.agents_logged_in).max()).flatten(),
        peak_waiting: gauges.then(|| points.iter().map(|p| p.customers_waiting).max()).flatten(),
        key,
    }
}
