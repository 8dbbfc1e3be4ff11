//! The search over arrival rates: raise from `start` (by `step` or `factor`, at most `max`) until
//! a step is not good, then bisect between the last good and the first bad rate until they are
//! within `resolution`. An inconclusive step stops the search where it is.

use serde::Serialize;

use super::judge::{Inconclusive, Verdict};
use crate::scenario::units::Rate;
use crate::scenario::{Capacity, Growth};

/// Where a search stands; feed it each step's verdict with [`Search::record`] and ask
/// [`Search::next`] for the next rate until it says `None`.
#[derive(Debug, Clone)]
pub struct Search {
    cfg: Capacity,
    /// The highest good rate and the lowest bad one so far.
    good: Option<Rate>,
    bad: Option<Rate>,
    /// The last rate tried while raising (`None` before the first step).
    raised: Option<Rate>,
    stopped: Option<Stop>,
}

/// Why a search ended.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum Stop {
    /// The last good and first bad rates are within `resolution`.
    Narrowed,
    /// Every step up to `max` was good: the capacity is at least `max`.
    ReachedMax,
    /// The first step (`start`) already failed.
    NoGoodStep,
    /// A step could not be judged; the search stopped there.
    Inconclusive {
        #[serde(serialize_with = "per_second")]
        at: Rate,
        reason: Inconclusive,
    },
}

/// What a search found.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Finding {
    /// The highest rate judged good (`None`: none was).
    #[serde(serialize_with = "opt_per_second")]
    pub capacity: Option<Rate>,
    /// The lowest rate judged bad (`None`: none was).
    #[serde(serialize_with = "opt_per_second")]
    pub first_failure: Option<Rate>,
    pub stop: Stop,
}

impl Finding {
    /// How far the first failure is above the capacity, per second.
    pub fn margin(&self) -> Option<f64> {
        Some(self.first_failure?.per_second() - self.capacity?.per_second())
    }

    /// Whether the capacity found reaches `min` (no `min`: always).
    pub fn meets(&self, min: Option<Rate>) -> bool {
        match min {
            None => true,
            Some(m) => self.capacity.is_some_and(|c| c >= m),
        }
    }
}

pub(crate) fn per_second<S: serde::Serializer>(r: &Rate, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(r.per_second())
}

fn opt_per_second<S: serde::Serializer>(r: &Option<Rate>, s: S) -> Result<S::Ok, S::Error> {
    match r {
        Some(r) => s.serialize_some(&r.per_second()),
        None => s.serialize_none(),
    }
}

/// `r` per second as a rate, rounded to 0.001/s so bisection midpoints read cleanly.
fn rate(r: f64) -> Rate {
    Rate::from_per_second((r * 1000.0).round() / 1000.0).unwrap_or(Rate::ZERO)
}

impl Search {
    pub fn new(cfg: &Capacity) -> Search {
        Search { cfg: cfg.clone(), good: None, bad: None, raised: None, stopped: None }
    }

    /// The next rate to try; `None` when the search is over.
    pub fn next(&self) -> Option<Rate> {
        if self.stopped.is_some() {
            return None;
        }
        match (self.good, self.bad) {
            // Narrowing: halve the gap until it is within the resolution.
            (Some(g), Some(b)) => {
                let gap = b.per_second() - g.per_second();
                (gap > self.cfg.resolution.per_second() + 1e-9)
                    .then(|| rate((g.per_second() + b.per_second()) / 2.0))
            }
            (None, Some(_)) => None,
            // Raising.
            (_, None) => match self.raised {
                None => Some(self.cfg.start),
                Some(last) if last >= self.cfg.max => None,
                Some(last) => {
                    let up = match self.cfg.growth {
                        Growth::Step(s) => last.per_second() + s.per_second(),
                        Growth::Factor(f) => last.per_second() * f,
                    };
                    Some(rate(up.min(self.cfg.max.per_second())))
                }
            },
        }
    }

    /// Takes the verdict on the step at `at`.
    pub fn record(&mut self, at: Rate, verdict: &Verdict) {
        if self.bad.is_none() {
            self.raised = Some(at);
        }
        match verdict {
            Verdict::Good => {
                self.good = Some(self.good.map_or(at, |g| if at > g { at } else { g }))
            }
            Verdict::Bad { .. } => {
                self.bad = Some(self.bad.map_or(at, |b| if at < b { at } else { b }))
            }
            Verdict::Inconclusive { reason } => {
                self.stopped = Some(Stop::Inconclusive { at, reason: reason.clone() });
            }
        }
    }

