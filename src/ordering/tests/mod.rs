//! Tests of the ordering checker: the seed pages' sequences, mutated copies of them, and a
//! property test against a simple model. This file holds the builders they share.

mod events;
mod memory;
mod model;
mod mutations;
mod seeds;
mod settles;

use super::{AgentChecker, Party, Profile, Violation, ViolationKind};
use crate::gws::model::{
    EntryType, InteractionResource, LogEntry, Media, MessageLog, Notification, NotificationType,
    Participant, ParticipantType, StateChange, Visibility,
};
use crate::gws::states::{Capability, InteractionState, Situation, capabilities};

fn agent(nickname: &str, participant_id: &str, user_id: &str, vis: Visibility) -> Participant {
    Participant {
        participant_id: participant_id.into(),
        id: Some(participant_id.into()),
        kind: ParticipantType::Agent,
        nickname: nickname.into(),
        visibility: Some(vis),
        uri: Some(format!("http://gws:8090/api/v2/users/{user_id}")),
        path: Some(format!("/users/{user_id}")),
    }
}

fn customer(nickname: &str, participant_id: &str) -> Participant {
    Participant {
        participant_id: participant_id.into(),
        id: Some(participant_id.into()),
        kind: ParticipantType::Customer,
        nickname: nickname.into(),
        visibility: Some(Visibility::All),
        uri: None,
        path: None,
    }
}

/// A state-change notification with a full resource.
fn sc(
    media: Media,
    id: &str,
    kind: NotificationType,
    state: InteractionState,
    caps: Vec<Capability>,
    participants: &[&Participant],
    reference_id: Option<u64>,
) -> Notification {
    let resource = InteractionResource {
        id: id.into(),
        uri: format!("http://gws:8090/api/v2/{}/{id}", media.path_segment()),
        state,
        capabilities: caps,
        participants: participants.iter().map(|p| (*p).clone()).collect(),
        user_data: crate::gws::model::UserData::empty(),
        facebooksession_type: None,
        received_date: None,
        suggested_queue_uris: None,
        relevant_response_template_groups: None,
        comment: None,
    };
    let (chat, facebooksession) = match media {
        Media::Chat => (Some(resource), None),
        Media::Facebook => (None, Some(resource)),
    };
    Notification::state_change(
        media,
        StateChange {
            notification_type: kind,
            reference_id,
            chat,
            facebooksession,
            error_message: None,
        },
    )
}

fn status(
    media: Media,
    id: &str,
    state: InteractionState,
    caps: Vec<Capability>,
    participants: &[&Participant],
) -> Notification {
    sc(media, id, NotificationType::StatusChange, state, caps, participants, None)
}

fn participants_updated(
    media: Media,
    id: &str,
    state: InteractionState,
    caps: Vec<Capability>,
    participants: &[&Participant],
) -> Notification {
    sc(media, id, NotificationType::ParticipantsUpdated, state, caps, participants, None)
}

fn entry(
    index: u64,
    kind: EntryType,
    from: &Participant,
    vis: Visibility,
    text: Option<&str>,
) -> LogEntry {
    LogEntry {
        index,
        kind,
        from: from.clone(),
        text: text.map(Into::into),
        url: None,
        notice_text: None,
        message_type: None,
        visibility: Some(vis),
        timestamp: "2015-10-21 16:13:19.000+0300".to_owned(),
        timestamp_seconds: 1_445_433_199_000 + index as i64,
    }
}

/// A MessageLogUpdated with both the URI and the path, as the FB seeds and §15 have them.
fn ml(media: Media, id: &str, messages: Vec<LogEntry>) -> Notification {
    let uri = Some(format!("http://gws:8090/api/v2/{}/{id}", media.path_segment()));
    let path = Some(format!("/{}/{id}", media.path_segment()));
    let (chat_uri, chat_path, facebooksession_uri, facebooksession_path) = match media {
        Media::Chat => (uri, path, None, None),
        Media::Facebook => (None, None, uri, path),
    };
    Notification::MessageLogUpdated(MessageLog {
        notification_type: NotificationType::NewMessages,
        messages,
        chat_uri,
        chat_path,
        facebooksession_uri,
        facebooksession_path,
    })
}

