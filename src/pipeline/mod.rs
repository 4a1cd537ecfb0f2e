//! The pipeline: inbox events become warehouse rows, insights and outbox notifications.
//!
//! Workers claim small batches of events from the inbox (a lease with a fencing id, see
//! `store::queue`) and take each batch through the stages of architecture §5 together, so that
//! every stage is one warehouse statement or one Gong request for the whole batch:
//!
//! store raw → enhance (Gong, batched across workers) → validate + transform → insights →
//! store enhanced (upsert by source id) → finish (done + outbox, atomically).
//!
//! Insights are derived before the enhanced row is written because the row carries them.
//! Each stage of each event leaves a `webhook_processing_history` row. Failures are rows
//! too: a retryable one reschedules the event (`run_at`, exponential backoff with jitter),
//! a permanent one or the last attempt moves it to the dead-letter queue. Every effect is
//! idempotent (upserts, deterministic notification ids), so a crash anywhere only repeats
//! work.

mod batcher;
mod job;
mod mapping;
mod messages;
mod outage;
mod payload;
pub mod reconcile;
mod stages;
mod users;
mod worker;

use std::sync::Arc;
use std::time::Duration;

use gong_api::GongClient;
use rand::Rng;
use tokio::sync::Notify;

use crate::breaker::Breaker;
use crate::config::Config;
use crate::gong::GongLink;
use crate::insights::Rules;
use crate::store::{Claimed, Final, Store, StoreError};
use crate::telemetry;
use crate::verify::now_ms;
use crate::warehouse::Warehouse;

pub use batcher::CallBatcher;
use job::{Job, State};
use users::UserDirectory;

/// Knobs of the worker pool.
#[derive(Debug, Clone)]
pub struct Settings {
    pub workers: usize,
    /// Events one worker claims at a time.
    pub claim_batch: i64,
    pub lease: Duration,
    pub max_attempts: u32,
    pub retry_base: Duration,
    pub retry_max: Duration,
    /// How long the Gong batcher waits for a batch of call ids to fill.
    pub batch_wait: Duration,
    /// How often an idle worker looks for work without being woken (retries come due,
    /// other replicas' events).
    pub idle_poll: Duration,
}

impl Settings {
    pub fn from_config(c: &Config) -> Settings {
        Settings {
            workers: c.workers,
            claim_batch: 25,
            lease: c.worker_lease,
            max_attempts: c.max_attempts.max(1),
            retry_base: c.retry_backoff,
            retry_max: c.retry_backoff_max,
            batch_wait: Duration::from_millis(200),
            idle_poll: Duration::from_millis(500),
        }
    }

    /// Delay before attempt `attempt + 1`: `retry_base · 2^(attempt-1)`, capped, then
    /// scaled by a random factor in [0.5, 1] so that events failed together do not come
    /// back together.
    pub fn backoff(&self, attempt: i32) -> Duration {
        let exp = attempt.clamp(1, 30) as u32 - 1;
        let full = self
            .retry_base
            .saturating_mul(2u32.saturating_pow(exp))
            .min(self.retry_max);
        full.mul_f64(rand::rng().random_range(0.5..=1.0))
    }
}

#[derive(Clone)]
pub struct Pipeline {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    warehouse: Arc<dyn Warehouse>,
    /// Opens after consecutive warehouse outages (not row errors): batches then wait
    /// without touching the warehouse or using attempts, one probe per cool-down.
    warehouse_breaker: Breaker,
    /// Since when the warehouse has been failing (cleared by a success): postponements
    /// grow with the outage, so a long one does not cycle the backlog every few seconds.
    outage_since: std::sync::Mutex<Option<tokio::time::Instant>>,
    gong: Option<GongLink>,
    batcher: Option<CallBatcher>,
    users: UserDirectory,
    rules: Rules,
    settings: Settings,
    wake: Notify,
    /// Told when a batch put notifications in the outbox (the publisher waits on it).
    outbox_wake: Arc<Notify>,
}

/// Consecutive failed warehouse writes (outages) that open its breaker.
const WAREHOUSE_BREAKER_THRESHOLD: u32 = 3;

