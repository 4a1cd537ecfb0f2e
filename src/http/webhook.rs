//! The webhook routes: verify, read, check and commit one Gong delivery, then answer.
//!
//! The headers are verified before a byte of the body is read, so a request without a
//! valid credential costs no body memory (it is answered 401 at once); the body of a
//! verified one is read within MAX_BODY_BYTES, the shared body budget and REQUEST_TIMEOUT
//! (`body`), then checked against the token's `body_sha256`. The answer is sent only after
//! the inbox has committed the raw body, so a 200 always means "stored"; every refusal is a
//! 4xx with a reason code, and a 503 means only that gong-relay could not take the event
//! now (the store could not commit, or no body budget came free in time).

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use std::sync::Arc;
use std::time::Instant;
use tower_http::request_id::RequestId;

use super::AppState;
use super::body::{BodyError, BodyLimits};
use crate::inbox::InboxError;
use crate::store::InsertOutcome;
use crate::telemetry;
use crate::verify::{EventKind, PayloadError, Reason, Rejection};

/// An error answer. Each variant documents why it maps to its status.
#[derive(Debug)]
pub enum ApiError {
    /// 401: the credential did not verify; the reason code tells the sender what to fix.
    Unauthorized(Rejection),
    /// 400/415: the body verified but is not what the route takes.
    Payload(PayloadError),
    /// 413: larger than MAX_BODY_BYTES (the configured value, stated in the message);
    /// reading on would let a client exhaust memory.
    TooLarge { limit: usize },
    /// 400: the body could not be read (client aborted, bad framing).
    BadBody(String),
    /// 408: the body did not arrive before REQUEST_TIMEOUT, counted from the request's
    /// start: a trickling client cannot hold a connection and its buffer for long.
    BodyTimeout,
    /// 503: the inbox cannot commit; the sender must retry, since nothing was stored.
    Unavailable,
    /// 503: the bodies already in flight hold the whole MAX_BODY_BYTES_IN_FLIGHT budget
    /// and none came free before the request's deadline; not the sender's fault, so 5xx.
    Overloaded,
    /// 404: no such route.
    NotFound,
    /// 405: route exists, method does not.
    MethodNotAllowed,
}

impl ApiError {
    fn parts(&self) -> (StatusCode, &'static str, String) {
        match self {
            ApiError::Unauthorized(r) => (
                StatusCode::UNAUTHORIZED,
                r.reason.code(),
                r.message.to_owned(),
            ),
            ApiError::Payload(PayloadError::NotJson) => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                PayloadError::NotJson.to_string(),
            ),
            ApiError::Payload(e @ PayloadError::Malformed(_)) => {
                (StatusCode::BAD_REQUEST, "malformed_json", e.to_string())
            }
            ApiError::Payload(e @ PayloadError::Invalid(_)) => {
                (StatusCode::BAD_REQUEST, "invalid_payload", e.to_string())
            }
            ApiError::TooLarge { limit } => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                format!("the body is larger than MAX_BODY_BYTES ({limit} bytes)"),
            ),
            ApiError::BadBody(m) => (StatusCode::BAD_REQUEST, "bad_body", m.clone()),
            ApiError::BodyTimeout => (
                StatusCode::REQUEST_TIMEOUT,
                "body_timeout",
                "the body did not arrive in time".into(),
            ),
            ApiError::Unavailable => (
                StatusCode::SERVICE_UNAVAILABLE,
                "store_unavailable",
                "the event could not be stored; retry later".into(),
            ),
            ApiError::Overloaded => (
                StatusCode::SERVICE_UNAVAILABLE,
                "overloaded",
                "too many bodies are being received at once; retry later".into(),
            ),
            ApiError::NotFound => (StatusCode::NOT_FOUND, "not_found", "no such route".into()),
            ApiError::MethodNotAllowed => (
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "this route does not take that method".into(),
            ),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code, message) = self.parts();
        (
            status,
            axum::Json(json!({"error": code, "message": message})),
        )
            .into_response()
    }
}

/// What one webhook request brings: its route, headers and the body, not yet read.
pub(super) struct Delivery {
    pub(super) kind: EventKind,
    pub(super) uri: Uri,
    pub(super) headers: HeaderMap,
    pub(super) body: Body,
}

