//! The warehouse tables (architecture §7): their columns, and the typed rows the pipeline fills.
//!
//! The column lists here and the DDL in `migrations/warehouse/*` describe the same tables;
//! the SQL writer binds by these lists, so a column missing from the DDL fails loudly in
//! the warehouse tests rather than silently dropping data.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;

use super::{ColType, Column, Table, WriteMode};

/// A column that may be NULL.
const fn col(name: &'static str, ty: ColType) -> Column {
    Column {
        name,
        ty,
        required: false,
    }
}

/// A column every row must fill (NOT NULL in the DDL): a row without it is refused before
/// any SQL runs, on every backend.
const fn req(name: &'static str, ty: ColType) -> Column {
    Column {
        name,
        ty,
        required: true,
    }
}

use ColType::{Bool, Float, Int, Json, Text, Time};

/// Every table, in the order `migrate` creates them.
pub static ALL: [&Table; 5] = [&RAW, &CALLS, &EMAILS, &MEETINGS, &HISTORY];

pub static RAW: Table = Table {
    name: "gong_webhooks_raw",
    key: &["event_id"],
    mode: WriteMode::InsertIgnore,
    columns: &[
        req("event_id", Text),
        req("kind", Text),
        req("source_id", Text),
        req("received_at", Time),
        req("request_id", Text),
        req("auth_method", Text),
        col("key_id", Text),
        req("is_test", Bool),
        req("body_sha256", Text),
        col("payload", Json),
    ],
};

/// The columns every enhanced table ends with.
macro_rules! enhanced_tail {
    () => {
        [
            col("crm_context", Json),
            col("sentiment_score", Float),
            col("insights", Json),
            req("priority", Text),
            col("next_steps", Json),
            req("data_quality_score", Float),
            req("enhanced", Bool),
            col("enhancement_note", Text),
            req("is_test", Bool),
            req("source_event_id", Text),
            req("version", Int),
            req("updated_at", Time),
        ]
    };
}

pub static CALLS: Table = Table {
    name: "gong_calls_enhanced",
    key: &["call_id"],
    mode: WriteMode::Upsert { version: "version" },
    columns: &{
        const HEAD: [Column; 24] = [
            req("call_id", Text),
            col("title", Text),
            col("url", Text),
            col("started", Time),
            col("scheduled", Time),
            col("duration_seconds", Float),
            col("direction", Text),
            col("system", Text),
            col("scope", Text),
            col("media", Text),
            col("language", Text),
            col("workspace_id", Text),
            col("primary_user_id", Text),
            col("is_private", Bool),
            col("participants", Json),
            col("trackers", Json),
            col("topics", Json),
            col("action_items", Json),
            col("brief", Text),
            col("key_points", Json),
            col("interaction_stats", Json),
            col("talk_ratio", Float),
            col("transcript", Json),
            col("call_outcome", Text),
        ];
        concat::<24, 12, 36>(HEAD, enhanced_tail!())
    },
};

pub static EMAILS: Table = Table {
    name: "gong_emails_enhanced",
    key: &["email_id"],
    mode: WriteMode::Upsert { version: "version" },
    columns: &{
        const HEAD: [Column; 11] = [
            req("email_id", Text),
            col("thread_id", Text),
            col("subject", Text),
            col("from_address", Json),
            col("recipients", Json),
            col("sent_at", Time),
            col("direction", Text),
            col("body", Text),
            col("workspace_id", Text),
            col("participants", Json),
            req("word_count", Int),
        ];
        concat::<11, 12, 23>(HEAD, enhanced_tail!())
    },
};

pub static MEETINGS: Table = Table {
    name: "gong_meetings_enhanced",
    key: &["meeting_id"],
    mode: WriteMode::Upsert { version: "version" },
    columns: &{
        const HEAD: [Column; 11] = [
            req("meeting_id", Text),
            col("title", Text),
            col("start_time", Time),
            col("end_time", Time),
            col("organizer", Json),
            col("invitees", Json),
            col("meeting_url", Text),
            col("call_id", Text),
            col("workspace_id", Text),
            col("participants", Json),
            col("recorded_call", Json),
        ];
        concat::<11, 12, 23>(HEAD, enhanced_tail!())
    },
};

