//! Health: liveness, readiness, and the detailed state of every dependency.
//!
//! `/health` used to ping every dependency and count the whole inbox (whose rows are never
//! deleted) on every call, on the pool the inbox writer uses: 256 pollers were enough to
//! push webhook answers to seconds and into 503s (issue 11, item 3). Now whatever costs a
//! query or a round trip (store and warehouse pings, the queue counts, Redis) is taken by
//! one background task (`app::maintain`, every few seconds, each part bounded by a
//! timeout, and the store's ping alone every second) into a [`HealthCache`], together with the queue gauges of `/metrics`; a
//! request only reads that snapshot and the in-memory state (breakers, the Gong budget),
//! and shows how old the snapshot is. There is deliberately no per-request ping, not even
//! a single-flight one: a snapshot a few seconds old is what an operator needs, and a
//! request that could reach the store is what made `/health` an amplifier.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::AppState;
use crate::notify::Publisher;
use crate::pipeline::Pipeline;
use crate::store::Store;
use crate::telemetry;

/// Bound of each ping, so a hung dependency cannot stall the refresh of the others.
const PING_TIMEOUT: Duration = Duration::from_secs(2);
/// Bound of the queue counts (a scan of the inbox: slow on a big one, blocked by a lock).
const COUNT_TIMEOUT: Duration = Duration::from_secs(10);
/// A snapshot older than this means the refresh itself is stuck: `/health` says degraded.
const STALE_AFTER: Duration = Duration::from_secs(30);

/// One refresh's view of the dependencies that cost I/O to look at.
struct Snapshot {
    taken: Instant,
    store: Value,
    store_ok: bool,
    warehouse: Value,
    warehouse_ok: bool,
    /// `None`: no REDIS_URL.
    redis: Option<(Value, bool)>,
    queue: Value,
}

/// The latest [`Snapshot`], shared by the refresher and the handlers.
#[derive(Default)]
pub struct HealthCache {
    snapshot: RwLock<Option<Arc<Snapshot>>>,
    store_seen: Seen,
    warehouse_seen: Seen,
    redis_seen: Seen,
}

/// Whether a dependency was last seen down, so that its probes (every second for the
/// store) log a change of state once, not a line per probe for as long as an outage lasts.
#[derive(Default)]
struct Seen(AtomicBool);

impl Seen {
    fn down(&self, what: &str, why: &dyn std::fmt::Display) {
        if !self.0.swap(true, Ordering::Relaxed) {
            tracing::warn!(error = %why, "health: {what} unreachable (logged again when it is back)");
        }
    }

    fn up(&self, what: &str) {
        if self.0.swap(false, Ordering::Relaxed) {
            tracing::info!("health: {what} reachable again");
        }
    }
}

impl HealthCache {
    /// Looks at every dependency once, sets the queue gauges, and keeps the result.
    pub async fn refresh(&self, store: &Store, pipeline: &Pipeline, publisher: Option<&Publisher>) {
        let ((store_json, store_ok), (warehouse, warehouse_ok), redis, queue) = tokio::join!(
            store_health(store, &self.store_seen),
            warehouse_health(pipeline, &self.warehouse_seen),
            async {
                match publisher {
                    Some(p) => Some(redis_health(p, &self.redis_seen).await),
                    None => None,
                }
            },
            queue_health(store),
        );
        let snapshot = Snapshot {
            taken: Instant::now(),
            store: store_json,
            store_ok,
            warehouse,
            warehouse_ok,
            redis,
            queue,
        };
        *self.snapshot.write().unwrap_or_else(|p| p.into_inner()) = Some(Arc::new(snapshot));
    }

