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

#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    /// REDIS_URL is not one the redis crate can use.
    #[error("REDIS_URL: {0}")]
    BadUrl(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Redis did not take the batch; it waits and goes again.
    #[error("redis: {0}")]
    Redis(String),
    #[error("redis unavailable (circuit breaker open)")]
    BreakerOpen,
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
    redis: ConnectionManager,
    names: Names,
    settings: Settings,
    breaker: Breaker,
    wake: Arc<Notify>,
    last_error: Mutex<Option<(String, DateTime<Utc>)>>,
    /// Consecutive failed batches, for the growing delay.
    failures: Mutex<u32>,
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
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(2)))
            .set_response_timeout(Some(Duration::from_secs(5)))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_secs(2));
        let redis = ConnectionManager::new_lazy_with_config(client, config)
            .map_err(|e| NotifyError::Redis(redact(&e)))?;
        Ok(Publisher {
            inner: Arc::new(Inner {
                store,
                redis,
                names: Names::new(settings.prefix.clone()),
                breaker: Breaker::new("redis", BREAKER_THRESHOLD, settings.retry_base),
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
            last_error: self
                .inner
                .last_error
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone(),
        }
    }

    /// One `PING`, for `/health` and `check-config`.
    pub async fn ping(&self) -> Result<Duration, NotifyError> {
        let started = Instant::now();
        let mut conn = self.inner.redis.clone();
        redis::cmd("PING")
            .query_async::<String>(&mut conn)
            .await
            .map_err(|e| NotifyError::Redis(redact(&e)))?;
        Ok(started.elapsed())
    }

    /// Publishes until `stop` turns true: woken by the pipeline, or every second.
    pub fn spawn(&self, mut stop: watch::Receiver<bool>) -> JoinHandle<()> {
        let p = self.clone();
        tokio::spawn(async move {
            while !*stop.borrow() {
                let wait = match p.publish_once().await {
                    Ok(0) => IDLE_POLL,
                    // A full batch: there may be more right away.
                    Ok(n) if n as i64 >= BATCH => Duration::ZERO,
                    Ok(_) => IDLE_POLL,
                    Err(e) => {
                        let wait = p.delay();
                        tracing::warn!(error = %e, retry_in_ms = wait.as_millis() as u64, "notifications not published");
                        wait
                    }
                };
                if wait.is_zero() {
                    continue;
                }
                tokio::select! {
                    _ = p.inner.wake.notified() => {}
                    _ = tokio::time::sleep(wait) => {}
                    _ = stop.changed() => {}
                }
            }
        })
    }

    /// Claims one batch and publishes it. Returns how many rows it held.
    pub async fn publish_once(&self) -> Result<usize, NotifyError> {
        let inner = &self.inner;
        if inner.breaker.allow().is_err() {
            return Err(NotifyError::BreakerOpen);
        }
        let rows = inner
            .store
            .claim_outbox(BATCH, LEASE.as_millis() as i64, now_ms())
            .await?;
        if rows.is_empty() {
            // Nothing to send is no proof that Redis is up: a half-open breaker stays so
            // until a batch goes through.
            return Ok(0);
        }
        let leases: Vec<&str> = rows.iter().filter_map(|r| r.lease_id.as_deref()).collect();
        match self.send(&rows).await {
            Ok(created) => {
                inner.breaker.record_success();
                *inner.failures.lock().unwrap_or_else(|p| p.into_inner()) = 0;
                let now = now_ms();
                inner.store.mark_published(&leases, now).await?;
                self.record(&rows, &created, now);
                Ok(rows.len())
            }
            Err(e) => {
                inner.breaker.record_failure();
                let error = redact(&e);
                *inner.last_error.lock().unwrap_or_else(|p| p.into_inner()) =
                    Some((error.clone(), Utc::now()));
                let retry_at = now_ms() + self.delay().as_millis() as i64;
                inner.store.retry_outbox(&leases, retry_at, &error).await?;
                Err(NotifyError::Redis(error))
            }
        }
    }

    /// Sends every row through the script in one round trip. Returns, per row, whether
    /// this send created it in Redis (false: it was published before).
    async fn send(&self, rows: &[OutboxEntry]) -> Result<Vec<bool>, redis::RedisError> {
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
        let mut pipe = redis::pipe();
        pipe.cmd("SCRIPT").arg("LOAD").arg(SCRIPT).ignore();
        for inv in &invocations {
            pipe.invoke_script(inv);
        }
        let mut conn = inner.redis.clone();
        let created: Vec<i64> = pipe.query_async(&mut conn).await?;
        Ok(created.into_iter().map(|c| c == 1).collect())
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

    /// Counts what was published, per channel, and how long after its commit.
    fn record(&self, rows: &[OutboxEntry], created: &[bool], now: i64) {
        for (r, _) in rows.iter().zip(created).filter(|(_, c)| **c) {
            for channel in self.channels(r) {
                metrics::counter!(telemetry::NOTIFICATIONS_PUBLISHED_TOTAL, "channel" => channel)
                    .increment(1);
            }
            let delay = (now - r.created_at_ms).max(0) as f64 / 1e3;
            metrics::histogram!(telemetry::NOTIFICATION_PUBLISH_DELAY_SECONDS).record(delay);
        }
    }

    /// After a failure: `retry_base` doubling per consecutive failure up to `retry_max`,
    /// with jitter, so replicas do not return together.
    fn delay(&self) -> Duration {
        let s = &self.inner.settings;
        let mut failures = self
            .inner
            .failures
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        *failures = failures.saturating_add(1);
        let step = s
            .retry_base
            .saturating_mul(1u32 << (*failures - 1).min(16))
            .min(s.retry_max.max(s.retry_base));
        step.mul_f64(rand::rng().random_range(0.75..=1.0))
    }
}

/// A Redis error without what might carry the URL (and its password): the kind, and the
/// server's own message when there is one.
fn redact(e: &redis::RedisError) -> String {
    match (e.code(), e.detail()) {
        (Some(code), Some(detail)) => format!("{code}: {detail}"),
        _ if e.is_timeout() => "timeout".into(),
        _ if e.is_connection_refusal() => "connection refused".into(),
        _ if e.is_io_error() || e.is_connection_dropped() => "connection failed".into(),
        _ => format!("{:?}", e.kind()),
    }
}
