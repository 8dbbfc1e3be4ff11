//! `--tolerance`, `--absolute` and `--strict-tails`: how much each statistic must move before
//! `gwsim compare` calls it a change (the minimum effect sizes), and which statistics may gate a
//! build at all, parsed from the command line's lists (`p99=10%,p50=5%`, `1ms`).
//!
//! # The default minimum effects, and why
//! A latency delta counts only when it exceeds *both* a relative and an absolute minimum, and
//! lies outside the noise band (the parent module). The relative minimum is what a team acts on
//! for a real server (a 5% slower median of 40 ms is 2 ms on every request); the absolute one is
//! what keeps sub-millisecond latencies of the embedded server, where the scheduler of a shared
//! CI machine moves a 300 µs median by 100 µs between identical runs, from gating a build.
//!
//! | stat | relative | absolute | why |
//! |---|---|---|---|
//! | p50 | 5% | 1 ms | the most stable statistic; a CI machine (debug build, other jobs) moved a
//! | | | | 0.9 ms median of identical runs by 0.4 ms, outside both bands |
//! | mean | 10% | 1 ms | pulled by the tail, so noisier than the median |
//! | p90 | 10% | 2 ms | one sample in ten: timer and GC-like pauses of the machine show here |
//! | p99 | 10% | 5 ms | |
//! | p99.9 | 15% | 10 ms | informational unless the run has thousands of samples (see `noise`) |
//! | max | 25% | 20 ms | one sample: informational unless asked |
//!
//! Error rates: the minimum rise is 0.1 percentage point (one more failure per thousand
//! operations). Below it a team would not act, and a long run makes rises far smaller than that
//! significant to Fisher's test (0 → 8 errors in 100,000 operations is, at 99%); with the
//! 700-operation runs of a CI job the test itself needs a rise of about 1 point from zero.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::vocab::Stat;

/// A tolerance the user wrote that gwsim cannot use.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ToleranceError {
    #[error("the tolerance list is empty; write e.g. `p99=10%,p50=5%`")]
    Empty,
    #[error(
        "`{stat}` in `{item}` is not a statistic gwsim compares (use {}{extra})",
        distribution_names()
    )]
    UnknownStat { item: String, stat: String, extra: &'static str },
    #[error("`{item}`: {reason}")]
    BadValue { item: String, reason: String },
}

/// `p50, p90, p99, p99.9, max, mean`: the statistics a tolerance can name.
fn distribution_names() -> String {
    Stat::DISTRIBUTION.map(Stat::as_str).join(", ")
}

/// How much a statistic may move before it counts as a change.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Tolerances {
    /// Per statistic, a fraction of the baseline value (0.1 = 10%).
    pub relative: BTreeMap<Stat, f64>,
    /// Per statistic, microseconds: differences up to this are never a change, whatever their
    /// relative size (a 20 µs p50 moving to 30 µs is +50% and nothing).
    pub absolute_us: BTreeMap<Stat, f64>,
    /// How many percentage points (as a fraction: 0.001 = 0.1 points) an error rate must rise
    /// by, besides being significant, to count.
    pub error_rate: f64,
    /// `--strict-tails`: `max` and thin percentiles are judged like the rest.
    pub strict_tails: bool,
    /// Statistics named in `--tolerance` (`max=30%`): judged even when they would only inform.
    pub named: BTreeSet<Stat>,
}

impl Default for Tolerances {
    /// The table in the module's docs.
    fn default() -> Self {
        let (mut relative, mut absolute_us) = (BTreeMap::new(), BTreeMap::new());
        for s in Stat::DISTRIBUTION {
            let (rel, abs_us) = match s {
                Stat::P50 => (0.05, 1_000.0),
                Stat::Mean => (0.10, 1_000.0),
                Stat::P90 => (0.10, 2_000.0),
                Stat::P99 => (0.10, 5_000.0),
                Stat::P999 => (0.15, 10_000.0),
                _ => (0.25, 20_000.0),
            };
            relative.insert(s, rel);
            absolute_us.insert(s, abs_us);
        }
        Tolerances {
            relative,
            absolute_us,
            error_rate: 0.001,
            strict_tails: false,
            named: BTreeSet::new(),
        }
    }
}

