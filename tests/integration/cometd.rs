//! The CometD endpoint as clients see it: `402::Unknown client`, expiry after maxInterval,
//! re-handshake after the server forgets a session, and the message-level requirements of
//! standard clients (protocol.md §3.2, §15.25, §16).

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use gwsim::cometd::client::{Event, Transport};
use gwsim::server::faults::{ConnectFault, ConnectInfo, FaultInjector};
use serde_json::{Value, json};

use crate::support::{
    PASSWORD, TestAgent, TestServer, WAIT, start_server, start_server_with_faults,
};

async fn bayeux(server: &TestServer, suffix: &str, body: Value) -> Vec<Value> {
    let resp = reqwest::Client::new()
        .post(format!("{}/api/v2/notifications{suffix}", server.base_url()))
        .basic_auth("agent-1", Some(PASSWORD))
        .json(&body)
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status(), 200);
    let v: Value = resp.json().await.expect("JSON reply");
    v.as_array().cloned().expect("replies are arrays")
}

async fn handshake(server: &TestServer) -> String {
    let reply = bayeux(
        server,
        "/handshake",
        json!([{"channel": "/meta/handshake", "version": "1.0", "supportedConnectionTypes": ["long-polling"], "id": "1"}]),
    )
    .await;
    assert_eq!(reply[0]["successful"], true);
    assert_eq!(reply[0]["id"], "1", "ids are echoed with their JSON type");
    assert_eq!(reply[0]["advice"]["timeout"], 30000);
    assert!(
        reply[0]["supportedConnectionTypes"]
            .as_array()
            .is_some_and(|t| t.contains(&json!("long-polling")))
    );
    reply[0]["clientId"].as_str().expect("clientId").to_string()
}

#[tokio::test]
async fn unknown_client_gets_402_and_handshake_advice() {
    let server = start_server(|_| {}).await;
    let reply = bayeux(
        &server,
        "/connect",
        json!([{"channel": "/meta/connect", "clientId": "not-a-client", "connectionType": "long-polling", "id": "2"}]),
    )
    .await;
    assert_eq!(reply[0]["successful"], false);
    assert_eq!(reply[0]["error"], "402::Unknown client");
    assert_eq!(reply[0]["advice"]["reconnect"], "handshake");
    assert_eq!(reply[0]["id"], "2");
    server.stop().await;
}

#[tokio::test]
async fn first_connect_returns_at_once_and_trailing_slash_reaches_bayeux() {
    let server = start_server(|_| {}).await;
    let client_id = handshake(&server).await;
    let reply = bayeux(
        &server,
        "/",
        json!([{"channel": "/meta/subscribe", "clientId": client_id, "subscription": "/v2/me/*", "id": "2"}]),
    )
    .await;
    assert_eq!(reply[0]["successful"], true);
    assert_eq!(reply[0]["subscription"], "/v2/me/*");
    let reply = tokio::time::timeout(
        WAIT,
        bayeux(
            &server,
            "/connect",
            json!([{"channel": "/meta/connect", "clientId": client_id, "connectionType": "long-polling", "advice": {"timeout": 0}, "id": "3"}]),
        ),
    )
    .await
    .expect("the first connect is answered at once");
    assert_eq!(reply.last().expect("connect reply")["successful"], true);
    let reply = bayeux(
        &server,
        "",
        json!([{"channel": "/meta/disconnect", "clientId": client_id, "id": "4"}]),
    )
    .await;
    assert_eq!(reply[0]["successful"], true);
    server.stop().await;
}

#[tokio::test]
async fn sessions_expire_after_max_interval() {
    let server = start_server(|c| c.bayeux.max_interval = Duration::from_millis(200)).await;
    let client_id = handshake(&server).await;
    bayeux(
        &server,
        "/connect",
        json!([{"channel": "/meta/connect", "clientId": client_id, "connectionType": "long-polling", "advice": {"timeout": 0}, "id": "2"}]),
    )
    .await;
    // The expiry sweep runs once a second; wait (bounded) until it has dropped the session.
    let hub = server.running.app.hub().clone();
    let mut waited = Duration::ZERO;
    while hub.session_count() > 0 {
        assert!(waited < WAIT, "session never expired");
        tokio::time::sleep(Duration::from_millis(50)).await;
        waited += Duration::from_millis(50);
    }
    let reply = bayeux(
        &server,
        "/connect",
        json!([{"channel": "/meta/connect", "clientId": client_id, "connectionType": "long-polling", "id": "3"}]),
    )
    .await;
    assert_eq!(reply[0]["error"], "402::Unknown client");
    server.stop().await;
}

/// Forgets every client's session at its third `/meta/connect`, once per client.
#[derive(Debug, Default)]
struct ForgetOnce {
    connects: std::sync::Mutex<std::collections::HashMap<String, u32>>,
    forgotten: AtomicU32,
}

impl FaultInjector for ForgetOnce {
    fn on_connect(&self, connect: &ConnectInfo<'_>) -> ConnectFault {
        let mut m = self.connects.lock().unwrap_or_else(|e| e.into_inner());
        let n = m.entry(connect.client_id.to_string()).or_insert(0);
        *n += 1;
        if *n == 3 && self.forgotten.fetch_add(1, Ordering::SeqCst) == 0 {
            ConnectFault::ExpireSession
        } else {
            ConnectFault::Proceed
        }
    }
}

async fn rehandshake_and_resume(transport: Transport) {
    let faults = Arc::new(ForgetOnce::default());
    let server =
        start_server_with_faults(|c| c.bayeux.timeout = Duration::from_millis(200), faults.clone())
            .await;
    let mut ann = TestAgent::login(&server, "agent-1", transport, &["chat"], false).await;
    // Wait (bounded) for the client to re-handshake after the server forgot its session.
    loop {
        let event = tokio::time::timeout(WAIT, ann.events.recv())
            .await
            .expect("an event")
            .expect("session alive");
        match event {
            Event::Rehandshake => break,
            Event::Closed { reason } => panic!("session closed: {reason}"),
            _ => {}
        }
    }
    assert_eq!(faults.forgotten.load(Ordering::SeqCst), 1);
    assert!(ann.cometd.stats().rehandshakes >= 1);
    // Notifications flow again on the new session (it re-subscribed by itself).
    let r = ann.http.me_operation(&gwsim::gws::MeOperation::Ready {}).await.expect("ready");
    assert_eq!(r.status_code, 0);
    assert_eq!(ann.expect(1).await, ["CH[Ready]"]);
    ann.logout().await;
    server.stop().await;
}

#[tokio::test]
async fn client_rehandshakes_over_long_polling() {
    rehandshake_and_resume(Transport::LongPolling).await;
}

#[tokio::test]
async fn client_rehandshakes_over_websocket() {
    rehandshake_and_resume(Transport::Websocket).await;
}
