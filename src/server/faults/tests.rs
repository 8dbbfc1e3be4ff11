//! Unit tests of the seeded injector on synthetic batches: the same plan and seed make the same
//! decisions however concurrent interactions interleave, and `NoFaults` leaves batches alone.

use super::*;
use crate::faults::parse_plan;
use crate::gws::{
    EntryType, MessageLog, Notification, NotificationType, Participant, ParticipantType,
};
use crate::server::state::Topic;
use crate::server::users::{Password, UserTable};

fn directory() -> Directory {
    UserTable::demo(2, Password::new("pw")).expect("users").directory
}

/// A MessageLogUpdated about `ixn` carrying entry `index`, for user 0.
fn message(ixn: &str, index: u64) -> Delivery {
    let entry = LogEntry {
        index,
        kind: EntryType::Text,
        from: Participant {
            participant_id: "p".into(),
            id: None,
            kind: ParticipantType::Customer,
            nickname: "Chris".into(),
            visibility: None,
            uri: None,
            path: None,
        },
        text: Some("hi".into()),
        url: None,
        notice_text: None,
        message_type: None,
        visibility: None,
        timestamp: String::new(),
        timestamp_seconds: 0,
    };
    Delivery {
        user: UserIdx::new(0),
        topic: Topic::Interaction(Media::Chat),
        notification: Notification::MessageLogUpdated(MessageLog {
            notification_type: NotificationType::NewMessages,
            messages: vec![entry],
            chat_uri: None,
            chat_path: Some(format!("/chats/{ixn}")),
            facebooksession_uri: None,
            facebooksession_path: None,
        }),
    }
}

fn injector(plan: &str) -> SeededFaults {
    let f = SeededFaults::new(parse_plan("p", plan).expect("plan"), None).expect("injector");
    f.attach(&directory());
    f
}

/// Publishes one single-message batch per (interaction, index) in `order`; returns which
/// (interaction, index) the injector dropped.
fn dropped(f: &SeededFaults, order: &[(&str, u64)]) -> Vec<(String, u64)> {
    let dir = directory();
    let mut out = Vec::new();
    for (ixn, index) in order {
        let mut batch = vec![message(ixn, *index)];
        let mut later = Vec::new();
        let info = BatchInfo {
            cause: Cause::Customer("SendMessage"),
            directory: &dir,
            chat_of: &|_| None,
        };
        f.on_batch(&info, &mut batch, &mut later);
        if batch.is_empty() {
            out.push((ixn.to_string(), *index));
        }
    }
    out.sort();
    out
}

#[test]
fn decisions_do_not_depend_on_how_interactions_interleave() {
    let plan = "seed = 11\n[[rule]]\nkind = \"drop\"\nrate = 0.5\n";
    let a: Vec<(&str, u64)> = (1..=20).map(|i| ("A", i)).collect();
    let b: Vec<(&str, u64)> = (1..=20).map(|i| ("B", i)).collect();
    let one_then_other: Vec<_> = a.iter().chain(b.iter()).copied().collect();
    let interleaved: Vec<_> = a.iter().zip(b.iter()).flat_map(|(x, y)| [*x, *y]).collect();
    let first = dropped(&injector(plan), &one_then_other);
    let second = dropped(&injector(plan), &interleaved);
    assert_eq!(first, second);
    assert!(!first.is_empty() && first.len() < 40, "about half are dropped: {first:?}");
    let other_seed = dropped(&injector(&plan.replace("11", "12")), &one_then_other);
    assert_ne!(first, other_seed);
    let f = injector(plan);
    dropped(&f, &interleaved);
    assert_eq!(f.ledger().records.len(), first.len(), "one record per drop");
}

