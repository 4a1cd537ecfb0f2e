//! The Gong API v2 client: every call goes through one path (`call`) that applies the
//! rate limit and daily budget, the circuit breaker, retries and metrics, so no method can
//! forget one of them.
//!
//! Error policy (design §5): 429 waits `Retry-After` (bounded, jittered); 5xx, timeouts and
//! connection errors back off exponentially with jitter; 401/403 are configuration errors
//! and fail at once; 404 "No calls found corresponding to the provided filters" is an empty
//! result, other 404s are "not found"; other 4xx fail at once.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use rand::Rng;
use reqwest::header::{AUTHORIZATION, HeaderValue, RETRY_AFTER};
use reqwest::{Method, StatusCode};
use secrecy::ExposeSecret;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::limiter::{LimitError, LocalLimiter, RateLimiter};
use super::models::*;
use crate::breaker::Breaker;
use crate::config::{Config, GongAuth};

/// Most call ids Gong takes in one extensive or transcript request.
pub const MAX_IDS_PER_REQUEST: usize = 100;
/// How often an expired pagination sequence is restarted before giving up.
const MAX_CURSOR_RESTARTS: u32 = 3;

#[derive(Debug, thiserror::Error)]
pub enum GongError {
    /// 401/403: wrong key, wrong tenant host, missing scope or IP allow-list. Retrying
    /// cannot help; an operator must fix the configuration.
    #[error(
        "Gong refused the credentials ({status}): check GONG_API_KEY or GONG_API_BEARER_TOKEN, and GONG_API_BASE_URL (the tenant's own host); Gong said {errors:?}"
    )]
    Auth { status: u16, errors: Vec<String> },
    #[error("Gong API still rate limited (429) after {attempts} attempts")]
    RateLimited { attempts: u32 },
    #[error("Gong API unavailable after {attempts} attempts: {last}")]
    Unavailable { attempts: u32, last: String },
    #[error("circuit breaker open for the Gong API; next try in {0:?}")]
    CircuitOpen(Duration),
    #[error(transparent)]
    Budget(#[from] LimitError),
    #[error("Gong answered {status}: {errors:?}")]
    Api { status: u16, errors: Vec<String> },
    #[error("Gong found nothing: {0:?}")]
    NotFound(Vec<String>),
    #[error("Gong's pagination cursor expired")]
    CursorExpired,
    #[error("cannot read Gong's answer from {endpoint}: {message}")]
    Decode {
        endpoint: &'static str,
        message: String,
    },
}

impl GongError {
    /// Whether trying again later may succeed (the pipeline reschedules; otherwise the
    /// event is dead-lettered).
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            GongError::RateLimited { .. }
                | GongError::Unavailable { .. }
                | GongError::CircuitOpen(_)
                | GongError::Budget(_)
                | GongError::CursorExpired
        )
    }
}

/// Knobs of the client; `from_config` takes them from the service configuration.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    pub base_url: String,
    pub auth: GongAuth,
    pub rate_limit: f64,
    pub burst: u32,
    pub daily_limit: u32,
    /// Per request, connect to last byte.
    pub timeout: Duration,
    /// Retries after the first attempt.
    pub max_retries: u32,
    /// Longest `Retry-After` honoured as given; longer ones are cut to this.
    pub max_retry_after: Duration,
    pub backoff_base: Duration,
    pub backoff_max: Duration,
    pub breaker_threshold: u32,
    pub breaker_cool_down: Duration,
}

impl ClientConfig {
    pub fn new(base_url: impl Into<String>, auth: GongAuth) -> ClientConfig {
        ClientConfig {
            base_url: base_url.into().trim_end_matches('/').to_owned(),
            auth,
            rate_limit: 2.5,
            burst: 10,
            daily_limit: 10_000,
            timeout: Duration::from_secs(30),
            max_retries: 5,
            max_retry_after: Duration::from_secs(60),
            backoff_base: Duration::from_millis(500),
            backoff_max: Duration::from_secs(30),
            breaker_threshold: 5,
            breaker_cool_down: Duration::from_secs(30),
        }
    }

