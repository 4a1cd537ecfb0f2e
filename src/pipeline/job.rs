//! One claimed event on its way through the stages: its state (running, retry, postpone,
//! dead), the row it builds, its notifications, and the history rows each stage records.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::json;

use super::payload::Item;
use super::{Settings, messages};
use crate::insights::Analysis;
use crate::store::{Claimed, OutboxMessage};
use crate::telemetry;
use crate::warehouse::tables::{CallRow, EmailRow, Enhanced, HistoryRow, MeetingRow};

pub(super) enum State {
    Running,
    Retry {
        error: String,
        delay: Duration,
    },
    /// A retry that does not count as an attempt.
    Postpone {
        error: String,
        delay: Duration,
    },
    Dead(String),
}

impl State {
    /// Why the event is not done, when it is not.
    pub fn error(&self) -> Option<&str> {
        match self {
            State::Retry { error, .. } | State::Postpone { error, .. } | State::Dead(error) => {
                Some(error)
            }
            State::Running => None,
        }
    }
}

/// How an event's processing ended (the `outcome` label of `events_processed_total`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Outcome {
    Done,
    /// Done, but without everything Gong could add.
    Partial,
    Retry,
    Dead,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Done => "done",
            Outcome::Partial => "partial",
            Outcome::Retry => "retry",
            Outcome::Dead => "dead",
        }
    }

    /// The history status of the finishing stage.
    pub fn step(self) -> Step {
        match self {
            Outcome::Done | Outcome::Partial => Step::Ok,
            Outcome::Retry => Step::Retry,
            Outcome::Dead => Step::Failed,
        }
    }
}

/// One claimed event on its way through the stages.
pub(super) struct Job {
    pub c: Claimed,
    pub item: Option<Item>,
    pub state: State,
    /// A row to write although the event will be retried (processing lag).
    pub partial: bool,
    /// Why the data is not fully enhanced (`enhancement_note`).
    pub note: Option<String>,
    pub quality: f64,
    pub row: Option<TableRow>,
    pub messages: Vec<OutboxMessage>,
    pub analysis_priority: Option<String>,
    pub history: Vec<HistoryRow>,
}

impl Job {
    pub fn new(c: Claimed) -> Job {
        Job {
            c,
            item: None,
            state: State::Running,
            partial: false,
            note: None,
            quality: 0.0,
            row: None,
            messages: Vec::new(),
            analysis_priority: None,
            history: Vec::new(),
        }
    }

    pub fn outcome(&self) -> Outcome {
        match self.state {
            State::Running if self.note.is_some() => Outcome::Partial,
            State::Running => Outcome::Done,
            State::Retry { .. } | State::Postpone { .. } => Outcome::Retry,
            State::Dead(_) => Outcome::Dead,
        }
    }

    pub fn running(&self) -> bool {
        matches!(self.state, State::Running)
    }

    pub fn last_attempt(&self, s: &Settings) -> bool {
        self.c.attempts as u32 >= s.max_attempts
    }

    /// Reschedules, or dead-letters when this was the last attempt.
    pub fn retry(&mut self, s: &Settings, error: String, retry_after: Option<Duration>) {
        if self.last_attempt(s) {
            self.state = State::Dead(error);
            return;
        }
        let delay = match retry_after {
            Some(d) => d.min(s.retry_max).max(s.backoff(self.c.attempts)),
            None => s.backoff(self.c.attempts),
        };
        self.state = State::Retry { error, delay };
    }

    /// Completes the row with the analysis and prepares the notifications.
    pub fn fill(&mut self, a: Analysis, about: messages::About<'static>) {
        let Some(row) = self.row.as_mut() else { return };
        let title = row.title().map(str::to_owned);
        let e = row.enhanced_mut();
        e.sentiment_score = a.sentiment_score;
        e.insights = json!(a.insights);
        e.priority = a.priority.as_str().to_owned();
        e.next_steps = json!(a.next_steps);
        e.data_quality_score = self.quality;
        e.enhanced = self.note.is_none();
        e.enhancement_note = self.note.clone();
        e.is_test = self.c.is_test;
        e.source_event_id = self.c.event_id.clone();
        e.version = self.c.version;
        e.updated_at = Utc::now();
        self.analysis_priority = Some(e.priority.clone());
        if self.running() {
            let about = messages::About {
                title: title.as_deref(),
                ..about
            };
            self.messages = messages::processed(&self.c, &a, &about);
        }
    }
}

