//! Client CPU per flow and per notification: the consult-remove-leave flow of
//! `../shared/peers/` (the one `measure.sh` compares with k6 and Locust) run by the engine in
//! this process against a `gwsim serve` child, so the server's CPU is not counted.
//!
//! Run with `cargo bench --bench flow_cost` (optionally `-- AGENTS RATE SECONDS`; default 50
//! agents, 10 customers/s, 20 s). Like `measure.sh` it makes two runs, idle (agents logged in, no
//! customers) and loaded, and reports the *marginal* CPU: (loaded − idle) / completed flows, and
//! the same per notification the server queued (read from its `/metrics`). CPU is this
//! process's user + system time from `/proc/self/stat`, and each apart (system time is the
//! kernel's loopback TCP, which gwsim's code cannot shrink). Not a criterion benchmark: one run per
//! load is the measurement, and it is about the cost of a whole flow, not of a function.

// A benchmark reports its figures on stdout.
#![allow(clippy::print_stdout)]

mod support;

use std::sync::Arc;

use gwsim::engine;
use gwsim::gws::Capability;
use gwsim::run_plan::{RunOptions, RunPlan};
use gwsim::scenario::{self, Secret};
use gwsim::vocab::{Counter, OpName};
use support::{PASSWORD, Server, cpu_split, usage};
use tokio_util::sync::CancellationToken;

/// The peers' flow (run_peer.sh writes the same for gwsim): frontline agents accept, message,
/// consult a specialist, wait for the join, message the agents, remove the consultant, leave
/// and complete; specialists (not ready) accept and wait for their removal. `rate` 0 is the
/// idle run: no customers.
fn scenario_text(agents: u32, rate: u32, duration_s: u32) -> String {
    let specialists = (agents / 5).max(1);
    let frontline = agents.saturating_sub(specialists).max(1);
    let customers = if rate > 0 {
        format!(
            "[customers]\narrival = {{ rate = \"{rate}/s\", spacing = \"constant\" }}\n\
             max_active = 1000000\nmessages = {{ count = 0 }}\n"
        )
    } else {
        String::new()
    };
    format!(
        r#"
name = "bench-flow-cost"
[target]
kind = "embedded"
transport = "websocket"
media = "chat"
[run]
duration = "{duration_s}s"
drain = "15s"
seed = 1
[[agents]]
name = "frontline"
count = {frontline}
username = "agent-{{n}}"
flow = "frontline"
[[agents]]
name = "specialist"
count = {specialists}
username = "agent-{{n}}"
first = {first}
flow = "answer"
readiness = "not-ready"
{customers}
[flows.frontline]
steps = [ {{ op = "Accept" }}, {{ op = "SendMessage", text = "Hello" }}, {{ op = "Consult", target = "agents:specialist" }},
  {{ await = "consultant-joined", timeout = "15s" }}, {{ op = "SendToAgents", text = "Can you check this?" }},
  {{ op = "RemoveParticipantFromConference", target = "consultant" }}, {{ op = "Leave" }}, {{ op = "Complete" }} ]
[flows.answer]
steps = [ {{ op = "Accept" }}, {{ await = "removed", timeout = "60s" }} ]
"#,
        first = frontline + 1
    )
}

/// A `gwsim serve` with `agents` demo users and its Prometheus endpoint; returns it and the
/// metrics URL.
async fn start_server(agents: u32) -> (Server, String) {
    let metrics_port = support::free_port();
    let prometheus = format!("127.0.0.1:{metrics_port}");
    let server =
        Server::start(agents, &["--prometheus", &prometheus, "--agent-capacity", "5"]).await;
    (server, format!("http://{prometheus}/metrics"))
}

/// The server's count of notifications queued so far (0 if its endpoint does not answer).
async fn notifications(metrics_url: &str) -> f64 {
    let Ok(resp) = reqwest::get(metrics_url).await else { return 0.0 };
    let text = resp.text().await.unwrap_or_default();
    text.lines()
        .filter(|l| l.starts_with("gwsim_server_notifications"))
        .filter_map(|l| l.rsplit(' ').next().and_then(|v| v.parse::<f64>().ok()))
        .sum()
}

/// One run's figures.
struct Run {
    /// Client CPU seconds in its own code and in the kernel.
    user: f64,
    system: f64,
    flows: u64,
    /// Notifications the server queued.
    notifications: f64,
}

async fn run_once(agents: u32, rate: u32, duration_s: u32) -> Run {
    let text = scenario_text(agents, rate, duration_s);
    let scenario = scenario::parse("bench-flow-cost.toml", &text, &Default::default())
        .unwrap_or_else(|d| panic!("{d}"));
    let (server, metrics_url) = start_server(agents).await;
    let target = server.target(&scenario);
    let passwords = vec![Secret::new(PASSWORD); scenario.agents.len()];
    let plan =
        RunPlan::new(Arc::new(scenario), target, passwords, RunOptions::default()).expect("plan");
    let n0 = notifications(&metrics_url).await;
    let (cpu0, server0) = (cpu_split("self"), usage(&server.pid()).0);
    let outcome = engine::run(plan, CancellationToken::new()).await.expect("run");
    let (cpu1, server1) = (cpu_split("self"), usage(&server.pid()).0);
    let n1 = notifications(&metrics_url).await;
    drop(server);
    let r = &outcome.recorder;
    let flows = r.op(OpName::Flow(Capability::Complete)).map_or(0, |s| s.ok.measured + s.ok.warmup);
    let (errors, violations) = (r.counter(Counter::Errors), r.counter(Counter::Violations));
    let (user, system) = (cpu1.0 - cpu0.0, cpu1.1 - cpu0.1);
    println!(
        "  rate={rate}/s: client CPU {user:.2} s user + {system:.2} s system (server {:.2} s), flows {flows}, notifications {:.0}, errors {errors}, violations {violations}",
        server1 - server0,
        n1 - n0
    );
    Run { user, system, flows, notifications: n1 - n0 }
}

fn main() {
    // `cargo bench` passes `--bench`; bare numbers are AGENTS RATE SECONDS.
    let args: Vec<u32> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let arg = |i: usize, default: u32| args.get(i).copied().unwrap_or(default);
    let (agents, rate, seconds) = (arg(0, 50), arg(1, 10).max(1), arg(2, 20));
    // One thread, as `gwsim run` has by default (`--threads`).
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    println!("flow_cost: {agents} agents, {rate} customers/s, {seconds} s, websocket");
    let idle = rt.block_on(run_once(agents, 0, seconds));
    let load = rt.block_on(run_once(agents, rate, seconds));
    let flows = load.flows;
    let (user, system) = (load.user - idle.user, load.system - idle.system);
    let per_flow_ms = |s: f64| if flows > 0 { s * 1e3 / flows as f64 } else { f64::NAN };
    let notes = load.notifications - idle.notifications;
    let per_note_us = if notes > 0.0 { (user + system) * 1e6 / notes } else { f64::NAN };
    // The system part is the loopback TCP of the flow's requests and notifications (and the
    // server's side of each send): the floor no change in gwsim's own code moves.
    println!(
        "flow_cost: marginal client CPU {:.3} ms per flow ({:.3} user + {:.3} system), {per_note_us:.1} us per notification \
         ({flows} flows, {notes:.0} notifications, {:.1} notifications per flow)",
        per_flow_ms(user + system),
        per_flow_ms(user),
        per_flow_ms(system),
        if flows > 0 { notes / flows as f64 } else { f64::NAN }
    );
}
