//! The connection loop against the real server on port 0, spoken to byte by byte: keep-alive,
//! pipelining, HTTP/1.0, chunked bodies, `Expect: 100-continue`, refusals, the body limit,
//! websocket upgrades handed to hyper, shutdown with idle connections open, and the read timeout.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::server::users::{Password, UserTable};
use crate::server::{Running, ServerConfig, start};

/// A generous bound for a test's wait on the local server; only a hang reaches it.
const PATIENCE: Duration = Duration::from_secs(20);

async fn server() -> Running {
    let users = UserTable::demo(2, Password::new("pw")).expect("users");
    let config = ServerConfig { body_limit: 1024, ..ServerConfig::default() };
    start(SocketAddr::from(([127, 0, 0, 1], 0)), config, users).await.expect("server starts")
}

/// One response as read off the wire.
#[derive(Debug)]
struct Answer {
    status_line: String,
    /// Header lines, lowercase names.
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
}

/// Reads one response (length-delimited, or head only for `head_only`) from `stream`, keeping
/// whatever follows it in `pending`.
async fn answer(stream: &mut TcpStream, pending: &mut Vec<u8>, head_only: bool) -> Answer {
    let read = async {
        // Bounded by PATIENCE (the timeout around it) and by the response's size.
        loop {
            if let Some(end) = pending.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8(pending[..end].to_vec()).expect("text head");
                let mut lines = head.split("\r\n");
                let status_line = lines.next().expect("status line").to_owned();
                let headers: Vec<(String, String)> = lines
                    .map(|l| {
                        let (n, v) = l.split_once(':').expect("header line");
                        (n.to_ascii_lowercase(), v.trim().to_owned())
                    })
                    .collect();
                let len: usize = if head_only {
                    0
                } else {
                    headers
                        .iter()
                        .find(|(n, _)| n == "content-length")
                        .map_or(0, |(_, v)| v.parse().expect("length"))
                };
                if pending.len() >= end + 4 + len {
                    let body = pending[end + 4..end + 4 + len].to_vec();
                    pending.drain(..end + 4 + len);
                    return Answer { status_line, headers, body };
                }
            }
            let mut chunk = [0u8; 4096];
            let n = stream.read(&mut chunk).await.expect("read");
            assert!(
                n > 0,
                "closed before a whole response; got {:?}",
                String::from_utf8_lossy(pending)
            );
            pending.extend_from_slice(&chunk[..n]);
        }
    };
    tokio::time::timeout(PATIENCE, read).await.expect("an answer in time")
}

/// Whether the server closes the connection (reads nothing more than EOF).
async fn closed(stream: &mut TcpStream) -> bool {
    let mut rest = Vec::new();
    let read = tokio::time::timeout(PATIENCE, stream.read_to_end(&mut rest)).await;
    matches!(read, Ok(Ok(_))) && rest.is_empty()
}

const VERSION: &[u8] = b"GET /api/v2/diagnostics/version HTTP/1.1\r\nHost: x\r\n\r\n";

#[tokio::test]
async fn keep_alive_serves_requests_in_order_on_one_connection_pipelined_or_not() {
    let running = server().await;
    let mut s = TcpStream::connect(running.addr).await.expect("connect");
    let mut pending = Vec::new();
    s.write_all(VERSION).await.expect("write");
    let first = answer(&mut s, &mut pending, false).await;
    assert_eq!(first.status_line, "HTTP/1.1 200 OK");
    assert!(first.header("date").is_some_and(|d| d.ends_with(" GMT")), "{first:?}");
    assert_eq!(first.header("connection"), None);
    assert!(!first.body.is_empty());
    // Three at once, the last an unknown path: answered in the order asked.
    let not_found = b"GET /nowhere HTTP/1.1\r\nHost: x\r\n\r\n";
    let pipelined = [VERSION, VERSION, &not_found[..]].concat();
    s.write_all(&pipelined).await.expect("write");
    for expected in ["HTTP/1.1 200 OK", "HTTP/1.1 200 OK", "HTTP/1.1 404 Not Found"] {
        let a = answer(&mut s, &mut pending, false).await;
        assert_eq!(a.status_line, expected);
        if expected.ends_with("OK") {
            assert_eq!(a.body, first.body);
        }
    }
    // HEAD: the GET answer's length, no body (the next answer follows the head directly).
    let head = b"HEAD /api/v2/diagnostics/version HTTP/1.1\r\nHost: x\r\n\r\n";
    s.write_all(&[&head[..], VERSION].concat()).await.expect("write");
    let a = answer(&mut s, &mut pending, true).await;
    assert_eq!(a.status_line, "HTTP/1.1 200 OK");
    assert_eq!(a.header("content-length"), Some(first.body.len().to_string().as_str()));
    let a = answer(&mut s, &mut pending, false).await;
    assert_eq!((a.status_line.as_str(), &a.body), ("HTTP/1.1 200 OK", &first.body));
    running.stop().await.expect("stops");
}

