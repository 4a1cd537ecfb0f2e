//! A call: its metadata, parties, content, interaction, collaboration and media blocks
//! (`POST /v2/calls/extensive`, a webhook's `callData`), and its transcript.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::*;

/// `metaData` of a call, and an item of `GET /v2/calls`. Gong sends every key, `null`
/// when it has no value, and so does this model.
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
    #[serde(default, deserialize_with = "number_opt", serialize_with = "whole")]
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
    /// Absent, not `null`, for contacts without one (as are `userId` and `phoneNumber`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_id: Option<GongId>,
    /// The id transcripts use; `null` for parties who did not speak.
    pub speaker_id: Option<GongId>,
    #[serde(default, deserialize_with = "list")]
    pub context: Vec<CrmContext>,
    /// Internal, External or Unknown.
    pub affiliation: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone_number: Option<String>,
    #[serde(default, deserialize_with = "list")]
    pub methods: Vec<String>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TrackerOccurrence {
    /// Seconds from the call's start.
    #[serde(default, deserialize_with = "number_opt", serialize_with = "whole")]
    pub start_time: Option<f64>,
    pub speaker_id: Option<GongId>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TrackerPhrase {
    #[serde(default, deserialize_with = "number_opt", serialize_with = "whole")]
    pub count: Option<f64>,
    /// Only with `contentSelector.exposedFields.content.trackerOccurrences`.
    #[serde(default, deserialize_with = "list", skip_serializing_if = "empty")]
    pub occurrences: Vec<TrackerOccurrence>,
    pub phrase: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TrackerHit {
    pub id: Option<GongId>,
    pub name: Option<String>,
    #[serde(default, deserialize_with = "number_opt", serialize_with = "whole")]
    pub count: Option<f64>,
    /// KEYWORD or SMART.
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// Only with `contentSelector.exposedFields.content.trackerOccurrences`.
    #[serde(default, deserialize_with = "list", skip_serializing_if = "empty")]
    pub occurrences: Vec<TrackerOccurrence>,
    #[serde(default, deserialize_with = "list")]
    pub phrases: Vec<TrackerPhrase>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NamedDuration {
    pub name: Option<String>,
    #[serde(default, deserialize_with = "number_opt", serialize_with = "whole")]
    pub duration: Option<f64>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ActionItem {
    #[serde(default, deserialize_with = "number_opt", serialize_with = "whole")]
    pub snippet_start_time: Option<f64>,
    #[serde(default, deserialize_with = "number_opt", serialize_with = "whole")]
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
    #[serde(default, deserialize_with = "number_opt", serialize_with = "whole")]
    pub start_time: Option<f64>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OutlineSection {
    pub section: Option<String>,
    #[serde(default, deserialize_with = "number_opt", serialize_with = "whole")]
    pub start_time: Option<f64>,
    #[serde(default, deserialize_with = "number_opt", serialize_with = "whole")]
    pub duration: Option<f64>,
    #[serde(default, deserialize_with = "list")]
    pub items: Vec<OutlineItem>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HighlightItem {
    pub text: Option<String>,
    #[serde(default, deserialize_with = "numbers", serialize_with = "wholes")]
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

/// The blocks asked for in `contentSelector.exposedFields.content`; empty ones are absent.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Content {
    #[serde(default, deserialize_with = "list", skip_serializing_if = "empty")]
    pub structure: Vec<NamedDuration>,
    #[serde(default, deserialize_with = "list", skip_serializing_if = "empty")]
    pub trackers: Vec<TrackerHit>,
    #[serde(default, deserialize_with = "list", skip_serializing_if = "empty")]
    pub topics: Vec<NamedDuration>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub points_of_interest: Option<PointsOfInterest>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub brief: Option<String>,
    #[serde(default, deserialize_with = "list", skip_serializing_if = "empty")]
    pub outline: Vec<OutlineSection>,
    #[serde(default, deserialize_with = "list", skip_serializing_if = "empty")]
    pub highlights: Vec<Highlight>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub call_outcome: Option<CallOutcome>,
    #[serde(default, deserialize_with = "list", skip_serializing_if = "empty")]
    pub key_points: Vec<TextItem>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Speaker {
    /// Matches `parties[].id` (not `speakerId`).
    pub id: Option<GongId>,
    /// Absent for parties who are not users.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_id: Option<GongId>,
    /// Seconds.
    #[serde(default, deserialize_with = "number_opt", serialize_with = "whole")]
    pub talk_time: Option<f64>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NamedValue {
    pub name: Option<String>,
    #[serde(default, deserialize_with = "number_opt", serialize_with = "whole")]
    pub value: Option<f64>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Questions {
    #[serde(default, deserialize_with = "number_opt", serialize_with = "whole")]
    pub company_count: Option<f64>,
    #[serde(default, deserialize_with = "number_opt", serialize_with = "whole")]
    pub non_company_count: Option<f64>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Interaction {
    #[serde(default, deserialize_with = "list", skip_serializing_if = "empty")]
    pub speakers: Vec<Speaker>,
    #[serde(default, deserialize_with = "list", skip_serializing_if = "empty")]
    pub interaction_stats: Vec<NamedValue>,
    #[serde(default, deserialize_with = "list", skip_serializing_if = "empty")]
    pub video: Vec<NamedDuration>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub questions: Option<Questions>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Comment {
    pub id: Option<GongId>,
    #[serde(default, deserialize_with = "number_opt", serialize_with = "whole")]
    pub audio_start_time: Option<f64>,
    #[serde(default, deserialize_with = "number_opt", serialize_with = "whole")]
    pub audio_end_time: Option<f64>,
    pub commenter_user_id: Option<GongId>,
    pub comment: Option<String>,
    #[serde(default, deserialize_with = "time_opt")]
    pub posted: Option<GongTime>,
    pub in_reply_to: Option<GongId>,
    pub during_call: Option<bool>,
}

/// `{}` when nobody commented.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Collaboration {
    #[serde(default, deserialize_with = "list", skip_serializing_if = "empty")]
    pub public_comments: Vec<Comment>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Media {
    pub audio_url: Option<String>,
    pub video_url: Option<String>,
}

/// One call of `POST /v2/calls/extensive`, and the `callData` of a webhook. Blocks the
/// request's `contentSelector` did not ask for, or that have no data, are absent.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CallData {
    #[serde(default, deserialize_with = "null_default")]
    pub meta_data: CallMeta,
    #[serde(default, deserialize_with = "list", skip_serializing_if = "empty")]
    pub context: Vec<CrmContext>,
    #[serde(default, deserialize_with = "list", skip_serializing_if = "empty")]
    pub parties: Vec<Party>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content: Option<Content>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interaction: Option<Interaction>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub collaboration: Option<Collaboration>,
    #[serde(skip_serializing_if = "Option::is_none")]
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
    #[serde(default, deserialize_with = "number_opt", serialize_with = "whole")]
    pub start: Option<f64>,
    #[serde(default, deserialize_with = "number_opt", serialize_with = "whole")]
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
