//! The CometD client against hostile servers on 127.0.0.1:0 (issue 9): a server whose first
//! `/meta/connect` succeeds and every later one fails one way (HTTP 500, garbage, truncated or
//! mistyped JSON, a body that is not an array, a redirect loop, a reset, a body over the size
//! limit, `402::Unknown client`), and a websocket server whose frames have the wrong shape. Each
//! case checks that every failure is reported by kind, that the client retried (or
//! re-handshook), and that it gives up with a reason instead of hanging. A server flooding
//! large notifications about unknown interactions, on either transport, to a receiver that does
//! not read: the session holds no more than its byte budget, and loses nothing.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering as AtomicOrdering};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::extract::ws::{Message as AxMessage, WebSocket as AxSocket, WebSocketUpgrade};
use axum::response::Response;
use axum::routing::get;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

use super::*;

/// A safety net so a client that hangs fails the test; never a timing claim.
const PATIENCE: Duration = Duration::from_secs(30);
/// Consecutive failures the client is allowed in these tests.
const MAX_RECONNECTS: u32 = 3;
/// The message size limit the client is given here, so the oversize case stays small.
const LIMIT: usize = 64 * 1024;

/// How the server answers every `/meta/connect` after the first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Misbehaviour {
    Status500,
    Garbage,
    Truncated,
    /// `successful: "yes"`.
    Mistyped,
    /// A JSON object that is not a Bayeux message.
    NotArray,
    RedirectLoop,
    Reset,
    /// A valid batch carrying a notification with a 2 MB nickname, over the client's limit.
    Oversize,
    UnknownClient,
    /// Every connect succeeds and brings [`FLOOD_PER_CONNECT`] large notifications about
    /// interactions never offered, numbered from 0 across the session.
    Flood,
}

#[derive(Debug, Default)]
struct Seen {
    handshakes: AtomicU64,
    connects: AtomicU64,
    /// Notifications a `Flood` server has sent so far.
    flooded: AtomicU64,
}

/// Notifications per flooded connect, and the nickname length of each: a batch stays under
/// [`LIMIT`], and the budget below holds a few dozen of them, well under `event_buffer` (64) of
/// them, so the budget in bytes is what stops the session, not the channel's count.
const FLOOD_PER_CONNECT: u64 = 6;
const FLOOD_NICKNAME: usize = 8 * 1024;
/// The byte budget the flood tests give the client.
const FLOOD_BUDGET: usize = 256 * 1024;

/// What the raw server does with one request.
enum Answer {
    Body(u16, String),
    Redirect,
    Reset,
}

fn reply(channel: &str, id: &Value, extra: Value) -> Value {
    let mut m = json!({"channel": channel, "id": id, "successful": true});
    if let (Some(m), Some(extra)) = (m.as_object_mut(), extra.as_object()) {
        m.extend(extra.clone());
    }
    m
}

