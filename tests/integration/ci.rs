//! The CI commands end to end, through the real binary: `gwsim run` writes `junit.xml` next to
//! `summary.json` (which matches its schema); `gwsim compare` exits 0, 1 or 2 as the README
//! promises; `gwsim report` prints the run's table again from its summary.

use std::process::Command;

use crate::binary::{gwsim, path, scratch, serve, text};

/// A short scenario: no warmup, one second of load, a threshold that holds and one that fails.
const SCENARIO: &str = r#"
name = "ci-smoke"
[target]
kind = "embedded"
transport = "websocket"
media = "chat"
[run]
duration = "1s"
warmup = "0s"
drain = "10s"
seed = 11
[[agents]]
name = "frontline"
count = 2
username = "frontline-{n}"
flow = "work"
[customers]
arrival = { rate = "4/s" }
[flows.work]
steps = [ { op = "Accept" }, { op = "SendMessage", text = "Hello" }, { op = "Leave" }, { op = "Complete" } ]
[[thresholds]]
metric = "Accept.response"
p99 = "10s"
[[thresholds]]
metric = "Accept.count"
min = 1000000
"#;

#[test]
fn run_writes_junit_and_compare_and_report_read_the_results() {
    let tmp = scratch();
    let dir = tmp.path();
    let scenario = dir.join("ci-smoke.toml");
    std::fs::write(&scenario, SCENARIO).unwrap();
    let run_dir = dir.join("run");
    let run = gwsim(&["run", path(&scenario), "--out", path(&run_dir)]);
    let run_out = text(&run.stdout);
    // The impossible `Accept.count` threshold fails the run.
    assert_eq!(run.status.code(), Some(1), "{run_out}\n{}", text(&run.stderr));

    // junit.xml: one case per threshold plus the ordering check, the failed one failing.
    let junit = std::fs::read_to_string(run_dir.join("junit.xml")).unwrap();
    assert!(
        junit.contains(r#"<testsuite name="gwsim.ci-smoke" tests="3" failures="1""#),
        "{junit}"
    );
    assert!(junit.contains(r#"name="Accept.response p99 &lt;= 10s" time="0"/>"#), "{junit}");
    assert!(
        junit.contains(
            r#"<testcase classname="Accept.count" name="Accept.count min &gt;= 1000000""#
        )
    );
    assert!(junit.contains(r#"name="ordering violations" time="0"/>"#), "{junit}");

    // `gwsim report` prints the same table the run printed (each adds one line of its own), and
    // re-renders report.html from summary.json, totals.hlog and timeline.jsonl.
    let first_html = std::fs::read_to_string(run_dir.join("report.html")).unwrap();
    std::fs::remove_file(run_dir.join("report.html")).unwrap();
    // A run killed mid-write leaves a torn last line in its time series: `gwsim report`
    // tolerates it as `gwsim run` does (it is dropped with a warning).
    let timeline = run_dir.join("timeline.jsonl");
    let mut torn = std::fs::read_to_string(&timeline).unwrap();
    torn.push_str("{\"t_ms\":99000,\"op");
    std::fs::write(&timeline, torn).unwrap();
    let report = gwsim(&["report", path(&run_dir)]);
    assert_eq!(report.status.code(), Some(0), "{}", text(&report.stderr));
    let out = text(&report.stdout);
    let table = out.rsplit_once("report: ").map_or(out.as_str(), |(t, _)| t);
    assert!(run_out.starts_with(table), "run:\n{run_out}\nreport:\n{table}");
    assert!(table.starts_with("gwsim run ci-smoke: CHECKS FAILED (exit 1)"), "{table}");
    let html = std::fs::read_to_string(run_dir.join("report.html")).unwrap();
    for part in [">FAIL <", "Accept.response", "uPlot"] {
        assert!(
            html.contains(part) && first_html.contains(part),
            "{part} missing from a report.html"
        );
    }
    // The spectra come back from totals.hlog: Accept.response is charted again.
    let open = format!(r#"id="{}">"#, gwsim::report::html::DATA_ELEMENT_ID);
    let blob =
        html.split_once(&open).and_then(|(_, rest)| rest.split_once("</script>")).map(|(b, _)| b);
    let data: serde_json::Value = serde_json::from_str(blob.expect("embedded chart data")).unwrap();
    let spectra = data["spectra"].as_array().expect("spectra");
    assert!(
        spectra.iter().any(|s| s["metric"] == "Accept.response"),
        "no Accept.response spectrum"
    );

    // The real run's summary matches the committed schema.
    let summary = run_dir.join("summary.json");
    let schema: serde_json::Value =
        serde_json::from_str(include_str!("../../schema/summary.schema.json")).unwrap();
    let validator = jsonschema::draft202012::new(&schema).unwrap();
    let written: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&summary).unwrap()).unwrap();
    let errors: Vec<String> = validator.iter_errors(&written).map(|e| e.to_string()).collect();
    assert!(errors.is_empty(), "summary.json does not match its schema: {errors:#?}");

    // A run compared with itself: no regression.
    let same = gwsim(&["compare", path(&run_dir), path(&summary)]);
    assert_eq!(same.status.code(), Some(0), "{}{}", text(&same.stdout), text(&same.stderr));
    assert!(text(&same.stdout).contains("result: no regression (exit 0)"));

    // The same run with ordering violations added: a regression, in the table and in JSON.
    let mut json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&summary).unwrap()).unwrap();
    json["violations"]["total"] = 2.into();
    json["violations"]["by_kind"]["missing"] = 2.into();
    let worse = dir.join("worse");
    std::fs::create_dir_all(&worse).unwrap();
    std::fs::write(worse.join("summary.json"), serde_json::to_string(&json).unwrap()).unwrap();
    let regressed = gwsim(&["compare", path(&run_dir), path(&worse)]);
    assert_eq!(regressed.status.code(), Some(1), "{}", text(&regressed.stdout));
    assert!(text(&regressed.stdout).contains("violations.missing count: +2"));
    let as_json = gwsim(&["compare", "--json", path(&run_dir), path(&worse)]);
    assert_eq!(as_json.status.code(), Some(1));
    let parsed: serde_json::Value = serde_json::from_slice(&as_json.stdout).unwrap();
    assert_eq!(parsed["regressions"], 2);

    // Unreadable input and bad tolerances: exit 2 with a sentence naming the problem.
    std::fs::write(dir.join("truncated.json"), "{\"schema\": \"gwsim.summary/1\", \"par").unwrap();
    let bad = gwsim(&["compare", path(&dir.join("truncated.json")), path(&run_dir)]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        text(&bad.stderr).contains("truncated.json is not valid JSON"),
        "{}",
        text(&bad.stderr)
    );
    json["schema"] = "gwsim.summary/2".into();
    std::fs::write(worse.join("summary.json"), serde_json::to_string(&json).unwrap()).unwrap();
    let other = gwsim(&["compare", path(&run_dir), path(&worse)]);
    assert_eq!(other.status.code(), Some(2));
    assert!(text(&other.stderr).contains("has summary schema `gwsim.summary/2`"));
    // A readable summary beside a garbage interval log: the log is named, exit 2.
    let garbled = dir.join("garbled");
    std::fs::create_dir_all(&garbled).unwrap();
    std::fs::copy(&summary, garbled.join("summary.json")).unwrap();
    std::fs::write(garbled.join("latency.hlog"), "garbage\n").unwrap();
    for args in [vec!["report", path(&garbled)], vec!["compare", path(&run_dir), path(&garbled)]] {
        let out = gwsim(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(text(&out.stderr).contains("latency.hlog"), "{}", text(&out.stderr));
    }
    let tol = gwsim(&["compare", "--tolerance", "p99=ten%", path(&run_dir), path(&run_dir)]);
    assert_eq!(tol.status.code(), Some(2));
    assert!(text(&tol.stderr).contains("--tolerance: `p99=ten%`: `ten` is not a number"));
    let missing = gwsim(&["report", path(&dir.join("nowhere"))]);
    assert_eq!(missing.status.code(), Some(2));
}

/// `gwsim validate` prints every problem of every file on lines of their own, then the count on
/// a line of its own (the last `help:` once ran into it).
#[test]
fn validate_prints_whole_lines_and_the_count_last() {
    let tmp = scratch();
    let dir = tmp.path();
    let a = dir.join("a.toml");
    let b = dir.join("b.toml");
    std::fs::write(&a, "name = \"a\"\ncolour = 1\n").unwrap();
    std::fs::write(&b, SCENARIO.replace("count = 2", "count = 0")).unwrap();
    let out = gwsim(&["validate", path(&a), path(&b)]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.last().copied(), Some("5 problem(s) found"), "{err}");
    for line in &lines[..lines.len() - 1] {
        assert!(line.contains(".toml:") || line.starts_with("    help: "), "{line:?} in\n{err}");
    }
}

/// `gwsim run`'s flags are judged by the scenario's rules before any load: a problem names the
/// flag, exit 2, and nothing runs.
#[test]
fn run_flags_are_judged_before_any_load() {
    let tmp = scratch();
    let dir = tmp.path();
    let scenario = dir.join("ci-smoke.toml");
    std::fs::write(&scenario, SCENARIO).unwrap();
    let out =
        gwsim(&["run", path(&scenario), "--target", "http://127.0.0.1:9", "--duration", "0s"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stdout));
    let err = text(&out.stderr);
    assert!(err.contains("error: --duration 0s: `duration` is zero"), "{err}");
    assert!(
        err.contains("error: --target http://127.0.0.1:9: the scenario has [customers], and simulated chat customers need the target's contact center id")
            && err.contains("help: pass --contact-center-id ID, or --agents-only"),
        "{err}"
    );
    assert!(err.contains("population `frontline` has no password"), "{err}");
    assert!(err.contains("--password-env VAR"), "{err}");
}

/// "Run a scenario against a standalone `gwsim serve`" is two commands: the server creates
/// exactly the scenario's agents with the password the run reads from the same variable.
#[test]
fn a_scenario_runs_against_a_standalone_server_made_from_it() {
    let tmp = scratch();
    let dir = tmp.path();
    let scenario = dir.join("ci-smoke.toml");
    std::fs::write(&scenario, SCENARIO).unwrap();
    let pw = [("GWSIM_CI_PASSWORD", "not-a-real-secret")];
    let (_server, url) = serve(&["--users-from", path(&scenario), "--password-env", pw[0].0], &pw);
    let run_dir = dir.join("run");
    let run = Command::new(env!("CARGO_BIN_EXE_gwsim"))
        .args(["run", path(&scenario), "--target", &url, "--password-env", pw[0].0])
        .args(["--contact-center-id", gwsim::server::DEFAULT_CONTACT_CENTER_ID])
        .args(["--out", path(&run_dir), "--quiet"])
        .envs(pw)
        .output()
        .expect("gwsim run starts");
    let out = text(&run.stdout);
    // Only the impossible Accept.count threshold fails: everyone logged in and chats ran.
    assert_eq!(run.status.code(), Some(1), "{out}\n{}", text(&run.stderr));
    assert!(out.contains("2 of 2 agents logged in"), "{out}");
    let summary = std::fs::read_to_string(run_dir.join("summary.json")).unwrap();
    assert!(!summary.contains("not-a-real-secret"), "the password leaked into the summary");
    let json: serde_json::Value = serde_json::from_str(&summary).unwrap();
    assert_eq!(json["target"]["kind"], "remote");
    assert_eq!(json["target"]["transport"], "long-polling", "--target defaults to long-polling");
    assert_eq!(json["target"]["customer_api"], true);
    assert_eq!(json["options"]["poll_interval"], "500ms");
    assert_eq!(json["options"]["login_concurrency"], 64);
    assert!(json["counts"]["operations"].as_u64().unwrap_or(0) > 2, "{summary}");
}

/// A population with a password source of its own logs in to the embedded server with it (the
/// embedded server once registered one generated password for every agent).
#[test]
fn the_embedded_server_takes_each_population_s_own_password() {
    let tmp = scratch();
    let dir = tmp.path();
    std::fs::write(dir.join("pw"), "from-a-file\n").unwrap();
    let scenario = dir.join("own-password.toml");
    let text_with_password = SCENARIO.replace(
        "username = \"frontline-{n}\"",
        "username = \"frontline-{n}\"\npassword = { file = \"pw\" }",
    );
    std::fs::write(&scenario, text_with_password).unwrap();
    let run_dir = dir.join("run");
    let run = gwsim(&["run", path(&scenario), "--out", path(&run_dir), "--quiet"]);
    let out = text(&run.stdout);
    assert!(out.contains("2 of 2 agents logged in"), "{out}\n{}", text(&run.stderr));
}

/// `SCENARIO` without its thresholds: a run that passes.
fn passing_scenario() -> &'static str {
    SCENARIO.split_once("[[thresholds]]").map_or(SCENARIO, |(head, _)| head)
}

/// Issue 10: `--out` on a directory that holds files refuses (exit 2, nothing touched) unless
/// `--force`, which replaces the earlier run's own files only.
#[test]
fn out_never_overwrites_an_earlier_run_unless_forced() {
    let tmp = scratch();
    let dir = tmp.path();
    let scenario = dir.join("ci-smoke.toml");
    std::fs::write(&scenario, passing_scenario()).unwrap();
    let out = dir.join("run");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(out.join("summary.json"), "earlier").unwrap();
    std::fs::write(out.join("notes.txt"), "mine").unwrap();

    let refused = gwsim(&["run", "-q", path(&scenario), "--out", path(&out)]);
    let err = text(&refused.stderr);
    assert_eq!(refused.status.code(), Some(2), "{err}");
    assert!(err.contains("is not empty") && err.contains("--force"), "{err}");
    assert_eq!(std::fs::read_to_string(out.join("summary.json")).unwrap(), "earlier");

    let forced = gwsim(&["run", "-q", path(&scenario), "--out", path(&out), "--force"]);
    assert_eq!(forced.status.code(), Some(0), "{}", text(&forced.stderr));
    let summary = std::fs::read_to_string(out.join("summary.json")).unwrap();
    assert!(summary.contains("gwsim.summary/1"), "{summary}");
    assert_eq!(std::fs::read_to_string(out.join("notes.txt")).unwrap(), "mine");

    // --force means nothing without --out: a usage error, before any load.
    let alone = gwsim(&["run", "-q", path(&scenario), "--force"]);
    assert_eq!(alone.status.code(), Some(2), "{}", text(&alone.stderr));
}

/// Two runs started together with the default results directory (quite likely in the same
/// second) each get a directory of their own.
#[test]
fn default_results_directories_never_collide() {
    let tmp = scratch();
    let dir = tmp.path();
    std::fs::write(dir.join("ci-smoke.toml"), passing_scenario()).unwrap();
    let start = || {
        Command::new(env!("CARGO_BIN_EXE_gwsim"))
            .args(["run", "-q", "ci-smoke.toml"])
            .current_dir(dir)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start gwsim: {e}"))
    };
    let (a, b) = (start(), start());
    for child in [a, b] {
        let done = child.wait_with_output().unwrap();
        assert_eq!(done.status.code(), Some(0), "{}", text(&done.stderr));
    }
    let runs: Vec<_> =
        std::fs::read_dir(dir.join("results")).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(runs.len(), 2, "{runs:?}");
    for run in runs {
        assert!(run.join("summary.json").is_file(), "{} has no summary.json", run.display());
    }
}

/// Issue 10, CI conventions: `--json` puts the summary JSON alone on stdout, and
/// `--summary-export FILE` writes the same JSON there as well as summary.json.
#[test]
fn run_json_and_summary_export() {
    let tmp = scratch();
    let dir = tmp.path();
    let scenario = dir.join("ci-smoke.toml");
    std::fs::write(&scenario, passing_scenario()).unwrap();
    let out = dir.join("run");
    let export = dir.join("export.json");
    let run = gwsim(&[
        "run",
        "-q",
        "--json",
        path(&scenario),
        "--out",
        path(&out),
        "--summary-export",
        path(&export),
    ]);
    assert_eq!(run.status.code(), Some(0), "{}", text(&run.stderr));
    let stdout: serde_json::Value = serde_json::from_slice(&run.stdout)
        .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}", text(&run.stdout)));
    assert_eq!(stdout["schema"], "gwsim.summary/1");
    let written = std::fs::read_to_string(out.join("summary.json")).unwrap();
    assert_eq!(std::fs::read_to_string(&export).unwrap(), written);
    assert_eq!(serde_json::from_str::<serde_json::Value>(&written).unwrap(), stdout);
    assert!(text(&run.stderr).contains("agents logged in"), "{}", text(&run.stderr));

    // An export into a directory that does not exist is refused before any load.
    let bad = dir.join("absent").join("export.json");
    let never = dir.join("never");
    let refused = gwsim(&[
        "run",
        "-q",
        path(&scenario),
        "--out",
        path(&never),
        "--summary-export",
        path(&bad),
    ]);
    assert_eq!(refused.status.code(), Some(2));
    assert!(!never.exists(), "the results directory was made before the export was checked");
    assert!(text(&refused.stderr).contains("is not a directory"), "{}", text(&refused.stderr));
}

/// Issue 10, CI conventions: shell completions from the clap definitions, and the exit codes in
/// `--help` (top level and `run`).
#[test]
fn completions_and_exit_codes_in_help() {
    let bash = gwsim(&["completions", "bash"]);
    assert_eq!(bash.status.code(), Some(0), "{}", text(&bash.stderr));
    let script = text(&bash.stdout);
    assert!(script.contains("_gwsim()") && script.contains("--summary-export"), "{script}");
    for shell in ["zsh", "fish", "elvish", "powershell"] {
        let done = gwsim(&["completions", shell]);
        assert_eq!(done.status.code(), Some(0), "{shell}: {}", text(&done.stderr));
        assert!(text(&done.stdout).contains("gwsim"), "{shell}");
    }
    assert_eq!(gwsim(&["completions", "tcsh"]).status.code(), Some(2));
    for args in [&["--help"][..], &["run", "--help"]] {
        let help = text(&gwsim(args).stdout);
        assert!(help.contains("Exit codes:"), "{args:?}: {help}");
        assert!(help.contains("130  interrupted"), "{args:?}: {help}");
        assert!(help.contains("NO_COLOR"), "{args:?}: {help}");
    }
}
