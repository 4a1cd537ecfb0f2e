//! Permits for a rate limit shared by every process on this store (Gong's limit is per
//! company). See the `rate_limits` migration for the scheme.

use std::time::Duration;

use super::{Store, StoreError};

/// A shared limit: `rate` permits per second with bursts of `burst`, and `daily` per UTC
/// day.
#[derive(Debug, Clone, Copy)]
pub struct SharedRate {
    pub rate: f64,
    pub burst: u32,
    pub daily: u32,
}

/// The answer to one request for a permit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Permit {
    /// Go ahead; `day_used` permits (this one included) are spent today.
    Granted { day_used: u32 },
    /// None free now: ask again after this long.
    Wait(Duration),
    /// Today's quota is spent.
    DayExhausted,
}

impl Store {
    /// Takes one permit of `name` if the rate and the day allow it. `today` is the UTC date
    /// as `YYYY-MM-DD`.
    pub async fn take_permit(
        &self,
        name: &str,
        limit: SharedRate,
        now_ms: i64,
        today: &str,
    ) -> Result<Permit, StoreError> {
        // The INSERT comes first: on SQLite it takes the write lock at once, so no other
        // process can change the row between our read and our update (a read-then-write
        // transaction would instead fail with SQLITE_BUSY when another commits first). On
        // PostgreSQL the row lock of FOR UPDATE does the same.
        let lock = match self {
            Store::Sqlite(_) => "",
            Store::Postgres(_) => " FOR UPDATE",
        };
        let select = format!("SELECT tat_ms, day, day_used FROM rate_limits WHERE name = $1{lock}");
        with_pool!(self, p => {
            let mut tx = p.begin().await?;
            sqlx::query(
                "INSERT INTO rate_limits (name, tat_ms, day, day_used) VALUES ($1, 0, $2, 0) \
                 ON CONFLICT (name) DO NOTHING",
            )
            .bind(name)
            .bind(today)
            .execute(&mut *tx)
            .await?;
            let (tat_ms, day, used): (i64, String, i64) =
                sqlx::query_as(sqlx::AssertSqlSafe(select.clone()))
                    .bind(name)
                    .fetch_one(&mut *tx)
                    .await?;
            let used = if day == today { used } else { 0 };
            let decision = decide(limit, tat_ms, used, now_ms);
            if let Decision::Grant { tat_ms } = decision {
                sqlx::query(
                    "UPDATE rate_limits SET tat_ms = $1, day = $2, day_used = $3 WHERE name = $4",
                )
                .bind(tat_ms)
                .bind(today)
                .bind(used + 1)
                .bind(name)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
            Ok(match decision {
                Decision::Grant { .. } => Permit::Granted {
                    day_used: (used + 1).try_into().unwrap_or(u32::MAX),
                },
                Decision::Wait(d) => Permit::Wait(d),
                Decision::DayExhausted => Permit::DayExhausted,
            })
        })
    }
}

impl Store {
    /// Permits of `name` spent on `today` (0 when none, or only on another day).
    pub async fn permits_used(&self, name: &str, today: &str) -> Result<u32, StoreError> {
        let used: Option<i64> = with_pool!(self, p => sqlx::query_scalar(
            "SELECT day_used FROM rate_limits WHERE name = $1 AND day = $2",
        )
        .bind(name)
        .bind(today)
        .fetch_optional(p)
        .await?);
        Ok(used.unwrap_or(0).try_into().unwrap_or(u32::MAX))
    }
}

#[derive(Debug, PartialEq)]
enum Decision {
    Grant { tat_ms: i64 },
    Wait(Duration),
    DayExhausted,
}

/// GCRA: one permit every `interval`; up to `burst` may be taken at once.
fn decide(limit: SharedRate, tat_ms: i64, day_used: i64, now_ms: i64) -> Decision {
    if day_used >= i64::from(limit.daily) {
        return Decision::DayExhausted;
    }
    let interval = 1000.0 / limit.rate.max(0.001);
    let window = f64::from(limit.burst.max(1)) * interval;
    // A tat further ahead than one full burst can only come from a process whose clock
    // runs ahead (or one configured with a lower rate): capped, so that it delays the
    // others by one interval at most instead of by its clock's error.
    let tat = (tat_ms as f64).min(now_ms as f64 + window);
    let next = tat.max(now_ms as f64) + interval;
    let ahead = next - now_ms as f64 - window;
    if ahead <= 0.0 {
        Decision::Grant {
            tat_ms: next.round() as i64,
        }
    } else {
        Decision::Wait(Duration::from_millis(ahead.ceil() as u64))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMIT: SharedRate = SharedRate {
        rate: 2.0,
        burst: 3,
        daily: 5,
    };

    #[test]
    fn a_burst_then_one_permit_per_interval() {
        let now = 1_000_000;
        let mut tat = 0;
        for _ in 0..3 {
            match decide(LIMIT, tat, 0, now) {
                Decision::Grant { tat_ms } => tat = tat_ms,
                other => panic!("burst refused: {other:?}"),
            }
        }
        // The fourth waits one interval (500 ms at 2/s)…
        assert_eq!(
            decide(LIMIT, tat, 0, now),
            Decision::Wait(Duration::from_millis(500))
        );
        // …and is granted once it has passed.
        assert!(matches!(
            decide(LIMIT, tat, 0, now + 500),
            Decision::Grant { .. }
        ));
    }

    #[test]
    fn a_clock_far_ahead_delays_others_one_interval_at_most() {
        let now = 1_000_000;
        // Written by a process whose clock is an hour ahead.
        let tat = now + 3_600_000;
        assert_eq!(
            decide(LIMIT, tat, 0, now),
            Decision::Wait(Duration::from_millis(500))
        );
    }

    #[test]
    fn the_day_runs_out() {
        assert_eq!(decide(LIMIT, 0, 5, 1_000), Decision::DayExhausted);
        assert!(matches!(decide(LIMIT, 0, 4, 1_000), Decision::Grant { .. }));
    }
}