#[test]
fn no_faults_and_rate_zero_leave_batches_alone() {
    let dir = directory();
    let batch = vec![message("A", 1), message("A", 2), message("B", 1)];
    for injector in [
        Box::new(NoFaults) as Box<dyn FaultInjector>,
        Box::new(injector(
            "[[rule]]\nkind = \"drop\"\nrate = 0\n[[rule]]\nkind = \"swap\"\nrate = 0\n",
        )),
    ] {
        let mut out = batch.clone();
        let mut later = Vec::new();
        injector.on_batch(
            &BatchInfo { cause: Cause::Routing, directory: &dir, chat_of: &|_| None },
            &mut out,
            &mut later,
        );
        assert_eq!(out, batch);
        assert!(later.is_empty());
        assert_eq!(
            injector.on_request(&RequestInfo {
                method: "POST",
                path: "/api/v2/me",
                operation: Some("Ready"),
                user: Some(UserIdx::new(0)),
                customer: None,
                interaction: None,
                media: None,
            }),
            RequestFault::PROCEED
        );
        assert_eq!(injector.hooks(), Hooks::default());
        assert_eq!(injector.ledger_after(0).unwrap_or_default().total, 0);
    }
}

#[test]
fn delayed_deliveries_go_to_the_timer_with_a_seeded_duration() {
    let f = injector("[[rule]]\nkind = \"delay\"\ndelay = \"10ms..1s\"\nrate = 1\n");
    let g = injector("[[rule]]\nkind = \"delay\"\ndelay = \"10ms..1s\"\nrate = 1\n");
    let dir = directory();
    let run = |f: &SeededFaults| {
        let mut out = vec![message("A", 1)];
        let mut later = Vec::new();
        f.on_batch(
            &BatchInfo { cause: Cause::Routing, directory: &dir, chat_of: &|_| None },
            &mut out,
            &mut later,
        );
        assert!(out.is_empty());
        later.iter().map(|d| d.after).collect::<Vec<_>>()
    };
    let (a, b) = (run(&f), run(&g));
    assert_eq!(a.len(), 1);
    assert_eq!(a, b, "the same event is delayed by the same time");
}

#[test]
fn a_delay_on_its_timer_is_in_the_ledger_a_run_joins_until_its_own_record_replaces_it() {
    let f = injector("[[rule]]\nkind = \"delay\"\ndelay = \"1s\"\nrate = 1\n");
    let dir = directory();
    let mut out = vec![message("A", 1)];
    let mut later = Vec::new();
    let info = BatchInfo { cause: Cause::Routing, directory: &dir, chat_of: &|_| None };
    f.on_batch(&info, &mut out, &mut later);
    assert_eq!(f.ledger().total, 0, "recorded when carried out");
    let joined = f.ledger_with_pending().expect("a ledger");
    assert_eq!((joined.total, joined.records.len()), (1, 1));
    let pending = &joined.records[0];
    assert_eq!(
        (pending.kind, pending.seq, pending.overtaken),
        (crate::faults::FaultKind::Delay, 0, None)
    );
    assert!(pending.detail.ends_with("still on its timer when the ledger was read"));
    let record = later.pop().and_then(|d| d.record).expect("a pending record");
    f.delay_done(record, Some(super::overtake::Overtaken::Unpromised));
    let joined = f.ledger_with_pending().expect("a ledger");
    assert_eq!(joined.records.len(), 1, "no longer pending");
    assert_eq!((joined.records[0].seq, joined.records[0].overtaken), (1, Some(false)));
    assert!(joined.records[0].detail.contains("does not order"), "{}", joined.records[0].detail);
}

#[test]
fn each_index_regression_repeats_what_the_agent_last_saw() {
    // At rate 1 every log update after the first goes back: 1, 2, 3, 4 are sent as 1, 1, 1, 1,
    // so the agent sees a regression in every one of them (not only in the first, which a
    // repeat of the previous *true* index would give: 1, 1, 2, 3).
    let f = injector("[[rule]]\nkind = \"index-regression\"\nrate = 1\n");
    let dir = directory();
    let mut sent = Vec::new();
    for index in 1..=4 {
        let mut batch = vec![message("A", index)];
        let info = BatchInfo {
            cause: Cause::Customer("SendMessage"),
            directory: &dir,
            chat_of: &|_| None,
        };
        f.on_batch(&info, &mut batch, &mut Vec::new());
        let Notification::MessageLogUpdated(ml) = &batch[0].notification else { panic!() };
        sent.push(ml.messages[0].index);
    }
    assert_eq!(sent, [1, 1, 1, 1]);
    assert_eq!(f.ledger().records.len(), 3, "one record per regression");
}

