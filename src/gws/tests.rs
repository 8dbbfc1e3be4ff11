//! Request mechanics of the REST clients against a recording responder on 127.0.0.1:0: which
//! headers, paths and bodies go out (Basic auth, cookie, CSRF echo, ContactCenterId) and how
//! responses, errors and timeouts come back. The real server's behaviour is tested at merge time
//! in `tests/integration`.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};
use tokio_util::sync::CancellationToken;

use super::*;

const AUTH: &str = "Basic YW5uOnMzY3JldA==";
const TOKEN: &str = "4a92be65-ec55-4aa2-b9df-9518fd870f2f";

#[derive(Debug, Clone)]
struct Seen {
    method: Method,
    uri: String,
    authorization: Option<String>,
    cookie: Option<String>,
    csrf: Option<String>,
    contact_center_id: Option<String>,
    body: Value,
}

#[derive(Clone, Default)]
struct Recorder {
    seen: Arc<Mutex<Vec<Seen>>>,
    csrf_off: bool,
}

impl Recorder {
    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

fn text(headers: &axum::http::HeaderMap, name: &str) -> Option<String> {
    headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned)
}

async fn respond(State(r): State<Recorder>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let bytes = axum::body::to_bytes(body, 1 << 20).await.unwrap_or_default();
    let seen = Seen {
        method: parts.method.clone(),
        uri: parts.uri.to_string(),
        authorization: text(&parts.headers, "authorization"),
        cookie: text(&parts.headers, "cookie"),
        csrf: text(&parts.headers, "x-csrf-token"),
        contact_center_id: text(&parts.headers, "contactcenterid"),
        body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    };
    r.seen.lock().unwrap_or_else(|p| p.into_inner()).push(seen.clone());
    let json = |status: StatusCode, v: Value| (status, axum::Json(v)).into_response();
    match (parts.method.as_str(), parts.uri.path()) {
        ("GET", "/api/v2/me") => {
            if seen.authorization.as_deref() != Some(AUTH) {
                return json(
                    StatusCode::UNAUTHORIZED,
                    json!({"statusCode":20,"statusMessage":"Access denied"}),
                );
            }
            let mut response = json(
                StatusCode::OK,
                json!({"statusCode":0,"user":{"id":"9141","userName":"ann",
                    "uri":"http://h/api/v2/users/9141","path":"/users/9141","chats":[]}}),
            );
            let h = response.headers_mut();
            h.append(header::SET_COOKIE, HeaderValue::from_static("JSESSIONID=s1;Path=/;HttpOnly"));
            if !r.csrf_off {
                h.insert("x-csrf-header", HeaderValue::from_static("X-CSRF-TOKEN"));
                h.insert("x-csrf-token", HeaderValue::from_static(TOKEN));
            }
            response
        }
        ("POST", path) if path.starts_with("/api/v2/me") => {
            if !r.csrf_off && seen.csrf.as_deref() != Some(TOKEN) {
                return (StatusCode::FORBIDDEN, "Missing or invalid Csrf token").into_response();
            }
            if path.ends_with("/missing") {
                return json(
                    StatusCode::NOT_FOUND,
                    json!({"statusCode":6,"statusMessage":"Not found"}),
                );
            }
            if path.ends_with("/slow") {
                std::future::pending::<()>().await;
            }
            json(StatusCode::OK, json!({"statusCode":0,"referenceId":35}))
        }
        ("GET", "/api/v2/diagnostics/version") => {
            json(StatusCode::OK, json!({"statusCode":0,"version":"8.5.200.50"}))
        }
        ("POST", "/api/v2/chats") | ("POST", "/sim/v1/facebook/inbound") => json(
            StatusCode::OK,
            json!({"statusCode":0,"id":"cust-1","path":"/api/v2/chats/cust-1"}),
        ),
        ("GET", "/api/v2/chats/cust-1") => json(
            StatusCode::OK,
            json!({"statusCode":0,"chat":{"id":"cust-1","state":"Chatting",
                "capabilities":["SendMessage"],"participants":[
                {"nickname":"Chris","participantId":"1","type":"Customer"},
                {"nickname":"Ann","participantId":"2","type":"Agent"}]}}),
        ),
        ("GET", path) if path.ends_with("/messages") => json(
            StatusCode::OK,
            json!({"statusCode":0,"messages":[{"index":3,"type":"Text","text":"hi",
                "from":{"nickname":"Ann","participantId":"2","type":"Agent"},
                "timestamp":"2014-01-02 14:23:18.000-0800","timestampSeconds":1_388_701_398_000_i64}]}),
        ),
        ("POST", _) => json(StatusCode::OK, json!({"statusCode":0})),
        _ => json(StatusCode::NOT_FOUND, json!({"statusCode":6,"statusMessage":"no route"})),
    }
}

