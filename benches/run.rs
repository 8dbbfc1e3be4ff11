//! End-to-end benchmark of `gwsim run`: the consult-remove-leave flow at 1,000 and 10,000
//! agents against a `gwsim serve` child process on loopback, printing flows/s, operations/s, CPU
//! per operation and memory per agent, for the simulator and the server separately.
//!
//! Run with `cargo bench --bench run` (optionally `-- 1000` for one size). Not a criterion
//! benchmark: one run per size is the measurement, and it takes about a minute per size.

// A benchmark reports its figures on stdout.
#![allow(clippy::print_stdout)]

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use gwsim::engine;
use gwsim::gws::Capability;
use gwsim::run_plan::{RunOptions, RunPlan};
use gwsim::scenario::{self, Secret};
use gwsim::vocab::{Counter, OpName};
use support::{PASSWORD, Server, usage};
use tokio_util::sync::CancellationToken;

/// The consult-remove-leave flow with no think times: the load is as fast as the system allows.
fn scenario_text(agents: u32, customers: u32, duration_s: u32) -> String {
    let specialists = (agents / 5).max(1);
    let frontline = agents - specialists;
    format!(
        r#"
name = "bench-run"
[target]
kind = "embedded"
transport = "websocket"
media = "chat"
[run]
duration = "{duration_s}s"
warmup = "3s"
drain = "10s"
seed = 1
[[agents]]
name = "frontline"
count = {frontline}
username = "agent-{{n}}"
flow = "front"
[[agents]]
name = "specialist"
count = {specialists}
username = "agent-{{n}}"
first = {first}
consult_flow = "answer"
readiness = "not-ready"
[customers]
arrival = {{ concurrency = {customers} }}
messages = {{ count = "1..1", think = "10ms", text = "Where is my order?" }}
[flows.front]
steps = [
  {{ op = "Accept" }},
  {{ op = "SendMessage", text = "Hello." }},
  {{ op = "Consult", target = "agents:specialist" }},
  {{ await = "consultant-joined", timeout = "10s" }},
  {{ op = "SendToAgents", text = "Can you check?" }},
  {{ await = "agent-message", timeout = "10s" }},
  {{ op = "RemoveParticipantFromConference", target = "consultant" }},
  {{ op = "Leave" }},
  {{ op = "SetDisposition", disposition = "Resolved" }},
  {{ op = "Complete" }},
]
[flows.answer]
steps = [ {{ op = "Accept" }}, {{ op = "SendToAgents", text = "Yes." }}, {{ await = "removed", timeout = "30s" }} ]
"#,
        first = frontline + 1
    )
}

async fn measure(agents: u32) {
    let customers = (agents / 4).clamp(50, 1_000);
    let duration_s = 30;
    let text = scenario_text(agents, customers, duration_s);
    let scenario = scenario::parse("bench-run.toml", &text, &Default::default())
        .unwrap_or_else(|d| panic!("{d}"));
    let server = Server::start(agents, &["--agent-capacity", "1", "--max-interval", "30s"]).await;
    let server_pid = server.pid();
    let target = server.target(&scenario);
    let options = RunOptions { poll_interval: Duration::from_secs(1), ..RunOptions::default() };
    let passwords = vec![Secret::new(PASSWORD); scenario.agents.len()];
    let plan = RunPlan::new(Arc::new(scenario), target, passwords, options).expect("plan");
    let (cpu0, rss0) = usage("self");
    let (scpu0, srss0) = usage(&server_pid);
    let started = Instant::now();
    let outcome = engine::run(plan, CancellationToken::new()).await.expect("run");
    let wall = started.elapsed().as_secs_f64();
    let (cpu1, rss1) = usage("self");
    let (scpu1, srss1) = usage(&server_pid);
    drop(server);
    let r = &outcome.recorder;
    let flows = r.op(OpName::Flow(Capability::Complete)).map_or(0, |s| s.ok.measured + s.ok.warmup);
    let ops = r
        .ops()
        .map(|(_, s)| s.ok.measured + s.ok.warmup + s.errors.measured + s.errors.warmup)
        .sum::<u64>();
    let errors = r.counter(Counter::Errors);
    let violations = r.counter(Counter::Violations);
    let per = |cpu: f64| if ops > 0 { cpu * 1e6 / ops as f64 } else { 0.0 };
    let kib = |a: u64, b: u64| (b.saturating_sub(a)) as f64 / f64::from(agents);
    println!(
        "agents={agents} customers={customers} logged_in={} wall={wall:.1}s flows={flows} flows/s={:.1} ops={ops} ops/s={:.0} \
         errors={errors} violations={violations}",
        outcome.agents_logged_in,
        flows as f64 / wall,
        ops as f64 / wall,
    );
    println!(
        "  simulator: CPU {:.1}s = {:.0} us/op, RSS {} MiB = {:.1} KiB/agent | server: CPU {:.1}s = {:.0} us/op, RSS {} MiB = {:.1} KiB/agent",
        cpu1 - cpu0,
        per(cpu1 - cpu0),
        rss1 / 1024,
        kib(rss0, rss1),
        scpu1 - scpu0,
        per(scpu1 - scpu0),
        srss1 / 1024,
        kib(srss0.min(srss1), srss1),
    );
    let kinds: Vec<String> = r
        .ops()
        .flat_map(|(op, s)| {
            s.error_kinds.iter().map(move |(k, n)| format!("{op}:{k}={}", n.measured + n.warmup))
        })
        .collect();
    if !kinds.is_empty() {
        println!("  errors by kind: {}", kinds.join(" "));
    }
    if violations > 0 {
        use gwsim::ordering::ViolationKind as K;
        let kinds = [
            K::Missing,
            K::OutOfOrder,
            K::Unexpected,
            K::Duplicate,
            K::IndexRegression,
            K::VisibilityLeak,
        ];
        let by: Vec<String> =
            kinds.iter().map(|k| format!("{}={}", k.as_str(), r.violations_of(*k))).collect();
        println!("  violations by kind: {}", by.join(" "));
        for v in r.first_violations().iter().take(3) {
            println!("  first: {v}");
        }
    }
    let accept = r
        .op(OpName::Flow(Capability::Accept))
        .and_then(|s| s.response.as_ref())
        .and_then(|t| t.latency.corrected().summary());
    if let Some(s) = accept {
        println!("  Accept.response p50 {} us, p99 {} us", s.p50, s.p99);
    }
}

fn main() {
    // `cargo bench` passes `--bench`; a bare number selects one size.
    let sizes: Vec<u32> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let sizes = if sizes.is_empty() { vec![1_000, 10_000] } else { sizes };
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    for n in sizes {
        rt.block_on(measure(n));
    }
}
