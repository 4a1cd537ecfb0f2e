//! Gong's limits, kept on our side so that Gong never has to answer 429: a token bucket of
//! `GONG_API_RATE_LIMIT`/s with `GONG_API_BURST_LIMIT` burst, and the daily budget
//! `GONG_API_DAILY_LIMIT` (a UTC day; Gong does not document when its day resets, so a few
//! calls of margin are cheap insurance).
//!
//! The limit is per Gong company, so several replicas (and CLI commands) must share it:
//! [`StoreLimiter`] takes its permits from the operational store, which they all use;
//! [`LocalLimiter`] serves a process on its own (and steps in while the store is down).

use std::future::Future;
use std::num::NonZeroU32;
use std::pin::Pin;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use chrono::{NaiveDate, Utc};
use governor::{DefaultDirectRateLimiter, Jitter, Quota};
use rand::Rng;

use crate::store::{Permit, SharedRate, Store};
use crate::verify::now_ms;

#[derive(Debug, Clone, thiserror::Error)]
pub enum LimitError {
    #[error("the daily Gong API budget ({limit} calls) is used up until {resets_at} UTC")]
    DailyBudgetExhausted { limit: u32, resets_at: String },
}

impl LimitError {
    /// Today's `limit` is spent; it resets at the next UTC day.
    fn exhausted(limit: u32) -> LimitError {
        let today = Utc::now().date_naive();
        LimitError::DailyBudgetExhausted {
            limit,
            resets_at: today.succ_opt().unwrap_or(today).to_string(),
        }
    }
}

pub type LimitFuture<'a> = Pin<Box<dyn Future<Output = Result<(), LimitError>> + Send + 'a>>;

/// Grants permission for one Gong API call.
pub trait RateLimiter: Send + Sync {
    /// Waits until one more call fits the rate, or fails when the day's budget is spent.
    fn acquire(&self) -> LimitFuture<'_>;
    /// Calls left today, for the `gong_api_daily_budget_remaining` gauge.
    fn daily_remaining(&self) -> u32;
    /// Brings `daily_remaining` up to date where other processes spend the same budget.
    fn refresh(&self) -> LimitFuture<'_> {
        Box::pin(async { Ok(()) })
    }
}

/// The in-process limiter (one replica).
pub struct LocalLimiter {
    bucket: DefaultDirectRateLimiter,
    daily_limit: u32,
    day: Mutex<(NaiveDate, u32)>,
}

impl LocalLimiter {
    pub fn new(rate_per_sec: f64, burst: u32, daily_limit: u32) -> LocalLimiter {
        let period = Duration::from_secs_f64(1.0 / rate_per_sec.max(0.001));
        let quota = Quota::with_period(period)
            .expect("period is positive")
            .allow_burst(NonZeroU32::new(burst.max(1)).expect("burst is at least 1"));
        LocalLimiter {
            bucket: DefaultDirectRateLimiter::direct(quota),
            daily_limit,
            day: Mutex::new((Utc::now().date_naive(), 0)),
        }
    }

    fn take_daily(&self) -> Result<(), LimitError> {
        let today = Utc::now().date_naive();
        let mut day = self.day.lock().unwrap_or_else(|p| p.into_inner());
        if day.0 != today {
            *day = (today, 0);
        }
        if day.1 >= self.daily_limit {
            return Err(LimitError::exhausted(self.daily_limit));
        }
        day.1 += 1;
        Ok(())
    }
}

impl RateLimiter for LocalLimiter {
    fn acquire(&self) -> LimitFuture<'_> {
        Box::pin(async move {
            // The budget is taken only once the call is about to go: a caller cancelled
            // while waiting for the bucket has spent nothing.
            self.bucket
                .until_ready_with_jitter(Jitter::up_to(Duration::from_millis(20)))
                .await;
            self.take_daily()
        })
    }

    fn daily_remaining(&self) -> u32 {
        let day = self.day.lock().unwrap_or_else(|p| p.into_inner());
        if day.0 != Utc::now().date_naive() {
            return self.daily_limit;
        }
        self.daily_limit.saturating_sub(day.1)
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_daily_budget_runs_out() {
        let l = LocalLimiter::new(1000.0, 10, 3);
        for _ in 0..3 {
            l.acquire().await.unwrap();
        }
        assert_eq!(l.daily_remaining(), 0);
        assert!(matches!(
            l.acquire().await,
            Err(LimitError::DailyBudgetExhausted { limit: 3, .. })
        ));
    }
}
