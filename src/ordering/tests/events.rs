//! What a notification means to a flow ([`crate::ordering::events::classify`]), as an agent
//! sees it.

use super::*;
use crate::vocab::AwaitEvent;

/// The events as a plain vector, comparable with the arrays below.
fn classify(n: &Notification, me: &Party, removing: &mut bool) -> Vec<AwaitEvent> {
    crate::ordering::events::classify(n, me, removing).to_vec()
}

fn one(kind: EntryType, from: &Participant, vis: Visibility) -> Notification {
    ml(Media::Chat, "x", vec![entry(1, kind, from, vis, Some("t"))])
}

#[test]
fn consultant_join_and_messages_are_classified() {
    let ann = Party::nickname("Ann");
    let bob = agent("Bob", "00B", "b1", Visibility::Agents);
    let mut removing = false;
    let n = one(EntryType::ParticipantJoined, &bob, Visibility::Agents);
    assert_eq!(
        classify(&n, &ann, &mut removing),
        [AwaitEvent::ParticipantJoined, AwaitEvent::ConsultantJoined]
    );
    let me_bob = Party::nickname("Bob");
    assert!(classify(&n, &me_bob, &mut removing).is_empty(), "one's own join is not an event");
    let n = one(EntryType::Text, &bob, Visibility::Agents);
    assert_eq!(classify(&n, &ann, &mut removing), [AwaitEvent::AgentMessage]);
    let chris = customer("Chris", "00C");
    let n = one(EntryType::ParticipantLeft, &chris, Visibility::All);
    assert_eq!(
        classify(&n, &ann, &mut removing),
        [AwaitEvent::ParticipantLeft, AwaitEvent::CustomerLeft]
    );
}

/// An agent is recognised by its user id too, as the checker's own steps are: a flow whose
/// Accept used another nickname still knows its own entries.
#[test]
fn own_entries_are_recognised_by_user_id() {
    let me = Party::nickname("agent-7").with_user_id("b1");
    let bob = agent("Bob", "00B", "b1", Visibility::All);
    let mut removing = false;
    assert!(classify(&one(EntryType::Text, &bob, Visibility::All), &me, &mut removing).is_empty());
}

#[test]
fn the_history_before_the_own_join_is_not_events() {
    let ann = agent("Ann", "00A", "a1", Visibility::All);
    let chris = customer("Chris", "00C");
    let batch = ml(
        Media::Chat,
        "x",
        vec![
            entry(1, EntryType::Text, &chris, Visibility::All, Some("hi")),
            entry(2, EntryType::ParticipantJoined, &ann, Visibility::All, None),
            entry(3, EntryType::Text, &chris, Visibility::All, Some("still there?")),
        ],
    );
    let mut removing = false;
    assert_eq!(
        classify(&batch, &Party::nickname("Ann"), &mut removing),
        [AwaitEvent::CustomerMessage]
    );
}

#[test]
fn removal_is_participants_updated_left_chat_then_completed() {
    let me = Party::nickname("Bob");
    let completed = status(Media::Chat, "x", InteractionState::Completed, vec![], &[]);
    let left = participants_updated(Media::Chat, "x", InteractionState::LeftChat, vec![], &[]);
    let mut removing = false;
    assert_eq!(classify(&completed, &me, &mut removing), [AwaitEvent::Completed]);
    assert!(classify(&left, &me, &mut removing).is_empty());
    assert!(removing);
    assert_eq!(
        classify(&completed, &me, &mut removing),
        [AwaitEvent::Removed, AwaitEvent::Completed]
    );
}

/// The checker hands a flow the events of every notification about a live interaction, a
/// duplicate included (a flow sees what it receives), and none about one that ended.
#[test]
fn observe_returns_the_events() {
    let chris = customer("Chris", "00C");
    let mut c = AgentChecker::new("Ann", Media::Chat, Profile::Strict);
    let invited = status(Media::Chat, "x", InteractionState::Invited, vec![], &[&chris]);
    assert_eq!(c.observe(1, &invited).events.as_slice(), [AwaitEvent::Invited]);
    c.operation_started(2, "x", Capability::Reject, None, ());
    let done = status(Media::Chat, "x", InteractionState::Completed, vec![], &[&chris]);
    assert_eq!(c.observe(3, &done).events.as_slice(), [AwaitEvent::Completed]);
    let late = one(EntryType::Text, &chris, Visibility::All);
    let after = c.observe(4, &late);
    assert!(after.events.is_empty());
    assert_kinds(&after.violations, &[ViolationKind::Unexpected]);
}
