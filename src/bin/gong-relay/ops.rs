//! The operator's commands: `check-config`, `dlq`, `reprocess` and `backfill`. Each opens
//! the configured store, does one thing, and says what it did. `dlq`, `reprocess` and
//! `backfill` work on the service's store: where there is none they say so, rather than
//! create an empty one and report an empty queue.

use std::time::Instant;

use gong_relay::app;
use gong_relay::config::Config;
use gong_relay::config::WarehouseKind;
use gong_relay::pipeline::reconcile;
use gong_relay::store::{EventFilter, EventStatus, Store, StoreError};
use gong_relay::verify::now_ms;

use crate::{BackfillArgs, DlqAction, ReprocessArgs};

pub async fn check_config(config: &Config) -> anyhow::Result<()> {
    // The verification check ran with the other variables' (Config::from_raw_for_serve).
    println!("configuration: valid (webhook keys included); now reaching the dependencies");
    for warning in config.warnings() {
        println!("warning: {warning}");
    }
    // A check changes nothing: a SQLite store that does not exist yet is reported, not
    // created, and the remaining checks run over a throwaway in-memory one.
    let (store, store_is_real) = match app::open_existing_store(config).await {
        Ok(store) => {
            let latency = store.ping().await?;
            println!(
                "store ({}): reachable in {:.1} ms",
                store.backend(),
                latency.as_secs_f64() * 1e3
            );
            (store, true)
        }
        Err(StoreError::NoStore { path }) => {
            println!("store (sqlite): none at {path} yet; `serve` or `migrate` creates it there");
            let memory = Store::connect(&"sqlite::memory:".to_owned().into()).await?;
            memory.migrate().await?;
            (memory, false)
        }
        Err(e) => return Err(e.into()),
    };
    if store_is_real || config.warehouse == WarehouseKind::Snowflake {
        let warehouse = app::open_warehouse(config, &store).await?;
        let started = Instant::now();
        warehouse.ping().await?;
        println!(
            "warehouse ({}): reachable in {:.1} ms",
            warehouse.backend(),
            started.elapsed().as_secs_f64() * 1e3
        );
    } else {
        println!("warehouse (sqlite): in the store, created with it");
    }
    match app::gong_link(config, &store)? {
        None => println!("gong api: not configured (enhancement skipped)"),
        Some(link) => {
            let started = Instant::now();
            let workspaces = link.client.workspaces().await?;
            println!(
                "gong api: reachable in {:.1} ms ({} workspace(s))",
                started.elapsed().as_secs_f64() * 1e3,
                workspaces.len()
            );
        }
    }
    match app::publisher(config, &store, Default::default())? {
        None => println!("redis: not configured (notifications stay in the outbox)"),
        Some(p) => {
            let latency = p.ping().await?;
            println!("redis: reachable in {:.1} ms", latency.as_secs_f64() * 1e3);
        }
    }
    store.close().await;
    Ok(())
}

pub async fn dlq(action: DlqAction, config: &Config) -> anyhow::Result<()> {
    let store = app::open_existing_store(config).await?;
    match action {
        DlqAction::List { limit } => {
            let filter = EventFilter {
                status: Some(EventStatus::Dead),
                limit,
                ..Default::default()
            };
            let events = store.list_events(&filter).await?;
            if events.is_empty() {
                println!("the dead-letter queue is empty");
            }
            for e in events {
                println!(
                    "{}  {:<7} {:<22} attempts {}  {}",
                    e.event_id,
                    e.kind,
                    e.source_id,
                    e.attempts,
                    e.last_error.unwrap_or_default()
                );
            }
        }
        DlqAction::Retry { event_id, all } => {
            let target = if all { None } else { event_id.as_deref() };
            let n = store.requeue_dead(target, now_ms()).await?;
            if n == 0 && !all {
                anyhow::bail!("no dead-lettered event with that id");
            }
            println!("requeued {n} event(s); a running `gong-relay serve` processes them");
        }
    }
    store.close().await;
    Ok(())
}

pub async fn reprocess(args: ReprocessArgs, config: &Config) -> anyhow::Result<()> {
    let time = |s: &Option<String>| -> anyhow::Result<Option<i64>> {
        s.as_deref()
            .map(|t| reconcile::parse_instant(t).map(|t| t.timestamp_millis()))
            .transpose()
            .map_err(|e| anyhow::anyhow!(e))
    };
    let (since, until) = (time(&args.since)?, time(&args.until)?);
    let store = app::open_existing_store(config).await?;
    let n = store
        .reprocess(args.event_id.as_deref(), since, until, now_ms())
        .await?;
    store.close().await;
    if n == 0 && args.event_id.is_some() {
        anyhow::bail!("no such event, or it is being processed right now");
    }
    println!("queued {n} event(s) for reprocessing; a running `gong-relay serve` processes them");
    Ok(())
}

pub async fn backfill(args: BackfillArgs, config: &Config) -> anyhow::Result<()> {
    let (from, to) = reconcile::period(&args.from, &args.to).map_err(|e| anyhow::anyhow!(e))?;
    let store = app::open_existing_store(config).await?;
    let Some(gong) = app::gong_link(config, &store)? else {
        anyhow::bail!("backfill needs the Gong API: set GONG_API_KEY or GONG_API_BEARER_TOKEN");
    };
    let report = reconcile::enqueue_period(&store, &gong.client, from, to, "backfill").await?;
    store.close().await;
    println!(
        "Gong listed {} call(s) from {from} to {to}: {} known already, {} queued; a running \
         `gong-relay serve` processes them",
        report.listed, report.known, report.queued
    );
    Ok(())
}
