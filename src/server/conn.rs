//! Serving the embedded server's connections itself instead of through `axum::serve`, so that a
//! connection costs little while a long-poll holds it: ordinary requests go through gwsim's own
//! HTTP/1.1 loop (`h1`: buffers sized to what is read and given back while a request is
//! served), and a connection whose request asks for a websocket is handed, with the bytes
//! already read, to hyper's HTTP/1.1 builder (axum's upgrade needs hyper's `OnUpgrade`).
//!
//! Everything `axum::serve` did that the server relies on is kept: TCP_NODELAY, websocket
//! upgrades, a graceful shutdown that stops accepting, lets in-flight requests finish and waits
//! for every connection task, and accept errors that do not end the server.

mod h1;
mod parse;
mod rewind;
#[cfg(test)]
mod tests;

use std::io;
use std::time::Duration;

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// hyper's smallest allowed buffer limit (it panics below it), for the websocket connections it
/// still serves: their upgrade request is small, and the buffer is hyper's only until the
/// upgrade.
const MAX_BUF_SIZE: usize = 8192;

/// After an accept error that is not about one connection (e.g. EMFILE), waiting lets held
/// connections close before trying again instead of spinning on the same error.
const ACCEPT_BACKOFF: Duration = Duration::from_secs(1);

/// Serves `router` on `listener` until `stop` is cancelled, then stops accepting, shuts every
/// connection down gracefully and returns once all are closed. Request bodies over `body_limit`
/// (the limit the handlers enforce) are not read.
pub(crate) async fn serve_router(
    listener: TcpListener,
    router: Router,
    body_limit: usize,
    stop: CancellationToken,
) {
    let tracker = TaskTracker::new();
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
        tracker.spawn(connection(tcp, router.clone(), body_limit, stop.clone()));
    }
    drop(listener);
    tracker.close();
    tracker.wait().await;
}

async fn connection(
    mut tcp: TcpStream,
    router: Router,
    body_limit: usize,
    stop: CancellationToken,
) {
    match h1::serve(&mut tcp, &router, body_limit, &stop).await {
        Ok(h1::Outcome::Closed) => {}
        // Boxed: hyper's connection future is large, and only websocket connections need it; the
        // long-polling connections' tasks stay the size of `h1::serve`.
        Ok(h1::Outcome::Upgrade(read)) => Box::pin(upgrade(tcp, read, router, stop)).await,
        Err(e) => tracing::trace!(error = %e, "connection ended with an error"),
    }
}

/// Serves the rest of the connection with hyper, from the request head already read.
async fn upgrade(tcp: TcpStream, read: bytes::Bytes, router: Router, stop: CancellationToken) {
    let mut builder = http1::Builder::new();
    builder.max_buf_size(MAX_BUF_SIZE);
    let io = TokioIo::new(rewind::Rewind::new(read, tcp));
    let conn = builder.serve_connection(io, TowerToHyperService::new(router)).with_upgrades();
    let mut conn = std::pin::pin!(conn);
    // On shutdown the in-flight request finishes (websockets are released by the same token),
    // then the connection closes.
    tokio::select! {
        result = conn.as_mut() => return log_end(result),
        _ = stop.cancelled() => conn.as_mut().graceful_shutdown(),
    }
    log_end(conn.await);
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
