//! The pipeline: inbox events become warehouse rows, insights and outbox notifications.
//!
//! Workers claim small batches of events from the inbox (a lease with a fencing id, see
//! `store::queue`) and take each batch through the stages of design §1 together, so that
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

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use rand::Rng;
use serde_json::{Value, json};
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;

use crate::breaker::Breaker;
use crate::config::Config;
use gong_api::GongClient;

use crate::gong::GongLink;
use crate::insights::{self, Analysis, Rules};
use crate::store::{Claimed, Final, OutboxMessage, Store, StoreError};
use crate::telemetry;
use crate::verify::now_ms;
use crate::warehouse::tables::{CallRow, EmailRow, Enhanced, HistoryRow, MeetingRow, RawRow};
use crate::warehouse::{self, Rows, Warehouse, WarehouseError};

mod batcher;
mod messages;
mod payload;
pub mod reconcile;
mod transform;
mod users;

pub use batcher::CallBatcher;
use batcher::{CallLookup, LookupResult};
use payload::Item;
use users::{Directory, UserDirectory};

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
}

/// Consecutive failed warehouse writes (outages) that open its breaker.
const WAREHOUSE_BREAKER_THRESHOLD: u32 = 3;

/// The stages, in order, as named in history rows and metrics.
const STORE_RAW: &str = "store_raw";
const ENHANCE: &str = "enhance";
const TRANSFORM: &str = "transform";
const INSIGHTS: &str = "insights";
const STORE_ENHANCED: &str = "store_enhanced";
const OUTBOX: &str = "outbox";

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
            }),
        }
    }

    /// Tells an idle worker that new events were committed.
    pub fn wake(&self) {
        self.inner.wake.notify_one();
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
            .claim(s.claim_batch, s.lease.as_millis() as i64, now_ms())
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

    /// Renews the batch's leases every third of a lease while it is being processed, so a
    /// batch slowed by Gong's rate limit is not taken over and done twice. Renewal stops
    /// after `MAX_HOLD`: a batch stuck that long (a bug) lets its events go to another
    /// worker rather than hold them forever.
    fn keep_leases(&self, claimed: &[Claimed]) -> JoinHandle<()> {
        const MAX_HOLD: Duration = Duration::from_secs(3600);
        let store = self.inner.store.clone();
        let lease = self.inner.settings.lease;
        let ids: Vec<String> = claimed.iter().map(|c| c.lease_id.clone()).collect();
        tokio::spawn(async move {
            let started = tokio::time::Instant::now();
            let every = lease / 3;
            let mut tick = tokio::time::interval_at(started + every, every);
            while started.elapsed() < MAX_HOLD {
                tick.tick().await;
                let until = now_ms() + lease.as_millis() as i64;
                if let Err(e) = store.extend_leases(&ids, until).await {
                    tracing::warn!(error = %e, "could not renew leases");
                }
            }
        })
    }

    /// Starts `settings.workers` workers; each stops after its current batch once `stop`
    /// turns true.
    pub fn spawn_workers(&self, stop: watch::Receiver<bool>) -> Vec<JoinHandle<()>> {
        (0..self.inner.settings.workers)
            .map(|n| {
                let p = self.clone();
                let mut stop = stop.clone();
                tokio::spawn(async move {
                    while !*stop.borrow() {
                        let idle = match p.run_once().await {
                            Ok(0) => true,
                            Ok(_) => false,
                            Err(e) => {
                                tracing::warn!(worker = n, error = %e, "claiming events failed");
                                true
                            }
                        };
                        if idle {
                            tokio::select! {
                                _ = p.inner.wake.notified() => {}
                                _ = tokio::time::sleep(p.inner.settings.idle_poll) => {}
                                _ = stop.changed() => {}
                            }
                        }
                    }
                })
            })
            .collect()
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

    /// Parses each body and writes the raw rows (idempotent: keyed by event id).
    async fn store_raw(&self, jobs: &mut [Job]) {
        let stage = Stage::start(STORE_RAW);
        let mut rows = Vec::with_capacity(jobs.len());
        for j in jobs.iter_mut() {
            match Item::parse(&j.c.kind, &j.c.payload) {
                Ok(item) => j.item = Some(item),
                Err(e) => j.state = State::Dead(e),
            }
            rows.push(raw_row(&j.c));
        }
        let result = self.write(&warehouse::RAW, &rows).await;
        for j in jobs.iter_mut() {
            match (&result, &j.state) {
                (_, State::Dead(e)) => {
                    let e = e.clone();
                    stage.record(j, "failed", Some(&e));
                }
                (Ok(()), _) => stage.record(j, "ok", None),
                (Err(e), _) => self.write_failed(&stage, j, e),
            }
        }
    }

    /// Asks Gong for what each event needs: one batched look-up for every call id, and the
    /// user directory for emails and meetings.
    async fn enhance(&self, jobs: &mut [Job]) -> Lookups {
        let stage = Stage::start(ENHANCE);
        let mut out = Lookups::default();
        let Some(gong) = &self.inner.gong else {
            for j in jobs.iter_mut().filter(|j| j.running()) {
                j.note = Some("Gong API not configured (GONG_API_KEY)".into());
                stage.record(j, "skipped", j.note.clone().as_deref());
            }
            return out;
        };
        let ids: Vec<String> = jobs
            .iter()
            .filter(|j| j.running())
            .filter_map(|j| j.item.as_ref()?.call_id(&j.c.source_id))
            .collect();
        if let Some(b) = &self.inner.batcher {
            out.calls = b.lookup(ids).await;
        }
        let wants_users = jobs
            .iter()
            .any(|j| j.running() && matches!(j.item, Some(Item::Email(_) | Item::Meeting(_))));
        if wants_users {
            out.users = Some(
                self.inner
                    .users
                    .get(&gong.client)
                    .await
                    .map_err(|e| (&e).into()),
            );
        }
        let s = &self.inner.settings;
        for j in jobs.iter_mut().filter(|j| j.running()) {
            let call = j
                .item
                .as_ref()
                .and_then(|i| i.call_id(&j.c.source_id))
                .and_then(|id| out.calls.get(&id));
            let users = matches!(j.item, Some(Item::Email(_) | Item::Meeting(_)))
                .then_some(out.users.as_ref())
                .flatten();
            let failure = call
                .and_then(|r| r.as_ref().err())
                .or(users.and_then(|u| u.as_ref().err()));
            if let Some(f) = failure {
                let e = format!("Gong API: {}", f.message);
                let is_call = matches!(j.item, Some(Item::Call(_)));
                if let Some(wait) = f.postpone {
                    // Gong cannot be asked now (breaker, budget, 429s): wait without using
                    // up an attempt. The floor keeps a half-open breaker's short answer
                    // from spinning events through the queue.
                    stage.record(j, "retry", Some(&e));
                    j.state = State::Postpone {
                        error: e,
                        delay: wait.max(s.retry_base),
                    };
                } else if f.retryable && !j.last_attempt(s) {
                    stage.record(j, "retry", Some(&e));
                    j.retry(s, e, None);
                } else if is_call {
                    // A call's value is Gong's data: without it, the dead-letter queue
                    // (and `dlq retry` once Gong is back) rather than a hollow row.
                    stage.record(j, "failed", Some(&e));
                    j.state = State::Dead(e);
                } else {
                    // Emails and meetings carry their content: Gong only adds to it.
                    let note = format!("{e}; continuing with the webhook's data");
                    stage.record(j, "partial", Some(&note));
                    j.note = Some(note);
                }
                continue;
            }
            let lag = match call {
                Some(Ok(CallLookup { call: None, .. })) => {
                    Some("Gong does not return the call yet")
                }
                Some(Ok(CallLookup {
                    transcript: None, ..
                })) => Some("the transcript is not ready yet"),
                _ => None,
            };
            match lag {
                None => stage.record(j, "ok", None),
                Some(why) if !j.last_attempt(s) => {
                    // Store what there is now, and come back for the rest.
                    let e = format!(
                        "{why} (processing lag); attempt {} of {}",
                        j.c.attempts, s.max_attempts
                    );
                    stage.record(j, "partial", Some(&e));
                    j.partial = true;
                    j.note = Some(format!("{why} (processing lag)"));
                    j.retry(s, e, None);
                }
                Some(why) => {
                    let e = format!(
                        "{why} after {} attempts: continuing with partial data",
                        j.c.attempts
                    );
                    stage.record(j, "partial", Some(&e));
                    j.note = Some(e);
                }
            }
        }
        out
    }

    /// Validates and transforms each event into its row, then derives its insights.
    fn transform(&self, jobs: &mut [Job], lookups: Lookups) {
        let stage = Stage::start(TRANSFORM);
        let users: Option<Directory> = lookups.users.and_then(Result::ok);
        let mut analyses = Vec::new();
        for j in jobs.iter_mut() {
            // Partial rows (lag) are written too: the warehouse has the call now, and the
            // next attempt completes it.
            if !(j.running() || j.partial) {
                continue;
            }
            let Some(item) = j.item.take() else { continue };
            let found = item
                .call_id(&j.c.source_id)
                .and_then(|id| lookups.calls.get(&id))
                .and_then(|r| r.as_ref().ok());
            let (row, quality, subject, about) = match &item {
                Item::Call(webhook) => {
                    // Gong's current data when it returned the call, else the webhook's.
                    let data = found.and_then(|f| f.call.as_ref()).unwrap_or(webhook);
                    let transcript = found.and_then(|f| f.transcript.as_ref());
                    let parts = transform::call(&j.c.source_id, data, transcript);
                    let about = messages::About {
                        title: None,
                        summary: call_summary(data),
                        occurred_at: data.meta_data.started.map(|t| t.with_timezone(&Utc)),
                    };
                    let mut row = parts.row;
                    row.enhanced.crm_context = transform::crm_json(&data.context);
                    (
                        TableRow::Call(Box::new(row)),
                        parts.quality,
                        parts.subject,
                        about,
                    )
                }
                Item::Email(e) => {
                    let parts = transform::email(e, users.as_ref());
                    let mut row = parts.row;
                    row.enhanced.crm_context =
                        transform::crm_json(e.crm_context.as_deref().unwrap_or_default());
                    let about = messages::About {
                        title: None,
                        summary: format!(
                            "{} email{}",
                            e.direction.as_deref().unwrap_or("An"),
                            e.from
                                .as_ref()
                                .and_then(|f| f.email.as_deref())
                                .map(|f| format!(" from {f}"))
                                .unwrap_or_default()
                        ),
                        occurred_at: row.sent_at,
                    };
                    (
                        TableRow::Email(Box::new(row)),
                        parts.quality,
                        parts.subject,
                        about,
                    )
                }
                Item::Meeting(m) => {
                    let recorded = found
                        .and_then(|f| f.call.as_ref())
                        .map(|c| (c, found.and_then(|f| f.transcript.as_ref())));
                    let parts = transform::meeting(m, users.as_ref(), recorded);
                    let mut row = parts.row;
                    row.enhanced.crm_context =
                        transform::crm_json(m.crm_context.as_deref().unwrap_or_default());
                    let about = messages::About {
                        title: None,
                        summary: format!(
                            "Meeting with {} invitee(s){}",
                            m.invitees.len(),
                            if recorded.is_some() { ", recorded" } else { "" }
                        ),
                        occurred_at: row.start_time,
                    };
                    (
                        TableRow::Meeting(Box::new(row)),
                        parts.quality,
                        parts.subject,
                        about,
                    )
                }
            };
            quality.record(kind_label(&j.c.kind));
            let mut problems: Vec<String> = quality
                .invalid
                .iter()
                .map(|f| format!("invalid {f}"))
                .collect();
            problems.extend(quality.missing.iter().map(|f| format!("missing {f}")));
            let status = if quality.invalid.is_empty() {
                "ok"
            } else {
                "partial"
            };
            stage.record(
                j,
                status,
                (!problems.is_empty())
                    .then(|| problems.join(", "))
                    .as_deref(),
            );
            j.quality = quality.score();
            j.row = Some(row);
            analyses.push((j.c.event_id.clone(), subject, about));
        }
        let stage = Stage::start(INSIGHTS);
        let mut by_event: HashMap<String, (Analysis, messages::About<'static>)> = analyses
            .into_iter()
            .map(|(id, subject, about)| {
                let a = insights::analyze(&self.inner.rules, &subject);
                (id, (a, about))
            })
            .collect();
        for j in jobs.iter_mut() {
            if let Some((a, about)) = by_event.remove(&j.c.event_id) {
                stage.record(j, "ok", None);
                j.fill(a, about);
            }
        }
    }

    /// Upserts the rows, one statement per table for the whole batch.
    async fn store_enhanced(&self, jobs: &mut [Job]) {
        let stage = Stage::start(STORE_ENHANCED);
        let mut calls = Vec::new();
        let mut emails = Vec::new();
        let mut meetings = Vec::new();
        for (i, j) in jobs.iter().enumerate() {
            match &j.row {
                Some(TableRow::Call(r)) => calls.push((i, r.as_ref())),
                Some(TableRow::Email(r)) => emails.push((i, r.as_ref())),
                Some(TableRow::Meeting(r)) => meetings.push((i, r.as_ref())),
                None => {}
            }
        }
        let mut results: Vec<(Vec<usize>, Result<(), WriteFailure>)> = Vec::new();
        results.push(self.write_rows(&warehouse::CALLS, &calls).await);
        results.push(self.write_rows(&warehouse::EMAILS, &emails).await);
        results.push(self.write_rows(&warehouse::MEETINGS, &meetings).await);
        for (idx, result) in results {
            for i in idx {
                let j = &mut jobs[i];
                match &result {
                    Ok(()) => stage.record(j, "ok", None),
                    Err(e) => {
                        j.partial = false;
                        self.write_failed(&stage, j, e);
                    }
                }
            }
        }
    }

    /// One warehouse write, told to the breaker. A failure is an outage only when the
    /// error says so *and* the warehouse does not answer a ping either: a statement that
    /// fails (even by breaking its connection) against a warehouse that is up is the
    /// batch's problem, which must use attempts and end in the dead-letter queue rather
    /// than be postponed forever.
    async fn write<T: serde::Serialize>(
        &self,
        table: &'static warehouse::Table,
        rows: &[T],
    ) -> Result<(), WriteFailure> {
        // A row that does not fit its table is our bug, never an outage.
        let rows = Rows::of(table, rows).map_err(|error| WriteFailure {
            error,
            outage: false,
        })?;
        let Err(error) = self.inner.warehouse.write(&rows).await else {
            self.warehouse_up();
            return Ok(());
        };
        let outage = error.is_outage() && self.inner.warehouse.ping().await.is_err();
        if outage {
            self.inner.warehouse_breaker.record_failure();
            let mut since = self
                .inner
                .outage_since
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            since.get_or_insert_with(tokio::time::Instant::now);
        } else {
            self.warehouse_up();
        }
        Err(WriteFailure { error, outage })
    }

    fn warehouse_up(&self) {
        self.inner.warehouse_breaker.record_success();
        *self
            .inner
            .outage_since
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = None;
    }

    /// How long an event waits for the warehouse: as long as the outage has lasted so far,
    /// between `RETRY_BACKOFF` and `RETRY_BACKOFF_MAX`, with jitter.
    fn outage_delay(&self) -> Duration {
        let s = &self.inner.settings;
        let lasted = self
            .inner
            .outage_since
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .map(|t| t.elapsed())
            .unwrap_or_default();
        let base = lasted.clamp(s.retry_base, s.retry_max.max(s.retry_base));
        base.mul_f64(rand::rng().random_range(0.75..=1.0))
    }

    /// When the warehouse breaker is open and no batch comes to probe it (an idle
    /// queue), a ping does: without it the breaker and `/health` would stay "open" until
    /// the next event. Run periodically by the app.
    pub async fn probe_warehouse(&self) {
        if self.inner.warehouse_breaker.state() == crate::breaker::BreakerState::Closed
            || self.inner.warehouse_breaker.allow().is_err()
        {
            return;
        }
        match self.inner.warehouse.ping().await {
            Ok(()) => self.warehouse_up(),
            Err(_) => self.inner.warehouse_breaker.record_failure(),
        }
    }

    /// An outage postpones the event (no attempt used: a warehouse down for hours must
    /// not dead-letter what it delays); any other failure is an attempt that failed.
    fn write_failed(&self, stage: &Stage, j: &mut Job, f: &WriteFailure) {
        let s = &self.inner.settings;
        let error = format!("warehouse: {}", f.error);
        stage.record(j, "retry", Some(&error));
        if f.outage {
            j.state = State::Postpone {
                error,
                delay: self.outage_delay(),
            };
        } else {
            j.retry(s, error, None);
        }
    }

    async fn write_rows<T: serde::Serialize>(
        &self,
        table: &'static warehouse::Table,
        rows: &[(usize, &T)],
    ) -> (Vec<usize>, Result<(), WriteFailure>) {
        let idx: Vec<usize> = rows.iter().map(|(i, _)| *i).collect();
        if rows.is_empty() {
            return (idx, Ok(()));
        }
        let typed: Vec<&T> = rows.iter().map(|(_, r)| *r).collect();
        (idx, self.write(table, &typed).await)
    }

    /// Ends each event: done with its notifications, rescheduled, or dead-lettered.
    async fn finish(&self, jobs: &mut [Job]) {
        let stage = Stage::start(OUTBOX);
        let store = &self.inner.store;
        for j in jobs.iter_mut() {
            let now = now_ms();
            let state = std::mem::replace(&mut j.state, State::Running);
            let (outcome, result) = match &state {
                State::Running => {
                    let outcome = if j.note.is_some() { "partial" } else { "done" };
                    (
                        outcome,
                        store
                            .finish(&j.c, Final::Done, None, &j.messages, now)
                            .await,
                    )
                }
                State::Retry { error, delay } => {
                    let run_at = now + delay.as_millis() as i64;
                    ("retry", store.retry_later(&j.c, run_at, error, now).await)
                }
                State::Postpone { error, delay } => {
                    let run_at = now + delay.as_millis() as i64;
                    ("retry", store.postpone(&j.c, run_at, error, now).await)
                }
                State::Dead(error) => {
                    let msg = messages::failed(&j.c, error);
                    (
                        "dead",
                        store
                            .finish(&j.c, Final::Dead, Some(error), &[msg], now)
                            .await,
                    )
                }
            };
            j.state = state;
            match result {
                Ok(true) => {
                    metrics::counter!(telemetry::EVENTS_PROCESSED_TOTAL,
                        "kind" => kind_label(&j.c.kind), "outcome" => outcome)
                    .increment(1);
                    let status = match outcome {
                        "retry" => "retry",
                        "dead" => "failed",
                        _ => "ok",
                    };
                    let error = match &j.state {
                        State::Retry { error, .. }
                        | State::Postpone { error, .. }
                        | State::Dead(error) => Some(error.clone()),
                        State::Running => None,
                    };
                    stage.record(j, status, error.as_deref());
                    log_outcome(j, outcome);
                }
                Ok(false) => {
                    // Our lease ran out and another worker owns the event now: its result
                    // stands, ours is dropped (nothing was written here).
                    stage.record(j, "lost_lease", Some("lease expired; result discarded"));
                    tracing::warn!(event_id = %j.c.event_id, "lease lost before finishing; result discarded");
                }
                Err(e) => {
                    // The lease will expire and the event will be processed again.
                    let e = format!("store: {e}");
                    stage.record(j, "failed", Some(&e));
                    tracing::error!(event_id = %j.c.event_id, error = %e, "could not finish event");
                }
            }
        }
    }

    /// Writes the history rows recorded since the last call.
    async fn write_history(&self, jobs: &mut [Job]) {
        // A postponement (Gong cannot be asked: breaker open, budget spent) is not an
        // attempt and leaves no history: during a long outage every waiting event comes
        // back every few seconds, and the event's own row says why it waits.
        let rows: Vec<HistoryRow> = jobs
            .iter_mut()
            .flat_map(|j| {
                let rows = std::mem::take(&mut j.history);
                let keep = !matches!(j.state, State::Postpone { .. });
                rows.into_iter().filter(move |_| keep)
            })
            .collect();
        if rows.is_empty() {
            return;
        }
        if let Err(WriteFailure { error: e, .. }) = self.write(&warehouse::HISTORY, &rows).await {
            // History is diagnostics: losing one attempt's rows must not redo the work.
            tracing::warn!(error = %e, rows = rows.len(), "processing history not written");
        }
    }
}

fn log_outcome(j: &Job, outcome: &str) {
    let priority = j.analysis_priority.as_deref().unwrap_or("-");
    match &j.state {
        State::Running => tracing::info!(
            event_id = %j.c.event_id, request_id = %j.c.request_id, kind = %j.c.kind,
            source_id = %j.c.source_id, attempt = j.c.attempts, outcome, priority,
            "event processed"
        ),
        State::Retry { error, delay } | State::Postpone { error, delay } => tracing::info!(
            event_id = %j.c.event_id, request_id = %j.c.request_id, kind = %j.c.kind,
            attempt = j.c.attempts, retry_in_ms = delay.as_millis() as u64, error = %error,
            "event rescheduled"
        ),
        State::Dead(error) => tracing::warn!(
            event_id = %j.c.event_id, request_id = %j.c.request_id, kind = %j.c.kind,
            attempt = j.c.attempts, error = %error, "event moved to the dead-letter queue"
        ),
    }
}

fn kind_label(kind: &str) -> &'static str {
    match kind {
        "call" => "call",
        "email" => "email",
        "meeting" => "meeting",
        _ => "other",
    }
}

fn call_summary(data: &gong_api::models::CallData) -> String {
    let m = &data.meta_data;
    let minutes = m.duration.map(|d| (d / 60.0).round() as i64);
    let mut s = match (minutes, m.title.as_deref()) {
        (Some(min), Some(t)) => format!("{t} ({min} min)"),
        (None, Some(t)) => t.to_owned(),
        (Some(min), None) => format!("A {min}-minute call"),
        (None, None) => "A call".to_owned(),
    };
    if let Some(brief) = data.content.as_ref().and_then(|c| c.brief.as_deref()) {
        let first = brief.split_inclusive(". ").next().unwrap_or(brief).trim();
        s.push_str(": ");
        s.push_str(first);
    }
    s
}

fn raw_row(c: &Claimed) -> RawRow {
    // The inbox only takes JSON bodies; should one still not parse, it is kept as text
    // rather than lost.
    let payload = serde_json::from_slice(&c.payload)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&c.payload).into_owned()));
    RawRow {
        event_id: c.event_id.clone(),
        kind: c.kind.clone(),
        source_id: c.source_id.clone(),
        received_at: DateTime::from_timestamp_millis(c.received_at_ms).unwrap_or_default(),
        request_id: c.request_id.clone(),
        auth_method: c.auth_method.clone(),
        key_id: c.key_id.clone(),
        is_test: c.is_test,
        body_sha256: c.body_sha256.clone(),
        payload,
    }
}

