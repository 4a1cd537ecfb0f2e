//! The warehouse on SQLite or PostgreSQL, sharing the operational store's pool.
//!
//! One generic writer serves every table: a row's JSON object is checked column by column
//! against the table's [`ColType`]s (before any SQL runs, so a bad row writes nothing) and
//! turned into [`Cell`]s, which each backend binds its own way. Everything else, the SQL
//! text included, is shared: `QueryBuilder` writes each backend's placeholders, as in the
//! store.
//!
//! Where the backends differ is in their types: PostgreSQL has TIMESTAMPTZ, BOOLEAN and
//! JSONB; SQLite stores times as RFC 3339 text (UTC, milliseconds, `Z`: one fixed width,
//! so text order is time order and equal times are equal strings), booleans as 0/1 and JSON
//! as text. [`Dialect`] holds those differences, for binding and for reading back.
//!
//! Identifiers come from the static table definitions, never from input; they are quoted
//! anyway, so a column named like a keyword (`system`, `version`) can never break a
//! statement.

use std::borrow::Cow;
use std::cmp::Ordering;

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Map, Number, Value};
use sqlx::postgres::Postgres;
use sqlx::sqlite::Sqlite;
use sqlx::types::Json;
use sqlx::{Database, QueryBuilder, Row};

use super::{ColType, Column, Rows, Table, Warehouse, WarehouseError, WarehouseFuture, WriteMode};
use crate::store::Store;

/// Most bind parameters one statement carries: under SQLite's limit (32,766) and
/// PostgreSQL's (65,535), so one chunking rule serves both. A wide enhanced table (36
/// columns) then writes 833 rows per statement, the history (10 columns) 3,000.
const MAX_BINDS: usize = 30_000;

/// One body for both backends: all statements of a write in one transaction, so a batch
/// is stored whole or not at all.
macro_rules! write_body {
    ($pool:expr, $db:ty, $plan:expr) => {{
        let plan: &Plan = $plan;
        let mut tx = $pool.begin().await?;
        for chunk in plan.rows.chunks(plan.chunk_rows) {
            let mut qb = QueryBuilder::<$db>::new(plan.head.as_str());
            for (i, row) in chunk.iter().enumerate() {
                qb.push(if i == 0 { "(" } else { ", (" });
                for (j, cell) in row.iter().enumerate() {
                    if j > 0 {
                        qb.push(", ");
                    }
                    <$db as Dialect>::push_cell(&mut qb, cell);
                }
                qb.push(")");
            }
            qb.push(plan.tail.as_str());
            // Not a prepared statement kept in the connection's cache: the text changes
            // with the number of rows, and a cache full of one-off batch sizes helps no one.
            qb.build().persistent(false).execute(&mut *tx).await?;
        }
        tx.commit().await?;
    }};
}

/// One body for both backends: every column of the rows where `column` equals `cell`,
/// ordered by the key, decoded back into JSON.
macro_rules! select_body {
    ($pool:expr, $db:ty, $table:expr, $col:expr, $cell:expr) => {{
        let table: &Table = $table;
        let mut qb = QueryBuilder::<$db>::new(select_sql(table));
        qb.push(" WHERE ").push(quoted($col.name)).push(" = ");
        <$db as Dialect>::push_cell(&mut qb, $cell);
        qb.push(" ORDER BY ")
            .push(column_list(table.key.iter().copied()));
        qb.build()
            .fetch_all($pool)
            .await?
            .iter()
            .map(|row| decode_row::<$db>(table, row))
            .collect::<Result<Vec<_>, _>>()?
    }};
}

#[derive(Debug, Clone)]
pub struct SqlWarehouse {
    store: Store,
}

impl SqlWarehouse {
    pub fn new(store: Store) -> SqlWarehouse {
        SqlWarehouse { store }
    }

    async fn migrate_tables(&self) -> Result<(), WarehouseError> {
        // The store's migrator records its versions in the same `_sqlx_migrations` table of
        // the same database: each side ignores the versions it does not know.
        match &self.store {
            Store::Sqlite(p) => {
                let mut m = sqlx::migrate!("./migrations/warehouse/sqlite");
                m.set_ignore_missing(true);
                m.run(p).await?;
            }
            Store::Postgres(p) => {
                let mut m = sqlx::migrate!("./migrations/warehouse/postgres");
                m.set_ignore_missing(true);
                m.run(p).await?;
            }
        }
        Ok(())
    }