async fn serve(recorder: Recorder) -> (GwsClient, CancellationToken) {
    let app = Router::new().fallback(respond).with_state(recorder);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind loopback");
    let addr = listener.local_addr().expect("local addr");
    let stop = CancellationToken::new();
    let shutdown = stop.clone();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(async move { shutdown.cancelled().await })
            .await;
    });
    let client = GwsClient::builder()
        .base_url(format!("http://{addr}/"))
        .request_timeout(Duration::from_millis(500))
        .build()
        .expect("client");
    (client, stop)
}

#[tokio::test]
async fn login_then_operations_carry_basic_cookie_and_csrf() {
    let recorder = Recorder::default();
    let (client, stop) = serve(recorder.clone()).await;
    let mut agent = client.agent(Credentials::new("ann", "s3cret"));
    let me = agent.login().await.expect("login");
    assert_eq!((me.id.as_str(), me.user_name.as_str()), ("9141", "ann"));
    assert_eq!(me.path.as_deref(), Some("/users/9141"));
    assert!(agent.has_csrf_token() && agent.has_session_cookie());

    let start = MeOperation::start_session(["chat"]);
    let op = agent.me_operation(&start).await.expect("start session");
    assert_eq!(op, OpResponse { http: 200, status_code: 0, reference_id: Some(35) });
    agent.channel_operation("chat", &ChannelOperation::Ready {}).await.expect("ready");
    agent
        .interaction_operation(
            Media::Facebook,
            "fb1",
            &Operation::Accept { nickname: "Ann".into() },
        )
        .await
        .expect("accept");

    let seen = recorder.seen();
    assert_eq!(seen[0].uri, "/api/v2/me?subresources=*");
    assert_eq!(seen[0].cookie, None, "no cookie before the session exists");
    assert_eq!(seen[0].csrf, None, "no csrf on GET");
    let posts: Vec<&Seen> = seen.iter().filter(|s| s.method == Method::POST).collect();
    assert_eq!(
        posts.iter().map(|s| s.uri.as_str()).collect::<Vec<_>>(),
        ["/api/v2/me", "/api/v2/me/channels/chat", "/api/v2/me/facebooksessions/fb1"]
    );
    for post in &posts {
        assert_eq!(post.authorization.as_deref(), Some(AUTH));
        assert_eq!(post.cookie.as_deref(), Some("JSESSIONID=s1"));
        assert_eq!(post.csrf.as_deref(), Some(TOKEN));
    }
    assert_eq!(posts[0].body, serde_json::to_value(&start).expect("json"));

    let headers = agent.cometd_headers();
    assert_eq!(headers.get("authorization").map(|v| v.to_str().ok()), Some(Some(AUTH)));
    assert_eq!(headers.get("cookie").map(|v| v.to_str().ok()), Some(Some("JSESSIONID=s1")));
    assert!(headers.get("x-csrf-token").is_none(), "CometD takes no CSRF header");
    stop.cancel();
}

#[tokio::test]
async fn errors_are_classified() {
    let recorder = Recorder::default();
    let (client, stop) = serve(recorder).await;
    let mut agent = client.agent(Credentials::new("ann", "s3cret"));

    // Before login there is no CSRF token: the server's plain-text 403.
    let err = agent.me_operation(&MeOperation::Ready {}).await.expect_err("csrf");
    assert_eq!(err.kind().to_string(), "http-403");
    assert!(matches!(&err, GwsError::Status { message, .. } if message.contains("Csrf")));

    let mut wrong = client.agent(Credentials::new("ann", "wrong"));
    let err = wrong.login().await.expect_err("bad password");
    assert_eq!(
        err,
        GwsError::Status { http: 401, status_code: 20, message: "Access denied".into() }
    );

    agent.login().await.expect("login");
    let err = agent
        .interaction_operation(
            Media::Chat,
            "missing",
            &Operation::bare(Capability::Complete).expect("complete"),
        )
        .await
        .expect_err("not found");
    assert_eq!(err.kind().to_string(), "status-6");
    let err = agent
        .interaction_operation(
            Media::Chat,
            "slow",
            &Operation::bare(Capability::Complete).expect("complete"),
        )
        .await
        .expect_err("never answered");
    assert_eq!(err, GwsError::Timeout);
    stop.cancel();

    let gone = GwsClient::builder().base_url("http://127.0.0.1:9").build().expect("client");
    let err = gone.agent(Credentials::new("a", "b")).login().await.expect_err("refused");
    assert_eq!(err.kind().to_string(), "transport");
}