fn owner_caps(media: Media, others: bool) -> Vec<Capability> {
    capabilities(media, Situation::Owner { others, pending_consult: false })
}

fn left_caps(media: Media) -> Vec<Capability> {
    capabilities(media, Situation::LeftChat)
}

/// One thing that happens to an agent: an operation it starts, or a notification it receives.
#[derive(Debug, Clone)]
enum Event {
    Op {
        id: String,
        op: Capability,
        target: Option<Party>,
    },
    Note(Box<Notification>),
    /// The caller's clock jumps forward (and it polls timeouts).
    Wait(u64),
}

fn op(id: &str, op: Capability) -> Event {
    Event::Op { id: id.to_owned(), op, target: None }
}

/// Feeds events to a fresh checker, 10 ms apart, and returns every violation including those of
/// `finish`. Each notification goes in as the engine gives it: with the JSON it came as.
fn run(name: &str, media: Media, profile: Profile, events: &[Event]) -> Vec<Violation> {
    let mut checker = AgentChecker::new(name, media, profile).with_timeout_ms(5_000);
    let mut now = 0;
    let mut out = Vec::new();
    for e in events {
        now += 10;
        match e {
            Event::Op { id, op, target } => {
                checker.operation_started(now, id, *op, target.clone(), ())
            }
            Event::Note(n) => {
                let raw = serde_json::to_string(n).expect("serializes");
                out.extend(checker.observe_raw(now, n, raw).violations)
            }
            Event::Wait(ms) => {
                now += ms;
                out.extend(checker.poll_timeouts(now));
            }
        }
        out.extend(checker.poll_timeouts(now));
    }
    now += 10;
    out.extend(checker.finish(now));
    assert_eq!(checker.live_interactions(), 0, "finish forgets everything");
    out
}

fn kinds(violations: &[Violation]) -> Vec<ViolationKind> {
    violations.iter().map(|v| v.kind).collect()
}

#[track_caller]
fn assert_clean(violations: &[Violation]) {
    let text: Vec<String> = violations.iter().map(|v| v.to_string()).collect();
    assert!(violations.is_empty(), "unexpected violations:\n{}", text.join("\n"));
}

#[track_caller]
fn assert_kinds(violations: &[Violation], want: &[ViolationKind]) {
    let text: Vec<String> = violations.iter().map(|v| v.to_string()).collect();
    assert_eq!(kinds(violations), want, "violations:\n{}", text.join("\n"));
}

/// An operation sent as its interaction ended: refused by the server (a 404 that raced the
/// end), it owes nothing; not refused, its step is missing, reported once its timeout passes.
#[test]
fn an_operation_racing_the_end_is_missing_only_if_not_refused() {
    let media = Media::Chat;
    let ann = agent("Ann", "00A", "a1", Visibility::All);
    let chris = customer("Chris", "00C");
    let sequence = |refused: bool| {
        let mut checker = AgentChecker::new("Ann", media, Profile::Strict).with_timeout_ms(1_000);
        let mut early = Vec::new();
        early.extend(
            checker
                .observe(1, &status(media, "x", InteractionState::Invited, vec![], &[&chris]))
                .violations,
        );
        checker.operation_started(2, "x", Capability::Accept, None, ());
        early.extend(
            checker
                .observe(3, &status(media, "x", InteractionState::Chatting, vec![], &[]))
                .violations,
        );
        let pu =
            participants_updated(media, "x", InteractionState::Chatting, vec![], &[&chris, &ann]);
        early.extend(checker.observe(4, &pu).violations);
        let joined = entry(1, EntryType::ParticipantJoined, &ann, Visibility::All, None);
        early.extend(checker.observe(5, &ml(media, "x", vec![joined])).violations);
        checker.operation_started(6, "x", Capability::Complete, None, ());
        // SetDisposition leaves before the Completed is seen...
        checker.operation_started(7, "x", Capability::SetDisposition, None, ());
        early.extend(
            checker
                .observe(8, &status(media, "x", InteractionState::Completed, vec![], &[&chris]))
                .violations,
        );
        // ...and its refusal comes back after it.
        if refused {
            checker.operation_failed("x", Capability::SetDisposition);
        }
        early.extend(checker.poll_timeouts(500));
        let late = checker.poll_timeouts(2_000);
        (early, late)
    };
    let (early, late) = sequence(true);
    assert_clean(&early);
    assert_clean(&late);
    let (early, late) = sequence(false);
    assert_clean(&early);
    assert_kinds(&late, &[ViolationKind::Missing]);
}

