//! Tests of the CometD hub: the protocol at the `Hub` API level with paused time (holds, timeouts,
//! expiry, faults), the websocket task over in-memory channels, and one real-socket round trip
//! per transport on 127.0.0.1:0.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::extract::ws::Message as WsMessage;
use futures_util::{Sink, Stream};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::{BayeuxConfig, BayeuxError, Hub, UserKey};
use crate::server::faults::{ConnectFault, ConnectInfo, FaultInjector, NoFaults, PublishFault};

const CHATS: &str = "/v2/me/chats";

/// A fault injector that plays back scripted answers, then behaves.
#[derive(Debug, Default)]
struct Scripted {
    publish: Mutex<VecDeque<PublishFault>>,
    connect: Mutex<VecDeque<ConnectFault>>,
}

impl Scripted {
    fn publish(faults: &[PublishFault]) -> Arc<Scripted> {
        Arc::new(Scripted {
            publish: Mutex::new(faults.iter().copied().collect()),
            ..Scripted::default()
        })
    }
    fn connect(faults: &[ConnectFault]) -> Arc<Scripted> {
        Arc::new(Scripted {
            connect: Mutex::new(faults.iter().copied().collect()),
            ..Scripted::default()
        })
    }
}

impl FaultInjector for Scripted {
    fn on_publish(&self, _client_id: &str, _channel: &str) -> PublishFault {
        self.publish.lock().expect("test lock").pop_front().unwrap_or(PublishFault::Deliver)
    }
    fn on_connect(&self, _connect: &ConnectInfo<'_>) -> ConnectFault {
        self.connect.lock().expect("test lock").pop_front().unwrap_or(ConnectFault::Proceed)
    }
}

fn hub_with(config: BayeuxConfig, faults: Arc<dyn FaultInjector>) -> (Arc<Hub>, CancellationToken) {
    let token = CancellationToken::new();
    (Hub::new(config, faults, token.clone()), token)
}

fn hub() -> Arc<Hub> {
    hub_with(BayeuxConfig::default(), Arc::new(NoFaults)).0
}

async fn post(hub: &Arc<Hub>, user: UserKey, body: Value) -> Value {
    let text = hub.long_poll(user, body.to_string()).await.expect("valid batch");
    serde_json::from_str(&text).expect("reply is json")
}

async fn handshake(hub: &Arc<Hub>, user: UserKey) -> String {
    let reply =
        post(hub, user, json!([{"channel": "/meta/handshake", "version": "1.0", "id": "1"}])).await;
    reply[0]["clientId"].as_str().expect("clientId").to_owned()
}

async fn subscribe(hub: &Arc<Hub>, user: UserKey, client_id: &str, subscription: Value) -> Value {
    let reply = post(
        hub,
        user,
        json!([{"channel": "/meta/subscribe", "clientId": client_id, "subscription": subscription, "id": "s"}]),
    )
    .await;
    reply[0].clone()
}

fn connect_body(client_id: &str, id: &str) -> Value {
    json!([{"channel": "/meta/connect", "clientId": client_id, "connectionType": "long-polling", "id": id}])
}

/// A handshaken, subscribed session whose first connect has returned: the next connect is held.
async fn ready_session(hub: &Arc<Hub>, user: UserKey, pattern: &str) -> String {
    let client_id = handshake(hub, user).await;
    assert_eq!(subscribe(hub, user, &client_id, json!(pattern)).await["successful"], true);
    let first = post(hub, user, connect_body(&client_id, "c0")).await;
    assert_eq!(first[0]["successful"], true);
    client_id
}

fn spawn_connect(hub: &Arc<Hub>, user: UserKey, client_id: &str, id: &str) -> JoinHandle<Value> {
    let hub = hub.clone();
    let body = connect_body(client_id, id);
    tokio::spawn(async move { post(&hub, user, body).await })
}

/// Lets every other task run until it waits (time is paused, so nothing times out meanwhile
/// unless it is due within the millisecond).
async fn settle() {
    tokio::time::sleep(Duration::from_millis(1)).await;
}

fn data_of(reply: &Value) -> Vec<Value> {
    reply
        .as_array()
        .expect("array")
        .iter()
        .filter(|m| m.get("data").is_some())
        .map(|m| m["data"].clone())
        .collect()
}

#[tokio::test(start_paused = true)]
async fn handshake_reply_has_what_standard_clients_require() {
    let hub = hub();
    let reply = post(
        &hub,
        0,
        json!([{"channel": "/meta/handshake", "version": "1.0", "supportedConnectionTypes": ["long-polling"],
                "advice": {"timeout": 60000, "interval": 0}, "ext": {"ack": true}, "id": "1"}]),
    )
    .await;
    let m = &reply[0];
    assert_eq!(m["channel"], "/meta/handshake");
    assert_eq!(m["successful"], true);
    assert_eq!(m["id"], "1");
    assert_eq!(m["version"], "1.0");
    assert_eq!(m["supportedConnectionTypes"], json!(["long-polling", "websocket"]));
    // The server's own advice, never the client's 60000.
    assert_eq!(m["advice"], json!({"reconnect": "retry", "interval": 0, "timeout": 30000}));
    let client_id = m["clientId"].as_str().expect("clientId");
    assert_eq!(client_id.len(), 32);
    assert!(client_id.bytes().all(|b| b.is_ascii_hexdigit()));
    assert_eq!(hub.session_count(), 1);
}

