//! The results directory and every file in it: the directory's name and creation, each output's
//! file name (one constant each, used by the writers and the readers alike), and atomic writing.
//!
//! Writing is atomic: a whole file goes to a temporary sibling, is flushed to disk, then renamed
//! over its name, so a reader (or a run killed mid-write) never sees half a file. The two files
//! written as the run goes (`latency.hlog`, `timeline.jsonl`) are appended to instead, a line at
//! a time; their readers tolerate a torn last line.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use time::macros::format_description;
use time::{OffsetDateTime, UtcOffset};

use super::ReportError;

/// The machine-readable summary.
pub const SUMMARY_FILE: &str = "summary.json";
/// The page a person reads.
pub const REPORT_FILE: &str = "report.html";
/// One test case per threshold, for CI systems.
pub const JUNIT_FILE: &str = "junit.xml";
/// The HdrHistogram interval log, written as the run goes.
pub const HLOG_FILE: &str = "latency.hlog";
/// The time series, appended to as the run goes.
pub const TIMELINE_FILE: &str = "timeline.jsonl";
/// The measured histograms at the end of the run, for exact merges of shards.
pub const TOTALS_FILE: &str = "totals.hlog";
/// Every violation of the run, one JSON line each, streamed as found (capped).
pub const VIOLATIONS_FILE: &str = "violations.jsonl";
/// The fault ledger of a run with `[faults]`: every injected fault, one JSON line each.
pub const LEDGER_FILE: &str = "ledger.jsonl";
/// A capacity search (`gwsim capacity`): every step, its verdict and the capacity found.
pub const CAPACITY_FILE: &str = "capacity.json";
/// A capacity search's page: throughput, p99 and errors against offered load.
pub const CAPACITY_HTML_FILE: &str = "capacity.html";

/// Every file a run writes under a fixed name (`--force` removes these, and `.hgrm` files, from
/// an earlier run; nothing else).
pub const RUN_FILES: [&str; 8] = [
    SUMMARY_FILE,
    REPORT_FILE,
    JUNIT_FILE,
    HLOG_FILE,
    TIMELINE_FILE,
    TOTALS_FILE,
    VIOLATIONS_FILE,
    LEDGER_FILE,
];
/// The extension of the per-metric percentile distributions ([`hgrm_file`]).
pub const HGRM_EXTENSION: &str = "hgrm";

/// The file name of a metric's percentile distribution: `Accept.response.hgrm`.
pub fn hgrm_file(metric: &str) -> String {
    format!("{}.{HGRM_EXTENSION}", file_safe(metric))
}

/// Writes `bytes` to `path` through a temporary sibling and a rename. On failure the temporary
/// file is removed and `path` is untouched.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), ReportError> {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    // The process id keeps two gwsim processes writing into one `--out` from sharing a temp file.
    let tmp = path.with_file_name(format!(".{name}.tmp-{}", std::process::id()));
    let result = (|| {
        let mut f = fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        // Data on disk before the rename makes it visible: otherwise a crash could leave an
        // empty `summary.json` behind the new name.
        f.sync_all()?;
        fs::rename(&tmp, path)
    })();
    result.map_err(|source| {
        let _ = fs::remove_file(&tmp);
        ReportError::Write { path: path.to_owned(), source }
    })
}

/// What to do with a `--out` directory that already holds files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Existing {
    /// Refuse: an earlier run's results are never overwritten by accident.
    Refuse,
    /// Replace (`--force`): gwsim's own files from an earlier run are removed first, so the
    /// directory never mixes two runs; any other file is left alone.
    Replace,
}

/// Creates the run's results directory and checks that it is writable, before the run starts, so
/// an unwritable location is an immediate setup error rather than a lost run.
///
/// With `out`, that directory is used: created if needed, refused if it holds anything unless
/// `existing` is [`Existing::Replace`]. Otherwise `base/<UTC timestamp>-<scenario>/`, e.g.
/// `results/20261121T123012Z-consult-remove-leave/`, always a directory this call created: if
/// that name exists already (two runs in one second), `-2`, `-3`... is appended rather than
/// mixing two runs' files.
pub fn prepare_results_dir(
    base: &Path,
    scenario_name: &str,
    now: OffsetDateTime,
    out: Option<&Path>,
    existing: Existing,
) -> Result<PathBuf, ReportError> {
    let dir = match out {
        Some(out) => {
            fs::create_dir_all(out)
                .map_err(|source| ReportError::CreateDir { path: out.to_owned(), source })?;
            let read = |source| ReportError::CreateDir { path: out.to_owned(), source };
            let mut entries = fs::read_dir(out).map_err(read)?;
            match existing {
                Existing::Refuse if entries.next().is_some() => {
                    return Err(ReportError::NotEmpty { path: out.to_owned() });
                }
                Existing::Refuse => {}
                Existing::Replace => remove_earlier_run(out)?,
            }
            out.to_owned()
        }
        None => {
            fs::create_dir_all(base)
                .map_err(|source| ReportError::CreateDir { path: base.to_owned(), source })?;
            create_fresh(base, &format!("{}-{}", timestamp(now), file_safe(scenario_name)))?
        }
    };
    probe(&dir)?;
    Ok(dir)
}

