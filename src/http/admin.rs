//! The admin API (the README's admin API): inspect events and their history, requeue, backfill.
//!
//! Off unless `ADMIN_TOKEN` is set: then every route answers 404, as if it did not exist,
//! so an unconfigured service exposes nothing. With a token, a request without the right
//! `Authorization: Bearer <token>` gets 401. The token compares in constant time, as
//! fixed-length SHA-256 digests, so that neither its content nor its length leaks.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, Query, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use secrecy::ExposeSecret;
use serde::Deserialize;
use serde_json::{Value, json};
use subtle::ConstantTimeEq;

use super::AppState;
use crate::pipeline::reconcile;
use crate::store::{EventFilter, EventStatus, StoreError};
use crate::verify::{EventKind, now_ms};
use crate::warehouse::{self, WarehouseError};

/// Why an admin request failed; each maps to one status and a stable code.
#[derive(Debug)]
enum AdminError {
    /// 404: admin API off (no ADMIN_TOKEN), or no such event.
    NotFound(&'static str),
    /// 401: missing or wrong bearer token.
    Unauthorized,
    /// 400: a parameter the operator must fix.
    BadRequest(String),
    /// 409: the request makes no sense in the event's current state.
    Conflict(String),
    /// 503: a dependency (store, warehouse, Gong) failed; retry later.
    Unavailable(String),
}

impl IntoResponse for AdminError {
    fn into_response(self) -> Response {
        let (status, code, message) = match self {
            AdminError::NotFound(m) => (StatusCode::NOT_FOUND, "not_found", m.to_owned()),
            AdminError::Unauthorized => (
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "send Authorization: Bearer <ADMIN_TOKEN>".to_owned(),
            ),
            AdminError::BadRequest(m) => (StatusCode::BAD_REQUEST, "bad_request", m),
            AdminError::Conflict(m) => (StatusCode::CONFLICT, "conflict", m),
            AdminError::Unavailable(m) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable", m),
        };
        (
            status,
            axum::Json(json!({"error": code, "message": message})),
        )
            .into_response()
    }
}

impl From<StoreError> for AdminError {
    fn from(e: StoreError) -> Self {
        tracing::warn!(error = %e, "admin: store error");
        AdminError::Unavailable("the store is unavailable".into())
    }
}

impl From<WarehouseError> for AdminError {
    fn from(e: WarehouseError) -> Self {
        tracing::warn!(error = %e, "admin: warehouse error");
        AdminError::Unavailable("the warehouse is unavailable".into())
    }
}

type AdminResult = Result<axum::Json<Value>, AdminError>;

pub fn router(state: Arc<AppState>) -> Router<Arc<AppState>> {
    Router::new()
        .route("/events", get(list_events))
        .route("/events/{id}", get(event))
        .route("/events/{id}/reprocess", post(reprocess))
        .route("/dlq", get(dlq))
        .route("/dlq/{id}/retry", post(dlq_retry))
        .route("/backfill", post(backfill))
        .fallback(|| async { AdminError::NotFound("no such route") })
        .route_layer(middleware::from_fn_with_state(state, authorize))
}

async fn authorize(
    State(state): State<Arc<AppState>>,
    req: Request,
    next: Next,
) -> Result<Response, AdminError> {
    let Some(token) = &state.admin_token else {
        return Err(AdminError::NotFound("no such route"));
    };
    let given = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    if !token_matches(given, token.expose_secret()) {
        return Err(AdminError::Unauthorized);
    }
    Ok(next.run(req).await)
}

/// Whether `given` is the admin token. Both are hashed first and the fixed-length digests
/// compared in constant time: comparing the tokens themselves returns early on a length
/// difference, which would let a client measure the token's length.
fn token_matches(given: &str, expected: &str) -> bool {
    let digest = |s: &str| -> [u8; 32] {
        let mut out = [0u8; 32];
        out.copy_from_slice(
            aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, s.as_bytes()).as_ref(),
        );
        out
    };
    bool::from(digest(given).ct_eq(&digest(expected)))
}

/// `?status=&kind=&limit=`: every parameter optional, an empty one is absent.
#[derive(Deserialize)]
struct ListQuery {
    status: Option<String>,
    kind: Option<String>,
    limit: Option<String>,
}

type QueryResult = Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>;

struct ListParams {
    status: Option<EventStatus>,
    kind: Option<EventKind>,
    limit: i64,
}

fn list_params(q: QueryResult) -> Result<ListParams, AdminError> {
    let Query(q) = q.map_err(|e| AdminError::BadRequest(e.body_text()))?;
    let given = |v: Option<String>| v.filter(|v| !v.trim().is_empty());
    let status = given(q.status)
        .map(|s| {
            EventStatus::parse(&s).ok_or_else(|| {
                let all = EventStatus::ALL.map(EventStatus::as_str);
                AdminError::BadRequest(format!("status {s:?} is not one of {all:?}"))
            })
        })
        .transpose()?;
    let kind = given(q.kind)
        .map(|k| {
            EventKind::parse(&k).ok_or_else(|| {
                let all = EventKind::ALL.map(EventKind::as_str);
                AdminError::BadRequest(format!("kind {k:?} is not one of {all:?}"))
            })
        })
        .transpose()?;
    let limit = match given(q.limit) {
        None => 100,
        Some(l) => l
            .trim()
            .parse::<i64>()
            .ok()
            .filter(|n| (1..=10_000).contains(n))
            .ok_or_else(|| {
                AdminError::BadRequest(format!("limit {l:?} is not a number from 1 to 10000"))
            })?,
    };
    Ok(ListParams {
        status,
        kind,
        limit,
    })
}

