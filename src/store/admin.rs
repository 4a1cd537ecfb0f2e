//! Inspecting and steering the queue: the admin API, the CLI, the reconciler and `/health`
//! use these.

use std::collections::HashSet;

use sqlx::FromRow;

use super::{EventStatus, Store, StoreError};
use crate::verify::EventKind;

/// Which events to list (every field optional).
#[derive(Debug, Clone, Default)]
pub struct EventFilter {
    pub status: Option<EventStatus>,
    pub kind: Option<EventKind>,
    pub since_ms: Option<i64>,
    pub until_ms: Option<i64>,
    pub limit: i64,
}

/// An event's state without its payload.
#[derive(Debug, Clone, FromRow, serde::Serialize)]
pub struct EventSummary {
    pub event_id: String,
    #[sqlx(try_from = "String")]
    pub kind: EventKind,
    pub source_id: String,
    #[sqlx(try_from = "String")]
    pub status: EventStatus,
    pub attempts: i32,
    pub generation: i32,
    pub received_at_ms: i64,
    pub run_at_ms: i64,
    pub updated_at_ms: i64,
    pub request_id: String,
    pub auth_method: String,
    pub is_test: bool,
    pub last_error: Option<String>,
}

const SUMMARY_COLUMNS: &str = "event_id, kind, source_id, status, attempts, generation, \
     received_at_ms, run_at_ms, updated_at_ms, request_id, auth_method, is_test, last_error";

/// An event that did not come by webhook (reconciler, backfill): trusted because we fetched
/// it from Gong ourselves.
#[derive(Debug, Clone)]
pub struct InternalEvent {
    pub event_id: String,
    pub kind: EventKind,
    pub source_id: String,
    pub payload: Vec<u8>,
    pub request_id: String,
    /// `reconciler` or `backfill`: recorded where a webhook records its verification.
    pub origin: &'static str,
}

/// Queue depth by state, and how long the oldest ready event has waited.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct QueueStats {
    pub pending: i64,
    pub processing: i64,
    pub retrying: i64,
    pub dead: i64,
    pub done: i64,
    pub oldest_pending_age_ms: Option<i64>,
}

impl Store {
    /// Events matching `f`, newest first.
    pub async fn list_events(&self, f: &EventFilter) -> Result<Vec<EventSummary>, StoreError> {
        // NULL parameters switch a condition off; one statement serves every filter.
        let sql = format!(
            "SELECT {SUMMARY_COLUMNS} FROM inbox_events \
             WHERE ($1 IS NULL OR status = $1) AND ($2 IS NULL OR kind = $2) \
             AND ($3 IS NULL OR received_at_ms >= $3) AND ($4 IS NULL OR received_at_ms < $4) \
             ORDER BY received_at_ms DESC, event_id DESC LIMIT $5"
        );
        let limit = f.limit.clamp(1, 10_000);
        Ok(
            with_pool!(self, p => sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(f.status.map(EventStatus::as_str))
            .bind(f.kind.map(EventKind::as_str))
            .bind(f.since_ms)
            .bind(f.until_ms)
            .bind(limit)
            .fetch_all(p)
            .await?),
        )
    }

    pub async fn event_summary(&self, event_id: &str) -> Result<Option<EventSummary>, StoreError> {
        let sql = format!("SELECT {SUMMARY_COLUMNS} FROM inbox_events WHERE event_id = $1");
        Ok(
            with_pool!(self, p => sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(event_id)
            .fetch_optional(p)
            .await?),
        )
    }

    /// Puts dead-lettered events back in the queue with fresh attempts: one event, or all
    /// of them when `event_id` is `None`. Returns how many were requeued.
    pub async fn requeue_dead(
        &self,
        event_id: Option<&str>,
        now_ms: i64,
    ) -> Result<u64, StoreError> {
        const SQL: &str = "UPDATE inbox_events SET status = 'pending', attempts = 0, \
             run_at_ms = $1, updated_at_ms = $1 \
             WHERE status = 'dead' AND ($2 IS NULL OR event_id = $2)";
        Ok(with_pool!(self, p => sqlx::query(SQL)
            .bind(now_ms)
            .bind(event_id)
            .execute(p)
            .await?
            .rows_affected()))
    }

    /// Runs events through the pipeline again: one by id, or every event received in
    /// `[since, until)`. Events being processed right now are left alone (their result is
    /// about to land). An event whose payload was pruned (`INBOX_RETENTION`) gets it back
    /// from the warehouse's raw table first, or is left alone when that row is gone too.
    /// Returns how many were queued.
    pub async fn reprocess(
        &self,
        event_id: Option<&str>,
        since_ms: Option<i64>,
        until_ms: Option<i64>,
        now_ms: i64,
    ) -> Result<u64, StoreError> {
        self.restore_pruned(event_id, since_ms, until_ms).await?;
        // A new generation: the new result is notified again (see the outbox migration).
        const SQL: &str = "UPDATE inbox_events SET status = 'pending', attempts = 0, \
             generation = generation + 1, run_at_ms = $1, updated_at_ms = $1 \
             WHERE status <> 'processing' AND payload_pruned_at_ms IS NULL \
             AND ($2 IS NULL OR event_id = $2) \
             AND ($3 IS NULL OR received_at_ms >= $3) AND ($4 IS NULL OR received_at_ms < $4)";
        Ok(with_pool!(self, p => sqlx::query(SQL)
            .bind(now_ms)
            .bind(event_id)
            .bind(since_ms)
            .bind(until_ms)
            .execute(p)
            .await?
            .rows_affected()))
    }

