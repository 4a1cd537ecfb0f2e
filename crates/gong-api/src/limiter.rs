//! Gong's limits, kept on our side so that Gong never has to answer 429: a token bucket of
//! `GONG_API_RATE_LIMIT`/s with `GONG_API_BURST_LIMIT` burst, and the daily budget
//! `GONG_API_DAILY_LIMIT` (a UTC day; Gong does not document when its day resets, so a few
//! calls of margin are cheap insurance).
//!
//! The limit is per Gong company, so several processes must share it: [`RateLimiter`] is
//! the seam where a shared limiter plugs in (gong-relay's takes permits from its store);
//! [`LocalLimiter`] serves a process on its own.

use std::future::Future;
use std::num::NonZeroU32;
use std::pin::Pin;
use std::sync::Mutex;
use std::time::Duration;

use chrono::{NaiveDate, Utc};
use governor::{DefaultDirectRateLimiter, Jitter, Quota};

#[derive(Debug, Clone, thiserror::Error)]
pub enum LimitError {
    #[error("the daily Gong API budget ({limit} calls) is used up until {resets_at} UTC")]
    DailyBudgetExhausted { limit: u32, resets_at: String },
}

impl LimitError {
    /// Today's `limit` is spent; it resets at the next UTC day.
    pub fn exhausted(limit: u32) -> LimitError {
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
