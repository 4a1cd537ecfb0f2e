//! The listener under hostile traffic (issue 11, items 1 and 3): figures only, nothing is
//! asserted. Runs a built `gong-relay` binary (the path is the first argument, so a build
//! of an older commit can be measured the same way) on a fresh SQLite store, and prints:
//!
//! 1. the latency of legitimate signed webhooks while 1,000 idle connections and 1,000
//!    connections with half-sent headers are open, and how long a half-sent header stays
//!    open (given up after 40 s);
//! 2. the latency of legitimate webhooks with 200,000 rows in the inbox while 256 clients
//!    poll `/health` in a loop (and how long those `/health` answers took).
//!
//!   cargo build --bin gong-relay && cargo run --example bench_listener -- target/debug/gong-relay
//!
//! `INBOX_ROWS` and `POLLERS` change the second scenario's sizes.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const SECRET: &str = "bench-listener-secret-0123456789";
const BODY: &str = include_str!("../tests/data/webhook_call.json");
const ROUTE: &str = "/webhook/gong/calls";

struct Server {
    child: Child,
    addr: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(bin: &str, db: &str) -> Server {
    let mut child = Command::new(bin)
        .arg("serve")
        .env("BIND_ADDR", "127.0.0.1:0")
        .env("DATABASE_URL", db)
        .env("GONG_WEBHOOK_SECRETS", json!([SECRET]).to_string())
        .env("LOG_LEVEL", "info")
        .env("WORKERS", "0")
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("the binary starts");
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut sent = false;
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if !sent && line.contains("gong-relay listening") {
                let v: serde_json::Value = serde_json::from_str(&line).unwrap();
                let _ = tx.send(v["addr"].as_str().unwrap().to_owned());
                sent = true;
            }
        }
    });
    let addr = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("the binary reports its address");
    Server { child, addr }
}

fn body_for(n: u64) -> String {
    let mut v: serde_json::Value = serde_json::from_str(BODY).unwrap();
    let id = format!("9{}{n:06}", std::process::id());
    v["callData"]["metaData"]["id"] = json!(id);
    v.to_string()
}

fn token(body: &str) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let claims = json!({
        "webhook_url": format!("http://relay{ROUTE}"),
        "body_sha256": gong_relay::verify::sha256_hex(body.as_bytes()),
        "exp": now + 300,
        "iat": now,
    });
    let key = EncodingKey::from_secret(SECRET.as_bytes()).unwrap();
    jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &key).unwrap()
}

static SEQ: AtomicU64 = AtomicU64::new(0);