#[derive(Default)]
struct Lookups {
    calls: HashMap<String, LookupResult>,
    users: Option<Result<Directory, batcher::LookupFailure>>,
}

enum TableRow {
    Call(Box<CallRow>),
    Email(Box<EmailRow>),
    Meeting(Box<MeetingRow>),
}

impl TableRow {
    fn enhanced_mut(&mut self) -> &mut Enhanced {
        match self {
            TableRow::Call(r) => &mut r.enhanced,
            TableRow::Email(r) => &mut r.enhanced,
            TableRow::Meeting(r) => &mut r.enhanced,
        }
    }

    fn title(&self) -> Option<&str> {
        match self {
            TableRow::Call(r) => r.title.as_deref(),
            TableRow::Email(r) => r.subject.as_deref(),
            TableRow::Meeting(r) => r.title.as_deref(),
        }
    }
}

/// A failed warehouse write, and whether the warehouse itself is down.
struct WriteFailure {
    error: WarehouseError,
    outage: bool,
}

enum State {
    Running,
    Retry {
        error: String,
        delay: Duration,
    },
    /// A retry that does not count as an attempt.
    Postpone {
        error: String,
        delay: Duration,
    },
    Dead(String),
}

/// One claimed event on its way through the stages.
struct Job {
    c: Claimed,
    item: Option<Item>,
    state: State,
    /// A row to write although the event will be retried (processing lag).
    partial: bool,
    /// Why the data is not fully enhanced (`enhancement_note`).
    note: Option<String>,
    quality: f64,
    row: Option<TableRow>,
    messages: Vec<OutboxMessage>,
    analysis_priority: Option<String>,
    history: Vec<HistoryRow>,
}

