//! The simulator's Prometheus families (`gwsim run --prometheus`), fed one interval at a time:
//! [`RunMetrics`] is an [`IntervalObserver`], so the engine's ticker, which already gathers each
//! second into one recorder for the time-series files, hands it the same recorder. Nothing is
//! added to the hot path; a scrape sees the run up to the last full second.
//!
//! Prometheus counts every operation of the run: the logins (handed over once when the load
//! phase starts), then every interval of load, drain and logout, warmup included (a live view
//! shows the load as it is offered). `summary.json` counts after warmup only, so the two totals
//! are equal when the scenario's warmup is 0 (what `tests/prometheus/run` checks) and differ by
//! the warmup's operations otherwise.
//!
//! Latency histograms take the corrected latencies (from the intended start, as the report's
//! headline figures), bucketed from each interval's HdrHistogram: exact counts, bucket edges to
//! HdrHistogram's 3 significant digits.

use std::borrow::Cow;
use std::sync::{Arc, Mutex};

use prometheus_client::encoding::{EncodeMetric, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::{MetricType, TypedMetric};
use prometheus_client::registry::{Registry, Unit};

use super::names::{self, LATENCY_BUCKETS};
use crate::metrics::gauges::GaugeSample;
use crate::metrics::interval::IntervalObserver;
use crate::metrics::{LatencyHistogram, Recorder};
use crate::ordering::ViolationKind;
use crate::scenario::Shard;
use crate::vocab::{Counter as RunCounter, CustomerMetric, OpMetric};

/// A label set of `N` pairs; values borrow the vocabulary's static spellings where they can.
type Labels<const N: usize> = [(&'static str, Cow<'static, str>); N];

/// A Prometheus histogram with [`LATENCY_BUCKETS`], filled from HdrHistograms a whole interval at
/// a time (prometheus-client's own `Histogram` takes one observation at a time).
#[derive(Debug, Clone, Default)]
pub struct BucketHistogram(Arc<Mutex<Buckets>>);

#[derive(Debug, Default)]
struct Buckets {
    /// Per bucket, not cumulative; the last is `+Inf`.
    counts: [u64; LATENCY_BUCKETS.len() + 1],
    sum_seconds: f64,
    count: u64,
}

impl BucketHistogram {
    /// Adds every value of `h` (microseconds).
    pub fn add(&self, h: &LatencyHistogram) {
        if h.is_empty() {
            return;
        }
        // A std mutex: held for one pass over the interval's distinct values, never across an
        // await; a poisoned lock still holds counts worth serving.
        let mut b = self.0.lock().unwrap_or_else(|e| e.into_inner());
        for v in h.inner().iter_recorded() {
            let seconds = v.value_iterated_to() as f64 / 1e6;
            let n = v.count_at_value();
            let i = LATENCY_BUCKETS.partition_point(|bound| *bound < seconds);
            b.counts[i] = b.counts[i].saturating_add(n);
            b.sum_seconds += seconds * n as f64;
            b.count = b.count.saturating_add(n);
        }
    }

    /// How many values were added.
    pub fn count(&self) -> u64 {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).count
    }
}

impl TypedMetric for BucketHistogram {
    const TYPE: MetricType = MetricType::Histogram;
}

impl EncodeMetric for BucketHistogram {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        let (sum, count, buckets) = {
            let b = self.0.lock().unwrap_or_else(|e| e.into_inner());
            let bounds = LATENCY_BUCKETS.iter().copied().chain(std::iter::once(f64::INFINITY));
            let buckets: Vec<(f64, u64)> = bounds.zip(b.counts.iter().copied()).collect();
            (b.sum_seconds, b.count, buckets)
        };
        encoder.encode_histogram::<NoLabelSet>(sum, count, &buckets, None)
    }

    fn metric_type(&self) -> MetricType {
        MetricType::Histogram
    }
}

/// The families of one run, and the observer that updates them.
#[derive(Debug, Clone)]
pub struct RunMetrics {
    operations: Family<Labels<2>, Counter>,
    errors: Family<Labels<2>, Counter>,
    violations: Family<Labels<1>, Counter>,
    latency: Family<Labels<2>, BucketHistogram>,
    customer_latency: Family<Labels<1>, BucketHistogram>,
    abandoned: Counter,
    reconnects: Counter,
    missed_starts: Counter,
    agents_logged_in: Gauge,
    agents_busy: Gauge,
    active_chats: Gauge,
    customers_waiting: Gauge,
}

