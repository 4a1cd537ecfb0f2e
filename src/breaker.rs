//! A circuit breaker per dependency (Gong API, warehouse, Redis).
//!
//! After `threshold` consecutive failures the breaker opens: calls fail at once instead of
//! piling onto a dependency that is down. After `cool_down` it lets one probe through
//! (half-open); the probe's outcome closes or re-opens it. Written here rather than taken
//! from a crate because `/health` and `circuit_breaker_state` need to read the state, which
//! the maintained breaker crates do not expose.

use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    Closed,
    Open,
    HalfOpen,
}

impl BreakerState {
    /// The gauge value: 0 closed, 1 open, 2 half-open.
    pub fn gauge(self) -> f64 {
        match self {
            BreakerState::Closed => 0.0,
            BreakerState::Open => 1.0,
            BreakerState::HalfOpen => 2.0,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            BreakerState::Closed => "closed",
            BreakerState::Open => "open",
            BreakerState::HalfOpen => "half_open",
        }
    }
}

#[derive(Debug)]
enum Inner {
    Closed {
        failures: u32,
    },
    Open {
        until: Instant,
    },
    /// `probe`: when the one probe call was let through. A probe that never reports (its
    /// caller was cancelled, or failed before reaching the dependency) is given up on after
    /// a cool-down, so the breaker cannot stay half-open for ever.
    HalfOpen {
        probe: Option<Instant>,
    },
}

#[derive(Debug)]
pub struct Breaker {
    dependency: &'static str,
    threshold: u32,
    cool_down: Duration,
    inner: Mutex<Inner>,
}

/// The breaker refused the call; retry after `retry_in`.
#[derive(Debug, Clone, Copy)]
pub struct Open {
    pub retry_in: Duration,
}

impl Breaker {
    pub fn new(dependency: &'static str, threshold: u32, cool_down: Duration) -> Breaker {
        let b = Breaker {
            dependency,
            threshold: threshold.max(1),
            cool_down,
            inner: Mutex::new(Inner::Closed { failures: 0 }),
        };
        b.publish(BreakerState::Closed);
        b
    }

    /// May a call go ahead now?
    pub fn allow(&self) -> Result<(), Open> {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        match *inner {
            Inner::Closed { .. } => Ok(()),
            Inner::Open { until } => {
                let now = Instant::now();
                if now < until {
                    return Err(Open {
                        retry_in: until - now,
                    });
                }
                *inner = Inner::HalfOpen {
                    probe: Some(Instant::now()),
                };
                self.publish(BreakerState::HalfOpen);
                Ok(())
            }
            // One probe at a time: the others wait for its verdict.
            Inner::HalfOpen { probe: Some(since) } if since.elapsed() < self.cool_down => {
                Err(Open {
                    retry_in: Duration::from_millis(100),
                })
            }
            Inner::HalfOpen { .. } => {
                *inner = Inner::HalfOpen {
                    probe: Some(Instant::now()),
                };
                Ok(())
            }
        }
    }

    pub fn record_success(&self) {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        // A late answer to a call let through before the breaker opened says nothing about
        // now: only the half-open probe may close an open breaker.
        if matches!(*inner, Inner::Open { .. }) {
            return;
        }
        if !matches!(*inner, Inner::Closed { failures: 0 }) {
            if !matches!(*inner, Inner::Closed { .. }) {
                tracing::info!(dependency = self.dependency, "circuit breaker closed");
            }
            *inner = Inner::Closed { failures: 0 };
            self.publish(BreakerState::Closed);
        }
    }

    /// Opens the breaker now, whatever the count: for a failure that will not pass by
    /// itself (credentials the dependency refuses), where counting to the threshold would
    /// only spend work on more failures.
    pub fn trip(&self) {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        self.open(&mut inner);
    }

    pub fn record_failure(&self) {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let open = match *inner {
            Inner::Closed { failures } if failures + 1 >= self.threshold => true,
            Inner::Closed { failures } => {
                *inner = Inner::Closed {
                    failures: failures + 1,
                };
                false
            }
            Inner::HalfOpen { .. } | Inner::Open { .. } => true,
        };
        if open {
            self.open(&mut inner);
        }
    }

