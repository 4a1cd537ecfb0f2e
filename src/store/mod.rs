//! The operational store: inbox (the durable queue), replay cache, and later outbox and DLQ.
//!
//! Two backends behind one type: SQLite (WAL, `synchronous=FULL`) for a single instance with
//! nothing installed, and PostgreSQL for several replicas sharing one queue. An enum rather
//! than a trait object: there are exactly two, and most statements are the same SQL with a
//! different placeholder style, which `QueryBuilder` takes care of.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use sqlx::postgres::PgPool;
use sqlx::sqlite::SqlitePool;
use sqlx::{FromRow, QueryBuilder};

use crate::verify::{EventKind, VerifiedEvent};

/// Runs the same expression on whichever pool the store holds. Its SQL uses `$N`
/// placeholders whose first appearances are in increasing order: PostgreSQL reads them as
/// positions, SQLite as names numbered in order of first appearance, so both bind alike.
macro_rules! with_pool {
    ($store:expr, $p:ident => $body:expr) => {
        match $store {
            Store::Sqlite($p) => $body,
            Store::Postgres($p) => $body,
        }
    };
}

mod admin;
mod connect;
mod outbox;
mod queue;
mod rate;
mod retention;
mod writer;
pub use admin::{EventFilter, EventSummary, InternalEvent, QueueStats};
pub use connect::Missing;
pub use outbox::{OutboxEntry, OutboxMessage};
pub use queue::{Claimed, Final, Retry};
pub use rate::{Permit, SharedRate};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("store error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("store migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("DATABASE_URL: {0}")]
    BadUrl(String),
    /// The store could not be opened: one line naming where (never the credentials) and
    /// the cause, with no `source` so that printing the chain does not repeat it.
    #[error("cannot open the store (DATABASE_URL: {place}): {cause}")]
    Unreachable { place: String, cause: String },
    /// A command that reads or changes an existing store found none (SQLite only: it
    /// would otherwise create an empty one and report an empty queue).
    #[error("no store at {path}; set DATABASE_URL or run from the service's folder")]
    NoStore { path: String },
}

/// What became of one event of a committed batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InsertOutcome {
    /// Stored now, under this id.
    Accepted { event_id: String },
    /// The same event (kind, source id, body hash) is stored already, under this id.
    Duplicate { event_id: String },
    /// The token was accepted before: nothing stored.
    Replayed,
}

/// Where an inbox event stands; stored as text in `inbox_events.status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EventStatus {
    /// Waiting for its first attempt.
    Pending,
    /// Claimed by a worker under a lease.
    Processing,
    Done,
    /// Waiting for a retry (`run_at_ms`).
    Failed,
    /// In the dead-letter queue.
    Dead,
}

