//! Configuration: every variable of design §3, read once at start and validated as a whole.
//!
//! Values arrive as raw strings (from flags, the environment or `.env`, all through clap) and
//! are validated here in one pass, so a bad configuration is reported with one line per
//! problem instead of stopping at the first. Secrets live in `SecretString` so that they
//! cannot reach a log line through `Debug`; each secret variable `X` may instead be given as
//! `X_FILE`, a path to a file holding it (Docker and Kubernetes secrets).

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use secrecy::{ExposeSecret, SecretString};

/// The raw, unvalidated configuration. Every field is a flag and an environment variable.
#[derive(Args, Debug, Clone, Default)]
pub struct RawConfig {
    /// Gong API credentials, accessKey:accessKeySecret (sent as HTTP Basic).
    #[arg(long, env = "GONG_API_KEY", hide_env_values = true, global = true)]
    pub gong_api_key: Option<String>,
    /// File holding GONG_API_KEY.
    #[arg(long, env = "GONG_API_KEY_FILE", global = true)]
    pub gong_api_key_file: Option<PathBuf>,
    /// OAuth access token, instead of GONG_API_KEY.
    #[arg(
        long,
        env = "GONG_API_BEARER_TOKEN",
        hide_env_values = true,
        global = true
    )]
    pub gong_api_bearer_token: Option<String>,
    /// File holding GONG_API_BEARER_TOKEN.
    #[arg(long, env = "GONG_API_BEARER_TOKEN_FILE", global = true)]
    pub gong_api_bearer_token_file: Option<PathBuf>,
    /// Gong API host, e.g. https://us-12345.api.gong.io [default: https://api.gong.io]
    #[arg(long, env = "GONG_API_BASE_URL", global = true)]
    pub gong_api_base_url: Option<String>,
    /// JSON array of HS256 secrets; any one verifies (rotation).
    #[arg(
        long,
        env = "GONG_WEBHOOK_SECRETS",
        hide_env_values = true,
        global = true
    )]
    pub gong_webhook_secrets: Option<String>,
    /// File holding GONG_WEBHOOK_SECRETS.
    #[arg(long, env = "GONG_WEBHOOK_SECRETS_FILE", global = true)]
    pub gong_webhook_secrets_file: Option<PathBuf>,
    /// JSON array of Gong rule public keys (bare base64 SPKI, or PEM) for RS256.
    #[arg(long, env = "GONG_WEBHOOK_PUBLIC_KEYS", global = true)]
    pub gong_webhook_public_keys: Option<String>,
    /// File holding GONG_WEBHOOK_PUBLIC_KEYS.
    #[arg(long, env = "GONG_WEBHOOK_PUBLIC_KEYS_FILE", global = true)]
    pub gong_webhook_public_keys_file: Option<PathBuf>,
    /// JSON array of tokens accepted as ?key=.
    #[arg(
        long,
        env = "GONG_WEBHOOK_URL_KEYS",
        hide_env_values = true,
        global = true
    )]
    pub gong_webhook_url_keys: Option<String>,
    /// File holding GONG_WEBHOOK_URL_KEYS.
    #[arg(long, env = "GONG_WEBHOOK_URL_KEYS_FILE", global = true)]
    pub gong_webhook_url_keys_file: Option<PathBuf>,
    /// External URL prefix Gong posts to; checked against the webhook_url claim.
    #[arg(long, env = "GONG_WEBHOOK_PUBLIC_URL", global = true)]
    pub gong_webhook_public_url: Option<String>,
    /// Accept unsigned webhooks (local trials on a loopback bind only) [default: false]
    #[arg(long, env = "GONG_WEBHOOK_ALLOW_UNSIGNED", global = true)]
    pub gong_webhook_allow_unsigned: Option<String>,
    /// Tokens whose exp lies further ahead are refused [default: 1h]
    #[arg(long, env = "GONG_WEBHOOK_MAX_TOKEN_AGE", global = true)]
    pub gong_webhook_max_token_age: Option<String>,
    /// Gong API calls per second, company-wide [default: 2.5]
    #[arg(long, env = "GONG_API_RATE_LIMIT", global = true)]
    pub gong_api_rate_limit: Option<String>,
    /// Gong API burst [default: 10]
    #[arg(long, env = "GONG_API_BURST_LIMIT", global = true)]
    pub gong_api_burst_limit: Option<String>,
    /// Gong API calls per UTC day [default: 10000]
    #[arg(long, env = "GONG_API_DAILY_LIMIT", global = true)]
    pub gong_api_daily_limit: Option<String>,
    /// Retries of one Gong request (5xx, timeouts, 429) before the event is rescheduled [default: 5]
    #[arg(long, env = "GONG_API_MAX_RETRIES", global = true)]
    pub gong_api_max_retries: Option<String>,
    /// How long the Gong circuit breaker stays open before a probe [default: 30s]
    #[arg(long, env = "GONG_API_BREAKER_COOL_DOWN", global = true)]
    pub gong_api_breaker_cool_down: Option<String>,
    /// How often missed calls are looked for; 0 disables [default: 15m]
    #[arg(long, env = "GONG_RECONCILE_INTERVAL", global = true)]
    pub gong_reconcile_interval: Option<String>,
    /// How far back the reconciler looks [default: 24h]
    #[arg(long, env = "GONG_RECONCILE_LOOKBACK", global = true)]
    pub gong_reconcile_lookback: Option<String>,
    /// Operational store: sqlite://PATH or postgres://... [default: sqlite://gong-relay.db]
    #[arg(long, env = "DATABASE_URL", hide_env_values = true, global = true)]
    pub database_url: Option<String>,
    /// File holding DATABASE_URL.
    #[arg(long, env = "DATABASE_URL_FILE", global = true)]
    pub database_url_file: Option<PathBuf>,
    /// sqlite, postgres or snowflake [default: the DATABASE_URL backend]
    #[arg(long, env = "WAREHOUSE", global = true)]
    pub warehouse: Option<String>,
    /// Snowflake account identifier.
    #[arg(long, env = "SNOWFLAKE_ACCOUNT", global = true)]
    pub snowflake_account: Option<String>,
    /// Snowflake user.
    #[arg(long, env = "SNOWFLAKE_USER", global = true)]
    pub snowflake_user: Option<String>,
    /// Snowflake password.
    #[arg(
        long,
        env = "SNOWFLAKE_PASSWORD",
        hide_env_values = true,
        global = true
    )]
    pub snowflake_password: Option<String>,
    /// File holding SNOWFLAKE_PASSWORD.
    #[arg(long, env = "SNOWFLAKE_PASSWORD_FILE", global = true)]
    pub snowflake_password_file: Option<PathBuf>,
    /// Snowflake key-pair private key (PEM), instead of a password.
    #[arg(
        long,
        env = "SNOWFLAKE_PRIVATE_KEY",
        hide_env_values = true,
        global = true
    )]
    pub snowflake_private_key: Option<String>,
    /// File holding SNOWFLAKE_PRIVATE_KEY.
    #[arg(long, env = "SNOWFLAKE_PRIVATE_KEY_FILE", global = true)]
    pub snowflake_private_key_file: Option<PathBuf>,
    /// Snowflake virtual warehouse [default: COMPUTE_WH]
    #[arg(long, env = "SNOWFLAKE_WAREHOUSE", global = true)]
    pub snowflake_warehouse: Option<String>,
    /// Snowflake database [default: SOPHIA_AI]
    #[arg(long, env = "SNOWFLAKE_DATABASE", global = true)]
    pub snowflake_database: Option<String>,
    /// Snowflake schema [default: GONG_WEBHOOKS]
    #[arg(long, env = "SNOWFLAKE_SCHEMA", global = true)]
    pub snowflake_schema: Option<String>,
    /// Snowflake role.
    #[arg(long, env = "SNOWFLAKE_ROLE", global = true)]
    pub snowflake_role: Option<String>,
    /// Snowflake host override [default: <account>.snowflakecomputing.com]
    #[arg(long, env = "SNOWFLAKE_HOST", global = true)]
    pub snowflake_host: Option<String>,
    /// Redis for notifications, e.g. redis://127.0.0.1:6379/0 (none: outbox only).
    #[arg(long, env = "REDIS_URL", hide_env_values = true, global = true)]
    pub redis_url: Option<String>,
    /// File holding REDIS_URL.
    #[arg(long, env = "REDIS_URL_FILE", global = true)]
    pub redis_url_file: Option<PathBuf>,
    /// TTL of stored notifications [default: 7d]
    #[arg(long, env = "REDIS_NOTIFICATION_TTL", global = true)]
    pub redis_notification_ttl: Option<String>,
    /// Listen address [default: 0.0.0.0:8080]
    #[arg(long, env = "BIND_ADDR", global = true)]
    pub bind_addr: Option<String>,
    /// Bearer token of the /admin API (off when unset).
    #[arg(long, env = "ADMIN_TOKEN", hide_env_values = true, global = true)]
    pub admin_token: Option<String>,
    /// File holding ADMIN_TOKEN.
    #[arg(long, env = "ADMIN_TOKEN_FILE", global = true)]
    pub admin_token_file: Option<PathBuf>,
    /// Larger webhook bodies get 413 [default: 10485760]
    #[arg(long, env = "MAX_BODY_BYTES", global = true)]
    pub max_body_bytes: Option<String>,
    /// Pipeline workers; 0 = receive only [default: 4]
    #[arg(long, env = "WORKERS", global = true)]
    pub workers: Option<String>,
    /// Attempts before the dead-letter queue [default: 8]
    #[arg(long, env = "MAX_ATTEMPTS", global = true)]
    pub max_attempts: Option<String>,
    /// First retry delay of a failed event; doubles per attempt, with jitter [default: 30s]
    #[arg(long, env = "RETRY_BACKOFF", global = true)]
    pub retry_backoff: Option<String>,
    /// Longest retry delay [default: 30m]
    #[arg(long, env = "RETRY_BACKOFF_MAX", global = true)]
    pub retry_backoff_max: Option<String>,
    /// How long a worker owns a claimed event before another may take it over [default: 5m]
    #[arg(long, env = "WORKER_LEASE", global = true)]
    pub worker_lease: Option<String>,
    /// json or pretty [default: json]
    #[arg(long, env = "LOG_FORMAT", global = true)]
    pub log_format: Option<String>,
    /// A level or a tracing filter [default: info]
    #[arg(long, env = "LOG_LEVEL", global = true)]
    pub log_level: Option<String>,
    /// Competitor names, a JSON array (replaces the default list).
    #[arg(long, env = "COMPETITORS", global = true)]
    pub competitors: Option<String>,
    /// TOML file of insight rules, merged over the defaults.
    #[arg(long, env = "INSIGHT_RULES_FILE", global = true)]
    pub insight_rules_file: Option<PathBuf>,
}

