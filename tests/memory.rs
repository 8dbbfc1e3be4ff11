//! Memory does not grow with run length: 10,000 one-second intervals streamed to `latency.hlog`
//! and `timeline.jsonl` keep resident memory flat. A test binary of its own, so no other test's
//! allocations move this process's resident memory.

use std::time::{Duration, Instant};

use gwsim::gws::Capability;
use gwsim::metrics::Recorder;
use gwsim::metrics::interval::IntervalObserver;
use gwsim::report::files::TIMELINE_FILE;
use gwsim::report::live::IntervalOutputs;
use gwsim::vocab::{OpMetric, OpName};

/// Resident memory of this process in KiB, from /proc (Linux).
fn rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// One second of a small run: Accept and Leave, response and settle, all `us` long.
fn second(us: u64) -> Recorder {
    let mut r = Recorder::new();
    let t = Instant::now();
    for op in [OpName::Flow(Capability::Accept), OpName::Flow(Capability::Leave)] {
        for kind in [OpMetric::Response, OpMetric::Settle] {
            r.latency(op, kind, t, t, t + Duration::from_micros(us), true);
        }
        r.op_ok(op, true);
    }
    r
}

#[test]
fn ten_thousand_intervals_keep_memory_flat() {
    let dir = std::env::temp_dir().join(format!("gwsim-memory-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    let mut out = IntervalOutputs::create(&dir, "memory", Duration::from_secs(5)).expect("outputs");
    let mut write = |from: u64, to: u64| {
        for i in from..to {
            // Sub-2 ms values keep each histogram at its smallest (the test is about how many
            // intervals, not how wide).
            let (start, end) = (Duration::from_secs(i), Duration::from_secs(i + 1));
            out.interval(start, end, &second(1 + i % 2000), Default::default());
        }
    };
    write(0, 1_000);
    let before = rss_kib();
    write(1_000, 10_000);
    let after = rss_kib();
    out.finish();
    let lines = std::fs::read_to_string(dir.join(TIMELINE_FILE)).expect("timeline").lines().count();
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(lines, 10_000);
    // Keeping the 9,000 later intervals (points or log lines, hundreds of bytes each) would add
    // megabytes; streaming adds nothing but allocator noise.
    if let (Some(before), Some(after)) = (before, after) {
        assert!(after <= before + 1024, "RSS grew from {before} KiB to {after} KiB");
    }
}
