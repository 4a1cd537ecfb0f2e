//! When Gong fails, refuses a call, is slow or has no budget left, and when workers die: events
//! wait, dead-letter or are retried, each as often as it should be.

use std::time::Duration;

use gong_relay::warehouse::CALLS;
use serde_json::{Value, json};

use super::*;

async fn gong_failures_dead_letter_then_dlq_retry_succeeds(db: TestDb) {
    let cool_down = |c: &mut RawConfig| c.gong_api_breaker_cool_down = Some("300ms".into());
    let (sim, app) = start_with_gong_failing(&db, "3", cool_down).await;
    let (_, id, event_id) = post_new_call(&sim, &app).await;
    wait_status(&app, &event_id, "dead", 60).await;
    let dead = summary(&app, &event_id).await;
    assert!(
        dead.last_error.as_deref().unwrap().contains("Gong"),
        "{dead:?}"
    );
    assert!(row(&app, &CALLS, &id).await.is_none());
    assert_eq!(outbox_types(&app, &event_id).await, ["processing_error"]);
    // /health says what went wrong with Gong, and when.
    let health: Value = serde_json::from_str(&app.get_text("/health").await).unwrap();
    let gong = &health["dependencies"]["gong_api"];
    assert!(
        gong["last_error"].as_str().unwrap().contains("500"),
        "{gong}"
    );
    assert!(gong["last_error_at"].is_string(), "{gong}");

    // The admin API lists it; Gong recovers; a retry succeeds.
    let (status, listed) = admin_get(&app, "/admin/dlq").await;
    assert_eq!(status, 200);
    assert_eq!(listed["events"][0]["event_id"], json!(event_id));
    sim.set_fail_rate(0.0);
    let (status, body) = admin_post(&app, &format!("/admin/dlq/{event_id}/retry")).await;
    assert_eq!((status, body["requeued"].clone()), (200, json!(1)));
    wait_status(&app, &event_id, "done", 30).await;
    assert_eq!(
        row(&app, &CALLS, &id).await.unwrap()["enhanced"],
        json!(true)
    );
    // The current state is the retry's: one attempt, no stale error. The failures before
    // it stay in the history.
    let done = summary(&app, &event_id).await;
    assert_eq!(
        (done.attempts, done.last_error.as_deref()),
        (1, None),
        "{done:?}"
    );
    let history = finished_history(&app, &event_id).await;
    let failed_before = |s| has_stage(&history, "enhance", s);
    assert!(
        failed_before("retry") || failed_before("failed"),
        "{history:?}"
    );
    assert!(has_stage(&history, "outbox", "ok"), "{history:?}");
    stop(app, sim).await;
}

async fn a_spent_daily_budget_delays_events_without_using_attempts(db: TestDb) {
    let (sim, app) = start_without_workers(&db, |c| {
        // The extensive request takes the day's one call; the transcript request finds
        // the budget spent.
        c.gong_api_daily_limit = Some("1".into());
        c.max_attempts = Some("1".into());
    })
    .await;
    let (_, _, event_id) = post_new_call(&sim, &app).await;
    assert_eq!(app.app.pipeline().run_once().await.unwrap(), 1);
    let e = summary(&app, &event_id).await;
    assert_eq!(e.status, "failed", "{e:?}");
    assert!(e.last_error.as_deref().unwrap().contains("budget"), "{e:?}");
    assert_eq!(e.attempts, 0, "no attempt used up: {e:?}");
    assert!(
        e.run_at_ms > gong_relay::verify::now_ms() + 60_000,
        "waits for the next UTC day"
    );
    assert!(outbox_types(&app, &event_id).await.is_empty());
    // A postponement is not an attempt: no history rows.
    let history = history(&app, &event_id).await;
    assert!(history.is_empty(), "{history:?}");
    stop(app, sim).await;
}

async fn an_event_that_never_finishes_an_attempt_is_dead_lettered(db: TestDb) {
    // No workers: the test plays the crashing workers, then runs one batch itself.
    let (sim, app) = start_without_workers(&db, |c| c.max_attempts = Some("2".into())).await;
    let (_, _, event_id) = post_new_call(&sim, &app).await;
    // Two claims whose workers died: leases that ended long ago, without a finish.
    for _ in 0..2 {
        let claimed = app.store().claim(1, -60_000).await.unwrap();
        assert_eq!(claimed.len(), 1);
    }
    assert_eq!(app.app.pipeline().run_once().await.unwrap(), 1);
    let e = summary(&app, &event_id).await;
    assert_eq!(e.status, "dead");
    assert!(e.last_error.unwrap().contains("claimed 3 times"));
    assert_eq!(outbox_types(&app, &event_id).await, ["processing_error"]);
    assert!(pipeline_requests(&sim).is_empty(), "not tried again");
    stop(app, sim).await;
}

async fn one_refused_call_fails_alone(db: TestDb) {
    let (sim, app) = start_without_workers(&db, |_| {}).await;
    let calls = sim.create_calls(4);
    // Gong refuses any request that names this call.
    sim.refuse_call_id(&call_id(&calls[3]));
    let events = post_calls(&app, &calls).await;
    // One batch for all four: the look-up is split until the bad call is alone.
    assert_eq!(app.app.pipeline().run_once().await.unwrap(), 4);
    for e in &events[..3] {
        let s = summary(&app, e).await;
        assert_eq!(s.status, "done", "{s:?}");
    }
    let bad = summary(&app, &events[3]).await;
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
    stop(app, sim).await;
}

async fn a_slow_batch_keeps_its_leases(db: TestDb) {
    // Each Gong answer takes longer than the whole lease: without renewal the second
    // worker would take the first one's events over and do them again.
    let (sim, app) = start(
        &db,
        |c| c.latency = Duration::from_millis(1200),
        |c| c.worker_lease = Some("1s".into()),
    )
    .await;
    let events = post_calls(&app, &sim.create_calls(6)).await;
    wait_all(&app, &events, "done", 60).await;
    for e in &events {
        let s = summary(&app, e).await;
        assert_eq!(s.attempts, 1, "processed once: {s:?}");
    }
    stop(app, sim).await;
}

crate::on_both_backends!(
    gong_failures_dead_letter_then_dlq_retry_succeeds,
    a_spent_daily_budget_delays_events_without_using_attempts,
    an_event_that_never_finishes_an_attempt_is_dead_lettered,
    one_refused_call_fails_alone,
    a_slow_batch_keeps_its_leases,
);
