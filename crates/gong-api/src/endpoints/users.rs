//! Users, and their stats: interaction, activity (aggregate and day by day) and answered
//! scorecards.

use chrono::NaiveDate;
use reqwest::Method;
use serde_json::{Value, json};

use super::path_id;
use crate::client::GongClient;
use crate::error::GongError;
use crate::models::{
    AnsweredScorecard, PersonInteractionStats, User, UserAggregateActivity, UserDailyActivity,
};
use crate::pages::Listed;

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

impl GongClient {
    pub async fn list_users(&self) -> Result<Vec<User>, GongError> {
        self.collect("/v2/users", Method::GET, Vec::new(), None)
            .await
    }

    pub async fn get_user(&self, id: &str) -> Result<Option<User>, GongError> {
        let path = format!("/v2/users/{}", path_id(id)?);
        self.get_one("/v2/users/{id}", &path).await
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
            Vec::new(),
            Some(json!({"filter": filter})),
        )
        .await
    }

    // Stats: per user over a range of days.

    pub async fn interaction_stats(
        &self,
        filter: &StatsFilter,
    ) -> Result<Vec<PersonInteractionStats>, GongError> {
        self.stats("/v2/stats/interaction", filter.to_json()).await
    }

    pub async fn activity_aggregate(
        &self,
        filter: &StatsFilter,
    ) -> Result<Vec<UserAggregateActivity>, GongError> {
        self.stats("/v2/stats/activity/aggregate", filter.to_json())
            .await
    }

    pub async fn activity_day_by_day(
        &self,
        filter: &StatsFilter,
    ) -> Result<Vec<UserDailyActivity>, GongError> {
        self.stats("/v2/stats/activity/day-by-day", filter.to_json())
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
        self.stats("/v2/stats/activity/scorecards", Value::Object(f))
            .await
    }

    async fn stats<T: Listed>(
        &self,
        path: &'static str,
        filter: Value,
    ) -> Result<Vec<T>, GongError> {
        let body = json!({"filter": filter});
        self.collect(path, Method::POST, Vec::new(), Some(body))
            .await
    }
}
