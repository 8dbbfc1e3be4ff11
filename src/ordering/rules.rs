//! The ordering checker's expectations as data: one table per profile, from protocol.md §6 and
//! §15 (the strict profile) and from the \[DOC\]/\[SEED\] cores only (the documented profile).
//!
//! An [`Expectation`] is an ordered list of [`Step`]s one agent must receive for one interaction.
//! Some are created when the agent starts an operation ([`for_operation`]); others are implied
//! by what the agent observes, e.g. being removed from a conference ([`implied`]). Matching is by
//! ordered subsequence, so unrelated notifications may come between the steps.
//!
//! In brief (S = StatusChange, PU = ParticipantsUpdated, ML\[x] = MessageLogUpdated holding x;
//! "doc" is where the documented profile differs). The step marked **⊣** settles the operation
//! ([`Settle`]): its `settle` latency ends there.
//!
//! | trigger | steps the agent must receive |
//! |---|---|
//! | Accept | S(Chatting) → PU(Chatting) → ML\[own ParticipantJoined] ⊣ |
//! | Reject, Complete | S(Completed) ⊣ |
//! | Leave | sole agent S(LeftChat), with other agents S(Completed) ⊣; doc: either |
//! | Transfer | S(Completed) ⊣; doc: S(LeftChat or Completed) ⊣ |
//! | Consult / Invite (clock from the first step) | PU adding another agent (Agents / All) → ML\[ParticipantJoined from it, Agents / All] ⊣ |
//! | RemoveParticipantFromConference | ML\[Notice REMOVE_PARTICIPANT…&lt;target id&gt;, Agents] → PU(Chatting) without the target → ML\[ParticipantLeft from the target]; doc: Notice optional, PU any state, ParticipantLeft from any agent. Settles at the removed agent ("being removed" below) |
//! | SendMessage, SendToAgents, SendUrl, typing, custom notices | ML\[own entry of that type] ⊣ |
//! | user data, disposition, AddComment | PropertiesUpdated ⊣ |
//! | SetInFocus, CancelConsult | nothing (and no settle) |
//! | implied: being removed (both profiles) | PU(LeftChat) → ML\[own ParticipantLeft] → S(LeftChat) → S(Completed) ⊣ (the remover's operation) |
//! | implied: customer left (strict) | PU without the customer → ML\[ParticipantLeft from the customer] |
//! | implied: another agent left (strict), per agent | PU without that agent → ML\[ParticipantLeft from that agent] |
//! | implied: another agent joined (strict), per agent | PU adding that agent, not listed before → ML\[ParticipantJoined from that agent] |

use std::fmt;

use super::Profile;
use crate::gws::model::{EntryType, Visibility};
use crate::gws::states::{Capability, InteractionState};

use InteractionState as S;

/// Who a log entry (or a participant) must be, relative to the checking agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Who {
    /// The checking agent itself.
    Me,
    /// The operation's target (e.g. the agent being removed).
    Target,
    Customer,
    /// Any agent except the checking agent.
    OtherAgent,
    AnyAgent,
}

/// A condition on the `participants` of a ParticipantsUpdated, compared with the previous list
/// the agent saw for the same interaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Roster {
    Any,
    /// The operation's target is no longer listed.
    TargetGone,
    /// Another agent is listed with visibility `Agents` who was not before (a consultant added).
    ConsultantPresent,
    /// Another agent is listed with visibility `All` who was not before (a conference member
    /// added).
    ConferenceAgentPresent,
    /// The customer was listed before and is not now.
    CustomerGone,
    /// Another agent is listed that was not listed before at all (with a target: the target).
    AgentAdded,
    /// Another agent was listed before and is not now (with a target: the target).
    AgentGone,
}

