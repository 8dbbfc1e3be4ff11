//! Client-side chaos (`[chaos]`): which agent is hit by which rule when, which customers leave
//! in the middle of a consult, and the ledger of what was done. The schedule is a pure function of the scenario's seed, the rule and the agent's
//! username (the same [`Identity`] hash as the server's faults), never of a shared random stream.
//!
//! What a crash means for the checker (docs/faults.md, "Client-side chaos"): the crashed
//! session's checker is dropped unjudged (an expectation pending at the crash is not `missing`:
//! the agent stopped listening), and the new session's checker adopts each interaction
//! `GET /api/v2/me` still lists, in the state it has now.

use std::time::{Duration, Instant};

use crate::faults::{FaultKind, Identity, Ledger, LedgerSnapshot, NewRecord, roll};
use crate::scenario::{Chaos, ChaosKind, Scenario};

/// Firings of one rule considered per agent at most, so a tiny `every` cannot make an agent's
/// schedule grow without bound.
const MAX_FIRINGS: u64 = 10_000;

/// What happens to an agent at one moment.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Hit {
    /// Drop everything; come back after this long (`None`: never).
    Crash(Option<Duration>),
    /// Which firing of its rule this is: a storm whose old stream is not caught up says which.
    ReconnectStorm(Firing),
    SlowConsumer(Duration),
}

/// One firing of a rule: its number (from 0) and when it was due, from the start of the load
/// phase. Every agent a firing hits shares it, so the agents one storm left behind can be counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Firing {
    pub(crate) index: u64,
    pub(crate) at: Duration,
}

impl std::fmt::Display for Firing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "firing {} at {:.1}s into the load", self.index, self.at.as_secs_f64())
    }
}

/// One agent's chaos, in time order (offsets from the start of the load phase).
#[derive(Debug, Default)]
pub(crate) struct Schedule {
    hits: Vec<(Duration, usize, Hit)>,
    next: usize,
}

impl Schedule {
    /// The hits of `chaos` on agent `username` of population `population` in a run of
    /// `duration` (the load phase).
    pub(crate) fn for_agent(
        chaos: Option<&Chaos>,
        seed: u64,
        duration: Duration,
        population: &str,
        username: &str,
    ) -> Schedule {
        let Some(chaos) = chaos else { return Schedule::default() };
        let mut hits = Vec::new();
        for (r, rule) in chaos.rules.iter().enumerate() {
            if !rule.populations.is_empty() && !rule.populations.iter().any(|p| p == population) {
                continue;
            }
            if rule.kind == ChaosKind::CustomerAbandon {
                continue;
            }
            let mut at = rule.from;
            for k in 0..MAX_FIRINGS {
                if at >= duration {
                    break;
                }
                let id = Identity::new(seed, r).str(username).num(k);
                if roll(id, rule.share) {
                    let mut rng = id.num(1).rng();
                    let hit = match &rule.kind {
                        ChaosKind::Crash { down } => {
                            Hit::Crash(down.as_ref().map(|d| d.sample(&mut rng)))
                        }
                        ChaosKind::ReconnectStorm => Hit::ReconnectStorm(Firing { index: k, at }),
                        ChaosKind::SlowConsumer { pause } => {
                            Hit::SlowConsumer(pause.sample(&mut rng))
                        }
                        // Skipped above: a customer's, see [`abandon_rule`].
                        ChaosKind::CustomerAbandon => continue,
                    };
                    hits.push((at, r, hit));
                }
                match rule.every {
                    Some(every) => at += every,
                    None => break,
                }
            }
        }
        hits.sort_by_key(|h| h.0);
        Schedule { hits, next: 0 }
    }

    /// When the next hit is due, once the load phase has begun.
    pub(crate) fn next_at(&self, load_start: Option<Instant>) -> Option<Instant> {
        let (at, _, _) = self.hits.get(self.next)?;
        Some(load_start? + *at)
    }

    /// Takes the next hit (its rule and what it does).
    pub(crate) fn take(&mut self) -> Option<(usize, Hit)> {
        let (_, r, hit) = *self.hits.get(self.next)?;
        self.next += 1;
        Some((r, hit))
    }
}

/// The `customer-abandon` rule that hits customer number `n`, if any (the first that does), and
/// from when on (since the start of the load phase): the customer then leaves as soon as its
/// chat is seen in a consult. Seeded like an agent's schedule, by the customer's number.
pub(crate) fn abandon_rule(chaos: Option<&Chaos>, seed: u64, n: u64) -> Option<(usize, Duration)> {
    chaos?.rules.iter().enumerate().find_map(|(r, rule)| {
        let hit = rule.kind == ChaosKind::CustomerAbandon
            && roll(Identity::new(seed, r).str("customer").num(n), rule.share);
        hit.then_some((r, rule.from))
    })
}

/// The client side's ledger: one record per chaos event, on the run's clock.
#[derive(Debug)]
pub(crate) struct ChaosLedger {
    ledger: Option<Ledger>,
}

