//! Scenario loader tests: every shipped scenario validates, bad files give every diagnostic at
//! once with the right positions, and nothing panics on arbitrary input.

use std::path::PathBuf;
use std::time::Duration;

use proptest::prelude::*;

use super::*;
use crate::gws::model::Media;
use crate::gws::states::Capability;
use crate::vocab::*;

/// Most tests judge the file alone; these shadow the glob-imported `parse` and `load`.
fn parse(file: &str, text: &str) -> Result<Scenario, Diagnostics> {
    super::parse(file, text, &Overrides::default())
}

fn load(path: impl AsRef<std::path::Path>) -> Result<Scenario, Diagnostics> {
    super::load(path, &Overrides::default())
}

fn scenarios_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scenarios")
}

/// Asserts that `text` fails with exactly these diagnostics, in order: (line, col, a fragment of
/// the message).
#[track_caller]
fn check(text: &str, expected: &[(u32, u32, &str)]) {
    assert_diagnostics(parse("t.toml", text), expected);
}

/// Asserts that `result` failed with exactly these diagnostics, in order.
#[track_caller]
fn assert_diagnostics(result: Result<Scenario, Diagnostics>, expected: &[(u32, u32, &str)]) {
    let diags = match result {
        Ok(_) => panic!("expected {} diagnostics, the scenario validated", expected.len()),
        Err(d) => d,
    };
    let got: Vec<(u32, u32, String)> =
        diags.iter().map(|d| (d.line, d.col, d.message.clone())).collect();
    assert_eq!(got.len(), expected.len(), "diagnostics:\n{diags}");
    for ((gl, gc, gm), (el, ec, em)) in got.iter().zip(expected) {
        assert!(
            (*gl, *gc) == (*el, *ec) && gm.contains(em),
            "expected {el}:{ec} `{em}`, got {gl}:{gc} `{gm}`\nall diagnostics:\n{diags}"
        );
    }
}

/// A valid scenario to build small bad ones from: `extra` goes at the end.
fn with(extra: &str) -> String {
    format!(
        r#"name = "t"
[run]
duration = "10s"
[[agents]]
name = "a"
count = 2
flow = "f"
[flows.f]
steps = [ {{ op = "Accept" }}, {{ op = "Complete" }} ]
{extra}"#
    )
}

#[test]
fn every_shipped_scenario_validates_and_says_what_it_is() {
    let mut names = Vec::new();
    for entry in std::fs::read_dir(scenarios_dir()).expect("scenarios/ exists") {
        let path = entry.expect("readable entry").path();
        if path.extension().and_then(|e| e.to_str()) != Some("toml") {
            continue;
        }
        let scenario =
            load(&path).unwrap_or_else(|d| panic!("{} does not validate:\n{d}", path.display()));
        let text = std::fs::read_to_string(&path).expect("readable");
        assert!(
            text.lines().take_while(|l| l.starts_with('#')).count() >= 5,
            "{} must start with a comment block saying what it exercises and how to run it",
            path.display()
        );
        assert!(text.contains("gwsim run scenarios/"), "{} says how to run it", path.display());
        assert_eq!(path.file_stem().and_then(|s| s.to_str()), Some(scenario.name.as_str()));
        names.push(scenario.name);
    }
    names.sort();
    for required in [
        "consult-remove-leave",
        "customer-surge",
        "facebook-consult",
        "soak",
        "transfer-and-conference",
    ] {
        assert!(names.iter().any(|n| n == required), "scenarios/{required}.toml is missing");
    }
}

#[test]
fn the_main_scenario_resolves_as_written() {
    let s = load(scenarios_dir().join("consult-remove-leave.toml")).expect("valid");
    assert_eq!(
        s.target,
        Target { kind: TargetKind::Embedded, transport: Transport::Websocket, media: Media::Chat }
    );
    assert_eq!(s.run.duration, Duration::from_secs(50));
    assert_eq!(s.run.warmup, Duration::from_secs(5));
    assert_eq!(s.run.drain, Duration::from_secs(10));
    assert_eq!(s.run.seed, 42);
    let front = &s.agents[0];
    assert_eq!(front.usernames().take(2).collect::<Vec<_>>(), ["frontline-1", "frontline-2"]);
    assert_eq!(front.password, PasswordSource::Generated);
    let spec = &s.agents[1];
    assert_eq!(spec.readiness, Readiness::NotReady);
    assert_eq!(spec.flow_for_consult(), Some("answer-consult"));
    let flow = &s.flows["consult-remove-leave"];
    assert!(matches!(&flow.steps[3], Step::Op(o) if o.op == Capability::Consult
        && o.target == Some(TargetRef::Agents("specialist".into()))));
    assert!(
        matches!(flow.steps[4], Step::Await { event: AwaitEvent::ConsultantJoined, timeout } if timeout == Duration::from_secs(10))
    );
    assert_eq!(s.plan.segments.len(), 1);
    assert_eq!(s.plan.spacing, Spacing::Poisson);
    assert_eq!(
        s.thresholds[0].metric,
        Metric::Op(OpName::Flow(Capability::Consult), OpMetric::Settle)
    );
    assert_eq!(s.thresholds[0].limit, Limit::Latency(Duration::from_millis(500)));
}

