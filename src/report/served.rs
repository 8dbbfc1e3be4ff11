//! Whether the agents served anything: a run whose customers arrived while no agent took one, or
//! whose agents' CometD streams all died, cannot pass, whatever its thresholds say. Its latencies
//! and error rates would describe nothing (issue 9: such a run used to exit 0 with PASS and 0
//! errors). Judged from the report's own figures, so a merge of shards is judged the same way.

use super::OpKind;
use super::Report;
use crate::vocab::{OpName, STREAM_CLOSED, STREAM_DOWN_AT_END, SessionOp};

/// The sentence saying the agents served nothing, or `None` when they served something or
/// nothing was asked of them. An interrupted run is judged as interrupted, not here.
pub(super) fn served_nothing<S>(report: &Report<S>) -> Option<String> {
    if report.partial {
        return None;
    }
    let op = |name: OpName| report.operations.iter().find(|o| o.name == name);
    let ok_of = |name: OpName| op(name).map_or(0, |o| o.ok + o.warmup.ok);
    let streams = ok_of(OpName::Session(SessionOp::Handshake));
    let notifications = op(OpName::Session(SessionOp::Notifications));
    let dead_kind =
        |kind: &str| notifications.and_then(|o| o.errors_by_kind.get(kind)).copied().unwrap_or(0);
    let (closed, down) = (dead_kind(STREAM_CLOSED), dead_kind(STREAM_DOWN_AT_END));
    let stream_errors: Vec<String> = notifications
        .map(|o| {
            o.errors_by_kind
                .iter()
                .filter(|(k, _)| k.as_str() != STREAM_CLOSED && k.as_str() != STREAM_DOWN_AT_END)
                .map(|(k, n)| format!("{k} {n}"))
                .collect()
        })
        .unwrap_or_default();
    let why = if stream_errors.is_empty() {
        String::new()
    } else {
        format!("; CometD failures: {}", stream_errors.join(", "))
    };
    if streams > 0 && closed + down >= streams {
        return Some(format!(
            "agents served nothing: every agent's CometD stream died ({} of {streams}: {closed} \
             closed, {down} still failing at the end){why}",
            closed + down
        ));
    }
    let waited = report.customers.wait.as_ref().map_or(0, |w| w.count + w.warmup);
    let abandoned = report.customers.abandoned + report.customers.abandoned_warmup;
    let waiting_peak = report.throughput.as_ref().map_or(0, |t| t.customers_waiting.peak);
    let arrived = waited > 0 || abandoned > 0 || waiting_peak > 0;
    let flow_ok: u64 = report
        .operations
        .iter()
        .filter(|o| OpKind::of(o.name) == OpKind::Flow)
        .map(|o| o.ok + o.warmup.ok)
        .sum();
    let served = waited > 0
        || flow_ok > 0
        || report.counts.flows_completed > 0
        || report.counts.chats_completed > 0;
    (arrived && !served).then(|| {
        format!(
            "agents served nothing: customers arrived (peak {waiting_peak} waiting, {abandoned} \
             abandoned) and no interaction was accepted{why}"
        )
    })
}

#[cfg(test)]
mod tests {
    use crate::metrics::Recorder;
    use crate::report::tests::{info, scenario};
    use crate::report::{ExitStatus, Report};
    use crate::vocab::{CustomerMetric, OpName, STREAM_CLOSED, STREAM_DOWN_AT_END, SessionOp};

    const NOTIFICATIONS: OpName = OpName::Session(SessionOp::Notifications);
    const HANDSHAKE: OpName = OpName::Session(SessionOp::Handshake);

    /// Issue 9: three agents logged in, their streams failed (500s) and died; customers waited
    /// (the window's gauge) and nobody was served. The run fails and says why.
    #[test]
    fn dead_streams_fail_the_run_with_the_failures_by_kind() {
        let mut r = Recorder::new();
        for _ in 0..3 {
            r.op_ok(HANDSHAKE, true);
        }
        for _ in 0..12 {
            r.op_error(NOTIFICATIONS, "http-status", true);
        }
        r.op_error(NOTIFICATIONS, STREAM_CLOSED, true);
        r.op_error(NOTIFICATIONS, STREAM_DOWN_AT_END, true);
        r.op_error(NOTIFICATIONS, STREAM_DOWN_AT_END, true);
        let report = Report::build(info(scenario(""), false), &r);
        assert_eq!((report.exit.code, report.exit.status), (1, ExitStatus::ChecksFailed));
        assert_eq!(
            report.exit.reasons,
            ["agents served nothing: every agent's CometD stream died (3 of 3: 1 closed, 2 still \
              failing at the end); CometD failures: http-status 12"]
        );
        let junit = crate::report::junit::junit_xml(&report);
        assert!(junit.contains(r#"type="served-nothing""#), "{junit}");
    }

    /// Streams up, customers waiting, not one interaction accepted: the run fails too.
    #[test]
    fn customers_arriving_while_nothing_is_accepted_fail_the_run() {
        let mut r = Recorder::new();
        r.op_ok(HANDSHAKE, true);
        r.op_error(NOTIFICATIONS, "wrong-shape", true);
        let report = Report::build(info(scenario(""), false), &r);
        assert_eq!(report.exit.code, 1);
        assert_eq!(
            report.exit.reasons,
            ["agents served nothing: customers arrived (peak 1 waiting, 0 abandoned) and no \
              interaction was accepted; CometD failures: wrong-shape 1"]
        );
    }

    /// One stream of two died, and a customer was served: nothing to say here.
    #[test]
    fn a_run_that_served_someone_passes_this_check() {
        let mut r = Recorder::new();
        r.op_ok(HANDSHAKE, true);
        r.op_ok(HANDSHAKE, true);
        r.op_error(NOTIFICATIONS, STREAM_CLOSED, true);
        r.customer_sample(CustomerMetric::Wait, std::time::Duration::from_millis(900), true);
        let report = Report::build(info(scenario(""), false), &r);
        assert_eq!(super::served_nothing(&report), None);
        // Interrupted runs are judged as interrupted.
        let report = Report::build(info(scenario(""), true), &Recorder::new());
        assert_eq!(super::served_nothing(&report), None);
    }
}
