//! The statistics of `gwsim compare`: a latency statistic's 99% confidence interval, from a full
//! histogram or from `summary.json`'s percentiles (interpolated), and whether a run has enough
//! samples to resolve a statistic at all ([`resolvable`]). The parent module's docs give the
//! method; nothing here decides a verdict.

use hdrhistogram::Histogram;

use super::Estimate;
use crate::report::Percentiles;
use crate::vocab::Stat;

/// Two-sided 99% normal quantile.
const Z99: f64 = 2.576;

/// Below this many samples a mean is not judged: its band assumes the sample standard deviation
/// is close to the true one, which with a long-tailed latency distribution needs a few dozen
/// samples (the usual rule of thumb for the central limit theorem is 30).
pub(super) const MEAN_MIN_SAMPLES: u64 = 30;

/// Whether `n` samples resolve `stat`, so that it can gate a build:
/// - a percentile `q` when its 99% order-statistic band has an upper bound, i.e. the rank
///   `n·q + 2.576·sqrt(n·q·(1-q)) + 1` is within the `n` samples. That needs about ten samples
///   above a p99 (n ≥ 846), nine above a p99.9 (n ≥ 8,512), eight above a p90 (n ≥ 79) and
///   n ≥ 11 for a median ([`min_samples`] computes each). Below it, the run cannot say how high
///   the percentile truly is, so its rise proves nothing;
/// - a mean from [`MEAN_MIN_SAMPLES`];
/// - a maximum never: it is one sample, the most variable of all, whatever `n`.
pub(super) fn resolvable(stat: Stat, n: u64) -> bool {
    match stat {
        Stat::Max => false,
        Stat::Mean => n >= MEAN_MIN_SAMPLES,
        s => match s.quantile() {
            Some(q) => {
                let nf = n as f64;
                n > 0 && nf * q + Z99 * (nf * q * (1.0 - q)).sqrt() + 1.0 <= nf
            }
            None => false,
        },
    }
}

/// The fewest samples that resolve `stat` ([`resolvable`]); `None` for `max`.
pub(super) fn min_samples(stat: Stat) -> Option<u64> {
    match stat {
        Stat::Max => None,
        Stat::Mean => Some(MEAN_MIN_SAMPLES),
        // The condition is monotone in n (the samples above the percentile grow as n, the band
        // as sqrt(n)), so a doubling search then a bisection finds the first n.
        s => {
            let mut hi = 1u64;
            while !resolvable(s, hi) {
                hi = hi.checked_mul(2)?;
            }
            let mut lo = hi / 2;
            while lo + 1 < hi {
                let mid = lo + (hi - lo) / 2;
                if resolvable(s, mid) { hi = mid } else { lo = mid }
            }
            Some(hi)
        }
    }
}

/// Two-sided 99% quantiles of Student's t with 1..=9 degrees of freedom.
const T995: [f64; 9] = [63.657, 9.925, 5.841, 4.604, 4.032, 3.707, 3.499, 3.355, 3.250];

/// At most this many batches: more would leave too few samples in each for a percentile.
const MAX_BATCHES: usize = 10;

/// The half-width of a 99% band for `stat` from the run's own intervals (batch means): the
/// intervals are grouped into at most ten consecutive batches, the statistic is taken in each,
/// and the band is `t(k-1) · sd / sqrt(k)` over the `k` non-empty batches. `None` with fewer
/// than two batches, and for `max`.
///
/// Why: the order-statistic band assumes the samples are independent, and on a shared machine
/// they are not. When the machine is busy for a second, every sample of that second is slow
/// together, and a whole run can be slower than the next for reasons that have nothing to do
/// with the server. How much the statistic moves from batch to batch within the run measures
/// that, so the band used is the wider of the two: on a quiet machine the batches agree and
/// change nothing; on a loaded one they widen the band as far as the load moved the numbers.
pub(super) fn batch_half_width(intervals: &[Histogram<u64>], stat: Stat) -> Option<f64> {
    if stat == Stat::Max || intervals.len() < 2 {
        return None;
    }
    let per_batch = intervals.len().div_ceil(MAX_BATCHES);
    let mut values = Vec::new();
    for chunk in intervals.chunks(per_batch) {
        let mut batch = chunk[0].clone();
        batch.auto(true);
        for h in &chunk[1..] {
            // Histograms of one log share their settings; one that does not add is skipped
            // rather than failing the comparison.
            let _ = batch.add(h);
        }
        if batch.is_empty() {
            continue;
        }
        values.push(Dist::Histogram(&batch).stat(stat));
    }
    let k = values.len();
    let t = *T995.get(k.checked_sub(2)?)?;
    let mean = values.iter().sum::<f64>() / k as f64;
    let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (k - 1) as f64;
    Some(t * var.sqrt() / (k as f64).sqrt())
}

/// `e` with its band widened to at least `value ± half` (an unbounded side stays unbounded).
pub(super) fn widen(e: Estimate, half: f64) -> Estimate {
    Estimate {
        low: e.low.min((e.value - half).max(0.0)),
        high: e.high.map(|h| h.max(e.value + half)),
        ..e
    }
}

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
