//! The warehouse on Snowflake (design §6): the same five tables and the same [`Warehouse`]
//! behaviour as the SQL backends, through `snowflake-connector-rs`.
//!
//! Snowflake is the warehouse only: the operational store (inbox, outbox, DLQ, rate limit)
//! stays on SQLite or PostgreSQL, since it needs row locks and many small transactions.
//!
//! A batch is one `MERGE` with one bind, the batch as a JSON array (see `statements`);
//! rows are checked and deduplicated by the same code as the SQL backends
//! (`sql::checked_rows`), so a row Snowflake would take and SQLite would refuse cannot
//! exist. Sessions come from a pool (`pool`); a session Snowflake reports expired is
//! replaced and its statement retried once.
//!
//! Errors are sorted like the SQL writer's: what says nothing about the rows (transport,
//! 5xx, timeouts, expired or refused logins, a suspended or resuming warehouse) is
//! [`WarehouseError::Unavailable`], which postpones events without using attempts; SQL
//! compilation and permission errors are permanent and name the statement's table.

use std::collections::{HashMap, HashSet};

use chrono::Utc;
use secrecy::ExposeSecret;
use serde_json::{Map, Number, Value};
use snowflake_connector_rs::{
    AuthConfig, CellValue, Client, ClientConfig, EndpointConfig, ErrorKind, IntoStatement,
    KeyPairConfig, ResultTable, Session, SessionConfig, Statement,
};

use super::sql::{Cell, bad_row, checked_rows, format_time};
use super::tables::ALL;
use super::{ColType, HISTORY, Rows, Table, Warehouse, WarehouseError, WarehouseFuture};
use crate::config::{SnowflakeAuth, SnowflakeConfig};

mod pool;
mod statements;

use statements::Location;

/// Largest JSON text bound to one statement. Snowflake takes up to 16 MB in one VARCHAR
/// bind; a bigger batch is written as several statements, in key order.
const MAX_BIND_BYTES: usize = 8 * 1024 * 1024;

/// Snowflake's codes for an expired session token (390112) and master token (390114).
const SESSION_EXPIRED: [&str; 2] = ["390112", "390114"];

pub struct SnowflakeWarehouse {
    pool: pool::Pool,
    at: Location,
}

impl std::fmt::Debug for SnowflakeWarehouse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SnowflakeWarehouse")
            .field("schema", &self.at.schema())
            .finish_non_exhaustive()
    }
}

impl SnowflakeWarehouse {
    /// Builds the client and its pool; no session is opened until the first statement.
    pub fn new(config: &SnowflakeConfig) -> Result<SnowflakeWarehouse, WarehouseError> {
        let auth = match &config.auth {
            SnowflakeAuth::Password(p) => AuthConfig::password(p.expose_secret()),
            SnowflakeAuth::KeyPair { pem, passphrase } => {
                let pem = pem.expose_secret().to_owned();
                AuthConfig::key_pair(match passphrase {
                    Some(pass) => {
                        KeyPairConfig::from_encrypted_pem(pem, pass.expose_secret().as_bytes())
                    }
                    None => KeyPairConfig::from_pem(pem),
                })
            }
            SnowflakeAuth::OAuth(token) => AuthConfig::oauth(token.expose_secret()),
        };
        let mut session = SessionConfig::new()
            .with_warehouse(&config.warehouse)
            .with_database(&config.database)
            .with_schema(&config.schema);
        if let Some(role) = &config.role {
            session = session.with_role(role);
        }
        let base = base_url(&config.host)
            .ok_or_else(|| unavailable("SNOWFLAKE_HOST is not a usable host or URL"))?;
        let client_config = ClientConfig::new(&config.user, &config.account, auth)
            .with_session(session)
            .with_endpoint(EndpointConfig::CustomBaseUrl(base));
        let client = Client::new(client_config).map_err(|e| unavailable(&e.to_string()))?;
        let pool = pool::build(client, config.pool_size)
            .map_err(|e| unavailable(&format!("session pool: {e}")))?;
        Ok(SnowflakeWarehouse {
            pool,
            at: Location::new(&config.database, &config.schema),
        })
    }

