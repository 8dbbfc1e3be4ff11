//! Builds a [`Report`] from a merged recorder and the run's metadata: the only place that reads
//! the metrics types, so the renderers see nothing but the report model.

use std::collections::BTreeMap;

use time::format_description::well_known::Rfc3339;
use time::{OffsetDateTime, UtcOffset};

use super::faults::FaultsReport;
use super::thresholds;
use super::{
    CustomerReport, EXIT_INTERRUPTED, Exit, ExitStatus, LatencyUnit, OpKind, OpReport, Percentiles,
    Report, RunInfo, SchemaTag, TimedReport, Verdict, Versions, ViolationReport, ViolationsReport,
    WarmupCounts,
};
use crate::gws::states::Capability;
use crate::metrics::{LatencyHistogram, OpStats, Recorder, TimedMetric};
use crate::ordering::ViolationKind;
use crate::scenario::{Scenario, Step};
use crate::vocab::{Counter, CustomerMetric, OpMetric, OpName, SessionOp};

pub(super) fn build(info: RunInfo, m: &Recorder, faults: Option<FaultsReport>) -> Report {
    let counts = super::Counts {
        operations: m.total_operations(),
        errors: m.counter(Counter::Errors),
        violations: m.counter(Counter::Violations),
        reconnects: m.counter(Counter::Reconnects),
        missed_starts: m.counter(Counter::MissedStarts),
        abandoned: m.abandoned_count().measured,
        flows_completed: m.counter(Counter::FlowsCompleted),
        chats_completed: m.counter(Counter::ChatsCompleted),
    };
    let thresholds: Vec<_> = info
        .scenario
        .thresholds
        .iter()
        .map(|t| thresholds::evaluate(t, m, faults.as_ref()))
        .collect();

    let mut warnings = Vec::new();
    if info.partial {
        warnings.push(
            "the run was interrupted: these results cover only the part of it that ran".to_owned(),
        );
    }
    if counts.missed_starts > 0 {
        warnings.push(format!(
            "{} missed starts: the generator fell behind its schedule, so the load offered was \
             lower than planned (latencies are still measured from the intended start)",
            counts.missed_starts
        ));
    }

    let mut report = Report {
        schema: SchemaTag,
        partial: info.partial,
        // Filled in below, once the rest of the report exists to judge.
        exit: Exit { code: 0, status: ExitStatus::Pass, checks: Verdict::Pass, reasons: vec![] },
        versions: Versions { gwsim: env!("CARGO_PKG_VERSION").to_owned() },
        seed: info.scenario.run.seed,
        shard: info.scenario.sharding.shard,
        fingerprint: Some(info.scenario.sharding.fingerprint.clone()),
        start: info.start,
        phases: info.phases,
        shards: Vec::new(),
        started: rfc3339(info.started),
        ended: rfc3339(info.ended),
        duration_ms: u64::try_from(info.elapsed.as_millis()).unwrap_or(u64::MAX),
        latency_unit: LatencyUnit::Us,
        target: info.target,
        options: Some(info.options),
        warnings,
        thresholds,
        operations: operations(m, &flow_order(&info.scenario)),
        customers: customers(m),
        counts,
        throughput: super::throughput::Throughput::of(&info.window),
        violations: violations(m),
        faults,
        generator: None,
        // A shard records the whole scenario it is a slice of (`shard` says which slice).
        scenario: match info.scenario.sharding.whole.as_deref() {
            Some(whole) => whole.clone(),
            None => info.scenario,
        },
    };
    report.exit = exit_of(&report);
    report
}

/// The exit a report's checks (and whether it is partial) give it; a merge judges its sum the
/// same way.
pub(super) fn exit_of<S>(report: &Report<S>) -> Exit {
    let mut reasons = thresholds::failures(report);
    let checks = if reasons.is_empty() { Verdict::Pass } else { Verdict::ChecksFailed };
    let (code, status) = if report.partial {
        reasons.push("the run was interrupted (partial results)".to_owned());
        (EXIT_INTERRUPTED, ExitStatus::Interrupted)
    } else {
        match checks {
            Verdict::Pass => (checks.exit_code(), ExitStatus::Pass),
            Verdict::ChecksFailed => (checks.exit_code(), ExitStatus::ChecksFailed),
        }
    };
    Exit { code, status, checks, reasons }
}

/// RFC 3339 in UTC. Formatting fails only for years outside 0..=9999, which a clock reading
/// cannot produce; the Unix time is the fallback rather than an error in a finished run.
fn rfc3339(t: OffsetDateTime) -> String {
    let t = t.to_offset(UtcOffset::UTC);
    t.format(&Rfc3339).unwrap_or_else(|_| format!("@{}", t.unix_timestamp()))
}