    async fn write_rows(&self, rows: &Rows) -> Result<(), WarehouseError> {
        // PostgreSQL refuses NUL in text and jsonb (see `nul`); a copy only when needed.
        let cleaned;
        let rows = if super::nul::any(&rows.rows) {
            cleaned = Rows {
                table: rows.table,
                rows: super::nul::replaced(&rows.rows),
            };
            &cleaned
        } else {
            rows
        };
        let plan = Plan::new(rows)?;
        if plan.rows.is_empty() {
            return Ok(());
        }
        match &self.store {
            Store::Sqlite(pool) => write_body!(pool, Sqlite, &plan),
            Store::Postgres(pool) => write_body!(pool, Postgres, &plan),
        }
        Ok(())
    }

    async fn select_rows(
        &self,
        table: &'static Table,
        column: &str,
        value: &str,
    ) -> Result<Vec<Map<String, Value>>, WarehouseError> {
        let Some(col) = table.column(column) else {
            return Err(bad_row(table, format!("no column {column}")));
        };
        let cell = filter_cell(table, col, value)?;
        Ok(match &self.store {
            Store::Sqlite(pool) => select_body!(pool, Sqlite, table, col, &cell),
            Store::Postgres(pool) => select_body!(pool, Postgres, table, col, &cell),
        })
    }

    async fn fetch_row(
        &self,
        table: &'static Table,
        key: &str,
    ) -> Result<Option<Map<String, Value>>, WarehouseError> {
        let [key_column] = table.key else {
            return Err(bad_row(table, "fetch needs a single-column key".into()));
        };
        // The key is unique: at most one row.
        Ok(self.select_rows(table, key_column, key).await?.pop())
    }

    async fn count_rows(&self, table: &'static Table) -> Result<i64, WarehouseError> {
        let sql = format!("SELECT COUNT(*) FROM {}", quoted(table.name));
        Ok(match &self.store {
            Store::Sqlite(p) => {
                QueryBuilder::<Sqlite>::new(sql)
                    .build_query_scalar::<i64>()
                    .fetch_one(p)
                    .await?
            }
            Store::Postgres(p) => {
                QueryBuilder::<Postgres>::new(sql)
                    .build_query_scalar::<i64>()
                    .fetch_one(p)
                    .await?
            }
        })
    }

    async fn ping_db(&self) -> Result<(), WarehouseError> {
        match &self.store {
            Store::Sqlite(p) => {
                QueryBuilder::<Sqlite>::new("SELECT 1")
                    .build()
                    .execute(p)
                    .await?;
            }
            Store::Postgres(p) => {
                QueryBuilder::<Postgres>::new("SELECT 1")
                    .build()
                    .execute(p)
                    .await?;
            }
        }
        Ok(())
    }
}

impl Warehouse for SqlWarehouse {
    fn backend(&self) -> &'static str {
        self.store.backend()
    }

    fn migrate(&self) -> WarehouseFuture<'_, ()> {
        Box::pin(self.migrate_tables())
    }

    fn write<'a>(&'a self, rows: &'a Rows) -> WarehouseFuture<'a, ()> {
        Box::pin(self.write_rows(rows))
    }

    fn fetch<'a>(
        &'a self,
        table: &'static Table,
        key: &'a str,
    ) -> WarehouseFuture<'a, Option<Map<String, Value>>> {
        Box::pin(self.fetch_row(table, key))
    }

    /// Ordered by the key, for every table: the history's key is a UUID v7, so for the
    /// history that is also the order in which the stages ran.
    fn select<'a>(
        &'a self,
        table: &'static Table,
        column: &'static str,
        value: &'a str,
    ) -> WarehouseFuture<'a, Vec<Map<String, Value>>> {
        Box::pin(self.select_rows(table, column, value))
    }

    fn count<'a>(&'a self, table: &'static Table) -> WarehouseFuture<'a, i64> {
        Box::pin(self.count_rows(table))
    }

    fn ping(&self) -> WarehouseFuture<'_, ()> {
        Box::pin(self.ping_db())
    }

    fn prune_history(&self, before_ms: i64, limit: i64) -> WarehouseFuture<'_, u64> {
        Box::pin(self.prune_history_rows(before_ms, limit))
    }
}

