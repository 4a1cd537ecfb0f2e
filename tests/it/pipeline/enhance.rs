//! Webhooks become enhanced rows: a call with its transcript (also when the transcript comes
//! late), emails and meetings, and what is stored when there is no Gong key to ask with.

use std::time::Duration;

use gong_relay::warehouse::{CALLS, EMAILS, MEETINGS, RAW};
use serde_json::{Value, json};

use super::*;

async fn a_signed_webhook_becomes_an_enhanced_row(db: TestDb) {
    let (sim, app) = start(&db, |_| {}, |_| {}).await;
    let (call, call_id, event_id) = post_new_call(&sim, &app).await;
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
    let raw = row(&app, &RAW, &event_id).await.unwrap();
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
    let rid = app.stored(&event_id).await.request_id;
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

    assert_contains_all(
        &app.get_text("/metrics").await,
        &[
            "webhook_processing_duration_seconds_bucket{stage=\"enhance\"",
            "webhook_processing_duration_seconds_bucket{stage=\"store_enhanced\"",
            "data_quality_score{kind=\"call\"}",
            "active_background_tasks",
            "dlq_depth",
            "outbox_pending",
            "events_processed_total{kind=\"call\",outcome=\"done\"}",
        ],
    );

    // Two Gong requests for the call: one extensive, one transcript (and, apart, the
    // start-up check of the credentials).
    let paths: Vec<String> = pipeline_requests(&sim)
        .iter()
        .map(|r| r.path.clone())
        .collect();
    assert_eq!(paths, ["/v2/calls/extensive", "/v2/calls/transcript"]);
    stop(app, sim).await;
}

async fn a_late_transcript_completes_the_row(db: TestDb) {
    let (sim, app) = start(
        &db,
        |c| c.transcript_lag = Duration::from_millis(1500),
        |c| {
            c.retry_backoff = Some("400ms".into());
            c.retry_backoff_max = Some("1s".into());
        },
    )
    .await;
    let (_, id, event_id) = post_new_call(&sim, &app).await;
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
        outbox_types(&app, &event_id).await.is_empty(),
        "no notification for a partial row"
    );
    // …then the same row, completed.
    wait_status(&app, &event_id, "done", 30).await;
    let done = row(&app, &CALLS, &id).await.unwrap();
    assert_eq!(done["enhanced"], json!(true));
    assert!(done["enhancement_note"].is_null());
    assert!(done["transcript"].as_array().is_some_and(|t| !t.is_empty()));
    let history = finished_history(&app, &event_id).await;
    assert!(has_stage(&history, "enhance", "partial"));
    let types = outbox_types(&app, &event_id).await;
    assert_eq!(types.iter().filter(|t| *t == "call_processed").count(), 1);
    stop(app, sim).await;
}

async fn emails_and_meetings_are_enhanced(db: TestDb) {
    let (sim, app) = start(&db, |_| {}, |_| {}).await;
    let call = sim.create_calls(1).remove(0);
    let call_id = call_id(&call);
    let user = internal_email(&call);
    let mut events = Vec::new();
    for (path, body) in [
        ("/webhook/gong/emails", email_webhook(&user)),
        (
            "/webhook/gong/meetings",
            meeting_webhook(&user, &call_id, true),
        ),
    ] {
        events.push(post_hs256(&app, path, &body).await);
    }
    wait_all(&app, &events, "done", 30).await;
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
    stop(app, sim).await;
}

async fn without_a_gong_key_events_are_stored_unenhanced(db: TestDb) {
    let app = TestApp::spawn_with(&db, |c| c.workers = Some("1".into())).await;
    let body = call_body();
    let call_id = "7693221800038890052";
    let event_id = app
        .accepted("/webhook/gong/calls", &body, Some(&gong_token(&body)))
        .await;
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
    assert!(has_stage(&history, "enhance", "skipped"));
    app.stop().await;
}

crate::on_both_backends!(
    a_signed_webhook_becomes_an_enhanced_row,
    a_late_transcript_completes_the_row,
    emails_and_meetings_are_enhanced,
    without_a_gong_key_events_are_stored_unenhanced,
);
