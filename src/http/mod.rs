//! The HTTP surface: webhook routes, health, metrics, and which listener serves which.
//!
//! Every answer to a client's mistake is a 4xx with a JSON `{"error", "message"}` body; a
//! 5xx means only that gong-relay itself could not do its job (the store is down), and for
//! webhooks that is a 503 so the sender retries. Every response carries `X-Request-Id`.
//! Answers hyper or axum would give on their own carry the JSON body too: 405 through the
//! method-not-allowed fallback, 431 through our own header limit ([`limit_headers`]), which
//! is below hyper's (see `serve.rs`).
//!
//! With `ADMIN_BIND_ADDR` the routes are split ([`Surface`]): the public listener keeps
//! what Gong and load balancers need, the admin listener what operators need.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Uri, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use metrics_exporter_prometheus::PrometheusHandle;
use tower_http::request_id::{
    MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};
use tower_http::trace::TraceLayer;

mod admin;
mod body;
mod health;
mod serve;
mod webhook;

pub use body::BodyLimits;
pub use health::HealthCache;
pub use serve::{ListenerLimits, ListenerName, raise_open_files_limit, serve};
pub use webhook::ApiError;

use secrecy::SecretString;

use crate::inbox::Inbox;
use crate::pipeline::Pipeline;
use crate::store::Store;
use crate::verify::{EventKind, Verifier};

/// Most request headers we read; more get our 431 (hyper's own limit is higher).
pub const MAX_HEADERS: usize = 100;
/// Most bytes of request headers (names, values, and 4 bytes of `: ` and CRLF each) we
/// take; more get our 431. hyper's read buffer (64 KiB, `serve.rs`) is the hard limit.
pub const MAX_HEADER_BYTES: usize = 32 * 1024;

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
    /// What `/health` shows, refreshed in the background (no store query per request).
    pub health: Arc<HealthCache>,
}

/// Which routes a listener serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Surface {
    /// One listener for everything (no `ADMIN_BIND_ADDR`).
    All,
    /// `BIND_ADDR` when there is an admin listener: webhooks, `/health/live`,
    /// `/health/ready`, and `/health` with its status only (what a load balancer or
    /// uptime check needs, and nothing about the dependencies).
    Public,
    /// `ADMIN_BIND_ADDR`: `/metrics`, `/admin/*`, the detailed `/health`, live and ready.
    Admin,
}

/// The router of one listener; webhook bodies are read within `limits` (size, shared
/// budget, deadline).
pub fn router(state: Arc<AppState>, limits: BodyLimits, surface: Surface) -> Router {
    let mut webhooks = Router::new();
    for kind in EventKind::ALL {
        let limits = limits.clone();
        let handler = post(
            move |state: State<Arc<AppState>>,
                  rid: axum::Extension<RequestId>,
                  uri: Uri,
                  headers: HeaderMap,
                  body: Body| {
                let delivery = webhook::Delivery {
                    kind,
                    uri,
                    headers,
                    body,
                };
                webhook::webhook(state, rid, limits.clone(), delivery)
            },
        )
        .fallback(|| async { ApiError::MethodNotAllowed });
        // A rule URL typed with a trailing slash reaches the same endpoint (the
        // webhook_url check ignores it too).
        webhooks = webhooks
            .route(kind.route(), handler.clone())
            .route(&format!("{}/", kind.route()), handler);
    }
    // The webhook handler reads its body itself (after verifying the headers), within
    // MAX_BODY_BYTES, the shared budget and REQUEST_TIMEOUT: see `body`.
    let probes = Router::new()
        .route("/health/live", get(health::live))
        .route("/health/ready", get(health::ready));
    let operators = Router::new()
        .route("/health", get(health::health))
        .route("/metrics", get(render_metrics))
        .nest("/admin", admin::router(state.clone()));
    let routes = match surface {
        Surface::All => webhooks.merge(probes).merge(operators),
        Surface::Public => webhooks
            .merge(probes)
            .route("/health", get(health::status_only)),
        Surface::Admin => probes.merge(operators),
    };
    routes
        .fallback(|| async { ApiError::NotFound })
        // Last, so that it reaches every route, the nested admin ones included.
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .with_state(state)
        .layer(middleware::from_fn(limit_headers))
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

/// Answers 431 with the JSON error body when the request's headers are more than we take,
/// before any handler sees them (hyper's own 431 has no body, and comes only above its
/// larger limits).
async fn limit_headers(req: Request, next: Next) -> Response {
    let headers = req.headers();
    let bytes: usize = headers
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + 4)
        .sum();
    if headers.len() > MAX_HEADERS || bytes > MAX_HEADER_BYTES {
        let message = format!(
            "request headers are limited to {MAX_HEADERS} headers and {MAX_HEADER_BYTES} bytes"
        );
        return error_response(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "headers_too_large",
            &message,
        );
    }
    next.run(req).await
}

/// The JSON error body every error answer carries.
fn error_response(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        axum::Json(serde_json::json!({"error": code, "message": message})),
    )
        .into_response()
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
