//! The client: built once from a [`ClientConfig`] (base URL, credentials, limits, retry
//! policy), with an optional shared [`RateLimiter`] and [`CircuitBreaker`]. The endpoints
//! are grouped by API area in `endpoints/`; every one goes through `request.rs`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use chrono::{DateTime, Utc};
use reqwest::header::HeaderValue;
use secrecy::ExposeSecret;

use crate::limiter::{LocalLimiter, RateLimiter};
use crate::{Auth, CircuitBreaker, metric};

/// Knobs of the client. `new` gives Gong's documented limits and a patient retry policy.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    pub base_url: String,
    pub auth: Auth,
    /// Requests per second of the client's own limiter (`new` only; ignored by
    /// `with_limiter`).
    pub rate_limit: f64,
    pub burst: u32,
    pub daily_limit: u32,
    /// Per request, connect to last byte.
    pub timeout: Duration,
    /// Retries after the first attempt.
    pub max_retries: u32,
    /// Longest `Retry-After` honoured as given; a longer one is handed back to the caller.
    pub max_retry_after: Duration,
    pub backoff_base: Duration,
    pub backoff_max: Duration,
}

impl ClientConfig {
    pub fn new(base_url: impl Into<String>, auth: Auth) -> ClientConfig {
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
        }
    }
}

pub struct GongClient {
    pub(crate) http: reqwest::Client,
    pub(crate) base_url: String,
    pub(crate) authorization: HeaderValue,
    pub(crate) limiter: Arc<dyn RateLimiter>,
    pub(crate) breaker: Option<Arc<dyn CircuitBreaker>>,
    /// Until when Gong asked us (429 + `Retry-After`) to send nothing. Every caller waits
    /// it out, not only the one that was told: the others would be told the same.
    pub(crate) paused_until: Mutex<Option<tokio::time::Instant>>,
    /// The last request that failed (for a health report): what went wrong, and when.
    pub(crate) last_failure: Mutex<Option<(String, DateTime<Utc>)>>,
    /// Whether Gong's last word on our credentials was a refusal (401/403). Kept so that
    /// the refusal and the recovery are each logged once, not once per request.
    pub(crate) rejected: AtomicBool,
    pub(crate) config: ClientConfig,
}

impl std::fmt::Debug for GongClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GongClient")
            .field("base_url", &self.base_url)
            .finish_non_exhaustive()
    }
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

    /// A client sharing `limiter` (several clients, or a limiter shared by processes).
    pub fn with_limiter(
        config: ClientConfig,
        limiter: Arc<dyn RateLimiter>,
    ) -> Result<GongClient, reqwest::Error> {
        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(Duration::from_secs(10))
            .user_agent(concat!("gong-api-rs/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(GongClient {
            http,
            base_url: config.base_url.clone(),
            authorization: authorization(&config.auth),
            limiter,
            breaker: None,
            paused_until: Mutex::new(None),
            last_failure: Mutex::new(None),
            rejected: AtomicBool::new(false),
            config,
        })
    }

    /// Consults `breaker` before each request and tells it of each outcome.
    pub fn with_breaker(mut self, breaker: Arc<dyn CircuitBreaker>) -> GongClient {
        self.breaker = Some(breaker);
        self
    }

    /// The last failed request's error and time.
    pub fn last_failure(&self) -> Option<(String, DateTime<Utc>)> {
        self.last_failure
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Whether Gong refused our credentials on the last request it judged them (401/403),
    /// and has not accepted them since.
    pub fn credentials_rejected(&self) -> bool {
        self.rejected.load(Ordering::Relaxed)
    }

    /// Gong refused the credentials: an ERROR line when this is news (a configuration
    /// error an operator must fix; later refusals say nothing new).
    pub(crate) fn note_rejected(&self, status: u16) {
        if !self.rejected.swap(true, Ordering::Relaxed) {
            tracing::error!(
                status,
                "Gong refused the API credentials ({status}): set GONG_API_KEY (accessKey:accessKeySecret) \
                 or GONG_API_BEARER_TOKEN to credentials Gong accepts, and GONG_API_BASE_URL to the \
                 tenant's API host; requests wait (circuit breaker open) until Gong accepts them"
            );
        }
    }

    /// Gong answered without refusing the credentials: they are good (again).
    pub(crate) fn note_accepted(&self) {
        if self.rejected.swap(false, Ordering::Relaxed) {
            tracing::warn!("Gong accepts the API credentials again");
        }
    }

    pub(crate) fn note_failure(&self, endpoint: &str, error: &str) {
        *self.last_failure.lock().unwrap_or_else(|p| p.into_inner()) =
            Some((format!("{endpoint}: {error}"), Utc::now()));
    }

    /// Re-reads the daily budget (where other processes spend it too) and publishes it as
    /// the `gong_api_daily_budget_remaining` gauge.
    pub async fn refresh_budget(&self) {
        let _ = self.limiter.refresh().await;
        self.publish_budget();
    }

    pub(crate) fn publish_budget(&self) {
        metrics::gauge!(metric::DAILY_BUDGET_REMAINING).set(self.limiter.daily_remaining() as f64);
    }

    pub fn daily_budget_remaining(&self) -> u32 {
        self.limiter.daily_remaining()
    }
}

/// The `Authorization` header, marked sensitive so that no Debug output prints it.
fn authorization(auth: &Auth) -> HeaderValue {
    let value = match auth {
        Auth::Basic { access_key, secret } => format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD
                .encode(format!("{access_key}:{}", secret.expose_secret()))
        ),
        Auth::Bearer(token) => format!("Bearer {}", token.expose_secret()),
    };
    let mut header =
        HeaderValue::from_str(&value).unwrap_or_else(|_| HeaderValue::from_static("invalid"));
    header.set_sensitive(true);
    header
}
