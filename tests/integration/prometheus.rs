//! `gwsim run --prometheus 127.0.0.1:0` and `gwsim serve --prometheus 127.0.0.1:0` through the
//! binary: the endpoint's address is read from the log, `/metrics` is scraped over HTTP, and a
//! run's final figures (served during its linger) agree with its summary.json.

use std::collections::BTreeMap;
use std::io::{BufRead as _, Read as _, Write as _};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

use super::binary::{path, scratch};

/// A child process, killed (by its own handle) when dropped.
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `gwsim ARGS...` with its stderr lines sent to the returned channel (read on a thread, so
/// every wait on them is bounded).
fn spawn(args: &[&str], env: &[(&str, &str)]) -> (Guard, Receiver<String>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_gwsim"))
        .args(args)
        .envs(env.iter().copied())
        .env("RUST_LOG", "gwsim=info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start gwsim: {e}"));
    let stderr = child.stderr.take().expect("piped stderr");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    (Guard(child), rx)
}

/// Waits for a log line containing `text`.
fn wait_for(log: &Receiver<String>, text: &str, within: Duration) {
    let deadline = Instant::now() + within;
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        match log.recv_timeout(left) {
            Ok(line) if line.contains(text) => return,
            Ok(_) => {}
            Err(_) => break,
        }
    }
    panic!("no log line with `{text}` within {within:?}");
}

/// The `host:port` of the endpoint, from its "prometheus endpoint ready" log line.
fn endpoint(log: &Receiver<String>) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        let Ok(line) = log.recv_timeout(left) else { break };
        if let Some(rest) = line.split("metrics=http://").nth(1) {
            return rest.split('/').next().unwrap_or_default().to_owned();
        }
    }
    panic!("gwsim did not log its prometheus endpoint within 60 s");
}

/// `GET /metrics`: the status line and the body.
fn scrape(addr: &str) -> (String, String) {
    let mut s = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect {addr}: {e}"));
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(s, "GET /metrics HTTP/1.1\r\nHost: {addr}\r\nAccept: */*\r\n\r\n").unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or_else(|| panic!("{text}"));
    (head.lines().next().unwrap_or_default().to_owned(), body.to_owned())
}

/// Sums every sample of `family` whose series has all of `with` (`label="value"` strings).
fn sum(body: &str, family: &str, with: &[&str]) -> f64 {
    body.lines()
        .filter(|l| l.starts_with(&format!("{family}{{")) || l.starts_with(&format!("{family} ")))
        .filter(|l| with.iter().all(|w| l.contains(w)))
        .map(|l| {
            let v = l.rsplit(' ').next().unwrap_or_default();
            v.parse::<f64>().unwrap_or_else(|e| panic!("{l}: {e}"))
        })
        .sum()
}