/// A write, checked and ready: the rows' cells in key order, one row per key.
struct Plan<'a> {
    /// `INSERT INTO t (columns) VALUES `.
    head: String,
    /// The `ON CONFLICT` clause of the table's [`WriteMode`].
    tail: String,
    rows: Vec<Vec<Cell<'a>>>,
    chunk_rows: usize,
}

/// The rows of a batch checked against their table, in key order, one row per key: what
/// every backend writes. Insert-only tables keep the first row of a key, as a second write
/// would; upserts keep the highest version, the last one on ties, as successive writes would.
pub(super) fn checked_rows(batch: &Rows) -> Result<Vec<Vec<Cell<'_>>>, WarehouseError> {
    let table = batch.table;
    let key = positions(table, table.key)?;
    let version = match table.mode {
        WriteMode::InsertIgnore => None,
        WriteMode::Upsert { version } => Some(positions(table, &[version])?[0]),
    };

    // Columns come from the table, in its order; keys of the object that are not
    // columns are ignored.
    let mut rows =
        batch
            .rows
            .iter()
            .map(|row| {
                let cells = table
                    .columns
                    .iter()
                    .map(|col| to_cell(table, col, row.get(col.name)))
                    .collect::<Result<Vec<_>, _>>()?;
                if let Some(&k) = key.iter().find(|&&k| matches!(cells[k], Cell::Null(_))) {
                    let reason = format!("key column {} is missing", table.columns[k].name);
                    return Err(bad_row(table, reason));
                }
                if let Some(col) = table.columns.iter().zip(&cells).find_map(|(c, cell)| {
                    (c.required && matches!(cell, Cell::Null(_))).then_some(c)
                }) {
                    return Err(bad_row(table, format!("column {} is missing", col.name)));
                }
                Ok(cells)
            })
            .collect::<Result<Vec<_>, _>>()?;

    // Key order: concurrent PostgreSQL writers sharing keys lock them in the same order
    // and wait for each other instead of deadlocking. The sort is stable, so rows of
    // one key stay in batch order for the dedupe below.
    let key_cmp = |a: &[Cell], b: &[Cell]| {
        key.iter()
            .map(|&k| a[k].cmp_same_column(&b[k]))
            .find(|o| o.is_ne())
            .unwrap_or(Ordering::Equal)
    };
    rows.sort_by(|a, b| key_cmp(a, b));

    // One row per key: PostgreSQL refuses an `ON CONFLICT DO UPDATE` that touches a
    // row twice, Snowflake's MERGE would insert both, and the result must not depend on
    // the order within the statement.
    let mut deduped: Vec<Vec<Cell>> = Vec::with_capacity(rows.len());
    for row in rows {
        match deduped.last_mut() {
            Some(last) if key_cmp(last, &row).is_eq() => {
                if let Some(v) = version
                    && row[v].cmp_same_column(&last[v]).is_ge()
                {
                    *last = row;
                }
            }
            _ => deduped.push(row),
        }
    }
    Ok(deduped)
}

