//! The HTTP shell: axum routes for the agent API, the customer chat API, the Facebook injector
//! and the CometD endpoint. Each handler authenticates, parses, takes the state lock, applies
//! one operation, publishes its notifications and answers; errors follow protocol.md §15.4/§15.18.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{FromRequestParts, Path, Query, Request, State};
use axum::http::header::{CONTENT_TYPE, SET_COOKIE};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Serialize;
use serde_json::{Map, Value, json};

use self::error::{ApiError, http_status};
use self::extract::AgentPost;
use super::App;
use super::auth::{Authenticated, CSRF_HEADER_NAME, SESSION_COOKIE};
use super::faults::{Cause, LeakInfo, RequestInfo, RequestOutcome, hold_until};
use super::state::{CustomerApi, InteractionRequest, OpError, OpOk};
use crate::gws::{
    ChannelOperation, MeOperation, MeView, Media, ParamError, StatusBody, ops, status,
};

mod error;
mod extract;

pub use error::ApiError as HttpError;

/// The router over shared application state; tests may drive it directly.
pub fn router(app: Arc<App>) -> Router {
    let router = Router::new()
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
        .route("/sim/v1/faults/ledger", get(fault_ledger))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed);
    // Counting requests is a layer only when `--prometheus` asks for it.
    let router = match &app.config.telemetry {
        Some(t) => router.layer(axum::middleware::from_fn_with_state(t.clone(), count_request)),
        None => router,
    };
    router.with_state(app)
}

/// Counts a request by its route (the router's pattern, so ids do not make new series) and the
/// status it was answered with.
async fn count_request(
    State(t): State<Arc<crate::telemetry::serve::ServeMetrics>>,
    request: Request,
    next: axum::middleware::Next,
) -> Response {
    let route = request
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let response = next.run(request).await;
    t.request(&route, response.status().as_u16());
    response
}

/// A success body: `statusCode` (0, or 7 with a message for a partial success), the
/// `referenceId` if any, and the operation's own fields.
#[derive(Serialize)]
struct Success<T: Serialize> {
    #[serde(flatten)]
    status: StatusBody,
    #[serde(flatten)]
    body: T,
}

fn success<T: Serialize>(app: &App, status: StatusBody, body: T) -> Response {
    let http = http_status(app, status.status_code);
    (http, axum::Json(Success { status, body })).into_response()
}

fn ok_response(app: &App, ok: OpOk) -> Response {
    let status = StatusBody {
        status_code: if ok.partial.is_some() { status::PARTIAL } else { status::OK },
        status_message: ok.partial,
        reference_id: ok.reference_id,
    };
    success(app, status, ok.body)
}

fn respond_op(app: &App, result: Result<OpOk, OpError>) -> Response {
    match result {
        Ok(ok) => ok_response(app, ok),
        Err(e) => ApiError::op(app, e).into_response(),
    }
}

fn denied(app: &App) -> Response {
    ApiError::new(app, status::NOT_AUTHENTICATED, "Access denied").into_response()
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

/// Reads a JSON object body, enforcing the size limit.
async fn json_object(app: &App, body: Body) -> Result<Value, ApiError> {
    let bytes = axum::body::to_bytes(body, app.config.body_limit).await.map_err(|_| {
        ApiError::new(app, status::VALIDATION, "request body too large or unreadable")
    })?;
    match serde_json::from_slice::<Value>(&bytes) {
        Ok(v @ Value::Object(_)) => Ok(v),
        Ok(_) => Err(ApiError::param(app, &ParamError::NotAnObject)),
        Err(_) => Err(ApiError::new(app, status::MISSING_PARAMETER, "body is not valid JSON")),
    }
}

/// Applies the fault seam to a request; `Err` is the answer to send instead.
async fn request_fault(app: &App, info: RequestInfo<'_>) -> Result<(), ApiError> {
    // The delay counts from before the decision, so the request is answered exactly its value
    // later than it would have been (the decision's own cost is inside it, not added to it).
    let decided = tokio::time::Instant::now();
    let fault = app.faults.on_request(&info);
    if !fault.delay.is_zero() {
        tokio::select! {
            () = hold_until(decided + fault.delay) => {}
            _ = app.shutdown.cancelled() => return Err(ApiError::internal(app, "shutting down")),
        }
    }
    match fault.then {
        RequestOutcome::Proceed => Ok(()),
        RequestOutcome::Fail { status_code, http_status } => {
            let mut e = ApiError::new(app, status_code, "injected failure");
            if let Some(h) = http_status.and_then(|h| StatusCode::from_u16(h).ok()) {
                e.http = h;
            }
            Err(e)
        }
        RequestOutcome::Stall => {
            app.shutdown.cancelled().await;
            Err(ApiError::internal(app, "shutting down"))
        }
    }
}

/// The fault seam for an agent request.
fn agent_info<'a>(
    path: &'a str,
    operation: &'a str,
    auth: &Authenticated,
    interaction: Option<(&'a str, Media)>,
) -> RequestInfo<'a> {
    RequestInfo {
        method: "POST",
        path,
        operation: Some(operation),
        user: Some(auth.user),
        customer: None,
        interaction: interaction.map(|i| i.0),
        media: interaction.map(|i| i.1),
    }
}

