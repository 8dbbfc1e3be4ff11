//! Tests of the report: threshold verdicts, the outcome, a snapshot of the terminal table, and
//! `summary.json` against its JSON Schema.

use std::time::{Duration, Instant};

use expect_test::{Expect, expect};
use time::macros::datetime;

use super::*;
use crate::gws::states::Capability;
use crate::metrics::Recorder;
use crate::ordering::{Violation, ViolationKind};
use crate::vocab::{Counter, CustomerMetric, OpMetric, OpName, SessionOp, Stat};

const ACCEPT: OpName = OpName::Flow(Capability::Accept);
const CONSULT: OpName = OpName::Flow(Capability::Consult);
const REMOVE: OpName = OpName::Flow(Capability::RemoveParticipantFromConference);

pub(super) fn scenario(thresholds: &str) -> Scenario {
    let text = format!(
        r#"
name = "report-test"
[target]
kind = "embedded"
transport = "websocket"
media = "chat"
[run]
duration = "60s"
warmup = "5s"
seed = 7
[[agents]]
name = "frontline"
count = 2
username = "frontline-{{n}}"
flow = "work"
[[agents]]
name = "specialist"
count = 1
username = "specialist-{{n}}"
consult_flow = "answer"
readiness = "not-ready"
[customers]
arrival = {{ rate = "1/s" }}
[flows.work]
steps = [
  {{ op = "Accept" }},
  {{ op = "Consult", target = "agents:specialist" }},
  {{ await = "consultant-joined", timeout = "10s" }},
  {{ op = "RemoveParticipantFromConference", target = "consultant" }},
  {{ op = "Complete" }},
]
[flows.answer]
steps = [ {{ op = "Accept" }}, {{ await = "removed", timeout = "30s" }} ]
{thresholds}
"#
    );
    match crate::scenario::parse("test.toml", &text, &Default::default()) {
        Ok(s) => s,
        Err(d) => panic!("test scenario does not validate:\n{d}"),
    }
}

pub(super) fn info(scenario: Scenario, partial: bool) -> RunInfo {
    RunInfo {
        start: None,
        phases: None,
        target: crate::run_plan::ResolvedTarget {
            kind: crate::run_plan::TargetType::Embedded,
            base_url: "http://127.0.0.1:40123".into(),
            transport: scenario.target.transport,
            media: scenario.target.media,
            profile: crate::ordering::Profile::Strict,
            customer_api: true,
            accept_invalid_certs: false,
            contact_center_id: None,
        },
        options: crate::run_plan::RunOptions::default(),
        scenario,
        started: datetime!(2026-11-21 12:00:00 UTC),
        ended: datetime!(2026-11-21 12:01:05.5 UTC),
        elapsed: Duration::from_millis(65_500),
        partial,
        window: window(),
    }
}

/// The measured window of [`info`]'s run: seconds 5 to 60, steady, with gauges that vary.
pub(super) fn window() -> crate::metrics::gauges::Window {
    use crate::metrics::gauges::{GaugeSample, Window};
    let mut w = Window::new(Duration::from_secs(5), Duration::from_secs(60));
    for i in 5..60u64 {
        let mut r = Recorder::new();
        for _ in 0..2 {
            r.op_ok(ACCEPT, true);
            r.op_ok(CONSULT, true);
        }
        r.count(Counter::FlowsCompleted, 1);
        r.count(Counter::ChatsCompleted, 1);
        let g = GaugeSample {
            active_chats: 2 + i % 3,
            agents_logged_in: 3,
            agents_busy: 1 + i % 3,
            customers_waiting: i % 2,
        };
        w.add(Duration::from_secs(i), Duration::from_secs(i + 1), &r, g);
    }
    w
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

pub(super) fn violation(kind: ViolationKind, at_ms: u64) -> Violation {
    Violation {
        kind,
        agent: "frontline-1".into(),
        interaction: "0001KaCG7PKE001N".into(),
        expected: "ParticipantJoined(specialist-1)".into(),
        got: "StatusChange(Completed)".into(),
        context: vec!["ParticipantsUpdated".into(), "StatusChange(Completed)".into()],
        at_ms,
    }
}

/// A run's worth of measurements with fixed values: two agents' recorders merged.
pub(super) fn recorded() -> Recorder {
    let t0 = Instant::now();
    let mut a = Recorder::new();
    let mut b = Recorder::new();
    for i in 0..100u64 {
        a.latency(ACCEPT, OpMetric::Response, t0, t0, t0 + ms(2 + i % 10), true);
        a.op_ok(ACCEPT, true);
        // The consults of `b` left 300 ms late: corrected and raw differ.
        b.latency(CONSULT, OpMetric::Response, t0, t0 + ms(300), t0 + ms(320 + i % 20), true);
        b.latency(CONSULT, OpMetric::Settle, t0, t0 + ms(300), t0 + ms(350 + i), true);
        b.op_ok(CONSULT, true);
    }
    a.latency(ACCEPT, OpMetric::Response, t0, t0, t0 + ms(5000), false);
    a.op_ok(ACCEPT, false);
    a.op_error(CONSULT, "status-2", true);
    a.op_error(CONSULT, "timeout", true);
    b.op_error(REMOVE, "await-timeout:removed", true);
    b.latency(OpName::Session(SessionOp::GetMe), OpMetric::Response, t0, t0, t0 + ms(4), true);
    b.op_ok(OpName::Session(SessionOp::GetMe), true);
    a.customer_sample(CustomerMetric::Wait, ms(1500), true);
    a.customer_sample(CustomerMetric::ToAgent, ms(12), true);
    a.abandoned(true);
    a.count(Counter::Reconnects, 1);
    b.count(Counter::MissedStarts, 3);
    a.violation(violation(ViolationKind::OutOfOrder, 12_034));
    b.violation(violation(ViolationKind::Missing, 20_500));
    let mut all = Recorder::new();
    all.merge(&a);
    all.merge(&b);
    all
}

fn verdict_of<'a>(r: &'a Report, metric: &str, stat: &str) -> &'a ThresholdVerdict {
    match r.thresholds.iter().find(|v| v.metric.to_string() == metric && v.stat.as_str() == stat) {
        Some(v) => v,
        None => panic!("no verdict for {metric} {stat}"),
    }
}

