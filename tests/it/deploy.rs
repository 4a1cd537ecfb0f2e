//! The deployment files (`deploy/`) against the code, so that they cannot rot: every metric
//! the Grafana dashboard or an alert rule queries is one the service exports, read from a
//! live `/metrics` after real traffic.

use std::collections::BTreeSet;
use std::path::PathBuf;

use gong_relay::telemetry::ALL_METRICS;
use serde_json::Value;

use crate::helpers::*;
use crate::pipeline::{post_calls, start, stop, wait_all};

fn deploy_file(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("deploy")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The PromQL expressions of the dashboard's panels.
fn dashboard_exprs() -> Vec<String> {
    let dash: Value = serde_json::from_str(&deploy_file("grafana/gong-relay.json")).unwrap();
    let panels = dash["panels"].as_array().expect("panels");
    assert!(panels.len() >= 10, "{} panels", panels.len());
    panels
        .iter()
        .flat_map(|p| p["targets"].as_array().cloned().unwrap_or_default())
        .map(|t| t["expr"].as_str().expect("a target's expr").to_owned())
        .collect()
}

/// The `expr:` values of the alert rules (one line each, by the file's convention).
fn alert_exprs() -> Vec<String> {
    deploy_file("prometheus/alerts.yml")
        .lines()
        .filter_map(|l| l.trim().strip_prefix("expr:"))
        .map(|e| e.trim().to_owned())
        .collect()
}

/// The metric names a PromQL expression reads: identifiers outside label matchers and
/// `by (...)` lists that are not followed by `(` (functions) and are not keywords, with a
/// histogram's `_bucket`/`_sum`/`_count` suffix taken off.
fn metrics_in(expr: &str) -> BTreeSet<String> {
    let mut text = String::new();
    let mut depth = 0;
    for c in expr.chars() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            _ if depth > 0 => {}
            _ => text.push(c),
        }
    }
    for clause in ["by (", "without ("] {
        while let Some(at) = text.find(clause) {
            let end = text[at..].find(')').map_or(text.len(), |e| at + e + 1);
            text.replace_range(at..end, " ");
        }
    }
    const KEYWORDS: [&str; 6] = ["and", "or", "unless", "on", "ignoring", "bool"];
    let mut out = BTreeSet::new();
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        if chars[i].is_ascii_alphabetic() || chars[i] == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            let next = chars[i..].iter().find(|c| !c.is_whitespace());
            if next != Some(&'(') && !KEYWORDS.contains(&word.as_str()) {
                let base = ["_bucket", "_sum", "_count"]
                    .iter()
                    .find_map(|s| word.strip_suffix(s))
                    .unwrap_or(&word);
                out.insert(base.to_owned());
            }
        } else if chars[i].is_ascii_digit() {
            // Numbers and durations (`5m`, `0.95`, `1000`).
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '.') {
                i += 1;
            }
        } else {
            i += 1;
        }
    }
    out
}

#[test]
fn metric_names_are_read_out_of_promql() {
    let got = metrics_in(
        r#"histogram_quantile(0.95, sum by (le, stage) (rate(webhook_processing_duration_seconds_bucket{stage="receipt"}[5m])))"#,
    );
    assert_eq!(
        got,
        BTreeSet::from(["webhook_processing_duration_seconds".to_owned()])
    );
    let got =
        metrics_in("min_over_time(outbox_pending[1m]) > 0 and sum(increase(x_total[1m])) == 0");
    assert_eq!(
        got,
        BTreeSet::from(["outbox_pending".to_owned(), "x_total".to_owned()])
    );
}

