//! The HTTP surface: webhook routes, health, metrics.
//!
//! Every answer to a client's mistake is a 4xx with a JSON `{"error", "message"}` body; a
//! 5xx means only that gong-relay itself could not do its job (the store is down), and for
//! webhooks that is a 503 so the sender retries. Every response carries `X-Request-Id`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, Uri, header};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use metrics_exporter_prometheus::PrometheusHandle;
use serde_json::json;
use tower_http::request_id::{
    MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};
use tower_http::timeout::RequestBodyTimeoutLayer;
use tower_http::trace::TraceLayer;

mod admin;

use secrecy::SecretString;

use crate::inbox::{Inbox, InboxError};
use crate::pipeline::Pipeline;
use crate::store::{InsertOutcome, Store};
use crate::telemetry;
use crate::verify::{EventKind, PayloadError, Reason, Rejection, Verifier};

/// Longest time a client may take to send its body.
const BODY_READ_TIMEOUT: Duration = Duration::from_secs(30);

pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
const TRACE_ID: HeaderName = HeaderName::from_static("x-traceid");

/// Shared by every handler.
pub struct AppState {
    pub verifier: Verifier,
    pub inbox: Inbox,
    pub store: Store,
    pub metrics: PrometheusHandle,
    /// False once shutdown begins, so orchestrators stop routing here.
    pub ready: Arc<AtomicBool>,
    pub pipeline: Pipeline,
    /// `None`: the admin API is off (404).
    pub admin_token: Option<SecretString>,
    pub workers: usize,
    /// `None`: no REDIS_URL, notifications stay in the outbox.
    pub publisher: Option<crate::notify::Publisher>,
}

/// An error answer. Each variant documents why it maps to its status.
#[derive(Debug)]
pub enum ApiError {
    /// 401: the credential did not verify; the reason code tells the sender what to fix.
    Unauthorized(Rejection),
    /// 400/415: the body verified but is not what the route takes.
    Payload(PayloadError),
    /// 413: larger than MAX_BODY_BYTES; reading on would let a client exhaust memory.
    TooLarge,
    /// 400: the body could not be read (client aborted, bad framing).
    BadBody(String),
    /// 408: the body did not arrive within the read timeout.
    BodyTimeout,
    /// 503: the inbox cannot commit; the sender must retry, since nothing was stored.
    Unavailable,
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
            ApiError::TooLarge => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                "the body is larger than MAX_BODY_BYTES".into(),
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

pub fn router(state: Arc<AppState>, max_body_bytes: usize) -> Router {
    let mut webhooks = Router::new();
    for kind in EventKind::ALL {
        let handler = post(
            move |state: State<Arc<AppState>>,
                  rid: axum::Extension<RequestId>,
                  uri: Uri,
                  headers: HeaderMap,
                  body: Result<Bytes, BytesRejection>| {
                webhook(kind, state, rid, uri, headers, body)
            },
        )
        .fallback(|| async { ApiError::MethodNotAllowed });
        // A rule URL typed with a trailing slash reaches the same endpoint (the
        // webhook_url check ignores it too).
        webhooks = webhooks
            .route(kind.route(), handler.clone())
            .route(&format!("{}/", kind.route()), handler);
    }
    webhooks
        .layer(DefaultBodyLimit::max(max_body_bytes))
        // A client that trickles its body cannot hold a connection and its buffer forever.
        .layer(RequestBodyTimeoutLayer::new(BODY_READ_TIMEOUT))
        .route("/health", get(health))
        .route("/health/live", get(live))
        .route("/health/ready", get(ready))
        .route("/metrics", get(render_metrics))
        .nest("/admin", admin::router(state.clone()))
        .fallback(|| async { ApiError::NotFound })
        .with_state(state)
        // The last layer added runs first: drop an unusable X-Request-Id, name the request,
        // echo its id on every answer, and run it in a span that carries the id.
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(request_span)
                .on_request(())
                .on_response(log_response)
                .on_body_chunk(())
                .on_eos(())
                .on_failure(()),
        )
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(SetRequestIdLayer::new(REQUEST_ID, TraceIdOrUuidV7))
        .layer(middleware::map_request(drop_unacceptable_request_id))
}

