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
use crate::metrics::gauges::GaugeSample;
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
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
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
    /// Agent flows that ran every step, in the interval.
    #[serde(default)]
    pub flows_completed: u64,
    /// Customer chats that ended after an agent joined, in the interval.
    #[serde(default)]
    pub chats_completed: u64,
    /// Gauges sampled at the interval's end (`t_ms`): customer chats from request to end,
    /// agents logged in, agents with an interaction in flight (occupancy is busy / logged in,
    /// left to readers), customers with no agent yet.
    #[serde(default)]
    pub active_chats: u64,
    #[serde(default)]
    pub agents_logged_in: u64,
    #[serde(default)]
    pub agents_busy: u64,
    #[serde(default)]
    pub customers_waiting: u64,
    /// Per metric, named as in thresholds (`Accept.response`, `Consult.settle`,
    /// `customer.wait`, ...); only metrics with samples in the interval appear.
    pub latency: BTreeMap<String, IntervalLatency>,
}

impl Point {
    /// The point for what `data` recorded between `start` and `end`, with the gauges sampled at
    /// `end`; `warmup` is the length of the scenario's warmup.
    pub fn from_interval(
        start: Duration,
        end: Duration,
        warmup: Duration,
        data: &Recorder,
        gauges: GaugeSample,
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
            flows_completed: data.counter(Counter::FlowsCompleted),
            chats_completed: data.counter(Counter::ChatsCompleted),
            active_chats: gauges.active_chats,
            agents_logged_in: gauges.agents_logged_in,
            agents_busy: gauges.agents_busy,
            customers_waiting: gauges.customers_waiting,
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
    for c in CustomerMetric::TIMED {
        if let Some(t) = data.customer(c) {
            out.push((Metric::Customer(c).to_string(), t.latency.corrected()));
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

/// One shard's time series, for [`merge_timelines`].
#[derive(Debug)]
pub struct ShardTimeline<'a> {
    pub points: &'a [Point],
    /// Its interval histograms by interval start (ms), from its `latency.hlog`.
    pub intervals: &'a BTreeMap<u64, crate::report::readback::Histograms>,
    /// How long after the earliest shard this shard's load phase started.
    pub offset: Duration,
}

/// The interval histograms of `intervals` that start at `start_ms`: the log writes seconds with
/// three decimals (rounded) and a point truncates to the millisecond, so they may differ by one.
fn interval_at(
    intervals: &BTreeMap<u64, crate::report::readback::Histograms>,
    start_ms: u64,
) -> Option<&crate::report::readback::Histograms> {
    intervals
        .range(start_ms.saturating_sub(1)..=start_ms.saturating_add(1))
        .min_by_key(|(at, _)| at.abs_diff(start_ms))
        .map(|(_, h)| h)
}

/// The shards' time series as one, by time: every shard's points moved by its offset onto the
/// earliest shard's clock, grouped by the second they start in (intervals are one second from
/// each shard's load start; with a common `--start-at` the shards' seconds coincide within
/// milliseconds). A merged point's counts are sums; its latency counts are sums, its maxima the
/// largest, and its p50 and p99 those of the shards' interval histograms added (exact, as for the
/// whole run). Should a shard's histogram of an interval be missing (its `latency.hlog` cut
/// short), the largest of the shards' p50 and p99 stand in.
pub fn merge_timelines(shards: &[ShardTimeline<'_>]) -> Vec<Point> {
    struct Group {
        start_ms: u64,
        point: Point,
        added: BTreeMap<String, Option<hdrhistogram::Histogram<u64>>>,
    }
    let mut groups: BTreeMap<u64, Group> = BTreeMap::new();
    for shard in shards {
        let offset = millis(shard.offset);
        for p in shard.points {
            let start = p.start_ms.saturating_add(offset);
            let second = start.saturating_add(500) / 1000;
            let g = groups.entry(second).or_insert_with(|| Group {
                start_ms: start,
                point: Point {
                    t_ms: 0,
                    start_ms: start,
                    warmup: false,
                    ops: 0,
                    errors: 0,
                    violations: 0,
                    missed_starts: 0,
                    ..Point::default()
                },
                added: BTreeMap::new(),
            });
            g.start_ms = g.start_ms.min(start);
            let m = &mut g.point;
            m.t_ms = m.t_ms.max(p.t_ms.saturating_add(offset));
            m.warmup |= p.warmup;
            m.ops += p.ops;
            m.errors += p.errors;
            m.violations += p.violations;
            m.missed_starts += p.missed_starts;
            // Counts within the second and gauges at its end: the shards' sum is the run's.
            m.flows_completed += p.flows_completed;
            m.chats_completed += p.chats_completed;
            m.active_chats += p.active_chats;
            m.agents_logged_in += p.agents_logged_in;
            m.agents_busy += p.agents_busy;
            m.customers_waiting += p.customers_waiting;
            let histograms = interval_at(shard.intervals, p.start_ms);
            for (name, l) in &p.latency {
                let merged = m.latency.entry(name.clone()).or_insert(IntervalLatency {
                    count: 0,
                    p50_us: 0,
                    p99_us: 0,
                    max_us: 0,
                });
                merged.count += l.count;
                merged.max_us = merged.max_us.max(l.max_us);
                merged.p50_us = merged.p50_us.max(l.p50_us);
                merged.p99_us = merged.p99_us.max(l.p99_us);
                let slot = g.added.entry(name.clone()).or_insert_with(|| {
                    let mut h = hdrhistogram::Histogram::new(3).ok()?;
                    h.auto(true);
                    Some(h)
                });
                // One missing histogram spoils the sum; the stand-ins above remain.
                let added = match (slot.as_mut(), histograms.and_then(|h| h.get(name))) {
                    (Some(total), Some(h)) => total.add(h).is_ok(),
                    _ => false,
                };
                if !added {
                    *slot = None;
                }
            }
        }
    }
    groups
        .into_values()
        .map(|mut g| {
            g.point.start_ms = g.start_ms;
            for (name, h) in g.added {
                if let (Some(h), Some(l)) = (h, g.point.latency.get_mut(&name))
                    && h.len() == l.count
                {
                    l.p50_us = h.value_at_quantile(0.50);
                    l.p99_us = h.value_at_quantile(0.99);
                }
            }
            g.point
        })
        .collect()
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
        r.count(Counter::FlowsCompleted, 4);
        r.count(Counter::ChatsCompleted, 5);
        r
    }

    fn gauges() -> GaugeSample {
        GaugeSample { active_chats: 6, agents_logged_in: 7, agents_busy: 8, customers_waiting: 9 }
    }

    #[test]
    fn point_summarizes_an_interval() {
        let p = Point::from_interval(
            Duration::from_millis(1000),
            Duration::from_millis(2000),
            Duration::from_secs(5),
            &busy_second(),
            gauges(),
        );
        assert_eq!((p.start_ms, p.t_ms, p.warmup), (1000, 2000, true));
        assert_eq!((p.ops, p.errors, p.violations, p.missed_starts), (101, 1, 3, 2));
        assert_eq!((p.flows_completed, p.chats_completed), (4, 5));
        let g = (p.active_chats, p.agents_logged_in, p.agents_busy, p.customers_waiting);
        assert_eq!(g, (6, 7, 8, 9));
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
            GaugeSample::default(),
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
            let p = Point::from_interval(s, e, Duration::from_secs(1), &busy_second(), gauges());
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

    /// A shard's second: `n` Accept responses of `base + i` ms.
    fn second_of(n: u64, base: u64) -> Recorder {
        let mut r = Recorder::new();
        let t = Instant::now();
        let op = OpName::Flow(Capability::Accept);
        for i in 0..n {
            r.latency(op, OpMetric::Response, t, t, t + Duration::from_millis(base + i), true);
            r.op_ok(op, true);
        }
        r
    }

    fn intervals_of(
        seconds: &[(u64, &Recorder)],
    ) -> BTreeMap<u64, crate::report::readback::Histograms> {
        seconds
            .iter()
            .map(|(start_ms, r)| {
                let hs = latency_metrics(r)
                    .into_iter()
                    .map(|(name, h)| (name, h.inner().clone()))
                    .collect();
                (*start_ms, hs)
            })
            .collect()
    }

    /// Merged by time: the same second of two shards (their load starts 3 ms apart) is one point
    /// whose counts are sums and whose percentiles are those of all the second's samples.
    #[test]
    fn shard_timelines_merge_by_time_exactly() {
        let sec = |i: u64| (Duration::from_secs(i), Duration::from_secs(i + 1));
        let warm = Duration::from_secs(1);
        let (a0, a1, b0, b1) =
            (second_of(50, 1), second_of(10, 500), second_of(200, 100), second_of(5, 2));
        let g = GaugeSample {
            active_chats: 2,
            agents_logged_in: 5,
            agents_busy: 1,
            customers_waiting: 1,
        };
        let point = |i: u64, r: &Recorder| Point::from_interval(sec(i).0, sec(i).1, warm, r, g);
        let a_points = vec![point(0, &a0), point(1, &a1)];
        let b_points = vec![point(0, &b0), point(1, &b1)];
        let a_int = intervals_of(&[(0, &a0), (1000, &a1)]);
        // The other shard's log rounded its second start up by a millisecond.
        let b_int = intervals_of(&[(0, &b0), (1001, &b1)]);
        let merged = merge_timelines(&[
            ShardTimeline { points: &a_points, intervals: &a_int, offset: Duration::ZERO },
            ShardTimeline {
                points: &b_points,
                intervals: &b_int,
                offset: Duration::from_millis(3),
            },
        ]);
        assert_eq!(merged.len(), 2);
        for (i, (a, b)) in [(&a0, &b0), (&a1, &b1)].into_iter().enumerate() {
            let mut all = Recorder::new();
            all.merge(a);
            all.merge(b);
            let want = point(i as u64, &all);
            let got = &merged[i];
            assert_eq!(got.ops, want.ops);
            assert_eq!(got.latency, want.latency, "second {i}");
            assert_eq!((got.agents_logged_in, got.active_chats), (10, 4), "gauges summed");
            assert_eq!(got.start_ms, want.start_ms);
            assert_eq!(got.t_ms, want.t_ms + 3, "the later shard ends 3 ms later");
            assert_eq!(got.warmup, i == 0);
        }
        // Without a shard's histogram of a second, the largest p99 stands in (never a sum).
        let none = BTreeMap::new();
        let merged = merge_timelines(&[
            ShardTimeline { points: &a_points, intervals: &a_int, offset: Duration::ZERO },
            ShardTimeline { points: &b_points, intervals: &none, offset: Duration::ZERO },
        ]);
        let l = merged[0].latency["Accept.response"];
        assert_eq!(l.count, 250);
        assert_eq!(
            l.p99_us,
            a_points[0].latency["Accept.response"]
                .p99_us
                .max(b_points[0].latency["Accept.response"].p99_us)
        );
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
        assert_eq!((points[0].flows_completed, points[0].agents_logged_in), (0, 0));
    }
}
