//! Insights, priority and next steps for one conversation (architecture §8).
//!
//! The pipeline turns a Gong call, email or meeting into a [`Subject`] (this module knows
//! nothing of Gong's JSON) and [`analyze`] turns the subject into an [`Analysis`]:
//!
//! - **Signals.** Gong's own trackers (a tracker named like "Competitors" or "Churn" is
//!   that kind of signal), configured competitor names and churn / upsell / pricing /
//!   legal phrases found in the transcript, the brief, key points, action items and email
//!   text (whole words, case-insensitive), Gong's action items, the external parties'
//!   sentiment, and the CRM opportunity (amount, type, stage).
//! - **Rules are data.** Every phrase, name, word list, threshold and next-step template
//!   lives in [`Rules`]: the built-in `default_rules.toml`, overridable key by key with
//!   `INSIGHT_RULES_FILE` (see `examples/insight_rules.toml`) and `COMPETITORS`. The rules
//!   are compiled once into word-indexed matchers, so an hour-long transcript is one pass
//!   over its words with a hash look-up per word.
//! - **Evidence.** Every insight says why it exists: which tracker, which sentence, at
//!   which millisecond, said by whom. There is one insight per (kind, label), e.g. one
//!   for "Chorus" however often it is named, with its first few pieces of evidence.
//! - **Priority**, checked in this order, the first that applies winning: `urgent` for a
//!   churn risk on a large or renewal opportunity; `high` for churn risk, a competitor,
//!   strongly negative sentiment or three or more action items; `low` for a short call or
//!   an informational email; else `medium`. So a three-minute call in which the customer
//!   says "cancel" is high, not low. The reason is stated in one sentence.
//! - **Next steps** are derived from the insights by templates, most important kind
//!   first, deduplicated and capped.

mod next_steps;
mod priority;
mod rules;
mod scan;
mod sentiment;
#[cfg(test)]
mod tests;
mod text;

use serde::{Deserialize, Serialize};

pub use rules::{Rules, RulesError};

/// What kind of conversation a [`Subject`] is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum SubjectKind {
    #[default]
    Call,
    Email,
    Meeting,
}

/// One sentence of a transcript.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Utterance {
    pub text: String,
    /// Milliseconds from the start of the call.
    pub start_ms: Option<i64>,
    pub speaker_id: Option<String>,
    pub speaker_name: Option<String>,
    /// Said by someone outside the company (a customer or prospect).
    pub external: bool,
}

/// A Gong tracker that fired on the conversation.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TrackerSignal {
    pub name: String,
    pub count: u32,
    pub occurrences: Vec<Occurrence>,
    /// The tracker's phrases that were heard (for a competitor tracker: the names).
    pub phrases: Vec<String>,
}

/// Where a tracker fired.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Occurrence {
    /// Milliseconds from the start of the call.
    pub start_ms: Option<i64>,
    pub speaker_id: Option<String>,
}

/// An action item Gong found (`content.pointsOfInterest.actionItems`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ActionItemSignal {
    pub text: String,
    pub start_ms: Option<i64>,
    pub speaker_id: Option<String>,
}

/// A CRM opportunity the conversation belongs to.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Deal {
    pub name: Option<String>,
    pub amount: Option<f64>,
    pub stage: Option<String>,
    /// The opportunity type, e.g. "Renewal".
    pub kind: Option<String>,
    pub close_date: Option<String>,
}

/// A piece of text other than the transcript.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TextBlock {
    /// "brief", "key_point", "email_subject", "email_body" or "title"; becomes the
    /// evidence's `source`.
    pub source: &'static str,
    pub text: String,
    /// Written by someone outside the company (an inbound email).
    pub external: bool,
}

/// Everything [`analyze`] looks at, for one call, email or meeting.
#[derive(Debug, Clone, Default)]
pub struct Subject {
    pub kind: SubjectKind,
    pub duration_seconds: Option<f64>,
    pub utterances: Vec<Utterance>,
    pub texts: Vec<TextBlock>,
    pub trackers: Vec<TrackerSignal>,
    pub action_items: Vec<ActionItemSignal>,
    pub deals: Vec<Deal>,
    /// Gong's count of questions asked; for an email, any question makes it more than
    /// informational.
    pub question_count: Option<u32>,
}

