//! The outputs written during a run: [`IntervalOutputs`] receives each one-second interval from
//! the engine and appends it to `latency.hlog` and `timeline.jsonl` in the results directory.
//!
//! A write failure never stops the run: the first failure of each file is logged
//! (`tracing::warn`) and that file takes no further intervals (a log with a hole in the middle
//! would mislead more than one that stops); the other file, and `summary.json` (built from the
//! run's totals, not from these files), are unaffected.

use std::path::Path;
use std::time::Duration;

use super::ReportError;
use super::files::{HLOG_FILE, TIMELINE_FILE};
use super::hlog::HlogWriter;
use super::timeline::{Point, TimelineWriter};
use crate::metrics::Recorder;
use crate::metrics::gauges::GaugeSample;
use crate::metrics::interval::IntervalObserver;

/// `latency.hlog` and `timeline.jsonl`, written as the run goes.
#[derive(Debug)]
pub struct IntervalOutputs {
    hlog: Option<HlogWriter>,
    timeline: Option<TimelineWriter>,
    warmup: Duration,
}

impl IntervalOutputs {
    /// Creates both files in `dir` (the run's results directory). Failing here, before the run,
    /// is a setup error.
    pub fn create(dir: &Path, scenario: &str, warmup: Duration) -> Result<Self, ReportError> {
        Ok(IntervalOutputs {
            hlog: Some(HlogWriter::create(&dir.join(HLOG_FILE), scenario, warmup)?),
            timeline: Some(TimelineWriter::create(&dir.join(TIMELINE_FILE))?),
            warmup,
        })
    }
}

/// Runs `f` on the writer if it is still live; on failure, warns and retires it.
fn guarded<W>(slot: &mut Option<W>, f: impl FnOnce(&mut W) -> Result<(), ReportError>) {
    let Some(w) = slot.as_mut() else { return };
    if let Err(e) = f(w) {
        tracing::warn!(error = %e, "time-series output stopped; the summary is unaffected");
        *slot = None;
    }
}

impl IntervalObserver for IntervalOutputs {
    fn interval(&mut self, start: Duration, end: Duration, data: &Recorder, gauges: GaugeSample) {
        guarded(&mut self.hlog, |w| w.write(start, end, data));
        let warmup = self.warmup;
        guarded(&mut self.timeline, |w| {
            w.write(&Point::from_interval(start, end, warmup, data, gauges))
        });
    }

    fn finish(&mut self) {
        guarded(&mut self.hlog, HlogWriter::finish);
        guarded(&mut self.timeline, TimelineWriter::finish);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gws::Capability;
    use crate::vocab::{OpMetric, OpName};
    use std::time::Instant;

    fn scratch() -> tempfile::TempDir {
        match tempfile::Builder::new().prefix("gwsim-live-").tempdir() {
            Ok(d) => d,
            Err(e) => panic!("cannot create a scratch directory: {e}"),
        }
    }

    fn second(us: u64) -> Recorder {
        let mut r = Recorder::new();
        let t = Instant::now();
        for op in [OpName::Flow(Capability::Accept), OpName::Flow(Capability::Leave)] {
            for kind in [OpMetric::Response, OpMetric::Settle] {
                r.latency(op, kind, t, t, t + Duration::from_micros(us), true);
            }
            r.op_ok(op, true);
        }
        r
    }

    #[test]
    fn a_failing_file_is_dropped_once_and_the_other_keeps_going() {
        // /dev/full takes the open and fails every write with ENOSPC.
        let full = Path::new("/dev/full");
        if !full.exists() {
            return;
        }
        let tmp = scratch();
        let dir = tmp.path();
        let mut out = IntervalOutputs {
            hlog: Some(HlogWriter::create(&dir.join(HLOG_FILE), "s", Duration::ZERO).unwrap()),
            timeline: Some(TimelineWriter::create(full).unwrap()),
            warmup: Duration::ZERO,
        };
        for i in 0..3u64 {
            let (start, end) = (Duration::from_secs(i), Duration::from_secs(i + 1));
            out.interval(start, end, &second(5_000), GaugeSample::default());
            assert!(out.timeline.is_none(), "retired after its first failure");
        }
        out.finish();
        let log = std::fs::read_to_string(dir.join(HLOG_FILE)).unwrap();
        assert_eq!(log.lines().filter(|l| l.starts_with("Tag=Accept.response,")).count(), 3);
    }
}
