//! The fault proxy (`[proxy]`, `gwsim proxy`) in front of the embedded reference server: a run
//! through a proxy without faults counts what a direct run counts; latency, resets and stalls it
//! injects are in the run's ledger and fault section, and their effects in the counts. Nothing
//! here asserts wall-clock time: an injected fixed latency is a lower bound of every response.

use std::time::Duration;

use gwsim::app::{Executed, RunOptions, execute};
use gwsim::faults::{FaultKind, parse_proxy_plan};
use gwsim::report::files::LEDGER_FILE;
use gwsim::scenario::{self, Overrides};
use gwsim::vocab::{Stat, Transport};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::sync::CancellationToken;

/// A small chat scenario on the embedded server with `extra` appended (a `[proxy]` section).
fn scenario_text(extra: &str) -> String {
    format!(
        r#"name = "proxy-test"

[run]
duration = "3s"
drain = "15s"
seed = 11

[[agents]]
name = "frontline"
count = 3
flow = "answer"

[customers]
arrival = {{ rate = "2/s" }}
messages = {{ count = 1, think = "100ms", text = "Hello" }}

[flows.answer]
steps = [
  {{ op = "Accept" }},
  {{ op = "SendMessage", text = "Hi" }},
  {{ think = "300ms" }},
  {{ op = "Complete" }},
]
{extra}"#
    )
}

/// Runs the scenario with `extra`; returns the run and the lines of `ledger.jsonl` (empty
/// without one).
async fn run(extra: &str) -> (Executed, Vec<serde_json::Value>) {
    run_over(None, extra).await
}

/// [`run`] with the CometD transport given.
async fn run_over(transport: Option<Transport>, extra: &str) -> (Executed, Vec<serde_json::Value>) {
    let text = scenario_text(extra);
    let overrides = Overrides { transport, ..Overrides::default() };
    let s = scenario::parse("proxy-test.toml", &text, &overrides)
        .unwrap_or_else(|d| panic!("does not validate:\n{d}"));
    let dir = tempfile::tempdir().expect("tempdir");
    let options = RunOptions { poll_interval: Duration::from_millis(200), ..RunOptions::default() };
    let done = execute(s, &options, CancellationToken::new(), Some(dir.path()))
        .await
        .unwrap_or_else(|e| panic!("{e:#}"));
    // The summary as written, proxy faults in it, matches the committed schema.
    let summary = gwsim::report::write_results(dir.path(), &done.report).expect("summary");
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(summary).expect("read")).expect("json");
    let schema: serde_json::Value =
        serde_json::from_str(include_str!("../../schema/summary.schema.json")).expect("schema");
    let validator = jsonschema::draft202012::new(&schema).expect("a schema");
    let errors: Vec<String> = validator.iter_errors(&summary).map(|e| e.to_string()).collect();
    assert!(errors.is_empty(), "summary.json does not match its schema: {errors:#?}");
    let ledger = std::fs::read_to_string(dir.path().join(LEDGER_FILE)).unwrap_or_default();
    let lines = ledger
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    (done, lines)
}

fn ops(done: &Executed) -> Vec<(String, u64)> {
    done.report.operations.iter().map(|o| (o.name.to_string(), o.count)).collect()
}

#[tokio::test]
async fn a_run_through_a_proxy_without_faults_counts_what_a_direct_run_counts() {
    for transport in [Transport::Websocket, Transport::LongPolling] {
        same_counts(transport).await;
    }
}

async fn same_counts(transport: Transport) {
    let (direct, _) = run_over(Some(transport), "").await;
    let (proxied, ledger) = run_over(Some(transport), "[proxy]\n").await;
    let (d, p) = (&direct.report, &proxied.report);
    assert!(p.target.base_url.starts_with("http://127.0.0.1:"), "{}", p.target.base_url);
    assert_ne!(p.target.base_url, d.target.base_url);
    assert_eq!((p.counts.errors, p.counts.violations), (0, 0), "{}", gwsim::report::render(p));
    assert_eq!((d.counts.errors, d.counts.violations), (0, 0), "{}", gwsim::report::render(d));
    assert_eq!(p.counts.operations, d.counts.operations);
    assert_eq!(p.counts.flows_completed, d.counts.flows_completed);
    assert_eq!(p.counts.chats_completed, d.counts.chats_completed);
    assert!(p.counts.flows_completed > 0, "chats were served through the proxy");
    assert_eq!(ops(&proxied), ops(&direct));
    assert_eq!(proxied.outcome.customers_started, direct.outcome.customers_started);
    let f = p.faults.as_ref().expect("a proxied run has a fault section");
    assert_eq!((f.injected, f.kinds.len()), (0, 0));
    assert!(ledger.is_empty());
}

