//! Webhooks as a Gong automation rule sends them: `POST {"callData", "isTest"}` with a raw
//! RS256 JWT in `Authorization` (claims `webhook_url`, `body_sha256`, `exp`), signed by the
//! rule's own RSA key, whose public half Gong shows as bare base64 SPKI.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der};
use aws_lc_rs::rsa::{KeyPair, KeySize};
use aws_lc_rs::signature::{KeyPair as _, RSA_PKCS1_SHA256};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use chrono::{Duration as Span, Utc};
use rand::Rng;
use serde_json::{Value, json};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use super::SimError;
use super::corpus::Generator;
use super::select;

/// One rule's RSA-2048 key pair.
pub struct RuleKey {
    pair: KeyPair,
    pkcs8: Vec<u8>,
}

impl std::fmt::Debug for RuleKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RuleKey({})", &self.public_key_base64()[..24])
    }
}

impl RuleKey {
    pub fn generate() -> Self {
        let pair = KeyPair::generate(KeySize::Rsa2048).expect("RSA-2048 key generation");
        let der: Pkcs8V1Der = pair.as_der().expect("PKCS#8 encoding of a fresh key");
        RuleKey {
            pkcs8: der.as_ref().to_vec(),
            pair,
        }
    }

    /// Reads a PKCS#8 (`-----BEGIN PRIVATE KEY-----`) PEM.
    pub fn from_pkcs8_pem(pem: &str) -> Result<Self, SimError> {
        let b64: String = pem
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with("-----"))
            .collect();
        if !pem.contains("BEGIN PRIVATE KEY") {
            return Err(SimError::Key(
                "expected a PKCS#8 PEM (BEGIN PRIVATE KEY)".into(),
            ));
        }
        let der = STANDARD
            .decode(b64)
            .map_err(|e| SimError::Key(format!("PEM body is not base64: {e}")))?;
        let pair = KeyPair::from_pkcs8(&der)
            .map_err(|e| SimError::Key(format!("not an RSA PKCS#8 key: {e}")))?;
        Ok(RuleKey { pair, pkcs8: der })
    }

    /// The private key as PKCS#8 PEM, to keep a generated rule key for later runs.
    pub fn to_pkcs8_pem(&self) -> String {
        let b64 = STANDARD.encode(&self.pkcs8);
        let lines: Vec<&str> = b64
            .as_bytes()
            .chunks(64)
            .map(|c| std::str::from_utf8(c).unwrap_or_default())
            .collect();
        format!(
            "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
            lines.join("\n")
        )
    }

    /// What Gong's "Show public key" displays: base64 of the SPKI DER, no PEM armour.
    pub fn public_key_base64(&self) -> String {
        let spki = self
            .pair
            .public_key()
            .as_der()
            .expect("SPKI encoding of an RSA public key");
        STANDARD.encode(spki.as_ref())
    }

    /// A compact RS256 JWT over `body` for a rule whose destination is `webhook_url`.
    pub fn sign(&self, webhook_url: &str, body: &[u8], ttl: Duration) -> String {
        let exp = SystemTime::now()
            .checked_add(ttl)
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_secs());
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, body);
        let claims = json!({
            "webhook_url": webhook_url,
            "body_sha256": hex::encode(digest.as_ref()),
            "exp": exp,
        });
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(br#"{"alg":"RS256"}"#),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let mut sig = vec![0; self.pair.public_modulus_len()];
        self.pair
            .sign(
                &RSA_PKCS1_SHA256,
                &aws_lc_rs::rand::SystemRandom::new(),
                signing_input.as_bytes(),
                &mut sig,
            )
            .expect("RSA signing with a valid key");
        format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(sig))
    }
}

#[derive(Clone, Debug)]
pub struct SendOptions {
    /// Destination URL, query string included.
    pub to: String,
    pub count: usize,
    /// Webhooks per second; 0 sends as fast as possible.
    pub rate: f64,
    pub is_test: bool,
    /// The `webhook_url` claim; defaults to `to` (a proxy in between may make them differ).
    pub webhook_url: Option<String>,
    /// Prefix the token with `Bearer ` (Gong sends it raw).
    pub bearer_prefix: bool,
    /// Base URL of a running simulator whose new calls to send (so the API then knows
    /// them); without it the calls are generated here.
    pub simulator: Option<String>,
}

impl Default for SendOptions {
    fn default() -> Self {
        SendOptions {
            to: String::new(),
            count: 1,
            rate: 0.0,
            is_test: false,
            webhook_url: None,
            bearer_prefix: false,
            simulator: None,
        }
    }
}

#[derive(Clone, Debug, Default)]
pub struct SendReport {
    pub sent: usize,
    /// Answered 2xx.
    pub accepted: usize,
    /// Answered otherwise, or not at all.
    pub failed: usize,
    pub statuses: BTreeMap<u16, usize>,
    /// Deliveries that got no answer, by why.
    pub errors: BTreeMap<SendFailure, usize>,
    /// The first answer other than 2xx: its status and (the start of) its body, which says
    /// why (e.g. the relay's `unknown_key`).
    pub first_refusal: Option<(u16, String)>,
}