pub(super) enum TableRow {
    Call(Box<CallRow>),
    Email(Box<EmailRow>),
    Meeting(Box<MeetingRow>),
}

impl TableRow {
    pub fn enhanced_mut(&mut self) -> &mut Enhanced {
        match self {
            TableRow::Call(r) => &mut r.enhanced,
            TableRow::Email(r) => &mut r.enhanced,
            TableRow::Meeting(r) => &mut r.enhanced,
        }
    }

    pub fn title(&self) -> Option<&str> {
        match self {
            TableRow::Call(r) => r.title.as_deref(),
            TableRow::Email(r) => r.subject.as_deref(),
            TableRow::Meeting(r) => r.title.as_deref(),
        }
    }
}

/// The stages, in order, as named in history rows and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum StageName {
    StoreRaw,
    Enhance,
    Transform,
    Insights,
    StoreEnhanced,
    Outbox,
}

impl StageName {
    pub fn as_str(self) -> &'static str {
        match self {
            StageName::StoreRaw => "store_raw",
            StageName::Enhance => "enhance",
            StageName::Transform => "transform",
            StageName::Insights => "insights",
            StageName::StoreEnhanced => "store_enhanced",
            StageName::Outbox => "outbox",
        }
    }
}

/// How one stage went for one event (the history row's `status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Step {
    Ok,
    /// Done with less than everything (processing lag, invalid fields, Gong unreachable
    /// for an email or meeting).
    Partial,
    /// Not done, by configuration (no Gong API key).
    Skipped,
    /// Failed in a way that passes: the event comes back.
    Retry,
    Failed,
    /// Our lease ran out before finishing: another worker owns the event.
    LostLease,
}

impl Step {
    pub fn as_str(self) -> &'static str {
        match self {
            Step::Ok => "ok",
            Step::Partial => "partial",
            Step::Skipped => "skipped",
            Step::Retry => "retry",
            Step::Failed => "failed",
            Step::LostLease => "lost_lease",
        }
    }
}

/// Times one stage for every event of a batch.
pub(super) struct Stage {
    name: StageName,
    started: DateTime<Utc>,
    clock: std::time::Instant,
}

impl Stage {
    pub fn start(name: StageName) -> Stage {
        Stage {
            name,
            started: Utc::now(),
            clock: std::time::Instant::now(),
        }
    }

    pub fn record(&self, j: &mut Job, status: Step, error: Option<&str>) {
        let elapsed = self.clock.elapsed();
        metrics::histogram!(telemetry::WEBHOOK_PROCESSING_DURATION_SECONDS, "stage" => self.name.as_str())
            .record(elapsed.as_secs_f64());
        j.history.push(HistoryRow {
            history_id: uuid::Uuid::now_v7().to_string(),
            event_id: j.c.event_id.clone(),
            attempt: i64::from(j.c.attempts),
            stage: self.name.as_str().to_owned(),
            status: status.as_str().to_owned(),
            error: error.map(str::to_owned),
            started_at: self.started,
            finished_at: Utc::now(),
            duration_ms: elapsed.as_millis() as i64,
            request_id: j.c.request_id.clone(),
        });
    }
}

pub(super) fn log_outcome(j: &Job, outcome: Outcome) {
    let outcome = outcome.as_str();
    let priority = j.analysis_priority.as_deref().unwrap_or("-");
    match &j.state {
        State::Running => tracing::info!(
            event_id = %j.c.event_id, request_id = %j.c.request_id, kind = %j.c.kind,
            source_id = %j.c.source_id, attempt = j.c.attempts, outcome, priority,
            "event processed"
        ),
        State::Retry { error, delay } | State::Postpone { error, delay } => tracing::info!(
            event_id = %j.c.event_id, request_id = %j.c.request_id, kind = %j.c.kind,
            attempt = j.c.attempts, retry_in_ms = delay.as_millis() as u64, error = %error,
            "event rescheduled"
        ),
        State::Dead(error) => tracing::warn!(
            event_id = %j.c.event_id, request_id = %j.c.request_id, kind = %j.c.kind,
            attempt = j.c.attempts, error = %error, "event moved to the dead-letter queue"
        ),
    }
}
