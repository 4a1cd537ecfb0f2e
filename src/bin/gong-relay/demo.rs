//! `gong-relay demo`: the whole flow on one screen, with nothing to set up. The real
//! service (the same `app::start` as `serve`) runs on a SQLite file of its own, with the
//! built-in Gong simulator as the Gong API; signed sample webhooks go in over HTTP like
//! Gong's, and what came out is printed: the answers, the warehouse rows with their
//! insights, and the notifications.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use std::process::ExitCode;

use clap::Args;
use gong_relay::app::{self, AppError, RunningApp};
use gong_relay::config::{Config, ConfigError, RawConfig};
use gong_relay::notify::MessageType;
use gong_relay::store::{OutboxEntry, StoreError};
use gong_relay::telemetry;
use gong_relay::verify::now_ms;
use gong_relay::warehouse::{CALLS, HISTORY, RAW, WarehouseError};
use gong_sim::{self as simulator, RuleKey, SimConfig, SimError, SimHandle};

#[derive(Args)]
pub struct DemoArgs {
    /// How many sample call webhooks to send.
    #[arg(long, default_value_t = 5)]
    pub calls: usize,
    /// Exit after printing instead of serving on.
    #[arg(long)]
    pub exit: bool,
}

pub fn main(mut raw: RawConfig, args: DemoArgs) -> ExitCode {
    // The report is the point (and shows the refused webhooks): the log only speaks up
    // for errors, unless asked.
    if raw.log_level.is_none() {
        raw.log_level = Some("error".into());
    }
    let format = match raw.log_format.as_deref().map(str::trim) {
        Some("pretty") => gong_relay::config::LogFormat::Pretty,
        _ => gong_relay::config::LogFormat::Json,
    };
    telemetry::init_logging(format, raw.log_level.as_deref().unwrap_or("error"));
    crate::block_on(async {
        let here = std::path::Path::new(".");
        let demo = run(raw, here, args.calls, !args.exit).await?;
        print!("{}", demo.report);
        if !args.exit {
            println!("\nServing until Ctrl-C.");
            crate::shutdown_signal().await;
        }
        demo.shutdown().await?;
        Ok::<(), DemoError>(())
    })
}

/// The demo's own store and warehouse, recreated at each run: sample data never goes into
/// a real store (not even one named by `DATABASE_URL` in a `.env`), and the report's
/// counts are this run's.
pub const DEMO_DATABASE: &str = "gong-relay-demo.db";

