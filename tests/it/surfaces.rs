//! What each listener serves, and the answers hyper and axum would give on their own
//! (issue 11, items 3 and 13): the admin listener split, `/health` from its snapshot,
//! JSON bodies on 405 and 431.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::helpers::*;

const ADMIN_TOKEN: &str = "admin-token-for-tests-0123";

async fn get(client: &reqwest::Client, url: String, token: Option<&str>) -> (u16, Value) {
    let mut req = client.get(url);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    answer(req.send().await.unwrap()).await
}

async fn admin_listener_keeps_operators_routes_off_the_public_port(db: TestDb) {
    let app = TestApp::spawn_with(&db, |c| {
        c.admin_bind_addr = Some("127.0.0.1:0".into());
        c.admin_token = Some(ADMIN_TOKEN.into());
    })
    .await;
    let admin = app.app.admin_addr().expect("an admin listener");
    assert_ne!(admin, app.addr);
    let c = &app.client;
    let public = |p: &str| app.url(p);
    let private = |p: &str| format!("http://{admin}{p}");

    // Public: no metrics, no admin API, /health with its status only.
    for path in ["/metrics", "/admin/dlq", "/admin/events"] {
        let (status, body) = get(c, public(path), Some(ADMIN_TOKEN)).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (404, Some("not_found")),
            "{path}"
        );
    }
    let (status, body) = get(c, public("/health"), None).await;
    assert_eq!(status, 200);
    assert_eq!(body, serde_json::json!({"status": "ok"}));
    for path in ["/health/live", "/health/ready"] {
        assert_eq!(get(c, public(path), None).await.0, 200, "{path}");
    }
    let body = call_body();
    assert_eq!(
        app.post(CALLS, &body, Some(&gong_token(&body)))
            .await
            .status(),
        200
    );

    // Admin: all of it, and no webhooks.
    let (status, text) = (
        c.get(private("/metrics")).send().await.unwrap().status(),
        c.get(private("/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
    );
    assert_eq!(status, 200);
    assert!(text.contains("http_connections_open"), "{text}");
    let (status, dlq) = get(c, private("/admin/dlq"), Some(ADMIN_TOKEN)).await;
    assert_eq!(status, 200, "{dlq}");
    let (status, health) = get(c, private("/health"), None).await;
    assert_eq!(status, 200);
    assert_eq!(health["dependencies"]["store"]["status"], "ok", "{health}");
    assert!(
        health["snapshot_age_seconds"].as_f64().is_some(),
        "{health}"
    );
    let res = c.post(private(CALLS)).body(body).send().await.unwrap();
    assert_eq!(res.status(), 404);
    app.stop().await;
}

const CALLS: &str = "/webhook/gong/calls";

async fn every_405_and_431_has_a_json_body(db: TestDb) {
    let app = TestApp::spawn_with(&db, |c| c.admin_token = Some(ADMIN_TOKEN.into())).await;
    let c = &app.client;
    let wrong_methods = [
        (reqwest::Method::POST, "/health"),
        (reqwest::Method::DELETE, "/health/ready"),
        (reqwest::Method::POST, "/metrics"),
        (reqwest::Method::GET, CALLS),
        (reqwest::Method::PUT, "/webhook/gong/emails"),
        (reqwest::Method::GET, "/admin/backfill"),
    ];
    for (method, path) in wrong_methods {
        let req = c
            .request(method.clone(), app.url(path))
            .bearer_auth(ADMIN_TOKEN);
        let (status, body) = answer(req.send().await.unwrap()).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (405, Some("method_not_allowed")),
            "{method} {path}: {body}"
        );
        assert!(body["message"].is_string(), "{body}");
    }

    // Headers over our limits, below hyper's: one large header, or too many small ones.
    let body = call_body();
    let big = "a".repeat(40 * 1024);
    let res = c
        .post(app.url(CALLS))
        .header("x-padding", big)
        .body(body.clone());
    let (status, json) = answer(res.send().await.unwrap()).await;
    assert_eq!(
        (status, json["error"].as_str()),
        (431, Some("headers_too_large")),
        "{json}"
    );
    let mut req = c.post(app.url(CALLS)).body(body);
    for i in 0..150 {
        req = req.header(format!("x-h-{i}"), "v");
    }
    let (status, json) = answer(req.send().await.unwrap()).await;
    assert_eq!(
        (status, json["error"].as_str()),
        (431, Some("headers_too_large")),
        "{json}"
    );
    assert!(json["message"].as_str().unwrap().contains("100"), "{json}");
    app.stop().await;
}

/// `/health` reads its snapshot and queries nothing: with the inbox table locked (a
/// migration, a stuck transaction), a count of the inbox would wait for the lock, and
/// 64 concurrent pollers would each hold a connection of the store's pool meanwhile.
async fn health_answers_from_its_snapshot_while_the_store_is_locked(db: TestDb) {
    use sqlx::Connection;
    let app = TestApp::spawn(&db).await;
    let mut locker = sqlx::PgConnection::connect(&db.url).await.unwrap();
    let mut tx = locker.begin().await.unwrap();
    sqlx::query("LOCK TABLE inbox_events IN ACCESS EXCLUSIVE MODE")
        .execute(&mut *tx)
        .await
        .unwrap();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let started = Instant::now();
    let mut pollers = Vec::new();
    for _ in 0..64 {
        let (client, url) = (client.clone(), app.url("/health"));
        pollers.push(tokio::spawn(async move {
            let res = client.get(url).send().await.map_err(|e| e.to_string())?;
            let status = res.status().as_u16();
            let body: Value = res.json().await.map_err(|e| e.to_string())?;
            Ok::<_, String>((status, body))
        }));
    }
    for p in pollers {
        let (status, body) = p.await.unwrap().expect("/health answered within 5 s");
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["dependencies"]["store"]["status"], "ok", "{body}");
    }
    assert!(started.elapsed() < Duration::from_secs(5));
    let ready = client.get(app.url("/health/ready")).send().await.unwrap();
    assert_eq!(ready.status(), 200);
    tx.rollback().await.unwrap();
    let _ = locker.close().await;
    app.stop().await;
}

crate::on_both_backends!(
    admin_listener_keeps_operators_routes_off_the_public_port,
    every_405_and_431_has_a_json_body,
);
crate::on_postgres!(postgres_only: health_answers_from_its_snapshot_while_the_store_is_locked);
