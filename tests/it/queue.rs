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
    let (a, b) = tokio::join!(store.claim(4, MINUTE), store.claim(4, MINUTE));
    let (a, b) = (a.unwrap(), b.unwrap());
    let mut claimed: Vec<_> = a.iter().chain(&b).map(|c| c.event_id.clone()).collect();
    claimed.sort();
    let mut expected = ids.clone();
    expected.sort();
    assert_eq!(claimed, expected, "every event claimed once");
    assert!(a.iter().chain(&b).all(|c| c.attempts == 1));
    assert!(
        store.claim(10, MINUTE).await.unwrap().is_empty(),
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
    // The first worker stalls past its lease (one that ended a second ago, on the store's
    // clock); a second one takes the event over.
    let first = store.claim(1, -1_000).await.unwrap().remove(0);
    let second = store.claim(1, MINUTE).await.unwrap().remove(0);
    assert_eq!(second.event_id, first.event_id);
    assert_eq!(second.attempts, 2);
    assert_ne!(second.lease_id, first.lease_id);
    assert!(second.version > first.version, "the later claim's rows win");
    assert!(!store.complete(&first, t).await.unwrap(), "stale lease");
    assert!(!store.dead_letter(&first, "stale", t).await.unwrap());
    assert!(store.complete(&second, t).await.unwrap());
    let e = store.event(&first.event_id).await.unwrap().unwrap();
    assert_eq!(e.status, "done");
    store.close().await;
}

/// Leases and versions come from the store, so a process whose clock runs far ahead has
/// no say: the claim takes no clock, a live lease stays with its owner, and a later claim's
/// version is higher than an earlier one's even within the same millisecond (a version
/// taken from a clock would tie, or lose to a clock that ran ahead).
async fn a_process_clock_neither_takes_a_live_lease_nor_orders_versions(db: TestDb) {
    stored_events(&db, 4).await;
    let store = db.store().await;
    let owner = store.claim(1, MINUTE).await.unwrap().remove(0);
    let mut versions = vec![owner.version];
    for _ in 0..3 {
        let c = store.claim(1, MINUTE).await.unwrap().remove(0);
        assert_ne!(c.event_id, owner.event_id, "a live lease is not taken over");
        versions.push(c.version);
    }
    assert!(
        store.claim(10, MINUTE).await.unwrap().is_empty(),
        "all leased"
    );
    assert!(
        versions.windows(2).all(|w| w[0] < w[1]),
        "each later claim has a higher version: {versions:?}"
    );
    // Versions stay comparable with the time-based versions of earlier releases: at least
    // the store's clock at the claim.
    assert!(versions[0] >= now() - MINUTE, "{versions:?}");
    // Renewing takes a duration, measured on the store's clock: a renewer whose clock lags
    // cannot hand its lease over by extending it into the past.
    assert_eq!(
        store
            .extend_leases(std::slice::from_ref(&owner.lease_id), MINUTE)
            .await
            .unwrap(),
        1
    );
    assert!(store.claim(10, MINUTE).await.unwrap().is_empty());
    store.close().await;
}

async fn retries_wait_for_run_at_and_dead_letters_stay(db: TestDb) {
    stored_events(&db, 2).await;
    let store = db.store().await;
    let t = now();
    let mut claimed = store.claim(2, MINUTE).await.unwrap();
    let (x, y) = (claimed.remove(0), claimed.remove(0));
    assert!(
        store
            .reschedule(&x, Retry::Attempted, t + 1_500, "Gong 503", t)
            .await
            .unwrap()
    );
    assert!(store.dead_letter(&y, "bad payload", t).await.unwrap());
    assert!(store.claim(5, MINUTE).await.unwrap().is_empty());
    let again = eventually(10, "the retry is due", || async {
        let c = store.claim(5, MINUTE).await.unwrap();
        (!c.is_empty()).then_some(c)
    })
    .await;
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
    a_process_clock_neither_takes_a_live_lease_nor_orders_versions,
    retries_wait_for_run_at_and_dead_letters_stay,
);
