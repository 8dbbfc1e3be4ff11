//! `violations.jsonl`: every ordering violation of a run, one JSON object per line (agent,
//! interaction, kind, expected, got, the notifications around it, time), written as the checker
//! finds it, so a crash or Ctrl-C still leaves every violation found so far, line by line.
//!
//! At most `cap` lines are written; the rest are counted, and the summary says how many the cap
//! left out (`violations.file`). A write failure never stops the run: it is logged once and the
//! file takes no more lines (the summary then says the file is incomplete through `failed`).

use std::io::Write as _;
use std::path::Path;
use std::sync::Mutex;

use super::{ReportError, ViolationReport, ViolationsFileReport};
use crate::metrics::violations::ViolationObserver;
use crate::ordering::Violation;

use super::files::VIOLATIONS_FILE;

/// Lines written unless told otherwise: far beyond what a person reads, small enough to bound
/// the file (a line is a few hundred bytes) in a run that breaks everything.
pub const DEFAULT_CAP: u64 = 100_000;

#[derive(Debug)]
struct Inner {
    /// `None` once a write failed.
    out: Option<std::io::LineWriter<std::fs::File>>,
    written: u64,
    dropped: u64,
    failed: bool,
}

/// The `violations.jsonl` writer, fed by the engine ([`ViolationObserver`]).
#[derive(Debug)]
pub struct ViolationsFile {
    cap: u64,
    /// A std mutex: one short write per violation, never across an await.
    inner: Mutex<Inner>,
}

impl ViolationsFile {
    /// Creates (truncates) `violations.jsonl` in `dir`, the run's results directory.
    pub fn create(dir: &Path, cap: u64) -> Result<ViolationsFile, ReportError> {
        let path = dir.join(VIOLATIONS_FILE);
        let file = std::fs::File::create(&path)
            .map_err(|source| ReportError::Write { path: path.clone(), source })?;
        Ok(ViolationsFile {
            cap,
            inner: Mutex::new(Inner {
                out: Some(std::io::LineWriter::new(file)),
                written: 0,
                dropped: 0,
                failed: false,
            }),
        })
    }

    /// Flushes and says what the file holds.
    pub fn finish(&self) -> ViolationsFileReport {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(out) = inner.out.as_mut()
            && let Err(e) = out.flush()
        {
            tracing::warn!(error = %e, "{VIOLATIONS_FILE} could not be flushed");
            inner.failed = true;
        }
        ViolationsFileReport {
            path: VIOLATIONS_FILE.to_owned(),
            written: inner.written,
            dropped: inner.dropped,
            cap: self.cap,
            failed: inner.failed,
        }
    }
}

/// One violation as a line of the file: the summary's shape for a violation.
pub fn line(v: &Violation) -> Result<String, serde_json::Error> {
    serde_json::to_string(&ViolationReport::from(v))
}

impl ViolationObserver for ViolationsFile {
    fn violation(&self, v: &Violation) {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if inner.written >= self.cap {
            inner.dropped += 1;
            return;
        }
        let Some(out) = inner.out.as_mut() else {
            inner.dropped += 1;
            return;
        };
        let written = line(v).map_err(std::io::Error::other).and_then(|l| writeln!(out, "{l}"));
        match written {
            Ok(()) => inner.written += 1,
            Err(e) => {
                tracing::warn!(error = %e, "{VIOLATIONS_FILE} stopped; the summary is unaffected");
                inner.out = None;
                inner.failed = true;
                inner.dropped += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ordering::ViolationKind;

    #[test]
    fn every_violation_is_a_line_up_to_the_cap_and_the_rest_are_counted() {
        let dir = tempfile::tempdir().expect("tempdir");
        let f = ViolationsFile::create(dir.path(), 3).expect("created");
        for at_ms in 0..5 {
            f.violation(&Violation {
                kind: ViolationKind::OutOfOrder,
                agent: "agent-1".into(),
                interaction: "ixn-1".into(),
                expected: "StatusChange(Accepted)".into(),
                got: "ParticipantsUpdated".into(),
                context: vec!["Invited".into()],
                at_ms,
            });
        }
        let report = f.finish();
        assert_eq!((report.written, report.dropped, report.cap), (3, 2, 3));
        assert!(!report.failed);
        let text = std::fs::read_to_string(dir.path().join(VIOLATIONS_FILE)).expect("read");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3);
        let back: ViolationReport = serde_json::from_str(lines[2]).expect("a violation per line");
        assert_eq!(back.at_ms, 2);
        assert_eq!(back.kind, ViolationKind::OutOfOrder);
        assert_eq!(back.context, vec!["Invited".to_owned()]);
    }
}
