//! Tests of `gwsim compare`'s logic: runs built from known latency distributions, compared with
//! histograms (an interval log written with hdrhistogram's own writer) and without (summary.json
//! alone).

use std::path::Path;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use hdrhistogram::serialization::V2DeflateSerializer;
use hdrhistogram::serialization::interval_log::{IntervalLogWriterBuilder, Tag};

use super::{Method, Run, ToleranceError, Tolerances, Verdict, compare};
use crate::gws::states::Capability;
use crate::metrics::Recorder;
use crate::ordering::{Violation, ViolationKind};
use crate::report::readback::{Histograms, parse_hlog, parse_summary};
use crate::report::tests::{info, scenario};
use crate::report::*;
use crate::vocab::Stat;
use crate::vocab::{OpMetric, OpName};

const ACCEPT: OpName = OpName::Flow(Capability::Accept);
const CONSULT: OpName = OpName::Flow(Capability::Consult);

/// `n` latencies in µs: 1 ms plus the quantiles of an exponential distribution of mean 10 ms
/// (a long tail, as latencies have), each multiplied by `scale`. Deterministic.
fn exp_latencies(n: usize, scale: f64) -> Vec<u64> {
    (0..n)
        .map(|i| {
            let q = (i as f64 + 0.5) / n as f64;
            ((1_000.0 - 10_000.0 * (1.0 - q).ln()) * scale) as u64
        })
        .collect()
}

/// A run whose Accepts took `accept_us`, with `consults` settled Consults of 5 ms, `errors`
/// failed Accepts and `violations` missing-notification violations.
struct RunSpec {
    accept_us: Vec<u64>,
    consults: usize,
    errors: u64,
    violations: u64,
}

impl RunSpec {
    fn new(accept_us: Vec<u64>) -> Self {
        RunSpec { accept_us, consults: 0, errors: 0, violations: 0 }
    }
}

fn recorder(spec: &RunSpec) -> Recorder {
    let t0 = Instant::now();
    let mut m = Recorder::new();
    for &us in &spec.accept_us {
        let done = t0 + Duration::from_micros(us);
        m.latency(ACCEPT, OpMetric::Response, t0, t0, done, true);
        m.op_ok(ACCEPT, true);
    }
    for _ in 0..spec.consults {
        let done = t0 + Duration::from_millis(5);
        m.latency(CONSULT, OpMetric::Response, t0, t0, done, true);
        m.latency(CONSULT, OpMetric::Settle, t0, t0, done, true);
        m.op_ok(CONSULT, true);
    }
    for _ in 0..spec.errors {
        m.op_error(ACCEPT, "status-2", true);
    }
    for i in 0..spec.violations {
        m.violation(Violation {
            kind: ViolationKind::Missing,
            agent: "frontline-1".into(),
            interaction: "x".into(),
            expected: "ParticipantJoined".into(),
            got: "nothing".into(),
            context: vec![],
            at_ms: i,
        });
    }
    m
}

/// The run as `gwsim compare` sees it: its summary read back from JSON, and its histograms
/// read back from an interval log written in three intervals per tag.
fn stored(spec: &RunSpec) -> (StoredReport, Histograms) {
    let m = recorder(spec);
    let r = Report::build(info(scenario(""), false), &m);
    let json = to_json(&r).unwrap();
    let back = parse_summary(Path::new("summary.json"), json.as_bytes()).unwrap();
    (back, parse_hlog(Path::new("latency.hlog"), &hlog(spec)).unwrap())
}

/// An interval log of the run's Accept latencies (and Consult ones), split into intervals the
/// way a run writes one per second.
fn hlog(spec: &RunSpec) -> Vec<u8> {
    let mut out = Vec::new();
    let mut serializer = V2DeflateSerializer::new();
    let mut writer = IntervalLogWriterBuilder::new()
        .with_base_time(std::time::UNIX_EPOCH)
        .begin_log_with(&mut out, &mut serializer)
        .unwrap();
    let chunk = spec.accept_us.len().div_ceil(3).max(1);
    for (i, part) in spec.accept_us.chunks(chunk).enumerate() {
        let mut h = Histogram::<u64>::new(3).unwrap();
        for &v in part {
            h.record(v).unwrap();
        }
        let start = Duration::from_secs(i as u64);
        writer
            .write_histogram(&h, start, Duration::from_secs(1), Tag::new("Accept.response"))
            .unwrap();
    }
    if spec.consults > 0 {
        let mut h = Histogram::<u64>::new(3).unwrap();
        h.record_n(5_000, spec.consults as u64).unwrap();
        for tag in ["Consult.response", "Consult.settle"] {
            writer
                .write_histogram(&h, Duration::ZERO, Duration::from_secs(1), Tag::new(tag))
                .unwrap();
        }
    }
    drop(writer);
    out
}