impl RunMetrics {
    /// The families and the registry that exposes them, every series labelled with the scenario
    /// and the shard (`0/1` for an unsharded run).
    pub fn new(scenario: &str, shard: Option<Shard>) -> (Self, Registry) {
        let shard = shard.map_or_else(|| "0/1".to_owned(), |s| s.to_string());
        let constant = [
            (Cow::Borrowed(names::SCENARIO), Cow::Owned(scenario.to_owned())),
            (Cow::Borrowed(names::SHARD), Cow::Owned(shard)),
        ];
        let mut registry = Registry::with_prefix_and_labels(names::PREFIX, constant.into_iter());
        let m = RunMetrics {
            operations: Family::default(),
            errors: Family::default(),
            violations: Family::default(),
            latency: Family::default(),
            customer_latency: Family::default(),
            abandoned: Counter::default(),
            reconnects: Counter::default(),
            missed_starts: Counter::default(),
            agents_logged_in: Gauge::default(),
            agents_busy: Gauge::default(),
            active_chats: Gauge::default(),
            customers_waiting: Gauge::default(),
        };
        let r = &mut registry;
        r.register(
            names::OPERATIONS,
            "Operations with an outcome, by operation and outcome (ok, error)",
            m.operations.clone(),
        );
        r.register(
            names::ERRORS,
            "Failed operations by operation and error kind",
            m.errors.clone(),
        );
        r.register(names::VIOLATIONS, "Ordering violations by kind", m.violations.clone());
        r.register_with_unit(
            names::LATENCY,
            "Corrected latency (from the intended start) by operation and metric (response, settle)",
            Unit::Seconds,
            m.latency.clone(),
        );
        r.register_with_unit(
            names::CUSTOMER_LATENCY,
            "Customer latencies by metric (wait, to_agent, to_customer)",
            Unit::Seconds,
            m.customer_latency.clone(),
        );
        r.register(names::ABANDONED, "Customers who gave up waiting", m.abandoned.clone());
        r.register(names::RECONNECTS, "CometD reconnects and re-handshakes", m.reconnects.clone());
        r.register(
            names::MISSED_STARTS,
            "Starts the generator could not make on schedule",
            m.missed_starts.clone(),
        );
        r.register(
            names::AGENTS_LOGGED_IN,
            "Agents logged in (sampled each second; 0 after logout)",
            m.agents_logged_in.clone(),
        );
        r.register(
            names::AGENTS_BUSY,
            "Agents with at least one interaction in flight",
            m.agents_busy.clone(),
        );
        r.register(names::ACTIVE_CHATS, "Customer chats in progress", m.active_chats.clone());
        r.register(
            names::CUSTOMERS_WAITING,
            "Customers waiting for an agent (the saturation signal)",
            m.customers_waiting.clone(),
        );
        (m, registry)
    }

    /// Sets the live counts from the engine's gauges.
    fn set_gauges(&self, g: GaugeSample) {
        let set = |gauge: &Gauge, v: u64| gauge.set(i64::try_from(v).unwrap_or(i64::MAX));
        set(&self.agents_logged_in, g.agents_logged_in);
        set(&self.agents_busy, g.agents_busy);
        set(&self.active_chats, g.active_chats);
        set(&self.customers_waiting, g.customers_waiting);
    }

