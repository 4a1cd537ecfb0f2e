//! `gong-relay demo`, the command a newcomer runs first: the real service and simulator,
//! the whole flow, a readable report, exit 0.

use std::path::Path;

use gong_relay::store::Store;
use gong_relay::warehouse::{self, CALLS, RAW};

/// Runs `gong-relay demo --calls N --exit` in `dir`, with `DATABASE_URL` naming a store
/// that must be left alone; returns the report.
fn run_demo(dir: &Path, calls: usize, database_url: &str) -> String {
    run_demo_with(dir, calls, &[("DATABASE_URL", database_url.to_owned())])
}

/// [`run_demo`] with a clean environment plus `env`.
fn run_demo_with(dir: &Path, calls: usize, env: &[(&str, String)]) -> String {
    let out = demo(dir, &["--calls", &calls.to_string(), "--exit"], env)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// `gong-relay demo` with `args` in `dir`, with a clean environment plus `env`.
fn demo(dir: &Path, args: &[&str], env: &[(&str, String)]) -> std::process::Command {
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let args: Vec<&str> = std::iter::once("demo")
        .chain(args.iter().copied())
        .collect();
    crate::helpers::relay_command(dir, &args, &env)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_shows_the_whole_flow_and_exits() {
    let dir = tempfile::tempdir().unwrap();
    // A DATABASE_URL in the environment (or a .env) must not receive the sample data.
    let real = dir.path().join("real.db");
    let real_url = format!("sqlite://{}", real.display());
    let r = run_demo(dir.path(), 4, &real_url);
    // Four calls, the email and the meeting.
    assert_eq!(r.matches("-> 200 {\"event_id\"").count(), 6, "{r}");
    assert!(
        r.contains("fired again") && r.contains("\"duplicate\":true"),
        "{r}"
    );
    assert!(
        r.contains("sent again") && r.matches("\"duplicate\":true").count() == 2,
        "{r}"
    );
    assert!(r.contains("\"error\":\"body_hash_mismatch\""), "{r}");
    assert!(r.contains("gong_calls_enhanced 4"), "{r}");
    assert!(!real.exists(), "the configured store was left alone");

    // Every call enhanced from the simulator, with a priority; notified.
    let demo_db = dir.path().join("gong-relay-demo.db");
    let store = Store::connect(&format!("sqlite://{}", demo_db.display()).into())
        .await
        .unwrap();
    let wh = warehouse::open(&store);
    let raw_rows = wh.select(&RAW, "kind", "call").await.unwrap();
    assert_eq!(raw_rows.len(), 4, "{raw_rows:?}");
    for raw in raw_rows {
        let id = raw["source_id"].as_str().unwrap();
        let row = wh.fetch(&CALLS, id).await.unwrap().expect("a row per call");
        assert_eq!(row["enhanced"], serde_json::json!(true), "{row:?}");
        assert!(row["priority"].as_str().is_some(), "{row:?}");
    }
    // Every event was notified: its result is in the outbox.
    let notified = store.outbox_entries().await.unwrap();
    let results = notified
        .iter()
        .filter(|n| n.message_type.ends_with("_processed"));
    assert_eq!(results.count(), 6, "4 calls, 1 email, 1 meeting");
    store.close().await;

    // A second run starts from an empty demo store: its counts are its own (2 calls, the
    // email and the meeting).
    let again = run_demo(dir.path(), 2, &real_url);
    assert!(again.contains("gong_webhooks_raw 4 row(s)"), "{again}");
}

/// The blocks of "What agents hear": each event's first line (priority, kind, title) and
/// its `to` line (the channels).
fn heard(report: &str) -> Vec<(String, String)> {
    let mut blocks = Vec::new();
    let mut head: Option<String> = None;
    for line in report.lines() {
        let is_head = line.len() > 3
            && line[3..].starts_with(|c: char| c.is_ascii_uppercase())
            && ["URGENT ", "HIGH ", "MEDIUM ", "LOW "]
                .iter()
                .any(|p| line[3..].starts_with(p));
        if is_head {
            head = Some(line.trim().to_owned());
        } else if let (Some(h), Some(to)) = (&head, line.trim().strip_prefix("to    ")) {
            blocks.push((h.clone(), to.to_owned()));
            head = None;
        }
    }
    blocks
}

/// The first look shows what the product is for: the four priorities on calls shaped for
/// them, one email and one meeting, each with why and the channels it goes to.
#[test]
fn the_demo_shows_each_priority_an_email_and_a_meeting_with_their_channels() {
    let dir = tempfile::tempdir().unwrap();
    let r = run_demo_with(dir.path(), 4, &[]);
    let expected = [
        (
            "URGENT  call     Northwind renewal review",
            "sophia:gong:calls, sophia:gong:priority:urgent;",
        ),
        (
            "HIGH    call     Globex discovery call",
            "sophia:gong:calls, sophia:gong:priority:high;",
        ),
        (
            "MEDIUM  call     Initech onboarding check-in",
            "sophia:gong:calls",
        ),
        ("LOW     call     Umbrella quick sync", "sophia:gong:calls"),
        (
            "MEDIUM  email    Pricing for 50 more seats",
            "sophia:gong:emails;",
        ),
        (
            "URGENT  meeting  Northwind renewal review",
            "sophia:gong:meetings, sophia:gong:priority:urgent;",
        ),
    ];
    let blocks = heard(&r);
    assert_eq!(blocks.len(), expected.len(), "{r}");
    for ((head, to), (want_head, want_to)) in blocks.iter().zip(expected) {
        assert_eq!(head, want_head, "{r}");
        assert!(to.starts_with(want_to), "{head}: {to}\n{r}");
    }
    assert!(
        r.contains("why   Churn risk: cancel; Northwind - Renewal is worth 480000"),
        "{r}"
    );
    assert!(r.contains("why   Competitor mentioned: Chorus"), "{r}");
    assert!(r.contains("why   a short call with no risk signal"), "{r}");
    assert!(r.contains("next steps on sophia:gong:actions"), "{r}");
    assert!(r.contains("set REDIS_URL to publish them"), "{r}");
}

/// `--calls 0` is refused with the reason; `--calls 100` details the first ten calls and
/// sums up the rest in a table.
#[test]
fn the_demo_refuses_no_calls_and_sums_up_many() {
    let dir = tempfile::tempdir().unwrap();
    let out = demo(dir.path(), &["--calls", "0", "--exit"], &[])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(
            "invalid value '0' for '--calls <CALLS>': must be at least 1: the demo sends that \
             many sample call webhooks"
        ),
        "{stderr}"
    );
    assert!(!dir.path().join("gong-relay-demo.db").exists());

    let r = run_demo_with(dir.path(), 100, &[]);
    assert!(r.lines().count() < 100, "{} lines:\n{r}", r.lines().count());
    assert_eq!(
        r.matches("-> 200 {\"event_id\"").count(),
        12,
        "10 calls, email, meeting"
    );
    assert!(
        r.contains("   ... 100 call webhook(s) in all, answered 100 x 200"),
        "{r}"
    );
    assert!(r.contains("   ... 90 more call(s): see the summary"), "{r}");
    assert_eq!(heard(&r).len(), 12, "{r}");
    let calls_row = r.lines().find(|l| l.starts_with("   call ")).unwrap();
    let counted: usize = calls_row
        .split_whitespace()
        .skip(1)
        .map(|n| n.parse::<usize>().unwrap())
        .sum();
    assert_eq!(counted, 100, "{calls_row}");
    assert!(
        r.contains("   priority   urgent    high  medium     low"),
        "{r}"
    );
    assert!(
        r.contains("   status   done 102, dead-lettered 0, still queued 0"),
        "{r}"
    );
    assert!(
        r.contains("   Gong API ") && r.contains("/v2/calls/extensive"),
        "{r}"
    );
}

/// A second demo in the same folder while one runs is refused and leaves the running one's
/// store alone; once that one is gone (even killed), the next run goes ahead.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_demo_waits_for_the_first() {
    use std::io::{BufRead, BufReader};
    let dir = tempfile::tempdir().unwrap();
    let mut first = demo(dir.path(), &["--calls", "1"], &[])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let stdout = first.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines().map_while(Result::ok);
    let base = lines
        .by_ref()
        .find_map(|l| {
            let rest = l.trim().strip_prefix("service")?.trim().to_owned();
            Some(rest.split_whitespace().next()?.to_owned())
        })
        .unwrap();
    assert!(lines.any(|l| l == "Serving until Ctrl-C."));

    let out = demo(dir.path(), &["--calls", "1", "--exit"], &[])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(
        stderr.trim(),
        "error: another demo is running in this folder (it holds gong-relay-demo.db): stop it \
         (Ctrl-C), or run this one from another folder"
    );
    // The first demo still serves from its store.
    let health = reqwest::get(format!("{base}/health")).await.unwrap();
    let health: serde_json::Value = health.json().await.unwrap();
    assert_eq!(health["dependencies"]["store"]["status"], "ok", "{health}");

    first.kill().unwrap();
    first.wait().unwrap();
    let r = run_demo_with(dir.path(), 1, &[]);
    assert!(r.contains("gong_webhooks_raw 3 row(s)"), "{r}");
}