/// Every problem found in a configuration, one line each.
#[derive(Debug, thiserror::Error)]
pub struct ConfigError(pub Vec<String>);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, line) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{line}")?;
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Json,
    Pretty,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WarehouseKind {
    Sqlite,
    Postgres,
    Snowflake,
}

impl WarehouseKind {
    pub fn as_str(self) -> &'static str {
        match self {
            WarehouseKind::Sqlite => "sqlite",
            WarehouseKind::Postgres => "postgres",
            WarehouseKind::Snowflake => "snowflake",
        }
    }
}

#[derive(Debug, Clone)]
pub struct SnowflakeConfig {
    pub account: String,
    pub user: Option<String>,
    pub password: Option<SecretString>,
    pub private_key: Option<SecretString>,
    pub warehouse: String,
    pub database: String,
    pub schema: String,
    pub role: Option<String>,
    pub host: String,
}

/// Webhook verification material, as configured (the verifier compiles it into keys).
#[derive(Debug, Clone, Default)]
pub struct WebhookAuthConfig {
    pub hs256_secrets: Vec<SecretString>,
    /// Each entry is bare base64 SPKI DER or PEM, as pasted from Gong's "Show public key".
    pub rs256_public_keys: Vec<String>,
    pub url_keys: Vec<SecretString>,
    pub public_url: Option<String>,
    pub allow_unsigned: bool,
    pub max_token_age: Duration,
}