/// What one step looks like on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pattern {
    /// `StatusChange` whose state is one of these.
    Status(&'static [InteractionState]),
    /// `ParticipantsUpdated` whose state is one of these (empty: any) and whose list fits.
    Participants { states: &'static [InteractionState], roster: Roster },
    /// `PropertiesUpdated` (user data, disposition, comment).
    Properties,
    /// A `MessageLogUpdated` holding an entry of this type, from `from`, with this visibility
    /// (`None`: any).
    Entry { kind: EntryType, from: Who, visibility: Option<Visibility> },
    /// The `Notice` entry `REMOVE_PARTICIPANT_FROM_CONFERENCE<target user id>`, from the checking
    /// agent, visibility `Agents` (protocol.md §6.6 step 1).
    RemoveNotice,
    /// The `StatusChange` that ends a Leave: `LeftChat` if no other agent was in the interaction
    /// when it arrived, `Completed` if one was (§15.12). Judged on arrival, not when Leave was
    /// sent: the agent may send Leave right after removing the last other agent, before that
    /// removal's ParticipantsUpdated has reached it.
    LeaveOutcome,
}

impl Pattern {
    /// How much a match says: used when one notification could be either the start of an
    /// implied expectation or a late step of another (the more specific reading wins).
    pub fn specificity(&self) -> u8 {
        match self {
            Pattern::Participants { roster: Roster::Any, .. } | Pattern::Properties => 1,
            Pattern::Participants { .. }
            | Pattern::Status(_)
            | Pattern::Entry { .. }
            | Pattern::LeaveOutcome => 2,
            Pattern::RemoveNotice => 3,
        }
    }
}

/// The Notice text prefix of RemoveParticipantFromConference (protocol.md §2.4, §6.6).
pub const REMOVE_NOTICE_PREFIX: &str = "REMOVE_PARTICIPANT_FROM_CONFERENCE";

fn states(f: &mut fmt::Formatter<'_>, set: &[InteractionState]) -> fmt::Result {
    if set.is_empty() {
        return f.write_str("any state");
    }
    let names: Vec<&str> = set.iter().map(|s| s.as_str()).collect();
    f.write_str(&names.join("|"))
}

impl fmt::Display for Who {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Who::Me => "me",
            Who::Target => "the target",
            Who::Customer => "the customer",
            Who::OtherAgent => "another agent",
            Who::AnyAgent => "an agent",
        })
    }
}

impl fmt::Display for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Pattern::Status(set) => {
                f.write_str("StatusChange(")?;
                states(f, set)?;
                f.write_str(")")
            }
            Pattern::Participants { states: set, roster } => {
                f.write_str("ParticipantsUpdated(")?;
                states(f, set)?;
                f.write_str(")")?;
                match roster {
                    Roster::Any => Ok(()),
                    Roster::TargetGone => f.write_str(" without the target"),
                    Roster::ConsultantPresent => f.write_str(" adding a consultant (Agents)"),
                    Roster::ConferenceAgentPresent => f.write_str(" adding another agent (All)"),
                    Roster::CustomerGone => f.write_str(" without the customer"),
                    Roster::AgentGone => f.write_str(" without an agent listed before"),
                    Roster::AgentAdded => f.write_str(" adding an agent"),
                }
            }
            Pattern::Properties => f.write_str("PropertiesUpdated"),
            Pattern::Entry { kind, from, visibility } => {
                write!(f, "MessageLogUpdated[{kind:?} from {from}")?;
                if let Some(v) = visibility {
                    write!(f, ", {v:?}")?;
                }
                f.write_str("]")
            }
            Pattern::RemoveNotice => {
                write!(f, "MessageLogUpdated[Notice {REMOVE_NOTICE_PREFIX}<target>, Agents]")
            }
            Pattern::LeaveOutcome => {
                f.write_str("StatusChange(LeftChat if alone, Completed with other agents)")
            }
        }
    }
}

/// Whether a step must arrive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    Required,
    /// May be absent; if present it must still be in place.
    Optional,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Step {
    pub pattern: Pattern,
    pub need: Need,
}

/// When an expectation's timeout starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Clock {
    /// When the operation starts (or the implied expectation is recognised).
    FromStart,
    /// When the first step arrives: for Consult and Invite, whose steps wait for another agent
    /// to accept, which may never happen (a Reject or an invitation timeout is not an error).
    FromFirstStep,
}

/// Extra conditions for an implied expectation to start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Guard {
    None,
    /// The agent is `Chatting` and has not started Leave, Complete, Transfer or Reject itself.
    ChattingNotLeaving,
}

