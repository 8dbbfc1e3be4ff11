//! What one step's figures say: good, bad (a threshold failed), or inconclusive (the generator
//! was the bottleneck, too few samples, or the step was interrupted).
//!
//! The asymmetry is deliberate: a failed check is a failure however few samples it saw (the
//! capacity is never overstated), but a step is good only with every judged latency metric
//! sampled `min_samples` times and the generator within its bounds.

use std::fmt;
use std::time::Duration;

use serde::Serialize;

use crate::scenario::Capacity;
use crate::scenario::units::{Rate, format_duration};

/// Late arrivals always tolerated, whatever `max_missed` says: a short step at a low rate is not
/// generator-limited for one or two arrivals a scheduler hiccup delayed (latency is measured from
/// the intended start either way); more than `max_missed` of them means the generator could not
/// keep its schedule.
const LATE_FLOOR: u64 = 2;

/// What one step measured: the input of [`judge()`], and a row of `capacity.json`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StepFigures {
    /// The arrival rate asked for, per second.
    #[serde(serialize_with = "super::search::per_second")]
    pub offered: Rate,
    /// How long the judged (post-warmup) part of the step lasted, in seconds.
    pub judged_secs: f64,
    /// Customers started (the whole step).
    pub arrivals: u64,
    /// Chats an agent joined during the judged part (`customer.wait` samples, by when they were
    /// taken, so chats the drain answered after the step do not count).
    pub answered: u64,
    /// Operations completed during the judged part (likewise by when).
    pub operations: u64,
    /// Failed operations and ordering violations of the step's measured part (the run's counts).
    pub errors: u64,
    pub violations: u64,
    /// Arrivals that started late or not at all (beyond `max_active`).
    pub missed_starts: u64,
    /// Whether the scenario caps active customers (`max_active`): then a missed start may be the
    /// server's backlog, not the generator.
    pub max_active: bool,
    /// Every threshold of the scenario, judged on this step.
    pub checks: Vec<Check>,
    /// One sentence per failed check (thresholds, and violations no threshold allows).
    pub failures: Vec<String>,
    /// The judged latency metrics and how many samples each had.
    pub samples: Vec<(String, u64)>,
    /// The simulator's CPU over the step, in cores (`None`: not measurable here); the embedded
    /// server's threads are apart, in `server_cpu_cores`.
    pub cpu_cores: Option<f64>,
    /// The embedded server's CPU over the step, in cores (`None` for a remote target): shown
    /// beside the simulator's, so a server taking the generator's cores is seen.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_cpu_cores: Option<f64>,
    /// This machine's cores.
    pub cores: f64,
    /// The generator's scheduling lag, p99 and max, in microseconds.
    pub lag_p99_us: Option<u64>,
    pub lag_max_us: Option<u64>,
    /// The step was interrupted (Ctrl-C).
    pub partial: bool,
    /// p50 and p99 of the key latency metrics, in microseconds, for the table and the chart.
    pub latencies: Vec<KeyLatency>,
}

impl StepFigures {
    /// Chats answered per second in the judged part.
    pub fn chats_per_second(&self) -> f64 {
        per_second(self.answered, self.judged_secs)
    }

    /// Operations per second in the judged part.
    pub fn ops_per_second(&self) -> f64 {
        per_second(self.operations, self.judged_secs)
    }
}

fn per_second(n: u64, secs: f64) -> f64 {
    if secs > 0.0 { n as f64 / secs } else { 0.0 }
}

/// One latency metric's p50 and p99 in a step.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KeyLatency {
    pub metric: String,
    pub p50_us: Option<u64>,
    pub p99_us: Option<u64>,
}

/// One threshold judged on a step.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Check {
    /// As people read it: `Consult.settle p99 <= 500ms`.
    pub what: String,
    /// The observed value in the limit's unit, as text (`None`: no data).
    pub observed: Option<String>,
    /// Observed over limit for an upper limit (1.0 is at the limit); `None` otherwise.
    pub load_factor: Option<f64>,
    pub passed: bool,
}

/// The verdict on one step.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "verdict")]
pub enum Verdict {
    Good,
    Bad { reasons: Vec<String> },
    Inconclusive { reason: Inconclusive },
}

