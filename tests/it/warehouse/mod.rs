//! The warehouse on every backend: real SQLite and PostgreSQL databases, and Snowflake
//! through its stand-in (fakesnow behind an adapter): the DDL matches the table
//! definitions, every column type round-trips, upserts respect versions, batches are
//! deduplicated and chunked. The harness and row fixtures are here; the test bodies, run once
//! per backend (`on_every_warehouse!`), are in `suite.rs`.

use chrono::{DateTime, TimeZone, Utc};
use gong_relay::store::Store;
use gong_relay::warehouse::tables::{CallRow, EmailRow, Enhanced, HistoryRow, MeetingRow, RawRow};
use gong_relay::warehouse::{
    CALLS, EMAILS, HISTORY, MEETINGS, RAW, Rows, SnowflakeWarehouse, SqlWarehouse, Table,
    Warehouse, WarehouseError,
};
use serde_json::{Map, Value, json};
use std::sync::Arc;

use crate::helpers::*;

pub(crate) const TABLES: [&Table; 5] = [&RAW, &CALLS, &EMAILS, &MEETINGS, &HISTORY];

/// A migrated warehouse of one backend, beside a migrated operational store (the
/// operational tables first, as the app does). On Snowflake the store is SQLite: Snowflake
/// is a warehouse only.
pub struct TestWarehouse {
    pub store: Store,
    pub wh: Arc<dyn Warehouse>,
    pub backend: &'static str,
    _db: TestDb,
    _standin: Option<crate::standin::Standin>,
}

impl TestWarehouse {
    /// The SQL warehouse in `db`'s database.
    pub async fn sql(db: TestDb) -> TestWarehouse {
        let store = db.store().await;
        store.migrate().await.unwrap();
        let wh = SqlWarehouse::new(store.clone());
        wh.migrate().await.unwrap();
        TestWarehouse {
            backend: if db.url.starts_with("postgres") {
                "postgres"
            } else {
                "sqlite"
            },
            store,
            wh: Arc::new(wh),
            _db: db,
            _standin: None,
        }
    }

    /// Snowflake in a fresh database of the shared stand-in; `None` where it cannot run.
    pub async fn snowflake() -> Option<TestWarehouse> {
        let standin = crate::standin::Standin::shared()?;
        let db = TestDb::new(Backend::Sqlite).await.unwrap();
        let store = db.store().await;
        store.migrate().await.unwrap();
        let wh = SnowflakeWarehouse::new(&standin.config()).unwrap();
        wh.migrate().await.unwrap();
        Some(TestWarehouse {
            backend: "snowflake",
            store,
            wh: Arc::new(wh),
            _db: db,
            _standin: None,
        })
    }
}

/// Runs each named test function once per warehouse backend: `mod sqlite`, `mod postgres`
/// and `mod snowflake`.
macro_rules! on_every_warehouse {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let db = crate::helpers::TestDb::new(crate::helpers::Backend::Sqlite).await.unwrap();
                    super::$name(super::TestWarehouse::sql(db).await).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    if let Some(db) = crate::helpers::TestDb::new(crate::helpers::Backend::Postgres).await {
                        super::$name(super::TestWarehouse::sql(db).await).await;
                    }
                }
            )*
        }
        mod snowflake {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    if let Some(t) = super::TestWarehouse::snowflake().await {
                        super::$name(t).await;
                    }
                }
            )*
        }
    };
}

/// A text column's value.
pub(crate) fn text(value: &str) -> Option<String> {
    Some(value.to_owned())
}

pub(crate) fn at(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms).unwrap()
}

pub(crate) fn enhanced(version: i64, source_event_id: &str) -> Enhanced {
    Enhanced {
        crm_context: Value::Null,
        sentiment_score: None,
        insights: json!([]),
        priority: "low".into(),
        next_steps: json!([]),
        data_quality_score: 0.5,
        enhanced: false,
        enhancement_note: Some("gong api not configured".into()),
        is_test: false,
        source_event_id: source_event_id.into(),
        version,
        updated_at: at(1_780_000_000_000 + version),
    }
}

/// A call row with every optional field empty.
pub(crate) fn bare_call(call_id: &str, version: i64) -> CallRow {
    CallRow {
        call_id: call_id.into(),
        title: None,
        url: None,
        started: None,
        scheduled: None,
        duration_seconds: None,
        direction: None,
        system: None,
        scope: None,
        media: None,
        language: None,
        workspace_id: None,
        primary_user_id: None,
        is_private: None,
        participants: Value::Null,
        trackers: Value::Null,
        topics: Value::Null,
        action_items: Value::Null,
        brief: None,
        key_points: Value::Null,
        interaction_stats: Value::Null,
        talk_ratio: None,
        transcript: Value::Null,
        call_outcome: None,
        enhanced: enhanced(version, "evt-0"),
    }
}

pub(crate) fn titled_call(call_id: &str, version: i64, title: &str) -> CallRow {
    CallRow {
        title: Some(title.into()),
        ..bare_call(call_id, version)
    }
}

pub(crate) fn email(email_id: &str, version: i64, subject: &str) -> EmailRow {
    EmailRow {
        email_id: email_id.into(),
        thread_id: Some("thread-1".into()),
        subject: Some(subject.into()),
        from_address: json!({"email": "ann@example.com", "name": "Ann"}),
        recipients: json!([{"email": "bob@example.com"}]),
        sent_at: Some(at(1_780_000_000_123)),
        direction: Some("Outbound".into()),
        body: Some("Hello".into()),
        workspace_id: None,
        participants: json!([]),
        word_count: 1,
        enhanced: enhanced(version, "evt-e"),
    }
}

pub(crate) fn raw(event_id: &str, source_id: &str, payload: Value) -> RawRow {
    RawRow {
        event_id: event_id.into(),
        kind: "call".into(),
        source_id: source_id.into(),
        received_at: at(1_780_000_000_000),
        request_id: "req-1".into(),
        auth_method: "jwt_rs256".into(),
        key_id: None,
        is_test: true,
        body_sha256: "ab".repeat(32),
        payload,
    }
}

/// A UUID v7 for the given millisecond: time-ordered like the pipeline's history ids.
pub(crate) fn history_id(ms: i64) -> String {
    let ts = uuid::Timestamp::from_unix(
        uuid::NoContext,
        (ms / 1000) as u64,
        (ms % 1000) as u32 * 1_000_000,
    );
    uuid::Uuid::new_v7(ts).to_string()
}

pub(crate) fn history(
    history_id: String,
    event_id: &str,
    attempt: i64,
    stage: &str,
    ms: i64,
) -> HistoryRow {
    HistoryRow {
        history_id,
        event_id: event_id.into(),
        attempt,
        stage: stage.into(),
        status: "ok".into(),
        error: None,
        started_at: at(ms),
        finished_at: at(ms + 7),
        duration_ms: 7,
        request_id: "req-h".into(),
    }
}

pub(crate) async fn write<T: serde::Serialize>(
    wh: &Arc<dyn Warehouse>,
    table: &'static Table,
    rows: &[T],
) {
    wh.write(&Rows::of(table, rows).unwrap()).await.unwrap();
}

pub(crate) async fn fetch(
    wh: &Arc<dyn Warehouse>,
    table: &'static Table,
    key: &str,
) -> Map<String, Value> {
    wh.fetch(table, key).await.unwrap().expect("row exists")
}

mod suite;
