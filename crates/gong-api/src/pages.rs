//! Gong's list endpoints: every page of a sequence, by `records.cursor` (in the query for
//! GET, in the body for POST), restarted when Gong says the cursor expired; and the two
//! shapes of single-object answers.

use std::collections::HashSet;

use reqwest::Method;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::client::GongClient;
use crate::error::GongError;
use crate::models::{
    AnsweredScorecard, CallData, CallMeta, CallTranscript, KeywordTracker, PersonInteractionStats,
    Records, User, UserAggregateActivity, UserDailyActivity, Workspace,
};
use crate::request::{Outcome, Request};

/// How often an expired pagination sequence is restarted before giving up.
const MAX_CURSOR_RESTARTS: u32 = 3;

/// A page of any list endpoint: Gong names the list after its items, and each response
/// carries exactly one such list.
#[derive(Deserialize)]
struct Page<T> {
    #[serde(default)]
    records: Records,
    #[serde(
        rename = "calls",
        alias = "callTranscripts",
        alias = "users",
        alias = "peopleInteractionStats",
        alias = "usersAggregateActivityStats",
        alias = "usersDetailedActivities",
        alias = "answeredScorecards",
        alias = "keywordTrackers",
        alias = "workspaces",
        default = "Vec::new"
    )]
    items: Vec<T>,
}

/// An item of a list endpoint, with the id that tells it apart: a sequence restarted after
/// an expired cursor skips what it already has, and batched look-ups are keyed by it.
pub(crate) trait Listed: DeserializeOwned {
    fn key(&self) -> Option<String>;
}

macro_rules! listed {
    ($($t:ty => $($field:ident).+;)+) => {$(
        impl Listed for $t {
            fn key(&self) -> Option<String> {
                self.$($field).+.as_ref().map(|id| id.0.clone())
            }
        }
    )+};
}

listed! {
    CallMeta => id;
    CallData => meta_data.id;
    CallTranscript => call_id;
    User => id;
    PersonInteractionStats => user_id;
    UserAggregateActivity => user_id;
    UserDailyActivity => user_id;
    AnsweredScorecard => answered_scorecard_id;
    KeywordTracker => tracker_id;
    Workspace => id;
}

/// `{"call": {...}}` or `{"user": {...}}`: one object by id.
#[derive(Deserialize)]
struct One<T> {
    #[serde(alias = "call", alias = "user")]
    object: Option<T>,
}

impl GongClient {
    /// A request whose 404-empty answer is an error (single objects).
    pub(crate) async fn data<T: DeserializeOwned>(&self, req: Request<'_>) -> Result<T, GongError> {
        match self.call(req).await? {
            Outcome::Data(d) => Ok(d),
            Outcome::Empty => Err(GongError::NotFound(vec![
                "No records found corresponding to the provided filters".into(),
            ])),
        }
    }

    /// One object by id from `GET {endpoint}`; `None` when Gong does not know it (yet).
    pub(crate) async fn get_one<T: DeserializeOwned>(
        &self,
        endpoint: &'static str,
        path: &str,
    ) -> Result<Option<T>, GongError> {
        let req = Request {
            endpoint,
            method: Method::GET,
            path,
            query: &[],
            body: None,
        };
        match self.call::<One<T>>(req).await {
            Ok(Outcome::Data(one)) => Ok(one.object),
            Ok(Outcome::Empty) => Ok(None),
            Err(GongError::NotFound(errors)) if names_missing_object(&errors) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Every page of the list at `path` (also its metrics name). Items are deduplicated by
    /// their key, so a restarted sequence adds only what was not seen.
    pub(crate) async fn collect<T: Listed>(
        &self,
        path: &'static str,
        method: Method,
        query: Vec<(&'static str, String)>,
        body: Option<Value>,
    ) -> Result<Vec<T>, GongError> {
        let mut items = Vec::new();
        let mut seen = HashSet::new();
        let mut cursor: Option<String> = None;
        let mut cursors_seen = HashSet::new();
        let mut restarts = 0;
        loop {
            let mut q: Vec<(&str, String)> = query.clone();
            let mut b = body.clone();
            if let Some(c) = &cursor {
                match b.as_mut() {
                    Some(Value::Object(map)) => {
                        map.insert("cursor".into(), json!(c));
                    }
                    _ => q.push(("cursor", c.clone())),
                }
            }
            let req = Request {
                endpoint: path,
                method: method.clone(),
                path,
                query: &q,
                body: b.as_ref(),
            };
            match self.call::<Page<T>>(req).await {
                Ok(Outcome::Data(page)) => {
                    items.extend(
                        page.items
                            .into_iter()
                            .filter(|item| item.key().is_none_or(|k| seen.insert(k))),
                    );
                    match page.records.cursor.filter(|c| !c.is_empty()) {
                        // A cursor seen before would loop for ever: stop with what we have.
                        Some(next) if !cursors_seen.insert(next.clone()) => {
                            tracing::warn!(endpoint = path, "Gong repeated a cursor; stopping");
                            return Ok(items);
                        }
                        Some(next) => cursor = Some(next),
                        None => return Ok(items),
                    }
                }
                Ok(Outcome::Empty) => return Ok(items),
                Err(GongError::CursorExpired) if restarts < MAX_CURSOR_RESTARTS => {
                    restarts += 1;
                    tracing::warn!(
                        endpoint = path,
                        restarts,
                        "Gong cursor expired; restarting the sequence"
                    );
                    cursor = None;
                }
                Err(e) => return Err(e),
            }
        }
    }
}

/// "Call ID … was not found", "User … was not found": the object does not exist (yet).
/// Any other 404 (a wrong base URL or path) stays an error.
fn names_missing_object(errors: &[String]) -> bool {
    errors
        .iter()
        .any(|e| e.to_ascii_lowercase().contains("was not found"))
}
