//! `report.html`: one self-contained page a person reads after a run (design.md "Outputs"), in
//! the order a capacity planner reads it: the headline figures first, customer wait next, then
//! the grouped charts and tables (`sections`).
//!
//! The page is static HTML for everything textual (headline, verdicts, tables, the scenario), so
//! it reads even where scripts are off, plus one embedded JSON blob with the chart data
//! (`data`: percentile spectra, the time series as columns, the phases) and a small script that
//! draws it with the vendored uPlot (`assets/`, uPlot 1.6.32, MIT). Nothing is loaded from the
//! network when the page is viewed.
//!
//! Every string that comes from input (scenario names, agent names, violation text) is escaped
//! for HTML where it is written, and the JSON blob escapes `<`, `>` and `&` as `\u00XX`, so no
//! input can close the `<script>` element it sits in.

mod data;
mod faults;
mod sections;
#[cfg(test)]
mod tests;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::files::{REPORT_FILE, write_atomic};
use super::timeline::Point;
use super::{Report, ReportError, ScenarioView};

pub use data::{
    ChartData, Headline, IntervalSeries, KeyLatency, PageHistograms, Phase, PhaseSpan,
    SpectrumSeries, Timeline, chart_data, headline, phase_spans,
};

/// uPlot 1.6.32 (npm `uplot`), MIT license: see `assets/README.md` and `assets/uPlot.LICENSE`.
pub(super) const UPLOT_JS: &str = include_str!("../assets/uPlot.iife.min.js");
pub(super) const UPLOT_CSS: &str = include_str!("../assets/uPlot.min.css");
pub(super) const UPLOT_LICENSE: &str = include_str!("../assets/uPlot.LICENSE");
/// The drawing script and the page's own style (ours, not vendored).
const DRAW_JS: &str = include_str!("../assets/draw.js");
pub(super) const PAGE_CSS: &str = include_str!("../assets/page.css");

/// `id` of the `<script type="application/json">` element holding [`ChartData`].
pub const DATA_ELEMENT_ID: &str = "gwsim-data";

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
    let data = chart_data(report, histograms, timeline);
    let hl = headline(report, timeline, &data.phases);
    page(report, &hl, &data)
}

fn page<S: ScenarioView + Serialize>(
    report: &Report<S>,
    hl: &Headline,
    data: &ChartData,
) -> String {
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
    sections::nav(&mut h, report.faults.is_some());
    sections::headline(&mut h, report, hl, data);
    sections::customers(&mut h, report, data);
    sections::throughput(&mut h, data);
    sections::latency(&mut h, report, data);
    sections::errors(&mut h, report, data);
    faults::faults(&mut h, report);
    sections::thresholds(&mut h, report);
    sections::run(&mut h, report);
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
