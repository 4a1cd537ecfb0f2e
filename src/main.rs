//! The `gong-relay` binary: parses the command line and configuration, then runs a command.
//! `anyhow` lives only here, at the edge; the library's errors are typed.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
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
    #[command(flatten)]
    config: RawConfig,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the service: webhook receiver (and, in later versions, workers and publishers).
    Serve,
    /// Create or upgrade the tables in the configured store, then exit.
    Migrate,
    /// Validate the configuration and reach the store; exit 0 or 1 with a readable report.
    CheckConfig,
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

    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
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
            store.close().await;
        }
        Command::CheckConfig => {
            println!("configuration: ok (webhook keys included)");
            config.check_serve()?;
            println!("serve: may start");
            let store = app::open_store(&config).await?;
            let latency = store.ping().await?;
            println!(
                "store ({}): reachable in {:.1} ms",
                store.backend(),
                latency.as_secs_f64() * 1e3
            );
            store.close().await;
        }
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