impl Verdict {
    /// The table's short word for it.
    pub fn word(&self) -> &'static str {
        match self {
            Verdict::Good => "good",
            Verdict::Bad { .. } => "BAD",
            Verdict::Inconclusive { .. } => "inconclusive",
        }
    }
}

/// Why a step could not be judged; each stops the search.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum Inconclusive {
    /// The generator, not the target, was the bottleneck.
    GeneratorLimited { why: String },
    /// A judged latency metric had fewer samples than `min_samples`.
    TooFewSamples { metric: String, got: u64, want: u64 },
    /// Interrupted (Ctrl-C) before the step ended.
    Interrupted,
}

impl fmt::Display for Inconclusive {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Inconclusive::GeneratorLimited { why } => write!(f, "generator-limited: {why}"),
            Inconclusive::TooFewSamples { metric, got, want } => write!(
                f,
                "too few samples: {metric} had {got}, min_samples is {want} (hold longer)"
            ),
            Inconclusive::Interrupted => f.write_str("interrupted"),
        }
    }
}

/// The verdict on a step: inconclusive when interrupted or generator-limited (whatever the
/// checks say: a failure may be the generator's), bad when a check failed, inconclusive with too
/// few samples, else good.
pub fn judge(cfg: &Capacity, f: &StepFigures) -> Verdict {
    if f.partial {
        return Verdict::Inconclusive { reason: Inconclusive::Interrupted };
    }
    if let Some(why) = generator_limited(cfg, f) {
        return Verdict::Inconclusive { reason: Inconclusive::GeneratorLimited { why } };
    }
    let mut reasons = f.failures.clone();
    if f.max_active && f.missed_starts > 0 {
        reasons.push(format!(
            "{} arrivals missed their start (late, or beyond max_active)",
            f.missed_starts
        ));
    }
    if !reasons.is_empty() {
        return Verdict::Bad { reasons };
    }
    if let Some((metric, got)) = f.samples.iter().find(|(_, n)| *n < cfg.min_samples) {
        return Verdict::Inconclusive {
            reason: Inconclusive::TooFewSamples {
                metric: metric.clone(),
                got: *got,
                want: cfg.min_samples,
            },
        };
    }
    Verdict::Good
}