pub(super) async fn webhook(
    State(state): State<Arc<AppState>>,
    axum::Extension(request_id): axum::Extension<RequestId>,
    limits: BodyLimits,
    delivery: Delivery,
) -> Response {
    let start = Instant::now();
    let kind = delivery.kind;
    // Printable ASCII: an incoming id was checked (acceptable_id), a new one is a UUID.
    let request_id = request_id.header_value().to_str().unwrap_or_default();
    let deadline = tokio::time::Instant::from_std(start) + limits.request_timeout;
    let result = accept(&state, &limits, deadline, request_id, delivery).await;
    let response = match result {
        Ok((status, body)) => (status, axum::Json(body)).into_response(),
        Err(e) => {
            if let ApiError::Unauthorized(r) = &e {
                metrics::counter!(telemetry::WEBHOOK_VERIFICATION_FAILURES_TOTAL, "reason" => r.reason.code())
                    .increment(1);
                tracing::warn!(
                    reason = r.reason.code(),
                    detail = r.message,
                    "webhook refused"
                );
            }
            e.into_response()
        }
    };
    metrics::counter!(
        telemetry::WEBHOOK_REQUESTS_TOTAL,
        "endpoint" => kind.endpoint(),
        "status" => status_label(response.status()),
    )
    .increment(1);
    metrics::histogram!(telemetry::WEBHOOK_PROCESSING_DURATION_SECONDS, "stage" => "receipt")
        .record(start.elapsed().as_secs_f64());
    response
}

/// Static labels for the common statuses (no allocation per request).
fn status_label(status: StatusCode) -> &'static str {
    match status.as_u16() {
        200 => "200",
        400 => "400",
        401 => "401",
        404 => "404",
        405 => "405",
        408 => "408",
        413 => "413",
        415 => "415",
        503 => "503",
        _ => "other",
    }
}

async fn accept(
    state: &AppState,
    limits: &BodyLimits,
    deadline: tokio::time::Instant,
    request_id: &str,
    delivery: Delivery,
) -> Result<(StatusCode, serde_json::Value), ApiError> {
    let Delivery {
        kind,
        uri,
        headers,
        body,
    } = delivery;
    // Phase 1: the headers alone. A refused request is answered without its body being
    // read; dropping the unread body makes the server close the connection after the answer.
    let authorization = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let url_key = uri.query().and_then(url_key_param);
    let pending = state
        .verifier
        .check_headers(kind, authorization, url_key.as_deref())
        .map_err(ApiError::Unauthorized)?;

    // Phase 2: the body, paid for from the shared budget (held until this function returns,
    // that is until the inbox has committed or refused the event), then its hash.
    let content_length = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    let body = limits
        .read(body, content_length, deadline)
        .await
        .map_err(|e| match e {
            BodyError::TooLarge => ApiError::TooLarge {
                limit: limits.max_body_bytes,
            },
            BodyError::Timeout => ApiError::BodyTimeout,
            BodyError::Overloaded => ApiError::Overloaded,
            BodyError::Read(why) => ApiError::BadBody(why),
        })?;
    let verified = pending
        .with_body(body.bytes.clone())
        .map_err(ApiError::Unauthorized)?;
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .map(|v| v.to_str().unwrap_or("invalid"));
    let event = verified
        .into_event(content_type, request_id)
        .map_err(ApiError::Payload)?;
    let source_id = event.source_id().to_owned();
    match state.inbox.submit(event).await {
        Ok(InsertOutcome::Accepted { event_id }) => {
            record_event(kind, &source_id, &event_id, false);
            state.pipeline.wake();
            Ok((
                StatusCode::OK,
                json!({"status": "accepted", "event_id": event_id}),
            ))
        }
        Ok(InsertOutcome::Duplicate { event_id }) => {
            record_event(kind, &source_id, &event_id, true);
            Ok((
                StatusCode::OK,
                json!({"status": "accepted", "event_id": event_id, "duplicate": true}),
            ))
        }
        Ok(InsertOutcome::Replayed) => Err(ApiError::Unauthorized(Rejection {
            reason: Reason::Replayed,
            message: "this token was accepted before",
        })),
        Err(InboxError::Unavailable(_) | InboxError::Closed) => Err(ApiError::Unavailable),
    }
}

/// Puts the event on the request's span, so the one access-log line of the request names
/// it (one line per webhook, not two: logging is a large share of the cost per request).
fn record_event(kind: EventKind, source_id: &str, event_id: &str, duplicate: bool) {
    let span = tracing::Span::current();
    span.record("kind", kind.as_str());
    span.record("source_id", source_id);
    span.record("event_id", event_id);
    span.record("duplicate", duplicate);
}

/// The first `key` query parameter, decoded as a form (`%XX` escapes, and `+` is a space:
/// a key with a literal `+` must be written `%2B` in the rule's URL).
fn url_key_param(query: &str) -> Option<String> {
    form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == "key")
        .map(|(_, v)| v.into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_key_is_found_and_decoded() {
        assert_eq!(url_key_param("a=1&key=abc%2Bdef"), Some("abc+def".into()));
        assert_eq!(url_key_param("key=a%zz"), Some("a%zz".into()));
        assert_eq!(url_key_param("keys=1"), None);
        assert_eq!(url_key_param("key=tail%4"), Some("tail%4".into()));
        // An escape at the very end is decoded too.
        assert_eq!(url_key_param("key=abc%3D"), Some("abc=".into()));
        assert_eq!(url_key_param("key=a+b&key=second"), Some("a b".into()));
    }
}