    /// `None` when no Gong credentials are configured (enhancement is then skipped).
    pub fn from_config(config: &Config) -> Option<ClientConfig> {
        let auth = config.gong_auth.clone()?;
        let mut c = ClientConfig::new(config.gong_api_base_url.clone(), auth);
        c.rate_limit = config.gong_api_rate_limit;
        c.burst = config.gong_api_burst_limit;
        c.daily_limit = config.gong_api_daily_limit;
        c.max_retries = config.gong_api_max_retries;
        c.breaker_cool_down = config.gong_api_breaker_cool_down;
        Some(c)
    }
}

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

/// The dates of the stats endpoints (`from` inclusive, `to` exclusive, company time zone).
#[derive(Debug, Clone)]
pub struct StatsFilter {
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub user_ids: Vec<String>,
}

impl StatsFilter {
    fn to_json(&self) -> Value {
        let mut f = json!({"fromDate": self.from.to_string(), "toDate": self.to.to_string()});
        if !self.user_ids.is_empty() {
            f["userIds"] = json!(self.user_ids);
        }
        f
    }
}

#[derive(Debug, Clone, Default)]
pub struct ScorecardFilter {
    pub call_from: Option<NaiveDate>,
    pub call_to: Option<NaiveDate>,
    pub review_from: Option<NaiveDate>,
    pub review_to: Option<NaiveDate>,
    pub reviewed_user_ids: Vec<String>,
    pub scorecard_ids: Vec<String>,
}

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

enum Outcome<T> {
    Data(T),
    /// 404 "No ... found corresponding to the provided filters".
    Empty,
}

pub struct GongClient {
    http: reqwest::Client,
    base_url: String,
    authorization: HeaderValue,
    limiter: Arc<dyn RateLimiter>,
    breaker: Breaker,
    /// Until when Gong asked us (429 + `Retry-After`) to send nothing. Every caller waits
    /// it out, not only the one that was told: the others would be told the same.
    paused_until: Mutex<Option<tokio::time::Instant>>,
    /// The last request that failed (for `/health`): what went wrong, and when.
    last_failure: Mutex<Option<(String, DateTime<Utc>)>>,
    config: ClientConfig,
}

impl std::fmt::Debug for GongClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GongClient")
            .field("base_url", &self.base_url)
            .finish_non_exhaustive()
    }
}

