//! The operator's commands run as the binary, as an operator would run them: what they
//! print is their interface.

use crate::helpers::relay_command;

/// Runs `gong-relay check-config` in an empty directory with a clean environment plus `env`.
fn check_config(env: &[(&str, &str)]) -> (bool, String) {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = relay_command(dir.path(), &["check-config"], env);
    let out = cmd.output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // A check changes nothing: no store appears in the folder it ran in.
    let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert!(left.is_empty(), "check-config left {left:?}\n{text}");
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
    // Run in an empty folder: the store is reported missing, not created.
    assert!(
        text.contains("store (sqlite): none at ./gong-relay.db yet"),
        "{text}"
    );
    assert!(text.contains("warehouse (snowflake): reachable"), "{text}");
}

/// `simulate-gong send` says why nothing was delivered: no answer (by kind, with counts)...
#[test]
fn simulate_send_reports_connection_errors() {
    let dir = tempfile::tempdir().unwrap();
    let out = relay_command(
        dir.path(),
        &[
            "simulate-gong",
            "send",
            "--to",
            "http://127.0.0.1:1/webhook/gong/calls",
            "--count",
            "2",
        ],
        &[],
    )
    .output()
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let sent = stdout.lines().find(|l| l.starts_with("sent ")).unwrap();
    assert!(
        sent.ends_with(": 0 accepted, 2 failed; statuses {}; errors {connection refused: 2}"),
        "{sent}"
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "error: 2 of 2 webhooks were not accepted\n"
    );
    assert_eq!(out.status.code(), Some(1));
}

/// ...or the first refusal's body, which names the reason (a signature no configured key verifies).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simulate_send_shows_the_first_refusal() {
    let db = crate::helpers::TestDb::new(crate::helpers::Backend::Sqlite)
        .await
        .unwrap();
    let app = crate::helpers::TestApp::spawn(&db).await;
    let to = app.url("/webhook/gong/calls");
    let dir = tempfile::tempdir().unwrap();
    let out = tokio::process::Command::from(relay_command(
        dir.path(),
        &["simulate-gong", "send", "--to", &to, "--count", "2"],
        &[],
    ))
    .output()
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let sent = stdout.lines().find(|l| l.starts_with("sent ")).unwrap();
    assert!(
        sent.ends_with(": 0 accepted, 2 failed; statuses {401: 2}; errors {}"),
        "{sent}"
    );
    let refusal = stdout
        .lines()
        .find(|l| l.starts_with("first refusal"))
        .unwrap();
    assert!(
        refusal.starts_with(r#"first refusal: 401 {"error":"bad_signature""#),
        "{refusal}"
    );
    assert_eq!(out.status.code(), Some(1));
    app.stop().await;
}

/// `gong-relay <command> --help`, in a clean environment.
fn help(command: &[&str]) -> String {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_gong-relay"))
        .args(command)
        .arg("--help")
        .env_clear()
        .output()
        .unwrap();
    assert!(out.status.success(), "{command:?}");
    String::from_utf8(out.stdout).unwrap()
}

/// Each command's help lists what it uses: the store's commands their store, `serve` every
/// variable under a heading per part, the simulator only its own flags.
#[test]
fn each_command_helps_with_what_it_uses() {
    for (command, most) in [
        (&["dlq", "list"][..], 12),
        (&["dlq", "retry"][..], 15),
        (&["reprocess"][..], 15),
        (&["backfill"][..], 15),
        (&["migrate"][..], 12),
        (&["watch"][..], 15),
    ] {
        let text = help(command);
        let lines = text.lines().count();
        assert!(lines <= most, "{command:?}: {lines} lines\n{text}");
        assert!(
            !text.contains("GONG_WEBHOOK_SECRETS"),
            "{command:?}\n{text}"
        );
        if command[0] != "watch" {
            assert!(text.contains("[env: DATABASE_URL]"), "{command:?}\n{text}");
        }
    }
    // Every option has its description, and `dlq retry` shows both of its forms.
    let retry = help(&["dlq", "retry"]);
    assert!(retry.contains("gong-relay dlq retry --all"), "{retry}");
    assert!(
        retry.contains("Requeue every dead-lettered event"),
        "{retry}"
    );
    assert!(help(&["dlq", "list"]).contains("Show at most this many events"));

    let serve = help(&["serve"]);
    for heading in [
        "Webhooks:",
        "Gong API:",
        "Store:",
        "Warehouse:",
        "Redis:",
        "HTTP:",
        "Processing:",
        "Logging:",
    ] {
        assert!(serve.lines().any(|l| l == heading), "{heading}\n{serve}");
    }
    let send = help(&["simulate-gong", "send"]);
    assert!(send.contains("How many webhooks to send"), "{send}");
    assert!(help(&["simulate-gong"]).contains("Seed of the generated corpus"));
    let sim = help(&["simulate-gong"]);
    assert!(!sim.contains("--gong-api-key"), "{sim}");
    assert!(sim.lines().count() < 60, "{sim}");
}