async fn webhook(
    kind: EventKind,
    State(state): State<Arc<AppState>>,
    axum::Extension(request_id): axum::Extension<RequestId>,
    uri: Uri,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let start = Instant::now();
    // Printable ASCII: an incoming id was checked (acceptable_id), a new one is a UUID.
    let request_id = request_id.header_value().to_str().unwrap_or_default();
    let result = accept(kind, &state, request_id, &uri, &headers, body).await;
    let response = match result {
        Ok((status, body)) => (status, axum::Json(body)).into_response(),
        Err(e) => {
            if let ApiError::Unauthorized(r) = &e {
                metrics::counter!(telemetry::WEBHOOK_VERIFICATION_FAILURES_TOTAL, "reason" => r.reason.code())
                    .increment(1);
                tracing::warn!(
                    reason = r.reason.code(),
                    message = r.message,
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
    kind: EventKind,
    state: &AppState,
    request_id: &str,
    uri: &Uri,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, serde_json::Value), ApiError> {
    let body = body.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::TooLarge
        } else if e.status() == StatusCode::REQUEST_TIMEOUT {
            ApiError::BodyTimeout
        } else {
            ApiError::BadBody(e.body_text())
        }
    })?;
    let authorization = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let url_key = uri.query().and_then(url_key_param);
    let verified = state
        .verifier
        .verify(kind, authorization, url_key.as_deref(), body)
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

/// Each dependency's state. Only the store decides the status code (503 when it is down:
/// webhooks cannot be accepted); anything else down makes the service `degraded`, since
/// Redis as the publisher sees it: a `PING` (bounded, so a hung Redis cannot hold
/// `/health`), its breaker and its last error.
async fn redis_health(p: &crate::notify::Publisher) -> (serde_json::Value, bool) {
    let status = p.status();
    let ping = tokio::time::timeout(Duration::from_secs(1), p.ping()).await;
    let latency = match ping {
        Ok(Ok(latency)) => Some(latency),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "health: redis unreachable");
            None
        }
        Err(_) => None,
    };
    let closed = status.breaker == crate::breaker::BreakerState::Closed;
    let ok = latency.is_some() && closed;
    let word = match (latency, closed) {
        (None, _) => "down",
        (Some(_), false) => "degraded",
        (Some(_), true) => "ok",
    };
    let body = json!({
        "status": word,
        "latency_ms": latency.map(ms),
        "circuit_breaker": status.breaker.as_str(),
        "last_error": status.last_error.as_ref().map(|(e, _)| e),
        "last_error_at": status.last_error.map(|(_, at)| at.to_rfc3339()),
    });
    (body, ok)
}

/// work is delayed but nothing is lost.
async fn health(State(state): State<Arc<AppState>>) -> Response {
    let (store, store_ok) = match state.store.ping().await {
        Ok(latency) => (
            json!({"status": "ok", "backend": state.store.backend(), "latency_ms": ms(latency)}),
            true,
        ),
        Err(e) => {
            tracing::warn!(error = %e, "health: store unreachable");
            (
                json!({"status": "down", "backend": state.store.backend(), "last_error": "store unreachable"}),
                false,
            )
        }
    };
    let warehouse = state.pipeline.warehouse();
    let breaker = state.pipeline.warehouse_breaker().state();
    let started = Instant::now();
    let (warehouse, warehouse_ok) = match warehouse.ping().await {
        Ok(()) => {
            let ok = breaker == crate::breaker::BreakerState::Closed;
            (
                json!({
                    "status": if ok { "ok" } else { "degraded" },
                    "backend": warehouse.backend(),
                    "latency_ms": ms(started.elapsed()),
                    "circuit_breaker": breaker.as_str(),
                }),
                ok,
            )
        }
        Err(e) => {
            tracing::warn!(error = %e, "health: warehouse unreachable");
            (
                json!({
                    "status": "down",
                    "backend": warehouse.backend(),
                    "circuit_breaker": breaker.as_str(),
                    "last_error": "warehouse unreachable",
                }),
                false,
            )
        }
    };
    let (gong, gong_ok) = match state.pipeline.gong() {
        None => (json!({"status": "not_configured"}), true),
        Some(g) => {
            let breaker = state
                .pipeline
                .gong_breaker()
                .map_or(crate::breaker::BreakerState::Closed, |b| b.state());
            let ok = breaker == crate::breaker::BreakerState::Closed;
            let last = g.last_failure();
            (
                json!({
                    "status": if ok { "ok" } else { "degraded" },
                    "circuit_breaker": breaker.as_str(),
                    "daily_budget_remaining": g.daily_budget_remaining(),
                    "last_error": last.as_ref().map(|(e, _)| e),
                    "last_error_at": last.map(|(_, at)| at.to_rfc3339()),
                }),
                ok,
            )
        }
    };
    let (redis, redis_ok) = match &state.publisher {
        None => (
            json!({"status": "not_configured", "note": "notifications stay in the outbox"}),
            true,
        ),
        Some(p) => redis_health(p).await,
    };
    let queue = match state.store.queue_stats(crate::verify::now_ms()).await {
        Ok(q) => json!({
            "status": "ok", "pending": q.pending, "processing": q.processing,
            "retrying": q.retrying, "dead_letter": q.dead, "done": q.done,
            "oldest_pending_age_seconds": q.oldest_pending_age_ms.map(|a| a as f64 / 1e3),
            "outbox_pending": state.store.outbox_pending().await.ok(),
        }),
        Err(_) => json!({"status": "down"}),
    };
    let status = if !store_ok {
        "down"
    } else if warehouse_ok && gong_ok && redis_ok {
        "ok"
    } else {
        "degraded"
    };
    let body = json!({
        "status": status,
        "dependencies": {
            "store": store,
            "warehouse": warehouse,
            "gong_api": gong,
            "redis": redis,
            "queue": queue,
            "workers": {"status": "ok", "count": state.workers},
        },
    });
    let code = if store_ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, axum::Json(body)).into_response()
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

