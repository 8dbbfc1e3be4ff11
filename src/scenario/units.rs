//! The small value languages of scenario files: durations (`1m30s`), rates (`5/s`), think-time
//! distributions (`500ms..2s`, `exp(1s)`) and integer ranges (`1..4`).
//!
//! Hand-written rather than humantime because the grammar is deliberately narrow (us, ms, s, m, h;
//! no months or years), the same duration grammar is reused inside distributions, and each error
//! must be a sentence that tells a newcomer what to write instead.

use std::fmt;
use std::time::Duration;

use rand::Rng;
use serde::{Serialize, Serializer};

/// Why a value could not be read; the message is a complete sentence fragment for a diagnostic.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct UnitError(pub String);

fn err<T>(msg: impl Into<String>) -> Result<T, UnitError> {
    Err(UnitError(msg.into()))
}

const DURATION_HELP: &str = "write a number followed by a unit: `250ms`, `2s`, `1m30s` or `1h`";

/// Parses `500ms`, `2s`, `1.5s`, `1m30s`, `1h 5m`. Units: us, ms, s, m, h.
pub fn parse_duration(input: &str) -> Result<Duration, UnitError> {
    let s = input.trim();
    if s.is_empty() {
        return err(format!("a duration is empty; {DURATION_HELP}"));
    }
    if s.starts_with('-') {
        return err(format!("`{input}` is negative, and a duration cannot be"));
    }
    let mut total = 0f64;
    let mut rest = s;
    while !rest.is_empty() {
        let num_len = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(rest.len());
        if num_len == 0 {
            return err(format!("`{input}` is not a duration; {DURATION_HELP}"));
        }
        let (num, after) = rest.split_at(num_len);
        let value: f64 =
            num.parse().map_err(|_| UnitError(format!("`{num}` in `{input}` is not a number")))?;
        let after = after.trim_start();
        let unit_len = after.find(|c: char| !c.is_ascii_alphabetic()).unwrap_or(after.len());
        let (unit, after) = after.split_at(unit_len);
        let seconds_per_unit = match unit {
            "us" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            "" => {
                return err(format!(
                    "`{input}` has a number without a unit; write `{num}s` for seconds or `{num}ms` for milliseconds"
                ));
            }
            other => {
                return err(format!(
                    "`{other}` in `{input}` is not a time unit; use us, ms, s, m or h"
                ));
            }
        };
        total += value * seconds_per_unit;
        rest = after.trim_start();
    }
    // One week is far beyond any sensible run and keeps the f64 → Duration conversion exact enough.
    if !total.is_finite() || total > 7.0 * 86_400.0 {
        return err(format!("`{input}` is longer than a week, which gwsim does not accept"));
    }
    // Round to whole microseconds: the finest unit the grammar offers.
    Ok(Duration::from_micros((total * 1e6).round() as u64))
}

/// Formats a duration in the grammar [`parse_duration`] reads, e.g. `1m30s`, `250ms`, `0s`.
pub fn format_duration(d: Duration) -> String {
    let mut us = d.as_micros();
    if us == 0 {
        return "0s".to_owned();
    }
    let mut out = String::new();
    for (unit, size) in
        [("h", 3_600_000_000u128), ("m", 60_000_000), ("s", 1_000_000), ("ms", 1_000)]
    {
        if us >= size {
            out.push_str(&format!("{}{unit}", us / size));
            us %= size;
        }
    }
    if us > 0 {
        out.push_str(&format!("{us}us"));
    }
    out
}

/// Serializes a `Duration` as its human form, for the resolved scenario in results.
pub(crate) fn serialize_duration<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format_duration(*d))
}

/// An arrival rate, stored per second.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd)]
pub struct Rate(f64);

/// More than a million arrivals a second is certainly a typo, and keeps the plan arithmetic finite.
const MAX_RATE_PER_SECOND: f64 = 1e6;

impl Rate {
    pub const ZERO: Rate = Rate(0.0);

    pub fn per_second(self) -> f64 {
        self.0
    }

    pub fn from_per_second(r: f64) -> Option<Self> {
        (r.is_finite() && (0.0..=MAX_RATE_PER_SECOND).contains(&r)).then_some(Rate(r))
    }

