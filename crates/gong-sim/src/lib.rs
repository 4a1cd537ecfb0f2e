//! A local stand-in for Gong's REST API v2 and its webhook rules, for tests, demos and load
//! tests (reference/gong-api.md §6). It serves generated, seeded calls with Gong's shapes,
//! quotas, pagination, processing lag and error bodies, injects faults on demand, and
//! records every request it served so tests can measure what a client really did.

mod api;
mod calls;
pub mod cli;
mod corpus;
mod derived;
mod limits;
mod others;
mod pages;
mod reply;
mod select;
mod stats;
mod text;
mod webhooks;
mod wire;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use chrono::{Duration as Span, Utc};
use serde_json::Value;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use webhooks::{RuleKey, SendFailure, SendOptions, SendReport, send_webhooks};

/// Everything the simulator can be told; `Default` is Gong's documented behaviour.
#[derive(Clone, Debug)]
pub struct SimConfig {
    pub bind: SocketAddr,
    /// Accepted Basic credentials (`key`, `secret`).
    pub api_key: Option<(String, String)>,
    /// Accepted Bearer token (OAuth apps).
    pub bearer_token: Option<String>,
    /// Requests per second (token bucket refill); 0 disables the bucket.
    pub rate_limit: f64,
    pub burst: u32,
    pub daily_limit: u32,
    /// Size of the generated corpus.
    pub calls: usize,
    pub seed: u64,
    /// How long after creation a call made at run time becomes visible.
    pub lag: Duration,
    /// How much later still its transcript becomes visible.
    pub transcript_lag: Duration,
    /// Share of requests answered 500.
    pub fail_rate: f64,
    /// Added to every answer.
    pub latency: Duration,
    /// Share of requests that hang 30 s before answering.
    pub timeout_rate: f64,
    /// Share of connections dropped without a complete answer.
    pub drop_rate: f64,
    /// Cursor lifetime, counted from the first page of a sequence.
    pub cursor_ttl: Duration,
    pub page_size: usize,
}

impl SimConfig {
    /// The defaults on a free loopback port (tests, demos).
    pub fn loopback() -> SimConfig {
        SimConfig {
            bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            ..SimConfig::default()
        }
    }
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            bind: SocketAddr::from(([127, 0, 0, 1], 8090)),
            api_key: Some(("sim-key".into(), "sim-secret".into())),
            bearer_token: None,
            rate_limit: 3.0,
            burst: 10,
            daily_limit: 10_000,
            calls: 200,
            seed: 42,
            lag: Duration::ZERO,
            transcript_lag: Duration::ZERO,
            fail_rate: 0.0,
            latency: Duration::ZERO,
            timeout_rate: 0.0,
            drop_rate: 0.0,
            cursor_ttl: Duration::from_secs(3600),
            page_size: 100,
        }
    }
}

/// One request the simulator answered (or dropped: status 0), stamped when it arrived.
#[derive(Clone, Debug)]
pub struct ServedRequest {
    pub at: Instant,
    pub method: String,
    pub path: String,
    pub status: u16,
}

#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("key: {0}")]
    Key(String),
    #[error("http: {0}")]
    Http(#[from] reqwest::Error),
    #[error("simulator: {0}")]
    Simulator(String),
}

/// Shared state behind the routes and the handle.
pub(crate) struct Sim {
    config: SimConfig,
    /// When the simulator started (the admin log counts from here).
    born: Instant,
    fail_rate: AtomicU64,
    latency_ns: AtomicU64,
    limits: limits::Limits,
    paging: pages::Paging,
    generator: Mutex<corpus::Generator>,
    calls: RwLock<Vec<corpus::Call>>,
    log: Mutex<Vec<ServedRequest>>,
    meetings: Mutex<std::collections::BTreeMap<String, Value>>,
    /// Fault injection: requests naming one of these call ids are answered 400.
    refused_ids: Mutex<std::collections::HashSet<String>>,
    /// Fault injection: every API request is answered 401, whatever its credentials (a
    /// revoked key).
    credentials_rejected: AtomicBool,
}

