//! Plan parsing: every kind reads, and each bad plan gives its problem at file:line:col.

use std::time::Duration;

use super::*;

fn errors(text: &str) -> Vec<String> {
    match parse_plan("plan.toml", text) {
        Ok(plan) => panic!("expected errors, got {plan:?}"),
        Err(d) => d.iter().map(|d| d.to_string()).collect(),
    }
}

fn one_error(text: &str) -> String {
    let e = errors(text);
    assert_eq!(e.len(), 1, "{e:#?}");
    e.into_iter().next().unwrap_or_default()
}

#[test]
fn a_full_plan_reads() {
    let plan = parse_plan(
        "plan.toml",
        r#"
seed = 42
ledger_cap = 10

[[rule]]
kind = "drop"
rate = 0.5
operations = ["Consult", "customer"]
agents = ["agent-1*", "agents:consultants"]
media = ["chat"]

[[rule]]
kind = "delay"
delay = "100ms..300ms"
from = "10s"
for = "5s"
every = "30s"

[[rule]]
kind = "error"
rate = 1
status_code = 2
http_status = 503

[[rule]]
kind = "stall"
from = "1m"
for = "5s"
"#,
    )
    .expect("valid");
    assert_eq!(plan.seed, 42);
    assert_eq!(plan.ledger_cap, 10);
    assert_eq!(plan.rules.len(), 4);
    let drop = &plan.rules[0];
    assert_eq!(drop.kind(), FaultKind::Drop);
    assert_eq!(drop.rate, 0.5);
    assert_eq!(
        drop.select.operations,
        Some(vec![OpSelector::Operation(Capability::Consult), OpSelector::Customer])
    );
    assert!(drop.select.agent(Some("agent-12")));
    assert!(!drop.select.agent(Some("agent-2")));
    assert!(!drop.select.agent(None));
    assert_eq!(plan.populations(), ["consultants"]);
    let delay = &plan.rules[1];
    assert_eq!(delay.rate, 1.0, "a schedule alone means every event in the window");
    assert!(!delay.active(Duration::from_secs(9)));
    assert!(delay.active(Duration::from_secs(10)));
    assert!(!delay.active(Duration::from_secs(15)));
    assert!(delay.active(Duration::from_secs(41)));
    assert_eq!(plan.rules[2].action, Action::Error { status_code: 2, http_status: Some(503) });
    assert_eq!(
        plan.rules[3].schedule.and_then(|s| s.window(Duration::from_secs(62))).map(|w| w.0),
        Some(0)
    );
}

#[test]
fn every_kind_has_an_example_that_reads() {
    for kind in FaultKind::ALL {
        let extra = match kind {
            FaultKind::Delay => "delay = \"1s\"\nrate = 1.0",
            FaultKind::Latency | FaultKind::SlowCustomer => "latency = \"exp(20ms)\"\nrate = 1.0",
            FaultKind::Stall => "from = \"1s\"\nfor = \"2s\"",
            FaultKind::ProxyLatency => "latency = \"20ms\"\nrate = 1.0",
            FaultKind::ProxyStall => "hold = \"1s\"\nrate = 0.5",
            FaultKind::ProxyBandwidth => "bytes_per_sec = 1000\nrate = 1.0",
            _ => "rate = 1.0",
        };
        let text = format!("[[rule]]\nkind = \"{kind}\"\n{extra}\n");
        let parse = if kind.is_proxy() { parse_proxy_plan } else { parse_plan };
        let plan = parse("p.toml", &text).unwrap_or_else(|e| panic!("{kind}: {e}"));
        assert_eq!(plan.rules[0].kind(), *kind);
    }
}

#[test]
fn an_unknown_key_is_located_and_a_near_miss_suggested() {
    let e = one_error("[[rule]]\nkind = \"drop\"\nrate = 1.0\nagnets = [\"a\"]\n");
    assert!(e.starts_with("plan.toml:4:1: error: unknown key `agnets` in a fault rule"), "{e}");
    assert!(e.contains("did you mean `agents`?"), "{e}");
    let e = one_error("sed = 3\n");
    assert!(e.starts_with("plan.toml:1:1: error: unknown key `sed`"), "{e}");
}

#[test]
fn a_key_of_another_kind_says_so() {
    let e = one_error("[[rule]]\nkind = \"expire\"\nrate = 1.0\noperations = [\"Accept\"]\n");
    assert!(
        e.contains("plan.toml:4:1: error: `operations` does not apply to `expire` faults"),
        "{e}"
    );
}

#[test]
fn a_rate_above_one_is_refused_at_its_value() {
    let e = one_error("[[rule]]\nkind = \"drop\"\nrate = 1.5\n");
    assert!(e.starts_with("plan.toml:3:8: error: `rate` is 1.5, outside 0..1"), "{e}");
}

#[test]
fn a_bad_duration_is_refused_at_its_value() {
    let e = one_error("[[rule]]\nkind = \"delay\"\nrate = 1.0\ndelay = \"5 parsecs\"\n");
    assert!(e.starts_with("plan.toml:4:9: error: `delay`:"), "{e}");
    let e = one_error("[[rule]]\nkind = \"drop\"\nfrom = \"10\"\n");
    assert!(e.starts_with("plan.toml:3:8: error: `from`: `10` has a number without a unit"), "{e}");
}