    /// Runs one statement, on a fresh session if Snowflake says the pooled one expired.
    async fn run(
        &self,
        table: Option<&'static str>,
        sql: &str,
        bind: Option<Bind<'_>>,
    ) -> Result<Vec<Vec<CellValue>>, WarehouseError> {
        let mut retried = false;
        loop {
            let session = self.pool.get().await.map_err(pool_error)?;
            let statement = Statement::new(sql.to_owned());
            let result = match &bind {
                None => execute(&session, statement).await,
                Some(Bind::Text(t)) => execute(&session, statement.bind((*t).to_owned())).await,
                Some(Bind::Time(t)) => execute(&session, statement.bind(t.clone())).await,
                Some(Bind::Int(i)) => execute(&session, statement.bind(*i)).await,
                Some(Bind::Bool(b)) => execute(&session, statement.bind(*b)).await,
            };
            match result {
                Ok(rows) => {
                    return rows
                        .dynamic_rows()
                        .map_err(|e| sf_error(table, &e))?
                        .map(|row| {
                            row.map(|r| r.values().to_vec())
                                .map_err(|e| sf_error(table, &e))
                        })
                        .collect();
                }
                Err(e) if is_session_expired(&e) => {
                    // Never back into the pool: its token is dead.
                    drop(pool::PooledSession::take(session));
                    if retried {
                        return Err(unavailable("Snowflake session expired twice in a row"));
                    }
                    retried = true;
                }
                Err(e) => return Err(sf_error(table, &e)),
            }
        }
    }

    async fn migrate_tables(&self) -> Result<(), WarehouseError> {
        self.run(None, &self.at.create_schema(), None).await?;
        for table in ALL {
            self.run(Some(table.name), &self.at.create_table(table), None)
                .await?;
        }
        // Upgrades: columns added to the definitions since the tables were created.
        let existing = self
            .run(
                None,
                &self.at.existing_columns(),
                Some(Bind::Text(self.at.schema_name())),
            )
            .await?;
        let names = existing.into_iter().filter_map(|row| match row.as_slice() {
            [CellValue::String(t), CellValue::String(c), ..] => Some((t.clone(), c.clone())),
            _ => None,
        });
        for (table, col) in missing_columns(names) {
            let sql = self.at.add_column(table, col.name, col.ty);
            self.run(Some(table.name), &sql, None).await?;
            tracing::info!(
                table = table.name,
                column = col.name,
                "warehouse column added"
            );
        }
        Ok(())
    }

