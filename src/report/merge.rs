//! `gwsim merge`: the shards of one scenario joined into one run's results, exactly.
//!
//! Exact, not approximate: every shard writes its measured histograms (`totals.hlog`, see
//! [`super::totals`]) with the same HdrHistogram settings, and adding histograms of equal settings
//! adds their counts bucket by bucket, so the merged histogram is the histogram of all the
//! shards' samples, and its percentiles are what one process recording every sample would
//! report. Counts, errors, warmup counts and violations are sums; thresholds are judged again on
//! the sums with the same code a run uses (`report::thresholds`); the exit is decided the same
//! way. `latency.hlog` is merged by time: every shard's intervals, each moved onto the earliest
//! shard's base time, in time order (their histograms copied byte for byte). `timeline.jsonl` is
//! merged by time too ([`super::timeline::merge_timelines`]): points of the same second summed,
//! their percentiles taken from the shards' interval histograms of that second added.
//!
//! Refused, never summed: a summary that is not a shard, shards of different scenarios
//! (fingerprints), one shard twice, shards of different counts, a missing shard, a shard whose
//! histograms disagree with its own summary's counts. Pure: inputs in, a report and bytes out.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use hdrhistogram::Histogram;
use hdrhistogram::serialization::interval_log::{IntervalLogIterator, LogEntry};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::build::{exit_of, rank_in};
use super::readback::Histograms;
use super::thresholds::{self, Measured};
use super::timeline::{Point, ShardTimeline, merge_timelines};
use super::totals::RAW_SUFFIX;
use super::{
    Counts, CustomerReport, Exit, ExitStatus, OpReport, Percentiles, Report, SchemaTag,
    ShardFigures, StoredReport, TimedReport, Verdict, Versions, ViolationsReport, WarmupCounts,
};
use crate::scenario::Threshold;
use crate::vocab::{Counter, CustomerMetric, Metric, OpMetric, OpName};

/// One shard's results as read from its directory.
#[derive(Debug)]
pub struct ShardRun {
    /// Its results directory, as given (names it in errors and in the merged summary).
    pub source: String,
    pub report: StoredReport,
    /// Its `totals.hlog`.
    pub totals: Histograms,
    /// Its `latency.hlog`, as bytes.
    pub hlog: Vec<u8>,
    /// Its `timeline.jsonl` (empty if it has none).
    pub timeline: Vec<Point>,
}

/// The merge of all shards.
#[derive(Debug)]
pub struct Merged {
    pub report: StoredReport,
    /// The added histograms, by `totals.hlog` tag.
    pub totals: Histograms,
    /// The merged `latency.hlog`.
    pub hlog: Vec<u8>,
    /// The merged `timeline.jsonl` (empty when no shard has one).
    pub timeline: Vec<Point>,
}

/// Why shards cannot be merged.
#[derive(Debug, thiserror::Error)]
pub enum MergeError {
    #[error("nothing to merge: give the shards' results directories")]
    Nothing,
    #[error(
        "{0} is not a shard: its summary.json records no `shard` (run it with --shard or --shards)"
    )]
    NotAShard(String),
    #[error("{0} records no scenario fingerprint (written by an older gwsim)")]
    NoFingerprint(String),
    #[error(
        "{dir} is a shard of another scenario (fingerprint {found}, and {first} has {expected}): merging them would mix two scenarios"
    )]
    Fingerprint { dir: String, found: String, first: String, expected: String },
    #[error("{dir} is shard {index}/{count}, and {first} is one of {expected} shards")]
    Count { dir: String, index: u32, count: u32, first: String, expected: u32 },
    #[error("shard {index} is given twice: {first} and {second}")]
    Twice { index: u32, first: String, second: String },
    #[error("shards {} of {count} are missing", list(.missing))]
    Missing { missing: Vec<u32>, count: u32 },
    #[error("{dir}: {reason}")]
    Inconsistent { dir: String, reason: String },
    #[error("{dir}: latency.hlog: {reason}")]
    Hlog { dir: String, reason: String },
}

