//! The join of a run's ordering violations with the fault ledger: which injected faults the
//! checker found (**recall**) and which violations a fault explains (**precision**), per fault
//! kind. Pure: the caller hands in both lists and how the two clocks line up.
//!
//! The rules (docs/faults.md, "Joining violations to records"): a record explains a violation
//! with the same agent and interaction, a kind the fault can produce (table in [`explains`]),
//! and a time no later than the violation's. Violations are taken in time order, each matched
//! to the earliest unmatched such record, or, when none is left, to one an earlier violation
//! holds if that violation can move to another record that explains it (a maximum one-to-one
//! matching, `Search`): a matched record is a fault the checker **found**. One fault can break
//! more than one expectation (a dropped step is `missing`, and the step after it may be
//! `out-of-order`); a violation left over that an already-matched record could also have
//! produced is **explained** by it all the same, but finds no second fault. A record left unmatched is a fault the checker **missed**; a violation
//! nothing explains is **unexplained**. A `never-offered` (named by the customer's chat id) finds
//! every dropped invitation of that chat at once: each was needed for the chat to go unoffered.
//!
//! Latency-only kinds (latency, error, request-stall, slow-customer, expire, ws-close,
//! connect-starvation, stall, and the proxy's kinds) explain no violation: they are counted, and have no recall. Nor
//! has a delay that nothing overtook in an order the protocol promises (the ledger's
//! `overtaken`: protocol.md §6.11 and the per-operation sequences of §6): it broke no promise,
//! so no ordering checker may report it; it is counted as **unobservable**, yet still explains
//! a violation it is found next to (a `missing` judged at the end of the run while it was on
//! its timer). So is a drop that follows a dropped invitation in the same part of an
//! interaction (the agent heard nothing of it).
//!
//! Clocks: a violation's `at_ms` is the checker's clock (zero when the run began), a record's
//! `at_ms` the ledger's (zero when the injector was made). `offset_ms` is how much later the
//! run's zero is than the ledger's, so a record happened at `at_ms - offset_ms` on the run's
//! clock; [`SLACK_MS`] absorbs the two clocks' truncation to whole milliseconds.

use std::collections::{BTreeMap, HashMap};

use super::ledger::LedgerRecord;
use super::spec::FaultKind;
use crate::ordering::Violation;
use crate::vocab::ViolationKind;

/// How much later than a violation a record may be stamped and still explain it: both times are
/// truncated to whole milliseconds, and the offset between the clocks is too.
pub const SLACK_MS: i64 = 2;

/// The violation kinds a fault of `kind` can produce (empty for latency-only kinds).
pub fn explains(kind: FaultKind) -> &'static [ViolationKind] {
    use ViolationKind as V;
    match kind {
        // A dropped message, invitation or revocation is owed across participants too; an agent
        // whose invitation was dropped reads the next notification of that interaction (the
        // Revoked of its timeout) as unexpected.
        FaultKind::Drop => &[
            V::Missing,
            V::Unexpected,
            V::OutOfOrder,
            V::NotDelivered,
            V::NotInvited,
            V::NotRevoked,
            V::NeverOffered,
        ],
        FaultKind::Duplicate => &[V::Duplicate],
        // A swap that puts a terminal state first reads as the step before it missing, then
        // arriving after the end.
        FaultKind::Swap => &[V::OutOfOrder, V::Missing, V::Unexpected],
        // A delayed MessageLogUpdated lands after a later one: its index goes back.
        // Or a delay longer than a cross-participant timeout.
        FaultKind::Delay => &[
            V::OutOfOrder,
            V::Missing,
            V::Unexpected,
            V::IndexRegression,
            V::NotDelivered,
            V::NotInvited,
            V::NotRevoked,
        ],
        FaultKind::Late => &[V::Unexpected, V::Duplicate],
        FaultKind::IndexRegression => &[V::IndexRegression],
        FaultKind::Leak => &[V::VisibilityLeak],
        FaultKind::Latency
        | FaultKind::Error
        | FaultKind::RequestStall
        | FaultKind::Expire
        | FaultKind::WsClose
        | FaultKind::ConnectStarvation
        | FaultKind::Stall
        | FaultKind::SlowCustomer
        | FaultKind::ProxyLatency
        | FaultKind::ProxyStall
        | FaultKind::ProxyReset
        | FaultKind::ProxyBandwidth
        // Client-side chaos is latency-only too: a crash's pending expectations are forgotten,
        // not reported (docs/faults.md, "Client-side chaos").
        | FaultKind::AgentCrash
        | FaultKind::AgentRecover
        | FaultKind::ReconnectStorm
        | FaultKind::SlowConsumer
        | FaultKind::CustomerAbandon => &[],
    }
}