    /// Parses `5/s`, `300/m`, `10/h`, `0.5/s`.
    pub fn parse(input: &str) -> Result<Self, UnitError> {
        let s = input.trim();
        let Some((num, unit)) = s.split_once('/') else {
            return err(format!(
                "`{input}` is not a rate; write a count per unit of time such as `5/s`, `300/m` or `10/h`"
            ));
        };
        let value: f64 = num
            .trim()
            .parse()
            .map_err(|_| UnitError(format!("`{}` in `{input}` is not a number", num.trim())))?;
        let per = match unit.trim() {
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            other => {
                return err(format!("`{other}` in `{input}` is not a rate unit; use /s, /m or /h"));
            }
        };
        if !value.is_finite() {
            return err(format!("`{}` in `{input}` is not a number", num.trim()));
        }
        if value < 0.0 {
            return err(format!("`{input}` is negative, and a rate cannot be"));
        }
        Rate::from_per_second(value / per).ok_or_else(|| {
            UnitError(format!(
                "`{input}` is more than a million a second, which gwsim does not accept"
            ))
        })
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let per_min = self.0 * 60.0;
        if self.0.fract() == 0.0 {
            write!(f, "{}/s", self.0)
        } else if (per_min - per_min.round()).abs() < 1e-9 {
            write!(f, "{}/m", per_min.round())
        } else {
            write!(f, "{}/s", self.0)
        }
    }
}

impl Serialize for Rate {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// A random duration, e.g. a think time or a not-ready period.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Distribution {
    /// `1s`: always the same.
    Constant(Duration),
    /// `500ms..2s`: uniform between the two bounds (inclusive).
    Uniform { low: Duration, high: Duration },
    /// `exp(1s)`: exponential with this mean (memoryless, like human inter-event times).
    Exponential { mean: Duration },
    /// `normal(1s, 200ms)`: normal with this mean and standard deviation, cut off at zero.
    Normal { mean: Duration, std_dev: Duration },
}

const DISTRIBUTION_HELP: &str = "write a fixed time `1s`, a range `500ms..2s`, an exponential `exp(1s)` or a normal `normal(1s, 200ms)`";

impl Distribution {
    pub fn parse(input: &str) -> Result<Self, UnitError> {
        let s = input.trim();
        let with_help = |e: UnitError| UnitError(format!("{e} ({DISTRIBUTION_HELP})"));
        if let Some(inner) = s.strip_prefix("exp(").and_then(|r| r.strip_suffix(')')) {
            let mean = parse_duration(inner).map_err(with_help)?;
            if mean.is_zero() {
                return err(format!("`{input}` has a zero mean; use a fixed `0s` instead"));
            }
            return Ok(Distribution::Exponential { mean });
        }
        if let Some(inner) = s.strip_prefix("normal(").and_then(|r| r.strip_suffix(')')) {
            let Some((m, sd)) = inner.split_once(',') else {
                return err(format!(
                    "`{input}` needs a mean and a standard deviation, e.g. `normal(1s, 200ms)`"
                ));
            };
            let mean = parse_duration(m).map_err(with_help)?;
            let std_dev = parse_duration(sd).map_err(with_help)?;
            return Ok(Distribution::Normal { mean, std_dev });
        }
        if let Some((lo, hi)) = s.split_once("..") {
            let low = parse_duration(lo).map_err(with_help)?;
            let high = parse_duration(hi).map_err(with_help)?;
            if low > high {
                return err(format!(
                    "`{input}` starts above where it ends; write the smaller time first"
                ));
            }
            return Ok(Distribution::Uniform { low, high });
        }
        if s.contains('(') {
            return err(format!("`{input}` is not a distribution; {DISTRIBUTION_HELP}"));
        }
        parse_duration(s).map(Distribution::Constant).map_err(with_help)
    }

    /// The expected value, used for sanity checks and reports.
    pub fn mean(&self) -> Duration {
        match *self {
            Distribution::Constant(d) => d,
            Distribution::Uniform { low, high } => (low + high) / 2,
            Distribution::Exponential { mean } | Distribution::Normal { mean, .. } => mean,
        }
    }

