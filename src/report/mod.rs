//! The end-of-run summary: one [`Report`] data model, built from the run's merged
//! [`Recorder`](crate::metrics::Recorder) and its metadata, and one renderer per format
//! ([`terminal`] for people, [`json`] for `summary.json`, [`html`] for `report.html`, with the
//! percentile spectra of [`spectrum`]), plus the threshold verdicts and the
//! run's outcome (design.md "Outputs" and exit codes).
//!
//! The summary is computed once, after the run; the time series once a second, off the tasks'
//! recording path; nothing here is on a hot path. Wall-clock time appears only as metadata
//! (`started`, `ended`, the interval log's StartTime); durations come from the caller's
//! monotonic clock.
//!
//! # Use (from `gwsim run`)
//! 1. Before the run: [`prepare_results_dir`] creates `results/<UTC timestamp>-<scenario>/` (or
//!    `--out`, refused when it holds files unless `--force`) and proves it writable; an error
//!    there is a setup error (exit 2).
//! 2. During the run: [`live::IntervalOutputs`] takes each second from the engine and appends it
//!    to `latency.hlog` ([`hlog`]) and `timeline.jsonl` ([`timeline`]); at its end,
//!    [`hgrm::write_all`] writes one `<metric>.hgrm` per latency metric.
//! 3. After the run, also after Ctrl-C (`partial: true`): merge every task's recorder, then
//!    [`Report::build`], print [`render`], [`write_results`], [`write_html`] (with the merged
//!    recorder's [`html::PageHistograms`] and the time series read back from `timeline.jsonl`),
//!    `junit.xml`, and exit with [`Report::exit_code`] (0 pass, 1 checks failed, 130
//!    interrupted).
//!
//! `gwsim report DIR` re-renders through the same [`write_html`], with the histograms of
//! `totals.hlog` ([`readback`]) in the same form, so it draws the page the run drew. Every file name, and the results directory
//! itself, is in [`files`].

mod build;
pub mod capacity;
pub mod compare;
pub mod faults;
pub mod files;
pub mod generator;
pub mod hgrm;
pub mod hlog;
pub mod html;
pub mod json;
pub mod junit;
pub mod live;
pub mod merge;
pub mod readback;
mod served;
pub mod spectrum;
pub mod terminal;
mod thresholds;
pub mod throughput;
pub mod timeline;
pub mod totals;
pub mod violations;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_terminal;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use time::OffsetDateTime;

use crate::run_plan::{ResolvedTarget, RunOptions};
use crate::scenario::{Limit, Scenario};
use crate::vocab::{CustomerMetric, Metric, OpName, Stat, ViolationKind};

pub use files::{Existing, prepare_results_dir};
pub use html::{render_html, write_html};
pub use json::{SCHEMA, to_json, write_results, write_summary};
pub use junit::{junit_xml, write_junit};
pub use terminal::render;

/// What went wrong while preparing or writing results.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("cannot create results directory {path}: {source}")]
    CreateDir { path: PathBuf, source: std::io::Error },
    #[error(
        "results directory {path} is not empty: an earlier run's results would be overwritten \
         (choose another --out, or add --force to replace them)"
    )]
    NotEmpty { path: PathBuf },
    #[error("results directory {path} is not writable: {source}")]
    NotWritable { path: PathBuf, source: std::io::Error },
    #[error("cannot write {path}: {source}")]
    Write { path: PathBuf, source: std::io::Error },
    #[error("cannot serialize the summary: {0}")]
    Serialize(#[from] serde_json::Error),
    #[error("cannot write the interval log {path}: {message}")]
    Hlog { path: PathBuf, message: String },
}