impl EventStatus {
    pub const ALL: [EventStatus; 5] = [
        EventStatus::Pending,
        EventStatus::Processing,
        EventStatus::Done,
        EventStatus::Failed,
        EventStatus::Dead,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventStatus::Pending => "pending",
            EventStatus::Processing => "processing",
            EventStatus::Done => "done",
            EventStatus::Failed => "failed",
            EventStatus::Dead => "dead",
        }
    }

    pub fn parse(s: &str) -> Option<EventStatus> {
        EventStatus::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// A stored value that names no known variant: a row written by a newer version, or by
/// hand. Reading it fails loudly rather than guessing.
#[derive(Debug, thiserror::Error)]
#[error("unknown {what} {value:?} in the store")]
pub struct UnknownValue {
    what: &'static str,
    value: String,
}

impl TryFrom<String> for EventStatus {
    type Error = UnknownValue;
    fn try_from(value: String) -> Result<Self, UnknownValue> {
        EventStatus::parse(&value).ok_or(UnknownValue {
            what: "event status",
            value,
        })
    }
}

impl TryFrom<String> for EventKind {
    type Error = UnknownValue;
    fn try_from(value: String) -> Result<Self, UnknownValue> {
        EventKind::parse(&value).ok_or(UnknownValue {
            what: "event kind",
            value,
        })
    }
}

impl std::fmt::Display for EventStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A status equals its stored name (`status == "done"`), as in SQL and in the admin API.
impl PartialEq<&str> for EventStatus {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

/// An inbox row, as the pipeline, the admin API and the tests read it.
#[derive(Debug, Clone, FromRow)]
pub struct StoredEvent {
    pub event_id: String,
    #[sqlx(try_from = "String")]
    pub kind: EventKind,
    pub source_id: String,
    pub body_sha256: String,
    pub payload: Vec<u8>,
    pub received_at_ms: i64,
    pub request_id: String,
    pub auth_method: String,
    pub key_id: Option<String>,
    pub is_test: bool,
    #[sqlx(try_from = "String")]
    pub status: EventStatus,
    pub attempts: i32,
}

#[derive(Clone, Debug)]
pub enum Store {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// The inbox columns written at receipt, in this order.
const INSERT_EVENT: &str = "INSERT INTO inbox_events (event_id, kind, source_id, body_sha256, \
     payload, received_at_ms, request_id, auth_method, key_id, is_test, status, attempts, \
     run_at_ms, updated_at_ms) ";
const EVENT_COLUMNS: &str = "event_id, kind, source_id, body_sha256, payload, received_at_ms, \
     request_id, auth_method, key_id, is_test, status, attempts";

/// One body for both backends: `QueryBuilder` writes each one's placeholders.
macro_rules! insert_batch_body {
    ($pool:expr, $db:ty, $events:expr, $plan:expr) => {{
        let events: &[VerifiedEvent] = $events;
        let plan: &mut Plan = $plan;
        let mut tx = $pool.begin().await?;

        // Rows go in key order: two concurrent PostgreSQL batches that share keys then
        // lock them in the same order and wait for each other instead of deadlocking.
        plan.tokens.sort_by(|&a, &b| {
            let hash = |i: usize| events[i].replay().map(|g| g.token_sha256.as_str());
            hash(a).cmp(&hash(b))
        });
        if !plan.tokens.is_empty() {
            // Each token remembers the event and body it was accepted with, so that an exact
            // retry of the delivery can be told from a replay (fixed up below when the event
            // turns out to be stored already under another id).
            let mut qb = QueryBuilder::<$db>::new(
                "INSERT INTO replay_tokens (token_sha256, expires_at_ms, event_id, body_sha256) ",
            );
            qb.push_values(plan.tokens.iter(), |mut b, &i| {
                let e = &events[i];
                let guard = e.replay().expect("planned tokens have a guard");
                b.push_bind(guard.token_sha256.as_str())
                    .push_bind(guard.expires_at_ms)
                    .push_bind(e.event_id())
                    .push_bind(e.body_sha256());
            });
            qb.push(" ON CONFLICT (token_sha256) DO NOTHING RETURNING token_sha256");
            let fresh: HashSet<String> = qb
                .build_query_scalar::<String>()
                .fetch_all(&mut *tx)
                .await?
                .into_iter()
                .collect();
            let known = plan.known_tokens(events, &fresh);
            let mut earlier = HashMap::new();
            if !known.is_empty() {
                let mut qb = QueryBuilder::<$db>::new(
                    "SELECT token_sha256, event_id, body_sha256 FROM replay_tokens \
                     WHERE token_sha256 IN (",
                );
                let mut list = qb.separated(", ");
                for t in &known {
                    list.push_bind(*t);
                }
                list.push_unseparated(")");
                let rows: Vec<(String, Option<String>, Option<String>)> =
                    qb.build_query_as().fetch_all(&mut *tx).await?;
                earlier = rows.into_iter().map(|(t, e, b)| (t, (e, b))).collect();
            }
            plan.mark_known(events, &fresh, &earlier);
        }

        let mut candidates = plan.candidates(events);
        candidates.sort_by_key(|&i| {
            let e = &events[i];
            (e.kind().as_str(), e.source_id(), e.body_sha256())
        });
        if !candidates.is_empty() {
            let mut qb = QueryBuilder::<$db>::new(INSERT_EVENT);
            qb.push_values(candidates.iter(), |mut b, &i| {
                let e = &events[i];
                b.push_bind(e.event_id())
                    .push_bind(e.kind().as_str())
                    .push_bind(e.source_id())
                    .push_bind(e.body_sha256())
                    .push_bind(e.payload().as_ref())
                    .push_bind(e.received_at_ms())
                    .push_bind(e.request_id())
                    .push_bind(e.auth_method().as_str())
                    .push_bind(e.key_id())
                    .push_bind(e.is_test())
                    .push_bind("pending")
                    .push_bind(0i32)
                    .push_bind(e.received_at_ms())
                    .push_bind(e.received_at_ms());
            });
            qb.push(" ON CONFLICT (kind, source_id, body_sha256) DO NOTHING RETURNING event_id");
            let inserted: HashSet<String> = qb
                .build_query_scalar::<String>()
                .fetch_all(&mut *tx)
                .await?
                .into_iter()
                .collect();
            for &i in &candidates {
                let e = &events[i];
                if inserted.contains(e.event_id()) {
                    plan.outcomes[i] = Some(InsertOutcome::Accepted {
                        event_id: e.event_id().to_owned(),
                    });
                } else {
                    // Stored before this batch: answer with the stored event's id.
                    let mut qb =
                        QueryBuilder::<$db>::new("SELECT event_id FROM inbox_events WHERE kind = ");
                    qb.push_bind(e.kind().as_str())
                        .push(" AND source_id = ")
                        .push_bind(e.source_id())
                        .push(" AND body_sha256 = ")
                        .push_bind(e.body_sha256());
                    let existing: String = qb.build_query_scalar().fetch_one(&mut *tx).await?;
                    if let Some(guard) = e.replay() {
                        // A retry of this delivery is a duplicate of the stored event.
                        let mut qb =
                            QueryBuilder::<$db>::new("UPDATE replay_tokens SET event_id = ");
                        qb.push_bind(existing.as_str())
                            .push(" WHERE token_sha256 = ")
                            .push_bind(guard.token_sha256.as_str());
                        qb.build().execute(&mut *tx).await?;
                    }
                    plan.outcomes[i] = Some(InsertOutcome::Duplicate { event_id: existing });
                }
            }
        }
        tx.commit().await?;
    }};
}

/// Works out, before and between the statements, which events of a batch are replays or
/// duplicates of each other, so each statement touches every key once.
struct Plan {
    outcomes: Vec<Option<InsertOutcome>>,
    /// Indices whose token is inserted (the first event carrying each token).
    tokens: Vec<usize>,
    /// Later events that repeat an earlier one of the same batch: (index, first index).
    repeats: Vec<(usize, usize)>,
    /// Later events carrying the token of an earlier one with the same body (the same
    /// delivery, sent twice at once): (index, first index). They get the first's outcome.
    token_repeats: Vec<(usize, usize)>,
}

impl Plan {
    fn new(events: &[VerifiedEvent]) -> Plan {
        let mut outcomes = vec![None; events.len()];
        let mut first: HashMap<&str, usize> = HashMap::new();
        let mut tokens = Vec::new();
        let mut token_repeats = Vec::new();
        for (i, e) in events.iter().enumerate() {
            if let Some(guard) = e.replay() {
                match first.get(guard.token_sha256.as_str()) {
                    None => {
                        first.insert(guard.token_sha256.as_str(), i);
                        tokens.push(i);
                    }
                    Some(&f) => {
                        // Settled in `finish`; marked now so it is no insert candidate.
                        outcomes[i] = Some(InsertOutcome::Replayed);
                        if events[f].body_sha256() == e.body_sha256() {
                            token_repeats.push((i, f));
                        }
                    }
                }
            }
        }
        Plan {
            outcomes,
            tokens,
            repeats: Vec::new(),
            token_repeats,
        }
    }

    /// Tokens of the batch that were stored before it.
    fn known_tokens<'e>(
        &self,
        events: &'e [VerifiedEvent],
        fresh: &HashSet<String>,
    ) -> Vec<&'e str> {
        self.tokens
            .iter()
            .filter_map(|&i| events[i].replay())
            .map(|g| g.token_sha256.as_str())
            .filter(|t| !fresh.contains(*t))
            .collect()
    }

    /// Settles events whose token was stored before: the same body is a retry of the
    /// accepted delivery (a duplicate of its event), anything else a replay.
    fn mark_known(
        &mut self,
        events: &[VerifiedEvent],
        fresh: &HashSet<String>,
        earlier: &HashMap<String, (Option<String>, Option<String>)>,
    ) {
        for &i in &self.tokens {
            let e = &events[i];
            let guard = e.replay().expect("planned tokens have a guard");
            if fresh.contains(&guard.token_sha256) {
                continue;
            }
            self.outcomes[i] = Some(match earlier.get(&guard.token_sha256) {
                Some((Some(event_id), Some(body))) if body == e.body_sha256() => {
                    InsertOutcome::Duplicate {
                        event_id: event_id.clone(),
                    }
                }
                _ => InsertOutcome::Replayed,
            });
        }
    }

    /// Events to insert: not replayed, first of their (kind, source id, body hash).
    fn candidates(&mut self, events: &[VerifiedEvent]) -> Vec<usize> {
        let mut first: HashMap<(&str, &str, &str), usize> = HashMap::new();
        let mut out = Vec::new();
        for (i, e) in events.iter().enumerate() {
            if self.outcomes[i].is_some() {
                continue;
            }
            let key = (e.kind().as_str(), e.source_id(), e.body_sha256());
            match first.get(&key) {
                Some(&f) => self.repeats.push((i, f)),
                None => {
                    first.insert(key, i);
                    out.push(i);
                }
            }
        }
        out
    }

    fn finish(mut self) -> Vec<InsertOutcome> {
        // Content repeats first: a token's first event may itself be one of them.
        let repeats = std::mem::take(&mut self.repeats);
        let token_repeats = std::mem::take(&mut self.token_repeats);
        for (i, f) in repeats.into_iter().chain(token_repeats) {
            self.outcomes[i] = Some(match &self.outcomes[f] {
                Some(
                    InsertOutcome::Accepted { event_id } | InsertOutcome::Duplicate { event_id },
                ) => InsertOutcome::Duplicate {
                    event_id: event_id.clone(),
                },
                Some(InsertOutcome::Replayed) => InsertOutcome::Replayed,
                None => unreachable!("a batch's first occurrence is settled before its repeats"),
            });
        }
        self.outcomes
            .into_iter()
            .map(|o| o.expect("every event of a batch has an outcome"))
            .collect()
    }
}

impl Store {
    pub fn backend(&self) -> &'static str {
        match self {
            Store::Sqlite(_) => "sqlite",
            Store::Postgres(_) => "postgres",
        }
    }

    /// What a claiming subquery appends: PostgreSQL's claimers lock the rows they take and
    /// skip those others hold; SQLite has one writer, so its UPDATE is atomic as it is.
    fn skip_locked(&self) -> &'static str {
        match self {
            Store::Sqlite(_) => "",
            Store::Postgres(_) => "FOR UPDATE SKIP LOCKED",
        }
    }

    /// Creates or upgrades the tables.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        // The warehouse's migrator records its versions in the same `_sqlx_migrations`
        // table of the same database: each side ignores the versions it does not know.
        match self {
            Store::Sqlite(p) => {
                let mut m = sqlx::migrate!("./migrations/sqlite");
                m.set_ignore_missing(true);
                m.run(p).await?
            }
            Store::Postgres(p) => {
                let mut m = sqlx::migrate!("./migrations/postgres");
                m.set_ignore_missing(true);
                m.run(p).await?
            }
        }
        Ok(())
    }

    /// Commits a batch of events and their replay guards in one transaction.
    ///
    /// Returns one outcome per event, in order. Either every event of the batch is stored
    /// (or found to be a replay or duplicate) or, on error, none is.
    pub async fn insert_batch(
        &self,
        events: &[VerifiedEvent],
    ) -> Result<Vec<InsertOutcome>, StoreError> {
        let mut plan = Plan::new(events);
        match self {
            Store::Sqlite(pool) => insert_batch_body!(pool, sqlx::Sqlite, events, &mut plan),
            Store::Postgres(pool) => insert_batch_body!(pool, sqlx::Postgres, events, &mut plan),
        }
        Ok(plan.finish())
    }

    /// Round trip to the store; returns its latency.
    pub async fn ping(&self) -> Result<Duration, StoreError> {
        let start = Instant::now();
        match self {
            Store::Sqlite(p) => {
                sqlx::query("SELECT 1").execute(p).await?;
            }
            Store::Postgres(p) => {
                sqlx::query("SELECT 1").execute(p).await?;
            }
        }
        Ok(start.elapsed())
    }

    /// Events waiting for the pipeline (pending or being processed).
    pub async fn inbox_depth(&self) -> Result<i64, StoreError> {
        const SQL: &str =
            "SELECT COUNT(*) FROM inbox_events WHERE status IN ('pending', 'processing', 'failed')";
        Ok(match self {
            Store::Sqlite(p) => sqlx::query_scalar(SQL).fetch_one(p).await?,
            Store::Postgres(p) => sqlx::query_scalar(SQL).fetch_one(p).await?,
        })
    }

    /// Forgets replay guards of tokens that can no longer pass their `exp` check.
    pub async fn prune_replay_tokens(&self, now_ms: i64, limit: i64) -> Result<u64, StoreError> {
        // A bounded batch through the expiry index, like every other prune: one statement
        // never holds SQLite's write lock for long, however many tokens a busy day left.
        const SQL: &str = "DELETE FROM replay_tokens WHERE token_sha256 IN (SELECT token_sha256 \
             FROM replay_tokens WHERE expires_at_ms < $1 ORDER BY expires_at_ms LIMIT $2)";
        Ok(with_pool!(self, p => sqlx::query(SQL)
            .bind(now_ms)
            .bind(limit)
            .execute(p)
            .await?
            .rows_affected()))
    }

    pub async fn event(&self, event_id: &str) -> Result<Option<StoredEvent>, StoreError> {
        Ok(match self {
            Store::Sqlite(p) => {
                let sql = format!("SELECT {EVENT_COLUMNS} FROM inbox_events WHERE event_id = ?");
                sqlx::query_as(sqlx::AssertSqlSafe(sql))
                    .bind(event_id)
                    .fetch_optional(p)
                    .await?
            }
            Store::Postgres(p) => {
                let sql = format!("SELECT {EVENT_COLUMNS} FROM inbox_events WHERE event_id = $1");
                sqlx::query_as(sqlx::AssertSqlSafe(sql))
                    .bind(event_id)
                    .fetch_optional(p)
                    .await?
            }
        })
    }

    /// Every stored event, oldest first (tests and small inspections).
    pub async fn events(&self) -> Result<Vec<StoredEvent>, StoreError> {
        let sql = format!("SELECT {EVENT_COLUMNS} FROM inbox_events ORDER BY event_id");
        Ok(match self {
            Store::Sqlite(p) => {
                sqlx::query_as(sqlx::AssertSqlSafe(sql))
                    .fetch_all(p)
                    .await?
            }
            Store::Postgres(p) => {
                sqlx::query_as(sqlx::AssertSqlSafe(sql))
                    .fetch_all(p)
                    .await?
            }
        })
    }

    pub async fn close(&self) {
        match self {
            Store::Sqlite(p) => p.close().await,
            Store::Postgres(p) => p.close().await,
        }
    }
}
