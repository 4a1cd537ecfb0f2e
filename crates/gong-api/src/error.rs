//! What a Gong request can come to, and which outcomes are worth trying again.

use std::time::Duration;

use crate::limiter::LimitError;

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
