//! The inbox as a job queue: claim with a lease, then complete, retry or dead-letter.
//!
//! Each claimed event gets its own lease id, a fencing token: every later transition says
//! `WHERE lease_id = ?`, so a worker whose lease expired (and whose event was reclaimed by
//! another) cannot overwrite the new owner's result. A claim increments `attempts` in the
//! same statement, so an event that crashes its worker every time is seen to exceed
//! `MAX_ATTEMPTS` by the next claimer, which dead-letters it. Retries are rows with a later
//! `run_at`, not sleeps.
//!
//! Leases and versions come from the store, never from a process's clock: lease times are
//! the database's clock (PostgreSQL's `clock_timestamp()`; SQLite's is the host's, shared by
//! every process of its one host), and each claim's version comes from the `claim_clock`
//! counter, which only grows. A process whose clock runs ahead can neither take over a live
//! lease nor write rows whose version beats a later claim's.

use sqlx::FromRow;

use super::{EventStatus, Store, StoreError};
use crate::verify::EventKind;

/// An event claimed for processing.
#[derive(Debug, Clone, FromRow)]
pub struct Claimed {
    pub event_id: String,
    #[sqlx(try_from = "String")]
    pub kind: EventKind,
    pub source_id: String,
    pub payload: Vec<u8>,
    pub request_id: String,
    pub is_test: bool,
    pub received_at_ms: i64,
    pub auth_method: String,
    pub key_id: Option<String>,
    pub body_sha256: String,
    /// Including this claim.
    pub attempts: i32,
    /// Bumped by each reprocess request.
    pub generation: i32,
    pub lease_id: String,
    /// The version of the rows this claim writes: handed out by the store, higher for every
    /// later claim, so a later claim's rows win whatever the processes' clocks say.
    pub version: i64,
}

/// Every transition of a claimed event: applies only while the lease is ours (fencing).
/// COALESCE keeps run_at and last_error when a transition does not set them; `$4`
/// gives back attempts (a postponement is not an attempt). An event that ends `done` has
/// no error: the current state says how it ended, the failures before it stay in
/// `webhook_processing_history`. Binds: status, run_at_ms, error, refund, now_ms,
/// event_id, lease_id.
pub(super) const TRANSITION: &str = "UPDATE inbox_events SET status = $1, \
     run_at_ms = COALESCE($2, run_at_ms), \
     last_error = CASE WHEN $1 = 'done' THEN NULL ELSE COALESCE($3, last_error) END, \
     attempts = attempts - $4, lease_id = NULL, lease_until_ms = NULL, updated_at_ms = $5 \
     WHERE event_id = $6 AND lease_id = $7 AND status = 'processing'";

/// Whether a rescheduled event used its attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retry {
    /// The attempt failed for the event's own reasons: it counts toward MAX_ATTEMPTS.
    Attempted,
    /// It could not be tried (an outage): the attempt is given back.
    Postponed,
}

/// How a claimed event ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Final {
    Done,
    /// The dead-letter queue.
    Dead,
}

impl Final {
    pub fn status(self) -> EventStatus {
        match self {
            Final::Done => EventStatus::Done,
            Final::Dead => EventStatus::Dead,
        }
    }
}

/// Ready: pending or waiting for a retry whose time has come, or processing under a lease
/// that expired (its worker died). `{now}` is the store's clock.
const READY: &str = "(status IN ('pending', 'failed') AND run_at_ms <= {now}) \
                     OR (status = 'processing' AND lease_until_ms < {now})";

const CLAIMED_COLUMNS: &str = "event_id, kind, source_id, payload, request_id, is_test, \
     received_at_ms, auth_method, key_id, body_sha256, attempts, generation, lease_id, \
     claim_version AS version";

