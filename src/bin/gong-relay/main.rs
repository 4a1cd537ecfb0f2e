//! The `gong-relay` binary: parses the command line and configuration, then runs a command.
//! `anyhow` lives only here, at the edge; the library's errors are typed.

#[cfg(feature = "simulator")]
mod demo;
mod ops;
mod watch;

use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use gong_relay::app;
use gong_relay::config::{Config, RawConfig};
use gong_relay::telemetry;

#[derive(Parser)]
#[command(
    name = "gong-relay",
    version,
    about = "Receives Gong webhooks durably and relays them to a warehouse and to AI agents"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Every variable of the service, as `serve` and `check-config` show and take them (grouped
/// by part). Other commands show only the few they use; all of them read the others from
/// the environment (and `.env`) all the same.
#[derive(Args)]
struct ServiceArgs {
    #[command(flatten)]
    config: RawConfig,
}

/// The environment's configuration, for commands that take few flags of their own.
#[derive(Parser)]
struct FromEnv {
    #[command(flatten)]
    config: RawConfig,
}

/// The store a command reads or changes.
#[derive(Args)]
pub struct StoreFlag {
    /// The operational store: sqlite://PATH or postgres://... [default: sqlite://gong-relay.db]
    // Global within its command, so that `dlq list --help` shows it too.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true, global = true)]
    database_url: Option<String>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the service: webhook receiver, pipeline workers and reconciler.
    Serve(ServiceArgs),
    /// A first look: the service on a store of its own (./gong-relay-demo.db) with the
    /// built-in Gong simulator as the Gong API; sends signed sample webhooks and prints what
    /// happened (answers, rows, insights, notifications), then keeps serving until Ctrl-C.
    #[cfg(feature = "simulator")]
    Demo(demo::DemoArgs),
    /// Create or upgrade the tables in the configured store and warehouse, then exit
    /// (the warehouse's variables, e.g. SNOWFLAKE_*, are read from the environment).
    Migrate(MigrateArgs),
    /// Inspect or requeue dead-lettered events.
    Dlq(DlqArgs),
    /// Run stored events through the pipeline again (a running `serve` picks them up).
    Reprocess(ReprocessArgs),
    /// Fetch the calls of a period from the Gong API and queue those never seen (the Gong
    /// API's variables are read from the environment: GONG_API_KEY, GONG_API_BASE_URL, ...).
    Backfill(BackfillArgs),
    /// Validate the configuration and reach the store, warehouse, Gong API and Redis; exit
    /// 0 or 1 with a readable report.
    CheckConfig(ServiceArgs),
    /// Print notifications as agents receive them (needs REDIS_URL).
    Watch(watch::WatchArgs),
    /// Run the Gong API simulator alone; `send` sends webhooks as a Gong automation rule.
    #[cfg(feature = "simulator")]
    SimulateGong(Box<gong_sim::cli::SimulateGong>),
}

#[derive(Args)]
pub struct MigrateArgs {
    #[command(flatten)]
    store: StoreFlag,
    /// sqlite, postgres or snowflake [default: snowflake if SNOWFLAKE_ACCOUNT is set, else the store's backend]
    #[arg(long, env = "WAREHOUSE")]
    warehouse: Option<String>,
}

#[derive(Args)]
pub struct DlqArgs {
    #[command(flatten)]
    store: StoreFlag,
    #[command(subcommand)]
    action: DlqAction,
}

#[derive(Subcommand)]
pub enum DlqAction {
    /// List dead-lettered events, newest first.
    List {
        /// Show at most this many events.
        #[arg(long, default_value_t = 50)]
        limit: i64,
    },
    /// Requeue one dead-lettered event (by id), or all of them (--all).
    #[command(
        override_usage = "gong-relay dlq retry <EVENT_ID>\n       gong-relay dlq retry --all"
    )]
    Retry {
        /// The event id.
        #[arg(required_unless_present = "all", conflicts_with = "all")]
        event_id: Option<String>,
        /// Requeue every dead-lettered event.
        #[arg(long)]
        all: bool,
    },
}