/// Leave sent right after removing the last other agent, before that removal's
/// ParticipantsUpdated reached the remover: the outcome is judged when the StatusChange arrives
/// (LeftChat: the agent was alone by then), not from the roster known when Leave was sent.
#[test]
fn leave_right_after_a_removal_is_judged_on_arrival() {
    let media = Media::Chat;
    let ann = agent("Ann", "00A", "a1", Visibility::All);
    let bob = agent("Bob", "00B", "b1", Visibility::Agents);
    let chris = customer("Chris", "00C");
    let target = Party::nickname("Bob").with_user_id("b1");
    for (state, clean) in [(InteractionState::LeftChat, true), (InteractionState::Completed, false)]
    {
        let rest = [
            op("x", Capability::Consult),
            Event::Note(Box::new(participants_updated(
                media,
                "x",
                InteractionState::Chatting,
                vec![],
                &[&chris, &ann, &bob],
            ))),
            Event::Note(Box::new(ml(
                media,
                "x",
                vec![entry(2, EntryType::ParticipantJoined, &bob, Visibility::Agents, None)],
            ))),
            Event::Op {
                id: "x".into(),
                op: Capability::RemoveParticipantFromConference,
                target: Some(target.clone()),
            },
            // Leave leaves before the removal's notifications have arrived.
            op("x", Capability::Leave),
            Event::Note(Box::new(ml(
                media,
                "x",
                vec![entry(
                    3,
                    EntryType::Notice,
                    &ann,
                    Visibility::Agents,
                    Some("REMOVE_PARTICIPANT_FROM_CONFERENCEb1"),
                )],
            ))),
            Event::Note(Box::new(participants_updated(
                media,
                "x",
                InteractionState::Chatting,
                vec![],
                &[&chris, &ann],
            ))),
            Event::Note(Box::new(ml(
                media,
                "x",
                vec![entry(4, EntryType::ParticipantLeft, &bob, Visibility::Agents, None)],
            ))),
            Event::Note(Box::new(status(media, "x", state, vec![], &[&chris]))),
        ];
        let events = [accepted(media, &chris, &ann), rest.to_vec()].concat();
        let found = run("Ann", media, Profile::Strict, &events);
        if clean {
            assert_clean(&found);
        } else {
            assert!(!found.is_empty(), "Completed for an agent left alone must be reported");
        }
    }
}

/// A chat that comes to Ann with a consultant (Dave) still in it: her Accept's
/// ParticipantsUpdated lists Dave, but does not add him, so it is not her own consult's first
/// step; that step, arriving after Bob's ParticipantJoined, is out of order (it was once taken
/// silently, the Accept's roster having stood in for it).
#[test]
fn a_consultant_already_listed_is_not_the_one_a_consult_adds() {
    let media = Media::Chat;
    let ann = agent("Ann", "00A", "a1", Visibility::All);
    let bob = agent("Bob", "00B", "b1", Visibility::Agents);
    let dave = agent("Dave", "00D", "d1", Visibility::Agents);
    let chris = customer("Chris", "00C");
    let pu = |roster: &[&Participant]| {
        Event::Note(Box::new(participants_updated(
            media,
            "x",
            InteractionState::Chatting,
            vec![],
            roster,
        )))
    };
    let joined = |index: u64, who: &Participant, vis: Visibility| {
        Event::Note(Box::new(ml(
            media,
            "x",
            vec![entry(index, EntryType::ParticipantJoined, who, vis, None)],
        )))
    };
    let events = [
        Event::Note(Box::new(status(
            media,
            "x",
            InteractionState::Invited,
            vec![],
            &[&chris, &dave],
        ))),
        op("x", Capability::Accept),
        Event::Note(Box::new(status(media, "x", InteractionState::Chatting, vec![], &[]))),
        op("x", Capability::Consult),
        pu(&[&chris, &ann, &dave]),
        joined(3, &ann, Visibility::All),
        joined(4, &bob, Visibility::Agents),
        pu(&[&chris, &ann, &dave, &bob]),
    ];
    let found = run("Ann", media, Profile::Strict, &events);
    assert_kinds(&found, &[ViolationKind::OutOfOrder]);
    assert!(found[0].expected.starts_with("Consult step 1/2"), "{}", found[0].expected);
}