    /// Draws one value; the caller's seeded RNG makes every draw reproducible.
    pub fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> Duration {
        match *self {
            Distribution::Constant(d) => d,
            Distribution::Uniform { low, high } => {
                if low == high {
                    low
                } else {
                    rng.random_range(low..=high)
                }
            }
            Distribution::Exponential { mean } => {
                // Inverse CDF; `1 - u` is in (0, 1], so the logarithm is finite.
                let u: f64 = rng.random();
                mean.mul_f64(-(1.0 - u).ln())
            }
            Distribution::Normal { mean, std_dev } => {
                // Box–Muller; the negative tail is cut at zero because a time cannot be negative.
                let u1: f64 = 1.0 - rng.random::<f64>();
                let u2: f64 = rng.random();
                let z = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
                let secs = mean.as_secs_f64() + z * std_dev.as_secs_f64();
                Duration::try_from_secs_f64(secs.max(0.0)).unwrap_or(Duration::ZERO)
            }
        }
    }
}

impl fmt::Display for Distribution {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Distribution::Constant(d) => f.write_str(&format_duration(d)),
            Distribution::Uniform { low, high } => {
                write!(f, "{}..{}", format_duration(low), format_duration(high))
            }
            Distribution::Exponential { mean } => write!(f, "exp({})", format_duration(mean)),
            Distribution::Normal { mean, std_dev } => {
                write!(f, "normal({}, {})", format_duration(mean), format_duration(std_dev))
            }
        }
    }
}

impl Serialize for Distribution {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// An inclusive range of whole numbers: `3` or `1..4` (1, 2, 3 or 4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IntRange {
    pub low: u32,
    pub high: u32,
}

impl IntRange {
    pub fn parse(input: &str) -> Result<Self, UnitError> {
        let s = input.trim();
        let num = |t: &str| {
            t.trim().parse::<u32>().map_err(|_| {
                UnitError(format!(
                    "`{}` in `{input}` is not a whole number from 0 to 4294967295",
                    t.trim()
                ))
            })
        };
        match s.split_once("..") {
            Some((lo, hi)) => {
                let hi = hi.strip_prefix('=').unwrap_or(hi);
                let (low, high) = (num(lo)?, num(hi)?);
                if low > high {
                    return err(format!(
                        "`{input}` starts above where it ends; write the smaller number first"
                    ));
                }
                Ok(IntRange { low, high })
            }
            None => num(s).map(|n| IntRange { low: n, high: n }),
        }
    }

    pub fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> u32 {
        rng.random_range(self.low..=self.high)
    }
}

impl fmt::Display for IntRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.low == self.high {
            write!(f, "{}", self.low)
        } else {
            write!(f, "{}..{}", self.low, self.high)
        }
    }
}

