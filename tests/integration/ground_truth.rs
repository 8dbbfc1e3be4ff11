//! Latency and stall faults as ground truth for the metrics (issue 8): a latency rule raises
//! every measured response by at least its value, and a stall is carried by corrected latency
//! for every operation the schedule meant to start while it held. Only lower bounds that the
//! server's hold guarantees are asserted, never how long anything took at most
//! (`benches/ground-truth.sh` measures the precision).

use std::path::Path;
use std::time::Duration;

use gwsim::app::{Executed, RunOptions, execute};
use gwsim::metrics::LatencyHistogram;
use gwsim::scenario::{self, Overrides};
use gwsim::vocab::{CustomerMetric, OpName};
use tokio_util::sync::CancellationToken;

/// Runs the scenario `toml` on the embedded server, with its results in a temporary directory.
async fn run(toml: &str) -> (Executed, serde_json::Value, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("scenario.toml");
    std::fs::write(&path, toml).expect("write scenario");
    let scenario = scenario::load(Path::new(&path), &Overrides::default())
        .unwrap_or_else(|d| panic!("does not validate:\n{d}"));
    let results = dir.path().join("results");
    std::fs::create_dir(&results).expect("results dir");
    let options = RunOptions { poll_interval: Duration::from_millis(100), ..RunOptions::default() };
    let done = execute(scenario, &options, CancellationToken::new(), Some(&results))
        .await
        .unwrap_or_else(|e| panic!("{e:#}"));
    let summary = gwsim::report::write_results(&results, &done.report).expect("summary");
    let summary = serde_json::from_str(&std::fs::read_to_string(summary).expect("read"))
        .expect("summary.json");
    let table = gwsim::report::render(&done.report);
    (done, summary, table)
}

/// How many recorded values are at least `us` microseconds.
fn at_least(h: &LatencyHistogram, us: u64) -> u64 {
    let h = h.inner();
    h.len() - if us == 0 { 0 } else { h.count_between(0, us - 1) }
}

const FLOW: &str = r#"
[flows.answer]
steps = [
  { op = "Accept" },
  { op = "SendMessage", text = "Hi" },
  { think = "200ms" },
  { op = "Complete" },
]
"#;

#[tokio::test]
async fn a_latency_rule_raises_every_response_by_at_least_its_value() {
    let toml = format!(
        "name = \"truth-latency\"\n[run]\nduration = \"3s\"\ndrain = \"15s\"\nseed = 8\n\
         [[agents]]\nname = \"frontline\"\ncount = 3\nflow = \"answer\"\n\
         [customers]\narrival = {{ rate = \"2/s\" }}\nmessages = {{ count = 1, think = \"100ms\", text = \"Hello\" }}\n\
         {FLOW}\n[faults]\n[[faults.rule]]\nkind = \"latency\"\nlatency = \"20ms\"\nrate = 1.0\n"
    );
    let (done, _, table) = run(&toml).await;
    let mut seen = 0;
    for (op, stats) in done.outcome.recorder.ops() {
        // The rule holds operations the fault seam sees (POSTs); `GET /me` and friends are not.
        if !matches!(op, OpName::Flow(_)) {
            continue;
        }
        let Some(response) = &stats.response else { continue };
        for (what, h) in
            [("corrected", response.latency.corrected()), ("raw", response.latency.raw())]
        {
            let h = h.inner();
            assert!(!h.is_empty(), "{op:?}");
            assert!(h.min() >= 20_000, "{op:?} {what}: min {} µs under 20 ms\n{table}", h.min());
        }
        seen += 1;
    }
    assert!(seen >= 3, "Accept, SendMessage and Complete were measured:\n{table}");
    assert_eq!(done.report.violations.total, 0, "latency breaks no order:\n{table}");
}

/// Arrivals every 250 ms; the stall holds from 4 s to 5.5 s after the server started (the load
/// phase begins once six agents logged in, well before), and the run goes on past it.
const STALL_US: u64 = 1_500_000;
const ARRIVAL_RATE: u64 = 4;

