//! Bad input gets a clear 4xx and stores nothing; good input on every route is stored once.

use serde_json::json;

use crate::helpers::*;

const CALLS: &str = "/webhook/gong/calls";

async fn hs(path: &str, body: &[u8]) -> String {
    sign_hs256(SECRET_NEW.as_bytes(), &hs_claims(path, body))
}

async fn oversized_body_is_413(db: TestDb) {
    let app = TestApp::spawn_with(&db, |c| c.max_body_bytes = Some("4096".into())).await;
    let body = call_body(); // 6.3 KB
    let (status, json) = answer(app.post(CALLS, &body, Some(&gong_token(&body))).await).await;
    assert_eq!(status, 413, "{json}");
    assert_eq!(json["error"], "payload_too_large");
    // The answer states the configured limit, so a sender knows what to split to.
    assert_eq!(
        json["message"],
        "the body is larger than MAX_BODY_BYTES (4096 bytes)"
    );
    // Without Content-Length (chunked), the limit holds while streaming too.
    let stream = reqwest::Body::wrap_stream(futures_stream(body.clone()));
    let token = gong_token(&body);
    let headers = [
        ("authorization", token.as_str()),
        ("content-type", "application/json"),
    ];
    assert_eq!(app.post_with(CALLS, stream, &headers).await.status(), 413);
    assert!(app.store().events().await.unwrap().is_empty());
    app.stop().await;
}

fn futures_stream(
    body: Vec<u8>,
) -> impl futures_core::Stream<Item = Result<Vec<u8>, std::io::Error>> + Send + 'static {
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        body.chunks(1000).map(|c| Ok(c.to_vec())).collect();
    tokio_stream::iter(chunks)
}

/// Posts the fixture with a Gong token and `header`, and no other header.
async fn post_signed_fixture(app: &TestApp, header: (&str, &str)) -> reqwest::Response {
    let (body, token) = signed_fixture();
    let headers = [("authorization", token.as_str()), header];
    app.post_with(CALLS, body, &headers).await
}

async fn non_json_content_type_is_415(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    let res = post_signed_fixture(&app, ("content-type", "text/plain")).await;
    let (status, json) = answer(res).await;
    assert_eq!(
        (status, json["error"].as_str()),
        (415, Some("unsupported_media_type"))
    );
    assert!(app.store().events().await.unwrap().is_empty());
    app.stop().await;
}

async fn malformed_and_incomplete_bodies_are_400(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (CALLS, b"{\"callData\": {".to_vec(), "malformed_json"),
        (CALLS, b"not json at all".to_vec(), "malformed_json"),
        (CALLS, b"[1, 2, 3]".to_vec(), "invalid_payload"),
        (CALLS, br#"{"isTest": false}"#.to_vec(), "invalid_payload"),
        (
            CALLS,
            br#"{"callData": "text"}"#.to_vec(),
            "invalid_payload",
        ),
        (
            CALLS,
            br#"{"callData": {"metaData": {}}}"#.to_vec(),
            "invalid_payload",
        ),
        (
            CALLS,
            br#"{"callData": {"metaData": {"id": ""}}}"#.to_vec(),
            "invalid_payload",
        ),
        (
            CALLS,
            br#"{"emailData": {"id": "e1"}}"#.to_vec(),
            "invalid_payload",
        ),
        (
            "/webhook/gong/emails",
            br#"{"emailData": {"subject": "no id"}}"#.to_vec(),
            "invalid_payload",
        ),
        (
            "/webhook/gong/meetings",
            br#"{"callData": {"metaData": {"id": "1"}}}"#.to_vec(),
            "invalid_payload",
        ),
        (
            CALLS,
            br#"{"callData": {"metaData": {"id": "1"}}, "isTest": "yes"}"#.to_vec(),
            "invalid_payload",
        ),
    ];
    for (path, body, code) in cases {
        let token = hs(path, &body).await;
        let (status, json) = answer(app.post(path, &body, Some(&token)).await).await;
        assert_eq!(
            status,
            400,
            "{path} {:?}: {json}",
            String::from_utf8_lossy(&body)
        );
        assert_eq!(json["error"], code, "{:?}", String::from_utf8_lossy(&body));
    }
    assert!(app.store().events().await.unwrap().is_empty());
    app.stop().await;
}

