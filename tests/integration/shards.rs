//! Shards without a cluster: one `gwsim serve` made from a scenario, four `gwsim run --shards 4`
//! processes given `JOB_COMPLETION_INDEX` 0..3 as a Kubernetes Indexed Job gives them, and
//! `gwsim merge` of their results, checked against the shards exactly; then the merges that must
//! be refused (a shard twice, a missing shard, a shard of another scenario).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use gwsim::report::readback::{Histograms, read_hlog};
use hdrhistogram::Histogram;

use crate::binary::{gwsim, path, scratch, serve, text};

/// Eight agents (two per shard), customers at 8/s for two seconds, a threshold that holds.
pub(crate) const SCENARIO: &str = r#"
name = "shards"
[run]
duration = "2s"
warmup = "0s"
drain = "10s"
seed = 5
[[agents]]
name = "frontline"
count = 8
username = "frontline-{n}"
flow = "work"
[customers]
arrival = { rate = "8/s" }
[flows.work]
steps = [ { op = "Accept" }, { op = "SendMessage", text = "Hello" }, { op = "Leave" }, { op = "Complete" } ]
[[thresholds]]
metric = "Accept.response"
p99 = "30s"
"#;

const SHARDS: u32 = 4;
pub(crate) const PASSWORD: (&str, &str) = ("GWSIM_SHARD_PASSWORD", "not-a-real-secret");

pub(crate) fn summary(dir: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(dir.join("summary.json"))
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
}

fn added(parts: &[Histograms]) -> Histograms {
    let mut out = Histograms::new();
    for p in parts {
        for (tag, h) in p {
            match out.get_mut(tag) {
                Some(total) => total.add(h).expect("same settings"),
                None => {
                    let mut h: Histogram<u64> = h.clone();
                    h.auto(true);
                    out.insert(tag.clone(), h);
                }
            }
        }
    }
    out
}

/// The statistics summary.json gives a histogram, taken here with the hdrhistogram crate.
fn expected_stats(h: &Histogram<u64>) -> serde_json::Value {
    serde_json::json!({
        "count": h.len(),
        "p50": h.value_at_quantile(0.5),
        "p90": h.value_at_quantile(0.9),
        "p99": h.value_at_quantile(0.99),
        "p99.9": h.value_at_quantile(0.999),
        "max": h.max(),
        "mean": (h.mean() * 10.0).round() / 10.0,
    })
}

