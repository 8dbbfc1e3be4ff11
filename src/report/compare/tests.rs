//! Tests of `gwsim compare`'s logic: runs built from known latency distributions, compared with
//! histograms (an interval log written with hdrhistogram's own writer) and without (summary.json
//! alone).

use std::path::Path;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use hdrhistogram::serialization::V2DeflateSerializer;
use hdrhistogram::serialization::interval_log::{IntervalLogWriterBuilder, Tag};

use super::noise::{min_samples, resolvable};
use super::{Method, Run, Tail, ToleranceError, Tolerances, Verdict, compare};
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
        Run { label: "base", report: &b, histograms: with_hlog.then_some(&bh), intervals: None },
        Run { label: "cur", report: &c, histograms: with_hlog.then_some(&ch), intervals: None },
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
        // Every row is ok, or informs: max, and what 2,000 Accepts (p99.9) and 50 Consults
        // (p90, p99, p99.9) cannot resolve.
        for r in &c.rows {
            match r.informational {
                None => assert_eq!(r.verdict, Verdict::Ok, "{r:#?}"),
                Some(_) => assert_eq!(r.verdict, Verdict::Informational, "{r:#?}"),
            }
        }
        let info: Vec<_> = c
            .rows
            .iter()
            .filter(|r| r.informational.is_some())
            .map(|r| (&*r.metric, &*r.stat))
            .collect();
        assert_eq!(
            info,
            [
                ("Accept.response", "p99.9"),
                ("Accept.response", "max"),
                ("Consult.response", "p90"),
                ("Consult.response", "p99"),
                ("Consult.response", "p99.9"),
                ("Consult.response", "max"),
                ("Consult.settle", "p90"),
                ("Consult.settle", "p99"),
                ("Consult.settle", "p99.9"),
                ("Consult.settle", "max"),
            ]
        );
        assert_eq!(c.informational, 10);
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
fn fifty_percent_slower_with_twenty_samples_is_within_noise_or_informational() {
    let base = RunSpec::new(exp_latencies(20, 1.0));
    let cur = RunSpec::new(exp_latencies(20, 1.5));
    for with_hlog in [true, false] {
        let c = cmp(&base, &cur, with_hlog, &Tolerances::default());
        // Twenty samples resolve a median (n >= 11), nothing above it, nor a mean (n >= 30).
        assert_eq!(verdict(&c, "Accept.response", "p50"), Verdict::WithinNoise);
        for stat in ["p90", "p99", "p99.9", "max", "mean"] {
            assert_eq!(
                verdict(&c, "Accept.response", stat),
                Verdict::Informational,
                "{stat} (hlog: {with_hlog})"
            );
        }
        assert_eq!(c.exit_code(), 0);
        let text = compare::render_comparison(&c);
        assert!(text.contains("within noise"), "{text}");
        assert!(text.contains("info (n too small)") && text.contains("info (max)"), "{text}");
        assert!(text.contains("row(s) marked `info` are shown, not judged"), "{text}");
    }
    // Twenty samples do resolve a tenfold slowdown of the median; the p99 only informs.
    let c = cmp(&base, &RunSpec::new(exp_latencies(20, 10.0)), true, &Tolerances::default());
    assert_eq!(verdict(&c, "Accept.response", "p50"), Verdict::Regression);
    assert_eq!(verdict(&c, "Accept.response", "p99"), Verdict::Informational);
    assert_eq!(c.regressions, 1);
}

#[test]
fn thin_means_too_few_samples_for_an_upper_bound() {
    // The smallest runs that resolve each statistic, from the order-statistic band.
    assert_eq!(min_samples(Stat::P50), Some(11));
    assert_eq!(min_samples(Stat::P90), Some(79));
    assert_eq!(min_samples(Stat::P99), Some(846));
    assert_eq!(min_samples(Stat::P999), Some(8_512));
    assert_eq!(min_samples(Stat::Mean), Some(30));
    assert_eq!(min_samples(Stat::Max), None);
    assert!(!resolvable(Stat::Max, u64::MAX / 2));
    assert!(!resolvable(Stat::P50, 0));
    // Exactly where the band of a percentile gets its upper bound.
    for (stat, n) in [(Stat::P50, 11), (Stat::P90, 79), (Stat::P99, 846)] {
        for (n, bounded) in [(n - 1, false), (n, true)] {
            let (r, _) = stored(&RunSpec::new(exp_latencies(n as usize, 1.0)));
            let (b, _) = stored(&RunSpec::new(exp_latencies(n as usize, 1.0)));
            let c = compare(
                Run { label: "b", report: &b, histograms: None, intervals: None },
                Run { label: "c", report: &r, histograms: None, intervals: None },
                &Tolerances { strict_tails: true, ..Tolerances::default() },
            );
            let row = c
                .rows
                .iter()
                .find(|x| x.metric == "Accept.response" && x.stat == stat.as_str())
                .unwrap();
            assert_eq!(row.baseline.unwrap().high.is_some(), bounded, "{stat} n={n}");
            assert_eq!(resolvable(stat, n), bounded, "{stat} n={n}");
        }
    }
}