    /// Which of `source_ids` (of `kind`) have an event already, whatever its state.
    pub async fn known_sources(
        &self,
        kind: EventKind,
        source_ids: &[String],
    ) -> Result<HashSet<String>, StoreError> {
        let mut known = HashSet::new();
        // Chunks keep the statement under every backend's parameter limit.
        for chunk in source_ids.chunks(500) {
            let found: Vec<String> = with_pool!(self, p => {
                let mut qb = sqlx::QueryBuilder::new(
                    "SELECT DISTINCT source_id FROM inbox_events WHERE kind = ",
                );
                qb.push_bind(kind.as_str()).push(" AND source_id IN (");
                let mut list = qb.separated(", ");
                for id in chunk {
                    list.push_bind(id.as_str());
                }
                list.push_unseparated(")");
                qb.build_query_scalar().fetch_all(p).await?
            });
            known.extend(found);
        }
        Ok(known)
    }

    /// Queues events fetched from Gong (no webhook, no replay guard). An event whose
    /// content is stored already is skipped. Returns how many were queued.
    pub async fn enqueue_internal(
        &self,
        events: &[InternalEvent],
        now_ms: i64,
    ) -> Result<u64, StoreError> {
        let mut queued = 0;
        for chunk in events.chunks(200) {
            queued += with_pool!(self, p => {
                let mut qb = sqlx::QueryBuilder::new(
                    "INSERT INTO inbox_events (event_id, kind, source_id, body_sha256, payload, \
                     received_at_ms, request_id, auth_method, key_id, is_test, status, attempts, \
                     run_at_ms, updated_at_ms) ",
                );
                qb.push_values(chunk, |mut b, e| {
                    b.push_bind(e.event_id.as_str())
                        .push_bind(e.kind.as_str())
                        .push_bind(e.source_id.as_str())
                        .push_bind(crate::verify::sha256_hex(&e.payload))
                        .push_bind(e.payload.as_slice())
                        .push_bind(now_ms)
                        .push_bind(e.request_id.as_str())
                        .push_bind(e.origin)
                        .push_bind(None::<String>)
                        .push_bind(false)
                        .push_bind("pending")
                        .push_bind(0_i32)
                        .push_bind(now_ms)
                        .push_bind(now_ms);
                });
                qb.push(" ON CONFLICT (kind, source_id, body_sha256) DO NOTHING");
                qb.build().execute(p).await?.rows_affected()
            });
        }
        Ok(queued)
    }

    /// Counts by state and the age of the oldest event waiting to run.
    pub async fn queue_stats(&self, now_ms: i64) -> Result<QueueStats, StoreError> {
        const SQL: &str = "SELECT status, COUNT(*) FROM inbox_events GROUP BY status";
        let counts: Vec<(String, i64)> =
            with_pool!(self, p => sqlx::query_as(SQL).fetch_all(p).await?);
        let mut s = QueueStats::default();
        for (status, n) in counts {
            match EventStatus::parse(&status) {
                Some(EventStatus::Pending) => s.pending = n,
                Some(EventStatus::Processing) => s.processing = n,
                Some(EventStatus::Failed) => s.retrying = n,
                Some(EventStatus::Dead) => s.dead = n,
                Some(EventStatus::Done) => s.done = n,
                None => {}
            }
        }
        const OLDEST: &str = "SELECT MIN(received_at_ms) FROM inbox_events \
             WHERE status IN ('pending', 'processing', 'failed')";
        let oldest: Option<i64> =
            with_pool!(self, p => sqlx::query_scalar(OLDEST).fetch_one(p).await?);
        s.oldest_pending_age_ms = oldest.map(|t| (now_ms - t).max(0));
        Ok(s)
    }

    /// Ends every lease now. Only for a single-instance store (SQLite) at start: the
    /// process that held them is gone, so their events need not wait for the lease to end.
    pub async fn release_leases(&self, now_ms: i64) -> Result<u64, StoreError> {
        const SQL: &str = "UPDATE inbox_events SET lease_until_ms = $1 - 1 \
             WHERE status = 'processing'";
        Ok(with_pool!(self, p => sqlx::query(SQL)
            .bind(now_ms)
            .execute(p)
            .await?
            .rows_affected()))
    }
}
