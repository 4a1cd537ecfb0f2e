//! The start-up check of the Gong credentials. Credentials Gong refuses stop every
//! enhancement (events wait, see `pipeline::outage`), so `serve` asks once at start and
//! says loudly what to fix, instead of leaving it to be found in `/health` hours later.
//! It still starts: Gong may only be down, and webhooks must be received meanwhile.

use std::sync::Arc;

use gong_api::{GongClient, GongError};

/// What the start-up request found.
#[derive(Debug)]
pub enum CredentialCheck {
    Accepted,
    /// 401/403: the credentials, the tenant host, the scopes or the IP allow-list.
    Rejected(GongError),
    /// Gong could not tell (down, rate limited, the day's budget spent): the first real
    /// request will.
    Unknown(GongError),
}

/// One cheap request (the workspace list: one page), through the client's limiter and
/// breaker, so it counts against the shared budget like any other.
pub async fn check_credentials(client: &GongClient) -> CredentialCheck {
    match client.workspaces().await {
        Ok(_) => CredentialCheck::Accepted,
        Err(e @ GongError::Auth { .. }) => CredentialCheck::Rejected(e),
        // Gong took our credentials and refused the request for another reason.
        Err(GongError::NotFound(_) | GongError::Api { .. } | GongError::Decode { .. }) => {
            CredentialCheck::Accepted
        }
        Err(e) => CredentialCheck::Unknown(e),
    }
}

/// Runs the check in the background (a slow or down Gong must not delay receiving
/// webhooks) and logs its verdict: an ERROR naming what to fix when Gong refuses the
/// credentials.
pub fn spawn_start_check(client: Arc<GongClient>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        match check_credentials(&client).await {
            CredentialCheck::Accepted => tracing::info!("Gong API credentials accepted"),
            CredentialCheck::Rejected(e) => tracing::error!(
                error = %e,
                "start-up check: Gong refused the API credentials. Fix GONG_API_KEY \
                 (accessKey:accessKeySecret) or GONG_API_BEARER_TOKEN, and GONG_API_BASE_URL \
                 (the tenant's API host). Webhooks are still received; their enhancement waits, \
                 without using attempts, until Gong accepts the credentials"
            ),
            CredentialCheck::Unknown(e) => tracing::warn!(
                error = %e,
                "start-up check: could not check the Gong API credentials; the first enhancement request will try them"
            ),
        }
    })
}