/// §6.11 for an agent already in the chat when another joins (Bob, a consultant, when Eve
/// accepts the chat): the ParticipantsUpdated adding Eve comes before her ParticipantJoined.
#[test]
fn an_agent_in_the_chat_is_told_of_a_joiner_before_its_participant_joined() {
    let media = Media::Chat;
    let bob = agent("Bob", "00B", "b1", Visibility::Agents);
    let eve = agent("Eve", "00E", "e1", Visibility::All);
    let chris = customer("Chris", "00C");
    let start = accepted(media, &chris, &bob);
    let added = Event::Note(Box::new(participants_updated(
        media,
        "x",
        InteractionState::Chatting,
        vec![],
        &[&chris, &bob, &eve],
    )));
    let joined = Event::Note(Box::new(ml(
        media,
        "x",
        vec![entry(2, EntryType::ParticipantJoined, &eve, Visibility::All, None)],
    )));
    let in_order = [&start[..], &[added.clone(), joined.clone()]].concat();
    assert_clean(&run("Bob", media, Profile::Strict, &in_order));
    let swapped = [&start[..], &[joined, added]].concat();
    let found = run("Bob", media, Profile::Strict, &swapped);
    assert_kinds(&found, &[ViolationKind::OutOfOrder]);
    assert!(
        found[0].expected.starts_with("another agent joined (Eve) step 1/2"),
        "{}",
        found[0].expected
    );
}

/// §6.11 for an agent that stays while two others leave one after the other (Bob, a consultant:
/// Eve is removed, then Ann, the owner, completes). Each ParticipantsUpdated removing an agent
/// comes before that agent's ParticipantLeft: the leave of one agent cannot stand in for the
/// other's. Here Eve's ParticipantLeft is late and Ann's arrives before the roster without Ann:
/// one swap, found once.
#[test]
fn each_agent_that_leaves_is_owed_its_own_roster_before_its_participant_left() {
    let media = Media::Facebook;
    let bob = agent("Bob", "00B", "b1", Visibility::Agents);
    let ann = agent("Ann", "00A", "a1", Visibility::All);
    let eve = agent("Eve", "00E", "e1", Visibility::Agents);
    let chris = customer("Chris", "00C");
    let start = accepted(media, &chris, &bob);
    let note = |n: Notification| Event::Note(Box::new(n));
    let roster = |people: &[&Participant]| {
        note(participants_updated(media, "x", InteractionState::Chatting, vec![], people))
    };
    let left = |index, who: &Participant| {
        let vis = who.visibility.unwrap_or(Visibility::All);
        note(ml(media, "x", vec![entry(index, EntryType::ParticipantLeft, who, vis, None)]))
    };
    let joined = |index, who: &Participant| {
        let vis = who.visibility.unwrap_or(Visibility::All);
        note(ml(media, "x", vec![entry(index, EntryType::ParticipantJoined, who, vis, None)]))
    };
    let joins = [
        roster(&[&chris, &ann, &bob]),
        joined(2, &ann),
        roster(&[&chris, &ann, &bob, &eve]),
        joined(3, &eve),
    ];
    let without_eve = roster(&[&chris, &ann, &bob]);
    let without_ann = roster(&[&chris, &bob]);
    let tail = |events: &[Event]| [&start[..], &joins[..], events].concat();

    let in_order = tail(&[without_eve.clone(), left(4, &eve), without_ann.clone(), left(5, &ann)]);
    assert_clean(&run("Bob", media, Profile::Strict, &in_order));

    let swapped = tail(&[without_eve, left(4, &ann), without_ann, left(5, &eve)]);
    let found = run("Bob", media, Profile::Strict, &swapped);
    assert_kinds(&found, &[ViolationKind::OutOfOrder]);
    let v = &found[0];
    assert!(v.expected.starts_with("another agent left"), "{v}");
    assert!(v.expected.contains("Ann"), "names whose roster came late: {v}");
}

