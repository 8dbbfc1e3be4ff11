//! Shards as separate hosts: network namespaces made by the test, one for `gwsim serve` and one
//! per shard, joined by veth pairs on a bridge in a private 10.x/24 network, so the shards reach
//! the server over a network from their own addresses, not over loopback. Their results are
//! merged and checked: counts sum, usernames disjoint and complete.
//!
//! Needs root and iproute2's `ip`; where namespaces cannot be made the test says why and passes
//! without running (it cannot prove anything there). Every namespace it made is deleted on every
//! exit path, a panic included ([`Namespaces`] is a drop guard); names carry the process id and a
//! counter, so parallel runs do not clash.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use crate::binary::{gwsim, path, scratch, serve_with, text};
use crate::shards::{PASSWORD, SCENARIO, summary};

const SHARDS: u32 = 2;
/// How long one shard process may take (2 s of load, logins, drain) before it is killed.
const SHARD_DEADLINE: Duration = Duration::from_secs(120);

/// Runs `ip ARGS...`; an error names the command and what `ip` said.
fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| format!("cannot run `ip {}`: {e}", args.join(" ")))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!("`ip {}` failed: {}", args.join(" "), text(&out.stderr).trim()))
    }
}

/// The namespaces this test made; dropping it deletes them (and with them their veths and the
/// bridge), whether the test passed, failed or panicked.
struct Namespaces(Vec<String>);

impl Namespaces {
    fn add(&mut self, name: &str) -> Result<(), String> {
        ip(&["netns", "add", name])?;
        self.0.push(name.to_owned());
        Ok(())
    }
}

impl Drop for Namespaces {
    fn drop(&mut self) {
        for ns in self.0.iter().rev() {
            if let Err(e) = ip(&["netns", "del", ns]) {
                eprintln!("netns test: cleanup: {e}");
            }
        }
    }
}

/// The network: the server's namespace holds a bridge with the /24's first address, and each
/// shard's namespace a veth whose peer is on that bridge, with addresses .2, .3...
struct Network {
    namespaces: Namespaces,
    server_ns: String,
    server_addr: String,
    shard_ns: Vec<String>,
}

fn make_network(shards: u32) -> Result<Network, String> {
    static RUN: AtomicU32 = AtomicU32::new(0);
    let run = RUN.fetch_add(1, Ordering::Relaxed);
    let tag = format!("gwsim-{}-{run}", std::process::id());
    // A /24 of 10.0.0.0/8 picked from the process id: each run's network lives in its own
    // namespaces, so the choice only keeps addresses distinct when reading logs side by side.
    let net = format!("10.{}.{}", 200 + std::process::id() % 50, run % 250);
    let mut namespaces = Namespaces(Vec::new());
    let server_ns = format!("{tag}-srv");
    namespaces.add(&server_ns)?;
    let server_addr = format!("{net}.1");
    ip(&["-n", &server_ns, "link", "set", "lo", "up"])?;
    ip(&["-n", &server_ns, "link", "add", "br0", "type", "bridge"])?;
    ip(&["-n", &server_ns, "addr", "add", &format!("{server_addr}/24"), "dev", "br0"])?;
    ip(&["-n", &server_ns, "link", "set", "br0", "up"])?;
    let mut shard_ns = Vec::new();
    for i in 0..shards {
        let ns = format!("{tag}-shard{i}");
        namespaces.add(&ns)?;
        // Both ends are created straight into their namespaces, so no name is ever taken in the
        // host's namespace (interface names there could clash with other runs).
        let port = format!("p{i}");
        ip(&["-n", &server_ns, "link", "add", &port, "type", "veth", "peer", "name", "eth0"])
            .and_then(|()| ip(&["-n", &server_ns, "link", "set", "eth0", "netns", &ns]))?;
        ip(&["-n", &server_ns, "link", "set", &port, "master", "br0", "up"])?;
        ip(&["-n", &ns, "link", "set", "lo", "up"])?;
        ip(&["-n", &ns, "addr", "add", &format!("{net}.{}/24", i + 2), "dev", "eth0"])?;
        ip(&["-n", &ns, "link", "set", "eth0", "up"])?;
        shard_ns.push(ns);
    }
    Ok(Network { namespaces, server_ns, server_addr, shard_ns })
}

/// `gwsim` run inside namespace `ns`.
fn in_ns(ns: &str) -> Command {
    let mut c = Command::new("ip");
    c.args(["netns", "exec", ns, env!("CARGO_BIN_EXE_gwsim")]);
    c
}

/// Waits for `child` at most `deadline`; past it the child (this test's own, by its pid) is
/// killed and the test fails.
fn wait_bounded(child: std::process::Child, deadline: Duration, what: &str) -> Output {
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(deadline) {
        Ok(out) => out.unwrap_or_else(|e| panic!("{what}: {e}")),
        Err(_) => {
            let _ = Command::new("kill").args(["-KILL", &pid.to_string()]).status();
            panic!("{what} did not finish within {deadline:?}; killed");
        }
    }
}