#[test]
fn a_regression_repeats_what_the_batch_before_it_sent_not_its_true_indices() {
    // A batch of two log updates (a removal's Notice and ParticipantLeft): the second must
    // repeat the index the first was *sent* with. Repeating the first's true index (a higher
    // one the agent never saw) would break no order the agent knows: not observable.
    let f = injector("[[rule]]\nkind = \"index-regression\"\nrate = 1\n");
    let dir = directory();
    let info =
        BatchInfo { cause: Cause::Customer("SendMessage"), directory: &dir, chat_of: &|_| None };
    let sent = |batch: &[Delivery]| -> Vec<u64> {
        let index = |d: &Delivery| match &d.notification {
            Notification::MessageLogUpdated(ml) => ml.messages[0].index,
            _ => panic!("a log update"),
        };
        batch.iter().map(index).collect()
    };
    let mut first = vec![message("A", 2)];
    f.on_batch(&info, &mut first, &mut Vec::new());
    assert_eq!(sent(&first), [2]);
    let mut both = vec![message("A", 9), message("A", 10)];
    f.on_batch(&info, &mut both, &mut Vec::new());
    assert_eq!(sent(&both), [2, 2], "each goes back to what the agent saw");
    let mut next = vec![message("A", 11)];
    f.on_batch(&info, &mut next, &mut Vec::new());
    assert_eq!(sent(&next), [2]);
    let records = f.ledger().records;
    assert_eq!(records.len(), 3);
    assert!(records[1].detail.contains("index 10 sent as 2"), "{}", records[1].detail);
}

/// A StatusChange(Invited) about chat `ixn`, for user 0.
fn invited(ixn: &str) -> Delivery {
    use crate::gws::{InteractionResource, InteractionState, StateChange};
    let resource = InteractionResource {
        id: ixn.into(),
        uri: format!("http://gws/api/v2/chats/{ixn}"),
        state: InteractionState::Invited,
        capabilities: Vec::new(),
        participants: Vec::new(),
        user_data: crate::gws::model::UserData::empty(),
        facebooksession_type: None,
        received_date: None,
        suggested_queue_uris: None,
        relevant_response_template_groups: None,
        comment: None,
    };
    let sc = StateChange {
        notification_type: NotificationType::StatusChange,
        reference_id: None,
        chat: Some(resource),
        facebooksession: None,
        error_message: None,
    };
    Delivery {
        user: UserIdx::new(0),
        topic: Topic::Interaction(Media::Chat),
        notification: Notification::state_change(Media::Chat, sc),
    }
}

#[test]
fn a_routing_rule_takes_the_invitations_routing_makes_in_any_batch_and_names_the_chat() {
    let f = injector("[[rule]]\nkind = \"drop\"\nrate = 1\noperations = [\"routing\"]\n");
    let dir = directory();
    let chat_of = |ixn: &str| Some(format!("chat-of-{ixn}"));
    // A chat offered as it is requested: the invitation goes, the customer's text stays.
    let mut out = vec![invited("A"), message("B", 1)];
    let cause = Cause::Customer("RequestChat");
    f.on_batch(&BatchInfo { cause, directory: &dir, chat_of: &chat_of }, &mut out, &mut Vec::new());
    assert_eq!(out, vec![message("B", 1)]);
    let records = f.ledger().records;
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].chat.as_deref(), Some("chat-of-A"), "the never-offered's key");
    assert_eq!(records[0].notification.as_deref(), Some("StatusChange(Invited)"));
    // A consult target's invitation is its operation's, not routing's.
    let mut out = vec![invited("C")];
    let cause = Cause::Operation { name: Capability::Consult, interaction: "C" };
    f.on_batch(&BatchInfo { cause, directory: &dir, chat_of: &chat_of }, &mut out, &mut Vec::new());
    assert_eq!(out, vec![invited("C")]);
    assert_eq!(f.ledger().records.len(), 1);
}