impl Sim {
    fn fail_rate(&self) -> f64 {
        f64::from_bits(self.fail_rate.load(Ordering::Relaxed))
    }
    fn latency(&self) -> Duration {
        Duration::from_nanos(self.latency_ns.load(Ordering::Relaxed))
    }
    fn record(&self, r: ServedRequest) {
        self.log.lock().unwrap_or_else(|e| e.into_inner()).push(r);
    }
    fn requests(&self) -> Vec<ServedRequest> {
        let mut v = self.log.lock().unwrap_or_else(|e| e.into_inner()).clone();
        // Logged when answered; ordered by arrival, which is what a rate check needs.
        v.sort_by_key(|r| r.at);
        v
    }
    fn read_calls(&self) -> std::sync::RwLockReadGuard<'_, Vec<corpus::Call>> {
        self.calls.read().unwrap_or_else(|e| e.into_inner())
    }

    /// New calls "happening now": they ended just now, so they started `duration` ago, and
    /// show up only after the processing lag (a poller whose watermark passed their start
    /// time misses them, as with real Gong).
    fn create_calls(&self, n: usize) -> Vec<Value> {
        self.create_calls_with(n, |_, _| {})
    }

    /// As `create_calls`, letting `edit` change each call's data and transcript (the list
    /// of monologues) before it is stored.
    fn create_calls_with(
        &self,
        n: usize,
        mut edit: impl FnMut(&mut Value, &mut Value),
    ) -> Vec<Value> {
        let now = Instant::now();
        let visible = now + self.config.lag;
        let transcript = visible + self.config.transcript_lag;
        let mut made = Vec::with_capacity(n);
        {
            let mut g = self.generator.lock().unwrap_or_else(|e| e.into_inner());
            for _ in 0..n {
                let mut c = g.call(Utc::now(), visible, transcript);
                let d = c.meta().duration.unwrap_or(0.0) as i64;
                c.started -= Span::seconds(d);
                let digits = if made.len() % 2 == 0 { 6 } else { 3 };
                c.data.meta_data.started = Some(wire::at_digits(c.started, digits));
                c.data.meta_data.scheduled = Some(wire::at_digits(c.started, 0));
                edit_as_json(&mut c, &mut edit);
                made.push(c);
            }
        }
        let out = made.iter().map(select::full).collect();
        let mut calls = self.calls.write().unwrap_or_else(|e| e.into_inner());
        for c in made {
            let at = calls.partition_point(|x| (x.started, &x.id) <= (c.started, &c.id));
            calls.insert(at, c);
        }
        out
    }
}

/// Lets `edit` change a call as a client would see it (its callData and its list of
/// monologues as JSON), then reads the result back into the models it is kept as.
fn edit_as_json(c: &mut corpus::Call, edit: &mut impl FnMut(&mut Value, &mut Value)) {
    let mut data = serde_json::to_value(&c.data).expect("a model serializes");
    let mut transcript = serde_json::to_value(&c.transcript).expect("a model serializes");
    edit(&mut data, &mut transcript);
    c.data = serde_json::from_value(data).expect("an edited call reads as gong-api's CallData");
    c.transcript =
        serde_json::from_value(transcript).expect("an edited transcript reads as monologues");
}

pub struct SimHandle {
    addr: SocketAddr,
    sim: Arc<Sim>,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<std::io::Result<()>>,
}