#[test]
fn every_problem_is_reported_at_once() {
    let e = errors(
        "[[rule]]\nkind = \"dropp\"\nrate = 2\n\n[[rule]]\nkind = \"latency\"\nrate = 1.0\nmedia = [\"fax\"]\n",
    );
    assert_eq!(e.len(), 4, "{e:#?}");
    assert!(e[0].contains("2:8: error: `dropp` is not a kind of fault"), "{e:#?}");
    assert!(e[0].contains("did you mean `drop`?"), "{e:#?}");
    assert!(e[1].contains("3:8: error: `rate` is 2"), "{e:#?}");
    assert!(e[2].contains("5:1: error: a `latency` rule needs `latency`"), "{e:#?}");
    assert!(e[3].contains("8:10: error: `fax` is not a media"), "{e:#?}");
}

#[test]
fn schedules_and_stalls_are_checked() {
    let e = one_error("[[rule]]\nkind = \"drop\"\nfrom = \"1s\"\nevery = \"10s\"\n");
    assert!(e.contains("`every` without `for`"), "{e}");
    let e = one_error("[[rule]]\nkind = \"stall\"\nrate = 0.5\nfor = \"1s\"\n");
    assert!(e.contains("a `stall` takes no `rate`"), "{e}");
    let e = one_error("[[rule]]\nkind = \"stall\"\nfrom = \"1s\"\n");
    assert!(e.contains("a `stall` needs `for`"), "{e}");
    let e = one_error("[[rule]]\nkind = \"drop\"\n");
    assert!(e.contains("neither a `rate` nor a schedule"), "{e}");
    let e = one_error("[[rule]]\nkind = \"drop\"\nrate = 1\noperations = [\"Consul\"]\n");
    assert!(e.contains("4:15: error: `Consul` is not an operation"), "{e}");
    assert!(e.contains("did you mean `Consult`?"), "{e}");
}

#[test]
fn not_toml_is_one_located_error() {
    let e = one_error("[[rule]\nkind = 1\n");
    assert!(e.starts_with("plan.toml:1:"), "{e}");
    assert!(e.contains("this is not valid TOML"), "{e}");
}

#[test]
fn windows_repeat_and_close() {
    let s = Schedule {
        from: Duration::from_secs(10),
        length: Some(Duration::from_secs(2)),
        every: Some(Duration::from_secs(5)),
    };
    let at = |secs: f64| s.window(Duration::from_secs_f64(secs)).map(|w| w.0);
    assert_eq!(at(9.9), None);
    assert_eq!(at(10.0), Some(0));
    assert_eq!(at(11.9), Some(0));
    assert_eq!(at(12.0), None);
    assert_eq!(at(15.5), Some(1));
    assert_eq!(at(17.5), None);
}

#[test]
fn globs_match_usernames() {
    let g = |p: &str, u: &str| AgentPattern::Glob(p.into()).matches(u);
    assert!(g("agent-*", "agent-1"));
    assert!(g("agent-?", "agent-1"));
    assert!(!g("agent-?", "agent-10"));
    assert!(g("*-1*", "agent-12"));
    assert!(g("agent-1", "agent-1"));
    assert!(!g("agent-1", "agent-12"));
    assert!(!AgentPattern::Population("x".into()).matches("x"));
}

#[test]
fn populations_resolve_to_globs() {
    let mut plan = parse_plan(
        "p",
        "[[rule]]\nkind = \"drop\"\nrate = 1\nagents = [\"agents:c\", \"agents:d\"]\n",
    )
    .expect("valid");
    let unresolved =
        plan.resolve_populations(|n| (n == "c").then(|| vec!["consultant-*".to_owned()]));
    assert_eq!(unresolved, ["d"]);
    assert!(plan.rules[0].select.agent(Some("consultant-3")));
}

#[test]
fn every_example_of_the_documentation_reads() {
    let doc = include_str!("../../../docs/faults.md");
    // Its last part is a scenario's `[chaos]` section, not a fault plan.
    let doc = doc.split("## Client-side chaos").next().unwrap_or(doc);
    let blocks: Vec<&str> =
        doc.split("```toml\n").skip(1).filter_map(|b| b.split("```").next()).collect();
    assert!(blocks.len() >= 16, "found {} examples", blocks.len());
    let mut kinds = Vec::new();
    for block in blocks {
        // The proxy's examples are proxy plans (`gwsim proxy --faults`, a scenario's [proxy]).
        let parse = if block.contains("kind = \"proxy-") { parse_proxy_plan } else { parse_plan };
        let plan = parse("docs/faults.md", block).unwrap_or_else(|e| panic!("{e}\n{block}"));
        kinds.extend(plan.rules.iter().map(FaultRule::kind));
    }
    for kind in FaultKind::ALL {
        assert!(kinds.contains(kind), "docs/faults.md has no example of `{kind}`");
    }
}

#[test]
fn client_side_kinds_are_not_for_plans() {
    // `[chaos]` does these in the simulator; a plan naming one is refused like an unknown kind.
    for kind in FaultKind::CLIENT {
        let e = one_error(&format!("[[rule]]\nkind = \"{kind}\"\nrate = 1.0\n"));
        assert!(e.contains(&format!("`{kind}` is not a kind of fault")), "{e}");
        assert_eq!(FaultKind::parse(kind.as_str()), Some(*kind), "a ledger read back names it");
    }
}
