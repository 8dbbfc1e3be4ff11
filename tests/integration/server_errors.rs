//! Error and authorization cases over real HTTP: status codes and bodies (protocol.md §1.3,
//! §15.4, §15.18), authentication, CSRF on and off, authorization, malformed and oversized input.

use gwsim::cometd::client::Transport;
use gwsim::gws::Media;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::{PASSWORD, TestAgent, TestServer, new_interaction, start_server};

/// One raw request; returns the HTTP status and the JSON body.
async fn call(
    server: &TestServer,
    method: reqwest::Method,
    path: &str,
    configure: impl FnOnce(reqwest::RequestBuilder) -> reqwest::RequestBuilder,
) -> (StatusCode, Value) {
    let req = reqwest::Client::new().request(method, format!("{}{path}", server.base_url()));
    let resp = configure(req).send().await.expect("request completes");
    let status = resp.status();
    let text = resp.text().await.expect("body");
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

fn only_status(body: &Value) -> (u64, bool) {
    let obj = body.as_object().expect("JSON object body");
    let extra = obj.keys().any(|k| k != "statusCode" && k != "statusMessage");
    (obj["statusCode"].as_u64().expect("statusCode"), extra)
}

#[tokio::test]
async fn authentication_failures_get_401_and_status_20() {
    let server = start_server(|_| {}).await;
    let (status, body) = call(&server, reqwest::Method::GET, "/api/v2/me", |r| {
        r.basic_auth("agent-1", Some("wrong"))
    })
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(only_status(&body), (20, false));
    let (status, _) = call(&server, reqwest::Method::GET, "/api/v2/me", |r| r).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = call(&server, reqwest::Method::GET, "/api/v2/me", |r| {
        r.basic_auth("nobody", Some(PASSWORD))
    })
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // The version needs no authentication.
    let (status, body) =
        call(&server, reqwest::Method::GET, "/api/v2/diagnostics/version", |r| r).await;
    assert_eq!((status, body["statusCode"].as_u64()), (StatusCode::OK, Some(0)));
    // CometD refuses unauthenticated handshakes, on either transport.
    let handshake = json!([{"channel": "/meta/handshake", "version": "1.0", "supportedConnectionTypes": ["long-polling"], "id": "1"}]);
    let (status, body) =
        call(&server, reqwest::Method::POST, "/api/v2/notifications/handshake", |r| {
            r.json(&handshake)
        })
        .await;
    assert_eq!((status, body["statusCode"].as_u64()), (StatusCode::UNAUTHORIZED, Some(20)));
    let ws_url = format!("ws://{}/api/v2/notifications", server.running.addr);
    match tokio_tungstenite::connect_async(ws_url).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => {
            assert_eq!(resp.status(), StatusCode::UNAUTHORIZED)
        }
        other => panic!("websocket upgrade without credentials must be refused, got {other:?}"),
    }
    server.stop().await;
}

#[tokio::test]
async fn csrf_on_requires_cookie_and_token() {
    let server = start_server(|_| {}).await;
    let (status, body) = call(&server, reqwest::Method::POST, "/api/v2/me", |r| {
        r.basic_auth("agent-1", Some(PASSWORD)).json(&json!({"operationName": "Ready"}))
    })
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body["statusCode"], 3);
    assert_eq!(body["statusMessage"], "Missing or invalid Csrf token");
    // With the session's cookie and token (what the agent client does) the request passes CSRF
    // and reaches the state machine (Ready before a session: 400/2).
    let mut http = server.client.agent(gwsim::gws::client::Credentials::new("agent-1", PASSWORD));
    http.login().await.expect("login");
    assert!(http.has_csrf_token() && http.has_session_cookie());
    let err = http.me_operation(&gwsim::gws::MeOperation::Ready {}).await;
    match err {
        Err(gwsim::gws::error::GwsError::Status { http, status_code, .. }) => {
            assert_eq!((http, status_code), (400, 2))
        }
        other => panic!("expected 400/2, got {other:?}"),
    }
    server.stop().await;
}

#[tokio::test]
async fn csrf_off_accepts_basic_auth_alone() {
    let server = start_server(|c| c.csrf = false).await;
    let (status, body) = call(&server, reqwest::Method::POST, "/api/v2/me", |r| {
        r.basic_auth("agent-1", Some(PASSWORD))
            .json(&json!({"operationName": "StartContactCenterSession", "channels": ["chat"]}))
    })
    .await;
    assert_eq!((status, body["statusCode"].as_u64()), (StatusCode::OK, Some(0)));
    assert!(body["referenceId"].is_u64());
    // No CSRF headers on GET when it is off.
    let resp = reqwest::Client::new()
        .get(format!("{}/api/v2/me", server.base_url()))
        .basic_auth("agent-1", Some(PASSWORD))
        .send()
        .await
        .expect("request");
    assert!(resp.headers().get("X-CSRF-TOKEN").is_none());
    server.stop().await;
}

