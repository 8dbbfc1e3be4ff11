//! `summary.json`, the machine-readable summary (versioned; `schema/summary.schema.json` is its
//! contract), written atomically into the results directory ([`super::files`]).

use std::path::{Path, PathBuf};

use super::files::{SUMMARY_FILE, write_atomic};
use super::{Report, ReportError};

/// The `schema` value of every summary this version writes. A change that removes or renames a
/// field, or changes a meaning, bumps the number.
pub const SCHEMA: &str = "gwsim.summary/1";

/// The summary as pretty-printed JSON, ending in a newline.
pub fn to_json<S: serde::Serialize>(report: &Report<S>) -> Result<String, ReportError> {
    let mut s = serde_json::to_string_pretty(report)?;
    s.push('\n');
    Ok(s)
}

/// Writes `summary.json` into `dir` atomically and returns its path.
pub fn write_results(dir: &Path, report: &Report) -> Result<PathBuf, ReportError> {
    let path = dir.join(SUMMARY_FILE);
    write_summary(&path, report)?;
    Ok(path)
}

/// Writes the summary to `path` atomically (`gwsim run --summary-export FILE`: the same JSON
/// as `summary.json`, where a CI job wants it).
pub fn write_summary(path: &Path, report: &Report) -> Result<(), ReportError> {
    write_atomic(path, to_json(report)?.as_bytes())
}
