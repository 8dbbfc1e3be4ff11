//! `report.html`: one self-contained page a person reads after a run (design.md "Outputs").
//!
//! The page is static HTML for everything textual (header, verdicts, tables, the scenario), so it
//! reads even where scripts are off, plus one embedded JSON blob with the chart data (percentile
//! spectra, the time series) and a small script that draws it with the vendored uPlot
//! (`assets/`, uPlot 1.6.32, MIT). Nothing is loaded from the network when the page is viewed.
//!
//! Every string that comes from input (scenario names, agent names, violation text) is escaped
//! for HTML where it is written, and the JSON blob escapes `<`, `>` and `&` as `\u00XX`, so no
//! input can close the `<script>` element it sits in.

#[cfg(test)]
mod tests;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use hdrhistogram::Histogram;
use serde::Serialize;

use super::files::{REPORT_FILE, write_atomic};
use super::readback::Histograms;
use super::spectrum::{Spectrum, spectrum};
use super::timeline::{Point, latency_metrics};
use super::{
    ExitStatus, Percentiles, Report, ReportError, ScenarioView, TimedReport, Unit, human_us,
};
use crate::metrics::Recorder;
use crate::vocab::{CustomerMetric, Metric, OpMetric};

/// uPlot 1.6.32 (npm `uplot`), MIT license: see `assets/README.md` and `assets/uPlot.LICENSE`.
pub(super) const UPLOT_JS: &str = include_str!("../assets/uPlot.iife.min.js");
pub(super) const UPLOT_CSS: &str = include_str!("../assets/uPlot.min.css");
pub(super) const UPLOT_LICENSE: &str = include_str!("../assets/uPlot.LICENSE");
/// The drawing script and the page's own style (ours, not vendored).
const DRAW_JS: &str = include_str!("../assets/draw.js");
pub(super) const PAGE_CSS: &str = include_str!("../assets/page.css");

/// `id` of the `<script type="application/json">` element holding [`ChartData`].
pub const DATA_ELEMENT_ID: &str = "gwsim-data";

/// Everything the charts draw, embedded in the page as one JSON blob.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChartData {
    /// One per latency metric with samples, in the report's order (operations, then customers).
    pub spectra: Vec<SpectrumSeries>,
    pub timeline: Timeline,
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
    /// Operations per second in each interval.
    pub ops_per_s: Vec<Option<f64>>,
    /// Errors / operations in each interval, in percent; `None` in an interval with no operation.
    pub error_pct: Vec<Option<f64>>,
    pub violations: Vec<u64>,
    pub missed_starts: Vec<u64>,
    /// Per metric (sorted by name), p50 and p99 in microseconds.
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
/// [`PageHistograms::stored`] from `latency.hlog` when `gwsim report` re-renders one. The page
/// is a function of this form, the report and the time series, whichever way it came.
#[derive(Debug, Clone, Default)]
pub struct PageHistograms {
    pub corrected: Histograms,
    /// Empty for a run read back: the interval log holds corrected values only.
    pub raw: Histograms,
}

impl PageHistograms {
    /// A finished run's histograms (measured samples; warmup is not in them).
    pub fn from_recorder(recorder: &Recorder) -> PageHistograms {
        let corrected = latency_metrics(recorder)
            .into_iter()
            .map(|(name, h)| (name, h.inner().clone()))
            .collect();
        let mut raw = Histograms::new();
        for (op, stats) in recorder.ops() {
            for kind in [OpMetric::Response, OpMetric::Settle] {
                if let Some(t) = stats.timed(kind) {
                    let name = Metric::Op(op, kind).to_string();
                    raw.insert(name, t.latency.raw().inner().clone());
                }
            }
        }
        PageHistograms { corrected, raw }
    }

    /// A run read back from its results directory: the histograms of its `latency.hlog`, if it
    /// has one.
    pub fn stored(histograms: Option<Histograms>) -> PageHistograms {
        PageHistograms { corrected: histograms.unwrap_or_default(), raw: Histograms::new() }
    }
}

