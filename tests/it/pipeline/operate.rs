//! Operating the pipeline: the admin API and its token, reprocessing, the command line's
//! dead-letter queue, reprocessing and backfill, and the reconciler that finds calls whose
//! webhook never came.

use gong_relay::warehouse::CALLS;
use serde_json::json;

use super::*;

async fn the_admin_api_needs_its_token(db: TestDb) {
    let (sim, app) = start(&db, |_| {}, |_| {}).await;
    let get = reqwest::Method::GET;
    for (token, expected) in [(None, 401), (Some("wrong"), 401), (Some(ADMIN_TOKEN), 200)] {
        let (code, body) = admin_call(&app, get.clone(), "/admin/events", token).await;
        assert_eq!(code, expected, "{token:?}: {body}");
    }
    for query in ["status=bogus", "limit=abc", "limit=0", "kind=fax"] {
        let (code, body) = admin_get(&app, &format!("/admin/events?{query}")).await;
        assert_eq!(
            (code, body["error"].as_str()),
            (400, Some("bad_request")),
            "{query}"
        );
    }
    // Empty parameters are absent, as in `?status=&kind=&limit=`.
    let (code, body) = admin_get(&app, "/admin/events?status=&kind=&limit=").await;
    assert_eq!(code, 200, "{body}");
    assert!(body["events"].is_array());
    assert_eq!(admin_get(&app, "/admin/events/nope").await.0, 404);
    app.stop().await;

    // Without ADMIN_TOKEN the admin API does not exist.
    let app = TestApp::spawn(&db).await;
    assert_eq!(admin_get(&app, "/admin/events").await.0, 404);
    stop(app, sim).await;
}

async fn reprocessing_updates_the_same_row(db: TestDb) {
    let (sim, app) = start(&db, |_| {}, |_| {}).await;
    let (_, id, event_id) = post_new_call(&sim, &app).await;
    wait_status(&app, &event_id, "done", 30).await;
    let first = row(&app, &CALLS, &id).await.unwrap();

    let (status, _) = admin_post(&app, &format!("/admin/events/{event_id}/reprocess")).await;
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
    // The history keeps both runs (it is written just after the event finishes).
    eventually(30, "both runs in the history", || async {
        let history = history(&app, &event_id).await;
        let runs = history
            .iter()
            .filter(|h| h["stage"] == json!("outbox"))
            .count();
        (runs == 2).then_some(())
    })
    .await;
    stop(app, sim).await;
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
    let (sim, app) = start_with_gong_failing(&db, "1", |_| {}).await;
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
    let nothing_then = "reprocess --since 2000-01-01 --until 2000-01-02";
    let (ok, out) = cli(&db, &sim, &nothing_then.split(' ').collect::<Vec<_>>());
    assert!(ok && out.contains("queued 0"), "{out}");

    let from = (chrono::Utc::now() - chrono::Duration::hours(3)).to_rfc3339();
    let to = (chrono::Utc::now() + chrono::Duration::minutes(1)).to_rfc3339();
    let (ok, out) = cli(&db, &sim, &["backfill", "--from", &from, "--to", &to]);
    assert!(
        ok && out.contains("2 call(s)") && out.contains("1 known already, 1 queued"),
        "{out}"
    );
    let later_id = call_id(&later);
    app.app.pipeline().wake();
    eventually(30, "the backfilled call's row", || async {
        row(&app, &CALLS, &later_id).await
    })
    .await;
    let (ok, out) = cli(&db, &sim, &["backfill", "--from", &to, "--to", &from]);
    assert!(!ok && out.contains("must be before"), "{out}");
    stop(app, sim).await;
}

async fn the_reconciler_finds_a_call_whose_webhook_never_came(db: TestDb) {
    // Both calls are in Gong before the app (and its reconciler) starts.
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
    let missed_id = call_id(&missed);
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
    stop(app, sim).await;
}

crate::on_both_backends!(
    the_admin_api_needs_its_token,
    reprocessing_updates_the_same_row,
    the_cli_operates_the_dead_letter_queue_reprocessing_and_backfill,
    the_reconciler_finds_a_call_whose_webhook_never_came,
);
