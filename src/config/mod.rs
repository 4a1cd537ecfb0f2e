//! Configuration: every variable (the README's Configuration table), read once at start and validated as a whole.
//!
//! Values arrive as raw strings (from flags, the environment or `.env`, all through clap) and
//! are validated here in one pass, so a bad configuration is reported with one line per
//! problem instead of stopping at the first. Secrets live in `SecretString` so that they
//! cannot reach a log line through `Debug`; each secret variable `X` may instead be given as
//! `X_FILE`, a path to a file holding it (Docker and Kubernetes secrets).
//!
//! The pieces: `raw` is the clap struct, `parse` the value parsers that collect problems,
//! `webhook` and `storage` the sections whose variables decide together, and this file the
//! validated [`Config`] and the pass that builds it, in the order its problems are listed.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};

mod parse;
mod raw;
mod storage;
#[cfg(test)]
mod tests;
mod webhook;

pub use raw::RawConfig;
pub use storage::{DEFAULT_DATABASE_URL, SnowflakeAuth, SnowflakeConfig, WarehouseKind};
pub use webhook::WebhookAuthConfig;

use parse::Problems;
use storage::Storage;

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
    pub redis_stream_maxlen: u64,
    /// `sophia:gong` unless `REDIS_KEY_PREFIX` says otherwise (several environments on one
    /// Redis, tests).
    pub redis_prefix: String,
    pub outbox_retention: Duration,
    /// Payloads of done events are emptied after this (their raw body is in the warehouse).
    pub inbox_retention: Duration,
    /// `webhook_processing_history` rows are deleted after this; `None` keeps them.
    pub history_retention: Option<Duration>,
    pub bind_addr: SocketAddr,
    /// `None`: `/metrics`, `/admin` and the detailed `/health` are on `bind_addr`.
    pub admin_bind_addr: Option<SocketAddr>,
    /// Open connections allowed on each listener.
    pub max_connections: usize,
    pub header_read_timeout: Duration,
    pub drain_period: Duration,
    pub admin_token: Option<SecretString>,
    pub max_body_bytes: usize,
    /// Bytes of webhook bodies held at once, by all requests together (at least
    /// `max_body_bytes`, so that any one allowed body can always be read).
    pub max_body_bytes_in_flight: usize,
    /// Deadline of a whole webhook request, counted from its start.
    pub request_timeout: Duration,
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

impl Config {
    /// Validates every variable and returns all the problems at once.
    pub fn from_raw(raw: RawConfig) -> Result<Config, ConfigError> {
        Config::parse(raw, Purpose::Inspect)
    }

    /// [`Config::from_raw`] for `serve` and `check-config`: a missing verification method
    /// (see [`Config::check_serve`]) is one more line of the same list.
    pub fn from_raw_for_serve(raw: RawConfig) -> Result<Config, ConfigError> {
        Config::parse(raw, Purpose::Serve)
    }