/// The chart data of a run: spectra in the order of `report` (its operations' response and
/// settle, then the customer metrics), and the time series.
pub fn chart_data<S>(
    report: &Report<S>,
    histograms: &PageHistograms,
    timeline: &[Point],
) -> ChartData {
    let mut names: Vec<String> = Vec::new();
    for op in &report.operations {
        for kind in [OpMetric::Response, OpMetric::Settle] {
            names.push(Metric::Op(op.name, kind).to_string());
        }
    }
    for c in [CustomerMetric::Wait, CustomerMetric::ToAgent, CustomerMetric::ToCustomer] {
        names.push(Metric::Customer(c).to_string());
    }
    let mut spectra = Vec::new();
    for name in names {
        if let Some(h) = histograms.corrected.get(&name) {
            let raw = histograms.raw.get(&name);
            spectra.extend(spectrum_series(name, h, raw));
        }
    }
    ChartData { spectra, timeline: columns(timeline) }
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

fn columns(points: &[Point]) -> Timeline {
    let mut t = Timeline::default();
    let names: std::collections::BTreeSet<&String> =
        points.iter().flat_map(|p| p.latency.keys()).collect();
    t.latency = names
        .into_iter()
        .map(|m| IntervalSeries { metric: m.clone(), ..IntervalSeries::default() })
        .collect();
    let mut prev_ms = 0;
    for p in points {
        // Intervals are nominally one second; dividing by the real length keeps a short last
        // interval (the end of drain) from looking like a drop in throughput.
        let dt_ms = p.t_ms.saturating_sub(prev_ms);
        prev_ms = p.t_ms;
        t.t_s.push(p.t_ms as f64 / 1000.0);
        t.ops_per_s.push((dt_ms > 0).then(|| round3(p.ops as f64 * 1000.0 / dt_ms as f64)));
        t.error_pct.push((p.ops > 0).then(|| round3(p.errors as f64 * 100.0 / p.ops as f64)));
        t.violations.push(p.violations);
        t.missed_starts.push(p.missed_starts);
        for series in &mut t.latency {
            let l = p.latency.get(&series.metric);
            series.p50_us.push(l.map(|l| l.p50_us));
            series.p99_us.push(l.map(|l| l.p99_us));
        }
    }
    t
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// Serializes `value` for a `<script type="application/json">` element: `<`, `>` and `&` become
/// JSON `\u00XX` escapes (the same string to `JSON.parse`), so no input text can form
/// `</script>` or `<!--` inside the element.
pub fn embed_json<T: Serialize>(value: &T) -> Result<String, serde_json::Error> {
    let json = serde_json::to_string(value)?;
    let mut out = String::with_capacity(json.len() + 64);
    for ch in json.chars() {
        match ch {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            // Valid in JSON, but line terminators in older JavaScript; escaped for any reader
            // that evaluates the blob rather than parsing it.
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c => out.push(c),
        }
    }
    Ok(out)
}

/// Escapes text for HTML element content and quoted attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Renders the page and writes it to `dir/report.html` atomically (like `summary.json`); returns
/// its path.
pub fn write_html<S: ScenarioView + Serialize>(
    dir: &Path,
    report: &Report<S>,
    histograms: &PageHistograms,
    timeline: &[Point],
) -> Result<PathBuf, ReportError> {
    let path = dir.join(REPORT_FILE);
    write_atomic(&path, render_html(report, histograms, timeline).as_bytes())?;
    Ok(path)
}

/// The whole page.
pub fn render_html<S: ScenarioView + Serialize>(
    report: &Report<S>,
    histograms: &PageHistograms,
    timeline: &[Point],
) -> String {
    page(report, &chart_data(report, histograms, timeline))
}

fn page<S: ScenarioView + Serialize>(report: &Report<S>, data: &ChartData) -> String {
    // Serializing plain structs of numbers and strings cannot fail; should it anyway, the page
    // still carries every table and says the charts are missing instead of failing the run.
    let blob = embed_json(data).unwrap_or_else(|_| "null".to_owned());
    let mut h = String::with_capacity(UPLOT_JS.len() + 64 * 1024);
    let name = report.scenario.name();
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>gwsim report: {}</title>\n<style>\n{}\n</style>\n<style>\n{}\n</style>\n</head>\n<body>\n",
        esc(name),
        UPLOT_CSS,
        PAGE_CSS
    );
    header(&mut h, report);
    thresholds(&mut h, report);
    operations(&mut h, report);
    charts(&mut h, data);
    over_time(&mut h, data);
    violations(&mut h, report, data);
    customers(&mut h, report);
    scenario(&mut h, report);
    let _ = write!(
        h,
        "<footer>Drawn with uPlot 1.6.32 (MIT license, embedded; license text below).\
         <details><summary>uPlot license</summary><pre>{}</pre></details></footer>\n\
         <script type=\"application/json\" id=\"{DATA_ELEMENT_ID}\">{blob}</script>\n\
         <script>\n{UPLOT_JS}\n</script>\n<script>\n{DRAW_JS}\n</script>\n</body>\n</html>\n",
        esc(UPLOT_LICENSE)
    );
    h
}

fn label<T: Serialize>(v: &T) -> String {
    match serde_json::to_value(v) {
        Ok(serde_json::Value::String(s)) => s,
        Ok(other) => other.to_string(),
        Err(_) => String::from("?"),
    }
}

fn header<S: ScenarioView + Serialize>(h: &mut String, r: &Report<S>) {
    let (class, result) = match r.exit.status {
        ExitStatus::Pass => ("pass", "PASS"),
        ExitStatus::ChecksFailed => ("fail", "CHECKS FAILED"),
        ExitStatus::Interrupted => ("partial", "INTERRUPTED"),
    };
    let _ = write!(
        h,
        "<header>\n<h1>gwsim report: {name}</h1>\n\
         <p class=\"result {class}\" id=\"result\">{result} <span class=\"exit\">exit {code}</span></p>\n",
        name = esc(r.scenario.name()),
        code = r.exit.code
    );
    if !r.exit.reasons.is_empty() {
        h.push_str("<ul class=\"reasons\">\n");
        for reason in &r.exit.reasons {
            let _ = writeln!(h, "<li>{}</li>", esc(reason));
        }
        h.push_str("</ul>\n");
    }
    if !r.warnings.is_empty() {
        h.push_str("<ul class=\"warnings\">\n");
        for w in &r.warnings {
            let _ = writeln!(h, "<li>warning: {}</li>", esc(w));
        }
        h.push_str("</ul>\n");
    }
    let t = &r.target;
    let rows = [
        ("Scenario", esc(r.scenario.name())),
        ("Seed", r.seed.to_string()),
        ("Versions", format!("gwsim {}", esc(&r.versions.gwsim))),
        (
            "Target",
            format!(
                "{} {} ({}, {})",
                t.kind,
                esc(&t.base_url),
                esc(&label(&t.transport)),
                esc(&label(&t.media))
            ),
        ),
        ("Started", esc(&r.started)),
        ("Ended", esc(&r.ended)),
        ("Duration", format!("{:.1} s", r.duration_ms as f64 / 1000.0)),
        (
            "Counts",
            format!(
                "{} operations, {} errors, {} violations, {} reconnects, {} missed starts, \
                 {} abandoned",
                r.counts.operations,
                r.counts.errors,
                r.counts.violations,
                r.counts.reconnects,
                r.counts.missed_starts,
                r.counts.abandoned
            ),
        ),
    ];
    h.push_str("<table class=\"meta\">\n");
    for (k, v) in rows {
        let _ = writeln!(h, "<tr><th>{k}</th><td>{v}</td></tr>");
    }
    h.push_str("</table>\n</header>\n");
}

fn value_in(unit: Unit, v: f64) -> String {
    match unit {
        Unit::Us => human_us(v),
        Unit::Count => format!("{v:.0}"),
        Unit::Fraction => format!("{:.3}%", v * 100.0),
    }
}

fn thresholds<S: ScenarioView + Serialize>(h: &mut String, r: &Report<S>) {
    h.push_str("<section id=\"thresholds\">\n<h2>Thresholds</h2>\n");
    if r.thresholds.is_empty() {
        h.push_str("<p class=\"empty\">The scenario sets no thresholds.</p>\n</section>\n");
        return;
    }
    h.push_str(
        "<table>\n<thead><tr><th>Metric</th><th>Stat</th><th>Limit</th><th>Observed</th>\
         <th>Verdict</th></tr></thead>\n<tbody>\n",
    );
    for t in &r.thresholds {
        let observed = t.observed.map_or_else(|| "no data".to_owned(), |v| value_in(t.unit, v));
        let cmp = if t.stat.as_str() == "min" { "≥" } else { "≤" };
        let outcome = label(&t.outcome);
        let _ = writeln!(
            h,
            "<tr class=\"{cls}\"><td>{}</td><td>{}</td><td>{cmp} {}</td><td>{}</td>\
             <td class=\"verdict\">{}</td></tr>",
            esc(&t.metric.to_string()),
            esc(t.stat.as_str()),
            esc(&value_in(t.unit, t.limit_value)),
            esc(&observed),
            esc(&outcome.to_uppercase()),
            cls = if t.passed { "pass" } else { "fail" },
        );
    }
    h.push_str("</tbody>\n</table>\n</section>\n");
}

/// A latency cell: corrected, with raw beneath in smaller text when it differs.
fn cell(c: Option<u64>, raw: Option<u64>) -> String {
    match (c, raw) {
        (None, _) => "<td class=\"num\">–</td>".to_owned(),
        (Some(c), Some(r)) if r != c => format!(
            "<td class=\"num\">{}<br><small class=\"raw\">{}</small></td>",
            human_us(c as f64),
            human_us(r as f64)
        ),
        (Some(c), _) => format!("<td class=\"num\">{}</td>", human_us(c as f64)),
    }
}

fn latency_cells(t: Option<&TimedReport>) -> String {
    let c = t.and_then(|t| t.corrected);
    let raw = t.and_then(|t| t.raw);
    Percentiles::columns()
        .map(|s| cell(c.as_ref().and_then(|p| p.us(s)), raw.as_ref().and_then(|p| p.us(s))))
        .collect()
}

/// The header cells of the latency columns, one per [`Percentiles::columns`].
fn latency_head() -> String {
    Percentiles::columns().map(|s| format!("<th>{s}</th>")).collect()
}

fn operations<S: ScenarioView + Serialize>(h: &mut String, r: &Report<S>) {
    h.push_str("<section id=\"operations\">\n<h2>Operations</h2>\n");
    if r.operations.is_empty() {
        h.push_str("<p class=\"empty\">No operation was measured.</p>\n</section>\n");
        return;
    }
    let _ = write!(
        h,
        "<p class=\"note\">Latencies are corrected for coordinated omission (from the intended \
         start); <small class=\"raw\">raw</small> (from when the request left) is shown beneath \
         where it differs.</p>\n<table>\n<thead><tr><th>Operation</th><th>Metric</th>\
         <th>Count</th><th>Errors</th>{}</tr></thead>\n<tbody>\n",
        latency_head()
    );
    for op in &r.operations {
        let errors = if op.errors_by_kind.is_empty() {
            op.errors.to_string()
        } else {
            let kinds: Vec<String> =
                op.errors_by_kind.iter().map(|(k, n)| format!("{} {n}", esc(k))).collect();
            format!("{}<br><small>{}</small>", op.errors, kinds.join(", "))
        };
        let timed: Vec<(&str, &TimedReport)> =
            [("response", op.response.as_ref()), ("settle", op.settle.as_ref())]
                .into_iter()
                .filter_map(|(k, t)| t.map(|t| (k, t)))
                .collect();
        let span = timed.len().max(1);
        let lead = format!(
            "<td rowspan=\"{span}\" class=\"op\">{}<br><small>{}</small></td>",
            esc(op.name.as_str()),
            op.kind.as_str()
        );
        let tail = format!("<td rowspan=\"{span}\" class=\"num\">{}</td>", op.count);
        let errs = format!("<td rowspan=\"{span}\" class=\"num\">{errors}</td>");
        if timed.is_empty() {
            let _ = writeln!(h, "<tr>{lead}<td>–</td>{tail}{errs}{}</tr>", latency_cells(None));
        }
        for (i, (kind, t)) in timed.iter().enumerate() {
            let first = if i == 0 { lead.as_str() } else { "" };
            let mid = if i == 0 { format!("{tail}{errs}") } else { String::new() };
            let _ = writeln!(
                h,
                "<tr>{first}<td>{kind}<br><small>{} sample{}</small></td>{mid}{}</tr>",
                t.count,
                if t.count == 1 { "" } else { "s" },
                latency_cells(Some(t))
            );
        }
    }
    h.push_str("</tbody>\n</table>\n</section>\n");
}

fn charts(h: &mut String, data: &ChartData) {
    h.push_str(
        "<section id=\"spectra\">\n<h2>Latency percentile spectra</h2>\n\
         <p class=\"note\">Latency by percentile, as HdrHistogram plots it: the percentile axis is \
         logarithmic in 1/(1 − percentile), so 90%, 99%, 99.9% are evenly spaced. Corrected \
         (from the intended start) against raw (from when the request left); where only one \
         line shows, they are identical.</p>\n",
    );
    if data.spectra.is_empty() {
        h.push_str("<p class=\"empty\">No latency was measured.</p>\n</section>\n");
        return;
    }
    h.push_str("<div class=\"grid\">\n");
    for (i, s) in data.spectra.iter().enumerate() {
        let _ = writeln!(
            h,
            "<figure><figcaption>{}</figcaption><div class=\"chart\" data-chart=\"spectrum\" \
             data-index=\"{i}\"></div></figure>",
            esc(&s.metric)
        );
    }
    h.push_str("</div>\n</section>\n");
}

fn no_series(h: &mut String) {
    h.push_str("<p class=\"empty\">No time series: this run recorded no intervals.</p>\n");
}

fn over_time(h: &mut String, data: &ChartData) {
    h.push_str("<section id=\"over-time\">\n<h2>Over time</h2>\n");
    if data.timeline.t_s.is_empty() {
        no_series(h);
        h.push_str("</section>\n");
        return;
    }
    h.push_str(
        "<h3>Throughput and error rate</h3>\n\
         <div class=\"chart wide\" data-chart=\"throughput\"></div>\n\
         <h3>Latency p50 and p99 per interval (corrected)</h3>\n<div class=\"grid\">\n",
    );
    for (i, series) in data.timeline.latency.iter().enumerate() {
        let _ = writeln!(
            h,
            "<figure><figcaption>{}</figcaption><div class=\"chart\" data-chart=\"latency\" \
             data-index=\"{i}\"></div></figure>",
            esc(&series.metric)
        );
    }
    h.push_str("</div>\n</section>\n");
}

fn violations<S: ScenarioView + Serialize>(h: &mut String, r: &Report<S>, data: &ChartData) {
    let v = &r.violations;
    let _ = writeln!(h, "<section id=\"violations\">\n<h2>Ordering violations: {}</h2>", v.total);
    h.push_str("<table class=\"kinds\">\n<tr>");
    let by_name = v.by_name();
    for (k, _) in &by_name {
        let _ = write!(h, "<th>{k}</th>");
    }
    h.push_str("</tr>\n<tr>");
    for (_, n) in &by_name {
        let _ = write!(h, "<td class=\"num{}\">{n}</td>", if *n > 0 { " bad" } else { "" });
    }
    h.push_str("</tr>\n</table>\n<h3>Violations and missed starts over time</h3>\n");
    if data.timeline.t_s.is_empty() {
        no_series(h);
    } else {
        h.push_str("<div class=\"chart wide\" data-chart=\"violations\"></div>\n");
    }
    if v.first.is_empty() {
        h.push_str("<p class=\"empty\">No violation was recorded.</p>\n</section>\n");
        return;
    }
    let _ = write!(
        h,
        "<h3>First {} violations</h3>\n<table id=\"first-violations\">\n<thead><tr><th>At</th>\
         <th>Kind</th><th>Agent</th><th>Interaction</th><th>Expected</th><th>Got</th>\
         <th>Context (events before, oldest first)</th></tr></thead>\n<tbody>\n",
        v.first.len()
    );
    for x in &v.first {
        let context: Vec<String> =
            x.context.iter().map(|c| format!("<li><code>{}</code></li>", esc(c))).collect();
        let _ = writeln!(
            h,
            "<tr><td class=\"num\">{:.3} s</td><td>{}</td><td>{}</td><td><code>{}</code></td>\
             <td><code>{}</code></td><td><code>{}</code></td><td><ol class=\"context\">{}</ol></td></tr>",
            x.at_ms as f64 / 1000.0,
            x.kind,
            esc(&x.agent),
            esc(&x.interaction),
            esc(&x.expected),
            esc(&x.got),
            context.join("")
        );
    }
    h.push_str("</tbody>\n</table>\n</section>\n");
}

fn customers<S: ScenarioView + Serialize>(h: &mut String, r: &Report<S>) {
    let c = &r.customers;
    let _ = write!(
        h,
        "<section id=\"customers\">\n<h2>Customers</h2>\n<p>{} abandoned ({} during warmup, not \
         counted).</p>\n<table>\n<thead><tr><th>Metric</th><th>Count</th>{}</tr>\
         </thead>\n<tbody>\n",
        c.abandoned,
        c.abandoned_warmup,
        latency_head()
    );
    for (name, t) in [("wait", &c.wait), ("to_agent", &c.to_agent), ("to_customer", &c.to_customer)]
    {
        let count = t.as_ref().map_or(0, |t| t.count);
        let _ = writeln!(
            h,
            "<tr><td>customer.{name}</td><td class=\"num\">{count}</td>{}</tr>",
            latency_cells(t.as_ref())
        );
    }
    h.push_str("</tbody>\n</table>\n</section>\n");
}

fn scenario<S: ScenarioView + Serialize>(h: &mut String, r: &Report<S>) {
    let text = serde_json::to_string_pretty(&r.scenario)
        .unwrap_or_else(|e| format!("(the scenario could not be shown: {e})"));
    let _ = write!(
        h,
        "<section id=\"scenario\">\n<h2>Scenario</h2>\n<details><summary>The resolved scenario \
         (CLI overrides applied, as in summary.json)</summary>\n<pre>{}</pre>\n</details>\n</section>\n",
        esc(&text)
    );
}
