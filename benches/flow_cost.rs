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

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use gwsim::engine;
use gwsim::gws::Capability;
use gwsim::ordering::Profile;
use gwsim::run_plan::{ResolvedTarget, RunOptions, RunPlan, TargetType};
use gwsim::scenario::{self, Secret};
use gwsim::vocab::{Counter, OpName};
use tokio_util::sync::CancellationToken;

const PASSWORD: &str = "bench-password";
const CONTACT_CENTER_ID: &str = "5f3a2e9c-1b7d-4c5e-8f00-9a6b1c2d3e4f";

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

/// CPU seconds (user + system) of a process, from /proc.
fn cpu_s(pid: &str) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which is in parentheses and may contain spaces).
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok()).unwrap_or(0.0);
    // utime and stime are fields 14 and 15 of the whole line: 11 and 12 after the name.
    (ticks(11) + ticks(12)) / 100.0
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        // Only the child this benchmark started, by its pid.
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_or(18190, |a| a.port())
}

/// A `gwsim serve` with `agents` demo users and its Prometheus endpoint; returns the base URL
/// and the metrics URL.
async fn start_server(agents: u32) -> (Server, String, String) {
    let (port, metrics_port) = (free_port(), free_port());
    let server = Server(
        Command::new(env!("CARGO_BIN_EXE_gwsim"))
            .args(["serve", "--demo-users", &agents.to_string()])
            .args(["--bind", &format!("127.0.0.1:{port}")])
            .args(["--prometheus", &format!("127.0.0.1:{metrics_port}")])
            .args(["--agent-capacity", "5"])
            .env("GWSIM_DEMO_PASSWORD", PASSWORD)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("gwsim serve starts"),
    );
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    for _ in 0..100 {
        if client.get(format!("{base}/api/v2/diagnostics/version")).send().await.is_ok() {
            return (server, base, format!("http://127.0.0.1:{metrics_port}/metrics"));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("gwsim serve did not answer on {base}");
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
    let (server, base_url, metrics_url) = start_server(agents).await;
    let target = ResolvedTarget {
        kind: TargetType::Remote,
        base_url,
        transport: scenario.target.transport,
        media: scenario.target.media,
        profile: Profile::Strict,
        customer_api: true,
        accept_invalid_certs: false,
        contact_center_id: Some(CONTACT_CENTER_ID.into()),
    };
    let passwords = vec![Secret::new(PASSWORD); scenario.agents.len()];
    let plan =
        RunPlan::new(Arc::new(scenario), target, passwords, RunOptions::default()).expect("plan");
    let n0 = notifications(&metrics_url).await;
    let cpu0 = cpu_s("self");
    let outcome = engine::run(plan, CancellationToken::new()).await.expect("run");
    let cpu1 = cpu_s("self");
    let n1 = notifications(&metrics_url).await;
    drop(server);
    let r = &outcome.recorder;
    let flows = r.op(OpName::Flow(Capability::Complete)).map_or(0, |s| s.ok.measured + s.ok.warmup);
    let (errors, violations) = (r.counter(Counter::Errors), r.counter(Counter::Violations));
    println!(
        "  rate={rate}/s: client CPU {:.2} s, flows {flows}, notifications {:.0}, errors {errors}, violations {violations}",
        cpu1 - cpu0,
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