async fn emails_and_meetings_routes_store_their_events(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    let email = json!({
        "emailData": {"id": "em-1", "subject": "Pricing question", "direction": "Inbound",
                      "from": {"email": "buyer@globex.com"}, "unknownField": [1, 2]},
        "isTest": true
    })
    .to_string();
    let meeting = json!({"meetingData": {"id": 4242, "title": "QBR"}}).to_string();
    for (path, body, kind, id, is_test) in [
        (
            "/webhook/gong/emails",
            email.as_bytes(),
            "email",
            "em-1",
            true,
        ),
        (
            "/webhook/gong/meetings",
            meeting.as_bytes(),
            "meeting",
            "4242",
            false,
        ),
    ] {
        let token = hs(path, body).await;
        let e = app
            .stored(&app.accepted(path, body, Some(&token)).await)
            .await;
        assert_eq!(
            (e.kind.as_str(), e.source_id.as_str(), e.is_test),
            (kind, id, is_test)
        );
        assert_eq!(e.payload, body);
    }
    app.stop().await;
}

async fn unknown_route_is_404_and_wrong_method_405(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    for path in ["/webhook/gong/chats", "/", "/webhook/gong/calls/extra"] {
        let res = app.post_with(path, "{}", &[]).await;
        assert!(res.headers().contains_key("x-request-id"));
        let (status, json) = answer(res).await;
        assert_eq!(
            (status, json["error"].as_str()),
            (404, Some("not_found")),
            "{path}"
        );
    }
    let (status, json) = answer(app.client.get(app.url(CALLS)).send().await.unwrap()).await;
    assert_eq!(
        (status, json["error"].as_str()),
        (405, Some("method_not_allowed"))
    );
    app.stop().await;
}

async fn huge_headers_are_refused_and_the_server_lives_on(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    let big = "a".repeat(512 * 1024);
    let res = app
        .client
        .post(app.url(CALLS))
        .header("x-padding", big)
        .body(call_body())
        .send()
        .await;
    match res {
        Ok(r) => assert_eq!(r.status(), 431),
        // hyper may also close the connection before the client finishes writing.
        Err(e) => assert!(e.is_request() || e.is_body(), "{e}"),
    }
    let mut req = app.client.post(app.url(CALLS)).body(call_body());
    for i in 0..200 {
        req = req.header(format!("x-h-{i}"), "v");
    }
    match req.send().await {
        Ok(r) => assert_eq!(r.status(), 431),
        Err(e) => assert!(e.is_request() || e.is_body(), "{e}"),
    }
    let res = app.client.get(app.url("/health/live")).send().await;
    assert_eq!(res.unwrap().status(), 200);
    app.stop().await;
}

async fn duplicate_delivery_stores_one_event(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    let body = call_body();
    let (status, first) = answer(app.post(CALLS, &body, Some(&gong_token(&body))).await).await;
    assert_eq!(status, 200);
    assert!(first.get("duplicate").is_none());
    // Gong re-fires the same call: a new token, the same body.
    let (status, second) = answer(app.post(CALLS, &body, Some(&gong_token(&body))).await).await;
    assert_eq!(status, 200);
    assert_eq!(second["duplicate"], true);
    assert_eq!(second["event_id"], first["event_id"]);

    // Twenty concurrent deliveries of another call land in one or several batches.
    let other = call_body_for("5550001");
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let (sender, body, token) = (app.sender(), other.clone(), gong_token(&other));
        tasks.push(tokio::spawn(async move {
            let headers = [
                ("authorization", token.as_str()),
                ("content-type", "application/json"),
            ];
            answer(sender.post(CALLS, body, &headers).await.unwrap()).await
        }));
    }
    let mut ids = std::collections::HashSet::new();
    let mut fresh = 0;
    for t in tasks {
        let (status, json) = t.await.unwrap();
        assert_eq!(status, 200, "{json}");
        ids.insert(json["event_id"].as_str().unwrap().to_owned());
        if json.get("duplicate").is_none() {
            fresh += 1;
        }
    }
    assert_eq!(ids.len(), 1, "every delivery names the one stored event");
    assert_eq!(fresh, 1, "exactly one delivery stored it");
    assert_eq!(app.store().events().await.unwrap().len(), 2);
    app.stop().await;
}

