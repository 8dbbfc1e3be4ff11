//! Whether a delayed delivery was overtaken, and in an order the protocol promises: what the
//! server publishes per agent and interaction while delays are injected, and the judgement
//! each delayed delivery gets when it finally goes out (its ledger record's `overtaken`).

use std::collections::{HashMap, VecDeque};

use crate::gws::{Notification, NotificationType};

/// Where a delivery stood in the order the server owed its recipient: its batch, then its slot
/// in the batch among the same recipient's deliveries about the same interaction (kept ones at
/// odd slots, delayed ones at the even slot before the kept one they preceded), then its rank
/// among delayed ones at one slot.
pub type Position = (u64, u32, u32);

/// What about a notification protocol.md §6.11 orders against others of the same agent and
/// interaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// A MessageLogUpdated with entries: log indices increase strictly.
    Log,
    /// `StatusChange(Completed|Revoked)`: nothing comes after it.
    Terminal,
    /// `StatusChange(Invited)`: the first notification of an agent's part.
    Invitation,
    /// A state change §6.11 orders only within its own operation's sequence (§6.1–§6.9).
    Other,
}

impl Class {
    pub fn of(n: &Notification) -> Class {
        match n {
            Notification::MessageLogUpdated(ml) if !ml.messages.is_empty() => Class::Log,
            _ if is_terminal(n) => Class::Terminal,
            _ if n.is_invitation() => Class::Invitation,
            _ => Class::Other,
        }
    }
}

/// Whether `n` is a `StatusChange` to a terminal state.
pub fn is_terminal(n: &Notification) -> bool {
    match n {
        Notification::ChatStateChangeMessage(sc)
        | Notification::FacebooksessionStateChangeMessage(sc) => {
            sc.notification_type == NotificationType::StatusChange
                && sc.resource().is_some_and(|r| r.state.is_terminal())
        }
        _ => false,
    }
}

/// How a delayed delivery went out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overtaken {
    /// Nothing owed after it went out first: no order changed.
    No,
    /// Only notifications §6.11 does not order against it went out first (a later operation's
    /// state change overtaking a log entry or another operation's state change): the order
    /// changed, but no promise was broken, so no checker may call it a violation.
    Unpromised,
    /// A notification went out first whose order against it the protocol promises: one of
    /// the same operation's sequence (the same batch), a log entry overtaking a log entry, a
    /// terminal state overtaking anything, anything overtaking the invitation.
    Promised,
    /// No session took it: its recipient had none subscribed any more when it went out (logged
    /// out, expired). Nothing was overtaken at any client, so no checker can see it.
    Undelivered,
}

/// Whether the protocol orders `delayed` (owed at `at`) before `other` (owed at `other_at`,
/// later), §6.11 and the per-operation sequences of §6.
fn promised((at, delayed): (Position, Class), (other_at, other): (Position, Class)) -> bool {
    other_at.0 == at.0
        || (delayed == Class::Log && other == Class::Log)
        || other == Class::Terminal
        || delayed == Class::Invitation
}

/// The batches numbered, and per (user, interaction) the positions published (since its last
/// terminal state, which is all a later judgement needs). Bounded: `PER_GROUP` (64)
/// positions per group (a delay is judged within seconds, in which a group gets a handful), and
/// past `CAP` (100,000) groups it starts afresh; either can only make a delay read as not
/// overtaken (left out of the recall, never a finding invented).
#[derive(Debug, Default)]
pub struct Published {
    pub batches: u64,
    last: HashMap<(u32, String), VecDeque<(Position, Class)>>,
}

impl Published {
    const CAP: usize = 100_000;
    const PER_GROUP: usize = 64;

    /// A delivery owed at `at` went out.
    pub fn note(&mut self, user: u32, interaction: &str, at: Position, class: Class) {
        let key = (user, interaction.to_owned());
        if self.last.len() >= Self::CAP && !self.last.contains_key(&key) {
            self.last.clear();
        }
        let group = self.last.entry(key).or_default();
        if class == Class::Terminal {
            // Whatever was owed before the end is overtaken by the end itself, in an order the
            // protocol promises: what went out before it no longer changes any judgement.
            group.retain(|(o, _)| *o > at);
        }
        if group.len() >= Self::PER_GROUP {
            group.pop_front();
        }
        group.push_back((at, class));
    }

    /// How a delivery owed at `at` fares if it goes out now.
    pub fn overtaken(&self, user: u32, interaction: &str, at: Position, class: Class) -> Overtaken {
        let Some(group) = self.last.get(&(user, interaction.to_owned())) else {
            return Overtaken::No;
        };
        let mut out = Overtaken::No;
        for &(other_at, other) in group.iter().filter(|(o, _)| *o > at) {
            if promised((at, class), (other_at, other)) {
                return Overtaken::Promised;
            }
            out = Overtaken::Unpromised;
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_orders_the_protocol_promises_make_a_delay_observable() {
        let mut p = Published::default();
        // A log entry of batch 1 delayed; batch 2 (a later operation) sends a state change.
        p.note(0, "A", (2, 1, 0), Class::Other);
        assert_eq!(p.overtaken(0, "A", (1, 0, 0), Class::Log), Overtaken::Unpromised);
        assert_eq!(p.overtaken(0, "B", (1, 0, 0), Class::Log), Overtaken::No, "another chat");
        assert_eq!(p.overtaken(0, "A", (1, 0, 0), Class::Invitation), Overtaken::Promised);
        assert_eq!(p.overtaken(0, "A", (3, 0, 0), Class::Log), Overtaken::No, "owed after");
        // Then a later log entry: indices go back.
        p.note(0, "A", (3, 1, 0), Class::Log);
        assert_eq!(p.overtaken(0, "A", (1, 0, 0), Class::Log), Overtaken::Promised);
        assert_eq!(p.overtaken(0, "A", (1, 0, 0), Class::Other), Overtaken::Unpromised);
        // The same batch's next step, or the end of the part.
        p.note(0, "A", (1, 1, 0), Class::Other);
        assert_eq!(p.overtaken(0, "A", (1, 0, 0), Class::Other), Overtaken::Promised);
        p.note(0, "C", (4, 3, 0), Class::Log);
        p.note(0, "C", (5, 1, 0), Class::Terminal);
        assert_eq!(p.overtaken(0, "C", (4, 0, 0), Class::Other), Overtaken::Promised);
        assert_eq!(p.last[&(0, "C".to_owned())].len(), 1, "the end is all that is kept");
    }
}
