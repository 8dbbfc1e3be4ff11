//! The per-agent checker: tracks each interaction the agent is in, matches what arrives against
//! the expectations of [`super::rules`], and checks the per-interaction invariants.

use std::collections::VecDeque;

use super::rules::{self, Clock, Expectation, Guard, Need, Pattern, Roster, Who};
use super::{
    Party, Profile, Violation, ViolationKind, duplicate_checked, fingerprint, interaction_of,
    render,
};
use crate::gws::model::{
    InteractionResource, LogEntry, Media, Notification, NotificationType, Participant,
    ParticipantType, Visibility,
};
use crate::gws::states::{Capability, InteractionState};

/// Default time a required step may take, from the operation's start (or the first step).
pub const DEFAULT_TIMEOUT_MS: u64 = 10_000;
/// Recent notification renderings kept for violation context (all interactions together).
const CONTEXT_RING: usize = 32;
/// Renderings of the same interaction attached to one violation.
const CONTEXT_SHOWN: usize = 6;
/// Log-update fingerprints kept per interaction for duplicate detection; an older repeat reads
/// as an index regression instead.
const FINGERPRINTS: usize = 32;
/// Ended interactions remembered so late notifications about them are caught.
const ENDED_MEMORY: usize = 64;
/// Live expectations per interaction; beyond this the oldest is dropped unreported, which only
/// happens if a caller starts operations far faster than the server answers them.
const MAX_INSTANCES: usize = 32;
/// Live interactions per agent; beyond this the least recently active is dropped unreported.
const MAX_INTERACTIONS: usize = 256;

/// A live copy of an [`Expectation`] for one interaction.
#[derive(Debug)]
struct Instance {
    exp: &'static Expectation,
    /// The operation that created it (`None` for implied expectations).
    op: Option<Capability>,
    target: Option<Party>,
    /// Bit `i` set: step `i` has arrived.
    seen: u64,
    /// Steps before this index have either arrived or been skipped.
    cursor: usize,
    /// `None` until armed ([`Clock::FromFirstStep`]).
    deadline: Option<u64>,
    /// Its missing steps have been reported; it stays to absorb them silently if they come
    /// late, so one late step is one violation, not two.
    expired: bool,
}

enum Offer {
    NoMatch,
    InPlace,
    /// Step `late` arrived after step `after`.
    Late {
        late: usize,
        after: usize,
    },
}

impl Instance {
    fn new(exp: &'static Expectation, target: Option<Party>, now_ms: u64, timeout_ms: u64) -> Self {
        let deadline = match exp.clock {
            Clock::FromStart => Some(now_ms.saturating_add(timeout_ms)),
            Clock::FromFirstStep => None,
        };
        Instance { exp, op: None, target, seen: 0, cursor: 0, deadline, expired: false }
    }

    fn is_seen(&self, i: usize) -> bool {
        self.seen & (1u64 << i) != 0
    }

    /// Matches a notification against this expectation. With `late` false only a step at or
    /// after the cursor can match; with `late` true only a skipped step before it.
    fn offer(&mut self, m: &Matcher<'_>, late: bool, now_ms: u64, timeout_ms: u64) -> Offer {
        let steps = self.exp.steps;
        if self.expired {
            for (i, step) in steps.iter().enumerate() {
                if !self.is_seen(i) && m.matches(&step.pattern, self.target.as_ref()) {
                    self.seen |= 1u64 << i;
                    return Offer::InPlace;
                }
            }
            return Offer::NoMatch;
        }
        if late {
            for (i, step) in steps.iter().enumerate().take(self.cursor) {
                if !self.is_seen(i) && m.matches(&step.pattern, self.target.as_ref()) {
                    self.seen |= 1u64 << i;
                    let after = (i + 1..self.cursor).find(|&j| self.is_seen(j)).unwrap_or(i);
                    return Offer::Late { late: i, after };
                }
            }
            return Offer::NoMatch;
        }
        for (i, step) in steps.iter().enumerate().skip(self.cursor) {
            if m.matches(&step.pattern, self.target.as_ref()) {
                self.seen |= 1u64 << i;
                self.cursor = i + 1;
                if self.deadline.is_none() {
                    self.deadline = Some(now_ms.saturating_add(timeout_ms));
                }
                return Offer::InPlace;
            }
        }
        Offer::NoMatch
    }

