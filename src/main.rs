//! The `gong-relay` binary: parses the command line and configuration, then runs a command.
//! `anyhow` lives only here, at the edge; the library's errors are typed.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::{Args, Parser, Subcommand};
use gong_relay::app;
use gong_relay::config::{Config, RawConfig};
use gong_relay::pipeline::reconcile;
use gong_relay::simulator::{self, RuleKey, SendOptions, SimConfig};
use gong_relay::store::EventFilter;
use gong_relay::telemetry;
use gong_relay::verify::now_ms;

#[derive(Parser)]
#[command(
    name = "gong-relay",
    version,
    about = "Receives Gong webhooks durably and relays them to a warehouse and to AI agents"
)]
struct Cli {
    #[command(flatten)]
    config: RawConfig,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the service: webhook receiver, pipeline workers and reconciler.
    Serve,
    /// A first look: the service on a store of its own (./gong-relay-demo.db) with the
    /// built-in Gong simulator as the Gong API; sends signed sample webhooks and prints what
    /// happened (answers, rows, insights, notifications), then keeps serving until Ctrl-C.
    Demo(DemoArgs),
    /// Create or upgrade the tables in the configured store and warehouse, then exit.
    Migrate,
    /// Inspect or requeue dead-lettered events.
    #[command(subcommand)]
    Dlq(DlqAction),
    /// Run stored events through the pipeline again (a running `serve` picks them up).
    Reprocess(ReprocessArgs),
    /// Fetch the calls of a period from the Gong API and queue those never seen.
    Backfill(BackfillArgs),
    /// Validate the configuration and reach the store, warehouse and Gong API; exit 0 or 1
    /// with a readable report.
    CheckConfig,
    /// Run the Gong API simulator alone; `send` sends webhooks as a Gong automation rule.
    SimulateGong(Box<SimulateGong>),
}

#[derive(Args)]
struct DemoArgs {
    /// How many sample call webhooks to send.
    #[arg(long, default_value_t = 5)]
    calls: usize,
    /// Exit after printing instead of serving on.
    #[arg(long)]
    exit: bool,
}

#[derive(Subcommand)]
enum DlqAction {
    /// List dead-lettered events, newest first.
    List {
        #[arg(long, default_value_t = 50)]
        limit: i64,
    },
    /// Requeue one dead-lettered event, or all of them.
    Retry {
        /// The event id.
        #[arg(required_unless_present = "all", conflicts_with = "all")]
        event_id: Option<String>,
        #[arg(long)]
        all: bool,
    },
}

#[derive(Args)]
struct ReprocessArgs {
    /// One event id; or give --since/--until.
    #[arg(required_unless_present_any = ["since", "until"], conflicts_with_all = ["since", "until"])]
    event_id: Option<String>,
    /// Events received at or after this time (RFC 3339, or YYYY-MM-DD as UTC midnight).
    #[arg(long)]
    since: Option<String>,
    /// Events received before this time.
    #[arg(long)]
    until: Option<String>,
}

#[derive(Args)]
struct BackfillArgs {
    /// Start of the period (RFC 3339, or YYYY-MM-DD as UTC midnight), inclusive.
    #[arg(long)]
    from: String,
    /// End of the period, exclusive.
    #[arg(long)]
    to: String,
}

