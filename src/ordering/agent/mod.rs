//! The per-agent checker: tracks each interaction the agent is in, matches what arrives against
//! the expectations of [`super::rules`], and checks the per-interaction invariants.
//!
//! `mod.rs` holds the [`AgentChecker`] API and what it keeps per interaction; [`observe`] runs
//! one notification through the checker's phases; [`instance`] is a live expectation and how a
//! notification is offered to it; [`matcher`] decides whether a notification fits a pattern.

mod bounds;
mod instance;
mod matcher;
mod observe;

use std::collections::VecDeque;

pub use self::bounds::RETAINED_BYTES_BOUND;
use self::bounds::retained_id;
use self::instance::{Instance, is_exit};
use super::rules;
use super::{Party, Profile, Violation, ViolationKind};
use crate::gws::model::{Media, Notification, Participant};
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

/// What [`AgentChecker::observe`] found in one notification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observed<T> {
    /// What it breaks.
    pub violations: Vec<Violation>,
    /// The operations it settles: it is the last notification the agent is owed for them
    /// (the steps [`rules::Settle`] marks), oldest operation first.
    pub settled: Vec<Settled<T>>,
    /// What it means to a flow on its interaction (`ordering::events`). Computed for every
    /// notification about a live interaction, duplicates included, so a flow sees what it
    /// receives.
    pub events: crate::ordering::AwaitEvents,
}

impl<T> Default for Observed<T> {
    fn default() -> Self {
        Observed { violations: Vec::new(), settled: Vec::new(), events: Default::default() }
    }
}

/// An operation whose last owed notification has arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settled<T> {
    /// An operation this agent started; `token` is what the caller gave
    /// [`AgentChecker::operation_started`] (for the engine, the operation's intended start).
    Operation { op: Capability, token: T },
    /// This agent's own removal from the interaction completed: that settles the
    /// RemoveParticipantFromConference *another* agent sent, whose start only the caller knows
    /// (it correlates by interaction and removed agent).
    Removal,
}

/// What the agent knows about one interaction.
#[derive(Debug)]
struct Interaction<T> {
    id: String,
    state: Option<InteractionState>,
    last_index: Option<u64>,
    /// Recent log updates: entries carry an index, so any identical repeat is a duplicate.
    fingerprints: VecDeque<u64>,
    /// The last state change: a state change identical to the previous one is a duplicate, but
    /// one identical to an older one is not (the roster can go A, B, A again).
    last_state_fp: Option<u64>,
    participants: Vec<Participant>,
    instances: Vec<Instance<T>>,
    /// The agent started Leave, Complete, Transfer or Reject.
    exiting: bool,
    /// A ParticipantsUpdated(LeftChat) came: this agent is being removed ([`super::events`]).
    removing: bool,
    seen_any: bool,
    last_active_ms: u64,
}

impl<T> Interaction<T> {
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
            removing: false,
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
///
/// `T` is the caller's token for an operation it starts (the engine's intended start time;
/// `()` in tests): the checker keeps it opaque and hands it back in [`Settled::Operation`], so
/// the caller measures without keeping its own list of pending operations.
#[derive(Debug)]
pub struct AgentChecker<T = ()> {
    name: String,
    me: Party,
    media: Media,
    profile: Profile,
    timeout_ms: u64,
    live: Vec<Interaction<T>>,
    ended: VecDeque<Ended>,
    /// Recent notifications by interaction id, for the context of a violation.
    recent: VecDeque<(String, Recent)>,
    /// Expectations of operations whose interaction ended before anything of them arrived.
    limbo: Vec<Limbo<T>>,
}

/// A recent notification kept for context: its JSON as it arrived, or its rendering.
#[derive(Debug)]
enum Recent {
    Raw(Box<str>),
    Text(String),
}

impl Recent {
    fn text(&self) -> String {
        match self {
            Recent::Raw(raw) => match serde_json::from_str::<Notification>(raw) {
                Ok(n) => bounds::bounded_text(super::render(&n)),
                // It decoded once on arrival; the same bytes decode the same way.
                Err(_) => "unknown message".to_owned(),
            },
            Recent::Text(text) => text.clone(),
        }
    }

    /// The heap bytes it owns.
    fn heap_bytes(&self) -> usize {
        match self {
            Recent::Raw(raw) => raw.len(),
            Recent::Text(text) => text.capacity(),
        }
    }
}

/// An expectation waiting to see whether its operation was refused.
#[derive(Debug)]
struct Limbo<T> {
    id: String,
    inst: Instance<T>,
    got: String,
    report_at: u64,
}

/// Bound on held expectations, so a server that ends everything early cannot grow memory.
const MAX_LIMBO: usize = 64;

impl<T: Copy> AgentChecker<T> {
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
    /// ignored otherwise). `token` comes back in [`Settled::Operation`] when the operation
    /// settles. An operation on an interaction that already ended is ignored: the server will
    /// refuse it.
    pub fn operation_started(
        &mut self,
        now_ms: u64,
        interaction: &str,
        op: Capability,
        target: Option<Party>,
        token: T,
    ) {
        let interaction = &*retained_id(interaction);
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
            inst.op = Some((op, token));
            ix.instances.push(inst);
        }
    }

    /// Takes up an interaction the agent already had before it crashed, as `GET /api/v2/me`
    /// shows it now: a checker made after the crash starts from that state (no invitation is
    /// owed, nothing pending before the crash is owed either), so what arrives next is judged
    /// against the interaction as it is, not as it began. Indices start over: the first one
    /// seen after this sets the bar.
    pub fn adopt(
        &mut self,
        now_ms: u64,
        interaction: &str,
        state: InteractionState,
        participants: Vec<Participant>,
    ) {
        self.ended.retain(|e| e.id != interaction);
        let ix = self.interaction_mut(interaction, now_ms);
        ix.state = Some(state);
        ix.participants = participants;
        ix.seen_any = true;
    }