/// Whether faults of `kind` should show up as ordering violations (and so have a recall).
pub fn is_ordering(kind: FaultKind) -> bool {
    !explains(kind).is_empty()
}

/// Whether this record's fault could show in the order of what an agent received: a delay
/// only when a later notification overtook it in an order the protocol promises. (A drop after a dropped invitation cannot show
/// either, but that takes the other records to tell: the join finds those.)
pub fn is_observable(r: &LedgerRecord) -> bool {
    is_ordering(r.kind) && (r.kind != FaultKind::Delay || r.overtaken == Some(true))
}

/// The ledger's name of an invitation.
const INVITED: &str = "StatusChange(Invited)";

/// Whether a record is the drop of an invitation (the first notification of an agent's part in
/// an interaction).
fn is_dropped_invitation(r: &LedgerRecord) -> bool {
    r.kind == FaultKind::Drop && r.ordinal == Some(0) && r.notification.as_deref() == Some(INVITED)
}

/// Per record: a drop that no checker could see because the agent was sent nothing of that
/// part of the interaction before it (its invitation and every notification since were
/// dropped: the ordinals 0, 1, ... of the part, each dropped). The agent knows nothing of the
/// interaction, so nothing it is sent after can be judged; the invitation's record carries the
/// finding (the customer's `never-offered`, or the agent's `unexpected` at a later
/// notification).
fn unseen(records: &[LedgerRecord]) -> Vec<bool> {
    let mut out = vec![false; records.len()];
    // (agent, interaction) → the ordinal of the last record of an unbroken run of drops from
    // a dropped invitation.
    let mut chains: HashMap<(&str, &str), u32> = HashMap::new();
    for (i, r) in records.iter().enumerate() {
        let (Some(agent), Some(ixn), Some(ordinal)) =
            (r.agent.as_deref(), r.interaction.as_deref(), r.ordinal)
        else {
            continue;
        };
        let key = (agent, ixn);
        if is_dropped_invitation(r) {
            chains.insert(key, 0);
        } else if r.kind == FaultKind::Drop && chains.get(&key).is_some_and(|&o| o + 1 == ordinal) {
            out[i] = true;
            chains.insert(key, ordinal);
        } else {
            chains.remove(&key);
        }
    }
    out
}

/// One fault kind's side of the join.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct KindJoin {
    /// Ledger records of this kind (the kept ones).
    pub records: u64,
    /// Records whose fault no ordering checker could see (a delay nothing the protocol orders
    /// against it overtook): not in the recall.
    pub unobservable: u64,
    /// Records matched one to one with a violation: faults the checker found.
    pub found: u64,
    /// Violations explained by a record of this kind (matched, or produced besides).
    pub explained: u64,
    /// Unexplained violations of a kind this fault could have produced: what counts against its
    /// precision (with several kinds in a plan, against each that could have produced it).
    pub unexplained: u64,
}

impl KindJoin {
    /// found / observable records; `None` for a latency-only kind or without observable
    /// records.
    pub fn recall(&self, kind: FaultKind) -> Option<f64> {
        let observable = self.records - self.unobservable;
        (is_ordering(kind) && observable > 0).then(|| self.found as f64 / observable as f64)
    }

    /// explained / (explained + unexplained); `None` when no violation concerns the kind.
    pub fn precision(&self) -> Option<f64> {
        let all = self.explained + self.unexplained;
        (all > 0).then(|| self.explained as f64 / all as f64)
    }
}

/// The whole join.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Join {
    /// Every kind with records or concerned violations, in [`FaultKind`] order.
    pub kinds: BTreeMap<FaultKind, KindJoin>,
    /// Observable records of ordering kinds, and how many of them were found.
    pub ordering_records: u64,
    pub found: u64,
    /// Violations joined, and how many a record explains.
    pub violations: u64,
    pub explained: u64,
    /// Indices (into the records given) of ordering faults the checker missed, in ledger order.
    pub missed: Vec<usize>,
    /// Indices (into the violations given) that no record explains, in time order.
    pub unexplained: Vec<usize>,
}