fn list(v: &[u32]) -> String {
    v.iter().map(u32::to_string).collect::<Vec<_>>().join(", ")
}

/// Checks that `shards` are exactly shards 0..N-1 of one N of one scenario, and returns them in
/// index order.
fn check(mut shards: Vec<ShardRun>) -> Result<Vec<ShardRun>, MergeError> {
    let first = shards.first().ok_or(MergeError::Nothing)?;
    let first_source = first.source.clone();
    let first_shard =
        first.report.shard.ok_or_else(|| MergeError::NotAShard(first_source.clone()))?;
    let expected = first
        .report
        .fingerprint
        .clone()
        .ok_or_else(|| MergeError::NoFingerprint(first_source.clone()))?;
    let mut seen: BTreeMap<u32, String> = BTreeMap::new();
    for s in &shards {
        let shard = s.report.shard.ok_or_else(|| MergeError::NotAShard(s.source.clone()))?;
        let found = s
            .report
            .fingerprint
            .clone()
            .ok_or_else(|| MergeError::NoFingerprint(s.source.clone()))?;
        if found != expected {
            return Err(MergeError::Fingerprint {
                dir: s.source.clone(),
                found,
                first: first_source,
                expected,
            });
        }
        if shard.count != first_shard.count {
            return Err(MergeError::Count {
                dir: s.source.clone(),
                index: shard.index,
                count: shard.count,
                first: first_source,
                expected: first_shard.count,
            });
        }
        if let Some(prev) = seen.insert(shard.index, s.source.clone()) {
            return Err(MergeError::Twice {
                index: shard.index,
                first: prev,
                second: s.source.clone(),
            });
        }
    }
    let missing: Vec<u32> = (0..first_shard.count).filter(|i| !seen.contains_key(i)).collect();
    if !missing.is_empty() {
        return Err(MergeError::Missing { missing, count: first_shard.count });
    }
    shards.sort_by_key(|s| s.report.shard.map_or(0, |sh| sh.index));
    Ok(shards)
}

/// Adds every shard's histogram of each tag. Each shard's histograms must agree with its own
/// summary (the same sample counts), so files mixed up between directories are caught.
fn add_totals(shards: &[ShardRun]) -> Result<Histograms, MergeError> {
    let mut out = Histograms::new();
    for s in shards {
        let bad = |reason: String| MergeError::Inconsistent { dir: s.source.clone(), reason };
        let counts: BTreeMap<String, u64> = timed_counts(&s.report).into_iter().collect();
        for (tag, count) in &counts {
            let have = s.totals.get(tag).map_or(0, Histogram::len);
            if have != *count {
                return Err(bad(format!(
                    "totals.hlog holds {have} samples of {tag}, and its summary.json {count}"
                )));
            }
        }
        if let Some((tag, h)) =
            s.totals.iter().find(|(t, h)| !counts.contains_key(*t) && !h.is_empty())
        {
            return Err(bad(format!(
                "totals.hlog holds {} samples of {tag}, which its summary.json does not report",
                h.len()
            )));
        }
        for (tag, h) in &s.totals {
            match out.get_mut(tag) {
                Some(total) => total
                    .add(h)
                    .map_err(|e| bad(format!("cannot add its {tag} histogram: {e:?}")))?,
                None => {
                    let mut total = h.clone();
                    // Later shards may hold larger values; equal settings otherwise.
                    total.auto(true);
                    out.insert(tag.clone(), total);
                }
            }
        }
    }
    Ok(out)
}