/// Metrics that a short run does not produce (a refused connection, a Gong 429, a Redis
/// publish): they are checked against the exported list instead of the live output.
const RARE: [&str; 4] = [
    "http_connections_refused_total",
    "api_rate_limit_hits_total",
    "notifications_published_total",
    "notification_publish_delay_seconds",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_and_alerts_query_only_exported_metrics() {
    let db = TestDb::new(Backend::Sqlite).await.unwrap();
    let (sim, app) = start(&db, |_| {}, |_| {}).await;
    let calls = sim.create_calls(3);
    let events = post_calls(&app, &calls).await;
    wait_all(&app, &events, "done", 60).await;
    // A refused webhook, for the verification-failure counter.
    let refused = app.post("/webhook/gong/calls", &call_body(), None).await;
    assert_eq!(refused.status(), 401);
    // The gauges are set by the background refresh (every 5 s).
    let live = eventually(15, "the queue gauges in /metrics", || async {
        let text = app.get_text("/metrics").await;
        let names: BTreeSet<String> = text
            .lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
            .filter_map(|l| l.split(['{', ' ']).next())
            .map(|n| {
                ["_bucket", "_sum", "_count"]
                    .iter()
                    .find_map(|s| n.strip_suffix(s))
                    .unwrap_or(n)
                    .to_owned()
            })
            .collect();
        names.contains("inbox_depth").then_some(names)
    })
    .await;

    let exprs: Vec<String> = dashboard_exprs().into_iter().chain(alert_exprs()).collect();
    assert!(alert_exprs().len() >= 5, "{:?}", alert_exprs());
    let mut queried = BTreeSet::new();
    for expr in &exprs {
        let names = metrics_in(expr);
        assert!(!names.is_empty(), "no metric in {expr}");
        queried.extend(names);
    }
    for name in &queried {
        if RARE.contains(&name.as_str()) {
            assert!(
                ALL_METRICS.contains(&name.as_str()),
                "{name} is not exported"
            );
        } else {
            assert!(
                live.contains(name),
                "{name} is not in a live /metrics: {live:?}"
            );
        }
    }
    // Every panel the issue asks for has its metric.
    for wanted in [
        "webhook_requests_total",
        "webhook_verification_failures_total",
        "inbox_depth",
        "outbox_pending",
        "dlq_depth",
        "gong_api_calls_total",
        "api_rate_limit_hits_total",
        "gong_api_daily_budget_remaining",
        "circuit_breaker_state",
        "webhook_processing_duration_seconds",
        "notification_publish_delay_seconds",
    ] {
        assert!(queried.contains(wanted), "nothing queries {wanted}");
    }
    stop(app, sim).await;
}

/// Every variable gong-relay reads, from its configuration's source (`env = "..."`).
fn config_variables() -> BTreeSet<String> {
    let raw = std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src/config/raw.rs"),
    )
    .unwrap();
    raw.split("env = \"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .map(str::to_owned)
        .collect()
}

/// The ESC example names only variables that exist, under `environmentVariables` (plain
/// values) and `files` (only `*_FILE` variables, which take a path).
#[test]
fn the_secret_manager_example_names_real_variables() {
    let known = config_variables();
    assert!(known.contains("DATABASE_URL") && known.contains("SNOWFLAKE_PRIVATE_KEY_FILE"));
    let text = deploy_file("esc/gong-relay-production.yaml");
    let mut section = "";
    let mut named = 0;
    for line in text.lines().filter(|l| !l.trim_start().starts_with('#')) {
        let indent = line.len() - line.trim_start().len();
        let trimmed = line.trim();
        if indent == 2 && trimmed.ends_with(':') {
            section = trimmed.trim_end_matches(':');
            continue;
        }
        if indent != 4 || !matches!(section, "environmentVariables" | "files") {
            continue;
        }
        let Some((name, _)) = trimmed.split_once(':') else {
            continue;
        };
        assert!(known.contains(name), "{name} is not a gong-relay variable");
        if section == "files" {
            assert!(
                name.ends_with("_FILE"),
                "{name} under files must take a path"
            );
        }
        named += 1;
    }
    assert!(named >= 10, "only {named} variables read from the example");
}
