//! What a notification means to a flow: the [`AwaitEvent`]s it stands for, seen by one agent.
//! The checker computes them for every notification it observes ([`super::Observed::events`]),
//! so the engine does not read notifications a second time to decide what happened.

use super::Party;
use crate::gws::model::{EntryType, Notification, NotificationType, ParticipantType, Visibility};
use crate::gws::states::InteractionState;
use crate::vocab::AwaitEvent;

/// The await events one notification stands for: mostly none or one, two for a removal's end,
/// so they stay on the stack (a notification's events were an allocation each time).
pub type AwaitEvents = smallvec::SmallVec<[AwaitEvent; 4]>;

/// Await events `n` stands for, seen by agent `me`. `removing` is the interaction's memory that
/// a removal began: a ParticipantsUpdated(LeftChat) is how a removal begins for the removed
/// agent (§6.6), and its Completed is then also [`AwaitEvent::Removed`].
pub(crate) fn classify(n: &Notification, me: &Party, removing: &mut bool) -> AwaitEvents {
    let mut events = AwaitEvents::new();
    match n {
        Notification::ChatStateChangeMessage(sc)
        | Notification::FacebooksessionStateChangeMessage(sc) => {
            let Some(r) = sc.resource() else { return events };
            match (sc.notification_type, r.state) {
                (NotificationType::StatusChange, InteractionState::Invited) => {
                    events.push(AwaitEvent::Invited)
                }
                (NotificationType::ParticipantsUpdated, InteractionState::LeftChat) => {
                    *removing = true
                }
                (
                    NotificationType::StatusChange,
                    InteractionState::Completed | InteractionState::Revoked,
                ) => {
                    if *removing {
                        events.push(AwaitEvent::Removed);
                    }
                    events.push(AwaitEvent::Completed);
                }
                _ => {}
            }
        }
        Notification::MessageLogUpdated(ml) => {
            for e in &ml.messages {
                let mine = e.from.kind == ParticipantType::Agent && me.matches(&e.from);
                if mine && e.kind == EntryType::ParticipantJoined {
                    // The history an agent gets on Accept ends with its own join: what happened
                    // before it is the past, not events to react to.
                    events.clear();
                    continue;
                }
                match (e.kind, e.from.kind) {
                    (EntryType::ParticipantJoined, ParticipantType::Agent) if !mine => {
                        events.push(AwaitEvent::ParticipantJoined);
                        if e.from.visibility == Some(Visibility::Agents) {
                            events.push(AwaitEvent::ConsultantJoined);
                        }
                    }
                    (EntryType::ParticipantLeft, ParticipantType::Customer) => {
                        events.push(AwaitEvent::ParticipantLeft);
                        events.push(AwaitEvent::CustomerLeft);
                    }
                    (EntryType::ParticipantLeft, ParticipantType::Agent) if !mine => {
                        events.push(AwaitEvent::ParticipantLeft);
                    }
                    (EntryType::Text, ParticipantType::Customer) => {
                        events.push(AwaitEvent::CustomerMessage)
                    }
                    (EntryType::Text, ParticipantType::Agent) if !mine => {
                        events.push(AwaitEvent::AgentMessage)
                    }
                    _ => {}
                }
            }
        }
        _ => {}
    }
    events
}