/// The measured sample count of every timed metric a summary reports, by `totals.hlog` tag.
fn timed_counts(r: &StoredReport) -> Vec<(String, u64)> {
    let mut out = Vec::new();
    for op in &r.operations {
        for (kind, t) in [(OpMetric::Response, &op.response), (OpMetric::Settle, &op.settle)] {
            if let Some(t) = t {
                let name = Metric::Op(op.name, kind).to_string();
                out.push((format!("{name}{RAW_SUFFIX}"), t.raw.map_or(0, |p| p.count)));
                out.push((name, t.count));
            }
        }
    }
    for m in CustomerMetric::TIMED {
        if let Some(t) = r.customers.timed(m) {
            let name = Metric::Customer(m).to_string();
            // Summaries older than the customers' raw variant have none: nothing to check.
            if let Some(raw) = t.raw {
                out.push((format!("{name}{RAW_SUFFIX}"), raw.count));
            }
            out.push((name, t.count));
        }
    }
    out
}

/// A timed metric of the merge: sample counts from the added histograms, warmup counts summed.
fn timed(
    parts: &[Option<&TimedReport>],
    name: &str,
    totals: &Histograms,
    with_raw: bool,
) -> Option<TimedReport> {
    if parts.iter().all(Option::is_none) {
        return None;
    }
    let corrected = totals.get(name);
    let raw = with_raw.then(|| totals.get(&format!("{name}{RAW_SUFFIX}"))).flatten();
    Some(TimedReport {
        count: corrected.map_or(0, Histogram::len),
        warmup: parts.iter().flatten().map(|t| t.warmup).sum(),
        corrected: corrected.and_then(Percentiles::of),
        raw: raw.and_then(Percentiles::of),
    })
}

fn operations(shards: &[ShardRun], totals: &Histograms) -> Vec<OpReport> {
    let mut by_name: BTreeMap<String, Vec<&OpReport>> = BTreeMap::new();
    for s in shards {
        for op in &s.report.operations {
            by_name.entry(op.name.to_string()).or_default().push(op);
        }
    }
    let mut out: Vec<OpReport> = by_name
        .into_values()
        .filter_map(|parts| {
            let first = *parts.first()?;
            let mut errors_by_kind: BTreeMap<String, u64> = BTreeMap::new();
            for p in &parts {
                for (k, n) in &p.errors_by_kind {
                    *errors_by_kind.entry(k.clone()).or_default() += n;
                }
            }
            let sum = |f: fn(&OpReport) -> u64| parts.iter().map(|p| f(p)).sum::<u64>();
            let metric = |kind| Metric::Op(first.name, kind).to_string();
            let resp: Vec<_> = parts.iter().map(|p| p.response.as_ref()).collect();
            let settle: Vec<_> = parts.iter().map(|p| p.settle.as_ref()).collect();
            Some(OpReport {
                name: first.name,
                kind: first.kind,
                count: sum(|p| p.count),
                ok: sum(|p| p.ok),
                errors: sum(|p| p.errors),
                errors_by_kind,
                warmup: WarmupCounts { ok: sum(|p| p.warmup.ok), errors: sum(|p| p.warmup.errors) },
                response: timed(&resp, &metric(OpMetric::Response), totals, true),
                settle: timed(&settle, &metric(OpMetric::Settle), totals, true),
            })
        })
        .collect();
    // Every shard ran the same scenario: the first one's order is the flow order.
    let order: Vec<OpName> = shards
        .first()
        .map(|s| s.report.operations.iter().map(|o| o.name).collect())
        .unwrap_or_default();
    out.sort_by_key(|op| rank_in(&order, op.name));
    out
}

fn customers(shards: &[ShardRun], totals: &Histograms) -> CustomerReport {
    let merged = |m: CustomerMetric| {
        let parts: Vec<_> = shards.iter().map(|s| s.report.customers.timed(m)).collect();
        timed(&parts, &Metric::Customer(m).to_string(), totals, true)
    };
    CustomerReport {
        wait: merged(CustomerMetric::Wait),
        send: merged(CustomerMetric::Send),
        to_agent: merged(CustomerMetric::ToAgent),
        to_customer: merged(CustomerMetric::ToCustomer),
        abandoned: shards.iter().map(|s| s.report.customers.abandoned).sum(),
        abandoned_warmup: shards.iter().map(|s| s.report.customers.abandoned_warmup).sum(),
    }
}

