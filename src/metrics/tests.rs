//! Unit tests of the recorder: correction, warmup, counting, bounds and merging.

use std::time::{Duration, Instant};

use super::*;
use crate::gws::states::Capability;
use crate::vocab::SessionOp;

const CONSULT: OpName = OpName::Flow(Capability::Consult);
const ACCEPT: OpName = OpName::Flow(Capability::Accept);

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn violation(kind: ViolationKind, at_ms: u64, agent: &str) -> Violation {
    Violation {
        kind,
        agent: agent.into(),
        interaction: "chat-1".into(),
        expected: "ParticipantJoined".into(),
        got: "nothing".into(),
        context: vec!["StatusChange(Invited)".into()],
        at_ms,
    }
}

fn p99_us(t: &LatencyHistogram) -> u64 {
    t.summary().map_or(0, |s| s.p99)
}

#[test]
fn corrected_counts_from_intended_start_and_raw_from_send() {
    let mut r = Recorder::new();
    let t0 = Instant::now();
    // Scheduled at t0, sent 400 ms late, answered 10 ms after sending.
    r.latency(CONSULT, OpMetric::Response, t0, t0 + ms(400), t0 + ms(410), true);
    let t = r.op(CONSULT).and_then(|s| s.timed(OpMetric::Response)).unwrap();
    let c = t.latency.corrected().summary().unwrap();
    let raw = t.latency.raw().summary().unwrap();
    assert!((410_000..=410_500).contains(&c.max), "corrected {}", c.max);
    assert!((10_000..=10_010).contains(&raw.max), "raw {}", raw.max);
}

#[test]
fn on_schedule_corrected_and_raw_agree() {
    let mut r = Recorder::new();
    let t0 = Instant::now();
    r.latency(ACCEPT, OpMetric::Settle, t0, t0, t0 + ms(25), true);
    let t = r.op(ACCEPT).and_then(|s| s.timed(OpMetric::Settle)).unwrap();
    assert_eq!(t.latency.corrected().summary(), t.latency.raw().summary());
}

#[test]
fn instants_out_of_order_saturate_to_zero() {
    let mut r = Recorder::new();
    let t0 = Instant::now();
    r.latency(ACCEPT, OpMetric::Response, t0 + ms(5), t0 + ms(5), t0, true);
    let t = r.op(ACCEPT).and_then(|s| s.timed(OpMetric::Response)).unwrap();
    assert_eq!(t.latency.corrected().summary().unwrap().max, 0);
}

#[test]
fn warmup_is_counted_but_kept_out_of_histograms_and_headline_counts() {
    let mut r = Recorder::new();
    let t0 = Instant::now();
    r.latency(ACCEPT, OpMetric::Response, t0, t0, t0 + ms(900), false);
    r.latency(ACCEPT, OpMetric::Response, t0, t0, t0 + ms(9), true);
    r.op_ok(ACCEPT, false);
    r.op_ok(ACCEPT, true);
    r.op_error(ACCEPT, "timeout", false);
    r.customer_sample(CustomerMetric::Wait, ms(3000), false);
    r.customer_sample(CustomerMetric::Wait, ms(30), true);
    r.abandoned(false);

    let s = r.op(ACCEPT).unwrap();
    let t = s.timed(OpMetric::Response).unwrap();
    assert_eq!(t.warmup, 1);
    assert_eq!(t.latency.corrected().len(), 1);
    assert!(p99_us(t.latency.corrected()) < 10_000);
    assert_eq!(s.ok, Split { measured: 1, warmup: 1 });
    assert_eq!(s.errors, Split { measured: 0, warmup: 1 });
    assert_eq!(s.count(), 1);
    assert_eq!(r.counter(Counter::Errors), 0);
    let w = r.customer(CustomerMetric::Wait).unwrap();
    assert_eq!((w.latency.corrected().len(), w.warmup), (1, 1));
    assert!(p99_us(w.latency.corrected()) < 31_000);
    assert_eq!(r.abandoned_count(), Split { measured: 0, warmup: 1 });
}

