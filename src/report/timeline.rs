//! The run as a time series: one point per interval (one second) from the start of the load
//! phase to the end of the run (warmup included and flagged, drain and logout included; the
//! last interval is shorter), appended to `timeline.jsonl` as the run goes (so memory does not
//! grow with run length) and read back to draw the HTML report.
//!
//! [`TimelineWriter`] appends one JSON [`Point`] per line and flushes each line, so a run killed
//! outright still leaves every finished interval readable; [`read_timeline`] reads them back.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::ReportError;
use super::readback::ReadError;
use crate::metrics::{LatencyHistogram, Recorder};
use crate::vocab::{Counter, CustomerMetric, Metric, OpMetric};

/// Latency of one metric within one interval, in microseconds (corrected values).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct IntervalLatency {
    pub count: u64,
    pub p50_us: u64,
    pub p99_us: u64,
    pub max_us: u64,
}

/// What happened in one interval.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Point {
    /// End of the interval, in milliseconds since the load phase started.
    pub t_ms: u64,
    /// Start of the interval, in milliseconds since the load phase started (the previous point's
    /// `t_ms`; intervals are one second except the last, which ends with the run).
    #[serde(default)]
    pub start_ms: u64,
    /// The interval began during warmup: its samples are not in the headline histograms of
    /// `summary.json` (they are counted here as if measured).
    #[serde(default)]
    pub warmup: bool,
    /// Operations that completed (succeeded or failed) in the interval, all kinds together.
    pub ops: u64,
    pub errors: u64,
    pub violations: u64,
    pub missed_starts: u64,
    /// Per metric, named as in thresholds (`Accept.response`, `Consult.settle`,
    /// `customer.wait`, ...); only metrics with samples in the interval appear.
    pub latency: BTreeMap<String, IntervalLatency>,
    /// Flows that ran to their end in the interval (a count within the interval).
    #[serde(default)]
    pub flows_completed: u64,
    /// Chats completed in the interval (a count within the interval).
    #[serde(default)]
    pub chats_completed: u64,
    /// Chats in progress at the end of the interval (a gauge).
    #[serde(default)]
    pub active_chats: u64,
    /// Agents logged in at the end of the interval (a gauge); 0 in a timeline written before
    /// gauges were recorded, which is how a reader tells "not recorded" from a real run (a run
    /// without a logged-in agent stops before its first interval).
    #[serde(default)]
    pub agents_logged_in: u64,
    /// Agents handling at least one interaction at the end of the interval (a gauge).
    #[serde(default)]
    pub agents_busy: u64,
    /// Customers waiting for an agent at the end of the interval (a gauge): the saturation
    /// signal.
    #[serde(default)]
    pub customers_waiting: u64,
}

