//! Issue 10, "a clean stop": a CometD session that gwsim closes itself, because its run ends or
//! because it is interrupted (Ctrl-C), is not counted as an error. Many agents log out at once
//! here, which is when a session's own `Closed` event used to race the end of the run.

use std::path::Path;
use std::time::Duration;

use gwsim::app::{Executed, RunOptions, execute};
use gwsim::scenario::{self, Overrides, Scenario};
use gwsim::vocab::{OpName, SessionOp};
use tokio_util::sync::CancellationToken;

/// The shipped customer surge (80 agents), with no warmup and `duration` of load.
fn surge(duration: Duration) -> Scenario {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/customer-surge.toml");
    let overrides = Overrides {
        duration: Some(duration),
        warmup: Some(Duration::ZERO),
        drain: Some(Duration::from_secs(20)),
        ..Overrides::default()
    };
    scenario::load(path, &overrides).unwrap_or_else(|d| panic!("customer-surge:\n{d}"))
}

async fn run(s: Scenario, interrupt: CancellationToken) -> Executed {
    let options = RunOptions { poll_interval: Duration::from_millis(200), ..RunOptions::default() };
    run_with(s, options, interrupt).await
}

async fn run_with(s: Scenario, options: RunOptions, interrupt: CancellationToken) -> Executed {
    execute(s, &options, interrupt, None).await.unwrap_or_else(|e| panic!("{e:#}"))
}

/// Every error counted under a session operation, as `op: kind`.
fn session_errors(done: &Executed) -> Vec<String> {
    done.outcome
        .recorder
        .ops()
        .filter(|(op, _)| matches!(op, OpName::Session(_)))
        .flat_map(|(op, s)| s.error_kinds.keys().map(move |k| format!("{op}: {k}")))
        .collect()
}

/// Every agent's session ends with the run: none of those ends is an error.
#[tokio::test]
async fn the_end_of_a_run_is_not_a_closed_session() {
    let done = run(surge(Duration::from_secs(1)), CancellationToken::new()).await;
    assert!(!done.outcome.partial);
    assert_eq!(done.outcome.agents_logged_in, done.outcome.agents_total);
    assert_eq!(session_errors(&done), Vec::<String>::new());
    assert!(done.outcome.recorder.op(OpName::Session(SessionOp::Notifications)).is_none());
}

/// Ctrl-C (the interrupt token) once every agent is in: a partial run, still with no closed
/// session counted.
#[tokio::test]
async fn an_interrupt_is_not_a_closed_session() {
    let interrupt = CancellationToken::new();
    let stop = interrupt.clone();
    let s = surge(Duration::from_secs(60));
    let agents = s.agents.iter().map(|p| p.count as usize).sum::<usize>();
    let running = tokio::spawn(run(s, interrupt));
    // Interrupt mid-run, whenever that is on a loaded machine: a few seconds in, the agents
    // are logged in and their CometD sessions are up.
    tokio::time::sleep(Duration::from_secs(3)).await;
    stop.cancel();
    let done = running.await.expect("the run task does not panic");
    assert!(done.outcome.partial);
    assert_eq!(done.outcome.agents_total, agents);
    assert_eq!(session_errors(&done), Vec::<String>::new());
}

/// Ctrl-C while agents are still logging in, one at a time (most likely mid-handshake for
/// some): an interrupted login is not a failed one.
#[tokio::test]
async fn an_interrupt_during_login_is_not_a_failed_handshake() {
    let interrupt = CancellationToken::new();
    let stop = interrupt.clone();
    let options = RunOptions {
        poll_interval: Duration::from_millis(200),
        login_concurrency: 1,
        ..RunOptions::default()
    };
    let running = tokio::spawn(run_with(surge(Duration::from_secs(60)), options, interrupt));
    tokio::time::sleep(Duration::from_millis(150)).await;
    stop.cancel();
    let done = running.await.expect("the run task does not panic");
    assert!(done.outcome.partial);
    assert_eq!(session_errors(&done), Vec::<String>::new());
}

/// Agents that toggle readiness all the time are often inside a `Ready`/`NotReady` request when
/// the run ends; their CometD session's own disconnect then completes before the agent looks at
/// its token again. That close is still gwsim's own, not an error.
#[tokio::test]
async fn agents_busy_at_the_end_record_no_closed_session() {
    let toml = r#"
name = "busy-at-the-end"
[target]
kind = "embedded"
transport = "websocket"
media = "chat"
[run]
duration = "2s"
warmup = "0s"
drain = "5s"
seed = 5
[[agents]]
name = "cycling"
count = 60
username = "cycling-{n}"
flow = "work"
readiness = { ready = "1ms..5ms", not_ready = "1ms..5ms" }
[flows.work]
steps = [ { op = "Accept" }, { op = "Complete" } ]
"#;
    let dir = tempfile::Builder::new().prefix("gwsim-stop-").tempdir().expect("scratch directory");
    let path = dir.path().join("busy.toml");
    std::fs::write(&path, toml).expect("scenario written");
    let s = scenario::load(&path, &Overrides::default()).unwrap_or_else(|d| panic!("{d}"));
    let done = run(s, CancellationToken::new()).await;
    assert_eq!(done.outcome.agents_logged_in, done.outcome.agents_total);
    assert_eq!(session_errors(&done), Vec::<String>::new());
}
