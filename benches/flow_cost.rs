//! Client CPU per flow and per notification: the consult-remove-leave flow of
//! `../shared/peers/` (the one `measure.sh` compares with k6 and Locust) run by the engine in
//! this process against a `gwsim serve` child, so the server's CPU is not counted.
//!
//! Run with `cargo bench --bench flow_cost` (optionally `-- AGENTS RATE SECONDS`; default 50
//! agents, 10 customers/s, 20 s). Like `measure.sh` it makes two runs, idle (agents logged in, no
//! customers) and loaded, and reports the *marginal* CPU: (loaded − idle) / completed flows, and
//! the same per notification the server queued (read from its `/metrics`). CPU is this
//! process's user + system time from `/proc/self/stat`. Not a criterion benchmark: one run per
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
use support::{PASSWORD, Server, usage};
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

/// One run: (client CPU seconds, completed flows, notifications the server queued).
async fn run_once(agents: u32, rate: u32, duration_s: u32) -> (f64, u64, f64) {
    let text = scenario_text(agents, rate, duration_s);
    let scenario = scenario::parse("bench-flow-cost.toml", &text, &Default::default())
        .unwrap_or_else(|d| panic!("{d}"));
    let (server, metrics_url) = start_server(agents).await;
    let target = server.target(&scenario);
    let passwords = vec![Secret::new(PASSWORD); scenario.agents.len()];
    let plan =
        RunPlan::new(Arc::new(scenario), target, passwords, RunOptions::default()).expect("plan");
    let n0 = notifications(&metrics_url).await;
    let (cpu0, server0) = (usage("self").0, usage(&server.pid()).0);
    let outcome = engine::run(plan, CancellationToken::new()).await.expect("run");
    let (cpu1, server1) = (usage("self").0, usage(&server.pid()).0);
    let n1 = notifications(&metrics_url).await;
    drop(server);
    let r = &outcome.recorder;
    let flows = r.op(OpName::Flow(Capability::Complete)).map_or(0, |s| s.ok.measured + s.ok.warmup);
    let (errors, violations) = (r.counter(Counter::Errors), r.counter(Counter::Violations));
    println!(
        "  rate={rate}/s: client CPU {:.2} s (server {:.2} s), flows {flows}, notifications {:.0}, errors {errors}, violations {violations}",
        cpu1 - cpu0,
        server1 - server0,
        n1 - n0
    );
    (cpu1 - cpu0, flows, n1 - n0)
}

fn main() {
    // `cargo bench` passes `--bench`; bare numbers are AGENTS RATE SECONDS.
    let args: Vec<u32> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let arg = |i: usize, default: u32| args.get(i).copied().unwrap_or(default);
    let (agents, rate, seconds) = (arg(0, 50), arg(1, 10).max(1), arg(2, 20));
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    println!("flow_cost: {agents} agents, {rate} customers/s, {seconds} s, websocket");
    let (idle_cpu, _, idle_n) = rt.block_on(run_once(agents, 0, seconds));
    let (cpu, flows, n) = rt.block_on(run_once(agents, rate, seconds));
    let marginal = cpu - idle_cpu;
    let per_flow_ms = if flows > 0 { marginal * 1e3 / flows as f64 } else { f64::NAN };
    let notes = n - idle_n;
    let per_note_us = if notes > 0.0 { marginal * 1e6 / notes } else { f64::NAN };
    println!(
        "flow_cost: marginal client CPU {per_flow_ms:.3} ms per flow, {per_note_us:.1} us per notification \
         ({flows} flows, {notes:.0} notifications, {:.1} notifications per flow)",
        if flows > 0 { notes / flows as f64 } else { f64::NAN }
    );
}
