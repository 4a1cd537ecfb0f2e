//! Where events are kept: the operational store (`DATABASE_URL`) and the warehouse
//! (`WAREHOUSE`, `SNOWFLAKE_*`).
//!
//! They are read together because they decide one another: with no `WAREHOUSE` set, the
//! warehouse is Snowflake when `SNOWFLAKE_ACCOUNT` is set and otherwise the store's own
//! backend, and an explicit `WAREHOUSE` must agree with what is configured. The store URL
//! may hold a password, so problems name its scheme only.

use secrecy::{ExposeSecret, SecretString};

use super::RawConfig;
use super::parse::Problems;

pub const DEFAULT_DATABASE_URL: &str = "sqlite://gong-relay.db";

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

/// How gong-relay logs in to Snowflake: exactly one is configured.
#[derive(Debug, Clone)]
pub enum SnowflakeAuth {
    Password(SecretString),
    /// A PKCS#8 PEM private key, encrypted when a passphrase is given.
    KeyPair {
        pem: SecretString,
        passphrase: Option<SecretString>,
    },
    OAuth(SecretString),
}

#[derive(Debug, Clone)]
pub struct SnowflakeConfig {
    pub account: String,
    pub user: String,
    pub auth: SnowflakeAuth,
    /// Sessions kept open (`SNOWFLAKE_POOL_SIZE`).
    pub pool_size: usize,
    pub warehouse: String,
    pub database: String,
    pub schema: String,
    pub role: Option<String>,
    pub host: String,
}

/// Whether a store URL names PostgreSQL (otherwise it is SQLite).
pub(super) fn is_postgres_url(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

/// The store and warehouse settings, validated against each other.
pub(super) struct Storage {
    pub(super) database_url: SecretString,
    pub(super) warehouse: WarehouseKind,
    pub(super) snowflake: Option<SnowflakeConfig>,
}

impl Storage {
    /// Reads `DATABASE_URL`, `SNOWFLAKE_*` and `WAREHOUSE` out of `raw`, in that order.
    pub(super) fn from_raw(p: &mut Problems, raw: &mut RawConfig) -> Storage {
        let database_url = p
            .secret(
                "DATABASE_URL",
                raw.database_url.take(),
                raw.database_url_file.take(),
            )
            .unwrap_or_else(|| SecretString::from(DEFAULT_DATABASE_URL));
        let db = database_url.expose_secret();
        let db_is_postgres = is_postgres_url(db);
        if !db_is_postgres && !db.starts_with("sqlite:") {
            // The URL may hold a password: name the scheme only.
            p.add(
                "DATABASE_URL",
                "must start with sqlite: or postgres:// (e.g. sqlite://gong-relay.db)",
            );
        }

        let snowflake_account_set = raw
            .snowflake_account
            .as_deref()
            .is_some_and(|a| !a.trim().is_empty());
        let snowflake = raw
            .snowflake_account
            .as_deref()
            .map(str::trim)
            .filter(|a| !a.is_empty())
            .and_then(|account| {
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
                let passphrase = p.secret(
                    "SNOWFLAKE_PRIVATE_KEY_PASSPHRASE",
                    raw.snowflake_private_key_passphrase.clone(),
                    raw.snowflake_private_key_passphrase_file.clone(),
                );
                let oauth = p.secret(
                    "SNOWFLAKE_OAUTH_TOKEN",
                    raw.snowflake_oauth_token.clone(),
                    raw.snowflake_oauth_token_file.clone(),
                );
                let user = raw.snowflake_user.clone().filter(|u| !u.trim().is_empty());
                if user.is_none() {
                    p.add("SNOWFLAKE_USER", "required when SNOWFLAKE_ACCOUNT is set");
                }
                if passphrase.is_some() && private_key.is_none() {
                    p.add(
                        "SNOWFLAKE_PRIVATE_KEY_PASSPHRASE",
                        "is set but SNOWFLAKE_PRIVATE_KEY(_FILE) is not",
                    );
                }
                let auth = match (password, private_key, oauth) {
                    (Some(pw), None, None) => Some(SnowflakeAuth::Password(pw)),
                    (None, Some(pem), None) => Some(SnowflakeAuth::KeyPair { pem, passphrase }),
                    (None, None, Some(token)) => Some(SnowflakeAuth::OAuth(token)),
                    (None, None, None) => {
                        p.add(
                            "SNOWFLAKE_PASSWORD",
                            "SNOWFLAKE_ACCOUNT is set but none of SNOWFLAKE_PASSWORD, \
                             SNOWFLAKE_PRIVATE_KEY(_FILE) or SNOWFLAKE_OAUTH_TOKEN is",
                        );
                        None
                    }
                    _ => {
                        p.add(
                            "SNOWFLAKE_PASSWORD",
                            "set only one of SNOWFLAKE_PASSWORD, SNOWFLAKE_PRIVATE_KEY(_FILE) \
                             and SNOWFLAKE_OAUTH_TOKEN",
                        );
                        None
                    }
                };
                let pool_size =
                    p.positive_int("SNOWFLAKE_POOL_SIZE", raw.snowflake_pool_size.as_deref(), 4)
                        as usize;
                let (Some(user), Some(auth)) = (user, auth) else {
                    return None;
                };
                Some(SnowflakeConfig {
                    account: account.to_owned(),
                    user,
                    auth,
                    pool_size,
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
                })
            });

        let warehouse = match raw.warehouse.as_deref().map(|w| w.trim().to_lowercase()) {
            Some(w) if w == "sqlite" => WarehouseKind::Sqlite,
            Some(w) if w == "postgres" || w == "postgresql" => WarehouseKind::Postgres,
            Some(w) if w == "snowflake" => WarehouseKind::Snowflake,
            Some(w) if !w.is_empty() => {
                p.add("WAREHOUSE", "must be sqlite, postgres or snowflake");
                WarehouseKind::Sqlite
            }
            _ if snowflake_account_set => WarehouseKind::Snowflake,
            _ if db_is_postgres => WarehouseKind::Postgres,
            _ => WarehouseKind::Sqlite,
        };
        if warehouse == WarehouseKind::Snowflake && !snowflake_account_set {
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

        Storage {
            database_url,
            warehouse,
            snowflake,
        }
    }
}