/// How soon someone should look at the conversation. Ordered most urgent first.
#[derive(Serialize, Deserialize, Clone, Copy, PartialEq, Eq, Debug, PartialOrd, Ord, Hash)]
#[serde(rename_all = "lowercase")]
pub enum Priority {
    Urgent,
    High,
    Medium,
    Low,
}

impl Priority {
    pub fn as_str(self) -> &'static str {
        match self {
            Priority::Urgent => "urgent",
            Priority::High => "high",
            Priority::Medium => "medium",
            Priority::Low => "low",
        }
    }
}

impl std::fmt::Display for Priority {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why an insight exists: one tracker hit, sentence, action item or CRM record.
#[derive(Serialize, Debug, Clone, PartialEq)]
pub struct Evidence {
    /// tracker | transcript | brief | key_point | action_item | crm | email_subject |
    /// email_body | title
    pub source: String,
    /// The Gong tracker's name, for tracker evidence.
    pub tracker: Option<String>,
    /// The sentence (or record summary), cut to the rules' `max_text_chars`.
    pub text: Option<String>,
    pub timestamp_ms: Option<i64>,
    pub speaker_id: Option<String>,
    pub speaker_name: Option<String>,
}

/// One finding, with its evidence.
#[derive(Serialize, Debug, Clone, PartialEq)]
pub struct Insight {
    pub kind: InsightKind,
    /// What was found: the competitor, the phrase, the tracker, the action item.
    pub label: String,
    /// One sentence for a person.
    pub detail: String,
    pub evidence: Vec<Evidence>,
}

/// The kinds of insight. The declaration order is the order of importance: insights are
/// listed in it, and a tracker matching several kinds takes the first.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum InsightKind {
    ChurnRisk,
    CompetitorMention,
    NegativeSentiment,
    Legal,
    Pricing,
    Upsell,
    ActionItem,
    LargeDeal,
    Renewal,
}

impl InsightKind {
    pub fn as_str(self) -> &'static str {
        match self {
            InsightKind::ChurnRisk => "churn_risk",
            InsightKind::CompetitorMention => "competitor_mention",
            InsightKind::NegativeSentiment => "negative_sentiment",
            InsightKind::Legal => "legal",
            InsightKind::Pricing => "pricing",
            InsightKind::Upsell => "upsell",
            InsightKind::ActionItem => "action_item",
            InsightKind::LargeDeal => "large_deal",
            InsightKind::Renewal => "renewal",
        }
    }

    /// The kind in words, for details and reasons.
    pub fn describe(self) -> &'static str {
        match self {
            InsightKind::ChurnRisk => "churn risk",
            InsightKind::CompetitorMention => "competitor mentioned",
            InsightKind::NegativeSentiment => "negative customer sentiment",
            InsightKind::Legal => "legal / security topic",
            InsightKind::Pricing => "pricing discussed",
            InsightKind::Upsell => "expansion interest",
            InsightKind::ActionItem => "action item",
            InsightKind::LargeDeal => "large deal",
            InsightKind::Renewal => "renewal",
        }
    }
}

/// The result of [`analyze`].
#[derive(Serialize, Debug, Clone, PartialEq)]
pub struct Analysis {
    /// Most important kind first.
    pub insights: Vec<Insight>,
    /// The external parties' sentiment in [-1, 1]; `None` when they said nothing.
    pub sentiment_score: Option<f64>,
    pub priority: Priority,
    pub priority_reason: String,
    /// Recommendations, most important first.
    pub next_steps: Vec<String>,
}

/// Finds the insights of one conversation, rates its priority and derives next steps.
pub fn analyze(rules: &Rules, subject: &Subject) -> Analysis {
    let found = scan::scan(rules, subject);
    let (priority, priority_reason) = priority::decide(rules, subject, &found);
    let next_steps = next_steps::derive(rules, &found.findings);
    Analysis {
        insights: found.findings.into_iter().map(|f| f.insight).collect(),
        sentiment_score: found.sentiment_score,
        priority,
        priority_reason,
        next_steps,
    }
}
