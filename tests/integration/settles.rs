//! What the engine records from what the checker reports: one settle per successful operation
//! that has one (a removal at the removed agent), and an await that times out as a flow failure
//! of the operation before it, never as an ordering violation.

use std::path::Path;
use std::time::Duration;

use gwsim::app::{Executed, RunOptions, execute};
use gwsim::gws::Capability;
use gwsim::scenario::{self, Scenario};
use gwsim::vocab::{Counter, OpName, has_settle};
use tokio_util::sync::CancellationToken;

async fn run(s: Scenario) -> Executed {
    let name = s.name.clone();
    let options = RunOptions { poll_interval: Duration::from_millis(200), ..RunOptions::default() };
    execute(s, &options, CancellationToken::new(), None)
        .await
        .unwrap_or_else(|e| panic!("{name}: {e:#}"))
}

/// Against the embedded server every notification comes, so every successful operation that
/// settles has exactly one settle sample: none lost, none counted twice.
#[tokio::test]
async fn every_successful_operation_settles_once() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/consult-remove-leave.toml");
    let overrides = scenario::Overrides {
        duration: Some(Duration::from_secs(3)),
        warmup: Some(Duration::ZERO),
        drain: Some(Duration::from_secs(20)),
        ..scenario::Overrides::default()
    };
    let s = scenario::load(&path, &overrides).unwrap_or_else(|d| panic!("{d}"));
    let done = run(s).await;
    let r = &done.outcome.recorder;
    let mut seen = Vec::new();
    for (op, stats) in r.ops() {
        let OpName::Flow(cap) = op else { continue };
        let settles = stats.settle.as_ref().map_or(0, |t| t.latency.corrected().len());
        let ok = stats.ok.measured + stats.ok.warmup;
        let want = if has_settle(cap) { ok } else { 0 };
        assert_eq!(settles, want, "{op}: {ok} succeeded, {settles} settled");
        seen.push(cap);
    }
    for cap in
        [Capability::Accept, Capability::Consult, Capability::RemoveParticipantFromConference]
    {
        assert!(seen.contains(&cap), "{cap} ran");
    }
}

const AWAIT_NOBODY: &str = r#"
name = "await-nobody"
[target]
kind = "embedded"
media = "chat"
[run]
duration = "2s"
drain = "10s"
seed = 3
[[agents]]
name = "frontline"
count = 1
flow = "wait"
[customers]
arrival = { rate = "1/s", spacing = "constant" }
messages = { count = "1..1", think = "100ms", text = "hello" }
[flows.wait]
steps = [
  { op = "Accept" },
  { await = "agent-message", timeout = "300ms" },
  { op = "Complete" },
]
"#;

/// Nobody else is in the chat, so no agent message ever comes: each await times out. That is
/// the flow failing (charged to Accept, the operation it follows, and the chat tidied up with
/// Complete), not the server misordering anything: no violation.
#[tokio::test]
async fn an_await_timeout_is_a_flow_failure_not_a_violation() {
    let s = scenario::parse("await-nobody.toml", AWAIT_NOBODY, &scenario::Overrides::default())
        .unwrap_or_else(|d| panic!("{d}"));
    let done = run(s).await;
    let r = &done.outcome.recorder;
    let found: Vec<String> = r.first_violations().iter().map(|v| v.to_string()).collect();
    assert_eq!(r.counter(Counter::Violations), 0, "violations: {found:#?}");
    let accept = r.op(OpName::Flow(Capability::Accept)).expect("Accept ran");
    let timeouts = accept.error_kinds.get("await-timeout:agent-message").copied();
    let timeouts = timeouts.map_or(0, |s| s.measured + s.warmup);
    assert!(timeouts > 0, "Accept's errors: {:?}", accept.error_kinds);
    assert_eq!(accept.errors.measured + accept.errors.warmup, timeouts, "and nothing else");
    // The failed flow released its chat: its tidy-up Complete succeeded and settled.
    let complete = r.op(OpName::Flow(Capability::Complete)).expect("Complete ran");
    assert_eq!(complete.ok.measured + complete.ok.warmup, timeouts);
}
