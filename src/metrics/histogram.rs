//! Latency histograms: an hdrhistogram wrapper fixing the unit (microseconds), the range (up to
//! one hour) and the precision (3 significant digits), plus the corrected/raw pair every timed
//! operation records into.
//!
//! Nothing here can panic on a recorded value: values above the range are clamped to its top, and
//! merging falls back to value-by-value addition if hdrhistogram ever refuses a bulk add.

use std::time::Duration;

use hdrhistogram::Histogram;

/// The largest latency a histogram distinguishes, in microseconds (one hour). Longer latencies
/// are recorded as one hour: a run that sees them has bigger problems than their exact value.
pub const HIGHEST_US: u64 = 3_600_000_000;

/// Significant decimal digits kept at every magnitude (design.md "Metrics").
pub const SIGNIFICANT_DIGITS: u8 = 3;

/// One latency distribution in microseconds, 0 µs to 1 h, 3 significant digits.
///
/// It starts small and grows its bucket array only up to the largest value recorded so far
/// (hdrhistogram's auto-resize), so a histogram of millisecond latencies stays far smaller than
/// one sized for an hour up front; values are clamped to [`HIGHEST_US`] before recording, so the
/// array never grows past what that range needs. Its size never depends on how many values it
/// holds.
#[derive(Debug, Clone)]
pub struct LatencyHistogram {
    h: Histogram<u64>,
}

impl Default for LatencyHistogram {
    fn default() -> Self {
        Self::new()
    }
}

impl LatencyHistogram {
    pub fn new() -> Self {
        // `Histogram::new` is auto-resizing with a lowest discernible value of 1; it fails only
        // for more than 5 significant digits, and ours is the constant 3 (a unit test builds one).
        let h = Histogram::new(SIGNIFICANT_DIGITS).expect("3 significant digits is within 0..=5");
        LatencyHistogram { h }
    }

    /// Records one latency, clamped to [`HIGHEST_US`].
    pub fn record(&mut self, latency: Duration) {
        self.record_us(duration_to_us(latency));
    }

    /// Records one latency given in microseconds, clamped to [`HIGHEST_US`].
    pub fn record_us(&mut self, us: u64) {
        let us = us.min(HIGHEST_US);
        if self.h.record(us).is_err() {
            // Only a resize beyond `usize` can fail, which the clamp above rules out; recording
            // clamped to the current range is the safe answer should it happen anyway.
            self.h.saturating_record(us);
        }
    }

    /// Forgets every value but keeps the bucket array, so a histogram reused for the next
    /// interval does not allocate and grow again (see [`crate::metrics::Recorder::recycle`]).
    pub fn reset(&mut self) {
        self.h.reset();
    }

    /// Adds every value of `other` (hdrhistogram addition is exact).
    pub fn add(&mut self, other: &LatencyHistogram) {
        if self.h.add(&other.h).is_err() {
            // Same reasoning as in `record_us`: re-record value by value, clamped.
            for v in other.h.iter_recorded() {
                self.h.saturating_record_n(v.value_iterated_to(), v.count_at_value());
            }
        }
    }

    pub fn len(&self) -> u64 {
        self.h.len()
    }

    pub fn is_empty(&self) -> bool {
        self.h.is_empty()
    }

    /// The summary statistics, or `None` when nothing was recorded.
    pub fn summary(&self) -> Option<LatencySummary> {
        if self.h.is_empty() {
            return None;
        }
        Some(LatencySummary {
            count: self.h.len(),
            p50: self.h.value_at_quantile(0.50),
            p90: self.h.value_at_quantile(0.90),
            p99: self.h.value_at_quantile(0.99),
            p999: self.h.value_at_quantile(0.999),
            max: self.h.max(),
            mean: self.h.mean(),
        })
    }

    /// The underlying hdrhistogram, for serialization (interval logs) and percentile iteration.
    pub fn inner(&self) -> &Histogram<u64> {
        &self.h
    }

    /// Bytes held by the bucket array (for memory accounting in tests and benches).
    pub fn footprint_bytes(&self) -> usize {
        self.h.distinct_values() * std::mem::size_of::<u64>()
    }
}

