//! The join's rules, one table row per situation: which records are found, which violations
//! explained, and what recall and precision come out.

use super::*;

fn rec(kind: FaultKind, agent: &str, ixn: &str, at_ms: u64) -> LedgerRecord {
    LedgerRecord {
        seq: 0,
        kind,
        rule: 0,
        agent: Some(agent.into()),
        interaction: Some(ixn.into()),
        chat: None,
        operation: None,
        cause: None,
        notification: None,
        ordinal: None,
        index: None,
        connection: None,
        direction: None,
        detail: String::new(),
        overtaken: None,
        at_ms,
        at: String::new(),
    }
}

fn vio(kind: ViolationKind, agent: &str, ixn: &str, at_ms: u64) -> Violation {
    Violation {
        kind,
        agent: agent.into(),
        interaction: ixn.into(),
        expected: String::new(),
        got: String::new(),
        context: Vec::new(),
        at_ms,
    }
}

use FaultKind as F;
use ViolationKind as V;

struct Case {
    name: &'static str,
    records: Vec<LedgerRecord>,
    violations: Vec<Violation>,
    offset_ms: i64,
    /// (found, explained, missed record indices, unexplained violation indices)
    want: (u64, u64, Vec<usize>, Vec<usize>),
}

#[test]
fn the_join_follows_the_rules_of_docs_faults() {
    let cases = vec![
        Case {
            name: "a drop found as missing",
            records: vec![rec(F::Drop, "a", "i1", 100)],
            violations: vec![vio(V::Missing, "a", "i1", 5_100)],
            offset_ms: 0,
            want: (1, 1, vec![], vec![]),
        },
        Case {
            name: "a drop's second symptom is explained but finds no second fault",
            records: vec![rec(F::Drop, "a", "i1", 100)],
            violations: vec![vio(V::OutOfOrder, "a", "i1", 120), vio(V::Missing, "a", "i1", 5_100)],
            offset_ms: 0,
            want: (1, 2, vec![], vec![]),
        },
        Case {
            name: "another agent or interaction explains nothing",
            records: vec![rec(F::Drop, "a", "i1", 100)],
            violations: vec![vio(V::Missing, "b", "i1", 200), vio(V::Missing, "a", "i2", 200)],
            offset_ms: 0,
            want: (0, 0, vec![0], vec![0, 1]),
        },
        Case {
            name: "an incompatible kind explains nothing",
            records: vec![rec(F::Duplicate, "a", "i1", 100)],
            violations: vec![vio(V::Missing, "a", "i1", 200)],
            offset_ms: 0,
            want: (0, 0, vec![0], vec![0]),
        },
        Case {
            name: "a record later than the violation explains nothing",
            records: vec![rec(F::Swap, "a", "i1", 300)],
            violations: vec![vio(V::OutOfOrder, "a", "i1", 200)],
            offset_ms: 0,
            want: (0, 0, vec![0], vec![0]),
        },
        Case {
            name: "the offset moves records onto the run's clock",
            records: vec![rec(F::Swap, "a", "i1", 300)],
            violations: vec![vio(V::OutOfOrder, "a", "i1", 200)],
            offset_ms: 150,
            want: (1, 1, vec![], vec![]),
        },
        Case {
            name: "within the slack of whole milliseconds",
            records: vec![rec(F::Swap, "a", "i1", 202)],
            violations: vec![vio(V::OutOfOrder, "a", "i1", 200)],
            offset_ms: 0,
            want: (1, 1, vec![], vec![]),
        },
        Case {
            name: "earliest unmatched record first; the later one is missed",
            records: vec![rec(F::Duplicate, "a", "i1", 100), rec(F::Duplicate, "a", "i1", 150)],
            violations: vec![vio(V::Duplicate, "a", "i1", 400)],
            offset_ms: 0,
            want: (1, 1, vec![1], vec![]),
        },
        Case {
            name: "two violations take two records one to one",
            records: vec![rec(F::Duplicate, "a", "i1", 100), rec(F::Duplicate, "a", "i1", 150)],
            violations: vec![vio(V::Duplicate, "a", "i1", 160), vio(V::Duplicate, "a", "i1", 110)],
            offset_ms: 0,
            want: (2, 2, vec![], vec![]),
        },
        Case {
            name: "a delayed MessageLogUpdated explains the index going back",
            records: vec![LedgerRecord { overtaken: Some(true), ..rec(F::Delay, "a", "i1", 100) }],
            violations: vec![vio(V::IndexRegression, "a", "i1", 400)],
            offset_ms: 0,
            want: (1, 1, vec![], vec![]),
        },
        Case {
            name: "late explains unexpected after the terminal state",
            records: vec![rec(F::Late, "a", "i1", 100)],
            violations: vec![vio(V::Unexpected, "a", "i1", 101)],
            offset_ms: 0,
            want: (1, 1, vec![], vec![]),
        },
        Case {
            name: "a leak joins the customer's violation on the interaction",
            records: vec![rec(F::Leak, "consultant-1", "i1", 100)],
            violations: vec![vio(V::VisibilityLeak, "customer-1", "i1", 300)],
            offset_ms: 0,
            want: (1, 1, vec![], vec![]),
        },
        Case {
            name: "latency faults need no violation and are never missed",
            records: vec![rec(F::Latency, "a", "i1", 100), rec(F::Expire, "a", "", 100)],
            violations: vec![],
            offset_ms: 0,
            want: (0, 0, vec![], vec![]),
        },
        Case {
            name: "latency faults explain no violation",
            records: vec![rec(F::Latency, "a", "i1", 100)],
            violations: vec![vio(V::Missing, "a", "i1", 300)],
            offset_ms: 0,
            want: (0, 0, vec![], vec![0]),
        },
    ];
    for c in cases {
        let j = join(&c.records, &c.violations, c.offset_ms);
        let got = (j.found, j.explained, j.missed.clone(), j.unexplained.clone());
        assert_eq!(got, c.want, "{}", c.name);
        assert_eq!(j.violations, c.violations.len() as u64, "{}", c.name);
    }
}

