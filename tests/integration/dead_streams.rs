//! Issue 9 end to end: a server whose CometD connects all fail after each session's first keeps
//! the agents from hearing of any chat. The run counts every failure by kind, ends on time, and
//! fails (exit 1) saying the agents served nothing, in its reasons and its JUnit case.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use gwsim::cometd::client::Transport;
use gwsim::engine;
use gwsim::gws::Media;
use gwsim::ordering::Profile;
use gwsim::report::{ExitStatus, Report, RunInfo};
use gwsim::run_plan::{ResolvedTarget, RunOptions, RunPlan, TargetType};
use gwsim::scenario::{self, Overrides, Secret};
use gwsim::server::faults::{ConnectFault, ConnectInfo, FaultInjector};
use gwsim::server::state::NewUser;
use gwsim::server::users::{Password, UserTable};
use gwsim::server::{self, ServerConfig};
use gwsim::vocab::{OpName, STREAM_DOWN_AT_END, SessionOp};
use tokio_util::sync::CancellationToken;

/// Lets each CometD session's first connect through and fails every later one.
#[derive(Debug, Default)]
struct FailAfterFirst {
    seen: Mutex<HashMap<String, u32>>,
}

impl FaultInjector for FailAfterFirst {
    fn on_connect(&self, connect: &ConnectInfo<'_>) -> ConnectFault {
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        let n = seen.entry(connect.client_id.to_owned()).or_insert(0);
        *n += 1;
        if *n == 1 { ConnectFault::Proceed } else { ConnectFault::Disconnect }
    }
}

const SCENARIO: &str = r#"
name = "dead-streams"
[target]
kind = "embedded"
transport = "long-polling"
media = "chat"
[run]
duration = "3s"
drain = "2s"
seed = 9
[[agents]]
name = "frontline"
count = 2
flow = "front"
readiness = "ready"
[customers]
arrival = { rate = "2/s", spacing = "constant" }
messages = { count = "1..1", think = "100ms", text = "hello" }
[flows.front]
steps = [ { op = "Accept" }, { op = "Complete" } ]
"#;

#[tokio::test]
async fn a_run_whose_streams_all_fail_counts_them_and_fails() {
    let s = scenario::parse("dead-streams.toml", SCENARIO, &Overrides::default())
        .unwrap_or_else(|d| panic!("{d}"));
    let password = "dead-streams-test";
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
    let mut config = ServerConfig::default();
    let addr = "127.0.0.1:0".parse().expect("address");
    let running =
        server::start_with_faults(addr, &mut config, users, Arc::new(FailAfterFirst::default()))
            .await
            .expect("server");
    let target = ResolvedTarget {
        kind: TargetType::Remote,
        base_url: running.base_url(),
        transport: Transport::LongPolling,
        media: Media::Chat,
        profile: Profile::Documented,
        customer_api: true,
        accept_invalid_certs: false,
        contact_center_id: Some(config.contact_center_id.clone()),
    };
    let options = RunOptions { poll_interval: Duration::from_millis(200), ..RunOptions::default() };
    let passwords = vec![Secret::new(password); s.agents.len()];
    let scenario = Arc::new(s);
    let plan = RunPlan::new(Arc::clone(&scenario), target.clone(), passwords, options.clone())
        .expect("plan");
    let started = time::OffsetDateTime::now_utc();
    // Bounded: the run ends on its own schedule; the limit only turns a hang into a failure.
    let outcome =
        tokio::time::timeout(Duration::from_secs(120), engine::run(plan, CancellationToken::new()))
            .await
            .expect("the run ends instead of hanging")
            .expect("run");
    running.stop().await.expect("server stops");

    let notifications =
        outcome.recorder.op(OpName::Session(SessionOp::Notifications)).expect("stream errors");
    let kinds: HashMap<&str, u64> =
        notifications.error_kinds.iter().map(|(k, n)| (&**k, n.measured + n.warmup)).collect();
    // Every failed connect is counted by its kind, and each agent's stream was still down.
    assert!(kinds.get("connect-refused").copied().unwrap_or(0) >= 2, "{kinds:?}");
    assert_eq!(kinds.get(STREAM_DOWN_AT_END).copied(), Some(2), "{kinds:?}");

    let info = RunInfo {
        scenario: (*scenario).clone(),
        target,
        options,
        started,
        ended: time::OffsetDateTime::now_utc(),
        elapsed: outcome.elapsed,
        partial: outcome.partial,
        start: None,
        window: outcome.window.clone(),
        phases: None,
    };
    let report = Report::build(info, &outcome.recorder);
    assert_eq!((report.exit.code, report.exit.status), (1, ExitStatus::ChecksFailed));
    assert!(
        report.exit.reasons.iter().any(|r| r.starts_with("agents served nothing: every agent's")
            && r.contains("connect-refused")),
        "{:?}",
        report.exit.reasons
    );
    let junit = gwsim::report::junit::junit_xml(&report);
    assert!(junit.contains(r#"name="agents served""#), "{junit}");
}