    fn parse(mut raw: RawConfig, purpose: Purpose) -> Result<Config, ConfigError> {
        let mut p = Problems::default();

        let gong_api_key = p.secret(
            "GONG_API_KEY",
            raw.gong_api_key.take(),
            raw.gong_api_key_file.take(),
        );
        let bearer = p.secret(
            "GONG_API_BEARER_TOKEN",
            raw.gong_api_bearer_token.take(),
            raw.gong_api_bearer_token_file.take(),
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

        let webhook = WebhookAuthConfig::from_raw(&mut p, &mut raw);

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
        let gong_api_max_retries = p.whole_number_up_to(
            "GONG_API_MAX_RETRIES",
            raw.gong_api_max_retries.as_deref(),
            20,
            5,
        ) as u32;
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

        let Storage {
            database_url,
            warehouse,
            snowflake,
        } = Storage::from_raw(&mut p, &mut raw);

        let redis_url = p
            .secret("REDIS_URL", raw.redis_url.take(), raw.redis_url_file.take())
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
        // The TTL key is also what keeps a re-sent notification from being published
        // twice: it must outlive a crashed publisher's lease and retries by far.
        if redis_notification_ttl < Duration::from_secs(600) {
            p.add(
                "REDIS_NOTIFICATION_TTL",
                "must be at least 10m (it guards against publishing a notification twice)",
            );
        }
        let redis_stream_maxlen = p.positive_int(
            "REDIS_STREAM_MAXLEN",
            raw.redis_stream_maxlen.as_deref(),
            100_000,
        );
        let redis_prefix = raw
            .redis_key_prefix
            .take()
            .map(|s| s.trim().trim_end_matches(':').to_owned())
            .unwrap_or_else(|| "sophia:gong".into());
        if redis_prefix.is_empty() || redis_prefix.contains(char::is_whitespace) {
            p.add(
                "REDIS_KEY_PREFIX",
                "must be a non-empty name without spaces",
            );
        }
        let outbox_retention =
            p.duration("OUTBOX_RETENTION", raw.outbox_retention.as_deref(), "7d");
        let inbox_retention = p.duration("INBOX_RETENTION", raw.inbox_retention.as_deref(), "7d");
        if inbox_retention.is_zero() {
            p.add(
                "INBOX_RETENTION",
                "must be longer than 0, e.g. 7d (payloads of done events are kept this long)",
            );
        }
        // Unset or 0: history is kept (the warehouse's own retention, if any, applies).
        let history_retention =
            p.duration("HISTORY_RETENTION", raw.history_retention.as_deref(), "0s");

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
        let admin_bind_addr = match raw.admin_bind_addr.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(a) => match a.parse::<SocketAddr>() {
                Ok(a) if a == bind_addr && a.port() != 0 => {
                    p.add("ADMIN_BIND_ADDR", "must differ from BIND_ADDR");
                    None
                }
                Ok(a) => Some(a),
                Err(_) => {
                    p.add(
                        "ADMIN_BIND_ADDR",
                        "must be an IP address and port, e.g. 127.0.0.1:9090",
                    );
                    None
                }
            },
        };
        let max_connections =
            p.positive_int("MAX_CONNECTIONS", raw.max_connections.as_deref(), 4096) as usize;
        let header_read_timeout = p.duration(
            "HEADER_READ_TIMEOUT",
            raw.header_read_timeout.as_deref(),
            "10s",
        );
        // Zero would close every connection before its first header line.
        if header_read_timeout < Duration::from_millis(100) {
            p.add("HEADER_READ_TIMEOUT", "must be at least 100ms");
        }
        // 0 is allowed: stop at once (tests, a single instance without a load balancer).
        let drain_period = p.duration("DRAIN_PERIOD", raw.drain_period.as_deref(), "5s");
        let admin_token = p
            .secret(
                "ADMIN_TOKEN",
                raw.admin_token.take(),
                raw.admin_token_file.take(),
            )
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
        let max_body_bytes_in_flight = p.positive_int(
            "MAX_BODY_BYTES_IN_FLIGHT",
            raw.max_body_bytes_in_flight.as_deref(),
            64 * 1024 * 1024,
        ) as usize;
        if max_body_bytes_in_flight < max_body_bytes {
            p.add(
                "MAX_BODY_BYTES_IN_FLIGHT",
                &format!(
                    "must be at least MAX_BODY_BYTES ({max_body_bytes}), or a body of the allowed size could never be read"
                ),
            );
        }
        let request_timeout = p.duration("REQUEST_TIMEOUT", raw.request_timeout.as_deref(), "30s");
        if request_timeout < Duration::from_secs(1) {
            p.add("REQUEST_TIMEOUT", "must be at least 1s");
        }
        // 0 is allowed: a receive-only instance (other replicas process the shared queue).
        let workers = p.whole_number_up_to("WORKERS", raw.workers.as_deref(), 256, 4) as usize;
        let max_attempts = p.positive_int("MAX_ATTEMPTS", raw.max_attempts.as_deref(), 8);
        let retry_backoff = p.duration("RETRY_BACKOFF", raw.retry_backoff.as_deref(), "30s");
        let retry_backoff_max =
            p.duration("RETRY_BACKOFF_MAX", raw.retry_backoff_max.as_deref(), "30m");
        let worker_lease = p.duration("WORKER_LEASE", raw.worker_lease.as_deref(), "30s");
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
        let log_level = match log_filter(raw.log_level.as_deref().unwrap_or("")) {
            Ok(filter) => filter,
            Err(e) => {
                p.add("LOG_LEVEL", &e);
                "info".to_owned()
            }
        };
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

        // The keys themselves (PEM / base64 shape, secret length) are the verifier's to judge.
        if let Err(e) = crate::verify::Verifier::new(&webhook) {
            p.0.extend(e.0);
        }

        // A webhook variable refused above (say, a list in `.env` without its quotes) is
        // why no method is configured: "none configured" as well would send the reader
        // looking elsewhere.
        let webhook_refused = p.0.iter().any(|line| line.starts_with("GONG_WEBHOOK_"));
        if purpose == Purpose::Serve && !webhook_refused {
            p.0.extend(serve_problems(&webhook, bind_addr));
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
            redis_stream_maxlen,
            redis_prefix,
            outbox_retention,
            inbox_retention,
            history_retention: (!history_retention.is_zero()).then_some(history_retention),
            bind_addr,
            admin_bind_addr,
            max_connections,
            header_read_timeout,
            drain_period,
            admin_token,
            max_body_bytes,
            max_body_bytes_in_flight,
            request_timeout,
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
        let problems = serve_problems(&self.webhook, self.bind_addr);
        if problems.is_empty() {
            Ok(())
        } else {
            Err(ConfigError(problems))
        }
    }

    /// What a production deployment should fix although `serve` may start: printed by
    /// `check-config` and logged at start, each line naming what to set.
    pub fn warnings(&self) -> Vec<String> {
        let w = &self.webhook;
        let mut out = Vec::new();
        let signed = !w.rs256_public_keys.is_empty() || !w.hs256_secrets.is_empty();
        if signed && w.public_url.is_none() {
            out.push(
                "GONG_WEBHOOK_PUBLIC_URL is not set: the token's webhook_url claim is not checked, \
                 so a token made for another URL signed with the same key is accepted here; \
                 set it to the external URL prefix Gong posts to (e.g. https://relay.example.com)"
                    .into(),
            );
        }
        if !w.url_keys.is_empty() {
            out.push(
                "GONG_WEBHOOK_URL_KEYS: URL keys are the weakest method (no replay guard, not tied \
                 to the body, and the key is written wherever the URL is logged); prefer the \
                 rule's public key (GONG_WEBHOOK_PUBLIC_KEYS)"
                    .into(),
            );
        }
        if w.allow_unsigned && w.has_method() {
            out.push(
                "GONG_WEBHOOK_ALLOW_UNSIGNED is ignored: a verification method is configured"
                    .into(),
            );
        }
        out
    }

    /// Whether the operational store is PostgreSQL (otherwise SQLite).
    pub fn store_is_postgres(&self) -> bool {
        storage::is_postgres_url(self.database_url.expose_secret())
    }
}

/// What the configuration is read for: `serve` (and `check-config`, which answers whether
/// `serve` may start) also needs a way to verify webhooks; the other commands do not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Purpose {
    Serve,
    Inspect,
}

