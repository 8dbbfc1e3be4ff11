//! Shards: shard `I/N` of a scenario as a pure function of the scenario and `(I, N)`, so that N
//! processes on N machines, given the same file and flags, together apply exactly the scenario's
//! load, with no coordinator (design.md "Beyond one machine").
//!
//! The rules, each chosen so the union of the shards is the whole:
//! - **Agents**: every population is cut into N contiguous blocks of its numbers, sizes differing
//!   by at most one, the first `count % N` shards taking one more. A block is again a population
//!   (`first` moves, `count` shrinks), so each shard logs in its own usernames, none twice, none
//!   missing. Every population must have at least N agents: a shard without any of a population
//!   could not serve the flows that address it.
//! - **Open arrivals**: every rate (steady, ramp ends, stage rates) is divided by N; the sum of N
//!   Poisson processes of rate r/N is a Poisson process of rate r, and evenly spaced arrivals stay
//!   evenly spaced per shard. `max_active` is split like agents.
//! - **Closed arrivals**: the concurrency is split like agents (a shard may keep 0 customers).
//! - **Customer nicknames** carry the shard (`customer-{n}` becomes `customer-{n}-shard2`): each
//!   shard numbers its customers from the start, so without it two shards would send customers
//!   of the same name, which the server and the customer-side checks could not tell apart.
//! - **Seed**: [`shard_seed`], the `I`-th output of a SplitMix64 generator seeded from the
//!   scenario's seed and N, so each shard's random streams (its Poisson arrivals among them) are
//!   independent of the others' and the same on every machine. One shard (`0/1`) is the scenario
//!   itself, seed included.
//! - **Thresholds** stay the whole scenario's: they are judged on the merge (`gwsim merge`); a
//!   shard's own verdict judges a fraction of the load against whole-run limits and is only
//!   informational.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::model::{AgentPopulation, NamePattern, Scenario};
use super::plan::{Arrival, Stage, lower};
use super::units::Rate;

/// Shard `index` of `count` (`--shard index/count`); `index < count`, `count ≥ 1`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Shard {
    pub index: u32,
    pub count: u32,
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// Why a shard cannot be cut from a scenario.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShardError {
    #[error("a shard count must be at least 1")]
    NoShards,
    #[error("shard {index} does not exist among {count} shards (they are numbered 0 to {last})", last = count - 1)]
    IndexOutOfRange { index: u32, count: u32 },
    #[error(
        "population `{population}` has {agents} agents, fewer than the {count} shards: every shard needs at least one agent of every population"
    )]
    TooFewAgents { population: String, agents: u32, count: u32 },
    #[error("`{0}` is not a shard; write INDEX/COUNT such as 0/4")]
    Syntax(String),
}

impl Shard {
    /// A checked shard.
    pub fn new(index: u32, count: u32) -> Result<Shard, ShardError> {
        if count == 0 {
            return Err(ShardError::NoShards);
        }
        if index >= count {
            return Err(ShardError::IndexOutOfRange { index, count });
        }
        Ok(Shard { index, count })
    }

    /// Parses `I/N`.
    pub fn parse(text: &str) -> Result<Shard, ShardError> {
        let syntax = || ShardError::Syntax(text.to_owned());
        let (i, n) = text.trim().split_once('/').ok_or_else(syntax)?;
        let i = i.trim().parse().map_err(|_| syntax())?;
        let n = n.trim().parse().map_err(|_| syntax())?;
        Shard::new(i, n)
    }

    /// This shard's part of `total` things: `total / N`, plus one for the first `total % N`
    /// shards. The parts of all shards sum to `total` and differ by at most one.
    pub fn part(self, total: u32) -> u32 {
        total / self.count + u32::from(self.index < total % self.count)
    }

    /// Where this shard's part of `total` things starts (the parts of the shards before it).
    pub fn offset(self, total: u32) -> u32 {
        let (base, extra) = (total / self.count, total % self.count);
        // Fits: the result is at most `total`.
        self.index * base + self.index.min(extra)
    }
}

