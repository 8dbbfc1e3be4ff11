//! The fault-injecting TCP proxy, as Toxiproxy is for other stacks: it listens on loopback,
//! forwards every connection to an upstream (a remote GWS, or any server), and injects the
//! `proxy-*` faults of a plan per connection and direction: latency, stalls, resets, bandwidth.
//! Every fault becomes a record of the proxy's own [`Ledger`], which a run joins like the
//! server's.
//!
//! A thin tokio shell around [`core`] (the pure decisions). Each connection is two flows
//! (upstream: simulator → server; downstream: server → simulator); each flow is a reader that
//! asks [`core::Flow`] what to do with a chunk and stamps it with the time it may go out, and a
//! writer that sends chunks in order at those times. The proxy knows nothing of HTTP: it keeps
//! the bytes as they are (the Host header names the proxy, which the reference server and most
//! GWS deployments accept; a TLS upstream sees the client's TLS unchanged).

pub mod core;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::faults::{Direction, FaultPlan, Ledger, LedgerRecord, LedgerSnapshot};

/// Largest chunk read at once; under a bandwidth limit, chunks are smaller (a tenth of a
/// second's worth) so that the pace is smooth.
const CHUNK: usize = 16 * 1024;
/// Chunks in flight between a flow's reader and writer: the reader stops reading (and TCP pushes
/// back on the sender) when the writer is this far behind, so a held flow buffers a bounded
/// amount.
const IN_FLIGHT: usize = 64;

#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    #[error("cannot listen on {addr}: {source}")]
    Bind { addr: SocketAddr, source: std::io::Error },
    #[error("cannot open the ledger file {path}: {source}")]
    LedgerFile { path: String, source: std::io::Error },
}

/// What to start.
#[derive(Debug, Clone)]
pub struct ProxyConfig {
    /// Where to listen (port 0: any free port).
    pub listen: SocketAddr,
    /// `host:port` of the upstream, resolved at each connection.
    pub upstream: String,
    /// The `proxy-*` rules (others are ignored).
    pub plan: FaultPlan,
    /// Every ledger record is also appended here as one JSON line.
    pub ledger_file: Option<PathBuf>,
}

/// What every connection shares.
struct Shared {
    upstream: String,
    plan: FaultPlan,
    ledger: Ledger,
    /// A std mutex: one short write per record, never held across an await.
    file: Option<Mutex<std::io::LineWriter<std::fs::File>>>,
    start: Instant,
    connections: AtomicU64,
    /// Connections the upstream refused or that could not be reached.
    upstream_failures: AtomicU64,
}

impl Shared {
    fn elapsed(&self) -> Duration {
        Instant::now().saturating_duration_since(self.start)
    }

    fn ledger(&self, injected: core::Injected) -> LedgerRecord {
        let record =
            self.ledger.push(injected.kind, injected.rule, self.elapsed(), injected.record);
        if let Some(file) = &self.file {
            use std::io::Write as _;
            let mut f = file.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            if let Ok(line) = serde_json::to_string(&record) {
                // A full disk loses the file copy, never the in-memory record the run joins.
                let _ = writeln!(f, "{line}");
            }
        }
        record
    }
}

/// A running proxy.
pub struct Running {
    addr: SocketAddr,
    shared: Arc<Shared>,
    token: CancellationToken,
    tracker: TaskTracker,
    /// The instant the ledger's clock started (its records' `at_ms` count from it).
    zero: std::time::Instant,
}

impl std::fmt::Debug for Running {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Running").field("addr", &self.addr).finish_non_exhaustive()
    }
}

impl Running {
    /// The address the proxy listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The ledger as it is now.
    pub fn ledger(&self) -> LedgerSnapshot {
        self.shared.ledger.snapshot()
    }

    /// When the ledger's clock started.
    pub fn zero(&self) -> std::time::Instant {
        self.zero
    }

    /// Connections accepted so far, and how many of them could not reach the upstream.
    pub fn connections(&self) -> (u64, u64) {
        (
            self.shared.connections.load(Ordering::Relaxed),
            self.shared.upstream_failures.load(Ordering::Relaxed),
        )
    }

    /// Stops accepting, closes every connection and waits for their tasks.
    pub async fn stop(self) {
        self.token.cancel();
        self.tracker.close();
        self.tracker.wait().await;
    }
}

/// Binds `config.listen` and starts forwarding.
pub async fn start(config: ProxyConfig) -> Result<Running, ProxyError> {
    let listener = TcpListener::bind(config.listen)
        .await
        .map_err(|source| ProxyError::Bind { addr: config.listen, source })?;
    let addr =
        listener.local_addr().map_err(|source| ProxyError::Bind { addr: config.listen, source })?;
    let file = match &config.ledger_file {
        None => None,
        Some(path) => Some(Mutex::new(std::io::LineWriter::new(open_append(path)?))),
    };
    let zero = std::time::Instant::now();
    let shared = Arc::new(Shared {
        upstream: config.upstream,
        ledger: Ledger::new(config.plan.ledger_cap, SystemTime::now()),
        plan: config.plan,
        file,
        start: Instant::now(),
        connections: AtomicU64::new(0),
        upstream_failures: AtomicU64::new(0),
    });
    let token = CancellationToken::new();
    let tracker = TaskTracker::new();
    tracker.spawn(accept(listener, shared.clone(), token.clone(), tracker.clone()));
    Ok(Running { addr, shared, token, tracker, zero })
}

fn open_append(path: &Path) -> Result<std::fs::File, ProxyError> {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|source| ProxyError::LedgerFile { path: path.display().to_string(), source })
}

