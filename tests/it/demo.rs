//! `gong-relay demo`: the real service and simulator, the whole flow, a readable report.

use gong_relay::config::RawConfig;
use gong_relay::warehouse::CALLS;

use crate::helpers::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_shows_the_whole_flow() {
    let dir = tempfile::tempdir().unwrap();
    // A DATABASE_URL in the environment (or a .env) must not receive the sample data.
    let real = TestDb::new(Backend::Sqlite).await.unwrap();
    let raw = RawConfig {
        database_url: Some(real.url.clone()),
        log_level: Some("error".into()),
        ..Default::default()
    };
    let demo = gong_relay::demo::run(raw.clone(), dir.path(), 4, false)
        .await
        .unwrap();
    let r = &demo.report;
    assert_eq!(r.matches("-> 200 {\"event_id\"").count(), 4, "{r}");
    assert!(
        r.contains("fired again") && r.contains("\"duplicate\":true"),
        "{r}"
    );
    assert!(
        r.contains("replayed") && r.contains("-> 401 {\"error\":\"replayed\""),
        "{r}"
    );
    assert!(r.contains("\"error\":\"body_hash_mismatch\""), "{r}");
    assert!(r.contains("gong_calls_enhanced 4"), "{r}");
    // Every call enhanced from the simulator, with a priority; notified.
    let wh = demo.app.pipeline().warehouse().clone();
    for id in &demo.call_ids {
        let row = wh.fetch(&CALLS, id).await.unwrap().expect("a row per call");
        assert_eq!(row["enhanced"], serde_json::json!(true), "{row:?}");
        assert!(r.contains(&format!("call:{id}:call_processed:g0")), "{r}");
    }
    assert_eq!(demo.call_ids.len(), 4);
    demo.shutdown().await.unwrap();
    assert!(dir.path().join("gong-relay-demo.db").exists());
    assert!(
        !std::path::Path::new(real.url.trim_start_matches("sqlite://")).exists(),
        "the configured store was left alone"
    );

    // A second run starts from an empty demo store: its counts are its own.
    let again = gong_relay::demo::run(raw, dir.path(), 2, false)
        .await
        .unwrap();
    assert!(
        again.report.contains("gong_webhooks_raw 2 row(s)"),
        "{}",
        again.report
    );
    again.shutdown().await.unwrap();
}

/// The command a newcomer runs, as a process: exit 0 with the report on stdout.
#[test]
fn the_demo_command_runs_and_exits() {
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_gong-relay"))
        .args(["demo", "--calls", "2", "--exit"])
        .current_dir(dir.path())
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("gong_calls_enhanced 2"), "{stdout}");
    assert!(dir.path().join("gong-relay-demo.db").exists());
}