impl Serialize for IntRange {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::SmallRng;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("500ms"), Ok(ms(500)));
        assert_eq!(parse_duration("2s"), Ok(ms(2000)));
        assert_eq!(parse_duration("1m30s"), Ok(ms(90_000)));
        assert_eq!(parse_duration("1h 5m"), Ok(ms(3_900_000)));
        assert_eq!(parse_duration("1.5s"), Ok(ms(1500)));
        assert_eq!(parse_duration("0s"), Ok(Duration::ZERO));
        assert_eq!(parse_duration("250us"), Ok(Duration::from_micros(250)));
    }

    #[test]
    fn duration_errors_say_what_to_write() {
        let e = parse_duration("5").unwrap_err().0;
        assert!(e.contains("`5s`"), "{e}");
        let e = parse_duration("5sec").unwrap_err().0;
        assert!(e.contains("`sec`") && e.contains("ms, s, m or h"), "{e}");
        assert!(parse_duration("").is_err());
        assert!(parse_duration("-1s").unwrap_err().0.contains("negative"));
        assert!(parse_duration("s").is_err());
        assert!(parse_duration("1..2s").is_err());
        assert!(parse_duration("9999999h").unwrap_err().0.contains("week"));
    }

    #[test]
    fn durations_format_round_trip() {
        for s in ["0s", "500ms", "2s", "1m30s", "1h", "1h1m1s1ms", "250us"] {
            let d = parse_duration(s).unwrap();
            assert_eq!(format_duration(d), s);
            assert_eq!(parse_duration(&format_duration(d)), Ok(d));
        }
    }

    #[test]
    fn rates_parse() {
        assert_eq!(Rate::parse("5/s").unwrap().per_second(), 5.0);
        assert_eq!(Rate::parse("300/m").unwrap().per_second(), 5.0);
        assert_eq!(Rate::parse("36/h").unwrap().per_second(), 0.01);
        assert_eq!(Rate::parse("0/s").unwrap().per_second(), 0.0);
        assert!(Rate::parse("5").unwrap_err().0.contains("`5/s`"));
        assert!(Rate::parse("5/d").unwrap_err().0.contains("/s, /m or /h"));
        assert!(Rate::parse("-1/s").unwrap_err().0.contains("negative"));
        assert!(Rate::parse("x/s").is_err());
        assert!(Rate::parse("NaN/s").unwrap_err().0.contains("not a number"));
        assert!(Rate::parse("2000000/s").is_err());
        assert_eq!(Rate::parse("300/m").unwrap().to_string(), "5/s");
        assert_eq!(Rate::parse("30/m").unwrap().to_string(), "30/m");
    }

    #[test]
    fn distributions_parse_and_display() {
        for s in ["1s", "500ms..2s", "exp(1s)", "normal(1s, 200ms)"] {
            assert_eq!(Distribution::parse(s).unwrap().to_string(), s);
        }
        assert!(Distribution::parse("2s..1s").unwrap_err().0.contains("smaller"));
        assert!(Distribution::parse("exp(0s)").is_err());
        assert!(Distribution::parse("gamma(1s)").is_err());
        assert!(Distribution::parse("normal(1s)").is_err());
        assert!(Distribution::parse("exp(1)").unwrap_err().0.contains("exp(1s)"));
    }

    #[test]
    fn distribution_samples_stay_in_bounds_and_have_the_right_mean() {
        let mut rng = SmallRng::seed_from_u64(7);
        let u = Distribution::parse("500ms..2s").unwrap();
        let e = Distribution::parse("exp(1s)").unwrap();
        let n = Distribution::parse("normal(1s, 300ms)").unwrap();
        let (mut se, mut sn) = (0.0, 0.0);
        const N: u32 = 20_000;
        for _ in 0..N {
            let x = u.sample(&mut rng);
            assert!(x >= ms(500) && x <= ms(2000));
            se += e.sample(&mut rng).as_secs_f64();
            sn += n.sample(&mut rng).as_secs_f64();
        }
        // Standard error of the mean is 1/sqrt(N) ≈ 0.007 s for exp(1s): 5 sigma is ±0.035.
        assert!((se / f64::from(N) - 1.0).abs() < 0.035, "{}", se / f64::from(N));
        assert!((sn / f64::from(N) - 1.0).abs() < 0.02, "{}", sn / f64::from(N));
        assert_eq!(Distribution::parse("1s").unwrap().sample(&mut rng), ms(1000));
    }

    proptest::proptest! {
        #[test]
        fn value_parsers_never_panic(s in "\\PC{0,40}") {
            let _ = parse_duration(&s);
            let _ = Rate::parse(&s);
            let _ = IntRange::parse(&s);
            if let Ok(d) = Distribution::parse(&s) {
                let mut rng = SmallRng::seed_from_u64(0);
                let _ = d.sample(&mut rng);
                proptest::prop_assert_eq!(Distribution::parse(&d.to_string()), Ok(d));
            }
        }

        #[test]
        fn durations_round_trip(us in 0u64..7 * 86_400 * 1_000_000) {
            let d = Duration::from_micros(us);
            proptest::prop_assert_eq!(parse_duration(&format_duration(d)), Ok(d));
        }
    }

    #[test]
    fn int_ranges() {
        assert_eq!(IntRange::parse("3"), Ok(IntRange { low: 3, high: 3 }));
        assert_eq!(IntRange::parse("1..4"), Ok(IntRange { low: 1, high: 4 }));
        assert_eq!(IntRange::parse("1..=4"), Ok(IntRange { low: 1, high: 4 }));
        assert!(IntRange::parse("4..1").is_err());
        assert!(IntRange::parse("-1").is_err());
        assert!(IntRange::parse("a..b").is_err());
        let mut rng = SmallRng::seed_from_u64(1);
        let r = IntRange::parse("1..4").unwrap();
        let seen: std::collections::BTreeSet<u32> = (0..200).map(|_| r.sample(&mut rng)).collect();
        assert_eq!(seen.into_iter().collect::<Vec<_>>(), [1, 2, 3, 4]);
    }
}