#[test]
fn threshold_verdicts_pass_fail_and_no_data() {
    let s = scenario(
        r#"
[[thresholds]]
metric = "Accept.response"
p99 = "50ms"
[[thresholds]]
metric = "Consult.settle"
p99 = "400ms"
[[thresholds]]
metric = "RemoveParticipantFromConference.settle"
p99 = "1s"
[[thresholds]]
metric = "Complete.errors"
max = 0
[[thresholds]]
metric = "Complete.count"
min = 1
[[thresholds]]
metric = "Complete.errors"
rate = 0.5
[[thresholds]]
metric = "Consult.errors"
rate = 0.05
[[thresholds]]
metric = "violations.visibility-leak"
max = 0
[[thresholds]]
metric = "customer.wait"
mean = "2s"
[[thresholds]]
metric = "missed_starts"
max = 2
"#,
    );
    let r = Report::build(info(s, false), &recorded());

    let v = verdict_of(&r, "Accept.response", "p99");
    assert_eq!((v.outcome, v.passed, v.unit), (ThresholdOutcome::Pass, true, Unit::Us));
    assert_eq!(v.limit_value, 50_000.0);
    assert!(v.observed.is_some_and(|o| (11_000.0..=11_020.0).contains(&o)), "{v:?}");

    // Corrected settle runs from the intended start: 350..449 ms, over the 400 ms limit, although
    // the raw latencies (50..149 ms) are well under it.
    let v = verdict_of(&r, "Consult.settle", "p99");
    assert_eq!(v.outcome, ThresholdOutcome::Fail);
    assert!(v.observed.is_some_and(|o| o > 440_000.0), "{v:?}");

    // Measured but never settled: no data, which fails.
    let v = verdict_of(&r, "RemoveParticipantFromConference.settle", "p99");
    assert_eq!((v.outcome, v.observed, v.passed), (ThresholdOutcome::NoData, None, false));

    // A count with no data is 0: `max` passes, `min` fails; a rate with no data fails.
    let v = verdict_of(&r, "Complete.errors", "max");
    assert_eq!((v.outcome, v.observed), (ThresholdOutcome::Pass, Some(0.0)));
    let v = verdict_of(&r, "Complete.count", "min");
    assert_eq!((v.outcome, v.observed), (ThresholdOutcome::Fail, Some(0.0)));
    let v = verdict_of(&r, "Complete.errors", "rate");
    assert_eq!(v.outcome, ThresholdOutcome::NoData);

    // 2 failed of 102 Consults.
    let v = verdict_of(&r, "Consult.errors", "rate");
    assert_eq!(v.outcome, ThresholdOutcome::Pass);
    assert!(v.observed.is_some_and(|o| (o - 2.0 / 102.0).abs() < 1e-9), "{v:?}");

    let v = verdict_of(&r, "violations.visibility-leak", "max");
    assert_eq!(v.outcome, ThresholdOutcome::Pass);
    let v = verdict_of(&r, "customer.wait", "mean");
    assert_eq!(v.outcome, ThresholdOutcome::Pass);
    let v = verdict_of(&r, "missed_starts", "max");
    assert_eq!((v.outcome, v.observed), (ThresholdOutcome::Fail, Some(3.0)));

    assert_eq!(outcome(&r), Verdict::ChecksFailed);
    assert_eq!(r.exit.code, 1);
    assert_eq!(r.exit.status, ExitStatus::ChecksFailed);
    // One reason per failed threshold, plus the ungoverned violations (only visibility-leak has
    // a threshold, and out-of-order and missing occurred).
    assert_eq!(r.exit.reasons.len(), 6, "{:#?}", r.exit.reasons);
    assert!(
        r.exit
            .reasons
            .iter()
            .any(|x| x == "threshold RemoveParticipantFromConference.settle p99 <= 1s: no data")
    );
    assert!(
        r.exit
            .reasons
            .iter()
            .any(|x| x.starts_with("ordering violations occurred (missing 1, out-of-order 1)"))
    );
}

