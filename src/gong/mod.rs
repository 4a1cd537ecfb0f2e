//! Gong's REST API: typed models, a client that keeps Gong's limits, and the limiter.
//!
//! Facts about the API this relies on are collected in the project's reference notes
//! (tenant base URL, 3 calls/s and 10,000/day, `records.cursor` pagination, 404 for an
//! empty filter result, ISO-8601 times with offsets).

mod client;
pub mod limiter;
pub mod models;

pub use client::{
    Batch, CallFilter, ClientConfig, ContentSelector, GongClient, GongError, MAX_IDS_PER_REQUEST,
    ScorecardFilter, StatsFilter,
};
pub use limiter::{LimitError, LocalLimiter, RateLimiter, StoreLimiter};