#[test]
fn count_kinds_have_no_latency() {
    let mut r = Recorder::new();
    let t0 = Instant::now();
    r.latency(ACCEPT, OpMetric::Count, t0, t0, t0 + ms(1), true);
    r.customer_sample(CustomerMetric::Abandoned, ms(1), true);
    let s = r.op(ACCEPT).unwrap();
    assert!(s.response.is_none() && s.settle.is_none());
    assert!(r.customer(CustomerMetric::Abandoned).is_none());
    assert_eq!(r.abandoned_count(), Split::default());
}

#[test]
fn errors_are_counted_by_kind_and_total() {
    let mut r = Recorder::new();
    r.op_error(CONSULT, "status-2", true);
    r.op_error(CONSULT, "status-2", true);
    r.op_error(CONSULT, "timeout", true);
    r.op_error(OpName::Session(SessionOp::GetMe), "http-403", true);
    r.count(Counter::Errors, 1);
    let s = r.op(CONSULT).unwrap();
    assert_eq!(s.errors.measured, 3);
    assert_eq!(s.error_kinds["status-2"].measured, 2);
    assert_eq!(s.error_kinds["timeout"].measured, 1);
    assert_eq!(r.counter(Counter::Errors), 5);
    assert_eq!(r.total_operations(), 4);
}

#[test]
fn error_kinds_are_capped() {
    let mut r = Recorder::new();
    for i in 0..(MAX_ERROR_KINDS + 10) {
        r.op_error(ACCEPT, &format!("http-{i}"), true);
    }
    let s = r.op(ACCEPT).unwrap();
    assert_eq!(s.error_kinds.len(), MAX_ERROR_KINDS + 1);
    assert_eq!(s.error_kinds[OTHER_ERROR_KIND].measured, 10);
    assert_eq!(s.errors.measured, (MAX_ERROR_KINDS + 10) as u64);
    // A kind already present keeps being counted under its own name.
    r.op_error(ACCEPT, "http-0", true);
    assert_eq!(r.op(ACCEPT).unwrap().error_kinds["http-0"].measured, 2);
}

#[test]
fn violations_are_counted_by_kind_and_kept_bounded() {
    let mut r = Recorder::new();
    for i in 0..(VIOLATIONS_KEPT as u64 + 25) {
        r.violation(violation(ViolationKind::OutOfOrder, 1000 + i, "a"));
    }
    r.violation(violation(ViolationKind::VisibilityLeak, 5, "customer-1"));
    assert_eq!(r.violations_of(ViolationKind::OutOfOrder), VIOLATIONS_KEPT as u64 + 25);
    assert_eq!(r.violations_of(ViolationKind::VisibilityLeak), 1);
    assert_eq!(r.counter(Counter::Violations), VIOLATIONS_KEPT as u64 + 26);
    let kept = r.first_violations();
    assert_eq!(kept.len(), VIOLATIONS_KEPT);
    // The late-arriving but earliest one is in, first; the latest ones are out.
    assert_eq!(kept[0].kind, ViolationKind::VisibilityLeak);
    assert!(kept.windows(2).all(|w| w[0].at_ms <= w[1].at_ms));
    assert_eq!(kept.last().map(|v| v.at_ms), Some(1000 + VIOLATIONS_KEPT as u64 - 2));
}