async fn accept(
    listener: TcpListener,
    shared: Arc<Shared>,
    token: CancellationToken,
    tracker: TaskTracker,
) {
    loop {
        let accepted = tokio::select! {
            _ = token.cancelled() => return,
            a = listener.accept() => a,
        };
        match accepted {
            Ok((client, _)) => {
                let id = shared.connections.fetch_add(1, Ordering::Relaxed) + 1;
                tracker.spawn(connection(id, client, shared.clone(), token.child_token()));
            }
            Err(e) => {
                // Out of file descriptors, usually: wait a little rather than spin.
                tracing::warn!(error = %e, "proxy: accept failed");
                tokio::select! {
                    _ = token.cancelled() => return,
                    _ = tokio::time::sleep(Duration::from_millis(50)) => {}
                }
            }
        }
    }
}

/// One proxied connection: connect upstream, then both flows until both ends close, a reset, or
/// the proxy stops.
async fn connection(id: u64, client: TcpStream, shared: Arc<Shared>, token: CancellationToken) {
    let upstream = tokio::select! {
        _ = token.cancelled() => return,
        u = TcpStream::connect(shared.upstream.as_str()) => u,
    };
    let upstream = match upstream {
        Ok(u) => u,
        Err(e) => {
            shared.upstream_failures.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(connection = id, error = %e, "proxy: upstream unreachable");
            // The client sees a reset, as it would from an unreachable server behind a proxy.
            let _ = client.set_zero_linger();
            return;
        }
    };
    let _ = client.set_nodelay(true);
    let _ = upstream.set_nodelay(true);
    let (cr, cw) = client.into_split();
    let (ur, uw) = upstream.into_split();
    let up = flow(id, Direction::Upstream, cr, uw, shared.clone(), token.clone());
    let down = flow(id, Direction::Downstream, ur, cw, shared, token.clone());
    let (up, down) = tokio::join!(up, down);
    if up.reset || down.reset {
        // Whole sockets again (a dropped write half would send FIN first), with SO_LINGER 0:
        // dropping them sends RST.
        for (read, write) in [(up.read, down.write), (down.read, up.write)] {
            if let Ok(stream) = read.reunite(write) {
                let _ = stream.set_zero_linger();
            }
        }
    }
    // Otherwise the halves drop here, closing both sockets.
}

/// A flow's halves handed back, and whether it decided a reset.
struct Ended {
    read: OwnedReadHalf,
    write: OwnedWriteHalf,
    reset: bool,
}

enum Item {
    Bytes {
        due: Instant,
        bytes: Vec<u8>,
        pace: Option<u64>,
    },
    /// The source closed its side: close ours after what is queued.
    Eof,
}

/// One direction: read chunks from `from`, decide, and write them to `to` at their times.
async fn flow(
    id: u64,
    direction: Direction,
    mut from: OwnedReadHalf,
    mut to: OwnedWriteHalf,
    shared: Arc<Shared>,
    token: CancellationToken,
) -> Ended {
    let mut faults = core::Flow::new(&shared.plan, id, direction);
    let (tx, mut rx) = mpsc::channel::<Item>(IN_FLIGHT);
    let reader_token = token.clone();
    let reader = async {
        let mut buf = vec![0u8; CHUNK];
        let mut pace: Option<u64> = None;
        loop {
            // Under a limit, read a tenth of a second's worth at most.
            let want = pace.map_or(CHUNK, |b| (b / 10).clamp(1, CHUNK as u64) as usize);
            let n = tokio::select! {
                _ = reader_token.cancelled() => return false,
                r = from.read(&mut buf[..want]) => match r {
                    Ok(0) | Err(_) => {
                        let _ = tx.send(Item::Eof).await;
                        return false;
                    }
                    Ok(n) => n,
                },
            };
            let now = Instant::now();
            let mut due = now;
            if !faults.is_idle() {
                let plan = faults.on_chunk(now.saturating_duration_since(shared.start), n);
                for injected in plan.injected {
                    let r = shared.ledger(injected);
                    tracing::debug!(connection = id, kind = %r.kind, detail = %r.detail, "proxy fault");
                }
                if plan.reset {
                    // Nothing more goes either way: the writer and the other flow stop now.
                    reader_token.cancel();
                    return true;
                }
                due = now + plan.delay;
                if let Some(until) = plan.hold_until {
                    due = due.max(shared.start + until);
                }
                pace = plan.bandwidth.or(pace);
            }
            let item = Item::Bytes { due, bytes: buf[..n].to_vec(), pace };
            if tx.send(item).await.is_err() {
                return false;
            }
        }
    };
    let writer = async {
        let mut next = Instant::now();
        loop {
            let item = tokio::select! {
                _ = token.cancelled() => return,
                i = rx.recv() => i,
            };
            match item {
                Some(Item::Bytes { due, bytes, pace }) => {
                    let at = due.max(next);
                    tokio::select! {
                        _ = token.cancelled() => return,
                        _ = tokio::time::sleep_until(at) => {}
                    }
                    if to.write_all(&bytes).await.is_err() {
                        // The other side is gone: so is the connection.
                        token.cancel();
                        return;
                    }
                    next = match pace {
                        Some(b) => Instant::now().max(at) + core::pace(bytes.len(), b),
                        None => at,
                    };
                }
                Some(Item::Eof) | None => {
                    // Half-close: the other flow may still be carrying an answer.
                    let _ = to.shutdown().await;
                    return;
                }
            }
        }
    };
    let (reset, ()) = tokio::join!(reader, writer);
    Ended { read: from, write: to, reset }
}
