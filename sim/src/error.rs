//! The service's error shape (`CommunicationErrorResponse`, NOTES.md §9): every failed
//! request gets `{"error":{"code":"<subcode>","message":"…"}}` and the HTTP status the
//! service would use.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// An error answered to a REST client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{status} {code}: {message}")]
pub struct ApiError {
    pub status: StatusCode,
    /// The service's subcode, as a string (`8522`, `7509`…).
    pub code: String,
    pub message: String,
    /// Seconds, for 429/503 answers.
    pub retry_after: Option<u64>,
    /// An injected failure answered after the operation took effect.
    pub after_effect: bool,
    /// The call such an operation took effect on (an answer names its call only in
    /// its result): its timeline records the effect.
    pub call: Option<String>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            status,
            code: code.into(),
            message: message.into(),
            retry_after: None,
            after_effect: false,
            call: None,
        }
    }

    /// 400 8523: a request field is missing or wrong.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "8523", message)
    }

    /// 404 8522: no such call, participant or recording.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "8522", message)
    }

    /// 400 8585: the action is not valid in the call's current state.
    pub fn wrong_state(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "8585", message)
    }

    /// 401 7509: authentication failed.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "7509", message)
    }

    #[must_use]
    pub fn body(&self) -> serde_json::Value {
        serde_json::json!({"error": {"code": self.code, "message": self.message}})
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, json_body(&self.body())).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(JSON));
        if let Some(seconds) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

/// The content type the service answers with.
pub const JSON: &str = "application/json; charset=utf-8";

pub fn json_body(value: &serde_json::Value) -> String {
    serde_json::to_string(value).expect("JSON values serialize")
}