impl WebhookAuthConfig {
    /// True when at least one real verification method (not "unsigned") is configured.
    pub fn has_method(&self) -> bool {
        !self.hs256_secrets.is_empty()
            || !self.rs256_public_keys.is_empty()
            || !self.url_keys.is_empty()
    }
}

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub gong_auth: Option<gong_api::Auth>,
    pub gong_api_base_url: String,
    pub webhook: WebhookAuthConfig,
    pub gong_api_rate_limit: f64,
    pub gong_api_burst_limit: u32,
    pub gong_api_daily_limit: u32,
    pub gong_api_max_retries: u32,
    pub gong_api_breaker_cool_down: Duration,
    /// `None` disables the reconciler.
    pub reconcile_interval: Option<Duration>,
    pub reconcile_lookback: Duration,
    pub database_url: SecretString,
    pub warehouse: WarehouseKind,
    pub snowflake: Option<SnowflakeConfig>,
    pub redis_url: Option<SecretString>,
    pub redis_notification_ttl: Duration,
    pub bind_addr: SocketAddr,
    pub admin_token: Option<SecretString>,
    pub max_body_bytes: usize,
    pub workers: usize,
    pub max_attempts: u32,
    pub retry_backoff: Duration,
    pub retry_backoff_max: Duration,
    pub worker_lease: Duration,
    pub log_format: LogFormat,
    pub log_level: String,
    pub competitors: Vec<String>,
    pub insight_rules_file: Option<PathBuf>,
}

pub const DEFAULT_DATABASE_URL: &str = "sqlite://gong-relay.db";