impl Job {
    fn new(c: Claimed) -> Job {
        Job {
            c,
            item: None,
            state: State::Running,
            partial: false,
            note: None,
            quality: 0.0,
            row: None,
            messages: Vec::new(),
            analysis_priority: None,
            history: Vec::new(),
        }
    }

    fn running(&self) -> bool {
        matches!(self.state, State::Running)
    }

    fn last_attempt(&self, s: &Settings) -> bool {
        self.c.attempts as u32 >= s.max_attempts
    }

    /// Reschedules, or dead-letters when this was the last attempt.
    fn retry(&mut self, s: &Settings, error: String, retry_after: Option<Duration>) {
        if self.last_attempt(s) {
            self.state = State::Dead(error);
            return;
        }
        let delay = match retry_after {
            Some(d) => d.min(s.retry_max).max(s.backoff(self.c.attempts)),
            None => s.backoff(self.c.attempts),
        };
        self.state = State::Retry { error, delay };
    }

    /// Completes the row with the analysis and prepares the notifications.
    fn fill(&mut self, a: Analysis, about: messages::About<'static>) {
        let Some(row) = self.row.as_mut() else { return };
        let title = row.title().map(str::to_owned);
        let e = row.enhanced_mut();
        e.sentiment_score = a.sentiment_score;
        e.insights = json!(a.insights);
        e.priority = a.priority.as_str().to_owned();
        e.next_steps = json!(a.next_steps);
        e.data_quality_score = self.quality;
        e.enhanced = self.note.is_none();
        e.enhancement_note = self.note.clone();
        e.is_test = self.c.is_test;
        e.source_event_id = self.c.event_id.clone();
        e.version = self.c.claimed_at_ms;
        e.updated_at = Utc::now();
        self.analysis_priority = Some(e.priority.clone());
        if self.running() {
            let about = messages::About {
                title: title.as_deref(),
                ..about
            };
            self.messages = messages::processed(&self.c, &a, &about);
        }
    }
}

/// Times one stage for every event of a batch.
struct Stage {
    name: &'static str,
    started: DateTime<Utc>,
    clock: std::time::Instant,
}

impl Stage {
    fn start(name: &'static str) -> Stage {
        Stage {
            name,
            started: Utc::now(),
            clock: std::time::Instant::now(),
        }
    }

    fn record(&self, j: &mut Job, status: &str, error: Option<&str>) {
        let elapsed = self.clock.elapsed();
        metrics::histogram!(telemetry::WEBHOOK_PROCESSING_DURATION_SECONDS, "stage" => self.name)
            .record(elapsed.as_secs_f64());
        j.history.push(HistoryRow {
            history_id: uuid::Uuid::now_v7().to_string(),
            event_id: j.c.event_id.clone(),
            attempt: i64::from(j.c.attempts),
            stage: self.name.to_owned(),
            status: status.to_owned(),
            error: error.map(str::to_owned),
            started_at: self.started,
            finished_at: Utc::now(),
            duration_ms: elapsed.as_millis() as i64,
            request_id: j.c.request_id.clone(),
        });
    }
}