fn answer(mode: Misbehaviour, fail_from: u64, seen: &Seen, body: &[u8]) -> Answer {
    let Ok(batch) = serde_json::from_slice::<Vec<Value>>(body) else {
        // A redirected request arrives as a GET without a body: keep redirecting.
        return match mode {
            Misbehaviour::RedirectLoop => Answer::Redirect,
            _ => Answer::Body(400, "bad request".into()),
        };
    };
    let mut replies = Vec::new();
    for m in &batch {
        let id = &m["id"];
        match m["channel"].as_str().unwrap_or_default() {
            "/meta/handshake" => {
                seen.handshakes.fetch_add(1, AtomicOrdering::Relaxed);
                replies.push(reply(
                    "/meta/handshake",
                    id,
                    json!({"clientId":"c1","version":"1.0",
                        "supportedConnectionTypes":["long-polling","websocket"],
                        "advice":{"reconnect":"retry","interval":0,"timeout":50}}),
                ));
            }
            "/meta/connect" => {
                let n = seen.connects.fetch_add(1, AtomicOrdering::Relaxed);
                if n < fail_from {
                    replies.push(reply("/meta/connect", id, json!({"advice":{"timeout":50}})));
                    continue;
                }
                return match mode {
                    Misbehaviour::Status500 => Answer::Body(500, "internal error".into()),
                    Misbehaviour::Garbage => Answer::Body(200, "<html>bad gateway</html>".into()),
                    Misbehaviour::Truncated => {
                        Answer::Body(200, r#"[{"channel":"/meta/connect","successful":tr"#.into())
                    }
                    Misbehaviour::Mistyped => Answer::Body(
                        200,
                        json!([{"channel":"/meta/connect","successful":"yes","id":id}]).to_string(),
                    ),
                    Misbehaviour::NotArray => {
                        Answer::Body(200, r#"{"unexpected":"object"}"#.into())
                    }
                    Misbehaviour::RedirectLoop => Answer::Redirect,
                    Misbehaviour::Reset => Answer::Reset,
                    Misbehaviour::Oversize => Answer::Body(200, flood_batch(1)),
                    Misbehaviour::Flood => {
                        let ok = reply("/meta/connect", id, json!({"advice":{"timeout":50}}));
                        Answer::Body(200, numbered_flood(seen, ok))
                    }
                    Misbehaviour::UnknownClient => Answer::Body(
                        200,
                        json!([{"channel":"/meta/connect","successful":false,"id":id,
                            "error":"402::Unknown client","advice":{"reconnect":"handshake"}}])
                        .to_string(),
                    ),
                };
            }
            channel => replies.push(reply(channel, id, json!({"subscription": m["subscription"]}))),
        }
    }
    Answer::Body(200, Value::Array(replies).to_string())
}

/// `n` notifications about interactions never offered, each with a 2 MB nickname.
fn flood_batch(n: usize) -> String {
    let nickname = "x".repeat(2_000_000);
    let messages: Vec<Value> = (0..n)
        .map(|i| {
            json!({"channel":"/v2/me/chats","data":{"messageType":"ChatStateChangeMessage",
                "notificationType":"ParticipantsUpdated","chat":{"id":format!("never-{i}"),
                "state":"Chatting","participants":[{"participantId":"p","type":"Customer",
                "nickname":nickname}]}}})
        })
        .collect();
    Value::Array(messages).to_string()
}

/// `ok` followed by the next [`FLOOD_PER_CONNECT`] notifications of the flood, each about an
/// interaction never offered (`flood-<n>`) and carrying a large nickname.
fn numbered_flood(seen: &Seen, ok: Value) -> String {
    let nickname = "y".repeat(FLOOD_NICKNAME);
    let first = seen.flooded.fetch_add(FLOOD_PER_CONNECT, AtomicOrdering::Relaxed);
    let mut batch = vec![ok];
    batch.extend((first..first + FLOOD_PER_CONNECT).map(|n| {
        json!({"channel":"/v2/me/chats","data":{"messageType":"ChatStateChangeMessage",
            "notificationType":"ParticipantsUpdated","chat":{"id":format!("flood-{n}"),
            "state":"Chatting","participants":[{"participantId":"p","type":"Customer",
            "nickname":nickname}]}}})
    }));
    Value::Array(batch).to_string()
}

/// Reads one HTTP/1.1 request (head and Content-Length body) from `stream`; `None` at the end.
/// Bounded by the size of what the client sends, which is small.
async fn read_request(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Option<Vec<u8>> {
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(pos) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break pos + 4;
        }
        if buf.len() > 64 * 1024 {
            return None;
        }
        let n = stream.read(&mut chunk).await.ok().filter(|&n| n > 0)?;
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    while buf.len() < head_end + length {
        let n = stream.read(&mut chunk).await.ok().filter(|&n| n > 0)?;
        buf.extend_from_slice(&chunk[..n]);
    }
    let body = buf[head_end..head_end + length].to_vec();
    buf.drain(..head_end + length);
    Some(body)
}

async fn serve_connection(
    mut stream: TcpStream,
    mode: Misbehaviour,
    fail_from: u64,
    seen: Arc<Seen>,
) {
    let mut buf = Vec::new();
    // One request per turn; the connection ends when the client closes it or on a reset.
    while let Some(body) = read_request(&mut stream, &mut buf).await {
        let response = match answer(mode, fail_from, &seen, &body) {
            Answer::Body(status, text) => format!(
                "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{text}",
                text.len()
            ),
            Answer::Redirect => "HTTP/1.1 302 Found\r\nlocation: /api/v2/notifications/connect\r\ncontent-length: 0\r\n\r\n".to_owned(),
            Answer::Reset => {
                // Linger 0: the close is a RST, as a crashed proxy sends. Deprecated because a
                // non-zero linger blocks on drop; zero does not.
                #[allow(deprecated)]
                let _ = stream.set_linger(Some(Duration::ZERO));
                return;
            }
        };
        if stream.write_all(response.as_bytes()).await.is_err() {
            return;
        }
    }
}

/// A raw HTTP/1.1 Bayeux server for long-polling: the first `fail_from` connects succeed.
async fn serve_long_polling(
    mode: Misbehaviour,
    fail_from: u64,
) -> (String, Arc<Seen>, CancellationToken) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let seen = Arc::new(Seen::default());
    let stop = CancellationToken::new();
    let (s, t) = (Arc::clone(&seen), stop.clone());
    tokio::spawn(async move {
        loop {
            tokio::select! {
                () = t.cancelled() => return,
                accepted = listener.accept() => {
                    let Ok((stream, _)) = accepted else { return };
                    tokio::spawn(serve_connection(stream, mode, fail_from, Arc::clone(&s)));
                }
            }
        }
    });
    (base, seen, stop)
}

fn hostile_config(base: &str, transport: Transport) -> CometdConfig {
    let mut config = CometdConfig::new(base, transport);
    config.backoff_min = Duration::from_millis(1);
    config.backoff_max = Duration::from_millis(5);
    config.request_timeout = Duration::from_secs(5);
    config.max_reconnects = MAX_RECONNECTS;
    config.max_reconnect_time = Duration::from_secs(120);
    config.disconnect_timeout = Duration::from_millis(200);
    config.ws_max_message = LIMIT;
    config
}

/// Everything the session reported until it closed: failures (kind, attempt), re-handshakes,
/// reconnects, and why it closed. Bounded by [`PATIENCE`] and by the event count.
#[derive(Debug, Default)]
struct Story {
    failures: Vec<(&'static str, u32)>,
    rehandshakes: u32,
    reconnects: u32,
    closed: Option<CloseReason>,
}

async fn story(rx: &mut Events) -> Story {
    let mut story = Story::default();
    let collected = tokio::time::timeout(PATIENCE, async {
        for _ in 0..10_000 {
            match rx.recv().await {
                Some(Event::Failed { error, attempt }) => {
                    story.failures.push((error.kind(), attempt))
                }
                Some(Event::Rehandshake) => story.rehandshakes += 1,
                Some(Event::Reconnected { .. }) => story.reconnects += 1,
                Some(Event::Data { .. }) => {}
                Some(Event::Closed { reason }) => {
                    story.closed = Some(reason);
                    return;
                }
                None => return,
            }
        }
    })
    .await;
    assert!(collected.is_ok(), "the session neither gave up nor closed: {story:?}");
    story
}

/// Runs a long-polling session against `mode` and checks the common story: every connect after
/// the first fails with `kind`, each failure is reported with its attempt number, the client
/// retried up to its bound, and it gave up saying why.
async fn long_polling_gives_up(mode: Misbehaviour, kind: &str) {
    let (base, seen, stop) = serve_long_polling(mode, 1).await;
    let token = CancellationToken::new();
    let (handle, mut rx) = connect(hostile_config(&base, Transport::LongPolling), token)
        .await
        .expect("the handshake and the first connect succeed");
    let story = story(&mut rx).await;
    let attempts: Vec<u32> = (1..=MAX_RECONNECTS + 1).collect();
    assert_eq!(story.failures.iter().map(|f| f.1).collect::<Vec<_>>(), attempts, "{story:?}");
    assert!(story.failures.iter().all(|f| f.0 == kind), "{mode:?}: {story:?}");
    match &story.closed {
        Some(CloseReason::GaveUp { attempts, last }) => {
            assert_eq!(*attempts, MAX_RECONNECTS + 1);
            assert_eq!(last.kind(), kind);
            assert!(story.closed.as_ref().is_some_and(|r| r.to_string().contains("gave up")));
        }
        other => panic!("{mode:?}: expected GaveUp, got {other:?}"),
    }
    // The first connect, then one per attempt: the client retried.
    assert!(seen.connects.load(AtomicOrdering::Relaxed) >= u64::from(MAX_RECONNECTS) + 2);
    assert_eq!(handle.stats().failures, u64::from(MAX_RECONNECTS) + 1);
    handle.join().await;
    stop.cancel();
}

#[tokio::test]
async fn http_500_on_connect_is_counted_and_given_up_on() {
    long_polling_gives_up(Misbehaviour::Status500, "http-status").await;
}

#[tokio::test]
async fn garbage_connect_replies_are_counted_and_given_up_on() {
    long_polling_gives_up(Misbehaviour::Garbage, "not-json").await;
}

#[tokio::test]
async fn truncated_json_is_counted_and_given_up_on() {
    long_polling_gives_up(Misbehaviour::Truncated, "not-json").await;
}

#[tokio::test]
async fn mistyped_successful_is_counted_and_given_up_on() {
    long_polling_gives_up(Misbehaviour::Mistyped, "wrong-shape").await;
}

#[tokio::test]
async fn a_body_that_is_not_an_array_is_counted_and_given_up_on() {
    long_polling_gives_up(Misbehaviour::NotArray, "wrong-shape").await;
}

#[tokio::test]
async fn a_redirect_loop_is_counted_and_given_up_on() {
    long_polling_gives_up(Misbehaviour::RedirectLoop, "redirect").await;
}

#[tokio::test]
async fn a_reset_is_counted_and_given_up_on() {
    long_polling_gives_up(Misbehaviour::Reset, "transport").await;
}

#[tokio::test]
async fn an_oversize_body_is_refused_counted_and_given_up_on() {
    long_polling_gives_up(Misbehaviour::Oversize, "oversize").await;
}

/// `402::Unknown client` on every connect: the client re-handshakes each time, then stops
/// because the server keeps forgetting it, and says so.
#[tokio::test]
async fn unknown_client_forever_rehandshakes_then_gives_up() {
    let (base, seen, stop) = serve_long_polling(Misbehaviour::UnknownClient, 1).await;
    let (handle, mut rx) =
        connect(hostile_config(&base, Transport::LongPolling), CancellationToken::new())
            .await
            .expect("opens");
    let story = story(&mut rx).await;
    assert_eq!(story.rehandshakes, MAX_RECONNECTS, "{story:?}");
    assert!(seen.handshakes.load(AtomicOrdering::Relaxed) > u64::from(MAX_RECONNECTS));
    assert!(
        matches!(&story.closed, Some(CloseReason::Failed(CometdError::Handshake(why)))
            if why.contains("forgetting")),
        "{story:?}"
    );
    handle.join().await;
    stop.cancel();
}

/// Two failed connects, then the server recovers: both are counted, and the reconnect is
/// reported with the number of attempts it took.
#[tokio::test]
async fn a_server_that_recovers_is_reconnected_to() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let seen = Arc::new(Seen::default());
    let stop = CancellationToken::new();
    let (s, t) = (Arc::clone(&seen), stop.clone());
    tokio::spawn(async move {
        loop {
            tokio::select! {
                () = t.cancelled() => return,
                accepted = listener.accept() => {
                    let Ok((stream, _)) = accepted else { return };
                    // Connect 0 succeeds, 1 and 2 get a 500, later ones succeed (one
                    // connection per request, so the decision is made per request).
                    let fail_from = if s.connects.load(AtomicOrdering::Relaxed) >= 3 { u64::MAX } else { 1 };
                    tokio::spawn(serve_connection(stream, Misbehaviour::Status500, fail_from, Arc::clone(&s)));
                }
            }
        }
    });
    let token = CancellationToken::new();
    let mut config = hostile_config(&base, Transport::LongPolling);
    config.max_reconnects = 10;
    let (handle, mut rx) = connect(config, token.clone()).await.expect("opens");
    let mut failures = Vec::new();
    let reconnected = tokio::time::timeout(PATIENCE, async {
        for _ in 0..100 {
            match rx.recv().await {
                Some(Event::Failed { error, attempt }) => failures.push((error.kind(), attempt)),
                Some(Event::Reconnected { attempt }) => return Some(attempt),
                Some(Event::Closed { reason }) => panic!("closed: {reason}"),
                _ => {}
            }
        }
        None
    })
    .await
    .expect("reconnects within the patience window");
    assert_eq!(failures, vec![("http-status", 1), ("http-status", 2)]);
    assert_eq!(reconnected, Some(2));
    assert_eq!(handle.stats().reconnects, 1);
    token.cancel();
    handle.join().await;
    stop.cancel();
}

/// What the websocket server sends in answer to every connect after the first.
#[derive(Debug, Clone, Copy)]
enum BadFrame {
    /// A JSON object that is not a Bayeux message.
    Object,
    /// An array none of whose elements is a message.
    Numbers,
    /// A JSON string.
    Text,
    /// A binary frame that is not UTF-8.
    Binary,
    /// A frame over the client's size limit.
    Oversize,
    /// Not a bad frame: every connect's reply comes with a flood of notifications
    /// ([`Misbehaviour::Flood`]).
    Flood,
}

async fn ws_handler(
    State((frame, seen)): State<(BadFrame, Arc<Seen>)>,
    ws: WebSocketUpgrade,
) -> Response {
    ws.on_upgrade(move |socket| ws_session(socket, frame, seen))
}

async fn ws_session(mut socket: AxSocket, frame: BadFrame, seen: Arc<Seen>) {
    // One frame per turn; ends when the client closes the socket.
    while let Some(Ok(AxMessage::Text(text))) = socket.recv().await {
        let body = text.as_str().as_bytes();
        let is_connect = serde_json::from_slice::<Vec<Value>>(body)
            .is_ok_and(|b| b.iter().any(|m| m["channel"] == "/meta/connect"));
        let first = seen.connects.load(AtomicOrdering::Relaxed) == 0;
        let out = if is_connect && !first {
            seen.connects.fetch_add(1, AtomicOrdering::Relaxed);
            match frame {
                BadFrame::Object => AxMessage::text(r#"{"unexpected":1}"#),
                BadFrame::Numbers => AxMessage::text("[1,2,3]"),
                BadFrame::Text => AxMessage::text(r#""hello""#),
                BadFrame::Binary => AxMessage::Binary(vec![0xff, 0xfe, 0xfd].into()),
                BadFrame::Oversize => AxMessage::text(flood_batch(1)),
                BadFrame::Flood => match answer(Misbehaviour::Flood, 0, &seen, body) {
                    Answer::Body(_, text) => AxMessage::text(text),
                    _ => return,
                },
            }
        } else {
            match answer(Misbehaviour::Status500, 1, &seen, body) {
                Answer::Body(_, text) => AxMessage::text(text),
                _ => return,
            }
        };
        if socket.send(out).await.is_err() {
            return;
        }
    }
}

/// A websocket Bayeux server on 127.0.0.1:0 answering every connect after the first with
/// `frame`; returns its base URL, what it saw, and its stop token.
async fn serve_websocket(frame: BadFrame) -> (String, Arc<Seen>, CancellationToken) {
    let seen = Arc::new(Seen::default());
    let app = Router::new()
        .route("/api/v2/notifications", get(ws_handler))
        .with_state((frame, Arc::clone(&seen)));
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let stop = CancellationToken::new();
    let t = stop.clone();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).with_graceful_shutdown(t.cancelled_owned()).await;
    });
    (base, seen, stop)
}