/// Removes the files an earlier run wrote into `dir` (the named outputs and every `.hgrm`), so a
/// replacing run's directory holds only its own results (an `.hgrm` of a metric this run does
/// not measure would otherwise stay and look like one of its own).
fn remove_earlier_run(dir: &Path) -> Result<(), ReportError> {
    let named = RUN_FILES;
    let entries = fs::read_dir(dir)
        .map_err(|source| ReportError::CreateDir { path: dir.to_owned(), source })?;
    for entry in entries.flatten() {
        let path = entry.path();
        let ours = path.file_name().and_then(|n| n.to_str()).is_some_and(|n| named.contains(&n))
            || path.extension().is_some_and(|e| e == HGRM_EXTENSION);
        if ours && path.is_file() {
            fs::remove_file(&path).map_err(|source| ReportError::Write { path, source })?;
        }
    }
    Ok(())
}

/// Creates `base/stem`, or `base/stem-N` for the first N from 2 that does not exist yet.
fn create_fresh(base: &Path, stem: &str) -> Result<PathBuf, ReportError> {
    const ATTEMPTS: u32 = 100;
    let mut last_err = None;
    for n in 1..=ATTEMPTS {
        let name = if n == 1 { stem.to_owned() } else { format!("{stem}-{n}") };
        let dir = base.join(name);
        match fs::create_dir(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => last_err = Some(e),
            Err(source) => return Err(ReportError::CreateDir { path: dir, source }),
        }
    }
    let source = last_err.unwrap_or_else(|| std::io::Error::other("no free name"));
    Err(ReportError::CreateDir { path: base.join(stem), source })
}

/// Writes and removes a small file: permissions, a read-only mount or a full disk show up now.
fn probe(dir: &Path) -> Result<(), ReportError> {
    let p = dir.join(format!(".gwsim-write-probe-{}", std::process::id()));
    let result = fs::write(&p, b"probe").and_then(|()| fs::remove_file(&p));
    result.map_err(|source| {
        let _ = fs::remove_file(&p);
        ReportError::NotWritable { path: dir.to_owned(), source }
    })
}

/// `20261121T123012Z`: sortable, and without the colons some file systems refuse.
fn timestamp(now: OffsetDateTime) -> String {
    let utc = now.to_offset(UtcOffset::UTC);
    utc.format(format_description!("[year][month][day]T[hour][minute][second]Z"))
        .unwrap_or_else(|_| utc.unix_timestamp().to_string())
}

/// A name with anything but letters, digits, `.`, `_` and `-` replaced by `-`, so a scenario or
/// metric name can never reach outside the results directory. Validated names pass through
/// unchanged.
pub(crate) fn file_safe(name: &str) -> String {
    let s: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') { c } else { '-' })
        .collect();
    // A name of only dots would still mean "here" or "up"; keep it a plain name.
    if s.chars().all(|c| c == '.') { format!("scenario{s}") } else { s }
}

