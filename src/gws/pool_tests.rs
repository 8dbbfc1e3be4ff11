//! The REST pool's connection handling against a scripted raw HTTP/1.1 responder on
//! 127.0.0.1:0: keep-alive reuse, a kept connection the server closed, a failure after the
//! request went out (counted, never retried), redirects, and oversize bodies.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;

use super::*;

/// What the responder does with one request.
#[derive(Clone)]
enum Action {
    /// Writes this response and keeps the connection.
    Answer(&'static str),
    /// Writes this response and closes.
    AnswerThenClose(&'static str),
    /// Closes without answering.
    Close,
}

#[derive(Clone, Default)]
struct Seen {
    connections: Arc<AtomicUsize>,
    requests: Arc<Mutex<Vec<String>>>,
}

impl Seen {
    fn lines(&self) -> Vec<String> {
        self.requests.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

const OK: &str = "HTTP/1.1 200 OK\r\ncontent-length: 16\r\n\r\n{\"statusCode\":0}";

/// Starts the responder; `script` picks the action from the request line.
async fn responder(script: fn(&str) -> Action) -> (String, Seen) {
    start(script, false).await
}

/// [`responder`], behind TLS with a self-signed certificate when `tls`.
async fn start(script: fn(&str) -> Action, tls: bool) -> (String, Seen) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind loopback");
    let scheme = if tls { "https" } else { "http" };
    let base = format!("{scheme}://{}", listener.local_addr().expect("addr"));
    let seen = Seen::default();
    let shared = seen.clone();
    let acceptor = crate::net::test_tls::acceptor();
    tokio::spawn(async move {
        // Bounded by the test: the task ends with the runtime.
        while let Ok((stream, _)) = listener.accept().await {
            shared.connections.fetch_add(1, Ordering::SeqCst);
            let (acceptor, seen) = (acceptor.clone(), shared.clone());
            tokio::spawn(async move {
                if tls {
                    let Ok(stream) = acceptor.accept(stream).await else { return };
                    serve_connection(stream, script, seen).await;
                } else {
                    serve_connection(stream, script, seen).await;
                }
            });
        }
    });
    (base, seen)
}

async fn serve_connection(
    mut stream: impl AsyncRead + AsyncWrite + Unpin,
    script: fn(&str) -> Action,
    seen: Seen,
) {
    let mut buf = Vec::new();
    // Bounded: each turn handles one request or ends the connection.
    for _ in 0..100 {
        let Some((line, used)) = read_request(&mut stream, &mut buf).await else { return };
        buf.drain(..used);
        seen.requests.lock().unwrap_or_else(|p| p.into_inner()).push(line.clone());
        match script(&line) {
            Action::Answer(r) => {
                if stream.write_all(r.as_bytes()).await.is_err() {
                    return;
                }
            }
            Action::AnswerThenClose(r) => {
                let _ = stream.write_all(r.as_bytes()).await;
                return;
            }
            Action::Close => return,
        }
    }
}

/// One request's line and its length (head and content-length body), or `None` at the end.
async fn read_request(
    stream: &mut (impl AsyncRead + Unpin),
    buf: &mut Vec<u8>,
) -> Option<(String, usize)> {
    // Bounded: requests in these tests are under 4 KiB.
    for _ in 0..4096 {
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut request = httparse::Request::new(&mut headers);
        if let Ok(httparse::Status::Complete(head)) = request.parse(buf) {
            let length = request
                .headers
                .iter()
                .find(|h| h.name.eq_ignore_ascii_case("content-length"))
                .and_then(|h| std::str::from_utf8(h.value).ok()?.trim().parse::<usize>().ok())
                .unwrap_or(0);
            if buf.len() >= head + length {
                let line = format!("{} {}", request.method?, request.path?);
                return Some((line, head + length));
            }
        }
        let mut chunk = [0u8; 1024];
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    None
}

fn client(base: &str) -> GwsClient {
    GwsClient::builder()
        .base_url(base)
        .request_timeout(Duration::from_secs(5))
        .build()
        .expect("client")
}

fn customer(base: &str) -> CustomerClient {
    CustomerClient::new(&client(base), "cc").expect("customer")
}

#[tokio::test]
async fn requests_share_one_kept_connection() {
    let (base, seen) = responder(|_| Action::Answer(OK)).await;
    let c = customer(&base);
    for _ in 0..5 {
        c.send_message("c1", "hi").await.expect("answered");
    }
    assert_eq!(seen.lines().len(), 5);
    assert_eq!(seen.connections.load(Ordering::SeqCst), 1, "one connection, kept");
}

#[tokio::test]
async fn a_kept_connection_the_server_closed_is_replaced_before_use() {
    let (base, seen) = responder(|_| Action::AnswerThenClose(OK)).await;
    let c = customer(&base);
    for _ in 0..3 {
        c.send_message("c1", "hi").await.expect("answered");
        // The close reaches the client before the next request looks for an idle connection.
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(seen.lines().len(), 3, "each request sent once");
    assert_eq!(seen.connections.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn a_connection_lost_after_the_request_went_out_fails_it_and_is_not_retried() {
    let (base, seen) = responder(|_| Action::Close).await;
    let err = customer(&base).send_message("c1", "hi").await.expect_err("no answer");
    assert_eq!(err.kind().to_string(), "transport");
    assert_eq!(seen.lines(), ["POST /api/v2/chats/c1"], "sent once, never again");
}

#[tokio::test]
async fn same_origin_redirects_are_followed_and_others_are_the_answer() {
    let (base, seen) = responder(|line| match line {
        "POST /api/v2/chats/c1" => Action::Answer(
            "HTTP/1.1 302 Found\r\nlocation: /api/v2/chats/c2\r\ncontent-length: 0\r\n\r\n",
        ),
        "POST /api/v2/chats/c3" => Action::Answer(
            "HTTP/1.1 307 Temporary Redirect\r\nlocation: /api/v2/chats/c1b\r\ncontent-length: 0\r\n\r\n",
        ),
        "POST /api/v2/chats/away" => Action::Answer(
            "HTTP/1.1 302 Found\r\nlocation: http://192.0.2.1/x\r\ncontent-length: 0\r\n\r\n",
        ),
        "GET /api/v2/chats/loop" | "POST /api/v2/chats/loop" => Action::Answer(
            "HTTP/1.1 302 Found\r\nlocation: /api/v2/chats/loop\r\ncontent-length: 0\r\n\r\n",
        ),
        _ => Action::Answer(OK),
    })
    .await;
    let c = customer(&base);
    c.send_message("c1", "hi").await.expect("followed");
    c.send_message("c3", "hi").await.expect("followed");
    let err = c.send_message("away", "hi").await.expect_err("not followed");
    assert_eq!(err.kind().to_string(), "http-302");
    let err = c.send_message("loop", "hi").await.expect_err("bounded");
    assert_eq!(err.kind().to_string(), "transport");
    let lines = seen.lines();
    assert_eq!(
        lines[..5],
        [
            "POST /api/v2/chats/c1",
            "GET /api/v2/chats/c2",
            "POST /api/v2/chats/c3",
            "POST /api/v2/chats/c1b",
            "POST /api/v2/chats/away",
        ]
    );
    assert_eq!(lines.len(), 5 + 1 + 10, "the loop: the request and ten redirects");
}

#[tokio::test]
async fn oversize_and_garbled_responses_have_their_kinds() {
    let (base, _) = responder(|line| match line {
        "POST /api/v2/chats/big" => {
            Action::Answer("HTTP/1.1 200 OK\r\ncontent-length: 99999999\r\n\r\n")
        }
        "POST /api/v2/chats/html" => {
            Action::Answer("HTTP/1.1 200 OK\r\ncontent-length: 6\r\n\r\n<html>")
        }
        _ => Action::AnswerThenClose("garbage\r\n\r\n"),
    })
    .await;
    let c = customer(&base);
    let kind = |r: Result<(), GwsError>| r.expect_err("fails").kind().to_string();
    assert_eq!(kind(c.send_message("big", "x").await), "decode");
    assert_eq!(kind(c.send_message("html", "x").await), "decode");
    assert_eq!(kind(c.send_message("bad", "x").await), "transport");
}

#[tokio::test]
async fn https_verifies_certificates_unless_told_not_to() {
    let (base, seen) = start(|_| Action::Answer(OK), true).await;
    let insecure =
        GwsClient::builder().base_url(&base).accept_invalid_certs(true).build().expect("client");
    let c = CustomerClient::new(&insecure, "cc").expect("customer");
    c.send_message("c1", "hi").await.expect("over tls");
    c.send_message("c1", "again").await.expect("kept tls connection");
    assert_eq!(seen.connections.load(Ordering::SeqCst), 1);
    let err = customer(&base).send_message("c1", "hi").await.expect_err("self-signed");
    assert_eq!(err.kind().to_string(), "transport");
    assert_eq!(seen.lines().len(), 2, "nothing sent over an unverified connection");
}
