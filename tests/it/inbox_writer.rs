//! The inbox writer as a sender sees it: an exact retry of an accepted delivery is a
//! duplicate, not a replay, and webhooks still commit while the store's general pool is
//! taken by other work (readers, admin, health, workers).

use std::time::Duration;

use gong_relay::store::Store;

use crate::helpers::*;

const CALLS: &str = "/webhook/gong/calls";

async fn an_exact_retry_is_answered_with_the_original_event(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    let body = call_body_for("7100001");
    let token = gong_token(&body);
    let (status, first) = answer(app.post(CALLS, &body, Some(&token)).await).await;
    assert_eq!(status, 200, "{first}");
    // A proxy lost our 200 and sends the very same request again.
    let (status, retry) = answer(app.post(CALLS, &body, Some(&token)).await).await;
    assert_eq!(status, 200, "{retry}");
    assert_eq!(retry["event_id"], first["event_id"]);
    assert_eq!(retry["duplicate"], true, "{retry}");
    // The token with another body is refused (its body hash no longer matches), and
    // nothing more is stored.
    let other = call_body_for("7100002");
    let (status, refused) = answer(app.post(CALLS, &other, Some(&token)).await).await;
    assert_eq!(status, 401, "{refused}");
    assert_eq!(app.store().events().await.unwrap().len(), 1);
    // A verified token always carries its body's hash, so the store's own check is reached
    // only through its rows: a token remembered with another body, or one stored before
    // tokens remembered their event, stays a replay.
    for change in [
        "UPDATE replay_tokens SET body_sha256 = 'another body'",
        "UPDATE replay_tokens SET body_sha256 = NULL, event_id = NULL",
    ] {
        execute(app.store(), change).await;
        let (status, json) = answer(app.post(CALLS, &body, Some(&token)).await).await;
        assert_eq!(
            (status, json["error"].as_str()),
            (401, Some("replayed")),
            "{change}"
        );
    }
    assert_eq!(app.store().events().await.unwrap().len(), 1);
    app.stop().await;
}

async fn execute(store: &Store, sql: &'static str) {
    match store {
        Store::Sqlite(p) => sqlx::query(sql).execute(p).await.map(drop),
        Store::Postgres(p) => sqlx::query(sql).execute(p).await.map(drop),
    }
    .unwrap();
}

async fn identical_deliveries_at_once_store_one_event(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    for round in 0..5 {
        let body = call_body_for(&format!("720000{round}"));
        let token = gong_token(&body);
        let sends: Vec<_> = (0..4)
            .map(|_| {
                let (sender, body, token) = (app.sender(), body.clone(), token.clone());
                tokio::spawn(async move {
                    let headers = [
                        ("authorization", token.as_str()),
                        ("content-type", "application/json"),
                    ];
                    answer(sender.post(CALLS, body, &headers).await.unwrap()).await
                })
            })
            .collect();
        let mut ids = Vec::new();
        let mut fresh = 0;
        for send in sends {
            let (status, json) = send.await.unwrap();
            assert_eq!(status, 200, "round {round}: {json}");
            ids.push(json["event_id"].as_str().unwrap().to_owned());
            if json["duplicate"] != true {
                fresh += 1;
            }
        }
        ids.dedup();
        assert_eq!(ids.len(), 1, "round {round}: one event id for all: {ids:?}");
        assert_eq!(
            fresh, 1,
            "round {round}: one acceptance, the rest duplicates"
        );
    }
    assert_eq!(app.store().events().await.unwrap().len(), 5);
    app.stop().await;
}

/// Every connection of the store's general pool is held (as by slow admin reads or a
/// flood of health checks): a webhook is still committed, on the inbox writer's own
/// connections.
async fn webhooks_commit_while_the_general_pool_is_exhausted(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    let wait = Duration::from_millis(300);
    let (mut lite, mut pg) = (Vec::new(), Vec::new());
    match app.store() {
        Store::Sqlite(p) => {
            while let Ok(Ok(c)) = tokio::time::timeout(wait, p.acquire()).await {
                lite.push(c);
            }
        }
        Store::Postgres(p) => {
            while let Ok(Ok(c)) = tokio::time::timeout(wait, p.acquire()).await {
                pg.push(c);
            }
        }
    }
    assert!(lite.len() + pg.len() >= 4, "the general pool is held");
    let body = call_body_for("7300001");
    let token = gong_token(&body);
    let sent = tokio::time::timeout(Duration::from_secs(4), app.post(CALLS, &body, Some(&token)));
    let (status, json) = answer(sent.await.expect("answered while the pool is held")).await;
    assert_eq!(status, 200, "{json}");
    drop((lite, pg));
    app.stop().await;
}

crate::on_both_backends!(
    an_exact_retry_is_answered_with_the_original_event,
    identical_deliveries_at_once_store_one_event,
    webhooks_commit_while_the_general_pool_is_exhausted,
);