    /// Withdraws what [`Self::operation_started`] registered for an operation the server refused
    /// (statusCode ≠ 0 or an `Error` notification): a failed request owes no notifications, and
    /// it is counted as an error elsewhere, not as an ordering violation. Removes the most recent
    /// such expectation that nothing has arrived for yet (else the most recent one).
    pub fn operation_failed(&mut self, interaction: &str, op: Capability) {
        let interaction = &*retained_id(interaction);
        if let Some(pos) = self
            .limbo
            .iter()
            .rposition(|l| l.id == interaction && l.inst.op.is_some_and(|o| o.0 == op))
        {
            self.limbo.remove(pos);
            return;
        }
        let Some(ix) = self.live.iter_mut().find(|i| i.id == interaction) else {
            return;
        };
        let of_op = |i: &Instance<T>| i.op.is_some_and(|o| o.0 == op);
        let pos = ix
            .instances
            .iter()
            .rposition(|i| of_op(i) && i.seen == 0)
            .or_else(|| ix.instances.iter().rposition(of_op));
        if let Some(pos) = pos {
            ix.instances.remove(pos);
        }
        if is_exit(op) {
            ix.exiting = ix.instances.iter().any(|i| i.op.is_some_and(|o| is_exit(o.0)));
        }
    }

    /// Reports the required steps whose timeout has expired, and forgets their expectations.
    pub fn poll_timeouts(&mut self, now_ms: u64) -> Vec<Violation> {
        let timeout_ms = self.timeout_ms;
        let mut out = Vec::new();
        let mut per_ix = Vec::new();
        let (due, held): (Vec<Limbo<T>>, Vec<Limbo<T>>) =
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
        self.finish_with_grace(now_ms, 0)
    }

    /// [`Self::finish`] for a caller that stopped reading its stream at `now_ms`: an expectation
    /// armed less than `grace_ms` before then may have its notifications still on the wire, so
    /// it is dropped unreported rather than called missing (nothing invented). Operations whose
    /// interaction already ended wait in limbo only for a refusal, which the caller has had by
    /// now, so they are reported whatever their age.
    pub fn finish_with_grace(&mut self, now_ms: u64, grace_ms: u64) -> Vec<Violation> {
        for l in &mut self.limbo {
            l.report_at = now_ms;
        }
        let mut out = self.poll_timeouts(now_ms);
        let live = std::mem::take(&mut self.live);
        let timeout_ms = self.timeout_ms;
        // An armed expectation's deadline is its arming time plus the timeout.
        let settled_in_time = |i: &&Instance<T>| {
            i.deadline
                .is_some_and(|d| d.saturating_sub(timeout_ms).saturating_add(grace_ms) <= now_ms)
        };
        for ix in live {
            let mut findings = Vec::new();
            for inst in ix.instances.iter().filter(settled_in_time) {
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

    /// Whether an operation on `interaction`, or this agent's removal from it, still waits for
    /// the notification that settles it (also after its timeout: it may still come late). A
    /// flow keeps listening while this holds, for a bounded time.
    pub fn settles_pending(&self, interaction: &str) -> bool {
        let interaction = &*retained_id(interaction);
        self.live
            .iter()
            .find(|i| i.id == interaction)
            .is_some_and(|ix| ix.instances.iter().any(|i| i.settle_pending()))
    }

    /// The number of interactions being tracked (for tests and memory accounting).
    pub fn live_interactions(&self) -> usize {
        self.live.len()
    }

    fn interaction_mut(&mut self, id: &str, now_ms: u64) -> &mut Interaction<T> {
        interaction_in(&mut self.live, id, now_ms)
    }

    fn remember(&mut self, id: &str, note: &observe::Note<'_>, raw: Option<Box<str>>) {
        if self.recent.len() >= CONTEXT_RING {
            self.recent.pop_front();
        }
        // Rendering waits until a violation shows it: copying the bytes costs far less. Bytes
        // over the bound are rendered now, so the ring stays bounded; `id` is a retained key.
        let kept = match raw {
            Some(raw) if raw.len() <= bounds::MAX_RAW_CONTEXT_BYTES => Recent::Raw(raw),
            _ => Recent::Text(note.got()),
        };
        self.recent.push_back((id.to_owned(), kept));
    }

    fn context(&self, id: &str) -> Vec<String> {
        let mut ctx: Vec<String> = self
            .recent
            .iter()
            .rev()
            .filter(|(i, _)| i == id)
            .take(CONTEXT_SHOWN)
            .map(|(_, r)| r.text())
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

/// The live interaction `id`, added if new (dropping the least recently active past
/// [`MAX_INTERACTIONS`]). A function of the list alone, so a caller can hold the checker's other
/// fields (its `me`) at the same time without cloning them.
fn interaction_in<'a, T>(
    live: &'a mut Vec<Interaction<T>>,
    id: &str,
    now_ms: u64,
) -> &'a mut Interaction<T> {
    let pos = match live.iter().position(|i| i.id == id) {
        Some(pos) => pos,
        None => {
            if live.len() >= MAX_INTERACTIONS
                && let Some(oldest) = (0..live.len()).min_by_key(|&i| live[i].last_active_ms)
            {
                live.swap_remove(oldest);
            }
            live.push(Interaction::new(id, now_ms));
            live.len() - 1
        }
    };
    let ix = &mut live[pos];
    ix.last_active_ms = now_ms;
    ix
}