#[test]
fn merge_adds_counts_and_histograms_exactly() {
    let t0 = Instant::now();
    let mut a = Recorder::new();
    let mut b = Recorder::new();
    for i in 0..100u64 {
        a.latency(CONSULT, OpMetric::Settle, t0, t0, t0 + ms(i + 1), true);
        a.op_ok(CONSULT, true);
    }
    for i in 0..50u64 {
        b.latency(CONSULT, OpMetric::Settle, t0, t0 + ms(100), t0 + ms(200 + i), true);
        b.op_ok(CONSULT, true);
    }
    a.op_error(CONSULT, "timeout", true);
    b.op_error(CONSULT, "timeout", true);
    b.op_error(CONSULT, "status-2", false);
    a.count(Counter::Reconnects, 2);
    b.count(Counter::Reconnects, 3);
    b.count(Counter::MissedStarts, 7);
    a.customer_sample(CustomerMetric::ToAgent, ms(4), true);
    b.customer_sample(CustomerMetric::ToAgent, ms(6), true);
    b.customer_sample(CustomerMetric::ToCustomer, ms(6), true);
    a.abandoned(true);
    b.abandoned(true);
    b.abandoned(false);
    a.violation(violation(ViolationKind::Duplicate, 10, "a"));
    b.violation(violation(ViolationKind::Duplicate, 3, "b"));
    b.violation(violation(ViolationKind::Missing, 20, "b"));

    let mut all = Recorder::new();
    all.merge(&a);
    all.merge(&b);

    let s = all.op(CONSULT).unwrap();
    assert_eq!(s.ok.measured, 150);
    assert_eq!(s.errors, Split { measured: 2, warmup: 1 });
    assert_eq!(s.error_kinds["timeout"].measured, 2);
    assert_eq!(s.error_kinds["status-2"].warmup, 1);
    let t = s.timed(OpMetric::Settle).unwrap();
    assert_eq!(t.latency.corrected().len(), 150);
    assert_eq!(t.latency.raw().len(), 150);
    // Corrected: b's samples are 200..249 ms from intended; raw: 100..149 ms from sent.
    let c = t.latency.corrected().summary().unwrap();
    let r = t.latency.raw().summary().unwrap();
    assert!((249_000..=249_300).contains(&c.max), "{}", c.max);
    assert!((149_000..=149_200).contains(&r.max), "{}", r.max);
    assert_eq!(all.counter(Counter::Reconnects), 5);
    assert_eq!(all.counter(Counter::MissedStarts), 7);
    assert_eq!(all.counter(Counter::Errors), 2);
    assert_eq!(all.counter(Counter::Violations), 3);
    assert_eq!(all.customer(CustomerMetric::ToAgent).unwrap().latency.corrected().len(), 2);
    assert_eq!(all.customer(CustomerMetric::ToCustomer).unwrap().latency.corrected().len(), 1);
    assert!(all.customer(CustomerMetric::Wait).is_none());
    assert_eq!(all.abandoned_count(), Split { measured: 2, warmup: 1 });
    let at: Vec<u64> = all.first_violations().iter().map(|v| v.at_ms).collect();
    assert_eq!(at, [3, 10, 20]);
}

#[test]
fn merge_order_does_not_change_the_result() {
    let mut parts = Vec::new();
    for p in 0..3u64 {
        let mut r = Recorder::new();
        for i in 0..30u64 {
            r.violation(violation(ViolationKind::Unexpected, (i * 7 + p * 13) % 40, "x"));
        }
        parts.push(r);
    }
    let merged = |order: [usize; 3]| {
        let mut all = Recorder::new();
        for i in order {
            all.merge(&parts[i]);
        }
        all.first_violations().iter().map(|v| v.at_ms).collect::<Vec<_>>()
    };
    let a = merged([0, 1, 2]);
    assert_eq!(a.len(), VIOLATIONS_KEPT);
    assert_eq!(a, merged([2, 0, 1]));
    assert!(a.windows(2).all(|w| w[0] <= w[1]));
}

#[test]
fn merged_error_kinds_stay_capped() {
    let mut a = Recorder::new();
    let mut b = Recorder::new();
    for i in 0..MAX_ERROR_KINDS {
        a.op_error(ACCEPT, &format!("a-{i}"), true);
        b.op_error(ACCEPT, &format!("b-{i}"), true);
    }
    a.merge(&b);
    let s = a.op(ACCEPT).unwrap();
    assert_eq!(s.error_kinds.len(), MAX_ERROR_KINDS + 1);
    assert_eq!(s.error_kinds[OTHER_ERROR_KIND].measured, MAX_ERROR_KINDS as u64);
    assert_eq!(s.errors.measured, 2 * MAX_ERROR_KINDS as u64);
}

#[test]
fn memory_does_not_grow_with_samples() {
    let mut r = Recorder::new();
    assert_eq!(r.histogram_bytes(), 0);
    let t0 = Instant::now();
    for i in 0..1_000u64 {
        r.latency(ACCEPT, OpMetric::Response, t0, t0, t0 + Duration::from_micros(i * 97), true);
    }
    let after_1k = r.histogram_bytes();
    for i in 0..100_000u64 {
        r.latency(ACCEPT, OpMetric::Response, t0, t0, t0 + Duration::from_micros(i % 97_000), true);
    }
    assert_eq!(r.histogram_bytes(), after_1k);
}

