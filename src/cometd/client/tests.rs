//! Transport mechanics of the CometD client against a tiny in-test Bayeux responder on
//! 127.0.0.1:0 (both transports, handshake, subscribe, data, 402 re-handshake, socket loss,
//! 401, disconnect). The protocol decisions themselves are unit-tested in `session`; the real
//! server's integration tests live in `tests/integration`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::ws::{Message as AxMessage, WebSocket as AxSocket, WebSocketUpgrade};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use tokio::sync::mpsc::{self, UnboundedReceiver, UnboundedSender};
use tokio_util::sync::CancellationToken;

use super::*;

const AUTH: &str = "Basic YW5uOnMzY3JldA==";
/// The hold time the responder advertises; short so held connects cycle during a test.
const HOLD_MS: u64 = 300;
/// A safety net so a broken client fails the test instead of hanging it; never a timing claim.
const PATIENCE: Duration = Duration::from_secs(20);

type DataRx = Arc<tokio::sync::Mutex<UnboundedReceiver<Value>>>;

#[derive(Default)]
struct Inner {
    next_client: u64,
    clients: HashMap<String, (UnboundedSender<Value>, DataRx)>,
    /// `(path, channel, message)` of every message received, in order.
    log: Vec<(String, String, Value)>,
    refuse_subscribe: bool,
    garbage: bool,
    sockets: u64,
}

#[derive(Clone, Default)]
struct Responder {
    inner: Arc<Mutex<Inner>>,
    kick: Arc<Mutex<CancellationToken>>,
}

impl Responder {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn publish(&self, channel: &str, data: Value) {
        for (tx, _) in self.lock().clients.values() {
            let _ = tx.send(json!({"channel": channel, "data": data}));
        }
    }

    fn forget_clients(&self) {
        self.lock().clients.clear();
    }

    /// Closes every open websocket.
    fn kick_sockets(&self) {
        let mut kick = self.kick.lock().unwrap_or_else(|p| p.into_inner());
        kick.cancel();
        *kick = CancellationToken::new();
    }

    fn channels(&self) -> Vec<(String, String)> {
        self.lock().log.iter().map(|(p, c, _)| (p.clone(), c.clone())).collect()
    }

    fn messages(&self, channel: &str) -> Vec<Value> {
        self.lock().log.iter().filter(|(_, c, _)| c == channel).map(|(_, _, m)| m.clone()).collect()
    }

    fn client_rx(&self, id: &str) -> Option<DataRx> {
        self.lock().clients.get(id).map(|(_, rx)| Arc::clone(rx))
    }

    /// Answers every message but a held connect, which is returned for the caller to finish.
    fn answer(&self, path: &str, batch: &[Value], replies: &mut Vec<Value>) -> Option<Value> {
        let mut held = None;
        let mut inner = self.lock();
        for m in batch {
            let channel = m["channel"].as_str().unwrap_or_default().to_owned();
            inner.log.push((path.to_owned(), channel.clone(), m.clone()));
            let id = m["id"].clone();
            let known = m["clientId"].as_str().is_some_and(|c| inner.clients.contains_key(c));
            match channel.as_str() {
                "/meta/handshake" => {
                    inner.next_client += 1;
                    let client = format!("client-{}", inner.next_client);
                    let (tx, rx) = mpsc::unbounded_channel();
                    inner.clients.insert(client.clone(), (tx, Arc::new(tokio::sync::Mutex::new(rx))));
                    replies.push(json!({"channel":"/meta/handshake","successful":true,
                        "clientId":client,"id":id,"version":"1.0",
                        "supportedConnectionTypes":["long-polling","websocket"],
                        "advice":{"reconnect":"retry","interval":0,"timeout":HOLD_MS}}));
                }
                _ if !known => replies.push(json!({"channel":channel,"successful":false,
                    "error":"402::Unknown client","advice":{"reconnect":"handshake","interval":0},"id":id})),
                "/meta/subscribe" if inner.refuse_subscribe => {
                    replies.push(json!({"channel":channel,"successful":false,"error":"403::denied",
                        "subscription":m["subscription"],"id":id}));
                }
                "/meta/subscribe" => replies.push(json!({"channel":channel,"successful":true,
                    "subscription":m["subscription"],"id":id})),
                "/meta/connect" if m["advice"]["timeout"] == json!(0) => {
                    replies.push(json!({"channel":channel,"successful":true,"id":id,
                        "advice":{"reconnect":"retry","interval":0,"timeout":HOLD_MS}}));
                }
                "/meta/connect" => held = Some(m.clone()),
                "/meta/disconnect" => {
                    if let Some(c) = m["clientId"].as_str() {
                        inner.clients.remove(c);
                    }
                    replies.push(json!({"channel":channel,"successful":true,"id":id}));
                }
                _ => {}
            }
        }
        held
    }