#[test]
fn four_shards_of_an_indexed_job_merge_exactly() {
    let tmp = scratch();
    let dir = tmp.path();
    let scenario = dir.join("shards.toml");
    std::fs::write(&scenario, SCENARIO).unwrap();
    let (_server, url) =
        serve(&["--users-from", path(&scenario), "--password-env", PASSWORD.0], &[PASSWORD]);

    // A common start a few seconds ahead, as a job would be given; the shards wait for it.
    let start_at = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs()
        + 3;
    let shard_dirs: Vec<PathBuf> = (0..SHARDS).map(|i| dir.join(format!("shard-{i}"))).collect();
    let children: Vec<_> = (0..SHARDS)
        .map(|i| {
            Command::new(env!("CARGO_BIN_EXE_gwsim"))
                .args(["run", path(&scenario), "--target", &url, "--password-env", PASSWORD.0])
                .args(["--contact-center-id", gwsim::server::DEFAULT_CONTACT_CENTER_ID])
                .args(["--shards", &SHARDS.to_string(), "--start-at", &start_at.to_string()])
                .args(["--out", path(&shard_dirs[i as usize]), "--quiet"])
                // Shard 0 on two threads, the others on the default one.
                .args(if i == 0 { &["--threads", "2"][..] } else { &[][..] })
                .env(PASSWORD.0, PASSWORD.1)
                .env("JOB_COMPLETION_INDEX", i.to_string())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start shard {i}: {e}"))
        })
        .collect();
    for (i, child) in children.into_iter().enumerate() {
        let out = child.wait_with_output().expect("shard runs");
        let stdout = text(&out.stdout);
        assert_eq!(out.status.code(), Some(0), "shard {i}: {stdout}\n{}", text(&out.stderr));
        assert!(stdout.contains("2 of 2 agents logged in"), "shard {i}: {stdout}");
    }

    // Each shard knows what it was: its index, the whole scenario's fingerprint, its start.
    let shards: Vec<serde_json::Value> = shard_dirs.iter().map(|d| summary(d)).collect();
    let fingerprint = shards[0]["fingerprint"].clone();
    assert!(fingerprint.is_string(), "{}", shards[0]);
    for (i, s) in shards.iter().enumerate() {
        assert_eq!(s["shard"], serde_json::json!({"index": i, "count": SHARDS}));
        assert_eq!(s["fingerprint"], fingerprint);
        assert!(s["start"]["asked"].is_string() && s["start"]["real"].is_string(), "{s}");
        // The summary records the whole scenario; the shard is a pure function of it.
        assert_eq!(s["scenario"]["agents"][0]["count"], 8);
        // Against a remote target the simulator is judged on the cores its runtime can use.
        let machine = std::thread::available_parallelism().map_or(1, |n| n.get());
        let threads = if i == 0 { machine.min(2) } else { 1 };
        assert_eq!(s["generator"]["cores"], threads, "shard {i}: {}", s["generator"]);
    }

    // The usernames of the shards: disjoint, and together every agent of the scenario.
    let mut seen = BTreeSet::new();
    for i in 0..SHARDS {
        let overrides = gwsim::scenario::Overrides {
            shard: Some(gwsim::scenario::Shard { index: i, count: SHARDS }),
            ..Default::default()
        };
        let part = gwsim::scenario::load(&scenario, &overrides).expect("the shard validates");
        for name in part.agents.iter().flat_map(|p| p.usernames()) {
            assert!(seen.insert(name.clone()), "{name} is in two shards");
        }
    }
    let whole = gwsim::scenario::load(&scenario, &Default::default()).expect("valid");
    let all: BTreeSet<String> = whole.agents.iter().flat_map(|p| p.usernames()).collect();
    assert_eq!(seen, all);

    // Merge, in an order that is not the index order.
    let merged_dir = dir.join("merged");
    let mut args = vec!["merge"];
    args.extend([3, 1, 0, 2].map(|i: usize| path(&shard_dirs[i])));
    args.extend(["--out", path(&merged_dir)]);
    let out = gwsim(&args);
    assert_eq!(out.status.code(), Some(0), "{}\n{}", text(&out.stdout), text(&out.stderr));
    for file in [
        "summary.json",
        "junit.xml",
        "latency.hlog",
        "totals.hlog",
        "report.html",
        "timeline.jsonl",
    ] {
        assert!(merged_dir.join(file).is_file(), "merge wrote no {file}");
    }
    let merged = summary(&merged_dir);
    // Shards and merges both match the summary's schema.
    let schema: serde_json::Value =
        serde_json::from_str(include_str!("../../schema/summary.schema.json")).unwrap();
    let validator = jsonschema::draft202012::new(&schema).unwrap();
    for s in shards.iter().chain([&merged]) {
        let errors: Vec<String> = validator.iter_errors(s).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "summary.json does not match its schema: {errors:#?}");
    }
    assert!(merged.get("shard").is_none(), "a merge is not a shard");
    assert_eq!(merged["fingerprint"], fingerprint);
    assert_eq!(merged["seed"], 5, "the whole scenario's seed");
    assert_eq!(merged["shards"].as_array().map(Vec::len), Some(SHARDS as usize));

    // Counts are sums, run-wide and per operation.
    let sum = |f: &dyn Fn(&serde_json::Value) -> u64| shards.iter().map(f).sum::<u64>();
    for key in ["operations", "errors", "violations", "reconnects", "missed_starts", "abandoned"] {
        let total = sum(&|s| s["counts"][key].as_u64().expect("a count"));
        assert_eq!(merged["counts"][key].as_u64(), Some(total), "counts.{key}");
    }
    assert!(merged["counts"]["operations"].as_u64().unwrap_or(0) > 0, "{merged}");
    let ops = merged["operations"].as_array().expect("operations");
    for op in ops {
        let name = op["name"].as_str().expect("a name");
        let of = |s: &serde_json::Value, key: &str| {
            s["operations"]
                .as_array()
                .and_then(|v| v.iter().find(|o| o["name"] == name))
                .map_or(0, |o| o[key].as_u64().unwrap_or(0))
        };
        for key in ["count", "ok", "errors"] {
            assert_eq!(op[key].as_u64(), Some(sum(&|s| of(s, key))), "{name}.{key}");
        }
    }

    // Histograms: the merge's are the shards' added, and every statistic of the merge is the
    // statistic of the added histograms.
    let shard_totals: Vec<Histograms> =
        shard_dirs.iter().map(|d| read_hlog(&d.join("totals.hlog")).expect("totals")).collect();
    let expected = added(&shard_totals);
    let merged_totals = read_hlog(&merged_dir.join("totals.hlog")).expect("merged totals");
    assert_eq!(merged_totals.keys().collect::<Vec<_>>(), expected.keys().collect::<Vec<_>>());
    for (tag, h) in &expected {
        assert_eq!(merged_totals[tag].len(), h.len(), "{tag}: total count");
        assert_eq!(&merged_totals[tag], h, "{tag}: every bucket");
    }
    let mut compared = 0;
    for op in ops {
        for kind in ["response", "settle"] {
            if op[kind].is_null() {
                continue;
            }
            let metric = format!("{}.{kind}", op["name"].as_str().unwrap_or_default());
            let h = &expected[&metric];
            assert_eq!(op[kind]["corrected"], expected_stats(h), "{metric} corrected");
            let raw = &expected[&format!("{metric}.raw")];
            assert_eq!(op[kind]["raw"], expected_stats(raw), "{metric} raw");
            compared += 1;
        }
    }
    assert!(compared >= 3, "too few latency metrics compared: {compared}");
    let wait = &expected["customer.wait"];
    assert_eq!(merged["customers"]["wait"]["corrected"], expected_stats(wait));

    // The interval logs, merged by time, hold exactly the shards' intervals.
    let shard_logs: Vec<Histograms> =
        shard_dirs.iter().map(|d| read_hlog(&d.join("latency.hlog")).expect("hlog")).collect();
    let merged_log = read_hlog(&merged_dir.join("latency.hlog")).expect("merged hlog");
    let expected_log = added(&shard_logs);
    assert_eq!(merged_log.len(), expected_log.len());
    for (tag, h) in &expected_log {
        assert_eq!(&merged_log[tag], h, "latency.hlog {tag}");
    }
    assert_eq!(merged["thresholds"][0]["passed"], true, "{}", merged["thresholds"]);

    // The time series, merged by time: every shard's operations are in it, once; each merged
    // second's latency counts are the shards' of that second summed; and the merged report
    // draws the charts over time.
    let timeline = |d: &Path| {
        gwsim::report::timeline::read_timeline(&d.join("timeline.jsonl")).expect("timeline")
    };
    let merged_points = timeline(&merged_dir);
    let shard_points: Vec<_> = shard_dirs.iter().map(|d| timeline(d)).collect();
    let ops = |points: &[gwsim::report::timeline::Point]| points.iter().map(|p| p.ops).sum::<u64>();
    assert_eq!(ops(&merged_points), shard_points.iter().map(|p| ops(p)).sum::<u64>());
    assert!(ops(&merged_points) > 0);
    let longest = shard_points.iter().map(Vec::len).max().unwrap_or(0);
    assert!(merged_points.len() >= longest && merged_points.len() <= longest + 1);
    assert!(merged_points.windows(2).all(|w| w[0].start_ms < w[1].start_ms), "in time order");
    let latency_count = |points: &[gwsim::report::timeline::Point]| -> u64 {
        points.iter().flat_map(|p| p.latency.values()).map(|l| l.count).sum()
    };
    assert_eq!(
        latency_count(&merged_points),
        shard_points.iter().map(|p| latency_count(p)).sum::<u64>()
    );
    let html = std::fs::read_to_string(merged_dir.join("report.html")).expect("report.html");
    assert!(html.contains("data-chart=\"throughput\""), "the merged report has no time charts");
    assert!(!html.contains("No time series"));

    // Refused, exit 2, never summed: a shard twice, a missing shard, another scenario's shard.
    let refused = |dirs: &[&Path], want: &str| {
        let mut args = vec!["merge".to_owned()];
        args.extend(dirs.iter().map(|d| path(d).to_owned()));
        args.extend(["--out".to_owned(), path(&dir.join("refused")).to_owned()]);
        let out = Command::new(env!("CARGO_BIN_EXE_gwsim")).args(&args).output().expect("merge");
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{want}: {err}");
        assert!(err.contains(want), "wanted {want:?} in: {err}");
    };
    let [s0, s1, s2, s3] = [0, 1, 2, 3].map(|i| shard_dirs[i].as_path());
    refused(&[s0, s1, s2, s3, s1], "shard 1 is given twice");
    refused(&[s0, s1, s3], "shards 2 of 4 are missing");
    let other = dir.join("other");
    std::fs::create_dir_all(&other).unwrap();
    for f in ["latency.hlog", "totals.hlog"] {
        std::fs::copy(s3.join(f), other.join(f)).unwrap();
    }
    let mut foreign = shards[3].clone();
    foreign["fingerprint"] = serde_json::json!("0123456789abcdef");
    std::fs::write(other.join("summary.json"), foreign.to_string()).unwrap();
    refused(&[s0, s1, s2, &other], "is a shard of another scenario");
    refused(&[s0, s1, s2, &dir.join("nowhere")], "cannot read");
    assert!(!dir.join("refused").exists(), "a refused merge wrote results");
}

