//! The HTTP surface: a gate every /v2 request passes (log, latency, auth, quota, faults),
//! the call endpoints, and the `/_sim` admin routes, which are not Gong's and need no auth.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Utc};
use gong_api::models::{CallTranscript, GongId, Records};
use rand::Rng;
use serde_json::{Value, json};

use super::corpus::Call;
use super::pages::filter_key;
use super::reply::{ApiError, ApiResult, ok};
use super::select::Selector;
use super::{ServedRequest, Sim, others};

pub fn router(sim: Arc<Sim>) -> Router {
    let v2 = Router::new()
        .route("/v2/calls", get(list_calls))
        .route("/v2/calls/{id}", get(get_call))
        .route("/v2/calls/extensive", post(extensive))
        .route("/v2/calls/transcript", post(transcripts))
        .merge(others::routes())
        .fallback(|| async { ApiError::not_found("No such endpoint in the Gong API v2") })
        .layer(middleware::from_fn_with_state(sim.clone(), gate));
    Router::new()
        .route("/_sim/calls", post(admin_create))
        .route("/_sim/requests", get(admin_requests))
        .merge(v2)
        .with_state(sim)
}

/// Logs every request by arrival time, whatever happens to it (401 and 429 included).
async fn gate(State(sim): State<Arc<Sim>>, req: Request, next: Next) -> Response {
    let at = Instant::now();
    let method = req.method().to_string();
    let path = req.uri().path().to_string();
    let latency = sim.latency();
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let (res, dropped) = admit(&sim, req, next).await;
    sim.record(ServedRequest {
        at,
        method,
        path,
        status: if dropped { 0 } else { res.status().as_u16() },
    });
    res
}

/// Auth before quota: Gong counts a company's calls, and an anonymous caller has none.
async fn admit(sim: &Sim, req: Request, next: Next) -> (Response, bool) {
    if let Err(e) = authorize(sim, req.headers()) {
        return (e.into_response(), false);
    }
    if let Err(wait) = sim.limits.take() {
        let mut e = ApiError::new(StatusCode::TOO_MANY_REQUESTS, "API request limit exceeded");
        e.retry_after = Some(wait);
        return (e.into_response(), false);
    }
    let (hang, fail, drop) = {
        let mut rng = rand::rng();
        let mut roll = |p: f64| rng.random_bool(p.clamp(0.0, 1.0));
        (
            roll(sim.config.timeout_rate),
            roll(sim.fail_rate()),
            roll(sim.config.drop_rate),
        )
    };
    if hang {
        tokio::time::sleep(Duration::from_secs(30)).await;
    }
    if fail {
        let msg = "Failed to complete the operation due to an unexpected error";
        return (
            ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, msg).into_response(),
            false,
        );
    }
    if drop {
        return (broken_answer(), true);
    }
    (next.run(req).await, false)
}

/// Headers promise more bytes than the body has: hyper writes the start, then closes the
/// connection, and the client sees a truncated answer.
fn broken_answer() -> Response {
    let partial = Body::from(r#"{"requestId":"#).into_data_stream();
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::CONTENT_LENGTH, 4096)
        .body(Body::from_stream(partial))
        .unwrap_or_default()
}

fn authorize(sim: &Sim, headers: &HeaderMap) -> Result<(), ApiError> {
    let cfg = &sim.config;
    let denied = |why: &str| ApiError::new(StatusCode::UNAUTHORIZED, why.to_string());
    if sim.credentials_rejected.load(Ordering::Relaxed) {
        return Err(denied("Access denied: the access key was revoked"));
    }
    if cfg.api_key.is_none() && cfg.bearer_token.is_none() {
        return Ok(());
    }
    let value = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| denied("Access denied: the Authorization header is missing"))?;
    let (scheme, cred) = value.trim().split_once(' ').unwrap_or((value, ""));
    let good = if scheme.eq_ignore_ascii_case("basic") {
        let decoded = STANDARD.decode(cred.trim()).unwrap_or_default();
        cfg.api_key
            .as_ref()
            .is_some_and(|(k, s)| decoded == format!("{k}:{s}").as_bytes())
    } else if scheme.eq_ignore_ascii_case("bearer") {
        cfg.bearer_token.as_deref() == Some(cred.trim())
    } else {
        false
    };
    if good {
        Ok(())
    } else {
        Err(denied("Access denied: invalid access key, secret or token"))
    }
}

pub fn json_body(body: &Bytes) -> Result<Value, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(json!({}));
    }
    serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("Malformed request: {e}")))
}

pub fn parse_time(v: &Value, name: &str) -> Result<Option<DateTime<Utc>>, ApiError> {
    match v {
        Value::Null => Ok(None),
        Value::String(s) => DateTime::parse_from_rfc3339(s)
            .map(|t| Some(t.with_timezone(&Utc)))
            .map_err(|_| {
                ApiError::bad_request(format!("filter.{name}: '{s}' is not an ISO-8601 date-time"))
            }),
        _ => Err(ApiError::bad_request(format!(
            "filter.{name}: must be a string"
        ))),
    }
}

fn id_set(v: &Value, name: &str) -> Result<Option<BTreeSet<String>>, ApiError> {
    match v {
        Value::Null => Ok(None),
        Value::Array(a) => Ok(Some(
            a.iter()
                .map(|x| match x {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                })
                .collect(),
        )),
        _ => Err(ApiError::bad_request(format!(
            "filter.{name}: must be an array"
        ))),
    }
}