/// What the caller knows about the run besides its measurements.
#[derive(Debug, Clone)]
pub struct RunInfo {
    /// The resolved scenario (CLI overrides applied); it holds no secret values.
    pub scenario: Scenario,
    /// Where the run went and how (the run plan's target, secrets left out).
    pub target: ResolvedTarget,
    /// The simulator's settings that shape results (poll interval, pools, timeouts).
    pub options: RunOptions,
    /// Wall-clock start and end (metadata only).
    pub started: OffsetDateTime,
    pub ended: OffsetDateTime,
    /// Monotonic run time, from the first login to the end of drain.
    pub elapsed: Duration,
    /// The run was interrupted (Ctrl-C): results cover only part of it.
    pub partial: bool,
    /// `--start-at`: the common start asked for and the real start of the load.
    pub start: Option<StartRecord>,
    /// The engine's measured window (throughput, gauges); empty: no throughput in the report.
    pub window: crate::metrics::gauges::Window,
    /// When the phases began, for the report's time charts; `None` when not known.
    pub phases: Option<Phases>,
}

/// When each phase of the run began, in milliseconds since the load phase started: the clock of
/// `timeline.jsonl`'s `t_ms`, so the report can shade its time charts by phase. The load phase
/// runs from 0 (its first `warmup_ms` are warmup) to `drain_ms`; drain to `logout_ms`; logout to
/// `end_ms`. Logging in took `login_ms` before 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Phases {
    pub login_ms: u64,
    pub warmup_ms: u64,
    pub drain_ms: u64,
    pub logout_ms: u64,
    pub end_ms: u64,
}

/// A shard's common start (`--start-at`): what it was given and when its load really began,
/// both RFC 3339 UTC.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StartRecord {
    pub asked: String,
    pub real: String,
}

/// One shard's own headline figures, kept beside the total in a merged summary.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShardFigures {
    pub index: u32,
    pub count: u32,
    /// The shard's results directory as given to `gwsim merge`.
    pub source: String,
    pub partial: bool,
    /// The shard's own exit code and status (informational: it judged a part of the load
    /// against the whole run's thresholds).
    pub exit: Exit,
    pub started: String,
    pub duration_ms: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start: Option<StartRecord>,
    pub counts: Counts,
}

/// The `schema` tag of a summary: always [`SCHEMA`]. Reading a summary with another tag is an
/// error, so a `Report` in memory is always of this schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SchemaTag;

impl Serialize for SchemaTag {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(SCHEMA)
    }
}

impl<'de> Deserialize<'de> for SchemaTag {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        if s == SCHEMA {
            Ok(SchemaTag)
        } else {
            Err(D::Error::custom(format!(
                "unsupported summary schema `{s}` (this gwsim reads {SCHEMA})"
            )))
        }
    }
}

/// The unit of every latency in a summary: microseconds, the histograms' unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LatencyUnit {
    #[default]
    Us,
}

/// The whole summary of a run; `summary.json` is its serialization
/// (`schema/summary.schema.json` describes it).
///
/// `S` is the scenario it carries: the validated [`Scenario`] of a run just finished, or, for a
/// report read back from `summary.json` ([`StoredReport`]), a [`ScenarioRecord`]: the scenario
/// as it was written, not re-validated, because nothing re-runs it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report<S = Scenario> {
    /// Always [`SCHEMA`]; reading a summary with another tag is an error.
    pub schema: SchemaTag,
    pub partial: bool,
    pub exit: Exit,
    pub versions: Versions,
    pub seed: u64,
    /// The shard this run was (`--shard`); `None` for a whole run and for a merge.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<crate::scenario::Shard>,
    /// The fingerprint of the whole scenario as resolved before sharding (`gwsim merge` refuses
    /// to mix fingerprints); `None` in summaries written before it was recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<String>,
    /// `--start-at`: the common start asked for and the real one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start: Option<StartRecord>,
    /// When the phases began ([`Phases`]); `None` in a merge (shards keep their own clocks) and
    /// in summaries written before it was recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phases: Option<Phases>,
    /// A merge (`gwsim merge`): every shard's own figures, in index order; empty otherwise.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub shards: Vec<ShardFigures>,
    /// RFC 3339, UTC.
    pub started: String,
    pub ended: String,
    pub duration_ms: u64,
    /// The unit of every latency number in this report.
    pub latency_unit: LatencyUnit,
    pub target: ResolvedTarget,
    /// The simulator's settings, so a run can be reproduced from its summary; `None` in a summary
    /// written before they were recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub options: Option<RunOptions>,
    /// Things a reader must not miss (missed starts, an interrupted run).
    pub warnings: Vec<String>,
    pub thresholds: Vec<ThresholdVerdict>,
    /// In the order a run performs them: login steps, the flow operations in the scenario's
    /// step order, logout steps.
    pub operations: Vec<OpReport>,
    pub customers: CustomerReport,
    pub counts: Counts,
    /// Rates and concurrency over the measured window; `None` when no interval of it was
    /// measured (interrupted in warmup) and in summaries from before it was recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub throughput: Option<throughput::Throughput>,
    pub violations: ViolationsReport,
    /// The fault ledger joined with the violations: for an embedded run with `[faults]`, and for a
    /// run with `[proxy]` (the proxy's records, with the server's if both).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub faults: Option<faults::FaultsReport>,
    /// The generator's own CPU and scheduling lag over the run; `None` in a merge and in
    /// summaries from before it was recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generator: Option<generator::GeneratorReport>,
    pub scenario: S,
}

