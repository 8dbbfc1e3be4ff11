//! `gwsim run` end to end: every shipped scenario runs briefly against the embedded server with
//! no ordering violation and no error, on both transports for the main scenario; and pointed at
//! a server that misorders notifications, the run reports each misordering.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use gwsim::app::{Executed, RunOptions, execute};
use gwsim::cometd::client::Transport;
use gwsim::engine;
use gwsim::gws::Media;
use gwsim::ordering::{Profile, ViolationKind};
use gwsim::run_plan::{ResolvedTarget, RunPlan, TargetType};
use gwsim::scenario::{self, Overrides, Scenario, Secret};
use gwsim::server::faults::{FaultInjector, PublishFault};
use gwsim::server::state::NewUser;
use gwsim::server::users::{Password, UserTable};
use gwsim::server::{self, ServerConfig};
use gwsim::vocab::{Counter, OpName};
use tokio_util::sync::CancellationToken;

fn scenario_path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios").join(format!("{name}.toml"))
}

/// Loads a shipped scenario and shortens it: no warmup, `duration` of load, 20 s of drain.
fn brief(name: &str, duration: Duration) -> Scenario {
    brief_with(name, Overrides { duration: Some(duration), ..Overrides::default() })
}

/// `brief` with more overrides, judged by the scenario's rules like the command line's.
fn brief_with(name: &str, overrides: Overrides) -> Scenario {
    let overrides = Overrides {
        warmup: Some(Duration::ZERO),
        drain: Some(Duration::from_secs(20)),
        ..overrides
    };
    scenario::load(scenario_path(name), &overrides)
        .unwrap_or_else(|d| panic!("{name} does not validate:\n{d}"))
}

async fn run(s: Scenario) -> Executed {
    let name = s.name.clone();
    let options = RunOptions { poll_interval: Duration::from_millis(200), ..RunOptions::default() };
    execute(s, &options, CancellationToken::new(), None)
        .await
        .unwrap_or_else(|e| panic!("{name}: {e:#}"))
}

/// The checks every healthy run passes: everyone logged in and out, nothing misordered, no
/// request failed.
fn assert_healthy(name: &str, done: &Executed) {
    let o = &done.outcome;
    assert!(!o.partial, "{name}: partial");
    assert_eq!(o.agents_logged_in, o.agents_total, "{name}: not every agent logged in");
    let r = &o.recorder;
    let violations: Vec<String> = r.first_violations().iter().map(|v| v.to_string()).collect();
    assert_eq!(r.counter(Counter::Violations), 0, "{name}: violations: {violations:#?}");
    let errors: Vec<String> = r
        .ops()
        .filter(|(_, s)| s.errors.measured + s.errors.warmup > 0)
        .map(|(op, s)| format!("{op}: {:?}", s.error_kinds))
        .collect();
    assert!(errors.is_empty(), "{name}: errors: {errors:?}");
    assert_eq!(r.counter(Counter::Errors), 0, "{name}: customer-side errors");
    let logged_out = r
        .op(OpName::Session(gwsim::vocab::SessionOp::EndContactCenterSession))
        .map_or(0, |s| s.ok.measured);
    assert_eq!(logged_out as usize, o.agents_total, "{name}: not every agent logged out");
}

fn ops(done: &Executed, op: gwsim::gws::Capability) -> u64 {
    done.outcome.recorder.op(OpName::Flow(op)).map_or(0, |s| s.ok.measured + s.ok.warmup)
}

