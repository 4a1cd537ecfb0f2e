//! Users, their stats and scorecards, keyword trackers and workspaces.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::*;

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
    #[serde(default, deserialize_with = "number_opt", serialize_with = "whole")]
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
