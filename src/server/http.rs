//! The HTTP shell: axum routes for the agent API, the customer chat API, the Facebook injector
//! and the CometD endpoint. Each handler authenticates, parses, takes the state lock, applies
//! one operation, publishes its notifications and answers; errors follow protocol.md §15.4/§15.18.

// Helpers return `Err(Response)` for the answer of a refused request: it is built once per
// refusal and handed straight to axum, so boxing it would only add an allocation.
#![allow(clippy::result_large_err)]

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{FromRequestParts, Path, Query, Request, State};
use axum::http::header::{CONTENT_TYPE, SET_COOKIE};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Map, Value, json};

use super::App;
use super::auth::{Authenticated, CSRF_HEADER_NAME, SESSION_COOKIE, csrf_ok};
use super::faults::{RequestFault, RequestInfo};
use super::state::{CustomerApi, InteractionRequest, OpError, OpOk};
use crate::gws::{Media, status};

/// The router over shared application state; tests may drive it directly.
pub fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/api/v2/diagnostics/version", get(version))
        .route("/api/v2/me", get(get_me).post(post_me))
        .route("/api/v2/me/channels/{channel}", post(post_channel))
        .route("/api/v2/me/chats/{id}", post(post_chat))
        .route("/api/v2/me/facebooksessions/{id}", post(post_facebook))
        .route("/api/v2/me/facebooksession/{id}", post(post_facebook))
        .route("/api/v2/notifications", get(websocket).post(long_poll))
        .route("/api/v2/notifications/", post(long_poll))
        .route("/api/v2/notifications/{suffix}", post(long_poll_suffix))
        .route("/api/v2/chats", post(request_chat))
        .route("/api/v2/chats/{id}", get(customer_chat).post(customer_op))
        .route("/api/v2/chats/{id}/messages", get(customer_messages))
        .route("/sim/v1/facebook/inbound", post(facebook_inbound))
        .route("/sim/v1/facebook/{id}", get(facebook_chat).post(facebook_op))
        .route("/sim/v1/facebook/{id}/messages", get(facebook_messages))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(app)
}

/// A GWS error or success body with its HTTP status.
fn status_response(
    app: &App,
    code: u32,
    message: Option<&str>,
    extra: Map<String, Value>,
) -> Response {
    let mut body = Map::new();
    body.insert("statusCode".into(), code.into());
    if let Some(m) = message {
        body.insert("statusMessage".into(), m.into());
    }
    body.extend(extra);
    let http = if app.config.always_200 { 200 } else { status::http_status(code) };
    let code = StatusCode::from_u16(http).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (code, axum::Json(Value::Object(body))).into_response()
}

fn error_response(app: &App, e: &OpError) -> Response {
    status_response(app, e.status_code, Some(&e.message), Map::new())
}

fn ok_response(app: &App, ok: OpOk) -> Response {
    let mut extra = ok.body;
    if let Some(r) = ok.reference_id {
        extra.insert("referenceId".into(), r.into());
    }
    match ok.partial {
        Some(msg) => status_response(app, status::PARTIAL, Some(&msg), extra),
        None => status_response(app, status::OK, None, extra),
    }
}

fn denied(app: &App) -> Response {
    status_response(app, status::NOT_AUTHENTICATED, Some("Access denied"), Map::new())
}

/// Adds Set-Cookie for a new session and the CSRF headers on GET responses.
fn with_session(app: &App, auth: &Authenticated, get: bool, mut resp: Response) -> Response {
    let h = resp.headers_mut();
    if auth.new_session
        && let Ok(v) = HeaderValue::from_str(&format!(
            "{SESSION_COOKIE}={}; Path=/; HttpOnly",
            auth.session_id
        ))
    {
        h.append(SET_COOKIE, v);
    }
    if get
        && app.config.csrf
        && let Ok(token) = HeaderValue::from_str(&auth.csrf_token)
    {
        h.insert("X-CSRF-HEADER", HeaderValue::from_static(CSRF_HEADER_NAME));
        h.insert(CSRF_HEADER_NAME, token);
    }
    resp
}