/// Why the generator was the bottleneck of a step, if it was.
fn generator_limited(cfg: &Capacity, f: &StepFigures) -> Option<String> {
    if let Some(cpu) = f.cpu_cores
        && f.cores > 0.0
        && cpu > cfg.max_cpu * f.cores
    {
        return Some(format!(
            "the simulator used {cpu:.2} of {} cores, over max_cpu {}",
            f.cores, cfg.max_cpu
        ));
    }
    if let Some(p99) = f.lag_p99_us
        && Duration::from_micros(p99) > cfg.max_lag
    {
        return Some(format!(
            "its scheduling lag p99 was {}, over max_lag {}",
            format_duration(Duration::from_micros(p99)),
            format_duration(cfg.max_lag)
        ));
    }
    // Without max_active every missed start is an arrival the generator started late.
    let tolerated = ((f.arrivals as f64 * cfg.max_missed).floor() as u64).max(LATE_FLOOR);
    if !f.max_active && f.missed_starts > tolerated {
        return Some(format!(
            "{} of {} arrivals started late (missed starts)",
            f.missed_starts, f.arrivals
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rate(r: f64) -> Rate {
        Rate::from_per_second(r).unwrap()
    }

    fn good_step() -> StepFigures {
        StepFigures {
            offered: rate(5.0),
            judged_secs: 30.0,
            arrivals: 150,
            answered: 150,
            operations: 900,
            errors: 0,
            violations: 0,
            missed_starts: 0,
            max_active: false,
            checks: Vec::new(),
            failures: Vec::new(),
            samples: vec![("customer.wait".into(), 150)],
            cpu_cores: Some(0.5),
            server_cpu_cores: None,
            cores: 2.0,
            lag_p99_us: Some(1_000),
            lag_max_us: Some(3_000),
            partial: false,
            latencies: Vec::new(),
        }
    }

    #[test]
    fn a_step_within_every_bound_is_good() {
        let f = good_step();
        assert_eq!(judge(&Capacity::default(), &f), Verdict::Good);
        assert_eq!(f.chats_per_second(), 5.0);
        assert_eq!(f.ops_per_second(), 30.0);
    }

    #[test]
    fn a_failed_threshold_makes_a_step_bad_even_with_few_samples() {
        let mut f = good_step();
        f.failures = vec!["threshold customer.wait p99 <= 1s failed: observed 1.2s".into()];
        f.samples = vec![("customer.wait".into(), 3)];
        match judge(&Capacity::default(), &f) {
            Verdict::Bad { reasons } => assert_eq!(reasons, f.failures),
            v => panic!("expected bad, got {v:?}"),
        }
    }

    #[test]
    fn too_few_samples_is_never_good() {
        let mut f = good_step();
        f.samples = vec![("customer.wait".into(), 150), ("Consult.settle".into(), 99)];
        assert_eq!(
            judge(&Capacity::default(), &f),
            Verdict::Inconclusive {
                reason: Inconclusive::TooFewSamples {
                    metric: "Consult.settle".into(),
                    got: 99,
                    want: 100
                }
            }
        );
    }

    #[test]
    fn the_generators_cpu_over_its_bound_is_generator_limited_even_when_checks_fail() {
        let mut f = good_step();
        f.cpu_cores = Some(1.85);
        f.failures = vec!["threshold errors max 0 failed: observed 3".into()];
        let v = judge(&Capacity::default(), &f);
        let Verdict::Inconclusive { reason: Inconclusive::GeneratorLimited { why } } = v else {
            panic!("expected generator-limited, got {v:?}");
        };
        assert!(why.contains("1.85 of 2 cores"), "{why}");
        // At the bound exactly it is still the target's step.
        f.cpu_cores = Some(1.8);
        assert!(matches!(judge(&Capacity::default(), &f), Verdict::Bad { .. }));
    }

    #[test]
    fn scheduling_lag_over_its_bound_is_generator_limited() {
        let mut f = good_step();
        f.lag_p99_us = Some(80_000);
        let v = judge(&Capacity::default(), &f);
        assert!(
            matches!(&v, Verdict::Inconclusive { reason: Inconclusive::GeneratorLimited { why } } if why.contains("80ms")),
            "{v:?}"
        );
    }

    #[test]
    fn late_starts_beyond_jitter_are_generator_limited_and_beyond_max_active_are_bad() {
        let mut f = good_step();
        f.missed_starts = 7; // 7 of 150: within the default 5%
        assert_eq!(judge(&Capacity::default(), &f), Verdict::Good);
        f.missed_starts = 8;
        assert!(matches!(
            judge(&Capacity::default(), &f),
            Verdict::Inconclusive { reason: Inconclusive::GeneratorLimited { .. } }
        ));
        // A looser bound for a noisy machine: 15 of 150 late is within 10%.
        let loose = Capacity { max_missed: 0.1, ..Capacity::default() };
        f.missed_starts = 15;
        assert_eq!(judge(&loose, &f), Verdict::Good);
        f.missed_starts = 16;
        assert!(matches!(judge(&loose, &f), Verdict::Inconclusive { .. }));
        // A short step with few arrivals tolerates two, whatever the share says.
        f.arrivals = 10;
        f.missed_starts = 2;
        assert_eq!(judge(&Capacity::default(), &f), Verdict::Good);
        f.missed_starts = 3;
        assert!(matches!(judge(&Capacity::default(), &f), Verdict::Inconclusive { .. }));
        // With max_active, a missed start may be the server's backlog: the step is bad.
        f.max_active = true;
        assert!(matches!(judge(&Capacity::default(), &f), Verdict::Bad { .. }));
    }

    #[test]
    fn an_interrupted_step_is_inconclusive() {
        let mut f = good_step();
        f.partial = true;
        assert_eq!(
            judge(&Capacity::default(), &f),
            Verdict::Inconclusive { reason: Inconclusive::Interrupted }
        );
    }
}
