//! Calls: listing by period, one by id, extensive data and transcripts (batched by id, up
//! to [`MAX_IDS_PER_REQUEST`] per request).

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, SecondsFormat, Utc};
use reqwest::Method;
use serde_json::{Value, json};

use super::path_id;
use crate::client::GongClient;
use crate::error::GongError;
use crate::models::{CallData, CallMeta, CallTranscript};
use crate::pages::Listed;

/// Most call ids Gong takes in one extensive or transcript request.
pub const MAX_IDS_PER_REQUEST: usize = 100;

/// What Gong's `contentSelector` asks for. `full()` asks for everything.
#[derive(Debug, Clone)]
pub struct ContentSelector(Value);

impl ContentSelector {
    pub fn full() -> ContentSelector {
        ContentSelector(json!({
            "context": "Extended",
            "contextTiming": ["Now", "TimeOfCall"],
            "exposedFields": {
                "parties": true,
                "content": {
                    "structure": true, "topics": true, "trackers": true,
                    "trackerOccurrences": true, "pointsOfInterest": true, "brief": true,
                    "outline": true, "highlights": true, "callOutcome": true, "keyPoints": true
                },
                "interaction": {
                    "speakers": true, "video": true, "personInteractionStats": true,
                    "questions": true
                },
                "collaboration": { "publicComments": true },
                "media": true
            }
        }))
    }

    pub fn custom(selector: Value) -> ContentSelector {
        ContentSelector(selector)
    }
}

/// Filter of the call endpoints (`from` inclusive, `to` exclusive).
#[derive(Debug, Clone, Default)]
pub struct CallFilter {
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    pub workspace_id: Option<String>,
    pub call_ids: Vec<String>,
    pub primary_user_ids: Vec<String>,
}

impl CallFilter {
    pub fn period(from: DateTime<Utc>, to: DateTime<Utc>) -> CallFilter {
        CallFilter {
            from: Some(from),
            to: Some(to),
            ..Default::default()
        }
    }

    fn to_json(&self) -> Value {
        let mut f = serde_json::Map::new();
        if let Some(t) = self.from {
            f.insert("fromDateTime".into(), json!(iso(t)));
        }
        if let Some(t) = self.to {
            f.insert("toDateTime".into(), json!(iso(t)));
        }
        if let Some(w) = &self.workspace_id {
            f.insert("workspaceId".into(), json!(w));
        }
        if !self.call_ids.is_empty() {
            f.insert("callIds".into(), json!(self.call_ids));
        }
        if !self.primary_user_ids.is_empty() {
            f.insert("primaryUserIds".into(), json!(self.primary_user_ids));
        }
        Value::Object(f)
    }
}

/// Per-id results of a batched look-up.
#[derive(Debug, Clone)]
pub struct Batch<T> {
    pub found: HashMap<String, T>,
    /// Ids Gong did not return (yet): processing lag, private or unknown calls.
    pub missing: Vec<String>,
}

pub(crate) fn iso(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

impl GongClient {
    /// `GET /v2/calls` over a period (`from` inclusive, `to` exclusive), every page.
    pub async fn list_calls(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        workspace_id: Option<&str>,
    ) -> Result<Vec<CallMeta>, GongError> {
        let mut query = vec![("fromDateTime", iso(from)), ("toDateTime", iso(to))];
        if let Some(w) = workspace_id {
            query.push(("workspaceId", w.to_owned()));
        }
        self.collect("/v2/calls", Method::GET, query, None).await
    }

    /// `GET /v2/calls/{id}`; `None` when Gong does not know the call (yet).
    pub async fn get_call(&self, id: &str) -> Result<Option<CallMeta>, GongError> {
        let path = format!("/v2/calls/{}", path_id(id)?);
        self.get_one("/v2/calls/{id}", &path).await
    }

    /// `POST /v2/calls/extensive`, every page.
    pub async fn extensive_calls(
        &self,
        filter: &CallFilter,
        selector: &ContentSelector,
    ) -> Result<Vec<CallData>, GongError> {
        let body = json!({"filter": filter.to_json(), "contentSelector": selector.0});
        self.collect("/v2/calls/extensive", Method::POST, Vec::new(), Some(body))
            .await
    }

    /// Extensive data for any number of call ids, in as few requests as Gong allows.
    pub async fn extensive_calls_by_ids(
        &self,
        ids: &[String],
        selector: &ContentSelector,
    ) -> Result<Batch<CallData>, GongError> {
        by_ids(ids, |filter| async move {
            self.extensive_calls(&filter, selector).await
        })
        .await
    }

    /// `POST /v2/calls/transcript`, every page.
    pub async fn transcripts(&self, filter: &CallFilter) -> Result<Vec<CallTranscript>, GongError> {
        let body = json!({"filter": filter.to_json()});
        self.collect("/v2/calls/transcript", Method::POST, Vec::new(), Some(body))
            .await
    }

    /// Transcripts for any number of call ids, in as few requests as Gong allows.
    pub async fn transcripts_by_ids(
        &self,
        ids: &[String],
    ) -> Result<Batch<CallTranscript>, GongError> {
        by_ids(ids, |filter| async move { self.transcripts(&filter).await }).await
    }
}

/// Looks `ids` up `MAX_IDS_PER_REQUEST` at a time with `fetch`, keyed by each item's id.
async fn by_ids<T: Listed, F, Fut>(ids: &[String], fetch: F) -> Result<Batch<T>, GongError>
where
    F: Fn(CallFilter) -> Fut,
    Fut: Future<Output = Result<Vec<T>, GongError>>,
{
    let mut found = HashMap::new();
    for chunk in unique(ids).chunks(MAX_IDS_PER_REQUEST) {
        let filter = CallFilter {
            call_ids: chunk.to_vec(),
            ..Default::default()
        };
        for item in fetch(filter).await? {
            if let Some(id) = item.key() {
                found.insert(id, item);
            }
        }
    }
    Ok(batch(ids, found))
}

fn unique(ids: &[String]) -> Vec<String> {
    let mut seen = HashSet::new();
    ids.iter()
        .filter(|i| seen.insert(i.as_str()))
        .cloned()
        .collect()
}

fn batch<T>(ids: &[String], found: HashMap<String, T>) -> Batch<T> {
    let missing = unique(ids)
        .into_iter()
        .filter(|id| !found.contains_key(id))
        .collect();
    Batch { found, missing }
}