#[tokio::test]
async fn version_needs_no_credentials() {
    let recorder = Recorder::default();
    let (client, stop) = serve(recorder.clone()).await;
    assert_eq!(client.version().await, Ok("8.5.200.50".to_owned()));
    assert_eq!(recorder.seen()[0].authorization, None);
    stop.cancel();
}

#[tokio::test]
async fn csrf_off_sends_no_csrf_header() {
    let recorder = Recorder { csrf_off: true, ..Recorder::default() };
    let (client, stop) = serve(recorder.clone()).await;
    let mut agent = client.agent(Credentials::new("ann", "s3cret"));
    agent.login().await.expect("login");
    assert!(!agent.has_csrf_token());
    agent.me_operation(&MeOperation::Ready {}).await.expect("ready");
    let post = recorder.seen().into_iter().find(|s| s.method == Method::POST).expect("post");
    assert_eq!(post.csrf, None);
    assert_eq!(post.cookie.as_deref(), Some("JSESSIONID=s1"));
    stop.cancel();
}

#[tokio::test]
async fn customer_requests_use_contact_center_id_and_no_credentials() {
    let recorder = Recorder::default();
    let (client, stop) = serve(recorder.clone()).await;
    let customer = CustomerClient::new(&client, "cc-42").expect("customer");
    let mut user_data = Map::new();
    user_data.insert("gwsimKey".into(), json!("k1"));
    let id = customer.request_chat("Chris", "Billing", user_data.clone()).await.expect("request");
    assert_eq!(id, "cust-1");
    let chat = customer.get_chat(&id).await.expect("chat");
    assert_eq!(chat.participants.len(), 2);
    let messages = customer.get_messages(&id, Some(3)).await.expect("messages");
    assert_eq!(messages[0].index, 3);
    customer.get_messages(&id, None).await.expect("new messages");
    customer.send_message(&id, "hello").await.expect("send");
    customer.start_typing(&id).await.expect("typing");
    customer.stop_typing(&id).await.expect("typing");
    customer.complete(&id).await.expect("complete");
    let fb = customer
        .facebook_inbound("Dana", "hi page", "Order", Map::new(), Some("fb-9"))
        .await
        .expect("inbound");
    assert_eq!(fb, "cust-1");
    customer.facebook_messages("fb-9", Some(0)).await.expect("fb messages");
    customer.facebook_send("fb-9", "more").await.expect("fb send");
    customer.facebook_complete("fb-9").await.expect("fb complete");

    let seen = recorder.seen();
    assert!(
        seen.iter()
            .all(|s| s.authorization.is_none() && s.contact_center_id.as_deref() == Some("cc-42"))
    );
    let line = |s: &Seen| format!("{} {}", s.method, s.uri);
    assert_eq!(
        seen.iter().map(line).collect::<Vec<_>>(),
        [
            "POST /api/v2/chats",
            "GET /api/v2/chats/cust-1",
            "GET /api/v2/chats/cust-1/messages?index=3",
            "GET /api/v2/chats/cust-1/messages",
            "POST /api/v2/chats/cust-1",
            "POST /api/v2/chats/cust-1",
            "POST /api/v2/chats/cust-1",
            "POST /api/v2/chats/cust-1",
            "POST /sim/v1/facebook/inbound",
            "GET /sim/v1/facebook/fb-9/messages?index=0",
            "POST /sim/v1/facebook/fb-9",
            "POST /sim/v1/facebook/fb-9",
        ]
    );
    assert_eq!(
        seen[0].body,
        json!({"operationName":"RequestChat","nickname":"Chris","subject":"Billing","userData":user_data})
    );
    let ops: Vec<&Value> = seen[4..8].iter().map(|s| &s.body["operationName"]).collect();
    assert_eq!(
        ops,
        ["SendMessage", "SendStartTypingNotification", "SendStopTypingNotification", "Complete"]
    );
    assert_eq!(seen[4].body["text"], "hello");
    assert_eq!(
        seen[8].body,
        json!({"nickname":"Dana","text":"hi page","subject":"Order","userData":{},"id":"fb-9"})
    );
    assert_eq!(seen[10].body, json!({"operationName":"SendMessage","text":"more"}));
    assert_eq!(seen[11].body, json!({"operationName":"Complete"}));
    stop.cancel();
}