/// A report read back from `summary.json` (by `gwsim report` and `gwsim compare`).
pub type StoredReport = Report<ScenarioRecord>;

/// The resolved scenario as `summary.json` holds it: its name, and the rest as written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScenarioRecord {
    pub name: String,
    #[serde(flatten)]
    pub rest: serde_json::Map<String, serde_json::Value>,
}

/// What the renderers need of the scenario a report carries.
pub trait ScenarioView {
    fn name(&self) -> &str;
    /// How many agents the scenario runs, all populations together.
    fn agents(&self) -> u64;
}

impl ScenarioView for Scenario {
    fn name(&self) -> &str {
        &self.name
    }

    fn agents(&self) -> u64 {
        self.agents.iter().map(|p| u64::from(p.count)).sum()
    }
}

impl ScenarioView for ScenarioRecord {
    fn name(&self) -> &str {
        &self.name
    }

    /// The populations' `count`s as written; a summary edited by hand into another shape counts
    /// what it can read (0 when nothing).
    fn agents(&self) -> u64 {
        let Some(serde_json::Value::Array(pops)) = self.rest.get("agents") else { return 0 };
        pops.iter().filter_map(|p| p.get("count").and_then(serde_json::Value::as_u64)).sum()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Versions {
    /// The version that wrote the summary (a read-back summary may come from another version).
    pub gwsim: String,
}

/// How the run ended, as the process exit code says it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Exit {
    /// 0 all checks held, 1 a check failed, 130 interrupted (design.md).
    pub code: u8,
    pub status: ExitStatus,
    /// The checks alone, whether or not the run was interrupted.
    pub checks: Verdict,
    /// One sentence per failed check, or why the run is partial.
    pub reasons: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ExitStatus {
    Pass,
    ChecksFailed,
    Interrupted,
}

/// Whether the run's checks held.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    Pass,
    ChecksFailed,
}

impl Verdict {
    /// design.md: 0 all thresholds held; 1 a threshold failed or violations where none allowed.
    pub fn exit_code(self) -> u8 {
        match self {
            Verdict::Pass => 0,
            Verdict::ChecksFailed => 1,
        }
    }
}

/// The exit code of an interrupted run (128 + SIGINT), whatever its checks say.
pub const EXIT_INTERRUPTED: u8 = 130;

/// Whether the checks held: every threshold passed, and no ordering violation occurred of a kind
/// no threshold governs. A `violations` threshold governs every kind, a `violations.<kind>`
/// threshold its kind; without either, any violation fails the run (design.md: "ordering
/// violations occurred where the scenario allows none").
pub fn outcome<S>(report: &Report<S>) -> Verdict {
    if thresholds::failures(report).is_empty() { Verdict::Pass } else { Verdict::ChecksFailed }
}

/// The distribution statistics ([`Stat::DISTRIBUTION`]: p50 p90 p99 p99.9 max mean) of one
/// histogram, in microseconds; percentiles are hdrhistogram's (at most 0.1% above the exact
/// percentile). In JSON an object: `count`, then one key per statistic, named as the statistic
/// (`"p99.9"`), integers except the mean.
///
/// Which statistics there are is [`Stat::DISTRIBUTION`]'s business and how each is taken from a
/// histogram is [`stat_of`]'s: adding a percentile to the vocabulary adds it to every report
/// (and the schema must say so).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Percentiles {
    pub count: u64,
    /// In the order of [`Stat::DISTRIBUTION`].
    values: [f64; Stat::DISTRIBUTION.len()],
}

