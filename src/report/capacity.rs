//! A capacity search's outputs: the step figures taken from each step's [`Report`], the search's
//! own report ([`CapacityReport`]: `capacity.json`), its terminal table and headline, and
//! `capacity.html` (throughput, p99 and errors against offered load, drawn with the embedded
//! uPlot of `report.html`).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;

use super::files::{CAPACITY_FILE, CAPACITY_HTML_FILE, write_atomic};
use super::html::{UPLOT_CSS, UPLOT_JS, UPLOT_LICENSE, embed_json, esc};
use super::thresholds::{failures, limit_text, relation, show};
use super::timeline::Point;
use super::{Report, ReportError, TimedReport, human_us};
use crate::capacity::{Check, Finding, KeyLatency, Stop, Verdict, show_rate};
use crate::run_plan::ResolvedTarget;
use crate::scenario::{Capacity, Scenario};
use crate::vocab::{CustomerMetric, Metric, OpMetric, Stat};

/// The `schema` of `capacity.json`.
pub const CAPACITY_SCHEMA: &str = "gwsim.capacity/1";

/// How many latency metrics the table shows (the chart and the JSON have them all).
const TABLE_METRICS: usize = 3;

/// One step of a search as `capacity.json` holds it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StepRecord {
    /// 1, 2, ... in the order run.
    pub step: usize,
    /// The step's own results directory (a normal run's: `summary.json`, `latency.hlog`, ...),
    /// relative to the search's.
    pub dir: String,
    #[serde(flatten)]
    pub figures: crate::capacity::StepFigures,
    /// Chats and operations per second in the judged part.
    pub chats_per_s: f64,
    pub ops_per_s: f64,
    #[serde(flatten)]
    pub verdict: Verdict,
}

/// `capacity.json`: the whole search.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CapacityReport {
    pub schema: &'static str,
    pub scenario: String,
    pub target: Option<ResolvedTarget>,
    pub started: String,
    pub ended: String,
    /// The search's settings as resolved (file and flags).
    pub settings: Capacity,
    /// In the order run (raising, then narrowing).
    pub steps: Vec<StepRecord>,
    pub finding: Finding,
    /// `capacity - first_failure`'s distance, per second.
    pub margin: Option<f64>,
    /// The sentence that states the result.
    pub headline: String,
    /// `[capacity] min` / `--min`, per second, and whether the capacity found reaches it.
    pub min: Option<f64>,
    pub meets_min: bool,
}

/// The latency metrics a scenario's thresholds judge, in the order written, each once.
pub fn judged_latencies(scenario: &Scenario) -> Vec<Metric> {
    let mut out: Vec<Metric> = Vec::new();
    for t in &scenario.thresholds {
        if t.metric.is_latency() && !out.contains(&t.metric) {
            out.push(t.metric);
        }
    }
    out
}

/// A latency metric's measured figures in a report.
fn timed(report: &Report, metric: Metric) -> Option<&TimedReport> {
    match metric {
        Metric::Op(op, kind) => {
            let o = report.operations.iter().find(|o| o.name == op)?;
            match kind {
                OpMetric::Response => o.response.as_ref(),
                OpMetric::Settle => o.settle.as_ref(),
                OpMetric::Errors | OpMetric::Count => None,
            }
        }
        Metric::Customer(c) => report.customers.timed(c),
        _ => None,
    }
}

/// What a step's report says, for the search: every threshold as a [`Check`], the failed checks'
/// sentences, the judged latency metrics' sample counts and their p50 and p99.
pub struct StepChecks {
    pub checks: Vec<Check>,
    pub failures: Vec<String>,
    pub samples: Vec<(String, u64)>,
    pub latencies: Vec<KeyLatency>,
    /// Chats an agent joined in the judged part (`customer.wait` samples).
    pub answered: u64,
}

