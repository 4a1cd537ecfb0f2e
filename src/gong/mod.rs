//! The service's side of the Gong API (the `gong-api` crate): a client built from the
//! configuration, whose permits come from the store so that every process shares Gong's
//! company-wide limits (`limiter.rs`), and whose outcomes feed the `gong_api` breaker that
//! `/health` and `circuit_breaker_state` show. Credentials Gong refuses open that breaker
//! at once; `check` tries them at start-up.

mod check;
mod limiter;

use std::sync::Arc;

use gong_api::{ClientConfig, GongClient, LocalLimiter, RateLimiter};

use crate::breaker::Breaker;
use crate::config::Config;
use crate::store::Store;

pub use check::{CredentialCheck, check_credentials, spawn_start_check};
pub use limiter::StoreLimiter;

/// Consecutive failures that open the Gong API breaker.
const BREAKER_THRESHOLD: u32 = 5;

/// The Gong API as the service holds it: the client and the breaker it reports to.
#[derive(Clone, Debug)]
pub struct GongLink {
    pub client: Arc<GongClient>,
    pub breaker: Arc<Breaker>,
}

impl GongLink {
    pub fn new(
        config: ClientConfig,
        limiter: Arc<dyn RateLimiter>,
        breaker: Breaker,
    ) -> Result<GongLink, reqwest::Error> {
        let breaker = Arc::new(breaker);
        let client = GongClient::with_limiter(config, limiter)?.with_breaker(breaker.clone());
        Ok(GongLink {
            client: Arc::new(client),
            breaker,
        })
    }

    /// A link with its own in-process limiter and a default breaker (tests, tools).
    pub fn standalone(config: ClientConfig) -> Result<GongLink, reqwest::Error> {
        let limiter = Arc::new(LocalLimiter::new(
            config.rate_limit,
            config.burst,
            config.daily_limit,
        ));
        let breaker = Breaker::new(
            "gong_api",
            BREAKER_THRESHOLD,
            std::time::Duration::from_secs(30),
        );
        GongLink::new(config, limiter, breaker)
    }

    /// The configured link, when a key or token is set (otherwise enhancement is skipped).
    /// Its rate limit and daily quota are shared through `store` with every other process
    /// using it: Gong's limits are per company.
    pub fn from_config(config: &Config, store: &Store) -> Result<Option<GongLink>, reqwest::Error> {
        let Some(c) = client_config(config) else {
            return Ok(None);
        };
        let limiter = Arc::new(StoreLimiter::new(
            store.clone(),
            c.rate_limit,
            c.burst,
            c.daily_limit,
        ));
        let breaker = Breaker::new(
            "gong_api",
            BREAKER_THRESHOLD,
            config.gong_api_breaker_cool_down,
        );
        GongLink::new(c, limiter, breaker).map(Some)
    }
}

/// The client's knobs from the service configuration; `None` without credentials.
pub fn client_config(config: &Config) -> Option<ClientConfig> {
    let auth = config.gong_auth.clone()?;
    let mut c = ClientConfig::new(config.gong_api_base_url.clone(), auth);
    c.rate_limit = config.gong_api_rate_limit;
    c.burst = config.gong_api_burst_limit;
    c.daily_limit = config.gong_api_daily_limit;
    c.max_retries = config.gong_api_max_retries;
    Some(c)
}