/// `n` signed webhooks, one after the other, each on a new connection; their latencies
/// (a failed or refused one counts as `None`).
async fn legit_latencies(addr: &str, n: usize) -> Vec<Option<Duration>> {
    let mut out = Vec::new();
    for _ in 0..n {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap();
        let body = body_for(SEQ.fetch_add(1, Ordering::Relaxed));
        let started = Instant::now();
        let res = client
            .post(format!("http://{addr}{ROUTE}"))
            .header("authorization", token(&body))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await;
        out.push(match res {
            Ok(r) if r.status() == 200 => Some(started.elapsed()),
            _ => None,
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    out
}

fn report(what: &str, lat: &[Option<Duration>]) {
    let mut ok: Vec<Duration> = lat.iter().flatten().copied().collect();
    ok.sort();
    let failed = lat.len() - ok.len();
    if ok.is_empty() {
        println!("{what}: all {failed} failed");
        return;
    }
    let pick = |q: f64| ok[((ok.len() - 1) as f64 * q).round() as usize];
    println!(
        "{what}: {} ok, {failed} failed; p50 {:.1} ms, p95 {:.1} ms, max {:.1} ms",
        ok.len(),
        ms(pick(0.5)),
        ms(pick(0.95)),
        ms(*ok.last().unwrap())
    );
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

async fn slow_connections(bin: &str) {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("relay.db").display());
    let server = start(bin, &db);
    let addr = server.addr.clone();
    report("baseline (no attack)", &legit_latencies(&addr, 20).await);
    let mut held = Vec::new();
    for i in 0..2000 {
        let Ok(mut s) = TcpStream::connect(&addr).await else {
            println!("connection {i} could not be opened");
            break;
        };
        if i % 2 == 1 {
            let _ = s
                .write_all(b"POST /webhook/gong/calls HTTP/1.1\r\nHost: relay\r\n")
                .await;
        }
        held.push(s);
    }
    println!(
        "opened {} connections (half idle, half with half-sent headers)",
        held.len()
    );
    report(
        "webhooks with 2,000 idle + slow connections open",
        &legit_latencies(&addr, 20).await,
    );
    // How long the server keeps a half-sent header: open a fresh one and wait for its close.
    let mut s = TcpStream::connect(&addr).await.unwrap();
    s.write_all(b"POST /webhook/gong/calls HTTP/1.1\r\nHost: relay\r\n")
        .await
        .unwrap();
    let started = Instant::now();
    let mut buf = [0u8; 1024];
    let closed = tokio::time::timeout(Duration::from_secs(40), async {
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await;
    match closed {
        Ok(()) => println!(
            "a half-sent header was closed after {:.2} s",
            started.elapsed().as_secs_f64()
        ),
        Err(_) => println!("a half-sent header was still open after 40 s"),
    }
    drop(held);
}

async fn health_pollers(bin: &str) {
    let rows: u64 = std::env::var("INBOX_ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200_000);
    let pollers: usize = std::env::var("POLLERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256);
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("relay.db").display());
    let status = Command::new(bin)
        .arg("migrate")
        .env("DATABASE_URL", &db)
        .env("LOG_LEVEL", "warn")
        .status()
        .unwrap();
    assert!(status.success(), "migrate");
    {
        use sqlx::Connection;
        let mut c = sqlx::SqliteConnection::connect(&db).await.unwrap();
        // Done events, as a year of traffic leaves them (their rows are never deleted).
        sqlx::query(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?1) \
             INSERT INTO inbox_events (event_id, kind, source_id, body_sha256, payload, \
             received_at_ms, request_id, auth_method, is_test, status, run_at_ms, updated_at_ms) \
             SELECT 'bench-' || i, 'call', 'c' || i, 'h' || i, zeroblob(2000), 0, 'r', \
             'hs256', 0, 'done', 0, 0 FROM n",
        )
        .bind(rows as i64)
        .execute(&mut c)
        .await
        .unwrap();
    }
    println!("inbox filled with {rows} done events");
    let server = start(bin, &db);
    let addr = server.addr.clone();
    report("baseline (no pollers)", &legit_latencies(&addr, 20).await);
    let stop = Arc::new(AtomicBool::new(false));
    let answered = Arc::new(AtomicU64::new(0));
    let spent_us = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for _ in 0..pollers {
        let (stop, answered, spent_us) = (stop.clone(), answered.clone(), spent_us.clone());
        let url = format!("http://{addr}/health");
        tasks.push(tokio::spawn(async move {
            let client = reqwest::Client::new();
            while !stop.load(Ordering::Relaxed) {
                let started = Instant::now();
                if client.get(&url).send().await.is_ok() {
                    answered.fetch_add(1, Ordering::Relaxed);
                    spent_us.fetch_add(started.elapsed().as_micros() as u64, Ordering::Relaxed);
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let started = Instant::now();
    let before = answered.load(Ordering::Relaxed);
    report(
        &format!("webhooks with {pollers} /health pollers"),
        &legit_latencies(&addr, 20).await,
    );
    let n = answered.load(Ordering::Relaxed) - before;
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        let _ = t.await;
    }
    let n_all = answered.load(Ordering::Relaxed).max(1);
    println!(
        "/health: {:.0} answers/s during the webhooks, mean {:.1} ms each",
        n as f64 / started.elapsed().as_secs_f64(),
        spent_us.load(Ordering::Relaxed) as f64 / n_all as f64 / 1e3
    );
}

#[tokio::main]
async fn main() {
    let bin = std::env::args()
        .nth(1)
        .expect("usage: bench_listener <path to gong-relay>");
    println!("== slow and idle connections ({bin})");
    slow_connections(&bin).await;
    println!("== /health pollers with a large inbox");
    health_pollers(&bin).await;
}
