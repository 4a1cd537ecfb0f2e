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
}

const OUTBOX_COLUMNS: &str = "notification_id, event_id, message_type, priority, is_test, \
     message, created_at_ms, published_at_ms, attempts";

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
                .bind(status.as_str())
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
}
