//! The warehouse: where raw webhooks, enhanced rows and the processing history land.
//!
//! Rows travel as JSON objects, one per row, whose fields are the table's columns (see
//! [`tables`]). That is the natural shape for Snowflake, whose batch insert binds one JSON
//! array and `FLATTEN`s it, and it lets one generic SQL writer serve every table on SQLite
//! and PostgreSQL: each column's [`ColType`] says how to bind the JSON value.
//!
//! A trait, because there really are several backends (SQLite, PostgreSQL, Snowflake) and
//! the pipeline must not care which one it writes to.

use std::fmt::Debug;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use serde::Serialize;
use serde_json::{Map, Value};

use crate::store::Store;

mod nul;
mod snowflake;
mod sql;
pub mod tables;

pub use snowflake::SnowflakeWarehouse;
pub use sql::SqlWarehouse;
pub use tables::{CALLS, EMAILS, HISTORY, MEETINGS, RAW};

#[derive(Debug, thiserror::Error)]
pub enum WarehouseError {
    #[error("warehouse error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("warehouse migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A row that does not fit its table (a bug on our side, never the client's input).
    #[error("row for {table} is invalid: {reason}")]
    BadRow { table: &'static str, reason: String },
    #[error("warehouse unavailable: {0}")]
    Unavailable(String),
    /// The warehouse refused a statement for a reason of the statement's own (SQL
    /// compilation, permissions): permanent until someone fixes it.
    #[error("warehouse refused the statement on {table}: {code} {message}")]
    Rejected {
        table: &'static str,
        code: String,
        message: String,
    },
}

impl WarehouseError {
    /// The warehouse could not be reached, or refused work for a reason of its own
    /// (shutting down, out of connections, disk full). Such a failure says nothing about
    /// the rows: it delays them without using up their attempts.
    pub fn is_outage(&self) -> bool {
        match self {
            WarehouseError::Unavailable(_) => true,
            WarehouseError::Database(e) => sqlx_outage(e),
            WarehouseError::Migrate(_)
            | WarehouseError::BadRow { .. }
            | WarehouseError::Rejected { .. } => false,
        }
    }
}

fn sqlx_outage(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(d) => {
            let Some(code) = d.code() else { return false };
            if d.try_downcast_ref::<sqlx::postgres::PgDatabaseError>()
                .is_some()
            {
                pg_outage(&code, d.message())
            } else {
                sqlite_outage(&code)
            }
        }
        _ => false,
    }
}

/// SQLSTATEs that describe the server, not the rows. 08: connection exception; 53:
/// insufficient resources; 57P01-57P03, 57P05: shut down, not accepting connections yet,
/// idle session ended; 25006: read-only (a replica mid-failover). 55000 is a general code:
/// only its "not currently accepting connections" (a database closed for maintenance)
/// counts.
fn pg_outage(code: &str, message: &str) -> bool {
    code.starts_with("08")
        || code.starts_with("53")
        || matches!(code, "57P01" | "57P02" | "57P03" | "57P05" | "25006")
        || (code == "55000" && message.contains("not currently accepting connections"))
}

/// SQLite result codes (extended codes carry the primary one in the low byte): BUSY,
/// LOCKED, IOERR, FULL, CANTOPEN.
fn sqlite_outage(code: &str) -> bool {
    code.parse::<i64>()
        .is_ok_and(|n| matches!(n & 0xff, 5 | 6 | 10 | 13 | 14))
}

/// How a column's JSON value is bound and stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColType {
    Text,
    Int,
    Float,
    Bool,
    /// RFC 3339 text in the row; TIMESTAMPTZ / TIMESTAMP_TZ where the backend has one.
    Time,
    /// Any JSON; JSONB on PostgreSQL, VARIANT on Snowflake, TEXT on SQLite.
    Json,
}

#[derive(Debug, Clone, Copy)]
pub struct Column {
    pub name: &'static str,
    pub ty: ColType,
    /// NOT NULL: a row without a value is a bad row.
    pub required: bool,
}

/// What a write does when a row with the same key exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteMode {
    /// Keep the existing row (raw webhooks and history: written once, never changed).
    InsertIgnore,
    /// Replace every non-key column, unless the stored row's `version` column is newer:
    /// a worker whose lease expired cannot overwrite the result of the one that took over.
    Upsert { version: &'static str },
}