#[tokio::test]
async fn a_fixed_proxy_latency_is_a_lower_bound_of_every_response_and_is_ledgered() {
    let (done, ledger) = run(
        "[proxy]\n[[proxy.rule]]\nkind = \"proxy-latency\"\nlatency = \"40ms\"\nrate = 1.0\ndirection = \"downstream\"\n",
    )
    .await;
    let r = &done.report;
    assert_eq!((r.counts.errors, r.counts.violations), (0, 0), "{}", gwsim::report::render(r));
    assert!(r.counts.flows_completed > 0);
    let f = r.faults.as_ref().expect("fault section");
    let k = f.kind(FaultKind::ProxyLatency).expect("proxy-latency records");
    assert!(k.records > 0);
    assert_eq!((k.recall, k.found), (None, 0), "a latency explains no violation");
    assert_eq!(ledger.len() as u64, f.injected, "one ledger line per fault");
    for l in &ledger {
        assert_eq!(l["kind"], "proxy-latency", "{l}");
        assert_eq!(l["direction"], "downstream", "{l}");
        assert!(l["connection"].as_u64().is_some_and(|c| c > 0), "{l}");
        assert!(l["detail"].as_str().is_some_and(|d| d.ends_with("delayed by 40ms")), "{l}");
    }
    // Every flow operation's response crossed the proxy downstream, so each took at least the
    // injected 40 ms (session steps such as Disconnect may need no answer).
    let mut measured = 0;
    for op in r.operations.iter().filter(|o| o.kind == gwsim::report::OpKind::Flow) {
        let Some(raw) = op.response.as_ref().and_then(|t| t.raw.as_ref()) else { continue };
        let p50 = raw.us(Stat::P50).unwrap_or(0);
        assert!(p50 >= 40_000, "{}: p50 {p50} us under the injected 40 ms", op.name);
        measured += 1;
    }
    assert!(measured > 0);
}

#[tokio::test]
async fn proxy_resets_are_ledgered_and_their_damage_counted() {
    let (done, ledger) = run(
        "[proxy]\n[[proxy.rule]]\nkind = \"proxy-reset\"\nrate = 0.1\nfrom = \"1s\"\ndirection = \"downstream\"\n",
    )
    .await;
    let r = &done.report;
    let f = r.faults.as_ref().expect("fault section");
    let k = f.kind(FaultKind::ProxyReset).expect("proxy-reset records");
    assert!(k.records > 0);
    assert_eq!(ledger.len() as u64, f.injected);
    assert!(
        ledger.iter().all(|l| l["kind"] == "proxy-reset" && l["at_ms"].as_u64() >= Some(1_000))
    );
    // A reset answer is an error to the request it carried, or a reconnect of a CometD stream.
    assert!(
        r.counts.errors + r.counts.reconnects > 0,
        "{} resets, nothing counted:\n{}",
        k.records,
        gwsim::report::render(r)
    );
}

#[tokio::test]
async fn a_scheduled_proxy_stall_is_ledgered_once_per_connection_and_window() {
    let (done, ledger) = run(
        "[proxy]\n[[proxy.rule]]\nkind = \"proxy-stall\"\nfrom = \"1s\"\nfor = \"1s\"\ndirection = \"downstream\"\n",
    )
    .await;
    let r = &done.report;
    let f = r.faults.as_ref().expect("fault section");
    let k = f.kind(FaultKind::ProxyStall).expect("proxy-stall records");
    assert!(k.records > 0);
    let mut seen = std::collections::HashSet::new();
    for l in &ledger {
        assert_eq!(l["kind"], "proxy-stall", "{l}");
        assert!(seen.insert(l["connection"].as_u64()), "one record per connection: {l}");
        assert!(l["detail"].as_str().is_some_and(|d| d.ends_with("to 2000ms (window 0)")), "{l}");
    }
    assert_eq!(r.counts.violations, 0, "{}", gwsim::report::render(r));
    assert!(r.counts.flows_completed > 0);
}