    fn open(&self, inner: &mut Inner) {
        tracing::warn!(
            dependency = self.dependency,
            cool_down_s = self.cool_down.as_secs_f64(),
            "circuit breaker open"
        );
        *inner = Inner::Open {
            until: Instant::now() + self.cool_down,
        };
        self.publish(BreakerState::Open);
    }

    pub fn state(&self) -> BreakerState {
        match *self.inner.lock().unwrap_or_else(|p| p.into_inner()) {
            Inner::Closed { .. } => BreakerState::Closed,
            Inner::Open { until } if Instant::now() >= until => BreakerState::HalfOpen,
            Inner::Open { .. } => BreakerState::Open,
            Inner::HalfOpen { .. } => BreakerState::HalfOpen,
        }
    }

    fn publish(&self, state: BreakerState) {
        metrics::gauge!(crate::telemetry::CIRCUIT_BREAKER_STATE, "dependency" => self.dependency)
            .set(state.gauge());
    }
}

/// The Gong API client consults the service's breaker like any other dependency's.
impl gong_api::CircuitBreaker for Breaker {
    fn allow(&self) -> Result<(), Duration> {
        Breaker::allow(self).map_err(|open| open.retry_in)
    }
    fn record_success(&self) {
        Breaker::record_success(self)
    }
    fn record_failure(&self) {
        Breaker::record_failure(self)
    }
    fn record_rejected(&self) {
        Breaker::trip(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_after_threshold_then_half_opens_and_closes() {
        let b = Breaker::new("test", 3, Duration::from_millis(30));
        for _ in 0..2 {
            b.record_failure();
        }
        assert_eq!(b.state(), BreakerState::Closed);
        b.record_failure();
        assert_eq!(b.state(), BreakerState::Open);
        assert!(b.allow().is_err());
        std::thread::sleep(Duration::from_millis(40));
        assert!(b.allow().is_ok(), "one probe after the cool-down");
        assert!(b.allow().is_err(), "only one probe at a time");
        b.record_success();
        assert_eq!(b.state(), BreakerState::Closed);
        assert!(b.allow().is_ok());
    }

    #[test]
    fn a_probe_that_never_reports_is_replaced() {
        let b = Breaker::new("test", 1, Duration::from_millis(20));
        b.record_failure();
        std::thread::sleep(Duration::from_millis(30));
        assert!(b.allow().is_ok(), "the probe (which then vanishes)");
        assert!(b.allow().is_err());
        std::thread::sleep(Duration::from_millis(30));
        assert!(b.allow().is_ok(), "a new probe after another cool-down");
        b.record_success();
        assert_eq!(b.state(), BreakerState::Closed);
    }

    #[test]
    fn a_late_success_does_not_close_an_open_breaker() {
        let b = Breaker::new("test", 1, Duration::from_secs(60));
        b.record_failure();
        b.record_success();
        assert_eq!(b.state(), BreakerState::Open);
    }

    #[test]
    fn a_failed_probe_reopens() {
        let b = Breaker::new("test", 1, Duration::from_millis(20));
        b.record_failure();
        std::thread::sleep(Duration::from_millis(30));
        assert!(b.allow().is_ok());
        b.record_failure();
        assert_eq!(b.state(), BreakerState::Open);
        assert!(b.allow().is_err());
    }

    #[test]
    fn a_trip_opens_at_once() {
        let b = Breaker::new("test", 5, Duration::from_secs(60));
        b.trip();
        assert_eq!(b.state(), BreakerState::Open);
        assert!(b.allow().is_err());
    }

    #[test]
    fn success_resets_the_count() {
        let b = Breaker::new("test", 2, Duration::from_secs(60));
        b.record_failure();
        b.record_success();
        b.record_failure();
        assert_eq!(b.state(), BreakerState::Closed);
    }
}