/// Saturating conversion: a `Duration` beyond `u64` microseconds (half a million years) is
/// clamped by `record_us` anyway.
pub fn duration_to_us(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

/// Percentiles of one histogram, in microseconds. Percentiles are hdrhistogram's: the highest
/// value equivalent (at 3 significant digits) to the true one, so at most 0.1% above it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LatencySummary {
    pub count: u64,
    pub p50: u64,
    pub p90: u64,
    pub p99: u64,
    pub p999: u64,
    pub max: u64,
    pub mean: f64,
}

/// The corrected and raw histograms of one timed metric.
///
/// Corrected latency runs from the intended start, raw from the moment the request left. When the
/// generator keeps its schedule they are the same value, which is the common case; so `raw` stays
/// `None` ("identical to `corrected`") until the first sample where they differ, and only then
/// becomes a copy of `corrected` plus that sample. This halves the memory of a recorder that never
/// fell behind, and the raw distribution is still exact.
#[derive(Debug, Clone, Default)]
pub struct LatencyPair {
    corrected: LatencyHistogram,
    /// `None`: every raw sample so far equalled its corrected sample.
    raw: Option<LatencyHistogram>,
}

impl LatencyPair {
    /// A pair whose corrected histogram is `corrected`, which must be empty (a reset one whose
    /// bucket array is reused).
    pub(crate) fn with_corrected(corrected: LatencyHistogram) -> Self {
        LatencyPair { corrected, raw: None }
    }

    pub fn record(&mut self, corrected: Duration, raw: Duration) {
        self.record_us_using(duration_to_us(corrected), duration_to_us(raw), &mut Vec::new());
    }

    /// Records one sample, in microseconds, taking the raw histogram, should it be needed, from
    /// `spare` (empty histograms kept for reuse) rather than allocating one.
    pub(crate) fn record_us_using(&mut self, c: u64, r: u64, spare: &mut Vec<LatencyHistogram>) {
        if self.raw.is_none() && r != c {
            // Every earlier sample was identical, so a copy of `corrected` is the exact raw
            // history up to here: an empty spare plus `corrected` holds the same values.
            self.raw = Some(match spare.pop() {
                Some(mut h) => {
                    h.add(&self.corrected);
                    h
                }
                None => self.corrected.clone(),
            });
        }
        self.corrected.record_us(c);
        if let Some(h) = &mut self.raw {
            h.record_us(r);
        }
    }

    pub fn corrected(&self) -> &LatencyHistogram {
        &self.corrected
    }

    /// The raw histogram (a borrow of `corrected` when they have never differed).
    pub fn raw(&self) -> &LatencyHistogram {
        self.raw.as_ref().unwrap_or(&self.corrected)
    }

    pub fn add(&mut self, other: &LatencyPair) {
        match (&mut self.raw, &other.raw) {
            (None, None) => {}
            (Some(mine), _) => mine.add(other.raw()),
            (None, Some(theirs)) => {
                let mut h = self.corrected.clone();
                h.add(theirs);
                self.raw = Some(h);
            }
        }
        self.corrected.add(&other.corrected);
    }

    pub fn is_empty(&self) -> bool {
        self.corrected.is_empty()
    }

    /// Both histograms, reset for reuse: corrected, and raw if it had diverged.
    pub(crate) fn into_reset(self) -> (LatencyHistogram, Option<LatencyHistogram>) {
        // An empty one is already clean (reset before, or never written): a reset zeroes the
        // whole bucket array.
        let reset = |mut h: LatencyHistogram| {
            if !h.is_empty() {
                h.reset();
            }
            h
        };
        (reset(self.corrected), self.raw.map(reset))
    }