#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error("configuration error:\n{0}")]
    Config(#[from] ConfigError),
    #[error(transparent)]
    App(#[from] AppError),
    #[error("Gong simulator: {0}")]
    Simulator(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Warehouse(#[from] WarehouseError),
    #[error("sending a webhook failed: {0}")]
    Send(#[from] reqwest::Error),
    #[error("cannot recreate {DEMO_DATABASE}: {0}")]
    Reset(std::io::Error),
    #[error("the events were not processed within {0:?}; see the log")]
    Timeout(Duration),
}

impl From<SimError> for DemoError {
    fn from(e: SimError) -> Self {
        DemoError::Simulator(e.to_string())
    }
}

/// The running demo: the service and its simulated Gong.
pub struct Demo {
    pub app: RunningApp,
    pub sim: SimHandle,
    /// What happened, as printed.
    pub report: String,
}

impl Demo {
    pub async fn shutdown(self) -> Result<(), DemoError> {
        self.app.shutdown().await?;
        self.sim.shutdown().await;
        Ok(())
    }
}

/// Starts the simulator and the service, sends `calls` signed call webhooks (plus a
/// re-delivery and a tampered one), waits until they are processed and reports.
/// `raw` is the user's configuration: the webhook key, the Gong API and the store
/// ([`DEMO_DATABASE`] in `dir`, recreated) are the demo's; the listener is loopback.
pub async fn run(
    mut raw: RawConfig,
    dir: &std::path::Path,
    calls: usize,
    keep_serving: bool,
) -> Result<Demo, DemoError> {
    let sim = simulator::start(SimConfig {
        bind: ([127, 0, 0, 1], 0).into(),
        calls: calls.max(1) + 20,
        ..SimConfig::default()
    })
    .await
    .map_err(|e| DemoError::Simulator(e.to_string()))?;
    let key = RuleKey::generate();
    raw.gong_webhook_public_keys = Some(json!([key.public_key_base64()]).to_string());
    raw.gong_webhook_public_keys_file = None;
    raw.gong_api_key = Some("sim-key:sim-secret".into());
    raw.gong_api_key_file = None;
    raw.gong_api_bearer_token = None;
    raw.gong_api_bearer_token_file = None;
    raw.gong_api_base_url = Some(sim.base_url());
    // The simulator's corpus lies in the past: the reconciler would queue all of it.
    raw.gong_reconcile_interval = Some("0".into());
    let db_path = dir.join(DEMO_DATABASE);
    for suffix in ["", "-wal", "-shm"] {
        let mut p = db_path.clone().into_os_string();
        p.push(suffix);
        match std::fs::remove_file(&p) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(DemoError::Reset(e)),
        }
    }
    raw.database_url = Some(format!("sqlite://{}", db_path.display()));
    raw.database_url_file = None;
    // The warehouse is the demo's SQLite file too, unless WAREHOUSE=snowflake is asked for
    // explicitly (with the SNOWFLAKE_* variables): then the sample rows go there, to try a
    // Snowflake account (or the test stand-in) end to end.
    let to_snowflake = raw
        .warehouse
        .as_deref()
        .is_some_and(|w| w.trim().eq_ignore_ascii_case("snowflake"));
    if !to_snowflake {
        raw.warehouse = Some("sqlite".into());
    }
    // A loopback demo has no load balancer to drain: Ctrl-C stops it at once.
    raw.drain_period.get_or_insert_with(|| "0".into());
    if raw.bind_addr.is_none() {
        // A free loopback port, known before the start so that the webhook URL claim can
        // be checked as in production (GONG_WEBHOOK_PUBLIC_URL).
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .unwrap_or(0);
        raw.bind_addr = Some(format!("127.0.0.1:{port}"));
        if port != 0 && raw.gong_webhook_public_url.is_none() {
            raw.gong_webhook_public_url = Some(format!("http://127.0.0.1:{port}"));
        }
    }
    let config = Config::from_raw(raw)?;
    let store_url = redact_url(&config);
    let storage = match (&config.snowflake, to_snowflake) {
        (Some(sf), true) => format!(
            "store: {store_url}, warehouse: Snowflake {}.{} at {}",
            sf.database, sf.schema, sf.host
        ),
        _ => format!("store and warehouse: {store_url}"),
    };
    let redis = config.redis_url.is_some();
    let app = app::start(config).await?;
    let base = format!("http://{}", app.addr());

    let mut out = String::new();
    let _ = writeln!(out, "gong-relay demo");
    let _ = writeln!(out, "  service      {base}  ({storage})");
    let _ = writeln!(
        out,
        "  Gong API     {}  (the built-in simulator, 3 requests/s like Gong)",
        sim.base_url()
    );
    let _ = writeln!(
        out,
        "  webhook key  a generated RS256 automation-rule key, as Gong signs\n"
    );

    let sample: Vec<Value> = sim.calls().into_iter().take(calls.max(1)).collect();
    let call_ids: Vec<String> = sample
        .iter()
        .filter_map(|c| c["metaData"]["id"].as_str().map(str::to_owned))
        .collect();
    let http = reqwest::Client::new();
    let url = format!("{base}/webhook/gong/calls");
    let _ = writeln!(out, "1. Gong posts {} call webhook(s)", sample.len());
    let mut first: Option<(Vec<u8>, String)> = None;
    for call in &sample {
        let body =
            serde_json::to_vec(&json!({"callData": call, "isTest": false})).unwrap_or_default();
        let token = key.sign(&url, &body, Duration::from_secs(300));
        let (status, answer) = post(&http, &url, &body, &token).await?;
        let _ = writeln!(
            out,
            "   {:<44} -> {status} {answer}",
            clip(
                call["metaData"]["title"].as_str().unwrap_or("(untitled)"),
                44
            )
        );
        first.get_or_insert((body, token));
    }
    if let Some((body, token)) = first {
        // What Gong does when a rule fires again for the same call: a new token (RS256
        // signatures are deterministic, so within the same second only another expiry
        // makes the token new).
        let again = key.sign(&url, &body, Duration::from_secs(301));
        let (status, answer) = post(&http, &url, &body, &again).await?;
        let _ = writeln!(
            out,
            "   {:<44} -> {status} {answer}",
            "the first call, fired again"
        );
        // What a proxy that lost our 200 sends (or an attacker who captured the request):
        // the same token and body, answered with the event they were accepted as.
        let (status, answer) = post(&http, &url, &body, &token).await?;
        let _ = writeln!(
            out,
            "   {:<44} -> {status} {answer}",
            "the first request, sent again"
        );
        let mut tampered = body.clone();
        if let Some(b) = tampered.iter_mut().rev().find(|b| b.is_ascii_digit()) {
            *b = if *b == b'9' { b'0' } else { *b + 1 };
        }
        let fresh = key.sign(&url, &body, Duration::from_secs(302));
        let (status, answer) = post(&http, &url, &tampered, &fresh).await?;
        let _ = writeln!(
            out,
            "   {:<44} -> {status} {answer}",
            "a valid token on a changed body"
        );
    }

    // Processing: each call's data is fetched from Gong in one batched request each for
    // extensive data and transcripts, under Gong's rate limit.
    let started = Instant::now();
    let limit = Duration::from_secs(90);
    loop {
        let q = app.store().queue_stats(now_ms()).await?;
        if q.pending + q.processing + q.retrying == 0 && q.done + q.dead > 0 {
            break;
        }
        if started.elapsed() > limit {
            return Err(DemoError::Timeout(limit));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let wh = app.pipeline().warehouse().clone();
    let gong_requests = sim.requests().len();
    let _ = writeln!(
        out,
        "\n2. Processed in {:.1} s with {gong_requests} Gong API request(s) \
         (call ids batched into calls/extensive and calls/transcript)",
        started.elapsed().as_secs_f64()
    );
    let _ = writeln!(
        out,
        "   warehouse: gong_webhooks_raw {} row(s), gong_calls_enhanced {}, webhook_processing_history {}",
        wh.count(&RAW).await?,
        wh.count(&CALLS).await?,
        wh.count(&HISTORY).await?
    );

    let _ = writeln!(out, "\n3. gong_calls_enhanced");
    for id in &call_ids {
        let Some(row) = wh.fetch(&CALLS, id).await? else {
            let _ = writeln!(out, "   {id}: no row (see `gong-relay dlq list`)");
            continue;
        };
        let insights: Vec<&str> = row["insights"]
            .as_array()
            .map(|a| a.iter().filter_map(|i| i["kind"].as_str()).collect())
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "   {:<40} priority {:<6} sentiment {:>5} quality {:.2} enhanced {}",
            clip(row["title"].as_str().unwrap_or(id), 40),
            row["priority"].as_str().unwrap_or("-"),
            row["sentiment_score"]
                .as_f64()
                .map(|s| format!("{s:+.2}"))
                .unwrap_or_else(|| "-".into()),
            row["data_quality_score"].as_f64().unwrap_or(0.0),
            row["enhanced"],
        );
        if !insights.is_empty() {
            let _ = writeln!(out, "     insights: {}", dedup(&insights).join(", "));
        }
        if let Some(step) = row["next_steps"]
            .as_array()
            .and_then(|s| s.first())
            .and_then(Value::as_str)
        {
            let _ = writeln!(out, "     next step: {}", clip(step, 90));
        }
    }

    if redis {
        // The publisher was woken by each batch: give it a moment to drain.
        let deadline = Instant::now() + Duration::from_secs(10);
        while app.store().outbox_pending().await? > 0 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    let outbox = app.store().outbox_entries().await?;
    let published = outbox
        .iter()
        .filter(|n| n.published_at_ms.is_some())
        .count();
    let where_ = if redis {
        format!("{published} published to Redis; `gong-relay watch` shows them live")
    } else {
        "Redis publishing is not configured: they wait in the outbox".to_owned()
    };
    let _ = writeln!(out, "\n4. {} notification(s): {where_}", outbox.len());
    // One line per event: its result, and how many insight and action messages came with it.
    let mut by_event: Vec<(&str, Vec<&OutboxEntry>)> = Vec::new();
    for n in &outbox {
        match by_event.iter_mut().find(|(e, _)| *e == n.event_id) {
            Some((_, list)) => list.push(n),
            None => by_event.push((&n.event_id, vec![n])),
        }
    }
    for (_, list) in &by_event {
        let of_type = |n: &&&OutboxEntry| MessageType::parse(&n.message_type);
        let Some(main) = list
            .iter()
            .find(|n| of_type(n).is_some_and(MessageType::is_result))
        else {
            continue;
        };
        let insights = list
            .iter()
            .filter(|n| of_type(n) == Some(MessageType::Insight))
            .count();
        let actions = list
            .iter()
            .any(|n| of_type(&n) == Some(MessageType::ActionRequired));
        let _ = writeln!(
            out,
            "   {:<16} {:<7} {}  (+{insights} insight(s){})",
            main.message_type,
            main.priority,
            main.notification_id,
            if actions { ", action_required" } else { "" }
        );
    }
    let query = format!(
        "sqlite3 {} 'select call_id, priority from gong_calls_enhanced'",
        db_path.display()
    );
    if keep_serving {
        let _ = writeln!(
            out,
            "\nTry: curl -s {base}/health · curl -s {base}/metrics | grep gong_ · {query}"
        );
    } else {
        let _ = writeln!(out, "\nThe rows stay in {}: {query}", db_path.display());
    }
    Ok(Demo {
        app,
        sim,
        report: out,
    })
}

async fn post(
    http: &reqwest::Client,
    url: &str,
    body: &[u8],
    token: &str,
) -> Result<(u16, String), DemoError> {
    let res = http
        .post(url)
        .header("content-type", "application/json")
        .header("authorization", token)
        .body(body.to_vec())
        .send()
        .await?;
    let status = res.status().as_u16();
    let text = res.text().await?;
    Ok((status, text.trim().to_owned()))
}

/// The store URL without credentials, for the banner.
fn redact_url(config: &Config) -> String {
    use secrecy::ExposeSecret;
    let url = config.database_url.expose_secret();
    match url.split_once('@') {
        Some((scheme_user, host)) => {
            let scheme = scheme_user.split("://").next().unwrap_or("");
            format!("{scheme}://…@{host}")
        }
        None => url.to_owned(),
    }
}

fn clip(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_owned()
    } else {
        let mut c: String = s.chars().take(n - 1).collect();
        c.push('…');
        c
    }
}

fn dedup<'a>(items: &[&'a str]) -> Vec<&'a str> {
    let mut seen = Vec::new();
    for i in items {
        if !seen.contains(i) {
            seen.push(*i);
        }
    }
    seen
}
