//! `/metrics` and `/health` read the same queue numbers: both come from one refresh of the
//! health snapshot, so after a burst neither runs ahead of the other. Against the real
//! binary, since the metrics recorder is process-wide and the other tests' apps share it.

use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::*;

/// The value of the unlabelled gauge `name` in a Prometheus text page.
fn gauge(page: &str, name: &str) -> Option<i64> {
    page.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
        .map(|v| v.trim().parse::<f64>().unwrap() as i64)
}

async fn metrics_and_health_agree_after_a_burst(db: TestDb) {
    let dir = tempfile::tempdir().unwrap();
    // No workers: the burst stays in the inbox, so the numbers only move with the burst.
    let env = [
        ("GONG_WEBHOOK_SECRETS", json!([SECRET_NEW]).to_string()),
        ("WORKERS", "0".to_owned()),
    ];
    let (mut child, addr) = spawn_serve(&db, dir.path(), &env);
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    for i in 0..20 {
        let res = post_signed_call(&client, &addr, &format!("77{i:03}"))
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
    }
    let get = |path: &'static str| {
        let (client, addr) = (client.clone(), addr.clone());
        async move {
            let url = format!("http://{addr}{path}");
            client.get(url).send().await.unwrap().text().await.unwrap()
        }
    };
    let queue = |health: String| {
        let h: Value = serde_json::from_str(&health).unwrap();
        let q = &h["dependencies"]["queue"];
        let depth = ["pending", "processing", "retrying"]
            .iter()
            .map(|k| q[k].as_i64().unwrap())
            .sum::<i64>();
        (depth, q["outbox_pending"].as_i64().unwrap())
    };
    // Right after the burst, and again once a refresh has counted it: /metrics between two
    // equal /health reads (no refresh in between) shows their numbers.
    let mut seen = Vec::new();
    for _ in 0..40 {
        let before = queue(get("/health").await);
        let page = get("/metrics").await;
        let after = queue(get("/health").await);
        if before != after {
            continue;
        }
        let metrics = (
            gauge(&page, "inbox_depth").unwrap_or(0),
            gauge(&page, "outbox_pending").unwrap_or(0),
        );
        assert_eq!(metrics, before, "/metrics against /health");
        seen.push(before);
        if before.0 == 20 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert_eq!(seen.last(), Some(&(20, 0)), "{seen:?}");
    child.kill().unwrap();
    child.wait().unwrap();
}

crate::on_sqlite!(sqlite: metrics_and_health_agree_after_a_burst);