#[test]
fn violations_without_a_threshold_fail_the_run() {
    let r = Report::build(info(scenario(""), false), &recorded());
    assert_eq!(outcome(&r), Verdict::ChecksFailed);
    assert_eq!(r.exit.code, 1);

    let mut clean = Recorder::new();
    clean.op_ok(ACCEPT, true);
    let r = Report::build(info(scenario(""), false), &clean);
    assert_eq!(outcome(&r), Verdict::Pass);
    assert_eq!((r.exit.code, r.exit.status), (0, ExitStatus::Pass));
    assert!(r.exit.reasons.is_empty());
}

#[test]
fn a_violations_threshold_decides_alone() {
    let allow = scenario("[[thresholds]]\nmetric = \"violations\"\nmax = 2\n");
    assert_eq!(outcome(&Report::build(info(allow, false), &recorded())), Verdict::Pass);
    let strict = scenario("[[thresholds]]\nmetric = \"violations\"\nmax = 1\n");
    let r = Report::build(info(strict, false), &recorded());
    assert_eq!(outcome(&r), Verdict::ChecksFailed);
    assert_eq!(r.exit.reasons, ["threshold violations max <= 1 failed: observed 2"]);
    // A per-kind threshold allows its kind only.
    let one_kind = scenario(
        "[[thresholds]]\nmetric = \"violations.missing\"\nmax = 5\n[[thresholds]]\nmetric = \"violations.out-of-order\"\nmax = 5\n",
    );
    assert_eq!(outcome(&Report::build(info(one_kind, false), &recorded())), Verdict::Pass);
}

#[test]
fn an_interrupted_run_is_partial_with_exit_130() {
    let mut clean = Recorder::new();
    clean.op_ok(ACCEPT, true);
    let r = Report::build(info(scenario(""), true), &clean);
    assert!(r.partial);
    assert_eq!(
        (r.exit.code, r.exit.status, r.exit.checks),
        (130, ExitStatus::Interrupted, Verdict::Pass)
    );
    assert_eq!(outcome(&r), Verdict::Pass);
    assert!(r.warnings.iter().any(|w| w.contains("interrupted")));
    let json = to_json(&r).unwrap();
    assert!(json.contains("\"partial\": true"), "{json}");
}

#[test]
fn report_carries_counts_metadata_and_first_violations() {
    let r = Report::build(info(scenario(""), false), &recorded());
    assert_eq!(serde_json::to_value(r.schema).unwrap(), "gwsim.summary/1");
    assert_eq!(r.seed, 7);
    assert_eq!(r.started, "2026-11-21T12:00:00Z");
    assert_eq!(r.ended, "2026-11-21T12:01:05.5Z");
    assert_eq!(r.duration_ms, 65_500);
    assert_eq!(r.versions.gwsim, env!("CARGO_PKG_VERSION"));
    assert_eq!(
        r.counts,
        Counts {
            operations: 204,
            errors: 3,
            violations: 2,
            reconnects: 1,
            missed_starts: 3,
            abandoned: 1,
            flows_completed: 0,
            chats_completed: 0,
        }
    );
    let names: Vec<&str> = r.operations.iter().map(|o| o.name.as_str()).collect();
    assert_eq!(names, ["GetMe", "Accept", "Consult", "RemoveParticipantFromConference"]);
    let accept = &r.operations[1];
    assert_eq!((accept.count, accept.warmup.ok), (100, 1));
    assert_eq!(accept.response.as_ref().map(|t| (t.count, t.warmup)), Some((100, 1)));
    let consult = &r.operations[2];
    assert_eq!(consult.errors_by_kind.get("status-2"), Some(&1));
    let settle = consult.settle.as_ref().unwrap();
    let p50 = |p: Option<Percentiles>| p.and_then(|p| p.us(Stat::P50)).unwrap();
    assert!(p50(settle.corrected) > p50(settle.raw) + 290_000);
    // Nothing held the customer's request back: its raw wait is its corrected one.
    let wait = r.customers.wait.as_ref().unwrap();
    assert_eq!((wait.count, wait.raw), (1, wait.corrected));
    assert_eq!(r.violations.by_kind[&ViolationKind::OutOfOrder], 1);
    assert_eq!(r.violations.by_kind[&ViolationKind::VisibilityLeak], 0);
    assert_eq!(r.violations.first.iter().map(|v| v.at_ms).collect::<Vec<_>>(), [12_034, 20_500]);
    assert!(r.warnings.iter().any(|w| w.starts_with("3 missed starts")));
}