impl Config {
    /// Validates every variable and returns all the problems at once.
    pub fn from_raw(raw: RawConfig) -> Result<Config, ConfigError> {
        let mut p = Problems::default();

        let gong_api_key = p.secret("GONG_API_KEY", raw.gong_api_key, raw.gong_api_key_file);
        let bearer = p.secret(
            "GONG_API_BEARER_TOKEN",
            raw.gong_api_bearer_token,
            raw.gong_api_bearer_token_file,
        );
        let gong_auth = match (gong_api_key, bearer) {
            (Some(_), Some(_)) => {
                p.add(
                    "GONG_API_KEY",
                    "set together with GONG_API_BEARER_TOKEN; set only one of them",
                );
                None
            }
            (Some(key), None) => match key.expose_secret().split_once(':') {
                Some((k, s)) if !k.trim().is_empty() && !s.trim().is_empty() => {
                    Some(gong_api::Auth::Basic {
                        access_key: k.trim().to_owned(),
                        secret: SecretString::from(s.trim().to_owned()),
                    })
                }
                _ => {
                    p.add(
                        "GONG_API_KEY",
                        "must be accessKey:accessKeySecret (two non-empty parts joined by ':')",
                    );
                    None
                }
            },
            (None, Some(token)) => Some(gong_api::Auth::Bearer(token)),
            (None, None) => None,
        };

        let gong_api_base_url = p.url(
            "GONG_API_BASE_URL",
            raw.gong_api_base_url.as_deref(),
            "https://api.gong.io",
        );

        let hs256_secrets = p
            .secret(
                "GONG_WEBHOOK_SECRETS",
                raw.gong_webhook_secrets,
                raw.gong_webhook_secrets_file,
            )
            .map(|s| p.string_array("GONG_WEBHOOK_SECRETS", s.expose_secret()))
            .unwrap_or_default()
            .into_iter()
            .map(SecretString::from)
            .collect();
        let rs256_public_keys = p
            .plain_or_file(
                "GONG_WEBHOOK_PUBLIC_KEYS",
                raw.gong_webhook_public_keys,
                raw.gong_webhook_public_keys_file,
            )
            .map(|s| p.string_array("GONG_WEBHOOK_PUBLIC_KEYS", &s))
            .unwrap_or_default();
        let url_keys = p
            .secret(
                "GONG_WEBHOOK_URL_KEYS",
                raw.gong_webhook_url_keys,
                raw.gong_webhook_url_keys_file,
            )
            .map(|s| p.string_array("GONG_WEBHOOK_URL_KEYS", s.expose_secret()))
            .unwrap_or_default()
            .into_iter()
            .map(SecretString::from)
            .collect();
        let public_url = raw.gong_webhook_public_url.as_deref().and_then(|u| {
            let u = u.trim();
            if u.is_empty() {
                return None;
            }
            match reqwest_like_url_ok(u) {
                true => Some(u.trim_end_matches('/').to_owned()),
                false => {
                    p.add(
                        "GONG_WEBHOOK_PUBLIC_URL",
                        "must be an absolute http:// or https:// URL",
                    );
                    None
                }
            }
        });
        let allow_unsigned = p.boolean(
            "GONG_WEBHOOK_ALLOW_UNSIGNED",
            raw.gong_webhook_allow_unsigned.as_deref(),
            false,
        );
        let max_token_age = p.duration(
            "GONG_WEBHOOK_MAX_TOKEN_AGE",
            raw.gong_webhook_max_token_age.as_deref(),
            "1h",
        );
        if max_token_age.is_zero() {
            p.add("GONG_WEBHOOK_MAX_TOKEN_AGE", "must be greater than zero");
        }

        let gong_api_rate_limit = p.positive_f64(
            "GONG_API_RATE_LIMIT",
            raw.gong_api_rate_limit.as_deref(),
            2.5,
        );
        let gong_api_burst_limit = p.positive_int(
            "GONG_API_BURST_LIMIT",
            raw.gong_api_burst_limit.as_deref(),
            10,
        );
        let gong_api_daily_limit = p.positive_int(
            "GONG_API_DAILY_LIMIT",
            raw.gong_api_daily_limit.as_deref(),
            10_000,
        );
        let gong_api_max_retries = match raw.gong_api_max_retries.as_deref().map(str::trim) {
            None | Some("") => 5,
            Some(v) => v
                .parse::<u32>()
                .ok()
                .filter(|n| *n <= 20)
                .unwrap_or_else(|| {
                    p.add(
                        "GONG_API_MAX_RETRIES",
                        "must be a whole number from 0 to 20",
                    );
                    5
                }),
        };
        let gong_api_breaker_cool_down = p.duration(
            "GONG_API_BREAKER_COOL_DOWN",
            raw.gong_api_breaker_cool_down.as_deref(),
            "30s",
        );
        let reconcile_interval = p.duration(
            "GONG_RECONCILE_INTERVAL",
            raw.gong_reconcile_interval.as_deref(),
            "15m",
        );
        let reconcile_lookback = p.duration(
            "GONG_RECONCILE_LOOKBACK",
            raw.gong_reconcile_lookback.as_deref(),
            "24h",
        );

        let database_url = p
            .secret("DATABASE_URL", raw.database_url, raw.database_url_file)
            .unwrap_or_else(|| SecretString::from(DEFAULT_DATABASE_URL));
        let db = database_url.expose_secret();
        let db_is_postgres = db.starts_with("postgres://") || db.starts_with("postgresql://");
        if !db_is_postgres && !db.starts_with("sqlite:") {
            // The URL may hold a password: name the scheme only.
            p.add(
                "DATABASE_URL",
                "must start with sqlite: or postgres:// (e.g. sqlite://gong-relay.db)",
            );
        }

        let snowflake = raw
            .snowflake_account
            .as_deref()
            .map(str::trim)
            .filter(|a| !a.is_empty())
            .map(|account| {
                let password = p.secret(
                    "SNOWFLAKE_PASSWORD",
                    raw.snowflake_password.clone(),
                    raw.snowflake_password_file.clone(),
                );
                let private_key = p.secret(
                    "SNOWFLAKE_PRIVATE_KEY",
                    raw.snowflake_private_key.clone(),
                    raw.snowflake_private_key_file.clone(),
                );
                let user = raw.snowflake_user.clone().filter(|u| !u.trim().is_empty());
                if user.is_none() {
                    p.add("SNOWFLAKE_USER", "required when SNOWFLAKE_ACCOUNT is set");
                }
                if password.is_none() && private_key.is_none() {
                    p.add(
                        "SNOWFLAKE_PASSWORD",
                        "SNOWFLAKE_ACCOUNT is set but neither SNOWFLAKE_PASSWORD nor SNOWFLAKE_PRIVATE_KEY(_FILE) is",
                    );
                }
                SnowflakeConfig {
                    account: account.to_owned(),
                    user,
                    password,
                    private_key,
                    warehouse: raw
                        .snowflake_warehouse
                        .clone()
                        .unwrap_or_else(|| "COMPUTE_WH".into()),
                    database: raw
                        .snowflake_database
                        .clone()
                        .unwrap_or_else(|| "SOPHIA_AI".into()),
                    schema: raw
                        .snowflake_schema
                        .clone()
                        .unwrap_or_else(|| "GONG_WEBHOOKS".into()),
                    role: raw.snowflake_role.clone(),
                    host: raw
                        .snowflake_host
                        .clone()
                        .unwrap_or_else(|| format!("{account}.snowflakecomputing.com")),
                }
            });

        let warehouse = match raw.warehouse.as_deref().map(|w| w.trim().to_lowercase()) {
            Some(w) if w == "sqlite" => WarehouseKind::Sqlite,
            Some(w) if w == "postgres" || w == "postgresql" => WarehouseKind::Postgres,
            Some(w) if w == "snowflake" => WarehouseKind::Snowflake,
            Some(w) if !w.is_empty() => {
                p.add("WAREHOUSE", "must be sqlite, postgres or snowflake");
                WarehouseKind::Sqlite
            }
            _ if snowflake.is_some() => WarehouseKind::Snowflake,
            _ if db_is_postgres => WarehouseKind::Postgres,
            _ => WarehouseKind::Sqlite,
        };
        if warehouse == WarehouseKind::Snowflake && snowflake.is_none() {
            p.add("WAREHOUSE", "is snowflake but SNOWFLAKE_ACCOUNT is not set");
        }
        if warehouse == WarehouseKind::Postgres && !db_is_postgres {
            p.add(
                "WAREHOUSE",
                "is postgres but DATABASE_URL is not a postgres:// URL",
            );
        }
        if warehouse == WarehouseKind::Sqlite && db_is_postgres {
            p.add(
                "WAREHOUSE",
                "is sqlite but DATABASE_URL is a postgres:// URL",
            );
        }

        let redis_url = p
            .secret("REDIS_URL", raw.redis_url, raw.redis_url_file)
            .filter(|u| !u.expose_secret().trim().is_empty());
        if let Some(u) = &redis_url {
            let u = u.expose_secret();
            if !(u.starts_with("redis://") || u.starts_with("rediss://")) {
                p.add("REDIS_URL", "must start with redis:// or rediss://");
            }
        }
        let redis_notification_ttl = p.duration(
            "REDIS_NOTIFICATION_TTL",
            raw.redis_notification_ttl.as_deref(),
            "7d",
        );

        let bind_addr = match raw.bind_addr.as_deref().unwrap_or("0.0.0.0:8080").parse() {
            Ok(a) => a,
            Err(_) => {
                p.add(
                    "BIND_ADDR",
                    "must be an IP address and port, e.g. 0.0.0.0:8080",
                );
                SocketAddr::from(([0, 0, 0, 0], 8080))
            }
        };
        let admin_token = p
            .secret("ADMIN_TOKEN", raw.admin_token, raw.admin_token_file)
            .filter(|t| !t.expose_secret().is_empty());
        if let Some(t) = &admin_token
            && t.expose_secret().len() < 16
        {
            p.add(
                "ADMIN_TOKEN",
                "is shorter than 16 characters; use a long random token",
            );
        }
        let max_body_bytes = p.positive_int(
            "MAX_BODY_BYTES",
            raw.max_body_bytes.as_deref(),
            10_485_760u64,
        ) as usize;
        // 0 is allowed: a receive-only instance (other replicas process the shared queue).
        let workers = match raw
            .workers
            .as_deref()
            .map(str::trim)
            .filter(|v| !v.is_empty())
        {
            None => 4,
            Some(v) => match v.parse::<usize>() {
                Ok(n) if n <= 256 => n,
                _ => {
                    p.add("WORKERS", "must be a whole number from 0 to 256");
                    4
                }
            },
        };
        let max_attempts = p.positive_int("MAX_ATTEMPTS", raw.max_attempts.as_deref(), 8);
        let retry_backoff = p.duration("RETRY_BACKOFF", raw.retry_backoff.as_deref(), "30s");
        let retry_backoff_max =
            p.duration("RETRY_BACKOFF_MAX", raw.retry_backoff_max.as_deref(), "30m");
        let worker_lease = p.duration("WORKER_LEASE", raw.worker_lease.as_deref(), "5m");
        if worker_lease < Duration::from_secs(1) {
            p.add("WORKER_LEASE", "must be at least 1s");
        }
        let log_format = match raw.log_format.as_deref().map(str::trim) {
            None | Some("") | Some("json") => LogFormat::Json,
            Some("pretty") => LogFormat::Pretty,
            Some(_) => {
                p.add("LOG_FORMAT", "must be json or pretty");
                LogFormat::Json
            }
        };
        let log_level = raw
            .log_level
            .as_deref()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .unwrap_or("info")
            .to_owned();
        if tracing_subscriber::EnvFilter::try_new(&log_level).is_err() {
            p.add(
                "LOG_LEVEL",
                "must be a level (error, warn, info, debug, trace) or a tracing filter",
            );
        }
        let competitors = raw
            .competitors
            .as_deref()
            .map(|c| p.string_array("COMPETITORS", c))
            .unwrap_or_default();
        if let Some(path) = &raw.insight_rules_file
            && !path.is_file()
        {
            p.add(
                "INSIGHT_RULES_FILE",
                &format!("{} is not a readable file", path.display()),
            );
        }

        let webhook = WebhookAuthConfig {
            hs256_secrets,
            rs256_public_keys,
            url_keys,
            public_url,
            allow_unsigned,
            max_token_age,
        };
        // The keys themselves (PEM / base64 shape, secret length) are the verifier's to judge.
        if let Err(e) = crate::verify::Verifier::new(&webhook) {
            p.0.extend(e.0);
        }

        p.finish()?;
        Ok(Config {
            gong_auth,
            gong_api_base_url,
            webhook,
            gong_api_rate_limit,
            gong_api_burst_limit: gong_api_burst_limit as u32,
            gong_api_daily_limit: gong_api_daily_limit as u32,
            gong_api_max_retries,
            gong_api_breaker_cool_down,
            reconcile_interval: (!reconcile_interval.is_zero()).then_some(reconcile_interval),
            reconcile_lookback,
            database_url,
            warehouse,
            snowflake,
            redis_url,
            redis_notification_ttl,
            bind_addr,
            admin_token,
            max_body_bytes,
            workers,
            max_attempts: max_attempts as u32,
            retry_backoff,
            retry_backoff_max: retry_backoff_max.max(retry_backoff),
            worker_lease,
            log_format,
            log_level,
            competitors,
            insight_rules_file: raw.insight_rules_file,
        })
    }

