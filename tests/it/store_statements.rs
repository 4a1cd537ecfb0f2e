//! Every statement of the operational store, run on both backends. The store's SQL is
//! written once for SQLite and PostgreSQL (`with_pool!`, `insert_batch_body!`), so each
//! statement must be valid, and mean the same, on both; the queue and pipeline tests cover
//! behaviour, this one covers reach. `every_public_store_method_is_exercised` fails when a
//! store method is added without being called here.

use gong_relay::store::{
    EventFilter, EventStatus, Final, OutboxMessage, Permit, Retry, SharedRate,
};
use gong_relay::verify::{EventKind, now_ms};
use serde_json::json;

use crate::helpers::*;

const MINUTE: i64 = 60_000;

async fn every_store_statement_runs(db: TestDb) {
    // insert_batch and the replay cache, through the receiver.
    let app = TestApp::spawn(&db).await;
    let body = call_body_for("5500001");
    let (status, json) = answer(
        app.post("/webhook/gong/calls", &body, Some(&gong_token(&body)))
            .await,
    )
    .await;
    assert_eq!(status, 200, "{json}");
    let webhook_id = json["event_id"].as_str().unwrap().to_owned();
    app.stop().await;

    let store = db.store().await;
    store.migrate().await.unwrap();
    store.ping().await.unwrap();
    let t = now_ms();

    assert_eq!(
        store
            .enqueue_internal(&[internal_event("5500002")], t)
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        store
            .enqueue_internal(&[internal_event("5500002")], t)
            .await
            .unwrap(),
        0,
        "stored once"
    );
    let ids = ["5500001", "5500002", "5500003"].map(String::from);
    let known = store.known_sources(EventKind::Call, &ids).await.unwrap();
    assert_eq!(known.len(), 2, "{known:?}");
    assert!(
        store
            .known_sources(EventKind::Email, &ids)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(store.events().await.unwrap().len(), 2);
    let stored = store.event(&webhook_id).await.unwrap().unwrap();
    assert_eq!(
        (stored.kind, stored.status),
        (EventKind::Call, EventStatus::Pending)
    );
    assert_eq!(store.inbox_depth().await.unwrap(), 2);

    // The queue: claim, renew, and every transition.
    let claimed = store.claim(10, MINUTE).await.unwrap();
    assert_eq!(claimed.len(), 2);
    let leases: Vec<String> = claimed.iter().map(|c| c.lease_id.clone()).collect();
    assert_eq!(store.extend_leases(&leases, 2 * MINUTE).await.unwrap(), 2);
    let (attempted, postponed) = (Retry::Attempted, Retry::Postponed);
    assert!(
        store
            .reschedule(&claimed[0], attempted, t, "boom", t)
            .await
            .unwrap()
    );
    assert!(
        store
            .reschedule(&claimed[1], postponed, t, "down", t)
            .await
            .unwrap()
    );
    let again = store.claim(10, MINUTE).await.unwrap();
    assert_eq!(again.len(), 2, "both ready again");
    assert!(store.dead_letter(&again[0], "bad row", t).await.unwrap());
    assert!(store.complete(&again[1], t).await.unwrap());
    assert!(
        !store.complete(&again[1], t).await.unwrap(),
        "fenced: lease gone"
    );
    assert_eq!(store.dlq_depth().await.unwrap(), 1);

    // Inspection.
    let dead = EventFilter {
        status: Some(EventStatus::Dead),
        kind: Some(EventKind::Call),
        limit: 10,
        ..Default::default()
    };
    let listed = store.list_events(&dead).await.unwrap();
    assert_eq!(listed.len(), 1);
    let dead_id = listed[0].event_id.clone();
    let summary = store.event_summary(&dead_id).await.unwrap().unwrap();
    assert_eq!(summary.status, EventStatus::Dead);
    assert_eq!(summary.last_error.as_deref(), Some("bad row"));

    // Out of the DLQ, finished with a notification in the outbox.
    assert_eq!(store.requeue_dead(Some(&dead_id), t).await.unwrap(), 1);
    let c = store.claim(10, MINUTE).await.unwrap().remove(0);
    let msg = OutboxMessage {
        notification_id: format!("call:{}:call_processed:g0", c.source_id),
        event_id: c.event_id.clone(),
        message_type: "call_processed".into(),
        priority: "medium".into(),
        is_test: false,
        message: json!({"id": "n"}),
    };
    assert!(
        store
            .finish(&c, Final::Done, None, &[msg], t)
            .await
            .unwrap()
    );
    assert_eq!(store.outbox_for_event(&c.event_id).await.unwrap().len(), 1);
    assert_eq!(store.outbox_entries().await.unwrap().len(), 1);
    assert_eq!(store.outbox_pending().await.unwrap(), 1);

    // The publisher's side: claim, give back, claim again, mark, prune.
    let rows = store.claim_outbox(10, MINUTE, t).await.unwrap();
    assert_eq!(rows.len(), 1);
    assert!(
        store.claim_outbox(10, MINUTE, t).await.unwrap().is_empty(),
        "leased"
    );
    assert_eq!(store.release_outbox_leases().await.unwrap(), 1);
    let rows = store.claim_outbox(10, MINUTE, t).await.unwrap();
    let lease = rows[0].lease_id.clone().unwrap();
    assert_eq!(
        store
            .retry_outbox(&[&lease], t, "redis down")
            .await
            .unwrap(),
        1
    );
    let rows = store.claim_outbox(10, MINUTE, t).await.unwrap();
    let lease = rows[0].lease_id.clone().unwrap();
    assert_eq!(store.mark_published(&[&lease], t).await.unwrap(), 1);
    assert_eq!(
        store.mark_published(&[&lease], t).await.unwrap(),
        0,
        "fenced"
    );
    assert_eq!(store.outbox_pending().await.unwrap(), 0);
    assert_eq!(
        store.prune_outbox(t, 100).await.unwrap(),
        0,
        "not older than t"
    );
    assert_eq!(store.prune_outbox(t + 1, 100).await.unwrap(), 1);

    // Reprocessing by id and by period; stats; leases of a dead process released.
    assert_eq!(
        store
            .reprocess(Some(&c.event_id), None, None, t)
            .await
            .unwrap(),
        1
    );
    assert!(
        store
            .reprocess(None, Some(0), Some(t + MINUTE), t)
            .await
            .unwrap()
            >= 1
    );
    let stats = store.queue_stats(t).await.unwrap();
    assert_eq!(stats.pending, 2, "{stats:?}");
    store.claim(10, MINUTE).await.unwrap();
    assert_eq!(store.release_leases(t).await.unwrap(), 2);

    // Retention: done payloads older than the cut are emptied, a bounded batch at a time.
    let done = store.claim(10, MINUTE).await.unwrap();
    for c in &done {
        assert!(store.complete(c, t).await.unwrap());
    }
    assert_eq!(store.prune_inbox_payloads(t, 100, t).await.unwrap(), 0);
    assert_eq!(store.prune_inbox_payloads(t + 1, 1, t).await.unwrap(), 1);
    store.prune_inbox_payloads(t + 1, 100, t).await.unwrap();
    let webhook = store.event(&webhook_id).await.unwrap().unwrap();
    assert!(webhook.payload.is_empty());
    // Reprocessing takes the body back from the raw table; this one never reached it (no
    // workers ran), so it is left alone rather than run without a body.
    assert_eq!(
        store
            .reprocess(Some(&webhook_id), None, None, t)
            .await
            .unwrap(),
        0
    );

    // The inbox writer's own connections and their durability setting.
    let writer = store.inbox_writer(1);
    let setting = writer.synchronous_commit().await.unwrap();
    assert_eq!(setting.is_some(), db.url.starts_with("postgres"));
    writer.close().await;

    // The replay cache and the shared rate limit.
    assert!(
        store
            .prune_replay_tokens(t + 24 * 60 * MINUTE, 100)
            .await
            .unwrap()
            >= 1
    );
    let limit = SharedRate {
        rate: 10.0,
        burst: 2,
        daily: 3,
    };
    let today = "2026-12-01";
    for _ in 0..3 {
        assert!(matches!(
            store
                .take_permit("test", limit, t + 10_000, today)
                .await
                .unwrap(),
            Permit::Granted { .. } | Permit::Wait(_)
        ));
    }
    assert!(store.permits_used("test", today).await.unwrap() >= 1);
    store.close().await;
}

crate::on_both_backends!(every_store_statement_runs);

/// The list above must grow with the store: every public async method of `src/store/` is
/// named in this file.
#[test]
fn every_public_store_method_is_exercised() {
    let here = include_str!("store_statements.rs");
    let sources = [
        include_str!("../../src/store/mod.rs"),
        include_str!("../../src/store/admin.rs"),
        include_str!("../../src/store/outbox.rs"),
        include_str!("../../src/store/queue.rs"),
        include_str!("../../src/store/rate.rs"),
        include_str!("../../src/store/retention.rs"),
        include_str!("../../src/store/writer.rs"),
    ];
    let missing: Vec<&str> = sources
        .iter()
        .flat_map(|s| s.split("pub async fn ").skip(1))
        .filter_map(|rest| rest.split('(').next())
        // `connect` opens every test's store; `insert_batch` takes only verified events,
        // so it runs through the receiver at the top of the test.
        .filter(|name| !["connect", "insert_batch"].contains(name))
        .filter(|name| !here.contains(&format!(".{name}(")))
        .collect();
    assert!(
        missing.is_empty(),
        "store methods not run here: {missing:?}"
    );
}