/// Splits `p99=10%,5%` into `(Some("p99"), "10%")`, `(None, "5%")`.
fn items(list: &str) -> Result<Vec<(String, Option<String>, String)>, ToleranceError> {
    let out: Vec<_> = list
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|item| match item.split_once('=') {
            Some((k, v)) => (item.to_owned(), Some(k.trim().to_owned()), v.trim().to_owned()),
            None => (item.to_owned(), None, item.to_owned()),
        })
        .collect();
    if out.is_empty() { Err(ToleranceError::Empty) } else { Ok(out) }
}

/// `10%` as 0.1. A bare number is refused: `10` could mean 10% or 1000%.
fn percent(item: &str, v: &str) -> Result<f64, ToleranceError> {
    let bad = |reason: String| ToleranceError::BadValue { item: item.to_owned(), reason };
    let Some(num) = v.strip_suffix('%') else {
        return Err(bad(format!("`{v}` needs a percent sign, e.g. `{v}%`")));
    };
    let x: f64 = num.trim().parse().map_err(|_| bad(format!("`{num}` is not a number")))?;
    if !x.is_finite() || x < 0.0 {
        return Err(bad(format!("`{v}` must be a percentage of zero or more")));
    }
    Ok(x / 100.0)
}

impl Tolerances {
    /// Applies `--tolerance`: `p99=10%,p50=5%,max=25%`; a bare `10%` sets every latency
    /// statistic; `errors=0.5%` sets the error rate's minimum rise (percentage points). A
    /// statistic named here is judged even where it would only inform (`max`, thin tails): the
    /// user asked for it by name. A bare percentage names none.
    pub fn set_relative(&mut self, list: &str) -> Result<(), ToleranceError> {
        for (item, key, value) in items(list)? {
            match key.as_deref() {
                None => {
                    let t = percent(&item, &value)?;
                    self.relative.values_mut().for_each(|v| *v = t);
                }
                Some("errors") => self.error_rate = percent(&item, &value)?,
                Some(k) => {
                    let stat = Stat::parse(k).filter(|s| s.is_distribution()).ok_or_else(|| {
                        ToleranceError::UnknownStat {
                            item: item.clone(),
                            stat: k.to_owned(),
                            extra: " or errors",
                        }
                    })?;
                    self.relative.insert(stat, percent(&item, &value)?);
                    self.named.insert(stat);
                }
            }
        }
        Ok(())
    }

    /// Applies `--absolute`: `1ms` for every statistic, or `p50=200us,max=5ms`.
    pub fn set_absolute(&mut self, list: &str) -> Result<(), ToleranceError> {
        for (item, key, value) in items(list)? {
            let d = crate::scenario::units::parse_duration(&value).map_err(|e| {
                ToleranceError::BadValue { item: item.clone(), reason: e.to_string() }
            })?;
            let us = crate::metrics::duration_to_us(d) as f64;
            match key.as_deref() {
                None => self.absolute_us.values_mut().for_each(|v| *v = us),
                Some(k) => {
                    let stat = Stat::parse(k).filter(|s| s.is_distribution()).ok_or_else(|| {
                        ToleranceError::UnknownStat {
                            item: item.clone(),
                            stat: k.to_owned(),
                            extra: "",
                        }
                    })?;
                    self.absolute_us.insert(stat, us);
                }
            }
        }
        Ok(())
    }

    /// Whether `stat` gates even where it would only inform: `--strict-tails`, or named in
    /// `--tolerance`.
    pub(super) fn judges_tail(&self, stat: Stat) -> bool {
        self.strict_tails || self.named.contains(&stat)
    }

    /// How large a delta of `stat` may be around `baseline` before it counts as a change: the
    /// larger of the relative and the absolute minimum, so a change must exceed both.
    pub(super) fn allowed(&self, stat: Stat, baseline: f64) -> f64 {
        let rel = self.relative.get(&stat).copied().unwrap_or(0.0) * baseline.abs();
        rel.max(self.absolute_us.get(&stat).copied().unwrap_or(0.0))
    }
}
