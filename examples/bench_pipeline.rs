//! The pipeline under a burst (README, Benchmark): 1,000 signed call webhooks at once, Gong
//! limited to 3 requests/s (burst 10). Prints how long until every call is enhanced and
//! stored with its notification queued, and how many Gong requests that took.
//!
//! The service runs with its defaults (2.5 requests/s, burst 10, 4 workers) on a temporary
//! SQLite store, or on `DATABASE_URL` when set (e.g. a PostgreSQL database). With
//! `WAREHOUSE=snowflake` and the `SNOWFLAKE_*` variables, the warehouse is Snowflake (or
//! its stand-in: `scripts/snowflake-standin.sh run --port 8765`, then
//! `SNOWFLAKE_HOST=http://127.0.0.1:8765 SNOWFLAKE_ACCOUNT=a SNOWFLAKE_USER=u
//! SNOWFLAKE_PASSWORD=p`):
//!
//!   cargo run --release --example bench_pipeline -- [webhooks (1000)]

use std::collections::BTreeMap;
use std::time::Duration;

mod common;

use gong_relay::config::RawConfig;
use gong_relay::verify::now_ms;
use gong_relay::warehouse::CALLS;
use gong_sim::{self as simulator, SimConfig};

#[tokio::main]
async fn main() {
    let count = common::webhooks_arg();
    let sim = simulator::start(SimConfig {
        bind: "127.0.0.1:0".parse().unwrap(),
        rate_limit: 3.0,
        burst: 10,
        calls: 0,
        ..SimConfig::default()
    })
    .await
    .expect("simulator starts");

    let dir = tempfile::tempdir().unwrap();
    let database_url = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| format!("sqlite://{}", dir.path().join("bench.db").display()));
    let env = |k: &str| std::env::var(k).ok();
    let running = common::start(RawConfig {
        database_url: Some(database_url),
        gong_api_key: Some("sim-key:sim-secret".into()),
        gong_api_base_url: Some(sim.base_url()),
        gong_reconcile_interval: Some("0".into()),
        warehouse: env("WAREHOUSE"),
        snowflake_account: env("SNOWFLAKE_ACCOUNT"),
        snowflake_user: env("SNOWFLAKE_USER"),
        snowflake_password: env("SNOWFLAKE_PASSWORD"),
        snowflake_database: env("SNOWFLAKE_DATABASE"),
        snowflake_host: env("SNOWFLAKE_HOST"),
        ..Default::default()
    })
    .await;
    let store = running.store().clone();
    println!(
        "{count} call webhooks at once; simulator 3.0/s burst 10; service defaults; store {}, warehouse {}",
        store.backend(),
        running.pipeline().warehouse().backend()
    );
    let (started, sent_in) = common::burst(&running, count, Some(sim.base_url())).await;

    loop {
        let q = store.queue_stats(now_ms()).await.expect("queue stats");
        if q.done as usize >= count || started.elapsed() > Duration::from_secs(600) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let all_done = started.elapsed();
    let stats = store.queue_stats(now_ms()).await.unwrap();
    let rows = running.pipeline().warehouse().count(&CALLS).await.unwrap();
    let outbox = store.outbox_entries().await.unwrap();
    let processed = outbox
        .iter()
        .filter(|o| o.message_type == "call_processed")
        .count();
    let mut enhanced = 0;
    for e in store.events().await.unwrap() {
        if let Some(r) = running
            .pipeline()
            .warehouse()
            .fetch(&CALLS, &e.source_id)
            .await
            .unwrap()
            && r["enhanced"] == serde_json::json!(true)
        {
            enhanced += 1;
        }
    }
    let mut by_path: BTreeMap<(String, u16), usize> = BTreeMap::new();
    let requests = sim.requests();
    for r in &requests {
        *by_path.entry((r.path.clone(), r.status)).or_default() += 1;
    }
    println!(
        "accepted {count} in {:.2} s; all processed after {:.1} s (done {}, dead {}, retrying {})",
        sent_in.as_secs_f64(),
        all_done.as_secs_f64(),
        stats.done,
        stats.dead,
        stats.retrying
    );
    println!(
        "warehouse: {rows} call rows, {enhanced} enhanced; outbox: {processed} call_processed of {} notifications",
        outbox.len()
    );
    println!("Gong requests: {} in all", requests.len());
    for ((path, status), n) in by_path {
        println!("  {path} {status}: {n}");
    }
    running.shutdown().await.unwrap();
    sim.shutdown().await;
}
