//! Gong Meetings scheduling bodies and the data-privacy look-up for an email address.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::*;

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
    /// Absent for meetings.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(flatten)]
    pub other: BTreeMap<String, Value>,
}
