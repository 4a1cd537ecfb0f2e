//! A pool of Snowflake sessions (deadpool with a manager of our own).
//!
//! The connector has no pool, and a login is a round trip with key or password checks, so
//! sessions are kept and reused. Snowflake's session tokens last about an hour and the
//! connector does not renew them: a session older than [`MAX_AGE`] is replaced when it comes
//! back to the pool, and one that Snowflake reports expired anyway (codes 390112 / 390114)
//! is dropped by the caller, which retries its statement once on a fresh one. So an idle
//! service needs no heartbeat: whatever it takes from the pool is young enough.

use std::time::Duration;

use deadpool::managed::{self, Metrics, RecycleError, RecycleResult};
use snowflake_connector_rs::{Client, Session};

/// Younger than Snowflake's one-hour session token, with room for a long statement.
const MAX_AGE: Duration = Duration::from_secs(45 * 60);

pub(super) type Pool = managed::Pool<Manager>;
pub(super) type PooledSession = managed::Object<Manager>;

pub(super) struct Manager {
    client: Client,
}

impl Manager {
    pub(super) fn new(client: Client) -> Manager {
        Manager { client }
    }
}

impl managed::Manager for Manager {
    type Type = Session;
    type Error = snowflake_connector_rs::Error;

    async fn create(&self) -> Result<Session, Self::Error> {
        self.client.create_session().await
    }

    async fn recycle(
        &self,
        _session: &mut Session,
        metrics: &Metrics,
    ) -> RecycleResult<Self::Error> {
        if metrics.age() > MAX_AGE {
            return Err(RecycleError::message("session older than its token"));
        }
        Ok(())
    }
}

/// The pool, sized by `SNOWFLAKE_POOL_SIZE`; waiting for a session or a login is bounded,
/// so an unreachable Snowflake is an outage reported in seconds, not a hang.
pub(super) fn build(client: Client, size: usize) -> Result<Pool, managed::BuildError> {
    managed::Pool::builder(Manager::new(client))
        .max_size(size.max(1))
        .wait_timeout(Some(Duration::from_secs(30)))
        .create_timeout(Some(Duration::from_secs(30)))
        .runtime(deadpool::Runtime::Tokio1)
        .build()
}