#[tokio::test]
async fn consult_remove_leave_over_websocket() {
    let s = brief("consult-remove-leave", Duration::from_secs(4));
    let done = run(s).await;
    assert_healthy("consult-remove-leave", &done);
    use gwsim::gws::Capability as C;
    for op in [C::Accept, C::Consult, C::RemoveParticipantFromConference, C::Leave, C::Complete] {
        assert!(ops(&done, op) > 0, "no {op} happened");
    }
    // Removals settle at the removed agent: the cross-agent measurement was made.
    let remove = done
        .outcome
        .recorder
        .op(OpName::Flow(C::RemoveParticipantFromConference))
        .expect("removals");
    assert!(remove.settle.is_some(), "RemoveParticipantFromConference.settle was never recorded");
    // The summary is what CI reads: it serializes with its schema tag.
    let json = gwsim::report::to_json(&done.report).expect("summary serializes");
    assert!(
        json.contains(r#""schema": "gwsim.summary/1""#)
            || json.contains(r#""schema":"gwsim.summary/1""#)
    );
}

#[tokio::test]
async fn consult_remove_leave_over_long_polling() {
    let s = brief_with(
        "consult-remove-leave",
        Overrides {
            duration: Some(Duration::from_secs(4)),
            transport: Some(gwsim::vocab::Transport::LongPolling),
            ..Overrides::default()
        },
    );
    let done = run(s).await;
    assert_healthy("consult-remove-leave (long-polling)", &done);
    assert!(ops(&done, gwsim::gws::Capability::RemoveParticipantFromConference) > 0);
}

#[tokio::test]
async fn facebook_consult() {
    let done = run(brief("facebook-consult", Duration::from_secs(4))).await;
    assert_healthy("facebook-consult", &done);
    assert!(ops(&done, gwsim::gws::Capability::Accept) > 0);
}

#[tokio::test]
async fn transfer_and_conference() {
    let done = run(brief("transfer-and-conference", Duration::from_secs(4))).await;
    assert_healthy("transfer-and-conference", &done);
}

#[tokio::test]
async fn customer_surge() {
    let done = run(brief("customer-surge", Duration::from_secs(4))).await;
    assert_healthy("customer-surge", &done);
}

#[tokio::test]
async fn soak() {
    let done = run(brief("soak", Duration::from_secs(3))).await;
    assert_healthy("soak", &done);
}

#[tokio::test]
async fn closed_concurrency() {
    let done = run(brief("closed-concurrency", Duration::from_secs(3))).await;
    assert_healthy("closed-concurrency", &done);
}

#[tokio::test]
async fn capacity_scenario() {
    // As `gwsim run` runs it; `gwsim capacity` on it is tests/integration/capacity.rs's business.
    let done = run(brief("capacity", Duration::from_secs(3))).await;
    assert_healthy("capacity", &done);
}

/// The remote example behind the fault proxy, as its header runs it: a reference server of its
/// own (here in-process on port 0, standing for `gwsim serve --users-from`), the scenario pointed
/// at it with a password file, the proxy started by the run. The proxy's latency is in the
/// ledger and the run's fault section; every agent logged in through it.
#[tokio::test]
async fn chaos_remote_proxy_scenario() {
    let password = "remote-proxy-test";
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("password");
    std::fs::write(&file, password).expect("password file");
    let config = ServerConfig::default();
    let contact_center_id = config.contact_center_id.clone();
    let probe = brief("chaos-remote-proxy", Duration::from_secs(4));
    let users: Vec<(NewUser, Password)> = probe
        .agents
        .iter()
        .flat_map(|p| p.usernames())
        .map(|username| {
            let user = NewUser {
                username,
                first_name: "Proxied".into(),
                last_name: String::new(),
                queues: vec!["default".into()],
            };
            (user, Password::new(password))
        })
        .collect();
    let users = UserTable::new(&["default".to_string()], users).expect("users");
    let running =
        server::start(SocketAddr::from(([127, 0, 0, 1], 0)), config, users).await.expect("server");
    let server_url = running.base_url();
    let s = brief_with(
        "chaos-remote-proxy",
        Overrides {
            duration: Some(Duration::from_secs(4)),
            target: Some(scenario::TargetOverride {
                base_url: server_url.clone(),
                allow_remote: false,
                contact_center_id: Some(contact_center_id),
                accept_invalid_certs: false,
            }),
            password: Some(scenario::PasswordSource::File(file)),
            ..Overrides::default()
        },
    );
    assert!(s.proxy.is_some());
    let done = run(s).await;
    running.stop().await.expect("server stops");
    let o = &done.outcome;
    assert_eq!(o.agents_logged_in, o.agents_total, "every agent logged in through the proxy");
    assert!(done.report.counts.flows_completed > 0, "{}", gwsim::report::render(&done.report));
    assert_ne!(done.report.target.base_url, server_url, "the simulator talked to the proxy");
    let f = done.report.faults.as_ref().expect("the proxy's fault section");
    let latency = f.kind(gwsim::faults::FaultKind::ProxyLatency).expect("proxy-latency");
    assert!(latency.records > 0 && latency.recall.is_none(), "{latency:?}");
}

#[tokio::test]
async fn chaos_notifications_scenario() {
    // Shortened: its recall and precision thresholds still hold, every kind having fired.
    let done = run(brief("chaos-notifications", Duration::from_secs(12))).await;
    let f = done.report.faults.as_ref().expect("a fault section");
    assert!(f.injected > 0);
    assert_eq!(
        done.report.exit.code,
        0,
        "{:?}\n{}",
        done.report.exit.reasons,
        gwsim::report::render(&done.report)
    );
}

#[tokio::test]
async fn chaos_stall_scenario() {
    // Long enough for the stall (from 10 s, for 5 s) to be inside the load phase.
    let done = run(brief("chaos-stall", Duration::from_secs(16))).await;
    let f = done.report.faults.as_ref().expect("a fault section");
    assert!(f.kind(gwsim::faults::FaultKind::Stall).is_some_and(|k| k.records == 1), "one window");
    assert_eq!(done.report.violations.total, 0, "timing faults break no order");
    assert_eq!(
        done.report.exit.code,
        0,
        "{:?}\n{}",
        done.report.exit.reasons,
        gwsim::report::render(&done.report)
    );
}

#[test]
fn every_shipped_scenario_is_run_above() {
    let this = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/integration/end_to_end.rs"),
    )
    .expect("this file");
    for entry in std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios"))
        .expect("scenarios/")
    {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|e| e == "toml") {
            let stem = path.file_stem().and_then(|s| s.to_str()).expect("name").to_string();
            assert!(
                this.contains(&format!("\"{stem}\"")),
                "scenarios/{stem}.toml is not run by a test"
            );
        }
    }
}

