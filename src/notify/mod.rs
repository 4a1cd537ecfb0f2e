//! The outbox publisher: notifications reach the agents over Redis (architecture §9).
//!
//! The pipeline writes notifications into the `outbox` table in the same transaction that
//! finishes their event, then wakes this task. It claims unpublished rows with a lease (so
//! replicas never publish the same row at once), sends the whole batch to Redis in one
//! round trip, and marks the rows published. Each notification goes through a Lua script
//! that sets its TTL key with NX and publishes and appends to the stream only if that set
//! happened: a batch re-sent after a crash between publishing and marking is a no-op in
//! Redis. A Redis outage only delays: the rows go back with a growing delay, no attempt
//! limit, and the `redis` breaker and `/health` say Redis is down.

pub mod channels;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use rand::Rng;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;

use crate::breaker::{Breaker, BreakerState};
use crate::store::{OutboxEntry, Store, StoreError};
use crate::telemetry;
use crate::verify::now_ms;

pub use channels::{MessageType, Names};

/// The script's text; Redis caches it by hash (`SCRIPT LOAD` goes with every batch, so a
/// restarted Redis that forgot it costs nothing).
const SCRIPT: &str = include_str!("publish.lua");
/// Rows per claim (and per Redis round trip).
const BATCH: i64 = 200;
/// How long a claimed batch is ours: far longer than a round trip, short enough that a
/// crashed publisher's rows are soon taken over.
const LEASE: Duration = Duration::from_secs(30);
/// How often an idle publisher looks for rows nobody woke it for (other replicas' rows,
/// rows whose retry time came).
const IDLE_POLL: Duration = Duration::from_secs(1);
/// Consecutive failed batches that open the `redis` breaker.
const BREAKER_THRESHOLD: u32 = 3;
/// The shortest wait after a failure, whatever RETRY_BACKOFF says: no hot loop.
const MIN_RETRY: Duration = Duration::from_millis(250);
/// How long a stopping publisher keeps draining what the last batches queued.
const DRAIN: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    /// REDIS_URL is not one the redis crate can use.
    #[error("REDIS_URL: {0}")]
    BadUrl(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Redis did not take the batch; it goes again after `retry_in`.
    #[error("redis: {error}")]
    Redis { error: String, retry_in: Duration },
    #[error("redis unavailable (circuit breaker open)")]
    BreakerOpen(Duration),
}

/// What the publisher needs from the configuration.
#[derive(Debug, Clone)]
pub struct Settings {
    pub url: SecretString,
    /// `REDIS_NOTIFICATION_TTL`.
    pub ttl: Duration,
    /// `REDIS_STREAM_MAXLEN`.
    pub stream_maxlen: u64,
    /// Channel, key and stream prefix (`sophia:gong`).
    pub prefix: String,
    /// First delay after a failed batch; it doubles up to `retry_max`.
    pub retry_base: Duration,
    pub retry_max: Duration,
}

/// Redis as `/health` reports it.
#[derive(Debug, Clone)]
pub struct RedisStatus {
    pub breaker: BreakerState,
    pub last_error: Option<(String, DateTime<Utc>)>,
}

#[derive(Clone)]
pub struct Publisher {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    client: redis::Client,
    /// Replaced after a failure the manager would not recover from by itself (it
    /// reconnects only after network errors, not after a refused password, say).
    redis: Mutex<ConnectionManager>,
    names: Names,
    settings: Settings,
    breaker: Breaker,
    wake: Arc<Notify>,
    last_error: Mutex<Option<(String, DateTime<Utc>)>>,
    /// Consecutive failed batches, for the growing delay.
    failures: Mutex<u32>,
}

/// What one row's script call came to.
enum Sent {
    /// Published now.
    Created,
    /// Published before (a re-send after a crash): nothing done.
    Already,
    /// The script failed for this row (e.g. a key of the wrong type); it is tried again.
    Failed(String),
}

impl Publisher {
    /// A publisher over `store`, woken through `wake` (the pipeline notifies it after each
    /// batch it finishes). Connects lazily: Redis may be down at start.
    pub fn new(
        store: Store,
        settings: Settings,
        wake: Arc<Notify>,
    ) -> Result<Publisher, NotifyError> {
        let client = redis::Client::open(settings.url.expose_secret())
            // The crate's message may quote the URL, password included: not repeated here.
            .map_err(|e| NotifyError::BadUrl(format!("{:?}", e.kind())))?;
        let redis = connection(&client)?;
        let cool_down = settings.retry_base.max(MIN_RETRY);
        Ok(Publisher {
            inner: Arc::new(Inner {
                store,
                client,
                redis: Mutex::new(redis),
                names: Names::new(settings.prefix.clone()),
                breaker: Breaker::new("redis", BREAKER_THRESHOLD, cool_down),
                settings,
                wake,
                last_error: Mutex::new(None),
                failures: Mutex::new(0),
            }),
        })
    }

    pub fn names(&self) -> &Names {
        &self.inner.names
    }

