//! The CometD endpoint over real sockets on 127.0.0.1:0: HTTP long-polling and websocket
//! upgrades through axum, as clients reach it.

use std::net::SocketAddr;

use axum::Router;
use axum::extract::State;
use axum::extract::ws::WebSocketUpgrade;
use axum::http::{HeaderMap, StatusCode, header};
use axum::routing::{get, post as post_route};
use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::{self, client::IntoClientRequest};

use super::*;

/// A minimal shell: every request is user 0.
async fn start() -> (SocketAddr, Arc<Hub>) {
    let hub = super::hub();
    let app = Router::new()
        .route(
            "/cometd",
            post_route(|State(hub): State<Arc<Hub>>, body: String| async move {
                hub.long_poll(0, body).await.map_err(|e| (StatusCode::BAD_REQUEST, e.to_string()))
            }),
        )
        .route(
            "/ws",
            get(
                |State(hub): State<Arc<Hub>>, headers: HeaderMap, ws: WebSocketUpgrade| async move {
                    let requested =
                        headers.get(header::SEC_WEBSOCKET_PROTOCOL).and_then(|v| v.to_str().ok());
                    hub.upgrade(0, ws, requested)
                },
            ),
        )
        .with_state(hub.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind loopback");
    let addr = listener.local_addr().expect("local addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    (addr, hub)
}

#[tokio::test]
async fn long_polling_round_trip() {
    let (addr, hub) = start().await;
    let url = format!("http://{addr}/cometd");
    let http = reqwest::Client::new();
    let call = |body: Value| {
        let request = http.post(&url).body(body.to_string()).send();
        async move {
            let response = request.await.expect("request");
            assert_eq!(response.status(), 200);
            serde_json::from_str::<Value>(&response.text().await.expect("body")).expect("json")
        }
    };
    let reply = call(json!([{"channel": "/meta/handshake", "version": "1.0", "id": "1"}])).await;
    let client_id = reply[0]["clientId"].as_str().expect("clientId").to_owned();
    let reply = call(json!([{"channel": "/meta/subscribe", "clientId": client_id, "subscription": "/v2/me/*", "id": "2"}])).await;
    assert_eq!(reply[0]["successful"], true);
    let reply = call(connect_body(&client_id, "3")).await;
    assert_eq!(reply[0]["successful"], true);
    // Whether the publish lands before or during the hold, the connect carries it.
    let held = tokio::spawn(call(connect_body(&client_id, "4")));
    hub.publish(0, CHATS, r#"{"messageType":"ChatStateChangeMessage"}"#);
    let reply = held.await.expect("task");
    assert_eq!(
        reply[0],
        json!({"channel": CHATS, "data": {"messageType": "ChatStateChangeMessage"}})
    );
    assert_eq!(reply[1]["id"], "4");
    let bad = http.post(&url).body("{").send().await.expect("request");
    assert_eq!(bad.status(), 400);
}

async fn next_json<S>(ws: &mut S) -> Value
where
    S: futures_util::Stream<Item = Result<tungstenite::Message, tungstenite::Error>> + Unpin,
{
    loop {
        match ws.next().await {
            Some(Ok(tungstenite::Message::Text(text))) => {
                return serde_json::from_str(text.as_str()).expect("frame is json");
            }
            Some(Ok(tungstenite::Message::Pong(_))) => {}
            other => panic!("expected a text frame, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn websocket_round_trip() {
    let (addr, hub) = start().await;
    let mut request = format!("ws://{addr}/ws").into_client_request().expect("request");
    request
        .headers_mut()
        .insert(header::SEC_WEBSOCKET_PROTOCOL, "cometd, other".parse().expect("header"));
    let (mut ws, response) = tokio_tungstenite::connect_async(request).await.expect("upgrade");
    assert_eq!(
        response.headers().get(header::SEC_WEBSOCKET_PROTOCOL).map(|v| v.as_bytes()),
        Some(&b"cometd"[..])
    );
    let send = |value: Value| tungstenite::Message::Text(value.to_string().into());

    ws.send(send(json!([{"channel": "/meta/handshake", "version": "1.0", "id": "1"}])))
        .await
        .expect("send");
    let client_id = next_json(&mut ws).await[0]["clientId"].as_str().expect("clientId").to_owned();
    ws.send(send(json!([{"channel": "/meta/subscribe", "clientId": client_id, "subscription": "/**", "id": "2"}])))
        .await
        .expect("send");
    assert_eq!(next_json(&mut ws).await[0]["successful"], true);
    ws.send(send(ws_connect(&client_id, "3"))).await.expect("send");
    assert_eq!(next_json(&mut ws).await[0]["id"], "3");
    ws.send(send(ws_connect(&client_id, "4"))).await.expect("send");
    // A ping is answered while the connect is held.
    ws.send(tungstenite::Message::Ping(vec![7].into())).await.expect("ping");
    match ws.next().await {
        Some(Ok(tungstenite::Message::Pong(payload))) => assert_eq!(&payload[..], [7]),
        other => panic!("expected a pong, got {other:?}"),
    }
    hub.publish(0, CHATS, "1");
    assert_eq!(next_json(&mut ws).await, json!([{"channel": CHATS, "data": 1}]));
    ws.send(send(json!([{"channel": "/meta/disconnect", "clientId": client_id, "id": "5"}])))
        .await
        .expect("send");
    let reply = next_json(&mut ws).await;
    assert_eq!(reply[0]["id"], "4");
    assert_eq!(reply[0]["advice"]["reconnect"], "none");
    assert_eq!(reply[1]["id"], "5");
    ws.close(None).await.expect("close");

    // No subprotocol requested: none picked.
    let (_ws, response) =
        tokio_tungstenite::connect_async(format!("ws://{addr}/ws")).await.expect("upgrade");
    assert!(response.headers().get(header::SEC_WEBSOCKET_PROTOCOL).is_none());
}