impl SimHandle {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }
    /// A Gong client configuration for this simulator: its URL and the credentials it
    /// accepts (Gong's own defaults otherwise).
    pub fn client_config(&self) -> gong_api::ClientConfig {
        let auth = match (&self.sim.config.api_key, &self.sim.config.bearer_token) {
            (Some((key, secret)), _) => gong_api::Auth::Basic {
                access_key: key.clone(),
                secret: secret.clone().into(),
            },
            (None, Some(token)) => gong_api::Auth::Bearer(token.clone().into()),
            (None, None) => gong_api::Auth::Bearer(String::new().into()),
        };
        gong_api::ClientConfig::new(self.base_url(), auth)
    }
    /// Every API request served (not the `/_sim` admin routes), in order of arrival.
    pub fn requests(&self) -> Vec<ServedRequest> {
        self.sim.requests()
    }
    /// Every call, visible or not yet, as extensive-call JSON with every block.
    pub fn calls(&self) -> Vec<Value> {
        self.sim.read_calls().iter().map(select::full).collect()
    }
    /// The ids of every call, in corpus order.
    pub fn call_ids(&self) -> Vec<String> {
        self.sim.read_calls().iter().map(|c| c.id.clone()).collect()
    }
    /// Whether the API requests served so far kept to `rate`/s with `burst`: in any window,
    /// no more than the burst plus what the rate refills in it (and one of slack for
    /// timing). Returns the first window that broke it.
    pub fn rate_violation(&self, rate: f64, burst: u32) -> Option<String> {
        let times: Vec<Instant> = self.requests().iter().map(|r| r.at).collect();
        for (i, start) in times.iter().enumerate() {
            for (j, end) in times.iter().enumerate().skip(i) {
                let window = end.duration_since(*start).as_secs_f64();
                let allowed = burst as f64 + rate * window + 1.0;
                if (j - i + 1) as f64 > allowed {
                    return Some(format!("{} requests in {window:.3}s", j - i + 1));
                }
            }
        }
        None
    }
    /// Creates `n` calls that become visible after `lag`, their transcripts after
    /// `lag + transcript_lag`; returns them as callData.
    pub fn create_calls(&self, n: usize) -> Vec<Value> {
        self.sim.create_calls(n)
    }
    /// Creates one call shaped by `edit` (its extensive data, its transcript's monologues),
    /// for tests that need particular content; returns it as callData.
    pub fn create_call_with(&self, edit: impl FnMut(&mut Value, &mut Value)) -> Value {
        self.sim
            .create_calls_with(1, edit)
            .pop()
            .unwrap_or(Value::Null)
    }
    /// From now on, answers 400 to any call request that names `id` (a fault for tests of
    /// how a client copes with Gong refusing one id of a batch).
    pub fn refuse_call_id(&self, id: &str) {
        self.sim
            .refused_ids
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id.to_owned());
    }
    /// While `rejected`, answers 401 to every API request, as Gong does once a key is
    /// revoked; `false` accepts the configured credentials again.
    pub fn set_credentials_rejected(&self, rejected: bool) {
        self.sim
            .credentials_rejected
            .store(rejected, Ordering::Relaxed);
    }
    pub fn set_fail_rate(&self, r: f64) {
        self.sim.fail_rate.store(r.to_bits(), Ordering::Relaxed);
    }
    pub fn set_latency(&self, d: Duration) {
        self.sim
            .latency_ns
            .store(d.as_nanos() as u64, Ordering::Relaxed);
    }
    /// Stops accepting, gives in-flight answers a moment, then cuts the rest (a request
    /// hanging for the 30 s timeout fault must not hold up a test).
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if tokio::time::timeout(Duration::from_secs(1), &mut self.task)
            .await
            .is_err()
        {
            self.task.abort();
        }
    }
}

/// Generates the corpus and serves it on `config.bind` (port 0 picks a free port).
pub async fn start(config: SimConfig) -> std::io::Result<SimHandle> {
    let listener = tokio::net::TcpListener::bind(config.bind).await?;
    let addr = listener.local_addr()?;
    let mut generator = corpus::Generator::new(config.seed);
    let calls = generator.corpus(config.calls, Utc::now(), Instant::now());
    let sim = Arc::new(Sim {
        fail_rate: AtomicU64::new(config.fail_rate.to_bits()),
        latency_ns: AtomicU64::new(config.latency.as_nanos() as u64),
        limits: limits::Limits::new(config.rate_limit, config.burst, config.daily_limit),
        paging: pages::Paging {
            size: config.page_size,
            ttl: config.cursor_ttl,
        },
        generator: Mutex::new(generator),
        calls: RwLock::new(calls),
        log: Mutex::new(Vec::new()),
        meetings: Mutex::new(Default::default()),
        refused_ids: Mutex::new(Default::default()),
        credentials_rejected: AtomicBool::new(false),
        born: Instant::now(),
        config,
    });
    let app = api::router(sim.clone());
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .await
    });
    Ok(SimHandle {
        addr,
        sim,
        stop: Some(stop),
        task,
    })
}