/// Reads a JSON object body, enforcing the size limit. `Err` is the response to send.
async fn json_object(app: &App, body: Body) -> Result<Map<String, Value>, Response> {
    let bytes = axum::body::to_bytes(body, app.config.body_limit).await.map_err(|_| {
        status_response(
            app,
            status::VALIDATION,
            Some("request body too large or unreadable"),
            Map::new(),
        )
    })?;
    match serde_json::from_slice::<Value>(&bytes) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(status_response(
            app,
            status::MISSING_PARAMETER,
            Some("body must be a JSON object"),
            Map::new(),
        )),
        Err(_) => Err(status_response(
            app,
            status::MISSING_PARAMETER,
            Some("body is not valid JSON"),
            Map::new(),
        )),
    }
}

fn operation_name(app: &App, params: &Map<String, Value>) -> Result<String, Response> {
    match params.get("operationName") {
        Some(Value::String(s)) => Ok(s.clone()),
        _ => Err(status_response(
            app,
            status::MISSING_PARAMETER,
            Some("operationName is mandatory"),
            Map::new(),
        )),
    }
}

/// Applies the fault seam to a request; `Err` is the response to send instead.
async fn request_fault(app: &App, info: RequestInfo<'_>) -> Result<(), Response> {
    match app.faults.on_request(&info) {
        RequestFault::Proceed => Ok(()),
        RequestFault::Delay(d) => {
            tokio::select! {
                _ = tokio::time::sleep(d) => Ok(()),
                _ = app.shutdown.cancelled() => Err(status_response(app, status::INTERNAL, Some("shutting down"), Map::new())),
            }
        }
        RequestFault::Fail(code) => {
            Err(status_response(app, code, Some("injected failure"), Map::new()))
        }
        RequestFault::Stall => {
            app.shutdown.cancelled().await;
            Err(status_response(app, status::INTERNAL, Some("shutting down"), Map::new()))
        }
    }
}

async fn version() -> Response {
    axum::Json(json!({"statusCode": 0, "version": "8.5.200.50"})).into_response()
}

#[derive(serde::Deserialize)]
struct MeQuery {
    subresources: Option<String>,
}

async fn get_me(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Query(q): Query<MeQuery>,
) -> Response {
    let Ok(auth) = app.auth.authenticate(&headers) else { return denied(&app) };
    let user = app.with_center(|c, _| c.me_view(auth.user, q.subresources.is_some()));
    let mut extra = Map::new();
    extra.insert("user".into(), user);
    with_session(&app, &auth, true, status_response(&app, status::OK, None, extra))
}

/// Authentication, CSRF, body and operationName for an agent POST, in that order (§15.18).
async fn agent_post(
    app: &App,
    headers: &HeaderMap,
    body: Body,
    path: &str,
) -> Result<(Authenticated, Map<String, Value>, String), Response> {
    let auth = app.auth.authenticate(headers).map_err(|_| denied(app))?;
    if app.config.csrf && !csrf_ok(&auth, headers) {
        let r = status_response(
            app,
            status::FORBIDDEN,
            Some("Missing or invalid Csrf token"),
            Map::new(),
        );
        let r = (StatusCode::FORBIDDEN, r.into_body()).into_response();
        let mut r = with_session(app, &auth, false, r);
        r.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        return Err(r);
    }
    let params = json_object(app, body).await.map_err(|r| with_session(app, &auth, false, r))?;
    let op = operation_name(app, &params).map_err(|r| with_session(app, &auth, false, r))?;
    request_fault(app, RequestInfo { method: "POST", path, operation: Some(&op) }).await?;
    Ok((auth, params, op))
}

async fn post_me(State(app): State<Arc<App>>, headers: HeaderMap, body: Body) -> Response {
    let (auth, params, op) = match agent_post(&app, &headers, body, "/api/v2/me").await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let result =
        app.with_center(|c, out| c.me_operation(auth.user, &op, &params, app.now_ms(), out));
    respond(&app, &auth, result)
}

