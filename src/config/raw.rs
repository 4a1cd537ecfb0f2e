//! The raw configuration: every variable as clap reads it (the README lists them).
//!
//! Each field is both a flag and an environment variable (clap's `env`, which also sees
//! `.env` once dotenvy has loaded it), and each is kept as an unparsed `Option<String>` or
//! path. Parsing happens later, in one pass over the whole struct, so that a bad value is
//! reported next to every other bad value instead of clap stopping at the first. Secret
//! variables hide their values from `--help` and have an `X_FILE` twin.

use std::path::PathBuf;

use clap::Args;

/// The raw, unvalidated configuration. Every field is a flag and an environment variable.
#[derive(Args, Debug, Clone, Default)]
pub struct RawConfig {
    /// Gong API credentials, accessKey:accessKeySecret (sent as HTTP Basic).
    #[arg(
        long,
        env = "GONG_API_KEY",
        help_heading = "Gong API",
        hide_env_values = true
    )]
    pub gong_api_key: Option<String>,
    /// File holding GONG_API_KEY.
    #[arg(long, env = "GONG_API_KEY_FILE", help_heading = "Gong API")]
    pub gong_api_key_file: Option<PathBuf>,
    /// OAuth access token, instead of GONG_API_KEY.
    #[arg(
        long,
        env = "GONG_API_BEARER_TOKEN",
        help_heading = "Gong API",
        hide_env_values = true
    )]
    pub gong_api_bearer_token: Option<String>,
    /// File holding GONG_API_BEARER_TOKEN.
    #[arg(long, env = "GONG_API_BEARER_TOKEN_FILE", help_heading = "Gong API")]
    pub gong_api_bearer_token_file: Option<PathBuf>,
    /// Gong API host, e.g. https://us-12345.api.gong.io [default: https://api.gong.io]
    #[arg(long, env = "GONG_API_BASE_URL", help_heading = "Gong API")]
    pub gong_api_base_url: Option<String>,
    /// JSON array of HS256 secrets; any one verifies (rotation).
    #[arg(
        long,
        env = "GONG_WEBHOOK_SECRETS",
        help_heading = "Webhooks",
        hide_env_values = true
    )]
    pub gong_webhook_secrets: Option<String>,
    /// File holding GONG_WEBHOOK_SECRETS.
    #[arg(long, env = "GONG_WEBHOOK_SECRETS_FILE", help_heading = "Webhooks")]
    pub gong_webhook_secrets_file: Option<PathBuf>,
    /// JSON array of Gong rule public keys (bare base64 SPKI, or PEM) for RS256.
    #[arg(long, env = "GONG_WEBHOOK_PUBLIC_KEYS", help_heading = "Webhooks")]
    pub gong_webhook_public_keys: Option<String>,
    /// File holding GONG_WEBHOOK_PUBLIC_KEYS.
    #[arg(long, env = "GONG_WEBHOOK_PUBLIC_KEYS_FILE", help_heading = "Webhooks")]
    pub gong_webhook_public_keys_file: Option<PathBuf>,
    /// JSON array of tokens accepted as ?key=.
    #[arg(
        long,
        env = "GONG_WEBHOOK_URL_KEYS",
        help_heading = "Webhooks",
        hide_env_values = true
    )]
    pub gong_webhook_url_keys: Option<String>,
    /// File holding GONG_WEBHOOK_URL_KEYS.
    #[arg(long, env = "GONG_WEBHOOK_URL_KEYS_FILE", help_heading = "Webhooks")]
    pub gong_webhook_url_keys_file: Option<PathBuf>,
    /// External URL prefix Gong posts to; checked against the webhook_url claim.
    #[arg(long, env = "GONG_WEBHOOK_PUBLIC_URL", help_heading = "Webhooks")]
    pub gong_webhook_public_url: Option<String>,
    /// Accept unsigned webhooks (local trials on a loopback bind only) [default: false]
    #[arg(long, env = "GONG_WEBHOOK_ALLOW_UNSIGNED", help_heading = "Webhooks")]
    pub gong_webhook_allow_unsigned: Option<String>,
    /// Tokens whose exp lies further ahead are refused [default: 1h]
    #[arg(long, env = "GONG_WEBHOOK_MAX_TOKEN_AGE", help_heading = "Webhooks")]
    pub gong_webhook_max_token_age: Option<String>,
    /// Gong API calls per second, company-wide [default: 2.5]
    #[arg(long, env = "GONG_API_RATE_LIMIT", help_heading = "Gong API")]
    pub gong_api_rate_limit: Option<String>,
    /// Gong API burst [default: 10]
    #[arg(long, env = "GONG_API_BURST_LIMIT", help_heading = "Gong API")]
    pub gong_api_burst_limit: Option<String>,
    /// Gong API calls per UTC day [default: 10000]
    #[arg(long, env = "GONG_API_DAILY_LIMIT", help_heading = "Gong API")]
    pub gong_api_daily_limit: Option<String>,
    /// Retries of one Gong request (5xx, timeouts, 429) before the event is rescheduled [default: 5]
    #[arg(long, env = "GONG_API_MAX_RETRIES", help_heading = "Gong API")]
    pub gong_api_max_retries: Option<String>,
    /// How long the Gong circuit breaker stays open before a probe [default: 30s]
    #[arg(long, env = "GONG_API_BREAKER_COOL_DOWN", help_heading = "Gong API")]
    pub gong_api_breaker_cool_down: Option<String>,
    /// How often missed calls are looked for; 0 disables [default: 15m]
    #[arg(long, env = "GONG_RECONCILE_INTERVAL", help_heading = "Gong API")]
    pub gong_reconcile_interval: Option<String>,
    /// How far back the reconciler looks [default: 24h]
    #[arg(long, env = "GONG_RECONCILE_LOOKBACK", help_heading = "Gong API")]
    pub gong_reconcile_lookback: Option<String>,
    /// Operational store: sqlite://PATH or postgres://... [default: sqlite://gong-relay.db]
    #[arg(
        long,
        env = "DATABASE_URL",
        help_heading = "Store",
        hide_env_values = true
    )]
    pub database_url: Option<String>,
    /// File holding DATABASE_URL.
    #[arg(long, env = "DATABASE_URL_FILE", help_heading = "Store")]
    pub database_url_file: Option<PathBuf>,
    /// sqlite, postgres or snowflake [default: the DATABASE_URL backend]
    #[arg(long, env = "WAREHOUSE", help_heading = "Warehouse")]
    pub warehouse: Option<String>,
    /// Snowflake account identifier.
    #[arg(long, env = "SNOWFLAKE_ACCOUNT", help_heading = "Warehouse")]
    pub snowflake_account: Option<String>,
    /// Snowflake user.
    #[arg(long, env = "SNOWFLAKE_USER", help_heading = "Warehouse")]
    pub snowflake_user: Option<String>,
    /// Snowflake password.
    #[arg(
        long,
        env = "SNOWFLAKE_PASSWORD",
        help_heading = "Warehouse",
        hide_env_values = true
    )]
    pub snowflake_password: Option<String>,
    /// File holding SNOWFLAKE_PASSWORD.
    #[arg(long, env = "SNOWFLAKE_PASSWORD_FILE", help_heading = "Warehouse")]
    pub snowflake_password_file: Option<PathBuf>,
    /// Snowflake key-pair private key (PEM), instead of a password.
    #[arg(
        long,
        env = "SNOWFLAKE_PRIVATE_KEY",
        help_heading = "Warehouse",
        hide_env_values = true
    )]
    pub snowflake_private_key: Option<String>,
    /// File holding SNOWFLAKE_PRIVATE_KEY.
    #[arg(long, env = "SNOWFLAKE_PRIVATE_KEY_FILE", help_heading = "Warehouse")]
    pub snowflake_private_key_file: Option<PathBuf>,
    /// Passphrase of an encrypted PKCS#8 SNOWFLAKE_PRIVATE_KEY.
    #[arg(
        long,
        env = "SNOWFLAKE_PRIVATE_KEY_PASSPHRASE",
        help_heading = "Warehouse",
        hide_env_values = true
    )]
    pub snowflake_private_key_passphrase: Option<String>,
    /// File holding SNOWFLAKE_PRIVATE_KEY_PASSPHRASE.
    #[arg(
        long,
        env = "SNOWFLAKE_PRIVATE_KEY_PASSPHRASE_FILE",
        help_heading = "Warehouse"
    )]
    pub snowflake_private_key_passphrase_file: Option<PathBuf>,
    /// Snowflake OAuth access token, instead of a password or key pair.
    #[arg(
        long,
        env = "SNOWFLAKE_OAUTH_TOKEN",
        help_heading = "Warehouse",
        hide_env_values = true
    )]
    pub snowflake_oauth_token: Option<String>,
    /// File holding SNOWFLAKE_OAUTH_TOKEN.
    #[arg(long, env = "SNOWFLAKE_OAUTH_TOKEN_FILE", help_heading = "Warehouse")]
    pub snowflake_oauth_token_file: Option<PathBuf>,
    /// Snowflake sessions kept open [default: 4]
    #[arg(long, env = "SNOWFLAKE_POOL_SIZE", help_heading = "Warehouse")]
    pub snowflake_pool_size: Option<String>,
    /// Snowflake virtual warehouse [default: COMPUTE_WH]
    #[arg(long, env = "SNOWFLAKE_WAREHOUSE", help_heading = "Warehouse")]
    pub snowflake_warehouse: Option<String>,
    /// Snowflake database [default: SOPHIA_AI]
    #[arg(long, env = "SNOWFLAKE_DATABASE", help_heading = "Warehouse")]
    pub snowflake_database: Option<String>,
    /// Snowflake schema [default: GONG_WEBHOOKS]
    #[arg(long, env = "SNOWFLAKE_SCHEMA", help_heading = "Warehouse")]
    pub snowflake_schema: Option<String>,
    /// Snowflake role.
    #[arg(long, env = "SNOWFLAKE_ROLE", help_heading = "Warehouse")]
    pub snowflake_role: Option<String>,
    /// Snowflake host override [default: <account>.snowflakecomputing.com]
    #[arg(long, env = "SNOWFLAKE_HOST", help_heading = "Warehouse")]
    pub snowflake_host: Option<String>,
    /// Redis for notifications, e.g. redis://127.0.0.1:6379/0 (none: outbox only).
    #[arg(
        long,
        env = "REDIS_URL",
        help_heading = "Redis",
        hide_env_values = true
    )]
    pub redis_url: Option<String>,
    /// File holding REDIS_URL.
    #[arg(long, env = "REDIS_URL_FILE", help_heading = "Redis")]
    pub redis_url_file: Option<PathBuf>,
    /// TTL of stored notifications [default: 7d]
    #[arg(long, env = "REDIS_NOTIFICATION_TTL", help_heading = "Redis")]
    pub redis_notification_ttl: Option<String>,
    /// Approximate cap of the notification stream [default: 100000]
    #[arg(long, env = "REDIS_STREAM_MAXLEN", help_heading = "Redis")]
    pub redis_stream_maxlen: Option<String>,
    /// Prefix of every channel, key and stream [default: sophia:gong]
    #[arg(long, env = "REDIS_KEY_PREFIX", help_heading = "Redis")]
    pub redis_key_prefix: Option<String>,
    /// Published notifications are deleted from the outbox after this [default: 7d]
    #[arg(long, env = "OUTBOX_RETENTION", help_heading = "Store")]
    pub outbox_retention: Option<String>,
    /// Payloads of done events are emptied from the inbox after this (their raw body is in
    /// gong_webhooks_raw) [default: 7d]
    #[arg(long, env = "INBOX_RETENTION", help_heading = "Store")]
    pub inbox_retention: Option<String>,
    /// Rows of webhook_processing_history are deleted after this [default: kept]
    #[arg(long, env = "HISTORY_RETENTION", help_heading = "Warehouse")]
    pub history_retention: Option<String>,
    /// Listen address [default: 0.0.0.0:8080]
    #[arg(long, env = "BIND_ADDR", help_heading = "HTTP")]
    pub bind_addr: Option<String>,
    /// Second listener for /metrics, /admin and detailed /health, kept off the public port (none: all on BIND_ADDR).
    #[arg(long, env = "ADMIN_BIND_ADDR", help_heading = "HTTP")]
    pub admin_bind_addr: Option<String>,
    /// Open connections per listener; more are closed at once [default: 4096]
    #[arg(long, env = "MAX_CONNECTIONS", help_heading = "HTTP")]
    pub max_connections: Option<String>,
    /// Headers must arrive within this; idle keep-alive connections close after it [default: 10s]
    #[arg(long, env = "HEADER_READ_TIMEOUT", help_heading = "HTTP")]
    pub header_read_timeout: Option<String>,
    /// After SIGTERM, readiness is 503 while the listener keeps serving this long [default: 5s]
    #[arg(long, env = "DRAIN_PERIOD", help_heading = "HTTP")]
    pub drain_period: Option<String>,
    /// Bearer token of the /admin API (off when unset).
    #[arg(
        long,
        env = "ADMIN_TOKEN",
        help_heading = "HTTP",
        hide_env_values = true
    )]
    pub admin_token: Option<String>,
    /// File holding ADMIN_TOKEN.
    #[arg(long, env = "ADMIN_TOKEN_FILE", help_heading = "HTTP")]
    pub admin_token_file: Option<PathBuf>,
    /// Larger webhook bodies get 413 [default: 10485760]
    #[arg(long, env = "MAX_BODY_BYTES", help_heading = "HTTP")]
    pub max_body_bytes: Option<String>,
    /// Memory for webhook bodies being received, all requests together; at least MAX_BODY_BYTES [default: 67108864]
    #[arg(long, env = "MAX_BODY_BYTES_IN_FLIGHT", help_heading = "HTTP")]
    pub max_body_bytes_in_flight: Option<String>,
    /// Deadline of a whole webhook request from its start; a body not in by then gets 408 [default: 30s]
    #[arg(long, env = "REQUEST_TIMEOUT", help_heading = "HTTP")]
    pub request_timeout: Option<String>,
    /// Pipeline workers; 0 = receive only [default: 4]
    #[arg(long, env = "WORKERS", help_heading = "Processing")]
    pub workers: Option<String>,
    /// Attempts before the dead-letter queue [default: 8]
    #[arg(long, env = "MAX_ATTEMPTS", help_heading = "Processing")]
    pub max_attempts: Option<String>,
    /// First retry delay of a failed event; doubles per attempt, with jitter [default: 30s]
    #[arg(long, env = "RETRY_BACKOFF", help_heading = "Processing")]
    pub retry_backoff: Option<String>,
    /// Longest retry delay [default: 30m]
    #[arg(long, env = "RETRY_BACKOFF_MAX", help_heading = "Processing")]
    pub retry_backoff_max: Option<String>,
    /// How long a claim lasts without renewal (renewed every third while worked on) [default: 30s]
    #[arg(long, env = "WORKER_LEASE", help_heading = "Processing")]
    pub worker_lease: Option<String>,
    /// json or pretty [default: json]
    #[arg(long, env = "LOG_FORMAT", help_heading = "Logging")]
    pub log_format: Option<String>,
    /// A level or a tracing filter [default: info]
    #[arg(long, env = "LOG_LEVEL", help_heading = "Logging")]
    pub log_level: Option<String>,
    /// Competitor names, a JSON array (replaces the default list).
    #[arg(long, env = "COMPETITORS", help_heading = "Processing")]
    pub competitors: Option<String>,
    /// TOML file of insight rules, merged over the defaults.
    #[arg(long, env = "INSIGHT_RULES_FILE", help_heading = "Processing")]
    pub insight_rules_file: Option<PathBuf>,
}