/// Swaps each CometD session's 4th data message with its 5th (the first two notifications of
/// an agent's first Accept), and counts the swaps that completed.
#[derive(Debug, Default)]
struct SwapFourth {
    seen: Mutex<HashMap<String, u32>>,
    swaps: AtomicU64,
}

impl FaultInjector for SwapFourth {
    fn on_publish(&self, client_id: &str, _channel: &str) -> PublishFault {
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        let n = seen.entry(client_id.to_string()).or_insert(0);
        *n += 1;
        match *n {
            4 => PublishFault::SwapWithNext,
            5 => {
                self.swaps.fetch_add(1, Ordering::SeqCst);
                PublishFault::Deliver
            }
            _ => PublishFault::Deliver,
        }
    }
}

const MISORDER: &str = r#"
name = "misorder"
[target]
kind = "embedded"
transport = "websocket"
media = "chat"
[run]
duration = "3s"
drain = "15s"
seed = 7
[[agents]]
name = "frontline"
count = 1
flow = "front"
readiness = "ready"
[[agents]]
name = "specialist"
count = 1
consult_flow = "answer"
readiness = "not-ready"
[customers]
arrival = { rate = "1/s", spacing = "constant" }
messages = { count = "1..1", think = "100ms", text = "hello" }
[flows.front]
steps = [
  { op = "Accept" },
  { op = "Consult", target = "agents:specialist" },
  { await = "consultant-joined", timeout = "5s" },
  { op = "RemoveParticipantFromConference", target = "consultant" },
  { op = "Leave" },
  { op = "Complete" },
]
[flows.answer]
steps = [ { op = "Accept" }, { await = "removed", timeout = "10s" } ]
"#;

#[tokio::test]
async fn a_misordering_server_has_each_misordering_reported() {
    let s = scenario::parse("misorder.toml", MISORDER, &Overrides::default())
        .unwrap_or_else(|d| panic!("{d}"));
    let password = "misorder-test";
    let users: Vec<(NewUser, Password)> = s
        .agents
        .iter()
        .flat_map(|p| p.usernames().map(move |u| (u, p.name.clone())))
        .map(|(username, pop)| {
            let user = NewUser {
                username,
                first_name: pop,
                last_name: String::new(),
                queues: vec!["default".into()],
            };
            (user, Password::new(password))
        })
        .collect();
    let users = UserTable::new(&["default".to_string()], users).expect("users");
    let faults = Arc::new(SwapFourth::default());
    let mut config = ServerConfig::default();
    let addr = "127.0.0.1:0".parse().expect("address");
    let running =
        server::start_with_faults(addr, &mut config, users, faults.clone()).await.expect("server");
    // As against a remote GWS: the documented profile.
    let target = ResolvedTarget {
        kind: TargetType::Remote,
        base_url: running.base_url(),
        transport: Transport::Websocket,
        media: Media::Chat,
        profile: Profile::Documented,
        customer_api: true,
        accept_invalid_certs: false,
        contact_center_id: Some(config.contact_center_id.clone()),
    };
    let options = RunOptions {
        poll_interval: Duration::from_millis(200),
        login_concurrency: 4,
        ..RunOptions::default()
    };
    let passwords = vec![Secret::new(password); s.agents.len()];
    let plan = RunPlan::new(Arc::new(s), target, passwords, options).expect("plan");
    let outcome = engine::run(plan, CancellationToken::new()).await.expect("run");
    running.stop().await.expect("server stops");
    let swaps = faults.swaps.load(Ordering::SeqCst);
    let r = &outcome.recorder;
    let found: Vec<String> = r.first_violations().iter().map(|v| v.to_string()).collect();
    assert_eq!(swaps, 2, "both agents' first Accept sequences were swapped");
    assert_eq!(
        r.violations_of(ViolationKind::OutOfOrder),
        swaps,
        "each swap is one out-of-order violation: {found:#?}"
    );
    assert_eq!(r.counter(Counter::Violations), swaps, "and nothing else is reported: {found:#?}");
}

#[tokio::test]
async fn chaos_disconnects_scenario() {
    // Cut to its first crashes (10 s in): the crashed agents come back during the drain, take up
    // their chats, and nothing is misordered.
    let done = run(brief("chaos-disconnects", Duration::from_secs(12))).await;
    let o = &done.outcome;
    assert!(!o.partial, "chaos-disconnects: partial");
    let violations: Vec<String> =
        o.recorder.first_violations().iter().map(|v| v.to_string()).collect();
    assert_eq!(o.recorder.counter(Counter::Violations), 0, "violations: {violations:#?}");
    let f = done.report.faults.as_ref().expect("a faults section");
    let crashes = f.kind(gwsim::faults::FaultKind::AgentCrash).map_or(0, |k| k.records);
    let recoveries = f.kind(gwsim::faults::FaultKind::AgentRecover).map_or(0, |k| k.records);
    assert!(crashes > 0 && recoveries == crashes, "{crashes} crashes, {recoveries} recoveries");
}
