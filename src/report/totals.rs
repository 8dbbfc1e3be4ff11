//! `totals.hlog`: the run's measured histograms at its end, exactly as `summary.json`'s
//! percentiles were taken from them, so that `gwsim merge` can add shards' histograms and get the
//! percentiles of all their samples (HdrHistogram addition is exact for equal settings).
//!
//! `latency.hlog` is not enough for that: it holds corrected values only, its intervals start
//! with the load phase (login-phase samples are in the totals only) and include warmup. This file
//! is an HdrHistogram interval log too, one interval per histogram covering the run: the tag is
//! the metric (`Accept.response`, `customer.wait`) for corrected values and the metric plus
//! [`RAW_SUFFIX`] for raw ones. Empty histograms are left out.

use std::path::Path;
use std::time::{Duration, SystemTime};

use hdrhistogram::Histogram;
use hdrhistogram::serialization::V2DeflateSerializer;
use hdrhistogram::serialization::interval_log::{IntervalLogWriterBuilder, Tag};

use super::ReportError;
use super::files::{TOTALS_FILE, write_atomic};
use super::readback::Histograms;
use crate::metrics::Recorder;
use crate::vocab::{CustomerMetric, Metric, OpMetric};

/// The tag suffix of a raw (not corrected) histogram: `Accept.response.raw`.
pub const RAW_SUFFIX: &str = ".raw";

/// Every measured histogram of `m` by tag (corrected under the metric's name, raw under the name
/// plus [`RAW_SUFFIX`]), empty ones left out.
pub fn histograms(m: &Recorder) -> Histograms {
    let mut out = Histograms::new();
    let ops = m.ops().flat_map(|(op, stats)| {
        [OpMetric::Response, OpMetric::Settle]
            .into_iter()
            .filter_map(move |kind| Some((Metric::Op(op, kind), stats.timed(kind)?)))
    });
    let customers = CustomerMetric::TIMED
        .into_iter()
        .filter_map(|c| Some((Metric::Customer(c), m.customer(c)?)));
    for (metric, t) in ops.chain(customers) {
        let name = metric.to_string();
        out.insert(format!("{name}{RAW_SUFFIX}"), t.latency.raw().inner().clone());
        out.insert(name, t.latency.corrected().inner().clone());
    }
    out.retain(|_, h| !h.is_empty());
    out
}

/// The bytes of a totals log holding `histograms`, each as one interval from 0 to `length`.
pub fn encode(histograms: &Histograms, length: Duration) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    let mut serializer = V2DeflateSerializer::new();
    let mut log = IntervalLogWriterBuilder::new()
        .add_comment(&format!("[Logged with gwsim {}]", env!("CARGO_PKG_VERSION")))
        .add_comment("[The run's measured histograms at its end, in microseconds; .raw: raw]")
        .with_start_time(SystemTime::UNIX_EPOCH)
        .with_base_time(SystemTime::UNIX_EPOCH)
        .begin_log_with(&mut out, &mut serializer)
        .map_err(|e| e.to_string())?;
    for (name, h) in histograms {
        let tag = Tag::new(name).ok_or_else(|| format!("{name:?} cannot be a tag"))?;
        let h: &Histogram<u64> = h;
        log.write_histogram(h, Duration::ZERO, length, Some(tag)).map_err(|e| e.to_string())?;
    }
    Ok(out)
}

/// Writes `totals.hlog` into `dir`.
pub fn write(dir: &Path, histograms: &Histograms, length: Duration) -> Result<(), ReportError> {
    let path = dir.join(TOTALS_FILE);
    let bytes = encode(histograms, length)
        .map_err(|message| ReportError::Hlog { path: path.clone(), message })?;
    write_atomic(&path, &bytes)
}

/// Splits totals into corrected (by metric) and raw (by metric, suffix removed).
pub fn split(totals: &Histograms) -> (Histograms, Histograms) {
    let mut corrected = Histograms::new();
    let mut raw = Histograms::new();
    for (tag, h) in totals {
        match tag.strip_suffix(RAW_SUFFIX) {
            Some(metric) => raw.insert(metric.to_owned(), h.clone()),
            None => corrected.insert(tag.clone(), h.clone()),
        };
    }
    (corrected, raw)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn totals_round_trip_exactly() {
        let mut a = Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 3).unwrap();
        for v in [5u64, 900, 12_345, 1_000_000] {
            a.record(v).unwrap();
        }
        let mut hs = Histograms::new();
        hs.insert("Accept.response".into(), a.clone());
        hs.insert("Accept.response.raw".into(), a.clone());
        let bytes = encode(&hs, Duration::from_secs(3)).unwrap();
        let back = super::super::readback::parse_hlog(Path::new("totals.hlog"), &bytes).unwrap();
        assert_eq!(back.len(), 2);
        assert_eq!(back["Accept.response"], a);
        let (c, r) = split(&back);
        assert_eq!(c.keys().collect::<Vec<_>>(), vec!["Accept.response"]);
        assert_eq!(r["Accept.response"], a);
    }
}