/// The fault seam for a customer request.
fn customer_info<'a>(
    method: &'a str,
    path: &'a str,
    operation: Option<&'a str>,
    customer: Option<&'a str>,
    api: CustomerApi,
) -> RequestInfo<'a> {
    RequestInfo {
        method,
        path,
        operation,
        user: None,
        customer,
        interaction: None,
        media: Some(api.media()),
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
    #[derive(Serialize)]
    struct UserBody {
        user: MeView,
    }
    let Ok(auth) = app.auth.authenticate(&headers) else { return denied(&app) };
    let resp = match app.with_center(|c, _| c.me_view(auth.user, q.subresources.is_some())) {
        Ok(user) => success(&app, StatusBody::ok(), UserBody { user }),
        Err(e) => e.into_response(),
    };
    with_session(&app, &auth, true, resp)
}

async fn post_me(State(app): State<Arc<App>>, post: AgentPost) -> Response {
    let result = async {
        let op = MeOperation::decode(&post.body).map_err(|e| ApiError::param(&app, &e))?;
        let info = agent_info("/api/v2/me", &post.operation, &post.auth, None);
        request_fault(&app, info).await?;
        app.with_center_for(Cause::Session(&post.operation), |c, out| {
            c.me_operation(post.auth.user, op, app.now_ms(), out)
        })
    };
    respond(&app, &post.auth, result.await)
}

async fn post_channel(
    State(app): State<Arc<App>>,
    Path(channel): Path<String>,
    post: AgentPost,
) -> Response {
    let result = async {
        let op = ChannelOperation::decode(&post.body).map_err(|e| ApiError::param(&app, &e))?;
        let info = agent_info("/api/v2/me/channels", &post.operation, &post.auth, None);
        request_fault(&app, info).await?;
        app.with_center_for(Cause::Session(&post.operation), |c, out| {
            c.channel_operation(post.auth.user, &channel, op, app.now_ms(), out)
        })
    };
    respond(&app, &post.auth, result.await)
}

async fn post_chat(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    post: AgentPost,
) -> Response {
    interaction(app, Media::Chat, id, post).await
}

async fn post_facebook(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    post: AgentPost,
) -> Response {
    interaction(app, Media::Facebook, id, post).await
}

/// An interaction operation. An unknown operationName is refused here (400/1); a parameter
/// error travels with the request and is reported by the state machine after its 404, 403
/// and 400/2 checks (§15.18).
async fn interaction(app: Arc<App>, media: Media, id: String, post: AgentPost) -> Response {
    let result = async {
        let req = InteractionRequest::decode(post.auth.user, media, &id, &post.body)
            .map_err(|e| ApiError::param(&app, &e))?;
        let path = format!("/api/v2/me/{}", media.path_segment());
        let info = agent_info(&path, &post.operation, &post.auth, Some((&id, media)));
        request_fault(&app, info).await?;
        let cause = Cause::Operation { name: req.name, interaction: &id };
        app.with_center_for(cause, |c, out| c.interaction_operation(req, app.now_ms(), out))
    };
    respond(&app, &post.auth, result.await)
}

