//! Typed models of Gong's API v2 responses (and the few request bodies we send).
//!
//! Gong adds fields without warning and omits blocks it has no data for, so every field is
//! optional or defaults to empty, unknown fields are ignored, and `null` is accepted where a
//! list is expected. Ids are strings (some tools turn them into numbers: both are accepted);
//! date-times carry any offset and up to microseconds (the OpenAPI examples' epoch floats
//! are accepted too); CRM field values are untyped.

use std::collections::BTreeMap;

use chrono::{DateTime, FixedOffset, TimeZone, Utc};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

/// A Gong id: a string of up to 20 digits.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct GongId(pub String);

impl<'de> Deserialize<'de> for GongId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Text(String),
            Unsigned(u64),
            Signed(i64),
            Float(f64),
        }
        Ok(GongId(match Raw::deserialize(d)? {
            Raw::Text(s) => s,
            Raw::Unsigned(n) => n.to_string(),
            Raw::Signed(n) => n.to_string(),
            Raw::Float(f) => format!("{f:.0}"),
        }))
    }
}

impl GongId {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for GongId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A date-time as Gong sends it (RFC 3339 with an offset), or as its OpenAPI examples show
/// it (epoch seconds).
pub type GongTime = DateTime<FixedOffset>;

fn time_opt<'de, D: Deserializer<'de>>(d: D) -> Result<Option<GongTime>, D::Error> {
    match Option::<Value>::deserialize(d)? {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        // One malformed time (the OpenAPI examples even show "T000:00:00") must not make a
        // whole page unreadable: it is dropped, and the record kept.
        Some(Value::String(s)) => Ok(DateTime::parse_from_rfc3339(&s)
            .inspect_err(|_| tracing::debug!(value = %s, "unreadable Gong date-time dropped"))
            .ok()),
        Some(Value::Number(n)) => {
            let secs = n.as_f64().unwrap_or(0.0);
            let whole = secs.trunc() as i64;
            let nanos = ((secs - secs.trunc()) * 1e9) as u32;
            Utc.timestamp_opt(whole, nanos)
                .single()
                .map(|t| Some(t.fixed_offset()))
                .ok_or_else(|| serde::de::Error::custom("epoch time out of range"))
        }
        Some(_) => Ok(None),
    }
}

/// A value Gong may send as `null`, taken as its default.
fn null_default<'de, D: Deserializer<'de>, T: Deserialize<'de> + Default>(
    d: D,
) -> Result<T, D::Error> {
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// A list of numbers, some of which may be strings or nulls.
fn numbers<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<f64>, D::Error> {
    let raw: Vec<Value> = list(d)?;
    Ok(raw
        .into_iter()
        .filter_map(|v| match v {
            Value::Number(n) => n.as_f64(),
            Value::String(s) => s.trim().parse().ok(),
            _ => None,
        })
        .collect())
}

/// A list that Gong may also send as `null`.
fn list<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Vec<T>, D::Error> {
    Ok(Option::<Vec<T>>::deserialize(d)?.unwrap_or_default())
}

/// A number Gong may send as an integer, a float or a numeric string.
fn number_opt<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    Ok(match Option::<Value>::deserialize(d)? {
        Some(Value::Number(n)) => n.as_f64(),
        Some(Value::String(s)) => s.trim().parse().ok(),
        _ => None,
    })
}

/// The `records` block of a paged response.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Records {
    pub total_records: Option<i64>,
    pub current_page_size: Option<i64>,
    pub current_page_number: Option<i64>,
    /// Present only when there are more records.
    pub cursor: Option<String>,
}

/// Gong's error body: `{"requestId", "errors": [...]}`.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorResponse {
    pub request_id: Option<String>,
    #[serde(default, deserialize_with = "list")]
    pub errors: Vec<String>,
}

/// `metaData` of a call, and an item of `GET /v2/calls`.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CallMeta {
    pub id: Option<GongId>,
    pub url: Option<String>,
    pub title: Option<String>,
    #[serde(default, deserialize_with = "time_opt")]
    pub scheduled: Option<GongTime>,
    #[serde(default, deserialize_with = "time_opt")]
    pub started: Option<GongTime>,
    /// Seconds.
    #[serde(default, deserialize_with = "number_opt")]
    pub duration: Option<f64>,
    pub primary_user_id: Option<GongId>,
    pub direction: Option<String>,
    pub system: Option<String>,
    pub scope: Option<String>,
    pub media: Option<String>,
    pub language: Option<String>,
    pub workspace_id: Option<GongId>,
    pub sdr_disposition: Option<String>,
    pub client_unique_id: Option<String>,
    pub custom_data: Option<String>,
    pub purpose: Option<String>,
    pub meeting_url: Option<String>,
    pub is_private: Option<bool>,
    pub calendar_event_id: Option<String>,
}