/// SplitMix64's increment (2⁶⁴ / φ) and finalizer (Steele, Lea and Flood 2014).
const GOLDEN_GAMMA: u64 = 0x9E37_79B9_7F4A_7C15;

fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The seed of shard `I/N` of a scenario with `seed`: `seed` itself for `0/1`, otherwise the
/// `(I+1)`-th output of SplitMix64 started at `seed ^ mix64(N)`, i.e.
/// `mix64(seed ^ mix64(N) + (I+1)·γ)`. Distinct shards of one N get distinct, well-mixed seeds,
/// and the same shard gets the same seed on every machine.
pub fn shard_seed(seed: u64, shard: Shard) -> u64 {
    if shard.count == 1 {
        return seed;
    }
    let state = seed ^ mix64(u64::from(shard.count));
    mix64(state.wrapping_add(GOLDEN_GAMMA.wrapping_mul(u64::from(shard.index) + 1)))
}

/// A stable fingerprint of a resolved scenario: 64-bit FNV-1a of its JSON serialization (which
/// holds no secret, and is the same on every machine for the same file and flags), as 16 hex
/// digits. Merges refuse shards whose fingerprints differ.
pub fn fingerprint(scenario: &Scenario) -> String {
    let bytes = serde_json::to_vec(scenario).unwrap_or_default();
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("{h:016x}")
}

fn divide(rate: Rate, n: u32) -> Rate {
    // A rate divided by n ≥ 1 stays in range; the fallback is never taken.
    Rate::from_per_second(rate.per_second() / f64::from(n)).unwrap_or(rate)
}

fn divide_arrival(arrival: &Arrival, shard: Shard) -> Arrival {
    let n = shard.count;
    match arrival {
        Arrival::Steady { rate, spacing } => {
            Arrival::Steady { rate: divide(*rate, n), spacing: *spacing }
        }
        Arrival::Ramp { from, to, over, spacing } => Arrival::Ramp {
            from: divide(*from, n),
            to: divide(*to, n),
            over: *over,
            spacing: *spacing,
        },
        Arrival::Stages { stages, spacing } => Arrival::Stages {
            stages: stages
                .iter()
                .map(|s| match *s {
                    Stage::Hold { rate, length } => Stage::Hold { rate: divide(rate, n), length },
                    Stage::Ramp { to, length } => Stage::Ramp { to: divide(to, n), length },
                })
                .collect(),
            spacing: *spacing,
        },
        Arrival::Closed { concurrency } => {
            Arrival::Closed { concurrency: shard.part(*concurrency) }
        }
    }
}

fn slice_population(p: &AgentPopulation, shard: Shard) -> AgentPopulation {
    AgentPopulation {
        // `first + offset` is the number of an agent of the whole population, so it fits
        // wherever the whole population's numbers do.
        first: p.first.saturating_add(shard.offset(p.count)),
        count: shard.part(p.count),
        ..p.clone()
    }
}

/// The customer nickname pattern of shard `shard`: the whole's, with the shard's index after it,
/// so the names of two shards' customers never meet (customer numbers restart in every shard).
fn shard_nickname(pattern: &NamePattern, shard: Shard) -> NamePattern {
    NamePattern(format!("{}-shard{}", pattern.as_str(), shard.index))
}

