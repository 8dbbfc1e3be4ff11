//! gwsim's CometD client against an independent Bayeux server: Faye (npm `faye`), started from
//! `tests/faye/server.js` as a child process on a loopback port. On both transports: handshake,
//! subscribe, delivery of a published message, re-handshake when the server forgets the session
//! (Faye answers `401::Unknown client` with advice `reconnect: handshake`), and reconnection
//! after the server restarts on the same port (its sessions gone with it).
//!
//! Skipped with a message by default (it needs Node.js and `npm ci` in tests/faye); `tests/faye/run`
//! runs it with `GWSIM_FAYE_SERVER` naming the server script.

use std::io::BufRead as _;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use gwsim::cometd::{CometdConfig, Event, Transport, client};
use tokio_util::sync::CancellationToken;

/// Bounds each wait for an event; a Faye long-poll is held 5 s, a restart takes a few.
const WAIT: Duration = Duration::from_secs(30);

/// The Faye server child, killed (by its own pid) when dropped.
struct Faye {
    child: Child,
    port: u16,
}

impl Faye {
    /// Starts `node server.js PORT` and reads the port it bound from its first line.
    fn start(port: u16) -> Result<Faye, String> {
        let script = std::env::var("GWSIM_FAYE_SERVER")
            .map_err(|_| "GWSIM_FAYE_SERVER is not set (run tests/faye/run)".to_owned())?;
        let mut child = Command::new("node")
            .arg(&script)
            .arg(port.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("cannot start node {script}: {e}"))?;
        let mut line = String::new();
        let read = child
            .stdout
            .take()
            .map(|out| std::io::BufReader::new(out).read_line(&mut line))
            .ok_or("no stdout")
            .and_then(|r| r.map_err(|_| "unreadable stdout"));
        let bound = line.trim().strip_prefix("listening ").and_then(|p| p.parse().ok());
        match (read, bound) {
            (Ok(_), Some(port)) => Ok(Faye { child, port }),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                Err(format!("faye did not start on port {port}: {line:?}"))
            }
        }
    }

    fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Faye {
    fn drop(&mut self) {
        self.stop();
    }
}

async fn control(
    base: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<serde_json::Value>,
) -> serde_json::Value {
    let http = reqwest::Client::new();
    let mut req = http.request(method, format!("{base}/control/{path}"));
    if let Some(b) = body {
        req = req.json(&b);
    }
    let res = req.send().await.unwrap_or_else(|e| panic!("control {path}: {e}"));
    res.json().await.unwrap_or_else(|e| panic!("control {path}: {e}"))
}

async fn subscriptions(base: &str) -> u64 {
    control(base, reqwest::Method::GET, "subscribers", None).await["subscriptions"]
        .as_u64()
        .unwrap_or(0)
}

