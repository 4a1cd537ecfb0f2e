//! Tests of the whole configuration pass: defaults, problem reporting, secrets, files.
//!
//! They go through `Config::from_raw` as the binary does, so they cover the parsers in
//! `parse`, the webhook and storage sections and their order in one place.

use std::time::Duration;

use secrecy::ExposeSecret;

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
    assert_eq!(c.max_body_bytes_in_flight, 64 * 1024 * 1024);
    assert_eq!(c.request_timeout, Duration::from_secs(30));
    assert_eq!(c.workers, 4);
    assert_eq!(c.max_attempts, 8);
    // Short, since a worker renews its leases while it works: a dead replica's events go to
    // the others within this time.
    assert_eq!(c.worker_lease, Duration::from_secs(30));
    assert_eq!(c.webhook.max_token_age, Duration::from_secs(3600));
    assert_eq!(c.redis_notification_ttl, Duration::from_secs(7 * 86400));
    assert_eq!(c.inbox_retention, Duration::from_secs(7 * 86400));
    assert_eq!(c.history_retention, None);
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
        gong_webhook_secrets: Some("[\"s3cr3t-value-0123456789abcdefghij\", \"\"]".into()),
        gong_api_key: Some("key:s3cr3t-value-0123456789abcdefghij".into()),
        ..Default::default()
    };
    let err = Config::from_raw(raw).unwrap_err();
    assert!(
        !err.to_string()
            .contains("s3cr3t-value-0123456789abcdefghij")
    );

    let raw = RawConfig {
        gong_webhook_secrets: Some("[\"s3cr3t-value-0123456789abcdefghij\"]".into()),
        gong_api_key: Some("key:s3cr3t-value-0123456789abcdefghij".into()),
        ..Default::default()
    };
    let c = Config::from_raw(raw).unwrap();
    assert!(!format!("{c:?}").contains("s3cr3t-value-0123456789abcdefghij"));
}