/// A distribution statistic of a histogram of microseconds; `None` for count limits (`min`,
/// `rate`). Percentiles are `value_at_quantile` of the statistic's quantile.
pub fn stat_of(h: &Histogram<u64>, stat: Stat) -> Option<f64> {
    match stat {
        Stat::Max => Some(h.max() as f64),
        Stat::Mean => Some(h.mean()),
        s => s.quantile().map(|q| h.value_at_quantile(q) as f64),
    }
}

impl Percentiles {
    /// The statistics of `h`, or `None` when it is empty. The mean is rounded to 0.1 µs, so the
    /// JSON does not carry float noise.
    pub fn of(h: &Histogram<u64>) -> Option<Percentiles> {
        if h.is_empty() {
            return None;
        }
        let values = Stat::DISTRIBUTION.map(|s| {
            let v = stat_of(h, s).unwrap_or(f64::NAN);
            if s == Stat::Mean { (v * 10.0).round() / 10.0 } else { v }
        });
        Some(Percentiles { count: h.len(), values })
    }

    /// A distribution statistic; `None` for count limits (`min`, `rate`).
    pub fn stat(&self, stat: Stat) -> Option<f64> {
        let i = Stat::DISTRIBUTION.iter().position(|s| *s == stat)?;
        Some(self.values[i])
    }

    /// A statistic that is a recorded value (a percentile or the max), in whole microseconds;
    /// `None` for the mean and count limits.
    pub fn us(&self, stat: Stat) -> Option<u64> {
        (stat != Stat::Mean).then(|| self.stat(stat)).flatten().map(|v| v as u64)
    }

    /// The statistics that are recorded values (every one but the mean), in report order: the
    /// columns of the latency tables.
    pub fn columns() -> impl Iterator<Item = Stat> {
        Stat::DISTRIBUTION.into_iter().filter(|s| *s != Stat::Mean)
    }
}

impl Serialize for Percentiles {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(Some(1 + self.values.len()))?;
        m.serialize_entry("count", &self.count)?;
        for (stat, v) in Stat::DISTRIBUTION.iter().zip(self.values) {
            match self.us(*stat) {
                Some(us) => m.serialize_entry(stat.as_str(), &us)?,
                None => m.serialize_entry(stat.as_str(), &v)?,
            }
        }
        m.end()
    }
}

impl<'de> Deserialize<'de> for Percentiles {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        /// A JSON number as written: the recorded values are whole microseconds.
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Number {
            Whole(u64),
            Fraction(f64),
        }
        let mut map = BTreeMap::<String, Number>::deserialize(d)?;
        let count = match map.remove("count") {
            Some(Number::Whole(n)) => n,
            Some(Number::Fraction(x)) => {
                return Err(D::Error::custom(format!("`count` must be a whole number, not {x}")));
            }
            None => return Err(D::Error::missing_field("count")),
        };
        let mut values = [0.0; Stat::DISTRIBUTION.len()];
        for (slot, stat) in values.iter_mut().zip(Stat::DISTRIBUTION) {
            *slot = match map.remove(stat.as_str()) {
                Some(Number::Whole(n)) => n as f64,
                Some(Number::Fraction(x)) if stat == Stat::Mean => x,
                Some(Number::Fraction(x)) => {
                    return Err(D::Error::custom(format!(
                        "`{stat}` must be whole microseconds, not {x}"
                    )));
                }
                None => return Err(D::Error::missing_field(stat.as_str())),
            };
        }
        Ok(Percentiles { count, values })
    }
}

