//! Scenario loader tests: every shipped scenario validates, bad files give every diagnostic at
//! once with the right positions, and nothing panics on arbitrary input.

use std::path::PathBuf;

use super::*;

fn scenarios_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scenarios")
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
fn scratch() {
    let r = parse("bad.toml", BAD);
    match r {
        Ok(s) => println!("{}", serde_json::to_string_pretty(&s).unwrap()),
        Err(d) => println!("{d}"),
    }
}