    /// Adds one interval's recorder.
    pub fn add(&self, data: &Recorder) {
        let op_labels = |op: &'static str, key: &'static str, value: Cow<'static, str>| {
            [(names::OPERATION, Cow::Borrowed(op)), (key, value)]
        };
        for (op, stats) in data.ops() {
            let op = op.as_str();
            // The interval recorder takes every sample as measured (`engine::sink`).
            let ok = stats.ok.measured.saturating_add(stats.ok.warmup);
            let failed = stats.errors.measured.saturating_add(stats.errors.warmup);
            for (outcome, n) in [(names::OK, ok), (names::ERROR, failed)] {
                if n > 0 {
                    let labels = op_labels(op, names::OUTCOME, Cow::Borrowed(outcome));
                    self.operations.get_or_create(&labels).inc_by(n);
                }
            }
            for (kind, split) in &stats.error_kinds {
                let n = split.measured.saturating_add(split.warmup);
                if n > 0 {
                    let labels = op_labels(op, names::KIND, Cow::Owned(kind.to_string()));
                    self.errors.get_or_create(&labels).inc_by(n);
                }
            }
            for metric in [OpMetric::Response, OpMetric::Settle] {
                if let Some(t) = stats.timed(metric).filter(|t| !t.latency.is_empty()) {
                    let labels = op_labels(op, names::METRIC, Cow::Borrowed(metric.as_str()));
                    self.latency.get_or_create(&labels).add(t.latency.corrected());
                }
            }
        }
        // Failures of no operation (a customer's request): `Errors` minus the per-operation ones.
        let per_op: u64 = data.ops().map(|(_, s)| s.errors.measured).sum();
        let loose = data.counter(RunCounter::Errors).saturating_sub(per_op);
        if loose > 0 {
            let labels = [
                (names::OPERATION, Cow::Borrowed(names::NO_OPERATION)),
                (names::KIND, Cow::Borrowed(names::NO_OPERATION)),
            ];
            self.errors.get_or_create(&labels).inc_by(loose);
        }
        for kind in ViolationKind::ALL {
            let n = data.violations_of(*kind);
            if n > 0 {
                let labels = [(names::KIND, Cow::Borrowed(kind.as_str()))];
                self.violations.get_or_create(&labels).inc_by(n);
            }
        }
        for metric in CustomerMetric::ALL {
            if let Some(c) = data.customer(*metric).filter(|c| !c.latency.is_empty()) {
                let labels = [(names::METRIC, Cow::Borrowed(metric.as_str()))];
                self.customer_latency.get_or_create(&labels).add(c.latency.corrected());
            }
        }
        let abandoned = data.abandoned_count();
        self.abandoned.inc_by(abandoned.measured.saturating_add(abandoned.warmup));
        self.reconnects.inc_by(data.counter(RunCounter::Reconnects));
        self.missed_starts.inc_by(data.counter(RunCounter::MissedStarts));
    }
}

impl IntervalObserver for RunMetrics {
    fn load_started(&mut self, agents_logged_in: usize, login: &Recorder) {
        self.agents_logged_in.set(i64::try_from(agents_logged_in).unwrap_or(i64::MAX));
        self.add(login);
    }

    fn interval(
        &mut self,
        _start: std::time::Duration,
        _end: std::time::Duration,
        data: &Recorder,
        gauges: GaugeSample,
    ) {
        self.add(data);
        self.set_gauges(gauges);
    }