    pub fn footprint_bytes(&self) -> usize {
        self.corrected.footprint_bytes() + self.raw.as_ref().map_or(0, |h| h.footprint_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn records_microseconds_with_three_significant_digits() {
        let mut h = LatencyHistogram::new();
        for v in 1..=1000u64 {
            h.record(Duration::from_micros(v * 1000));
        }
        let s = h.summary().unwrap();
        assert_eq!(s.count, 1000);
        // 500 ms at 3 significant digits: within 0.1%.
        assert!((500_000..=500_500).contains(&s.p50), "{}", s.p50);
        assert!((990_000..=991_000).contains(&s.p99), "{}", s.p99);
        assert!((1_000_000..=1_001_000).contains(&s.max), "{}", s.max);
    }

    #[test]
    fn values_above_an_hour_are_clamped_not_lost() {
        let mut h = LatencyHistogram::new();
        h.record(Duration::from_secs(10 * 3600));
        h.record(Duration::MAX);
        let s = h.summary().unwrap();
        assert_eq!(s.count, 2);
        assert!(h.h.equivalent(s.max, HIGHEST_US), "{}", s.max);
    }

    #[test]
    fn empty_histogram_has_no_summary() {
        assert_eq!(LatencyHistogram::new().summary(), None);
    }

    #[test]
    fn size_depends_on_range_not_on_sample_count() {
        let mut h = LatencyHistogram::new();
        h.record(ms(100));
        let after_one = h.footprint_bytes();
        for i in 0..100_000u64 {
            h.record(Duration::from_micros(i % 100_000));
        }
        assert_eq!(h.footprint_bytes(), after_one);
        // Clamped at an hour, so even extreme values cannot grow it past the 1 h layout.
        h.record(Duration::MAX);
        let mut full = Histogram::<u64>::new_with_max(HIGHEST_US, 3).unwrap();
        full.record(HIGHEST_US).unwrap();
        assert_eq!(h.footprint_bytes(), full.distinct_values() * 8);
    }

    #[test]
    fn footprint_follows_the_largest_value() {
        // The numbers behind the memory notes in the metrics module docs.
        let kib = |max: Duration| {
            let mut h = LatencyHistogram::new();
            h.record(max);
            h.footprint_bytes() / 1024
        };
        assert_eq!(kib(Duration::from_micros(1)), 16);
        assert_eq!(kib(ms(100)), 64);
        assert_eq!(kib(ms(1000)), 88);
        assert_eq!(kib(Duration::from_secs(3600)), 184);
    }

    #[test]
    fn pair_keeps_one_histogram_while_raw_equals_corrected() {
        let mut p = LatencyPair::default();
        p.record(ms(5), ms(5));
        p.record(ms(7), ms(7));
        assert!(p.raw.is_none());
        assert_eq!(p.raw().len(), 2);
    }

    #[test]
    fn pair_raw_is_exact_after_divergence() {
        let mut p = LatencyPair::default();
        p.record(ms(5), ms(5));
        p.record(ms(500), ms(3));
        p.record(ms(9), ms(9));
        let c = p.corrected().summary().unwrap();
        let r = p.raw().summary().unwrap();
        assert_eq!((c.count, r.count), (3, 3));
        assert!(p.corrected().h.equivalent(c.max, 500_000));
        assert!(p.raw().h.equivalent(r.max, 9_000), "raw max {}", r.max);
        assert_eq!(p.raw().h.count_at(3_000), 1);
        assert_eq!(p.raw().h.count_at(500_000), 0);
    }

    #[test]
    fn pair_add_is_exact_in_every_combination() {
        let same = |v: u64| {
            let mut p = LatencyPair::default();
            p.record(ms(v), ms(v));
            p
        };
        let diverged = |c: u64, r: u64| {
            let mut p = LatencyPair::default();
            p.record(ms(c), ms(r));
            p
        };
        // None + None stays shared.
        let mut a = same(1);
        a.add(&same(2));
        assert!(a.raw.is_none());
        assert_eq!(a.raw().len(), 2);
        // None + Some materializes raw = my corrected + their raw.
        let mut a = same(1);
        a.add(&diverged(100, 2));
        assert_eq!(a.raw().h.count_at(1_000), 1);
        assert_eq!(a.raw().h.count_at(2_000), 1);
        assert_eq!(a.raw().h.count_at(100_000), 0);
        assert_eq!(a.corrected().h.count_at(100_000), 1);
        // Some + None adds their corrected (= their raw).
        let mut a = diverged(100, 2);
        a.add(&same(1));
        assert_eq!(a.raw().len(), 2);
        assert_eq!(a.raw().h.count_at(1_000), 1);
        assert_eq!(a.raw().h.count_at(100_000), 0);
    }
}
