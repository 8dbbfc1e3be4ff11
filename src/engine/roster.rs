//! What virtual agents and customers share during a run: who is logged in (for consult and
//! transfer targets), and the correlation of events that start in one task and end in another
//! (a removal settles at the removed agent; a customer's message arrives at an agent), and the
//! run's cross-participant checker ([`crate::ordering::CrossChecker`]), which the correlation of
//! who is in which chat and who sent what belongs to.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rand::Rng;

use crate::gws::{InteractionState, Media, Notification, NotificationType};
use crate::ordering::cross::tag_of;
use crate::ordering::{CrossChecker, Violation};
use crate::run_plan::{RunPlan, TargetType};
use crate::scenario::model::{ChaosKind, DEFAULT_INVITE_TIMEOUT, Readiness};

/// How often the cross-participant checker looks for what is overdue: it walks everything in
/// flight, so not at every notification.
const CROSS_POLL_MS: u64 = 250;

/// A logged-in simulated agent.
#[derive(Debug, Clone)]
pub(crate) struct Member {
    pub(crate) username: String,
    pub(crate) user_id: String,
    pub(crate) uri: String,
}

/// Logged-in agents per population. A std mutex: lookups are short and never held across
/// an await.
#[derive(Debug, Default)]
pub(crate) struct Roster {
    populations: Mutex<HashMap<String, Vec<Member>>>,
}

impl Roster {
    pub(crate) fn join(&self, population: &str, member: Member) {
        let mut p = self.populations.lock().unwrap_or_else(|e| e.into_inner());
        p.entry(population.to_string()).or_default().push(member);
    }

    pub(crate) fn leave(&self, population: &str, username: &str) {
        let mut p = self.populations.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(v) = p.get_mut(population) {
            v.retain(|m| m.username != username);
        }
    }

    /// A random logged-in member of `population` other than `except`.
    pub(crate) fn pick<R: Rng + ?Sized>(
        &self,
        population: &str,
        except: &str,
        rng: &mut R,
    ) -> Option<Member> {
        let p = self.populations.lock().unwrap_or_else(|e| e.into_inner());
        let members: Vec<&Member> =
            p.get(population)?.iter().filter(|m| m.username != except).collect();
        if members.is_empty() {
            return None;
        }
        Some(members[rng.random_range(0..members.len())].clone())
    }

    /// The logged-in member with this user id, in any population.
    pub(crate) fn find_id(&self, user_id: &str) -> Option<Member> {
        let p = self.populations.lock().unwrap_or_else(|e| e.into_inner());
        p.values().flatten().find(|m| m.user_id == user_id).cloned()
    }

    /// The logged-in member with this username, in any population.
    pub(crate) fn find(&self, username: &str) -> Option<Member> {
        let p = self.populations.lock().unwrap_or_else(|e| e.into_inner());
        p.values().flatten().find(|m| m.username == username).cloned()
    }
}

/// When something started, for a latency that another task will observe the end of.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Started {
    pub(crate) intended: Instant,
    pub(crate) sent: Instant,
    pub(crate) measured: bool,
}

/// What a cross-task latency is keyed by.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Key {
    /// RemoveParticipantFromConference on (interaction, removed user id): settles at the
    /// removed agent's Completed.
    Removal(String, String),
    /// A message text carrying a unique tag: delivered when the other side sees it.
    Message(String),
}

/// Pending cross-task measurements. Bounded: entries nobody claims (the other side never saw
/// the event) are dropped once they are older than `horizon`, so memory does not grow with the
/// length of the run.
#[derive(Debug)]
pub(crate) struct Correlator {
    pending: Mutex<HashMap<Key, Started>>,
    horizon: Duration,
    /// A std mutex: every use is a short synchronous call, never held across an await.
    cross: Mutex<CrossChecker>,
    /// When the cross checker is next polled (the run's clock), so most callers skip the lock.
    next_cross_poll: AtomicU64,
}

impl Correlator {
    pub(crate) fn new(horizon: Duration, cross_timeout_ms: u64) -> Self {
        Correlator {
            pending: Mutex::new(HashMap::new()),
            horizon,
            cross: Mutex::new(CrossChecker::new(cross_timeout_ms)),
            next_cross_poll: AtomicU64::new(0),
        }
    }

    /// Tells the cross checker that customers are owed offers, when the run can say so for
    /// certain (see [`CrossChecker::expect_offers`]): by default against the embedded server,
    /// whose routing and invitation timeout are known (`[customers] offer_check` says otherwise),
    /// and never with a chaos rule that crashes agents (a crashed agent's session still takes
    /// invitations the simulator never sees).
    pub(crate) fn expect_offers_for(&self, plan: &RunPlan) {
        let s = &plan.scenario;
        let Some(customers) = &s.customers else { return };
        let crashes = s
            .chaos
            .as_ref()
            .is_some_and(|c| c.rules.iter().any(|r| matches!(r.kind, ChaosKind::Crash { .. })));
        let wanted = customers.offer_check.unwrap_or(plan.target.kind == TargetType::Embedded);
        if !wanted || crashes {
            return;
        }
        let invite =
            s.chaos.as_ref().and_then(|c| c.invite_timeout).unwrap_or(DEFAULT_INVITE_TIMEOUT);
        self.cross(|x| x.expect_offers(invite.as_millis() as u64));
    }

