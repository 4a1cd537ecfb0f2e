//! The pipeline end to end: signed webhooks through the real app, enhanced against the Gong
//! simulator over HTTP, into the warehouse and the outbox, on SQLite and PostgreSQL.

use std::time::{Duration, Instant};

use gong_relay::config::RawConfig;
use gong_relay::warehouse::{CALLS, EMAILS, HISTORY, MEETINGS};
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

pub fn call_webhook(call_data: &Value) -> Vec<u8> {
    serde_json::to_vec(&json!({"callData": call_data, "isTest": false})).unwrap()
}

/// Posts a signed call webhook; returns the event id.
pub async fn post_call(app: &TestApp, call_data: &Value) -> String {
    let body = call_webhook(call_data);
    let (status, json) = answer(
        app.post("/webhook/gong/calls", &body, Some(&gong_token(&body)))
            .await,
    )
    .await;
    assert_eq!(status, 200, "{json}");
    json["event_id"].as_str().unwrap().to_owned()
}

/// Waits until `check` holds, polling; panics with `what` after `secs`.
pub async fn eventually<F, Fut, T>(secs: u64, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
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

pub async fn row(
    app: &TestApp,
    table: &'static gong_relay::warehouse::Table,
    key: &str,
) -> Option<Map<String, Value>> {
    app.app
        .pipeline()
        .warehouse()
        .fetch(table, key)
        .await
        .unwrap()
}

/// The event's processing history, once its last attempt's rows are written (they are
/// written just after the event finishes).
pub async fn finished_history(app: &TestApp, event_id: &str) -> Vec<Map<String, Value>> {
    let attempt = app.store().event(event_id).await.unwrap().unwrap().attempts;
    eventually(30, "the history of the last attempt", || async {
        let h = app
            .app
            .pipeline()
            .warehouse()
            .select(&HISTORY, "event_id", event_id)
            .await
            .unwrap();
        h.iter()
            .any(|r| r["stage"] == json!("outbox") && r["attempt"] == json!(attempt))
            .then_some(h)
    })
    .await
}

fn admin(app: &TestApp, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
    app.client
        .request(method, app.url(path))
        .bearer_auth(ADMIN_TOKEN)
}

// ---- shaping calls in the simulator ------------------------------------------------------

/// Speaker ids of the call's internal and external parties.
fn speakers(data: &Value) -> (String, String) {
    let parties = data["parties"].as_array().unwrap();
    let pick = |internal: bool| {
        parties
            .iter()
            .filter(|p| p["speakerId"].is_string())
            .find(|p| (p["affiliation"] == "Internal") == internal)
            .map(|p| p["speakerId"].as_str().unwrap().to_owned())
    };
    let internal = pick(true).unwrap();
    let external = pick(false).unwrap_or_else(|| internal.clone());
    (internal, external)
}

fn opportunity(amount: u64, kind: &str, stage: &str) -> Value {
    json!([{"system": "Salesforce", "objects": [{"objectType": "Opportunity", "objectId": "0061Q00000TEST",
        "fields": [{"name": "Name", "value": format!("Acme - {kind}")}, {"name": "Type", "value": kind},
                   {"name": "StageName", "value": stage}, {"name": "Amount", "value": amount}],
        "timing": "Now"}]}])
}

/// Rewrites a generated call: neutral content, these external lines, this CRM context.
fn shape(
    data: &mut Value,
    transcript: &mut Value,
    duration: u64,
    external_lines: &[&str],
    trackers: Value,
    context: Value,
) {
    let (internal, external) = speakers(data);
    data["metaData"]["duration"] = json!(duration);
    data["metaData"]["title"] = json!("Acme weekly sync");
    data["context"] = context;
    data["content"] = json!({
        "trackers": trackers, "topics": [], "pointsOfInterest": {"actionItems": []},
        "brief": "The team met with Acme.", "keyPoints": [], "outline": [], "highlights": [],
    });
    let mut monologues = vec![json!({"speakerId": internal, "topic": null, "sentences": [
        {"start": 1000, "end": 3000, "text": "Thanks for making the time today."}]})];
    for (i, line) in external_lines.iter().enumerate() {
        let start = 5000 + i as u64 * 4000;
        monologues.push(json!({"speakerId": external, "topic": null, "sentences": [
            {"start": start, "end": start + 3000, "text": line}]}));
    }
    *transcript = Value::Array(monologues);
}

// ---- tests -----------------------------------------------------------------------------

async fn a_signed_webhook_becomes_an_enhanced_row(db: TestDb) {
    let sim = simulator_with(|_| {}).await;
    let app = TestApp::spawn_with(&db, pipeline_config(&sim)).await;
    let call = sim.create_calls(1).remove(0);
    let call_id = call["metaData"]["id"].as_str().unwrap().to_owned();
    let event_id = post_call(&app, &call).await;
    wait_status(&app, &event_id, "done", 30).await;

    let r = row(&app, &CALLS, &call_id).await.expect("enhanced row");
    assert_eq!(r["enhanced"], json!(true), "{r:?}");
    assert_eq!(r["source_event_id"], json!(event_id));
    assert_eq!(r["title"], call["metaData"]["title"]);
    assert!(
        r["transcript"].as_array().is_some_and(|t| !t.is_empty()),
        "transcript"
    );
    assert!(r["participants"].as_array().is_some_and(|p| !p.is_empty()));
    let q = r["data_quality_score"].as_f64().unwrap();
    assert!(q > 0.5 && q <= 1.0, "quality {q}");
    assert!(["urgent", "high", "medium", "low"].contains(&r["priority"].as_str().unwrap()));
    assert!(r["insights"].is_array() && r["next_steps"].is_array());

    // The raw webhook, kept as received.
    let raw = app
        .app
        .pipeline()
        .warehouse()
        .fetch(&gong_relay::warehouse::RAW, &event_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(raw["payload"]["callData"]["metaData"]["id"], json!(call_id));
    assert_eq!(raw["auth_method"], json!("rs256"));

    // One history row per stage, in order.
    let history = finished_history(&app, &event_id).await;
    let stages: Vec<&str> = history
        .iter()
        .map(|h| h["stage"].as_str().unwrap())
        .collect();
    assert_eq!(
        stages,
        [
            "store_raw",
            "enhance",
            "transform",
            "insights",
            "store_enhanced",
            "outbox"
        ]
    );
    assert!(history.iter().all(|h| h["attempt"] == json!(1)));
    let rid = app
        .store()
        .event(&event_id)
        .await
        .unwrap()
        .unwrap()
        .request_id;
    assert!(history.iter().all(|h| h["request_id"] == json!(rid)));

    // The notification, in the outbox.
    let outbox = app.store().outbox_for_event(&event_id).await.unwrap();
    let processed: Vec<_> = outbox
        .iter()
        .filter(|o| o.message_type == "call_processed")
        .collect();
    assert_eq!(processed.len(), 1, "{outbox:?}");
    let m: Value = serde_json::from_str(&processed[0].message).unwrap();
    assert_eq!(m["source_id"], json!(call_id));
    assert_eq!(m["event_id"], json!(event_id));
    assert_eq!(m["request_id"], json!(rid));
    assert_eq!(m["priority"], r["priority"]);
    assert_eq!(m["is_test"], json!(false));

    let metrics = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for needle in [
        "webhook_processing_duration_seconds_bucket{stage=\"enhance\"",
        "webhook_processing_duration_seconds_bucket{stage=\"store_enhanced\"",
        "data_quality_score{kind=\"call\"}",
        "active_background_tasks",
        "dlq_depth",
        "outbox_pending",
        "events_processed_total{kind=\"call\",outcome=\"done\"}",
    ] {
        assert!(
            metrics.contains(needle),
            "{needle} missing from:\n{metrics}"
        );
    }

    // Two Gong requests for the call: one extensive, one transcript.
    let paths: Vec<String> = sim.requests().iter().map(|r| r.path.clone()).collect();
    assert_eq!(paths, ["/v2/calls/extensive", "/v2/calls/transcript"]);
    app.stop().await;
    sim.shutdown().await;
}

async fn priorities_follow_the_signals(db: TestDb) {
    let sim = simulator_with(|_| {}).await;
    let app = TestApp::spawn_with(&db, pipeline_config(&sim)).await;
    let competitor_tracker = |speaker: &str| {
        json!([{"id": "111", "name": "Competitors", "count": 1, "type": "KEYWORD",
            "occurrences": [{"startTime": 9.0, "speakerId": speaker}],
            "phrases": [{"count": 1, "phrase": "Chorus", "occurrences": [{"startTime": 9.0, "speakerId": speaker}]}]}])
    };
    let churn = "Honestly we are thinking about whether to cancel and switch to another vendor.";
    let high = sim.create_call_with(|d, t| {
        let (_, ext) = speakers(d);
        shape(
            d,
            t,
            1800,
            &[churn, "Chorus showed us a demo last week."],
            competitor_tracker(&ext),
            opportunity(20_000, "New Business", "Discovery"),
        );
    });
    let urgent = sim.create_call_with(|d, t| {
        shape(
            d,
            t,
            2400,
            &[churn],
            json!([]),
            opportunity(250_000, "New Business", "Negotiation"),
        );
    });
    let renewal = sim.create_call_with(|d, t| {
        shape(
            d,
            t,
            2400,
            &[churn],
            json!([]),
            opportunity(30_000, "Renewal", "Open Renewal"),
        );
    });
    let low = sim.create_call_with(|d, t| {
        shape(
            d,
            t,
            180,
            &["Sounds good, talk soon."],
            json!([]),
            json!([]),
        );
    });
    let mut events = Vec::new();
    for c in [&high, &urgent, &renewal, &low] {
        events.push(post_call(&app, c).await);
    }
    for e in &events {
        wait_status(&app, e, "done", 30).await;
    }
    let get = |c: &Value| c["metaData"]["id"].as_str().unwrap().to_owned();
    let high_row = row(&app, &CALLS, &get(&high)).await.unwrap();
    assert_eq!(
        high_row["priority"],
        json!("high"),
        "{:?}",
        high_row["insights"]
    );
    let kinds: Vec<&str> = high_row["insights"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["kind"].as_str().unwrap())
        .collect();
    assert!(
        kinds.contains(&"competitor_mention") && kinds.contains(&"churn_risk"),
        "{kinds:?}"
    );
    // Evidence names the tracker, and the sentence with its time and speaker.
    let evidence: Vec<&Value> = high_row["insights"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|i| i["evidence"].as_array().unwrap())
        .collect();
    assert!(
        evidence
            .iter()
            .any(|e| e["tracker"] == json!("Competitors"))
    );
    assert!(evidence.iter().any(|e| e["text"] == json!(churn)
        && e["timestamp_ms"] == json!(5000)
        && e["speaker_id"].is_string()));
    assert!(!high_row["next_steps"].as_array().unwrap().is_empty());

    assert_eq!(
        row(&app, &CALLS, &get(&urgent)).await.unwrap()["priority"],
        json!("urgent")
    );
    assert_eq!(
        row(&app, &CALLS, &get(&renewal)).await.unwrap()["priority"],
        json!("urgent")
    );
    assert_eq!(
        row(&app, &CALLS, &get(&low)).await.unwrap()["priority"],
        json!("low")
    );

    // Urgent and high calls also ask for action.
    let actions = app.store().outbox_for_event(&events[1]).await.unwrap();
    assert!(
        actions
            .iter()
            .any(|o| o.message_type == "action_required" && o.priority == "urgent"),
        "{actions:?}"
    );
    let low_outbox = app.store().outbox_for_event(&events[3]).await.unwrap();
    assert!(
        low_outbox
            .iter()
            .all(|o| o.message_type != "action_required")
    );
    app.stop().await;
    sim.shutdown().await;
}

async fn a_late_transcript_completes_the_row(db: TestDb) {
    let sim = simulator_with(|c| c.transcript_lag = Duration::from_millis(1500)).await;
    let app = TestApp::spawn_with(&db, |c| {
        pipeline_config(&sim)(c);
        c.retry_backoff = Some("400ms".into());
        c.retry_backoff_max = Some("1s".into());
    })
    .await;
    let call = sim.create_calls(1).remove(0);
    let id = call["metaData"]["id"].as_str().unwrap().to_owned();
    let event_id = post_call(&app, &call).await;
    // First the row without the transcript, marked as not (yet) enhanced…
    let partial = eventually(10, "a partial row", || async {
        row(&app, &CALLS, &id)
            .await
            .filter(|r| r["enhanced"] == json!(false))
    })
    .await;
    assert!(partial["transcript"].is_null());
    assert!(
        partial["enhancement_note"]
            .as_str()
            .unwrap()
            .contains("transcript")
    );
    assert!(
        app.store()
            .outbox_for_event(&event_id)
            .await
            .unwrap()
            .is_empty(),
        "no notification for a partial row"
    );
    // …then the same row, completed.
    wait_status(&app, &event_id, "done", 30).await;
    let done = row(&app, &CALLS, &id).await.unwrap();
    assert_eq!(done["enhanced"], json!(true));
    assert!(done["enhancement_note"].is_null());
    assert!(done["transcript"].as_array().is_some_and(|t| !t.is_empty()));
    let history = finished_history(&app, &event_id).await;
    assert!(
        history
            .iter()
            .any(|h| h["stage"] == json!("enhance") && h["status"] == json!("partial"))
    );
    assert_eq!(
        app.store()
            .outbox_for_event(&event_id)
            .await
            .unwrap()
            .iter()
            .filter(|o| o.message_type == "call_processed")
            .count(),
        1
    );
    app.stop().await;
    sim.shutdown().await;
}

async fn gong_failures_dead_letter_then_dlq_retry_succeeds(db: TestDb) {
    let sim = simulator_with(|c| c.fail_rate = 1.0).await;
    let app = TestApp::spawn_with(&db, |c| {
        pipeline_config(&sim)(c);
        c.max_attempts = Some("3".into());
        c.gong_api_max_retries = Some("0".into());
        c.gong_api_breaker_cool_down = Some("300ms".into());
    })
    .await;
    let call = sim.create_calls(1).remove(0);
    let id = call["metaData"]["id"].as_str().unwrap().to_owned();
    let event_id = post_call(&app, &call).await;
    wait_status(&app, &event_id, "dead", 60).await;
    let dead = app.store().event_summary(&event_id).await.unwrap().unwrap();
    assert!(
        dead.last_error.as_deref().unwrap().contains("Gong"),
        "{dead:?}"
    );
    assert!(row(&app, &CALLS, &id).await.is_none());
    let outbox = app.store().outbox_for_event(&event_id).await.unwrap();
    assert_eq!(
        outbox
            .iter()
            .map(|o| o.message_type.as_str())
            .collect::<Vec<_>>(),
        ["processing_error"]
    );
    // /health says what went wrong with Gong, and when.
    let health: Value = reqwest::get(app.url("/health"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let gong = &health["dependencies"]["gong_api"];
    assert!(
        gong["last_error"].as_str().unwrap().contains("500"),
        "{gong}"
    );
    assert!(gong["last_error_at"].is_string(), "{gong}");

    // The admin API lists it; Gong recovers; a retry succeeds.
    let (status, listed) = answer(
        admin(&app, reqwest::Method::GET, "/admin/dlq")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(listed["events"][0]["event_id"], json!(event_id));
    sim.set_fail_rate(0.0);
    let (status, body) = answer(
        admin(
            &app,
            reqwest::Method::POST,
            &format!("/admin/dlq/{event_id}/retry"),
        )
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_eq!((status, body["requeued"].clone()), (200, json!(1)));
    wait_status(&app, &event_id, "done", 30).await;
    assert_eq!(
        row(&app, &CALLS, &id).await.unwrap()["enhanced"],
        json!(true)
    );
    app.stop().await;
    sim.shutdown().await;
}

async fn reprocessing_updates_the_same_row(db: TestDb) {
    let sim = simulator_with(|_| {}).await;
    let app = TestApp::spawn_with(&db, pipeline_config(&sim)).await;
    let call = sim.create_calls(1).remove(0);
    let id = call["metaData"]["id"].as_str().unwrap().to_owned();
    let event_id = post_call(&app, &call).await;
    wait_status(&app, &event_id, "done", 30).await;
    let first = row(&app, &CALLS, &id).await.unwrap();

    let (status, _) = answer(
        admin(
            &app,
            reqwest::Method::POST,
            &format!("/admin/events/{event_id}/reprocess"),
        )
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(status, 200);
    eventually(30, "the reprocessed row", || async {
        let r = row(&app, &CALLS, &id).await?;
        (r["version"] != first["version"]).then_some(())
    })
    .await;
    wait_status(&app, &event_id, "done", 30).await;
    let w = app.app.pipeline().warehouse();
    assert_eq!(
        w.count(&CALLS).await.unwrap(),
        1,
        "the same row, not a second one"
    );
    let again = row(&app, &CALLS, &id).await.unwrap();
    assert_eq!(again["transcript"], first["transcript"]);
    assert_eq!(again["priority"], first["priority"]);
    // A new generation is announced again, once.
    let processed: Vec<String> = app
        .store()
        .outbox_for_event(&event_id)
        .await
        .unwrap()
        .into_iter()
        .filter(|o| o.message_type == "call_processed")
        .map(|o| o.notification_id)
        .collect();
    assert_eq!(
        processed,
        [
            format!("call:{id}:call_processed:g0"),
            format!("call:{id}:call_processed:g1:{event_id}")
        ]
    );
    // The history keeps both runs.
    // History is written just after the event finishes.
    eventually(30, "both runs in the history", || async {
        let history = w.select(&HISTORY, "event_id", &event_id).await.unwrap();
        let runs = history
            .iter()
            .filter(|h| h["stage"] == json!("outbox"))
            .count();
        (runs == 2).then_some(())
    })
    .await;
    app.stop().await;
    sim.shutdown().await;
}

async fn emails_and_meetings_are_enhanced(db: TestDb) {
    let sim = simulator_with(|_| {}).await;
    let app = TestApp::spawn_with(&db, pipeline_config(&sim)).await;
    let call = sim.create_calls(1).remove(0);
    let call_id = call["metaData"]["id"].as_str().unwrap().to_owned();
    // A Gong user, as the simulator knows them.
    let user_email = call["parties"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["affiliation"] == "Internal")
        .unwrap()["emailAddress"]
        .as_str()
        .unwrap()
        .to_owned();

    let email = json!({"emailData": {
        "id": "em-1001", "threadId": "th-1", "subject": "Contract renewal",
        "from": {"email": "buyer@acme.example", "name": "Pat Buyer"},
        "to": [{"email": user_email, "name": null}],
        "sentAt": "2026-11-20T10:00:00-05:00", "direction": "Inbound",
        "body": "Could you send the security questionnaire? We might cancel if legal review drags on.",
        "crmContext": opportunity(40_000, "Renewal", "Open Renewal"),
    }, "isTest": false});
    let meeting = json!({"meetingData": {
        "id": "mt-2002", "title": "Acme QBR", "start": "2026-11-21T15:00:00Z", "end": "2026-11-21T16:00:00Z",
        "organizer": {"email": user_email},
        "invitees": [{"email": "buyer@acme.example", "name": "Pat Buyer", "affiliation": "External"}],
        "meetingUrl": "https://zoom.example/j/1", "callId": call_id,
    }, "isTest": true});
    let mut events = Vec::new();
    for (path, body) in [
        ("/webhook/gong/emails", &email),
        ("/webhook/gong/meetings", &meeting),
    ] {
        let body = serde_json::to_vec(body).unwrap();
        let token = sign_hs256(SECRET_NEW.as_bytes(), &hs_claims(path, &body));
        let (status, json) = answer(
            app.post(path, &body, Some(&format!("Bearer {token}")))
                .await,
        )
        .await;
        assert_eq!(status, 200, "{json}");
        events.push(json["event_id"].as_str().unwrap().to_owned());
    }
    for e in &events {
        wait_status(&app, e, "done", 30).await;
    }
    let e = row(&app, &EMAILS, "em-1001").await.unwrap();
    assert_eq!(e["enhanced"], json!(true));
    assert_eq!(e["sent_at"], json!("2026-11-20T15:00:00.000Z"));
    let parties = e["participants"].as_array().unwrap();
    assert_eq!(parties[0]["affiliation"], json!("External"));
    assert_eq!(
        parties[1]["affiliation"],
        json!("Internal"),
        "a Gong user: {parties:?}"
    );
    assert!(parties[1]["user_id"].is_string());
    // A churn phrase on a renewal: urgent.
    assert_eq!(e["priority"], json!("urgent"), "{e:?}");

    let m = row(&app, &MEETINGS, "mt-2002").await.unwrap();
    assert_eq!(m["call_id"], json!(call_id));
    assert_eq!(m["recorded_call"]["call_id"], json!(call_id));
    assert_eq!(m["recorded_call"]["has_transcript"], json!(true));
    assert_eq!(m["is_test"], json!(true));
    let outbox = app.store().outbox_for_event(&events[1]).await.unwrap();
    assert!(outbox.iter().all(|o| o.is_test));
    app.stop().await;
    sim.shutdown().await;
}

async fn the_admin_api_needs_its_token(db: TestDb) {
    let sim = simulator_with(|_| {}).await;
    let app = TestApp::spawn_with(&db, pipeline_config(&sim)).await;
    let url = app.url("/admin/events");
    let status = |r: reqwest::Response| r.status().as_u16();
    assert_eq!(status(app.client.get(&url).send().await.unwrap()), 401);
    assert_eq!(
        status(
            app.client
                .get(&url)
                .bearer_auth("wrong")
                .send()
                .await
                .unwrap()
        ),
        401
    );
    assert_eq!(
        status(
            app.client
                .get(&url)
                .bearer_auth(ADMIN_TOKEN)
                .send()
                .await
                .unwrap()
        ),
        200
    );
    let (code, body) = answer(
        app.client
            .get(app.url("/admin/events?status=bogus"))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((code, body["error"].as_str()), (400, Some("bad_request")));
    for query in ["limit=abc", "limit=0", "kind=fax"] {
        let (code, body) = answer(
            app.client
                .get(app.url(&format!("/admin/events?{query}")))
                .bearer_auth(ADMIN_TOKEN)
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(
            (code, body["error"].as_str()),
            (400, Some("bad_request")),
            "{query}"
        );
    }
    // Empty parameters are absent, as in `?status=&kind=&limit=`.
    let (code, body) = answer(
        app.client
            .get(app.url("/admin/events?status=&kind=&limit="))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(code, 200, "{body}");
    assert!(body["events"].is_array());
    let (code, _) = answer(
        app.client
            .get(app.url("/admin/events/nope"))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(code, 404);
    app.stop().await;

    // Without ADMIN_TOKEN the admin API does not exist.
    let app = TestApp::spawn(&db).await;
    assert_eq!(
        status(
            app.client
                .get(app.url("/admin/events"))
                .bearer_auth(ADMIN_TOKEN)
                .send()
                .await
                .unwrap()
        ),
        404
    );
    app.stop().await;
    sim.shutdown().await;
}

async fn without_a_gong_key_events_are_stored_unenhanced(db: TestDb) {
    let app = TestApp::spawn_with(&db, |c| c.workers = Some("1".into())).await;
    let body = call_body();
    let call_id = "7693221800038890052";
    let (status, json) = answer(
        app.post("/webhook/gong/calls", &body, Some(&gong_token(&body)))
            .await,
    )
    .await;
    assert_eq!(status, 200);
    let event_id = json["event_id"].as_str().unwrap().to_owned();
    wait_status(&app, &event_id, "done", 30).await;
    let r = row(&app, &CALLS, call_id).await.unwrap();
    assert_eq!(r["enhanced"], json!(false));
    assert!(
        r["enhancement_note"]
            .as_str()
            .unwrap()
            .contains("not configured")
    );
    let history = finished_history(&app, &event_id).await;
    assert!(
        history
            .iter()
            .any(|h| h["stage"] == json!("enhance") && h["status"] == json!("skipped"))
    );
    app.stop().await;
}

async fn the_reconciler_finds_a_call_whose_webhook_never_came(db: TestDb) {
    let sim = simulator_with(|_| {}).await;
    let mut calls = sim.create_calls(2);
    let missed = calls.pop().unwrap();
    let delivered = calls.pop().unwrap();
    let app = TestApp::spawn_with(&db, |c| {
        pipeline_config(&sim)(c);
        c.gong_reconcile_interval = Some("300ms".into());
        c.gong_reconcile_lookback = Some("3h".into());
    })
    .await;
    post_call(&app, &delivered).await;
    let missed_id = missed["metaData"]["id"].as_str().unwrap().to_owned();
    let r = eventually(30, "the missed call's row", || async {
        row(&app, &CALLS, &missed_id)
            .await
            .filter(|r| r["enhanced"] == json!(true))
    })
    .await;
    assert_eq!(r["title"], missed["metaData"]["title"]);
    // Several more passes: nothing known is queued again.
    let passes = |s: &SimHandle| {
        s.requests()
            .iter()
            .filter(|r| r.path == "/v2/calls")
            .count()
    };
    let seen = passes(&sim);
    eventually(30, "three more reconciler passes", || async {
        (passes(&sim) >= seen + 3).then_some(())
    })
    .await;
    let events = app.store().events().await.unwrap();
    assert_eq!(events.len(), 2, "one event per call: {events:?}");
    let reconciled = events.iter().find(|e| e.source_id == missed_id).unwrap();
    assert_eq!(reconciled.auth_method, "reconciler");
    assert_eq!(reconciled.status, "done");
    app.stop().await;
    sim.shutdown().await;
}

/// Runs the binary with the test's store and the simulator as Gong.
fn cli(db: &TestDb, sim: &SimHandle, args: &[&str]) -> (bool, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_gong-relay"))
        .args(args)
        .env_clear()
        .env("DATABASE_URL", &db.url)
        .env("GONG_API_KEY", "sim-key:sim-secret")
        .env("GONG_API_BASE_URL", sim.base_url())
        .env("LOG_LEVEL", "error")
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

async fn the_cli_operates_the_dead_letter_queue_reprocessing_and_backfill(db: TestDb) {
    let sim = simulator_with(|c| c.fail_rate = 1.0).await;
    let app = TestApp::spawn_with(&db, |c| {
        pipeline_config(&sim)(c);
        c.max_attempts = Some("1".into());
        c.gong_api_max_retries = Some("0".into());
    })
    .await;
    let mut calls = sim.create_calls(2);
    let later = calls.pop().unwrap();
    let call = calls.pop().unwrap();
    let event_id = post_call(&app, &call).await;
    wait_status(&app, &event_id, "dead", 30).await;

    let (ok, out) = cli(&db, &sim, &["dlq", "list"]);
    assert!(
        ok && out.contains(&event_id) && out.contains("Gong"),
        "{out}"
    );
    let (ok, out) = cli(&db, &sim, &["dlq", "retry", "no-such-event"]);
    assert!(!ok && out.contains("no dead-lettered event"), "{out}");

    sim.set_fail_rate(0.0);
    let (ok, out) = cli(&db, &sim, &["dlq", "retry", "--all"]);
    assert!(ok && out.contains("requeued 1"), "{out}");
    app.app.pipeline().wake();
    wait_status(&app, &event_id, "done", 30).await;
    let (ok, out) = cli(&db, &sim, &["dlq", "list"]);
    assert!(ok && out.contains("empty"), "{out}");

    let (ok, out) = cli(&db, &sim, &["reprocess", &event_id]);
    assert!(ok && out.contains("queued 1"), "{out}");
    eventually(30, "the reprocessed event", || async {
        let e = app.store().event_summary(&event_id).await.unwrap()?;
        (e.generation == 1 && e.status == "done").then_some(())
    })
    .await;
    let (ok, out) = cli(
        &db,
        &sim,
        &[
            "reprocess",
            "--since",
            "2000-01-01",
            "--until",
            "2000-01-02",
        ],
    );
    assert!(ok && out.contains("queued 0"), "{out}");

    let from = (chrono::Utc::now() - chrono::Duration::hours(3)).to_rfc3339();
    let to = (chrono::Utc::now() + chrono::Duration::minutes(1)).to_rfc3339();
    let (ok, out) = cli(&db, &sim, &["backfill", "--from", &from, "--to", &to]);
    assert!(
        ok && out.contains("2 call(s)") && out.contains("1 known already, 1 queued"),
        "{out}"
    );
    let later_id = later["metaData"]["id"].as_str().unwrap().to_owned();
    app.app.pipeline().wake();
    eventually(30, "the backfilled call's row", || async {
        row(&app, &CALLS, &later_id).await
    })
    .await;
    let (ok, out) = cli(&db, &sim, &["backfill", "--from", &to, "--to", &from]);
    assert!(!ok && out.contains("must be before"), "{out}");
    app.stop().await;
    sim.shutdown().await;
}

async fn a_spent_daily_budget_delays_events_without_using_attempts(db: TestDb) {
    let sim = simulator_with(|_| {}).await;
    let app = TestApp::spawn_with(&db, |c| {
        pipeline_config(&sim)(c);
        // The extensive request takes the day's one call; the transcript request finds
        // the budget spent.
        c.gong_api_daily_limit = Some("1".into());
        c.max_attempts = Some("1".into());
        // The test runs the batch itself, so that it is over (history included) when
        // the checks run.
        c.workers = Some("0".into());
    })
    .await;
    let call = sim.create_calls(1).remove(0);
    let event_id = post_call(&app, &call).await;
    assert_eq!(app.app.pipeline().run_once().await.unwrap(), 1);
    let e = app.store().event_summary(&event_id).await.unwrap().unwrap();
    assert_eq!(e.status, "failed", "{e:?}");
    assert!(e.last_error.as_deref().unwrap().contains("budget"), "{e:?}");
    assert_eq!(e.attempts, 0, "no attempt used up: {e:?}");
    assert!(
        e.run_at_ms > gong_relay::verify::now_ms() + 60_000,
        "waits for the next UTC day"
    );
    assert!(
        app.store()
            .outbox_for_event(&event_id)
            .await
            .unwrap()
            .is_empty()
    );
    // A postponement is not an attempt: no history rows.
    let history = app
        .app
        .pipeline()
        .warehouse()
        .select(&HISTORY, "event_id", &event_id)
        .await
        .unwrap();
    assert!(history.is_empty(), "{history:?}");
    app.stop().await;
    sim.shutdown().await;
}

async fn an_event_that_never_finishes_an_attempt_is_dead_lettered(db: TestDb) {
    let sim = simulator_with(|_| {}).await;
    // No workers: the test plays the crashing workers, then runs one batch itself.
    let app = TestApp::spawn_with(&db, |c| {
        pipeline_config(&sim)(c);
        c.workers = Some("0".into());
        c.max_attempts = Some("2".into());
    })
    .await;
    let call = sim.create_calls(1).remove(0);
    let event_id = post_call(&app, &call).await;
    let t = gong_relay::verify::now_ms();
    // Two claims whose workers died: leases that ended long ago, without a finish.
    for _ in 0..2 {
        let claimed = app.store().claim(1, -60_000, t + 1).await.unwrap();
        assert_eq!(claimed.len(), 1);
    }
    assert_eq!(app.app.pipeline().run_once().await.unwrap(), 1);
    let e = app.store().event_summary(&event_id).await.unwrap().unwrap();
    assert_eq!(e.status, "dead");
    assert!(e.last_error.unwrap().contains("claimed 3 times"));
    let outbox = app.store().outbox_for_event(&event_id).await.unwrap();
    assert_eq!(outbox.len(), 1);
    assert_eq!(outbox[0].message_type, "processing_error");
    assert!(sim.requests().is_empty(), "not tried again");
    app.stop().await;
    sim.shutdown().await;
}

async fn one_refused_call_fails_alone(db: TestDb) {
    let sim = simulator_with(|_| {}).await;
    let app = TestApp::spawn_with(&db, |c| {
        pipeline_config(&sim)(c);
        c.workers = Some("0".into());
    })
    .await;
    let calls = sim.create_calls(4);
    // Gong refuses any request that names this call.
    sim.refuse_call_id(calls[3]["metaData"]["id"].as_str().unwrap());
    let mut events = Vec::new();
    for c in &calls {
        events.push(post_call(&app, c).await);
    }
    // One batch for all four: the look-up is split until the bad call is alone.
    assert_eq!(app.app.pipeline().run_once().await.unwrap(), 4);
    for e in &events[..3] {
        let s = app.store().event_summary(e).await.unwrap().unwrap();
        assert_eq!(s.status, "done", "{s:?}");
    }
    let bad = app
        .store()
        .event_summary(&events[3])
        .await
        .unwrap()
        .unwrap();
    assert_eq!(bad.status, "dead");
    assert!(bad.last_error.unwrap().contains("cannot be requested"));
    let extensive = sim
        .requests()
        .iter()
        .filter(|r| r.path == "/v2/calls/extensive")
        .count();
    assert!(
        extensive > 1 && extensive <= 5,
        "{extensive} extensive requests"
    );
    app.stop().await;
    sim.shutdown().await;
}

async fn a_slow_batch_keeps_its_leases(db: TestDb) {
    // Each Gong answer takes longer than the whole lease: without renewal the second
    // worker would take the first one's events over and do them again.
    let sim = simulator_with(|c| c.latency = Duration::from_millis(1200)).await;
    let app = TestApp::spawn_with(&db, |c| {
        pipeline_config(&sim)(c);
        c.worker_lease = Some("1s".into());
    })
    .await;
    let calls = sim.create_calls(6);
    let mut events = Vec::new();
    for c in &calls {
        events.push(post_call(&app, c).await);
    }
    for e in &events {
        wait_status(&app, e, "done", 60).await;
    }
    for e in &events {
        let s = app.store().event_summary(e).await.unwrap().unwrap();
        assert_eq!(s.attempts, 1, "processed once: {s:?}");
    }
    app.stop().await;
    sim.shutdown().await;
}

crate::on_both_backends!(
    a_slow_batch_keeps_its_leases,
    one_refused_call_fails_alone,
    a_spent_daily_budget_delays_events_without_using_attempts,
    an_event_that_never_finishes_an_attempt_is_dead_lettered,
    the_reconciler_finds_a_call_whose_webhook_never_came,
    the_cli_operates_the_dead_letter_queue_reprocessing_and_backfill,
    a_signed_webhook_becomes_an_enhanced_row,
    priorities_follow_the_signals,
    a_late_transcript_completes_the_row,
    gong_failures_dead_letter_then_dlq_retry_succeeds,
    reprocessing_updates_the_same_row,
    emails_and_meetings_are_enhanced,
    the_admin_api_needs_its_token,
    without_a_gong_key_events_are_stored_unenhanced,
);

/// The warehouse in a database of its own (as Snowflake will be) goes down while the
/// queue stays up: events wait without using attempts (MAX_ATTEMPTS 2 would dead-letter
/// them in a few hundred milliseconds otherwise), Gong is not asked for data that could
/// not be stored, the breaker opens, and everything lands once the warehouse is back.
/// A pipeline over `app`'s store (a receive-only app) and another warehouse, with one
/// worker and fast retries.
fn pipeline_over(
    app: &TestApp,
    wh: std::sync::Arc<dyn gong_relay::warehouse::Warehouse>,
    sim: &SimHandle,
    max_attempts: u32,
) -> gong_relay::pipeline::Pipeline {
    use gong_relay::gong::GongLink;
    use gong_relay::insights::Rules;
    use gong_relay::pipeline::{Pipeline, Settings};
    let gong = GongLink::standalone(sim.client_config()).unwrap();
    let settings = Settings {
        workers: 1,
        claim_batch: 25,
        lease: Duration::from_secs(10),
        max_attempts,
        retry_base: Duration::from_millis(100),
        retry_max: Duration::from_millis(200),
        batch_wait: Duration::from_millis(20),
        idle_poll: Duration::from_millis(50),
    };
    Pipeline::new(
        app.store().clone(),
        wh,
        Some(gong),
        Rules::builtin(),
        settings,
    )
}

async fn a_warehouse_outage_postpones_without_using_attempts(store_db: TestDb) {
    use gong_relay::breaker::BreakerState;
    use gong_relay::warehouse;

    let Some(wh_db) = TestDb::new(Backend::Postgres).await else {
        return;
    };
    let sim = simulator_with(|_| {}).await;
    let calls = sim.create_calls(10);
    // Receive-only app: the pipeline under test is built below, over another warehouse.
    let app = TestApp::spawn(&store_db).await;
    for c in &calls {
        post_call(&app, c).await;
    }
    let wh_store = wh_db.store().await;
    let wh = warehouse::open(&wh_store);
    wh.migrate().await.unwrap();

    wh_db.set_postgres_up(false).await;
    let pipeline = pipeline_over(&app, wh.clone(), &sim, 2);
    let (stop_tx, stop) = tokio::sync::watch::channel(false);
    let workers = pipeline.spawn_workers(stop);
    eventually(30, "the warehouse breaker to open", || async {
        (pipeline.warehouse_breaker().state() != BreakerState::Closed).then_some(())
    })
    .await;
    // Several breaker cool-downs: each lets one probe batch fail again.
    tokio::time::sleep(Duration::from_secs(2)).await;
    for e in app.store().events().await.unwrap() {
        assert_ne!(e.status, "dead", "an outage dead-lettered {}", e.event_id);
        assert!(e.attempts <= 1, "the outage used attempts: {}", e.attempts);
    }
    assert!(sim.requests().is_empty(), "Gong asked during the outage");

    wh_db.set_postgres_up(true).await;
    eventually(60, "every event to be done after the outage", || async {
        let events = app.store().events().await.unwrap();
        events.iter().all(|e| e.status == "done").then_some(())
    })
    .await;
    assert_eq!(wh.count(&CALLS).await.unwrap(), calls.len() as i64);
    assert_eq!(
        pipeline.warehouse_breaker().state(),
        BreakerState::Closed,
        "closed again"
    );
    stop_tx.send(true).unwrap();
    for w in workers {
        w.await.unwrap();
    }
    wh_store.close().await;
    sim.shutdown().await;
}

/// The warehouse goes down while a batch waits for Gong (its raw rows are stored): the
/// enhanced rows cannot be written, and the batch waits without using its only attempt.
async fn a_warehouse_outage_mid_batch_postpones_it(store_db: TestDb) {
    use gong_relay::warehouse;
    let Some(wh_db) = TestDb::new(Backend::Postgres).await else {
        return;
    };
    let sim = simulator_with(|c| c.latency = Duration::from_millis(1500)).await;
    let calls = sim.create_calls(5);
    let app = TestApp::spawn(&store_db).await;
    for c in &calls {
        post_call(&app, c).await;
    }
    let wh_store = wh_db.store().await;
    let wh = warehouse::open(&wh_store);
    wh.migrate().await.unwrap();
    // MAX_ATTEMPTS 1: an attempt spent on the outage would dead-letter the events.
    let pipeline = pipeline_over(&app, wh.clone(), &sim, 1);
    let (stop_tx, stop) = tokio::sync::watch::channel(false);
    let workers = pipeline.spawn_workers(stop);
    eventually(30, "the raw rows, then Gong being asked", || async {
        let raw = wh.count(&gong_relay::warehouse::RAW).await.ok()?;
        (raw == calls.len() as i64 && !sim.requests().is_empty()).then_some(())
    })
    .await;
    wh_db.set_postgres_up(false).await;
    eventually(30, "the batch to be postponed", || async {
        let events = app.store().events().await.unwrap();
        events
            .iter()
            .all(|e| e.status == "failed" && e.attempts == 0)
            .then_some(())
    })
    .await;
    wh_db.set_postgres_up(true).await;
    eventually(60, "every event to be done after the outage", || async {
        let events = app.store().events().await.unwrap();
        events.iter().all(|e| e.status == "done").then_some(())
    })
    .await;
    assert_eq!(wh.count(&CALLS).await.unwrap(), calls.len() as i64);
    stop_tx.send(true).unwrap();
    for w in workers {
        w.await.unwrap();
    }
    wh_store.close().await;
    sim.shutdown().await;
}

mod warehouse_outage {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_warehouse_outage_mid_batch_postpones_it() {
        let db = crate::helpers::TestDb::new(crate::helpers::Backend::Sqlite)
            .await
            .unwrap();
        super::a_warehouse_outage_mid_batch_postpones_it(db).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_warehouse_outage_postpones_without_using_attempts() {
        let db = crate::helpers::TestDb::new(crate::helpers::Backend::Sqlite)
            .await
            .unwrap();
        super::a_warehouse_outage_postpones_without_using_attempts(db).await;
    }
}
