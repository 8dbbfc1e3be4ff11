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
        // The max is the 1-in-10,001 sample.
        assert_eq!(*s.x.last().unwrap(), 10_001.0);
        // Second to last point is below the outlier: it belongs to the uniform part.
        assert!(s.us[s.len() - 2] <= 10_010);
    }

    #[test]
    fn log_positions_match_the_percentiles_they_stand_for() {
        let h = hist(1..=100_000);
        let s = spectrum(h.inner());
        // HdrHistogram's ticks: 50% is the first halving, exactly x = 2; 99% is x = 100.
        for (pct, x) in [(50.0, 2.0), (75.0, 4.0), (90.0, 10.0), (99.0, 100.0), (99.9, 1000.0)] {
            assert!((percentile_at(x) - pct).abs() < 1e-9);
            // The point at or just after x has the value of that percentile (uniform 1..=N: the
            // value is about pct% of N), within hdrhistogram's 0.1%.
            let i = s.x.iter().position(|v| *v >= x - 1e-9).unwrap();
            assert!((s.x[i] - x).abs() / x < 0.05, "no point near x = {x}: {}", s.x[i]);
            let expected = percentile_at(s.x[i]) / 100.0 * 100_000.0;
            let got = s.us[i] as f64;
            assert!((got - expected).abs() / expected < 0.002, "at {pct}%: {got} vs {expected}");
        }
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