/// Which step of an expectation settles an operation: its `settle` latency (design.md,
/// "Metrics") ends when that step arrives, in place, late or after the timeout. It is the last
/// notification the actor is owed for the operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settle {
    /// Nothing in this expectation settles an operation.
    Never,
    /// Step `i` settles the operation that created this expectation, at the agent that sent it.
    Own(usize),
    /// Step `i` settles a RemoveParticipantFromConference that *another* agent sent: the
    /// removed agent's own last notification. The checker cannot know who sent it; the caller
    /// correlates (interaction, removed agent) with the remover's start.
    Removal(usize),
}

impl Settle {
    /// The settling step, if any.
    pub fn step(self) -> Option<usize> {
        match self {
            Settle::Never => None,
            Settle::Own(i) | Settle::Removal(i) => Some(i),
        }
    }
}

/// One ordered list of steps an agent must receive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Expectation {
    /// A short name for reports, e.g. `"Accept"` or `"removed from conference"`.
    pub name: &'static str,
    /// The protocol.md sections it comes from.
    pub source: &'static str,
    pub steps: &'static [Step],
    pub clock: Clock,
    /// For implied expectations: the steps whose arrival starts one (earlier steps then count as
    /// skipped: out-of-order if they come later, missing if they never do).
    pub triggers: &'static [usize],
    pub guard: Guard,
    /// Which step, if any, settles an operation.
    pub settle: Settle,
    /// For implied expectations: one instance per agent its trigger names (the agents a
    /// roster drops or adds, the sender of an entry), each with that agent as its target. So
    /// the leave of one agent cannot stand in for another's (§6.11 orders each agent's roster
    /// change before its own entry).
    pub per_agent: bool,
}

const fn req(pattern: Pattern) -> Step {
    Step { pattern, need: Need::Required }
}

const fn opt(pattern: Pattern) -> Step {
    Step { pattern, need: Need::Optional }
}

const fn op(
    name: &'static str,
    source: &'static str,
    steps: &'static [Step],
    settle: Settle,
) -> Expectation {
    Expectation {
        name,
        source,
        steps,
        clock: Clock::FromStart,
        triggers: &[],
        guard: Guard::None,
        settle,
        per_agent: false,
    }
}

const fn entry(kind: EntryType, from: Who, visibility: Option<Visibility>) -> Pattern {
    Pattern::Entry { kind, from, visibility }
}

const fn pu(states: &'static [InteractionState], roster: Roster) -> Pattern {
    Pattern::Participants { states, roster }
}

// --- Operations: the same in both profiles --------------------------------------------------

/// §6.1, §15.8. The own ParticipantJoined may be inside the history batch or (documented, §6.1
/// \[INF\]) in a separate MessageLogUpdated right after it: matching "an ML holding my join"
/// accepts both.
static ACCEPT: Expectation = op(
    "Accept",
    "§6.1, §15.8",
    &[
        req(Pattern::Status(&[S::Chatting])),
        req(pu(&[S::Chatting], Roster::Any)),
        req(entry(EntryType::ParticipantJoined, Who::Me, None)),
    ],
    Settle::Own(2),
);
static REJECT: Expectation =
    op("Reject", "§6.2, §15.7", &[req(Pattern::Status(&[S::Completed]))], Settle::Own(0));
static COMPLETE: Expectation =
    op("Complete", "§6.8, §15.13", &[req(Pattern::Status(&[S::Completed]))], Settle::Own(0));
static PROPERTIES: Expectation =
    op("user data", "§6.10", &[req(Pattern::Properties)], Settle::Own(0));

