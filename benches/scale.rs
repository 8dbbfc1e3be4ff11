//! Scale probe (`cargo bench --bench scale [-- N ...]`, default N = 1000 then 10000): logs N agents
//! into an embedded server in this process, each over websocket as GWS clients do, and prints
//! login throughput, CPU, RSS growth per logged-in agent, and the SendMessage→notification round
//! trip of one more agent while the N sit idle-connected. Not criterion: a login wave cannot be
//! repeated thousands of times, and the questions are "how much" and "does it stay responsive".
//!
//! With the server in this process every websocket costs two descriptors here. When the
//! open-files limit cannot be raised far enough (a container's hard limit), the server half runs
//! in a child process (this same binary, `--serve-child`), so each side needs one descriptor per
//! agent; RSS and CPU are then the sum of both processes.

#![allow(clippy::print_stdout, reason = "printing the figures is what this probe is for")]

#[path = "benchmarks/agent.rs"]
mod agent;

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use futures_util::stream::{self, StreamExt};
use gwsim::app::os::raise_open_files;
use gwsim::cometd::client::Transport;
use hdrhistogram::Histogram;

use agent::{Agent, BenchServer};

/// Logins in flight at once: enough to keep both cores busy, few enough that the HTTP pool
/// stays small next to the N websockets.
const CONCURRENT_LOGINS: usize = 128;
/// Round trips measured with nobody logged in but the prober, then with the N idle.
const SAMPLES: u32 = 2_000;
/// File descriptors beyond two sockets per agent (pool, listener, runtime, stdio).
const SPARE_FDS: u64 = 4_096;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    // `cargo bench` passes `--bench` (and criterion-style flags) along; only numbers are sizes.
    let sizes: Vec<u32> = args.iter().filter_map(|a| a.parse().ok()).collect();
    if args.iter().any(|a| a == "--serve-child") {
        serve_child(sizes.first().copied().unwrap_or(1));
        return;
    }
    let sizes = if sizes.is_empty() { vec![1_000, 10_000] } else { sizes };
    let largest = sizes.iter().copied().max().unwrap_or(0);
    // Both ends of every websocket live in this process: two descriptors per agent.
    let limit = raise_open_files(2 * u64::from(largest) + SPARE_FDS);
    let ports = ephemeral_ports();
    println!("open-files limit {limit}, ephemeral ports {ports}");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    for n in sizes {
        // One address: every client socket takes an ephemeral port (design.md: ~28k at most).
        if u64::from(n) + 1_000 > ports {
            println!("agents {n}: skipped: needs {} ephemeral ports, have {ports}", n + 1_000);
            continue;
        }
        if 2 * u64::from(n) + SPARE_FDS <= limit {
            rt.block_on(probe(n, None));
        } else if u64::from(n) + SPARE_FDS <= limit {
            println!(
                "agents {n}: {} open files needed in one process, limit {limit} (raise it with \
                 `ulimit -n {}`): server in a child process instead",
                2 * u64::from(n) + SPARE_FDS,
                2 * u64::from(n) + SPARE_FDS
            );
            let (child, base_url) = spawn_server(n);
            rt.block_on(probe(n, Some((child.id(), base_url))));
            stop_child(child);
        } else {
            println!("agents {n}: skipped: needs `ulimit -n {}`", u64::from(n) + SPARE_FDS);
        }
    }
}

/// Child mode: the embedded server for `n` + 1 agents; prints its URL, serves until stdin closes.
fn serve_child(n: u32) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let server = rt.block_on(BenchServer::start(n + 1));
    println!("{}", server.base_url);
    // Blocks this (main, non-runtime) thread until the parent closes the pipe or exits.
    let _ = std::io::stdin().read_to_end(&mut Vec::new());
    rt.block_on(server.stop());
}