#[tokio::test]
async fn connection_close_and_http_1_0_close_after_the_answer() {
    let running = server().await;
    let mut s = TcpStream::connect(running.addr).await.expect("connect");
    s.write_all(b"GET /api/v2/diagnostics/version HTTP/1.1\r\nConnection: close\r\n\r\n")
        .await
        .expect("write");
    let a = answer(&mut s, &mut Vec::new(), false).await;
    assert_eq!(
        (a.status_line.as_str(), a.header("connection")),
        ("HTTP/1.1 200 OK", Some("close"))
    );
    assert!(closed(&mut s).await);

    let mut s = TcpStream::connect(running.addr).await.expect("connect");
    s.write_all(b"GET /api/v2/diagnostics/version HTTP/1.0\r\n\r\n").await.expect("write");
    let a = answer(&mut s, &mut Vec::new(), false).await;
    assert_eq!(a.status_line, "HTTP/1.0 200 OK");
    assert!(closed(&mut s).await);

    // HTTP/1.0 asking for keep-alive is told so and kept.
    let mut s = TcpStream::connect(running.addr).await.expect("connect");
    let keep = b"GET /api/v2/diagnostics/version HTTP/1.0\r\nConnection: keep-alive\r\n\r\n";
    let mut pending = Vec::new();
    for _ in 0..2 {
        s.write_all(keep).await.expect("write");
        let a = answer(&mut s, &mut pending, false).await;
        assert_eq!(
            (a.status_line.as_str(), a.header("connection")),
            ("HTTP/1.0 200 OK", Some("keep-alive"))
        );
    }
    running.stop().await.expect("stops");
}