/// Compares two specs, with or without histograms.
fn cmp(base: &RunSpec, cur: &RunSpec, with_hlog: bool, tol: &Tolerances) -> compare::Comparison {
    let (b, bh) = stored(base);
    let (c, ch) = stored(cur);
    compare(
        Run { label: "base", report: &b, histograms: with_hlog.then_some(&bh) },
        Run { label: "cur", report: &c, histograms: with_hlog.then_some(&ch) },
        tol,
    )
}

fn verdict(c: &compare::Comparison, metric: &str, stat: &str) -> Verdict {
    match c.rows.iter().find(|r| r.metric == metric && r.stat == stat) {
        Some(r) => r.verdict,
        None => panic!("no row {metric} {stat} in {:#?}", c.rows),
    }
}

#[test]
fn interval_log_intervals_add_up_per_tag() {
    let spec = RunSpec::new(exp_latencies(1_000, 1.0));
    let (_, h) = stored(&spec);
    let accept = &h["Accept.response"];
    assert_eq!(accept.len(), 1_000);
    let mut direct = Histogram::<u64>::new(3).unwrap();
    for v in &spec.accept_us {
        direct.record(*v).unwrap();
    }
    assert_eq!(accept.value_at_quantile(0.99), direct.value_at_quantile(0.99));
    assert_eq!(accept.max(), direct.max());
}

#[test]
fn equal_runs_are_ok_both_ways() {
    let spec = RunSpec { consults: 50, ..RunSpec::new(exp_latencies(2_000, 1.0)) };
    for with_hlog in [true, false] {
        let c = cmp(&spec, &spec, with_hlog, &Tolerances::default());
        assert_eq!(c.regressions, 0);
        assert_eq!(c.exit_code(), 0);
        assert!(c.rows.iter().all(|r| r.verdict == Verdict::Ok), "{:#?}", c.rows);
        let method = if with_hlog { Method::Histogram } else { Method::Summary };
        assert!(
            c.rows.iter().filter(|r| r.metric == "Accept.response").all(|r| r.method == method)
        );
        // Accept.response and Consult.{response,settle}, six statistics each; error rate and
        // violations.
        assert_eq!(c.rows.len(), 3 * 6 + 2, "{:#?}", c.rows);
    }
}

#[test]
fn fifty_percent_slower_with_many_samples_is_a_regression() {
    let base = RunSpec::new(exp_latencies(10_000, 1.0));
    let cur = RunSpec::new(exp_latencies(10_000, 1.5));
    for with_hlog in [true, false] {
        let c = cmp(&base, &cur, with_hlog, &Tolerances::default());
        for stat in ["p50", "p90", "p99", "mean"] {
            assert_eq!(verdict(&c, "Accept.response", stat), Verdict::Regression, "{stat}");
        }
        let row = c.rows.iter().find(|r| r.metric == "Accept.response" && r.stat == "p99").unwrap();
        let ratio = row.delta_ratio.unwrap();
        assert!((0.45..0.55).contains(&ratio), "{ratio}");
        assert_eq!(c.exit_code(), 1);
        let text = compare::render_comparison(&c);
        assert!(text.contains("REGRESSION"), "{text}");
        assert!(text.contains("regression(s) (exit 1)"), "{text}");
    }
    // And the other way round it is an improvement, not a regression.
    let c = cmp(&cur, &base, true, &Tolerances::default());
    assert_eq!(verdict(&c, "Accept.response", "p99"), Verdict::Improved);
    assert_eq!(c.exit_code(), 0);
}

#[test]
fn fifty_percent_slower_with_twenty_samples_is_within_noise() {
    let base = RunSpec::new(exp_latencies(20, 1.0));
    let cur = RunSpec::new(exp_latencies(20, 1.5));
    for with_hlog in [true, false] {
        let c = cmp(&base, &cur, with_hlog, &Tolerances::default());
        for stat in Stat::DISTRIBUTION {
            assert_eq!(
                verdict(&c, "Accept.response", stat.as_str()),
                Verdict::WithinNoise,
                "{stat} (hlog: {with_hlog})"
            );
        }
        assert_eq!(c.exit_code(), 0);
        let text = compare::render_comparison(&c);
        assert!(text.contains("within noise (n too small)"), "{text}");
    }
    // Twenty samples do resolve a tenfold slowdown of the median; they still cannot bound the
    // p99 from above.
    let c = cmp(&base, &RunSpec::new(exp_latencies(20, 10.0)), true, &Tolerances::default());
    assert_eq!(verdict(&c, "Accept.response", "p50"), Verdict::Regression);
    assert_eq!(verdict(&c, "Accept.response", "p99"), Verdict::WithinNoise);
}