#[derive(Args)]
#[command(args_conflicts_with_subcommands = true)]
struct SimulateGong {
    #[command(subcommand)]
    action: Option<SimAction>,
    /// Address to listen on.
    #[arg(long, env = "SIM_BIND", default_value = "127.0.0.1:8090")]
    bind: SocketAddr,
    /// The Basic credentials it accepts.
    #[arg(
        long,
        env = "SIM_API_KEY",
        value_name = "KEY:SECRET",
        default_value = "sim-key:sim-secret",
        hide_env_values = true
    )]
    api_key: String,
    /// A Bearer token it accepts too (OAuth apps).
    #[arg(long, env = "SIM_BEARER_TOKEN", hide_env_values = true)]
    bearer_token: Option<String>,
    /// Requests per second (token bucket); 0 turns the bucket off.
    #[arg(long, env = "SIM_RATE_LIMIT", default_value_t = 3.0)]
    rate_limit: f64,
    /// Bucket capacity.
    #[arg(long, env = "SIM_BURST", default_value_t = 10)]
    burst: u32,
    /// Requests per day.
    #[arg(long, env = "SIM_DAILY_LIMIT", default_value_t = 10_000)]
    daily_limit: u32,
    /// Size of the generated corpus.
    #[arg(long, env = "SIM_CALLS", default_value_t = 200)]
    calls: usize,
    #[arg(long, env = "SIM_SEED", default_value_t = 42)]
    seed: u64,
    /// Processing lag of calls created at run time (e.g. 30s, 5m).
    #[arg(long, env = "SIM_LAG", default_value = "0s", value_parser = humantime::parse_duration)]
    lag: Duration,
    /// Extra lag of their transcripts.
    #[arg(long, env = "SIM_TRANSCRIPT_LAG", default_value = "0s", value_parser = humantime::parse_duration)]
    transcript_lag: Duration,
    /// Share of requests answered 500 (0..1).
    #[arg(long, env = "SIM_FAIL_RATE", default_value_t = 0.0, value_parser = share)]
    fail_rate: f64,
    /// Added to every answer.
    #[arg(long, env = "SIM_LATENCY", default_value = "0s", value_parser = humantime::parse_duration)]
    latency: Duration,
    /// Share of requests that hang 30 s before answering (0..1).
    #[arg(long, env = "SIM_TIMEOUT_RATE", default_value_t = 0.0, value_parser = share)]
    timeout_rate: f64,
    /// Share of connections dropped without a complete answer (0..1).
    #[arg(long, env = "SIM_DROP_RATE", default_value_t = 0.0, value_parser = share)]
    drop_rate: f64,
    /// Cursor lifetime from the first page of a sequence.
    #[arg(long, env = "SIM_CURSOR_TTL", default_value = "1h", value_parser = humantime::parse_duration)]
    cursor_ttl: Duration,
}

#[derive(Subcommand)]
enum SimAction {
    /// Send webhooks as a Gong automation rule would (RS256 JWT in Authorization).
    Send(SendArgs),
}

#[derive(Args)]
struct SendArgs {
    /// Destination URL, e.g. http://127.0.0.1:8080/webhook/gong/calls.
    #[arg(long, env = "SIM_SEND_TO")]
    to: String,
    #[arg(long, env = "SIM_SEND_COUNT", default_value_t = 1)]
    count: usize,
    /// Webhooks per second; 0 = as fast as possible.
    #[arg(long, env = "SIM_SEND_RATE", default_value_t = 0.0)]
    rate: f64,
    /// Mark the deliveries as tests (isTest, Gong's "Test now").
    #[arg(long, env = "SIM_SEND_TEST")]
    test: bool,
    /// The rule's PKCS#8 PEM private key; without it a key is generated.
    #[arg(long, env = "SIM_PRIVATE_KEY")]
    private_key: Option<PathBuf>,
    /// The webhook_url claim (default: --to).
    #[arg(long, env = "SIM_WEBHOOK_URL")]
    webhook_url: Option<String>,
    /// Prefix the token with "Bearer " (Gong sends it raw).
    #[arg(long, env = "SIM_SEND_BEARER")]
    bearer: bool,
    /// A running simulator whose new calls to send (so its API knows them).
    #[arg(long, env = "SIM_SIMULATOR")]
    simulator: Option<String>,
}

fn share(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if (0.0..=1.0).contains(&v) => Ok(v),
        _ => Err(format!("'{s}' is not a share between 0 and 1")),
    }
}