    /// What the search found so far (the final answer once [`Search::next`] is `None`).
    pub fn finding(&self) -> Finding {
        let stop = match (&self.stopped, self.good, self.bad) {
            (Some(s), _, _) => s.clone(),
            (None, None, Some(_)) => Stop::NoGoodStep,
            (None, _, Some(_)) => Stop::Narrowed,
            (None, _, None) => Stop::ReachedMax,
        };
        Finding { capacity: self.good, first_failure: self.bad, stop }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capacity::judge::Inconclusive;

    fn r(x: f64) -> Rate {
        Rate::from_per_second(x).unwrap()
    }

    fn cfg(start: f64, growth: Growth, max: f64, resolution: f64) -> Capacity {
        Capacity {
            start: r(start),
            growth,
            max: r(max),
            resolution: r(resolution),
            ..Capacity::default()
        }
    }

    /// Runs a search against a target whose true limit is `limit`: rates at or below it are good.
    fn run(cfg: &Capacity, limit: f64) -> (Vec<f64>, Finding) {
        let mut s = Search::new(cfg);
        let mut tried = Vec::new();
        while let Some(at) = s.next() {
            tried.push(at.per_second());
            assert!(tried.len() < 100, "the search does not end: {tried:?}");
            let v = if at.per_second() <= limit {
                Verdict::Good
            } else {
                Verdict::Bad { reasons: vec!["too slow".into()] }
            };
            s.record(at, &v);
        }
        (tried, s.finding())
    }

    #[test]
    fn raises_by_steps_then_bisects_to_the_resolution() {
        let c = cfg(2.0, Growth::Step(r(2.0)), 50.0, 0.25);
        let (tried, f) = run(&c, 6.3);
        assert_eq!(tried, vec![2.0, 4.0, 6.0, 8.0, 7.0, 6.5, 6.25]);
        assert_eq!(f.capacity, Some(r(6.25)));
        assert_eq!(f.first_failure, Some(r(6.5)));
        assert_eq!(f.stop, Stop::Narrowed);
        assert_eq!(f.margin(), Some(0.25));
    }

    #[test]
    fn the_found_capacity_is_within_the_resolution_below_any_limit() {
        for growth in [Growth::Step(r(1.5)), Growth::Factor(1.5), Growth::Factor(3.0)] {
            for limit in [1.0, 1.3, 2.9, 7.77, 12.0, 33.3] {
                let c = cfg(1.0, growth, 100.0, 0.1);
                let (_, f) = run(&c, limit);
                let cap = f.capacity.unwrap().per_second();
                assert!(cap <= limit && limit - cap <= 0.1 + 1e-9, "{growth:?} {limit}: {cap}");
                assert!(f.first_failure.unwrap().per_second() - cap <= 0.1 + 1e-9);
            }
        }
    }

    #[test]
    fn factor_growth_multiplies_and_stops_at_max() {
        let c = cfg(1.0, Growth::Factor(2.0), 10.0, 0.5);
        let (tried, f) = run(&c, 1000.0);
        assert_eq!(tried, vec![1.0, 2.0, 4.0, 8.0, 10.0]);
        assert_eq!(f.capacity, Some(r(10.0)));
        assert_eq!(f.stop, Stop::ReachedMax);
        assert!(f.meets(Some(r(10.0))));
    }

    #[test]
    fn a_failing_first_step_finds_nothing() {
        let c = cfg(5.0, Growth::Step(r(1.0)), 10.0, 0.5);
        let (tried, f) = run(&c, 1.0);
        assert_eq!(tried, vec![5.0]);
        assert_eq!(f.capacity, None);
        assert_eq!(f.stop, Stop::NoGoodStep);
        assert!(!f.meets(Some(r(0.1))));
        assert!(f.meets(None));
    }

    #[test]
    fn an_inconclusive_step_stops_the_search_with_its_reason() {
        let c = cfg(1.0, Growth::Step(r(1.0)), 10.0, 0.5);
        let mut s = Search::new(&c);
        s.record(r(1.0), &Verdict::Good);
        assert_eq!(s.next(), Some(r(2.0)));
        let reason = Inconclusive::GeneratorLimited { why: "cpu".into() };
        s.record(r(2.0), &Verdict::Inconclusive { reason: reason.clone() });
        assert_eq!(s.next(), None);
        let f = s.finding();
        assert_eq!(f.capacity, Some(r(1.0)));
        assert_eq!(f.first_failure, None);
        assert_eq!(f.stop, Stop::Inconclusive { at: r(2.0), reason });
        assert!(!f.meets(Some(r(1.5))));
    }
}
