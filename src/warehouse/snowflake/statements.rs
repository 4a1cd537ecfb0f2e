//! The SQL text of the Snowflake backend, built from the static table definitions.
//!
//! Every statement a batch needs is one `MERGE` whose source is the batch itself: one JSON
//! array bound as a single text parameter, parsed and `FLATTEN`ed inside the statement, so a
//! batch of any size costs one round trip and one bind. The source is written as a CTE
//! (`WITH src AS (SELECT PARSE_JSON(?) ...) ... LATERAL FLATTEN(INPUT => src.j)`), the
//! canonical Snowflake form, which the test stand-in also runs inside a MERGE. `PARSE_JSON(?)`
//! never appears inside `VALUES`: Snowflake refuses bind variables wrapped in expressions
//! there (a test scans every statement for it).
//!
//! Snowflake does not enforce primary keys, so idempotency comes from the MERGE alone:
//! insert-only tables (raw webhooks, history) insert only keys that are not there yet, and
//! enhanced tables update a row only for a version at least as new as the stored one.
//!
//! Identifiers are the definitions' names in upper case and quoted (`"VERSION"`), the same
//! as Snowflake's unquoted names, so a column named like a keyword cannot break a statement
//! and ad-hoc SQL by analysts can use the plain names. JSON paths keep the rows' own
//! (lower-case) field names: paths are case-sensitive.

use crate::warehouse::{ColType, Table, WriteMode};

/// `"NAME"` for a definition's (lower-case, ASCII) name.
pub(super) fn ident(name: &str) -> String {
    format!("\"{}\"", name.to_ascii_uppercase())
}

/// Where the tables live: `"DB"."SCHEMA"`.
#[derive(Debug, Clone)]
pub(super) struct Location {
    database: String,
    schema: String,
}

impl Location {
    pub(super) fn new(database: &str, schema: &str) -> Location {
        Location {
            database: ident(database),
            schema: ident(schema),
        }
    }

    pub(super) fn schema(&self) -> String {
        format!("{}.{}", self.database, self.schema)
    }

    pub(super) fn table(&self, table: &Table) -> String {
        format!("{}.{}.{}", self.database, self.schema, ident(table.name))
    }

    /// The schema's name as stored (for `INFORMATION_SCHEMA` filters).
    pub(super) fn schema_name(&self) -> &str {
        self.schema.trim_matches('"')
    }

    pub(super) fn create_schema(&self) -> String {
        format!("CREATE SCHEMA IF NOT EXISTS {}", self.schema())
    }

    pub(super) fn create_table(&self, table: &Table) -> String {
        let columns: Vec<String> = table
            .columns
            .iter()
            .map(|c| {
                let null = if c.required { " NOT NULL" } else { "" };
                format!("{} {}{null}", ident(c.name), sql_type(c.ty))
            })
            .collect();
        format!(
            "CREATE TABLE IF NOT EXISTS {} ({})",
            self.table(table),
            columns.join(", ")
        )
    }

    /// Every column of the schema's tables, as `(TABLE_NAME, COLUMN_NAME)` rows.
    pub(super) fn existing_columns(&self) -> String {
        format!(
            "SELECT TABLE_NAME, COLUMN_NAME FROM {}.INFORMATION_SCHEMA.COLUMNS WHERE TABLE_SCHEMA = ?",
            self.database
        )
    }

    pub(super) fn add_column(&self, table: &Table, column: &str, ty: ColType) -> String {
        format!(
            "ALTER TABLE {} ADD COLUMN IF NOT EXISTS {} {}",
            self.table(table),
            ident(column),
            sql_type(ty)
        )
    }

    /// The one statement that writes a batch (bind: the rows as one JSON array).
    pub(super) fn merge(&self, table: &Table) -> String {
        let cols = || table.columns.iter();
        let source: Vec<String> = cols()
            .map(|c| format!("{} AS {}", extract(c.name, c.ty), ident(c.name)))
            .collect();
        let on: Vec<String> = table
            .key
            .iter()
            .map(|k| format!("t.{0} = s.{0}", ident(k)))
            .collect();
        let names: Vec<String> = cols().map(|c| ident(c.name)).collect();
        let values: Vec<String> = cols().map(|c| format!("s.{}", ident(c.name))).collect();
        let mut sql = format!(
            "MERGE INTO {} AS t USING (WITH src AS (SELECT PARSE_JSON(?) AS j) SELECT {} \
             FROM src, LATERAL FLATTEN(INPUT => src.j) f) AS s ON {}",
            self.table(table),
            source.join(", "),
            on.join(" AND ")
        );
        if let WriteMode::Upsert { version } = table.mode {
            let updates: Vec<String> = cols()
                .filter(|c| !table.key.contains(&c.name))
                .map(|c| format!("{0} = s.{0}", ident(c.name)))
                .collect();
            if !updates.is_empty() {
                sql.push_str(&format!(
                    " WHEN MATCHED AND t.{v} <= s.{v} THEN UPDATE SET {}",
                    updates.join(", "),
                    v = ident(version)
                ));
            }
        }
        sql.push_str(&format!(
            " WHEN NOT MATCHED THEN INSERT ({}) VALUES ({})",
            names.join(", "),
            values.join(", ")
        ));
        sql
    }

