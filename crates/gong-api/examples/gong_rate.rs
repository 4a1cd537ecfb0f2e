//! Measures the request rate the Gong client really produces against a Gong-like limit.
//!
//! Starts the simulator in-process with Gong's documented limit (3 calls/s; burst 10), runs
//! the client with the service's defaults (GONG_API_RATE_LIMIT=2.5, GONG_API_BURST_LIMIT=10)
//! from many concurrent callers, and prints what the simulator saw.
//!
//!   cargo run --release --example gong_rate -- [requests (60)] [callers (20)]

use std::sync::Arc;
use std::time::Instant;

use gong_api::GongClient;
use gong_sim::SimConfig;

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let requests: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(60);
    let callers: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(20);

    let sim = gong_sim::start(SimConfig {
        rate_limit: 3.0,
        burst: 10,
        ..SimConfig::loopback()
    })
    .await
    .expect("simulator starts");
    let config = sim.client_config();
    println!(
        "simulator limit 3.0/s burst 10; client {:.1}/s burst {}; {requests} requests from {callers} callers",
        config.rate_limit, config.burst
    );
    let client = Arc::new(GongClient::new(config).expect("client"));
    let id = sim.call_ids().remove(0);

    let start = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..callers {
        let (client, id) = (client.clone(), id.clone());
        let mine = requests / callers + usize::from(c < requests % callers);
        tasks.push(tokio::spawn(async move {
            for _ in 0..mine {
                client.get_call(&id).await.expect("call succeeds");
            }
        }));
    }
    for t in tasks {
        t.await.expect("caller finishes");
    }
    let elapsed = start.elapsed().as_secs_f64();

    let log = sim.requests();
    let throttled = log.iter().filter(|r| r.status == 429).count();
    let first = log.first().map(|r| r.at).expect("requests were made");
    let last = log.last().map(|r| r.at).expect("requests were made");
    // After the initial burst (the first 10), the steady rate is what the limiter allows.
    let after_burst = log.get(10).map(|r| r.at).unwrap_or(first);
    let steady =
        log.len().saturating_sub(11) as f64 / last.duration_since(after_burst).as_secs_f64();
    println!("requests served     {}", log.len());
    println!("429 answers         {throttled}");
    println!("elapsed             {elapsed:.2} s");
    println!(
        "overall rate        {:.2} req/s",
        log.len() as f64 / elapsed
    );
    println!("rate after burst    {steady:.2} req/s");
    let mut peak = 0;
    for (i, r) in log.iter().enumerate() {
        let n = log[i..]
            .iter()
            .take_while(|s| s.at.duration_since(r.at).as_secs_f64() < 1.0)
            .count();
        peak = peak.max(n);
    }
    println!("most in any 1 s     {peak}");
    sim.shutdown().await;
}