async fn list_events(State(state): State<Arc<AppState>>, q: QueryResult) -> AdminResult {
    let p = list_params(q)?;
    let filter = EventFilter {
        status: p.status,
        kind: p.kind,
        limit: p.limit,
        ..Default::default()
    };
    let events = state.store.list_events(&filter).await?;
    Ok(axum::Json(json!({"events": events})))
}

async fn event(State(state): State<Arc<AppState>>, Path(id): Path<String>) -> AdminResult {
    let Some(summary) = state.store.event_summary(&id).await? else {
        return Err(AdminError::NotFound("no such event"));
    };
    let stored = state.store.event(&id).await?;
    let payload = stored
        .map(|e| serde_json::from_slice::<Value>(&e.payload).unwrap_or(Value::Null))
        .unwrap_or(Value::Null);
    let history = state
        .pipeline
        .warehouse()
        .select(&warehouse::HISTORY, "event_id", &id)
        .await?;
    let outbox: Vec<Value> = state
        .store
        .outbox_for_event(&id)
        .await?
        .into_iter()
        .map(|o| {
            json!({
                "notification_id": o.notification_id, "type": o.message_type,
                "priority": o.priority, "published": o.published_at_ms.is_some(),
                "message": serde_json::from_str::<Value>(&o.message).unwrap_or(Value::Null),
            })
        })
        .collect();
    Ok(axum::Json(json!({
        "event": summary, "payload": payload, "history": history, "notifications": outbox,
    })))
}

async fn reprocess(State(state): State<Arc<AppState>>, Path(id): Path<String>) -> AdminResult {
    let Some(summary) = state.store.event_summary(&id).await? else {
        return Err(AdminError::NotFound("no such event"));
    };
    let queued = state
        .store
        .reprocess(Some(&id), None, None, now_ms())
        .await?;
    if queued == 0 {
        return Err(AdminError::Conflict(format!(
            "the event is {} right now; try again when it is finished",
            summary.status
        )));
    }
    state.pipeline.wake();
    Ok(axum::Json(json!({"queued": queued, "event_id": id})))
}

async fn dlq(State(state): State<Arc<AppState>>, q: QueryResult) -> AdminResult {
    let p = list_params(q)?;
    let filter = EventFilter {
        status: Some(EventStatus::Dead),
        kind: p.kind,
        limit: p.limit,
        ..Default::default()
    };
    let events = state.store.list_events(&filter).await?;
    Ok(axum::Json(json!({"events": events})))
}

async fn dlq_retry(State(state): State<Arc<AppState>>, Path(id): Path<String>) -> AdminResult {
    let requeued = state.store.requeue_dead(Some(&id), now_ms()).await?;
    if requeued == 0 {
        return Err(match state.store.event_summary(&id).await? {
            None => AdminError::NotFound("no such event"),
            Some(e) => AdminError::Conflict(format!(
                "the event is {}, not in the dead-letter queue",
                e.status
            )),
        });
    }
    state.pipeline.wake();
    Ok(axum::Json(json!({"requeued": requeued, "event_id": id})))
}

#[derive(Deserialize)]
struct BackfillRequest {
    from: String,
    to: String,
}

async fn backfill(
    State(state): State<Arc<AppState>>,
    body: Result<axum::Json<BackfillRequest>, axum::extract::rejection::JsonRejection>,
) -> AdminResult {
    let axum::Json(req) = body.map_err(|e| {
        AdminError::BadRequest(format!(
            "expected {{\"from\": ISO-8601, \"to\": ISO-8601}}: {e}"
        ))
    })?;
    let (from, to) = reconcile::period(&req.from, &req.to).map_err(AdminError::BadRequest)?;
    let Some(gong) = state.pipeline.gong() else {
        return Err(AdminError::Conflict(
            "backfill needs the Gong API: set GONG_API_KEY or GONG_API_BEARER_TOKEN".into(),
        ));
    };
    let report = reconcile::enqueue_period(&state.store, gong, from, to, "backfill")
        .await
        .map_err(|e| AdminError::Unavailable(e.to_string()))?;
    state.pipeline.wake();
    Ok(axum::Json(
        json!({"from": from, "to": to, "report": report}),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_exact_token_matches_whatever_its_length() {
        let token = "admin-token-0123456789abcdef";
        assert!(token_matches(token, token));
        for wrong in [
            "",
            "admin",
            &token[..token.len() - 1],
            &format!("{token}x"),
            "x".repeat(28).as_str(),
        ] {
            assert!(!token_matches(wrong, token), "{wrong:?}");
        }
    }
}
