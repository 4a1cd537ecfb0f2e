//! The notifications an event produces (architecture §9), queued in the outbox with its
//! completion.
//!
//! Ids name what a message is about, not which attempt made it: `call:<id>:call_processed:g0`.
//! A retry, a crash-and-reclaim, a re-fired webhook or the reconciler finding the same call
//! all produce the same id, which the outbox stores once. A reprocess request starts a new
//! generation of that event (`…:g1:<event id>`), so its new result is announced again.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::insights::Analysis;
use crate::notify::MessageType;
use crate::store::{Claimed, OutboxMessage};

/// What the message says about the processed thing.
pub struct About<'a> {
    pub title: Option<&'a str>,
    pub summary: String,
    pub occurred_at: Option<DateTime<Utc>>,
}

/// `what` names the message within its event: its type, and for an insight its place.
fn id(c: &Claimed, what: &str) -> String {
    // Generation 0 is shared by every delivery of the same thing; a reprocessed event's
    // generation is its own (two events of one call each have their own generation 1).
    // A test delivery ("Test now" in Gong) may name a real call: its own ids keep it from
    // taking the place of the real notification.
    let test = if c.is_test { "test:" } else { "" };
    if c.generation == 0 {
        format!("{test}{}:{}:{what}:g0", c.kind, c.source_id)
    } else {
        format!(
            "{test}{}:{}:{what}:g{}:{}",
            c.kind, c.source_id, c.generation, c.event_id
        )
    }
}

fn message(
    c: &Claimed,
    (message_type, what): (MessageType, &str),
    priority: &str,
    about: &About<'_>,
    insights: Value,
    next_steps: Value,
) -> OutboxMessage {
    let notification_id = id(c, what);
    let message_type = message_type.as_str();
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

/// The messages of a processed event: always `<kind>_processed` (with every insight);
/// one `insight` per insight (on `:insights`, so an agent can follow one kind of signal);
/// `action_required` when there are next steps (action items and recommendations).
pub fn processed(c: &Claimed, a: &Analysis, about: &About<'_>) -> Vec<OutboxMessage> {
    let priority = a.priority.as_str();
    let steps = json!(a.next_steps);
    let processed = MessageType::processed(c.kind);
    let mut out = vec![message(
        c,
        (processed, processed.as_str()),
        priority,
        about,
        json!(a.insights),
        steps.clone(),
    )];
    for (n, insight) in a.insights.iter().enumerate() {
        let about = About {
            title: about.title,
            summary: insight.detail.clone(),
            occurred_at: about.occurred_at,
        };
        out.push(message(
            c,
            (MessageType::Insight, &format!("insight:{n}")),
            priority,
            &about,
            json!([insight]),
            json!([]),
        ));
    }
    if !a.next_steps.is_empty() {
        let action = MessageType::ActionRequired;
        out.push(message(
            c,
            (action, action.as_str()),
            priority,
            about,
            json!(a.insights),
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
    let error = MessageType::ProcessingError;
    message(
        c,
        (error, error.as_str()),
        "high",
        &about,
        json!([]),
        json!([]),
    )
}
