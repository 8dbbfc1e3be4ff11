//! `<metric>.hgrm`: the whole run's histogram of one metric as a percentile distribution, in the
//! text layout of HdrHistogram's `outputPercentileDistribution` (what HistogramLogProcessor and
//! jHiccup write, and what the HdrHistogram plotter at hdrhistogram.github.io reads).
//!
//! Values are printed in milliseconds: the histograms hold microseconds, and the output value
//! unit scaling ratio is [`SCALING_RATIO`] (1000), as a Java user would pass it. Percentiles
//! step 5 ticks per half distance, HdrHistogram's default.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use hdrhistogram::Histogram;

use super::ReportError;
use super::files::{hgrm_file, write_atomic};
use super::timeline::latency_metrics;
use crate::metrics::Recorder;

/// Microseconds per printed unit (milliseconds).
pub const SCALING_RATIO: f64 = 1000.0;

/// Percentile ticks per half distance to 100%, as in HdrHistogram's default output.
pub const TICKS_PER_HALF_DISTANCE: u32 = 5;

/// The percentile distribution of `h` (values in microseconds), values divided by `scaling`.
pub fn percentile_distribution(h: &Histogram<u64>, scaling: f64) -> String {
    let digits = usize::from(h.sigfig());
    let mut out = String::new();
    // `write!` into a String cannot fail; the results are ignored for that reason.
    let _ = write!(
        out,
        "{:>12} {:>14} {:>10} {:>14}\n\n",
        "Value", "Percentile", "TotalCount", "1/(1-Percentile)"
    );
    for step in java_percentiles(h, TICKS_PER_HALF_DISTANCE) {
        let value = step.value as f64 / scaling;
        let (p, total) = (step.percentile / 100.0, step.total);
        if step.percentile == 100.0 {
            let _ = writeln!(out, "{value:12.digits$} {p:2.12} {total:10}");
        } else {
            let _ =
                writeln!(out, "{value:12.digits$} {p:2.12} {total:10} {:14.2}", 1.0 / (1.0 - p));
        }
    }
    let mean = h.mean() / scaling;
    let stdev = h.stdev() / scaling;
    let max = h.max() as f64 / scaling;
    let _ = writeln!(out, "#[Mean    = {mean:12.digits$}, StdDeviation   = {stdev:12.digits$}]");
    let _ = writeln!(out, "#[Max     = {max:12.digits$}, Total count    = {:12}]", h.len());
    let _ = writeln!(
        out,
        "#[Buckets = {:12}, SubBuckets     = {:12}]",
        h.buckets(),
        sub_buckets(h.sigfig())
    );
    out
}

/// One line of the distribution.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Step {
    /// The highest value equivalent to the one reached (what Java prints).
    value: u64,
    /// The percentile level iterated to, in percent (0 to 100).
    percentile: f64,
    /// Values at or below `value`.
    total: u64,
}

/// The steps of Java's `PercentileIterator`, reproduced exactly: levels are kept in percent and
/// reached when `100 · count / total >= level`. hdrhistogram's own `iter_quantiles` works in
/// quantiles, which rounds differently at exact boundaries (195 of 650 is 30%, but
/// `195.0 / 650.0 < 0.3` in floating point), so its lines differ from every Java-made `.hgrm`.
fn java_percentiles(h: &Histogram<u64>, ticks_per_half_distance: u32) -> Vec<Step> {
    let total = h.len();
    let mut steps = Vec::new();
    if total == 0 {
        return steps;
    }
    let ticks_per_half = f64::from(ticks_per_half_distance.max(1));
    let mut level = 0.0f64;
    let mut running = 0u64;
    let mut last_value = 0u64;
    for v in h.iter_recorded() {
        running = running.saturating_add(v.count_at_value());
        last_value = v.value_iterated_to();
        // As in Java: every level this value reaches gets a line, until the last value, which
        // gets one line here and then the final 100% line below.
        while (100.0 * running as f64) / total as f64 >= level {
            steps.push(Step { value: last_value, percentile: level, total: running });
            let halvings = ((100.0 / (100.0 - level)).ln() / 2f64.ln()).trunc() + 1.0;
            level += 100.0 / (ticks_per_half * 2f64.powf(halvings));
            if running >= total {
                break;
            }
        }
    }
    steps.push(Step { value: last_value, percentile: 100.0, total: running });
    steps
}

/// HdrHistogram's sub-bucket count for `sigfig` digits (with a lowest discernible value of 1):
/// the power of two that holds 2·10^sigfig.
fn sub_buckets(sigfig: u8) -> u64 {
    (2 * 10u64.pow(u32::from(sigfig))).next_power_of_two()
}

/// Writes one `<metric>.hgrm` per latency metric of `data` into `dir`, each atomically; returns
/// the paths written.
pub fn write_all(dir: &Path, data: &Recorder) -> Result<Vec<PathBuf>, ReportError> {
    let mut written = Vec::new();
    for (name, h) in latency_metrics(data) {
        let path = dir.join(hgrm_file(&name));
        write_atomic(&path, percentile_distribution(h.inner(), SCALING_RATIO).as_bytes())?;
        written.push(path);
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;
    use expect_test::expect;

    #[test]
    fn distribution_matches_hdrhistogram_layout() {
        let mut h = Histogram::<u64>::new(3).unwrap();
        // 1 ms .. 100 ms, one each, plus an outlier at 1 s.
        for ms in 1..=100u64 {
            h.record(ms * 1000).unwrap();
        }
        h.record(1_000_000).unwrap();
        let text = percentile_distribution(&h, SCALING_RATIO);
        expect![[r#"
                   Value     Percentile TotalCount 1/(1-Percentile)

                   1.000 0.000000000000          1           1.00
                  11.007 0.100000000000         11           1.11
                  21.007 0.200000000000         21           1.25
                  31.007 0.300000000000         31           1.43
                  41.023 0.400000000000         41           1.67
                  51.007 0.500000000000         51           2.00
                  56.031 0.550000000000         56           2.22
                  61.023 0.600000000000         61           2.50
                  66.047 0.650000000000         66           2.86
                  71.039 0.700000000000         71           3.33
                  76.031 0.750000000000         76           4.00
                  79.039 0.775000000000         79           4.44
                  81.023 0.800000000000         81           5.00
                  84.031 0.825000000000         84           5.71
                  86.015 0.850000000000         86           6.67
                  89.023 0.875000000000         89           8.00
                  90.047 0.887500000000         90           8.89
                  91.007 0.900000000000         91          10.00
                  93.055 0.912500000000         93          11.43
                  94.015 0.925000000000         94          13.33
                  95.039 0.937500000000         95          16.00
                  96.063 0.943750000000         96          17.78
                  96.063 0.950000000000         96          20.00
                  97.023 0.956250000000         97          22.86
                  98.047 0.962500000000         98          26.67
                  98.047 0.968750000000         98          32.00
                  99.007 0.971875000000         99          35.56
                  99.007 0.975000000000         99          40.00
                  99.007 0.978125000000         99          45.71
                 100.031 0.981250000000        100          53.33
                 100.031 0.984375000000        100          64.00
                 100.031 0.985937500000        100          71.11
                 100.031 0.987500000000        100          80.00
                 100.031 0.989062500000        100          91.43
                1000.447 0.990625000000        101         106.67
                1000.447 1.000000000000        101
            #[Mean    =       59.906, StdDeviation   =       98.318]
            #[Max     =     1000.447, Total count    =          101]
            #[Buckets =           10, SubBuckets     =         2048]
        "#]]
        .assert_eq(&text);
    }
}