#[test]
fn file_variants_are_read_and_trimmed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("secrets");
    std::fs::write(&path, "[\"from-file-secret-0123456789abcdefgh\"]\n").unwrap();
    let raw = RawConfig {
        gong_webhook_secrets_file: Some(path),
        ..Default::default()
    };
    let c = Config::from_raw(raw).unwrap();
    assert_eq!(
        c.webhook.hs256_secrets[0].expose_secret(),
        "from-file-secret-0123456789abcdefgh"
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
        gong_webhook_secrets: Some("[\"a-long-enough-secret-value-0123456789\"]".into()),
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

#[test]
fn production_warnings_name_what_to_set() {
    let secret = r#"["0123456789abcdef0123456789abcdef"]"#;
    let signed = |public_url: Option<&str>| RawConfig {
        gong_webhook_secrets: Some(secret.into()),
        gong_webhook_public_url: public_url.map(Into::into),
        ..Default::default()
    };
    let warnings = Config::from_raw(signed(None)).unwrap().warnings();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(warnings[0].starts_with("GONG_WEBHOOK_PUBLIC_URL is not set"));
    assert!(warnings[0].contains("set it to the external URL prefix"));
    let set = signed(Some("https://relay.example.com"));
    assert!(Config::from_raw(set).unwrap().warnings().is_empty());

    let url_keys = RawConfig {
        gong_webhook_url_keys: Some(r#"["0123456789abcdef0123456789abcdef"]"#.into()),
        gong_webhook_allow_unsigned: Some("true".into()),
        ..Default::default()
    };
    let warnings = Config::from_raw(url_keys).unwrap().warnings();
    assert_eq!(warnings.len(), 2, "{warnings:?}");
    assert!(warnings[0].contains("URL keys are the weakest method"));
    assert!(warnings[1].contains("GONG_WEBHOOK_ALLOW_UNSIGNED is ignored"));
    // Nothing to warn about for a trial without keys (check_serve decides that one).
    assert!(
        Config::from_raw(RawConfig::default())
            .unwrap()
            .warnings()
            .is_empty()
    );
}

#[test]
fn the_body_budget_must_hold_one_whole_body() {
    let raw = RawConfig {
        max_body_bytes: Some("2000000".into()),
        max_body_bytes_in_flight: Some("1000000".into()),
        request_timeout: Some("0".into()),
        ..Default::default()
    };
    let err = Config::from_raw(raw).unwrap_err();
    assert_eq!(
        err.0,
        [
            "MAX_BODY_BYTES_IN_FLIGHT: must be at least MAX_BODY_BYTES (2000000), or a body of the allowed size could never be read",
            "REQUEST_TIMEOUT: must be at least 1s",
        ]
    );
}

/// HS256 secrets and URL keys shorter than 32 bytes are refused at start, one line per
/// entry that names the variable and the entry, never the value.
#[test]
fn secrets_and_url_keys_need_32_bytes() {
    let short = "thirty-one-bytes-long-secret-31";
    assert_eq!(short.len(), 31);
    let raw = RawConfig {
        gong_webhook_secrets: Some(format!(r#"["{}", "{short}"]"#, "s".repeat(32))),
        gong_webhook_url_keys: Some(format!(r#"["{short}"]"#)),
        ..Default::default()
    };
    let err = Config::from_raw(raw).unwrap_err();
    assert_eq!(
        err.0,
        [
            "GONG_WEBHOOK_SECRETS: entry 2 is shorter than 32 bytes; use a random value of at least 32 bytes",
            "GONG_WEBHOOK_URL_KEYS: entry 1 is shorter than 32 bytes; use a random value of at least 32 bytes",
        ]
    );
    assert!(!err.to_string().contains(short));
}

#[test]
fn retention_is_validated() {
    let raw = RawConfig {
        inbox_retention: Some("0".into()),
        history_retention: Some("soon".into()),
        ..Default::default()
    };
    let err = Config::from_raw(raw).unwrap_err().to_string();
    assert!(err.contains("INBOX_RETENTION"), "{err}");
    assert!(err.contains("HISTORY_RETENTION"), "{err}");
    let raw = RawConfig {
        inbox_retention: Some("2d".into()),
        history_retention: Some("30d".into()),
        ..Default::default()
    };
    let c = Config::from_raw(raw).unwrap();
    assert_eq!(c.inbox_retention, Duration::from_secs(2 * 86400));
    assert_eq!(c.history_retention, Some(Duration::from_secs(30 * 86400)));
}

#[test]
fn listener_variables_have_the_designs_defaults_and_are_checked() {
    let c = Config::from_raw(RawConfig::default()).unwrap();
    assert_eq!(c.admin_bind_addr, None);
    assert_eq!(c.max_connections, 4096);
    assert_eq!(c.header_read_timeout, Duration::from_secs(10));
    assert_eq!(c.drain_period, Duration::from_secs(5));

    let raw = RawConfig {
        admin_bind_addr: Some("127.0.0.1:9090".into()),
        max_connections: Some("64".into()),
        header_read_timeout: Some("2s".into()),
        drain_period: Some("0".into()),
        ..RawConfig::default()
    };
    let c = Config::from_raw(raw).unwrap();
    assert_eq!(c.admin_bind_addr.unwrap().to_string(), "127.0.0.1:9090");
    assert_eq!(c.max_connections, 64);
    assert_eq!(c.header_read_timeout, Duration::from_secs(2));
    assert_eq!(c.drain_period, Duration::ZERO);

    let raw = RawConfig {
        bind_addr: Some("0.0.0.0:8080".into()),
        admin_bind_addr: Some("0.0.0.0:8080".into()),
        max_connections: Some("0".into()),
        header_read_timeout: Some("0".into()),
        drain_period: Some("soon".into()),
        ..RawConfig::default()
    };
    let e = Config::from_raw(raw).unwrap_err();
    let vars: Vec<&str> = e.0.iter().map(|l| l.split(':').next().unwrap()).collect();
    assert_eq!(
        vars,
        [
            "ADMIN_BIND_ADDR",
            "MAX_CONNECTIONS",
            "HEADER_READ_TIMEOUT",
            "DRAIN_PERIOD"
        ],
        "{e}"
    );
    let raw = RawConfig {
        admin_bind_addr: Some("localhost".into()),
        ..RawConfig::default()
    };
    assert!(Config::from_raw(raw).is_err());
}

#[test]
fn snowflake_takes_exactly_one_way_to_log_in() {
    let base = || RawConfig {
        snowflake_account: Some("acme".into()),
        snowflake_user: Some("loader".into()),
        ..Default::default()
    };
    let c = Config::from_raw(RawConfig {
        snowflake_private_key: Some("-----BEGIN ENCRYPTED PRIVATE KEY-----".into()),
        snowflake_private_key_passphrase: Some("pass".into()),
        snowflake_pool_size: Some("2".into()),
        ..base()
    })
    .unwrap();
    let sf = c.snowflake.unwrap();
    assert!(matches!(
        sf.auth,
        SnowflakeAuth::KeyPair {
            passphrase: Some(_),
            ..
        }
    ));
    assert_eq!(sf.pool_size, 2);
    let c = Config::from_raw(RawConfig {
        snowflake_oauth_token: Some("token".into()),
        ..base()
    })
    .unwrap();
    assert!(matches!(c.snowflake.unwrap().auth, SnowflakeAuth::OAuth(_)));

    let err = Config::from_raw(RawConfig {
        snowflake_password: Some("pw".into()),
        snowflake_oauth_token: Some("token".into()),
        ..base()
    })
    .unwrap_err();
    assert!(err.to_string().contains("set only one of"), "{err}");
    let err = Config::from_raw(base()).unwrap_err();
    assert!(
        err.to_string().contains("none of SNOWFLAKE_PASSWORD"),
        "{err}"
    );
    let err = Config::from_raw(RawConfig {
        snowflake_password: Some("pw".into()),
        snowflake_private_key_passphrase: Some("pass".into()),
        ..base()
    })
    .unwrap_err();
    assert!(
        err.to_string()
            .contains("SNOWFLAKE_PRIVATE_KEY_PASSPHRASE: is set but"),
        "{err}"
    );
    // No secret in any of these messages.
    assert!(!err.to_string().contains("pass\"") && !err.to_string().contains("pw"));
}

/// For `serve`, a missing verification method is one line among the others, not an error
/// of its own after them.
#[test]
fn serve_lists_missing_verification_with_the_other_problems() {
    let raw = RawConfig {
        log_format: Some("xml".into()),
        ..Default::default()
    };
    let err = Config::from_raw_for_serve(raw).unwrap_err();
    assert_eq!(err.0.len(), 2, "{err}");
    assert_eq!(err.0[0], "LOG_FORMAT: must be json or pretty");
    assert!(err.0[1].starts_with("no webhook verification configured"));
    // The other commands do not receive webhooks: they need no method.
    assert!(Config::from_raw(RawConfig::default()).is_ok());
}

#[test]
fn log_level_takes_levels_and_tracing_filters() {
    assert_eq!(log_filter("").unwrap(), "info");
    assert_eq!(log_filter("warning").unwrap(), "warn");
    assert_eq!(log_filter("WARN").unwrap(), "warn");
    assert_eq!(
        log_filter("info,gong_relay=debug").unwrap(),
        "info,gong_relay=debug"
    );
    assert_eq!(log_filter("gong_relay=warning").unwrap(), "gong_relay=warn");
    // tracing would read a bare word as a target and silence everything else.
    let err = log_filter("loud").unwrap_err();
    assert!(err.starts_with("\"loud\" is not a level"), "{err}");
    assert!(log_filter("info,gong_relay=loud").is_err());

    let err = Config::from_raw(RawConfig {
        log_level: Some("loud".into()),
        ..Default::default()
    })
    .unwrap_err();
    assert_eq!(err.0.len(), 1);
    assert!(err.0[0].starts_with("LOG_LEVEL: \"loud\" is not a level"));
}
