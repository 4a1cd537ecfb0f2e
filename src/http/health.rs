//! Health: liveness, readiness, and the detailed state of every dependency.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::AppState;

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

/// Each dependency's state. Only the store decides the status code (503 when it is down:
/// webhooks cannot be accepted); anything else down makes the service `degraded`, since
/// work is delayed but nothing is lost.
pub(super) async fn health(State(state): State<Arc<AppState>>) -> Response {
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

pub(super) async fn live() -> impl IntoResponse {
    axum::Json(json!({"status": "ok"}))
}

pub(super) async fn ready(State(state): State<Arc<AppState>>) -> Response {
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
