//! A client for Gong's REST API v2: typed models, and one request path that keeps Gong's
//! limits so that Gong never has to refuse us.
//!
//! ```no_run
//! # async fn run() -> Result<(), gong_api::GongError> {
//! use gong_api::{Auth, ClientConfig, ContentSelector, GongClient};
//! use secrecy::SecretString;
//!
//! let auth = Auth::Basic { access_key: "KEY".into(), secret: SecretString::from("SECRET") };
//! let gong = GongClient::new(ClientConfig::new("https://us-12345.api.gong.io", auth))
//!     .expect("an HTTP client");
//! let calls = gong
//!     .extensive_calls_by_ids(&["7693221800038890052".into()], &ContentSelector::full())
//!     .await?;
//! println!("{} found, {} not (yet)", calls.found.len(), calls.missing.len());
//! # Ok(()) }
//! ```
//!
//! What the client does for every call, so no method can forget one of them:
//! - a rate limit and a daily budget ([`RateLimiter`]; [`LocalLimiter`] for one process, or
//!   your own to share Gong's per-company limit between processes);
//! - a 429's `Retry-After` pauses every caller of the client, not only the one told;
//! - 5xx, timeouts and connection errors back off exponentially with jitter; other 4xx
//!   fail at once ([`GongError::is_retryable`] says which errors may pass);
//! - an optional [`CircuitBreaker`] is told of every outcome and may refuse calls;
//! - pagination by `records.cursor`, restarted when Gong says the cursor expired;
//! - batched look-ups of up to [`MAX_IDS_PER_REQUEST`] call ids per request;
//! - the metrics named in [`metric`] through the `metrics` facade.
//!
//! Facts about the API this relies on: the tenant's own base URL, 3 calls/s and 10,000 a day
//! per company, 404 for an empty filter result, ISO-8601 times with offsets.

mod client;
mod endpoints;
mod error;
mod limiter;
pub mod models;
mod pages;
mod request;

use std::time::Duration;

use secrecy::SecretString;

pub use client::{ClientConfig, GongClient};
pub use endpoints::calls::{Batch, CallFilter, ContentSelector, MAX_IDS_PER_REQUEST};
pub use endpoints::users::{ScorecardFilter, StatsFilter};
pub use error::GongError;
pub use limiter::{LimitError, LimitFuture, LocalLimiter, RateLimiter};

/// How the client authenticates to Gong.
#[derive(Debug, Clone)]
pub enum Auth {
    /// `accessKey:accessKeySecret`, sent as HTTP Basic.
    Basic {
        access_key: String,
        secret: SecretString,
    },
    /// An OAuth access token.
    Bearer(SecretString),
}

/// A circuit breaker the client consults before each request and tells of each outcome
/// (a 429 or another 4xx counts as a success: Gong answered). Without one, the client never
/// refuses a call on its own.
pub trait CircuitBreaker: Send + Sync {
    /// `Err(retry_in)` when no request may go now.
    fn allow(&self) -> Result<(), Duration>;
    fn record_success(&self);
    fn record_failure(&self);
    /// Gong refused our credentials (401/403): nothing will pass until an operator fixes
    /// them, so a breaker should open at once rather than count. By default, a failure.
    fn record_rejected(&self) {
        self.record_failure();
    }
}

/// Names of the metrics the client records (via the `metrics` crate's global recorder).
pub mod metric {
    /// Counter `{endpoint, status}`: every response, or `error` when none came.
    pub const CALLS_TOTAL: &str = "gong_api_calls_total";
    /// Counter: 429 answers.
    pub const RATE_LIMIT_HITS_TOTAL: &str = "api_rate_limit_hits_total";
    /// Gauge: calls left in today's budget.
    pub const DAILY_BUDGET_REMAINING: &str = "gong_api_daily_budget_remaining";
}