    /// Whether agents of population `p` can be offered the customers' chats: they may be
    /// Ready, and are in the customers' queue (every agent is in `default` and in any queue
    /// that is not a population's; a population's queue holds that population).
    pub(crate) fn routed_to(plan: &RunPlan, p: usize) -> bool {
        let s = &plan.scenario;
        let Some(pop) = s.agents.get(p) else { return false };
        let queue = s.customers.as_ref().and_then(|c| c.queue.as_deref());
        let in_queue = match queue {
            Some(q) if s.agents.iter().any(|a| a.name == q) => pop.name == q,
            _ => true,
        };
        // Facebook goes to agents Ready on `facebook`, or on `chat` when they did not list it.
        let media = plan.target.media;
        let channel = pop.channels.contains(&media)
            || (media == Media::Facebook && pop.channels.contains(&Media::Chat));
        in_queue && channel && !matches!(pop.readiness, Readiness::NotReady)
    }

    /// A routable agent's readiness changed (see [`CrossChecker::agent_ready`]).
    pub(crate) fn agent_ready(&self, now_ms: u64, username: &str, ready: bool) {
        self.cross(|x| x.agent_ready(now_ms, username, ready));
    }

    /// Runs `f` on the cross-participant checker.
    pub(crate) fn cross<T>(&self, f: impl FnOnce(&mut CrossChecker) -> T) -> T {
        f(&mut self.cross.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// What the cross checker finds overdue, at most every [`CROSS_POLL_MS`].
    pub(crate) fn cross_poll(&self, now_ms: u64) -> Vec<Violation> {
        let next = self.next_cross_poll.load(Ordering::Relaxed);
        if now_ms < next
            || self
                .next_cross_poll
                .compare_exchange(
                    next,
                    now_ms + CROSS_POLL_MS,
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                )
                .is_err()
        {
            return Vec::new();
        }
        self.cross(|x| x.poll(now_ms))
    }

    /// Tells the cross checker what agent `username` received: its invitations and terminal
    /// states, and the tagged texts (the only notifications it takes the lock for).
    pub(crate) fn cross_notification(&self, now_ms: u64, username: &str, n: &Notification) {
        match n {
            Notification::ChatStateChangeMessage(sc)
            | Notification::FacebooksessionStateChangeMessage(sc)
                if sc.notification_type == NotificationType::StatusChange =>
            {
                let Some(r) = sc.resource() else { return };
                match r.state {
                    InteractionState::Invited => {
                        let customer = r.user_data.get("gwsimCustomer").and_then(|v| v.as_u64());
                        self.cross(|x| x.agent_invited(now_ms, username, &r.id, customer));
                    }
                    InteractionState::Completed | InteractionState::Revoked => {
                        self.cross(|x| x.agent_ended(now_ms, username, &r.id));
                    }
                    _ => {}
                }
            }
            Notification::MessageLogUpdated(ml)
                if ml.messages.iter().any(|e| e.text.as_deref().and_then(tag_of).is_some()) =>
            {
                self.cross(|x| x.agent_received(username, &ml.messages));
            }
            _ => {}
        }
    }

    pub(crate) fn start(&self, key: Key, started: Started) {
        let mut p = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        // Sweep when the map has doubled since it was last this small: amortised O(1).
        if p.len() >= 1024 && p.len().is_power_of_two() {
            let now = Instant::now();
            let horizon = self.horizon;
            p.retain(|_, s| now.duration_since(s.sent) < horizon);
        }
        p.insert(key, started);
    }

    pub(crate) fn finish(&self, key: &Key) -> Option<Started> {
        self.pending.lock().unwrap_or_else(|e| e.into_inner()).remove(key)
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.pending.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
}

/// The tag appended to texts whose delivery is measured, and how to find it again.
pub(crate) fn tag_text(text: &str, tag: u64) -> String {
    format!("{text} [#{tag:x}]")
}

/// The tagged text itself is the key: both sides see the same text.
pub(crate) fn message_key(text: &str) -> Option<Key> {
    let open = text.rfind(" [#")?;
    text.ends_with(']').then(|| Key::Message(text[open..].to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn tags_round_trip_through_the_text() {
        let t = tag_text("Where is my order?", 0xbeef);
        assert_eq!(t, "Where is my order? [#beef]");
        assert_eq!(message_key(&t), Some(Key::Message(" [#beef]".into())));
        assert_eq!(message_key("no tag here"), None);
    }

    #[test]
    fn correlator_finishes_once_and_forgets_stale_entries() {
        let c = Correlator::new(Duration::ZERO, 1_000);
        let now = Instant::now();
        let s = Started { intended: now, sent: now, measured: true };
        c.start(Key::Message("a".into()), s);
        assert!(c.finish(&Key::Message("a".into())).is_some());
        assert!(c.finish(&Key::Message("a".into())).is_none());
        for i in 0..1024 {
            c.start(Key::Message(i.to_string()), s);
        }
        c.start(Key::Message("last".into()), s);
        assert!(c.len() <= 2, "stale entries are swept: {}", c.len());
    }

    #[test]
    fn roster_picks_someone_else() {
        let r = Roster::default();
        let m = |n: &str| Member { username: n.into(), user_id: n.into(), uri: n.into() };
        r.join("specialist", m("s1"));
        r.join("specialist", m("s2"));
        let mut rng = rand::rngs::SmallRng::seed_from_u64(1);
        for _ in 0..20 {
            assert_eq!(r.pick("specialist", "s1", &mut rng).map(|m| m.username), Some("s2".into()));
        }
        r.leave("specialist", "s2");
        assert!(r.pick("specialist", "s1", &mut rng).is_none());
        assert!(r.pick("nobody", "x", &mut rng).is_none());
        assert_eq!(r.find("s1").map(|m| m.uri), Some("s1".into()));
    }
}