#[test]
fn recall_and_precision_per_kind() {
    let records = vec![
        rec(F::Drop, "a", "i1", 10),
        rec(F::Drop, "a", "i2", 10),
        rec(F::Swap, "b", "i3", 10),
        rec(F::Latency, "b", "i3", 10),
    ];
    // One drop found; the swap found; one stray `not-delivered` nobody explains (a drop could
    // have produced it, a swap could not).
    let violations = vec![
        vio(V::Missing, "a", "i1", 50),
        vio(V::OutOfOrder, "b", "i3", 50),
        vio(V::NotDelivered, "c", "i9", 50),
    ];
    let j = join(&records, &violations, 0);
    let drop = j.kinds[&F::Drop];
    assert_eq!(
        drop,
        KindJoin { records: 2, unobservable: 0, found: 1, explained: 1, unexplained: 1 }
    );
    assert_eq!(drop.recall(F::Drop), Some(0.5));
    assert_eq!(drop.precision(), Some(0.5));
    let swap = j.kinds[&F::Swap];
    assert_eq!((swap.recall(F::Swap), swap.precision()), (Some(1.0), Some(1.0)));
    let latency = j.kinds[&F::Latency];
    assert_eq!((latency.records, latency.recall(F::Latency)), (1, None), "no recall for latency");
    assert_eq!(j.ordering_records, 3);
    assert_eq!(j.recall(), Some(2.0 / 3.0));
    assert_eq!(j.precision(), Some(2.0 / 3.0));
    assert_eq!(j.missed, vec![1]);
    // Nothing to join: no figures rather than a made-up 1 or 0.
    let empty = join(&[], &[], 0);
    assert_eq!((empty.recall(), empty.precision()), (None, None));
}

#[test]
fn a_delay_nothing_overtook_is_unobservable_and_not_in_the_recall() {
    let overtaken = |o: Option<bool>| LedgerRecord { overtaken: o, ..rec(F::Delay, "a", "i1", 10) };
    let records = vec![overtaken(Some(true)), overtaken(Some(false)), overtaken(None)];
    let violations = vec![vio(V::OutOfOrder, "a", "i1", 50)];
    let j = join(&records, &violations, 0);
    let delay = j.kinds[&F::Delay];
    assert_eq!((delay.records, delay.unobservable, delay.found), (3, 2, 1));
    assert_eq!(delay.recall(F::Delay), Some(1.0), "only the overtaken delay could be seen");
    assert_eq!((j.ordering_records, j.missed.len()), (1, 0));
}

#[test]
fn a_delay_still_on_its_timer_explains_the_missing_it_causes_but_finds_nothing() {
    // The run ended while the notification was delayed: its record (`overtaken` unknown) is not
    // in the recall, but the checker's end-of-run `missing` is the delay's doing, not unexplained.
    let pending = rec(F::Delay, "a", "i1", 10);
    let violations = vec![vio(V::Missing, "a", "i1", 50), vio(V::Missing, "b", "i1", 50)];
    let j = join(&[pending], &violations, 0);
    let delay = j.kinds[&F::Delay];
    assert_eq!((delay.records, delay.unobservable, delay.found), (1, 1, 0));
    assert_eq!(delay.explained, 1, "the same agent and interaction only");
    assert_eq!(j.unexplained, vec![1]);
    assert_eq!(delay.recall(F::Delay), None);
}