    /// Pings the store alone (cheap, so done more often than the full refresh): an outage
    /// shows in `/health` and `/health/ready` within about a second.
    pub async fn refresh_store(&self, store: &Store) {
        let (store_json, store_ok) = store_health(store, &self.store_seen).await;
        let mut slot = self.snapshot.write().unwrap_or_else(|p| p.into_inner());
        if let Some(old) = slot.as_ref() {
            *slot = Some(Arc::new(Snapshot {
                taken: old.taken,
                store: store_json,
                store_ok,
                warehouse: old.warehouse.clone(),
                warehouse_ok: old.warehouse_ok,
                redis: old.redis.clone(),
                queue: old.queue.clone(),
            }));
        }
    }

    fn get(&self) -> Option<Arc<Snapshot>> {
        self.snapshot
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Whether the last snapshot saw the store up (false before the first one).
    pub fn store_ok(&self) -> bool {
        self.get().is_some_and(|s| s.store_ok)
    }
}

/// Why a bounded probe failed, for the one log line of its outage.
fn failure<E: std::fmt::Display>(r: Result<Result<(), E>, tokio::time::error::Elapsed>) -> String {
    match r {
        Ok(Err(e)) => e.to_string(),
        _ => format!("no answer within {PING_TIMEOUT:?}"),
    }
}

async fn store_health(store: &Store, seen: &Seen) -> (Value, bool) {
    match tokio::time::timeout(PING_TIMEOUT, store.ping()).await {
        Ok(Ok(latency)) => {
            seen.up("store");
            (
                json!({"status": "ok", "backend": store.backend(), "latency_ms": ms(latency)}),
                true,
            )
        }
        failed => {
            seen.down("store", &failure(failed.map(|r| r.map(drop))));
            (
                json!({"status": "down", "backend": store.backend(), "last_error": "store unreachable"}),
                false,
            )
        }
    }
}

async fn warehouse_health(pipeline: &Pipeline, seen: &Seen) -> (Value, bool) {
    let warehouse = pipeline.warehouse();
    let breaker = pipeline.warehouse_breaker().state();
    let started = Instant::now();
    match tokio::time::timeout(PING_TIMEOUT, warehouse.ping()).await {
        Ok(Ok(())) => {
            seen.up("warehouse");
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
        failed => {
            seen.down("warehouse", &failure(failed));
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
    }
}

/// The queue's counts, also set as the `inbox_depth`, `dlq_depth`,
/// `inbox_oldest_pending_age_seconds` and `outbox_pending` gauges (one scan for both).
async fn queue_health(store: &Store) -> Value {
    let counts = async {
        let q = store.queue_stats(crate::verify::now_ms()).await?;
        let outbox = store.outbox_pending().await?;
        Ok::<_, crate::store::StoreError>((q, outbox))
    };
    match tokio::time::timeout(COUNT_TIMEOUT, counts).await {
        Ok(Ok((q, outbox))) => {
            let depth = q.pending + q.processing + q.retrying;
            metrics::gauge!(telemetry::INBOX_DEPTH).set(depth as f64);
            metrics::gauge!(telemetry::DLQ_DEPTH).set(q.dead as f64);
            metrics::gauge!(telemetry::OLDEST_PENDING_AGE_SECONDS)
                .set(q.oldest_pending_age_ms.unwrap_or(0) as f64 / 1e3);
            metrics::gauge!(telemetry::OUTBOX_PENDING).set(outbox as f64);
            json!({
                "status": "ok", "pending": q.pending, "processing": q.processing,
                "retrying": q.retrying, "dead_letter": q.dead, "done": q.done,
                "oldest_pending_age_seconds": q.oldest_pending_age_ms.map(|a| a as f64 / 1e3),
                "outbox_pending": outbox,
            })
        }
        Ok(Err(_)) => json!({"status": "down"}),
        Err(_) => json!({"status": "unknown", "note": "counting the queue timed out"}),
    }
}

/// The overall status and the detailed body, from the snapshot and the in-memory state.
fn assess(state: &AppState) -> (StatusCode, Value) {
    let Some(snap) = state.health.get() else {
        // Only before the first refresh, which `app::start` takes before serving.
        let body = json!({"status": "down", "note": "no health snapshot yet"});
        return (StatusCode::SERVICE_UNAVAILABLE, body);
    };
    let (gong, gong_ok) = gong_health(state);
    let (redis, redis_ok) = snap.redis.clone().unwrap_or_else(|| {
        let body = json!({"status": "not_configured", "note": "notifications stay in the outbox"});
        (body, true)
    });
    let age = snap.taken.elapsed();
    let fresh = age <= STALE_AFTER;
    let status = if !snap.store_ok {
        "down"
    } else if snap.warehouse_ok && gong_ok && redis_ok && fresh {
        "ok"
    } else {
        "degraded"
    };
    let mut body = json!({
        "status": status,
        "snapshot_age_seconds": age.as_secs_f64(),
        "dependencies": {
            "store": snap.store,
            "warehouse": snap.warehouse,
            "gong_api": gong,
            "redis": redis,
            "queue": snap.queue,
            "workers": {"status": "ok", "count": state.workers},
        },
    });
    if !fresh {
        body["note"] = json!("the health snapshot is stale: its refresh is stuck");
    }
    let code = if snap.store_ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, body)
}

/// The Gong API as the client sees it: all in memory.
fn gong_health(state: &AppState) -> (Value, bool) {
    let Some(g) = state.pipeline.gong() else {
        return (json!({"status": "not_configured"}), true);
    };
    let breaker = state
        .pipeline
        .gong_breaker()
        .map_or(crate::breaker::BreakerState::Closed, |b| b.state());
    let ok = breaker == crate::breaker::BreakerState::Closed;
    let last = g.last_failure();
    let body = json!({
        "status": if ok { "ok" } else { "degraded" },
        "circuit_breaker": breaker.as_str(),
        "daily_budget_remaining": g.daily_budget_remaining(),
        "last_error": last.as_ref().map(|(e, _)| e),
        "last_error_at": last.map(|(_, at)| at.to_rfc3339()),
    });
    (body, ok)
}

/// Each dependency's state. Only the store decides the status code (503 when it is down:
/// webhooks cannot be accepted); anything else down makes the service `degraded`, since
/// work is delayed but nothing is lost.
pub(super) async fn health(State(state): State<Arc<AppState>>) -> Response {
    let (code, body) = assess(&state);
    (code, axum::Json(body)).into_response()
}

/// The public `/health` when an admin listener exists: the same status and code, nothing
/// about the dependencies.
pub(super) async fn status_only(State(state): State<Arc<AppState>>) -> Response {
    let (code, body) = assess(&state);
    (code, axum::Json(json!({"status": body["status"]}))).into_response()
}

/// Redis as the publisher sees it: a `PING` (bounded, so a hung Redis cannot hold
/// `/health`), its breaker and its last error.
async fn redis_health(p: &Publisher, seen: &Seen) -> (serde_json::Value, bool) {
    let status = p.status();
    let ping = tokio::time::timeout(Duration::from_secs(1), p.ping()).await;
    let latency = match ping {
        Ok(Ok(latency)) => {
            seen.up("redis");
            Some(latency)
        }
        Ok(Err(e)) => {
            seen.down("redis", &e);
            None
        }
        Err(_) => {
            seen.down("redis", &"no answer within 1s");
            None
        }
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

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

pub(super) async fn live() -> impl IntoResponse {
    axum::Json(json!({"status": "ok"}))
}

pub(super) async fn ready(State(state): State<Arc<AppState>>) -> Response {
    if !state.ready.load(std::sync::atomic::Ordering::Relaxed) {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(json!({"status": "shutting_down"})),
        )
            .into_response();
    }
    // From the snapshot, like /health: orchestrators poll this too.
    if state.health.store_ok() {
        axum::Json(json!({"status": "ok"})).into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(json!({"status": "store_unreachable"})),
        )
            .into_response()
    }
}