impl Join {
    /// found / ordering records; `None` without ordering records.
    pub fn recall(&self) -> Option<f64> {
        (self.ordering_records > 0).then(|| self.found as f64 / self.ordering_records as f64)
    }

    /// explained / violations; `None` without violations.
    pub fn precision(&self) -> Option<f64> {
        (self.violations > 0).then(|| self.explained as f64 / self.violations as f64)
    }
}

/// The key a record and a violation must share. A leak's record names the entry's author and
/// its violation the customer who saw it, so leaks join on the customer's chat id alone (the
/// record's `chat`; the customer's checker reports that id as the interaction).
fn key(kind_is_leak: bool, agent: &str, interaction: &str) -> (String, String) {
    if kind_is_leak {
        (String::new(), interaction.to_owned())
    } else {
        (agent.to_owned(), interaction.to_owned())
    }
}

/// The owner of the records a `never-offered` found: not a violation index.
const NEVER_OFFERED: usize = usize::MAX;

/// How far [`Search::augment`] moves earlier matches to make room: a longer chain keeps the
/// earlier matches as they are (the greedy answer), which bounds the work and the stack.
const MAX_CHAIN: usize = 64;

/// The one-to-one matching of violations to records as a maximum matching: a violation takes
/// the earliest record that fits, and when every fitting record is taken, one whose violation
/// can move to another record that fits it (an augmenting path). Taking the first free record
/// alone could spend a record on a violation another record also explains, and leave the only
/// record a later violation fits unmatched: a fault found reported missed (an `out-of-order`
/// that took a delay, which a swap could also explain, and the `index-regression` after it,
/// which only the delay explains).
struct Search {
    /// `turn` of the search that last visited each record.
    stamp: Vec<u64>,
    turn: u64,
}

impl Search {
    fn augment<'a>(
        &mut self,
        vi: usize,
        owner: &mut [Option<usize>],
        candidates: &dyn Fn(usize) -> &'a [usize],
        fits: &dyn Fn(usize, usize) -> bool,
        depth: usize,
    ) -> bool {
        // The earliest free record first, as the rule says; earlier matches move only when
        // no record that fits is free.
        if let Some(&ri) = candidates(vi).iter().find(|&&ri| owner[ri].is_none() && fits(vi, ri)) {
            owner[ri] = Some(vi);
            return true;
        }
        for &ri in candidates(vi) {
            if self.stamp[ri] == self.turn || !fits(vi, ri) {
                continue;
            }
            self.stamp[ri] = self.turn;
            let Some(other) = owner[ri] else { continue };
            if other != NEVER_OFFERED
                && depth < MAX_CHAIN
                && self.augment(other, owner, candidates, fits, depth + 1)
            {
                owner[ri] = Some(vi);
                return true;
            }
        }
        false
    }
}