/// `WAREHOUSE=snowflake` with the `SNOWFLAKE_*` variables points the demo's warehouse at
/// Snowflake (here its stand-in): the report names it and counts the rows there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_can_write_to_snowflake() {
    let Some(standin) = crate::standin::Standin::shared() else {
        return;
    };
    let cfg = standin.config();
    let dir = tempfile::tempdir().unwrap();
    let r = run_demo_with(
        dir.path(),
        3,
        &[
            ("WAREHOUSE", "snowflake".into()),
            ("SNOWFLAKE_ACCOUNT", cfg.account.clone()),
            ("SNOWFLAKE_USER", cfg.user.clone()),
            ("SNOWFLAKE_PASSWORD", "secret".into()),
            ("SNOWFLAKE_DATABASE", cfg.database.clone()),
            ("SNOWFLAKE_HOST", cfg.host.clone()),
        ],
    );
    assert!(
        r.contains(&format!(
            "warehouse: Snowflake {}.GONG_WEBHOOKS",
            cfg.database
        )),
        "{r}"
    );
    assert!(r.contains("gong_calls_enhanced 3"), "{r}");
    let wh = gong_relay::warehouse::SnowflakeWarehouse::new(&cfg).unwrap();
    assert_eq!(
        gong_relay::warehouse::Warehouse::count(&wh, &CALLS)
            .await
            .unwrap(),
        3
    );
}
