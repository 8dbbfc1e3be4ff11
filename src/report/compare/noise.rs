//! The statistics of `gwsim compare`: a value's 99% confidence interval, from a full histogram,
//! from `summary.json`'s percentiles (interpolated), or from a count (Poisson). The parent
//! module's docs give the method; nothing here decides a verdict.

use hdrhistogram::Histogram;

use super::Estimate;
use crate::report::Percentiles;
use crate::vocab::Stat;

/// Two-sided 99% normal quantile.
const Z99: f64 = 2.576;

/// A distribution to take statistics and bands from.
pub(super) enum Dist<'a> {
    Histogram(&'a Histogram<u64>),
    Summary(&'a Percentiles),
}

impl Dist<'_> {
    pub(super) fn n(&self) -> u64 {
        match self {
            Dist::Histogram(h) => h.len(),
            Dist::Summary(p) => p.count,
        }
    }

    fn stat(&self, stat: Stat) -> f64 {
        match (self, stat) {
            (Dist::Histogram(h), Stat::Mean) => h.mean(),
            (Dist::Histogram(h), Stat::Max) => h.max() as f64,
            (Dist::Histogram(h), s) => h.value_at_quantile(s.quantile().unwrap_or(1.0)) as f64,
            (Dist::Summary(p), s) => p.stat(s).unwrap_or(f64::NAN),
        }
    }

    /// The value at quantile `q` (0..=1).
    fn value_at(&self, q: f64) -> f64 {
        let q = q.clamp(0.0, 1.0);
        match self {
            Dist::Histogram(h) => h.value_at_quantile(q) as f64,
            Dist::Summary(p) => {
                let knots = summary_knots(p);
                let i = knots.iter().position(|(kq, _)| *kq >= q).unwrap_or(knots.len() - 1);
                if i == 0 {
                    return knots[0].1;
                }
                let ((q0, v0), (q1, v1)) = (knots[i - 1], knots[i]);
                if q1 <= q0 { v1 } else { v0 + (v1 - v0) * (q - q0) / (q1 - q0) }
            }
        }
    }

    /// Standard deviation of the samples.
    fn stdev(&self) -> f64 {
        match self {
            Dist::Histogram(h) => h.stdev(),
            Dist::Summary(p) => {
                // The interpolated distribution is uniform between knots: E[X] of a uniform on
                // [a, b] is (a + b) / 2, E[X²] is (a² + ab + b²) / 3. Its lowest segment starts at 0, which
                // overstates the spread, so the band is wider than the truth, not narrower.
                let knots = summary_knots(p);
                let (mut first, mut second) = (0.0, 0.0);
                for w in knots.windows(2) {
                    let ((q0, a), (q1, b)) = (w[0], w[1]);
                    first += (q1 - q0) * (a + b) / 2.0;
                    second += (q1 - q0) * (a * a + a * b + b * b) / 3.0;
                }
                (second - first * first).max(0.0).sqrt()
            }
        }
    }

    /// The statistic with its 99% confidence interval.
    pub(super) fn estimate(&self, stat: Stat) -> Estimate {
        let n = self.n();
        let value = self.stat(stat);
        let nf = n as f64;
        if n == 0 {
            return Estimate { value, low: value, high: Some(value), n };
        }
        let (low, high) = match stat {
            Stat::Mean => {
                let half = Z99 * self.stdev() / nf.sqrt();
                ((value - half).max(0.0), Some(value + half))
            }
            Stat::Max => {
                // The observed maximum is an observation, not an estimate of a quantile, so its
                // band is only the rank noise below it: the values a couple of ranks down, which
                // another run of the same system would as likely have had as its maximum.
                let q = 1.0 - 1.0 / nf;
                let half = Z99 * (nf * q * (1.0 - q)).sqrt() + 1.0;
                (self.value_at((nf - half) / nf).min(value), Some(value))
            }
            _ => {
                // The rank of the percentile and the binomial spread of that rank, plus one rank
                // for discreteness. A band reaching past the largest sample has no upper bound:
                // too few samples lie above this percentile to say how high it really is.
                let q = stat.quantile().unwrap_or(1.0);
                let rank = nf * q;
                let half = Z99 * (nf * q * (1.0 - q)).sqrt() + 1.0;
                let low = self.value_at((rank - half) / nf).min(value);
                let high =
                    (rank + half <= nf).then(|| self.value_at((rank + half) / nf).max(value));
                (low, high)
            }
        };
        Estimate { value, low, high, n }
    }
}

/// `(quantile, value)` points a summary states, from (0, 0) through each percentile to (1, max).
fn summary_knots(p: &Percentiles) -> Vec<(f64, f64)> {
    let mut knots = vec![(0.0, 0.0)];
    for stat in Stat::DISTRIBUTION {
        if let (Some(q), Some(v)) = (stat.quantile(), p.stat(stat)) {
            knots.push((q, v));
        }
    }
    knots.push((1.0, p.stat(Stat::Max).unwrap_or(f64::NAN)));
    knots
}

/// A count per exposure (operations) with a 99% Poisson interval (square-root approximation:
/// `(sqrt(x) ± z/2)²`, with `x + 1` above so that zero events still have an upper bound).
pub(super) fn poisson(x: u64, exposure: u64) -> Estimate {
    let e = exposure.max(1) as f64;
    let xf = x as f64;
    let low = (xf.sqrt() - Z99 / 2.0).max(0.0).powi(2);
    let high = ((xf + 1.0).sqrt() + Z99 / 2.0).powi(2);
    Estimate { value: xf / e, low: low / e, high: Some(high / e), n: exposure }
}
