//! [`AgentChecker::observe`]: one notification through the checker's phases, each a function
//! here, in the order they run:
//!
//! 1. [`AgentChecker::after_end`]: anything about an interaction that already ended;
//!    then the await events the notification stands for ([`classify`]);
//! 2. [`repeat`]: an identical repeat of a recent notification;
//! 3. [`first_notification`]: strict only, the first notification must be an invitation;
//! 4. [`indices`]: log indices strictly increase;
//! 5. [`match_expectations`]: the live expectations, then the implied ones, then late steps;
//!    a match with a step that settles an operation is reported as settled;
//! 6. [`unexplained`]: strict only, a state change nothing explains;
//! 7. [`update_knowledge`]: the state and participants the agent now knows;
//! 8. [`AgentChecker::end_interaction`]: a terminal state ends the interaction and reports what
//!    is still owed.

use super::super::events::classify;
use super::super::rules::{self, Guard};
use super::super::{
    Party, Profile, ViolationKind, duplicate_checked, fingerprint, raw_fingerprint, render,
};
use super::instance::{Instance, offer_all};
use super::matcher::Matcher;
use super::{
    AgentChecker, ENDED_MEMORY, Ended, FINGERPRINTS, Finding, Interaction, Limbo, MAX_INSTANCES,
    MAX_LIMBO, Observed, Settled,
};
use crate::gws::model::{InteractionResource, LogEntry, Notification, NotificationType};
use crate::gws::states::InteractionState;

/// The parts of one notification that the phases look at.
pub(super) struct Note<'a> {
    /// The notification, rendered only when a finding needs it ([`Note::got`]).
    n: &'a Notification,
    /// Its fingerprint, when a repeat of it would be a duplicate.
    pub(super) fp: Option<u64>,
    pub(super) state_change: bool,
    pub(super) kind: Option<NotificationType>,
    pub(super) resource: Option<&'a InteractionResource>,
    pub(super) entries: &'a [LogEntry],
    /// The state a `StatusChange` announces.
    pub(super) status: Option<InteractionState>,
}

impl<'a> Note<'a> {
    /// `raw` is the notification's JSON as it arrived, when the caller has it: its fingerprint
    /// is then a hash of those bytes.
    pub(super) fn of(n: &'a Notification, raw: Option<&str>) -> Self {
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
        Note {
            n,
            fp: match raw {
                _ if !duplicate_checked(n) => None,
                Some(raw) => Some(raw_fingerprint(raw)),
                None => fingerprint(n),
            },
            state_change: state_change.is_some(),
            kind,
            resource,
            entries,
            status,
        }
    }

    /// Its short rendering, for violations: rendered on demand (about 4K instructions), since
    /// most notifications break nothing.
    pub(super) fn got(&self) -> String {
        super::bounds::bounded_text(render(self.n))
    }

    fn finding(&self, kind: ViolationKind, expected: impl Into<String>) -> Finding {
        Finding { kind, expected: expected.into(), got: self.got() }
    }
}

impl<T: Copy> AgentChecker<T> {
    /// Checks one notification the agent received: what it breaks, what it settles, and what it
    /// means to a flow.
    pub fn observe(&mut self, now_ms: u64, n: &Notification) -> Observed<T> {
        self.observe_delivery(now_ms, n, None)
    }

    /// [`AgentChecker::observe`] of a notification decoded from `raw`, its JSON as it arrived:
    /// a repeat is recognised by its bytes, and the notification is rendered only if a
    /// violation needs it (the ring of recent ones keeps the bytes).
    /// `raw` is taken as it is, owned, when the caller has it so (no copy for the ring).
    pub fn observe_raw(
        &mut self,
        now_ms: u64,
        n: &Notification,
        raw: impl Into<Box<str>>,
    ) -> Observed<T> {
        self.observe_delivery(now_ms, n, Some(raw.into()))
    }

    fn observe_delivery(
        &mut self,
        now_ms: u64,
        n: &Notification,
        raw: Option<Box<str>>,
    ) -> Observed<T> {
        let Some(id) = super::super::interaction_of(n) else {
            return Observed::default();
        };
        // Kept under a bounded key: a server's id can be of any length.
        let id = super::bounds::retained_id(id);
        let id: &str = &id;
        let note = Note::of(n, raw.as_deref());
        self.remember(id, &note, raw);

        if let Some(findings) = self.after_end(id, &note) {
            let violations = self.finish_findings(now_ms, id, findings);
            return Observed { violations, ..Observed::default() };
        }

        let profile = self.profile;
        let strict = profile == Profile::Strict;
        let timeout_ms = self.timeout_ms;
        // Borrowed beside the interaction, not cloned (two strings per notification).
        let me = &self.me;
        let ix = super::interaction_in(&mut self.live, id, now_ms);
        let events = classify(n, me, &mut ix.removing);
        let mut out = Observed { events, ..Observed::default() };

        if let Some(f) = repeat(ix, &note) {
            out.violations = self.finish_findings(now_ms, id, vec![f]);
            return out;
        }
        let mut findings = Vec::new();
        findings.extend(first_notification(ix, &note, strict));
        indices(ix, &note, &mut findings);
        let cx = MatchCx { me, profile, now_ms, timeout_ms };
        let matched = match_expectations(ix, &note, &cx, &mut findings, &mut out.settled);
        if !matched && strict {
            findings.extend(unexplained(ix, &note));
        }
        let terminal = update_knowledge(ix, &note, strict);
        ix.instances.retain(|i| !i.done());

        if terminal {
            self.end_interaction(id, now_ms, &note, &mut findings);
        }
        out.violations = self.finish_findings(now_ms, id, findings);
        out
    }

