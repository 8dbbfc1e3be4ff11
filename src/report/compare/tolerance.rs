//! `--tolerance` and `--absolute`: how much each statistic may move before `gwsim compare` calls
//! it a change, parsed from the command line's lists (`p99=10%,p50=5%`, `1ms`).

use std::collections::BTreeMap;

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
    /// How many percentage points (as a fraction: 0.001 = 0.1 points) an error rate may rise.
    pub error_rate: f64,
}

impl Default for Tolerances {
    /// p50, p90, p99, mean 10%; p99.9 15%; max 25% (a maximum is one sample, the noisiest of
    /// all); no absolute floor; error rate +0.1 percentage point.
    fn default() -> Self {
        let relative = Stat::DISTRIBUTION
            .into_iter()
            .map(|s| {
                let t = match s {
                    Stat::P999 => 0.15,
                    Stat::Max => 0.25,
                    _ => 0.10,
                };
                (s, t)
            })
            .collect();
        Tolerances {
            relative,
            absolute_us: Stat::DISTRIBUTION.into_iter().map(|s| (s, 0.0)).collect(),
            error_rate: 0.001,
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
    /// statistic; `errors=0.5%` sets the error-rate tolerance (percentage points).
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

    /// How large a delta of `stat` may be around `baseline` before it counts as a change.
    pub(super) fn allowed(&self, stat: Stat, baseline: f64) -> f64 {
        let rel = self.relative.get(&stat).copied().unwrap_or(0.0) * baseline.abs();
        rel.max(self.absolute_us.get(&stat).copied().unwrap_or(0.0))
    }
}
