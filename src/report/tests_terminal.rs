//! Tests of the terminal summary's shape: every line fits 100 columns for a heavy, realistic
//! run; operations come in flow order; thin percentiles are marked and explained.

use std::time::{Duration, Instant};

use super::terminal::WIDTH;
use super::tests::{info, scenario, violation};
use super::*;
use crate::gws::states::Capability;
use crate::metrics::Recorder;
use crate::ordering::ViolationKind;
use crate::vocab::{Counter, CustomerMetric, OpMetric, OpName, SessionOp};

const REMOVE: OpName = OpName::Flow(Capability::RemoveParticipantFromConference);

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// `n` successful operations of `op`, response (and settle) latencies spread up to `top_ms`.
fn timed(r: &mut Recorder, op: OpName, n: u64, top_ms: u64, settle: bool) {
    let t0 = Instant::now();
    for i in 0..n {
        let took = ms(1 + i * top_ms / n.max(1));
        let done = t0 + took;
        // Requests that left halfway late: corrected and raw differ, so the correction lines
        // print.
        let sent = t0 + took / 2;
        r.latency(op, OpMetric::Response, t0, sent, done, true);
        if settle {
            r.latency(op, OpMetric::Settle, t0, sent, done + ms(40), true);
        }
        r.op_ok(op, true);
    }
}

/// The table row of operation `name`, split into its cells.
fn row<'a>(text: &'a str, name: &str) -> Vec<&'a str> {
    let line = text.lines().find(|l| l.trim_start().starts_with(&format!("{name} ")));
    match line {
        Some(l) => l.split_whitespace().collect(),
        None => panic!("no row for {name} in:\n{text}"),
    }
}

#[test]
fn every_line_fits_100_columns_for_a_heavy_run() {
    let mut r = Recorder::new();
    // Six-digit counts, latencies into seconds, and the longest operation names.
    timed(&mut r, REMOVE, 123_456, 2_500, true);
    for c in Capability::ALL {
        timed(&mut r, OpName::Flow(*c), 37, 9_000, true);
        r.op_error(OpName::Flow(*c), "await-timeout:consultant-joined", true);
        r.op_error(OpName::Flow(*c), "http-503", true);
    }
    for s in SessionOp::ALL {
        timed(&mut r, OpName::Session(*s), 1_000, 120, false);
    }
    r.customer_sample(CustomerMetric::Wait, ms(61_000), true);
    r.count(Counter::MissedStarts, 123_456);
    r.count(Counter::Reconnects, 98_765);
    for i in 0..8 {
        let mut v = violation(ViolationKind::OutOfOrder, 1_000_000 + i);
        v.expected =
            "ParticipantJoined(specialist-123456) then ParticipantsUpdated(Chatting)".into();
        v.context = (0..12).map(|i| format!("StatusChange(Chatting) #{i}")).collect();
        r.violation(v);
    }
    let thresholds = "[[thresholds]]\nmetric = \"RemoveParticipantFromConference.settle\"\n\
                      p99 = \"1s\"\n[[thresholds]]\nmetric = \"violations\"\nmax = 0\n";
    let mut info = info(scenario(thresholds), false);
    info.target.base_url = "https://gws-cluster-b.contact-center.example.com:8443".into();
    let report = Report::build(info, &r);
    let text = render(&report);
    let long: Vec<&str> = text.lines().filter(|l| l.chars().count() > WIDTH).collect();
    assert!(long.is_empty(), "lines over {WIDTH} columns: {long:#?}\n{text}");
    // The tables still hold every column: name, count, errors, ops/s, 4 statistics, settle.
    let cells = row(&text, "RemoveParticipantFromConference");
    assert_eq!(cells.len(), 9, "{cells:?}");
    assert_eq!(cells[1], "123495");
    assert!(text.contains("throughput (over 55.0s measured"), "{text}");
    assert!(text.contains("occupancy 67.3%"), "{text}");
    // One line per corrected metric, not one line for all of them.
    assert!(text.contains("\n    RemoveParticipantFromConference.response p99 "), "{text}");
}

#[test]
fn operations_come_in_flow_order() {
    let mut r = Recorder::new();
    // Recorded in no particular order; the scenario's flows are Accept, Consult,
    // RemoveParticipantFromConference, Complete (frontline) and Accept (specialist).
    let recorded = [
        OpName::Session(SessionOp::Disconnect),
        OpName::Flow(Capability::Complete),
        OpName::Flow(Capability::Reject),
        OpName::Session(SessionOp::Ready),
        REMOVE,
        OpName::Session(SessionOp::EndContactCenterSession),
        OpName::Flow(Capability::Consult),
        OpName::Session(SessionOp::StartContactCenterSession),
        OpName::Flow(Capability::Accept),
        OpName::Session(SessionOp::Handshake),
        OpName::Session(SessionOp::GetMe),
    ];
    for op in recorded {
        timed(&mut r, op, 3, 10, false);
    }
    let report = Report::build(info(scenario(""), false), &r);
    let names: Vec<&str> = report.operations.iter().map(|o| o.name.as_str()).collect();
    let expected = [
        "GetMe",
        "Handshake",
        "StartContactCenterSession",
        "Ready",
        "Accept",
        "Consult",
        "RemoveParticipantFromConference",
        "Complete",
        "Reject",
        "EndContactCenterSession",
        "Disconnect",
    ];
    assert_eq!(names, expected);
    // The table follows the report.
    let text = render(&report);
    let at = |name: &str| text.find(&format!("\n  {name} ")).unwrap_or(usize::MAX);
    let positions: Vec<usize> = expected.iter().map(|n| at(n)).collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1] && w[1] != usize::MAX), "{text}");
    // And so does a summary read back.
    let back: StoredReport = serde_json::from_str(&to_json(&report).unwrap()).unwrap();
    assert_eq!(render(&back), text);
}

#[test]
fn thin_percentiles_are_marked_and_explained() {
    let accept = OpName::Flow(Capability::Accept);
    let consult = OpName::Flow(Capability::Consult);
    let get_me = OpName::Session(SessionOp::GetMe);
    let mut r = Recorder::new();
    timed(&mut r, accept, 150, 100, false);
    timed(&mut r, consult, 1_000, 100, true);
    timed(&mut r, get_me, 1, 100, false);
    let text = render(&Report::build(info(scenario(""), false), &r));
    // Columns: name, count, errors, ops/s, p50, p99, p99.9, max, settle p99.
    let a = row(&text, "Accept");
    assert!(!a[4].starts_with('~') && !a[5].starts_with('~'), "{a:?}");
    assert!(a[6].starts_with('~'), "150 samples do not resolve p99.9: {a:?}");
    assert!(!a[7].starts_with('~'), "the max is never thin: {a:?}");
    let c = row(&text, "Consult");
    assert!(c.iter().all(|cell| !cell.starts_with('~')), "{c:?}");
    let g = row(&text, "GetMe");
    assert!(g[4..7].iter().all(|cell| cell.starts_with('~')), "one sample: {g:?}");
    let legend: Vec<&str> = text.lines().filter(|l| l.trim_start().starts_with("~ thin")).collect();
    assert_eq!(legend.len(), 1, "{text}");
    assert!(legend[0].contains("p99 needs 100") && legend[0].contains("count"), "{legend:?}");

    // Enough samples everywhere: no mark, no legend.
    let mut r = Recorder::new();
    timed(&mut r, consult, 1_000, 100, true);
    let text = render(&Report::build(info(scenario(""), false), &r));
    assert!(!text.contains('~'), "{text}");
}