async fn websocket_gives_up(frame: BadFrame, kind: &str) {
    let (base, seen, stop) = serve_websocket(frame).await;
    let (handle, mut rx) =
        connect(hostile_config(&base, Transport::Websocket), CancellationToken::new())
            .await
            .expect("opens");
    let story = story(&mut rx).await;
    let attempts: Vec<u32> = (1..=MAX_RECONNECTS + 1).collect();
    assert_eq!(story.failures.iter().map(|f| f.1).collect::<Vec<_>>(), attempts, "{story:?}");
    assert!(story.failures.iter().all(|f| f.0 == kind), "{frame:?}: {story:?}");
    assert!(
        matches!(&story.closed, Some(CloseReason::GaveUp { last, .. }) if last.kind() == kind),
        "{frame:?}: {story:?}"
    );
    // Each attempt went out on a new socket after the bad frame.
    assert!(seen.connects.load(AtomicOrdering::Relaxed) > u64::from(MAX_RECONNECTS));
    handle.join().await;
    stop.cancel();
}

#[tokio::test]
async fn websocket_object_frames_are_counted_and_given_up_on() {
    websocket_gives_up(BadFrame::Object, "wrong-shape").await;
}

#[tokio::test]
async fn websocket_frames_of_non_messages_are_counted_and_given_up_on() {
    websocket_gives_up(BadFrame::Numbers, "wrong-shape").await;
}

