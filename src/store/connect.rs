//! Opening the store: pools for both backends, and start-up errors an operator can act on.
//!
//! A pool that cannot connect says only "pool timed out" after its acquire timeout, so
//! PostgreSQL is first reached with one direct connection under a short timeout: its error
//! is the real cause (connection refused, unknown database, wrong password), reported at
//! once with the host and port it concerns (never the URL, which may hold a password).

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{ConnectOptions, Connection};

use super::{Store, StoreError};

/// How long the first, direct PostgreSQL connection may take: a server that does not
/// answer within it is reported as such, instead of after the pool's longer timeout.
const FIRST_CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// Whether a missing SQLite file may be created (by `serve` and `migrate`) or means the
/// command runs in the wrong place (`dlq`, `reprocess`, `backfill`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Missing {
    Create,
    Refuse,
}

impl Store {
    /// Opens the store named by `DATABASE_URL` (SQLite file created if missing).
    pub async fn connect(url: &SecretString) -> Result<Store, StoreError> {
        Store::open(url, Missing::Create).await
    }

    /// Opens the store named by `DATABASE_URL`; `missing` says what a missing SQLite file
    /// means. (A missing PostgreSQL database is always an error: nothing creates one.)
    pub async fn open(url: &SecretString, missing: Missing) -> Result<Store, StoreError> {
        let url = url.expose_secret();
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let options = PgConnectOptions::from_str(url)
                .map_err(|_| StoreError::BadUrl("not a valid postgres:// URL".into()))?;
            let place = postgres_place(&options);
            let unreachable = |cause: sqlx::Error| StoreError::Unreachable {
                place: place.clone(),
                cause: describe(cause),
            };
            match tokio::time::timeout(FIRST_CONNECT_TIMEOUT, options.connect()).await {
                Ok(Ok(conn)) => {
                    let _ = conn.close().await;
                }
                Ok(Err(e)) => return Err(unreachable(e)),
                Err(_) => {
                    return Err(StoreError::Unreachable {
                        place,
                        cause: format!("no answer within {}s", FIRST_CONNECT_TIMEOUT.as_secs()),
                    });
                }
            }
            let pool = PgPoolOptions::new()
                .max_connections(16)
                .acquire_timeout(Duration::from_secs(5))
                .connect_with(options)
                .await
                .map_err(unreachable)?;
            Ok(Store::Postgres(pool))
        } else {
            let options = SqliteConnectOptions::from_str(url)
                .map_err(|_| StoreError::BadUrl("not a valid sqlite: URL".into()))?;
            let in_memory = url.contains(":memory:") || url.contains("mode=memory");
            let path = sqlite_place(options.get_filename());
            if missing == Missing::Refuse && !in_memory && !options.get_filename().exists() {
                return Err(StoreError::NoStore { path });
            }
            let options = options
                .create_if_missing(missing == Missing::Create)
                .journal_mode(SqliteJournalMode::Wal)
                // FULL: a commit survives power loss, not only a process crash. Group commit
                // (see inbox) makes the sync cost per batch, not per request.
                .synchronous(SqliteSynchronous::Full)
                .busy_timeout(Duration::from_secs(5))
                // Statement journals (multi-row INSERT ... ON CONFLICT) in memory, not in
                // temporary files: they only matter for the statement's own rollback.
                .pragma("temp_store", "memory")
                .foreign_keys(true);
            let pool = SqlitePoolOptions::new()
                .max_connections(4)
                .acquire_timeout(Duration::from_secs(5))
                .connect_with(options)
                .await
                .map_err(|e| StoreError::Unreachable {
                    place: format!("sqlite at {path}"),
                    cause: describe(e),
                })?;
            Ok(Store::Sqlite(pool))
        }
    }
}

/// `postgres at host:port, database name`: what an operator needs to find the server, and
/// nothing of the credentials.
fn postgres_place(options: &PgConnectOptions) -> String {
    let at = match options.get_socket() {
        Some(socket) => socket.display().to_string(),
        None => format!("{}:{}", options.get_host(), options.get_port()),
    };
    match options.get_database() {
        Some(db) => format!("postgres at {at}, database {db}"),
        None => format!("postgres at {at}"),
    }
}

/// A relative path as the operator would type it (`./gong-relay.db`), so that it is
/// plain it depends on the working directory.
fn sqlite_place(path: &Path) -> String {
    if path.is_relative() && !path.starts_with(".") {
        format!("./{}", path.display())
    } else {
        path.display().to_string()
    }
}

/// The cause alone, once: the server's message without sqlx's "error returned from
/// database" and its chain, an I/O error as the OS words it.
fn describe(e: sqlx::Error) -> String {
    match e {
        sqlx::Error::Database(db) => db.message().to_owned(),
        sqlx::Error::Io(io) => io.to_string(),
        sqlx::Error::PoolTimedOut => "no connection within 5s".to_owned(),
        other => other.to_string(),
    }
}
