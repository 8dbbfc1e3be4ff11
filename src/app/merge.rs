//! `gwsim merge SHARD_DIR... --out DIR`: the shards of one run joined into one run's results
//! (`report::merge` does the joining; this reads the directories and writes the outputs).

use std::path::Path;

use anyhow::{Context, Result};

use super::Outcome;
use crate::cli::MergeArgs;
use crate::report::{self, files, merge, readback};

/// Reads one shard's results directory: its summary, its exact histograms, its interval log and
/// its timeline.
fn read_shard(dir: &Path) -> Result<merge::ShardRun, String> {
    let source = dir.display().to_string();
    let report = readback::read_summary(&files::summary_path(dir)).map_err(|e| e.to_string())?;
    let totals_path = dir.join(files::TOTALS_FILE);
    let totals = readback::read_hlog(&totals_path).map_err(|e| {
        format!("{e} (a shard's results hold {}; was it run with --shard?)", files::TOTALS_FILE)
    })?;
    let hlog_path = dir.join(files::HLOG_FILE);
    let hlog = std::fs::read(&hlog_path)
        .map_err(|e| format!("cannot read {}: {e}", hlog_path.display()))?;
    // A shard killed before its first interval has no timeline; the merge draws what there is.
    let timeline_path = dir.join(files::TIMELINE_FILE);
    let timeline = readback::optional(&timeline_path, report::timeline::read_timeline)
        .map_err(|e| e.to_string())?
        .unwrap_or_default();
    Ok(merge::ShardRun { source, report, totals, hlog, timeline })
}

pub(super) fn merge(args: MergeArgs) -> Result<Outcome> {
    use std::io::Write as _;
    let mut shards = Vec::new();
    for dir in &args.shards {
        match read_shard(dir) {
            Ok(s) => shards.push(s),
            Err(e) => {
                eprintln!("gwsim merge: {e}");
                return Ok(Outcome::Invalid);
            }
        }
    }
    let merged = match merge::merge(shards) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("gwsim merge: {e}");
            return Ok(Outcome::Invalid);
        }
    };
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create {}", args.out.display()))?;
    let summary = merge::write(&args.out, &merged)?;
    report::write_junit(&args.out, &merged.report)?;
    let (corrected, raw) = report::totals::split(&merged.totals);
    let histograms = report::html::PageHistograms { corrected, raw };
    report::write_html(&args.out, &merged.report, &histograms, &merged.timeline)?;
    let mut out = std::io::stdout().lock();
    write!(out, "{}", report::render(&merged.report))?;
    writeln!(out, "{} shards merged; summary: {}", merged.report.shards.len(), summary.display())?;
    Ok(match merged.report.exit.status {
        report::ExitStatus::Pass => Outcome::Ok,
        report::ExitStatus::ChecksFailed => Outcome::ChecksFailed,
        report::ExitStatus::Interrupted => Outcome::Interrupted,
    })
}
