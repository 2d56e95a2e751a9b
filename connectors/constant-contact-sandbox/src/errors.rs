//! Constant Contact's error bodies: the usual `[{"error_key", "error_message"}]` array, and the
//! single-object forms of 401 and 429.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// An API error answered with the status and body Constant Contact would send.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{status}: {body}")]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// The JSON body.
    pub body: Value,
}

impl ApiError {
    /// An error with the array body `[{"error_key", "error_message"}]`.
    pub fn array(status: StatusCode, key: &str, message: impl Into<String>) -> Self {
        Self {
            status,
            body: json!([{"error_key": key, "error_message": message.into()}]),
        }
    }

    /// 400 with a validation message.
    pub fn validation(message: impl Into<String>) -> Self {
        Self::array(StatusCode::BAD_REQUEST, "api.validation.error", message)
    }

    /// 400 for a body that is not JSON (or not the right JSON shape).
    pub fn malformed(message: impl Into<String>) -> Self {
        Self::array(StatusCode::BAD_REQUEST, "api.malformed.json", message)
    }

    /// 404 for an unknown resource.
    pub fn not_found(what: &str) -> Self {
        Self::array(
            StatusCode::NOT_FOUND,
            "api.not_found",
            format!("The requested {what} was not found."),
        )
    }

    /// 409 for a conflict with an existing resource.
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::array(StatusCode::CONFLICT, "api.conflict", message)
    }

    /// 401 with the single-object body of an authorization error.
    pub fn unauthorized() -> Self {
        Self {
            status: StatusCode::UNAUTHORIZED,
            body: json!({"error_key": "unauthorized", "error_message": "Unauthorized"}),
        }
    }

    /// 429 for the per-second limit.
    pub fn throttled() -> Self {
        Self {
            status: StatusCode::TOO_MANY_REQUESTS,
            body: json!({"error_key": "throttled", "error_message": "Too Many Requests"}),
        }
    }

    /// 429 for the daily cap.
    pub fn quota_exceeded() -> Self {
        Self {
            status: StatusCode::TOO_MANY_REQUESTS,
            body: json!({"error_key": "quota_exceeded", "error_message": "Limit Exceeded"}),
        }
    }

    /// 429 for a bulk activity refused because the account has too many queued (the spec's
    /// text for the bulk endpoints' 429). A single object, like the other 429 bodies; its key
    /// tells it apart from `throttled` and `quota_exceeded`, which clear much sooner.
    pub fn queue_full() -> Self {
        Self {
            status: StatusCode::TOO_MANY_REQUESTS,
            body: json!({"error_key": "too_many_queued_activities",
                         "error_message": "Too many requests. You exceeded 1,000 queued activities for this user account."}),
        }
    }

    /// An injected 500 or 503.
    pub fn server_error(status: u16) -> Self {
        if status == 503 {
            Self::array(
                StatusCode::SERVICE_UNAVAILABLE,
                "server.unavailable",
                "Our internal service is temporarily unavailable.",
            )
        } else {
            Self::array(
                StatusCode::INTERNAL_SERVER_ERROR,
                "server.error",
                "There was a problem with our internal service.",
            )
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(self.body)).into_response()
    }
}

/// What API handlers return.
pub type ApiResult = Result<Response, ApiError>;

/// Parses a JSON request body into `T`, answering Constant Contact's 400 otherwise.
pub fn parse_body<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(bytes)
        .map_err(|e| ApiError::malformed(format!("Invalid request body: {e}")))
}