/// Shard `shard` of `scenario` (the module's rules). Pure: the same input gives the same shard.
pub fn shard(scenario: &Scenario, shard: Shard) -> Result<Scenario, ShardError> {
    let shard = Shard::new(shard.index, shard.count)?;
    if let Some(p) = scenario.agents.iter().find(|p| p.count < shard.count) {
        return Err(ShardError::TooFewAgents {
            population: p.name.clone(),
            agents: p.count,
            count: shard.count,
        });
    }
    let mut out = scenario.clone();
    out.agents = scenario.agents.iter().map(|p| slice_population(p, shard)).collect();
    out.run.seed = shard_seed(scenario.run.seed, shard);
    if let Some(c) = out.customers.as_mut() {
        c.arrival = divide_arrival(&c.arrival, shard);
        c.max_active = c.max_active.map(|m| shard.part(m));
        if shard.count > 1 {
            c.nickname = shard_nickname(&c.nickname, shard);
        }
        out.plan = lower(&c.arrival, scenario.plan.end, c.max_active);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::{Overrides, parse};
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    fn scenario(counts: &[u32], arrival: &str) -> Scenario {
        let mut text = String::from(
            "name = \"s\"\n[run]\nduration = \"60s\"\nseed = 7\n\
             [flows.f]\nsteps = [{ op = \"Accept\" }, { op = \"Complete\" }]\n",
        );
        for (i, c) in counts.iter().enumerate() {
            text.push_str(&format!(
                "[[agents]]\nname = \"p{i}\"\ncount = {c}\nusername = \"p{i}-{{n}}\"\nflow = \"f\"\n"
            ));
        }
        text.push_str(&format!("[customers]\narrival = {arrival}\n"));
        match parse("s.toml", &text, &Overrides::default()) {
            Ok(s) => s,
            Err(d) => panic!("{d}"),
        }
    }

    fn names(s: &Scenario) -> Vec<String> {
        s.agents.iter().flat_map(|p| p.usernames()).collect()
    }

    #[test]
    fn shards_parse_and_are_checked() {
        assert_eq!(Shard::parse("2/4"), Ok(Shard { index: 2, count: 4 }));
        assert_eq!(Shard::parse("4/4"), Err(ShardError::IndexOutOfRange { index: 4, count: 4 }));
        assert_eq!(Shard::parse("0/0"), Err(ShardError::NoShards));
        assert!(matches!(Shard::parse("two/4"), Err(ShardError::Syntax(_))));
        assert!(matches!(Shard::parse("2"), Err(ShardError::Syntax(_))));
    }

    #[test]
    fn one_shard_is_the_scenario_itself() {
        let s = scenario(&[5, 3], "{ rate = \"4/s\" }");
        let one = shard(&s, Shard { index: 0, count: 1 }).unwrap();
        assert_eq!(serde_json::to_value(&one).unwrap(), serde_json::to_value(&s).unwrap());
        assert_eq!(fingerprint(&one), fingerprint(&s));
    }

    #[test]
    fn more_shards_than_agents_of_a_population_is_an_error() {
        let s = scenario(&[5, 2], "{ rate = \"4/s\" }");
        let e = shard(&s, Shard { index: 0, count: 3 }).unwrap_err();
        assert_eq!(e, ShardError::TooFewAgents { population: "p1".into(), agents: 2, count: 3 });
    }

    #[test]
    fn the_shard_flag_is_judged_by_the_scenario_rules_and_names_the_flag() {
        let text = "name = \"s\"\n[run]\nduration = \"10s\"\n\
                    [flows.f]\nsteps = [{ op = \"Accept\" }]\n\
                    [[agents]]\nname = \"p\"\ncount = 3\nflow = \"f\"\n";
        let o = Overrides { shard: Some(Shard { index: 0, count: 4 }), ..Overrides::default() };
        let e = parse("s.toml", text, &o).unwrap_err().to_string();
        assert!(e.contains("--shard 0/4: population `p` has 3 agents"), "{e}");
        let o = Overrides { shard: Some(Shard { index: 1, count: 3 }), ..Overrides::default() };
        let s = parse("s.toml", text, &o).unwrap();
        assert_eq!(s.agents[0].count, 1);
        assert_eq!(s.sharding.shard, Some(Shard { index: 1, count: 3 }));
        let whole = parse("s.toml", text, &Overrides::default()).unwrap();
        assert_eq!(s.sharding.fingerprint, whole.sharding.fingerprint);
    }

    #[test]
    fn customer_nicknames_of_different_shards_never_meet() {
        let s = scenario(&[9], "{ rate = \"4/s\" }");
        let whole = s.customers.as_ref().unwrap().nickname.clone();
        assert_eq!(whole.as_str(), "customer-{n}");
        let mut seen = BTreeSet::new();
        for i in 0..3 {
            let part = shard(&s, Shard { index: i, count: 3 }).unwrap();
            let pattern = &part.customers.as_ref().unwrap().nickname;
            assert_eq!(pattern.as_str(), format!("customer-{{n}}-shard{i}"));
            // Every shard numbers its customers from the start: the same numbers, other names.
            for n in 0..50 {
                let name = pattern.render(n);
                assert!(seen.insert(name.clone()), "{name} is sent by two shards");
            }
        }
        // The whole scenario (one shard) keeps its names.
        let one = shard(&s, Shard { index: 0, count: 1 }).unwrap();
        assert_eq!(one.customers.as_ref().unwrap().nickname, whole);
    }

    #[test]
    fn closed_concurrency_and_max_active_split_exactly() {
        let s = scenario(&[9], "{ concurrency = 10 }");
        let parts: Vec<u32> = (0..4)
            .map(|i| {
                let sh = shard(&s, Shard { index: i, count: 4 }).unwrap();
                sh.plan.concurrency_at(std::time::Duration::from_secs(1))
            })
            .collect();
        assert_eq!(parts, vec![3, 3, 2, 2]);
    }

    #[test]
    fn shard_seeds_are_distinct_and_stable() {
        let seeds: BTreeSet<u64> =
            (0..8).map(|i| shard_seed(7, Shard { index: i, count: 8 })).collect();
        assert_eq!(seeds.len(), 8);
        assert!(!seeds.contains(&7));
        // Pinned: a shard must get the same seed from every build, on every machine.
        assert_eq!(
            shard_seed(7, Shard { index: 0, count: 8 }),
            shard_seed(7, Shard::new(0, 8).unwrap())
        );
        expect_test::expect!["4/8"].assert_eq(&Shard { index: 4, count: 8 }.to_string());
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

        /// For N in 1..=8: usernames of the shards are disjoint and their union is the whole; each
        /// population's parts differ by at most one; rates (and so Λ over the run) sum to the
        /// whole; the same input gives the same shard.
        #[test]
        fn shards_partition_the_scenario(
            counts in proptest::collection::vec(8u32..60, 1..4),
            n in 1u32..=8,
            rate in 1u32..400,
            ramp in any::<bool>(),
        ) {
            let arrival = if ramp {
                format!("{{ from = \"1/s\", to = \"{rate}/s\", over = \"30s\" }}")
            } else {
                format!("{{ rate = \"{rate}/s\" }}")
            };
            let whole = scenario(&counts, &arrival);
            let all: Vec<String> = names(&whole);
            let mut seen = BTreeSet::new();
            let mut union = Vec::new();
            let mut lambda = 0.0;
            for i in 0..n {
                let s = Shard { index: i, count: n };
                let part = shard(&whole, s).unwrap();
                prop_assert_eq!(
                    serde_json::to_value(&part).unwrap(),
                    serde_json::to_value(shard(&whole, s).unwrap()).unwrap()
                );
                for (p, w) in part.agents.iter().zip(&whole.agents) {
                    prop_assert!(p.count == w.count / n || p.count == w.count / n + 1);
                }
                for name in names(&part) {
                    prop_assert!(seen.insert(name.clone()), "{} in two shards", name);
                    union.push(name);
                }
                lambda += part.plan.expected_arrivals(whole.plan.end);
                prop_assert_eq!(&part.thresholds, &whole.thresholds);
            }
            union.sort();
            let mut all_sorted = all.clone();
            all_sorted.sort();
            prop_assert_eq!(union, all_sorted);
            let total = whole.plan.expected_arrivals(whole.plan.end);
            prop_assert!((lambda - total).abs() <= 1e-9 * total.max(1.0), "{} vs {}", lambda, total);
        }
    }
}