fn counts(shards: &[ShardRun]) -> Counts {
    let sum = |f: fn(&Counts) -> u64| shards.iter().map(|s| f(&s.report.counts)).sum();
    Counts {
        operations: sum(|c| c.operations),
        errors: sum(|c| c.errors),
        violations: sum(|c| c.violations),
        reconnects: sum(|c| c.reconnects),
        missed_starts: sum(|c| c.missed_starts),
        abandoned: sum(|c| c.abandoned),
        flows_completed: sum(|c| c.flows_completed),
        chats_completed: sum(|c| c.chats_completed),
    }
}

fn violations(shards: &[ShardRun]) -> ViolationsReport {
    let mut by_kind = BTreeMap::new();
    let mut first = Vec::new();
    for s in shards {
        for (k, n) in &s.report.violations.by_kind {
            *by_kind.entry(*k).or_default() += n;
        }
        first.extend(s.report.violations.first.iter().cloned());
    }
    // Each shard's `at_ms` is on its own clock; with a common start they are comparable.
    first.sort_by_key(|v| v.at_ms);
    first.truncate(crate::metrics::VIOLATIONS_KEPT);
    ViolationsReport {
        total: shards.iter().map(|s| s.report.violations.total).sum(),
        by_kind,
        first,
        // Each shard's violations.jsonl stays in its own directory; the merge keeps the counts.
        file: None,
    }
}

/// The merge's measurements, for judging thresholds: counts from the summed report, latencies
/// from the added histograms.
struct Sum<'a> {
    report: &'a StoredReport,
    corrected: &'a Histograms,
}

impl Measured for Sum<'_> {
    fn measured_latency(&self, metric: Metric) -> Option<&Histogram<u64>> {
        match metric {
            Metric::Op(_, OpMetric::Response | OpMetric::Settle) => {}
            Metric::Customer(CustomerMetric::Abandoned) => return None,
            Metric::Customer(_) => {}
            _ => return None,
        }
        self.corrected.get(&metric.to_string())
    }

    fn measured_count(&self, metric: Metric) -> Option<u64> {
        let r = self.report;
        let op = |name| r.operations.iter().find(|o| o.name == name);
        Some(match metric {
            Metric::Op(name, OpMetric::Errors) => op(name).map_or(0, |o| o.errors),
            Metric::Op(name, OpMetric::Count) => op(name).map_or(0, |o| o.count),
            Metric::Op(_, OpMetric::Response | OpMetric::Settle) => return None,
            Metric::Customer(CustomerMetric::Abandoned) => r.customers.abandoned,
            Metric::Customer(_) => return None,
            Metric::Counter(Counter::Errors) => r.counts.errors,
            Metric::Counter(Counter::Violations) => r.violations.total,
            Metric::Counter(Counter::MissedStarts) => r.counts.missed_starts,
            Metric::Counter(Counter::Reconnects) => r.counts.reconnects,
            Metric::Counter(Counter::FlowsCompleted) => r.counts.flows_completed,
            Metric::Counter(Counter::ChatsCompleted) => r.counts.chats_completed,
            Metric::Violations(k) => r.violations.by_kind.get(&k).copied().unwrap_or(0),
            // Fault ratios are not counts; a merge has no ledger join (shards run against a
            // remote target, which takes no [faults]).
            Metric::Faults(..) => return None,
        })
    }

    fn measured_error_rate(&self, metric: Metric) -> Option<f64> {
        let r = self.report;
        let (errors, total) = match metric {
            Metric::Op(name, OpMetric::Errors) => {
                let o = r.operations.iter().find(|o| o.name == name)?;
                (o.errors, o.count)
            }
            Metric::Counter(Counter::Errors) => (r.counts.errors, r.counts.operations),
            _ => return None,
        };
        (total > 0).then(|| errors as f64 / total as f64)
    }
}