#[test]
fn a_leak_joins_on_the_customers_chat_id() {
    // The record names the agent-side interaction and the chat; the customer's violation
    // names the chat.
    let leak =
        LedgerRecord { chat: Some("chat-9".into()), ..rec(F::Leak, "consultant-1", "ix-9", 10) };
    let j = join(&[leak], &[vio(V::VisibilityLeak, "customer-1", "chat-9", 50)], 0);
    assert_eq!((j.found, j.recall(), j.precision()), (1, Some(1.0), Some(1.0)));
}

/// A drop of notification `ordinal` (`what`) of agent `agent`'s part in `ixn`, whose customer
/// chat is `chat`.
fn dropped(
    agent: &str,
    ixn: &str,
    chat: &str,
    ordinal: u32,
    what: &str,
    at_ms: u64,
) -> LedgerRecord {
    LedgerRecord {
        chat: Some(chat.into()),
        ordinal: Some(ordinal),
        notification: Some(what.into()),
        ..rec(F::Drop, agent, ixn, at_ms)
    }
}

#[test]
fn a_dropped_invitation_is_found_by_the_unexpected_revoked_that_follows_it() {
    // The invitation lapsed and its Revoked reached the agent, who had never been invited.
    let records = vec![dropped("x1", "i1", "c1", 0, "StatusChange(Invited)", 10)];
    let j = join(&records, &[vio(V::Unexpected, "x1", "i1", 2_050)], 0);
    assert_eq!((j.found, j.recall(), j.precision()), (1, Some(1.0), Some(1.0)));
}

#[test]
fn a_chat_never_offered_finds_every_dropped_invitation_of_it() {
    // Invited to x1 (dropped), its Revoked dropped too (x1 knew nothing: unseen), offered again
    // to x2 (dropped); another chat's invitation is not this customer's.
    let records = vec![
        dropped("x1", "i1", "c1", 0, "StatusChange(Invited)", 10),
        dropped("x1", "i1", "c1", 1, "StatusChange(Revoked)", 2_010),
        dropped("x2", "i1", "c1", 0, "StatusChange(Invited)", 2_010),
        dropped("x3", "i2", "c2", 0, "StatusChange(Invited)", 20),
        // Sent after the violation: not explained by it.
        dropped("x3", "i1", "c1", 0, "StatusChange(Invited)", 9_000),
    ];
    let j = join(&records, &[vio(V::NeverOffered, "cust-1", "c1", 5_000)], 0);
    let drop = j.kinds[&F::Drop];
    assert_eq!((drop.records, drop.unobservable, drop.found, drop.explained), (5, 1, 2, 1));
    assert_eq!(j.missed, vec![3, 4]);
    assert_eq!(j.precision(), Some(1.0));

    // Without a dropped invitation of its chat, a never-offered is unexplained.
    let j = join(&records[3..4], &[vio(V::NeverOffered, "cust-1", "c1", 5_000)], 0);
    assert_eq!((j.found, j.unexplained.clone(), j.precision()), (0, vec![0], Some(0.0)));
}

#[test]
fn a_drop_after_a_delivered_notification_stays_observable() {
    // The invitation arrived (ordinal 0 not dropped); its later drops break what the agent
    // knows, so each is in the recall.
    let records = vec![
        dropped("x1", "i1", "c1", 1, "MessageLogUpdated[Text#3]", 10),
        dropped("x1", "i1", "c1", 0, "StatusChange(Invited)", 20),
        dropped("x1", "i1", "c1", 2, "StatusChange(Revoked)", 30),
    ];
    let j = join(&records, &[], 0);
    assert_eq!(j.kinds[&F::Drop].unobservable, 0, "ordinal 2 does not follow ordinal 0 unbroken");
}

#[test]
fn a_violation_moves_to_another_record_so_a_later_one_finds_its_only_fault() {
    // The out-of-order comes first and the delay is the earliest record that explains it; the
    // index regression that follows can come only from the delay (a swap never regresses an
    // index). Taking the earliest free record alone would leave the swap missed; the matching
    // moves the out-of-order to the swap and both faults are found.
    let delay = LedgerRecord { overtaken: Some(true), ..rec(F::Delay, "a", "i1", 10) };
    let records = vec![delay, rec(F::Swap, "a", "i1", 20)];
    let violations =
        vec![vio(V::OutOfOrder, "a", "i1", 30), vio(V::IndexRegression, "a", "i1", 40)];
    let j = join(&records, &violations, 0);
    assert_eq!((j.found, j.explained, j.missed.len()), (2, 2, 0), "{j:?}");
    assert_eq!((j.kinds[&F::Delay].found, j.kinds[&F::Swap].found), (1, 1));
    assert!(j.unexplained.is_empty());
}