    pub fn status(&self) -> RedisStatus {
        RedisStatus {
            breaker: self.inner.breaker.state(),
            last_error: lock(&self.inner.last_error).clone(),
        }
    }

    fn conn(&self) -> ConnectionManager {
        lock(&self.inner.redis).clone()
    }

    /// One `PING`, for `/health` and `check-config`.
    pub async fn ping(&self) -> Result<Duration, NotifyError> {
        let started = Instant::now();
        redis::cmd("PING")
            .query_async::<String>(&mut self.conn())
            .await
            .map_err(|e| NotifyError::Redis {
                error: redact(&e),
                retry_in: Duration::ZERO,
            })?;
        Ok(started.elapsed())
    }

    /// Publishes until `stop` turns true, woken by the pipeline or every second; then
    /// drains for a few seconds what the last batches queued. Stop it after the workers.
    pub fn spawn(&self, mut stop: watch::Receiver<bool>) -> JoinHandle<()> {
        let p = self.clone();
        tokio::spawn(async move {
            while !*stop.borrow() {
                match p.publish_once().await {
                    // A full batch: there may be more right away.
                    Ok(n) if n as i64 >= BATCH => continue,
                    Ok(_) => {
                        tokio::select! {
                            _ = p.inner.wake.notified() => {}
                            _ = tokio::time::sleep(IDLE_POLL) => {}
                            _ = stop.changed() => {}
                        }
                    }
                    // While backing off, new batches do not cut the wait short.
                    Err(e) => {
                        let wait = match &e {
                            NotifyError::Redis { retry_in, .. }
                            | NotifyError::BreakerOpen(retry_in) => *retry_in,
                            _ => IDLE_POLL,
                        };
                        if !matches!(e, NotifyError::BreakerOpen(_)) {
                            tracing::warn!(error = %e, retry_in_ms = wait.as_millis() as u64, "notifications not published");
                        }
                        tokio::select! {
                            _ = tokio::time::sleep(wait.max(MIN_RETRY)) => {}
                            _ = stop.changed() => {}
                        }
                    }
                }
            }
            let deadline = Instant::now() + DRAIN;
            while Instant::now() < deadline {
                match p.publish_once().await {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {}
                }
            }
        })
    }

    /// Claims one batch and publishes it. Returns how many rows it held.
    pub async fn publish_once(&self) -> Result<usize, NotifyError> {
        let inner = &self.inner;
        if let Err(open) = inner.breaker.allow() {
            return Err(NotifyError::BreakerOpen(open.retry_in));
        }
        let rows = inner
            .store
            .claim_outbox(BATCH, LEASE.as_millis() as i64, now_ms())
            .await?;
        if rows.is_empty() {
            // An open breaker's probe with nothing to send: a PING tells whether Redis is
            // back (otherwise /health would say degraded until the next notification).
            if inner.breaker.state() != BreakerState::Closed {
                match self.ping().await {
                    Ok(_) => inner.breaker.record_success(),
                    Err(_) => inner.breaker.record_failure(),
                }
            }
            return Ok(0);
        }
        match self.send(&rows).await {
            Ok(sent) => {
                inner.breaker.record_success();
                *lock(&inner.failures) = 0;
                self.settle(&rows, &sent).await?;
                Ok(rows.len())
            }
            Err(e) => {
                inner.breaker.record_failure();
                if !(e.is_io_error()
                    || e.is_connection_refusal()
                    || e.is_timeout()
                    || e.is_connection_dropped())
                {
                    // E.g. a refused password: the manager keeps that answer for ever.
                    *lock(&inner.redis) = connection(&inner.client)?;
                }
                let error = redact(&e);
                *lock(&inner.last_error) = Some((error.clone(), Utc::now()));
                let retry_in = self.next_delay();
                let leases: Vec<&str> = rows.iter().filter_map(|r| r.lease_id.as_deref()).collect();
                let retry_at = now_ms() + retry_in.as_millis() as i64;
                inner.store.retry_outbox(&leases, retry_at, &error).await?;
                Err(NotifyError::Redis { error, retry_in })
            }
        }
    }

    /// Marks what Redis took, counts it, and gives back the rows whose script failed.
    async fn settle(&self, rows: &[OutboxEntry], sent: &[Sent]) -> Result<(), NotifyError> {
        let now = now_ms();
        let mut done = Vec::new();
        let mut failed = Vec::new();
        for (r, s) in rows.iter().zip(sent) {
            let Some(lease) = r.lease_id.as_deref() else {
                continue;
            };
            match s {
                Sent::Created => {
                    self.record(r, now);
                    done.push(lease);
                }
                Sent::Already => done.push(lease),
                Sent::Failed(error) => {
                    tracing::warn!(notification_id = %r.notification_id, error = %error, "notification not published; it is tried again");
                    failed.push((lease, error.as_str()));
                }
            }
        }
        self.inner.store.mark_published(&done, now).await?;
        let retry_at = now + self.inner.settings.retry_max.max(MIN_RETRY).as_millis() as i64;
        for (lease, error) in failed {
            self.inner
                .store
                .retry_outbox(&[lease], retry_at, error)
                .await?;
        }
        Ok(())
    }