    /// Checks that `serve` may start: a receiver that accepts unsigned webhooks by accident
    /// is a hole, so without a verification method it fails closed.
    pub fn check_serve(&self) -> Result<(), ConfigError> {
        // Checked first and on its own: with keys configured too, "allow unsigned" would
        // still let requests without any credential in.
        if self.webhook.allow_unsigned && !self.bind_addr.ip().is_loopback() {
            return Err(ConfigError(vec![format!(
                "GONG_WEBHOOK_ALLOW_UNSIGNED: refused because BIND_ADDR {} is not a loopback address; \
                 unsigned webhooks are only for local trials on 127.0.0.1",
                self.bind_addr
            )]));
        }
        if !self.webhook.has_method() && !self.webhook.allow_unsigned {
            return Err(ConfigError(vec![
                "no webhook verification configured: set GONG_WEBHOOK_PUBLIC_KEYS (the Gong rule's public key), \
                 GONG_WEBHOOK_SECRETS or GONG_WEBHOOK_URL_KEYS; for a local trial only, \
                 GONG_WEBHOOK_ALLOW_UNSIGNED=true with a loopback BIND_ADDR"
                    .into(),
            ]));
        }
        Ok(())
    }

    /// Whether the operational store is PostgreSQL (otherwise SQLite).
    pub fn store_is_postgres(&self) -> bool {
        let u = self.database_url.expose_secret();
        u.starts_with("postgres://") || u.starts_with("postgresql://")
    }
}