fn iso(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

impl GongClient {
    /// A client with its own in-process limiter.
    pub fn new(config: ClientConfig) -> Result<GongClient, reqwest::Error> {
        let limiter = Arc::new(LocalLimiter::new(
            config.rate_limit,
            config.burst,
            config.daily_limit,
        ));
        GongClient::with_limiter(config, limiter)
    }

    /// A client sharing `limiter` (several clients, or a limiter shared by replicas).
    pub fn with_limiter(
        config: ClientConfig,
        limiter: Arc<dyn RateLimiter>,
    ) -> Result<GongClient, reqwest::Error> {
        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(Duration::from_secs(10))
            .user_agent(concat!("gong-relay/", env!("CARGO_PKG_VERSION")))
            .build()?;
        let mut authorization = HeaderValue::from_str(&match &config.auth {
            GongAuth::Basic { access_key, secret } => format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD
                    .encode(format!("{access_key}:{}", secret.expose_secret()))
            ),
            GongAuth::Bearer(token) => format!("Bearer {}", token.expose_secret()),
        })
        .unwrap_or_else(|_| HeaderValue::from_static("invalid"));
        // Never printed by reqwest's or our Debug output.
        authorization.set_sensitive(true);
        Ok(GongClient {
            http,
            base_url: config.base_url.clone(),
            authorization,
            limiter,
            breaker: Breaker::new(
                "gong_api",
                config.breaker_threshold,
                config.breaker_cool_down,
            ),
            paused_until: Mutex::new(None),
            last_failure: Mutex::new(None),
            config,
        })
    }

    pub fn breaker(&self) -> &Breaker {
        &self.breaker
    }

    /// The last failed request's error and time, for `/health`.
    pub fn last_failure(&self) -> Option<(String, DateTime<Utc>)> {
        self.last_failure
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn note_failure(&self, endpoint: &str, error: &str) {
        *self.last_failure.lock().unwrap_or_else(|p| p.into_inner()) =
            Some((format!("{endpoint}: {error}"), Utc::now()));
    }

    /// Re-reads the shared daily budget (spent by every process on the store) and
    /// publishes it as `gong_api_daily_budget_remaining`.
    pub async fn refresh_budget(&self) {
        let _ = self.limiter.refresh().await;
        metrics::gauge!("gong_api_daily_budget_remaining")
            .set(self.limiter.daily_remaining() as f64);
    }

    pub fn daily_budget_remaining(&self) -> u32 {
        self.limiter.daily_remaining()
    }

    // ---- calls -------------------------------------------------------------------------

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
        self.collect(
            "/v2/calls",
            Method::GET,
            "/v2/calls",
            query,
            None,
            |c: &CallMeta| c.id.as_ref().map(|i| i.0.clone()),
        )
        .await
    }

    /// `GET /v2/calls/{id}`; `None` when Gong does not know the call (yet).
    pub async fn get_call(&self, id: &str) -> Result<Option<CallMeta>, GongError> {
        #[derive(Deserialize)]
        struct One {
            call: Option<CallMeta>,
        }
        let path = format!("/v2/calls/{}", path_id(id)?);
        match self
            .call::<One>("/v2/calls/{id}", Method::GET, &path, &[], None)
            .await
        {
            Ok(Outcome::Data(one)) => Ok(one.call),
            Ok(Outcome::Empty) => Ok(None),
            Err(GongError::NotFound(errors)) if names_missing_object(&errors) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// `POST /v2/calls/extensive`, every page.
    pub async fn extensive_calls(
        &self,
        filter: &CallFilter,
        selector: &ContentSelector,
    ) -> Result<Vec<CallData>, GongError> {
        let body = json!({"filter": filter.to_json(), "contentSelector": selector.0});
        self.collect(
            "/v2/calls/extensive",
            Method::POST,
            "/v2/calls/extensive",
            Vec::new(),
            Some(body),
            |c: &CallData| c.id().map(str::to_owned),
        )
        .await
    }

    /// Extensive data for any number of call ids, in as few requests as Gong allows.
    pub async fn extensive_calls_by_ids(
        &self,
        ids: &[String],
        selector: &ContentSelector,
    ) -> Result<Batch<CallData>, GongError> {
        let mut found = HashMap::new();
        for chunk in unique(ids).chunks(MAX_IDS_PER_REQUEST) {
            let filter = CallFilter {
                call_ids: chunk.to_vec(),
                ..Default::default()
            };
            for call in self.extensive_calls(&filter, selector).await? {
                if let Some(id) = call.id().map(str::to_owned) {
                    found.insert(id, call);
                }
            }
        }
        Ok(batch(ids, found))
    }

    /// `POST /v2/calls/transcript`, every page.
    pub async fn transcripts(&self, filter: &CallFilter) -> Result<Vec<CallTranscript>, GongError> {
        let body = json!({"filter": filter.to_json()});
        self.collect(
            "/v2/calls/transcript",
            Method::POST,
            "/v2/calls/transcript",
            Vec::new(),
            Some(body),
            |t: &CallTranscript| t.call_id.as_ref().map(|i| i.0.clone()),
        )
        .await
    }

    /// Transcripts for any number of call ids, in as few requests as Gong allows.
    pub async fn transcripts_by_ids(
        &self,
        ids: &[String],
    ) -> Result<Batch<CallTranscript>, GongError> {
        let mut found = HashMap::new();
        for chunk in unique(ids).chunks(MAX_IDS_PER_REQUEST) {
            let filter = CallFilter {
                call_ids: chunk.to_vec(),
                ..Default::default()
            };
            for t in self.transcripts(&filter).await? {
                if let Some(id) = t.call_id.as_ref().map(|i| i.0.clone()) {
                    found.insert(id, t);
                }
            }
        }
        Ok(batch(ids, found))
    }

    // ---- users -------------------------------------------------------------------------

    pub async fn list_users(&self) -> Result<Vec<User>, GongError> {
        self.collect(
            "/v2/users",
            Method::GET,
            "/v2/users",
            Vec::new(),
            None,
            |u: &User| u.id.as_ref().map(|i| i.0.clone()),
        )
        .await
    }

    pub async fn get_user(&self, id: &str) -> Result<Option<User>, GongError> {
        #[derive(Deserialize)]
        struct One {
            user: Option<User>,
        }
        let path = format!("/v2/users/{}", path_id(id)?);
        match self
            .call::<One>("/v2/users/{id}", Method::GET, &path, &[], None)
            .await
        {
            Ok(Outcome::Data(one)) => Ok(one.user),
            Ok(Outcome::Empty) => Ok(None),
            Err(GongError::NotFound(errors)) if names_missing_object(&errors) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// `POST /v2/users/extensive` for these ids (all users when empty).
    pub async fn users_extensive(&self, user_ids: &[String]) -> Result<Vec<User>, GongError> {
        let filter = if user_ids.is_empty() {
            json!({})
        } else {
            json!({"userIds": user_ids})
        };
        self.collect(
            "/v2/users/extensive",
            Method::POST,
            "/v2/users/extensive",
            Vec::new(),
            Some(json!({"filter": filter})),
            |u: &User| u.id.as_ref().map(|i| i.0.clone()),
        )
        .await
    }

    // ---- stats -------------------------------------------------------------------------

    pub async fn interaction_stats(
        &self,
        filter: &StatsFilter,
    ) -> Result<Vec<PersonInteractionStats>, GongError> {
        self.stats(
            "/v2/stats/interaction",
            filter.to_json(),
            |s: &PersonInteractionStats| s.user_id.as_ref().map(|i| i.0.clone()),
        )
        .await
    }

    pub async fn activity_aggregate(
        &self,
        filter: &StatsFilter,
    ) -> Result<Vec<UserAggregateActivity>, GongError> {
        self.stats(
            "/v2/stats/activity/aggregate",
            filter.to_json(),
            |s: &UserAggregateActivity| s.user_id.as_ref().map(|i| i.0.clone()),
        )
        .await
    }

    pub async fn activity_day_by_day(
        &self,
        filter: &StatsFilter,
    ) -> Result<Vec<UserDailyActivity>, GongError> {
        self.stats(
            "/v2/stats/activity/day-by-day",
            filter.to_json(),
            |s: &UserDailyActivity| s.user_id.as_ref().map(|i| i.0.clone()),
        )
        .await
    }

    pub async fn answered_scorecards(
        &self,
        filter: &ScorecardFilter,
    ) -> Result<Vec<AnsweredScorecard>, GongError> {
        let mut f = serde_json::Map::new();
        for (name, date) in [
            ("callFromDate", filter.call_from),
            ("callToDate", filter.call_to),
            ("reviewFromDate", filter.review_from),
            ("reviewToDate", filter.review_to),
        ] {
            if let Some(d) = date {
                f.insert(name.into(), json!(d.to_string()));
            }
        }
        if !filter.reviewed_user_ids.is_empty() {
            f.insert("reviewedUserIds".into(), json!(filter.reviewed_user_ids));
        }
        if !filter.scorecard_ids.is_empty() {
            f.insert("scorecardIds".into(), json!(filter.scorecard_ids));
        }
        self.stats(
            "/v2/stats/activity/scorecards",
            Value::Object(f),
            |s: &AnsweredScorecard| s.answered_scorecard_id.as_ref().map(|i| i.0.clone()),
        )
        .await
    }

    async fn stats<T: DeserializeOwned>(
        &self,
        path: &'static str,
        filter: Value,
        key: impl Fn(&T) -> Option<String>,
    ) -> Result<Vec<T>, GongError> {
        self.collect(
            path,
            Method::POST,
            path,
            Vec::new(),
            Some(json!({"filter": filter})),
            key,
        )
        .await
    }

    // ---- settings ----------------------------------------------------------------------

    pub async fn trackers(
        &self,
        workspace_id: Option<&str>,
    ) -> Result<Vec<KeywordTracker>, GongError> {
        let query = workspace_id
            .map(|w| vec![("workspaceId", w.to_owned())])
            .unwrap_or_default();
        self.collect(
            "/v2/settings/trackers",
            Method::GET,
            "/v2/settings/trackers",
            query,
            None,
            |t: &KeywordTracker| t.tracker_id.as_ref().map(|i| i.0.clone()),
        )
        .await
    }

    pub async fn workspaces(&self) -> Result<Vec<Workspace>, GongError> {
        self.collect(
            "/v2/workspaces",
            Method::GET,
            "/v2/workspaces",
            Vec::new(),
            None,
            |w: &Workspace| w.id.as_ref().map(|i| i.0.clone()),
        )
        .await
    }

    // ---- meetings (Gong Meetings scheduling: create, update, delete) -------------------

    pub async fn create_meeting(&self, m: &MeetingRequest) -> Result<MeetingResponse, GongError> {
        let body = serde_json::to_value(m).expect("meeting requests serialize");
        self.data(
            "/v2/meetings",
            Method::POST,
            "/v2/meetings",
            &[],
            Some(&body),
        )
        .await
    }

    pub async fn update_meeting(
        &self,
        meeting_id: &str,
        m: &MeetingRequest,
    ) -> Result<MeetingResponse, GongError> {
        let body = serde_json::to_value(m).expect("meeting requests serialize");
        let path = format!("/v2/meetings/{}", path_id(meeting_id)?);
        self.data("/v2/meetings/{id}", Method::PUT, &path, &[], Some(&body))
            .await
    }

    pub async fn delete_meeting(
        &self,
        meeting_id: &str,
        organizer_email: &str,
    ) -> Result<(), GongError> {
        let path = format!("/v2/meetings/{}", path_id(meeting_id)?);
        let body = json!({"organizerEmail": organizer_email});
        self.data::<Value>("/v2/meetings/{id}", Method::DELETE, &path, &[], Some(&body))
            .await
            .map(|_| ())
    }

    // ---- data privacy ------------------------------------------------------------------

    /// Everything Gong holds that references an email address (the only email data its
    /// API exposes).
    pub async fn data_for_email_address(
        &self,
        email: &str,
    ) -> Result<EmailAddressReferences, GongError> {
        match self
            .call(
                "/v2/data-privacy/data-for-email-address",
                Method::GET,
                "/v2/data-privacy/data-for-email-address",
                &[("emailAddress", email.to_owned())],
                None,
            )
            .await?
        {
            Outcome::Data(d) => Ok(d),
            Outcome::Empty => Ok(EmailAddressReferences::default()),
        }
    }

    // ---- the one request path ------------------------------------------------------------

    /// A request whose 404-empty answer is an error (single objects).
    async fn data<T: DeserializeOwned>(
        &self,
        endpoint: &'static str,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
    ) -> Result<T, GongError> {
        match self.call(endpoint, method, path, query, body).await? {
            Outcome::Data(d) => Ok(d),
            Outcome::Empty => Err(GongError::NotFound(vec![
                "No records found corresponding to the provided filters".into(),
            ])),
        }
    }

    /// Every page of a list endpoint. The cursor goes in the query for GET and in the body
    /// for POST; an expired cursor restarts the sequence, skipping items already seen.
    async fn collect<T: DeserializeOwned>(
        &self,
        endpoint: &'static str,
        method: Method,
        path: &str,
        query: Vec<(&'static str, String)>,
        body: Option<Value>,
        key: impl Fn(&T) -> Option<String>,
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
            match self
                .call::<Page<T>>(endpoint, method.clone(), path, &q, b.as_ref())
                .await
            {
                Ok(Outcome::Data(page)) => {
                    for item in page.items {
                        let fresh = key(&item).is_none_or(|k| seen.insert(k));
                        if fresh {
                            items.push(item);
                        }
                    }
                    match page.records.cursor.filter(|c| !c.is_empty()) {
                        // A cursor seen before would loop for ever: stop with what we have.
                        Some(next) if !cursors_seen.insert(next.clone()) => {
                            tracing::warn!(endpoint, "Gong repeated a cursor; stopping");
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
                        endpoint,
                        restarts,
                        "Gong cursor expired; restarting the sequence"
                    );
                    cursor = None;
                }
                Err(e) => return Err(e),
            }
        }
    }

    async fn call<T: DeserializeOwned>(
        &self,
        endpoint: &'static str,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
    ) -> Result<Outcome<T>, GongError> {
        // Creating a meeting is the one call that must not be repeated blindly: after a
        // timeout or a 5xx it may have happened. It is retried only when Gong surely did
        // not act on it (429, or no connection made).
        let idempotent = !(method == Method::POST && endpoint == "/v2/meetings");
        let url = format!("{}{}", self.base_url, path);
        let mut attempt: u32 = 0;
        let mut throttled: u32 = 0;
        // The last failure of this call: when its own retries open the breaker, that
        // failure (a refused connection, a 503) is the useful error, not "breaker open".
        let mut failed: Option<String> = None;
        loop {
            attempt += 1;
            if let Err(open) = self.breaker.allow() {
                return Err(match failed {
                    Some(last) => GongError::Unavailable {
                        attempts: attempt - 1,
                        last,
                    },
                    None => GongError::CircuitOpen(open.retry_in),
                });
            }
            self.wait_out_pause().await;
            self.limiter.acquire().await?;
            // A 429 may have arrived while we waited for the permit.
            self.wait_out_pause().await;
            metrics::gauge!("gong_api_daily_budget_remaining")
                .set(self.limiter.daily_remaining() as f64);

            let mut req = self
                .http
                .request(method.clone(), &url)
                .header(AUTHORIZATION, self.authorization.clone());
            if !query.is_empty() {
                req = req.query(query);
            }
            if let Some(b) = body {
                req = req.json(b);
            }
            let (wait, last) = match req.send().await {
                Err(e) if e.is_builder() => {
                    // Our request cannot be built (e.g. a malformed base URL): no retry.
                    return Err(GongError::Api {
                        status: 0,
                        errors: vec![transport_error(e)],
                    });
                }
                Err(e) => {
                    count(endpoint, "error");
                    self.breaker.record_failure();
                    let connect = e.is_connect();
                    let last = transport_error(e);
                    self.note_failure(endpoint, &last);
                    if !idempotent && !connect {
                        return Err(GongError::Unavailable {
                            attempts: attempt,
                            last,
                        });
                    }
                    (self.backoff(attempt), last)
                }
                Ok(res) => {
                    let status = res.status();
                    count(endpoint, status.as_str());
                    let retry_after = res
                        .headers()
                        .get(RETRY_AFTER)
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.trim().parse::<u64>().ok())
                        .map(Duration::from_secs);
                    let bytes = match res.bytes().await {
                        Ok(b) => b,
                        Err(e) => {
                            self.breaker.record_failure();
                            let last = transport_error(e);
                            self.note_failure(endpoint, &last);
                            if attempt > self.config.max_retries || !idempotent {
                                return Err(GongError::Unavailable {
                                    attempts: attempt,
                                    last,
                                });
                            }
                            tokio::time::sleep(self.backoff(attempt)).await;
                            continue;
                        }
                    };
                    if status.is_success() {
                        self.breaker.record_success();
                        return serde_json::from_slice(&bytes)
                            .map(Outcome::Data)
                            .map_err(|e| GongError::Decode {
                                endpoint,
                                message: e.to_string(),
                            });
                    }
                    let errors = error_messages(&bytes);
                    if status == StatusCode::TOO_MANY_REQUESTS {
                        // Gong is up; it only asks us to slow down.
                        self.breaker.record_success();
                        metrics::counter!("api_rate_limit_hits_total").increment(1);
                        self.note_failure(endpoint, "429 Too Many Requests");
                        throttled += 1;
                        // A wait longer than we are willing to hold a caller (the daily
                        // quota, say) is handed back: the pipeline reschedules the work.
                        let too_long = retry_after.is_some_and(|r| r > self.config.max_retry_after);
                        if attempt > self.config.max_retries || too_long {
                            return Err(GongError::RateLimited { attempts: attempt });
                        }
                        let wait = self.retry_after_wait(retry_after, attempt);
                        tracing::warn!(
                            endpoint,
                            wait_ms = wait.as_millis() as u64,
                            throttled,
                            "Gong answered 429"
                        );
                        // The wait happens at the top of the loop, with every other caller.
                        self.pause_for(wait);
                        continue;
                    }
                    if status.is_server_error() {
                        self.breaker.record_failure();
                        // Status only: /health is public, and a 5xx body (Gong's or a proxy's)
                        // is no business of its readers.
                        self.note_failure(endpoint, status.as_str());
                        if !idempotent {
                            return Err(GongError::Unavailable {
                                attempts: attempt,
                                last: format!("{status}: {}", errors.join("; ")),
                            });
                        }
                        (
                            self.backoff(attempt),
                            format!("{status}: {}", errors.join("; ")),
                        )
                    } else {
                        // A 4xx: Gong answered, the request is what is wrong.
                        self.breaker.record_success();
                        if status == StatusCode::NOT_FOUND && is_empty_result(&errors) {
                            return Ok(Outcome::Empty);
                        }
                        let e = client_error(status, errors);
                        if matches!(e, GongError::Auth { .. }) {
                            self.note_failure(endpoint, &e.to_string());
                        }
                        return Err(e);
                    }
                }
            };
            if attempt > self.config.max_retries {
                return Err(GongError::Unavailable {
                    attempts: attempt,
                    last,
                });
            }
            tracing::warn!(endpoint, attempt, wait_ms = wait.as_millis() as u64, error = %last, "Gong request failed; retrying");
            failed = Some(last);
            tokio::time::sleep(wait).await;
        }
    }

    /// Holds every caller for `wait` from now (or longer, if a pause is already set).
    fn pause_for(&self, wait: Duration) {
        let until = tokio::time::Instant::now() + wait;
        let mut paused = self.paused_until.lock().unwrap_or_else(|p| p.into_inner());
        if paused.is_none_or(|p| p < until) {
            *paused = Some(until);
        }
    }

    /// Sleeps while a 429 pause is in force (it may be extended meanwhile).
    async fn wait_out_pause(&self) {
        loop {
            let until = *self.paused_until.lock().unwrap_or_else(|p| p.into_inner());
            match until {
                Some(t) if t > tokio::time::Instant::now() => tokio::time::sleep_until(t).await,
                _ => return,
            }
        }
    }

    /// Exponential backoff with "equal jitter": half the step fixed, half random, so
    /// retries of many callers spread out but none retries immediately.
    fn backoff(&self, attempt: u32) -> Duration {
        let step = self
            .config
            .backoff_base
            .saturating_mul(1u32 << attempt.saturating_sub(1).min(16))
            .min(self.config.backoff_max);
        let half = step / 2;
        half + half.mul_f64(rand::rng().random::<f64>())
    }

    /// `Retry-After` as given (bounded by `max_retry_after`) plus up to 10% (at most 1 s) of
    /// jitter, so callers that were told the same second do not return together.
    fn retry_after_wait(&self, retry_after: Option<Duration>, attempt: u32) -> Duration {
        let base = retry_after
            .unwrap_or_else(|| self.backoff(attempt))
            .min(self.config.max_retry_after);
        let jitter = base.mul_f64(0.1).min(Duration::from_secs(1));
        base + jitter.mul_f64(rand::rng().random::<f64>())
    }
}

fn count(endpoint: &'static str, status: &str) {
    metrics::counter!("gong_api_calls_total", "endpoint" => endpoint, "status" => status.to_owned())
        .increment(1);
}

fn transport_error(e: reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timeout"
    } else if e.is_connect() {
        "connection failed"
    } else {
        "transport error"
    };
    // Without the URL's query: it may carry e-mail addresses.
    format!("{kind}: {}", e.without_url())
}

fn error_messages(body: &[u8]) -> Vec<String> {
    match serde_json::from_slice::<ErrorResponse>(body) {
        Ok(e) if !e.errors.is_empty() => e.errors,
        _ => vec![String::from_utf8_lossy(&body[..body.len().min(300)]).into_owned()],
    }
}

/// Gong's "nothing matched" 404 (also for users, stats, scorecards: "No ... found
/// corresponding to the provided filters").
fn is_empty_result(errors: &[String]) -> bool {
    errors.iter().any(|e| {
        let e = e.to_ascii_lowercase();
        e.starts_with("no ") && e.contains("found") && e.contains("provided filters")
    })
}

fn client_error(status: StatusCode, errors: Vec<String>) -> GongError {
    // Checked first: Gong's status for an expired cursor is not documented.
    if errors
        .iter()
        .any(|e| e.to_ascii_lowercase().contains("cursor has expired"))
    {
        return GongError::CursorExpired;
    }
    match status.as_u16() {
        401 | 403 => GongError::Auth {
            status: status.as_u16(),
            errors,
        },
        404 => GongError::NotFound(errors),
        s => GongError::Api { status: s, errors },
    }
}

/// "Call ID … was not found", "User … was not found": the object does not exist (yet).
/// Any other 404 (a wrong base URL or path) stays an error.
fn names_missing_object(errors: &[String]) -> bool {
    errors
        .iter()
        .any(|e| e.to_ascii_lowercase().contains("was not found"))
}

/// Ids go into URL paths: only the characters Gong's ids use, so a value cannot change
/// which endpoint is called.
fn path_id(id: &str) -> Result<&str, GongError> {
    if !id.is_empty()
        && id.len() <= 64
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        Ok(id)
    } else {
        Err(GongError::Api {
            status: 400,
            errors: vec!["an id must be letters, digits, '-' or '_'".into()],
        })
    }
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