#[derive(Args)]
#[command(
    override_usage = "gong-relay reprocess <EVENT_ID>\n       gong-relay reprocess [--since <SINCE>] [--until <UNTIL>]"
)]
pub struct ReprocessArgs {
    #[command(flatten)]
    store: StoreFlag,
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
pub struct BackfillArgs {
    #[command(flatten)]
    store: StoreFlag,
    /// Start of the period (RFC 3339, or YYYY-MM-DD as UTC midnight), inclusive.
    #[arg(long)]
    from: String,
    /// End of the period, exclusive.
    #[arg(long)]
    to: String,
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
    #[cfg(feature = "simulator")]
    if let Command::SimulateGong(sim) = cli.command {
        return block_on(gong_sim::cli::run(*sim, shutdown_signal()));
    }
    let raw = match raw_config(&cli.command) {
        Ok(raw) => raw,
        Err(e) => {
            eprintln!("error: cannot read the configuration from the environment: {e}");
            return ExitCode::from(2);
        }
    };
    // The demo brings its own webhook key and Gong API: it configures itself.
    #[cfg(feature = "simulator")]
    if let Command::Demo(args) = cli.command {
        return demo::main(raw, args);
    }
    // serve (and check-config, which answers whether serve may start) also needs a way to
    // verify webhooks: its absence is one more line of the same list.
    let parsed = match cli.command {
        Command::Serve(_) | Command::CheckConfig(_) => Config::from_raw_for_serve(raw),
        _ => Config::from_raw(raw),
    };
    let config = match parsed {
        Ok(c) => c,
        Err(e) => {
            eprintln!("configuration error:");
            for line in &e.0 {
                eprintln!("  {line}");
            }
            // check-config answers 0 or 1 (as its help says); elsewhere 2 marks a usage problem.
            return match cli.command {
                Command::CheckConfig(_) => ExitCode::FAILURE,
                _ => ExitCode::from(2),
            };
        }
    };
    telemetry::init_logging(config.log_format, &config.log_level);

    block_on(run(cli.command, config))
}

/// The configuration a command runs with: `serve` and `check-config` took every variable
/// as a flag (or from the environment); the others read the environment, with their own
/// few flags on top.
fn raw_config(command: &Command) -> Result<RawConfig, clap::Error> {
    let store = match command {
        Command::Serve(args) | Command::CheckConfig(args) => return Ok(args.config.clone()),
        Command::Migrate(a) => Some((&a.store, a.warehouse.clone())),
        Command::Dlq(a) => Some((&a.store, None)),
        Command::Reprocess(a) => Some((&a.store, None)),
        Command::Backfill(a) => Some((&a.store, None)),
        _ => None,
    };
    let mut raw = FromEnv::try_parse_from(["gong-relay"])?.config;
    if let Some((flag, warehouse)) = store {
        if flag.database_url.is_some() {
            raw.database_url = flag.database_url.clone();
            raw.database_url_file = None;
        }
        raw.warehouse = warehouse.or(raw.warehouse);
    }
    Ok(raw)
}

/// Runs `work` on a new runtime; its error, if any, is printed with its causes.
fn block_on<E: Into<anyhow::Error>>(work: impl Future<Output = Result<(), E>>) -> ExitCode {
    let Some(runtime) = runtime() else {
        return ExitCode::FAILURE;
    };
    match runtime.block_on(work) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", one_line(&e.into()));
            ExitCode::FAILURE
        }
    }
}

/// An error and its causes on one line, each cause once: an error whose message already
/// quotes its source (thiserror's `"...: {0}"` with `#[from]`) would otherwise print it
/// again, and sqlx's chains three times.
fn one_line(error: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in error.chain() {
        let text = cause.to_string();
        if line.contains(&text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    line
}

async fn run(command: Command, config: Config) -> anyhow::Result<()> {
    match command {
        Command::Serve(_) => {
            let running = app::start(config).await?;
            shutdown_signal().await;
            running.shutdown().await?;
        }
        Command::Migrate(_) => {
            let store = app::open_store(&config).await?;
            println!("migrated the {} store", store.backend());
            let warehouse = app::open_warehouse(&config, &store).await?;
            println!("migrated the {} warehouse", warehouse.backend());
            store.close().await;
        }
        Command::Dlq(args) => ops::dlq(args.action, &config).await?,
        Command::Reprocess(args) => ops::reprocess(args, &config).await?,
        Command::Backfill(args) => ops::backfill(args, &config).await?,
        Command::CheckConfig(_) => ops::check_config(&config).await?,
        Command::Watch(args) => watch::run(args, &config).await?,
        #[cfg(feature = "simulator")]
        Command::Demo(_) | Command::SimulateGong(_) => {
            unreachable!("handled before the configuration")
        }
    }
    Ok(())
}

/// Resolves on SIGINT (Ctrl-C) or SIGTERM (orchestrators).
pub(crate) async fn shutdown_signal() {
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