async fn request_ids_are_echoed_stored_or_generated(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    let res = post_signed_fixture(&app, ("x-traceid", "gong-trace-77")).await;
    assert_eq!(res.headers()["x-request-id"], "gong-trace-77");
    let (_, json) = answer(res).await;
    let e = app.stored(json["event_id"].as_str().unwrap()).await;
    assert_eq!(e.request_id, "gong-trace-77");

    // The request id a GET answers with, when asked with these headers.
    let answered_id = async |path: &str, headers: &[(&str, &str)]| {
        let mut req = app.client.get(app.url(path));
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        let res = req.send().await.unwrap();
        res.headers()["x-request-id"].to_str().unwrap().to_owned()
    };
    assert_eq!(
        answered_id("/health", &[("x-request-id", "mine-1")]).await,
        "mine-1"
    );
    let generated = answered_id("/health", &[("x-request-id", "bad id with spaces")]).await;
    let uuid = uuid::Uuid::parse_str(&generated).unwrap();
    assert_eq!(uuid.get_version_num(), 7, "{generated}");
    // A refused X-Request-Id does not hide Gong's X-TraceId (a 404 carries it too).
    let long = "x".repeat(129);
    let headers = [
        ("x-request-id", long.as_str()),
        ("x-traceid", "gong-trace-78"),
    ];
    assert_eq!(answered_id("/nowhere", &headers).await, "gong-trace-78");
    app.stop().await;
}

async fn health_and_metrics_report(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    let body = call_body();
    assert_eq!(
        app.post(CALLS, &body, Some(&gong_token(&body)))
            .await
            .status(),
        200
    );
    assert_eq!(app.post(CALLS, &body, Some("x.y.z")).await.status(), 401);

    // The queue counts come from the health snapshot, refreshed every few seconds.
    let health = eventually(15, "the snapshot counting the event", || async {
        let res = app.client.get(app.url("/health")).send().await.unwrap();
        let (status, health) = answer(res).await;
        assert_eq!(status, 200, "{health}");
        (health["dependencies"]["queue"]["pending"] == 1).then_some(health)
    })
    .await;
    assert_eq!(health["status"], "ok");
    assert_eq!(health["dependencies"]["store"]["status"], "ok");
    let deps = &health["dependencies"];
    assert_eq!(
        deps["queue"]["pending"], 1,
        "a receive-only instance: {health}"
    );
    assert_eq!(deps["queue"]["dead_letter"], 0);
    assert!(
        deps["queue"]["oldest_pending_age_seconds"]
            .as_f64()
            .unwrap()
            >= 0.0
    );
    assert_eq!(deps["warehouse"]["status"], "ok");
    assert_eq!(deps["warehouse"]["backend"], deps["store"]["backend"]);
    assert_eq!(deps["gong_api"]["status"], "not_configured");
    assert_eq!(deps["redis"]["status"], "not_configured");
    assert_eq!(deps["workers"]["count"], 0);
    for path in ["/health/live", "/health/ready"] {
        assert_eq!(
            app.client.get(app.url(path)).send().await.unwrap().status(),
            200
        );
    }

    assert_contains_all(
        &app.get_text("/metrics").await,
        &[
            "webhook_requests_total{endpoint=\"calls\",status=\"200\"}",
            "webhook_requests_total{endpoint=\"calls\",status=\"401\"}",
            "webhook_verification_failures_total{reason=\"malformed_token\"}",
            "webhook_processing_duration_seconds_bucket{stage=\"receipt\"",
            "inbox_depth",
        ],
    );
    app.stop().await;
}

async fn shutdown_never_acknowledges_without_a_commit(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    let mut tasks = Vec::new();
    for i in 0..200 {
        let body = call_body_for(&format!("90{i}"));
        let (sender, token) = (app.sender(), gong_token(&body));
        tasks.push(tokio::spawn(async move {
            let res = sender.post(CALLS, body, &[("authorization", &token)]).await;
            let (status, json) = answer(res.ok()?).await;
            (status == 200).then(|| json["event_id"].as_str().unwrap().to_owned())
        }));
    }
    // Stop while requests are in flight: once the first one is answered.
    let mut tasks = futures_unordered(tasks);
    let first = tasks.next_answer().await.expect("a first answer");
    let store = db.store().await;
    app.stop().await;
    let mut acknowledged = 0;
    for id in std::iter::once(first).chain(tasks.rest().await).flatten() {
        acknowledged += 1;
        assert!(
            store.event(&id).await.unwrap().is_some(),
            "{id} acknowledged but not stored"
        );
    }
    assert!(acknowledged > 0);
    store.close().await;
}