/// A CometD handshake with Basic auth, its body chunked (as Node sends a body of unknown length)
/// and split across writes.
#[tokio::test]
async fn a_chunked_body_reaches_the_handler_whole() {
    let running = server().await;
    let mut s = TcpStream::connect(running.addr).await.expect("connect");
    let body = br#"[{"channel":"/meta/handshake","version":"1.0","supportedConnectionTypes":["long-polling"]}]"#;
    let (a, b) = body.split_at(30);
    let auth = "Authorization: Basic YWdlbnQtMTpwdw=="; // agent-1:pw
    let head = format!(
        "POST /api/v2/notifications HTTP/1.1\r\nHost: x\r\n{auth}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    );
    s.write_all(head.as_bytes()).await.expect("write");
    s.write_all(format!("{:x};ext=1\r\n", a.len()).as_bytes()).await.expect("write");
    s.write_all(a).await.expect("write");
    tokio::time::sleep(Duration::from_millis(20)).await;
    s.write_all(format!("\r\n{:x}\r\n", b.len()).as_bytes()).await.expect("write");
    s.write_all(b).await.expect("write");
    s.write_all(b"\r\n0\r\n\r\n").await.expect("write");
    let reply = answer(&mut s, &mut Vec::new(), false).await;
    assert_eq!(reply.status_line, "HTTP/1.1 200 OK");
    let json: serde_json::Value = serde_json::from_slice(&reply.body).expect("json");
    assert_eq!(json[0]["channel"], "/meta/handshake");
    assert_eq!(json[0]["successful"], true, "{json}");
    assert!(reply.headers.iter().any(|(n, _)| n == "set-cookie"), "{reply:?}");
    running.stop().await.expect("stops");
}

#[tokio::test]
async fn expect_100_continue_is_answered_before_the_body_is_sent() {
    let running = server().await;
    let mut s = TcpStream::connect(running.addr).await.expect("connect");
    let body = br#"[{"channel":"/meta/handshake","version":"1.0","supportedConnectionTypes":["long-polling"]}]"#;
    let head = format!(
        "POST /api/v2/notifications HTTP/1.1\r\nAuthorization: Basic YWdlbnQtMTpwdw==\r\nExpect: 100-continue\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).await.expect("write");
    let mut pending = Vec::new();
    let interim = answer(&mut s, &mut pending, true).await;
    assert_eq!(interim.status_line, "HTTP/1.1 100 Continue");
    s.write_all(body).await.expect("write");
    let reply = answer(&mut s, &mut pending, false).await;
    assert_eq!(reply.status_line, "HTTP/1.1 200 OK");
    running.stop().await.expect("stops");
}

#[tokio::test]
async fn bad_and_oversized_heads_are_refused_with_400_and_431() {
    let running = server().await;
    let cases: [(Vec<u8>, &str); 3] = [
        (b"GET / HTTP/1.1\r\nBad Header: x\r\n\r\n".to_vec(), "HTTP/1.1 400 Bad Request"),
        (
            format!("GET / HTTP/1.1\r\nX-Big: {}\r\n\r\n", "a".repeat(20_000)).into_bytes(),
            "HTTP/1.1 431 Request Header Fields Too Large",
        ),
        (
            format!("GET / HTTP/1.1\r\n{}\r\n", "X-A: 1\r\n".repeat(101)).into_bytes(),
            "HTTP/1.1 431 Request Header Fields Too Large",
        ),
    ];
    for (request, expected) in cases {
        let mut s = TcpStream::connect(running.addr).await.expect("connect");
        // The server may answer and close before reading the whole of a long head.
        let _ = s.write_all(&request).await;
        let a = answer(&mut s, &mut Vec::new(), false).await;
        assert_eq!(a.status_line, expected);
        assert_eq!(a.header("connection"), Some("close"));
        assert!(!a.body.is_empty());
    }
    running.stop().await.expect("stops");
}

/// Over the body limit, the handler answers as it always did (its own limit: statusCode 1 with
/// HTTP 400), and the connection closes since the body was not read.
#[tokio::test]
async fn a_body_over_the_limit_gets_the_handlers_answer_and_a_close() {
    let running = server().await;
    for framing in ["length", "chunked"] {
        let mut s = TcpStream::connect(running.addr).await.expect("connect");
        let big = format!("[{}]", "1,".repeat(1000) + "1");
        let head =
            "POST /api/v2/notifications HTTP/1.1\r\nAuthorization: Basic YWdlbnQtMTpwdw==\r\n";
        let request = match framing {
            "length" => format!("{head}Content-Length: {}\r\n\r\n{big}", big.len()),
            _ => format!(
                "{head}Transfer-Encoding: chunked\r\n\r\n{:x}\r\n{big}\r\n0\r\n\r\n",
                big.len()
            ),
        };
        let _ = s.write_all(request.as_bytes()).await;
        let a = answer(&mut s, &mut Vec::new(), false).await;
        assert_eq!(a.status_line, "HTTP/1.1 400 Bad Request", "{framing}");
        assert_eq!(a.header("connection"), Some("close"));
        let json: serde_json::Value = serde_json::from_slice(&a.body).expect("status body");
        assert_eq!(json["statusCode"], crate::gws::status::VALIDATION, "{json}");
    }
    running.stop().await.expect("stops");
}

/// A websocket upgrade read by the loop is handed to hyper, which completes it.
#[tokio::test]
async fn a_websocket_upgrade_is_served_by_hyper_after_the_loop_read_its_head() {
    let running = server().await;
    let s = TcpStream::connect(running.addr).await.expect("connect");
    let url = format!("ws://{}/api/v2/notifications", running.addr);
    let request =
        tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(url)
            .map(|mut r| {
                r.headers_mut().insert(
                    "authorization",
                    "Basic YWdlbnQtMTpwdw==".parse().expect("header value"),
                );
                r
            })
            .expect("request");
    let connect = tokio_tungstenite::client_async(request, s);
    let (ws, response) =
        tokio::time::timeout(PATIENCE, connect).await.expect("in time").expect("upgraded");
    assert_eq!(response.status().as_u16(), 101);
    drop(ws);
    running.stop().await.expect("stops");
}

/// Shutdown does not wait for idle keep-alive connections, and closes them.
#[tokio::test]
async fn shutdown_closes_idle_keep_alive_connections() {
    let running = server().await;
    let mut s = TcpStream::connect(running.addr).await.expect("connect");
    s.write_all(VERSION).await.expect("write");
    answer(&mut s, &mut Vec::new(), false).await;
    tokio::time::timeout(PATIENCE, running.stop()).await.expect("stops in time").expect("stops");
    assert!(closed(&mut s).await);
}

/// A request that stalls halfway loses its connection after `READ_TIMEOUT` (paused time: the
/// clock jumps when everything waits), while an idle connection between requests is kept.
#[tokio::test(start_paused = true)]
async fn a_request_stalled_halfway_is_dropped_after_the_read_timeout() {
    let running = server().await;
    let mut idle = TcpStream::connect(running.addr).await.expect("connect");
    let mut stalled = TcpStream::connect(running.addr).await.expect("connect");
    stalled.write_all(b"POST /api/v2/notifications HTTP/1.1\r\nContent-Le").await.expect("write");
    let began = tokio::time::Instant::now();
    let mut rest = Vec::new();
    let read = stalled.read_to_end(&mut rest);
    let read = tokio::time::timeout(super::h1::READ_TIMEOUT * 2, read).await;
    assert!(matches!(read, Ok(Ok(0))), "closed without an answer: {read:?} {rest:?}");
    assert!(began.elapsed() >= super::h1::READ_TIMEOUT);
    // The idle one still serves.
    idle.write_all(VERSION).await.expect("write");
    let a = answer(&mut idle, &mut Vec::new(), false).await;
    assert_eq!(a.status_line, "HTTP/1.1 200 OK");
    running.stop().await.expect("stops");
}

/// A client that closes while its request is held (a long-poll) has its handler dropped at once,
/// as hyper did: the hold's guard ends it, not its timeout. Served through a router whose one
/// handler holds until dropped.
#[tokio::test]
async fn a_client_gone_mid_request_drops_its_handler() {
    struct Dropped(Option<tokio::sync::oneshot::Sender<()>>);
    impl Drop for Dropped {
        fn drop(&mut self) {
            if let Some(tx) = self.0.take() {
                let _ = tx.send(());
            }
        }
    }
    let (tx, rx) = tokio::sync::oneshot::channel();
    let tx = std::sync::Arc::new(std::sync::Mutex::new(Some(tx)));
    let router = axum::Router::new().route(
        "/hold",
        axum::routing::post(move || {
            let guard = Dropped(tx.lock().expect("lock").take());
            async move {
                std::future::pending::<()>().await;
                drop(guard);
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let stop = tokio_util::sync::CancellationToken::new();
    let server = tokio::spawn(super::serve_router(listener, router, 1024, stop.clone()));
    let mut s = TcpStream::connect(addr).await.expect("connect");
    s.write_all(b"POST /hold HTTP/1.1\r\nContent-Length: 2\r\n\r\n[]").await.expect("write");
    // Held: nothing comes back; then the client goes.
    let mut byte = [0u8; 1];
    let held = tokio::time::timeout(Duration::from_millis(200), s.read(&mut byte)).await;
    assert!(held.is_err(), "the request is held");
    drop(s);
    tokio::time::timeout(PATIENCE, rx).await.expect("dropped in time").expect("the guard's signal");
    stop.cancel();
    tokio::time::timeout(PATIENCE, server).await.expect("stops in time").expect("joins");
}