#[tokio::test]
async fn websocket_string_frames_are_counted_and_given_up_on() {
    websocket_gives_up(BadFrame::Text, "wrong-shape").await;
}

#[tokio::test]
async fn websocket_binary_garbage_is_counted_and_given_up_on() {
    websocket_gives_up(BadFrame::Binary, "not-json").await;
}

#[tokio::test]
async fn websocket_oversize_frames_are_refused_counted_and_given_up_on() {
    websocket_gives_up(BadFrame::Oversize, "oversize").await;
}

/// Issue 9: a flood of large notifications about unknown interactions to an agent that does not
/// read. The session stops reading once its byte budget is held (backpressure), never holds more
/// (by its own accounting, checked after every event received), and loses nothing: every
/// notification the server sent arrives, in order, once the agent reads again.
async fn a_flood_is_held_to_the_budget(transport: Transport) {
    let (base, seen, stop) = match transport {
        Transport::LongPolling => serve_long_polling(Misbehaviour::Flood, 0).await,
        Transport::Websocket => serve_websocket(BadFrame::Flood).await,
    };
    let mut config = hostile_config(&base, transport);
    config.max_held_bytes = FLOOD_BUDGET;
    let token = CancellationToken::new();
    let (handle, mut rx) = connect(config, token.clone()).await.expect("connects");
    // Not reading: the session fills its budget and stops (bounded wait, no timing claim).
    let one = FLOOD_NICKNAME as u64;
    let filled = tokio::time::timeout(PATIENCE, async {
        // An event holds its text and the notification decoded from it (`Payload::held_bytes`).
        while handle.stats().held_bytes_peak + 3 * one < FLOOD_BUDGET as u64 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    assert!(filled.is_ok(), "{transport:?}: the budget never filled: {:?}", handle.stats());
    // Read a few hundred notifications: none is missing or out of order, and the session never
    // held more than its budget.
    let mut next = 0u64;
    for _ in 0..10_000 {
        if next >= 300 {
            break;
        }
        let event = tokio::time::timeout(PATIENCE, rx.recv()).await.expect("an event");
        match event {
            Some(Event::Data { data, .. }) => {
                let n: Value = serde_json::from_str(data.get()).expect("json");
                assert_eq!(n["chat"]["id"], format!("flood-{next}"), "{transport:?}");
                next += 1;
            }
            Some(Event::Closed { reason }) => panic!("{transport:?}: closed: {reason}"),
            Some(other) => panic!("{transport:?}: {other:?}"),
            None => panic!("{transport:?}: the session ended"),
        }
        let peak = handle.stats().held_bytes_peak;
        assert!(peak <= FLOOD_BUDGET as u64, "{transport:?}: held {peak} bytes");
    }
    assert_eq!(next, 300, "{transport:?}");
    assert!(seen.flooded.load(AtomicOrdering::Relaxed) >= 300);
    token.cancel();
    handle.join().await;
    stop.cancel();
}

#[tokio::test]
async fn a_long_polling_flood_is_held_to_the_budget_and_loses_nothing() {
    a_flood_is_held_to_the_budget(Transport::LongPolling).await;
}

#[tokio::test]
async fn a_websocket_flood_is_held_to_the_budget_and_loses_nothing() {
    a_flood_is_held_to_the_budget(Transport::Websocket).await;
}