/// Answers of spawned requests in the order they finish.
struct Answers(tokio::sync::mpsc::UnboundedReceiver<Option<String>>);

fn futures_unordered(tasks: Vec<tokio::task::JoinHandle<Option<String>>>) -> Answers {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    for t in tasks {
        let tx = tx.clone();
        tokio::spawn(async move {
            let _ = tx.send(t.await.unwrap());
        });
    }
    Answers(rx)
}

impl Answers {
    async fn next_answer(&mut self) -> Option<Option<String>> {
        self.0.recv().await
    }
    async fn rest(mut self) -> Vec<Option<String>> {
        let mut out = Vec::new();
        while let Some(a) = self.0.recv().await {
            out.push(a);
        }
        out
    }
}

async fn store_that_cannot_commit_answers_503_and_keeps_the_token(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    let (body, token) = signed_fixture();
    // Another session holds the write lock longer than the inbox waits for a commit.
    let blocker = hold_write_lock(&db).await;
    let (status, json) = answer(app.post(CALLS, &body, Some(&token)).await).await;
    assert_eq!(
        (status, json["error"].as_str()),
        (503, Some("store_unavailable")),
        "{json}"
    );
    release(blocker).await;
    assert!(app.store().events().await.unwrap().is_empty());
    // Nothing was stored, so the token was not used up: the sender's retry succeeds.
    let (status, json) = answer(app.post(CALLS, &body, Some(&token)).await).await;
    assert_eq!(status, 200, "{json}");
    app.stop().await;
}

enum Blocker {
    Sqlite(sqlx::SqliteConnection),
    Postgres(sqlx::PgConnection),
}

async fn hold_write_lock(db: &TestDb) -> Blocker {
    use sqlx::Connection;
    if db.url.starts_with("sqlite:") {
        let mut c = sqlx::SqliteConnection::connect(&db.url).await.unwrap();
        sqlx::query("BEGIN IMMEDIATE")
            .execute(&mut c)
            .await
            .unwrap();
        Blocker::Sqlite(c)
    } else {
        let mut c = sqlx::PgConnection::connect(&db.url).await.unwrap();
        sqlx::query("BEGIN").execute(&mut c).await.unwrap();
        sqlx::query("LOCK TABLE replay_tokens, inbox_events IN ACCESS EXCLUSIVE MODE")
            .execute(&mut c)
            .await
            .unwrap();
        Blocker::Postgres(c)
    }
}

async fn release(b: Blocker) {
    match b {
        Blocker::Sqlite(mut c) => {
            sqlx::query("ROLLBACK").execute(&mut c).await.unwrap();
        }
        Blocker::Postgres(mut c) => {
            sqlx::query("ROLLBACK").execute(&mut c).await.unwrap();
        }
    }
}

async fn trailing_slash_reaches_the_route(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    let body = call_body();
    let (status, json) = answer(
        app.post("/webhook/gong/calls/", &body, Some(&gong_token(&body)))
            .await,
    )
    .await;
    assert_eq!(status, 200, "{json}");
    app.stop().await;
}

/// A URL key whose last character is percent-encoded (base64 padding, say) is decoded
/// whole and accepted.
async fn url_key_ending_in_an_escape_is_decoded(db: TestDb) {
    let app = TestApp::spawn_with(&db, |c| {
        c.gong_webhook_url_keys = Some(json!(["abcdefghijklmnopqrstuvwxyz012345="]).to_string())
    })
    .await;
    let accepted = app
        .accepted(
            &format!("{CALLS}?key=abcdefghijklmnopqrstuvwxyz012345%3D"),
            &call_body(),
            None,
        )
        .await;
    let e = app.stored(&accepted).await;
    assert_eq!(e.auth_method, "url_key");
    app.stop().await;
}

crate::on_both_backends!(
    store_that_cannot_commit_answers_503_and_keeps_the_token,
    trailing_slash_reaches_the_route,
    url_key_ending_in_an_escape_is_decoded,
    oversized_body_is_413,
    non_json_content_type_is_415,
    malformed_and_incomplete_bodies_are_400,
    emails_and_meetings_routes_store_their_events,
    unknown_route_is_404_and_wrong_method_405,
    huge_headers_are_refused_and_the_server_lives_on,
    duplicate_delivery_stores_one_event,
    request_ids_are_echoed_stored_or_generated,
    health_and_metrics_report,
    shutdown_never_acknowledges_without_a_commit,
);