#[tokio::test]
async fn malformed_and_oversized_bodies_get_documented_errors() {
    let server = start_server(|c| c.csrf = false).await;
    let post = |body: String| {
        move |r: reqwest::RequestBuilder| r.basic_auth("agent-1", Some(PASSWORD)).body(body)
    };
    for (body, code) in [
        ("{not json".to_string(), 1),
        ("[1,2]".to_string(), 1),
        ("{}".to_string(), 1),
        (r#"{"operationName": 42}"#.to_string(), 1),
        (r#"{"operationName": "Frobnicate"}"#.to_string(), 1),
        (r#"{"operationName": "StartContactCenterSession", "channels": "chat"}"#.to_string(), 1),
    ] {
        let (status, resp) =
            call(&server, reqwest::Method::POST, "/api/v2/me", post(body.clone())).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(only_status(&resp), (code, false), "{body}: {resp}");
    }
    let huge = format!(r#"{{"operationName":"SendMessage","text":"{}"}}"#, "x".repeat(200_000));
    let (status, resp) =
        call(&server, reqwest::Method::POST, "/api/v2/me/chats/0000000000000001", post(huge)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(only_status(&resp), (10, false));
    let (status, resp) = call(&server, reqwest::Method::GET, "/api/v2/nowhere", |r| r).await;
    assert_eq!((status, resp["statusCode"].as_u64()), (StatusCode::NOT_FOUND, Some(6)));
    // The server is still healthy after all of that.
    let (status, _) =
        call(&server, reqwest::Method::GET, "/api/v2/diagnostics/version", |r| r).await;
    assert_eq!(status, StatusCode::OK);
    server.stop().await;
}

#[tokio::test]
async fn agents_act_only_on_their_interactions_and_only_owners_remove() {
    let server = start_server(|_| {}).await;
    let mut ann = TestAgent::login(&server, "agent-1", Transport::Websocket, &["chat"], true).await;
    let mut bob =
        TestAgent::login(&server, "agent-2", Transport::Websocket, &["chat"], false).await;
    let cat = TestAgent::login(&server, "agent-3", Transport::LongPolling, &["chat"], false).await;
    let (_, id) = new_interaction(&server, Media::Chat, &mut ann).await;
    // Not a participant: 404/6 (the interaction's existence is not revealed).
    let r = cat.op(Media::Chat, &id, json!({"operationName": "SendMessage", "text": "hi"})).await;
    assert_eq!((r.http, r.status_code), (404, 6));
    // Invited, not joined: SendMessage is not a capability yet (400/2).
    let r = ann.op(Media::Chat, &id, json!({"operationName": "SendMessage", "text": "hi"})).await;
    assert_eq!((r.http, r.status_code), (400, 2));
    ann.op(Media::Chat, &id, json!({"operationName": "Accept", "nickname": "Ann"})).await;
    ann.expect(3).await;
    ann.op(Media::Chat, &id, json!({"operationName": "Consult", "targetUri": bob.uri()})).await;
    bob.expect(1).await;
    bob.op(Media::Chat, &id, json!({"operationName": "Accept", "nickname": "Bob"})).await;
    bob.expect(3).await;
    ann.expect(2).await;
    // A consultant (visibility Agents) may not remove: 403/3.
    let r = bob
        .op(
            Media::Chat,
            &id,
            json!({"operationName": "RemoveParticipantFromConference", "targetUri": ann.uri()}),
        )
        .await;
    assert_eq!((r.http, r.status_code), (403, 3));
    // Targets: not logged in / not in the chat.
    let r = ann
        .op(
            Media::Chat,
            &id,
            json!({"operationName": "RemoveParticipantFromConference", "targetUri": cat.uri()}),
        )
        .await;
    assert_eq!((r.http, r.status_code), (400, 2));
    let r = ann.op(Media::Chat, &id, json!({"operationName": "Consult", "targetPath": "/users/ffffffffffffffffffffffffffffffff"})).await;
    assert_eq!((r.http, r.status_code), (404, 6));
    // The Facebook API does not reach a chat.
    let r =
        ann.op(Media::Facebook, &id, json!({"operationName": "SendMessage", "text": "hi"})).await;
    assert_eq!((r.http, r.status_code), (404, 6));
    // None of the refused requests produced a notification.
    ann.expect_silence(std::time::Duration::from_millis(300)).await;
    server.stop().await;
}

#[tokio::test]
async fn customers_need_the_contact_center_id() {
    let server = start_server(|_| {}).await;
    let body = json!({"operationName": "RequestChat", "nickname": "Chris"});
    let (status, resp) =
        call(&server, reqwest::Method::POST, "/api/v2/chats", |r| r.json(&body)).await;
    assert_eq!((status, resp["statusCode"].as_u64()), (StatusCode::UNAUTHORIZED, Some(20)));
    let (status, resp) = call(&server, reqwest::Method::POST, "/api/v2/chats", |r| {
        r.header("ContactCenterId", "wrong").json(&body)
    })
    .await;
    assert_eq!((status, resp["statusCode"].as_u64()), (StatusCode::UNAUTHORIZED, Some(20)));
    let cc = server.config.contact_center_id.clone();
    let (status, resp) = call(&server, reqwest::Method::POST, "/api/v2/chats", |r| {
        r.header("ContactCenterId", &cc).json(&json!({"operationName": "RequestChat"}))
    })
    .await;
    assert_eq!(
        (status, resp["statusCode"].as_u64()),
        (StatusCode::BAD_REQUEST, Some(1)),
        "nickname is mandatory"
    );
    let (status, resp) = call(&server, reqwest::Method::POST, "/api/v2/chats", |r| {
        r.header("ContactCenterId", &cc).json(&body)
    })
    .await;
    assert_eq!(status, StatusCode::OK);
    let id = resp["id"].as_str().expect("customer chat id");
    assert_eq!(id.len(), 36, "customer chat ids are UUIDs");
    let customer = server.customer();
    let chat = customer.get_chat(id).await.expect("chat");
    assert_eq!(chat.state, gwsim::gws::CustomerChatState::WaitingForAgent);
    let (status, resp) =
        call(&server, reqwest::Method::POST, &format!("/api/v2/chats/{id}"), |r| {
            r.header("ContactCenterId", &cc).json(&json!({"operationName": "Dance"}))
        })
        .await;
    assert_eq!((status, resp["statusCode"].as_u64()), (StatusCode::BAD_REQUEST, Some(1)));
    server.stop().await;
}