async fn post_channel(
    State(app): State<Arc<App>>,
    Path(channel): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let (auth, _params, op) = match agent_post(&app, &headers, body, "/api/v2/me/channels").await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let result =
        app.with_center(|c, out| c.channel_operation(auth.user, &channel, &op, app.now_ms(), out));
    respond(&app, &auth, result)
}

async fn post_chat(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    interaction(app, Media::Chat, id, headers, body).await
}

async fn post_facebook(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    interaction(app, Media::Facebook, id, headers, body).await
}

async fn interaction(
    app: Arc<App>,
    media: Media,
    id: String,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let path = format!("/api/v2/me/{}", media.path_segment());
    let (auth, params, op) = match agent_post(&app, &headers, body, &path).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let req =
        InteractionRequest { user: auth.user, media, id: &id, operation: &op, params: &params };
    let result = app.with_center(|c, out| c.interaction_operation(req, app.now_ms(), out));
    respond(&app, &auth, result)
}

fn respond(app: &App, auth: &Authenticated, result: Result<OpOk, OpError>) -> Response {
    let resp = match result {
        Ok(ok) => ok_response(app, ok),
        Err(e) => error_response(app, &e),
    };
    with_session(app, auth, false, resp)
}

// ----- CometD -----

async fn long_poll(State(app): State<Arc<App>>, headers: HeaderMap, body: Body) -> Response {
    let Ok(auth) = app.auth.authenticate(&headers) else { return denied(&app) };
    let bytes = match axum::body::to_bytes(body, app.config.body_limit).await {
        Ok(b) => b,
        Err(_) => {
            return status_response(
                &app,
                status::VALIDATION,
                Some("request body too large or unreadable"),
                Map::new(),
            );
        }
    };
    let text = String::from_utf8_lossy(&bytes);
    let resp = match app.hub.long_poll(auth.user, &text).await {
        Ok(reply) => ([(CONTENT_TYPE, "application/json;charset=UTF-8")], reply).into_response(),
        Err(e) => {
            status_response(&app, status::MISSING_PARAMETER, Some(&e.to_string()), Map::new())
        }
    };
    with_session(&app, &auth, false, resp)
}

async fn long_poll_suffix(
    State(app): State<Arc<App>>,
    Path(_suffix): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    long_poll(State(app), headers, body).await
}

async fn websocket(State(app): State<Arc<App>>, req: Request) -> Response {
    let (mut parts, _body) = req.into_parts();
    let Ok(auth) = app.auth.authenticate(&parts.headers) else { return denied(&app) };
    let protocols = parts
        .headers
        .get("sec-websocket-protocol")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    match WebSocketUpgrade::from_request_parts(&mut parts, &app).await {
        Ok(ws) => {
            with_session(&app, &auth, false, app.hub.upgrade(auth.user, ws, protocols.as_deref()))
        }
        Err(rejection) => {
            let message = format!("websocket upgrade required: {}", rejection.body_text());
            status_response(&app, status::MISSING_PARAMETER, Some(&message), Map::new())
        }
    }
}

// ----- customer chat API and Facebook injector -----

/// Customers authenticate with the ContactCenterId header (§11.1, §15.19).
fn contact_center_ok(app: &App, headers: &HeaderMap) -> bool {
    headers
        .get("ContactCenterId")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == app.config.contact_center_id)
}

async fn customer_post(
    app: &App,
    headers: &HeaderMap,
    body: Body,
    path: &str,
) -> Result<(Map<String, Value>, String), Response> {
    if !contact_center_ok(app, headers) {
        return Err(denied(app));
    }
    let params = json_object(app, body).await?;
    let op = operation_name(app, &params)?;
    request_fault(app, RequestInfo { method: "POST", path, operation: Some(&op) }).await?;
    Ok((params, op))
}