/// §6.4, §15.9: A after B accepts. The clock starts when the first step arrives; the
/// consultant's ParticipantJoined settles it.
static CONSULT: Expectation = Expectation {
    clock: Clock::FromFirstStep,
    ..op(
        "Consult",
        "§6.4, §15.9, FB Consult seed",
        &[
            req(pu(&[S::Chatting], Roster::ConsultantPresent)),
            req(entry(EntryType::ParticipantJoined, Who::OtherAgent, Some(Visibility::Agents))),
        ],
        Settle::Own(1),
    )
};
/// §6.5, §15.10: as Consult with visibility All.
static INVITE: Expectation = Expectation {
    clock: Clock::FromFirstStep,
    ..op(
        "Invite",
        "§6.5, §15.10",
        &[
            req(pu(&[S::Chatting], Roster::ConferenceAgentPresent)),
            req(entry(EntryType::ParticipantJoined, Who::OtherAgent, Some(Visibility::All))),
        ],
        Settle::Own(1),
    )
};

/// §6.3: the sender receives its own entries (\[DOC\]: every sample is delivered to the sender).
static SEND_MESSAGE: Expectation =
    op("SendMessage", "§6.3", &[req(entry(EntryType::Text, Who::Me, None))], Settle::Own(0));
static SEND_TO_AGENTS: Expectation = op(
    "SendToAgents",
    "§6.3, §15.21",
    &[req(entry(EntryType::Text, Who::Me, Some(Visibility::Agents)))],
    Settle::Own(0),
);
static SEND_URL: Expectation =
    op("SendUrl", "§6.3", &[req(entry(EntryType::PushUrl, Who::Me, None))], Settle::Own(0));
static TYPING_STARTED: Expectation = op(
    "typing started",
    "§6.3",
    &[req(entry(EntryType::TypingStarted, Who::Me, None))],
    Settle::Own(0),
);
static TYPING_STOPPED: Expectation = op(
    "typing stopped",
    "§6.3",
    &[req(entry(EntryType::TypingStopped, Who::Me, None))],
    Settle::Own(0),
);
static CUSTOM_NOTICE: Expectation = op(
    "SendCustomNotice",
    "§6.3",
    &[req(entry(EntryType::CustomNotice, Who::Me, None))],
    Settle::Own(0),
);

// --- Operations: strict (§15, the embedded server's exact behaviour) ---------------------------

static STRICT_LEAVE: Expectation =
    op("Leave", "§6.4, §6.8, §15.12", &[req(Pattern::LeaveOutcome)], Settle::Own(0));
static STRICT_TRANSFER: Expectation =
    op("Transfer", "§6.7, §15.14", &[req(Pattern::Status(&[S::Completed]))], Settle::Own(0));
/// §15.11: the Notice is emitted by default, so strict requires it; the ParticipantsUpdated must
/// no longer list the removed agent, and the ParticipantLeft must be the removed agent's.
/// The remover is owed these, but the operation settles later, at the removed agent's
/// `Completed` ([`REMOVED`]).
static STRICT_REMOVE: Expectation = op(
    "RemoveParticipantFromConference",
    "§6.6, §15.11",
    &[
        req(Pattern::RemoveNotice),
        req(pu(&[S::Chatting], Roster::TargetGone)),
        req(entry(EntryType::ParticipantLeft, Who::Target, None)),
    ],
    Settle::Never,
);

// --- Operations: documented (only what the GWS pages confirm) ----------------------------------

/// ChatLeave documents LeftChat for a sole agent and Completed in a conference; which one
/// applies can change while the request is in flight, so the documented profile takes either.
static DOC_LEAVE: Expectation = op(
    "Leave",
    "§6.4, §6.8",
    &[req(Pattern::Status(&[S::LeftChat, S::Completed]))],
    Settle::Own(0),
);
/// §6.7 is \[INF\]: "the actor gets a terminal state" (or LeftChat first).
static DOC_TRANSFER: Expectation =
    op("Transfer", "§6.7", &[req(Pattern::Status(&[S::LeftChat, S::Completed]))], Settle::Own(0));
/// The two-step core of §6.6, with the Notice optional (absent from the current chat page).
/// The state of the ParticipantsUpdated and the `from` of the ParticipantLeft are not checked:
/// the FB seed prints `Completed` and the remover there (§13.5), and a page is what a remote
/// GWS build is measured against. As in strict, the removal settles at the removed agent.
static DOC_REMOVE: Expectation = op(
    "RemoveParticipantFromConference",
    "§6.6 (documented core)",
    &[
        opt(Pattern::RemoveNotice),
        req(pu(&[], Roster::Any)),
        req(entry(EntryType::ParticipantLeft, Who::AnyAgent, None)),
    ],
    Settle::Never,
);

