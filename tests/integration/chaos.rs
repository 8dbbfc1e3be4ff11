//! Chaos runs on the embedded server (issue 8): a scenario's `[faults]` section makes the server
//! misbehave, every violation lands in `violations.jsonl`, and the summary joins the fault
//! ledger with the violations (recall and precision per kind). Without the section nothing is
//! injected and the summary has no fault section; latency faults produce no violation.

use std::path::{Path, PathBuf};
use std::time::Duration;

use gwsim::app::{Executed, RunOptions, execute};
use gwsim::faults::FaultKind;
use gwsim::report::files::{LEDGER_FILE, VIOLATIONS_FILE};
use gwsim::report::html::PageHistograms;
use gwsim::scenario::{self, Overrides, Scenario};
use tokio_util::sync::CancellationToken;

fn load(name: &str) -> Scenario {
    let path: PathBuf =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/scenarios").join(format!("{name}.toml"));
    scenario::load(&path, &Overrides::default())
        .unwrap_or_else(|d| panic!("{name} does not validate:\n{d}"))
}

/// Runs `name` with its results in a temporary directory; returns the run, the summary as
/// written, and the lines of `violations.jsonl`. Checks `ledger.jsonl` on the way: one line per
/// injected fault with `[faults]`, no file without.
async fn run(name: &str) -> (Executed, serde_json::Value, Vec<String>) {
    let dir = tempfile::tempdir().expect("tempdir");
    let options = RunOptions { poll_interval: Duration::from_millis(200), ..RunOptions::default() };
    let done = execute(load(name), &options, CancellationToken::new(), Some(dir.path()))
        .await
        .unwrap_or_else(|e| panic!("{name}: {e:#}"));
    let summary = gwsim::report::write_results(dir.path(), &done.report).expect("summary");
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(summary).expect("read")).expect("json");
    let lines = std::fs::read_to_string(dir.path().join(VIOLATIONS_FILE))
        .expect("violations.jsonl")
        .lines()
        .map(str::to_owned)
        .collect();
    let ledger = dir.path().join(LEDGER_FILE);
    match &done.report.faults {
        Some(f) => {
            let text = std::fs::read_to_string(&ledger).expect("ledger.jsonl");
            assert_eq!(text.lines().count() as u64, f.injected, "{name}: one line per fault");
        }
        None => assert!(!ledger.exists(), "{name}: no ledger without [faults]"),
    }
    (done, summary, lines)
}

#[tokio::test]
async fn a_drop_at_rate_one_is_joined_with_its_violations() {
    let (done, summary, lines) = run("chaos-drop").await;
    let r = &done.report;
    let f = r.faults.as_ref().expect("a fault section");
    assert!(f.injected > 0, "the drop fired");
    assert_eq!(f.kinds.len(), 1, "only drops were injected: {:?}", f.kinds);
    let drop = f.kind(FaultKind::Drop).expect("drop");
    assert_eq!(drop.records, f.records);
    // Each dropped Completed is a `missing` of that agent and interaction, none invented; the
    // last ones are found when the agents stop, after the run has drained.
    assert_eq!(drop.found, drop.records, "{drop:?}\n{}", gwsim::report::render(r));
    assert_eq!(
        (drop.recall, drop.precision),
        (Some(1.0), Some(1.0)),
        "{}",
        gwsim::report::render(r)
    );
    // The summary as written says the same, and every violation is a line of the file.
    assert_eq!(summary["faults"]["kinds"][0]["kind"], "drop");
    assert!(summary["faults"]["kinds"][0]["recall"].is_number());
    assert_eq!(summary["faults"]["kinds"][0]["precision"], 1.0);
    assert_eq!(r.exit.code, 0, "faults.drop.precision min 1.0 holds: {:?}", r.exit.reasons);
    assert_eq!(lines.len() as u64, r.violations.total, "one line per violation");
    assert_eq!(summary["violations"]["file"]["written"], r.violations.total);
    assert_eq!(summary["violations"]["file"]["dropped"], 0);
    for l in &lines {
        let v: serde_json::Value = serde_json::from_str(l).expect("a JSON line");
        assert_eq!(v["kind"], "missing", "{l}");
        assert!(v["agent"].is_string() && v["at_ms"].is_u64(), "{l}");
    }
    // report.html has the Faults section: the kind's figures, nothing missed or unexplained.
    let page =
        gwsim::report::render_html(r, &PageHistograms::from_recorder(&done.outcome.recorder), &[]);
    assert!(page.contains("<a href=\"#faults\">Faults</a>"), "the navigation links it");
    assert!(page.contains("<section id=\"faults\">"));
    assert!(page.contains("<tr><td>drop</td>"), "a row per kind");
    assert!(page.contains("Every observable fault was found."));
    assert!(page.contains("Every violation is explained by an injected fault."));
    eprintln!(
        "chaos-drop: {} drops, {} found, {} violations: recall {:?}, precision {:?}",
        drop.records, drop.found, f.violations, drop.recall, drop.precision
    );
}