/// The figures of one step's report.
pub fn step_checks(report: &Report) -> StepChecks {
    let checks = report
        .thresholds
        .iter()
        .map(|v| {
            let upper = v.stat != Stat::Min && v.limit_value > 0.0;
            Check {
                what: format!("{} {} {} {}", v.metric, v.stat, relation(v), limit_text(v)),
                observed: v.observed.map(|o| show(v.unit, o)),
                load_factor: v.observed.filter(|_| upper).map(|o| o / v.limit_value),
                passed: v.passed,
            }
        })
        .collect();
    let metrics = judged_latencies(&report.scenario);
    let samples =
        metrics.iter().map(|m| (m.to_string(), timed(report, *m).map_or(0, |t| t.count))).collect();
    let mut shown = metrics.clone();
    let wait = Metric::Customer(CustomerMetric::Wait);
    if !shown.contains(&wait) {
        shown.push(wait);
    }
    let latencies = shown
        .iter()
        .map(|m| {
            let p = timed(report, *m).and_then(|t| t.corrected);
            KeyLatency {
                metric: m.to_string(),
                p50_us: p.and_then(|p| p.us(Stat::P50)),
                p99_us: p.and_then(|p| p.us(Stat::P99)),
            }
        })
        .collect();
    StepChecks {
        checks,
        failures: failures(report),
        samples,
        latencies,
        answered: report.customers.wait.as_ref().map_or(0, |t| t.count),
    }
}

/// What the target achieved in a step's judged window, by when things happened (not by when
/// they were meant to start, as the headline histograms count): chats answered, operations
/// completed, and the window's length in seconds. `None` when no interval lies in the window.
pub fn achieved(points: &[Point], from: Duration, to: Duration) -> Option<(u64, u64, f64)> {
    let (from, to) = (from.as_millis() as u64, to.as_millis() as u64);
    // Intervals are a second long from the load's start; the last one of the load may end a few
    // milliseconds late (a late tick), which still counts as the window's.
    let inside: Vec<&Point> = points
        .iter()
        .filter(|p| p.start_ms >= from && p.start_ms < to && p.t_ms <= to + 500)
        .collect();
    let first = inside.iter().map(|p| p.start_ms).min()?;
    let last = inside.iter().map(|p| p.t_ms).max()?;
    let secs = (last.saturating_sub(first)) as f64 / 1000.0;
    let wait = Metric::Customer(CustomerMetric::Wait).to_string();
    let answered = inside.iter().map(|p| p.latency.get(&wait).map_or(0, |l| l.count)).sum();
    let ops = inside.iter().map(|p| p.ops).sum();
    (secs > 0.0).then_some((answered, ops, secs))
}

/// The sentence that states a search's result: the sustainable rate with the check closest to
/// its limit there, and the first failure with its reason (or why the search stopped).
pub fn headline(steps: &[StepRecord], finding: &Finding, settings: &Capacity) -> String {
    let step_at = |r: crate::scenario::Rate| steps.iter().find(|s| s.figures.offered == r);
    let mut out = match finding.capacity {
        Some(c) => {
            let tightest = step_at(c).and_then(|s| {
                s.figures.checks.iter().filter(|c| c.passed && c.load_factor.is_some()).max_by(
                    |a, b| {
                        a.load_factor
                            .partial_cmp(&b.load_factor)
                            .unwrap_or(std::cmp::Ordering::Equal)
                    },
                )
            });
            match tightest {
                Some(t) => format!(
                    "sustainable up to {} chats/s at {} (observed {})",
                    show_rate(c).trim_end_matches("/s"),
                    t.what,
                    t.observed.as_deref().unwrap_or("-")
                ),
                None => {
                    format!("sustainable up to {} chats/s", show_rate(c).trim_end_matches("/s"))
                }
            }
        }
        None => "no sustainable rate found".to_owned(),
    };
    match &finding.stop {
        Stop::Narrowed | Stop::NoGoodStep => {
            if let Some(b) = finding.first_failure {
                let why = step_at(b)
                    .and_then(|s| match &s.verdict {
                        Verdict::Bad { reasons } => reasons.first().cloned(),
                        _ => None,
                    })
                    .unwrap_or_default();
                let _ = write!(out, "; first failure at {}: {why}", show_rate(b));
            }
        }
        Stop::ReachedMax => {
            let _ = write!(
                out,
                "; no failure up to max {} (raise `max` to look further)",
                show_rate(settings.max)
            );
        }
        Stop::Inconclusive { at, reason } => {
            if let Some(b) = finding.first_failure {
                let _ = write!(out, "; first failure at {}", show_rate(b));
            }
            let _ = write!(out, "; search stopped at {}: inconclusive, {reason}", show_rate(*at));
        }
    }
    out
}