#[test]
fn a_runs_final_figures_on_the_endpoint_equal_its_summary() {
    let tmp = scratch();
    let out = tmp.path().join("out");
    let scenario = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/scenarios/prometheus.toml");
    let (_run, log) = spawn(
        &[
            "run",
            path(&scenario),
            "--out",
            path(&out),
            "-q",
            "--shard",
            "0/1",
            "--prometheus",
            "127.0.0.1:0",
            "--prometheus-linger",
            "120s",
        ],
        &[],
    );
    let addr = endpoint(&log);
    // Up during the run already.
    let (status, body) = scrape(&addr);
    assert_eq!(status, "HTTP/1.1 200 OK", "{body}");
    // (A family shows once it has a series; the unlabelled counters have one from the start.)
    assert!(body.contains("# TYPE gwsim_reconnects counter"), "{body}");
    // The linger begins (and says so) once the results are written.
    wait_for(&log, "final figures stay scrapeable", Duration::from_secs(180));
    let summary = out.join("summary.json");
    let s: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&summary).unwrap()).unwrap();
    let (_, body) = scrape(&addr);
    let ops = s["counts"]["operations"].as_u64().unwrap();
    assert!(ops > 0);
    assert_eq!(sum(&body, "gwsim_operations_total", &[]), ops as f64, "{body}");
    // Per operation and outcome, as in the summary.
    let mut by_op = BTreeMap::new();
    for o in s["operations"].as_array().unwrap() {
        let name = o["name"].as_str().unwrap().to_owned();
        let ok = o["ok"].as_u64().unwrap();
        let errors = o["errors"].as_u64().unwrap();
        by_op.insert(name, (ok, errors));
    }
    for (op, (ok, errors)) in &by_op {
        let op_label = format!(r#"operation="{op}""#);
        let got_ok = sum(&body, "gwsim_operations_total", &[&op_label, r#"outcome="ok""#]);
        let got_err = sum(&body, "gwsim_operations_total", &[&op_label, r#"outcome="error""#]);
        assert_eq!((got_ok, got_err), (*ok as f64, *errors as f64), "{op}:\n{body}");
    }
    let accept = s["operations"].as_array().unwrap().iter().find(|o| o["name"] == "Accept");
    let accepts = accept.expect("the flow accepts chats")["response"]["count"].as_u64().unwrap();
    let labels = [r#"operation="Accept""#, r#"metric="response""#, r#"le="+Inf""#];
    assert_eq!(sum(&body, "gwsim_latency_seconds_bucket", &labels), accepts as f64);
    assert_eq!(
        sum(&body, "gwsim_errors_total", &[]),
        s["counts"]["errors"].as_u64().unwrap() as f64
    );
    assert!(body.contains(r#"scenario="prometheus",shard="0/1""#), "{body}");
    // After logout.
    assert_eq!(sum(&body, "gwsim_agents_logged_in", &[]), 0.0, "{body}");
}

/// An HTTP/1.1 request to `addr` (`Connection: close`); the whole answer.
fn http(addr: &str, head: &str, body: &str) -> String {
    let mut s = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect {addr}: {e}"));
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "{head}\r\nHost: {addr}\r\nConnection: close\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    text
}

#[test]
fn a_servers_endpoint_counts_requests_faults_and_sessions() {
    let tmp = scratch();
    // Every customer request fails with an injected error.
    let plan = tmp.path().join("plan.toml");
    std::fs::write(
        &plan,
        "[[rule]]\nkind = \"error\"\nrate = 1\nhttp_status = 503\noperations = [\"customer\"]\n",
    )
    .unwrap();
    let (_serve, log) = spawn(
        &[
            "serve",
            "--bind",
            "127.0.0.1:0",
            "--demo-users",
            "2",
            "--faults",
            path(&plan),
            "--prometheus",
            "127.0.0.1:0",
        ],
        &[("GWSIM_DEMO_PASSWORD", "prometheus-test")],
    );
    let metrics = endpoint(&log);
    let deadline = Instant::now() + Duration::from_secs(60);
    let base = loop {
        let Some(left) = deadline.checked_duration_since(Instant::now()) else {
            panic!("gwsim serve did not say where it listens within 60 s");
        };
        let line = log.recv_timeout(left).expect("gwsim serve's log");
        if let Some(rest) = line.split("addr=").nth(1).filter(|_| line.contains("listening")) {
            break rest.split_whitespace().next().unwrap_or_default().to_owned();
        }
    };
    // Unauthenticated: 401 on the matched route.
    for _ in 0..3 {
        let text = http(&base, "GET /api/v2/me HTTP/1.1", "");
        assert!(text.starts_with("HTTP/1.1 401"), "{text}");
    }
    // A customer's RequestChat, failed by the plan.
    let chat = r#"{"operationName":"RequestChat","nickname":"c","subject":"s","userData":{}}"#;
    let head = format!(
        "POST /api/v2/chats HTTP/1.1\r\ncontent-type: application/json\r\nContactCenterId: {}",
        gwsim::server::DEFAULT_CONTACT_CENTER_ID
    );
    let text = http(&base, &head, chat);
    assert!(text.starts_with("HTTP/1.1 503"), "{text}");
    let (_, body) = scrape(&metrics);
    let me = [r#"route="/api/v2/me""#, r#"status="401""#];
    assert_eq!(sum(&body, "gwsim_server_requests_total", &me), 3.0, "{body}");
    let chats = [r#"route="/api/v2/chats""#, r#"status="503""#];
    assert_eq!(sum(&body, "gwsim_server_requests_total", &chats), 1.0, "{body}");
    assert_eq!(sum(&body, "gwsim_server_faults_total", &[r#"kind="error""#]), 1.0, "{body}");
    assert_eq!(sum(&body, "gwsim_server_cometd_sessions", &[]), 0.0, "{body}");
    assert!(body.contains("# TYPE gwsim_server_notifications counter"), "{body}");
}
