//! `gwsim compare BASELINE CURRENT`: a run against its baseline, exit 1 on a regression.

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
    let baseline = readback::read_run(&args.baseline).context("cannot read the baseline run")?;
    let current = readback::read_run(&args.current).context("cannot read the current run")?;
    let (b_label, c_label) =
        (args.baseline.display().to_string(), args.current.display().to_string());
    let comparison = compare::compare(
        compare::Run {
            label: &b_label,
            report: &baseline.report,
            histograms: baseline.histograms.as_ref(),
        },
        compare::Run {
            label: &c_label,
            report: &current.report,
            histograms: current.histograms.as_ref(),
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