fn reqwest_like_url_ok(u: &str) -> bool {
    let rest = u
        .strip_prefix("https://")
        .or_else(|| u.strip_prefix("http://"));
    matches!(rest, Some(r) if !r.is_empty() && !r.starts_with('/'))
}

/// Collects problems while parsing, so they can all be reported together.
#[derive(Default)]
struct Problems(Vec<String>);

impl Problems {
    fn add(&mut self, var: &str, why: &str) {
        self.0.push(format!("{var}: {why}"));
    }

    fn finish(self) -> Result<(), ConfigError> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(ConfigError(self.0))
        }
    }

    /// A value that may be given directly or as `X_FILE`. The file's content is trimmed of a
    /// trailing newline, as secret files usually end with one.
    fn plain_or_file(
        &mut self,
        var: &str,
        value: Option<String>,
        file: Option<PathBuf>,
    ) -> Option<String> {
        match (value, file) {
            (Some(_), Some(_)) => {
                self.add(var, &format!("set together with {var}_FILE; set only one"));
                None
            }
            (Some(v), None) => Some(v),
            (None, Some(path)) => match std::fs::read_to_string(&path) {
                Ok(s) => Some(s.trim_end_matches(['\r', '\n']).to_owned()),
                Err(e) => {
                    self.add(
                        &format!("{var}_FILE"),
                        &format!("cannot read {}: {e}", path.display()),
                    );
                    None
                }
            },
            (None, None) => None,
        }
    }

    fn secret(
        &mut self,
        var: &str,
        value: Option<String>,
        file: Option<PathBuf>,
    ) -> Option<SecretString> {
        self.plain_or_file(var, value, file)
            .filter(|s| !s.is_empty())
            .map(SecretString::from)
    }

    /// A JSON array of non-empty strings. The error never echoes the value: it may be secret.
    fn string_array(&mut self, var: &str, value: &str) -> Vec<String> {
        let value = value.trim();
        if value.is_empty() {
            return Vec::new();
        }
        match serde_json::from_str::<Vec<String>>(value) {
            Ok(items) if items.iter().all(|i| !i.trim().is_empty()) => items,
            Ok(_) => {
                self.add(var, "contains an empty string");
                Vec::new()
            }
            Err(_) => {
                self.add(var, "must be a JSON array of strings, e.g. [\"a\", \"b\"]");
                Vec::new()
            }
        }
    }

    fn boolean(&mut self, var: &str, value: Option<&str>, default: bool) -> bool {
        match value.map(|v| v.trim().to_ascii_lowercase()).as_deref() {
            None | Some("") => default,
            Some("true" | "1" | "yes" | "on") => true,
            Some("false" | "0" | "no" | "off") => false,
            Some(_) => {
                self.add(var, "must be true or false");
                default
            }
        }
    }

    fn duration(&mut self, var: &str, value: Option<&str>, default: &str) -> Duration {
        let text = value.map(str::trim).filter(|v| !v.is_empty());
        match text {
            Some("0") => Duration::ZERO,
            Some(t) => humantime::parse_duration(t).unwrap_or_else(|_| {
                self.add(var, "must be a duration such as 30s, 15m, 1h or 7d");
                humantime::parse_duration(default).expect("default durations are valid")
            }),
            None => humantime::parse_duration(default).expect("default durations are valid"),
        }
    }

    fn positive_f64(&mut self, var: &str, value: Option<&str>, default: f64) -> f64 {
        match value.map(str::trim).filter(|v| !v.is_empty()) {
            None => default,
            Some(v) => match v.parse::<f64>() {
                Ok(n) if n.is_finite() && n > 0.0 => n,
                _ => {
                    self.add(var, "must be a positive number");
                    default
                }
            },
        }
    }

    fn positive_int(&mut self, var: &str, value: Option<&str>, default: u64) -> u64 {
        match value.map(str::trim).filter(|v| !v.is_empty()) {
            None => default,
            Some(v) => match v.parse::<u64>() {
                Ok(n) if n > 0 && n <= u32::MAX as u64 => n,
                _ => {
                    self.add(var, "must be a whole number greater than zero");
                    default
                }
            },
        }
    }

    fn url(&mut self, var: &str, value: Option<&str>, default: &str) -> String {
        match value.map(str::trim).filter(|v| !v.is_empty()) {
            None => default.to_owned(),
            Some(v) if reqwest_like_url_ok(v) => v.trim_end_matches('/').to_owned(),
            Some(_) => {
                self.add(var, "must be an absolute http:// or https:// URL");
                default.to_owned()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_designs() {
        let c = Config::from_raw(RawConfig::default()).unwrap();
        assert_eq!(c.gong_api_base_url, "https://api.gong.io");
        assert_eq!(c.gong_api_rate_limit, 2.5);
        assert_eq!(c.gong_api_burst_limit, 10);
        assert_eq!(c.gong_api_daily_limit, 10_000);
        assert_eq!(c.reconcile_interval, Some(Duration::from_secs(15 * 60)));
        assert_eq!(c.reconcile_lookback, Duration::from_secs(24 * 3600));
        assert_eq!(c.database_url.expose_secret(), DEFAULT_DATABASE_URL);
        assert_eq!(c.warehouse, WarehouseKind::Sqlite);
        assert_eq!(c.bind_addr.to_string(), "0.0.0.0:8080");
        assert_eq!(c.max_body_bytes, 10_485_760);
        assert_eq!(c.workers, 4);
        assert_eq!(c.max_attempts, 8);
        assert_eq!(c.webhook.max_token_age, Duration::from_secs(3600));
        assert_eq!(c.redis_notification_ttl, Duration::from_secs(7 * 86400));
        assert_eq!(c.log_format, LogFormat::Json);
        assert!(c.gong_auth.is_none());
    }

    #[test]
    fn every_problem_is_reported_on_its_own_line() {
        let raw = RawConfig {
            gong_api_key: Some("no-colon".into()),
            gong_webhook_secrets: Some("not json".into()),
            gong_api_rate_limit: Some("-1".into()),
            bind_addr: Some("nowhere".into()),
            workers: Some("many".into()),
            log_format: Some("xml".into()),
            gong_webhook_max_token_age: Some("soon".into()),
            ..Default::default()
        };
        let err = Config::from_raw(raw).unwrap_err();
        let text = err.to_string();
        for var in [
            "GONG_API_KEY:",
            "GONG_WEBHOOK_SECRETS:",
            "GONG_API_RATE_LIMIT:",
            "BIND_ADDR:",
            "WORKERS:",
            "LOG_FORMAT:",
            "GONG_WEBHOOK_MAX_TOKEN_AGE:",
        ] {
            assert!(text.lines().any(|l| l.starts_with(var)), "{var} in {text}");
        }
        assert_eq!(err.0.len(), 7, "{text}");
    }

    #[test]
    fn secrets_never_appear_in_errors_or_debug() {
        let raw = RawConfig {
            gong_webhook_secrets: Some("[\"s3cr3t-value-0123456789\", \"\"]".into()),
            gong_api_key: Some("key:s3cr3t-value-0123456789".into()),
            ..Default::default()
        };
        let err = Config::from_raw(raw).unwrap_err();
        assert!(!err.to_string().contains("s3cr3t-value-0123456789"));

        let raw = RawConfig {
            gong_webhook_secrets: Some("[\"s3cr3t-value-0123456789\"]".into()),
            gong_api_key: Some("key:s3cr3t-value-0123456789".into()),
            ..Default::default()
        };
        let c = Config::from_raw(raw).unwrap();
        assert!(!format!("{c:?}").contains("s3cr3t-value-0123456789"));
    }

    #[test]
    fn file_variants_are_read_and_trimmed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secrets");
        std::fs::write(&path, "[\"from-file-secret-0123\"]\n").unwrap();
        let raw = RawConfig {
            gong_webhook_secrets_file: Some(path),
            ..Default::default()
        };
        let c = Config::from_raw(raw).unwrap();
        assert_eq!(
            c.webhook.hs256_secrets[0].expose_secret(),
            "from-file-secret-0123"
        );

        let raw = RawConfig {
            admin_token_file: Some(dir.path().join("missing")),
            ..Default::default()
        };
        let err = Config::from_raw(raw).unwrap_err();
        assert!(err.0[0].starts_with("ADMIN_TOKEN_FILE: cannot read"));
    }

    #[test]
    fn serve_fails_closed_without_verification() {
        let c = Config::from_raw(RawConfig::default()).unwrap();
        assert!(c.check_serve().unwrap_err().0[0].contains("GONG_WEBHOOK_PUBLIC_KEYS"));

        let c = Config::from_raw(RawConfig {
            gong_webhook_allow_unsigned: Some("true".into()),
            ..Default::default()
        })
        .unwrap();
        assert!(c.check_serve().unwrap_err().0[0].contains("loopback"));

        let c = Config::from_raw(RawConfig {
            gong_webhook_allow_unsigned: Some("true".into()),
            bind_addr: Some("127.0.0.1:0".into()),
            ..Default::default()
        })
        .unwrap();
        assert!(c.check_serve().is_ok());

        // Keys configured as well do not make "unsigned" acceptable on a public address.
        let c = Config::from_raw(RawConfig {
            gong_webhook_allow_unsigned: Some("true".into()),
            gong_webhook_secrets: Some("[\"a-long-enough-secret-value\"]".into()),
            ..Default::default()
        })
        .unwrap();
        assert!(c.check_serve().unwrap_err().0[0].contains("loopback"));
    }

    #[test]
    fn warehouse_follows_snowflake_then_database_url() {
        let c = Config::from_raw(RawConfig {
            database_url: Some("postgres://127.0.0.1/test".into()),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(c.warehouse, WarehouseKind::Postgres);
        let c = Config::from_raw(RawConfig {
            snowflake_account: Some("acme".into()),
            snowflake_user: Some("u".into()),
            snowflake_password: Some("p".into()),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(c.warehouse, WarehouseKind::Snowflake);
        assert_eq!(
            c.snowflake.unwrap().host,
            "acme.snowflakecomputing.com".to_string()
        );
        assert_eq!(
            c.reconcile_interval,
            Some(Duration::from_secs(900)),
            "unchanged"
        );
        let c = Config::from_raw(RawConfig {
            gong_reconcile_interval: Some("0".into()),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(c.reconcile_interval, None);
    }
}
