//! The percentile spectrum of a latency histogram, as HdrHistogram's percentile plots draw it:
//! latency against `1 / (1 - percentile)` on a log axis, so 50%, 90%, 99%, 99.9% ... are evenly
//! spaced and the tail, where coordinated omission shows, gets as much room as the median.

use hdrhistogram::Histogram;
use serde::Serialize;

/// Steps per halving of the distance to 100%, as in HdrHistogram's
/// `outputPercentileDistribution` (its default is 5): enough points for a smooth curve, about
/// 5 per doubling of the sample count.
pub const TICKS_PER_HALF_DISTANCE: u32 = 5;

/// One spectrum as two parallel columns (the shape the chart library takes).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Spectrum {
    /// `1 / (1 - quantile)`: 1 at 0%, 2 at 50%, 10 at 90%, 100 at 99%, ... Strictly increasing.
    pub x: Vec<f64>,
    /// The latency at that quantile, in microseconds (hdrhistogram's highest equivalent value).
    /// Never decreasing; the last one is the histogram's maximum.
    pub us: Vec<u64>,
}

impl Spectrum {
    pub fn len(&self) -> usize {
        self.x.len()
    }

    pub fn is_empty(&self) -> bool {
        self.x.is_empty()
    }
}

/// The percentile spectrum of `h`, empty when `h` is.
///
/// Points come from hdrhistogram's quantile iterator, as in HdrHistogram's percentile output.
/// Its last step is quantile 1.0, whose `1 / (1 - q)` is infinite; the plot tools drop it, but the
/// maximum is the point a reader looks for, so it is kept, placed at `x = count` (the maximum is
/// the worst one in `count` samples) or just right of the previous point if that is further.
pub fn spectrum(h: &Histogram<u64>) -> Spectrum {
    let mut s = Spectrum { x: Vec::new(), us: Vec::new() };
    if h.is_empty() {
        return s;
    }
    for v in h.iter_quantiles(TICKS_PER_HALF_DISTANCE) {
        let q = v.quantile_iterated_to();
        if q >= 1.0 {
            break;
        }
        let x = 1.0 / (1.0 - q);
        // Quantiles from the iterator strictly increase; the guard keeps the axis valid even if
        // float rounding ever repeated one.
        if s.x.last().is_some_and(|last| x <= *last) {
            continue;
        }
        s.x.push(x);
        s.us.push(v.value_iterated_to());
    }
    // `count` as f64 is exact up to 2^53 samples, far beyond any run.
    let last = s.x.last().copied().unwrap_or(1.0);
    let x_max = if (h.len() as f64) > last { h.len() as f64 } else { last * 1.01 };
    s.x.push(x_max);
    // Highest equivalent, like every other value here, so the curve never steps down at the end.
    s.us.push(h.highest_equivalent(h.max()));
    s
}

/// The percentile a spectrum position stands for: `100 * (1 - 1/x)`.
pub fn percentile_at(x: f64) -> f64 {
    100.0 * (1.0 - 1.0 / x)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::LatencyHistogram;

    fn hist(values: impl IntoIterator<Item = u64>) -> LatencyHistogram {
        let mut h = LatencyHistogram::new();
        for v in values {
            h.record_us(v);
        }
        h
    }

    #[test]
    fn an_empty_histogram_has_an_empty_spectrum() {
        let s = spectrum(LatencyHistogram::new().inner());
        assert!(s.is_empty());
        assert!(s.us.is_empty());
    }

    #[test]
    fn positions_increase_values_never_decrease_and_the_end_is_the_max() {
        // 1..=10_000 us, plus one outlier of 5 s.
        let h = hist((1..=10_000).chain([5_000_000]));
        let s = spectrum(h.inner());
        assert_eq!(s.x.len(), s.us.len());
        assert!(s.len() > 40, "too few points for a curve: {}", s.len());
        assert!(s.x.windows(2).all(|w| w[0] < w[1]), "x not strictly increasing: {:?}", s.x);
        assert!(s.us.windows(2).all(|w| w[0] <= w[1]), "values decrease: {:?}", s.us);
        assert_eq!(s.x[0], 1.0, "starts at 0%");
        assert_eq!(*s.us.last().unwrap(), h.inner().highest_equivalent(5_000_000));
        // The max is the 1-in-10,001 sample: at x = count, or right of the last step if the
        // iterator's last tick already passed it.
        assert!(*s.x.last().unwrap() >= 10_001.0, "{:?}", s.x.last());
        // Left of that, the curve is the uniform part: nothing near 5 s before x = 5,000.
        let i = s.x.iter().rposition(|x| *x < 5_000.0).unwrap();
        assert!(s.us[i] <= 10_010, "{}", s.us[i]);
    }

    #[test]
    fn log_positions_match_the_percentiles_they_stand_for() {
        let h = hist(1..=100_000);
        let s = spectrum(h.inner());
        // HdrHistogram's ticks halve the distance to 100%: 50% is x = 2, 75% x = 4, 87.5% x = 8.
        for (pct, x) in [(50.0, 2.0), (75.0, 4.0), (87.5, 8.0), (90.0, 10.0), (99.9, 1000.0)] {
            assert!((percentile_at(x) - pct).abs() < 1e-9);
        }
        for x in [2.0, 4.0, 8.0] {
            assert!(s.x.iter().any(|v| (v - x).abs() < 1e-9), "no tick at x = {x}");
        }
        // Every point's value is the latency at its percentile: uniform 1..=N, so about
        // `pct% of N`, within hdrhistogram's 0.1% (plus one bucket at the low end).
        let n = 100_000.0;
        for (x, us) in s.x.iter().zip(&s.us).filter(|(x, _)| **x < n / 10.0) {
            let expected = percentile_at(*x) / 100.0 * n;
            let got = *us as f64;
            assert!(
                (got - expected).abs() <= expected * 0.002 + 2.0,
                "at x = {x}: {got} vs {expected}"
            );
        }
        // The points reach deep into the tail: past 99.99%.
        assert!(s.x.iter().any(|x| *x > 10_000.0));
    }

    #[test]
    fn a_single_sample_is_a_flat_line_ending_at_it() {
        let h = hist([1234]);
        let s = spectrum(h.inner());
        assert!(!s.is_empty());
        let top = h.inner().highest_equivalent(1234);
        assert!(s.us.iter().all(|v| *v == top), "{:?}", s.us);
        assert!(s.x.windows(2).all(|w| w[0] < w[1]));
    }
}