    async fn write_rows(&self, batch: &Rows) -> Result<(), WarehouseError> {
        let rows = checked_rows(batch)?;
        let table = batch.table;
        let sql = self.at.merge(table);
        for json in json_chunks(table, &rows) {
            self.run(Some(table.name), &sql, Some(Bind::Text(&json)))
                .await?;
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
        let bad = |what: &str| bad_row(table, format!("column {}: {what}", col.name));
        let bind = match col.ty {
            ColType::Text => Bind::Text(value),
            ColType::Int => Bind::Int(value.parse().map_err(|_| bad("not an integer"))?),
            ColType::Bool => Bind::Bool(value.parse().map_err(|_| bad("not true or false"))?),
            ColType::Time => Bind::Time(
                super::sql::parse_time(value)
                    .map_err(|_| bad("not an RFC 3339 time"))?
                    .to_rfc3339_opts(chrono::SecondsFormat::Millis, false),
            ),
            ColType::Float | ColType::Json => {
                return Err(bad("this column cannot be selected by"));
            }
        };
        let rows = self
            .run(Some(table.name), &self.at.select(table, column), Some(bind))
            .await?;
        rows.into_iter().map(|row| decode_row(table, row)).collect()
    }

    async fn fetch_row(
        &self,
        table: &'static Table,
        key: &str,
    ) -> Result<Option<Map<String, Value>>, WarehouseError> {
        let [key_column] = table.key else {
            return Err(bad_row(table, "fetch needs a single-column key".into()));
        };
        Ok(self.select_rows(table, key_column, key).await?.pop())
    }

    async fn count_rows(&self, table: &'static Table) -> Result<i64, WarehouseError> {
        let rows = self
            .run(Some(table.name), &self.at.count(table), None)
            .await?;
        match rows.first().and_then(|r| r.first()) {
            Some(CellValue::Integer(n)) => Ok(*n as i64),
            _ => Err(bad_row(table, "COUNT(*) answered no integer".into())),
        }
    }

    async fn prune_history_rows(&self, before_ms: i64, limit: i64) -> Result<u64, WarehouseError> {
        let bound = super::sql::history_bound(before_ms);
        let sql = self.at.prune_history(limit);
        let rows = self
            .run(Some(HISTORY.name), &sql, Some(Bind::Text(&bound)))
            .await?;
        // A DELETE answers one row: the number of rows deleted.
        match rows.first().and_then(|r| r.first()) {
            Some(CellValue::Integer(n)) => Ok(*n as u64),
            _ => Ok(0),
        }
    }

    async fn ping_db(&self) -> Result<(), WarehouseError> {
        self.run(None, "SELECT 1", None).await.map(drop)
    }
}

impl Warehouse for SnowflakeWarehouse {
    fn backend(&self) -> &'static str {
        "snowflake"
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

/// Runs a statement and reads its whole result.
async fn execute<S: IntoStatement>(
    session: &Session,
    statement: S,
) -> Result<ResultTable, snowflake_connector_rs::Error> {
    session.query(statement).await?.collect_table().await
}

/// The columns of the definitions that existing tables lack, from the schema's
/// `(TABLE_NAME, COLUMN_NAME)` pairs (Snowflake stores unquoted names in upper case). A
/// table absent from the pairs was just created whole and lacks nothing.
fn missing_columns(
    existing: impl Iterator<Item = (String, String)>,
) -> Vec<(&'static Table, &'static super::Column)> {
    let mut have: HashMap<String, HashSet<String>> = HashMap::new();
    for (t, c) in existing {
        have.entry(t.to_ascii_uppercase())
            .or_default()
            .insert(c.to_ascii_uppercase());
    }
    let mut out = Vec::new();
    for table in ALL {
        if let Some(columns) = have.get(&table.name.to_ascii_uppercase()) {
            for col in table.columns {
                if !columns.contains(&col.name.to_ascii_uppercase()) {
                    out.push((table, col));
                }
            }
        }
    }
    out
}

/// A statement's one bind parameter.
enum Bind<'a> {
    Text(&'a str),
    /// RFC 3339 with an explicit offset.
    Time(String),
    Int(i64),
    Bool(bool),
}

/// `https://<host>` for a bare host, or the URL as given (tests use `http://127.0.0.1:PORT`).
fn base_url(host: &str) -> Option<url::Url> {
    let host = host.trim().trim_end_matches('/');
    let text = if host.contains("://") {
        host.to_owned()
    } else {
        format!("https://{host}")
    };
    url::Url::parse(&text).ok().filter(|u| u.host().is_some())
}

/// The checked rows as JSON arrays of objects, each at most [`MAX_BIND_BYTES`] long (a
/// single larger row goes alone). NULLs are left out: a missing field reads as SQL NULL,
/// while a JSON `null` would be stored as a VARIANT null.
fn json_chunks(table: &Table, rows: &[Vec<Cell>]) -> Vec<String> {
    let mut chunks = Vec::new();
    let mut current = String::from("[");
    for row in rows {
        let mut object = Map::new();
        for (col, cell) in table.columns.iter().zip(row) {
            let value = match cell {
                Cell::Null(_) => continue,
                Cell::Text(s) => Value::String(s.to_string()),
                Cell::Int(i) => Value::from(*i),
                Cell::Float(f) => Number::from_f64(*f).map_or(Value::Null, Value::Number),
                Cell::Bool(b) => Value::Bool(*b),
                // An explicit offset: Snowflake's AUTO input format reads it everywhere.
                Cell::Time(t) => {
                    Value::String(t.to_rfc3339_opts(chrono::SecondsFormat::Millis, false))
                }
                Cell::Json(v) => (*v).clone(),
            };
            object.insert(col.name.to_owned(), value);
        }
        let text = Value::Object(object).to_string();
        if current.len() > 1 && current.len() + text.len() + 1 > MAX_BIND_BYTES {
            current.push(']');
            chunks.push(std::mem::replace(&mut current, String::from("[")));
        }
        if current.len() > 1 {
            current.push(',');
        }
        current.push_str(&text);
    }
    if current.len() > 1 {
        current.push(']');
        chunks.push(current);
    }
    chunks
}

/// A result row (the table's columns, in order) as the JSON object the SQL backends return.
fn decode_row(table: &Table, row: Vec<CellValue>) -> Result<Map<String, Value>, WarehouseError> {
    table
        .columns
        .iter()
        .zip(row)
        .map(|(col, cell)| {
            Ok((
                col.name.to_owned(),
                decode_cell(table, col.name, col.ty, cell)?,
            ))
        })
        .collect()
}

fn decode_cell(
    table: &Table,
    name: &str,
    ty: ColType,
    cell: CellValue,
) -> Result<Value, WarehouseError> {
    let wrong = || {
        bad_row(
            table,
            format!("column {name}: Snowflake answered another type"),
        )
    };
    Ok(match (ty, cell) {
        (_, CellValue::Null) => Value::Null,
        (ColType::Text, CellValue::String(s)) => Value::String(s),
        (ColType::Int, CellValue::Integer(i)) => {
            Value::from(i64::try_from(i).map_err(|_| wrong())?)
        }
        (ColType::Float, CellValue::Float(f)) => {
            Number::from_f64(f).map_or(Value::Null, Value::Number)
        }
        (ColType::Float, CellValue::Integer(i)) => Value::from(i as f64),
        (ColType::Bool, CellValue::Boolean(b)) => Value::Bool(b),
        (ColType::Time, CellValue::TimestampTz(t)) => {
            Value::String(format_time(&t.with_timezone(&Utc)))
        }
        (ColType::Time, CellValue::TimestampLtz(t)) => Value::String(format_time(&t)),
        (ColType::Time, CellValue::TimestampNtz(t)) => Value::String(format_time(&t.and_utc())),
        (ColType::Json, CellValue::Json(v)) => v,
        (ColType::Json, CellValue::String(s)) => serde_json::from_str(&s).map_err(|_| wrong())?,
        _ => return Err(wrong()),
    })
}

fn unavailable(why: &str) -> WarehouseError {
    WarehouseError::Unavailable(format!("snowflake: {why}"))
}

/// The session cannot be used again: expired (390112 / 390114), otherwise refused by
/// Snowflake's session layer (390xxx), or its token refused at the HTTP level (401/403, as
/// for "390104 must login again" after a server restart).
fn is_session_expired(e: &snowflake_connector_rs::Error) -> bool {
    e.is_session_expired()
        || e.snowflake_code()
            .is_some_and(|c| SESSION_EXPIRED.contains(&c) || c.starts_with("390"))
        || matches!(http_status(e), Some(401 | 403))
}

/// The HTTP status of a connector error that carries one. The connector keeps it private
/// and shows it only in its message (`HTTP 401: ...`).
fn http_status(e: &snowflake_connector_rs::Error) -> Option<u16> {
    let text = e.to_string();
    let rest = text.strip_prefix("HTTP ")?;
    rest.get(..3)?.parse().ok()
}

fn pool_error(e: deadpool::managed::PoolError<snowflake_connector_rs::Error>) -> WarehouseError {
    match e {
        deadpool::managed::PoolError::Backend(e) => sf_error(None, &e),
        other => unavailable(&format!("no session: {other}")),
    }
}

/// Sorts a connector error: an outage postpones, anything else is permanent and names the
/// table whose statement failed.
fn sf_error(table: Option<&'static str>, e: &snowflake_connector_rs::Error) -> WarehouseError {
    let code = e.snowflake_code().unwrap_or_default();
    let message = e
        .snowflake_message()
        .map_or_else(|| e.to_string(), str::to_owned);
    let outage = match e.kind() {
        ErrorKind::Network
        | ErrorKind::Timeout
        | ErrorKind::Auth
        | ErrorKind::SessionExpired
        | ErrorKind::Cancelled => true,
        ErrorKind::Server => warehouse_unavailable(code, &message),
        _ => false,
    };
    if outage {
        return unavailable(format!("{code} {message}").trim_start());
    }
    WarehouseError::Rejected {
        table: table.unwrap_or("(schema)"),
        code: code.to_owned(),
        message,
    }
}

/// Server errors that describe the service, not the statement: an expired session, no
/// (running) warehouse (000606), a warehouse suspended or resuming, login refusals (390xxx),
/// and Snowflake's internal errors.
fn warehouse_unavailable(code: &str, message: &str) -> bool {
    let lower = message.to_ascii_lowercase();
    SESSION_EXPIRED.contains(&code)
        || code == "000606"
        || code.starts_with("390")
        || (lower.contains("warehouse") && (lower.contains("suspend") || lower.contains("resum")))
        || lower.contains("internal error")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::warehouse::{CALLS, RAW};

    #[test]
    fn an_upgrade_adds_exactly_the_columns_a_table_lacks() {
        // The calls table as an older release made it: without its last two columns.
        let old_calls = CALLS.columns[..CALLS.columns.len() - 2].iter().map(|c| {
            (
                "GONG_CALLS_ENHANCED".to_owned(),
                c.name.to_ascii_uppercase(),
            )
        });
        let full_raw = RAW
            .columns
            .iter()
            .map(|c| ("gong_webhooks_raw".to_owned(), c.name.to_owned()));
        let missing: Vec<(&str, &str)> = missing_columns(old_calls.chain(full_raw))
            .into_iter()
            .map(|(t, c)| (t.name, c.name))
            .collect();
        assert_eq!(
            missing,
            [
                ("gong_calls_enhanced", "version"),
                ("gong_calls_enhanced", "updated_at")
            ]
        );
    }

    #[test]
    fn hosts_become_base_urls() {
        assert_eq!(
            base_url("acme.snowflakecomputing.com").unwrap().as_str(),
            "https://acme.snowflakecomputing.com/"
        );
        assert_eq!(
            base_url("http://127.0.0.1:8765/").unwrap().as_str(),
            "http://127.0.0.1:8765/"
        );
        assert!(base_url("  ").is_none());
    }

    #[test]
    fn service_errors_are_outages_and_sql_errors_are_not() {
        assert!(warehouse_unavailable("390112", "Your session has expired."));
        assert!(warehouse_unavailable(
            "000606",
            "No active warehouse selected"
        ));
        assert!(warehouse_unavailable(
            "000630",
            "Warehouse 'COMPUTE_WH' cannot be resumed because resource monitor has exceeded its quota"
        ));
        assert!(!warehouse_unavailable(
            "001003",
            "SQL compilation error: syntax error"
        ));
        assert!(!warehouse_unavailable(
            "003001",
            "Insufficient privileges to operate on table"
        ));
    }

    #[test]
    fn five_hundred_raw_webhooks_are_one_statement() {
        let payload = serde_json::json!({"callData": {"pad": "x".repeat(6_500)}});
        let rows: Vec<Value> = (0..500)
            .map(|i| {
                serde_json::json!({
                    "event_id": format!("e{i:04}"), "kind": "call", "source_id": format!("c{i}"),
                    "received_at": "2026-01-01T00:00:00Z", "request_id": "r",
                    "auth_method": "rs256", "is_test": false, "body_sha256": "00",
                    "payload": payload,
                })
            })
            .collect();
        let batch = Rows::of(&RAW, &rows).unwrap();
        let checked = checked_rows(&batch).unwrap();
        let chunks = json_chunks(&RAW, &checked);
        assert_eq!(chunks.len(), 1, "one MERGE, one bind");
        let parsed: Vec<Value> = serde_json::from_str(&chunks[0]).unwrap();
        assert_eq!(parsed.len(), 500);
    }

    #[test]
    fn batches_split_by_bind_size_and_leave_nulls_out() {
        use crate::warehouse::{HISTORY, Rows};
        let row = |i: usize| {
            serde_json::json!({
                "history_id": format!("h{i:05}"), "event_id": "e", "attempt": 1,
                "stage": "x".repeat(50_000), "status": "ok", "error": null,
                "started_at": "2026-01-01T00:00:00Z", "finished_at": "2026-01-01T00:00:01Z",
                "duration_ms": 1, "request_id": "r",
            })
        };
        let rows: Vec<Value> = (0..400).map(row).collect();
        let batch = Rows::of(&HISTORY, &rows).unwrap();
        let checked = checked_rows(&batch).unwrap();
        let chunks = json_chunks(&HISTORY, &checked);
        assert!(chunks.len() >= 3, "{} chunks", chunks.len());
        let mut total = 0;
        for c in &chunks {
            assert!(c.len() <= MAX_BIND_BYTES, "{}", c.len());
            let parsed: Vec<Map<String, Value>> = serde_json::from_str(c).unwrap();
            assert!(parsed.iter().all(|r| !r.contains_key("error")));
            total += parsed.len();
        }
        assert_eq!(total, 400);
    }
}