    /// Phase 1: a notification about an interaction that ended for this agent. `None` lets it
    /// through: the interaction is live, or this is a new invitation for the same id (§6.11).
    fn after_end(&mut self, id: &str, note: &Note<'_>) -> Option<Vec<Finding>> {
        let pos = self.ended.iter().position(|e| e.id == id)?;
        if note.fp.is_some() && self.ended[pos].terminal == note.fp {
            return Some(vec![note.finding(ViolationKind::Duplicate, "each notification once")]);
        }
        if note.status == Some(InteractionState::Invited) {
            self.ended.remove(pos);
            return None;
        }
        Some(vec![note.finding(
            ViolationKind::Unexpected,
            "nothing after Completed/Revoked until a new StatusChange(Invited)",
        )])
    }

    /// Phase 8: the interaction reached a terminal state. Every expectation still owed a step
    /// is missing, except an operation of which nothing arrived: it may have raced the end and
    /// be refused, so it waits in limbo until its timeout (see `operation_failed`).
    fn end_interaction(
        &mut self,
        id: &str,
        now_ms: u64,
        note: &Note<'_>,
        findings: &mut Vec<Finding>,
    ) {
        if let Some(pos) = self.live.iter().position(|i| i.id == id) {
            let ix = self.live.swap_remove(pos);
            for inst in ix.instances.into_iter().filter(|i| i.deadline.is_some()) {
                if inst.op.is_some() && inst.seen == 0 && self.limbo.len() < MAX_LIMBO {
                    let report_at = now_ms.saturating_add(self.timeout_ms);
                    let got = note.got();
                    self.limbo.push(Limbo { id: id.to_owned(), inst, got, report_at });
                    continue;
                }
                for step in inst.pending() {
                    findings.push(Finding {
                        kind: ViolationKind::Missing,
                        expected: inst.describe(step),
                        got: format!("the interaction ended first: {}", note.got()),
                    });
                }
            }
        }
        if self.ended.len() >= ENDED_MEMORY {
            self.ended.pop_front();
        }
        self.ended.push_back(Ended { id: id.to_owned(), terminal: note.fp });
    }
}

/// Phase 2: an identical repeat. A state change identical to the previous one is a duplicate
/// (one identical to an older one is not: the roster can go A, B, A again); a log update
/// identical to any recent one is, because its entries carry indices.
fn repeat<T>(ix: &mut Interaction<T>, note: &Note<'_>) -> Option<Finding> {
    let fp = note.fp?;
    let repeat = if note.state_change {
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
    repeat.then(|| note.finding(ViolationKind::Duplicate, "each notification once"))
}

/// Phase 3, §6.11 \[INF\]: the first notification about an interaction is its invitation (or
/// Chatting for auto-answer). Only strict holds a server to it.
fn first_notification<T>(
    ix: &mut Interaction<T>,
    note: &Note<'_>,
    strict: bool,
) -> Option<Finding> {
    let first = !ix.seen_any;
    ix.seen_any = true;
    let fine = matches!(note.status, Some(InteractionState::Invited | InteractionState::Chatting));
    (first && strict && !fine).then(|| {
        note.finding(
            ViolationKind::Unexpected,
            "StatusChange(Invited) (or Chatting) as the first notification",
        )
    })
}

/// Phase 4: every log index above the highest seen so far (§15.16).
fn indices<T>(ix: &mut Interaction<T>, note: &Note<'_>, findings: &mut Vec<Finding>) {
    for e in note.entries {
        if let Some(last) = ix.last_index
            && e.index <= last
        {
            findings.push(Finding {
                kind: ViolationKind::IndexRegression,
                expected: format!("a log index above {last}"),
                got: format!("{} in {}", super::super::render_entry(e), note.got()),
            });
        }
        ix.last_index = Some(ix.last_index.map_or(e.index, |l| l.max(e.index)));
    }
}

/// What matching needs besides the interaction and the notification.
struct MatchCx<'a> {
    me: &'a Party,
    profile: Profile,
    now_ms: u64,
    timeout_ms: u64,
}