fn percentiles(h: &LatencyHistogram) -> Option<Percentiles> {
    Percentiles::of(h.inner())
}

fn timed(t: &TimedMetric) -> TimedReport {
    TimedReport {
        count: t.latency.corrected().len(),
        warmup: t.warmup,
        corrected: percentiles(t.latency.corrected()),
        raw: percentiles(t.latency.raw()),
    }
}

/// The session steps an agent takes before its flows, in the order it takes them (readiness
/// toggles while it works come last of them).
const LOGIN: [SessionOp; 6] = [
    SessionOp::GetMe,
    SessionOp::Handshake,
    SessionOp::Subscribe,
    SessionOp::StartContactCenterSession,
    SessionOp::Ready,
    SessionOp::NotReady,
];

/// The session steps after the flows: the notification stream's failures (counted as they
/// come, read at the end), then logout.
const LOGOUT: [SessionOp; 3] =
    [SessionOp::Notifications, SessionOp::EndContactCenterSession, SessionOp::Disconnect];

/// Every operation in the order a run performs it: login steps, then the flow operations in the
/// scenario's step order (each population's main flow, then its consult flow, then any other
/// flow by name), then the remaining flow operations in protocol order (a Reject where no flow
/// applies, a Complete that tidies up), then logout.
pub(super) fn flow_order(scenario: &Scenario) -> Vec<OpName> {
    let mut order: Vec<OpName> = LOGIN.iter().map(|s| OpName::Session(*s)).collect();
    let mut flows: Vec<&str> = Vec::new();
    for pop in &scenario.agents {
        for name in [pop.flow.as_deref(), pop.flow_for_consult()].into_iter().flatten() {
            if !flows.contains(&name) {
                flows.push(name);
            }
        }
    }
    for name in scenario.flows.keys() {
        if !flows.contains(&name.as_str()) {
            flows.push(name);
        }
    }
    let steps = flows.iter().filter_map(|n| scenario.flows.get(*n)).flat_map(|f| &f.steps);
    let ops = steps.filter_map(|s| match s {
        Step::Op(op) => Some(op.op),
        Step::Think { .. } | Step::Await { .. } => None,
    });
    for op in ops.chain(Capability::ALL.iter().copied()).map(OpName::Flow) {
        if !order.contains(&op) {
            order.push(op);
        }
    }
    order.extend(LOGOUT.iter().map(|s| OpName::Session(*s)));
    order
}

/// Where `op` comes in `order`; operations missing from it go last, session steps after flow
/// operations, each in vocabulary order.
pub(super) fn rank_in(order: &[OpName], op: OpName) -> (usize, u8, usize) {
    let fallback = match op {
        OpName::Flow(c) => (0, Capability::ALL.iter().position(|x| *x == c).unwrap_or(usize::MAX)),
        OpName::Session(s) => {
            (1, SessionOp::ALL.iter().position(|x| *x == s).unwrap_or(usize::MAX))
        }
    };
    let at = order.iter().position(|o| *o == op).unwrap_or(usize::MAX);
    (at, fallback.0, fallback.1)
}

fn operations(m: &Recorder, order: &[OpName]) -> Vec<OpReport> {
    let mut ops: Vec<(OpName, &OpStats)> = m.ops().collect();
    ops.sort_by_key(|(op, _)| rank_in(order, *op));
    ops.into_iter()
        .map(|(op, s)| OpReport {
            name: op,
            kind: OpKind::of(op),
            count: s.count(),
            ok: s.ok.measured,
            errors: s.errors.measured,
            errors_by_kind: s
                .error_kinds
                .iter()
                .filter(|(_, n)| n.measured > 0)
                .map(|(k, n)| (k.to_string(), n.measured))
                .collect(),
            warmup: WarmupCounts { ok: s.ok.warmup, errors: s.errors.warmup },
            response: s.timed(OpMetric::Response).map(timed),
            settle: s.timed(OpMetric::Settle).map(timed),
        })
        .collect()
}

fn customers(m: &Recorder) -> CustomerReport {
    let t = |c| m.customer(c).map(timed);
    CustomerReport {
        wait: t(CustomerMetric::Wait),
        send: t(CustomerMetric::Send),
        to_agent: t(CustomerMetric::ToAgent),
        to_customer: t(CustomerMetric::ToCustomer),
        abandoned: m.abandoned_count().measured,
        abandoned_warmup: m.abandoned_count().warmup,
    }
}

fn violations(m: &Recorder) -> ViolationsReport {
    let by_kind: BTreeMap<ViolationKind, u64> =
        ViolationKind::ALL.iter().map(|k| (*k, m.violations_of(*k))).collect();
    ViolationsReport {
        total: m.counter(Counter::Violations),
        by_kind,
        first: m.first_violations().iter().map(ViolationReport::from).collect(),
        file: None,
    }
}