impl Point {
    /// The point for what `data` recorded between `start` and `end`; `warmup` is the length of
    /// the scenario's warmup.
    pub fn from_interval(
        start: Duration,
        end: Duration,
        warmup: Duration,
        data: &Recorder,
    ) -> Point {
        // Only the three numbers a point holds: each quantile is a scan of the histogram, and
        // this runs for every metric every second.
        let latency = latency_metrics(data)
            .into_iter()
            .map(|(name, h)| {
                let h = h.inner();
                let l = IntervalLatency {
                    count: h.len(),
                    p50_us: h.value_at_quantile(0.50),
                    p99_us: h.value_at_quantile(0.99),
                    max_us: h.max(),
                };
                (name, l)
            })
            .collect();
        Point {
            t_ms: millis(end),
            start_ms: millis(start),
            warmup: start < warmup,
            ops: data.total_operations(),
            errors: data.counter(Counter::Errors),
            violations: data.counter(Counter::Violations),
            missed_starts: data.counter(Counter::MissedStarts),
            latency,
            // Throughput and concurrency are filled in by the engine's own counters (issue 10);
            // an interval recorder does not hold them.
            flows_completed: 0,
            chats_completed: 0,
            active_chats: 0,
            agents_logged_in: 0,
            agents_busy: 0,
            customers_waiting: 0,
        }
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Every latency metric `data` holds, by its threshold name (`Accept.response`,
/// `customer.wait`...), sorted by name, with its corrected histogram. Empty histograms (an
/// operation seen only in warmup) are left out.
pub fn latency_metrics(data: &Recorder) -> Vec<(String, &LatencyHistogram)> {
    let mut out = Vec::new();
    for (op, stats) in data.ops() {
        for kind in [OpMetric::Response, OpMetric::Settle] {
            if let Some(t) = stats.timed(kind) {
                out.push((Metric::Op(op, kind).to_string(), t.latency.corrected()));
            }
        }
    }
    for c in [CustomerMetric::Wait, CustomerMetric::ToAgent, CustomerMetric::ToCustomer] {
        if let Some(t) = data.customer(c) {
            out.push((Metric::Customer(c).to_string(), &t.latency));
        }
    }
    out.retain(|(_, h)| !h.is_empty());
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// Appends points to `timeline.jsonl`, one JSON object per line.
#[derive(Debug)]
pub struct TimelineWriter {
    path: PathBuf,
    out: BufWriter<File>,
}

impl TimelineWriter {
    /// Creates (or truncates) the file at `path`.
    pub fn create(path: &Path) -> Result<TimelineWriter, ReportError> {
        let file = OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(true)
            .open(path)
            .map_err(|source| ReportError::Write { path: path.to_owned(), source })?;
        Ok(TimelineWriter { path: path.to_owned(), out: BufWriter::new(file) })
    }

    /// Appends one point and flushes it to the file, so the line is whole on disk before the
    /// next interval starts.
    pub fn write(&mut self, point: &Point) -> Result<(), ReportError> {
        let line = serde_json::to_string(point)?;
        let result = (|| {
            self.out.write_all(line.as_bytes())?;
            self.out.write_all(b"\n")?;
            self.out.flush()
        })();
        result.map_err(|source| ReportError::Write { path: self.path.clone(), source })
    }

    /// Flushes and syncs the file.
    pub fn finish(&mut self) -> Result<(), ReportError> {
        let result = self.out.flush().and_then(|()| self.out.get_ref().sync_all());
        result.map_err(|source| ReportError::Write { path: self.path.clone(), source })
    }
}

/// Reads a `timeline.jsonl` back, for `gwsim run` (the page drawn at its end) and `gwsim report`
/// alike. Blank lines are skipped. A last line that is not a point is a run killed mid-write: it
/// is dropped with a warning, so an interrupted run re-renders as it rendered. A bad line with
/// more lines after it is corruption, an error naming the file and the line.
pub fn read_timeline(path: &Path) -> Result<Vec<Point>, ReadError> {
    let bytes =
        std::fs::read(path).map_err(|error| ReadError::Io { path: path.to_owned(), error })?;
    // Lossy: a torn multi-byte character can only be in a torn last line, which is dropped.
    let text = String::from_utf8_lossy(&bytes);
    let mut points = Vec::new();
    let mut pending: Option<(usize, serde_json::Error)> = None;
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        if let Some((line, error)) = pending.take() {
            // A bad line followed by more lines is not a torn tail: it is corrupt.
            return Err(ReadError::Timeline { path: path.to_owned(), line, error });
        }
        match serde_json::from_str(line) {
            Ok(p) => points.push(p),
            Err(e) => pending = Some((i + 1, e)),
        }
    }
    if let Some((line, _)) = pending {
        tracing::warn!(path = %path.display(), line, "timeline ends in a partial line; ignored");
    }
    Ok(points)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gws::Capability;
    use crate::report::files::TIMELINE_FILE;
    use crate::vocab::OpName;
    use std::time::Instant;

    fn scratch() -> tempfile::TempDir {
        match tempfile::Builder::new().prefix("gwsim-timeline-").tempdir() {
            Ok(d) => d,
            Err(e) => panic!("cannot create a scratch directory: {e}"),
        }
    }

    fn busy_second() -> Recorder {
        let mut r = Recorder::new();
        let t = Instant::now();
        let op = OpName::Flow(Capability::Accept);
        for ms in 1..=100u64 {
            r.latency(op, OpMetric::Response, t, t, t + Duration::from_millis(ms), true);
            r.op_ok(op, true);
        }
        r.op_error(op, "timeout", true);
        r.count(Counter::MissedStarts, 2);
        r.count(Counter::Violations, 3);
        r
    }

    #[test]
    fn point_summarizes_an_interval() {
        let p = Point::from_interval(
            Duration::from_millis(1000),
            Duration::from_millis(2000),
            Duration::from_secs(5),
            &busy_second(),
        );
        assert_eq!((p.start_ms, p.t_ms, p.warmup), (1000, 2000, true));
        assert_eq!((p.ops, p.errors, p.violations, p.missed_starts), (101, 1, 3, 2));
        let l = p.latency["Accept.response"];
        assert_eq!(l.count, 100);
        assert!((50_000..=50_100).contains(&l.p50_us), "{l:?}");
        assert!((99_000..=99_100).contains(&l.p99_us), "{l:?}");
        assert!((100_000..=100_100).contains(&l.max_us), "{l:?}");
        let after = Point::from_interval(
            Duration::from_secs(5),
            Duration::from_secs(6),
            Duration::from_secs(5),
            &Recorder::new(),
        );
        assert!(!after.warmup);
        assert!(after.latency.is_empty());
    }

    #[test]
    fn timeline_round_trips_and_tolerates_a_torn_last_line() {
        let dir = scratch();
        let path = dir.path().join(TIMELINE_FILE);
        let mut w = TimelineWriter::create(&path).unwrap();
        let mut written = Vec::new();
        for i in 0..3u64 {
            let (s, e) = (Duration::from_secs(i), Duration::from_secs(i + 1));
            let p = Point::from_interval(s, e, Duration::from_secs(1), &busy_second());
            w.write(&p).unwrap();
            written.push(p);
        }
        w.finish().unwrap();
        assert_eq!(read_timeline(&path).unwrap(), written);
        // A run killed mid-line: the whole lines still read.
        let mut text = std::fs::read_to_string(&path).unwrap();
        text.push_str("{\"t_ms\":4000,\"op");
        std::fs::write(&path, &text).unwrap();
        assert_eq!(read_timeline(&path).unwrap(), written);
        // A bad line in the middle is corruption, reported with its line number.
        text.push_str("\n{}\n");
        std::fs::write(&path, &text).unwrap();
        let err = read_timeline(&path).unwrap_err().to_string();
        assert!(err.contains("timeline.jsonl:4: not a timeline point"), "{err}");
    }

    #[test]
    fn points_without_the_added_fields_still_read() {
        let dir = scratch();
        let path = dir.path().join(TIMELINE_FILE);
        let line =
            r#"{"t_ms":1000,"ops":1,"errors":0,"violations":0,"missed_starts":0,"latency":{}}"#;
        std::fs::write(&path, format!("{line}\n")).unwrap();
        let points = read_timeline(&path).unwrap();
        assert_eq!((points[0].start_ms, points[0].warmup), (0, false));
    }
}
