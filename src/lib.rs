//! gong-relay: Gong webhooks into a warehouse and to AI agents, durably.
//!
//! The flow (docs/architecture.md §2): `http` receives a webhook, `verify` turns it into a
//! [`verify::VerifiedEvent`] (the only type the inbox takes), `inbox` commits it to the
//! operational `store` with group commit, and only then is the webhook acknowledged.

pub mod app;
pub mod breaker;
pub mod config;
pub mod gong;
pub mod http;
pub mod inbox;
pub mod insights;
pub mod notify;
pub mod pipeline;
pub mod store;
pub mod telemetry;
pub mod verify;
pub mod warehouse;
