//! What the end-to-end benchmarks (`run`, `flow_cost`) share: a `gwsim serve` child process
//! they own (ended by its pid when dropped), the remote target pointing at it, and a process's
//! CPU and memory read from /proc.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use gwsim::ordering::Profile;
use gwsim::run_plan::{ResolvedTarget, TargetType};
use gwsim::scenario::Scenario;

/// The demo users' password, given to the server through its environment.
pub(crate) const PASSWORD: &str = "bench-password";
const CONTACT_CENTER_ID: &str = "5f3a2e9c-1b7d-4c5e-8f00-9a6b1c2d3e4f";

/// A `gwsim serve` child process; dropping it ends it.
pub(crate) struct Server {
    child: Child,
    /// Its base URL (`http://127.0.0.1:PORT`).
    pub(crate) base: String,
}

impl Server {
    /// Starts `gwsim serve` with `agents` demo users and `extra` arguments, and waits until it
    /// answers.
    pub(crate) async fn start(agents: u32, extra: &[&str]) -> Server {
        let port = free_port();
        let child = Command::new(env!("CARGO_BIN_EXE_gwsim"))
            .args(["serve", "--demo-users", &agents.to_string()])
            .args(["--bind", &format!("127.0.0.1:{port}")])
            .args(extra)
            .env("GWSIM_DEMO_PASSWORD", PASSWORD)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("gwsim serve starts");
        let server = Server { child, base: format!("http://127.0.0.1:{port}") };
        let client = reqwest::Client::new();
        let version = format!("{}/api/v2/diagnostics/version", server.base);
        for _ in 0..100 {
            if client.get(&version).send().await.is_ok() {
                return server;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("gwsim serve did not answer on {}", server.base);
    }

    /// Its pid, as /proc names it.
    pub(crate) fn pid(&self) -> String {
        self.child.id().to_string()
    }

    /// The target a run against this server resolves to (strict checker, customer API).
    pub(crate) fn target(&self, scenario: &Scenario) -> ResolvedTarget {
        ResolvedTarget {
            kind: TargetType::Remote,
            base_url: self.base.clone(),
            transport: scenario.target.transport,
            media: scenario.target.media,
            profile: Profile::Strict,
            customer_api: true,
            accept_invalid_certs: false,
            contact_center_id: Some(CONTACT_CENTER_ID.into()),
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // Only the child this benchmark started, by its pid.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A loopback port nothing listens on right now.
pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// CPU seconds (user + system) and resident memory (KiB) of a process (`"self"` or a pid), from
/// /proc.
pub(crate) fn usage(pid: &str) -> (f64, u64) {
    let (user, system) = cpu_split(pid);
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let rss = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0);
    (user + system, rss)
}

/// CPU seconds of a process (`"self"` or a pid) in its own code (user) and in the kernel on its
/// behalf (system), from /proc/PID/stat (in USER_HZ ticks, 100 a second on Linux).
pub(crate) fn cpu_split(pid: &str) -> (f64, f64) {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which is in parentheses and may contain spaces).
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok()).unwrap_or(0.0);
    // utime and stime are fields 14 and 15 of the whole line: 11 and 12 after the name.
    (ticks(11) / 100.0, ticks(12) / 100.0)
}
