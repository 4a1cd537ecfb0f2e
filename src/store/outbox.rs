//! The outbox: notifications written with the event's completion, published later.
//!
//! An event becomes `done` (or `dead`) in the same transaction that queues its
//! notifications, and only while the worker still holds the lease: a finished event always
//! has its notifications, and a worker that lost its lease writes none. Notification ids
//! are deterministic, so a second completion of the same thing inserts nothing.

use serde_json::Value;
use sqlx::FromRow;

use super::queue::TRANSITION;
use super::{Claimed, Final, Store, StoreError};

/// A notification to queue (the message agents receive is `message`; architecture §9).
#[derive(Debug, Clone)]
pub struct OutboxMessage {
    pub notification_id: String,
    pub event_id: String,
    pub message_type: String,
    pub priority: String,
    pub is_test: bool,
    pub message: Value,
}

/// A queued notification, as the publisher and the tests read it.
#[derive(Debug, Clone, FromRow)]
pub struct OutboxEntry {
    pub notification_id: String,
    pub event_id: String,
    pub message_type: String,
    pub priority: String,
    pub is_test: bool,
    pub message: String,
    pub created_at_ms: i64,
    pub published_at_ms: Option<i64>,
    pub attempts: i32,
    /// Set while a publisher holds the row.
    pub lease_id: Option<String>,
}

const OUTBOX_COLUMNS: &str = "notification_id, event_id, message_type, priority, is_test, \
     message, created_at_ms, published_at_ms, attempts, lease_id";

