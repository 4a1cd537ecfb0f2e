//! The inbox writer's own connections, and the durability its commits need.
//!
//! The inbox committer is the one writer whose delay a sender sees: a webhook is answered
//! only after its commit, and Gong never retries. Sharing the store's general pool with
//! `/health`, the admin API and the workers let a flood of reads take every connection
//! while commits waited, then answered 503. So the committer gets a pool of its own, sized
//! for its commit concurrency, that nothing else uses.
//!
//! On PostgreSQL the same connections also make sure a commit is flushed before it is
//! acknowledged: a database (or role) configured with `synchronous_commit = off` would
//! acknowledge webhooks a database crash can still lose.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use sqlx::postgres::{PgConnection, PgPoolOptions};
use sqlx::sqlite::SqlitePoolOptions;

use super::{Store, StoreError};

/// As long as the general pool waits for a connection: past it the commit fails (503).
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

/// The warning about `synchronous_commit` is logged once per process, not per connection.
static WARNED_ASYNC_COMMIT: AtomicBool = AtomicBool::new(false);

impl Store {
    /// A store on the same database with up to `connections` connections of its own, for
    /// the inbox committer. Connections are opened lazily (so this needs no `await`); one
    /// is kept open.
    ///
    /// SQLite has one writer whatever the pool size: its writer gets one connection, and
    /// the general pool keeps the others for readers (WAL readers never block it) and for
    /// the workers' short transactions, which it waits for through the busy timeout.
    pub fn inbox_writer(&self, connections: u32) -> Store {
        match self {
            Store::Sqlite(p) => Store::Sqlite(
                SqlitePoolOptions::new()
                    .max_connections(1)
                    .min_connections(1)
                    .acquire_timeout(ACQUIRE_TIMEOUT)
                    .connect_lazy_with((*p.connect_options()).clone()),
            ),
            // One connection kept open, the others opened when commits overlap: a
            // PostgreSQL server's connection slots are shared by every replica.
            Store::Postgres(p) => Store::Postgres(
                PgPoolOptions::new()
                    .max_connections(connections.max(1))
                    .min_connections(1)
                    .acquire_timeout(ACQUIRE_TIMEOUT)
                    .after_connect(|conn, _| Box::pin(ensure_synchronous_commit(conn)))
                    .connect_lazy_with((*p.connect_options()).clone()),
            ),
        }
    }

    /// The `synchronous_commit` setting of this store's sessions (`None` on SQLite, whose
    /// durability is `synchronous=FULL` on every connection). On the inbox writer, this is
    /// the setting its commits run with.
    pub async fn synchronous_commit(&self) -> Result<Option<String>, StoreError> {
        Ok(match self {
            Store::Sqlite(_) => None,
            Store::Postgres(p) => Some(
                sqlx::query_scalar("SELECT current_setting('synchronous_commit')")
                    .fetch_one(p)
                    .await?,
            ),
        })
    }
}

/// Turns `synchronous_commit` on for this session when the database's (or role's) default
/// is `off`, and says so once. `local` and stronger settings are kept: `local` already
/// flushes the commit to the server's own disk before answering, which is what surviving a
/// database crash needs, and forcing `on` where an operator chose `local` would make every
/// commit wait for a synchronous standby, stalling the receiver while that standby is down.
async fn ensure_synchronous_commit(conn: &mut PgConnection) -> Result<(), sqlx::Error> {
    let setting: String = sqlx::query_scalar("SELECT current_setting('synchronous_commit')")
        .fetch_one(&mut *conn)
        .await?;
    if setting != "off" {
        return Ok(());
    }
    sqlx::query("SET synchronous_commit = on")
        .execute(&mut *conn)
        .await?;
    if !WARNED_ASYNC_COMMIT.swap(true, Ordering::Relaxed) {
        tracing::warn!(
            database_setting = %setting,
            "synchronous_commit is off for this database's sessions, so a database crash \
             could lose commits it already confirmed: the inbox's connections turn it on \
             for their commits (acknowledged webhooks stay durable); other writes keep the \
             database's setting"
        );
    }
    Ok(())
}