const BAD: &str = r#"name = "bad"
colour = "blue"

[target]
kind = "embedded"

[run]
duration = "10s"
warmup = "20s"

[[agents]]
name = "frontline"
count = 0
password = "hunter2"
flow = "no-such-flow"

[[agents]]
name = "typed"
count = "ten"
flow = "main"

[flows.main]
steps = [
  { op = "Acept" },
  { op = "Consult", target = "agents:nobody" },
  { op = "SendMessage" },
]

[[thresholds]]
metric = "Consult.setle"
p99 = "1s"
"#;

#[test]
fn a_bad_file_yields_every_diagnostic_at_once() {
    check(
        BAD,
        &[
            (2, 1, "unknown key `colour`"),
            (9, 10, "`warmup` (20s) is not shorter than `duration` (10s)"),
            (13, 9, "`count` is 0, but it must be at least 1"),
            (14, 12, "a password must not be written in the scenario file"),
            (15, 8, "names flow `no-such-flow`, which does not exist"),
            (19, 9, "wrong type: expected a whole number here, found string \"ten\""),
            (24, 10, "`Acept` is not an operation"),
            (25, 30, "names population `nobody`, which does not exist"),
            (26, 10, "`SendMessage` needs `text`"),
            (30, 10, "`setle` in `Consult.setle` is not a per-operation metric"),
        ],
    );
}

#[test]
fn diagnostics_display_as_file_line_col_with_help() {
    let d = parse("bad.toml", BAD).unwrap_err();
    let text = d.to_string();
    assert!(
        text.starts_with(
            "bad.toml:2:1: error: unknown key `colour` at the top of the file\n    help: "
        ),
        "{text}"
    );
    assert!(text.contains("bad.toml:24:10: error: `Acept` is not an operation of the GWS chat or Facebook API\n    help: did you mean `Accept`?"), "{text}");
    assert!(text.contains("help: scenario files are shared and copied into results; write `password = { env = \"GWS_PASSWORD\" }`"));
    assert_eq!(text.lines().filter(|l| l.contains(": error: ")).count(), d.len());
}

#[test]
fn toml_syntax_errors_are_one_diagnostic_with_a_position() {
    check("name = \"x\"\n[run\nduration = \"1s\"\n", &[(2, 5, "this is not valid TOML")]);
    check("name = \"unterminated\n", &[(1, 21, "this is not valid TOML")]);
    let d = parse("t.toml", "name = x\n").unwrap_err();
    assert_eq!(d.0[0].message, "this is not valid TOML: invalid string: expected `\"`, `'`");
    assert_eq!(
        d.0[0].help.as_deref(),
        Some("text values need double quotes: name = \"my-scenario\"")
    );
    let d = parse("t.toml", "a = { b = 1,\n c = 2 }\n").unwrap_err();
    assert!(d.0[0].help.as_deref().is_some_and(|h| h.contains("must be on one line")), "{d}");
}

#[test]
fn missing_sections_are_reported_together() {
    check(
        "",
        &[(1, 1, "no `name`"), (1, 1, "no [run] section"), (1, 1, "no flows"), (1, 1, "no agents")],
    );
}

