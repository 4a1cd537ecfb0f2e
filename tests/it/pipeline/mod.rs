//! The pipeline end to end: signed webhooks through the real app, enhanced against the Gong
//! simulator over HTTP, into the warehouse and the outbox, on SQLite and PostgreSQL. This
//! file is the harness that the submodules' tests share.

mod bad_days;
mod bad_rows;
mod credentials;
mod enhance;
mod failures;
mod gauges;
mod operate;
mod outages;
pub(crate) mod priorities;

use gong_relay::config::RawConfig;
use gong_relay::store::EventSummary;
use gong_relay::warehouse::{HISTORY, Table};
use gong_sim::{SimConfig, SimHandle};
use serde_json::{Map, Value, json};

use crate::helpers::*;

pub const ADMIN_TOKEN: &str = "admin-token-for-tests-0123";

/// A simulator with no generated corpus (tests create the calls they need) and a generous
/// rate limit, unless `tweak` says otherwise.
pub async fn simulator_with(tweak: impl FnOnce(&mut SimConfig)) -> SimHandle {
    let mut c = SimConfig {
        calls: 0,
        rate_limit: 200.0,
        burst: 200,
        ..SimConfig::loopback()
    };
    tweak(&mut c);
    gong_sim::start(c).await.unwrap()
}

/// The app with two workers, the simulator as Gong, fast retries and the admin API on.
pub fn pipeline_config(sim: &SimHandle) -> impl FnOnce(&mut RawConfig) + use<> {
    let base = sim.base_url();
    move |c: &mut RawConfig| {
        c.workers = Some("2".into());
        c.gong_api_key = Some("sim-key:sim-secret".into());
        c.gong_api_base_url = Some(base);
        c.gong_api_rate_limit = Some("100".into());
        c.gong_api_burst_limit = Some("100".into());
        c.retry_backoff = Some("100ms".into());
        c.retry_backoff_max = Some("500ms".into());
        c.admin_token = Some(ADMIN_TOKEN.into());
        c.gong_reconcile_interval = Some("0".into());
    }
}

/// A simulator as `sim` tweaks it, and the app with [`pipeline_config`] over it, then
/// `app`'s changes.
pub(crate) async fn start(
    db: &TestDb,
    sim: impl FnOnce(&mut SimConfig),
    app: impl FnOnce(&mut RawConfig),
) -> (SimHandle, TestApp) {
    let sim = simulator_with(sim).await;
    let app = TestApp::spawn_with(db, |c| {
        pipeline_config(&sim)(c);
        app(c);
    })
    .await;
    (sim, app)
}

/// Like [`start`], without workers: the test runs each batch itself (`run_once`), so that it
/// is over, history included, when the checks run.
async fn start_without_workers(
    db: &TestDb,
    app: impl FnOnce(&mut RawConfig),
) -> (SimHandle, TestApp) {
    let no_workers = |c: &mut RawConfig| {
        c.workers = Some("0".into());
        app(c);
    };
    start(db, |_| {}, no_workers).await
}

/// Like [`start`], with a Gong that answers every request with a 500 and a client that does
/// not retry: each attempt fails at once, and `max_attempts` of them dead-letter an event.
async fn start_with_gong_failing(
    db: &TestDb,
    max_attempts: &str,
    app: impl FnOnce(&mut RawConfig),
) -> (SimHandle, TestApp) {
    let failing = |c: &mut RawConfig| {
        c.max_attempts = Some(max_attempts.into());
        c.gong_api_max_retries = Some("0".into());
        app(c);
    };
    start(db, |c| c.fail_rate = 1.0, failing).await
}

/// The requests the simulator served, without `serve`'s start-up check of the credentials
/// (one workspace list, made whatever the events).
pub(crate) fn pipeline_requests(sim: &SimHandle) -> Vec<gong_sim::ServedRequest> {
    let mut served = sim.requests();
    served.retain(|r| r.path != "/v2/workspaces");
    served
}

pub(crate) async fn stop(app: TestApp, sim: SimHandle) {
    app.stop().await;
    sim.shutdown().await;
}

pub fn call_webhook(call_data: &Value) -> Vec<u8> {
    serde_json::to_vec(&json!({"callData": call_data, "isTest": false})).unwrap()
}

/// The Gong id of a call as the simulator made it.
pub(crate) fn call_id(call: &Value) -> String {
    call["metaData"]["id"].as_str().unwrap().to_owned()
}

/// Posts a signed call webhook; returns the event id.
pub async fn post_call(app: &TestApp, call_data: &Value) -> String {
    let body = call_webhook(call_data);
    app.accepted("/webhook/gong/calls", &body, Some(&gong_token(&body)))
        .await
}

/// Posts each call's webhook, in order; returns their event ids.
pub(crate) async fn post_calls(app: &TestApp, calls: &[Value]) -> Vec<String> {
    let mut events = Vec::new();
    for c in calls {
        events.push(post_call(app, c).await);
    }
    events
}

/// A new call in the simulator, its webhook posted: the call, its id and the event id.
async fn post_new_call(sim: &SimHandle, app: &TestApp) -> (Value, String, String) {
    let call = sim.create_calls(1).remove(0);
    let event_id = post_call(app, &call).await;
    let id = call_id(&call);
    (call, id, event_id)
}

pub async fn wait_status(app: &TestApp, event_id: &str, status: &str, secs: u64) {
    eventually(
        secs,
        &format!("event {event_id} to be {status}"),
        || async {
            let e = app.store().event(event_id).await.unwrap()?;
            (e.status == status).then_some(())
        },
    )
    .await;
}

