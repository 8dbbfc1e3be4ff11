//! The canonical load plan every arrival shape is lowered into, and the pure pacing function that
//! turns it into intended start times.
//!
//! A plan is a list of contiguous segments covering `[0, end)`. An open segment's arrival rate
//! changes linearly from `from` to `to` (a constant rate has `from == to`); a closed segment keeps
//! a number of customers active. Constant rates, Poisson rates, ramps and stages all become such
//! segments, so the engine executes one thing. Pacing works on the cumulative expected arrival
//! count Λ(t) = ∫₀ᵗ rate: the k-th evenly spaced arrival (from 0) is the first instant Λ exceeds
//! k, and a Poisson arrival is the previous one's Λ plus an exponential draw (the time-change
//! construction of a non-homogeneous Poisson process). Both are pure functions of the plan, the
//! previous start and a caller-owned seeded RNG: no clock, no runtime.

use std::ops::Add;
use std::time::Duration;

use rand::Rng;
use serde::Serialize;

use super::units::{Rate, serialize_duration};

/// How arrivals are spread within a rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Spacing {
    /// Exponential gaps: independent customers (the default).
    Poisson,
    /// Evenly spaced: exactly `rate` arrivals a second (the "constant" shape).
    Constant,
}

impl Spacing {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "poisson" => Some(Spacing::Poisson),
            "constant" => Some(Spacing::Constant),
            _ => None,
        }
    }
}

/// How a customer spaces its messages once an agent has joined (`[customers] messages.pace`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Pace {
    /// A closed loop (the default): each message `think` after the previous one was answered,
    /// so a slow answer delays the rest and no latency is measured for the time it held them.
    #[default]
    Closed,
    /// An open plan, as wrk2 paces requests: each message `think` after the previous one was
    /// *meant* to go, whatever its answer took. A message whose time came while the customer was
    /// held goes as soon as it can (a widget sending what was typed meanwhile), and its latency
    /// counts from its planned time.
    Open,
}

impl Pace {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "closed" => Some(Pace::Closed),
            "open" => Some(Pace::Open),
            _ => None,
        }
    }

    /// When the message after one meant for `intended` and answered at `done` is meant to go,
    /// `think` later. Generic over the clock so the engine passes instants and tests durations.
    /// The first message of a chat is meant `think` after the agent joined, whatever the pace.
    pub fn next_send<T: Add<Duration, Output = T>>(
        self,
        intended: T,
        done: T,
        think: Duration,
    ) -> T {
        match self {
            Pace::Closed => done + think,
            Pace::Open => intended + think,
        }
    }
}