impl Store {
    /// The store's clock in Unix epoch milliseconds, as SQL. PostgreSQL's: one clock for
    /// every replica. SQLite's: the host's, the one clock of a single-host store.
    pub(super) fn clock_ms(&self) -> &'static str {
        match self {
            Store::Sqlite(_) => "CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER)",
            Store::Postgres(_) => "(EXTRACT(EPOCH FROM clock_timestamp()) * 1000)::BIGINT",
        }
    }

    /// Claims up to `limit` ready events for `lease_ms` of the store's clock, oldest
    /// `run_at` first. On PostgreSQL, concurrent claimers (several processes) skip each
    /// other's rows. The claim's version is the next value of `claim_clock`
    /// (max(previous + 1, the store's clock), so it stays comparable with versions written
    /// as times before).
    pub async fn claim(&self, limit: i64, lease_ms: i64) -> Result<Vec<Claimed>, StoreError> {
        // One lease id per claim call, suffixed per row below, keeps the statement single.
        let lease = uuid::Uuid::now_v7().to_string();
        let clock = self.clock_ms();
        match self {
            Store::Postgres(p) => {
                // One statement: the counter's row lock orders concurrent claims, and it is
                // bumped only when something is claimed (idle polls write nothing).
                let ready = READY.replace("{now}", "now.ms");
                let sql = format!(
                    "WITH now AS (SELECT {clock} AS ms), \
                     ready AS (SELECT e.event_id FROM inbox_events e, now WHERE {ready} \
                       ORDER BY e.run_at_ms LIMIT $3 FOR UPDATE OF e SKIP LOCKED), \
                     v AS (UPDATE claim_clock SET version = GREATEST(version + 1, \
                       (SELECT ms FROM now)) WHERE id = 1 AND EXISTS (SELECT 1 FROM ready) \
                       RETURNING version) \
                     UPDATE inbox_events SET status = 'processing', attempts = attempts + 1, \
                     lease_id = $1 || ':' || inbox_events.event_id, \
                     lease_until_ms = now.ms + $2, updated_at_ms = now.ms, \
                     claim_version = v.version FROM now, v \
                     WHERE inbox_events.event_id IN (SELECT event_id FROM ready) \
                     RETURNING {CLAIMED_COLUMNS}"
                );
                Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
                    .bind(&lease)
                    .bind(lease_ms)
                    .bind(limit)
                    .fetch_all(p)
                    .await?)
            }
            Store::Sqlite(p) => {
                // One writer: the claim's UPDATE takes the write lock first, so nobody
                // moves the counter between reading it and storing it back.
                let ready = READY.replace("{now}", clock);
                let sql = format!(
                    "UPDATE inbox_events SET status = 'processing', attempts = attempts + 1, \
                     lease_id = $1 || ':' || event_id, lease_until_ms = {clock} + $2, \
                     updated_at_ms = {clock}, \
                     claim_version = (SELECT MAX(version + 1, {clock}) FROM claim_clock \
                       WHERE id = 1) \
                     WHERE event_id IN (SELECT event_id FROM inbox_events WHERE {ready} \
                     ORDER BY run_at_ms LIMIT $3) RETURNING {CLAIMED_COLUMNS}"
                );
                let mut tx = p.begin().await?;
                let claimed: Vec<Claimed> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
                    .bind(&lease)
                    .bind(lease_ms)
                    .bind(limit)
                    .fetch_all(&mut *tx)
                    .await?;
                if let Some(c) = claimed.first() {
                    sqlx::query("UPDATE claim_clock SET version = ? WHERE id = 1")
                        .bind(c.version)
                        .execute(&mut *tx)
                        .await?;
                }
                tx.commit().await?;
                Ok(claimed)
            }
        }
    }

    /// Marks a claimed event done. False when the lease is no longer ours.
    pub async fn complete(&self, c: &Claimed, now_ms: i64) -> Result<bool, StoreError> {
        self.transition(c, EventStatus::Done, None, None, 0, now_ms)
            .await
    }

    /// Puts a claimed event back, to run again at `run_at_ms`. A [`Retry::Postponed`] event
    /// gets its attempt back: for waits that say nothing about the event (Gong's breaker
    /// open, the warehouse down), which must delay it, never dead-letter it. False when the
    /// lease is no longer ours.
    pub async fn reschedule(
        &self,
        c: &Claimed,
        retry: Retry,
        run_at_ms: i64,
        error: &str,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let refund = match retry {
            Retry::Attempted => 0,
            Retry::Postponed => 1,
        };
        self.transition(
            c,
            EventStatus::Failed,
            Some(run_at_ms),
            Some(error),
            refund,
            now_ms,
        )
        .await
    }

    /// Extends the leases a worker still holds (its batch is taking long, e.g. waiting for
    /// Gong's rate limit) to `lease_ms` from now on the store's clock, so that nobody takes
    /// the events over meanwhile. Returns how many leases were still held.
    pub async fn extend_leases(
        &self,
        lease_ids: &[String],
        lease_ms: i64,
    ) -> Result<u64, StoreError> {
        let mut extended = 0;
        let clock = self.clock_ms();
        for chunk in lease_ids.chunks(500) {
            extended += with_pool!(self, p => {
                let mut qb = sqlx::QueryBuilder::new("UPDATE inbox_events SET lease_until_ms = ");
                qb.push(clock)
                    .push(" + ")
                    .push_bind(lease_ms)
                    .push(" WHERE status = 'processing' AND lease_id IN (");
                let mut list = qb.separated(", ");
                for id in chunk {
                    list.push_bind(id.as_str());
                }
                list.push_unseparated(")");
                qb.build().execute(p).await?.rows_affected()
            });
        }
        Ok(extended)
    }

    /// Moves a claimed event to the dead-letter queue. False when the lease is no longer
    /// ours.
    pub async fn dead_letter(
        &self,
        c: &Claimed,
        error: &str,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        self.transition(c, EventStatus::Dead, None, Some(error), 0, now_ms)
            .await
    }

    /// Events in the dead-letter queue.
    pub async fn dlq_depth(&self) -> Result<i64, StoreError> {
        const SQL: &str = "SELECT COUNT(*) FROM inbox_events WHERE status = 'dead'";
        Ok(with_pool!(self, p => sqlx::query_scalar(SQL).fetch_one(p).await?))
    }

    async fn transition(
        &self,
        c: &Claimed,
        status: EventStatus,
        run_at_ms: Option<i64>,
        error: Option<&str>,
        refund_attempts: i32,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let rows = with_pool!(self, p => sqlx::query(TRANSITION)
            .bind(status.as_str())
            .bind(run_at_ms)
            .bind(error)
            .bind(refund_attempts)
            .bind(now_ms)
            .bind(&c.event_id)
            .bind(&c.lease_id)
            .execute(p)
            .await?
            .rows_affected());
        Ok(rows == 1)
    }
}