pub(crate) async fn wait_all(app: &TestApp, events: &[String], status: &str, secs: u64) {
    for e in events {
        wait_status(app, e, status, secs).await;
    }
}

/// The event as the admin API and the CLI show it (it must exist).
async fn summary(app: &TestApp, event_id: &str) -> EventSummary {
    let summary = app.store().event_summary(event_id).await.unwrap();
    summary.expect("the event exists")
}

pub async fn row(app: &TestApp, table: &'static Table, key: &str) -> Option<Map<String, Value>> {
    app.app
        .pipeline()
        .warehouse()
        .fetch(table, key)
        .await
        .unwrap()
}

/// The event's processing history as it stands.
async fn history(app: &TestApp, event_id: &str) -> Vec<Map<String, Value>> {
    let w = app.app.pipeline().warehouse();
    w.select(&HISTORY, "event_id", event_id).await.unwrap()
}

/// The event's processing history, once its last attempt's rows are written (they are
/// written just after the event finishes).
pub async fn finished_history(app: &TestApp, event_id: &str) -> Vec<Map<String, Value>> {
    let attempt = app.stored(event_id).await.attempts;
    eventually(30, "the history of the last attempt", || async {
        let h = history(app, event_id).await;
        h.iter()
            .any(|r| r["stage"] == json!("outbox") && r["attempt"] == json!(attempt))
            .then_some(h)
    })
    .await
}

/// Whether some history row is of this stage with this status.
fn has_stage(history: &[Map<String, Value>], stage: &str, status: &str) -> bool {
    history
        .iter()
        .any(|h| h["stage"] == json!(stage) && h["status"] == json!(status))
}

/// The message types in the event's outbox, oldest first.
async fn outbox_types(app: &TestApp, event_id: &str) -> Vec<String> {
    let outbox = app.store().outbox_for_event(event_id).await.unwrap();
    outbox.into_iter().map(|o| o.message_type).collect()
}

/// An admin API request with this bearer token (`None`: without one): status and JSON body.
async fn admin_call(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    token: Option<&str>,
) -> (u16, Value) {
    let mut req = app.client.request(method, app.url(path));
    if let Some(token) = token {
        req = req.bearer_auth(token);
    }
    answer(req.send().await.unwrap()).await
}

/// An admin API GET with the admin token: status and JSON body.
async fn admin_get(app: &TestApp, path: &str) -> (u16, Value) {
    admin_call(app, reqwest::Method::GET, path, Some(ADMIN_TOKEN)).await
}

/// An admin API POST with the admin token: status and JSON body.
async fn admin_post(app: &TestApp, path: &str) -> (u16, Value) {
    admin_call(app, reqwest::Method::POST, path, Some(ADMIN_TOKEN)).await
}

/// A Salesforce opportunity as Gong puts it in a call's or an email's CRM context.
fn opportunity(amount: u64, kind: &str, stage: &str) -> Value {
    json!([{"system": "Salesforce", "objects": [{"objectType": "Opportunity", "objectId": "0061Q00000TEST",
        "fields": [{"name": "Name", "value": format!("Acme - {kind}")}, {"name": "Type", "value": kind},
                   {"name": "StageName", "value": stage}, {"name": "Amount", "value": amount}],
        "timing": "Now"}]}])
}

/// The email address of an internal party of a call the simulator made (a Gong user).
pub(crate) fn internal_email(call: &Value) -> String {
    let parties = call["parties"].as_array().unwrap();
    let user = parties.iter().find(|p| p["affiliation"] == "Internal");
    user.unwrap()["emailAddress"].as_str().unwrap().to_owned()
}

/// An email webhook (`em-1001`) from a buyer to `user_email`: a churn phrase on a renewal
/// (urgent).
pub(crate) fn email_webhook(user_email: &str) -> Value {
    json!({"emailData": {
        "id": "em-1001", "threadId": "th-1", "subject": "Contract renewal",
        "from": {"email": "buyer@acme.example", "name": "Pat Buyer"},
        "to": [{"email": user_email, "name": null}],
        "sentAt": "2026-11-20T10:00:00-05:00", "direction": "Inbound",
        "body": "Could you send the security questionnaire? We might cancel if legal review drags on.",
        "crmContext": opportunity(40_000, "Renewal", "Open Renewal"),
    }, "isTest": false})
}

/// A meeting webhook (`mt-2002`) organized by `user_email`, recorded as call `call_id`.
pub(crate) fn meeting_webhook(user_email: &str, call_id: &str, is_test: bool) -> Value {
    json!({"meetingData": {
        "id": "mt-2002", "title": "Acme QBR", "start": "2026-11-21T15:00:00Z", "end": "2026-11-21T16:00:00Z",
        "organizer": {"email": user_email},
        "invitees": [{"email": "buyer@acme.example", "name": "Pat Buyer", "affiliation": "External"}],
        "meetingUrl": "https://zoom.example/j/1", "callId": call_id,
    }, "isTest": is_test})
}

/// Posts `body` to `path` with an HS256 bearer token, expecting a 200; returns the event id.
pub(crate) async fn post_hs256(app: &TestApp, path: &str, body: &Value) -> String {
    let body = serde_json::to_vec(body).unwrap();
    let token = sign_hs256(SECRET_NEW.as_bytes(), &hs_claims(path, &body));
    let auth = format!("Bearer {token}");
    app.accepted(path, &body, Some(&auth)).await
}