/// Phase 5: offers the notification to the expectations; whether one took it.
///
/// Each live expectation takes it at most once (the oldest instance that takes it), so two
/// SendMessage operations need two Text entries. Precedence: a step some expectation is waiting
/// for now; then the start of an implied expectation; only then a late step of another. So a
/// dropped step reads as missing, not as the next similar notification arriving out of order.
fn match_expectations<T: Copy>(
    ix: &mut Interaction<T>,
    note: &Note<'_>,
    cx: &MatchCx<'_>,
    findings: &mut Vec<Finding>,
    settled: &mut Vec<Settled<T>>,
) -> bool {
    let matcher = Matcher {
        me: cx.me,
        prev: &ix.participants,
        kind: note.kind,
        resource: note.resource,
        entries: note.entries,
    };
    let (now_ms, timeout_ms) = (cx.now_ms, cx.timeout_ms);
    if offer_all(&mut ix.instances, &matcher, false, now_ms, timeout_ms, note, findings, settled) {
        return true;
    }
    let chatting_not_leaving = ix.state == Some(InteractionState::Chatting) && !ix.exiting;
    if note.entries.len() <= 1
        && start_implied(&mut ix.instances, &matcher, cx, chatting_not_leaving, settled)
    {
        return true;
    }
    offer_all(&mut ix.instances, &matcher, true, now_ms, timeout_ms, note, findings, settled)
}

/// Phase 5, second part: starts an implied expectation from what it recognises; whether one
/// started. A multi-entry log update is a history batch replaying the past, so the caller never
/// offers it here. When a skipped step of a live expectation matches too, the more specific
/// pattern wins, the late step on a tie: a ParticipantsUpdated without the customer is the
/// customer leaving rather than a late "some ParticipantsUpdated" of Accept, but a
/// ParticipantsUpdated without the removed agent is the remover's late step rather than "another
/// agent left".
fn start_implied<T: Copy>(
    instances: &mut Vec<Instance<T>>,
    matcher: &Matcher<'_>,
    cx: &MatchCx<'_>,
    chatting_not_leaving: bool,
    settled: &mut Vec<Settled<T>>,
) -> bool {
    let late_claim = instances.iter().filter_map(|i| i.awaits_late(matcher)).max();
    for exp in rules::implied(cx.profile) {
        let allowed = match exp.guard {
            Guard::None => true,
            Guard::ChattingNotLeaving => chatting_not_leaving,
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
        let Some(t) = hit else { continue };
        let targets = match exp.steps.get(t) {
            Some(step) if exp.per_agent => matcher.subjects(&step.pattern),
            _ => Vec::new(),
        };
        let targets =
            if targets.is_empty() { vec![None] } else { targets.into_iter().map(Some).collect() };
        for target in targets {
            if instances.len() >= MAX_INSTANCES {
                instances.remove(0);
            }
            let mut inst = Instance::new(exp, target, cx.now_ms, cx.timeout_ms);
            inst.seen = 1u64 << t;
            inst.cursor = t + 1;
            settled.extend(inst.settled_by(t));
            instances.push(inst);
        }
        return true;
    }
    false
}

/// Phase 6, strict only: a state change nobody explains must be one of the few that need no
/// operation, and a ParticipantsUpdated nobody explains keeps the state.
fn unexplained<T>(ix: &Interaction<T>, note: &Note<'_>) -> Option<Finding> {
    let r = note.resource?;
    match note.kind? {
        NotificationType::StatusChange
            if !rules::unexplained_status_change_allowed(ix.state, r.state) =>
        {
            Some(note.finding(
                ViolationKind::Unexpected,
                format!(
                    "no status change from {} without an operation",
                    ix.state.map_or("nothing", |s| s.as_str())
                ),
            ))
        }
        NotificationType::ParticipantsUpdated if ix.state.is_some_and(|s| s != r.state) => {
            Some(note.finding(
                ViolationKind::Unexpected,
                format!(
                    "a ParticipantsUpdated keeping the state {}",
                    ix.state.map_or("", |s| s.as_str())
                ),
            ))
        }
        _ => None,
    }
}

/// Phase 7: updates what the agent knows; whether the interaction reached a terminal state.
/// The documented profile trusts only StatusChange for the state: the FB RemoveParticipant seed
/// prints `Completed` in a ParticipantsUpdated for an agent who stays (§13.5).
fn update_knowledge<T>(ix: &mut Interaction<T>, note: &Note<'_>, strict: bool) -> bool {
    let (Some(kind), Some(r)) = (note.kind, note.resource) else {
        return false;
    };
    let carries_state = match kind {
        NotificationType::StatusChange => true,
        NotificationType::ParticipantsUpdated => strict,
        _ => false,
    };
    // Minimal samples carry `participants: []`; only trust an empty list from a
    // ParticipantsUpdated.
    if kind == NotificationType::ParticipantsUpdated || !r.participants.is_empty() {
        super::bounds::retain_participants(&mut ix.participants, &r.participants);
    }
    if carries_state {
        ix.state = Some(r.state);
        return r.state.is_terminal();
    }
    false
}
