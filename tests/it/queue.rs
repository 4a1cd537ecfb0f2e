//! The inbox as a job queue: leases, fencing, retries and the dead-letter queue.

use gong_relay::store::Retry;

use crate::helpers::*;

const MINUTE: i64 = 60_000;

/// Stores `n` call webhooks through the real app; returns their event ids.
async fn stored_events(db: &TestDb, n: usize) -> Vec<String> {
    let app = TestApp::spawn(db).await;
    let mut ids = Vec::new();
    for i in 0..n {
        let body = call_body_for(&format!("4400{i}"));
        let (status, json) = answer(
            app.post("/webhook/gong/calls", &body, Some(&gong_token(&body)))
                .await,
        )
        .await;
        assert_eq!(status, 200);
        ids.push(json["event_id"].as_str().unwrap().to_owned());
    }
    app.stop().await;
    ids
}

fn now() -> i64 {
    gong_relay::verify::now_ms()
}

async fn claims_are_exclusive_and_counted(db: TestDb) {
    let ids = stored_events(&db, 6).await;
    let store = db.store().await;
    let t = now();
    let (a, b) = tokio::join!(store.claim(4, MINUTE, t), store.claim(4, MINUTE, t));
    let (a, b) = (a.unwrap(), b.unwrap());
    let mut claimed: Vec<_> = a.iter().chain(&b).map(|c| c.event_id.clone()).collect();
    claimed.sort();
    let mut expected = ids.clone();
    expected.sort();
    assert_eq!(claimed, expected, "every event claimed once");
    assert!(a.iter().chain(&b).all(|c| c.attempts == 1));
    assert!(
        store.claim(10, MINUTE, t).await.unwrap().is_empty(),
        "all leased"
    );
    assert_eq!(store.inbox_depth().await.unwrap(), 6);
    for c in a.iter().chain(&b) {
        assert!(store.complete(c, t).await.unwrap());
    }
    assert_eq!(store.inbox_depth().await.unwrap(), 0);
    store.close().await;
}

async fn an_expired_lease_is_reclaimed_and_the_old_owner_fenced_off(db: TestDb) {
    stored_events(&db, 1).await;
    let store = db.store().await;
    let t = now();
    let first = store.claim(1, 1_000, t).await.unwrap().remove(0);
    // The first worker stalls past its lease; a second one takes the event over.
    let second = store.claim(1, MINUTE, t + 2_000).await.unwrap().remove(0);
    assert_eq!(second.event_id, first.event_id);
    assert_eq!(second.attempts, 2);
    assert_ne!(second.lease_id, first.lease_id);
    assert!(
        !store.complete(&first, t + 3_000).await.unwrap(),
        "stale lease"
    );
    assert!(!store.dead_letter(&first, "stale", t + 3_000).await.unwrap());
    assert!(store.complete(&second, t + 3_000).await.unwrap());
    let e = store.event(&first.event_id).await.unwrap().unwrap();
    assert_eq!(e.status, "done");
    store.close().await;
}

async fn retries_wait_for_run_at_and_dead_letters_stay(db: TestDb) {
    stored_events(&db, 2).await;
    let store = db.store().await;
    let t = now();
    let mut claimed = store.claim(2, MINUTE, t).await.unwrap();
    let (x, y) = (claimed.remove(0), claimed.remove(0));
    assert!(
        store
            .reschedule(&x, Retry::Attempted, t + 5_000, "Gong 503", t)
            .await
            .unwrap()
    );
    assert!(store.dead_letter(&y, "bad payload", t).await.unwrap());
    assert!(store.claim(5, MINUTE, t + 1_000).await.unwrap().is_empty());
    let again = store.claim(5, MINUTE, t + 6_000).await.unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(
        (again[0].event_id.as_str(), again[0].attempts),
        (x.event_id.as_str(), 2)
    );
    assert_eq!(store.dlq_depth().await.unwrap(), 1);
    assert_eq!(
        store.event(&y.event_id).await.unwrap().unwrap().status,
        "dead"
    );
    store.close().await;
}

crate::on_both_backends!(
    claims_are_exclusive_and_counted,
    an_expired_lease_is_reclaimed_and_the_old_owner_fenced_off,
    retries_wait_for_run_at_and_dead_letters_stay,
);