fn check(actual: &str, expect: Expect) {
    expect.assert_eq(actual);
}

#[test]
fn terminal_summary_snapshot() {
    let s = scenario(
        "[[thresholds]]\nmetric = \"Consult.settle\"\np99 = \"400ms\"\n[[thresholds]]\nmetric = \"Accept.response\"\np99 = \"50ms\"\n[[thresholds]]\nmetric = \"RemoveParticipantFromConference.settle\"\np99 = \"1s\"\n",
    );
    let r = Report::build(info(s, false), &recorded());
    check(
        &render(&r),
        expect![[r#"
            gwsim run report-test: CHECKS FAILED (exit 1)
            target embedded http://127.0.0.1:40123 (websocket, chat)
            seed 7, ran 65.5s, started 2026-11-21T12:00:00Z

            !! MISSED STARTS: 3 - the generator fell behind its schedule; the load offered was lower than
                planned (latencies are still measured from the intended start)

            throughput (over 55.0s measured, after warmup until the load ended)
              operations 4.00/s, flows completed 1.00/s, chats completed 1.00/s
              active chats mean 3.02, peak 4; customers waiting mean 0.51, peak 1
              agents logged in mean 3.00, peak 3; busy mean 2.02, peak 3; occupancy 67.3%

            operations in flow order (response latency from the intended start)
              operation                       count errors ops/s     p50     p99   p99.9    max settle p99
              GetMe                               1      0     - ~4.00ms ~4.00ms ~4.00ms 4.00ms          -
              Accept                            100      0  2.00  6.00ms  11.0ms ~11.0ms 11.0ms          -
              Consult                           102      2  2.00   329ms   339ms  ~339ms  339ms      448ms
              RemoveParticipantFromConference     1      1     -       -       -       -      -          -
              ~ thin: too few samples to resolve it (p99 needs 100, p99.9 needs 1000; see count)
              errors of Consult: status-2 1, timeout 1
              errors of RemoveParticipantFromConference: await-timeout:removed 1
              warmup (not in the table): 1 succeeded, 0 failed
              corrected for coordinated omission (requests left late):
                Consult.response p99 339ms (raw 39.0ms, 300ms understated); max 339ms (raw 39.0ms)
                Consult.settle p99 448ms (raw 148ms, 300ms understated); max 449ms (raw 149ms)

            customers
              metric    count      p50      p99    p99.9     max
              wait          1   ~1.50s   ~1.50s   ~1.50s   1.50s
              to_agent      1  ~12.0ms  ~12.0ms  ~12.0ms  12.0ms
              ~ thin: too few samples to resolve it (p99 needs 100, p99.9 needs 1000; see count)
              abandoned: 1

            counts: operations 204, errors 3, violations 2, reconnects 1, missed starts 3
              flows completed 0, chats completed 0, customers abandoned 1

            violations: 2 (missing 1, out-of-order 1)
              out-of-order at 12034 ms: frontline-1 on 0001KaCG7PKE001N: expected
                  ParticipantJoined(specialist-1), got StatusChange(Completed)
                recent: ParticipantsUpdated | StatusChange(Completed)
              missing at 20500 ms: frontline-1 on 0001KaCG7PKE001N: expected ParticipantJoined(specialist-1),
                  got StatusChange(Completed)
                recent: ParticipantsUpdated | StatusChange(Completed)

            thresholds
              FAIL            Consult.settle p99 <= 400ms                       observed 448ms
              PASS            Accept.response p99 <= 50ms                       observed 11.0ms
              FAIL (no data)  RemoveParticipantFromConference.settle p99 <= 1s  -

            result: CHECKS FAILED (exit 1)
              - threshold Consult.settle p99 <= 400ms failed: observed 448ms
              - threshold RemoveParticipantFromConference.settle p99 <= 1s: no data
              - ordering violations occurred (missing 1, out-of-order 1) and no `violations` threshold allows
                  them

            !! MISSED STARTS: 3 - the generator fell behind its schedule; the load offered was lower than
                planned (latencies are still measured from the intended start)
        "#]],
    );
}

#[test]
fn terminal_summary_of_an_empty_run() {
    let mut info = info(scenario(""), true);
    info.window = Default::default();
    let r = Report::build(info, &Recorder::new());
    check(
        &render(&r),
        expect![[r#"
            gwsim run report-test: INTERRUPTED, partial results (exit 130)
            target embedded http://127.0.0.1:40123 (websocket, chat)
            seed 7, ran 65.5s, started 2026-11-21T12:00:00Z

            throughput: not measured (no interval after warmup)

            operations in flow order (response latency from the intended start)
              none recorded

            counts: operations 0, errors 0, violations 0, reconnects 0, missed starts 0
              flows completed 0, chats completed 0, customers abandoned 0

            violations: none

            thresholds: none set

            result: INTERRUPTED, partial results (exit 130)
              - the run was interrupted (partial results)
        "#]],
    );
}

#[test]
fn summary_json_validates_against_the_schema() {
    let schema: serde_json::Value =
        serde_json::from_str(include_str!("../../schema/summary.schema.json")).unwrap();
    let validator = jsonschema::draft202012::new(&schema).unwrap();
    let s = scenario(
        "[[thresholds]]\nmetric = \"Consult.settle\"\np99 = \"400ms\"\n[[thresholds]]\nmetric = \"errors\"\nrate = 0.01\n[[thresholds]]\nmetric = \"violations\"\nmax = 0\n[[thresholds]]\nmetric = \"RemoveParticipantFromConference.settle\"\np99 = \"1s\"\n",
    );
    for (recorder, partial) in [(recorded(), false), (Recorder::new(), true)] {
        let r = Report::build(info(s.clone(), partial), &recorder);
        let json: serde_json::Value = serde_json::from_str(&to_json(&r).unwrap()).unwrap();
        let errors: Vec<String> = validator
            .iter_errors(&json)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect();
        assert!(
            errors.is_empty(),
            "summary.json does not match its schema:\n{}",
            errors.join("\n")
        );
    }
    // The schema is not vacuous: a wrong schema tag, a missing field and an unknown field fail.
    let r = Report::build(info(s, false), &recorded());
    let good: serde_json::Value = serde_json::from_str(&to_json(&r).unwrap()).unwrap();
    let mut bad = good.clone();
    bad["schema"] = "gwsim.summary/2".into();
    assert!(!validator.is_valid(&bad));
    let mut bad = good.clone();
    bad.as_object_mut().unwrap().remove("exit");
    assert!(!validator.is_valid(&bad));
    let mut bad = good.clone();
    bad["operations"][0]["surprise"] = 1.into();
    assert!(!validator.is_valid(&bad));
    let mut bad = good.clone();
    bad["operations"][0]["response"]["corrected"]["p99.9"] = "slow".into();
    assert!(!validator.is_valid(&bad));
    // The throughput is there and described: an occupancy over 1 or a fractional peak fails.
    assert!(good["throughput"]["per_operation"]["Accept"].is_number());
    let mut bad = good.clone();
    bad["throughput"]["occupancy"]["mean"] = 1.5.into();
    assert!(!validator.is_valid(&bad));
    let mut bad = good;
    bad["throughput"]["agents_busy"]["peak"] = 1.5.into();
    assert!(!validator.is_valid(&bad));
}

#[test]
fn summary_json_is_written_atomically_with_the_redacted_scenario() {
    let dir = std::env::temp_dir().join(format!("gwsim-report-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let r = Report::build(info(scenario(""), false), &recorded());
    let path = write_results(&dir, &r).unwrap();
    assert_eq!(path, dir.join("summary.json"));
    let names: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(names, ["summary.json"]);
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(json["schema"], "gwsim.summary/1");
    assert_eq!(json["scenario"]["name"], "report-test");
    // The password is a source (here: generated), never a value.
    assert_eq!(json["scenario"]["agents"][0]["password"], "generated");
    assert_eq!(json["operations"][2]["settle"]["corrected"]["count"], 100);
    let _ = std::fs::remove_dir_all(dir);
}

/// One parsed `<testcase>`: classname, name, and the failure's type and message.
#[derive(Debug)]
struct ParsedCase {
    classname: String,
    name: String,
    failure: Option<(String, String)>,
}

/// Parses `junit.xml` back with a real XML parser: the suite's attributes and every case.
fn parse_junit(xml: &str) -> (Vec<(String, String)>, Vec<ParsedCase>) {
    use quick_xml::events::{BytesStart, Event};
    fn attrs(e: &BytesStart<'_>) -> Vec<(String, String)> {
        e.attributes()
            .map(|a| {
                let a = a.unwrap();
                (
                    String::from_utf8(a.key.as_ref().to_vec()).unwrap(),
                    a.normalized_value(quick_xml::XmlVersion::Explicit1_0).unwrap().into_owned(),
                )
            })
            .collect()
    }
    fn get(a: &[(String, String)], k: &str) -> String {
        a.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()).unwrap_or_default()
    }
    let mut reader = quick_xml::Reader::from_str(xml);
    let mut suite = Vec::new();
    let mut cases = Vec::new();
    let mut suites = 0;
    loop {
        match reader.read_event().unwrap() {
            Event::Start(e) | Event::Empty(e) => {
                let a = attrs(&e);
                match e.name().as_ref() {
                    b"testsuite" => {
                        suites += 1;
                        suite = a;
                    }
                    b"testcase" => cases.push(ParsedCase {
                        classname: get(&a, "classname"),
                        name: get(&a, "name"),
                        failure: None,
                    }),
                    b"failure" => {
                        let last = cases.last_mut().expect("failure outside a testcase");
                        last.failure = Some((get(&a, "type"), get(&a, "message")));
                    }
                    _ => {}
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    assert_eq!(suites, 1, "exactly one testsuite");
    (suite, cases)
}

fn attr<'a>(a: &'a [(String, String)], k: &str) -> &'a str {
    a.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str()).unwrap_or("")
}

#[test]
fn junit_has_one_case_per_threshold_and_fails_what_failed() {
    let s = scenario(
        r#"
[[thresholds]]
metric = "Accept.response"
p99 = "50ms"
[[thresholds]]
metric = "Consult.settle"
p99 = "400ms"
[[thresholds]]
metric = "RemoveParticipantFromConference.settle"
p99 = "1s"
[[thresholds]]
metric = "Consult.errors"
rate = 0.05
"#,
    );
    let r = Report::build(info(s, false), &recorded());
    let (suite, cases) = parse_junit(&junit_xml(&r));
    assert_eq!(attr(&suite, "name"), "gwsim.report-test");
    // Four thresholds, plus the ungoverned ordering violations.
    assert_eq!(attr(&suite, "tests"), "5");
    assert_eq!(attr(&suite, "failures"), "3");
    let names: Vec<(&str, &str)> =
        cases.iter().map(|c| (c.classname.as_str(), c.name.as_str())).collect();
    assert_eq!(
        names,
        [
            ("Accept.response", "Accept.response p99 <= 50ms"),
            ("Consult.settle", "Consult.settle p99 <= 400ms"),
            (
                "RemoveParticipantFromConference.settle",
                "RemoveParticipantFromConference.settle p99 <= 1s"
            ),
            ("Consult.errors", "Consult.errors rate <= 0.05"),
            ("gwsim.run", "ordering violations"),
        ]
    );
    assert!(cases[0].failure.is_none());
    let (kind, message) = cases[1].failure.as_ref().unwrap();
    assert_eq!(kind, "threshold");
    assert_eq!(message, "observed 448ms, limit <= 400ms");
    let (kind, message) = cases[2].failure.as_ref().unwrap();
    assert_eq!(kind, "no-data");
    assert!(message.starts_with("no data"), "{message}");
    assert!(cases[3].failure.is_none());
    let (kind, message) = cases[4].failure.as_ref().unwrap();
    assert_eq!(kind, "violations");
    assert!(message.starts_with("ordering violations occurred (missing 1, out-of-order 1)"));
}

/// Issue 10: a failed error threshold names the operations and kinds behind its count.
#[test]
fn junit_error_failures_name_the_operation_and_kind() {
    let s = scenario(
        r#"
[[thresholds]]
metric = "errors"
max = 0
[[thresholds]]
metric = "Consult.errors"
max = 1
"#,
    );
    let r = Report::build(info(s, false), &recorded());
    let (_, cases) = parse_junit(&junit_xml(&r));
    let (kind, message) = cases[0].failure.as_ref().unwrap();
    assert_eq!(kind, "threshold");
    assert_eq!(
        message,
        "observed 3, limit <= 0; failed: Consult status-2 1, Consult timeout 1, \
         RemoveParticipantFromConference await-timeout:removed 1"
    );
    let (_, message) = cases[1].failure.as_ref().unwrap();
    assert_eq!(message, "observed 2, limit <= 1; failed: Consult status-2 1, Consult timeout 1");
}

#[test]
fn junit_ordering_case_follows_the_violations_thresholds() {
    // A `violations` threshold governs every kind: no separate case.
    let s = scenario("[[thresholds]]\nmetric = \"violations\"\nmax = 0\n");
    let r = Report::build(info(s, false), &recorded());
    let (suite, cases) = parse_junit(&junit_xml(&r));
    assert_eq!((attr(&suite, "tests"), attr(&suite, "failures")), ("1", "1"));
    assert_eq!(cases[0].name, "violations max <= 0");
    assert_eq!(cases[0].failure.as_ref().unwrap().1, "observed 2, limit <= 0");

    // No thresholds and a clean run: the ordering case is there, and passes.
    let mut clean = Recorder::new();
    clean.op_ok(ACCEPT, true);
    let r = Report::build(info(scenario(""), false), &clean);
    let (suite, cases) = parse_junit(&junit_xml(&r));
    assert_eq!((attr(&suite, "tests"), attr(&suite, "failures")), ("1", "0"));
    assert_eq!(cases[0].name, "ordering violations");
    assert!(cases[0].failure.is_none());

    // Interrupted: a failing `run completed` case.
    let r = Report::build(info(scenario(""), true), &clean);
    let (suite, cases) = parse_junit(&junit_xml(&r));
    assert_eq!((attr(&suite, "tests"), attr(&suite, "failures")), ("2", "1"));
    assert_eq!(cases[1].name, "run completed");
    assert_eq!(cases[1].failure.as_ref().unwrap().0, "interrupted");
}

#[test]
fn junit_escapes_what_it_quotes() {
    let mut m = Recorder::new();
    let mut v = violation(ViolationKind::Unexpected, 5);
    v.got = "Text(\"<b>&</b>\" \u{7})".into();
    m.violation(v);
    let mut r = Report::build(info(scenario(""), false), &m);
    r.scenario.name = "a<b>&\"c\"".into();
    let xml = junit_xml(&r);
    let (suite, cases) = parse_junit(&xml);
    assert_eq!(attr(&suite, "name"), "gwsim.a<b>&\"c\"");
    assert_eq!(cases[0].failure.as_ref().unwrap().0, "violations");
    assert!(xml.contains("got Text(&quot;&lt;b&gt;&amp;&lt;/b&gt;&quot; \u{FFFD})"), "{xml}");
}

#[test]
fn junit_is_written_atomically_next_to_the_summary() {
    let dir = std::env::temp_dir().join(format!("gwsim-junit-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let r = Report::build(info(scenario(""), false), &recorded());
    let path = write_junit(&dir, &r).unwrap();
    assert_eq!(path, dir.join("junit.xml"));
    let names: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(names, ["junit.xml"]);
    let (_, cases) = parse_junit(&std::fs::read_to_string(&path).unwrap());
    assert_eq!(cases.len(), 1);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn summary_reads_back_to_the_same_json_and_the_same_table() {
    let s = scenario(
        "[[thresholds]]\nmetric = \"Consult.settle\"\np99 = \"400ms\"\n[[thresholds]]\nmetric = \"errors\"\nrate = 0.01\n[[thresholds]]\nmetric = \"violations.missing\"\nmax = 3\n[[thresholds]]\nmetric = \"Complete.count\"\nmin = 1\n",
    );
    for (recorder, partial) in [(recorded(), false), (Recorder::new(), true)] {
        let r = Report::build(info(s.clone(), partial), &recorder);
        let json = to_json(&r).unwrap();
        let back =
            readback::parse_summary(std::path::Path::new("summary.json"), json.as_bytes()).unwrap();
        assert_eq!(to_json(&back).unwrap(), json);
        assert_eq!(render(&back), render(&r));
        assert_eq!(junit_xml(&back), junit_xml(&r));
        assert_eq!(back.thresholds, r.thresholds);
    }
}

/// A report of a run with faults: one drop found, one missed, one violation unexplained.
fn with_faults() -> Report {
    with_faults_judged("")
}

const FAULTS: &str = "[faults]\n[[faults.rule]]\nkind = \"drop\"\nrate = 1.0\n";

fn with_faults_judged(thresholds: &str) -> Report {
    use crate::faults::{FaultKind, LedgerRecord, LedgerSnapshot};
    let rec = |seq: u64, kind: FaultKind, agent: &str, ixn: &str| LedgerRecord {
        seq,
        kind,
        rule: 0,
        agent: Some(agent.into()),
        interaction: Some(ixn.into()),
        chat: None,
        operation: Some("Consult".into()),
        cause: None,
        notification: Some("StatusChange(Invited)".into()),
        ordinal: Some(3),
        index: None,
        connection: None,
        direction: None,
        detail: "dropped".into(),
        overtaken: None,
        at_ms: 1_000 + seq,
        at: "2026-01-01T00:00:01.001Z".into(),
    };
    let ledger = LedgerSnapshot {
        records: vec![
            rec(1, FaultKind::Drop, "a-1", "i1"),
            rec(2, FaultKind::Drop, "a-2", "i2"),
            rec(3, FaultKind::Latency, "a-2", "i2"),
        ],
        total: 3,
        dropped: 0,
    };
    let found = violation(ViolationKind::Missing, 6_000);
    let found =
        crate::ordering::Violation { agent: "a-1".into(), interaction: "i1".into(), ..found };
    let stray = violation(ViolationKind::Duplicate, 7_000);
    let faults = super::faults::FaultsReport::build(&ledger, &[found, stray], 0, 10);
    let mut r = Report::build_with(info(scenario(thresholds), false), &recorded(), Some(faults));
    r.violations.file = Some(super::ViolationsFileReport {
        path: "violations.jsonl".into(),
        written: 2,
        dropped: 0,
        cap: 100_000,
        failed: false,
    });
    r
}

#[test]
fn a_run_with_faults_reports_recall_precision_and_what_was_missed() {
    let r = with_faults();
    let f = r.faults.as_ref().expect("faults");
    let drop = f.kind(crate::faults::FaultKind::Drop).expect("drop");
    assert_eq!((drop.records, drop.found, drop.recall), (2, 1, Some(0.5)));
    assert_eq!((f.recall, f.precision), (Some(0.5), Some(0.5)));
    assert_eq!((f.missed_total, f.unexplained_total), (1, 1));
    let latency = f.kind(crate::faults::FaultKind::Latency).expect("latency");
    assert_eq!((latency.ordering, latency.recall), (false, None));
    // The terminal says it loudly, with the missed fault's context.
    let text = render(&r);
    assert!(text.contains("faults: 3 injected"), "{text}");
    assert!(text.contains("overall: recall 0.500, precision 0.500"), "{text}");
    assert!(text.contains("!! 1 FAULTS THE CHECKER MISSED:"), "{text}");
    assert!(text.contains("#2 drop (rule 0)"), "{text}");
    // The line wraps at 100 columns; its words are all there.
    let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(flat.contains("agent a-2 interaction i2, by Consult, StatusChange(Invited)"), "{text}");
    assert!(text.contains("!! 1 VIOLATIONS NO FAULT EXPLAINS:"), "{text}");
    // A JUnit case per kind with its figures; it passes (the exit code is the
    // thresholds' business, and a `faults.*` threshold fails its own case).
    let xml = junit_xml(&r);
    assert!(
        xml.contains(
            r#"classname="faults.drop" name="drop: recall 0.500 (1 of 2 found), precision 1.000 (0 violations unexplained)" time="0"/>"#
        ),
        "{xml}"
    );
    // A latency-only kind is counted, with no recall (it needs no violation), and passes.
    assert!(
        xml.contains(
            r#"classname="faults.latency" name="latency: 1 injected (no recall: it changes timing, not order)" time="0"/>"#
        ),
        "{xml}"
    );
    // And summary.json keeps it, valid against the schema, and reads back.
    let schema: serde_json::Value =
        serde_json::from_str(include_str!("../../schema/summary.schema.json")).unwrap();
    let validator = jsonschema::draft202012::new(&schema).unwrap();
    let json: serde_json::Value = serde_json::from_str(&to_json(&r).unwrap()).unwrap();
    let errors: Vec<String> =
        validator.iter_errors(&json).map(|e| format!("{} at {}", e, e.instance_path())).collect();
    assert!(errors.is_empty(), "{}", errors.join("\n"));
    assert_eq!(json["faults"]["kinds"][0]["kind"], "drop");
    assert_eq!(json["violations"]["file"]["written"], 2);
    let back: super::StoredReport = serde_json::from_value(json).expect("reads back");
    assert_eq!(back.faults, r.faults);
}

#[test]
fn a_run_without_faults_has_no_fault_section() {
    let r = Report::build(info(scenario(""), false), &recorded());
    assert!(r.faults.is_none());
    let json: serde_json::Value = serde_json::from_str(&to_json(&r).unwrap()).unwrap();
    assert!(json.get("faults").is_none());
    assert!(!render(&r).contains("faults:"));
    assert!(!junit_xml(&r).contains("faults."));
}

#[test]
fn recall_and_precision_are_thresholds() {
    let t =
        |metric: &str, min: &str| format!("[[thresholds]]\nmetric = \"{metric}\"\nmin = {min}\n");
    let text = format!(
        "{FAULTS}{}{}{}{}[[thresholds]]\nmetric = \"violations\"\nmax = 10\n",
        t("faults.recall", "0.5"),
        t("faults.precision", "0.9"),
        t("faults.drop.recall", "1.0"),
        t("faults.swap.recall", "1.0"),
    );
    let r = with_faults_judged(&text);
    let verdicts: Vec<(String, Option<f64>, ThresholdOutcome)> =
        r.thresholds.iter().map(|v| (v.metric.to_string(), v.observed, v.outcome)).collect();
    assert_eq!(
        verdicts[..4],
        [
            ("faults.recall".to_owned(), Some(0.5), ThresholdOutcome::Pass),
            ("faults.precision".to_owned(), Some(0.5), ThresholdOutcome::Fail),
            ("faults.drop.recall".to_owned(), Some(0.5), ThresholdOutcome::Fail),
            // No swap was injected: a recall that cannot be measured does not hold.
            ("faults.swap.recall".to_owned(), None, ThresholdOutcome::NoData),
        ]
    );
    assert_eq!(r.exit.code, 1);
    let reasons = r.exit.reasons.join("\n");
    assert!(
        reasons.contains("threshold faults.precision min >= 0.9 failed: observed 0.5000"),
        "{reasons}"
    );
    assert!(reasons.contains("threshold faults.swap.recall min >= 1: no data"), "{reasons}");
    // A run without its join (no faults measured) has no data for them either.
    let r = Report::build(info(scenario(&text), false), &recorded());
    assert!(r.thresholds[..4].iter().all(|v| v.outcome == ThresholdOutcome::NoData));
}
