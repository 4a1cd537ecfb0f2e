//! The reconciler and backfill: calls that no webhook brought.
//!
//! Gong does not retry a webhook delivery that failed (our outage, a network error, a rule
//! switched off for a while), so every `GONG_RECONCILE_INTERVAL` the reconciler lists the
//! calls of the last `GONG_RECONCILE_LOOKBACK` and queues those the inbox has never seen.
//! A queued call carries only its metadata; the pipeline fetches the rest like for any
//! webhook. Backfill is the same over a period an operator chooses.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::json;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::store::{InternalEvent, Store, StoreError};
use crate::telemetry;
use crate::verify::EventKind;
use crate::verify::now_ms;
use gong_api::{GongClient, GongError};

#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    #[error(transparent)]
    Gong(#[from] GongError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What one pass found.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Report {
    /// Calls Gong listed in the period.
    pub listed: usize,
    /// Of those, calls the inbox knew already.
    pub known: usize,
    /// Calls queued now.
    pub queued: u64,
}

/// Lists the calls of `[from, to)` and queues the ones never seen. `origin` is recorded as
/// the event's auth method (`reconciler` or `backfill`). A long period goes a day at a
/// time, so memory holds one day's call list, not a year's.
pub async fn enqueue_period(
    store: &Store,
    gong: &GongClient,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    origin: &'static str,
) -> Result<Report, ReconcileError> {
    let mut total = Report::default();
    let mut start = from;
    while start < to {
        let end = (start + chrono::Duration::days(1)).min(to);
        let r = enqueue_window(store, gong, start..end, origin).await?;
        total.listed += r.listed;
        total.known += r.known;
        total.queued += r.queued;
        start = end;
    }
    Ok(total)
}

/// One window of `enqueue_period` (`[start, end)`).
async fn enqueue_window(
    store: &Store,
    gong: &GongClient,
    window: std::ops::Range<DateTime<Utc>>,
    origin: &'static str,
) -> Result<Report, ReconcileError> {
    let calls = gong.list_calls(window.start, window.end, None).await?;
    let ids: Vec<String> = calls
        .iter()
        .filter_map(|c| c.id.as_ref().map(ToString::to_string))
        .collect();
    let known = store.known_sources(EventKind::Call, &ids).await?;
    let events: Vec<InternalEvent> = calls
        .iter()
        .filter_map(|meta| {
            let id = meta.id.as_ref()?.to_string();
            if known.contains(&id) {
                return None;
            }
            // Only the metadata: the pipeline asks Gong for the full data. Being known
            // (above) is what keeps a later pass from queueing the call again.
            let body = json!({"callData": {"metaData": meta}, "isTest": false});
            Some(InternalEvent {
                event_id: uuid::Uuid::now_v7().to_string(),
                kind: EventKind::Call,
                source_id: id,
                payload: serde_json::to_vec(&body).unwrap_or_default(),
                request_id: uuid::Uuid::now_v7().to_string(),
                origin,
            })
        })
        .collect();
    let queued = store.enqueue_internal(&events, now_ms()).await?;
    Ok(Report {
        listed: ids.len(),
        known: known.len(),
        queued,
    })
}

/// Runs the reconciler every `interval` until `stop`; `on_queued` is called when a pass
/// queued something (to wake the workers).
pub fn spawn(
    store: Store,
    gong: Arc<GongClient>,
    interval: Duration,
    lookback: Duration,
    mut stop: watch::Receiver<bool>,
    on_queued: impl Fn() + Send + 'static,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        // The first pass waits one interval: at start-up the webhooks of the last minutes
        // are still arriving, and a pass now would race them for the same calls.
        let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = stop.changed() => return,
            }
            let _busy = telemetry::BackgroundTask::start();
            // The newest calls are left to their webhooks for a while: Gong fires them only
            // after processing a call, and a pass that took them would process each twice.
            let settle = (interval * 2).min(Duration::from_secs(3600));
            let now = Utc::now();
            let to = now - chrono::Duration::from_std(settle).unwrap_or_default();
            let from =
                now - chrono::Duration::from_std(lookback).unwrap_or(chrono::Duration::days(1));
            if from >= to {
                continue;
            }
            match enqueue_period(&store, &gong, from, to, "reconciler").await {
                Ok(r) => {
                    if r.queued > 0 {
                        tracing::warn!(
                            listed = r.listed,
                            queued = r.queued,
                            "reconciler queued calls that no webhook brought"
                        );
                        on_queued();
                    } else {
                        tracing::debug!(listed = r.listed, "reconciler: nothing missing");
                    }
                }
                Err(e) => tracing::warn!(error = %e, "reconciler pass failed; next pass retries"),
            }
        }
    })
}

/// Parses a period given as RFC 3339 times (or dates, taken as UTC midnight).
pub fn period(from: &str, to: &str) -> Result<(DateTime<Utc>, DateTime<Utc>), String> {
    let from = parse_instant(from)?;
    let to = parse_instant(to)?;
    if from >= to {
        return Err(format!("from ({from}) must be before to ({to})"));
    }
    Ok((from, to))
}

pub fn parse_instant(s: &str) -> Result<DateTime<Utc>, String> {
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc())
        .ok_or_else(|| format!("{s:?} is not an RFC 3339 time or a YYYY-MM-DD date"))
}
