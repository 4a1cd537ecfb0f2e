//! The company's Gong users by email address, to tell internal parties of emails and
//! meetings from external ones and to name them.
//!
//! The user list changes rarely and costs a few paged requests, so it is fetched once and
//! kept for `TTL`; a failed refresh keeps serving the previous list when there is one.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use tokio::sync::Mutex;
use tokio::time::Instant;

use gong_api::{GongClient, GongError};

const TTL: Duration = Duration::from_secs(3600);

/// What the warehouse rows say about a Gong user.
#[derive(Debug, Clone, Serialize)]
pub struct UserInfo {
    pub user_id: String,
    pub name: Option<String>,
    pub title: Option<String>,
}

pub type Directory = Arc<HashMap<String, UserInfo>>;

#[derive(Default)]
pub struct UserDirectory {
    cached: Mutex<Option<(Instant, Directory)>>,
}

impl UserDirectory {
    /// Users keyed by lower-case email address.
    pub async fn get(&self, client: &GongClient) -> Result<Directory, GongError> {
        // Held across the fetch: concurrent workers wait for one request, not send many.
        let mut cached = self.cached.lock().await;
        if let Some((at, dir)) = cached.as_ref()
            && at.elapsed() < TTL
        {
            return Ok(dir.clone());
        }
        match client.list_users().await {
            Ok(users) => {
                let dir: Directory = Arc::new(
                    users
                        .into_iter()
                        .filter_map(|u| {
                            let email = u.email_address.as_ref()?.trim().to_lowercase();
                            let info = UserInfo {
                                user_id: u.id.as_ref()?.to_string(),
                                name: match (&u.first_name, &u.last_name) {
                                    (Some(f), Some(l)) => Some(format!("{f} {l}")),
                                    (Some(f), None) => Some(f.clone()),
                                    (None, l) => l.clone(),
                                },
                                title: u.title.clone(),
                            };
                            Some((email, info))
                        })
                        .collect(),
                );
                *cached = Some((Instant::now(), dir.clone()));
                Ok(dir)
            }
            Err(e) => match cached.as_ref() {
                Some((_, stale)) => {
                    tracing::warn!(error = %e, "Gong user list refresh failed; using the previous one");
                    Ok(stale.clone())
                }
                None => Err(e),
            },
        }
    }
}
