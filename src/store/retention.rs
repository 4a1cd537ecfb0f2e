//! Retention of the inbox: payloads of done events are emptied once they are older than
//! `INBOX_RETENTION`.
//!
//! Emptied, not deleted: the row stays, without its body. Its raw body is already in the
//! warehouse's `gong_webhooks_raw` (the pipeline writes it before an event can be done), and
//! the row still serves what rows serve: duplicate detection by (kind, source id, body hash)
//! for as long as the store lives, the admin API's event view (state, history,
//! notifications), `reprocess` (which takes the body back from the raw table), and the
//! replay guard's link from a token to its event. What grows without retention is the
//! payloads (kilobytes each); what is left per row is a few hundred bytes, reached only
//! through indexes by every request (the insert's unique key, the claim's ready index),
//! so a year of rows does not make a request slower.
//!
//! Pruning goes a few hundred rows per statement, oldest first, through a partial index of
//! the done rows not yet pruned: each statement holds SQLite's write lock for a moment, and
//! the caller pauses between statements so that the inbox writer gets the lock in between.

use super::{Store, StoreError};

impl Store {
    /// Empties the payloads of up to `limit` done events last updated before `before_ms`,
    /// oldest first; returns how many. Pending, processing, failed and dead events keep
    /// theirs whatever their age: they may still need it.
    pub async fn prune_inbox_payloads(
        &self,
        before_ms: i64,
        limit: i64,
        now_ms: i64,
    ) -> Result<u64, StoreError> {
        // SQLite's planner, without statistics, prefers the ready index (status, run_at_ms)
        // and sorts every done row: 0.6-0.9 s per batch on 200,000 rows, against ~15 ms
        // through the partial index. PostgreSQL picks it from its statistics.
        let index = match self {
            Store::Sqlite(_) => "INDEXED BY inbox_events_prunable",
            Store::Postgres(_) => "",
        };
        let sql = format!(
            "UPDATE inbox_events SET payload = $1, payload_pruned_at_ms = $2 \
             WHERE event_id IN (SELECT event_id FROM inbox_events {index} \
             WHERE status = 'done' AND payload_pruned_at_ms IS NULL AND updated_at_ms < $3 \
             ORDER BY updated_at_ms LIMIT $4)"
        );
        let empty: &[u8] = &[];
        Ok(with_pool!(self, p => sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(empty)
            .bind(now_ms)
            .bind(before_ms)
            .bind(limit)
            .execute(p)
            .await?
            .rows_affected()))
    }

    /// Gives pruned events among those `reprocess` selects their body back from the
    /// warehouse's raw table (in the same database: the SQL warehouse shares the store's).
    /// An event whose raw row is gone stays pruned, and `reprocess` leaves it alone.
    pub(super) async fn restore_pruned(
        &self,
        event_id: Option<&str>,
        since_ms: Option<i64>,
        until_ms: Option<i64>,
    ) -> Result<u64, StoreError> {
        const FILTER: &str = "payload_pruned_at_ms IS NOT NULL AND status <> 'processing' \
             AND ($1 IS NULL OR event_id = $1) \
             AND ($2 IS NULL OR received_at_ms >= $2) AND ($3 IS NULL OR received_at_ms < $3)";
        // Only then is the raw table named: a store without the SQL warehouse's tables
        // (none pruned) never needs them.
        let count = format!("SELECT COUNT(*) FROM inbox_events WHERE {FILTER}");
        let pruned: i64 = with_pool!(self, p => sqlx::query_scalar(sqlx::AssertSqlSafe(count))
            .bind(event_id)
            .bind(since_ms)
            .bind(until_ms)
            .fetch_one(p)
            .await?);
        if pruned == 0 {
            return Ok(0);
        }
        // The raw table keeps the body as JSON text (SQLite) or JSONB (PostgreSQL, whose
        // text form is normalised: the same JSON, maybe not the same bytes).
        let body = match self {
            Store::Sqlite(_) => "CAST(r.payload AS BLOB)",
            Store::Postgres(_) => "convert_to(r.payload::text, 'UTF8')",
        };
        let sql = format!(
            "UPDATE inbox_events SET payload = (SELECT {body} FROM gong_webhooks_raw r \
             WHERE r.event_id = inbox_events.event_id), payload_pruned_at_ms = NULL \
             WHERE {FILTER} AND EXISTS (SELECT 1 FROM gong_webhooks_raw r \
             WHERE r.event_id = inbox_events.event_id AND r.payload IS NOT NULL)"
        );
        Ok(with_pool!(self, p => sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(event_id)
            .bind(since_ms)
            .bind(until_ms)
            .execute(p)
            .await?
            .rows_affected()))
    }
}
