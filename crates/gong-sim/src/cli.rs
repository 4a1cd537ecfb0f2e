//! `gong-relay simulate-gong`: the simulator's command line (serve the API, or `send`
//! webhooks as a Gong rule would). The flags are its own; each is also an environment
//! variable (`SIM_*`), so they never collide with the service's.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::{Args, Subcommand};

use crate::{RuleKey, SendOptions, SimConfig, SimError};

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error("{0}")]
    Usage(String),
    #[error("cannot listen on {bind}: {cause}")]
    Listen { bind: SocketAddr, cause: String },
    #[error("cannot read {}: {cause}", path.display())]
    Read {
        path: PathBuf,
        cause: std::io::Error,
    },
    #[error(transparent)]
    Sim(#[from] SimError),
    #[error("{failed} of {sent} webhooks were not accepted")]
    NotAccepted { failed: usize, sent: usize },
}

/// Runs the command: serves the simulated API until `shutdown` resolves, or sends webhooks.
pub async fn run(args: SimulateGong, shutdown: impl Future<Output = ()>) -> Result<(), CliError> {
    match args.action {
        Some(SimAction::Send(a)) => send(a).await,
        None => serve(args, shutdown).await,
    }
}

#[derive(Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct SimulateGong {
    #[command(subcommand)]
    pub action: Option<SimAction>,
    /// Address to listen on.
    #[arg(long, env = "SIM_BIND", default_value = "127.0.0.1:8090")]
    pub bind: SocketAddr,
    /// The Basic credentials it accepts.
    #[arg(
        long,
        env = "SIM_API_KEY",
        value_name = "KEY:SECRET",
        default_value = "sim-key:sim-secret",
        hide_env_values = true
    )]
    pub api_key: String,
    /// A Bearer token it accepts too (OAuth apps).
    #[arg(long, env = "SIM_BEARER_TOKEN", hide_env_values = true)]
    pub bearer_token: Option<String>,
    /// Requests per second (token bucket); 0 turns the bucket off.
    #[arg(long, env = "SIM_RATE_LIMIT", default_value_t = 3.0)]
    pub rate_limit: f64,
    /// Bucket capacity.
    #[arg(long, env = "SIM_BURST", default_value_t = 10)]
    pub burst: u32,
    /// Requests per day.
    #[arg(long, env = "SIM_DAILY_LIMIT", default_value_t = 10_000)]
    pub daily_limit: u32,
    /// Size of the generated corpus.
    #[arg(long, env = "SIM_CALLS", default_value_t = 200)]
    pub calls: usize,
    /// Seed of the generated corpus: the same seed gives the same calls and transcripts.
    #[arg(long, env = "SIM_SEED", default_value_t = 42)]
    pub seed: u64,
    /// Processing lag of calls created at run time (e.g. 30s, 5m).
    #[arg(long, env = "SIM_LAG", default_value = "0s", value_parser = humantime::parse_duration)]
    pub lag: Duration,
    /// Extra lag of their transcripts.
    #[arg(long, env = "SIM_TRANSCRIPT_LAG", default_value = "0s", value_parser = humantime::parse_duration)]
    pub transcript_lag: Duration,
    /// Share of requests answered 500 (0..1).
    #[arg(long, env = "SIM_FAIL_RATE", default_value_t = 0.0, value_parser = share)]
    pub fail_rate: f64,
    /// Added to every answer.
    #[arg(long, env = "SIM_LATENCY", default_value = "0s", value_parser = humantime::parse_duration)]
    pub latency: Duration,
    /// Share of requests that hang 30 s before answering (0..1).
    #[arg(long, env = "SIM_TIMEOUT_RATE", default_value_t = 0.0, value_parser = share)]
    pub timeout_rate: f64,
    /// Share of connections dropped without a complete answer (0..1).
    #[arg(long, env = "SIM_DROP_RATE", default_value_t = 0.0, value_parser = share)]
    pub drop_rate: f64,
    /// Cursor lifetime from the first page of a sequence.
    #[arg(long, env = "SIM_CURSOR_TTL", default_value = "1h", value_parser = humantime::parse_duration)]
    pub cursor_ttl: Duration,
}

#[derive(Subcommand)]
pub enum SimAction {
    /// Send webhooks as a Gong automation rule would (RS256 JWT in Authorization).
    Send(SendArgs),
}

#[derive(Args)]
pub struct SendArgs {
    /// Destination URL, e.g. http://127.0.0.1:8080/webhook/gong/calls.
    #[arg(long, env = "SIM_SEND_TO")]
    pub to: String,
    /// How many webhooks to send (one call each).
    #[arg(long, env = "SIM_SEND_COUNT", default_value_t = 1)]
    pub count: usize,
    /// Webhooks per second; 0 = as fast as possible.
    #[arg(long, env = "SIM_SEND_RATE", default_value_t = 0.0)]
    pub rate: f64,
    /// Mark the deliveries as tests (isTest, Gong's "Test now").
    #[arg(long, env = "SIM_SEND_TEST")]
    pub test: bool,
    /// The rule's PKCS#8 PEM private key; without it a key is generated.
    #[arg(long, env = "SIM_PRIVATE_KEY")]
    pub private_key: Option<PathBuf>,
    /// The webhook_url claim (default: --to).
    #[arg(long, env = "SIM_WEBHOOK_URL")]
    pub webhook_url: Option<String>,
    /// Prefix the token with "Bearer " (Gong sends it raw).
    #[arg(long, env = "SIM_SEND_BEARER")]
    pub bearer: bool,
    /// A running simulator whose new calls to send (so its API knows them).
    #[arg(long, env = "SIM_SIMULATOR")]
    pub simulator: Option<String>,
}

fn share(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if (0.0..=1.0).contains(&v) => Ok(v),
        _ => Err(format!("'{s}' is not a share between 0 and 1")),
    }
}

async fn serve(a: SimulateGong, shutdown: impl Future<Output = ()>) -> Result<(), CliError> {
    let Some((key, secret)) = a.api_key.split_once(':') else {
        return Err(CliError::Usage("--api-key must be KEY:SECRET".into()));
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
    let handle = crate::start(config).await.map_err(|e| CliError::Listen {
        bind: a.bind,
        cause: e.to_string(),
    })?;
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
    shutdown.await;
    handle.shutdown().await;
    Ok(())
}

async fn send(a: SendArgs) -> Result<(), CliError> {
    let key = match &a.private_key {
        Some(path) => {
            let pem = std::fs::read_to_string(path).map_err(|e| CliError::Read {
                path: path.clone(),
                cause: e,
            })?;
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
    let report = crate::send_webhooks(&key, &opts).await?;
    let secs = started.elapsed().as_secs_f64();
    let statuses: Vec<String> = report
        .statuses
        .iter()
        .map(|(s, n)| format!("{s}: {n}"))
        .collect();
    let errors: Vec<String> = report
        .errors
        .iter()
        .map(|(why, n)| format!("{why}: {n}"))
        .collect();
    println!(
        "sent {} to {} in {secs:.2} s ({:.1}/s): {} accepted, {} failed; statuses {{{}}}; \
         errors {{{}}}",
        report.sent,
        opts.to,
        report.sent as f64 / secs.max(1e-9),
        report.accepted,
        report.failed,
        statuses.join(", "),
        errors.join(", ")
    );
    // The first refusal says why the others were refused too, most of the time.
    if let Some((status, body)) = &report.first_refusal {
        println!("first refusal: {status} {}", body.trim());
    }
    if report.failed > 0 {
        return Err(CliError::NotAccepted {
            failed: report.failed,
            sent: report.sent,
        });
    }
    Ok(())
}