/// Gong's call filter: `from` inclusive, `to` exclusive, on the call's start instant.
struct CallFilter {
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
    workspace: Option<String>,
    ids: Option<BTreeSet<String>>,
    hosts: Option<BTreeSet<String>>,
}

impl CallFilter {
    fn parse(f: &Value) -> Result<CallFilter, ApiError> {
        let from = parse_time(&f["fromDateTime"], "fromDateTime")?;
        let to = parse_time(&f["toDateTime"], "toDateTime")?;
        if let (Some(a), Some(b)) = (from, to)
            && a >= b
        {
            return Err(ApiError::bad_request(
                "filter.fromDateTime: must be before toDateTime",
            ));
        }
        Ok(CallFilter {
            from,
            to,
            workspace: f["workspaceId"].as_str().map(String::from),
            ids: id_set(&f["callIds"], "callIds")?,
            hosts: id_set(&f["primaryUserIds"], "primaryUserIds")?,
        })
    }

    fn matches(&self, c: &Call) -> bool {
        let t = c.started.with_timezone(&Utc);
        self.from.is_none_or(|f| t >= f)
            && self.to.is_none_or(|to| t < to)
            && self
                .workspace
                .as_deref()
                .is_none_or(|w| c.workspace() == Some(w))
            && self.ids.as_ref().is_none_or(|s| s.contains(&c.id))
            && self
                .hosts
                .as_ref()
                .is_none_or(|s| c.host().is_some_and(|h| s.contains(h)))
    }
}

/// The page of matching calls visible by `ready`, or Gong's 404-on-empty.
fn select_page<T>(
    sim: &Sim,
    filter: &Value,
    cursor: Option<&str>,
    scope: &str,
    ready: impl Fn(&Call) -> bool,
    render: impl Fn(&Call) -> T,
) -> Result<(Vec<T>, Records), ApiError> {
    let parsed = CallFilter::parse(filter)?;
    if let Some(ids) = &parsed.ids {
        let refused = sim.refused_ids.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(id) = ids.iter().find(|id| refused.contains(*id)) {
            return Err(ApiError::bad_request(format!(
                "filter.callIds: call {id} cannot be requested"
            )));
        }
    }
    let calls = sim.read_calls();
    let hits: Vec<&Call> = calls
        .iter()
        .filter(|c| ready(c) && parsed.matches(c))
        .collect();
    // A bad cursor is reported before an empty result.
    let (range, records) = sim
        .paging
        .page(hits.len(), cursor, &filter_key(scope, filter))?;
    if hits.is_empty() {
        return Err(ApiError::no_calls());
    }
    Ok((hits[range].iter().map(|c| render(c)).collect(), records))
}

async fn list_calls(
    State(sim): State<Arc<Sim>>,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult {
    let mut filter = json!({});
    for k in ["fromDateTime", "toDateTime", "workspaceId"] {
        if let Some(v) = q.get(k) {
            filter[k] = json!(v);
        }
    }
    let now = Instant::now();
    let (calls, records) = select_page(
        &sim,
        &filter,
        q.get("cursor").map(String::as_str),
        "calls",
        |c| c.visible_at <= now,
        |c| c.meta().clone(),
    )?;
    Ok(ok(json!({"records": records, "calls": calls})))
}

async fn get_call(State(sim): State<Arc<Sim>>, Path(id): Path<String>) -> ApiResult {
    let now = Instant::now();
    let calls = sim.read_calls();
    match calls.iter().find(|c| c.id == id && c.visible_at <= now) {
        Some(c) => Ok(ok(json!({"call": c.meta()}))),
        None => Err(ApiError::not_found(format!("Call ID {id} was not found"))),
    }
}

async fn extensive(State(sim): State<Arc<Sim>>, body: Bytes) -> ApiResult {
    let body = json_body(&body)?;
    let selector = Selector::parse(&body["contentSelector"])?;
    let now = Instant::now();
    let (calls, records) = select_page(
        &sim,
        &body["filter"],
        body["cursor"].as_str(),
        "extensive",
        |c| c.visible_at <= now,
        |c| selector.answer(c),
    )?;
    Ok(ok(json!({"records": records, "calls": calls})))
}

async fn transcripts(State(sim): State<Arc<Sim>>, body: Bytes) -> ApiResult {
    let body = json_body(&body)?;
    let now = Instant::now();
    let (items, records) = select_page(
        &sim,
        &body["filter"],
        body["cursor"].as_str(),
        "transcript",
        |c| c.transcript_at <= now,
        |c| CallTranscript {
            call_id: Some(GongId(c.id.clone())),
            transcript: c.transcript.clone(),
        },
    )?;
    Ok(ok(json!({"records": records, "callTranscripts": items})))
}

async fn admin_create(
    State(sim): State<Arc<Sim>>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let n = q
        .get("count")
        .and_then(|c| c.parse().ok())
        .unwrap_or(1usize);
    axum::Json(Value::Array(sim.create_calls(n.min(10_000)))).into_response()
}

async fn admin_requests(State(sim): State<Arc<Sim>>) -> Response {
    let log: Vec<Value> = sim
        .requests()
        .iter()
        .map(|r| {
            json!({"elapsedMs": r.at.saturating_duration_since(sim.born).as_millis() as u64,
                   "method": r.method, "path": r.path, "status": r.status})
        })
        .collect();
    axum::Json(Value::Array(log)).into_response()
}