/// Waits until the server has seen more than `after` subscriptions (bounded: 300 polls).
async fn subscribed_past(base: &str, after: u64) {
    for _ in 0..300 {
        if subscriptions(base).await > after {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no new subscription on {base} after {after}");
}

/// The next event that `want` accepts, skipping others (bounded by [`WAIT`]); every event
/// seen on the way is returned too, for the failure message.
async fn until(
    events: &mut client::Events,
    what: &str,
    want: impl Fn(&Event) -> bool,
) -> Vec<String> {
    let mut seen = Vec::new();
    let found = tokio::time::timeout(WAIT, async {
        while let Some(e) = events.recv().await {
            seen.push(format!("{e:?}"));
            if want(&e) {
                return true;
            }
            if matches!(e, Event::Closed { .. }) {
                return false;
            }
        }
        false
    })
    .await;
    assert!(matches!(found, Ok(true)), "{what}: not seen; events: {seen:?}");
    seen
}

fn is_data(e: &Event, n: u64) -> bool {
    match e {
        Event::Data { channel, data } => {
            let v: serde_json::Value = serde_json::from_str(data.get()).unwrap_or_default();
            channel == "/v2/me/faye" && v["n"] == n
        }
        _ => false,
    }
}

async fn publish(base: &str, n: u64) {
    let body = serde_json::json!({ "channel": "/v2/me/faye", "data": { "n": n } });
    let r = control(base, reqwest::Method::POST, "publish", Some(body)).await;
    assert_eq!(r["ok"], true, "{r}");
}

async fn against_faye(transport: Transport) {
    let mut faye = Faye::start(0).unwrap_or_else(|e| panic!("{e}"));
    let base = faye.base();
    let mut config = CometdConfig::new(base.clone(), transport);
    config.backoff_min = Duration::from_millis(100);
    config.backoff_max = Duration::from_millis(500);
    config.jitter_seed = Some(1);
    let token = CancellationToken::new();
    // Handshake and subscribe (to `/v2/me/*`, a Faye wildcard too) are done when this returns.
    let (handle, mut events) = client::connect(config, token.clone())
        .await
        .unwrap_or_else(|e| panic!("{transport:?}: handshake with faye: {e}"));
    assert!(subscriptions(&base).await >= 1, "faye saw the subscribe");

    // Delivery of a published message.
    publish(&base, 1).await;
    until(&mut events, "message 1", |e| is_data(e, 1)).await;

    // Faye forgets the session: `401::Unknown client`, advice handshake; the client handshakes
    // and subscribes again, and gets what is published after.
    let before = subscriptions(&base).await;
    control(&base, reqwest::Method::POST, "forget", None).await;
    until(&mut events, "re-handshake after forget", |e| matches!(e, Event::Rehandshake)).await;
    subscribed_past(&base, before).await;
    publish(&base, 2).await;
    until(&mut events, "message 2", |e| is_data(e, 2)).await;
    assert!(handle.stats().rehandshakes >= 1, "{:?}", handle.stats());

    // The server restarts on the same port with no sessions: the client's connects fail until
    // it is back, then it handshakes again (its old client id is unknown there).
    let port = faye.port;
    faye.stop();
    let mut restarted = None;
    for _ in 0..20 {
        match Faye::start(port) {
            Ok(f) => {
                restarted = Some(f);
                break;
            }
            // The port may still be in use for a moment.
            Err(_) => tokio::time::sleep(Duration::from_millis(250)).await,
        }
    }
    let faye2 = restarted.unwrap_or_else(|| panic!("faye did not restart on port {port}"));
    until(&mut events, "recovery after restart", |e| {
        matches!(e, Event::Rehandshake | Event::Reconnected { .. })
    })
    .await;
    subscribed_past(&faye2.base(), 0).await;
    publish(&faye2.base(), 3).await;
    until(&mut events, "message 3", |e| is_data(e, 3)).await;
    let stats = handle.stats();
    assert!(stats.failures >= 1, "the outage was counted: {stats:?}");
    assert!(stats.data_messages >= 3, "{stats:?}");

    token.cancel();
    until(&mut events, "closed", |e| matches!(e, Event::Closed { .. })).await;
    handle.join().await;
    drop(faye2);
}

/// Without the server script (plain `cargo test`: Node.js and `npm ci` are tests/faye/run's
/// part), the test says it was skipped and why; tests/faye/run requires both to have run.
fn faye_configured(test: &str) -> bool {
    let set = std::env::var_os("GWSIM_FAYE_SERVER").is_some();
    if !set {
        eprintln!("SKIPPED {test}: GWSIM_FAYE_SERVER is not set (tests/faye/run sets it)");
    }
    set
}

#[tokio::test]
async fn faye_long_polling() {
    if faye_configured("faye_long_polling") {
        against_faye(Transport::LongPolling).await;
    }
}

#[tokio::test]
async fn faye_websocket() {
    if faye_configured("faye_websocket") {
        against_faye(Transport::Websocket).await;
    }
}
