//! The operator's commands run as the binary, as an operator would run them: what they
//! print is their interface.

/// Runs `gong-relay check-config` in an empty directory with a clean environment plus `env`.
fn check_config(env: &[(&str, &str)]) -> (bool, String) {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_gong-relay"));
    cmd.arg("check-config")
        .current_dir(dir.path())
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn check_config_warns_about_what_production_needs() {
    let secret = r#"["0123456789abcdef0123456789abcdef"]"#;
    let (ok, text) = check_config(&[("GONG_WEBHOOK_SECRETS", secret)]);
    assert!(ok, "{text}");
    assert!(
        text.contains("warning: GONG_WEBHOOK_PUBLIC_URL is not set"),
        "{text}"
    );

    let (ok, text) = check_config(&[
        ("GONG_WEBHOOK_SECRETS", secret),
        ("GONG_WEBHOOK_PUBLIC_URL", "https://relay.example.com"),
    ]);
    assert!(ok, "{text}");
    assert!(!text.contains("warning:"), "{text}");

    let (ok, text) = check_config(&[("GONG_WEBHOOK_URL_KEYS", secret)]);
    assert!(ok, "{text}");
    assert!(
        text.contains("warning: GONG_WEBHOOK_URL_KEYS: URL keys are the weakest method"),
        "{text}"
    );
    // The warning names the variable, never the key.
    assert!(!text.contains("0123456789abcdef"), "{text}");
}

/// `check-config` logs in to Snowflake (here its stand-in), creates what is missing and
/// runs its one cheap statement, and says the operational store is elsewhere.
#[test]
fn check_config_reaches_snowflake() {
    let Some(standin) = crate::standin::Standin::shared() else {
        return;
    };
    let cfg = standin.config();
    let secret = r#"["0123456789abcdef0123456789abcdef"]"#;
    let (ok, text) = check_config(&[
        ("GONG_WEBHOOK_SECRETS", secret),
        ("GONG_WEBHOOK_PUBLIC_URL", "https://relay.example.com"),
        ("SNOWFLAKE_ACCOUNT", &cfg.account),
        ("SNOWFLAKE_USER", &cfg.user),
        ("SNOWFLAKE_PASSWORD", "secret"),
        ("SNOWFLAKE_DATABASE", &cfg.database),
        ("SNOWFLAKE_HOST", &cfg.host),
    ]);
    assert!(ok, "{text}");
    assert!(text.contains("store (sqlite): reachable"), "{text}");
    assert!(text.contains("warehouse (snowflake): reachable"), "{text}");
}