#[tokio::test]
async fn duplicates_at_rate_one_are_all_found_and_explain_every_violation() {
    let (done, summary, lines) = run("chaos-duplicate").await;
    let r = &done.report;
    let f = r.faults.as_ref().expect("a fault section");
    let dup = f.kind(FaultKind::Duplicate).expect("duplicate");
    assert!(dup.records > 0);
    assert_eq!((dup.recall, dup.precision), (Some(1.0), Some(1.0)), "{}", gwsim::report::render(r));
    assert_eq!((f.recall, f.precision), (Some(1.0), Some(1.0)));
    assert_eq!((f.missed_total, f.unexplained_total), (0, 0));
    assert_eq!(
        r.violations.total, dup.records,
        "one duplicate violation per duplicated notification"
    );
    assert_eq!(lines.len() as u64, dup.records);
    assert_eq!(summary["faults"]["recall"], 1.0);
    assert_eq!(summary["faults"]["precision"], 1.0);
    // The scenario's `faults.recall` and `faults.duplicate.precision` thresholds hold.
    let judged: Vec<(String, bool)> =
        r.thresholds.iter().map(|v| (v.metric.to_string(), v.passed)).collect();
    assert!(judged.contains(&("faults.recall".to_owned(), true)), "{judged:?}");
    assert!(judged.contains(&("faults.duplicate.precision".to_owned(), true)), "{judged:?}");
    assert_eq!(r.exit.code, 0, "{:?}", r.exit.reasons);
}

#[tokio::test]
async fn a_clean_run_has_no_fault_section_and_no_violation() {
    let (done, summary, lines) = run("chaos-clean").await;
    assert!(done.report.faults.is_none());
    assert!(summary.get("faults").is_none(), "no fault section without [faults]");
    assert_eq!(done.report.violations.total, 0);
    assert!(lines.is_empty());
    assert_eq!(summary["violations"]["file"]["written"], 0);
    let page = gwsim::report::render_html(
        &done.report,
        &PageHistograms::from_recorder(&done.outcome.recorder),
        &[],
    );
    assert!(!page.contains("id=\"faults\""), "no Faults section without [faults]");
}

#[tokio::test]
async fn latency_faults_alone_cause_no_violation() {
    let (done, summary, lines) = run("chaos-latency").await;
    let f = done.report.faults.as_ref().expect("a fault section");
    let latency = f.kind(FaultKind::Latency).expect("latency faults were injected");
    assert!(latency.records > 0);
    assert_eq!(latency.recall, None, "latency faults have no recall");
    assert_eq!(done.report.violations.total, 0, "{:#?}", done.report.violations.first);
    assert!(lines.is_empty());
    assert_eq!((f.missed_total, f.unexplained_total), (0, 0));
    assert!(summary["faults"]["recall"].is_null(), "no ordering fault, no recall");
}
