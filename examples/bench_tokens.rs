//! Pre-signs webhook tokens for `bench/ingest.sh`, so that the load generator spends no
//! time on RSA and every request carries a fresh, valid, never-replayed Gong token.
//!
//! Writes one line per token: `<19-digit call id> <JWT>`. The body a token covers is the
//! template with `__ID__` replaced by that id; `bench/ingest.lua` rebuilds the same bytes.
//!
//!     cargo run --release --example bench_tokens -- --count 1000 \
//!         --template bench/call_template.json --key tests/data/gong_rule_a.key.pem \
//!         --webhook-url http://127.0.0.1:18080/webhook/gong/calls --out bench/out/tokens.txt

use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use clap::{Parser, ValueEnum};
use gong_relay::verify::sha256_hex;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::json;

const MARKER: &str = "__ID__";
/// Ids are this plus the index: 19 digits like Gong call ids, and never a real fixture id.
const FIRST_ID: u64 = 7_100_000_000_000_000_000;
/// Below the server's default GONG_WEBHOOK_MAX_TOKEN_AGE (1 h), so one file lasts ~50 min.
const LIFETIME_SECS: i64 = 3000;

#[derive(Clone, Copy, ValueEnum)]
enum Alg {
    Rs256,
    Hs256,
}

#[derive(Parser)]
struct Args {
    #[arg(long, default_value_t = 250_000)]
    count: u64,
    #[arg(long, default_value = "bench/call_template.json")]
    template: PathBuf,
    /// PKCS#8 PEM RSA private key (RS256 only).
    #[arg(long, default_value = "tests/data/gong_rule_a.key.pem")]
    key: PathBuf,
    #[arg(long, default_value = "http://127.0.0.1:18080/webhook/gong/calls")]
    webhook_url: String,
    #[arg(long, value_enum, default_value = "rs256")]
    alg: Alg,
    /// Shared secret (HS256 only).
    #[arg(long)]
    secret: Option<String>,
    #[arg(long)]
    out: PathBuf,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let template = std::fs::read_to_string(&args.template)?;
    let (prefix, suffix) = template
        .split_once(MARKER)
        .ok_or_else(|| anyhow::anyhow!("{} has no {MARKER}", args.template.display()))?;
    anyhow::ensure!(!suffix.contains(MARKER), "{MARKER} must occur once");

    let (key, header) = match args.alg {
        Alg::Rs256 => {
            let mut header = Header::new(Algorithm::RS256);
            header.typ = None; // Gong's header is exactly {"alg":"RS256"}
            (
                EncodingKey::from_rsa_pem(&std::fs::read(&args.key)?)?,
                header,
            )
        }
        Alg::Hs256 => {
            let secret = args
                .secret
                .as_deref()
                .ok_or_else(|| anyhow::anyhow!("--alg hs256 needs --secret"))?;
            (
                EncodingKey::from_secret(secret.as_bytes())?,
                Header::new(Algorithm::HS256),
            )
        }
    };
    let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs() as i64;

    let sign = |i: u64| -> anyhow::Result<String> {
        let id = FIRST_ID + i;
        let body = format!("{prefix}{id}{suffix}");
        let mut claims = json!({
            "webhook_url": args.webhook_url,
            "body_sha256": sha256_hex(body.as_bytes()),
            "exp": now + LIFETIME_SECS,
        });
        if matches!(args.alg, Alg::Hs256) {
            claims["iat"] = json!(now); // the relay requires iat on HS256
        }
        Ok(format!(
            "{id} {}\n",
            jsonwebtoken::encode(&header, &claims, &key)?
        ))
    };

    // RSA signing dominates (~1 ms a token): split the range over the cores, keep order.
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get()) as u64;
    let per = args.count.div_ceil(threads);
    let chunks: Vec<anyhow::Result<String>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let sign = &sign;
                s.spawn(move || {
                    let range = (t * per)..((t + 1) * per).min(args.count);
                    range.map(sign).collect::<anyhow::Result<String>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("signer thread"))
            .collect()
    });

    let mut out = BufWriter::new(std::fs::File::create(&args.out)?);
    for chunk in chunks {
        out.write_all(chunk?.as_bytes())?;
    }
    out.flush()?;
    eprintln!("wrote {} tokens to {}", args.count, args.out.display());
    Ok(())
}