/// An untyped CRM field value: a string, a number, or a boolean written as a string.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(transparent)]
pub struct FieldValue(pub Value);

impl FieldValue {
    pub fn as_f64(&self) -> Option<f64> {
        match &self.0 {
            Value::Number(n) => n.as_f64(),
            Value::String(s) => s.trim().replace(',', "").parse().ok(),
            _ => None,
        }
    }

    pub fn as_text(&self) -> Option<String> {
        match &self.0 {
            Value::Null => None,
            Value::String(s) => Some(s.clone()),
            other => Some(other.to_string()),
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match &self.0 {
            Value::Bool(b) => Some(*b),
            Value::String(s) if s.eq_ignore_ascii_case("true") => Some(true),
            Value::String(s) if s.eq_ignore_ascii_case("false") => Some(false),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CrmField {
    pub name: Option<String>,
    #[serde(default)]
    pub value: FieldValue,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CrmObject {
    pub object_type: Option<String>,
    pub object_id: Option<GongId>,
    #[serde(default, deserialize_with = "list")]
    pub fields: Vec<CrmField>,
    pub timing: Option<String>,
}

impl CrmObject {
    /// The value of the field `name` (case-insensitive).
    pub fn field(&self, name: &str) -> Option<&FieldValue> {
        self.fields
            .iter()
            .find(|f| {
                f.name
                    .as_deref()
                    .is_some_and(|n| n.eq_ignore_ascii_case(name))
            })
            .map(|f| &f.value)
    }
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CrmContext {
    pub system: Option<String>,
    #[serde(default, deserialize_with = "list")]
    pub objects: Vec<CrmObject>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Party {
    pub id: Option<GongId>,
    pub email_address: Option<String>,
    pub name: Option<String>,
    pub title: Option<String>,
    pub user_id: Option<GongId>,
    /// The id transcripts use; `null` for parties who did not speak.
    pub speaker_id: Option<GongId>,
    #[serde(default, deserialize_with = "list")]
    pub context: Vec<CrmContext>,
    /// Internal, External or Unknown.
    pub affiliation: Option<String>,
    pub phone_number: Option<String>,
    #[serde(default, deserialize_with = "list")]
    pub methods: Vec<String>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TrackerOccurrence {
    /// Seconds from the call's start.
    #[serde(default, deserialize_with = "number_opt")]
    pub start_time: Option<f64>,
    pub speaker_id: Option<GongId>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TrackerPhrase {
    #[serde(default, deserialize_with = "number_opt")]
    pub count: Option<f64>,
    #[serde(default, deserialize_with = "list")]
    pub occurrences: Vec<TrackerOccurrence>,
    pub phrase: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TrackerHit {
    pub id: Option<GongId>,
    pub name: Option<String>,
    #[serde(default, deserialize_with = "number_opt")]
    pub count: Option<f64>,
    /// KEYWORD or SMART.
    #[serde(rename = "type")]
    pub kind: Option<String>,
    #[serde(default, deserialize_with = "list")]
    pub occurrences: Vec<TrackerOccurrence>,
    #[serde(default, deserialize_with = "list")]
    pub phrases: Vec<TrackerPhrase>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NamedDuration {
    pub name: Option<String>,
    #[serde(default, deserialize_with = "number_opt")]
    pub duration: Option<f64>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ActionItem {
    #[serde(default, deserialize_with = "number_opt")]
    pub snippet_start_time: Option<f64>,
    #[serde(default, deserialize_with = "number_opt")]
    pub snippet_end_time: Option<f64>,
    /// Gong spells this one `speakerID`.
    #[serde(rename = "speakerID", alias = "speakerId")]
    pub speaker_id: Option<GongId>,
    pub snippet: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PointsOfInterest {
    #[serde(default, deserialize_with = "list")]
    pub action_items: Vec<ActionItem>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OutlineItem {
    pub text: Option<String>,
    #[serde(default, deserialize_with = "number_opt")]
    pub start_time: Option<f64>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OutlineSection {
    pub section: Option<String>,
    #[serde(default, deserialize_with = "number_opt")]
    pub start_time: Option<f64>,
    #[serde(default, deserialize_with = "number_opt")]
    pub duration: Option<f64>,
    #[serde(default, deserialize_with = "list")]
    pub items: Vec<OutlineItem>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HighlightItem {
    pub text: Option<String>,
    #[serde(default, deserialize_with = "numbers")]
    pub start_times: Vec<f64>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Highlight {
    pub title: Option<String>,
    #[serde(default, deserialize_with = "list")]
    pub items: Vec<HighlightItem>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CallOutcome {
    pub id: Option<GongId>,
    pub category: Option<String>,
    pub name: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TextItem {
    pub text: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Content {
    #[serde(default, deserialize_with = "list")]
    pub structure: Vec<NamedDuration>,
    #[serde(default, deserialize_with = "list")]
    pub trackers: Vec<TrackerHit>,
    #[serde(default, deserialize_with = "list")]
    pub topics: Vec<NamedDuration>,
    pub points_of_interest: Option<PointsOfInterest>,
    pub brief: Option<String>,
    #[serde(default, deserialize_with = "list")]
    pub outline: Vec<OutlineSection>,
    #[serde(default, deserialize_with = "list")]
    pub highlights: Vec<Highlight>,
    pub call_outcome: Option<CallOutcome>,
    #[serde(default, deserialize_with = "list")]
    pub key_points: Vec<TextItem>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Speaker {
    /// Matches `parties[].id` (not `speakerId`).
    pub id: Option<GongId>,
    pub user_id: Option<GongId>,
    /// Seconds.
    #[serde(default, deserialize_with = "number_opt")]
    pub talk_time: Option<f64>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NamedValue {
    pub name: Option<String>,
    #[serde(default, deserialize_with = "number_opt")]
    pub value: Option<f64>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Questions {
    #[serde(default, deserialize_with = "number_opt")]
    pub company_count: Option<f64>,
    #[serde(default, deserialize_with = "number_opt")]
    pub non_company_count: Option<f64>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Interaction {
    #[serde(default, deserialize_with = "list")]
    pub speakers: Vec<Speaker>,
    #[serde(default, deserialize_with = "list")]
    pub interaction_stats: Vec<NamedValue>,
    #[serde(default, deserialize_with = "list")]
    pub video: Vec<NamedDuration>,
    pub questions: Option<Questions>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Comment {
    pub id: Option<GongId>,
    #[serde(default, deserialize_with = "number_opt")]
    pub audio_start_time: Option<f64>,
    #[serde(default, deserialize_with = "number_opt")]
    pub audio_end_time: Option<f64>,
    pub commenter_user_id: Option<GongId>,
    pub comment: Option<String>,
    #[serde(default, deserialize_with = "time_opt")]
    pub posted: Option<GongTime>,
    pub in_reply_to: Option<GongId>,
    pub during_call: Option<bool>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Collaboration {
    #[serde(default, deserialize_with = "list")]
    pub public_comments: Vec<Comment>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Media {
    pub audio_url: Option<String>,
    pub video_url: Option<String>,
}

/// One call of `POST /v2/calls/extensive`, and the `callData` of a webhook.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CallData {
    #[serde(default, deserialize_with = "null_default")]
    pub meta_data: CallMeta,
    #[serde(default, deserialize_with = "list")]
    pub context: Vec<CrmContext>,
    #[serde(default, deserialize_with = "list")]
    pub parties: Vec<Party>,
    pub content: Option<Content>,
    pub interaction: Option<Interaction>,
    pub collaboration: Option<Collaboration>,
    pub media: Option<Media>,
}

impl CallData {
    pub fn id(&self) -> Option<&str> {
        self.meta_data.id.as_ref().map(GongId::as_str)
    }
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Sentence {
    /// Milliseconds from the call's start.
    #[serde(default, deserialize_with = "number_opt")]
    pub start: Option<f64>,
    #[serde(default, deserialize_with = "number_opt")]
    pub end: Option<f64>,
    #[serde(default, deserialize_with = "null_default")]
    pub text: String,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Monologue {
    /// Matches `parties[].speakerId`.
    pub speaker_id: Option<GongId>,
    pub topic: Option<String>,
    #[serde(default, deserialize_with = "list")]
    pub sentences: Vec<Sentence>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CallTranscript {
    pub call_id: Option<GongId>,
    #[serde(default, deserialize_with = "list")]
    pub transcript: Vec<Monologue>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UserSettings {
    pub web_conferences_recorded: Option<bool>,
    pub prevent_web_conference_recording: Option<bool>,
    pub telephony_calls_imported: Option<bool>,
    pub emails_imported: Option<bool>,
    pub prevent_email_import: Option<bool>,
    pub non_recorded_meetings_imported: Option<bool>,
    pub gong_connect_enabled: Option<bool>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SpokenLanguage {
    pub language: Option<String>,
    pub primary: Option<bool>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct User {
    pub id: Option<GongId>,
    pub email_address: Option<String>,
    #[serde(default, deserialize_with = "time_opt")]
    pub created: Option<GongTime>,
    pub active: Option<bool>,
    #[serde(default, deserialize_with = "list")]
    pub email_aliases: Vec<String>,
    pub trusted_email_address: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub title: Option<String>,
    pub phone_number: Option<String>,
    pub extension: Option<String>,
    #[serde(default, deserialize_with = "list")]
    pub personal_meeting_urls: Vec<String>,
    pub settings: Option<UserSettings>,
    pub manager_id: Option<GongId>,
    pub meeting_consent_page_url: Option<String>,
    #[serde(default, deserialize_with = "list")]
    pub spoken_languages: Vec<SpokenLanguage>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PersonInteractionStats {
    pub user_id: Option<GongId>,
    pub user_email_address: Option<String>,
    #[serde(default, deserialize_with = "list")]
    pub person_interaction_stats: Vec<NamedValue>,
}

/// `POST /v2/stats/activity/aggregate`: counts per user (Gong's field names, camelCase).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UserAggregateActivity {
    pub user_id: Option<GongId>,
    pub user_email_address: Option<String>,
    #[serde(default, deserialize_with = "null_default")]
    pub user_aggregate_activity_stats: BTreeMap<String, Value>,
}

/// One day of `POST /v2/stats/activity/day-by-day`: each activity lists call ids.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DailyActivity {
    #[serde(default, deserialize_with = "time_opt")]
    pub from_date: Option<GongTime>,
    #[serde(default, deserialize_with = "time_opt")]
    pub to_date: Option<GongTime>,
    #[serde(flatten)]
    pub activities: BTreeMap<String, Value>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UserDailyActivity {
    pub user_id: Option<GongId>,
    pub user_email_address: Option<String>,
    #[serde(default, deserialize_with = "list")]
    pub user_daily_activity_stats: Vec<DailyActivity>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ScorecardAnswer {
    pub question_id: Option<GongId>,
    pub question_revision_id: Option<GongId>,
    pub is_overall: Option<bool>,
    #[serde(default, deserialize_with = "number_opt")]
    pub score: Option<f64>,
    pub answer_text: Option<String>,
    pub not_applicable: Option<bool>,
    #[serde(default, deserialize_with = "list")]
    pub selected_options: Vec<Value>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AnsweredScorecard {
    pub answered_scorecard_id: Option<GongId>,
    pub scorecard_id: Option<GongId>,
    pub scorecard_name: Option<String>,
    pub call_id: Option<GongId>,
    #[serde(default, deserialize_with = "time_opt")]
    pub call_start_time: Option<GongTime>,
    pub reviewed_user_id: Option<GongId>,
    pub reviewer_user_id: Option<GongId>,
    #[serde(default, deserialize_with = "time_opt")]
    pub review_time: Option<GongTime>,
    pub visibility_type: Option<String>,
    #[serde(default, deserialize_with = "list")]
    pub answers: Vec<ScorecardAnswer>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct KeywordTracker {
    pub tracker_id: Option<GongId>,
    pub tracker_name: Option<String>,
    pub workspace_id: Option<GongId>,
    #[serde(default, deserialize_with = "list")]
    pub language_keywords: Vec<Value>,
    pub affiliation: Option<String>,
    pub enabled: Option<bool>,
    #[serde(flatten)]
    pub other: BTreeMap<String, Value>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Workspace {
    pub id: Option<GongId>,
    pub name: Option<String>,
    pub description: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MeetingInvitee {
    pub email: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_name: Option<String>,
}

/// Body of `POST /v2/meetings` and `PUT /v2/meetings/{id}` (Gong Meetings scheduling).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MeetingRequest {
    pub start_time: String,
    pub end_time: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    pub invitees: Vec<MeetingInvitee>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    pub organizer_email: String,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MeetingResponse {
    pub request_id: Option<String>,
    pub meeting_id: Option<GongId>,
    pub meeting_url: Option<String>,
    #[serde(default, deserialize_with = "list")]
    pub additional_invitees: Vec<Value>,
}

/// What `GET /v2/data-privacy/data-for-email-address` finds (the only email data Gong's
/// API exposes).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EmailAddressReferences {
    pub request_id: Option<String>,
    #[serde(default, deserialize_with = "list")]
    pub emails: Vec<EmailReference>,
    #[serde(default, deserialize_with = "list")]
    pub calls: Vec<Reference>,
    #[serde(default, deserialize_with = "list")]
    pub meetings: Vec<Reference>,
    #[serde(default, deserialize_with = "list")]
    pub customer_data: Vec<Value>,
    #[serde(default, deserialize_with = "list")]
    pub customer_engagement: Vec<Value>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EmailReference {
    pub id: Option<String>,
    pub from: Option<String>,
    #[serde(default, deserialize_with = "time_opt")]
    pub sent_time: Option<GongTime>,
    pub mailbox: Option<String>,
    pub message_hash: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Reference {
    pub id: Option<GongId>,
    pub status: Option<String>,
    #[serde(flatten)]
    pub other: BTreeMap<String, Value>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_webhook_fixture_parses_with_odd_types() {
        let body: Value =
            serde_json::from_str(include_str!("../../tests/data/webhook_call.json")).unwrap();
        let call: CallData = serde_json::from_value(body["callData"].clone()).unwrap();
        assert_eq!(call.id(), Some("7693221800038890052"));
        let started = call.meta_data.started.unwrap();
        assert_eq!(started.timestamp_subsec_micros(), 483_211);
        assert_eq!(started.offset().local_minus_utc(), -7 * 3600);
        let opp = &call.context[0].objects[1];
        assert_eq!(opp.field("amount").unwrap().as_f64(), Some(50000.0));
        let content = call.content.unwrap();
        assert_eq!(content.trackers[0].name.as_deref(), Some("Competitors"));
        let item = &content.points_of_interest.unwrap().action_items[0];
        assert_eq!(
            item.speaker_id.as_ref().map(GongId::as_str),
            Some("1580833210577559850")
        );
        assert!(call.parties[2].speaker_id.is_none());
    }

    #[test]
    fn ids_numbers_epoch_times_nulls_and_unknown_fields() {
        let v = serde_json::json!({
            "metaData": {"id": 7022652889306584427u64, "started": 1518863400.5,
                          "duration": "460", "isPrivate": false, "brandNew": {"x": 1}},
            "parties": null,
            "context": [{"objects": [{"fields": [
                {"name": "Must_Win__c", "value": "false"},
                {"name": "MRR__c", "value": 4166.67}]}]}]
        });
        let call: CallData = serde_json::from_value(v).unwrap();
        assert_eq!(call.id(), Some("7022652889306584427"));
        let odd: CallData = serde_json::from_value(serde_json::json!({
            "metaData": null,
            "content": {"highlights": [{"items": [{"startTimes": [1.5, "2", null]}]}],
                        "callOutcome": {"id": 17}},
            "context": [{"objects": [{"objectId": 12345, "fields": null}]}],
            "collaboration": {"publicComments": [{"posted": "2019-01-21T000:00:00-08:00"}]}
        }))
        .unwrap();
        let content = odd.content.unwrap();
        assert_eq!(content.highlights[0].items[0].start_times, vec![1.5, 2.0]);
        assert_eq!(content.call_outcome.unwrap().id.unwrap().as_str(), "17");
        assert_eq!(
            odd.context[0].objects[0]
                .object_id
                .as_ref()
                .unwrap()
                .as_str(),
            "12345"
        );
        assert!(
            odd.collaboration.unwrap().public_comments[0]
                .posted
                .is_none()
        );
        let t: CallTranscript = serde_json::from_value(serde_json::json!(
            {"callId": "1", "transcript": [{"speakerId": null, "sentences": [{"start": 1, "end": 2.5, "text": null}]}]}
        ))
        .unwrap();
        assert_eq!(t.transcript[0].sentences[0].text, "");
        assert_eq!(call.meta_data.duration, Some(460.0));
        assert_eq!(
            call.meta_data.started.unwrap().timestamp_millis(),
            1_518_863_400_500
        );
        assert!(call.parties.is_empty());
        let obj = &call.context[0].objects[0];
        assert_eq!(obj.field("must_win__c").unwrap().as_bool(), Some(false));
        assert_eq!(obj.field("MRR__c").unwrap().as_f64(), Some(4166.67));
    }
}
