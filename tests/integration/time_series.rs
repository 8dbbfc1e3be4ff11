//! The time-series outputs of a real run against the embedded server: `latency.hlog` reads back
//! with hdrhistogram's own reader and agrees with the run's totals, `timeline.jsonl` has one
//! point per second with warmup flagged, and each latency metric has its `.hgrm`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine as _;
use gwsim::app::{RunOptions, execute};
use gwsim::report::timeline::{TIMELINE_FILE, read_timeline};
use gwsim::scenario::{self, OpMetric, OpName};
use hdrhistogram::serialization::Deserializer;
use hdrhistogram::serialization::interval_log::{IntervalLogIterator, LogEntry};
use tokio_util::sync::CancellationToken;

fn scratch() -> PathBuf {
    let d = std::env::temp_dir().join(format!("gwsim-time-series-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Per tag: (interval start in seconds, count) in log order.
fn read_hlog(path: &Path) -> BTreeMap<String, Vec<(f64, u64)>> {
    let bytes = std::fs::read(path).unwrap();
    let mut tags: BTreeMap<String, Vec<(f64, u64)>> = BTreeMap::new();
    for entry in IntervalLogIterator::new(&bytes) {
        if let LogEntry::Interval(h) = entry.expect("a valid interval log") {
            let raw =
                base64::engine::general_purpose::STANDARD.decode(h.encoded_histogram()).unwrap();
            let hist: hdrhistogram::Histogram<u64> =
                Deserializer::new().deserialize(&mut raw.as_slice()).unwrap();
            let tag = h.tag().expect("every interval is tagged").as_str().to_owned();
            tags.entry(tag).or_default().push((h.start_timestamp().as_secs_f64(), hist.len()));
        }
    }
    tags
}

#[tokio::test]
async fn a_short_run_writes_its_time_series() {
    let dir = scratch();
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/consult-remove-leave.toml");
    let mut s = scenario::load(&path).unwrap_or_else(|d| panic!("{d}"));
    s.run.warmup = Duration::from_secs(1);
    s.run.drain = Duration::from_secs(20);
    s.set_duration(Duration::from_secs(3)).unwrap();
    let options = RunOptions { poll_interval: Duration::from_millis(200), ..RunOptions::default() };
    let done = execute(s, &options, CancellationToken::new(), Some(&dir)).await.unwrap();
    let rec = &done.outcome.recorder;
    let accept = rec.op(OpName::Flow(gwsim::gws::Capability::Accept)).unwrap();
    let accept = accept.timed(OpMetric::Response).unwrap();
    // Every Accept happened in the load phase, so the intervals hold each one exactly once,
    // warmup included.
    let accepts = accept.latency.corrected().len() + accept.warmup;
    assert!(accepts > 0);

    let hlog = read_hlog(&dir.join("latency.hlog"));
    assert!(hlog.contains_key("customer.wait"), "{:?}", hlog.keys());
    let series = &hlog["Accept.response"];
    assert_eq!(series.iter().map(|(_, n)| n).sum::<u64>(), accepts);
    // One interval per second from the start of the load phase, gap-free once seen.
    for pair in series.windows(2) {
        let step = pair[1].0 - pair[0].0;
        assert!(step > 0.5 && step < 1.5, "{series:?}");
    }
    assert!(series.len() >= 3, "{series:?}");

    let points = read_timeline(&dir.join(TIMELINE_FILE)).unwrap();
    assert!(points.len() >= 3, "{points:?}");
    assert!(points[0].warmup && !points[points.len() - 1].warmup);
    assert_eq!(points[0].start_ms, 0);
    for pair in points.windows(2) {
        assert_eq!(pair[1].start_ms, pair[0].t_ms);
    }
    let in_points: u64 =
        points.iter().filter_map(|p| p.latency.get("Accept.response")).map(|l| l.count).sum();
    assert_eq!(in_points, accepts);

    // The whole-run distribution: measured samples only, like summary.json.
    let hgrm = std::fs::read_to_string(dir.join("Accept.response.hgrm")).unwrap();
    assert!(hgrm.starts_with("       Value     Percentile TotalCount 1/(1-Percentile)\n\n"));
    let total = format!("Total count    = {:>12}]", accept.latency.corrected().len());
    assert!(hgrm.contains(&total), "{hgrm}");
    let names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(names.iter().all(|n| !n.starts_with('.')), "temporary files left: {names:?}");
    let _ = std::fs::remove_dir_all(dir);
}