fn spawn_server(n: u32) -> (Child, String) {
    let exe = std::env::current_exe().expect("own path");
    let mut child = Command::new(exe)
        .args(["--serve-child", &n.to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("server child starts");
    let mut line = String::new();
    let stdout = child.stdout.take().expect("child stdout");
    BufReader::new(stdout).read_line(&mut line).expect("child prints its URL");
    (child, line.trim().to_owned())
}

fn stop_child(mut child: Child) {
    // Closing stdin is the child's signal to stop.
    drop(child.stdin.take());
    let _ = child.wait();
}

/// One probe of `n` agents; `child` is the server's process id and URL when it runs apart.
async fn probe(n: u32, child: Option<(u32, String)>) {
    // agent-1 is the prober; agent-2 .. agent-{n+1} are the crowd.
    let (server, pid) = match child {
        Some((pid, url)) => (BenchServer::at(&url), Some(pid)),
        None => (BenchServer::start(n + 1).await, None),
    };
    let rss_total = || rss_kib("self") + pid.map_or(0, |p| rss_kib(&p.to_string()));
    let cpu_total = || cpu_time("self") + pid.map_or(Duration::ZERO, |p| cpu_time(&p.to_string()));
    let place = if pid.is_some() { "server in a child process" } else { "server in process" };
    let mut prober = Agent::login(&server, "agent-1", Transport::Websocket).await;
    // Taken while the prober is the only Ready agent, so routing cannot give it to the crowd.
    let chat = prober.take_chat(&server).await;
    let quiet = round_trips(&mut prober, &chat).await;
    print_latency(&format!("agents {n}: before login, 1 agent"), &quiet);

    let rss_before = rss_total();
    let cpu_before = cpu_total();
    let server_side = || pid.map(|p| (rss_kib(&p.to_string()), cpu_time(&p.to_string())));
    let server_before = server_side();
    let started = Instant::now();
    let crowd: Vec<Agent> = stream::iter(2..=n + 1)
        .map(|i| {
            let server = &server;
            async move { Agent::login(server, &format!("agent-{i}"), Transport::Websocket).await }
        })
        .buffer_unordered(CONCURRENT_LOGINS)
        .collect()
        .await;
    let seconds = started.elapsed().as_secs_f64();
    let cpu = cpu_total() - cpu_before;
    let rss_after = rss_total();
    let logged_in = server.running.as_ref().map(|r| r.app.counts().0.to_string());
    let logged_in = logged_in.unwrap_or_else(|| "n/a".into());
    let grown = rss_after.saturating_sub(rss_before);
    println!(
        "agents {n}: logged in {} (server counts {logged_in}) in {seconds:.2} s = {:.0} agents/s, \
         CPU {:.2} s = {:.0} µs per login",
        crowd.len(),
        f64::from(n) / seconds,
        cpu.as_secs_f64(),
        cpu.as_secs_f64() * 1e6 / f64::from(n)
    );
    println!(
        "agents {n}: RSS {:.1} MiB -> {:.1} MiB (+{:.1} MiB) = {:.1} KiB per agent \
         (client and server side together, {place})",
        rss_before as f64 / 1024.0,
        rss_after as f64 / 1024.0,
        grown as f64 / 1024.0,
        grown as f64 / f64::from(n)
    );
    // Apart, the server's own share shows whether it or the simulated clients cost more.
    if let (Some((rss0, cpu0)), Some((rss1, cpu1))) = (server_before, server_side()) {
        println!(
            "agents {n}: server process alone: +{:.1} KiB RSS per agent, {:.0} µs CPU per login",
            rss1.saturating_sub(rss0) as f64 / f64::from(n),
            (cpu1 - cpu0).as_secs_f64() * 1e6 / f64::from(n)
        );
    }

    // What idle agents cost: nothing should run but held connects.
    let cpu_before = cpu_total();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let idle = cpu_total() - cpu_before;
    println!("agents {n}: idle CPU {:.1}% of one core over 3 s", idle.as_secs_f64() * 100.0 / 3.0);

    let cpu_before = cpu_total();
    let busy = round_trips(&mut prober, &chat).await;
    let cpu = cpu_total() - cpu_before;
    print_latency(&format!("agents {n}: {n} idle-connected"), &busy);
    println!(
        "agents {n}: CPU {:.0} µs per round trip (HTTP client + server + CometD client)",
        cpu.as_secs_f64() * 1e6 / f64::from(SAMPLES)
    );

    for agent in crowd {
        agent.logout();
    }
    prober.logout();
    server.stop().await;
}

async fn round_trips(prober: &mut Agent, chat: &str) -> Histogram<u64> {
    let mut h = Histogram::<u64>::new(3).expect("histogram");
    for _ in 0..SAMPLES {
        let rtt = prober.message_round_trip(chat).await;
        h.record(rtt.as_micros() as u64).expect("recordable");
    }
    h
}

fn print_latency(label: &str, h: &Histogram<u64>) {
    println!(
        "{label}: SendMessage→notification p50 {} µs, p99 {} µs, max {} µs ({} samples)",
        h.value_at_quantile(0.5),
        h.value_at_quantile(0.99),
        h.max(),
        h.len()
    );
}

/// Size of the local port range client sockets draw from.
fn ephemeral_ports() -> u64 {
    let range =
        std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range").unwrap_or_default();
    let bounds: Vec<u64> = range.split_whitespace().filter_map(|s| s.parse().ok()).collect();
    match bounds[..] {
        [low, high] if high >= low => high - low + 1,
        _ => 28_232,
    }
}

/// Resident set size of process `pid` (or `self`), in KiB.
fn rss_kib(pid: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// User + system CPU time of process `pid` (or `self`, all threads), from /proc.
fn cpu_time(pid: &str) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the parenthesized command name; utime and stime are the 14th and 15th fields.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<u64> =
        rest.split_whitespace().skip(11).take(2).filter_map(|f| f.parse().ok()).collect();
    // Clock ticks are 100 per second on Linux (USER_HZ).
    Duration::from_millis(fields.iter().sum::<u64>() * 10)
}
