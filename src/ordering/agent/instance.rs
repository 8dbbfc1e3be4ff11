//! A live copy of one expectation for one interaction ([`Instance`]), how a notification is
//! offered to it, and to all of an interaction's instances at once ([`offer_all`]).

use smallvec::SmallVec;

use super::super::rules::{Clock, Expectation, Need, Settle};
use super::super::{Party, ViolationKind};
use super::matcher::Matcher;
use super::{Finding, Settled};
use crate::gws::states::Capability;

/// A live copy of an [`Expectation`] for one interaction.
#[derive(Debug)]
pub(super) struct Instance<T> {
    pub(super) exp: &'static Expectation,
    /// The operation that created it and the caller's token for it (`None` for implied
    /// expectations).
    pub(super) op: Option<(Capability, T)>,
    pub(super) target: Option<Party>,
    /// Bit `i` set: step `i` has arrived.
    pub(super) seen: u64,
    /// Steps before this index have either arrived or been skipped.
    pub(super) cursor: usize,
    /// `None` until armed ([`Clock::FromFirstStep`]).
    pub(super) deadline: Option<u64>,
    /// Its missing steps have been reported; it stays to absorb them silently if they come
    /// late, so one late step is one violation, not two.
    pub(super) expired: bool,
}

pub(super) enum Offer {
    NoMatch,
    /// Step `step` arrived in place (or, after the timeout, at all: absorbed silently).
    InPlace {
        step: usize,
    },
    /// Step `late` arrived after step `after`.
    Late {
        late: usize,
        after: usize,
    },
}

impl<T: Copy> Instance<T> {
    pub(super) fn new(
        exp: &'static Expectation,
        target: Option<Party>,
        now_ms: u64,
        timeout_ms: u64,
    ) -> Self {
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
    pub(super) fn offer(
        &mut self,
        m: &Matcher<'_>,
        late: bool,
        now_ms: u64,
        timeout_ms: u64,
    ) -> Offer {
        let steps = self.exp.steps;
        if self.expired {
            for (i, step) in steps.iter().enumerate() {
                if !self.is_seen(i) && m.matches(&step.pattern, self.target.as_ref()) {
                    self.seen |= 1u64 << i;
                    return Offer::InPlace { step: i };
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
                return Offer::InPlace { step: i };
            }
        }
        Offer::NoMatch
    }

    /// How specific the most specific skipped step before the cursor that would take this
    /// notification is, if there is one.
    pub(super) fn awaits_late(&self, m: &Matcher<'_>) -> Option<u8> {
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
    pub(super) fn pending(&self) -> impl Iterator<Item = usize> + '_ {
        let expired = self.expired;
        self.exp
            .steps
            .iter()
            .enumerate()
            .filter(move |(i, s)| !expired && s.need == Need::Required && !self.is_seen(*i))
            .map(|(i, _)| i)
    }

    pub(super) fn done(&self) -> bool {
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

    /// What the arrival of step `step` settles, if anything. A settling step settles whenever
    /// it arrives (late, or after the timeout too): the latency is measured either way, and
    /// the lateness is a violation of its own.
    pub(super) fn settled_by(&self, step: usize) -> Option<Settled<T>> {
        match self.exp.settle {
            Settle::Own(i) if i == step => {
                self.op.map(|(op, token)| Settled::Operation { op, token })
            }
            Settle::Removal(i) if i == step => Some(Settled::Removal),
            _ => None,
        }
    }

    /// Whether this expectation's settling step has yet to arrive.
    pub(super) fn settle_pending(&self) -> bool {
        self.exp.settle.step().is_some_and(|i| !self.is_seen(i))
    }

    pub(super) fn describe(&self, i: usize) -> String {
        let pattern = self.exp.steps.get(i).map(|s| s.pattern.to_string()).unwrap_or_default();
        let (name, steps) = (self.exp.name, self.exp.steps.len());
        // An implied expectation about one agent says which (an operation's target is in it).
        match self.target.as_ref().and_then(|t| t.nickname.as_deref()) {
            Some(who) if self.exp.per_agent => {
                format!("{name} ({who}) step {}/{steps}: {pattern}", i + 1)
            }
            _ => format!("{name} step {}/{steps}: {pattern}", i + 1),
        }
    }
}

/// Operations by which the agent leaves an interaction itself.
pub(super) fn is_exit(op: Capability) -> bool {
    matches!(
        op,
        Capability::Leave | Capability::Complete | Capability::Transfer | Capability::Reject
    )
}

/// Offers a notification to every instance, at most one per expectation; whether any took it.
/// Its out-of-order findings go to `findings`, what it settles to `settled`.
#[allow(clippy::too_many_arguments)]
pub(super) fn offer_all<T: Copy>(
    instances: &mut [Instance<T>],
    m: &Matcher<'_>,
    late: bool,
    now_ms: u64,
    timeout_ms: u64,
    note: &super::observe::Note<'_>,
    findings: &mut Vec<Finding>,
    settled: &mut Vec<Settled<T>>,
) -> bool {
    // The expectations this notification matched so far: an interaction runs a handful of
    // instances at once, so this stays on the stack (it was an allocation per notification).
    // An expectation's instances about different agents (implied per agent) each take their
    // own agent's step.
    let mut taken: SmallVec<[usize; 8]> = SmallVec::new();
    for i in 0..instances.len() {
        let same = |j: &usize| {
            let (a, b) = (&instances[*j], &instances[i]);
            a.exp.name == b.exp.name && a.target == b.target
        };
        if taken.iter().any(same) {
            continue;
        }
        let inst = &mut instances[i];
        let step = match inst.offer(m, late, now_ms, timeout_ms) {
            Offer::NoMatch => continue,
            Offer::InPlace { step } => step,
            Offer::Late { late, after } => {
                findings.push(Finding {
                    kind: ViolationKind::OutOfOrder,
                    expected: format!("{} before step {}", inst.describe(late), after + 1),
                    got: note.got(),
                });
                late
            }
        };
        settled.extend(inst.settled_by(step));
        taken.push(i);
    }
    !taken.is_empty()
}