#[test]
fn password_files_are_relative_to_the_scenario() {
    let dir = std::env::temp_dir().join(format!("gwsim-scenario-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("s.toml");
    let text = with("").replace("flow = \"f\"", "flow = \"f\"\npassword = { file = \"pw.txt\" }");
    std::fs::write(&path, text).unwrap();
    std::fs::write(dir.join("pw.txt"), "pw\n").unwrap();
    let s = load(&path).expect("valid");
    assert_eq!(s.agents[0].password, PasswordSource::File(dir.join("pw.txt")));
    assert_eq!(s.agents[0].password.resolve().unwrap().expose(), "pw");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn unreadable_files_are_a_diagnostic_not_a_panic() {
    let d = load(scenarios_dir().join("does-not-exist.toml")).unwrap_err();
    assert_eq!(d.len(), 1);
    assert!(d.to_string().contains("does-not-exist.toml: error: cannot read the scenario file"));
}

#[test]
fn unknown_keys_everywhere_suggest_the_right_one() {
    let text = with(
        "[customers]\narival = { rate = \"1/s\" }\n[[thresholds]]\nmetric = \"errors\"\nmax = 0\nmaxx = 1\n",
    );
    let d = parse("t.toml", &text).unwrap_err();
    assert_eq!(d.len(), 2, "{d}");
    assert_eq!((d.0[0].line, d.0[0].col), (11, 1));
    assert_eq!(d.0[0].message, "unknown key `arival`");
    assert!(d.0[0].help.as_deref().unwrap_or("").starts_with("did you mean `arrival`?"));
    assert_eq!((d.0[1].line, d.0[1].col), (15, 1));
    assert!(d.0[1].help.as_deref().unwrap_or("").starts_with("did you mean `max`?"));
}

#[test]
fn run_rules() {
    check(
        "name = \"t\"\n[run]\nduration = \"0s\"\ndrain = \"5\"\nseed = -1\n[[agents]]\nname = \"a\"\ncount = 1\nflow = \"f\"\n[flows.f]\nsteps = [ { op = \"Accept\" } ]\n",
        &[
            (3, 12, "`duration` is zero"),
            (4, 9, "`drain`: `5` has a number without a unit"),
            (5, 8, "`seed` is -1"),
        ],
    );
    check(
        &with("").replace("duration = \"10s\"", "duration = \"10 parsecs\""),
        &[(3, 12, "`parsecs` in `10 parsecs` is not a time unit")],
    );
}

#[test]
fn remote_target_rules() {
    let remote = |extra: &str| {
        with("").replace("[run]", &format!("[target]\nkind = \"remote\"\n{extra}\n[run]"))
    };
    check(
        &remote("base_url = \"https://gws.example.com\""),
        &[(4, 12, "is not on this machine"), (7, 1, "population `a` has no password")],
    );
    check(
        &remote("base_url = \"ftp://127.0.0.1\""),
        &[(4, 12, "must start with http:// or https://"), (7, 1, "no password")],
    );
    check(&remote(""), &[(2, 2, "missing `base_url`"), (7, 1, "no password")]);
    let ok =
        remote("base_url = \"https://gws.example.com:8443/\"\nallow_remote = true\ncsrf = false")
            .replace("flow = \"f\"", "flow = \"f\"\npassword = { env = \"GWS_PASSWORD\" }");
    let s = parse("t.toml", &ok).expect("valid");
    let TargetKind::Remote(r) = &s.target.kind else { panic!("remote") };
    assert_eq!(r.base_url, "https://gws.example.com:8443");
    assert!(!r.csrf && r.customer_api && !r.accept_invalid_certs);
    assert_eq!(s.target.transport, Transport::LongPolling, "remote defaults to long-polling");
    let json = serde_json::to_value(&s.target).unwrap();
    assert_eq!(
        json,
        serde_json::json!({
            "kind": "remote", "base_url": "https://gws.example.com:8443", "allow_remote": true,
            "accept_invalid_certs": false, "csrf": false, "contact_center_id": null,
            "customer_api": true, "transport": "long-polling", "media": "chat"
        })
    );
    // Customers on a remote chat target need the ContactCenterId.
    let with_customers = format!("{ok}[customers]\narrival = {{ rate = \"1/s\" }}\n");
    let d = parse("t.toml", &with_customers).unwrap_err();
    assert_eq!(d.len(), 1);
    assert!(d.0[0].message.contains("contact_center_id"), "{d}");
    // Loopback needs no confirmation.
    let local = remote("base_url = \"http://[::1]:8090\"")
        .replace("flow = \"f\"", "flow = \"f\"\npassword = { file = \"pw.txt\" }");
    assert!(parse("t.toml", &local).is_ok());
    // Remote-only keys on an embedded target.
    check(
        &with("").replace("[run]", "[target]\ncsrf = true\n[run]"),
        &[(3, 8, "`csrf` applies only to remote targets")],
    );
}

#[test]
fn password_rules_and_redaction() {
    let base = with("");
    check(
        &base.replace("flow = \"f\"", "flow = \"f\"\npassword = { env = \"1BAD\" }"),
        &[(8, 20, "is not an environment variable name")],
    );
    check(
        &base.replace("flow = \"f\"", "flow = \"f\"\npassword = { env = \"A\", file = \"b\" }"),
        &[(8, 20, "not both")],
    );
    check(
        &base.replace("flow = \"f\"", "flow = \"f\"\npassword = {}"),
        &[(8, 12, "names no source")],
    );
    check(
        &base.replace("flow = \"f\"", "flow = \"f\"\npassword = { vault = \"x\" }"),
        &[(8, 14, "unknown key `vault`")],
    );
    let s = parse(
        "t.toml",
        &base.replace("flow = \"f\"", "flow = \"f\"\npassword = { env = \"GWSIM_TEST_PW\" }"),
    )
    .unwrap();
    let json = serde_json::to_string(&s).unwrap();
    assert!(json.contains(r#""password":{"env":"GWSIM_TEST_PW"}"#), "{json}");
}

#[test]
fn population_rules() {
    let text = r#"name = "t"
[run]
duration = "10s"
[[agents]]
name = "a"
count = 3
username = "same"
flow = "f"
[[agents]]
name = "b"
count = 1
username = "a-{n}-{x}"
flow = "f"
readiness = "sometimes"
channels = ["email"]
[[agents]]
name = "a"
count = 1
flow = "f"
[[agents]]
name = "c"
count = 2000000
consult_flow = "f"
[[agents]]
name = "d"
count = 1
readiness = { ready = "1m" }
flow = "f"
[flows.f]
steps = [ { op = "Accept" } ]
"#;
    check(
        text,
        &[
            (7, 12, "has no {n}, so all agents of the population would share one login"),
            (12, 12, "has a placeholder other than {n}"),
            (14, 13, "`sometimes` is not a valid readiness"),
            (15, 13, "`email` is not a valid channel"),
            (17, 8, "a population named `a` is already defined on line 5"),
            (22, 9, "`count` is 2000000, more than the 1000000 gwsim accepts"),
            (27, 13, "a readiness cycle needs both `ready` and `not_ready`"),
        ],
    );
    // Ready agents without a flow would be offered chats they cannot handle.
    check(
        &with("[[agents]]\nname = \"s\"\ncount = 1\nconsult_flow = \"f\"\n"),
        &[(10, 1, "becomes Ready")],
    );
    // Too many to enumerate: identical patterns with overlapping numbers still collide.
    check(
        &with(
            "[[agents]]\nname = \"b\"\ncount = 150000\nusername = \"x-{n}\"\nflow = \"f\"\n[[agents]]\nname = \"c\"\ncount = 150000\nusername = \"x-{n}\"\nfirst = 149000\nflow = \"f\"\n",
        ),
        &[(16, 8, "populations `b` and `c` would log in with the same names (`x-{n}`)")],
    );
    // Two populations rendering the same login.
    check(
        &with("[[agents]]\nname = \"b\"\ncount = 1\nusername = \"a-2\"\nflow = \"f\"\n"),
        &[(11, 8, "populations `a` and `b` would both log in as `a-2`")],
    );
}

#[test]
fn flow_rules() {
    let text = with(
        r#"[flows.g]
steps = [
  { op = "Accept", timeout = "1s" },
  { op = "Consult", target = "consultant" },
  { think = "2s..1s" },
  { await = "nothing-happened", timeout = "5s" },
  { await = "completed" },
  { op = "SendMessage", text = "hi", url = "x" },
  { think = "1s", op = "Leave" },
  { op = "Transfer", target = "friends:all" },
]
[flows.h]
steps = []
[flows.i]
steps = [
  { op = "RemoveParticipantFromConference", target = "consultant" },
  { await = "consultant-joined", timeout = "5s" },
  { op = "AddComment", comment = "c" },
  { op = "Invite", target = "queue:q" },
  { op = "SetDisposition" },
  { op = "Complete", queue = "" },
  { op = "Consult" },
  { op = "Leave" },
]
"#,
    );
    check(
        &text,
        &[
            (12, 30, "`Accept` takes no `timeout`"),
            (13, 30, "`Consult` cannot target `consultant`"),
            (14, 13, "`think`: `2s..1s` starts above where it ends"),
            (15, 13, "`nothing-happened` is not a valid event to await"),
            (16, 13, "an await step needs a `timeout`"),
            (17, 10, "this step comes after awaiting `completed`"),
            (17, 44, "`SendMessage` has no parameter `url`"),
            (18, 3, "this step has `op` and `think`"),
            (19, 31, "`friends:all` is not a target"),
            (21, 8, "flow `h` has no steps"),
            (25, 10, "so its first operation must be `Accept` or `Reject`"),
            (25, 54, "target `consultant` is used before any Consult or Invite step"),
            (26, 13, "`consultant-joined` is awaited before any Consult or Invite step"),
            (27, 10, "`AddComment` exists only for Facebook sessions"),
            (28, 29, "`Invite` cannot target a queue here"),
            (29, 10, "`SetDisposition` needs `disposition`"),
            (30, 30, "`queue` is empty"),
            (31, 10, "this step comes after `Complete`"),
            (31, 10, "`Consult` needs `target`"),
        ],
    );
}

#[test]
fn consulted_agents_run_flows_a_consultant_can_do() {
    let text = r#"name = "t"
[run]
duration = "10s"
[[agents]]
name = "a"
count = 2
flow = "main"
[[agents]]
name = "b"
count = 1
readiness = "not-ready"
consult_flow = "helper"
[flows.main]
steps = [ { op = "Accept" }, { op = "Consult", target = "agents:b" }, { op = "Consult", target = "agents:a" } ]
[flows.helper]
steps = [ { think = "1s" }, { op = "Accept" }, { op = "SendUrl", url = "https://x" } ]
"#;
    // b's consult flow pushes a URL; a's own flow (used for consults too) consults again.
    check(
        text,
        &[
            (14, 57, "`SendUrl` is not something a consultant can do"),
            (14, 98, "`Consult` is not something a consultant can do"),
        ],
    );
    check(
        &with("[flows.w]\nsteps = [ { await = \"invited\", timeout = \"1s\" } ]\n"),
        &[(11, 21, "its first operation must be `Accept` or `Reject`")],
    );
}

#[test]
fn flows_may_be_an_inline_table_but_not_empty() {
    let top = "name = \"t\"\n{flows}\n[run]\nduration = \"1s\"\n[[agents]]\nname = \"a\"\ncount = 1\nflow = \"f\"\n";
    let inline = top.replace("{flows}", "flows = { f = { steps = [ { op = \"Accept\" } ] } }");
    let s = parse("t.toml", &inline).unwrap_or_else(|d| panic!("{d}"));
    assert_eq!(s.flows.len(), 1);
    check(
        &top.replace("{flows}", "flows = {}"),
        &[(2, 1, "`flows` is empty"), (8, 8, "names flow `f`, which does not exist")],
    );
}

#[test]
fn customer_and_arrival_rules() {
    let c = |body: &str| with(&format!("[customers]\n{body}\n"));
    check(
        &c("arrival = { rate = \"5/s\", concurrency = 3 }"),
        &[(11, 20, "mixes several shapes (rate, concurrency)")],
    );
    check(&c("arrival = { from = \"1/s\", to = \"9/s\" }"), &[(11, 20, "missing `over`")]);
    check(
        &c("arrival = { rate = \"5 per second\" }"),
        &[(11, 20, "`rate`: `5 per second` is not a rate")],
    );
    check(&c("arrival = { concurrency = 0 }"), &[(11, 27, "`concurrency` is 0")]);
    check(
        &c("arrival = { concurrency = 5 }\nmax_active = 10"),
        &[(12, 14, "`max_active` applies only to open arrivals")],
    );
    check(
        &c("arrival = { rate = \"5/s\", spacing = \"bursty\" }"),
        &[(11, 37, "`bursty` is not a valid spacing")],
    );
    check(
        &c("arrival = { rate = \"1/s\" }\nmessages = { count = 2, pace = \"opne\" }"),
        &[(12, 32, "`opne` is not a valid message `pace`")],
    );
    check(
        &c("arrival = { from = \"1/s\", to = \"9/s\", over = \"1m\" }"),
        &[(11, 20, "the arrival shape lasts 1m but the run is only 10s long")],
    );
    check(
        &c("arrival = { stages = [ { rate = \"1/s\" }, { to = \"2/s\", over = \"0s\" } ] }"),
        &[(11, 33, "this stage is neither a hold nor a ramp"), (11, 63, "stage `over` is zero")],
    );
    check(&c("arrival = { stages = [] }"), &[(11, 22, "`stages` is empty")]);
    check(&c("max_active = 5"), &[(10, 2, "missing `arrival`")]);
    check(
        &c("arrival = { rate = \"1/s\" }\nabandon = { probability = 1.5, after = \"1s\" }"),
        &[(12, 27, "a probability is between 0 and 1")],
    );
    check(
        &c("arrival = { rate = \"1/s\" }\nmessages = { count = \"3..1\" }"),
        &[(12, 22, "message `count`: `3..1` starts above where it ends")],
    );
    let s = parse("t.toml", &c("arrival = { stages = [ { to = \"2/s\", over = \"5s\" }, { rate = \"2/s\", for = \"5s\" } ] }")).unwrap();
    assert_eq!(s.plan.segments.len(), 2);
    assert_eq!(s.customers.as_ref().map(|c| c.messages.count), Some(IntRange { low: 1, high: 3 }));
    assert_eq!(s.customers.as_ref().map(|c| c.offer_check), Some(None), "the target decides");
    let s = parse("t.toml", &c("arrival = { rate = \"1/s\" }\noffer_check = false")).unwrap();
    assert_eq!(s.customers.as_ref().map(|c| c.offer_check), Some(Some(false)));
    check(
        &c("arrival = { rate = \"1/s\" }\noffer_check = \"yes\""),
        &[(12, 15, "wrong type: expected true or false")],
    );
}

#[test]
fn threshold_rules() {
    let t = |body: &str| with(&format!("[[thresholds]]\n{body}\n"));
    check(
        &t("metric = \"Consult.settle\"\np99 = \"1s\""),
        &[(11, 10, "no flow performs `Consult`")],
    );
    check(&t("metric = \"Accept.response\"\nmax = 5"), &[(12, 7, "must be a duration")]);
    check(
        &t("metric = \"Accept.response\"\nrate = 0.1"),
        &[(12, 8, "is a latency, so it takes no `rate`")],
    );
    check(
        &t("metric = \"violations\"\np99 = \"1s\""),
        &[(12, 7, "`violations` is a count, so it takes no `p99`")],
    );
    check(&t("metric = \"violations\"\nmax = -1"), &[(12, 7, "must be a whole number 0 or more")]);
    check(&t("metric = \"errors\"\nrate = 2"), &[(12, 8, "a number from 0 to 1")]);
    check(&t("metric = \"violations\""), &[(11, 10, "sets no limit")]);
    check(
        &t("metric = \"latency\"\nmax = 0"),
        &[(11, 10, "`latency` is not a metric gwsim records")],
    );
    check(
        &t("metric = \"Acept.response\"\np50 = \"1s\""),
        &[(11, 10, "`Acept` in `Acept.response` is not an operation")],
    );
    check(
        &t("metric = \"SetInFocus.settle\"\np50 = \"1s\""),
        &[(11, 10, "causes no notification")],
    );
    check(
        &t("metric = \"violations.sideways\"\nmax = 0"),
        &[(11, 10, "is not a kind of violation")],
    );
    check(&t("p99 = \"1s\""), &[(10, 1, "missing `metric`")]);
    let s = parse(
        "t.toml",
        &t("metric = \"Accept.response\"\np50 = \"10ms\"\n\"p99.9\" = \"1s\"\n[[thresholds]]\nmetric = \"GetMe.errors\"\nrate = 0.01\n[[thresholds]]\nmetric = \"violations.out-of-order\"\nmax = 0\n[[thresholds]]\nmetric = \"customer.wait\"\np999 = \"3s\"\n[[thresholds]]\nmetric = \"violations.visibility-leak\"\nmax = 0"),
    )
    .expect("valid");
    let got: Vec<String> =
        s.thresholds.iter().map(|t| format!("{} {} {:?}", t.metric, t.stat, t.limit)).collect();
    assert_eq!(
        got,
        [
            "Accept.response p50 Latency(10ms)",
            "Accept.response p99.9 Latency(1s)",
            "GetMe.errors rate Fraction(0.01)",
            "violations.out-of-order max Count(0)",
            "customer.wait p99.9 Latency(3s)",
            "violations.visibility-leak max Count(0)",
        ]
    );
}

fn load_with(name: &str, o: &Overrides) -> Result<Scenario, Diagnostics> {
    super::load(scenarios_dir().join(format!("{name}.toml")), o)
}

/// Asserts that `name` with `o` folded in fails with exactly these diagnostics: (line, col, a
/// fragment of the message); line 0 is a flag's problem, whose message names the flag.
#[track_caller]
fn check_flags(name: &str, o: &Overrides, expected: &[(u32, u32, &str)]) {
    assert_diagnostics(load_with(name, o), expected);
}

fn secs(s: u64) -> Option<Duration> {
    Some(Duration::from_secs(s))
}

#[test]
fn run_overrides_are_judged_by_the_file_rules() {
    let full = load(scenarios_dir().join("customer-surge.toml")).expect("valid").plan;
    let o = Overrides { duration: secs(60), seed: Some(7), ..Overrides::default() };
    let s = load_with("customer-surge", &o).expect("longer than warmup");
    // The shape (2m20s) is longer than the run now: the plan is cut, as the user asked.
    assert_eq!(s.run.duration, Duration::from_secs(60));
    assert_eq!(s.plan.end, Duration::from_secs(60));
    assert!(s.plan.expected_arrivals(s.plan.end) < full.expected_arrivals(full.end));
    assert_eq!(s.run.seed, 7);
    assert_eq!(s.target.transport, Transport::Websocket, "an embedded target keeps the file's");
    check_flags(
        "customer-surge",
        &Overrides { duration: secs(5), ..Overrides::default() },
        &[(0, 0, "--duration 5s: `warmup` (10s) is not shorter than `duration` (5s)")],
    );
    check_flags(
        "customer-surge",
        &Overrides { duration: Some(Duration::ZERO), ..Overrides::default() },
        &[(0, 0, "--duration 0s: `duration` is zero")],
    );
    // The file's own mistakes are still reported where they are, with the flag's next to them.
    let text = with("").replace("duration = \"10s\"", "duration = \"0s\"\nwarmup = \"1x\"");
    let d = super::parse("t.toml", &text, &Overrides { duration: secs(0), ..Overrides::default() })
        .unwrap_err();
    let got: Vec<_> = d.iter().map(|d| (d.line, d.col, d.message.as_str())).collect();
    assert_eq!(got.len(), 2, "{d}");
    assert!(got[0].2.starts_with("--duration 0s: `duration` is zero"), "{d}");
    assert_eq!((got[1].0, got[1].1), (4, 10), "{d}");
    let s = load_with(
        "consult-remove-leave",
        &Overrides { transport: Some(Transport::LongPolling), ..Overrides::default() },
    )
    .expect("valid");
    assert_eq!(s.target.transport, Transport::LongPolling);
}

/// The lines of consult-remove-leave.toml's two `[[agents]]` sections (where "no password"
/// points), read rather than written down so that its header comment may change.
fn agents_lines() -> (u32, u32) {
    let text = std::fs::read_to_string(scenarios_dir().join("consult-remove-leave.toml")).unwrap();
    let mut lines = text.lines().zip(1u32..).filter(|(l, _)| l.starts_with("[[agents]]"));
    (lines.next().unwrap().1, lines.next().unwrap().1)
}

#[test]
fn target_override_is_judged_by_the_target_rules() {
    let (frontline, specialist) = agents_lines();
    let remote = |url: &str| TargetOverride::local(url);
    let o = |t: TargetOverride| Overrides { target: Some(t), ..Overrides::default() };
    check_flags(
        "consult-remove-leave",
        &o(remote("https://gws.example.com/")),
        &[
            (
                0,
                0,
                "--target https://gws.example.com/: `https://gws.example.com/` is not on this machine",
            ),
            (
                0,
                0,
                "--target https://gws.example.com/: the scenario has [customers], and simulated chat customers need the target's contact center id",
            ),
            (
                frontline,
                1,
                "population `frontline` has no password, and a remote server (--target https://gws.example.com/) will ask for one",
            ),
            (specialist, 1, "population `specialist` has no password"),
        ],
    );
    // The drift review found: a query or fragment is refused on the command line too.
    check_flags(
        "consult-remove-leave",
        &Overrides {
            password: Some(PasswordSource::Env("GWS_PASSWORD".into())),
            agents_only: true,
            ..o(remote("http://127.0.0.1:8090/?x=1"))
        },
        &[(0, 0, "--target http://127.0.0.1:8090/?x=1: the URL must not have a query or fragment")],
    );
    check_flags(
        "consult-remove-leave",
        &Overrides { agents_only: true, ..o(remote("ftp://127.0.0.1")) },
        &[
            (0, 0, "--target ftp://127.0.0.1: the URL must start with http:// or https://"),
            (frontline, 1, "population `frontline` has no password"),
            (specialist, 1, "population `specialist` has no password"),
        ],
    );
    let complete = Overrides {
        password: Some(PasswordSource::Env("GWS_PASSWORD".into())),
        ..o(TargetOverride {
            allow_remote: true,
            contact_center_id: Some("cc".into()),
            ..remote("https://gws.example.com/")
        })
    };
    let s = load_with("consult-remove-leave", &complete).expect("a complete remote target");
    let TargetKind::Remote(r) = &s.target.kind else { panic!("remote") };
    assert_eq!(r.base_url, "https://gws.example.com");
    assert_eq!(r.contact_center_id.as_deref(), Some("cc"));
    assert!(r.customer_api && r.csrf && r.allow_remote && !r.accept_invalid_certs);
    assert!(s.customers.is_some());
    // GWS 8.5.2 GA offers only long-polling: the file's websocket was for its own target.
    assert_eq!(s.target.transport, Transport::LongPolling);
    // ... unless the command line says otherwise.
    let ws = Overrides { transport: Some(Transport::Websocket), ..complete.clone() };
    let s = load_with("consult-remove-leave", &ws).expect("valid");
    assert_eq!(s.target.transport, Transport::Websocket);
    // The password override replaces every population's source, and only the source is
    // serialized (summary.json).
    assert!(s.agents.iter().all(|p| p.password == PasswordSource::Env("GWS_PASSWORD".into())));
    let json = serde_json::to_string(&s).unwrap();
    assert!(json.contains(r#""password":{"env":"GWS_PASSWORD"}"#), "{json}");
}

#[test]
fn agents_only_runs_no_customers_and_says_so() {
    let o = Overrides {
        target: Some(TargetOverride {
            allow_remote: true,
            ..TargetOverride::local("https://gws.example.com")
        }),
        password: Some(PasswordSource::File("secrets/pw.txt".into())),
        agents_only: true,
        ..Overrides::default()
    };
    let s = load_with("consult-remove-leave", &o).expect("agents only needs no contact center id");
    assert!(s.customers.is_none());
    assert!(s.plan.segments.is_empty());
    let json = serde_json::to_value(&s).unwrap();
    assert_eq!(json["target"]["customer_api"], serde_json::json!(false));
    assert_eq!(json["customers"], serde_json::Value::Null);
    // A command-line password file stays relative to the working directory.
    assert_eq!(s.agents[0].password, PasswordSource::File("secrets/pw.txt".into()));
    // On the embedded target there would be nobody to serve.
    check_flags(
        "consult-remove-leave",
        &Overrides { agents_only: true, ..Overrides::default() },
        &[(0, 0, "--agents-only: the embedded server has no customers but the simulated ones")],
    );
    // In the file: a remote target with `customer_api = false` and no [customers].
    let text = with("")
        .replace(
            "[run]",
            "[target]\nkind = \"remote\"\nbase_url = \"http://127.0.0.1:8090\"\ncustomer_api = false\n[run]",
        )
        .replace("flow = \"f\"", "flow = \"f\"\npassword = { env = \"GWS_PASSWORD\" }");
    let s = parse("t.toml", &text).expect("agents only, in the file");
    assert!(matches!(&s.target.kind, TargetKind::Remote(r) if !r.customer_api));
    // A file remote target with customers and no id says how to fix it, both ways.
    let text =
        text.replace("customer_api = false\n", "") + "[customers]\narrival = { rate = \"1/s\" }\n";
    let d = parse("t.toml", &text).unwrap_err();
    assert_eq!(d.len(), 1, "{d}");
    assert_eq!((d.0[0].line, d.0[0].col), (14, 2));
    let help = d.0[0].help.as_deref().unwrap_or("");
    assert!(help.contains("contact_center_id") && help.contains("--agents-only"), "{help}");
    let o = Overrides { agents_only: true, ..Overrides::default() };
    let s = super::parse("t.toml", &text, &o).expect("--agents-only on a file remote target");
    assert!(s.customers.is_none());
}

#[test]
fn password_override_is_judged_by_the_password_rules() {
    let o = |p: PasswordSource| Overrides {
        target: Some(TargetOverride::local("http://localhost:8090")),
        password: Some(p),
        agents_only: true,
        ..Overrides::default()
    };
    check_flags(
        "consult-remove-leave",
        &o(PasswordSource::Env("1BAD".into())),
        &[(0, 0, "--password-env 1BAD: `1BAD` is not an environment variable name")],
    );
    check_flags(
        "consult-remove-leave",
        &o(PasswordSource::File(PathBuf::new())),
        &[(0, 0, "--password-file: the password file path is empty")],
    );
    // A password written into the file is refused whatever the command line says.
    let text = with("").replace("flow = \"f\"", "flow = \"f\"\npassword = \"hunter2\"");
    let d =
        super::parse("t.toml", &text, &o(PasswordSource::Env("GWS_PASSWORD".into()))).unwrap_err();
    assert_eq!(d.len(), 1, "{d}");
    assert!(d.0[0].message.contains("must not be written in the scenario file"), "{d}");
}

/// The lines of a valid scenario, for mutation.
fn sample() -> String {
    std::fs::read_to_string(scenarios_dir().join("consult-remove-leave.toml")).expect("readable")
}

fn assert_well_formed(text: &str, result: Result<Scenario, Diagnostics>) {
    if let Err(d) = result {
        assert!(!d.is_empty(), "an error result carries at least one diagnostic");
        let lines = u32::try_from(text.lines().count()).unwrap_or(u32::MAX) + 1;
        for diag in d.iter() {
            assert!(diag.line <= lines, "{diag} is beyond the end of the text");
            assert!(!diag.message.is_empty());
            assert!((diag.line == 0) == (diag.col == 0), "{diag}");
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,200}") {
        assert_well_formed(&text, parse("p.toml", &text));
    }

    #[test]
    fn toml_shaped_noise_never_panics(text in "([a-z_\\[\\]{}=\".,0-9 \n:/-]){0,300}") {
        assert_well_formed(&text, parse("p.toml", &text));
    }

    #[test]
    fn mutated_scenarios_never_panic(
        edits in proptest::collection::vec((any::<prop::sample::Index>(), 0usize..4, "[a-z0-9 \"=\\[\\]{}.:,\n-]{0,6}"), 1..6)
    ) {
        let mut text = sample();
        for (at, kind, insert) in edits {
            let mut pos = at.index(text.len() + 1);
            while !text.is_char_boundary(pos) { pos -= 1; }
            match kind {
                // Delete a few bytes.
                0 => { let mut end = (pos + insert.len().max(1)).min(text.len()); while !text.is_char_boundary(end) { end -= 1; } text.replace_range(pos..end, ""); }
                // Insert junk.
                1 => text.insert_str(pos, &insert),
                // Replace with junk.
                2 => { let mut end = (pos + insert.len()).min(text.len()); while !text.is_char_boundary(end) { end -= 1; } text.replace_range(pos..end, &insert); }
                // Swap a whole line with a line from elsewhere in the file.
                _ => {
                    let lines: Vec<&str> = text.lines().collect();
                    if !lines.is_empty() {
                        let i = pos % lines.len();
                        let j = insert.len() % lines.len();
                        let mut l: Vec<String> = lines.iter().map(|s| s.to_string()).collect();
                        l.swap(i, j);
                        text = l.join("\n");
                    }
                }
            }
        }
        assert_well_formed(&text, parse("m.toml", &text));
    }
}

mod diagnostics;
mod sections;
