//! `gong-relay demo`, the command a newcomer runs first: the real service and simulator,
//! the whole flow, a readable report, exit 0.

use std::path::Path;

use gong_relay::store::Store;
use gong_relay::warehouse::{self, CALLS, RAW};

/// Runs `gong-relay demo --calls N --exit` in `dir`, with `DATABASE_URL` naming a store
/// that must be left alone; returns the report.
fn run_demo(dir: &Path, calls: usize, database_url: &str) -> String {
    run_demo_with(dir, calls, &[("DATABASE_URL", database_url.to_owned())])
}

/// [`run_demo`] with a clean environment plus `env`.
fn run_demo_with(dir: &Path, calls: usize, env: &[(&str, String)]) -> String {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_gong-relay"));
    cmd.args(["demo", "--calls", &calls.to_string(), "--exit"])
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_shows_the_whole_flow_and_exits() {
    let dir = tempfile::tempdir().unwrap();
    // A DATABASE_URL in the environment (or a .env) must not receive the sample data.
    let real = dir.path().join("real.db");
    let real_url = format!("sqlite://{}", real.display());
    let r = run_demo(dir.path(), 4, &real_url);
    assert_eq!(r.matches("-> 200 {\"event_id\"").count(), 4, "{r}");
    assert!(
        r.contains("fired again") && r.contains("\"duplicate\":true"),
        "{r}"
    );
    assert!(
        r.contains("sent again") && r.matches("\"duplicate\":true").count() == 2,
        "{r}"
    );
    assert!(r.contains("\"error\":\"body_hash_mismatch\""), "{r}");
    assert!(r.contains("gong_calls_enhanced 4"), "{r}");
    assert!(!real.exists(), "the configured store was left alone");

    // Every call enhanced from the simulator, with a priority; notified.
    let demo_db = dir.path().join("gong-relay-demo.db");
    let store = Store::connect(&format!("sqlite://{}", demo_db.display()).into())
        .await
        .unwrap();
    let wh = warehouse::open(&store);
    let raw_rows = wh.select(&RAW, "kind", "call").await.unwrap();
    assert_eq!(raw_rows.len(), 4, "{raw_rows:?}");
    for raw in raw_rows {
        let id = raw["source_id"].as_str().unwrap();
        let row = wh.fetch(&CALLS, id).await.unwrap().expect("a row per call");
        assert_eq!(row["enhanced"], serde_json::json!(true), "{row:?}");
        assert!(row["priority"].as_str().is_some(), "{row:?}");
        assert!(r.contains(&format!("call:{id}:call_processed:g0")), "{r}");
    }
    store.close().await;

    // A second run starts from an empty demo store: its counts are its own.
    let again = run_demo(dir.path(), 2, &real_url);
    assert!(again.contains("gong_webhooks_raw 2 row(s)"), "{again}");
}

/// `WAREHOUSE=snowflake` with the `SNOWFLAKE_*` variables points the demo's warehouse at
/// Snowflake (here its stand-in): the report names it and counts the rows there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_can_write_to_snowflake() {
    let Some(standin) = crate::standin::Standin::shared() else {
        return;
    };
    let cfg = standin.config();
    let dir = tempfile::tempdir().unwrap();
    let r = run_demo_with(
        dir.path(),
        3,
        &[
            ("WAREHOUSE", "snowflake".into()),
            ("SNOWFLAKE_ACCOUNT", cfg.account.clone()),
            ("SNOWFLAKE_USER", cfg.user.clone()),
            ("SNOWFLAKE_PASSWORD", "secret".into()),
            ("SNOWFLAKE_DATABASE", cfg.database.clone()),
            ("SNOWFLAKE_HOST", cfg.host.clone()),
        ],
    );
    assert!(
        r.contains(&format!(
            "warehouse: Snowflake {}.GONG_WEBHOOKS",
            cfg.database
        )),
        "{r}"
    );
    assert!(r.contains("gong_calls_enhanced 3"), "{r}");
    let wh = gong_relay::warehouse::SnowflakeWarehouse::new(&cfg).unwrap();
    assert_eq!(
        gong_relay::warehouse::Warehouse::count(&wh, &CALLS)
            .await
            .unwrap(),
        3
    );
}
