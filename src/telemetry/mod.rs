//! Live metrics for Prometheus: the `/metrics` endpoint of `gwsim run --prometheus ADDR` and
//! `gwsim serve --prometheus ADDR`, in the OpenMetrics text format that Prometheus scrapes, built
//! with the official `prometheus-client` crate.
//!
//! - [`names`]: every metric and label name, one home (operations, error and violation kinds take
//!   their values from `vocab`).
//! - [`run`]: the simulator's families, fed one interval at a time as an [`IntervalObserver`]
//!   (nothing in the hot path: the engine's ticker already merges each second's recorders).
//! - [`serve`]: the reference server's families (requests, CometD sessions, notifications,
//!   faults), fed by the server's own shells.
//! - [`Exporter`]: the listener. A bind is refused off loopback unless asked for
//!   ([`bind`]), as `--target` refuses a remote host without `--allow-remote`.
//!
//! Why a small hand-written HTTP responder and not axum: nothing outside `server` speaks axum or
//! hyper (ARCHITECTURE.md, checked by `tidy`), and an exporter answers one `GET` with one body,
//! `Connection: close`, which is all a Prometheus scrape needs.
//!
//! [`IntervalObserver`]: crate::metrics::interval::IntervalObserver

pub mod names;
pub mod run;
pub mod serve;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use prometheus_client::registry::Registry;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

/// The content type of [`encode`]'s output.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The path Prometheus scrapes.
pub const METRICS_PATH: &str = "/metrics";

/// The largest request head read; a scrape's is a few hundred bytes.
const MAX_REQUEST: usize = 8 * 1024;

/// How long a client may take to send its request head before the connection is dropped, so a
/// silent client cannot hold a task forever.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Why the endpoint cannot start.
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    #[error(
        "--prometheus {0}: not a loopback address, so anyone on the network could read the run's \
         metrics; add --prometheus-allow-remote if that is intended (e.g. in a Kubernetes pod, \
         with 0.0.0.0:9464)"
    )]
    Remote(SocketAddr),
    #[error("--prometheus {addr}: cannot listen: {source}")]
    Bind { addr: SocketAddr, source: std::io::Error },
}

/// Binds the endpoint's listener. A non-loopback address (the unspecified `0.0.0.0` included) is
/// refused unless `allow_remote`: the metrics name the scenario and show the load, which is the
/// business of whoever runs it.
pub async fn bind(addr: SocketAddr, allow_remote: bool) -> Result<TcpListener, TelemetryError> {
    if !addr.ip().is_loopback() && !allow_remote {
        return Err(TelemetryError::Remote(addr));
    }
    TcpListener::bind(addr).await.map_err(|source| TelemetryError::Bind { addr, source })
}

/// The registry in the OpenMetrics text format. Encoding into a `String` cannot fail but by a
/// bug in a metric's encoder; the error text is then served instead, so a scrape says so.
pub fn encode(registry: &Registry) -> String {
    let mut out = String::new();
    if let Err(e) = prometheus_client::encoding::text::encode(&mut out, registry) {
        tracing::warn!(error = %e, "cannot encode the metrics");
        return format!("# encoding failed: {e}\n# EOF\n");
    }
    out
}

