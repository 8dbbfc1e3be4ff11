//! The checker reports each operation's settle at the right notification: the last one the
//! actor is owed (design.md, "Metrics"), once, with the caller's token; a removal at the removed
//! agent's Completed; SetInFocus and CancelConsult never.

use super::*;
use crate::gws::model::EntryType as E;
use crate::gws::states::InteractionState as S;
use crate::ordering::rules::{self, Settle};
use crate::ordering::{Observed, Settled};
use crate::vocab::has_settle;

use Visibility::{Agents, All};

const ID: &str = "ix-1";
const MEDIA: Media = Media::Chat;
/// The token the test hands the checker for the operation under test.
const TOKEN: u32 = 7;

struct People {
    ann: Participant,
    bob: Participant,
    chris: Participant,
}

fn people(bob_vis: Visibility) -> People {
    People {
        ann: agent("Ann", "00A", "a1", All),
        bob: agent("Bob", "00B", "b1", bob_vis),
        chris: customer("Chris", "00C"),
    }
}

/// Ann's checker with an accepted chat whose participants are the customer, `others` and Ann.
/// Log indices 1..=3 are used.
fn chatting(p: &People, others: &[&Participant]) -> AgentChecker<u32> {
    let mut c: AgentChecker<u32> =
        AgentChecker::new("Ann", MEDIA, Profile::Strict).with_user_id("a1").with_timeout_ms(1_000);
    let mut list = vec![&p.chris];
    list.extend(others.iter().copied());
    list.push(&p.ann);
    let caps = owner_caps(MEDIA, !others.is_empty());
    let invited = status(MEDIA, ID, S::Invited, vec![], &[&p.chris]);
    assert!(c.observe(1, &invited).violations.is_empty());
    c.operation_started(2, ID, Capability::Accept, None, 0);
    for n in [
        status(MEDIA, ID, S::Chatting, caps.clone(), &list),
        participants_updated(MEDIA, ID, S::Chatting, caps, &list),
        ml(MEDIA, ID, vec![entry(3, E::ParticipantJoined, &p.ann, All, None)]),
    ] {
        assert!(c.observe(3, &n).violations.is_empty());
    }
    c
}

/// What happens after Ann starts `op`: the notifications she gets, and which one settles it.
struct Case {
    /// Others in the chat before the operation.
    others: Vec<Participant>,
    target: Option<Party>,
    notes: Vec<Notification>,
    settles_at: Option<usize>,
}

fn case(op: Capability) -> Case {
    use Capability as C;
    let p = people(All);
    let own = |kind: E, vis: Visibility| ml(MEDIA, ID, vec![entry(10, kind, &p.ann, vis, None)]);
    let alone = |notes: Vec<Notification>, at: Option<usize>| Case {
        others: vec![],
        target: None,
        notes,
        settles_at: at,
    };
    match op {
        // Accept is covered by `accept_settles_at_the_own_join`: it needs an invitation only.
        C::Accept => alone(vec![], None),
        C::Reject => alone(vec![status(MEDIA, ID, S::Completed, vec![], &[&p.chris])], Some(0)),
        C::Complete | C::Transfer => {
            alone(vec![status(MEDIA, ID, S::Completed, vec![], &[&p.chris])], Some(0))
        }
        C::Leave => alone(vec![status(MEDIA, ID, S::LeftChat, vec![], &[&p.chris])], Some(0)),
        C::Consult | C::Invite => {
            let vis = if op == C::Consult { Agents } else { All };
            let bob = agent("Bob", "00B", "b1", vis);
            let caps = owner_caps(MEDIA, true);
            let list = [&p.chris, &bob, &p.ann];
            Case {
                others: vec![],
                target: None,
                notes: vec![
                    participants_updated(MEDIA, ID, S::Chatting, caps, &list),
                    ml(MEDIA, ID, vec![entry(10, E::ParticipantJoined, &bob, vis, None)]),
                ],
                settles_at: Some(1),
            }
        }
        // Owed to the remover, but settled at the removed agent: see `removal_settles_...`.
        C::RemoveParticipantFromConference => {
            let text = format!("{}b1", rules::REMOVE_NOTICE_PREFIX);
            Case {
                others: vec![p.bob.clone()],
                target: Some(Party::nickname("Bob").with_user_id("b1")),
                notes: vec![
                    ml(MEDIA, ID, vec![entry(10, E::Notice, &p.ann, Agents, Some(&text))]),
                    participants_updated(
                        MEDIA,
                        ID,
                        S::Chatting,
                        owner_caps(MEDIA, false),
                        &[&p.chris, &p.ann],
                    ),
                    ml(MEDIA, ID, vec![entry(11, E::ParticipantLeft, &p.bob, All, None)]),
                ],
                settles_at: None,
            }
        }
        C::SendMessage => alone(vec![own(E::Text, All)], Some(0)),
        C::SendToAgents => alone(vec![own(E::Text, Agents)], Some(0)),
        C::SendUrl => alone(vec![own(E::PushUrl, All)], Some(0)),
        C::SendStartTypingNotification | C::SendStartTypingToAgentsNotification => {
            alone(vec![own(E::TypingStarted, All)], Some(0))
        }
        C::SendStopTypingNotification | C::SendStopTypingToAgentsNotification => {
            alone(vec![own(E::TypingStopped, All)], Some(0))
        }
        C::SendCustomNotice | C::SendCustomNoticeToAgents => {
            alone(vec![own(E::CustomNotice, All)], Some(0))
        }
        C::SetDisposition
        | C::AttachUserData
        | C::DeleteUserData
        | C::UpdateUserData
        | C::AddComment => {
            let caps = owner_caps(MEDIA, false);
            let list = [&p.chris, &p.ann];
            let props =
                sc(MEDIA, ID, NotificationType::PropertiesUpdated, S::Chatting, caps, &list, None);
            alone(vec![props], Some(0))
        }
        // Nothing follows them (protocol.md §5).
        C::SetInFocus | C::CancelConsult => alone(vec![], None),
    }
}

