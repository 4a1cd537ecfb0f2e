//! The service's side of Gong's limits: [`StoreLimiter`] takes its permits from the
//! operational store, which every replica and CLI command uses, so together they stay under
//! Gong's per-company limit (architecture §6). While the store is down a process-local bucket with
//! the same limits serves.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use chrono::Utc;
use gong_api::{LimitError, LimitFuture, LocalLimiter, RateLimiter};
use rand::Rng;

use crate::store::{Permit, SharedRate, Store};
use crate::verify::now_ms;

/// The limiter shared through the store: one permit per Gong request, taken in a short
/// transaction on the `rate_limits` row. While the store cannot be reached, permits come
/// from a process-local bucket with the same limits (work goes on; a brief excess over the
/// company-wide limit costs at most a few 429s, which the client honours).
pub struct StoreLimiter {
    store: Store,
    limit: SharedRate,
    fallback: LocalLimiter,
    /// Last known calls left today (the trait's getter is synchronous).
    remaining: AtomicU32,
    /// When the store last failed (ms). For a while after, permits come straight from the
    /// fallback: reaching a store that is down can take the pool's whole acquire timeout,
    /// which every Gong request would otherwise pay. Also logs the outage once, not per call.
    failed_at_ms: AtomicU64,
    /// How long after a store failure the fallback is used without asking the store.
    hold_ms: u64,
}

/// The row all Gong clients share.
const GONG_API: &str = "gong_api";

impl StoreLimiter {
    pub fn new(store: Store, rate_per_sec: f64, burst: u32, daily_limit: u32) -> StoreLimiter {
        StoreLimiter {
            store,
            limit: SharedRate {
                rate: rate_per_sec,
                burst,
                daily: daily_limit,
            },
            fallback: LocalLimiter::new(rate_per_sec, burst, daily_limit),
            remaining: AtomicU32::new(daily_limit),
            failed_at_ms: AtomicU64::new(0),
            hold_ms: 30_000,
        }
    }

    /// How long to stay on the local bucket after the store failed (default 30 s).
    pub fn fallback_hold(mut self, hold: Duration) -> StoreLimiter {
        self.hold_ms = hold.as_millis() as u64;
        self
    }
}

impl RateLimiter for StoreLimiter {
    fn acquire(&self) -> LimitFuture<'_> {
        Box::pin(async move {
            loop {
                let now = now_ms().max(0) as u64;
                let failed_at = self.failed_at_ms.load(Ordering::Relaxed);
                if failed_at > 0 && now.saturating_sub(failed_at) < self.hold_ms {
                    return self.fallback.acquire().await;
                }
                let today = Utc::now().date_naive().to_string();
                let answer = self
                    .store
                    .take_permit(GONG_API, self.limit, now_ms(), &today)
                    .await;
                if answer.is_ok() && failed_at != 0 {
                    self.failed_at_ms.store(0, Ordering::Relaxed);
                    tracing::info!("shared Gong rate limit available again");
                }
                match answer {
                    Ok(Permit::Granted { day_used }) => {
                        self.remaining
                            .store(self.limit.daily.saturating_sub(day_used), Ordering::Relaxed);
                        return Ok(());
                    }
                    Ok(Permit::DayExhausted) => {
                        self.remaining.store(0, Ordering::Relaxed);
                        return Err(LimitError::exhausted(self.limit.daily));
                    }
                    // Up to 20 ms more, so waiters told the same instant do not collide.
                    Ok(Permit::Wait(d)) => {
                        let jitter = rand::rng().random_range(0..20);
                        tokio::time::sleep(d + Duration::from_millis(jitter)).await;
                    }
                    Err(e) => {
                        if failed_at == 0 {
                            tracing::warn!(error = %e, "shared Gong rate limit unavailable; limiting this process alone");
                        }
                        self.failed_at_ms.store(now.max(1), Ordering::Relaxed);
                        return self.fallback.acquire().await;
                    }
                }
            }
        })
    }

    fn daily_remaining(&self) -> u32 {
        self.remaining.load(Ordering::Relaxed)
    }

    /// Reads what every process has spent today (a process that has not called Gong yet
    /// would otherwise report the whole budget).
    fn refresh(&self) -> LimitFuture<'_> {
        Box::pin(async move {
            let today = Utc::now().date_naive().to_string();
            if let Ok(used) = self.store.permits_used(GONG_API, &today).await {
                self.remaining
                    .store(self.limit.daily.saturating_sub(used), Ordering::Relaxed);
            }
            Ok(())
        })
    }
}
