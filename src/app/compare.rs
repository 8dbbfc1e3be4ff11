//! `gwsim compare BASELINE CURRENT`: a run against its baseline, exit 1 on a regression.

use std::path::Path;

use anyhow::{Context, Result};

use super::Outcome;
use crate::cli::CompareArgs;

/// `gwsim compare`: 0 no regression, 1 a regression; an unreadable run or a bad tolerance is an
/// error (exit 2).
pub(super) fn compare(args: CompareArgs) -> Result<Outcome> {
    use crate::report::compare::{self, Tolerances};
    use crate::report::readback;
    use std::io::Write as _;
    let mut tolerances = Tolerances::default();
    if let Some(list) = &args.tolerance {
        tolerances.set_relative(list).context("--tolerance")?;
    }
    if let Some(list) = &args.absolute {
        tolerances.set_absolute(list).context("--absolute")?;
    }
    tolerances.strict_tails = args.strict_tails;
    let mut baseline =
        readback::read_run(&args.baseline).context("cannot read the baseline run")?;
    let mut current = readback::read_run(&args.current).context("cannot read the current run")?;
    // `totals.hlog` holds exactly the samples `summary.json`'s figures came from (login phase
    // included, warmup left out); `latency.hlog` includes warmup. Both runs use the totals when
    // both have them, so the two sides of a row are always the same kind of histogram.
    let (bt, ct) = (totals(&baseline.dir)?, totals(&current.dir)?);
    if let (Some(b), Some(c)) = (bt, ct) {
        baseline.histograms = Some(b);
        current.histograms = Some(c);
    }
    let (b_label, c_label) =
        (args.baseline.display().to_string(), args.current.display().to_string());
    let (bi, ci) = (intervals(&baseline.dir)?, intervals(&current.dir)?);
    let comparison = compare::compare(
        compare::Run {
            label: &b_label,
            report: &baseline.report,
            histograms: baseline.histograms.as_ref(),
            intervals: bi.as_ref(),
        },
        compare::Run {
            label: &c_label,
            report: &current.report,
            histograms: current.histograms.as_ref(),
            intervals: ci.as_ref(),
        },
        &tolerances,
    );
    let mut out = std::io::stdout().lock();
    if args.json {
        serde_json::to_writer_pretty(&mut out, &comparison)?;
        writeln!(out)?;
    } else {
        write!(out, "{}", compare::render_comparison(&comparison))?;
    }
    Ok(if comparison.exit_code() == 0 { Outcome::Ok } else { Outcome::ChecksFailed })
}

/// The run's `totals.hlog`, or `None` when it has none; unreadable is an error (exit 2).
fn totals(dir: &Path) -> Result<Option<crate::report::readback::Histograms>> {
    use crate::report::{files::TOTALS_FILE, readback};
    let path = dir.join(TOTALS_FILE);
    readback::optional(&path, readback::read_hlog)
        .with_context(|| format!("cannot read {}", path.display()))
}

/// The run's `latency.hlog` interval by interval, or `None` when it has none.
fn intervals(dir: &Path) -> Result<Option<crate::report::readback::Intervals>> {
    use crate::report::{files::HLOG_FILE, readback};
    let path = dir.join(HLOG_FILE);
    readback::optional(&path, readback::read_hlog_intervals)
        .with_context(|| format!("cannot read {}", path.display()))
}