#[test]
fn within_tolerance_is_ok_and_absolute_tolerance_is_a_floor() {
    // +5% everywhere: inside the default 10%, however many samples.
    let base = RunSpec::new(exp_latencies(10_000, 1.0));
    let c = cmp(&base, &RunSpec::new(exp_latencies(10_000, 1.05)), true, &Tolerances::default());
    assert_eq!(verdict(&c, "Accept.response", "p99"), Verdict::Ok);
    // +50% of a small latency: a regression by default, nothing with `--absolute 1s`.
    let slow = RunSpec::new(exp_latencies(10_000, 1.5));
    let mut tol = Tolerances::default();
    tol.set_absolute("1s").unwrap();
    let c = cmp(&base, &slow, true, &tol);
    assert!(c.rows.iter().all(|r| r.verdict == Verdict::Ok), "{:#?}", c.rows);
    // A tighter relative tolerance for one statistic only: +8% is a regression of the p50
    // (10,000 samples resolve it), and within the default 10% for the p99.
    let mut tol = Tolerances::default();
    tol.set_relative("p50=1%").unwrap();
    let c = cmp(&base, &RunSpec::new(exp_latencies(10_000, 1.08)), true, &tol);
    assert_eq!(verdict(&c, "Accept.response", "p50"), Verdict::Regression);
    assert_eq!(verdict(&c, "Accept.response", "p99"), Verdict::Ok);
    // +5% of the p99 is beyond a 1% tolerance, but 10,000 samples cannot resolve it (about 100
    // of them lie above the p99): within noise.
    let mut tol = Tolerances::default();
    tol.set_relative("p99=1%").unwrap();
    let c = cmp(&base, &RunSpec::new(exp_latencies(10_000, 1.05)), true, &tol);
    assert_eq!(verdict(&c, "Accept.response", "p99"), Verdict::WithinNoise);
}

#[test]
fn tolerances_parse_with_clear_errors() {
    let mut t = Tolerances::default();
    t.set_relative("p99=10%, p50=5%,max=25%,errors=0.5%").unwrap();
    assert_eq!(t.relative[&Stat::P99], 0.10);
    assert_eq!(t.relative[&Stat::P50], 0.05);
    assert_eq!(t.relative[&Stat::Max], 0.25);
    assert_eq!(t.error_rate, 0.005);
    t.set_relative("20%").unwrap();
    assert!(t.relative.values().all(|v| *v == 0.20));
    t.set_absolute("1ms,p99.9=5ms").unwrap();
    assert_eq!(t.absolute_us[&Stat::P50], 1_000.0);
    assert_eq!(t.absolute_us[&Stat::P999], 5_000.0);

    let err = |r: Result<(), ToleranceError>| r.unwrap_err().to_string();
    assert_eq!(
        err(t.set_relative("p98=10%")),
        "`p98` in `p98=10%` is not a statistic gwsim compares (use p50, p90, p99, p99.9, max, \
         mean or errors)"
    );
    assert_eq!(err(t.set_relative("p99=10")), "`p99=10`: `10` needs a percent sign, e.g. `10%`");
    assert_eq!(err(t.set_relative("p99=ten%")), "`p99=ten%`: `ten` is not a number");
    assert_eq!(
        err(t.set_relative("p99=-5%")),
        "`p99=-5%`: `-5%` must be a percentage of zero or more"
    );
    assert_eq!(
        err(t.set_relative(" , ")),
        "the tolerance list is empty; write e.g. `p99=10%,p50=5%`"
    );
    assert!(err(t.set_absolute("p99=5")).starts_with("`p99=5`: `5` has a number without a unit"));
    assert!(
        err(t.set_absolute("errors=1ms")).contains("`errors` in `errors=1ms` is not a statistic")
    );
}

#[test]
fn a_metric_missing_from_one_run_is_reported() {
    let base = RunSpec { consults: 30, ..RunSpec::new(exp_latencies(500, 1.0)) };
    let cur = RunSpec::new(exp_latencies(500, 1.0));
    for with_hlog in [true, false] {
        let c = cmp(&base, &cur, with_hlog, &Tolerances::default());
        assert_eq!(verdict(&c, "Consult.settle", "p99"), Verdict::OnlyInBaseline);
        assert_eq!(verdict(&c, "Accept.response", "p99"), Verdict::Ok);
        assert_eq!(c.exit_code(), 0);
        let c = cmp(&cur, &base, with_hlog, &Tolerances::default());
        assert_eq!(verdict(&c, "Consult.response", "p50"), Verdict::OnlyInCurrent);
        let text = compare::render_comparison(&c);
        assert!(text.contains("only in current"), "{text}");
    }
}