/// The expectation an operation creates for the agent that starts it, if any.
pub fn for_operation(profile: Profile, op: Capability) -> Option<&'static Expectation> {
    use Capability as C;
    let strict = profile == Profile::Strict;
    Some(match op {
        C::Accept => &ACCEPT,
        C::Reject => &REJECT,
        C::Complete => &COMPLETE,
        C::Leave if strict => &STRICT_LEAVE,
        C::Leave => &DOC_LEAVE,
        C::Transfer if strict => &STRICT_TRANSFER,
        C::Transfer => &DOC_TRANSFER,
        C::Consult => &CONSULT,
        C::Invite => &INVITE,
        C::RemoveParticipantFromConference if strict => &STRICT_REMOVE,
        C::RemoveParticipantFromConference => &DOC_REMOVE,
        C::SendMessage => &SEND_MESSAGE,
        C::SendToAgents => &SEND_TO_AGENTS,
        C::SendUrl => &SEND_URL,
        C::SendStartTypingNotification | C::SendStartTypingToAgentsNotification => &TYPING_STARTED,
        C::SendStopTypingNotification | C::SendStopTypingToAgentsNotification => &TYPING_STOPPED,
        C::SendCustomNotice | C::SendCustomNoticeToAgents => &CUSTOM_NOTICE,
        C::SetDisposition
        | C::AttachUserData
        | C::DeleteUserData
        | C::UpdateUserData
        | C::AddComment => &PROPERTIES,
        // SetInFocus changes nothing visible; CancelConsult's notifications are undocumented.
        // So neither settles: `vocab::has_settle` is where that is said for metric names.
        C::SetInFocus | C::CancelConsult => return None,
    })
}

// --- Implied expectations (recognised from what the agent observes) ----------------------------

/// §6.6, §15.11, the removed agent's four-step core, \[SEED\] chat page (both profiles). Its
/// `Completed` is the last notification anyone is owed for the removal, so it settles the
/// remover's RemoveParticipantFromConference (design.md, "Metrics").
static REMOVED: Expectation = Expectation {
    name: "removed from conference",
    source: "§6.6, §15.11",
    steps: &[
        req(pu(&[S::LeftChat], Roster::Any)),
        req(entry(EntryType::ParticipantLeft, Who::Me, None)),
        req(Pattern::Status(&[S::LeftChat])),
        req(Pattern::Status(&[S::Completed])),
    ],
    clock: Clock::FromStart,
    triggers: &[0, 1],
    guard: Guard::ChattingNotLeaving,
    settle: Settle::Removal(3),
    per_agent: false,
};
/// §15.15 (strict only: §6.9 is \[INF\]).
static CUSTOMER_LEFT: Expectation = Expectation {
    name: "customer left",
    source: "§6.9, §15.15",
    steps: &[
        req(pu(&[], Roster::CustomerGone)),
        req(entry(EntryType::ParticipantLeft, Who::Customer, None)),
    ],
    clock: Clock::FromStart,
    triggers: &[0, 1],
    guard: Guard::None,
    settle: Settle::Never,
    per_agent: false,
};
/// §15.12: the agents that remain when another one leaves (strict only: §6.4 marks it \[INF\]).
/// One per agent that leaves (§6.11: each one's roster change before its own ParticipantLeft).
static AGENT_LEFT: Expectation = Expectation {
    name: "another agent left",
    source: "§6.4, §6.11, §15.12",
    steps: &[
        req(pu(&[], Roster::AgentGone)),
        req(entry(EntryType::ParticipantLeft, Who::Target, None)),
    ],
    clock: Clock::FromStart,
    triggers: &[0, 1],
    guard: Guard::None,
    settle: Settle::Never,
    per_agent: true,
};

