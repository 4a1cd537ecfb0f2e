//! The notifications an event produces (architecture §9), queued in the outbox with its
//! completion.
//!
//! Ids name what a message is about, not which attempt made it: `call:<id>:call_processed:g0`.
//! A retry, a crash-and-reclaim, a re-fired webhook or the reconciler finding the same call
//! all produce the same id, which the outbox stores once. A reprocess request starts a new
//! generation of that event (`…:g1:<event id>`), so its new result is announced again.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::insights::{Analysis, Priority};
use crate::store::{Claimed, OutboxMessage};

/// What the message says about the processed thing.
pub struct About<'a> {
    pub title: Option<&'a str>,
    pub summary: String,
    pub occurred_at: Option<DateTime<Utc>>,
}

fn id(c: &Claimed, message_type: &str) -> String {
    // Generation 0 is shared by every delivery of the same thing; a reprocessed event's
    // generation is its own (two events of one call each have their own generation 1).
    if c.generation == 0 {
        format!("{}:{}:{}:g0", c.kind, c.source_id, message_type)
    } else {
        format!(
            "{}:{}:{}:g{}:{}",
            c.kind, c.source_id, message_type, c.generation, c.event_id
        )
    }
}

fn message(
    c: &Claimed,
    message_type: &str,
    priority: &str,
    about: &About<'_>,
    insights: Value,
    next_steps: Value,
) -> OutboxMessage {
    let notification_id = id(c, message_type);
    let occurred_at = about
        .occurred_at
        .or_else(|| DateTime::from_timestamp_millis(c.received_at_ms))
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true));
    OutboxMessage {
        notification_id: notification_id.clone(),
        event_id: c.event_id.clone(),
        message_type: message_type.to_owned(),
        priority: priority.to_owned(),
        is_test: c.is_test,
        message: json!({
            "id": notification_id,
            "type": message_type,
            "priority": priority,
            "source_id": c.source_id,
            "event_id": c.event_id,
            "request_id": c.request_id,
            "title": about.title,
            "summary": about.summary,
            "insights": insights,
            "next_steps": next_steps,
            "occurred_at": occurred_at,
            "is_test": c.is_test,
        }),
    }
}

/// The messages of a processed event: always `<kind>_processed`; `insight` when there are
/// insights; `action_required` when the priority is high or urgent and there is something
/// to do.
pub fn processed(c: &Claimed, a: &Analysis, about: &About<'_>) -> Vec<OutboxMessage> {
    let priority = a.priority.as_str();
    let insights = json!(a.insights);
    let steps = json!(a.next_steps);
    let mut out = vec![message(
        c,
        &format!("{}_processed", c.kind),
        priority,
        about,
        insights.clone(),
        steps.clone(),
    )];
    if !a.insights.is_empty() {
        out.push(message(
            c,
            "insight",
            priority,
            about,
            insights.clone(),
            steps.clone(),
        ));
    }
    if matches!(a.priority, Priority::Urgent | Priority::High) && !a.next_steps.is_empty() {
        out.push(message(
            c,
            "action_required",
            priority,
            about,
            insights,
            steps,
        ));
    }
    out
}

/// The message of an event moved to the dead-letter queue.
pub fn failed(c: &Claimed, error: &str) -> OutboxMessage {
    let about = About {
        title: None,
        summary: format!(
            "{} {} failed after {} attempt(s) and is in the dead-letter queue: {error}",
            c.kind, c.source_id, c.attempts
        ),
        occurred_at: None,
    };
    message(c, "processing_error", "high", &about, json!([]), json!([]))
}
