//! Each notification fault kind at rate 1.0 on a small consult scenario, on both transports and
//! both media, joined with the fault ledger: recall and precision per kind (issue 8). The cases
//! run concurrently, a few at a time, to keep the test short. A clean run and a latency-only run
//! report no violation.
//!
//! The scenario exercises every cross-participant check: customer messages while a consultant
//! is in the chat, the primary's SendMessage (owed to the customer and the consultant), a
//! SendToAgents each way and the consultant's SendMessage (owed to the other agent, never to the
//! customer), a consult invitation, a removal. Two more drop cases take the customers' chats
//! away from the agents: `drop-routing` drops every invitation routing makes (and the Revoked of
//! each timeout: nobody ever hears of the chats, which only the customers' `never-offered`
//! finds), `drop-invite` the invitations made when a chat is requested (the Revoked of the
//! timeout then reaches the agent, which had never been invited: `unexpected`).

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use gwsim::app::{RunOptions, execute};
use gwsim::faults::FaultKind;
use gwsim::report::faults::FaultsReport;
use gwsim::scenario::{self, Overrides};
use gwsim::vocab::Transport;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

/// The rules of one case's `[faults]` section, by name.
fn rules(case: &str) -> &'static str {
    match case {
        // Agents' operations are faulted for all, and the customer's messages for the
        // consultants (the invitations are the next two cases').
        "drop" => {
            r#"[[faults.rule]]
kind = "drop"
rate = 1.0
operations = ["Accept", "SendMessage", "Consult", "SendToAgents", "RemoveParticipantFromConference", "Complete"]
[[faults.rule]]
kind = "drop"
rate = 1.0
operations = ["customer"]
agents = ["spec-*"]
"#
        }
        "drop-routing" => {
            "[[faults.rule]]\nkind = \"drop\"\nrate = 1.0\noperations = [\"routing\"]\n"
        }
        "drop-invite" => {
            "[[faults.rule]]\nkind = \"drop\"\nrate = 1.0\noperations = [\"customer\"]\nagents = [\"front-*\"]\n"
        }
        "duplicate" => "[[faults.rule]]\nkind = \"duplicate\"\nrate = 1.0\n",
        "swap" => "[[faults.rule]]\nkind = \"swap\"\nrate = 1.0\n",
        "delay" => "[[faults.rule]]\nkind = \"delay\"\ndelay = \"200ms..2s\"\nrate = 1.0\n",
        "late" => "[[faults.rule]]\nkind = \"late\"\nrate = 1.0\n",
        "index-regression" => "[[faults.rule]]\nkind = \"index-regression\"\nrate = 1.0\n",
        "leak" => "[[faults.rule]]\nkind = \"leak\"\nrate = 1.0\n",
        "latency" => "[[faults.rule]]\nkind = \"latency\"\nlatency = \"20ms\"\nrate = 1.0\n",
        _ => "",
    }
}

fn scenario_text(case: &str, media: &str) -> String {
    let channels = if media == "facebook" { "channels = [\"facebook\"]" } else { "" };
    let faults = rules(case);
    let faults = if faults.is_empty() { String::new() } else { format!("[faults]\n{faults}") };
    // A short invitation timeout: an invitation nobody heard of comes back within the run.
    // (`[chaos]` needs a rule: a pause that never comes.)
    let chaos = if case.starts_with("drop-") {
        "[chaos]\ninvite_timeout = \"1s\"\n[[chaos.rule]]\nkind = \"slow-consumer\"\nfrom = \"1h\"\npause = \"1s\"\n"
    } else {
        ""
    };
    // Dropping the customer's notifications to the agents that take its chat would drop its
    // texts too, and one that reaches an agent already completing is owed to nobody: the
    // customers of `drop-invite` only wait for their chat to be served.
    let messages = if case == "drop-invite" { 0 } else { 3 };
    format!(
        r#"name = "kinds-{case}-{media}"
[target]
kind = "embedded"
media = "{media}"
[run]
duration = "3s"
drain = "15s"
seed = 8
[[agents]]
name = "frontline"
count = 3
username = "front-{{n}}"
{channels}
flow = "consult"
[[agents]]
name = "specialist"
count = 2
username = "spec-{{n}}"
{channels}
consult_flow = "answer-consult"
readiness = "not-ready"
[customers]
arrival = {{ rate = "2/s" }}
messages = {{ count = {messages}, think = "700ms", text = "Hello" }}
[flows.consult]
steps = [
  {{ op = "Accept" }},
  {{ op = "SendMessage", text = "Hi" }},
  {{ op = "Consult", target = "agents:specialist" }},
  {{ await = "consultant-joined", timeout = "5s" }},
  {{ op = "SendToAgents", text = "Internal" }},
  {{ await = "agent-message", timeout = "5s" }},
  {{ think = "1s" }},
  {{ op = "RemoveParticipantFromConference", target = "consultant" }},
  {{ think = "300ms" }},
  {{ op = "SendMessage", text = "Bye" }},
  {{ op = "Complete" }},
]
[flows.answer-consult]
steps = [
  {{ op = "Accept" }},
  {{ op = "SendToAgents", text = "Answer" }},
  {{ op = "SendMessage", text = "Consultant here" }},
  {{ await = "removed", timeout = "10s" }},
]
{chaos}{faults}"#
    )
}

