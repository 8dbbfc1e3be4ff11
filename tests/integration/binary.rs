//! Helpers for the tests that drive the real `gwsim` binary: run a command, read its output,
//! scratch directories, and a `gwsim serve` child on a free loopback port.

use std::io::BufRead as _;
use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// Runs `gwsim ARGS...` to the end.
pub(crate) fn gwsim(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_gwsim"))
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot start gwsim: {e}"))
}

/// A fresh directory, removed when the test ends, whether it passes or panics.
pub(crate) fn scratch() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("gwsim-ci-")
        .tempdir()
        .unwrap_or_else(|e| panic!("cannot create a scratch directory: {e}"))
}

pub(crate) fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

pub(crate) fn path(p: &Path) -> &str {
    p.to_str().expect("temporary paths are UTF-8")
}

/// A `gwsim serve` child, killed (by its own handle) when dropped.
pub(crate) struct ServeChild(std::process::Child);

impl Drop for ServeChild {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `gwsim serve --bind 127.0.0.1:0 ARGS...` with `env` and returns it with the base URL it
/// logged.
pub(crate) fn serve(args: &[&str], env: &[(&str, &str)]) -> (ServeChild, String) {
    serve_with(Command::new(env!("CARGO_BIN_EXE_gwsim")), "127.0.0.1:0", args, env)
}

/// Like [`serve`], with `gwsim` started by `gwsim` (the binary itself, or a command that execs
/// it, such as `ip netns exec NS gwsim`) and bound to `bind`.
pub(crate) fn serve_with(
    mut gwsim: Command,
    bind: &str,
    args: &[&str],
    env: &[(&str, &str)],
) -> (ServeChild, String) {
    let mut child = gwsim
        .args(["serve", "--bind", bind])
        .args(args)
        .envs(env.iter().copied())
        .env("RUST_LOG", "info")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start gwsim serve: {e}"));
    let stderr = child.stderr.take().expect("piped stderr");
    let guard = ServeChild(child);
    // The server's log is read on a thread so that waiting for the line is bounded in time.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        let Ok(line) = rx.recv_timeout(left) else { break };
        if let Some(rest) = line.split("addr=").nth(1).filter(|_| line.contains("listening")) {
            let addr = rest.split_whitespace().next().unwrap_or_default();
            return (guard, format!("http://{addr}"));
        }
    }
    panic!("gwsim serve did not say where it listens within 30 s");
}