/// One latency metric: its measured samples' percentiles, and how many warmup samples were left
/// out.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimedReport {
    /// Measured samples (the histograms' count).
    pub count: u64,
    /// Samples taken during warmup, not in the histograms.
    pub warmup: u64,
    /// From the intended start (coordinated omission corrected); `None`: no measured sample.
    pub corrected: Option<Percentiles>,
    /// From when the request left. `None` with no measured sample (and in summaries older than
    /// customer metrics' raw variant, for those).
    pub raw: Option<Percentiles>,
}

/// One operation: outcomes and latencies.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OpReport {
    pub name: OpName,
    /// `flow` (an interaction operation) or `session` (a login or logout step).
    pub kind: OpKind,
    /// Measured operations with an outcome (`ok + errors`).
    pub count: u64,
    pub ok: u64,
    pub errors: u64,
    /// Measured failures by kind.
    pub errors_by_kind: BTreeMap<String, u64>,
    pub warmup: WarmupCounts,
    pub response: Option<TimedReport>,
    pub settle: Option<TimedReport>,
}

/// Whether an operation is a flow step or a session step ([`OpName`]'s two halves).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OpKind {
    Flow,
    Session,
}

impl OpKind {
    pub fn of(op: OpName) -> OpKind {
        match op {
            OpName::Flow(_) => OpKind::Flow,
            OpName::Session(_) => OpKind::Session,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            OpKind::Flow => "flow",
            OpKind::Session => "session",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct WarmupCounts {
    pub ok: u64,
    pub errors: u64,
}

/// The customer side: latencies and abandonment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CustomerReport {
    pub wait: Option<TimedReport>,
    /// A customer message's request to its answer, corrected from its paced send time (absent
    /// from summaries older than this metric).
    #[serde(default)]
    pub send: Option<TimedReport>,
    pub to_agent: Option<TimedReport>,
    pub to_customer: Option<TimedReport>,
    pub abandoned: u64,
    pub abandoned_warmup: u64,
}

impl CustomerReport {
    /// The latency of `metric`; `None` for `Abandoned` (a count) or no samples.
    pub fn timed(&self, metric: CustomerMetric) -> Option<&TimedReport> {
        match metric {
            CustomerMetric::Wait => self.wait.as_ref(),
            CustomerMetric::Send => self.send.as_ref(),
            CustomerMetric::ToAgent => self.to_agent.as_ref(),
            CustomerMetric::ToCustomer => self.to_customer.as_ref(),
            CustomerMetric::Abandoned => None,
        }
    }
}

/// Run-wide counts (measured).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    pub operations: u64,
    pub errors: u64,
    pub violations: u64,
    pub reconnects: u64,
    pub missed_starts: u64,
    pub abandoned: u64,
    /// Agent flows that ran every step (the whole run, warmup included).
    #[serde(default)]
    pub flows_completed: u64,
    /// Customer chats that ended after an agent joined (the whole run, warmup included).
    #[serde(default)]
    pub chats_completed: u64,
}

/// Ordering violations: every kind's count and the first few in full.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ViolationsReport {
    pub total: u64,
    /// Every kind, zeros included (written alphabetically: [`ViolationsReport::by_name`]).
    /// Their sum can be below `total` only when the engine counted violations directly, without
    /// a kind.
    #[serde(serialize_with = "alphabetically")]
    pub by_kind: BTreeMap<ViolationKind, u64>,
    /// The earliest violations (at most [`crate::metrics::VIOLATIONS_KEPT`]).
    pub first: Vec<ViolationReport>,
    /// `violations.jsonl`, where every violation went; `None` when no file was written (a run
    /// without a results directory, or a summary from before the file existed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<ViolationsFileReport>,
}