fn settled_ops(o: &Observed<u32>) -> Vec<(Capability, u32)> {
    o.settled
        .iter()
        .filter_map(|s| match *s {
            Settled::Operation { op, token } => Some((op, token)),
            Settled::Removal => None,
        })
        .collect()
}

#[test]
fn each_operation_settles_at_its_last_owed_notification() {
    for &op in Capability::ALL.iter().filter(|&&op| op != Capability::Accept) {
        let c = case(op);
        let others: Vec<&Participant> = c.others.iter().collect();
        let p = people(All);
        let mut checker = chatting(&p, &others);
        checker.operation_started(10, ID, op, c.target.clone(), TOKEN);
        assert_eq!(
            checker.settles_pending(ID),
            c.settles_at.is_some(),
            "{op}: pending before anything arrived"
        );
        for (i, n) in c.notes.iter().enumerate() {
            let found = checker.observe(20 + i as u64, n);
            let text: Vec<String> = found.violations.iter().map(|v| v.to_string()).collect();
            assert!(found.violations.is_empty(), "{op}: {}", text.join("\n"));
            let want = if c.settles_at == Some(i) { vec![(op, TOKEN)] } else { vec![] };
            assert_eq!(settled_ops(&found), want, "{op}: notification {i}");
        }
        assert!(!checker.settles_pending(ID), "{op}: nothing pending after the last");
    }
}

#[test]
fn accept_settles_at_the_own_join() {
    let p = people(All);
    let list = [&p.chris, &p.ann];
    let caps = owner_caps(MEDIA, false);
    let notes = [
        status(MEDIA, ID, S::Chatting, caps.clone(), &list),
        participants_updated(MEDIA, ID, S::Chatting, caps, &list),
        ml(
            MEDIA,
            ID,
            vec![
                entry(1, E::ParticipantJoined, &p.chris, All, None),
                entry(2, E::ParticipantJoined, &p.ann, All, None),
            ],
        ),
    ];
    // In order; and with the join before the ParticipantsUpdated: it settles at the join even
    // when a step before it is late (the lateness is a violation of its own).
    for order in [[0, 1, 2], [0, 2, 1]] {
        let mut c: AgentChecker<u32> = AgentChecker::new("Ann", MEDIA, Profile::Strict);
        c.observe(1, &status(MEDIA, ID, S::Invited, vec![], &[&p.chris]));
        c.operation_started(2, ID, Capability::Accept, None, TOKEN);
        let got: Vec<Vec<(Capability, u32)>> =
            order.iter().map(|&i| settled_ops(&c.observe(3, &notes[i]))).collect();
        let at = order.iter().position(|&i| i == 2).expect("the join is fed");
        for (k, s) in got.iter().enumerate() {
            let want = if k == at { vec![(Capability::Accept, TOKEN)] } else { vec![] };
            assert_eq!(*s, want, "order {order:?}, notification {k}");
        }
    }
}

/// The engine measured a settle however late it came; the checker reports it after the
/// expectation's timeout too (besides the `missing` violation the timeout gave).
#[test]
fn a_settle_after_the_timeout_still_settles_once() {
    let p = people(All);
    let mut c = chatting(&p, &[]);
    c.operation_started(10, ID, Capability::SendMessage, None, TOKEN);
    let missing = c.poll_timeouts(5_000);
    assert_kinds(&missing, &[ViolationKind::Missing]);
    assert!(c.settles_pending(ID));
    let text = ml(MEDIA, ID, vec![entry(10, E::Text, &p.ann, All, None)]);
    let found = c.observe(5_001, &text);
    assert_clean(&found.violations);
    assert_eq!(settled_ops(&found), [(Capability::SendMessage, TOKEN)]);
    assert!(!c.settles_pending(ID));
    // Its repeat is a duplicate, not a second settle.
    let again = c.observe(5_002, &text);
    assert_kinds(&again.violations, &[ViolationKind::Duplicate]);
    assert!(again.settled.is_empty());
}

