//! Issue 10, "a compare you can gate a build on", proved with the real binary: 20 pairs of
//! identical runs of a small scenario on the embedded server never compare as a regression, and
//! the same scenario with 100 ms of server latency added to two operations, compared with a clean
//! run, always does.
//!
//! Which pairs: the two runs of a pair run at the same time, pair after pair. A run's latencies
//! measure the machine as well as the server, and this machine is shared (the rest of the suite
//! runs beside this test, and other builds beside the suite): between two runs a minute apart the
//! median of a 1 ms operation was seen to go to 44 ms, more than the slowdown the test must
//! catch. No statistic of one run can tell that from a slower server; running both sides at once
//! gives them the same machine, as an A/B test does, so what differs between them is the
//! software. (Every run against the first, as CI compares with a committed baseline, failed 23
//! of 39 pairs on a loaded machine for that reason, before compare widened its bands by the
//! run's own second-to-second spread; with that band, 21 runs made three at a time at 25 chats
//! a second, medians 0.3-0.85 s, compared clean every one against the first and each against
//! the one before, 39 of 39, yet the least loaded against the most, the other way round, still
//! fails: that run failed 22% of its Accepts (the other 6%) and missed 198 starts. A machine
//! that loaded is a different system.) The slowed run is paired with a clean one the same way.
//! Only verdicts are asserted, never a time.

use std::path::{Path, PathBuf};

use crate::binary::{gwsim, path, scratch, text};

/// Pairs of identical runs.
const PAIRS: usize = 20;

fn scenario_text() -> String {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/scenarios/compare-noise.toml");
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// The same scenario with every Accept and SendMessage answered 100 ms late by the server: a
/// slowdown no load on a shared machine hides (medians of identical runs were seen 40 ms apart).
fn slowed_text() -> String {
    format!(
        "{}\n[faults]\n[[faults.rule]]\nkind = \"latency\"\nlatency = \"100ms\"\nrate = 1.0\n\
         operations = [\"Accept\", \"SendMessage\"]\n",
        scenario_text()
    )
}

/// Runs `scenario` into `out`; the run itself must pass (no violation, no error threshold).
fn run(scenario: &Path, out: &Path) {
    let o = gwsim(&["run", path(scenario), "--out", path(out), "--quiet"]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{} failed:\n{}\n{}",
        out.display(),
        text(&o.stdout),
        text(&o.stderr)
    );
}

/// `gwsim compare --json BASELINE CURRENT`: its exit code and the comparison.
fn compare(baseline: &Path, current: &Path) -> (Option<i32>, serde_json::Value, String) {
    let o = gwsim(&["compare", "--json", path(baseline), path(current)]);
    let json = serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
        panic!("compare --json printed no JSON ({e}):\n{}\n{}", text(&o.stdout), text(&o.stderr))
    });
    (o.status.code(), json, text(&o.stderr))
}

fn rows(c: &serde_json::Value) -> &[serde_json::Value] {
    c["rows"].as_array().map_or(&[], Vec::as_slice)
}

/// What a clean comparison looked like, for the log: how many rows were judged, how many were
/// beyond the minimum effect but within noise, and the largest move of a judged latency row.
#[derive(Default, Debug)]
struct Seen {
    pairs: usize,
    judged: usize,
    within_noise: usize,
    informational: usize,
    /// (|delta| as a share of the baseline, metric, stat, verdict) of the largest judged move.
    widest: Option<(f64, String)>,
}

impl Seen {
    fn add(&mut self, c: &serde_json::Value) {
        self.pairs += 1;
        for r in rows(c) {
            if !r["informational"].is_null() {
                self.informational += 1;
                continue;
            }
            self.judged += 1;
            if r["verdict"] == "within-noise" {
                self.within_noise += 1;
            }
            let stat = r["stat"].as_str().unwrap_or_default();
            if let Some(d) = r["delta_ratio"].as_f64().filter(|_| stat != "rate" && stat != "count")
            {
                let what = format!("{} {stat} {:+.1}% ({})", r["metric"], d * 100.0, r["verdict"]);
                if self.widest.as_ref().is_none_or(|(w, _)| d.abs() > *w) {
                    self.widest = Some((d.abs(), what));
                }
            }
        }
    }
}

#[test]
fn identical_runs_never_regress_and_a_slowdown_always_does() {
    let tmp = scratch();
    let dir = tmp.path();
    let clean = dir.join("compare-noise.toml");
    std::fs::write(&clean, scenario_text()).unwrap();
    let slowed = dir.join("compare-noise-slowed.toml");
    std::fs::write(&slowed, slowed_text()).unwrap();

    // The pairs, one after the other, both runs of a pair at once; the slowed run last, beside
    // a clean one.
    let mut pairs: Vec<(PathBuf, PathBuf)> = Vec::new();
    for i in 0..=PAIRS {
        let (a, b) = (dir.join(format!("pair-{i:02}-a")), dir.join(format!("pair-{i:02}-b")));
        let second = if i == PAIRS { &slowed } else { &clean };
        std::thread::scope(|s| {
            let other = s.spawn(|| run(second, &b));
            run(&clean, &a);
            if let Err(e) = other.join() {
                std::panic::resume_unwind(e);
            }
        });
        pairs.push((a, b));
    }
    let (baseline, slow) = pairs.pop().expect("the slowed pair ran");

    let mut seen = Seen::default();
    let mut false_regressions = Vec::new();
    for (b, c) in &pairs {
        let (code, json, stderr) = compare(b, c);
        seen.add(&json);
        if code != Some(0) {
            let flagged: Vec<String> = rows(&json)
                .iter()
                .filter(|r| r["verdict"] == "regression")
                .map(|r| format!("{} {} {:#}", r["metric"], r["stat"], r))
                .collect();
            false_regressions.push(format!(
                "{} vs {}: exit {code:?} {stderr}\n{}",
                b.display(),
                c.display(),
                flagged.join("\n")
            ));
        }
    }
    eprintln!("identical pairs: {seen:?}");
    assert!(
        false_regressions.is_empty(),
        "{} of {} identical pairs compared as a regression:\n{}",
        false_regressions.len(),
        pairs.len(),
        false_regressions.join("\n\n")
    );
    // The pairs were really compared: medians and means judged, tails marked.
    assert!(seen.judged > 0 && seen.informational > 0, "{seen:?}");

    // The slowed run against the clean one beside it: exit 1, Accept and SendMessage named.
    let (code, json, _) = compare(&baseline, &slow);
    let regressions: Vec<String> = rows(&json)
        .iter()
        .filter(|r| r["verdict"] == "regression")
        .map(|r| format!("{} {}", r["metric"].as_str().unwrap_or("?"), r["stat"]))
        .collect();
    eprintln!("slowed run: exit {code:?}, regressions {regressions:?}");
    assert_eq!(code, Some(1), "{json:#}");
    for op in ["Accept.response", "SendMessage.response"] {
        assert!(
            regressions.iter().any(|r| r.starts_with(&format!("{op} "))),
            "{op} not flagged: {regressions:?}"
        );
    }
    // And the table says so for people.
    let table = gwsim(&["compare", path(&baseline), path(&slow)]);
    assert_eq!(table.status.code(), Some(1));
    let out = text(&table.stdout);
    assert!(out.contains("regression(s) (exit 1)") && out.contains("Accept.response p50"), "{out}");
}
