//! The answer to a refused request: [`ApiError`], a GWS [`StatusBody`] with its HTTP status
//! (protocol.md §1.3, §15.4), so handlers can refuse with `?`.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::gws::{ParamError, StatusBody, status};
use crate::server::App;
use crate::server::state::OpError;

/// A refused request. The body holds `statusCode` and `statusMessage` and nothing else.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub http: StatusCode,
    pub body: StatusBody,
}

impl ApiError {
    /// A refusal with the HTTP status of the §1.3 table, or 200 when the server is configured
    /// to answer everything with 200.
    pub fn new(app: &App, status_code: u32, message: impl Into<String>) -> Self {
        ApiError {
            http: http_status(app, status_code),
            body: StatusBody::error(status_code, message),
        }
    }

    pub fn op(app: &App, e: OpError) -> Self {
        Self::new(app, e.status_code, e.message)
    }

    pub fn param(app: &App, e: &ParamError) -> Self {
        Self::new(app, status::MISSING_PARAMETER, e.to_string())
    }

    /// The state machine cannot be trusted any more (statusCode 4).
    pub fn internal(app: &App, message: impl Into<String>) -> Self {
        Self::new(app, status::INTERNAL, message)
    }
}

pub(super) fn http_status(app: &App, status_code: u32) -> StatusCode {
    let http = if app.config.always_200 { 200 } else { status::http_status(status_code) };
    StatusCode::from_u16(http).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.http, axum::Json(self.body)).into_response()
    }
}
