//! `gong-relay demo`: the whole flow on one screen, with nothing to set up. The real
//! service (the same `app::start` as `serve`) runs on a SQLite file of its own, with the
//! built-in Gong simulator as the Gong API; signed sample webhooks go in over HTTP like
//! Gong's, and what came out is printed: the answers, the warehouse rows with their
//! insights, and the notifications.
//!
//! One demo at a time per folder: a run holds a lock on `gong-relay-demo.db.lock` while it
//! uses the demo store, so a second run refuses instead of deleting a store still in use.

mod report;
mod sample;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::{Duration, Instant};

use serde_json::json;

use std::process::ExitCode;

use clap::Args;
use gong_relay::app::{self, AppError, RunningApp};
use gong_relay::config::{Config, ConfigError, RawConfig};
use gong_relay::notify::Names;
use gong_relay::store::StoreError;
use gong_relay::telemetry;
use gong_relay::verify::now_ms;
use gong_relay::warehouse::{CALLS, EMAILS, HISTORY, MEETINGS, RAW, WarehouseError};
use gong_sim::{self as simulator, RuleKey, SimConfig, SimError, SimHandle};

#[derive(Args)]
pub struct DemoArgs {
    /// How many sample call webhooks to send (at least 1): the first four show the four
    /// priorities, more come from the simulator's corpus. One email and one meeting are
    /// sent too.
    #[arg(long, default_value_t = 4, value_parser = at_least_one)]
    pub calls: usize,
    /// Exit after printing instead of serving on.
    #[arg(long)]
    pub exit: bool,
}

fn at_least_one(s: &str) -> Result<usize, String> {
    match s.trim().parse::<usize>() {
        Ok(0) => Err("must be at least 1: the demo sends that many sample call webhooks".into()),
        Ok(n) => Ok(n),
        Err(_) => Err("must be a whole number of calls, such as 4".into()),
    }
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
    #[error(
        "another demo is running in this folder (it holds {DEMO_DATABASE}): stop it (Ctrl-C), \
         or run this one from another folder"
    )]
    Busy,
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
    /// Held until the demo ends (closing the file releases the lock, also on a crash).
    _lock: std::fs::File,
}

impl Demo {
    pub async fn shutdown(self) -> Result<(), DemoError> {
        self.app.shutdown().await?;
        self.sim.shutdown().await;
        Ok(())
    }
}

/// Takes the folder's demo lock, or says another demo holds it. An OS lock on an open
/// file, not the file's existence: a demo that crashed leaves no stale lock behind.
fn lock(dir: &std::path::Path) -> Result<std::fs::File, DemoError> {
    let path = dir.join(format!("{DEMO_DATABASE}.lock"));
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(DemoError::Reset)?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(DemoError::Busy),
        Err(std::fs::TryLockError::Error(e)) => Err(DemoError::Reset(e)),
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
    let lock = lock(dir)?;
    let sim = simulator::start(SimConfig {
        bind: ([127, 0, 0, 1], 0).into(),
        calls: calls + 20,
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
    let prefix = config.redis_prefix.clone();
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

    let sample = sample::calls(&sim, calls);
    let call_ids: Vec<String> = sample
        .iter()
        .filter_map(|c| c["metaData"]["id"].as_str().map(str::to_owned))
        .collect();
    let http = reqwest::Client::new();
    let url = format!("{base}/webhook/gong/calls");
    let _ = writeln!(
        out,
        "1. Gong posts {} call webhook(s), 1 email and 1 meeting",
        sample.len()
    );
    let mut first: Option<(Vec<u8>, String)> = None;
    let mut statuses: BTreeMap<u16, usize> = BTreeMap::new();
    for (i, call) in sample.iter().enumerate() {
        let body =
            serde_json::to_vec(&json!({"callData": call, "isTest": false})).unwrap_or_default();
        let token = key.sign(&url, &body, Duration::from_secs(300));
        let (status, answer) = post(&http, &url, &body, &token).await?;
        *statuses.entry(status).or_default() += 1;
        if i < report::DETAILS {
            let title = call["metaData"]["title"].as_str().unwrap_or("(untitled)");
            let _ = writeln!(out, "   {:<44} -> {status} {answer}", clip(title, 44));
        }
        first.get_or_insert((body, token));
    }
    if sample.len() > report::DETAILS {
        let answers: Vec<String> = statuses.iter().map(|(s, n)| format!("{n} x {s}")).collect();
        let _ = writeln!(
            out,
            "   ... {} call webhook(s) in all, answered {}",
            sample.len(),
            answers.join(", ")
        );
    }
    // An email and a meeting in the project's own format (their routes' README section),
    // about the people of the first call.
    let user = sample.first().map(sample::user_email).unwrap_or_default();
    let first_call = call_ids.first().cloned().unwrap_or_default();
    let others = [
        (
            "emails",
            "an email: Pricing for 50 more seats",
            sample::email(&user),
        ),
        (
            "meetings",
            "a meeting: Northwind renewal review",
            sample::meeting(&user, &first_call),
        ),
    ];
    for (route, label, webhook) in others {
        let url = format!("{base}/webhook/gong/{route}");
        let body = serde_json::to_vec(&webhook).unwrap_or_default();
        let token = key.sign(&url, &body, Duration::from_secs(300));
        let (status, answer) = post(&http, &url, &body, &token).await?;
        let _ = writeln!(out, "   {label:<44} -> {status} {answer}");
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
    let queue = loop {
        let q = app.store().queue_stats(now_ms()).await?;
        if q.pending + q.processing + q.retrying == 0 && q.done + q.dead > 0 {
            break q;
        }
        if started.elapsed() > limit {
            return Err(DemoError::Timeout(limit));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let wh = app.pipeline().warehouse().clone();
    let gong_paths: Vec<String> = sim.requests().into_iter().map(|r| r.path).collect();
    let _ = writeln!(
        out,
        "\n2. Processed in {:.1} s with {} Gong API request(s) \
         (call ids batched into calls/extensive and calls/transcript)",
        started.elapsed().as_secs_f64(),
        gong_paths.len()
    );
    let _ = writeln!(
        out,
        "   warehouse: gong_webhooks_raw {} row(s), gong_calls_enhanced {}, gong_emails_enhanced {}, \
         gong_meetings_enhanced {}, webhook_processing_history {}",
        wh.count(&RAW).await?,
        wh.count(&CALLS).await?,
        wh.count(&EMAILS).await?,
        wh.count(&MEETINGS).await?,
        wh.count(&HISTORY).await?
    );

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
        "set REDIS_URL to publish them; here they wait in the outbox".to_owned()
    };
    let _ = writeln!(
        out,
        "\n3. What agents hear: {} notification(s) on these channels ({where_})",
        outbox.len()
    );
    let mut shown: Vec<String> = call_ids.iter().take(report::DETAILS).cloned().collect();
    shown.extend(["demo-email-1".to_owned(), "demo-meeting-1".to_owned()]);
    report::events(&mut out, &outbox, &shown, &Names::new(prefix));
    if call_ids.len() > report::DETAILS {
        let _ = writeln!(
            out,
            "   ... {} more call(s): see the summary",
            call_ids.len() - report::DETAILS
        );
    }
    let _ = writeln!(out, "\n4. Summary");
    report::summary(&mut out, &outbox, &queue, &gong_paths);

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
        _lock: lock,
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

pub(crate) fn clip(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_owned()
    } else {
        let mut c: String = s.chars().take(n - 1).collect();
        c.push('…');
        c
    }
}