#[tokio::test(start_paused = true)]
async fn ids_are_echoed_with_their_json_type() {
    let hub = hub();
    let reply =
        post(&hub, 0, json!([{"channel": "/meta/handshake", "version": "1.0", "id": 42}])).await;
    assert_eq!(reply[0]["id"], json!(42));
    let reply = post(&hub, 0, json!({"channel": "/meta/handshake", "version": "1.0"})).await;
    assert!(reply[0].get("id").is_none());
    assert_eq!(reply.as_array().map(Vec::len), Some(1));
}

#[tokio::test(start_paused = true)]
async fn handshake_without_a_common_transport_fails() {
    let hub = hub();
    let reply = post(&hub, 0, json!([{"channel": "/meta/handshake", "supportedConnectionTypes": ["callback-polling"], "id": "1"}])).await;
    assert_eq!(reply[0]["successful"], false);
    assert_eq!(hub.session_count(), 0);
}

#[tokio::test(start_paused = true)]
async fn malformed_and_empty_bodies_are_errors() {
    let hub = hub();
    assert!(matches!(hub.long_poll(0, "not json".into()).await, Err(BayeuxError::Malformed(_))));
    assert!(matches!(
        hub.long_poll(0, r#"[{"id":"1"}]"#.into()).await,
        Err(BayeuxError::Malformed(_))
    ));
    assert!(matches!(
        hub.long_poll(0, r#"[{"channel":5}]"#.into()).await,
        Err(BayeuxError::Malformed(_))
    ));
    assert!(matches!(hub.long_poll(0, "[]".into()).await, Err(BayeuxError::EmptyBatch)));
    let err = hub.long_poll(0, "[".into()).await.expect_err("malformed");
    assert!(err.to_string().starts_with("malformed bayeux message"));
}

#[tokio::test(start_paused = true)]
async fn first_connect_returns_at_once_and_later_ones_wait_for_data() {
    let hub = hub();
    let client_id = ready_session(&hub, 0, "/v2/me/*").await;
    let held = spawn_connect(&hub, 0, &client_id, "c1");
    settle().await;
    assert!(!held.is_finished(), "the second connect is held");
    hub.publish(0, CHATS, r#"{"n":1}"#);
    hub.publish(0, CHATS, r#"{"n":2}"#);
    let reply = held.await.expect("task");
    let arr = reply.as_array().expect("array");
    // Data first, in publish order, then the connect reply.
    assert_eq!(arr.len(), 3);
    assert_eq!(arr[0], json!({"channel": CHATS, "data": {"n": 1}}));
    assert_eq!(arr[1]["data"], json!({"n": 2}));
    assert_eq!(arr[2]["channel"], "/meta/connect");
    assert_eq!(arr[2]["id"], "c1");
    assert_eq!(arr[2]["successful"], true);
    assert_eq!(arr[2]["clientId"], client_id.as_str());
    assert_eq!(arr[2]["advice"], json!({"reconnect": "retry", "interval": 0, "timeout": 30000}));
}

#[tokio::test(start_paused = true)]
async fn data_queued_before_a_connect_is_returned_at_once() {
    let hub = hub();
    let client_id = ready_session(&hub, 0, CHATS).await;
    hub.publish(0, CHATS, "1");
    let reply = post(&hub, 0, connect_body(&client_id, "c1")).await;
    assert_eq!(data_of(&reply), [json!(1)]);
}

#[tokio::test(start_paused = true)]
async fn held_connect_is_answered_after_the_advertised_timeout() {
    let config = BayeuxConfig { timeout: Duration::from_secs(20), ..BayeuxConfig::default() };
    let (hub, _token) = hub_with(config, Arc::new(NoFaults));
    let client_id = ready_session(&hub, 0, CHATS).await;
    let start = tokio::time::Instant::now();
    let reply = post(&hub, 0, connect_body(&client_id, "c1")).await;
    let held_for = start.elapsed();
    assert!(
        held_for >= Duration::from_secs(20) && held_for < Duration::from_secs(21),
        "{held_for:?}"
    );
    assert_eq!(
        reply,
        json!([{"channel": "/meta/connect", "id": "c1", "successful": true, "clientId": client_id,
        "advice": {"reconnect": "retry", "interval": 0, "timeout": 20000}}])
    );
}

#[tokio::test(start_paused = true)]
async fn connect_with_zero_timeout_advice_returns_at_once() {
    let hub = hub();
    let client_id = ready_session(&hub, 0, CHATS).await;
    let start = tokio::time::Instant::now();
    let reply = post(
        &hub,
        0,
        json!([{"channel": "/meta/connect", "clientId": client_id, "advice": {"timeout": 0}, "id": "c1"}]),
    )
    .await;
    assert_eq!(start.elapsed(), Duration::ZERO);
    assert_eq!(reply[0]["successful"], true);
}

#[tokio::test(start_paused = true)]
async fn a_second_connect_answers_the_held_one() {
    let hub = hub();
    let client_id = ready_session(&hub, 0, CHATS).await;
    let first = spawn_connect(&hub, 0, &client_id, "c1");
    settle().await;
    let second = spawn_connect(&hub, 0, &client_id, "c2");
    let first = first.await.expect("task");
    assert_eq!(
        first,
        json!([{"channel": "/meta/connect", "id": "c1", "successful": true, "clientId": client_id,
        "advice": {"reconnect": "retry", "interval": 0, "timeout": 30000}}])
    );
    settle().await;
    assert!(!second.is_finished());
    hub.publish(0, CHATS, "7");
    let second = second.await.expect("task");
    assert_eq!(data_of(&second), [json!(7)]);
    assert_eq!(second[1]["id"], "c2");
}

#[tokio::test(start_paused = true)]
async fn subscribe_while_a_connect_is_held() {
    let hub = hub();
    let client_id = ready_session(&hub, 0, "/v2/me/channels").await;
    let held = spawn_connect(&hub, 0, &client_id, "c1");
    settle().await;
    let reply = subscribe(&hub, 0, &client_id, json!(CHATS)).await;
    assert_eq!(reply["successful"], true);
    assert_eq!(reply["subscription"], CHATS);
    assert!(!held.is_finished());
    assert_eq!(hub.publish(0, CHATS, r#""hello""#), 1, "one session took it");
    assert_eq!(data_of(&held.await.expect("task")), [json!("hello")]);
}

#[tokio::test(start_paused = true)]
async fn a_batch_answers_its_messages_in_order_with_the_connect_last() {
    let hub = hub();
    let client_id = handshake(&hub, 0).await;
    assert_eq!(hub.publish(0, CHATS, "0"), 0, "not subscribed yet: not delivered");
    let reply = post(
        &hub,
        0,
        json!([{"channel": "/meta/connect", "clientId": client_id, "id": "2"},
               {"channel": "/meta/subscribe", "clientId": client_id, "subscription": CHATS, "id": "3"}]),
    )
    .await;
    let channels: Vec<&str> =
        reply.as_array().expect("array").iter().filter_map(|m| m["channel"].as_str()).collect();
    assert_eq!(channels, ["/meta/subscribe", "/meta/connect"]);
}

#[tokio::test(start_paused = true)]
async fn wildcards_match_one_segment_or_any_depth() {
    let hub = hub();
    let one = ready_session(&hub, 0, "/v2/me/*").await;
    let deep = ready_session(&hub, 0, "/**").await;
    let exact = ready_session(&hub, 0, "/v2/me/channels").await;
    hub.publish(0, "/v2/me/chats", "1");
    hub.publish(0, "/v2/me/chats/x", "2");
    hub.publish(0, "/v2/me/channels", "3");
    let got = |id: String| {
        let hub = hub.clone();
        async move {
            let reply = post(
                &hub,
                0,
                json!([{"channel": "/meta/connect", "clientId": id, "advice": {"timeout": 0}}]),
            )
            .await;
            data_of(&reply)
        }
    };
    assert_eq!(got(one).await, [json!(1), json!(3)]);
    assert_eq!(got(deep).await, [json!(1), json!(2), json!(3)]);
    assert_eq!(got(exact).await, [json!(3)]);
}

#[tokio::test(start_paused = true)]
async fn subscriptions_as_arrays_and_invalid_ones() {
    let hub = hub();
    let client_id = handshake(&hub, 0).await;
    let reply = subscribe(&hub, 0, &client_id, json!([CHATS, "/v2/me/channels"])).await;
    assert_eq!(reply["successful"], true);
    assert_eq!(reply["subscription"], json!([CHATS, "/v2/me/channels"]));
    for bad in [
        json!("/v2/*/me"),
        json!("v2"),
        json!([CHATS, "/a//b"]),
        json!([1]),
        json!([]),
        Value::Null,
    ] {
        let reply = subscribe(&hub, 0, &client_id, bad.clone()).await;
        assert_eq!(reply["successful"], false, "{bad}");
        assert!(reply["error"].as_str().is_some_and(|e| e.starts_with("400::")), "{bad}: {reply}");
    }
    assert_eq!(
        subscribe(&hub, 0, &client_id, json!("/v2/*/me")).await["error"],
        "400::invalid channel"
    );
    // Unsubscribing one of two leaves the other.
    let reply = post(&hub, 0, json!([{"channel": "/meta/unsubscribe", "clientId": client_id, "subscription": CHATS, "id": "u"}])).await;
    assert_eq!(reply[0]["successful"], true);
    assert_eq!(reply[0]["id"], "u");
    hub.publish(0, CHATS, "1");
    hub.publish(0, "/v2/me/channels", "2");
    let reply = post(&hub, 0, connect_body(&client_id, "c")).await;
    assert_eq!(data_of(&reply), [json!(2)]);
}

#[tokio::test(start_paused = true)]
async fn unknown_and_foreign_client_ids_get_402() {
    let hub = hub();
    let client_id = ready_session(&hub, 0, CHATS).await;
    let expected = |id: &str, channel: &str| {
        json!({"channel": channel, "id": id, "successful": false, "error": "402::Unknown client",
               "advice": {"reconnect": "handshake", "interval": 0}})
    };
    for (user, cid) in [(0, "0123456789abcdef0123456789abcdef"), (1, client_id.as_str())] {
        let reply = post(&hub, user, connect_body(cid, "c")).await;
        assert_eq!(reply[0], expected("c", "/meta/connect"));
        let reply = subscribe(&hub, user, cid, json!(CHATS)).await;
        assert_eq!(reply, expected("s", "/meta/subscribe"));
        let reply =
            post(&hub, user, json!([{"channel": "/meta/disconnect", "clientId": cid, "id": "d"}]))
                .await;
        assert_eq!(reply[0], expected("d", "/meta/disconnect"));
    }
    let reply = post(&hub, 0, json!([{"channel": "/meta/connect", "id": "x"}])).await;
    assert_eq!(reply[0], expected("x", "/meta/connect"));
    // The owner's session is untouched by the foreign attempts.
    assert_eq!(hub.session_count(), 1);
    hub.publish(0, CHATS, "1");
    assert_eq!(data_of(&post(&hub, 0, connect_body(&client_id, "c")).await), [json!(1)]);
}

#[tokio::test(start_paused = true)]
async fn a_users_events_reach_only_that_users_sessions() {
    let hub = hub();
    let mine = ready_session(&hub, 0, "/**").await;
    let theirs = ready_session(&hub, 1, "/**").await;
    hub.publish(1, CHATS, "1");
    let zero = json!({"timeout": 0});
    let reply =
        post(&hub, 0, json!([{"channel": "/meta/connect", "clientId": mine, "advice": zero}]))
            .await;
    assert!(data_of(&reply).is_empty());
    let reply =
        post(&hub, 1, json!([{"channel": "/meta/connect", "clientId": theirs, "advice": zero}]))
            .await;
    assert_eq!(data_of(&reply), [json!(1)]);
}

#[tokio::test(start_paused = true)]
async fn clients_may_not_publish_and_unknown_meta_channels_fail() {
    let hub = hub();
    let client_id = handshake(&hub, 0).await;
    let reply = post(
        &hub,
        0,
        json!([{"channel": CHATS, "clientId": client_id, "data": {}, "id": "p"},
               {"channel": "/meta/bogus", "clientId": client_id, "id": "b"}]),
    )
    .await;
    assert_eq!(
        reply[0],
        json!({"channel": CHATS, "id": "p", "successful": false, "error": "403::Publish denied"})
    );
    assert_eq!(reply[1]["successful"], false);
    assert_eq!(reply[1]["id"], "b");
}

#[tokio::test(start_paused = true)]
async fn disconnect_answers_the_held_connect_with_reconnect_none() {
    let hub = hub();
    let client_id = ready_session(&hub, 0, CHATS).await;
    let held = spawn_connect(&hub, 0, &client_id, "c1");
    settle().await;
    let reply =
        post(&hub, 0, json!([{"channel": "/meta/disconnect", "clientId": client_id, "id": "d"}]))
            .await;
    assert_eq!(
        reply,
        json!([{"channel": "/meta/disconnect", "id": "d", "successful": true, "clientId": client_id}])
    );
    let held = held.await.expect("task");
    assert_eq!(
        held,
        json!([{"channel": "/meta/connect", "id": "c1", "successful": true, "clientId": client_id,
        "advice": {"reconnect": "none"}}])
    );
    assert_eq!(hub.session_count(), 0);
    let reply = post(&hub, 0, connect_body(&client_id, "c2")).await;
    assert_eq!(reply[0]["error"], "402::Unknown client");
}

#[tokio::test(start_paused = true)]
async fn idle_sessions_expire_after_max_interval() {
    let hub = hub();
    let t0 = tokio::time::Instant::now().into_std();
    let idle = handshake(&hub, 0).await;
    let served = ready_session(&hub, 0, CHATS).await;
    let held = spawn_connect(&hub, 0, &served, "c1");
    settle().await;
    assert_eq!(hub.expire_idle(t0 + Duration::from_secs(10)), 0, "not past maxInterval yet");
    assert_eq!(hub.expire_idle(t0 + Duration::from_secs(11)), 1, "only the unserved one");
    let reply = post(&hub, 0, connect_body(&idle, "c")).await;
    assert_eq!(reply[0]["error"], "402::Unknown client");
    // A held connect keeps its session alive however long; maxInterval counts from its return.
    assert_eq!(hub.expire_idle(t0 + Duration::from_secs(1000)), 0);
    held.await.expect("task");
    let returned = tokio::time::Instant::now().into_std();
    assert_eq!(hub.expire_idle(returned + Duration::from_secs(10)), 0);
    assert_eq!(hub.expire_idle(returned + Duration::from_secs(11)), 1);
    assert_eq!(hub.session_count(), 0);
}

#[tokio::test(start_paused = true)]
async fn an_abandoned_long_poll_stops_keeping_its_session_alive() {
    let hub = hub();
    let client_id = ready_session(&hub, 0, CHATS).await;
    let held = spawn_connect(&hub, 0, &client_id, "c1");
    settle().await;
    held.abort();
    assert!(held.await.is_err());
    let now = tokio::time::Instant::now().into_std();
    assert_eq!(hub.expire_idle(now + Duration::from_secs(11)), 1);
}

#[tokio::test(start_paused = true)]
async fn run_expiry_sweeps_until_shutdown() {
    let (hub, token) = hub_with(BayeuxConfig::default(), Arc::new(NoFaults));
    handshake(&hub, 0).await;
    let sweeper = tokio::spawn(hub.clone().run_expiry());
    tokio::time::sleep(Duration::from_secs(12)).await;
    assert_eq!(hub.session_count(), 0);
    token.cancel();
    sweeper.await.expect("run_expiry ends on shutdown");
}

#[tokio::test(start_paused = true)]
async fn queue_overflow_drops_the_session() {
    let config = BayeuxConfig { max_queue: 3, ..BayeuxConfig::default() };
    let (hub, _token) = hub_with(config, Arc::new(NoFaults));
    let client_id = ready_session(&hub, 0, CHATS).await;
    for n in 0..3 {
        hub.publish(0, CHATS, &n.to_string());
    }
    assert_eq!(hub.session_count(), 1);
    hub.publish(0, CHATS, "3");
    assert_eq!(hub.session_count(), 0);
    let reply = post(&hub, 0, connect_body(&client_id, "c")).await;
    assert_eq!(
        reply,
        json!([{"channel": "/meta/connect", "id": "c", "successful": false,
        "error": "402::Unknown client", "advice": {"reconnect": "handshake", "interval": 0}}])
    );
}

#[tokio::test(start_paused = true)]
async fn overflow_while_held_answers_the_connect_with_402() {
    let config = BayeuxConfig { max_queue: 0, ..BayeuxConfig::default() };
    let (hub, _token) = hub_with(config, Arc::new(NoFaults));
    let client_id = ready_session(&hub, 0, CHATS).await;
    let held = spawn_connect(&hub, 0, &client_id, "c1");
    settle().await;
    hub.publish(0, CHATS, "1");
    assert_eq!(held.await.expect("task")[0]["error"], "402::Unknown client");
}

#[tokio::test(start_paused = true)]
async fn publish_faults_drop_duplicate_and_swap() {
    let faults = Scripted::publish(&[
        PublishFault::Drop,
        PublishFault::Duplicate,
        PublishFault::SwapWithNext,
        PublishFault::Deliver,
    ]);
    let (hub, _token) = hub_with(BayeuxConfig::default(), faults);
    let client_id = ready_session(&hub, 0, CHATS).await;
    for n in 1..=5 {
        hub.publish(0, CHATS, &n.to_string());
    }
    let reply = post(&hub, 0, connect_body(&client_id, "c")).await;
    assert_eq!(data_of(&reply), [json!(2), json!(2), json!(4), json!(3), json!(5)]);
}

#[tokio::test(start_paused = true)]
async fn a_swapped_message_with_nothing_after_it_arrives_at_the_timeout() {
    let (hub, _token) =
        hub_with(BayeuxConfig::default(), Scripted::publish(&[PublishFault::SwapWithNext]));
    let client_id = ready_session(&hub, 0, CHATS).await;
    hub.publish(0, CHATS, "1");
    let reply = post(&hub, 0, connect_body(&client_id, "c")).await;
    assert_eq!(data_of(&reply), [json!(1)]);
}

#[tokio::test(start_paused = true)]
async fn a_delayed_message_is_overtaken() {
    let faults = Scripted::publish(&[PublishFault::Delay(Duration::from_secs(5))]);
    let (hub, _token) = hub_with(BayeuxConfig::default(), faults);
    let client_id = ready_session(&hub, 0, CHATS).await;
    hub.publish(0, CHATS, "1");
    hub.publish(0, CHATS, "2");
    let first = post(&hub, 0, connect_body(&client_id, "c1")).await;
    assert_eq!(data_of(&first), [json!(2)]);
    let start = tokio::time::Instant::now();
    let second = post(&hub, 0, connect_body(&client_id, "c2")).await;
    assert_eq!(data_of(&second), [json!(1)]);
    assert!(start.elapsed() <= Duration::from_secs(5));
}

#[tokio::test(start_paused = true)]
async fn connect_faults_expire_or_drop() {
    let faults = Scripted::connect(&[
        ConnectFault::Proceed,
        ConnectFault::Disconnect,
        ConnectFault::ExpireSession,
    ]);
    let (hub, _token) = hub_with(BayeuxConfig::default(), faults);
    let client_id = ready_session(&hub, 0, CHATS).await;
    let dropped = post(&hub, 0, connect_body(&client_id, "c1")).await;
    assert_eq!(dropped[0]["successful"], false);
    assert_eq!(dropped[0]["id"], "c1");
    assert_eq!(dropped[0]["advice"]["reconnect"], "retry");
    assert_eq!(hub.session_count(), 1, "a dropped connection keeps its session");
    let expired = post(&hub, 0, connect_body(&client_id, "c2")).await;
    assert_eq!(expired[0]["error"], "402::Unknown client");
    assert_eq!(expired[0]["advice"]["reconnect"], "handshake");
    assert_eq!(hub.session_count(), 0);
}

#[tokio::test(start_paused = true)]
async fn shutdown_answers_held_connects() {
    let (hub, token) = hub_with(BayeuxConfig::default(), Arc::new(NoFaults));
    let client_id = ready_session(&hub, 0, CHATS).await;
    let held = spawn_connect(&hub, 0, &client_id, "c1");
    settle().await;
    token.cancel();
    let reply = held.await.expect("task");
    assert_eq!(reply[0]["successful"], true);
    assert_eq!(reply[0]["advice"]["reconnect"], "none");
}

// ---- websocket task over in-memory channels ----

/// The server's end of an in-memory websocket.
struct FakeSocket {
    from_client: mpsc::UnboundedReceiver<WsMessage>,
    to_client: mpsc::UnboundedSender<WsMessage>,
    /// A client that stopped reading: sends never complete.
    stuck: bool,
}

impl Stream for FakeSocket {
    type Item = Result<WsMessage, Infallible>;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.from_client.poll_recv(cx).map(|m| m.map(Ok))
    }
}

impl Sink<WsMessage> for FakeSocket {
    type Error = ();
    fn poll_ready(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<Result<(), ()>> {
        if self.stuck { Poll::Pending } else { Poll::Ready(Ok(())) }
    }
    fn start_send(self: Pin<&mut Self>, item: WsMessage) -> Result<(), ()> {
        self.to_client.send(item).map_err(|_| ())
    }
    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<Result<(), ()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_close(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<Result<(), ()>> {
        Poll::Ready(Ok(()))
    }
}

/// The client's end.
struct WsClient {
    tx: mpsc::UnboundedSender<WsMessage>,
    rx: mpsc::UnboundedReceiver<WsMessage>,
    task: JoinHandle<()>,
}

impl WsClient {
    fn open(hub: &Arc<Hub>, user: UserKey) -> WsClient {
        WsClient::open_with(hub, user, false)
    }

    fn open_with(hub: &Arc<Hub>, user: UserKey, stuck: bool) -> WsClient {
        let (tx, from_client) = mpsc::unbounded_channel();
        let (to_client, rx) = mpsc::unbounded_channel();
        let socket = FakeSocket { from_client, to_client, stuck };
        let task = tokio::spawn(super::websocket::serve(hub.clone(), user, socket));
        WsClient { tx, rx, task }
    }

    fn send(&self, frame: Value) {
        self.tx.send(WsMessage::Text(frame.to_string().into())).expect("socket task alive");
    }

    async fn recv(&mut self) -> Value {
        match self.rx.recv().await {
            Some(WsMessage::Text(text)) => {
                serde_json::from_str(text.as_str()).expect("frame is json")
            }
            other => panic!("expected a text frame, got {other:?}"),
        }
    }

    /// Whether the server has sent nothing more for now.
    async fn quiet(&mut self) -> bool {
        settle().await;
        self.rx.try_recv().is_err()
    }

    async fn handshake(&mut self) -> String {
        self.send(json!([{"channel": "/meta/handshake", "version": "1.0", "supportedConnectionTypes": ["websocket"], "id": "1"}]));
        let reply = self.recv().await;
        assert_eq!(reply[0]["successful"], true);
        reply[0]["clientId"].as_str().expect("clientId").to_owned()
    }

    async fn ready(&mut self, pattern: &str) -> String {
        let client_id = self.handshake().await;
        self.send(json!([{"channel": "/meta/subscribe", "clientId": client_id, "subscription": pattern, "id": "2"}]));
        assert_eq!(self.recv().await[0]["successful"], true);
        self.send(ws_connect(&client_id, "3"));
        let first = self.recv().await;
        assert_eq!(first[0]["channel"], "/meta/connect");
        assert_eq!(first[0]["successful"], true);
        client_id
    }
}

fn ws_connect(client_id: &str, id: &str) -> Value {
    json!([{"channel": "/meta/connect", "clientId": client_id, "connectionType": "websocket", "id": id}])
}

#[tokio::test(start_paused = true)]
async fn websocket_pushes_data_while_the_connect_is_held() {
    let hub = hub();
    let mut ws = WsClient::open(&hub, 0);
    let client_id = ws.ready("/v2/me/*").await;
    let sent = tokio::time::Instant::now();
    ws.send(ws_connect(&client_id, "4"));
    assert!(ws.quiet().await, "the second connect is held");
    hub.publish(0, CHATS, "1");
    hub.publish(0, CHATS, "2");
    assert_eq!(
        ws.recv().await,
        json!([{"channel": CHATS, "data": 1}, {"channel": CHATS, "data": 2}])
    );
    let reply = ws.recv().await;
    assert!(sent.elapsed() >= Duration::from_secs(30), "answered at the timeout, not on data");
    assert_eq!(
        reply,
        json!([{"channel": "/meta/connect", "id": "4", "successful": true, "clientId": client_id,
        "advice": {"reconnect": "retry", "interval": 0, "timeout": 30000}}])
    );
}

#[tokio::test(start_paused = true)]
async fn websocket_holds_the_connect_for_the_timeout() {
    let hub = hub();
    let mut ws = WsClient::open(&hub, 0);
    let client_id = ws.ready(CHATS).await;
    let start = tokio::time::Instant::now();
    ws.send(ws_connect(&client_id, "4"));
    let reply = ws.recv().await;
    let held_for = start.elapsed();
    assert!(
        held_for >= Duration::from_secs(30) && held_for < Duration::from_secs(31),
        "{held_for:?}"
    );
    assert_eq!(reply[0]["id"], "4");
}

#[tokio::test(start_paused = true)]
async fn websocket_disconnect_answers_the_held_connect_in_the_same_frame() {
    let hub = hub();
    let mut ws = WsClient::open(&hub, 0);
    let client_id = ws.ready(CHATS).await;
    ws.send(ws_connect(&client_id, "4"));
    assert!(ws.quiet().await);
    ws.send(json!([{"channel": "/meta/disconnect", "clientId": client_id, "id": "5"}]));
    assert_eq!(
        ws.recv().await,
        json!([
            {"channel": "/meta/connect", "id": "4", "successful": true, "clientId": client_id, "advice": {"reconnect": "none"}},
            {"channel": "/meta/disconnect", "id": "5", "successful": true, "clientId": client_id},
        ])
    );
    assert_eq!(hub.session_count(), 0);
    assert!(ws.quiet().await);
}

#[tokio::test(start_paused = true)]
async fn websocket_ignores_bad_frames_and_accepts_bare_objects() {
    let hub = hub();
    let mut ws = WsClient::open(&hub, 0);
    ws.tx.send(WsMessage::Text("not json".into())).expect("alive");
    ws.tx.send(WsMessage::Binary(vec![1, 2].into())).expect("alive");
    assert!(ws.quiet().await);
    ws.send(json!({"channel": "/meta/handshake", "version": "1.0", "id": "1"}));
    assert_eq!(ws.recv().await[0]["successful"], true);
}

#[tokio::test(start_paused = true)]
async fn websocket_session_lives_while_the_socket_is_open() {
    let hub = hub();
    let mut ws = WsClient::open(&hub, 0);
    ws.ready(CHATS).await;
    let now = tokio::time::Instant::now().into_std();
    assert_eq!(hub.expire_idle(now + Duration::from_secs(3600)), 0);
    ws.tx.send(WsMessage::Close(None)).expect("alive");
    ws.task.await.expect("socket task ends on close");
    let closed = tokio::time::Instant::now().into_std();
    assert_eq!(hub.expire_idle(closed + Duration::from_secs(10)), 0);
    assert_eq!(hub.expire_idle(closed + Duration::from_secs(11)), 1);
}

#[tokio::test(start_paused = true)]
async fn websocket_connect_fault_closes_the_socket() {
    let faults = Scripted::connect(&[ConnectFault::Proceed, ConnectFault::Disconnect]);
    let (hub, _token) = hub_with(BayeuxConfig::default(), faults);
    let mut ws = WsClient::open(&hub, 0);
    let client_id = ws.ready(CHATS).await;
    ws.send(ws_connect(&client_id, "4"));
    assert!(matches!(ws.rx.recv().await, Some(WsMessage::Close(_))));
    ws.task.await.expect("socket task ends");
    assert_eq!(hub.session_count(), 1, "the session outlives its socket until maxInterval");
}

#[tokio::test(start_paused = true)]
async fn websocket_ends_on_shutdown_after_answering_the_held_connect() {
    let (hub, token) = hub_with(BayeuxConfig::default(), Arc::new(NoFaults));
    let mut ws = WsClient::open(&hub, 0);
    let client_id = ws.ready(CHATS).await;
    ws.send(ws_connect(&client_id, "4"));
    assert!(ws.quiet().await);
    token.cancel();
    let reply = ws.recv().await;
    assert_eq!(reply[0]["id"], "4");
    assert_eq!(reply[0]["advice"]["reconnect"], "none");
    assert!(matches!(ws.rx.recv().await, Some(WsMessage::Close(Some(_)))));
    ws.task.await.expect("socket task ends");
}

#[tokio::test(start_paused = true)]
async fn a_socket_stuck_in_a_send_ends_on_shutdown() {
    let (hub, token) = hub_with(BayeuxConfig::default(), Arc::new(NoFaults));
    let ws = WsClient::open_with(&hub, 0, true);
    ws.send(json!([{"channel": "/meta/handshake", "version": "1.0", "id": "1"}]));
    settle().await;
    assert!(!ws.task.is_finished(), "blocked sending the handshake reply");
    token.cancel();
    ws.task.await.expect("socket task ends");
}

#[tokio::test(start_paused = true)]
async fn websocket_overflow_answers_the_held_connect_with_402() {
    let config = BayeuxConfig { max_queue: 0, ..BayeuxConfig::default() };
    let (hub, _token) = hub_with(config, Arc::new(NoFaults));
    let mut ws = WsClient::open(&hub, 0);
    let client_id = ws.ready(CHATS).await;
    ws.send(ws_connect(&client_id, "4"));
    assert!(ws.quiet().await);
    hub.publish(0, CHATS, "1");
    let reply = ws.recv().await;
    assert_eq!(reply[0]["id"], "4");
    assert_eq!(reply[0]["error"], "402::Unknown client");
    // The socket stays open for a new handshake.
    ws.handshake().await;
}

// Real sockets on 127.0.0.1:0: over_sockets.rs.
mod over_sockets;

#[tokio::test(start_paused = true)]
async fn websocket_expire_fault_answers_402_and_keeps_the_socket() {
    let faults = Scripted::connect(&[ConnectFault::Proceed, ConnectFault::ExpireSession]);
    let (hub, _token) = hub_with(BayeuxConfig::default(), faults);
    let mut ws = WsClient::open(&hub, 0);
    let client_id = ws.ready(CHATS).await;
    ws.send(ws_connect(&client_id, "4"));
    let reply = ws.recv().await;
    assert_eq!(reply[0]["id"], "4");
    assert_eq!(reply[0]["error"], "402::Unknown client");
    assert_eq!(reply[0]["advice"]["reconnect"], "handshake");
    assert_eq!(hub.session_count(), 0);
    let again = ws.ready(CHATS).await;
    assert_ne!(again, client_id);
}

#[tokio::test(start_paused = true)]
async fn a_long_poll_connect_supersedes_a_connect_held_on_a_websocket() {
    let hub = hub();
    let mut ws = WsClient::open(&hub, 0);
    let client_id = ws.ready(CHATS).await;
    ws.send(ws_connect(&client_id, "4"));
    assert!(ws.quiet().await);
    let held = spawn_connect(&hub, 0, &client_id, "lp");
    let reply = ws.recv().await;
    assert_eq!(reply[0]["id"], "4");
    assert_eq!(reply[0]["successful"], true);
    // Nothing more for the socket; the long-poll connect is now the held one and ends at its
    // timeout. (Which of the two would carry a later publish is a race this test avoids.)
    assert!(ws.quiet().await);
    let reply = held.await.expect("task");
    assert_eq!(reply[0]["id"], "lp");
}

#[tokio::test(start_paused = true)]
async fn a_socket_that_stops_reading_is_dropped_after_the_timeout() {
    let hub = hub();
    let ws = WsClient::open_with(&hub, 0, true);
    ws.send(json!([{"channel": "/meta/handshake", "version": "1.0", "id": "1"}]));
    let start = tokio::time::Instant::now();
    ws.task.await.expect("socket task ends");
    assert!(start.elapsed() >= Duration::from_secs(30));
    // Its session is no longer served, so it expires like any other.
    let now = tokio::time::Instant::now().into_std();
    assert_eq!(hub.expire_idle(now + Duration::from_secs(11)), 1);
}

#[tokio::test(start_paused = true)]
async fn a_websocket_backlog_goes_out_in_bounded_frames_in_order() {
    let hub = hub();
    let mut ws = WsClient::open(&hub, 0);
    let client_id = ws.ready(CHATS).await;
    ws.send(ws_connect(&client_id, "4"));
    assert!(ws.quiet().await);
    for n in 0..300 {
        hub.publish(0, CHATS, &n.to_string());
    }
    let mut got = Vec::new();
    let mut frames = 0;
    while got.len() < 300 {
        let frame = ws.recv().await;
        let len = frame.as_array().map_or(0, Vec::len);
        assert!(len <= 256, "frame of {len}");
        got.extend(data_of(&frame));
        frames += 1;
    }
    assert!(frames >= 2);
    assert_eq!(got, (0..300).map(Value::from).collect::<Vec<_>>());
}