async fn live() -> impl IntoResponse {
    axum::Json(json!({"status": "ok"}))
}

async fn ready(State(state): State<Arc<AppState>>) -> Response {
    if !state.ready.load(Ordering::Relaxed) {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(json!({"status": "shutting_down"})),
        )
            .into_response();
    }
    match state.store.ping().await {
        Ok(_) => axum::Json(json!({"status": "ok"})).into_response(),
        Err(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(json!({"status": "store_unreachable"})),
        )
            .into_response(),
    }
}

async fn render_metrics(State(state): State<Arc<AppState>>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.metrics.render(),
    )
        .into_response()
}

/// Accepts an incoming correlation id only if it is short printable ASCII, so a client
/// cannot inject log lines or huge headers through it.
fn acceptable_id(v: &HeaderValue) -> bool {
    let b = v.as_bytes();
    !b.is_empty() && b.len() <= 128 && b.iter().all(u8::is_ascii_graphic)
}

/// Removes a client's `X-Request-Id` that `acceptable_id` refuses, so that the request is
/// named as if it had come without one.
async fn drop_unacceptable_request_id(mut req: Request) -> Request {
    if req
        .headers()
        .get(&REQUEST_ID)
        .is_some_and(|v| !acceptable_id(v))
    {
        req.headers_mut().remove(&REQUEST_ID);
    }
    req
}

/// Names a request that has no (acceptable) `X-Request-Id`: Gong's `X-TraceId` if
/// acceptable, else a new UUID v7.
#[derive(Clone, Copy)]
struct TraceIdOrUuidV7;

impl MakeRequestId for TraceIdOrUuidV7 {
    fn make_request_id<B>(&mut self, req: &axum::http::Request<B>) -> Option<RequestId> {
        match req.headers().get(&TRACE_ID).filter(|v| acceptable_id(v)) {
            Some(trace_id) => Some(RequestId::new(trace_id.clone())),
            None => HeaderValue::try_from(uuid::Uuid::now_v7().to_string())
                .ok()
                .map(RequestId::new),
        }
    }
}

/// The request's span: its id is on every log line written while it is served, and the
/// webhook handler adds the event (`record_event`).
fn request_span(req: &Request) -> tracing::Span {
    let id = req
        .extensions()
        .get::<RequestId>()
        .and_then(|id| id.header_value().to_str().ok())
        .unwrap_or_default();
    tracing::info_span!(
        "request",
        request_id = %id,
        method = %req.method(),
        path = %req.uri().path(),
        kind = tracing::field::Empty,
        source_id = tracing::field::Empty,
        event_id = tracing::field::Empty,
        duplicate = tracing::field::Empty,
    )
}

/// The one access-log line of a request, inside its span.
fn log_response(response: &Response, latency: Duration, _span: &tracing::Span) {
    tracing::info!(
        status = response.status().as_u16(),
        latency_ms = latency.as_secs_f64() * 1e3,
        "request"
    );
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

    #[test]
    fn only_short_printable_ids_are_taken() {
        assert!(acceptable_id(&HeaderValue::from_static("abc-123")));
        assert!(!acceptable_id(&HeaderValue::from_static("has space")));
        assert!(!acceptable_id(&HeaderValue::from_static("")));
        let long = "x".repeat(129);
        assert!(!acceptable_id(&HeaderValue::from_str(&long).unwrap()));
        assert!(!acceptable_id(
            &HeaderValue::from_bytes(b"caf\xc3\xa9").unwrap()
        ));
    }
}