    /// How specific the most specific skipped step before the cursor that would take this
    /// notification is, if there is one.
    fn awaits_late(&self, m: &Matcher<'_>) -> Option<u8> {
        if self.expired {
            return None;
        }
        self.exp
            .steps
            .iter()
            .enumerate()
            .take(self.cursor)
            .filter(|(i, step)| !self.is_seen(*i) && m.matches(&step.pattern, self.target.as_ref()))
            .map(|(_, step)| step.pattern.specificity())
            .max()
    }

    /// Required steps that have not arrived (and have not been reported missing).
    fn pending(&self) -> impl Iterator<Item = usize> + '_ {
        let expired = self.expired;
        self.exp
            .steps
            .iter()
            .enumerate()
            .filter(move |(i, s)| !expired && s.need == Need::Required && !self.is_seen(*i))
            .map(|(i, _)| i)
    }

    fn done(&self) -> bool {
        if self.expired {
            let all = if self.exp.steps.len() >= 64 {
                u64::MAX
            } else {
                (1u64 << self.exp.steps.len()) - 1
            };
            return self.seen & all == all;
        }
        self.cursor >= self.exp.steps.len() && self.pending().next().is_none()
    }

    fn describe(&self, i: usize) -> String {
        let pattern = self.exp.steps.get(i).map(|s| s.pattern.to_string()).unwrap_or_default();
        format!("{} step {}/{}: {pattern}", self.exp.name, i + 1, self.exp.steps.len())
    }
}

/// Operations by which the agent leaves an interaction itself.
fn is_exit(op: Capability) -> bool {
    matches!(
        op,
        Capability::Leave | Capability::Complete | Capability::Transfer | Capability::Reject
    )
}

/// Offers a notification to every instance, at most one per expectation; `None` if none took
/// it, otherwise the out-of-order findings.
fn offer_all(
    instances: &mut [Instance],
    m: &Matcher<'_>,
    late: bool,
    now_ms: u64,
    timeout_ms: u64,
    got: &str,
) -> Option<Vec<Finding>> {
    let mut taken: Vec<&'static str> = Vec::new();
    let mut findings = Vec::new();
    for inst in instances.iter_mut() {
        if taken.contains(&inst.exp.name) {
            continue;
        }
        match inst.offer(m, late, now_ms, timeout_ms) {
            Offer::NoMatch => continue,
            Offer::InPlace => {}
            Offer::Late { late, after } => findings.push(Finding {
                kind: ViolationKind::OutOfOrder,
                expected: format!("{} before step {}", inst.describe(late), after + 1),
                got: got.to_owned(),
            }),
        }
        taken.push(inst.exp.name);
    }
    (!taken.is_empty()).then_some(findings)
}