/// §6.11: the agents already in the chat when another one joins it (a chat re-routed with a
/// consultant still in it, a second consultant): the ParticipantsUpdated adding it comes
/// before its ParticipantJoined (strict only: who else is told is \[INF\]). The joiner's own
/// operation (Consult, Invite) takes both first when the agent started it.
static AGENT_JOINED: Expectation = Expectation {
    name: "another agent joined",
    source: "§6.11",
    steps: &[
        req(pu(&[], Roster::AgentAdded)),
        req(entry(EntryType::ParticipantJoined, Who::Target, None)),
    ],
    clock: Clock::FromStart,
    triggers: &[0, 1],
    guard: Guard::None,
    settle: Settle::Never,
    per_agent: true,
};

static STRICT_IMPLIED: [&Expectation; 4] = [&REMOVED, &CUSTOMER_LEFT, &AGENT_LEFT, &AGENT_JOINED];
static DOC_IMPLIED: [&Expectation; 1] = [&REMOVED];

/// The expectations a profile recognises from observation alone.
pub fn implied(profile: Profile) -> &'static [&'static Expectation] {
    match profile {
        Profile::Strict => &STRICT_IMPLIED,
        Profile::Documented => &DOC_IMPLIED,
    }
}

/// Whether a `StatusChange` that no expectation explains is a legal transition (strict profile,
/// §15.7 and §15.16). Every other status change must come from an operation the agent started or
/// from an implied expectation; `None` is an interaction the agent has not seen yet.
pub fn unexplained_status_change_allowed(
    from: Option<InteractionState>,
    to: InteractionState,
) -> bool {
    match (from, to) {
        // A new offer, or the same id offered again after it ended (§6.11).
        (None, S::Invited) => true,
        (Some(f), S::Invited) => f.is_terminal(),
        // Auto-answer (§6.11).
        (None, S::Chatting) => true,
        // The invitation timeout or a cancelled consult (§15.7).
        (Some(S::Invited), S::Revoked) => true,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all_tables() -> Vec<&'static Expectation> {
        let mut all = Vec::new();
        for profile in [Profile::Strict, Profile::Documented] {
            for op in Capability::ALL {
                all.extend(for_operation(profile, *op));
            }
            all.extend(implied(profile).iter().copied());
        }
        all
    }

    #[test]
    fn tables_are_well_formed() {
        for exp in all_tables() {
            // Instances keep the steps seen in a u64 bit set.
            assert!(!exp.steps.is_empty() && exp.steps.len() < 64, "{}", exp.name);
            assert!(exp.triggers.iter().all(|&t| t < exp.steps.len()), "{}", exp.name);
            assert!(
                exp.steps.iter().any(|s| s.need == Need::Required),
                "{} has no required step",
                exp.name
            );
        }
    }

    #[test]
    fn profiles_differ_where_section_15_says() {
        let rm = Capability::RemoveParticipantFromConference;
        let strict = for_operation(Profile::Strict, rm).map(|e| e.steps[0].need);
        let documented = for_operation(Profile::Documented, rm).map(|e| e.steps[0].need);
        assert_eq!(strict, Some(Need::Required));
        assert_eq!(documented, Some(Need::Optional));
        // Leave: strict judges which terminal state applies when it arrives; documented takes
        // either.
        let strict = for_operation(Profile::Strict, Capability::Leave);
        assert_eq!(strict.map(|e| e.steps[0].pattern), Some(Pattern::LeaveOutcome));
        let documented = for_operation(Profile::Documented, Capability::Leave);
        assert_eq!(
            documented.map(|e| e.steps[0].pattern),
            Some(Pattern::Status(&[S::LeftChat, S::Completed]))
        );
        assert_eq!(implied(Profile::Documented).len(), 1);
        assert_eq!(implied(Profile::Strict).len(), 4);
    }

    #[test]
    fn unexplained_status_changes() {
        assert!(unexplained_status_change_allowed(None, S::Invited));
        assert!(unexplained_status_change_allowed(Some(S::Completed), S::Invited));
        assert!(unexplained_status_change_allowed(Some(S::Invited), S::Revoked));
        assert!(!unexplained_status_change_allowed(Some(S::Chatting), S::Invited));
        assert!(!unexplained_status_change_allowed(Some(S::Chatting), S::Chatting));
        assert!(!unexplained_status_change_allowed(Some(S::Chatting), S::Completed));
    }
}