impl<'a> Plan<'a> {
    fn new(batch: &'a Rows) -> Result<Plan<'a>, WarehouseError> {
        let table = batch.table;
        let deduped = checked_rows(batch)?;

        let columns = column_list(table.columns.iter().map(|c| c.name));
        let head = format!("INSERT INTO {} ({columns}) VALUES ", quoted(table.name));
        let conflict = column_list(table.key.iter().copied());
        let updates: Vec<String> = table
            .columns
            .iter()
            .filter(|c| !table.key.contains(&c.name))
            .map(|c| format!("{0} = excluded.{0}", quoted(c.name)))
            .collect();
        let tail = match table.mode {
            WriteMode::Upsert { version } if !updates.is_empty() => format!(
                " ON CONFLICT ({conflict}) DO UPDATE SET {} WHERE {}.{v} <= excluded.{v}",
                updates.join(", "),
                quoted(table.name),
                v = quoted(version),
            ),
            _ => format!(" ON CONFLICT ({conflict}) DO NOTHING"),
        };
        Ok(Plan {
            head,
            tail,
            rows: deduped,
            chunk_rows: (MAX_BINDS / table.columns.len()).max(1),
        })
    }
}

/// Indices of `names` among the table's columns (a table definition naming a key or
/// version column it does not have is a bug, reported rather than panicking).
fn positions(table: &Table, names: &[&str]) -> Result<Vec<usize>, WarehouseError> {
    names
        .iter()
        .map(|n| {
            table
                .columns
                .iter()
                .position(|c| c.name == *n)
                .ok_or_else(|| bad_row(table, format!("no column {n}")))
        })
        .collect()
}

/// One column's value of one row, checked against its [`ColType`] and ready to bind.
#[derive(Debug)]
pub(super) enum Cell<'a> {
    /// NULL of the column's type: PostgreSQL types every parameter, and an untyped (text)
    /// NULL would not go into a BIGINT or JSONB column.
    Null(ColType),
    Text(Cow<'a, str>),
    Int(i64),
    Float(f64),
    Bool(bool),
    Time(DateTime<Utc>),
    Json(&'a Value),
}

impl Cell<'_> {
    /// Order of two cells of one column (keys, versions): NULL first.
    fn cmp_same_column(&self, other: &Cell) -> Ordering {
        match (self, other) {
            (Cell::Null(_), Cell::Null(_)) => Ordering::Equal,
            (Cell::Null(_), _) => Ordering::Less,
            (_, Cell::Null(_)) => Ordering::Greater,
            (Cell::Text(a), Cell::Text(b)) => a.cmp(b),
            (Cell::Int(a), Cell::Int(b)) => a.cmp(b),
            (Cell::Float(a), Cell::Float(b)) => a.total_cmp(b),
            (Cell::Bool(a), Cell::Bool(b)) => a.cmp(b),
            (Cell::Time(a), Cell::Time(b)) => a.cmp(b),
            (Cell::Json(a), Cell::Json(b)) => a.to_string().cmp(&b.to_string()),
            // Cells of one column always share a variant.
            _ => Ordering::Equal,
        }
    }
}

pub(super) fn bad_row(table: &Table, reason: String) -> WarehouseError {
    WarehouseError::BadRow {
        table: table.name,
        reason,
    }
}

/// Names a JSON value's kind, for errors (never the value: rows carry customer data).
fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Checks a row's value for `col`; a missing field and JSON null are NULL.
fn to_cell<'a>(
    table: &Table,
    col: &Column,
    v: Option<&'a Value>,
) -> Result<Cell<'a>, WarehouseError> {
    let Some(v) = v.filter(|v| !v.is_null()) else {
        return Ok(Cell::Null(col.ty));
    };
    let wrong = |expected: &str| {
        bad_row(
            table,
            format!("column {}: expected {expected}, got {}", col.name, kind(v)),
        )
    };
    Ok(match col.ty {
        ColType::Text => match v {
            Value::String(s) => Cell::Text(Cow::Borrowed(s)),
            // A number or a structure in a text column is kept as its JSON text.
            other => Cell::Text(Cow::Owned(other.to_string())),
        },
        ColType::Int => Cell::Int(v.as_i64().ok_or_else(|| wrong("an integer"))?),
        ColType::Float => Cell::Float(v.as_f64().ok_or_else(|| wrong("a number"))?),
        ColType::Bool => Cell::Bool(v.as_bool().ok_or_else(|| wrong("a boolean"))?),
        ColType::Time => {
            let s = v.as_str().ok_or_else(|| wrong("an RFC 3339 time"))?;
            Cell::Time(parse_time(s).map_err(|e| {
                bad_row(
                    table,
                    format!("column {}: not an RFC 3339 time ({e})", col.name),
                )
            })?)
        }
        ColType::Json => Cell::Json(v),
    })
}

