//! Conventions the compiler does not check: every source file starts with a `//!` line saying
//! what it is for, and the layering of ARCHITECTURE.md's invariants holds (the simulator never
//! names the server's internals; the pure cores name no runtime, socket or clock).

use std::path::Path;

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            // Third-party trees (npm packages of the interop test, build output) are not ours.
            if path.file_name().is_some_and(|n| n == "node_modules" || n == "target") {
                continue;
            }
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn every_source_file_starts_with_a_module_doc() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    for dir in ["src", "tests", "benches"] {
        rust_files(&root.join(dir), &mut files);
    }
    assert!(files.len() > 10, "found only {} files", files.len());
    let missing: Vec<String> = files
        .iter()
        .filter(|f| std::fs::read_to_string(f).map(|t| !t.starts_with("//!")).unwrap_or(true))
        .map(|f| f.strip_prefix(root).unwrap_or(f).display().to_string())
        .collect();
    assert!(missing.is_empty(), "files without a leading //! line: {missing:?}");
}

/// The code lines of a source file: `//` comments (docs included) stripped, so prose that names
/// a module does not count as using it.
fn code_lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.lines().enumerate().filter_map(|(i, l)| {
        let code = l.split("//").next().unwrap_or("");
        (!code.trim().is_empty()).then_some((i + 1, code))
    })
}

/// Unit-test files may stand up throwaway servers with any crate.
fn is_test_file(rel: &str) -> bool {
    rel.ends_with("/tests.rs") || rel.contains("/tests/") || rel.ends_with("_tests.rs")
}

/// Every `(file:line, word)` where a file under one of `dirs` (paths relative to the crate
/// root, `src/` included) names one of `words` in code, skipping `allowed` files and test files.
fn naming(dirs: &[&str], words: &[&str], allowed: &[&str]) -> Vec<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    rust_files(&root.join("src"), &mut files);
    let mut found = Vec::new();
    for f in files {
        let rel = f.strip_prefix(root).unwrap_or(&f).display().to_string();
        let inside = dirs.iter().any(|d| rel == *d || rel.starts_with(&format!("{d}/")));
        if !inside || allowed.contains(&rel.as_str()) || is_test_file(&rel) {
            continue;
        }
        let text = std::fs::read_to_string(&f).unwrap_or_default();
        for (line, code) in code_lines(&text) {
            for w in words {
                if code.contains(w) {
                    found.push(format!("{rel}:{line}: {w}"));
                }
            }
        }
    }
    found
}

#[test]
fn the_simulator_never_names_the_server() {
    // The simulator must run unchanged against a real GWS: only the wiring (app) and the server
    // itself may name `crate::server`, and nothing but the server speaks axum or hyper.
    let simulator = [
        "src/engine",
        "src/gws",
        "src/cometd",
        "src/net",
        "src/ordering",
        "src/metrics",
        "src/report",
    ];
    let more = [
        "src/scenario",
        "src/vocab.rs",
        "src/progress.rs",
        "src/cli.rs",
        "src/faults",
        "src/telemetry",
        "src/capacity",
        "src/proxy",
    ];
    let dirs: Vec<&str> = simulator.iter().chain(more.iter()).copied().collect();
    let found = naming(&dirs, &["crate::server", "axum", "hyper"], &[]);
    assert!(found.is_empty(), "the simulator names the server's side: {found:#?}");
}

#[test]
fn pure_cores_name_no_runtime_socket_or_clock() {
    // The checker, scenario compilation, the server's state machine and the vocabulary are pure:
    // time comes in as an argument, IO stays in the shells around them.
    let pure = [
        "src/ordering",
        "src/scenario",
        "src/server/state",
        "src/vocab.rs",
        "src/faults",
        "src/capacity",
        "src/proxy/core.rs",
    ];
    let words = ["tokio", "Instant::now", "SystemTime::now", "std::net::Tcp", "reqwest::Client"];
    let found = naming(&pure, &words, &[]);
    assert!(found.is_empty(), "a pure core reaches for IO or a clock: {found:#?}");
}
