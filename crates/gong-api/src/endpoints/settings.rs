//! Settings (keyword trackers, workspaces), Gong Meetings scheduling (create, update,
//! delete) and the data-privacy look-up for an email address.

use reqwest::Method;
use serde_json::{Value, json};

use super::path_id;
use crate::client::GongClient;
use crate::error::GongError;
use crate::models::{
    EmailAddressReferences, KeywordTracker, MeetingRequest, MeetingResponse, Workspace,
};
use crate::request::{Outcome, Request};

impl GongClient {
    pub async fn trackers(
        &self,
        workspace_id: Option<&str>,
    ) -> Result<Vec<KeywordTracker>, GongError> {
        let query = workspace_id
            .map(|w| vec![("workspaceId", w.to_owned())])
            .unwrap_or_default();
        self.collect("/v2/settings/trackers", Method::GET, query, None)
            .await
    }

    pub async fn workspaces(&self) -> Result<Vec<Workspace>, GongError> {
        self.collect("/v2/workspaces", Method::GET, Vec::new(), None)
            .await
    }

    pub async fn create_meeting(&self, m: &MeetingRequest) -> Result<MeetingResponse, GongError> {
        self.meeting(Method::POST, "/v2/meetings", "/v2/meetings", m)
            .await
    }

    pub async fn update_meeting(
        &self,
        meeting_id: &str,
        m: &MeetingRequest,
    ) -> Result<MeetingResponse, GongError> {
        let path = format!("/v2/meetings/{}", path_id(meeting_id)?);
        self.meeting(Method::PUT, "/v2/meetings/{id}", &path, m)
            .await
    }

    async fn meeting(
        &self,
        method: Method,
        endpoint: &'static str,
        path: &str,
        m: &MeetingRequest,
    ) -> Result<MeetingResponse, GongError> {
        let body = serde_json::to_value(m).map_err(|e| GongError::Api {
            status: 0,
            errors: vec![e.to_string()],
        })?;
        self.data(Request {
            endpoint,
            method,
            path,
            query: &[],
            body: Some(&body),
        })
        .await
    }

    pub async fn delete_meeting(
        &self,
        meeting_id: &str,
        organizer_email: &str,
    ) -> Result<(), GongError> {
        let path = format!("/v2/meetings/{}", path_id(meeting_id)?);
        let body = json!({"organizerEmail": organizer_email});
        self.data::<Value>(Request {
            endpoint: "/v2/meetings/{id}",
            method: Method::DELETE,
            path: &path,
            query: &[],
            body: Some(&body),
        })
        .await
        .map(|_| ())
    }

    /// Everything Gong holds that references an email address (the only email data its
    /// API exposes).
    pub async fn data_for_email_address(
        &self,
        email: &str,
    ) -> Result<EmailAddressReferences, GongError> {
        let req = Request {
            endpoint: "/v2/data-privacy/data-for-email-address",
            method: Method::GET,
            path: "/v2/data-privacy/data-for-email-address",
            query: &[("emailAddress", email.to_owned())],
            body: None,
        };
        match self.call(req).await? {
            Outcome::Data(d) => Ok(d),
            Outcome::Empty => Ok(EmailAddressReferences::default()),
        }
    }
}
