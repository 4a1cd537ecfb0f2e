//! The demo's report of what agents hear: one block per event (its priority and why, what
//! was said, the next step, the channels its messages go to), details for the first few
//! calls only, then a summary table whatever the number of calls.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use gong_relay::notify::{MessageType, Names};
use gong_relay::store::{OutboxEntry, QueueStats};
use serde_json::Value;

use super::clip;

/// Calls shown one by one; the rest are counted in the summary.
pub const DETAILS: usize = 10;

/// The priorities, most pressing first (the order of the summary's columns).
const PRIORITIES: [&str; 4] = ["urgent", "high", "medium", "low"];

/// What one event's messages say, gathered from the outbox.
struct Heard {
    kind: &'static str,
    priority: String,
    is_test: bool,
    message_type: MessageType,
    message: Value,
    insights: usize,
    actions: bool,
}

/// Each event's result message, by source id (call, email or meeting id).
fn heard(outbox: &[OutboxEntry]) -> BTreeMap<String, Heard> {
    let mut by_event: BTreeMap<&str, Vec<&OutboxEntry>> = BTreeMap::new();
    for n in outbox {
        by_event.entry(&n.event_id).or_default().push(n);
    }
    let mut out = BTreeMap::new();
    for list in by_event.values() {
        let of_type = |n: &&OutboxEntry| MessageType::parse(&n.message_type);
        let Some(main) = list
            .iter()
            .find(|n| of_type(n).is_some_and(MessageType::is_result))
        else {
            continue;
        };
        let Some(message_type) = of_type(main) else {
            continue;
        };
        let message: Value = serde_json::from_str(&main.message).unwrap_or(Value::Null);
        let kind = match message_type {
            MessageType::CallProcessed => "call",
            MessageType::EmailProcessed => "email",
            MessageType::MeetingProcessed => "meeting",
            _ => "failed",
        };
        let source = message["source_id"].as_str().unwrap_or_default().to_owned();
        out.insert(
            source,
            Heard {
                kind,
                priority: main.priority.clone(),
                is_test: main.is_test,
                message_type,
                message,
                insights: list
                    .iter()
                    .filter(|n| of_type(n) == Some(MessageType::Insight))
                    .count(),
                actions: list
                    .iter()
                    .any(|n| of_type(n) == Some(MessageType::ActionRequired)),
            },
        );
    }
    out
}

/// The "what agents hear" section: one block per event of `shown` (source ids, in order).
pub fn events(out: &mut String, outbox: &[OutboxEntry], shown: &[String], names: &Names) {
    let heard = heard(outbox);
    let _ = writeln!(
        out,
        "   (urgent: churn risk on a large or renewal deal · high: churn, a competitor or \
         negative sentiment · low: a short call or an informational email · medium: the rest)"
    );
    for id in shown {
        let Some(h) = heard.get(id) else {
            let _ = writeln!(out, "   {id}: nothing yet (see `gong-relay dlq list`)");
            continue;
        };
        let m = &h.message;
        let title = m["title"].as_str().unwrap_or(id);
        let _ = writeln!(
            out,
            "   {:<7} {:<8} {}",
            h.priority.to_uppercase(),
            h.kind,
            clip(title, 60)
        );
        let _ = writeln!(out, "           why   {}", clip(&why(h), 110));
        let said = m["insights"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|i| i["evidence"].as_array().into_iter().flatten())
            .find_map(|e| e["text"].as_str());
        if let Some(said) = said {
            let _ = writeln!(out, "           said  \"{}\"", clip(said, 96));
        }
        if let Some(step) = m["next_steps"]
            .as_array()
            .and_then(|s| s.first())
            .and_then(|s| s.as_str().or(s["text"].as_str()))
        {
            let _ = writeln!(out, "           next  {}", clip(step, 100));
        }
        let mut to = names
            .channels(h.message_type, &h.priority, h.is_test)
            .join(", ");
        if h.insights > 0 {
            let insights = names.channels(MessageType::Insight, &h.priority, h.is_test);
            let _ = write!(to, "; {} insight(s) on {}", h.insights, insights.join(", "));
        }
        if h.actions {
            let actions = names.channels(MessageType::ActionRequired, &h.priority, h.is_test);
            let _ = write!(to, "; next steps on {}", actions.join(", "));
        }
        let _ = writeln!(out, "           to    {to}");
    }
}

/// Why the event has its priority: what its insights found (one line each kind), or, with
/// none, the rule that decided (architecture §8: a short call or an informational email
/// is low, anything else without a risk signal medium).
fn why(h: &Heard) -> String {
    let mut kinds = Vec::new();
    let mut details = Vec::new();
    for i in h.message["insights"].as_array().into_iter().flatten() {
        let (Some(kind), Some(detail)) = (i["kind"].as_str(), i["detail"].as_str()) else {
            continue;
        };
        if !kinds.contains(&kind) {
            kinds.push(kind);
            // "(found in 2 sentences)" says how often; the quote below shows where.
            let short = detail.split(" (found in").next().unwrap_or(detail);
            details.push(short.trim_end_matches('.'));
        }
    }
    match (details.is_empty(), h.priority.as_str(), h.kind) {
        (false, _, _) => details.join("; "),
        (true, "low", "email") => "an informational email: no question, request or risk".into(),
        (true, "low", _) => "a short call with no risk signal".into(),
        _ => "no risk signal: an ordinary conversation".into(),
    }
}

/// The summary table: events by priority and by state, and the Gong API requests by path.
pub fn summary(
    out: &mut String,
    outbox: &[OutboxEntry],
    queue: &QueueStats,
    gong_paths: &[String],
) {
    let heard = heard(outbox);
    let mut by_kind: BTreeMap<&str, BTreeMap<&str, usize>> = BTreeMap::new();
    for h in heard.values() {
        *by_kind
            .entry(h.kind)
            .or_default()
            .entry(h.priority.as_str())
            .or_default() += 1;
    }
    let _ = writeln!(
        out,
        "   {:<9}{}",
        "priority",
        PRIORITIES.map(|p| format!("{p:>8}")).concat()
    );
    for kind in ["call", "email", "meeting"] {
        let counts = by_kind.get(kind);
        let row = PRIORITIES.map(|p| {
            let n = counts.and_then(|c| c.get(p)).copied().unwrap_or(0);
            format!("{n:>8}")
        });
        let _ = writeln!(out, "   {kind:<9}{}", row.concat());
    }
    let _ = writeln!(
        out,
        "   status   done {}, dead-lettered {}, still queued {}",
        queue.done,
        queue.dead,
        queue.pending + queue.processing + queue.retrying
    );
    let mut by_path: BTreeMap<&str, usize> = BTreeMap::new();
    for p in gong_paths {
        *by_path.entry(p.as_str()).or_default() += 1;
    }
    let paths: Vec<String> = by_path.iter().map(|(p, n)| format!("{p} {n}")).collect();
    let _ = writeln!(
        out,
        "   Gong API {} request(s): {}",
        gong_paths.len(),
        paths.join(", ")
    );
}