#[test]
fn tails_are_judged_when_asked() {
    // 1,000 samples, 1.5 times slower: the maximum and the p99.9 only inform by default.
    let base = RunSpec::new(exp_latencies(1_000, 1.0));
    let slow = RunSpec::new(exp_latencies(1_000, 1.5));
    let c = cmp(&base, &slow, true, &Tolerances::default());
    assert_eq!(verdict(&c, "Accept.response", "max"), Verdict::Informational);
    assert_eq!(verdict(&c, "Accept.response", "p99.9"), Verdict::Informational);
    let row = |c: &compare::Comparison, stat: &str| {
        c.rows.iter().find(|r| r.metric == "Accept.response" && r.stat == stat).unwrap().clone()
    };
    assert_eq!(row(&c, "max").informational, Some(Tail::Max));
    assert_eq!(row(&c, "p99.9").informational, Some(Tail::Thin));
    assert_eq!(row(&c, "p99").informational, None);
    // --strict-tails: judged. The p99.9 band of 1,000 samples has no upper bound, so asked for,
    // it is bounded by the baseline's maximum, which the slower run's whole band lies above.
    let strict = Tolerances { strict_tails: true, ..Tolerances::default() };
    let c = cmp(&base, &slow, true, &strict);
    assert_eq!(verdict(&c, "Accept.response", "max"), Verdict::Regression);
    assert_eq!(verdict(&c, "Accept.response", "p99.9"), Verdict::Regression);
    assert!(c.rows.iter().all(|r| r.informational.is_none()));
    // Naming a statistic in --tolerance judges that one only.
    let mut named = Tolerances::default();
    named.set_relative("max=25%").unwrap();
    let c = cmp(&base, &slow, true, &named);
    assert_eq!(verdict(&c, "Accept.response", "max"), Verdict::Regression);
    assert_eq!(verdict(&c, "Accept.response", "p99.9"), Verdict::Informational);
    // A bare percentage names nothing.
    let mut bare = Tolerances::default();
    bare.set_relative("20%").unwrap();
    assert!(bare.named.is_empty());
    // Identical runs stay clean even when every tail is judged.
    let c = cmp(&base, &base, true, &strict);
    assert_eq!(c.exit_code(), 0);
}

