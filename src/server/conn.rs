//! Serving the embedded server's connections with hyper directly instead of `axum::serve`, so
//! each connection's buffers can be bounded: a long-polling agent holds its connection open
//! for the whole run, and hyper's default read buffer grows to 16 KiB per connection.
//!
//! Everything `axum::serve` did that the server relies on is kept: TCP_NODELAY, websocket
//! upgrades, a graceful shutdown that stops accepting, lets in-flight requests finish and waits
//! for every connection task, and accept errors that do not end the server.

use std::io;
use std::time::Duration;

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// hyper's smallest allowed buffer limit (it panics below it): requests and their headers are
/// far smaller, and a held long-poll then keeps 8 KiB of read buffer rather than 16.
const MAX_BUF_SIZE: usize = 8192;

/// After an accept error that is not about one connection (e.g. EMFILE), waiting lets held
/// connections close before trying again instead of spinning on the same error.
const ACCEPT_BACKOFF: Duration = Duration::from_secs(1);

/// Serves `router` on `listener` until `stop` is cancelled, then stops accepting, shuts every
/// connection down gracefully and returns once all are closed.
pub(crate) async fn serve_router(listener: TcpListener, router: Router, stop: CancellationToken) {
    let tracker = TaskTracker::new();
    let mut builder = http1::Builder::new();
    builder.max_buf_size(MAX_BUF_SIZE);
    loop {
        let tcp = tokio::select! {
            _ = stop.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok((tcp, _)) => tcp,
                Err(e) => {
                    accept_failed(e, &stop).await;
                    continue;
                }
            },
        };
        // Notifications are small frames written as they happen: without TCP_NODELAY, Nagle's
        // algorithm and delayed ACKs add tens of milliseconds to every push.
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "cannot set TCP_NODELAY");
        }
        // A clone of the router shares its route table (an `Arc`); nothing is rebuilt per
        // connection.
        let service = TowerToHyperService::new(router.clone());
        let conn = builder.serve_connection(TokioIo::new(tcp), service).with_upgrades();
        let stop = stop.clone();
        tracker.spawn(async move {
            let mut conn = std::pin::pin!(conn);
            // On shutdown the in-flight request finishes (held long-polls are released by the
            // same token), then the connection closes.
            tokio::select! {
                result = conn.as_mut() => return log_end(result),
                _ = stop.cancelled() => conn.as_mut().graceful_shutdown(),
            }
            log_end(conn.await);
        });
    }
    drop(listener);
    tracker.close();
    tracker.wait().await;
}

fn log_end(result: hyper::Result<()>) {
    if let Err(e) = result {
        tracing::trace!(error = %e, "connection ended with an error");
    }
}

async fn accept_failed(e: io::Error, stop: &CancellationToken) {
    if matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    ) {
        return;
    }
    tracing::warn!(error = %e, "accept failed");
    tokio::select! {
        _ = stop.cancelled() => {}
        _ = tokio::time::sleep(ACCEPT_BACKOFF) => {}
    }
}