impl ChaosLedger {
    pub(crate) fn new(scenario: &Scenario) -> ChaosLedger {
        // Bounded like the server's: a long run with frequent storms keeps the first records.
        let ledger =
            scenario.chaos.as_ref().map(|_| Ledger::new(100_000, std::time::SystemTime::now()));
        ChaosLedger { ledger }
    }

    /// Records one event at `at` (since the run's epoch).
    pub(crate) fn record(
        &self,
        kind: FaultKind,
        rule: usize,
        at: Duration,
        agent: &str,
        detail: String,
    ) {
        if let Some(l) = &self.ledger {
            let new = NewRecord { agent: Some(agent.to_owned()), detail, ..NewRecord::default() };
            l.push(kind, rule, at, new);
        }
    }

    /// Records a customer's abandon in the middle of a consult: its chat id, and the agent-side
    /// interaction the cross checker linked it to.
    pub(crate) fn customer_abandon(
        &self,
        rule: usize,
        at: Duration,
        chat: &str,
        interaction: &str,
        detail: String,
    ) {
        if let Some(l) = &self.ledger {
            let new = NewRecord {
                chat: Some(chat.to_owned()),
                interaction: Some(interaction.to_owned()),
                detail,
                ..NewRecord::default()
            };
            l.push(FaultKind::CustomerAbandon, rule, at, new);
        }
    }

    pub(crate) fn snapshot(&self) -> Option<LedgerSnapshot> {
        self.ledger.as_ref().map(Ledger::snapshot)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::{ChaosRule, Distribution};

    fn chaos(kind: ChaosKind, share: f64, every: Option<Duration>) -> Chaos {
        let rule = ChaosRule {
            kind,
            share,
            from: Duration::from_secs(2),
            every,
            populations: vec!["agents".into()],
        };
        Chaos { invite_timeout: None, rules: vec![rule] }
    }

    #[test]
    fn schedules_are_seeded_bounded_by_the_run_and_select_populations() {
        let down = Some(Distribution::Constant(Duration::from_secs(1)));
        let c = chaos(ChaosKind::Crash { down }, 1.0, Some(Duration::from_secs(3)));
        let d = Duration::from_secs(10);
        let mut s = Schedule::for_agent(Some(&c), 7, d, "agents", "agent-1");
        let mut n = 0;
        while let Some((r, hit)) = s.take() {
            assert_eq!((r, hit), (0, Hit::Crash(Some(Duration::from_secs(1)))));
            n += 1;
        }
        assert_eq!(n, 3, "at 2 s, 5 s and 8 s");
        assert!(Schedule::for_agent(Some(&c), 7, d, "others", "x-1").take().is_none());
        let half = chaos(ChaosKind::ReconnectStorm, 0.5, None);
        let hit: Vec<bool> = (0..200)
            .map(|i| {
                Schedule::for_agent(Some(&half), 7, d, "agents", &format!("agent-{i}"))
                    .take()
                    .is_some()
            })
            .collect();
        let again: Vec<bool> = (0..200)
            .map(|i| {
                Schedule::for_agent(Some(&half), 7, d, "agents", &format!("agent-{i}"))
                    .take()
                    .is_some()
            })
            .collect();
        assert_eq!(hit, again, "the same seed hits the same agents");
        let share = hit.iter().filter(|h| **h).count();
        assert!((60..140).contains(&share), "about half: {share}");
    }

    #[test]
    fn a_storm_hit_names_its_firing() {
        let c = chaos(ChaosKind::ReconnectStorm, 1.0, Some(Duration::from_secs(3)));
        let mut s = Schedule::for_agent(Some(&c), 7, Duration::from_secs(6), "agents", "agent-1");
        let firings: Vec<String> = std::iter::from_fn(|| s.take())
            .map(|(_, hit)| match hit {
                Hit::ReconnectStorm(f) => f.to_string(),
                other => format!("{other:?}"),
            })
            .collect();
        assert_eq!(firings, ["firing 0 at 2.0s into the load", "firing 1 at 5.0s into the load"]);
    }

    #[test]
    fn customer_abandons_hit_customers_only_and_are_seeded() {
        let c = chaos(ChaosKind::CustomerAbandon, 0.5, None);
        let d = Duration::from_secs(10);
        assert!(Schedule::for_agent(Some(&c), 7, d, "agents", "agent-1").take().is_none());
        let hits: Vec<bool> = (0..200).map(|n| abandon_rule(Some(&c), 7, n).is_some()).collect();
        let again: Vec<bool> = (0..200).map(|n| abandon_rule(Some(&c), 7, n).is_some()).collect();
        assert_eq!(hits, again);
        let share = hits.iter().filter(|h| **h).count();
        assert!((60..140).contains(&share), "about half: {share}");
        assert_eq!(
            abandon_rule(Some(&c), 7, 0).map(|(r, from)| (r, from.as_secs())).filter(|_| hits[0]),
            hits[0].then_some((0, 2))
        );
        assert!(abandon_rule(None, 7, 0).is_none());
    }
}
