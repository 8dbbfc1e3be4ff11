//! Issue 10, "throughput and concurrency": a small run against the embedded server, whose
//! `summary.json` throughput must agree with its own counts and with `timeline.jsonl` (rates
//! times the window are the operations in it, every agent logged in is counted, occupancy is a
//! share), and whose gauges are all back to zero once the run is over (every guard dropped).

use std::time::Duration;

use gwsim::app::{RunOptions, execute};
use gwsim::report::files::TIMELINE_FILE;
use gwsim::report::timeline::read_timeline;
use gwsim::report::write_results;
use gwsim::scenario::{self, Overrides};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

const AGENTS: u64 = 6;

const SCENARIO: &str = r#"
name = "throughput"
[target]
kind = "embedded"
transport = "websocket"
media = "chat"
[run]
duration = "6s"
warmup = "1s"
drain = "15s"
seed = 11
[[agents]]
name = "frontline"
count = 6
username = "frontline-{n}"
flow = "answer"
readiness = "ready"
[customers]
arrival = { rate = "4/s" }
messages = { count = "1", think = "100ms..300ms", text = "Quick question." }
[flows.answer]
steps = [
  { op = "Accept" },
  { op = "SendMessage", text = "Hi, how can I help?" },
  { think = "300ms..800ms" },
  { op = "Complete" },
]
"#;

fn f(v: &Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"))
}

fn u(v: &Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("not a count: {v}"))
}

#[tokio::test]
async fn summary_throughput_agrees_with_its_counts_and_timeline() {
    let tmp = tempfile::Builder::new().prefix("gwsim-throughput-").tempdir().unwrap();
    let dir = tmp.path();
    let s = scenario::parse("throughput.toml", SCENARIO, &Overrides::default())
        .unwrap_or_else(|d| panic!("{d}"));
    let options = RunOptions { poll_interval: Duration::from_millis(200), ..RunOptions::default() };
    let done = execute(s, &options, CancellationToken::new(), Some(dir))
        .await
        .unwrap_or_else(|e| panic!("{e:#}"));
    assert!(!done.outcome.partial);
    assert_eq!(done.outcome.agents_logged_in as u64, AGENTS);
    let path = write_results(dir, &done.report).unwrap();
    let summary: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let t = &summary["throughput"];
    let counts = &summary["counts"];

    // The window is the load phase after warmup: about five seconds of one-second intervals.
    let measured_s = f(&t["measured_s"]);
    assert!((4.0..=6.0).contains(&measured_s), "{t}");

    // Its operations are the timeline's, interval for interval (an interval is in the window
    // when its middle is), and fewer than the run's, which include login, drain and logout.
    let points = read_timeline(&dir.join(TIMELINE_FILE)).unwrap();
    let inside = |p: &&gwsim::report::timeline::Point| {
        let mid = (p.start_ms + p.t_ms) / 2;
        (1_000..=6_000).contains(&mid)
    };
    let window_ops: u64 = points.iter().filter(inside).map(|p| p.ops).sum();
    let ops = f(&t["ops_per_s"]) * measured_s;
    assert!((ops - window_ops as f64).abs() < 0.5, "{ops} vs {window_ops}: {t}");
    assert!(window_ops > 0 && window_ops <= u(&counts["operations"]), "{summary}");
    let per_op: f64 = t["per_operation"].as_object().unwrap().values().map(f).sum();
    assert!((per_op - f(&t["ops_per_s"])).abs() < 0.01, "{t}");
    let flows = f(&t["flows_per_s"]) * measured_s;
    let window_flows: u64 = points.iter().filter(inside).map(|p| p.flows_completed).sum();
    assert!((flows - window_flows as f64).abs() < 0.5, "{flows} vs {window_flows}: {t}");

    // Chats and flows completed, and every completion is in some interval of the timeline.
    assert!(f(&t["chats_per_s"]) > 0.0 && f(&t["flows_per_s"]) > 0.0, "{t}");
    let all_chats: u64 = points.iter().map(|p| p.chats_completed).sum();
    let all_flows: u64 = points.iter().map(|p| p.flows_completed).sum();
    assert_eq!(all_chats, u(&counts["chats_completed"]), "{counts}");
    assert_eq!(all_flows, u(&counts["flows_completed"]), "{counts}");

    // Every agent was logged in for the whole window; occupancy is a share of them.
    assert_eq!(u(&t["agents_logged_in"]["peak"]), AGENTS, "{t}");
    assert_eq!(f(&t["agents_logged_in"]["mean"]), AGENTS as f64, "{t}");
    let busy_peak = u(&t["agents_busy"]["peak"]);
    assert!((1..=AGENTS).contains(&busy_peak), "{t}");
    let occupancy = f(&t["occupancy"]["mean"]);
    assert!(occupancy > 0.0 && occupancy <= 1.0, "{t}");
    assert!(u(&t["active_chats"]["peak"]) >= 1, "{t}");
    assert!(f(&t["customers_waiting"]["mean"]) >= 0.0, "{t}");

    // After logout every gauge is back at zero: no guard outlived its task.
    let last = points.last().expect("a timeline");
    let gauges =
        (last.active_chats, last.agents_logged_in, last.agents_busy, last.customers_waiting);
    assert_eq!(gauges, (0, 0, 0, 0), "{last:?}");
    // And while the load ran, the timeline saw every agent logged in.
    assert!(points.iter().filter(inside).all(|p| p.agents_logged_in == AGENTS), "{points:?}");
}