#[tokio::test]
async fn a_stall_is_carried_by_corrected_latency_for_every_operation_meant_during_it() {
    let toml = format!(
        "name = \"truth-stall\"\n[run]\nduration = \"8s\"\ndrain = \"20s\"\nseed = 5\n\
         [[agents]]\nname = \"frontline\"\ncount = 6\nflow = \"answer\"\n\
         [customers]\narrival = {{ rate = \"{ARRIVAL_RATE}/s\", spacing = \"constant\" }}\nmax_active = 100\n\
         messages = {{ count = 1, think = \"100ms\", text = \"Hello\" }}\n\
         {FLOW}\n[faults]\n[[faults.rule]]\nkind = \"stall\"\nfrom = \"4s\"\nfor = \"1500ms\"\n"
    );
    let (done, summary, table) = run(&toml).await;
    let rec = &done.outcome.recorder;

    // A customer whose arrival the schedule set at t inside the stall [s, e) cannot be answered
    // before e (its RequestChat is held), so its corrected wait is at least e - t. Arrivals are
    // a constant 250 ms apart, so the first second of the stall holds at least four of them,
    // each waiting at least the stall's last half second.
    let bound = 500_000;
    let meant = (STALL_US - bound) * ARRIVAL_RATE / 1_000_000;
    let wait = rec.customer(CustomerMetric::Wait).expect("customers were answered");
    assert!(
        at_least(wait.latency.corrected(), bound) >= meant,
        "{} waits of {bound} µs or more, {meant} arrivals meant in the stall's first second\n{table}",
        at_least(wait.latency.corrected(), bound)
    );
    // The stall is there in full: the first arrival meant in it waits at least its length less
    // one arrival gap.
    assert!(
        wait.latency.corrected().inner().max() >= STALL_US - 1_000_000 / ARRIVAL_RATE,
        "{table}"
    );

    // Raw latency runs from when a request left, never before it was meant to: per operation it
    // is at most the corrected one, so every percentile is too, over the same samples.
    for (op, stats) in rec.ops() {
        for t in [&stats.response, &stats.settle].into_iter().flatten() {
            let (c, r) = (t.latency.corrected().inner(), t.latency.raw().inner());
            assert_eq!(c.len(), r.len(), "{op:?}");
            for q in [50.0, 90.0, 99.0, 100.0] {
                assert!(
                    r.value_at_percentile(q) <= c.value_at_percentile(q),
                    "{op:?} p{q}: raw over corrected"
                );
            }
        }
    }

    // summary.json says both, side by side, for every timed operation, and how much was added.
    for op in summary["operations"].as_array().expect("operations") {
        let response = &op["response"];
        if response.is_null() {
            continue;
        }
        let (c, r) = (&response["corrected"], &response["raw"]);
        assert!(c["max"].as_u64() >= r["max"].as_u64(), "{op}");
    }
    assert_eq!(done.report.violations.total, 0, "a stall breaks no order:\n{table}");
}

/// Open pacing, as wrk2 paces requests: customers mean to send a message every 100 ms for as
/// long as their agent stays (4 s), whatever the answers took. The stall holds from 4 s to 5.5 s
/// after the server started, so every customer in a chat then has about fifteen messages meant
/// during it, and the one request it had in flight held. (With `pace = "closed"` only that one
/// request carries the stall, and the count below fails.)
#[tokio::test]
async fn with_open_pacing_corrected_latency_carries_the_stall_for_every_message_meant_in_it() {
    const THINK_US: u64 = 100_000;
    let toml = format!(
        "name = \"truth-open\"\n[run]\nduration = \"8s\"\ndrain = \"20s\"\nseed = 5\n\
         [[agents]]\nname = \"frontline\"\ncount = 8\nflow = \"long\"\n\
         [customers]\narrival = {{ rate = \"1/s\", spacing = \"constant\" }}\nmax_active = 100\n\
         messages = {{ count = 200, think = \"{THINK_US}us\", text = \"Hello\", pace = \"open\" }}\n\
         [flows.long]\nsteps = [\n  {{ op = \"Accept\" }},\n  {{ op = \"SendMessage\", text = \"Hi\" }},\n\
         {{ think = \"4s\" }},\n  {{ op = \"Complete\" }},\n]\n\
         [faults]\n[[faults.rule]]\nkind = \"stall\"\nfrom = \"4s\"\nfor = \"1500ms\"\n"
    );
    let (done, summary, table) = run(&toml).await;
    let rec = &done.outcome.recorder;

    // A message the plan set at t inside the stall [s, e) cannot be answered before e, and its
    // corrected latency runs from t whatever kept it from leaving: at least e - t. A customer
    // chatting when the stall began had one meant within 100 ms of s (at least S - 100 ms) and
    // one every 100 ms after, so the stall's first second alone holds ten of at least 500 ms.
    for metric in [CustomerMetric::Send, CustomerMetric::ToAgent] {
        let t = rec.customer(metric).expect("customers sent messages");
        let c = t.latency.corrected();
        let bound = 500_000;
        let meant = (STALL_US - bound) / THINK_US;
        assert!(
            at_least(c, bound) >= meant,
            "{metric}: {} samples of {bound} µs or more, {meant} messages meant in the stall's \
             first second\n{table}",
            at_least(c, bound)
        );
        assert!(
            c.inner().max() >= STALL_US - THINK_US,
            "{metric}: max {}\n{table}",
            c.inner().max()
        );
        // Raw runs from when the message left, never before it was meant: every percentile is
        // at most the corrected one, over the same samples.
        let r = t.latency.raw();
        assert_eq!(c.len(), r.len(), "{metric}");
        for q in [50.0, 90.0, 99.0, 100.0] {
            assert!(
                r.inner().value_at_percentile(q) <= c.inner().value_at_percentile(q),
                "{metric} p{q}: raw over corrected\n{table}"
            );
        }
    }

    // summary.json carries both variants of the customer metrics, side by side.
    for name in ["send", "to_agent"] {
        let m = &summary["customers"][name];
        let (c, r) = (m["corrected"]["max"].as_u64(), m["raw"]["max"].as_u64());
        assert!(c.is_some() && r.is_some(), "customers.{name}: {m}");
        assert!(c >= r, "customers.{name}: {m}");
    }
    assert_eq!(done.report.violations.total, 0, "a stall breaks no order:\n{table}");
}