/// Two operations of one expectation settle oldest first, one notification each.
#[test]
fn two_messages_settle_in_order_with_their_own_tokens() {
    let p = people(All);
    let mut c = chatting(&p, &[]);
    c.operation_started(10, ID, Capability::SendMessage, None, 1);
    c.operation_started(11, ID, Capability::SendMessage, None, 2);
    let first = c.observe(12, &ml(MEDIA, ID, vec![entry(10, E::Text, &p.ann, All, None)]));
    let second = c.observe(13, &ml(MEDIA, ID, vec![entry(11, E::Text, &p.ann, All, None)]));
    assert_eq!(settled_ops(&first), [(Capability::SendMessage, 1)]);
    assert_eq!(settled_ops(&second), [(Capability::SendMessage, 2)]);
}

/// A refused operation owes nothing, so nothing settles it.
#[test]
fn a_failed_operation_never_settles() {
    let p = people(All);
    let mut c = chatting(&p, &[]);
    c.operation_started(10, ID, Capability::SendMessage, None, TOKEN);
    c.operation_failed(ID, Capability::SendMessage);
    assert!(!c.settles_pending(ID));
    let found = c.observe(12, &ml(MEDIA, ID, vec![entry(10, E::Text, &p.ann, All, None)]));
    assert!(found.settled.is_empty());
}

/// RemoveParticipantFromConference settles at the removed agent's Completed (§6.6 four steps),
/// reported by the removed agent's checker, which keeps it pending until then.
#[test]
fn removal_settles_at_the_removed_agents_completed() {
    for profile in [Profile::Strict, Profile::Documented] {
        let p = people(All);
        let mut bob: AgentChecker<u32> =
            AgentChecker::new("Bob", MEDIA, profile).with_user_id("b1");
        let list = [&p.chris, &p.ann, &p.bob];
        let caps = owner_caps(MEDIA, true);
        bob.observe(1, &status(MEDIA, ID, S::Invited, vec![], &[&p.chris, &p.ann]));
        bob.operation_started(2, ID, Capability::Accept, None, 0);
        bob.observe(3, &status(MEDIA, ID, S::Chatting, caps.clone(), &list));
        bob.observe(4, &participants_updated(MEDIA, ID, S::Chatting, caps, &list));
        bob.observe(5, &ml(MEDIA, ID, vec![entry(3, E::ParticipantJoined, &p.bob, All, None)]));
        assert!(!bob.settles_pending(ID));
        let left = left_caps(MEDIA);
        let rest = [&p.chris, &p.ann];
        let notes = [
            participants_updated(MEDIA, ID, S::LeftChat, left.clone(), &rest),
            ml(MEDIA, ID, vec![entry(4, E::ParticipantLeft, &p.bob, All, None)]),
            status(MEDIA, ID, S::LeftChat, left, &rest),
            status(MEDIA, ID, S::Completed, vec![], &rest),
        ];
        for (i, n) in notes.iter().enumerate() {
            let found = bob.observe(10 + i as u64, n);
            assert_clean(&found.violations);
            let want = if i == 3 { vec![Settled::Removal] } else { vec![] };
            assert_eq!(found.settled, want, "{profile:?}: notification {i}");
            assert_eq!(bob.settles_pending(ID), i < 3, "{profile:?}: pending after {i}");
        }
    }
}

/// The rules and the metric names agree on which operations settle, in both profiles: an
/// operation with a settle time has exactly one settling step (its own, or for a removal the
/// removed agent's); SetInFocus and CancelConsult have none.
#[test]
fn the_rules_mark_a_settle_for_exactly_the_operations_that_have_one() {
    let removal = Capability::RemoveParticipantFromConference;
    for profile in [Profile::Strict, Profile::Documented] {
        let removal_steps =
            rules::implied(profile).iter().filter(|e| matches!(e.settle, Settle::Removal(_)));
        assert_eq!(removal_steps.count(), 1, "{profile:?}: one implied removal settle");
        for &op in Capability::ALL {
            let own = rules::for_operation(profile, op).map(|e| e.settle);
            let settles = match own {
                Some(Settle::Own(i)) => {
                    let steps = rules::for_operation(profile, op).map_or(0, |e| e.steps.len());
                    assert_eq!(i, steps - 1, "{op}: the last step settles");
                    true
                }
                Some(Settle::Removal(_)) => panic!("{op}: an operation's own removal settle"),
                Some(Settle::Never) => op == removal,
                None => false,
            };
            assert_eq!(settles || op == removal, has_settle(op), "{op} ({profile:?})");
        }
    }
}