/// Why a delivery got no answer at all.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SendFailure {
    /// Nothing listens at the address.
    ConnectionRefused,
    /// No connection for another reason (DNS, unreachable network, TLS).
    Connect,
    /// No answer within the client's timeout.
    Timeout,
    /// The connection broke before a complete answer.
    Broken,
}

impl SendFailure {
    fn of(e: &reqwest::Error) -> SendFailure {
        if e.is_timeout() {
            return SendFailure::Timeout;
        }
        // reqwest wraps hyper's error, which wraps the OS's: its kind is the precise cause.
        let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(e);
        while let Some(c) = cause {
            if let Some(io) = c.downcast_ref::<std::io::Error>()
                && io.kind() == std::io::ErrorKind::ConnectionRefused
            {
                return SendFailure::ConnectionRefused;
            }
            cause = c.source();
        }
        if e.is_connect() {
            SendFailure::Connect
        } else {
            SendFailure::Broken
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            SendFailure::ConnectionRefused => "connection refused",
            SendFailure::Connect => "cannot connect",
            SendFailure::Timeout => "timeout",
            SendFailure::Broken => "connection broken",
        }
    }
}

impl std::fmt::Display for SendFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How much of a refusal's body the report keeps: enough for the relay's JSON error.
const REFUSAL_BODY_CHARS: usize = 300;

/// What became of one delivery.
enum Delivery {
    Answered {
        status: u16,
        refusal: Option<String>,
    },
    Failed(SendFailure),
}

/// How many deliveries may be in flight at once when sending as fast as possible.
const IN_FLIGHT: usize = 32;

pub async fn send_webhooks(key: &RuleKey, opts: &SendOptions) -> Result<SendReport, SimError> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()?;
    let calls = match &opts.simulator {
        Some(base) => fetch_calls(&client, base, opts.count).await?,
        None => local_calls(opts.count),
    };
    let claim_url = opts.webhook_url.clone().unwrap_or_else(|| opts.to.clone());
    let slots = Arc::new(Semaphore::new(IN_FLIGHT));
    let start = tokio::time::Instant::now();
    let mut tasks = JoinSet::new();
    for (i, call) in calls.into_iter().enumerate() {
        if opts.rate > 0.0 {
            tokio::time::sleep_until(start + Duration::from_secs_f64(i as f64 / opts.rate)).await;
        }
        let permit = slots
            .clone()
            .acquire_owned()
            .await
            .map_err(|e| SimError::Simulator(e.to_string()))?;
        let body = serde_json::to_vec(&json!({"callData": call, "isTest": opts.is_test}))
            .map_err(|e| SimError::Simulator(e.to_string()))?;
        let token = key.sign(&claim_url, &body, Duration::from_secs(300));
        let auth = if opts.bearer_prefix {
            format!("Bearer {token}")
        } else {
            token
        };
        let req = client
            .post(&opts.to)
            .header("content-type", "application/json")
            .header("authorization", auth)
            .body(body);
        tasks.spawn(async move {
            let _permit = permit;
            match req.send().await {
                Ok(r) if r.status().is_success() => Delivery::Answered {
                    status: r.status().as_u16(),
                    refusal: None,
                },
                Ok(r) => {
                    let status = r.status().as_u16();
                    let body = r.text().await.unwrap_or_default();
                    Delivery::Answered {
                        status,
                        refusal: Some(body.chars().take(REFUSAL_BODY_CHARS).collect()),
                    }
                }
                Err(e) => Delivery::Failed(SendFailure::of(&e)),
            }
        });
    }
    let mut report = SendReport::default();
    while let Some(done) = tasks.join_next().await {
        report.sent += 1;
        // A task that panicked did not deliver: counted as a broken delivery.
        match done.unwrap_or(Delivery::Failed(SendFailure::Broken)) {
            Delivery::Answered { status, refusal } => {
                *report.statuses.entry(status).or_default() += 1;
                match refusal {
                    None => report.accepted += 1,
                    Some(body) => {
                        report.failed += 1;
                        report.first_refusal.get_or_insert((status, body));
                    }
                }
            }
            Delivery::Failed(why) => {
                report.failed += 1;
                *report.errors.entry(why).or_default() += 1;
            }
        }
    }
    Ok(report)
}

/// New calls created in a running simulator (its admin route), so the API knows them.
async fn fetch_calls(
    client: &reqwest::Client,
    base: &str,
    n: usize,
) -> Result<Vec<Value>, SimError> {
    let url = format!("{}/_sim/calls?count={n}", base.trim_end_matches('/'));
    let res = client.post(&url).send().await?.error_for_status()?;
    match res.json::<Value>().await? {
        Value::Array(calls) => Ok(calls),
        other => Err(SimError::Simulator(format!(
            "{url} answered {other:.80}, not a list of calls"
        ))),
    }
}

/// Calls made up here, with a random seed so each run sends new call ids.
fn local_calls(n: usize) -> Vec<Value> {
    let mut g = Generator::new(rand::rng().random());
    let now = Instant::now();
    (0..n)
        .map(|i| {
            let start = Utc::now() - Span::minutes(45) + Span::seconds(i as i64);
            select::full(&g.call(start, now, now))
        })
        .collect()
}