/// Joins `violations` with `records` (see the module docs for the rules and `offset_ms`).
pub fn join(records: &[LedgerRecord], violations: &[Violation], offset_ms: i64) -> Join {
    let mut out = Join::default();
    let unseen = unseen(records);
    let observable = |i: usize| is_observable(&records[i]) && !unseen[i];
    // Records by (agent, interaction), each list in ledger order (earliest first).
    let mut by_key: HashMap<(String, String), Vec<usize>> = HashMap::new();
    // Dropped invitations by the customer's chat id: a `never-offered` names the customer.
    let mut by_chat: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, r) in records.iter().enumerate() {
        let k = out.kinds.entry(r.kind).or_default();
        k.records += 1;
        if !is_ordering(r.kind) {
            continue;
        }
        if !observable(i) {
            k.unobservable += 1;
            // A delay changed when its notification arrived, if no promised order: should a
            // checker still report something of it (a `missing` judged at the end of the run
            // while it was still on its timer), the delay explains it, though it finds nothing.
            if r.kind == FaultKind::Delay {
                let agent = r.agent.as_deref().unwrap_or("");
                let interaction = r.interaction.as_deref().unwrap_or("");
                by_key.entry(key(false, agent, interaction)).or_default().push(i);
            }
            continue;
        }
        out.ordering_records += 1;
        if is_dropped_invitation(r)
            && let Some(chat) = r.chat.as_deref()
        {
            by_chat.entry(chat).or_default().push(i);
        }
        let leak = r.kind == FaultKind::Leak;
        let agent = r.agent.as_deref().unwrap_or("");
        let interaction =
            if leak { r.chat.as_deref() } else { None }.or(r.interaction.as_deref()).unwrap_or("");
        by_key.entry(key(leak, agent, interaction)).or_default().push(i);
    }
    let at = |r: &LedgerRecord| r.at_ms as i64 - offset_ms;
    // Which violation found each record (`NEVER_OFFERED` for a chat's dropped invitations,
    // which a `never-offered` finds all at once and never gives back).
    let mut owner: Vec<Option<usize>> = vec![None; records.len()];
    let mut order: Vec<usize> = (0..violations.len()).collect();
    order.sort_by_key(|&i| violations[i].at_ms);
    // Violations no record matched one to one, for the second pass.
    let mut leftover = Vec::new();
    let mut search = Search { stamp: vec![0; records.len()], turn: 0 };
    for &vi in &order {
        let v = &violations[vi];
        if v.kind == ViolationKind::NeverOffered {
            // The chat was offered to no agent because every invitation of it was dropped: the
            // violation finds each of them (many to one), not only the first.
            let mut any = false;
            for &ri in by_chat.get(v.interaction.as_str()).into_iter().flatten() {
                if owner[ri].is_none() && at(&records[ri]) <= v.at_ms as i64 + SLACK_MS {
                    owner[ri] = Some(NEVER_OFFERED);
                    out.kinds.entry(FaultKind::Drop).or_default().found += 1;
                    out.found += 1;
                    any = true;
                }
            }
            if any {
                out.kinds.entry(FaultKind::Drop).or_default().explained += 1;
                out.explained += 1;
            } else {
                leftover.push(vi);
            }
            continue;
        }
        let fits = |vi: usize, ri: usize| {
            let (v, r) = (&violations[vi], &records[ri]);
            observable(ri)
                && explains(r.kind).contains(&v.kind)
                && at(r) <= v.at_ms as i64 + SLACK_MS
        };
        let candidates = |vi: usize| {
            let v = &violations[vi];
            let leak = v.kind == ViolationKind::VisibilityLeak;
            by_key.get(&key(leak, &v.agent, &v.interaction)).map_or(&[][..], Vec::as_slice)
        };
        search.turn += 1;
        if !search.augment(vi, &mut owner, &candidates, &fits, 0) {
            leftover.push(vi);
        }
    }
    for (ri, o) in owner.iter().enumerate() {
        if o.is_some_and(|vi| vi != NEVER_OFFERED) {
            let k = out.kinds.entry(records[ri].kind).or_default();
            k.found += 1;
            k.explained += 1;
            out.found += 1;
            out.explained += 1;
        }
    }
    let matched: Vec<bool> = owner.iter().map(Option::is_some).collect();
    for vi in leftover {
        let v = &violations[vi];
        let leak = v.kind == ViolationKind::VisibilityLeak;
        let candidates = if v.kind == ViolationKind::NeverOffered {
            by_chat.get(v.interaction.as_str())
        } else {
            by_key.get(&key(leak, &v.agent, &v.interaction))
        };
        let by = candidates.and_then(|c| {
            c.iter().copied().find(|&ri| {
                let r = &records[ri];
                (matched[ri] || !observable(ri))
                    && explains(r.kind).contains(&v.kind)
                    && at(r) <= v.at_ms as i64 + SLACK_MS
            })
        });
        match by {
            Some(ri) => {
                out.kinds.entry(records[ri].kind).or_default().explained += 1;
                out.explained += 1;
            }
            None => {
                out.unexplained.push(vi);
                // Against every kind of the ledger that could have produced it.
                for (kind, k) in out.kinds.iter_mut() {
                    if explains(*kind).contains(&v.kind) {
                        k.unexplained += 1;
                    }
                }
            }
        }
    }
    out.violations = violations.len() as u64;
    out.missed = (0..records.len()).filter(|&i| observable(i) && !matched[i]).collect();
    out
}

#[cfg(test)]
mod tests;