#[derive(Debug)]
pub struct Table {
    pub name: &'static str,
    /// The key columns (also the conflict target).
    pub key: &'static [&'static str],
    pub columns: &'static [Column],
    pub mode: WriteMode,
}

impl Table {
    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.name == name)
    }
}

/// A batch of rows for one table, written as one statement (or a few, for very large
/// batches).
#[derive(Debug, Clone)]
pub struct Rows {
    pub table: &'static Table,
    pub rows: Vec<Map<String, Value>>,
}

impl Rows {
    /// Serialises typed rows; each must serialise to a JSON object.
    pub fn of<T: Serialize>(table: &'static Table, rows: &[T]) -> Result<Rows, WarehouseError> {
        let rows = rows
            .iter()
            .map(|r| match serde_json::to_value(r) {
                Ok(Value::Object(m)) => Ok(m),
                Ok(_) => Err(WarehouseError::BadRow {
                    table: table.name,
                    reason: "not a JSON object".into(),
                }),
                Err(e) => Err(WarehouseError::BadRow {
                    table: table.name,
                    reason: e.to_string(),
                }),
            })
            .collect::<Result<_, _>>()?;
        Ok(Rows { table, rows })
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }
}

pub type WarehouseFuture<'a, T> =
    Pin<Box<dyn Future<Output = Result<T, WarehouseError>> + Send + 'a>>;

pub trait Warehouse: Send + Sync + Debug {
    /// `sqlite`, `postgres` or `snowflake`.
    fn backend(&self) -> &'static str;
    /// Creates or upgrades the tables (idempotent).
    fn migrate(&self) -> WarehouseFuture<'_, ()>;
    /// Writes a batch in one transaction, as [`Table::mode`] says.
    fn write<'a>(&'a self, rows: &'a Rows) -> WarehouseFuture<'a, ()>;
    /// One row by its key (single-column keys), as a JSON object of its columns.
    fn fetch<'a>(
        &'a self,
        table: &'static Table,
        key: &'a str,
    ) -> WarehouseFuture<'a, Option<Map<String, Value>>>;
    /// Every row whose `column` equals `value`, ordered by the table's key (history of an
    /// event, raw rows of a source id, …).
    fn select<'a>(
        &'a self,
        table: &'static Table,
        column: &'static str,
        value: &'a str,
    ) -> WarehouseFuture<'a, Vec<Map<String, Value>>>;
    /// Number of rows in a table.
    fn count<'a>(&'a self, table: &'static Table) -> WarehouseFuture<'a, i64>;
    /// A cheap round trip, for `/health`.
    fn ping(&self) -> WarehouseFuture<'_, ()>;
    /// Deletes up to `limit` rows of `webhook_processing_history` that finished before
    /// `before_ms` (Unix epoch milliseconds), oldest first; returns how many
    /// (`HISTORY_RETENTION`).
    fn prune_history(&self, before_ms: i64, limit: i64) -> WarehouseFuture<'_, u64>;
}

/// The warehouse the configuration names. SQLite and PostgreSQL share the operational
/// store's pool (the same database, so one writer on SQLite).
pub fn open(store: &Store) -> Arc<dyn Warehouse> {
    Arc::new(SqlWarehouse::new(store.clone()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outages_are_told_from_row_errors() {
        // SQLite: BUSY, BUSY_RECOVERY (extended), FULL are outages; a UNIQUE violation
        // (extended 2067) and a type mismatch are the rows' fault.
        assert!(sqlite_outage("5") && sqlite_outage("261") && sqlite_outage("13"));
        assert!(!sqlite_outage("2067") && !sqlite_outage("20") && !sqlite_outage("x"));
        // PostgreSQL: connection failure, too many connections, admin shutdown, closed
        // database are outages; unique violation and invalid input (all digits, like
        // SQLite codes) are not.
        let pg = |code| pg_outage(code, "");
        assert!(pg("08006") && pg("53300") && pg("57P01") && pg("25006"));
        assert!(pg_outage(
            "55000",
            "database \"x\" is not currently accepting connections"
        ));
        assert!(!pg("55000"), "55000 for another reason");
        assert!(!pg("23505") && !pg("22P02") && !pg("42601"));
        assert!(WarehouseError::Unavailable("down".into()).is_outage());
        assert!(WarehouseError::Database(sqlx::Error::PoolTimedOut).is_outage());
        let bad = WarehouseError::BadRow {
            table: "t",
            reason: "r".into(),
        };
        assert!(!bad.is_outage());
    }
}