/// The value a `select` compares `col` with, from its text form.
fn filter_cell<'a>(
    table: &Table,
    col: &Column,
    value: &'a str,
) -> Result<Cell<'a>, WarehouseError> {
    let bad = |what: &str| bad_row(table, format!("column {}: {what}", col.name));
    Ok(match col.ty {
        ColType::Text => Cell::Text(Cow::Borrowed(value)),
        ColType::Int => Cell::Int(value.parse().map_err(|_| bad("not an integer"))?),
        ColType::Float => Cell::Float(value.parse().map_err(|_| bad("not a number"))?),
        ColType::Bool => Cell::Bool(value.parse().map_err(|_| bad("not true or false"))?),
        ColType::Time => Cell::Time(parse_time(value).map_err(|_| bad("not an RFC 3339 time"))?),
        ColType::Json => return Err(bad("a JSON column cannot be selected by")),
    })
}

/// Any RFC 3339 offset, normalised to UTC.
pub(super) fn parse_time(s: &str) -> Result<DateTime<Utc>, chrono::ParseError> {
    DateTime::parse_from_rfc3339(s).map(|t| t.with_timezone(&Utc))
}

/// The one text form of a time: stored on SQLite, returned by reads on both backends.
pub(super) fn format_time(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn quoted(name: &str) -> String {
    format!("\"{name}\"")
}

fn column_list<'a>(names: impl Iterator<Item = &'a str>) -> String {
    names.map(quoted).collect::<Vec<_>>().join(", ")
}

fn select_sql(table: &Table) -> String {
    format!(
        "SELECT {} FROM {}",
        column_list(table.columns.iter().map(|c| c.name)),
        quoted(table.name)
    )
}

/// A row of [`select_sql`] as a JSON object of every column.
fn decode_row<DB: Dialect>(
    table: &Table,
    row: &DB::Row,
) -> Result<Map<String, Value>, WarehouseError> {
    table
        .columns
        .iter()
        .enumerate()
        .map(|(i, col)| Ok((col.name.to_owned(), DB::decode(row, i, col.ty)?)))
        .collect()
}

fn float(v: Option<f64>) -> Value {
    // NaN and infinities have no JSON form (and JSON input cannot produce them).
    v.and_then(Number::from_f64)
        .map_or(Value::Null, Value::Number)
}

fn decode_error(index: usize, e: impl Into<sqlx::error::BoxDynError>) -> sqlx::Error {
    sqlx::Error::ColumnDecode {
        index: index.to_string(),
        source: e.into(),
    }
}

/// Text, integers, floats and booleans read back the same way on every backend.
fn decode_scalar<DB: Database>(row: &DB::Row, i: usize, ty: ColType) -> Result<Value, sqlx::Error>
where
    usize: sqlx::ColumnIndex<DB::Row>,
    for<'r> String: sqlx::Decode<'r, DB> + sqlx::Type<DB>,
    for<'r> i64: sqlx::Decode<'r, DB> + sqlx::Type<DB>,
    for<'r> f64: sqlx::Decode<'r, DB> + sqlx::Type<DB>,
    for<'r> bool: sqlx::Decode<'r, DB> + sqlx::Type<DB>,
{
    Ok(match ty {
        ColType::Text => row
            .try_get::<Option<String>, _>(i)?
            .map_or(Value::Null, Value::String),
        ColType::Int => row
            .try_get::<Option<i64>, _>(i)?
            .map_or(Value::Null, Value::from),
        ColType::Float => float(row.try_get(i)?),
        ColType::Bool => row
            .try_get::<Option<bool>, _>(i)?
            .map_or(Value::Null, Value::Bool),
        ColType::Time | ColType::Json => {
            return Err(decode_error(i, "times and JSON decode per backend"));
        }
    })
}

/// How a backend binds a [`Cell`] and reads a column back as JSON.
trait Dialect: Database {
    fn push_cell(qb: &mut QueryBuilder<Self>, cell: &Cell<'_>);
    fn decode(row: &Self::Row, index: usize, ty: ColType) -> Result<Value, sqlx::Error>;
}

impl Dialect for Sqlite {
    fn push_cell(qb: &mut QueryBuilder<Self>, cell: &Cell<'_>) {
        match cell {
            // SQLite columns take any type: a NULL is a NULL.
            Cell::Null(_) => qb.push_bind(None::<String>),
            Cell::Text(s) => qb.push_bind(s.as_ref()),
            Cell::Int(i) => qb.push_bind(*i),
            Cell::Float(f) => qb.push_bind(*f),
            Cell::Bool(b) => qb.push_bind(*b),
            // Our own format rather than sqlx's, so stored text stays the same across
            // versions and compares (and sorts) as times do.
            Cell::Time(t) => qb.push_bind(format_time(t)),
            Cell::Json(v) => qb.push_bind(v.to_string()),
        };
    }

