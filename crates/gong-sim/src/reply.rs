//! Gong's answers: every body carries a `requestId`, and every error is
//! `{"requestId", "errors": [..]}` with plain strings (no codes; clients match the text).

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use gong_api::models::ErrorResponse;
use rand::Rng;
use serde_json::{Value, json};

/// 19 lowercase alphanumerics, like `4al018gzaztcr8nbukw`.
pub fn request_id() -> String {
    const A: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rng();
    (0..19)
        .map(|_| A[rng.random_range(0..A.len())] as char)
        .collect()
}

/// A success body: `fields` (models, serialized) plus a fresh `requestId` first, also in
/// place of a model's empty one.
pub fn ok(fields: Value) -> Response {
    let mut body = serde_json::Map::new();
    body.insert("requestId".into(), json!(request_id()));
    if let Value::Object(m) = fields {
        body.extend(
            m.into_iter()
                .filter(|(k, v)| k != "requestId" || !v.is_null()),
        );
    }
    axum::Json(Value::Object(body)).into_response()
}

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            message: message.into(),
            retry_after: None,
        }
    }
    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, message)
    }
    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, message)
    }
    /// Gong's 404 for a filter that matched nothing (clients must treat it as empty).
    pub fn no_calls() -> ApiError {
        ApiError::not_found("No calls found corresponding to the provided filters")
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorResponse {
            request_id: Some(request_id()),
            errors: vec![self.message],
        };
        let mut res = (self.status, axum::Json(body)).into_response();
        if let Some(secs) = self.retry_after {
            res.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs.max(1)));
        }
        res
    }
}

pub type ApiResult = Result<Response, ApiError>;
