//! What one notification offers to the expectation patterns of [`super::super::rules`]: the
//! notification's parts, the checking agent's identity, and the participants it saw before.

use super::super::Party;
use super::super::rules::{self, Pattern, Roster, Who};
use crate::gws::model::{
    InteractionResource, LogEntry, NotificationType, Participant, ParticipantType, Visibility,
};
use crate::gws::states::InteractionState;

/// What one notification offers to the patterns, with the agent's identity and the participant
/// list the agent saw before it.
pub(super) struct Matcher<'a> {
    pub(super) me: &'a Party,
    pub(super) prev: &'a [Participant],
    pub(super) kind: Option<NotificationType>,
    pub(super) resource: Option<&'a InteractionResource>,
    pub(super) entries: &'a [LogEntry],
}

impl Matcher<'_> {
    fn is(&self, who: Who, target: Option<&Party>, p: &Participant) -> bool {
        let agent = p.kind == ParticipantType::Agent;
        match who {
            Who::Me => self.me.matches(p),
            // Without a named target, any other agent will do.
            Who::Target => match target {
                Some(t) => t.matches(p),
                None => agent && !self.me.matches(p),
            },
            Who::Customer => p.kind == ParticipantType::Customer,
            Who::OtherAgent => agent && !self.me.matches(p),
            Who::AnyAgent => agent,
        }
    }

    /// Whether `p` was not listed before, or not with its visibility now.
    fn added(&self, p: &Participant) -> bool {
        !self
            .prev
            .iter()
            .any(|q| q.participant_id == p.participant_id && q.visibility == p.visibility)
    }

    fn other_agent(&self, p: &Participant) -> bool {
        p.kind == ParticipantType::Agent && !self.me.matches(p)
    }

    /// The other agents listed before and not in `now`.
    fn gone<'p>(&'p self, now: &'p [Participant]) -> impl Iterator<Item = &'p Participant> {
        self.prev
            .iter()
            .filter(|p| self.other_agent(p))
            .filter(move |p| !now.iter().any(|q| q.participant_id == p.participant_id))
    }

    /// The other agents in `now` not listed before at all.
    fn added_agents<'p>(&'p self, now: &'p [Participant]) -> impl Iterator<Item = &'p Participant> {
        now.iter().filter(|p| {
            self.other_agent(p) && !self.prev.iter().any(|q| q.participant_id == p.participant_id)
        })
    }

    fn roster(&self, roster: Roster, target: Option<&Party>, now: &[Participant]) -> bool {
        let other_agent = |p: &Participant| self.other_agent(p);
        // With a target, only the target's leaving or joining counts.
        let is_target = |p: &&Participant| target.is_none_or(|t| t.matches(p));
        match roster {
            Roster::Any => true,
            Roster::TargetGone => match target {
                Some(t) => !now.iter().any(|p| t.matches(p)),
                None => self.gone(now).next().is_some(),
            },
            // Added: not listed before with that visibility. A roster that still lists an
            // earlier consultant (a chat that came to this agent with one in it) is not the
            // consult's; taking it would let the real one arrive late unseen.
            Roster::ConsultantPresent => now.iter().any(|p| {
                other_agent(p) && p.visibility == Some(Visibility::Agents) && self.added(p)
            }),
            Roster::ConferenceAgentPresent => now
                .iter()
                .any(|p| other_agent(p) && p.visibility == Some(Visibility::All) && self.added(p)),
            Roster::CustomerGone => {
                let customer = |p: &Participant| p.kind == ParticipantType::Customer;
                self.prev.iter().any(customer) && !now.iter().any(customer)
            }
            Roster::AgentGone => self.gone(now).any(|p| is_target(&p)),
            Roster::AgentAdded => self.added_agents(now).any(|p| is_target(&p)),
        }
    }

    /// The agents a notification matching `pattern` is about, for an implied expectation that
    /// follows each of them ([`rules::Expectation::per_agent`]): those a roster drops or adds,
    /// or the senders of the entries it matches. Each once, and only those the checker keeps
    /// (bounded in number and size, as rosters are).
    pub(super) fn subjects(&self, pattern: &Pattern) -> Vec<Party> {
        let people: Vec<&Participant> = match *pattern {
            Pattern::Participants { roster: Roster::AgentGone, .. } => {
                self.resource.map_or_else(Vec::new, |r| self.gone(&r.participants).collect())
            }
            Pattern::Participants { roster: Roster::AgentAdded, .. } => self
                .resource
                .map_or_else(Vec::new, |r| self.added_agents(&r.participants).collect()),
            Pattern::Entry { kind, from, visibility } => self
                .entries
                .iter()
                .filter(|e| {
                    e.kind == kind
                        && self.is(from, None, &e.from)
                        && visibility.is_none_or(|v| e.visibility == Some(v))
                })
                .map(|e| &e.from)
                .collect(),
            _ => Vec::new(),
        };
        let mut out: Vec<Party> = Vec::new();
        for p in people.into_iter().filter(|p| super::bounds::fits(p)) {
            if out.len() >= super::bounds::MAX_PARTICIPANTS {
                break;
            }
            if !out.iter().any(|q| q.matches(p)) {
                out.push(Party::participant(p));
            }
        }
        out
    }

    pub(super) fn matches(&self, pattern: &Pattern, target: Option<&Party>) -> bool {
        match *pattern {
            Pattern::Status(set) => {
                self.kind == Some(NotificationType::StatusChange)
                    && self.resource.is_some_and(|r| set.contains(&r.state))
            }
            Pattern::Participants { states, roster } => {
                self.kind == Some(NotificationType::ParticipantsUpdated)
                    && self.resource.is_some_and(|r| {
                        (states.is_empty() || states.contains(&r.state))
                            && self.roster(roster, target, &r.participants)
                    })
            }
            Pattern::Properties => self.kind == Some(NotificationType::PropertiesUpdated),
            Pattern::Entry { kind, from, visibility } => self.entries.iter().any(|e| {
                e.kind == kind
                    && self.is(from, target, &e.from)
                    && visibility.is_none_or(|v| e.visibility == Some(v))
            }),
            Pattern::LeaveOutcome => {
                let others = self
                    .prev
                    .iter()
                    .any(|p| p.kind == ParticipantType::Agent && !self.me.matches(p));
                let want =
                    if others { InteractionState::Completed } else { InteractionState::LeftChat };
                self.kind == Some(NotificationType::StatusChange)
                    && self.resource.is_some_and(|r| r.state == want)
            }
            Pattern::RemoveNotice => self.entries.iter().any(|e| {
                let text = e.text.as_deref().unwrap_or_default();
                let names_target = match text.strip_prefix(rules::REMOVE_NOTICE_PREFIX) {
                    None => false,
                    Some(id) => match target.and_then(|t| t.user_id.as_deref()) {
                        Some(want) => id.trim().eq_ignore_ascii_case(want),
                        None => true,
                    },
                };
                e.kind == crate::gws::model::EntryType::Notice
                    && names_target
                    && e.visibility == Some(Visibility::Agents)
                    && self.me.matches(&e.from)
            }),
        }
    }
}