impl Pipeline {
    /// Builds the pipeline and starts its Gong batcher (when Gong is configured). Workers
    /// start with [`Pipeline::spawn_workers`]; tests may drive it with [`Pipeline::run_once`].
    pub fn new(
        store: Store,
        warehouse: Arc<dyn Warehouse>,
        gong: Option<GongLink>,
        rules: Rules,
        settings: Settings,
    ) -> Pipeline {
        let batcher = gong
            .as_ref()
            .map(|g| CallBatcher::start(g.client.clone(), settings.batch_wait).0);
        Pipeline {
            inner: Arc::new(Inner {
                store,
                warehouse,
                warehouse_breaker: Breaker::new(
                    "warehouse",
                    WAREHOUSE_BREAKER_THRESHOLD,
                    settings.retry_base,
                ),
                outage_since: std::sync::Mutex::new(None),
                gong,
                batcher,
                users: UserDirectory::default(),
                rules,
                settings,
                wake: Notify::new(),
                outbox_wake: Arc::new(Notify::new()),
            }),
        }
    }

    /// Tells an idle worker that new events were committed.
    pub fn wake(&self) {
        self.inner.wake.notify_one();
    }

    /// Notified each time a batch queues notifications: the outbox publisher's wake-up.
    pub fn outbox_wake(&self) -> &Arc<Notify> {
        &self.inner.outbox_wake
    }

    pub fn warehouse(&self) -> &Arc<dyn Warehouse> {
        &self.inner.warehouse
    }

    pub fn warehouse_breaker(&self) -> &Breaker {
        &self.inner.warehouse_breaker
    }

    pub fn gong(&self) -> Option<&Arc<GongClient>> {
        self.inner.gong.as_ref().map(|g| &g.client)
    }

    /// The Gong API's breaker, when Gong is configured.
    pub fn gong_breaker(&self) -> Option<&Breaker> {
        self.inner.gong.as_ref().map(|g| &*g.breaker)
    }

    /// Claims one batch of ready events and processes it. Returns how many were claimed
    /// (0: nothing was ready).
    pub async fn run_once(&self) -> Result<usize, StoreError> {
        let s = &self.inner.settings;
        let claimed = self
            .inner
            .store
            .claim(s.claim_batch, s.lease.as_millis() as i64)
            .await?;
        let n = claimed.len();
        if n == 0 {
            return Ok(0);
        }
        let _busy = telemetry::BackgroundTask::start();
        // An event claimed more often than MAX_ATTEMPTS never finished an attempt: it
        // crashes or stalls its worker every time. It goes to the dead-letter queue
        // without another try.
        let (runaway, claimed): (Vec<_>, Vec<_>) = claimed
            .into_iter()
            .partition(|c| c.attempts as u32 > s.max_attempts);
        for c in &runaway {
            let error = format!(
                "claimed {} times without finishing (worker crashed or stalled each time)",
                c.attempts
            );
            let msg = messages::failed(c, &error);
            if let Err(e) = self
                .inner
                .store
                .finish(c, Final::Dead, Some(&error), &[msg], now_ms())
                .await
            {
                tracing::error!(event_id = %c.event_id, error = %e, "could not dead-letter event");
            }
        }
        let heartbeat = self.keep_leases(&claimed);
        // In its own task: a panic while processing (a bug) costs this batch's events a
        // lease period, not the worker.
        let p = self.clone();
        if let Err(e) = tokio::spawn(async move { p.process(claimed).await }).await {
            tracing::error!(error = %e, "a batch failed unexpectedly; its events are retried when their leases end");
        }
        heartbeat.abort();
        Ok(n)
    }

    async fn process(&self, claimed: Vec<Claimed>) {
        let mut jobs: Vec<Job> = claimed.into_iter().map(Job::new).collect();
        if self.inner.warehouse_breaker.allow().is_err() {
            // Every stage ends in the warehouse: wait for it without asking Gong for data
            // that could not be stored.
            for j in jobs.iter_mut() {
                j.state = State::Postpone {
                    error: "warehouse unavailable (circuit breaker open)".into(),
                    delay: self.outage_delay(),
                };
            }
            self.finish(&mut jobs).await;
            return;
        }
        self.store_raw(&mut jobs).await;
        let lookups = self.enhance(&mut jobs).await;
        self.transform(&mut jobs, lookups);
        self.store_enhanced(&mut jobs).await;
        // The stages so far are recorded before the event is finished, so a crash right
        // after finishing loses at most the finish row of the history, never the trail.
        self.write_history(&mut jobs).await;
        self.finish(&mut jobs).await;
        self.write_history(&mut jobs).await;
    }
}