    async fn serve(self) -> (String, CancellationToken) {
        let app = Router::new()
            .route("/api/v2/notifications", get(ws_upgrade).post(long_poll))
            .route("/api/v2/notifications/", post(long_poll))
            .route("/api/v2/notifications/{*rest}", post(long_poll))
            .with_state(self);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind loopback");
        let addr = listener.local_addr().expect("local addr");
        let stop = CancellationToken::new();
        let shutdown = stop.clone();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async move { shutdown.cancelled().await })
                .await;
        });
        (format!("http://{addr}"), stop)
    }
}

fn authorized(headers: &HeaderMap) -> bool {
    headers.get(header::AUTHORIZATION).is_some_and(|v| v == AUTH)
}

fn connect_reply(held: &Value) -> Value {
    json!({"channel":"/meta/connect","successful":true,"id":held["id"],
        "advice":{"reconnect":"retry","interval":0,"timeout":HOLD_MS}})
}

async fn long_poll(State(r): State<Responder>, req: Request) -> Response {
    if !authorized(req.headers()) {
        return (StatusCode::UNAUTHORIZED, r#"{"statusCode":20}"#).into_response();
    }
    let path = req.uri().path().trim_start_matches("/api/v2/notifications").to_owned();
    let Ok(body) = axum::body::to_bytes(req.into_body(), 1 << 20).await else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    if r.lock().garbage {
        return "this is not json".into_response();
    }
    let batch: Vec<Value> = serde_json::from_slice(&body).unwrap_or_default();
    let mut replies = Vec::new();
    if let Some(held) = r.answer(&path, &batch, &mut replies) {
        let rx = held["clientId"].as_str().and_then(|c| r.client_rx(c));
        if let Some(rx) = rx {
            let mut rx = rx.lock().await;
            if let Ok(Some(first)) =
                tokio::time::timeout(Duration::from_millis(HOLD_MS), rx.recv()).await
            {
                replies.push(first);
                while let Ok(more) = rx.try_recv() {
                    replies.push(more);
                }
            }
        }
        replies.push(connect_reply(&held));
    }
    let mut response = serde_json::to_string(&replies).unwrap_or_default().into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

async fn ws_upgrade(
    State(r): State<Responder>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    if !authorized(&headers) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    let kick = r.kick.lock().unwrap_or_else(|p| p.into_inner()).clone();
    ws.on_upgrade(move |socket| ws_session(r, socket, kick))
}

/// Pushes data the moment it is published, holds connects for `HOLD_MS`, answers the rest.
async fn ws_session(r: Responder, mut socket: AxSocket, kick: CancellationToken) {
    let label = {
        let mut inner = r.lock();
        inner.sockets += 1;
        format!("ws{}", inner.sockets)
    };
    let mut data: Option<DataRx> = None;
    let mut held: Option<(Value, tokio::time::Instant)> = None;
    loop {
        let deadline = held.as_ref().map(|(_, d)| *d);
        let rx = data.clone();
        tokio::select! {
            () = kick.cancelled() => return,
            frame = socket.recv() => {
                let Some(Ok(AxMessage::Text(text))) = frame else { return };
                let batch: Vec<Value> = serde_json::from_str(text.as_str()).unwrap_or_default();
                for m in &batch {
                    if data.is_none() {
                        data = m["clientId"].as_str().and_then(|c| r.client_rx(c));
                    }
                }
                let mut replies = Vec::new();
                if let Some(h) = r.answer(&label, &batch, &mut replies) {
                    held = Some((h, tokio::time::Instant::now() + Duration::from_millis(HOLD_MS)));
                }
                // A disconnect answers the held connect first, in the same frame (§16).
                if batch.iter().any(|m| m["channel"] == "/meta/disconnect")
                    && let Some((h, _)) = held.take() {
                        replies.insert(0, json!({"channel":"/meta/connect","successful":true,
                            "id":h["id"],"advice":{"reconnect":"none"}}));
                    }
                // A (re-)handshake binds the socket to the new client's queue.
                if let Some(c) = replies.iter().find_map(|m| m["clientId"].as_str()) {
                    data = r.client_rx(c);
                }
                if !replies.is_empty() {
                    let text = serde_json::to_string(&replies).unwrap_or_default();
                    if socket.send(AxMessage::text(text)).await.is_err() { return; }
                }
            }
            item = async { match &rx { Some(rx) => rx.lock().await.recv().await, None => std::future::pending().await } } => {
                // The client was forgotten: keep the socket, stop pushing until a new handshake.
                let Some(item) = item else {
                    data = None;
                    continue;
                };
                let text = serde_json::to_string(&json!([item])).unwrap_or_default();
                if socket.send(AxMessage::text(text)).await.is_err() { return; }
            }
            () = async { match deadline { Some(d) => tokio::time::sleep_until(d).await, None => std::future::pending().await } } => {
                if let Some((h, _)) = held.take() {
                    let text = serde_json::to_string(&json!([connect_reply(&h)])).unwrap_or_default();
                    if socket.send(AxMessage::text(text)).await.is_err() { return; }
                }
            }
        }
    }
}

fn config(base: &str, transport: Transport) -> CometdConfig {
    let mut headers = HeaderMap::new();
    headers.insert(header::AUTHORIZATION, HeaderValue::from_static(AUTH));
    let mut config = CometdConfig::new(base, transport).headers(headers);
    config.backoff_min = Duration::from_millis(10);
    config.backoff_max = Duration::from_millis(50);
    config.request_timeout = Duration::from_secs(5);
    config
}

async fn next(rx: &mut Events) -> Event {
    match tokio::time::timeout(PATIENCE, rx.recv()).await {
        Ok(Some(event)) => event,
        Ok(None) => panic!("event channel closed without Closed"),
        Err(_) => panic!("no event within the patience window"),
    }
}

/// The next event, which must be a data message: `(channel, raw data)`.
async fn expect_data(rx: &mut Events) -> (String, String) {
    match next(rx).await {
        Event::Data { channel, data } => (channel.into(), data.get().to_owned()),
        other => panic!("expected data, got {other:?}"),
    }
}

async fn roundtrip(transport: Transport) {
    let responder = Responder::default();
    let (base, stop) = responder.clone().serve().await;
    let token = CancellationToken::new();
    let (handle, mut rx) =
        connect(config(&base, transport), token.clone()).await.expect("session opens");
    let subscribes = responder.messages("/meta/subscribe");
    assert_eq!(subscribes.len(), 1);
    assert_eq!(subscribes[0]["subscription"], "/v2/me/*");
    assert_eq!(subscribes[0]["clientId"], "client-1");

    responder.publish("/v2/me/chats", json!({"messageType":"A","n":1}));
    responder.publish("/v2/me/channels", json!({"messageType":"B","n":2}));
    assert_eq!(
        expect_data(&mut rx).await,
        ("/v2/me/chats".into(), r#"{"messageType":"A","n":1}"#.into())
    );
    assert_eq!(
        expect_data(&mut rx).await,
        ("/v2/me/channels".into(), r#"{"messageType":"B","n":2}"#.into())
    );

    token.cancel();
    match next(&mut rx).await {
        Event::Closed { reason: CloseReason::Cancelled } => {}
        other => panic!("expected Closed(Cancelled), got {other:?}"),
    }
    handle.join().await;
    let handshake = &responder.messages("/meta/handshake")[0];
    assert_eq!(handshake["id"], "1", "ids are strings from 1");
    assert_eq!(handshake["supportedConnectionTypes"], json!([transport.connection_type()]));
    let connects = responder.messages("/meta/connect");
    assert_eq!(connects[0]["advice"]["timeout"], 0, "first connect asks for an immediate answer");
    assert_eq!(connects[0]["connectionType"], transport.connection_type());
    assert!(connects.iter().all(|c| c["id"].is_string()));
    assert_eq!(responder.messages("/meta/disconnect").len(), 1, "disconnect sent on cancel");
    stop.cancel();
}

#[tokio::test]
async fn long_polling_roundtrip_uses_the_standard_paths() {
    roundtrip(Transport::LongPolling).await;
}

#[tokio::test]
async fn websocket_roundtrip() {
    roundtrip(Transport::Websocket).await;
}

#[tokio::test]
async fn long_polling_posts_each_kind_to_its_suffix() {
    let responder = Responder::default();
    let (base, stop) = responder.clone().serve().await;
    let token = CancellationToken::new();
    let (handle, mut rx) =
        connect(config(&base, Transport::LongPolling), token.clone()).await.expect("session opens");
    responder.publish("/v2/me/chats", json!({}));
    expect_data(&mut rx).await;
    token.cancel();
    handle.join().await;
    for (path, channel) in responder.channels() {
        let expected = match channel.as_str() {
            "/meta/handshake" => "/handshake",
            "/meta/connect" => "/connect",
            "/meta/disconnect" => "/disconnect",
            _ => "/",
        };
        assert_eq!(path, expected, "{channel}");
    }
    stop.cancel();
}

async fn rehandshake(transport: Transport) {
    let responder = Responder::default();
    let (base, stop) = responder.clone().serve().await;
    let token = CancellationToken::new();
    let (handle, mut rx) =
        connect(config(&base, transport), token.clone()).await.expect("session opens");
    responder.forget_clients();
    match next(&mut rx).await {
        Event::Rehandshake => {}
        other => panic!("expected Rehandshake, got {other:?}"),
    }
    assert_eq!(handle.stats().rehandshakes, 1);
    let subscribes = responder.messages("/meta/subscribe");
    assert_eq!(subscribes.len(), 2, "re-subscribed after the new handshake");
    assert_eq!(subscribes[1]["clientId"], "client-2");
    responder.publish("/v2/me/chats", json!({"after":"rehandshake"}));
    assert_eq!(expect_data(&mut rx).await.1, r#"{"after":"rehandshake"}"#);
    token.cancel();
    handle.join().await;
    stop.cancel();
}

#[tokio::test]
async fn long_polling_rehandshakes_on_unknown_client() {
    rehandshake(Transport::LongPolling).await;
}

#[tokio::test]
async fn websocket_rehandshakes_on_unknown_client() {
    rehandshake(Transport::Websocket).await;
}

#[tokio::test]
async fn websocket_reconnects_after_the_socket_is_lost() {
    let responder = Responder::default();
    let (base, stop) = responder.clone().serve().await;
    let token = CancellationToken::new();
    let (handle, mut rx) =
        connect(config(&base, Transport::Websocket), token.clone()).await.expect("session opens");
    responder.kick_sockets();
    // The lost socket is reported as a failure before the reconnect.
    match next(&mut rx).await {
        Event::Failed { error, attempt: 1 } => assert_eq!(error.kind(), "transport"),
        other => panic!("expected Failed, got {other:?}"),
    }
    match next(&mut rx).await {
        Event::Reconnected { attempt } => assert!(attempt >= 1),
        other => panic!("expected Reconnected, got {other:?}"),
    }
    assert_eq!(handle.stats().reconnects, 1);
    assert!(handle.stats().failures >= 1);
    // The same clientId goes on over the new socket, its first connect a fresh one.
    let connects: Vec<(String, String, Value)> =
        responder.lock().log.iter().filter(|(_, c, _)| c == "/meta/connect").cloned().collect();
    assert!(connects.iter().all(|(_, _, c)| c["clientId"] == "client-1"));
    let first_on_second_socket = connects.iter().find(|(socket, _, _)| socket == "ws2");
    assert_eq!(
        first_on_second_socket.map(|(_, _, c)| c["advice"]["timeout"].clone()),
        Some(json!(0))
    );
    responder.publish("/v2/me/chats", json!({"after":"reconnect"}));
    assert_eq!(expect_data(&mut rx).await.1, r#"{"after":"reconnect"}"#);
    token.cancel();
    handle.join().await;
    stop.cancel();
}

#[tokio::test]
async fn unauthorized_is_reported_for_both_transports() {
    let responder = Responder::default();
    let (base, stop) = responder.clone().serve().await;
    for transport in [Transport::LongPolling, Transport::Websocket] {
        let config = CometdConfig::new(base.as_str(), transport);
        let result = connect(config, CancellationToken::new()).await;
        assert_eq!(result.err(), Some(CometdError::Unauthorized), "{transport:?}");
    }
    stop.cancel();
}

#[tokio::test]
async fn refused_subscription_fails_the_connect() {
    let responder = Responder::default();
    responder.lock().refuse_subscribe = true;
    let (base, stop) = responder.clone().serve().await;
    for transport in [Transport::LongPolling, Transport::Websocket] {
        let result = connect(config(&base, transport), CancellationToken::new()).await;
        assert!(
            matches!(result.err(), Some(CometdError::Handshake(e)) if e.contains("403::denied"))
        );
    }
    stop.cancel();
}

#[tokio::test]
async fn garbage_from_the_server_is_an_error_not_a_panic() {
    let responder = Responder::default();
    responder.lock().garbage = true;
    let (base, stop) = responder.clone().serve().await;
    let result = connect(config(&base, Transport::LongPolling), CancellationToken::new()).await;
    assert!(matches!(result.err(), Some(CometdError::NotJson(_))));
    stop.cancel();
}

#[tokio::test]
async fn gives_up_when_the_server_is_gone() {
    let responder = Responder::default();
    let (base, stop) = responder.clone().serve().await;
    let mut config = config(&base, Transport::LongPolling);
    config.max_reconnects = 2;
    let token = CancellationToken::new();
    let (handle, mut rx) = connect(config, token.clone()).await.expect("session opens");
    stop.cancel();
    // Graceful shutdown waits for the held connect; then every request is refused. Each
    // failure is reported before the session gives up, and giving up says so.
    let mut failed = Vec::new();
    let reason = loop {
        match next(&mut rx).await {
            Event::Failed { error, attempt } => failed.push((error.kind(), attempt)),
            Event::Closed { reason } => break reason,
            _ => {}
        }
    };
    assert!(
        matches!(reason, CloseReason::GaveUp { attempts: 3, .. }),
        "expected GaveUp after 3 attempts, got {reason:?}"
    );
    assert_eq!(failed.iter().map(|(_, a)| *a).collect::<Vec<_>>(), vec![1, 2, 3], "{failed:?}");
    assert!(handle.stats().failures >= 3);
    handle.join().await;
}

#[tokio::test]
async fn cancellation_before_the_handshake_ends_connect() {
    let token = CancellationToken::new();
    token.cancel();
    // Nothing listens on this port's peer: cancellation wins the race by `biased` order.
    let result = connect(config("http://127.0.0.1:9", Transport::LongPolling), token).await;
    assert_eq!(result.err(), Some(CometdError::Cancelled));
}

#[tokio::test]
async fn dropping_the_receiver_ends_the_task() {
    let responder = Responder::default();
    let (base, stop) = responder.clone().serve().await;
    let (handle, rx) = connect(config(&base, Transport::Websocket), CancellationToken::new())
        .await
        .expect("session opens");
    drop(rx);
    responder.publish("/v2/me/chats", json!({}));
    tokio::time::timeout(PATIENCE, handle.join()).await.expect("task ends");
    assert_eq!(responder.messages("/meta/disconnect").len(), 1, "left politely");
    stop.cancel();
}

#[test]
fn config_debug_hides_header_values() {
    let config = config("http://h", Transport::Websocket);
    let text = format!("{config:?}");
    assert!(text.contains("authorization"), "{text}");
    assert!(!text.contains("YW5u"), "{text}");
}

/// A websocket Bayeux responder, behind TLS if `tls`: answers handshake, subscribe, the first
/// connect and disconnect; holds later connects unanswered (the tests cancel long before they
/// matter). With `data_first`, a data frame precedes every reply.
async fn serve_simple_ws(tls: bool, data_first: bool) -> String {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message as WsMessage;

    let acceptor = crate::net::test_tls::acceptor();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind loopback");
    let addr = listener.local_addr().expect("local addr");
    tokio::spawn(async move {
        // Bounded by the test's lifetime: the runtime drops this task when the test ends.
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let stream: Box<dyn crate::net::Io> = if tls {
                    let Ok(stream) = acceptor.accept(tcp).await else { return };
                    Box::new(stream)
                } else {
                    Box::new(tcp)
                };
                let Ok(mut ws) = tokio_tungstenite::accept_async(stream).await else { return };
                while let Some(Ok(WsMessage::Text(text))) = ws.next().await {
                    let batch: Vec<Value> = serde_json::from_str(text.as_str()).unwrap_or_default();
                    let replies: Vec<Value> = batch
                        .iter()
                        .filter_map(|m| {
                            let channel = m["channel"].as_str().unwrap_or_default();
                            let fresh = m["advice"]["timeout"] == json!(0);
                            match channel {
                                "/meta/connect" if !fresh => None,
                                _ => Some(json!({"channel":channel,"successful":true,"id":m["id"],
                                    "clientId":"tls-client","subscription":m["subscription"],
                                    "supportedConnectionTypes":["websocket"]})),
                            }
                        })
                        .collect();
                    if data_first {
                        let frame = r#"[{"channel":"/v2/me/chats","data":{"early":true}}]"#;
                        if ws.send(WsMessage::text(frame)).await.is_err() {
                            return;
                        }
                    }
                    if !replies.is_empty() {
                        let text = serde_json::to_string(&replies).unwrap_or_default();
                        if ws.send(WsMessage::text(text)).await.is_err() {
                            return;
                        }
                    }
                }
            });
        }
    });
    format!("{}://127.0.0.1:{}", if tls { "https" } else { "http" }, addr.port())
}

#[tokio::test]
async fn wss_works_with_accept_invalid_certs_and_is_refused_without() {
    let base = serve_simple_ws(true, false).await;
    let mut insecure = config(&base, Transport::Websocket);
    insecure.accept_invalid_certs = true;
    let token = CancellationToken::new();
    let (handle, mut rx) = connect(insecure, token.clone()).await.expect("wss session opens");
    token.cancel();
    match next(&mut rx).await {
        Event::Closed { reason: CloseReason::Cancelled } => {}
        other => panic!("expected Closed(Cancelled), got {other:?}"),
    }
    handle.join().await;

    let verifying = config(&base, Transport::Websocket);
    let result = connect(verifying, CancellationToken::new()).await;
    assert!(
        matches!(&result, Err(CometdError::Transport(e)) if e.contains("tls")),
        "{:?}",
        result.err()
    );
}

/// A websocket server that streams data frames and never answers anything.
async fn serve_ws_chatterbox() -> String {
    use futures_util::SinkExt;
    use tokio_tungstenite::tungstenite::Message as WsMessage;

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind loopback");
    let addr = listener.local_addr().expect("local addr");
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            tokio::spawn(async move {
                let Ok(mut ws) = tokio_tungstenite::accept_async(tcp).await else { return };
                let frame = r#"[{"channel":"/v2/me/chats","data":{"chatter":true}}]"#;
                // Ends when the client goes away (send fails) or the test's runtime stops.
                while ws.send(WsMessage::text(frame)).await.is_ok() {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            });
        }
    });
    format!("http://127.0.0.1:{}", addr.port())
}

#[tokio::test]
async fn a_server_that_streams_but_never_answers_times_out() {
    let base = serve_ws_chatterbox().await;
    let mut config = config(&base, Transport::Websocket);
    config.request_timeout = Duration::from_millis(300);
    let result = connect(config, CancellationToken::new()).await;
    assert_eq!(result.err(), Some(CometdError::Timeout));
}

#[tokio::test]
async fn data_pushed_during_the_handshake_is_delivered_first() {
    let base = serve_simple_ws(false, true).await;
    let token = CancellationToken::new();
    let (handle, mut rx) =
        connect(config(&base, Transport::Websocket), token.clone()).await.expect("session opens");
    // One data frame came before the handshake reply and one before the subscribe reply.
    assert_eq!(expect_data(&mut rx).await.1, r#"{"early":true}"#);
    assert_eq!(expect_data(&mut rx).await.1, r#"{"early":true}"#);
    token.cancel();
    handle.join().await;
}

/// What an idle agent's session task holds while it waits on a connect, on either transport.
/// The rare and large states (the websocket upgrade, the handshake, the disconnect, a
/// long-poll's HTTP request) are boxed, so they are allocated only while they run; inlined, any
/// one of them made every agent's task several KiB larger for the whole run (issue 11).
#[test]
fn an_idle_session_task_holds_no_rare_state_inline() {
    // About 2.9 KiB in a debug build, which lays futures out no smaller than a release one; with
    // the rare states inline it was 4 KiB.
    const BOUND: usize = 3584;
    for transport in [Transport::Websocket, Transport::LongPolling] {
        let config = CometdConfig::new("http://127.0.0.1:1", transport);
        let (driver, _events) = Driver::new(config).expect("driver");
        let task = Box::new(driver).run(CancellationToken::new());
        let size = std::mem::size_of_val(&task);
        assert!(size <= BOUND, "{transport:?}: the session task is {size} bytes");
    }
}
