//! The run as a time series: one point per interval (one second) of the load and drain phases,
//! appended to `timeline.jsonl` as the run goes (so memory does not grow with run length) and
//! read back to draw the HTML report.
//!
//! [`TimelineWriter`] appends one JSON [`Point`] per line and flushes each line, so a run killed
//! outright still leaves every finished interval readable; [`read_timeline`] reads them back.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::ReportError;
use crate::metrics::{LatencyHistogram, Recorder};
use crate::scenario::{Counter, CustomerMetric, Metric, OpMetric};

/// The file name of the time series in a results directory.
pub const TIMELINE_FILE: &str = "timeline.jsonl";

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
        let latency = latency_metrics(data)
            .into_iter()
            .filter_map(|(name, h)| {
                let s = h.summary()?;
                Some((
                    name,
                    IntervalLatency { count: s.count, p50_us: s.p50, p99_us: s.p99, max_us: s.max },
                ))
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

/// Reads a `timeline.jsonl` back. Blank lines are skipped; a last line cut short (a run killed
/// mid-write) is dropped; any other bad line is an error naming its line number.
pub fn read_timeline(path: &Path) -> Result<Vec<Point>, ReportError> {
    let read_err = |source| ReportError::Read { path: path.to_owned(), source };
    let file = File::open(path).map_err(read_err)?;
    let mut points = Vec::new();
    let mut pending: Option<(usize, serde_json::Error)> = None;
    for (i, line) in BufReader::new(file).lines().enumerate() {
        let line = line.map_err(read_err)?;
        if line.trim().is_empty() {
            continue;
        }
        if let Some((n, source)) = pending.take() {
            // A bad line followed by more lines is not a torn tail: it is corrupt.
            return Err(ReportError::Timeline { path: path.to_owned(), line: n, source });
        }
        match serde_json::from_str(&line) {
            Ok(p) => points.push(p),
            Err(e) => pending = Some((i + 1, e)),
        }
    }
    if let Some((line, _)) = pending {
        tracing::warn!(path = %path.display(), line, "timeline ends in a partial line; ignored");
    }
    Ok(points)
}