/// The arrival shape as the scenario wrote it (the input of [`lower`]).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "lowercase", tag = "shape")]
pub enum Arrival {
    /// `{ rate }`: the same rate for the whole run.
    Steady { rate: Rate, spacing: Spacing },
    /// `{ from, to, over }`: linear ramp, then `to` until the end.
    Ramp {
        from: Rate,
        to: Rate,
        #[serde(serialize_with = "serialize_duration")]
        over: Duration,
        spacing: Spacing,
    },
    /// `{ stages = [...] }`: holds and ramps in sequence, then the last rate until the end.
    Stages { stages: Vec<Stage>, spacing: Spacing },
    /// `{ concurrency }`: closed model, this many customers active at all times.
    Closed { concurrency: u32 },
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Stage {
    /// `{ rate, for }`.
    Hold {
        rate: Rate,
        #[serde(rename = "for", serialize_with = "serialize_duration")]
        length: Duration,
    },
    /// `{ to, over }`: from the previous stage's final rate (0/s for the first stage).
    Ramp {
        to: Rate,
        #[serde(rename = "over", serialize_with = "serialize_duration")]
        length: Duration,
    },
}

impl Arrival {
    /// How long the shape itself lasts before its final rate is held (`None`: no end of its own).
    pub fn shape_length(&self) -> Option<Duration> {
        match self {
            Arrival::Steady { .. } | Arrival::Closed { .. } => None,
            Arrival::Ramp { over, .. } => Some(*over),
            Arrival::Stages { stages, .. } => Some(
                stages
                    .iter()
                    .map(|s| match s {
                        Stage::Hold { length, .. } | Stage::Ramp { length, .. } => *length,
                    })
                    .sum(),
            ),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Load {
    /// Arrivals per second, changing linearly from `from` at the segment start to `to` at its end.
    Open { from: Rate, to: Rate },
    /// Customers kept active.
    Closed { concurrency: u32 },
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Segment {
    #[serde(serialize_with = "serialize_duration")]
    pub start: Duration,
    #[serde(serialize_with = "serialize_duration")]
    pub end: Duration,
    pub load: Load,
}

impl Segment {
    fn secs(&self) -> f64 {
        (self.end - self.start).as_secs_f64()
    }

    /// Expected arrivals in the whole segment (0 for closed segments).
    fn total(&self) -> f64 {
        match self.load {
            Load::Open { from, to } => (from.per_second() + to.per_second()) / 2.0 * self.secs(),
            Load::Closed { .. } => 0.0,
        }
    }
}

/// What the engine executes: contiguous segments from 0 to `end`, all open or all closed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LoadPlan {
    #[serde(serialize_with = "serialize_duration")]
    pub end: Duration,
    pub spacing: Spacing,
    pub segments: Vec<Segment>,
    /// Open plans: the most customers active at once; arrivals beyond it are missed starts.
    pub max_active: Option<u32>,
}

/// Lowers a shape into a plan covering `[0, duration)`. A shape longer than `duration` is cut
/// (the scenario validator refuses that in files; a `--duration` override may ask for it); a
/// shorter one holds its final rate.
pub fn lower(arrival: &Arrival, duration: Duration, max_active: Option<u32>) -> LoadPlan {
    let mut b = Builder { end: duration, at: Duration::ZERO, segments: Vec::new() };
    let spacing = match arrival {
        Arrival::Steady { rate, spacing } => {
            b.rest(Load::Open { from: *rate, to: *rate });
            *spacing
        }
        Arrival::Ramp { from, to, over, spacing } => {
            b.push(*over, Load::Open { from: *from, to: *to });
            b.rest(Load::Open { from: *to, to: *to });
            *spacing
        }
        Arrival::Stages { stages, spacing } => {
            let mut rate = Rate::ZERO;
            for stage in stages {
                match *stage {
                    Stage::Hold { rate: r, length } => {
                        b.push(length, Load::Open { from: r, to: r });
                        rate = r;
                    }
                    Stage::Ramp { to, length } => {
                        b.push(length, Load::Open { from: rate, to });
                        rate = to;
                    }
                }
            }
            b.rest(Load::Open { from: rate, to: rate });
            *spacing
        }
        Arrival::Closed { concurrency } => {
            b.rest(Load::Closed { concurrency: *concurrency });
            Spacing::Constant
        }
    };
    let max_active = if matches!(arrival, Arrival::Closed { .. }) { None } else { max_active };
    LoadPlan { end: duration, spacing, segments: b.segments, max_active }
}

struct Builder {
    end: Duration,
    at: Duration,
    segments: Vec<Segment>,
}

impl Builder {
    /// Appends a segment from where the plan stands to the plan end.
    fn rest(&mut self, load: Load) {
        self.push(self.end.saturating_sub(self.at), load);
    }

    /// Appends a segment of `length`, cut at the plan end (a cut ramp's final rate is scaled so
    /// the rate stays a continuous line).
    fn push(&mut self, length: Duration, load: Load) {
        if self.at >= self.end || length.is_zero() {
            return;
        }
        let wanted_end = self.at.saturating_add(length);
        let seg_end = wanted_end.min(self.end);
        let load = match load {
            Load::Open { from, to } if seg_end < wanted_end => {
                let frac = (seg_end - self.at).as_secs_f64() / length.as_secs_f64();
                let cut = from.per_second() + (to.per_second() - from.per_second()) * frac;
                Load::Open { from, to: Rate::from_per_second(cut).unwrap_or(to) }
            }
            other => other,
        };
        self.segments.push(Segment { start: self.at, end: seg_end, load });
        self.at = seg_end;
    }
}

impl LoadPlan {
    /// A plan with no customers at all (agents only).
    pub fn empty(end: Duration) -> Self {
        LoadPlan { end, spacing: Spacing::Poisson, segments: Vec::new(), max_active: None }
    }

    pub fn is_closed(&self) -> bool {
        self.segments.iter().any(|s| matches!(s.load, Load::Closed { .. }))
    }

    fn segment_at(&self, t: Duration) -> Option<&Segment> {
        self.segments.iter().find(|s| s.start <= t && t < s.end)
    }

    /// Arrivals per second intended at `t` (0 outside the plan and for closed plans).
    pub fn rate_at(&self, t: Duration) -> f64 {
        match self.segment_at(t) {
            Some(s @ Segment { load: Load::Open { from, to }, .. }) => {
                let frac = (t - s.start).as_secs_f64() / s.secs();
                from.per_second() + (to.per_second() - from.per_second()) * frac
            }
            _ => 0.0,
        }
    }

    /// Customers to keep active at `t` (closed plans; 0 otherwise).
    pub fn concurrency_at(&self, t: Duration) -> u32 {
        match self.segment_at(t) {
            Some(Segment { load: Load::Closed { concurrency }, .. }) => *concurrency,
            _ => 0,
        }
    }

    /// Λ(t): the expected number of arrivals in `[0, t)`.
    pub fn expected_arrivals(&self, t: Duration) -> f64 {
        let mut total = 0.0;
        for s in &self.segments {
            if t >= s.end {
                total += s.total();
            } else if t > s.start
                && let Load::Open { from, to } = s.load
            {
                let x = (t - s.start).as_secs_f64();
                let (a, b) = (from.per_second(), to.per_second());
                total += a * x + (b - a) * x * x / (2.0 * s.secs());
            }
        }
        total
    }

    /// The first instant at which Λ exceeds `target`, if that happens before the plan ends.
    fn time_when_exceeds(&self, target: f64) -> Option<Duration> {
        if !target.is_finite() || target < 0.0 {
            return None;
        }
        let mut cum = 0.0;
        for s in &self.segments {
            let seg_total = s.total();
            if cum + seg_total > target {
                let Load::Open { from, to } = s.load else { return None };
                let x = target - cum;
                let (a, b, len) = (from.per_second(), to.per_second(), s.secs());
                let k = (b - a) / (2.0 * len);
                // Solve a·s + k·s² = x for the root in [0, len]; this form avoids the cancellation
                // of the textbook formula when k is small.
                let disc = (a * a + 4.0 * k * x).max(0.0);
                let denom = a + disc.sqrt();
                let secs = if x <= 0.0 || denom <= 0.0 { 0.0 } else { (2.0 * x / denom).min(len) };
                let t = s.start + Duration::try_from_secs_f64(secs).unwrap_or(Duration::ZERO);
                return (t < self.end).then_some(t);
            }
            cum += seg_total;
        }
        None
    }
}

/// The intended start of the next customer arrival, or `None` when the plan has no more.
///
/// `previous` is the intended start returned last time (`None` before the first) and `sent` how
/// many starts were returned so far. Constant spacing uses only `sent` (the k-th arrival is where
/// Λ passes k, so spacing is exact and never drifts); Poisson spacing draws an exponential gap in
/// Λ from `rng`, so a seeded RNG gives the same schedule every run. Closed plans have no arrival
/// schedule (the engine keeps [`LoadPlan::concurrency_at`] customers active) and return `None`.
pub fn next_start<R: Rng + ?Sized>(
    plan: &LoadPlan,
    previous: Option<Duration>,
    sent: u64,
    rng: &mut R,
) -> Option<Duration> {
    if plan.is_closed() {
        return None;
    }
    match plan.spacing {
        Spacing::Constant => plan.time_when_exceeds(sent as f64),
        Spacing::Poisson => {
            let base = previous.map_or(0.0, |p| plan.expected_arrivals(p));
            // Inverse CDF of Exp(1); `1 - u` is in (0, 1], so the logarithm is finite.
            let u: f64 = rng.random();
            let gap = -(1.0 - u).ln();
            let t = plan.time_when_exceeds(base + gap)?;
            // Rounding to whole nanoseconds must never move a start before the previous one.
            Some(previous.map_or(t, |p| t.max(p)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rand::SeedableRng;
    use rand::rngs::SmallRng;

    fn rate(r: f64) -> Rate {
        Rate::from_per_second(r).unwrap()
    }
    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    fn all_starts(plan: &LoadPlan, seed: u64) -> Vec<Duration> {
        let mut rng = SmallRng::seed_from_u64(seed);
        let mut out = Vec::new();
        let mut prev = None;
        while let Some(t) = next_start(plan, prev, out.len() as u64, &mut rng) {
            out.push(t);
            prev = Some(t);
            assert!(out.len() < 10_000_000, "runaway schedule");
        }
        out
    }

    /// The plan's send times when each send takes `took` (a 5 s stall on the second): open
    /// pacing keeps the plan whatever the sends took, closed pacing pushes every later message
    /// back by the stall.
    fn sends(pace: Pace, took: &[Duration], think: Duration) -> Vec<Duration> {
        let joined = secs(1);
        let mut intended = joined + think;
        let mut clock = intended;
        let mut out = Vec::new();
        for t in took {
            out.push(intended);
            // Sent when meant, or as soon as the previous one was answered.
            clock = clock.max(intended) + *t;
            intended = pace.next_send(intended, clock, think);
        }
        out
    }

    #[test]
    fn open_pacing_keeps_the_plan_whatever_the_sends_took() {
        let think = Duration::from_millis(400);
        let fast = [Duration::from_millis(10); 6];
        let mut stalled = fast;
        stalled[1] = secs(5);
        let planned: Vec<Duration> = (1..=6).map(|k| secs(1) + think * k).collect();
        assert_eq!(sends(Pace::Open, &fast, think), planned);
        assert_eq!(sends(Pace::Open, &stalled, think), planned);
        // Closed: each message waits for the previous answer, so the stall moves the rest.
        let closed = sends(Pace::Closed, &stalled, think);
        assert_eq!(closed[..2], sends(Pace::Closed, &fast, think)[..2]);
        assert_eq!(closed[2], closed[1] + secs(5) + think);
        assert_eq!(Pace::parse("open"), Some(Pace::Open));
        assert_eq!(Pace::parse("closed"), Some(Pace::Closed));
        assert_eq!(Pace::parse("opne"), None);
        assert_eq!(Pace::default(), Pace::Closed);
    }

    #[test]
    fn constant_rate_spacing_is_exact() {
        let plan =
            lower(&Arrival::Steady { rate: rate(5.0), spacing: Spacing::Constant }, secs(10), None);
        let starts = all_starts(&plan, 0);
        assert_eq!(starts.len(), 50);
        for (i, t) in starts.iter().enumerate() {
            assert_eq!(*t, Duration::from_millis(200 * i as u64), "arrival {i}");
        }
    }

    #[test]
    fn ramp_then_hold_segments() {
        let a = Arrival::Ramp {
            from: rate(1.0),
            to: rate(11.0),
            over: secs(10),
            spacing: Spacing::Poisson,
        };
        let plan = lower(&a, secs(30), Some(100));
        assert_eq!(plan.segments.len(), 2);
        assert_eq!(plan.segments[0].load, Load::Open { from: rate(1.0), to: rate(11.0) });
        assert_eq!(plan.segments[1].start, secs(10));
        assert_eq!(plan.segments[1].end, secs(30));
        assert_eq!(plan.max_active, Some(100));
        assert!((plan.rate_at(secs(5)) - 6.0).abs() < 1e-9);
        // Λ(10s) = mean rate 6/s × 10 s; then 11/s for 20 s.
        assert!((plan.expected_arrivals(secs(10)) - 60.0).abs() < 1e-9);
        assert!((plan.expected_arrivals(secs(30)) - 280.0).abs() < 1e-9);
        assert!((plan.expected_arrivals(secs(99)) - 280.0).abs() < 1e-9);
    }

    #[test]
    fn ramp_with_constant_spacing_integrates_to_the_right_count() {
        let a = Arrival::Ramp {
            from: rate(0.0),
            to: rate(20.0),
            over: secs(60),
            spacing: Spacing::Constant,
        };
        let plan = lower(&a, secs(60), None);
        // ∫ 0→20/s over 60 s = 600.
        let starts = all_starts(&plan, 0);
        assert_eq!(starts.len(), 600);
        // Denser at the end: the last ten gaps are shorter than the first ten.
        let gap = |i: usize| starts[i + 1] - starts[i];
        assert!(gap(1) > gap(590));
        assert!(starts.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn a_shape_longer_than_the_run_is_cut_with_a_scaled_final_rate() {
        let a = Arrival::Ramp {
            from: rate(0.0),
            to: rate(10.0),
            over: secs(100),
            spacing: Spacing::Poisson,
        };
        let plan = lower(&a, secs(50), None);
        assert_eq!(plan.segments.len(), 1);
        assert_eq!(plan.segments[0].load, Load::Open { from: rate(0.0), to: rate(5.0) });
        assert_eq!(plan.end, secs(50));
    }

    #[test]
    fn poisson_mean_rate_is_within_statistical_bounds() {
        let plan = lower(
            &Arrival::Steady { rate: rate(50.0), spacing: Spacing::Poisson },
            secs(200),
            None,
        );
        for seed in [1, 2, 3] {
            let n = all_starts(&plan, seed).len() as f64;
            // Expected 10 000, standard deviation 100: allow 5 sigma.
            assert!((n - 10_000.0).abs() < 500.0, "seed {seed}: {n}");
        }
        // The same seed gives the same schedule.
        assert_eq!(all_starts(&plan, 9), all_starts(&plan, 9));
        assert_ne!(all_starts(&plan, 9), all_starts(&plan, 10));
    }

    #[test]
    fn poisson_gaps_are_exponential() {
        let plan = lower(
            &Arrival::Steady { rate: rate(10.0), spacing: Spacing::Poisson },
            secs(1000),
            None,
        );
        let starts = all_starts(&plan, 42);
        let gaps: Vec<f64> = starts.windows(2).map(|w| (w[1] - w[0]).as_secs_f64()).collect();
        let mean = gaps.iter().sum::<f64>() / gaps.len() as f64;
        assert!((mean - 0.1).abs() < 0.005, "{mean}");
        // For an exponential, P(gap > mean) = e^-1 ≈ 0.368.
        let above = gaps.iter().filter(|g| **g > 0.1).count() as f64 / gaps.len() as f64;
        assert!((above - 0.368).abs() < 0.02, "{above}");
    }

    #[test]
    fn poisson_ramp_tracks_the_integral() {
        let a = Arrival::Ramp {
            from: rate(0.0),
            to: rate(100.0),
            over: secs(100),
            spacing: Spacing::Poisson,
        };
        let plan = lower(&a, secs(100), None);
        let starts = all_starts(&plan, 5);
        // Λ = 5000 over the run, and 1250 in the first half (quadratic growth).
        assert!((starts.len() as f64 - 5000.0).abs() < 5.0 * 5000f64.sqrt());
        let first_half = starts.iter().filter(|t| **t < secs(50)).count() as f64;
        assert!((first_half - 1250.0).abs() < 5.0 * 1250f64.sqrt(), "{first_half}");
    }

    #[test]
    fn stages_are_continuous_and_hold_the_last_rate() {
        let a = Arrival::Stages {
            stages: vec![
                Stage::Ramp { to: rate(10.0), length: secs(10) },
                Stage::Hold { rate: rate(10.0), length: secs(10) },
                Stage::Ramp { to: rate(2.0), length: secs(10) },
            ],
            spacing: Spacing::Poisson,
        };
        assert_eq!(a.shape_length(), Some(secs(30)));
        let plan = lower(&a, secs(40), None);
        assert_eq!(plan.segments.len(), 4);
        for w in plan.segments.windows(2) {
            assert_eq!(w[0].end, w[1].start, "segments are contiguous");
        }
        // A ramp stage starts where the previous one ended.
        assert_eq!(plan.segments[2].load, Load::Open { from: rate(10.0), to: rate(2.0) });
        assert_eq!(plan.segments[3].load, Load::Open { from: rate(2.0), to: rate(2.0) });
        assert!((plan.rate_at(secs(35)) - 2.0).abs() < 1e-9);
        // Λ = 50 + 100 + 60 + 20.
        assert!((plan.expected_arrivals(secs(40)) - 230.0).abs() < 1e-9);
    }

    #[test]
    fn zero_rate_plans_and_closed_plans_have_no_arrivals() {
        let zero =
            lower(&Arrival::Steady { rate: rate(0.0), spacing: Spacing::Constant }, secs(10), None);
        assert!(all_starts(&zero, 0).is_empty());
        let zero_p =
            lower(&Arrival::Steady { rate: rate(0.0), spacing: Spacing::Poisson }, secs(10), None);
        assert!(all_starts(&zero_p, 0).is_empty());
        let closed = lower(&Arrival::Closed { concurrency: 7 }, secs(10), Some(5));
        assert!(closed.is_closed());
        assert!(all_starts(&closed, 0).is_empty());
        assert_eq!(closed.concurrency_at(secs(3)), 7);
        assert_eq!(closed.concurrency_at(secs(10)), 0);
        assert_eq!(closed.max_active, None);
        assert!(all_starts(&LoadPlan::empty(secs(10)), 0).is_empty());
    }

    #[test]
    fn a_silent_first_stage_delays_the_first_arrival() {
        let a = Arrival::Stages {
            stages: vec![
                Stage::Hold { rate: rate(0.0), length: secs(5) },
                Stage::Hold { rate: rate(2.0), length: secs(5) },
            ],
            spacing: Spacing::Constant,
        };
        let plan = lower(&a, secs(10), None);
        let starts = all_starts(&plan, 0);
        assert_eq!(starts.first(), Some(&secs(5)));
        assert_eq!(starts.len(), 10);
    }

    fn arb_stage() -> impl Strategy<Value = Stage> {
        prop_oneof![
            (0u32..200, 1u64..30)
                .prop_map(|(r, s)| Stage::Hold { rate: rate(f64::from(r) / 4.0), length: secs(s) }),
            (0u32..200, 1u64..30)
                .prop_map(|(r, s)| Stage::Ramp { to: rate(f64::from(r) / 4.0), length: secs(s) }),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

        /// For any stages: segments tile [0, end), ramps are continuous, Λ is monotone, constant
        /// spacing gives exactly ⌈Λ(end)⌉ strictly increasing starts, each where Λ reaches its index.
        #[test]
        fn stages_property(stages in proptest::collection::vec(arb_stage(), 1..6), extra in 0u64..20, seed in 0u64..1000) {
            let a = Arrival::Stages { stages: stages.clone(), spacing: Spacing::Constant };
            let end = a.shape_length().unwrap() + secs(extra);
            let plan = lower(&a, end, None);
            prop_assert_eq!(plan.segments.first().map(|s| s.start), Some(Duration::ZERO));
            prop_assert_eq!(plan.segments.last().map(|s| s.end), Some(end));
            for w in plan.segments.windows(2) {
                prop_assert_eq!(w[0].end, w[1].start);
            }
            let mut prev_end_rate = 0.0;
            for (seg, stage) in plan.segments.iter().zip(&stages) {
                if let (Stage::Ramp { .. }, Load::Open { from, .. }) = (stage, seg.load) {
                    prop_assert!((from.per_second() - prev_end_rate).abs() < 1e-9);
                }
                if let Load::Open { to, .. } = seg.load { prev_end_rate = to.per_second(); }
            }
            let mut last = -1.0;
            for ms in (0..=end.as_millis() as u64).step_by(250) {
                let l = plan.expected_arrivals(Duration::from_millis(ms));
                prop_assert!(l >= last - 1e-9);
                last = l;
            }
            let total = plan.expected_arrivals(end);
            let starts = all_starts(&plan, seed);
            // Floating point may put an arrival that falls exactly on the end either side.
            let expected = total.ceil() as i64;
            prop_assert!((starts.len() as i64 - expected).abs() <= 1, "{} vs {}", starts.len(), total);
            for (k, t) in starts.iter().enumerate() {
                prop_assert!(*t < end);
                let l = plan.expected_arrivals(*t);
                prop_assert!((l - k as f64).abs() < 1e-6, "arrival {} at Λ={}", k, l);
            }
            prop_assert!(starts.windows(2).all(|w| w[0] <= w[1]));

            let p = LoadPlan { spacing: Spacing::Poisson, ..plan.clone() };
            let ps = all_starts(&p, seed);
            prop_assert!(ps.windows(2).all(|w| w[0] <= w[1]));
            prop_assert!(ps.iter().all(|t| *t < end));
            // No arrival where the rate is zero throughout (a zero-rate hold).
            for t in &ps {
                let seg = plan.segments.iter().find(|s| s.start <= *t && *t < s.end).unwrap();
                if let Load::Open { from, to } = seg.load {
                    prop_assert!(from.per_second() > 0.0 || to.per_second() > 0.0);
                }
            }
        }
    }
}