/// What one notification offers to the patterns, with the agent's identity and the participant
/// list the agent saw before it.
struct Matcher<'a> {
    me: &'a Party,
    prev: &'a [Participant],
    kind: Option<NotificationType>,
    resource: Option<&'a InteractionResource>,
    entries: &'a [LogEntry],
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

    fn roster(&self, roster: Roster, target: Option<&Party>, now: &[Participant]) -> bool {
        let other_agent = |p: &Participant| p.kind == ParticipantType::Agent && !self.me.matches(p);
        let agent_gone = || {
            self.prev
                .iter()
                .filter(|p| other_agent(p))
                .any(|p| !now.iter().any(|q| q.participant_id == p.participant_id))
        };
        match roster {
            Roster::Any => true,
            Roster::TargetGone => match target {
                Some(t) => !now.iter().any(|p| t.matches(p)),
                None => agent_gone(),
            },
            Roster::ConsultantPresent => {
                now.iter().any(|p| other_agent(p) && p.visibility == Some(Visibility::Agents))
            }
            Roster::ConferenceAgentPresent => {
                now.iter().any(|p| other_agent(p) && p.visibility == Some(Visibility::All))
            }
            Roster::CustomerGone => {
                let customer = |p: &Participant| p.kind == ParticipantType::Customer;
                self.prev.iter().any(customer) && !now.iter().any(customer)
            }
            Roster::AgentGone => agent_gone(),
        }
    }

    fn matches(&self, pattern: &Pattern, target: Option<&Party>) -> bool {
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

/// What the agent knows about one interaction.
#[derive(Debug)]
struct Interaction {
    id: String,
    state: Option<InteractionState>,
    last_index: Option<u64>,
    /// Recent log updates: entries carry an index, so any identical repeat is a duplicate.
    fingerprints: VecDeque<u64>,
    /// The last state change: a state change identical to the previous one is a duplicate, but
    /// one identical to an older one is not (the roster can go A, B, A again).
    last_state_fp: Option<u64>,
    participants: Vec<Participant>,
    instances: Vec<Instance>,
    /// The agent started Leave, Complete, Transfer or Reject.
    exiting: bool,
    seen_any: bool,
    last_active_ms: u64,
}

impl Interaction {
    fn new(id: &str, now_ms: u64) -> Self {
        Interaction {
            id: id.to_owned(),
            state: None,
            last_index: None,
            fingerprints: VecDeque::new(),
            last_state_fp: None,
            participants: Vec::new(),
            instances: Vec::new(),
            exiting: false,
            seen_any: false,
            last_active_ms: now_ms,
        }
    }
}

/// An interaction that ended for this agent, remembered to catch late notifications.
#[derive(Debug)]
struct Ended {
    id: String,
    /// Fingerprint of the terminal notification, so its repeat counts as a duplicate.
    terminal: Option<u64>,
}

/// A finding before it gets the agent name and context.
struct Finding {
    kind: ViolationKind,
    expected: String,
    got: String,
}

/// The ordering checker for one virtual agent. See the [module docs](super).
#[derive(Debug)]
pub struct AgentChecker {
    name: String,
    me: Party,
    media: Media,
    profile: Profile,
    timeout_ms: u64,
    live: Vec<Interaction>,
    ended: VecDeque<Ended>,
    recent: VecDeque<(String, String)>,
    /// Expectations of operations whose interaction ended before anything of them arrived.
    limbo: Vec<Limbo>,
}

/// An expectation waiting to see whether its operation was refused.
#[derive(Debug)]
struct Limbo {
    id: String,
    inst: Instance,
    got: String,
    report_at: u64,
}

/// Bound on held expectations, so a server that ends everything early cannot grow memory.
const MAX_LIMBO: usize = 64;

impl AgentChecker {
    /// `agent_name` names the agent in reports and is the nickname it uses in Accept, by which
    /// it recognises its own entries and participant record.
    pub fn new(agent_name: &str, media: Media, profile: Profile) -> Self {
        AgentChecker {
            name: agent_name.to_owned(),
            me: Party::nickname(agent_name),
            media,
            profile,
            timeout_ms: DEFAULT_TIMEOUT_MS,
            live: Vec::new(),
            ended: VecDeque::new(),
            recent: VecDeque::new(),
            limbo: Vec::new(),
        }
    }

    /// Also recognise the agent by its 32-hex user id (in participants' `uri`/`path`).
    pub fn with_user_id(mut self, user_id: &str) -> Self {
        self.me.user_id = Some(user_id.to_owned());
        self
    }

    /// How long a required step may take (default [`DEFAULT_TIMEOUT_MS`]).
    pub fn with_timeout_ms(mut self, timeout_ms: u64) -> Self {
        self.timeout_ms = timeout_ms;
        self
    }

    pub fn media(&self) -> Media {
        self.media
    }

    pub fn profile(&self) -> Profile {
        self.profile
    }

    /// Registers what an operation the agent is about to send owes it. Call it before sending the
    /// request. `target` names the other agent for RemoveParticipantFromConference (and is
    /// ignored otherwise). An operation on an interaction that already ended is ignored: the
    /// server will refuse it.
    pub fn operation_started(
        &mut self,
        now_ms: u64,
        interaction: &str,
        op: Capability,
        target: Option<Party>,
    ) {
        if self.ended.iter().any(|e| e.id == interaction) {
            return;
        }
        let timeout_ms = self.timeout_ms;
        let profile = self.profile;
        let ix = self.interaction_mut(interaction, now_ms);
        if is_exit(op) {
            ix.exiting = true;
        }
        if let Some(exp) = rules::for_operation(profile, op) {
            if ix.instances.len() >= MAX_INSTANCES {
                ix.instances.remove(0);
            }
            let mut inst = Instance::new(exp, target, now_ms, timeout_ms);
            inst.op = Some(op);
            ix.instances.push(inst);
        }
    }

    /// Withdraws what [`Self::operation_started`] registered for an operation the server refused
    /// (statusCode ≠ 0 or an `Error` notification): a failed request owes no notifications, and
    /// it is counted as an error elsewhere, not as an ordering violation. Removes the most recent
    /// such expectation that nothing has arrived for yet (else the most recent one).
    pub fn operation_failed(&mut self, interaction: &str, op: Capability) {
        if let Some(pos) =
            self.limbo.iter().rposition(|l| l.id == interaction && l.inst.op == Some(op))
        {
            self.limbo.remove(pos);
            return;
        }
        let Some(ix) = self.live.iter_mut().find(|i| i.id == interaction) else {
            return;
        };
        let of_op = |i: &Instance| i.op == Some(op);
        let pos = ix
            .instances
            .iter()
            .rposition(|i| of_op(i) && i.seen == 0)
            .or_else(|| ix.instances.iter().rposition(of_op));
        if let Some(pos) = pos {
            ix.instances.remove(pos);
        }
        if is_exit(op) {
            ix.exiting = ix.instances.iter().any(|i| i.op.is_some_and(is_exit));
        }
    }

    /// Checks one notification the agent received and returns what it breaks.
    pub fn observe(&mut self, now_ms: u64, n: &Notification) -> Vec<Violation> {
        let Some(id) = interaction_of(n) else {
            return Vec::new();
        };
        let id = id.to_owned();
        let got = render(n);
        self.remember(&id, &got);
        let fp = if duplicate_checked(n) { fingerprint(n) } else { None };
        let state_change = match n {
            Notification::ChatStateChangeMessage(sc)
            | Notification::FacebooksessionStateChangeMessage(sc) => Some(sc),
            _ => None,
        };
        let kind = state_change.map(|sc| sc.notification_type);
        let resource = state_change.and_then(|sc| sc.resource());
        let entries: &[LogEntry] = match n {
            Notification::MessageLogUpdated(ml) => &ml.messages,
            _ => &[],
        };
        let status = match (kind, resource) {
            (Some(NotificationType::StatusChange), Some(r)) => Some(r.state),
            _ => None,
        };

        let mut findings = Vec::new();
        if let Some(pos) = self.ended.iter().position(|e| e.id == id) {
            if fp.is_some() && self.ended[pos].terminal == fp {
                findings.push(Finding {
                    kind: ViolationKind::Duplicate,
                    expected: "each notification once".to_owned(),
                    got: got.clone(),
                });
                return self.finish_findings(now_ms, &id, findings);
            }
            if status == Some(InteractionState::Invited) {
                self.ended.remove(pos);
            } else {
                findings.push(Finding {
                    kind: ViolationKind::Unexpected,
                    expected: "nothing after Completed/Revoked until a new StatusChange(Invited)"
                        .to_owned(),
                    got: got.clone(),
                });
                return self.finish_findings(now_ms, &id, findings);
            }
        }

        let me = self.me.clone();
        let profile = self.profile;
        let strict = profile == Profile::Strict;
        let timeout_ms = self.timeout_ms;
        let ix = self.interaction_mut(&id, now_ms);

        if let Some(fp) = fp {
            let repeat = if state_change.is_some() {
                ix.last_state_fp.replace(fp) == Some(fp)
            } else {
                let seen = ix.fingerprints.contains(&fp);
                if !seen {
                    if ix.fingerprints.len() >= FINGERPRINTS {
                        ix.fingerprints.pop_front();
                    }
                    ix.fingerprints.push_back(fp);
                }
                seen
            };
            if repeat {
                findings.push(Finding {
                    kind: ViolationKind::Duplicate,
                    expected: "each notification once".to_owned(),
                    got: got.clone(),
                });
                return self.finish_findings(now_ms, &id, findings);
            }
        }

        // §6.11 [INF]: the first notification about an interaction is its invitation (or
        // Chatting for auto-answer). Only strict holds a server to it.
        if !ix.seen_any
            && strict
            && !matches!(status, Some(InteractionState::Invited | InteractionState::Chatting))
        {
            findings.push(Finding {
                kind: ViolationKind::Unexpected,
                expected: "StatusChange(Invited) (or Chatting) as the first notification"
                    .to_owned(),
                got: got.clone(),
            });
        }
        ix.seen_any = true;

        for e in entries {
            if let Some(last) = ix.last_index {
                if e.index <= last {
                    findings.push(Finding {
                        kind: ViolationKind::IndexRegression,
                        expected: format!("a log index above {last}"),
                        got: format!("{} in {got}", super::render_entry(e)),
                    });
                }
            }
            ix.last_index = Some(ix.last_index.map_or(e.index, |l| l.max(e.index)));
        }

        let matcher = Matcher { me: &me, prev: &ix.participants, kind, resource, entries };

        // Offer the notification to every live expectation, but to only one instance of each
        // (the oldest that takes it), so two SendMessage operations need two Text entries.
        // Precedence: a step some expectation is waiting for now; then the start of an implied
        // expectation; only then a late step of another. So a dropped step reads as missing,
        // not as the next similar notification arriving out of order.
        let mut matched = offer_all(&mut ix.instances, &matcher, false, now_ms, timeout_ms, &got)
            .map(|f| findings.extend(f))
            .is_some();

        // Implied expectations start from what they recognise. A multi-entry log update is a
        // history batch replaying the past, so it never starts one. When a skipped step of a live
        // expectation matches too, the more specific pattern wins, the late step on a tie: a
        // ParticipantsUpdated without the customer is the customer leaving rather than a late
        // "some ParticipantsUpdated" of Accept, but a ParticipantsUpdated without the removed
        // agent is the remover's late step rather than "another agent left".
        let late_claim = if matched {
            None
        } else {
            ix.instances.iter().filter_map(|i| i.awaits_late(&matcher)).max()
        };
        if !matched && entries.len() <= 1 {
            for exp in rules::implied(profile) {
                let allowed = match exp.guard {
                    Guard::None => true,
                    Guard::ChattingNotLeaving => {
                        ix.state == Some(InteractionState::Chatting) && !ix.exiting
                    }
                };
                if !allowed {
                    continue;
                }
                let hit = exp.triggers.iter().copied().find(|&t| {
                    exp.steps.get(t).is_some_and(|s| {
                        matcher.matches(&s.pattern, None)
                            && late_claim.is_none_or(|c| c < s.pattern.specificity())
                    })
                });
                if let Some(t) = hit {
                    let mut inst = Instance::new(exp, None, now_ms, timeout_ms);
                    inst.seen = 1u64 << t;
                    inst.cursor = t + 1;
                    ix.instances.push(inst);
                    matched = true;
                    break;
                }
            }
        }

        if !matched {
            matched = offer_all(&mut ix.instances, &matcher, true, now_ms, timeout_ms, &got)
                .map(|f| findings.extend(f))
                .is_some();
        }

        // Strict: a state change nobody explains must be one of the few that need no operation.
        if !matched && strict {
            match (kind, resource) {
                (Some(NotificationType::StatusChange), Some(r))
                    if !rules::unexplained_status_change_allowed(ix.state, r.state) =>
                {
                    findings.push(Finding {
                        kind: ViolationKind::Unexpected,
                        expected: format!(
                            "no status change from {} without an operation",
                            ix.state.map_or("nothing", |s| s.as_str())
                        ),
                        got: got.clone(),
                    })
                }
                (Some(NotificationType::ParticipantsUpdated), Some(r))
                    if ix.state.is_some_and(|s| s != r.state) =>
                {
                    findings.push(Finding {
                        kind: ViolationKind::Unexpected,
                        expected: format!(
                            "a ParticipantsUpdated keeping the state {}",
                            ix.state.map_or("", |s| s.as_str())
                        ),
                        got: got.clone(),
                    })
                }
                _ => {}
            }
        }

        // Update what the agent knows. The documented profile trusts only StatusChange for the
        // state: the FB RemoveParticipant seed prints `Completed` in a ParticipantsUpdated for
        // an agent who stays (§13.5).
        let mut terminal = false;
        if let (Some(kind), Some(r)) = (kind, resource) {
            let carries_state = match kind {
                NotificationType::StatusChange => true,
                NotificationType::ParticipantsUpdated => strict,
                _ => false,
            };
            if carries_state {
                ix.state = Some(r.state);
                terminal = r.state.is_terminal();
            }
            // Minimal samples carry `participants: []`; only trust an empty list from a
            // ParticipantsUpdated.
            if kind == NotificationType::ParticipantsUpdated || !r.participants.is_empty() {
                ix.participants.clone_from(&r.participants);
            }
        }
        ix.instances.retain(|i| !i.done());

        if terminal {
            if let Some(pos) = self.live.iter().position(|i| i.id == id) {
                let ix = self.live.swap_remove(pos);
                for inst in ix.instances.into_iter().filter(|i| i.deadline.is_some()) {
                    // An operation sent just before the end, of which nothing arrived, may be
                    // refused by the server (its request raced the end): hold it until the
                    // timeout so `operation_failed` can withdraw it.
                    if inst.op.is_some() && inst.seen == 0 && self.limbo.len() < MAX_LIMBO {
                        let report_at = now_ms.saturating_add(self.timeout_ms);
                        self.limbo.push(Limbo {
                            id: id.clone(),
                            inst,
                            got: got.clone(),
                            report_at,
                        });
                        continue;
                    }
                    for step in inst.pending() {
                        findings.push(Finding {
                            kind: ViolationKind::Missing,
                            expected: inst.describe(step),
                            got: format!("the interaction ended first: {got}"),
                        });
                    }
                }
            }
            if self.ended.len() >= ENDED_MEMORY {
                self.ended.pop_front();
            }
            self.ended.push_back(Ended { id: id.clone(), terminal: fp });
        }
        self.finish_findings(now_ms, &id, findings)
    }

    /// Reports the required steps whose timeout has expired, and forgets their expectations.
    pub fn poll_timeouts(&mut self, now_ms: u64) -> Vec<Violation> {
        let timeout_ms = self.timeout_ms;
        let mut out = Vec::new();
        let mut per_ix = Vec::new();
        let (due, held): (Vec<Limbo>, Vec<Limbo>) =
            std::mem::take(&mut self.limbo).into_iter().partition(|l| l.report_at <= now_ms);
        self.limbo = held;
        for l in due {
            let findings = l
                .inst
                .pending()
                .map(|step| Finding {
                    kind: ViolationKind::Missing,
                    expected: l.inst.describe(step),
                    got: format!("the interaction ended first: {}", l.got),
                })
                .collect();
            per_ix.push((l.id, findings));
        }
        for ix in &mut self.live {
            let mut findings = Vec::new();
            for inst in ix.instances.iter_mut() {
                if inst.expired || inst.deadline.is_none_or(|d| d > now_ms) {
                    continue;
                }
                for step in inst.pending() {
                    findings.push(Finding {
                        kind: ViolationKind::Missing,
                        expected: inst.describe(step),
                        got: format!("nothing within {timeout_ms} ms"),
                    });
                }
                inst.expired = true;
            }
            ix.instances.retain(|i| !i.done());
            if !findings.is_empty() {
                per_ix.push((ix.id.clone(), findings));
            }
        }
        for (id, findings) in per_ix {
            out.extend(self.finish_findings(now_ms, &id, findings));
        }
        out
    }

    /// Ends the run: expired steps as in [`Self::poll_timeouts`], then every required step still
    /// owed is missing (call this after the run has drained, not while replies may still come).
    /// Expectations that never armed (a consult nobody accepted) are dropped silently.
    pub fn finish(&mut self, now_ms: u64) -> Vec<Violation> {
        for l in &mut self.limbo {
            l.report_at = now_ms;
        }
        let mut out = self.poll_timeouts(now_ms);
        let live = std::mem::take(&mut self.live);
        for ix in live {
            let mut findings = Vec::new();
            for inst in ix.instances.iter().filter(|i| i.deadline.is_some()) {
                for step in inst.pending() {
                    findings.push(Finding {
                        kind: ViolationKind::Missing,
                        expected: inst.describe(step),
                        got: "nothing before the run ended".to_owned(),
                    });
                }
            }
            out.extend(self.finish_findings(now_ms, &ix.id, findings));
        }
        out
    }

    /// The number of interactions being tracked (for tests and memory accounting).
    pub fn live_interactions(&self) -> usize {
        self.live.len()
    }

    fn interaction_mut(&mut self, id: &str, now_ms: u64) -> &mut Interaction {
        let pos = match self.live.iter().position(|i| i.id == id) {
            Some(pos) => pos,
            None => {
                if self.live.len() >= MAX_INTERACTIONS {
                    if let Some(oldest) =
                        (0..self.live.len()).min_by_key(|&i| self.live[i].last_active_ms)
                    {
                        self.live.swap_remove(oldest);
                    }
                }
                self.live.push(Interaction::new(id, now_ms));
                self.live.len() - 1
            }
        };
        let ix = &mut self.live[pos];
        ix.last_active_ms = now_ms;
        ix
    }

    fn remember(&mut self, id: &str, rendering: &str) {
        if self.recent.len() >= CONTEXT_RING {
            self.recent.pop_front();
        }
        self.recent.push_back((id.to_owned(), rendering.to_owned()));
    }

    fn context(&self, id: &str) -> Vec<String> {
        let mut ctx: Vec<String> = self
            .recent
            .iter()
            .rev()
            .filter(|(i, _)| i == id)
            .take(CONTEXT_SHOWN)
            .map(|(_, r)| r.clone())
            .collect();
        ctx.reverse();
        ctx
    }

    fn finish_findings(&self, now_ms: u64, id: &str, findings: Vec<Finding>) -> Vec<Violation> {
        if findings.is_empty() {
            return Vec::new();
        }
        let context = self.context(id);
        findings
            .into_iter()
            .map(|f| Violation {
                kind: f.kind,
                agent: self.name.clone(),
                interaction: id.to_owned(),
                expected: f.expected,
                got: f.got,
                context: context.clone(),
                at_ms: now_ms,
            })
            .collect()
    }
}