async fn request_chat(State(app): State<Arc<App>>, headers: HeaderMap, body: Body) -> Response {
    let (params, op) = match customer_post(&app, &headers, body, "/api/v2/chats").await {
        Ok(v) => v,
        Err(r) => return r,
    };
    if op != "RequestChat" {
        return status_response(
            &app,
            status::MISSING_PARAMETER,
            Some(&format!("unknown operationName '{op}'")),
            Map::new(),
        );
    }
    let result = app.with_center(|c, out| c.request_chat(&params, app.now_ms(), out));
    match result {
        Ok(ok) => ok_response(&app, ok),
        Err(e) => error_response(&app, &e),
    }
}

async fn customer_chat(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    customer_view(app, CustomerApi::Chat, id, headers).await
}

async fn facebook_chat(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    customer_view(app, CustomerApi::Facebook, id, headers).await
}

async fn customer_view(
    app: Arc<App>,
    api: CustomerApi,
    id: String,
    headers: HeaderMap,
) -> Response {
    if !contact_center_ok(&app, &headers) {
        return denied(&app);
    }
    match app.with_center(|c, _| c.customer_chat(api, &id)) {
        Ok(Value::Object(extra)) => status_response(&app, status::OK, None, extra),
        Ok(_) => status_response(&app, status::INTERNAL, Some("unexpected view"), Map::new()),
        Err(e) => error_response(&app, &e),
    }
}

#[derive(serde::Deserialize)]
struct IndexQuery {
    index: Option<String>,
}

async fn customer_messages(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    Query(q): Query<IndexQuery>,
) -> Response {
    messages(app, CustomerApi::Chat, id, headers, q).await
}

async fn facebook_messages(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    Query(q): Query<IndexQuery>,
) -> Response {
    messages(app, CustomerApi::Facebook, id, headers, q).await
}

async fn messages(
    app: Arc<App>,
    api: CustomerApi,
    id: String,
    headers: HeaderMap,
    q: IndexQuery,
) -> Response {
    if !contact_center_ok(&app, &headers) {
        return denied(&app);
    }
    let index = match q.index.as_deref().map(str::parse::<u64>) {
        None => None,
        Some(Ok(n)) => Some(n),
        Some(Err(_)) => {
            return status_response(
                &app,
                status::VALIDATION,
                Some("index must be a non-negative integer"),
                Map::new(),
            );
        }
    };
    match app.with_center(|c, _| c.customer_messages(api, &id, index)) {
        Ok(entries) => {
            let mut extra = Map::new();
            extra.insert(
                "messages".into(),
                serde_json::to_value(entries).unwrap_or(Value::Array(vec![])),
            );
            status_response(&app, status::OK, None, extra)
        }
        Err(e) => error_response(&app, &e),
    }
}

async fn customer_op(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    customer_operation(app, CustomerApi::Chat, id, headers, body).await
}

async fn facebook_op(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    customer_operation(app, CustomerApi::Facebook, id, headers, body).await
}

async fn customer_operation(
    app: Arc<App>,
    api: CustomerApi,
    id: String,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let (params, op) = match customer_post(&app, &headers, body, "/api/v2/chats/{id}").await {
        Ok(v) => v,
        Err(r) => return r,
    };
    match app.with_center(|c, out| c.customer_operation(api, &id, &op, &params, app.now_ms(), out))
    {
        Ok(ok) => ok_response(&app, ok),
        Err(e) => error_response(&app, &e),
    }
}

async fn facebook_inbound(State(app): State<Arc<App>>, headers: HeaderMap, body: Body) -> Response {
    if !contact_center_ok(&app, &headers) {
        return denied(&app);
    }
    let params = match json_object(&app, body).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    match app.with_center(|c, out| c.facebook_inbound(&params, app.now_ms(), out)) {
        Ok(ok) => ok_response(&app, ok),
        Err(e) => error_response(&app, &e),
    }
}

async fn not_found(State(app): State<Arc<App>>) -> Response {
    status_response(&app, status::NOT_FOUND, Some("no such resource"), Map::new())
}

async fn method_not_allowed(State(app): State<Arc<App>>, method: Method) -> Response {
    let mut r = status_response(
        &app,
        status::MISSING_PARAMETER,
        Some(&format!("method {method} not allowed here")),
        Map::new(),
    );
    *r.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
    r
}