/// A running `/metrics` endpoint; stops when dropped or [`Exporter::stop`]ped.
#[derive(Debug)]
pub struct Exporter {
    addr: SocketAddr,
    stop: CancellationToken,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Exporter {
    /// Serves `registry` on `listener` until stopped.
    pub fn start(listener: TcpListener, registry: Arc<Registry>) -> std::io::Result<Self> {
        let addr = listener.local_addr()?;
        let stop = CancellationToken::new();
        let task = tokio::spawn(accept_loop(listener, registry, stop.clone()));
        Ok(Exporter { addr, stop, task: Some(task) })
    }

    /// The address bound (the real port when 0 was asked for).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting and waits for the accept loop to end (connections in flight finish on
    /// their own tasks).
    pub async fn stop(mut self) {
        self.stop.cancel();
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for Exporter {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

async fn accept_loop(listener: TcpListener, registry: Arc<Registry>, stop: CancellationToken) {
    loop {
        let accepted = tokio::select! {
            _ = stop.cancelled() => return,
            a = listener.accept() => a,
        };
        match accepted {
            Ok((stream, _)) => {
                tokio::spawn(answer(stream, registry.clone()));
            }
            // Out of file descriptors and the like: wait a little rather than spin.
            Err(e) => {
                tracing::debug!(error = %e, "metrics endpoint: accept failed");
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = tokio::time::sleep(Duration::from_millis(100)) => {}
                }
            }
        }
    }
}

/// What a request head asks for.
#[derive(Debug, PartialEq, Eq)]
enum Request {
    Metrics { head_only: bool },
    NotFound,
    MethodNotAllowed,
    Bad,
}

/// Reads the request line of an HTTP/1.x request head (`GET /metrics?x HTTP/1.1`).
fn parse_request(head: &str) -> Request {
    let mut words = head.lines().next().unwrap_or_default().split_whitespace();
    let (Some(method), Some(target), Some(version)) = (words.next(), words.next(), words.next())
    else {
        return Request::Bad;
    };
    if !version.starts_with("HTTP/1.") {
        return Request::Bad;
    }
    let path = target.split('?').next().unwrap_or_default();
    match (method, path == METRICS_PATH) {
        (_, false) => Request::NotFound,
        ("GET", true) => Request::Metrics { head_only: false },
        ("HEAD", true) => Request::Metrics { head_only: true },
        _ => Request::MethodNotAllowed,
    }
}

async fn answer(mut stream: TcpStream, registry: Arc<Registry>) {
    let mut buf = Vec::with_capacity(1024);
    let read = tokio::time::timeout(REQUEST_TIMEOUT, async {
        let mut chunk = [0u8; 1024];
        while !buf.windows(4).any(|w| w == b"\r\n\r\n") && buf.len() < MAX_REQUEST {
            let n = stream.read(&mut chunk).await?;
            if n == 0 {
                break;
            }
            buf.extend_from_slice(&chunk[..n]);
        }
        Ok::<_, std::io::Error>(())
    })
    .await;
    if !matches!(read, Ok(Ok(()))) {
        return;
    }
    let request = parse_request(&String::from_utf8_lossy(&buf));
    let (status, content_type, body, head_only) = match request {
        Request::Metrics { head_only } => ("200 OK", CONTENT_TYPE, encode(&registry), head_only),
        Request::NotFound => {
            ("404 Not Found", "text/plain", "not found: try /metrics\n".to_owned(), false)
        }
        Request::MethodNotAllowed => {
            ("405 Method Not Allowed", "text/plain", "GET or HEAD only\n".to_owned(), false)
        }
        Request::Bad => ("400 Bad Request", "text/plain", "bad request\n".to_owned(), false),
    };
    let head = format!(
        "HTTP/1.1 {status}\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\n\
         connection: close\r\n\r\n",
        body.len()
    );
    let mut out = head.into_bytes();
    if !head_only {
        out.extend_from_slice(body.as_bytes());
    }
    // A scraper that went away is no concern of the run's.
    let _ = stream.write_all(&out).await;
    let _ = stream.shutdown().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_request_line_decides_the_answer() {
        assert_eq!(
            parse_request("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"),
            Request::Metrics { head_only: false }
        );
        assert_eq!(
            parse_request("HEAD /metrics?x=1 HTTP/1.0\r\n\r\n"),
            Request::Metrics { head_only: true }
        );
        assert_eq!(parse_request("GET / HTTP/1.1\r\n\r\n"), Request::NotFound);
        assert_eq!(parse_request("POST /metrics HTTP/1.1\r\n\r\n"), Request::MethodNotAllowed);
        assert_eq!(parse_request("hello"), Request::Bad);
        assert_eq!(parse_request(""), Request::Bad);
    }

    #[tokio::test]
    async fn a_non_loopback_bind_is_refused_unless_allowed() {
        let any: SocketAddr = ([0, 0, 0, 0], 0).into();
        assert!(matches!(bind(any, false).await, Err(TelemetryError::Remote(_))));
        let local: SocketAddr = ([127, 0, 0, 1], 0).into();
        assert!(bind(local, false).await.is_ok());
    }

    #[tokio::test]
    async fn the_endpoint_serves_the_registry_over_http() {
        let mut registry = Registry::with_prefix(names::PREFIX);
        let c: prometheus_client::metrics::counter::Counter = Default::default();
        registry.register("probe", "A test counter", c.clone());
        c.inc_by(3);
        let listener = bind(([127, 0, 0, 1], 0).into(), false).await.unwrap();
        let exporter = Exporter::start(listener, Arc::new(registry)).unwrap();
        let mut s = TcpStream::connect(exporter.addr()).await.unwrap();
        s.write_all(b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").await.unwrap();
        let mut got = String::new();
        s.read_to_string(&mut got).await.unwrap();
        assert!(got.starts_with("HTTP/1.1 200 OK\r\n"), "{got}");
        assert!(got.contains(CONTENT_TYPE), "{got}");
        assert!(got.contains("\ngwsim_probe_total 3\n"), "{got}");
        assert!(got.ends_with("# EOF\n"), "{got}");
        exporter.stop().await;
    }
}
