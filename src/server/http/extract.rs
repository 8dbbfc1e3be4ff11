//! [`AgentPost`]: the checks every agent POST passes before its operation is looked at, in the
//! order of protocol.md §15.18: authentication (401/20), CSRF (403/3), a JSON object body
//! (400/1), an `operationName` (400/1). A refusal after authentication carries the session
//! headers like any other answer.

use std::sync::Arc;

use axum::extract::{FromRequest, Request};
use axum::http::HeaderValue;
use axum::http::StatusCode;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::error::ApiError;
use super::{denied, json_object, with_session};
use crate::gws::{ops, status};
use crate::server::App;
use crate::server::auth::{Authenticated, csrf_ok};

/// An authenticated agent POST with a JSON object body that names an operation.
pub(super) struct AgentPost {
    pub(super) auth: Authenticated,
    pub(super) body: Value,
    pub(super) operation: String,
}

impl FromRequest<Arc<App>> for AgentPost {
    type Rejection = Response;

    async fn from_request(req: Request, app: &Arc<App>) -> Result<Self, Response> {
        let (parts, body) = req.into_parts();
        let auth = app.auth.authenticate(&parts.headers).map_err(|_| denied(app))?;
        if app.config.csrf && !csrf_ok(&auth, &parts.headers) {
            // Always 403, even when errors are configured to answer 200: that is what GWS's
            // CSRF filter does, ahead of the API itself (§1.2).
            let refusal = ApiError {
                http: StatusCode::FORBIDDEN,
                body: ApiError::new(app, status::FORBIDDEN, "Missing or invalid Csrf token").body,
            };
            let mut r = with_session(app, &auth, false, refusal.into_response());
            r.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
            return Err(r);
        }
        let refuse = |e: ApiError| with_session(app, &auth, false, e.into_response());
        let body = json_object(app, body).await.map_err(refuse)?;
        let operation = match ops::operation_name(&body) {
            Ok(name) => name.to_owned(),
            Err(e) => return Err(refuse(ApiError::param(app, &e))),
        };
        Ok(AgentPost { auth, body, operation })
    }
}