    /// The last interval came before this: the counts are final. Every agent has logged out.
    fn finish(&mut self) {
        self.set_gauges(GaugeSample::default());
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::time::{Duration, Instant};

    use super::*;
    use crate::gws::Capability;
    use crate::ordering::Violation;
    use crate::vocab::OpName;

    /// One interval: `n` Accepts of 3 ms, one of them failed, a violation, a customer wait.
    fn interval(n: u64) -> Recorder {
        let mut r = Recorder::new();
        let t = Instant::now();
        let accept = OpName::Flow(Capability::Accept);
        for _ in 0..n {
            r.latency(accept, OpMetric::Response, t, t, t + Duration::from_millis(3), true);
            r.op_ok(accept, true);
        }
        r.op_error(accept, "http-403", true);
        r.violation(Violation {
            kind: ViolationKind::Missing,
            agent: "a".into(),
            interaction: String::new(),
            expected: "x".into(),
            got: String::new(),
            context: Vec::new(),
            at_ms: 0,
        });
        r.customer_sample(CustomerMetric::Wait, Duration::from_secs(2), true);
        r.count(RunCounter::Reconnects, 2);
        r
    }

    /// Parses the exposition into `series -> value`, checking every line is a comment or a
    /// `name{labels} value` sample. A series is keyed as `name{labels}` with its labels sorted
    /// (the encoder puts the constant labels first), so tests need not know the order.
    fn parse(text: &str) -> BTreeMap<String, f64> {
        let mut out = BTreeMap::new();
        assert!(text.ends_with("# EOF\n"), "{text}");
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let (series, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("{line}"));
            let value: f64 = value.parse().unwrap_or_else(|e| panic!("{line}: {e}"));
            let name = series.split('{').next().unwrap_or_default();
            assert!(name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'), "{line}");
            let labels = &series[name.len()..];
            assert!(labels.is_empty() || (labels.starts_with('{') && labels.ends_with('}')));
            out.insert(key(name, labels.trim_start_matches('{').trim_end_matches('}')), value);
        }
        out
    }

    /// `name{a="1",b="2"}` with the labels (comma-separated, no commas in values) sorted.
    fn key(name: &str, labels: &str) -> String {
        let mut l: Vec<&str> = labels.split(',').filter(|l| !l.is_empty()).collect();
        l.sort_unstable();
        format!("{name}{{{}}}", l.join(","))
    }

    #[test]
    fn the_exposition_parses_and_holds_every_family() {
        let shard = Shard { index: 1, count: 4 };
        let (mut m, registry) = RunMetrics::new("smoke", Some(shard));
        m.load_started(7, &Recorder::new());
        let g = GaugeSample {
            active_chats: 3,
            agents_logged_in: 7,
            agents_busy: 2,
            customers_waiting: 1,
        };
        m.interval(Duration::ZERO, Duration::from_secs(1), &interval(4), g);
        m.interval(Duration::from_secs(1), Duration::from_secs(2), &interval(6), g);
        let text = super::super::encode(&registry);
        for family in [
            "gwsim_operations",
            "gwsim_errors",
            "gwsim_violations",
            "gwsim_latency_seconds",
            "gwsim_customer_latency_seconds",
            "gwsim_customers_abandoned",
            "gwsim_reconnects",
            "gwsim_missed_starts",
            "gwsim_agents_logged_in",
            "gwsim_agents_busy",
            "gwsim_active_chats",
            "gwsim_customers_waiting",
        ] {
            assert!(text.contains(&format!("# TYPE {family} ")), "{family} missing:\n{text}");
        }
        let series = parse(&text);
        let c = r#"scenario="smoke",shard="1/4""#;
        let get = |s: &str| {
            let (name, labels) = s.split_once('{').unwrap_or((s, "}"));
            let k = key(name, labels.trim_end_matches('}'));
            *series.get(&k).unwrap_or_else(|| panic!("no series {k} in\n{text}"))
        };
        assert_eq!(
            get(&format!(r#"gwsim_operations_total{{operation="Accept",outcome="ok",{c}}}"#)),
            10.0
        );
        assert_eq!(
            get(&format!(r#"gwsim_operations_total{{operation="Accept",outcome="error",{c}}}"#)),
            2.0
        );
        assert_eq!(
            get(&format!(r#"gwsim_errors_total{{operation="Accept",kind="http-403",{c}}}"#)),
            2.0
        );
        assert_eq!(get(&format!(r#"gwsim_violations_total{{kind="missing",{c}}}"#)), 2.0);
        assert_eq!(get(&format!(r#"gwsim_reconnects_total{{{c}}}"#)), 4.0);
        assert_eq!(get(&format!(r#"gwsim_agents_logged_in{{{c}}}"#)), 7.0);
        assert_eq!(get(&format!(r#"gwsim_active_chats{{{c}}}"#)), 3.0);
        assert_eq!(get(&format!(r#"gwsim_customers_waiting{{{c}}}"#)), 1.0);
        let accept = format!(r#"operation="Accept",metric="response",{c}"#);
        assert_eq!(get(&format!("gwsim_latency_seconds_count{{{accept}}}")), 10.0);
        // 3 ms falls in the 5 ms bucket, not in the 2.5 ms one.
        assert_eq!(get(&format!(r#"gwsim_latency_seconds_bucket{{{accept},le="0.0025"}}"#)), 0.0);
        assert_eq!(get(&format!(r#"gwsim_latency_seconds_bucket{{{accept},le="0.005"}}"#)), 10.0);
        assert_eq!(get(&format!(r#"gwsim_latency_seconds_bucket{{{accept},le="+Inf"}}"#)), 10.0);
        let sum = get(&format!("gwsim_latency_seconds_sum{{{accept}}}"));
        assert!((sum - 0.030).abs() < 0.030 * 0.001, "{sum}");
        let wait = format!(r#"metric="wait",{c}"#);
        assert_eq!(
            get(&format!(r#"gwsim_customer_latency_seconds_bucket{{{wait},le="1.0"}}"#)),
            0.0
        );
        assert_eq!(
            get(&format!(r#"gwsim_customer_latency_seconds_bucket{{{wait},le="2.5"}}"#)),
            2.0
        );

        m.finish();
        let series = parse(&super::super::encode(&registry));
        assert_eq!(series[&key("gwsim_agents_logged_in", c)], 0.0);
    }

    #[test]
    fn agents_are_counted_from_the_load_phase_on() {
        let (mut m, registry) = RunMetrics::new("s", None);
        m.load_started(1, &Recorder::new());
        let text = super::super::encode(&registry);
        assert!(text.contains(r#"gwsim_agents_logged_in{scenario="s",shard="0/1"} 1"#), "{text}");
    }
}