pub static HISTORY: Table = Table {
    name: "webhook_processing_history",
    key: &["history_id"],
    mode: WriteMode::InsertIgnore,
    columns: &[
        req("history_id", Text),
        req("event_id", Text),
        req("attempt", Int),
        req("stage", Text),
        req("status", Text),
        col("error", Text),
        req("started_at", Time),
        req("finished_at", Time),
        req("duration_ms", Int),
        req("request_id", Text),
    ],
};

const fn concat<const A: usize, const B: usize, const N: usize>(
    a: [Column; A],
    b: [Column; B],
) -> [Column; N] {
    assert!(A + B == N);
    let mut out = [col("", Text); N];
    let mut i = 0;
    while i < A {
        out[i] = a[i];
        i += 1;
    }
    while i < N {
        out[i] = b[i - A];
        i += 1;
    }
    out
}

#[derive(Debug, Clone, Serialize)]
pub struct RawRow {
    pub event_id: String,
    pub kind: String,
    pub source_id: String,
    pub received_at: DateTime<Utc>,
    pub request_id: String,
    pub auth_method: String,
    pub key_id: Option<String>,
    pub is_test: bool,
    pub body_sha256: String,
    pub payload: Value,
}

/// The columns shared by the three enhanced tables.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Enhanced {
    pub crm_context: Value,
    pub sentiment_score: Option<f64>,
    pub insights: Value,
    pub priority: String,
    pub next_steps: Value,
    pub data_quality_score: f64,
    /// False when the Gong API could not add its data (not configured, not ready yet after
    /// the last attempt, or the call is unknown to Gong): `enhancement_note` says why.
    pub enhanced: bool,
    pub enhancement_note: Option<String>,
    pub is_test: bool,
    pub source_event_id: String,
    /// The processing claim's time (ms): a newer claim's row wins.
    pub version: i64,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize)]
pub struct CallRow {
    pub call_id: String,
    pub title: Option<String>,
    pub url: Option<String>,
    pub started: Option<DateTime<Utc>>,
    pub scheduled: Option<DateTime<Utc>>,
    pub duration_seconds: Option<f64>,
    pub direction: Option<String>,
    pub system: Option<String>,
    pub scope: Option<String>,
    pub media: Option<String>,
    pub language: Option<String>,
    pub workspace_id: Option<String>,
    pub primary_user_id: Option<String>,
    pub is_private: Option<bool>,
    pub participants: Value,
    pub trackers: Value,
    pub topics: Value,
    pub action_items: Value,
    pub brief: Option<String>,
    pub key_points: Value,
    pub interaction_stats: Value,
    pub talk_ratio: Option<f64>,
    pub transcript: Value,
    pub call_outcome: Option<String>,
    #[serde(flatten)]
    pub enhanced: Enhanced,
}

#[derive(Debug, Clone, Serialize)]
pub struct EmailRow {
    pub email_id: String,
    pub thread_id: Option<String>,
    pub subject: Option<String>,
    pub from_address: Value,
    pub recipients: Value,
    pub sent_at: Option<DateTime<Utc>>,
    pub direction: Option<String>,
    pub body: Option<String>,
    pub workspace_id: Option<String>,
    pub participants: Value,
    pub word_count: i64,
    #[serde(flatten)]
    pub enhanced: Enhanced,
}

#[derive(Debug, Clone, Serialize)]
pub struct MeetingRow {
    pub meeting_id: String,
    pub title: Option<String>,
    pub start_time: Option<DateTime<Utc>>,
    pub end_time: Option<DateTime<Utc>>,
    pub organizer: Value,
    pub invitees: Value,
    pub meeting_url: Option<String>,
    pub call_id: Option<String>,
    pub workspace_id: Option<String>,
    pub participants: Value,
    pub recorded_call: Value,
    #[serde(flatten)]
    pub enhanced: Enhanced,
}

#[derive(Debug, Clone, Serialize)]
pub struct HistoryRow {
    pub history_id: String,
    pub event_id: String,
    pub attempt: i64,
    pub stage: String,
    /// `ok`, `partial`, `skipped`, `retry` or `failed`.
    pub status: String,
    pub error: Option<String>,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    pub duration_ms: i64,
    pub request_id: String,
}
