//! Assembles the service from its parts, runs it, and shuts it down in order.
//!
//! Shutdown order matters for "an acknowledged webhook is never lost": first readiness
//! turns 503 while the listeners keep serving for `DRAIN_PERIOD` (load balancers move
//! traffic away without a refused connection), then stop accepting connections, let
//! in-flight requests finish (each waits for its commit), then let the
//! inbox committer drain, let the workers finish their batches, then close the store.
//! Nothing is half-written because every event is one transaction, and an event a worker
//! did not finish is simply claimed again after a restart.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::config::{Config, ConfigError, WarehouseKind};
use crate::gong::GongLink;
use crate::http::{self, AppState, HealthCache, ListenerLimits, ListenerName, Surface};
use crate::inbox::Inbox;
use crate::insights::{Rules, RulesError};
use crate::notify::{self, NotifyError, Publisher};
use crate::pipeline::{self, Pipeline, Settings};
use crate::store::{Missing, Store, StoreError};
use crate::telemetry;
use crate::verify::{Verifier, now_ms};
use crate::warehouse::{self, SnowflakeWarehouse, Warehouse, WarehouseError};

/// How long shutdown waits for in-flight requests before giving up on them. Their events
/// are either committed (and acknowledged) or not (and the sender sees a broken connection
/// and may retry): never acknowledged without a commit.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);
const DEPTH_REFRESH: Duration = Duration::from_secs(5);
/// The store's health alone (one `SELECT 1`): how soon readiness sees an outage.
const STORE_PING_EVERY: Duration = Duration::from_secs(1);
const REPLAY_PRUNE_EVERY: Duration = Duration::from_secs(60);

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("configuration error:\n{0}")]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Warehouse(#[from] WarehouseError),
    #[error("INSIGHT_RULES_FILE: {0}")]
    Rules(#[from] RulesError),
    #[error("cannot build the Gong API client: {0}")]
    GongClient(String),
    /// The cause is in the message and not a `source`: printed with its chain, the line
    /// would say it twice.
    #[error("cannot listen on {addr} ({var}): {cause}")]
    Bind {
        var: &'static str,
        addr: SocketAddr,
        cause: std::io::Error,
    },
    #[error("server error: {0}")]
    Server(std::io::Error),
    #[error(transparent)]
    Notify(#[from] NotifyError),
}

/// The outbox publisher, when `REDIS_URL` is set, woken through `wake` (the pipeline's
/// [`Pipeline::outbox_wake`]).
pub fn publisher(
    config: &Config,
    store: &Store,
    wake: Arc<tokio::sync::Notify>,
) -> Result<Option<Publisher>, AppError> {
    let Some(url) = config.redis_url.clone() else {
        return Ok(None);
    };
    let settings = notify::Settings {
        url,
        ttl: config.redis_notification_ttl,
        stream_maxlen: config.redis_stream_maxlen,
        prefix: config.redis_prefix.clone(),
        // Redis outages are usually short: come back within a second at first (not after
        // the events' RETRY_BACKOFF), and at most every 30 s however long it lasts.
        retry_base: config.retry_backoff.min(Duration::from_secs(1)),
        retry_max: config.retry_backoff_max.min(Duration::from_secs(30)),
    };
    Ok(Some(Publisher::new(store.clone(), settings, wake)?))
}

/// A started service. Dropping it does not stop it; call [`RunningApp::shutdown`].
pub struct RunningApp {
    addr: SocketAddr,
    admin_addr: Option<SocketAddr>,
    store: Store,
    pipeline: Pipeline,
    shutdown: watch::Sender<bool>,
    server: JoinHandle<Result<(), AppError>>,
}

impl RunningApp {
    /// The address actually bound (useful with port 0).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The admin listener's address, when `ADMIN_BIND_ADDR` is set.
    pub fn admin_addr(&self) -> Option<SocketAddr> {
        self.admin_addr
    }

    /// The operational store (tests inspect it).
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The pipeline (tests read its warehouse, or drive it).
    pub fn pipeline(&self) -> &Pipeline {
        &self.pipeline
    }

    /// Graceful shutdown: readiness 503 and `DRAIN_PERIOD` of serving as usual, then
    /// finish in-flight requests, drain the inbox, close the store.
    pub async fn shutdown(self) -> Result<(), AppError> {
        let _ = self.shutdown.send(true);
        match self.server.await {
            Ok(result) => result,
            Err(join) => Err(AppError::Server(std::io::Error::other(join.to_string()))),
        }
    }
}

/// Opens the store and runs its migrations (also what `gong-relay migrate` does).
pub async fn open_store(config: &Config) -> Result<Store, StoreError> {
    let store = Store::connect(&config.database_url).await?;
    store.migrate().await?;
    Ok(store)
}

/// Opens a store that must exist already (for the commands that read or change one):
/// a missing SQLite file is an error rather than a new, empty store.
pub async fn open_existing_store(config: &Config) -> Result<Store, StoreError> {
    let store = Store::open(&config.database_url, Missing::Refuse).await?;
    store.migrate().await?;
    Ok(store)
}

/// Opens the configured warehouse and creates or upgrades its tables.
pub async fn open_warehouse(
    config: &Config,
    store: &Store,
) -> Result<Arc<dyn Warehouse>, AppError> {
    let w: Arc<dyn Warehouse> = match (&config.warehouse, &config.snowflake) {
        (WarehouseKind::Snowflake, Some(sf)) => Arc::new(SnowflakeWarehouse::new(sf)?),
        _ => warehouse::open(store),
    };
    w.migrate().await?;
    Ok(w)
}

/// The Gong API client, when a key or token is configured (see [`GongLink::from_config`]).
pub fn gong_link(config: &Config, store: &Store) -> Result<Option<GongLink>, AppError> {
    GongLink::from_config(config, store).map_err(|e| AppError::GongClient(e.to_string()))
}

/// Everything the workers need, built from the configuration.
pub async fn build_pipeline(config: &Config, store: &Store) -> Result<Pipeline, AppError> {
    let warehouse = open_warehouse(config, store).await?;
    let rules = Rules::load(&config.competitors, config.insight_rules_file.as_deref())?;
    Ok(Pipeline::new(
        store.clone(),
        warehouse,
        gong_link(config, store)?,
        rules,
        Settings::from_config(config),
    ))
}

/// Starts the service on `config.bind_addr`.
pub async fn start(config: Config) -> Result<RunningApp, AppError> {
    config.check_serve()?;
    // The metrics recorder before anything records: the breakers publish their first
    // state when they are built, and a gauge set before the recorder exists is lost.
    let metrics = telemetry::metrics_handle();
    let verifier = Verifier::new(&config.webhook)?;
    // The ports first: a start that fails on a busy port leaves no store behind.
    let listeners = 1 + usize::from(config.admin_bind_addr.is_some());
    http::raise_open_files_limit(config.max_connections * listeners);
    let listener = bind("BIND_ADDR", config.bind_addr).await?;
    let addr = listener.local_addr().map_err(AppError::Server)?;
    let admin_listener = match config.admin_bind_addr {
        Some(a) => Some(bind("ADMIN_BIND_ADDR", a).await?),
        None => None,
    };
    let store = open_store(&config).await?;
    let pipeline = build_pipeline(&config, &store).await?;
    // Credentials Gong refuses are reported now, not when the first event waits on them.
    if let Some(gong) = pipeline.gong() {
        crate::gong::spawn_start_check(gong.clone());
    }
    if !config.store_is_postgres() {
        // One instance owns a SQLite store: leases left by a killed process belong to
        // nobody, so their events need not wait for the leases to run out.
        let released = store.release_leases(now_ms()).await?;
        store.release_outbox_leases().await?;
        if released > 0 {
            tracing::warn!(
                events = released,
                "taking over events left in processing by a previous run"
            );
        }
    }
    // SQLite has one writer, so one commit at a time; PostgreSQL commits in parallel.
    let commit_concurrency = if config.store_is_postgres() { 4 } else { 1 };
    let (inbox, committer) = Inbox::start(store.clone(), commit_concurrency);

    let admin_addr = match &admin_listener {
        Some(l) => Some(l.local_addr().map_err(AppError::Server)?),
        None => None,
    };

    report_startup(&config, &verifier, &store, addr, admin_addr);

    let publisher = publisher(&config, &store, pipeline.outbox_wake().clone())?;
    // Taken once before serving, so that /health and /health/ready answer from the start.
    let health = Arc::new(HealthCache::default());
    health.refresh(&store, &pipeline, publisher.as_ref()).await;
    let ready = Arc::new(AtomicBool::new(true));
    let state = Arc::new(AppState {
        verifier,
        inbox,
        store: store.clone(),
        metrics,
        ready: ready.clone(),
        pipeline: pipeline.clone(),
        admin_token: config.admin_token.clone(),
        workers: config.workers,
        publisher: publisher.clone(),
        health: health.clone(),
    });
    let public_surface = if admin_listener.is_some() {
        Surface::Public
    } else {
        Surface::All
    };
    let body_limits = http::BodyLimits::from_config(&config);
    let router = http::router(state.clone(), body_limits.clone(), public_surface);
    let admin_router = http::router(state, body_limits, Surface::Admin);
    let limits = ListenerLimits {
        header_read_timeout: config.header_read_timeout,
        max_connections: config.max_connections,
    };

    let (shutdown, mut shutdown_rx) = watch::channel(false);
    let maintenance = tokio::spawn(maintain(
        store.clone(),
        pipeline.clone(),
        health,
        publisher.clone(),
        Retention::from_config(&config),
        shutdown.subscribe(),
    ));
    // Stopped after the workers, so that their last batches' notifications go out too.
    let (stop_publishing, publishing_rx) = watch::channel(false);
    let publishing = publisher.as_ref().map(|p| p.spawn(publishing_rx));
    let workers = pipeline.spawn_workers(shutdown.subscribe());
    let reconciler = match (pipeline.gong(), config.reconcile_interval) {
        (Some(gong), Some(every)) => {
            let p = pipeline.clone();
            Some(pipeline::reconcile::spawn(
                store.clone(),
                gong.clone(),
                every,
                config.reconcile_lookback,
                shutdown.subscribe(),
                move || p.wake(),
            ))
        }
        _ => None,
    };

    let server_store = store.clone();
    let drain_period = config.drain_period;
    // Set once the drain is over: the listeners stop accepting and finish what is in flight.
    let (stop_serving, stop_serving_rx) = watch::channel(false);
    let server = tokio::spawn(async move {
        let drain = async move {
            let _ = shutdown_rx.wait_for(|stop| *stop).await;
            ready.store(false, Ordering::Relaxed);
            tracing::info!(
                drain_period = %humantime::format_duration(drain_period),
                "shutting down: readiness is 503, still serving while load balancers move away"
            );
            tokio::time::sleep(drain_period).await;
            tracing::info!("shutting down: finishing in-flight requests");
            let _ = stop_serving.send(true);
        };
        let stopped = |mut rx: watch::Receiver<bool>| async move {
            let _ = rx.wait_for(|stop| *stop).await;
        };
        let public = http::serve(
            listener,
            router,
            limits,
            ListenerName::Public,
            stopped(stop_serving_rx.clone()),
        );
        let admin = async {
            if let Some(l) = admin_listener {
                let stop = stopped(stop_serving_rx.clone());
                http::serve(l, admin_router, limits, ListenerName::Admin, stop).await;
            }
        };
        let serve = async { tokio::join!(drain, public, admin) };
        let grace = async {
            stopped(stop_serving_rx.clone()).await;
            tokio::time::sleep(SHUTDOWN_GRACE).await;
        };
        let result: Result<(), std::io::Error> = tokio::select! {
            _ = serve => Ok(()),
            _ = grace => {
                tracing::error!("in-flight requests did not finish within the grace period");
                Ok(())
            }
        };
        // Every Inbox handle lived in the router, which is gone now: the committer drains
        // what was submitted and stops.
        if tokio::time::timeout(SHUTDOWN_GRACE, committer)
            .await
            .is_err()
        {
            tracing::error!("inbox committer did not finish within the grace period");
        }
        // Workers finish their current batch; what they do not finish is claimed again
        // after a restart.
        let workers_done = async {
            for w in workers {
                let _ = w.await;
            }
        };
        if tokio::time::timeout(SHUTDOWN_GRACE, workers_done)
            .await
            .is_err()
        {
            tracing::error!("workers did not finish their batches within the grace period");
        }
        // The publisher drains what the workers queued, for a few seconds; what it does
        // not mark is published (once, by the script's guard) after a restart.
        let _ = stop_publishing.send(true);
        if let Some(mut p) = publishing
            && tokio::time::timeout(SHUTDOWN_GRACE, &mut p).await.is_err()
        {
            p.abort();
            tracing::error!("the outbox publisher did not stop within the grace period");
        }
        if let Some(r) = reconciler {
            r.abort();
        }
        maintenance.abort();
        server_store.close().await;
        tracing::info!("stopped");
        result.map_err(AppError::Server)
    });

    Ok(RunningApp {
        addr,
        admin_addr,
        store,
        pipeline,
        shutdown,
        server,
    })
}

async fn bind(var: &'static str, addr: SocketAddr) -> Result<TcpListener, AppError> {
    TcpListener::bind(addr)
        .await
        .map_err(|cause| AppError::Bind { var, addr, cause })
}

/// How long the store and the warehouse keep what they no longer need.
#[derive(Debug, Clone, Copy)]
pub struct Retention {
    /// Published notifications (`OUTBOX_RETENTION`).
    pub outbox: Duration,
    /// Payloads of done events (`INBOX_RETENTION`).
    pub inbox: Duration,
    /// Processing history (`HISTORY_RETENTION`); `None` keeps it.
    pub history: Option<Duration>,
}

impl Retention {
    pub fn from_config(config: &Config) -> Retention {
        Retention {
            outbox: config.outbox_retention,
            inbox: config.inbox_retention,
            history: config.history_retention,
        }
    }
}

/// Rows per pruning statement: small, so that no statement holds SQLite's write lock (or
/// PostgreSQL's row locks) for long (measured on SQLite, 6.5 KB payloads, 200,000 rows:
/// ~15 ms for 200 rows, ~50 ms for 500, most of it the commit's sync).
const PRUNE_BATCH: i64 = 200;
/// The pause between two pruning statements: the inbox writer and the workers get the
/// write lock in between, however large the backlog.
const PRUNE_PAUSE: Duration = Duration::from_millis(20);
/// Most statements per table and round (a round a minute): a first run over a large
/// backlog catches up over several rounds instead of hogging the store in one.
const PRUNE_MAX_BATCHES: usize = 100;

/// Runs `prune` (one bounded statement, returning how many rows it removed) until it
/// removes fewer than a batch, pausing between statements.
async fn prune_in_batches<F, Fut, E>(what: &str, mut prune: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<u64, E>>,
    E: std::fmt::Display,
{
    let mut total = 0;
    for _ in 0..PRUNE_MAX_BATCHES {
        match prune().await {
            Ok(n) => {
                total += n;
                if (n as i64) < PRUNE_BATCH {
                    break;
                }
                tokio::time::sleep(PRUNE_PAUSE).await;
            }
            Err(e) => {
                tracing::warn!(error = %e, "{what} prune failed");
                break;
            }
        }
    }
    if total > 0 {
        tracing::debug!(pruned = total, "{what} pruned");
    }
}

/// Deletes published notifications older than its retention (unpublished ones are never
/// deleted), empties the payloads of done events older than theirs, and deletes old
/// processing history when a retention is configured for it.
async fn prune_retained(store: &Store, pipeline: &Pipeline, retention: Retention) {
    let ago = |d: Duration| now_ms() - d.as_millis() as i64;
    let before = ago(retention.outbox);
    prune_in_batches("outbox", || store.prune_outbox(before, PRUNE_BATCH)).await;
    let before = ago(retention.inbox);
    prune_in_batches("inbox payload", || {
        store.prune_inbox_payloads(before, PRUNE_BATCH, now_ms())
    })
    .await;
    if let Some(keep) = retention.history {
        let before = ago(keep);
        let warehouse = pipeline.warehouse();
        prune_in_batches("processing history", || {
            warehouse.prune_history(before, PRUNE_BATCH)
        })
        .await;
    }
}

/// Periodic housekeeping: the health snapshot (with the queue gauges), the replay cache,
/// retention, and a probe of the warehouse while its breaker is open.
async fn maintain(
    store: Store,
    pipeline: Pipeline,
    health: Arc<HealthCache>,
    publisher: Option<Publisher>,
    retention: Retention,
    mut stop: watch::Receiver<bool>,
) {
    let mut depth_tick = tokio::time::interval(DEPTH_REFRESH);
    let mut prune_tick = tokio::time::interval(REPLAY_PRUNE_EVERY);
    let mut ping_tick = tokio::time::interval(STORE_PING_EVERY);
    // A stalled store must not make the pings pile up behind it.
    ping_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ping_tick.tick() => health.refresh_store(&store).await,
            _ = depth_tick.tick() => {
                health.refresh(&store, &pipeline, publisher.as_ref()).await;
                pipeline.probe_warehouse().await;
                if let Some(gong) = pipeline.gong() {
                    gong.refresh_budget().await;
                }
            }
            _ = prune_tick.tick() => {
                prune_in_batches("replay cache", || {
                    store.prune_replay_tokens(now_ms(), PRUNE_BATCH)
                })
                .await;
                prune_retained(&store, &pipeline, retention).await;
            }
            _ = stop.changed() => return,
        }
    }
}

fn report_startup(
    config: &Config,
    verifier: &Verifier,
    store: &Store,
    addr: SocketAddr,
    admin_addr: Option<SocketAddr>,
) {
    let w = &config.webhook;
    let mut methods = Vec::new();
    if !w.rs256_public_keys.is_empty() {
        methods.push(format!("rs256 ({} key(s))", w.rs256_public_keys.len()));
    }
    if !w.hs256_secrets.is_empty() {
        methods.push(format!("hs256 ({} secret(s))", w.hs256_secrets.len()));
    }
    if !w.url_keys.is_empty() {
        methods.push(format!("url key ({})", w.url_keys.len()));
    }
    if w.allow_unsigned && !w.has_method() {
        methods.push("UNSIGNED ACCEPTED (local trial only)".into());
    }
    tracing::info!(
        %addr,
        admin_addr = %admin_addr.map_or_else(|| "off (all routes on addr)".into(), |a| a.to_string()),
        max_connections = config.max_connections,
        header_read_timeout = %humantime::format_duration(config.header_read_timeout),
        store = store.backend(),
        warehouse = config.warehouse.as_str(),
        workers = config.workers,
        reconciler = %config
            .reconcile_interval
            .filter(|_| config.gong_auth.is_some())
            .map(|d| format!("every {}", humantime::format_duration(d)))
            .unwrap_or_else(|| "off".into()),
        verification = %methods.join(", "),
        key_ids = ?verifier.key_ids(),
        webhook_url_check = w.public_url.is_some(),
        redis = if config.redis_url.is_some() { "configured" } else { "off (notifications stay in the outbox)" },
        gong_api = if config.gong_auth.is_some() { "configured" } else { "off (enhancement skipped)" },
        "gong-relay listening"
    );
    if let Some(sf) = config
        .snowflake
        .as_ref()
        .filter(|_| config.warehouse == WarehouseKind::Snowflake)
    {
        tracing::info!(
            database = %sf.database,
            schema = %sf.schema,
            host = %sf.host,
            store = store.backend(),
            "the warehouse is Snowflake; the operational store (inbox, outbox, DLQ, rate limit) stays on {}",
            store.backend()
        );
    }
    for warning in config.warnings() {
        tracing::warn!("{warning}");
    }
}