/// The answer to an agent operation, with the session headers.
fn respond(
    app: &App,
    auth: &Authenticated,
    result: Result<Result<OpOk, OpError>, ApiError>,
) -> Response {
    let resp = match result {
        Ok(r) => respond_op(app, r),
        Err(e) => e.into_response(),
    };
    with_session(app, auth, false, resp)
}

// ----- CometD -----

async fn long_poll(State(app): State<Arc<App>>, headers: HeaderMap, body: Body) -> Response {
    let Ok(auth) = app.auth.authenticate(&headers) else { return denied(&app) };
    // Needed only to authenticate: not kept through a held connect (heaptrack counted the
    // extractor's copy of the header map at about 0.6 KiB per held connect).
    drop(headers);
    let text = axum::body::to_bytes(body, app.config.body_limit)
        .await
        .map(|bytes| String::from_utf8_lossy(&bytes).into_owned());
    let resp = match text {
        Err(_) => ApiError::new(&app, status::VALIDATION, "request body too large or unreadable")
            .into_response(),
        Ok(text) => {
            let reply = app.hub.long_poll(auth.user.get(), text).await;
            app.stall().await;
            match reply {
                Ok(reply) => {
                    ([(CONTENT_TYPE, "application/json;charset=UTF-8")], reply).into_response()
                }
                Err(e) => {
                    ApiError::new(&app, status::MISSING_PARAMETER, e.to_string()).into_response()
                }
            }
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
            let upgraded = app.hub.upgrade(auth.user.get(), ws, protocols.as_deref());
            with_session(&app, &auth, false, upgraded)
        }
        Err(rejection) => {
            let message = format!("websocket upgrade required: {}", rejection.body_text());
            ApiError::new(&app, status::MISSING_PARAMETER, message).into_response()
        }
    }
}

// ----- customer chat API and Facebook injector -----

/// Customers authenticate with the ContactCenterId header (§11.1, §15.19).
fn contact_center_ok(app: &App, headers: &HeaderMap) -> Result<(), ApiError> {
    let ok = headers
        .get("ContactCenterId")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == app.config.contact_center_id);
    if ok { Ok(()) } else { Err(ApiError::new(app, status::NOT_AUTHENTICATED, "Access denied")) }
}

/// The ContactCenterId, a JSON object body and its operationName, then the fault seam.
async fn customer_post(
    app: &App,
    headers: &HeaderMap,
    body: Body,
    path: &str,
    customer: Option<&str>,
    api: CustomerApi,
) -> Result<(Map<String, Value>, String), ApiError> {
    contact_center_ok(app, headers)?;
    let body = json_object(app, body).await?;
    let op = ops::operation_name(&body).map_err(|e| ApiError::param(app, &e))?.to_owned();
    request_fault(app, customer_info("POST", path, Some(&op), customer, api)).await?;
    let Value::Object(params) = body else {
        return Err(ApiError::param(app, &ParamError::NotAnObject));
    };
    Ok((params, op))
}

/// Turns a handler's result into the answer.
fn answer(result: Result<Response, ApiError>) -> Response {
    result.unwrap_or_else(IntoResponse::into_response)
}