/// The shard flags are judged before any load: exit 2, and the message names the flag.
#[test]
fn shard_flags_are_judged_before_any_load() {
    let tmp = scratch();
    let scenario = tmp.path().join("shards.toml");
    std::fs::write(&scenario, SCENARIO).unwrap();
    let run = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_gwsim"))
            .args(["run", path(&scenario), "--quiet", "--out", path(&tmp.path().join("out"))])
            .args(args)
            .env_remove("JOB_COMPLETION_INDEX")
            .output()
            .expect("gwsim runs");
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", text(&out.stdout));
        text(&out.stderr)
    };
    let err = run(&["--shard", "4/4"]);
    assert!(err.contains("--shard 4/4: shard 4 does not exist among 4 shards"), "{err}");
    let err = run(&["--shard", "0/9"]);
    assert!(err.contains("--shard 0/9: population `frontline` has 8 agents"), "{err}");
    let err = run(&["--shard", "two"]);
    assert!(err.contains("`two` is not a shard"), "{err}");
    let err = run(&["--shards", "4"]);
    assert!(err.contains("JOB_COMPLETION_INDEX, which is not set"), "{err}");
    let err = run(&["--start-at", "2001-01-01T00:00:00Z"]);
    assert!(err.contains("--start-at 2001-01-01T00:00:00Z: that was"), "{err}");
    assert!(!tmp.path().join("out").exists(), "a refused run wrote results");
}
