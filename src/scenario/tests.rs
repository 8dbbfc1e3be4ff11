//! Scenario loader tests: every shipped scenario validates, bad files give every diagnostic at
//! once with the right positions, and nothing panics on arbitrary input.

use std::path::PathBuf;

use super::*;

fn scenarios_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scenarios")
}

#[test]
fn scratch() {
    let r = load(&scenarios_dir().join("consult-remove-leave.toml"));
    match r {
        Ok(s) => println!("{}", serde_json::to_string_pretty(&s).unwrap()),
        Err(d) => panic!("{d}"),
    }
}