fn parse_time(s: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(s, &Rfc3339).ok()
}

/// The earliest (`min`) or latest of RFC 3339 times; unreadable ones are passed over.
fn extreme<'a>(times: impl Iterator<Item = &'a String>, min: bool) -> String {
    let mut best: Option<(OffsetDateTime, &String)> = None;
    for t in times {
        let Some(parsed) = parse_time(t) else { continue };
        if best.is_none_or(|(b, _)| if min { parsed < b } else { parsed > b }) {
            best = Some((parsed, t));
        }
    }
    best.map(|(_, s)| s.clone()).unwrap_or_default()
}

/// When a shard's load phase started, as its `latency.hlog` says (its base time, else its start
/// time; zero for a log without either).
fn hlog_base(s: &ShardRun) -> Result<Duration, MergeError> {
    let mut start = None;
    for entry in IntervalLogIterator::new(&s.hlog) {
        let entry = entry.map_err(|e| MergeError::Hlog {
            dir: s.source.clone(),
            reason: format!("unreadable: {e:?}"),
        })?;
        match entry {
            LogEntry::BaseTime(t) => return Ok(t),
            LogEntry::StartTime(t) => start = Some(t),
            LogEntry::Interval(_) => {}
        }
    }
    Ok(start.unwrap_or(Duration::ZERO))
}