#[test]
fn recorder_is_send() {
    fn assert_send<T: Send + 'static>() {}
    assert_send::<Recorder>();
}

/// What a reader can see of a recorder, for comparing two of them.
fn visible(r: &Recorder) -> String {
    let mut ops: Vec<String> = r
        .ops()
        .map(|(op, s)| {
            let timed = |t: &Option<TimedMetric>| {
                t.as_ref().map(|t| {
                    let c = t.latency.corrected().summary();
                    let raw = t.latency.raw().summary();
                    format!("{c:?}/{raw:?}/{}", t.warmup)
                })
            };
            let mut kinds: Vec<_> = s.error_kinds.iter().collect();
            kinds.sort_by(|a, b| a.0.cmp(b.0));
            format!(
                "{op:?} {:?} {:?} {kinds:?} {:?} {:?}",
                s.ok,
                s.errors,
                timed(&s.response),
                timed(&s.settle)
            )
        })
        .collect();
    ops.sort();
    let customers: Vec<_> =
        [CustomerMetric::Wait, CustomerMetric::ToAgent, CustomerMetric::ToCustomer]
            .into_iter()
            .map(|m| r.customer(m).map(|c| (c.latency.corrected().summary(), c.warmup)))
            .collect();
    let counters: Vec<_> = Counter::ALL.iter().map(|c| r.counter(*c)).collect();
    format!(
        "{ops:?} {customers:?} {:?} {counters:?} {:?}",
        r.abandoned_count(),
        r.first_violations()
    )
}

/// Some of everything, with raw and corrected latencies that differ.
fn record_some(r: &mut Recorder, scale: u64) {
    let t0 = Instant::now();
    r.latency(ACCEPT, OpMetric::Response, t0, t0 + ms(1), t0 + ms(5 * scale), true);
    r.latency(CONSULT, OpMetric::Settle, t0, t0, t0 + ms(300 * scale), true);
    r.latency(CONSULT, OpMetric::Settle, t0, t0, t0 + ms(2), false);
    r.customer_sample(CustomerMetric::Wait, ms(40 * scale), true);
    r.op_ok(ACCEPT, true);
    r.op_error(CONSULT, "timeout", true);
    r.count(Counter::Reconnects, scale);
    r.abandoned(true);
    r.violation(violation(ViolationKind::Missing, scale, "a"));
}

#[test]
fn a_recycled_recorder_reads_as_a_new_one_and_records_the_same() {
    let mut reused = Recorder::new();
    record_some(&mut reused, 1_000);
    reused.recycle();
    assert_eq!(visible(&reused), visible(&Recorder::new()));
    let mut fresh = Recorder::new();
    record_some(&mut reused, 1);
    record_some(&mut fresh, 1);
    assert_eq!(visible(&reused), visible(&fresh));
    // And merging either into a total gives the same total.
    let (mut a, mut b) = (Recorder::new(), Recorder::new());
    a.merge(&reused);
    b.merge(&fresh);
    assert_eq!(visible(&a), visible(&b));
}

/// A customer message held back behind a stalled request: corrected from its planned time, raw
/// from when it left, kept apart through a merge and a recycle.
#[test]
fn customer_latencies_have_a_corrected_and_a_raw_variant() {
    let t0 = Instant::now();
    let mut a = Recorder::new();
    // Planned at t0, sent 4.9 s later (behind a stalled poll), answered 20 ms after that.
    a.customer_latency(CustomerMetric::Send, t0, t0 + ms(4900), t0 + ms(4920), true);
    a.customer_latency(CustomerMetric::Send, t0, t0, t0 + ms(20), false);
    let mut b = Recorder::new();
    b.customer_latency(CustomerMetric::Send, t0, t0, t0 + ms(30), true);
    let mut all = Recorder::new();
    all.merge(&a);
    all.merge(&b);
    let send = all.customer(CustomerMetric::Send).unwrap();
    assert_eq!((send.latency.corrected().len(), send.latency.raw().len(), send.warmup), (2, 2, 1));
    let c = send.latency.corrected().summary().unwrap();
    let r = send.latency.raw().summary().unwrap();
    assert!((4_920_000..=4_925_000).contains(&c.max), "{}", c.max);
    assert!((30_000..=30_100).contains(&r.max), "{}", r.max);
    assert!(all.customer(CustomerMetric::ToAgent).is_none());
    all.recycle();
    assert!(all.customer(CustomerMetric::Send).is_none());
}