    /// Sends every row through the script in one round trip. `Err` only when Redis could
    /// not be reached or did not answer; each row's own outcome is in the `Vec`.
    async fn send(&self, rows: &[OutboxEntry]) -> Result<Vec<Sent>, redis::RedisError> {
        let inner = &self.inner;
        let script = redis::Script::new(SCRIPT);
        let ttl = inner.settings.ttl.as_secs().max(1);
        let invocations: Vec<_> = rows
            .iter()
            .map(|r| {
                let mut inv = script.prepare_invoke();
                inv.key(inner.names.notification_key(&r.notification_id))
                    .key(inner.names.stream(r.is_test))
                    .arg(&r.message)
                    .arg(ttl)
                    .arg(inner.settings.stream_maxlen);
                for channel in self.channels(r) {
                    inv.arg(channel);
                }
                inv
            })
            .collect();
        // Scripts in a pipeline are not loaded on demand: the load goes first, every time
        // (Redis forgets scripts when it restarts; loading a known one costs a hash).
        let mut pipe = redis::pipe();
        pipe.ignore_errors();
        pipe.cmd("SCRIPT").arg("LOAD").arg(SCRIPT);
        for inv in &invocations {
            pipe.invoke_script(inv);
        }
        let mut replies: Vec<redis::RedisResult<redis::Value>> =
            pipe.query_async(&mut self.conn()).await?;
        if replies.is_empty() {
            return Err(redis::RedisError::from((
                redis::ErrorKind::Parse,
                "empty pipeline reply",
            )));
        }
        replies.remove(0)?;
        Ok(replies
            .into_iter()
            .map(|reply| match reply {
                Ok(redis::Value::Int(1)) => Sent::Created,
                Ok(_) => Sent::Already,
                Err(e) => Sent::Failed(redact(&e)),
            })
            .collect())
    }

    fn channels(&self, r: &OutboxEntry) -> Vec<String> {
        match MessageType::parse(&r.message_type) {
            Some(ty) => self.inner.names.channels(ty, &r.priority, r.is_test),
            // Not ours to guess: it is still kept and streamed, for an agent to see.
            None => {
                tracing::warn!(notification_id = %r.notification_id, message_type = %r.message_type, "unknown notification type: not published to a channel");
                Vec::new()
            }
        }
    }

    /// Counts a published row on each of its channels, and how long after its commit.
    fn record(&self, r: &OutboxEntry, now: i64) {
        for channel in self.channels(r) {
            metrics::counter!(telemetry::NOTIFICATIONS_PUBLISHED_TOTAL, "channel" => channel)
                .increment(1);
        }
        let delay = (now - r.created_at_ms).max(0) as f64 / 1e3;
        metrics::histogram!(telemetry::NOTIFICATION_PUBLISH_DELAY_SECONDS).record(delay);
    }

    /// The wait after another failed batch: `retry_base` (at least 250 ms) doubling per
    /// consecutive failure up to `retry_max`, with jitter so replicas do not return
    /// together.
    fn next_delay(&self) -> Duration {
        let s = &self.inner.settings;
        let base = s.retry_base.max(MIN_RETRY);
        let mut failures = lock(&self.inner.failures);
        *failures = failures.saturating_add(1);
        let step = base
            .saturating_mul(1u32 << (*failures - 1).min(16))
            .min(s.retry_max.max(base));
        step.mul_f64(rand::rng().random_range(0.75..=1.0))
    }
}

/// A lazily connecting manager: Redis may be down when this is built.
fn connection(client: &redis::Client) -> Result<ConnectionManager, NotifyError> {
    let config = ConnectionManagerConfig::new()
        .set_connection_timeout(Some(Duration::from_secs(2)))
        .set_response_timeout(Some(Duration::from_secs(5)))
        .set_number_of_retries(1)
        .set_max_delay(Duration::from_secs(2));
    ConnectionManager::new_lazy_with_config(client.clone(), config).map_err(|e| {
        NotifyError::Redis {
            error: redact(&e),
            retry_in: Duration::ZERO,
        }
    })
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// A Redis error without what might carry the URL (and its password): the kind, and the
/// server's own message when there is one (a server reply never holds the URL).
fn redact(e: &redis::RedisError) -> String {
    if e.is_timeout() {
        return "timeout".into();
    }
    if e.is_connection_refusal() {
        return "connection refused".into();
    }
    if e.is_io_error() || e.is_connection_dropped() {
        return "connection failed".into();
    }
    match (e.code(), e.detail()) {
        (Some(code), Some(detail)) => format!("{code}: {detail}"),
        (None, Some(detail)) => format!("{:?}: {detail}", e.kind()),
        _ => format!("{:?}", e.kind()),
    }
}