/// The timeline.jsonl of all shards merged by time (module docs).
fn merge_timeline(shards: &[ShardRun]) -> Result<Vec<Point>, MergeError> {
    if shards.iter().all(|s| s.timeline.is_empty()) {
        return Ok(Vec::new());
    }
    let bases = shards.iter().map(hlog_base).collect::<Result<Vec<_>, _>>()?;
    let earliest = bases.iter().min().copied().unwrap_or(Duration::ZERO);
    let intervals = shards
        .iter()
        .map(|s| {
            let name = std::path::Path::new(&s.source).join(super::files::HLOG_FILE);
            super::readback::parse_hlog_by_start(&name, &s.hlog)
                .map_err(|e| MergeError::Hlog { dir: s.source.clone(), reason: e.to_string() })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let inputs: Vec<ShardTimeline<'_>> = shards
        .iter()
        .zip(&intervals)
        .zip(&bases)
        .map(|((s, intervals), base)| ShardTimeline {
            points: &s.timeline,
            intervals,
            offset: base.saturating_sub(earliest),
        })
        .collect();
    Ok(merge_timelines(&inputs))
}

/// The latency.hlog of all shards merged by time (module docs).
fn merge_hlogs(shards: &[ShardRun]) -> Result<Vec<u8>, MergeError> {
    struct Line<'a> {
        at: Duration,
        shard: usize,
        tag: String,
        length: Duration,
        max: f64,
        encoded: &'a str,
    }
    let mut lines = Vec::new();
    let mut bases = Vec::new();
    let mut comments = Vec::new();
    for (i, s) in shards.iter().enumerate() {
        let mut base = None;
        let mut start = None;
        let mut mine = Vec::new();
        for entry in IntervalLogIterator::new(&s.hlog) {
            let entry = entry.map_err(|e| MergeError::Hlog {
                dir: s.source.clone(),
                reason: format!("unreadable: {e:?}"),
            })?;
            match entry {
                LogEntry::BaseTime(t) => base = Some(t),
                LogEntry::StartTime(t) => start = Some(t),
                LogEntry::Interval(h) => mine.push(h),
            }
        }
        let base = base.or(start).unwrap_or(Duration::ZERO);
        bases.push(base);
        if i == 0 {
            for line in String::from_utf8_lossy(&s.hlog).lines() {
                if line.starts_with("#[Scenario") || line.starts_with("#[Timestamps") {
                    comments.push(line.to_owned());
                }
            }
        }
        for h in mine {
            lines.push(Line {
                at: base + h.start_timestamp(),
                shard: i,
                tag: h.tag().map(|t| t.as_str().to_owned()).unwrap_or_default(),
                length: h.duration(),
                max: h.max(),
                encoded: h.encoded_histogram(),
            });
        }
    }
    let base = bases.iter().min().copied().unwrap_or(Duration::ZERO);
    // Stable: intervals at one time keep shard order, then their order in the shard's log.
    lines.sort_by_key(|l| (l.at, l.shard));
    let mut out = String::new();
    let _ = writeln!(out, "#[Logged with gwsim {}]", env!("CARGO_PKG_VERSION"));
    let _ = writeln!(out, "#[Histogram log format version 1.3]");
    let _ = writeln!(out, "#[Merged by gwsim merge from {} shards]", shards.len());
    for c in comments {
        let _ = writeln!(out, "{c}");
    }
    let _ = writeln!(out, "#[StartTime: {:.3} (seconds since epoch)]", base.as_secs_f64());
    let _ = writeln!(out, "#[BaseTime: {:.3} (seconds since epoch)]", base.as_secs_f64());
    out.push_str(
        "\"StartTimestamp\",\"Interval_Length\",\"Interval_Max\",\"Interval_Compressed_Histogram\"\n",
    );
    for l in lines {
        let tag = if l.tag.is_empty() { String::new() } else { format!("Tag={},", l.tag) };
        let _ = writeln!(
            out,
            "{tag}{:.3},{:.3},{:.3},{}",
            (l.at - base).as_secs_f64(),
            l.length.as_secs_f64(),
            l.max,
            l.encoded
        );
    }
    Ok(out.into_bytes())
}

/// Merges the shards of one run (module docs).
pub fn merge(shards: Vec<ShardRun>) -> Result<Merged, MergeError> {
    let shards = check(shards)?;
    let totals = add_totals(&shards)?;
    let hlog = merge_hlogs(&shards)?;
    let timeline = merge_timeline(&shards)?;
    let (corrected, _) = super::totals::split(&totals);
    let first = &shards[0].report;
    let partial = shards.iter().any(|s| s.report.partial);
    let mut warnings = Vec::new();
    for s in &shards {
        let shard = s.report.shard.map(|s| s.to_string()).unwrap_or_default();
        warnings.extend(s.report.warnings.iter().map(|w| format!("shard {shard}: {w}")));
    }
    let seed = first
        .scenario
        .rest
        .get("run")
        .and_then(|r| r.get("seed"))
        .and_then(serde_json::Value::as_u64)
        .unwrap_or(first.seed);
    let figures = shards
        .iter()
        .map(|s| {
            let shard = s.report.shard.unwrap_or(crate::scenario::Shard { index: 0, count: 1 });
            ShardFigures {
                index: shard.index,
                count: shard.count,
                source: s.source.clone(),
                partial: s.report.partial,
                exit: s.report.exit.clone(),
                started: s.report.started.clone(),
                duration_ms: s.report.duration_ms,
                start: s.report.start.clone(),
                counts: s.report.counts,
            }
        })
        .collect();
    let mut report = Report {
        schema: SchemaTag,
        partial,
        exit: Exit { code: 0, status: ExitStatus::Pass, checks: Verdict::Pass, reasons: vec![] },
        versions: Versions { gwsim: env!("CARGO_PKG_VERSION").to_owned() },
        seed,
        shard: None,
        fingerprint: first.fingerprint.clone(),
        start: None,
        // Each shard's phases are on its own clock; a merge has no timeline to shade.
        phases: None,
        shards: figures,
        started: extreme(shards.iter().map(|s| &s.report.started), true),
        ended: extreme(shards.iter().map(|s| &s.report.ended), false),
        duration_ms: shards.iter().map(|s| s.report.duration_ms).max().unwrap_or(0),
        latency_unit: first.latency_unit,
        target: first.target.clone(),
        options: first.options.clone(),
        warnings,
        thresholds: Vec::new(),
        operations: operations(&shards, &totals),
        customers: customers(&shards, &totals),
        counts: counts(&shards),
        throughput: super::throughput::Throughput::sum(
            shards.iter().map(|s| s.report.throughput.as_ref()),
        ),
        violations: violations(&shards),
        faults: None,
        generator: None,
        scenario: first.scenario.clone(),
    };
    // The whole scenario's thresholds, as every shard recorded them, judged on the sum.
    let wanted: Vec<Threshold> = first
        .thresholds
        .iter()
        .map(|v| Threshold { metric: v.metric, stat: v.stat, limit: v.limit })
        .collect();
    let verdicts = {
        let sum = Sum { report: &report, corrected: &corrected };
        wanted.iter().map(|t| thresholds::evaluate(t, &sum, None)).collect()
    };
    report.thresholds = verdicts;
    report.exit = exit_of(&report);
    Ok(Merged { report, totals, hlog, timeline })
}

/// Writes the merge's `summary.json`, `totals.hlog`, `latency.hlog` and `timeline.jsonl` into
/// `dir` (which exists);
/// returns the summary's path. `junit.xml` and `report.html` go through their usual writers.
pub fn write(
    dir: &std::path::Path,
    merged: &Merged,
) -> Result<std::path::PathBuf, super::ReportError> {
    use super::files::{HLOG_FILE, SUMMARY_FILE, write_atomic};
    let length = Duration::from_millis(merged.report.duration_ms);
    super::totals::write(dir, &merged.totals, length)?;
    write_atomic(&dir.join(HLOG_FILE), &merged.hlog)?;
    if !merged.timeline.is_empty() {
        let mut w =
            super::timeline::TimelineWriter::create(&dir.join(super::files::TIMELINE_FILE))?;
        for p in &merged.timeline {
            w.write(p)?;
        }
        w.finish()?;
    }
    let path = dir.join(SUMMARY_FILE);
    write_atomic(&path, super::json::to_json(&merged.report)?.as_bytes())?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;
    use crate::gws::states::Capability;
    use crate::metrics::Recorder;
    use crate::ordering::ViolationKind;
    use crate::report::tests::{info, scenario, violation};
    use crate::scenario::Shard;
    use crate::vocab::OpName;

    const ACCEPT: OpName = OpName::Flow(Capability::Accept);
    const CONSULT: OpName = OpName::Flow(Capability::Consult);

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// Two shards' measurements, different on purpose (values, errors, warmup, violations).
    fn recorders() -> [Recorder; 2] {
        let t0 = Instant::now();
        let mut a = Recorder::new();
        let mut b = Recorder::new();
        for i in 0..300u64 {
            a.latency(ACCEPT, OpMetric::Response, t0, t0, t0 + ms(2 + i % 17), true);
            a.op_ok(ACCEPT, true);
            b.latency(ACCEPT, OpMetric::Response, t0, t0 + ms(5), t0 + ms(40 + i * 3), true);
            b.op_ok(ACCEPT, true);
            b.latency(CONSULT, OpMetric::Settle, t0, t0 + ms(300), t0 + ms(350 + i), true);
        }
        a.latency(ACCEPT, OpMetric::Response, t0, t0, t0 + ms(5000), false);
        a.op_ok(ACCEPT, false);
        a.op_error(CONSULT, "status-2", true);
        b.op_error(CONSULT, "status-2", true);
        b.op_error(CONSULT, "timeout", true);
        a.customer_sample(CustomerMetric::Wait, ms(1500), true);
        b.customer_sample(CustomerMetric::Wait, ms(90), true);
        a.abandoned(true);
        b.count(Counter::MissedStarts, 3);
        a.violation(violation(ViolationKind::OutOfOrder, 12_034));
        b.violation(violation(ViolationKind::Missing, 20_500));
        [a, b]
    }

    const THRESHOLDS: &str = r#"
[[thresholds]]
metric = "Accept.response"
p99 = "500ms"
[[thresholds]]
metric = "Accept.count"
min = 400
[[thresholds]]
metric = "errors"
rate = 0.5
[[thresholds]]
metric = "violations"
max = 5
"#;

    fn shard_run(r: &Recorder, index: u32, fingerprint: &str) -> ShardRun {
        let mut report = Report::build(info(scenario(THRESHOLDS), false), r);
        report.shard = Some(Shard { index, count: 2 });
        report.fingerprint = Some(fingerprint.to_owned());
        let json = super::super::json::to_json(&report).unwrap();
        let report =
            super::super::readback::parse_summary(Path::new("s"), json.as_bytes()).unwrap();
        ShardRun {
            source: format!("shard-{index}"),
            report,
            totals: super::super::totals::histograms(r),
            hlog: Vec::new(),
            timeline: Vec::new(),
        }
    }

    use std::path::Path;

    /// The merge of two shards is what one process recording every sample would report.
    #[test]
    fn a_merge_equals_the_run_of_all_samples() {
        let [a, b] = recorders();
        let mut all = Recorder::new();
        all.merge(&a);
        all.merge(&b);
        let whole = Report::build(info(scenario(THRESHOLDS), false), &all);
        // Given in the wrong order on purpose.
        let merged = merge(vec![shard_run(&b, 1, "f"), shard_run(&a, 0, "f")]).unwrap().report;
        assert_eq!(merged.operations, whole.operations);
        assert_eq!(merged.customers, whole.customers);
        assert_eq!(merged.counts, whole.counts);
        assert_eq!(merged.violations, whole.violations);
        assert_eq!(merged.thresholds, whole.thresholds);
        assert_eq!(merged.exit, whole.exit);
        // Neither shard alone has 400 accepts: their own verdicts failed, the merge's holds.
        assert!(merged.shards.iter().all(|s| s.exit.status == ExitStatus::ChecksFailed));
        assert!(
            merged.thresholds.iter().find(|t| t.stat == crate::vocab::Stat::Min).unwrap().passed
        );
        assert_eq!(merged.shards.iter().map(|s| s.index).collect::<Vec<_>>(), vec![0, 1]);
    }

    #[test]
    fn twice_missing_and_foreign_shards_are_refused() {
        let [a, b] = recorders();
        let refused = |shards| merge(shards).err().map(|e| e.to_string()).unwrap_or_default();
        let e = refused(vec![shard_run(&a, 0, "f"), shard_run(&a, 0, "f")]);
        assert_eq!(e, "shard 0 is given twice: shard-0 and shard-0");
        let e = refused(vec![shard_run(&b, 1, "f")]);
        assert_eq!(e, "shards 0 of 2 are missing");
        let e = refused(vec![shard_run(&a, 0, "f"), shard_run(&b, 1, "g")]);
        assert!(e.contains("shard-1 is a shard of another scenario"), "{e}");
        let mut not_a_shard = shard_run(&a, 0, "f");
        not_a_shard.report.shard = None;
        assert!(matches!(merge(vec![not_a_shard]), Err(MergeError::NotAShard(_))));
        // Histograms that disagree with their own summary (files mixed up between directories).
        let mut mixed = shard_run(&a, 0, "f");
        mixed.totals = super::super::totals::histograms(&b);
        let e = merge(vec![mixed, shard_run(&b, 1, "f")]).err().map(|e| e.to_string());
        let e = e.unwrap_or_default();
        assert!(e.starts_with("shard-0: totals.hlog holds 300 samples of Consult.settle"), "{e}");
        assert!(matches!(merge(Vec::new()), Err(MergeError::Nothing)));
    }
}
