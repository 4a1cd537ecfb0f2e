//! Gong's quota: a token bucket (3/s, company-wide) plus a daily budget. A rejected request
//! takes nothing from either, so a client that backs off correctly loses no budget.

use std::sync::Mutex;
use std::time::Instant;

use chrono::{Duration as Span, Utc};

pub struct Limits {
    rate: f64,
    burst: f64,
    daily: u32,
    state: Mutex<State>,
}

struct State {
    tokens: f64,
    refilled: Instant,
    day: chrono::NaiveDate,
    used_today: u32,
}

impl Limits {
    /// `rate <= 0` turns the bucket off (the daily budget still applies).
    pub fn new(rate: f64, burst: u32, daily: u32) -> Limits {
        Limits {
            rate,
            burst: f64::from(burst.max(1)),
            daily,
            state: Mutex::new(State {
                tokens: f64::from(burst.max(1)),
                refilled: Instant::now(),
                day: Utc::now().date_naive(),
                used_today: 0,
            }),
        }
    }

    /// Takes one request from the budget, or says how many whole seconds to wait.
    pub fn take(&self) -> Result<(), u64> {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        let today = Utc::now().date_naive();
        if today != s.day {
            s.day = today;
            s.used_today = 0;
        }
        if s.used_today >= self.daily {
            // The day is assumed to reset at midnight UTC (Gong does not say when).
            let midnight = (today + Span::days(1))
                .and_hms_opt(0, 0, 0)
                .map(|m| m.and_utc());
            let wait = midnight.map_or(3600, |m| (m - Utc::now()).num_seconds().max(1) as u64);
            return Err(wait);
        }
        if self.rate > 0.0 {
            let elapsed = now.duration_since(s.refilled).as_secs_f64();
            s.tokens = (s.tokens + elapsed * self.rate).min(self.burst);
            s.refilled = now;
            if s.tokens < 1.0 {
                let wait = ((1.0 - s.tokens) / self.rate).ceil().max(1.0);
                return Err(wait as u64);
            }
            s.tokens -= 1.0;
        }
        s.used_today += 1;
        Ok(())
    }
}