/// The terminal table: one row per step in the order run, then the headline.
pub fn render(r: &CapacityReport) -> String {
    let metrics: Vec<String> = r
        .steps
        .first()
        .map(|s| s.figures.latencies.iter().take(TABLE_METRICS).map(|l| l.metric.clone()).collect())
        .unwrap_or_default();
    let mut head =
        vec!["step".to_owned(), "offered/s".to_owned(), "chats/s".to_owned(), "ops/s".to_owned()];
    head.extend(metrics.iter().map(|m| format!("{m} p50/p99")));
    head.extend(["errors".to_owned(), "cpu".to_owned(), "verdict".to_owned()]);
    let mut rows = vec![head];
    for s in &r.steps {
        let f = &s.figures;
        let mut row = vec![
            s.step.to_string(),
            show_rate(f.offered).trim_end_matches("/s").to_owned(),
            format!("{:.2}", s.chats_per_s),
            format!("{:.1}", s.ops_per_s),
        ];
        for m in &metrics {
            let l = f.latencies.iter().find(|l| &l.metric == m);
            let us = |v: Option<u64>| v.map_or("-".to_owned(), |v| human_us(v as f64));
            row.push(format!("{}/{}", us(l.and_then(|l| l.p50_us)), us(l.and_then(|l| l.p99_us))));
        }
        row.push(f.errors.to_string());
        row.push(match (f.cpu_cores, f.server_cpu_cores) {
            (Some(c), Some(server)) => format!("{c:.2}+{server:.2}/{}", f.cores),
            (Some(c), None) => format!("{c:.2}/{}", f.cores),
            (None, _) => "-".to_owned(),
        });
        row.push(s.verdict.word().to_owned());
        rows.push(row);
    }
    let widths: Vec<usize> = (0..rows[0].len())
        .map(|i| rows.iter().map(|r| r.get(i).map_or(0, |c| c.chars().count())).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for row in &rows {
        let line: Vec<String> =
            row.iter().zip(&widths).map(|(c, w)| format!("{c:<w$}", w = *w)).collect();
        let _ = writeln!(out, "{}", line.join("  ").trim_end());
    }
    for s in &r.steps {
        match &s.verdict {
            Verdict::Good => {}
            Verdict::Bad { reasons } => {
                for why in reasons {
                    let _ = writeln!(
                        out,
                        "  step {} ({}): {why}",
                        s.step,
                        show_rate(s.figures.offered)
                    );
                }
            }
            Verdict::Inconclusive { reason } => {
                let _ = writeln!(
                    out,
                    "  step {} ({}): inconclusive, {reason}",
                    s.step,
                    show_rate(s.figures.offered)
                );
            }
        }
    }
    if r.steps.iter().any(|s| s.figures.server_cpu_cores.is_some()) {
        let _ = writeln!(out, "cpu: cores used by the simulator + the embedded server / cores");
    }
    let _ = writeln!(out, "\n{}", r.headline);
    if let Some(min) = r.min {
        let _ = writeln!(
            out,
            "required minimum {min}/s: {}",
            if r.meets_min { "met" } else { "NOT met" }
        );
    }
    out
}

/// Writes `capacity.json` and `capacity.html` into `dir` (atomically); returns their paths.
pub fn write(dir: &Path, r: &CapacityReport) -> Result<(PathBuf, PathBuf), ReportError> {
    let json = dir.join(CAPACITY_FILE);
    let mut text = serde_json::to_string_pretty(r)?;
    text.push('\n');
    write_atomic(&json, text.as_bytes())?;
    let html = dir.join(CAPACITY_HTML_FILE);
    write_atomic(&html, render_html(r).as_bytes())?;
    Ok((json, html))
}

/// The chart columns, sorted by offered rate (uPlot wants ascending x).
#[derive(Debug, Serialize)]
struct Columns {
    offered: Vec<f64>,
    chats_per_s: Vec<f64>,
    ops_per_s: Vec<f64>,
    error_pct: Vec<Option<f64>>,
    /// Per latency metric: its name and p99 in milliseconds per step.
    p99_ms: Vec<(String, Vec<Option<f64>>)>,
    capacity: Option<f64>,
}

fn columns(r: &CapacityReport) -> Columns {
    let mut steps: Vec<&StepRecord> = r.steps.iter().collect();
    steps.sort_by(|a, b| {
        a.figures.offered.partial_cmp(&b.figures.offered).unwrap_or(std::cmp::Ordering::Equal)
    });
    let metrics: Vec<String> = steps
        .first()
        .map(|s| s.figures.latencies.iter().map(|l| l.metric.clone()).collect())
        .unwrap_or_default();
    let p99_ms = metrics
        .iter()
        .map(|m| {
            let v = steps
                .iter()
                .map(|s| {
                    let l = s.figures.latencies.iter().find(|l| &l.metric == m)?;
                    l.p99_us.map(|us| us as f64 / 1000.0)
                })
                .collect();
            (m.clone(), v)
        })
        .collect();
    Columns {
        offered: steps.iter().map(|s| s.figures.offered.per_second()).collect(),
        chats_per_s: steps.iter().map(|s| s.chats_per_s).collect(),
        ops_per_s: steps.iter().map(|s| s.ops_per_s).collect(),
        error_pct: steps
            .iter()
            .map(|s| {
                let f = &s.figures;
                (f.operations > 0).then(|| f.errors as f64 * 100.0 / f.operations as f64)
            })
            .collect(),
        p99_ms,
        capacity: r.finding.capacity.map(|c| c.per_second()),
    }
}

/// Draws the three charts from the embedded columns; the capacity found is a dashed line.
const DRAW: &str = r#"
(function () {
  var d = JSON.parse(document.getElementById('gwsim-capacity').textContent);
  if (!d || !d.offered.length) return;
  var colors = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#8c564b'];
  function marker(u) {
    if (d.capacity == null) return;
    var x = u.valToPos(d.capacity, 'x', true), ctx = u.ctx;
    ctx.save(); ctx.setLineDash([6, 4]); ctx.strokeStyle = '#555';
    ctx.beginPath(); ctx.moveTo(x, u.bbox.top); ctx.lineTo(x, u.bbox.top + u.bbox.height); ctx.stroke();
    ctx.restore();
  }
  function chart(id, title, unit, series) {
    var el = document.getElementById(id);
    var opts = {
      title: title, width: Math.min(900, el.clientWidth || 900), height: 280,
      scales: { x: { time: false } },
      axes: [{ label: 'offered chats/s' }, { label: unit }],
      series: [{ label: 'offered/s' }].concat(series.map(function (s, i) {
        return { label: s[0], stroke: colors[i % colors.length], width: 2, points: { show: true, size: 6 } };
      })),
      hooks: { draw: [marker] }
    };
    new uPlot(opts, [d.offered].concat(series.map(function (s) { return s[1]; })), el);
  }
  chart('throughput', 'Throughput', 'per second',
        [['offered', d.offered], ['chats answered/s', d.chats_per_s], ['operations/s', d.ops_per_s]]);
  chart('p99', 'p99 latency', 'ms', d.p99_ms);
  chart('errors', 'Errors', '% of operations', [['errors %', d.error_pct]]);
})();
"#;

/// The whole `capacity.html` page: headline, table, charts, all in one file.
pub fn render_html(r: &CapacityReport) -> String {
    let blob = embed_json(&columns(r)).unwrap_or_else(|_| "null".to_owned());
    let mut h = String::with_capacity(UPLOT_JS.len() + 32 * 1024);
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>gwsim capacity: {name}</title>\n<style>\n{UPLOT_CSS}\n</style>\n<style>\n\
         body {{ font-family: system-ui, sans-serif; margin: 2em; color: #222; }}\n\
         table {{ border-collapse: collapse; }} td, th {{ padding: 2px 10px; text-align: right; }}\n\
         th {{ border-bottom: 1px solid #999; }} .bad {{ color: #b00; }} .inconclusive {{ color: #a60; }}\n\
         .chart {{ margin: 1.5em 0; }}\n</style>\n</head>\n<body>\n\
         <h1>Capacity: {name}</h1>\n<p><strong>{headline}</strong></p>\n",
        name = esc(&r.scenario),
        headline = esc(&r.headline)
    );
    if let Some(min) = r.min {
        let _ = writeln!(
            h,
            "<p>Required minimum {min}/s: {}</p>",
            if r.meets_min { "met" } else { "<span class=\"bad\">not met</span>" }
        );
    }
    h.push_str("<table>\n<tr><th>step</th><th>offered/s</th><th>chats/s</th><th>ops/s</th>");
    let metrics: Vec<String> = r
        .steps
        .first()
        .map(|s| s.figures.latencies.iter().map(|l| l.metric.clone()).collect())
        .unwrap_or_default();
    for m in &metrics {
        let _ = write!(h, "<th>{} p50</th><th>{} p99</th>", esc(m), esc(m));
    }
    h.push_str("<th>errors</th><th>verdict</th></tr>\n");
    for s in &r.steps {
        let f = &s.figures;
        let _ = write!(
            h,
            "<tr><td>{}</td><td>{}</td><td>{:.2}</td><td>{:.1}</td>",
            s.step,
            esc(show_rate(f.offered).trim_end_matches("/s")),
            s.chats_per_s,
            s.ops_per_s
        );
        for m in &metrics {
            let l = f.latencies.iter().find(|l| &l.metric == m);
            let us = |v: Option<u64>| v.map_or("-".to_owned(), |v| human_us(v as f64));
            let _ = write!(
                h,
                "<td>{}</td><td>{}</td>",
                us(l.and_then(|l| l.p50_us)),
                us(l.and_then(|l| l.p99_us))
            );
        }
        let class = match &s.verdict {
            Verdict::Good => "",
            Verdict::Bad { .. } => "bad",
            Verdict::Inconclusive { .. } => "inconclusive",
        };
        let _ = writeln!(
            h,
            "<td>{}</td><td class=\"{class}\">{}</td></tr>",
            f.errors,
            s.verdict.word()
        );
    }
    h.push_str("</table>\n<ul>\n");
    // Why each step was not good, below the table so long sentences do not stretch its rows.
    for s in &r.steps {
        let why = match &s.verdict {
            Verdict::Good => continue,
            Verdict::Bad { reasons } => reasons.join("; "),
            Verdict::Inconclusive { reason } => format!("inconclusive, {reason}"),
        };
        let _ = writeln!(
            h,
            "<li>step {} ({}): {}</li>",
            s.step,
            esc(&show_rate(s.figures.offered)),
            esc(&why)
        );
    }
    h.push_str("</ul>\n");
    h.push_str(
        "<div class=\"chart\" id=\"throughput\"></div>\n<div class=\"chart\" id=\"p99\"></div>\n\
         <div class=\"chart\" id=\"errors\"></div>\n\
         <p>The dashed line is the capacity found. Each step's own results (summary.json, latency.hlog, ...) \
         are in its <code>step-NN</code> directory; <code>gwsim report DIR/step-NN</code> draws its report.html.</p>\n",
    );
    let _ = write!(
        h,
        "<footer>Drawn with uPlot 1.6.32 (MIT license, embedded; license text below).\
         <details><summary>uPlot license</summary><pre>{}</pre></details></footer>\n\
         <script type=\"application/json\" id=\"gwsim-capacity\">{blob}</script>\n\
         <script>\n{UPLOT_JS}\n</script>\n<script>\n{DRAW}\n</script>\n</body>\n</html>\n",
        esc(UPLOT_LICENSE)
    );
    h
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::capacity::{Inconclusive, StepFigures};
    use crate::report::timeline::IntervalLatency;
    use crate::scenario::Rate;

    fn r(x: f64) -> Rate {
        Rate::from_per_second(x).unwrap()
    }

    fn point(start_s: u64, ops: u64, answered: u64) -> Point {
        let mut latency = BTreeMap::new();
        latency.insert(
            "customer.wait".to_owned(),
            IntervalLatency { count: answered, p50_us: 1, p99_us: 1, max_us: 1 },
        );
        Point {
            t_ms: (start_s + 1) * 1000,
            start_ms: start_s * 1000,
            warmup: false,
            ops,
            errors: 0,
            violations: 0,
            missed_starts: 0,
            latency,
            ..Point::default()
        }
    }

    #[test]
    fn achieved_counts_only_the_judged_window_by_when_things_happened() {
        // Warmup second 0, judged seconds 1..3, then two seconds of drain.
        let points: Vec<Point> = (0..6).map(|s| point(s, 10 + s, 2)).collect();
        let (answered, ops, secs) =
            achieved(&points, Duration::from_secs(1), Duration::from_secs(4)).unwrap();
        assert_eq!((answered, ops, secs), (6, 11 + 12 + 13, 3.0));
        assert_eq!(achieved(&[], Duration::ZERO, Duration::from_secs(1)), None);
    }

    fn step(n: usize, rate: f64, verdict: Verdict, wait_p99: &str, factor: f64) -> StepRecord {
        StepRecord {
            step: n,
            dir: format!("step-{n:02}"),
            figures: StepFigures {
                offered: r(rate),
                judged_secs: 10.0,
                arrivals: 100,
                answered: 100,
                operations: 300,
                errors: 1,
                violations: 0,
                missed_starts: 0,
                max_active: false,
                checks: vec![
                    Check {
                        what: "customer.wait p99 <= 1s".into(),
                        observed: Some(wait_p99.into()),
                        load_factor: Some(factor),
                        passed: factor <= 1.0,
                    },
                    Check {
                        what: "Accept.response p99 <= 250ms".into(),
                        observed: Some("20ms".into()),
                        load_factor: Some(0.08),
                        passed: true,
                    },
                ],
                failures: Vec::new(),
                samples: Vec::new(),
                cpu_cores: Some(0.1),
                server_cpu_cores: Some(0.3),
                cores: 2.0,
                lag_p99_us: Some(500),
                lag_max_us: Some(900),
                partial: false,
                latencies: vec![KeyLatency {
                    metric: "customer.wait".into(),
                    p50_us: Some(10_000),
                    p99_us: Some(20_000),
                }],
            },
            chats_per_s: 10.0,
            ops_per_s: 30.0,
            verdict,
        }
    }

    #[test]
    fn the_headline_names_the_tightest_check_and_the_first_failure() {
        let bad = Verdict::Bad {
            reasons: vec!["threshold customer.wait p99 <= 1s failed: observed 1.2s".into()],
        };
        let steps = vec![
            step(1, 8.0, Verdict::Good, "400ms", 0.4),
            step(2, 9.0, bad, "1.2s", 1.2),
            step(3, 8.5, Verdict::Good, "700ms", 0.7),
        ];
        let finding =
            Finding { capacity: Some(r(8.5)), first_failure: Some(r(9.0)), stop: Stop::Narrowed };
        let settings = Capacity::default();
        assert_eq!(
            headline(&steps, &finding, &settings),
            "sustainable up to 8.5 chats/s at customer.wait p99 <= 1s (observed 700ms); \
             first failure at 9/s: threshold customer.wait p99 <= 1s failed: observed 1.2s"
        );
        let stopped = Finding {
            capacity: Some(r(8.0)),
            first_failure: None,
            stop: Stop::Inconclusive {
                at: r(9.0),
                reason: Inconclusive::GeneratorLimited { why: "cpu".into() },
            },
        };
        let h = headline(&steps, &stopped, &settings);
        assert!(h.ends_with("search stopped at 9/s: inconclusive, generator-limited: cpu"), "{h}");
        let report = CapacityReport {
            schema: CAPACITY_SCHEMA,
            scenario: "knee <x>".into(),
            target: None,
            started: String::new(),
            ended: String::new(),
            settings,
            steps,
            margin: finding.margin(),
            finding,
            headline: "h".into(),
            min: Some(8.0),
            meets_min: true,
        };
        let table = render(&report);
        assert!(table.contains("step 2 (9/s): threshold customer.wait"), "{table}");
        assert!(table.contains("required minimum 8/s: met"), "{table}");
        // The simulator's cores and the embedded server's, apart.
        assert!(
            table.contains("0.10+0.30/2") && table.contains("+ the embedded server"),
            "{table}"
        );
        // The page is self-contained and escapes what came from input.
        let html = render_html(&report);
        assert!(html.contains("knee &lt;x&gt;") && !html.contains("<script src"));
        // uPlot wants ascending x: the chart data is sorted by offered rate.
        assert!(html.contains(r#""offered":[8.0,8.5,9.0]"#), "chart data is sorted");
    }
}