    /// Every column of the rows whose `column` equals the bind, ordered by the key.
    pub(super) fn select(&self, table: &Table, column: &str) -> String {
        let names: Vec<String> = table.columns.iter().map(|c| ident(c.name)).collect();
        let key: Vec<String> = table.key.iter().map(|k| ident(k)).collect();
        // Times compare as times: the bind is text in any RFC 3339 offset.
        let bind = match table.column(column).map(|c| c.ty) {
            Some(ColType::Time) => "CAST(? AS TIMESTAMP_TZ)",
            _ => "?",
        };
        format!(
            "SELECT {} FROM {} WHERE {} = {bind} ORDER BY {}",
            names.join(", "),
            self.table(table),
            ident(column),
            key.join(", ")
        )
    }

    /// Deletes up to `limit` history rows whose id sorts below the bind (see
    /// `sql::history_bound`), oldest first.
    pub(super) fn prune_history(&self, limit: i64) -> String {
        let t = self.table(&crate::warehouse::HISTORY);
        format!(
            "DELETE FROM {t} WHERE \"HISTORY_ID\" IN (SELECT \"HISTORY_ID\" FROM {t} \
             WHERE \"HISTORY_ID\" < ? ORDER BY \"HISTORY_ID\" LIMIT {})",
            limit.max(1)
        )
    }

    pub(super) fn count(&self, table: &Table) -> String {
        format!("SELECT COUNT(*) FROM {}", self.table(table))
    }
}

fn sql_type(ty: ColType) -> &'static str {
    match ty {
        ColType::Text => "VARCHAR",
        ColType::Int => "NUMBER(38,0)",
        ColType::Float => "FLOAT",
        ColType::Bool => "BOOLEAN",
        ColType::Time => "TIMESTAMP_TZ",
        ColType::Json => "VARIANT",
    }
}

/// A field of the flattened row, typed: `f.value:"name"::TYPE` (JSON stays VARIANT).
fn extract(name: &str, ty: ColType) -> String {
    let path = format!("f.value:\"{name}\"");
    match ty {
        ColType::Json => path,
        other => format!("{path}::{}", sql_type(other)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::warehouse::tables::ALL;

    /// Every statement the backend can send, for the scans below.
    fn every_statement() -> Vec<String> {
        let at = Location::new("sophia_ai", "gong_webhooks");
        let mut out = vec![at.create_schema(), at.existing_columns()];
        for table in ALL {
            out.push(at.create_table(table));
            out.push(at.merge(table));
            out.push(at.select(table, table.key[0]));
            out.push(at.count(table));
            out.push(at.prune_history(200));
            for c in table.columns {
                out.push(at.add_column(table, c.name, c.ty));
            }
        }
        out
    }

    #[test]
    fn no_statement_puts_parse_json_of_a_bind_inside_values() {
        for sql in every_statement() {
            let upper = sql.to_ascii_uppercase();
            let mut rest = upper.as_str();
            while let Some(at) = rest.find("VALUES") {
                rest = &rest[at + "VALUES".len()..];
                let clause = rest.split(" WHEN ").next().unwrap_or(rest);
                assert!(
                    !clause.contains("PARSE_JSON(?"),
                    "Snowflake refuses PARSE_JSON(?) inside VALUES: {sql}"
                );
            }
        }
    }

    #[test]
    fn a_batch_is_one_statement_with_one_bind() {
        let at = Location::new("db", "sc");
        for table in ALL {
            let sql = at.merge(table);
            assert_eq!(sql.matches('?').count(), 1, "{sql}");
            assert!(sql.starts_with("MERGE INTO \"DB\".\"SC\"."), "{sql}");
        }
    }

    #[test]
    fn upserts_keep_the_newer_version_and_inserts_only_add() {
        let at = Location::new("db", "sc");
        let calls = at.merge(&crate::warehouse::CALLS);
        assert!(
            calls.contains("WHEN MATCHED AND t.\"VERSION\" <= s.\"VERSION\" THEN UPDATE SET"),
            "{calls}"
        );
        assert!(
            calls.contains("ON t.\"CALL_ID\" = s.\"CALL_ID\""),
            "{calls}"
        );
        let raw = at.merge(&crate::warehouse::RAW);
        assert!(!raw.contains("WHEN MATCHED"), "{raw}");
        assert!(raw.contains("WHEN NOT MATCHED THEN INSERT"), "{raw}");
        // JSON stays VARIANT; times and numbers are cast.
        assert!(raw.contains("f.value:\"payload\" AS \"PAYLOAD\""), "{raw}");
        assert!(
            raw.contains("f.value:\"received_at\"::TIMESTAMP_TZ"),
            "{raw}"
        );
    }
}
