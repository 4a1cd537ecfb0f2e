//! Notifications under a burst (DEVELOPERS.md, Benchmark): N signed call webhooks at once
//! (default 1,000; calls made up by the simulator's generator) to the service on a fresh
//! SQLite store with Redis and no Gong key, so each call is stored unenhanced with its
//! notifications (`call_processed`, and the insights and actions its content gives: about
//! five per call). Then, from the outbox rows, how long after its commit each notification
//! was published (`published_at_ms - created_at_ms`: p50, p95, p99, max), and how many
//! were published per second from the first commit to the last publish (which includes
//! waiting for the webhooks and the workers). Figures only; nothing is asserted.
//!
//!   cargo run --release --example bench_notify -- [webhooks (1000)]
//!
//! Redis is `REDIS_URL` (default redis://127.0.0.1:6379/0); the keys go under a prefix of
//! their own (`bench:<uuid>`), deleted at the end.

mod common;

use std::time::Duration;

use gong_relay::config::RawConfig;
use gong_relay::verify::now_ms;

#[tokio::main]
async fn main() {
    let count = common::webhooks_arg();
    let redis_url =
        std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379/0".into());
    let prefix = format!("bench:{}", uuid::Uuid::now_v7());
    let dir = tempfile::tempdir().unwrap();
    let running = common::start(RawConfig {
        database_url: Some(format!(
            "sqlite://{}",
            dir.path().join("bench.db").display()
        )),
        redis_url: Some(redis_url.clone()),
        redis_key_prefix: Some(prefix.clone()),
        ..Default::default()
    })
    .await;
    let store = running.store().clone();
    println!("{count} call webhooks at once, no Gong key; SQLite store; Redis {redis_url}");
    let (started, sent_in) = common::burst(&running, count, None).await;

    loop {
        let done = store.queue_stats(now_ms()).await.expect("queue stats").done;
        let pending = store.outbox_pending().await.expect("outbox");
        if (done as usize >= count && pending == 0) || started.elapsed() > Duration::from_secs(600)
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let all_published = started.elapsed();
    let rows = store.outbox_entries().await.unwrap();
    let mut delays: Vec<i64> = rows
        .iter()
        .filter_map(|o| o.published_at_ms.map(|p| p - o.created_at_ms))
        .collect();
    delays.sort_unstable();
    let first_commit = rows.iter().map(|o| o.created_at_ms).min().unwrap_or(0);
    let last_publish = rows.iter().filter_map(|o| o.published_at_ms).max();
    let pct = |q: f64| {
        let i = ((q * delays.len() as f64).ceil() as usize).saturating_sub(1);
        delays.get(i.min(delays.len().saturating_sub(1))).copied()
    };
    println!(
        "accepted {count} in {:.2} s; all published after {:.2} s",
        sent_in.as_secs_f64(),
        all_published.as_secs_f64()
    );
    println!(
        "notifications: {} queued, {} published",
        rows.len(),
        delays.len()
    );
    println!(
        "commit-to-publish delay (ms): p50 {:?}, p95 {:?}, p99 {:?}, max {:?}",
        pct(0.50).unwrap_or_default(),
        pct(0.95).unwrap_or_default(),
        pct(0.99).unwrap_or_default(),
        delays.last().copied().unwrap_or_default()
    );
    if let Some(last) = last_publish {
        let span = (last - first_commit).max(1) as f64 / 1e3;
        println!(
            "throughput: {:.0} notifications/s (first commit to last publish, {span:.2} s)",
            delays.len() as f64 / span
        );
    }
    running.shutdown().await.unwrap();
    delete_keys(&redis_url, &prefix);
}

/// Deletes the keys the run left (its TTL keys and its stream).
fn delete_keys(url: &str, prefix: &str) {
    use redis::Commands;
    let client = redis::Client::open(url).unwrap();
    let mut conn = client.get_connection().unwrap();
    let keys: Vec<String> = conn
        .scan_match::<_, String>(format!("{prefix}:*"))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    for key in keys {
        let _: () = conn.del(key).unwrap();
    }
}
