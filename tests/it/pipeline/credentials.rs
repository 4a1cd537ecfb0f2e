//! Gong refuses our credentials (a revoked key, the wrong tenant host): a configuration
//! error, not the events' fault. Events wait without using attempts, the Gong breaker opens
//! and `/health` says why, and everything completes once Gong accepts the key again.

use serde_json::{Value, json};

use super::*;

/// MAX_ATTEMPTS 1: an attempt spent on the refusal would dead-letter the event at once.
async fn rejected_credentials_postpone_events_until_accepted(db: TestDb) {
    let sim = simulator_with(|_| {}).await;
    let calls = sim.create_calls(3);
    let user = internal_email(&calls[0]);
    sim.set_credentials_rejected(true);
    let app = TestApp::spawn_with(&db, |c| {
        pipeline_config(&sim)(c);
        c.max_attempts = Some("1".into());
        c.gong_api_breaker_cool_down = Some("300ms".into());
    })
    .await;
    let mut events = post_calls(&app, &calls).await;
    events.push(post_hs256(&app, "/webhook/gong/emails", &email_webhook(&user)).await);

    let gong_health = || async {
        let health: Value = serde_json::from_str(&app.get_text("/health").await).unwrap();
        health["dependencies"]["gong_api"].clone()
    };
    let degraded = eventually(30, "/health to show the refusal", || async {
        let g = gong_health().await;
        (g["status"] == json!("degraded")).then_some(g)
    })
    .await;
    let last_error = degraded["last_error"].as_str().unwrap_or_default();
    assert!(
        last_error.contains("credentials rejected (401)"),
        "{degraded}"
    );
    assert!(!last_error.contains("sim-secret"), "{degraded}");
    // Several cool-downs: each lets one probe meet the refusal again.
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    for e in &events {
        let s = summary(&app, e).await;
        assert_ne!(s.status, "dead", "a refused key dead-lettered {s:?}");
        assert!(s.attempts <= 1, "the refusal used attempts: {s:?}");
        assert!(outbox_types(&app, e).await.is_empty(), "{s:?}");
    }
    let probes = sim.requests().len();
    assert!(
        probes < 30,
        "{probes} requests to Gong while it refused the key"
    );

    sim.set_credentials_rejected(false);
    wait_all(&app, &events, "done", 30).await;
    for e in &events {
        let s = summary(&app, e).await;
        assert_eq!(s.attempts, 1, "done with its first attempt: {s:?}");
    }
    let healthy = gong_health().await;
    assert_eq!(healthy["status"], json!("ok"), "{healthy}");
    stop(app, sim).await;
}

crate::on_both_backends!(rejected_credentials_postpone_events_until_accepted);