/// Why `serve` may not start with this verification (empty when it may).
fn serve_problems(webhook: &WebhookAuthConfig, bind_addr: SocketAddr) -> Vec<String> {
    // Checked first and on its own: with keys configured too, "allow unsigned" would
    // still let requests without any credential in.
    if webhook.allow_unsigned && !bind_addr.ip().is_loopback() {
        return vec![format!(
            "GONG_WEBHOOK_ALLOW_UNSIGNED: refused because BIND_ADDR {bind_addr} is not a loopback \
             address; unsigned webhooks are only for local trials on 127.0.0.1"
        )];
    }
    if !webhook.has_method() && !webhook.allow_unsigned {
        return vec![
            "no webhook verification configured: set GONG_WEBHOOK_PUBLIC_KEYS (the Gong rule's public key), \
             GONG_WEBHOOK_SECRETS or GONG_WEBHOOK_URL_KEYS; for a local trial only, \
             GONG_WEBHOOK_ALLOW_UNSIGNED=true with a loopback BIND_ADDR"
                .into(),
        ];
    }
    Vec::new()
}

/// The levels `LOG_LEVEL` takes, alone or after `target=`.
const LOG_LEVELS: [&str; 6] = ["off", "error", "warn", "info", "debug", "trace"];

/// Validates `LOG_LEVEL` and returns the tracing filter to use: a level (`warning` is read
/// as `warn`) or tracing's directives (`info,gong_relay=debug`). A bare word that is not a
/// level is refused: tracing would read it as a target name and silence every other log,
/// which is never what `LOG_LEVEL=loud` meant.
pub(crate) fn log_filter(value: &str) -> Result<String, String> {
    let value = value.trim();
    if value.is_empty() {
        return Ok("info".to_owned());
    }
    let level = |word: &str| -> Result<&'static str, String> {
        let word = word.trim().to_ascii_lowercase();
        let word = if word == "warning" { "warn" } else { &word };
        LOG_LEVELS.into_iter().find(|l| *l == word).ok_or_else(|| {
            format!(
                "{word:?} is not a level: use error, warn, info, debug, trace or off, or a \
                 tracing filter such as info,gong_relay=debug"
            )
        })
    };
    let mut directives = Vec::new();
    for directive in value.split(',').map(str::trim).filter(|d| !d.is_empty()) {
        match directive.rsplit_once('=') {
            // `target=level` (or `target[span]=level`): tracing judges the target part.
            Some((target, lvl)) => directives.push(format!("{}={}", target.trim(), level(lvl)?)),
            None => directives.push(level(directive)?.to_owned()),
        }
    }
    let filter = directives.join(",");
    tracing_subscriber::EnvFilter::try_new(&filter).map_err(|e| {
        format!("not a tracing filter ({e}); use a level such as info, or info,gong_relay=debug")
    })?;
    Ok(filter)
}
