//! The time-series outputs of a real run against the embedded server: `latency.hlog` reads back
//! with hdrhistogram's own reader and agrees with the run's totals, `timeline.jsonl` has one
//! point per second with warmup flagged, and each latency metric has its `.hgrm`.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use base64::Engine as _;
use gwsim::app::{RunOptions, execute};
use gwsim::report::files::TIMELINE_FILE;
use gwsim::report::timeline::read_timeline;
use gwsim::scenario;
use gwsim::vocab::{OpMetric, OpName};
use hdrhistogram::serialization::Deserializer;
use hdrhistogram::serialization::interval_log::{IntervalLogIterator, LogEntry};
use tokio_util::sync::CancellationToken;

/// A fresh directory, removed when the test ends, whether it passes or panics.
fn scratch(name: &str) -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix(&format!("gwsim-{name}-"))
        .tempdir()
        .unwrap_or_else(|e| panic!("cannot create a scratch directory: {e}"))
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
    let tmp = scratch("time-series");
    let dir = tmp.path();
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/consult-remove-leave.toml");
    let overrides = scenario::Overrides {
        duration: Some(Duration::from_secs(3)),
        warmup: Some(Duration::from_secs(1)),
        drain: Some(Duration::from_secs(20)),
        ..scenario::Overrides::default()
    };
    let s = scenario::load(&path, &overrides).unwrap_or_else(|d| panic!("{d}"));
    let options = RunOptions { poll_interval: Duration::from_millis(200), ..RunOptions::default() };
    let done = execute(s, &options, CancellationToken::new(), Some(dir)).await.unwrap();
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
    let names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(names.iter().all(|n| !n.starts_with('.')), "temporary files left: {names:?}");
}

/// Writes the fixture that `tests/hdr/run` feeds to hdr-histogram-js: a log of five synthetic
/// seconds, the `.hgrm` of their sum, and the interval counts the reader must find. The files
/// are compared with the committed ones (`UPDATE_EXPECT=1` rewrites them), so the JavaScript
/// check always reads what this version writes.
#[test]
fn hdr_fixture_is_current() {
    use expect_test::expect_file;
    use gwsim::metrics::Recorder;
    use gwsim::report::files::HLOG_FILE;
    use gwsim::report::hgrm;
    use gwsim::report::hlog::HlogWriter;
    use gwsim::vocab::CustomerMetric;
    use std::time::{Instant, UNIX_EPOCH};

    let tmp = scratch("hdr-fixture");
    let dir = tmp.path();
    let start = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    let mut log = HlogWriter::create(&dir.join(HLOG_FILE), "fixture", Duration::ZERO)
        .unwrap()
        .with_load_start(start);
    let mut total = Recorder::new();
    let mut counts: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    let op = OpName::Flow(gwsim::gws::Capability::Accept);
    let t = Instant::now();
    // A fixed pseudo-random sequence (xorshift), spread over four decades of microseconds.
    let mut x = 0x2545_F491_4F6C_DD1Du64;
    for second in 0..5u64 {
        let mut r = Recorder::new();
        for _ in 0..(50 + second * 40) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let us = 100 + (x % 1000) * (1 + x % 97) * (1 + second);
            r.latency(op, OpMetric::Response, t, t, t + Duration::from_micros(us), true);
        }
        if second % 2 == 1 {
            r.customer_sample(CustomerMetric::Wait, Duration::from_millis(200 * second), true);
        }
        log.write(Duration::from_secs(second), Duration::from_secs(second + 1), &r).unwrap();
        for (name, h) in gwsim::report::timeline::latency_metrics(&r) {
            counts.entry(name).or_default().push(h.len());
        }
        total.merge(&r);
    }
    log.finish().unwrap();
    // The quiet seconds of customer.wait after its first are in the log as empty histograms.
    counts.insert("customer.wait".into(), vec![1, 0, 1, 0]);
    hgrm::write_all(dir, &total).unwrap();
    let expected = serde_json::to_string_pretty(&counts).unwrap() + "\n";

    let read = |name: &str| std::fs::read_to_string(dir.join(name)).unwrap();
    expect_file!["../hdr/fixture/latency.hlog"].assert_eq(&read(HLOG_FILE));
    expect_file!["../hdr/fixture/Accept.response.hgrm"].assert_eq(&read("Accept.response.hgrm"));
    expect_file!["../hdr/fixture/customer.wait.hgrm"].assert_eq(&read("customer.wait.hgrm"));
    expect_file!["../hdr/fixture/expected.json"].assert_eq(&expected);
}

/// A run that never reaches its load phase (no agent can log in) still leaves a valid, empty
/// interval log and timeline: the engine finishes the outputs on its error path too.
#[tokio::test]
async fn a_failed_run_still_finishes_its_time_series() {
    let tmp = scratch("failed-run");
    let dir = tmp.path();
    // Bound and dropped: a loopback port where nothing listens, so every login is refused.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/consult-remove-leave.toml");
    // A remote target needs a password source; nothing will ever check this one.
    let secret = dir.join("password");
    std::fs::write(&secret, "unused\n").unwrap();
    let overrides = scenario::Overrides {
        target: Some(scenario::TargetOverride::local(format!("http://127.0.0.1:{port}"))),
        password: Some(scenario::PasswordSource::File(secret.clone())),
        // No contact center id: only the agents run (none of them will log in).
        agents_only: true,
        ..scenario::Overrides::default()
    };
    let s = scenario::load(&path, &overrides).unwrap_or_else(|d| panic!("{d}"));
    let err = execute(s, &RunOptions::default(), CancellationToken::new(), Some(dir))
        .await
        .expect_err("no agent can log in");
    assert!(format!("{err:#}").contains("no agent could log in"), "{err:#}");
    let log = std::fs::read(dir.join("latency.hlog")).unwrap();
    let entries: Vec<_> = IntervalLogIterator::new(&log).map(|e| e.unwrap()).collect();
    assert_eq!(entries.len(), 2, "StartTime and BaseTime, no intervals");
    assert!(read_timeline(&dir.join(TIMELINE_FILE)).unwrap().is_empty());
    // Nothing was measured, so there is no distribution to write.
    let hgrm = std::fs::read_dir(dir)
        .unwrap()
        .filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().ends_with(".hgrm"));
    assert_eq!(hgrm.count(), 0);
}
