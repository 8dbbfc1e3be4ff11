//! `gwsim report DIR`: a finished run's terminal summary and `report.html` again, from its
//! results directory.

use std::path::Path;

use anyhow::{Context, Result};

use super::Outcome;
use crate::cli::ReportArgs;
use crate::report;

/// Everything re-rendering a finished run needs, read from its results directory: the report
/// from `summary.json`, and, when the run wrote them, its histograms (`totals.hlog`, or
/// `latency.hlog` for a run from before that file) and its time series (`timeline.jsonl`). The
/// HTML renderer takes these; the terminal table needs only the report.
#[derive(Debug)]
pub struct RenderInputs {
    pub report: report::StoredReport,
    pub histograms: report::html::PageHistograms,
    pub timeline: Option<Vec<report::timeline::Point>>,
}

/// Reads a results directory (or a `summary.json` path and the directory it is in) for
/// re-rendering.
pub fn render_inputs(path: &Path) -> Result<RenderInputs> {
    use crate::report::readback;
    let files = readback::read_run(path)?;
    let timeline = readback::optional(
        &files.dir.join(report::files::TIMELINE_FILE),
        report::timeline::read_timeline,
    )?;
    let histograms = report::html::PageHistograms::stored(files.totals.as_ref(), files.histograms);
    Ok(RenderInputs { report: files.report, histograms, timeline })
}

/// `gwsim report DIR`: prints the run's terminal summary again. Exit 0 when it could be read,
/// whatever the run's own verdict (that is the run's exit code, kept in `summary.json`).
pub(super) fn rerender(args: ReportArgs) -> Result<Outcome> {
    use std::io::Write as _;
    let inputs = render_inputs(&args.dir)
        .with_context(|| format!("cannot re-render {}", args.dir.display()))?;
    let dir = if args.dir.is_dir() {
        args.dir.clone()
    } else {
        args.dir.parent().map(Path::to_path_buf).unwrap_or_default()
    };
    let html = report::write_html(
        &dir,
        &inputs.report,
        &inputs.histograms,
        inputs.timeline.as_deref().unwrap_or_default(),
    )?;
    let mut out = std::io::stdout().lock();
    write!(out, "{}", report::render(&inputs.report))?;
    writeln!(out, "report: {}", html.display())?;
    Ok(Outcome::Ok)
}