impl Store {
    /// Ends a claimed event (`done` or `dead` with `error`) and queues `messages`, in one
    /// transaction. False, and nothing written, when the lease is no longer ours.
    pub async fn finish(
        &self,
        c: &Claimed,
        status: Final,
        error: Option<&str>,
        messages: &[OutboxMessage],
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let insert = "INSERT INTO outbox (notification_id, event_id, message_type, priority, \
             is_test, message, created_at_ms, next_attempt_at_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $7) ON CONFLICT (notification_id) DO NOTHING";
        with_pool!(self, p => {
            let mut tx = p.begin().await?;
            let owned = sqlx::query(TRANSITION)
                .bind(status.status().as_str())
                .bind(None::<i64>)
                .bind(error)
                .bind(0_i32)
                .bind(now_ms)
                .bind(&c.event_id)
                .bind(&c.lease_id)
                .execute(&mut *tx)
                .await?
                .rows_affected()
                == 1;
            if !owned {
                tx.rollback().await?;
                return Ok(false);
            }
            for m in messages {
                sqlx::query(insert)
                    .bind(&m.notification_id)
                    .bind(&m.event_id)
                    .bind(&m.message_type)
                    .bind(&m.priority)
                    .bind(m.is_test)
                    .bind(m.message.to_string())
                    .bind(now_ms)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
        });
        Ok(true)
    }

    /// The notifications queued for one event, oldest first.
    pub async fn outbox_for_event(&self, event_id: &str) -> Result<Vec<OutboxEntry>, StoreError> {
        let sql = format!(
            "SELECT {OUTBOX_COLUMNS} FROM outbox WHERE event_id = $1 \
             ORDER BY created_at_ms, notification_id"
        );
        Ok(
            with_pool!(self, p => sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(event_id)
            .fetch_all(p)
            .await?),
        )
    }

    /// Every queued notification (tests and the demo).
    pub async fn outbox_entries(&self) -> Result<Vec<OutboxEntry>, StoreError> {
        let sql =
            format!("SELECT {OUTBOX_COLUMNS} FROM outbox ORDER BY created_at_ms, notification_id");
        Ok(
            with_pool!(self, p => sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .fetch_all(p)
            .await?),
        )
    }

    /// Notifications not yet published (the `outbox_pending` gauge).
    pub async fn outbox_pending(&self) -> Result<i64, StoreError> {
        const SQL: &str = "SELECT COUNT(*) FROM outbox WHERE published_at_ms IS NULL";
        Ok(with_pool!(self, p => sqlx::query_scalar(SQL).fetch_one(p).await?))
    }

    /// Claims up to `limit` unpublished notifications whose time has come, oldest first,
    /// for `lease_ms`. On PostgreSQL concurrent publishers skip each other's rows, so no
    /// two replicas publish the same row at once.
    pub async fn claim_outbox(
        &self,
        limit: i64,
        lease_ms: i64,
        now_ms: i64,
    ) -> Result<Vec<OutboxEntry>, StoreError> {
        let lease = uuid::Uuid::now_v7().to_string();
        let lock = self.skip_locked();
        // One lease id per row (the claim's id and the row's), so a mark names its rows.
        let sql = format!(
            "UPDATE outbox SET lease_id = $2 || ':' || notification_id, \
             lease_until_ms = $1 + $3 WHERE notification_id IN (SELECT notification_id \
             FROM outbox WHERE published_at_ms IS NULL AND next_attempt_at_ms <= $1 \
             AND (lease_until_ms IS NULL OR lease_until_ms < $1) \
             ORDER BY created_at_ms LIMIT $4 {lock}) RETURNING {OUTBOX_COLUMNS}"
        );
        let mut rows: Vec<OutboxEntry> = with_pool!(self, p => sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(now_ms)
            .bind(&lease)
            .bind(lease_ms)
            .bind(limit)
            .fetch_all(p)
            .await?);
        rows.sort_by_key(|r| r.created_at_ms);
        Ok(rows)
    }

    /// Marks claimed notifications published (fenced by their lease ids). Returns how many
    /// were still ours.
    pub async fn mark_published(&self, lease_ids: &[&str], now_ms: i64) -> Result<u64, StoreError> {
        self.release_outbox("published_at_ms = ", now_ms, None, lease_ids)
            .await
    }

    /// Gives claimed notifications back, to be tried again at `retry_at_ms` (Redis could
    /// not take them). There is no attempt limit: an outage only delays.
    pub async fn retry_outbox(
        &self,
        lease_ids: &[&str],
        retry_at_ms: i64,
        error: &str,
    ) -> Result<u64, StoreError> {
        self.release_outbox("next_attempt_at_ms = ", retry_at_ms, Some(error), lease_ids)
            .await
    }

    /// Ends the lease of rows by lease id, setting `column` to `value` (and `last_error`).
    async fn release_outbox(
        &self,
        column: &'static str,
        value: i64,
        error: Option<&str>,
        lease_ids: &[&str],
    ) -> Result<u64, StoreError> {
        let mut done = 0;
        for chunk in lease_ids.chunks(500) {
            done += with_pool!(self, p => {
                let mut qb = sqlx::QueryBuilder::new("UPDATE outbox SET ");
                qb.push(column)
                    .push_bind(value)
                    .push(", attempts = attempts + 1, lease_id = NULL, lease_until_ms = NULL, last_error = COALESCE(")
                    .push_bind(error)
                    .push(", last_error) WHERE lease_id IN (");
                let mut list = qb.separated(", ");
                for id in chunk {
                    list.push_bind(*id);
                }
                list.push_unseparated(")");
                qb.build().execute(p).await?.rows_affected()
            });
        }
        Ok(done)
    }

    /// Deletes up to `limit` notifications published before `before_ms`. Unpublished rows
    /// are never deleted, however old.
    pub async fn prune_outbox(&self, before_ms: i64, limit: i64) -> Result<u64, StoreError> {
        const SQL: &str = "DELETE FROM outbox WHERE notification_id IN (SELECT notification_id \
             FROM outbox WHERE published_at_ms IS NOT NULL AND published_at_ms < $1 LIMIT $2)";
        Ok(with_pool!(self, p => sqlx::query(SQL)
            .bind(before_ms)
            .bind(limit)
            .execute(p)
            .await?
            .rows_affected()))
    }

    /// Ends every outbox lease: on a SQLite store (one process) leases found at start were
    /// held by a publisher that died, and need not wait to run out.
    pub async fn release_outbox_leases(&self) -> Result<u64, StoreError> {
        const SQL: &str = "UPDATE outbox SET lease_id = NULL, lease_until_ms = NULL \
             WHERE lease_id IS NOT NULL AND published_at_ms IS NULL";
        Ok(with_pool!(self, p => sqlx::query(SQL).execute(p).await?.rows_affected()))
    }
}