#[test]
fn histograms_for_one_metric_only_fall_back_to_the_summary_for_the_rest() {
    let spec = RunSpec { consults: 30, ..RunSpec::new(exp_latencies(500, 1.0)) };
    let (b, mut bh) = stored(&spec);
    let (c, ch) = stored(&spec);
    bh.remove("Consult.settle");
    let cmp = compare(
        Run { label: "b", report: &b, histograms: Some(&bh) },
        Run { label: "c", report: &c, histograms: Some(&ch) },
        &Tolerances::default(),
    );
    let method = |m: &str| cmp.rows.iter().find(|r| r.metric == m).unwrap().method;
    assert_eq!(method("Accept.response"), Method::Histogram);
    assert_eq!(method("Consult.settle"), Method::Summary);
}

#[test]
fn any_violation_where_there_were_none_is_a_regression() {
    let base = RunSpec::new(exp_latencies(1_000, 1.0));
    let cur = RunSpec { violations: 1, ..RunSpec::new(exp_latencies(1_000, 1.0)) };
    let c = cmp(&base, &cur, true, &Tolerances::default());
    assert_eq!(verdict(&c, "violations", "count"), Verdict::Regression);
    assert_eq!(verdict(&c, "violations.missing", "count"), Verdict::Regression);
    assert_eq!(c.regressions, 2);
    // From some to a similar number: noise, not news.
    let base = RunSpec { violations: 10, ..RunSpec::new(exp_latencies(1_000, 1.0)) };
    let cur = RunSpec { violations: 12, ..RunSpec::new(exp_latencies(1_000, 1.0)) };
    let c = cmp(&base, &cur, true, &Tolerances::default());
    assert_eq!(verdict(&c, "violations", "count"), Verdict::WithinNoise);
    assert_eq!(c.exit_code(), 0);
}

#[test]
fn error_rates_are_judged_against_tolerance_and_noise() {
    let base = RunSpec::new(exp_latencies(10_000, 1.0));
    // 1 error in 10,001: +0.01 percentage points, inside the 0.1 point tolerance.
    let one = RunSpec { errors: 1, ..RunSpec::new(exp_latencies(10_000, 1.0)) };
    let c = cmp(&base, &one, true, &Tolerances::default());
    assert_eq!(verdict(&c, "errors", "rate"), Verdict::Ok);
    assert_eq!(verdict(&c, "Accept.errors", "rate"), Verdict::Ok);
    // 1% errors: a regression.
    let many = RunSpec { errors: 100, ..RunSpec::new(exp_latencies(10_000, 1.0)) };
    let c = cmp(&base, &many, true, &Tolerances::default());
    assert_eq!(verdict(&c, "errors", "rate"), Verdict::Regression);
    assert_eq!(verdict(&c, "Accept.errors", "rate"), Verdict::Regression);
    // 2 errors of 22 against 0 of 20: 9% beyond tolerance, but twenty samples cannot tell.
    let base = RunSpec::new(exp_latencies(20, 1.0));
    let few = RunSpec { errors: 2, ..RunSpec::new(exp_latencies(20, 1.0)) };
    let c = cmp(&base, &few, false, &Tolerances::default());
    assert_eq!(verdict(&c, "errors", "rate"), Verdict::WithinNoise);
}

#[test]
fn comparison_serializes_for_machines() {
    let base = RunSpec::new(exp_latencies(10_000, 1.0));
    let cur = RunSpec::new(exp_latencies(10_000, 1.5));
    let c = cmp(&base, &cur, false, &Tolerances::default());
    let json = serde_json::to_value(&c).unwrap();
    assert_eq!(json["regressions"], c.regressions);
    let row = &json["rows"][2];
    assert_eq!(row["metric"], "Accept.response");
    assert_eq!(row["stat"], "p99");
    assert_eq!(row["verdict"], "regression");
    assert_eq!(row["method"], "summary");
    assert!(row["baseline"]["low"].as_f64().unwrap() <= row["baseline"]["value"].as_f64().unwrap());
    assert!(
        row["baseline"]["high"].as_f64().unwrap() >= row["baseline"]["value"].as_f64().unwrap()
    );
    assert_eq!(json["tolerances"]["relative"]["p99"], 0.1);
    assert!(json["notes"][0].as_str().unwrap().starts_with("no latency.hlog in either run"));
}