/// One case's outcome: its violations and, with `[faults]`, the join.
#[derive(Debug)]
struct Case {
    name: String,
    violations: u64,
    faults: Option<FaultsReport>,
}

async fn run_case(case: &'static str, media: &'static str, transport: Transport) -> Case {
    let dir = tempfile::tempdir().expect("tempdir");
    let keep = std::env::var_os("GWSIM_KINDS_KEEP");
    let scenario_dir = tempfile::tempdir().expect("tempdir");
    let path = scenario_dir.path().join("s.toml");
    std::fs::write(&path, scenario_text(case, media)).expect("write scenario");
    let overrides = Overrides { transport: Some(transport), ..Overrides::default() };
    let s = scenario::load(Path::new(&path), &overrides)
        .unwrap_or_else(|d| panic!("{case} {media} does not validate:\n{d}"));
    let options = RunOptions { poll_interval: Duration::from_millis(200), ..RunOptions::default() };
    let done = execute(s, &options, CancellationToken::new(), Some(dir.path()))
        .await
        .unwrap_or_else(|e| panic!("{case} {media} {transport}: {e:#}"));
    // Evidence for a failure: the run's ledger.jsonl and violations.jsonl, kept on request.
    if let Some(base) = keep {
        let to = Path::new(&base).join(format!("{case}-{media}-{transport}"));
        let _ = std::fs::remove_dir_all(&to);
        std::fs::rename(dir.keep(), &to).expect("keep the results");
    }
    Case {
        name: format!("{case} {media} {transport}"),
        violations: done.report.violations.total,
        faults: done.report.faults.clone(),
    }
}

fn table(cases: &[Case]) -> String {
    let mut out = String::new();
    for c in cases {
        out.push_str(&format!("{:<40} violations {:>4}", c.name, c.violations));
        if let Some(f) = &c.faults {
            for k in &f.kinds {
                out.push_str(&format!(
                    "  {} records {} unobservable {} found {} recall {:?} precision {:?}",
                    k.kind, k.records, k.unobservable, k.found, k.recall, k.precision
                ));
            }
            out.push_str(&format!(
                "  missed {} unexplained {}",
                f.missed_total, f.unexplained_total
            ));
            // What a miss was, to join by hand with the run's ledger and violations.
            for r in &f.missed {
                out.push_str(&format!(
                    "\n    missed #{} {} {:?} {:?} {:?} ordinal {:?}: {}",
                    r.seq, r.kind, r.agent, r.interaction, r.notification, r.ordinal, r.detail
                ));
            }
        }
        out.push('\n');
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_notification_fault_kind_is_found_on_both_transports_and_media() {
    const CASES: &[&str] = &[
        "drop",
        "drop-routing",
        "drop-invite",
        "duplicate",
        "swap",
        "delay",
        "late",
        "index-regression",
        "leak",
        "clean",
        "latency",
    ];
    // Six runs at a time: enough to finish in about a minute, few enough that the runs' own
    // timeouts (seconds) are never reached by a starved generator.
    let gate = Arc::new(Semaphore::new(6));
    let mut set = tokio::task::JoinSet::new();
    // `GWSIM_KINDS=leak,delay` runs only those cases (to reproduce one kind's failure).
    let only = std::env::var("GWSIM_KINDS").ok().filter(|k| !k.is_empty());
    let wanted = |case: &str| only.as_deref().is_none_or(|o| o.split(',').any(|k| k == case));
    for case in CASES.iter().filter(|c| wanted(c)) {
        for media in ["chat", "facebook"] {
            for transport in [Transport::Websocket, Transport::LongPolling] {
                let gate = gate.clone();
                set.spawn(async move {
                    let _permit = gate.acquire_owned().await.expect("gate");
                    (case, run_case(case, media, transport).await)
                });
            }
        }
    }
    let mut results = Vec::new();
    while let Some(r) = set.join_next().await {
        results.push(r.expect("case task"));
    }
    results.sort_by(|a, b| a.1.name.cmp(&b.1.name));
    let all: Vec<Case> = results.into_iter().map(|(_, c)| c).collect();
    let shown = table(&all);
    eprintln!("{shown}");
    for c in &all {
        let case = c.name.split(' ').next().unwrap_or_default();
        let kind_name = case.split('-').next().unwrap_or_default();
        let kind_name = if kind_name == "index" { case } else { kind_name };
        if kind_name == "clean" || kind_name == "latency" {
            assert_eq!(c.violations, 0, "{}: no fault, no violation\n{shown}", c.name);
            continue;
        }
        let f = c.faults.as_ref().unwrap_or_else(|| panic!("{}: a fault section", c.name));
        let kind = FaultKind::parse(kind_name).unwrap_or_else(|| panic!("{kind_name}"));
        let k = f.kind(kind).unwrap_or_else(|| panic!("{}: {kind} injected\n{shown}", c.name));
        assert!(k.records > 0, "{}: the rule fired", c.name);
        assert_eq!(k.precision, Some(1.0), "{}: every violation explained\n{shown}", c.name);
        assert_eq!(f.unexplained_total, 0, "{}\n{shown}", c.name);
        // A delay counts only when overtaken in an order the protocol promises (the others are
        // unobservable, docs/faults.md); every other kind's records are all observable.
        assert_eq!(k.recall, Some(1.0), "{}: every fault found\n{shown}", c.name);
    }
}