async fn request_chat(State(app): State<Arc<App>>, headers: HeaderMap, body: Body) -> Response {
    answer(
        async {
            let (params, op) =
                customer_post(&app, &headers, body, "/api/v2/chats", None, CustomerApi::Chat)
                    .await?;
            if op != "RequestChat" {
                return Err(ApiError::param(&app, &ParamError::UnknownOperation(op)));
            }
            let result = app.with_center_for(Cause::Customer("RequestChat"), |c, out| {
                c.request_chat(&params, app.now_ms(), out)
            })?;
            Ok(respond_op(&app, result))
        }
        .await,
    )
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
    if let Err(e) = customer_get(&app, &headers, api, "/api/v2/chats/{id}", &id).await {
        return e.into_response();
    }
    answer((|| {
        let view = app.with_center(|c, _| c.customer_chat(api, &id))?;
        match view {
            Ok(Value::Object(fields)) => Ok(success(&app, StatusBody::ok(), fields)),
            Ok(_) => Err(ApiError::internal(&app, "unexpected view")),
            Err(e) => Err(ApiError::op(&app, e)),
        }
    })())
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

/// The ContactCenterId, then the fault seam, for a customer's GET.
async fn customer_get(
    app: &App,
    headers: &HeaderMap,
    api: CustomerApi,
    path: &str,
    id: &str,
) -> Result<(), ApiError> {
    contact_center_ok(app, headers)?;
    request_fault(app, customer_info("GET", path, None, Some(id), api)).await?;
    app.stall().await;
    Ok(())
}

async fn messages(
    app: Arc<App>,
    api: CustomerApi,
    id: String,
    headers: HeaderMap,
    q: IndexQuery,
) -> Response {
    #[derive(Serialize)]
    struct Messages {
        messages: Vec<crate::gws::LogEntry>,
    }
    if let Err(e) = customer_get(&app, &headers, api, "/api/v2/chats/{id}/messages", &id).await {
        return e.into_response();
    }
    answer((|| {
        let index = match q.index.as_deref().map(str::parse::<u64>) {
            None => None,
            Some(Ok(n)) => Some(n),
            Some(Err(_)) => {
                return Err(ApiError::new(
                    &app,
                    status::VALIDATION,
                    "index must be a non-negative integer",
                ));
            }
        };
        let result = app.with_center(|c, _| {
            if !app.hooks.leaks {
                return c.customer_messages(api, &id, index);
            }
            c.customer_messages_leaky(api, &id, index, &mut |interaction, entry, author| {
                let leak = LeakInfo { interaction, chat: &id, media: api.media(), entry, author };
                app.faults.leak(&leak)
            })
        })?;
        match result {
            Ok(messages) => Ok(success(&app, StatusBody::ok(), Messages { messages })),
            Err(e) => Err(ApiError::op(&app, e)),
        }
    })())
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
    answer(
        async {
            let (params, op) =
                customer_post(&app, &headers, body, "/api/v2/chats/{id}", Some(&id), api).await?;
            let result = app.with_center_for(Cause::Customer(&op), |c, out| {
                c.customer_operation(api, &id, &op, &params, app.now_ms(), out)
            })?;
            Ok(respond_op(&app, result))
        }
        .await,
    )
}

async fn facebook_inbound(State(app): State<Arc<App>>, headers: HeaderMap, body: Body) -> Response {
    answer(
        async {
            contact_center_ok(&app, &headers)?;
            let info = customer_info(
                "POST",
                "/sim/v1/facebook/inbound",
                None,
                None,
                CustomerApi::Facebook,
            );
            request_fault(&app, info).await?;
            let Value::Object(params) = json_object(&app, body).await? else {
                return Err(ApiError::param(&app, &ParamError::NotAnObject));
            };
            let result = app.with_center_for(Cause::Customer("FacebookInbound"), |c, out| {
                c.facebook_inbound(&params, app.now_ms(), out)
            })?;
            Ok(respond_op(&app, result))
        }
        .await,
    )
}

#[derive(serde::Deserialize)]
struct LedgerQuery {
    after: Option<u64>,
}

/// `GET /sim/v1/faults/ledger[?after=SEQ]`: the fault ledger's records with `seq > after`, and
/// the counters (simulator-only, like the Facebook injector; customers' ContactCenterId).
async fn fault_ledger(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Query(q): Query<LedgerQuery>,
) -> Response {
    answer((|| {
        contact_center_ok(&app, &headers)?;
        let ledger = app.faults.ledger_after(q.after.unwrap_or(0)).unwrap_or_default();
        Ok(success(&app, StatusBody::ok(), ledger))
    })())
}

async fn not_found(State(app): State<Arc<App>>) -> Response {
    ApiError::new(&app, status::NOT_FOUND, "no such resource").into_response()
}

async fn method_not_allowed(State(app): State<Arc<App>>, method: Method) -> Response {
    let mut r =
        ApiError::new(&app, status::MISSING_PARAMETER, format!("method {method} not allowed here"))
            .into_response();
    *r.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
    r
}