#[test]
fn a_change_must_exceed_both_minimum_effects() {
    // Sub-millisecond latencies, as the embedded server has: 300 µs median and a short tail.
    let fast = |n: usize, shift_us: u64| -> Vec<u64> {
        exp_latencies(n, 0.03).into_iter().map(|v| v + shift_us).collect()
    };
    let base = RunSpec::new(fast(10_000, 0));
    // +100 µs on every sample: +30% of the median, far outside its noise band at 10,000
    // samples, and still not a change: under the 1 ms floor.
    let c = cmp(&base, &RunSpec::new(fast(10_000, 100)), true, &Tolerances::default());
    let p50 = c.rows.iter().find(|r| r.metric == "Accept.response" && r.stat == "p50").unwrap();
    assert!(p50.delta_ratio.unwrap() > 0.2, "{p50:#?}");
    assert_eq!(p50.verdict, Verdict::Ok);
    assert_eq!(c.exit_code(), 0);
    // +20 ms: beyond every minimum, caught at the median, the p90 and the mean.
    let c = cmp(&base, &RunSpec::new(fast(10_000, 20_000)), true, &Tolerances::default());
    for stat in ["p50", "p90", "p99", "mean"] {
        assert_eq!(verdict(&c, "Accept.response", stat), Verdict::Regression, "{stat}");
    }
    // And at 100 samples too: a fixed delay moves every sample.
    let c = cmp(
        &RunSpec::new(fast(100, 0)),
        &RunSpec::new(fast(100, 20_000)),
        true,
        &Tolerances::default(),
    );
    for stat in ["p50", "p90", "mean"] {
        assert_eq!(verdict(&c, "Accept.response", stat), Verdict::Regression, "{stat}");
    }
    // For a slow server the relative minimum is the larger: +4% of a 40 ms median is 1.6 ms,
    // far beyond the floor, and still under 5%.
    let slow = RunSpec::new(exp_latencies(10_000, 4.0));
    let c = cmp(&slow, &RunSpec::new(exp_latencies(10_000, 4.16)), true, &Tolerances::default());
    assert_eq!(verdict(&c, "Accept.response", "p50"), Verdict::Ok);
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
    assert!(
        c.rows.iter().all(|r| matches!(r.verdict, Verdict::Ok | Verdict::Informational)),
        "{:#?}",
        c.rows
    );
    // A tighter relative tolerance for one statistic only: +8% is a regression of the p50
    // (10,000 samples resolve it), and within the default 10% for the p99.
    let mut tol = Tolerances::default();
    tol.set_relative("p50=1%").unwrap();
    tol.set_absolute("250us").unwrap();
    let c = cmp(&base, &RunSpec::new(exp_latencies(10_000, 1.08)), true, &tol);
    assert_eq!(verdict(&c, "Accept.response", "p50"), Verdict::Regression);
    assert_eq!(verdict(&c, "Accept.response", "p99"), Verdict::Ok);
    // +5% of the p99 is beyond a 1% tolerance, but 10,000 samples cannot resolve it (about 100
    // of them lie above the p99): within noise.
    let mut tol = Tolerances::default();
    tol.set_relative("p99=1%").unwrap();
    tol.set_absolute("250us").unwrap();
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
        assert_eq!(verdict(&c, "Accept.response", "p50"), Verdict::Ok);
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
        Run { label: "b", report: &b, histograms: Some(&bh), intervals: None },
        Run { label: "c", report: &c, histograms: Some(&ch), intervals: None },
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

/// `ok` successful Accepts and `errors` failed ones, latencies of 1 ms.
fn accepts(ok: usize, errors: u64) -> RunSpec {
    RunSpec { errors, ..RunSpec::new(vec![1_000; ok]) }
}

#[test]
fn error_rates_use_fishers_exact_test() {
    // 0 of 700 against 12 of 700 (1.7%): a regression, with its p-value in the table.
    let c = cmp(&accepts(700, 0), &accepts(688, 12), true, &Tolerances::default());
    assert_eq!(verdict(&c, "errors", "rate"), Verdict::Regression);
    assert_eq!(verdict(&c, "Accept.errors", "rate"), Verdict::Regression);
    let row = c.rows.iter().find(|r| r.metric == "errors").unwrap();
    assert!(row.p_value.is_some_and(|p| p < 0.001), "{row:#?}");
    assert_eq!(c.exit_code(), 1);
    let text = compare::render_comparison(&c);
    assert!(text.contains("p<0.001") && text.contains("errors rate: +1.714pp"), "{text}");
    // 0 against 1 of 700: where one error landed is a coin flip (p = 0.5): not a regression.
    let c = cmp(&accepts(700, 0), &accepts(699, 1), true, &Tolerances::default());
    assert_eq!(verdict(&c, "errors", "rate"), Verdict::WithinNoise);
    assert_eq!(c.exit_code(), 0);
    // The smallest rise from zero that 700 operations make significant: 7 errors (p < 0.01).
    let c = cmp(&accepts(700, 0), &accepts(694, 6), true, &Tolerances::default());
    assert_eq!(verdict(&c, "errors", "rate"), Verdict::WithinNoise);
    let c = cmp(&accepts(700, 0), &accepts(693, 7), true, &Tolerances::default());
    assert_eq!(verdict(&c, "errors", "rate"), Verdict::Regression);
    // A long run: 0 → 8 errors in 100,000 operations is significant, and under the minimum
    // rise of 0.1 point, so not a regression; 0 → 200 (0.2 points) is.
    let c = cmp(&accepts(100_000, 0), &accepts(99_992, 8), false, &Tolerances::default());
    let row = c.rows.iter().find(|r| r.metric == "errors").unwrap();
    assert!(row.p_value.is_some_and(|p| p < 0.01) && row.verdict == Verdict::Ok, "{row:#?}");
    let c = cmp(&accepts(100_000, 0), &accepts(99_800, 200), false, &Tolerances::default());
    assert_eq!(verdict(&c, "errors", "rate"), Verdict::Regression);
    // Fewer errors: an improvement when significant.
    let c = cmp(&accepts(688, 12), &accepts(700, 0), true, &Tolerances::default());
    assert_eq!(verdict(&c, "errors", "rate"), Verdict::Improved);
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
    assert!(json["notes"][0].as_str().unwrap().starts_with("no histograms"));
    assert_eq!(json["rows"][4]["stat"], "max");
    assert_eq!(json["rows"][4]["verdict"], "informational");
    assert_eq!(json["rows"][4]["informational"], "max");
    assert_eq!(json["tolerances"]["strict_tails"], false);
}

/// A run of `seconds`, each a list of Accept latencies: its stored report, histograms, and its
/// intervals (one a second) as `latency.hlog` would give them.
fn by_second(seconds: &[Vec<u64>]) -> (StoredReport, Histograms, super::Intervals) {
    let spec = RunSpec::new(seconds.concat());
    let (report, histograms) = stored(&spec);
    let intervals = seconds
        .iter()
        .map(|s| {
            let mut h = Histogram::<u64>::new(3).unwrap();
            for &v in s {
                h.record(v).unwrap();
            }
            h
        })
        .collect();
    (report, histograms, [("Accept.response".to_owned(), intervals)].into())
}

#[test]
fn a_run_whose_seconds_disagree_has_a_wider_band() {
    // Six seconds of 100 Accepts each around 1 ms, against six where the machine was busy
    // every other second (3 ms), as a loaded CI runner makes them.
    let quiet: Vec<Vec<u64>> = (0..6).map(|_| exp_latencies(100, 0.1)).collect();
    let busy: Vec<Vec<u64>> =
        (0..6).map(|i| exp_latencies(100, if i % 2 == 0 { 0.1 } else { 0.3 })).collect();
    let (b, bh, bi) = by_second(&quiet);
    let (c, ch, ci) = by_second(&busy);
    // A floor below the default, so that the 1 ms medians can differ at all.
    let mut tol = Tolerances::default();
    tol.set_absolute("250us").unwrap();
    let judge = |with_intervals: bool| {
        compare(
            Run {
                label: "b",
                report: &b,
                histograms: Some(&bh),
                intervals: with_intervals.then_some(&bi),
            },
            Run {
                label: "c",
                report: &c,
                histograms: Some(&ch),
                intervals: with_intervals.then_some(&ci),
            },
            &tol,
        )
    };
    // As if the 600 samples were independent, the busy run is slower beyond doubt; its own
    // seconds say they are not, and the difference is within what they moved.
    assert_eq!(verdict(&judge(false), "Accept.response", "p50"), Verdict::Regression);
    let c = judge(true);
    assert_eq!(verdict(&c, "Accept.response", "p50"), Verdict::WithinNoise);
    assert_eq!(c.exit_code(), 0);
    // A slowdown of 20 ms in every second moves every batch alike: still caught.
    let slowed: Vec<Vec<u64>> =
        quiet.iter().map(|s| s.iter().map(|v| v + 20_000).collect()).collect();
    let (s, sh, si) = by_second(&slowed);
    let c = compare(
        Run { label: "b", report: &b, histograms: Some(&bh), intervals: Some(&bi) },
        Run { label: "s", report: &s, histograms: Some(&sh), intervals: Some(&si) },
        &Tolerances::default(),
    );
    for stat in ["p50", "p90", "mean"] {
        assert_eq!(verdict(&c, "Accept.response", stat), Verdict::Regression, "{stat}");
    }
}

#[test]
fn a_metric_measured_in_one_burst_only_informs() {
    // Consults in the histograms (as the login phase is in totals.hlog) but not over the
    // seconds of the interval logs: one moment of the machine, however many samples.
    let seconds: Vec<Vec<u64>> = (0..4).map(|_| exp_latencies(100, 0.1)).collect();
    let (_, _, intervals) = by_second(&seconds);
    let base = RunSpec { consults: 50, ..RunSpec::new(seconds.concat()) };
    let slow = RunSpec { consults: 50, ..RunSpec::new(seconds.concat()) };
    let (b, bh) = stored(&base);
    let (c, mut ch) = stored(&slow);
    // The current run's Consults were all three times slower.
    let mut consult = Histogram::<u64>::new(3).unwrap();
    consult.record_n(15_000, 50).unwrap();
    ch.insert("Consult.response".into(), consult);
    let judge = |intervals: Option<&super::Intervals>, tol: &Tolerances| {
        compare(
            Run { label: "b", report: &b, histograms: Some(&bh), intervals },
            Run { label: "c", report: &c, histograms: Some(&ch), intervals },
            tol,
        )
    };
    let c = judge(Some(&intervals), &Tolerances::default());
    let row = c.rows.iter().find(|r| r.metric == "Consult.response" && r.stat == "p50").unwrap();
    assert_eq!((row.verdict, row.informational), (Verdict::Informational, Some(Tail::Burst)));
    assert_eq!(verdict(&c, "Accept.response", "p50"), Verdict::Ok);
    assert_eq!(c.exit_code(), 0);
    assert!(compare::render_comparison(&c).contains("info (one burst)"));
    // Without interval logs nothing shows it was a burst: judged, a regression.
    let c = judge(None, &Tolerances::default());
    assert_eq!(verdict(&c, "Consult.response", "p50"), Verdict::Regression);
    // And judged when asked.
    let strict = Tolerances { strict_tails: true, ..Tolerances::default() };
    let c = judge(Some(&intervals), &strict);
    assert_eq!(verdict(&c, "Consult.response", "p50"), Verdict::Regression);
}