    fn decode(row: &Self::Row, i: usize, ty: ColType) -> Result<Value, sqlx::Error> {
        Ok(match ty {
            ColType::Text | ColType::Int | ColType::Float | ColType::Bool => {
                decode_scalar::<Self>(row, i, ty)?
            }
            ColType::Time => match row.try_get::<Option<String>, _>(i)? {
                None => Value::Null,
                Some(s) => {
                    let t = parse_time(&s).map_err(|e| decode_error(i, e))?;
                    Value::String(format_time(&t))
                }
            },
            ColType::Json => match row.try_get::<Option<String>, _>(i)? {
                None => Value::Null,
                Some(s) => serde_json::from_str(&s).map_err(|e| decode_error(i, e))?,
            },
        })
    }
}

impl Dialect for Postgres {
    fn push_cell(qb: &mut QueryBuilder<Self>, cell: &Cell<'_>) {
        match cell {
            Cell::Null(ColType::Text) => qb.push_bind(None::<String>),
            Cell::Null(ColType::Int) => qb.push_bind(None::<i64>),
            Cell::Null(ColType::Float) => qb.push_bind(None::<f64>),
            Cell::Null(ColType::Bool) => qb.push_bind(None::<bool>),
            Cell::Null(ColType::Time) => qb.push_bind(None::<DateTime<Utc>>),
            Cell::Null(ColType::Json) => qb.push_bind(None::<Json<Value>>),
            Cell::Text(s) => qb.push_bind(s.as_ref()),
            Cell::Int(i) => qb.push_bind(*i),
            Cell::Float(f) => qb.push_bind(*f),
            Cell::Bool(b) => qb.push_bind(*b),
            Cell::Time(t) => qb.push_bind(*t),
            Cell::Json(v) => qb.push_bind(Json(*v)),
        };
    }

    fn decode(row: &Self::Row, i: usize, ty: ColType) -> Result<Value, sqlx::Error> {
        Ok(match ty {
            ColType::Text | ColType::Int | ColType::Float | ColType::Bool => {
                decode_scalar::<Self>(row, i, ty)?
            }
            ColType::Time => row
                .try_get::<Option<DateTime<Utc>>, _>(i)?
                .map_or(Value::Null, |t| Value::String(format_time(&t))),
            ColType::Json => row
                .try_get::<Option<Json<Value>>, _>(i)?
                .map_or(Value::Null, |j| j.0),
        })
    }
}

/// The smallest history id (a UUID v7, whose text sorts as its time) of the millisecond
/// `before_ms`: the rows older than it are those whose id sorts below.
pub(super) fn history_bound(before_ms: i64) -> String {
    let ms = before_ms.max(0) as u64;
    format!(
        "{:08x}-{:04x}-7000-8000-000000000000",
        (ms >> 16) & 0xffff_ffff,
        ms & 0xffff
    )
}

impl SqlWarehouse {
    /// History retention, a batch at a time. The history's key is a UUID v7, whose text
    /// sorts as its time: rows older than `before_ms` are those whose key sorts below the
    /// smallest UUID v7 of that millisecond, found through the primary key's index (no
    /// index on `finished_at` needed, and no scan of the rows kept).
    async fn prune_history_rows(&self, before_ms: i64, limit: i64) -> Result<u64, WarehouseError> {
        let bound = history_bound(before_ms);
        const SQL: &str = "DELETE FROM webhook_processing_history WHERE history_id IN \
             (SELECT history_id FROM webhook_processing_history WHERE history_id < $1 \
             ORDER BY history_id LIMIT $2)";
        Ok(match &self.store {
            Store::Sqlite(p) => sqlx::query(SQL)
                .bind(&bound)
                .bind(limit)
                .execute(p)
                .await?
                .rows_affected(),
            Store::Postgres(p) => sqlx::query(SQL)
                .bind(&bound)
                .bind(limit)
                .execute(p)
                .await?
                .rows_affected(),
        })
    }
}
