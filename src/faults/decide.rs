//! The seeded decision: whether rule `r` fires on one event is a pure function of (seed, rule
//! index, a stable identity of the event), never the next draw of a shared random stream. Two
//! runs with the same plan and seed therefore inject the same faults into the same events, even
//! when concurrent events reach the server in a different order.
//!
//! The hash is FNV-1a over the identity's parts, finished with SplitMix64: stable across Rust
//! versions and platforms (std's `DefaultHasher` promises neither).

use rand::SeedableRng;
use rand::rngs::SmallRng;

/// A stable identity of one event, built from its parts (interaction id, username, the
/// notification's ordinal, a request counter...). Parts are length-prefixed, so `("ab", "c")`
/// and `("a", "bc")` differ.
#[derive(Debug, Clone, Copy)]
pub struct Identity(u64);

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

impl Identity {
    /// The identity of an event under rule `rule` of a plan seeded with `seed`.
    pub fn new(seed: u64, rule: usize) -> Identity {
        Identity(FNV_OFFSET).bytes(&seed.to_le_bytes()).bytes(&(rule as u64).to_le_bytes())
    }

    fn bytes(mut self, bytes: &[u8]) -> Identity {
        for b in bytes {
            self.0 ^= u64::from(*b);
            self.0 = self.0.wrapping_mul(FNV_PRIME);
        }
        self
    }

    /// Adds a text part.
    pub fn str(self, s: &str) -> Identity {
        self.bytes(&(s.len() as u64).to_le_bytes()).bytes(s.as_bytes())
    }

    /// Adds a number part.
    pub fn num(self, n: u64) -> Identity {
        self.bytes(&[8]).bytes(&n.to_le_bytes())
    }

    /// The finished 64-bit hash.
    pub fn hash(self) -> u64 {
        splitmix(self.0)
    }

    /// A uniform number in [0, 1) derived from the identity.
    pub fn unit(self) -> f64 {
        (self.hash() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// A generator for this event's own random values (a latency, a delay), independent of the
    /// yes/no roll.
    pub fn rng(self) -> SmallRng {
        SmallRng::seed_from_u64(splitmix(self.hash() ^ 0xD1B5_4A32_D192_ED03))
    }
}

fn splitmix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Whether an event with this identity is faulted at `rate` (0 never, 1 always).
pub fn roll(id: Identity, rate: f64) -> bool {
    rate >= 1.0 || id.unit() < rate
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_bounds_are_exact() {
        for i in 0..1000 {
            let id = Identity::new(1, 0).num(i);
            assert!(roll(id, 1.0));
            assert!(!roll(id, 0.0));
        }
    }

    #[test]
    fn same_identity_same_decision_and_rate_is_honoured() {
        let fired = |seed| {
            (0..10_000u64).filter(|&i| roll(Identity::new(seed, 2).str("ixn").num(i), 0.3)).count()
        };
        assert_eq!(fired(7), fired(7));
        let n = fired(7);
        assert!((2_700..3_300).contains(&n), "{n} of 10000 at rate 0.3");
        // Another seed or rule decides differently (on some events).
        let a: Vec<bool> = (0..64).map(|i| roll(Identity::new(7, 0).num(i), 0.5)).collect();
        let b: Vec<bool> = (0..64).map(|i| roll(Identity::new(8, 0).num(i), 0.5)).collect();
        let c: Vec<bool> = (0..64).map(|i| roll(Identity::new(7, 1).num(i), 0.5)).collect();
        assert_ne!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn parts_are_delimited() {
        let ab_c = Identity::new(1, 0).str("ab").str("c").hash();
        let a_bc = Identity::new(1, 0).str("a").str("bc").hash();
        assert_ne!(ab_c, a_bc);
    }
}
