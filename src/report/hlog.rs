//! `latency.hlog`: the run's latencies as an HdrHistogram interval log, written as the run goes.
//!
//! The format is HdrHistogram's own (as written by `HistogramLogWriter` in Java and read by
//! `HistogramLogProcessor`, HdrHistogramVisualizer, hdr-histogram-js and hdrhistogram's
//! `IntervalLogIterator`): header comments, `#[StartTime: ...]`, `#[BaseTime: ...]`, the CSV
//! legend, then one line per metric per interval:
//!
//! ```text
//! Tag=Accept.response,0.000,1.000,12.543,HISTFAAAA...
//! ```
//!
//! - one tag per latency metric, named as in thresholds (`Accept.response`, `Consult.settle`,
//!   `customer.wait`...); corrected values only (from the intended start);
//! - timestamps are seconds since `BaseTime`, the start of the load phase; warmup intervals
//!   are in the log too (the header says where warmup ends: pass it as `-start` to
//!   HistogramLogProcessor to match `summary.json`);
//! - histogram values are in **microseconds**: HistogramLogProcessor users pass
//!   `-outputValueUnitRatio 1000` for milliseconds; the `Interval_Max` column is already in
//!   milliseconds (`#[MaxValueDivisor: 1000.000]`);
//! - once a metric has appeared, every later interval carries a line for it (an empty histogram
//!   when it had no samples), so each tag is a gap-free series.
//!
//! Only the current interval is ever in memory; each interval is flushed as it is written.

use std::collections::BTreeSet;
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use hdrhistogram::serialization::V2DeflateSerializer;
use hdrhistogram::serialization::interval_log::{IntervalLogWriterBuilder, Tag};

use super::ReportError;
use super::timeline::latency_metrics;
use crate::metrics::{LatencyHistogram, Recorder};

/// The file name of the interval log in a results directory.
pub const HLOG_FILE: &str = "latency.hlog";

/// Streams intervals into `latency.hlog`.
pub struct HlogWriter {
    path: PathBuf,
    out: BufWriter<File>,
    serializer: V2DeflateSerializer,
    /// Every tag written so far (bounded by the number of metrics, not by run length).
    seen: BTreeSet<String>,
    empty: LatencyHistogram,
    /// What the header needs, until it is written.
    header: Option<Header>,
}

#[derive(Debug)]
struct Header {
    scenario: String,
    warmup: Duration,
}

/// `Interval_Max` is printed in milliseconds, like Java's default for nanosecond histograms.
const MAX_DIVISOR: f64 = 1000.0;

/// The CSV legend line of HdrHistogram's log format (v1.3).
const LEGEND: &[u8] =
    b"\"StartTimestamp\",\"Interval_Length\",\"Interval_Max\",\"Interval_Compressed_Histogram\"\n";

impl std::fmt::Debug for HlogWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HlogWriter").field("path", &self.path).field("tags", &self.seen).finish()
    }
}

impl HlogWriter {
    /// Creates (or truncates) `path`. The header is written with the first interval, when the
    /// wall-clock start of the load phase (the log's StartTime and BaseTime) is known; `warmup`
    /// is the scenario's warmup, noted in the header.
    pub fn create(
        path: &Path,
        scenario: &str,
        warmup: Duration,
    ) -> Result<HlogWriter, ReportError> {
        let file = OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(true)
            .open(path)
            .map_err(|source| ReportError::Write { path: path.to_owned(), source })?;
        Ok(HlogWriter {
            path: path.to_owned(),
            out: BufWriter::new(file),
            serializer: V2DeflateSerializer::new(),
            seen: BTreeSet::new(),
            empty: LatencyHistogram::new(),
            header: Some(Header { scenario: one_line(scenario), warmup }),
        })
    }

    /// Writes the header if it is still due, with `load_start` as StartTime and BaseTime.
    fn header(&mut self, load_start: SystemTime) -> Result<(), ReportError> {
        let Some(h) = self.header.take() else { return Ok(()) };
        let mut builder = IntervalLogWriterBuilder::new();
        builder
            .add_comment(&format!("[Logged with gwsim {}]", env!("CARGO_PKG_VERSION")))
            .add_comment("[Histogram log format version 1.3]")
            .add_comment(&format!("[Scenario: {}]", h.scenario))
            .add_comment(
                "[Values in microseconds, corrected for coordinated omission; Interval_Max in milliseconds]",
            )
            .add_comment("[HistogramLogProcessor: -outputValueUnitRatio 1000 prints milliseconds]")
            .add_comment(&format!(
                "[Timestamps in seconds since the load phase began; warmup until {:.3} s]",
                h.warmup.as_secs_f64()
            ))
            .with_start_time(load_start)
            .with_base_time(load_start)
            .with_max_value_divisor(MAX_DIVISOR);
        let result = (|| {
            builder.begin_log_with(&mut self.out, &mut self.serializer)?;
            self.out.write_all(LEGEND)?;
            self.out.flush()
        })();
        result.map_err(|source| ReportError::Write { path: self.path.clone(), source })
    }

    /// Writes one line per metric for the interval `start..end` and flushes.
    pub fn write(
        &mut self,
        start: Duration,
        end: Duration,
        data: &Recorder,
    ) -> Result<(), ReportError> {
        let metrics = latency_metrics(data);
        for (name, _) in &metrics {
            if !self.seen.contains(name) {
                self.seen.insert(name.clone());
            }
        }
        let length = end.saturating_sub(start);
        let hlog_err = |message: String| ReportError::Hlog { path: self.path.clone(), message };
        // The crate's writer borrows its output; an empty builder writes no header again.
        let mut log = IntervalLogWriterBuilder::new()
            .with_max_value_divisor(MAX_DIVISOR)
            .begin_log_with(&mut self.out, &mut self.serializer)
            .map_err(|e| hlog_err(e.to_string()))?;
        let mut recorded = metrics.iter().peekable();
        for name in &self.seen {
            let h = match recorded.peek() {
                // Both lists are sorted by name.
                Some((n, h)) if n == name => {
                    let h = *h;
                    recorded.next();
                    h
                }
                _ => &self.empty,
            };
            let tag = Tag::new(name)
                .ok_or_else(|| hlog_err(format!("metric name {name:?} cannot be a tag")))?;
            log.write_histogram(h.inner(), start, length, Some(tag))
                .map_err(|e| hlog_err(e.to_string()))?;
        }
        self.out.flush().map_err(|source| ReportError::Write { path: self.path.clone(), source })
    }

    /// Writes the header if no interval did (a run that never reached its load phase still
    /// leaves a valid, empty log), then flushes and syncs the file.
    pub fn finish(&mut self) -> Result<(), ReportError> {
        self.header(SystemTime::now())?;
        let result = self.out.flush().and_then(|()| self.out.get_ref().sync_all());
        result.map_err(|source| ReportError::Write { path: self.path.clone(), source })
    }
}

/// A header comment must stay on one line.
fn one_line(s: &str) -> String {
    s.chars().map(|c| if c.is_control() { ' ' } else { c }).collect()
}