/// The standalone proxy over a plain TCP echo server: bytes go through untouched, a reset
/// reaches the client as a reset and lands in the ledger.
#[tokio::test]
async fn the_standalone_proxy_forwards_bytes_and_resets_connections() {
    let echo = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let upstream = echo.local_addr().expect("addr").to_string();
    tokio::spawn(async move {
        // Bounded: the test opens two connections.
        for _ in 0..2 {
            let Ok((mut s, _)) = echo.accept().await else { return };
            tokio::spawn(async move {
                let mut buf = [0u8; 1024];
                while let Ok(n) = s.read(&mut buf).await {
                    if n == 0 || s.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    // Connection 1 is left alone, connection 2 reset on its first downstream chunk.
    let plan = parse_proxy_plan(
        "p.toml",
        "[[rule]]\nkind = \"proxy-reset\"\nrate = 1.0\ndirection = \"downstream\"\nfrom = \"0s\"\n",
    )
    .expect("plan");
    let clean = gwsim::proxy::start(gwsim::proxy::ProxyConfig {
        listen: "127.0.0.1:0".parse().expect("addr"),
        upstream: upstream.clone(),
        plan: gwsim::faults::FaultPlan::empty(1),
        ledger_file: None,
    })
    .await
    .expect("proxy");
    let mut c = tokio::net::TcpStream::connect(clean.local_addr()).await.expect("connect");
    c.write_all(b"hello").await.expect("write");
    let mut got = [0u8; 5];
    tokio::time::timeout(Duration::from_secs(10), c.read_exact(&mut got))
        .await
        .expect("echoed in time")
        .expect("echo");
    assert_eq!(&got, b"hello");
    assert_eq!(clean.ledger().total, 0);
    clean.stop().await;

    let faulty = gwsim::proxy::start(gwsim::proxy::ProxyConfig {
        listen: "127.0.0.1:0".parse().expect("addr"),
        upstream,
        plan,
        ledger_file: None,
    })
    .await
    .expect("proxy");
    let mut c = tokio::net::TcpStream::connect(faulty.local_addr()).await.expect("connect");
    c.write_all(b"hello").await.expect("write");
    let mut buf = [0u8; 16];
    let read = tokio::time::timeout(Duration::from_secs(10), c.read(&mut buf))
        .await
        .expect("the reset arrives in time");
    match read {
        Err(e) => assert_eq!(e.kind(), std::io::ErrorKind::ConnectionReset, "{e}"),
        Ok(n) => panic!("read {n} bytes through a reset connection"),
    }
    let snap = faulty.ledger();
    assert_eq!(snap.total, 1);
    let rec = &snap.records[0];
    assert_eq!(
        (rec.kind, rec.connection, rec.direction.as_deref()),
        (FaultKind::ProxyReset, Some(1), Some("downstream"))
    );
    faulty.stop().await;
}

#[test]
fn a_proxy_section_is_validated_with_the_rest_of_the_scenario() {
    let text = scenario_text(
        "[proxy]\nlisten = \"10.1.2.3:80\"\n[[proxy.rule]]\nkind = \"drop\"\nrate = 1\n[[proxy.rule]]\nkind = \"proxy-bandwidth\"\nrate = 1\n",
    );
    let d = scenario::parse("p.toml", &text, &Overrides::default()).expect_err("refused");
    let d = d.to_string();
    assert!(d.contains("not a loopback address"), "{d}");
    assert!(d.contains("`drop` is a fault of the reference server"), "{d}");
    assert!(d.contains("needs `bytes_per_sec`"), "{d}");
    let ok =
        scenario_text("[proxy]\nseed = 4\n[[proxy.rule]]\nkind = \"proxy-reset\"\nrate = 0.5\n");
    let s = scenario::parse("p.toml", &ok, &Overrides::default()).expect("valid");
    let p = s.proxy.expect("the section");
    assert_eq!(
        (p.listen.to_string().as_str(), p.plan.seed, p.plan.rules.len()),
        ("127.0.0.1:0", 4, 1)
    );
}