/// A value's fingerprint is that of its serialization's bytes, whatever its length, and values
/// that differ in one byte have different fingerprints.
#[test]
fn fingerprints_equal_hashing_the_whole_serialization() {
    let mut seen = std::collections::HashSet::new();
    for len in [0usize, 10, 500, 511, 512, 513, 1_000, 5_000] {
        let value = serde_json::json!({ "text": "x".repeat(len), "n": [1, 2, 3], "k": "é\"\\" });
        let text = serde_json::to_string(&value).expect("serializes");
        let hash = super::raw_fingerprint(&text);
        assert_eq!(super::fingerprint(&value), Some(hash), "length {len}");
        assert!(seen.insert(hash), "length {len}");
        let other = serde_json::json!({ "text": "x".repeat(len), "n": [1, 2, 4], "k": "é\"\\" });
        assert!(seen.insert(super::fingerprint(&other).expect("serializes")), "length {len}");
    }
}

/// A repeat is recognised by its bytes as they arrived: byte-identical is a duplicate, and the
/// same kind of notification with other content (another roster) is not. The violation's
/// context is rendered from the bytes kept.
#[test]
fn repeats_are_judged_on_the_bytes_that_arrived() {
    let media = Media::Chat;
    let cust = customer("Cust", "c1");
    let me = agent("Bob", "p1", "u1", Visibility::All);
    let other = agent("Ann", "p2", "u2", Visibility::All);
    let invited = status(media, "x", InteractionState::Invited, vec![], &[&cust]);
    let chatting = InteractionState::Chatting;
    let with_bob = participants_updated(media, "x", chatting, vec![], &[&cust, &me]);
    let with_ann = participants_updated(media, "x", chatting, vec![], &[&cust, &me, &other]);
    let mut checker: AgentChecker = AgentChecker::new("Bob", media, Profile::Documented);
    let feed = |c: &mut AgentChecker, now: u64, n: &Notification| {
        let raw = serde_json::to_string(n).expect("serializes");
        c.observe_raw(now, n, raw).violations
    };
    let mut found = feed(&mut checker, 10, &invited);
    found.extend(feed(&mut checker, 20, &with_bob));
    found.extend(feed(&mut checker, 30, &with_ann));
    assert_clean(&found);
    found.extend(feed(&mut checker, 40, &with_ann));
    assert_kinds(&found, &[ViolationKind::Duplicate]);
    let v = &found[0];
    assert!(v.got.contains("Ann"), "rendered on demand: {v}");
    assert!(v.context.iter().any(|c| c.contains("StatusChange")), "context from bytes: {v}");
}

/// The notifications of `me` accepting chat `x` of `customer`, up to its ParticipantJoined
/// (index 1), with the Accept between the invitation and the state change.
fn accepted(media: Media, customer: &Participant, me: &Participant) -> Vec<Event> {
    let visibility = me.visibility.unwrap_or(Visibility::All);
    vec![
        Event::Note(Box::new(status(media, "x", InteractionState::Invited, vec![], &[customer]))),
        op("x", Capability::Accept),
        Event::Note(Box::new(status(media, "x", InteractionState::Chatting, vec![], &[]))),
        Event::Note(Box::new(participants_updated(
            media,
            "x",
            InteractionState::Chatting,
            vec![],
            &[customer, me],
        ))),
        Event::Note(Box::new(ml(
            media,
            "x",
            vec![entry(1, EntryType::ParticipantJoined, me, visibility, None)],
        ))),
    ]
}