/// Where a run's summary is: `P/summary.json` when `p` is a directory, `p` itself otherwise.
pub fn summary_path(p: &Path) -> PathBuf {
    if p.is_dir() { p.join(SUMMARY_FILE) } else { p.to_owned() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tempfile::TempDir;
    use time::macros::datetime;

    fn scratch() -> TempDir {
        match tempfile::Builder::new().prefix("gwsim-files-").tempdir() {
            Ok(d) => d,
            Err(e) => panic!("cannot create a scratch directory: {e}"),
        }
    }

    #[test]
    fn results_dir_is_named_by_utc_time_and_scenario() {
        let tmp = scratch();
        let base = tmp.path().join("results");
        let now = datetime!(2026-11-21 13:30:12 +01:00);
        let dir = prepare_results_dir(&base, "consult-remove-leave", now, None, Existing::Refuse)
            .unwrap();
        assert_eq!(dir, base.join("20261121T123012Z-consult-remove-leave"));
        assert!(dir.is_dir());
        // The probe file is gone again.
        assert_eq!(fs::read_dir(&dir).unwrap().count(), 0);
        // Same second, same scenario: a second directory, not a shared one.
        let again = prepare_results_dir(&base, "consult-remove-leave", now, None, Existing::Refuse)
            .unwrap();
        assert_eq!(again, base.join("20261121T123012Z-consult-remove-leave-2"));
    }

    #[test]
    fn out_dir_is_used_as_given_and_may_exist_empty() {
        let tmp = scratch();
        let base = tmp.path().join("results");
        let out = tmp.path().join("mine");
        let now = datetime!(2026-11-21 12:00:00 UTC);
        assert_eq!(
            prepare_results_dir(&base, "x", now, Some(&out), Existing::Refuse).unwrap(),
            out
        );
        assert_eq!(
            prepare_results_dir(&base, "x", now, Some(&out), Existing::Refuse).unwrap(),
            out
        );
    }

    /// Issue 10: `--out` never overwrites an earlier run; `--force` replaces gwsim's own files
    /// and nothing else.
    #[test]
    fn a_non_empty_out_dir_is_refused_unless_replaced() {
        let tmp = scratch();
        let base = tmp.path().join("results");
        let out = tmp.path().join("mine");
        fs::create_dir_all(&out).unwrap();
        for f in [SUMMARY_FILE, TIMELINE_FILE, "Old.settle.hgrm", "notes.txt"] {
            fs::write(out.join(f), "earlier").unwrap();
        }
        let now = datetime!(2026-11-21 12:00:00 UTC);
        let err = prepare_results_dir(&base, "x", now, Some(&out), Existing::Refuse).unwrap_err();
        assert!(matches!(err, ReportError::NotEmpty { .. }), "{err:?}");
        assert!(err.to_string().contains("--force"), "{err}");
        assert_eq!(fs::read_to_string(out.join(SUMMARY_FILE)).unwrap(), "earlier");

        assert_eq!(
            prepare_results_dir(&base, "x", now, Some(&out), Existing::Replace).unwrap(),
            out
        );
        let mut left: Vec<String> = fs::read_dir(&out)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(left, ["notes.txt"]);
    }

    #[test]
    fn unusable_results_location_is_a_clear_error() {
        // A path under a regular file cannot be a directory for anyone, root included (tests may
        // run as root, for whom permission bits alone would not fail).
        let tmp = scratch();
        let base = tmp.path();
        let file = base.join("a-file");
        fs::write(&file, "x").unwrap();
        let now = datetime!(2026-11-21 12:00:00 UTC);
        let err = prepare_results_dir(&file.join("results"), "s", now, None, Existing::Refuse)
            .unwrap_err();
        assert!(matches!(err, ReportError::CreateDir { .. }), "{err:?}");
        let msg = err.to_string();
        assert!(msg.starts_with("cannot create results directory "), "{msg}");
        assert!(msg.contains("a-file"), "{msg}");
        let err = prepare_results_dir(base, "s", now, Some(&file), Existing::Refuse).unwrap_err();
        assert!(err.to_string().contains("cannot create results directory"), "{err}");
    }

    #[test]
    fn probe_failure_names_the_directory() {
        let tmp = scratch();
        // A directory that does not exist cannot take the probe file.
        let err = probe(&tmp.path().join("absent")).unwrap_err();
        assert!(matches!(err, ReportError::NotWritable { .. }));
        assert!(err.to_string().starts_with("results directory "), "{err}");
        assert!(err.to_string().contains("is not writable"), "{err}");
    }

    #[test]
    fn atomic_write_replaces_and_leaves_no_temp_file() {
        let tmp = scratch();
        let dir = tmp.path();
        let path = dir.join(SUMMARY_FILE);
        write_atomic(&path, b"{\"old\":1}\n").unwrap();
        write_atomic(&path, b"{\"new\":2}\n").unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "{\"new\":2}\n");
        let names: Vec<_> = fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, [SUMMARY_FILE]);
    }

    #[test]
    fn failed_atomic_write_leaves_target_untouched_and_no_temp_file() {
        let tmp = scratch();
        let dir = tmp.path();
        // The target is a non-empty directory: the rename must fail.
        let path = dir.join(SUMMARY_FILE);
        fs::create_dir_all(path.join("keep")).unwrap();
        let err = write_atomic(&path, b"{}").unwrap_err();
        assert!(err.to_string().starts_with("cannot write "), "{err}");
        let names: Vec<_> = fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, [SUMMARY_FILE]);
        assert!(path.join("keep").is_dir());
    }

    #[test]
    fn scenario_names_cannot_escape_the_results_directory() {
        assert_eq!(file_safe("consult-remove-leave"), "consult-remove-leave");
        assert_eq!(file_safe("../etc/x y"), "..-etc-x-y");
        assert_eq!(file_safe(".."), "scenario..");
    }

    #[test]
    fn hgrm_file_names_are_safe() {
        assert_eq!(hgrm_file("Accept.response"), "Accept.response.hgrm");
        assert_eq!(hgrm_file("customer.to_agent"), "customer.to_agent.hgrm");
        assert_eq!(hgrm_file("../x y"), "..-x-y.hgrm");
    }
}
