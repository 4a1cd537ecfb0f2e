//! Retention (`INBOX_RETENTION`, `HISTORY_RETENTION`): old done payloads are emptied and old
//! history deleted, in bounded batches; what may still be needed is kept.

use gong_relay::store::Retry;
use gong_relay::verify::now_ms;
use gong_relay::warehouse::{self, HISTORY};
use serde_json::{Value, json};

use crate::helpers::*;

const CALLS: &str = "/webhook/gong/calls";
const MINUTE: i64 = 60_000;
const HOUR: i64 = 60 * MINUTE;

/// Five webhooks processed to done by the real app (no Gong key: stored from the webhook
/// alone); returns their ids and bodies.
async fn done_events(db: &TestDb) -> Vec<(String, Vec<u8>)> {
    let app = TestApp::spawn_with(db, |c| c.workers = Some("1".into())).await;
    let mut sent = Vec::new();
    for i in 0..5 {
        let body = call_body_for(&format!("810000{i}"));
        let id = app.accepted(CALLS, &body, Some(&gong_token(&body))).await;
        sent.push((id, body));
    }
    eventually(30, "every event done", || async {
        let events = app.store().events().await.unwrap();
        events.iter().all(|e| e.status == "done").then_some(())
    })
    .await;
    app.stop().await;
    sent
}

async fn old_done_payloads_are_emptied_in_bounded_batches(db: TestDb) {
    let done = done_events(&db).await;
    let store = db.store().await;
    // Events in every other state, as old as the done ones.
    let t = now_ms();
    let others: Vec<_> = ["8200001", "8200002", "8200003"].map(internal_event).into();
    assert_eq!(store.enqueue_internal(&others, t - HOUR).await.unwrap(), 3);
    let mut claimed = store.claim(2, MINUTE).await.unwrap();
    let (failed, dead) = (claimed.remove(0), claimed.remove(0));
    assert!(
        store
            .reschedule(&failed, Retry::Attempted, t + HOUR, "Gong 503", t)
            .await
            .unwrap()
    );
    assert!(store.dead_letter(&dead, "bad", t).await.unwrap());

    let t = now_ms();
    assert_eq!(
        store.prune_inbox_payloads(t - HOUR, 2, t).await.unwrap(),
        0,
        "done within the retention: kept"
    );
    let mut batches = Vec::new();
    loop {
        let n = store.prune_inbox_payloads(t + 1, 2, t).await.unwrap();
        batches.push(n);
        if n < 2 {
            break;
        }
    }
    assert_eq!(batches, [2, 2, 1], "bounded batches, oldest first");
    for e in store.events().await.unwrap() {
        if e.status == "done" {
            assert!(e.payload.is_empty(), "{} pruned", e.event_id);
        } else {
            assert!(!e.payload.is_empty(), "{} ({}) kept", e.event_id, e.status);
        }
    }
    let statuses: Vec<_> = store
        .events()
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.status != "done")
        .map(|e| e.status.to_string())
        .collect();
    assert_eq!(statuses.len(), 3, "{statuses:?}");

    // The rows stay: the same call re-fired is still a duplicate of its event.
    let app = TestApp::spawn(&db).await;
    let (id, body) = &done[0];
    let (status, json) = answer(app.post(CALLS, body, Some(&gong_token(body))).await).await;
    assert_eq!(
        (status, json["duplicate"].clone()),
        (200, json!(true)),
        "{json}"
    );
    assert_eq!(json["event_id"], json!(id));
    app.stop().await;

    // Reprocessing a pruned event takes its body back from the warehouse's raw table.
    let (id, body) = &done[1];
    assert_eq!(store.reprocess(Some(id), None, None, t).await.unwrap(), 1);
    let e = store.event(id).await.unwrap().unwrap();
    assert_eq!(e.status, "pending");
    let restored: Value = serde_json::from_slice(&e.payload).unwrap();
    assert_eq!(restored, serde_json::from_slice::<Value>(body).unwrap());
    store.close().await;
}

async fn old_history_is_deleted_in_bounded_batches(db: TestDb) {
    done_events(&db).await;
    let store = db.store().await;
    let w = warehouse::open(&store);
    let before = w.count(&HISTORY).await.unwrap();
    assert!(before >= 5, "{before} history rows");
    let t = now_ms();
    assert_eq!(
        w.prune_history(t - HOUR, 3).await.unwrap(),
        0,
        "recent kept"
    );
    let mut pruned = 0;
    loop {
        let n = w.prune_history(t + 1_000, 3).await.unwrap();
        assert!(n <= 3, "bounded batch: {n}");
        pruned += n;
        if n < 3 {
            break;
        }
    }
    assert_eq!(pruned as i64, before);
    assert_eq!(w.count(&HISTORY).await.unwrap(), 0);
    store.close().await;
}

crate::on_both_backends!(
    old_done_payloads_are_emptied_in_bounded_batches,
    old_history_is_deleted_in_bounded_batches,
);