fn main() -> ExitCode {
    // `.env` first, so that clap sees its variables like any other environment variable.
    if let Err(e) = dotenvy::dotenv()
        && !e.not_found()
    {
        eprintln!("error: cannot read .env: {e}");
        return ExitCode::from(2);
    }
    let cli = Cli::parse();
    // The simulator stands in for Gong: it needs none of the relay's configuration.
    if let Command::SimulateGong(sim) = cli.command {
        return run_simulator(*sim);
    }
    // The demo brings its own webhook key and Gong API: it configures itself.
    if let Command::Demo(args) = cli.command {
        return run_demo(cli.config, args);
    }
    let config = match Config::from_raw(cli.config) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("configuration error:");
            for line in &e.0 {
                eprintln!("  {line}");
            }
            // check-config answers 0 or 1 (design §2); elsewhere 2 marks a usage problem.
            return match cli.command {
                Command::CheckConfig => ExitCode::FAILURE,
                _ => ExitCode::from(2),
            };
        }
    };
    telemetry::init_logging(config.log_format, &config.log_level);

    let Some(runtime) = runtime() else {
        return ExitCode::FAILURE;
    };
    match runtime.block_on(run(cli.command, config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command, config: Config) -> anyhow::Result<()> {
    match command {
        Command::Serve => {
            let running = app::start(config).await?;
            shutdown_signal().await;
            running.shutdown().await?;
        }
        Command::Migrate => {
            let store = app::open_store(&config).await?;
            println!("migrated the {} store", store.backend());
            let warehouse = app::open_warehouse(&config, &store).await?;
            println!("migrated the {} warehouse", warehouse.backend());
            store.close().await;
        }
        Command::Dlq(action) => dlq(action, &config).await?,
        Command::Reprocess(args) => reprocess(args, &config).await?,
        Command::Backfill(args) => backfill(args, &config).await?,
        Command::CheckConfig => {
            config.check_serve()?;
            println!("configuration: ok (webhook keys included); serve may start");
            let store = app::open_store(&config).await?;
            let latency = store.ping().await?;
            println!(
                "store ({}): reachable in {:.1} ms",
                store.backend(),
                latency.as_secs_f64() * 1e3
            );
            let warehouse = app::open_warehouse(&config, &store).await?;
            let started = Instant::now();
            warehouse.ping().await?;
            println!(
                "warehouse ({}): reachable in {:.1} ms",
                warehouse.backend(),
                started.elapsed().as_secs_f64() * 1e3
            );
            match app::gong_client(&config, &store)? {
                None => println!("gong api: not configured (enhancement skipped)"),
                Some(gong) => {
                    let started = Instant::now();
                    let workspaces = gong.workspaces().await?;
                    println!(
                        "gong api: reachable in {:.1} ms ({} workspace(s))",
                        started.elapsed().as_secs_f64() * 1e3,
                        workspaces.len()
                    );
                }
            }
            match &config.redis_url {
                None => println!("redis: not configured (notifications stay in the outbox)"),
                Some(_) => {
                    println!("redis: configured (publishing arrives with the notifications issue)")
                }
            }
            store.close().await;
        }
        Command::Demo(_) | Command::SimulateGong(_) => {
            unreachable!("handled before the configuration")
        }
    }
    Ok(())
}

async fn dlq(action: DlqAction, config: &Config) -> anyhow::Result<()> {
    let store = app::open_store(config).await?;
    match action {
        DlqAction::List { limit } => {
            let filter = EventFilter {
                status: Some("dead".into()),
                limit,
                ..Default::default()
            };
            let events = store.list_events(&filter).await?;
            if events.is_empty() {
                println!("the dead-letter queue is empty");
            }
            for e in events {
                println!(
                    "{}  {:<7} {:<22} attempts {}  {}",
                    e.event_id,
                    e.kind,
                    e.source_id,
                    e.attempts,
                    e.last_error.unwrap_or_default()
                );
            }
        }
        DlqAction::Retry { event_id, all } => {
            let target = if all { None } else { event_id.as_deref() };
            let n = store.requeue_dead(target, now_ms()).await?;
            if n == 0 && !all {
                anyhow::bail!("no dead-lettered event with that id");
            }
            println!("requeued {n} event(s); a running `gong-relay serve` processes them");
        }
    }
    store.close().await;
    Ok(())
}

async fn reprocess(args: ReprocessArgs, config: &Config) -> anyhow::Result<()> {
    let time = |s: &Option<String>| -> anyhow::Result<Option<i64>> {
        s.as_deref()
            .map(|t| reconcile::parse_instant(t).map(|t| t.timestamp_millis()))
            .transpose()
            .map_err(|e| anyhow::anyhow!(e))
    };
    let (since, until) = (time(&args.since)?, time(&args.until)?);
    let store = app::open_store(config).await?;
    let n = store
        .reprocess(args.event_id.as_deref(), since, until, now_ms())
        .await?;
    store.close().await;
    if n == 0 && args.event_id.is_some() {
        anyhow::bail!("no such event, or it is being processed right now");
    }
    println!("queued {n} event(s) for reprocessing; a running `gong-relay serve` processes them");
    Ok(())
}

async fn backfill(args: BackfillArgs, config: &Config) -> anyhow::Result<()> {
    let (from, to) = reconcile::period(&args.from, &args.to).map_err(|e| anyhow::anyhow!(e))?;
    let store = app::open_store(config).await?;
    let Some(gong) = app::gong_client(config, &store)? else {
        anyhow::bail!("backfill needs the Gong API: set GONG_API_KEY or GONG_API_BEARER_TOKEN");
    };
    let report = reconcile::enqueue_period(&store, &gong, from, to, "backfill").await?;
    store.close().await;
    println!(
        "Gong listed {} call(s) from {from} to {to}: {} known already, {} queued; a running \
         `gong-relay serve` processes them",
        report.listed, report.known, report.queued
    );
    Ok(())
}

fn run_demo(mut raw: gong_relay::config::RawConfig, args: DemoArgs) -> ExitCode {
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
    let Some(runtime) = runtime() else {
        return ExitCode::FAILURE;
    };
    let result: anyhow::Result<()> = runtime.block_on(async {
        let here = std::path::Path::new(".");
        let demo = gong_relay::demo::run(raw, here, args.calls, !args.exit).await?;
        print!("{}", demo.report);
        if !args.exit {
            println!("\nServing until Ctrl-C.");
            shutdown_signal().await;
        }
        demo.shutdown().await?;
        Ok(())
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run_simulator(args: SimulateGong) -> ExitCode {
    let Some(runtime) = runtime() else {
        return ExitCode::FAILURE;
    };
    let result = match args.action {
        Some(SimAction::Send(send)) => runtime.block_on(send_webhooks(send)),
        None => runtime.block_on(serve_simulator(args)),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn serve_simulator(a: SimulateGong) -> anyhow::Result<()> {
    let Some((key, secret)) = a.api_key.split_once(':') else {
        anyhow::bail!("--api-key must be KEY:SECRET");
    };
    let config = SimConfig {
        bind: a.bind,
        api_key: Some((key.to_string(), secret.to_string())),
        bearer_token: a.bearer_token,
        rate_limit: a.rate_limit,
        burst: a.burst,
        daily_limit: a.daily_limit,
        calls: a.calls,
        seed: a.seed,
        lag: a.lag,
        transcript_lag: a.transcript_lag,
        fail_rate: a.fail_rate,
        latency: a.latency,
        timeout_rate: a.timeout_rate,
        drop_rate: a.drop_rate,
        cursor_ttl: a.cursor_ttl,
        ..SimConfig::default()
    };
    let handle = simulator::start(config)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", a.bind))?;
    println!(
        "Gong simulator on {url} ({n} calls, seed {seed}, {rate}/s burst {burst}, {daily}/day): \
         GONG_API_BASE_URL={url} GONG_API_KEY={key}:{secret}",
        url = handle.base_url(),
        n = a.calls,
        seed = a.seed,
        rate = a.rate_limit,
        burst = a.burst,
        daily = a.daily_limit,
    );
    shutdown_signal().await;
    handle.shutdown().await;
    Ok(())
}

async fn send_webhooks(a: SendArgs) -> anyhow::Result<()> {
    let key = match &a.private_key {
        Some(path) => {
            let pem = std::fs::read_to_string(path)
                .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
            RuleKey::from_pkcs8_pem(&pem)?
        }
        None => RuleKey::generate(),
    };
    println!(
        "rule public key (bare base64 SPKI): {}",
        key.public_key_base64()
    );
    let opts = SendOptions {
        to: a.to,
        count: a.count,
        rate: a.rate,
        is_test: a.test,
        webhook_url: a.webhook_url,
        bearer_prefix: a.bearer,
        simulator: a.simulator,
    };
    let started = Instant::now();
    let report = simulator::send_webhooks(&key, &opts).await?;
    let secs = started.elapsed().as_secs_f64();
    let statuses: Vec<String> = report
        .statuses
        .iter()
        .map(|(s, n)| format!("{s}: {n}"))
        .collect();
    println!(
        "sent {} to {} in {secs:.2} s ({:.1}/s): {} accepted, {} failed; statuses {{{}}}",
        report.sent,
        opts.to,
        report.sent as f64 / secs.max(1e-9),
        report.accepted,
        report.failed,
        statuses.join(", ")
    );
    if report.failed > 0 {
        anyhow::bail!(
            "{} of {} webhooks were not accepted",
            report.failed,
            report.sent
        );
    }
    Ok(())
}

/// Resolves on SIGINT (Ctrl-C) or SIGTERM (orchestrators).
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}

/// The multi-threaded runtime; `None` (after saying why) if the OS refuses threads.
fn runtime() -> Option<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .inspect_err(|e| eprintln!("error: cannot start the async runtime: {e}"))
        .ok()
}