/// An interval's notes, replayed, make the recorder that recording them directly (as measured,
/// corrected latencies only) makes, also past the point where the notes fold themselves into a
/// recorder of their own.
#[test]
fn pending_notes_replay_as_if_recorded_directly() {
    use super::interval::{PENDING_ENTRIES, Pending};
    for n in [12u64, PENDING_ENTRIES as u64 + 7] {
        let (mut direct, mut notes) = (Recorder::new(), Pending::default());
        let t0 = Instant::now();
        for i in 0..n {
            let done = t0 + Duration::from_micros(1_000 + (i * 37) % 90_000);
            match i % 6 {
                0 => {
                    // Direct with raw = corrected: the notes keep corrected latencies only.
                    direct.latency(ACCEPT, OpMetric::Response, t0, t0, done, true);
                    notes.latency(ACCEPT, OpMetric::Response, t0, done);
                }
                1 => {
                    direct.customer_latency(CustomerMetric::Wait, t0, t0, done, true);
                    notes.customer_latency(CustomerMetric::Wait, t0, done);
                }
                2 => {
                    direct.op_ok(CONSULT, true);
                    notes.op_ok(CONSULT);
                }
                3 => {
                    let kind = if i % 4 == 1 { "timeout" } else { "http-500" };
                    direct.op_error(CONSULT, kind, true);
                    notes.op_error(CONSULT, kind.into());
                }
                4 => {
                    direct.count(Counter::Violations, 2);
                    notes.count(Counter::Violations, 2);
                }
                _ => {
                    direct.abandoned(true);
                    notes.abandoned();
                    // Neither a count kind nor `Abandoned` has a latency: both are ignored.
                    direct.latency(CONSULT, OpMetric::Count, t0, t0, done, true);
                    notes.latency(CONSULT, OpMetric::Count, t0, done);
                    direct.customer_latency(CustomerMetric::Abandoned, t0, t0, done, true);
                    notes.customer_latency(CustomerMetric::Abandoned, t0, done);
                }
            }
        }
        let mut replayed = Recorder::new();
        // Into a recycled recorder, as the ticker does.
        record_some(&mut replayed, 3);
        replayed.recycle();
        notes.replay_into(&mut replayed);
        assert!(notes.is_empty());
        assert_eq!(visible(&replayed), visible(&direct), "{n} notes");
        let hist = |r: &Recorder| {
            let t = r.op(ACCEPT).and_then(|s| s.response.clone()).expect("accept response");
            let values = |h: &LatencyHistogram| {
                h.inner()
                    .iter_recorded()
                    .map(|v| (v.value_iterated_to(), v.count_at_value()))
                    .collect::<Vec<_>>()
            };
            (values(t.latency.corrected()), values(t.latency.raw()))
        };
        assert_eq!(hist(&replayed), hist(&direct), "{n} notes");
    }
}

/// After a recycle each metric records into its own histogram again, so a metric of short
/// latencies does not inherit (and reset every second) the bucket array of a metric of long ones.
#[test]
fn a_recycled_metric_gets_its_own_histogram_back() {
    let t0 = Instant::now();
    let one_ms = |r: &mut Recorder| r.latency(ACCEPT, OpMetric::Response, t0, t0, t0 + ms(1), true);
    let mut r = Recorder::new();
    one_ms(&mut r);
    r.latency(CONSULT, OpMetric::Settle, t0, t0, t0 + ms(600_000), true);
    r.recycle();
    // The wide metric is quiet this time: its histogram waits for it, unused.
    one_ms(&mut r);
    let mut fresh = Recorder::new();
    one_ms(&mut fresh);
    assert_eq!(r.histogram_bytes(), fresh.histogram_bytes());
    assert_eq!(visible(&r), visible(&fresh));
}