#[test]
fn shards_in_their_own_network_namespaces_merge_exactly() {
    let network = match make_network(SHARDS) {
        Ok(n) => n,
        Err(e) => {
            // Not a failure: without root or iproute2 there is no network to make. Said loudly,
            // so a skipped proof is never mistaken for a passed one.
            eprintln!("SKIPPED shards_in_their_own_network_namespaces_merge_exactly: {e}");
            return;
        }
    };
    let tmp = scratch();
    let dir = tmp.path();
    let scenario = dir.join("shards.toml");
    std::fs::write(&scenario, SCENARIO).expect("scenario written");
    let (_server, url) = serve_with(
        in_ns(&network.server_ns),
        &format!("{}:0", network.server_addr),
        &["--users-from", path(&scenario), "--password-env", PASSWORD.0],
        &[PASSWORD],
    );
    assert!(url.starts_with(&format!("http://{}:", network.server_addr)), "{url}");

    let start_at = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs()
        + 3;
    let shard_dirs: Vec<PathBuf> = (0..SHARDS).map(|i| dir.join(format!("shard-{i}"))).collect();
    let children: Vec<_> = network
        .shard_ns
        .iter()
        .zip(&shard_dirs)
        .enumerate()
        .map(|(i, (ns, out))| {
            in_ns(ns)
                // The target is not loopback, so --allow-remote; it is in namespaces this test
                // made, so nothing outside the machine is loaded.
                .args(["run", path(&scenario), "--target", &url, "--allow-remote"])
                .args(["--password-env", PASSWORD.0])
                .args(["--contact-center-id", gwsim::server::DEFAULT_CONTACT_CENTER_ID])
                .args(["--shards", &SHARDS.to_string(), "--start-at", &start_at.to_string()])
                .args(["--out", path(out), "--quiet"])
                .env(PASSWORD.0, PASSWORD.1)
                .env("JOB_COMPLETION_INDEX", i.to_string())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start shard {i}: {e}"))
        })
        .collect();
    for (i, child) in children.into_iter().enumerate() {
        let out = wait_bounded(child, SHARD_DEADLINE, &format!("shard {i}"));
        let stdout = text(&out.stdout);
        assert_eq!(out.status.code(), Some(0), "shard {i}: {stdout}\n{}", text(&out.stderr));
        assert!(stdout.contains("4 of 4 agents logged in"), "shard {i}: {stdout}");
    }

    let shards: Vec<serde_json::Value> = shard_dirs.iter().map(|d| summary(d)).collect();
    for (i, s) in shards.iter().enumerate() {
        assert_eq!(s["shard"], serde_json::json!({"index": i, "count": SHARDS}));
        assert_eq!(s["target"]["base_url"].as_str(), Some(url.as_str()), "{}", s["target"]);
    }

    // Usernames: each shard's own, none in two shards, together the whole scenario's.
    let mut seen = BTreeSet::new();
    for i in 0..SHARDS {
        let overrides = gwsim::scenario::Overrides {
            shard: Some(gwsim::scenario::Shard { index: i, count: SHARDS }),
            ..Default::default()
        };
        let part = gwsim::scenario::load(&scenario, &overrides).expect("the shard validates");
        for name in part.agents.iter().flat_map(|p| p.usernames()) {
            assert!(seen.insert(name.clone()), "{name} is in two shards");
        }
    }
    let whole = gwsim::scenario::load(&scenario, &Default::default()).expect("valid");
    let all: BTreeSet<String> = whole.agents.iter().flat_map(|p| p.usernames()).collect();
    assert_eq!(seen, all);

    let merged_dir = dir.join("merged");
    let out =
        gwsim(&["merge", path(&shard_dirs[1]), path(&shard_dirs[0]), "--out", path(&merged_dir)]);
    assert_eq!(out.status.code(), Some(0), "{}\n{}", text(&out.stdout), text(&out.stderr));
    let merged = summary(&merged_dir);
    assert_eq!(merged["shards"].as_array().map(Vec::len), Some(SHARDS as usize));
    let sum = |key: &str| shards.iter().map(|s| s["counts"][key].as_u64().unwrap_or(0)).sum();
    for key in ["operations", "errors", "violations", "missed_starts", "abandoned"] {
        assert_eq!(merged["counts"][key].as_u64(), Some(sum(key)), "counts.{key}");
    }
    assert!(merged["counts"]["operations"].as_u64().unwrap_or(0) > 0, "{merged}");
    for op in merged["operations"].as_array().expect("operations") {
        let name = op["name"].as_str().expect("a name");
        let of_shards: u64 = shards
            .iter()
            .filter_map(|s| s["operations"].as_array()?.iter().find(|o| o["name"] == name).cloned())
            .map(|o| o["count"].as_u64().unwrap_or(0))
            .sum();
        assert_eq!(op["count"].as_u64(), Some(of_shards), "{name}.count");
    }
    // Dropped last: the server and shards are gone before their namespaces are deleted.
    drop(network.namespaces);
}

/// The guard deletes what it made even when the test panics half-way.
#[test]
fn namespaces_are_deleted_when_a_test_panics() {
    let made = std::panic::catch_unwind(|| {
        let network = make_network(1).map_err(|e| e.to_string())?;
        let names = network.namespaces.0.clone();
        // A panic with the namespaces alive: unwinding drops the guard.
        if !names.is_empty() {
            std::panic::panic_any(names);
        }
        Ok::<Vec<String>, String>(names)
    });
    let names = match made {
        Ok(Err(e)) => {
            eprintln!("SKIPPED namespaces_are_deleted_when_a_test_panics: {e}");
            return;
        }
        Ok(Ok(names)) => names,
        Err(payload) => *payload.downcast::<Vec<String>>().expect("the names"),
    };
    assert!(!names.is_empty());
    let list = Command::new("ip").args(["netns", "list"]).output().expect("ip netns list");
    let list = text(&list.stdout);
    for ns in names {
        assert!(!list.lines().any(|l| l.split_whitespace().next() == Some(ns.as_str())), "{ns}");
    }
}