/// What `violations.jsonl` holds: every violation up to its cap, and how many the cap left out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ViolationsFileReport {
    /// The file's name in the results directory.
    pub path: String,
    /// Lines written (one violation each).
    pub written: u64,
    /// Violations not written: beyond the cap, or after a write failed.
    pub dropped: u64,
    pub cap: u64,
    /// A write failed, so the file stops early.
    pub failed: bool,
}

impl ViolationsReport {
    /// The counts by kind in the order people read them and `summary.json` writes them:
    /// alphabetically by name (the kinds' own order is the design's, not the alphabet's).
    pub fn by_name(&self) -> Vec<(ViolationKind, u64)> {
        let mut v: Vec<_> = self.by_kind.iter().map(|(k, n)| (*k, *n)).collect();
        v.sort_by_key(|(k, _)| k.as_str());
        v
    }
}

fn alphabetically<S: Serializer>(
    by_kind: &BTreeMap<ViolationKind, u64>,
    s: S,
) -> Result<S::Ok, S::Error> {
    s.collect_map(by_kind.iter().map(|(k, n)| (k.as_str(), n)).collect::<BTreeMap<_, _>>())
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ViolationReport {
    pub kind: ViolationKind,
    pub agent: String,
    pub interaction: String,
    pub expected: String,
    pub got: String,
    pub context: Vec<String>,
    /// Milliseconds on the run's monotonic clock.
    pub at_ms: u64,
}

impl From<&crate::ordering::Violation> for ViolationReport {
    fn from(v: &crate::ordering::Violation) -> Self {
        ViolationReport {
            kind: v.kind,
            agent: v.agent.clone(),
            interaction: v.interaction.clone(),
            expected: v.expected.clone(),
            got: v.got.clone(),
            context: v.context.clone(),
            at_ms: v.at_ms,
        }
    }
}

/// The verdict on one threshold.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ThresholdVerdict {
    pub metric: Metric,
    pub stat: Stat,
    /// As written in the scenario (a duration string, a count or a fraction).
    pub limit: Limit,
    /// The limit as a number in `unit`.
    pub limit_value: f64,
    /// The observed value in `unit`; `None` when there was no data.
    pub observed: Option<f64>,
    pub unit: Unit,
    pub outcome: ThresholdOutcome,
    pub passed: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Unit {
    /// Microseconds.
    Us,
    Count,
    Fraction,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ThresholdOutcome {
    Pass,
    Fail,
    /// Nothing was measured for a latency or rate statistic: a check that cannot be evaluated
    /// fails, or a run that never performed an operation would pass its latency thresholds.
    NoData,
    /// The statistic or limit does not fit the metric (the scenario validator rules this out;
    /// kept so a hand-built threshold fails visibly rather than passing).
    Inapplicable,
}

/// A latency in microseconds for people, to about 3 significant digits: `850us`, `12.3ms`,
/// `1.05s`.
pub(crate) fn human_us(us: f64) -> String {
    fn sig3(x: f64) -> String {
        if x >= 100.0 {
            format!("{x:.0}")
        } else if x >= 10.0 {
            format!("{x:.1}")
        } else {
            format!("{x:.2}")
        }
    }
    if us < 999.5 {
        format!("{us:.0}us")
    } else if us < 999_500.0 {
        format!("{}ms", sig3(us / 1e3))
    } else {
        format!("{}s", sig3(us / 1e6))
    }
}

impl Report {
    /// The summary of a run from its merged recorder.
    pub fn build(info: RunInfo, metrics: &crate::metrics::Recorder) -> Report {
        build::build(info, metrics, None)
    }

    /// [`Report::build`] for a run with faults: `faults` (the ledger joined with the violations)
    /// goes into the report, and `faults.*` thresholds are judged against it.
    pub fn build_with(
        info: RunInfo,
        metrics: &crate::metrics::Recorder,
        faults: Option<faults::FaultsReport>,
    ) -> Report {
        build::build(info, metrics, faults)
    }
}

impl<S> Report<S> {
    /// The process exit code design.md gives this run.
    pub fn exit_code(&self) -> u8 {
        self.exit.code
    }
}
